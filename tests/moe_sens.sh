#!/bin/sh
# moe_sens.sh: mixed precision on a mixture of experts, end to end, on the
# mixtral fixture and the qwen3_moe one (its block 0 dense): `plan
# --target-bpw` measures sensitivity with a block's experts of one kind
# (all gates, all ups, all downs) as one entry named "experts.*.KIND", and
# the router as none; the plan has one rule per entry, a group's matching
# exactly its block's experts, all of which get one setting; quantize
# accepts the plan and its bits per weight over the block linears meet the
# target; the saved table read back gives the same plan and prediction,
# and eval --sensitivity predicts the quantized state's KLD as plan did.
# With --per-expert every expert linear is an entry and a choice of its
# own; a grouped table is refused for --per-expert in one line.  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"

calib=$shared/wikitext2-valid.txt
text=$shared/wikitext2-test.txt
[ -r "$calib" ] && [ -r "$text" ] || skip_test "no $calib or $text"
command -v "$py" >/dev/null 2>&1 || skip_test "no $py"

cal="--calib $calib --samples 8 --seqlen 64"
# Settings that fit every linear (qwen3_moe's experts' down has 32
# columns), so that eval's prediction meets no shape fallback.
menu="rtn:q4_0+imatrix,rtn:q5_0,rtn:q8_0,gptq:int3-g32,gptq:int4-g32"
menu="$menu,gptq:int8"
target=4.5

# check_table SENS PER_EXPERT EXPERTS KINDS: the table's entries are the
# model's block linears (as `plan --json` lists them: $d/linears.json)
# with each MoE block's experts grouped by kind (KINDS: "w1 w3 w2" or
# "gate_proj up_proj down_proj"), or not.
check_table() {
	"$py" - "$d/linears.json" "$@" <<'EOF'
import json, sys
lin, sens, per, E, kinds = sys.argv[1], sys.argv[2], sys.argv[3] == "1", \
    int(sys.argv[4]), sys.argv[5].split()
s = json.load(open(sens))
shape = {l["name"]: l["rows"] * l["cols"] for l in json.load(open(lin))["layers"]}
names = list(shape)
want = []
for li in range(s["n_layers"]):
    pre = "model.layers.%d." % li
    mine = [n for n in names if n.startswith(pre)]
    att = [pre + "self_attn.%s_proj" % x for x in "qkvo"]
    want += att
    exp = [n for n in mine if ".experts." in n]
    if not exp:
        want += [pre + "mlp.%s_proj" % x for x in ("gate", "up", "down")]
        continue
    base = exp[0].split(".experts.")[0] + ".experts."
    if per:
        want += [base + "%d.%s" % (e, k) for e in range(E) for k in kinds]
    else:
        want += [base + "*." + k for k in kinds]
got = [l["name"] for l in s["layers"]]
if got != want or s["per_expert"] != per:
    print("# entries %s, want %s" % (got, want))
    sys.exit(1)
# A group's params are its experts' together; every entry was measured.
for l in s["layers"]:
    if "*" in l["name"]:
        if l["params"] != E * shape[l["name"].replace("*", "0")]:
            print("# %s: params %d" % (l["name"], l["params"]))
            sys.exit(1)
    if any(e is None for e in l["rel_err"]) or l["probe_kld"] is None:
        print("# %s: unmeasured" % l["name"])
        sys.exit(1)
print("# %d entries" % len(got))
EOF
}

# check_plan PLAN PLAN_JSON STATE TABLE: one rule per table entry, a
# group's matching its block's experts only; every expert of a group on
# one setting in the plan's resolution and in the quantized state; the
# block linears' bits per weight at most the target and as plan says.
check_plan() {
	"$py" - "$target" "$@" <<'EOF'
import json, re, sys
target, plan, resolved, state, sens = float(sys.argv[1]), \
    json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), \
    json.load(open(sys.argv[4] + "/state.json")), json.load(open(sys.argv[5]))
ent = [l["name"] for l in sens["layers"]]
rules = [r["match"] for r in plan["rules"]]
blk = [l for l in resolved["layers"] if l["name"].startswith("model.layers.")]
bad = []
if len(rules) != len(ent):
    bad.append("%d rules for %d entries" % (len(rules), len(ent)))
for r, e in zip(rules, ent):
    hits = [l["name"] for l in blk if re.search(r, l["name"])]
    want = [l["name"] for l in blk if re.fullmatch(
        re.escape(e).replace(r"\*", "[0-9]+"), l["name"])]
    if hits != want or not hits:
        bad.append("%s matches %s" % (r, hits))
    schemes = set((l["method"], l["scheme"]) for l in blk if l["name"] in want)
    if len(schemes) != 1:
        bad.append("%s: settings %s" % (e, schemes))
