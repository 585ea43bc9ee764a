#!/bin/sh
# tui_moe.sh: the workbench on a mixture of experts, driven in tmux: the
# mixtral fixture (given tests/byte_tokenizer.py's tokenizer) lists each
# expert's linears by block and expert (0.e3.w2), calibrates, quantizes
# under w4-gptq per expert, and an expert's detail says how many tokens
# the router sent it and, for one short of its width, that it used all
# of them.  A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

calib=$shared/wikitext2-valid.txt
[ -r "$calib" ] || skip_test "$calib is missing (the corpora in ../shared/data)"
m=$tmp/mixtral
mkdir -p "$m"
for f in config.json model.safetensors; do
	ln -s "$top_srcdir/tests/data/models/mixtral/$f" "$m/$f"
done
"$py" "$top_srcdir/tests/byte_tokenizer.py" "$m/tokenizer.json" ||
    skip_test "$py cannot write the tokenizer"
# The same run on the command line says which experts fell short (the
# workbench's preset is plain GPTQ: --method gptq, not the command line's
# calibrated default, whose AWQ scales change what the router sees).
"$tq" quantize "$m" --preset w4-gptq --method gptq --calib "$calib" --samples 4 \
    --seqlen 32 --out "$tmp/st" >"$tmp/cli.txt" 2>/dev/null
# (block 0's lines: the preset's g128 falls back to g64 on 64 columns)
short=$(grep '^model\.layers\.0\..*experts\.[0-9]\.w2 .*calibrated on all' \
    "$tmp/cli.txt" | head -n 1 | sed 's/.*\(experts\.[0-9]\)\.w2 .*/\1/')
enough=$(grep '^model\.layers\.0\..*experts\.[0-9]\.w2 .* routed [0-9]*  ' \
    "$tmp/cli.txt" | head -n 1 |
    sed 's/.*\(experts\.[0-9]\.w2\) .* routed \([0-9]*\)  .*/\1 \2/')
[ -n "$short" ] && [ -n "$enough" ]
ok $? "the command line's run: $short short, ${enough% *} routed ${enough#* }"
# The command line's calibrated default for the preset scales the
# attention by AWQ and leaves the experts unscaled, and says so.
"$tq" quantize "$m" --preset w4-gptq --calib "$calib" --samples 4 \
    --seqlen 32 --out "$tmp/st2" >/dev/null 2>"$tmp/st2.err" &&
    grep -q "^awq_scales: the 24 expert linears take no AWQ scales" \
    "$tmp/st2.err" && grep -q "^model.layers.0.q/k/v_proj: AWQ scales alpha" \
    "$tmp/st2.err"
ok $? "the preset's default on a mixture of experts: AWQ's scales on attention only"

start w 120 30 -- tui "$m"
wait_for w 'mixtral, 2 blocks' 60
ok $? "the fixture is open"
# each expert folded into one row; Enter opens it, f folds it again
screen w | grep -Eq '^ . 0\.e0 +3 layers +12k' &&
    screen w | grep -Eq '^ . 1\.e3 +3 layers +12k'
ok $? "experts folded by default, one row each"
keys w / C-u ; text w '0\.e3'; keys w Enter Enter
wait_for w '^ 0\.e3\.w2 +64x64' 20 &&
    ! screen w | grep -Eq '^ 0\.e0\.w1'
ok $? "Enter opens an expert: its linears by block and expert (0.e3.w2)"
keys w f Escape
wait_for w '^ . 0\.e3 +3 layers' 20
ok $? "f folds it again"
keys w p ; text w 'w4-gptq'; keys w Enter
wait_for w 'plan: preset w4-gptq'
answer w c "$calib 4 32"
wait_for w 'calibrated in'
ok $? "calibrated on 4 windows of 32"
keys w r
wait_for w 'quantized in'
ok $? "quantized per expert"
answer w / "^model\\.layers\\.0\\..*${short}\\.w2\$"
wait_for w 'filter /'
keys w Enter
wait_for w 'routed [0-9]+ \(used all\) err [0-9.e+-]+'
ok $? "the short expert's detail: routed, used all"
keys w Escape Escape
answer w / "^model\\.layers\\.0\\..*${enough% *}\$"
wait_for w 'filter /'
keys w Enter
wait_for w "routed ${enough#* } err [0-9.e+-]+"
ok $? "an expert with enough tokens: routed ${enough#* }, its own"
keys w Escape Escape q
wait_for w '^quit the workbench\? \(y/n\) - not saved: .*1 variant$'
keys w y
restored w
ok $? "quit (it asks: the variant is not saved)"
finish
