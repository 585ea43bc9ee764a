/*
 * model.c: the model object's lifetime, accessors and names.
 */
#include "config.h"

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
 * lists.
 */
void
tq_model__block(const tq_model *m, int64_t li, tq_block_opts *out)
{
	const tq_model_config *c = &m->cfg;

	memset(out, 0, sizeof(*out));
	out->window = c->sliding_window;
	out->rope = !(c->no_rope[li / 64] >> (li % 64) & 1);
	out->qk_norm = c->qk_norm;
	out->act = TQ_MLP_SILU;
	out->norm_eps = (float)c->rms_norm_eps;
}

const char *
tq_model__block_extra(const tq_model *m)
{
	tq_block_opts b;
	int64_t li;

	for (li = 0; li < m->cfg.n_layers; li++) {
		tq_model__block(m, li, &b);
		if (b.qk_norm)
			return "QK-norm";
		if (!b.rope)
			return "layers without RoPE";
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

/* The block sublayer names, in TQ_LINEAR order (q, k, v, o, gate, up, down). */
static const char *const linear_paths[TQ_LINEARS_PER_LAYER] = {
	"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
	"self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"
};

tq_status
tq_model__index_linears(tq_model *m, tq_error *err)
{
	size_t n = (size_t)m->cfg.n_layers * TQ_LINEARS_PER_LAYER + 2, i;
	char buf[128];

	m->linear_names = calloc(n, sizeof(char *));
	if (m->linear_names == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", m->path);
	for (i = 0; i < n; i++) {
		size_t li = i / TQ_LINEARS_PER_LAYER;

		if (i + 2 == n)
			snprintf(buf, sizeof(buf), "lm_head");
		else if (i + 1 == n)
			snprintf(buf, sizeof(buf), "model.embed_tokens");
		else
			snprintf(buf, sizeof(buf), "model.layers.%zu.%s", li,
			    linear_paths[i % TQ_LINEARS_PER_LAYER]);
		if ((m->linear_names[i] = strdup(buf)) == NULL)
			return tq_fail(err, TQ_ENOMEM, "%s: out of memory",
			    m->path);
		m->n_linears = i + 1;
	}
	return TQ_OK;
}

const tq_tensor *
tq_model__linear_weight(const tq_model *m, size_t i)
{
	const tq_layer_weights *l;
	size_t n = m->n_linears;

	if (i >= n)
		return NULL;
	if (i + 2 == n)
		return m->lm_head;
	if (i + 1 == n)
		return m->embed;
	l = &m->layers[i / TQ_LINEARS_PER_LAYER];
	switch (i % TQ_LINEARS_PER_LAYER) {
	case 0:		return l->wq;
	case 1:		return l->wk;
	case 2:		return l->wv;
	case 3:		return l->wo;
	case 4:		return l->w_gate;
	case 5:		return l->w_up;
	default:	return l->w_down;
	}
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
