/*
 * vexp.c: Cephes' expf in fused multiply-adds, on vectors (vexp.h).
 *
 * Each path does, per element and in this order: the range checks on x,
 * n = round-to-nearest-even(x * log2 e), r = fma(n, -C1, x), r = fma(n,
 * -C2, r), p = Horner over P0..P5 by fma, y = fma(p, r * r, r) + 1, then y
 * times 2^(n >> 1) times 2^(n - (n >> 1)) (two factors so that n from -150
 * to 128 needs no out-of-range exponent).  Only correctly rounded
 * operations, so the paths agree bit for bit.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "isa.h"
#include "vexp.h"

#ifdef TQ_ISA_X86
#include <immintrin.h>
#endif

#define VX_LOG2E 1.44269504088896341f
#define VX_C1 0.693359375f		/* ln 2 = C1 + C2, C1 exact in 9 bits */
#define VX_C2 (-2.12194440e-4f)
#define VX_P0 1.9875691500e-4f
#define VX_P1 1.3981999507e-3f
#define VX_P2 8.3334519073e-3f
#define VX_P3 4.1665795894e-2f
#define VX_P4 1.6666665459e-1f
#define VX_P5 5.0000001201e-1f
#define VX_HI 88.72283935546875f	/* above: +inf */
#define VX_LO (-104.0f)			/* below: 0 */

static float
vx_pow2(int32_t e)
{
	uint32_t bits = (uint32_t)(e + 127) << 23;
	float f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

float
tq_vexp1(float x)
{
	float n, r, p;
	int32_t e;

	if (x != x)
		return x;
	if (x > VX_HI)
		return INFINITY;
	if (x < VX_LO)
		return 0.0f;
	n = nearbyintf(x * VX_LOG2E);
	r = fmaf(n, -VX_C1, x);
	r = fmaf(n, -VX_C2, r);
	p = fmaf(VX_P0, r, VX_P1);
	p = fmaf(p, r, VX_P2);
	p = fmaf(p, r, VX_P3);
	p = fmaf(p, r, VX_P4);
	p = fmaf(p, r, VX_P5);
	p = fmaf(p, r * r, r) + 1.0f;
	e = (int32_t)n;
	return p * vx_pow2(e >> 1) * vx_pow2(e - (e >> 1));
}

static float
vx_silu1(float g, float up)
{
	return g / (1.0f + tq_vexp1(-g)) * up;
}

#ifdef TQ_ISA_X86
__attribute__((target("avx512f"))) static inline __m512
vx_exp16(__m512 x)
{
	__m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(VX_LO)),
	    _mm512_set1_ps(VX_HI));
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc,
	    _mm512_set1_ps(VX_LOG2E)), _MM_FROUND_TO_NEAREST_INT |
	    _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-VX_C1), xc);
	__m512 p;
	__m512i e = _mm512_cvttps_epi32(n), e1 = _mm512_srai_epi32(e, 1);
	__m512i b127 = _mm512_set1_epi32(127);

	r = _mm512_fmadd_ps(n, _mm512_set1_ps(-VX_C2), r);
	p = _mm512_fmadd_ps(_mm512_set1_ps(VX_P0), r, _mm512_set1_ps(VX_P1));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VX_P2));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VX_P3));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VX_P4));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VX_P5));
	p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r),
	    _mm512_set1_ps(1.0f));
	p = _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(
	    _mm512_add_epi32(e1, b127), 23)));
	p = _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(
	    _mm512_add_epi32(_mm512_sub_epi32(e, e1), b127), 23)));
	/* the range checks, in tq_vexp1's order of precedence */
	p = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(VX_LO),
	    _CMP_LT_OQ), p, _mm512_setzero_ps());
	p = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(VX_HI),
	    _CMP_GT_OQ), p, _mm512_set1_ps(INFINITY));
	return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q),
	    p, x);
}

