#!/bin/sh
# smollm2_tokenizer.sh: a real GGUF's tokenizer, rebuilt from its metadata
# (SmolLM2 135M Instruct, tokenizer.ggml.pre "smollm";
# tools/install-smollm2.sh, found through $TQ_SMOLLM2_GGUF): `turboquant
# info` reports it, and with TQ_INTEROP=1 its ids are llama.cpp's on
# slices of every corpus and on hard strings, and so they are with the
# file's pre-tokenizer name changed to one of each of llama.cpp's kinds
# (tests/smollm2_tokenizer.py).
# The same file with a pre-tokenizer that cannot be rebuilt: info and
# tokenize give the reason, naming it.  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
edit=$top_builddir/tests/gguf_edit
gguf=${TQ_SMOLLM2_GGUF:-}

[ -n "$gguf" ] && [ -f "$gguf" ] ||
    skip_test "no SmolLM2 GGUF (\$TQ_SMOLLM2_GGUF, which" \
    "tools/install-smollm2.sh prints)"

"$tq" info "$gguf" >"$tmp/info" 2>&1
grep -q "^vocabulary .*tokenizer with 49152 ids$" "$tmp/info"
ok $? "info: the tokenizer rebuilt from the metadata ($(grep '^vocabulary' \
"$tmp/info"))"

# Pre-tokenizers that cannot be rebuilt: the reason reaches the user.
for pre in kimi-k2 no-such-pre; do
	"$edit" "$gguf" "$tmp/bad.gguf" --str tokenizer.ggml.pre "$pre"
	want="pre-tokenizer \"$pre\" cannot be rebuilt: "
	"$tq" info "$tmp/bad.gguf" >"$tmp/info" 2>&1
	grep "^vocabulary " "$tmp/info" |
	    grep -qF "tokenizer: $tmp/bad.gguf: $want"
	ok $? "info on pre \"$pre\": $(grep '^vocabulary' "$tmp/info")"
	"$tq" info "$tmp/bad.gguf" --json >"$tmp/json" 2>&1
	grep -qF "\"tokenizer\":null,\"tokenizer_error\":\"$tmp/bad.gguf: \
pre-tokenizer \\\"$pre\\\" cannot be rebuilt: " "$tmp/json"
	ok $? "info --json on pre \"$pre\": tokenizer_error"
	expect_error "tokenize on pre \"$pre\" gives the reason" "$want" \
	    "$tq" tokenize "$tmp/bad.gguf" "Hello"
	rm -f "$tmp/bad.gguf"
done

if [ "${TQ_INTEROP:-0}" != 1 ]; then
	n=$((n + 1))
	echo "ok $n # SKIP llama.cpp's ids: compared with TQ_INTEROP=1"
	echo "1..$n"
	exit 0
fi
if ! bin=$("$top_srcdir/tools/build-llamacpp.sh" "$py" 2>"$tmp/build.log" |
    tail -n 1) || [ ! -e "$bin/libllama.so" ]; then
	ok 1 "tools/build-llamacpp.sh failed"
	tail -n 20 "$tmp/build.log" | sed 's/^/# /'
	echo "1..$n"
	exit 0
fi
export LLAMA_CPP_LIB_PATH="$bin"
"$py" "$top_srcdir/tests/smollm2_tokenizer.py" --tq "$tq" --gguf "$gguf" \
    --shared "$shared" --bytes 20000 --edit "$edit" --start $n \
    2>"$tmp/py.err" |
    tee "$tmp/tap"
if ! grep -q '^1\.\.' "$tmp/tap"; then
	ok 1 "smollm2_tokenizer.py did not run:"
	tail -n 20 "$tmp/py.err" | sed 's/^/# /'
	echo "1..$n"
fi
