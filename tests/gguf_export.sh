#!/bin/sh
# gguf_export.sh: every GGUF type we export, read by the gguf package
# (gguf-py) and by our own reader, equals the weights our engine
# evaluates (tests/gguf_export.py); then the bad requests: a type the
# state cannot give, an existing output, a full disk, truncated and lying
# GGUF files.  TAP.  The gguf-py part is skipped when the venv lacks gguf
# and numpy, except under runtests.sh (TQ_STRICT=1), where that fails.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
demo=$top_srcdir/assets/demo

# fails CMD...: the command exits 1 with one line on stderr, naming $want.
fails() {
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	[ "$rc" = 1 ] && [ "$lines" = 1 ] && grep -q -- "$want" "$tmp/err"
}
# nothing_left DIR: no temporary or partial file in DIR.
nothing_left() {
	[ -z "$(ls -A "$1")" ]
}

# Bad requests (each: one-line error, exit 1, nothing left behind).
mkdir "$tmp/o"
"$tq" quantize "$demo" --method rtn --scheme int4-g128 --out "$tmp/int4" \
    >/dev/null 2>&1
want="int4-g128, which GGUF has no block type"
fails "$tq" export "$tmp/int4" --format gguf --out "$tmp/o/x.gguf"
ok $? "a state on int4-g128 grids is refused, naming formats that hold it"
nothing_left "$tmp/o"; ok $? "  and nothing is left behind"
"$tq" quantize "$demo" --method rtn --scheme fp8-block128 --out "$tmp/fp8b" \
    >/dev/null 2>&1
want="fp8-block128, which GGUF has no block type for; export this state with a format that holds it (compressed-tensors)"
fails "$tq" export "$tmp/fp8b" --format gguf --out "$tmp/o/x.gguf"
ok $? "a state on fp8-block128 is refused, naming compressed-tensors alone"
want="GGUF has no type \"q9_k\""
fails "$tq" export "$demo" --format gguf --type q9_k --out "$tmp/o/x.gguf"
ok $? "an unknown --type is refused with the list of types"
want="give --type a mix or block type, not f16"
fails "$tq" export "$demo" --format gguf --type f16 --imatrix "$tmp/none" \
    --out "$tmp/o/x.gguf"
ok $? "--imatrix with a float --type is refused"
want="not an importance matrix"
"$tq" export "$demo" --format gguf --type f32 --out "$tmp/f.gguf" >/dev/null 2>&1
fails "$tq" export "$demo" --format gguf --type iq4_xs --imatrix "$tmp/f.gguf" \
    --out "$tmp/o/x.gguf"
ok $? "--imatrix of a file that is no importance matrix is refused"
nothing_left "$tmp/o"; ok $? "  and nothing is left behind"
want="unknown export format"
fails "$tq" export "$demo" --format nope --out "$tmp/o/x.gguf"
ok $? "an unknown --format is refused"
nothing_left "$tmp/o"; ok $? "  and nothing is left behind"
echo old >"$tmp/o/x.gguf"
want="already exists (use --force"
fails "$tq" export "$demo" --format gguf --type q8_0 --out "$tmp/o/x.gguf"
ok $? "an existing output is refused without --force"
[ "$(cat "$tmp/o/x.gguf")" = old ] && [ "$(ls "$tmp/o")" = x.gguf ]
ok $? "  and is left untouched"
"$tq" export "$demo" --format gguf --type q8_0 --out "$tmp/o/x.gguf" --force \
    >/dev/null 2>&1 && [ "$(head -c 4 "$tmp/o/x.gguf")" = GGUF ] &&
    [ "$(ls "$tmp/o")" = x.gguf ]
ok $? "--force replaces it, with nothing else left"
rm -f "$tmp/o/x.gguf"
# A full disk: a 1 MiB file size limit; SIGXFSZ ignored so write() fails.
want="write failed"
(trap '' XFSZ; ulimit -f 1024; fails "$tq" export "$demo" --format gguf \
    --type f32 --out "$tmp/o/x.gguf")
ok $? "a full disk (ulimit -f) gives a write error"
nothing_left "$tmp/o"; ok $? "  and nothing is left behind"

