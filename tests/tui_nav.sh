#!/bin/sh
# tui_nav.sh: always knowing where you are in the workbench, driven in tmux
# on the demo model: the current screen named at 80 columns; the filter and
# the sort on the view line; the hint bar of each prompt and question; the
# `?` overlay boxed, opened on the current screen's section and complete;
# the filter on the names as shown, as it is typed, from empty; sorting
# from the top, by a click on a header; the mouse wheel; the Runs log
# scrolling and wrapping; q asking when it would lose plan edits or
# variants; TERM=dumb refused in one line; the detail growing with the
# window (tui_mix.sh checks the frontier does).
# A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

# the last line of the screen (the hint bar)
bar() { screen "$1" | sed -n "${2:-24}p"; }

# back to model order, ascending: one o at a time, each step seen
next_sort() {
	case $1 in
	"model order") echo "sort layer " ;; layer) echo "sort param " ;;
	param) echo "sort meth " ;; meth) echo "sort bits " ;;
	bits) echo "sort grp " ;; grp) echo "sort bpw " ;;
	bpw) echo "sort size " ;; size) echo "sort rel.err " ;;
	rel.err) echo "sort outl " ;; *) echo "model order" ;;
	esac
}
model_order() {
	if screen n | grep -q '| sort .* descending$'; then
		keys n O
		wait_for n '\| sort .* ascending$' 20
	fi
	m_i=0
	while [ $m_i -lt 10 ] && ! screen n | grep -q '| model order$'; do
		cur=$(screen n | sed -n 20p | sed 's/.*| sort \(.*\) ascending$/\1/')
		keys n o
		wait_for n "\\| $(next_sort "$cur")" 20 || break
		m_i=$((m_i + 1))
	done
}

start n 80 24 --
wait_for n 'demo \(llama, 4 blocks\)' 60
ok $? "the workbench opens at 80x24"

# ---- the current screen, named at every width ----
for s in "1 layers" "2 detail" "3 runs" "4 validate" "5 teach" "6 mix"; do
	keys n "${s%% *}"
	wait_for n "^ TurboQuant .* ${s} *\$" 20 && [ "$(screen n | head -1 | wc -c)" -le 81 ]
	ok $? "at 80 columns the title names the screen: $s"
done
keys n 1
T resize-window -t n -x 200 -y 50
wait_for n ' 1 layers  2 detail  3 runs  4 validate  5 teach  6 mix  7 heat *$' 20
ok $? "at 200 columns every tab is shown"
# the detail grows with the window: rows of the weight histogram (between
# its title and the grid's)
hist_rows() {
	screen n | awk '/^ weights -/ { on = 1; next } /^ grid of / { on = 0 }
	    on { n++ } END { print n + 0 }'
}
keys n 2
wait_for n '^ grid of ' 20
tall=$(hist_rows)
[ "$tall" -ge 15 ] && screen n | grep -Eq '^ weights -.{80,}inputs: calibrate'
ok $? "at 200x50 the detail's histograms take the height ($tall rows) and the width"
T resize-window -t n -x 80 -y 24
wait_for n '^ TurboQuant .* 2 detail *$' 20 && wait_for n '^ grid of ' 20
[ "$(hist_rows)" -le 5 ] && [ "$(screen n | wc -l)" -le 24 ] &&
	screen n | sed -n 24p | grep -q '^? help'
ok $? "at 80x24 they shrink back ($(hist_rows) rows), the hint bar last"
keys n 1
wait_for n '^ TurboQuant .* 1 layers *$' 20
ok $? "back at 80 columns, the screen's name again"

# ---- the filter and the sort stay on the view line ----
wait_for n '^ 30 of 30 layers \| no filter \| model order' 20
ok $? "the view line: 30 of 30 layers, no filter, model order"
keys n / ; text n 'down_proj'; keys n Enter
wait_for n '^ 4 of 30 layers \| filter /down_proj/ \| model order' 20
keys n j
wait_for n '^ 4 of 30 layers \| filter /down_proj/' 20 &&
	! screen n | grep -q 'filter /down_proj/: 4 of 30'
ok $? "the filter stays on the view line after the message goes"
keys n o o o
wait_for n '^ 4 of 30 layers \| filter /down_proj/ \| sort meth ascending' 20
ok $? "the sort is on the view line too"
keys n O
wait_for n '\| sort meth descending' 20
ok $? "and its direction"

# ---- a hint bar per prompt and per question ----
keys n /
wait_for n '^filter \(PCRE2\): ' 20 && [ "$(bar n)" = 'Enter apply Esc cancel ^U clear' ]
ok $? "a prompt's hint bar: Enter apply, Esc cancel, ^U clear ($(bar n))"
keys n Escape
wait_for n '^\? help q quit' 20
ok $? "Esc closes the prompt: the screen's hints are back"
keys n C-c
wait_for n 'quit the workbench\? \(y/n\)' 20 && bar n | grep -q '^y/Y quit n/N stay'
ok $? "the quit question's hints: y quit, n stay ($(bar n))"
keys n n
wait_for n '^\? help q quit' 20
ok $? "n answers no"

