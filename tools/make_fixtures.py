#!/usr/bin/env python3
"""Generate tiny random Hugging Face checkpoints + reference logits for TurboQuant's C tests.

Usage (from the repository root):

    "$PYTHON" tools/make_fixtures.py [--out tests/data/models] [--only NAME ...]

where $PYTHON is a Python with torch 1.13 + transformers 4.46.3 + safetensors (see
tools/README.md).  Re-running regenerates every fixture deterministically (fixed seeds); each
tests/data/models/<name>/ directory is deleted and rewritten.

For every model in MODELS it
  1. builds the model from a config with a fixed torch seed (random init with
     initializer_range 0.1 so that attention is far from uniform and RoPE / mask bugs show),
  2. perturbs every RMSNorm weight (uniform 0.5..1.5) and every bias (normal, std 0.1),
  3. casts to the storage dtype and saves with save_pretrained(safe_serialization=True)
     (optionally sharded -> model.safetensors.index.json),
  4. reloads the SAVED checkpoint with from_pretrained(dir, torch_dtype=float32,
     attn_implementation="eager") -- freshly for every reference sequence, because dynamic
     RoPE is stateful -- runs one forward (batch 1, no attention mask, torch.no_grad()), and
     writes ref<k>.f32 (raw little-endian float32, [n_tokens, vocab] row-major) plus
     reference.json,
  5. self-checks: an independent float64 re-implementation of the forward pass
     (manual_forward, written from the semantics note in tools/README.md and reading the
     safetensors + config.json directly) must match every reference within 1e-4, and
     perturbed semantics (no sliding window / off-by-one window, unscaled RoPE, ...) must NOT
     match, so each fixture really exercises its feature.

Output: tests/data/models/{llama,llama_linear,llama_dynamic,mistral,qwen2,qwen2_tied}/ with config.json,
model.safetensors (or shards + index), reference.json, ref0.f32, ref1.f32.
"""

import argparse
import json
import math
import os
import re
import shutil
import sys

import numpy as np
import torch

torch.set_num_threads(2)

