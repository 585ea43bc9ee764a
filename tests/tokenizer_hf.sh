#!/bin/sh
# tokenizer_hf.sh: the tokenizer (core/tok*.c, formats/tokenizer_json.c)
# against Hugging Face tokenizers (TAP).
#
# Runs tests/tokenizer_hf.py with the Python in $TQ_PYTHON (default
# python3), which must import `tokenizers`; otherwise the test is skipped
# (under runtests.sh, TQ_STRICT=1, it fails; see tests/tap_lib.sh).
# Uses $top_builddir/tests/tok_dump, the fixtures in
# $top_srcdir/tests/data/tokenizers, assets/demo/tokenizer.json when it
# exists, and the corpora in $TQ_SHARED_DATA.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
py=${TQ_PYTHON:-python3}
data=${TQ_SHARED_DATA:-$top_srcdir/../shared/data}
dump=$top_builddir/tests/tok_dump

. "$top_srcdir/tests/tap_lib.sh"

"$py" -c 'import tokenizers' >/dev/null 2>&1 ||
	skip_test "$py cannot import tokenizers (set TQ_PYTHON)"
[ -x "$dump" ] || skip_test "$dump is not built"
[ -d "$data" ] || skip_test "no corpora in $data (set TQ_SHARED_DATA)"

exec "$py" "$top_srcdir/tests/tokenizer_hf.py" --dump "$dump" \
    --data "$data" --tokenizers "$top_srcdir/tests/data/tokenizers" \
    --extra "$top_srcdir/assets/demo/tokenizer.json"
