#!/bin/sh
# install-autoround.sh: the venv bench/peer_int.py runs Intel's AutoRound in (CPU).
#
#   bench/install-autoround.sh        prints the venv's python on the last line
#
# The venv lives in $TQ_AUTOROUND_VENV (default: $HOME/.cache/turboquant/autoround-peer),
# outside the repository.  It holds auto-round with the torch and transformers it was
# checked with (the same torch and transformers as bench/install-gptq-peer.sh's venv);
# torch from PyPI brings its CUDA libraries, unused here (the CPU-only index,
# download.pytorch.org, is not reachable from every machine; PyPI is).  gguf is for
# transformers' GGUF reader, which bench/peer_int.py uses to write SmolLM2's float base
# as a Hugging Face directory.  Nothing is installed when the venv already imports these
# versions.
set -eu

AUTOROUND_VERSION=0.16.1
TORCH_VERSION=2.15.0
TRANSFORMERS_VERSION=5.25.0
ACCELERATE_VERSION=1.16.0
TOKENIZERS_VERSION=0.23.3
SAFETENSORS_VERSION=0.8.0
NUMPY_VERSION=2.4.6
GGUF_VERSION=0.19.0

venv=${TQ_AUTOROUND_VENV:-$HOME/.cache/turboquant/autoround-peer}

installed() {
	"$venv/bin/python" -c '
import sys
import auto_round, torch, transformers, gguf
from importlib.metadata import version
sys.exit((version("auto-round"), torch.__version__.split("+")[0],
          transformers.__version__, version("gguf")) != tuple(sys.argv[1:]))' \
	    "$AUTOROUND_VERSION" "$TORCH_VERSION" "$TRANSFORMERS_VERSION" "$GGUF_VERSION"
}

if ! installed >/dev/null 2>&1; then
	echo "install-autoround: setting up $venv" >&2
	[ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
	"$venv/bin/pip" install -q "auto-round==$AUTOROUND_VERSION" \
	    "torch==$TORCH_VERSION" "transformers==$TRANSFORMERS_VERSION" \
	    "accelerate==$ACCELERATE_VERSION" "tokenizers==$TOKENIZERS_VERSION" \
	    "safetensors==$SAFETENSORS_VERSION" "numpy==$NUMPY_VERSION" \
	    "gguf==$GGUF_VERSION" >&2
	if ! installed >&2; then
		echo "install-autoround: $venv does not import auto-round" \
		    "$AUTOROUND_VERSION with torch $TORCH_VERSION" >&2
		exit 1
	fi
fi
echo "$venv/bin/python"
