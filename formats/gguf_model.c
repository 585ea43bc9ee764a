/*
 * gguf_model.c: a .gguf file (llama, qwen2, qwen3, smollm3, gemma2 or
 * gemma3, as llama.cpp reads them) opened as a tq_model, so info, eval,
 * quantize and export take it.  A gemma's norms hold 1 + w already (what
 * llama.cpp's RMSNorm multiplies by), so its model has norm_unit_offset 0.
 *
 * The hyperparameters come from the metadata (what llama.cpp fixes per
 * architecture too: qwen3's QK-norm, smollm3's NoPE on every 4th layer),
 * every weight is dequantized to f32 once (quantized types by the engine's
 * own grids), the Q/K rows of llama and smollm3 are put back in Hugging
 * Face's rotate-half order, and a rope_freqs
 * tensor is read back as Llama-3 scaling parameters (refused if it is not
 * of that form).  The tokenizer is rebuilt from the tokenizer.* metadata
 * (gguf_vocab.c); when that is not possible, a tokenizer.json beside the
 * file is used, else the model has none.  Tensor names are the Hugging
 * Face ones, so plans match them as for a checkpoint.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "gguf_reader.h"
#include "gguf_vocab.h"
#include "gguf_writer.h"
#include "hf_config.h"
#include "model.h"
#include "tokenizer_json.h"

/* What the model keeps alive: the file and the f32 tensors. */
typedef struct gm_source {
	tq_gguf_file *f;
	tq_tensor *t;		/* [n] */
	int *type;		/* [n] each tensor's ggml type in the file */
	tq_ggml_mins *mins;	/* [n_mins] the Q4_1 / Q5_1 weights' */
	size_t n, n_mins;
} gm_source;

static void
gm_source_free(void *p)
{
	gm_source *s = p;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		free(s->t[i].name);
		free((void *)s->t[i].data);
	}
	for (i = 0; i < s->n_mins; i++)
		free(s->mins[i].m);
	free(s->mins);
	free(s->t);
	free(s->type);
	tq_gguf_close(s->f);
	free(s);
}

int
tq_gguf_is_file(const char *path)
{
	size_t n = strlen(path);
	FILE *f;
	char magic[4];
	int yes = 0;

	if (tq_is_dir(path))
		return 0;
	if (n > 5 && strcmp(path + n - 5, ".gguf") == 0)
		return 1;
	if ((f = fopen(path, "rb")) != NULL) {
		yes = fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
		fclose(f);
	}
	return yes;
}

/* A required unsigned key {arch}.name in [lo, hi]. */
static tq_status
gm_uint(const tq_gguf_file *f, const char *arch, const char *name, int req,
    int64_t lo, int64_t hi, int64_t *out, tq_error *err)
{
	char key[96];
	uint64_t v;

	snprintf(key, sizeof(key), "%s.%s", arch, name);
	if (!tq_gguf_get_uint(f, key, &v)) {
		if (!req && tq_gguf_find(f, key) == NULL)
			return TQ_OK;
		return tq_fail(err, TQ_EFORMAT, "%s: key %s is missing or not an "
		    "unsigned integer", f->path, key);
	}
	if (v < (uint64_t)lo || v > (uint64_t)hi)
		return tq_fail(err, TQ_EFORMAT, "%s: key %s = %llu is outside "
		    "[%lld, %lld]", f->path, key, (unsigned long long)v,
		    (long long)lo, (long long)hi);
	*out = (int64_t)v;
	return TQ_OK;
}

static tq_status
gm_float(const tq_gguf_file *f, const char *arch, const char *name, int req,
    double *out, tq_error *err)
{
	char key[96];
	double v;

	snprintf(key, sizeof(key), "%s.%s", arch, name);
	if (!tq_gguf_get_float(f, key, &v)) {
		if (!req && tq_gguf_find(f, key) == NULL)
			return TQ_OK;
		return tq_fail(err, TQ_EFORMAT, "%s: key %s is missing or not a "
		    "float", f->path, key);
	}
	if (!isfinite(v) || v <= 0)
		return tq_fail(err, TQ_EFORMAT, "%s: key %s = %g must be positive",
		    f->path, key, v);
	*out = v;
	return TQ_OK;
}

/* llama3 multiplier of frequency j, as core/forward.c computes it. */
static double
l3_mult(const tq_model_config *c, int64_t j)
{
	double inv = 1.0 / pow(c->rope_theta, (double)(2 * j) /
	    (double)c->head_dim), wl = 2.0 * M_PI / inv, sm;
	double lo_wl = (double)c->rope_original_max_pos / c->rope_low_freq_factor;
	double hi_wl = (double)c->rope_original_max_pos /
	    c->rope_high_freq_factor;

	if (wl < hi_wl)
		return 1.0;
	if (wl > lo_wl)
		return 1.0 / c->rope_factor;
	sm = ((double)c->rope_original_max_pos / wl - c->rope_low_freq_factor) /
	    (c->rope_high_freq_factor - c->rope_low_freq_factor);
	return (1.0 - sm) / c->rope_factor + sm;
}

/*
 * The Llama-3 parameters behind a rope_freqs tensor v[n] (divisors of each
 * frequency).  The smooth band is linear in 1/wavelength, so two points of
 * it fix it; (original, low, high) are only known up to a common scale,
 * which is chosen to make the original context an integer.
 */
static tq_status
gm_rope_freqs(tq_model_config *c, const float *v, int64_t n, const char *path,
    tq_error *err)
{
	double factor = 1.0, sx = 0, sy = 0, sxx = 0, sxy = 0, a, b, orig, k;
	double xmin_one = INFINITY, xmax_fac = -INFINITY;
	int64_t j, m = 0;

	for (j = 0; j < n; j++)
		if (!(v[j] >= 1.0f) || !isfinite(v[j]))
			return tq_fail(err, TQ_EFORMAT, "%s: rope_freqs.weight[%lld] "
			    "= %g is not a factor >= 1", path, (long long)j,
			    (double)v[j]);
		else if (v[j] > factor)
			factor = v[j];
	if (factor == 1.0)
		return TQ_OK;	/* no scaling at all */
	for (j = 0; j < n; j++) {
		double wl = 2.0 * M_PI * pow(c->rope_theta, (double)(2 * j) /
		    (double)c->head_dim), x = 1.0 / wl;

		if (v[j] == 1.0f) {
			xmin_one = fmin(xmin_one, x);
		} else if (v[j] == (float)factor) {
			xmax_fac = fmax(xmax_fac, x);
		} else {
			double s = (1.0 / v[j] - 1.0 / factor) /
			    (1.0 - 1.0 / factor);

			sx += x;
			sy += s;
			sxx += x * x;
			sxy += x * s;
			m++;
		}
	}
	if (m >= 2 && sxx * m - sx * sx > 0) {
		a = (m * sxy - sx * sy) / (m * sxx - sx * sx);
		b = (sy - a * sx) / m;
	} else if (m == 1 && isfinite(xmin_one) && sx < xmin_one &&
	    sx > (isfinite(xmax_fac) ? xmax_fac : 0)) {
		/*
		 * One band point: a line through it that reaches s = 1 before
		 * the unscaled frequencies, s = 0 after the scaled ones, and
		 * crosses 0 at a positive x (so low > 0).
		 */
		double room = fmin(xmin_one - sx, sx / sy - sx);
		double x1;

		if (isfinite(xmax_fac))
			room = fmin(room, (sx - xmax_fac) * (1.0 - sy) / sy);
		x1 = sx + room / 2;

		a = (1.0 - sy) / (x1 - sx);
		b = sy - a * sx;
	} else if (m == 0 && isfinite(xmin_one) && isfinite(xmax_fac) &&
	    xmax_fac < xmin_one) {
		/* No band point: any band between the two groups. */
		double x0 = xmax_fac + (xmin_one - xmax_fac) * 0.25;
		double x1 = xmax_fac + (xmin_one - xmax_fac) * 0.75;

		a = 1.0 / (x1 - x0);
		b = -x0 * a;
	} else {
		a = b = 0;
	}
	/*
	 * s = (orig / wl - low) / (high - low) = a x + b; with low = 1,
	 * high = 1 - 1/b and original = -a/b.
	 */
	if (!(a > 0) || !(b < 0) || !isfinite(a) || !isfinite(b))
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: rope_freqs.weight is not "
		    "Llama-3 rope scaling", path);
	orig = -a / b;
	c->rope_type = TQ_ROPE_LLAMA3;
	c->rope_factor = factor;
	c->rope_original_max_pos = (int64_t)llround(orig);
	if (c->rope_original_max_pos < 1)
		c->rope_original_max_pos = 1;
	k = (double)c->rope_original_max_pos / orig;
	c->rope_low_freq_factor = k;
	c->rope_high_freq_factor = k * (1.0 - 1.0 / b);
	for (j = 0; j < n; j++)
		if (fabs(l3_mult(c, j) * v[j] - 1.0) > 1e-4)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: rope_freqs.weight "
			    "is not Llama-3 rope scaling (frequency %lld)", path,
			    (long long)j);
	return TQ_OK;
}

