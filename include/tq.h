/*
 * tq.h: the TurboQuant engine API.
 *
 * Everything the front ends (the workbench in tui/ and the command line) may
 * call.  The engine behind it (core/, formats/, eval/) never prints to the
 * terminal and never exits the process: every call returns a tq_status and,
 * on failure, fills a caller-provided tq_error with a one-line message that
 * names the file and the problem.
 *
 * Ownership: an object returned through a `T **out` parameter belongs to the
 * caller and is released with its own free function (which accepts NULL);
 * so is every buffer the library hands out (tq_string_free, tq_ids_free,
 * ...), never with free().  A pointer returned as a function result is
 * borrowed from its parent object.
 *
 * Options: a struct of options (tq_*_opts, tq_validate_spec) begins with
 * its version; start from its TQ_*_INIT macro and set the fields you
 * need.  A call given another version fails with TQ_EINVAL.
 *
 * Threads: model and tokenizer objects are read-only after they are opened,
 * so several threads may run tq_forward() or tq_tokenizer_encode() on the
 * same object at once.
 */
#ifndef TQ_INCLUDE_TQ_H
#define TQ_INCLUDE_TQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status and errors ---------------------------------------------- */

typedef enum tq_status {
	TQ_OK = 0,
	TQ_EINVAL = -1,		/* bad argument or option */
	TQ_ENOMEM = -2,		/* allocation failed */
	TQ_EIO = -3,		/* file could not be opened, read or written */
	TQ_EFORMAT = -4,	/* file is malformed or lies about itself */
	TQ_EUNSUPPORTED = -5,	/* well-formed but not something we handle */
	TQ_ECANCELLED = -6,	/* a callback asked to stop */
	TQ_EUSER = -7		/* a callback returned its own error */
} tq_status;

typedef struct tq_error {
	tq_status status;
	char msg[512];		/* "path: what is wrong", one line */
} tq_error;

/* A generic message for a status code (static string). */
const char *tq_strerror(tq_status st);

/* The library version, "MAJOR.MINOR.PATCH" (static string). */
const char *tq_version(void);

/*
 * Threads used by BLAS and the engine's own loops; 0 (also after another
 * count) means the defaults: OpenBLAS's own count for BLAS (all cores, or
 * $OPENBLAS_NUM_THREADS) and all cores for the engine's loops.
 */
void tq_set_threads(int n);
int tq_get_threads(void);

/*
 * The vector instructions of the engine's own kernels (the forward pass's
 * products, its exponentials, GPTQ's Hessian): "avx512", "avx2" (with FMA)
 * or "portable"; NULL or "auto" picks the fastest this CPU has (the
 * default).  Every path gives the same bytes, so this changes speed only.
 * A path this CPU lacks, or an unknown name, is TQ_EINVAL with a message.
 * Call it before any work starts, not while a job runs.
 */
tq_status tq_set_isa(const char *name, tq_error *err);
/* The path in use: "avx512", "avx2" or "portable" (static string). */
const char *tq_get_isa(void);

/*
 * Reads a UTF-8 text file (evaluation or calibration text) into a
 * NUL-terminated buffer (free with tq_string_free).  An empty file, a directory or a file over 1 GiB
 * is an error naming the path.
 */
tq_status tq_read_text(const char *path, char **text, size_t *len,
    tq_error *err);

/*
 * Memory the library hands out is released with its own free function
 * (each accepts NULL): strings (tq_read_text, tq_tokenizer_decode,
 * tq_plan_to_json, tq_state_model_path) with tq_string_free, token ids
 * (tq_tokenizer_encode, tq_eval_tokenize) with tq_ids_free.
 */
void tq_string_free(char *s);
void tq_ids_free(int32_t *ids);

/* ---- Tokenizer (Hugging Face tokenizer.json) ------------------------- */

typedef struct tq_tokenizer tq_tokenizer;

/*
 * Loads a tokenizer.json (path to the file, or to a directory holding one).
 * Supports byte-level BPE with Split/ByteLevel pre-tokenizers and
 * SentencePiece-style BPE with byte fallback, as Hugging Face tokenizers
 * reads them.
 */
tq_status tq_tokenizer_load(const char *path, tq_tokenizer **out,
    tq_error *err);
void tq_tokenizer_free(tq_tokenizer *tok);

/*
 * Encodes `len` bytes of UTF-8 text.  With add_special, the post-processor
 * template (BOS, ...) is applied as transformers' tokenizer(text) does.
 * Ill-formed UTF-8 is read as Python's errors="replace" reads it (each bad
 * sequence becomes U+FFFD).  *ids is the caller's: free it with tq_ids_free.
 */
tq_status tq_tokenizer_encode(const tq_tokenizer *tok, const char *text,
    size_t len, int add_special, int32_t **ids, size_t *n_ids, tq_error *err);

/* Decodes ids to UTF-8 text, NUL-terminated; free it with tq_string_free. */
tq_status tq_tokenizer_decode(const tq_tokenizer *tok, const int32_t *ids,
    size_t n_ids, int skip_special, char **text, size_t *len, tq_error *err);

/* Number of ids: one more than the largest id of the vocab and added tokens. */
int32_t tq_tokenizer_n_vocab(const tq_tokenizer *tok);
/* The token string of an id, or NULL if the id is unused. */
const char *tq_tokenizer_token(const tq_tokenizer *tok, int32_t id);
/* The id of a token string (vocab or added token), or -1. */
int32_t tq_tokenizer_id(const tq_tokenizer *tok, const char *token);
/* The BOS id the post-processor adds, or -1 if it adds none. */
int32_t tq_tokenizer_bos(const tq_tokenizer *tok);

/* ---- Models (Hugging Face checkpoint directories) -------------------- */

typedef enum tq_arch {
	TQ_ARCH_LLAMA = 0,
	TQ_ARCH_MISTRAL,
	TQ_ARCH_QWEN2,
	TQ_ARCH_QWEN3,
	TQ_ARCH_SMOLLM3,
	TQ_ARCH_GEMMA2,
	TQ_ARCH_GEMMA3,
	TQ_ARCH_PHI3,
	TQ_ARCH_MIXTRAL,
	TQ_ARCH_QWEN3_MOE,
	TQ_ARCH_GPT_OSS
} tq_arch;

typedef enum tq_dtype {
	TQ_DTYPE_F32 = 0,
	TQ_DTYPE_F16,
	TQ_DTYPE_BF16,
	TQ_DTYPE_F64,		/* the rest appear in TurboQuant's own files */
	TQ_DTYPE_U8,
	TQ_DTYPE_I32,
	TQ_DTYPE_I64,
	TQ_DTYPE_I8,		/* written by the checkpoint exporters */
	TQ_DTYPE_F8_E4M3,
	TQ_DTYPE_U32		/* MLX's packed weights */
} tq_dtype;

typedef enum tq_rope_type {
	TQ_ROPE_DEFAULT = 0,
	TQ_ROPE_LINEAR,
	TQ_ROPE_DYNAMIC,
	TQ_ROPE_LLAMA3,
	TQ_ROPE_LONGROPE,	/* phi3: short or long factor lists */
	TQ_ROPE_YARN		/* gpt_oss: rope_factor from rope_original_max_pos */
} tq_rope_type;

/* Entries of a longrope factor list (rotary dimension / 2) at most. */
#define TQ_ROPE_FACTORS_MAX 256

