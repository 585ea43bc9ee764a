/*
 * quant_gguf.h: the GGUF block types behind quant.h (internal to core).
 *
 * quant.c dispatches every TQ_QT_Q* scheme here.  The parameters of a
 * block (tq_qparams.raw) hold the block's header fields as ggml stores
 * them: fp16 d (and m or dmin) and the packed sub-block scales.  A code is
 * the level ggml stores for the element (0..2^bits-1; for Q8_0 the int8
 * value plus 128).
 */
#ifndef TQ_CORE_QUANT_GGUF_H
#define TQ_CORE_QUANT_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "quant.h"

/* 1 for the GGUF block types. */
int tq_gguf_is(tq_qtype t);

/* Columns per block (32 or 256) and columns per sub-block (16 or 32). */
int tq_gguf_qk(tq_qtype t);
int tq_gguf_span(tq_qtype t);

/*
 * 1 for the types whose codes are bound together by a lattice (IQ3_XXS,
 * IQ3_S: each 4 columns one codebook point; IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S,
 * IQ1_M: each 8 columns one, core/quant_iq2.h; IQ3_XXS, IQ2_XXS, IQ2_XS:
 * an even count of negatives in each 8), so a code cannot be chosen one
 * column at a time.
 */
int tq_gguf_lattice(tq_qtype t);
/*
 * -1 when the codes[qk] of one block of a lattice type lie on its lattice
 * (always, for the other types), else the first column of the first
 * group that does not.
 */
int64_t tq_gguf_bad_codes(tq_qtype t, const uint8_t *codes);
/*
 * Columns a lattice type codes together (IQ3_XXS 8, for its signs; IQ3_S
 * 4; the IQ2 and IQ1 types 8), 1 for the others; and the codes[group] of
 * columns j .. j + group - 1 (j a multiple of group) of a block with
 * parameters p, chosen jointly for the values x[group] weighed by w[group]
 * (see core/quant_iq3.h, quant_iq2.h, quant_iq1.h).
 */
int tq_gguf_group(tq_qtype t);
void tq_gguf_round_group(tq_qtype t, const tq_qparams *p, int64_t j,
    const float *x, const float *w, uint8_t *codes);

/*
 * 1 for the types llama-quantize refuses to write without an importance
 * matrix (its tensor_requires_imatrix, the token embeddings and output
 * excepted): IQ3_XXS, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M.
 */
int tq_gguf_needs_imatrix(tq_qtype t);
/*
 * 1 for the types ggml quantizes only with an importance matrix
 * (ggml_quantize_requires_imatrix: IQ2_XXS, IQ2_XS, IQ1_S), on any tensor;
 * without one ours weigh every column alike, which no ggml output can be
 * compared with.
 */
int tq_gguf_ggml_needs_imatrix(tq_qtype t);

/* Bytes of one ggml block. */
size_t tq_gguf_block_bytes(tq_qtype t);

/*
 * The statistic ggml's importance-weighted Q4_0/Q4_1/Q5_0/Q5_1 quantizers
 * take over a whole row: sum(x^2) / n, summed in ggml's order.
 */
float tq_gguf_row_sigma2(const float *x, int64_t n);

/*
 * Quantizes one block x[qk] exactly as ggml does: the *_ref quantizer when
 * imp is NULL, the *_impl (imatrix) one otherwise (Q8_0 always ignores
 * imp).  sigma2 is the row statistic above; only the legacy types with imp
 * use it.  Writes the parameters and, when codes is not NULL, the codes
 * ggml writes (which for a sub-block whose decoded scale is 0 are the
 * search's levels, not a requantization).
 */
void tq_gguf_quantize(tq_qtype t, const float *x, const float *imp,
    float sigma2, tq_qparams *p, uint8_t *codes);

/*
 * The K-quants, Q2_K to Q6_K (tq_gguf_refinable): lowers the weighted squared
 * error sum imp_i (x_i - x'_i)^2 (imp NULL: 1) of a block that
 * tq_gguf_quantize() made, p and its codes[qk], by searching its
 * super-block and sub-block scales beyond ggml's rule (see
 * core/quant_gguf_refine.c); leaves them as they are when that finds
 * nothing lower.  Other types: nothing.
 */
int tq_gguf_refinable(tq_qtype t);
void tq_gguf_refine(tq_qtype t, const float *x, const float *imp,
    tq_qparams *p, uint8_t *codes);

/*
 * A refinable type's sub-block holding column j of a block with parameters
 * p: its integer scale (and min) chosen again for its current values
 * x[span] (imp[span] or NULL), d and dmin as they are.  GPTQ calls it as
 * it reaches each sub-block, whose values its updates have moved since the
 * block's parameters were chosen.
 */
void tq_gguf_refit_sub(tq_qtype t, const float *x, const float *imp,
    int64_t j, tq_qparams *p);

/*
 * A header's packed scales[12]: Q4_K/Q5_K sub-block j's 6-bit scale and
 * min; Q3_K's 6-bit scale l, stored biased by 32 (put takes l + 32, get
 * returns l).  Puts or bits in: zero scales[] before the first.
 */
void tq_gguf__k4_get(const uint8_t *s, int j, uint8_t *sc, uint8_t *m);
void tq_gguf__k4_put(uint8_t *s, int j, uint8_t sc, uint8_t m);
void tq_gguf__k3_put(uint8_t *s, int j, int l);
int tq_gguf__k3_get(const uint8_t *s, int j);

/* The grid of column j of a block with parameters p (decoded header). */
void tq_gguf_grid(tq_qtype t, const tq_qparams *p, int64_t j, tq_grid *g);

/* Parameters plus codes <-> the ggml block bytes. */
void tq_gguf_pack(tq_qtype t, const tq_qparams *p, const uint8_t *codes,
    uint8_t *out);
void tq_gguf_unpack(tq_qtype t, const uint8_t *in, tq_qparams *p,
    uint8_t *codes);

#endif /* TQ_CORE_QUANT_GGUF_H */
