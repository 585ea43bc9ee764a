#!/usr/bin/env python3
"""peer_int.py: the integer peers of bench/quality.sh, each writing a float checkpoint.

Usage (from the repository root, in a peer venv):

    PY bench/peer_int.py tohf GGUF_FILE OUT_DIR
    PY bench/peer_int.py gptqmodel MODEL_DIR --ids CALIB --bits B --group G --out DIR
        [--threads T]
    PY bench/peer_int.py autoround MODEL_DIR --ids CALIB --bits B --group G --out DIR
        [--threads T] [--iters N] [--batch-size N]

tohf: a GGUF file as a Hugging Face directory in float32 (transformers' own GGUF reader:
its dequantization, its undoing of llama.cpp's q/k row order, its tokenizer), for the peers,
which read Hugging Face directories only.  bench/quality.sh checks it against the GGUF file
with `turboquant eval --compare` (the KLD must be ~0).

gptqmodel, autoround: quantize MODEL_DIR (float32) to B-bit integers in groups of G,
asymmetric (min/max range, rounded zero point: the engine's grid without --sym), lm_head and
embeddings left in float, on exactly the calibration windows of CALIB: the "ids" tensor
(I32 [n_samples, seqlen]) of `turboquant calibrate --out`, the windows our GPTQ and AWQ run
on.  Then the quantized weights are dequantized by the peer's own code (GPTQModel: each
quantized module's dequantize_weight() on its packed codes; AutoRound: its "fake" export,
the weights quantized and dequantized by its own qdq) and written as model.safetensors in
float32 in MODEL_DIR's layout (one weight per linear, [out, in]), beside MODEL_DIR's
config.json and tokenizer files, so that `turboquant eval --compare` evaluates the peer's
model with our evaluator.  DIR/peer.json: versions, settings and times (CPU seconds too).

GPTQModel settings: as bench/peer_gptq.py (damping 0.01, no act-order, block 128, true
sequential).  AutoRound: its defaults (iters 200, lr 1/iters, minmax lr the same,
batch size 8, the whole model's sign-gradient rounding and range search) unless --iters or
--batch-size say otherwise; nsamples and seqlen are CALIB's.
"""

import argparse
import json
import os
import resource
import shutil
import sys
import time

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "generation_config.json")


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def read_ids(path):
    """The windows of `turboquant calibrate --out`: a list of lists of token ids."""
    from safetensors.numpy import load_file

    t = load_file(path)
    if "ids" not in t or t["ids"].ndim != 2:
        sys.exit("peer_int.py: %s: no \"ids\" tensor [n_samples, seqlen] (turboquant "
                 "calibrate --out writes one)" % path)
    return [[int(x) for x in row] for row in t["ids"]]