/* Hyperparameters, as config.json gives them (defaults filled in). */
typedef struct tq_model_config {
	tq_arch arch;
	int64_t vocab_size;		/* V */
	int64_t hidden_size;		/* H */
	int64_t intermediate_size;	/* I */
	int64_t n_layers;
	int64_t n_heads;
	int64_t n_kv_heads;
	int64_t head_dim;		/* hd; n_heads * hd need not equal H */
	int64_t max_position_embeddings;
	double rms_norm_eps;
	double rope_theta;
	tq_rope_type rope_type;
	double rope_factor;
	double rope_low_freq_factor;	/* llama3 */
	double rope_high_freq_factor;	/* llama3 */
	int64_t rope_original_max_pos;	/* llama3, longrope */
	/* Dimensions of each q and k head rotated, the first ones (phi3's
	   partial_rotary_factor); 0: head_dim */
	int64_t rope_dim;
	/* longrope: inv_freq divided by short_factor, or by long_factor past
	   rope_original_max_pos tokens; cos and sin times rope_attn_factor */
	float rope_short_factor[TQ_ROPE_FACTORS_MAX];	/* [rope_dim / 2] */
	float rope_long_factor[TQ_ROPE_FACTORS_MAX];	/* [rope_dim / 2] */
	double rope_attn_factor;
	int64_t sliding_window;		/* 0 = full attention */
	int tie_word_embeddings;
	int attention_bias;		/* q, k, v and o biases (llama) */
	int qkv_bias;			/* q, k, v biases only (qwen2) */
	int mlp_bias;			/* gate, up, down biases */
	int qk_norm;			/* RMSNorm of each q and k head (qwen3) */
	/* q, k, v stored as one qkv_proj and gate, up as one gate_up_proj
	   (phi3); the model splits them into row ranges */
	int fused_proj;
	/* Layers without rotary embedding (smollm3's NoPE): bit li % 64 of
	   no_rope[li / 64] */
	uint64_t no_rope[16];
	/* Gemma's block (all 0 for the others): */
	int norm_unit_offset;		/* RMSNorm scales by 1 + w */
	int post_norms;			/* attention, MLP outputs normed */
	/* gate's activation: 0 SiLU, 1 tanh GELU (transformers), 2 that
	   GELU as llama.cpp's CPU computes it (a gemma read from GGUF) */
	int mlp_gelu;
	int embed_scale;		/* embeddings times sqrt(hidden_size) */
	double query_pre_attn_scalar;	/* q k^T times its ^-1/2; 0: hd */
	double attn_softcap;		/* cap tanh(score / cap); 0: none */
	double final_softcap;		/* logits likewise; 0: none */
	/* The sliding layers' RoPE base, unscaled (gemma3); 0: none */
	double rope_local_theta;
	/* Layers attending to every key despite sliding_window: bit li % 64
	   of full_attn[li / 64] */
	uint64_t full_attn[16];
	int64_t bos_token_id;		/* -1 if unset */
	int64_t eos_token_id;		/* -1 if unset */
	/* Mixture of experts (mixtral, qwen3_moe); n_experts 0: dense */
	int64_t n_experts;		/* E routed experts per MoE block */
	int64_t n_experts_used;		/* top-k experts per token */
	int64_t moe_inter;		/* Fe: an expert's intermediate size */
	int norm_topk_prob;		/* top-k weights renormalised to sum 1 */
	/* Layers whose MLP is dense despite n_experts (qwen3_moe's
	   mlp_only_layers, decoder_sparse_step): bit li % 64 of
	   dense_mlp[li / 64] */
	uint64_t dense_mlp[16];
	/*
	 * gpt_oss (all 0 for the others): a learned logit per head in each
	 * attention softmax's denominator (sinks); the router's softmax over
	 * its top-k logits only; the experts' clamped SwiGLU, (clamp(up, +-L)
	 * + 1) * g sigmoid(1.702 g) with g = min(gate, L) for L =
	 * swiglu_limit (0: SwiGLU); biases on the router and the experts.
	 * YaRN (TQ_ROPE_YARN): its ramp between the dimensions of beta_fast
	 * and beta_slow rotations over rope_original_max_pos (floored and
	 * ceiled when rope_truncate), cos and sin times rope_attn_factor.
	 */
	int attn_sinks;
	int router_topk_softmax;
	double swiglu_limit;
	int expert_bias;
	double rope_beta_fast, rope_beta_slow;
	int rope_truncate;
} tq_model_config;

/* One tensor of the checkpoint, as stored. */
typedef struct tq_tensor_info {
	const char *name;
	tq_dtype dtype;
	int ndim;
	int64_t shape[4];
	uint64_t nbytes;
	uint64_t stored_bytes;	/* in the model's file (a GGUF's quantized
				   blocks; nbytes is then of the fp32 copy) */
} tq_tensor_info;

typedef struct tq_model tq_model;

/*
 * Opens a Hugging Face model directory: config.json, model.safetensors or
 * shards listed in model.safetensors.index.json, and tokenizer.json when
 * present.  Weights are memory-mapped, not copied.
 */
tq_status tq_model_open(const char *dir, tq_model **out, tq_error *err);
void tq_model_close(tq_model *m);

const char *tq_model_path(const tq_model *m);
const tq_model_config *tq_model_get_config(const tq_model *m);
/* Borrowed; NULL when the directory has no tokenizer.json. */
const tq_tokenizer *tq_model_tokenizer(const tq_model *m);
/*
 * Why a model has no tokenizer when a reason is known (a GGUF whose
 * tokenizer metadata cannot be rebuilt, "path: pre-tokenizer ... cannot
 * be rebuilt: ..."), else NULL.
 */
const char *tq_model_tokenizer_why(const tq_model *m);
size_t tq_model_n_tensors(const tq_model *m);
/*
 * Tensors in natural name order (layers.2 before layers.10).  An index
 * past tq_model_n_tensors() gives TQ_EINVAL and a zeroed *out.
 */
tq_status tq_model_tensor(const tq_model *m, size_t i, tq_tensor_info *out);
/* Bytes of the safetensors files on disk. */
uint64_t tq_model_file_bytes(const tq_model *m);

const char *tq_arch_name(tq_arch a);
const char *tq_dtype_name(tq_dtype t);
const char *tq_rope_type_name(tq_rope_type r);

/* ---- Forward pass ---------------------------------------------------- */

/* The linear layers whose inputs the activation hook sees. */
typedef enum tq_linear {
	TQ_LINEAR_Q = 0,
	TQ_LINEAR_K,
	TQ_LINEAR_V,
	TQ_LINEAR_O,
	TQ_LINEAR_GATE,
	TQ_LINEAR_UP,
	TQ_LINEAR_DOWN,
	TQ_LINEAR_LM_HEAD,
	TQ_LINEAR_COUNT
} tq_linear;

const char *tq_linear_name(tq_linear l);	/* "q_proj", ... "lm_head" */

/*
 * Called with the input of each linear layer, x: [n_tokens, in_features]
 * row-major, valid during the call only.  q, k and v share one input, as
 * do gate and up: the hook is called once for each shared input, with
 * which = TQ_LINEAR_Q and TQ_LINEAR_GATE.  layer is -1 for lm_head.
 * Return 0 to go on, non-zero to stop the forward pass (TQ_ECANCELLED).
 */
typedef int (*tq_act_hook)(void *ud, int layer, tq_linear which,
    const float *x, int64_t n_tokens, int64_t in_features);

/*
 * Called with the logits of positions [pos0, pos0 + n), logits: [n, V].
 * Return 0 to go on, non-zero to stop (TQ_ECANCELLED).
 */
typedef int (*tq_logits_cb)(void *ud, int64_t pos0, int64_t n,
    const float *logits);

typedef struct tq_forward_opts {
	unsigned version;	/* TQ_FORWARD_OPTS_VERSION */
	tq_act_hook act_hook;
	void *act_ud;
	tq_logits_cb logits_cb;
	void *logits_ud;
	int64_t logits_chunk;	/* positions per logits_cb call; 0 = auto */
	const int *cancel;	/* stop (TQ_ECANCELLED) between blocks once
				   *cancel is non-zero; may be NULL */
	/*
	 * A mixture of experts' inputs, expert by expert (may be NULL):
	 * x[n, in] the rows of the tokens routed to expert of block layer,
	 * which = TQ_LINEAR_GATE for its gate and up's input, TQ_LINEAR_DOWN
	 * for its gated product; called with act_ud, non-zero stops as
	 * act_hook does.
	 */
	int (*expert_hook)(void *ud, int layer, int expert, tq_linear which,
	    const float *x, int64_t n, int64_t in);
} tq_forward_opts;

#define TQ_FORWARD_OPTS_VERSION 1
#define TQ_FORWARD_OPTS_INIT { .version = TQ_FORWARD_OPTS_VERSION, \
	.act_hook = NULL, .act_ud = NULL, .logits_cb = NULL, \
	.logits_ud = NULL, .logits_chunk = 0, .cancel = NULL, \
	.expert_hook = NULL }

/*
 * Runs the whole sequence ids[0..n) through the model in fp32 (prefill) and
 * delivers logits in chunks to opts->logits_cb and, when logits is not NULL,
 * into logits: [n, V].  Memory stays bounded by one chunk of logits unless
 * the caller asks for all of them; with neither, lm_head is skipped (its
 * input still reaches the hook).  opts may be NULL.
 */
tq_status tq_forward(const tq_model *m, const int32_t *ids, int64_t n,
    const tq_forward_opts *opts, float *logits, tq_error *err);

/*
 * The multiply-adds of tq_forward on n tokens, counted twice (FLOPs):
 * block li's linear layers (li = -1: lm_head) and its attention scores
 * and weighted sums (causal, over the layer's window).  What benchmarks
 * turn into a FLOP rate; kept beside the block's definition.
 */
