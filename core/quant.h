/*
 * quant.h: quantization grids (internal).
 *
 * Every scheme (integer groups, FP8, NF4, the GGUF block types) is seen by
 * the methods (RTN, GPTQ, AWQ) through one interface:
 *
 *   - a row of a weight is cut into blocks of qk columns (the group size;
 *     the whole row for per-channel and per-tensor; 32 or 256 for GGUF);
 *   - tq_quant_block_params() chooses a block's parameters from its
 *     current values (importance-weighted when importance is given), in
 *     the type's own encoding (fp16 d and packed 6-bit sub-scales for
 *     Q4_K, an fp16-exact scale and integer zero for INT, ...), so what a
 *     method rounds onto is exactly what an exporter will write;
 *   - tq_quant_grid() gives the grid of one column of the block, and
 *     tq_grid_round() rounds a value onto it.
 *
 * RTN is params then round; GPTQ calls the same two a column at a time
 * while it updates the not-yet-quantized columns.
 *
 * Conventions by type (a code is what a tq_qtensor stores: q - qmin):
 *   INT     q in [-zero, maxq - zero], value scale * q, so the code is
 *           the canonical unsigned integer of AWQ/GPTQ (0..2^bits-1) and
 *           the dequantization is scale * (code - zero).  Asymmetric:
 *           scale = (max - min) / maxq with min <= 0 <= max, zero =
 *           round(-min / scale) clamped to [0, maxq] (AutoGPTQ
 *           find_params); symmetric: zero = 2^(bits-1), scale =
 *           2 * absmax / maxq.  The scale is rounded to fp16, what the
 *           exported checkpoints store, before zero and codes are chosen.
 *           An all-zero block gets scale 0 and zero 2^(bits-1).
 *   FP8     e4m3fn (max 448, no inf): q in [-126, 126] is the signed
 *           index into the ascending table of finite values, so the
 *           e4m3fn bit pattern is q for q >= 0 and 0x80 | -q below
 *           (tq_fp8_e4m3_bits); scale = absmax / 448, kept in fp32 (an
 *           exporter writes it as F32 to reproduce the grid exactly).
 *   NF4     q in [0, 15] indexes the QLoRA NormalFloat levels (the
 *           bitsandbytes code); scale = the block absmax in fp32.
 *   MXFP4, NVFP4  E2M1 on core/quant_fp4.h's table (code q + 7), ggml's
 *           block scales; NVFP4 adds a per-tensor G that every block's
 *           parameters carry (tq_quant_tensor_params gives it first).
 *   GGUF    the code is the level ggml stores (Q8_0: the int8 plus 128);
 *           the parameters are the block's header fields (fp16 d, dmin or
 *           m, packed sub-block scales), chosen by ggml's own searches.
 *
 * Ties: integer grids round half to even (torch.round for INT, ggml's
 * nearest_int for GGUF).  FP8 rounds x / scale to nearest even e4m3fn
 * (saturating at 448); NF4 compares x * (1 / absmax) with the midpoints of
 * the levels, ties going to the lower level (bitsandbytes' dQuantizeNF4);
 * any other table grid goes to the nearest level, ties to the even q.
 */
#ifndef TQ_CORE_QUANT_H
#define TQ_CORE_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "tq.h"

/*
 * ggml's nearest_int: v rounded half to even through the float mantissa
 * (v + 1.5 * 2^23), for |v| < 2^22; torch.round agrees.
 */
static inline int
tq_round_even(float v)
{
	float t = v + 12582912.f;
	int32_t i;

	memcpy(&i, &t, sizeof(i));
	return (i & 0x007fffff) - 0x00400000;
}

/* Columns of the largest block (a K-quant super-block). */
#define TQ_QK_MAX 256

/*
 * The grid of one column: value(q) = scale * q + offset for integer q in
 * [qmin, qmax], or scale * table[q - qmin] when table is not NULL.
 */
typedef struct tq_grid {
	float scale;		/* Q3_K, Q6_K: can be negative */
	float offset;
	int qmin, qmax;
	const float *table;	/* [qmax - qmin + 1], ascending, or NULL */
} tq_grid;

/*
 * A block's parameters in the type's encoding.  32 bytes hold every type:
 * INT (float scale, int zero), FP8 (float scale), NF4 (float absmax), and
 * the GGUF headers (d, dmin, packed sub-block scales and mins).
 */
typedef struct tq_qparams {
	uint8_t raw[32];
} tq_qparams;

/* Columns per block of s on a row of `cols` columns. */
int64_t tq_quant_qk(const tq_scheme *s, int64_t cols);

/*
 * Columns that share one grid inside a block (a sub-block: 16 for Q2_K,
 * Q3_K and Q6_K, 32 for the other GGUF types, qk for the rest), so a loop
 * can call tq_quant_grid() once per span.
 */
int64_t tq_quant_span(const tq_scheme *s, int64_t qk);

