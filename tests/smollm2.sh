#!/bin/sh
# smollm2.sh: the real model in the suite, SmolLM2 135M Instruct as a
# Q4_1 GGUF (tools/install-smollm2.sh, $TQ_SMOLLM2_GGUF): 30 blocks of
# width 576, which no K-quant block (256) and no group of 128 divides,
# tied embeddings, no BOS (add_bos_token false).  What a first run on it
# found, each checked here:
#   - plan: a tied lm_head counted once; the grid a preset falls back to
#     said per layer ("g128 does not divide 576"), in the quantize report
#     too; a scheme that does not fit names the groups that do; every
#     preset quantizes (the calibrated ones on 2 samples of 64 tokens:
#     w4-gptq, w8a8-smoothquant, fp8-static; the AWQ presets, IQ2_S and
#     IQ2_M take a minute or more each and are only planned; with
#     TQ_INTEROP=1 the types compared with llama-quantize below are
#     quantized there only);
#   - the llamacpp protocol's report says no BOS is used;
#   - GGUF exports carry the source's tokenizer metadata; eval --compare
#     gives a .gguf variant's real bits per weight;
#   - the gptq, awq, compressed-tensors and mlx exports work from it;
#   - mixed precision: the menu falls back per layer and says so, --menu
#     against a saved table with another menu is refused, a plan on the
#     q4_k_m base with non-GGUF grids warns; --menu-exclude leaves a grid
#     out where an entry falls back to it, on the saved table.
# With TQ_INTEROP=1, against the pinned llama.cpp (tools/build-llamacpp.sh):
#   - perplexity by the llamacpp protocol equals llama-perplexity's on the
#     model converted to F32 (--chunks 2) within 0.01%; on the Q4_1 file
#     itself within 1%: llama.cpp rounds every matmul input to 8 bits
#     there, and which way a few of those roundings go depends on the last
#     bit of the inputs: over 40 windows its native and portable builds give
#     19.0292 and 19.0095 (0.10% apart), we 19.0246 (bench/smollm2_parity.sh);
#   - the q4_k_m export: llama.cpp loads it, its perplexity is close to
#     ours, and every tensor's type is that of llama-quantize's Q4_K_M of
#     the same file (llama-quantize --allow-requantize on the Q4_1 file;
#     the same types as from an F32 conversion), read with gguf-py;
#   - the iq4_xs export and the q2_k preset's equal llama-quantize's IQ4_XS
#     and Q2_K of the Q4_1 file byte for byte (IQ4_NL, Q4_0 where 256 does
#     not divide 576), and so do the iq3_xxs, iq3_xs, iq3_s and iq3_m
#     exports (IQ4_NL for IQ3_XXS, IQ3_S and IQ2_S, Q5_0 for Q4_K where 256
#     does not divide 576, so no layer needs an importance matrix), and the
#     iq2_xxs, iq2_xs, iq1_s and iq1_m exports with our importance matrix,
#     llama-quantize's with the same;
#   - mlx-lm loads the mlx export and its perplexity is ours.
# TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
gguf=${TQ_SMOLLM2_GGUF:-}
threads=2

# The model and the corpora, or a skip (a failure under TQ_STRICT=1).
if [ -z "$gguf" ] || [ ! -f "$gguf" ]; then
	skip_test "no SmolLM2 GGUF (\$TQ_SMOLLM2_GGUF, which" \
	    "tools/install-smollm2.sh prints)"
elif [ ! -f "$shared/wikitext2-test.txt" ] ||
    [ ! -f "$shared/wikitext2-valid.txt" ]; then
	skip_test "no wikitext2 corpora in $shared"
fi
head -c 200000 "$shared/wikitext2-test.txt" >"$tmp/text.txt"
calib="--calib $shared/wikitext2-valid.txt --samples 2 --seqlen 64"
q() {	# q ARGS...: turboquant with $threads threads
	"$tq" --threads $threads "$@"
}

