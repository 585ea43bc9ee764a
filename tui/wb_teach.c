/*
 * wb_teach.c: teaching mode, on the real weights of the current layer.
 *
 *   lesson 1  one group of 32 weights quantized to int4 step by step:
 *             values, range, scale and zero point, codes, dequantized
 *             values, error (n advances a step);
 *   lesson 2  the same row under one scale per tensor, per row and per
 *             group of 128 and 32, with each one's error and cost;
 *   lesson 3  GPTQ against RTN on the first 12 columns of one row, a
 *             column per key press: each column is rounded, and its error,
 *             scaled through the Cholesky factor of H^-1 (H = X^T X of the
 *             layer's real inputs on a calibration sample, restricted to
 *             these columns), is taken off the columns not yet rounded;
 *             the output error ||(w - q) X||^2 / ||w X||^2 on those inputs
 *             is shown for both.  This is GPTQ's update written out for a
 *             12-column row, not the engine's blocked implementation.
 *
 * The numbers are the engine's (tq_quant_view): the scale is rounded to
 * fp16 as exported checkpoints store it, so a hand computation from the
 * shown min and max can differ in the last digits.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "wb.h"

#define N_LESSONS 3
#define GB 12		/* columns of the GPTQ lesson */
#define GROUP 32
#define STEPS 5

static struct {
	const float *w;		/* [rows, cols], wb_row_weight's */
	int64_t rows, cols;
} tw;

static int
load(wb_app *a, const wb_row *r)
{
	tw.w = wb_row_weight(a, r);
	tw.rows = r->rows;
	tw.cols = r->cols;
	return tw.w != NULL;
}

/* Eight numbers a line, each in 9 columns. */
static int
row_of(int y, int x, const char *label, const float *v, const uint8_t *c,
    int n, int per)
{
	int i, k;

	for (k = 0; k < n; k += per) {
		wb_textf(y, x, 12, "%s", k == 0 ? label : "");
		move(y, x + 12);
		for (i = k; i < k + per && i < n; i++)
			if (c != NULL)
				printw("%8d ", c[i]);
			else
				printw("%8.4f ", v[i]);
		y++;
	}
	return y;
}

