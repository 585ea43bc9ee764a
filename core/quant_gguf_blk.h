/*
 * quant_gguf_blk.h: what core/quant_gguf.c (the searches, the table of
 * types) and core/quant_gguf_blk.c (the ggml block layouts) share:
 * the block structs, the block header tq_qparams.raw holds, and the
 * layout functions the table points at.
 */
#ifndef TQ_CORE_QUANT_GGUF_BLK_H
#define TQ_CORE_QUANT_GGUF_BLK_H

#include <assert.h>
#include <stdint.h>

#include "quant.h"

#define QK_K 256
#define QK_LEGACY 32
#define K_SCALE_SIZE 12

/*
 * The ggml block layouts (ggml-common.h), fp16 fields as little-endian
 * byte pairs so the structs have no padding and no byte-order question.
 */
typedef struct blk_q4_0 {
	uint8_t d[2];
	uint8_t qs[QK_LEGACY / 2];	/* element j low nibble, j+16 high */
} blk_q4_0;
static_assert(sizeof(blk_q4_0) == 18, "block_q4_0 is 18 bytes");

typedef struct blk_q4_1 {
	uint8_t d[2], m[2];
	uint8_t qs[QK_LEGACY / 2];
} blk_q4_1;
static_assert(sizeof(blk_q4_1) == 20, "block_q4_1 is 20 bytes");

typedef struct blk_q5_0 {
	uint8_t d[2];
	uint8_t qh[4];			/* 5th bits, little-endian u32 */
	uint8_t qs[QK_LEGACY / 2];
} blk_q5_0;
static_assert(sizeof(blk_q5_0) == 22, "block_q5_0 is 22 bytes");

typedef struct blk_q5_1 {
	uint8_t d[2], m[2];
	uint8_t qh[4];
	uint8_t qs[QK_LEGACY / 2];
} blk_q5_1;
static_assert(sizeof(blk_q5_1) == 24, "block_q5_1 is 24 bytes");

typedef struct blk_q8_0 {
	uint8_t d[2];
	int8_t qs[QK_LEGACY];
} blk_q8_0;
static_assert(sizeof(blk_q8_0) == 34, "block_q8_0 is 34 bytes");

typedef struct blk_q2_k {
	uint8_t scales[QK_K / 16];	/* scale | min << 4 per sub-block */
	uint8_t qs[QK_K / 4];
	uint8_t d[2], dmin[2];
} blk_q2_k;
static_assert(sizeof(blk_q2_k) == 84, "block_q2_K is 84 bytes");

typedef struct blk_q3_k {
	uint8_t hmask[QK_K / 8];
	uint8_t qs[QK_K / 4];
	uint8_t scales[K_SCALE_SIZE];	/* 16 6-bit scales, offset 32 */
	uint8_t d[2];
} blk_q3_k;
static_assert(sizeof(blk_q3_k) == 110, "block_q3_K is 110 bytes");

typedef struct blk_q4_k {
	uint8_t d[2], dmin[2];
	uint8_t scales[K_SCALE_SIZE];	/* 8 6-bit scales, 8 6-bit mins */
	uint8_t qs[QK_K / 2];
} blk_q4_k;
static_assert(sizeof(blk_q4_k) == 144, "block_q4_K is 144 bytes");

typedef struct blk_q5_k {
	uint8_t d[2], dmin[2];
	uint8_t scales[K_SCALE_SIZE];
	uint8_t qh[QK_K / 8];
	uint8_t qs[QK_K / 2];
} blk_q5_k;
static_assert(sizeof(blk_q5_k) == 176, "block_q5_K is 176 bytes");

typedef struct blk_q6_k {
	uint8_t ql[QK_K / 2];
	uint8_t qh[QK_K / 4];
	int8_t scales[QK_K / 16];
	uint8_t d[2];
} blk_q6_k;
static_assert(sizeof(blk_q6_k) == 210, "block_q6_K is 210 bytes");

/*
 * IQ4_XS: fp16 d, 8 sub-block levels of 6 bits (low 4 in scales_l, two
 * per byte; high 2 in scales_h), 4-bit codes per 32 columns as Q4_0's.
 * IQ4_NL's block is Q4_0's layout (d, qs), so it is a legacy layout.
 * tq_qparams.raw holds scales_h in dmin and scales_l in scales[0..3].
 */
typedef struct blk_iq4_xs {
	uint8_t d[2];
	uint8_t scales_h[2];
	uint8_t scales_l[QK_K / 64];
	uint8_t qs[QK_K / 2];
} blk_iq4_xs;
static_assert(sizeof(blk_iq4_xs) == 136, "block_iq4_xs is 136 bytes");

