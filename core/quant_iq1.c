/*
 * quant_iq1.c: the GGUF i-quants IQ1_S (1.56 bits per weight) and IQ1_M
 * (1.75): super-blocks of 256 columns whose groups of 8 are points of the
 * 2048-point codebook of values -1, 0, 1 (core/iq_grids.c), each group's
 * values shifted by +1/8 or -1/8 and scaled by (2 ls + 1) d, ls a 3-bit
 * level per 32 (IQ1_S) or 16 (IQ1_M) columns.  The shift is per 32
 * columns in IQ1_S, per 8 in IQ1_M.
 *
 * The searches are ggml's quantize_row_iq1_s_impl and _iq1_m_impl, the
 * same float expressions in the same order (no FMA contraction), so the
 * blocks are byte-identical to ggml_quantize_chunk's.  Both sort a
 * sub-block's values with qsort(), whose order of equal values the C
 * library decides; glibc's (a merge sort for so few) keeps them in
 * place, which is the stable sort used here.  ggml has IQ1_S only with
 * an importance matrix; without one it weighs every column by 1 here (a
 * choice of ours; plans and the exporter refuse it as llama-quantize
 * does).  IQ1_M without one weighs by x^2, as ggml.  Each search writes
 * the ggml block and reads header and codes back from it.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "iq_grids.h"
#include "quant_iq1.h"
#include "quant_iq2.h"
#include "tensor.h"

#include "no_fma.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define GROUP_MAX_EPS_IQ1_S 1e-12f	/* ggml's "all zero" thresholds */
#define GROUP_MAX_EPS_IQ1_M 1e-7f
#define DELTA 0.125f			/* IQ1S_DELTA, IQ1M_DELTA */
#define NGRID 2048

/* A group's values -1, 0, 1 plus the shift: ascending, code c at [c]. */
static const float shift_p[3] = { -1 + DELTA, DELTA, 1 + DELTA };
static const float shift_m[3] = { -1 - DELTA, -DELTA, 1 - DELTA };

/* The point of levels l, neighbours searched when it is none. */
static int
point(int8_t *l, const float *x, const float *w, float scale,
    const float *xg, int *on)
{
	int p = tq_iq__find(IQ_LAT_1S, l);

	if (p >= 0)
		return p;
	*on = 0;
	return tq_iq__best_neighbour(IQ_LAT_1S, l, x, w, scale, xg);
}

/*
 * idx[n] = 0..n-1 ordered by x[idx] ascending, equal values in place
 * (glibc's qsort of these pairs).
 */
static void
sort_idx(const float *x, int n, int *idx)
{
	int i, j;

	for (i = 0; i < n; i++) {
		int t = i;

		for (j = i; j > 0 && x[idx[j - 1]] > x[t]; j--)
			idx[j] = idx[j - 1];
		idx[j] = t;
	}
}

/* The weights of n columns: imp sqrt(sigma2 + x^2), or the fallback. */
static void
weights(const float *xb, const float *imp, float sigma2, int n, int sq,
    float *w)
{
	int i;

	if (imp != NULL)
		for (i = 0; i < n; i++)
			w[i] = imp[i] * sqrtf(sigma2 + xb[i] * xb[i]);
	else if (sq)		/* IQ1_M: ggml's x^2 */
		for (i = 0; i < n; i++)
			w[i] = xb[i] * xb[i];
	else			/* IQ1_S: ours, every column alike */
		for (i = 0; i < n; i++)
			w[i] = 1.0f * sqrtf(sigma2 + xb[i] * xb[i]);
}

static float
abs_max(const float *xb, int n)
{
	float max = fabsf(xb[0]);
	int i;

	for (i = 1; i < n; i++)
		max = MAX(max, fabsf(xb[i]));
	return max;
}