static tq_status gm_swa_pattern(const tq_gguf_file *f, const char *arch,
    tq_model_config *c, int64_t every, tq_error *err);

/*
 * llama.cpp's gemma2 and gemma3 (src/models/gemma2.cpp, gemma3.cpp): q
 * times 1/sqrt(head_dim), or 1/sqrt(H / heads) at the 27B's layer count;
 * layer li slides unless li % N == N - 1 (sliding_window_pattern N,
 * default 2 and 6) or as its list says; gemma3's sliding layers have a
 * RoPE base of their own and no scaling, gemma2's the model's.
 */
static tq_status
gm_gemma(const tq_gguf_file *f, const char *arch, tq_model_config *c,
    tq_error *err)
{
	int g3 = c->arch == TQ_ARCH_GEMMA3;
	int64_t every = g3 ? 6 : 2, n_swa = g3 ? 0 : 4096;
	double base_swa = g3 ? 10000.0 : c->rope_theta;
	tq_status st;

	c->qk_norm = g3;
	c->post_norms = c->embed_scale = 1;
	/* Evaluated as llama.cpp's CPU computes it, as the matmuls' inputs. */
	c->mlp_gelu = 2;
	c->query_pre_attn_scalar = c->n_layers == (g3 ? 62 : 46) ?
	    (double)(c->hidden_size / c->n_heads) : (double)c->head_dim;
	c->attn_softcap = g3 ? 0.0 : 50.0;
	c->final_softcap = g3 ? 0.0 : 30.0;
	if ((st = gm_uint(f, arch, "attention.sliding_window", 0, 0,
	    (int64_t)1 << 30, &n_swa, err)) != TQ_OK ||
	    (st = gm_float(f, arch, "rope.freq_base_swa", 0, &base_swa,
	    err)) != TQ_OK ||
	    (st = gm_float(f, arch, "final_logit_softcapping", 0,
	    &c->final_softcap, err)) != TQ_OK ||
	    (!g3 && (st = gm_float(f, arch, "attn_logit_softcapping", 0,
	    &c->attn_softcap, err)) != TQ_OK))
		return st;
	c->sliding_window = n_swa;
	if (n_swa == 0)
		return TQ_OK;
	if (!g3 && base_swa != c->rope_theta)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: gemma2 with a "
		    "rope.freq_base_swa of its own is not supported", f->path);
	c->rope_local_theta = g3 ? base_swa : 0.0;
	return gm_swa_pattern(f, arch, c, every, err);
}

/*
 * Which layers attend to every key: those the per-layer flags of
 * attention.sliding_window_pattern mark 0, or every p-th (layer li % p ==
 * p - 1) for its number p, default every (llama.cpp's set_swa_pattern).
 */
static tq_status
gm_swa_pattern(const tq_gguf_file *f, const char *arch, tq_model_config *c,
    int64_t every, tq_error *err)
{
	const tq_gguf_kv *pat;
	char key[96];
	int64_t li;
	tq_status st;

	snprintf(key, sizeof(key), "%s.attention.sliding_window_pattern", arch);
	pat = tq_gguf_find(f, key);
	if (pat != NULL && pat->type == TQ_GGUF_ARRAY) {
		if (pat->n != (uint64_t)c->n_layers || (pat->arr_type !=
		    TQ_GGUF_BOOL && pat->arr_type != TQ_GGUF_I32 &&
		    pat->arr_type != TQ_GGUF_U32))
			return tq_fail(err, TQ_EFORMAT, "%s: key %s must list "
			    "block_count flags", f->path, key);
		for (li = 0; li < c->n_layers; li++)
			if (tq_gguf_arr_num(pat, (uint64_t)li) == 0.0)
				c->full_attn[li / 64] |= (uint64_t)1 <<
				    (li % 64);
		return TQ_OK;
	}
	if ((st = gm_uint(f, arch, "attention.sliding_window_pattern", 0, 0,
	    1024, &every, err)) != TQ_OK)
		return st;
	for (li = 0; every > 0 && li < c->n_layers; li++)
		if (li % every == every - 1)
			c->full_attn[li / 64] |= (uint64_t)1 << (li % 64);
	return TQ_OK;
}

/*
 * llama.cpp's gpt-oss (src/models/openai-moe.cpp): sinks, attention and
 * expert biases, the router's softmax over its top-k logits, the SwiGLU
 * clamped at 7, experts of expert_feed_forward_length, a window on the
 * layers of the pattern (default every other one, from layer 0).
 */
static tq_status
gm_gpt_oss(const tq_gguf_file *f, const char *arch, tq_model_config *c,
    tq_error *err)
{
	tq_status st;

	c->attn_sinks = c->router_topk_softmax = c->expert_bias = 1;
	c->swiglu_limit = 7.0;
	if (c->n_experts == 0)
		return tq_fail(err, TQ_EFORMAT, "%s: a gpt-oss without "
		    "gpt-oss.expert_count", f->path);
	if ((st = gm_uint(f, arch, "expert_feed_forward_length", 1, 1,
	    1 << 20, &c->moe_inter, err)) != TQ_OK ||
	    (st = gm_uint(f, arch, "attention.sliding_window", 1, 0,
	    (int64_t)1 << 30, &c->sliding_window, err)) != TQ_OK)
		return st;
	return gm_swa_pattern(f, arch, c, 2, err);
}

/*
 * YaRN as llama.cpp computes it: rope.scaling.factor from the original
 * context (default the context), betas 32 and 1, the ramp's ends whole
 * dimensions (truncated), cos and sin times 0.1 ln(factor) + 1 and
 * rope.scaling.attn_factor.
 */
static tq_status
gm_yarn(const tq_gguf_file *f, const char *arch, tq_model_config *c,
    tq_error *err)
{
	double af = 1.0;
	tq_status st;

	c->rope_type = TQ_ROPE_YARN;
	c->rope_original_max_pos = c->max_position_embeddings;
	c->rope_beta_fast = 32.0;
	c->rope_beta_slow = 1.0;
	c->rope_truncate = 1;
	if ((st = gm_float(f, arch, "rope.scaling.factor", 1, &c->rope_factor,
	    err)) != TQ_OK ||
	    (st = gm_uint(f, arch, "rope.scaling.original_context_length", 0,
	    1, INT32_MAX, &c->rope_original_max_pos, err)) != TQ_OK ||
	    (st = gm_float(f, arch, "rope.scaling.attn_factor", 0, &af,
	    err)) != TQ_OK)
		return st;
	c->rope_attn_factor = af * (c->rope_factor > 1.0 ? 0.1 *
	    log(c->rope_factor) + 1.0 : 1.0);
	return TQ_OK;
}

/*
 * Phi-3's keys: the rotary dimensions, the original context that picks
 * rope_factors_long over rope_factors_short and the attention factor
 * (the factors are tensors: tq_gguf_model_open).  Its sliding window is
 * not read: llama.cpp's phi3 disables it and attends to every key.
 */
