/*
 * quant_iq2.c: the GGUF i-quants IQ2_XXS (2.06 bits per weight), IQ2_XS
 * (2.31) and IQ2_S (2.56), super-blocks of 256 columns whose groups of 8
 * are points of a fixed codebook (core/iq_grids.c) with signs; and the
 * codebook search (ggml's kgrid, kmap and kneighbors) they share with
 * IQ1_S and IQ1_M (core/quant_iq1.c).  See quant_iq2.h for how the codes
 * of a tq_qtensor stand for them.
 *
 * The searches are ggml's quantize_row_iq2_xxs_impl, _iq2_xs_impl and
 * _iq2_s_impl as llama-quantize runs them (ggml_quantize_chunk), with
 * the same float expressions in the same order (no FMA contraction), so
 * the blocks are byte-identical.  Each writes the ggml block and reads
 * the header and codes back from it, so what a tq_qtensor holds is what
 * the bytes say.  ggml has IQ2_XXS and IQ2_XS only with an importance
 * matrix (it aborts without); here they then weigh every column by 1, a
 * choice of ours that no ggml output can be compared with (the plans and
 * the exporter refuse those types without one, as llama-quantize does).
 * IQ2_S without one weighs by ggml's x^2 + sigma2 / 4.
 *
 * The codebook search is made at first use, once per lattice
 * (pthread_once): each pattern of 8 levels in 0..2 maps to its point or
 * to the list of points ggml would try instead (the nearest ones).
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "iq_grids.h"
#include "quant_iq2.h"
#include "tensor.h"

#include "no_fma.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define GROUP_MAX_EPS 1e-15f		/* ggml's "all zero" thresholds */
#define GROUP_MAX_EPS_IQ2_S 1e-8f
#define KMAXQ 3				/* ggml's kMaxQ: levels 0..2 */
#define NPAT 6561			/* 3^8 patterns of 8 levels */
#define MAXPTS 2048

/* ---- The lattices --------------------------------------------------- */

#define NB_NONE INT32_MIN	/* not a point, and no neighbour table */

typedef struct lattice {
	int n;			/* points */
	int nwant;		/* distance classes ggml keeps as neighbours */
	uint8_t lv[MAXPTS][8];	/* each point's levels, 0..2 */
	/*
	 * A pattern's point (>= 0), or -(o + 1) where nb[o] is the count of
	 * its neighbours and nb[o + 1 ...] their indices, or NB_NONE.
	 */
	int32_t map[NPAT];
	uint16_t *nb;
} lattice;

static lattice lats[IQ_LAT_COUNT];
static pthread_once_t lat_once[IQ_LAT_COUNT] = {
	PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT,
	PTHREAD_ONCE_INIT
};

/* A grid byte (0x08, 0x19, 0x2b) or IQ1 value (-1, 0, 1) as a level. */
static uint8_t
level_of(iq_lat k, int v)
{
	if (k == IQ_LAT_1S)
		return (uint8_t)(v + 1);
	return (uint8_t)(v == 0x08 ? 0 : v == 0x19 ? 1 : 2);
}

/* The pattern of levels l[8]: sum l[i] 3^i. */
static int
pattern(const int8_t *l)
{
	int i, t = 0;

	for (i = 7; i >= 0; i--)
		t = 3 * t + l[i];
	return t;
}

static void
unpattern(int t, int8_t *l)
{
	int i;

	for (i = 0; i < 8; i++, t /= 3)
		l[i] = (int8_t)(t % 3);
}

/*
 * The neighbours of levels l (not a point) into out[]: every point whose
 * squared distance sum (2 (l - p))^2 is among the nwant smallest values
 * present, by distance, then index (ggml sorts the pairs so).
 */
