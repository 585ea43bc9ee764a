#!/bin/sh
# tui_trust.sh: every number the workbench shows says where it came from,
# driven in tmux on the demo model.  Validation: the fp model alone before
# any variant (the baseline), a token limit checked against the command
# line's eval, the prompt remembering FILE CTX TOKENS, and a cancelled run
# shown as cancelled while the table keeps naming the text of its numbers.
# A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

wt=$shared/wikitext2-test.txt
lt=$shared/linux-test.txt
[ -r "$wt" ] && [ -r "$lt" ] ||
	skip_test "the corpora are missing (../shared/data or TQ_SHARED_DATA)"
head -c 30000 "$lt" >"$tmp/small.txt"
# The number after a label on the screen: num NAME SED-REGEX.
num() {
	screen "$1" | sed -n "s/$2/\\1/p" | head -1
}
near() {	# near A B TOLERANCE
	[ -n "$1" ] && [ -n "$2" ] &&
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { exit !(a - b <= t && b - a <= t) }'
}

start v 80 24 --
wait_for v 'demo \(llama, 4 blocks\)' 60
ok $? "the demo model is open"

# ---- validation: the fp baseline, a token limit, the context remembered ----
keys v v C-u ; text v "small.txt 128"; keys v Enter
wait_for v 'validated in'
screen v | grep -Eq '^ vs the fp model on small.txt, ctx 128, all [0-9]+ tokens' &&
	screen v | grep -Eq '^ fp16 +16.00 +[0-9]+\.[0-9]{3}'
ok $? "before any variant v measures the fp model alone, and says on what"
keys v r
wait_for v 'quantized in'
keys v v
wait_for v 'validate on \(FILE \[CTX \[TOKENS\]\]\): small.txt 128'
ok $? "the prompt offers the last FILE and CTX again"
keys v C-u ; text v "$wt 256 2048"; keys v Enter
wait_for v 'validated in'
screen v | grep -Eq "^ vs the fp model on .*wikitext2-test.txt, ctx 256, first 2048 of [0-9]+ tokens"
ok $? "a token limit: the header says the first 2048 tokens of the text"
fp=$(num v '^ fp16 *16.00 *\([0-9.]*\).*')
"$tq" eval --text "$wt" --ctx 256 --max-tokens 2048 --json >"$tmp/fp.json" 2>/dev/null
cfp=$(sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p' "$tmp/fp.json")
near "$fp" "$cfp" 0.0015
ok $? "the fp perplexity on those tokens ($fp) is the command line's ($cfp)"
wait_for v '^ #1 preset w4-rtn +4.16 +[0-9]+\.[0-9]+ +[+-][0-9.]+%'
ok $? "the variant is measured on the same tokens"

# ---- a cancelled validation keeps the table's source, and says so ----
keys v v C-u ; text v "$lt 256"; keys v Enter
wait_for v 'eval +[^ ]*.* [0-9]+/[0-9]+ .*linux-test'
keys v X
wait_for v 'last run cancelled after [0-9:s]+: linux-test.txt, ctx 256 \(not shown\)'
ok $? "X: the table says the last run was cancelled, on what"
screen v | grep -Eq "^ vs the fp model on .*wikitext2-test.txt, ctx 256, first 2048 of" &&
	[ "$(num v '^ fp16 *16.00 *\([0-9.]*\).*')" = "$fp" ]
ok $? "and still names the text its numbers come from"

keys v q
restored v && screen v | grep -q 'EXIT=0'
ok $? "quit; the terminal is restored"

finish
