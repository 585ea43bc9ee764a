"""gguf_export.py: the gguf package (gguf-py) reads every GGUF type we export
and dequantizes it to exactly the weights our engine evaluates.

For each block type: the demo quantized with RTN on that type for every
layer (lm_head and embeddings too) is exported from its state; gguf-py's
numpy dequantization of every linear, with the Q/K permutation undone,
must equal bit for bit what tests/model_dump reports our evaluation uses.
The same type exported from the float model with --type must give the same
bytes (the exporter's RTN is the engine's; not for the types --type names
a mix of, nor for the codebook types, quantized with an importance matrix
from --calib), and our own GGUF reader must
read the file back to the same weights.  Float types: f32 exactly our
weights, f16 and bf16 our weights rounded to nearest even.  TAP on stdout.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np

import gguf
from gguf.quants import dequantize

from interop import Tap, run

TYPES = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k",
         "q5_k", "q6_k", "iq4_nl", "iq4_xs", "iq3_s", "iq3_xxs", "iq2_xxs",
         "iq2_xs", "iq2_s", "iq1_s", "iq1_m"]
# --type names llama.cpp's mix, not --pure
MIXES = ["iq4_nl", "iq4_xs", "iq3_s", "iq3_xxs"]
# Codebook types: quantized with the importance matrix of --calib (as
# llama-quantize requires), lm_head too, the embeddings on iq2_s (which
# ggml makes without one); --type names their mix, if any.
LATTICE = ["iq2_xxs", "iq2_xs", "iq2_s", "iq1_s", "iq1_m"]
# RTN onto these needs the importance matrix (llama-quantize's rule) on
# the block linears: the codebook types and iq3_xxs
NEEDS_IMATRIX = LATTICE + ["iq3_xxs"]
FLOATS = ["f32", "f16", "bf16"]
LIN = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
       "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
       "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
       "mlp.down_proj": "ffn_down"}


def gguf_name(hf):
    if hf == "lm_head":
        return "output.weight"
    if hf == "model.embed_tokens":
        return "token_embd.weight"
    parts = hf.split(".")
    return "blk.%s.%s.weight" % (parts[2], LIN[".".join(parts[3:])])


def weights(dump, model, tmp):
    d = tempfile.mkdtemp(dir=tmp)
    run([dump, "weights", model, d])
    out = {}
    for line in open(os.path.join(d, "index.txt")):
        name, rows, cols = line.split()
        out[name] = np.fromfile(os.path.join(d, name + ".f32"),
                                dtype=np.float32).reshape(int(rows), int(cols))
    return out


def unpermute(w, heads):
    """GGUF row h*hd + 2i + t holds HF row h*hd + t*hd/2 + i."""
    rows, cols = w.shape
    hd = rows // heads
    return (w.reshape(heads, hd // 2, 2, cols).swapaxes(1, 2)
            .reshape(rows, cols))


def read_gguf(path, cfg):
    r = gguf.GGUFReader(path)
    out, raw, types = {}, {}, {}
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape)]
        v = dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
        if t.name.endswith("attn_q.weight"):
            v = unpermute(v, cfg["num_attention_heads"])
        elif t.name.endswith("attn_k.weight"):
            v = unpermute(v, cfg["num_key_value_heads"])
        out[t.name] = v
        raw[t.name] = bytes(t.data.tobytes())
        types[t.name] = t.tensor_type.name
    return r, out, raw, types


def bf16_round(x):
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return (u.astype(np.uint32) << 16).view(np.float32)


def compare(ours, theirs, want):
    """Names whose values differ (ours mapped to GGUF names)."""
    bad = []
    for hf, w in ours.items():
        g = gguf_name(hf)
        if g not in theirs:
            if g == "output.weight":	# tied: llama.cpp reads token_embd
                continue
            bad.append(g + " missing")
        elif not np.array_equal(want(w), theirs[g]):
            d = np.abs(want(w) - theirs[g]).max()
            bad.append("%s (max |diff| %.3g)" % (g, d))
    return bad


def st_norms(path):
    """The norm weights of a safetensors file (F32, F16 or BF16) in fp32."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    head = json.loads(raw[8:8 + n])
    out = {}
    for k, v in head.items():
        if not k.endswith("norm.weight"):
            continue
        b = raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
        if v["dtype"] == "BF16":
            x = (np.frombuffer(b, "<u2").astype(np.uint32) << 16).view(
                np.float32)
        else:
            x = np.frombuffer(b, {"F16": "<f2", "F32": "<f4"}[v["dtype"]])
        out[k] = x.astype(np.float32)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tq", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--calib", required=True,
                    help="calibration text for the codebook types")
    ap.add_argument("--start", type=int, default=0,
                    help="number the tests after this many")
    a = ap.parse_args()
    tap = Tap(a.start)
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    tok = json.load(open(os.path.join(a.model, "tokenizer.json")))
    fx = os.path.join(os.path.dirname(os.path.abspath(a.model)), "..",
                      "tests", "data", "models")
    fixtures = [os.path.join(fx, d) for d in sorted(os.listdir(fx))]
    gemmas = [m for m in fixtures if os.path.basename(m).startswith("gemma")]
    print("1..%d" % (a.start + 3 * len(TYPES) - len(MIXES) - len(LATTICE) +
                     2 * len(FLOATS) + 1 +
                     len(fixtures) + 2 * len(gemmas)))
    with tempfile.TemporaryDirectory() as tmp:
        base = weights(a.dump, a.model, tmp)
        for t in FLOATS:
            path = os.path.join(tmp, t + ".gguf")
            run([a.tq, "export", a.model, "--format", "gguf", "--type", t,
                 "--out", path])
            r, theirs, raw, types = read_gguf(path, cfg)
            want = {"f32": lambda w: w,
                    "f16": lambda w: w.astype(np.float16).astype(np.float32),
                    "bf16": bf16_round}[t]
            bad = compare(base, theirs, want)
            tap.ok(not bad, "%s: gguf-py reads our weights as %s" % (t, t),
               "\n".join(bad[:5]))
            back = weights(a.dump, path, tmp)
            bad = [k for k in base if not np.array_equal(want(base[k]),
                                                          back[k])]
            tap.ok(not bad, "%s: our GGUF reader gives the same weights" % t,
               "\n".join(bad[:5]))
            if t == "f32":
                f = r.fields
                toks = f["tokenizer.ggml.tokens"]
                merges = f["tokenizer.ggml.merges"]
                tap.ok(len(toks.data) == cfg["vocab_size"] and
                   len(merges.data) == len(tok["model"]["merges"]) and
                   bytes(f["tokenizer.ggml.pre"].parts[-1]).decode() ==
                   "llama-bpe",
                   "tokenizer: %d tokens, %d merges, pre llama-bpe" %
                   (len(toks.data), len(merges.data)))
        for t in TYPES:
            plan = os.path.join(tmp, t + ".json")
            lat = t in LATTICE
            json.dump({"default": {"method": "rtn", "scheme": t,
                                   "imatrix": t in NEEDS_IMATRIX},
                       "rules": [{"match": "^lm_head$", "scheme": t,
                                  "imatrix": lat},
                                 {"match": "^model\\.embed_tokens$",
                                  "scheme": "iq2_s" if lat else t}]},
                      open(plan, "w"))
            st = os.path.join(tmp, t + ".state")
            run([a.tq, "quantize", a.model, "--plan", plan, "--out", st] +
                (["--calib", a.calib, "--samples", "4", "--seqlen", "128"]
                 if t in NEEDS_IMATRIX else []))
            path = os.path.join(tmp, t + ".gguf")
            run([a.tq, "export", st, "--format", "gguf", "--out", path])
            r, theirs, raw, types = read_gguf(path, cfg)
            ours = weights(a.dump, st, tmp)
            bad = compare(ours, theirs, lambda w: w)
            kinds = sorted(set(v for k, v in types.items()
                               if not k.endswith("norm.weight")))
            want_kinds = sorted({t.upper(), "IQ2_S"} if lat else [t.upper()])
            tap.ok(not bad and kinds == want_kinds,
               "%s: gguf-py dequantizes every layer to exactly our weights"
               % t, "types %s\n%s" % (kinds, "\n".join(bad[:5])))
            if t not in MIXES and not lat:
                path2 = os.path.join(tmp, t + "-rtn.gguf")
                run([a.tq, "export", a.model, "--format", "gguf", "--type",
                     t, "--out", path2])
                _, _, raw2, _ = read_gguf(path2, cfg)
                bad = [k for k in raw if raw[k] != raw2.get(k)]
                tap.ok(not bad, "%s: --type %s on the float model writes the "
                   "same blocks" % (t, t), "\n".join(bad[:5]))
            back = weights(a.dump, path, tmp)
            bad = [k for k in ours if not np.array_equal(ours[k], back[k])]
            tap.ok(not bad, "%s: our GGUF reader gives the same weights" % t,
               "\n".join(bad[:5]))
        # Our reader on every architecture: the F32 export computes the
        # same logits as the checkpoint (biases, Q/K order, llama3 rope
        # read back from rope_freqs, tied embeddings, experts stacked
        # into ffn_*_exps).
        for model in fixtures:
            name = os.path.basename(model)
            V = json.load(open(os.path.join(model, "config.json")))["vocab_size"]
            ids = [str(i) for i in np.random.default_rng(3).integers(0, V, 12)]
            path = os.path.join(tmp, name + ".gguf")
            if name == "qwen3_moe":
                # a dense layer and unrenormalised top-k weights: not what
                # llama.cpp's qwen3moe computes, so refused (one line)
                try:
                    run([a.tq, "export", model, "--format", "gguf",
                         "--type", "f32", "--out", path])
                    why = "exported"
                except RuntimeError as e:
                    why = str(e).split(": ", 1)[-1]
                tap.ok("llama.cpp's qwen3moe routes every layer" in why and
                       "\n" not in why, "%s: the GGUF export is refused in "
                       "one line" % name, why)
                continue
            run([a.tq, "export", model, "--format", "gguf", "--type", "f32",
                 "--out", path])
            l1, l2 = (os.path.join(tmp, name + x) for x in (".1", ".2"))
            # gpt_oss's YaRN with truncate false: llama.cpp's ramp (and so
            # our reading of its GGUF) has whole-dimension ends; the
            # checkpoint with truncate true computes what the file does.
            ref = model
            cfg_m = json.load(open(os.path.join(model, "config.json")))
            if (cfg_m.get("rope_scaling") or {}).get("truncate") is False:
                ref = os.path.join(tmp, name + "-truncate")
                os.makedirs(ref)
                for f in os.listdir(model):
                    if f != "config.json":
                        os.symlink(os.path.abspath(os.path.join(model, f)),
                                   os.path.join(ref, f))
                cfg_m["rope_scaling"]["truncate"] = True
                json.dump(cfg_m, open(os.path.join(ref, "config.json"), "w"))
            run([a.dump, "logits", ref, l1] + ids)
            run([a.dump, "logits", path, l2] + ids)
            x = np.fromfile(l1, dtype=np.float32)
            y = np.fromfile(l2, dtype=np.float32)
            d = float(np.abs(x - y).max()) if x.size == y.size else np.inf
            # A gemma read from GGUF computes its GELU as llama.cpp's CPU
            # does (gelu of the fp16-rounded gate from an fp16 table):
            # measured 8e-4 of the largest logit; its weights are checked
            # exactly below.
            gemma = name.startswith("gemma")
            tol = 2e-3 if gemma else 1e-5
            tap.ok(d <= tol * float(np.abs(x).max()),
               "%s: the model read back from its GGUF computes the same "
               "logits%s" % (name, " (within llama.cpp's GELU)" if gemma
                             else ""), "max |diff| %.3g" % d)
            if not gemma:
                continue
            # The norms are written as 1 + w; read back they stay so, and
            # the GGUF exported from the GGUF has the same tensors.
            again = os.path.join(tmp, name + ".again.gguf")
            run([a.tq, "export", path, "--format", "gguf", "--type", "f32",
                 "--out", again])
            t1 = {t.name: np.array(t.data) for t in
                  gguf.GGUFReader(path).tensors}
            t2 = {t.name: np.array(t.data) for t in
                  gguf.GGUFReader(again).tensors}
            bad = sorted(k for k in t1 if k not in t2 or
                         not np.array_equal(t1[k], t2[k]))
            tap.ok(not bad and len(t1) == len(t2), "%s: exported again from "
               "its GGUF, every tensor is the same" % name,
               "\n".join(bad[:5]))
            # llama.cpp's norms are Hugging Face's 1 + w (convert_hf_to_gguf
            # adds 1): the checkpoint's norms plus one, in fp32.
            hf = st_norms(os.path.join(model, "model.safetensors"))
            want = {"model.norm.weight": "output_norm.weight"}
            for k in hf:
                if k.startswith("model.layers."):
                    b, leaf = k.split(".")[2], ".".join(k.split(".")[3:])
                    want[k] = "blk.%s.%s" % (b, {
                        "input_layernorm.weight": "attn_norm.weight",
                        "post_attention_layernorm.weight":
                            "post_attention_norm.weight",
                        "pre_feedforward_layernorm.weight": "ffn_norm.weight",
                        "post_feedforward_layernorm.weight":
                            "post_ffw_norm.weight",
                        "self_attn.q_norm.weight": "attn_q_norm.weight",
                        "self_attn.k_norm.weight": "attn_k_norm.weight"}[leaf])
            bad = [k for k in hf if want[k] not in t1 or not np.array_equal(
                t1[want[k]], np.float32(1) + hf[k])]
            tap.ok(not bad and len(hf) > 0, "%s: its %d GGUF norms are "
               "1 + w of the checkpoint's" % (name, len(hf)),
               "\n".join(bad[:5]))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