/*
 * IQ1_S: 8 sub-blocks of 32.  For each, every split of the sorted values
 * into -1, 0, 1 under both shifts is scored exactly; groups off the
 * codebook go to their nearest neighbour.  Writes the 50-byte block (d,
 * qs[32], qh[8] u16: 3 high index bits per group, the 3-bit level, the
 * shift's sign).
 */
static void
s_block(const float *xbl, const float *imp, uint8_t *out)
{
	float scales[QK_K / 32], weight[32], sumx[33], sumw[33];
	float max_scale = 0, sigma2, d, id;
	uint8_t *qs = out + 2, *qh = out + 2 + QK_K / 8;
	int8_t shifts[QK_K / 32], L[32];
	int idx[32], ib, j, k;

	memset(out, 0, sizeof(blk_iq1_s));
	sigma2 = 2 * tq_gguf__sum_sq(xbl, QK_K) / QK_K;
	for (ib = 0; ib < QK_K / 32; ib++) {
		const float *xb = xbl + 32 * ib, *xx;
		float best = -FLT_MAX, scale, max;
		int i1, i2, b1 = -1, b2 = -1, shift = 0, all_on = 1;
		uint16_t h = 0, index[4];

		weights(xb, imp != NULL ? imp + 32 * ib : NULL, sigma2, 32, 0,
		    weight);
		max = abs_max(xb, 32);
		scale = max;
		if (max < GROUP_MAX_EPS_IQ1_S) {
			scales[ib] = 0;
			shifts[ib] = 1;
			continue;
		}
		sort_idx(xb, 32, idx);
		sumx[0] = sumw[0] = 0;
		for (j = 0; j < 32; j++) {
			int i = idx[j];

			sumx[j + 1] = sumx[j] + weight[i] * xb[i];
			sumw[j + 1] = sumw[j] + weight[i];
		}
		for (i1 = 0; i1 <= 32; i1++)
			for (i2 = i1; i2 <= 32; i2++) {
				float sumqx, sumq2;
				int s;

				for (s = 0; s < 2; s++) {
					const float *v = s == 0 ? shift_p :
					    shift_m;

					sumqx = (sumx[i1] - sumx[0]) * v[0] +
					    (sumx[i2] - sumx[i1]) * v[1] +
					    (sumx[32] - sumx[i2]) * v[2];
					sumq2 = (sumw[i1] - sumw[0]) * v[0] *
					    v[0] + (sumw[i2] - sumw[i1]) * v[1] *
					    v[1] + (sumw[32] - sumw[i2]) * v[2] *
					    v[2];
					if (sumq2 > 0 && sumqx * sumqx >
					    best * sumq2) {
						scale = sumqx / sumq2;
						best = scale * sumqx;
						b1 = i1;
						b2 = i2;
						shift = s == 0 ? 1 : -1;
					}
				}
			}
		if (b1 < 0 || b2 < 0 || shift == 0) {
			scales[ib] = 0;
			shifts[ib] = 1;
			continue;
		}
		for (j = 0; j < 32; j++)
			L[idx[j]] = (int8_t)(j < b1 ? 0 : j < b2 ? 1 : 2);
		if (scale < 0) {
			for (j = 0; j < 32; j++)
				L[j] = (int8_t)(2 - L[j]);
			scale = -scale;
			shift = -shift;
		}
		xx = shift == 1 ? shift_p : shift_m;
		for (k = 0; k < 4; k++)
			index[k] = (uint16_t)point(L + 8 * k, xb + 8 * k,
			    weight + 8 * k, scale, xx, &all_on);
		if (!all_on) {
			float sumqx = 0, sumq2 = 0;

			for (k = 0; k < 4; k++) {
				const uint8_t *pl = tq_iq__levels(IQ_LAT_1S,
				    index[k]);

				for (j = 0; j < 8; j++) {
					float w = weight[8 * k + j];
					float q = xx[pl[j]];

					sumqx += w * q * xb[8 * k + j];
					sumq2 += w * q * q;
				}
			}
			if (sumqx > 0 && sumq2 > 0)
				scale = sumqx / sumq2;
		}
		for (k = 0; k < 4; k++) {
			qs[4 * ib + k] = (uint8_t)(index[k] & 255);
			h |= (uint16_t)((index[k] >> 8) << 3 * k);
		}
		put16(qh + 2 * ib, h);
		scales[ib] = scale;
		shifts[ib] = (int8_t)shift;
		max_scale = MAX(max_scale, scale);
	}
	if (!max_scale)
		return;
	d = max_scale / 15;
	put16(out, tq_f32_to_f16(d * 1.125f));
	id = 1 / d;
	for (ib = 0; ib < QK_K / 32; ib++) {
		int l = tq_gguf__odd_level(id, scales[ib], 7);

		if (shifts[ib] == -1)
			l |= 8;
		put16(qh + 2 * ib, (uint16_t)(get16(qh + 2 * ib) | l << 12));
	}
}

