#!/bin/sh
# cli.sh: the turboquant command line end to end: help, info, tokenize and
# eval on real models, and a clear one-line error (exit 1, no crash) for
# every kind of bad input.  A TAP test.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
d=$top_srcdir/tests/data
demo=$top_srcdir/assets/demo

# ---- help and version ----
"$tq" --help >"$tmp/out" 2>&1
ok $? "--help exits 0"
grep -q "info" "$tmp/out" && grep -q "tokenize" "$tmp/out" && grep -q "eval" "$tmp/out"
ok $? "--help lists the commands"
for c in info tokenize eval; do
	"$tq" $c --help | grep -q "usage: turboquant $c"
	ok $? "$c --help shows its usage"
done
"$tq" --version | grep -Eq '^turboquant [0-9]+\.[0-9]+\.[0-9]+$'
ok $? "--version"
expect_error "unknown command" "unknown command" "$tq" frobnicate
expect_error "unknown option" "unknown option" "$tq" info --bogus
expect_error "--isa with an unknown name" "unknown instruction set 'sse9'" \
    "$tq" --isa sse9 info
expect_error "--isa without a value" "--isa needs a value" "$tq" --isa
expect_error "TQ_ISA with an unknown name" "TQ_ISA: unknown instruction set" \
    env TQ_ISA=sse9 "$tq" info
"$tq" --isa portable info >/dev/null 2>&1
ok $? "--isa portable: every CPU has it"

# ---- info on the fixture models ----
"$tq" info "$d/models/mistral" >"$tmp/out" 2>"$tmp/err"
ok $? "info on a sharded bf16 mistral checkpoint"
grep -q "mistral" "$tmp/out" && grep -q "BF16" "$tmp/out" &&
    grep -q "model.layers.1.mlp.down_proj.weight" "$tmp/out"
ok $? "info lists architecture, dtype and every layer"
"$tq" info "$d/models/llama" --json >"$tmp/out"
ok $? "info --json"
if [ -n "${TQ_PYTHON:-}" ]; then
	"$TQ_PYTHON" - "$tmp/out" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["architecture"] == "llama", j["architecture"]
assert j["config"]["tie_word_embeddings"] is True
assert j["n_params"] == sum(t["params"] for t in j["tensors"])
assert all(set(t) >= {"name", "shape", "dtype", "params"} for t in j["tensors"])
PY
	ok $? "info --json is one valid JSON object with consistent totals"
fi

# ---- the demo model ----
if [ -d "$demo" ]; then
	"$tq" info "$demo" | grep -q "llama"
	ok $? "info on the demo model"
	TQ_DEMO_MODEL=$demo "$tq" tokenize --json "Hello world" >"$tmp/out"
	grep -Eq '^\{"ids":\[[0-9]+(,[0-9]+)*\],"n_tokens":[0-9]+\}$' "$tmp/out"
	ok $? "tokenize --json prints {\"ids\": [...]}: $(cat "$tmp/out")"
	head -c 30000 "$shared/wikitext2-test.txt" >"$tmp/text.txt"
	"$tq" eval "$demo" --text "$tmp/text.txt" --ctx 128 --json >"$tmp/out"
	ok $? "eval --json on the demo model"
	grep -Eq '"protocol":"gptq","ctx":128,.*"ppl":[0-9.]+' "$tmp/out"
	ok $? "eval reports protocol, window and perplexity: $(cat "$tmp/out")"
	: >"$tmp/empty.txt"
	expect_error "empty text file" "empty text file" \
	    "$tq" eval "$demo" --text "$tmp/empty.txt"
	printf 'only a few words' >"$tmp/few.txt"
	expect_error "text shorter than a window" "fewer than one window" \
	    "$tq" eval "$demo" --text "$tmp/few.txt" --ctx 512
	expect_error "a window beyond the model's context" "beyond the model" \
	    "$tq" eval "$demo" --text "$shared/wikitext2-test.txt" --ctx 100000
	expect_error "missing text file" "No such file" \
	    "$tq" eval "$demo" --text "$tmp/nonexistent.txt"
fi