static tq_status
gm_phi3(const tq_gguf_file *f, const char *arch, tq_model_config *c,
    tq_error *err)
{
	int64_t rd = c->head_dim;
	tq_status st;

	c->rope_original_max_pos = c->max_position_embeddings;
	c->rope_attn_factor = 1.0;
	if ((st = gm_uint(f, arch, "rope.dimension_count", 0, 2, c->head_dim,
	    &rd, err)) != TQ_OK ||
	    (st = gm_uint(f, arch, "rope.scaling.original_context_length", 0,
	    1, INT32_MAX, &c->rope_original_max_pos, err)) != TQ_OK ||
	    (st = gm_float(f, arch, "rope.scaling.attn_factor", 0,
	    &c->rope_attn_factor, err)) != TQ_OK)
		return st;
	if (rd % 2 != 0)
		return tq_fail(err, TQ_EFORMAT, "%s: %s.rope.dimension_count %lld "
		    "must be even", f->path, arch, (long long)rd);
	c->rope_dim = rd == c->head_dim ? 0 : rd;
	return TQ_OK;
}

/*
 * rope_factors_long or _short.weight, f32 [rotary dims / 2], into the
 * longrope lists of c.
 */
static tq_status
gm_rope_factors(const tq_gguf_tensor *g, tq_model_config *c,
    const char *path, tq_error *err)
{
	int64_t n = (c->rope_dim > 0 ? c->rope_dim : c->head_dim) / 2, i;
	float *dst = g->name[13] == 'l' ? c->rope_long_factor :
	    c->rope_short_factor;
	tq_status st;

	if (g->n_dims != 1 || g->ne[0] != n || g->type != TQ_GGML_F32 ||
	    n > TQ_ROPE_FACTORS_MAX)
		return tq_fail(err, TQ_EFORMAT, "%s: %s must be f32 [%lld] "
		    "(rotary dimensions / 2)", path, g->name, (long long)n);
	if ((st = tq_gguf_dequant(g->type, g->data, n, 1, dst, err)) != TQ_OK)
		return st;
	for (i = 0; i < n; i++)
		if (!isfinite(dst[i]) || !(dst[i] > 0.0f))
			return tq_fail(err, TQ_EFORMAT, "%s: %s must be positive",
			    path, g->name);
	return TQ_OK;
}

static tq_status
gm_config(const tq_gguf_file *f, const char *arch, tq_model_config *c,
    tq_error *err)
{
	const tq_gguf_kv *toks = tq_gguf_find(f, "tokenizer.ggml.tokens");
	const tq_gguf_tensor *emb = tq_gguf_find_tensor(f, "token_embd.weight");
	char key[96];
	const char *s;
	size_t len;
	uint64_t id;
	int64_t b;
	tq_status st;

	memset(c, 0, sizeof(*c));
	c->arch = strcmp(arch, "qwen2") == 0 ? TQ_ARCH_QWEN2 :
	    strcmp(arch, "qwen3") == 0 ? TQ_ARCH_QWEN3 :
	    strcmp(arch, "qwen3moe") == 0 ? TQ_ARCH_QWEN3_MOE :
	    strcmp(arch, "smollm3") == 0 ? TQ_ARCH_SMOLLM3 :
	    strcmp(arch, "gemma2") == 0 ? TQ_ARCH_GEMMA2 :
	    strcmp(arch, "gemma3") == 0 ? TQ_ARCH_GEMMA3 :
	    strcmp(arch, "phi3") == 0 ? TQ_ARCH_PHI3 :
	    strcmp(arch, "gpt-oss") == 0 ? TQ_ARCH_GPT_OSS : TQ_ARCH_LLAMA;
	c->fused_proj = c->arch == TQ_ARCH_PHI3;
	c->qk_norm = c->arch == TQ_ARCH_QWEN3 || c->arch == TQ_ARCH_QWEN3_MOE;
	c->rope_theta = 10000.0;
	c->rope_factor = 1.0;
	c->bos_token_id = c->eos_token_id = -1;
	c->vocab_size = -1;
	if ((st = gm_uint(f, arch, "embedding_length", 1, 1, 65536,
	    &c->hidden_size, err)) != TQ_OK ||
	    (st = gm_uint(f, arch, "block_count", 1, 1, 1024, &c->n_layers,
	    err)) != TQ_OK ||
	    (st = gm_uint(f, arch, "feed_forward_length", 1, 1, 1 << 20,
	    &c->intermediate_size, err)) != TQ_OK ||
	    (st = gm_uint(f, arch, "attention.head_count", 1, 1, 1024,
	    &c->n_heads, err)) != TQ_OK ||
	    (st = gm_uint(f, arch, "context_length", 1, 1, (int64_t)1 << 30,
	    &c->max_position_embeddings, err)) != TQ_OK ||
	    (st = gm_float(f, arch, "attention.layer_norm_rms_epsilon", 1,
	    &c->rms_norm_eps, err)) != TQ_OK ||
	    (st = gm_float(f, arch, "rope.freq_base", 0, &c->rope_theta,
	    err)) != TQ_OK)
		return st;
	c->n_kv_heads = c->n_heads;
	c->head_dim = c->hidden_size / c->n_heads;
	if ((st = gm_uint(f, arch, "attention.head_count_kv", 0, 1, 1024,
	    &c->n_kv_heads, err)) != TQ_OK ||
	    (st = gm_uint(f, arch, "attention.key_length", 0, 2, 4096,
	    &c->head_dim, err)) != TQ_OK ||
	    (st = gm_uint(f, arch, "vocab_size", 0, 1, (int64_t)1 << 24,
	    &c->vocab_size, err)) != TQ_OK)
		return st;
	/*
	 * Experts: a llama with them is a Mixtral; both archs' graphs
	 * renormalise the top-k weights and route every layer.
	 */
	if ((st = gm_uint(f, arch, "expert_count", 0, 1, 256, &c->n_experts,
	    err)) != TQ_OK ||
	    (st = gm_uint(f, arch, "expert_used_count", c->n_experts > 0, 1,
	    256, &c->n_experts_used, err)) != TQ_OK)
		return st;
	if (c->arch == TQ_ARCH_QWEN3_MOE && c->n_experts == 0)
		return tq_fail(err, TQ_EFORMAT, "%s: a qwen3moe without "
		    "qwen3moe.expert_count", f->path);
	if (c->arch == TQ_ARCH_LLAMA && c->n_experts > 0)
		c->arch = TQ_ARCH_MIXTRAL;
	c->norm_topk_prob = c->n_experts > 0;
	c->moe_inter = c->intermediate_size;
	if (c->arch == TQ_ARCH_QWEN3_MOE && (st = gm_uint(f, arch,
	    "expert_feed_forward_length", 1, 1, 1 << 20, &c->moe_inter,
	    err)) != TQ_OK)
		return st;
	if (c->vocab_size < 0)
		c->vocab_size = toks != NULL ? (int64_t)toks->n : emb != NULL &&
		    emb->n_dims == 2 ? emb->ne[1] : 0;
	if (c->vocab_size < 1 || c->vocab_size > ((int64_t)1 << 24))
		return tq_fail(err, TQ_EFORMAT, "%s: no usable vocabulary size",
		    f->path);
	if ((c->arch == TQ_ARCH_GEMMA2 || c->arch == TQ_ARCH_GEMMA3) &&
	    (st = gm_gemma(f, arch, c, err)) != TQ_OK)
		return st;
	if (c->arch == TQ_ARCH_PHI3 && (st = gm_phi3(f, arch, c, err)) != TQ_OK)
		return st;
	if (c->arch == TQ_ARCH_GPT_OSS && (st = gm_gpt_oss(f, arch, c,
	    err)) != TQ_OK)
		return st;
	/* The rules config.json meets (a head_dim of 0 among them). */
	if ((st = tq_hf_config_check(f->path, c, err)) != TQ_OK)
		return st;
	/* llama.cpp's smollm3 has no key for it: n_no_rope_layer_step 4. */
	if (c->arch == TQ_ARCH_SMOLLM3)
		for (b = 3; b < c->n_layers; b += 4)
			c->no_rope[b / 64] |= (uint64_t)1 << (b % 64);
	snprintf(key, sizeof(key), "%s.rope.scaling.type", arch);
	if (tq_gguf_get_str(f, key, &s, &len) && len == 4 &&
	    memcmp(s, "yarn", 4) == 0 && c->arch == TQ_ARCH_GPT_OSS) {
		if ((st = gm_yarn(f, arch, c, err)) != TQ_OK)
			return st;
	} else if (tq_gguf_get_str(f, key, &s, &len) && !(len == 4 &&
	    memcmp(s, "none", 4) == 0)) {
		if (len != 6 || memcmp(s, "linear", 6) != 0)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: rope scaling "
			    "\"%.*s\" is not supported (linear is)", f->path,
			    (int)(len < 40 ? len : 40), s);
		c->rope_type = TQ_ROPE_LINEAR;
		if ((st = gm_float(f, arch, "rope.scaling.factor", 1,
		    &c->rope_factor, err)) != TQ_OK)
			return st;
	}
	if (tq_gguf_get_uint(f, "tokenizer.ggml.bos_token_id", &id) &&
	    id < (uint64_t)c->vocab_size)
		c->bos_token_id = (int64_t)id;
	if (tq_gguf_get_uint(f, "tokenizer.ggml.eos_token_id", &id) &&
	    id < (uint64_t)c->vocab_size)
		c->eos_token_id = (int64_t)id;
	return TQ_OK;
}

