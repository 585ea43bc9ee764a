/*
 * windows.c: protocols, the window runner that runs several models in
 * lockstep, and the NLL accumulator.
 *
 * The runner first runs every model's decoder blocks over the window
 * (keeping each model's residual stream, [ctx, H]), then the heads chunk by
 * chunk, so the logits of all models for the same positions sit side by
 * side without any model's whole [ctx, V] logits in memory.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"
#include "model.h"

/* Floats of logits per model in one head chunk (16 MB). */
#define RUNNER_LOGITS_BUDGET (4 << 20)

const char *
tq_protocol_name(tq_ppl_protocol p)
{
	return p == TQ_PROTOCOL_LLAMACPP ? "llamacpp" : "gptq";
}

tq_status
tq_protocol_parse(const char *name, tq_ppl_protocol *out, tq_error *err)
{
	if (strcmp(name, "gptq") == 0)
		*out = TQ_PROTOCOL_GPTQ;
	else if (strcmp(name, "llamacpp") == 0)
		*out = TQ_PROTOCOL_LLAMACPP;
	else
		return tq_fail(err, TQ_EINVAL, "unknown perplexity protocol "
		    "\"%s\" (gptq or llamacpp)", name);
	return TQ_OK;
}

tq_status
tq_eval__check_opts(const tq_eval_opts *o, tq_error *err)
{
	return tq_version_check(o->version, TQ_EVAL_OPTS_VERSION,
	    "tq_eval_opts", "TQ_EVAL_OPTS_INIT", err);
}

int64_t
tq_eval_ctx(const tq_model *m, const tq_eval_opts *o)
{
	int64_t mx = m->cfg.max_position_embeddings;

	if (o->version != TQ_EVAL_OPTS_VERSION)
		return -1;
	if (o->ctx > 0)
		return o->ctx;
	if (o->protocol == TQ_PROTOCOL_LLAMACPP)
		return 512;	/* llama-perplexity's default -c */
	return mx < 2048 ? mx : 2048;
}

tq_status
tq_eval_tokenize(const tq_model *m, const tq_eval_opts *o, const char *text,
    size_t len, int32_t **ids, int64_t *n, tq_error *err)
{
	const tq_tokenizer *tok = tq_model_tokenizer(m);
	size_t nn = 0;
	tq_status st;

	*ids = NULL;
	*n = 0;
	if ((st = tq_eval__check_opts(o, err)) != TQ_OK)
		return st;
	if (tok == NULL)
		return tq_model__need_tokenizer(m, "to tokenize the text with",
		    err);
	/* llama.cpp tokenizes the whole text with add_special (its BOS). */
	st = tq_tokenizer_encode(tok, text, len,
	    o->protocol == TQ_PROTOCOL_LLAMACPP, ids, &nn, err);
	if (st != TQ_OK)
		return st;
	*n = (int64_t)nn;
	if (o->max_tokens > 0 && *n > o->max_tokens)
		*n = o->max_tokens;
	return TQ_OK;
}

tq_status
tq_eval__plan(const tq_model *m, tq_ppl_protocol proto, int64_t ctx,
    int64_t n_ids, tq_windows *out, tq_error *err)
{
	const tq_tokenizer *tok = tq_model_tokenizer(m);

	memset(out, 0, sizeof(*out));
	if (ctx < 2)
		return tq_fail(err, TQ_EINVAL,
		    "context length %lld is too short (at least 2)",
		    (long long)ctx);
	out->ctx = ctx;
	out->n_tokens = n_ids;
	out->n_windows = n_ids / ctx;
	if (proto == TQ_PROTOCOL_LLAMACPP) {
		/* llama-perplexity wants two windows' worth of tokens. */
		if (n_ids < 2 * ctx)
			return tq_fail(err, TQ_EINVAL, "the text has %lld tokens;"
			    " the llamacpp protocol needs at least %lld (2 x "
			    "ctx %lld)", (long long)n_ids, (long long)(2 * ctx),
			    (long long)ctx);
		out->first = ctx / 2;
		out->bos = tok != NULL ? tq_tokenizer_bos(tok) : -1;
	} else {
		if (out->n_windows == 0)
			return tq_fail(err, TQ_EINVAL, "the text has %lld tokens,"
			    " fewer than one window of %lld", (long long)n_ids,
			    (long long)ctx);
		out->first = 0;
		out->bos = -1;
	}
	/* The text's shortfall first: it is what --ctx usually gets wrong. */
	if (ctx > m->cfg.max_position_embeddings && m->cfg.rope_type !=
	    TQ_ROPE_DYNAMIC)
		return tq_fail(err, TQ_EINVAL, "%s: context %lld is beyond the "
		    "model's %lld positions", m->path, (long long)ctx,
		    (long long)m->cfg.max_position_embeddings);
	return TQ_OK;
}

