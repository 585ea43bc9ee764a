#!/bin/sh
# state_bad.sh: quantized states are checked, not trusted: codes off the
# grid, impossible parameters, missing or foreign block files and another
# model's state are refused with one line; quantize runs on one directory
# exclude each other and do not overwrite a finished state without
# --force; an export stopped by SIGTERM, or killed before, leaves no
# temporaries.  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
demo=$top_srcdir/assets/demo

# poke FILE TENSOR OFFSET OCTAL: writes printf-escaped bytes OCTAL at byte
# OFFSET of TENSOR's data in the safetensors FILE.
poke() {
	hlen=$(od -An -tu8 -N8 "$1" | tr -d ' ')
	start=$(head -c $((8 + hlen)) "$1" | tail -c "$hlen" |
	    sed -n "s/.*\"$2\":{[^}]*\"data_offsets\":\[\([0-9]*\),.*/\1/p")
	printf "$4" | dd of="$1" bs=1 seek=$((8 + hlen + start + $3)) \
	    conv=notrunc 2>/dev/null
}
text=$tmp/text.txt
head -c 4000 "$shared/wikitext2-test.txt" >"$text"
ev() {	# ev STATE: evaluates a state on the short text
	"$tq" eval "$1" --text "$text" --ctx 64
}
q=model.layers.1.self_attn.q_proj

# Codes off the grid: fp8 has 253 codes, 0xFF is none of them.
"$tq" quantize --method rtn --scheme fp8 --out "$tmp/fp8" >/dev/null 2>&1
ok $? "an fp8 state"
cp -r "$tmp/fp8" "$tmp/ff"
poke "$tmp/ff/block-0001.safetensors" "$q.codes" 5 '\377'
expect_error "eval of fp8 codes 0xFF" "code 255 at row 0, column 5 is outside" \
    ev "$tmp/ff"
expect_error "export of fp8 codes 0xFF" "outside the grid" \
    "$tq" export "$tmp/ff" --format compressed-tensors --out "$tmp/ff.ct"

# INT parameters: zero point INT_MIN, NaN scale, infinite scale.
"$tq" quantize --method rtn --bits 4 --group 128 --out "$tmp/i4" >/dev/null 2>&1
ok $? "an int4 state"
cp -r "$tmp/i4" "$tmp/zp"
poke "$tmp/zp/block-0001.safetensors" "$q.params" 36 '\000\000\000\200'
expect_error "eval of zero point INT_MIN" "zero point -2147483648, outside 0..15" \
    ev "$tmp/zp"
cp -r "$tmp/i4" "$tmp/nan"
poke "$tmp/nan/block-0001.safetensors" "$q.params" 0 '\000\000\300\177'
expect_error "eval of a NaN scale" "has scale nan" ev "$tmp/nan"
expect_error "export of a NaN scale" "has scale nan" \
    "$tq" export "$tmp/nan" --format gptq --out "$tmp/nan.gptq"
ls "$tmp" | grep -q 'nan.gptq'
ok $((1 - $?)) "the refused export wrote nothing"

# An activation mode of NaN (converting it to int would be undefined).
cp -r "$tmp/i4" "$tmp/act"
poke "$tmp/act/block-0000.safetensors" model.layers.0.act_quant 0 '\000\000\300\177'
expect_error "an activation mode of NaN" "is not a valid activation quantization" \
    ev "$tmp/act"

# state.json claiming more than the directory holds.
cp -r "$tmp/i4" "$tmp/claim"
rm "$tmp/claim/block-0002.safetensors" "$tmp/claim/block-0003.safetensors"
sed -i 's/"blocks_done":\t4/"blocks_done":\t2/' "$tmp/claim/state.json"
grep -q '"blocks_done":.2' "$tmp/claim/state.json"
ok $? "state.json edited to 2 blocks done, complete"
expect_error "complete with 2 of 4 blocks" "says complete with 2 of 4 blocks" \
    ev "$tmp/claim"
cp -r "$tmp/i4" "$tmp/gone"
rm "$tmp/gone/block-0001.safetensors"
expect_error "a missing block file" "block-0001.safetensors: missing" \
    ev "$tmp/gone"
cp -r "$tmp/i4" "$tmp/nohead"
rm "$tmp/nohead/head.safetensors"
expect_error "a missing head file" "head.safetensors: missing" \
    ev "$tmp/nohead"

# A block of another state with the same shapes (int4 codes fit int8).
"$tq" quantize --method rtn --bits 8 --group 128 --out "$tmp/i8" >/dev/null 2>&1
ok $? "an int8 state"
cp "$tmp/i4/block-0001.safetensors" "$tmp/i8/"
expect_error "a block copied from another state" \
    "block-0001.safetensors: belongs to another quantization" ev "$tmp/i8"