# ---- plan ---------------------------------------------------------------
q plan "$gguf" --preset q4_k_m >"$tmp/plan" 2>&1
grep -q "^lm_head .*tied to model.embed_tokens: counted there$" "$tmp/plan" &&
    grep -q "lm_head tied to the embeddings), 134.48 M weights" "$tmp/plan"
ok $? "plan: a tied lm_head counted once ($(tail -n 1 "$tmp/plan"))"
q plan "$gguf" --preset w4-gptq >"$tmp/plan" 2>&1
grep -q "^model.layers.0.self_attn.q_proj .* int4-g64 .*(g128 does not divide 576); the preset$" \
    "$tmp/plan" && grep "^model.layers.0.mlp.down_proj " "$tmp/plan" |
    grep -q "int4-g128 .*[0-9]  the preset$"
ok $? "plan w4-gptq: each width-576 layer says why it is int4-g64"
expect_error "an explicit int4-g128 names the layer and the groups that fit" \
    "layer model.layers.0.self_attn.q_proj [576, 576] (scheme from the default): int4-g128: group size 128 does not divide the 576 columns of the [576, 576] weight (groups that fit: 64, 32, channel)" \
    q plan "$gguf" --method rtn --scheme int4-g128
expect_error "an explicit q4_k names the blocks that fit" \
    "q4_k needs a column count divisible by 256; the weight is [576, 576] (blocks of 32 fit: q4_0, q4_1, q5_0, q5_1, q8_0)" \
    q plan "$gguf" --method rtn --scheme q4_k

# ---- every preset -------------------------------------------------------
# With TQ_INTEROP=1 the types quantized again below, and compared with
# llama-quantize's byte for byte, are quantized there only.  IQ2_S and
# IQ2_M take minutes each on 135 M weights here (their grid search), so
# they are planned only; tests/iq2_llamacpp.sh checks them on the demo.
below=" iq4_xs iq3_xxs iq3_xs iq3_s iq3_m q2_k iq2_xxs iq2_xs iq1_s iq1_m "
for p in $(q plan --list-presets); do
	case $p in
	*awq|iq2_s|iq2_m)
		x=
		case $p in iq2_*) x=--imatrix ;; esac
		q plan "$gguf" --preset $p $x >"$tmp/out" 2>&1
		ok $? "preset $p plans (quantized elsewhere: a minute or more)"
		continue ;;
	# w4-gptq as plain GPTQ: its calibrated default's AWQ search takes
	# two minutes here (tests/quantize.sh checks that default on the demo)
	w4-gptq) args="$calib --method gptq" ;;
	w8a8-smoothquant|fp8-static) args=$calib ;;
	iq2_*|iq1_*) args="--imatrix $calib" ;;	# llama-quantize's rule
	w3-gptq) continue ;;	# as w4-gptq, for time
	*) args= ;;
	esac
	if [ "${TQ_INTEROP:-0}" = 1 ] && [ "${below#* $p }" != "$below" ]; then
		continue
	fi
	q quantize "$gguf" --preset $p $args --out "$tmp/s_$p" \
	    >"$tmp/q_$p.out" 2>"$tmp/err"
	ok $? "preset $p quantizes SmolLM2 $(tail -n 1 "$tmp/err" |
	    head -c 200)"
done
grep -q "^model.layers.0.self_attn.q_proj .* int4-g64 .*(g128 does not divide 576)$" \
    "$tmp/q_w4-gptq.out"
ok $? "the quantize report says why a layer is int4-g64"

# ---- the llamacpp protocol's report --------------------------------------
q eval "$gguf" --text "$tmp/text.txt" --protocol llamacpp --max-tokens 1024 \
    >"$tmp/out" 2>&1
grep -q "^protocol    llamacpp: 2 windows of 512 tokens, no BOS (the tokenizer adds none), " \
    "$tmp/out"
ok $? "llamacpp protocol: $(grep '^protocol' "$tmp/out")"

