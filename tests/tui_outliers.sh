#!/bin/sh
# tui_outliers.sh: outliers the workbench can be trusted on, driven in tmux.
#   - the layer detail states what an outlier is (absmax >= 4.0x the median
#     channel's), lists as outliers only channels at or above it (else says
#     none, and names the largest as such), gives units (w, |x|) and axis
#     ticks under every chart; the browser's outl column counts the same
#     channels; the AWQ lesson's salient channels are the same ranking;
#   - the Runs log at 80 columns keeps "4.16 bpw" whole when it wraps;
#   - on SmolLM2 at 200x50 (TQ_SMOLLM2_GGUF): the massive activations of
#     block 11's down_proj input are the first outliers, the same channels
#     the command line's calibrate names, and the only columns that reach
#     the top of the channel chart; the detail uses the window: charts the
#     width of it, taller histograms, several rows of outliers.
# A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

calib=$shared/wikitext2-valid.txt
[ -r "$calib" ] || skip_test "$calib is missing (the corpora in ../shared/data)"

# ratios SCREEN: the RATIOx of each channel on the outlier rows
ratios() {
	sed -n '/^ outliers: /,/^ grid of/p' | grep -Eo '\([0-9.]+x\)' |
	    tr -d '(x)'
}

# ---- the demo at 80x24: the threshold, units, ticks ----
start d 80 24 --
wait_for d 'demo \(llama, 4 blocks\)' 60
ok $? "the demo model is open"
answer d c "$calib 8 64"
wait_for d 'calibrated in'
keys d Enter
wait_for d 'channel absmax \|x\| \(256 inputs, median [0-9.]+\); outliers: >= 4\.0x the median'
ok $? "the detail states the threshold: absmax >= 4.0x the median"
line=$(screen d | grep '^ outliers: ')
r=$(screen d | ratios)
case $line in
" outliers: none; the largest: ch"*)
	echo "$r" | awk 'NF { if ($1 + 0 >= 4.0) bad = 1; n++ }
	    END { exit bad || n < 1 }' ;;
" outliers: "[0-9]*" of 256: ch"*)
	echo "$r" | awk 'NF { if ($1 + 0 < 4.0) bad = 1; n++ }
	    END { exit bad || n < 1 }' ;;
*)	false ;;
esac
ok $? "only channels at or above it are called outliers ($line)"
screen d | grep -q 'inputs |x|: 512 tokens' && screen d | grep -q '^ channel absmax |x| '
ok $? "units on the values: inputs |x|, absmax |x|"
screen d | grep -Eq '^ +\|-0\.1 +\|0 +\|0\.1 +\|1e-6 +\|1e-4 +\|0\.01 +\|1 +\|100'
ok $? "axis ticks under both histograms: w, and |x| in powers of ten"
screen d | grep -Eq '^ \|0 +\|[0-9]+ +\|[0-9]+ .*\|2[0-9][0-9] *$'
ok $? "axis ticks under the channel chart: channel numbers"
first=$(screen d | sed -n 's/^ outliers: [^:]*: ch\([0-9]*\) .*/\1/p')

# the browser counts the channels the detail calls outliers
keys d Escape
wait_for d '1 layers$'
keys d / C-u ; text d '^1\.mlp\.down'; keys d Enter Enter
wait_for d 'model.layers.1.mlp.down_proj \['
k=$(screen d | sed -n 's/^ outliers: \([0-9]*\) of .*/\1/p')
[ -n "$k" ] || k=0
keys d Escape
wait_for d '^ 1\.mlp\.down_proj '
o=$(screen d | awk '/^ 1\.mlp\.down_proj / { print $NF }')
[ "$o" = "$k" ] || { [ "$k" = 0 ] && [ "$o" = - ]; }
ok $? "the browser's outl column ($o) counts the detail's outliers ($k)"

# the AWQ lesson ranks the salient channels as the detail does
answer d "Escape /" '^0\.attn\.q'
keys d t
wait_for d 'Lessons: j/k choose'
keys d Enter
wait_for d 'Lesson 1/[0-9]+:'
keys d ']' ']' ']' ']' ']' ']'
wait_for d 'Lesson 7/[0-9]+: AWQ'
wait_for d 'salient input channels: the largest absmax \|x\|'
awq=$(screen d | sed -n 's/^ *ch\([0-9]*\) .*/\1/p' | head -1)
[ -n "$first" ] && [ "$awq" = "$first" ]
ok $? "the AWQ lesson's first salient channel (ch$awq) is the detail's first (ch$first)"

