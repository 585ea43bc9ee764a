/*
 * awq.c: per-channel input scales for AWQ and SmoothQuant.
 *
 * AWQ follows AutoAWQ's search (s = mean|x|^alpha over a grid of alpha,
 * normalized by sqrt(max s * min s)), but measures each candidate by the
 * exact output error over every calibration token through H = X^T X
 * instead of re-running the layers on a subsample of the inputs.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "awq.h"
#include "blas_det.h"
#include "error.h"
#include "gptq.h"
#include "quant.h"

/* Multiply-adds of one error evaluation of a layer, at most (rows C^2). */
#define AWQ_ERR_BUDGET 4e9
/* Rows always measured, however wide the layer. */
#define AWQ_MIN_ROWS 128

/* Every step-th row is measured (1 for per-tensor grids: one scale). */
static int64_t
awq_row_step(const tq_scale_layer *l, int64_t C)
{
	double cap = AWQ_ERR_BUDGET / ((double)C * (double)C);
	int64_t rows_max = cap < AWQ_MIN_ROWS ? AWQ_MIN_ROWS : (int64_t)cap;

	/* per-tensor and tiled grids: scales span rows, measure them all */
	if (l->scheme->group == TQ_GROUP_TENSOR || tq_quant_tiled(l->scheme) ||
	    l->rows <= rows_max)
		return 1;
	return (l->rows + rows_max - 1) / rows_max;
}

/*
 * tr(E H E^T) for the measured rows of l, E = W - Q(W diag(s))
 * diag(s)^-1; with norm, tr(W H W^T) over the same rows too.
 */
static tq_status
awq_layer_err(const tq_scale_layer *l, const float *H, const float *s,
    int64_t C, double *out, double *norm, tq_error *err)
{
	int64_t step = awq_row_step(l, C), r = (l->rows + step - 1) / step;
	int64_t i, j;
	float *ws = malloc((size_t)(r * C) * sizeof(float));	/* [r, C] */
	float *dq = malloc((size_t)(r * C) * sizeof(float));	/* [r, C] */
	float *eh = malloc((size_t)(r * C) * sizeof(float));	/* [r, C] */
	tq_qtensor qt;
	tq_status st = TQ_OK;
	double sum = 0.0;

	memset(&qt, 0, sizeof(qt));
	if (ws == NULL || dq == NULL || eh == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory for the AWQ search");
		goto out;
	}
	if (norm != NULL) {
		for (i = 0; i < r; i++)
			memcpy(ws + i * C, l->w + i * step * C,
			    (size_t)C * sizeof(float));
		*norm = tq_hquad(ws, H, r, C, eh) * (double)l->rows /
		    (double)r;
	}
	for (i = 0; i < r; i++)
		for (j = 0; j < C; j++)
			ws[i * C + j] = l->w[i * step * C + j] * s[j];
	if ((st = tq_qtensor_init(&qt, l->scheme, r, C, err)) != TQ_OK)
		goto out;
	tq_quant_rtn(&qt, ws, NULL, 0);
	tq_qtensor_dequant(&qt, dq);
	for (i = 0; i < r; i++)
		for (j = 0; j < C; j++)
			dq[i * C + j] = l->w[i * step * C + j] -
			    dq[i * C + j] / s[j];
	sum = tq_hquad(dq, H, r, C, eh);
	/* Measured on a subset: scale up to the whole layer. */
	*out = sum * (double)l->rows / (double)r;
out:
	tq_qtensor_done(&qt);
	free(ws);
	free(dq);
	free(eh);
	return st;
}

/*
 * s[C] = mean_abs^a normalized by sqrt(max s * min s); *lo and *hi (may
 * be NULL) get the range of s before the normalization, over the norm.
 */
static void
awq_scales(const float *mean_abs, int64_t C, double a, float *s,
    double *lo_out, double *hi_out)
{
	double lo = INFINITY, hi = 0.0, norm;
	int64_t j;

	for (j = 0; j < C; j++) {
		double x = mean_abs[j] > 1e-4f ? mean_abs[j] : 1e-4;

		s[j] = (float)pow(x, a);
		lo = s[j] < lo ? s[j] : lo;
		hi = s[j] > hi ? s[j] : hi;
	}
	norm = sqrt(lo * hi);
	for (j = 0; j < C; j++)
		s[j] = isfinite(s[j] / norm) && s[j] > 0.0f ?
		    (float)(s[j] / norm) : 1.0f;
	if (lo_out != NULL)
		*lo_out = lo / norm;
	if (hi_out != NULL)
		*hi_out = hi / norm;
}

static tq_status
awq_group_err(const tq_scale_layer *l, int n_layers, const float *H,
    const float *s, int64_t C, double *out, tq_error *err)
{
	double e = 0.0;
	int k;
	tq_status st;

	*out = 0.0;
	for (k = 0; k < n_layers; k++) {
		if ((st = awq_layer_err(&l[k], H, s, C, &e, NULL, err)) !=
		    TQ_OK)
			return st;
		*out += e;
	}
	return TQ_OK;
}

