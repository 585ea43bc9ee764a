/*
 * qstate.c: the quantized state (what the pipeline made of each layer) and
 * a model that computes with it.  The pipeline (quantize.c) fills it; the
 * engine saves and reads it (formats/state_file.c).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "error.h"
#include "fileio.h"
#include "plan.h"
#include "qstate.h"

/* ---- Owned fp32 tensors -------------------------------------------------- */

void
tq_owned__free(tq_owned *o)
{
	size_t i;

	for (i = 0; i < o->n; i++) {
		free(o->t[i]->name);
		free((void *)o->t[i]->data);
		free(o->t[i]);
	}
	free(o->t);
	memset(o, 0, sizeof(*o));
}

/* A tensor shaped like `like` holding data[numel] (taken over). */
tq_tensor *
tq_owned__add(tq_owned *o, const tq_tensor *like, float *data)
{
	tq_tensor *t;

	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 32;
		tq_tensor **g = realloc(o->t, cap * sizeof(*g));

		if (g == NULL)
			return NULL;
		o->t = g;
		o->cap = cap;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	*t = *like;
	if ((t->name = strdup(like->name)) == NULL) {
		free(t);
		return NULL;
	}
	t->dtype = TQ_DTYPE_F32;
	t->data = data;
	t->nbytes = (uint64_t)tq_tensor_numel(like) * sizeof(float);
	o->t[o->n++] = t;
	return t;
}

/* ---- The state ------------------------------------------------------------- */

uint64_t
tq_state__ids_hash(const tq_calib *calib)
{
	if (calib == NULL)
		return 0;
	return tq_fnv1a(TQ_FNV_INIT, calib->ids,
	    (size_t)(calib->n_samples * calib->seqlen) * sizeof(int32_t));
}

void
tq_state_free(tq_qstate *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		tq_qtensor_done(&s->layers[i].qt);
	for (i = 0; s->blocks != NULL && i <= (size_t)s->n_layers; i++) {
		free(s->blocks[i].attn_norm);
		free(s->blocks[i].ffn_norm);
		free(s->blocks[i].bv);
		free(s->blocks[i].b_up);
	}
	free(s->blocks);
	free(s->block_first);
	free(s->layers);
	free(s->model_path);
	free(s->plan_json);
	tq_plan_free(s->plan);
	free(s);
}

uint64_t
tq_state__calib_fp(const tq_qstate *s)
{
	uint64_t v[4] = { (uint64_t)s->n_samples, (uint64_t)s->seqlen, s->seed,
		s->ids_hash };

	return tq_fnv1a(TQ_FNV_INIT, v, sizeof(v));
}

