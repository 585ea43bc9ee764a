#!/bin/sh
# runtests.sh: the whole test suite, from a clean clone on Debian 12.
#
# Installs what is missing (tools/install-deps.sh --tests), then:
#   1. a build with -Werror and `make check` with the real consumers
#      (TQ_INTEROP=1: llama.cpp, gguf-py, transformers, onnxruntime, MLX);
#   2. an AddressSanitizer + UBSan build and its `make check`;
#   3. a ThreadSanitizer build of the tests that use threads (jobs, the
#      quantization pipeline, the threaded grids, GPTQ);
#   4. the libFuzzer targets built with clang and run briefly.
# With --long, `make check-long` too (the slow runs; see Makefile.am).
# Build trees go to build-*/ beside the sources; what a test needs and
# cannot find fails it (TQ_STRICT=1) rather than skipping.  Prints each
# phase's time at the end.  Exit status 0 = all passed.
set -eu
cd "$(dirname "$0")"
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)
long=0
case "${1:-}" in
--long) long=1 ;;
"") ;;
*) echo "usage: runtests.sh [--long]" >&2; exit 2 ;;
esac

times=""
t0=$(date +%s)
phase_start=$t0
phase() {	# phase NAME: the time since the last phase, under NAME
	now=$(date +%s)
	times="$times$(printf '%-22s %5d s' "$1" $((now - phase_start)))
"
	phase_start=$now
}
slowest() {	# slowest NAME: the suite's five slowest tests (tests/timed_driver.sh)
	grep -H '^# elapsed:' "build-$1"/tests/*.log 2>/dev/null |
	    sed 's|^.*/tests/\(.*\)\.log:# elapsed: \([0-9]*\) s$|\2 \1|' |
	    sort -rn | head -n 5 |
	    while read -r secs t; do printf '    %-18s %5d s\n' "$t" "$secs"; done
}
report_times() {
	printf '=== phase times\n%s%-22s %5d s\n' "$times" total \
	    $(($(date +%s) - t0))
}

python=$(tools/install-deps.sh --tests | tail -n 1)
export TQ_PYTHON="$python"
export TQ_STRICT=1
# The corpora beside the clone (absolute, so a copied source tree finds them).
TQ_SHARED_DATA=$(cd .. && pwd)/shared/data
export TQ_SHARED_DATA
phase "install: packages, venvs"
# The consumers the interop tests run, built or installed once here so that
# a fresh machine's install time shows as such (each is cached under
# ~/.cache/turboquant; the tests call the same scripts and find them).
log=$top/build-install.log
install_step() {	# install_step WHAT CMD...: CMD's output to $log, shown if it fails
	what=$1
	shift
	"$@" >"$log" 2>&1 || {
		tail -n 30 "$log"
		echo "runtests: $1 failed (log: $log)" >&2
		exit 1
	}
	rm -f "$log"
	phase "install: $what"
}
install_step llama.cpp tools/build-llamacpp.sh "$python"
install_step "checkpoint consumers" tools/install-ckpt-consumers.sh
install_step "checkpoint consumers (transformers 4.53)" \
    tools/install-ckpt-consumers-2025.sh
install_step "checkpoint consumers (transformers 4.55)" \
    tools/install-ckpt-consumers-2026.sh
install_step "SmolLM2 GGUF" tools/install-smollm2.sh "$python"
# Installed now: the second run only prints the path, for the tests.
TQ_SMOLLM2_GGUF=$(tools/install-smollm2.sh "$python" | tail -n 1)
export TQ_SMOLLM2_GGUF

[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] ||
    autoreconf -fi

# Out-of-tree builds need a source tree that is not configured in place; a
# tree where someone ran ./configure is tested through a copy of its files.
src=$top
if [ -f config.status ]; then
	echo "runtests: $top is configured in place; testing a copy of its files in build-src/"
	command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1 || {
		echo "runtests: not a git checkout: run 'make distclean' here first" >&2
		exit 1
	}
	rm -rf build-src
	mkdir build-src
	git ls-files -z --cached --others --exclude-standard |
	    tar --null -T - -cf - | tar -C build-src -xf -
	(cd build-src && autoreconf -fi >/dev/null 2>&1)
	src=$top/build-src
fi
phase "autoreconf"

suite() {	# suite NAME TARGET TESTS CONFIGURE-ARGS...  (TESTS "" = all)
	name=$1
	target=$2
	tests=$3
	shift 3
	echo "=== $name: configure $*"
	rm -rf "build-$name"
	mkdir -p "build-$name"
	(cd "build-$name" && "$src/configure" -q "$@" &&
	    make -j"$jobs" >/dev/null) || {
		echo "=== $name: build FAILED"
		report_times
		exit 1
	}
	phase "$name: build"
	(cd "build-$name" &&
	    if [ -n "$tests" ]; then make -j"$jobs" "$target" TESTS="$tests"
	    else make -j"$jobs" "$target"; fi) || {
		for f in "build-$name"/tests/*.log; do
			grep -q "^not ok\|^ERROR\|^FAIL" "$f" 2>/dev/null && cat "$f"
		done
		echo "=== $name: FAILED"
		phase "$name: $target"
		report_times
		exit 1
	}
	phase "$name: $target"
	sl=$(slowest "$name")
	[ -z "$sl" ] || times="$times$sl
"
}

# The tests against external consumers (llama.cpp, transformers,
# onnxruntime, ...) need their packages built or installed once; they run
# in the -Werror suite only (TQ_INTEROP=1) and say so where they skip.
suites="werror asan tsan fuzz"
export TQ_INTEROP=1
suite werror check "" --enable-werror
if [ $long = 1 ]; then
	suites="$suites long"
	suite long check-long "" --enable-werror
fi
export TQ_INTEROP=0
suite asan check "" --enable-werror --enable-sanitizers
# OpenBLAS's own threads are not instrumented, so TSan cannot see their
# synchronization: BLAS runs in the calling thread here, and TSan checks
# TurboQuant's threads (job worker, front end, grid workers).
export OPENBLAS_NUM_THREADS=1
suite tsan check \
    "tests/test_job tests/test_quantize tests/test_quant tests/test_gptq tests/test_calib" \
    --enable-tsan CC=clang
unset OPENBLAS_NUM_THREADS
TQ_FUZZ_SECONDS=${TQ_FUZZ_SECONDS:-20}
export TQ_FUZZ_SECONDS
suite fuzz check tests/fuzz.sh --enable-fuzzers --enable-sanitizers CC=clang
# The closing line CI reads: every suite's counts added up.
passed=0
failed=0
for name in $suites; do
	f=build-$name/test-suite.log
	p=$(sed -n 's/^# PASS: *//p' "$f")
	x=$(sed -n 's/^# \(FAIL\|ERROR\|XPASS\): *//p' "$f" | paste -sd+ -)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${x:-0}))
done
report_times
echo "=== all suites passed"
echo "runtests: $passed passed, $failed failed"