static int
find_neighbours(const lattice *L, const int8_t *l, uint16_t *out)
{
	uint8_t d2[MAXPTS];
	int have[129], p, i, v, n = 0, classes = 0;

	memset(have, 0, sizeof(have));
	for (p = 0; p < L->n; p++) {
		int d = 0;

		for (i = 0; i < 8; i++) {
			int e = 2 * (L->lv[p][i] - l[i]);

			d += e * e;
		}
		d2[p] = (uint8_t)d;
		have[d] = 1;
	}
	for (v = 0; v <= 128 && classes < L->nwant; v++) {
		if (!have[v])
			continue;
		classes++;
		for (p = 0; p < L->n; p++)
			if (d2[p] == v)
				out[n++] = (uint16_t)p;
	}
	return n;
}

static void
lat_init(iq_lat k)
{
	static const int size[IQ_LAT_COUNT] = { 256, 512, 1024, 2048 };
	static const int nwant[IQ_LAT_COUNT] = { 2, 2, 1, 3 };
	lattice *L = &lats[k];
	uint16_t buf[MAXPTS];
	int8_t l[8];
	size_t total = 0, o;
	int p, i, t;

	L->n = size[k];
	L->nwant = nwant[k];
	for (p = 0; p < L->n; p++)
		for (i = 0; i < 8; i++)
			L->lv[p][i] = level_of(k, k == IQ_LAT_2XXS ?
			    tq_iq2xxs_grid[p][i] : k == IQ_LAT_2XS ?
			    tq_iq2xs_grid[p][i] : k == IQ_LAT_2S ?
			    tq_iq2s_grid[p][i] : tq_iq1s_grid[p][i]);
	for (t = 0; t < NPAT; t++)
		L->map[t] = NB_NONE;
	for (p = 0; p < L->n; p++) {
		for (i = 0; i < 8; i++)
			l[i] = (int8_t)L->lv[p][i];
		L->map[pattern(l)] = p;
	}
	/* Two passes: the sizes, then the lists. */
	for (t = 0; t < NPAT; t++) {
		if (L->map[t] >= 0)
			continue;
		unpattern(t, l);
		total += 1 + (size_t)find_neighbours(L, l, buf);
	}
	if ((L->nb = malloc(total * sizeof(*L->nb))) == NULL)
		return;		/* tq_iq__neighbours searches each time */
	for (t = 0, o = 0; t < NPAT; t++) {
		if (L->map[t] >= 0)
			continue;
		unpattern(t, l);
		L->nb[o] = (uint16_t)find_neighbours(L, l, L->nb + o + 1);
		L->map[t] = -(int32_t)o - 1;
		o += 1 + L->nb[o];
	}
}

static void init_2xxs(void) { lat_init(IQ_LAT_2XXS); }
static void init_2xs(void) { lat_init(IQ_LAT_2XS); }
static void init_2s(void) { lat_init(IQ_LAT_2S); }
static void init_1s(void) { lat_init(IQ_LAT_1S); }

static const lattice *
lat(iq_lat k)
{
	static void (*const init[IQ_LAT_COUNT])(void) = {
		init_2xxs, init_2xs, init_2s, init_1s
	};

	pthread_once(&lat_once[k], init[k]);
	return &lats[k];
}

int
tq_iq__find(iq_lat k, const int8_t *l)
{
	int32_t m = lat(k)->map[pattern(l)];

	return m >= 0 ? (int)m : -1;
}

const uint8_t *
tq_iq__levels(iq_lat k, int p)
{
	return lat(k)->lv[p];
}

const uint16_t *
tq_iq__neighbours(iq_lat k, const int8_t *l, int *n, uint16_t *buf)
{
	const lattice *L = lat(k);
	int32_t m = L->map[pattern(l)];

	if (m >= 0) {		/* a point: itself */
		buf[0] = (uint16_t)m;
		*n = 1;
		return buf;
	}
	if (m == NB_NONE) {
		*n = find_neighbours(L, l, buf);
		return buf;
	}
	*n = L->nb[-(m + 1)];
	return L->nb + -(m + 1) + 1;
}

/* ---- The IQ2 searches ----------------------------------------------- */

/* IQ2's magnitudes in steps: level l is 2l + 1. */
static const float odd[3] = { 1, 3, 5 };

