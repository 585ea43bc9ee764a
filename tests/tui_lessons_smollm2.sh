#!/bin/sh
# tui_lessons_smollm2.sh: the teaching lessons on a real model, SmolLM2 135M
# Instruct as a Q4_1 GGUF ($TQ_SMOLLM2_GGUF; 30 blocks of width 576, which no
# group of 128 and no K-quant block divides), at 80x24: the index names a
# layer for each lesson; lesson 1 shows all 32 weights; the scales' lesson
# says which groups do not fit 576 columns; the K-quant lesson's average is
# turboquant plan's; the microscaling lesson, and after a short calibration
# GPTQ's and AWQ's lessons on the layers the index names, run and fit the
# screen.  A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

gguf=${TQ_SMOLLM2_GGUF:-}
[ -n "$gguf" ] && [ -r "$gguf" ] ||
	skip_test "no SmolLM2 GGUF (\$TQ_SMOLLM2_GGUF, which" \
	    "tools/install-smollm2.sh fetches)"
[ -r "$shared/wikitext2-valid.txt" ] ||
	skip_test "no wikitext2 corpora in $shared"

# uncut: no lesson line reaches the last two columns (where a line is cut)
uncut() {
	screen s | sed -n '2,21p' | LC_ALL=C sed 's/\xe2[\x80-\xbf][\x80-\xbf]/#/g' |
	awk 'length($0) > 78 { print "# cut: " $0; bad = 1 } END { exit bad }'
}

start s 80 24 -- tui "$gguf"
wait_for s 'SmolLM2.*\(llama, 30 blocks\)' 120
ok $? "the workbench opens SmolLM2"
keys s t
wait_for s 'Lessons: j/k choose' 120 &&
	[ "$(screen s | grep -Ec '^     try [0-9]+\.[a-z]+\.[a-z_]+: ')" -ge 5 ]
ok $? "the index names a layer for each lesson on the weights"
uncut
ok $? "the index fits 80x24"
keys s Enter g
wait_for s 'Lesson 1/[0-9]+: one group' && wait_for s 'row 0, columns 0-31 -> int4'
[ "$(screen s | awk '$1 == "x" && $2 ~ /-/ { n += NF - 2 } END { print n + 0 }')" = 32 ]
ok $? "lesson 1 on its layer: all 32 weights"
uncut
ok $? "lesson 1 fits 80x24"
keys s ']' ']' g
wait_for s 'Lesson 3/[0-9]+: what the scales cost' &&
	wait_for s '^ 0\.attn\.q_proj \[576 x 576\] at 4 bits'
wait_for s '^ int4-g128 +does not fit 576 columns' &&
	wait_for s '^ int4-g64 +64 columns '
ok $? "the scales' lesson on its layer: g128 does not fit 576 columns, g64 does"
keys s ']'
wait_for s 'Lesson 4/[0-9]+: K-quants' &&
	wait_for s '= [0-9.]+ bits per weight over the quantized layers'
"$tq" plan "$gguf" --preset q4_k_m >"$tmp/plan.txt" 2>&1
avg=$(sed -n 's/.*, \([0-9.]*\) bits per weight on average.*/\1/p' "$tmp/plan.txt")
shown=$(screen s | sed -n 's/^ = \([0-9.]*\) bits per weight over.*/\1/p')
awk -v a="$avg" -v b="$shown" 'BEGIN { exit !(a > 0 && a - b < 0.006 && b - a < 0.006) }'
ok $? "q4_k_m's average, $shown bits per weight, is turboquant plan's ($avg)"
uncut
ok $? "the K-quant lesson fits 80x24"
keys s ']' n n n
wait_for s 'the least error: [a-z0-9-]+ at [0-9.]+ bits per weight'
ok $? "the microscaling lesson ends on the layer's error on each grid"
uncut
ok $? "it fits 80x24"
keys s c C-u
text s "$shared/wikitext2-valid.txt 4 256"
keys s Enter
wait_for s 'calibrated in' 300
keys s ']' g
wait_for s 'Lesson 6/[0-9]+: GPTQ against RTN' &&
	wait_for s 'row 0, columns 0-11, int4 \(one grid\): 0 of 12 rounded' 300
keys s n n n n n n n n n n n n
wait_for s '12 of 12 rounded' &&
	wait_for s 'output error on 256 calibration tokens: RTN [0-9.]+e-[0-9]+ +GPTQ [0-9.]+e-[0-9]+'
ok $? "GPTQ's lesson runs on the layer the index names"
uncut
ok $? "it fits 80x24"
keys s ']' g n n
wait_for s 'Lesson 7/[0-9]+: AWQ' &&
	wait_for s 'RTN [0-9.]+e-[0-9]+; scaled, alpha [0-9.]+' 300
ok $? "AWQ's lesson runs on the layer the index names"
uncut
ok $? "it fits 80x24"
keys s q
restored s
ok $? "q quits"

finish
