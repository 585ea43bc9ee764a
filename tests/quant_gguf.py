#!/usr/bin/env python3
"""quant_gguf.py: our GGUF blocks against the gguf Python package (TAP).

Run by tests/quant_gguf.sh; by hand:

    "$PYTHON" tests/quant_gguf.py --dump tests/quant_dump [--seed S] \
        [--ggml BUILD/bin/libggml-base.so] [--real MODEL.safetensors]

A seeded matrix with troublesome rows (outliers, zero blocks and rows,
constants, values tiny enough for fp16-subnormal scales, large values,
one-signed rows, exact rounding ties) is quantized by quant_dump (our
tq_quant_rtn + tq_quant_pack_block) onto every GGUF type, without and with
an importance matrix.  gguf-py's dequantize() of our bytes must equal our
own dequantization exactly.  For Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 without
importance, our bytes must also equal gguf-py's own quantize(), which
follows ggml's reference formulas (it has no K-quant or imatrix
quantizer).  With --ggml (a pinned llama.cpp's libggml-base), our bytes must
equal ggml_quantize_chunk()'s, what llama-quantize writes, for every type,
without and with the importance matrix (IQ2_XXS, IQ2_XS and IQ1_S only
with it: ggml aborts without), and ggml's own dequantization of our bytes
(its type traits' to_float, dequantize_row_*) must equal ours.  With --real
(an fp16/f32 safetensors file, the demo model), REAL_ROWS rows of real
weights follow the made ones (each of its 2-D weights flattened and cut
into rows of COLS).
"""

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import gguf
    from gguf.quants import dequantize, quantize
except ImportError as e:  # the .sh wrapper checks first; be safe anyway
    print(f"1..0 # SKIP cannot import gguf/numpy: {e}")
    sys.exit(0)

QT = gguf.GGMLQuantizationType
TYPES = [
    ("q4_0", QT.Q4_0, True), ("q4_1", QT.Q4_1, True),
    ("q5_0", QT.Q5_0, True), ("q5_1", QT.Q5_1, True),
    ("q8_0", QT.Q8_0, True), ("q2_k", QT.Q2_K, False),
    ("q3_k", QT.Q3_K, False), ("q4_k", QT.Q4_K, False),
    ("q5_k", QT.Q5_K, False), ("q6_k", QT.Q6_K, False),
    ("iq4_nl", QT.IQ4_NL, False), ("iq4_xs", QT.IQ4_XS, False),
    ("mxfp4", QT.MXFP4, True), ("nvfp4", QT.NVFP4, False),
    ("iq3_xxs", QT.IQ3_XXS, False), ("iq3_s", QT.IQ3_S, False),
    ("iq2_xxs", QT.IQ2_XXS, False), ("iq2_xs", QT.IQ2_XS, False),
    ("iq2_s", QT.IQ2_S, False), ("iq1_s", QT.IQ1_S, False),
    ("iq1_m", QT.IQ1_M, False),
]
# ggml quantizes these only with an importance matrix (it aborts without:
# ggml_quantize_requires_imatrix); ours then weigh every column alike.
NEEDS_IMATRIX = {"iq2_xxs", "iq2_xs", "iq1_s"}
COLS = 1024
KINDS = 16
REAL_ROWS = 32


