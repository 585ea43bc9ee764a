#!/bin/sh
# run.sh: forward-pass throughput of TurboQuant against transformers.
#
# Usage (from anywhere):  bench/run.sh [demo] [1b]      (default: both)
#
# Builds bench/bench_forward if needed (in build-bench/, bench/build_lib.sh), creates the Llama-3.2-1B-shaped
# random checkpoint with bench/make_llama1b.py when it is missing, then for
# each model runs bench_forward and bench/peer_torch.py with the same thread
# count and tokens, one after the other, and prints a markdown table.
#
# Environment:
#   PYTHON         Python with torch and transformers (default: the venv of
#                  tools/install-ckpt-consumers.sh, installed when missing)
#   THREADS        threads for both engines (nproc)
#   TQ_LLAMA1B     where the 1B checkpoint lives (/tmp/tq-llama1b)
#   BENCH_FORWARD  use this bench_forward binary instead of building one
#   BENCH_OUT      directory for the raw JSON results (a new temporary one)
#   DEMO_TOKENS, DEMO_REPS  (512, 10)     L1B_TOKENS, L1B_REPS  (256, 2)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
THREADS=${THREADS:-$(nproc)}
TQ_LLAMA1B=${TQ_LLAMA1B:-/tmp/tq-llama1b}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d /tmp/tq-bench.XXXXXX)}
DEMO_TOKENS=${DEMO_TOKENS:-512}
DEMO_REPS=${DEMO_REPS:-10}
L1B_TOKENS=${L1B_TOKENS:-256}
L1B_REPS=${L1B_REPS:-2}
mkdir -p "$BENCH_OUT"

WHICH=${*:-demo 1b}

say() {
	printf '%s\n' "run.sh: $*" >&2
}

# ---- bench_forward -------------------------------------------------------
. "$ROOT/bench/build_lib.sh"
BF=${BENCH_FORWARD:-$(bench_build bench/bench_forward)}
PYTHON=$(bench_python)
[ -x "$BF" ] || { say "no bench_forward at $BF"; exit 1; }

# ---- one model -------------------------------------------------------------
# run_model NAME DIR TOKENS REPS: writes $BENCH_OUT/NAME.{ours,torch}.json
run_model() {
	name=$1 dir=$2 tokens=$3 reps=$4
	say "$name: bench_forward, $tokens tokens x $reps reps, $THREADS threads (load $(cut -d' ' -f1 /proc/loadavg))"
	"$BF" "$dir" --tokens "$tokens" --reps "$reps" --threads "$THREADS" \
	    --json >"$BENCH_OUT/$name.ours.json"
	say "$name: transformers peer (load $(cut -d' ' -f1 /proc/loadavg))"
	"$PYTHON" bench/peer_torch.py "$dir" --tokens "$tokens" --reps "$reps" \
	    --threads "$THREADS" >"$BENCH_OUT/$name.torch.json" \
	    2>"$BENCH_OUT/$name.torch.log" ||
	    { say "$name: peer failed, see $BENCH_OUT/$name.torch.log"; return 1; }
	echo "$name" >>"$BENCH_OUT/models"
}

: >"$BENCH_OUT/models"
for w in $WHICH; do
	case $w in
	demo)
		if [ -f assets/demo/model.safetensors ]; then
			run_model demo "$ROOT/assets/demo" "$DEMO_TOKENS" "$DEMO_REPS"
		else
			say "assets/demo/model.safetensors is missing (not trained yet?): skipping the demo model"
		fi
		;;
	1b)
		if [ ! -f "$TQ_LLAMA1B/model.safetensors" ] ||
		    [ ! -f "$TQ_LLAMA1B/config.json" ]; then
			say "creating the Llama-3.2-1B-shaped checkpoint in $TQ_LLAMA1B (~2.5 GB, a few minutes)"
			"$PYTHON" bench/make_llama1b.py "$TQ_LLAMA1B" --no-tokenizer >&2
		fi
		run_model llama1b "$TQ_LLAMA1B" "$L1B_TOKENS" "$L1B_REPS"
		;;
	*)
		say "unknown model '$w' (demo, 1b)"
		exit 2
		;;
	esac
done

# ---- the table -------------------------------------------------------------
"$PYTHON" - "$BENCH_OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
names = [l.strip() for l in open(os.path.join(out, "models")) if l.strip()]
print("| model | tokens | threads | BLAS core | ours tok/s | torch tok/s | ours/torch "
      "| achieved GFLOP/s | sgemm peak GFLOP/s | fraction of peak | peak RSS ours / torch (MB) "
      "| logits sum ours / torch | other CPUs busy ours / torch |")
print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
for n in names:
    o = json.load(open(os.path.join(out, n + ".ours.json")))
    t = json.load(open(os.path.join(out, n + ".torch.json")))
    print(f"| {n} ({o['weights_dtype']}, {o['n_layers']} layers, H {o['hidden_size']}, "
          f"V {o['vocab_size']}) | {o['tokens']} | {o['threads']} | {o['blas_core']} "
          f"| {o['tokens_per_second']:.1f} | {t['tokens_per_second']:.1f} "
          f"| {o['tokens_per_second'] / t['tokens_per_second']:.2f} | {o['gflops']:.1f} "
          f"| {o['sgemm_peak_gflops']:.1f} | {100 * o['fraction_of_peak']:.1f} % "
          f"| {o['peak_rss_mb']:.0f} / {t['peak_rss_mb']:.0f} "
          f"| {o['logits_sum']:.6g} / {t['logits_sum']:.6g} "
          f"| {o['other_cpus_busy']:.2f} / {t['other_cpus_busy']:.2f} |")
print()
print(f"tok/s = best of the timed reps; other CPUs busy = CPUs that other processes kept busy "
      f"during the timed reps (0 = a quiet machine); raw JSON in {out}")
EOF
