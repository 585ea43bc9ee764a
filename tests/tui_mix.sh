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
# second workbench, in ASCII without colour.  A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

# The predicted KLD on the summary line ("| KLD~0.00123").
summary_kld() {
	screen "$1" | sed -n 's/.*| KLD~\([0-9.e+-]*\).*/\1/p' | tail -1
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

keys x c C-u ; text x "$calib 8 256"; keys x Enter
wait_for x 'calibrated in'
ok $? "calibrated on wikitext2-valid.txt (8 samples of 256 tokens)"

# ---- sensitivity: cancel once, then measure ----
keys x s C-u ; text x default; keys x Enter
wait_for x 'sensitivity +[^ ]*.* [0-9]+/28 '
ok $? "the sensitivity job runs with a progress bar over the 28 layers"
keys x C-c
wait_for x 'cancel the run\? \(y/n\)'
keys x y
wait_for x 'sensitivity cancelled' && wait_for x ' idle '
ok $? "Ctrl-C y cancels it"
keys x s C-u ; text x default; keys x Enter
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
keys x w C-u ; text x "$tmp/sens.json"; keys x Enter
wait_for x "sensitivity saved to $tmp/sens.json"
[ -s "$tmp/sens.json" ]
ok $? "w saves the sensitivity"

# ---- pick the point: the browser gets its plan ----
keys x Enter
wait_for x "plan: mix $b1 bpw"
ok $? "Enter loads the point's plan into the browser"
pk=$(summary_kld x)
awk -v a="$pk" -v b="$k1" 'BEGIN { exit !(a > 0 && a / b < 1.01 && b / a < 1.01) }'
ok $? "the summary's predicted KLD $pk is the point's $k1"
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
keys x = C-u ; text x "gptq int8"; keys x Enter
wait_for x "$name .* gptq  *8 "
ok $? "= gptq int8 overrides $name"
pk2=$(summary_kld x)
awk -v a="$pk" -v b="$pk2" 'BEGIN { exit !(b > 0 && b < a) }' &&
	! screen x | grep -q 'KLD~[0-9.e+-]* ([0-9]*/28)'
ok $? "the predicted KLD drops at once: $pk -> $pk2 (every setting in the menu)"

# ---- quantize the plan ----
keys x r
wait_for x 'quantize +[^ ]*.*[0-9]+/[0-9]+ '
ok $? "quantizing the edited plan runs"
wait_for x 'quantized in'
ok $? "quantization ends"
errs=$(screen x | grep -Ec '^[ *][0-9]\.(attn|mlp)\.[a-z_]+ .* [0-9]\.[0-9][0-9]e-[0-9][0-9] ')
[ "$errs" -ge 17 ]	# the table's rows at 80x24
ok $? "per-layer errors fill the browser ($errs rows with an error)"
screen x | grep -Eq "^[ *]$(printf '%s' "$name" | sed 's/\./\\./g') .* gptq  *8 .* [0-9]\.[0-9][0-9]e-[0-9][0-9] "
ok $? "$name was quantized with the override"
screen x | grep -Eq '\| err sum [0-9]\.[0-9]{2}e-[0-9]+ \(28, #1\) \| KLD~[0-9]'
ok $? "at 80 columns the summary keeps the error sum, its variant, and the predicted KLD"
# a setting the menu lacks: the sum of the others is a lower bound, and says so
keys x = C-u ; text x "gptq int6-g128"; keys x Enter
wait_for x "$name .* gptq  *6 " &&
	wait_for x '\| KLD>=[0-9][0-9.e+-]* \(27/28\)' &&
	! screen x | grep -q 'KLD~'
ok $? "a layer outside the menu: KLD>= over 27 of 28 layers, not a smaller KLD~"
keys x q
wait_for x '^quit the workbench\? \(y/n\) - not saved: .*1 variant$'
keys x y
restored x && screen x | grep -q 'EXIT=0'
ok $? "quit (it asks: a variant is not saved); the terminal is restored"

# ---- a second workbench loads the saved table, ASCII and monochrome ----
start y 80 24 LANG=C LC_ALL=C NO_COLOR=1 --
wait_for y 'demo \(llama, 4 blocks\)' 60
keys y 6 s C-u ; text y "$tmp/sens.json"; keys y Enter
wait_for y "^ $npts points, 9 settings \\| from sens.json"
ok $? "s loads the saved sensitivity (the same $npts frontier points)"
s=$(screen y)
printf '%s\n' "$s" | grep -q '@' &&
	[ "$(printf '%s\n' "$s" | sed -n '5,18p' | cut -c10-50 | grep -c '\*')" -ge 8 ] &&
	! printf '%s\n' "$s" | LC_ALL=C grep -q "$(printf '[\200-\377]')"
ok $? "without UTF-8 the curve and the heat map are ASCII"
# a wide window: the frontier grows with it (its axis: a - or + a column)
axis() { screen y | grep -E '^ +\+[-+]+$' | head -1 | tr -cd -- '-+' | wc -c; }
narrow=$(axis)
T resize-window -t y -x 200 -y 50
wait_for y '4 validate  5 teach  6 mix'
wait_for y '^ +\+[-+]{150,}$'
ok $? "at 200x50 the frontier takes the width: axis $narrow -> $(axis) columns"
T resize-window -t y -x 80 -y 24
wait_for y '6 mix *$'
keys y G Enter
wait_for y 'plan: mix [0-9.]+ bpw'
ok $? "the largest point's plan loads"
keys y q
wait_for y '^quit the workbench\? \(y/n\) - not saved: plan edits$'
keys y y
restored y
ok $? "quit (it asks: the plan was not saved)"

finish
