#!/bin/sh
# moe_calib.sh: `turboquant quantize` calibrating a mixture of experts per
# expert, end to end: the mixtral fixture given a byte-level tokenizer of
# its 256 ids, GPTQ from text; every expert linear's routed tokens in the
# text and JSON reports and state.json, the block's coverage line on
# stderr, the counts adding up to tokens x top-k, the experts short of
# their input width calibrated on all tokens; the state exports to GGUF;
# a resumed run gives the same bytes; a state.json whose counts lie is
# refused in one line.  TAP.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
tq=$top_builddir/turboquant
py=${TQ_PYTHON:-python3}
shared=${TQ_SHARED_DATA:-$top_srcdir/../shared/data}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$top_srcdir/tests/tap_lib.sh"

calib=$shared/wikitext2-valid.txt
[ -r "$calib" ] || skip_test "no $calib"
command -v "$py" >/dev/null 2>&1 || skip_test "no $py"

# The fixture's weights, and a GPT-2 byte-level tokenizer without merges:
# every byte one of the 256 ids.
m=$tmp/mixtral
mkdir -p "$m"
for f in config.json model.safetensors; do
	ln -s "$(cd "$top_srcdir/tests/data/models/mixtral" && pwd)/$f" "$m/$f"
done
"$py" "$top_srcdir/tests/byte_tokenizer.py" "$m/tokenizer.json"
ok $? "a byte-level tokenizer for the fixture"

# 4 windows of 32: 128 tokens, top-2 of 4 experts; the experts' linears
# have 64 columns, so some experts are short of them.
args="--method gptq --scheme q4_0 --calib $calib --samples 4 --seqlen 32"
"$tq" quantize "$m" $args --out "$tmp/st" --json >"$tmp/out.json" \
    2>"$tmp/err"
ok $? "GPTQ per expert from text: $(tail -n 1 "$tmp/err")"
"$py" - "$tmp/out.json" "$tmp/st/state.json" <<'EOF'
import json, sys
rep = json.load(open(sys.argv[1]))
st = json.load(open(sys.argv[2]))
layers = rep["layers"] if isinstance(rep, dict) else rep
saved = {l["name"]: l for l in st["layers"]}
sums, short, enough, bad = {}, 0, 0, []
for l in layers:
    exp = ".experts." in l["name"]
    if exp != ("routed" in l):
        bad.append(l["name"] + ": routed")
    if saved[l["name"]].get("routed") != l.get("routed") or \
            saved[l["name"]]["tokens"] != l["tokens"]:
        bad.append(l["name"] + ": state.json")
    if not exp:
        continue
    blk = l["name"].split(".")[2]
    if l["name"].endswith(".w1"):
        sums[blk] = sums.get(blk, 0) + l["routed"]
    want = 128 if l["routed"] < l["cols"] else l["routed"]
    if l["tokens"] != want:
        bad.append("%s: tokens %d routed %d" % (l["name"], l["tokens"],
                                               l["routed"]))
    short += l["tokens"] != l["routed"]
    enough += l["tokens"] == l["routed"]
if sums != {"0": 256, "1": 256}:
    bad.append("routed sums %r" % sums)
if short == 0 or enough == 0:
    bad.append("short %d, enough %d" % (short, enough))
print("%d expert linears on their routed tokens, %d on all; %s" %
      (enough, short, "; ".join(bad) or "consistent"))
sys.exit(1 if bad else 0)
EOF
ok $? "the JSON report and state.json: each expert's routed and used tokens"

"$tq" quantize "$m" $args --out "$tmp/st" --force >"$tmp/out.txt" \
    2>"$tmp/err"
grep -q '^model.layers.0: 128 tokens, top-2 of 4 experts: routed ' "$tmp/err"
ok $? "block 0's coverage line: $(grep '^model.layers.0: ' "$tmp/err")"
grep -q 'experts\.[0-3]\.w2 .* routed [0-9]*, calibrated on all tokens$' \
    "$tmp/out.txt" && grep -q 'experts\.[0-3]\.w1 .* routed [0-9]*$' \
    "$tmp/out.txt"
ok $? "the text report says which experts were calibrated on all tokens"

"$tq" export "$tmp/st" --format gguf --out "$tmp/m.gguf" >/dev/null 2>"$tmp/err"
ok $? "the state exports to GGUF: $(head -c 200 "$tmp/err")"

# A run stopped after block 0 (the fixture is too fast to kill: its state
# cut back to block 0) and resumed: block 0 replayed from its codes,
# block 1's experts routed and calibrated again, the same bytes.
cp -r "$tmp/st" "$tmp/cut"
rm "$tmp/cut/block-0001.safetensors" "$tmp/cut/head.safetensors"
"$py" - "$tmp/cut/state.json" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
st["blocks_done"] = 1
st["complete"] = False
st["layers"] = [l for l in st["layers"]
                if l["name"].startswith("model.layers.0.")]
json.dump(st, open(sys.argv[1], "w"))
EOF
"$tq" quantize "$m" $args --out "$tmp/cut" --resume >/dev/null 2>"$tmp/err"
ok $? "the cut state resumes: $(tail -n 1 "$tmp/err")"
same=0
for f in "$tmp"/st/*.safetensors; do
	cmp -s "$f" "$tmp/cut/$(basename "$f")" || same=1
done
"$py" - "$tmp/st/state.json" "$tmp/cut/state.json" <<'EOF' || same=1
import json, sys
a, b = (sorted((l["name"], l["tokens"], l.get("routed"))
               for l in json.load(open(p))["layers"]) for p in sys.argv[1:])
sys.exit(a != b)
EOF
ok $same "resumed and uninterrupted runs: the same tensors and counts"

"$py" - "$tmp/st/state.json" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
for l in st["layers"]:
    if "routed" in l:
        l["routed"] = 1e300
        break
json.dump(st, open(sys.argv[1], "w"))
EOF
expect_error "a state.json whose routed count is no count" \
    'is not a count of at most 128 calibration tokens' \
    "$tq" export "$tmp/st" --format gguf --out "$tmp/m2.gguf"

echo "1..$n"
