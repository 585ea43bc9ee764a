#!/bin/sh
# iq2_llamacpp.sh: the IQ2_XXS, IQ2_XS, IQ2_S, IQ2_M, IQ1_S and IQ1_M
# presets against llama-quantize and llama-perplexity (the pinned build of
# tools/build-llamacpp.sh), on the demo model exported as an F32 GGUF:
#   - without an importance matrix both refuse them (llama-quantize's
#     tensor_requires_imatrix), ours in one line;
#   - `export --type iq2_xxs --imatrix F` (iq2_xs, iq2_s, iq2_m, iq1_s,
#     iq1_m) equals `llama-quantize --imatrix F SRC OUT IQ2_XXS` (...)
#     byte for byte, every tensor's type and data, with F our `calibrate
#     --imatrix` and llama-imatrix's; an importance matrix that lacks a
#     tensor is refused, as there;
#   - `quantize --preset iq2_xs --imatrix --export gguf:F` writes every
#     tensor in llama-quantize's type (its importance matrix is its own);
#   - llama-perplexity of our exports (and of a state with every block
#     linear on iq2_s) equals our `eval --protocol llamacpp` of the same files
#     within 0.05% (inputs rounded to Q8_K, ggml-cpu's vec_dot_type for
#     all of them).
# Runs only with TQ_INTEROP=1 (a missing llama.cpp build then fails).  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
threads=2
llamacpp_only
# fails CMD...: exit 1 with one line on stderr that has $want
fails() {
	"$@" >/dev/null 2>"$tmp/err"
	[ $? = 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q -- "$want" "$tmp/err"
}

demo_imatrices

for t in IQ2_XXS IQ2_XS IQ2_S IQ2_M IQ1_S IQ1_M; do
	lt=$(echo $t | tr A-Z a-z)
	# the first layer refused is on the mix's default type: IQ2_S's is
	# IQ2_XS (llama.cpp's), IQ2_M's IQ2_S
	case $t in
	IQ2_S)	dt=iq2_xs ;;
	IQ2_M)	dt=iq2_s ;;
	*)	dt=$lt ;;
	esac
	want="llama-quantize quantizes $dt only with an importance matrix"
	fails "$tq" export "$tmp/f32.gguf" --format gguf --type $lt \
	    --out "$tmp/x.gguf" && [ ! -e "$tmp/x.gguf" ] &&
	! llama llama-quantize "$tmp/f32.gguf" "$tmp/x.gguf" $t 1 &&
	grep -q "requires an importance matrix" "$tmp/l.log"
	ok $? "$t without an importance matrix: refused by both: $(cat "$tmp/err")"
	for im in ours llama; do
		same_as_llama $t $im
	done
done

# An importance matrix without ffn_down's entries: llama-quantize bails
# out ("Missing importance matrix for tensor ... in a very low-bit
# quantization"), and so do we.
"$py" - "$tmp/ours.imatrix" "$tmp/part.imatrix" <<'PY'
import sys
import gguf
r = gguf.GGUFReader(sys.argv[1])
w = gguf.GGUFWriter(sys.argv[2], arch="imatrix")
for f in r.fields.values():
    if f.name.startswith("GGUF.") or f.name == "general.architecture":
        continue
    v = f.contents()
    if isinstance(v, str):
        w.add_string(f.name, v)
    elif isinstance(v, list):
        w.add_array(f.name, v)
    elif isinstance(v, float):
        w.add_float32(f.name, v)
    else:
        w.add_uint32(f.name, v)
for t in r.tensors:
    if "ffn_down" not in t.name:
        w.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
PY
want="no importance for blk.0.ffn_down.weight"
fails "$tq" export "$tmp/f32.gguf" --format gguf --type iq2_xs \
    --imatrix "$tmp/part.imatrix" --out "$tmp/x.gguf" &&
! llama llama-quantize --imatrix "$tmp/part.imatrix" "$tmp/f32.gguf" \
    "$tmp/x.gguf" IQ2_XS 1 && grep -q "Missing importance matrix" "$tmp/l.log"
ok $? "an importance matrix lacking ffn_down: refused by both: $(cat "$tmp/err")"

# The preset through the quantize pipeline: llama-quantize's types.
"$tq" quantize "$tmp/f32.gguf" --preset iq2_xs --imatrix \
    --calib "$shared/wikitext2-valid.txt" --samples 8 --seqlen 128 \
    --out "$tmp/state" --export "gguf:$tmp/preset.gguf" >/dev/null \
    2>"$tmp/err" &&
llama llama-quantize --imatrix "$tmp/ours.imatrix" "$tmp/f32.gguf" \
    "$tmp/ref.gguf" IQ2_XS 1 &&
gguf_same "$tmp/preset.gguf" "$tmp/ref.gguf" types
ok $? "quantize --preset iq2_xs --imatrix: every tensor in llama-quantize's type" ||
    tail -n 3 "$tmp/err" | sed 's/^/# /'


# Every block linear on IQ2_S (the mixes keep some on other types).
"$tq" quantize "$tmp/f32.gguf" --method rtn --scheme iq2_s --imatrix \
    --calib "$shared/wikitext2-valid.txt" --samples 8 --seqlen 128 \
    --out "$tmp/s2" --export "gguf:$tmp/iq2_s_all-ours.gguf" >/dev/null \
    2>"$tmp/err"
ok $? "every block linear on iq2_s, exported" ||
    tail -n 3 "$tmp/err" | sed 's/^/# /'

for lt in iq2_xxs iq2_xs iq2_s iq2_m iq1_s iq1_m iq2_s_all; do
	same_ppl "$tmp/$lt-ours.gguf" $lt
done
echo "1..$n"