__attribute__((target("avx2,fma"))) static inline __m256
vx_exp8(__m256 x)
{
	__m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(VX_LO)),
	    _mm256_set1_ps(VX_HI));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(xc,
	    _mm256_set1_ps(VX_LOG2E)), _MM_FROUND_TO_NEAREST_INT |
	    _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-VX_C1), xc);
	__m256 p;
	__m256i e = _mm256_cvttps_epi32(n), e1 = _mm256_srai_epi32(e, 1);
	__m256i b127 = _mm256_set1_epi32(127);

	r = _mm256_fmadd_ps(n, _mm256_set1_ps(-VX_C2), r);
	p = _mm256_fmadd_ps(_mm256_set1_ps(VX_P0), r, _mm256_set1_ps(VX_P1));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VX_P2));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VX_P3));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VX_P4));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VX_P5));
	p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r),
	    _mm256_set1_ps(1.0f));
	p = _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(
	    _mm256_add_epi32(e1, b127), 23)));
	p = _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(
	    _mm256_add_epi32(_mm256_sub_epi32(e, e1), b127), 23)));
	p = _mm256_blendv_ps(p, _mm256_setzero_ps(), _mm256_cmp_ps(x,
	    _mm256_set1_ps(VX_LO), _CMP_LT_OQ));
	p = _mm256_blendv_ps(p, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x,
	    _mm256_set1_ps(VX_HI), _CMP_GT_OQ));
	return _mm256_blendv_ps(p, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

__attribute__((target("avx512f"))) static int64_t
vx_shift_avx512(float *x, int64_t n, float shift)
{
	int64_t i;

	for (i = 0; i + 16 <= n; i += 16)
		_mm512_storeu_ps(x + i, vx_exp16(_mm512_sub_ps(
		    _mm512_loadu_ps(x + i), _mm512_set1_ps(shift))));
	return i;
}

__attribute__((target("avx2,fma"))) static int64_t
vx_shift_avx2(float *x, int64_t n, float shift)
{
	int64_t i;

	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, vx_exp8(_mm256_sub_ps(
		    _mm256_loadu_ps(x + i), _mm256_set1_ps(shift))));
	return i;
}

__attribute__((target("avx512f"))) static int64_t
vx_silu_avx512(float *g, const float *up, int64_t n)
{
	int64_t i;

	for (i = 0; i + 16 <= n; i += 16) {
		__m512 x = _mm512_loadu_ps(g + i);
		__m512 neg = _mm512_castsi512_ps(_mm512_xor_si512(
		    _mm512_castps_si512(x), _mm512_set1_epi32(INT32_MIN)));
		__m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), vx_exp16(neg));

		_mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_div_ps(x, d),
		    _mm512_loadu_ps(up + i)));
	}
	return i;
}

__attribute__((target("avx2,fma"))) static int64_t
vx_silu_avx2(float *g, const float *up, int64_t n)
{
	int64_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		__m256 x = _mm256_loadu_ps(g + i);
		__m256 neg = _mm256_xor_ps(x, _mm256_set1_ps(-0.0f));
		__m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), vx_exp8(neg));

		_mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, d),
		    _mm256_loadu_ps(up + i)));
	}
	return i;
}
#endif /* TQ_ISA_X86 */

void
tq_vexp_shift(float *x, int64_t n, float shift)
{
	int64_t i = 0;

#ifdef TQ_ISA_X86
	switch (tq_isa()) {
	case TQ_ISA_AVX512:
		i = vx_shift_avx512(x, n, shift);
		break;
	case TQ_ISA_AVX2:
		i = vx_shift_avx2(x, n, shift);
		break;
	case TQ_ISA_PORTABLE:
		break;
	}
#endif
	for (; i < n; i++)
		x[i] = tq_vexp1(x[i] - shift);
}

void
tq_vsilu_mul(float *g, const float *up, int64_t n)
{
	int64_t i = 0;

#ifdef TQ_ISA_X86
	switch (tq_isa()) {
	case TQ_ISA_AVX512:
		i = vx_silu_avx512(g, up, n);
		break;
	case TQ_ISA_AVX2:
		i = vx_silu_avx2(g, up, n);
		break;
	case TQ_ISA_PORTABLE:
		break;
	}
#endif
	for (; i < n; i++)
		g[i] = vx_silu1(g[i], up[i]);
}