/*
 * Chooses the parameters of one block x[n] (n = tq_quant_qk, or fewer at a
 * row's end only for INT/FP8/NF4).  imp[n] weighs each column's squared
 * error (the importance matrix, mean x^2 of the inputs) or is NULL.  With
 * clip_search (INT, FP8, NF4), the range is shrunk by a factor in 1.0,
 * 0.95, ..., 0.5 when that lowers the weighted squared error (the first
 * wins ties, so it never raises it); without it, importance does not
 * change INT, FP8 or NF4 parameters.  GGUF types run ggml's search: the
 * reference one without imp, the imatrix one with it; with clip_search the
 * K-quants then search their scales further (tq_gguf_refine; the others
 * ignore it).  For Q4_0, Q4_1, Q5_0 and Q5_1, ggml's imatrix search weighs
 * by a statistic of the whole row; this call takes it from the block, so
 * use tq_quant_row_params() to match ggml exactly.  Per-tensor schemes
 * get their parameters from tq_quant_tensor_params() instead and leave
 * *out unchanged here.
 */
void tq_quant_block_params(const tq_scheme *s, const float *x,
    const float *imp, int64_t n, int clip_search, tq_qparams *out);

/*
 * With clip_search on a GGUF K-quant (tq_gguf_refinable), the sub-block
 * holding column j of a block (x[span] its current values, imp[span] or
 * NULL) gets its integer scale (and min) chosen again, d and dmin kept:
 * GPTQ's update moves a block's later sub-blocks after its parameters are
 * chosen.  Anything else: nothing.
 */
void tq_quant_sub_params(const tq_scheme *s, const float *x,
    const float *imp, int64_t j, tq_qparams *p);

/*
 * The parameters of every block of one row x[cols] (imp[cols] or NULL)
 * into out[cols / qk]: tq_quant_block_params() on each block, except that
 * the legacy GGUF types get ggml's row-wide statistic.  Per-tensor
 * schemes: *out unchanged.
 */
void tq_quant_row_params(const tq_scheme *s, const float *x,
    const float *imp, int64_t cols, int clip_search, tq_qparams *out);

/*
 * Parameters shared by a whole per-tensor weight w[rows, cols] (min/max
 * or absmax of the tensor; no clip search): every block of the tensor
 * then uses *out.  NVFP4: its global scale, which every block's *out must
 * hold before tq_quant_block_params().  Other schemes: *out unchanged.
 */
void tq_quant_tensor_params(const tq_scheme *s, const float *w,
    int64_t rows, int64_t cols, tq_qparams *out);

/*
 * FP8 in tiles (fp8-block128, DeepSeek-V3's and Qwen3-FP8's layout): one
 * fp32 scale amax / 448 per TQ_FP8_TILE x TQ_FP8_TILE tile, partial tiles
 * at the edges.  A tile spans rows, so the row and block calls above leave
 * its parameters alone; tq_quant_tile_params() fills params[rows, nblocks]
 * from w[rows, cols], every row of a tile holding the tile's scale.
 */
#define TQ_FP8_TILE 128
int tq_quant_tiled(const tq_scheme *s);
/*
 * mxfp8 (OCP MX): FP8 in blocks of TQ_MXFP8_QK columns whose scale is a
 * power of two, 2^(floor(log2 amax) - 8) (E8M0: 2^-127..2^127), elements
 * saturating at 448.
 */
#define TQ_MXFP8_QK 32
int tq_quant_mxfp8(const tq_scheme *s);
void tq_quant_tile_params(const tq_scheme *s, const float *w, int64_t rows,
    int64_t cols, tq_qparams *params);

/*
 * 1 for the lattice types (IQ3_XXS, IQ3_S: core/quant_iq3.h; IQ2_XXS,
 * IQ2_XS, IQ2_S, IQ1_S, IQ1_M: core/quant_iq2.h), whose codes are
 * codebook points of 4 or 8 columns jointly: tq_quant_rtn() gives a
 * block's codes with its parameters, GPTQ a group's together
 * (tq_gguf_round_group), never tq_grid_round() a column at a time.
 */
int tq_quant_lattice(const tq_scheme *s);
/*
 * 1 for the types llama-quantize writes only with an importance matrix
 * (IQ3_XXS, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M; the token embeddings
 * and the output aside), and for those ggml quantizes only with one
 * (IQ2_XXS, IQ2_XS, IQ1_S; any tensor): without one, tq_quant_rtn()
 * weighs their columns alike, which no ggml output can be compared with.
 */
int tq_quant_needs_imatrix(const tq_scheme *s);
int tq_quant_ggml_needs_imatrix(const tq_scheme *s);

/* The grid of column j (0 <= j < qk) of a block with parameters p. */
void tq_quant_grid(const tq_scheme *s, const tq_qparams *p, int64_t j,
    tq_grid *out);

