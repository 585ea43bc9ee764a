/*
 * quant_gguf_refine.c: a search for K-quant block parameters beyond
 * ggml's (a GGUF K-quant's clip_search).
 *
 * ggml fits each sub-block's scale (and min) on its own, then rounds them
 * onto the super-block's grid: small integer multiples of d (and dmin),
 * which it takes from their largest.  At 5 and 6 bits that rounding is
 * much of a block's error.  Starting from ggml's block, two exact steps
 * alternate, each lowering the block's weighted squared error
 * sum_i imp_i (x_i - x'_i)^2 (imp: the importance matrix, or 1):
 *   - each sub-block's integer scale (and min) chosen among its current
 *     ones, the two neighbours of its least-squares value for its levels,
 *     and the WINDOW scales on each side of those (each with the two mins
 *     nearest its own least-squares min), the levels rounded again for
 *     each candidate: a scale whose grid holds a heavily weighted value
 *     nearly exactly is often a few steps away from the fit;
 *   - d (and dmin) refit by least squares for the integer scales and the
 *     levels, rounded to fp16, and every level rounded again.
 * The lowest block seen is kept, so the result is never worse than
 * ggml's by that measure; it is not ggml's bytes (hence an option).
 * tq_gguf_refit_sub() runs the first step on one sub-block, for GPTQ,
 * whose updates move a block's later values after its scales are set.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "isa.h"
#include "quant_gguf.h"
#include "quant_gguf_blk.h"
#include "tensor.h"

#ifdef TQ_ISA_X86
#include <immintrin.h>
#endif
/* the vector terms must round as the scalar loop: no fused a*b+c */
#include "no_fma.h"

#define REFINE_ROUNDS 6		/* both steps; they settle in 2-4 */
#define MAX_SUB 16
#define WINDOW 8		/* scales tried on each side of the best fit */
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* A K-quant's sub-block layout: x' = d * sc * q - dmin * m, q in [lo, hi]. */
typedef struct kq_desc {
	tq_qtype type;
	int nsub, len;		/* sub-blocks, and their length */
	int sc_lo, sc_hi;	/* a sub-block's integer scale */
	int m_hi;		/* its integer min, in [0, m_hi]; 0: none */
	int lo, hi;		/* its levels (a code is q - lo) */
} kq_desc;

static const kq_desc descs[] = {
	{ TQ_QT_Q2_K, 16, 16, 0, 15, 15, 0, 3 },
	{ TQ_QT_Q3_K, 16, 16, -32, 31, 0, -4, 3 },
	{ TQ_QT_Q4_K, 8, 32, 0, 63, 63, 0, 15 },
	{ TQ_QT_Q5_K, 8, 32, 0, 63, 63, 0, 31 },
	{ TQ_QT_Q6_K, 16, 16, -128, 127, 0, -32, 31 },
};

static const kq_desc *
desc_of(tq_qtype t)
{
	size_t i;

	for (i = 0; i < sizeof(descs) / sizeof(descs[0]); i++)
		if (descs[i].type == t)
			return &descs[i];
	return NULL;
}

/* A block being refined. */
typedef struct kq_blk {
	float d, dm;			/* decoded fp16 (dm 0 without mins) */
	int sc[MAX_SUB], m[MAX_SUB];	/* [nsub] integer scales and mins */
	uint8_t L[TQ_QK_MAX];	/* [nsub * len] codes, q - lo */
	double err;			/* its weighted squared error */
} kq_blk;

static void
blk_get(const kq_desc *k, const gguf_hdr *h, kq_blk *b)
{
	int j;

	b->d = tq_f16_to_f32(h->d);
	b->dm = k->m_hi > 0 ? tq_f16_to_f32(h->dmin) : 0.0f;
	for (j = 0; j < k->nsub; j++) {
		uint8_t sc, m;

		switch (k->type) {
		case TQ_QT_Q2_K:
			b->sc[j] = h->scales[j] & 0xF;
			b->m[j] = h->scales[j] >> 4;
			break;
		case TQ_QT_Q3_K:
			b->sc[j] = tq_gguf__k3_get(h->scales, j);
			b->m[j] = 0;
			break;
		case TQ_QT_Q6_K:
			b->sc[j] = (int8_t)h->scales[j];
			b->m[j] = 0;
			break;
		default:
			tq_gguf__k4_get(h->scales, j, &sc, &m);
			b->sc[j] = sc;
			b->m[j] = m;
		}
	}
}

