#!/bin/sh
# quant_gguf.sh: our GGUF blocks against the gguf Python package (TAP).
#
# Runs tests/quant_gguf.py with the Python in $TQ_PYTHON (default python3),
# which must import gguf and numpy; otherwise the test is skipped with a
# "1..0 # SKIP" plan (exit status 0: under automake's tap-driver.sh any
# other status, 77 included, is an ERROR).  Uses
# $top_builddir/tests/quant_dump.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
py=${TQ_PYTHON:-python3}
dump=$top_builddir/tests/quant_dump

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

"$py" -c 'import gguf, numpy' >/dev/null 2>&1 ||
	skip "$py cannot import gguf and numpy (set TQ_PYTHON)"
[ -x "$dump" ] || skip "$dump is not built"

exec "$py" "$top_srcdir/tests/quant_gguf.py" --dump "$dump"
