/*
 * forward.h: the forward pass one stage at a time (internal).
 *
 * tq_forward() in tq.h runs a whole sequence; the sequential quantization
 * pipeline instead runs each decoder block over the calibration set, with
 * the block's weights replaced by their quantized versions, so the stages
 * are exposed here.  A tq_fwd is scratch for one thread.
 */
#ifndef TQ_CORE_FORWARD_H
#define TQ_CORE_FORWARD_H

#include "model.h"
#include "tq.h"

typedef struct tq_fwd tq_fwd;

/* Scratch for sequences of up to max_n tokens of model m. */
tq_status tq_fwd_new(const tq_model *m, int64_t max_n, tq_fwd **out,
    tq_error *err);
void tq_fwd_free(tq_fwd *f);

/* x[n, H] = the embedding rows of ids; ids outside the vocabulary fail. */
tq_status tq_fwd_embed(tq_fwd *f, const int32_t *ids, int64_t n, float *x,
    tq_error *err);

/*
 * One decoder block (index li, for the hook and rope) on the residual
 * stream x[n, H] in place, with weights l: the model's own
 * (&m->layers[li]) or replacements.  o may be NULL.
 */
tq_status tq_fwd_block(tq_fwd *f, const tq_layer_weights *l, int li,
    float *x, int64_t n, const tq_forward_opts *o, tq_error *err);

/*
 * The stages of a block, for callers that run them one at a time (the
 * sequential pipeline runs each stage over every calibration sample before
 * quantizing the next layer).  n must not exceed max_n; outputs must not
 * alias inputs.
 */

/* y[n, H] = rmsnorm(x[n, H]) * w[H]. */
void tq_fwd_norm(tq_fwd *f, const tq_tensor *w, const float *x, int64_t n,
    float *y);
/* y[n, out] (row stride ldy) = x[n, in] w[out, in]^T + b. */
void tq_fwd_linear(tq_fwd *f, const float *x, int64_t n, const tq_tensor *w,
    const tq_tensor *b, float *y, int64_t ldy);
/* att[n, n_heads * hd] = attention of the normed input xn[n, H]. */
void tq_fwd_attn(tq_fwd *f, const tq_layer_weights *l, const float *xn,
    int64_t n, float *att);
/* g[n, F] = silu(gate(xn)) * up(xn), the input of down_proj. */
void tq_fwd_swiglu(tq_fwd *f, const tq_layer_weights *l, const float *xn,
    int64_t n, float *g);

/*
 * Final norm and lm_head on x[n, H]; logits as in tq_forward (chunks to
 * o->logits_cb, and all of them into logits[n, V] when not NULL).
 */
tq_status tq_fwd_head(tq_fwd *f, const float *x, int64_t n,
    const tq_forward_opts *o, float *logits, tq_error *err);

/*
 * inv_freq[hd/2] as transformers computes it (in fp32) for this rope type
 * and a forward call of n tokens (dynamic scaling depends on n).
 */
void tq_fwd_inv_freq(const tq_model_config *c, int64_t n, float *inv);

#endif /* TQ_CORE_FORWARD_H */
