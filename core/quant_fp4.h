/*
 * quant_fp4.h: the microscaling FP4 grids MXFP4 and NVFP4 (internal to
 * core; quant.c dispatches TQ_QT_MXFP4 and TQ_QT_NVFP4 here).
 *
 * Both round to E2M1 (0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives):
 *   MXFP4  blocks of 32 with a shared E8M0 power-of-two scale; ggml's
 *          block_mxfp4 (17 bytes: the exponent byte, 16 bytes of nibbles).
 *   NVFP4  sub-blocks of 16 with an E4M3 scale s and one fp32 global
 *          scale G per tensor (compressed-tensors' weight_global_scale,
 *          448 * 6 / amax): a value is fl(s / G) * e2m1, as
 *          compressed-tensors dequantizes.  Our block is ggml's
 *          block_nvfp4: 64 columns, four E4M3 bytes, 32 bytes of nibbles.
 *
 * A code is q + 7 for q in [-7, 7] on the ascending table tq_fp4_levels
 * (the E2M1 values doubled, ggml's kvalues_mxfp4 in order), so a grid's
 * scale is half the block scale.  Parameters: the global G (NVFP4; 1 when
 * read from a GGUF block, whose tensor scale is a separate tensor) and
 * the scale bytes.
 */
#ifndef TQ_CORE_QUANT_FP4_H
#define TQ_CORE_QUANT_FP4_H

#include <stddef.h>
#include <stdint.h>

#include "quant.h"

/* The doubled E2M1 values, ascending: q in [-7, 7] at q + 7. */
extern const float tq_fp4_levels[15];

int tq_fp4_is(tq_qtype t);
/* Columns per block (32, 64), per scale (32, 16), bytes per block. */
int tq_fp4_qk(tq_qtype t);
int tq_fp4_span(tq_qtype t);
size_t tq_fp4_block_bytes(tq_qtype t);

/*
 * NVFP4: G of w[n] by nv_scale (a tq_nv_scale) into *out (every block
 * starts from it); MXFP4: none.
 */
void tq_fp4_tensor_params(tq_qtype t, int nv_scale, const float *w,
    int64_t n, tq_qparams *out);
/* 1 if nv_scale gives G: any for TQ_NV_AMAX, a power of two, or 1. */
int tq_fp4_global_ok(int nv_scale, float g);
/*
 * The E4M3 byte of value(b) / g into *out; 1 if that is exact (folding an
 * nvfp4-pow2 tensor scale into the block scales, as MLX holds them).
 */
int tq_fp4_fold(uint8_t b, float g, uint8_t *out);
/*
 * The scales of one block x[qk] (NVFP4: keeping the G already in *p):
 * the producers' rule (ggml's E8M0 exponent, floor(log2 amax) - 2; NVFP4's
 * E4M3(G * amax / 6)), or with clip_search the neighbouring scale of least
 * (imp-weighted) squared error, the producers' one winning ties.
 */
void tq_fp4_block_params(tq_qtype t, const float *x, const float *imp,
    int clip_search, tq_qparams *p);
void tq_fp4_grid(tq_qtype t, const tq_qparams *p, int64_t j, tq_grid *g);
/* q for x on g as ggml's best_index_mxfp4 picks (ties: smaller |q|). */
int tq_fp4_round(const tq_grid *g, float x);

/* NVFP4's G (1 for MXFP4); scale byte k of a block. */
float tq_fp4_global(const tq_qparams *p);
uint8_t tq_fp4_scale_byte(const tq_qparams *p, int k);
/* The sign-magnitude E2M1 nibble of a code, as ggml and safetensors pack. */
uint8_t tq_fp4_nibble(uint8_t code);

void tq_fp4_pack(tq_qtype t, const tq_qparams *p, const uint8_t *codes,
    uint8_t *out);
void tq_fp4_unpack(tq_qtype t, const uint8_t *in, tq_qparams *p,
    uint8_t *codes);

#endif /* TQ_CORE_QUANT_FP4_H */
