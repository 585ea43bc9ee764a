#!/bin/sh
# quantize.sh: `turboquant quantize` end to end: a run killed with SIGKILL
# and resumed gives files identical to an uninterrupted run; the state
# evaluates; bad plans and calibration input get one-line errors.  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"


calib=$shared/wikitext2-valid.txt
args="--method gptq --bits 4 --group 128 --calib $calib --samples 48 --seqlen 256"

"$tq" --threads 1 quantize $args --out "$tmp/a" >/dev/null 2>"$tmp/err"
ok $? "an uninterrupted run"

# Kill a second run as soon as its first block is recorded, then resume it.
"$tq" --threads 1 quantize $args --out "$tmp/b" >/dev/null 2>&1 &
pid=$!
wait_until test -f "$tmp/b/state.json"
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -f "$tmp/b/head.safetensors" ]; then
	ok 1 "the run was killed before it finished (it was too fast)"
else
	ok 0 "killed after $(ls "$tmp/b" | grep -c '^block') saved block(s)"
fi
expect_error "evaluating an unfinished state" "--resume" \
    "$tq" eval "$tmp/b" --text "$calib"
"$tq" --threads 1 quantize $args --out "$tmp/b" --resume >/dev/null 2>&1
ok $? "the resumed run finishes"
ls "$tmp/b" | grep -q tmp-
ok $((1 - $?)) "no temporary file of the killed run is left"
same=0
for f in "$tmp"/a/*.safetensors; do
	cmp -s "$f" "$tmp/b/$(basename "$f")" || same=1
done
ok $same "resumed and uninterrupted runs wrote identical tensors"
expect_error "resuming with another plan" "another plan" \
    "$tq" quantize --method rtn --bits 4 --group 128 --calib "$calib" \
    --samples 48 --seqlen 256 --out "$tmp/b" --resume
expect_error "resuming with other samples" "other calibration samples" \
    "$tq" quantize $args --seed 9 --out "$tmp/b" --resume

head -c 40000 "$shared/wikitext2-test.txt" >"$tmp/test.txt"
"$tq" eval "$tmp/a" --text "$tmp/test.txt" --ctx 256 --json >"$tmp/q.json"
ok $? "eval of the quantized state"
"$tq" eval --text "$tmp/test.txt" --ctx 256 --json >"$tmp/f.json"
qp=$(sed 's/.*"ppl":\([0-9.]*\).*/\1/' "$tmp/q.json")
fp=$(sed 's/.*"ppl":\([0-9.]*\).*/\1/' "$tmp/f.json")
awk -v q="$qp" -v f="$fp" 'BEGIN { exit !(q > f && q < 1.2 * f) }'
ok $? "W4 g128 GPTQ perplexity $qp is a little above fp16's $fp"

"$tq" quantize --preset w8-rtn --out "$tmp/w8" --json >"$tmp/w8.json"
ok $? "RTN needs no calibration"
grep -q '"layers":\[{"name":"model.layers.0.self_attn.q_proj"' "$tmp/w8.json"
ok $? "--json reports every layer"

: >"$tmp/empty.txt"
expect_error "GPTQ without calibration" "needs calibration" \
    "$tq" quantize --method gptq --bits 4 --group 128 --out "$tmp/x"
expect_error "empty calibration file" "empty text file" \
    "$tq" quantize $args --calib "$tmp/empty.txt" --out "$tmp/x"
printf 'a few words' >"$tmp/short.txt"
expect_error "calibration shorter than a sample" "shorter than one sample" \
    "$tq" quantize --method gptq --bits 4 --group 128 --calib "$tmp/short.txt" \
    --out "$tmp/x"
expect_error "bits a grid cannot hold" "--bits" \
    "$tq" quantize --method rtn --bits 9 --out "$tmp/x"
expect_error "a group size no grid has" "is not 32, 64, 128 or 256" \
    "$tq" quantize --method rtn --bits 4 --group 96 --out "$tmp/x"
expect_error "a group size that does not divide a layer" "does not divide" \
    "$tq" quantize "$top_srcdir/tests/data/models/llama_linear" --method rtn \
    --bits 4 --group 64 --out "$tmp/x"