/*
 * IQ3_XXS: fp16 d, then 64 grid indices (one per 4 columns) and 8 little-
 * endian u32, one per 32 columns: four 7-bit sign fields and a 4-bit
 * scale on top.  tq_qparams.raw holds the scales as IQ3_S's: two per byte
 * in scales[0..3], even sub-block low.
 */
typedef struct blk_iq3_xxs {
	uint8_t d[2];
	uint8_t qs[3 * QK_K / 8];
} blk_iq3_xxs;
static_assert(sizeof(blk_iq3_xxs) == 98, "block_iq3_xxs is 98 bytes");

/*
 * IQ3_S: fp16 d, the low 8 bits of 64 grid indices, their 9th bits (bit k
 * of qh[i]: group 8i + k), a sign bit per column, 8 4-bit scales.
 */
typedef struct blk_iq3_s {
	uint8_t d[2];
	uint8_t qs[QK_K / 4];
	uint8_t qh[QK_K / 32];
	uint8_t signs[QK_K / 8];
	uint8_t scales[QK_K / 64];
} blk_iq3_s;
static_assert(sizeof(blk_iq3_s) == 110, "block_iq3_s is 110 bytes");

/*
 * IQ2_XXS, IQ2_XS, IQ2_S (core/quant_iq2.c): fp16 d, then per 8 columns a
 * codebook index and signs, per 32 (XXS) or 16 columns a 4-bit scale.
 * XXS: qs as 8 pairs of little-endian u32 (4 index bytes; 4 x 7 sign bits
 * and the scale in the top 4); XS: 32 u16 (9-bit index, 7 sign bits),
 * then the scales two per byte; S: 32 low index bytes, 32 sign bytes,
 * 2 high index bits per group in qh, the scales.  tq_qparams.raw holds d
 * and, in scales[0..7], XXS's 8 scales or XS's and S's 8 scale bytes.
 */
typedef struct blk_iq2_xxs {
	uint8_t d[2];
	uint8_t qs[QK_K / 4];
} blk_iq2_xxs;
static_assert(sizeof(blk_iq2_xxs) == 66, "block_iq2_xxs is 66 bytes");

typedef struct blk_iq2_xs {
	uint8_t d[2];
	uint8_t qs[QK_K / 4];
	uint8_t scales[QK_K / 32];
} blk_iq2_xs;
static_assert(sizeof(blk_iq2_xs) == 74, "block_iq2_xs is 74 bytes");

typedef struct blk_iq2_s {
	uint8_t d[2];
	uint8_t qs[QK_K / 4];
	uint8_t qh[QK_K / 32];
	uint8_t scales[QK_K / 32];
} blk_iq2_s;
static_assert(sizeof(blk_iq2_s) == 82, "block_iq2_s is 82 bytes");

/*
 * IQ1_S, IQ1_M (core/quant_iq1.c): a 2048-point codebook of -1, 0, 1 per
 * 8 columns.  IQ1_S: fp16 d, qs[32] low index bytes, qh[8] u16 (3 high
 * index bits per group, the 3-bit scale, the shift's sign in bit 15);
 * tq_qparams.raw holds d and the top 4 bits of each qh in scales[0..7].
 * IQ1_M: qs[32], qh[16] (per group 3 high index bits and the shift's
 * sign, two groups a byte), scales[8] (four u16: 3-bit scales per 16
 * columns, d's fp16 bits in the top nibbles); tq_qparams.raw holds d,
 * the 8 scale bytes in scales[0..7] and the 32 shift signs in
 * scales[8..11].
 */
typedef struct blk_iq1_s {
	uint8_t d[2];
	uint8_t qs[QK_K / 8];
	uint8_t qh[QK_K / 16];
} blk_iq1_s;
static_assert(sizeof(blk_iq1_s) == 50, "block_iq1_s is 50 bytes");

typedef struct blk_iq1_m {
	uint8_t qs[QK_K / 8];
	uint8_t qh[QK_K / 16];
	uint8_t scales[QK_K / 32];
} blk_iq1_m;
static_assert(sizeof(blk_iq1_m) == 56, "block_iq1_m is 56 bytes");

/*
 * What tq_qparams.raw holds for every GGUF type: the block header, i.e.
 * everything but the packed levels.
 */
typedef struct gguf_hdr {
	uint16_t d;		/* fp16 bits */
	uint16_t dmin;		/* fp16: m (Q4_1/Q5_1), dmin (Q2/4/5_K) */
	/*
	 * Q2_K: 16 bytes scale | min << 4; Q3_K, Q4_K, Q5_K: 12 bytes packed
	 * as ggml packs them; Q6_K: 16 int8 scales.
	 */
	uint8_t scales[16];
} gguf_hdr;
static_assert(sizeof(gguf_hdr) <= sizeof(tq_qparams), "header fits");