# ---- plan ----
if [ -d "$demo" ]; then
	"$tq" plan --preset q4_k_m >"$tmp/out" 2>"$tmp/err"
	ok $? "plan --preset q4_k_m on the demo model"
	grep -q "^lm_head .* q6_k " "$tmp/out" &&
	    grep -q "bits per weight on average" "$tmp/out"
	ok $? "plan prints the table and the totals"
	"$tq" plan --plan "$d/plans/mixed.json" --json --save "$tmp/plan.json" \
	    >"$tmp/out" && grep -q '"total":{' "$tmp/out" &&
	    "$tq" plan --plan "$tmp/plan.json" >/dev/null
	ok $? "plan --json --save, and the saved plan loads"
	expect_error "plan with a typo" 'unknown key "schme"' \
	    "$tq" plan --plan "$d/plans/bad_typo.json"
	expect_error "plan with a scheme that does not fit" "does not divide" \
	    "$tq" plan "$d/models/llama_linear" --method gptq --scheme int4-g64
fi

# ---- bad models ----
expect_error "a directory that does not exist" "not a model directory" \
    "$tq" info "$tmp/nothing"
mkdir "$tmp/empty"
expect_error "a directory that is not a model" "no config.json" \
    "$tq" info "$tmp/empty"

mk() {	# mk NAME: a fresh copy of the llama fixture (f32, one file)
	rm -rf "$tmp/$1"
	cp -r "$d/models/llama" "$tmp/$1"
	echo "$tmp/$1"
}
m=$(mk trunc)
size=$(wc -c <"$m/model.safetensors")
truncate -s $((size - 100)) "$m/model.safetensors"
expect_error "truncated safetensors" "truncated" "$tq" info "$m"
m=$(mk hdr)
printf '\377\377\377\377\377\377\377\000' |
    dd of="$m/model.safetensors" bs=1 conv=notrunc 2>/dev/null
expect_error "header length that lies" "header length" "$tq" info "$m"
m=$(mk shape)
sed -i 's/"shape":\[64\]/"shape":[65]/' "$m/model.safetensors"
expect_error "shape that lies" "needs 260 bytes" "$tq" info "$m"
m=$(mk dtype)
sed -i '0,/"dtype":"F32"/s//"dtype":"Q32"/' "$m/model.safetensors"
expect_error "unknown dtype" "unknown dtype" "$tq" info "$m"
m=$(mk nan)
printf '\377\377\377\177' | dd of="$m/model.safetensors" bs=1 \
    seek=$((size - 4)) conv=notrunc 2>/dev/null
expect_error "NaN weight" "NaN or Inf" "$tq" info "$m"
m=$(mk arch)
sed -i 's/"model_type": "llama"/"model_type": "gpt_neox"/' "$m/config.json"
expect_error "unknown architecture" "unknown architecture \"gpt_neox\"" \
    "$tq" info "$m"
m=$(mk layers)
sed -i 's/"num_hidden_layers": 2/"num_hidden_layers": 3/' "$m/config.json"
expect_error "missing tensor" "missing tensor \"model.layers.2" \
    "$tq" info "$m"
m=$(mk json)
printf '{"model_type": "llama", "vocab_size": ' >"$m/config.json"
expect_error "malformed config.json" "invalid JSON" "$tq" info "$m"
m=$(mk deep)
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; }' >"$m/config.json"
expect_error "deeply nested config.json" "invalid JSON" "$tq" info "$m"
m=$(mk noweights)
rm "$m/model.safetensors"
expect_error "no weights" "no model.safetensors" "$tq" info "$m"

# ---- bad tokenizers ----
if [ -d "$demo" ]; then
	mkdir "$tmp/tok"
	sed 's/"Regex": *"/"Regex": "(?<!/' "$demo/tokenizer.json" \
	    >"$tmp/tok/tokenizer.json"
	expect_error "tokenizer.json with an invalid regex" "regex" \
	    "$tq" tokenize "$tmp/tok" "hello"
	head -c 1000 "$demo/tokenizer.json" >"$tmp/tok/tokenizer.json"
	expect_error "truncated tokenizer.json" "tokenizer.json" \
	    "$tq" tokenize "$tmp/tok" "hello"
fi

finish