# ---- GGUF export: the source's tokenizer ---------------------------------
s=$tmp/s_q4_k_m
q export "$s" --format gguf --out "$tmp/q4km.gguf" >"$tmp/out" 2>"$tmp/err"
[ $? = 0 ] && ! grep -q "tokenizer\|pre-tokenizer" "$tmp/err"
ok $? "the q4_k_m state as GGUF, no tokenizer warning $(head -n 1 "$tmp/err" | head -c 200)"
q info "$tmp/q4km.gguf" >"$tmp/out" 2>&1
grep -q "^vocabulary .*tokenizer with 49152 ids$" "$tmp/out"
ok $? "the export's tokenizer: $(grep '^vocabulary' "$tmp/out")"

# ---- eval --compare: a .gguf file's bits per weight ----------------------
q eval "$gguf" --compare "$tmp/q4km.gguf" --text "$tmp/text.txt" \
    --protocol llamacpp --max-tokens 1024 --json >"$tmp/cmp.json" 2>"$tmp/err"
"$py" - "$tmp/cmp.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
b, v = j["base"]["bpw"], j["variants"][0]["bpw"]
print("# bpw: source %.4f, q4_k_m export %.4f" % (b, v))
# Q4_1 is 5.0 bits; the Q4_K_M mix on width 576: q5_0, q6_k, q8_0, q4_k.
assert abs(b - 5.0) < 1e-3 and 5.4 < v < 5.7
PY
ok $? "eval --compare: the .gguf files' block linears at their stored bits"

# ---- the Hugging Face exports from a GGUF source --------------------------
q quantize "$gguf" --method rtn --scheme int4-g64 --out "$tmp/g64" \
    >/dev/null 2>&1
for f in gptq awq compressed-tensors mlx; do
	q export "$tmp/g64" --format $f --out "$tmp/x_$f" >/dev/null \
	    2>"$tmp/err" && [ -s "$tmp/x_$f/tokenizer.json" ] &&
	    grep -q '"model_type":.*"llama"' "$tmp/x_$f/config.json" &&
	    grep -q '"tie_word_embeddings":.*true' "$tmp/x_$f/config.json" &&
	    grep -q '"add_bos_token":.*false' "$tmp/x_$f/tokenizer_config.json"
	ok $? "export --format $f from the GGUF model's state: config.json and tokenizer written $(head -n 1 "$tmp/err" | head -c 200)"
done

# ---- mixed precision on width 576 ----------------------------------------
# RTN and no KLD probe: the menu's fallbacks are what is checked, fast.
menu=rtn:q4_k,rtn:int4-g128,rtn:q8_0
q plan "$gguf" --target-bpw 4.6 $calib --probe-tokens 0 --menu $menu \
    --sensitivity "$tmp/sens.json" --base-plan q4_k_m >"$tmp/out" \
    2>"$tmp/err"
ok $? "plan --target-bpw on SmolLM2 $(grep -v '^block\|^menu\|^probe\|^sens\|^warn' "$tmp/err" | tail -n 1 | head -c 200)"
grep -q "^menu rtn:q4_k does not fit the 180 layers of 576 columns: q5_0 there$" \
    "$tmp/err" && grep -q "^menu rtn:int4-g128 does not fit the 180 layers of 576 columns: int4-g64 there$" \
    "$tmp/err"
ok $? "the menu entries that do not fit say so and what the layers get"
grep -q "^warning: [0-9]* block linears (int4-g64, ...) get grids GGUF cannot hold" \
    "$tmp/err"
ok $? "a plan on the q4_k_m base with non-GGUF grids warns at plan time"
expect_error "--menu against a saved table with another menu is refused" \
    "plan: --menu is not the menu $tmp/sens.json was measured with (rtn:q4_k,rtn:int4-g128,rtn:q8_0)" \
    q plan "$gguf" --target-bpw 4.6 --menu rtn:q4_k \
    --sensitivity "$tmp/sens.json"
# --menu-exclude on the saved table: a grid is left out where an entry
# falls back to it (q4_k is q5_0 on width 576, q4_k still on ffn_down's
# 1536 columns), an entry everywhere; nothing is measured again (no
# --calib: the saved table is all there is).
q plan "$gguf" --target-bpw 5.5 --sensitivity "$tmp/sens.json" \
    --menu-exclude q5_0 --json >"$tmp/out" 2>"$tmp/err" &&
    "$py" -c '
