#!/bin/sh
# mixed.sh: mixed precision end to end on the demo model (and, for the
# Q4_K_M comparison, a random model made by tests/make_random_llama.py).  Sensitivity is
# measured once on wikitext2-valid.txt with a menu of GGUF block settings;
# then (1) the plans the optimizer makes for four budgets are quantized and
# evaluated against the float model on wikitext2-test.txt, and their
# predicted loss must rank them as their measured mean KLD does; (2) at the
# bits per weight of llama.cpp's Q4_K_M mix, the optimizer's plan must have
# a lower mean KLD than that mix quantized by us, and (with TQ_INTEROP=1
# and the pinned llama.cpp) than llama-quantize's own Q4_K_M made with the
# same importance matrix, by our evaluation and by llama-perplexity's KLD
# on the GGUF files.  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"

demo=$top_srcdir/assets/demo
calib="--calib $shared/wikitext2-valid.txt --samples 32 --seqlen 512"
menu="rtn:q2_k+imatrix,rtn:q3_k+imatrix,rtn:q4_k+imatrix,rtn:q5_k+imatrix"
menu="$menu,rtn:q6_k+imatrix,rtn:q8_0,gptq:q3_k+imatrix,gptq:q4_k+imatrix"
menu="$menu,gptq:q5_k+imatrix"
text=$shared/wikitext2-test.txt

# shellcheck disable=SC2086
"$tq" plan "$demo" --frontier --menu "$menu" $calib \
    --sensitivity "$tmp/sens.json" --json >"$tmp/front.json" 2>"$tmp/err"
ok $? "sensitivity and frontier: $(head -c 200 "$tmp/err")"

# (1) Four budgets: predicted and measured loss in the same order.
variants=""
for b in 3.0 4.0 5.0 6.5; do
	"$tq" plan "$demo" --target-bpw $b --sensitivity "$tmp/sens.json" \
	    --out "$tmp/p$b.json" --json >"$tmp/p$b.out" 2>/dev/null &&
	# shellcheck disable=SC2086
	"$tq" quantize --plan "$tmp/p$b.json" $calib --out "$tmp/s$b" \
	    --json >/dev/null 2>"$tmp/err"
	ok $? "budget $b: plan and quantize $(head -c 200 "$tmp/err")"
	variants="$variants $tmp/s$b"
done
# shellcheck disable=SC2086
"$tq" eval "$demo" --compare $variants --text "$text" --max-tokens 30000 \
    --sensitivity "$tmp/sens.json" --json >"$tmp/cmp.json" 2>"$tmp/err"
ok $? "the four plans evaluated against the float model"
"$py" - "$tmp" 3.0 4.0 5.0 6.5 <<'EOF'
import json, sys
tmp, budgets = sys.argv[1], sys.argv[2:]
pred = [json.load(open("%s/p%s.out" % (tmp, b)))["optimized"]["predicted_kld"]
        for b in budgets]
vs = json.load(open(tmp + "/cmp.json"))["variants"]
kld = [v["kld"]["kld"] for v in vs]
for b, p, k in zip(budgets, pred, kld):
    print("# %s bpw: predicted KLD %.5f, measured %.5f" % (b, p, k))
# eval --sensitivity reports the same prediction beside the measurement.
if any(abs(v["predicted_kld"] - p) > 1e-12 * p for v, p in zip(vs, pred)):
    print("# eval's predicted_kld differs from plan's")
    sys.exit(1)
rank = lambda xs: sorted(range(len(xs)), key=lambda i: xs[i])
sys.exit(0 if rank(pred) == rank(kld) else 1)
EOF
ok $? "the predicted loss (as plan and eval --sensitivity report it) ranks the four plans as the measured KLD does"

