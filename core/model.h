/*
 * model.h: the in-memory model (internal to the engine).
 *
 * A tq_model holds the hyperparameters and views of every weight.  The
 * weights stay in the checkpoint's memory maps; whoever opened the files
 * (formats/) hands them over as an opaque source with its destructor, so
 * core never depends on a file format.
 */
#ifndef TQ_CORE_MODEL_H
#define TQ_CORE_MODEL_H

#include "tensor.h"
#include "tq.h"

/*
 * Fake quantization of a linear layer's input, as a W8A8 deployment does
 * it: none, int8 per token with a dynamic absmax scale (SmoothQuant), or
 * fp8 e4m3 with a static per-tensor scale from calibration.
 */
typedef enum tq_actq_mode {
	TQ_ACTQ_NONE = 0,
	TQ_ACTQ_INT8_TOKEN,
	TQ_ACTQ_FP8_STATIC,
	/*
	 * What llama.cpp's CPU kernels do to a matmul's input for the
	 * weight's type (its vec_dot_type), so a GGUF file evaluates as
	 * llama.cpp runs it: int8 blocks of 256 with an fp32 scale (Q8_K,
	 * for the K-quants), int8 blocks of 32 with an fp16 scale (Q8_0,
	 * for the legacy types), or fp16 / bf16 values.
	 */
	TQ_ACTQ_GGML_Q8_K,
	TQ_ACTQ_GGML_Q8_0,
	TQ_ACTQ_GGML_F16,
	TQ_ACTQ_GGML_BF16,
	TQ_ACTQ_GGML_Q8_1	/* Q8_0's rounding, for Q4_1 / Q5_1 */
} tq_actq_mode;

typedef struct tq_actq {
	tq_actq_mode mode;
	float scale;		/* FP8_STATIC: x is rounded as x / scale */
} tq_actq;

/*
 * The block inputs the linear layers read, in block order: the attention
 * norm's output (q/k/v), the attention's output (o), the MLP norm's output
 * (gate/up) and the MLP's gated product (down).  Calibration statistics,
 * Hessians and activation quantization are kept per site.
 */
enum { TQ_SITE_QKV = 0, TQ_SITE_O, TQ_SITE_GATE_UP, TQ_SITE_DOWN,
	TQ_SITES_PER_LAYER };

/* Experts a mixture-of-experts block may have (config.json is checked). */
#define TQ_MAX_EXPERTS 256

/*
 * The weights of one decoder block.  Biases, the QK-norm and the post-norm
 * weights are NULL when absent.  The norms are not quantized.
 */
typedef struct tq_layer_weights {
	const tq_tensor *attn_norm;	/* [H] */
	const tq_tensor *wq;		/* [n_heads * hd, H] */
	const tq_tensor *wk;		/* [n_kv_heads * hd, H] */
	const tq_tensor *wv;		/* [n_kv_heads * hd, H] */
	const tq_tensor *wo;		/* [H, n_heads * hd] */
	const tq_tensor *bq;		/* [n_heads * hd] */
	const tq_tensor *bk;		/* [n_kv_heads * hd] */
	const tq_tensor *bv;		/* [n_kv_heads * hd] */
	const tq_tensor *bo;		/* [H] */
	const tq_tensor *q_norm;	/* [hd] each q head's RMSNorm (qwen3) */
	const tq_tensor *k_norm;	/* [hd] each k head's RMSNorm (qwen3) */
	const tq_tensor *post_attn_norm;	/* [H] o's output norm */
	const tq_tensor *ffn_norm;	/* [H] */
	const tq_tensor *w_gate;	/* [I, H] */
	const tq_tensor *w_up;		/* [I, H] */
	const tq_tensor *w_down;	/* [H, I] */
	const tq_tensor *b_gate;	/* [I] */
	const tq_tensor *b_up;		/* [I] */
	const tq_tensor *b_down;	/* [H] */
	const tq_tensor *post_ffn_norm;	/* [H] down's output norm */
	/*
	 * A mixture-of-experts MLP (n_experts > 0; w_gate, w_up, w_down
	 * and their biases NULL): the router, kept in float, and each
	 * expert's SwiGLU linears, E = n_experts, Fe = the expert's
	 * intermediate size.  Inline, so a copy of the struct has its own
	 * slots.
	 */
	int n_experts;
	const tq_tensor *router;	/* [E, H] */
	const tq_tensor *experts[TQ_MAX_EXPERTS][3];	/* [E] gate [Fe, H],
					   up [Fe, H], down [H, Fe] */
	tq_actq act[TQ_SITES_PER_LAYER];	/* input quantization */
	/* gpt_oss: each head's sink logit, the router's and experts' biases */
	const tq_tensor *sinks;		/* [n_heads] */
	const tq_tensor *router_b;	/* [E] */
	const tq_tensor *expert_b[TQ_MAX_EXPERTS][3];	/* [E] gate [Fe],
					   up [Fe], down [H] */
} tq_layer_weights;