import json, sys
L = [l["scheme"] for l in json.load(open(sys.argv[1]))["layers"]
     if l["name"].startswith("model.layers.")]
sys.exit(not ("q5_0" not in L and "q4_k" in L and
              set(L) <= {"q4_k", "int4-g64", "int4-g128", "q8_0"}))' "$tmp/out"
ok $? "--menu-exclude q5_0: no layer on q5_0, down_proj keeps q4_k $(head -c 200 "$tmp/err")"
q plan "$gguf" --target-bpw 8.5 --sensitivity "$tmp/sens.json" \
    --menu-exclude rtn:int4-g128,rtn:q4_k --json >"$tmp/out" 2>"$tmp/err" &&
    "$py" -c '
import json, sys
sys.exit(any(l["scheme"] != "q8_0" for l in json.load(open(sys.argv[1]))["layers"]
             if l["name"].startswith("model.layers.")))' "$tmp/out"
ok $? "--menu-exclude of two entries leaves q8_0 on every block linear"
refused() {	# refused WHAT MESSAGE LIST: --menu-exclude LIST fails so
	expect_error "--menu-exclude: $1" "plan: --menu-exclude: $2" \
	    q plan "$gguf" --target-bpw 5.5 --sensitivity "$tmp/sens.json" \
	    --menu-exclude "$3" --json
}
refused "a grid no entry gives a layer" "exclusion \"q4_1\": no entry of the table's menu gives any layer the grid q4_1" q4_1
refused "an entry not in the menu" "exclusion \"gptq:q4_k\": gptq:q4_k is not an entry of the table's menu" gptq:q4_k
refused "neither a grid nor an entry" "exclusion \"q4_z\": neither a grid nor a menu entry (METHOD:SCHEME)" q4_z
refused "every setting of a layer left out" "the exclusions leave model.layers.0.self_attn.q_proj no setting of the menu" q5_0,int4-g64,q8_0

if [ "${TQ_INTEROP:-0}" != 1 ]; then
	n=$((n + 1))
	echo "ok $n # SKIP llama.cpp, gguf-py and mlx-lm: with TQ_INTEROP=1"
	echo "1..$n"
	exit 0
fi

# ---- llama.cpp -----------------------------------------------------------
llamacpp_bin
# parity FILE CHUNKS LIMIT LABEL: llama-perplexity and ours on FILE
parity() {
	LD_LIBRARY_PATH=$bin "$bin/llama-perplexity" -t $threads -c 512 \
	    --chunks $2 -m "$1" -f "$tmp/text.txt" >"$tmp/lp.log" 2>&1 || {
		echo "# llama-perplexity: $(tail -n 1 "$tmp/lp.log")"
		return 1
	}
	q eval "$1" --text "$tmp/text.txt" --protocol llamacpp \
	    --max-tokens $(($2 * 512)) --json >"$tmp/ours.json" 2>"$tmp/err" || {
		echo "# turboquant eval: $(tail -n 1 "$tmp/err")"
		return 1
	}
	"$py" - "$tmp/lp.log" "$tmp/ours.json" "$2" "$3" "$4" <<'PY'
import json, re, sys
log, ours = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
chunks, limit, label = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
lp = float(re.search(r"Final estimate: PPL = ([0-9.]+)", log).group(1))
rel = abs(ours["ppl"] - lp) / lp
print("# %s: llama-perplexity %.4f, ours %.4f over %d windows (rel. %.1e)"
      % (label, lp, ours["ppl"], ours["n_windows"], rel))
assert ours["n_windows"] == chunks and rel < limit
PY
}
q export "$gguf" --format gguf --type f32 --out "$tmp/f32.gguf" >/dev/null \
    2>"$tmp/err"
