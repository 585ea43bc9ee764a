/*
 * model.c: the model object's lifetime, accessors and names.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#include "model.h"

void
tq_model_close(tq_model *m)
{
	if (m == NULL)
		return;
	if (!m->tok_borrowed)
		tq_tokenizer_free(m->tok);
	if (m->source_free != NULL)
		m->source_free(m->source);
	for (size_t i = 0; i < m->n_linears; i++)
		free(m->linear_names[i]);
	free(m->linear_names);
	free(m->block_first);
	for (size_t i = 0; i < m->n_views; i++) {
		free(m->views[i]->name);
		free(m->views[i]);
	}
	free(m->views);
	for (size_t i = 0; i < m->n_made; i++) {
		free(m->made[i]->name);
		free((void *)m->made[i]->data);
		free(m->made[i]);
	}
	free(m->made);
	free(m->tensors);
	free(m->layers);
	free(m->path);
	free(m);
}

const char *
tq_model_path(const tq_model *m)
{
	return m->path;
}

const tq_model_config *
tq_model_get_config(const tq_model *m)
{
	return &m->cfg;
}

const tq_tokenizer *
tq_model_tokenizer(const tq_model *m)
{
	return m->tok;
}

const char *
tq_model_tokenizer_why(const tq_model *m)
{
	return m->tok == NULL && m->tok_why[0] != '\0' ? m->tok_why : NULL;
}

tq_status
tq_model__need_tokenizer(const tq_model *m, const char *to, tq_error *err)
{
	if (m->tok != NULL)
		return TQ_OK;
	if (m->tok_why[0] != '\0')
		return tq_fail(err, TQ_EINVAL, "%s", m->tok_why);
	return tq_fail(err, TQ_EINVAL, "%s: no tokenizer.json%s%s", m->path,
	    to != NULL ? " " : "", to != NULL ? to : "");
}

size_t
tq_model_n_tensors(const tq_model *m)
{
	return m->n_tensors;
}

tq_status
tq_model_tensor(const tq_model *m, size_t i, tq_tensor_info *out)
{
	const tq_tensor *t;
	int d;

	if (i >= m->n_tensors) {
		memset(out, 0, sizeof(*out));
		return TQ_EINVAL;
	}
	t = m->tensors[i];
	out->name = t->name;
	out->dtype = t->dtype;
	out->ndim = t->ndim;
	for (d = 0; d < TQ_MAX_DIMS; d++)
		out->shape[d] = d < t->ndim ? t->shape[d] : 0;
	out->nbytes = t->nbytes;
	out->stored_bytes = t->stored != 0 ? t->stored : t->nbytes;
	return TQ_OK;
}

uint64_t
tq_model_file_bytes(const tq_model *m)
{
	return m->file_bytes;
}

const char *
tq_arch_name(tq_arch a)
{
	switch (a) {
	case TQ_ARCH_LLAMA:	return "llama";
	case TQ_ARCH_MISTRAL:	return "mistral";
	case TQ_ARCH_QWEN2:	return "qwen2";
	case TQ_ARCH_QWEN3:	return "qwen3";
	case TQ_ARCH_SMOLLM3:	return "smollm3";
	case TQ_ARCH_GEMMA2:	return "gemma2";
	case TQ_ARCH_GEMMA3:	return "gemma3";
	case TQ_ARCH_PHI3:	return "phi3";
	case TQ_ARCH_MIXTRAL:	return "mixtral";
	case TQ_ARCH_QWEN3_MOE:	return "qwen3_moe";
	case TQ_ARCH_GPT_OSS:	return "gpt_oss";
	}
	return "?";
}

const char *
tq_rope_type_name(tq_rope_type r)
{
	switch (r) {
	case TQ_ROPE_DEFAULT:	return "default";
	case TQ_ROPE_LINEAR:	return "linear";
	case TQ_ROPE_DYNAMIC:	return "dynamic";
	case TQ_ROPE_LLAMA3:	return "llama3";
	case TQ_ROPE_LONGROPE:	return "longrope";
	case TQ_ROPE_YARN:	return "yarn";
	}
	return "?";
}

const char *
tq_linear_name(tq_linear l)
{
	static const char *const names[TQ_LINEAR_COUNT] = {
		"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
		"up_proj", "down_proj", "lm_head"
	};

	return (unsigned)l < TQ_LINEAR_COUNT ? names[l] : "?";
}

/*
 * See model.h.  Llama, Mistral and Qwen2 differ only in the window; Qwen3
 * adds QK-norm, and SmolLM3 leaves RoPE out of the layers its config
 * lists.  Gemma 2 and 3 norm with 1 + w, norm the attention's and MLP's
 * outputs too, use GeGLU, scale q by query_pre_attn_scalar^-1/2 and slide
 * the window only in some layers; Gemma 2 soft-caps the scores, and Gemma
 * 3 rotates its sliding layers with a RoPE of their own.  Mixtral and
 * Qwen3-MoE route each token to its top-k experts (Qwen3-MoE with Qwen3's
 * QK-norm), except in the layers their config makes dense.
 */
