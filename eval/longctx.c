/*
 * longctx.c: perplexity and KLD of a model against its base as a function
 * of the window length: every power of two from 64 up to the model's
 * context, each on the same tokens, by the caller's protocol.  With the
 * llamacpp protocol each length scores only the second half of its
 * windows, so a row measures predictions made with at least ctx/2 tokens of
 * context: where quantization error grows with the context it shows here.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"
#include "model.h"

#define LONGCTX_MIN 64

/* Progress over all lengths: each run's steps shifted by those before. */
typedef struct lc_progress {
	tq_progress_cb cb;
	void *ud;
	int64_t before, total;
} lc_progress;

static int
lc_progress_cb(void *ud, const tq_progress *p)
{
	lc_progress *lp = ud;
	tq_progress q = { "longctx", lp->before + p->done, lp->total };

	return lp->cb != NULL ? lp->cb(lp->ud, &q) : 0;
}

void
tq_longctx_free(tq_longctx_row *rows)
{
	free(rows);
}

tq_status
tq_eval_longctx(const tq_model *base, const tq_model *m, const int32_t *ids,
    int64_t n_ids, const tq_eval_opts *o, tq_progress_cb progress, void *ud,
    tq_longctx_row **rows, size_t *n_rows, tq_error *err)
{
	int64_t limit = base->cfg.max_position_embeddings, L;
	int64_t per_window = 2 * base->cfg.n_layers + 2;
	lc_progress lp = { progress, ud, 0, 0 };
	tq_longctx_row *out;
	tq_eval_opts lo = *o;
	tq_windows win;
	size_t n = 0, cap = 0;
	tq_status st = TQ_OK;

	*rows = NULL;
	*n_rows = 0;
	if ((st = tq_eval__check_opts(o, err)) != TQ_OK)
		return st;
	for (L = LONGCTX_MIN; L <= limit; L *= 2) {
		if (tq_eval__plan(base, o->protocol, L, n_ids, &win, NULL) ==
		    TQ_OK)
			lp.total += per_window * win.n_windows;
		cap++;
	}
	if (lp.total == 0)
		return tq_fail(err, TQ_EINVAL, "the text has %lld tokens, too few"
		    " for windows of %d by the %s protocol", (long long)n_ids,
		    LONGCTX_MIN, tq_protocol_name(o->protocol));
	if ((out = calloc(cap, sizeof(*out))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	for (L = LONGCTX_MIN; L <= limit; L *= 2) {
		if (tq_eval__plan(base, o->protocol, L, n_ids, &win, NULL) !=
		    TQ_OK)
			continue;	/* the text cannot fill this length */
		lo.ctx = L;
		out[n].ctx = L;
		st = tq_eval_compare(base, &m, 1, ids, n_ids, &lo,
		    lc_progress_cb, &lp, &out[n].r, err);
		if (st != TQ_OK)
			break;
		lp.before += per_window * win.n_windows;
		n++;
	}
	if (st != TQ_OK) {
		free(out);
		return st;
	}
	*rows = out;
	*n_rows = n;
	return TQ_OK;
}