/*
 * IQ1_M: 16 sub-blocks of 16, each half (8 columns) with a shift of its
 * own: the split search scores all four sign pairs at once from per-half
 * prefix sums.  Then d is refit to every column at the chosen levels.
 * Writes the 56-byte block (qs[32], qh[16]: per group 3 high index bits
 * and the shift's sign, scales[8]: four u16 of 3-bit levels with d's
 * fp16 bits in their top nibbles).
 */
static void
m_block(const float *xbl, const float *imp, uint8_t *out)
{
	static const uint8_t masks[4] = { 0x00, 0x80, 0x08, 0x88 };
	float scales[QK_K / 16], weight[16];
	float max_scale = 0, sigma2, d, id, sumqx_f = 0, sumq2_f = 0;
	uint8_t *qs = out, *qh = out + QK_K / 8, *scb = qh + QK_K / 16;
	uint16_t sc[4] = { 0, 0, 0, 0 }, u;
	int8_t shifts[QK_K / 16], L[16];
	int idx[16], ib, j, k, h;

	memset(out, 0, sizeof(blk_iq1_m));
	sigma2 = 2 * tq_gguf__sum_sq(xbl, QK_K) / QK_K;
	for (ib = 0; ib < QK_K / 16; ib++) {
		const float *xb = xbl + 16 * ib, *xx;
		float px[2][17], pw[2][17], txs[2], tws[2];
		float best = -FLT_MAX, scale, max, cp1, cp2, cm1, cm2, p2, m2;
		int i1, i2, b1 = -1, b2 = -1, best_k = -1, all_on = 1;
		uint16_t index[2];

		weights(xb, imp != NULL ? imp + 16 * ib : NULL, sigma2, 16, 1,
		    weight);
		max = abs_max(xb, 16);
		scale = max;
		if (max < GROUP_MAX_EPS_IQ1_M) {
			scales[ib] = 0;
			shifts[ib] = 0;
			continue;
		}
		sort_idx(xb, 16, idx);
		px[0][0] = px[1][0] = 0;
		pw[0][0] = pw[1][0] = 0;
		for (j = 0; j < 16; j++) {
			int i = idx[j];

			h = i < 8 ? 0 : 1;
			px[h][j + 1] = px[h][j] + weight[i] * xb[i];
			px[1 - h][j + 1] = px[1 - h][j];
			pw[h][j + 1] = pw[h][j] + weight[i];
			pw[1 - h][j + 1] = pw[1 - h][j];
		}
		txs[0] = px[0][16];
		txs[1] = px[1][16];
		tws[0] = pw[0][16];
		tws[1] = pw[1][16];
		p2 = shift_p[2];
		m2 = shift_m[2];
		cp1 = shift_p[0] * shift_p[0] - shift_p[1] * shift_p[1];
		cp2 = shift_p[1] * shift_p[1] - shift_p[2] * shift_p[2];
		cm1 = shift_m[0] * shift_m[0] - shift_m[1] * shift_m[1];
		cm2 = shift_m[1] * shift_m[1] - shift_m[2] * shift_m[2];
		for (i1 = 0; i1 <= 16; i1++)
			for (i2 = i1; i2 <= 16; i2++) {
				float qx_p[2], qx_m[2], q2_p[2], q2_m[2];
				float sqx[4], sq2[4];

				for (h = 0; h < 2; h++) {
					float sx = px[h][i1] + px[h][i2];

					qx_p[h] = txs[h] * p2 - sx;
					qx_m[h] = txs[h] * m2 - sx;
					q2_p[h] = tws[h] * p2 * p2 +
					    pw[h][i1] * cp1 + pw[h][i2] * cp2;
					q2_m[h] = tws[h] * m2 * m2 +
					    pw[h][i1] * cm1 + pw[h][i2] * cm2;
				}
				sqx[0] = qx_p[0] + qx_p[1];
				sqx[1] = qx_p[0] + qx_m[1];
				sqx[2] = qx_m[0] + qx_p[1];
				sqx[3] = qx_m[0] + qx_m[1];
				sq2[0] = q2_p[0] + q2_p[1];
				sq2[1] = q2_p[0] + q2_m[1];
				sq2[2] = q2_m[0] + q2_p[1];
				sq2[3] = q2_m[0] + q2_m[1];
				for (k = 0; k < 4; k++)
					if (sq2[k] > 0 && sqx[k] * sqx[k] >
					    best * sq2[k]) {
						scale = sqx[k] / sq2[k];
						best = scale * sqx[k];
						b1 = i1;
						b2 = i2;
						best_k = k;
					}
			}
		if (b1 < 0 || b2 < 0 || best_k < 0) {
			scales[ib] = 0;
			shifts[ib] = 0;
			continue;
		}
		for (j = 0; j < 16; j++)
			L[idx[j]] = (int8_t)(j < b1 ? 0 : j < b2 ? 1 : 2);
		if (scale < 0) {
			for (j = 0; j < 16; j++)
				L[j] = (int8_t)(2 - L[j]);
			scale = -scale;
			best_k = 3 - best_k;	/* both signs flip */
		}
		for (k = 0; k < 2; k++) {
			xx = (k == 0 ? best_k < 2 : best_k % 2 == 0) ?
			    shift_p : shift_m;
			index[k] = (uint16_t)point(L + 8 * k, xb + 8 * k,
			    weight + 8 * k, scale, xx, &all_on);
		}
		if (!all_on) {
			float sqx = 0, sq2 = 0;

			for (k = 0; k < 2; k++) {
				const uint8_t *pl = tq_iq__levels(IQ_LAT_1S,
				    index[k]);

				xx = (k == 0 ? best_k < 2 : best_k % 2 == 0) ?
				    shift_p : shift_m;
				for (j = 0; j < 8; j++) {
					float w = weight[8 * k + j];
					float q = xx[pl[j]];

					sqx += w * q * xb[8 * k + j];
					sq2 += w * q * q;
				}
			}
			if (sqx > 0 && sq2 > 0)
				scale = sqx / sq2;
		}
		qs[2 * ib] = (uint8_t)(index[0] & 255);
		qs[2 * ib + 1] = (uint8_t)(index[1] & 255);
		qh[ib] = (uint8_t)((index[0] >> 8) | ((index[1] >> 8) << 4));
		scales[ib] = scale;
		shifts[ib] = (int8_t)best_k;
		max_scale = MAX(max_scale, scale);
	}
	if (!max_scale)
		return;
	d = max_scale / 15;
	id = 1 / d;
	for (ib = 0; ib < QK_K / 16; ib++) {
		const float *xb = xbl + 16 * ib, *xx;
		int l = tq_gguf__odd_level(id, scales[ib], 7);

		sc[ib / 4] |= (uint16_t)(l << 3 * (ib % 4));
		qh[ib] |= masks[shifts[ib]];
		weights(xb, imp != NULL ? imp + 16 * ib : NULL, sigma2, 16, 1,
		    weight);
		for (k = 0; k < 2; k++) {
			const uint8_t *pl = tq_iq__levels(IQ_LAT_1S,
			    qs[2 * ib + k] | ((qh[ib] << (8 - 4 * k)) & 0x700));

			xx = (k == 0 ? shifts[ib] < 2 : shifts[ib] % 2 == 0) ?
			    shift_p : shift_m;
			for (j = 0; j < 8; j++) {
				float w = weight[8 * k + j];
				float q = xx[pl[j]] * (2 * l + 1);

				sumqx_f += w * q * xb[8 * k + j];
				sumq2_f += w * q * q;
			}
		}
	}
	if (sumq2_f > 0)
		d = sumqx_f / sumq2_f;
	u = tq_f32_to_f16(d * 1.1125f);
	sc[0] |= (uint16_t)((u & 0x000f) << 12);
	sc[1] |= (uint16_t)((u & 0x00f0) << 8);
	sc[2] |= (uint16_t)((u & 0x0f00) << 4);
	sc[3] |= (uint16_t)(u & 0xf000);
	for (j = 0; j < 4; j++)
		put16(scb + 2 * j, sc[j]);
}

