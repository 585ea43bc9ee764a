/*
 * hf_export.c: what the Hugging Face-style checkpoint exporters share.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "gguf_vocab.h"
#include "hf_export.h"
#include "quant_fp4.h"
#include "model.h"
#include "qstate.h"
#include "tokenizer.h"

#define HFX_CONFIG_MAX ((size_t)16 << 20)
#define HFX_EXTRA_MAX ((size_t)1 << 30)

tq_status
tq_hfx__init(tq_hfx *h, tq_export_ctx *x, tq_error *err)
{
	size_t n = tq_model_n_linears(x->model);
	tq_status st;

	memset(h, 0, sizeof(*h));
	h->x = x;
	h->total = (int64_t)n;
	/* config.json and the tokenizer files come from the base. */
	if ((st = tq_hfx__base_ok(x->base, "awq, gptq, compressed-tensors "
	    "and trtllm exports take", err)) != TQ_OK)
		return st;
	if (!tq_is_dir(x->out) && mkdir(x->out, 0777) != 0)
		return tq_fail(err, TQ_EIO, "%s: cannot create the directory: "
		    "%s", x->out, strerror(errno));
	if ((h->packed = calloc(n ? n : 1, 1)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	h->untie = x->model->cfg.tie_word_embeddings &&
	    x->model->lm_head != x->model->embed;
	if (x->job != NULL)
		tq_job__stage(x->job, "export");
	return tq_st_writer_new(&h->w, err);
}

void
tq_hfx__done(tq_hfx *h)
{
	size_t i;

	for (i = 0; i < h->n_bufs; i++)
		free(h->bufs[i]);
	free(h->bufs);
	free(h->packed);
	tq_st_writer_free(h->w);
	memset(h, 0, sizeof(*h));
}

void *
tq_hfx__alloc(tq_hfx *h, size_t n, tq_error *err)
{
	void *p;

	if (h->n_bufs == h->cap_bufs) {
		size_t cap = h->cap_bufs ? 2 * h->cap_bufs : 64;
		void **g = realloc(h->bufs, cap * sizeof(*g));

		if (g == NULL)
			goto nomem;
		h->bufs = g;
		h->cap_bufs = cap;
	}
	if ((p = calloc(n ? n : 1, 1)) == NULL)
		goto nomem;
	h->bufs[h->n_bufs++] = p;
	return p;
nomem:
	tq_fail(err, TQ_ENOMEM, "out of memory for a %zu-byte export buffer",
	    n);
	return NULL;
}

tq_status
tq_hfx__add(tq_hfx *h, const char *name, tq_dtype dtype, int ndim,
    const int64_t *shape, const void *data, tq_error *err)
{
	return tq_st_writer_add(h->w, name, dtype, ndim, shape, data, err);
}

tq_status
tq_hfx__add_q(tq_hfx *h, const char *name, tq_dtype dtype, int ndim,
    const int64_t *shape, const void *data, tq_error *err)
{
	uint64_t n = tq_dtype_size(dtype);
	int d;

	for (d = 0; d < ndim; d++)
		n *= (uint64_t)shape[d];
	h->q_bytes += n;
	return tq_hfx__add(h, name, dtype, ndim, shape, data, err);
}

tq_status
tq_hfx__add_parts(tq_hfx *h, const char *prefix, const tq_hfx_part *parts,
    size_t n, tq_error *err)
{
	char name[192];
	tq_status st = TQ_OK;
	size_t i;

	for (i = 0; i < n && st == TQ_OK; i++) {
		snprintf(name, sizeof(name), "%s.%s", prefix, parts[i].suffix);
		st = tq_hfx__add_q(h, name, parts[i].dtype, parts[i].ndim,
		    parts[i].shape, parts[i].data, err);
	}
	return st;
}

void
tq_hfx__mark(tq_hfx *h, size_t i)
{
	const tq_qtensor *qt = &h->x->state->layers[i].qt;

	h->packed[i] = 1;
	h->q_weights += (uint64_t)(qt->rows * qt->cols);
}

int
tq_hfx__is_q(const tq_hfx *h, size_t i)
{
	const tq_qstate *s = h->x->state;

	return s != NULL && i + 2 < s->n &&
	    s->layers[i].cfg.method != TQ_METHOD_FLOAT;
}

const char *
tq_hfx__name(const tq_hfx *h, size_t i)
{
	return tq_model_linear_name(h->x->model, i);
}

tq_status
tq_hfx__step(tq_hfx *h, tq_error *err)
{
	tq_job *j = h->x->job;

	if (j == NULL)
		return TQ_OK;
	tq_job__progress(j, ++h->done, h->total);
	if (tq_job__cancelled(j))
		return tq_fail(err, TQ_ECANCELLED, "export cancelled");
	return TQ_OK;
}

size_t
tq_hfx__module(const tq_model *m, size_t i, size_t *first, char *name,
    size_t len)
{
	size_t k = i % TQ_LINEARS_PER_LAYER, n = 1;
	const char *path = NULL;

	*first = i;
	if (m->cfg.fused_proj && i + 2 < tq_model_n_linears(m)) {
		if (k <= TQ_LINEAR_V) {
			*first = i - k;
			n = 3;
			path = "self_attn.qkv_proj";
		} else if (k == TQ_LINEAR_GATE || k == TQ_LINEAR_UP) {
			*first = i - (k - TQ_LINEAR_GATE);
			n = 2;
			path = "mlp.gate_up_proj";
		}
	}
	if (path != NULL)
		snprintf(name, len, "model.layers.%zu.%s",
		    i / TQ_LINEARS_PER_LAYER, path);
	else
		snprintf(name, len, "%s", tq_model_linear_name(m, i));
	return n;
}

tq_status
tq_hfx__fuse(const tq_qstate *s, size_t first, size_t n, tq_qtensor *out,
    tq_error *err)
{
	const tq_qtensor *a = &s->layers[first].qt;
	int64_t rows = 0, r0 = 0;
	size_t p;
	tq_status st;

	for (p = 0; p < n; p++)
		rows += s->layers[first + p].qt.rows;
	if ((st = tq_qtensor_init(out, &a->scheme, rows, a->cols, err)) !=
	    TQ_OK)
		return st;
	/* The state's own block layout, not the one init would choose. */
	out->qk = a->qk;
	out->nblocks = a->nblocks;
	free(out->params);
	out->params = calloc((size_t)(rows * a->nblocks), sizeof(tq_qparams));
	if (out->params == NULL) {
		tq_hfx__unfuse(out);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	for (p = 0; p < n; p++) {
		const tq_qtensor *q = &s->layers[first + p].qt;

		memcpy(out->codes + r0 * a->cols, q->codes,
		    (size_t)(q->rows * a->cols));
		memcpy(out->params + r0 * a->nblocks, q->params,
		    (size_t)(q->rows * a->nblocks) * sizeof(tq_qparams));
		r0 += q->rows;
	}
	out->g_idx = a->g_idx;
	return TQ_OK;
}

void
tq_hfx__unfuse(tq_qtensor *t)
{
	t->g_idx = NULL;	/* borrowed */
	tq_qtensor_done(t);
}

tq_status
tq_hfx__stack(tq_hfx *h, size_t first, size_t n, tq_tensor *out,
    tq_error *err)
{
	const tq_model *m = h->x->model;
	const tq_tensor *a = tq_model__linear_weight(m, first);
	uint64_t bytes = 0;
	uint8_t *d;
	size_t p;

	memset(out, 0, sizeof(*out));
	out->dtype = a->dtype;
	out->ndim = 2;
	out->shape[1] = a->shape[1];
	for (p = 0; p < n; p++) {
		const tq_tensor *t = tq_model__linear_weight(m, first + p);

		if (t->dtype != a->dtype || t->shape[1] != a->shape[1])
			return tq_fail(err, TQ_EINVAL, "%s and %s differ in "
			    "dtype or width and cannot be stacked", a->name,
			    t->name);
		out->shape[0] += t->shape[0];
		bytes += t->nbytes;
	}
	if ((d = tq_hfx__alloc(h, (size_t)bytes, err)) == NULL)
		return TQ_ENOMEM;
	out->data = d;
	out->nbytes = bytes;
	for (p = 0; p < n; p++) {
		const tq_tensor *t = tq_model__linear_weight(m, first + p);

		memcpy(d, t->data, (size_t)t->nbytes);
		d += t->nbytes;
	}
	return TQ_OK;
}

tq_status
tq_hfx__each(tq_hfx *h, tq_hfx_layer_fn fn, void *ud, tq_error *err)
{
	size_t n = tq_model_n_linears(h->x->model), i, first, np, p;
	tq_status st = TQ_OK;
	char name[160];
	tq_qtensor f;

	for (i = 0; i < n && st == TQ_OK; i++) {
		np = tq_hfx__module(h->x->model, i, &first, name, sizeof(name));
		if (tq_hfx__is_q(h, i) && first == i && np == 1) {
			st = fn(h, i, &h->x->state->layers[i].qt, name, ud,
			    err);
		} else if (tq_hfx__is_q(h, i) && first == i) {
			/* phi3: the parts' rows as the one stored tensor. */
			if ((st = tq_hfx__fuse(h->x->state, i, np, &f, err)) ==
			    TQ_OK) {
				st = fn(h, i, &f, name, ud, err);
				tq_hfx__unfuse(&f);
			}
		}
		for (p = 0; tq_hfx__is_q(h, i) && first == i && st == TQ_OK &&
		    p < np; p++)
			tq_hfx__mark(h, i + p);
		if (st == TQ_OK)
			st = tq_hfx__step(h, err);
	}
	return st;
}

/* "k_proj" of "model.layers.3.self_attn.k_proj". */
static const char *
hfx_short(const tq_hfx *h, size_t i)
{
	const char *s = tq_hfx__name(h, i), *d = strrchr(s, '.');

	return d != NULL ? d + 1 : s;
}

/* 1 when a and b group their columns the same way (act-order). */
static int
hfx_same_groups(const tq_qtensor *a, const tq_qtensor *b)
{
	int64_t c;

	if (a->cols != b->cols || a->qk != b->qk)
		return 0;
	for (c = 0; c < a->cols; c++)
		if ((a->g_idx != NULL ? a->g_idx[c] : c / a->qk) !=
		    (b->g_idx != NULL ? b->g_idx[c] : c / b->qk))
			return 0;
	return 1;
}

/*
 * phi3: the parts of fused module name (linears first..first+n) become
 * one tensor, so they must be quantized alike: all float, or one scheme,
 * one activation width and one act-order permutation.
 */
static tq_status
hfx_parts_agree(const tq_hfx *h, const char *format, const char *name,
    size_t first, size_t n, tq_error *err)
{
	const tq_qlayer *a = &h->x->state->layers[first];
	char sa[32], sb[32], why[160];
	size_t p;

	for (p = 1; p < n; p++) {
		const tq_qlayer *b = &h->x->state->layers[first + p];
		int fa = a->cfg.method == TQ_METHOD_FLOAT;
		int fb = b->cfg.method == TQ_METHOD_FLOAT;

		why[0] = '\0';
		tq_scheme_name(&a->qt.scheme, sa, sizeof(sa));
		tq_scheme_name(&b->qt.scheme, sb, sizeof(sb));
		if (fa != fb)
			snprintf(why, sizeof(why), "%s is %s and %s %s",
			    hfx_short(h, first), fa ? "float" : sa,
			    hfx_short(h, first + p), fb ? "float" : sb);
		else if (fa)
			continue;
		else if (memcmp(&a->qt.scheme, &b->qt.scheme,
		    sizeof(a->qt.scheme)) != 0)
			snprintf(why, sizeof(why), "%s is %s and %s %s",
			    hfx_short(h, first), sa, hfx_short(h, first + p),
			    sb);
		else if (a->cfg.act_bits != b->cfg.act_bits)
			snprintf(why, sizeof(why), "%s and %s differ in "
			    "activation bits", hfx_short(h, first),
			    hfx_short(h, first + p));
		else if (!hfx_same_groups(&a->qt, &b->qt))
			snprintf(why, sizeof(why), "%s and %s have different "
			    "act-order g_idx (one tensor has one)",
			    hfx_short(h, first), hfx_short(h, first + p));
		if (why[0] != '\0')
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: %s is one "
			    "tensor in a Phi-3 checkpoint, but %s; quantize "
			    "its parts alike", format, name, why);
	}
	return TQ_OK;
}

tq_status
tq_hfx__grid(tq_hfx *h, const char *format, tq_hfx_fit ok, const char *fits,
    tq_scheme *common, int *any_float, tq_error *err)
{
	const tq_qstate *s = h->x->state;
	char a[32], b[32];
	size_t i, nq = 0;
	int head = 0;
	tq_status st;

	*any_float = 0;
	if (s == NULL)
		return tq_fail(err, TQ_EINVAL, "%s: needs a quantized state, "
		    "not a float model; it holds %s", format, fits);
	for (i = 0; i < s->n; i++) {
		const tq_qlayer *q = &s->layers[i];
		tq_qtensor fused;
		size_t first = i, np = 1, p;
		char name[160];

		if (i + 2 < s->n) {
			np = tq_hfx__module(h->x->model, i, &first, name,
			    sizeof(name));
			if (np > 1 && first == i && (st = hfx_parts_agree(h,
			    format, name, i, np, err)) != TQ_OK)
				return st;
		}
		if (q->cfg.method == TQ_METHOD_FLOAT) {
			if (i + 2 < s->n)
				*any_float = 1;
			continue;
		}
		if (i + 2 >= s->n) {
			head = 1;
			continue;
		}
		tq_scheme_name(&q->qt.scheme, a, sizeof(a));
		if (q->cfg.act_bits == 8)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: %s has 8-bit "
			    "activations (W8A8), which this weight-only format "
			    "does not carry; the format holds %s", format,
			    name, fits);
		/* What the format stores: phi3's parts as one tensor. */
		fused = q->qt;
		for (p = 1; first == i && p < np; p++)
			fused.rows += s->layers[i + p].qt.rows;
		if (first == i && !ok(&q->qt.scheme, &fused))
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: %s is %s%s; "
			    "the format holds %s", format, name,
			    a, q->qt.g_idx != NULL ? " with act-order" : "",
			    fits);
		if (nq++ == 0) {
			*common = q->qt.scheme;
		} else if (memcmp(common, &q->qt.scheme, sizeof(*common))
		    != 0) {
			tq_scheme_name(common, b, sizeof(b));
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: the state "
			    "mixes %s and %s (at %s); the format takes one "
			    "scheme for every quantized layer", format, b, a,
			    tq_hfx__name(h, i));
		}
	}
	if (nq == 0)
		return tq_fail(err, TQ_EINVAL, "%s: the state has no quantized "
		    "decoder layer; the format holds %s", format, fits);
	if (head)
		tq_warn_append(h->x->report->warning,
		    sizeof(h->x->report->warning), "lm_head/embeddings are "
		    "written in float (their dequantized values): %s does not "
		    "quantize them", format);
	return TQ_OK;
}

