#!/bin/sh
# tui_workshop.sh: the 60-minute workshop of docs/workbench.md ("A 60-minute
# workshop"), key by key, at 80x24 on the demo model: each step's keys as
# the script gives them (the corpora by their absolute path) and what the
# script says the screen shows then, with no line of a lesson cut at the
# screen's edge.  A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

# shows EREGEX: the screen shows it and no lesson line runs into the last
# two columns, where a line that does not fit is cut (the other screens
# use wait_for: the browser's table takes the whole width)
shows() {
	wait_for w "$1" && screen w | sed -n '2,21p' |
	LC_ALL=C sed 's/\xe2[\x80-\xbf][\x80-\xbf]/#/g' |
	awk 'length($0) > 78 { print "# cut: " $0; bad = 1 } END { exit bad }'
}

start w 80 24 --
# 1. The model
wait_for w ' 30 of 30 layers \| no filter'
ok $? "1. turboquant opens the demo model's 30 layers"
screen w | grep -Eq '^ 0\.attn\.q_proj +256x256 .* rtn +4 +128 .* 4\.16 '
ok $? "1. the plan: RTN int4 g128, 4.16 bits per weight"
keys w '?'
wait_for w 'Layer browser \(1\)'
keys w Escape
wait_gone w 'Layer browser \(1\)' 10
ok $? "1. ? shows every key, Esc closes it"
# 2. The agenda
keys w t
shows 'Lessons: j/k choose, Enter opens'
[ "$(screen w | grep -Ec '^ [ >][0-9] ')" -ge 6 ]
ok $? "2. t: the lesson index"
# 3. One group, step by step
keys w Enter
shows 'Lesson 1/[0-9]+: one group, step by step' &&
	shows '0\.attn\.q_proj row 0, columns 0-31 -> int4' &&
	[ "$(screen w | grep -c '^ x [0-9]*-[0-9]* ')" = 4 ]
ok $? "3. Enter: lesson 1, the 32 weights of row 0 and their number line"
keys w n
shows 'scale = \(max - min\) / 15 = [0-9.]+ +zero = round'
ok $? "3. n: the range, scale, zero point and the grid's levels"
keys w n
shows '^  code '
ok $? "3. n: the codes"
keys w n
shows '^  deq '
ok $? "3. n: back to floats"
keys w n
shows 'rms err [0-9.]+ .*SQNR [0-9.]+ dB, at 4\.62 bits per weight'
ok $? "3. n: the error and the bits per weight of groups of 32"
keys w j
shows 'q_proj row 1, columns 0-31'
keys w k
shows 'q_proj row 0, columns 0-31'
ok $? "3. j and k: another row and back"
# 4. Scale granularity
keys w ']'
shows 'Lesson 2/[0-9]+: per tensor, per channel, per group' &&
	shows 'int4-g32 +one scale per 32 weights'
ok $? "4. ]: one scale per tensor, row, 128 and 32 weights"
# 5. What the scales cost
keys w ']'
shows 'Lesson 3/[0-9]+: what the scales cost, in bytes' &&
	shows '^ int4-g128 +128 columns +512 +20\.0 +1280 +3\.8% +4\.16'
ok $? "5. ]: the scales in bytes (int4-g128: 512 scales of 20 bits, 3.8%)"
keys w n n
shows 'g64 over g128: 2\.0x the bytes of scales for [0-9]+% less weight error'
ok $? "5. n n: over the model, and g64 against g128"
# 6. K-quants
keys w ']'
shows 'Lesson 4/[0-9]+: K-quants: bit widths mixed in a model' &&
	shows '^ 2 +q4_k +q4_k +q6_k +q4_k +q4_k +q4_k +q6_k' &&
	shows '^ lm_head +q6_k' && shows '= 5\.09 bits per weight'
