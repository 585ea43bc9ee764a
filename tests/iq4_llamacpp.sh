#!/bin/sh
# iq4_llamacpp.sh: the IQ4_XS and IQ4_NL presets against llama-quantize and
# llama-perplexity (the pinned build of tools/build-llamacpp.sh), on the
# demo model exported as an F32 GGUF:
#   - `export --type iq4_xs` / `iq4_nl` equals `llama-quantize SRC OUT
#     IQ4_XS` / `IQ4_NL` byte for byte, every tensor's type and data;
#   - so does `export --imatrix F` against `llama-quantize --imatrix F`,
#     with F our `calibrate --imatrix` and with F llama-imatrix's;
#   - llama-perplexity of our export equals our `eval --protocol llamacpp`
#     of the same file within 0.05% (inputs rounded to Q8_K for IQ4_XS,
#     Q8_0 for IQ4_NL, as ggml-cpu's vec_dot_type).
# Runs only with TQ_INTEROP=1 (a missing llama.cpp build then fails).  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
threads=2
llamacpp_only
demo_imatrices

for t in IQ4_XS IQ4_NL; do
	for im in none ours llama; do
		same_as_llama $t $im
	done
done

for lt in iq4_xs iq4_nl; do
	same_ppl "$tmp/$lt-none.gguf" $lt
done
echo "1..$n"
