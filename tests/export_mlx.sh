#!/bin/sh
# export_mlx.sh: the MLX export (TAP).
#
# Always: bad requests (a grid MLX cannot hold, bits or groups it does not
# take, an existing output, a full disk simulated with ulimit -f) each fail
# with a one-line error and leave nothing behind.  With TQ_INTEROP=1: mlx
# and mlx-lm (CPU) are installed by tools/install-mlx.sh and
# tests/export_mlx.py checks that mlx-lm loads every export and computes our
# weights and logits; a failed install is then a failure, not a skip.
# Uses $top_builddir/turboquant and $top_builddir/tests/mlx_dump.

. "${top_srcdir:-.}/tests/tap_lib.sh"
data=$shared
dump=$top_builddir/tests/mlx_dump
model=$top_srcdir/assets/demo
work=$tmp

quantize() {	# quantize NAME ARGS...
	name=$1
	shift
	"$tq" --threads 1 quantize "$model" "$@" --out "$work/$name" \
	    >"$work/$name.log" 2>&1
	ok $? "quantize $name: $*"
}

# The states the checks use.
quantize s4 --method rtn --bits 4 --group 64
quantize ssym --method rtn --bits 4 --group 128 --sym
quantize smix --plan "$top_srcdir/tests/data/plans/mlx_mixed.json"
quantize sgptq --method gptq --bits 4 --group 128 --act-order \
    --calib "$data/wikitext2-valid.txt" --samples 8 --seqlen 128
quantize sq4k --method rtn --scheme q4_k
quantize s7 --method rtn --bits 7 --group 64
quantize smxfp4 --method rtn --scheme mxfp4
quantize smxfp8 --method rtn --scheme mxfp8
quantize sfp8b --method rtn --scheme fp8-block128
quantize snvfp4 --method rtn --scheme nvfp4
quantize snvfp4u --method rtn --scheme nvfp4-unit
quantize snvfp4p --method rtn --scheme nvfp4-pow2
quantize sawq --preset w4a16-awq --calib "$data/wikitext2-valid.txt" \
    --samples 8 --seqlen 128
quantize ssq --preset w8a8-smoothquant --calib "$data/wikitext2-valid.txt" \
    --samples 8 --seqlen 128
# The fixture architectures: down_proj (172 columns) stays float.
for f in llama qwen2 qwen2_tied llama_linear mistral qwen3 smollm3; do
	"$tq" --threads 1 quantize "$top_srcdir/tests/data/models/$f" \
	    --plan "$top_srcdir/tests/data/plans/mlx_fixture.json" \
	    --out "$work/f_$f" >"$work/f_$f.log" 2>&1
	ok $? "quantize fixture $f"
done

# nvfp4-pow2 on the llama fixture, whose every E4M3 scale / G folds
# exactly (its 172-column down_proj stays float: NVFP4 takes 64).
"$tq" --threads 1 quantize "$top_srcdir/tests/data/models/llama" \
    --plan "$top_srcdir/tests/data/plans/mlx_nvfp4_pow2.json" \
    --out "$work/f_llama_nvpow2" >"$work/f_llama_nvpow2.log" 2>&1
ok $? "quantize fixture llama nvfp4-pow2"

