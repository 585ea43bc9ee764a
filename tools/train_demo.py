#!/usr/bin/env python3
"""Train TurboQuant's bundled demo model (assets/demo/): a byte-level BPE tokenizer and a small
Llama, both from scratch, on CPU.

Usage (from the repository root):

    "$PYTHON" tools/train_demo.py [--steps N] [--out assets/demo] [--data ../shared/data]
    "$PYTHON" tools/train_demo.py --measure 5      # time 5 steps of each shape, save nothing

Everything is seeded (SEED) and the step count is a fixed constant (STEPS), so a re-run on the
same software produces the same model (CPU, 2 threads).  Progress goes to stdout; run it with
nohup and a log file, e.g.

    nohup "$PYTHON" tools/train_demo.py > /tmp/tq-train-demo.log 2>&1 &

(a) Tokenizer: Llama-3-shaped byte-level BPE trained with `tokenizers` on
    wikitext2-valid.txt + linux-train.txt: pre_tokenizer Sequence[Split(LLAMA3 regex, isolated),
    ByteLevel(add_prefix_space=False, use_regex=False)], BPE(ignore_merges=True), BpeTrainer(
    vocab_size=4096, min_frequency=2, special tokens <|begin_of_text|> (id 0) and <|end_of_text|>
    (id 1), initial_alphabet=ByteLevel.alphabet()), decoder ByteLevel, post_processor
    Sequence[ByteLevel(trim_offsets=False), TemplateProcessing("<|begin_of_text|> $A")].
    Wrapped as PreTrainedTokenizerFast and saved with save_pretrained.
(b) Model: LlamaForCausalLM, vocab 4096, hidden 256, 4 layers, 8 heads, 2 kv heads, intermediate
    768, max_position_embeddings 512, rope_theta 10000, rms_norm_eps 1e-5, untied lm_head,
    bos 0 / eos 1  (~4.9M parameters).
(c) Training: AdamW (lr 2e-3, betas 0.9/0.95, weight decay 0.1 on matrices only), linear warmup
    then cosine decay to 10 %, grad-norm clip 1.0, on random windows of the tokenized training
    text (both files, each tokenized with add_special_tokens=False, joined by <|end_of_text|>).
    Batches are 16 x 256 tokens; every LONG_EVERY-th step uses 8 x 512 tokens instead (same token
    count) so that positions 256..511 are trained too -- the demo is evaluated at ctx 512.
(d) Saved in float16 safetensors: assets/demo/{config.json, model.safetensors, tokenizer.json,
    tokenizer_config.json, special_tokens_map.json}.
"""

import argparse
import math
import os
import random
import sys
import time

import numpy as np
import torch

torch.set_num_threads(2)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass
os.environ.setdefault("RAYON_NUM_THREADS", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import transformers  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast  # noqa: E402

SEED = 1234
STEPS = 900  # fixed; measured 1.77 s (16x256) / 2.15 s (8x512) per step on 2 idle cores -> ~28 min
WARMUP = 50
LR = 2e-3
MIN_LR_FRAC = 0.1
WEIGHT_DECAY = 0.1
BATCH, SEQ = 16, 256
LONG_BATCH, LONG_SEQ = 8, 512
LONG_EVERY = 4
VOCAB = 4096
TRAIN_FILES = ["wikitext2-valid.txt", "linux-train.txt"]

LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"


def train_tokenizer(paths):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        min_frequency=2,
        special_tokens=[BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train(paths, trainer)
    bos = tok.token_to_id(BOS)
    eos = tok.token_to_id(EOS)
    assert (bos, eos) == (0, 1), (bos, eos)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A",
                pair=f"{BOS} $A {BOS} $B:1",
                special_tokens=[(BOS, bos)],
            ),
        ]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, model_max_length=512
    )
    return fast


def make_model(tok):
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=2,
        max_position_embeddings=512,
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        initializer_range=0.02,
    )
    return LlamaForCausalLM(cfg)


def lr_at(step, steps):
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    t = (step - WARMUP) / max(1, steps - WARMUP)
    return LR * (MIN_LR_FRAC + (1 - MIN_LR_FRAC) * 0.5 * (1 + math.cos(math.pi * t)))


def batch_shape(step):
    return (LONG_BATCH, LONG_SEQ) if step % LONG_EVERY == LONG_EVERY - 1 else (BATCH, SEQ)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--out", default="assets/demo")
    ap.add_argument("--data", default=os.path.join("..", "shared", "data"))
    ap.add_argument("--measure", type=int, default=0, help="time N steps per batch shape, save nothing")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)

    t0 = time.time()
    paths = [os.path.join(args.data, f) for f in TRAIN_FILES]
    tok = train_tokenizer(paths)
    print(f"tokenizer trained: vocab {len(tok)} in {time.time() - t0:.1f}s", flush=True)

    ids = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            text = f.read()
        part = tok(text, add_special_tokens=False)["input_ids"]
        print(f"  {os.path.basename(p)}: {len(text.encode())} bytes -> {len(part)} tokens", flush=True)
        ids.extend(part)
        ids.append(tok.eos_token_id)
    data = torch.tensor(ids, dtype=torch.long)
    print(f"training tokens: {len(data)} ({time.time() - t0:.1f}s)", flush=True)

    model = make_model(tok)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model parameters: {nparams}", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=LR,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    gen = torch.Generator().manual_seed(SEED)

    def get_batch(step):
        b, s = batch_shape(step)
        starts = torch.randint(0, len(data) - s, (b,), generator=gen)
        return torch.stack([data[i: i + s] for i in starts.tolist()])

    def train_step(step, steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps)
        x = get_batch(step)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item(), gn.item()

    model.train()
    if args.measure:
        for shape_step in (0, LONG_EVERY - 1):
            times = []
            for k in range(args.measure + 1):
                ts = time.time()
                train_step(shape_step, 1000)
                times.append(time.time() - ts)
            print(f"shape {batch_shape(shape_step)}: {np.mean(times[1:]):.3f} s/step (first {times[0]:.3f})", flush=True)
        return 0

    steps = args.steps
    t_train = time.time()
    window = []
    for step in range(steps):
        loss, gn = train_step(step, steps)
        window.append(loss)
        if (step + 1) % 25 == 0 or step == 0 or step + 1 == steps:
            el = time.time() - t_train
            eta = el / (step + 1) * (steps - step - 1)
            print(
                f"step {step + 1:5d}/{steps} loss {np.mean(window):.4f} (last {loss:.4f}) "
                f"gnorm {gn:.2f} lr {lr_at(step, steps):.2e} elapsed {el / 60:.1f} min eta {eta / 60:.1f} min",
                flush=True,
            )
            window = []
    train_secs = time.time() - t_train
    print(f"training done: {steps} steps in {train_secs:.0f} s ({train_secs / 60:.1f} min)", flush=True)

    model.eval()
    os.makedirs(args.out, exist_ok=True)
    for fn in ("model.safetensors", "config.json", "generation_config.json"):
        if os.path.exists(os.path.join(args.out, fn)):
            os.remove(os.path.join(args.out, fn))
    model.to(torch.float16).save_pretrained(args.out, safe_serialization=True)
    gc = os.path.join(args.out, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)  # not needed by TurboQuant
    tok.save_pretrained(args.out)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"saved to {args.out}: {sorted(os.listdir(args.out))}, {total} bytes; total wall {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
