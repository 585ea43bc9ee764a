#!/bin/sh
# export_mlx_moe.sh: the MLX export of a mixture of experts (TAP).
#
# Always: the mixtral and qwen3_moe fixtures (qwen3_moe's block 0 dense)
# quantized by RTN, and mixtral by a plan `plan --target-bpw` made on
# MLX grids (a block's experts of one kind one choice), export to MLX with
# each block's experts stacked as switch_mlp.gate_proj / up_proj /
# down_proj [experts, out, in] and the router float, and a layer path
# entry in config.json's quantization for every switch_mlp whose grid is
# not the common one; a state whose experts of one kind differ in grid is
# refused in one line naming the switch_mlp tensor.  With TQ_INTEROP=1:
# mlx-lm (CPU, tools/install-mlx.sh) loads every export, mx.dequantize of
# every layer (the stacked experts too) equals our weights bit for bit,
# and its logits match ours (tests/export_mlx_moe.py).
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
dump=$top_builddir/tests/mlx_dump

calib=$shared/wikitext2-valid.txt
text=$shared/wikitext2-test.txt
[ -r "$calib" ] || skip_test "no $calib"
command -v "$py" >/dev/null 2>&1 || skip_test "no $py"
fx=$(cd "$top_srcdir/tests/data/models" && pwd)

"$tq" --threads 1 quantize "$fx/mixtral" --method rtn --bits 4 --group 32 \
    --out "$tmp/m4" >"$tmp/log" 2>&1
ok $? "quantize mixtral: RTN int4-g32 asymmetric"
"$tq" --threads 1 quantize "$fx/qwen3_moe" --method rtn --bits 4 --group 32 \
    --sym --out "$tmp/q4" >"$tmp/log" 2>&1
ok $? "quantize qwen3_moe: RTN int4-g32 symmetric"

# A mixed plan on MLX grids: the fixture with a byte-level tokenizer, for
# the calibration text.
m=$tmp/mixtral
moe_fixture mixtral "$m"
cal="--calib $calib --samples 8 --seqlen 64"
# shellcheck disable=SC2086
"$tq" plan "$m" --target-bpw 5 --menu \
    "gptq:int3-g32,gptq:int4-g32,rtn:int5-g32,gptq:int8-g64" $cal \
    --out "$tmp/mix.json" >/dev/null 2>"$tmp/err" &&
"$tq" --threads 1 quantize "$m" --plan "$tmp/mix.json" $cal \
    --out "$tmp/mopt" >"$tmp/log" 2>&1
ok $? "mixtral: a plan for 5 bpw on MLX grids, quantized $(tail -n 1 "$tmp/err")"

# export_ok STATE NAME: exported to $tmp/NAME; its tensors and config.json
# as mlx-lm's SwitchGLU reads them.
export_ok() {
	"$tq" export "$1" --format mlx --out "$tmp/$2" >"$tmp/rep" 2>&1 &&
	"$py" - "$tmp/$2" "$1" <<'EOF'
import json, struct, sys
out, state = sys.argv[1], sys.argv[2]
with open(out + "/model.safetensors", "rb") as f:
    hdr = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
cfg = json.load(open(out + "/config.json"))
E = cfg.get("num_local_experts") or cfg["num_experts"]
st = json.load(open(state + "/state.json")) if state != "-" else None
bad = []
names = [k for k in hdr if k != "__metadata__"]
if any(".experts." in k for k in names):
    bad.append("per-expert tensors left")
sw = [k for k in names if ".switch_mlp." in k and k.endswith(".weight")]
for k in sw:
    if len(hdr[k]["shape"]) != 3 or hdr[k]["shape"][0] != E:
        bad.append("%s %s" % (k, hdr[k]["shape"]))
routers = [k for k in names if k.endswith((".block_sparse_moe.gate.weight",
                                           ".mlp.gate.weight"))]
if not sw or not routers or any(k[:-len("weight")] + "scales" in hdr
                                for k in routers):
    bad.append("switch_mlp %d, routers %s" % (len(sw), routers))
# Per-path entries: every switch_mlp off the common grid has one.
q = cfg.get("quantization", {})
if st is not None:
    grid = {}
    for l in st["layers"]:
        if ".experts." in l["name"]:
            pre, rest = l["name"].split(".experts.")
            grid.setdefault(pre + "|" + rest.split(".")[1], set()).add(
                l["scheme"])
    for k, v in grid.items():
        if len(v) != 1:
            bad.append("%s: %s" % (k, v))
    for k in sw:
        path = k[:-len(".weight")]
        words, cols = hdr[k]["shape"][2], None
        sc = hdr[path + ".scales"]["shape"][2]
        e = q.get(path, q)
        if words * 32 // e["bits"] // e["group_size"] != sc:
            bad.append("%s: bits %d group %d for %s" % (path, e["bits"],
                                                       e["group_size"],
                                                       hdr[k]["shape"]))
print("# %d switch_mlp tensors, %d routers, %d per-path entries" % (
    len(sw), len(routers), sum(isinstance(v, dict) for v in q.values())))
for b in bad[:5]:
    print("# " + b)
sys.exit(1 if bad else 0)
EOF
}

