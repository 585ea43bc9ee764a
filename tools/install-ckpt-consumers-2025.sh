#!/bin/sh
# install-ckpt-consumers-2025.sh: a second consumer environment for the
# architectures transformers 4.46.3 predates (qwen3, smollm3, gemma3;
# gemma2 too), for tests/ckpt_export.sh.  Prints its python on the last
# line.
#
# It does not download torch again (tools/install-ckpt-layer.sh): it is a
# venv whose site-packages has a .pth naming the site-packages of
# tools/install-ckpt-consumers.sh's venv (installed first), so torch 2.5.1, auto-gptq, optimum, autoawq,
# intel-extension-for-pytorch and accelerate come from there, and on top,
# installed with --no-deps (the venv's own site-packages come first on
# sys.path):
#
#   transformers 4.53.3 (the release tools/make_fixtures_2025.py pins) with
#   tokenizers 0.21.4;
#   compressed-tensors 0.13.0, whose decompression reads packed zero
#   points (0.12.2's does not, so transformers could not load an
#   asymmetric export with it).
#
# The venv lives in $TQ_CKPT_VENV_2025 (default
# $HOME/.cache/turboquant/ckpt-venv-2025); half a minute once the first
# venv exists.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
exec "$here/install-ckpt-layer.sh" \
    "${TQ_CKPT_VENV_2025:-$HOME/.cache/turboquant/ckpt-venv-2025}" \
    "transformers==4.53.3 tokenizers==0.21.4 compressed-tensors==0.13.0" \
    'import torch, transformers, compressed_tensors, auto_gptq, optimum, awq
import intel_extension_for_pytorch
assert transformers.__version__ == "4.53.3", transformers.__version__
assert torch.__version__.startswith("2.5.1"), torch.__version__'
