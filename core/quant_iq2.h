/*
 * quant_iq2.h: the IQ2_XXS, IQ2_XS and IQ2_S rows of core/quant_gguf.c's
 * table of types (core/quant_iq2.c), and the lattice search they share
 * with IQ1_S and IQ1_M (core/quant_iq1.c).
 *
 * These i-quants round 8 columns jointly onto a codebook (a "lattice",
 * ggml's kgrid): a group of 8 stores one codebook index (and, for IQ2,
 * signs) instead of 8 independent levels.  A tq_qtensor still holds one
 * code per column, on a per-column table grid:
 *
 *   IQ2_*  code 0..5 = the signed magnitude -43, -25, -8, 8, 25, 43 (the
 *          grid bytes 0x2b, 0x19, 0x08 negated, then as they are), the
 *          value d * (0.5 + ls) * 0.25 times it, ls the 4-bit scale of
 *          the column's 32 (IQ2_XXS) or 16 (IQ2_XS, IQ2_S) columns;
 *   IQ1_*  code 0..2 = the grid value -1, 0, 1, the value
 *          d * (2 ls + 1) * (v + delta), delta = +-1/8 per 32 (IQ1_S) or
 *          per 8 (IQ1_M) columns.
 *
 * so every code dequantizes through tq_grid_value() to ggml's dequantize_
 * row_* value, bit for bit.  Not every combination of codes is a block:
 * each 8 columns' magnitudes must be a codebook point and, for IQ2_XXS and
 * IQ2_XS, their count of negative signs even (the eighth sign is implied);
 * tq_gguf_bad_codes() checks that, and no column-by-column rounding may
 * choose codes: the types' own searches (RTN) and GPTQ's group-wise
 * rounding (tq_iq2__round_*) produce them.
 */
#ifndef TQ_CORE_QUANT_IQ2_H
#define TQ_CORE_QUANT_IQ2_H

#include "quant_gguf_blk.h"

/* The searches, as the table's quantize (sigma2 and nmax unused). */
gguf_quant_fn tq_iq2__quant_xxs, tq_iq2__quant_xs, tq_iq2__quant_s;

/* A column's grid: the six signed magnitudes times its sub-block's step. */
gguf_grid_fn tq_iq2__grid_xxs, tq_iq2__grid_xs;	/* and S */

/*
 * The codes L[8] of columns j .. j + 7 (j a multiple of 8) of a block with
 * header h, chosen jointly for the values x[8] under weights w[8]: the
 * signs of x (IQ2_XXS, IQ2_XS: with an odd count of negatives, the one of
 * least w x^2 flipped, as ggml does), each magnitude's nearest level at
 * the block's step, and where those are no codebook point, the point
 * among their neighbours of least weighted squared error.  What GPTQ
 * rounds a group onto.
 */
gguf_round_fn tq_iq2__round_xxs, tq_iq2__round_xs, tq_iq2__round_s;

/*
 * -1 when the codes L[QK_K] of a block lie on the type's lattice (so the
 * block packs), else the first column of the first group of 8 that does
 * not.
 */
gguf_bad_fn tq_iq2__bad_xxs, tq_iq2__bad_xs, tq_iq2__bad_s;

/* ---- The lattices (ggml's kgrid, kmap and kneighbors) ---------------- */

/* Which codebook: IQ2_XXS's 256 points, IQ2_XS's 512, IQ2_S's 1024, and
   the 2048 of IQ1_S and IQ1_M. */
typedef enum iq_lat {
	IQ_LAT_2XXS = 0,
	IQ_LAT_2XS,
	IQ_LAT_2S,
	IQ_LAT_1S,
	IQ_LAT_COUNT
} iq_lat;

/*
 * The lattice's point with levels l[8] (each 0..2: the magnitude index
 * of IQ2, the value plus 1 of IQ1), or -1 when no point has them.
 */
int tq_iq__find(iq_lat k, const int8_t *l);

/* The levels (0..2) of point p. */
const uint8_t *tq_iq__levels(iq_lat k, int p);

/*
 * The candidates ggml searches for levels l[8] that are not a point: the
 * points at the nwant smallest distances from them (nwant 2, 2, 1 and 3
 * for the four lattices; the distance of the odd coordinates 2l + 1), by
 * distance, then index.  Returns their count and a pointer to them: the
 * table made at first use, or buf[2048] filled when that could not be
 * allocated.
 */
const uint16_t *tq_iq__neighbours(iq_lat k, const int8_t *l, int *n,
    uint16_t *buf);

/*
 * The neighbour of levels l[8] (not a point) nearest x[8] at step s on
 * the values val[3] (ggml's iq2_find_best_neighbour, iq1_find_best_
 * neighbour2): the first of least sum w (s val[l] - x)^2.  Writes its
 * levels to l and returns it.
 */
int tq_iq__best_neighbour(iq_lat k, int8_t *l, const float *x,
    const float *w, float s, const float *val);

/*
 * The point of lattice k for the values x[8] at step s on the three
 * values val[3] (IQ2: the magnitudes of |x|; IQ1: -1, 0, 1 plus the
 * shift): each x to its nearest value, and where those levels are no
 * point, the neighbour of least sum w (s val - x)^2 (the first of equals).
 * What GPTQ rounds a group of 8 onto.
 */
int tq_iq__round_point(iq_lat k, float s, const float *val, const float *x,
    const float *w);

#endif /* TQ_CORE_QUANT_IQ2_H */