void tq_forward_flops(const tq_model *m, int64_t li, int64_t n,
    double *linear, double *attention);

/* ---- Calibration ------------------------------------------------------ */

/* Progress of long work; return non-zero from the callback to cancel. */
typedef struct tq_progress {
	const char *stage;	/* "eval", ... */
	int64_t done;
	int64_t total;
} tq_progress;

typedef int (*tq_progress_cb)(void *ud, const tq_progress *p);


typedef struct tq_calib_opts {
	unsigned version;	/* TQ_CALIB_OPTS_VERSION */
	int64_t n_samples;	/* sequences; 0 = 128 */
	int64_t seqlen;		/* tokens each; 0 = 2048; capped at the context */
	uint64_t seed;		/* sampling seed */
} tq_calib_opts;

#define TQ_CALIB_OPTS_VERSION 1
#define TQ_CALIB_OPTS_INIT { .version = TQ_CALIB_OPTS_VERSION, \
	.n_samples = 0, .seqlen = 0, .seed = 0 }

/* Histograms of activations: bins of log2|x| from LO to HI octaves. */
#define TQ_HIST_BINS 64
#define TQ_HIST_LOG2_LO (-20.0)
#define TQ_HIST_LOG2_HI 12.0

/*
 * Statistics of the input of one linear layer (or of the inputs q, k and v
 * share, and gate and up share), over every calibration token.
 */
typedef struct tq_site_stats {
	int layer;		/* block index; -1 for lm_head */
	tq_linear site;		/* TQ_LINEAR_Q (q/k/v), _O, _GATE (gate/up),
				   _DOWN or _LM_HEAD */
	int64_t channels;	/* input features C */
	int64_t n_tokens;
	const float *absmax;	/* [C] */
	const float *mean_abs;	/* [C] */
	const float *mean_sq;	/* [C] the importance matrix (imatrix) */
	const int64_t *hist;	/* [TQ_HIST_BINS]; bin 0 also holds zeros */
} tq_site_stats;

/* A channel whose absmax is far above the median channel's. */
typedef struct tq_outlier {
	int64_t channel;
	float absmax;
	float ratio;		/* absmax / median absmax of the site */
} tq_outlier;

typedef struct tq_calib tq_calib;

/*
 * Reads calibration text (plain text, or JSONL whose lines are objects with
 * a "text" string; documents joined by blank lines), tokenizes it once with
 * the model's tokenizer (no special tokens) and samples n_samples windows
 * of seqlen tokens at seeded random offsets.
 */
tq_status tq_calib_sample(const tq_model *m, const char *path,
    const tq_calib_opts *o, tq_calib **out, tq_error *err);
/*
 * The same from several texts (say prose and code, so that calibration
 * fits neither domain alone): the windows are split evenly between them,
 * the first n_samples mod n_paths texts taking one more.  One text gives
 * exactly tq_calib_sample's samples.
 */
#define TQ_CALIB_MAX_TEXTS 8
tq_status tq_calib_sample_texts(const tq_model *m, const char *const *paths,
    size_t n_paths, const tq_calib_opts *o, tq_calib **out, tq_error *err);
/*
 * Runs every sample through the model and gathers the statistics of every
 * linear input.  progress (may be NULL) sees stage "calibrate"; returning
 * non-zero cancels.
 */
tq_status tq_calib_run(tq_calib *c, const tq_model *m, tq_progress_cb progress,
    void *ud, tq_error *err);
/* Saves samples and statistics as a safetensors file (atomically). */
tq_status tq_calib_save(const tq_calib *c, const char *path, tq_error *err);
tq_status tq_calib_load(const char *path, tq_calib **out, tq_error *err);
/*
 * Writes the importance matrix (sum of x^2 of every linear's input, and
 * the token counts) as the GGUF file llama.cpp's llama-imatrix writes, for
 * llama-quantize --imatrix; dataset names the calibration text.
 */
tq_status tq_calib_save_imatrix(const tq_calib *c, const char *path,
    const char *dataset, tq_error *err);
void tq_calib_free(tq_calib *c);

int64_t tq_calib_n_samples(const tq_calib *c);
int64_t tq_calib_seqlen(const tq_calib *c);
/* The sampled ids, [n_samples, seqlen]. */
const int32_t *tq_calib_ids(const tq_calib *c);
/* Sites in model order (0 until tq_calib_run or tq_calib_load). */
size_t tq_calib_n_sites(const tq_calib *c);
const tq_site_stats *tq_calib_site(const tq_calib *c, size_t i);
/*
 * The coverage of a mixture of experts after tq_calib_run: how many
 * experts block layer routes to (0 for a dense block, or statistics
 * loaded from a file, which keeps none), and how many calibration
 * tokens the float model's router sent to expert (-1 past them).
 */
int tq_calib_n_experts(const tq_calib *c, int layer);
int64_t tq_calib_expert_tokens(const tq_calib *c, int layer, int expert);
/* The site of a layer's linear input (k/v map to q, up to gate), or NULL. */
const tq_site_stats *tq_calib_find(const tq_calib *c, int layer,
    tq_linear which);
/*
 * The channels of a site whose absmax is at least min_ratio times the
 * median channel's, largest first; returns how many (at most max).
 */
size_t tq_calib_outliers(const tq_site_stats *s, double min_ratio,
    tq_outlier *out, size_t max);
/*
 * What an outlier channel is, one definition for the calibrate command,
 * the workbench's browser, layer detail and AWQ lesson: a channel whose
 * absmax over the calibration tokens is at least TQ_OUTLIER_RATIO times
 * the median channel's (the (C / 2)-th smallest absmax).
 */
#define TQ_OUTLIER_RATIO 4.0
/*
 * The channels of absmax[channels] ranked by absmax, largest first (ties
 * by channel index); the first max go to top with their ratio to the
 * median, which goes to *median.  Returns how many channels have absmax
 * >= min_ratio x median (top's first ones), 0 when the median is 0, -1
 * when out of memory.
 */
int64_t tq_channel_outliers(const float *absmax, int64_t channels,
    double min_ratio, float *median, tq_outlier *top, size_t max);

/* ---- Quantization schemes ------------------------------------------- */

/* The grid a weight is rounded onto. */
typedef enum tq_qtype {
	TQ_QT_INT = 0,		/* b-bit integers: (q - zero) * scale */
	TQ_QT_FP8_E4M3,		/* fp8 e4m3fn values times a scale */
	TQ_QT_NF4,		/* 4-bit NormalFloat values times the block absmax */
	TQ_QT_Q4_0,		/* GGUF block types, as ggml lays them out */
	TQ_QT_Q4_1,
	TQ_QT_Q5_0,
	TQ_QT_Q5_1,
	TQ_QT_Q8_0,
	TQ_QT_Q2_K,
	TQ_QT_Q3_K,
	TQ_QT_Q4_K,
	TQ_QT_Q5_K,
	TQ_QT_Q6_K,
	TQ_QT_IQ4_NL,		/* GGUF i-quants: 4-bit codes into a fixed table */
	TQ_QT_IQ4_XS,
	TQ_QT_MXFP4,		/* E2M1, blocks of 32, E8M0 scale (ggml's block) */
	TQ_QT_NVFP4,		/* E2M1, E4M3 scale per 16, fp32 per tensor */
	TQ_QT_IQ3_XXS,		/* GGUF i-quants: 4 columns a lattice point */
	TQ_QT_IQ3_S,
	TQ_QT_IQ2_XXS,		/* GGUF i-quants: groups of 8 on a codebook */
	TQ_QT_IQ2_XS,
	TQ_QT_IQ2_S,
	TQ_QT_IQ1_S,
	TQ_QT_IQ1_M,
	TQ_QT_COUNT
} tq_qtype;

#define TQ_GROUP_TENSOR (-1)	/* one scale for the whole tensor */
#define TQ_GROUP_CHANNEL 0	/* one scale per output channel (row) */

typedef struct tq_scheme {
	tq_qtype type;
	int bits;	/* TQ_QT_INT: 2..8; implied by the other types */
	/*
	 * Input columns that share a scale: TQ_GROUP_TENSOR,
	 * TQ_GROUP_CHANNEL or 32/64/128/256 (INT; FP8: tensor, channel,
	 * 128 = tiles of 128 x 128, or 32 = mxfp8's power-of-two scales per
	 * 32; NF4: the block size); fixed by the GGUF types.
	 */
	int group;
	int sym;	/* TQ_QT_INT: symmetric, zero point fixed at 2^(bits-1) */
	int nv_scale;	/* TQ_QT_NVFP4: its tensor scale, a tq_nv_scale */
} tq_scheme;