/* ---- Codes <-> blocks ----------------------------------------------- */

/* A group's codes (levels 0..2, the value plus 1) from its point. */
static void
group_codes(int p, uint8_t *L)
{
	memcpy(L, tq_iq__levels(IQ_LAT_1S, p), 8);
}

/* A group's point from its codes (0 if none: only checked codes pack). */
static int
group_point(const uint8_t *L)
{
	int8_t l[8];
	int i, p;

	for (i = 0; i < 8; i++)
		l[i] = (int8_t)(L[i] > 2 ? 2 : L[i]);
	p = tq_iq__find(IQ_LAT_1S, l);
	return p < 0 ? 0 : p;
}

/*
 * IQ1_S header: d; scales[ib] the top 4 bits of qh[ib] (the level, then
 * the shift's sign).
 */
void
tq_gguf__unpack_iq1_s(int has_min, int hbit, const uint8_t *in,
    gguf_hdr *h, uint8_t *L)
{
	const uint8_t *qs = in + 2, *qh = in + 2 + QK_K / 8;
	int ib, k;

	(void)has_min, (void)hbit;
	memset(h, 0, sizeof(*h));
	h->d = get16(in);
	for (ib = 0; ib < QK_K / 32; ib++) {
		uint16_t q = get16(qh + 2 * ib);

		h->scales[ib] = (uint8_t)(q >> 12);
		for (k = 0; k < 4; k++)
			group_codes(qs[4 * ib + k] | ((q >> 3 * k) & 7) << 8,
			    L + 32 * ib + 8 * k);
	}
}

