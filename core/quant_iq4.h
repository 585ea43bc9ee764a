/*
 * quant_iq4.h: the IQ4_NL and IQ4_XS rows of core/quant_gguf.c's table of
 * types (core/quant_iq4.c): their searches, grids and block layouts.
 * tq_qparams.raw holds their header as a gguf_hdr: d; for IQ4_XS also
 * scales_h in dmin and scales_l in scales[0..3].
 */
#ifndef TQ_CORE_QUANT_IQ4_H
#define TQ_CORE_QUANT_IQ4_H

#include "quant_gguf_blk.h"

typedef struct blk_iq4_nl {
	uint8_t d[2];
	uint8_t qs[QK_LEGACY / 2];	/* column j low nibble, j+16 high */
} blk_iq4_nl;
static_assert(sizeof(blk_iq4_nl) == 18, "block_iq4_nl is 18 bytes");

typedef struct blk_iq4_xs {
	uint8_t d[2];
	uint8_t scales_h[2];		/* high 2 bits of 8 sub-block levels */
	uint8_t scales_l[QK_K / 64];	/* low 4 bits, two per byte */
	uint8_t qs[QK_K / 2];		/* per 32 columns as blk_iq4_nl */
} blk_iq4_xs;
static_assert(sizeof(blk_iq4_xs) == 136, "block_iq4_xs is 136 bytes");

/* The searches, as the table's quantize (sigma2 and nmax unused). */
void tq_iq4__quant_nl(const float *x, const float *imp, float unused_s2,
    int unused_nmax, gguf_hdr *h, uint8_t *L);
void tq_iq4__quant_xs(const float *x, const float *imp, float unused_s2,
    int unused_nmax, gguf_hdr *h, uint8_t *L);

/* A column's grid: the 16 levels times d (IQ4_NL) or d * (ls - 32). */
void tq_iq4__grid_nl(const gguf_hdr *h, int64_t j, tq_grid *g);
void tq_iq4__grid_xs(const gguf_hdr *h, int64_t j, tq_grid *g);

#define IQ4_LAYOUT(name) \
	void tq_gguf__pack_##name(int has_min, int hbit, const gguf_hdr *h, \
	    const uint8_t *L, uint8_t *out); \
	void tq_gguf__unpack_##name(int has_min, int hbit, const uint8_t *in, \
	    gguf_hdr *h, uint8_t *L)
IQ4_LAYOUT(iq4_nl);
IQ4_LAYOUT(iq4_xs);
#undef IQ4_LAYOUT

#endif /* TQ_CORE_QUANT_IQ4_H */