import transformers  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import (  # noqa: E402
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

COMMON = dict(
    hidden_size=64,
    intermediate_size=172,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    initializer_range=0.1,
    bos_token_id=1,
    eos_token_id=2,
)

# name -> spec.  seq_lens: lengths of the two random reference id sequences.
MODELS = {
    "llama": dict(
        cls=LlamaForCausalLM,
        cfg=LlamaConfig,
        seed=101,
        kwargs=dict(
            vocab_size=320,
            max_position_embeddings=256,
            rms_norm_eps=1e-5,
            rope_theta=500000.0,
            # head_dim 16: wavelengths 2*pi*500000^(j/8) = 6.3, 32.5, 168, 868, ... ;
            # old_ctx 64 -> high band wl < 16 (j=0), medium 16..64 (j=1), low > 64 (j>=2).
            rope_scaling={
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64,
            },
            tie_word_embeddings=True,
        ),
        dtype=torch.float32,
        seq_lens=(40, 7),
    ),
    "llama_linear": dict(
        cls=LlamaForCausalLM,
        cfg=LlamaConfig,
        seed=202,
        kwargs=dict(
            vocab_size=384,
            max_position_embeddings=256,
            rms_norm_eps=1e-5,
            rope_theta=10000.0,
            rope_scaling={"rope_type": "linear", "factor": 2.0},
            attention_bias=True,
            mlp_bias=True,
            head_dim=24,
            tie_word_embeddings=False,
        ),
        dtype=torch.float16,
        seq_lens=(40, 7),
    ),
    "llama_dynamic": dict(
        cls=LlamaForCausalLM,
        cfg=LlamaConfig,
        seed=303,
        kwargs=dict(
            vocab_size=300,
            max_position_embeddings=32,
            rms_norm_eps=1e-5,
            rope_theta=10000.0,
            rope_scaling={"rope_type": "dynamic", "factor": 2.0},
            tie_word_embeddings=False,
        ),
        dtype=torch.float32,
        seq_lens=(48, 20),
    ),
    "mistral": dict(
        cls=MistralForCausalLM,
        cfg=MistralConfig,
        seed=404,
        kwargs=dict(
            vocab_size=448,
            max_position_embeddings=256,
            rms_norm_eps=1e-5,
            rope_theta=10000.0,
            sliding_window=16,
            tie_word_embeddings=False,
        ),
        dtype=torch.bfloat16,
        shard="100KB",
        seq_lens=(40, 7),
    ),
    "qwen2": dict(
        cls=Qwen2ForCausalLM,
        cfg=Qwen2Config,
        seed=505,
        kwargs=dict(
            vocab_size=512,
            max_position_embeddings=256,
            rms_norm_eps=1e-6,
            rope_theta=1000000.0,
            tie_word_embeddings=False,
        ),
        dtype=torch.float16,
        seq_lens=(40, 7),
    ),
    # Qwen2.5's small models: tied embeddings, stored in bf16
    "qwen2_tied": dict(
        cls=Qwen2ForCausalLM,
        cfg=Qwen2Config,
        seed=606,
        kwargs=dict(
            vocab_size=416,
            max_position_embeddings=256,
            rms_norm_eps=1e-6,
            rope_theta=1000000.0,
            tie_word_embeddings=True,
        ),
        dtype=torch.bfloat16,
        seq_lens=(40, 7),
    ),
}

TOL = 1e-4


def build_and_save(name, spec, out_dir):
    torch.manual_seed(spec["seed"])
    cfg = spec["cfg"](**{**COMMON, **spec["kwargs"]})
    model = spec["cls"](cfg).eval()
    g = torch.Generator().manual_seed(spec["seed"] + 1)
    with torch.no_grad():
        for pname, p in sorted(model.named_parameters()):
            if pname.endswith("norm.weight"):
                # Gemma's norms scale by 1 + w: the same [0.5, 1.5) in effect
                off = -0.5 if spec["cls"].__name__.startswith("Gemma") else 0.5
                p.copy_(off + torch.rand(p.shape, generator=g))
            elif pname.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    model = model.to(spec["dtype"])
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    save_kw = dict(safe_serialization=True)
    if "shard" in spec:
        save_kw["max_shard_size"] = spec["shard"]
    model.save_pretrained(out_dir, **save_kw)
    return cfg


def load_saved_weights(out_dir):
    idx = os.path.join(out_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for fn in files:
        w.update(load_file(os.path.join(out_dir, fn)))
    return {k: v.to(torch.float64) for k, v in w.items()}


def manual_forward(cfg, w, ids, override=None):
    """Independent float64 forward pass following tools/README.md (no transformers code)."""
    o = dict(override or {})
    arch = cfg["architectures"][0]
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    if arch.startswith("Qwen2"):
        hd = H // nh
    elif arch.startswith("Qwen3Moe"):
        hd = cfg.get("head_dim") or H // nh
    elif arch.startswith("Qwen3"):
        hd = cfg.get("head_dim", 128)
    elif arch.startswith("Gemma"):
        hd = cfg.get("head_dim", 256)
    else:
        hd = cfg.get("head_dim") or H // nh
    eps = cfg["rms_norm_eps"]
    S = len(ids)
    d = hd
    phi3 = arch.startswith("Phi3")
    if phi3 and not o.get("rope_full"):
        # partial rotary: the first int(hd * factor) dims of each head
        d = int(hd * cfg.get("partial_rotary_factor", 1.0))
    w = dict(w)
    for L in range(cfg["num_hidden_layers"]) if phi3 else ():
        # Phi-3's fused projections: rows q | k | v and gate | up
        p = f"model.layers.{L}."
        q, k, v = w.pop(p + "self_attn.qkv_proj.weight").split([nh * hd, nkv * hd, nkv * hd])
        w[p + "self_attn.q_proj.weight"], w[p + "self_attn.k_proj.weight"] = q, k
        w[p + "self_attn.v_proj.weight"] = v
        g_, u_ = w.pop(p + "mlp.gate_up_proj.weight").chunk(2)
        w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"] = g_, u_

    gemma = arch.startswith("Gemma")
    gemma3 = arch.startswith("Gemma3")

    def rope_tables(theta, rs, typ):
        return _rope_tables(cfg, o, S, d, theta, rs, typ)

    # --- RoPE inverse frequencies
    rs = cfg.get("rope_scaling")
    typ = "default" if rs is None else rs.get("rope_type", rs.get("type"))
    if arch.startswith("Mistral"):
        typ = "default"  # 4.46.3 Mistral ignores rope_scaling
    typ = o.get("rope_type", typ)
    cos, sin = rope_tables(cfg["rope_theta"], rs, typ)
    # Gemma 3's sliding layers: rope_local_base_freq, no scaling
    cos_l, sin_l = cos, sin
    if gemma3 and not o.get("local_as_global"):
        cos_l, sin_l = rope_tables(cfg.get("rope_local_base_freq", 10000.0), None, "default")

    def rot(x, local=False):  # x [heads, S, d]
        c, s_ = (cos_l, sin_l) if local else (cos, sin)
        xr, xp = x[..., :d], x[..., d:]
        x1, x2 = xr[..., : d // 2], xr[..., d // 2:]
        return torch.cat([xr * c + torch.cat([-x2, x1], dim=-1) * s_, xp], dim=-1)

    # --- mask
    i = torch.arange(S)[:, None]
    j = torch.arange(S)[None, :]
    masked = j > i
    W = cfg.get("sliding_window") if arch.startswith(("Mistral", "Phi3")) else None
    if arch.startswith(("Qwen2", "Qwen3", "SmolLM3")) and cfg.get("use_sliding_window"):
        raise NotImplementedError("use_sliding_window not used by fixtures")
    if not gemma:
        W = o.get("window", W)
    if W is not None:
        masked = masked | (j <= i - W)
    maskadd = torch.zeros(S, S, dtype=torch.float64).masked_fill(masked, float("-inf"))
    # Gemma: layer_types[L] "sliding_attention" sees the last sliding_window keys
    Wg = o.get("window", cfg.get("sliding_window"))
    mask_local = maskadd
    if gemma and Wg is not None:
        mask_local = maskadd.masked_fill(j <= i - Wg, float("-inf"))

    def lin(x, name):
        y = x @ w[name + ".weight"].T
        if name + ".bias" in w:
            y = y + w[name + ".bias"]
        return y

    # Gemma's RMSNorm scales by (1 + w)
    one = 1.0 if gemma and not o.get("no_one_plus") else 0.0

    def rms(x, name):
        return (one + w[name + ".weight"]) * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))

    def softcap(x, cap):
        return x if cap is None or o.get("no_softcap") else cap * torch.tanh(x / cap)

    def act(g):
        if gemma:  # gelu_pytorch_tanh
            return 0.5 * g * (1 + torch.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3)))
        return g * torch.sigmoid(g)

    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    if gemma:  # times sqrt(hidden) rounded to the fp32 of the embeddings
        x = x * float(np.float32(math.sqrt(H)))
    scale = 1.0 / math.sqrt(hd)
    if gemma:
        scale = cfg.get("query_pre_attn_scalar", 256) ** -0.5
    # Gemma 3 (4.53.3) passes no softcap to its attention
    attn_cap = cfg.get("attn_logit_softcapping") if arch.startswith("Gemma2") else None
    for L in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{L}."
        local = gemma and cfg["layer_types"][L] == "sliding_attention"
        hN = rms(x, p + "input_layernorm")
        q = lin(hN, p + "self_attn.q_proj").view(S, nh, hd).transpose(0, 1)
        k = lin(hN, p + "self_attn.k_proj").view(S, nkv, hd).transpose(0, 1)
        v = lin(hN, p + "self_attn.v_proj").view(S, nkv, hd).transpose(0, 1)
        # Qwen3: each q and k head RMS-normed over hd before RoPE
        if p + "self_attn.q_norm.weight" in w and not o.get("no_qk_norm"):
            q, k = rms(q, p + "self_attn.q_norm"), rms(k, p + "self_attn.k_norm")
        # SmolLM3: no_rope_layers[L] is 1 for a layer WITH RoPE, 0 for NoPE
        if o.get("rope_all") or cfg.get("no_rope_layers", [1] * (L + 1))[L]:
            q, k = rot(q, local), rot(k, local)
        grp = nh // nkv
        k = k.repeat_interleave(grp, dim=0)
        v = v.repeat_interleave(grp, dim=0)
        sc = softcap(q @ k.transpose(1, 2) * scale, attn_cap)
        sc = sc + (mask_local if local else maskadd)
        a = torch.softmax(sc, dim=-1) @ v
        a = a.transpose(0, 1).reshape(S, nh * hd)
        y = lin(a, p + "self_attn.o_proj")
        if gemma and not o.get("no_post_norm"):
            y = rms(y, p + "post_attention_layernorm")
        x = x + y
        hN = rms(x, p + ("pre_feedforward_layernorm" if gemma else "post_attention_layernorm"))
        moe = p + ("block_sparse_moe" if arch.startswith("Mixtral") else "mlp")
        if moe + ".gate.weight" in w:
            y = moe_mlp(cfg, o, w, hN, moe, lin, act, L)
        else:
            g = lin(hN, p + "mlp.gate_proj")
            u = lin(hN, p + "mlp.up_proj")
            y = lin(act(g) * u, p + "mlp.down_proj")
        if gemma and not o.get("no_post_norm"):
            y = rms(y, p + "post_feedforward_layernorm")
        x = x + y
    x = rms(x, "model.norm")
    head = w.get("lm_head.weight")
    if head is None:
        # absent: PretrainedConfig's default, True (save_pretrained drops it)
        assert cfg.get("tie_word_embeddings", True), "lm_head.weight missing but embeddings not tied"
        head = w["model.embed_tokens.weight"]
    return softcap(x @ head.T, cfg.get("final_logit_softcapping"))


