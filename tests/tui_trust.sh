#!/bin/sh
# tui_trust.sh: every number the workbench shows says where it came from,
# driven in tmux on the demo model.  Validation: the fp model alone before
# any variant (the baseline), a token limit checked against the command
# line's eval, the prompt remembering FILE CTX TOKENS, and a cancelled run
# shown as cancelled while the table keeps naming the text of its numbers.
# The title's "*" follows undo and redo, with the origin's name; at 80
# columns the summary keeps the error sum (and names its variant) and the
# layer detail's header keeps the scheme beside the error.  Export: the
# dialog lists the variants and a leading #N or fp picks one, refuses an
# existing PATH with its own word (force), and logs a warning whole.
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
answer v v "small.txt 128"
wait_for v 'validated in'
screen v | grep -Eq '^ vs the fp model on small.txt, ctx 128, all [0-9]+ tokens' &&
	screen v | grep -Eq '^ fp16 +16.00 +[0-9]+\.[0-9]{3}'
ok $? "before any variant v measures the fp model alone, and says on what"
keys v r
wait_for v 'quantized in'
keys v 1
wait_for v '\| err sum - \(no calibration, #1\)'
ok $? "RTN without a calibration: no output error, and the summary says why"
keys v v
wait_for v 'validate on \(FILE \[CTX \[TOKENS\]\]\): small.txt 128'
ok $? "the prompt offers the last FILE and CTX again"
answer v "" "$wt 256 2048"
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
answer v v "$lt 256"
wait_for v 'eval +[^ ]*.* [0-9]+/[0-9]+ .*linux-test'
keys v X
wait_for v 'last run cancelled after [0-9:s]+: linux-test.txt, ctx 256 \(not shown\)'
ok $? "X: the table says the last run was cancelled, on what"
screen v | grep -Eq "^ vs the fp model on .*wikitext2-test.txt, ctx 256, first 2048 of" &&
	[ "$(num v '^ fp16 *16.00 *\([0-9.]*\).*')" = "$fp" ]
ok $? "and still names the text its numbers come from"

# ---- the title's "*": the plan differs from its origin; undo brings both back ----
title() {	# title NAME EREGEX: the title line matches
	# (at 80 columns it ends with the screen's number and name, "1 layers")
	screen "$1" | head -1 | grep -Eq -- "$2"
}
keys v 1 p ; text v w4-gptq; keys v Enter
wait_for v 'plan: preset w4-gptq' && title v 'plan: preset w4-gptq( +1 layers)?[[:space:]]*$'
ok $? "a preset is its own origin: no *"
keys v b
wait_for v '1 layer -> gptq int5-g128' && title v 'plan: preset w4-gptq \*'
ok $? "an edit: preset w4-gptq *"
keys v u
wait_for v 'undone \(1 more\)' && title v 'plan: preset w4-gptq( +1 layers)?[[:space:]]*$'
ok $? "undoing the edit: preset w4-gptq again, no *"
keys v u
wait_for v 'undone \(0 more\)' && title v 'plan: preset w4-rtn( +1 layers)?[[:space:]]*$'
ok $? "undoing the preset: the title names w4-rtn again"
keys v C-r C-r
wait_for v 'redone \(0 more\)' && title v 'plan: preset w4-gptq \*'
ok $? "redo twice: preset w4-gptq *"

# ---- at 80 columns: the summary keeps the error, the detail its scheme ----
keys v p ; text v w4-rtn; keys v Enter
wait_for v 'plan: preset w4-rtn'
keys v b
wait_for v '1 layer -> rtn int5-g128'
# the output errors need a calibration (without one: the SQNR only)
answer v c "$shared/wikitext2-valid.txt 8 256"
wait_for v 'calibrated in'
keys v r
wait_for v 'quantized in'
screen v | grep -Eq '\| err sum [0-9]\.[0-9]{2}e-[0-9]+ \(28, #2\)'
ok $? "the summary shows the error sum and whose it is (variant #2) at 80 columns"
keys v Enter
wait_for v '^ .*q_proj \[256 x 256\] +rtn int5-g128 +5\.16 bpw +err [0-9]\.[0-9]{2}e-[0-9]+ +sqnr [0-9.]+ dB'
ok $? "the detail's header keeps the scheme beside the measured error"
keys v Escape

# ---- export: which variant, force in the dialog's words, warnings whole ----
keys v E
wait_for v 'which \(#N or fp first\): #1 preset w4-rtn 4.16 \| #2 preset w4-rtn \* 4.18 \| fp'
ok $? "the export dialog lists the variants to choose from"
screen v | grep -Eq '^ export #2 preset w4-rtn \* \(4.18 bpw\)'
ok $? "the last one by default"
keys v C-u ; text v "#1 mlx - $tmp/m1"
wait_for v '^ export #1 preset w4-rtn \(4.16 bpw\)'
ok $? "a leading #1 picks the first"
keys v Enter
wait_for v 'exported mlx int4-g128-f32'
ok $? "#1 is exported: every layer int4-g128 (#2 has one at int5)"
answer v E "mlx - $tmp/m1"
wait_for v "export: $tmp/m1 already exists: add force to replace it"
ok $? "an existing PATH is refused in the dialog's own word, force"
answer v E "mlx - $tmp/m1 force"
wait_for v 'exported mlx mixed'
ok $? "force replaces it, with the last variant (#2: mixed bits)"
answer v E "#1 gguf q4_k_m $tmp/g.gguf"
wait_for v 'exported gguf q4_k_m: .*, a warning'
keys v 3
wait_for v 'wrote .*g.gguf'
screen v | sed -n '/warning: 28 layers re-quantized/,$p' |
	sed 's/^ *[0-9]*:[0-9][0-9] *//' | tr -s ' \n' '  ' |
	grep -q 'the state kept in float were quantized with RTN'
ok $? "the export's warning is in the log whole, wrapped at 80 columns"
[ "$(screen v | grep -c 'warning: 28 layers re-quantized')" = 1 ]
ok $? "once"

keys v q
wait_for v '^quit the workbench\? \(y/n\) - not saved: plan edits, 2 variants$'
keys v y
restored v && screen v | grep -q 'EXIT=0'
ok $? "quit (it asks: plan edits and 2 variants are not saved); the terminal is restored"

finish