st = {l["name"]: (l["method"], l["scheme"]) for l in state["layers"]}
for l in blk:
    if st.get(l["name"]) != (l["method"], l["scheme"]):
        bad.append("%s: state %s, plan %s" % (l["name"], st.get(l["name"]),
                                            (l["method"], l["scheme"])))
w = sum(l["rows"] * l["cols"] for l in blk)
bpw = sum(l["bpw"] * l["rows"] * l["cols"] for l in blk) / w
if bpw > target + 1e-9:
    bad.append("bpw %.4f over %.2f" % (bpw, target))
print("# block linears %.4f bpw for %.2f; %d rules" % (bpw, target, len(rules)))
for b in bad[:10]:
    print("# " + b)
sys.exit(1 if bad else 0)
EOF
}

# measure SUFFIX OPTION WHAT: $d/sensSUFFIX.json measured (with OPTION)
# and the plan for the target, $d/pSUFFIX.json.
measure() {
	# shellcheck disable=SC2086
	"$tq" plan "$m" --target-bpw $target --menu "$menu" $cal $2 \
	    --sensitivity "$d/sens$1.json" --out "$d/p$1.json" --json \
	    >"$d/p$1.out" 2>"$d/err"
	ok $? "$arch: sensitivity $3 and a plan for $target bpw $(tail -n 1 "$d/err")"
}

# quantize_check SUFFIX WHAT: quantize accepts $d/pSUFFIX.json, and the
# plan and state pass check_plan.
quantize_check() {
	# shellcheck disable=SC2086
	"$tq" quantize "$m" --plan "$d/p$1.json" $cal --out "$d/st$1" \
	    >/dev/null 2>"$d/err" &&
	"$tq" plan "$m" --plan "$d/p$1.json" --json >"$d/resolved$1.json" &&
	check_plan "$d/p$1.json" "$d/resolved$1.json" "$d/st$1" \
	    "$d/sens$1.json"
	ok $? "$arch: $2 $(tail -n 1 "$d/err")"
}

for arch in mixtral qwen3_moe; do
	m=$tmp/$arch
	moe_fixture $arch "$m"
	if [ $arch = mixtral ]; then
		kinds="w1 w3 w2"
	else
		kinds="gate_proj up_proj down_proj"
	fi
	d=$tmp/$arch.out
	mkdir -p "$d"
	"$tq" plan "$m" --method float --json >"$d/linears.json"

	measure "" "" "by expert group"
	check_table "$d/sens.json" 0 4 "$kinds"
	ok $? "$arch: the table's entries: each block's experts of one kind one entry, the router none"
	quantize_check "" "one rule per group, its experts on one setting in the plan and the state, bits per weight within the target"

	# The table read back: the same plan, the same prediction.
	"$tq" plan "$m" --target-bpw $target --sensitivity "$d/sens.json" \
	    --out "$d/p2.json" --json >"$d/p2.out" 2>"$d/err" &&
	cmp -s "$d/p.json" "$d/p2.json" &&
	"$py" -c 'import json, sys
a, b = (json.load(open(f))["optimized"] for f in sys.argv[1:])
sys.exit(0 if a == b else 1)' "$d/p.out" "$d/p2.out"
	ok $? "$arch: the saved table read back gives the same plan and predicted KLD"
	"$tq" eval "$m" --compare "$d/st" --text "$text" --max-tokens 2000 \
	    --sensitivity "$d/sens.json" --json >"$d/cmp.json" 2>"$d/err" &&
	"$py" -c 'import json, sys
p = json.load(open(sys.argv[1]))["optimized"]["predicted_kld"]
v = json.load(open(sys.argv[2]))["variants"][0]
print("# predicted %.6g, eval says %.6g, measured %.6g" % (p,
    v["predicted_kld"], v["kld"]["kld"]))
sys.exit(0 if abs(v["predicted_kld"] - p) <= 1e-12 * p else 1)' \
	    "$d/p.out" "$d/cmp.json"
	ok $? "$arch: eval --sensitivity predicts the state's KLD as plan did"
	expect_error "$arch: --per-expert with a grouped table refused" \
	    "measured with a block's experts grouped" \
	    "$tq" plan "$m" --target-bpw $target --per-expert \
	    --sensitivity "$d/sens.json"

	# Per expert: every expert linear its own entry and rule.
	measure E --per-expert "--per-expert"
	check_table "$d/sensE.json" 1 4 "$kinds"
	ok $? "$arch: --per-expert: every expert linear an entry of its own"
	quantize_check E "--per-expert: one rule per expert linear, quantized, within the target"
	"$tq" plan "$m" --target-bpw $target --per-expert \
	    --sensitivity "$d/sensE.json" --out "$d/pE2.json" \
	    >/dev/null 2>&1 && cmp -s "$d/pE.json" "$d/pE2.json"
	ok $? "$arch: --per-expert: the saved table read back gives the same plan"
done

echo "1..$n"
