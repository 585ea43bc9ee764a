/*
 * engine/validate.c: the validation job (what `turboquant eval` and the workbench
 * run) and the per-layer report of a quantized state.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "eval/eval.h"
#include "job.h"
#include "model.h"
#include "qstate.h"

typedef struct val_job {
	const tq_model *base;
	const tq_model *models[TQ_EVAL_MAX_MODELS - 1];
	size_t n_models;
	char *text_path, *save_logits, *base_logits, *tasks_path;
	tq_eval_opts opts;
	int long_context;
	int64_t tasks_limit;
} val_job;

static void
val_job_free(void *p)
{
	val_job *v = p;

	free(v->text_path);
	free(v->save_logits);
	free(v->base_logits);
	free(v->tasks_path);
	free(v);
}

static void
validation_free(void *p)
{
	tq_validation *r = p;

	tq_longctx_free(r->longctx);
	free(r);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static tq_status
val_job_run(tq_job *j, void *p, tq_error *err)
{
	val_job *v = p;
	const tq_model *first = v->base != NULL ? v->base : v->models[0];
	tq_validation *r;
	int32_t *ids = NULL;
	int64_t n = 0;
	char *text = NULL;
	size_t len, i;
	double t0 = now();
	tq_status st = TQ_OK;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	tq_job__set_result(j, TQ_RESULT_VALIDATION, r, validation_free);
	r->opts = v->opts;
	if (v->text_path != NULL) {
		tq_eval_opts all = v->opts;

		tq_job__stage(j, "tokenize");
		all.max_tokens = 0;
		if ((st = tq_read_text(v->text_path, &text, &len, err)) != TQ_OK ||
		    (st = tq_eval_tokenize(first, &all, text, len, &ids, &n,
		    err)) != TQ_OK)
			goto out;
		r->n_tokens = n;
		if (v->opts.max_tokens > 0 && n > v->opts.max_tokens)
			n = v->opts.max_tokens;
		r->opts.ctx = tq_eval_ctx(first, &v->opts);
		t0 = now();	/* the speed is the evaluation's */
		tq_job__log(j, "%s: %lld tokens, %lld used", v->text_path,
		    (long long)r->n_tokens, (long long)n);
	}
	if (v->save_logits != NULL) {
		st = tq_eval_save_logits(first, ids, n, &r->opts, v->save_logits,
		    tq_job__progress_cb, j, &r->base, err);
		if (st != TQ_OK)
			goto out;
		tq_job__log(j, "saved %s", v->save_logits);
		if (v->base != NULL)
			r->has_base = 1;
		else
			r->models[0].ppl = r->base;
	}
	if (v->base_logits != NULL) {
		st = tq_eval_kld_file(v->models[0], v->base_logits,
		    tq_job__progress_cb, j, &r->opts, &r->models[0], err);
		if (st != TQ_OK)
			goto out;
		r->base = r->models[0].ppl_base;
		r->has_base = 1;
	} else if (v->text_path == NULL) {
		/* Tasks only. */
	} else if (v->base != NULL && v->n_models > 0) {
		st = tq_eval_compare(v->base, v->models, v->n_models, ids, n,
		    &r->opts, tq_job__progress_cb, j, r->models, err);
		if (st != TQ_OK)
			goto out;
		r->base = r->models[0].ppl_base;
		r->has_base = 1;
	} else if (v->base != NULL && v->save_logits == NULL) {
		st = tq_eval_ppl(v->base, ids, n, &r->opts, tq_job__progress_cb,
		    j, &r->base, err);
		if (st != TQ_OK)
			goto out;
		r->has_base = 1;
	} else if (v->base == NULL && (v->save_logits == NULL ||
	    v->n_models > 1)) {
		for (i = v->save_logits != NULL; i < v->n_models; i++) {
			st = tq_eval_ppl(v->models[i], ids, n, &r->opts,
			    tq_job__progress_cb, j, &r->models[i].ppl, err);
			if (st != TQ_OK)
				goto out;
		}
	}
	if (v->long_context && v->base != NULL && v->n_models > 0) {
		st = tq_eval_longctx(v->base, v->models[0], ids, n, &r->opts,
		    tq_job__progress_cb, j, &r->longctx, &r->n_longctx, err);
		if (st != TQ_OK)
			goto out;
	}
	if (v->tasks_path != NULL) {
		tq_task *t;
		size_t nt;

		tq_job__stage(j, "tasks");
		if ((st = tq_tasks__load(v->tasks_path, v->tasks_limit, &t, &nt,
		    err)) != TQ_OK)
			goto out;
		if (v->base != NULL)
			st = tq_eval__tasks_score(v->base, t, nt, v->tasks_path,
			    tq_job__progress_cb, j, tq_job__cancel_flag(j),
			    &r->base_tasks, err);
		for (i = 0; i < v->n_models && st == TQ_OK; i++)
			st = tq_eval__tasks_score(v->models[i], t, nt,
			    v->tasks_path, tq_job__progress_cb, j,
			    tq_job__cancel_flag(j), &r->tasks[i], err);
		tq_tasks__free(t, nt);
		if (st != TQ_OK)
			goto out;
		r->has_tasks = 1;
	}
	r->seconds = now() - t0;