ok $? "6. ]: q4_k_m layer by layer, q6_k on v and down of blocks 2-3 and lm_head"
keys w n
shows 'q6_k over q4_k: \+2\.06 bits per weight for [0-9.]+x less error'
ok $? "6. n: the layer under each K-quant type"
# 7. Microscaling floats
keys w ']'
shows 'Lesson 5/[0-9]+: microscaling floats' && shows '^ int4, a scale and zero per 32'
keys w n
shows '^ mxfp4: fp4 e2m1 values times 2\^k'
keys w n
shows '^ nvfp4: fp4 e2m1 values times an fp8 e4m3 scale per 16'
keys w n
shows 'the least error: [a-z0-9-]+ at [0-9.]+ bits per weight'
ok $? "7. ], n n n: int4's, mxfp4's and nvfp4's grids, then the layer on each"
# 8. A calibration
keys w c C-u
text w "$shared/wikitext2-valid.txt 16 512"
keys w Enter
shows 'calibrated in' && shows 'calibration: wikitext2-valid.txt'
ok $? "8. c: 16 windows of 512 tokens of WikiText-2"
# 9. GPTQ
keys w i
shows 'Lessons: j/k choose'
screen w | grep -A1 'GPTQ against RTN' | grep -Eq '^     try [0-9]\.[a-z]+\.[a-z_]+: '
ok $? "9. i: the index names a layer for GPTQ now"
lay=$(screen w | grep -A1 'GPTQ against RTN' | sed -n 's/^     try \([^:]*\): .*/\1/p')
keys w j Enter
shows 'Lesson 6/[0-9]+: GPTQ against RTN'
keys w g
shows "$lay row 0, columns 0-11, int4 \(one grid\): 0 of 12 rounded"
ok $? "9. j Enter, g: lesson 4 on the layer it names ($lay)"
keys w n n n n n n n n n n n n
shows '12 of 12 rounded' &&
	shows 'output error on 256 calibration tokens: RTN [0-9.]+e-[0-9]+ +GPTQ [0-9.]+e-[0-9]+'
ok $? "9. n x 12: every column rounded, GPTQ's error against RTN's"
# 10. AWQ
keys w ']'
shows 'Lesson 7/[0-9]+: AWQ: scaling the salient channels'
keys w g n n
shows 'RTN [0-9.]+e-[0-9]+; scaled, alpha [0-9.]+: [0-9.]+e-[0-9]+ = [0-9.]+% of RTN'
ok $? "10. ], g, n n: AWQ's scales and what each alpha costs"
# 11. Size against quality
keys w ']'
shows 'Lesson 8/[0-9]+: GPTQ or AWQ, g64 or g128'
keys w g Enter
shows 'running 1/6: rtn int4-g128'
shows 'size lesson done' && shows 'same bytes: (more|less) than g64 buys' &&
	[ "$(screen w | grep -Ec '^ (rtn|gptq|awq) +int4-g(64|128) +[0-9.]+ +[0-9]+ ')" = 6 ]
ok $? "11. ], g, Enter: the layer six ways, the frontier and what each buys"
# 12. Calibration's domain
keys w ']'
shows 'Lesson [0-9]+/[0-9]+: domain mismatch: prose against code'
keys w Enter
wait_for w 'corpora directory: '
keys w C-u
text w "$shared"
keys w Enter
shows 'running [0-9]/6: '
ok $? "12. ], Enter, Enter: the domain lesson's six jobs run"
ask_cancel w n
wait_gone w 'cancel the run\?' 10 && ! screen w | grep -q 'cancelled'
ok $? "12. Ctrl-C asks, n keeps it running"
shows 'domain lesson done' && screen w | grep -Eq '^ prose +[0-9.]+ ' &&
	screen w | grep -Eq '^ code +[0-9.]+ ' &&
	screen w | grep -q 'KLD of the mismatched calibration'
ok $? "12. the table and its conclusion"
# 13. Close
keys w 1
wait_for w ' 30 of 30 layers' && screen w | grep -q 'variants: 0'
ok $? "13. 1: the browser, as the lessons left it (no variant)"
keys w q
restored w && screen w | grep -q 'EXIT=0'
ok $? "13. q quits, nothing to save"

finish
