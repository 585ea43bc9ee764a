/*
 * perplexity.c: perplexity by the GPTQ-paper and llama.cpp protocols.
 *
 * gptq: the whole text tokenized once (no special tokens), cut into
 * non-overlapping windows of ctx tokens, the tail dropped, every position
 * but the first of a window predicted.  llamacpp (llama-perplexity's
 * perplexity()): the text tokenized with its BOS, windows of ctx (512), the
 * first token of each window replaced by BOS, only positions ctx/2..ctx-2
 * scored.  Both: ppl = exp(mean NLL), the standard error of the mean NLL
 * from its sample variance.  The window plan is in windows.c.
 */
#include "config.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"
#include "forward.h"
#include "job.h"
#include "model.h"

typedef struct ppl_acc {
	tq_nll_acc nll;
	int64_t V;
} ppl_acc;

static tq_status
ppl_row(void *ud, int64_t w, int64_t p, const float *const *rows,
    int32_t target, tq_error *err)
{
	ppl_acc *a = ud;

	(void)w;
	(void)p;
	(void)err;
	tq_eval__nll_add(&a->nll, tq_eval__lse(rows[0], a->V, NULL) -
	    (double)rows[0][target]);
	return TQ_OK;
}

tq_status
tq_eval_ppl(const tq_model *m, const int32_t *ids, int64_t n_ids,
    const tq_eval_opts *o, tq_progress_cb progress, void *ud,
    tq_ppl_result *out, tq_error *err)
{
	ppl_acc acc = { { 0, 0, 0 }, 0 };
	tq_windows win;
	tq_runner r;
	int64_t w;
	tq_status st;

	if ((st = tq_eval__plan(m, o->protocol, tq_eval_ctx(m, o), n_ids, &win,
	    err)) != TQ_OK ||
	    (st = tq_eval__runner_init(&r, &m, 1, win.ctx, progress, ud,
	    err)) != TQ_OK)
		return st;
	acc.V = r.V;
	r.pr.total = tq_eval__steps(&r, win.n_windows);
	for (w = 0; w < win.n_windows && st == TQ_OK; w++)
		st = tq_eval__run_window(&r, ids + w * win.ctx, win.ctx, win.bos,
		    win.first, w, ppl_row, &acc, err);
	if (st == TQ_OK && progress != NULL)
		progress(ud, &r.pr);
	tq_eval__runner_done(&r);
	if (st != TQ_OK)
		return st;
	memset(out, 0, sizeof(*out));
	if ((st = tq_eval__nll_result(&acc.nll, out, err)) != TQ_OK)
		return st;
	out->n_tokens = n_ids;
	out->n_windows = win.n_windows;
	out->ctx = win.ctx;
	return TQ_OK;
}

tq_status
tq_eval_perplexity(const tq_model *m, const int32_t *ids, int64_t n_ids,
    int64_t ctx, tq_progress_cb progress, void *ud, tq_ppl_result *out,
    tq_error *err)
{
	tq_eval_opts o = TQ_EVAL_OPTS_INIT;

	if (ctx < 2)
		return tq_fail(err, TQ_EINVAL,
		    "context length %lld is too short (at least 2)",
		    (long long)ctx);
	o.ctx = ctx;
	return tq_eval_ppl(m, ids, n_ids, &o, progress, ud, out, err);
}

/* ---- As a job ---------------------------------------------------------- */

typedef struct eval_job {
	const tq_model *m;
	char *text_path;
	int64_t ctx;
} eval_job;

static void
eval_job_free(void *p)
{
	eval_job *e = p;

	free(e->text_path);
	free(e);
}

static tq_status
eval_job_run(tq_job *j, void *p, tq_error *err)
{
	eval_job *e = p;
	const tq_tokenizer *tok = tq_model_tokenizer(e->m);
	tq_ppl_result *r;
	int32_t *ids = NULL;
	char *text = NULL;
	size_t len, n = 0;
	tq_status st;

	if (tok == NULL)
		return tq_fail(err, TQ_EINVAL, "%s: no tokenizer.json",
		    e->m->path);
	tq_job__stage(j, "tokenize");
	if ((st = tq_read_text(e->text_path, &text, &len, err)) != TQ_OK ||
	    (st = tq_tokenizer_encode(tok, text, len, 0, &ids, &n, err)) !=
	    TQ_OK)
		goto out;
	tq_job__log(j, "%s: %zu tokens", e->text_path, n);
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
		goto out;
	}
	tq_job__set_result(j, TQ_RESULT_PPL, r, free);
	st = tq_eval_perplexity(e->m, ids, (int64_t)n, e->ctx,
	    tq_job__progress_cb, j, r, err);
	if (st == TQ_OK)
		tq_job__log(j, "perplexity %.4f +/- %.4f over %lld tokens",
		    r->ppl, r->ppl_stderr, (long long)r->n_scored);
out:
	free(ids);
	free(text);
	return st;
}

tq_status
tq_job_eval(const tq_model *m, const char *text_path, int64_t ctx,
    tq_job **out, tq_error *err)
{
	eval_job *e = calloc(1, sizeof(*e));

	*out = NULL;
	if (e == NULL || (e->text_path = strdup(text_path)) == NULL) {
		free(e);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	e->m = m;
	e->ctx = ctx > 0 ? ctx : (m->cfg.max_position_embeddings < 2048 ?
	    m->cfg.max_position_embeddings : 2048);
	return tq_job__start(eval_job_run, e, eval_job_free, out, err);
}

const tq_ppl_result *
tq_job_ppl(const tq_job *j)
{
	return tq_job__result(j, TQ_RESULT_PPL);
}
