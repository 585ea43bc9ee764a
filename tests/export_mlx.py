"""export_mlx.py: mlx-lm (CPU) loads our MLX exports and computes our logits.

Run by tests/export_mlx.sh with the python of tools/install-mlx.sh.  For
each state it exports with `turboquant export --format mlx` (tests/mlx_dump
for the sharded case, which lowers the shard size), loads the directory
with mlx-lm, and checks (TAP lines, unnumbered; the caller prints the
plan):

  - the demo model: the tokenizer mlx-lm loads gives our token ids on a
    wikitext snippet (the fixtures have no tokenizer: fixed random ids);
  - every quantized layer is an MLX quantized module, and mx.dequantize of
    it (in float32) equals our dequantized weight exactly (re-quantized
    exports: its SQNR against ours is the worst the warning reports);
  - the logits on those tokens, with the model cast to float32, match our
    fp32 forward pass within 1e-4 of the largest |logit| and with the same
    argmax everywhere; in the checkpoint's own dtype within 1e-2.

The fixture architectures (llama with tied embeddings and llama3 rope,
qwen2 with q/k/v biases, tied qwen2, llama with attention biases and
linear rope, mistral, qwen3, smollm3, gemma3, gemma2) run too.  mlx-lm runs mistral as
llama, and gemma2, without the sliding window, so their logits are compared
at the positions inside the window.
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
from mlx_lm.utils import load_model
from pathlib import Path

n_fail = 0


def ok(cond, desc):
    global n_fail
    print(("ok - " if cond else "not ok - ") + desc, flush=True)
    if not cond:
        n_fail += 1
    return cond


def diag(msg):
    print("# " + msg, flush=True)


class Case:
    def __init__(self, label, base, state, typ=None, shard=None,
                 window=None, exact=None, tol16=1e-2):
        self.label = label
        self.base = base        # the model directory the state was made of
        self.state = state      # state directory, or "-" for the float model
        self.typ = typ          # --type, or None
        self.shard = shard      # lowered shard size, or None
        self.window = window    # positions mlx-lm computes as we do
        # our weights exactly (no layer re-quantized by --type)
        self.exact = typ is None if exact is None else exact
        self.tol16 = tol16      # the bound in the checkpoint's own dtype


def export(args, c, out):
    """turboquant export (mlx_dump for a lowered shard size); the report."""
    src = c.base if c.state == "-" else c.state
    if c.shard is None:
        cmd = [args.turboquant, "export", src, "--format", "mlx",
               "--out", out, "--json"] + (["--type", c.typ] if c.typ else [])
        env = None
    else:
        cmd = [args.dump, "export", c.base, c.state, out] + \
            ([c.typ] if c.typ else [])
        env = dict(os.environ, MLX_DUMP_SHARD_BYTES=str(c.shard))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError("export failed: " + p.stderr.strip())
    if c.shard is None:
        rep = json.loads(p.stdout)
        rep["warning"] = rep["warning"] or ""
        return rep
    return dict(line.split(" ", 1) for line in p.stdout.splitlines())


def our_logits(args, c, ids):
    path = os.path.join(args.work, "ours.f32")
    subprocess.run([args.dump, "logits", c.base, c.state,
                    ",".join(map(str, ids)), path], check=True)
    return np.fromfile(path, np.float32).reshape(len(ids), -1)


def our_dequant(args, c):
    path = os.path.join(args.work, "ours.safetensors")
    subprocess.run([args.dump, "dequant", c.base, c.state, path], check=True)
    return {k: np.array(v) for k, v in mx.load(path).items()}


def our_ids(args, c, text):
    p = subprocess.run([args.turboquant, "tokenize", c.base, "--json",
                        text], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)["ids"]


def fuse_phi3(ours, modules):
    """phi3: our q/k/v (gate/up) weights stacked as mlx-lm's qkv_proj
    (gate_up_proj) holds them."""
    for name in [n for n in ours if n.endswith(".self_attn.q_proj")]:
        p = name[:-len("q_proj")]
        if p + "qkv_proj" in modules:
            ours[p + "qkv_proj"] = np.concatenate(
                [ours.pop(p + s) for s in ("q_proj", "k_proj", "v_proj")])
    for name in [n for n in ours if n.endswith(".mlp.gate_proj")]:
        p = name[:-len("gate_proj")]
        if p + "gate_up_proj" in modules:
            ours[p + "gate_up_proj"] = np.concatenate(
                [ours.pop(p + s) for s in ("gate_proj", "up_proj")])
    return ours


def check_weights(args, c, rep, model):
    """mx.dequantize of every quantized layer against our weights."""
    modules = dict(model.named_modules())
    ours = fuse_phi3(our_dequant(args, c), modules)
    sqnr = []
    exact = True
    kept = 0
    moved = 0.0
    for name, w in ours.items():
        m = modules.get(name)
        if isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)) and \
                m.mode != "affine":
            # mxfp4, mxfp8: E2M1 nibbles or E4M3 bytes, U8 E8M0 scales, no
            # biases; nvfp4: E2M1 nibbles, U8 E4M3 scales per 16
            d = np.array(mx.dequantize(m.weight, m.scales, group_size=m.group_size,
                                       bits=m.bits, mode=m.mode, dtype=mx.float32))
        elif isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)):
            # In float32: an F16 checkpoint's scale * q + bias, done in
            # fp16, rounds (as MLX running in fp16 does); the stored
            # parameters are what must be exact.
            d = np.array(mx.dequantize(m.weight, m.scales.astype(mx.float32),
                                       m.biases.astype(mx.float32),
                                       group_size=m.group_size, bits=m.bits,
                                       mode="affine"))
        elif isinstance(m, nn.Linear) and c.typ is not None:
            d = np.array(m.weight.astype(mx.float32))  # kept float
            kept += 1
        else:
            ok(False, f"{c.label}: {name} is quantized in mlx-lm")
            return
        if c.exact and not np.array_equal(d, w):
            exact = False
            diag(f"{name}: max |mlx - ours| = {np.abs(d - w).max()}")
        moved = max(moved, float(np.abs(d - w).max()))
        noise = float(((d.astype(np.float64) - w) ** 2).sum())
        sig = float((w.astype(np.float64) ** 2).sum())
        sqnr.append(10 * np.log10(sig / noise) if noise > 0 else np.inf)
    pdt = sorted({str(modules[n].scales.dtype) for n in ours
                  if "scales" in modules[n]})
    if c.exact:
        also = f" and the {kept} written float" if kept else ""
        ok(exact, f"{c.label}: mx.dequantize of all {len(ours) - kept} "
           f"quantized layers ({', '.join(pdt)} scales){also} equal our "
           f"dequantized weights bit for bit")
    elif c.typ.split(",") == ["f16"]:
        m = re.search(r"weights move by up to ([0-9.e+-]+) ", rep["warning"])
        ok(m is not None and abs(moved - float(m.group(1))) <=
           0.01 * moved, f"{c.label}: the warning's largest weight change "
           f"({rep['warning']}) is what mlx-lm's weights show ({moved:.3g})")
    else:
        m = re.search(r"worst weight SQNR (-?[0-9.]+) dB", rep["warning"])
        ok(m is not None and abs(min(sqnr) - float(m.group(1))) < 0.06,
           f"{c.label}: the warning's worst SQNR ({rep['warning']}) is "
           f"what mlx-lm's weights show ({min(sqnr):.2f} dB)")


def check(args, c):
    out = os.path.join(args.work, re.sub(r"[^a-z0-9]+", "_", c.label.lower()))
    rep = export(args, c, out)
    diag(f"{c.label}: type {rep['type']}, {float(rep['bpw']):.3f} bits per "
         f"quantized weight; warning: {rep['warning'] or 'none'}")
    files = sorted(os.listdir(out))
    if c.shard:
        ok("model.safetensors.index.json" in files and
           sum(f.startswith("model-") for f in files) > 1,
           f"{c.label}: written as shards with an index ({files})")
    if os.path.exists(os.path.join(c.base, "tokenizer.json")):
        model, tok = load(out)
        text = open(args.text, encoding="utf-8").read()[:600]
        ids = our_ids(args, c, text)
        ok(tok.encode(text) == ids,
           f"{c.label}: mlx-lm's tokenizer gives our {len(ids)} ids")
        ids = ids[:160]
    else:
        model, _ = load_model(Path(out))
        vocab = json.load(open(os.path.join(c.base, "config.json")))[
            "vocab_size"]
        ids = [int(i) for i in np.random.default_rng(7).integers(0, vocab, 48)]

    if c.window:
        ok("past the sliding window of" in rep["warning"],
           f"{c.label}: the report warns that mlx-lm has no sliding window")
    if c.state != "-":
        check_weights(args, c, rep, model)

    n = c.window or len(ids)
    ref = our_logits(args, c, ids)[:n]
    big = np.abs(ref).max()
    stock = np.array(model(mx.array([ids]))[0].astype(mx.float32))[:n]
    model.set_dtype(mx.float32)
    l32 = np.array(model(mx.array([ids]))[0])[:n]
    e32 = np.abs(l32 - ref).max() / big
    e16 = np.abs(stock - ref).max() / big
    same = float((l32.argmax(-1) == ref.argmax(-1)).mean())
    at = f"the first {n} of {len(ids)}" if n < len(ids) else f"{n}"
    if c.exact:
        ok(e32 <= 1e-4 and same == 1.0,
           f"{c.label}: mlx-lm float32 logits at {at} positions match ours "
           f"(max |diff| {e32:.2e} of the largest, argmax equal at "
           f"{same:.0%})")
        ok(e16 <= c.tol16, f"{c.label}: mlx-lm logits in the checkpoint's "
           f"dtype match ours within {c.tol16:g} (max |diff| {e16:.2e})")
    elif c.typ == "f16":
        ok(e32 <= 1e-3 and same == 1.0, f"{c.label}: mlx-lm float32 "
           f"logits with the rounded biases stay within 1e-3 of ours (max "
           f"|diff| {e32:.2e}, argmax equal at {same:.0%})")
    else:
        ok(same >= 0.8, f"{c.label}: re-quantized logits stay close to ours "
           f"(argmax equal at {same:.0%}, max |diff| {e32:.2e})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--turboquant", required=True)
    ap.add_argument("--model", required=True, help="the demo model")
    ap.add_argument("--fixtures", required=True,
                    help="tests/data/models (llama, qwen2, ...)")
    ap.add_argument("--text", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--states", required=True,
                    help="directory of the states export_mlx.sh made")
    args = ap.parse_args()
    mx.set_default_device(mx.cpu)

    def st(n):
        return os.path.join(args.states, n)

    def fx(n):
        return os.path.join(args.fixtures, n)

    demo = args.model
    cases = [
        Case("RTN int4-g64 asymmetric", demo, st("s4")),
        Case("RTN int4-g128 symmetric", demo, st("ssym")),
        Case("mixed plan (2/3/4/5/6/8 bits, per channel, per tensor, g256 "
             "embeddings, a float layer)", demo, st("smix")),
        Case("AWQ w4a16 (scales folded into norms and v/up rows)", demo,
             st("sawq")),
        Case("RTN int4-g64 asymmetric with --type f16 (biases rounded)",
             demo, st("s4"), typ="f16"),
        Case("RTN int4-g64 in shards", demo, st("s4"), shard=1 << 21),
        Case("RTN mxfp4 (mode mxfp4: E8M0 scales, no biases)", demo,
             st("smxfp4")),
        Case("RTN mxfp8 (mode mxfp8: E4M3 bytes, E8M0 scales)", demo,
             st("smxfp8")),
        Case("RTN nvfp4-unit (mode nvfp4: E4M3 scales per 16, G = 1)", demo,
             st("snvfp4u")),
        Case("fixture llama RTN nvfp4-pow2 (mode nvfp4: G folded into the "
             "E4M3 scales)", fx("llama"), st("f_llama_nvpow2")),
        Case("float model", demo, "-"),
        Case("GPTQ act-order re-quantized onto int4-g64", demo, st("sgptq"),
             typ="int4-g64"),
        Case("fixture llama (tied embeddings untied, llama3 rope)",
             fx("llama"), st("f_llama")),
        Case("fixture qwen2 (q/k/v biases)", fx("qwen2"), st("f_qwen2")),
        Case("fixture qwen2_tied (Qwen2.5's tied embeddings, bf16)",
             fx("qwen2_tied"), st("f_qwen2_tied")),
        Case("fixture llama_linear (attention biases, head_dim 24)",
             fx("llama_linear"), st("f_llama_linear")),
        Case("fixture qwen2 per channel, down_proj (172 wide) kept float by "
             "--type int4-g32", fx("qwen2"), st("qch"), typ="int4-g32",
             exact=True),
        Case("fixture mistral (bf16; mlx-lm has no sliding window)",
             fx("mistral"), st("f_mistral"), window=16),
        Case("fixture qwen3 (QK-norm, head_dim 32)", fx("qwen3"),
             st("f_qwen3")),
        Case("fixture smollm3 (no RoPE in layer 3, tied embeddings)",
             fx("smollm3"), st("f_smollm3")),
        # bf16 arithmetic through 6 layers of QK-norm and post-norms:
        # 1.2e-2 (float32 above: 1.6e-6)
        Case("fixture gemma3 without its final soft-cap (sliding and "
             "global layers, local RoPE base, QK-norm, post-norms)",
             st("gemma3_nocap"), st("f_gemma3_nocap"), tol16=2e-2),
        Case("fixture gemma2 (soft-caps; mlx-lm has no sliding window)",
             fx("gemma2"), st("f_gemma2_tied"), window=16),
        # 48 ids: past original_max_position_embeddings (32), where we
        # take long_factor as mlx-lm always does.
        Case("fixture phi3 (qkv_proj and gate_up_proj fused, partial "
             "rotary, longrope; mlx-lm has no sliding window)",
             fx("phi3"), st("f_phi3_mlx_phi3"), window=16),
    ]
    for c in cases:
        try:
            check(args, c)
        except Exception as e:  # one failing case must not hide the others
            ok(False, f"{c.label}: {type(e).__name__}: {e}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
