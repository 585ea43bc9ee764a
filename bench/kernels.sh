#!/bin/sh
# kernels.sh: the forward pass's matrix kernel (core/sgemm.c) beside
# OpenBLAS's sgemm and this CPU's FMA limit, one thread, on the products of
# SmolLM2-135M's and the 1B-shaped model's prefill, and the calibration's
# Hessian X^T X (tq_det_hessian_add) beside OpenBLAS's ssyrk on SmolLM2's
# linear inputs (bench/bench_kernels.c).
#
# Usage (from anywhere): bench/kernels.sh [REPS]
# Builds bench/bench_kernels as bench/build_lib.sh does; prints a markdown
# table.  Run it on a quiet machine: each figure is the best of REPS (3).
# OpenBLAS uses the kernel OPENBLAS_CORETYPE names, if set (this machine's
# environment sets Haswell), else the one it detects; run it both ways
# (`env -u OPENBLAS_CORETYPE bench/kernels.sh`) to see both.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BENCH_OUT=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$BENCH_OUT"
. "$ROOT/bench/build_lib.sh"
BK=$(bench_build bench/bench_kernels)
"$BK" "${1:-3}"
