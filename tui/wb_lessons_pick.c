/*
 * wb_lessons_pick.c: which layer shows each lesson's effect: the suggestions of the
 * lesson index and of g (the overview is in wb_teach.c).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "wb.h"
#include "wb_teach.h"

/* ---- Which layer shows each lesson's effect ---------------------------- */

/* Read once from every layer's weights (the first time it is asked). */
static struct {
	int scanned;
	size_t spread_row;	/* largest max |w| / rms in row 0's first 32 */
	double spread;
	size_t range_row;	/* rows' absmax differ most: max / median */
	double range;
} sg;

static int
cmp_float(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;

	return a < b ? -1 : a > b ? 1 : 0;
}

static void
scan_weights(wb_app *a)
{
	float *w = NULL, *am = NULL;
	size_t i;

	sg.scanned = 1;
	sg.spread = sg.range = 0;
	for (i = 0; i < a->n_rows; i++) {
		const wb_row *r = &a->rows[i];
		int64_t j, k, n = r->rows * r->cols;
		double sq = 0, m = 0, ratio;
		tq_error err;
		float *nw, *na;

		if (r->block < 0 || r->cols < GROUP || n > WB_WEIGHT_MAX)
			continue;
		nw = realloc(w, sizeof(float) * (size_t)n);	/* [rows, cols] */
		if (nw == NULL)
			break;
		w = nw;
		na = realloc(am, sizeof(float) * (size_t)r->rows); /* [rows] */
		if (na == NULL)
			break;
		am = na;
		if (tq_model_linear_weight(a->model, r->idx, w, &err) != TQ_OK)
			continue;
		for (k = 0; k < GROUP; k++) {
			sq += (double)w[k] * w[k];
			m = fabs(w[k]) > m ? fabs(w[k]) : m;
		}
		ratio = sq > 0 ? m / sqrt(sq / GROUP) : 0;
		if (ratio > sg.spread) {
			sg.spread = ratio;
			sg.spread_row = i;
		}
		for (j = 0; j < r->rows; j++) {
			am[j] = 0;
			for (k = 0; k < r->cols; k++)
				am[j] = fabsf(w[j * r->cols + k]) > am[j] ?
				    fabsf(w[j * r->cols + k]) : am[j];
		}
		m = 0;
		for (j = 0; j < r->rows; j++)
			m = am[j] > m ? am[j] : m;
		qsort(am, (size_t)r->rows, sizeof(float), cmp_float);
		ratio = am[r->rows / 2] > 0 ? m / am[r->rows / 2] : 0;
		if (ratio > sg.range) {
			sg.range = ratio;
			sg.range_row = i;
		}
	}
	free(w);
	free(am);
}

/*
 * The layer with the most outlier input channels (then the largest one)
 * among those with a calibration site, mod-wide columns and at most
 * max_cols of them; -1 without a calibration.
 */
static long
pick_outliers(wb_app *a, int64_t mod, int64_t max_cols, char *why,
    size_t len)
{
	long best = -1;
	size_t i;

	if (a->calib == NULL) {
		snprintf(why, len, "needs a calibration: c first");
		return -1;
	}
	for (i = 0; i < a->n_rows; i++) {
		const wb_row *r = &a->rows[i], *b;

		if (!r->has_site || r->block < 0 || r->cols % mod != 0 ||
		    r->cols > max_cols)
			continue;
		b = best >= 0 ? &a->rows[best] : NULL;
		if (b == NULL || r->n_outliers > b->n_outliers ||
		    (r->n_outliers == b->n_outliers && r->max_ratio >
		    b->max_ratio))
			best = (long)i;
	}
	if (best < 0)
		snprintf(why, len, "no layer fits it");
	else if (a->rows[best].n_outliers > 0)
		snprintf(why, len, "%d outlier input channels (%.1fx the "
		    "median)", a->rows[best].n_outliers,
		    a->rows[best].max_ratio);
	else
		snprintf(why, len, "its largest input channel, %.1fx the "
		    "median", a->rows[best].max_ratio);
	return best;
}

/* A layer the weight scan found: what (0 spread, 1 range) and why. */
static long
pick_scanned(wb_app *a, int what, char *why, size_t len)
{
	size_t row;
	double v;

	if (!sg.scanned)
		scan_weights(a);
	row = what == 0 ? sg.spread_row : sg.range_row;
	v = what == 0 ? sg.spread : sg.range;
	if (v <= 0)
		return -1;
	if (what == 0)
		snprintf(why, len, "row 0's first 32 have a weight %.1fx "
		    "their rms", v);
	else
		snprintf(why, len, "its rows' ranges differ %.1fx (max / "
		    "median)", v);
	return (long)row;
}

long
wbt_pick_group(wb_app *a, char *why, size_t len)
{
	return pick_scanned(a, 0, why, len);
}

long
wbt_pick_range(wb_app *a, char *why, size_t len)
{
	return pick_scanned(a, 1, why, len);
}

/* The narrowest layer: a scale per row is the largest share there. */
long
wbt_pick_narrow(wb_app *a, char *why, size_t len)
{
	long best = -1;
	size_t i;

	for (i = 0; i < a->n_rows; i++)
		if (a->rows[i].block >= 0 && (best < 0 || a->rows[i].cols <
		    a->rows[best].cols))
			best = (long)i;
	if (best >= 0)
		snprintf(why, len, "%lld columns: a scale a row weighs most",
		    (long long)a->rows[best].cols);
	return best;
}

long
wbt_pick_gptq(wb_app *a, char *why, size_t len)
{
	return pick_outliers(a, 1, INT64_MAX, why, len);
}

long
wbt_pick_awq(wb_app *a, char *why, size_t len)
{
	return pick_outliers(a, 128, 4096, why, len);
}

long
wbt_pick_none(wb_app *a, char *why, size_t len)
{
	(void)a;
	snprintf(why, len, "the whole model: Enter runs six jobs");
	return -1;
}
