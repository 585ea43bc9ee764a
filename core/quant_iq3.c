/*
 * quant_iq3.c: the GGUF i-quants IQ3_XXS (3.0625 bits per weight) and
 * IQ3_S (3.4375): super-blocks of 256 with an fp16 d and a 4-bit scale
 * per 32 columns, whose columns are coded 4 at a time as one point of a
 * fixed lattice codebook (core/iq_grids.c: 256 points for IQ3_XXS, 512
 * for IQ3_S, each a 4-vector of the 8 odd levels 1, 3, .., 15) plus a
 * sign per column.  The search, the grid of a column, the block layouts
 * and the lattice check, reached through core/quant_gguf.c's table of
 * types.
 *
 * The search is ggml's quantize_row_iq3_xxs_impl / quantize_row_iq3_s_impl
 * as llama-quantize runs them (with or without an importance matrix),
 * expression for expression, so the blocks are byte-identical.  Its tables
 * (ggml's iq3xs_init_impl: the lattice index of each of the 8^4 level
 * vectors, and for each vector off the lattice its neighbours, the points
 * at the 2 (IQ3_XXS) or 3 (IQ3_S) smallest squared distances, ordered by
 * distance then index) are built here from the codebooks at first use,
 * once, under pthread_once.  The search writes the block's bytes as ggml
 * does, quirks included (IQ3_S skips an all-zero 32-column sub-block
 * without advancing its index and sign pointers, so the sub-blocks after
 * it land one place early), and the codes are what those bytes decode to.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "iq_grids.h"
#include "quant_iq3.h"
#include "tensor.h"

#include "no_fma.h"

#define SUB 32			/* columns per sub-block scale */
#define NSUB (QK_K / SUB)
#define KMAXQ 8			/* levels 0..7, values 2l + 1 */
#define NPTS 4096		/* 8^4 level vectors */
#define EPS_XXS 1e-8f		/* ggml's GROUP_MAX_EPS_IQ3_XXS */

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* The neighbour lists' total lengths (the codebooks are fixed). */
#define NB_XXS 18985
#define NB_S 24733

typedef struct iq3_tab {
	int n;			/* points: 256 or 512 */
	int nwant;		/* distinct distances kept: 2 or 3 */
	int8_t lv[512][4];	/* each point's levels 0..7 */
	int16_t map[NPTS];	/* a level vector's point, or -1 */
	uint32_t nb_off[NPTS];	/* off the lattice: its neighbours at */
	uint16_t nb_n[NPTS];	/* nb[nb_off .. + nb_n] */
	uint16_t *nb;
} iq3_tab;

static uint16_t nb_xxs[NB_XXS], nb_s[NB_S];
static iq3_tab tab_xxs = { 256, 2, { { 0 } }, { 0 }, { 0 }, { 0 }, nb_xxs };
static iq3_tab tab_s = { 512, 3, { { 0 } }, { 0 }, { 0 }, { 0 }, nb_s };
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The level of an IQ3_XXS codebook byte: 4, 12, .., 52 and 62. */
static int
xxs_level(uint8_t b)
{
	return b >= 60 ? 7 : (b - 4) / 8;
}

static uint16_t
vec_index(const int8_t *l)
{
	return (uint16_t)(l[0] | (l[1] << 3) | (l[2] << 6) | (l[3] << 9));
}

/* ggml's iq3xs_init_impl for one codebook. */
static void
tab_build(iq3_tab *t, size_t cap)
{
	int d2[512], i, j, k;
	uint32_t off = 0;

	for (j = 0; j < t->n; j++)
		for (k = 0; k < 4; k++)
			t->lv[j][k] = (int8_t)(t->n == 256 ?
			    xxs_level(tq_iq3xxs_grid[j][k]) :
			    (tq_iq3s_grid[j][k] - 1) / 2);
	for (i = 0; i < NPTS; i++)
		t->map[i] = -1;
	for (j = 0; j < t->n; j++)
		t->map[vec_index(t->lv[j])] = (int16_t)j;
	for (i = 0; i < NPTS; i++) {
		int dist[3], nd = 0, m;

		t->nb_off[i] = off;
		t->nb_n[i] = 0;
		if (t->map[i] >= 0)
			continue;
		for (j = 0; j < t->n; j++) {
			d2[j] = 0;
			for (k = 0; k < 4; k++) {
				int p = 2 * ((i >> 3 * k) & 7) + 1;
				int q = 2 * t->lv[j][k] + 1;

				d2[j] += (q - p) * (q - p);
			}
		}
		/* the nwant smallest distinct distances, ascending */
		while (nd < t->nwant) {
			int best = -1;

			for (j = 0; j < t->n; j++)
				if ((nd == 0 || d2[j] > dist[nd - 1]) &&
				    (best < 0 || d2[j] < best))
					best = d2[j];
			if (best < 0)
				break;
			dist[nd++] = best;
		}
		/* sorted by (distance, index), as ggml's qsort orders them */
		for (m = 0; m < nd; m++)
			for (j = 0; j < t->n; j++)
				if (d2[j] == dist[m] && off < cap) {
					t->nb[off++] = (uint16_t)j;
					t->nb_n[i]++;
				}
	}
}