/* Adds t under name unless it is absent. */
static tq_status
hfx_add_float(tq_hfx *h, const char *name, const tq_tensor *t, tq_error *err)
{
	if (t == NULL)
		return TQ_OK;
	return tq_hfx__add(h, name, t->dtype, t->ndim, t->shape, t->data, err);
}

tq_status
tq_hfx__add_floats(tq_hfx *h, tq_error *err)
{
	const tq_model *m = h->x->model;
	size_t n = tq_model_n_linears(m), i;
	tq_status st = TQ_OK;
	char name[168];
	int64_t l;

	for (l = 0; l < m->cfg.n_layers && st == TQ_OK; l++) {
		const tq_layer_weights *w = &m->layers[l];
		const tq_tensor *extra[] = { w->attn_norm, w->ffn_norm, w->bq,
		    w->bk, w->bv, w->bo, w->b_gate, w->b_up, w->b_down,
		    w->q_norm, w->k_norm, w->post_attn_norm, w->post_ffn_norm,
		    w->router };
		size_t k;

		for (k = 0; k < sizeof(extra) / sizeof(extra[0]) &&
		    st == TQ_OK; k++)
			if (extra[k] != NULL)
				st = hfx_add_float(h, extra[k]->name, extra[k],
				    err);
	}
	if (st == TQ_OK)
		st = hfx_add_float(h, m->norm->name, m->norm, err);
	for (i = 0; i < n && st == TQ_OK; i++) {
		const tq_tensor *t = tq_model__linear_weight(m, i);
		size_t first, np = tq_hfx__module(m, i, &first, name,
		    sizeof(name) - 8);
		tq_tensor f;

		if (h->packed[i])
			continue;
		if (i + 2 == n) {	/* lm_head */
			if (m->cfg.tie_word_embeddings && !h->untie)
				continue;
			st = hfx_add_float(h, "lm_head.weight", t, err);
		} else if (np > 1) {
			/* phi3: float parts stacked as the stored tensor. */
			if (first != i)
				continue;
			strcat(name, ".weight");
			if ((st = tq_hfx__stack(h, i, np, &f, err)) == TQ_OK)
				st = tq_hfx__add(h, name, f.dtype, 2, f.shape,
				    f.data, err);
		} else {
			st = hfx_add_float(h, t->name, t, err);
		}
	}
	return st;
}