ok $? "SmolLM2 as an F32 GGUF $(head -n 1 "$tmp/err" | head -c 200)"
parity "$tmp/f32.gguf" 2 0.0001 F32
ok $? "F32: the llamacpp protocol's perplexity within 0.01% of llama-perplexity's"
parity "$gguf" 2 0.01 Q4_1
ok $? "the Q4_1 file: within 1% (8-bit inputs in llama.cpp; see above)"
parity "$tmp/q4km.gguf" 2 0.01 "q4_k_m export"
ok $? "llama.cpp loads the q4_k_m export: its perplexity within 1% of ours"

LD_LIBRARY_PATH=$bin "$bin/llama-quantize" --allow-requantize "$gguf" \
    "$tmp/ref.gguf" Q4_K_M >"$tmp/lq.log" 2>&1
ok $? "llama-quantize --allow-requantize Q4_K_M $(grep -i error "$tmp/lq.log" | head -n 1 | head -c 200)"
"$py" - "$gguf" "$tmp/q4km.gguf" "$tmp/ref.gguf" <<'PY'
import collections, sys
import gguf
def read(p):
    r = gguf.GGUFReader(p)
    tok = {k: f.contents() for k, f in r.fields.items()
           if k.startswith("tokenizer.")}
    return r, {t.name: t.tensor_type.name for t in r.tensors}, tok
_, _, src_tok = read(sys.argv[1])
_, ours, tok = read(sys.argv[2])
_, ref, _ = read(sys.argv[3])
diff = [(k, ours.get(k), ref.get(k)) for k in sorted(set(ours) | set(ref))
        if ours.get(k) != ref.get(k)]
print("# %d tensors, types %s; differing: %s" % (len(ours),
      dict(collections.Counter(ours.values())), diff[:5]))
assert not diff
assert tok == src_tok, "tokenizer metadata"
PY
ok $? "the q4_k_m export: every tensor's type is llama-quantize's, the tokenizer metadata the source's"

# same_as_lq OURS TYPE: OURS holds llama-quantize --allow-requantize TYPE's
# tensors of the Q4_1 file, byte for byte (read with gguf-py); with
# $lq_imatrix set, llama-quantize --imatrix $lq_imatrix's.
same_as_lq() {
	LD_LIBRARY_PATH=$bin "$bin/llama-quantize" --allow-requantize \
	    ${lq_imatrix:+--imatrix "$lq_imatrix"} "$gguf" \
	    "$tmp/ref.gguf" "$2" $threads >"$tmp/lq.log" 2>&1 &&
	"$py" - "$1" "$tmp/ref.gguf" <<'PY'
import collections, sys
import numpy as np
import gguf
a, b = ({t.name: t for t in gguf.GGUFReader(p).tensors} for p in sys.argv[1:3])
types = [k for k in sorted(set(a) | set(b)) if k not in a or k not in b or
         a[k].tensor_type != b[k].tensor_type]
data = [k for k in sorted(set(a) & set(b)) if not np.array_equal(
        np.asarray(a[k].data).view(np.uint8).ravel(),
        np.asarray(b[k].data).view(np.uint8).ravel())]
print("# %d tensors, types %s; types differ: %s; bytes differ: %s" % (len(a),
      dict(collections.Counter(t.tensor_type.name for t in a.values())),
      types[:5], data[:5]))
assert not types and not data
PY
}
# IQ4_XS on width 576: IQ4_NL where 256 does not divide, Q8_0 for the tied
# output; our export from the Q4_1 file is llama-quantize's byte for byte.
q export "$gguf" --format gguf --type iq4_xs --out "$tmp/iq4xs.gguf" \
    >/dev/null 2>"$tmp/err" && same_as_lq "$tmp/iq4xs.gguf" IQ4_XS