static void
blk_put(const kq_desc *k, const kq_blk *b, gguf_hdr *h)
{
	int j;

	h->d = tq_f32_to_f16(b->d);
	if (k->m_hi > 0)
		h->dmin = tq_f32_to_f16(b->dm);
	if (k->type != TQ_QT_Q2_K && k->type != TQ_QT_Q6_K)
		memset(h->scales, 0, 12);	/* packed: bits are or-ed in */
	for (j = 0; j < k->nsub; j++)
		switch (k->type) {
		case TQ_QT_Q2_K:
			h->scales[j] = (uint8_t)(b->sc[j] | b->m[j] << 4);
			break;
		case TQ_QT_Q3_K:
			tq_gguf__k3_put(h->scales, j, b->sc[j] + 32);
			break;
		case TQ_QT_Q6_K:
			h->scales[j] = (uint8_t)(int8_t)b->sc[j];
			break;
		default:
			tq_gguf__k4_put(h->scales, j, (uint8_t)b->sc[j],
			    (uint8_t)b->m[j]);
		}
}

static int
clampi(double v, int lo, int hi)
{
	return !(v >= lo) ? lo : v > hi ? hi : (int)v;	/* NaN: lo */
}

/*
 * The terms of a sub-block's rounding, in vectors: for x[n] (n a multiple
 * of 8, at most 32) on the grid s * q + off (s != 0), each code q[i] and
 * term t[i] = w_i (x_i - (s q_i + off))^2 computed by the same IEEE
 * operations as sub_round_below's loop (so the same values), and their sum
 * in the vectors' order, which is returned: it differs from the loop's
 * ordered sum by a few units in the last place and serves only to tell a
 * candidate that clearly loses.  AVX2 on the AVX-512 path too (every such
 * CPU has it): 16-lane vectors measured no faster on these short blocks.
 */
#ifdef TQ_ISA_X86
__attribute__((target("avx2"))) static double
sub_terms_avx2(const float *x, const float *w, int n, float s, float off,
    int lo, int hi, double *t, int32_t *q)
{
	const __m256 sv = _mm256_set1_ps(s), ov = _mm256_set1_ps(off);
	const __m256 lov = _mm256_set1_ps((float)lo);
	const __m256 hiv = _mm256_set1_ps((float)hi);
	const __m256 magic = _mm256_set1_ps(12582912.f);
	__m256d acc = _mm256_setzero_pd();
	double sum[4];
	int i, h;

	for (i = 0; i < n; i += 8) {
		__m256 xv = _mm256_loadu_ps(x + i);
		__m256 wv = w != NULL ? _mm256_loadu_ps(w + i) :
		    _mm256_set1_ps(1.0f);
		__m256 v = _mm256_div_ps(_mm256_sub_ps(xv, ov), sv);
		__m256i qi;
		__m256 y;

		/* v < lo ? lo : v > hi ? hi : v, NaN kept as the loop keeps it */
		v = _mm256_blendv_ps(v, lov, _mm256_cmp_ps(v, lov,
		    _CMP_LT_OQ));
		v = _mm256_blendv_ps(v, hiv, _mm256_cmp_ps(v, hiv,
		    _CMP_GT_OQ));
		/* tq_round_even: through the mantissa of v + 1.5 * 2^23 */
		qi = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(
		    _mm256_add_ps(v, magic)), _mm256_set1_epi32(0x007fffff)),
		    _mm256_set1_epi32(0x00400000));
		y = _mm256_add_ps(_mm256_mul_ps(sv, _mm256_cvtepi32_ps(qi)),
		    ov);
		_mm256_storeu_si256((__m256i *)(void *)(q + i), qi);
		for (h = 0; h < 2; h++) {	/* 4 doubles at a time */
			__m128 xh = h == 0 ? _mm256_castps256_ps128(xv) :
			    _mm256_extractf128_ps(xv, 1);
			__m128 yh = h == 0 ? _mm256_castps256_ps128(y) :
			    _mm256_extractf128_ps(y, 1);
			__m128 wh = h == 0 ? _mm256_castps256_ps128(wv) :
			    _mm256_extractf128_ps(wv, 1);
			__m256d r = _mm256_sub_pd(_mm256_cvtps_pd(xh),
			    _mm256_cvtps_pd(yh));
			__m256d tv = _mm256_mul_pd(_mm256_mul_pd(
			    _mm256_cvtps_pd(wh), r), r);

			_mm256_storeu_pd(t + i + 4 * h, tv);
			acc = _mm256_add_pd(acc, tv);
		}
	}
	_mm256_storeu_pd(sum, acc);
	return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}
