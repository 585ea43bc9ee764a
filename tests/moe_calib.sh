#!/bin/sh
# moe_calib.sh: `turboquant quantize` calibrating a mixture of experts per
# expert, end to end: the mixtral fixture given a byte-level tokenizer of
# its 256 ids, GPTQ from text; every expert linear's routed tokens in the
# text and JSON reports and state.json, the block's coverage line on
# stderr, the counts adding up to tokens x top-k, the experts short of
# their input width calibrated on all tokens; the state exports to GGUF;
# a resumed run gives the same bytes; a state.json whose counts lie is
# refused in one line; calibrate reports each block's experts' tokens and
# writes them per expert into its importance matrix, which llama-quantize
# reads, and so does our GGUF export, to the same bytes (TQ_INTEROP=1).
# TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"

calib=$shared/wikitext2-valid.txt
[ -r "$calib" ] || skip_test "no $calib"
command -v "$py" >/dev/null 2>&1 || skip_test "no $py"

# The fixture's weights, and a GPT-2 byte-level tokenizer without merges:
# every byte one of the 256 ids.
m=$tmp/mixtral
moe_fixture mixtral "$m"
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

# calibrate: each routed block's experts' tokens, in text and JSON, and
# the importance matrix per expert (ffn_*_exps) as llama-imatrix writes it.
"$tq" calibrate "$m" --calib "$calib" --samples 4 --seqlen 32 \
    --imatrix "$tmp/moe.imatrix" >"$tmp/cal.txt" 2>"$tmp/err" &&
    grep -Eq '^0\.experts +4 experts, [0-9]+ \(#[0-3]\) to [0-9]+ \(#[0-3]\); ' \
    "$tmp/cal.txt" && ! grep -q '^0\.down_proj' "$tmp/cal.txt"
ok $? "calibrate's coverage: $(grep '^0\.experts' "$tmp/cal.txt")"
"$tq" calibrate "$m" --calib "$calib" --samples 4 --seqlen 32 --json \
    >"$tmp/cal.json" 2>"$tmp/err"
ok $? "calibrate --json $(head -c 200 "$tmp/err")"
if "$py" -c 'import gguf' 2>/dev/null; then
	"$py" - "$tmp/cal.json" "$tmp/moe.imatrix" <<'EOF'
import json, sys
import numpy as np
import gguf
ex = json.load(open(sys.argv[1]))["experts"]
r = gguf.GGUFReader(sys.argv[2])
t = {x.name: x for x in r.tensors}
bad = []
if [e["layer"] for e in ex] != [0, 1]:
    bad.append("layers %r" % [e["layer"] for e in ex])
for e in ex:
    b = e["layer"]
    if sum(e["tokens"]) != 256:
        bad.append("block %d: %d routed" % (b, sum(e["tokens"])))
    if "blk.%d.ffn_gate.weight.in_sum2" % b in t:
        bad.append("block %d: a dense ffn_gate entry" % b)
    for w in ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"):
        s2 = t.get("blk.%d.%s.weight.in_sum2" % (b, w))
        cn = t.get("blk.%d.%s.weight.counts" % (b, w))
        if s2 is None or cn is None or list(s2.shape) != [64, 4] or \
                list(cn.shape) != [1, 4] or \
                list(np.asarray(cn.data).ravel()) != e["tokens"] or \
                not np.all(np.asarray(s2.data).reshape(4, 64).sum(1)[
                    np.array(e["tokens"]) > 0] > 0):
            bad.append("block %d: %s" % (b, w))
print("# %s" % ("; ".join(bad) or "consistent"))
sys.exit(1 if bad else 0)
EOF
	ok $? "the importance matrix: ffn_*_exps [64 x 4] with the experts' tokens as counts"
else
	skip_check "$py cannot import gguf"
fi

# llama-quantize reads those entries: its Q4_0 experts differ with them.
if [ "${TQ_INTEROP:-0}" = 1 ]; then
	llamacpp_bin
	"$tq" export "$m" --format gguf --type f32 --out "$tmp/f32.gguf" \
	    >/dev/null 2>&1
	for im in none moe; do
		opt=
		[ $im = none ] || opt="--imatrix $tmp/moe.imatrix"
		LD_LIBRARY_PATH=$bin "$bin/llama-quantize" --pure $opt \
		    "$tmp/f32.gguf" "$tmp/q-$im.gguf" Q4_0 1 >"$tmp/q-$im.log" \
		    2>&1 || break
	done
	grep -q 'loaded 15 importance matrix entries' "$tmp/q-moe.log" &&
	    "$py" - "$tmp/q-none.gguf" "$tmp/q-moe.gguf" <<'EOF'
