#!/usr/bin/env python3
"""quality_table.py: bench/quality.sh's integer table from its work directory.

Usage: python3 bench/quality_table.py MODEL WORK_DIR SAMPLES BITS...

Reads WORK_DIR/eval-wikitext2-test-wB.json and eval-linux-test-wB.json for each width B
(`turboquant eval BASE --compare ... --json`) and each peer directory's peer.json, and prints
one markdown row per variant: who made it, bits per weight (ours as our evaluator counts
them; a peer's, whose float checkpoint is what is evaluated, those of its grid: B bits, and a
16-bit scale and a B-bit zero point per group, as ours and as its own export stores them),
mean KLD against the float base and same top token on each text, perplexity and its change.  Then, per width and
text, each of our methods against each peer: the ratio of mean KLDs (ours / theirs; above 1
we lose) and the difference in same top token (ours - theirs, in points).  Standard library
only.
"""
import json
import os
import sys


def who(path):
    """(row label, made by, short name) of a variant directory."""
    name = os.path.basename(path.rstrip("/"))
    if name == "base-hf":
        return "float base, as a Hugging Face directory (check: KLD ~0)", "", "base"
    pj = os.path.join(path, "peer.json")
    if os.path.exists(pj):
        p = json.load(open(pj))
        s = p["settings"]
        how = "%s %s" % (p["peer"], p["peer_version"])
        if p["peer"] == "AutoRound":
            how += " (iters %d, batch %d)" % (s["iters"], s["batch_size"])
        method = "GPTQ" if p["peer"] == "GPTQModel" else "AutoRound"
        return "%s W%d g%d" % (method, s["bits"], s["group_size"]), how, p["peer"]
    # ours-METHOD-wB (default: the w4-gptq/w3-gptq presets' calibrated default)
    parts = name.split("-")
    if len(parts) == 3 and parts[0] == "ours":
        meth = {"default": "default (AWQ scales + GPTQ)"}.get(parts[1], parts[1].upper())
        return ("%s %s g64" % (meth, parts[2].upper()), "TurboQuant", "our " + meth)
    return name, "", ""


def load(work, text, b):
    f = os.path.join(work, "eval-%s-w%s.json" % (text, b))
    if not os.path.exists(f):
        sys.exit("quality_table.py: %s: missing (bench/quality.sh makes it)" % f)
    return json.load(open(f))


def main():
    if len(sys.argv) < 5:
        sys.exit("usage: quality_table.py MODEL WORK_DIR SAMPLES BITS...")
    model, work, samples = sys.argv[1], sys.argv[2], int(sys.argv[3])
    bits = sys.argv[4:]
    ev = {b: (load(work, "wikitext2-test", b), load(work, "linux-test", b)) for b in bits}
    w0, l0 = ev[bits[0]]
    print("### Integer %s, groups of 64, %s\n"
          % (" and ".join("W" + b for b in bits), model))
    print("Calibration: the same %d windows of 512 tokens of wikitext2-valid.txt for every "
          "method (`turboquant calibrate --out`'s ids). Evaluation: `turboquant eval "
          "--compare`, llamacpp protocol, ctx 512, %d windows of wikitext2-test.txt and %d "
          "of linux-test.txt; KLD against the float base. A peer's result is evaluated "
          "as a float checkpoint of its own dequantized weights; its bits/weight are its "
          "grid's, the same as ours.\n"
          % (samples, w0["n_windows"], l0["n_windows"]))
    print("| variant | made by | bits/weight | wikitext2 KLD | wikitext2 same top % "
          "| wikitext2 ppl (Δ%) | linux KLD | linux same top % | linux ppl (Δ%) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("| float base | | | | | %.3f | | | %.3f |"
          % (w0["base"]["ppl"], l0["base"]["ppl"]))
    rows = {}
    for b in bits:
        w, l = ev[b]
        if (w["base"]["ppl"], l["base"]["ppl"]) != (w0["base"]["ppl"], l0["base"]["ppl"]):
            sys.exit("quality_table.py: %s: the W%s evaluations saw another base "
                     "(perplexity differs)" % (work, b))
        by_path = {v["path"]: v for v in l["variants"]}
        for v in w["variants"]:
            u = by_path[v["path"]]
            label, how, short = who(v["path"])
            bpw = "%.2f" % v["bpw"]
            if short == "base":
                bpw, short = "", ""
            elif short and not short.startswith("our "):
                s = json.load(open(os.path.join(v["path"], "peer.json")))["settings"]
                bpw = "%.2f" % (s["bits"] + (16.0 + s["bits"]) / s["group_size"])
            print("| %s | %s | %s | %.5f | %.2f | %.3f (%+.1f%%) | %.5f | %.2f "
                  "| %.3f (%+.1f%%) |"
                  % (label, how, bpw, v["kld"]["kld"], 100 * v["kld"]["same_top"],
                     v["ppl"], v["delta_pct"], u["kld"]["kld"], 100 * u["kld"]["same_top"],
                     u["ppl"], u["delta_pct"]))
            if short:
                rows[(b, short)] = (v["kld"], u["kld"])
    print()
    ours = sorted({s for (_, s) in rows if s.startswith("our ")})
    peers = sorted({s for (_, s) in rows if not s.startswith("our ")})
    if not ours or not peers:
        return
    print("Ours against the peers: mean KLD ratio (ours / theirs; above 1.00 we lose) and "
          "same top token difference (ours - theirs, points).\n")
    print("| width | ours | against | wikitext2 KLD ratio | wikitext2 same top | "
          "linux KLD ratio | linux same top |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for b in bits:
        for o in ours:
            for p in peers:
                if (b, o) not in rows or (b, p) not in rows:
                    continue
                (ow, ol), (pw, pl) = rows[(b, o)], rows[(b, p)]
                print("| W%s | %s | %s | %.2f | %+.2f | %.2f | %+.2f |"
                      % (b, o, p, ow["kld"] / pw["kld"],
                         100 * (ow["same_top"] - pw["same_top"]),
                         ol["kld"] / pl["kld"], 100 * (ol["same_top"] - pl["same_top"])))
    print()


if __name__ == "__main__":
    main()
