#!/usr/bin/env python3
"""Perplexity of quantized variants of a model, as a markdown table.

Usage (from the repository root, after building):
    python3 tools/quant_table.py [--model assets/demo] [--samples 128] [--seqlen 512]
    python3 tools/quant_table.py --new [--work DIR] [--threads 2]
    python3 tools/quant_table.py --iq [--work DIR] [--threads 2]

For fp16 and each variant (RTN, GPTQ and AWQ at W4 g128 and W3 g128, W8 per
channel, W8A8 with and without SmoothQuant, FP8 weight-only and with static
activation scales, NF4) it runs `turboquant quantize` calibrated on wikitext2-valid.txt, then
`turboquant eval` of the state on wikitext2-test.txt and linux-test.txt (GPTQ
protocol, the model's context), and prints one row per variant: bits per weight
of the quantized block linears (scales and zeros included), perplexity on each
text and the change against fp16.  Needs only the turboquant binary and the
corpora in ../shared/data; the table in the README is this script's output.

With --new it makes instead the demo's rows of the formats of 2025-2026
(IQ4_XS, IQ4_NL, MXFP4, NVFP4, and Q4_K_M beside them; ours and llama-quantize's,
without and with the same importance matrix), by running
tools/quant_table_smollm2.py on the demo with the demo as its float base:
the same calibration, windows, evaluator (`eval --protocol llamacpp`, mean
KLD against the base) and table; --work keeps its files.  Needs the pinned
llama.cpp build of tools/build-llamacpp.sh; run it with a Python that imports
gguf-py (the test venv's) to have files identical to llama-quantize's
recognized, as that script says.

With --iq, the same for the codebook i-quants (IQ3_S ... IQ1_S, which need
the importance matrix) beside Q3_K_M and Q2_K, ours and llama-quantize's
with it: tools/quant_table_smollm2.py --part iq on the demo.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

VARIANTS = [
    ("RTN W4 g128", ["--method", "rtn", "--bits", "4", "--group", "128"]),
    ("GPTQ W4 g128", ["--method", "gptq", "--bits", "4", "--group", "128"]),
    ("AWQ W4 g128", ["--method", "awq", "--bits", "4", "--group", "128"]),
    ("RTN W3 g128", ["--method", "rtn", "--bits", "3", "--group", "128"]),
    ("GPTQ W3 g128", ["--method", "gptq", "--bits", "3", "--group", "128"]),
    ("AWQ W3 g128", ["--method", "awq", "--bits", "3", "--group", "128"]),
    ("RTN W8 per channel", ["--method", "rtn", "--scheme", "int8-sym"]),
    ("GPTQ W8 per channel", ["--method", "gptq", "--scheme", "int8-sym"]),
    ("RTN W8A8 (int8 per-token activations)",
     ["--method", "rtn", "--scheme", "int8-sym", "--act-bits", "8"]),
    ("SmoothQuant W8A8 (alpha 0.5)", ["--method", "smoothquant", "--scheme", "int8-sym"]),
    ("RTN FP8 E4M3 per channel", ["--method", "rtn", "--scheme", "fp8-channel"]),
    ("RTN FP8 E4M3 W8A8 (static activation scales)",
     ["--method", "rtn", "--scheme", "fp8", "--act-bits", "8"]),
    ("RTN NF4 (blocks of 64)", ["--method", "rtn", "--scheme", "nf4"]),
]
TEXTS = ["wikitext2-test.txt", "linux-test.txt"]
# The rows --new makes (quant_table_smollm2.py's --only words): the new types'
# and Q4_K_M's RTN and importance-matrix rows, not its GPTQ rows.
NEW_ROWS = ["IQ4_XS", "IQ4_NL", "MXFP4", "NVFP4", "Q4_K_M (RTN", "Q4_K_M / ",
            "Q4_K_M + imatrix"]


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), out.stderr))
    return json.loads(out.stdout)


def new_types(a, args):
    """The demo's rows of the SmolLM2 table that ARGS select (--only or --part)."""
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "quant_table_smollm2.py"),
           "--tq", a.tq, "--gguf", a.model, "--data", a.data, "--threads", a.threads] + args
    if a.work:
        cmd += ["--work", a.work]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit("failed: %s" % " ".join(cmd))
    # the table without the rows not asked for, named after the demo
    for line in out.stdout.splitlines():
        if "| not run |" in line:
            continue
        line = re.sub(r"^SmolLM2-135M-Instruct;", "%s;" % a.model, line)
        print(line.replace("float base (Q4_1's weights, F32)", "float base (F32)"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tq", default="./turboquant")
    ap.add_argument("--model", default="assets/demo")
    ap.add_argument("--data", default=os.path.join("..", "shared", "data"))
    ap.add_argument("--samples", default="128")
    ap.add_argument("--seqlen", default="512")
    ap.add_argument("--only", default="",
                    help="comma-separated variant names to run (default: all)")
    ap.add_argument("--new", action="store_true",
                    help="the formats of 2025-2026 against llama.cpp instead (see above)")
    ap.add_argument("--iq", action="store_true",
                    help="the codebook i-quants against llama.cpp instead (see above)")
    ap.add_argument("--work", default=None, help="with --new or --iq: keep the files here")
    ap.add_argument("--threads", default="2", help="with --new or --iq: threads of each run")
    a = ap.parse_args()
    if a.new:
        return new_types(a, ["--only", ",".join(NEW_ROWS)])
    if a.iq:
        return new_types(a, ["--part", "iq"])
    only = [x.strip() for x in a.only.split(",") if x.strip()]
    unknown = [x for x in only if x not in [v[0] for v in VARIANTS]]
    if unknown:
        sys.exit("unknown variants: %s" % ", ".join(unknown))
    calib = ["--calib", os.path.join(a.data, "wikitext2-valid.txt"),
             "--samples", a.samples, "--seqlen", a.seqlen]
    rows = [("fp16", 16.0, [run([a.tq, "eval", a.model, "--text",
                                 os.path.join(a.data, t), "--json"])["ppl"] for t in TEXTS])]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, args) in enumerate(VARIANTS):
            if only and name not in only:
                continue
            out = os.path.join(tmp, str(i))
            rep = run([a.tq, "quantize", a.model] + args + calib + ["--out", out, "--json"])
            q = [l for l in rep["layers"] if l["method"] != "float"]
            bpw = sum(l["bpw"] * l["rows"] * l["cols"] for l in q) / sum(l["rows"] * l["cols"] for l in q)
            ppl = [run([a.tq, "eval", out, "--text", os.path.join(a.data, t), "--json"])["ppl"]
                   for t in TEXTS]
            rows.append((name, bpw, ppl))
            print("%s done" % name, file=sys.stderr)
    base = rows[0][2]
    print("| variant | bits/weight | %s | %s |" % tuple("`%s` ppl (Δ%%)" % t for t in TEXTS))
    print("| --- | ---: | ---: | ---: |")
    for name, bpw, ppl in rows:
        cells = ["%.2f" % p if name == "fp16" else "%.2f (%+.1f%%)" % (p, 100 * (p / b - 1))
                 for p, b in zip(ppl, base)]
        print("| %s | %.2f | %s | %s |" % (name, bpw, cells[0], cells[1]))


if __name__ == "__main__":
    main()
