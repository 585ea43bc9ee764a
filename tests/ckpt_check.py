"""Checkpoint exports (AWQ, GPTQ, compressed-tensors, TensorRT-LLM): TAP.

For states of the demo model on every grid the formats hold, runs
`turboquant export` and checks each checkpoint against what our evaluation
computes (tests/state_dump: every dequantized weight, and logits):

  - AWQ and GPTQ: the packed tensors are unpacked the way AutoAWQ
    (awq/utils/packing_utils.py: unpack_awq, reverse_awq_order) and
    AutoGPTQ/GPTQModel (qlinear_cuda_old.py / torch.py: the wf shifts, the
    3-bit word split, zeros + 1 for v1, scales[g_idx]) unpack them, and
    every weight must equal ours bit for bit;
  - compressed-tensors: unpacked as the package's unpack_from_int32 does,
    the same; with --consumer PYTHON, the package itself decompresses;
  - TensorRT-LLM: names, dtypes and shapes against TensorRT-LLM's
    checkpoint.md and Model Optimizer's unified export, the config
    fields, and the signed int4 / int8 / fp8 values times the scales
    equal to ours;
  - bad requests: grids a format cannot hold, an unknown --type, an
    output that exists (refused unless --force) and a full disk
    (ulimit -f): a one-line error and nothing left behind.

With --consumer PYTHON (a Python with torch, transformers, autoawq +
intel-extension-for-pytorch, auto-gptq + optimum and compressed-tensors:
tools/install-ckpt-consumers.sh), the consumers themselves load the
exports: see consumer_check below.  --consumer-2025 PYTHON (the same with
transformers 4.53.3 and compressed-tensors 0.13.0:
tools/install-ckpt-consumers-2025.sh) does it for the fixture
architectures transformers 4.46.3 predates (fixtures_2025 in main), and
adds transformers' own compressed-tensors loader.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "I32": "<i4",
          "I64": "<i8", "I8": "i1", "U8": "u1", "F8_E4M3": "u1"}

n_test = 0
n_fail = 0


def ok(cond, what, detail=""):
    global n_test, n_fail
    n_test += 1
    if not cond:
        n_fail += 1
        print(f"not ok {n_test} - {what}")
        for line in str(detail).splitlines()[:20]:
            print(f"# {line}")
    else:
        print(f"ok {n_test} - {what}")
    sys.stdout.flush()
    return cond


def st_load(path):
    """A safetensors file as {name: (dtype, array)}, and its metadata."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    out = {}
    for k, v in hdr.items():
        s, e = v["data_offsets"]
        a = np.frombuffer(b[8 + n + s:8 + n + e], dtype=DTYPES[v["dtype"]])
        out[k] = (v["dtype"], a.reshape(v["shape"]))
    return out, meta


def e4m3(bits):
    """The values of fp8 e4m3fn bit patterns."""
    bits = bits.astype(np.int64)
    s, e, m = (bits >> 7) & 1, (bits >> 3) & 15, bits & 7
    v = np.where(e == 0, m / 8.0 * 2.0 ** -6,
                 (1 + m / 8.0) * 2.0 ** (e - 7))
    v = np.where((e == 15) & (m == 7), np.nan, v)
    return np.where(s == 1, -v, v).astype(np.float32)


def fval(dt, a):
    """A stored float tensor as fp32."""
    if dt == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return f32(a.view(np.float16) if dt == "F16" else a)


def f32(a):
    return a.astype(np.float32)


def same(a, b):
    return a.shape == b.shape and np.array_equal(
        a.astype(np.float32).view(np.uint32), b.astype(np.float32).view(np.uint32))


def diff(a, b):
    if a.shape != b.shape:
        return f"shape {a.shape} vs {b.shape}"
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    i = np.unravel_index(np.argmax(d), d.shape)
    return f"{int((d > 0).sum())} of {d.size} differ; max {d.max()} at {i}: {a[i]} vs {b[i]}"


# ---- Unpacking as the consumers do it ---------------------------------

AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]


def awq_unpack(q):
    """AutoAWQ unpack_awq + reverse_awq_order: [R, C/8] -> [R, C]."""
    q = q.view(np.uint32).astype(np.int64)
    shifts = np.arange(0, 32, 4)
    v = (q[:, :, None] >> shifts[None, None, :]) & 15
    v = v.reshape(q.shape[0], -1)
    order = np.arange(v.shape[1]).reshape(-1, 8)[:, AWQ_REVERSE_ORDER]
    return v[:, order.reshape(-1)]


def awq_dequant(t, p):
    """[N, K] weight of AWQ tensors (q - z) * s, in fp32."""
    qw = awq_unpack(t[p + ".qweight"][1])                 # [K, N]
    qz = awq_unpack(t[p + ".qzeros"][1])                  # [G, N]
    s = f32(t[p + ".scales"][1])                          # [G, N]
    K, G = qw.shape[0], qz.shape[0]
    g = np.arange(K) // (K // G)
    return (f32(qw - qz[g]) * s[g]).T


GPTQ3_WF = np.array([[0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0],
                     [0, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31],
                     [0, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0]])


