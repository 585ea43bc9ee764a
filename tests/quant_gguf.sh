#!/bin/sh
# quant_gguf.sh: our GGUF blocks against the gguf Python package (TAP).
#
# Runs tests/quant_gguf.py with the Python in $TQ_PYTHON (default python3),
# which must import gguf and numpy; otherwise the test is skipped (under
# runtests.sh, TQ_STRICT=1, it fails; see tests/tap_lib.sh).  Uses
# $top_builddir/tests/quant_dump, and real rows from the demo model's
# weights beside made ones.  With TQ_INTEROP=1, also against the
# bytes of a pinned llama.cpp's ggml (tools/build-llamacpp.sh).

set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
rmdir "$tmp"	# unused, and exec (below) would drop the trap that removes it
dump=$top_builddir/tests/quant_dump

need_py 'gguf, numpy'
[ -x "$dump" ] || skip_test "$dump is not built"

set --
if [ "${TQ_INTEROP:-0}" = 1 ]; then
	bin=$("$top_srcdir/tools/build-llamacpp.sh" "$py" 2>/dev/null |
	    tail -n 1)
	if [ ! -e "$bin/libggml-base.so" ]; then
		echo "1..1"
		echo "not ok 1 - tools/build-llamacpp.sh gave no libggml-base.so"
		exit 0
	fi
	set -- --ggml "$bin/libggml-base.so"
fi
exec "$py" "$top_srcdir/tests/quant_gguf.py" --dump "$dump" \
    --real "$top_srcdir/assets/demo/model.safetensors" "$@"
