/*
 * kld.c: KL divergence, top-token agreement and the change in probability
 * of the correct token, of models against a base on the same positions.
 *
 * The statistics are those of llama-perplexity --kl-divergence
 * (tools/perplexity/perplexity.cpp, kl_divergence()): the same sums, the
 * same standard errors (zero below 11 positions), the same covariance of
 * the two NLLs and the same interpolated percentiles.  The difference is
 * the base: in one run we have its exact logits and sum KL over the whole
 * vocabulary in double; from a saved file we have llama.cpp's 16-bit
 * log-probabilities and, as llama.cpp does, leave out the terms whose base
 * log-probability is at or below -16.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"
#include "model.h"

void
tq_eval__kld_init(tq_kld_acc *a)
{
	memset(a, 0, sizeof(*a));
}

void
tq_eval__kld_done(tq_kld_acc *a)
{
	free(a->kld);
	free(a->dp);
	memset(a, 0, sizeof(*a));
}

static tq_status
kld_grow(tq_kld_acc *a, tq_error *err)
{
	int64_t cap = a->cap ? 2 * a->cap : 4096;
	float *k, *d;

	if (a->count < a->cap)
		return TQ_OK;
	k = realloc(a->kld, (size_t)cap * sizeof(float));
	if (k == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	a->kld = k;
	d = realloc(a->dp, (size_t)cap * sizeof(float));
	if (d == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	a->dp = d;
	a->cap = cap;
	return TQ_OK;
}

/*
 * One position.  The base's log-probabilities are base[i] - shift (logits
 * and their log-sum-exp, or decoded log-probabilities and 0); terms at or
 * below floor are left out.
 */
static tq_status
kld_core(tq_kld_acc *a, const float *q, const float *base, double shift,
    int64_t V, int32_t target, double floor, tq_error *err)
{
	int64_t imax, imax_base = 0, i;
	double lse = tq_eval__lse(q, V, &imax), nll, nll_base, sum = 0.0;
	double lpb_max = 0.0, p, p_base, dp;
	tq_status st;

	if (target < 0 || target >= V)
		return tq_fail(err, TQ_EINVAL, "token %d outside the vocabulary "
		    "of %lld", (int)target, (long long)V);
	if ((st = kld_grow(a, err)) != TQ_OK)
		return st;
	nll = lse - (double)q[target];
	nll_base = shift - (double)base[target];
	for (i = 0; i < V; i++) {
		double lpb = (double)base[i] - shift;

		if (i == 0 || lpb > lpb_max) {
			lpb_max = lpb;
			imax_base = i;
		}
		if (lpb > floor)
			sum += exp(lpb) * (lpb - ((double)q[i] - lse));
	}
	tq_eval__nll_add(&a->nll, nll);
	tq_eval__nll_add(&a->nll_base, nll_base);
	a->sum_nll_nll_base += nll * nll_base;
	a->sum_kld += sum;
	a->sum_kld2 += sum * sum;
	a->n_same_top += imax == imax_base;
	p = exp(-nll);
	p_base = exp(-nll_base);
	dp = p - p_base;
	a->sum_dp += dp;
	a->sum_dp2 += dp * dp;
	a->sum_dp4 += dp * dp * dp * dp;
	a->kld[a->count] = (float)sum;
	a->dp[a->count] = (float)dp;
	a->count++;
	return TQ_OK;
}

tq_status
tq_eval__kld_add(tq_kld_acc *a, const float *q, const float *base, int64_t V,
    int32_t target, tq_error *err)
{
	return kld_core(a, q, base, tq_eval__lse(base, V, NULL), V, target,
	    -INFINITY, err);
}

tq_status
tq_eval__kld_add_lp(tq_kld_acc *a, const float *q, const float *lp_base,
    int64_t V, int32_t target, double floor, tq_error *err)
{
	return kld_core(a, q, lp_base, 0.0, V, target, floor, err);
}

static int
cmp_float(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;

	return a < b ? -1 : a > b;
}

/* llama.cpp's percentile: linear between the two nearest ranks. */
static double
percentile(const float *v, int64_t n, double f)
{
	double p = f * (double)(n - 1);
	int64_t i = (int64_t)p;

	if (n == 0)
		return 0.0;
	if (f <= 0.0)
		return v[0];
	if (f >= 1.0)
		return v[n - 1];
	p -= (double)i;
	return (1.0 - p) * v[i] + p * v[i + 1 < n ? i + 1 : n - 1];
}

static void
quantiles(float *v, int64_t n, tq_quantiles *q)
{
	/* The fields of tq_quantiles in order, and their fractions. */
	static const double f[] = { 0.0, 0.001, 0.01, 0.05, 0.10, 0.25, 0.5,
	    0.75, 0.90, 0.95, 0.99, 0.999, 1.0 };
	double *out[] = { &q->min, &q->p0_1, &q->p1, &q->p5, &q->p10, &q->p25,
	    &q->median, &q->p75, &q->p90, &q->p95, &q->p99, &q->p99_9, &q->max };
	size_t i;

	qsort(v, (size_t)n, sizeof(float), cmp_float);
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		*out[i] = percentile(v, n, f[i]);
}

/* llama.cpp's mean_and_uncertainty: no uncertainty below 11 values. */
static void
mean_unc(double sum, double sum2, int64_t n, double *mean, double *unc)
{
	double f = n > 0 ? sum / (double)n : 0.0;
	double df = n > 0 ? sum2 / (double)n - f * f : 0.0;

	*mean = f;
	*unc = df > 0.0 && n > 10 ? sqrt(df / (double)(n - 1)) : 0.0;
}