static void
lesson_group(wb_app *a, const wb_row *r, int y, int y1)
{
	tq_scheme s = { TQ_QT_INT, 4, GROUP, 0 };
	tq_group_view gv;
	tq_error err;
	float *deq, vals[GROUP], dq[GROUP], e[GROUP], lo, hi;
	uint8_t *codes, cd[GROUP];
	int64_t row = a->teach_row % tw.rows, n = tw.rows * tw.cols;
	double se = 0, sw = 0, emax = 0;
	int i, per = COLS >= 90 ? 8 : 7, step = a->teach_step;

	if (tw.cols % GROUP != 0) {
		wb_text(y, 1, COLS - 2, 0, "this layer's width is not a "
		    "multiple of 32: pick another (j/k in the browser)");
		return;
	}
	deq = malloc(sizeof(float) * (size_t)n);	/* [rows, cols] */
	codes = malloc((size_t)n);			/* [rows, cols] */
	if (deq == NULL || codes == NULL || tq_quant_view(&s, tw.w, tw.rows,
	    tw.cols, row, 0, deq, codes, &gv, &err) != TQ_OK) {
		free(deq);
		free(codes);
		return;
	}
	memcpy(vals, tw.w + row * tw.cols, sizeof(vals));
	memcpy(dq, deq + row * tw.cols, sizeof(dq));
	memcpy(cd, codes + row * tw.cols, sizeof(cd));
	free(deq);
	free(codes);
	lo = hi = vals[0];
	for (i = 0; i < GROUP; i++) {
		lo = vals[i] < lo ? vals[i] : lo;
		hi = vals[i] > hi ? vals[i] : hi;
		e[i] = vals[i] - dq[i];
		se += (double)e[i] * e[i];
		sw += (double)vals[i] * vals[i];
		emax = fabs(e[i]) > emax ? fabs(e[i]) : emax;
	}
	wb_textf(y++, 1, COLS - 2, "%s row %lld, columns 0-31 -> int4, one "
	    "scale and zero point for the group%s  (step %d of %d: n/p)",
	    r->name, (long long)row, per == 8 ? "" : " (16 shown)", step + 1,
	    STEPS);
	y++;
	y = row_of(y, 1, "values", vals, NULL, per == 8 ? GROUP : 16, per);
	if (step >= 1 && y < y1) {
		y++;
		wb_textf(y++, 1, COLS - 2, "range  min %.4f  max %.4f  (the "
		    "range keeps 0: min <= 0 <= max)", lo < 0 ? lo : 0.0f,
		    hi > 0 ? hi : 0.0f);
		wb_textf(y++, 1, COLS - 2, "scale  (max - min) / 15 = %.6f   "
		    "zero = round(-min / scale) = %d", gv.scale, gv.zero);
	}
	if (step >= 2 && y < y1)
		y = row_of(y, 1, "codes", NULL, cd, per == 8 ? GROUP : 16, per);
	if (step >= 3 && y < y1)
		y = row_of(y, 1, "dequant", dq, NULL, per == 8 ? GROUP : 16,
		    per);
	if (step >= 4 && y < y1) {
		y = row_of(y, 1, "error", e, NULL, per == 8 ? GROUP : 16, per);
		attron(wb_attr(WB_C_WARN));
		wb_textf(y++, 1, COLS - 2, "rms error %.5f  max %.5f  SQNR "
		    "%.1f dB  = 4 bits + 32 bits of scale/zero per 32 weights",
		    sqrt(se / GROUP), emax, se > 0 ? 10 * log10(sw / se) : 0.0);
		attroff(wb_attr(WB_C_WARN));
	}
	if (step < STEPS - 1 && y < y1)
		wb_text(y1 - 1, 1, COLS - 2, 0, step == 0 ?
		    "n: find the range" : step == 1 ? "n: round each value to a "
		    "code: clamp(round(x / scale) + zero, 0, 15)" : step == 2 ?
		    "n: back to floats: scale * (code - zero)" :
		    "n: what rounding lost");
}

static void
lesson_granularity(wb_app *a, const wb_row *r, int y, int y1)
{
	static const char *const names[] = {
		"int4-tensor", "int4", "int4-g128", "int4-g32"
	};
	static const char *const what[] = {
		"one scale for the whole tensor", "one scale per row",
		"one scale per 128 weights", "one scale per 32 weights"
	};
	int64_t row = a->teach_row % tw.rows, n = tw.rows * tw.cols, j;
	float *deq = malloc(sizeof(float) * (size_t)n);	/* [rows, cols] */
	double res[4], worst = 0;
	size_t k;

	wb_textf(y++, 1, COLS - 2, "%s row %lld: the same 4 bits, scales "
	    "shared by fewer weights", r->name, (long long)row);
	y++;
	if (deq == NULL)
		return;
	for (k = 0; k < 4; k++) {
		tq_scheme s;
		tq_error err;
		double se = 0, sw = 0;

		res[k] = -1;
		if (tq_scheme_parse(names[k], &s, &err) != TQ_OK ||
		    tq_quant_view(&s, tw.w, tw.rows, tw.cols, 0, 0, deq, NULL,
		    NULL, &err) != TQ_OK)
			continue;
		for (j = 0; j < tw.cols; j++) {
			double d = tw.w[row * tw.cols + j] - deq[row *
			    tw.cols + j];

			se += d * d;
			sw += (double)tw.w[row * tw.cols + j] *
			    tw.w[row * tw.cols + j];
		}
		res[k] = sw > 0 ? se / sw : 0;
		worst = res[k] > worst ? res[k] : worst;
	}
	free(deq);
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%-12s %-32s %6s %10s", "scheme", "",
	    "bpw", "rel.err");
	attroff(wb_attr(WB_C_HEADER));
	for (k = 0; k < 4 && y < y1; k++, y++) {
		tq_scheme s;
		tq_error err;

		tq_scheme_parse(names[k], &s, &err);
		wb_textf(y, 1, 52, "%-12s %-32s %6.2f", names[k], what[k],
		    tq_scheme_bpw(&s, tw.rows, tw.cols));
		if (res[k] < 0) {
			wb_text(y, 53, 11, 1, "   -");
			continue;
		}
		wb_textf(y, 53, 11, "%10.2e", res[k]);
		if (COLS > 70)
			wb_hbar(y, 65, COLS - 67, worst > 0 ? res[k] / worst :
			    0);
	}
	y++;
	if (y < y1)
		wb_text(y, 1, COLS - 2, 0, "Smaller groups follow the weights' "
		    "local range: less error for a few more bits of scales.");
}


