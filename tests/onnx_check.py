"""onnx_check.py: runs an exported ONNX model in onnxruntime (CPU) and
compares its logits with ours (tests/onnx.sh).

    onnx_check.py DIR OURS.f32 IDS [--tol T] [--nbits N] [--bits B]
                  [--hf REF.f32 --hf-tol T]

DIR holds model.onnx (+ model.onnx.data); OURS.f32 is logits_dump's output
for the comma-separated IDS.  Checks, in order:
  - onnx.checker.check_model (full check, shape inference included);
  - the graph has N com.microsoft MatMulNBits nodes (with --nbits), each
    of B bits (with --bits);
  - onnxruntime's logits [1, n, V] match ours: max |diff| <= T * max |ours|
    and the same argmax at every position;
  - a batch of two copies of the ids gives the same logits twice;
  - with --hf, the logits also match a transformers reference within
    hf-tol * max |ref| (the float exports of the fixture models).
Prints one line; exit status 1 on a failed check.
"""
import argparse
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("ours")
    ap.add_argument("ids")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--nbits", type=int)
    ap.add_argument("--bits", type=int)
    ap.add_argument("--hf")
    ap.add_argument("--hf-tol", type=float, default=1e-4)
    a = ap.parse_args()
    ids = [int(v) for v in a.ids.split(",")]
    path = a.dir + "/model.onnx"

    onnx.checker.check_model(path, full_check=True)
    model = onnx.load(path, load_external_data=False)
    nbits = [n for n in model.graph.node
             if n.op_type == "MatMulNBits" and n.domain == "com.microsoft"]
    if a.nbits is not None and len(nbits) != a.nbits:
        print(f"{len(nbits)} MatMulNBits nodes, expected {a.nbits}")
        return 1
    if a.bits is not None:
        for n in nbits:
            bits = [x.i for x in n.attribute if x.name == "bits"]
            if bits != [a.bits]:
                print(f"{n.name}: bits {bits}, expected {a.bits}")
                return 1

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = np.array([ids], dtype=np.int64)
    got = sess.run(["logits"], {"input_ids": x})[0]
    ours = np.fromfile(a.ours, dtype=np.float32)
    vocab = ours.size // len(ids)
    ours = ours.reshape(len(ids), vocab)
    if got.shape != (1, len(ids), vocab):
        print(f"logits shape {got.shape}, expected {(1, len(ids), vocab)}")
        return 1
    got = got[0]
    scale = float(np.abs(ours).max())
    diff = float(np.abs(got - ours).max())
    same = int((got.argmax(-1) == ours.argmax(-1)).sum())
    msg = (f"{len(nbits)} MatMulNBits, {len(ids)} tokens: max |diff| "
           f"{diff:.3g} = {diff / scale:.3g} of max |logit| {scale:.3g}, "
           f"argmax {same}/{len(ids)}")
    if not diff <= a.tol * scale or same != len(ids):
        print(msg + f"; tolerance {a.tol}")
        return 1

    two = sess.run(["logits"], {"input_ids": np.concatenate([x, x])})[0]
    if two.shape[0] != 2 or np.abs(two[0] - two[1]).max() > 1e-5 * scale:
        print(msg + "; a batch of two differs")
        return 1

    if a.hf is not None:
        ref = np.fromfile(a.hf, dtype=np.float32).reshape(len(ids), vocab)
        hd = float(np.abs(got - ref).max()) / float(np.abs(ref).max())
        msg += f"; transformers: {hd:.3g}"
        if not hd <= a.hf_tol:
            print(msg + f" > {a.hf_tol}")
            return 1
    print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
