#!/bin/sh
# install-ckpt-consumers-2026.sh: a third consumer environment, for the
# architectures transformers 4.53.3 predates (gpt_oss, in 4.55), for
# tools/make_fixtures_2026.py.  Prints its python on the last line.
#
# Made as tools/install-ckpt-consumers-2025.sh makes the second
# (tools/install-ckpt-layer.sh): a venv
# whose site-packages has a .pth naming the site-packages of
# tools/install-ckpt-consumers.sh's venv (installed first), so torch 2.5.1
# (enough for gpt_oss on CPU: eager attention with sinks, the experts'
# bmm, and the MXFP4 experts dequantized on load), huggingface-hub 0.36.2,
# safetensors 0.8.0 and accelerate come from there, and on top, installed
# with --no-deps: transformers 4.55.4 with tokenizers 0.21.4 (the range
# 4.55 asks for).
#
# The venv lives in $TQ_CKPT_VENV_2026 (default
# $HOME/.cache/turboquant/ckpt-venv-2026); half a minute once the first
# venv exists.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
exec "$here/install-ckpt-layer.sh" \
    "${TQ_CKPT_VENV_2026:-$HOME/.cache/turboquant/ckpt-venv-2026}" \
    "transformers==4.55.4 tokenizers==0.21.4" \
    'import torch, transformers, safetensors
from transformers import GptOssForCausalLM
assert transformers.__version__ == "4.55.4", transformers.__version__
assert torch.__version__.startswith("2.5.1"), torch.__version__'