/*
 * NVFP4's tensor scale G (a value is E2M1 * E4M3 / G): compressed-tensors'
 * 2688 / amax ("nvfp4"); that rounded down to a power of two
 * ("nvfp4-pow2"), so that dividing by G and multiplying by 1 / G (Model
 * Optimizer's weight_scale_2) agree bit for bit; or 1 ("nvfp4-unit"),
 * MLX's nvfp4, whose E4M3 block scales carry everything.
 */
typedef enum tq_nv_scale {
	TQ_NV_AMAX = 0,
	TQ_NV_POW2,
	TQ_NV_UNIT
} tq_nv_scale;

/*
 * Parses a scheme name: "int4" (per channel, asymmetric), "int4-g128",
 * "int3-g128-sym", "int8-tensor", "fp8", "fp8-channel", "nf4" (blocks of
 * 64), "nf4-g128", "q4_0" ... "q6_k", "iq4_nl", "iq4_xs", "mxfp4",
 * "nvfp4", "nvfp4-pow2", "nvfp4-unit", "iq3_xxs", "iq3_s"
 * (case-insensitive).
 */
tq_status tq_scheme_parse(const char *name, tq_scheme *out, tq_error *err);
/* Writes the canonical name of a scheme ("int4-g128-sym", "q4_k"). */
void tq_scheme_name(const tq_scheme *s, char *buf, size_t len);
/* Checks that s can quantize a [rows, cols] weight; says why not. */
tq_status tq_scheme_check(const tq_scheme *s, int64_t rows, int64_t cols,
    tq_error *err);
/* Bits per weight of s on a [rows, cols] weight, scales and zeros included. */
double tq_scheme_bpw(const tq_scheme *s, int64_t rows, int64_t cols);
/*
 * The i-th name of the engine's table of fixed-block types (GGUF blocks,
 * i-quants, FP4), in its order ("q4_0" ... "nvfp4", "iq3_xxs"); NULL past
 * its end.  The parametric schemes (intB-gG, fp8, nf4) are not in it.
 */
const char *tq_scheme_table_name(size_t i);

/* ---- Plans: which method and grid each layer gets ----------------------- */

typedef enum tq_method {
	TQ_METHOD_FLOAT = 0,	/* keep the layer in float (not quantized) */
	TQ_METHOD_RTN,		/* round to nearest */
	TQ_METHOD_GPTQ,		/* Hessian-based error compensation */
	TQ_METHOD_AWQ,		/* activation-aware scaling */
	TQ_METHOD_SMOOTHQUANT,	/* outlier migration, then W8A8 */
	TQ_METHOD_COUNT
} tq_method;

/* How one linear layer is quantized. */
typedef struct tq_layer_cfg {
	tq_method method;
	tq_scheme scheme;
	int clip_search;	/* RTN/AWQ: search the clipping range */
	int use_imatrix;	/* weigh rounding error by mean x^2 of inputs */
	int act_order;		/* GPTQ: columns by decreasing Hessian diagonal */
	int static_groups;	/* GPTQ: group parameters from the original W */
	double damp;		/* GPTQ: fraction of the mean diagonal (0.01) */
	double hess_shrink;	/* GPTQ: H's off-diagonal times 1 - this (0) */
	int awq_scales;		/* GPTQ/RTN: AWQ's input scales folded first */
	int64_t block_size;	/* GPTQ: lazy-update block (128) */
	double alpha;		/* SmoothQuant: migration strength (0.5) */
	int act_bits;		/* activation bits: 8 (SmoothQuant W8A8), 16 */
} tq_layer_cfg;

/* Defaults for a method and scheme (damp 0.01, block 128, alpha 0.5...). */
void tq_layer_cfg_init(tq_layer_cfg *c, tq_method method,
    const tq_scheme *scheme);
const char *tq_method_name(tq_method m);	/* "float", "rtn", "gptq", ... */
/* 1 when the layer's inputs take AWQ's scales: awq, or gptq/rtn with
   awq_scales. */
int tq_layer_awq_scaled(const tq_layer_cfg *c);
tq_status tq_method_parse(const char *name, tq_method *out, tq_error *err);

/*
 * A plan: a default setting and ordered rules, each a PCRE2 pattern on
 * layer names ("model.layers.3.mlp.down_proj", "lm_head",
 * "model.embed_tokens") with the settings it changes; for each layer the
 * default applies, then every matching rule in order (later rules win).
 * lm_head and the embeddings stay in float unless a rule names them.
 */
typedef struct tq_plan tq_plan;

/* Reads a JSON plan file (see README: "Plans"). */
tq_status tq_plan_load(const char *path, tq_plan **out, tq_error *err);
/* Parses a JSON plan held in memory; name stands for it in messages. */
tq_status tq_plan_parse(const char *json, size_t len, const char *name,
    tq_plan **out, tq_error *err);
/* A plan with only a default setting. */
tq_status tq_plan_new(const tq_layer_cfg *def, tq_plan **out, tq_error *err);
/*
 * A named recipe: "w4a16-awq" (AWQ int4 g128), "w4-gptq" (GPTQ int4 g128),
 * "w3-gptq", "w8-rtn" (int8 per channel), "w8a8-smoothquant", "fp8",
 * "nf4", "q4_k_m", "q5_k_m", "q6_k", "q8_0", ... (tq_plan_preset_names).
 */
tq_status tq_plan_preset(const char *name, tq_plan **out, tq_error *err);
/* NULL-terminated list of preset names. */
const char *const *tq_plan_preset_names(void);
void tq_plan_free(tq_plan *p);

/*
 * The setting of one layer.  m gives the model context the rules may need
 * (the block count for "first/last blocks" rules of the GGUF mixes).
 */
tq_status tq_plan_resolve(const tq_plan *p, const tq_model *m,
    const char *layer, tq_layer_cfg *out, tq_error *err);
/*
 * Checks the plan against a model: every rule matches at least one layer,
 * and every layer's scheme fits its shape; the message names the layer.
 */
tq_status tq_plan_check(const tq_plan *p, const tq_model *m, tq_error *err);
/*
 * Why layer's scheme under p is not the one its preset or rules ask for
 * (a preset falls back where the grid does not fit, as llama.cpp does):
 * "g128 does not divide 576", "q4_k does not fit 576 columns"; "" when
 * it is the one asked for.
 */
tq_status tq_plan_fallback(const tq_plan *p, const tq_model *m,
    const char *layer, char *why, size_t len, tq_error *err);
/* The plan as JSON, loadable again; free it with tq_string_free. */
char *tq_plan_to_json(const tq_plan *p);
/* Writes the plan as JSON atomically. */
tq_status tq_plan_save(const tq_plan *p, const char *path, tq_error *err);

/*
 * Editing a plan's rules.  A rule is a PCRE2 pattern on layer names and
 * the keys it gives (mask, TQ_PLAN_SET_* bits) with their values in cfg
 * (the other fields of cfg are not used); rules apply in order, later
 * rules win.  Edits check the rule as a JSON plan's rule is checked; on
 * failure the plan is left as it was.
 */
#define TQ_PLAN_SET_METHOD	(1u << 0)
#define TQ_PLAN_SET_SCHEME	(1u << 1)
#define TQ_PLAN_SET_ACT_ORDER	(1u << 2)
#define TQ_PLAN_SET_DAMP	(1u << 3)
#define TQ_PLAN_SET_CLIP	(1u << 4)	/* clip_search */
#define TQ_PLAN_SET_IMATRIX	(1u << 5)	/* use_imatrix */
#define TQ_PLAN_SET_STATIC	(1u << 6)	/* static_groups */
#define TQ_PLAN_SET_BLOCK	(1u << 7)	/* block_size */
#define TQ_PLAN_SET_ALPHA	(1u << 8)
#define TQ_PLAN_SET_ACT_BITS	(1u << 9)
#define TQ_PLAN_SET_SHRINK	(1u << 10)	/* hess_shrink */
#define TQ_PLAN_SET_AWQ_SCALES	(1u << 11)	/* awq_scales */
#define TQ_PLAN_SET_ALL		((1u << 12) - 1)

typedef struct tq_plan_rule {
	const char *match;	/* the pattern */
	unsigned mask;		/* TQ_PLAN_SET_*: the keys the rule gives */
	tq_layer_cfg cfg;	/* their values */
} tq_plan_rule;

