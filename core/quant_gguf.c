/*
 * quant_gguf.c: the GGUF block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K,
 * Q3_K, Q4_K, Q5_K and Q6_K: their parameter searches and grids, and the
 * table of types (gguf_types, ggml's type_traits) every entry point
 * dispatches through, IQ4_NL and IQ4_XS included (core/quant_iq4.c),
 * IQ3_XXS and IQ3_S (core/quant_iq3.c), IQ2_XXS, IQ2_XS and IQ2_S
 * (core/quant_iq2.c), IQ1_S and IQ1_M (core/quant_iq1.c).
 * The block layouts are core/quant_gguf_blk.c's.
 *
 * The searches reproduce ggml's reference quantizers (quantize_row_*_ref)
 * and, with an importance matrix, its quantize_row_*_impl ones, operation
 * for operation: the same float expressions in the same order, the same
 * round-half-to-even nearest_int, the same fp16 rounding of d and dmin,
 * and the same final requantization with the decoded values.  That is
 * what makes our blocks byte-identical to llama-quantize's; do not
 * "simplify" an expression here without checking the bytes again
 * (tests/quant_gguf.sh).
 */
#include "config.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "quant_gguf.h"
#include "quant_gguf_blk.h"
#include "quant_iq1.h"
#include "quant_iq2.h"
#include "quant_iq3.h"
#include "quant_iq4.h"
#include "tensor.h"

#include "no_fma.h"

#define GROUP_MAX_EPS 1e-15f	/* ggml's "all zero" threshold */

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static void
hdr_get(const tq_qparams *p, gguf_hdr *h)
{
	memcpy(h, p->raw, sizeof(*h));
}

static void
hdr_put(tq_qparams *p, const gguf_hdr *h)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->raw, h, sizeof(*h));
}

static float
f16(uint16_t h)
{
	return tq_f16_to_f32(h);
}

static uint16_t
to_f16(float f)
{
	return tq_f32_to_f16(f);
}


/*
 * The largest |x[i]| of x[n], and in *max that element with its sign (the
 * first of equals, 0 if all are 0), as ggml's searches find them.
 */
static float
abs_max(const float *x, int n, float *max)
{
	float amax = 0;
	int i;

	*max = 0;
	for (i = 0; i < n; i++) {
		float ax = fabsf(x[i]);

		if (ax > amax) {
			amax = ax;
			*max = x[i];
		}
	}
	return amax;
}

/* ---- ggml's scale searches ------------------------------------------ */

/*
 * The candidate scales of a search are evaluated side by side, one lane
 * per candidate: every lane sums over the elements in ggml's order, so the
 * sums are bit-identical to ggml's one-candidate-at-a-time loops, while
 * the compiler can vectorize across lanes (a constant lane count lets
 * GCC do so at -O2).  The best candidate is then picked in ggml's order.
 */
#if defined(__GNUC__)
#define LANES_INLINE static inline __attribute__((always_inline))
#else
#define LANES_INLINE static inline
#endif

#define QX_LANES 20	/* make_qx_quants: is = -9..9 without 0, padded */

/*
 * tq_round_even(v) clamped to [lo, hi] (integers), as a float.  Clamping
 * first gives the same level; plain selects let the lanes vectorize.
 */
static inline float
level(float v, float lo, float hi)
{
	v = v < lo ? lo : v;
	v = v > hi ? hi : v;
	return (v + 12582912.f) - 12582912.f;
}

/*
 * Symmetric levels l in [-nmax, nmax-1] for x[n] under weights w, scale
 * chosen among 19 candidates by weighted least squares (ggml's
 * make_qx_quants with rmse_type 1).  L gets l + nmax.
 */
