#!/bin/sh
# eval_gate.sh: `turboquant eval` as a release gate and its reports: the
# gate exits 2 with one line on a broken quantization (RTN 2-bit per tensor)
# and 0 on W8 per channel; --compare gives one table (text, --json,
# --markdown); a saved base gives the KLD of the one-run comparison; the
# long-context table, tasks and the per-layer report; bad input gets
# one-line errors.  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"

text=$shared/wikitext2-test.txt
# 4096 tokens keep every run here under a few seconds.
ev="--text $text --max-tokens 4096 --ctx 256"

"$tq" quantize --method rtn --scheme int2-tensor --out "$tmp/w2" \
    >/dev/null 2>"$tmp/err"
ok $? "quantize RTN int2 per tensor"
"$tq" quantize --method rtn --bits 8 --group 0 --out "$tmp/w8" \
    >/dev/null 2>"$tmp/err"
ok $? "quantize RTN W8 per channel"

gate="--max-ppl-increase 2 --max-kld 0.01"
"$tq" eval "$tmp/w2" $ev $gate >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc = 2 ] && [ "$(wc -l <"$tmp/err")" -le 2 ] &&
    grep -q "^turboquant: gate: .*w2: perplexity .* more than --max-ppl-increase 2" "$tmp/err"; then
	ok 0 "the gate refuses int2 per tensor (exit 2): $(grep gate "$tmp/err")"
else
	ok 1 "the gate refuses int2 per tensor: exit $rc, $(cat "$tmp/err")"
fi
"$tq" eval "$tmp/w2" $ev --max-kld 0.01 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] && grep -q "mean KLD .* is over --max-kld 0.01" "$tmp/err"
ok $? "--max-kld alone refuses it too (exit $rc)"
"$tq" eval "$tmp/w8" $ev $gate >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 0 ] && grep -q "Mean    KLD" "$tmp/out"
ok $? "the gate passes W8 per channel (exit $rc) $(head -c 200 "$tmp/err")"

# One table for several variants, three ways.
"$tq" eval $ev --compare "$tmp/w8" "$tmp/w2" >"$tmp/table" 2>"$tmp/err"
rc=$?
[ $rc = 0 ] && [ "$(grep -c "w8\|w2\|base" "$tmp/table")" -ge 3 ]
ok $? "--compare prints one table (exit $rc)"
"$tq" eval $ev --compare "$tmp/w8" "$tmp/w2" --markdown >"$tmp/md" 2>&1
[ $? = 0 ] && grep -q "^| --- | ---: |" "$tmp/md" && [ "$(grep -c '^| ' "$tmp/md")" = 5 ]
ok $? "--compare --markdown is a Markdown table of 3 rows"
"$tq" eval $ev --compare "$tmp/w8" "$tmp/w2" --json >"$tmp/json" 2>"$tmp/err"
if "$py" - "$tmp/json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = r["variants"]
assert r["protocol"] == "gptq" and r["ctx"] == 256, r
assert len(v) == 2 and v[0]["path"].endswith("w8") and v[1]["path"].endswith("w2")
w8, w2 = v
# W8 is near the base, int2 per tensor far from it.
assert abs(w8["delta_pct"]) < 0.5 and w8["kld"]["kld"] < 1e-3, w8
assert w2["delta_pct"] > 10 and w2["kld"]["kld"] > 0.05, w2
assert w8["kld"]["same_top"] > 0.95 > w2["kld"]["same_top"]
assert 7.9 < w8["bpw"] < 8.2 and 1.9 < w2["bpw"] < 2.1 and r["base"]["bpw"] == 16
assert w2["size_bytes"] < w8["size_bytes"] < r["base"]["size_bytes"]
for k in ("kld", "kld_stderr", "same_top", "dp", "dp_rms", "ppl_base", "ln_ratio"):
    assert k in w8["kld"], k
for k in ("median", "p90", "p95", "p99", "max"):
    assert k in w8["kld"]["kld_quantiles"], k
print("w8 %+.3f%% kld %.2e; w2 %+.1f%% kld %.3f" % (w8["delta_pct"],
      w8["kld"]["kld"], w2["delta_pct"], w2["kld"]["kld"]))
PY
then ok 0 "--compare --json: W8 close to the base, int2 far"
else ok 1 "--compare --json: $(head -c 300 "$tmp/json")"
fi

# A saved base gives what the one-run comparison gives.
"$tq" eval $ev --protocol llamacpp --save-logits "$tmp/base.tqlp" \
    >/dev/null 2>"$tmp/err"
ok $? "base log-probs saved ($(wc -c <"$tmp/base.tqlp") bytes)"
"$tq" eval "$tmp/w8" --base-logits "$tmp/base.tqlp" --json >"$tmp/f.json" \
    2>"$tmp/err" &&
"$tq" eval "$tmp/w8" $ev --protocol llamacpp --kld --json >"$tmp/o.json" \
    2>>"$tmp/err"
ok $? "KLD against the file and in one run $(head -c 200 "$tmp/err")"
"$py" - "$tmp/f.json" "$tmp/o.json" <<'PY'
import json, sys
f, o = (json.load(open(p))["variants"][0] for p in sys.argv[1:])
assert f["ppl"] == o["ppl"], (f["ppl"], o["ppl"])
fk, ok_ = f["kld"]["kld"], o["kld"]["kld"]
assert abs(fk - ok_) <= 0.02 * ok_ + 1e-7, (fk, ok_)
PY
ok $? "the file's KLD is the one-run KLD within 2%"

"$tq" eval "$tmp/w2" $ev --long-context --json >"$tmp/lc.json" 2>"$tmp/err"
"$py" - "$tmp/lc.json" <<'PY'
import json, sys
lc = json.load(open(sys.argv[1]))["long_context"]
assert [r["ctx"] for r in lc] == [64, 128, 256, 512], lc
assert all(r["result"]["kld"] > 0 for r in lc)
PY
ok $? "--long-context: one row per length 64..512"
"$tq" eval "$tmp/w8" --tasks "$top_srcdir/tests/data/tasks/demo.jsonl" --kld \
    >"$tmp/out" 2>"$tmp/err"
[ $? = 0 ] && [ "$(grep -c "acc .* acc_norm" "$tmp/out")" = 2 ]
ok $? "--tasks scores the base and the state"
"$tq" eval "$tmp/w2" $ev --layers >"$tmp/out" 2>"$tmp/err"
[ $? = 0 ] && [ "$(grep -c "^model.layers.*int2-tensor" "$tmp/out")" = 28 ] &&
    grep -q " !$" "$tmp/out"
ok $? "--layers: 28 layers sorted, the worst flagged"

printf 'not a logits file at all, but long enough to be read......' >"$tmp/junk"
expect_error "a foreign base-logits file" "$tmp/junk: not a TurboQuant" \
    "$tq" eval "$tmp/w8" --base-logits "$tmp/junk"
expect_error "an unknown protocol" "unknown perplexity protocol" \
    "$tq" eval $ev --protocol lmeval
expect_error "--kld without a base" "name its base" "$tq" eval $ev --kld
expect_error "too few tokens for llamacpp" "2 x ctx" \
    "$tq" eval --text "$text" --max-tokens 600 --protocol llamacpp
echo "1..$n"