static void
tabs_build(void)
{
	tab_build(&tab_xxs, NB_XXS);
	tab_build(&tab_s, NB_S);
}

static const iq3_tab *
tab(int xxs)
{
	pthread_once(&once, tabs_build);
	return xxs ? &tab_xxs : &tab_s;
}

/* ---- The search ------------------------------------------------------- */

/*
 * ggml's iq3_find_best_neighbour: of the neighbours of level vector u, the
 * one of least weighted squared error against xval[4] at scale (the first
 * of equals); L[4] gets its levels.
 */
static int
best_neighbour(const iq3_tab *t, uint16_t u, const float *xval,
    const float *weight, float scale, int8_t *L)
{
	const uint16_t *nb = t->nb + t->nb_off[u];
	float best_d2 = FLT_MAX;
	int grid_index = nb[0], j, i;

	for (j = 0; j < t->nb_n[u]; j++) {
		const int8_t *lv = t->lv[nb[j]];
		float d2 = 0;

		for (i = 0; i < 4; i++) {
			float q = (float)(2 * lv[i] + 1);
			float diff = scale * q - xval[i];

			d2 += weight[i] * diff * diff;
		}
		if (d2 < best_d2) {
			best_d2 = d2;
			grid_index = nb[j];
		}
	}
	for (i = 0; i < 4; i++)
		L[i] = t->lv[grid_index][i];
	return grid_index;
}

/* The level vector of xval[4] at inverse scale id, clamped to 0..7. */
static uint16_t
levels_at(float id, const float *xval, int8_t *L)
{
	int i;

	for (i = 0; i < 4; i++) {
		int l = tq_round_even(0.5f * (id * xval[i] - 1));

		L[i] = (int8_t)MAX(0, MIN(KMAXQ - 1, l));
	}
	return vec_index(L);
}

/* sum w x q and sum w q^2 over a sub-block, q = 2 L + 1. */
static void
sums(const float *weight, const float *xval, const int8_t *L, float *sumqx,
    float *sumq2)
{
	int i;

	*sumqx = *sumq2 = 0;
	for (i = 0; i < SUB; i++) {
		float w = weight[i];
		float q = (float)(2 * L[i] + 1);

		*sumqx += w * xval[i] * q;
		*sumq2 += w * q * q;
	}
}

/*
 * The scale and levels L[32] of one sub-block: 2 * nis + 1 inverse
 * scales, each group of 4 off the lattice moved to its best neighbour,
 * the best weighted fit kept; then, if a group of that fit was off the
 * lattice, the groups off it (redo_all, IQ3_S: every group, as ggml)
 * re-rounded at that scale and the scale refitted.  ggml's is_on_grid
 * starts true for IQ3_XXS and false for IQ3_S: !redo_all.
 */
