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
void tq_iq1__quant_s(const float *x, const float *imp, float unused_s2,
    int unused_nmax, gguf_hdr *h, uint8_t *L);
void tq_iq1__quant_m(const float *x, const float *imp, float unused_s2,
    int unused_nmax, gguf_hdr *h, uint8_t *L);

/* A column's grid: the three values plus the shift, times the step. */
void tq_iq1__grid_s(const gguf_hdr *h, int64_t j, tq_grid *g);
void tq_iq1__grid_m(const gguf_hdr *h, int64_t j, tq_grid *g);

/*
 * The codes L[8] of columns j .. j + 7 (j a multiple of 8) of a block with
 * header h, chosen jointly for x[8] under weights w[8]: each value's
 * nearest level, and where those are no codebook point, the point among
 * their neighbours of least weighted squared error (what GPTQ rounds a
 * group onto).
 */
void tq_iq1__round_s(const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L);
void tq_iq1__round_m(const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L);

/*
 * -1 when the codes L[QK_K] of a block (IQ1_S or IQ1_M) lie on the
 * codebook, else the first column of the first group of 8 that does not.
 */
int tq_iq1__bad(const uint8_t *L);

#endif /* TQ_CORE_QUANT_IQ1_H */
