#!/usr/bin/env python3
"""Write a random-initialized checkpoint with the Llama-3.2-1B shape, for speed benchmarks.

Usage (from the repository root):

    "$PYTHON" bench/make_llama1b.py [OUT_DIR] [--seed 0] [--no-tokenizer]

OUT_DIR defaults to /tmp/tq-llama1b.  Do NOT point it into the repository: it writes ~2.5 GB.

Shape (Llama-3.2-1B): hidden 2048, 16 layers, 32 heads, 8 kv heads (head_dim 64), intermediate
8192, vocab 128256, tied embeddings (no lm_head.weight), rope_theta 500000, rope_scaling llama3
(factor 32, low_freq_factor 1, high_freq_factor 4, original_max_position_embeddings 8192),
max_position_embeddings 131072, rms_norm_eps 1e-5, bos 128000 / eos 128001.

Output: OUT_DIR/config.json ("torch_dtype": "bfloat16") and OUT_DIR/model.safetensors (BF16,
one file, tensors in name order like the safetensors writer, header padded to 8 bytes,
{"format": "pt"} metadata).  Weights are N(0, 0.02) (as transformers initializes them),
RMSNorm weights 1.  Memory stays low: the file is streamed, each tensor is generated in row
chunks (fp32 -> bf16 by round-to-nearest-even), and no torch model is instantiated.
If assets/demo/tokenizer.json exists it is copied along (its 4096-token vocabulary does not
match the model's 128256 ids -- fine for speed benchmarks, useless for text); pass
--no-tokenizer to omit it.  Deterministic for a given --seed.
"""

import argparse
import json
import os
import shutil
import struct
import sys
import time

import numpy as np

HIDDEN = 2048
LAYERS = 16
HEADS = 32
KV_HEADS = 8
HEAD_DIM = HIDDEN // HEADS
INTER = 8192
VOCAB = 128256
STD = 0.02
CHUNK_ELEMS = 1 << 22  # ~16 MB of fp32 per generated chunk

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "head_dim": HEAD_DIM,
    "hidden_act": "silu",
    "hidden_size": HIDDEN,
    "initializer_range": STD,
    "intermediate_size": INTER,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": HEADS,
    "num_hidden_layers": LAYERS,
    "num_key_value_heads": KV_HEADS,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 32.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.46.3",
    "use_cache": True,
    "vocab_size": VOCAB,
}


def attention_tensors(p, hidden, heads, kv_heads, head_dim):
    """A layer's two norms and q/k/v/o, named with its prefix p."""
    return [
        (p + "input_layernorm.weight", (hidden,), "norm"),
        (p + "post_attention_layernorm.weight", (hidden,), "norm"),
        (p + "self_attn.q_proj.weight", (heads * head_dim, hidden), "w"),
        (p + "self_attn.k_proj.weight", (kv_heads * head_dim, hidden), "w"),
        (p + "self_attn.v_proj.weight", (kv_heads * head_dim, hidden), "w"),
        (p + "self_attn.o_proj.weight", (hidden, heads * head_dim), "w"),
    ]


def tensor_list():
    """(name, shape, kind) for every stored tensor; kind 'norm' -> ones, else N(0, STD)."""
    t = [("model.embed_tokens.weight", (VOCAB, HIDDEN), "w"), ("model.norm.weight", (HIDDEN,), "norm")]
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        t += attention_tensors(p, HIDDEN, HEADS, KV_HEADS, HEAD_DIM) + [
            (p + "mlp.gate_proj.weight", (INTER, HIDDEN), "w"),
            (p + "mlp.up_proj.weight", (INTER, HIDDEN), "w"),
            (p + "mlp.down_proj.weight", (HIDDEN, INTER), "w"),
        ]
    return sorted(t)


def f32_to_bf16_bytes(x):
    """Round-to-nearest-even fp32 -> bf16 (finite inputs), little-endian bytes."""
    u = x.astype(np.float32).view(np.uint32)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.astype("<u2").tobytes()


def write_safetensors(path, tensors, rng, std):
    """Stream (name, shape, kind) tensors to one BF16 safetensors file at path (atomically):
    kind 'norm' -> ones, else N(0, std) (a float: one std for all; a dict: by kind)."""
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for name, shape, _ in tensors:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for name, shape, kind in tensors:
            numel = int(np.prod(shape))
            if kind == "norm":
                f.write(f32_to_bf16_bytes(np.ones(numel, np.float32)))
                continue
            s = np.float32(std[kind] if isinstance(std, dict) else std)
            done = 0
            while done < numel:
                n = min(CHUNK_ELEMS, numel - done)
                f.write(f32_to_bf16_bytes(rng.standard_normal(n, dtype=np.float32) * s))
                done += n
    os.replace(path + ".tmp", path)


def copy_tokenizer(repo, out):
    """The demo model's tokenizer files, when present, beside the checkpoint in out."""
    demo = os.path.join(repo, "assets", "demo")
    for fn in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if os.path.exists(os.path.join(demo, fn)):
            shutil.copyfile(os.path.join(demo, fn), os.path.join(out, fn))


def write_checkpoint(out, tensors, config, seed, tokenizer, std=STD):
    """model.safetensors (N(0, std) weights from seed; std as write_safetensors takes it),
    config.json and, when tokenizer, the demo's tokenizer files, in the directory out; prints a
    summary line."""
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    if out == repo or out.startswith(repo + os.sep):
        sys.exit(f"refusing to write gigabytes into the repository ({out})")
    os.makedirs(out, exist_ok=True)
    t0 = time.time()
    path = os.path.join(out, "model.safetensors")
    write_safetensors(path, tensors, np.random.default_rng(seed), std)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    if tokenizer:
        copy_tokenizer(repo, out)
    nparams = sum(int(np.prod(s)) for _, s, _ in tensors)
    print(f"wrote {out}: {len(tensors)} tensors, {nparams} parameters, "
          f"{os.path.getsize(path)} bytes, {time.time() - t0:.0f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default="/tmp/tq-llama1b")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-tokenizer", action="store_true")
    args = ap.parse_args()

    write_checkpoint(os.path.abspath(args.out), tensor_list(), CONFIG, args.seed,
                     not args.no_tokenizer)


if __name__ == "__main__":
    sys.exit(main())