/* ---- Lesson 3: GPTQ against RTN, column by column ---------------------- */

static struct {
	size_t idx;		/* row of the browser it was made for */
	int64_t wrow;		/* row of the weight */
	const tq_calib *calib;
	int ok;
	double H[GB][GB];	/* X^T X of the inputs, columns 0..GB-1 */
	double U[GB][GB];	/* upper Cholesky factor of H^-1 (damped) */
	float levels[TQ_VIEW_MAX_LEVELS];
	int n_levels;
	float rtn[GB];		/* the row rounded to nearest */
} gq = { (size_t)-1, -1, NULL, 0, { { 0 } }, { { 0 } }, { 0 }, 0, { 0 } };

typedef struct capture {
	int layer;
	tq_linear site;
	int done;
} capture;

/* The hook: adds the first GB input columns of the site to H. */
static int
on_input(void *ud, int layer, tq_linear which, const float *x, int64_t n,
    int64_t in)
{
	capture *c = ud;
	int64_t t;
	int i, j;

	if (layer != c->layer || which != c->site)
		return 0;
	for (t = 0; t < n; t++)
		for (i = 0; i < GB; i++)
			for (j = 0; j < GB; j++)
				gq.H[i][j] += (double)x[t * in + i] *
				    x[t * in + j];
	c->done = 1;
	return 1;	/* nothing after this site is needed */
}

/* In-place Cholesky A = L L^T (lower); 0 if A is not positive definite. */
static int
cholesky(double A[GB][GB])
{
	int i, j, k;

	for (j = 0; j < GB; j++) {
		double d = A[j][j];

		for (k = 0; k < j; k++)
			d -= A[j][k] * A[j][k];
		if (!(d > 0.0))
			return 0;
		A[j][j] = sqrt(d);
		for (i = j + 1; i < GB; i++) {
			double v = A[i][j];

			for (k = 0; k < j; k++)
				v -= A[i][k] * A[j][k];
			A[i][j] = v / A[j][j];
		}
		for (i = 0; i < j; i++)
			A[i][j] = 0.0;
	}
	return 1;
}

/* H^-1 from H's Cholesky factor, then U with H^-1 = U^T U. */
static int
make_u(void)
{
	double L[GB][GB], Li[GB][GB], Hi[GB][GB], mean = 0;
	int i, j, k;

	memcpy(L, gq.H, sizeof(L));
	for (i = 0; i < GB; i++)
		mean += L[i][i] / GB;
	for (i = 0; i < GB; i++)
		L[i][i] += 0.01 * mean;		/* GPTQ's dampening */
	if (!cholesky(L))
		return 0;
	/* Li = L^-1 (lower), by forward substitution */
	memset(Li, 0, sizeof(Li));
	for (j = 0; j < GB; j++) {
		Li[j][j] = 1.0 / L[j][j];
		for (i = j + 1; i < GB; i++) {
			double v = 0;

			for (k = j; k < i; k++)
				v -= L[i][k] * Li[k][j];
			Li[i][j] = v / L[i][i];
		}
	}
	/* H^-1 = L^-T L^-1 */
	for (i = 0; i < GB; i++)
		for (j = 0; j < GB; j++) {
			double v = 0;

			for (k = 0; k < GB; k++)
				v += Li[k][i] * Li[k][j];
			Hi[i][j] = v;
		}
	if (!cholesky(Hi))
		return 0;
	for (i = 0; i < GB; i++)	/* U = L'^T of H^-1 = L' L'^T */
		for (j = 0; j < GB; j++)
			gq.U[i][j] = j >= i ? Hi[j][i] : 0.0;
	return 1;
}