out:
	free(ids);
	free(text);
	return st;
}

static tq_status
dup_opt(const char *s, char **out, tq_error *err)
{
	*out = NULL;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	return TQ_OK;
}

tq_status
tq_job_validate(const tq_validate_spec *spec, tq_job **out, tq_error *err)
{
	val_job *v;
	size_t i;

	*out = NULL;
	if (tq_version_check(spec->version, TQ_VALIDATE_SPEC_VERSION,
	    "tq_validate_spec", "TQ_VALIDATE_SPEC_INIT", err) != TQ_OK ||
	    tq_eval__check_opts(&spec->opts, err) != TQ_OK)
		return TQ_EINVAL;
	if (spec->n_models > TQ_EVAL_MAX_MODELS - 1)
		return tq_fail(err, TQ_EINVAL, "%zu models to evaluate (at most "
		    "%d)", spec->n_models, TQ_EVAL_MAX_MODELS - 1);
	if (spec->base == NULL && spec->n_models == 0)
		return tq_fail(err, TQ_EINVAL, "no model to evaluate");
	if (spec->base_logits != NULL && spec->n_models == 0)
		return tq_fail(err, TQ_EINVAL, "%s: no model to compare with the "
		    "saved base", spec->base_logits);
	if (spec->text_path == NULL && (spec->save_logits != NULL ||
	    spec->long_context || (spec->base_logits == NULL &&
	    spec->tasks_path == NULL)))
		return tq_fail(err, TQ_EINVAL, "no evaluation text");
	if (spec->long_context && (spec->base == NULL || spec->n_models == 0))
		return tq_fail(err, TQ_EINVAL, "the long-context table needs a "
		    "base and a model");
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	v->base = spec->base;
	for (i = 0; i < spec->n_models; i++)
		v->models[i] = spec->models[i];
	v->n_models = spec->n_models;
	v->opts = spec->opts;
	v->long_context = spec->long_context;
	v->tasks_limit = spec->tasks_limit;
	if (dup_opt(spec->text_path, &v->text_path, err) != TQ_OK ||
	    dup_opt(spec->save_logits, &v->save_logits, err) != TQ_OK ||
	    dup_opt(spec->base_logits, &v->base_logits, err) != TQ_OK ||
	    dup_opt(spec->tasks_path, &v->tasks_path, err) != TQ_OK) {
		val_job_free(v);
		return TQ_ENOMEM;
	}
	return tq_job__start(val_job_run, v, val_job_free, out, err);
}

const tq_validation *
tq_job_validation(const tq_job *j)
{
	return tq_job__result(j, TQ_RESULT_VALIDATION);
}

/* ---- Per-layer report -------------------------------------------------- */

/*
 * The error a layer is ranked by: its relative output error on the
 * calibration inputs, or, for layers quantized without calibration (RTN),
 * its relative weight error |W - W'|^2 / |W|^2 (from the SQNR).
 */
static double
rank_err(const tq_layer_result *r)
{
	if (isfinite(r->rel_err))
		return r->rel_err;
	return isfinite(r->sqnr_db) ? pow(10.0, -r->sqnr_db / 10.0) : 0.0;
}

static int
cmp_rank(const void *a, const void *b)
{
	const tq_layer_rank *x = a, *y = b;

	if (x->err != y->err)
		return x->err < y->err ? 1 : -1;
	return strcmp(x->r->name, y->r->name);
}

tq_status
tq_state_rank(const struct tq_qstate *s, tq_layer_rank **out, size_t *n,
    tq_error *err)
{
	tq_layer_rank *r;
	size_t i, k = 0;
	double median;

	*out = NULL;
	*n = 0;
	if ((r = calloc(s->n ? s->n : 1, sizeof(*r))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	for (i = 0; i < s->n; i++)
		if (s->layers[i].done && s->layers[i].cfg.method !=
		    TQ_METHOD_FLOAT) {
			r[k].r = &s->layers[i].res;
			r[k++].err = rank_err(&s->layers[i].res);
		}
	if (k == 0) {
		*out = r;
		return TQ_OK;
	}
	qsort(r, k, sizeof(*r), cmp_rank);
	median = k % 2 ? r[k / 2].err : 0.5 * (r[k / 2 - 1].err + r[k / 2].err);
	for (i = 0; i < k; i++)
		r[i].worst = i == 0 || r[i].err >= 4.0 * median;
	*out = r;
	*n = k;
	return TQ_OK;
}

void
tq_state_rank_free(tq_layer_rank *rank)
{
	free(rank);
}