#endif /* TQ_ISA_X86 */

/*
 * Sub-block x[n] on the grid s * q + off, q in [lo, hi]: the codes rounded
 * to nearest into out as the grid rounds them (left as Lin when s is 0),
 * and the weighted squared error, its terms added in order.  A candidate
 * search passes the best error so far as bound: a candidate whose error
 * passes it has lost, and some sum above bound is returned (out partly
 * written).  Where the CPU has vectors, the terms come from them and a sum
 * clearly above bound (by far more than the orders' difference) ends the
 * candidate; the result is the same on every path.
 */
static double
sub_round_below(const float *x, const float *w, int n, float s, float off,
    int lo, int hi, const uint8_t *Lin, uint8_t *out, double bound)
{
	double e = 0.0;
	int i;

#ifdef TQ_ISA_X86
	/* the AVX2 and AVX-512 paths */
	if (s != 0.0f && n % 8 == 0 && n <= 32 &&
	    tq_isa() != TQ_ISA_PORTABLE) {
		double t[32];
		int32_t q[32];

		if (sub_terms_avx2(x, w, n, s, off, lo, hi, t, q) >
		    bound * (1.0 + 1e-9))
			return HUGE_VAL;
		for (i = 0; i < n; i++) {
			out[i] = (uint8_t)(q[i] - lo);
			e += t[i];
		}
		return e;
	}
#endif
	for (i = 0; i < n && e <= bound; i++) {
		float v = s != 0.0f ? (x[i] - off) / s : 0.0f;
		int q;
		double r;

		v = v < (float)lo ? (float)lo : v > (float)hi ? (float)hi : v;
		q = s != 0.0f ? tq_round_even(v) : (int)Lin[i] + lo;
		r = (double)x[i] - (double)(s * (float)q + off);
		out[i] = (uint8_t)(q - lo);
		e += (w != NULL ? w[i] : 1.0f) * r * r;
	}
	return e;
}

static double
sub_round(const float *x, const float *w, int n, float s, float off, int lo,
    int hi, const uint8_t *Lin, uint8_t *out)
{
	return sub_round_below(x, w, n, s, off, lo, hi, Lin, out, HUGE_VAL);
}

/* Sub-block j's grid: scale and offset. */
static float
sub_scale(const kq_blk *b, int sc)
{
	return b->d * (float)sc;
}

static float
sub_off(const kq_blk *b, int m)
{
	return -(b->dm * (float)m);
}

/* The block's error with its codes as they are. */
static double
blk_err(const kq_desc *k, const float *x, const float *w, const kq_blk *b)
{
	double e = 0.0;
	int j, i;

	for (j = 0; j < k->nsub; j++) {
		float s = sub_scale(b, b->sc[j]), off = sub_off(b, b->m[j]);

		for (i = 0; i < k->len; i++) {
			int o = j * k->len + i;
			double r = (double)x[o] - (double)(s *
			    (float)((int)b->L[o] + k->lo) + off);

			e += (w != NULL ? w[o] : 1.0f) * r * r;
		}
	}
	return e;
}

/* Every code rounded again for the block's scales; its error. */
static void
blk_round(const kq_desc *k, const float *x, const float *w, kq_blk *b)
{
	uint8_t tmp[32];
	int j, n = k->len;

	b->err = 0.0;
	for (j = 0; j < k->nsub; j++) {
		b->err += sub_round(x + j * n, w != NULL ? w + j * n : NULL, n,
		    sub_scale(b, b->sc[j]), sub_off(b, b->m[j]), k->lo, k->hi,
		    b->L + j * n, tmp);
		memcpy(b->L + j * n, tmp, (size_t)n);
	}
}

/*
 * Was scale sc with min m tried already (tried[n]: scale, min)?  A pair's
 * error is a function of the pair while its scale is not 0, so a second
 * try can never beat the first (a win needs e < best, and best only
 * falls): skipping it leaves the result as it was.  A grid of scale 0
 * rounds to the codes as they are, which change: never skipped.
 */
