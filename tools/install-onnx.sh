#!/bin/sh
# install-onnx.sh: onnxruntime and onnx, pinned, in the test venv, for the
# ONNX export's consumer test (tests/onnx.sh).
#
#   tools/install-onnx.sh PYTHON     PYTHON: the venv's interpreter
#                                    (tools/install-deps.sh --tests)
#
# Installs from PyPI only what the venv is missing; prints PYTHON on its
# last line.  onnxruntime is the CPU wheel (CPUExecutionProvider), which
# runs com.microsoft MatMulNBits; onnx gives onnx.checker.
set -eu

ORT_VERSION=1.32.0
ONNX_VERSION=1.23.2
py=${1:?usage: install-onnx.sh PYTHON}

if ! "$py" -c "
import onnxruntime, onnx
assert onnxruntime.__version__ == '$ORT_VERSION', onnxruntime.__version__
assert onnx.__version__ == '$ONNX_VERSION', onnx.__version__
" 2>/dev/null; then
	echo "install-onnx: installing onnxruntime $ORT_VERSION and onnx" \
	    "$ONNX_VERSION" >&2
	"$py" -m pip install -q "onnxruntime==$ORT_VERSION" \
	    "onnx==$ONNX_VERSION" >&2
fi
echo "$py"
