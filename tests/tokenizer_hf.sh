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

set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
rmdir "$tmp"	# unused, and exec (below) would drop the trap that removes it
dump=$top_builddir/tests/tok_dump

need_py tokenizers
[ -x "$dump" ] || skip_test "$dump is not built"
[ -d "$shared" ] || skip_test "no corpora in $shared (set TQ_SHARED_DATA)"

exec "$py" "$top_srcdir/tests/tokenizer_hf.py" --dump "$dump" \
    --data "$shared" --tokenizers "$top_srcdir/tests/data/tokenizers" \
    --extra "$top_srcdir/assets/demo/tokenizer.json"
