#!/usr/bin/env python3
"""Write a random-weight Qwen3-MoE-shaped checkpoint (or its dense twin), for the MoE GPTQ benchmark.

Usage (from the repository root):

    "$PYTHON" bench/make_moe.py [OUT_DIR] [--dense] [--seed 0]

OUT_DIR defaults to /tmp/tq-moe (or /tmp/tq-moe-dense with --dense).  Do NOT point it into the
repository: the mixture of experts is ~3.3 GB.

Shape (qwen3_moe): hidden 1024, 16 layers, 16 heads of 64, 4 kv heads, QK-norm, 64 experts of
width 512 in every layer, top-8 renormalised (norm_topk_prob, as Qwen3-30B-A3B), vocabulary
4096 (the demo model's tokenizer, copied beside it, so calibration text tokenizes to ids the
model has), tied embeddings, rope_theta 1e6, rms_norm_eps 1e-6.  1.65 G parameters, 0.25 G
active per token.

--dense writes the dense model of the same active size: model_type qwen3 (the same attention,
QK-norm included), the same hidden size, layers, heads, vocabulary and tokenizer, and one MLP of
intermediate 8 x 512 = 4096 per layer, so a token's forward pass costs the same FLOPs in both
(the router's 64 x 1024 aside).

Output: OUT_DIR/config.json ("torch_dtype": "bfloat16") and OUT_DIR/model.safetensors (BF16, one
file, written as bench/make_llama1b.py writes its: streamed, in name order, {"format": "pt"}).
Weights are N(0, 0.02) (as transformers initializes them), norms 1, but the embedding is N(0, 1).
With the embedding at 0.02 too, the router sent most tokens to the same few experts (on 32 x 512
tokens, layers 0 and 1: 56 and 34 tokens to the least routed expert, 10,543 and 9,639 to the
most, 68 and 89 of their 192 expert linears calibrated on all tokens for want of routed ones),
most likely because the residual stream was dominated by what all tokens share: attention, its
scores near uniform, adds about the mean of the prefix's values, nearly the same for all late
tokens and, with Zipf-distributed tokens, far from 0.  With the embedding at 1 a
token's own vector dominates every layer's input, so its experts depend on which token it is,
and the router (N(0, 0.02): logits of standard deviation about 0.64) spreads the tokens as their
frequencies allow.  The coverage `turboquant quantize` reports is what bench/moe_gptq.sh prints.
Deterministic for a given --seed.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_llama1b import attention_tensors, write_checkpoint  # noqa: E402

HIDDEN = 1024
LAYERS = 16
HEADS = 16
KV_HEADS = 4
HEAD_DIM = 64
EXPERTS = 64
TOP_K = 8
EXPERT_WIDTH = 512
DENSE_INTER = TOP_K * EXPERT_WIDTH
VOCAB = 4096
STD = 0.02
# the embedding's: a token's own vector dominates the residual stream (see the top)
EMBED_STD = 1.0


def config(dense):
    c = {
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": STD,
        "intermediate_size": DENSE_INTER,
        "max_position_embeddings": 4096,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.53.3",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": VOCAB,
    }
    if dense:
        c.update(architectures=["Qwen3ForCausalLM"], model_type="qwen3")
    else:
        c.update(architectures=["Qwen3MoeForCausalLM"], model_type="qwen3_moe",
                 decoder_sparse_step=1, mlp_only_layers=[], moe_intermediate_size=EXPERT_WIDTH,
                 norm_topk_prob=True, num_experts=EXPERTS, num_experts_per_tok=TOP_K,
                 output_router_logits=False, router_aux_loss_coef=0.001)
    return c


def tensor_list(dense):
    """(name, shape, kind) for every stored tensor; kind 'norm' -> ones, 'embed' -> N(0, EMBED_STD),
    'w' -> N(0, STD)."""
    t = [("model.embed_tokens.weight", (VOCAB, HIDDEN), "embed"), ("model.norm.weight", (HIDDEN,), "norm")]
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        t += attention_tensors(p, HIDDEN, HEADS, KV_HEADS, HEAD_DIM) + [
            (p + "self_attn.q_norm.weight", (HEAD_DIM,), "norm"),
            (p + "self_attn.k_norm.weight", (HEAD_DIM,), "norm"),
        ]
        if dense:
            t += [
                (p + "mlp.gate_proj.weight", (DENSE_INTER, HIDDEN), "w"),
                (p + "mlp.up_proj.weight", (DENSE_INTER, HIDDEN), "w"),
                (p + "mlp.down_proj.weight", (HIDDEN, DENSE_INTER), "w"),
            ]
            continue
        t.append((p + "mlp.gate.weight", (EXPERTS, HIDDEN), "w"))
        for e in range(EXPERTS):
            q = f"{p}mlp.experts.{e}."
            t += [
                (q + "gate_proj.weight", (EXPERT_WIDTH, HIDDEN), "w"),
                (q + "up_proj.weight", (EXPERT_WIDTH, HIDDEN), "w"),
                (q + "down_proj.weight", (HIDDEN, EXPERT_WIDTH), "w"),
            ]
    return sorted(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?")
    ap.add_argument("--dense", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = args.out or ("/tmp/tq-moe-dense" if args.dense else "/tmp/tq-moe")
    write_checkpoint(os.path.abspath(out), tensor_list(args.dense), config(args.dense), args.seed, True,
                     {"embed": EMBED_STD, "w": STD})


if __name__ == "__main__":
    sys.exit(main())