/*
 * The kinds of function core/quant_gguf.c's table of types points at: a
 * block's search (levels L[qk] and header h for x[qk] under importance
 * imp, or NULL), a column's grid, and for the lattice types the check
 * that a block's codes pack (-1, or the first column off the lattice) and
 * GPTQ's joint rounding of a group.  The i-quants' headers declare theirs
 * by these types.
 */
typedef void gguf_quant_fn(const float *x, const float *imp, float sigma2,
    int nmax, gguf_hdr *h, uint8_t *L);
typedef void gguf_grid_fn(const gguf_hdr *h, int64_t j, tq_grid *g);
typedef int gguf_bad_fn(const uint8_t *L);
typedef void gguf_round_fn(const gguf_hdr *h, int64_t j, const float *x,
    const float *w, uint8_t *L);

/*
 * The levels L of one block and its header h <-> the block's bytes.
 * has_min and hbit pick the variant of a family: the legacy types (m
 * stored; the 5th bits stored) and Q4_K/Q5_K (hbit 4: the 5th bits
 * stored); Q3_K's hbit is 2.  The others ignore them.
 */
#define GGUF_LAYOUT(name) \
	void tq_gguf__pack_##name(int has_min, int hbit, const gguf_hdr *h, \
	    const uint8_t *L, uint8_t *out); \
	void tq_gguf__unpack_##name(int has_min, int hbit, const uint8_t *in, \
	    gguf_hdr *h, uint8_t *L)
GGUF_LAYOUT(legacy);	/* Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL */
GGUF_LAYOUT(q8_0);
GGUF_LAYOUT(q2_k);
GGUF_LAYOUT(q3_k);
GGUF_LAYOUT(k45);	/* Q4_K, Q5_K */
GGUF_LAYOUT(q6_k);
GGUF_LAYOUT(iq4_xs);
GGUF_LAYOUT(iq3_xxs);	/* in core/quant_iq3.c: they need the lattice */
GGUF_LAYOUT(iq3_s);
GGUF_LAYOUT(iq2_xxs);	/* core/quant_iq2.c */
GGUF_LAYOUT(iq2_xs);
GGUF_LAYOUT(iq2_s);
GGUF_LAYOUT(iq1_s);	/* core/quant_iq1.c */
GGUF_LAYOUT(iq1_m);
#undef GGUF_LAYOUT

/*
 * ggml's make_qp_quants (core/quant_gguf.c): levels in [0, nmax] of the
 * non-negative x[n] under weights qw, with the scale returned.
 */
float tq_gguf__make_qp_quants(int n, int nmax, const float *x, uint8_t *L,
    const float *qw);

/* sum(x^2) of x[n] in ggml's order (core/quant_gguf.c). */
float tq_gguf__sum_sq(const float *x, int64_t n);

/*
 * |x| of a group of 8 into xval and the negative ones as bits; with
 * parity (the eighth sign implied: IQ2_XXS, IQ2_XS, IQ3_XXS), an odd count
 * flips the element of least w x^2 back (its sign is then wrong), as ggml
 * does.  w is read only with parity.
 */
uint8_t tq_gguf__signs8(const float *x, const float *w, float *xval,
    int parity);

/* The level l in 0..max whose 2l + 1 is nearest id * v (ggml's rounding
   of a sub-block scale to its level). */
int tq_gguf__odd_level(float id, float v, int max);

/*
 * The table's quantize fn for a lattice type whose search search(x, imp,
 * out) writes ggml's block blk: that block, unpacked by the layout.
 */
#define GGUF_QUANT_BY_BLOCK(fn, search, blk, layout) \
void \
fn(const float *x, const float *imp, float unused_s2, int unused_nmax, \
    gguf_hdr *h, uint8_t *L) \
{ \
	uint8_t b[sizeof(blk)]; \
\
	(void)unused_s2, (void)unused_nmax; \
	search(x, imp, b); \
	tq_gguf__unpack_##layout(0, 0, b, h, L); \
}

/* A little-endian 16-bit field of a block (fp16 scales, IQ sign words). */
static inline void
put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v & 0xff);
	b[1] = (uint8_t)(v >> 8);
}

static inline uint16_t
get16(const uint8_t *b)
{
	return (uint16_t)(b[0] | (b[1] << 8));
}

#endif /* TQ_CORE_QUANT_GGUF_BLK_H */