tq_status
tq_state__new(const tq_model *m, const tq_plan *plan, const tq_calib *calib,
    tq_qstate **out, tq_error *err)
{
	tq_qstate *s;
	tq_status st;
	size_t i, k;
	int64_t li;

	*out = NULL;
	if ((st = tq_plan_check(plan, m, err)) != TQ_OK)
		return st;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	s->n = tq_model_n_linears(m);
	s->n_layers = m->cfg.n_layers;
	s->hidden = m->cfg.hidden_size;
	s->kv_dim = m->cfg.n_kv_heads * m->cfg.head_dim;
	s->inter = m->cfg.intermediate_size;
	s->layers = calloc(s->n, sizeof(*s->layers));
	s->blocks = calloc((size_t)s->n_layers + 1, sizeof(*s->blocks));
	s->block_first = calloc((size_t)s->n_layers + 1,
	    sizeof(*s->block_first));
	s->model_path = strdup(m->path);
	s->plan_json = tq_plan_to_json(plan);
	if (s->layers == NULL || s->blocks == NULL || s->model_path == NULL ||
	    s->plan_json == NULL || s->block_first == NULL) {
		tq_state_free(s);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	for (li = 0; li <= s->n_layers; li++)
		s->block_first[li] = tq_model__block_first(m, li);
	/* A private copy, so the state outlives the caller's plan. */
	if ((st = tq_plan__dup(plan, "plan", &s->plan, err)) != TQ_OK) {
		tq_state_free(s);
		return st;
	}
	if (calib != NULL) {
		s->n_samples = calib->n_samples;
		s->seqlen = calib->seqlen;
		s->seed = calib->seed;
		s->ids_hash = tq_state__ids_hash(calib);
	}
	s->model_fp = m->fingerprint;
	s->plan_fp = tq_fnv1a(TQ_FNV_INIT, s->plan_json, strlen(s->plan_json));
	s->calib_fp = tq_state__calib_fp(s);
	for (i = 0; i < s->n; i++) {
		tq_qlayer *q = &s->layers[i];
		const char *name = tq_model_linear_name(m, i);

		if ((st = tq_plan_resolve(plan, m, name, &q->cfg, err)) != TQ_OK) {
			tq_state_free(s);
			return st;
		}
		snprintf(q->res.name, sizeof(q->res.name), "%s", name);
		li = tq_model__linear_block(m, i, &k);
		q->res.layer = (int)li;
		q->res.which = li >= 0 ? tq_layer__kind(&m->layers[li], k,
		    NULL) : TQ_LINEAR_LM_HEAD;
		tq_model_linear_shape(m, i, &q->res.rows, &q->res.cols);
		snprintf(q->res.method, sizeof(q->res.method), "%s",
		    tq_method_name(q->cfg.method));
		if (q->cfg.method != TQ_METHOD_FLOAT)
			tq_scheme_name(&q->cfg.scheme, q->res.scheme,
			    sizeof(q->res.scheme));
		else
			snprintf(q->res.scheme, sizeof(q->res.scheme), "f32");
		q->res.rel_err = q->res.sqnr_db = q->res.max_abs_err = NAN;
		q->res.routed = -1;
		q->res.bpw = q->cfg.method != TQ_METHOD_FLOAT ?
		    tq_scheme_bpw(&q->cfg.scheme, q->res.rows, q->res.cols) : 16.0;
	}
	*out = s;
	return TQ_OK;
}

size_t
tq_state_n_results(const tq_qstate *s)
{
	return s->n;
}

const tq_layer_result *
tq_state_result(const tq_qstate *s, size_t i)
{
	return i < s->n ? &s->layers[i].res : NULL;
}

const tq_plan *
tq_state_plan(const tq_qstate *s)
{
	return s->plan;
}


/*
 * Puts a block's changed norms and biases (copies owned by o) and its
 * activation quantization into lw (the head's entry: the final norm into
 * *norm and act[0] into *head_act).
 */
tq_status
tq_qblock__apply(tq_owned *o, const tq_qblock *b, tq_layer_weights *lw,
    const tq_tensor **norm, tq_actq *head_act, tq_error *err)
{
	const tq_tensor **slot[4];
	const float *vals[4] = { b->attn_norm, b->ffn_norm, b->bv, b->b_up };
	int k;

	slot[0] = lw != NULL ? &lw->attn_norm : norm;
	slot[1] = lw != NULL ? &lw->ffn_norm : NULL;
	slot[2] = lw != NULL ? &lw->bv : NULL;
	slot[3] = lw != NULL ? &lw->b_up : NULL;
	for (k = 0; k < 4; k++) {
		int64_t n;
		float *d;
		const tq_tensor *t;

		if (vals[k] == NULL || slot[k] == NULL || *slot[k] == NULL)
			continue;
		n = tq_tensor_numel(*slot[k]);
		if ((d = malloc((size_t)n * sizeof(float))) == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		memcpy(d, vals[k], (size_t)n * sizeof(float));
		if ((t = tq_owned__add(o, *slot[k], d)) == NULL) {
			free(d);
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		}
		*slot[k] = t;
	}
	if (lw != NULL)
		memcpy(lw->act, b->act, sizeof(lw->act));
	else
		*head_act = b->act[0];
	return TQ_OK;
}

/* ---- A model computing with the state ------------------------------------------ */

static void
owned_free_void(void *p)
{
	tq_owned__free(p);
	free(p);
}

tq_status
tq_model_apply_state(const tq_model *base, const tq_qstate *s, tq_model **out,
    tq_error *err)
{
	tq_owned *owned = NULL;
	tq_model *m = NULL;
	tq_status st = TQ_OK;
	size_t i, k;
	int64_t li;

	*out = NULL;
	if (s->n != tq_model_n_linears(base) || s->n_layers != base->cfg.n_layers)
		return tq_fail(err, TQ_EINVAL,
		    "the quantized state was made for another model (%s)",
		    s->model_path);
	if (!s->complete)
		return tq_fail(err, TQ_EINVAL,
		    "the quantized state is incomplete (resume it first)");
	m = calloc(1, sizeof(*m));
	owned = calloc(1, sizeof(*owned));
	if (m == NULL || owned == NULL)
		goto nomem;
	m->cfg = base->cfg;
	m->embed = base->embed;
	m->norm = base->norm;
	m->lm_head = base->lm_head;
	m->file_bytes = base->file_bytes;
	m->tok_borrowed = 1;
	m->tok = base->tok;
	memcpy(m->tok_why, base->tok_why, sizeof(m->tok_why));
	m->source = owned;
	m->source_free = owned_free_void;
	if ((m->path = strdup(base->path)) == NULL ||
	    (m->layers = malloc((size_t)base->cfg.n_layers *
	    sizeof(*m->layers))) == NULL ||
	    (m->tensors = malloc((base->n_tensors ? base->n_tensors : 1) *
	    sizeof(*m->tensors))) == NULL)
		goto nomem;
	memcpy(m->layers, base->layers, (size_t)base->cfg.n_layers *
	    sizeof(*m->layers));
	memcpy(m->tensors, base->tensors, base->n_tensors * sizeof(*m->tensors));
	m->n_tensors = base->n_tensors;
	for (i = 0; i < s->n; i++) {
		const tq_qlayer *ql = &s->layers[i];
		const tq_tensor **slot, *t;
		float *w;

		if (ql->cfg.method == TQ_METHOD_FLOAT)
			continue;
		li = tq_model__linear_block(base, i, &k);
		slot = i + 2 == s->n ? &m->lm_head : i + 1 == s->n ? &m->embed :
		    tq_layer__slot(&m->layers[li], k);
		w = malloc((size_t)(ql->res.rows * ql->res.cols) * sizeof(float));
		if (w == NULL)
			goto nomem;
		tq_qtensor_dequant(&ql->qt, w);
		if ((t = tq_owned__add(owned, *slot, w)) == NULL) {
			free(w);
			goto nomem;
		}
		*slot = t;
	}
	for (i = 0; i <= (size_t)s->n_layers; i++)
		if ((st = tq_qblock__apply(owned, &s->blocks[i],
		    i < (size_t)s->n_layers ? &m->layers[i] : NULL, &m->norm,
		    &m->head_act, err)) != TQ_OK)
			goto fail;
	if ((st = tq_model__index_linears(m, err)) != TQ_OK)
		goto fail;
	*out = m;
	return TQ_OK;
nomem:
	st = tq_fail(err, TQ_ENOMEM, "out of memory");
fail:
	if (m != NULL && m->source == NULL)
		owned_free_void(owned);
	tq_model_close(m);
	return st;
}