static float
sub_search(const iq3_tab *t, int nis, int redo_all, const float *weight,
    const float *waux, const float *xval, float max, int8_t *L)
{
	int8_t Laux[SUB];
	int on[SUB / 4], on_aux[SUB / 4];
	float best = 0, scale = max / (2 * KMAXQ - 1), sumqx, sumq2;
	int is, k, n_off = 0;

	for (k = 0; k < SUB / 4; k++)
		on[k] = !redo_all;
	for (is = -nis; is <= nis; ++is) {
		float id = (2 * KMAXQ - 1 + is * 0.2f) / max;
		float this_scale = 1 / id;

		for (k = 0; k < SUB / 4; k++) {
			uint16_t u = levels_at(id, xval + 4 * k, Laux + 4 * k);

			on_aux[k] = t->map[u] >= 0;
			if (!on_aux[k])
				best_neighbour(t, u, xval + 4 * k,
				    waux + 4 * k, this_scale, Laux + 4 * k);
		}
		sums(weight, xval, Laux, &sumqx, &sumq2);
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			scale = sumqx / sumq2;
			best = scale * sumqx;
			memcpy(L, Laux, SUB);
			memcpy(on, on_aux, sizeof(on));
		}
	}
	for (k = 0; k < SUB / 4; k++)
		n_off += !on[k];
	if (n_off > 0 && scale > 0) {
		float id = 1 / scale;

		for (k = 0; k < SUB / 4; k++) {
			int8_t l4[4];
			uint16_t u;
			int gi, i;

			if (on[k] && !redo_all)
				continue;
			u = levels_at(id, xval + 4 * k, l4);
			gi = t->map[u];
			if (gi < 0)
				gi = best_neighbour(t, u, xval + 4 * k,
				    waux + 4 * k, scale, L + 4 * k);
			for (i = 0; i < 4; i++)
				L[4 * k + i] = t->lv[gi][i];
		}
		sums(weight, xval, L, &sumqx, &sumq2);
		if (sumq2 > 0)
			scale = sumqx / sumq2;
	}
	return scale;
}

/* ggml's weights of a sub-block: imp * sqrt(sigma2 + x^2), or x^2. */
static void
sub_weights(const float *xb, const float *qw, float sigma2, float *weight,
    float *waux)
{
	int i;

	for (i = 0; i < SUB; i++)
		weight[i] = qw != NULL ? qw[i] * sqrtf(sigma2 + xb[i] * xb[i]) :
		    xb[i] * xb[i];
	for (i = 0; i < SUB; i++)
		waux[i] = sqrtf(weight[i]);
}

/*
 * What both searches do first with sub-block ib of x[QK_K]: its weights
 * (sub_weights), its magnitudes xval[SUB] and the sign bits of each 8 in
 * signs[4] (tq_gguf__signs8; IQ3_XXS, parity: the 7 it stores, the count
 * made even).  Returns the largest magnitude.
 */
static float
sub_prep(const float *x, const float *imp, float sigma2, int ib,
    int parity, float *weight, float *waux, float *xval, uint8_t *signs)
{
	const float *xb = x + SUB * ib;
	float max;
	int k, i;

	sub_weights(xb, imp != NULL ? imp + SUB * ib : NULL, sigma2, weight,
	    waux);
	for (k = 0; k < 4; k++) {
		signs[k] = tq_gguf__signs8(xb + 8 * k,
		    parity ? weight + 8 * k : NULL, xval + 8 * k, parity);
		if (parity)
			signs[k] &= 127;
	}
	max = xval[0];
	for (i = 1; i < SUB; i++)
		max = MAX(max, xval[i]);
	return max;
}

/* ggml's quantize_row_iq3_xxs_impl on one super-block, into out[98]. */
static void
xxs_bytes(const float *x, const float *imp, uint8_t *out)
{
	const iq3_tab *t = tab(1);
	float scales[NSUB], weight[SUB], waux[SUB], xval[SUB];
	float max_scale = 0, d, id;
	float sigma2 = 2 * tq_gguf__sum_sq(x, QK_K) / QK_K;
	uint32_t sas[NSUB];
	uint8_t q3[QK_K / 4];
	int8_t L[SUB];
	int ib, k, i;

	memset(q3, 0, sizeof(q3));
	memset(sas, 0, sizeof(sas));
	for (ib = 0; ib < NSUB; ib++) {
		uint8_t block_signs[4];
		float max, scale;

		max = sub_prep(x, imp, sigma2, ib, 1, weight, waux, xval,
		    block_signs);
		memset(L, 0, sizeof(L));
		if (max < EPS_XXS) {
			scales[ib] = 0;
			continue;
		}
		scale = sub_search(t, 15, 0, weight, waux, xval, max, L);
		if (scale < 0) {	/* "should never happen" (ggml) */
			scale = -scale;
			for (k = 0; k < 4; k++)
				block_signs[k] = (uint8_t)(~block_signs[k] & 127);
		}
		for (k = 0; k < SUB / 4; k++)
			q3[8 * ib + k] = (uint8_t)t->map[vec_index(L + 4 * k)];
		sas[ib] = block_signs[0] | ((uint32_t)block_signs[1] << 7) |
		    ((uint32_t)block_signs[2] << 14) |
		    ((uint32_t)block_signs[3] << 21);
		scales[ib] = scale;
		max_scale = MAX(max_scale, scale);
	}
	memset(out, 0, sizeof(blk_iq3_xxs));
	if (!max_scale)
		return;
	d = max_scale / 31;
	put16(out, tq_f32_to_f16(d * 1.0125f));
	id = 1 / d;
	for (ib = 0; ib < NSUB; ib++)
		sas[ib] |= (uint32_t)tq_gguf__odd_level(id, scales[ib],
		    15) << 28;
	memcpy(out + 2, q3, sizeof(q3));
	for (ib = 0; ib < NSUB; ib++)
		for (i = 0; i < 4; i++)
			out[2 + QK_K / 4 + 4 * ib + i] =
			    (uint8_t)(sas[ib] >> 8 * i);
}

