#!/bin/sh
# install-mlx.sh: MLX and mlx-lm (CPU backend) for tests/export_mlx.sh.
#
#   tools/install-mlx.sh      prints the venv's python on its last line
#
# They live in a venv of their own, $TQ_MLX_VENV (default
# $HOME/.cache/turboquant/mlx-venv): mlx-lm needs transformers 5 and
# tokenizers 0.23, while the main test venv pins tokenizers 0.20.3 for the
# tokenizer reference tests.  mlx[cpu] is the Linux CPU wheel (mlx-cpu).
# Every package is pinned; the first install takes about 25 s and 350 MB.
set -eu

MLX_VERSION=0.32.4
MLX_LM_VERSION=0.32.2
PINS="mlx[cpu]==$MLX_VERSION mlx-cpu==$MLX_VERSION mlx-lm==$MLX_LM_VERSION \
transformers==5.24.0 tokenizers==0.23.3 huggingface-hub==2.4.0 \
safetensors==0.8.0 numpy==2.4.6 sentencepiece==0.2.3 protobuf==7.36.2 \
jinja2==3.1.6 pyyaml==6.0.4"

venv=${TQ_MLX_VENV:-$HOME/.cache/turboquant/mlx-venv}
if ! "$venv/bin/python" -c "
import importlib.metadata as md, sys
sys.exit(md.version('mlx') != '$MLX_VERSION' or
    md.version('mlx-lm') != '$MLX_LM_VERSION')" 2>/dev/null; then
	echo "install-mlx: installing mlx $MLX_VERSION and mlx-lm $MLX_LM_VERSION in $venv" >&2
	[ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
	# shellcheck disable=SC2086
	"$venv/bin/pip" install -q $PINS >&2
fi
echo "$venv/bin/python"