def moe_mlp(cfg, o, w, x, pre, lin, act, L):
    """A mixture of experts: softmax over all router logits, the top-k probabilities, renormalised
    (Mixtral always, Qwen3-MoE when norm_topk_prob); each token the weighted sum of its experts'
    SwiGLU.  o["routes"] (a list) collects each layer's chosen experts; o["fixed_experts"] sends
    every token to experts 0..k-1, o["renorm"] overrides the renormalisation."""
    mixtral = pre.endswith("block_sparse_moe")
    k = cfg["num_experts_per_tok"]
    p = torch.softmax(lin(x, pre + ".gate"), dim=-1)
    top, sel = torch.topk(p, k, dim=-1)
    if o.get("fixed_experts"):
        sel = torch.arange(k).expand(x.shape[0], k)
        top = p.gather(1, sel)
    if o.get("renorm", mixtral or cfg.get("norm_topk_prob")):
        top = top / top.sum(-1, keepdim=True)
    if "routes" in o:
        o["routes"].append((L, sel.sort(-1).values.tolist()))
    names = ("w1", "w3", "w2") if mixtral else ("gate_proj", "up_proj", "down_proj")
    y = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for j in range(k):
            e = f"{pre}.experts.{int(sel[t, j])}."
            h = act(lin(x[t], e + names[0])) * lin(x[t], e + names[1])
            y[t] = y[t] + top[t, j] * lin(h, e + names[2])
    return y


