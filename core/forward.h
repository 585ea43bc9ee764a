/*
 * forward.h: the forward pass one stage at a time (internal).
 *
 * tq_forward() in tq.h runs a whole sequence; the sequential quantization
 * pipeline instead runs each decoder block over the calibration set a
 * stage at a time, with the block's weights replaced by their quantized
 * versions, so the stages are exposed here.  A tq_fwd is scratch for one
 * thread.
 */
#ifndef TQ_CORE_FORWARD_H
#define TQ_CORE_FORWARD_H

#include "model.h"
#include "tq.h"

typedef struct tq_fwd tq_fwd;

/* Scratch for sequences of up to max_n tokens of model m. */
/*
 * s computes keys and values as llama.cpp's KV cache holds them (fp16)
 * when its model is a GGUF file: evaluating by llama-perplexity's protocol.
 */
void tq_fwd_llamacpp(tq_fwd *s);
/*
 * The tokens of the following blocks are sequences of len tokens each
 * (len dividing their count; 0, the default: one sequence), each one
 * attended to and positioned apart and computed to the bytes it gives
 * alone: several evaluation windows in one pass.  Not for a mixture of
 * experts (its experts' gathered tokens would mix the sequences).
 */
void tq_fwd_seq(tq_fwd *s, int64_t len);
/*
 * Bytes one token of a sequence costs a pass of model m: its residual
 * stream and what tq_fwd_new holds per token (the normed input, q, k, v,
 * attention output, gate, up and the sublayer's output), in floats.
 * Callers batching sequences (tq_fwd_seq) keep the total within
 * TQ_FWD_BATCH_BUDGET.
 */
int64_t tq_fwd_token_bytes(const tq_model *m);
#define TQ_FWD_BATCH_BUDGET ((int64_t)256 << 20)
tq_status tq_fwd_new(const tq_model *m, int64_t max_n, tq_fwd **out,
    tq_error *err);
void tq_fwd_free(tq_fwd *f);

/*
 * x[n, H] = the embedding rows of ids (times sqrt(H) for gemma); ids
 * outside the vocabulary fail.
 */
tq_status tq_fwd_embed(tq_fwd *f, const int32_t *ids, int64_t n, float *x,
    tq_error *err);

/*
 * A decoder block is a list of stages, defined once here and run by
 * evaluation, calibration, the sequential quantization pipeline and the
 * sensitivity pass alike.  Each stage reads and writes the buffers of one
 * sequence of n tokens (n at most max_n):
 */
typedef enum tq_stage {
	TQ_STAGE_ATTN_NORM = 0,	/* xn = attn_norm(x): q, k, v's input */
	TQ_STAGE_ATTN,		/* att = attention(q, k, v of xn): o's input */
	TQ_STAGE_ATTN_OUT,	/* x += o(att) (post-normed: gemma) */
	TQ_STAGE_MLP_NORM,	/* xn = ffn_norm(x): gate and up's input */
	TQ_STAGE_MLP_ACT,	/* g = act(gate(xn)) * up(xn): down's input;
				   a mixture of experts: its whole output */
	TQ_STAGE_MLP_OUT,	/* x += down(g) (post-normed: gemma), or the
				   experts' output */
	TQ_STAGES
} tq_stage;

/* The buffers of one sequence of n tokens. */
typedef struct tq_fwd_io {
	float *x;	/* [n, H] the residual stream */
	float *xn;	/* [n, H] a sublayer's normed input */
	float *att;	/* [n, n_heads * hd] the attention's output */
	float *g;	/* [n, F] the MLP's gated product */
} tq_fwd_io;

/*
 * Runs stages first..last of block li (weights l: the model's own,
 * &m->layers[li], or replacements) on io.  A stage that feeds linears
 * first quantizes their input in place as l->act says: the one place
 * activation quantization is applied.  A stage that makes a linear's
 * input calls o->act_hook with it before that (o may be NULL).
 */
tq_status tq_fwd_stages(tq_fwd *f, const tq_layer_weights *l, int li,
    tq_stage first, tq_stage last, const tq_fwd_io *io, int64_t n,
    const tq_forward_opts *o, tq_error *err);

/*
 * A mixture-of-experts block li (weights l): each of the n tokens of
 * xn[n, H] (the MLP norm's output) gets its top_k experts in
 * sel[n, top_k], as the stages route them.
 */
void tq_fwd_moe_route(tq_fwd *f, const tq_layer_weights *l, int li,
    const float *xn, int64_t n, int *sel);
/*
 * g[n, Fe] = act(gate(x)) * up(x) of expert e of block li for the rows of
 * x[n, H] (routed tokens, gathered), x first quantized in place as
 * l->act[TQ_SITE_GATE_UP] says: an expert's down input as the stages
 * make it.
 */
void tq_fwd_expert_act(tq_fwd *f, const tq_layer_weights *l, int li, int e,
    float *x, int64_t n, float *g);

/* The whole block on the residual stream x[n, H] in place. */
tq_status tq_fwd_block(tq_fwd *f, const tq_layer_weights *l, int li,
    float *x, int64_t n, const tq_forward_opts *o, tq_error *err);

/* The buffer of io holding site's input (TQ_SITE_*), and its width. */
float *tq_fwd_site_buf(const tq_fwd_io *io, int site);
int64_t tq_fwd_site_width(const tq_model *m, int site);

/*
 * y[n, H] = rmsnorm(x[n, H]) * w[H], or * (1 + w[H]) for a gemma from
 * Hugging Face (the final norm; a block's are stages).
 */
void tq_fwd_norm(tq_fwd *f, const tq_tensor *w, const float *x, int64_t n,
    float *y);

/*
 * Final norm and lm_head on x[n, H] (and gemma's final soft-cap); logits
 * as in tq_forward (chunks to o->logits_cb, and all of them into
 * logits[n, V] when not NULL).
 */
tq_status tq_fwd_head(tq_fwd *f, const float *x, int64_t n,
    const tq_forward_opts *o, float *logits, tq_error *err);

/*
 * inv_freq[hd/2] as transformers computes it (in fp32) for this rope type
 * and a forward call of n tokens (dynamic scaling depends on n).
 */
void tq_fwd_inv_freq(const tq_model_config *c, int64_t n, float *inv);

#endif /* TQ_CORE_FORWARD_H */
