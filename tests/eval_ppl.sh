#!/bin/sh
# eval_ppl.sh: `turboquant eval` on the demo model against the perplexity
# transformers computes by the same protocol (tests/data/demo_ppl.json, made
# by tools/ref_perplexity.py): within 0.1%, with the same token count.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
ref=$top_srcdir/tests/data/demo_ppl.json

"$py" -c 'import json' 2>/dev/null || skip_test "no python to read $ref"
"$py" - "$ref" "$top_builddir/turboquant" "$top_srcdir/assets/demo" \
    "$shared" "$tmp" <<'PY'
import json, subprocess, sys
ref_path, tq, demo, shared, tmp = sys.argv[1:]
ref = json.load(open(ref_path))
results = ref["results"]
print("1..%d" % (2 * len(results)))
n = 0
for r in results:
    out = subprocess.run([tq, "eval", demo, "--text", shared + "/" + r["file"],
                          "--ctx", str(r["ctx"]), "--json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        n += 1; print("not ok %d - eval %s: %s" % (n, r["file"], out.stderr.strip()))
        n += 1; print("not ok %d - eval %s: no result" % (n, r["file"]))
        continue
    ours = json.loads(out.stdout)
    n += 1
    same = ours["n_tokens"] == r["n_tokens"] and ours["n_windows"] == r["n_windows"]
    print("%s %d - %s: %d tokens, %d windows (transformers: %d, %d)" % (
        "ok" if same else "not ok", n, r["file"], ours["n_tokens"],
        ours["n_windows"], r["n_tokens"], r["n_windows"]))
    rel = abs(ours["ppl"] - r["ppl"]) / r["ppl"]
    n += 1
    print("%s %d - %s: ppl %.4f vs transformers %.4f (rel. diff %.2e, limit 1e-3)" % (
        "ok" if rel <= 1e-3 else "not ok", n, r["file"], ours["ppl"], r["ppl"], rel))
PY
