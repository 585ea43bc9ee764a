/*
 * quant_fp4.c: the MXFP4 and NVFP4 grids (see quant_fp4.h): their scale
 * rules and searches, the E2M1 rounding, and ggml's block layouts.
 *
 * The rounding and MXFP4's exponent are ggml's (quantize_row_mxfp4_ref):
 * the same float expressions, so our MXFP4 blocks are byte-identical to
 * ggml's.  NVFP4's scales follow compressed-tensors (calculate_qparams,
 * generate_gparam): G = fl(2688 / amax), s = E4M3(fl(G * fl(amax / 6)))
 * rounded to nearest even as torch casts.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "quant_fp4.h"

#include "no_fma.h"

#define E4M3_MAX 448.0f
#define NV_SEARCH_DOWN 6	/* E4M3 steps below the rule's scale tried */
#define NV_POW2_MAX 64		/* nvfp4-pow2's G in 2^-64..2^64 */

const float tq_fp4_levels[15] = {
	-12, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 12,
};

/* ggml's kvalues_mxfp4: the doubled E2M1 value of each nibble. */
static const int8_t kv[16] = {
	0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12,
};

/* What tq_qparams.raw holds. */
typedef struct fp4_par {
	float g;		/* NVFP4's G; 1 otherwise */
	uint8_t s[4];		/* MXFP4: s[0] E8M0; NVFP4: four E4M3 */
} fp4_par;

static void
par_get(const tq_qparams *p, fp4_par *o)
{
	memcpy(o, p->raw, sizeof(*o));
}

static void
par_put(tq_qparams *p, const fp4_par *in)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->raw, in, sizeof(*in));
}

int
tq_fp4_is(tq_qtype t)
{
	return t == TQ_QT_MXFP4 || t == TQ_QT_NVFP4;
}

int
tq_fp4_qk(tq_qtype t)
{
	return t == TQ_QT_NVFP4 ? 64 : 32;
}

int
tq_fp4_span(tq_qtype t)
{
	return t == TQ_QT_NVFP4 ? 16 : 32;
}

size_t
tq_fp4_block_bytes(tq_qtype t)
{
	return t == TQ_QT_NVFP4 ? 36 : 17;
}

