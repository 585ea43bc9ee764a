#!/bin/sh
# install-ckpt-consumers.sh: the programs that load TurboQuant's AWQ, GPTQ
# and compressed-tensors exports, in a venv of their own (pinned; PyPI
# only), for tests/ckpt_export.sh.  Prints the venv's python on the last
# line.
#
#   torch 2.5.1 (PyPI's Linux wheel: it brings CUDA libraries, ~3 GB, and
#   runs on CPU), transformers 4.46.3;
#   compressed-tensors 0.12.2 (decompression of every weight; the newer
#   releases need a transformers that auto-gptq and optimum do not take);
#   auto-gptq 0.7.1 + optimum 1.23.3 (+ peft 0.13.2, which auto-gptq
#   imports): transformers' GPTQ loader, whose torch kernel runs on CPU;
#   autoawq 0.2.7.post3 + intel-extension-for-pytorch 2.5.0 (yanked on
#   PyPI for an unrelated security issue, but the only IPEX CPU release
#   for torch 2.5): transformers' AWQ loader on CPU (AwqConfig version
#   "ipex" reads the GEMM layout).
#
# The venv lives in $TQ_CKPT_VENV (default
# $HOME/.cache/turboquant/ckpt-venv); about two minutes on a fresh machine.
set -eu

venv=${TQ_CKPT_VENV:-$HOME/.cache/turboquant/ckpt-venv}
pins="torch==2.5.1 transformers==4.46.3 compressed-tensors==0.12.2 \
auto-gptq==0.7.1 optimum==1.23.3 peft==0.13.2 autoawq==0.2.7.post3 \
intel-extension-for-pytorch==2.5.0 accelerate==1.15.0 safetensors==0.8.0 \
numpy==2.4.6"
stamp="$venv/.turboquant-pins"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$pins" ]; then
	echo "install-ckpt-consumers: setting up $venv" >&2
	[ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
	# shellcheck disable=SC2086
	"$venv/bin/pip" install -q $pins >&2
	"$venv/bin/python" -c 'import torch, transformers, compressed_tensors, \
auto_gptq, optimum, awq, intel_extension_for_pytorch' >&2
	echo "$pins" >"$stamp"
fi
echo "$venv/bin/python"
