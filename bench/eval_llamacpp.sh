#!/bin/sh
# eval_llamacpp.sh: evaluation throughput of `turboquant eval` beside
# llama.cpp's llama-perplexity, both reading the same GGUF file, with the
# same text, windows (the llamacpp protocol, 512 tokens) and thread count.
# The two engines run alternately, back to back (ours, llama.cpp, ours,
# ...), RUNS times each, so that a machine shared with other work loads
# both alike; the table gives medians and the ratio of each pair.
#
# Usage (from anywhere):
#   bench/eval_llamacpp.sh [smollm2] [smollm2-q4km] [1b] [demo]
#   (default: smollm2 smollm2-q4km)
#
# The files (made once into BENCH_OUT, kept when already there):
#   smollm2       SmolLM2-135M's F32 GGUF: `turboquant export --type f32`
#                 of $TQ_SMOLLM2_GGUF (tools/install-smollm2.sh), as
#                 tests/smollm2.sh makes it
#   smollm2-q4km  that F32 file through `llama-quantize ... Q4_K_M` (most
#                 of its tensors Q5_0: 576 columns take no K-quant block)
#   1b            the F32 GGUF export of the Llama-3.2-1B-shaped checkpoint
#                 of bench/make_llama1b.py (TQ_LLAMA1B, made if missing; the
#                 demo's tokenizer is copied beside it if it has none)
#   demo          the F32 GGUF export of assets/demo
#
# Environment:
#   TQ_PYTHON      the test venv's python (for tools/build-llamacpp.sh)
#   THREADS        threads for both (nproc)
#   RUNS           runs of each engine on each file (3)
#   BENCH_OUT      directory for the GGUF files and logs (a new temporary
#                  one; pass an old one to reuse its files)
#   SMOL_TOKENS (8192)  L1B_TOKENS (1024)  DEMO_TOKENS (65536)
#                  tokens evaluated (windows of 512)
#
# Tokens per second are all tokens run through the model (windows x 512)
# over the evaluation time, tokenization and loading excluded: for
# llama-perplexity the time between its "calculating perplexity" and
# "Final estimate" log lines, for us the JSON "tokens_per_second".
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${TQ_PYTHON:-$HOME/.cache/turboquant/venv/bin/python}
THREADS=${THREADS:-$(nproc)}
RUNS=${RUNS:-3}
TQ_LLAMA1B=${TQ_LLAMA1B:-/tmp/tq-llama1b}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d /tmp/tq-evalbench.XXXXXX)}
SMOL_TOKENS=${SMOL_TOKENS:-8192}
L1B_TOKENS=${L1B_TOKENS:-1024}
DEMO_TOKENS=${DEMO_TOKENS:-65536}
TEXT=${TQ_SHARED_DATA:-$ROOT/../shared/data}/wikitext2-test.txt
WHICH=${*:-smollm2 smollm2-q4km}
TQ=$ROOT/turboquant
[ -x "$TQ" ] || TQ=$ROOT/build/turboquant
mkdir -p "$BENCH_OUT"

say() {
	printf '%s\n' "eval_llamacpp.sh: $*" >&2
}

load() {
	cut -d' ' -f1 /proc/loadavg
}

[ -x "$TQ" ] || { say "build turboquant first (make)"; exit 1; }
[ -f "$TEXT" ] || { say "no $TEXT (set TQ_SHARED_DATA)"; exit 1; }
BIN=$(tools/build-llamacpp.sh "$PY" | tail -n 1)
[ -x "$BIN/llama-perplexity" ] || { say "no llama-perplexity in $BIN"; exit 1; }

# f32 SRC OUT: our F32 GGUF export of SRC, unless OUT exists
f32() {
	[ -s "$2" ] && return 0
	say "F32 GGUF export of $1"
	"$TQ" export "$1" --format gguf --type f32 --out "$2.part" --force \
	    >/dev/null && mv "$2.part" "$2"
}

# gguf_of NAME: prints the GGUF file of model NAME, made if missing
gguf_of() {
	case $1 in
	smollm2 | smollm2-q4km)
		src=${TQ_SMOLLM2_GGUF:-}
		[ -n "$src" ] && [ -f "$src" ] || {
			say "no SmolLM2 GGUF (\$TQ_SMOLLM2_GGUF, which tools/install-smollm2.sh prints)"
			return 1
		}
		f32 "$src" "$BENCH_OUT/smollm2-f32.gguf" || return 1
		if [ "$1" = smollm2 ]; then
			echo "$BENCH_OUT/smollm2-f32.gguf"
			return 0
		fi
		out=$BENCH_OUT/smollm2-q4_k_m.gguf
		if [ ! -s "$out" ]; then
			say "llama-quantize Q4_K_M"
			"$BIN/llama-quantize" "$BENCH_OUT/smollm2-f32.gguf" \
			    "$out.part" Q4_K_M >"$BENCH_OUT/quantize.log" 2>&1 ||
			    { say "llama-quantize failed, see $BENCH_OUT/quantize.log"; return 1; }
			mv "$out.part" "$out"
		fi
		echo "$out" ;;
	1b)
		if [ ! -f "$TQ_LLAMA1B/model.safetensors" ]; then
			say "writing $TQ_LLAMA1B (bench/make_llama1b.py)"
			"$PY" bench/make_llama1b.py "$TQ_LLAMA1B" >&2 || return 1
		fi
		if [ ! -f "$TQ_LLAMA1B/tokenizer.json" ]; then
			say "the demo's tokenizer beside $TQ_LLAMA1B"
			for t in tokenizer.json tokenizer_config.json \
			    special_tokens_map.json; do
				[ -f "assets/demo/$t" ] &&
				    cp "assets/demo/$t" "$TQ_LLAMA1B/"
			done
		fi
		f32 "$TQ_LLAMA1B" "$BENCH_OUT/llama1b-f32.gguf" || return 1
		echo "$BENCH_OUT/llama1b-f32.gguf" ;;
	demo)
		f32 "$ROOT/assets/demo" "$BENCH_OUT/demo-f32.gguf" || return 1
		echo "$BENCH_OUT/demo-f32.gguf" ;;
	*)
		say "unknown model '$1' (smollm2, smollm2-q4km, 1b, demo)"
		return 2 ;;
	esac
}