/* ggml's quantize_row_iq3_s_impl (sub-blocks of 32), into out[110]. */
static void
s_bytes(const float *x, const float *imp, uint8_t *out)
{
	const iq3_tab *t = tab(0);
	blk_iq3_s y;
	float scales[NSUB], weight[SUB], waux[SUB], xval[SUB];
	float max_scale = 0, d, id;
	float sigma2 = 2 * tq_gguf__sum_sq(x, QK_K) / QK_K;
	uint8_t *qs = y.qs, *signs = y.signs;
	int8_t L[SUB];
	int ib, k;

	memset(&y, 0, sizeof(y));
	for (ib = 0; ib < NSUB; ib++) {
		uint8_t block_signs[4];
		float max, scale;

		max = sub_prep(x, imp, sigma2, ib, 0, weight, waux, xval,
		    block_signs);
		memset(L, 0, sizeof(L));
		if (!max) {
			/* ggml moves neither qs nor signs on (see the top) */
			scales[ib] = 0;
			continue;
		}
		scale = sub_search(t, 9, 1, weight, waux, xval, max, L);
		if (scale < 0) {
			scale = -scale;
			for (k = 0; k < 4; k++)
				block_signs[k] = (uint8_t)~block_signs[k];
		}
		for (k = 0; k < SUB / 4; k++) {
			int gi = t->map[vec_index(L + 4 * k)];

			qs[k] = (uint8_t)(gi & 255);
			y.qh[(ib * 8 + k) / 8] |= (uint8_t)((gi >> 8) <<
			    ((ib * 8 + k) % 8));
		}
		qs += SUB / 4;
		for (k = 0; k < 4; k++)
			signs[k] = block_signs[k];
		signs += 4;
		scales[ib] = scale;
		max_scale = MAX(max_scale, scale);
	}
	if (max_scale) {
		d = max_scale / 31;
		put16(y.d, tq_f32_to_f16(d * 1.033f));
		id = 1 / d;
		for (ib = 0; ib < NSUB; ib += 2)
			y.scales[ib / 2] = (uint8_t)(tq_gguf__odd_level(id,
			    scales[ib], 15) | tq_gguf__odd_level(id,
			    scales[ib + 1], 15) << 4);
	}
	memcpy(out, &y, sizeof(y));
}

GGUF_QUANT_BY_BLOCK(tq_iq3__quant_xxs, xxs_bytes, blk_iq3_xxs, iq3_xxs)
GGUF_QUANT_BY_BLOCK(tq_iq3__quant_s, s_bytes, blk_iq3_s, iq3_s)

/* ---- Codes and grids --------------------------------------------------- */

/* Codes: 7 - l for a negative level l, 8 + l for a positive one. */
static uint8_t
code_of(int level, int neg)
{
	return (uint8_t)(neg ? 7 - level : 8 + level);
}

static int
code_level(uint8_t c)
{
	return c < 8 ? 7 - c : c - 8;
}

/* The ascending values of the codes: the codebooks' bytes, signed. */
static const float xxs_table[16] = {
	-62, -52, -44, -36, -28, -20, -12, -4, 4, 12, 20, 28, 36, 44, 52, 62
};
static const float s_table[16] = {
	-15, -13, -11, -9, -7, -5, -3, -1, 1, 3, 5, 7, 9, 11, 13, 15
};

static int
sub_scale(const gguf_hdr *h, int ib)
{
	return (h->scales[ib / 2] >> 4 * (ib % 2)) & 0xf;
}

/* IQ3_XXS: d (0.5 + ls) / 2 times the codebook's 4, 12, .., 62. */
void
tq_iq3__grid_xxs(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	g->scale = tq_f16_to_f32(h->d) * (0.5f + sub_scale(h, (int)(j / SUB))) *
	    0.5f;
	g->table = xxs_table;
}

