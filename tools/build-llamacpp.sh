#!/bin/sh
# build-llamacpp.sh: a pinned llama.cpp build for the interop tests.
#
# PyPI is the one source of code this machine reaches, and the
# llama-cpp-python source distribution carries the llama.cpp tree it binds
# to.  This script downloads that sdist (pinned), builds llama.cpp's shared
# library and the tools the tests compare against (llama-quantize,
# llama-perplexity, llama-imatrix), and installs the Python bindings into
# the test venv without building llama.cpp a second time (they load our
# libllama.so through $LLAMA_CPP_LIB_PATH).
#
#   tools/build-llamacpp.sh PYTHON     PYTHON: the venv's interpreter
#
# Prints the directory holding the tools and libllama.so on its last line.
# The build is cached in $TQ_CACHE (default $HOME/.cache/turboquant) and
# takes about 10 minutes on 2 cores the first time.
set -eu

VERSION=0.3.36
py=${1:?usage: build-llamacpp.sh PYTHON}
cache=${TQ_CACHE:-$HOME/.cache/turboquant}
root=$cache/llama_cpp_python-$VERSION
bin=$root/build/bin

if [ ! -x "$bin/llama-perplexity" ] || [ ! -x "$bin/llama-quantize" ] ||
    [ ! -x "$bin/llama-imatrix" ] || [ ! -e "$bin/libllama.so" ]; then
	echo "build-llamacpp: building llama.cpp from llama-cpp-python $VERSION" >&2
	command -v cmake >/dev/null 2>&1 || {
		echo "build-llamacpp: cmake is missing (apt-get install cmake)" >&2
		exit 1
	}
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/dl.XXXXXX")
	"$py" -m pip download -q --no-binary :all: --no-deps -d "$tmp" \
	    "llama-cpp-python==$VERSION" >&2
	rm -rf "$root"
	tar -xzf "$tmp"/llama_cpp_python-$VERSION.tar.gz -C "$cache"
	rm -rf "$tmp"
	src=$root/vendor/llama.cpp
	cmake -S "$src" -B "$root/build" -DCMAKE_BUILD_TYPE=Release \
	    -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
	    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
	    -DGGML_OPENMP=OFF -DCMAKE_RUNTIME_OUTPUT_DIRECTORY="$bin" \
	    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$bin" >&2
	cmake --build "$root/build" -j"$(nproc)" --target llama \
	    llama-quantize llama-perplexity llama-imatrix >&2
fi

# The bindings are built without libllama (LLAMA_BUILD=OFF): they load it
# from LLAMA_CPP_LIB_PATH, as the tests run them, and without it the import
# always fails (and they were reinstalled on every call).
if ! LLAMA_CPP_LIB_PATH=$bin "$py" -c "import llama_cpp" 2>/dev/null; then
	echo "build-llamacpp: installing the llama_cpp Python bindings" >&2
	CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" "$py" -m pip install -q \
	    "$root" >&2
fi
echo "$bin"
