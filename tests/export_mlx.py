"""export_mlx.py: mlx-lm (CPU) loads our MLX exports and computes our logits.

Run by tests/export_mlx.sh with the python of tools/install-mlx.sh.  For
each state it exports with `turboquant export --format mlx` (tests/mlx_dump
for the sharded case, which lowers the shard size), loads the directory
with mlx_lm.load, and checks (TAP lines, unnumbered; the caller prints the plan):

  - the tokenizer mlx-lm loads gives our token ids on a wikitext snippet;
  - every quantized layer is an MLX quantized module, and mx.dequantize of
    it (in float32) equals our dequantized weight exactly
    (re-quantized exports: its SQNR against ours is the worst the warning
    reports);
  - the logits on those tokens, with the model cast to float32, match our
    fp32 forward pass within 1e-4 of the largest |logit| and with the same
    argmax everywhere; in the checkpoint's own dtype within 1e-2.
"""
import argparse
import json
import os
import re
import subprocess
import sys

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm import load

n_fail = 0


def ok(cond, desc):
    global n_fail
    print(("ok - " if cond else "not ok - ") + desc, flush=True)
    if not cond:
        n_fail += 1
    return cond


def diag(msg):
    print("# " + msg, flush=True)


def export(args, state, out, typ=None, shard_bytes=None):
    """turboquant export (mlx_dump for a lowered shard size); the report."""
    model = args.model if state == "-" else state
    if shard_bytes is None:
        cmd = [args.turboquant, "export", model, "--format", "mlx",
               "--out", out, "--json"] + (["--type", typ] if typ else [])
        env = None
    else:
        cmd = [args.dump, "export", args.model, state, out] + \
            ([typ] if typ else [])
        env = dict(os.environ, MLX_DUMP_SHARD_BYTES=str(shard_bytes))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError("export failed: " + p.stderr.strip())
    if shard_bytes is None:
        rep = json.loads(p.stdout)
        rep["warning"] = rep["warning"] or ""
        return rep
    return dict(line.split(" ", 1) for line in p.stdout.splitlines())


def our_logits(args, state, ids):
    path = os.path.join(args.work, "ours.f32")
    subprocess.run([args.dump, "logits", args.model, state,
                    ",".join(map(str, ids)), path], check=True)
    return np.fromfile(path, np.float32).reshape(len(ids), -1)


def our_dequant(args, state):
    path = os.path.join(args.work, "ours.safetensors")
    subprocess.run([args.dump, "dequant", args.model, state, path], check=True)
    return {k: np.array(v) for k, v in mx.load(path).items()}


def our_ids(args, text):
    p = subprocess.run([args.turboquant, "tokenize", args.model, "--json",
                        text], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)["ids"]


def check(args, label, state, typ=None, shard_bytes=None):
    out = os.path.join(args.work, re.sub(r"[^a-z0-9]+", "_", label.lower()))
    rep = export(args, state, out, typ, shard_bytes)
    diag(f"{label}: type {rep['type']}, {float(rep['bpw']):.3f} bits per "
         f"quantized weight")
    files = sorted(os.listdir(out))
    if shard_bytes:
        ok("model.safetensors.index.json" in files and
           sum(f.startswith("model-") for f in files) > 1,
           f"{label}: written as shards with an index ({files})")
    model, tok = load(out)

    text = open(args.text, encoding="utf-8").read()[:600]
    ids = our_ids(args, text)
    ok(tok.encode(text) == ids,
       f"{label}: mlx-lm's tokenizer gives our {len(ids)} ids")
    ids = ids[:160]

    modules = dict(model.named_modules())
    if state != "-":
        ours = our_dequant(args, state)
        sqnr = []
        exact = True
        for name, w in ours.items():
            m = modules.get(name)
            if not isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)):
                ok(False, f"{label}: {name} is quantized in mlx-lm")
                continue
            # In float32: an F16 checkpoint's scale * q + bias, done in
            # fp16, rounds (as MLX running in fp16 does); the stored
            # parameters are what must be exact.
            d = np.array(mx.dequantize(m.weight, m.scales.astype(mx.float32),
                                       m.biases.astype(mx.float32),
                                       group_size=m.group_size, bits=m.bits,
                                       mode="affine"))
            if typ is None and not np.array_equal(d, w):
                exact = False
                diag(f"{name}: max |mlx - ours| = {np.abs(d - w).max()}")
            noise = float(((d.astype(np.float64) - w) ** 2).sum())
            sig = float((w.astype(np.float64) ** 2).sum())
            sqnr.append(10 * np.log10(sig / noise) if noise > 0 else np.inf)
        if typ is None:
            ok(exact, f"{label}: mx.dequantize of all {len(ours)} quantized "
               f"layers equals our dequantized weights bit for bit")
        else:
            m = re.search(r"worst weight SQNR (-?[0-9.]+) dB", rep["warning"])
            ok(m is not None and abs(min(sqnr) - float(m.group(1))) < 0.06,
               f"{label}: the warning's worst SQNR ({rep['warning']}) is "
               f"what mlx-lm's weights show ({min(sqnr):.2f} dB)")
        pdt = {str(modules[n].scales.dtype) for n in ours}
        diag(f"{label}: scales and biases {pdt}")

    ref = our_logits(args, state, ids)
    big = np.abs(ref).max()
    stock = np.array(model(mx.array([ids]))[0].astype(mx.float32))
    model.set_dtype(mx.float32)
    l32 = np.array(model(mx.array([ids]))[0])
    e32 = np.abs(l32 - ref).max() / big
    e16 = np.abs(stock - ref).max() / big
    same = float((l32.argmax(-1) == ref.argmax(-1)).mean())
    if typ is None:
        ok(e32 <= 1e-4 and same == 1.0,
           f"{label}: mlx-lm float32 logits on {len(ids)} tokens match ours "
           f"(max |diff| {e32:.2e} of the largest, argmax equal at "
           f"{same:.0%})")
        ok(e16 <= 1e-2, f"{label}: mlx-lm logits in the checkpoint's dtype "
           f"match ours within 1e-2 (max |diff| {e16:.2e} of the largest)")
    else:
        ok(same >= 0.8, f"{label}: re-quantized logits stay close to ours "
           f"(argmax equal at {same:.0%}, max |diff| {e32:.2e})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--turboquant", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--states", required=True,
                    help="directory holding s4, ssym, smix, sgptq")
    args = ap.parse_args()
    mx.set_default_device(mx.cpu)
    st = lambda n: os.path.join(args.states, n)
    cases = [
        ("RTN int4-g64 asymmetric", st("s4"), None, None),
        ("RTN int4-g128 symmetric", st("ssym"), None, None),
        ("mixed plan (2/3/4/5/6/8 bits, per channel, g256 embeddings, a "
         "float layer)", st("smix"), None, None),
        ("RTN int4-g64 in shards", st("s4"), None, 1 << 21),
        ("float model", "-", None, None),
        ("GPTQ act-order re-quantized onto int4-g64", st("sgptq"),
         "int4-g64", None),
    ]
    for label, state, typ, shard in cases:
        try:
            check(args, label, state, typ, shard)
        except Exception as e:  # one failing case must not hide the others
            ok(False, f"{label}: {type(e).__name__}: {e}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