tq_status
tq_hfx__write_weights(tq_hfx *h, const char *file, tq_error *err)
{
	tq_export_report *r = h->x->report;
	char *path = tq_path_join(h->x->out, file);
	tq_status st;

	if (path == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if ((st = tq_st_writer_meta(h->w, "format", "pt", err)) == TQ_OK)
		st = tq_st_writer_write(h->w, path, err);
	free(path);
	if (st == TQ_OK && h->q_weights > 0)
		r->bpw = 8.0 * (double)h->q_bytes / (double)h->q_weights;
	return st;
}

/* The config.json names of the architectures a GGUF base can have. */
static const struct {
	tq_arch arch;
	const char *type, *cls;
} hfx_archs[] = {
	{ TQ_ARCH_LLAMA, "llama", "LlamaForCausalLM" },
	{ TQ_ARCH_MISTRAL, "mistral", "MistralForCausalLM" },
	{ TQ_ARCH_QWEN2, "qwen2", "Qwen2ForCausalLM" },
	{ TQ_ARCH_QWEN3, "qwen3", "Qwen3ForCausalLM" }
};

static int
hfx_arch(tq_arch a)
{
	size_t i;

	for (i = 0; i < sizeof(hfx_archs) / sizeof(hfx_archs[0]); i++)
		if (hfx_archs[i].arch == a)
			return (int)i;
	return -1;
}

const char *
tq_export_holders(const tq_scheme *s)
{
	switch (s->type) {
	case TQ_QT_INT:
		return "gptq, awq, mlx, onnx or compressed-tensors, each for "
		    "the bits and groups it takes";
	case TQ_QT_FP8_E4M3:
		if (tq_quant_mxfp8(s))
			return "mlx";
		if (s->group == TQ_GROUP_CHANNEL)
			return "compressed-tensors or trtllm";
		return "compressed-tensors";
	case TQ_QT_NF4:
		return "none: no export format holds NF4";
	case TQ_QT_NVFP4:
		if (s->nv_scale == TQ_NV_UNIT)
			return "compressed-tensors, gguf, mlx or trtllm";
		return s->nv_scale == TQ_NV_POW2 ? "compressed-tensors, gguf, "
		    "trtllm, or mlx where G folds into the block scales" :
		    "compressed-tensors or gguf";
	case TQ_QT_MXFP4:
		return "gguf or mlx";
	default:
		return "gguf";
	}
}

tq_status
tq_hfx__base_ok(const tq_model *base, const char *format, tq_error *err)
{
	const char *p = tq_model_path(base);

	if (tq_is_dir(p))
		return TQ_OK;
	if (!tq_gguf_is_file(p))
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: not a Hugging Face "
		    "model directory or a GGUF file; the %s its config.json "
		    "and tokenizer from one", p, format);
	if (hfx_arch(base->cfg.arch) < 0)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: a GGUF %s model has no "
		    "config.json this export can write (llama, mistral, qwen2, "
		    "qwen3 have)", p, tq_arch_name(base->cfg.arch));
	if (tq_model_tokenizer(base) == NULL)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: the %s its "
		    "tokenizer, which the GGUF metadata does not rebuild: %s",
		    p, format, tq_model_tokenizer_why(base));
	return TQ_OK;
}

