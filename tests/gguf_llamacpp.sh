#!/bin/sh
# gguf_llamacpp.sh: llama.cpp (a pinned build, tools/build-llamacpp.sh)
# loads our GGUF exports of the demo and of every fixture architecture and
# computes what we compute (tests/gguf_llamacpp.py); llama-quantize accepts
# our importance matrix.  TAP.  Runs only with TQ_INTEROP=1 (the -Werror
# suite of runtests.sh); there a consumer that cannot be installed is a
# failure, not a skip.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
llamacpp_only
export LLAMA_CPP_LIB_PATH="$bin"

# llama-quantize --imatrix takes our importance matrix (its own parser).
fail=0
"$tq" export --format gguf --type f16 --out "$tmp/demo-f16.gguf" \
    >/dev/null 2>"$tmp/err" || fail=1
"$tq" calibrate --calib "$shared/wikitext2-valid.txt" --samples 8 \
    --seqlen 128 --imatrix "$tmp/imatrix.gguf" >/dev/null 2>>"$tmp/err" ||
    fail=1
if [ $fail = 0 ] && "$bin/llama-quantize" --imatrix "$tmp/imatrix.gguf" \
    "$tmp/demo-f16.gguf" "$tmp/demo-q4km.gguf" Q4_K_M 2 \
    >"$tmp/quant.log" 2>&1 &&
    grep -q "loaded [0-9]* importance matrix entries" "$tmp/quant.log"; then
	imat="ok"
else
	imat="not ok"
fi

"$py" "$top_srcdir/tests/gguf_llamacpp.py" --tq "$tq" \
    --dump "$top_builddir/tests/model_dump" --srcdir "$top_srcdir" \
    --text "$shared/wikitext2-test.txt" --lines 300 --extra 1 2>"$tmp/py.err" |
    tee "$tmp/tap"
n=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$tmp/tap")
if [ -z "$n" ]; then
	echo "1..1"
	echo "not ok 1 - gguf_llamacpp.py did not run:"
	tail -n 20 "$tmp/py.err" | sed 's/^/# /'
	exit 0
fi
echo "$imat $n - llama-quantize --imatrix reads our importance matrix and quantizes the demo export"
if [ "$imat" != ok ]; then
	cat "$tmp/err" "$tmp/quant.log" 2>/dev/null | tail -n 20 | sed 's/^/# /'
fi