printf '{"rules": [{"match": "(", "scheme": "int4"}]}' >"$tmp/bad.json"
expect_error "a plan regex that does not compile" "regex" \
    "$tq" quantize --plan "$tmp/bad.json" --out "$tmp/x"
# Method options on top of a preset: one more rule over the block linears,
# the same state as a plan that says so; the grids stay the preset's.
c8="--calib $calib --samples 8 --seqlen 128"
"$tq" quantize --preset q8_0 --method rtn $c8 --out "$tmp/p_rtn" >/dev/null 2>&1
"$tq" quantize --preset q8_0 --method rtn --imatrix $c8 --out "$tmp/p_im" >/dev/null 2>&1
ok $? "--preset q8_0 --method rtn --imatrix"
printf '{"preset": "q8_0", "rules": [{"match": "^model\\\\.layers\\\\.", "method": "rtn", "imatrix": true}]}' \
    >"$tmp/p_im.json"
"$tq" quantize --plan "$tmp/p_im.json" $c8 --out "$tmp/p_imp" >/dev/null 2>&1
differ=0 same=0
for f in "$tmp"/p_im/block*.safetensors; do
	cmp -s "$f" "$tmp/p_rtn/$(basename "$f")" || differ=1
	cmp -s "$f" "$tmp/p_imp/$(basename "$f")" || same=1
done
ok $((1 - differ)) "  its blocks differ from plain RTN's (the imatrix is used)"
ok $same "  and equal those of the plan with an rtn + imatrix rule"
"$tq" quantize --preset q8_0 --method gptq $c8 --out "$tmp/p_gptq" --json \
    >"$tmp/p_gptq.json" 2>"$tmp/p_gptq.err"
grep -q '"method":"gptq","scheme":"q8_0"' "$tmp/p_gptq.json"
ok $? "--preset q8_0 --method gptq: GPTQ onto the preset's q8_0 blocks"
# An RTN-class plan takes one pass of the float model (the log says so; no
# rel.err), GPTQ the block-by-block pipeline, and so does --sequential.
"$tq" quantize --preset q4_k_m --method rtn --imatrix $c8 --out "$tmp/k1" >"$tmp/k1.out" \
    2>"$tmp/k1.err"
grep -q "^one pass: every layer is RTN-class" "$tmp/k1.err" &&
    ! grep -q "rel.err" "$tmp/k1.out"
ok $? "--preset q4_k_m --method rtn --imatrix: one pass of the float model, no rel.err"
! grep -q "^one pass" "$tmp/p_gptq.err" &&
    grep -q '"rel_err":[0-9]' "$tmp/p_gptq.json"
ok $? "  --method gptq stays block by block, with rel_err"
"$tq" quantize --preset q4_k_m --method rtn --imatrix --sequential $c8 --out "$tmp/k2" \
    >"$tmp/k2.out" 2>"$tmp/k2.err"
! grep -q "^one pass" "$tmp/k2.err" && grep -q "rel.err" "$tmp/k2.out"
ok $? "  --sequential: block by block, with rel.err"
# A one-pass state stopped after two blocks resumes to the same files: the
# float blocks before remake the next one's input.
mkdir "$tmp/k3"
cp "$tmp/k1/state.json" "$tmp/k1/block-0000.safetensors" \
    "$tmp/k1/block-0001.safetensors" "$tmp/k3/"
sed -i 's/"blocks_done":[^0-9]*[0-9]*/"blocks_done":\t2/; s/"complete":[^,]*/"complete":\tfalse/' \
    "$tmp/k3/state.json"
"$tq" quantize --preset q4_k_m --method rtn --imatrix $c8 --out "$tmp/k3" --resume \
    >/dev/null 2>"$tmp/k3.err"
