"""gguf_llamacpp.py: llama.cpp loads our GGUF exports and computes what we do.

For the demo model and every fixture architecture (tests/data/models/*;
qwen3_moe, which llama.cpp's qwen3moe cannot run, is checked to be refused):

  - the F32 export of the float model: llama.cpp's logits on fixed tokens
    against ours (tests/model_dump), max |difference| <= 1e-3 x max |logit|
    (phi3: ours of the GGUF, which attends past the window as llama.cpp);
  - states quantized with the q4_k_m, q8_0 and q3_k_m presets (RTN) and
    exported with their own blocks: llama.cpp loads them and its logits on
    the same tokens are close to our evaluation of the exported file, which
    has the state's weights bit for bit and rounds each matmul's input to 8
    bits as llama.cpp's quantized dot products do (and a gemma's GELU to
    llama.cpp's fp16 table) (5e-2 x max |logit|: its
    f16 KV cache and float order remain; the mixtures of experts' with K
    and V in f32, which leaves nothing: their routing amplifies the f16
    cache's rounding); against the state itself, whose
    activations are not rounded, a tied qwen3 at q3_k_m differs by 5.9e-2);
  - gpt_oss (from its float fixture given a byte-level tokenizer): the
    same perplexity check on 4096 tokens in windows of 64, against our
    evaluation of the exported file;
  - the demo's quantized exports: perplexity by llama.cpp on the same
    windows of our tokens of wikitext2-test.txt (GPTQ protocol, ctx 512:
    every position after the first of a window predicted) within 0.5% of
    `turboquant eval` of the state.

TAP on stdout.  Needs the llama_cpp bindings with LLAMA_CPP_LIB_PATH set
(tools/build-llamacpp.sh).
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

from llama_cpp import Llama

from interop import Tap, run


def our_logits(dump, model, ids, tmp):
    out = os.path.join(tmp, "logits.f32")
    run([dump, "logits", model, out] + [str(i) for i in ids])
    return np.fromfile(out, dtype=np.float32).reshape(len(ids), -1)


def llama_logits(path, ids, n_ctx=64, f32_kv=False):
    kv = dict(type_k=0, type_v=0) if f32_kv else {}  # GGML_TYPE_F32
    llm = Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx,
                logits_all=True, verbose=False, n_threads=2, **kv)
    llm.eval(ids)
    lg = np.array(llm.scores[:len(ids)], dtype=np.float32)
    del llm
    return lg


def llama_ppl(path, ids, ctx):
    """GPTQ protocol on ids: windows of ctx, tail dropped."""
    llm = Llama(model_path=path, n_ctx=ctx, n_batch=ctx, n_ubatch=ctx,
                logits_all=True, verbose=False, n_threads=2)
    nll, n = 0.0, 0
    for w in range(len(ids) // ctx):
        win = ids[w * ctx:(w + 1) * ctx]
        llm.reset()
        llm.eval(win)
        lg = np.array(llm.scores[:ctx], dtype=np.float64)
        lg -= lg.max(axis=1, keepdims=True)
        lse = np.log(np.exp(lg).sum(axis=1))
        tgt = np.array(win[1:])
        nll += float((lse[:-1] - lg[np.arange(ctx - 1), tgt]).sum())
        n += ctx - 1
    del llm
    return float(np.exp(nll / n)), n


def check_oss_ppl(a, tap, model, preset, text, tmp):
    """The gpt_oss fixture given a byte-level tokenizer (its 256 ids),
    quantized with preset and exported: llama.cpp's perplexity (its f16
    cache) on the same windows of 64 of our tokens of the text within
    0.5% of `turboquant eval` of the exported file, which rounds each
    matmul's input as llama.cpp does (the state itself, unrounded, is
    0.3-0.8% off: the clamped experts amplify the rounding)."""
    m = os.path.join(tmp, "gpt_oss-bytes")
    if not os.path.isdir(m):
        os.makedirs(m)
        for f in ("config.json", "model.safetensors"):
            os.symlink(os.path.abspath(os.path.join(model, f)),
                       os.path.join(m, f))
        run([sys.executable, os.path.join(a.srcdir, "tests",
                                          "byte_tokenizer.py"),
             os.path.join(m, "tokenizer.json")])
    st = os.path.join(tmp, "gpt_oss-bytes-%s.state" % preset)
    gg = os.path.join(tmp, "gpt_oss-bytes-%s.gguf" % preset)
    run([a.tq, "quantize", m, "--preset", preset, "--out", st])
    run([a.tq, "export", st, "--format", "gguf", "--out", gg])
    toks = json.loads(run([a.tq, "tokenize", m, "--text", text,
                           "--no-special", "--json"]))["ids"][:4096]
    ev = json.loads(run([a.tq, "eval", gg, "--text", text, "--ctx", "64",
                         "--max-tokens", "4096", "--json"]))
    ppl, n = llama_ppl(gg, toks, 64)
    rel = abs(ppl - ev["ppl"]) / ev["ppl"]
    tap.ok(rel <= 0.005 and n == ev["n_scored"],
           "gpt_oss %s: llama.cpp perplexity within 0.5%% of ours" % preset,
           "llama.cpp %.4f, ours %.4f (%+.3f%%), %d predicted tokens (ours "
           "%d)" % (ppl, ev["ppl"], 100 * (ppl - ev["ppl"]) / ev["ppl"], n,
                    ev["n_scored"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tq", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--extra", type=int, default=0,
                    help="tests the caller adds after ours")
    ap.add_argument("--lines", type=int, default=600,
                    help="lines of the text for the perplexity check")
    a = ap.parse_args()
    tap = Tap()

    models = [os.path.join(a.srcdir, "assets/demo")]
    fx = os.path.join(a.srcdir, "tests/data/models")
    models += [os.path.join(fx, d) for d in sorted(os.listdir(fx))]
    presets = ["q4_k_m", "q8_0", "q3_k_m"]
    # What llama.cpp's graph cannot run is refused in one line, checked
    # instead: qwen3_moe's dense layer 0 and unrenormalised top-k weights
    # (its qwen3moe routes every layer and renormalises).
    refused = {"qwen3_moe": "llama.cpp's qwen3moe routes every layer"}
    # the demo's and the gpt_oss fixture's perplexity checks
    print("1..%d" % (len(models) * (1 + len(presets)) + 2 * len(presets) -
                     len(presets) * len(refused) + a.extra))

    with tempfile.TemporaryDirectory() as tmp:
        # The evaluation text: a prefix of the file, tokenized by us once.
        text = os.path.join(tmp, "text.txt")
        with open(a.text, encoding="utf-8") as f:
            lines = f.readlines()[:a.lines]
        with open(text, "w", encoding="utf-8") as f:
            f.writelines(lines)
        for model in models:
            name = os.path.basename(model)
            cfg = json.load(open(os.path.join(model, "config.json")))
            V = cfg["vocab_size"]
            # Short enough for every fixture's context and sliding window
            # (llama.cpp's llama has none); the gemmas and gpt_oss slide in
            # llama.cpp too, so theirs run past their window of 16.
            gemma = cfg["model_type"].startswith("gemma")
            # phi3: llama.cpp picks longrope's long factors by its context
            # (n_ctx_seq, padded to 256) against the original 32, we by the
            # sequence, so 40 tokens take them on both sides; its phi3
            # attends past the window, as our reading of its GGUF does
            # (tests/gguf_export.py: that reading is the checkpoint's
            # within the window), so the f32 check compares with that.
            phi3 = cfg["model_type"] == "phi3"
            # gpt_oss with YaRN's truncate false: llama.cpp's ramp ends on
            # whole dimensions, as our reading of the GGUF does (and
            # tests/gguf_export.py: that reading is the checkpoint's with
            # truncate true), so the f32 check compares with that too.
            oss = (cfg.get("rope_scaling") or {}).get("truncate") is False
            n = 40 if gemma or phi3 or cfg["model_type"] == "gpt_oss" else 12
            ids = [int(x) for x in
                   np.random.default_rng(7).integers(0, V, size=n)]
            f32 = os.path.join(tmp, name + "-f32.gguf")
            if name in refused:
                try:
                    run([a.tq, "export", model, "--format", "gguf", "--type",
                         "f32", "--out", f32])
                    why = "exported"
                except RuntimeError as e:
                    why = str(e).split(": ", 1)[-1]
                tap.ok(refused[name] in why and "\n" not in why,
                       "%s: the GGUF export is refused in one line" % name,
                       why)
                continue
            run([a.tq, "export", model, "--format", "gguf", "--type", "f32",
                 "--out", f32])
            ours = our_logits(a.dump, f32 if phi3 or oss else model, ids,
                              tmp)
            # The gemmas' f32 check keeps K and V in f32: with (1 + w)
            # QK-norm and post-norms, an f16 cache alone moves gemma3's
            # logits by 1.1e-3 x max (llama.cpp's fp16 GELU table, 5e-4,
            # is what remains).
            # phi3's too: with an f16 cache its logits move by 8e-4 x max
            # (7e-7 in f32).
            # The mixtures of experts' too: an f16 cache moves mixtral's
            # logits by 8.6e-4 x max (1.7e-6 in f32).
            moe = "num_experts" in cfg or "num_local_experts" in cfg
            theirs = llama_logits(f32, ids, f32_kv=gemma or phi3 or moe)
            d = float(np.abs(ours - theirs).max())
            top = float(np.abs(ours).max())
            tap.ok(d <= 1e-3 * top, "%s f32: llama.cpp logits match ours" % name,
               "max |diff| %.3g, max |logit| %.3g, ratio %.2e" %
               (d, top, d / top))
            for p in presets:
                st = os.path.join(tmp, "%s-%s.state" % (name, p))
                gg = os.path.join(tmp, "%s-%s.gguf" % (name, p))
                run([a.tq, "quantize", model, "--preset", p, "--out", st])
                rep = json.loads(run([a.tq, "export", st, "--format", "gguf",
                                      "--out", gg, "--json"]))
                # Our reading of the file rounds each matmul's input as
                # llama.cpp's kernels do (its weights are the state's: see
                # tests/gguf_export.py), so what is left is llama.cpp's own
                # float rounding.
                ours = our_logits(a.dump, gg, ids, tmp)
                # The mixtures of experts': with K and V in f32 llama.cpp
                # computes our logits of the file exactly; its f16 cache
                # alone moves them by up to 6.7e-2 of the largest
                # (mixtral, Q3_K_M) and 0.47 (gpt_oss, whose clamped
                # experts amplify it) once a token's top-2 changes.
                theirs = llama_logits(gg, ids, f32_kv=moe)
                d = float(np.abs(ours - theirs).max())
                top = float(np.abs(ours).max())
                tap.ok(d <= 5e-2 * top, "%s %s: llama.cpp loads the export, "
                   "logits close to ours" % (name, p),
                   "max |diff| %.3g, max |logit| %.3g, ratio %.2e, %.3f bpw"
                   % (d, top, d / top, rep["bpw"]))
                if name == "gpt_oss":
                    check_oss_ppl(a, tap, model, p, text, tmp)
                if name != "demo":
                    continue
                toks = json.loads(run([a.tq, "tokenize", model, "--text",
                                       text, "--no-special", "--json"]))
                ev = json.loads(run([a.tq, "eval", st, "--text", text,
                                     "--ctx", "512", "--json"]))
                ppl, n = llama_ppl(gg, toks["ids"], 512)
                rel = abs(ppl - ev["ppl"]) / ev["ppl"]
                tap.ok(rel <= 0.005 and n == ev["n_scored"],
                   "demo %s: llama.cpp perplexity within 0.5%% of ours" % p,
                   "llama.cpp %.4f, ours %.4f (%+.3f%%), %d predicted "
                   "tokens (ours %d)" % (ppl, ev["ppl"], 100 * (ppl - ev["ppl"])
                                         / ev["ppl"], n, ev["n_scored"]))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
