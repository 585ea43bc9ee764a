/*
 * engine/evaluate.c: the perplexity job (eval/perplexity.c on a text file).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "error.h"
#include "job.h"
#include "model.h"
#include "eval/eval.h"

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
		return tq_model__need_tokenizer(e->m, NULL, err);
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
tq_engine__job_eval(const tq_model *m, const char *text_path, int64_t ctx,
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
tq_engine__job_ppl(const tq_job *j)
{
	return tq_job__result(j, TQ_RESULT_PPL);
}
