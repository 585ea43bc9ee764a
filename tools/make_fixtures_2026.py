#!/usr/bin/env python3
"""Tiny gpt_oss checkpoints (float and MXFP4 experts) + reference logits (transformers 4.55).

Usage (from the repository root):

    "$PYTHON" tools/make_fixtures_2026.py [--out tests/data/models] [--only NAME ...]

where $PYTHON has the versions in PINNED (tools/install-ckpt-consumers-2026.sh makes one).
gpt_oss arrived in transformers 4.55, after the 4.53.3 that make_fixtures_2025.py pins.

  gpt_oss        GptOssForCausalLM saved by save_pretrained in bf16: the experts fused into
                 3-D tensors (mlp.experts.gate_up_proj [E, H, 2 Fe], gate and up interleaved
                 in its last dimension, down_proj [E, Fe, H], and their biases).
  gpt_oss_mxfp4  the same model with its experts' weights as MXFP4, in the layout of the
                 released checkpoints (quantization_config quant_method "mxfp4"):
                 *_blocks U8 [E, rows, cols / 32, 16] (element 2i in the low nibble of byte
                 i) and *_scales U8 [E, rows, cols / 32] (E8M0: 2^(s - 127)), rows the
                 output dimension.  transformers 4.55 cannot write it without a GPU, so this
                 script rounds the float experts itself; the reference logits are those of
                 transformers loading the file (on CPU it dequantizes the experts).

Both: 2 layers (sliding window 16 on layer 0, full attention on layer 1, as layer_types
alternates), 4 heads of 16 over 2 KV heads, attention biases, learned sinks (perturbed,
std 1), YaRN (factor 8 from an original context of 32, truncate false), 4 experts of 64,
top-2, router bias, expert biases; the gate/up weights are scaled up so the clamped SwiGLU's
limit (7) clips a share of the values.  The reference logits (sequences of 40 and 7 tokens)
come from from_pretrained(torch_dtype=float32, attn_implementation="eager") as
make_fixtures.py's.  Self-checks: an independent float64 forward (manual_forward below, from
the saved tensors and config.json) within 1e-4 of transformers with equal argmax, and each
feature (sinks, clamp, interleaved gate/up, top-k-then-softmax routing, YaRN, the window)
changing the logits by more than 1e-2.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_num_threads(2)

import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import GptOssConfig, GptOssForCausalLM  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

PINNED = {"transformers": "4.55.4", "torch": "2.5.1"}
TOL = 1e-4
SEED = 1515
SEQ_LENS = (40, 7)
CFG = dict(
    vocab_size=256, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_local_experts=4,
    num_experts_per_tok=2, sliding_window=16, rope_theta=10000.0,
    max_position_embeddings=256, rms_norm_eps=1e-5, initializer_range=0.1,
    rope_scaling={"rope_type": "yarn", "factor": 8.0, "beta_fast": 32.0, "beta_slow": 1.0,
                  "truncate": False, "original_max_position_embeddings": 32},
    tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=0,
)
# E2M1 of each nibble (sign in bit 3), as transformers' FP4_VALUES
FP4 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0])


def build(out_dir):
    torch.manual_seed(SEED)
    model = GptOssForCausalLM(GptOssConfig(**CFG)).eval()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("sinks"):
                p.copy_(torch.randn(p.shape, generator=g))
            elif name.endswith("gate_up_proj"):
                p.mul_(6.0)  # pre-activations past the limit of 7
    model = model.to(torch.bfloat16)
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, f))
    model.save_pretrained(out_dir, safe_serialization=True)


def mxfp4(w):
    """w [E, rows, cols] float -> blocks U8 [E, rows, cols/32, 16], scales U8 [E, rows, cols/32]:
    ggml's exponent (floor(log2 amax) - 2) and nearest E2M1 value, ties to the smaller one."""
    E, R, C = w.shape
    x = w.reshape(E, R, C // 32, 32).astype(np.float64)
    amax = np.abs(x).max(-1)
    e = np.where(amax > 0, np.floor(np.log2(np.maximum(amax, 1e-30))) - 2, -127)
    e = np.clip(e, -127, 127)
    y = x / np.exp2(e)[..., None]
    codes = np.abs(y[..., None] - FP4[None, None, None, None, :8]).argmin(-1)
    codes = np.where(y < 0, codes + 8, codes).astype(np.uint8)
    codes = np.where(codes == 8, 0, codes).astype(np.uint8)
    blocks = codes[..., 0::2] | (codes[..., 1::2] << 4)
    return blocks.astype(np.uint8), (e + 127).astype(np.uint8)


def make_mxfp4(src, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, f))
    w = load_file(os.path.join(src, "model.safetensors"))
    out = {}
    for k, v in w.items():
        if k.endswith("experts.gate_up_proj") or k.endswith("experts.down_proj"):
            # [E, in, out] as the module holds it; the blocks are [E, out, in]
            b, s = mxfp4(v.float().transpose(1, 2).numpy())
            out[k + "_blocks"] = torch.from_numpy(np.ascontiguousarray(b))
            out[k + "_scales"] = torch.from_numpy(np.ascontiguousarray(s))
        else:
            out[k] = v
    save_file(out, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    cfg = json.load(open(os.path.join(src, "config.json")))
    cfg["quantization_config"] = {
        "quant_method": "mxfp4",
        "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                   "model.embed_tokens", "lm_head"],
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(src, "generation_config.json")) as f:
        gen = f.read()
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        f.write(gen)


def dequant(blocks, scales):
    """The float [E, rows, cols] of blocks and scales, as transformers dequantizes them."""
    b = blocks.numpy()
    lo, hi = FP4[b & 15], FP4[b >> 4]
    v = np.stack([lo, hi], -1).reshape(*b.shape[:-1], 32)
    v = v * np.exp2(scales.numpy().astype(np.float64) - 127)[..., None]
    return torch.from_numpy(v.reshape(*b.shape[:-2], -1))


def saved_weights(out_dir):
    w = load_file(os.path.join(out_dir, "model.safetensors"))
    for k in [k for k in w if k.endswith("_blocks")]:
        base = k[:-len("_blocks")]
        w[base] = dequant(w.pop(k), w.pop(base + "_scales")).transpose(1, 2)
    return {k: v.to(torch.float64) for k, v in w.items()}


def yarn(cfg, S, d, o):
    """cos, sin [S, d/2] of transformers' YaRN (or the unscaled RoPE with o["no_yarn"])."""
    rs = cfg["rope_scaling"]
    base = cfg["rope_theta"]
    pos = base ** (np.arange(0, d, 2) / d)
    inv = 1.0 / pos
    att = 1.0
    if not o.get("no_yarn"):
        orig = rs["original_max_position_embeddings"]
        factor = cfg["max_position_embeddings"] / orig
        att = 0.1 * math.log(factor) + 1.0

        def corr(rot):
            return d * math.log(orig / (rot * 2 * math.pi)) / (2 * math.log(base))
        lo, hi = corr(rs["beta_fast"]), corr(rs["beta_slow"])
        if rs.get("truncate", True):
            lo, hi = math.floor(lo), math.ceil(hi)
        lo, hi = max(lo, 0), min(hi, d - 1)
        if lo == hi:
            hi += 0.001
        ramp = np.clip((np.arange(d // 2) - lo) / (hi - lo), 0, 1)
        extra = 1 - ramp
        inv = inv / factor * (1 - extra) + inv * extra
    fr = np.arange(S)[:, None] * inv[None, :]
    return torch.from_numpy(np.cos(fr) * att), torch.from_numpy(np.sin(fr) * att)


def manual_forward(cfg, w, ids, o=None):
    """Independent float64 gpt_oss forward (no transformers code)."""
    o = dict(o or {})
    H, nh, nkv, hd = (cfg[k] for k in ("hidden_size", "num_attention_heads",
                                        "num_key_value_heads", "head_dim"))
    K, eps, S = cfg["num_experts_per_tok"], cfg["rms_norm_eps"], len(ids)
    cos, sin = yarn(cfg, S, hd, o)

    def rot(x):  # [heads, S, hd], halves rotated
        a, b = x[..., :hd // 2], x[..., hd // 2:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)

    def lin(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    def rms(x, name):
        return w[name + ".weight"] * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))

    i, j = torch.arange(S)[:, None], torch.arange(S)[None, :]
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    for L in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{L}."
        h = rms(x, p + "input_layernorm")
        q = rot(lin(h, p + "self_attn.q_proj").view(S, nh, hd).transpose(0, 1))
        k = rot(lin(h, p + "self_attn.k_proj").view(S, nkv, hd).transpose(0, 1))
        v = lin(h, p + "self_attn.v_proj").view(S, nkv, hd).transpose(0, 1)
        k, v = k.repeat_interleave(nh // nkv, 0), v.repeat_interleave(nh // nkv, 0)
        masked = j > i
        W = o.get("window", cfg["sliding_window"])
        if cfg["layer_types"][L] == "sliding_attention" and W is not None:
            masked = masked | (j <= i - W)
        sc = (q @ k.transpose(1, 2)) * hd ** -0.5
        sc = sc.masked_fill(masked, float("-inf"))
        sink = w[p + "self_attn.sinks"].view(nh, 1, 1).expand(nh, S, 1)
        if o.get("no_sinks"):
            sink = torch.full_like(sink, float("-inf"))
        a = torch.softmax(torch.cat([sc, sink], -1), -1)[..., :-1] @ v
        x = x + lin(a.transpose(0, 1).reshape(S, nh * hd), p + "self_attn.o_proj")
        h = rms(x, p + "post_attention_layernorm")
        r = lin(h, p + "mlp.router")
        if o.get("softmax_all"):  # Qwen3-MoE's without norm_topk_prob
            top, sel = torch.topk(torch.softmax(r, -1), K, -1)
        else:
            top, sel = torch.topk(r, K, -1)
            top = torch.softmax(top, -1)
        if "routes" in o:
            o["routes"].append((L, sel.sort(-1).values.tolist()))
        e = p + "mlp.experts."
        y = torch.zeros_like(x)
        for t in range(S):
            for kk in range(K):
                n = int(sel[t, kk])
                gu = h[t] @ w[e + "gate_up_proj"][n] + w[e + "gate_up_proj_bias"][n]
                if o.get("halves"):
                    g, u = gu[: gu.shape[0] // 2], gu[gu.shape[0] // 2:]
                else:
                    g, u = gu[0::2], gu[1::2]
                if not o.get("no_clamp"):
                    g, u = g.clamp(max=7.0), u.clamp(-7.0, 7.0)
                if "clamped" in o:
                    o["clamped"][0] += int((gu.abs() > 7.0).sum())
                    o["clamped"][1] += gu.numel()
                glu = g * torch.sigmoid(1.702 * g)
                out = ((u + 1) * glu) @ w[e + "down_proj"][n] + w[e + "down_proj_bias"][n]
                y[t] = y[t] + top[t, kk] * out
        x = x + y
    return rms(x, "model.norm") @ w["lm_head.weight"].T


def references(out_dir, label):
    """ref<k>.f32 and reference.json: transformers' logits of the saved checkpoint."""
    cfg = json.load(open(os.path.join(out_dir, "config.json")))

    def load():
        # On CPU, 4.55 dequantizes MXFP4 experts to bf16 whatever torch_dtype says (and its
        # bmm then refuses the f32 input): cast them, exactly, to f32
        return GptOssForCausalLM.from_pretrained(
            out_dir, torch_dtype=torch.float32, attn_implementation="eager").eval().float()
    seqs, refs = mf.reference_logits(load, out_dir, cfg["vocab_size"], SEED + 2, SEQ_LENS)
    mf.write_reference(out_dir, seqs, cfg["vocab_size"], cfg["architectures"][0], label,
                       "from_pretrained(dir, torch_dtype=float32, attn_implementation='eager')"
                       ".float() (MXFP4 experts dequantized by transformers), fresh per "
                       "sequence; one forward, batch 1, no attention_mask, torch.no_grad()")
    return cfg, refs


def self_check(name, out_dir, cfg, refs):
    w = saved_weights(out_dir)
    report = []
    for ids, lg in refs:
        m = manual_forward(cfg, w, ids)
        err = (m - lg).abs().max().item()
        report.append(f"S={len(ids)} max|manual-hf|={err:.2e} max|logit|={lg.abs().max():.2f}")
        if err > TOL or not torch.equal(m.argmax(-1), lg.argmax(-1)):
            raise SystemExit(f"{name}: manual forward disagrees with transformers: {err}")
    ids, lg = refs[0]
    routes, clamped = [], [0, 0]
    manual_forward(cfg, w, ids, {"routes": routes, "clamped": clamped})
    for L, sel in routes:
        sets = sorted(set(map(tuple, sel)))
        report.append(f"  layer {L}: {len(sets)} distinct expert sets over {len(sel)} tokens")
        if len(sets) < 3:
            raise SystemExit(f"{name}: layer {L} routes every token alike")
    report.append(f"  {clamped[0]} of {clamped[1]} gate/up values past the limit")
    W = cfg["sliding_window"]
    assert len(ids) > W >= len(refs[1][0])
    for label, o in (("no sinks", {"no_sinks": True}), ("no clamp", {"no_clamp": True}),
                     ("gate/up as halves, not interleaved", {"halves": True}),
                     ("weights of a softmax over all experts", {"softmax_all": True}),
                     ("RoPE without YaRN", {"no_yarn": True}),
                     ("no sliding window", {"window": None}),
                     ("window off by one (W+1 keys)", {"window": W + 1})):
        diff = (manual_forward(cfg, w, ids, o) - lg).abs().max().item()
        report.append(f"  [{label}] differs by {diff:.3f}")
        if diff < 1e-2:
            raise SystemExit(f"{name}: fixture does not exercise '{label}' ({diff})")
    return mf.print_report(name, out_dir, report)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/models")
    ap.add_argument("--only", nargs="*", choices=["gpt_oss", "gpt_oss_mxfp4"])
    args = ap.parse_args()
    have = {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0]}
    if have != PINNED:
        raise SystemExit(f"make_fixtures_2026.py wants {PINNED}, this Python has {have}")
    transformers.logging.set_verbosity_error()
    only = args.only or ["gpt_oss", "gpt_oss_mxfp4"]
    total = 0
    fdir = os.path.join(args.out, "gpt_oss")
    if "gpt_oss" in only or not os.path.exists(os.path.join(fdir, "model.safetensors")):
        build(fdir)
    if "gpt_oss" in only:
        total += self_check("gpt_oss", fdir, *references(fdir, "bfloat16"))
    if "gpt_oss_mxfp4" in only:
        qdir = os.path.join(args.out, "gpt_oss_mxfp4")
        make_mxfp4(fdir, qdir)
        total += self_check("gpt_oss_mxfp4", qdir,
                            *references(qdir, "bfloat16, experts mxfp4"))
    print(f"total {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