# (2) At Q4_K_M's bits per weight, on model $1 (its sensitivity in $2).
q4km_check() {
	m=$1
	sens=$2
	d=$tmp/$(basename "$m")
	mkdir -p "$d"
	"$tq" plan "$m" --preset q4_k_m --json >"$d/q4km.json"
	bpw=$("$py" -c '
import json, sys
q = [l for l in json.load(open(sys.argv[1]))["layers"]
     if l["name"].startswith("model.layers.")]
print("%.6f" % (sum(l["bpw"] * l["rows"] * l["cols"] for l in q) /
                sum(l["rows"] * l["cols"] for l in q)))' "$d/q4km.json")
	# shellcheck disable=SC2086
	"$tq" plan "$m" --target-bpw "$bpw" --sensitivity "$sens" \
	    --base-plan q4_k_m --out "$d/opt.json" >/dev/null 2>&1 &&
	    "$tq" quantize "$m" --plan "$d/opt.json" $calib --out "$d/opt" \
	    --json >/dev/null 2>&1 &&
	    "$tq" quantize "$m" --preset q4_k_m --method rtn $calib --out "$d/q4km" \
	    --json >/dev/null 2>&1
	ok $? "$m: the optimizer's plan at Q4_K_M's $bpw bpw, and Q4_K_M"
	others=""
	if [ "${TQ_INTEROP:-0}" = 1 ]; then
		bin=$("$top_srcdir/tools/build-llamacpp.sh" "$py" | tail -n 1)
		# shellcheck disable=SC2086
		"$tq" export "$m" --format gguf --type f32 --out "$d/f32.gguf" \
		    >/dev/null 2>&1 &&
		    "$tq" calibrate "$m" $calib --imatrix "$d/imatrix.gguf" \
		    >/dev/null 2>&1 &&
		    "$bin/llama-quantize" --imatrix "$d/imatrix.gguf" \
		    "$d/f32.gguf" "$d/lq4km.gguf" Q4_K_M >"$d/lq.log" 2>&1
		ok $? "$m: llama-quantize --imatrix made its own Q4_K_M"
		others="$d/lq4km.gguf"
	fi
	# shellcheck disable=SC2086
	"$tq" eval "$m" --compare "$d/opt" "$d/q4km" $others --text "$text" \
	    --max-tokens 30000 --json >"$d/q.json" 2>"$tmp/err"
	ok $? "$m: evaluated against the float model $(head -c 200 "$tmp/err")"
	"$py" - "$d/q.json" <<'EOF2'
import json, sys
v = json.load(open(sys.argv[1]))["variants"]
names = ["optimized", "Q4_K_M (ours, RTN)", "Q4_K_M (llama-quantize --imatrix)"]
for name, x in zip(names, v):
    print("# %s: %.3f bpw, mean KLD %.5f, same top %.2f%%" % (
        name, x["bpw"], x["kld"]["kld"], 100 * x["kld"]["same_top"]))
sys.exit(0 if all(v[0]["kld"]["kld"] < x["kld"]["kld"] for x in v[1:]) else 1)
EOF2
	ok $? "$m: the optimized plan's mean KLD is below every Q4_K_M's"
	[ "${TQ_INTEROP:-0}" = 1 ] || return 0

	# The same comparison on GGUF files, as llama.cpp computes them: by
	# our evaluation of the files, and by llama-perplexity itself.
	"$tq" export "$d/opt" --format gguf --out "$d/opt.gguf" >/dev/null 2>&1
	ok $? "$m: the optimized state as GGUF"
	"$tq" eval "$d/f32.gguf" --compare "$d/opt.gguf" "$d/lq4km.gguf" \
	    --text "$text" --max-tokens 30000 --json >"$d/g.json" 2>"$tmp/err"
	ok $? "$m: the GGUF files evaluated $(head -c 200 "$tmp/err")"
	head -c 200000 "$text" >"$d/text.txt"
	lp="$bin/llama-perplexity -t 2 -c 512 --chunks 40 -f $d/text.txt"
	LD_LIBRARY_PATH=$bin $lp -m "$d/f32.gguf" \
	    --kl-divergence-base "$d/base.kld" >"$d/lp0.log" 2>&1 &&
	    LD_LIBRARY_PATH=$bin $lp -m "$d/opt.gguf" \
	    --kl-divergence-base "$d/base.kld" --kl-divergence \
	    >"$d/lp1.log" 2>&1 &&
	    LD_LIBRARY_PATH=$bin $lp -m "$d/lq4km.gguf" \
	    --kl-divergence-base "$d/base.kld" --kl-divergence \
	    >"$d/lp2.log" 2>&1
	ok $? "$m: llama-perplexity --kl-divergence on both"
	"$py" - "$d/g.json" "$d/lp1.log" "$d/lp2.log" <<'EOF2'
import json, re, sys
v = json.load(open(sys.argv[1]))["variants"]
lp = [float(re.search(r"Mean    KLD:\s*([0-9.]+)", open(f).read()).group(1))
      for f in sys.argv[2:4]]
for name, x, l in zip(["optimized.gguf", "llama-quantize Q4_K_M"], v, lp):
    print("# %s: ours mean KLD %.5f, llama-perplexity %.5f" % (
        name, x["kld"]["kld"], l))
sys.exit(0 if v[0]["kld"]["kld"] < v[1]["kld"]["kld"] and lp[0] < lp[1] else 1)
EOF2
	ok $? "$m: as GGUF, the optimized plan's KLD is below llama.cpp's Q4_K_M by both programs"
}

q4km_check "$demo" "$tmp/sens.json"

# The second model: random, made here, with outlier channels in its norms.
if ! "$py" -c 'import numpy' 2>/dev/null; then
	skip_check "$py cannot import numpy to make the random model (set TQ_PYTHON)"
	echo "1..$n"
	exit 0
fi
"$py" "$top_srcdir/tests/make_random_llama.py" "$tmp/rnd"
# shellcheck disable=SC2086
"$tq" plan "$tmp/rnd" --frontier --menu "$menu" $calib \
    --sensitivity "$tmp/rsens.json" --json >/dev/null 2>"$tmp/err"
ok $? "the random model's sensitivity $(head -c 200 "$tmp/err")"
q4km_check "$tmp/rnd" "$tmp/rsens.json"
echo "1..$n"