int
tq_iq__best_neighbour(iq_lat k, int8_t *l, const float *x, const float *w,
    float s, const float *val)
{
	uint16_t buf[MAXPTS];
	const uint16_t *nb;
	const uint8_t *pl;
	float best = FLT_MAX;
	int n, j, i, p = -1;

	nb = tq_iq__neighbours(k, l, &n, buf);
	for (j = 0; j < n; j++) {
		float d2 = 0;

		pl = tq_iq__levels(k, nb[j]);
		for (i = 0; i < 8; i++) {
			float diff = s * val[pl[i]] - x[i];

			d2 += w[i] * diff * diff;
		}
		if (d2 < best) {
			best = d2;
			p = nb[j];
		}
	}
	/*
	 * None below FLT_MAX (NaN or huge): ggml asserts (IQ2) or scans the
	 * whole codebook reading past x (IQ1, a bug); the first neighbour here.
	 */
	if (p < 0)
		p = nb[0];
	pl = tq_iq__levels(k, p);
	for (i = 0; i < 8; i++)
		l[i] = (int8_t)pl[i];
	return p;
}

/* The levels nearest id * x of n elements, clamped to 0..2. */
static void
levels_at(const float *xval, float id, int n, int8_t *l)
{
	int i;

	for (i = 0; i < n; i++) {
		int q = tq_round_even(0.5f * (id * xval[i] - 1));

		l[i] = (int8_t)MAX(0, MIN(KMAXQ - 1, q));
	}
}

/* sum w x q and sum w q q over n elements with q = 2 l + 1. */
static void
fit(const float *xval, const float *w, const int8_t *l, int n,
    float *sumqx, float *sumq2)
{
	float sx = 0, s2 = 0;
	int i;

	for (i = 0; i < n; i++) {
		float q = 2 * l[i] + 1;

		sx += w[i] * xval[i] * q;
		s2 += w[i] * q * q;
	}
	*sumqx = sx;
	*sumq2 = s2;
}

/* The largest of xval[n] (ggml compares it with its "all zero" threshold). */
static float
group_max(const float *xval, int n)
{
	float max = xval[0];
	int i;

	for (i = 1; i < n; i++)
		max = MAX(max, xval[i]);
	return max;
}

static void
put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v & 0xffff));
	put16(b + 2, (uint16_t)(v >> 16));
}

static uint32_t
get32(const uint8_t *b)
{
	return (uint32_t)get16(b) | (uint32_t)get16(b + 2) << 16;
}

/*
 * IQ2_XXS: 8 sub-blocks of 32; the scale starts from ggml's make_qp_
 * quants and 13 candidates around it are tried, the codes then taken
 * again at the best scale.  Writes the 66-byte block.
 */