# What llama.cpp's qwen3 and smollm3 graphs cannot compute is refused.
fx=$top_srcdir/tests/data/models
variant() {	# variant NAME FIXTURE SED: the fixture with config.json edited
	mkdir "$tmp/$1"
	for f in "$fx/$2"/*; do ln -s "$f" "$tmp/$1/"; done
	rm "$tmp/$1/config.json"
	sed "$3" "$fx/$2/config.json" >"$tmp/$1/config.json"
}
variant nope smollm3 '/"no_rope_layers"/,/]/c\
  "no_rope_layers": [1, 0, 1, 0],'
want="smollm3 leaves RoPE out of every 4th layer, and this model's layer 1"
fails "$tq" export "$tmp/nope" --format gguf --type f32 --out "$tmp/o/x.gguf"
ok $? "a smollm3 whose NoPE layers are not every 4th is refused"
variant l3 qwen3 's/"rope_scaling": null/"rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 64}/'
want="llama.cpp's qwen3 has no llama3 rope scaling"
fails "$tq" export "$tmp/l3" --format gguf --type f32 --out "$tmp/o/x.gguf"
ok $? "a qwen3 with llama3 rope scaling is refused"
# And what llama.cpp's gemma graphs cannot; a line is NAME|FIXTURE|SED|
# the message|the test.
while IFS='|' read -r name fixture edit msg what; do
	variant "$name" "$fixture" "$edit"
	want=$msg
	fails "$tq" export "$tmp/$name" --format gguf --type f32 \
	    --out "$tmp/o/x.gguf" </dev/null
	ok $? "$what"
done <<'END'
qpas|gemma3|s/"query_pre_attn_scalar": 32/"query_pre_attn_scalar": 24/|llama.cpp's gemma3 scales q by 1/sqrt(32), not by query_pre_attn_scalar 24's|a gemma3 whose query_pre_attn_scalar is not head_dim is refused
dyn|gemma3|s/"rope_type": "linear"/"rope_type": "dynamic"/|llama.cpp's gemma3 has no dynamic rope scaling|a gemma3 with dynamic rope scaling is refused
nocap|gemma2|s/"final_logit_softcapping": 3.0/"final_logit_softcapping": null/|llama.cpp's gemma2 always soft-caps scores and logits|a gemma2 without a final soft-cap is refused
END
nothing_left "$tmp/o"; ok $? "  and nothing is left behind"

# llama.cpp's phi3 reads q, k and v as one attn_qkv: one type for the three.
cat >"$tmp/phiv.json" <<'END'
{"default": {"method": "rtn", "scheme": "q4_0"}, "fallback": true,
 "rules": [{"match": "v_proj$", "scheme": "q8_0"}]}
END
"$tq" quantize "$fx/phi3" --plan "$tmp/phiv.json" --out "$tmp/phiv" \
    >/dev/null 2>&1
want="llama.cpp's phi3 reads q, k and v as one tensor, and block 0's layers are q4_0 and q8_0"
fails "$tq" export "$tmp/phiv" --format gguf --out "$tmp/o/x.gguf"
ok $? "a phi3 state whose q, k and v differ in type is refused"
nothing_left "$tmp/o"; ok $? "  and nothing is left behind"

# A state on other GGUF blocks, asked for another type: RTN with a warning.
"$tq" quantize "$demo" --preset q4_k_m --out "$tmp/q4km" >/dev/null 2>&1
"$tq" export "$tmp/q4km" --format gguf --type q8_0 --out "$tmp/o/r.gguf" \
    --json >"$tmp/out" 2>/dev/null &&
    grep -q '"warning":"[0-9]* layers re-quantized with RTN from the state' \
    "$tmp/out" && grep -q '"type":"q8_0"' "$tmp/out"
ok $? "re-quantizing a state to another type warns what is lost"
rm -f "$tmp/o/r.gguf"

# The reader on truncated and lying files.
"$tq" export "$demo" --format gguf --type q4_0 --out "$tmp/good.gguf" \
    >/dev/null 2>&1
size=$(wc -c <"$tmp/good.gguf")
head -c $((size - 100)) "$tmp/good.gguf" >"$tmp/trunc.gguf"
want="runs past the end of the file"
fails "$tq" info "$tmp/trunc.gguf"
ok $? "a truncated GGUF: one-line error"
head -c 20 "$tmp/good.gguf" >"$tmp/short.gguf"
want="truncated in"
fails "$tq" info "$tmp/short.gguf"
ok $? "a GGUF cut inside its header: one-line error"
# Lying files: patch bytes (little-endian) of a good one.
patch() {	# patch OUT OFFSET OCTAL-BYTES
	cp "$tmp/good.gguf" "$1"
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
patch "$tmp/lie1.gguf" 8 '\000\000\000\000\000\001\000\000'	# 2^40 tensors
patch "$tmp/lie2.gguf" 4 '\007\000\000\000'			# version 7
patch "$tmp/lie3.gguf" 24 '\000\000\000\000\000\000\004\000'	# key of 2^50 bytes
want="cannot fit in"
fails "$tq" info "$tmp/lie1.gguf"
ok $? "a GGUF claiming 2^40 tensors: one-line error"
want="GGUF version 7"
fails "$tq" info "$tmp/lie2.gguf"
ok $? "an unknown GGUF version: one-line error"
want="bytes but only"
fails "$tq" info "$tmp/lie3.gguf"
ok $? "a key length past the end: one-line error"

# The tokenizer rebuilt from the GGUF metadata tokenizes as the original.
shared=${TQ_SHARED_DATA:-$top_srcdir/../shared/data}
same=0
for f in "$shared/wikitext2-test.txt" "$shared/linux-test.txt"; do
	"$tq" tokenize "$demo" --text "$f" --json >"$tmp/t1" 2>&1 &&
	    "$tq" tokenize "$tmp/good.gguf" --text "$f" --json >"$tmp/t2" 2>&1 &&
	    cmp -s "$tmp/t1" "$tmp/t2" || same=1
done
s1=$("$tq" tokenize "$demo" "A <|end_of_text|> B<|begin_of_text|>" 2>&1)
s2=$("$tq" tokenize "$tmp/good.gguf" "A <|end_of_text|> B<|begin_of_text|>" 2>&1)
[ "$s1" = "$s2" ] || same=1
ok $same "the tokenizer rebuilt from GGUF metadata gives the same ids on wikitext2-test, linux-test and special tokens"
"$tq" export "$tmp/good.gguf" --format gguf --type q8_0 --out "$tmp/re.gguf" \
    >/dev/null 2>&1 &&
    [ "$("$tq" tokenize "$tmp/re.gguf" "A <|end_of_text|> B" 2>&1)" = \
    "$("$tq" tokenize "$demo" "A <|end_of_text|> B" 2>&1)" ]
ok $? "a GGUF re-exported to another type keeps its tokenizer"
head -c 40000 "$shared/linux-test.txt" >"$tmp/text"
"$tq" eval "$demo" --text "$tmp/text" --ctx 128 --json >"$tmp/e1" 2>/dev/null
"$tq" export "$demo" --format gguf --type f32 --out "$tmp/f32.gguf" \
    >/dev/null 2>&1
"$tq" eval "$tmp/f32.gguf" --text "$tmp/text" --ctx 128 --json \
    >"$tmp/e2" 2>/dev/null
p1=$(sed 's/.*"ppl":\([0-9.]*\).*/\1/' "$tmp/e1")
p2=$(sed 's/.*"ppl":\([0-9.]*\).*/\1/' "$tmp/e2")
[ -n "$p1" ] && [ "$p1" = "$p2" ]
ok $? "turboquant eval of the F32 GGUF gives the checkpoint's perplexity ($p1, $p2)"

# The weights, against gguf-py.
if ! "$py" -c 'import gguf, numpy' 2>/dev/null; then
	skip_check "$py cannot import gguf and numpy (set TQ_PYTHON)"
	echo "1..$n"
	exit 0
fi
"$py" "$top_srcdir/tests/gguf_export.py" --tq "$tq" \
    --dump "$top_builddir/tests/model_dump" --model "$demo" --start $n \
    --calib "${TQ_SHARED_DATA:-$top_srcdir/../shared/data}/wikitext2-valid.txt" \
    >"$tmp/tap" 2>"$tmp/py.err"
sed '/^1\.\./d' "$tmp/tap"
m=$(grep -c '^\(not \)\{0,1\}ok ' "$tmp/tap")
if [ "$m" = 0 ]; then
	ok 1 "gguf_export.py ran"
	sed 's/^/# /' "$tmp/py.err" | tail -n 20
fi
echo "1..$((n + m))"