static int
tried_before(const kq_blk *b, int (*tried)[2], int n, int sc, int m)
{
	int i;

	if (sub_scale(b, sc) == 0.0f)
		return 0;
	for (i = 0; i < n; i++)
		if (tried[i][0] == sc && tried[i][1] == m)
			return 1;
	return 0;
}

/*
 * Sub-block j's scale and min among its current ones, the neighbours of
 * their least-squares values for its codes Lj, and the window of scales
 * around those (the codes rounded again for each); Lj becomes the best
 * one's codes.  Returns its error.
 */
static double
sub_fit(const kq_desc *k, const float *xj, const float *wj, kq_blk *b, int j,
    uint8_t *Lj)
{
	uint8_t tmp[32];
	int i, a, c, n = k->len;
	double sw = 0, sl = 0, sll = 0, sx = 0, sxl = 0, best, s, t;
	int cs[3], cm[3], bs = b->sc[j], bm = b->m[j];
	int tried[10][2], ntried = 1;

	for (i = 0; i < n; i++) {
		double wi = wj != NULL ? wj[i] : 1.0;
		double l = (int)Lj[i] + k->lo;

		sw += wi;
		sl += wi * l;
		sll += wi * l * l;
		sx += wi * xj[i];
		sxl += wi * xj[i] * l;
	}
	cs[0] = cs[1] = cs[2] = bs;
	cm[0] = cm[1] = cm[2] = bm;
	if (k->m_hi > 0 && sw * sll - sl * sl > 0.0) {
		/* x ~ s q - t */
		s = (sw * sxl - sx * sl) / (sw * sll - sl * sl);
		t = (s * sl - sx) / sw;
		if (b->dm > 0.0f) {
			cm[1] = clampi(floor(t / b->dm), 0, k->m_hi);
			cm[2] = clampi(ceil(t / b->dm), 0, k->m_hi);
		}
	} else {
		s = sll > 0.0 ? sxl / sll : 0.0;
	}
	if (b->d != 0.0f && sll > 0.0) {
		cs[1] = clampi(floor(s / b->d), k->sc_lo, k->sc_hi);
		cs[2] = clampi(ceil(s / b->d), k->sc_lo, k->sc_hi);
	}
	best = sub_round(xj, wj, n, sub_scale(b, bs), sub_off(b, bm),
	    k->lo, k->hi, Lj, tmp);
	memcpy(Lj, tmp, (size_t)n);
	tried[0][0] = bs;
	tried[0][1] = bm;
	for (a = 0; a < 3; a++)
		for (c = 0; c < 3; c++) {
			double e;

			if (tried_before(b, tried, ntried, cs[a], cm[c]))
				continue;
			tried[ntried][0] = cs[a];
			tried[ntried++][1] = cm[c];
			e = sub_round_below(xj, wj, n,
			    sub_scale(b, cs[a]), sub_off(b, cm[c]),
			    k->lo, k->hi, Lj, tmp, best);

			if (e < best) {
				best = e;
				bs = cs[a];
				bm = cm[c];
				memcpy(Lj, tmp, (size_t)n);
			}
		}
	/* the window of scales around the fit, each with its nearest mins */
	if (b->d != 0.0f && sll > 0.0) {
		int c0 = clampi(floor(s / b->d) - WINDOW, k->sc_lo, k->sc_hi);
		int c1 = clampi(ceil(s / b->d) + WINDOW, k->sc_lo, k->sc_hi);

		for (a = c0; a <= c1; a++) {
			/* with a min: the two nearest to its best for scale a */
			double ta = (b->d * (double)a * sl - sx) / sw;
			int m0 = k->m_hi > 0 && b->dm > 0.0f ?
			    clampi(floor(ta / b->dm), 0, k->m_hi) : 0;

			for (c = m0; c <= (k->m_hi > 0 && b->dm > 0.0f ?
			    MIN(m0 + 1, k->m_hi) : m0); c++) {
				double e;

				if (tried_before(b, tried, ntried, a, c))
					continue;
				e = sub_round_below(xj, wj, n,
				    sub_scale(b, a), sub_off(b, c), k->lo,
				    k->hi, Lj, tmp, best);

				if (e < best) {
					best = e;
					bs = a;
					bm = c;
					memcpy(Lj, tmp, (size_t)n);
				}
			}
		}
	}
	b->sc[j] = bs;
	b->m[j] = bm;
	return best;
}

