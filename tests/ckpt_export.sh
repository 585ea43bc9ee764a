#!/bin/sh
# ckpt_export.sh: the AWQ, GPTQ, compressed-tensors and TensorRT-LLM
# exports against our evaluation (TAP; see tests/ckpt_check.py).
#
# Runs tests/ckpt_check.py with the Python in $TQ_PYTHON (needs numpy);
# without it the test is skipped (under runtests.sh, TQ_STRICT=1, it
# fails).  With
# TQ_INTEROP=1 the consumers run too: tools/install-ckpt-consumers.sh
# installs them (torch, transformers, compressed-tensors, AutoAWQ with
# intel-extension-for-pytorch, AutoGPTQ with optimum; pinned) into their
# own venv, tools/install-ckpt-consumers-2025.sh transformers 4.53.3 over
# it (for the fixture architectures 4.46.3 predates), and a failure to
# install them fails the test.

set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
rmdir "$tmp"	# unused, and exec (below) would drop the trap that removes it
data=${TQ_SHARED_DATA:-$top_srcdir/../shared/data}

need_py numpy
[ -x "$top_builddir/tests/state_dump" ] || skip_test "tests/state_dump is not built"
[ -f "$data/wikitext2-valid.txt" ] || skip_test "no $data/wikitext2-valid.txt"

set -- --tq "$top_builddir/turboquant" --dump "$top_builddir/tests/state_dump" \
    --model "$top_srcdir/assets/demo" --calib "$data/wikitext2-valid.txt" \
    --fixtures "$top_srcdir/tests/data/models"
if [ "${TQ_INTEROP:-0}" = 1 ]; then
	consumer=$("$top_srcdir/tools/install-ckpt-consumers.sh" | tail -n 1) || {
		echo "1..1"
		echo "not ok 1 - tools/install-ckpt-consumers.sh failed"
		exit 1
	}
	set -- "$@" --consumer "$consumer"
	consumer=$("$top_srcdir/tools/install-ckpt-consumers-2025.sh" | tail -n 1) || {
		echo "1..1"
		echo "not ok 1 - tools/install-ckpt-consumers-2025.sh failed"
		exit 1
	}
	set -- "$@" --consumer-2025 "$consumer"
fi
exec "$py" "$top_srcdir/tests/ckpt_check.py" "$@"