def write_float(model_dir, out, tensors, meta):
    """tensors (name -> float tensor, the original layout) as OUT/model.safetensors."""
    import torch
    from safetensors.torch import save_file

    os.makedirs(out, exist_ok=True)
    cpu = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in tensors.items()}
    save_file(cpu, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    cfg.pop("quantization_config", None)
    cfg["torch_dtype"] = "float32"
    cfg.pop("dtype", None)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    for name in TOKENIZER_FILES:
        if os.path.exists(os.path.join(model_dir, name)):
            shutil.copy(os.path.join(model_dir, name), os.path.join(out, name))
    with open(os.path.join(out, "peer.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


def float_tensors(model_dir):
    """MODEL_DIR's own tensors, by name (the ones no peer changes are copied from here)."""
    import torch
    from safetensors.torch import load_file

    out = {}
    for f in sorted(os.listdir(model_dir)):
        if f.endswith(".safetensors"):
            for k, v in load_file(os.path.join(model_dir, f)).items():
                out[k] = v.to(torch.float32)
    if not out:
        sys.exit("peer_int.py: %s: no .safetensors file" % model_dir)
    return out


def tohf(a):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d, name = os.path.split(os.path.abspath(a.model))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    # transformers refuses save_pretrained() of a model read from GGUF ("quantized with
    # gguf"): the float tensors and the config are written here instead.
    from safetensors.torch import save_file

    os.makedirs(a.out, exist_ok=True)
    tied = getattr(model.config, "tie_word_embeddings", False)
    sd = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()
          if not (tied and k == "lm_head.weight")}
    save_file(sd, os.path.join(a.out, "model.safetensors"), metadata={"format": "pt"})
    cfg = model.config.to_dict()
    cfg.pop("quantization_config", None)
    cfg["torch_dtype"] = "float32"
    cfg.pop("dtype", None)
    if not cfg.get("architectures"):
        cfg["architectures"] = [type(model).__name__]
    # transformers 5 writes the rope base in "rope_parameters" only; the engine reads
    # the top-level "rope_theta" (transformers 4's key, which 5 still reads), else 10000.
    rp = cfg.get("rope_parameters") or {}
    if "rope_theta" not in cfg and "rope_theta" in rp:
        cfg["rope_theta"] = rp["rope_theta"]
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    tok.save_pretrained(a.out)


def linear_names(model):
    import torch

    return [n for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and n.startswith("model.layers.")]


def run_gptqmodel(a, windows):
    import torch
    import transformers
    import gptqmodel
    from gptqmodel import GPTQConfig, GPTQModel

    if (os.cpu_count() or 1) < 3:     # see bench/peer_gptq.py
        os.environ.setdefault("GPTQMODEL_CPU_WORKERS", "2")
    os.environ.setdefault("GPTQMODEL_TORCH_EXTENSIONS_DIR",
                          os.path.join(sys.prefix, "gptqmodel-torch-extensions"))
    qcfg = GPTQConfig(bits=a.bits, group_size=a.group, sym=False, desc_act=False,
                      act_group_aware=False, damp_percent=0.01, static_groups=False,
                      mse=0.0, true_sequential=True, lm_head=False, device="cpu",
                      offload_to_disk=False, fallback=None)
    model = GPTQModel.load(a.model, qcfg, dtype=torch.float32)
    calibration = [{"input_ids": w, "attention_mask": [1] * len(w)} for w in windows]
    c0, t0 = cpu_s(), time.monotonic()
    model.quantize(calibration, batch_size=1)
    quantize_s, quantize_cpu = time.monotonic() - t0, cpu_s() - c0

    # Saved in GPTQModel's export format and read back by GPTQModel.load (read from
    # the in-memory modules, the weights were about one grid step off: zero points
    # stored minus one, as the gptq format keeps them); then each quantized linear's
    # weight from its packed codes by GPTQModel's own dequantize_weight() ([in, out];
    # transposed to the checkpoint's [out, in]).
    import tempfile

    tmp = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(a.out)))
    model.save(tmp)
    del model
    # The plain torch kernel (GPTQ_TORCH): its dequantize_weight() is the reference,
    # and the automatic choice JIT-compiles a CPU matmul kernel that is not needed here.
    from gptqmodel.utils.backend import BACKEND

    qmodel = GPTQModel.load(tmp, device="cpu", backend=BACKEND.GPTQ_TORCH)
    tensors = float_tensors(a.model)
    n = 0
    for name, m in qmodel.model.named_modules():
        if hasattr(m, "dequantize_weight") and hasattr(m, "qweight"):
            w = m.dequantize_weight().to(torch.float32)
            key = name + ".weight"
            if key not in tensors:
                sys.exit("peer_int.py: GPTQModel's module %s has no weight %s in %s"
                         % (name, key, a.model))
            w = w.t()
            assert tuple(w.shape) == tuple(tensors[key].shape), (key, w.shape)
            tensors[key] = w
            n += 1
    if n == 0:
        sys.exit("peer_int.py: GPTQModel quantized no linear")
    qc = qmodel.quantize_config
    shutil.rmtree(tmp)
    return tensors, {
        "peer": "GPTQModel", "peer_version": gptqmodel.__version__,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "linears": n, "quantize_s": round(quantize_s, 1),
        "quantize_cpu_s": round(quantize_cpu, 1),
        "settings": {"bits": qc.bits, "group_size": qc.group_size, "sym": qc.sym,
                     "desc_act": qc.desc_act, "damp_percent": qc.damp_percent,
                     "true_sequential": qc.true_sequential, "format": str(qc.format)},
    }