# ---- the Runs log at 80 columns: a value keeps its unit ----
keys d 1
wait_for d '1 layers'
keys d p ; text d 'w4-gptq'; keys d Enter
wait_for d 'plan: preset w4-gptq'
keys d r
wait_for d 'quantized in'
keys d 3
wait_for d ' log '
screen d | grep -q 'err [0-9.]*e-[0-9]*$' &&
	screen d | grep -Eq '^ +[0-9]\.[0-9][0-9] bpw$' &&
	! screen d | grep -Eq '(^ +bpw$)|(b$)|(bp$)|(^ +(pw|w)( |$))'
ok $? "a wrapped log line breaks at a field: '4.16 bpw' stays whole"
quits d 10
ok $? "the demo session exits cleanly"

# ---- SmolLM2 at 200x50: the massive activations stand out ----
gguf=${TQ_SMOLLM2_GGUF:-}
if [ -z "$gguf" ] || [ ! -f "$gguf" ]; then
	for i in 1 2 3 4 5 6; do
		skip_check "no SmolLM2 GGUF (\$TQ_SMOLLM2_GGUF)"
	done
	finish
	exit $?
fi
cli=$("$tq" --threads 2 calibrate "$gguf" --calib "$calib" --samples 4 \
    --seqlen 128 2>/dev/null | awk '$1 == "11.down_proj" {
    gsub(/[#,]/, ""); print $5, $7 }')
start s 200 50 -- tui "$gguf"
wait_for s '30 blocks' 120
answer s c "$calib 4 128"
wait_for s 'calibrated in'
keys s / C-u ; text s '^11\.mlp\.down'; keys s Enter Enter
wait_for s 'model.layers.11.mlp.down_proj \[576 x 1536\]'
wait_for s '^ outliers: [0-9]+ of 1536: '
two=$(screen s | sed -n 's/^ outliers: [^:]*: ch\([0-9]*\) [0-9.]* (\([0-9]*\)x) ch\([0-9]*\) [0-9.]* (\([0-9]*\)x).*/\1 \3 \2 \4/p')
set -- $two 0 0 0 0
c1=$1 c2=$2 r1=$3 r2=$4
[ -n "$two" ] && [ "$c1 $c2" = "$cli" ] && [ "$r1" -ge 1000 ] && [ "$r2" -ge 1000 ]
ok $? "the first outliers are the massive activations, ch$c1 ${r1}x and ch$c2 ${r2}x, calibrate's ($cli)"
# the chart's top row: only the massive channels' columns reach it
top=$(screen s | sed -n '/^ channel absmax |x|/{n;p;}')
nb=$(printf '%s' "$top" | tr -d ' ' | wc -m)
[ "$nb" -ge 1 ] && [ "$nb" -le 3 ]
ok $? "they stand out: only $nb column(s) reach the top of the channel chart"
bars=$(screen s | sed -n '/^ channel absmax |x|/,/^ |0 /p' | sed '1d;$d')
low=$(printf '%s\n' "$bars" | tail -1 | sed 's/ *$//' | wc -m)
[ "$low" -ge 190 ]
ok $? "the channel chart takes the window's width ($low columns)"
hh=$(screen s | sed -n '/^ weights -/,/^  *|/p' | sed '1d;$d' | wc -l)
[ "$hh" -ge 10 ]
ok $? "the histograms take the extra rows ($hh rows)"
more=$(screen s | sed -n '/^ outliers: /,/^ grid of/p' | grep -c '^           ch[0-9]')
[ "$more" -ge 2 ]
ok $? "more outliers on more rows ($more continuation rows)"
T resize-window -t s -x 80 -y 24
wait_for s '^ outliers: [0-9]+ of 1536: ch'"$c1"' ' 30 && fits s 80 24
ok $? "back at 80x24 the detail fits with the same first outlier"
finish