def _rope_tables(cfg, o, S, d, theta, rs, typ):
    """cos, sin [S, d] of the half-split RoPE with base theta and scaling typ."""
    expo = torch.arange(0, d, 2, dtype=torch.float64) / d
    base = theta
    if typ == "dynamic":
        mp = cfg["max_position_embeddings"]
        f = rs["factor"]
        if S > mp:
            base = theta * ((f * S / mp) - (f - 1)) ** (d / (d - 2))
    inv = 1.0 / (base ** expo)
    attn = 1.0
    if typ in ("longrope", "su", "yarn"):
        # Phi-3: factors by length, cos and sin times sqrt(1 + ln s / ln orig)
        orig = cfg["original_max_position_embeddings"]
        long_ = S > orig and not o.get("short_only")
        ext = torch.tensor(rs["long_factor" if long_ else "short_factor"], dtype=torch.float64)
        ext = ext.repeat(len(expo) // len(ext))  # rope_full: tiled to the head
        inv = 1.0 / (ext * base ** expo)
        s = cfg["max_position_embeddings"] / orig
        if s > 1 and not o.get("no_attn_factor"):
            attn = math.sqrt(1 + math.log(s) / math.log(orig))
    if typ == "linear":
        inv = inv / rs["factor"]
    elif typ == "llama3":
        f, lf, hf = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        lo, hi = old / lf, old / hf
        out = inv.clone()
        for j in range(len(inv)):
            wl = 2 * math.pi / inv[j].item()
            if wl < hi:
                pass
            elif wl > lo:
                out[j] = inv[j] / f
            else:
                s = (old / wl - lf) / (hf - lf)
                out[j] = (1 - s) * inv[j] / f + s * inv[j]
        inv = out
    pos = torch.arange(S, dtype=torch.float64)
    fr = pos[:, None] * inv[None, :]
    emb = torch.cat([fr, fr], dim=-1)
    cos, sin = emb.cos() * attn, emb.sin() * attn  # [S, d]
    return cos, sin


def reference_logits(load, out_dir, V, seed, seq_lens):
    """ref<k>.f32 for random id sequences of seq_lens (a generator seeded with seed), each from
    a fresh load() (dynamic RoPE keeps state between forward calls): reference.json's
    sequences and the (ids, float64 logits) pairs."""
    g = torch.Generator().manual_seed(seed)
    seqs = []
    refs = []
    for k, n in enumerate(seq_lens):
        ids = torch.randint(0, V, (n,), generator=g).tolist()
        model = load()
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
        assert logits.shape == (n, V), logits.shape
        fn = f"ref{k}.f32"
        logits.numpy().astype("<f4").tofile(os.path.join(out_dir, fn))
        seqs.append({"ids": ids, "n_tokens": n, "logits_file": fn})
        refs.append((ids, logits.double()))
        del model
    return seqs, refs


def write_reference(out_dir, seqs, V, arch, dtype, load):
    """reference.json: the sequences, how the logits were made (load) and by what."""
    ref = {
        "sequences": seqs,
        "vocab_size": V,
        "architecture": arch,
        "saved_dtype": dtype,
        "logits_layout": "raw little-endian float32, [n_tokens, vocab_size] row-major",
        "load": load,
        "tolerance_hint": TOL,
        "source": f"transformers {transformers.__version__} / torch {torch.__version__}",
    }
    text = json.dumps(ref, indent=1)
    # keep each id list on one line
    text = re.sub(r"\[\s*([0-9,\s]+?)\s*\]", lambda mt: "[" + ",".join(mt.group(1).split()).replace(",,", ",") + "]", text)
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        f.write(text + "\n")


def make_one(name, spec, root):
    out_dir = os.path.join(root, name)
    build_and_save(name, spec, out_dir)
    with open(os.path.join(out_dir, "config.json")) as f:
        cfg = json.load(f)
    V = cfg["vocab_size"]
    seqs, refs = reference_logits(
        lambda: spec["cls"].from_pretrained(
            out_dir, torch_dtype=torch.float32, attn_implementation="eager"
        ).eval(), out_dir, V, spec["seed"] + 2, spec["seq_lens"])
    write_reference(out_dir, seqs, V, cfg["architectures"][0],
                    str(spec["dtype"]).replace("torch.", ""),
                    "from_pretrained(dir, torch_dtype=float32, attn_implementation='eager'), "
                    "fresh per sequence; one forward, batch 1, no attention_mask, "
                    "torch.no_grad()")

    # ---- self-checks
    w = load_saved_weights(out_dir)
    report = []
    for ids, lg in refs:
        m = manual_forward(cfg, w, ids)
        err = (m - lg).abs().max().item()
        report.append(f"S={len(ids)} max|manual-hf|={err:.2e} max|logit|={lg.abs().max().item():.2f}")
        if err > TOL:
            raise SystemExit(f"{name}: manual forward disagrees with transformers: {err}")
        if not torch.equal(m.argmax(-1), lg.argmax(-1)):
            raise SystemExit(f"{name}: argmax mismatch between manual and transformers")

    def must_differ(label, override, ids, lg, rows=slice(None)):
        m = manual_forward(cfg, w, ids, override)
        diff = (m[rows] - lg[rows]).abs().max().item()
        report.append(f"  [{label}] differs by {diff:.3f}")
        if diff < 1e-2:
            raise SystemExit(f"{name}: fixture does not exercise '{label}' (diff {diff})")

    ids_long, lg_long = refs[0]
    rs = cfg.get("rope_scaling") or {}
    if name == "mistral":
        W = cfg["sliding_window"]
        assert len(ids_long) > W >= len(refs[1][0])
        must_differ("no sliding window", {"window": None}, ids_long, lg_long)
        must_differ("window off by one (W+1 keys)", {"window": W + 1}, ids_long, lg_long)
    if rs.get("rope_type") in ("llama3", "linear"):
        must_differ("unscaled rope", {"rope_type": "default"}, ids_long, lg_long)
    if rs.get("rope_type") == "dynamic":
        assert len(ids_long) > cfg["max_position_embeddings"] > len(refs[1][0])
        must_differ("dynamic scaling not applied", {"rope_type": "default"}, ids_long, lg_long)
    if any(k.endswith(".experts.0.w1.weight") or k.endswith(".experts.0.gate_proj.weight") for k in w):
        # routing must be non-trivial: different experts at different positions of each MoE layer
        routes = []
        manual_forward(cfg, w, ids_long, {"routes": routes})
        for L, sel in routes:
            sets = sorted(set(map(tuple, sel)))
            report.append(f"  layer {L}: {len(sets)} distinct expert sets over {len(sel)} tokens")
            if len(sets) < 3:
                raise SystemExit(f"{name}: layer {L} routes every token alike ({sets})")
        must_differ("every token to experts 0..k-1", {"fixed_experts": True}, ids_long, lg_long)
        renorm = cfg["architectures"][0].startswith("Mixtral") or cfg.get("norm_topk_prob")
        must_differ("top-k weights %s" % ("not renormalised" if renorm else "renormalised"),
                    {"renorm": not renorm}, ids_long, lg_long)
    if any(k.endswith("q_norm.weight") for k in w):
        must_differ("no QK-norm", {"no_qk_norm": True}, ids_long, lg_long)
    if 0 in (cfg.get("no_rope_layers") or []):
        must_differ("RoPE in the NoPE layers too", {"rope_all": True}, ids_long, lg_long)
    if cfg["architectures"][0].startswith("Gemma"):
        W = cfg["sliding_window"]
        kinds = set(cfg["layer_types"])
        assert kinds == {"sliding_attention", "full_attention"}, kinds
        assert len(ids_long) > W >= len(refs[1][0])
        must_differ("RMSNorm without (1 + w)", {"no_one_plus": True}, ids_long, lg_long)
        must_differ("no post-norms", {"no_post_norm": True}, ids_long, lg_long)
        must_differ("no sliding window", {"window": None}, ids_long, lg_long)
        must_differ("window off by one (W+1 keys)", {"window": W + 1}, ids_long, lg_long)
        if cfg.get("final_logit_softcapping") or cfg.get("attn_logit_softcapping"):
            must_differ("no soft-capping", {"no_softcap": True}, ids_long, lg_long)
        if cfg["architectures"][0].startswith("Gemma3"):
            must_differ("local layers with the global RoPE", {"local_as_global": True}, ids_long, lg_long)
    if cfg["architectures"][0].startswith("Phi3"):
        W = cfg["sliding_window"]
        assert len(ids_long) > cfg["original_max_position_embeddings"] >= len(refs[1][0])
        assert len(ids_long) > W >= len(refs[1][0])
        must_differ("rotary over the whole head", {"rope_full": True}, ids_long, lg_long)
        must_differ("short factors past the original context", {"short_only": True}, ids_long, lg_long)
        must_differ("no attention factor", {"no_attn_factor": True}, ids_long, lg_long)
        must_differ("no sliding window", {"window": None}, ids_long, lg_long)
        must_differ("window off by one (W+1 keys)", {"window": W + 1}, ids_long, lg_long)
        ids_s, lg_s = refs[1]
        must_differ("no short factors within it", {"rope_type": "default"}, ids_s, lg_s)
    if name == "llama":
        # every llama3 band populated
        d = cfg["head_dim"]
        inv = 1.0 / (cfg["rope_theta"] ** (np.arange(0, d, 2) / d))
        wl = 2 * np.pi / inv
        old = rs["original_max_position_embeddings"]
        hi, lo = old / rs["high_freq_factor"], old / rs["low_freq_factor"]
        bands = (int((wl < hi).sum()), int(((wl >= hi) & (wl <= lo)).sum()), int((wl > lo).sum()))
        report.append(f"  llama3 bands high/medium/low = {bands}")
        assert all(b > 0 for b in bands), bands
    return print_report(name, out_dir, report)


def print_report(name, out_dir, report):
    """Prints the fixture's files, size and self-check report; returns its size."""
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"{name}: {sorted(os.listdir(out_dir))} {size} bytes")
    for r in report:
        print("   ", r)
    return size


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/models")
    ap.add_argument("--only", nargs="*", choices=sorted(MODELS))
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()
    total = 0
    for name, spec in MODELS.items():
        if args.only and name not in args.only:
            continue
        total += make_one(name, spec, args.out)
    print(f"total {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
