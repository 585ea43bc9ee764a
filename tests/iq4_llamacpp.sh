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
: "${top_srcdir:=.}" "${top_builddir:=.}"
tq=$top_builddir/turboquant
shared=${TQ_SHARED_DATA:-$top_srcdir/../shared/data}
py=${TQ_PYTHON:-python3}
threads=2

. "$top_srcdir/tests/tap_lib.sh"
interop_only llama.cpp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
llamacpp_bin

demo_imatrices

for t in IQ4_XS IQ4_NL; do
	lt=$(echo $t | tr A-Z a-z)
	for im in none ours llama; do
		opt= lopt=
		if [ $im != none ]; then
			opt="--imatrix $tmp/$im.imatrix"
			lopt="--imatrix $tmp/$im.imatrix"
		fi
		"$tq" export "$tmp/f32.gguf" --format gguf --type $lt $opt \
		    --out "$tmp/$lt-$im.gguf" >/dev/null 2>"$tmp/err" &&
		llama llama-quantize $lopt "$tmp/f32.gguf" "$tmp/ref.gguf" $t 1 &&
		gguf_same "$tmp/$lt-$im.gguf" "$tmp/ref.gguf"
		ok $? "$t, importance matrix: $im: our export equals llama-quantize's byte for byte $(head -c 200 "$tmp/err")"
	done
done

for lt in iq4_xs iq4_nl; do
	same_ppl "$tmp/$lt-none.gguf" $lt
done
echo "1..$n"
