#!/bin/sh
# tui_moe_mix.sh: the workbench's mix screen on a mixture of experts, in
# tmux: the mixtral fixture (given tests/byte_tokenizer.py's tokenizer)
# loads a sensitivity table `plan --frontier` measured with a block's
# experts of one kind grouped; picking a frontier point puts its plan in
# the browser, every expert of a group on the group's setting, and the
# summary's predicted KLD over all 32 block linears (each expert its share
# of its group's) is the point's.  A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

calib=$shared/wikitext2-valid.txt
[ -r "$calib" ] || skip_test "$calib is missing (the corpora in ../shared/data)"
m=$tmp/mixtral
moe_fixture mixtral "$m" || skip_test "$py cannot write the tokenizer"
"$tq" plan "$m" --frontier --calib "$calib" --samples 8 --seqlen 64 \
    --menu "rtn:q4_0,rtn:q5_0,rtn:q8_0,gptq:int3-g32,gptq:int4-g32" \
    --sensitivity "$tmp/sens.json" >/dev/null 2>&1
ok $? "the grouped sensitivity table, measured on the command line"

start w 120 36 -- tui "$m"
wait_for w 'mixtral, 2 blocks' 60
ok $? "the fixture is open"
answer w "6 s" "$tmp/sens.json"
wait_for w '^ [0-9]+ points, 5 settings \| from sens.json'
ok $? "s loads the grouped table"
p=$(screen w | sed -n 's/^ point \([0-9]*\)\/[0-9]*: \([0-9.]*\) bpw  predicted KLD \([0-9.e+-]*\) .*/\1 \2 \3/p')
set -- $p
b1=${2:-} k1=${3:-}
keys w Enter
wait_for w "point ${1:-?}/[0-9]+ \\($b1 bpw\\) loaded"
ok $? "Enter loads point ${1:-?}'s plan ($b1 bpw) into the browser"
# experts start folded: a filter that leaves one linear of each shows it
answer w / '^(0\.e3\.w2|1\.e[0-3]\.w1)$'
wait_for w '^ +1\.e3\.w1 ' 20
screen w | grep -Eq '^ +0\.e3\.w2 +64x64 .* (gptq|rtn) ' &&
	[ "$(screen w | grep -E '^ +1\.e[0-3]\.w1 ' | awk '{print $4, $5, $6}' |
	sort -u | wc -l)" = 1 ]
ok $? "block 1's four experts' gates share one setting"
pk=$(screen w | grep ' quantized |' | sed -n 's/.*| KLD~\([0-9.e+-]*\).*/\1/p' | tail -1)
awk -v a="$pk" -v b="$k1" 'BEGIN { exit !(a > 0 && a / b < 1.01 && b / a < 1.01) }'
ok $? "the summary's predicted KLD $pk (all 32 linears known) is the point's $k1"
keys w 6
wait_for w '^ plan .* KLD~[0-9.e+-]+ += point [0-9]+/' &&
	! screen w | grep -q '^ plan .*KLD>='
ok $? "the mix screen's plan line: every expert counted, the plan is the point ($(screen w | grep '^ plan ' | head -c 90))"
quits w 5
ok $? "quit; the terminal is restored"
echo "1..$n"
