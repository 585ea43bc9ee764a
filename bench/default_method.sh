#!/bin/sh
# default_method.sh: the sweep behind the GGUF presets' default method with
# calibration text (README, "Choosing the default"), on SmolLM2-135M.
#
# Usage (from anywhere, after building):
#   bench/default_method.sh WORK TYPE VARIANT...
#
# WORK holds (or receives) the float base and its saved log-probabilities:
# base.gguf, base.logits, wikitext2-test.head.txt and linux-test.head.txt as
# tools/quant_table_smollm2.py --work WORK makes them (run it first, e.g.
# with --only "Q3_K_M +" for the base and llama.cpp's row).  TYPE is a GGUF
# preset (q4_k_m, q3_k_m, q2_k).  Each VARIANT is NAME=RULE: RULE is the JSON
# members of one plan rule over the block linears, e.g.
#   gptq_d01='"method":"gptq","imatrix":true,"damp":0.01'
#   shrink05='"method":"gptq","imatrix":true,"hess_shrink":0.5'
#   default='' (no rule: what `quantize --preset TYPE --calib ...` does)
#   llama=@llama_q4_k_m_imat.gguf (no quantization: that .gguf file of WORK
#   evaluated as the variants are, e.g. llama-quantize's)
# Calibration is the table's: 32 windows of 512 tokens of wikitext2-valid.txt
# (prose only; CALIB2=1 adds linux-valid.txt, the windows split evenly).
# Evaluation is the table's too: 16 windows of wikitext2-test.txt and 6 of
# linux-test.txt, llamacpp protocol, ctx 512, perplexity and mean KLD
# against the base on each (the base's Linux log-probabilities are made once
# into WORK/base.linux.logits).
#
# Prints one markdown row per variant on stdout (results also in
# WORK/sweep-TYPE-NAME.json, reused when present) and times on stderr.
# Environment: THREADS (2), TQ (build/turboquant).
set -eu

. "$(dirname "$0")/bench_env.sh"
[ $# -ge 3 ] || { echo "usage: $0 WORK TYPE NAME=RULE..." >&2; exit 2; }
WORK=$1
T=$2
shift 2
for f in base.gguf base.logits wikitext2-test.head.txt linux-test.head.txt; do
	[ -e "$WORK/$f" ] || { echo "$0: $WORK/$f is missing (run" \
	    "tools/quant_table_smollm2.py --work $WORK first)" >&2; exit 1; }
done
calib="--calib $DATA/wikitext2-valid.txt"
[ "${CALIB2:-0}" = 1 ] && calib="$calib --calib $DATA/linux-valid.txt"
tq() { "$TQ" --threads "$THREADS" "$@"; }
field() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); \
print(eval(sys.argv[2]))" "$1" "$2"; }

# The base's log-probabilities on the Linux windows, for the KLD off the
# calibration domain (made once).
if [ ! -s "$WORK/base.linux.logits" ]; then
	tq eval "$WORK/base.gguf" --text "$WORK/linux-test.head.txt" \
	    --protocol llamacpp --max-tokens 3072 --json \
	    --save-logits "$WORK/base.linux.logits.tmp" >/dev/null
	mv "$WORK/base.linux.logits.tmp" "$WORK/base.linux.logits"
fi

for v in "$@"; do
	name=${v%%=*}
	rule=${v#*=}
	res=$WORK/sweep-$T-$name.json
	if [ ! -s "$res" ]; then
		start=$(date +%s)
		args="--preset $T"
		file=$WORK/$T-$name.gguf
		given=0
		case $rule in @*) file=$WORK/${rule#@} given=1 ;; esac
		if [ $given = 1 ]; then
			[ -s "$file" ] || { echo "$0: $file is missing" >&2; exit 1; }
		elif [ -n "$rule" ]; then
			printf '{"preset": "%s", "rules": [{%s, "match": "^model\\\\.layers\\\\."}]}\n' \
			    "$T" "$rule" >"$WORK/plan-$T-$name.json"
			args="--plan $WORK/plan-$T-$name.json"
		fi
		# shellcheck disable=SC2086
		[ $given = 1 ] ||
		    tq quantize "$WORK/base.gguf" $args $calib --samples 32 \
		    --seqlen 512 --out "$WORK/st-$T-$name" --force \
		    --export "gguf:$file" >"$WORK/$T-$name.log"
		tq eval "$file" --text "$WORK/wikitext2-test.head.txt" \
		    --protocol llamacpp --max-tokens 8192 --json \
		    --base-logits "$WORK/base.logits" >"$WORK/$T-$name.wiki.json"
		tq eval "$file" --text "$WORK/linux-test.head.txt" \
		    --protocol llamacpp --max-tokens 3072 --json \
		    --base-logits "$WORK/base.linux.logits" \
		    >"$WORK/$T-$name.linux.json"
		printf '{"ppl": %s, "kld": %s, "linux": %s, "linux_kld": %s}\n' \
		    "$(field "$WORK/$T-$name.wiki.json" 'j["variants"][0]["ppl"]')" \
		    "$(field "$WORK/$T-$name.wiki.json" 'j["variants"][0]["kld"]["kld"]')" \
		    "$(field "$WORK/$T-$name.linux.json" 'j["variants"][0]["ppl"]')" \
		    "$(field "$WORK/$T-$name.linux.json" 'j["variants"][0]["kld"]["kld"]')" >"$res"
		echo "$T $name: $(($(date +%s) - start)) s wall, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	fi
	# (results made before the Linux KLD was measured: "-")
	printf '| %s | %s | `%s` | %.3f | %.5f | %.3f | %s |\n' "$T" "$name" \
	    "$rule" "$(field "$res" 'j["ppl"]')" "$(field "$res" 'j["kld"]')" \
	    "$(field "$res" 'j["linux"]')" \
	    "$(field "$res" '"%.5f" % j["linux_kld"] if "linux_kld" in j else "-"')"
done
