#!/bin/sh
# strict.sh: a test whose oracle is missing skips, saying what is missing,
# when run by hand, and fails under runtests.sh (TQ_STRICT=1), in the shell
# tests (tests/tap_lib.sh: skip_test, skip_check) and the C ones
# (tests/tap.c: tap_skip).  Runs tests with an interpreter that does not
# exist and without the corpora.  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
quote() {	# quote FILE [GREP-ARGS]: a line of FILE, its # (TAP's directive mark) as =
	if [ $# -gt 1 ]; then f=$1; shift; grep -m1 "$@" "$f"; else head -n 1 "$1"; fi |
	    tr '#' '='
}

for strict in 0 1; do
	TQ_STRICT=$strict TQ_PYTHON=/nonexistent/python \
	    sh "$top_srcdir/tests/quant_gguf.sh" >"$tmp/out" 2>&1
	if [ $strict = 0 ]; then
		grep -q '^1\.\.0 # SKIP /nonexistent/python cannot import gguf' "$tmp/out"
		ok $? "by hand a missing gguf-py skips the test, naming it: $(quote "$tmp/out")"
	else
		grep -q '^not ok 1 - missing under TQ_STRICT=1: /nonexistent/python' "$tmp/out"
		ok $? "under TQ_STRICT=1 it fails: $(quote "$tmp/out" 'not ok')"
	fi
	# A check in the middle of a test (tap_lib.sh's skip_check).
	(TQ_STRICT=$strict; n=0; skip_check "no oracle") >"$tmp/out2"
	if [ $strict = 0 ]; then
		grep -q '^ok 1 # SKIP no oracle' "$tmp/out2"
	else
		grep -q '^not ok 1 - missing under TQ_STRICT=1: no oracle' "$tmp/out2"
	fi
	ok $? "skip_check with TQ_STRICT=$strict: $(quote "$tmp/out2")"
	# A C test (tap_skip): test_tokenizer without the corpora.
	TQ_STRICT=$strict TQ_SHARED_DATA=$tmp/none \
	    "$top_builddir/tests/test_tokenizer" >"$tmp/out3" 2>&1
	rc=$?
	if [ $strict = 0 ]; then
		[ $rc = 0 ] && grep -q '# SKIP no TQ_SHARED_DATA' "$tmp/out3"
	else
		[ $rc != 0 ] && grep -q '^not ok .*missing under TQ_STRICT=1' "$tmp/out3"
	fi
	ok $? "test_tokenizer without the corpora, TQ_STRICT=$strict: exit $rc, $(quote "$tmp/out3" 'SKIP\|TQ_STRICT')"
done
echo "1..$n"
