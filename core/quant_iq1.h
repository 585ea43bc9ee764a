/*
 * quant_iq1.h: the IQ1_S and IQ1_M rows of core/quant_gguf.c's table of
 * types (core/quant_iq1.c): groups of 8 columns on the 2048-point codebook
 * of values -1, 0, 1, shifted by +-1/8 (core/quant_iq2.h says how a
 * tq_qtensor's codes stand for them).
 */
#ifndef TQ_CORE_QUANT_IQ1_H
#define TQ_CORE_QUANT_IQ1_H

#include "quant_gguf_blk.h"

/* The searches, as the table's quantize (sigma2 and nmax unused). */
gguf_quant_fn tq_iq1__quant_s, tq_iq1__quant_m;

/* A column's grid: the three values plus the shift, times the step. */
gguf_grid_fn tq_iq1__grid_s, tq_iq1__grid_m;

/*
 * The codes L[8] of columns j .. j + 7 (j a multiple of 8) of a block with
 * header h, chosen jointly for x[8] under weights w[8]: each value's
 * nearest level, and where those are no codebook point, the point among
 * their neighbours of least weighted squared error (what GPTQ rounds a
 * group onto).
 */
gguf_round_fn tq_iq1__round_s, tq_iq1__round_m;

/*
 * -1 when the codes L[QK_K] of a block (IQ1_S or IQ1_M) lie on the
 * codebook, else the first column of the first group of 8 that does not.
 */
gguf_bad_fn tq_iq1__bad;

#endif /* TQ_CORE_QUANT_IQ1_H */
