#!/bin/sh
# ckpt_moe.sh: the compressed-tensors and GPTQ exports of a mixture of
# experts (mixtral, qwen3_moe) against our evaluation (TAP; see
# tests/ckpt_moe.py).  Runs with the Python in $TQ_PYTHON (needs numpy);
# with TQ_INTEROP=1 the consumers of tools/install-ckpt-consumers.sh and
# tools/install-ckpt-consumers-2025.sh (transformers 4.53.3,
# compressed-tensors 0.13.0) load the exports too.

set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
rmdir "$tmp"	# unused, and exec (below) would drop the trap that removes it

need_py numpy
[ -x "$top_builddir/tests/state_dump" ] || skip_test "tests/state_dump is not built"

set -- --tq "$top_builddir/turboquant" --dump "$top_builddir/tests/state_dump" \
    --fixtures "$top_srcdir/tests/data/models"
if [ "${TQ_INTEROP:-0}" = 1 ]; then
	"$top_srcdir/tools/install-ckpt-consumers.sh" >/dev/null &&
	consumer=$("$top_srcdir/tools/install-ckpt-consumers-2025.sh" | tail -n 1) || {
		echo "1..1"
		echo "not ok 1 - tools/install-ckpt-consumers-2025.sh failed"
		exit 1
	}
	set -- "$@" --consumer-2025 "$consumer"
fi
exec "$py" "$top_srcdir/tests/ckpt_moe.py" "$@"
