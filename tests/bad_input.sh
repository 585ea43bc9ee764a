#!/bin/sh
# bad_input.sh: the smaller holes of a hostile-input run, each refused with
# one line naming the file and the problem (exit 1): GGUF hyperparameters
# that config.json could not have, GGUF block-index aliases and duplicate
# names, config.json with trailing data, a wrongly typed model_type, fewer
# layers than the checkpoint holds, an absurd rope_theta, a safetensors
# shape written 64.0; quantize --export.  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
edit=$top_builddir/tests/gguf_edit
d=$top_srcdir/tests/data

# ---- GGUF -------------------------------------------------------------
"$tq" export "$d/models/llama" --format gguf --type f32 \
    --out "$tmp/good.gguf" >/dev/null 2>&1
ok $? "the llama fixture exports as an F32 GGUF"
"$edit" "$tmp/good.gguf" "$tmp/same.gguf" &&
    "$tq" info "$tmp/same.gguf" >/dev/null 2>&1
ok $? "gguf_edit without edits writes a file info takes"
"$edit" "$tmp/good.gguf" "$tmp/extra.gguf" \
    --copy output_norm.weight extra.weight &&
    "$tq" info "$tmp/extra.gguf" 2>&1 | grep -qF "tensor extra.weight is not part"
ok $? "gguf_edit --copy appends a tensor the reader takes"

"$edit" "$tmp/good.gguf" "$tmp/hd0.gguf" --del llama.attention.key_length \
    --u32 llama.attention.head_count 128
expect_error "head_dim 0 (64 dimensions, 128 heads, no key_length)" \
    "hd0.gguf: head dimension 0 must be even and in [2, 4096]" \
    "$tq" info "$tmp/hd0.gguf"
expect_error "  and eval refuses it too" "head dimension 0" \
    "$tq" eval "$tmp/hd0.gguf" --text "$top_srcdir/README.md" --ctx 32
"$edit" "$tmp/good.gguf" "$tmp/kvh.gguf" \
    --u32 llama.attention.head_count_kv 3
expect_error "KV heads not dividing the heads, as config.json" \
    "4 attention heads are not a multiple of 3 KV heads" \
    "$tq" info "$tmp/kvh.gguf"

"$edit" "$tmp/good.gguf" "$tmp/alias.gguf" \
    --copy blk.1.attn_q.weight blk.01.attn_q.weight
expect_error "blk.01. beside blk.1." \
    "alias.gguf: tensor blk.01.attn_q.weight: the block index must be plain decimal" \
    "$tq" info "$tmp/alias.gguf"
"$edit" "$tmp/good.gguf" "$tmp/plus.gguf" \
    --copy blk.0.attn_q.weight blk.+0.attn_q.weight
expect_error "blk.+0. beside blk.0." "tensor blk.+0.attn_q.weight: the block" \
    "$tq" info "$tmp/plus.gguf"
"$edit" "$tmp/good.gguf" "$tmp/dup.gguf" \
    --copy blk.0.attn_q.weight blk.0.attn_q.weight
expect_error "a tensor name twice" "blk.0.attn_q.weight" \
    "$tq" info "$tmp/dup.gguf"

# A finite but huge norm: the logits overflow to a NaN perplexity.
"$tq" export "$top_srcdir/assets/demo" --format gguf --type f32 \
    --out "$tmp/demo.gguf" >/dev/null 2>&1 &&
    "$edit" "$tmp/demo.gguf" "$tmp/huge.gguf" --fill output_norm.weight 3e38
ok $? "a demo GGUF with a norm of 3e38"
expect_error "eval of a NaN perplexity is an error" \
    "not a finite number: the model's logits overflow" \
    "$tq" eval "$tmp/huge.gguf" --text "$top_srcdir/README.md" --ctx 64 \
    --max-tokens 512
expect_error "  and so is --kld against the base" "not a finite number" \
    "$tq" eval "$tmp/huge.gguf" --base "$top_srcdir/assets/demo" --kld \
    --text "$top_srcdir/README.md" --ctx 64 --max-tokens 512
expect_error "  and --save-logits" "not a finite number" \
    "$tq" eval "$tmp/huge.gguf" --save-logits "$tmp/lp.bin" \
    --text "$top_srcdir/README.md" --ctx 64 --max-tokens 512
