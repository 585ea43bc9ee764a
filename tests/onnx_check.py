"""onnx_check.py: runs an exported ONNX model in onnxruntime (CPU) and
compares its logits with ours (tests/onnx.sh).

    onnx_check.py DIR OURS.f32 IDS [--tol T] [--nbits N] [--bits B]
                  [--near-ties F] [--hf REF.f32 --hf-tol T]

DIR holds model.onnx (+ model.onnx.data); OURS.f32 is logits_dump's output
for the comma-separated IDS.  Checks, in order:
  - onnx.checker.check_model (full check, shape inference included);
  - the graph has N com.microsoft MatMulNBits nodes (with --nbits), each
    of B bits (with --bits);
  - onnxruntime's logits [1, n, V] match ours: max |diff| <= T * max |ours|
    and the same argmax at every position (with --near-ties, at every
    position but the near ties, which must be at most F of them; see
    near_ties());
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


def near_ties(ours, got):
    """Positions whose argmax the two runtimes may honestly disagree on.

    At position i let d_i = max_v |got[i, v] - ours[i, v]|, what the two
    runtimes' W8A8 arithmetic (an activation on the other side of an
    int8 rounding step, and its effect on every later token through
    attention) moved that position's logits by.  If the argmaxes differ,
    a = ours' and b = got's, then ours[a] - ours[b] <= (got[a] + d_i) -
    (got[b] - d_i) <= 2 d_i: a flip needs ours' top-2 gap <= 2 d_i.  So
    those positions (gap < 2 d_i; a flip at gap == 2 d_i exactly counts)
    are left out of the argmax comparison.  Elsewhere argmax agreement
    then follows from the logits, so what keeps this check sharp is how
    many positions it leaves out (a wrong export moves every position's
    logits, and most gaps fall under 2 d_i) and the max |diff| tolerance.
    Returns a boolean mask over positions."""
    top2 = np.sort(ours, axis=-1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]
    d = np.abs(got - ours).max(axis=-1)
    return gap < 2.0 * d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("ours")
    ap.add_argument("ids")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--nbits", type=int)
    ap.add_argument("--bits", type=int)
    ap.add_argument("--near-ties", type=float)
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
    agree = got.argmax(-1) == ours.argmax(-1)
    ties = near_ties(ours, got) if a.near_ties is not None else \
        np.zeros(len(ids), dtype=bool)
    counted = int((~ties).sum())
    same = int((agree & ~ties).sum())
    msg = (f"{len(nbits)} MatMulNBits, {len(ids)} tokens: max |diff| "
           f"{diff:.3g} = {diff / scale:.3g} of max |logit| {scale:.3g}, "
           f"argmax {same}/{counted}")
    if a.near_ties is not None:
        msg += (f" ({int(ties.sum())} near ties left out, top-2 gap < 2 x "
                f"the position's max |diff|; {int((ties & ~agree).sum())} "
                f"of them flipped)")
    if not diff <= a.tol * scale or same != counted:
        print(msg + f"; tolerance {a.tol}")
        return 1
    if a.near_ties is not None and ties.sum() > a.near_ties * len(ids):
        print(msg + f"; more near ties than {a.near_ties} of the positions")
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