tq_status
tq_awq_search(const tq_scale_layer *l, int n_layers, const float *H,
    const float *mean_abs, int64_t C, int n_grid, const int *cancel,
    float *s, double *alpha, double *err_best, double *err_rtn,
    tq_error *err)
{
	float *cand = malloc((size_t)C * sizeof(float));	/* [C] */
	double best = INFINITY, e = 0.0;
	int g;
	tq_status st = TQ_OK;

	if (cand == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory for the AWQ search");
	*alpha = 0.0;
	for (g = 0; g < n_grid; g++) {
		double a = (double)g / n_grid;

		if (cancel != NULL && *cancel) {
			st = tq_fail(err, TQ_ECANCELLED, "cancelled");
			break;
		}
		awq_scales(mean_abs, C, a, cand, NULL, NULL);
		if ((st = awq_group_err(l, n_layers, H, cand, C, &e, err)) !=
		    TQ_OK)
			break;
		if (g == 0)
			*err_rtn = e;
		/* Strictly better only: ties keep the smaller alpha. */
		if (e < best) {
			best = e;
			*alpha = a;
			memcpy(s, cand, (size_t)C * sizeof(float));
		}
	}
	*err_best = best;
	free(cand);
	return st;
}

void
tq_awq_trace_free(tq_awq_trace *t)
{
	free(t);	/* one block, the arrays after the struct */
}

tq_status
tq_awq_trace_layer(const tq_scheme *s, const float *w, int64_t rows,
    int64_t C, const float *H, const float *mean_abs, const double *alphas,
    int n_alphas, tq_awq_trace **out, tq_error *err)
{
	tq_scale_layer l = { w, rows, s };
	tq_awq_trace *t;
	tq_status st;
	double e = 0.0, norm = 0.0;
	size_t n;
	int g;

	*out = NULL;
	if (n_alphas < 1 || rows < 1 || C < 1)
		return tq_fail(err, TQ_EINVAL, "an AWQ trace needs a weight "
		    "and an alpha");
	if ((st = tq_scheme_check(s, rows, C, err)) != TQ_OK)
		return st;
	/* The struct, then 4 doubles and C floats an alpha, in one block. */
	n = (size_t)n_alphas;
	if ((t = calloc(1, sizeof(*t) + n * (4 * sizeof(double) +
	    (size_t)C * sizeof(float)))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory for an AWQ "
		    "trace");
	t->C = C;
	t->n_alphas = n_alphas;
	t->alpha = (double *)(t + 1);
	t->smin = t->alpha + n;
	t->smax = t->smin + n;
	t->rel_err = t->smax + n;
	t->s = (float *)(t->rel_err + n);
	/* The search's scales and its measure, one alpha at a time. */
	for (g = 0; g < n_alphas; g++) {
		float *sg = t->s + (int64_t)g * C;	/* [C] */

		t->alpha[g] = alphas[g];
		awq_scales(mean_abs, C, alphas[g], sg, &t->smin[g],
		    &t->smax[g]);
		if ((st = awq_layer_err(&l, H, sg, C, &e, g == 0 ? &norm :
		    NULL, err)) != TQ_OK)
			goto out;
		t->rel_err[g] = norm > 0.0 ? e / norm : 0.0;
	}
out:
	if (st != TQ_OK) {
		tq_awq_trace_free(t);
		return st;
	}
	*out = t;
	return TQ_OK;
}

void
tq_smooth_scales(const tq_scale_layer *l, int n_layers,
    const float *x_absmax, int64_t C, double alpha, float *s)
{
	int64_t i, j;
	int k;

	for (j = 0; j < C; j++)
		s[j] = 0.0f;
	for (k = 0; k < n_layers; k++)
		for (i = 0; i < l[k].rows; i++)
			for (j = 0; j < C; j++) {
				float a = fabsf(l[k].w[i * C + j]);

				s[j] = a > s[j] ? a : s[j];
			}
	for (j = 0; j < C; j++) {
		double wm = s[j] > 1e-5f ? s[j] : 1e-5;
		double xm = x_absmax[j] > 1e-5f ? x_absmax[j] : 1e-5;
		double v = pow(xm, alpha) / pow(wm, 1.0 - alpha);

		s[j] = isfinite(v) && v > 0.0 && x_absmax[j] > 0.0f ?
		    (float)v : 1.0f;
	}
}

void
tq_awq_tie_heads(float *v, int64_t n_heads, int64_t n_kv_heads, int64_t hd)
{
	int64_t rep = n_heads / n_kv_heads, kv, h, d;

	if (rep <= 1)
		return;
	for (kv = 0; kv < n_kv_heads; kv++)
		for (d = 0; d < hd; d++) {
			double sum = 0.0;

			for (h = kv * rep; h < (kv + 1) * rep; h++)
				sum += v[h * hd + d];
			for (h = kv * rep; h < (kv + 1) * rep; h++)
				v[h * hd + d] = (float)(sum / (double)rep);
		}
}
