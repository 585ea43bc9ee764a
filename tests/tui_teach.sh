#!/bin/sh
# tui_teach.sh: the workbench's teaching mode on the demo model, driven in
# tmux: the index, then one group of 32 weights quantized to int4 step by
# step (its numbers are checked in tui_lessons.sh); per tensor vs per
# channel vs per
# group on one row, whose errors must shrink with the group; GPTQ against
# RTN column by column on inputs from a calibration; AWQ's scales of the
# salient channels for a few alphas with the output error of each; domain
# mismatch (calibrate on prose and on code, quantize both ways, evaluate
# each on prose and code: each calibration wins on its own domain, and the
# numbers are the command line's).  A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

start t 80 24 --
wait_for t 'demo \(llama, 4 blocks\)' 60
ok $? "the demo model is open"
keys t t
wait_for t 'Lessons: j/k choose, Enter opens'
keys t Enter
wait_for t 'Lesson 1/[0-9]+: one group, step by step'
ok $? "t opens teaching mode: the index, Enter the first lesson"
wait_for t '0.attn.q_proj row 0, columns 0-31 -> int4'
ok $? "lesson 1 takes the current layer's first group"
# every weight, code and value of it: tests/tui_lessons.sh
keys t n n n n
wait_for t 'rms err [0-9.]+ +max [0-9.]+ +SQNR'
ok $? "n steps to the error"
keys t ']'
wait_for t 'Lesson 2/[0-9]+: per tensor, per channel, per group'
ok $? "] goes to lesson 2"
wait_for t 'int4-g32 +one scale per 32 weights'
e_t=$(screen t | sed -n 's/^ int4-tensor .* \([0-9.]*e[-+][0-9]*\).*/\1/p')
e_c=$(screen t | sed -n 's/^ int4  .* \([0-9.]*e[-+][0-9]*\).*/\1/p')
e_32=$(screen t | sed -n 's/^ int4-g32 .* \([0-9.]*e[-+][0-9]*\).*/\1/p')
[ -n "$e_t" ] && [ -n "$e_c" ] && [ -n "$e_32" ] &&
	awk -v a="$e_t" -v b="$e_32" 'BEGIN { exit !(b + 0 < a + 0) }'
ok $? "per group of 32 ($e_32) beats per tensor ($e_t) on the row (per row: $e_c)"
keys t j
wait_for t 'q_proj row 1: the same 4 bits'
ok $? "j moves to the next row"
# ---- lesson 3: GPTQ against RTN on real inputs ----
keys t ']' ']' ']' ']'
wait_for t 'Lesson 6/[0-9]+: GPTQ against RTN'
wait_for t 'calibrate first'
ok $? "the GPTQ lesson asks for a calibration first"
calib=$shared/wikitext2-valid.txt
answer t c "$calib 16 512"
wait_for t 'calibrated in'
keys t k k k k k k k k
wait_for t 'output error on 256 calibration tokens: RTN [0-9.]+e-[0-9]+ +GPTQ so far 0.000e\+00'
ok $? "before any column is rounded GPTQ's error is 0"
keys t n n n n n n n n n n n n
wait_for t 'q_proj row 0, columns 0-11, int4 \(one grid\): 12 of 12 rounded'
ok $? "n rounds a column a press, up to 12"
rtn=0 gq=0
for row in 0 1 2 3 4 5; do
	wait_for t "q_proj row $row, columns 0-11, .* 12 of 12 rounded" 30 &&
	wait_for t 'RTN [0-9.]+e-[0-9]+ +GPTQ [0-9.]+e-[0-9]+' 30 || break
	line=$(screen t | grep 'output error on')
	rtn=$(echo "$line" | awk -v s="$rtn" '{ for (i = 1; i < NF; i++) if ($i == "RTN") print s + $(i + 1) }')
	gq=$(echo "$line" | awk -v s="$gq" '{ for (i = 1; i < NF; i++) if ($i == "GPTQ") print s + $(i + 1) }')
	keys t j
