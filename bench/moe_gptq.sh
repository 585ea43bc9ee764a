#!/bin/sh
# moe_gptq.sh: whole-model GPTQ W4 g128 of a mixture of experts beside the
# dense model of the same active size: time, CPU time, peak memory, and how
# the router spread the calibration tokens over the experts, as a table.
#
# Usage (from anywhere):  bench/moe_gptq.sh [moe] [dense]      (default: both)
#
# For each model, one after the other: the random-weight checkpoint of
# bench/make_moe.py (the Qwen3-MoE shape, 3.3 GB in BF16; with --dense its
# dense twin, 0.5 GB) is written under /tmp when missing, then
# `turboquant quantize --method gptq --scheme int4-g128` runs on it under
# /usr/bin/time -v (wall and CPU seconds, peak RSS) while the 1-minute load
# average is sampled every 10 s.  Each expert's coverage (the calibration
# tokens the float router sent it) comes from quantize's --json.  The
# checkpoints it wrote and the quantized states are removed at the end
# unless KEEP=1.
#
# Environment: THREADS (nproc), SAMPLES (128), SEQLEN (512), SCHEME
# (int4-g128), TQ_MOE (/tmp/tq-moe), TQ_MOE_DENSE (/tmp/tq-moe-dense),
# PYTHON (with numpy, to write the checkpoints; default: the venv of
# tools/install-ckpt-consumers.sh), KEEP=1 (keep checkpoints and states),
# BENCH_OUT (a new /tmp/tq-moe-gptq.* directory: logs and JSON).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
THREADS=${THREADS:-$(nproc)}
SAMPLES=${SAMPLES:-128}
SEQLEN=${SEQLEN:-512}
SCHEME=${SCHEME:-int4-g128}
TQ_MOE=${TQ_MOE:-/tmp/tq-moe}
TQ_MOE_DENSE=${TQ_MOE_DENSE:-/tmp/tq-moe-dense}
CALIB=$ROOT/../shared/data/wikitext2-valid.txt
BENCH_OUT=${BENCH_OUT:-$(mktemp -d /tmp/tq-moe-gptq.XXXXXX)}
WHICH=${*:-moe dense}

mkdir -p "$BENCH_OUT"
. "$ROOT/bench/build_lib.sh"
TQ=$ROOT/turboquant
[ -x "$TQ" ] || TQ=$ROOT/build/turboquant
[ -x "$TQ" ] || { echo "moe_gptq.sh: build turboquant first (make)" >&2; exit 1; }
[ -f "$CALIB" ] || { echo "moe_gptq.sh: no calibration text $CALIB" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "moe_gptq.sh: needs GNU time (/usr/bin/time)" >&2; exit 1; }

made=""
sampler=""
cleanup() {
	[ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] && return
	for d in $made; do rm -rf "$d"; done
	rm -rf "$BENCH_OUT"/*-state
}
trap cleanup EXIT
trap 'exit 130' INT TERM

row() {		# row NAME MODEL-DIR TIME-LOG JSON LOAD-SAMPLES
	python3 - "$@" <<'EOF'
import json, os, re, statistics, struct, sys
name, d, tlog, js, loads = sys.argv[1:6]
cfg = json.load(open(os.path.join(d, "config.json")))
with open(os.path.join(d, "model.safetensors"), "rb") as f:
    hdr = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
total = expert = 0
for k, v in hdr.items():
    if k == "__metadata__":
        continue
    n = 1
    for s in v["shape"]:
        n *= s
    total += n
    if ".mlp.experts." in k:
        expert += n
e = cfg.get("num_experts", 0)
active = total - expert + (expert * cfg["num_experts_per_tok"] // e if e else 0)
t = open(tlog).read()
def field(label):
    return re.search(re.escape(label) + r": *([0-9.:]+)", t).group(1)
wall = 0.0
for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
    wall = wall * 60 + float(part)
cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
rss = int(field("Maximum resident set size (kbytes)")) / 1024
r = json.load(open(js))
routed = [l["routed"] for l in r["layers"]
          if "routed" in l and l["name"].endswith(".gate_proj")]
fell = sum(1 for l in r["layers"] if "routed" in l and l["tokens"] != l["routed"])
if routed:
    cov = "%d / %g / %d (%d of %d linears on all tokens)" % (
        min(routed), statistics.median(routed), max(routed), fell,
        sum(1 for l in r["layers"] if "routed" in l))
else:
    cov = "dense"
la = [float(x) for x in open(loads).read().split()]
gb = os.path.getsize(os.path.join(d, "model.safetensors")) / 1e9
print("| %s | %.2f G | %.2f G | %.2f GB BF16 | %.0f s (%.1f min) | %.0f s | %.0f MB | %s | %.1f (%.1f-%.1f) |" % (
    name, total / 1e9, active / 1e9, gb, wall, wall / 60, cpu, rss, cov,
    statistics.mean(la), min(la), max(la)))
EOF
}

echo "| model | total params | active params | file | wall | CPU (user+sys) | peak RSS | tokens per expert: min / median / max | load average: mean (min-max) |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
for w in $WHICH; do
	case $w in
	moe)	dir=$TQ_MOE; flag="" ;;
	dense)	dir=$TQ_MOE_DENSE; flag=--dense ;;
	*)	echo "moe_gptq.sh: unknown model $w (moe, dense)" >&2; exit 2 ;;
	esac
	if [ ! -f "$dir/config.json" ]; then
		made="$made $dir"
		"$(bench_python)" bench/make_moe.py "$dir" $flag >&2
	fi
	while :; do cut -d' ' -f1 /proc/loadavg; sleep 10; done \
	    >"$BENCH_OUT/$w-load.txt" &
	sampler=$!
	/usr/bin/time -v -o "$BENCH_OUT/$w-time.txt" "$TQ" --threads "$THREADS" \
	    quantize "$dir" --method gptq --scheme "$SCHEME" --calib "$CALIB" \
	    --samples "$SAMPLES" --seqlen "$SEQLEN" \
	    --out "$BENCH_OUT/$w-state" --force --json \
	    >"$BENCH_OUT/$w.json" 2>"$BENCH_OUT/$w.log" || {
		echo "moe_gptq.sh: quantize $w failed, see $BENCH_OUT/$w.log" >&2
		exit 1
	}
	kill "$sampler"
	sampler=""
	row "$w" "$dir" "$BENCH_OUT/$w-time.txt" "$BENCH_OUT/$w.json" \
	    "$BENCH_OUT/$w-load.txt"
done
echo "logs and JSON: $BENCH_OUT" >&2
