/*
 * quant_iq4.h: the IQ4_NL and IQ4_XS rows of core/quant_gguf.c's table of
 * types (core/quant_iq4.c): their searches and grids (their block
 * layouts are core/quant_gguf_blk.c's).
 */
#ifndef TQ_CORE_QUANT_IQ4_H
#define TQ_CORE_QUANT_IQ4_H

#include "quant_gguf_blk.h"

/* The searches, as the table's quantize (sigma2 and nmax unused). */
gguf_quant_fn tq_iq4__quant_nl, tq_iq4__quant_xs;

/* A column's grid: the 16 levels times d (IQ4_NL) or d * (ls - 32). */
gguf_grid_fn tq_iq4__grid_nl, tq_iq4__grid_xs;

#endif /* TQ_CORE_QUANT_IQ4_H */