static int
gptq_prepare(wb_app *a, const wb_row *r, int64_t wrow)
{
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	tq_scheme s = { TQ_QT_INT, 4, TQ_GROUP_CHANNEL, 0 };
	tq_group_view gv;
	tq_error err;
	capture c;
	float deq[GB];
	int64_t n;

	if (gq.idx == r->idx && gq.wrow == wrow && gq.calib == a->calib)
		return gq.ok;
	gq.idx = r->idx;
	gq.wrow = wrow;
	gq.calib = a->calib;
	gq.ok = 0;
	memset(gq.H, 0, sizeof(gq.H));
	if (a->calib == NULL || !r->has_site || r->cols < GB)
		return 0;
	c.layer = r->block;
	c.site = r->site;
	c.done = 0;
	o.act_hook = on_input;
	o.act_ud = &c;
	n = tq_calib_seqlen(a->calib);
	tq_forward(a->model, tq_calib_ids(a->calib), n > 256 ? 256 : n, &o,
	    NULL, &err);
	if (!c.done || !make_u())
		return 0;
	/* RTN of the GB weights as one group, and that group's grid */
	if (tq_quant_view(&s, tw.w + wrow * tw.cols, 1, GB, 0, 0, deq, NULL,
	    &gv, &err) != TQ_OK)
		return 0;
	memcpy(gq.rtn, deq, sizeof(deq));
	memcpy(gq.levels, gv.levels, sizeof(float) * (size_t)gv.n_levels);
	gq.n_levels = gv.n_levels;
	gq.ok = 1;
	return 1;
}

static float
nearest(float x)
{
	float best = gq.levels[0];
	int i;

	for (i = 1; i < gq.n_levels; i++)
		if (fabsf(gq.levels[i] - x) < fabsf(best - x))
			best = gq.levels[i];
	return best;
}

/* (w - q)^T H (w - q) / w^T H w over the GB columns. */
static double
out_err(const float *w, const float *q)
{
	double num = 0, den = 0;
	int i, j;

	for (i = 0; i < GB; i++)
		for (j = 0; j < GB; j++) {
			num += (w[i] - q[i]) * gq.H[i][j] * (w[j] - q[j]);
			den += w[i] * gq.H[i][j] * w[j];
		}
	return den > 0 ? num / den : 0;
}