void
tq_model__block(const tq_model *m, int64_t li, tq_block_opts *out)
{
	const tq_model_config *c = &m->cfg;
	int full = (int)(c->full_attn[li / 64] >> (li % 64) & 1);

	memset(out, 0, sizeof(*out));
	out->window = full ? 0 : c->sliding_window;
	out->rope = !(c->no_rope[li / 64] >> (li % 64) & 1);
	out->rope_local = c->rope_local_theta > 0.0 && !full &&
	    c->sliding_window > 0;
	out->qk_norm = c->qk_norm;
	out->post_norms = c->post_norms;
	out->attn_scale = c->query_pre_attn_scalar > 0.0 ?
	    (float)pow(c->query_pre_attn_scalar, -0.5) :
	    1.0f / sqrtf((float)c->head_dim);
	out->attn_softcap = (float)c->attn_softcap;
	out->act = c->mlp_gelu == 2 ? TQ_MLP_GELU_GGML : c->mlp_gelu ?
	    TQ_MLP_GELU_TANH : c->swiglu_limit > 0.0 ? TQ_MLP_SWIGLU_OAI :
	    TQ_MLP_SILU;
	out->swiglu_limit = (float)c->swiglu_limit;
	out->norm_eps = (float)c->rms_norm_eps;
	out->norm_offset = c->norm_unit_offset ? 1.0f : 0.0f;
	if (c->n_experts > 0 && !(c->dense_mlp[li / 64] >> (li % 64) & 1)) {
		out->moe.n_experts = (int)c->n_experts;
		out->moe.top_k = (int)c->n_experts_used;
		out->moe.norm_topk = c->norm_topk_prob;
		out->moe.inter = c->moe_inter;
		out->moe.softmax_topk = c->router_topk_softmax;
	}
}

int
tq_model__moe(const tq_model *m)
{
	return m->cfg.n_experts > 0;
}

const char *
tq_model__block_extra(const tq_model *m)
{
	tq_block_opts b;
	int64_t li;

	if (tq_model__moe(m))
		return "mixture-of-experts";
	if (m->cfg.fused_proj)
		return "fused qkv_proj and gate_up_proj";
	if (m->cfg.rope_dim > 0 && m->cfg.rope_dim != m->cfg.head_dim)
		return "partial rotary";
	if (m->cfg.rope_type == TQ_ROPE_LONGROPE)
		return "longrope";
	for (li = 0; li < m->cfg.n_layers; li++) {
		tq_model__block(m, li, &b);
		if (b.post_norms)
			return "post-norms";
		if (b.qk_norm)
			return "QK-norm";
		if (!b.rope)
			return "layers without RoPE";
		if (b.act != TQ_MLP_SILU)
			return "GeGLU";
		if (b.attn_softcap > 0.0f || m->cfg.final_softcap > 0.0)
			return "soft-capping";
		if (b.norm_offset != 0.0f)
			return "(1 + w) norms";
		if (m->cfg.embed_scale)
			return "scaled embeddings";
	}
	return NULL;
}

int
tq_model__input_site(tq_linear l)
{
	switch (l) {
	case TQ_LINEAR_Q: case TQ_LINEAR_K: case TQ_LINEAR_V:
		return TQ_SITE_QKV;
	case TQ_LINEAR_O:
		return TQ_SITE_O;
	case TQ_LINEAR_GATE: case TQ_LINEAR_UP:
		return TQ_SITE_GATE_UP;
	case TQ_LINEAR_DOWN:
		return TQ_SITE_DOWN;
	default:
		return -1;
	}
}

uint64_t
tq_fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* Bytes of each weight the fingerprint reads: one page touched per tensor. */
#define FINGERPRINT_SAMPLE 64

