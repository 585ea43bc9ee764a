/*
 * quant_iq4.c: the GGUF i-quants IQ4_NL (blocks of 32, fp16 d) and IQ4_XS
 * (super-blocks of 256: fp16 d and a 6-bit scale per 32-column
 * sub-block), whose 4-bit codes index one fixed non-uniform table
 * (ggml's kvalues_iq4nl) instead of an integer range: the search, the
 * grid of a column and the block layouts, reached through core/quant_gguf.c's
 * table of types.
 *
 * The search is ggml's quantize_row_iq4_nl_impl as llama-quantize runs it
 * (quantize_iq4_nl / quantize_iq4_xs, 7 tries either side, with or without
 * an importance matrix), expression for expression, so the blocks are
 * byte-identical; as for the legacy types, ggml picks the codes with the
 * fp32 scale before it is rounded to fp16, so tq_grid_round() on the
 * decoded grid can differ from the search's codes at a near-tie (RTN
 * writes the search's codes).
 */
#include "config.h"

#include <math.h>

#include "quant_iq4.h"
#include "tensor.h"

#include "no_fma.h"

#define GROUP_MAX_EPS 1e-15f	/* ggml's "all zero" threshold */
#define NTRY 7			/* scales tried either side of the first */
#define SUB 32			/* columns per sub-block scale */

/* The levels, ascending: int8 for the search, float for the grid. */
static const int8_t levels8[16] = {
	-127, -104, -83, -65, -49, -35, -22, -10,
	1, 13, 25, 38, 53, 69, 89, 113
};
static const float levels[16] = {
	-127, -104, -83, -65, -49, -35, -22, -10,
	1, 13, 25, 38, 53, 69, 89, 113
};

/*
 * The level nearest x by bisection, a tie going up (ggml's
 * best_index_int8; tq_grid_round's tie rule differs, see quant.h).
 */
static inline int
best_level(float x)
{
	int lo = 0, hi = 15;

	if (x <= levels8[0])
		return 0;
	if (x >= levels8[15])
		return 15;
	while (hi - lo > 1) {
		int mid = (lo + hi) / 2;

		if (x < levels8[mid])
			hi = mid;
		else
			lo = mid;
	}
	return x - levels8[hi - 1] < levels8[hi] - x ? hi - 1 : hi;
}

/*
 * The best scale of one 32-column sub-block x[SUB] under weights w[SUB]:
 * the least-squares scale of the codes of the absmax scale, then of 2 *
 * NTRY + 1 scales around it, the best weighted fit kept.  L gets the
 * codes of the first scale (ggml keeps those for nothing else).
 */
static float
sub_scale(const float *x, const float *w, uint8_t *L)
{
	float amax = 0, max = 0, d, id, sumqx = 0, sumq2 = 0, best;
	int j, itry;

	for (j = 0; j < SUB; j++) {
		float ax = fabsf(x[j]);

		if (ax > amax) {
			amax = ax;
			max = x[j];
		}
	}
	if (amax < GROUP_MAX_EPS)
		return 0;
	d = -max / levels8[0];
	id = 1 / d;
	for (j = 0; j < SUB; j++) {
		int l = best_level(id * x[j]);
		float q = levels8[l];

		L[j] = (uint8_t)l;
		sumqx += w[j] * q * x[j];
		sumq2 += w[j] * q * q;
	}
	d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
	best = d * sumqx;
	for (itry = -NTRY; itry <= NTRY; itry++) {
		id = (itry + levels8[0]) / max;
		sumqx = sumq2 = 0;
		for (j = 0; j < SUB; j++) {
			float q = levels8[best_level(id * x[j])];

			sumqx += w[j] * q * x[j];
			sumq2 += w[j] * q * q;
		}
		if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
			d = sumqx / sumq2;
			best = d * sumqx;
		}
	}
	return d;
}

/*
 * The weights of x[n] (n the whole block: 32 or 256): x^2 without
 * importance, else imp * sqrt(sigma2 + x^2) with sigma2 twice the block's
 * mean square.
 */
static void
weights(const float *x, const float *imp, int n, float *w)
{
	float sigma2 = 0;
	int j;

	for (j = 0; j < n; j++)
		sigma2 += x[j] * x[j];
	sigma2 *= 2.f / n;
	for (j = 0; j < n; j++)
		w[j] = imp != NULL ? imp[j] * sqrtf(sigma2 + x[j] * x[j]) :
		    x[j] * x[j];
}

void
tq_iq4__quant_nl(const float *x, const float *imp, float unused_s2,
    int unused_nmax, gguf_hdr *h, uint8_t *L)
{
	float w[SUB], d, id;
	int j;

	(void)unused_s2, (void)unused_nmax;
	memset(h, 0, sizeof(*h));
	weights(x, imp, SUB, w);
	d = sub_scale(x, w, L);
	h->d = tq_f32_to_f16(d);
	/* the codes of the fp32 scale, as ggml requantizes */
	id = d ? 1 / d : 0;
	for (j = 0; j < SUB; j++)
		L[j] = (uint8_t)best_level(id * x[j]);
}

void
tq_iq4__quant_xs(const float *x, const float *imp, float unused_s2,
    int unused_nmax, gguf_hdr *h, uint8_t *L)
{
	float w[QK_K], scales[QK_K / SUB], max_scale = 0, amax_scale = 0;
	float d, id;
	int ib, j;

	(void)unused_s2, (void)unused_nmax;
	memset(h, 0, sizeof(*h));
	weights(x, imp, QK_K, w);
	for (ib = 0; ib < QK_K / SUB; ib++) {
		scales[ib] = sub_scale(x + SUB * ib, w + SUB * ib,
		    L + SUB * ib);
		if (fabsf(scales[ib]) > amax_scale) {
			amax_scale = fabsf(scales[ib]);
			max_scale = scales[ib];
		}
	}
	/* the largest sub-scale gets level -32; all zero gives d = -0 */
	d = -max_scale / 32;
	h->d = tq_f32_to_f16(d);
	id = d ? 1 / d : 0.f;
	for (ib = 0; ib < QK_K / SUB; ib++) {
		int l = tq_round_even(id * scales[ib]);
		float dl, idl;

		l = l < -32 ? -32 : l > 31 ? 31 : l;
		dl = d * l;
		idl = dl ? 1 / dl : 0.f;
		for (j = 0; j < SUB; j++)
			L[SUB * ib + j] = (uint8_t)best_level(idl *
			    x[SUB * ib + j]);
		l += 32;
		h->scales[ib / 2] |= (uint8_t)((l & 0xf) << 4 * (ib % 2));
		h->dmin |= (uint16_t)((l >> 4) << 2 * ib);
	}
}

/* ---- Grids ---------------------------------------------------------- */

void
tq_iq4__grid_nl(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	(void)j;
	g->scale = tq_f16_to_f32(h->d);
	g->table = levels;
}

/* IQ4_XS: sub-block j / 32 scales d by its 6-bit level minus 32. */
void
tq_iq4__grid_xs(const gguf_hdr *h, int64_t j, tq_grid *g)
{
	int ib = (int)(j / SUB);
	int ls = ((h->scales[ib / 2] >> 4 * (ib % 2)) & 0xf) |
	    (((h->dmin >> 2 * ib) & 3) << 4);

	g->scale = tq_f16_to_f32(h->d) * (ls - 32);
	g->table = levels;
}