static void
lesson_gptq(wb_app *a, const wb_row *r, int y, int y1)
{
	int64_t wrow = a->teach_row % tw.rows;
	float w0[GB], w[GB], q[GB];
	int k = a->teach_step, j, i;
	double e_rtn, e_gptq;

	if (!gptq_prepare(a, r, wrow)) {
		wb_text(y + 1, 1, COLS - 2, 0, a->calib == NULL ?
		    "GPTQ needs the layer's inputs: calibrate first (c), then "
		    "come back" : "this layer has no calibration input "
		    "(the embeddings), or H is singular: pick another");
		return;
	}
	memcpy(w0, tw.w + wrow * tw.cols, sizeof(w0));
	memcpy(w, w0, sizeof(w));
	/* k columns rounded; each one's error spread over the rest */
	for (j = 0; j < k; j++) {
		float e;

		q[j] = nearest(w[j]);
		e = (float)((w[j] - q[j]) / gq.U[j][j]);
		for (i = j + 1; i < GB; i++)
			w[i] -= e * (float)gq.U[j][i];
	}
	for (j = k; j < GB; j++)
		q[j] = w[j];	/* not rounded yet: the updated weights */
	e_rtn = out_err(w0, gq.rtn);
	e_gptq = out_err(w0, q);
	wb_textf(y++, 1, COLS - 2, "%s row %lld, columns 0-%d, int4 (one "
	    "grid): %d of %d columns rounded (n/p)", r->name, (long long)wrow,
	    GB - 1, k, GB);
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%4s %10s %10s %10s %10s %10s", "col",
	    "weight", "now", "GPTQ", "RTN", "moved by");
	attroff(wb_attr(WB_C_HEADER));
	for (j = 0; j < GB && y < y1 - 2; j++, y++) {
		attron(j < k ? wb_attr(WB_C_GOOD) : j == k ? wb_attr(WB_C_WARN) :
		    (int)A_NORMAL);
		if (j < k)
			wb_textf(y, 1, COLS - 2, "%4d %10.5f %10s %10.5f %10.5f "
			    "%+10.5f", j, w0[j], "rounded", q[j], gq.rtn[j],
			    q[j] - w0[j]);
		else
			wb_textf(y, 1, COLS - 2, "%4d %10.5f %10.5f %10s %10.5f "
			    "%+10.5f", j, w0[j], w[j], "", gq.rtn[j],
			    w[j] - w0[j]);
		attroff(wb_attr(WB_C_GOOD) | wb_attr(WB_C_WARN));
	}
	wb_textf(y++, 1, COLS - 2, "output error on %lld calibration tokens: "
	    "RTN %.3e   GPTQ%s %.3e", (long long)(tq_calib_seqlen(a->calib) >
	    256 ? 256 : tq_calib_seqlen(a->calib)), e_rtn, k < GB ?
	    " so far" : "", e_gptq);
	if (y < y1)
		wb_text(y, 1, COLS - 2, 0, k < GB ? "n: round the next column "
		    "and push its error onto the columns after it" :
		    e_gptq < e_rtn * 0.999 ? "the compensations changed some "
		    "roundings: lower output error at the same bits" :
		    e_gptq <= e_rtn * 1.001 ? "the same codes as RTN: the "
		    "updates moved no weight across a rounding boundary" :
		    "greedy, so not always better: worse on this row (j/k)");
}

void
wb_teach_draw(wb_app *a, int y0, int y1)
{
	static const char *const titles[N_LESSONS] = {
		"1/3 one group, step by step",
		"2/3 per tensor, per channel, per group",
		"3/3 GPTQ against RTN, column by column",
	};
	const wb_row *r = wb_browser_current(a);

	attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
	wb_textf(y0, 0, COLS, " Teaching: %s   ([ ] lessons, n/p steps, j/k "
	    "rows)", titles[a->teach_page % N_LESSONS]);
	attroff(wb_attr(WB_C_HEADER));
	if (r == NULL || !load(a, r)) {
		wb_text(y0 + 2, 1, COLS - 2, 0, "no layer: pick one in the "
		    "browser");
		return;
	}
	if (a->teach_page % N_LESSONS == 0)
		lesson_group(a, r, y0 + 1, y1);
	else if (a->teach_page % N_LESSONS == 1)
		lesson_granularity(a, r, y0 + 1, y1);
	else
		lesson_gptq(a, r, y0 + 1, y1);
}

int
wb_teach_key(wb_app *a, int key)
{
	switch (key) {
	case 'n': case ' ': case KEY_RIGHT: case 'l':
		if (a->teach_step < (a->teach_page % N_LESSONS == 2 ? GB :
		    STEPS - 1))
			a->teach_step++;
		break;
	case 'p': case KEY_LEFT: case 'h':
		if (a->teach_step > 0)
			a->teach_step--;
		break;
	case ']':
		a->teach_page = (a->teach_page + 1) % N_LESSONS;
		a->teach_step = 0;
		break;
	case '[':
		a->teach_page = (a->teach_page + N_LESSONS - 1) % N_LESSONS;
		a->teach_step = 0;
		break;
	case 'j': case KEY_DOWN:
		a->teach_row++;
		break;
	case 'k': case KEY_UP:
		if (a->teach_row > 0)
			a->teach_row--;
		break;
	default:
		return 0;
	}
	return 1;
}

void
wb_teach_free(void)
{
	tw.w = NULL;
}