/* IQ3_S: d (1 + 2 ls) times 1, 3, .., 15. */
void
tq_iq3__grid_s(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	g->scale = tq_f16_to_f32(h->d) *
	    (float)(1 + 2 * sub_scale(h, (int)(j / SUB)));
	g->table = s_table;
}

/* The point of the 4 codes at L, or -1 off the lattice. */
static int
point_of(const iq3_tab *t, const uint8_t *L)
{
	int8_t l[4];
	int i;

	for (i = 0; i < 4; i++) {
		if (L[i] > 15)
			return -1;
		l[i] = (int8_t)code_level(L[i]);
	}
	return t->map[vec_index(l)];
}

/* ---- Rounding a group (GPTQ) --------------------------------------------- */

static void put_codes(const iq3_tab *t, int gi, unsigned s, uint8_t *L);

static void
round_group(int xxs, const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L)
{
	const iq3_tab *t = tab(xxs);
	const float *mag = (xxs ? xxs_table : s_table) + 8;
	int G = xxs ? 8 : 4, i, k, l, neg = 0, nneg = 0;
	float a[8], sc;
	tq_grid g;

	if (xxs)
		tq_iq3__grid_xxs(h, j, &g);
	else
		tq_iq3__grid_s(h, j, &g);
	sc = g.scale > 0 ? g.scale : 0;
	for (i = 0; i < G; i++) {
		a[i] = x[i] < 0 ? -x[i] : x[i] == x[i] ? x[i] : 0;
		if (x[i] < 0) {
			neg |= 1 << i;
			nneg++;
		}
	}
	if (xxs && nneg % 2) {
		int imin = 0;

		for (i = 1; i < G; i++)
			if (w[i] * x[i] * x[i] < w[imin] * x[imin] * x[imin])
				imin = i;
		neg ^= 1 << imin;
		a[imin] = -a[imin];
	}
	for (k = 0; k < G; k += 4) {
		const float *ak = a + k, *wk = w + k;
		int8_t lv[4];
		int gi;

		for (i = 0; i < 4; i++) {
			float best = FLT_MAX;

			lv[i] = 0;
			for (l = 0; l < KMAXQ && sc > 0; l++) {
				float d = fabsf(sc * mag[l] - ak[i]);

				if (d < best) {
					best = d;
					lv[i] = (int8_t)l;
				}
			}
		}
		gi = t->map[vec_index(lv)];
		if (gi < 0) {
			uint16_t u = vec_index(lv);
			const uint16_t *nb = t->nb + t->nb_off[u];
			float best = FLT_MAX;

			gi = nb[0];
			for (l = 0; l < t->nb_n[u]; l++) {
				float e = 0;

				for (i = 0; i < 4; i++) {
					float d = sc * mag[t->lv[nb[l]][i]] - ak[i];

					e += wk[i] * d * d;
				}
				if (e < best) {
					best = e;
					gi = nb[l];
				}
			}
		}
		put_codes(t, gi, (unsigned)neg >> k, L + k);
	}
}

void
tq_iq3__round_xxs(const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L)
{
	round_group(1, h, j, x, w, L);
}

void
tq_iq3__round_s(const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L)
{
	round_group(0, h, j, x, w, L);
}

static int
bad(const uint8_t *L, int xxs)
{
	const iq3_tab *t = tab(xxs);
	int g, i;

	for (g = 0; g < QK_K; g += 4)
		if (point_of(t, L + g) < 0)
			return g;
	for (g = 0; xxs && g < QK_K; g += 8) {
		int neg = 0;

		for (i = 0; i < 8; i++)
			neg += L[g + i] < 8;
		if (neg % 2)
			return g;
	}
	return -1;
}

int
tq_iq3__bad_xxs(const uint8_t *L)
{
	return bad(L, 1);
}

int
tq_iq3__bad_s(const uint8_t *L)
{
	return bad(L, 0);
}

/* ---- Layouts ----------------------------------------------------------- */

/* The sign bits of 8 codes: bit i set for a negative one. */
static uint8_t
sign_bits(const uint8_t *L)
{
	uint8_t s = 0;
	int i;

	for (i = 0; i < 8; i++)
		if (L[i] < 8)
			s |= (uint8_t)(1 << i);
	return s;
}

