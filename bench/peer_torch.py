#!/usr/bin/env python3
"""peer_torch.py: the forward pass bench_forward times, run by transformers instead.

Usage (from the repository root):

    "$PYTHON" bench/peer_torch.py MODEL_DIR [--tokens N] [--reps R] [--threads T]

Loads MODEL_DIR with AutoModelForCausalLM (torch_dtype float32, attn_implementation "eager"),
sets torch.set_num_threads(T) (0 = all cores), and under no_grad runs model(input_ids) -- one
sequence of N tokens, full logits [N, V], no KV cache kept -- once to warm up and R more times.
The ids are the same deterministic sequence as bench_forward's:
((i * 1103515245 + 12345) mod 2^31) mod V.  Prints one JSON object with tokens_per_second
(best), the median, load and warm-up times, peak RSS and a logits checksum (sum of all logits
and the argmax of the last position, from the warm-up run) to compare with bench_forward's, and
other_cpus_busy: how many CPUs other processes kept busy during the timed reps.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

from bench_util import cpu_others, cpu_sample, load_average


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.tokens < 1 or args.reps < 1 or args.threads < 0:
        sys.exit("peer_torch.py: --tokens and --reps must be >= 1, --threads >= 0")

    load1 = load_average()
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)

    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(
        args.model, torch_dtype=torch.float32, attn_implementation="eager")
    model.eval()
    load_s = time.perf_counter() - t0

    V = model.config.vocab_size
    N = args.tokens
    ids = torch.tensor([[((i * 1103515245 + 12345) & 0x7FFFFFFF) % V for i in range(N)]],
                       dtype=torch.long)

    times = []
    with torch.no_grad():
        t0 = time.perf_counter()
        logits = model(input_ids=ids, use_cache=False).logits
        warm_s = time.perf_counter() - t0
        logits_sum = float(logits.double().sum())
        last_argmax = int(logits[0, -1].argmax())
        del logits
        c0 = cpu_sample()
        for _ in range(args.reps):
            t0 = time.perf_counter()
            out = model(input_ids=ids, use_cache=False)
            times.append(time.perf_counter() - t0)
            del out
        c1 = cpu_sample()

    best = min(times)
    med = statistics.median(times)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({
        "engine": "transformers",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "model": args.model,
        "tokens": N,
        "reps": args.reps,
        "threads": torch.get_num_threads(),
        "load_seconds": round(load_s, 4),
        "warmup_seconds": round(warm_s, 4),
        "best_seconds": round(best, 4),
        "median_seconds": round(med, 4),
        "tokens_per_second": round(N / best, 2),
        "tokens_per_second_median": round(N / med, 2),
        "peak_rss_mb": round(rss_mb, 1),
        "load_average": load1,
        "other_cpus_busy": round(cpu_others(c0, c1), 2),
        "logits_sum": logits_sum,
        "last_argmax": last_argmax,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