# ---- ? opens on the screen's section, boxed, complete ----
keys n '?'
wait_for n '^│ Layer browser \(1\) +│$' 20
ok $? "? on the browser opens on the browser's keys"
screen n | sed -n 2p | grep -q '^┌─ Keys ─*.*┐$' &&
	screen n | sed -n 23p | grep -q '^└─*.* of [0-9]* ─┘$' &&
	[ "$(screen n | sed -n '3,22p' | grep -vc '^│.*│$')" = 0 ]
ok $? "the overlay is a box over the whole body"
! screen n | grep -Eq 'rel\.err|4\.16|fp16 10\.2MB'
ok $? "nothing of the table shows through"
bar n | grep -q '^j/k scroll PgDn/PgUp page Esc close'
ok $? "the overlay's own hint bar ($(bar n))"
screen n | grep -q '│ *(0\.attn, \^1\\\.) or in full (self_attn), as it is typed *│'
ok $? "a long help line wraps instead of being cut"
keys n Escape 3
wait_for n '3 runs *$' 20
keys n '?'
wait_for n '^│ Runs and log \(3\) +│$' 20 &&
	screen n | grep -q 'scroll the log down'
ok $? "? on Runs opens on the Runs keys (the log scrolls)"
keys n Escape 4 '?'
wait_for n '^│ Validation \(4\) +│$' 20 &&
	screen n | grep -q 'v validates the'
ok $? "? on Validate opens on the Validate section, which says what it does"
keys n G
wait_for n '│  Ctrl-U +clear the line' 20 &&
	screen n | grep -Eq '│  Backspace Ctrl-H +delete the last character' &&
	screen n | grep -Eq '│  y Y +yes: do what the question asks'
ok $? "the overlay lists a prompt's editing keys and the y/n answers"
keys n Escape Escape

# ---- the filter: the names as shown, as it is typed, from empty ----
keys n 1
wait_for n '1 layers *$' 20
keys n Escape / ; text n '0.attn'
wait_for n '^filter \(PCRE2\): 0\.attn +4 of 30 layers' 20 &&
	[ "$(screen n | grep -c '^ 0\.attn\.')" = 4 ] &&
	[ "$(screen n | grep -c '^ [0-9]\.mlp\.')" = 0 ]
ok $? "/0.attn filters on the names as shown, as it is typed (before Enter)"
keys n Enter
wait_for n '^ 4 of 30 layers \| filter /0\.attn/' 20
ok $? "Enter keeps it"
keys n /
wait_for n '^filter \(PCRE2\):  +4 of 30 layers; Esc keeps /0\.attn/' 20
ok $? "/ starts an empty pattern (not the old one to append to)"
text n '^1\.'
wait_for n '^filter \(PCRE2\): \^1\\\. +7 of 30 layers' 20 &&
	[ "$(screen n | grep -c '^ 1\.')" = 7 ]
ok $? "/^1\\. finds block 1's seven layers"
keys n Escape
wait_for n '^ 4 of 30 layers \| filter /0\.attn/' 20
ok $? "Esc brings back the filter there was"
keys n / ; text n 'k_proj|x('
wait_for n '^filter \(PCRE2\): k_proj\|x\( +\(missing closing parenthesis' 20 &&
	screen n | grep -q '^ 4 of 30 layers | filter /k_proj|x/'
ok $? "a pattern that does not compile yet says why; the view keeps the last that did"
answer n "" '^1\.'
wait_for n '^ 7 of 30 layers \| filter /\^1\\\./' 20
keys n a b
wait_for n '7 layers -> rtn int5-g128' 20
answer n S "$tmp/block1.json"
wait_for n "plan saved to $tmp/block1.json" 20
"$tq" plan --plan "$tmp/block1.json" --json >"$tmp/block1.out" 2>&1 &&
	[ "$(grep -o '"name":"model.layers.1\.[^}]*"scheme":"int5-g128"' "$tmp/block1.out" | wc -l)" = 7 ] &&
	[ "$(grep -o '"scheme":"int5-g128"' "$tmp/block1.out" | wc -l)" = 7 ]
ok $? "an edit of the layers /^1\\./ shows goes to block 1 in the saved plan, and only there"
keys n x u Escape
wait_for n '^ 30 of 30 layers \| no filter' 20

# ---- sorting starts at the top; a header click sorts; the wheel ----
model_order
screen n | grep -q '| model order$'
ok $? "o cycles the sorts, back to model order"
keys n G
wait_for n '^ embed_tokens' 20
keys n o o
wait_for n '\| sort param ascending' 20 &&
	screen n | sed -n 3p | grep -q '^ 0\.attn\.k_proj'