/*
 * A Q4_1 / Q5_1 weight's block minimums, which ggml multiplies by the
 * Q8_1 input block's fp16(d * sum q) (TQ_ACTQ_GGML_Q8_1).
 */
typedef struct tq_ggml_mins {
	const tq_tensor *w;
	float *m;			/* [rows, cols / 32] */
} tq_ggml_mins;

struct tq_model {
	char *path;			/* owned */
	tq_model_config cfg;
	tq_tokenizer *tok;		/* NULL without tokenizer.json */
	int tok_borrowed;		/* tok belongs to another model */
	char tok_why[512];		/* why tok is NULL, or "" */
	const tq_tensor **tensors;	/* [n_tensors] every stored tensor */
	size_t n_tensors;
	uint64_t file_bytes;
	const tq_tensor *embed;		/* [V, H] */
	const tq_tensor *norm;		/* [H] */
	const tq_tensor *lm_head;	/* [V, H]; the embedding when tied */
	tq_actq head_act;		/* lm_head's input quantization */
	const tq_ggml_mins *ggml_mins;	/* [n_ggml_mins] a GGUF source's */
	size_t n_ggml_mins;
	int ggml_cpu;			/* a GGUF source: tq_fwd_llamacpp
					   rounds keys and values to fp16 */
	tq_layer_weights *layers;	/* [n_layers] */
	void *source;			/* owns the maps behind the tensors */
	void (*source_free)(void *source);
	char **linear_names;		/* [n_linears] see tq_model_n_linears */
	size_t n_linears;
	size_t *block_first;		/* [n_layers + 1] tq_model__block_first */
	uint64_t fingerprint;		/* tq_model__fingerprint; 0: none */
	tq_tensor **views;		/* [n_views] tq_model__split_rows' */
	size_t n_views;
	tq_tensor **made;		/* [n_made] tq_model__new_tensor's */
	size_t n_made;
};

/*
 * TQ_OK when m has a tokenizer; else fails with why it has none (the
 * reason its GGUF metadata could not be rebuilt, or "no tokenizer.json"),
 * "to" (such as "to tokenize the text with") ending the latter.
 */
tq_status tq_model__need_tokenizer(const tq_model *m, const char *to,
    tq_error *err);

/*
 * Linear layers of a dense block, in the order tq_model_linear_name lists
 * them (q, k, v, o, gate, up, down).  A mixture-of-experts block has q, k,
 * v, o, then each expert's gate, up and down: 4 + 3 E.  Linear indices
 * of the model go block by block (tq_model__block_first), then lm_head
 * and the embeddings.
 */
#define TQ_LINEARS_PER_LAYER 7

/* Linears of block l: 7, or 4 + 3 n_experts. */
size_t tq_layer__n_linears(const tq_layer_weights *l);
/* The weight slot of linear k (0 .. tq_layer__n_linears - 1) of l. */
const tq_tensor **tq_layer__slot(tq_layer_weights *l, size_t k);
/* Which linear k of l is (gate, up, down for an expert's); *expert its
   expert, -1 outside one (expert may be NULL). */
tq_linear tq_layer__kind(const tq_layer_weights *l, size_t k, int *expert);
/* The index of block li's first linear; li = n_layers: lm_head's. */
size_t tq_model__block_first(const tq_model *m, int64_t li);
/* The block of linear i (-1 for lm_head and the embeddings) and its k. */
int64_t tq_model__linear_block(const tq_model *m, size_t i, size_t *k);
/* Whether some block of m is a mixture of experts. */
int tq_model__moe(const tq_model *m);