ok $? "the iq4_xs export: every tensor's type and bytes are llama-quantize --allow-requantize IQ4_XS's $(head -c 200 "$tmp/err")"
# The IQ3 mixes: IQ4_NL where 256 does not divide 576 (Q5_0 for IQ3_M's
# Q4_K); only ffn_down (1536 wide) keeps IQ3_S, or IQ3_XXS's Q3_K/Q4_K.
for t in iq3_xxs iq3_xs iq3_s iq3_m; do
	q export "$gguf" --format gguf --type $t --out "$tmp/$t.gguf" \
	    >/dev/null 2>"$tmp/err" &&
	    same_as_lq "$tmp/$t.gguf" "$(echo $t | tr a-z A-Z)"
	ok $? "the $t export: every tensor's type and bytes are llama-quantize --allow-requantize $(echo $t | tr a-z A-Z)'s $(head -c 200 "$tmp/err")"
done
# Q2_K: Q4_0 where 256 does not divide 576, Q3_K for ffn_down (1536 wide).
q quantize "$gguf" --preset q2_k --out "$tmp/q2k" --export "gguf:$tmp/q2k.gguf" \
    >/dev/null 2>"$tmp/err" && same_as_lq "$tmp/q2k.gguf" Q2_K
ok $? "the q2_k preset's export: every tensor's type and bytes are llama-quantize --allow-requantize Q2_K's $(head -c 200 "$tmp/err")"
# The IQ2 and IQ1 mixes, with our importance matrix: IQ4_NL where 256 does
# not divide 576, attn_v's Q2_K (3 query heads per KV head) as Q4_0 there,
# Q2_K on the first eighth of ffn_down (1536 columns) and the type itself
# on the rest, Q8_0 for the tied output.
q calibrate "$gguf" --calib "$shared/wikitext2-valid.txt" --samples 4 \
    --seqlen 128 --imatrix "$tmp/sm.imatrix" >/dev/null 2>"$tmp/err"
ok $? "calibrate --imatrix on SmolLM2 $(head -c 200 "$tmp/err")"
lq_imatrix=$tmp/sm.imatrix
for t in IQ2_XXS IQ2_XS IQ1_S IQ1_M; do
	lt=$(echo $t | tr A-Z a-z)
	q export "$gguf" --format gguf --type $lt --imatrix "$lq_imatrix" \
	    --out "$tmp/$lt.gguf" >/dev/null 2>"$tmp/err" &&
	same_as_lq "$tmp/$lt.gguf" $t
	ok $? "the $lt export with an importance matrix: every tensor's type and bytes are llama-quantize --imatrix $t's $(head -c 200 "$tmp/err")"
done
lq_imatrix=

# ---- mlx-lm --------------------------------------------------------------
if mpy=$("$top_srcdir/tools/install-mlx.sh" 2>"$tmp/install" | tail -n 1) &&
    [ -x "$mpy" ]; then
	head -c 6000 "$shared/wikitext2-test.txt" >"$tmp/slice.txt"
	q eval "$tmp/g64" --text "$tmp/slice.txt" --ctx 256 --max-tokens 256 \
	    --json >"$tmp/g64.json" 2>"$tmp/err"
	"$mpy" - "$tmp/x_mlx" "$tmp/slice.txt" "$tmp/g64.json" <<'PY' 2>"$tmp/err"
import json, math, sys
import mlx.core as mx
from mlx_lm import load
model, tok = load(sys.argv[1])
ids = tok.encode(open(sys.argv[2]).read(), add_special_tokens=False)[:256]
logits = model(mx.array([ids]))[0].astype(mx.float32)
lse = mx.logsumexp(logits[:-1], axis=-1)
tgt = mx.take_along_axis(logits[:-1], mx.array(ids[1:])[:, None], axis=-1)[:, 0]
ppl = math.exp(float(mx.mean(lse - tgt)))
ours = json.load(open(sys.argv[3]))["ppl"]
print("# mlx-lm %.4f, ours %.4f" % (ppl, ours))
assert abs(ppl - ours) / ours < 0.005
PY
	ok $? "mlx-lm loads the mlx export of the GGUF model's state: perplexity within 0.5% of ours $(tail -n 1 "$tmp/err" | head -c 200)"
else
	ok 1 "tools/install-mlx.sh installs mlx and mlx-lm: $(tail -n 1 "$tmp/install" | head -c 200)"
fi
echo "1..$n"