/*
 * The q nearest to x on g (ties as above); a code is q - g->qmin.  On a
 * grid of scale 0, where every q has the same value, it is 0 clamped to
 * [qmin, qmax] (INT: the zero point) or the table's 0 level; a NaN x is
 * taken as 0.  For GGUF grids this is the requantization ggml does with
 * the decoded parameters, so q matches ggml's level except where ggml
 * keeps its search's levels: a sub-block whose decoded scale is 0, and
 * the legacy types and IQ4_NL/IQ4_XS, whose reference rounds with the
 * unrounded fp32 d
 * (tq_quant_rtn() writes ggml's codes in every case).
 */
int tq_grid_round(const tq_grid *g, float x);
/* The value of q on g: scale * q + offset, or scale * table[q - qmin]. */
float tq_grid_value(const tq_grid *g, int q);

/* INT, FP8 and NF4 parameters as a tq_qparams holds them. */
typedef struct tq_qscale {
	float scale;	/* INT: the step (fp16-exact); FP8, NF4: above */
	int32_t zero;	/* INT: the zero point, 0..2^bits-1; else 0 */
} tq_qscale;

void tq_qparams_get_scale(const tq_qparams *p, tq_qscale *out);
void tq_qparams_set_scale(tq_qparams *p, const tq_qscale *in);

/* The e4m3fn bit pattern of an FP8 code as a tq_qtensor stores it. */
uint8_t tq_fp8_e4m3_bits(uint8_t code);
/* The value of an e4m3fn bit pattern (NaN for 0x7f and 0xff). */
float tq_fp8_e4m3_value(uint8_t bits);

/*
 * Fake-quantizes the activations x[n, C] in place as a (see model.h):
 * int8 per token (scale = row absmax / 127, round half to even), or fp8
 * e4m3fn of x / scale (nearest even, saturating at 448) times scale.
 */
void tq_actq_apply(const tq_actq *a, float *x, int64_t n, int64_t C);
/*
 * TQ_ACTQ_GGML_Q8_1 on x[n] (whole blocks of 32), with each block's
 * correction to the sum ggml multiplies a weight block's minimum by in
 * s[n / 32] (see quant.c).
 */
void tq_actq_q8_1(float *x, int64_t n, float *s);

/*
 * A quantized weight [rows, cols]: one code per weight (unpacked, as the
 * grid's q minus qmin, so it fits a byte) and the parameters of every
 * block, row-major.  g_idx, when not NULL, maps each column to its block
 * (act-order GPTQ with INT groups); otherwise column c is in block c / qk.
 * g_idx is owned by the tensor (malloc'd; tq_qtensor_done() frees it).
 * A per-tensor scheme stores the same parameters in every block.
 */
typedef struct tq_qtensor {
	tq_scheme scheme;
	int64_t rows, cols;
	int64_t qk;		/* columns per block */
	int64_t nblocks;	/* blocks per row */
	uint8_t *codes;		/* [rows, cols] */
	tq_qparams *params;	/* [rows, nblocks] */
	int32_t *g_idx;		/* [cols] or NULL */
} tq_qtensor;

/* NVFP4's per-tensor global scale G (values fl(s / G) * e2m1); else 1. */
float tq_quant_global(const tq_qtensor *t);

/* Allocates codes and params (zeroed) for a [rows, cols] weight. */
tq_status tq_qtensor_init(tq_qtensor *t, const tq_scheme *s, int64_t rows,
    int64_t cols, tq_error *err);
void tq_qtensor_done(tq_qtensor *t);

/*
 * Checks a weight read from a file before anything computes with it: INT
 * zero points in 0..2^bits-1, INT/FP8/NF4 scales finite and non-negative,
 * every grid's values finite, g_idx in range and every code on its grid.
 * `what` starts the message ("FILE: LAYER").
 */
tq_status tq_qtensor_check(const tq_qtensor *t, const char *what,
    tq_error *err);

/* w[rows, cols] = the dequantized weight. */
void tq_qtensor_dequant(const tq_qtensor *t, float *w);

/*
 * Round-to-nearest: quantizes w[rows, cols] onto t's scheme (t
 * initialized, g_idx NULL), with optional importance imp[cols] and clip
 * search.  GGUF types come out byte-identical to ggml_quantize_chunk()
 * (with imp as its imatrix).  Rows are split over tq_get_threads()
 * threads; the result does not depend on the count.
 */
void tq_quant_rtn(tq_qtensor *t, const float *w, const float *imp,
    int clip_search);

/* Bytes of one ggml block of a GGUF scheme; 0 for the other schemes. */
size_t tq_quant_block_bytes(const tq_scheme *s);

/*
 * Packs one block (parameters p and codes[qk] as stored in a tq_qtensor)
 * into the ggml block layout at out[tq_quant_block_bytes(s)].
 */
void tq_quant_pack_block(const tq_scheme *s, const tq_qparams *p,
    const uint8_t *codes, uint8_t *out);
/* The inverse: a ggml block into parameters and codes[qk]. */
void tq_quant_unpack_block(const tq_scheme *s, const uint8_t *in,
    tq_qparams *p, uint8_t *codes);

#endif /* TQ_CORE_QUANT_H */