static void
xxs_block(const float *xbl, const float *imp, uint8_t *out)
{
	float scales[QK_K / 32], weight[32], xval[32], waux[32];
	float max_scale = 0, sigma2, d, id;
	uint32_t q2[2 * (QK_K / 32)];
	uint8_t signs[4];
	int8_t L[32], Laux[32];
	int ib, k, i, is;

	memset(q2, 0, sizeof(q2));
	sigma2 = tq_gguf__sum_sq(xbl, QK_K) / QK_K;
	for (ib = 0; ib < QK_K / 32; ib++) {
		const float *xb = xbl + 32 * ib;
		float scale, eff_max, best = 0, sumqx, sumq2;
		uint8_t Lqp[32];

		for (i = 0; i < 32; i++)
			weight[i] = (imp != NULL ? imp[32 * ib + i] : 1.0f) *
			    sqrtf(sigma2 + xb[i] * xb[i]);
		for (i = 0; i < 32; i++)
			waux[i] = sqrtf(weight[i]);
		for (k = 0; k < 4; k++)
			signs[k] = tq_gguf__signs8(xb + 8 * k, weight + 8 * k,
			    xval + 8 * k, 1) & 127;
		if (group_max(xval, 32) < GROUP_MAX_EPS) {
			scales[ib] = 0;
			continue;
		}
		scale = tq_gguf__make_qp_quants(32, KMAXQ + 1, xval, Lqp,
		    weight);
		eff_max = scale * KMAXQ;
		if (eff_max <= 0) {
			scales[ib] = 0;
			continue;
		}
		memset(L, 0, sizeof(L));
		for (is = -6; is <= 6; is++) {
			float tid = (2 * KMAXQ - 1 + is * 0.1f) / eff_max;
			float this_scale = 1 / tid;

			for (k = 0; k < 4; k++) {
				levels_at(xval + 8 * k, tid, 8, Laux + 8 * k);
				if (tq_iq__find(IQ_LAT_2XXS, Laux + 8 * k) < 0)
					tq_iq__best_neighbour(IQ_LAT_2XXS,
					    Laux + 8 * k, xval + 8 * k,
					    waux + 8 * k, this_scale, odd);
			}
			fit(xval, weight, Laux, 32, &sumqx, &sumq2);
			if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
				scale = sumqx / sumq2;
				best = scale * sumqx;
				memcpy(L, Laux, sizeof(L));
			}
		}
		if (scale > 0) {
			float sid = 1 / scale;

			for (k = 0; k < 4; k++) {
				int p;

				levels_at(xval + 8 * k, sid, 8, Laux + 8 * k);
				p = tq_iq__find(IQ_LAT_2XXS, Laux + 8 * k);
				if (p < 0)
					tq_iq__best_neighbour(IQ_LAT_2XXS,
					    Laux + 8 * k, xval + 8 * k,
					    waux + 8 * k, scale, odd);
				memcpy(L + 8 * k, Laux + 8 * k, 8);
			}
			fit(xval, weight, L, 32, &sumqx, &sumq2);
			if (sumq2 > 0)
				scale = sumqx / sumq2;
		}
		if (scale < 0) {	/* ggml: "should never happen" */
			scale = -scale;
			for (k = 0; k < 4; k++)
				signs[k] = (uint8_t)(~signs[k] & 127);
		}
		for (k = 0; k < 4; k++) {
			int p = tq_iq__find(IQ_LAT_2XXS, L + 8 * k);

			if (p < 0)	/* ggml aborts; not reached */
				p = 0;
			q2[2 * ib] |= (uint32_t)p << 8 * k;
			q2[2 * ib + 1] |= (uint32_t)signs[k] << 7 * k;
		}
		scales[ib] = scale;
		max_scale = MAX(max_scale, scale);
	}
	memset(out, 0, sizeof(blk_iq2_xxs));
	if (!max_scale)
		return;
	d = max_scale / 31;
	put16(out, tq_f32_to_f16(d));
	id = 1 / d;
	for (ib = 0; ib < QK_K / 32; ib++)
		q2[2 * ib + 1] |= (uint32_t)tq_gguf__odd_level(id, scales[ib],
		    15) << 28;
	for (i = 0; i < 2 * (QK_K / 32); i++)
		put32(out + 2 + 4 * i, q2[i]);
}

/*
 * IQ2_XS and IQ2_S: 16 sub-blocks of 16; 19 scales around max / 5, then
 * the groups that were off the lattice at the best one taken again at
 * it.  Gets the scale and the levels L[16]; on[k] whether group k was a
 * point at the winning scale.
 */