void
tq_gguf__pack_iq1_s(int has_min, int hbit, const gguf_hdr *h,
    const uint8_t *L, uint8_t *out)
{
	uint8_t *qs = out + 2, *qh = out + 2 + QK_K / 8;
	int ib, k;

	(void)has_min, (void)hbit;
	put16(out, h->d);
	for (ib = 0; ib < QK_K / 32; ib++) {
		uint16_t q = (uint16_t)((h->scales[ib] & 15) << 12);

		for (k = 0; k < 4; k++) {
			int p = group_point(L + 32 * ib + 8 * k);

			qs[4 * ib + k] = (uint8_t)(p & 255);
			q |= (uint16_t)((p >> 8) << 3 * k);
		}
		put16(qh + 2 * ib, q);
	}
}

/*
 * IQ1_M header: d the fp16 assembled from the scales' top nibbles;
 * scales[0..7] the block's scale bytes as stored; scales[8..11] the 32
 * groups' shift signs, bit g of the little-endian u32 for group g.
 */
void
tq_gguf__unpack_iq1_m(int has_min, int hbit, const uint8_t *in,
    gguf_hdr *h, uint8_t *L)
{
	const uint8_t *qs = in, *qh = in + QK_K / 8, *scb = qh + QK_K / 16;
	uint16_t sc[4];
	uint32_t neg = 0;
	int g;

	(void)has_min, (void)hbit;
	memset(h, 0, sizeof(*h));
	for (g = 0; g < 4; g++)
		sc[g] = get16(scb + 2 * g);
	h->d = (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) |
	    ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
	memcpy(h->scales, scb, QK_K / 32);
	for (g = 0; g < QK_K / 8; g++) {
		uint8_t b = qh[g / 2] >> 4 * (g % 2);

		group_codes(qs[g] | (b & 7) << 8, L + 8 * g);
		neg |= (uint32_t)(b >> 3 & 1) << g;
	}
	for (g = 0; g < 4; g++)
		h->scales[8 + g] = (uint8_t)(neg >> 8 * g);
}

