/*
 * inspect.c: read-only views for the workbench's detail and teaching
 * screens: a quantizable layer's weight as fp32, round-to-nearest of a
 * weight with one block's parameters and grid laid open, and X^T X of a
 * few input columns of one layer (GPTQ's and AWQ's traces are in gptq.c
 * and awq.c, next to the algorithms), and the outlier channels of a
 * calibration site, the one definition every screen uses.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gptq.h"
#include "model.h"
#include "quant.h"

tq_status
tq_model_linear_weight(const tq_model *m, size_t i, float *out, tq_error *err)
{
	const tq_tensor *t;

	if (i >= m->n_linears)
		return tq_fail(err, TQ_EINVAL, "%s: no quantizable layer %zu",
		    m->path, i);
	t = tq_model__linear_weight(m, i);
	tq_tensor_to_f32(t, 0, tq_tensor_numel(t), out);	/* [rows, cols] */
	return TQ_OK;
}

tq_status
tq_quant_view(const tq_scheme *s, const float *w, int64_t rows, int64_t cols,
    int64_t row, int64_t block, float *deq, uint8_t *codes,
    tq_group_view *g, tq_error *err)
{
	tq_qtensor t;
	const tq_qparams *p;
	tq_qscale sc;
	tq_grid grid;
	tq_status st;
	int q;

	if ((st = tq_qtensor_init(&t, s, rows, cols, err)) != TQ_OK)
		return st;
	tq_quant_rtn(&t, w, NULL, 0);
	if (deq != NULL)
		tq_qtensor_dequant(&t, deq);	/* [rows, cols] */
	if (codes != NULL)
		memcpy(codes, t.codes, (size_t)(rows * cols));
	if (g != NULL) {
		memset(g, 0, sizeof(*g));
		g->qk = t.qk;
		if (row < 0 || row >= rows || block < 0 || block >= t.nblocks) {
			tq_qtensor_done(&t);
			return tq_fail(err, TQ_EINVAL, "block (%lld, %lld) is "
			    "outside a [%lld, %lld] weight", (long long)row,
			    (long long)block, (long long)rows, (long long)cols);
		}
		p = &t.params[row * t.nblocks + block];
		tq_quant_grid(s, p, 0, &grid);
		g->scale = grid.scale;
		if (s->type == TQ_QT_INT) {
			tq_qparams_get_scale(p, &sc);
			g->scale = sc.scale;
			g->zero = sc.zero;
		}
		for (q = grid.qmin; q <= grid.qmax &&
		    g->n_levels < TQ_VIEW_MAX_LEVELS; q++)
			g->levels[g->n_levels++] = tq_grid_value(&grid, q);
	}
	tq_qtensor_done(&t);
	return TQ_OK;
}

void
tq_weight_error(const float *w, const float *q, int64_t n, tq_weight_err *out)
{
	double sw = 0.0, se = 0.0, mx = 0.0;
	int64_t i;

	for (i = 0; i < n; i++) {
		double d = (double)w[i] - q[i];

		sw += (double)w[i] * w[i];
		se += d * d;
		if (fabs(d) > mx)
			mx = fabs(d);
	}
	out->sum_sq = sw;
	out->err_sq = se;
	out->max_abs = mx;
	out->rel = sw > 0.0 ? se / sw : 0.0;
	out->sqnr_db = se > 0.0 ? 10.0 * log10(sw / se) : INFINITY;
}

static int
cmp_float(const void *a, const void *b)
{
	return (*(const float *)a > *(const float *)b) -
	    (*(const float *)a < *(const float *)b);
}

/* Is channel j ranked before channel k: larger absmax, then lower index. */
static int
ranks_before(const float *absmax, int64_t j, int64_t k)
{
	return absmax[j] > absmax[k] || (absmax[j] == absmax[k] && j < k);
}

