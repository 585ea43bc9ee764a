#!/bin/sh
# runtests.sh: the whole test suite, from a clean clone on Debian 12.
#
# Installs what is missing (tools/install-deps.sh --tests), then:
#   1. a build with -Werror and `make check` (unit, CLI, interop tests);
#   2. an AddressSanitizer + UBSan build and its `make check`;
#   3. a ThreadSanitizer build of the tests that use threads (jobs, the
#      quantization pipeline, the threaded grids);
#   4. the libFuzzer targets built with clang and run briefly.
# Build trees go to build-*/ beside the sources.  Exit status 0 = all passed.
set -eu
cd "$(dirname "$0")"
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

python=$(tools/install-deps.sh --tests | tail -n 1)
export TQ_PYTHON="$python"

[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
    autoreconf -fi

suite() {	# suite NAME TESTS CONFIGURE-ARGS...  (TESTS "" = all)
	name=$1
	tests=$2
	shift 2
	echo "=== $name: configure $*"
	rm -rf "build-$name"
	mkdir -p "build-$name"
	(cd "build-$name" && "$top/configure" -q "$@" &&
	    make -j"$jobs" >/dev/null &&
	    if [ -n "$tests" ]; then make -j"$jobs" check TESTS="$tests"
	    else make -j"$jobs" check; fi) || {
		for f in "build-$name"/tests/*.log; do
			grep -q "^not ok\|^ERROR\|^FAIL" "$f" 2>/dev/null && cat "$f"
		done
		echo "=== $name: FAILED"
		exit 1
	}
}

# The tests against external consumers (llama.cpp, transformers, onnxruntime,
# ...) need their packages built or installed once; they run in the -Werror
# suite only (TQ_INTEROP=1) and skip themselves elsewhere.
(export TQ_INTEROP=1
suite werror "" --enable-werror) || exit 1
export TQ_INTEROP=0
suite asan "" --enable-werror --enable-sanitizers
# OpenBLAS's own threads are not instrumented, so TSan cannot see their
# synchronization: BLAS runs in the calling thread here, and TSan checks
# TurboQuant's threads (job worker, front end, grid workers).
(export OPENBLAS_NUM_THREADS=1
suite tsan "tests/test_job tests/test_quantize tests/test_quant tests/test_gptq tests/test_calib" \
    --enable-tsan CC=clang) || exit 1
TQ_FUZZ_SECONDS=${TQ_FUZZ_SECONDS:-20}
export TQ_FUZZ_SECONDS
suite fuzz tests/fuzz.sh --enable-fuzzers --enable-sanitizers CC=clang
# The closing line CI reads: every suite's counts added up.
passed=0
failed=0
for f in build-*/test-suite.log; do
	p=$(sed -n 's/^# PASS: *//p' "$f")
	x=$(sed -n 's/^# \(FAIL\|ERROR\|XPASS\): *//p' "$f" | paste -sd+ -)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${x:-0}))
done
echo "=== all suites passed"
echo "runtests: $passed passed, $failed failed"
