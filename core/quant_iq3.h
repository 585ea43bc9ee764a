/*
 * quant_iq3.h: the IQ3_XXS and IQ3_S rows of core/quant_gguf.c's table of
 * types (core/quant_iq3.c): their searches, grids, block layouts and the
 * check that a block's codes lie on the lattice.
 *
 * A code is an element's signed level: 0..7 the negative levels from the
 * largest magnitude down, 8..15 the positive ones from the smallest up,
 * so a column's grid is one ascending 16-value table times the sub-block
 * scale.  The lattice binds the codes of a block together: each 4
 * consecutive magnitudes must be one of the grid's points (256 for
 * IQ3_XXS, 512 for IQ3_S), and IQ3_XXS stores 7 signs of every 8 (the
 * eighth makes the count of negatives even).  Every ggml block decodes to
 * codes; codes encode only when they keep those rules.
 */
#ifndef TQ_CORE_QUANT_IQ3_H
#define TQ_CORE_QUANT_IQ3_H

#include "quant_gguf_blk.h"

/* The searches, as the table's quantize (sigma2 and nmax unused). */
gguf_quant_fn tq_iq3__quant_xxs, tq_iq3__quant_s;

/* A column's grid: the 16 signed levels times the sub-block scale. */
gguf_grid_fn tq_iq3__grid_xxs, tq_iq3__grid_s;

/*
 * The codes L[G] of columns j .. j + G - 1 of a block (G = 8 for IQ3_XXS,
 * whose signs go by 8, 4 for IQ3_S; j a multiple of G) with header h,
 * chosen jointly for the values x[G] under weights w[G]: the signs of x
 * (IQ3_XXS: with an odd count of negatives, the one of least w x^2
 * flipped, as ggml does), each 4 magnitudes' nearest levels, and where
 * those are no point of the lattice, the point among their neighbours of
 * least weighted squared error.  What GPTQ rounds a group onto.
 */
gguf_round_fn tq_iq3__round_xxs, tq_iq3__round_s;

/*
 * -1 when the codes L[QK_K] of a block lie on the lattice (so the block
 * packs), else the first column of the first group that does not.
 */
gguf_bad_fn tq_iq3__bad_xxs, tq_iq3__bad_s;

#endif /* TQ_CORE_QUANT_IQ3_H */
