#!/bin/sh
# eval_llamacpp.sh: our llamacpp-protocol perplexity and KLD against
# llama.cpp's llama-perplexity (the pinned build of tools/build-llamacpp.sh)
# on the same files: the demo model exported to an F32 GGUF, and its Q4_K_M
# state exported as GGUF, 40 windows of 512 tokens of wikitext2-test.
#   - F32: perplexity within 1% (observed: equal to 6 digits);
#   - Q4_K_M: perplexity of the quantized model and of the base within 1%,
#     same-top-token agreement within 1 point; mean KLD within 10%:
#     llama.cpp's CPU kernels multiply K-quant weights with activations
#     rounded to 8-bit blocks (Q8_K), we with fp32 activations, which adds
#     a few percent to its KLD (observed: 0.00359 against 0.00345); the
#     same GGUF files evaluated by us (inputs rounded as llama.cpp rounds
#     them) agree within 1% (observed: 0.003590 against 0.003590).
# Runs only with TQ_INTEROP=1 (and then a missing llama.cpp build is a
# failure, not a skip).  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
threads=2
llamacpp_only
LD_LIBRARY_PATH=$bin "$bin/llama-perplexity" --version >"$tmp/v.log" 2>&1
ok $? "llama-perplexity in $bin runs: $(grep -m1 version "$tmp/v.log")"
# against_lp JSON LABEL KLD_LIMIT: our numbers in JSON against llama-perplexity's
# log ($tmp/lp.log): PPL(Q), PPL(base) within 1%, same top within 1 point,
# mean KLD within KLD_LIMIT (relative).
against_lp() {
	"$py" - "$tmp/lp.log" "$@" <<'PY'
import json, re, sys
log = open(sys.argv[1]).read()
label, limit = sys.argv[3], float(sys.argv[4])
def num(name):
    m = re.search(re.escape(name) + r"\s*:\s*(-?[0-9.]+)", log)
    return float(m.group(1))
ppl_q, ppl_b = num("Mean PPL(Q)"), num("Mean PPL(base)")
kld, same = num("Mean    KLD"), num("Same top p") / 100
k = json.load(open(sys.argv[2]))["variants"][0]["kld"]
print("# %s: llama-perplexity PPL(Q) %.4f PPL(base) %.4f KLD %.6f same top %.4f"
      % (label, ppl_q, ppl_b, kld, same))
print("# %s: turboquant       PPL(Q) %.4f PPL(base) %.4f KLD %.6f same top %.4f"
      % (label, k["ppl"], k["ppl_base"], k["kld"], k["same_top"]))
assert abs(k["ppl"] - ppl_q) / ppl_q < 0.01, "PPL(Q)"
assert abs(k["ppl_base"] - ppl_b) / ppl_b < 0.01, "PPL(base)"
assert abs(k["same_top"] - same) < 0.01, "same top"
assert abs(k["kld"] - kld) / kld < limit, "KLD"
PY
}
lp() {	# llama-perplexity ARGS...: the log in $tmp/lp.log
	LD_LIBRARY_PATH=$bin "$bin/llama-perplexity" -t $threads -c 512 \
	    --chunks 40 "$@" >"$tmp/lp.log" 2>&1
}

# 40 windows of 512 tokens need about 100 kB of wikitext.
head -c 200000 "$shared/wikitext2-test.txt" >"$tmp/text.txt"
ours="--threads $threads eval --text $tmp/text.txt --protocol llamacpp --max-tokens 20480 --json"

"$tq" export --format gguf --type f32 --out "$tmp/f32.gguf" >/dev/null \
    2>"$tmp/err"
ok $? "the demo model as an F32 GGUF $(head -c 200 "$tmp/err")"
lp -m "$tmp/f32.gguf" -f "$tmp/text.txt" --kl-divergence-base "$tmp/base.kld"
ok $? "llama-perplexity on the F32 GGUF (saving base logits) $(grep -i error "$tmp/lp.log" | head -c 200)"
cp "$tmp/lp.log" "$tmp/f32.log"
"$tq" $ours >"$tmp/f32.json" 2>"$tmp/err"
ok $? "turboquant eval --protocol llamacpp $(head -c 200 "$tmp/err")"
"$py" - "$tmp/f32.log" "$tmp/f32.json" <<'PY'
import json, re, sys
log = open(sys.argv[1]).read()
m = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", log)
chunks = re.search(r"calculating perplexity over (\d+) chunks", log)
ours = json.load(open(sys.argv[2]))
ppl, err = float(m.group(1)), float(m.group(2))
rel = abs(ours["ppl"] - ppl) / ppl
print("# F32: llama-perplexity %.4f +/- %.5f over %s chunks; ours %.4f +/- %.5f "
      "over %d windows (rel. diff %.1e)" % (ppl, err, chunks.group(1), ours["ppl"],
      ours["ppl_stderr"], ours["n_windows"], rel))
assert int(chunks.group(1)) == ours["n_windows"] == 40
assert rel < 0.01 and abs(ours["ppl_stderr"] - err) / err < 0.01
PY
ok $? "F32 GGUF: perplexity and its error within 1% of llama-perplexity"

"$tq" quantize --preset q4_k_m --out "$tmp/q4km" >/dev/null 2>"$tmp/err" &&
"$tq" export "$tmp/q4km" --format gguf --out "$tmp/q4km.gguf" >/dev/null \
    2>>"$tmp/err"
[ $? = 0 ] && ok 0 "the Q4_K_M state as GGUF" ||
    ok 1 "the Q4_K_M state as GGUF: $(tail -c 300 "$tmp/err")"
lp -m "$tmp/q4km.gguf" -f "$tmp/text.txt" --kl-divergence-base "$tmp/base.kld" \
    --kl-divergence
ok $? "llama-perplexity --kl-divergence on the Q4_K_M GGUF $(grep -i error "$tmp/lp.log" | head -c 200)"
"$tq" ${ours%--json} "$tmp/q4km" --kld --json >"$tmp/q.json" 2>"$tmp/err"
ok $? "turboquant eval STATE --kld $(head -c 200 "$tmp/err")"
against_lp "$tmp/q.json" "Q4_K_M state" 0.10
ok $? "Q4_K_M state: PPL(Q), PPL(base) within 1%, same top within 1 point, KLD within 10%"

# The same files llama-perplexity read: our evaluation of a GGUF rounds each
# matmul's input as llama.cpp's kernels do (Q8_K for the K-quants).
"$tq" ${ours%--json} "$tmp/q4km.gguf" --base "$tmp/f32.gguf" --json \
    >"$tmp/g.json" 2>"$tmp/err"
ok $? "turboquant eval Q4_K_M.gguf --base F32.gguf $(head -c 200 "$tmp/err")"
against_lp "$tmp/g.json" Q4_K_M.gguf 0.01
ok $? "the same Q4_K_M and F32 GGUF files: PPL(Q), PPL(base) and mean KLD within 1%, same top within 1 point"
echo "1..$n"
