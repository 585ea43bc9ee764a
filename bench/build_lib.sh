# build_lib.sh: what the benchmark scripts share (sourced, not run).  Needs
# $ROOT (the source tree) and $BENCH_OUT (a directory for logs).

# bench_build TARGET: builds TARGET (bench/bench_forward, bench/bench_gptq)
# and prints its path: in the tree where it was configured in place
# (./configure), else out of tree in build-bench/ (as runtests.sh and
# quickstart.sh build, so neither is disturbed).
bench_build() {
	if [ -f "$ROOT/config.status" ]; then
		bdir=$ROOT
	else
		bdir=$ROOT/build-bench
		if [ ! -f "$bdir/Makefile" ]; then
			mkdir -p "$bdir"
			{ { [ -x "$ROOT/configure" ] || (cd "$ROOT" && autoreconf -fi); } &&
			    (cd "$bdir" && "$ROOT/configure" -q); } \
			    >"$BENCH_OUT/configure.log" 2>&1 || {
				echo "bench: configure failed, see $BENCH_OUT/configure.log" >&2
				return 1
			}
		fi
	fi
	make -C "$bdir" "$1" >"$BENCH_OUT/make.log" 2>&1 || {
		echo "bench: make $1 failed, see $BENCH_OUT/make.log" >&2
		return 1
	}
	echo "$bdir/$1"
}

# bench_python: a Python with torch and transformers, $PYTHON or the venv
# of tools/install-ckpt-consumers.sh (installed when missing).
bench_python() {
	if [ -n "${PYTHON:-}" ]; then
		echo "$PYTHON"
	else
		"$ROOT/tools/install-ckpt-consumers.sh" 2>"$BENCH_OUT/install.log" |
		    tail -n 1
	fi
}