import sys
import numpy as np
import gguf
a, b = ({t.name: np.asarray(t.data).view(np.uint8).ravel()
         for t in gguf.GGUFReader(p).tensors} for p in sys.argv[1:3])
exps = [k for k in a if "_exps" in k]
diff = [k for k in exps if not np.array_equal(a[k], b[k])]
print("# %d of %d expert tensors differ" % (len(diff), len(exps)))
sys.exit(0 if exps and len(diff) == len(exps) else 1)
EOF
	ok $? "llama-quantize --imatrix loads our 15 entries and uses the experts' $(grep -i 'error\|mismatch' "$tmp/q-moe.log" | head -c 200)"
	# Our export reads them the same way, each expert its own row
	# (--type q4_0 is llama-quantize --pure's Q4_0).
	"$tq" export "$tmp/f32.gguf" --format gguf --type q4_0 \
	    --imatrix "$tmp/moe.imatrix" --out "$tmp/ours.gguf" >/dev/null \
	    2>"$tmp/err" && "$py" - "$tmp/ours.gguf" "$tmp/q-moe.gguf" <<'EOF'
import sys
import numpy as np
import gguf
a, b = ({t.name: t for t in gguf.GGUFReader(p).tensors}
        for p in sys.argv[1:3])
names = sorted(set(a) | set(b))
bad = [k for k in names if k not in a or k not in b or
       a[k].tensor_type != b[k].tensor_type or
       not np.array_equal(np.asarray(a[k].data).view(np.uint8).ravel(),
                          np.asarray(b[k].data).view(np.uint8).ravel())]
print("# %d tensors compared; differing: %s" % (len(names), bad[:4]))
sys.exit(1 if bad or len(names) != 23 else 0)
EOF
	ok $? "export --type q4_0 --imatrix equals llama-quantize --pure --imatrix Q4_0 byte for byte, experts included $(head -c 200 "$tmp/err")"
	# An entry may give all its experts one count (llama-imatrix merges
	# equal counts): every expert's sums over it, on both sides.
	"$py" - "$tmp/moe.imatrix" "$tmp/one.imatrix" <<'EOF'
import sys
import numpy as np
import gguf
r = gguf.GGUFReader(sys.argv[1])
w = gguf.GGUFWriter(sys.argv[2], arch="imatrix")
w.add_string("general.type", "imatrix")
w.add_array("imatrix.datasets", ["moe_calib"])
w.add_uint32("imatrix.chunk_count", 4)
w.add_uint32("imatrix.chunk_size", 32)
for t in r.tensors:
    a = np.asarray(t.data, dtype=np.float32).reshape(
        [int(x) for x in reversed(t.shape)])
    if "_exps" in t.name and t.name.endswith(".counts"):
        a = np.array([[50.0]], dtype=np.float32)
    w.add_tensor(t.name, a)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
EOF
	"$tq" export "$tmp/f32.gguf" --format gguf --type q4_0 \
	    --imatrix "$tmp/one.imatrix" --out "$tmp/ours1.gguf" >/dev/null \
	    2>"$tmp/err" &&
	    LD_LIBRARY_PATH=$bin "$bin/llama-quantize" --pure --imatrix \
	    "$tmp/one.imatrix" "$tmp/f32.gguf" "$tmp/ref1.gguf" Q4_0 1 \
	    >"$tmp/q1.log" 2>&1 && cmp -s "$tmp/ours1.gguf" "$tmp/ref1.gguf" ||
	    "$py" - "$tmp/ours1.gguf" "$tmp/ref1.gguf" <<'EOF'
import sys
import numpy as np
import gguf
a, b = ({t.name: np.asarray(t.data).view(np.uint8).ravel()
         for t in gguf.GGUFReader(p).tensors} for p in sys.argv[1:3])
bad = [k for k in set(a) | set(b) if k not in a or k not in b or
       not np.array_equal(a[k], b[k])]
print("# %d tensors; differing: %s" % (len(a), sorted(bad)[:4]))
sys.exit(1 if bad or len(a) != 23 else 0)
EOF
	ok $? "one count for all of an entry's experts: the same bytes as llama-quantize's $(head -c 200 "$tmp/err")"
fi

# gpt_oss's sinks, biases and clamped SwiGLU are GGUF's only: the others
# refuse it in one line (the mixtral exports above are not its)
for f in mlx gptq compressed-tensors; do
	"$tq" export --format $f "$top_srcdir/tests/data/models/gpt_oss" \
	    --out "$tmp/gx-$f" 2>"$tmp/err"
	rc=$?
	[ $rc -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
	    grep -q "export of a gpt_oss model to $f is not implemented" \
	    "$tmp/err" && [ ! -e "$tmp/gx-$f" ]
	ok $? "gpt_oss to $f: refused ($(cat "$tmp/err"))"
done

echo "1..$n"