/* The rules given after the default (or the preset), in order. */
size_t tq_plan_n_rules(const tq_plan *p);
/*
 * Rule i; out->match is borrowed from p until p is edited or freed.  An
 * index past the rules gives TQ_EINVAL.
 */
tq_status tq_plan_get_rule(const tq_plan *p, size_t i, tq_plan_rule *out,
    tq_error *err);
/* Inserts a copy of r before rule i; i == tq_plan_n_rules(p) appends. */
tq_status tq_plan_insert_rule(tq_plan *p, size_t i, const tq_plan_rule *r,
    tq_error *err);
tq_status tq_plan_remove_rule(tq_plan *p, size_t i, tq_error *err);

/*
 * The quantizable layers of a model in order: every linear of every block
 * (q, k, v, o, gate, up, down), then lm_head and the embeddings, as names
 * and shapes [rows = out features, cols = in features].  An index past
 * tq_model_n_linears() gives NULL, or TQ_EINVAL with a 0 x 0 shape.
 */
size_t tq_model_n_linears(const tq_model *m);
const char *tq_model_linear_name(const tq_model *m, size_t i);
tq_status tq_model_linear_shape(const tq_model *m, size_t i, int64_t *rows,
    int64_t *cols);
/*
 * What linear i is: q .. down (an expert's gate, up or down for a mixture
 * of experts, *expert its index; -1 elsewhere), TQ_LINEAR_LM_HEAD for
 * lm_head, TQ_LINEAR_COUNT for the embeddings or past the last.  expert
 * may be NULL.
 */
tq_linear tq_model_linear_kind(const tq_model *m, size_t i, int *expert);

/* ---- Evaluation ------------------------------------------------------ */

typedef struct tq_ppl_result {
	double ppl;		/* exp(mean NLL) */
	double mean_nll;	/* nats per predicted token */
	double nll_stderr;	/* standard error of mean_nll */
	double ppl_stderr;	/* ppl * nll_stderr (delta method) */
	int64_t n_tokens;	/* tokens in the text */
	int64_t n_windows;
	int64_t n_scored;	/* predicted positions */
	int64_t ctx;		/* window length */
} tq_ppl_result;

/*
 * Perplexity by the GPTQ-paper protocol: ids split into non-overlapping
 * windows of ctx tokens (tail dropped), every position but the first of a
 * window predicted, ppl = exp(mean NLL).
 */
tq_status tq_eval_perplexity(const tq_model *m, const int32_t *ids,
    int64_t n_ids, int64_t ctx, tq_progress_cb progress, void *ud,
    tq_ppl_result *out, tq_error *err);

/* ---- Validation: protocols, KL divergence, long context, tasks --------- */

/* How perplexity cuts the text into windows and which positions it scores. */
typedef enum tq_ppl_protocol {
	TQ_PROTOCOL_GPTQ = 0,	/* text without special tokens, non-overlapping
				   windows, every position after the first */
	TQ_PROTOCOL_LLAMACPP	/* llama-perplexity: text with BOS, windows of
				   512 whose first token becomes BOS, only the
				   second half scored */
} tq_ppl_protocol;

const char *tq_protocol_name(tq_ppl_protocol p);	/* "gptq", "llamacpp" */
tq_status tq_protocol_parse(const char *name, tq_ppl_protocol *out,
    tq_error *err);

typedef struct tq_eval_opts {
	unsigned version;	/* TQ_EVAL_OPTS_VERSION */
	tq_ppl_protocol protocol;
	int64_t ctx;		/* window; 0: 512 (llamacpp) or the model's
				   context, at most 2048 (gptq) */
	int64_t max_tokens;	/* only the first N tokens of the text; 0 = all */
} tq_eval_opts;

#define TQ_EVAL_OPTS_VERSION 1
#define TQ_EVAL_OPTS_INIT { .version = TQ_EVAL_OPTS_VERSION, \
	.protocol = TQ_PROTOCOL_GPTQ, .ctx = 0, .max_tokens = 0 }

/*
 * The window length o gives on model m (resolving ctx 0); -1 if o's
 * version is not TQ_EVAL_OPTS_VERSION.
 */
int64_t tq_eval_ctx(const tq_model *m, const tq_eval_opts *o);

/*
 * Tokenizes text as the protocol does (llamacpp adds the BOS llama.cpp
 * adds; gptq adds nothing) and keeps the first max_tokens; free *ids
 * with tq_ids_free.
 */
tq_status tq_eval_tokenize(const tq_model *m, const tq_eval_opts *o,
    const char *text, size_t len, int32_t **ids, int64_t *n, tq_error *err);

/* Perplexity of ids (from tq_eval_tokenize) by o's protocol. */
tq_status tq_eval_ppl(const tq_model *m, const int32_t *ids, int64_t n_ids,
    const tq_eval_opts *o, tq_progress_cb progress, void *ud,
    tq_ppl_result *out, tq_error *err);

/* Quantiles of a per-position quantity. */
typedef struct tq_quantiles {
	double min, p0_1, p1, p5, p10, p25, median, p75, p90, p95, p99, p99_9,
	    max;
} tq_quantiles;

/*
 * A model against its base on the same positions: the numbers
 * llama-perplexity --kl-divergence prints.  KLD is KL(base || model) in
 * nats per position; dp is p(correct token) - p_base(correct token).
 */
typedef struct tq_kld_result {
	tq_ppl_result ppl;		/* the model */
	tq_ppl_result ppl_base;		/* the base on the same positions */
	double ppl_cor;			/* correlation of the two NLLs */
	double ln_ratio, ln_ratio_stderr;	/* mean ln(PPL/PPL(base)) */
	double ratio, ratio_stderr;	/* PPL / PPL(base) */
	double diff, diff_stderr;	/* PPL - PPL(base) */
	double kld, kld_stderr;		/* mean KLD */
	tq_quantiles kld_q;
	double dp, dp_stderr;		/* mean dp */
	tq_quantiles dp_q;
	double dp_rms, dp_rms_stderr;
	double same_top, same_top_stderr;	/* share with the same argmax */
	int64_t n;			/* positions */
} tq_kld_result;

/*
 * Runs base and each of models[0..k) (k <= 8) on the same windows in one
 * pass and fills out[k]; memory stays at one window of hidden states and
 * one chunk of logits per model.  The models must share the vocabulary.
 */
tq_status tq_eval_compare(const tq_model *base, const tq_model *const *models,
    size_t k, const int32_t *ids, int64_t n_ids, const tq_eval_opts *o,
    tq_progress_cb progress, void *ud, tq_kld_result *out, tq_error *err);

/*
 * Saves the base's log-probabilities of every scored position in the
 * compact file described in README ("Base log-probabilities"), 2 bytes
 * per vocabulary entry, atomically, with the protocol, windows and tokens;
 * fills the base's perplexity.
 */
tq_status tq_eval_save_logits(const tq_model *base, const int32_t *ids,
    int64_t n_ids, const tq_eval_opts *o, const char *path,
    tq_progress_cb progress, void *ud, tq_ppl_result *out, tq_error *err);

/*
 * m against a saved base-logits file, on the file's own tokens and
 * windows; *o_out (may be NULL) receives the file's protocol and ctx.
 */
tq_status tq_eval_kld_file(const tq_model *m, const char *path,
    tq_progress_cb progress, void *ud, tq_eval_opts *o_out,
    tq_kld_result *out, tq_error *err);

/* One context length of the long-context table. */
typedef struct tq_longctx_row {
	int64_t ctx;
	tq_kld_result r;	/* r.ppl_base, r.ppl, r.kld, r.same_top... */
} tq_longctx_row;

/*
 * Perplexity and KLD at every power-of-two window from 64 up to the
 * model's context (each on the same first max_tokens tokens, o's
 * protocol); lengths the text cannot fill are left out.  Free *rows with
 * tq_longctx_free.
 */
tq_status tq_eval_longctx(const tq_model *base, const tq_model *m,
    const int32_t *ids, int64_t n_ids, const tq_eval_opts *o,
    tq_progress_cb progress, void *ud, tq_longctx_row **rows, size_t *n_rows,
    tq_error *err);
void tq_longctx_free(tq_longctx_row *rows);

/* Multiple-choice accuracy, as lm-evaluation-harness reports it. */
typedef struct tq_tasks_result {
	int64_t n;			/* questions */
	double acc, acc_stderr;		/* argmax of log-likelihood */
	double acc_norm, acc_norm_stderr;	/* argmax of LL per byte */
} tq_tasks_result;


/* ---- Jobs: long work on a worker thread ------------------------------- */