/*
 * "blk.N." with N in canonical decimal, as llama.cpp formats it: sscanf
 * alone takes blk.01. and blk.+1. too, aliases of blk.1. that would load
 * beside it, the first one winning.
 */
static int
gm_block_index(const char *g, unsigned long long *b, int *off)
{
	const char *p = g + 4, *q = p;

	if (strncmp(g, "blk.", 4) != 0)
		return 0;
	while (*q >= '0' && *q <= '9' && q - p < 5)
		q++;
	if (q == p || *q != '.' || (*p == '0' && q - p > 1))
		return 0;
	*b = strtoull(p, NULL, 10);
	*off = (int)(q + 1 - g);
	return 1;
}

/*
 * gpt-oss's own tensors of block b: attn_sinks [heads], the MLP's input
 * norm post_attention_norm, the router's bias ffn_gate_inp.bias [E] and
 * the experts' ffn_*_exps.bias [E, rows] (gm_bind splits them).
 */
static int
gm_map_oss(const tq_model_config *c, unsigned long long b, const char *leaf,
    char *hf, size_t len, int64_t *rows, int64_t *cols)
{
	static const char *const kind[3] = { "gate_proj", "up_proj",
	    "down_proj" };
	char bias[32];
	int j;

	*rows = 0;
	if (strcmp(leaf, "attn_sinks.weight") == 0) {
		snprintf(hf, len, "model.layers.%llu.self_attn.sinks", b);
		*cols = c->n_heads;
		return 1;
	}
	if (strcmp(leaf, "post_attention_norm.weight") == 0) {
		snprintf(hf, len, "model.layers.%llu.post_attention_layernorm."
		    "weight", b);
		*cols = c->hidden_size;
		return 1;
	}
	if (strcmp(leaf, "ffn_gate_inp.bias") == 0) {
		snprintf(hf, len, "model.layers.%llu.mlp.router.bias", b);
		*cols = c->n_experts;
		return 1;
	}
	for (j = 0; j < 3; j++) {
		snprintf(bias, sizeof(bias), "ffn_%s_exps.bias", j == 0 ? "gate" :
		    j == 1 ? "up" : "down");
		if (strcmp(leaf, bias) == 0) {
			snprintf(hf, len, "model.layers.%llu.mlp.experts.%s.bias",
			    b, kind[j]);
			*rows = c->n_experts;
			*cols = j < 2 ? c->moe_inter : c->hidden_size;
			return 1;
		}
	}
	return 0;
}

/* The Hugging Face name and shape of a GGUF tensor, or 0 if unknown. */
/*
 * A block's router and stacked experts: ffn_gate_inp [E, H] and
 * ffn_{gate,up,down}_exps [E, rows, cols] (ggml's [cols, rows, E]), named
 * as the checkpoint's router and, stacked, "...experts.gate_proj.weight"
 * (gm_bind splits them into the experts); *parts = E for the stacks.
 */
static int
gm_map_moe(const tq_model_config *c, unsigned long long b, const char *leaf,
    char *hf, size_t len, int64_t *rows, int64_t *cols, int64_t *parts)
{
	static const char *const exps[3] = { "ffn_gate_exps.weight",
	    "ffn_up_exps.weight", "ffn_down_exps.weight" };
	static const char *const mixtral[3] = { "w1", "w3", "w2" };
	static const char *const qwen[3] = { "gate_proj", "up_proj",
	    "down_proj" };
	int mix = c->arch == TQ_ARCH_MIXTRAL, j;
	int oss = c->arch == TQ_ARCH_GPT_OSS;
	const char *pre = mix ? "block_sparse_moe" : "mlp";
	int64_t H = c->hidden_size, Fe = c->moe_inter;

	if (c->n_experts == 0)
		return 0;
	if (strcmp(leaf, "ffn_gate_inp.weight") == 0) {
		snprintf(hf, len, "model.layers.%llu.%s.%s.weight", b, pre,
		    oss ? "router" : "gate");
		*rows = c->n_experts;
		*cols = H;
		return 1;
	}
	if (oss && gm_map_oss(c, b, leaf, hf, len, rows, cols))
		return 1;
	for (j = 0; j < 3; j++)
		if (strcmp(leaf, exps[j]) == 0) {
			snprintf(hf, len, "model.layers.%llu.%s.experts.%s.weight",
			    b, pre, (mix ? mixtral : qwen)[j]);
			*rows = c->n_experts * (j < 2 ? Fe : H);
			*cols = j < 2 ? H : Fe;
			*parts = c->n_experts;
			return 1;
		}
	return 0;
}

static int
gm_map(const tq_model_config *c, const char *g, char *hf, size_t len,
    int64_t *rows, int64_t *cols, int64_t *perm, int64_t *parts)
{
	static const struct {
		const char *gguf, *hf;
		int which;	/* shape: see below */
	} blk[] = {
		{ "attn_norm.weight", "input_layernorm.weight", 0 },
		{ "ffn_norm.weight", "post_attention_layernorm.weight", 0 },
		{ "attn_q.weight", "self_attn.q_proj.weight", 1 },
		{ "attn_k.weight", "self_attn.k_proj.weight", 2 },
		{ "attn_v.weight", "self_attn.v_proj.weight", 3 },
		{ "attn_output.weight", "self_attn.o_proj.weight", 4 },
		{ "ffn_gate.weight", "mlp.gate_proj.weight", 5 },
		{ "ffn_up.weight", "mlp.up_proj.weight", 6 },
		{ "ffn_down.weight", "mlp.down_proj.weight", 7 },
		{ "attn_q.bias", "self_attn.q_proj.bias", 8 },
		{ "attn_k.bias", "self_attn.k_proj.bias", 9 },
		{ "attn_v.bias", "self_attn.v_proj.bias", 10 },
		{ "attn_output.bias", "self_attn.o_proj.bias", 0 },
		{ "ffn_gate.bias", "mlp.gate_proj.bias", 11 },
		{ "ffn_up.bias", "mlp.up_proj.bias", 11 },
		{ "ffn_down.bias", "mlp.down_proj.bias", 0 },
		{ "attn_q_norm.weight", "self_attn.q_norm.weight", 12 },
		{ "attn_k_norm.weight", "self_attn.k_norm.weight", 12 },
		{ "post_attention_norm.weight",
		    "post_attention_layernorm.weight", 13 },
		{ "post_ffw_norm.weight", "post_feedforward_layernorm.weight",
		    13 },
	};
	int64_t H = c->hidden_size, I = c->intermediate_size;
	int64_t qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
	int64_t shape[14][2] = {
		{ 0, H }, { qd, H }, { kvd, H }, { kvd, H }, { H, qd },
		{ I, H }, { I, H }, { H, I }, { 0, qd }, { 0, kvd }, { 0, kvd },
		{ 0, I }, { 0, c->head_dim }, { 0, H }
	};
	/* llama.cpp's "norm" RoPE: interleaved Q/K rows (not the qwens'). */
	int llama = c->arch == TQ_ARCH_LLAMA || c->arch == TQ_ARCH_MIXTRAL ||
	    c->arch == TQ_ARCH_SMOLLM3;
	unsigned long long b;
	size_t i;
	int off;

	*perm = 0;
	*parts = 1;
	if (strcmp(g, "token_embd.weight") == 0 || strcmp(g, "output.weight") ==
	    0) {
		snprintf(hf, len, "%s", g[0] == 't' ? "model.embed_tokens.weight" :
		    "lm_head.weight");
		*rows = c->vocab_size;
		*cols = H;
		return 1;
	}
	if (strcmp(g, "output_norm.weight") == 0) {
		snprintf(hf, len, "model.norm.weight");
		*rows = 0;
		*cols = H;
		return 1;
	}
	if (!gm_block_index(g, &b, &off) || b >= (unsigned long long)c->n_layers)
		return 0;
	if (gm_map_moe(c, b, g + off, hf, len, rows, cols, parts))
		return 1;
	if (c->fused_proj) {
		/* phi3: attn_qkv [qd + 2 kvd, H], ffn_up [2 I, H] */
		if (strcmp(g + off, "attn_qkv.weight") == 0 ||
		    strcmp(g + off, "ffn_up.weight") == 0) {
			snprintf(hf, len, "model.layers.%llu.%s", b, g[off] ==
			    'a' ? "self_attn.qkv_proj.weight" :
			    "mlp.gate_up_proj.weight");
			*rows = g[off] == 'a' ? qd + 2 * kvd : 2 * I;
			*cols = H;
			return 1;
		}
		if (strncmp(g + off, "attn_q.", 7) == 0 ||
		    strncmp(g + off, "attn_k.", 7) == 0 ||
		    strncmp(g + off, "attn_v.", 7) == 0 ||
		    strncmp(g + off, "ffn_gate.", 9) == 0 ||
		    strstr(g + off, ".bias") != NULL)
			return 0;
	}
	for (i = 0; i < sizeof(blk) / sizeof(blk[0]); i++)
		if (strcmp(g + off, blk[i].gguf) == 0 &&
		    (blk[i].which != 12 || c->qk_norm) &&
		    (blk[i].which != 13 || c->post_norms)) {
			/* Gemma's MLP input norm has its own name. */
			snprintf(hf, len, "model.layers.%llu.%s", b, i == 1 &&
			    c->post_norms ? "pre_feedforward_layernorm.weight" :
			    blk[i].hf);
			*rows = shape[blk[i].which][0];
			*cols = shape[blk[i].which][1];
			if (llama && (blk[i].which == 1 || blk[i].which == 8))
				*perm = c->n_heads;
			if (llama && (blk[i].which == 2 || blk[i].which == 9))
				*perm = c->n_kv_heads;
			return 1;
		}
	return 0;
}

