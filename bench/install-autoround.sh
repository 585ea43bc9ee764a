#!/bin/sh
# install-autoround.sh: the venv bench/peer_int.py runs Intel's AutoRound in (CPU).
#
#   bench/install-autoround.sh        prints the venv's python on the last line
#
# The venv lives in $TQ_AUTOROUND_VENV (default: $HOME/.cache/turboquant/autoround-peer),
# outside the repository.  It holds auto-round with the torch and transformers it was
# checked with (the same torch stack as bench/install-gptq-peer.sh's venv:
# bench/peer_venv.sh).  gguf is for
# transformers' GGUF reader, which bench/peer_int.py uses to write SmolLM2's float base
# as a Hugging Face directory.  Nothing is installed when the venv already imports these
# versions.
set -eu

. "$(dirname "$0")/peer_venv.sh"
AUTOROUND_VERSION=0.16.1
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

peer_venv_install install-autoround "$venv" "auto-round $AUTOROUND_VERSION" \
    "auto-round==$AUTOROUND_VERSION" "gguf==$GGUF_VERSION"
echo "$venv/bin/python"
