#!/bin/sh
# install-gptq-peer.sh: the venv bench/peer_gptq.py runs in (GPTQModel on the CPU).
#
#   bench/install-gptq-peer.sh        prints the venv's python on the last line
#
# The venv lives in $TQ_GPTQ_PEER_VENV (default: $HOME/.cache/turboquant/gptq-peer),
# outside the repository.  It holds GPTQModel with the torch and transformers it was
# checked with; torch from PyPI brings its CUDA libraries (about 6 GB in all), unused
# here.  GPTQModel JIT-compiles its CPU packing kernel on first use (g++ and ninja,
# about a minute); that is done here, into the venv, so a benchmark never times it.
# Nothing is installed when the venv already imports these versions, and nothing is
# built when it already has the kernel.
set -eu

GPTQMODEL_VERSION=7.7.0
TORCH_VERSION=2.15.0
TRANSFORMERS_VERSION=5.25.0
ACCELERATE_VERSION=1.16.0
TOKENIZERS_VERSION=0.23.3
SAFETENSORS_VERSION=0.8.0
NUMPY_VERSION=2.4.6

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

if ! installed >/dev/null 2>&1; then
	echo "install-gptq-peer: setting up $venv" >&2
	[ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
	"$venv/bin/pip" install -q "gptqmodel==$GPTQMODEL_VERSION" \
	    "torch==$TORCH_VERSION" "transformers==$TRANSFORMERS_VERSION" \
	    "accelerate==$ACCELERATE_VERSION" "tokenizers==$TOKENIZERS_VERSION" \
	    "safetensors==$SAFETENSORS_VERSION" "numpy==$NUMPY_VERSION" >&2
	if ! installed >&2; then
		echo "install-gptq-peer: $venv does not import GPTQModel" \
		    "$GPTQMODEL_VERSION with torch $TORCH_VERSION" >&2
		exit 1
	fi
fi

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
