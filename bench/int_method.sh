#!/bin/sh
# int_method.sh: the sweep behind the integer GPTQ presets' default method with
# calibration text (README, "Integer W4 and W3"), on SmolLM2-135M.
#
# Usage (from anywhere, after building):
#   bench/int_method.sh WORK NAME QUANTIZE-OPTION...
#
# WORK holds the float base and its saved log-probabilities as
# bench/default_method.sh needs them (base.gguf, base.logits,
# wikitext2-test.head.txt, linux-test.head.txt; run that script or
# tools/quant_table_smollm2.py --work WORK first; base.linux.logits is made
# by default_method.sh).  NAME names the variant; the options are quantize's,
# e.g.
#   bench/int_method.sh W plain --method gptq --scheme int4-g64
#   bench/int_method.sh W dflt --method gptq --scheme int4-g64 --awq-scales \
#       --imatrix --hess-shrink 0.3 --clip-search
# Calibration is the tables': 32 windows of 512 tokens of wikitext2-valid.txt
# (seed 0).  Evaluation is the tables' too: 16 windows of wikitext2-test.txt and
# 6 of linux-test.txt, llamacpp protocol, ctx 512, perplexity, mean KLD and same
# top token against the base on each.
#
# Prints one markdown row (kept in WORK/iv-NAME.res and reused when present)
# and the quantize time on stderr.  Environment: THREADS (2), TQ
# (build/turboquant).
set -eu

. "$(dirname "$0")/bench_env.sh"
[ $# -ge 3 ] || { echo "usage: $0 WORK NAME QUANTIZE-OPTION..." >&2; exit 2; }
W=$1
n=$2
shift 2
for f in base.gguf base.logits base.linux.logits wikitext2-test.head.txt \
    linux-test.head.txt; do
	[ -e "$W/$f" ] || { echo "$0: $W/$f is missing (run" \
	    "bench/default_method.sh on $W first)" >&2; exit 1; }
done
if [ -s "$W/iv-$n.res" ]; then
	cat "$W/iv-$n.res"
	exit 0
fi
t0=$(date +%s)
"$TQ" --threads "$THREADS" quantize "$W/base.gguf" "$@" \
    --calib "$DATA/wikitext2-valid.txt" --samples 32 --seqlen 512 \
    --out "$W/st-$n" --force >"$W/iv-$n.log" 2>&1 ||
    { echo "$0: $n: quantize failed (log: $W/iv-$n.log)" >&2; exit 1; }
t1=$(date +%s)
"$TQ" --threads "$THREADS" eval "$W/st-$n" --text "$W/wikitext2-test.head.txt" \
    --protocol llamacpp --max-tokens 8192 --json \
    --base-logits "$W/base.logits" >"$W/iv-$n.wiki.json"
"$TQ" --threads "$THREADS" eval "$W/st-$n" --text "$W/linux-test.head.txt" \
    --protocol llamacpp --max-tokens 3072 --json \
    --base-logits "$W/base.linux.logits" >"$W/iv-$n.linux.json"
python3 - "$W" "$n" >"$W/iv-$n.res.tmp" <<'PY'
import json, sys
w, n = sys.argv[1], sys.argv[2]
a = json.load(open("%s/iv-%s.wiki.json" % (w, n)))["variants"][0]
b = json.load(open("%s/iv-%s.linux.json" % (w, n)))["variants"][0]
print("| %s | %.3f | %.5f | %.2f | %.3f | %.5f | %.2f |"
      % (n, a["ppl"], a["kld"]["kld"], 100 * a["kld"]["same_top"],
         b["ppl"], b["kld"]["kld"], 100 * b["kld"]["same_top"]))
PY
mv "$W/iv-$n.res.tmp" "$W/iv-$n.res"
echo "$n: quantize $((t1 - t0)) s, in all $(($(date +%s) - t0)) s" >&2
cat "$W/iv-$n.res"
