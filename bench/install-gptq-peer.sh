#!/bin/sh
# install-gptq-peer.sh: the venv bench/peer_gptq.py runs in (GPTQModel on the CPU).
#
#   bench/install-gptq-peer.sh        prints the venv's python on the last line
#
# The venv lives in $TQ_GPTQ_PEER_VENV (default: $HOME/.cache/turboquant/gptq-peer),
# outside the repository.  It holds GPTQModel with the torch and transformers it was
# checked with (bench/peer_venv.sh; about 6 GB in all, CUDA libraries included).  GPTQModel JIT-compiles its CPU packing kernel on first use (g++ and ninja,
# about a minute); that is done here, into the venv, so a benchmark never times it.
# Nothing is installed when the venv already imports these versions, and nothing is
# built when it already has the kernel.
set -eu

. "$(dirname "$0")/peer_venv.sh"
GPTQMODEL_VERSION=7.7.0

venv=${TQ_GPTQ_PEER_VENV:-$HOME/.cache/turboquant/gptq-peer}
# bench/peer_gptq.py looks for the kernel here too (sys.prefix of the venv).
ext=$venv/gptqmodel-torch-extensions

installed() {
	"$venv/bin/python" -c '
import sys
import gptqmodel, torch, transformers
sys.exit((gptqmodel.__version__, torch.__version__.split("+")[0],
          transformers.__version__) != tuple(sys.argv[1:]))' \
	    "$GPTQMODEL_VERSION" "$TORCH_VERSION" "$TRANSFORMERS_VERSION"
}

peer_venv_install install-gptq-peer "$venv" "GPTQModel $GPTQMODEL_VERSION" \
    "gptqmodel==$GPTQMODEL_VERSION"

if [ ! -d "$ext/pack_block_cpu" ]; then
	if ! command -v g++ >/dev/null 2>&1; then
		echo "install-gptq-peer: g++ is missing (tools/install-deps.sh" \
		    "installs build-essential)" >&2
		exit 1
	fi
	echo "install-gptq-peer: building GPTQModel's CPU packing kernel" >&2
fi
# Loads the kernel, building it first when the venv has none.
if ! GPTQMODEL_TORCH_EXTENSIONS_DIR=$ext "$venv/bin/python" -c '
import sys
from gptqmodel.utils.cpp import load_pack_block_extension
sys.exit(0 if load_pack_block_extension() else 1)' >/dev/null 2>&1; then
	echo "install-gptq-peer: cannot build GPTQModel's CPU packing kernel in" \
	    "$ext (GPTQMODEL_EXT_VERBOSE=1 shows the compiler's output)" >&2
	exit 1
fi
echo "$venv/bin/python"
