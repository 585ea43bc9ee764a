#!/bin/sh
# eval_llamacpp.sh: evaluation throughput of `turboquant eval` beside
# llama.cpp's llama-perplexity, on the same model (our F32 GGUF export for
# llama.cpp, the checkpoint itself for us), the same text, windows (the
# llamacpp protocol, 512 tokens) and thread count.
#
# Usage (from anywhere):  bench/eval_llamacpp.sh [demo] [1b]   (default: demo)
#
# Environment:
#   TQ_PYTHON      the test venv's python (for tools/build-llamacpp.sh)
#   THREADS        threads for both (nproc)
#   TQ_LLAMA1B     the Llama-3.2-1B-shaped checkpoint (/tmp/tq-llama1b, made
#                  by bench/make_llama1b.py; its tokenizer is the demo's)
#   BENCH_OUT      directory for the GGUF files and logs (a new temporary one)
#   DEMO_TOKENS (65536)  L1B_TOKENS (2048)   tokens evaluated
#
# Tokens per second are all tokens run through the model (windows x 512)
# over the evaluation time, tokenization excluded: for llama-perplexity the
# time between its "calculating perplexity" and "Final estimate" log lines,
# for us the JSON "tokens_per_second".
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${TQ_PYTHON:-$HOME/.cache/turboquant/venv/bin/python}
THREADS=${THREADS:-$(nproc)}
TQ_LLAMA1B=${TQ_LLAMA1B:-/tmp/tq-llama1b}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d /tmp/tq-evalbench.XXXXXX)}
DEMO_TOKENS=${DEMO_TOKENS:-65536}
L1B_TOKENS=${L1B_TOKENS:-2048}
TEXT=${TQ_SHARED_DATA:-$ROOT/../shared/data}/wikitext2-test.txt
WHICH=${*:-demo}
TQ=$ROOT/turboquant
mkdir -p "$BENCH_OUT"

say() {
	printf '%s\n' "eval_llamacpp.sh: $*" >&2
}

[ -x "$TQ" ] || { say "build turboquant first (make)"; exit 1; }
BIN=$(tools/build-llamacpp.sh "$PY" | tail -n 1)
[ -x "$BIN/llama-perplexity" ] || { say "no llama-perplexity in $BIN"; exit 1; }

# run NAME DIR TOKENS: one row of the table
run() {
	name=$1 dir=$2 tokens=$3
	gguf=$BENCH_OUT/$name-f32.gguf
	chunks=$((tokens / 512))
	say "$name: F32 GGUF export"
	"$TQ" export "$dir" --format gguf --type f32 --out "$gguf" --force \
	    >/dev/null
	say "$name: turboquant eval, $tokens tokens, $THREADS threads (load $(cut -d' ' -f1 /proc/loadavg))"
	"$TQ" --threads "$THREADS" eval "$dir" --text "$TEXT" \
	    --protocol llamacpp --max-tokens "$tokens" --json \
	    >"$BENCH_OUT/$name.ours.json"
	say "$name: llama-perplexity, $chunks chunks (load $(cut -d' ' -f1 /proc/loadavg))"
	"$BIN/llama-perplexity" -m "$gguf" -f "$TEXT" -c 512 --chunks "$chunks" \
	    -t "$THREADS" >"$BENCH_OUT/$name.llama.log" 2>&1 ||
	    { say "$name: llama-perplexity failed, see $BENCH_OUT/$name.llama.log"; return 1; }
	"$PY" - "$name" "$BENCH_OUT/$name.ours.json" "$BENCH_OUT/$name.llama.log" \
	    "$THREADS" "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF' >>"$BENCH_OUT/rows"
import json, re, sys
name, ours, log, threads, load = sys.argv[1:]
o = json.load(open(ours))
text = open(log).read()
# Log lines start with the time since start, MIN.SEC.MSEC.USEC: the
# evaluation runs from "calculating perplexity over N chunks" to "Final".
def stamp(pat):
    m = re.search(r"^(\d+)\.(\d+)\.(\d+)\.(\d+) .*" + pat, text, re.M)
    mi, se, ms, us = (int(g) for g in m.groups()[:4])
    return m, 60 * mi + se + ms / 1e3 + us / 1e6
m0, t0 = stamp(r"calculating perplexity over (\d+) chunks, n_ctx=(\d+)")
m1, t1 = stamp(r"Final estimate: PPL = ([0-9.]+)")
n = int(m0.group(5)) * int(m0.group(6))
ppl = m1.group(5)
lt = n / (t1 - t0)
print(f"| {name} | {o['n_windows'] * o['ctx']} / {n} | {threads} | "
      f"{o['tokens_per_second']:.0f} | {lt:.0f} | {o['tokens_per_second'] / lt:.2f} | "
      f"{o['ppl']:.4f} / {ppl} | {load} |")
EOF
}

: >"$BENCH_OUT/rows"
for w in $WHICH; do
	case $w in
	demo) run demo "$ROOT/assets/demo" "$DEMO_TOKENS" ;;
	1b) run llama1b "$TQ_LLAMA1B" "$L1B_TOKENS" ;;
	*) say "unknown model '$w' (demo, 1b)"; exit 2 ;;
	esac
done
echo "| model | tokens ours / llama.cpp | threads | ours tok/s | llama-perplexity tok/s | ratio | ppl ours / llama.cpp | load after |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
cat "$BENCH_OUT/rows"
echo
echo "raw results in $BENCH_OUT"
