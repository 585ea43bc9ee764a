#!/usr/bin/env python3
"""Tiny Qwen3, SmolLM3, Gemma 3, Gemma 2, Phi-3, Mixtral and Qwen3-MoE checkpoints + reference logits (transformers too new for make_fixtures.py's pin).

Usage (from the repository root):

    "$PYTHON" tools/make_fixtures_2025.py [--out tests/data/models] [--only NAME ...]

where $PYTHON has the versions in PINNED (see tools/README.md, "make_fixtures_2025.py").
The architectures arrived after transformers 4.46.3, which tools/make_fixtures.py pins: Qwen3
in 4.51, SmolLM3 in 4.53, Qwen3-MoE in 4.51 (Mixtral is older, but pinned here with it so
both mixtures of experts are made, and saved one tensor per expert, by the same 4.53.3); Gemma 2 and 3 existed in 4.46.3, but their layer_types in 4.53.  Everything else is make_fixtures.py's: the same random init, norm
perturbation, save / reload / reference logits, reference.json, and the float64
manual_forward self-check (which also knows QK-norm, NoPE layers, Gemma's block and the
experts' routing, which must pick different experts at different positions), each
feature required to change the logits by more than 1e-2.

Output: tests/data/models/{qwen3,qwen3_tied,smollm3,gemma3,gemma2,phi3,mixtral,qwen3_moe,
qwen3_moe_norm}/.
"""

import argparse
import sys

import torch
import transformers
from transformers import (
    Gemma2Config,
    Gemma2ForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    MixtralConfig,
    MixtralForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
    SmolLM3Config,
    SmolLM3ForCausalLM,
)

import make_fixtures as mf

PINNED = {"transformers": "4.53.3", "torch": "2.5.1"}


def spec(cls, cfg, seed, dtype, **kwargs):
    """A make_fixtures.py MODELS entry: context 256, eps 1e-6, sequences of 40 and 7."""
    kw = dict(max_position_embeddings=256, rms_norm_eps=1e-6, **kwargs)
    return dict(cls=cls, cfg=cfg, seed=seed, kwargs=kw, dtype=dtype, seq_lens=(40, 7))


MODELS = {
    # head_dim 32 != 64 / 4: q is [n, 128], o_proj reads 128 columns
    "qwen3": spec(Qwen3ForCausalLM, Qwen3Config, 606, torch.bfloat16, vocab_size=256,
                  rope_theta=1000000.0, head_dim=32, tie_word_embeddings=False),
    "qwen3_tied": spec(Qwen3ForCausalLM, Qwen3Config, 707, torch.float32, vocab_size=288,
                       rope_theta=10000.0, head_dim=16, tie_word_embeddings=True),
    # no_rope_layers from the interval: [1, 1, 1, 0] (layer 3 without RoPE), the one
    # pattern llama.cpp's smollm3 runs; tie_word_embeddings left to its default (True)
    "smollm3": spec(SmolLM3ForCausalLM, SmolLM3Config, 808, torch.float16, vocab_size=352,
                    num_hidden_layers=4, rope_theta=10000.0, no_rope_layer_interval=4,
                    pad_token_id=None),
    # Gemma 3: the default pattern (5 sliding layers, then a global one), the sliding ones
    # with their own RoPE base, linear scaling on the global one; q scaled by
    # 1/sqrt(head_dim) as llama.cpp's gemma3 does
    "gemma3": spec(Gemma3ForCausalLM, Gemma3TextConfig, 909, torch.bfloat16, vocab_size=256,
                   num_hidden_layers=6, intermediate_size=96, head_dim=32,
                   query_pre_attn_scalar=32, rope_theta=1000000.0, rope_local_base_freq=100.0,
                   rope_scaling={"rope_type": "linear", "factor": 4.0}, sliding_window=16,
                   final_logit_softcapping=5.0, pad_token_id=0),
    # Gemma 2: alternating sliding and global layers, both soft-caps
    "gemma2": spec(Gemma2ForCausalLM, Gemma2Config, 1010, torch.float16, vocab_size=320,
                   num_hidden_layers=4, intermediate_size=96, head_dim=16,
                   query_pre_attn_scalar=16, rope_theta=10000.0, sliding_window=16,
                   attn_logit_softcapping=2.0, final_logit_softcapping=3.0, pad_token_id=0),
    # Phi-3: fused qkv_proj and gate_up_proj, rotary over half of each head (8 of 16
    # dims), longrope with the long factors past original_max_position_embeddings (32:
    # the 40-token sequence uses them, the 7-token one the short ones), attention factor
    # sqrt(1 + ln(256 / 32) / ln 32), a window of 16
    "phi3": spec(Phi3ForCausalLM, Phi3Config, 1111, torch.bfloat16, vocab_size=256,
                 partial_rotary_factor=0.5, original_max_position_embeddings=32,
                 rope_scaling={"type": "longrope", "short_factor": [1.0, 1.5, 2.0, 3.0],
                               "long_factor": [2.0, 4.0, 9.0, 20.0]},
                 sliding_window=16, pad_token_id=0),
    # Mixtral: 4 experts of 64, top-2 renormalised, every layer; sliding_window null (its
    # default)
    "mixtral": spec(MixtralForCausalLM, MixtralConfig, 1212, torch.bfloat16, vocab_size=256,
                    intermediate_size=64, num_local_experts=4, num_experts_per_tok=2,
                    rope_theta=1000000.0),
    # Qwen3-MoE: QK-norm, head_dim 32 != 64 / 4; layer 0 dense (mlp_only_layers, intermediate
    # 96), layer 1 4 experts of 32, top-2 not renormalised (norm_topk_prob false)
    "qwen3_moe": spec(Qwen3MoeForCausalLM, Qwen3MoeConfig, 1313, torch.bfloat16,
                      vocab_size=256, head_dim=32, intermediate_size=96, num_experts=4,
                      num_experts_per_tok=2, moe_intermediate_size=32, mlp_only_layers=[0],
                      norm_topk_prob=False, rope_theta=1000000.0),
    # Qwen3-MoE as llama.cpp's qwen3moe runs it (tests/gguf_llamacpp.sh): every layer routed,
    # top-2 of 4 renormalised (norm_topk_prob, as Qwen3-30B-A3B), experts of 64
    "qwen3_moe_norm": spec(Qwen3MoeForCausalLM, Qwen3MoeConfig, 1414, torch.bfloat16,
                           vocab_size=256, head_dim=32, intermediate_size=96, num_experts=4,
                           num_experts_per_tok=2, moe_intermediate_size=64,
                           norm_topk_prob=True, rope_theta=1000000.0),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/models")
    ap.add_argument("--only", nargs="*", choices=sorted(MODELS))
    args = ap.parse_args()
    have = {"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0]}
    if have != PINNED:
        raise SystemExit(f"make_fixtures_2025.py wants {PINNED}, this Python has {have}")
    transformers.logging.set_verbosity_error()
    total = 0
    for name, sp in MODELS.items():
        if args.only and name not in args.only:
            continue
        total += mf.make_one(name, sp, args.out)
    print(f"total {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
