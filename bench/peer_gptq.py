#!/usr/bin/env python3
"""peer_gptq.py: the whole-model GPTQ job bench_gptq times, run by GPTQModel on the CPU.

Usage (from the repository root, with the venv bench/install-gptq-peer.sh makes):

    "$PEER_PYTHON" bench/peer_gptq.py MODEL_DIR --calib FILE [--samples N] [--seqlen L]
        [--seed S] [--threads T] [--scheme intB-gG[-sym]] [--batch-size B]
        [--dtype float32|bfloat16|float16|auto] [--offload-to-disk]

Samples the calibration windows as the engine does (core/calib.c): the text (or the "text"
fields of a JSONL file, joined by blank lines) is tokenized with the model's tokenizer.json by
Hugging Face `tokenizers`, without special tokens; L is capped at max_position_embeddings; the
start of window i is the i-th draw of SplitMix64 seeded with S, modulo (n_ids - L + 1).  With
the same tokenization the N windows are the engine's own.

Then loads MODEL_DIR with GPTQModel (GPTQModel.load, device "cpu", weights in --dtype: float32
by default, the precision the engine computes in; GPTQModel's own CPU default is bfloat16) and
runs its whole-model GPTQ in --scheme, named as bench_gptq names it.  The default,
int4-g128-sym, is W4, group 128, symmetric: GPTQ's symmetric grid, as the engine's, scale
2 absmax / 15 around the fixed zero point 8.  Without -sym it is asymmetric (min/max range,
rounded zero point), as bench_gptq's own default int4-g128 is.  Always: no act-order (desc_act
and act_group_aware both off), damping 0.01 x mean of the Hessian diagonal, lazy-batch block
128, true-sequential, lm_head left in float, no low-sample RTN fallback, no offload to disk
unless --offload-to-disk.  The quantized model is packed in memory (GPTQModel packs as it
goes) and not saved.

torch.set_num_threads(T) (0 = all cores); GPTQModel also spreads its per-module work over a
pool of GPTQMODEL_CPU_WORKERS Python threads (set to 2 on machines of 2 cores or fewer, where
its default fails).  Its CPU packing kernel is JIT-compiled on first use, into the venv
(bench/install-gptq-peer.sh does it once); it is loaded before the clock starts.

Prints one JSON object on stdout (everything the libraries print goes to stderr): peer name
and version, torch and transformers versions, the job, sample_s (reading and tokenizing the
text and cutting the windows), load_s (model load), ext_load_s (loading, or building, the
packing kernel), quantize_s (model.quantize() alone: forward passes, Hessians, GPTQ and
packing), peak_rss_mb (ru_maxrss), other_cpus_busy (how many CPUs other processes kept busy
during quantize(), as bench/bench_util.c measures it), the settings GPTQModel actually ran
with, read back from its config, and the number of linears quantized with the mean of
GPTQModel's own per-module loss (its definition, not the engine's rel_err).
"""

import argparse
import json
import os
import re
import resource
import sys
import time

from bench_util import cpu_others, cpu_sample

MASK64 = (1 << 64) - 1


def splitmix64(state):
    """One SplitMix64 step, as calib_rand in core/calib.c: (new state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def read_calibration_text(path):
    """The text, or a JSONL file's "text" fields joined by blank lines (core/calib.c rules)."""
    with open(path, "rb") as f:
        raw = f.read()
    if not raw:
        sys.exit(f"peer_gptq.py: {path}: empty text file")
    text = raw.decode("utf-8")
    if path.endswith(".jsonl") or text.lstrip(" \t\r\n").startswith("{"):
        parts = []
        for lineno, line in enumerate(text.split("\n"), 1):
            if line.strip(" \t\r") == "":
                continue
            try:
                t = json.loads(line).get("text")
            except (ValueError, AttributeError):
                t = None
            if not isinstance(t, str):
                sys.exit(f'peer_gptq.py: {path}: line {lineno} is not a JSON object with a '
                         f'"text" string')
            parts.append(t)
        text = "\n\n".join(parts)
    return text


def sample_windows(model_dir, calib, n, seqlen, seed):
    """N windows of L token ids, the engine's way; returns (windows, L, n_ids)."""
    from tokenizers import Tokenizer

    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    max_pos = cfg.get("max_position_embeddings")
    if max_pos and seqlen > max_pos:
        seqlen = max_pos
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    ids = tok.encode(read_calibration_text(calib), add_special_tokens=False).ids
    if len(ids) < seqlen:
        sys.exit(f"peer_gptq.py: {calib}: calibration text is {len(ids)} tokens, shorter than "
                 f"one sample of {seqlen}")
    state = seed & MASK64
    windows = []
    for _ in range(n):
        state, r = splitmix64(state)
        start = r % (len(ids) - seqlen + 1)
        windows.append(ids[start:start + seqlen])
    return windows, seqlen, len(ids)