def run_autoround(a, windows):
    import tempfile
    import torch
    import transformers
    from importlib.metadata import version
    from auto_round import AutoRound
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(a.model)
    # torch.compile off: its C++ build of each block takes longer than the tuning on a
    # CPU (the arithmetic is the same).
    # The windows as AutoRound's calibration data: a list of [1, seqlen] id tensors
    # (its calib() takes tensors as input_ids as they are, no tokenizing, no cutting).
    data = [torch.tensor([w], dtype=torch.long) for w in windows]
    kw = {}
    if a.iters is not None:
        kw["iters"] = a.iters
    if a.batch_size is not None:
        kw["batch_size"] = a.batch_size
    ar = AutoRound(model, tok, bits=a.bits, group_size=a.group, sym=False,
                   dataset=data, nsamples=len(windows), seqlen=len(windows[0]),
                   device_map="cpu", amp=False, enable_torch_compile=False, **kw)
    c0, t0 = cpu_s(), time.monotonic()
    ar.quantize()
    quantize_s, quantize_cpu = time.monotonic() - t0, cpu_s() - c0
    # AutoRound's own dequantized weights: its "fake" export writes each linear
    # quantized and dequantized by its qdq, in the model's own layout.
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(a.out))) as d:
        ar.save_quantized(d, format="fake")
        fake = float_tensors(d)
    tensors = float_tensors(a.model)
    n = 0
    for key in list(tensors):
        if key.startswith("model.layers.") and key.endswith(".weight") and \
                tensors[key].ndim == 2:
            if key not in fake:
                sys.exit("peer_int.py: AutoRound's fake export has no %s" % key)
            tensors[key] = fake[key]
            n += 1
    return tensors, {
        "peer": "AutoRound", "peer_version": version("auto-round"),
        "torch": torch.__version__, "transformers": transformers.__version__,
        "linears": n, "quantize_s": round(quantize_s, 1),
        "quantize_cpu_s": round(quantize_cpu, 1),
        "settings": {"bits": a.bits, "group_size": a.group, "sym": False,
                     "iters": getattr(ar, "iters", a.iters if a.iters is not None else 200),
                     "batch_size": getattr(ar, "batch_size", a.batch_size or 8),
                     "nsamples": len(windows), "seqlen": len(windows[0])},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("peer", choices=("tohf", "gptqmodel", "autoround"))
    ap.add_argument("model")
    ap.add_argument("out_dir", nargs="?")
    ap.add_argument("--ids")
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--group", type=int, default=64)
    ap.add_argument("--out")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import torch

    torch.set_num_threads(a.threads or os.cpu_count())
    if a.peer == "tohf":
        if not a.out_dir:
            sys.exit("peer_int.py tohf: GGUF_FILE OUT_DIR")
        a.out = a.out_dir
        tohf(a)
        return
    if not a.ids or not a.out:
        sys.exit("peer_int.py: --ids and --out are needed")
    if not 2 <= a.bits <= 8 or a.group < 1:
        sys.exit("peer_int.py: --bits 2..8, --group >= 1")
    windows = read_ids(a.ids)
    t0 = time.monotonic()
    tensors, meta = (run_gptqmodel if a.peer == "gptqmodel" else run_autoround)(a, windows)
    meta.update({"model": a.model, "calib_ids": a.ids, "samples": len(windows),
                 "seqlen": len(windows[0]), "threads": torch.get_num_threads(),
                 "total_s": round(time.monotonic() - t0, 1),
                 "peak_rss_mb": round(resource.getrusage(
                     resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)})
    write_float(a.model, a.out, tensors, meta)
    sys.stdout.flush()
    os._exit(0)     # GPTQModel leaves worker threads behind


if __name__ == "__main__":
    main()
