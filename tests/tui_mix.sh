#!/bin/sh
# tui_mix.sh: the workbench's mixed-precision screen, driven in tmux at
# 80x24: calibrate on wikitext2-valid.txt (few samples); measure every
# layer's sensitivity on the engine thread (progress bar; Ctrl-C cancels
# it, after asking); the Pareto frontier drawn with a cursor on its points
# and the heat map by block and layer type; pick a point: its plan is the
# browser's (undo and redo), the summary's predicted KLD is the point's;
# override one layer by hand and see the prediction move; quantize that
# plan and see per-layer errors, with the summary keeping the error sum
# beside the prediction at 80 columns; a setting outside the menu makes
# the prediction a lower bound (KLD>=, 27/28); save the sensitivity and load it in a
# second workbench, in ASCII without colour.  The current plan's mark on the
# frontier, moving with a hand edit (hollow when its sum is partial); the
# change of predicted KLD on each edit, computed; "go to N bpw" (b); the
# plot at 80x24 whole, and at 200x50 wider with more labels.  A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

# The predicted KLD on the summary line ("quantized | ... | KLD~0.00123").
summary_kld() {
	screen "$1" | grep ' quantized |' |
	    sed -n 's/.*| KLD~\([0-9.e+-]*\).*/\1/p' | tail -1
}
# Where the current plan's mark (GLYPH, default ◆) is in the plot: "ROW
# COLUMN" in characters, or nothing.
mark_at() {
	m_line=$(screen "$1" | grep -n "^ *[0-9.e+-]*|.*${2:-◆}" | head -1)
	[ -n "$m_line" ] || return 0
	m_pre=${m_line#*:}
	m_pre=${m_pre%%${2:-◆}*}
	echo "${m_line%%:*} $(printf '%s' "$m_pre" | LC_ALL=C.UTF-8 wc -m)"
}
# The bpw axis's labels (the row under its line) and the loss axis's.
bpw_labels() {
	screen "$1" | grep -A1 -E '^ +\+[-+]+' | tail -1 | wc -w
}
loss_labels() {
	screen "$1" | grep -cE '^ *[0-9.]+e[-+][0-9]+\|'
}
# The frontier point under the cursor: "INDEX BPW PRED".
point() {
	screen "$1" | sed -n 's/^ point \([0-9]*\)\/[0-9]*: \([0-9.]*\) bpw  predicted KLD \([0-9.e+-]*\) .*/\1 \2 \3/p'
}

calib=$shared/wikitext2-valid.txt
[ -r "$calib" ] || skip_test "$calib is missing (the corpora in ../shared/data)"

start x 80 24 --
wait_for x 'demo \(llama, 4 blocks\)' 60
ok $? "the demo model is open"

keys x 6
wait_for x 'No sensitivity yet'
ok $? "6 opens the mix screen, empty"
keys x s Enter
wait_for x 'calibrate first \(c\)'
ok $? "measuring without a calibration asks for one"
keys x b
wait_for x '^ no frontier yet: measure or load the sensitivity first \(s\)$'
ok $? "b (go to N bpw) without a frontier says how to get one"

answer x c "$calib 8 256"
wait_for x 'calibrated in'
ok $? "calibrated on wikitext2-valid.txt (8 samples of 256 tokens)"

# ---- sensitivity: cancel once, then measure ----
answer x s default
wait_for x 'sensitivity +[^ ]*.* [0-9]+/28 '
ok $? "the sensitivity job runs with a progress bar over the 28 layers"
ask_cancel x y
wait_for x 'sensitivity cancelled' && wait_for x ' idle '
ok $? "Ctrl-C y cancels it"
answer x s default
wait_for x 'sensitivity measured in'
ok $? "sensitivity measured on the engine thread"
wait_for x '^ [0-9]+ points, 9 settings \| measured on wikitext2-valid.txt, default menu'
ok $? "the screen names the table: points, menu, calibration"
npts=$(screen x | sed -n 's/^ \([0-9]*\) points, 9 settings .*/\1/p')

# ---- the frontier and the heat map ----
s=$(screen x)
braille=$(printf '\342[\240-\243]')
curve=$(printf '%s\n' "$s" | sed -n '5,18p' | LC_ALL=C grep -c "$braille")
[ "$curve" -ge 8 ]
ok $? "the frontier is drawn in braille over $curve rows"
printf '%s\n' "$s" | grep -q '●' &&
	printf '%s\n' "$s" | grep -Eq '^ [0-9.]+e-0[0-9]\|' &&
	printf '%s\n' "$s" | grep -q 'bits per weight (block linears)'
ok $? "a cursor on the curve, the loss axis in log labels, the bpw axis"
printf '%s\n' "$s" | grep -q 'probe KLD (layer alone)' &&
	[ "$(printf '%s\n' "$s" | LC_ALL=C grep -c "  [0-3]  $(printf '\342\226')")" = 4 ] &&
	printf '%s\n' "$s" | grep -Eq '░[0-9]e-[0-9]+ ▒[0-9]e-[0-9]+'
ok $? "the heat map: 4 block rows of shades, with a legend"
p0=$(point x)
keys x Right Right Right
wait_gone x "^ point ${p0%% *}/"
p1=$(point x)
set -- $p0
i0=$1 b0=$2 k0=$3
set -- $p1
i1=$1 b1=$2 k1=$3
[ "$i1" = $((i0 + 3)) ] &&
	awk -v a="$b0" -v b="$b1" -v c="$k0" -v d="$k1" \
	    'BEGIN { exit !(b > a && d < c) }'
ok $? "right moves along the frontier: point $i0 -> $i1, $b0 -> $b1 bpw, KLD $k0 -> $k1"
keys x m
wait_for x 'predicted KLD, this plan'
ok $? "m shows the current plan's predicted KLD on the heat map"
keys x q
wait_for x '^quit the workbench\? \(y/n\) - not saved: .*the sensitivity$'
ok $? "q with a measured sensitivity not saved asks first"
keys x n
wait_for x '^\? help'
answer x w "$tmp/sens.json"
wait_for x "sensitivity saved to $tmp/sens.json"
[ -s "$tmp/sens.json" ]
ok $? "w saves the sensitivity"
screen x | grep -q '^ plan: KLD~- (0/28), none of its settings in the menu: not on the plot' &&
	[ -z "$(mark_at x)" ]
ok $? "the plan line: w4-rtn has no setting in the menu, so no mark on the plot"
# the plot at 80x24: the bpw axis in round steps, both axes whole beside
# the heat map
s=$(screen x)
printf '%s\n' "$s" | grep -A1 -E '^ +\+[-+]{30,45}$' | tail -1 |
	grep -Eq '^ +3 +4 +5 +6 +7 +8$' &&
	[ "$(loss_labels x)" -ge 4 ] &&
	printf '%s\n' "$s" | grep -q ' blk  q  k  v  o  ga up dn$' &&
	printf '%s\n' "$s" | grep -q ' predicted KLD, this plan$'
ok $? "at 80x24 the plot fits: bpw labelled 3..8, $(loss_labels x) loss labels, the heat map whole"
keys x '?'
wait_for x '^│  b +go to N bits per weight: load the plan of the frontier' &&
	screen x | grep -q ' plan with a diamond (#), hollow (?)'
ok $? "? lists b, and says what the marks are"
keys x Escape
wait_for x '^ predicted KLD \(log\)'

# ---- pick the point: the browser gets its plan ----
keys x Enter
wait_for x "plan: mix $b1 bpw"
ok $? "Enter loads the point's plan into the browser"
pk=$(summary_kld x)
awk -v a="$pk" -v b="$k1" 'BEGIN { exit !(a > 0 && a / b < 1.01 && b / a < 1.01) }'
ok $? "the summary's predicted KLD $pk is the point's $k1"
screen x | grep -q "^ point $i1/$npts ($b1 bpw) loaded | KLD~- (0/28) -> KLD~$pk\$"
ok $? "the message names the point and the change of predicted KLD"
keys x 6
wait_for x "^ plan ◆ [0-9.]+ -> $b1 bpw  KLD~- \(0/28\) -> KLD~$pk  = point $i1/$npts\$"
ok $? "the mix screen: the plan is point $i1, marked, with its change"
m1=$(mark_at x)
[ -n "$m1" ] && ! screen x | grep -q '●'
ok $? "its mark (row, column ${m1:-none}) is over the cursor's point"
keys x Escape
wait_for x '^ layer +shape'
qb=$(screen x | sed -n 's/.* | [0-9.]* bpw, \([0-9.]*\) quantized.*/\1/p')
awk -v a="${qb:-0}" -v b="$b1" 'BEGIN { exit !(a - b < 0.006 && b - a < 0.006) }'
ok $? "and its quantized layers' bits per weight ${qb:-?} are the point's"
keys x u
wait_for x 'undone' && wait_for x '\| KLD~- \(0/28\)'
ok $? "u undoes the pick: w4-rtn again, none of its settings in the menu"
keys x C-r
wait_for x 'redone' && [ "$(summary_kld x)" = "$pk" ]
ok $? "Ctrl-R redoes it"

# ---- override one layer: a GPTQ layer of the plan to gptq int8 ----
row=$(screen x | sed -n '3,20p' | grep -n '^[ *][0-9]\.[a-z]*\.[a-z_]* .* gptq ' |
    grep -v ' gptq  *8 ' | head -1 | cut -d: -f1)
[ -n "$row" ]
ok $? "the plan has a GPTQ layer below 8 bits (table row ${row:-none})"
i=1
while [ "$i" -lt "${row:-1}" ]; do
	keys x j
	i=$((i + 1))
done
name=$(screen x | sed -n "$((row + 2))p" | awk '{ print $1 }')
answer x = "gptq int8"
wait_for x "$name .* gptq  *8 "
ok $? "= gptq int8 overrides $name"
pk2=$(summary_kld x)
awk -v a="$pk" -v b="$pk2" 'BEGIN { exit !(b > 0 && b < a) }' &&
	! screen x | grep -q 'KLD~[0-9.e+-]* ([0-9]*/28)'
ok $? "the predicted KLD drops at once: $pk -> $pk2 (every setting in the menu)"
# the change, computed: "1 layer -> gptq int8 | KLD~A -> B (D, P%)"
chg=$(screen x | sed -n 's/^ 1 layer -> gptq int8 | KLD~\([0-9.e-]*\) -> \([0-9.e-]*\) (\([-+][0-9.e-]*\), \([-+][0-9]*\)%)$/\1 \2 \3 \4/p')
set -- $chg
[ $# = 4 ] && [ "$1" = "$pk" ] && [ "$2" = "$pk2" ] &&
	awk -v a="$1" -v b="$2" -v d="$3" -v p="$4" 'BEGIN {
	    e = b - a - d; if (e < 0) e = -e;
	    q = 100 * (b - a) / a - p; if (q < 0) q = -q;
	    exit !(d < 0 && e <= 0.003 * a && q <= 1.5) }'
ok $? "the edit's message gives the change: ${chg:-none} (A B D P%)"
keys x 6
wait_for x "^ plan ◆ $b1 -> [0-9.]+ bpw  KLD~$pk -> $pk2 \(-"
ok $? "the mix screen's plan line gives the same change"
m2=$(mark_at x)
set -- ${m1:-0 0} ${m2:-0 0}
[ -n "$m2" ] && [ "$4" -gt "$2" ] && [ "$3" -ge "$1" ] &&
	screen x | grep -q '●'
ok $? "the mark moves right (more bits) and not up (less loss): ${m1:-none} -> ${m2:-none}, off the cursor"
keys x Escape
wait_for x '^ layer +shape'

# ---- quantize the plan ----
keys x r
wait_for x 'quantize +[^ ]*.*[0-9]+/[0-9]+ '
ok $? "quantizing the edited plan runs"
quantized x
screen x | grep -Eq "^[ *]$(printf '%s' "$name" | sed 's/\./\\./g') .* gptq  *8 .* [0-9]\.[0-9][0-9]e-[0-9][0-9] "
ok $? "$name was quantized with the override"
screen x | grep -Eq '\| err sum [0-9]\.[0-9]{2}e-[0-9]+ \(28, #1\) \| KLD~[0-9]'
ok $? "at 80 columns the summary keeps the error sum, its variant, and the predicted KLD"
# a setting the menu lacks: the sum of the others is a lower bound, and says so
answer x = "gptq int6-g128"
wait_for x "$name .* gptq  *6 " &&
	wait_for x '\| KLD>=[0-9][0-9.e+-]* \(27/28\)' &&
	! screen x | grep -q 'quantized .*KLD~' &&
	screen x | grep -q "^ 1 layer -> gptq int6-g128 | KLD~$pk2 -> KLD>=[0-9.e-]* (27/28)\$"
ok $? "a layer outside the menu: KLD>= over 27 of 28 layers, not a smaller KLD~, and no difference"
keys x 6
wait_for x "^ plan ◇ [0-9.]+ -> [0-9.]+ bpw  KLD~$pk2 -> KLD>=[0-9.e-]+ \(27/28\)\$" &&
	[ -n "$(mark_at x ◇)" ] && [ -z "$(mark_at x)" ]
ok $? "the mix screen keeps it partial: a hollow mark, KLD>= (27/28)"
keys x Escape
wait_for x '^ layer +shape'
keys x q
wait_for x '^quit the workbench\? \(y/n\) - not saved: .*1 variant$'
keys x y
restored x && screen x | grep -q 'EXIT=0'
ok $? "quit (it asks: a variant is not saved); the terminal is restored"

# ---- a second workbench loads the saved table, ASCII and monochrome ----
start y 80 24 LANG=C LC_ALL=C NO_COLOR=1 --
wait_for y 'demo \(llama, 4 blocks\)' 60
answer y "6 s" "$tmp/sens.json"
wait_for y "^ $npts points, 9 settings \\| from sens.json"
ok $? "s loads the saved sensitivity (the same $npts frontier points)"
s=$(screen y)
printf '%s\n' "$s" | grep -q '@' &&
	[ "$(printf '%s\n' "$s" | sed -n '5,18p' | cut -c10-50 | grep -c '\*')" -ge 8 ] &&
	! printf '%s\n' "$s" | LC_ALL=C grep -q "$(printf '[\200-\377]')"
ok $? "without UTF-8 the curve and the heat map are ASCII"
# ---- go to N bpw ----
keys y b
wait_for y '^go to bpw \(the frontier point at or below\): [0-9]+\.[0-9]{3}' &&
	wait_for y '^Enter apply Esc cancel'
ok $? "b asks for the bits per weight, with the prompt's hint bar"
keys y Escape
wait_for y '^\? help' && screen y | grep -q 'plan: preset w4-rtn'
ok $? "Esc cancels it: the plan is as it was"
answer y b abc
wait_for y '^ go to: "abc" is not a number of bits per weight \(say 4\.5\)$'
ok $? "a word is refused in one line"
answer y b 1
wait_for y '^ no frontier point at or below 1 bpw: the smallest is [0-9.]+$'
ok $? "below the frontier is refused, naming its smallest point"
answer y b 4.5
wait_for y '^ 4\.5 bpw: point [0-9]+/[0-9]+, [0-9.]+ bpw \| KLD~- \(0/28\) -> KLD~[0-9]'
ok $? "b 4.5 Enter applies a frontier point's plan and says which"
set -- $(point y) - - -
gi=$1 gb=$2
screen y | grep -q "^ 4\.5 bpw: point $gi/$npts, $gb bpw " &&
	screen y | grep -q "plan: mix $gb bpw" &&
	screen y | grep -Eq "^ plan # [0-9.]+ -> $gb bpw .* = point $gi/$npts\$" &&
	screen y | grep -Eq '^ *[0-9.e+-]*\|[ .*@]*#'	# not the heat map's #
ok $? "the cursor, the title and the plan's mark are on point $gi ($gb bpw)"
keys y l
wait_gone y "^ point $gi/"
set -- $(point y) - - -
awk -v a="$gb" -v b="$2" 'BEGIN { exit !(a <= 4.5 && b > 4.5) }'
ok $? "it is the nearest point below 4.5: $gb, the next is $2"
answer y "Escape p" w4-gptq
wait_for y '^ plan: preset w4-gptq \| KLD~[0-9.e-]+ -> [0-9.e-]+ \([-+][0-9.e-]+, [-+][0-9]+%\)$'
ok $? "a preset's message gives the change too (all of w4-gptq is in the menu)"
keys y 6
wait_for y '6 mix *$'
# a wide window: the frontier grows with it (its axis: a - or + a column)
axis() { screen y | grep -E '^ +\+[-+]+$' | head -1 | tr -cd -- '-+' | wc -c; }
narrow=$(axis)
nb=$(bpw_labels y) nl=$(loss_labels y)
T resize-window -t y -x 200 -y 50
wait_for y '4 validate  5 teach  6 mix'
wait_for y '^ +\+[-+]{150,}$'
ok $? "at 200x50 the frontier takes the width: axis $narrow -> $(axis) columns"
[ "$(bpw_labels y)" -ge $((nb * 2)) ] && [ "$(loss_labels y)" -gt "$nl" ] &&
	screen y | grep -q ' blk  q  k  v  o  ga up dn$'
ok $? "and more labels on both axes: bpw $nb -> $(bpw_labels y), loss $nl -> $(loss_labels y)"
T resize-window -t y -x 80 -y 24
wait_for y '6 mix *$'
keys y G
wait_for y "^ point $npts/$npts: "
set -- $(point y) - - -
keys y Enter
wait_for y "plan: mix $2 bpw"
ok $? "the largest point's plan loads ($2 bpw)"
keys y q
wait_for y '^quit the workbench\? \(y/n\) - not saved: plan edits$'
keys y y
restored y
ok $? "quit (it asks: the plan was not saved)"

finish