void
tq_gguf__pack_iq1_m(int has_min, int hbit, const gguf_hdr *h,
    const uint8_t *L, uint8_t *out)
{
	uint8_t *qs = out, *qh = out + QK_K / 8, *scb = qh + QK_K / 16;
	int g;

	(void)has_min, (void)hbit;
	memset(qh, 0, QK_K / 16);
	memcpy(scb, h->scales, QK_K / 32);
	for (g = 0; g < QK_K / 8; g++) {
		int p = group_point(L + 8 * g);
		int neg = h->scales[8 + g / 8] >> (g % 8) & 1;

		qs[g] = (uint8_t)(p & 255);
		qh[g / 2] |= (uint8_t)(((p >> 8) | neg << 3) << 4 * (g % 2));
	}
}

int
tq_iq1__bad(const uint8_t *L)
{
	int g, i;

	for (g = 0; g < QK_K / 8; g++) {
		int8_t l[8];

		for (i = 0; i < 8; i++) {
			if (L[8 * g + i] > 2)
				return 8 * g;
			l[i] = (int8_t)L[8 * g + i];
		}
		if (tq_iq__find(IQ_LAT_1S, l) < 0)
			return 8 * g;
	}
	return -1;
}

/* ---- The table's entries ------------------------------------------- */

GGUF_QUANT_BY_BLOCK(tq_iq1__quant_s, s_block, blk_iq1_s, iq1_s)
GGUF_QUANT_BY_BLOCK(tq_iq1__quant_m, m_block, blk_iq1_m, iq1_m)

/* A group of 8 columns on grid g (step and shifted values). */
static void
round8(const tq_grid *g, const float *x, const float *w, uint8_t *L)
{
	group_codes(tq_iq__round_point(IQ_LAT_1S, g->scale, g->table, x, w),
	    L);
}

void
tq_iq1__round_s(const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L)
{
	tq_grid g;

	tq_iq1__grid_s(h, j, &g);
	round8(&g, x, w, L);
}

void
tq_iq1__round_m(const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L)
{
	tq_grid g;

	tq_iq1__grid_m(h, j, &g);
	round8(&g, x, w, L);
}

void
tq_iq1__grid_s(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	int s = h->scales[j / 32];

	g->scale = tq_f16_to_f32(h->d) * (2 * (s & 7) + 1);
	g->table = s & 8 ? shift_m : shift_p;
}

void
tq_iq1__grid_m(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	int i16 = (int)(j / 16), grp = (int)(j / 8);
	int sc = h->scales[2 * (i16 / 4)] | h->scales[2 * (i16 / 4) + 1] << 8;
	int ls = sc >> 3 * (i16 % 4) & 7;

	g->scale = tq_f16_to_f32(h->d) * (2 * ls + 1);
	g->table = h->scales[8 + grp / 8] >> (grp % 8) & 1 ? shift_m :
	    shift_p;
}
