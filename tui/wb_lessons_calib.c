/*
 * wb_lessons_calib.c: the lessons on a calibration: GPTQ against RTN column by column, and
 * AWQ's scales of the salient channels (the overview is in wb_teach.c).
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

/* ---- Lesson 3: GPTQ against RTN, column by column ---------------------- */

static struct {
	size_t idx;		/* row of the browser it was made for */
	int64_t wrow;		/* row of the weight */
	const tq_calib *calib;
	int ok;
	tq_gptq_trace *tr;	/* the engine's GPTQ on columns 0..GB-1 */
} gq = { (size_t)-1, -1, NULL, 0, NULL };

/* Tokens of the calibration the lessons run: its first 256. */
static int64_t
lesson_tokens(const wb_app *a)
{
	int64_t n = tq_calib_seqlen(a->calib);

	return n > 256 ? 256 : n;
}

/*
 * X^T X of input columns [0, n_cols) of row r's site over the lesson's
 * tokens, from the engine: H[n_cols, n_cols]; 1 if the pass reached it.
 */
static int
site_hessian(wb_app *a, const wb_row *r, int64_t n_cols, float *H,
    int64_t *n_tok)
{
	tq_error err;

	return tq_site_hessian(a->model, tq_calib_ids(a->calib),
	    lesson_tokens(a), r->block, r->site, 0, n_cols, H, n_tok,
	    &err) == TQ_OK;
}

static int
gptq_prepare(wb_app *a, const wb_row *r, int64_t wrow)
{
	tq_scheme s = { TQ_QT_INT, 4, TQ_GROUP_CHANNEL, 0, 0 };
	float H[GB * GB];	/* [GB, GB] */
	tq_error err;

	if (gq.idx == r->idx && gq.wrow == wrow && gq.calib == a->calib)
		return gq.ok;
	gq.idx = r->idx;
	gq.wrow = wrow;
	gq.calib = a->calib;
	gq.ok = 0;
	tq_gptq_trace_free(gq.tr);
	gq.tr = NULL;
	if (a->calib == NULL || !r->has_site || r->cols < GB)
		return 0;
	/* The GB weights as one row of their own: one grid, from them. */
	if (!site_hessian(a, r, GB, H, NULL) || tq_gptq_trace_row(&s,
	    teach_w.w + wrow * teach_w.cols, H, GB, NULL, &gq.tr, &err) != TQ_OK)
		return 0;
	gq.ok = 1;
	return 1;
}

void
wbt_lesson_gptq(wb_app *a, const wb_row *r, int y, int y1)
{
	int64_t wrow = a->teach_row % teach_w.rows;
	const float *w0, *w;	/* [GB] the row; after k columns rounded */
	const float *rtn;
	int k = a->teach_step, j;
	double e_rtn, e_gptq;

	if (!gptq_prepare(a, r, wrow)) {
		wb_text(y + 1, 1, COLS - 2, 0, a->calib == NULL ?
		    "GPTQ needs the layer's inputs: calibrate first (c), then "
		    "come back" : "this layer has no calibration input "
		    "(the embeddings), or H is singular: pick another");
		return;
	}
	w0 = teach_w.w + wrow * teach_w.cols;
	w = gq.tr->w + k * GB;
	rtn = gq.tr->rtn;
	e_rtn = gq.tr->rtn_rel_err;
	e_gptq = gq.tr->rel_err[k];
	wb_textf(y++, 1, COLS - 2, "%s row %lld, columns 0-%d, int4 (one "
	    "grid): %d of %d rounded", r->shortname, (long long)wrow, GB - 1,
	    k, GB);
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%4s %10s %10s %10s %10s %10s", "col",
	    "weight", "now", "GPTQ", "RTN", "moved by");
	attroff(wb_attr(WB_C_HEADER));
	for (j = 0; j < GB && y < y1 - 2; j++, y++) {
		attron(j < k ? wb_attr(WB_C_GOOD) : j == k ? wb_attr(WB_C_WARN) :
		    (int)A_NORMAL);
		if (j < k)
			wb_textf(y, 1, COLS - 2, "%4d %10.5f %10s %10.5f %10.5f "
			    "%+10.5f", j, w0[j], "rounded", w[j], rtn[j],
			    w[j] - w0[j]);
		else
			wb_textf(y, 1, COLS - 2, "%4d %10.5f %10.5f %10s %10.5f "
			    "%+10.5f", j, w0[j], w[j], "", rtn[j],
			    w[j] - w0[j]);
		attroff(wb_attr(WB_C_GOOD) | wb_attr(WB_C_WARN));
	}
	wb_textf(y++, 1, COLS - 2, "output error on %lld calibration tokens: "
	    "RTN %.3e   GPTQ%s %.3e", (long long)lesson_tokens(a), e_rtn,
	    k < GB ? " so far" : "", e_gptq);
	if (y < y1)
		wb_text(y, 1, COLS - 2, 0, k < GB ? "n: round the next column "
		    "and push its error onto the columns after it" :
		    e_gptq < e_rtn * 0.999 ? "the compensations changed "
		    "roundings: less output error, the same bits" :
		    e_gptq <= e_rtn * 1.001 ? "the same codes as RTN: the "
		    "updates moved no weight across a rounding boundary" :
		    "greedy, so not always better: worse on this row (j/k)");
}

