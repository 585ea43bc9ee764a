#!/bin/sh
# gptq.sh: whole-model GPTQ W4 g128 time and peak memory, as a table.
#
# Usage (from anywhere):  bench/gptq.sh [demo] [1b]      (default: both)
#
# Builds bench/bench_gptq if needed and runs it on the demo model and on
# the Llama-3.2-1B-shaped checkpoint (made by bench/make_llama1b.py when
# missing), calibrated on 128 x 512 tokens of wikitext2-valid.txt; each
# run measures this machine's sgemm peak itself.  No GPTQ peer runs on
# this machine (GPTQModel needs torch >= 2 and quantizes on CUDA; llama.cpp
# has no GPTQ), so the table has none; see bench/README.md.
#
# Environment: THREADS (nproc), TQ_LLAMA1B (/tmp/tq-llama1b), PYTHON
# (/opt/tqvenv/bin/python, only to make the 1B checkpoint), SAMPLES (128),
# SEQLEN (512).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
THREADS=${THREADS:-$(nproc)}
TQ_LLAMA1B=${TQ_LLAMA1B:-/tmp/tq-llama1b}
PYTHON=${PYTHON:-/opt/tqvenv/bin/python}
SAMPLES=${SAMPLES:-128}
SEQLEN=${SEQLEN:-512}
CALIB=$ROOT/../shared/data/wikitext2-valid.txt
WHICH=${*:-demo 1b}

make bench/bench_gptq >/dev/null
echo "| model | job | time | GFLOP/s (cost model) | sgemm peak | fraction | peak RSS | other CPUs busy |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for w in $WHICH; do
	case $w in
	demo)	dir=assets/demo ;;
	1b)	dir=$TQ_LLAMA1B
		[ -f "$dir/config.json" ] ||
		    "$PYTHON" bench/make_llama1b.py "$dir" >&2 ;;
	*)	echo "gptq.sh: unknown model $w (demo, 1b)" >&2; exit 2 ;;
	esac
	bench/bench_gptq "$dir" --calib "$CALIB" --samples "$SAMPLES" \
	    --seqlen "$SEQLEN" --threads "$THREADS" --json |
	python3 -c '
import json, sys
r = json.load(sys.stdin)
print("| %s | GPTQ %s, %dx%d | %.1f s | %.1f | %.1f | %.0f %% | %.0f MB | %.2f |" % (
    sys.argv[1], r["scheme"], r["samples"], r["seqlen"], r["quantize_s"],
    r["gflops"], r["sgemm_peak_gflops"], 100 * r["fraction_of_peak"],
    r["peak_rss_mb"], r["other_cpus_busy"]))' "$w"
done