static float
search16(iq_lat lk, const float *xval, const float *weight,
    const float *waux, float max, int8_t *L)
{
	float best = 0, scale = max / (2 * KMAXQ - 1), sumqx, sumq2;
	int on[2] = { 1, 1 }, on_aux[2], k, is;
	int8_t Laux[16];

	memset(L, 0, 16);
	for (is = -9; is <= 9; is++) {
		float id = (2 * KMAXQ - 1 + is * 0.1f) / max;
		float this_scale = 1 / id;

		for (k = 0; k < 2; k++) {
			levels_at(xval + 8 * k, id, 8, Laux + 8 * k);
			on_aux[k] = tq_iq__find(lk, Laux + 8 * k) >= 0;
			if (!on_aux[k])
				tq_iq__best_neighbour(lk, Laux + 8 * k,
				    xval + 8 * k, waux + 8 * k, this_scale, odd);
		}
		fit(xval, weight, Laux, 16, &sumqx, &sumq2);
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			scale = sumqx / sumq2;
			best = scale * sumqx;
			memcpy(L, Laux, 16);
			on[0] = on_aux[0];
			on[1] = on_aux[1];
		}
	}
	if ((!on[0] || !on[1]) && scale > 0) {
		float id = 1 / scale;

		for (k = 0; k < 2; k++) {
			if (on[k])
				continue;
			levels_at(xval + 8 * k, id, 8, L + 8 * k);
			if (tq_iq__find(lk, L + 8 * k) < 0)
				tq_iq__best_neighbour(lk, L + 8 * k,
				    xval + 8 * k, waux + 8 * k, scale, odd);
		}
		fit(xval, weight, L, 16, &sumqx, &sumq2);
		if (sumq2 > 0)
			scale = sumqx / sumq2;
	}
	return scale;
}

/* A group's point (0 if its levels are none: ggml aborts there). */
static int
point_of(iq_lat lk, const int8_t *l)
{
	int p = tq_iq__find(lk, l);

	return p < 0 ? 0 : p;
}

/* IQ2_XS: writes the 74-byte block (d, qs[32] u16, scales[8]). */
static void
xs_block(const float *xbl, const float *imp, uint8_t *out)
{
	float scales[QK_K / 16], weight[16], xval[16], waux[16];
	float max_scale = 0, sigma2, d, id;
	uint16_t q2[QK_K / 8];
	uint8_t signs[2];
	int8_t L[16];
	int ib, k, i;

	memset(q2, 0, sizeof(q2));
	memset(out, 0, sizeof(blk_iq2_xs));
	sigma2 = tq_gguf__sum_sq(xbl, QK_K) / QK_K;
	for (ib = 0; ib < QK_K / 16; ib++) {
		const float *xb = xbl + 16 * ib;
		float scale, max;

		for (i = 0; i < 16; i++)
			weight[i] = (imp != NULL ? imp[16 * ib + i] : 1.0f) *
			    sqrtf(sigma2 + xb[i] * xb[i]);
		for (i = 0; i < 16; i++)
			waux[i] = sqrtf(weight[i]);
		for (k = 0; k < 2; k++)
			signs[k] = tq_gguf__signs8(xb + 8 * k, weight + 8 * k,
			    xval + 8 * k, 1) & 127;
		max = group_max(xval, 16);
		if (max < GROUP_MAX_EPS) {
			scales[ib] = 0;
			continue;
		}
		scale = search16(IQ_LAT_2XS, xval, weight, waux, max, L);
		if (scale < 0) {
			scale = -scale;
			for (k = 0; k < 2; k++)
				signs[k] = (uint8_t)(~signs[k] & 127);
		}
		for (k = 0; k < 2; k++)
			q2[2 * ib + k] = (uint16_t)(point_of(IQ_LAT_2XS,
			    L + 8 * k) | signs[k] << 9);
		scales[ib] = scale;
		max_scale = MAX(max_scale, scale);
	}
	if (!max_scale)
		return;
	d = max_scale / 31;
	put16(out, tq_f32_to_f16(d));
	id = 1 / d;
	for (ib = 0; ib < QK_K / 16; ib++)
		out[2 + QK_K / 4 + ib / 2] |= (uint8_t)(tq_gguf__odd_level(id,
		    scales[ib], 15) << 4 * (ib % 2));
	for (i = 0; i < QK_K / 8; i++)
		put16(out + 2 + 2 * i, q2[i]);
}

/*
 * IQ2_S: writes the 82-byte block (d, qs[32] low index bits, signs[32],
 * qh[8] high index bits, scales[8]); all 8 signs stored, weights
 * x^2 + sigma2 / 4 without importance, and d stored times 0.9875.
 */