/*
 * A job runs one piece of long work (calibration, quantization,
 * evaluation) on its own thread.  The front end never blocks on it: it
 * polls events, typically when tq_job_fd() becomes readable or on a timer,
 * and may cancel at any time; the work stops within about a second and
 * leaves no half-written file.  All tq_job_* calls are for one thread (the
 * front end's); the job's own thread never touches the terminal.
 */
typedef struct tq_job tq_job;

typedef enum tq_event_kind {
	TQ_EVENT_STAGE = 0,	/* a stage began; stage holds its name */
	TQ_EVENT_PROGRESS,	/* done/total of the stage, fraction, ETA */
	TQ_EVENT_LAYER,		/* a layer was quantized; see layer */
	TQ_EVENT_LOG,		/* a line for the log; see text */
	TQ_EVENT_DONE,		/* the job ended: success */
	TQ_EVENT_FAILED,	/* the job ended: text holds the error */
	TQ_EVENT_CANCELLED	/* the job ended: cancelled */
} tq_event_kind;

/* What quantizing one linear layer gave. */
typedef struct tq_layer_result {
	char name[96];		/* "model.layers.3.mlp.down_proj" */
	int layer;		/* block, -1 for lm_head */
	tq_linear which;
	char method[16];	/* "rtn", "gptq", ... */
	char scheme[32];	/* "int4-g128", "q4_k", ... */
	int64_t rows, cols;
	double rel_err;		/* ||WX - W'X||^2 / ||WX||^2, calibration X */
	double sqnr_db;		/* weight SQNR: 10 log10(|W|^2 / |W - W'|^2) */
	double max_abs_err;	/* max |W - W'| */
	double bpw;		/* bits per weight, scales and zeros included */
	double seconds;
	/*
	 * Calibration tokens its statistics came from (0: none); for an
	 * expert's gate, up or down also the tokens the router sent it
	 * (-1 for other linears), which tokens exceeds when an expert saw
	 * fewer than its input width and was calibrated on all of them.
	 */
	int64_t tokens;
	int64_t routed;
} tq_layer_result;

typedef struct tq_event {
	tq_event_kind kind;
	char stage[32];
	int64_t done, total;
	double fraction;	/* done / total of the stage */
	double eta_seconds;	/* estimate for the stage; < 0 if unknown */
	tq_layer_result layer;
	char text[512];
} tq_event;

/* 1 and *ev filled when an event was waiting, 0 otherwise; never blocks. */
int tq_job_poll(tq_job *j, tq_event *ev);
/* A descriptor that is readable while events wait (for poll/select). */
int tq_job_fd(const tq_job *j);
/* Asks the job to stop; it ends with TQ_EVENT_CANCELLED. */
void tq_job_cancel(tq_job *j);
/* 1 while the worker thread runs. */
int tq_job_running(const tq_job *j);
/* Waits for the end; returns the job's status (message in err). */
tq_status tq_job_wait(tq_job *j, tq_error *err);
/* Cancels if still running, waits, frees; accepts NULL. */
void tq_job_free(tq_job *j);

/*
 * Calibration as a job: samples and runs calibration (as tq_calib_sample
 * and tq_calib_run) and saves to save_path when not NULL.  The model must
 * stay open until the job is freed.  The result, after a successful wait,
 * is taken with tq_job_take_calib (the caller then owns it); a cancelled
 * or failed job gives NULL.
 */
tq_status tq_job_calibrate(const tq_model *m, const char *text_path,
    const tq_calib_opts *o, const char *save_path, tq_job **out,
    tq_error *err);
tq_calib *tq_job_take_calib(tq_job *j);

/* One site's statistics so far, copied out of a running calibration. */
typedef struct tq_calib_site_snapshot {
	int layer;		/* as in tq_site_stats */
	tq_linear site;
	int64_t channels;	/* C */
	int64_t n_tokens;
	float *absmax;		/* [C] */
	int64_t hist[TQ_HIST_BINS];
} tq_calib_site_snapshot;

typedef struct tq_calib_snapshot {
	int64_t done, total;		/* samples run, of n_samples */
	uint64_t gen;			/* rest points so far: 0 = none yet */
	size_t n_sites;			/* 0 before the first rest point */
	tq_calib_site_snapshot *sites;	/* [n_sites], in model order */
} tq_calib_snapshot;

/*
 * The statistics of a calibration job as they stood at its last rest
 * point (between two samples, and after the last one, whose copy equals
 * the final statistics): the job copies them there under a mutex, and
 * this call copies that copy, so the front end may call it at any time
 * (on TQ_EVENT_PROGRESS, say) while the job runs or after.  Another kind
 * of job gives TQ_EINVAL.  Free *out with tq_calib_snapshot_free.
 */
tq_status tq_job_calib_snapshot(tq_job *j, tq_calib_snapshot **out,
    tq_error *err);
void tq_calib_snapshot_free(tq_calib_snapshot *s);

/*
 * Validation as a job: what tq_eval_compare, tq_eval_save_logits,
 * tq_eval_kld_file and tq_eval_longctx compute, and multiple-choice tasks
 * (a JSONL file, one {"context": S, "choices": [S...], "label": N} a
 * line, each choice scored by its log-likelihood after the context),
 * chosen by the spec, on one text.  Stages "tokenize", "eval", "longctx", "tasks".
 * The models must stay open until the job is freed; the report is read
 * with tq_job_validation after the wait.
 */
typedef struct tq_validate_spec {
	unsigned version;		/* TQ_VALIDATE_SPEC_VERSION */
	const tq_model *base;		/* reference; NULL: models alone */
	const tq_model *const *models;	/* [n_models] (n_models <= 8) */
	size_t n_models;
	const char *text_path;		/* NULL only with base_logits */
	tq_eval_opts opts;
	const char *save_logits;	/* save the base's (or models[0]'s) */
	const char *base_logits;	/* KLD of models[0] against a file */
	int long_context;		/* base against models[0] */
	const char *tasks_path;		/* multiple-choice tasks, every model */
	int64_t tasks_limit;
} tq_validate_spec;

#define TQ_VALIDATE_SPEC_VERSION 1
#define TQ_VALIDATE_SPEC_INIT { .version = TQ_VALIDATE_SPEC_VERSION, \
	.base = NULL, .models = NULL, .n_models = 0, .text_path = NULL, \
	.opts = TQ_EVAL_OPTS_INIT, .save_logits = NULL, .base_logits = NULL, \
	.long_context = 0, .tasks_path = NULL, .tasks_limit = 0 }

typedef struct tq_validation {
	tq_eval_opts opts;		/* as resolved (ctx, protocol) */
	int64_t n_tokens;		/* of the text, before max_tokens */
	int has_base;			/* base ppl and KLDs are filled */
	tq_ppl_result base;
	tq_kld_result models[8];	/* ppl always; KLD with a base */
	tq_longctx_row *longctx;	/* [n_longctx] */
	size_t n_longctx;
	int has_tasks;
	tq_tasks_result base_tasks, tasks[8];
	double seconds;
} tq_validation;

tq_status tq_job_validate(const tq_validate_spec *spec, tq_job **out,
    tq_error *err);
const tq_validation *tq_job_validation(const tq_job *j);

/* One layer of the per-layer report. */
typedef struct tq_layer_rank {
	const tq_layer_result *r;	/* borrowed from the state */
	double err;			/* rel_err, or without calibration
					   (NaN) |W - W'|^2 / |W|^2 */
	int worst;			/* flagged: see tq_state_rank */
} tq_layer_rank;

/*
 * The state's quantized layers sorted by error (err), worst first; a
 * layer is flagged when its error is at least 4 times the median layer's,
 * or when it is the worst.  Free *out with tq_state_rank_free.
 */
struct tq_qstate;
tq_status tq_state_rank(const struct tq_qstate *s, tq_layer_rank **out,
    size_t *n, tq_error *err);
void tq_state_rank_free(tq_layer_rank *rank);

/* ---- Quantization ----------------------------------------------------- */

/*
 * A quantized state: the plan, the calibration summary, every quantized
 * layer's codes and parameters, and the per-layer report.  Saved in a
 * directory (state.json and safetensors files), so evaluation and export
 * run from it without calibrating again.
 */
typedef struct tq_qstate tq_qstate;