# A state without fingerprints (format version 1).
cp -r "$tmp/i4" "$tmp/v1"
sed -i 's/"version":\t2/"version":\t1/' "$tmp/v1/state.json"
expect_error "a version 1 state" "quantize the model again" ev "$tmp/v1"

# Resuming onto another model of the same shapes: one weight differs.
cp -r "$demo" "$tmp/other"
poke "$tmp/other/model.safetensors" "$q.weight" 0 '\001'
cp -r "$tmp/i4" "$tmp/part"
rm "$tmp/part/block-0002.safetensors" "$tmp/part/block-0003.safetensors" \
    "$tmp/part/head.safetensors"
sed -i -e 's/"blocks_done":\t4/"blocks_done":\t2/' \
    -e 's/"complete":\ttrue/"complete":\tfalse/' "$tmp/part/state.json"
expect_error "--resume onto another model" "was made from another model" \
    "$tq" quantize "$tmp/other" --method rtn --bits 4 --group 128 \
    --out "$tmp/part" --resume
grep -q "assets/demo\"" "$tmp/part/state.json"
ok $? "the refused resume left state.json's model path alone"
"$tq" quantize --method rtn --bits 4 --group 128 --out "$tmp/part" \
    --resume >/dev/null 2>&1
ok $? "--resume with the same model finishes the state"
same=0
for f in "$tmp"/i4/*.safetensors; do
	cmp -s "$f" "$tmp/part/$(basename "$f")" || same=1
done
ok $same "the resumed state equals the uninterrupted one"
cp -r "$tmp/i4" "$tmp/moved"
sed -i "s|^\t\"model\":\t\"[^\"]*\"|\t\"model\":\t\"$tmp/other\"|" \
    "$tmp/moved/state.json"
expect_error "eval with the model changed since" "was made from another model" \
    ev "$tmp/moved"

# Overwriting a complete state.
expect_error "quantize onto a complete state" \
    "already holds a complete quantized state (use --force" \
    "$tq" quantize --method rtn --bits 8 --group 128 --out "$tmp/i4"
grep -q '"scheme":.*"int4-g128"' "$tmp/i4/state.json"
ok $? "the refused run left the state alone"
"$tq" quantize --method rtn --bits 8 --group 128 --out "$tmp/i4" --force \
    >/dev/null 2>&1 && ev "$tmp/i4" >/dev/null 2>&1
ok $? "--force replaces it with a state that evaluates"

# Two runs on one directory: the second is refused while the first runs.
calib=$shared/wikitext2-valid.txt
"$tq" --threads 1 quantize --method gptq --bits 4 --group 128 --calib "$calib" \
    --samples 48 --seqlen 256 --out "$tmp/run" >/dev/null 2>&1 &
pid=$!
wait_until test -f "$tmp/run/quantize.lock"
expect_error "a second run while one runs" "another quantize run holds" \
    "$tq" quantize --method rtn --bits 4 --group 128 --out "$tmp/run"
wait $pid
ok $? "the first run finishes undisturbed"
ev "$tmp/run" >/dev/null 2>&1
ok $? "and its state evaluates"

# Export stopped by SIGTERM: the job is cancelled, its temporaries removed.
mkdir -p "$tmp/exp"
"$tq" export "$tmp/i4" --format gguf --type q4_k --out "$tmp/exp/m.gguf" \
    >/dev/null 2>&1 &
pid=$!
has_temp() { ls "$tmp/exp" | grep -q export-; }
wait_until has_temp
kill -TERM $pid 2>/dev/null
wait $pid
rc=$?
if [ -e "$tmp/exp/m.gguf" ]; then
	ok 0 "# SKIP the export finished before SIGTERM"
else
	[ $rc != 0 ] && [ -z "$(ls "$tmp/exp")" ]
	ok $? "SIGTERM during export: exit $rc, nothing left in the directory"
fi

# Temporaries of a dead export are removed by the next one; a live
# process's are kept.
sh -c 'exit 0' &
dead=$!
wait $dead
mkdir -p "$tmp/st"
: >"$tmp/st/x.gguf.export-$dead-AbC123"
: >"$tmp/st/x.gguf.export-$dead-AbC123.tmp-$dead"
mkdir "$tmp/st/x.gguf.old-$dead-XyZ789"
: >"$tmp/st/x.gguf.export-$$-LiVe12"
"$tq" export "$tmp/part" --format gguf --type q8_0 --out "$tmp/st/x.gguf" \
    >/dev/null 2>&1
ok $? "an export beside a dead one's temporaries"
[ "$(ls "$tmp/st" | sort | tr '\n' ' ')" = "x.gguf x.gguf.export-$$-LiVe12 " ]
ok $? "the dead process's temporaries are gone, the live one's kept: $(ls "$tmp/st" | tr '\n' ' ')"
echo "1..$n"