static void
s_block(const float *xbl, const float *imp, uint8_t *out)
{
	float scales[QK_K / 16], weight[16], xval[16], waux[16];
	float max_scale = 0, sigma2, d, id;
	uint8_t *qs = out + 2, *sg = out + 2 + QK_K / 8;
	uint8_t *qh = out + 2 + QK_K / 4, *sc = qh + QK_K / 32;
	uint8_t signs[2];
	int8_t L[16];
	int ib, k, i;

	memset(out, 0, sizeof(blk_iq2_s));
	sigma2 = 2 * tq_gguf__sum_sq(xbl, QK_K) / QK_K;
	for (ib = 0; ib < QK_K / 16; ib++) {
		const float *xb = xbl + 16 * ib;
		float scale, max;

		if (imp != NULL)
			for (i = 0; i < 16; i++)
				weight[i] = imp[16 * ib + i] *
				    sqrtf(sigma2 + xb[i] * xb[i]);
		else
			for (i = 0; i < 16; i++)
				weight[i] = 0.25f * sigma2 + xb[i] * xb[i];
		for (i = 0; i < 16; i++)
			waux[i] = sqrtf(weight[i]);
		for (k = 0; k < 2; k++)
			signs[k] = tq_gguf__signs8(xb + 8 * k, weight + 8 * k,
			    xval + 8 * k, 0);
		max = group_max(xval, 16);
		if (max < GROUP_MAX_EPS_IQ2_S) {
			scales[ib] = 0;
			continue;
		}
		scale = search16(IQ_LAT_2S, xval, weight, waux, max, L);
		if (scale < 0) {
			scale = -scale;
			for (k = 0; k < 2; k++)
				signs[k] = (uint8_t)~signs[k];
		}
		for (k = 0; k < 2; k++) {
			int i8 = 2 * ib + k, p = point_of(IQ_LAT_2S, L + 8 * k);

			qs[i8] = (uint8_t)(p & 255);
			qh[i8 / 4] |= (uint8_t)((p >> 8) << 2 * (i8 % 4));
			sg[i8] = signs[k];
		}
		scales[ib] = scale;
		max_scale = MAX(max_scale, scale);
	}
	if (!max_scale)
		return;
	d = max_scale / 31;
	put16(out, tq_f32_to_f16(d * 0.9875f));
	id = 1 / d;
	for (ib = 0; ib < QK_K / 16; ib++)
		sc[ib / 2] |= (uint8_t)(tq_gguf__odd_level(id, scales[ib],
		    15) << 4 * (ib % 2));
}

/* ---- Codes <-> blocks ----------------------------------------------- */

/* The code of a magnitude level m (0..2) with a sign bit. */
static uint8_t
code_of(int m, int neg)
{
	return (uint8_t)(neg ? 2 - m : 3 + m);
}

/* One group of 8 from its point and 8 sign bits. */
static void
group_codes(iq_lat lk, int p, uint8_t s, uint8_t *L)
{
	const uint8_t *lv = tq_iq__levels(lk, p);
	int i;

	for (i = 0; i < 8; i++)
		L[i] = code_of(lv[i], s >> i & 1);
}

/* A group of 8 codes as its point (or -1) and its 8 sign bits. */
static int
group_point(iq_lat lk, const uint8_t *L, uint8_t *s)
{
	int8_t m[8];
	int i;

	*s = 0;
	for (i = 0; i < 8; i++) {
		int c = L[i] > 5 ? 5 : L[i];

		m[i] = (int8_t)(c >= 3 ? c - 3 : 2 - c);
		if (c < 3)
			*s |= (uint8_t)(1 << i);
	}
	return tq_iq__find(lk, m);
}

/* Packing needs points: a group that is none is written as point 0. */
static int
group_packed(iq_lat lk, const uint8_t *L, uint8_t *s)
{
	int p = group_point(lk, L, s);

	return p < 0 ? 0 : p;
}