/* ---- Lesson 4: AWQ's scaling of salient input channels ---------------- */

#define AWQ_ALPHAS 5
#define AWQ_TOP 6

static struct {
	size_t idx;		/* browser row it was made for */
	const tq_calib *calib;
	int ok;
	int64_t n_tok;
	tq_awq_trace *tr;	/* the engine's scales and errors */
	int64_t top[AWQ_TOP];	/* by absmax: tq_channel_outliers' ranking */
	float top_absmax[AWQ_TOP], median;
} aw = { (size_t)-1, NULL, 0, 0, NULL, { 0 }, { 0 }, 0 };

/*
 * For alpha in 0, 1/4, ..., 1 the engine's AWQ scales and the output
 * error of RTN on int4-g128 with each, on H of the layer's inputs.
 */
static int
awq_prepare(wb_app *a, const wb_row *r)
{
	const tq_site_stats *st;
	tq_scheme sch;
	tq_error err;
	double alphas[AWQ_ALPHAS];
	float *H = NULL;
	tq_outlier out[AWQ_TOP];
	int64_t C = r->cols, k;
	int g;

	if (aw.idx == r->idx && aw.calib == a->calib)
		return aw.ok;
	aw.idx = r->idx;
	aw.calib = a->calib;
	aw.ok = 0;
	tq_awq_trace_free(aw.tr);
	aw.tr = NULL;
	if (a->calib == NULL || !r->has_site ||
	    (st = tq_calib_find(a->calib, r->block, r->site)) == NULL ||
	    st->channels != C || C > 4096 || C % 128 != 0)
		return 0;
	H = malloc(sizeof(float) * (size_t)(C * C));	/* [C, C] */
	if (H == NULL ||
	    tq_scheme_parse("int4-g128", &sch, &err) != TQ_OK ||
	    !site_hessian(a, r, C, H, &aw.n_tok))
		goto out;
	for (g = 0; g < AWQ_ALPHAS; g++)
		alphas[g] = (double)g / (AWQ_ALPHAS - 1);
	if (tq_awq_trace_layer(&sch, teach_w.w, r->rows, C, H, st->mean_abs,
	    alphas, AWQ_ALPHAS, &aw.tr, &err) != TQ_OK)
		goto out;
	/* the salient channels: the detail's outliers, largest absmax */
	if (tq_channel_outliers(st->absmax, C, TQ_OUTLIER_RATIO, &aw.median,
	    out, AWQ_TOP) < 0)
		goto out;
	for (k = 0; k < AWQ_TOP; k++) {
		aw.top[k] = out[k].channel;
		aw.top_absmax[k] = out[k].absmax;
	}
	aw.ok = 1;
out:
	free(H);
	return aw.ok;
}

