/*
 * quant_iq4.h: the IQ4_NL and IQ4_XS rows of core/quant_gguf.c's table of
 * types (core/quant_iq4.c): their searches and grids (their block
 * layouts are core/quant_gguf_blk.c's).
 */
#ifndef TQ_CORE_QUANT_IQ4_H
#define TQ_CORE_QUANT_IQ4_H

#include "quant_gguf_blk.h"

/* The searches, as the table's quantize (sigma2 and nmax unused). */
void tq_iq4__quant_nl(const float *x, const float *imp, float unused_s2,
    int unused_nmax, gguf_hdr *h, uint8_t *L);
void tq_iq4__quant_xs(const float *x, const float *imp, float unused_s2,
    int unused_nmax, gguf_hdr *h, uint8_t *L);

/* A column's grid: the 16 levels times d (IQ4_NL) or d * (ls - 32). */
void tq_iq4__grid_nl(const gguf_hdr *h, int64_t j, tq_grid *g);
void tq_iq4__grid_xs(const gguf_hdr *h, int64_t j, tq_grid *g);

#endif /* TQ_CORE_QUANT_IQ4_H */