# The gemmas: gemma3 as real checkpoints have it, without the fixture's
# final soft-cap (mlx-lm's gemma3_text has none); gemma2 with its lm_head
# the embeddings (mlx-lm's gemma2 has no other).
mkdir "$work/gemma3_nocap"
for f in "$(cd "$top_srcdir" && pwd)/tests/data/models/gemma3"/*; do
	ln -s "$f" "$work/gemma3_nocap/"
done
rm "$work/gemma3_nocap/config.json"
sed 's/"final_logit_softcapping": 5.0/"final_logit_softcapping": null/' \
    "$top_srcdir/tests/data/models/gemma3/config.json" \
    >"$work/gemma3_nocap/config.json"
fixture_q() {	# fixture_q DIR PLAN NAME: quantize DIR by tests/data/plans/PLAN.json
	"$tq" --threads 1 quantize "$1" \
	    --plan "$top_srcdir/tests/data/plans/$2.json" \
	    --out "$work/$3" >"$work/$3.log" 2>&1
}
for f in gemma3 gemma2; do
	fixture_q "$top_srcdir/tests/data/models/$f" mlx_fixture "f_$f"
	ok $? "quantize fixture $f"
done
# phi3: fused qkv_proj and gate_up_proj written fused.  Its parts must
# share bits and group (v_proj symmetric while q and k are not is fine:
# scales and biases are per row); mlx_fixture.json's 8-bit v_proj is not.
for p in mlx_phi3 mlx_fixture; do
	fixture_q "$top_srcdir/tests/data/models/phi3" $p "f_phi3_$p"
	ok $? "quantize fixture phi3 with $p.json"
done
fixture_q "$work/gemma3_nocap" mlx_fixture f_gemma3_nocap
ok $? "quantize fixture gemma3 without its final soft-cap"
"$tq" --threads 1 quantize "$top_srcdir/tests/data/models/gemma2" \
    --plan "$top_srcdir/tests/data/plans/mlx_fixture_tied.json" \
    --out "$work/f_gemma2_tied" >"$work/f_gemma2_tied.log" 2>&1
ok $? "quantize fixture gemma2 with lm_head and the embeddings float"

# refused STATE TYPE PATTERN DESCRIPTION: `turboquant export` fails with
# one line saying PATTERN and leaves nothing.
refused() {
	out=$work/out
	rm -rf "$out" "$out".export-*
	if [ -n "$2" ]; then
		"$tq" export "$1" --format mlx --type "$2" --out "$out" \
		    >/dev/null 2>"$work/err"
	else
		"$tq" export "$1" --format mlx --out "$out" >/dev/null \
		    2>"$work/err"
	fi
	rc=$?
	lines=$(wc -l <"$work/err")
	left=$(ls -d "$out" "$out".export-* 2>/dev/null | wc -l)
	[ $rc = 1 ] && [ "$lines" = 1 ] && [ "$left" = 0 ] &&
	    grep -q -- "$3" "$work/err"
	ok $? "$4 ($(cat "$work/err"))"
}

refused "$work/s4" int7-g64 "MLX cannot hold int7-g64" "7 bits refused"
refused "$work/s4" int4-g256 "MLX cannot hold int4-g256" "group 256 refused"
refused "$work/s4" int4-channel "MLX cannot hold int4" "per-channel --type refused"
refused "$work/s4" fp8 "MLX cannot hold fp8" "fp8 --type refused"
refused "$work/sq4k" "" "model.layers.0.self_attn.q_proj: MLX cannot hold q4_k.*gguf" \
    "a Q4_K state refused without --type, naming the layer and gguf"
refused "$work/sfp8b" "" "cannot hold fp8-block128.*export to compressed-tensors$" \
    "an fp8-block128 state refused, naming compressed-tensors only (trtllm holds fp8-channel)"
refused "$work/sgptq" "" "cannot hold int4-g128 act-order" \
    "an act-order state refused without --type"
refused "$work/s7" "" "cannot hold int7-g64.*no other export format" \
    "a 7-bit state refused without --type"
refused "$work/snvfp4" "" "MLX cannot hold nvfp4:.*quantize with --scheme nvfp4-unit" \
    "a plain nvfp4 state refused (G = 2688 / amax), naming nvfp4-unit"
refused "$work/snvfp4p" "" "q_proj: MLX cannot hold this nvfp4-pow2 layer: at row .* divided by G = .* is no E4M3 value.*--scheme nvfp4-unit" \
    "an nvfp4-pow2 state of the demo refused: a scale / G is no E4M3 value"
refused "$work/ssq" int8-g128 "8-bit activations (W8A8) have no MLX form" \
    "a SmoothQuant W8A8 state refused, with --type too"
refused "$work/f_gemma3" "" "mlx-lm's gemma3_text has no final_logit_softcapping" \
    "a gemma3 with a final soft-cap refused"
refused "$work/f_gemma2" "" "mlx-lm's gemma2 reads lm_head from the embeddings" \
    "a gemma2 whose lm_head the state rounds apart refused"

refused "$work/f_phi3_mlx_fixture" "" \
    "mlx: model.layers.0.self_attn.qkv_proj is one tensor in mlx-lm's phi3, but q_proj is 4-bit in groups of 32 and v_proj 8-bit in groups of 64" \
    "a phi3 whose q_proj and v_proj differ in bits refused, naming the fused layer"
"$tq" export "$work/f_phi3_mlx_phi3" --format mlx --out "$work/out" --json \
    >"$work/rep" 2>&1
[ $? = 0 ] && grep -q "mlx-lm's phi3 always uses the longrope long_factor: on sequences of up to 32 tokens" \
    "$work/rep"
ok $? "a phi3 export warns that mlx-lm's phi3 always takes long_factor"
rm -rf "$work/out"

# A full disk: the write fails with EFBIG (SIGXFSZ ignored, as a full disk
# sends no signal), one line, nothing left.
out=$work/out
rm -rf "$out"
(trap '' XFSZ; ulimit -f 512; "$tq" export "$work/s4" --format mlx \
    --out "$out") >/dev/null 2>"$work/err"
rc=$?
left=$(ls -d "$out" "$out".export-* 2>/dev/null | wc -l)
[ $rc = 1 ] && [ "$left" = 0 ] && [ "$(wc -l <"$work/err")" = 1 ] &&
    grep -q "write failed" "$work/err"
ok $? "full disk (ulimit -f 512): $(cat "$work/err")"

# An existing output is refused and kept; --force replaces it.
mkdir -p "$out" && touch "$out/keep"
"$tq" export "$work/s4" --format mlx --out "$out" >/dev/null 2>"$work/err"
[ $? = 1 ] && [ -e "$out/keep" ] && grep -q "already exists" "$work/err"
ok $? "an existing output is refused and kept ($(cat "$work/err"))"
"$tq" export "$work/s4" --format mlx --out "$out" --force >/dev/null 2>&1 &&
    [ ! -e "$out/keep" ] && [ -e "$out/model.safetensors" ]
ok $? "--force replaces it"
rm -rf "$out"

# A layer whose width no MLX group divides: refused, or kept float (its
# dequantized weights) with --type, as mlx-lm's quantizer keeps it.
"$tq" --threads 1 quantize "$top_srcdir/tests/data/models/qwen2" --method rtn \
    --bits 4 --group 0 --out "$work/qch" >/dev/null 2>&1
ok $? "quantize fixture qwen2 per channel"
refused "$work/qch" "" "down_proj: MLX cannot hold int4:.*keep the layer float" \
    "a per-channel layer 172 columns wide refused without --type"
"$tq" export "$work/qch" --format mlx --type int4-g32 --out "$out" \
    >"$work/rep" 2>&1
[ $? = 0 ] && grep -q "mlx: model.layers.0.mlp.down_proj kept float: 172 columns" \
    "$work/rep"
ok $? "with --type int4-g32 it is kept float"
rm -rf "$out"

# A re-quantization says what it lost.
"$tq" export "$work/sq4k" --format mlx --type int4-g32-sym --out "$out" \
    --json >"$work/rep" 2>"$work/err"
[ $? = 0 ] && grep -q '"warning":"re-quantized 28 layers MLX cannot hold (q4_k)' \
    "$work/rep"
ok $? "Q4_K re-quantized onto int4-g32-sym with a warning: $(sed 's/.*"warning"://' "$work/rep")"
rm -rf "$out"

# The consumer: mlx-lm on CPU.
if [ "${TQ_INTEROP:-0}" = 1 ]; then
	if py=$("$top_srcdir/tools/install-mlx.sh" 2>"$work/install" | tail -n 1) &&
	    "$py" -c 'import mlx_lm' 2>/dev/null; then
		"$py" "$top_srcdir/tests/export_mlx.py" --dump "$dump" \
		    --turboquant "$tq" --model "$model" \
		    --fixtures "$top_srcdir/tests/data/models" \
		    --text "$data/wikitext2-test.txt" --work "$work" \
		    --states "$work" >"$work/py.tap" 2>"$work/py.err"
		rc=$?
		grep -v '^\(ok\|not ok\) ' "$work/py.tap" |
		    sed 's/^\([^#]\)/# \1/'
		while IFS= read -r line; do
			case $line in
			"ok - "*) ok 0 "${line#ok - }" ;;
			"not ok - "*) ok 1 "${line#not ok - }" ;;
			esac
		done <"$work/py.tap"
		[ $rc = 0 ] || { sed 's/^/# /' "$work/py.err" | tail -n 20; }
		ok $rc "tests/export_mlx.py exited with status 0"
	else
		sed 's/^/# /' "$work/install"
		ok 1 "tools/install-mlx.sh installs mlx and mlx-lm (TQ_INTEROP=1)"
	fi
else
	n=$((n + 1))
	echo "ok $n - mlx-lm consumer checks # SKIP TQ_INTEROP is not 1"
fi
echo "1..$n"
