#!/bin/sh
# install-deps.sh: install what TurboQuant needs on Debian 12 and is missing.
#
#   tools/install-deps.sh           build dependencies only
#   tools/install-deps.sh --tests   also clang/libFuzzer, tmux and a Python
#                                   venv with Hugging Face tokenizers and
#                                   gguf-py for the interop tests
#
# Only missing Debian packages are installed (as root, or through sudo).
# The venv lives in $TQ_VENV (default: $HOME/.cache/turboquant/venv); its
# python is printed on the last line with --tests.
set -eu

BUILD_PKGS="build-essential autoconf automake pkg-config libncurses-dev \
libopenblas-dev libcjson-dev libpcre2-dev"
TEST_PKGS="clang libclang-rt-14-dev python3 python3-venv python3-pip tmux"
TOKENIZERS_VERSION=0.20.3
GGUF_VERSION=0.19.0

tests=0
[ "${1:-}" = "--tests" ] && tests=1

pkgs=$BUILD_PKGS
[ $tests = 1 ] && pkgs="$pkgs $TEST_PKGS"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	echo "install-deps: installing$missing" >&2
	if [ "$(id -u)" = 0 ]; then
		SUDO=""
	elif command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "install-deps: need root to install:$missing" >&2
		exit 1
	fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	    --no-install-recommends $missing >&2
fi

if [ $tests = 1 ]; then
	venv=${TQ_VENV:-$HOME/.cache/turboquant/venv}
	if ! "$venv/bin/python" -c "import tokenizers, numpy, gguf" \
	    2>/dev/null; then
		echo "install-deps: setting up Python venv $venv" >&2
		[ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
		"$venv/bin/pip" install -q "tokenizers==$TOKENIZERS_VERSION" \
		    "gguf==$GGUF_VERSION" numpy >&2
	fi
	# MLX export consumer (its own venv): tests/export_mlx.sh
	"$(dirname "$0")/install-mlx.sh" >/dev/null
	# onnxruntime and onnx for the ONNX export's test (pinned there)
	"$(dirname "$0")/install-onnx.sh" "$venv/bin/python" >/dev/null
	echo "$venv/bin/python"
fi
