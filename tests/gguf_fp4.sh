#!/bin/sh
# gguf_fp4.sh: the demo model's MXFP4, NVFP4 and NVFP4-pow2 states (RTN) exported as
# GGUF and read by llama.cpp's llama-perplexity (the pinned build of
# tools/build-llamacpp.sh): its perplexity over 20 windows of 512 tokens of
# wikitext2-test equals our `eval --protocol llamacpp` of the same file
# within 0.05% (our evaluation rounds the matmul inputs to Q8_0, ggml's
# vec_dot_type for both; NVFP4's tensor scale multiplies llama.cpp's
# output, our weights).  Runs only with TQ_INTEROP=1.  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"

llamacpp_only
head -c 100000 "$shared/wikitext2-test.txt" >"$tmp/text.txt"
for s in mxfp4 nvfp4 nvfp4-pow2; do
	"$tq" quantize --method rtn --scheme $s --out "$tmp/$s" >/dev/null \
	    2>"$tmp/err" &&
	"$tq" export "$tmp/$s" --format gguf --out "$tmp/$s.gguf" >/dev/null \
	    2>>"$tmp/err"
	[ $? = 0 ] && ok 0 "the $s state as GGUF" ||
	    ok 1 "the $s state as GGUF: $(tail -c 200 "$tmp/err")"
	LD_LIBRARY_PATH=$bin "$bin/llama-perplexity" -t 2 -c 512 --chunks 20 \
	    -m "$tmp/$s.gguf" -f "$tmp/text.txt" >"$tmp/lp.log" 2>&1
	ok $? "llama-perplexity loads and runs the $s GGUF $(grep -i error "$tmp/lp.log" | head -c 200)"
	"$tq" --threads 2 eval "$tmp/$s.gguf" --text "$tmp/text.txt" \
	    --protocol llamacpp --max-tokens 10240 --json >"$tmp/o.json" \
	    2>"$tmp/err"
	"$py" - "$tmp/lp.log" "$tmp/o.json" "$s" <<'PY'
import json, re, sys
log = open(sys.argv[1]).read()
ppl = float(re.search(r"Final estimate: PPL = ([0-9.]+)", log).group(1))
n = int(re.search(r"calculating perplexity over (\d+) chunks", log).group(1))
o = json.load(open(sys.argv[2]))
rel = abs(o["ppl"] - ppl) / ppl
print("# %s: llama-perplexity %.4f over %d chunks, ours %.4f over %d (rel %.1e)"
      % (sys.argv[3], ppl, n, o["ppl"], o["n_windows"], rel))
assert n == o["n_windows"] == 20 and rel < 5e-4
PY
	ok $? "$s GGUF: our llamacpp-protocol perplexity within 0.05% of llama-perplexity"
done
echo "1..$n"
