/*
 * perplexity.c: perplexity by the GPTQ-paper and llama.cpp protocols.
 *
 * gptq: the whole text tokenized once (no special tokens), cut into
 * non-overlapping windows of ctx tokens, the tail dropped, every position
 * but the first of a window predicted.  llamacpp (llama-perplexity's
 * perplexity()): the text tokenized with its BOS, windows of ctx (512), the
 * first token of each window replaced by BOS (both only when the tokenizer
 * adds a BOS, as add_bos_token says), only positions ctx/2..ctx-2
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
#include "model.h"
#include "par.h"

/* Windows per forward pass: llama-perplexity's 2048-token batch of 512. */
#define PPL_BATCH 4

/*
 * The NLL of a chunk's rows, kept by ppl_row and scored together by
 * ppl_flush: each row's NLL on any thread, added in order.
 */
typedef struct ppl_acc {
	tq_nll_acc nll;
	int64_t V, n;
	const float **row;	/* [chunk] the chunk's logits rows */
	int32_t *target;	/* [chunk] */
	double *row_nll;	/* [chunk] */
} ppl_acc;

static tq_status
ppl_row(void *ud, int64_t w, int64_t p, const float *const *rows,
    int32_t target, tq_error *err)
{
	ppl_acc *a = ud;

	(void)w;
	(void)p;
	(void)err;
	a->row[a->n] = rows[0];
	a->target[a->n++] = target;
	return TQ_OK;
}

static void
ppl_row_nll(void *arg, int64_t i)
{
	ppl_acc *a = arg;

	a->row_nll[i] = tq_eval__lse(a->row[i], a->V, NULL) -
	    (double)a->row[i][a->target[i]];
}

static tq_status
ppl_flush(void *ud, tq_error *err)
{
	ppl_acc *a = ud;
	int64_t i;

	(void)err;
	tq_par_tasks(ppl_row_nll, a, a->n);
	for (i = 0; i < a->n; i++)
		tq_eval__nll_add(&a->nll, a->row_nll[i]);
	a->n = 0;
	return TQ_OK;
}

tq_status
tq_eval_ppl(const tq_model *m, const int32_t *ids, int64_t n_ids,
    const tq_eval_opts *o, tq_progress_cb progress, void *ud,
    tq_ppl_result *out, tq_error *err)
{
	ppl_acc acc = { { 0, 0, 0 }, 0, 0, NULL, NULL, NULL };
	tq_windows win;
	tq_runner r;
	int64_t w, nw;
	tq_status st;

	if ((st = tq_eval__check_opts(o, err)) != TQ_OK ||
	    (st = tq_eval__plan(m, o->protocol, tq_eval_ctx(m, o), n_ids, &win,
	    err)) != TQ_OK ||
	    (st = tq_eval__runner_init(&r, &m, 1, win.ctx, o->protocol,
	    progress, ud, err)) != TQ_OK)
		return st;
	acc.V = r.V;
	acc.row = malloc((size_t)r.chunk * sizeof(*acc.row));
	acc.target = malloc((size_t)r.chunk * sizeof(*acc.target));
	acc.row_nll = malloc((size_t)r.chunk * sizeof(*acc.row_nll));
	if (acc.row == NULL || acc.target == NULL || acc.row_nll == NULL)
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
	r.flush = ppl_flush;
	r.pr.total = tq_eval__steps(&r, win.n_windows);
	/* Several windows per pass, as llama-perplexity (same bytes). */
	if (st == TQ_OK)
		st = tq_eval__runner_batch(&r, PPL_BATCH, err);
	for (w = 0; w < win.n_windows && st == TQ_OK; w += nw) {
		nw = win.n_windows - w < r.nb ? win.n_windows - w : r.nb;
		st = tq_eval__run_windows(&r, ids + w * win.ctx, nw, win.ctx,
		    win.bos, win.first, w, ppl_row, &acc, err);
	}
	if (st == TQ_OK && progress != NULL)
		progress(ud, &r.pr);
	tq_eval__runner_done(&r);
	free(acc.row);
	free(acc.target);
	free(acc.row_nll);
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