/* 2^(e - 128): half the E8M0 value, as ggml_e8m0_to_fp32_half. */
static float
e8m0_half(uint8_t e)
{
	uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
	float f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

/* An unsigned E4M3 byte's value; 0x7f (NaN) reads as 0, as ggml does. */
static float
e4m3_value(uint8_t b)
{
	int e, m;

	b &= 0x7f;
	if (b == 0x7f)
		return 0.0f;
	e = b >> 3;
	m = b & 7;
	return e == 0 ? ldexpf((float)m, -9) : ldexpf((float)(8 + m), e - 10);
}

/* v >= 0 to E4M3, nearest even, saturating at 448 (torch after a clamp). */
static uint8_t
e4m3_rne(float v)
{
	uint32_t u, p;

	if (!(v > 0.0f))
		return 0;
	if (!(v < E4M3_MAX))
		return 0x7e;
	if (v < 0.015625f)		/* subnormal: steps of 2^-9 */
		return (uint8_t)nearbyintf(v * 512.0f);
	memcpy(&u, &v, sizeof(u));
	u += 0x7ffff + ((u >> 20) & 1);	/* round the mantissa to 3 bits */
	p = ((u >> 23) - 120) << 3 | ((u >> 20) & 7);
	return (uint8_t)(p > 0x7e ? 0x7e : p);
}

void
tq_fp4_grid(tq_qtype t, const tq_qparams *p, int64_t j, tq_grid *g)
{
	fp4_par a;

	par_get(p, &a);
	g->offset = 0.0f;
	g->qmin = -7;
	g->qmax = 7;
	g->table = tq_fp4_levels;
	if (t == TQ_QT_NVFP4)	/* fl(s / G) as compressed-tensors; x0.5 exact */
		g->scale = 0.5f * (e4m3_value(a.s[(j / 16) & 3]) / a.g);
	else
		g->scale = e8m0_half(a.s[0]);
}

int
tq_fp4_round(const tq_grid *g, float x)
{
	float d = g->scale, best = fabsf((float)kv[0] * d - x), e;
	int i, bi = 0;

	for (i = 1; i < 16; i++) {
		e = fabsf((float)kv[i] * d - x);
		if (e < best) {
			best = e;
			bi = i;
		}
	}
	return bi < 8 ? bi : 8 - bi;
}

static float
amax_of(const float *x, int64_t n)
{
	float a = 0.0f;
	int64_t j;

	for (j = 0; j < n; j++)
		if (a < fabsf(x[j]))
			a = fabsf(x[j]);
	return a;
}

/*
 * nvfp4-pow2: 2^floor(log2 G), so G * amax / 6 stays at most 448 and 1 / G
 * is exact; 2^-64..2^64 keeps every fl(s / G) * e2m1 a normal float, so
 * dividing by G or multiplying by 1 / G gives the same bits.
 */
static float
pow2_below(float g)
{
	int e;

	(void)frexpf(g, &e);	/* g = m * 2^e, m in [0.5, 1) */
	e--;
	if (e > NV_POW2_MAX)
		e = NV_POW2_MAX;
	if (e < -NV_POW2_MAX)
		e = -NV_POW2_MAX;
	return ldexpf(1.0f, e);
}

void
tq_fp4_tensor_params(tq_qtype t, int nv_scale, const float *w, int64_t n,
    tq_qparams *out)
{
	fp4_par a;
	float amax;

	memset(&a, 0, sizeof(a));
	a.g = 1.0f;
	if (t == TQ_QT_NVFP4 && nv_scale != TQ_NV_UNIT) {
		amax = amax_of(w, n);
		a.g = amax > 0.0f ? 2688.0f / amax : 1.0f;	/* 448 * 6 */
		if (!isfinite(a.g))
			a.g = nv_scale == TQ_NV_POW2 ? ldexpf(1.0f,
			    NV_POW2_MAX) : 1.0f;
		if (nv_scale == TQ_NV_POW2)
			a.g = pow2_below(a.g);
	}
	par_put(out, &a);
}

int
tq_fp4_global_ok(int nv_scale, float g)
{
	if (nv_scale == TQ_NV_UNIT)
		return g == 1.0f;
	if (nv_scale == TQ_NV_POW2)
		return g > 0.0f && pow2_below(g) == g;
	return 1;
}

int
tq_fp4_fold(uint8_t b, float g, uint8_t *out)
{
	float v = e4m3_value(b) / g;

	*out = e4m3_rne(v);
	return (b & 0x7f) != 0x7f && e4m3_value(*out) == v;
}

/* sum imp * (x - q(x))^2 of x[n] on the grid of scale byte k. */
static double
sub_error(tq_qtype t, fp4_par *a, int k, const float *x, const float *imp,
    int64_t n)
{
	tq_qparams p;
	tq_grid g;
	double e = 0.0, d;
	int64_t j;

	par_put(&p, a);
	tq_fp4_grid(t, &p, 16 * k, &g);
	for (j = 0; j < n; j++) {
		d = (double)x[j] - (double)tq_grid_value(&g,
		    tq_fp4_round(&g, x[j]));
		e += (imp != NULL ? (double)imp[j] : 1.0) * d * d;
	}
	return e;
}

/* Scale byte k from the candidates lo..hi around the rule's byte r0. */
static void
search(tq_qtype t, fp4_par *a, int k, int r0, int lo, int hi,
    const float *x, const float *imp, int64_t n)
{
	double best, e;
	int c, b = r0;

	a->s[k] = (uint8_t)r0;
	best = sub_error(t, a, k, x, imp, n);
	for (c = lo; c <= hi; c++) {
		if (c == r0)
			continue;
		a->s[k] = (uint8_t)c;
		e = sub_error(t, a, k, x, imp, n);
		if (e < best) {		/* ties keep the rule's scale */
			best = e;
			b = c;
		}
	}
	a->s[k] = (uint8_t)b;
}

void
tq_fp4_block_params(tq_qtype t, const float *x, const float *imp,
    int clip_search, tq_qparams *p)
{
	fp4_par a;
	float amax;
	int k, r0;

	par_get(p, &a);
	if (t == TQ_QT_MXFP4) {
		float e;

		a.g = 1.0f;
		amax = amax_of(x, 32);
		/* ggml: floor(log2 amax) - 2 + 127 (the OCP rule), in float */
		e = amax > 0.0f ? floorf(log2f(amax)) - 2 + 127 : 0.0f;
		r0 = e < 0.0f ? 0 : e > 254.0f ? 254 : (int)e;
		a.s[0] = (uint8_t)r0;
		if (clip_search && amax > 0.0f)
			search(t, &a, 0, r0, r0 > 0 ? r0 - 1 : 0,
			    r0 < 254 ? r0 + 1 : 254, x, imp, 32);
		par_put(p, &a);
		return;
	}
	if (!(a.g > 0.0f) || !isfinite(a.g))	/* no tensor params given */
		a.g = 1.0f;
	for (k = 0; k < 4; k++) {
		const float *xs = x + 16 * k;

		amax = amax_of(xs, 16);
		r0 = e4m3_rne(a.g * (amax / 6.0f));
		a.s[k] = (uint8_t)r0;
		if (clip_search && r0 > 0)
			search(t, &a, k, r0, r0 > NV_SEARCH_DOWN ?
			    r0 - NV_SEARCH_DOWN : 1, r0 < 0x7e ? r0 + 1 : 0x7e,
			    xs, imp != NULL ? imp + 16 * k : NULL, 16);
	}
	par_put(p, &a);
}

float
tq_fp4_global(const tq_qparams *p)
{
	fp4_par a;

	par_get(p, &a);
	return a.g;
}

uint8_t
tq_fp4_scale_byte(const tq_qparams *p, int k)
{
	fp4_par a;

	par_get(p, &a);
	return a.s[k & 3];
}

uint8_t
tq_fp4_nibble(uint8_t code)
{
	int q = (int)code - 7;

	return (uint8_t)(q >= 0 ? q : 8 - q);
}

/* A nibble's code (-0 reads as 0). */
static uint8_t
code_of(uint8_t nib)
{
	nib &= 15;
	return (uint8_t)((nib < 8 ? (int)nib : 8 - (int)nib) + 7);
}

/*
 * ggml's layouts: block_mxfp4 { e; qs[16] } with element j in the low
 * nibble of qs[j] and j + 16 in the high one; block_nvfp4 { d[4]; qs[32] }
 * the same per sub-block of 16 (j and j + 8 share qs[8 * k + j]).
 */
void
tq_fp4_pack(tq_qtype t, const tq_qparams *p, const uint8_t *codes,
    uint8_t *out)
{
	int ns = t == TQ_QT_NVFP4 ? 4 : 1, h = tq_fp4_span(t) / 2, k, j;
	fp4_par a;

	par_get(p, &a);
	for (k = 0; k < ns; k++) {
		const uint8_t *c = codes + 2 * h * k;
		uint8_t *qs = out + ns + h * k;

		out[k] = a.s[k];
		for (j = 0; j < h; j++)
			qs[j] = (uint8_t)(tq_fp4_nibble(c[j]) |
			    tq_fp4_nibble(c[j + h]) << 4);
	}
}

void
tq_fp4_unpack(tq_qtype t, const uint8_t *in, tq_qparams *p, uint8_t *codes)
{
	int ns = t == TQ_QT_NVFP4 ? 4 : 1, h = tq_fp4_span(t) / 2, k, j;
	fp4_par a;

	memset(&a, 0, sizeof(a));
	a.g = 1.0f;	/* a GGUF tensor's scale is a tensor of its own */
	for (k = 0; k < ns; k++) {
		const uint8_t *qs = in + ns + h * k;
		uint8_t *c = codes + 2 * h * k;

		a.s[k] = in[k];
		for (j = 0; j < h; j++) {
			c[j] = code_of(qs[j]);
			c[j + h] = code_of(qs[j] >> 4);
		}
	}
	par_put(p, &a);
}