/* GGUF's q/k rows w[r, rc] back in HF's order (perm heads). */
static tq_status
gm_unpermute(const tq_gguf_file *f, const tq_gguf_tensor *g, float *w,
    int64_t r, int64_t rc, int64_t perm, tq_error *err)
{
	int64_t hd = r / perm, i;
	float *tmp;

	/* HF row h*hd + t*hd/2 + i is GGUF row h*hd + 2i + t. */
	if (hd * perm != r || hd % 2 != 0)
		return tq_fail(err, TQ_EFORMAT, "%s: tensor %s: %lld rows do not "
		    "split into %lld heads", f->path, g->name, (long long)r,
		    (long long)perm);
	if ((tmp = malloc((size_t)(r * rc) * sizeof(float))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", f->path);
	memcpy(tmp, w, (size_t)(r * rc) * sizeof(float));
	for (i = 0; i < r; i++) {
		int64_t src = i / hd * hd + i % hd % (hd / 2) * 2 +
		    i % hd / (hd / 2);

		memcpy(w + i * rc, tmp + src * rc, (size_t)rc * sizeof(float));
	}
	free(tmp);
	return TQ_OK;
}

/*
 * An NVFP4 weight's blocks decode without its tensor scale, the F32 [1]
 * tensor NAME.scale llama.cpp multiplies the matmul's output by (absent:
 * 1); w[n] gets it here.
 */
static tq_status
gm_nv_scale(const tq_gguf_file *f, const tq_gguf_tensor *g, float *w,
    int64_t n, tq_error *err)
{
	const tq_gguf_tensor *s;
	char name[128];
	size_t k = strlen(g->name);
	float v;
	int64_t i;

	if (k > 7 && strcmp(g->name + k - 7, ".weight") == 0)
		k -= 7;
	snprintf(name, sizeof(name), "%.*s.scale", (int)k, g->name);
	if ((s = tq_gguf_find_tensor(f, name)) == NULL)
		return TQ_OK;
	if (s->type != TQ_GGML_F32 || s->ne[0] != 1 || s->nbytes != 4)
		return tq_fail(err, TQ_EFORMAT, "%s: %s is not one F32 value",
		    f->path, name);
	memcpy(&v, s->data, sizeof(v));
	for (i = 0; i < n; i++)
		w[i] *= v;
	return TQ_OK;
}

/* NAME.scale beside an NVFP4 NAME.weight (gm_nv_scale reads it). */
static int
gm_is_nv_scale(const tq_gguf_file *f, const char *name)
{
	const tq_gguf_tensor *w;
	char wn[128];
	size_t k = strlen(name);

	if (k < 6 || strcmp(name + k - 6, ".scale") != 0)
		return 0;
	snprintf(wn, sizeof(wn), "%.*s.weight", (int)(k - 6), name);
	return (w = tq_gguf_find_tensor(f, wn)) != NULL &&
	    w->type == TQ_GGML_NVFP4;
}

/* Dequantizes one tensor into t (HF rows: the permutation undone). */
static tq_status
gm_load(const tq_gguf_file *f, const tq_gguf_tensor *g, const char *hf,
    int64_t rows, int64_t cols, int64_t perm, int64_t parts, tq_tensor *t,
    tq_error *err)
{
	int64_t n = rows > 0 ? rows : 1, r;
	float *w;
	tq_status st;

	if (parts > 1 ? (g->n_dims != 3 || g->ne[0] != cols ||
	    g->ne[1] * parts != rows || g->ne[2] != parts) :
	    rows == 0 ? (g->n_dims != 1 || g->ne[0] != cols) :
	    (g->n_dims != 2 || g->ne[0] != cols || g->ne[1] != rows))
		return tq_fail(err, TQ_EFORMAT, "%s: tensor %s has the wrong shape "
		    "for the model's hyperparameters", f->path, g->name);
	if ((t->name = strdup(hf)) == NULL ||
	    (w = malloc((size_t)(n * cols) * sizeof(float))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", f->path);
	t->data = w;
	t->dtype = TQ_DTYPE_F32;
	t->ndim = rows > 0 ? 2 : 1;
	t->shape[0] = rows > 0 ? rows : cols;
	t->shape[1] = rows > 0 ? cols : 0;
	t->nbytes = (uint64_t)(n * cols) * sizeof(float);
	t->stored = g->nbytes;
	if ((st = tq_gguf_dequant(g->type, g->data, g->ne[0], g->ne[1] *
	    parts, w, err)) != TQ_OK)
		return st;
	if (g->type == TQ_GGML_NVFP4 && (st = gm_nv_scale(f, g, w, n * cols,
	    err)) != TQ_OK)
		return st;
	for (r = 0; r < n * cols; r++)
		if (!isfinite(w[r]))
			return tq_fail(err, TQ_EFORMAT, "%s: tensor %s has a NaN or "
			    "Inf at element %lld", f->path, g->name, (long long)r);
	if (perm <= 0)
		return TQ_OK;
	return gm_unpermute(f, g, w, rows > 0 ? rows : cols, rows > 0 ? cols : 1,
	    perm, err);
}

/*
 * A Q4_1 / Q5_1 weight's block minimums [rows, cols / 32] (HF rows), for
 * the correction TQ_ACTQ_GGML_Q8_1 needs; *out NULL for other types.
 */
static tq_status
gm_mins(const tq_gguf_file *f, const tq_gguf_tensor *g, int64_t rows,
    int64_t cols, int64_t perm, float **out, tq_error *err)
{
	int64_t nb = cols / 32, i, bs;
	const uint8_t *p = g->data;
	float *m;

	*out = NULL;
	if (g->type == TQ_GGML_Q4_1)
		bs = 20;	/* fp16 d, fp16 m, 16 bytes of nibbles */
	else if (g->type == TQ_GGML_Q5_1)
		bs = 24;	/* fp16 d, fp16 m, 4 bytes of high bits, 16 */
	else
		return TQ_OK;
	if (rows <= 0)
		return TQ_OK;
	if ((m = malloc((size_t)(rows * nb) * sizeof(float))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", f->path);
	for (i = 0; i < rows * nb; i++)
		m[i] = tq_f16_to_f32((uint16_t)(p[i * bs + 2] |
		    p[i * bs + 3] << 8));
	if (perm > 0 && gm_unpermute(f, g, m, rows, nb, perm, err) != TQ_OK) {
		free(m);
		return err->status;
	}
	*out = m;
	return TQ_OK;
}

static const tq_tensor *
gm_find(const gm_source *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->t[i].name, name) == 0)
			return &s->t[i];
	return NULL;
}

/* Points the model at its weights; every required one must be there. */
/*
 * How llama.cpp's CPU kernels round the input of a matmul with weight t,
 * by t's type in the file (ggml's vec_dot_type): evaluating a GGUF file
 * then computes what llama.cpp computes.
 */
static tq_actq_mode
gm_actq(const gm_source *s, const tq_tensor *t)
{
	size_t i;

	if (t == NULL || t < s->t || t >= s->t + s->n)
		return TQ_ACTQ_NONE;
	i = (size_t)(t - s->t);
	switch (s->type[i]) {
	case TQ_GGML_Q2_K:
	case TQ_GGML_Q3_K:
	case TQ_GGML_Q4_K:
	case TQ_GGML_Q5_K:
	case TQ_GGML_Q6_K:
	case TQ_GGML_IQ4_XS:
	case TQ_GGML_IQ3_XXS:
	case TQ_GGML_IQ3_S:
	case TQ_GGML_IQ2_XXS:
	case TQ_GGML_IQ2_XS:
	case TQ_GGML_IQ2_S:
	case TQ_GGML_IQ1_S:
	case TQ_GGML_IQ1_M:
		return TQ_ACTQ_GGML_Q8_K;
	case TQ_GGML_Q4_0:
	case TQ_GGML_Q5_0:
	case TQ_GGML_Q8_0:
	case TQ_GGML_IQ4_NL:
	case TQ_GGML_MXFP4:
	case TQ_GGML_NVFP4:
		return TQ_ACTQ_GGML_Q8_0;
	case TQ_GGML_Q4_1:
	case TQ_GGML_Q5_1:
		return TQ_ACTQ_GGML_Q8_1;
	case TQ_GGML_F16:
		return TQ_ACTQ_GGML_F16;
	case TQ_GGML_BF16:
		return TQ_ACTQ_GGML_BF16;
	default:
		return TQ_ACTQ_NONE;
	}
}

/* Tensor model.layers.i.leaf, or NULL. */
static const tq_tensor *
gm_layer(const gm_source *s, int64_t i, const char *leaf)
{
	char name[128];

	snprintf(name, sizeof(name), "model.layers.%lld.%s", (long long)i,
	    leaf);
	return gm_find(s, name);
}

/*
 * Phi-3's attn_qkv and ffn_up as the row views q, k, v and gate, up
 * (tq_model__split_rows), named as from a checkpoint.
 */
static tq_status
gm_bind_fused(tq_model *m, const gm_source *s, int64_t i, tq_error *err)
{
	const tq_model_config *c = &m->cfg;
	tq_layer_weights *l = &m->layers[i];
	const tq_tensor *qkv = gm_layer(s, i, "self_attn.qkv_proj.weight");
	const tq_tensor *gu = gm_layer(s, i, "mlp.gate_up_proj.weight");
	int64_t kvd = c->n_kv_heads * c->head_dim;
	int64_t rows[3] = { c->n_heads * c->head_dim, kvd, kvd };
	int64_t half[2] = { c->intermediate_size, c->intermediate_size };
	char nm[5][128];
	const char *np[5] = { nm[0], nm[1], nm[2], nm[3], nm[4] };
	static const char *const leaf[5] = { "self_attn.q_proj.weight",
	    "self_attn.k_proj.weight", "self_attn.v_proj.weight",
	    "mlp.gate_proj.weight", "mlp.up_proj.weight" };
	const tq_tensor *v[5];
	tq_status st;
	int k;

	if (qkv == NULL || gu == NULL)
		return tq_fail(err, TQ_EFORMAT, "%s: block %lld has no %s", m->path,
		    (long long)i, qkv == NULL ? "attn_qkv" : "ffn_up");
	for (k = 0; k < 5; k++)
		snprintf(nm[k], sizeof(nm[k]), "model.layers.%lld.%s",
		    (long long)i, leaf[k]);
	if ((st = tq_model__split_rows(m, qkv, 3, rows, np, v, err)) != TQ_OK ||
	    (st = tq_model__split_rows(m, gu, 2, half, np + 3, v + 3, err)) !=
	    TQ_OK)
		return st;
	l->wq = v[0];
	l->wk = v[1];
	l->wv = v[2];
	l->w_gate = v[3];
	l->w_up = v[4];
	return TQ_OK;
}

/*
 * stack [E * rows, cols] as its E experts' row views (tq_model__split_rows)
 * v[E], named model.layers.<i>.<pre>.experts.<e>.<leaf>.
 */
static tq_status
gm_split_experts(tq_model *m, const tq_tensor *stack, int64_t i,
    const char *pre, const char *leaf, const tq_tensor **v, tq_error *err)
{
	int64_t E = m->cfg.n_experts, rows[TQ_MAX_EXPERTS], e;
	char nm[TQ_MAX_EXPERTS][128];
	const char *np[TQ_MAX_EXPERTS];

	for (e = 0; e < E; e++) {
		rows[e] = stack->shape[0] / E;
		snprintf(nm[e], sizeof(nm[e]),
		    "model.layers.%lld.%s.experts.%lld.%s", (long long)i, pre,
		    (long long)e, leaf);
		np[e] = nm[e];
	}
	return tq_model__split_rows(m, stack, (size_t)E, rows, np, v, err);
}

/*
 * gpt-oss's block i: its sinks, the router's bias, and each expert's
 * row of the stacked biases as a view.
 */
static tq_status
gm_bind_oss(tq_model *m, const gm_source *s, int64_t i, tq_error *err)
{
	static const char *const kind[3] = { "gate_proj", "up_proj",
	    "down_proj" };
	tq_layer_weights *l = &m->layers[i];
	int64_t e;
	const tq_tensor *stack, *v[TQ_MAX_EXPERTS];
	char leaf[64];
	int j;
	tq_status st;

	l->sinks = gm_layer(s, i, "self_attn.sinks");
	l->router_b = gm_layer(s, i, "mlp.router.bias");
	if (l->sinks == NULL || l->router_b == NULL)
		return tq_fail(err, TQ_EFORMAT, "%s: block %lld has no %s",
		    m->path, (long long)i, l->sinks == NULL ? "attn_sinks" :
		    "ffn_gate_inp.bias");
	for (j = 0; j < 3; j++) {
		snprintf(leaf, sizeof(leaf), "mlp.experts.%s.bias", kind[j]);
		if ((stack = gm_layer(s, i, leaf)) == NULL)
			return tq_fail(err, TQ_EFORMAT, "%s: block %lld has no "
			    "ffn_%s_exps.bias", m->path, (long long)i, j == 0 ?
			    "gate" : j == 1 ? "up" : "down");
		snprintf(leaf, sizeof(leaf), "%s.bias", kind[j]);
		if ((st = gm_split_experts(m, stack, i, "mlp", leaf, v, err)) !=
		    TQ_OK)
			return st;
		for (e = 0; e < m->cfg.n_experts; e++)
			l->expert_b[e][j] = v[e];
	}
	return TQ_OK;
}

/*
 * Block i's router and experts: each stacked ffn_*_exps as its experts'
 * row views (tq_model__split_rows), named as the checkpoint names them.
 */
static tq_status
gm_bind_moe(tq_model *m, const gm_source *s, int64_t i, tq_error *err)
{
	static const char *const mixtral[3] = { "w1", "w3", "w2" };
	static const char *const qwen[3] = { "gate_proj", "up_proj",
	    "down_proj" };
	const tq_model_config *c = &m->cfg;
	int mix = c->arch == TQ_ARCH_MIXTRAL, oss = c->arch == TQ_ARCH_GPT_OSS;
	const char *pre = mix ? "block_sparse_moe" : "mlp";
	tq_layer_weights *l = &m->layers[i];
	int64_t E = c->n_experts, e;
	const tq_tensor *stack, *v[TQ_MAX_EXPERTS];
	char leaf[64];
	int j;
	tq_status st;

	snprintf(leaf, sizeof(leaf), "%s.%s.weight", pre, oss ? "router" :
	    "gate");
	if ((l->router = gm_layer(s, i, leaf)) == NULL)
		return tq_fail(err, TQ_EFORMAT, "%s: block %lld has no "
		    "ffn_gate_inp", m->path, (long long)i);
	l->n_experts = (int)E;
	if (oss && (st = gm_bind_oss(m, s, i, err)) != TQ_OK)
		return st;
	for (j = 0; j < 3; j++) {
		snprintf(leaf, sizeof(leaf), "%s.experts.%s.weight", pre,
		    (mix ? mixtral : qwen)[j]);
		if ((stack = gm_layer(s, i, leaf)) == NULL)
			return tq_fail(err, TQ_EFORMAT, "%s: block %lld has no "
			    "%s", m->path, (long long)i, j == 0 ?
			    "ffn_gate_exps" : j == 1 ? "ffn_up_exps" :
			    "ffn_down_exps");
		snprintf(leaf, sizeof(leaf), "%s.weight", (mix ? mixtral :
		    qwen)[j]);
		if ((st = gm_split_experts(m, stack, i, pre, leaf, v, err)) !=
		    TQ_OK)
			return st;
		for (e = 0; e < E; e++)
			l->experts[e][j] = v[e];
		if (j == 0)
			l->act[TQ_SITE_GATE_UP].mode = gm_actq(s, stack);
		if (j == 2)
			l->act[TQ_SITE_DOWN].mode = gm_actq(s, stack);
	}
	return TQ_OK;
}

static tq_status
gm_bind(tq_model *m, const gm_source *s, tq_error *err)
{
	tq_model_config *c = &m->cfg;
	const char *const need[] = {
		"input_layernorm.weight", "self_attn.q_proj.weight",
		"self_attn.k_proj.weight", "self_attn.v_proj.weight",
		"self_attn.o_proj.weight", c->post_norms ?
		"pre_feedforward_layernorm.weight" :
		"post_attention_layernorm.weight",
		"mlp.gate_proj.weight", "mlp.up_proj.weight",
		"mlp.down_proj.weight", "self_attn.q_proj.bias",
		"self_attn.k_proj.bias", "self_attn.v_proj.bias",
		"self_attn.o_proj.bias", "mlp.gate_proj.bias",
		"mlp.up_proj.bias", "mlp.down_proj.bias",
		"self_attn.q_norm.weight", "self_attn.k_norm.weight",
		"post_attention_layernorm.weight",
		"post_feedforward_layernorm.weight"
	};
	char name[128];
	int64_t i;
	size_t k;
	tq_status st;

	m->embed = gm_find(s, "model.embed_tokens.weight");
	m->norm = gm_find(s, "model.norm.weight");
	m->lm_head = gm_find(s, "lm_head.weight");
	if (m->embed == NULL || m->norm == NULL)
		return tq_fail(err, TQ_EFORMAT, "%s: missing tensor %s", m->path,
		    m->embed == NULL ? "token_embd.weight" : "output_norm.weight");
	c->tie_word_embeddings = m->lm_head == NULL;
	if (m->lm_head == NULL)
		m->lm_head = m->embed;
	if ((m->layers = calloc((size_t)c->n_layers, sizeof(*m->layers))) ==
	    NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", m->path);
	for (i = 0; i < c->n_layers; i++) {
		tq_layer_weights *l = &m->layers[i];
		const tq_tensor **slot[] = {
			&l->attn_norm, &l->wq, &l->wk, &l->wv, &l->wo,
			&l->ffn_norm, &l->w_gate, &l->w_up, &l->w_down, &l->bq,
			&l->bk, &l->bv, &l->bo, &l->b_gate, &l->b_up, &l->b_down,
			&l->q_norm, &l->k_norm, &l->post_attn_norm,
			&l->post_ffn_norm
		};

		if (c->fused_proj && (st = gm_bind_fused(m, s, i, err)) != TQ_OK)
			return st;
		if (c->n_experts > 0 && (st = gm_bind_moe(m, s, i, err)) != TQ_OK)
			return st;
		for (k = 0; k < sizeof(need) / sizeof(need[0]); k++) {
			/* phi3's q, k, v, gate and up: gm_bind_fused's; the
			   experts': gm_bind_moe's */
			if ((c->fused_proj && (k == 1 || k == 2 || k == 3 ||
			    k == 6 || k == 7)) || (c->n_experts > 0 && (k == 6 ||
			    k == 7 || k == 8)))
				continue;
			snprintf(name, sizeof(name), "model.layers.%lld.%s",
			    (long long)i, need[k]);
			/* A llama's post_attention_layernorm: ffn_norm */
			*slot[k] = k >= 18 && !c->post_norms ? NULL :
			    gm_find(s, name);
			if ((k < 9 || (k >= 16 && k < 18 && c->qk_norm) ||
			    (k >= 18 && c->post_norms)) && *slot[k] == NULL)
				return tq_fail(err, TQ_EFORMAT, "%s: block %lld has "
				    "no %s", m->path, (long long)i, need[k]);
		}
		/* The bias sets our forward pass knows. */
		if ((l->bq != NULL) != (l->bk != NULL) ||
		    (l->bq != NULL) != (l->bv != NULL) ||
		    (l->b_gate != NULL) != (l->b_up != NULL) ||
		    (l->b_gate != NULL) != (l->b_down != NULL))
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: block %lld has "
			    "only some of its q/k/v or MLP biases", m->path,
			    (long long)i);
		if (i == 0) {
			c->attention_bias = l->bo != NULL;
			c->qkv_bias = l->bq != NULL && l->bo == NULL;
			c->mlp_bias = l->b_gate != NULL;
		} else if (c->attention_bias != (l->bo != NULL) ||
		    c->mlp_bias != (l->b_gate != NULL) ||
		    (l->bq != NULL) != (c->attention_bias || c->qkv_bias)) {
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: blocks differ in "
			    "which biases they have", m->path);
		}
		if (c->attention_bias && l->bq == NULL)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: an output bias "
			    "without q/k/v biases is not supported", m->path);
		l->act[TQ_SITE_QKV].mode = gm_actq(s, c->fused_proj ?
		    gm_layer(s, i, "self_attn.qkv_proj.weight") : l->wq);
		/* Q8_1 rounds as Q8_0 and adds the minimums' corrections of
		   the Q4_1 / Q5_1 weights only: a Q4_0 q beside a Q5_1 v */
		if (l->act[TQ_SITE_QKV].mode == TQ_ACTQ_GGML_Q8_0 &&
		    (gm_actq(s, l->wk) == TQ_ACTQ_GGML_Q8_1 ||
		    gm_actq(s, l->wv) == TQ_ACTQ_GGML_Q8_1))
			l->act[TQ_SITE_QKV].mode = TQ_ACTQ_GGML_Q8_1;
		l->act[TQ_SITE_O].mode = gm_actq(s, l->wo);
		if (c->n_experts > 0)
			continue;	/* gm_bind_moe's */
		l->act[TQ_SITE_GATE_UP].mode = gm_actq(s, c->fused_proj ?
		    gm_layer(s, i, "mlp.gate_up_proj.weight") : l->w_gate);
		l->act[TQ_SITE_DOWN].mode = gm_actq(s, l->w_down);
	}
	m->head_act.mode = gm_actq(s, m->lm_head);
	return TQ_OK;
}

/* The tokenizer: rebuilt from the metadata, else tokenizer.json beside. */
static tq_status
gm_tokenizer(tq_model *m, const tq_gguf_file *f, tq_error *err)
{
	char *json = NULL, *dir, *slash, *path;
	tq_error e2;
	tq_status st;

	st = tq_gguf_vocab_to_json(f, &json, &e2);
	if (st == TQ_OK && json != NULL) {
		st = tq_tokenizer_load_buffer(json, strlen(json), f->path, &m->tok,
		    err);
		free(json);
		return st;
	}
	if (st != TQ_OK && st != TQ_EUNSUPPORTED) {
		*err = e2;
		return st;
	}
	if ((dir = strdup(f->path)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	slash = strrchr(dir, '/');
	if (slash != NULL)
		*slash = '\0';
	path = tq_path_join(slash != NULL ? dir : ".", "tokenizer.json");
	free(dir);
	if (path == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if (access(path, F_OK) == 0)
		st = tq_tokenizer_load(path, &m->tok, err);
	else if (st == TQ_EUNSUPPORTED) {
		/* Kept for whoever needs the tokenizer. */
		snprintf(m->tok_why, sizeof(m->tok_why), "%s", e2.msg);
		st = TQ_OK;
	}
	free(path);
	return st;
}

tq_status
tq_gguf_model_open(const char *path, tq_model **out, tq_error *err)
{
	gm_source *src = NULL;
	tq_model *m;
	const char *arch;
	char archbuf[16], hf[128];
	size_t len, i;
	int n_factors = 0;
	tq_status st;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	src = calloc(1, sizeof(*src));
	if (m == NULL || src == NULL || (m->path = strdup(path)) == NULL) {
		free(m);
		free(src);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	}
	m->source = src;
	m->source_free = gm_source_free;
	if ((st = tq_gguf_open(path, &src->f, err)) != TQ_OK)
		goto fail;
	m->file_bytes = src->f->size;
	if (!tq_gguf_get_str(src->f, "general.architecture", &arch, &len)) {
		st = tq_fail(err, TQ_EFORMAT, "%s: no general.architecture (not a "
		    "model file)", path);
		goto fail;
	}
	snprintf(archbuf, sizeof(archbuf), "%.*s", (int)(len < 15 ? len : 15),
	    arch);
	if (len > 15 || (strcmp(archbuf, "llama") != 0 &&
	    strcmp(archbuf, "qwen2") != 0 && strcmp(archbuf, "qwen3") != 0 &&
	    strcmp(archbuf, "qwen3moe") != 0 &&
	    strcmp(archbuf, "smollm3") != 0 && strcmp(archbuf, "gemma2") != 0 &&
	    strcmp(archbuf, "gemma3") != 0 && strcmp(archbuf, "phi3") != 0 &&
	    strcmp(archbuf, "gpt-oss") != 0)) {
		st = tq_fail(err, TQ_EUNSUPPORTED, "%s: architecture \"%.*s\" is "
		    "not supported (llama, qwen2, qwen3, qwen3moe, smollm3, "
		    "gemma2, gemma3, phi3, gpt-oss)", path,
		    (int)(len < 40 ? len : 40), arch);
		goto fail;
	}
	if ((st = gm_config(src->f, archbuf, &m->cfg, err)) != TQ_OK)
		goto fail;
	if ((src->t = calloc(src->f->n_t + 1, sizeof(*src->t))) == NULL ||
	    (src->type = calloc(src->f->n_t + 1, sizeof(*src->type))) ==
	    NULL || (src->mins = calloc(src->f->n_t + 1,
	    sizeof(*src->mins))) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	for (i = 0; i < src->f->n_t; i++) {
		const tq_gguf_tensor *g = &src->f->t[i];
		int64_t rows, cols, perm, parts;
		unsigned long long blk;
		int off;

		if (strcmp(g->name, "rope_freqs.weight") == 0 &&
		    m->cfg.arch == TQ_ARCH_LLAMA) {
			float v[2048];
			int64_t n = g->ne[0];

			if (g->n_dims != 1 || n != m->cfg.head_dim / 2 ||
			    g->type != TQ_GGML_F32) {
				st = tq_fail(err, TQ_EFORMAT, "%s: rope_freqs.weight "
				    "must be f32 [head_dim / 2]", path);
				goto fail;
			}
			if ((st = tq_gguf_dequant(g->type, g->data, n, 1, v,
			    err)) != TQ_OK || (st = gm_rope_freqs(&m->cfg, v, n,
			    path, err)) != TQ_OK)
				goto fail;
			continue;
		}
		if (m->cfg.arch == TQ_ARCH_PHI3 &&
		    (strcmp(g->name, "rope_factors_long.weight") == 0 ||
		    strcmp(g->name, "rope_factors_short.weight") == 0)) {
			if ((st = gm_rope_factors(g, &m->cfg, path, err)) !=
			    TQ_OK)
				goto fail;
			n_factors++;
			continue;
		}
		if (gm_is_nv_scale(src->f, g->name))
			continue;	/* read with its NVFP4 weight */
		if (strncmp(g->name, "blk.", 4) == 0 &&
		    !gm_block_index(g->name, &blk, &off)) {
			st = tq_fail(err, TQ_EFORMAT, "%s: tensor %s: the block "
			    "index must be plain decimal (blk.N.)", path, g->name);
			goto fail;
		}
		if (!gm_map(&m->cfg, g->name, hf, sizeof(hf), &rows, &cols,
		    &perm, &parts)) {
			st = tq_fail(err, TQ_EUNSUPPORTED, "%s: tensor %s is not "
			    "part of a %s model", path, g->name, archbuf);
			goto fail;
		}
		if (parts > 1 && (g->type == TQ_GGML_Q4_1 || g->type ==
		    TQ_GGML_Q5_1 || g->type == TQ_GGML_NVFP4)) {
			st = tq_fail(err, TQ_EUNSUPPORTED, "%s: tensor %s: "
			    "experts of type %s are not read (their per-block "
			    "minimums or tensor scale are per expert)", path,
			    g->name, tq_ggml_type_name(g->type));
			goto fail;
		}
		src->type[src->n] = g->type;
		if ((st = gm_load(src->f, g, hf, rows, cols, perm, parts,
		    &src->t[src->n], err)) != TQ_OK ||
		    (st = gm_mins(src->f, g, rows, cols, perm,
		    &src->mins[src->n_mins].m, err)) != TQ_OK)
			goto fail;
		if (src->mins[src->n_mins].m != NULL)
			src->mins[src->n_mins++].w = &src->t[src->n];
		src->n++;
	}
	/* llama.cpp's phi3 scales cos and sin by attn_factor with or
	   without the factor tensors; our longrope is both. */
	if (n_factors == 2)
		m->cfg.rope_type = TQ_ROPE_LONGROPE;
	else if (m->cfg.arch == TQ_ARCH_PHI3 && (n_factors == 1 ||
	    m->cfg.rope_attn_factor != 1.0)) {
		st = tq_fail(err, TQ_EUNSUPPORTED, "%s: a phi3 needs both "
		    "rope_factors_long and rope_factors_short, or neither and "
		    "no rope.scaling.attn_factor", path);
		goto fail;
	}
	m->ggml_mins = src->mins;
	m->n_ggml_mins = src->n_mins;
	/* Evaluated as llama.cpp's CPU backend computes it. */
	m->ggml_cpu = 1;
	if ((m->tensors = calloc(src->n + 1, sizeof(*m->tensors))) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	for (i = 0; i < src->n; i++)
		m->tensors[m->n_tensors++] = &src->t[i];
	/* The fingerprint: the header (metadata and tensor infos), the data. */
	for (i = 0, len = src->f->size; i < src->f->n_t; i++)
		if ((size_t)(src->f->t[i].data - src->f->bytes) < len)
			len = (size_t)(src->f->t[i].data - src->f->bytes);
	tq_model__fingerprint(m, tq_fnv1a(TQ_FNV_INIT, src->f->bytes, len));
	if ((st = gm_bind(m, src, err)) != TQ_OK ||
	    (st = tq_model__index_linears(m, err)) != TQ_OK ||
	    (st = gm_tokenizer(m, src->f, err)) != TQ_OK)
		goto fail;
	*out = m;
	return TQ_OK;
fail:
	tq_model_close(m);
	return st;
}