/* Each sub-block's scale and min among its current ones and neighbours. */
static void
sub_step(const kq_desc *k, const float *x, const float *w, kq_blk *b)
{
	int j, n = k->len;

	b->err = 0.0;
	for (j = 0; j < k->nsub; j++)
		b->err += sub_fit(k, x + j * n, w != NULL ? w + j * n : NULL, b,
		    j, b->L + j * n);
}

/* d (and dmin) by least squares for the integer scales and the codes. */
static void
super_step(const kq_desc *k, const float *x, const float *w, kq_blk *b)
{
	double A = 0, B = 0, C = 0, X1 = 0, X2 = 0, det, d, dm = 0.0;
	int j, i;

	for (j = 0; j < k->nsub; j++)
		for (i = 0; i < k->len; i++) {
			int o = j * k->len + i;
			double wi = w != NULL ? w[o] : 1.0;
			double a = (double)b->sc[j] * ((int)b->L[o] + k->lo);
			double c = b->m[j];

			A += wi * a * a;
			B += wi * a * c;
			C += wi * c * c;
			X1 += wi * x[o] * a;
			X2 += wi * x[o] * c;
		}
	if (!(A > 0.0))
		return;
	/* minimise sum w (x - d a + dm c)^2 */
	det = B * B - A * C;
	d = X1 / A;
	if (k->m_hi > 0 && det != 0.0) {
		dm = (A * X2 - B * X1) / det;
		d = (B * X2 - C * X1) / det;
		if (dm < 0.0) {
			dm = 0.0;
			d = X1 / A;
		}
	}
	/* the types with mins keep d > 0: their scales are unsigned */
	if (!isfinite(d) || !isfinite(dm) || d == 0.0 ||
	    (k->m_hi > 0 && d < 0.0))
		return;
	b->d = tq_f16_to_f32(tq_f32_to_f16((float)d));
	b->dm = tq_f16_to_f32(tq_f32_to_f16((float)dm));
}

int
tq_gguf_refinable(tq_qtype t)
{
	return desc_of(t) != NULL;
}

void
tq_gguf_refine(tq_qtype t, const float *x, const float *imp, tq_qparams *p,
    uint8_t *codes)
{
	const kq_desc *k = desc_of(t);
	kq_blk cur, best;
	gguf_hdr h;
	double err0;
	int r, n;

	if (k == NULL)
		return;
	n = k->nsub * k->len;
	memcpy(&h, p->raw, sizeof(h));
	blk_get(k, &h, &cur);
	if (cur.d == 0.0f)
		return;	/* ggml's all-zero block */
	memcpy(cur.L, codes, (size_t)n);
	cur.err = err0 = blk_err(k, x, imp, &cur);
	best = cur;
	for (r = 0; r < REFINE_ROUNDS; r++) {
		double before = best.err;

		sub_step(k, x, imp, &cur);
		if (cur.err < best.err)
			best = cur;
		super_step(k, x, imp, &cur);
		blk_round(k, x, imp, &cur);
		if (cur.err < best.err)
			best = cur;
		if (!(best.err < before))
			break;
	}
	if (!(best.err < err0))
		return;	/* ggml's block, its bytes untouched */
	blk_put(k, &best, &h);
	memcpy(p->raw, &h, sizeof(h));
	memcpy(codes, best.L, (size_t)n);
}

void
tq_gguf_refit_sub(tq_qtype t, const float *x, const float *imp, int64_t j,
    tq_qparams *p)
{
	const kq_desc *k = desc_of(t);
	uint8_t L[32];
	kq_blk b;
	gguf_hdr h;
	int sj;

	if (k == NULL)
		return;
	sj = (int)(j / k->len);
	memcpy(&h, p->raw, sizeof(h));
	blk_get(k, &h, &b);
	if (b.d == 0.0f)
		return;
	/* the codes the sub-block's current grid gives x */
	memset(L, 0, sizeof(L));
	sub_round(x, imp, k->len, sub_scale(&b, b.sc[sj]),
	    sub_off(&b, b.m[sj]), k->lo, k->hi, L, L);
	sub_fit(k, x, imp, &b, sj, L);
	blk_put(k, &b, &h);
	memcpy(p->raw, &h, sizeof(h));
}