def gptq_unpack(q, bits, axis):
    """AutoGPTQ's torch unpacking of packed words along axis (0: rows)."""
    q = q.view(np.uint32).astype(np.int64)
    if axis == 1:
        q = q.T
    mask = (1 << bits) - 1
    if bits != 3:
        wf = np.arange(0, 32, bits)
        v = (q[:, None, :] >> wf[None, :, None]) & mask   # [W, pf, X]
        v = v.reshape(-1, q.shape[1])
    else:
        r = q.reshape(q.shape[0] // 3, 3, 1, q.shape[1])
        v = r >> GPTQ3_WF[None, :, :, None]               # [W/3, 3, 12, X]
        v[:, 0, 10] = (v[:, 0, 10] & 3) | ((v[:, 1, 0] << 2) & 4)
        v[:, 1, 11] = (v[:, 1, 11] & 1) | ((v[:, 2, 0] << 1) & 6)
        v = v & 7
        v = np.concatenate([v[:, 0, :11], v[:, 1, 1:12], v[:, 2, 1:11]],
                           axis=1).reshape(-1, q.shape[1])
    return v if axis == 0 else v.T


def gptq_dequant(t, p, bits, v1):
    qw = gptq_unpack(t[p + ".qweight"][1], bits, 0)       # [K, N]
    qz = gptq_unpack(t[p + ".qzeros"][1], bits, 1)        # [G, N]
    if v1:
        qz = (qz + 1) & ((1 << bits) - 1)
    s = f32(t[p + ".scales"][1])
    g = t[p + ".g_idx"][1].astype(np.int64)
    return (f32(qw - qz[g]) * s[g]).T


def ct_unpack(q, bits, n, axis):
    """compressed-tensors unpack_from_int32 (with the 2^(b-1) offset
    removed later by the caller): packed along axis 1 (or 0) to n."""
    q = q.view(np.uint32).astype(np.int64)
    if axis == 0:
        q = q.T
    pf = 32 // bits
    v = (q[:, :, None] >> (bits * np.arange(pf))[None, None, :]) & ((1 << bits) - 1)
    v = v.reshape(q.shape[0], -1)[:, :n]
    return v if axis == 1 else v.T


def ct_dequant(t, p, args):
    if args["type"] == "float":
        s = f32(t[p + ".weight_scale"][1])
        w = e4m3(t[p + ".weight"][1])
        return w * (s.reshape(-1, 1) if s.size > 1 else s)
    bits, N, K = args["num_bits"], *[int(x) for x in t[p + ".weight_shape"][1]]
    off = 1 << (bits - 1)
    q = ct_unpack(t[p + ".weight_packed"][1], bits, K, 1) - off
    s = f32(t[p + ".weight_scale"][1])                    # [N, G]
    G = s.shape[1]
    z = np.zeros((N, G), np.int64)
    if p + ".weight_zero_point" in t:
        z = ct_unpack(t[p + ".weight_zero_point"][1], bits, N, 0) - off
    g = (t[p + ".weight_g_idx"][1].astype(np.int64) if p + ".weight_g_idx" in t
         else np.arange(K) // (K // G))
    return f32(q - z[:, g]) * s[:, g]


# ---- The checks ----------------------------------------------------------


class Ctx:
    def __init__(self, args):
        self.tq = args.tq
        self.dump = args.dump
        self.work = args.work
        self.model = args.model
        self.calib = args.calib
        self.states = {}
        self.models = {}
        self.refs = {}

    def run(self, *argv, env=None, shell=None):
        cmd = [self.tq] + list(argv)
        if shell is not None:
            cmd = ["sh", "-c", shell + ' "$@"', "sh"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, env=env)

    def state(self, name, *qargs, model=None):
        d = os.path.join(self.work, "state-" + name)
        self.models[name] = model or self.model
        if name not in self.states:
            r = self.run("quantize", self.models[name], *qargs, "--out", d)
            if not ok(r.returncode == 0, f"quantize {name}", r.stderr):
                return None
            self.states[name] = d
        return d

    def ref(self, name):
        """Our dequantized weights and logits of a state."""
        if name not in self.refs:
            out = os.path.join(self.work, f"ref-{name}.safetensors")
            r = subprocess.run([self.dump, self.states[name], out],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(r.stderr)
            t, meta = st_load(out)
            self.refs[name] = ({k: v[1] for k, v in t.items()}, meta)
        return self.refs[name]

    def export(self, state, fmt, typ=None, name=None):
        out = os.path.join(self.work, name or f"{fmt}-{state}-{typ or 'default'}")
        argv = ["export", self.states[state], "--format", fmt, "--out", out,
                "--json", "--force"]
        if typ:
            argv += ["--type", typ]
        r = self.run(*argv)
        if not ok(r.returncode == 0, f"export {state} as {fmt} {typ or ''}",
                  r.stderr):
            return None, None
        return out, json.loads(r.stdout)


def schema(t, p, want):
    """What differs from {suffix: (dtype, shape)} among p's tensors."""
    bad = []
    for sfx, (dt, sh) in want.items():
        got = (t[p + sfx][0], list(t[p + sfx][1].shape)) if p + sfx in t else None
        if got != (dt, sh):
            bad.append(f"{p}{sfx}: want {dt} {sh}, got {got}")
    return bad


def quantized(meta):
    """Names of the quantized block linears of a reference."""
    return [k[:-len(".scheme")] for k, v in meta.items()
            if k.endswith(".scheme") and v != "float" and k.startswith("model.layers.")]


def check_floats(c, state, d, tensors, names, what):
    """Float tensors of the export equal the model's (and ours)."""
    ref, meta = c.ref(state)
    cfg = json.load(open(os.path.join(d, "config.json")))
    # SmolLM3 and the Gemmas tie by default (the key is then absent).
    tied = cfg.get("tie_word_embeddings",
                   cfg["model_type"] in ("smollm3", "gemma2", "gemma3_text"))
    bad = []
    for k, v in ref.items():
        if not k.endswith(".weight") or k in ("ids", "logits"):
            continue
        p = k[:-len(".weight")]
        if p in names:
            continue
        hf = "lm_head.weight" if p == "lm_head" else k
        if hf == "lm_head.weight" and tied:
            continue        # the embeddings, checked as such
        if hf not in tensors:
            bad.append(f"{hf} missing")
            continue
        got = fval(*tensors[hf])
        if not same(got, v):
            bad.append(f"{hf}: {diff(got, v)}")
    ok(not bad, f"{what}: float tensors equal the model's", "\n".join(bad))


class Export:
    """An export of a state, opened: its tensors, config and our reference."""

    def __init__(self, c, state, fmt, typ=None, weights="model.safetensors"):
        self.d, self.report = c.export(state, fmt, typ)
        if self.d is None:
            return
        self.t, _ = st_load(os.path.join(self.d, weights))
        self.cfg = json.load(open(os.path.join(self.d, "config.json")))
        self.qc = self.cfg.get("quantization_config", {})
        self.ref, self.meta = c.ref(state)
        self.names = quantized(self.meta)


def layer(t, p):
    """The tensors of layer p, F16 ones as float16."""
    return {k: (v[0], v[1].view(np.float16) if v[0] == "F16" else v[1])
            for k, v in t.items() if k.startswith(p + ".")}


def compare(e, p, w, bad):
    """Layer p's weight w against ours, bit for bit."""
    if not same(w, e.ref[p + ".weight"]):
        bad.append(f"{p}: {diff(w, e.ref[p + '.weight'])}")


def conclude(c, e, state, bad, what, how):
    ok(not bad and e.names, f"{what}: {len(e.names)} layers {how}", "\n".join(bad))
    check_floats(c, state, e.d, e.t, e.names, what)
    return e.d


def check_awq(c, state):
    e = Export(c, state, "awq")
    if e.d is None:
        return
    t, ref, names, qc = e.t, e.ref, e.names, e.qc
    ok(qc.get("quant_method") == "awq" and qc.get("bits") == 4 and
       qc.get("version") == "gemm" and qc.get("zero_point") is True and
       qc.get("group_size") in (32, 64, 128), f"awq {state}: quantization_config",
       json.dumps(qc))
    bad = []
    for p in names:
        K = ref[p + ".weight"].shape[1]
        N = ref[p + ".weight"].shape[0]
        G = K // qc["group_size"]
        shapes = {".qweight": ("I32", [K, N // 8]), ".qzeros": ("I32", [G, N // 8]),
                  ".scales": ("F16", [G, N])}
        bad += schema(t, p, shapes)
        if bad:
            continue
        compare(e, p, awq_dequant(layer(t, p), p), bad)
    return conclude(c, e, state, bad, f"awq {state}",
                    "unpacked as AutoAWQ does equal ours bit for bit")


def check_gptq(c, state, typ=None):
    e = Export(c, state, "gptq", typ)
    if e.d is None:
        return
    d, t, ref, names, qc = e.d, e.t, e.ref, e.names, e.qc
    qcf = json.load(open(os.path.join(d, "quantize_config.json")))
    bits = qc.get("bits")
    v1 = qc.get("checkpoint_format") == "gptq"
    ok(qc == qcf and qc.get("quant_method") == "gptq" and bits in (2, 3, 4, 8) and
       qc.get("checkpoint_format") in ("gptq", "gptq_v2"),
       f"gptq {state}: quantization_config = quantize_config.json", json.dumps(qc))
    bad = []
    for p in names:
        N, K = ref[p + ".weight"].shape
        gs = qc["group_size"] if qc["group_size"] > 0 else K
        G = -(-K // gs)
        shapes = {".qweight": ("I32", [K * bits // 32, N]),
                  ".qzeros": ("I32", [G, N * bits // 32]),
                  ".scales": ("F16", [G, N]), ".g_idx": ("I32", [K])}
        bad += schema(t, p, shapes)
        if bad:
            continue
        gi = t[p + ".g_idx"][1]
        if not qc["desc_act"] and not np.array_equal(gi, np.arange(K) // gs):
            bad.append(f"{p}.g_idx is not k // group_size without desc_act")
        compare(e, p, gptq_dequant(layer(t, p), p, bits, v1), bad)
    return conclude(c, e, state, bad, f"gptq {state} {typ or ''}",
                    "unpacked as AutoGPTQ does equal ours bit for bit")


def check_ct(c, state):
    e = Export(c, state, "compressed-tensors")
    if e.d is None:
        return
    t, names, qc = e.t, e.names, e.qc
    g0 = qc.get("config_groups", {}).get("group_0", {})
    args = g0.get("weights", {})
    ok(qc.get("quant_method") == "compressed-tensors" and
       qc.get("quantization_status") == "compressed" and "lm_head" in qc.get("ignore", []) and
       qc.get("format") == g0.get("format") and
       qc.get("format") in ("pack-quantized", "float-quantized"),
       f"compressed-tensors {state}: quantization_config", json.dumps(qc))
    bad = []
    for p in names:
        compare(e, p, ct_dequant(layer(t, p), p, args), bad)
    return conclude(c, e, state, bad, f"compressed-tensors {state}",
                    "unpacked as the package does equal ours bit for bit")


# ---- The float grids in compressed-tensors (issue 16) ----------------------
#
# nvfp4 as "nvfp4-pack-quantized", the package's NVFP4A16 (0.13.0:
# quant_scheme.py, fp4_quantized.py); mxfp4 refused (0.13 cannot
# decompress it).  Decoded here as the package decodes them, then with
# --consumer-2025 by the package itself and by transformers 4.53.3.

E2M1 = np.array([0, .5, 1, 1.5, 2, 3, 4, 6, -0., -.5, -1, -1.5, -2, -3, -4, -6], np.float32)

CT_ARGS = {
    "nvfp4": {"num_bits": 4, "type": "float", "symmetric": True, "group_size": 16,
              "strategy": "tensor_group", "block_structure": None, "dynamic": False,
              "actorder": None, "scale_dtype": "torch.float8_e4m3fn", "zp_dtype": None,
              "observer": "minmax", "observer_kwargs": {}},
    # the package's FP8_BLOCK weights (0.12 layout: no *_dtype keys)
    "fp8-block128": {"num_bits": 8, "type": "float", "symmetric": True, "group_size": None,
                     "strategy": "block", "block_structure": [128, 128], "dynamic": False,
                     "actorder": None, "observer": "minmax", "observer_kwargs": {}},
}
CT_FMT = {"nvfp4": "nvfp4-pack-quantized", "fp8-block128": "float-quantized"}
CT_VER = {"nvfp4": "0.13.0", "fp8-block128": "0.12.2"}


def nvfp4_decode(t, p):
    """unpack_fp4_from_uint8 (low nibble first) times fl(s / G), in fp32."""
    b = t[p + ".weight_packed"][1]
    q = np.stack([b & 15, b >> 4], axis=-1).reshape(b.shape[0], -1)
    s = e4m3(t[p + ".weight_scale"][1]) / f32(t[p + ".weight_global_scale"][1])
    return E2M1[q] * np.repeat(s, 16, axis=1)


def fp8b_decode(t, p):
    """e4m3 * the scale of each 128 x 128 tile (partial ones at the edges)."""
    w = e4m3(t[p + ".weight"][1])
    s = f32(t[p + ".weight_scale"][1])
    return w * np.repeat(np.repeat(s, 128, 0), 128, 1)[:w.shape[0], :w.shape[1]]


def check_ct_fp(c, state, grid):
    """A float-grid state as compressed-tensors: config, schema, values."""
    e = Export(c, state, "compressed-tensors")
    if e.d is None:
        return None
    g0 = e.qc.get("config_groups", {}).get("group_0", {})
    fmt = CT_FMT[grid]
    ok(g0.get("weights") == CT_ARGS[grid] and g0.get("format") == fmt and
       e.qc.get("format") == fmt and g0.get("input_activations") is None and
       e.qc.get("version") == CT_VER[grid],
       f"compressed-tensors {state}: quantization_config is the package's {fmt}",
       json.dumps(e.qc))
    bad = []
    for p in e.names:
        N, K = e.ref[p + ".weight"].shape
        if grid == "nvfp4":
            bad += schema(e.t, p, {".weight_packed": ("U8", [N, K // 2]),
                                   ".weight_scale": ("F8_E4M3", [N, K // 16]),
                                   ".weight_global_scale": ("F32", [1])})
        else:
            bad += schema(e.t, p, {".weight": ("F8_E4M3", [N, K]),
                                   ".weight_scale": ("F32", [-(-N // 128), -(-K // 128)])})
        if not bad:
            compare(e, p, (nvfp4_decode if grid == "nvfp4" else fp8b_decode)(e.t, p), bad)
        if not bad and grid != "nvfp4" and not state.startswith("gptq"):
            # RTN: each tile's largest weight lands on 448, its scale amax / 448
            s = f32(e.t[p + ".weight_scale"][1])
            a = np.abs(e4m3(e.t[p + ".weight"][1]))
            for i, j in np.ndindex(*s.shape):
                if a[128 * i:128 * i + 128, 128 * j:128 * j + 128].max() != 448 and s[i, j]:
                    bad.append(f"{p}: tile {i},{j} does not reach 448")
    conclude(c, e, state, bad, f"compressed-tensors {state}",
             "decoded as the package does (" + ("e2m1 * fl(s / G)" if grid == "nvfp4" else
                                                "e4m3 * tile scale") + ") equal ours bit for bit")
    return e.d


def run_consumer(py, kind, pairs):
    """Runs CONSUMER of kind on (export dir, reference file) pairs: its one
    JSON line per directory, by directory, and its stderr."""
    argv = [py, "-c", CONSUMER, kind]
    for d, ref in pairs:
        argv += [d, ref]
    r = subprocess.run(argv, capture_output=True, text=True)
    res = {}
    for line in r.stdout.splitlines():
        try:
            o = json.loads(line)
            res[o["dir"]] = o
        except ValueError:
            pass
    return res, r.stderr


def ct_fp_consumers(c, py, exports):
    """compressed-tensors 0.13.0 and transformers 4.53.3 on the exports."""
    for kind in ("ctfp", "ctnvlm", "ctlm"):
        # ctlm: fp8-block128 on the demo, whose tiles are whole in K (the
        # fixture's partial ones CompressedLinear would infer wrongly)
        todo = [(s, d) for s, d in exports if kind == "ctfp" or
                (kind == "ctnvlm") == ("nvfp4" in s) and not s.startswith("fx-")]
        res, err = run_consumer(py, kind, [
            (d, os.path.join(c.work, f"ref-{s}.safetensors")) for s, d in todo])
        for s, d in todo:
            o = res.get(d)
            if o is None or "error" in o:
                ok(False, f"{kind} consumer loads {os.path.basename(d)}",
                   (o or {}).get("error", "") + "\n" + err[-3000:])
            elif kind == "ctfp":
                ok(o["n"] > 0 and not o["bad"] and not o["bf16_bad"],
                   f"compressed-tensors {o['version']} decompresses {o['n']} layers of {s} "
                   "to exactly our weights" + (" (its formula in fp32; decompress_weight's "
                                              "bf16 = ours rounded to bf16)"
                                              if "nvfp4" in s else
                                              f" ({o['padded']} with partial tiles padded "
                                              "to whole ones for its block dequantize)"
                                              if o["padded"] else ""), json.dumps(o))
            elif kind == "ctlm":
                ok(o["n"] > 0 and o["rel"] <= 1e-4,
                   f"transformers {o['tv']} ({o['cls']}, {o['n']} layers) loads {s}: "
                   f"float32 logits within 1e-4 relative of ours ({o['rel']:.2e})", json.dumps(o))
            else:
                ok(o["n"] > 0 and o["rel"] <= 3e-2 and o["fp32"] <= 1e-4,
                   f"transformers {o['tv']} ({o['cls']}, {o['n']} layers) loads {s} "
                   f"in bf16 (scales cast to fp32): logits within 3e-2 relative of ours "
                   f"({o['rel']:.2e}); in fp32 with the package's fp32 weights "
                   f"{o['fp32']:.2e}", json.dumps(o))


def check_fp_grids(c, fixtures, consumer_2025):
    cal = ["--calib", c.calib, "--samples", "8", "--seqlen", "128"]
    states = {"nvfp4": ["--method", "rtn", "--scheme", "nvfp4"],
              "gptq-nvfp4": ["--method", "gptq", "--scheme", "nvfp4"] + cal,
              "nvfp4-pow2": ["--method", "rtn", "--scheme", "nvfp4-pow2"],
              "gptq-nvfp4-pow2": ["--method", "gptq", "--scheme", "nvfp4-pow2"] + cal,
              "nvfp4-unit": ["--method", "rtn", "--scheme", "nvfp4-unit"],
              "mxfp4": ["--method", "rtn", "--scheme", "mxfp4"],
              "fp8b": ["--method", "rtn", "--scheme", "fp8-block128"],
              "gptq-fp8b": ["--method", "gptq", "--scheme", "fp8-block128"] + cal}
    if not all(c.state(n, *a) for n, a in states.items()):
        return
    # The llama fixture: 172 x 64 and 64 x 172 weights, partial tiles.
    if not c.state("fx-fp8b", "--method", "rtn", "--scheme", "fp8-block128",
                   model=os.path.join(fixtures, "llama")):
        return
    exports = [(s, check_ct_fp(c, s, "nvfp4")) for s in ("nvfp4", "gptq-nvfp4")]
    exports += [(s, check_ct_fp(c, s, "fp8-block128")) for s in ("fp8b", "gptq-fp8b", "fx-fp8b")]
    out = os.path.join(c.work, "refused-ct-mxfp4")
    r = c.run("export", c.states["mxfp4"], "--format", "compressed-tensors", "--out", out)
    err = r.stderr.strip()
    ok(r.returncode == 1 and "is mxfp4" in err and "cannot decompress" in err and
       len(err.splitlines()) == 1 and not os.path.exists(out),
       f"compressed-tensors refuses mxfp4: {err}", r.stderr)
    # Model Optimizer's NVFP4 is e2m1 * s * weight_scale_2: a product, ours
    # the same bits only for a power-of-two G (nvfp4-pow2, nvfp4-unit).
    out = os.path.join(c.work, "refused-trt-nvfp4")
    r = c.run("export", c.states["nvfp4"], "--format", "trtllm", "--out", out)
    err = r.stderr.strip()
    ok(r.returncode == 1 and "is nvfp4;" in err and "--scheme nvfp4-pow2" in err
       and len(err.splitlines()) == 1 and not os.path.exists(out),
       f"trtllm refuses nvfp4, naming nvfp4-pow2: {err}", r.stderr)
    for st in ("nvfp4-pow2", "gptq-nvfp4-pow2", "nvfp4-unit"):
        check_trt_nvfp4(c, st)
    if consumer_2025 and all(d for _, d in exports):
        ct_fp_consumers(c, consumer_2025, exports)


def check_trt_nvfp4(c, state):
    """nvfp4-pow2 / nvfp4-unit as Model Optimizer's weight-only NVFP4: the
    schema, and NVFP4QTensor.dequantize's float32 arithmetic (e2m1 times
    e4m3 * weight_scale_2) equal to our weights bit for bit."""
    e = trt_hf(c, state)
    if e is None:
        return
    ref, names, d, t, hq = e
    cfg = json.load(open(os.path.join(d, "config.json")))
    q = hq.get("quantization", {})
    ok(hq.get("producer", {}).get("name") == "modelopt" and
       q.get("quant_algo") == "W4A16_NVFP4" and q.get("group_size") == 16 and
       "lm_head" in q.get("exclude_modules", []) and
       cfg.get("quantization_config", {}).get("quant_method") == "modelopt" and
       cfg["quantization_config"].get("quant_algo") == "W4A16_NVFP4",
       f"trtllm hf {state}: hf_quant_config.json W4A16_NVFP4, group_size 16",
       json.dumps(hq))
    bad = []
    unit = state.endswith("unit")
    for p in names:
        N, K = ref[p + ".weight"].shape
        bad += schema(t, p, {".weight": ("U8", [N, K // 2]),
                             ".weight_scale": ("F8_E4M3", [N, K // 16]),
                             ".weight_scale_2": ("F32", [])})
        if p + ".input_scale" in t:
            bad.append(f"{p}.input_scale in a weight-only export")
        if bad:
            continue
        b = t[p + ".weight"][1]
        code = np.stack([b & 15, b >> 4], axis=-1).reshape(N, K)  # [..., 0::2] low
        s2 = f32(t[p + ".weight_scale_2"][1])
        m, e = np.frexp(s2)
        if m != 0.5 or (unit and s2 != 1):
            bad.append(f"{p}.weight_scale_2 = {s2!r} is not {'1' if unit else 'a power of two'}")
        pbs = e4m3(t[p + ".weight_scale"][1]) * s2               # per_block_scale
        w = (E2M1[code].reshape(N, K // 16, 16) * pbs[..., None]).reshape(N, K)
        if not same(w, ref[p + ".weight"]):
            bad.append(f"{p}: {diff(w, ref[p + '.weight'])}")
    ok(not bad and names, f"trtllm hf {state}: {len(names)} layers by Model Optimizer's "
       "NVFP4 schema (low nibble first, weight_scale_2 = 1 / G), e2m1 * (s * weight_scale_2) "
       "equal to ours bit for bit", "\n".join(bad))
    check_floats(c, state, d, t, names, f"trtllm hf {state}")
    out = os.path.join(c.work, f"refused-trtckpt-{state}")
    r = c.run("export", c.states[state], "--format", "trtllm", "--type", "checkpoint",
              "--out", out)
    err = r.stderr.strip()
    ok(r.returncode == 1 and "--type checkpoint does not hold NVFP4" in err and
       len(err.splitlines()) == 1 and not os.path.exists(out),
       f"trtllm checkpoint refuses {state}: {err}", r.stderr)


def trt_decode(alg, w, s, N, K):
    """Our [N, K] weight from TensorRT-LLM / ModelOpt tensors."""
    if alg == "W4A16_AWQ":
        b = w.view(np.uint8).astype(np.int64)             # [N/2, K]
        lo, hi = b & 15, b >> 4
        q = np.empty((N, K), np.int64)
        q[0::2], q[1::2] = lo, hi
        q = np.where(q >= 8, q - 16, q)
        s = f32(s)
        return f32(q) * np.repeat(s, K // s.shape[1], axis=1)
    if alg == "W8A16":
        return f32(w.astype(np.int64)) * f32(s).reshape(N, 1)
    return e4m3(w) * f32(s).reshape(N, 1)


def trt_hf(c, state):
    """A state exported as Model Optimizer's Hugging Face checkpoint: our
    weights, the quantized names, the directory, its tensors and
    hf_quant_config.json; None if the export failed."""
    ref, meta = c.ref(state)
    d, rep = c.export(state, "trtllm")
    if d is None:
        return None
    t, _ = st_load(os.path.join(d, "model.safetensors"))
    hq = json.load(open(os.path.join(d, "hf_quant_config.json")))
    return ref, quantized(meta), d, t, hq


def check_trt(c, state, alg):
    # (a) Model Optimizer's unified Hugging Face checkpoint.
    e = trt_hf(c, state)
    if e is None:
        return
    ref, names, d, t, hq = e
    q = hq.get("quantization", {})
    ok(hq.get("producer", {}).get("name") == "modelopt" and q.get("quant_algo") == alg and
       "lm_head" in q.get("exclude_modules", []) and
       (alg != "W4A16_AWQ" or q.get("group_size") in (64, 128)),
       f"trtllm hf {state}: hf_quant_config.json", json.dumps(hq))
    bad = []
    for p in names:
        N, K = ref[p + ".weight"].shape
        want = {"W4A16_AWQ": {".weight": ("I8", [N // 2, K]),
                              ".weight_scale": ("F16", [N, K // q.get("group_size", 1)]),
                              ".pre_quant_scale": ("F16", [K])},
                "W8A16": {".weight": ("I8", [N, K]), ".weight_scale": ("F16", [N])},
                "FP8_PER_CHANNEL_PER_TOKEN": {".weight": ("F8_E4M3", [N, K]),
                                              ".weight_scale": ("F32", [N, 1])}}[alg]
        bad += schema(t, p, want)
        if bad:
            continue
        s = t[p + ".weight_scale"]
        s = s[1].view(np.float16) if s[0] == "F16" else s[1]
        if alg == "W4A16_AWQ" and not np.all(t[p + ".pre_quant_scale"][1].view(np.float16) == 1):
            bad.append(f"{p}.pre_quant_scale is not ones")
        w = trt_decode(alg, t[p + ".weight"][1], s, N, K)
        if not same(w, ref[p + ".weight"]):
            bad.append(f"{p}: {diff(w, ref[p + '.weight'])}")
    ok(not bad and names, f"trtllm hf {state}: {len(names)} layers by the schema, "
       "values equal ours bit for bit", "\n".join(bad))
    check_floats(c, state, d, t, names, f"trtllm hf {state}")

    # (b) TensorRT-LLM's own checkpoint: config.json + rank0.safetensors.
    d, rep = c.export(state, "trtllm", "checkpoint")
    if d is None:
        return
    t, _ = st_load(os.path.join(d, "rank0.safetensors"))
    cfg = json.load(open(os.path.join(d, "config.json")))
    base = json.load(open(os.path.join(c.models[state], "config.json")))
    need = ["architecture", "dtype", "vocab_size", "hidden_size", "num_hidden_layers",
            "num_attention_heads", "hidden_act", "mapping", "quantization"]
    qz = cfg.get("quantization", {})
    ok(all(k in cfg for k in need) and cfg["mapping"].get("world_size") == 1 and
       cfg["architecture"] == base["architectures"][0] and
       cfg["num_key_value_heads"] == base["num_key_value_heads"] and
       cfg["intermediate_size"] == base["intermediate_size"] and
       qz.get("quant_algo") == alg and qz.get("has_zero_point") is False and
       qz.get("pre_quant_scale") == (alg == "W4A16_AWQ"),
       f"trtllm checkpoint {state}: config.json fields", json.dumps(cfg))
    L = base["num_hidden_layers"]
    expect = {"transformer.vocab_embedding.weight", "transformer.ln_f.weight", "lm_head.weight"}
    parts = {"attention.qkv": ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"],
             "attention.dense": ["self_attn.o_proj"], "mlp.fc": ["mlp.gate_proj"],
             "mlp.gate": ["mlp.up_proj"], "mlp.proj": ["mlp.down_proj"]}
    bad = []
    for i in range(L):
        pre = f"transformer.layers.{i}."
        expect |= {pre + "input_layernorm.weight", pre + "post_layernorm.weight"}
        if base.get("model_type") == "qwen2" or base.get("attention_bias"):
            expect.add(pre + "attention.qkv.bias")
        if base.get("attention_bias"):
            expect.add(pre + "attention.dense.bias")
        for trt, hfs in parts.items():
            ours = np.concatenate([ref[f"model.layers.{i}.{h}.weight"] for h in hfs])
            N, K = ours.shape
            p = pre + trt
            sname = {"W4A16_AWQ": ".weights_scaling_factor", "W8A16": None,
                     "FP8_PER_CHANNEL_PER_TOKEN": ".per_channel_scale"}[alg]
            expect.add(p + ".weight")
            if sname:
                expect.add(p + sname)
            if alg == "W4A16_AWQ":
                expect.add(p + ".prequant_scaling_factor")
            if p + ".weight" not in t:
                bad.append(p + ".weight missing")
                continue
            dt, w = t[p + ".weight"]
            if alg == "W8A16":
                # Float weights: ours rounded to the model dtype.
                got = fval(dt, w)
                want = (f32(ours.astype(np.float16)) if dt == "F16" else
                        ((ours.view(np.uint32).astype(np.uint64) + 0x7fff +
                          ((ours.view(np.uint32) >> 16) & 1)) >> 16 << 16)
                        .astype(np.uint32).view(np.float32) if dt == "BF16" else ours)
                if dt != {"float16": "F16", "bfloat16": "BF16", "float32": "F32"}[cfg["dtype"]] \
                        or not same(got, want):
                    bad.append(f"{p}.weight: {dt} {diff(got, ours)}")
                continue
            s = t[p + sname]
            s = s[1].view(np.float16) if s[0] == "F16" else s[1]
            want_w = ("I8", [N // 2, K]) if alg == "W4A16_AWQ" else ("F8_E4M3", [N, K])
            if (dt, list(w.shape)) != want_w:
                bad.append(f"{p}.weight: {dt} {list(w.shape)}, want {want_w}")
                continue
            got = trt_decode(alg, w, s, N, K)
            if not same(got, ours):
                bad.append(f"{p}: {diff(got, ours)}")
    extra = set(t) - expect
    missing = expect - set(t)
    ok(not bad and not missing and not extra,
       f"trtllm checkpoint {state}: TensorRT-LLM names (fused qkv, fc = gate, "
       "gate = up), shapes, values", "\n".join(bad + [f"missing {m}" for m in missing] +
                                            [f"unexpected {e}" for e in extra]))


def check_refusals(c, more):
    """Grids a format cannot hold, bad types, existing output, full disk."""
    cases = more + [("q4k", "awq", None, "awq: "), ("gptq3", "awq", None, "awq: "),
             ("fp8", "gptq", None, "gptq: "), ("q4k", "compressed-tensors", None,
                                               "compressed-tensors: "),
             ("rtn4", "trtllm", None, "trtllm: "), ("fp8", "trtllm", None, "trtllm: "),
             ("mixed", "gptq", None, "gptq: model.layers.1.mlp.down_proj is float"),
             ("fx-llama", "gptq", None, "multiples of 32"),
             ("rtn4", "gptq", "v3", "unknown type"), ("rtn4s", "trtllm", "engine", "unknown type")]
    for state, fmt, typ, msg in cases:
        out = os.path.join(c.work, f"refused-{fmt}-{state}")
        argv = ["export", c.states[state], "--format", fmt, "--out", out]
        if typ:
            argv += ["--type", typ]
        r = c.run(*argv)
        err = r.stderr.strip()
        ok(r.returncode == 1 and msg in err and len(err.splitlines()) == 1 and
           not os.path.exists(out) and not leftovers(c.work, os.path.basename(out)),
           f"{fmt} refuses {state} {typ or ''}: {err}", r.stdout + r.stderr)
    # A state of a model read from GGUF: config.json made from its
    # configuration, tokenizer.json rebuilt from its metadata.
    gguf = os.path.join(c.work, "demo.gguf")
    r = c.run("export", c.model, "--format", "gguf", "--type", "f16", "--out", gguf)
    st = os.path.join(c.work, "state-of-gguf")
    if ok(r.returncode == 0, "a GGUF model to quantize", r.stderr):
        r = c.run("quantize", gguf, "--method", "rtn", "--bits", "4", "--group", "128",
                  "--out", st)
        out = os.path.join(c.work, "awq-of-gguf")
        r = c.run("export", st, "--format", "awq", "--out", out)
        cfg = os.path.join(out, "config.json")
        ok(r.returncode == 0 and os.path.exists(cfg) and
           json.load(open(cfg))["model_type"] == "llama" and
           os.path.exists(os.path.join(out, "tokenizer.json")),
           f"awq exports a state of a GGUF model: {r.stderr.strip()}", r.stderr)
    # An output that exists.
    for fmt, state in (("awq", "rtn4"), ("gptq", "rtn4"), ("compressed-tensors", "rtn4s"),
                       ("trtllm", "rtn4s")):
        out = os.path.join(c.work, f"exists-{fmt}")
        os.makedirs(out, exist_ok=True)
        open(os.path.join(out, "mine"), "w").write("keep")
        r = c.run("export", c.states[state], "--format", fmt, "--out", out)
        ok(r.returncode == 1 and "exists" in r.stderr and
           os.listdir(out) == ["mine"], f"{fmt}: an existing output is refused: "
           f"{r.stderr.strip()}", r.stderr)
        r = c.run("export", c.states[state], "--format", fmt, "--out", out, "--force")
        ok(r.returncode == 0 and os.path.exists(os.path.join(out, "config.json")) and
           not os.path.exists(os.path.join(out, "mine")),
           f"{fmt}: --force replaces it", r.stderr)
        # A full disk: a 1 MB file size limit.
        full = os.path.join(c.work, f"full-{fmt}")
        r = c.run("export", c.states[state], "--format", fmt, "--out", full,
                  shell="trap '' XFSZ; ulimit -f 2048; exec")
        err = r.stderr.strip()
        ok(r.returncode == 1 and len(err.splitlines()) == 1 and "write failed" in err and
           not os.path.exists(full) and not leftovers(c.work, os.path.basename(full)),
           f"{fmt}: a full disk fails cleanly: {err}", r.stderr)


def leftovers(work, base):
    return [f for f in os.listdir(work) if f.startswith(base) or ".export-" in f
            or ".tmp-" in f]


# ---- Consumers (--consumer PYTHON) ---------------------------------------

CONSUMER = r'''
import json, os, sys
import numpy as np, torch
from safetensors.numpy import load_file

torch.manual_seed(0)
kind = sys.argv[1]


def ct(d, r):
    """compressed-tensors decompresses every quantized weight."""
    from safetensors.torch import load_file as load_pt
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import QuantizationArgs
    mc = ModelCompressor.from_pretrained(d)
    qc = json.load(open(os.path.join(d, "config.json")))["quantization_config"]
    args = QuantizationArgs(**qc["config_groups"]["group_0"]["weights"])
    comp = mc.quantization_compressor
    if isinstance(comp, dict):
        comp = comp[qc["format"]]
    t = load_pt(os.path.join(d, "model.safetensors"))
    names = [k[:-7] for k in r if k.endswith(".weight") and k.startswith("model.layers.")
             and k[:-7] not in qc["ignore"]]
    bad, how = [], set()
    for n in names:
        data = {k[len(n) + 1:]: v for k, v in t.items() if k.startswith(n + ".")}
        try:
            w = comp.decompress_weight(compressed_data=data, quantization_args=args)
            how.add("decompress_weight")
        except ValueError as e:
            # 0.12 cannot unpack packed zero points in decompress_weight;
            # its own unpack_from_int32 and dequantize can (what 0.13's
            # decompress_weight does).
            if "zero points" not in str(e):
                raise
            from compressed_tensors.compressors.quantized_compressors.pack_quantized \
                import unpack_from_int32
            from compressed_tensors.quantization.lifecycle.forward import dequantize
            shape = torch.Size(data["weight_shape"])
            q = unpack_from_int32(data["weight_packed"], args.num_bits, shape)
            z = unpack_from_int32(data["weight_zero_point"], args.num_bits,
                                  (shape[0], data["weight_scale"].shape[-1]), packed_dim=0)
            w = dequantize(x_q=q, scale=data["weight_scale"], zero_point=z,
                           g_idx=data.get("weight_g_idx"))
            how.add("unpack_from_int32+dequantize")
        if not np.array_equal(w.float().numpy().view(np.uint32), r[n + ".weight"].view(np.uint32)):
            bad.append(n)
    return {"n": len(names), "bad": bad, "how": sorted(how),
            "version": __import__("compressed_tensors").__version__}


def logits(m, r):
    ids = torch.tensor(r["ids"].astype(np.int64))[None]
    with torch.no_grad():
        lg = m(ids).logits[0].float().numpy()
    ours = r["logits"]
    return float(np.abs(lg - ours).max() / np.abs(ours).max())


def qcls(m):
    """The class of block 0's q_proj (phi3: its fused qkv_proj)."""
    att = m.model.layers[0].self_attn
    return type(att.q_proj if hasattr(att, "q_proj") else att.qkv_proj).__name__


# Eager attention: the one that runs Gemma 2's attention soft-capping
# (transformers 4.53 defaults to SDPA, which drops it).
LOAD = {"torch_dtype": torch.float32, "device_map": "cpu", "attn_implementation": "eager"}


def info(m, n):
    import transformers
    return {"cls": qcls(m), "n": n, "tv": transformers.__version__}


def gptq(d, r):
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(d, **LOAD)
    q = [n for n, mod in m.named_modules() if hasattr(mod, "qweight")]
    return {"rel": logits(m.eval(), r), **info(m, len(q))}


def ctlm(d, r):
    """transformers' compressed-tensors loader (CompressedLinear)."""
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(d, **LOAD)
    q = [n for n, mod in m.named_modules() if hasattr(mod, "weight_scale")]
    return {"rel": logits(m.eval(), r), **info(m, len(q)),
            "ctv": __import__("compressed_tensors").__version__}


def awq(d, r):
    from transformers import AutoModelForCausalLM, AwqConfig
    from awq.utils.packing_utils import dequantize_gemm
    qc = json.load(open(os.path.join(d, "config.json")))["quantization_config"]
    # transformers' documented CPU path: the GEMM checkpoint run by IPEX.
    m = AutoModelForCausalLM.from_pretrained(
        d, quantization_config=AwqConfig(version="ipex"), **LOAD)
    # AutoAWQ's own dequantization of the stored tensors, in the fp16 of
    # the scales: our weights rounded to fp16.  (IPEX's int4 kernel
    # computes in bf16, lowp_mode 2 of from_int4_weight, and transformers
    # 4.46 holds the scales in bf16, hence logits 3e-3 to 2e-2 apart.)
    from safetensors.torch import load_file as load_pt
    t = load_pt(os.path.join(d, "model.safetensors"))
    bad, n = [], 0
    for name, mod in m.named_modules():
        if not hasattr(mod, "qweight"):
            continue
        n += 1
        w = dequantize_gemm(t[name + ".qweight"], t[name + ".qzeros"], t[name + ".scales"],
                            4, qc["group_size"]).T.contiguous()
        if not torch.equal(w, torch.from_numpy(r[name + ".weight"]).half()):
            bad.append(name)
    rel = logits(m.eval(), r)
    # The same loaded model with AutoAWQ's dequantization of the stored
    # tensors run in fp32 in place of the kernel: all but the kernel's
    # bf16 arithmetic (and 4.46's bf16 copy of the scales), which must
    # match ours closely.
    for name, mod in m.named_modules():
        if hasattr(mod, "qweight"):
            w = dequantize_gemm(t[name + ".qweight"], t[name + ".qzeros"],
                                t[name + ".scales"].float(), 4, qc["group_size"])
            b = t[name + ".bias"].float() if name + ".bias" in t else 0
            mod.forward = (lambda x, w=w, b=b: x @ w + b)
    return {"rel": rel, "fp32": logits(m, r), **info(m, n), "bad": bad}


def nv_fp32(data):
    """An NVFP4 module's weight by compressed-tensors 0.13's own formula
    (unpack_fp4_from_uint8, then dequantize: e2m1 * (s / G)) in fp32.
    torch 2.5.1 cannot promote float8 / float32, which its _dequantize
    does: the E4M3 scales go in as fp32 (exact)."""
    from compressed_tensors.compressors.quantized_compressors.fp4_quantized \
        import unpack_fp4_from_uint8
    from compressed_tensors.quantization.lifecycle.forward import dequantize
    m, k2 = data["weight_packed"].shape
    q = unpack_fp4_from_uint8(data["weight_packed"], m, 2 * k2, dtype=torch.float32)
    return dequantize(x_q=q, scale=data["weight_scale"].float(),
                      global_scale=data["weight_global_scale"], dtype=torch.float32)


def ct_modules(d):
    from safetensors.torch import load_file as load_pt
    t = load_pt(os.path.join(d, "model.safetensors"))
    names = sorted({k.rsplit(".", 1)[0] for k in t if k.endswith(".weight_scale")})
    return {n: {k[len(n) + 1:]: v for k, v in t.items() if k.startswith(n + ".")}
            for n in names}


def ctfp(d, r):
    """compressed-tensors 0.13 on our float-grid exports (see check_ct_fp)."""
    from compressed_tensors.compressors import ModelCompressor
    qc = json.load(open(os.path.join(d, "config.json")))["quantization_config"]
    comp = ModelCompressor.from_pretrained(d).quantization_compressor
    comp = comp[qc["format"]] if isinstance(comp, dict) else comp
    args = qc["config_groups"]["group_0"]["weights"]
    blk = args.get("block_structure")
    mods = ct_modules(d)
    bad, bf, padded = [], [], 0
    for n, data in mods.items():
        if "weight_global_scale" in data:
            w = nv_fp32(data)
            # decompress_weight itself gives bf16: ours rounded to bf16.
            data = {**data, "weight_scale": data["weight_scale"].float()}
            if not torch.equal(comp.decompress_weight(compressed_data=data),
                               torch.from_numpy(r[n + ".weight"]).bfloat16()):
                bf.append(n)
        elif any(a % b for a, b in zip(data["weight"].shape, blk or (1, 1))):
            # fp8-block128 with partial tiles: 0.13 dequantizes whole
            # tiles only (and infers the tile from the scale's shape), so
            # pad with zeros, its block dequantize with the config's args,
            # then crop.
            from compressed_tensors.quantization import QuantizationArgs
            from compressed_tensors.quantization.lifecycle.forward import dequantize
            N, K = data["weight"].shape
            x = torch.zeros((-(-N // blk[0]) * blk[0], -(-K // blk[1]) * blk[1]), dtype=torch.uint8)
            x[:N, :K] = data["weight"].view(torch.uint8)
            w = dequantize(x_q=x.view(torch.float8_e4m3fn), scale=data["weight_scale"],
                           args=QuantizationArgs(**args))[:N, :K]
            padded += 1
        else:
            w = comp.decompress_weight(compressed_data=data)
        if not np.array_equal(w.float().numpy().view(np.uint32), r[n + ".weight"].view(np.uint32)):
            bad.append(n)
    return {"n": len(mods), "bad": bad, "bf16_bad": bf, "padded": padded,
            "version": __import__("compressed_tensors").__version__}


def ctnvlm(d, r):
    """transformers loads an NVFP4 export (CompressedLinear) in bf16: 0.13
    decompresses FP4 to bf16, which an fp32 model cannot multiply by.  The
    E4M3 scales are cast to fp32 (torch 2.5.1 cannot promote float8)."""
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(d, **{**LOAD, "torch_dtype": torch.bfloat16})
    n = 0
    for _, mod in m.named_modules():
        if getattr(mod, "weight_scale", None) is not None and \
                mod.weight_scale.dtype == torch.float8_e4m3fn:
            mod.weight_scale.data = mod.weight_scale.data.float()
            n += 1
    rel = logits(m.eval(), r)
    # Loaded in fp32 (bf16 would round the float tensors), each
    # CompressedLinear computing with nv_fp32's weights in place of its
    # bf16 decompression.
    m = AutoModelForCausalLM.from_pretrained(d, **LOAD)
    mods = ct_modules(d)
    for name, mod in m.named_modules():
        if name in mods:
            w, b = nv_fp32(mods[name]), mod.bias
            mod.forward = (lambda x, w=w, b=b: torch.nn.functional.linear(x, w, b))
    return {"rel": rel, "fp32": logits(m, r), **info(m, n),
            "ctv": __import__("compressed_tensors").__version__}


for d, ref in zip(sys.argv[2::2], sys.argv[3::2]):
    try:
        res = globals()[kind](d, load_file(ref))
    except Exception as e:
        res = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps({"dir": d, **res}), flush=True)
'''


def consumer_check(c, py, kind, exports, tol=1e-2):
    """Runs the consumer of kind on every (state, dir) in exports."""
    for state, _ in exports:
        c.ref(state)
    res, err = run_consumer(py, kind, [
        (d, os.path.join(c.work, f"ref-{state}.safetensors")) for state, d in exports])
    for state, d in exports:
        o = res.get(d)
        if o is None or "error" in o:
            ok(False, f"{kind} consumer loads {os.path.basename(d)}",
               (o or {}).get("error", "") + "\n" + err[-3000:])
        elif kind == "ct":
            ok(not o["bad"] and o["n"] > 0, f"compressed-tensors {o['version']} "
               f"({', '.join(o['how'])}) decompresses {o['n']} layers of {state} to exactly "
               "our weights", json.dumps(o))
        else:
            fp32 = o.get("fp32", 0.0)
            what = {"ctlm": f"compressed-tensors {o.get('ctv')}"}.get(kind, kind)
            ok(o["rel"] <= tol and fp32 <= 1e-4 and o["n"] > 0 and not o.get("bad"),
               f"transformers {o['tv']} ({o['cls']}, {o['n']} quantized linears) loads "
               f"{what} {state}: logits within {tol} relative of ours ({o['rel']:.2e})"
               + (f"; AutoAWQ's dequantize_gemm equals ours, run in fp32 {fp32:.2e}"
                  if kind == "awq" else ""), json.dumps(o))


# ---- phi3: q/k/v and gate/up written fused ------------------------------
#
# Kept apart from the fixture loop above.  Our states name q_proj, k_proj,
# v_proj, gate_proj and up_proj; a Phi-3 checkpoint holds qkv_proj and
# gate_up_proj, their rows stacked in that order.  transformers 4.46.3 (the
# consumers' pin) has no partial_rotary_factor and wants longrope factor
# lists of head_dim / 2, so the consumers load a copy of the fixture with
# full rotary and factor lists of 8 (our reading of it matches 4.46.3's
# float32 logits within 1e-6; the fixture itself is 4.53.3's).

PHI3_FUSED = {"self_attn.qkv_proj": ("self_attn.q_proj", "self_attn.k_proj",
                                     "self_attn.v_proj"),
              "mlp.gate_up_proj": ("mlp.gate_proj", "mlp.up_proj")}


def phi3_fuse(ref, meta):
    """Our reference with phi3's parts stacked under the fused names."""
    ref, meta = dict(ref), dict(meta)
    for k in [k for k in ref if k.endswith(".self_attn.q_proj.weight") or
              k.endswith(".mlp.gate_proj.weight")]:
        blk = k[:k.index(".self_attn.") if ".self_attn." in k else k.index(".mlp.")]
        for fused, parts in PHI3_FUSED.items():
            if k != f"{blk}.{parts[0]}.weight":
                continue
            ref[f"{blk}.{fused}.weight"] = np.concatenate(
                [ref.pop(f"{blk}.{q}.weight") for q in parts])
            schemes = {meta.pop(f"{blk}.{q}.scheme", None) for q in parts}
            meta[f"{blk}.{fused}.scheme"] = schemes.pop() if len(schemes) == 1 else "mixed"
    return ref, meta


def phi3_variant(c, fixture):
    """The phi3 fixture as transformers 4.46.3 reads it (see above)."""
    d = os.path.join(c.work, "phi3-full-rotary")
    os.makedirs(d, exist_ok=True)
    for f in ("model.safetensors", "generation_config.json"):
        shutil.copy(os.path.join(fixture, f), d)
    cfg = json.load(open(os.path.join(fixture, "config.json")))
    del cfg["partial_rotary_factor"]
    cfg["rope_scaling"]["short_factor"] = [1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    cfg["rope_scaling"]["long_factor"] = [2.0, 3.0, 4.0, 6.0, 9.0, 14.0, 20.0, 28.0]
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
    # A byte-level tokenizer of the fixture's 256 ids, to calibrate with.
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs + [256 + i for i in range(256 - len(bs))]
    bs += [b for b in range(256) if b not in bs]
    vocab = {chr(cc): b for b, cc in zip(bs, cs)}
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
          "use_regex": True}
    json.dump({"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
               "normalizer": None, "pre_tokenizer": bl, "post_processor": None,
               "decoder": bl, "model": {"type": "BPE", "dropout": None, "unk_token": None,
                                        "continuing_subword_prefix": None,
                                        "end_of_word_suffix": None, "fuse_unk": False,
                                        "byte_fallback": False, "ignore_merges": False,
                                        "vocab": vocab, "merges": []}},
              open(os.path.join(d, "tokenizer.json"), "w"))
    return d


def st_save(path, tensors):
    """numpy arrays (F32, I32, I64) as a safetensors file."""
    dt = {np.dtype("<f4"): "F32", np.dtype("<i4"): "I32", np.dtype("<i8"): "I64"}
    hdr, off, blobs = {}, 0, []
    for k, a in tensors.items():
        a = np.ascontiguousarray(a)
        hdr[k] = {"dtype": dt[a.dtype], "shape": list(a.shape),
                  "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def phi3_check(c, state, fmt, typ=None):
    """An export of a phi3 state: fused names only, every quantized module
    unpacked as its consumer does equal to our parts stacked, bit for bit,
    and the float tensors (a float gate_up_proj stacked too) the model's."""
    d, _ = c.export(state, fmt, typ)
    if d is None:
        return None
    t, _ = st_load(os.path.join(d, "model.safetensors"))
    qc = json.load(open(os.path.join(d, "config.json")))["quantization_config"]
    ref, meta = phi3_fuse(*c.ref(state))
    names = quantized(meta)
    split = [k for k in t if any(f".{q}." in k for parts in PHI3_FUSED.values()
                                 for q in parts)]
    bad = [f"unfused tensor {k}" for k in split]
    for p in names:
        if fmt == "awq":
            w = awq_dequant(layer(t, p), p)
        elif fmt == "gptq":
            w = gptq_dequant(layer(t, p), p, qc["bits"],
                             qc.get("checkpoint_format") == "gptq")
        else:
            w = ct_dequant(layer(t, p), p, qc["config_groups"]["group_0"]["weights"])
        if not same(w, ref[p + ".weight"]):
            bad.append(f"{p}: {diff(w, ref[p + '.weight'])}")
    for k, v in ref.items():
        p = k[:-len(".weight")]
        if not k.endswith(".weight") or p in names:
            continue
        if k not in t:
            bad.append(f"{k} missing")
        elif not same(fval(*t[k]), v):
            bad.append(f"{k}: {diff(fval(*t[k]), v)}")
    fused = sorted({p.split(".", 3)[3] for p in names})
    ok(not bad and names, f"{fmt} {state}: {len(names)} modules ({', '.join(fused)}) "
       "written fused, unpacked as the consumer does equal our parts stacked bit for "
       "bit; float tensors equal the model's", "\n".join(bad))
    # The module lists name the fused modules.
    lists = {"awq": qc.get("modules_to_not_convert"), "compressed-tensors": qc.get("ignore"),
             "gptq": (qc.get("modules_in_block_to_quantize") or [[]])[0] +
             list(qc.get("dynamic", {}))}[fmt] or []
    ok(not any("q_proj" in x or "gate_proj" in x or "up_proj" in x.replace("gate_up", "")
               for x in lists),
       f"{fmt} {state}: the module lists name fused modules ({json.dumps(lists)[:200]})")
    # A fused ref for the consumers (they look layers up by module name).
    full = c.ref(state)[0]
    st_save(os.path.join(c.work, f"ref-{state}.safetensors"),
            {**{k: v for k, v in ref.items()}, "ids": full["ids"], "logits": full["logits"]})
    return d


def phi3_checks(c, fixture, consumer):
    """States of the phi3 fixture (and its full-rotary copy) exported fused;
    parts that differ refused naming the fused layer."""
    cal = ["--calib", c.calib, "--samples", "8", "--seqlen", "128"]
    plans = {
        # IPEX and AutoGPTQ: the attention only (gate_up 344 and down 172
        # wide fit neither), the MLP written float.
        "attn": {"default": {"method": "rtn", "scheme": "int4-g32"},
                 "rules": [{"match": r"\.mlp\.", "method": "float"}]},
        "awq": {"default": {"method": "awq", "scheme": "int4-g32"},
                "rules": [{"match": r"\.mlp\.", "method": "float"}]},
        "gptq-ao": {"default": {"method": "gptq", "scheme": "int4-g32", "act_order": True},
                    "rules": [{"match": r"\.mlp\.", "method": "float"}]},
        # every block linear, fused gate_up quantized (per channel: down is
        # 172 wide)
        "int8": {"default": {"method": "rtn", "scheme": "int8-channel-sym"}},
        "k8": {"default": {"method": "rtn", "scheme": "int4-g32"},
               "rules": [{"match": r"\.mlp\.", "method": "float"},
                         {"match": r"k_proj$", "method": "rtn", "scheme": "int8-g32"}]},
        "vfloat": {"default": {"method": "rtn", "scheme": "int4-g32"},
                   "rules": [{"match": r"\.mlp\.", "method": "float"},
                             {"match": r"v_proj$", "method": "float"}]},
    }
    variant = phi3_variant(c, fixture)
    for name, plan in plans.items():
        path = os.path.join(c.work, f"phi3-{name}.json")
        json.dump(plan, open(path, "w"))
        extra = cal if name in ("awq", "gptq-ao") else []
        if c.state(f"phi3-{name}", "--plan", path, *extra, model=variant) is None:
            return
    ex = {"awq": {}, "gptq": {}, "ct": {}}
    ex["awq"]["phi3-attn"] = phi3_check(c, "phi3-attn", "awq")
    ex["awq"]["phi3-awq"] = phi3_check(c, "phi3-awq", "awq")
    ex["gptq"]["phi3-attn"] = phi3_check(c, "phi3-attn", "gptq")
    ex["gptq"]["phi3-gptq-ao"] = phi3_check(c, "phi3-gptq-ao", "gptq")
    ex["ct"]["phi3-attn"] = phi3_check(c, "phi3-attn", "compressed-tensors")
    ex["ct"]["phi3-gptq-ao"] = phi3_check(c, "phi3-gptq-ao", "compressed-tensors")
    ex["ct"]["phi3-int8"] = phi3_check(c, "phi3-int8", "compressed-tensors")
    gq = json.load(open(os.path.join(ex["gptq"]["phi3-gptq-ao"], "config.json")))
    ok(gq["quantization_config"].get("desc_act") is True,
       "gptq phi3-gptq-ao: desc_act (the parts share one permutation)")
    # Parts that differ: one line naming the fused layer and why.
    cases = [("phi3-k8", "gptq", "q_proj is int4-g32 and k_proj int8-g32"),
             ("phi3-k8", "awq", "q_proj is int4-g32 and k_proj int8-g32"),
             ("phi3-vfloat", "awq", "q_proj is int4-g32 and v_proj float"),
             ("phi3-vfloat", "compressed-tensors", "q_proj is int4-g32 and v_proj float")]
    for state, fmt, why in cases:
        out = os.path.join(c.work, f"refused-{fmt}-{state}")
        r = c.run("export", c.states[state], "--format", fmt, "--out", out)
        err = r.stderr.strip()
        want = (f"{fmt}: model.layers.0.self_attn.qkv_proj is one tensor in a Phi-3 "
                f"checkpoint, but {why}")
        ok(r.returncode == 1 and want in err and len(err.splitlines()) == 1 and
           not os.path.exists(out), f"{fmt} refuses {state}: {err}", r.stdout + r.stderr)
    for fmt in ("trtllm", "onnx"):
        out = os.path.join(c.work, f"refused-{fmt}-phi3")
        r = c.run("export", c.states["phi3-attn"], "--format", fmt, "--out", out)
        err = r.stderr.strip()
        ok(r.returncode == 1 and "does not support architecture phi3" in err and
           len(err.splitlines()) == 1, f"{fmt} refuses phi3: {err}", r.stderr)
    if consumer:
        # IPEX computes in bf16: on this small bf16 fixture, bf16 scales and
        # bf16 inputs to the quantized linears alone move the logits by
        # 1.4e-2 of the largest (AutoAWQ's dequantize_gemm is checked exact).
        for kind in ("ct", "gptq", "awq"):
            consumer_check(c, consumer, kind, [(s, d) for s, d in ex[kind].items() if d],
                           tol=3e-2 if kind == "awq" else 1e-2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tq", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--fixtures", required=True, help="tests/data/models")
    ap.add_argument("--consumer", help="Python with the consumer packages")
    ap.add_argument("--consumer-2025", help="the same with transformers 4.53.3")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.work = tempfile.mkdtemp(prefix="tq-ckpt-")
    c = Ctx(args)
    cal = ["--calib", args.calib, "--samples", "8", "--seqlen", "128"]
    states = {
        "rtn4": ["--method", "rtn", "--bits", "4", "--group", "128"],
        "rtn4g64": ["--method", "rtn", "--bits", "4", "--group", "64"],
        "gptq4s64": ["--method", "gptq", "--bits", "4", "--group", "64", "--sym"] + cal,
        "rtn4s": ["--method", "rtn", "--bits", "4", "--group", "128", "--sym"],
        "gptq4ao": ["--method", "gptq", "--bits", "4", "--group", "64", "--act-order"] + cal,
        "gptq3": ["--method", "gptq", "--bits", "3", "--group", "128"] + cal,
        "rtn2": ["--method", "rtn", "--bits", "2", "--group", "32"],
        "rtn8": ["--method", "rtn", "--bits", "8", "--group", "0"],
        "rtn8s": ["--method", "rtn", "--bits", "8", "--group", "0", "--sym"],
        "rtn4s64": ["--method", "rtn", "--bits", "4", "--group", "64", "--sym"],
        "fp8": ["--method", "rtn", "--scheme", "fp8"],
        "fp8c": ["--method", "rtn", "--scheme", "fp8-channel"],
        "q4k": ["--method", "rtn", "--scheme", "q4_k"],
        "mixed": ["--plan", os.path.join(c.work, "mixed.json")],
        "mixed_down": ["--plan", os.path.join(c.work, "mixed_down.json")] + cal,
    }
    with open(os.path.join(c.work, "mixed.json"), "w") as f:
        json.dump({"default": {"method": "rtn", "scheme": "int4-g64"},
                   "rules": [{"match": r"^model\.layers\.1\.mlp\.down_proj$",
                              "method": "float"},
                             {"match": r"^lm_head$", "method": "rtn",
                              "scheme": "int4-g128"}]}, f)
    with open(os.path.join(c.work, "mixed_down.json"), "w") as f:
        json.dump({"default": {"method": "gptq", "scheme": "int4-g128"},
                   "rules": [{"match": r"mlp\.down_proj$", "method": "float"}]}, f)
    for name, qa in states.items():
        c.state(name, *qa)
    # The fixture architectures (tied llama, qwen2 with q/k/v biases and
    # tied, a sharded bf16 mistral; then those transformers 4.46.3
    # predates, for --consumer-2025; an architecture is one entry): their
    # intermediate size, 172 (the gemmas' 96), fits int8 per channel only.
    # GPTQ (AutoGPTQ) needs features in multiples of 32 and IPEX (AWQ)
    # output features in multiples of the group: their attention only in
    # int4-g32, the MLP kept in float.  RTN: no tokenizer to calibrate.
    fixtures = ("llama", "qwen2", "qwen2_tied", "mistral")
    fixtures_2025 = ("qwen3", "qwen3_tied", "smollm3", "gemma3", "gemma2")
    with open(os.path.join(c.work, "attn_only.json"), "w") as f:
        json.dump({"default": {"method": "rtn", "scheme": "int4-g32"},
                   "rules": [{"match": r"\.mlp\.", "method": "float"}]}, f)
    for fx in fixtures + fixtures_2025:
        states["fx-" + fx] = states["fxa-" + fx] = True
        c.state("fx-" + fx, "--method", "rtn", "--bits", "8", "--group", "0", "--sym",
                model=os.path.join(args.fixtures, fx))
        c.state("fxa-" + fx, "--plan", os.path.join(c.work, "attn_only.json"),
                model=os.path.join(args.fixtures, fx))
    if len(c.states) != len(states):
        print(f"1..{n_test}")
        return 1
    # IPEX, transformers' AWQ kernel on CPU, needs out_features % group == 0
    # (the demo's k/v have 64 outputs): groups of 64 for the consumer.
    awq = {s: check_awq(c, s) for s in ("rtn4g64", "gptq4s64", "mixed")}
    check_awq(c, "rtn4")
    gptq = {s: check_gptq(c, s) for s in ("rtn4", "rtn4s", "gptq4ao", "gptq3", "rtn2",
                                          "rtn8", "mixed_down")}
    check_gptq(c, "rtn4", "gptq_v2")
    ct = {s: check_ct(c, s) for s in ("rtn4s", "rtn4", "gptq4ao", "rtn8s", "fp8", "fp8c",
                                      "mixed")}
    new = {"awq": {}, "gptq": {}, "ct": {}}
    for fx in fixtures + fixtures_2025:
        to = new if fx in fixtures_2025 else {"awq": awq, "gptq": gptq, "ct": ct}
        to["awq"]["fxa-" + fx] = check_awq(c, "fxa-" + fx)
        to["gptq"]["fxa-" + fx] = check_gptq(c, "fxa-" + fx)
        to["ct"]["fx-" + fx] = check_ct(c, "fx-" + fx)
        to["ct"]["fxa-" + fx] = check_ct(c, "fxa-" + fx)
        if fx in fixtures:
            check_trt(c, "fx-" + fx, "W8A16")
    check_trt(c, "rtn4s", "W4A16_AWQ")
    check_trt(c, "rtn4s64", "W4A16_AWQ")
    check_trt(c, "rtn8s", "W8A16")
    check_trt(c, "fp8c", "FP8_PER_CHANNEL_PER_TOKEN")
    # trtllm's layouts hold Llama's block only.
    check_refusals(c, [("fx-" + fx, "trtllm", None, "does not support architecture")
                       for fx in fixtures_2025])
    phi3_checks(c, os.path.join(args.fixtures, "phi3"), args.consumer)
    check_fp_grids(c, args.fixtures, args.consumer_2025)
    if args.consumer:
        consumer_check(c, args.consumer, "ct", [(s, d) for s, d in ct.items() if d])
        consumer_check(c, args.consumer, "gptq", [(s, d) for s, d in gptq.items() if d])
        consumer_check(c, args.consumer, "awq", [(s, d) for s, d in awq.items() if d],
                       tol=3e-2)
    if args.consumer_2025:
        for kind in ("ct", "ctlm", "gptq", "awq"):
            exports = new["ct" if kind == "ctlm" else kind]
            consumer_check(c, args.consumer_2025, kind, [(s, d) for s, d in exports.items() if d],
                           tol=3e-2 if kind == "awq" else 1e-2)
    print(f"1..{n_test}")
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    else:
        print(f"# kept {args.work}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
