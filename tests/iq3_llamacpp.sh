#!/bin/sh
# iq3_llamacpp.sh: the IQ3 presets (llama.cpp's IQ3_XXS, IQ3_XS, IQ3_S and
# IQ3_M mixes) against llama-quantize and llama-perplexity (the pinned
# build of tools/build-llamacpp.sh), on the demo model exported as an F32
# GGUF:
#   - `export --type iq3_s` / `iq3_m` equals `llama-quantize SRC OUT IQ3_S`
#     / `IQ3_M` byte for byte, every tensor's type and data, without an
#     importance matrix and with the same one (ours, and llama-imatrix's);
#   - IQ3_XS and IQ3_XXS put tensors on IQ3_XXS (and IQ3_XXS on IQ2_S),
#     which llama-quantize refuses to write without an importance matrix:
#     both tools refuse them without one; with one, `--type iq3_xs` and
#     `iq3_xxs` equal llama-quantize's byte for byte; an importance matrix
#     that lacks one of those tensors is refused by both;
#   - llama-perplexity of our exports equals our `eval --protocol llamacpp`
#     of the same file within 0.05% (inputs rounded to Q8_K, ggml-cpu's
#     vec_dot_type for IQ3_XXS and IQ3_S).
# Runs only with TQ_INTEROP=1 (a missing llama.cpp build then fails).  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
threads=2
llamacpp_only
demo_imatrices

for t in IQ3_S IQ3_M IQ3_XS IQ3_XXS; do
	for im in none ours llama; do
		if [ $im = none ] && { [ $t = IQ3_XS ] || [ $t = IQ3_XXS ]; }; then
			both_quantize $t $im
			[ $rc = 1 ] && [ $lrc != 0 ] &&
			    grep -q "requires an importance matrix" "$tmp/l.log" &&
			    grep -q "only with an importance matrix" "$tmp/err"
			ok $? "$t without an importance matrix: refused by both, ours: $(head -c 200 "$tmp/err")"
		else
			same_as_llama $t $im
		fi
	done
done

# Our importance matrix less blk.1.attn_q (IQ3_XXS under IQ3_XS).
"$py" - "$tmp/ours.imatrix" "$tmp/part.imatrix" blk.1.attn_q.weight <<'PY'
import sys
import numpy as np
import gguf
src, dst, drop = sys.argv[1:4]
r = gguf.GGUFReader(src)
w = gguf.GGUFWriter(dst, "llama")
w.add_string("general.type", "imatrix")
w.add_array("imatrix.datasets", ["part"])
for k in ("imatrix.chunk_count", "imatrix.chunk_size"):
    w.add_uint32(k, int(r.fields[k].parts[-1][0]))
for t in r.tensors:
    if not t.name.startswith(drop + "."):
        w.add_tensor(t.name, np.array(t.data, dtype=np.float32))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
PY
"$tq" export "$tmp/f32.gguf" --format gguf --type iq3_xs \
    --imatrix "$tmp/part.imatrix" --out "$tmp/part.gguf" >/dev/null 2>"$tmp/err"
rc=$?
llama llama-quantize --imatrix "$tmp/part.imatrix" "$tmp/f32.gguf" \
    "$tmp/ref.gguf" IQ3_XS 1
lrc=$?
[ $rc = 1 ] && [ $lrc != 0 ] && [ ! -e "$tmp/part.gguf" ] &&
    grep -q "Missing importance matrix for tensor blk.1.attn_q.weight" \
    "$tmp/l.log" &&
    grep -q "no importance for blk.1.attn_q.weight, and llama-quantize quantizes iq3_xxs only with it" \
    "$tmp/err"
ok $? "IQ3_XS with an importance matrix lacking blk.1.attn_q: refused by both, ours: $(head -c 200 "$tmp/err")"

for f in iq3_s-none iq3_m-llama iq3_xs-ours; do
	same_ppl "$tmp/$f.gguf" $f
done
echo "1..$n"