void
wbt_lesson_awq(wb_app *a, const wb_row *r, int y, int y1)
{
	int k, g, step = a->teach_step, best = 0, x;
	const double *e;
	double worst = 0;

	if (!awq_prepare(a, r)) {
		wb_text(y + 1, 1, COLS - 2, 0, a->calib == NULL ?
		    "AWQ needs the layer's inputs: calibrate first (c), then "
		    "come back" : "this layer has no calibration input, or "
		    "its width is not a multiple of 128: pick another");
		return;
	}
	e = aw.tr->rel_err;
	wb_textf(y++, 1, COLS - 2, "%s: int4-g128, %lld calibration "
	    "tokens, step %d/%d", r->shortname,
	    (long long)aw.n_tok, step + 1, AWQ_STEPS);
	wb_textf(y++, 1, COLS - 2, "salient input channels: the largest "
	    "absmax |x|, and x the median's (%.4f)", aw.median);
	for (k = 0; k < AWQ_TOP && y < y1; k += 3, y++) {
		char buf[128];
		int l = 0, i;

		for (i = k; i < k + 3 && i < AWQ_TOP; i++)
			l += snprintf(buf + l, sizeof(buf) - (size_t)l,
			    "  ch%-4lld %6.3f %4.1fx  ",
			    (long long)aw.top[i], aw.top_absmax[i], aw.median > 0 ?
			    aw.top_absmax[i] / aw.median : 0.0);
		wb_text(y, 1, COLS - 2, 0, buf);
	}
	y++;
	if (step >= 1 && y < y1) {
		wb_text(y++, 1, COLS - 2, 0, "s = mean|x|^alpha / norm "
		    "(max(s) min(s) = 1); W's columns times s, x over s:");
		attron(wb_attr(WB_C_HEADER));
		wb_textf(y, 1, 20, "%5s %12s", "alpha", "s range");
		move(y, 22);
		for (k = 0; k < 3; k++)
			printw(" s(ch%-4lld)", (long long)aw.top[k]);
		if (step >= 2)
			printw(" %11s", "out.err");
		attroff(wb_attr(WB_C_HEADER));
		y++;
		for (g = 0; g < AWQ_ALPHAS; g++) {
			if (e[g] < e[best])
				best = g;
			worst = e[g] > worst ? e[g] : worst;
		}
		for (g = 0; g < AWQ_ALPHAS && y < y1; g++, y++) {
			if (step >= 2 && g == best)
				attron(wb_attr(WB_C_GOOD));
			wb_textf(y, 1, 21, "%5.2f %5.2f-%-6.2f",
			    aw.tr->alpha[g], aw.tr->smin[g], aw.tr->smax[g]);
			move(y, 22);
			for (k = 0; k < 3; k++)
				printw(" %9.3f", aw.tr->s[g * aw.tr->C +
				    aw.top[k]]);
			if (step >= 2) {
				printw(" %11.3e", e[g]);
				x = 22 + 3 * 10 + 12 + 1;
				if (COLS - x > 6)
					wb_hbar(y, x, COLS - x - 2, worst > 0 ?
					    e[g] / worst : 0);
			}
			attroff(wb_attr(WB_C_GOOD));
		}
	}
	if (step >= 2 && y + 1 < y1) {
		y++;
		wb_textf(y++, 1, COLS - 2, "out.err = tr(E H E^T) / tr(W H W^T),"
		    " H = X^T X of the layer's inputs");
		wb_textf(y++, 1, COLS - 2, "RTN %.3e; scaled, alpha %.2f: "
		    "%.3e = %.1f%% of RTN's", e[0], aw.tr->alpha[best],
		    e[best], e[0] > 0 ? 100.0 * e[best] / e[0] : 100.0);
	}
	if (y < y1)
		wb_text(y1 - 1, 1, COLS - 2, 0, step == 0 ? "n: scale the "
		    "salient channels' weights up before rounding" : step == 1 ?
		    "n: what each alpha costs at the layer's output" :
		    "Salient columns get finer steps; too large an alpha "
		    "coarsens the rest.");
}

/* Frees the GPTQ and AWQ lessons' traces. */
void
wbt_calib_free(void)
{
	tq_gptq_trace_free(gq.tr);
	gq.tr = NULL;
	gq.idx = (size_t)-1;
	tq_awq_trace_free(aw.tr);
	aw.tr = NULL;
	aw.idx = (size_t)-1;
}
