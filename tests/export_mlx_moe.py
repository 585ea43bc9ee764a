"""export_mlx_moe.py: mlx-lm (CPU) loads our MLX exports of a mixture of
experts and computes our logits.

Run by tests/export_mlx_moe.sh with the python of tools/install-mlx.sh,
with tests/export_mlx.py's helpers: for each state, exported with
`turboquant export --format mlx` and loaded with mlx-lm, every quantized
layer is an MLX quantized module and mx.dequantize of it equals our
dequantized weights exactly (a block's experts of one kind as one
QuantizedSwitchLinear [experts, out, in], compared with our experts'
weights stacked in index order), the router is a float nn.Linear, and with
the model cast to float32 the logits match our fp32 forward pass within
1e-4 of the largest |logit|, argmax equal everywhere.  The logits in the
checkpoint's own dtype (bf16) are only reported: on these small random
fixtures bf16 rounding of the router's logits can send tokens to other
experts, and mlx's CPU gather_mm (float experts) takes float32 only.
"""
import argparse
import os
import re
import sys
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.models.switch_layers import QuantizedSwitchLinear, SwitchLinear
from mlx_lm.utils import load_model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_mlx as em  # noqa: E402

KINDS = {"w1": "gate_proj", "w3": "up_proj", "w2": "down_proj",
         "gate_proj": "gate_proj", "up_proj": "up_proj",
         "down_proj": "down_proj"}


def stack_experts(ours):
    """Our experts' weights stacked as mlx-lm's switch_mlp holds them."""
    groups = {}
    for name in [n for n in ours if ".experts." in n]:
        pre, rest = name.split(".experts.")
        e, kind = rest.split(".")
        groups.setdefault((pre, KINDS[kind]), {})[int(e)] = ours.pop(name)
    for (pre, kind), ws in groups.items():
        ours[f"{pre}.switch_mlp.{kind}"] = np.stack(
            [ws[e] for e in range(len(ws))])
    return ours


def check_weights(args, c, rep, model):
    """mx.dequantize of every quantized layer and stack against ours."""
    modules = dict(model.named_modules())
    ours = stack_experts(em.our_dequant(args, c))
    bad, n_q, n_sw, n_float = [], 0, 0, 0
    for name, w in ours.items():
        m = modules.get(name)
        if isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding,
                          QuantizedSwitchLinear)):
            b = None if m.mode != "affine" else m.biases.astype(mx.float32)
            d = np.array(mx.dequantize(m.weight, m.scales.astype(
                mx.float32) if m.mode == "affine" else m.scales, b,
                group_size=m.group_size, bits=m.bits, mode=m.mode,
                dtype=mx.float32))
            n_q += 1
            n_sw += isinstance(m, QuantizedSwitchLinear)
        elif isinstance(m, (nn.Linear, SwitchLinear, nn.Embedding)):
            d = np.array(m.weight.astype(mx.float32))  # written float
            n_float += 1
        else:
            bad.append(f"{name}: {type(m).__name__}")
            continue
        if d.shape != w.shape or not np.array_equal(d, w):
            bad.append(f"{name}: max |mlx - ours| = "
                       f"{np.abs(d - w).max() if d.shape == w.shape else d.shape}")
    routers = [n for n, m in modules.items()
               if n.endswith((".block_sparse_moe.gate", ".mlp.gate"))]
    bad += [f"{n}: router {type(modules[n]).__name__}" for n in routers
            if type(modules[n]) is not nn.Linear]
    for b in bad[:8]:
        em.diag(b)
    em.ok(not bad and n_sw > 0 and routers,
          f"{c.label}: mx.dequantize of all {n_q} quantized layers "
          f"({n_sw} of them stacked experts) and the {n_float} float ones "
          f"equal our weights bit for bit; {len(routers)} routers float")


def check(args, c):
    out = os.path.join(args.work, re.sub(r"[^a-z0-9]+", "_", c.label.lower()))
    rep = em.export(args, c, out)
    em.diag(f"{c.label}: type {rep['type']}, {float(rep['bpw']):.3f} bits "
            f"per quantized weight; warning: {rep['warning'] or 'none'}")
    model, _ = load_model(Path(out))
    if c.state != "-":
        check_weights(args, c, rep, model)
    vocab = model.args.vocab_size
    ids = [int(i) for i in np.random.default_rng(7).integers(0, vocab, 48)]
    ref = em.our_logits(args, c, ids)
    big = np.abs(ref).max()
    try:
        stock = np.array(model(mx.array([ids]))[0].astype(mx.float32))
        em.diag(f"{c.label}: in the checkpoint's dtype, max |diff| "
                f"{np.abs(stock - ref).max() / big:.2e} of the largest, "
                f"argmax equal at {(stock.argmax(-1) == ref.argmax(-1)).mean():.0%}")
    except RuntimeError as e:
        em.diag(f"{c.label}: not run in the checkpoint's dtype: {e}")
    model.set_dtype(mx.float32)
    l32 = np.array(model(mx.array([ids]))[0])
    e32 = np.abs(l32 - ref).max() / big
    same = float((l32.argmax(-1) == ref.argmax(-1)).mean())
    em.ok(e32 <= 1e-4 and same == 1.0,
          f"{c.label}: mlx-lm float32 logits at {len(ids)} positions match "
          f"ours (max |diff| {e32:.2e} of the largest, argmax equal at "
          f"{same:.0%})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--turboquant", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--case", nargs=3, action="append", required=True,
                    metavar=("LABEL", "BASE", "STATE"))
    args = ap.parse_args()
    mx.set_default_device(mx.cpu)
    for label, base, state in args.case:
        c = em.Case(label, base, state)
        try:
            check(args, c)
        except Exception as e:  # one failing case must not hide the others
            em.ok(False, f"{c.label}: {type(e).__name__}: {e}")
    return 1 if em.n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