# bench NAME TOKENS: RUNS alternated pairs on NAME's file, one table row
bench() {
	name=$1 tokens=$2
	gguf=$(gguf_of "$name") || return 1
	chunks=$((tokens / 512))
	i=1
	while [ "$i" -le "$RUNS" ]; do
		say "$name run $i/$RUNS: turboquant eval, $tokens tokens, $THREADS threads (load $(load))"
		echo "$(load)" >"$BENCH_OUT/$name.$i.load"
		"$TQ" --threads "$THREADS" eval "$gguf" --text "$TEXT" \
		    --protocol llamacpp --max-tokens "$tokens" --json \
		    >"$BENCH_OUT/$name.$i.ours.json"
		say "$name run $i/$RUNS: llama-perplexity, $chunks chunks (load $(load))"
		"$BIN/llama-perplexity" -m "$gguf" -f "$TEXT" -c 512 \
		    --chunks "$chunks" -t "$THREADS" \
		    >"$BENCH_OUT/$name.$i.llama.log" 2>&1 ||
		    { say "$name: llama-perplexity failed, see $BENCH_OUT/$name.$i.llama.log"; return 1; }
		echo "$(load)" >>"$BENCH_OUT/$name.$i.load"
		i=$((i + 1))
	done
	"$PY" - "$BENCH_OUT" "$name" "$(basename "$gguf")" "$RUNS" "$THREADS" \
	    <<'EOF' >>"$BENCH_OUT/rows"
import json, re, statistics, sys
out, name, gguf, runs, threads = sys.argv[1:]
ours, theirs, ratio, loads = [], [], [], []
for i in range(1, int(runs) + 1):
    o = json.load(open(f"{out}/{name}.{i}.ours.json"))
    text = open(f"{out}/{name}.{i}.llama.log").read()
    # Log lines start with the time since start, MIN.SEC.MSEC.USEC: the
    # evaluation runs from "calculating perplexity over N chunks" to "Final".
    def stamp(pat):
        m = re.search(r"^(\d+)\.(\d+)\.(\d+)\.(\d+) .*" + pat, text, re.M)
        mi, se, ms, us = (int(g) for g in m.groups()[:4])
        return m, 60 * mi + se + ms / 1e3 + us / 1e6
    m0, t0 = stamp(r"calculating perplexity over (\d+) chunks, n_ctx=(\d+)")
    m1, t1 = stamp(r"Final estimate: PPL = ([0-9.]+)")
    n = int(m0.group(5)) * int(m0.group(6))
    assert n == o["n_windows"] * o["ctx"], "not the same tokens"
    ours.append(o["tokens_per_second"])
    theirs.append(n / (t1 - t0))
    ratio.append(ours[-1] / theirs[-1])
    loads += [float(x) for x in open(f"{out}/{name}.{i}.load").read().split()]
med = statistics.median
def span(v, f):
    return f"{f.format(med(v))} ({f.format(min(v))}-{f.format(max(v))})"
print(f"| {name} | {gguf} | {n} | {threads} | {runs} | {span(ours, '{:.0f}')} | "
      f"{span(theirs, '{:.0f}')} | **{med(ratio):.2f}** ({min(ratio):.2f}-{max(ratio):.2f}) | "
      f"{o['ppl']:.4f} / {m1.group(5)} | {min(loads):.1f}-{max(loads):.1f} |")
EOF
}

: >"$BENCH_OUT/rows"
for w in $WHICH; do
	case $w in
	smollm2 | smollm2-q4km) bench "$w" "$SMOL_TOKENS" ;;
	1b) bench 1b "$L1B_TOKENS" ;;
	demo) bench demo "$DEMO_TOKENS" ;;
	*) say "unknown model '$w' (smollm2, smollm2-q4km, 1b, demo)"; exit 2 ;;
	esac
done
echo "| model | file (both engines) | tokens | threads | runs | ours tok/s, median (range) | llama-perplexity tok/s | ours / llama.cpp, median of pairs (range) | ppl ours / llama.cpp | load average |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$BENCH_OUT/rows"
echo
echo "raw results in $BENCH_OUT"