void
tq_gguf__unpack_iq2_xxs(int has_min, int hbit, const uint8_t *in,
    gguf_hdr *h, uint8_t *L)
{
	int ib, k;

	(void)has_min, (void)hbit;
	memset(h, 0, sizeof(*h));
	h->d = get16(in);
	for (ib = 0; ib < QK_K / 32; ib++) {
		uint32_t a = get32(in + 2 + 8 * ib);
		uint32_t b = get32(in + 6 + 8 * ib);

		h->scales[ib] = (uint8_t)(b >> 28);
		for (k = 0; k < 4; k++)
			group_codes(IQ_LAT_2XXS, (int)(a >> 8 * k & 255),
			    tq_iq2_ksigns[b >> 7 * k & 127], L + 32 * ib + 8 * k);
	}
}

void
tq_gguf__pack_iq2_xxs(int has_min, int hbit, const gguf_hdr *h,
    const uint8_t *L, uint8_t *out)
{
	int ib, k;

	(void)has_min, (void)hbit;
	put16(out, h->d);
	for (ib = 0; ib < QK_K / 32; ib++) {
		uint32_t a = 0, b = (uint32_t)(h->scales[ib] & 15) << 28;

		for (k = 0; k < 4; k++) {
			uint8_t s;
			int p = group_packed(IQ_LAT_2XXS, L + 32 * ib + 8 * k,
			    &s);

			a |= (uint32_t)p << 8 * k;
			b |= (uint32_t)(s & 127) << 7 * k;
		}
		put32(out + 2 + 8 * ib, a);
		put32(out + 6 + 8 * ib, b);
	}
}

void
tq_gguf__unpack_iq2_xs(int has_min, int hbit, const uint8_t *in,
    gguf_hdr *h, uint8_t *L)
{
	int g;

	(void)has_min, (void)hbit;
	memset(h, 0, sizeof(*h));
	h->d = get16(in);
	memcpy(h->scales, in + 2 + QK_K / 4, QK_K / 32);
	for (g = 0; g < QK_K / 8; g++) {
		uint16_t q = get16(in + 2 + 2 * g);

		group_codes(IQ_LAT_2XS, q & 511, tq_iq2_ksigns[q >> 9],
		    L + 8 * g);
	}
}

void
tq_gguf__pack_iq2_xs(int has_min, int hbit, const gguf_hdr *h,
    const uint8_t *L, uint8_t *out)
{
	int g;

	(void)has_min, (void)hbit;
	put16(out, h->d);
	memcpy(out + 2 + QK_K / 4, h->scales, QK_K / 32);
	for (g = 0; g < QK_K / 8; g++) {
		uint8_t s;
		int p = group_packed(IQ_LAT_2XS, L + 8 * g, &s);

		put16(out + 2 + 2 * g, (uint16_t)(p | (s & 127) << 9));
	}
}

void
tq_gguf__unpack_iq2_s(int has_min, int hbit, const uint8_t *in,
    gguf_hdr *h, uint8_t *L)
{
	const uint8_t *qs = in + 2, *sg = in + 2 + QK_K / 8;
	const uint8_t *qh = in + 2 + QK_K / 4;
	int g;

	(void)has_min, (void)hbit;
	memset(h, 0, sizeof(*h));
	h->d = get16(in);
	memcpy(h->scales, qh + QK_K / 32, QK_K / 32);
	for (g = 0; g < QK_K / 8; g++)
		group_codes(IQ_LAT_2S, qs[g] | ((qh[g / 4] >> 2 * (g % 4)) &
		    3) << 8, sg[g], L + 8 * g);
}

void
tq_gguf__pack_iq2_s(int has_min, int hbit, const gguf_hdr *h,
    const uint8_t *L, uint8_t *out)
{
	uint8_t *qs = out + 2, *sg = out + 2 + QK_K / 8;
	uint8_t *qh = out + 2 + QK_K / 4;
	int g;

	(void)has_min, (void)hbit;
	put16(out, h->d);
	memset(qh, 0, QK_K / 32);
	memcpy(qh + QK_K / 32, h->scales, QK_K / 32);
	for (g = 0; g < QK_K / 8; g++) {
		int p = group_packed(IQ_LAT_2S, L + 8 * g, &sg[g]);

		qs[g] = (uint8_t)(p & 255);
		qh[g / 4] |= (uint8_t)((p >> 8) << 2 * (g % 4));
	}
}