void
tq_model__fingerprint(tq_model *m, uint64_t h)
{
	size_t i;

	for (i = 0; i < m->n_tensors; i++) {
		const tq_tensor *t = m->tensors[i];

		h = tq_fnv1a(h, t->name, strlen(t->name));
		h = tq_fnv1a(h, t->data, t->nbytes < FINGERPRINT_SAMPLE ?
		    (size_t)t->nbytes : FINGERPRINT_SAMPLE);
	}
	m->fingerprint = h != 0 ? h : 1;	/* 0 means none */
}

tq_status
tq_model__split_rows(tq_model *m, const tq_tensor *fused, size_t n,
    const int64_t *rows, const char *const *names, const tq_tensor **out,
    tq_error *err)
{
	uint64_t row_bytes = fused->nbytes / (uint64_t)fused->shape[0];
	int64_t r0 = 0;
	tq_tensor **grown, *t;
	size_t k;

	for (k = 0; k < n; k++) {
		grown = realloc(m->views, (m->n_views + 1) * sizeof(*grown));
		if (grown == NULL)
			return tq_fail(err, TQ_ENOMEM, "%s: out of memory",
			    m->path);
		m->views = grown;
		if ((t = calloc(1, sizeof(*t))) == NULL ||
		    (t->name = strdup(names[k])) == NULL) {
			free(t);
			return tq_fail(err, TQ_ENOMEM, "%s: out of memory",
			    m->path);
		}
		t->dtype = fused->dtype;
		t->ndim = 2;
		t->shape[0] = rows[k];
		t->shape[1] = fused->shape[1];
		t->data = (const uint8_t *)fused->data + (uint64_t)r0 * row_bytes;
		t->nbytes = (uint64_t)rows[k] * row_bytes;
		m->views[m->n_views++] = t;
		out[k] = t;
		r0 += rows[k];
	}
	return TQ_OK;
}

tq_status
tq_model__new_tensor(tq_model *m, const char *name, tq_dtype dt, int ndim,
    const int64_t *shape, tq_tensor **out, tq_error *err)
{
	tq_tensor **grown, *t;
	int64_t n = 1;
	int d;

	for (d = 0; d < ndim; d++)
		n *= shape[d];
	grown = realloc(m->made, (m->n_made + 1) * sizeof(*grown));
	if (grown == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", m->path);
	m->made = grown;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->name = strdup(name)) == NULL ||
	    (t->data = calloc((size_t)n, tq_dtype_size(dt))) == NULL) {
		if (t != NULL)
			free(t->name);
		free(t);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", m->path);
	}
	t->dtype = dt;
	t->ndim = ndim;
	for (d = 0; d < ndim; d++)
		t->shape[d] = shape[d];
	t->nbytes = (uint64_t)n * tq_dtype_size(dt);
	m->made[m->n_made++] = t;
	*out = t;
	return TQ_OK;
}

/* The block sublayer names, in TQ_LINEAR order (q, k, v, o, gate, up, down). */
static const char *const linear_paths[TQ_LINEARS_PER_LAYER] = {
	"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
	"self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"
};

size_t
tq_layer__n_linears(const tq_layer_weights *l)
{
	return l->n_experts > 0 ? 4 + 3 * (size_t)l->n_experts :
	    TQ_LINEARS_PER_LAYER;
}

tq_linear
tq_layer__kind(const tq_layer_weights *l, size_t k, int *expert)
{
	if (expert != NULL)
		*expert = k >= 4 && l->n_experts > 0 ? (int)((k - 4) / 3) : -1;
	if (k < 4 || l->n_experts == 0)
		return (tq_linear)k;
	return (tq_linear)(TQ_LINEAR_GATE + (k - 4) % 3);
}

/*
 * Expert e's linear (gate, up, down) of block li as the checkpoint names
 * it: mixtral's block_sparse_moe.experts.E.w1 / w3 / w2, Qwen3-MoE's
 * mlp.experts.E.gate_proj / up_proj / down_proj.
 */
static void
expert_name(const tq_model *m, size_t li, int e, tq_linear kind, char *buf,
    size_t n)
{
	static const char *const mixtral[3] = { "w1", "w3", "w2" };
	int j = (int)kind - TQ_LINEAR_GATE;

	if (m->cfg.arch == TQ_ARCH_MIXTRAL)
		snprintf(buf, n, "model.layers.%zu.block_sparse_moe.experts.%d.%s",
		    li, e, mixtral[j]);
	else
		snprintf(buf, n, "model.layers.%zu.mlp.experts.%d.%s", li, e,
		    tq_linear_name(kind));
}