/*
 * Quantizes m under plan, block by block: each block's calibration inputs
 * are the outputs of the already-quantized blocks before it, and inside a
 * block q/k/v, then o, then gate/up, then down each see inputs produced by
 * the layers already quantized (true-sequential).  calib supplies the
 * samples (and the importance matrix); it may be NULL only when every
 * layer is float or RTN without imatrix.  With out_dir, each finished
 * block is saved there, and the job holds an flock(2) on
 * out_dir/quantize.lock from this call until it is freed: a second job
 * on the same directory, in any process, fails here.  Flags:
 * TQ_QUANTIZE_RESUME continues a killed run from its last finished block
 * (same model, plan and calibration required) and gives the same result;
 * without it or TQ_QUANTIZE_FORCE a directory holding a complete state
 * is refused, and otherwise the run starts by removing the state that is
 * there.  A plan whose layers are all RTN-class (float, or RTN with or
 * without imatrix and clip search, no 8-bit activations; dense model)
 * takes its statistics from one pass of the float model, without X^T X
 * (no rel_err); TQ_QUANTIZE_SEQUENTIAL keeps the block-by-block pipeline
 * for it.  The block-by-block pipeline keeps each sample's MLP product
 * (samples x tokens x intermediate floats, up to 2 GiB) so as not to
 * compute gate and up twice; TQ_QUANTIZE_RECOMPUTE does not, for less
 * memory and the same result.  Events: stage "quantize", one
 * TQ_EVENT_LAYER per layer.  m, plan and calib must outlive the job; take
 * the state with tq_job_take_state.
 */
#define TQ_QUANTIZE_RESUME 1
#define TQ_QUANTIZE_FORCE 2
#define TQ_QUANTIZE_SEQUENTIAL 4
#define TQ_QUANTIZE_RECOMPUTE 8
tq_status tq_job_quantize(const tq_model *m, const tq_plan *plan,
    const tq_calib *calib, const char *out_dir, int flags, tq_job **out,
    tq_error *err);
tq_qstate *tq_job_take_state(tq_job *j);

/* 1 when dir holds a quantized state (a state.json). */
int tq_state_is_dir(const char *dir);
/* The path of the model a saved state was made of (tq_string_free). */
tq_status tq_state_model_path(const char *dir, char **out, tq_error *err);
/* Loads a saved state (complete runs only) for the model m it was made of. */
tq_status tq_state_load(const char *dir, const tq_model *m, tq_qstate **out,
    tq_error *err);
void tq_state_free(tq_qstate *s);
/* Per-layer results, in model order. */
size_t tq_state_n_results(const tq_qstate *s);
const tq_layer_result *tq_state_result(const tq_qstate *s, size_t i);
/* The plan the state was made with (borrowed). */
const tq_plan *tq_state_plan(const tq_qstate *s);

/*
 * A model that computes with the state's dequantized weights (and the
 * state's changed norms): evaluate it like any model.  It borrows base's
 * weights and tokenizer: close it before base.
 */
tq_status tq_model_apply_state(const tq_model *base, const tq_qstate *s,
    tq_model **out, tq_error *err);

/* ---- Sensitivity and mixed precision ------------------------------------ */

/*
 * Sensitivity: for every linear layer of the blocks and every candidate
 * setting of a menu, the relative output error on the calibration inputs,
 * the bits per weight, and a per-layer coefficient that turns output error
 * into a predicted model-level loss (mean KL divergence of the next-token
 * distribution), measured by quantizing each layer alone.
 */
typedef struct tq_sens tq_sens;

/*
 * Menu entries are "METHOD:SCHEME" with an optional "+imatrix" ("rtn:q4_k",
 * "gptq:int4-g128", "rtn:q3_k+imatrix"); NULL or an empty menu gives the
 * default menu (tq_sens_default_menu).  probe_tokens: calibration tokens
 * the per-layer KLD probe evaluates (0 = none: every coefficient is 1
 * and the predicted loss is the sum of relative errors).  The model and
 * calibration must outlive the job; stage "sensitivity", then "probe".
 */
tq_status tq_job_sensitivity(const tq_model *m, const tq_calib *calib,
    const char *const *menu, size_t n_menu, int64_t probe_tokens,
    tq_job **out, tq_error *err);
/*
 * The same with a mixture of experts' entries chosen: by default one
 * entry for each block's experts' gate (and one for up, one for down),
 * quantized together, one choice; per_expert: every expert linear its
 * own entry.  The router is never an entry.
 */
tq_status tq_job_sensitivity_experts(const tq_model *m,
    const tq_calib *calib, const char *const *menu, size_t n_menu,
    int64_t probe_tokens, int per_expert, tq_job **out, tq_error *err);
tq_sens *tq_job_take_sens(tq_job *j);
/* NULL-terminated default menu. */
const char *const *tq_sens_default_menu(void);

tq_status tq_sens_save(const tq_sens *s, const char *path, tq_error *err);
/* Loads saved sensitivity and checks it fits the model m. */
tq_status tq_sens_load(const char *path, const tq_model *m, tq_sens **out,
    tq_error *err);
void tq_sens_free(tq_sens *s);

size_t tq_sens_n_layers(const tq_sens *s);	/* the block linears */
size_t tq_sens_n_menu(const tq_sens *s);
const char *tq_sens_menu(const tq_sens *s, size_t k);
/* A linear's name, or a group's: "model.layers.0.mlp.experts.*.up_proj" */
const char *tq_sens_layer_name(const tq_sens *s, size_t l);
/* The model linears of entry l: 1, or a group's experts; the j-th's
   index (tq_model_linear_name), (size_t)-1 past them. */
size_t tq_sens_layer_members(const tq_sens *s, size_t l);
size_t tq_sens_layer_linear(const tq_sens *s, size_t l, size_t j);
/* The entry model linear `linear` belongs to, (size_t)-1 for none. */
size_t tq_sens_layer_of(const tq_sens *s, size_t linear);
/* Whether a mixture of experts' table has an entry per expert linear. */
int tq_sens_per_expert(const tq_sens *s);
int64_t tq_sens_layer_params(const tq_sens *s, size_t l);
double tq_sens_rel_err(const tq_sens *s, size_t l, size_t k);
/* Predicted mean KLD of setting k on layer l: coefficient times error. */
double tq_sens_pred(const tq_sens *s, size_t l, size_t k);
/* Measured KLD of the probe setting on layer l alone (NaN without). */
double tq_sens_probe_kld(const tq_sens *s, size_t l);

/*
 * Leaves settings out of the optimizer's choice (tq_sens_optimize,
 * tq_sens_frontier) without measuring again.  Each item is a menu entry
 * ("rtn:q4_1", "gptq:int4-g128"), left out on every layer, or a grid
 * ("q4_1"), left out wherever an entry gives a layer that grid: its own,
 * or the one it falls back to there (rtn:q5_k is q5_1 on width 576).  An
 * entry not in the menu, a grid no entry gives any layer, or an exclusion
 * that leaves some layer no setting fails, and then nothing is excluded.
 * Calls add up; the table's file does not keep them.
 */
tq_status tq_sens_exclude(tq_sens *s, const tq_model *m,
    const char *const *items, size_t n, tq_error *err);

/* A per-layer choice: choice[l] indexes the menu; its size and loss. */
typedef struct tq_mix {
	double bpw;		/* over the block linears */
	double pred;		/* predicted mean KLD: sum of the layers' */
	size_t *choice;		/* [n_layers]; see tq_mix_free */
} tq_mix;

/*
 * The best mix for a budget of average bits per weight: minimizes the
 * predicted loss with bpw <= target (Lagrangian relaxation over the
 * convex hull of each layer's menu, then a greedy fill of what the
 * budget has left).  Deterministic.  Fails if even the smallest
 * settings exceed the budget.  Release out's choice with tq_mix_free.
 */
tq_status tq_sens_optimize(const tq_sens *s, double target_bpw, tq_mix *out,
    tq_error *err);
/* Frees mix->choice (not mix itself, which is the caller's). */
void tq_mix_free(tq_mix *mix);
/*
 * The Pareto frontier, smallest first: every mix the Lagrangian sweep
 * reaches (free *mixes, their choices too, with tq_mix_free_all).
 */
tq_status tq_sens_frontier(const tq_sens *s, tq_mix **mixes, size_t *n,
    tq_error *err);
void tq_mix_free_all(tq_mix *mixes, size_t n);
/*
 * The plan of a mix: one rule per entry (a group's matches its experts);
 * lm_head and the
 * embeddings as base resolves them on m (base NULL: float).
 */
tq_status tq_sens_plan(const tq_sens *s, const tq_mix *mix,
    const tq_model *m, const tq_plan *base, tq_plan **out, tq_error *err);

/* ---- Export ------------------------------------------------------------ */