done
awk -v a="$gq" -v b="$rtn" 'BEGIN { exit !(a > 0 && a < b) }'
ok $? "over rows 0-5 GPTQ's output error ($gq) is below RTN's ($rtn)"
# ---- lesson 4: AWQ's scales of the salient channels ----
keys t ']'
wait_for t 'Lesson 7/[0-9]+: AWQ: scaling the salient channels'
ok $? "] goes to the AWQ lesson"
wait_for t 'q_proj: int4-g128, 256 calibration tokens, step 1/3'
screen t | grep -Eq '^ +ch[0-9]+ +[0-9.]+ +[0-9.]+x +ch[0-9]+'
ok $? "the salient channels, by absmax against the median"
keys t n n
wait_for t 'RTN [0-9.]+e-[0-9]+; scaled, alpha [0-9.]+: [0-9.]+e-[0-9]+'
ok $? "n n: the output error of RTN with and without the scales"
screen t | awk '
	BEGIN { n = 0 }
	/^ +[01]\.[0-9][0-9] +[0-9.]+-[0-9.]+ / {
		split($2, r, "-"); a[n] = $1; s[n] = $3; e[n] = $6; lo[n] = r[1] + 0; n++ }
	/^ RTN / { rtn = $2; sub(";", "", rtn); rtn += 0; best = $6 }
	END {
		if (n != 5 || a[0] != 0 || lo[0] != 1 || s[0] != 1) exit 1
		for (i = 1; i < n; i++) if (s[i] <= s[i - 1]) exit 1
		m = e[0]; for (i = 1; i < n; i++) if (e[i] < m) m = e[i]
		if (rtn != e[0] || best != m || best > rtn) exit 1
	}'
ok $? "alpha 0 is s = 1 (RTN); the top channel's s grows with alpha; the best is no worse than RTN"
# ---- the last lesson: domain mismatch, prose against code ----
keys t '[' '[' '[' '[' '[' '[' '['
wait_for t 'Lesson [0-9]+/[0-9]+: domain mismatch: prose against code'
ok $? "] goes to the domain lesson"
keys t Enter
wait_for t 'corpora directory: '
answer t "" "$shared"
wait_for t 'running [0-9]/6: '
ok $? "Enter runs the lesson's jobs"
lesson_cancelled t domain '[0-9]/6: .*' 'running [0-9]/6'
ok $? "Ctrl-C y stops the lesson: no next step starts"
# Ctrl-C's question left open while the step ends: the next step waits
keys t Enter
wait_for t 'corpora directory: '
keys t Enter
wait_for t 'running 1/6: calibrate on prose'
ask_cancel t &&
	wait_for t '1/6 done: calibrate on prose; the next step waits for y/n' &&
	sleep 2 && ! screen t | grep -q 'running 2/6' &&
	screen t | grep -q 'cancel the run? (y/n)'
ok $? "a step that ends behind Ctrl-C's question starts no next step"
keys t y
wait_for t 'domain lesson cancelled after 1/6: calibrate on prose' &&
	wait_for t ' idle ' && ! screen t | grep -q 'running [0-9]/6'
ok $? "y then stops the lesson after step 1"
keys t Enter
wait_for t 'corpora directory: '
keys t Enter
wait_for t 'running 1/6: calibrate on prose'
keys t C-c
wait_for t '1/6 done: .*waits for y/n'
keys t n
wait_for t 'running 2/6: calibrate on code'
ok $? "n goes on to step 2"
keys t X
wait_for t 'domain lesson cancelled at 2/6' && wait_for t ' idle '
ok $? "X stops it at step 2"
# a plan that is mostly RTN, one layer GPTQ: the lesson takes w4-gptq
keys t 1
wait_for t 'rel.err'
answer t = "gptq int4-g128"
wait_for t '1 layer -> gptq int4-g128'
keys t 5
wait_for t 'Lesson [0-9]+/[0-9]+: domain mismatch'
keys t Enter
wait_for t 'corpora directory: '
keys t Enter
wait_for t 'running [0-9]/6: '
wait_for t 'domain lesson done'
ok $? "the six jobs end"
screen t | grep -Eq 'plan: preset w4-gptq \(only [0-9]+% of the plan uses calibration\)'
ok $? "the plan is mostly RTN: the lesson quantizes with w4-gptq instead"
screen t | grep -Eq '^ fp16 +[0-9]+\.[0-9]{3} +[0-9]+\.[0-9]{3}'
ok $? "the fp model's perplexity on prose and on code"
pr=$(screen t | grep -E '^ prose +[0-9]')
cd_=$(screen t | grep -E '^ code +[0-9]')
echo "# $pr"
echo "# $cd_"
# columns: ppl KLD top1 on prose, then on code
kpp=$(echo "$pr" | awk '{ print $3 }') kpc=$(echo "$pr" | awk '{ print $6 }')
kcp=$(echo "$cd_" | awk '{ print $3 }') kcc=$(echo "$cd_" | awk '{ print $6 }')
awk -v a="$kpp" -v b="$kcp" -v c="$kcc" -v d="$kpc" 'BEGIN {
    exit !(a > 0 && b > 0 && c > 0 && d > 0 && a < b && c < d) }'