tq_status
tq_model__index_linears(tq_model *m, tq_error *err)
{
	size_t L = (size_t)m->cfg.n_layers, n = 2, i, li, k;
	char buf[160];

	m->block_first = calloc(L + 1, sizeof(size_t));
	if (m->block_first == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", m->path);
	for (li = 0; li < L; li++) {
		m->block_first[li] = n - 2;
		n += tq_layer__n_linears(&m->layers[li]);
	}
	m->block_first[L] = n - 2;
	m->linear_names = calloc(n, sizeof(char *));
	if (m->linear_names == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", m->path);
	for (i = 0; i < n; i++) {
		int e;

		if (i + 2 == n) {
			snprintf(buf, sizeof(buf), "lm_head");
		} else if (i + 1 == n) {
			snprintf(buf, sizeof(buf), "model.embed_tokens");
		} else {
			tq_linear kind;

			li = (size_t)tq_model__linear_block(m, i, &k);
			kind = tq_layer__kind(&m->layers[li], k, &e);
			if (e >= 0)
				expert_name(m, li, e, kind, buf, sizeof(buf));
			else
				snprintf(buf, sizeof(buf), "model.layers.%zu.%s",
				    li, linear_paths[kind]);
		}
		if ((m->linear_names[i] = strdup(buf)) == NULL)
			return tq_fail(err, TQ_ENOMEM, "%s: out of memory",
			    m->path);
		m->n_linears = i + 1;
	}
	return TQ_OK;
}

size_t
tq_model__block_first(const tq_model *m, int64_t li)
{
	return m->block_first[li];
}

int64_t
tq_model__linear_block(const tq_model *m, size_t i, size_t *k)
{
	size_t lo = 0, hi = (size_t)m->cfg.n_layers;

	if (i >= m->block_first[hi]) {
		*k = 0;
		return -1;
	}
	/* The last block whose first linear is at most i. */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (m->block_first[mid] <= i)
			lo = mid;
		else
			hi = mid;
	}
	*k = i - m->block_first[lo];
	return (int64_t)lo;
}

/* See tq.h. */
tq_linear
tq_model_linear_kind(const tq_model *m, size_t i, int *expert)
{
	size_t k;
	int64_t li = tq_model__linear_block(m, i, &k);

	if (expert != NULL)
		*expert = -1;
	if (li >= 0)
		return tq_layer__kind(&m->layers[li], k, expert);
	return i + 2 == m->n_linears ? TQ_LINEAR_LM_HEAD : TQ_LINEAR_COUNT;
}

const tq_tensor *
tq_model__linear_weight(const tq_model *m, size_t i)
{
	size_t n = m->n_linears, k;
	int64_t li;

	if (i >= n)
		return NULL;
	if (i + 2 == n)
		return m->lm_head;
	if (i + 1 == n)
		return m->embed;
	li = tq_model__linear_block(m, i, &k);
	/* The slot is only read. */
	return *tq_layer__slot((tq_layer_weights *)&m->layers[li], k);
}

size_t
tq_model_n_linears(const tq_model *m)
{
	return m->n_linears;
}

const char *
tq_model_linear_name(const tq_model *m, size_t i)
{
	return i < m->n_linears ? m->linear_names[i] : NULL;
}

tq_status
tq_model_linear_shape(const tq_model *m, size_t i, int64_t *rows,
    int64_t *cols)
{
	const tq_tensor *t = tq_model__linear_weight(m, i);

	*rows = t != NULL ? t->shape[0] : 0;
	*cols = t != NULL ? t->shape[1] : 0;
	return t != NULL ? TQ_OK : TQ_EINVAL;
}

const tq_tensor **
tq_layer__slot(tq_layer_weights *l, size_t k)
{
	if (k >= 4 && l->n_experts > 0)
		return &l->experts[(k - 4) / 3][(k - 4) % 3];
	switch (k) {
	case 0:		return &l->wq;
	case 1:		return &l->wk;
	case 2:		return &l->wv;
	case 3:		return &l->wo;
	case 4:		return &l->w_gate;
	case 5:		return &l->w_up;
	default:	return &l->w_down;
	}
}