static float
make_qx_quants(int n, int nmax, const float *x, int8_t *L, const float *w)
{
	float isc[QX_LANES], s_lx[QX_LANES], s_l2[QX_LANES];
	float max, iscale, sumlx, suml2, scale, best;
	const float lo = (float)-nmax, hi = (float)(nmax - 1);
	int i, k, l;

	if (abs_max(x, n, &max) < GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	iscale = -nmax / max;
	sumlx = suml2 = 0;
	for (i = 0; i < n; i++) {
		l = tq_round_even(iscale * x[i]);
		l = MAX(-nmax, MIN(nmax - 1, l));
		L[i] = (int8_t)(l + nmax);
		sumlx += w[i] * x[i] * l;
		suml2 += w[i] * l * l;
	}
	scale = suml2 ? sumlx / suml2 : 0.0f;
	best = scale * sumlx;

	/* lane k is ggml's is = k - 9, skipping 0 */
	for (k = 0; k < QX_LANES; k++) {
		int is = k < 9 ? k - 9 : k < 18 ? k - 8 : 1;

		isc[k] = -(nmax + 0.1f * is) / max;
		s_lx[k] = s_l2[k] = 0;
	}
	for (i = 0; i < n; i++) {
		const float wx = w[i] * x[i], wi = w[i], xi = x[i];

		for (k = 0; k < QX_LANES; k++) {
			float v = isc[k] * xi;
			float lf = level(v, lo, hi);

			s_lx[k] += wx * lf;
			s_l2[k] += wi * lf * lf;
		}
	}
	for (k = 0; k < 18; k++) {
		if (s_l2[k] > 0 && s_lx[k] * s_lx[k] > best * s_l2[k]) {
			for (i = 0; i < n; i++) {
				l = tq_round_even(isc[k] * x[i]);
				L[i] = (int8_t)(nmax + MAX(-nmax,
				    MIN(nmax - 1, l)));
			}
			scale = s_lx[k] / s_l2[k];
			best = scale * s_lx[k];
		}
	}
	return scale;
}

/*
 * Q3_K's reference search (make_q3_quants with do_rmse): x^2-weighted
 * levels in [-nmax, nmax-1] refined by coordinate descent.  L gets
 * l + nmax.
 */
static float
make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
	float max, iscale, sumlx = 0, suml2 = 0;
	int i, itry, l;

	if (abs_max(x, n, &max) < GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	iscale = -nmax / max;
	for (i = 0; i < n; i++) {
		float w = x[i] * x[i];

		l = tq_round_even(iscale * x[i]);
		l = MAX(-nmax, MIN(nmax - 1, l));
		L[i] = (int8_t)l;
		sumlx += w * x[i] * l;
		suml2 += w * l * l;
	}
	for (itry = 0; itry < 5; itry++) {
		int n_changed = 0;

		for (i = 0; i < n; i++) {
			float w = x[i] * x[i];
			float slx = sumlx - w * x[i] * L[i];

			if (slx > 0) {
				float sl2 = suml2 - w * L[i] * L[i];
				int new_l = tq_round_even(x[i] * sl2 / slx);

				new_l = MAX(-nmax, MIN(nmax - 1, new_l));
				if (new_l != L[i]) {
					slx += w * x[i] * new_l;
					sl2 += w * new_l * new_l;
					if (sl2 > 0 && slx * slx * suml2 >
					    sumlx * sumlx * sl2) {
						L[i] = (int8_t)new_l;
						sumlx = slx;
						suml2 = sl2;
						n_changed++;
					}
				}
			}
		}
		if (!n_changed)
			break;
	}
	for (i = 0; i < n; i++)
		L[i] = (int8_t)(L[i] + nmax);
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

#define QKX_LANES 4	/* make_qkx_quants: candidates tried per pass */

/* Each lane's weighted error, absolute (use_mad) or squared. */
LANES_INLINE void
qkx_errors(int n, const float *x, const float *weights, float min,
    float top, const float *isc, const float *c_scale, const float *c_min,
    const int use_mad, float *c_err)
{
	int i, k;

	for (i = 0; i < n; i++) {
		const float w = weights[i], xi = x[i], xm = x[i] - min;

		for (k = 0; k < QKX_LANES; k++) {
			float v = isc[k] * xm;
			float lf = level(v, 0.0f, top);
			float diff = c_scale[k] * lf + c_min[k] - xi;

			c_err[k] += w * (use_mad ? fabsf(diff) : diff * diff);
		}
	}
}

/*
 * Asymmetric levels in [0, nmax]: x ~ scale * L - the_min, the range
 * [min(0, xmin), xmax] tried at nstep+1 widths with a weighted
 * least-squares (scale, min) for each (ggml's make_qkx2_quants, and
 * make_qkx3_quants, which differ only in defaults ggml never uses here).
 * use_mad scores by weighted absolute instead of squared error.
 *
 * In ggml a winning candidate replaces min, and the later candidates are
 * measured from the new min.  So the lanes here are speculative: a pass
 * evaluates QKX_LANES candidates from the current min, the first one that
 * beats the best so far (in ggml's order) is taken, and the next pass
 * starts right after it.
 */
static float
make_qkx_quants(int n, int nmax, const float *x, const float *weights,
    uint8_t *L, float *the_min, float rmin, float rdelta, int nstep,
    int use_mad)
{
	float isc[QKX_LANES], s_l[QKX_LANES], s_l2[QKX_LANES];
	float s_xl[QKX_LANES], c_scale[QKX_LANES], c_min[QKX_LANES];
	float c_err[QKX_LANES], c_d[QKX_LANES];
	float min = x[0], max = x[0];
	float sum_w = weights[0];
	float sum_x = sum_w * x[0];
	float iscale, scale, best_error = 0;
	const float top = (float)nmax;
	int i, k, l, is;

	for (i = 1; i < n; i++) {
		float w = weights[i];

		if (x[i] < min)
			min = x[i];
		if (x[i] > max)
			max = x[i];
		sum_w += w;
		sum_x += w * x[i];
	}
	if (min > 0)
		min = 0;
	if (max <= min) {
		memset(L, 0, (size_t)n);
		*the_min = -min;
		return 0.f;
	}
	iscale = nmax / (max - min);
	scale = 1 / iscale;
	for (i = 0; i < n; i++) {
		float diff;

		l = tq_round_even(iscale * (x[i] - min));
		L[i] = (uint8_t)MAX(0, MIN(nmax, l));
		diff = scale * L[i] + min - x[i];
		diff = use_mad ? fabsf(diff) : diff * diff;
		best_error += weights[i] * diff;
	}

	for (is = 0; is <= nstep;) {
		int won = -1;

		for (k = 0; k < QKX_LANES; k++) {
			isc[k] = (rmin + rdelta * (is + k) + nmax) /
			    (max - min);
			s_l[k] = s_l2[k] = s_xl[k] = c_err[k] = 0;
		}
		for (i = 0; i < n; i++) {
			const float w = weights[i], xi = x[i];
			const float xm = x[i] - min;

			for (k = 0; k < QKX_LANES; k++) {
				float v = isc[k] * xm;
				float lf = level(v, 0.0f, top);

				s_l[k] += w * lf;
				s_l2[k] += w * lf * lf;
				s_xl[k] += w * lf * xi;
			}
		}
		for (k = 0; k < QKX_LANES; k++) {
			float D = sum_w * s_l2[k] - s_l[k] * s_l[k];

			c_d[k] = D;
			c_scale[k] = c_min[k] = 0;
			if (D > 0) {
				c_scale[k] = (sum_w * s_xl[k] -
				    sum_x * s_l[k]) / D;
				c_min[k] = (s_l2[k] * sum_x -
				    s_l[k] * s_xl[k]) / D;
				if (c_min[k] > 0) {
					c_min[k] = 0;
					c_scale[k] = s_xl[k] / s_l2[k];
				}
			}
		}
		if (use_mad)
			qkx_errors(n, x, weights, min, top, isc, c_scale, c_min,
			    1, c_err);
		else
			qkx_errors(n, x, weights, min, top, isc, c_scale, c_min,
			    0, c_err);
		for (k = 0; k < QKX_LANES && is + k <= nstep; k++) {
			if (c_d[k] > 0 && c_err[k] < best_error) {
				won = k;
				break;
			}
		}
		if (won < 0) {
			is += QKX_LANES;
			continue;
		}
		for (i = 0; i < n; i++) {
			l = tq_round_even(isc[won] * (x[i] - min));
			L[i] = (uint8_t)MAX(0, MIN(nmax, l));
		}
		best_error = c_err[won];
		scale = c_scale[won];
		min = c_min[won];
		is += won + 1;
	}
	*the_min = -min;
	return scale;
}

/*
 * Non-negative levels in [0, nmax] for the sub-block scales (or mins) of a
 * super-block, weighted by the sub-blocks' total weight (ggml's
 * make_qp_quants).  Levels are uint8 as in ggml, wrap-around included.
 */
static float
make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *qw)
{
	float max = 0, iscale, scale, best_mse = 0, sumlx = 0, suml2 = 0;
	int i, is, itry, l;

	for (i = 0; i < n; i++)
		max = MAX(max, x[i]);
	if (max < GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	iscale = nmax / max;
	for (i = 0; i < n; i++)
		L[i] = (uint8_t)tq_round_even(iscale * x[i]);
	scale = 1 / iscale;
	for (i = 0; i < n; i++) {
		float diff = x[i] - scale * L[i];

		best_mse += qw[i] * diff * diff;
	}
	for (is = -4; is <= 4; is++) {
		float iscale_is, scale_is, mse = 0;

		if (is == 0)
			continue;
		iscale_is = (0.1f * is + nmax) / max;
		scale_is = 1 / iscale_is;
		for (i = 0; i < n; i++) {
			float diff;

			l = tq_round_even(iscale_is * x[i]);
			l = MIN(nmax, l);
			diff = x[i] - scale_is * l;
			mse += qw[i] * diff * diff;
		}
		if (mse < best_mse) {
			best_mse = mse;
			iscale = iscale_is;
		}
	}
	for (i = 0; i < n; i++) {
		l = tq_round_even(iscale * x[i]);
		l = MIN(nmax, l);
		L[i] = (uint8_t)l;
		sumlx += qw[i] * x[i] * l;
		suml2 += qw[i] * l * l;
	}
	for (itry = 0; itry < 5; itry++) {
		int n_changed = 0;

		for (i = 0; i < n; i++) {
			float w = qw[i];
			float slx = sumlx - w * x[i] * L[i];
			float sl2 = suml2 - w * L[i] * L[i];

			if (slx > 0 && sl2 > 0) {
				int new_l = tq_round_even(x[i] * sl2 / slx);

				new_l = MIN(nmax, new_l);
				if (new_l != L[i]) {
					slx += w * x[i] * new_l;
					sl2 += w * new_l * new_l;
					if (slx * slx * suml2 >
					    sumlx * sumlx * sl2) {
						L[i] = (uint8_t)new_l;
						sumlx = slx;
						suml2 = sl2;
						n_changed++;
					}
				}
			}
		}
		if (!n_changed)
			break;
	}
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float
tq_gguf__make_qp_quants(int n, int nmax, const float *x, uint8_t *L,
    const float *qw)
{
	return make_qp_quants(n, nmax, x, L, qw);
}

/* ---- What the lattice types (core/quant_iq*.c) share ---------------- */

uint8_t
tq_gguf__signs8(const float *x, const float *w, float *xval, int parity)
{
	uint8_t s = 0;
	int i, imin = 0;

	for (i = 0; i < 8; i++) {
		if (x[i] >= 0) {
			xval[i] = x[i];
		} else {
			xval[i] = -x[i];
			s |= (uint8_t)(1 << i);
		}
	}
	if (!parity || __builtin_popcount(s) % 2 == 0)
		return s;
	/* the sign of least w x^2 goes the other way */
	for (i = 1; i < 8; i++)
		if (w[i] * x[i] * x[i] < w[imin] * x[imin] * x[imin])
			imin = i;
	xval[imin] = -xval[imin];
	return s ^ (uint8_t)(1 << imin);
}

int
tq_gguf__odd_level(float id, float v, int max)
{
	int l = tq_round_even(0.5f * (id * v - 1));

	return MAX(0, MIN(max, l));
}

/* ---- Sub-block scale packing ---------------------------------------- */

/* Q4_K/Q5_K: sub-block j's 6-bit scale ls and min lm into scales[12]. */
static void
k4_put(uint8_t *s, int j, uint8_t ls, uint8_t lm)
{
	if (j < 4) {
		s[j] = ls;
		s[j + 4] = lm;
	} else {
		s[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
		s[j - 4] |= (uint8_t)((ls >> 4) << 6);
		s[j] |= (uint8_t)((lm >> 4) << 6);
	}
}

static void
k4_get(const uint8_t *s, int j, uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = s[j] & 63;
		*m = s[j + 4] & 63;
	} else {
		*sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
		*m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
	}
}

void
tq_gguf__k4_get(const uint8_t *s, int j, uint8_t *sc, uint8_t *m)
{
	k4_get(s, j, sc, m);
}

void
tq_gguf__k4_put(uint8_t *s, int j, uint8_t sc, uint8_t m)
{
	k4_put(s, j, sc, m);
}

/* Q3_K: sub-block j's 6-bit scale l (biased by 32) into scales[12]. */
static void
k3_put(uint8_t *s, int j, int l)
{
	if (j < 8)
		s[j] = (uint8_t)(l & 0xF);
	else
		s[j - 8] |= (uint8_t)((l & 0xF) << 4);
	l >>= 4;
	s[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
}

static int
k3_get(const uint8_t *s, int j)
{
	int8_t sc = (int8_t)(j < 8 ? s[j] & 0xF : s[j - 8] >> 4);

	sc = (int8_t)((sc | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) -
	    32);
	return sc;
}

void
tq_gguf__k3_put(uint8_t *s, int j, int l)
{
	k3_put(s, j, l);
}

int
tq_gguf__k3_get(const uint8_t *s, int j)
{
	return k3_get(s, j);
}

/* ---- The legacy 32-element types ------------------------------------ */

/* sum(x^2) in ggml's order. */
static float
sum_sq(const float *x, int64_t n)
{
	float sum_x2 = 0;
	int64_t j;

	for (j = 0; j < n; j++)
		sum_x2 += x[j] * x[j];
	return sum_x2;
}

float
tq_gguf__sum_sq(const float *x, int64_t n)
{
	return sum_sq(x, n);
}

/*
 * ggml's importance weights of the n elements x: qw * sqrt(sigma2 + x^2).
 * Returns their sum (the sub-block's weight in the K-quant scale search).
 */
static float
imp_weights(const float *x, const float *qw, float sigma2, int n, float *w)
{
	float sumw = 0;
	int l;

	for (l = 0; l < n; l++)
		w[l] = qw[l] * sqrtf(sigma2 + x[l] * x[l]);
	for (l = 0; l < n; l++)
		sumw += w[l];
	return sumw;
}

/*
 * ggml's last pass over a sub-block of n elements with decoded scale d
 * and min m (0 for the symmetric types: x + 0 differs from x only in the
 * sign of a zero, which rounds to the same level): the level clamped to
 * [lo, hi], stored minus lo.
 */
static void
requant(const float *x, int n, float d, float m, int lo, int hi,
    uint8_t *L)
{
	int l;

	for (l = 0; l < n; l++) {
		int q = tq_round_even((x[l] + m) / d);

		L[l] = (uint8_t)(MAX(lo, MIN(hi, q)) - lo);
	}
}

/* Q4_0 (nmax 8) and Q5_0 (nmax 16): x = d * (L - nmax). */
static void
quant_x_0(const float *x, const float *imp, float sigma2, int nmax,
    gguf_hdr *h, uint8_t *L)
{
	float max, d, id;
	int j;

	if (imp != NULL) {
		float w[QK_LEGACY];
		int8_t l8[QK_LEGACY];

		imp_weights(x, imp, sigma2, QK_LEGACY, w);
		d = make_qx_quants(QK_LEGACY, nmax, x, l8, w);
		h->d = to_f16(d);
		for (j = 0; j < QK_LEGACY; j++)
			L[j] = (uint8_t)l8[j];
		return;
	}
	abs_max(x, QK_LEGACY, &max);
	d = max / -nmax;
	id = d ? 1.0f / d : 0.0f;
	h->d = to_f16(d);
	for (j = 0; j < QK_LEGACY; j++) {
		/* truncation after + nmax + 0.5 is ggml's rounding here */
		int q = (int8_t)(x[j] * id + (nmax + 0.5f));

		L[j] = (uint8_t)MIN(2 * nmax - 1, q);
	}
}

/* Q4_1 (nmax 15) and Q5_1 (nmax 31): x = d * L + m. */
static void
quant_x_1(const float *x, const float *imp, float sigma2, int nmax,
    gguf_hdr *h, uint8_t *L)
{
	float min = FLT_MAX, max = -FLT_MAX, d, id;
	int j;

	if (imp != NULL) {
		float w[QK_LEGACY];
		float the_min;

		imp_weights(x, imp, sigma2, QK_LEGACY, w);
		d = make_qkx_quants(QK_LEGACY, nmax, x, w, L, &the_min,
		    -0.9f, 0.05f, 36, 0);
		h->d = to_f16(d);
		h->dmin = to_f16(-the_min);
		return;
	}
	for (j = 0; j < QK_LEGACY; j++) {
		if (x[j] < min)
			min = x[j];
		if (x[j] > max)
			max = x[j];
	}
	d = (max - min) / nmax;
	id = d ? 1.0f / d : 0.0f;
	h->d = to_f16(d);
	h->dmin = to_f16(min);
	for (j = 0; j < QK_LEGACY; j++) {
		float v = (x[j] - min) * id;

		if (nmax == 15)
			L[j] = (uint8_t)MIN(15, (int8_t)(v + 0.5f));
		else	/* ggml's Q5_1 does not clamp; 5 bits are kept */
			L[j] = (uint8_t)((uint8_t)(v + 0.5f) & 0x1f);
	}
}

static void
quant_q8_0(const float *x, const float *imp, float sigma2, int nmax,
    gguf_hdr *h, uint8_t *L)
{
	float amax = 0.0f, d, id;
	int j;

	(void)imp, (void)sigma2, (void)nmax;	/* ggml's Q8_0 has no _impl */

	for (j = 0; j < QK_LEGACY; j++)
		amax = MAX(amax, fabsf(x[j]));
	d = amax / ((1 << 7) - 1);
	id = d ? 1.0f / d : 0.0f;
	h->d = to_f16(d);
	for (j = 0; j < QK_LEGACY; j++)	/* roundf: ties away from zero */
		L[j] = (uint8_t)((int)roundf(x[j] * id) + 128);
}

/* ---- The K-quants --------------------------------------------------- */

static void
quant_q2_k(const float *x, const float *imp, float unused_s2, int nmax,
    gguf_hdr *h, uint8_t *L)
{
	float scales[QK_K / 16], mins[QK_K / 16], w[16];
	float dm, mm;
	int j, l;

	(void)unused_s2, (void)nmax;
	if (imp == NULL) {
		const float q4scale = 15.f;
		float max_scale = 0, max_min = 0;

		for (j = 0; j < QK_K / 16; j++) {
			for (l = 0; l < 16; l++)
				w[l] = fabsf(x[16 * j + l]);
			scales[j] = make_qkx_quants(16, 3, x + 16 * j, w,
			    L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
			if (scales[j] > max_scale)
				max_scale = scales[j];
			if (mins[j] > max_min)
				max_min = mins[j];
		}
		if (max_scale > 0) {
			float iscale = q4scale / max_scale;

			for (j = 0; j < QK_K / 16; j++)
				h->scales[j] = (uint8_t)tq_round_even(iscale *
				    scales[j]);
			h->d = to_f16(max_scale / q4scale);
		} else {
			memset(h->scales, 0, QK_K / 16);
			h->d = to_f16(0.f);
		}
		if (max_min > 0) {
			float iscale = q4scale / max_min;

			for (j = 0; j < QK_K / 16; j++)
				h->scales[j] |= (uint8_t)(tq_round_even(iscale *
				    mins[j]) << 4);
			h->dmin = to_f16(max_min / q4scale);
		} else {
			h->dmin = to_f16(0.f);
		}
	} else {
		float sw[QK_K / 16], sigma2 = sum_sq(x, QK_K) / QK_K;
		uint8_t Ls[QK_K / 16], Lm[QK_K / 16];

		for (j = 0; j < QK_K / 16; j++) {
			sw[j] = imp_weights(x + 16 * j, imp + 16 * j, sigma2,
			    16, w);
			scales[j] = make_qkx_quants(16, 3, x + 16 * j, w,
			    L + 16 * j, &mins[j], -0.9f, 0.05f, 36, 0);
		}
		dm = make_qp_quants(QK_K / 16, 15, scales, Ls, sw);
		mm = make_qp_quants(QK_K / 16, 15, mins, Lm, sw);
		h->d = to_f16(dm);
		h->dmin = to_f16(mm);
		for (j = 0; j < QK_K / 16; j++)
			h->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
	}
	dm = f16(h->d);
	mm = f16(h->dmin);
	for (j = 0; j < QK_K / 16; j++) {
		const float d = dm * (h->scales[j] & 0xF);

		if (d)
			requant(x + 16 * j, 16, d, mm * (h->scales[j] >> 4),
			    0, 3, L + 16 * j);
	}
}

static void
quant_q3_k(const float *x, const float *imp, float unused_s2, int nmax,
    gguf_hdr *h, uint8_t *L)
{
	float scales[QK_K / 16], d_all;
	int8_t l8[QK_K];
	int j;

	(void)unused_s2, (void)nmax;
	memset(h->scales, 0, sizeof(h->scales));
	if (imp == NULL) {
		float max_scale;

		for (j = 0; j < QK_K / 16; j++)
			scales[j] = make_q3_quants(16, 4, x + 16 * j,
			    l8 + 16 * j);
		abs_max(scales, QK_K / 16, &max_scale);
		if (max_scale) {
			float iscale = -32.f / max_scale;

			for (j = 0; j < QK_K / 16; j++) {
				int8_t q = (int8_t)tq_round_even(iscale *
				    scales[j]);

				k3_put(h->scales, j, MAX(-32, MIN(31, q)) + 32);
			}
			h->d = to_f16(1 / iscale);
		} else {
			h->d = to_f16(0.f);
		}
	} else {
		float w[16], sw[QK_K / 16], sigma2 = 2 * sum_sq(x, QK_K) / QK_K;
		int8_t Ls[QK_K / 16];

		for (j = 0; j < QK_K / 16; j++) {
			sw[j] = imp_weights(x + 16 * j, imp + 16 * j, sigma2,
			    16, w);
			scales[j] = make_qx_quants(16, 4, x + 16 * j,
			    l8 + 16 * j, w);
		}
		d_all = make_qx_quants(QK_K / 16, 32, scales, Ls, sw);
		for (j = 0; j < QK_K / 16; j++)
			k3_put(h->scales, j, Ls[j]);
		h->d = to_f16(d_all);
	}
	d_all = f16(h->d);
	for (j = 0; j < QK_K; j++)
		L[j] = (uint8_t)l8[j];
	for (j = 0; j < QK_K / 16; j++) {
		float d = d_all * k3_get(h->scales, j);

		if (d)
			requant(x + 16 * j, 16, d, 0.0f, -4, 3, L + 16 * j);
	}
}

/* Q4_K (nmax 15) and Q5_K (nmax 31). */
static void
quant_qx_k(const float *x, const float *imp, float unused_s2, int nmax,
    gguf_hdr *h, uint8_t *L)
{
	float scales[QK_K / 32], mins[QK_K / 32], w[32];
	float dd, dm;
	int j, l;

	(void)unused_s2;
	if (imp == NULL) {
		float max_scale = 0, max_min = 0, inv_scale, inv_min;

		for (j = 0; j < QK_K / 32; j++) {
			float sum_x2 = 0, av_x;

			for (l = 0; l < 32; l++)
				sum_x2 += x[32 * j + l] * x[32 * j + l];
			av_x = sqrtf(sum_x2 / 32);
			for (l = 0; l < 32; l++)
				w[l] = av_x + fabsf(x[32 * j + l]);
			if (nmax == 15)
				scales[j] = make_qkx_quants(32, 15, x + 32 * j,
				    w, L + 32 * j, &mins[j], -1.f, 0.1f,
				    20, 0);
			else
				scales[j] = make_qkx_quants(32, 31, x + 32 * j,
				    w, L + 32 * j, &mins[j], -0.5f, 0.1f,
				    15, 0);
			if (scales[j] > max_scale)
				max_scale = scales[j];
			if (mins[j] > max_min)
				max_min = mins[j];
		}
		inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
		inv_min = max_min > 0 ? 63.f / max_min : 0.f;
		for (j = 0; j < QK_K / 32; j++) {
			uint8_t ls, lm;

			ls = (uint8_t)tq_round_even(inv_scale * scales[j]);
			lm = (uint8_t)tq_round_even(inv_min * mins[j]);

			k4_put(h->scales, j, MIN(63, ls), MIN(63, lm));
		}
		h->d = to_f16(max_scale / 63.f);
		h->dmin = to_f16(max_min / 63.f);
	} else {
		float sw[QK_K / 32], sigma2 = 2 * sum_sq(x, QK_K) / QK_K;
		uint8_t Ls[QK_K / 32], Lm[QK_K / 32];

		for (j = 0; j < QK_K / 32; j++) {
			sw[j] = imp_weights(x + 32 * j, imp + 32 * j, sigma2,
			    32, w);
			scales[j] = make_qkx_quants(32, nmax, x + 32 * j, w,
			    L + 32 * j, &mins[j], -0.9f, 0.05f, 36, 0);
		}
		dd = make_qp_quants(QK_K / 32, 63, scales, Ls, sw);
		dm = make_qp_quants(QK_K / 32, 63, mins, Lm, sw);
		for (j = 0; j < QK_K / 32; j++) {
			/* ggml's Q5_K clamps here, its Q4_K does not */
			if (nmax == 31)
				k4_put(h->scales, j, MIN(63, Ls[j]),
				    MIN(63, Lm[j]));
			else
				k4_put(h->scales, j, Ls[j], Lm[j]);
		}
		h->d = to_f16(dd);
		h->dmin = to_f16(dm);
	}
	dd = f16(h->d);
	dm = f16(h->dmin);
	for (j = 0; j < QK_K / 32; j++) {
		uint8_t sc, m;
		float d;

		k4_get(h->scales, j, &sc, &m);
		d = dd * sc;
		if (d)
			requant(x + 32 * j, 32, d, dm * m, 0, nmax,
			    L + 32 * j);
	}
}

static void
quant_q6_k(const float *x, const float *imp, float unused_s2, int nmax,
    gguf_hdr *h, uint8_t *L)
{
	float scales[QK_K / 16], w[16];
	float max_scale, iscale, d_all;
	int8_t l8[QK_K];
	int j, l;

	(void)unused_s2, (void)nmax;
	for (j = 0; j < QK_K / 16; j++) {
		const float *qw = w;

		if (imp != NULL) {
			qw = imp + 16 * j;	/* Q6_K takes imp as is */
		} else {
			for (l = 0; l < 16; l++)
				w[l] = x[16 * j + l] * x[16 * j + l];
		}
		scales[j] = make_qx_quants(16, 32, x + 16 * j, l8 + 16 * j, qw);
	}
	if (abs_max(scales, QK_K / 16, &max_scale) < GROUP_MAX_EPS) {
		/* ggml writes an all-zero block */
		memset(h, 0, sizeof(*h));
		memset(L, 0, QK_K);
		return;
	}
	iscale = -128.f / max_scale;
	h->d = to_f16(1 / iscale);
	for (j = 0; j < QK_K / 16; j++)
		h->scales[j] = (uint8_t)(int8_t)MIN(127,
		    tq_round_even(iscale * scales[j]));
	d_all = f16(h->d);
	for (j = 0; j < QK_K; j++)
		L[j] = (uint8_t)l8[j];
	for (j = 0; j < QK_K / 16; j++) {
		float d = d_all * (int8_t)h->scales[j];

		if (d)
			requant(x + 16 * j, 16, d, 0.0f, -32, 31, L + 16 * j);
	}
}

/* ---- The types ------------------------------------------------------ */

/*
 * What tells the GGUF block types apart, one row a type as in ggml's
 * type_traits: the sizes, the search, the grid's scale and offset for a
 * column, and the block layout (core/quant_gguf_blk.c).  The layout
 * functions of a family (the legacy types, Q4_K/Q5_K) read has_min and
 * hbit for their variant.
 */
typedef struct gguf_traits {
	const char *name;	/* ggml's type name */
	int qk;			/* elements per block */
	int span;		/* elements per sub-block scale */
	size_t bytes;		/* of one block */
	int nmax;		/* the search's level parameter, or 0 */
	int qmin, qmax;		/* a column's levels, grid-relative */
	int has_min;		/* the block stores m or dmin */
	int hbit;		/* the bit kept apart from the low bits, or 0 */
	gguf_quant_fn *quantize;
	gguf_grid_fn *grid;
	void (*pack)(int has_min, int hbit, const gguf_hdr *h,
	    const uint8_t *L, uint8_t *out);
	void (*unpack)(int has_min, int hbit, const uint8_t *in, gguf_hdr *h,
	    uint8_t *L);
	/* lattice types: the first column off the lattice, or -1 */
	gguf_bad_fn *bad;
	/* lattice types: columns coded together, and their joint rounding */
	int group;
	gguf_round_fn *round_group;
} gguf_traits;

/* ---- Grids: a column's scale and offset ----------------------------- */

/* Q4_0, Q5_0, Q8_0: x = d * q. */
static void
grid_d(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	(void)j;
	g->scale = f16(h->d);
}

/* Q4_1, Q5_1: x = d * L + m. */
static void
grid_dm(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	(void)j;
	g->scale = f16(h->d);
	g->offset = f16(h->dmin);
}

static void
grid_q2_k(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	uint8_t sc = h->scales[j / 16];

	g->scale = f16(h->d) * (sc & 0xF);
	g->offset = -(f16(h->dmin) * (sc >> 4));
}

static void
grid_q3_k(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	g->scale = f16(h->d) * k3_get(h->scales, (int)(j / 16));
}

static void
grid_k45(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	uint8_t sc, m;

	k4_get(h->scales, (int)(j / 32), &sc, &m);
	g->scale = f16(h->d) * sc;
	g->offset = -(f16(h->dmin) * m);
}

static void
grid_q6_k(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	g->scale = f16(h->d) * (int8_t)h->scales[j / 16];
}

/* ---- The table ------------------------------------------------------ */

#define TYPE(name, qk, span, blk, nmax, qmin, qmax, min, hbit, quant, grid, \
    layout) \
	{ name, qk, span, sizeof(blk), nmax, qmin, qmax, min, hbit, quant, \
	  grid, tq_gguf__pack_##layout, tq_gguf__unpack_##layout, NULL, 1, \
	  NULL }
/*
 * A type whose codes lie on a lattice: bad() says where they do not, and
 * round() chooses `group` columns' codes together.
 */
#define LATTICE(name, qk, span, blk, qmin, qmax, quant, grid, layout, bad, \
    group, round) \
	{ name, qk, span, sizeof(blk), 0, qmin, qmax, 0, 0, quant, grid, \
	  tq_gguf__pack_##layout, tq_gguf__unpack_##layout, bad, group, round }

static const gguf_traits gguf_types[TQ_QT_COUNT] = {
	[TQ_QT_Q4_0] = TYPE("q4_0", QK_LEGACY, 32, blk_q4_0, 8, -8, 7, 0, 0,
	    quant_x_0, grid_d, legacy),
	[TQ_QT_Q4_1] = TYPE("q4_1", QK_LEGACY, 32, blk_q4_1, 15, 0, 15, 1, 0,
	    quant_x_1, grid_dm, legacy),
	[TQ_QT_Q5_0] = TYPE("q5_0", QK_LEGACY, 32, blk_q5_0, 16, -16, 15, 0, 4,
	    quant_x_0, grid_d, legacy),
	[TQ_QT_Q5_1] = TYPE("q5_1", QK_LEGACY, 32, blk_q5_1, 31, 0, 31, 1, 4,
	    quant_x_1, grid_dm, legacy),
	[TQ_QT_Q8_0] = TYPE("q8_0", QK_LEGACY, 32, blk_q8_0, 0, -128, 127, 0,
	    0, quant_q8_0, grid_d, q8_0),
	[TQ_QT_Q2_K] = TYPE("q2_K", QK_K, 16, blk_q2_k, 0, 0, 3, 1, 0,
	    quant_q2_k, grid_q2_k, q2_k),
	[TQ_QT_Q3_K] = TYPE("q3_K", QK_K, 16, blk_q3_k, 0, -4, 3, 0, 2,
	    quant_q3_k, grid_q3_k, q3_k),
	[TQ_QT_Q4_K] = TYPE("q4_K", QK_K, 32, blk_q4_k, 15, 0, 15, 1, 0,
	    quant_qx_k, grid_k45, k45),
	[TQ_QT_Q5_K] = TYPE("q5_K", QK_K, 32, blk_q5_k, 31, 0, 31, 1, 4,
	    quant_qx_k, grid_k45, k45),
	[TQ_QT_Q6_K] = TYPE("q6_K", QK_K, 16, blk_q6_k, 0, -32, 31, 0, 0,
	    quant_q6_k, grid_q6_k, q6_k),
	[TQ_QT_IQ4_NL] = TYPE("iq4_nl", QK_LEGACY, 32, blk_q4_0, 0, 0, 15, 0,
	    0, tq_iq4__quant_nl, tq_iq4__grid_nl, legacy),
	[TQ_QT_IQ4_XS] = TYPE("iq4_xs", QK_K, 32, blk_iq4_xs, 0, 0, 15, 0, 0,
	    tq_iq4__quant_xs, tq_iq4__grid_xs, iq4_xs),
	[TQ_QT_IQ3_XXS] = LATTICE("iq3_xxs", QK_K, 32, blk_iq3_xxs, 0, 15,
	    tq_iq3__quant_xxs, tq_iq3__grid_xxs, iq3_xxs, tq_iq3__bad_xxs, 8,
	    tq_iq3__round_xxs),
	[TQ_QT_IQ3_S] = LATTICE("iq3_s", QK_K, 32, blk_iq3_s, 0, 15,
	    tq_iq3__quant_s, tq_iq3__grid_s, iq3_s, tq_iq3__bad_s, 4,
	    tq_iq3__round_s),
	[TQ_QT_IQ2_XXS] = LATTICE("iq2_xxs", QK_K, 32, blk_iq2_xxs, 0, 5,
	    tq_iq2__quant_xxs, tq_iq2__grid_xxs, iq2_xxs, tq_iq2__bad_xxs, 8,
	    tq_iq2__round_xxs),
	[TQ_QT_IQ2_XS] = LATTICE("iq2_xs", QK_K, 16, blk_iq2_xs, 0, 5,
	    tq_iq2__quant_xs, tq_iq2__grid_xs, iq2_xs, tq_iq2__bad_xs, 8,
	    tq_iq2__round_xs),
	[TQ_QT_IQ2_S] = LATTICE("iq2_s", QK_K, 16, blk_iq2_s, 0, 5,
	    tq_iq2__quant_s, tq_iq2__grid_xs, iq2_s, tq_iq2__bad_s, 8,
	    tq_iq2__round_s),
	[TQ_QT_IQ1_S] = LATTICE("iq1_s", QK_K, 32, blk_iq1_s, 0, 2,
	    tq_iq1__quant_s, tq_iq1__grid_s, iq1_s, tq_iq1__bad, 8,
	    tq_iq1__round_s),
	[TQ_QT_IQ1_M] = LATTICE("iq1_m", QK_K, 8, blk_iq1_m, 0, 2,
	    tq_iq1__quant_m, tq_iq1__grid_m, iq1_m, tq_iq1__bad, 8,
	    tq_iq1__round_m),
};
#undef TYPE
#undef LATTICE

/* The row of a GGUF type, or NULL. */
static const gguf_traits *
traits(tq_qtype t)
{
	if ((unsigned)t >= TQ_QT_COUNT || gguf_types[t].quantize == NULL)
		return NULL;
	return &gguf_types[t];
}

int
tq_gguf_is(tq_qtype t)
{
	return traits(t) != NULL;
}

int
tq_gguf_qk(tq_qtype t)
{
	return traits(t) != NULL ? traits(t)->qk : QK_LEGACY;
}

int
tq_gguf_span(tq_qtype t)
{
	return traits(t) != NULL ? traits(t)->span : 32;
}

size_t
tq_gguf_block_bytes(tq_qtype t)
{
	return traits(t) != NULL ? traits(t)->bytes : 0;
}

void
tq_gguf_quantize(tq_qtype t, const float *x, const float *imp, float sigma2,
    tq_qparams *p, uint8_t *codes)
{
	const gguf_traits *tr = traits(t);
	gguf_hdr h;
	uint8_t L[QK_K];

	memset(&h, 0, sizeof(h));
	if (tr != NULL)
		tr->quantize(x, imp, sigma2, tr->nmax, &h, L);
	else
		memset(L, 0, sizeof(L));
	hdr_put(p, &h);
	if (codes != NULL)
		memcpy(codes, L, (size_t)tq_gguf_qk(t));
}

void
tq_gguf_grid(tq_qtype t, const tq_qparams *p, int64_t j, tq_grid *g)
{
	const gguf_traits *tr = traits(t);
	gguf_hdr h;

	hdr_get(p, &h);
	g->scale = 0;
	g->offset = 0;
	g->table = NULL;
	g->qmin = g->qmax = 0;
	if (tr == NULL)
		return;
	g->qmin = tr->qmin;
	g->qmax = tr->qmax;
	tr->grid(&h, j, g);
}

void
tq_gguf_pack(tq_qtype t, const tq_qparams *p, const uint8_t *codes,
    uint8_t *out)
{
	const gguf_traits *tr = traits(t);
	gguf_hdr h;

	hdr_get(p, &h);
	if (tr != NULL)
		tr->pack(tr->has_min, tr->hbit, &h, codes, out);
}

void
tq_gguf_unpack(tq_qtype t, const uint8_t *in, tq_qparams *p, uint8_t *codes)
{
	const gguf_traits *tr = traits(t);
	gguf_hdr h;

	memset(&h, 0, sizeof(h));
	if (tr != NULL)
		tr->unpack(tr->has_min, tr->hbit, in, &h, codes);
	hdr_put(p, &h);
}

int
tq_gguf_lattice(tq_qtype t)
{
	return traits(t) != NULL && traits(t)->bad != NULL;
}

int
tq_gguf_group(tq_qtype t)
{
	return traits(t) != NULL ? traits(t)->group : 1;
}

void
tq_gguf_round_group(tq_qtype t, const tq_qparams *p, int64_t j,
    const float *x, const float *w, uint8_t *codes)
{
	const gguf_traits *tr = traits(t);
	gguf_hdr h;

	hdr_get(p, &h);
	if (tr != NULL && tr->round_group != NULL)
		tr->round_group(&h, j, x, w, codes);
}

int
tq_gguf_needs_imatrix(tq_qtype t)
{
	switch (t) {
	case TQ_QT_IQ3_XXS:
	case TQ_QT_IQ2_XXS:
	case TQ_QT_IQ2_XS:
	case TQ_QT_IQ2_S:
	case TQ_QT_IQ1_S:
	case TQ_QT_IQ1_M:
		return 1;
	default:
		return 0;
	}
}

int
tq_gguf_ggml_needs_imatrix(tq_qtype t)
{
	return t == TQ_QT_IQ2_XXS || t == TQ_QT_IQ2_XS || t == TQ_QT_IQ1_S;
}

int64_t
tq_gguf_bad_codes(tq_qtype t, const uint8_t *codes)
{
	const gguf_traits *tr = traits(t);

	return tr != NULL && tr->bad != NULL ? tr->bad(codes) : -1;
}

float
tq_gguf_row_sigma2(const float *x, int64_t n)
{
	return n > 0 ? sum_sq(x, n) / n : 0.0f;
}