tq_status
tq_eval__kld_result(tq_kld_acc *a, const tq_windows *w, tq_kld_result *out,
    tq_error *err)
{
	int64_t n = a->count;
	double m, mb, se, seb, cov = 0.0, mse, mse_unc;
	tq_status st;

	memset(out, 0, sizeof(*out));
	out->n = n;
	if ((st = tq_eval__nll_result(&a->nll, &out->ppl, err)) != TQ_OK ||
	    (st = tq_eval__nll_result(&a->nll_base, &out->ppl_base, err)) !=
	    TQ_OK)
		return st;
	if (w != NULL) {
		out->ppl.n_tokens = out->ppl_base.n_tokens = w->n_tokens;
		out->ppl.n_windows = out->ppl_base.n_windows = w->n_windows;
		out->ppl.ctx = out->ppl_base.ctx = w->ctx;
	}
	if (n == 0)
		return TQ_OK;
	mean_unc(a->nll.sum, a->nll.sum_sq, n, &m, &se);
	mean_unc(a->nll_base.sum, a->nll_base.sum_sq, n, &mb, &seb);
	if (n >= 10)
		cov = (a->sum_nll_nll_base / (double)n - m * mb) /
		    (double)(n - 1);
	out->ppl_cor = se > 0.0 && seb > 0.0 ? cov / (se * seb) : 1.0;
	out->ln_ratio = m - mb;
	out->ln_ratio_stderr = sqrt(fmax(0.0, se * se + seb * seb - 2.0 * cov));
	out->ratio = exp(out->ln_ratio);
	out->ratio_stderr = out->ratio * out->ln_ratio_stderr;
	out->diff = exp(m) - exp(mb);
	out->diff_stderr = sqrt(fmax(0.0, exp(2 * m) * se * se +
	    exp(2 * mb) * seb * seb - 2.0 * exp(m) * exp(mb) * cov));
	mean_unc(a->sum_kld, a->sum_kld2, n, &out->kld, &out->kld_stderr);
	mean_unc(a->sum_dp, a->sum_dp2, n, &out->dp, &out->dp_stderr);
	mean_unc(a->sum_dp2, a->sum_dp4, n, &mse, &mse_unc);
	out->dp_rms = sqrt(mse);
	out->dp_rms_stderr = out->dp_rms > 0.0 ? 0.5 / out->dp_rms * mse_unc :
	    0.0;
	out->same_top = (double)a->n_same_top / (double)n;
	out->same_top_stderr = n > 1 ? sqrt(out->same_top *
	    (1.0 - out->same_top) / (double)(n - 1)) : 0.0;
	quantiles(a->kld, n, &out->kld_q);
	quantiles(a->dp, n, &out->dp_q);
	if (!isfinite(out->kld))
		return tq_fail(err, TQ_EFORMAT, "the KL divergence is %g, not a "
		    "finite number: the model's logits overflow", out->kld);
	return TQ_OK;
}

/* ---- Base and variants in one run -------------------------------------- */

typedef struct cmp_ctx {
	tq_kld_acc acc[TQ_EVAL_MAX_MODELS - 1];
	size_t k;
	int64_t V;
} cmp_ctx;

static tq_status
cmp_row(void *ud, int64_t w, int64_t p, const float *const *rows,
    int32_t target, tq_error *err)
{
	cmp_ctx *c = ud;
	double shift = tq_eval__lse(rows[0], c->V, NULL);
	tq_status st;
	size_t j;

	(void)w;
	(void)p;
	for (j = 0; j < c->k; j++)
		if ((st = kld_core(&c->acc[j], rows[j + 1], rows[0], shift,
		    c->V, target, -INFINITY, err)) != TQ_OK)
			return st;
	return TQ_OK;
}

tq_status
tq_eval_compare(const tq_model *base, const tq_model *const *models,
    size_t k, const int32_t *ids, int64_t n_ids, const tq_eval_opts *o,
    tq_progress_cb progress, void *ud, tq_kld_result *out, tq_error *err)
{
	const tq_model *all[TQ_EVAL_MAX_MODELS];
	cmp_ctx *c;
	tq_windows win;
	tq_runner r;
	int64_t w;
	tq_status st;
	size_t j;

	if (k < 1 || k > TQ_EVAL_MAX_MODELS - 1)
		return tq_fail(err, TQ_EINVAL, "%zu models to compare with the "
		    "base (1 to %d)", k, TQ_EVAL_MAX_MODELS - 1);
	if ((st = tq_eval__check_opts(o, err)) != TQ_OK)
		return st;
	if ((st = tq_eval__plan(base, o->protocol, tq_eval_ctx(base, o), n_ids,
	    &win, err)) != TQ_OK)
		return st;
	all[0] = base;
	for (j = 0; j < k; j++)
		all[j + 1] = models[j];
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if ((st = tq_eval__runner_init(&r, all, (int)k + 1, win.ctx,
	    o->protocol, progress, ud, err)) != TQ_OK) {
		free(c);
		return st;
	}
	c->k = k;
	c->V = r.V;
	r.pr.total = tq_eval__steps(&r, win.n_windows);
	for (w = 0; w < win.n_windows && st == TQ_OK; w++)
		st = tq_eval__run_window(&r, ids + w * win.ctx, win.ctx, win.bos,
		    win.first, w, cmp_row, c, err);
	if (st == TQ_OK && progress != NULL)
		progress(ud, &r.pr);
	tq_eval__runner_done(&r);
	for (j = 0; j < k; j++) {
		if (st == TQ_OK)
			st = tq_eval__kld_result(&c->acc[j], &win, &out[j], err);
		tq_eval__kld_done(&c->acc[j]);
	}
	free(c);
	return st;
}