ok $? "a new sort starts at the top (the cursor was on the last row)"
# a mouse event as the terminal sends it (X10): mouse NAME BUTTON X Y
mouse() {
	T send-keys -t "$1" -l "$(printf '\033[M')$(awk -v b="$2" -v x="$3" -v y="$4" 'BEGIN { printf "%c%c%c", 32 + b, 33 + x, 33 + y }')"
}
mouse n 0 37 1; mouse n 3 37 1
wait_for n '\| sort meth ascending' 20 &&
	screen n | sed -n 3p | grep -q '^ lm_head'
ok $? "a click on the meth header sorts by method, from the top"
mouse n 0 37 1; mouse n 3 37 1
wait_for n '\| sort meth descending' 20
ok $? "a second click sorts the other way"
mouse n 0 3 1; mouse n 3 3 1
wait_for n '\| sort layer ascending' 20
ok $? "a click on the layer header sorts by name"
model_order
top=$(screen n | sed -n 3p)
! screen n | grep -q '^ 2\.mlp\.up_proj' && mouse n 65 10 10
wait_for n '^ 2\.mlp\.up_proj' 20 && [ "$(screen n | sed -n 3p)" != "$top" ] &&
	screen n | sed -n 3p | grep -q '^ 0\.attn\.o_proj'
ok $? "the wheel scrolls the table down three rows"
mouse n 64 10 10
wait_gone n '^ 2\.mlp\.up_proj' 20 && screen n | sed -n 3p | grep -q '^ 0\.attn\.q_proj'
ok $? "and back up"

# ---- the Runs log scrolls and wraps ----
long=$tmp/a-rather-long-directory-name
mkdir -p "$long"
i=0
while [ $i -lt 12 ]; do
	answer n S "$long/plan$i.json"
	wait_for n "plan saved to $long/plan$i.json" 20 || break
	i=$((i + 1))
done
keys n 3
wait_for n '^ log  [0-9]+-[0-9]+ of [0-9]+ rows, following' 20 &&
	screen n | grep -q "plan11.json" && ! screen n | grep -q 'opened '
ok $? "the Runs log follows its end"
screen n | grep -Eq "^ +[0-9]+:[0-9]+ plan saved to\$" &&
	screen n | grep -Eq "^        $long/plan11.json\$"
ok $? "long log lines wrap, indented past the time"
keys n g
wait_for n '^ log  1-[0-9]+ of [0-9]+ rows$' 20 && screen n | grep -q 'opened .*30 quantizable layers'
ok $? "g scrolls the log to its first line"
keys n j
wait_for n '^ log  2-' 20
ok $? "j scrolls it down a row"
keys n G
wait_for n ', following' 20 && screen n | grep -q "plan11.json"
ok $? "G follows the end again"
mouse n 64 10 10
wait_for n '^ log  [0-9]+-[0-9]+ of [0-9]+ rows$' 20
ok $? "the wheel scrolls the log"

keys n q
restored n
ok $? "q quits with the terminal restored"

# ---- q asks first when quitting loses work ----
start u 80 24 --
wait_for u 'demo \(llama, 4 blocks\)' 60
keys u b
wait_for u '1 layer -> rtn int5-g128' 20
keys u q
wait_for u '^quit the workbench\? \(y/n\) - not saved: plan edits$' 20 &&
	[ "$(bar u)" = 'y/Y quit n/N stay' ]
ok $? "q with unsaved plan edits asks first, and says what would be lost"
keys u n
wait_for u '^\? help q quit' 20
ok $? "n stays"
answer u S "$tmp/saved.json"
wait_for u "plan saved to $tmp/saved.json" 20
keys u r
wait_for u 'quantized in' 120
ok $? "r quantizes the plan: a variant"
keys u q
wait_for u '^quit the workbench\? \(y/n\) - not saved: 1 variant$' 20
ok $? "with the plan saved, a variant still makes q ask"
keys u y
restored u && screen u | grep -q 'EXIT=0'
ok $? "y quits, the terminal restored"
start v 80 24 --
wait_for v 'demo \(llama, 4 blocks\)' 60
keys v q
restored v && screen v | grep -q 'EXIT=0'
ok $? "with nothing to lose q quits at once"

# ---- a terminal curses cannot drive: one line, no drawing ----
for t in dumb no-such-terminal; do
	start "d$t" 80 24 TERM=$t --
	# wait for the script's last line (TTY=), not EXIT=, before counting
	wait_for "d$t" 'TTY=(raw|cooked)' 60 &&
		[ "$(screen "d$t" | grep -c .)" = 3 ] &&
		screen "d$t" | sed -n 1p | grep -q "^turboquant: the workbench cannot drive TERM=$t (" &&
		screen "d$t" | sed -n 2p | grep -q '^EXIT=1$'
	ok $? "TERM=$t: refused in one line, exit 1 ($(screen "d$t" | sed -n 1p))"
done

finish