test ! -e "$tmp/lp.bin" && [ -z "$(ls "$tmp" | grep lp.bin)" ]
ok $? "  which leaves no file behind"

# ---- config.json and safetensors --------------------------------------
model() {	# model NAME: a copy of the llama fixture in $tmp/NAME
	cp -r "$d/models/llama" "$tmp/$1"
}
model trail
printf '}x\n' >>"$tmp/trail/config.json"
expect_error "config.json with trailing data" \
    "trail/config.json: trailing data after the JSON value" \
    "$tq" info "$tmp/trail"
model mt
sed -i 's/"model_type": "llama"/"model_type": 5/' "$tmp/mt/config.json"
expect_error "\"model_type\": 5 beside architectures" \
    "mt/config.json: \"model_type\" must be a string" "$tq" info "$tmp/mt"
model layers
sed -i 's/"num_hidden_layers": 2/"num_hidden_layers": 1/' \
    "$tmp/layers/config.json"
expect_error "num_hidden_layers 1, tensors of layer 1 present" \
    "is past the last layer (num_hidden_layers is 1)" "$tq" info "$tmp/layers"
# The demo (it has a tokenizer), where this evaluated to "perplexity -nan".
mkdir "$tmp/theta"
for f in "$top_srcdir"/assets/demo/*; do ln -s "$f" "$tmp/theta/"; done
rm "$tmp/theta/config.json"
sed 's/"rope_theta": 10000.0/"rope_theta": 1e-300/' \
    "$top_srcdir/assets/demo/config.json" >"$tmp/theta/config.json"
expect_error "rope_theta 1e-300" \
    "theta/config.json: rope theta 1e-300 must be a finite number >= 1" \
    "$tq" eval "$tmp/theta" --text "$top_srcdir/README.md" --ctx 64 \
    --max-tokens 512
model shape
# Same header length: 64.0 for 64, "" for "pt".
sed -i 's/"format":"pt"/"format":""/; s/"shape":\[320,64\]/"shape":[320,64.0]/' \
    "$tmp/shape/model.safetensors"
expect_error "a safetensors shape of 64.0" \
    "header number \"64.0\" at byte" "$tq" info "$tmp/shape"

# ---- quantize --export ------------------------------------------------
demo=$top_srcdir/assets/demo
q="$tq quantize $demo --method rtn --scheme q4_k"
$q --out "$tmp/st" --export "gguf:$tmp/q.gguf" >"$tmp/out" 2>&1
ok $? "quantize --export gguf:PATH"
grep -q "quantized state saved" "$tmp/out" &&
    grep -q "format      gguf (f16+q4_K)" "$tmp/out" &&
    grep -qF "wrote       $tmp/q.gguf" "$tmp/out"
ok $? "  reports the state and the export as export does"
"$tq" info "$tmp/q.gguf" >/dev/null 2>&1
ok $? "  and the GGUF opens"
$q --out "$tmp/st2" --export "gguf:$tmp/q.gguf" --export-type q8_0 \
    --force >"$tmp/out" 2>&1 && grep -q "format      gguf (q8_0)" "$tmp/out"
ok $? "  --export-type q8_0 --force replaces it with a Q8_0 file"
$q --out "$tmp/st4" --export "gguf:$tmp/j.gguf" --json >"$tmp/out" 2>&1 &&
    [ "$(grep -c '^{' "$tmp/out")" = 1 ] &&
    grep -q '^{"model":.*"layers":\[.*\],"export":{"format":"gguf"' \
    "$tmp/out" && [ "$(tail -n 1 "$tmp/out")" = "}" ]
ok $? "  with --json the export's report is a member of the one JSON object"
expect_error "--export-type without --export" \
    "quantize: --export-type without --export" \
    $q --out "$tmp/st3" --export-type q8_0
expect_error "--export with an unknown format" \
    "quantize: --export: unknown format \"ggml\" (see turboquant help export)" \
    $q --out "$tmp/st3" --export "ggml:$tmp/x.gguf"
test ! -e "$tmp/st3"
ok $? "  refused before quantizing: no state directory"
expect_error "--export without FORMAT:" "is not FORMAT:PATH" \
    $q --out "$tmp/st3" --export "$tmp/x.gguf"
expect_error "--export onto an existing file" "already exists (use --force" \
    $q --out "$tmp/st3" --export "gguf:$tmp/q.gguf"

echo "1..$n"