/* The codes of point gi under sign bits s (bits 0..3 for it). */
static void
put_codes(const iq3_tab *t, int gi, unsigned s, uint8_t *L)
{
	int i;

	for (i = 0; i < 4; i++)
		L[i] = code_of(t->lv[gi][i], (s >> i) & 1);
}

/*
 * Codes off the lattice (tq_iq3__bad_* says which) pack as point 0; a
 * tq_qtensor that passed tq_qtensor_check() has none.
 */
void
tq_gguf__pack_iq3_xxs(int has_min, int hbit, const gguf_hdr *h,
    const uint8_t *L, uint8_t *out)
{
	const iq3_tab *t = tab(1);
	int ib, k;

	(void)has_min, (void)hbit;
	memset(out, 0, sizeof(blk_iq3_xxs));
	put16(out, h->d);
	for (ib = 0; ib < NSUB; ib++) {
		uint32_t sas = (uint32_t)sub_scale(h, ib) << 28;

		for (k = 0; k < SUB / 4; k++) {
			int gi = point_of(t, L + SUB * ib + 4 * k);

			out[2 + 8 * ib + k] = (uint8_t)(gi < 0 ? 0 : gi);
		}
		for (k = 0; k < 4; k++)
			sas |= (uint32_t)(sign_bits(L + SUB * ib + 8 * k) &
			    127) << 7 * k;
		for (k = 0; k < 4; k++)
			out[2 + QK_K / 4 + 4 * ib + k] = (uint8_t)(sas >> 8 * k);
	}
}

void
tq_gguf__unpack_iq3_xxs(int has_min, int hbit, const uint8_t *in,
    gguf_hdr *h, uint8_t *L)
{
	const iq3_tab *t = tab(1);
	int ib, l;

	(void)has_min, (void)hbit;
	memset(h, 0, sizeof(*h));
	h->d = get16(in);
	for (ib = 0; ib < NSUB; ib++) {
		const uint8_t *a = in + 2 + QK_K / 4 + 4 * ib;
		uint32_t aux = (uint32_t)a[0] | (uint32_t)a[1] << 8 |
		    (uint32_t)a[2] << 16 | (uint32_t)a[3] << 24;

		h->scales[ib / 2] |= (uint8_t)((aux >> 28) << 4 * (ib % 2));
		for (l = 0; l < 4; l++) {
			unsigned s = tq_iq2_ksigns[(aux >> 7 * l) & 127];
			uint8_t *c = L + SUB * ib + 8 * l;

			put_codes(t, in[2 + 8 * ib + 2 * l], s, c);
			put_codes(t, in[2 + 8 * ib + 2 * l + 1], s >> 4, c + 4);
		}
	}
}

void
tq_gguf__pack_iq3_s(int has_min, int hbit, const gguf_hdr *h,
    const uint8_t *L, uint8_t *out)
{
	const iq3_tab *t = tab(0);
	blk_iq3_s b;
	int ib, k;

	(void)has_min, (void)hbit;
	memset(&b, 0, sizeof(b));
	put16(b.d, h->d);
	memcpy(b.scales, h->scales, sizeof(b.scales));
	for (ib = 0; ib < NSUB; ib++) {
		for (k = 0; k < SUB / 4; k++) {
			int gi = point_of(t, L + SUB * ib + 4 * k);

			gi = gi < 0 ? 0 : gi;
			b.qs[8 * ib + k] = (uint8_t)(gi & 255);
			b.qh[ib] |= (uint8_t)((gi >> 8) << k);
		}
		for (k = 0; k < 4; k++)
			b.signs[4 * ib + k] = sign_bits(L + SUB * ib + 8 * k);
	}
	memcpy(out, &b, sizeof(b));
}

void
tq_gguf__unpack_iq3_s(int has_min, int hbit, const uint8_t *in, gguf_hdr *h,
    uint8_t *L)
{
	const iq3_tab *t = tab(0);
	blk_iq3_s b;
	int ib, k;

	(void)has_min, (void)hbit;
	memcpy(&b, in, sizeof(b));
	memset(h, 0, sizeof(*h));
	h->d = get16(b.d);
	memcpy(h->scales, b.scales, sizeof(b.scales));
	for (ib = 0; ib < NSUB; ib++)
		for (k = 0; k < SUB / 4; k++) {
			int gi = b.qs[8 * ib + k] | (((b.qh[ib] >> k) & 1) << 8);

			put_codes(t, gi, (unsigned)b.signs[4 * ib + k / 2] >>
			    4 * (k % 2), L + SUB * ib + 4 * k);
		}
}
