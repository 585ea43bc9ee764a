#!/bin/sh
# tokenizer_hf.sh: core/tokenizer.c against Hugging Face tokenizers (TAP).
#
# Runs tests/tokenizer_hf.py with the Python in $TQ_PYTHON (default
# python3), which must import `tokenizers`; otherwise the test is skipped
# with a "1..0 # SKIP" plan.  (The exit status of a skip is 0: under
# automake's tap-driver.sh any other status, 77 included, is an ERROR.)
# Uses $top_builddir/tests/tok_dump, the fixtures in
# $top_srcdir/tests/data/tokenizers, assets/demo/tokenizer.json when it
# exists, and the corpora in $TQ_SHARED_DATA.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
py=${TQ_PYTHON:-python3}
data=${TQ_SHARED_DATA:-$top_srcdir/../shared/data}
dump=$top_builddir/tests/tok_dump

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

"$py" -c 'import tokenizers' >/dev/null 2>&1 ||
	skip "$py cannot import tokenizers (set TQ_PYTHON)"
[ -x "$dump" ] || skip "$dump is not built"
[ -d "$data" ] || skip "no corpora in $data (set TQ_SHARED_DATA)"

exec "$py" "$top_srcdir/tests/tokenizer_hf.py" --dump "$dump" \
    --data "$data" --tokenizers "$top_srcdir/tests/data/tokenizers" \
    --extra "$top_srcdir/assets/demo/tokenizer.json"
