#!/bin/sh
# gptq.sh: whole-model GPTQ W4 g128 time and peak memory, ours beside
# GPTQModel's, as a table.
#
# Usage (from anywhere):  bench/gptq.sh [demo] [1b]      (default: both)
#
# For each model, one after the other on the same machine: bench/bench_gptq
# (our engine's quantization job, with this machine's sgemm peak measured
# in the same process), then bench/peer_gptq.py (GPTQModel on the CPU, the
# same calibration windows, scheme, threads and GPTQ settings).  The 1B
# checkpoint is made by bench/make_llama1b.py when missing; the peer's venv
# by bench/install-gptq-peer.sh (about 6 GB, once).  Raw JSON goes to
# $BENCH_OUT.
#
# Environment: THREADS (nproc), TQ_LLAMA1B (/tmp/tq-llama1b), PYTHON (to make
# the 1B checkpoint; default: bench/build_lib.sh's bench_python), SAMPLES (128),
# SEQLEN (512), SCHEME (int4-g128), NO_PEER=1 (ours only), PEER_PYTHON (the
# peer venv's python; default: what install-gptq-peer.sh prints),
# BENCH_OUT (a new /tmp/tq-gptq.* directory).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
THREADS=${THREADS:-$(nproc)}
TQ_LLAMA1B=${TQ_LLAMA1B:-/tmp/tq-llama1b}
SAMPLES=${SAMPLES:-128}
SEQLEN=${SEQLEN:-512}
SCHEME=${SCHEME:-int4-g128}
CALIB=$ROOT/../shared/data/wikitext2-valid.txt
BENCH_OUT=${BENCH_OUT:-$(mktemp -d /tmp/tq-gptq.XXXXXX)}
WHICH=${*:-demo 1b}

mkdir -p "$BENCH_OUT"
. "$ROOT/bench/build_lib.sh"
BG=$(bench_build bench/bench_gptq)
peer=""
if [ "${NO_PEER:-0}" != 1 ]; then
	peer=${PEER_PYTHON:-$(bench/install-gptq-peer.sh | tail -n 1)}
fi

row() {		# row MODEL JSON-FILE [OUR-JSON-FILE]
	python3 - "$@" <<'EOF'
import json, sys
name, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
if "peer" in r:
    ours = json.load(open(sys.argv[3]))
    who = "GPTQModel %s (torch %s)" % (r["peer_version"], r["torch"].split("+")[0])
    rate = "%.1f" % (ours["cost_flops"] / r["quantize_s"] * 1e-9)
    frac = "%.0f %%" % (100 * ours["cost_flops"] / r["quantize_s"] * 1e-9 /
                        ours["sgemm_peak_gflops"])
    ratio = "%.2f" % (r["quantize_s"] / ours["quantize_s"])
else:
    who = "TurboQuant"
    rate = "%.1f" % r["gflops"]
    frac = "%.0f %% of %.0f" % (100 * r["fraction_of_peak"], r["sgemm_peak_gflops"])
    ratio = "1.00"
print("| %s | %s | GPTQ %s, %dx%d, %d threads | %.1f s | %s | %s | %.0f MB | %.2f | %s |" % (
    name, who, r["scheme"], r["samples"], r["seqlen"], r["threads"], r["quantize_s"],
    rate, frac, r["peak_rss_mb"], r["other_cpus_busy"], ratio))
EOF
}

echo "| model | engine | job | time | GFLOP/s (cost model) | fraction of sgemm peak | peak RSS | other CPUs busy | time / ours |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for w in $WHICH; do
	case $w in
	demo)	dir=assets/demo ;;
	1b)	dir=$TQ_LLAMA1B
		[ -f "$dir/config.json" ] ||
		    "$(bench_python)" bench/make_llama1b.py "$dir" >&2 ;;
	*)	echo "gptq.sh: unknown model $w (demo, 1b)" >&2; exit 2 ;;
	esac
	"$BG" "$dir" --calib "$CALIB" --samples "$SAMPLES" \
	    --seqlen "$SEQLEN" --scheme "$SCHEME" --threads "$THREADS" \
	    --json >"$BENCH_OUT/$w-ours.json"
	row "$w" "$BENCH_OUT/$w-ours.json"
	[ -n "$peer" ] || continue
	"$peer" bench/peer_gptq.py "$dir" --calib "$CALIB" \
	    --samples "$SAMPLES" --seqlen "$SEQLEN" --scheme "$SCHEME" \
	    --threads "$THREADS" >"$BENCH_OUT/$w-peer.json" \
	    2>"$BENCH_OUT/$w-peer.log"
	row "$w" "$BENCH_OUT/$w-peer.json" "$BENCH_OUT/$w-ours.json"
done
echo "raw JSON: $BENCH_OUT" >&2