export_ok "$tmp/m4" x_m4
ok $? "mixtral int4-g32: experts stacked as switch_mlp, routers float"
export_ok "$tmp/q4" x_q4
ok $? "qwen3_moe int4-g32 (block 0 dense): experts stacked, routers float"
export_ok "$tmp/mopt" x_mopt
ok $? "mixtral, the optimized plan: a grid per switch_mlp, each in config.json"
"$tq" export "$fx/mixtral" --format mlx --out "$tmp/x_float" >/dev/null 2>&1
ok $? "the float mixtral: its experts stacked as they are"

# Experts of one kind on different grids: refused, nothing written.
cat >"$tmp/split.json" <<'EOF'
{"default": {"method": "rtn", "scheme": "int4-g32"},
 "rules": [{"match": "layers\\.1\\..*experts\\.2\\.w3$", "scheme": "int8-g32"}]}
EOF
"$tq" --threads 1 quantize "$fx/mixtral" --plan "$tmp/split.json" \
    --out "$tmp/split" >"$tmp/log" 2>&1
ok $? "quantize mixtral with expert 2's up on its own grid"
expect_error "experts of one kind on two grids refused" \
    "model.layers.1.block_sparse_moe.switch_mlp.up_proj is one tensor [experts, out, in] of one grid in mlx-lm, but experts.0.w3 is 4-bit in groups of 32 and experts.2.w3 8-bit in groups of 32" \
    "$tq" export "$tmp/split" --format mlx --out "$tmp/x_split"
[ ! -e "$tmp/x_split" ]
ok $? "and nothing is left behind"

# The consumer: mlx-lm on CPU.
if [ "${TQ_INTEROP:-0}" = 1 ]; then
	if mpy=$("$top_srcdir/tools/install-mlx.sh" 2>"$tmp/install" |
	    tail -n 1) && "$mpy" -c 'import mlx_lm' 2>/dev/null; then
		"$mpy" "$top_srcdir/tests/export_mlx_moe.py" --dump "$dump" \
		    --turboquant "$tq" --text "$text" --work "$tmp" \
		    --case "mixtral RTN int4-g32" "$fx/mixtral" "$tmp/m4" \
		    --case "qwen3_moe RTN int4-g32 symmetric (block 0 dense)" \
		    "$fx/qwen3_moe" "$tmp/q4" \
		    --case "mixtral, plan --target-bpw 5 on MLX grids (GPTQ)" \
		    "$fx/mixtral" "$tmp/mopt" \
		    --case "the float mixtral" "$fx/mixtral" - \
		    >"$tmp/py.tap" 2>"$tmp/py.err"
		rc=$?
		grep '^#' "$tmp/py.tap"
		while read -r line; do
			case $line in
			"ok - "*) ok 0 "${line#ok - }" ;;
			"not ok - "*) ok 1 "${line#not ok - }" ;;
			esac
		done <"$tmp/py.tap"
		[ $rc = 0 ] || sed 's/^/# /' "$tmp/py.err" | tail -n 20
		ok $rc "mlx-lm checks ran"
	else
		ok 1 "tools/install-mlx.sh: $(tail -n 3 "$tmp/install")"
	fi
fi
echo "1..$n"
