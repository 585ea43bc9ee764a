#!/usr/bin/env python3
"""Reference perplexity of the demo model, computed with transformers (GPTQ-paper protocol).

Usage (from the repository root, after tools/train_demo.py has produced assets/demo):

    "$PYTHON" tools/ref_perplexity.py [--model assets/demo] [--ctx 512] [--batch 8]
                                      [--data ../shared/data] [--out tests/data/demo_ppl.json]
                                      [FILE ...]           # default: wikitext2-test.txt linux-test.txt

Protocol, per FILE (read as UTF-8 from --data):
  * the whole file is tokenized ONCE with the model's fast tokenizer (tokenizer.json via
    AutoTokenizer), add_special_tokens=False (no BOS anywhere);
  * n_windows = n_tokens // ctx non-overlapping windows [w*ctx, (w+1)*ctx); the tail is dropped;
    no per-window BOS;
  * each window is one forward pass (model loaded with torch_dtype=float32,
    attn_implementation="eager", no attention mask); per window the NLL is the cross entropy of
    logits[:-1] against ids[1:] (ctx-1 predictions) in fp32;
  * mean_nll = mean over every predicted position of every window (= mean of the per-window
    means, since all windows have ctx-1 predictions); ppl = exp(mean_nll).
Windows are batched (--batch) for speed; that does not change the maths.

Output (JSON): {"model", "results": [{"file", "ctx", "n_bytes", "n_tokens", "n_windows",
"n_predicted", "mean_nll", "ppl", "first_ids", "ids_sha256"}...], "protocol", "source"}.
"n_tokens", "first_ids" (first 64 ids) and "ids_sha256" (SHA-256 of all ids as little-endian
int32) let the C tokenizer cross-check its tokenization of the same file.
"""

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(2)
os.environ.setdefault("RAYON_NUM_THREADS", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402


def evaluate(model, ids, ctx, batch):
    n_windows = len(ids) // ctx
    data = torch.tensor(ids[: n_windows * ctx], dtype=torch.long).view(n_windows, ctx)
    total = 0.0
    window_means = []
    for b0 in range(0, n_windows, batch):
        x = data[b0: b0 + batch]
        with torch.no_grad():
            logits = model(input_ids=x).logits.float()
        ce = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="none"
        ).view(x.shape[0], ctx - 1)
        for row in ce.double():
            window_means.append(row.mean().item())
            total += row.sum().item()
    n_pred = n_windows * (ctx - 1)
    return n_windows, n_pred, total / n_pred, window_means


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", default=["wikitext2-test.txt", "linux-test.txt"])
    ap.add_argument("--model", default="assets/demo")
    ap.add_argument("--ctx", type=int, default=None, help="window length (default: max_position_embeddings)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--data", default=os.path.join("..", "shared", "data"))
    ap.add_argument("--out", default="tests/data/demo_ppl.json")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()

    tok = AutoTokenizer.from_pretrained(args.model)
    assert tok.is_fast
    model = AutoModelForCausalLM.from_pretrained(
        args.model, torch_dtype=torch.float32, attn_implementation="eager"
    ).eval()
    ctx = args.ctx or model.config.max_position_embeddings

    results = []
    for fn in args.files:
        t0 = time.time()
        with open(os.path.join(args.data, fn), encoding="utf-8") as f:
            text = f.read()
        ids = tok(text, add_special_tokens=False)["input_ids"]
        n_windows, n_pred, mean_nll, wm = evaluate(model, ids, ctx, args.batch)
        r = {
            "file": fn,
            "ctx": ctx,
            "n_bytes": len(text.encode("utf-8")),
            "n_tokens": len(ids),
            "n_windows": n_windows,
            "n_predicted": n_pred,
            "mean_nll": mean_nll,
            "ppl": math.exp(mean_nll),
            "first_ids": ids[:64],
            "ids_sha256": hashlib.sha256(np.asarray(ids, dtype="<i4").tobytes()).hexdigest(),
        }
        results.append(r)
        print(
            f"{fn}: {r['n_tokens']} tokens, {n_windows} windows of {ctx}, mean NLL {mean_nll:.6f}, "
            f"ppl {r['ppl']:.4f} (window NLL min {min(wm):.3f} max {max(wm):.3f}) [{time.time() - t0:.0f} s]",
            flush=True,
        )

    out = {
        "model": args.model,
        "results": results,
        "protocol": "GPTQ-style: whole file tokenized once (fast tokenizer, add_special_tokens=False); "
        "non-overlapping windows of ctx tokens, tail dropped, no BOS; per window CE(logits[:-1], ids[1:]) "
        "in fp32 (model loaded as float32, eager attention); ppl = exp(mean NLL over all predicted positions)",
        "source": f"transformers {transformers.__version__} / torch {torch.__version__}",
    }
    text = json.dumps(out, indent=1)
    # keep integer lists (first_ids) on one line
    text = re.sub(r"\[\s*([0-9,\s]+?)\s*\]", lambda m: "[" + ",".join(m.group(1).split()).replace(",,", ",") + "]", text)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    json.load(open(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