int64_t
tq_channel_outliers(const float *absmax, int64_t channels, double min_ratio,
    float *median, tq_outlier *top, size_t max)
{
	float *sorted, med;	/* [channels] */
	int64_t j, n_out = 0;
	size_t n = 0, m;

	*median = 0.0f;
	if (channels < 1)
		return 0;
	if ((sorted = malloc(sizeof(float) * (size_t)channels)) == NULL)
		return -1;
	memcpy(sorted, absmax, sizeof(float) * (size_t)channels);
	qsort(sorted, (size_t)channels, sizeof(float), cmp_float);
	med = sorted[channels / 2];
	free(sorted);
	*median = med;
	/* the max largest, by insertion: max is a screen's few rows */
	for (j = 0; j < channels; j++) {
		if (med > 0.0f && absmax[j] >= min_ratio * med)
			n_out++;
		for (m = n; m > 0 && ranks_before(absmax, j,
		    top[m - 1].channel); m--)
			if (m < max)
				top[m] = top[m - 1];
		if (m >= max)
			continue;
		top[m].channel = j;
		top[m].absmax = absmax[j];
		top[m].ratio = med > 0.0f ? absmax[j] / med : 0.0f;
		if (n < max)
			n++;
	}
	return n_out;
}

/* What tq_site_hessian's hook looks for, and what it found. */
typedef struct site_h {
	int layer;
	tq_linear site;
	int64_t col0, n_cols;
	float *H;		/* [n_cols, n_cols], upper triangle */
	int64_t n_tokens, width;
	int found;
	tq_status st;
} site_h;

static int
site_h_hook(void *ud, int layer, tq_linear which, const float *x,
    int64_t n, int64_t in)
{
	site_h *c = ud;
	float *xc;		/* [n, n_cols] the columns asked for */
	int64_t t;

	if (layer != c->layer || which != c->site)
		return 0;
	c->found = 1;
	c->width = in;
	if (c->col0 + c->n_cols > in) {
		c->st = TQ_EINVAL;
		return 1;
	}
	if (c->col0 == 0 && c->n_cols == in) {
		tq_hessian_add(c->H, x, n, in);
	} else if ((xc = malloc((size_t)(n * c->n_cols) *
	    sizeof(float))) != NULL) {
		for (t = 0; t < n; t++)
			memcpy(xc + t * c->n_cols, x + t * in + c->col0,
			    (size_t)c->n_cols * sizeof(float));
		tq_hessian_add(c->H, xc, n, c->n_cols);
		free(xc);
	} else {
		c->st = TQ_ENOMEM;
		return 1;
	}
	c->n_tokens += n;
	return 1;	/* nothing after this site is needed */
}

tq_status
tq_site_hessian(const tq_model *m, const int32_t *ids, int64_t n, int layer,
    tq_linear site, int64_t col0, int64_t n_cols, float *H,
    int64_t *n_tokens, tq_error *err)
{
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	site_h c = { .layer = layer, .site = site, .col0 = col0,
	    .n_cols = n_cols, .H = H };
	tq_error ferr;

	if (col0 < 0 || n_cols < 1)
		return tq_fail(err, TQ_EINVAL, "columns [%lld, %lld) of an "
		    "input", (long long)col0, (long long)(col0 + n_cols));
	memset(H, 0, (size_t)(n_cols * n_cols) * sizeof(float));
	o.act_hook = site_h_hook;
	o.act_ud = &c;
	/* The hook stops the pass: its TQ_ECANCELLED is the way out. */
	if (tq_forward(m, ids, n, &o, NULL, &ferr) != TQ_OK && !c.found)
		return tq_fail(err, ferr.status, "%s", ferr.msg);
	if (!c.found)
		return tq_fail(err, TQ_EINVAL, "the forward pass never reached "
		    "%s of block %d", tq_linear_name(site), layer);
	if (c.st == TQ_EINVAL)
		return tq_fail(err, TQ_EINVAL, "columns [%lld, %lld) are "
		    "outside the %lld inputs of %s", (long long)col0,
		    (long long)(col0 + n_cols), (long long)c.width,
		    tq_linear_name(site));
	if (c.st != TQ_OK)
		return tq_fail(err, c.st, "out of memory");
	tq_hessian_finish(H, n_cols);
	if (n_tokens != NULL)
		*n_tokens = c.n_tokens;
	return TQ_OK;
}