/* c's BOS and EOS ids (config.json, generation_config.json). */
static void
hfx_ids(cJSON *o, const tq_model_config *c)
{
	if (c->bos_token_id >= 0)
		cJSON_AddNumberToObject(o, "bos_token_id",
		    (double)c->bos_token_id);
	if (c->eos_token_id >= 0)
		cJSON_AddNumberToObject(o, "eos_token_id",
		    (double)c->eos_token_id);
}

/* config.json from a GGUF model's configuration (what transformers reads). */
static tq_status
hfx_gguf_config(const tq_model *base, cJSON **out, tq_error *err)
{
	const tq_model_config *c = &base->cfg;
	int a = hfx_arch(c->arch);
	cJSON *o = cJSON_CreateObject(), *arr, *rs;
	unsigned long mark = tq_json_begin();

	*out = NULL;
	arr = cJSON_AddArrayToObject(o, "architectures");
	tq_json_push(arr, cJSON_CreateString(hfx_archs[a].cls));
	cJSON_AddStringToObject(o, "model_type", hfx_archs[a].type);
	cJSON_AddNumberToObject(o, "vocab_size", (double)c->vocab_size);
	cJSON_AddNumberToObject(o, "hidden_size", (double)c->hidden_size);
	cJSON_AddNumberToObject(o, "intermediate_size",
	    (double)c->intermediate_size);
	cJSON_AddNumberToObject(o, "num_hidden_layers", (double)c->n_layers);
	cJSON_AddNumberToObject(o, "num_attention_heads", (double)c->n_heads);
	cJSON_AddNumberToObject(o, "num_key_value_heads",
	    (double)c->n_kv_heads);
	cJSON_AddNumberToObject(o, "head_dim", (double)c->head_dim);
	cJSON_AddNumberToObject(o, "max_position_embeddings",
	    (double)c->max_position_embeddings);
	tq_json_add(o, "rms_norm_eps", tq_json_num(c->rms_norm_eps));
	tq_json_add(o, "rope_theta", tq_json_num(c->rope_theta));
	if (c->rope_type != TQ_ROPE_DEFAULT) {
		rs = cJSON_AddObjectToObject(o, "rope_scaling");
		cJSON_AddStringToObject(rs, "rope_type", c->rope_type ==
		    TQ_ROPE_LINEAR ? "linear" : c->rope_type == TQ_ROPE_DYNAMIC ?
		    "dynamic" : "llama3");
		tq_json_add(rs, "factor", tq_json_num(c->rope_factor));
		if (c->rope_type == TQ_ROPE_LLAMA3) {
			tq_json_add(rs, "low_freq_factor",
			    tq_json_num(c->rope_low_freq_factor));
			tq_json_add(rs, "high_freq_factor",
			    tq_json_num(c->rope_high_freq_factor));
			cJSON_AddNumberToObject(rs,
			    "original_max_position_embeddings",
			    (double)c->rope_original_max_pos);
		}
	}
	if (c->sliding_window > 0) {
		cJSON_AddNumberToObject(o, "sliding_window",
		    (double)c->sliding_window);
		if (c->arch == TQ_ARCH_QWEN2 || c->arch == TQ_ARCH_QWEN3)
			cJSON_AddTrueToObject(o, "use_sliding_window");
	}
	cJSON_AddStringToObject(o, "hidden_act", "silu");
	if (c->arch == TQ_ARCH_LLAMA || c->arch == TQ_ARCH_QWEN3)
		cJSON_AddBoolToObject(o, "attention_bias", c->attention_bias ||
		    c->qkv_bias);
	if (c->arch == TQ_ARCH_LLAMA)
		cJSON_AddBoolToObject(o, "mlp_bias", c->mlp_bias);
	cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
	hfx_ids(o, c);
	/* The float tensors are written as the GGUF reader holds them. */
	cJSON_AddStringToObject(o, "torch_dtype", "float32");
	if (tq_json_end(mark, "config.json", err) != TQ_OK) {
		cJSON_Delete(o);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	*out = o;
	return TQ_OK;
}

tq_status
tq_hfx__base_config(const tq_model *base, cJSON **out, tq_error *err)
{
	char *path;
	tq_status st;

	*out = NULL;
	if (!tq_is_dir(tq_model_path(base)))
		return hfx_gguf_config(base, out, err);
	if ((path = tq_path_join(tq_model_path(base), "config.json")) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	st = tq_json_load(path, HFX_CONFIG_MAX, out, err);
	free(path);
	return st;
}

/* Writes doc to dir/name atomically (mark: tq_json_begin's). */
static tq_status
hfx_save(const char *dir, const char *name, const cJSON *doc,
    unsigned long mark, tq_error *err)
{
	char *path = tq_path_join(dir, name);
	tq_status st;

	if (path == NULL || doc == NULL) {
		free(path);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	st = tq_json_save(doc, mark, path, err);
	free(path);
	return st;
}


/* A token's string for tokenizer_config.json, or NULL. */
static void
hfx_token(cJSON *o, const char *key, const tq_tokenizer *tok, int64_t id)
{
	const char *s = id >= 0 && id < INT32_MAX ?
	    tq_tokenizer_token(tok, (int32_t)id) : NULL;

	if (s != NULL)
		cJSON_AddStringToObject(o, key, s);
}

tq_status
tq_hfx__gguf_tokenizer(const tq_model *base, const char *dir, tq_error *err)
{
	const tq_model_config *c = &base->cfg;
	const tq_tokenizer *tok = tq_model_tokenizer(base);
	const char *p = tq_model_path(base), *tmpl;
	tq_gguf_file *f = NULL;
	char *json = NULL;
	cJSON *tj = NULL, *tc = NULL, *gc = NULL;
	unsigned long mark = tq_json_begin();
	uint64_t u;
	size_t len;
	tq_status st;

	if (tq_is_dir(p))
		return TQ_OK;
	if ((st = tq_gguf_open(p, &f, err)) != TQ_OK)
		return st;
	if ((st = tq_gguf_vocab_to_json(f, &json, err)) != TQ_OK)
		goto out;
	if (json == NULL) {
		st = tq_fail(err, TQ_EUNSUPPORTED, "%s: no tokenizer in the GGUF "
		    "metadata", p);
		goto out;
	}
	if ((st = hfx_save(dir, "tokenizer.json", tj = cJSON_Parse(json),
	    mark, err)) != TQ_OK)
		goto out;
	tc = cJSON_CreateObject();
	gc = cJSON_CreateObject();
	cJSON_AddStringToObject(tc, "tokenizer_class",
	    "PreTrainedTokenizerFast");
	cJSON_AddBoolToObject(tc, "add_bos_token", tq_tokenizer_bos(tok) >= 0);
	cJSON_AddBoolToObject(tc, "add_eos_token", 0);
	hfx_token(tc, "bos_token", tok, c->bos_token_id);
	hfx_token(tc, "eos_token", tok, c->eos_token_id);
	if (tq_gguf_get_uint(f, "tokenizer.ggml.unknown_token_id", &u))
		hfx_token(tc, "unk_token", tok, (int64_t)u);
	if (tq_gguf_get_uint(f, "tokenizer.ggml.padding_token_id", &u))
		hfx_token(tc, "pad_token", tok, (int64_t)u);
	cJSON_AddBoolToObject(tc, "clean_up_tokenization_spaces", 0);
	cJSON_AddNumberToObject(tc, "model_max_length",
	    (double)c->max_position_embeddings);
	if (tq_gguf_get_str(f, "tokenizer.chat_template", &tmpl, &len)) {
		char *t = malloc(len + 1);

		if (t != NULL) {
			memcpy(t, tmpl, len);
			t[len] = '\0';
			cJSON_AddStringToObject(tc, "chat_template", t);
			free(t);
		}
	}
	hfx_ids(gc, c);
	if ((st = hfx_save(dir, "tokenizer_config.json", tc, mark, err)) ==
	    TQ_OK)
		st = hfx_save(dir, "generation_config.json", gc, mark, err);
out:
	cJSON_Delete(tj);
	cJSON_Delete(tc);
	cJSON_Delete(gc);
	free(json);
	tq_gguf_close(f);
	return st;
}

tq_status
tq_hfx__config(tq_hfx *h, cJSON **out, tq_error *err)
{
	tq_status st = tq_hfx__base_config(h->x->base, out, err);

	if (st == TQ_OK && h->untie) {
		cJSON_DeleteItemFromObjectCaseSensitive(*out,
		    "tie_word_embeddings");
		cJSON_AddBoolToObject(*out, "tie_word_embeddings", 0);
	}
	return st;
}

tq_status
tq_hfx__write_model(tq_hfx *h, cJSON **cfg, tq_error *err)
{
	tq_status st;

	*cfg = NULL;
	if ((st = tq_hfx__add_floats(h, err)) != TQ_OK ||
	    (st = tq_hfx__write_weights(h, "model.safetensors", err)) != TQ_OK)
		return st;
	return tq_hfx__config(h, cfg, err);
}

tq_status
tq_hfx__finish(tq_hfx *h, cJSON *cfg, tq_error *err)
{
	tq_status st = tq_hfx__write_json(h, "config.json", cfg, err);

	return st == TQ_OK ? tq_hfx__copy_extras(h, err) : st;
}

tq_status
tq_hfx__write_json(tq_hfx *h, const char *name, cJSON *root, tq_error *err)
{
	char *path = tq_path_join(h->x->out, name);
	char *text = cJSON_Print(root);
	tq_atomic a;
	tq_status st;

	cJSON_Delete(root);
	if (path == NULL || text == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
	} else if ((st = tq_atomic_open(&a, path, err)) == TQ_OK) {
		fputs(text, a.f);
		fputc('\n', a.f);
		st = tq_atomic_commit(&a, err);
	}
	free(path);
	free(text);
	return st;
}

tq_status
tq_hfx__copy_extras(tq_hfx *h, tq_error *err)
{
	static const char *const names[] = { "tokenizer.json",
	    "tokenizer_config.json", "special_tokens_map.json",
	    "tokenizer.model", "generation_config.json" };
	const char *dir = tq_model_path(h->x->base);
	tq_status st = TQ_OK;
	size_t i;

	if (!tq_is_dir(dir))
		return tq_hfx__gguf_tokenizer(h->x->base, h->x->out, err);
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && st == TQ_OK;
	    i++) {
		char *src = tq_path_join(dir, names[i]);
		char *dst = tq_path_join(h->x->out, names[i]);
		char *buf = NULL;
		size_t len;
		tq_atomic a;
		tq_error e2;

		if (src == NULL || dst == NULL) {
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
		} else if (tq_read_file(src, HFX_EXTRA_MAX, &buf, &len,
		    &e2) == TQ_OK) {
			if ((st = tq_atomic_open(&a, dst, err)) == TQ_OK) {
				fwrite(buf, 1, len, a.f);
				st = tq_atomic_commit(&a, err);
			}
		}
		/* A file the checkpoint does not have is not copied. */
		free(buf);
		free(src);
		free(dst);
	}
	return st;
}

void
tq_hfx__pack(const uint8_t *v, size_t n, size_t stride, int bits,
    uint32_t *out)
{
	size_t i, nw = (n * (size_t)bits + 31) / 32;
	uint64_t bit = 0;

	memset(out, 0, nw * sizeof(*out));
	for (i = 0; i < n; i++, bit += (uint64_t)bits) {
		uint64_t val = v[i * stride] & ((1u << bits) - 1);
		size_t w = (size_t)(bit / 32);
		unsigned sh = (unsigned)(bit % 32);

		out[w] |= (uint32_t)(val << sh);
		if (sh + (unsigned)bits > 32)	/* straddles two words */
			out[w + 1] |= (uint32_t)(val >> (32 - sh));
	}
}

void
tq_hfx__scale(const tq_qtensor *qt, int64_t r, int64_t b, float *scale,
    int32_t *zero)
{
	tq_qscale sc;

	tq_qparams_get_scale(&qt->params[r * qt->nblocks + b], &sc);
	*scale = sc.scale;
	*zero = sc.zero;
}

void
tq_hfx__scales_t(const tq_qtensor *qt, uint16_t *sc, uint8_t *zero)
{
	int64_t N = qt->rows, G = qt->nblocks, n, g;

	for (n = 0; n < N; n++)
		for (g = 0; g < G; g++) {
			float s;
			int32_t z;

			tq_hfx__scale(qt, n, g, &s, &z);
			sc[g * N + n] = tq_f32_to_f16(s);
			zero[g * N + n] = (uint8_t)z;
		}
}

int
tq_hfx__plain_groups(const tq_qtensor *qt)
{
	int64_t c;

	if (qt->g_idx == NULL)
		return 1;
	for (c = 0; c < qt->cols; c++)
		if (qt->g_idx[c] != c / qt->qk)
			return 0;
	return 1;
}

tq_status
tq_hfx__nvfp4(tq_hfx *h, const tq_qtensor *qt, uint8_t **wp, uint8_t **sc,
    tq_error *err)
{
	int64_t N = qt->rows, K = qt->cols, nb = qt->nblocks, n, k;
	uint8_t *w, *s;

	w = tq_hfx__alloc(h, (size_t)(N * K / 2), err);	/* [N, K/2] */
	s = tq_hfx__alloc(h, (size_t)(N * K / 16), err);	/* [N, K/16] */
	if (w == NULL || s == NULL)
		return TQ_ENOMEM;
	for (n = 0; n < N; n++) {
		const uint8_t *c = qt->codes + n * K;

		for (k = 0; k < K / 2; k++)
			w[n * K / 2 + k] = (uint8_t)(tq_fp4_nibble(c[2 * k]) |
			    tq_fp4_nibble(c[2 * k + 1]) << 4);
		for (k = 0; k < K / 16; k++)
			s[n * K / 16 + k] = tq_fp4_scale_byte(
			    &qt->params[n * nb + k / 4], (int)(k & 3));
	}
	*wp = w;
	*sc = s;
	return TQ_OK;
}
