#!/bin/sh
# imatrix.sh: `turboquant calibrate --imatrix` writes the importance-matrix
# GGUF llama.cpp reads: checked with the real gguf package (gguf-py) against
# the statistics calibrate reports.  TAP; skipped without gguf-py
# (a failure under runtests.sh, TQ_STRICT=1).
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"

need_py 'gguf, numpy'
if ! "$top_builddir/turboquant" calibrate --calib "$shared/wikitext2-valid.txt" \
    --samples 6 --seqlen 96 --imatrix "$tmp/imatrix.gguf" --json \
    >"$tmp/calib.json" 2>"$tmp/err"; then
	echo "1..1"
	echo "not ok 1 - calibrate --imatrix: $(cat "$tmp/err")"
	exit 0
fi
"$py" - "$tmp/imatrix.gguf" "$tmp/calib.json" <<'PY'
import json, sys
import numpy as np
import gguf

r = gguf.GGUFReader(sys.argv[1])
cal = json.load(open(sys.argv[2]))
n = 0
def ok(cond, what):
    global n
    n += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, what))

f = r.fields
def s(name):
    fl = f[name]
    return bytes(fl.parts[fl.data[0]]).decode()
ok(s("general.type") == "imatrix", "general.type is imatrix")
ok("general.architecture" not in f, "no general.architecture, as llama-imatrix writes")
ok(int(f["imatrix.chunk_count"].parts[-1][0]) == 6 and
   int(f["imatrix.chunk_size"].parts[-1][0]) == 96, "chunk count and size")
t = {x.name: x for x in r.tensors}
layers = 4
want = set()
for i in range(layers):
    for w in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
        want.add("blk.%d.%s.weight" % (i, w))
want.add("output.weight")
got = {k.rsplit(".", 1)[0] for k in t}
ok(got == want, "one in_sum2/counts pair per weight (%d weights)" % len(got))
names = []
for x in r.tensors:
    w = x.name.rsplit(".", 1)[0]
    if not names or names[-1] != w:
        names.append(w)
ok(names == sorted(names) and len(names) == len(want), "weights in name order, in_sum2 and counts together")
ok(all(float(t[w + ".counts"].data.ravel()[0]) == 6 * 96 for w in want),
   "counts = tokens seen (576)")
ok(np.array_equal(t["blk.1.attn_q.weight.in_sum2"].data, t["blk.1.attn_v.weight.in_sum2"].data),
   "q, k and v share their input's statistics")
site = {("q_proj"): "attn_q", "o_proj": "attn_output", "gate_proj": "ffn_gate",
        "down_proj": "ffn_down", "lm_head": None}
worst = 0.0
for e in cal["sites"]:
    w = "output.weight" if e["layer"] < 0 else "blk.%d.%s.weight" % (e["layer"], site[e["input_of"]])
    imat = t[w + ".in_sum2"].data.ravel() / t[w + ".counts"].data.ravel()[0]
    ok_shape = imat.size == e["channels"]
    rel = abs(float(imat.mean()) - e["mean_sq"]) / e["mean_sq"]
    worst = max(worst, rel if ok_shape else 1.0)
ok(worst < 1e-5, "in_sum2 / counts averages to calibrate's mean x^2 (worst rel. diff %.2g)" % worst)
print("1..%d" % n)
PY