def real_rows(path, n):
    """n rows of COLS from the 2-D weights of a safetensors file, a few
    rows from each in turn."""
    import json
    import struct
    with open(path, "rb") as f:
        hlen = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(hlen))
        base = 8 + hlen
        rows = []
        names = sorted(k for k, v in head.items()
                       if k != "__metadata__" and len(v["shape"]) == 2 and
                       v["dtype"] in ("F16", "F32"))
        for k in names:
            v = head[k]
            dt = np.float16 if v["dtype"] == "F16" else np.float32
            a, b = v["data_offsets"]
            f.seek(base + a)
            x = np.frombuffer(f.read(b - a), dtype=dt).astype(np.float32)
            x = x[: x.size // COLS * COLS].reshape(-1, COLS)
            rows.extend(x[:2])
            if len(rows) >= n:
                break
    return np.array(rows[:n], dtype=np.float32)


def kind(r, made):
    return r % KINDS if r < made else "real"


def make_rows(rng, rows):
    """rows x COLS float32, row r of kind r % KINDS."""
    w = np.empty((rows, COLS), dtype=np.float32)
    c = np.arange(COLS)
    for r in range(rows):
        g = rng.standard_normal(COLS)
        k = r % KINDS
        if k == 0:
            x = 0.02 * g
        elif k == 1:      # sparse outliers
            x = 0.02 * g + np.where(rng.random(COLS) < 0.01, 1.5 * g, 0)
        elif k == 2:      # zero 32-blocks among small values
            x = np.where((c // 32) % 3 == 0, 0.0, 0.01 * g)
        elif k == 3:      # all zero
            x = np.zeros(COLS)
        elif k == 4:      # constant
            x = np.full(COLS, 0.5)
        elif k == 5:      # fp16-subnormal scales
            x = 1e-6 * g
        elif k == 6:      # large
            x = 30.0 * g
        elif k == 7:      # all positive
            x = np.abs(0.03 * g)
        elif k == 8:      # all negative
            x = -np.abs(0.03 * g) - 0.01
        elif k == 9:      # one huge outlier per super-block
            x = np.where(c % 256 == 5, 8.0, 0.001 * g)
        elif k == 10:     # grid-aligned: exact ties for the reference
            x = (rng.integers(-16, 16, COLS) + 0.5 * rng.integers(0, 2, COLS))
            x[::32] = -16.0
        elif k == 11:     # a zero 16/32-sub-block inside busy blocks
            x = np.where((c % 256) // 16 == 7, 0.0, 0.05 * g)
        elif k == 12:     # heavy tails
            x = 0.01 * rng.standard_t(2, COLS)
        elif k == 13:     # sub-block magnitudes spanning 1e4
            x = 0.01 * g * 10.0 ** ((c // 16) % 5 - 2)
        elif k == 14:     # negative constant with one positive
            x = np.full(COLS, -0.25)
            x[17] = 0.125
        else:
            x = rng.uniform(-1, 1, COLS)
        w[r] = x
    return w


def nv_global(blk, d, g):
    """gguf-py's NVFP4 values e2m1 * s with our tensor scale G applied as
    compressed-tensors dequantizes: fl(fl(s / G) * e2m1)."""
    rows = blk.shape[0]
    b = blk.reshape(rows, -1, 36)
    s = (gguf.quants.NVFP4.ue4m3_to_fp32(b[:, :, :4]) * 2).astype(np.float32)
    s = np.repeat(s.reshape(rows, -1), 16, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.where(s > 0, d / s, 0).astype(np.float32)
    return (np.float32(s / np.float32(g)) * e).astype(np.float32)


def ggml_quantizer(path):
    """ggml_quantize_chunk(type, w, imp) -> bytes [rows, row size]."""
    lib = ctypes.CDLL(path)
    f = lib.ggml_quantize_chunk
    f.restype = ctypes.c_size_t
    f.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                  ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                  ctypes.c_void_p]
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]

    def run(qt, w, imp):
        rows, cols = w.shape
        out = np.zeros((rows, lib.ggml_row_size(int(qt), cols)), np.uint8)
        w = np.ascontiguousarray(w, dtype=np.float32)
        f(int(qt), w.ctypes.data, out.ctypes.data, 0, rows, cols,
          None if imp is None else imp.ctypes.data)
        return out
    return run


class TypeTraits(ctypes.Structure):
    """ggml.h's struct ggml_type_traits."""
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64),
                ("type_size", ctypes.c_size_t), ("is_quantized", ctypes.c_bool),
                ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


def ggml_dequantizer(path):
    """ggml's to_float (dequantize_row_*) of blocks [rows, bytes]."""
    lib = ctypes.CDLL(path)
    lib.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p,
                             ctypes.c_int64)

    def run(qt, blk, cols):
        f = proto(lib.ggml_get_type_traits(int(qt)).contents.to_float)
        blk = np.ascontiguousarray(blk)
        out = np.zeros((blk.shape[0], cols), np.float32)
        for r in range(blk.shape[0]):
            f(blk[r].ctypes.data, out[r].ctypes.data, cols)
        return out
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--seed", type=int, default=20240917)
    ap.add_argument("--rows", type=int, default=4 * KINDS)
    ap.add_argument("--ggml", help="libggml-base.so to compare bytes with")
    ap.add_argument("--real", help="safetensors file to take real rows from")
    args = ap.parse_args()
    ggml = ggml_quantizer(args.ggml) if args.ggml else None
    ggml_deq = ggml_dequantizer(args.ggml) if args.ggml else None

    rng = np.random.default_rng(args.seed)
    w = make_rows(rng, args.rows)
    made = args.rows
    if args.real:
        w = np.concatenate([w, real_rows(args.real, REAL_ROWS)])
        args.rows = w.shape[0]
    imp = (rng.random(COLS) * rng.random(COLS) * 5 + 0.01).astype(np.float32)
    imp[::7] = 0.0
    imp[3::50] *= 100

    plan = sum(3 if ref else 2 for _, _, ref in TYPES)
    plan += 4 * len(TYPES) if ggml else 0
    print(f"1..{plan}")
    try:
        from importlib.metadata import version
        gver = version("gguf")
    except Exception:
        gver = "?"
    print(f"# gguf {gver}, numpy {np.__version__}, {args.rows}x{COLS} "
          f"({args.rows - made} real), seed {args.seed}")
    n = 0
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        fin = os.path.join(tmp, "w.f32")
        fimp = os.path.join(tmp, "imp.f32")
        w.tofile(fin)
        imp.tofile(fimp)
        for name, qt, ref in TYPES:
            for use_imp in (False, True):
                label = f"{name}{' imatrix' if use_imp else ''}"
                fblk = os.path.join(tmp, "out.blocks")
                fdeq = os.path.join(tmp, "out.f32")
                cmd = [args.dump, name, str(args.rows), str(COLS), fin,
                       fblk, fdeq] + ([fimp] if use_imp else [])
                res = subprocess.run(cmd, capture_output=True, text=True)
                n += 1
                if res.returncode != 0:
                    print(f"not ok {n} - {label}: quant_dump failed: "
                          f"{res.stderr.strip()}")
                    failed += 1
                    for _ in range((ref and not use_imp) +
                                   2 * (ggml is not None)):
                        n += 1
                        print(f"not ok {n} - {label}: bytes # no output")
                    continue
                blk = np.fromfile(fblk, dtype=np.uint8).reshape(args.rows, -1)
                ours = np.fromfile(fdeq, dtype=np.float32).reshape(args.rows,
                                                                   COLS)
                theirs = dequantize(blk, qt).reshape(args.rows, COLS)
                if name == "nvfp4":
                    theirs = nv_global(blk, theirs, float(res.stdout))
                diff = np.abs(theirs.astype(np.float64) - ours)
                bad = np.argwhere(~(theirs == ours))
                ok = bad.size == 0 and np.isfinite(ours).all()
                msg = (f"{label}: gguf-py dequantizes our blocks to our "
                       f"values exactly (max |diff| {diff.max():.3g})")
                print(f"{'ok' if ok else 'not ok'} {n} - {msg}")
                if not ok:
                    failed += 1
                    r, c = bad[0]
                    print(f"#   first at row {r} (kind {kind(r, made)}) col {c}: "
                          f"ours {ours[r, c]!r}, gguf {theirs[r, c]!r}")
                if ggml is not None and name == "nvfp4":
                    n += 1
                    print(f"ok {n} - {label}: bytes not compared with "
                          f"ggml_quantize_chunk() # SKIP our scales follow "
                          f"compressed-tensors' rule (a tensor scale G); "
                          f"ggml's NVFP4 block has none")
                    n += 1
                    print(f"ok {n} - {label}: ggml's dequantization not "
                          f"compared # SKIP ggml's NVFP4 block has no G")
                elif ggml is not None:
                    n += 1
                    g = ggml_deq(qt, blk, COLS)
                    ok = np.array_equal(g, ours)
                    print(f"{'ok' if ok else 'not ok'} {n} - {label}: ggml's "
                          f"dequantization of our blocks equals ours")
                    failed += not ok
                    n += 1
                    if name in NEEDS_IMATRIX and not use_imp:
                        print(f"ok {n} - {label}: bytes not compared with "
                              f"ggml_quantize_chunk() # SKIP ggml aborts "
                              f"without an importance matrix")
                    else:
                        failed += not same_bytes(
                            n, label, "ggml_quantize_chunk()'s", "ggml",
                            blk, ggml(qt, w, imp if use_imp else None), made)
                if ref and not use_imp:
                    n += 1
                    failed += not same_bytes(
                        n, name, "gguf-py's quantize()", "gguf", blk,
                        quantize(w, qt).reshape(args.rows, -1), made)
    return 1 if failed else 0


def same_bytes(n, label, whose, short, blk, theirs, made):
    """TAP line n: our blocks blk [rows, bytes] equal theirs, row by row."""
    rows = blk.shape[0]
    rows_bad = [r for r in range(rows) if not np.array_equal(theirs[r], blk[r])]
    print(f"{'not ok' if rows_bad else 'ok'} {n} - {label}: our bytes equal "
          f"{whose} ({len(rows_bad)} of {rows} rows differ)")
    if rows_bad:
        r = rows_bad[0]
        j = int(np.argmax(theirs[r] != blk[r]))
        print(f"#   first at row {r} (kind {kind(r, made)}) byte {j}: "
              f"ours {blk[r, j]}, {short} {theirs[r, j]}")
    return not rows_bad


if __name__ == "__main__":
    sys.exit(main())