/* 64-bit FNV-1a of p[n], continuing from h (TQ_FNV_INIT to start). */
#define TQ_FNV_INIT 0xcbf29ce484222325ull
uint64_t tq_fnv1a(uint64_t h, const void *p, size_t n);

/*
 * Sets m->fingerprint from h (the format's hash of its configuration and
 * headers) and the first bytes of every weight, so that two fine-tunes
 * of one architecture, whose headers match, still differ.  It names the
 * model a quantized state was made from.
 */
void tq_model__fingerprint(tq_model *m, uint64_t h);

/*
 * Splits fused[sum rows, cols] into n views of whole rows, out[k] the
 * rows[k] rows after those of out[0..k-1], named names[k]: pointers into
 * fused's data, no copy (a row of a block-quantized type is whole
 * blocks).  m owns the views.
 */
tq_status tq_model__split_rows(tq_model *m, const tq_tensor *fused, size_t n,
    const int64_t *rows, const char *const *names, const tq_tensor **out,
    tq_error *err);

/*
 * A tensor of m's own, zero-filled, dtype dt and shape[ndim], named name
 * (weights a format rearranges, such as gpt_oss's fused experts): m owns
 * its name and data.
 */
tq_status tq_model__new_tensor(tq_model *m, const char *name, tq_dtype dt,
    int ndim, const int64_t *shape, tq_tensor **out, tq_error *err);

/* Builds the list of quantizable layers (called once the weights are bound). */
tq_status tq_model__index_linears(tq_model *m, tq_error *err);
/* The weight of quantizable layer i ([rows, cols]), NULL past the last. */
const tq_tensor *tq_model__linear_weight(const tq_model *m, size_t i);

/* The activation of the MLP's gated product. */
typedef enum tq_mlp_act {
	TQ_MLP_SILU = 0,	/* SwiGLU: silu(gate(x)) * up(x) */
	TQ_MLP_GELU_TANH,	/* GeGLU: gelu_tanh(gate(x)) * up(x) (gemma) */
	TQ_MLP_GELU_GGML,	/* GeGLU, llama.cpp CPU's fp16 gelu table */
	TQ_MLP_SWIGLU_OAI	/* gpt_oss: (clamp(up) + 1) g sigmoid(1.702 g),
				   g = min(gate, swiglu_limit) */
} tq_mlp_act;

/*
 * How decoder block li computes: what its architecture and configuration
 * decide per layer.  forward.c's stages read it; tq_model__block fills
 * it, the one place that knows each architecture's block.
 */
typedef struct tq_block_opts {
	int64_t window;		/* attention sees the last window keys; 0: all */
	int rope;		/* q and k rotated (0: a NoPE layer) */
	int rope_local;		/* RoPE of rope_local_theta, unscaled */
	int qk_norm;		/* q and k heads RMS-normed before RoPE */
	int post_norms;		/* o's and down's outputs RMS-normed */
	float attn_scale;	/* q k^T's factor */
	float attn_softcap;	/* scores = cap tanh(scores / cap); 0 none */
	tq_mlp_act act;
	float norm_eps;		/* RMSNorm's epsilon */
	float norm_offset;	/* RMSNorm scales by norm_offset + w */
	/*
	 * A mixture-of-experts MLP: each token's router softmax over
	 * n_experts, its top_k experts' outputs summed with those weights,
	 * renormalised to sum 1 when norm_topk; n_experts 0: a dense MLP.
	 */
	struct {
		int n_experts, top_k, norm_topk;
		int64_t inter;	/* Fe, an expert's intermediate size */
		int softmax_topk;	/* the softmax over the top_k logits
					   only (gpt_oss) */
	} moe;
	float swiglu_limit;	/* TQ_MLP_SWIGLU_OAI's clamp */
} tq_block_opts;

void tq_model__block(const tq_model *m, int64_t li, tq_block_opts *out);

/*
 * What the blocks of m compute beyond the Llama block ("QK-norm",
 * "layers without RoPE", "post-norms"), or NULL: exporters whose
 * consumer lacks it refuse the model with it.
 */
const char *tq_model__block_extra(const tq_model *m);

/* The site linear l reads (TQ_SITE_*), or -1 for lm_head. */
int tq_model__input_site(tq_linear l);

#endif /* TQ_CORE_MODEL_H */