def quant_losses(result):
    """Per-module GPTQ losses from quantize()'s returned log, where it has them."""
    losses = []

    def walk(x):
        if isinstance(x, dict):
            if "loss" in x and ("module" in x or "layer" in x):
                try:
                    losses.append(float(x["loss"]))
                except (TypeError, ValueError):
                    pass
                return
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(result)
    return losses


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--calib", required=True)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--scheme", default="int4-g128-sym")
    ap.add_argument("--dtype", default="float32",
                    choices=["float32", "bfloat16", "float16", "auto"])
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--offload-to-disk", action="store_true")
    args = ap.parse_args()
    if args.samples < 1 or args.seqlen < 2 or args.threads < 0 or args.batch_size < 1:
        sys.exit("peer_gptq.py: --samples and --batch-size must be >= 1, --seqlen >= 2, "
                 "--threads >= 0")

    m = re.fullmatch(r"int([2-8])-g(\d+)(-sym)?", args.scheme)
    if m is None:
        sys.exit(f"peer_gptq.py: --scheme {args.scheme}: expected intB-gG or intB-gG-sym")
    bits, group, sym = int(m.group(1)), int(m.group(2)), m.group(3) is not None

    # One JSON object on stdout: whatever the libraries print goes to stderr.
    sys.stdout.flush()
    json_fd = os.dup(1)
    os.dup2(2, 1)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    # GPTQModel 7.7.0 sizes its CPU worker pool as (cores + 1) // 2 but asks for a
    # 2-worker model-loader pool inside it: on 2 or fewer cores load() fails with
    # "Virtual pool 'model_loader:cpu' requests 2 workers but parent 'cpu' only has 1".
    if (os.cpu_count() or 1) < 3:
        os.environ.setdefault("GPTQMODEL_CPU_WORKERS", "2")
    # GPTQModel JIT-compiles its CPU packing kernel on first use (about a minute here);
    # keep the build in the venv, where bench/install-gptq-peer.sh builds it.
    os.environ.setdefault("GPTQMODEL_TORCH_EXTENSIONS_DIR",
                          os.path.join(sys.prefix, "gptqmodel-torch-extensions"))

    t0 = time.monotonic()
    windows, seqlen, n_ids = sample_windows(args.model, args.calib, args.samples,
                                            args.seqlen, args.seed)
    sample_s = time.monotonic() - t0

    import torch
    import transformers
    import gptqmodel
    from gptqmodel import GPTQConfig, GPTQModel

    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)

    qcfg = GPTQConfig(
        bits=bits,
        group_size=group,
        sym=sym,
        desc_act=False,
        act_group_aware=False,
        damp_percent=0.01,
        static_groups=False,
        mse=0.0,
        true_sequential=True,
        lm_head=False,
        device="cpu",
        offload_to_disk=args.offload_to_disk,
        fallback=None,
    )
    dtype = "auto" if args.dtype == "auto" else getattr(torch, args.dtype)

    # Build (or load) the packing kernel now, so that a first run's compile is not timed.
    t0 = time.monotonic()
    pack_ext = None
    try:
        from gptqmodel.utils.cpp import load_pack_block_extension
        pack_ext = bool(load_pack_block_extension())
    except ImportError:
        pass
    ext_s = time.monotonic() - t0

    t0 = time.monotonic()
    model = GPTQModel.load(args.model, qcfg, dtype=dtype)
    load_s = time.monotonic() - t0

    calibration = [{"input_ids": w, "attention_mask": [1] * len(w)} for w in windows]
    c0 = cpu_sample()
    result = model.quantize(calibration, batch_size=args.batch_size)
    c1 = cpu_sample()
    quantize_s = c1[0] - c0[0]
    others = cpu_others(c0, c1)

    ru = resource.getrusage(resource.RUSAGE_SELF)
    qc = model.quantize_config
    losses = quant_losses(result)
    model_dtype = str(next(model.model.parameters()).dtype).replace("torch.", "")
    out = {
        "peer": "gptqmodel",
        "peer_version": gptqmodel.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "model": args.model,
        "scheme": args.scheme,
        "samples": len(windows),
        "seqlen": seqlen,
        "seed": args.seed,
        "calib_tokens": n_ids,
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "dtype": model_dtype,
        "sample_s": round(sample_s, 3),
        "load_s": round(load_s, 3),
        "ext_load_s": round(ext_s, 3),
        "pack_ext": pack_ext,
        "quantize_s": round(quantize_s, 3),
        "peak_rss_mb": round(ru.ru_maxrss / 1024.0, 1),
        "other_cpus_busy": round(others, 2),
        "settings": {
            "bits": qc.bits if isinstance(qc.bits, int) else str(qc.bits),
            "group_size": qc.group_size,
            "sym": qc.sym,
            "desc_act": qc.desc_act,
            "act_group_aware": qc.act_group_aware,
            "damp_percent": qc.damp_percent,
            "damp_auto_increment": qc.damp_auto_increment,
            # GPTQModel's GPTQ.quantize(blocksize=128) default; its config has no field for it.
            "blocksize": 128,
            "true_sequential": qc.true_sequential,
            "lm_head": qc.lm_head,
            "static_groups": qc.static_groups,
            "mse": qc.mse,
            "offload_to_disk": qc.offload_to_disk,
            "fallback": None if qc.fallback is None else str(qc.fallback),
            "format": str(qc.format),
            "device": str(qc.device),
        },
        "modules_quantized": len(losses),
        "mean_gptq_loss": (sum(losses) / len(losses)) if losses else None,
    }
    sys.stdout.flush()
    os.dup2(json_fd, 1)
    os.close(json_fd)
    print(json.dumps(out))
    sys.stdout.flush()
    # GPTQModel leaves worker threads behind; do not wait for them.
    os._exit(0)


if __name__ == "__main__":
    main()