/* ---- The runner -------------------------------------------------------- */

/* Model k's forward scratch and residual stream for nb windows. */
static tq_status
runner_alloc(tq_runner *r, int k, int64_t nb, tq_error *err)
{
	tq_status st;

	tq_fwd_free(r->f[k]);
	free(r->x[k]);
	r->f[k] = NULL;
	if ((r->x[k] = malloc((size_t)(nb * r->ctx * r->H[k]) *
	    sizeof(float))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if ((st = tq_fwd_new(r->m[k], nb * r->ctx, &r->f[k], err)) != TQ_OK)
		return st;
	if (r->proto == TQ_PROTOCOL_LLAMACPP)
		tq_fwd_llamacpp(r->f[k]);
	return TQ_OK;
}

tq_status
tq_eval__runner_init(tq_runner *r, const tq_model *const *models, int k,
    int64_t ctx, tq_ppl_protocol proto, tq_progress_cb progress, void *ud,
    tq_error *err)
{
	tq_status st;
	int i;

	memset(r, 0, sizeof(*r));
	if (k < 1 || k > TQ_EVAL_MAX_MODELS)
		return tq_fail(err, TQ_EINVAL, "%d models to compare (1 to %d)",
		    k, TQ_EVAL_MAX_MODELS);
	r->k = k;
	r->ctx = ctx;
	r->nb = 1;
	r->proto = proto;
	r->V = models[0]->cfg.vocab_size;
	r->progress = progress;
	r->ud = ud;
	r->pr.stage = "eval";
	r->chunk = RUNNER_LOGITS_BUDGET / r->V;
	r->chunk = r->chunk < 1 ? 1 : r->chunk > ctx ? ctx : r->chunk;
	for (i = 0; i < k; i++) {
		const tq_model *m = models[i];

		r->m[i] = m;
		if (m->cfg.vocab_size != r->V) {
			st = tq_fail(err, TQ_EINVAL, "%s has a vocabulary of %lld"
			    ", %s of %lld: they cannot be compared", m->path,
			    (long long)m->cfg.vocab_size, models[0]->path,
			    (long long)r->V);
			goto fail;
		}
		r->H[i] = m->cfg.hidden_size;
		if ((st = runner_alloc(r, i, 1, err)) != TQ_OK)
			goto fail;
		r->logits[i] = malloc((size_t)(r->chunk * r->V) *
		    sizeof(float));
		if (r->logits[i] == NULL) {
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
			goto fail;
		}
	}
	if ((r->win = malloc((size_t)ctx * sizeof(int32_t))) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
		goto fail;
	}
	return TQ_OK;
fail:
	tq_eval__runner_done(r);
	return st;
}

void
tq_eval__runner_done(tq_runner *r)
{
	int i;

	for (i = 0; i < TQ_EVAL_MAX_MODELS; i++) {
		tq_fwd_free(r->f[i]);
		free(r->x[i]);
		free(r->logits[i]);
	}
	free(r->win);
	memset(r, 0, sizeof(*r));
}

tq_status
tq_eval__runner_batch(tq_runner *r, int nb, tq_error *err)
{
	int64_t bytes = 0;
	int32_t *win;
	tq_status st;
	int k;

	for (k = 0; k < r->k; k++) {
		if (r->m[k]->cfg.n_experts > 0)
			nb = 1;	/* tq_fwd_seq: not for experts */
		bytes += r->ctx * tq_fwd_token_bytes(r->m[k]);
	}
	while (nb > 1 && nb * bytes > TQ_FWD_BATCH_BUDGET)
		nb--;
	if (nb <= r->nb)
		return TQ_OK;
	if ((win = realloc(r->win, (size_t)(nb * r->ctx) * sizeof(int32_t))) ==
	    NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	r->win = win;
	for (k = 0; k < r->k; k++)
		if ((st = runner_alloc(r, k, nb, err)) != TQ_OK)
			return st;
	r->nb = nb;
	return TQ_OK;
}

int64_t
tq_eval__steps(const tq_runner *r, int64_t n_windows)
{
	int64_t s = 0;
	int i;

	for (i = 0; i < r->k; i++)
		s += r->m[i]->cfg.n_layers + 1;
	return s * n_windows;
}

/* Progress by steps (a block or a head of each of the windows). */
static tq_status
runner_step(tq_runner *r, int64_t steps, tq_error *err)
{
	if (r->progress != NULL && r->progress(r->ud, &r->pr) != 0)
		return tq_fail(err, TQ_ECANCELLED, "evaluation cancelled");
	r->pr.done += steps;
	return TQ_OK;
}

tq_status
tq_eval__run_window(tq_runner *r, const int32_t *ids, int64_t n, int32_t bos,
    int64_t first, int64_t w, tq_rows_cb cb, void *cbud, tq_error *err)
{
	return tq_eval__run_windows(r, ids, 1, n, bos, first, w, cb, cbud,
	    err);
}

tq_status
tq_eval__run_windows(tq_runner *r, const int32_t *ids, int64_t nw,
    int64_t n, int32_t bos, int64_t first, int64_t w0, tq_rows_cb cb,
    void *cbud, tq_error *err)
{
	const float *rows[TQ_EVAL_MAX_MODELS];
	int64_t li, p0, i, b;
	tq_status st;
	int k;

	if (n < 2 || n > r->ctx)
		return tq_fail(err, TQ_EINVAL, "window of %lld tokens (2 to "
		    "%lld)", (long long)n, (long long)r->ctx);
	if (nw < 1 || nw > r->nb)
		return tq_fail(err, TQ_EINVAL, "%lld windows in one pass (1 to "
		    "%d)", (long long)nw, r->nb);
	memcpy(r->win, ids, (size_t)(nw * n) * sizeof(int32_t));
	for (b = 0; b < nw && bos >= 0; b++)
		r->win[b * n] = bos;
	for (k = 0; k < r->k; k++) {
		const tq_model *m = r->m[k];

		if ((st = tq_fwd_embed(r->f[k], r->win, nw * n, r->x[k], err)) !=
		    TQ_OK)
			return st;
		/* Each window by itself: its own positions and attention. */
		tq_fwd_seq(r->f[k], n);
		for (li = 0; li < m->cfg.n_layers; li++) {
			if ((st = runner_step(r, nw, err)) != TQ_OK ||
			    (st = tq_fwd_block(r->f[k], &m->layers[li],
			    (int)li, r->x[k], nw * n, NULL, err)) != TQ_OK)
				return st;
		}
	}
	/* Heads in lockstep over the scored positions first..n-2. */
	for (b = 0; b < nw; b++) {
		for (p0 = first; p0 < n - 1; p0 += r->chunk) {
			int64_t np = n - 1 - p0 < r->chunk ? n - 1 - p0 :
			    r->chunk;

			for (k = 0; k < r->k; k++) {
				if ((st = tq_fwd_head(r->f[k], r->x[k] +
				    (b * n + p0) * r->H[k], np, NULL,
				    r->logits[k], err)) != TQ_OK)
					return st;
			}
			for (i = 0; i < np; i++) {
				for (k = 0; k < r->k; k++)
					rows[k] = r->logits[k] + i * r->V;
				if ((st = cb(cbud, w0 + b, p0 + i, rows,
				    ids[b * n + p0 + i + 1], err)) != TQ_OK)
					return st;
			}
			if (r->flush != NULL && (st = r->flush(cbud, err)) !=
			    TQ_OK)
				return st;
		}
	}
	for (k = 0; k < r->k; k++)
		if ((st = runner_step(r, nw, err)) != TQ_OK)
			return st;
	return TQ_OK;
}

/* ---- Per-row statistics ------------------------------------------------ */

double
tq_eval__lse(const float *row, int64_t V, int64_t *imax)
{
	double mx = row[0], se = 0.0;
	int64_t j, im = 0;

	for (j = 1; j < V; j++)
		if (row[j] > mx) {
			mx = row[j];
			im = j;
		}
	for (j = 0; j < V; j++)
		se += exp((double)row[j] - mx);
	if (imax != NULL)
		*imax = im;
	return mx + log(se);
}

void
tq_eval__nll_add(tq_nll_acc *a, double nll)
{
	a->sum += nll;
	a->sum_sq += nll * nll;
	a->count++;
}

tq_status
tq_eval__nll_result(const tq_nll_acc *a, tq_ppl_result *out, tq_error *err)
{
	double mean = a->count > 0 ? a->sum / (double)a->count : 0.0;
	double var = a->count > 0 ? a->sum_sq / (double)a->count - mean * mean :
	    0.0;

	out->mean_nll = mean;
	out->ppl = exp(mean);
	out->nll_stderr = a->count > 1 && var > 0.0 ?
	    sqrt(var / (double)(a->count - 1)) : 0.0;
	out->ppl_stderr = out->ppl * out->nll_stderr;
	out->n_scored = a->count;
	if (!isfinite(out->ppl))
		return tq_fail(err, TQ_EFORMAT, "the perplexity is %g, not a "
		    "finite number: the model's logits overflow", out->ppl);
	return TQ_OK;
}