ok $? "each calibration gives the lower KLD on its own domain ($kpp < $kcp on prose, $kcc < $kpc on code)"
# the conclusion is the table's: the ratios, and the sentence they give
line=$(screen t | grep 'KLD of the mismatched calibration')
rp=$(echo "$line" | sed -n 's/.*: \([0-9.]*\)x on prose.*/\1/p')
rc=$(echo "$line" | sed -n 's/.*, \([0-9.]*\)x on code.*/\1/p')
awk -v a="$kpp" -v b="$kcp" -v c="$kcc" -v d="$kpc" -v p="$rp" -v q="$rc" 'BEGIN {
    # the KLDs shown have 3 digits: 1% of slack
    exit !(p != "" && q != "" && (b / a) / p < 1.01 && p / (b / a) < 1.01 &&
    (d / c) / q < 1.01 && q / (d / c) < 1.01) }'
ok $? "the ratios ${rp}x and ${rc}x are the table's KLDs' ratios"
if awk -v p="$rp" -v q="$rc" 'BEGIN { exit !(p >= 1.1 && q >= 1.1) }'; then
	screen t | grep -q 'Each calibration wins on its own domain'
else
	screen t | grep -Eq 'Within 10% on both texts|On prose .*; on code|loses on its own domain'
fi
ok $? "the conclusion follows from them"
# the lesson's jobs are its own: no error in the layer table, no variant
keys t 1
wait_for t 'rel.err'
! screen t | grep -Eq '^[ *][0-9]\.(attn|mlp)\.[a-z_]+ .* [0-9]\.[0-9][0-9]e-[0-9][0-9] ' &&
	screen t | grep -q 'variants: 0'
ok $? "the lesson left the layer table's errors and the variants alone"
keys t 5
# the code-calibrated variant on code text, by the command line (the
# lesson's preset as the plan holds it: plain GPTQ, so --method gptq, not
# the command line's calibrated default for the preset)
"$tq" quantize --preset w4-gptq --method gptq --calib "$shared/linux-train.txt" --samples 16 \
	--seqlen 512 --out "$tmp/qc" >/dev/null 2>&1 &&
	"$tq" eval "$tmp/qc" --text "$shared/linux-test.txt" --ctx 256 \
	--max-tokens 4096 --kld --json >"$tmp/qc.json" 2>/dev/null
ck=$(sed -n 's/.*"kld":\([0-9.e+-]*\).*/\1/p' "$tmp/qc.json")
[ -n "$ck" ] && awk -v a="$kcc" -v b="$ck" 'BEGIN {
    exit !(a - b < 0.00001 && b - a < 0.00001) }'
ok $? "the code-calibrated KLD on code ($kcc) is the command line's ($ck)"
keys t q
# the lesson's jobs made no variant: only the plan edit is at stake
wait_for t '^quit the workbench\? \(y/n\) - not saved: plan edits$'
ok $? "q asks for the plan edit alone (the lesson left no variant)"
keys t y
restored t && screen t | grep -q 'EXIT=0'
ok $? "quit restores the terminal (exit status 0)"

finish
