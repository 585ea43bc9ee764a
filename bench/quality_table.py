#!/usr/bin/env python3
"""quality_table.py: bench/quality.sh's integer table from its work directory.

Usage: python3 bench/quality_table.py MODEL WORK_DIR SAMPLES

Reads WORK_DIR/eval-wikitext2-test.json and eval-linux-test.json (`turboquant eval BASE
--compare ... --json`) and each peer directory's peer.json, and prints one markdown row per
variant: who made it, bits per weight as our evaluator counts them (a peer's float
checkpoint counts 32: its codes are not what is evaluated), mean KLD against the float
base and same top token on each text, perplexity and its change.  Standard library only.
"""
import json
import os
import sys


def who(path):
    name = os.path.basename(path.rstrip("/"))
    if name == "base-hf":
        return "float base, as a Hugging Face directory (check: KLD ~0)", ""
    pj = os.path.join(path, "peer.json")
    if os.path.exists(pj):
        p = json.load(open(pj))
        s = p["settings"]
        how = "%s %s" % (p["peer"], p["peer_version"])
        if p["peer"] == "AutoRound":
            how += " (iters %d, batch %d)" % (s["iters"], s["batch_size"])
        return "%s W%d g%d" % ("GPTQ" if p["peer"] == "GPTQModel" else "AutoRound",
                               s["bits"], s["group_size"]), how
    # ours-METHOD-wB
    parts = name.split("-")
    if len(parts) == 3 and parts[0] == "ours":
        return "%s %s g64" % (parts[1].upper(), parts[2].upper()), "TurboQuant"
    return name, ""


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: quality_table.py MODEL WORK_DIR SAMPLES")
    model, work, samples = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ev = {}
    for t in ("wikitext2-test", "linux-test"):
        f = os.path.join(work, "eval-%s.json" % t)
        if not os.path.exists(f):
            sys.exit("quality_table.py: %s: missing (bench/quality.sh makes it)" % f)
        ev[t] = json.load(open(f))
    w, l = ev["wikitext2-test"], ev["linux-test"]
    print("### Integer W4 and W3, groups of 64, %s\n" % model)
    print("Calibration: the same %d windows of 512 tokens of wikitext2-valid.txt for every "
          "method (`turboquant calibrate --out`'s ids). Evaluation: `turboquant eval "
          "--compare`, llamacpp protocol, ctx 512, %d windows of wikitext2-test.txt and %d "
          "of linux-test.txt; KLD against the float base.\n"
          % (samples, w["n_windows"], l["n_windows"]))
    print("| variant | made by | bits/weight | wikitext2 KLD | wikitext2 same top % "
          "| wikitext2 ppl (Δ%) | linux KLD | linux same top % | linux ppl (Δ%) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("| float base | | | | | %.3f | | | %.3f |"
          % (w["base"]["ppl"], l["base"]["ppl"]))
    by_path = {v["path"]: v for v in l["variants"]}
    for v in w["variants"]:
        u = by_path[v["path"]]
        label, how = who(v["path"])
        print("| %s | %s | %.2f | %.5f | %.2f | %.3f (%+.1f%%) | %.5f | %.2f | %.3f (%+.1f%%) |"
              % (label, how, v["bpw"], v["kld"]["kld"], 100 * v["kld"]["same_top"],
                 v["ppl"], v["delta_pct"], u["kld"]["kld"], 100 * u["kld"]["same_top"],
                 u["ppl"], u["delta_pct"]))
    print()


if __name__ == "__main__":
    main()
