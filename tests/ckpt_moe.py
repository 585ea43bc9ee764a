"""Compressed-tensors and GPTQ exports of a mixture of experts: TAP.

Run by tests/ckpt_moe.sh with numpy's Python, with tests/ckpt_check.py's
context, reference dumps and consumers.  The mixtral and qwen3_moe
fixtures (qwen3_moe's block 0 dense) quantized by RTN int4-g32 (and
mixtral with its experts float, attention quantized) export to both
formats with every expert its own linear, as transformers 4.53 holds them.
Always: the compressed-tensors quantization_config ignores every router
(a float nn.Linear that would otherwise become a CompressedLinear), and
the GPTQ one lists the linears each block quantizes, the routers not
among them (optimum would otherwise take them for quantized).  With
--consumer-2025 (transformers 4.53.3, compressed-tensors 0.13.0, optimum
and AutoGPTQ on CPU): compressed-tensors decompresses every quantized
weight to exactly ours, and transformers loads both exports and computes
logits within 1e-2 relative of ours.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ckpt_check as cc  # noqa: E402


def routers(cfg):
    """The router module names of a config.json's model."""
    moe = "block_sparse_moe" if cfg["model_type"] == "mixtral" else "mlp"
    dense = cfg.get("mlp_only_layers", [])
    return [f"model.layers.{i}.{moe}.gate" for i in range(cfg["num_hidden_layers"])
            if i not in dense]


def check_files(c, state, fmt, d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    qc = cfg["quantization_config"]
    r = routers(cfg)
    st = json.load(open(os.path.join(c.states[state], "state.json")))
    quant = {l["name"] for l in st["layers"] if l["method"] != "float"}
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        hdr = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    floats = all(n + ".weight" in hdr for n in r)
    if fmt == "compressed-tensors":
        ign = qc.get("ignore", [])
        packed = {k[:-len(".weight_packed")] for k in hdr if k.endswith(".weight_packed")}
        cond = all(n in ign for n in r) and packed == quant and floats
        what = (f"compressed-tensors {state}: {len(packed)} per-expert and attention "
                f"linears packed, the {len(r)} routers float and in ignore")
    else:
        keep = qc.get("modules_in_block_to_quantize", [[]])[0]
        inblock = {n.split(".", 3)[3] for n in quant}
        packed = {k[:-len(".qweight")] for k in hdr if k.endswith(".qweight")}
        cond = set(keep) == inblock and len(keep) == len(inblock) and \
            not any(k.endswith(".gate") for k in keep) and packed == quant and floats
        what = (f"gptq {state}: modules_in_block_to_quantize names the {len(keep)} "
                f"linears quantized in a block, no router; {len(packed)} packed, "
                f"the routers float")
    cc.ok(cond, what, json.dumps(qc))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tq", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--fixtures", required=True, help="tests/data/models")
    ap.add_argument("--consumer-2025", help="transformers 4.53.3's Python")
    args = ap.parse_args()
    args.work = tempfile.mkdtemp(prefix="tq-ckpt-moe-")
    args.model = args.calib = None
    c = cc.Ctx(args)
    with open(os.path.join(c.work, "experts_float.json"), "w") as f:
        json.dump({"default": {"method": "rtn", "scheme": "int4-g32-sym"},
                   "rules": [{"match": r"\.experts\.", "method": "float"}]}, f)
    fx = lambda n: os.path.join(args.fixtures, n)  # noqa: E731
    rtn4s = ["--method", "rtn", "--bits", "4", "--group", "32", "--sym"]
    rtn4 = ["--method", "rtn", "--bits", "4", "--group", "32"]
    states = {
        "mixtral-rtn4s": (fx("mixtral"), rtn4s),
        "mixtral-rtn4": (fx("mixtral"), rtn4),
        "mixtral-experts-float": (fx("mixtral"),
                                  ["--plan", os.path.join(c.work, "experts_float.json")]),
        "qwen3_moe-rtn4s": (fx("qwen3_moe"), rtn4s),
        "qwen3_moe-rtn4": (fx("qwen3_moe"), rtn4),
    }
    for name, (model, qa) in states.items():
        c.state(name, *qa, model=model)
    plan = [(s, f) for f in ("compressed-tensors", "gptq") for s in states]
    exports = {"ct": [], "gptq": []}
    for state, fmt in plan:
        if state not in c.states:
            continue
        d, _ = c.export(state, fmt)
        if d is None:
            continue
        check_files(c, state, fmt, d)
        exports["ct" if fmt != "gptq" else "gptq"].append((state, d))
    if args.consumer_2025:
        cc.consumer_check(c, args.consumer_2025, "ct", exports["ct"])
        cc.consumer_check(c, args.consumer_2025, "ctlm", exports["ct"])
        cc.consumer_check(c, args.consumer_2025, "gptq", exports["gptq"])
    print(f"1..{cc.n_test}")
    shutil.rmtree(c.work, ignore_errors=True)
    return 1 if cc.n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