rc=$?
for f in "$tmp"/k1/*.safetensors; do
	cmp -s "$f" "$tmp/k3/$(basename "$f")" || rc=1
done
ok $rc "  resumed after 2 blocks: the same files $(grep -v "^block\|^time\|^one pass" "$tmp/k3.err" | head -c 200)"
# With calibration text and no --method, the K-quant presets take the
# importance matrix on their block linears and the method that measured
# best: GPTQ with the Hessian shrunk 0.3 and the clip search (the same
# state as --method gptq --imatrix --hess-shrink 0.3 --clip-search; not
# k1's RTN, not plain GPTQ); the log says so.
"$tq" quantize --preset q4_k_m $c8 --out "$tmp/dflt" --json \
    >"$tmp/dflt.json" 2>"$tmp/dflt.err" &&
    "$tq" quantize --preset q4_k_m --method gptq --imatrix --hess-shrink 0.3 \
    --clip-search $c8 --out "$tmp/dflt2" >/dev/null 2>&1
rc=$?
for f in "$tmp"/dflt/*.safetensors; do
	cmp -s "$f" "$tmp/dflt2/$(basename "$f")" || rc=1
done
grep -q "^preset q4_k_m with calibration text: gptq + importance matrix + Hessian shrink 0.3 + clip search on the block linears (measured best); --method overrides$" \
    "$tmp/dflt.err" && grep -q '"name":"model.layers.0.mlp.down_proj","method":"gptq"' \
    "$tmp/dflt.json" || rc=1
ok $rc "--preset q4_k_m with --calib: GPTQ + imatrix + shrink 0.3 + clip search by default"
cmp -s "$tmp/dflt/block-0000.safetensors" "$tmp/k1/block-0000.safetensors"
ok $((1 - $?)) "  not the RTN + imatrix blocks of --method rtn"
"$tq" quantize --preset q4_k_m --method gptq --imatrix $c8 \
    --out "$tmp/dflt3" >/dev/null 2>&1 &&
    ! cmp -s "$tmp/dflt/block-0000.safetensors" "$tmp/dflt3/block-0000.safetensors"
ok $? "  nor plain GPTQ's (--hess-shrink 0)"
"$tq" quantize --preset q4_k_m --method gptq --imatrix --hess-shrink 0.3 $c8 \
    --out "$tmp/dflt4" >/dev/null 2>&1 &&
    ! cmp -s "$tmp/dflt/block-0000.safetensors" "$tmp/dflt4/block-0000.safetensors"
ok $? "  nor those without the clip search"
"$tq" quantize --preset q2_k $c8 --out "$tmp/dq2" >/dev/null 2>"$tmp/dq2.err" &&
    "$tq" quantize --preset q2_k --method gptq --imatrix --hess-shrink 0.3 \
    --clip-search $c8 --out "$tmp/dq2b" >/dev/null 2>&1 && ! grep -q "^one pass" "$tmp/dq2.err"
rc=$?
for f in "$tmp"/dq2/*.safetensors; do
	cmp -s "$f" "$tmp/dq2b/$(basename "$f")" || rc=1
done
ok $rc "--preset q2_k with --calib: the same, block by block"
# The integer GPTQ presets take AWQ's input scales before that GPTQ.
"$tq" quantize --preset w4-gptq $c8 --out "$tmp/dw4" >/dev/null \
    2>"$tmp/dw4.err" &&
    "$tq" quantize --preset w4-gptq --method gptq --awq-scales --imatrix \
    --hess-shrink 0.3 --clip-search $c8 --out "$tmp/dw4b" >/dev/null 2>&1 &&
    "$tq" quantize --preset w4-gptq --method gptq --imatrix \
    --hess-shrink 0.3 --clip-search $c8 --out "$tmp/dw4c" >/dev/null 2>&1
rc=$?
for f in "$tmp"/dw4/*.safetensors; do
	cmp -s "$f" "$tmp/dw4b/$(basename "$f")" || rc=1
done
grep -q "^preset w4-gptq with calibration text: AWQ's scales, then gptq + importance matrix + Hessian shrink 0.3 + clip search on the block linears (measured best); --method overrides$" \
    "$tmp/dw4.err" || rc=1
cmp -s "$tmp/dw4/block-0000.safetensors" "$tmp/dw4c/block-0000.safetensors" && rc=1
ok $rc "--preset w4-gptq with --calib: AWQ's scales, then GPTQ + imatrix + shrink 0.3 + clip search (not without the scales)"
# The scales are folded into the norms: the state's input norm differs
# from the model's, and the quantized model still computes what it did.
"$tq" eval "$tmp/dw4" --text "$calib" --max-tokens 512 --json \
    >"$tmp/dw4.eval" 2>&1 && "$tq" eval "$tmp/dw4c" --text "$calib" \
    --max-tokens 512 --json >"$tmp/dw4c.eval" 2>&1
rc=$?
p1=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['ppl'])" "$tmp/dw4.eval" 2>/dev/null)
p2=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['ppl'])" "$tmp/dw4c.eval" 2>/dev/null)
python3 -c "import sys,math; a,b=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if math.isfinite(a) and a < 1.5*b else 1)" "$p1" "$p2" 2>/dev/null || rc=1
ok $rc "  evaluates (perplexity $p1 with the scales, $p2 without)"
"$tq" plan --preset w4-gptq --calib "$calib" >"$tmp/plw4" 2>&1 &&
    grep -q "^model.layers.0.mlp.down_proj .* gptq .* awq-scales clip imatrix shrink=0.3; calibration text: AWQ scales + GPTQ + imatrix + shrink 0.3 + clip search measured best$" \
    "$tmp/plw4"
ok $? "plan --preset w4-gptq --calib says so"
expect_error "awq_scales without calibration text" \
    "model.layers.0.self_attn.q_proj: AWQ's scales (awq_scales) need calibration text" \
    "$tq" quantize --method rtn --awq-scales --scheme int4-g64 --out "$tmp/x"
"$tq" plan --preset q4_k_m --calib "$calib" >"$tmp/pl1" 2>&1 &&
    grep -q "^model.layers.0.mlp.down_proj .* gptq .* clip imatrix shrink=0.3; calibration text: GPTQ + imatrix + shrink 0.3 + clip search measured best$" \
    "$tmp/pl1" && "$tq" plan --preset q3_k_m --calib "$calib" >"$tmp/pl3" 2>&1 &&
    grep -q "^model.layers.0.mlp.down_proj .* gptq .* clip imatrix shrink=0.3; calibration text: GPTQ + imatrix + shrink 0.3 + clip search measured best$" \
    "$tmp/pl3" && "$tq" plan --preset q4_k_m >"$tmp/pl2" 2>&1 &&
    grep -q "^model.layers.0.mlp.down_proj .* rtn .*  no calibration text: RTN (--calib for the measured default)$" \
    "$tmp/pl2" && grep -q "^lm_head .* rtn .* the preset$" "$tmp/pl1"
ok $? "plan --preset says each layer's method and why, with and without --calib"
expect_error "--hess-shrink out of range" \
    'quantize: --hess-shrink: "1.5" is not a number in [0, 1]' \
    "$tq" quantize --preset q4_k_m --hess-shrink 1.5 --out "$tmp/x"
expect_error "plan --hess-shrink not a number" \
    'plan: --hess-shrink: "nan" is not a number in [0, 1]' \
    "$tq" plan --method gptq --scheme int4 --hess-shrink nan
expect_error "a grid option with a preset" "the preset gives the grids" \
    "$tq" quantize --preset q4_k_m --bits 3 --out "$tmp/x"
expect_error "--plan and --preset together" "not both" \
    "$tq" quantize --preset q4_k_m --plan "$tmp/p_im.json" --out "$tmp/x"

printf '{"rules": [{"match": "nothing_like_this", "scheme": "int4"}]}' \
    >"$tmp/none.json"
expect_error "a plan rule that names no layer" "matches no layer" \
    "$tq" quantize --plan "$tmp/none.json" --out "$tmp/x"

# IQ3_XXS needs the importance matrix, as llama-quantize: the iq3_xs preset
# (attn_q/k and most of ffn_gate/up on it) is refused without, and takes
# it from --imatrix with the calibration text.
expect_error "preset iq3_xs without the importance matrix" \
    "llama-quantize quantizes iq3_xxs only with an importance matrix" \
    "$tq" quantize --preset iq3_xs --out "$tmp/x"
"$tq" quantize --preset iq3_xs --imatrix --calib "$calib" --samples 4 \
    --seqlen 128 --out "$tmp/iq3" >"$tmp/out" 2>"$tmp/err" &&
    grep -q "^model.layers.1.self_attn.q_proj  *rtn  *iq3_xxs " "$tmp/out"
ok $? "preset iq3_xs with --imatrix: attn_q on iq3_xxs $(head -c 200 "$tmp/err")"
echo "1..$n"
