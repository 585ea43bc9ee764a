#!/usr/bin/env python3
"""Write a small random Llama checkpoint for tests: python3 make_random_llama.py OUT_DIR

Llama, hidden 256, 3 layers, 8 heads of 32 (4 kv heads), intermediate 768, the demo model's
tokenizer (vocab 4096), fp16 weights drawn from N(0, 0.02) with a few input channels of each
norm scaled up 20x (outlier channels, as trained models have), so quantization settings
differ in cost from layer to layer.  Needs only numpy; deterministic (seed 1).
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

H, F, L, NH, NKV, V = 256, 768, 3, 8, 4, 4096
HD = H // NH


def main():
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    demo = os.path.join(here, "..", "assets", "demo")
    rng = np.random.default_rng(1)
    t = {}

    def w(name, *shape, scale=0.02):
        t[name] = (rng.standard_normal(shape) * scale).astype(np.float16)

    w("model.embed_tokens.weight", V, H, scale=0.5)
    for i in range(L):
        p = "model.layers.%d." % i
        for n, r, c in (("self_attn.q_proj", NH * HD, H), ("self_attn.k_proj", NKV * HD, H),
                        ("self_attn.v_proj", NKV * HD, H), ("self_attn.o_proj", H, NH * HD),
                        ("mlp.gate_proj", F, H), ("mlp.up_proj", F, H),
                        ("mlp.down_proj", H, F)):
            w(p + n + ".weight", r, c, scale=1.0 / np.sqrt(c))
        for n in ("input_layernorm", "post_attention_layernorm"):
            g = np.ones(H, dtype=np.float32)
            g[rng.choice(H, 4, replace=False)] = 20.0
            t[p + n + ".weight"] = g.astype(np.float16)
    t["model.norm.weight"] = np.ones(H, dtype=np.float16)
    w("lm_head.weight", V, H, scale=1.0 / np.sqrt(H))

    os.makedirs(out, exist_ok=True)
    header, off = {}, 0
    for k in sorted(t):
        n = t[k].nbytes
        header[k] = {"dtype": "F16", "shape": list(t[k].shape), "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for k in sorted(t):
            f.write(t[k].tobytes())
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H,
           "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": NH,
           "num_key_value_heads": NKV, "vocab_size": V, "max_position_embeddings": 512,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
           "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(demo, name), os.path.join(out, name))


if __name__ == "__main__":
    main()