/* A file an export wrote. */
typedef struct tq_export_file {
	char path[512];
	uint64_t bytes;
} tq_export_file;

#define TQ_EXPORT_MAX_FILES 16

/* What an export wrote. */
typedef struct tq_export_report {
	char format[24];	/* "gguf", "awq", "gptq", "mlx", "onnx",
				   "compressed-tensors", "trtllm" */
	char type[32];		/* "q4_k_m", "w4a16", ... as written */
	tq_export_file files[TQ_EXPORT_MAX_FILES];
	size_t n_files;
	uint64_t total_bytes;
	double bpw;		/* bits per weight of the quantized layers,
				   scales and zeros included */
	char warning[512];	/* what a re-quantization lost; "" if none */
} tq_export_report;

typedef struct tq_export_opts {
	unsigned version;	/* TQ_EXPORT_OPTS_VERSION */
	const char *format;	/* as in tq_export_report.format */
	const char *type;	/* format-specific type or preset; NULL: the
				   state's own grid (or f16 for a float model) */
	int force;		/* replace an existing output */
	const char *imatrix;	/* GGUF with a type: an importance-matrix GGUF
				   weighing the RTN as llama-quantize
				   --imatrix does; NULL: none */
} tq_export_opts;

#define TQ_EXPORT_OPTS_VERSION 2
#define TQ_EXPORT_OPTS_INIT { .version = TQ_EXPORT_OPTS_VERSION, \
	.format = NULL, .type = NULL, .force = 0, .imatrix = NULL }

/*
 * Exports the model base, quantized by state s (NULL: the float model), to
 * out_path (a file or a directory, by format), as a job: stage "export",
 * progress per tensor; written under a temporary name and renamed, so a
 * failed or cancelled export leaves nothing.  base and s must outlive the
 * job; the report is read with tq_job_export_report after the wait.
 */
tq_status tq_job_export(const tq_model *base, const tq_qstate *s,
    const char *out_path, const tq_export_opts *o, tq_job **out,
    tq_error *err);
const tq_export_report *tq_job_export_report(const tq_job *j);
/* NULL-terminated list of the format names. */
const char *const *tq_export_format_names(void);
/* What format writes and the types it takes; 0 for an unknown name. */
int tq_export_format_info(const char *format, const char **writes,
    const char **types);

/* ---- Inspection (the workbench's detail and teaching screens) -------- */

/* Quantizable layer i's weight as fp32, out: [rows, cols]. */
tq_status tq_model_linear_weight(const tq_model *m, size_t i, float *out,
    tq_error *err);

#define TQ_VIEW_MAX_LEVELS 256

/* One block of a quantized weight, laid open. */
typedef struct tq_group_view {
	int64_t qk;		/* columns per block */
	float scale;		/* INT: the step; FP8/NF4: the scale; GGUF:
				   the first sub-block's effective scale */
	int32_t zero;		/* INT: the zero point; else 0 */
	int n_levels;		/* the grid of the block's first column */
	float levels[TQ_VIEW_MAX_LEVELS];	/* ascending unless scale < 0 */
} tq_group_view;

/*
 * Round-to-nearest of w[rows, cols] on s: deq[rows, cols] the dequantized
 * weight and codes[rows, cols] (each may be NULL); with g, the parameters
 * and grid of block `block` of row `row`.
 */
tq_status tq_quant_view(const tq_scheme *s, const float *w, int64_t rows,
    int64_t cols, int64_t row, int64_t block, float *deq, uint8_t *codes,
    tq_group_view *g, tq_error *err);

/* ---- Inspection of the algorithms, step by step (teaching mode) ------ */

/* How far a quantized weight is from the original, in weight space. */
typedef struct tq_weight_err {
	double sum_sq;		/* |w|^2 */
	double err_sq;		/* |w - q|^2 */
	double max_abs;		/* max |w - q| */
	double rel;		/* err_sq / sum_sq; 0 when w is 0 */
	double sqnr_db;		/* 10 log10(sum_sq / err_sq); INFINITY when
				   exact */
} tq_weight_err;

/* The error of q[n] against w[n] (the quantize report's SQNR, too). */
void tq_weight_error(const float *w, const float *q, int64_t n,
    tq_weight_err *out);

/*
 * H[n_cols, n_cols] = X^T X of columns [col0, col0 + n_cols) of the input
 * of linear `site` in block `layer` (named as the activation hook names
 * them: TQ_LINEAR_Q for q/k/v, TQ_LINEAR_GATE for gate/up), X: [n_tokens,
 * in] the inputs of the forward pass of ids[0..n).  The pass stops at the
 * site.  *n_tokens (may be NULL) gets the rows of X.  The engine's own
 * accumulation, as GPTQ and AWQ take it.
 */
tq_status tq_site_hessian(const tq_model *m, const int32_t *ids, int64_t n,
    int layer, tq_linear site, int64_t col0, int64_t n_cols, float *H,
    int64_t *n_tokens, tq_error *err);

#define TQ_GPTQ_TRACE_OPTS_VERSION 1
#define TQ_GPTQ_TRACE_MAX_COLS 1024

typedef struct tq_gptq_trace_opts {
	unsigned version;	/* TQ_GPTQ_TRACE_OPTS_VERSION */
	double damp;		/* added to H's diagonal: damp * its mean */
} tq_gptq_trace_opts;

#define TQ_GPTQ_TRACE_OPTS_INIT { .version = TQ_GPTQ_TRACE_OPTS_VERSION, \
	.damp = 0.01 }

/* GPTQ on one row, column by column, and RTN on the same row. */
typedef struct tq_gptq_trace {
	int64_t cols;
	double damp_used;	/* more than asked when H was not definite */
	uint8_t *codes;		/* [cols] GPTQ's codes */
	float *q;		/* [cols] each column's rounded value */
	float *d;		/* [cols] its rounding error: the updated
				   weight minus q */
	float *w;		/* [cols + 1, cols] row k: the weights once
				   columns 0..k-1 are rounded (they hold q)
				   and their errors spread over the rest;
				   row 0 is the input (dead inputs 0) */
	double *rel_err;	/* [cols + 1] ||(w - w_k) X||^2 / ||w X||^2,
				   w_k row k above */
	uint8_t *rtn_codes;	/* [cols] round-to-nearest, the same grid */
	float *rtn;		/* [cols] its values */
	double rtn_rel_err;	/* and its output error */
} tq_gptq_trace;

/*
 * GPTQ of w[cols] (one row, cols <= TQ_GPTQ_TRACE_MAX_COLS) onto s given
 * H[cols, cols] = X^T X (both triangles), with every step kept: the
 * engine's GPTQ itself (same factor, dampening retries and update) run as
 * one batch, so up to 128 columns its codes are the engine's on a one-row
 * weight (wider, its 128-column batches may move a rare rounding).  opts
 * may be NULL (TQ_GPTQ_TRACE_OPTS_INIT).  An H that dampening cannot make
 * positive definite is an error.  Free *out with tq_gptq_trace_free.
 */
tq_status tq_gptq_trace_row(const tq_scheme *s, const float *w,
    const float *H, int64_t cols, const tq_gptq_trace_opts *opts,
    tq_gptq_trace **out, tq_error *err);
void tq_gptq_trace_free(tq_gptq_trace *t);

/* AWQ's candidate scales on one layer and what each costs. */
typedef struct tq_awq_trace {
	int64_t C;
	int n_alphas;
	double *alpha;		/* [n_alphas] */
	float *s;		/* [n_alphas, C] mean|x|^alpha, normalized:
				   max(s) min(s) = 1 */
	double *smin, *smax;	/* [n_alphas] */
	double *rel_err;	/* [n_alphas] tr(E H E^T) / tr(W H W^T),
				   E = W - Q(W diag(s)) diag(s)^-1 */
} tq_awq_trace;

/*
 * AWQ's scales for each of alphas[n_alphas] and the relative output error
 * of round-to-nearest onto s of w[rows, C] with each, measured as the
 * engine's AWQ search measures them (its scales and error function), on
 * H[C, C] = X^T X and mean_abs[C] = mean |x| of the layer's inputs.  Free
 * *out with tq_awq_trace_free.
 */
tq_status tq_awq_trace_layer(const tq_scheme *s, const float *w, int64_t rows,
    int64_t C, const float *H, const float *mean_abs, const double *alphas,
    int n_alphas, tq_awq_trace **out, tq_error *err);
void tq_awq_trace_free(tq_awq_trace *t);

#ifdef __cplusplus
}
#endif

#endif /* TQ_INCLUDE_TQ_H */