/* The first column of the first group of L off lattice lk, or -1. */
static int
bad(iq_lat lk, const uint8_t *L)
{
	int g, i;

	for (g = 0; g < QK_K / 8; g++) {
		uint8_t s;

		for (i = 0; i < 8; i++)
			if (L[8 * g + i] > 5)
				return 8 * g;
		if (group_point(lk, L + 8 * g, &s) < 0)
			return 8 * g;
		/* XXS, XS: the eighth sign is the parity of the seven */
		if (lk != IQ_LAT_2S && tq_iq2_ksigns[s & 127] != s)
			return 8 * g;
	}
	return -1;
}

int
tq_iq2__bad_xxs(const uint8_t *L)
{
	return bad(IQ_LAT_2XXS, L);
}

int
tq_iq2__bad_xs(const uint8_t *L)
{
	return bad(IQ_LAT_2XS, L);
}

int
tq_iq2__bad_s(const uint8_t *L)
{
	return bad(IQ_LAT_2S, L);
}

/* ---- The table's entries ------------------------------------------- */

GGUF_QUANT_BY_BLOCK(tq_iq2__quant_xxs, xxs_block, blk_iq2_xxs, iq2_xxs)
GGUF_QUANT_BY_BLOCK(tq_iq2__quant_xs, xs_block, blk_iq2_xs, iq2_xs)
GGUF_QUANT_BY_BLOCK(tq_iq2__quant_s, s_block, blk_iq2_s, iq2_s)

/* The signed magnitudes, ascending: code c is levels[c]. */
static const float levels[6] = { -43, -25, -8, 8, 25, 43 };

int
tq_iq__round_point(iq_lat k, float s, const float *val, const float *x,
    const float *w)
{
	int8_t l[8];
	int i, v, p;

	for (i = 0; i < 8; i++) {
		float bd = FLT_MAX;

		l[i] = 0;
		for (v = 0; v < 3; v++) {
			float d = s * val[v] - x[i];

			if (d * d < bd) {
				bd = d * d;
				l[i] = (int8_t)v;
			}
		}
	}
	if ((p = tq_iq__find(k, l)) >= 0)
		return p;
	return tq_iq__best_neighbour(k, l, x, w, s, val);
}

/*
 * A group of 8 columns at step s (the grid's scale): the signs of x (with
 * parity, the odd one out flipped where w x^2 is least, as ggml does),
 * then the point for |x| on the three magnitudes.
 */
static void
round8(iq_lat lk, int parity, float s, const float *x, const float *w,
    uint8_t *L)
{
	static const float mag[3] = { 8, 25, 43 };
	float xv[8];
	uint8_t sg = tq_gguf__signs8(x, w, xv, parity);

	group_codes(lk, tq_iq__round_point(lk, s, mag, xv, w), sg, L);
}

void
tq_iq2__round_xxs(const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L)
{
	tq_grid g;

	tq_iq2__grid_xxs(h, j, &g);
	round8(IQ_LAT_2XXS, 1, g.scale, x, w, L);
}

void
tq_iq2__round_xs(const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L)
{
	tq_grid g;

	tq_iq2__grid_xs(h, j, &g);
	round8(IQ_LAT_2XS, 1, g.scale, x, w, L);
}

void
tq_iq2__round_s(const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L)
{
	tq_grid g;

	tq_iq2__grid_xs(h, j, &g);
	round8(IQ_LAT_2S, 0, g.scale, x, w, L);
}

void
tq_iq2__grid_xxs(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	g->scale = tq_f16_to_f32(h->d) * (0.5f + h->scales[j / 32]) * 0.25f;
	g->table = levels;
}

void
tq_iq2__grid_xs(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	int ib = (int)(j / 16);
	int ls = (h->scales[ib / 2] >> 4 * (ib % 2)) & 15;

	g->scale = tq_f16_to_f32(h->d) * (0.5f + ls) * 0.25f;
	g->table = levels;
}
