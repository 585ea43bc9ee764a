/*
 * perplexity.c: perplexity by the GPTQ-paper protocol.
 *
 * The caller tokenizes the whole text once (no special tokens); it is cut
 * into non-overlapping windows of ctx tokens, the tail that does not fill a
 * window is dropped, and within each window every position but the first is
 * predicted.  ppl = exp(mean NLL over all predicted positions).  Logits are
 * consumed chunk by chunk as the forward pass produces them, so memory does
 * not grow with the vocabulary times the window.
 */
#include "config.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "forward.h"
#include "job.h"
#include "model.h"

/* Accumulates the NLL of one window, as logits arrive. */
typedef struct ppl_acc {
	const int32_t *ids;	/* [ctx] the window's tokens */
	int64_t ctx;
	int64_t V;
	double sum;		/* sum of NLL */
	double sum_sq;		/* sum of NLL^2, for the standard error */
	int64_t count;
} ppl_acc;

static int
ppl_logits(void *ud, int64_t pos0, int64_t n, const float *logits)
{
	ppl_acc *a = ud;
	int64_t i, j;

	for (i = 0; i < n; i++) {
		int64_t p = pos0 + i;
		const float *row = logits + i * a->V;
		double mx, se = 0.0, nll;

		/* Position p predicts token p + 1; the last one predicts none. */
		if (p + 1 >= a->ctx)
			break;
		mx = row[0];
		for (j = 1; j < a->V; j++)
			if (row[j] > mx)
				mx = row[j];
		for (j = 0; j < a->V; j++)
			se += exp((double)row[j] - mx);
		nll = mx + log(se) - (double)row[a->ids[p + 1]];
		a->sum += nll;
		a->sum_sq += nll * nll;
		a->count++;
	}
	return 0;
}

tq_status
tq_eval_perplexity(const tq_model *m, const int32_t *ids, int64_t n_ids,
    int64_t ctx, tq_progress_cb progress, void *ud, tq_ppl_result *out,
    tq_error *err)
{
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	ppl_acc acc = { 0 };
	tq_fwd *f = NULL;
	float *x = NULL;
	int64_t li;
	int64_t n_windows, w;
	tq_progress pr = { "eval", 0, 0 };
	int64_t L = m->cfg.n_layers;
	double mean, var;
	tq_status st;

	if (ctx < 2)
		return tq_fail(err, TQ_EINVAL,
		    "context length %lld is too short (at least 2)",
		    (long long)ctx);
	n_windows = n_ids / ctx;
	if (n_windows == 0)
		return tq_fail(err, TQ_EINVAL,
		    "the text has %lld tokens, fewer than one window of %lld",
		    (long long)n_ids, (long long)ctx);
	acc.ctx = ctx;
	acc.V = m->cfg.vocab_size;
	o.logits_cb = ppl_logits;
	o.logits_ud = &acc;
	/* Progress counts blocks, so long windows still report (and cancel). */
	pr.total = n_windows * (L + 1);
	/* One scratch and one residual stream serve every window. */
	if ((st = tq_fwd_new(m, ctx, &f, err)) != TQ_OK)
		return st;
	x = malloc((size_t)(ctx * m->cfg.hidden_size) * sizeof(float));
	if (x == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
		goto out;
	}
	for (w = 0; w < n_windows; w++) {
		acc.ids = ids + w * ctx;
		st = tq_fwd_embed(f, acc.ids, ctx, x, err);
		for (li = 0; li <= L && st == TQ_OK; li++) {
			if (progress != NULL && progress(ud, &pr) != 0) {
				st = tq_fail(err, TQ_ECANCELLED,
				    "evaluation cancelled");
				goto out;
			}
			if (li < L)
				st = tq_fwd_block(f, &m->layers[li], (int)li, x,
				    ctx, NULL, err);
			else
				st = tq_fwd_head(f, x, ctx, &o, NULL, err);
			pr.done++;
		}
		if (st != TQ_OK)
			goto out;
	}
	if (progress != NULL)
		progress(ud, &pr);

	mean = acc.sum / (double)acc.count;
	var = acc.sum_sq / (double)acc.count - mean * mean;
	out->mean_nll = mean;
	out->ppl = exp(mean);
	out->nll_stderr = acc.count > 1 && var > 0.0 ?
	    sqrt(var / (double)(acc.count - 1)) : 0.0;
	out->ppl_stderr = out->ppl * out->nll_stderr;
	out->n_tokens = n_ids;
	out->n_windows = n_windows;
	out->n_scored = acc.count;
	out->ctx = ctx;
out:
	free(x);
	tq_fwd_free(f);
	return st;
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
