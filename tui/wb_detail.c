/*
 * wb_detail.c: one layer in detail: the histogram of its weights, the
 * histogram of its calibration inputs (filling in while calibration runs)
 * and their absmax per input channel, each chart with its axis, the
 * outlier channels (tq_channel_outliers: absmax >= TQ_OUTLIER_RATIO x the
 * median), the grid of the planned scheme over one group of one row with
 * the weights on it, and the estimated error of candidate settings.  A
 * larger window gets wider charts, taller bars and more outlier rows.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "wb.h"

/* The weight histogram takes a bin per column, up to wb_vbars' width. */
#define WBINS_MAX 512
#define N_CB 4
#define N_CG 4

static const int cand_bits[N_CB] = { 2, 3, 4, 8 };
static const int cand_group[N_CG] = { TQ_GROUP_CHANNEL, 128, 64, 32 };

/* What is computed once per layer (and per calibration). */
static struct {
	size_t idx;			/* row it is for; (size_t)-1 none */
	const tq_calib *calib;		/* the calibration it weighed with */
	const float *w;			/* [rows, cols], wb_row_weight's */
	int64_t rows, cols;
	float wmin, wmax;
	int nbins;			/* of hist; 0 until drawn */
	double hist[WBINS_MAX];		/* [nbins] weights per bin */
	double cand[N_CB][N_CG];	/* < 0: does not fit */
	int weighted;
} cache = { (size_t)-1, NULL, NULL, 0, 0, 0, 0, 0, { 0 }, { { 0 } }, 0 };

/* The input importance of a row's layer (mean x^2), or NULL. */
static const float *
importance(wb_app *a, const wb_row *r)
{
	const tq_site_stats *s;

	if (a->calib == NULL || !r->has_site)
		return NULL;
	s = tq_calib_find(a->calib, r->block, r->site);
	return s != NULL && s->channels == r->cols ? s->mean_sq : NULL;
}

/*
 * The relative error of RTN on s, weighted per input column by the
 * importance when there is one: sum_j imp_j sum_i (w - q)^2 over sum_j
 * imp_j sum_i w^2, the output error if the inputs were uncorrelated.
 */
static double
cand_error(const tq_scheme *s, const float *imp, float *deq)
{
	tq_error err;
	double num = 0, den = 0;
	int64_t i, j;

	if (tq_scheme_check(s, cache.rows, cache.cols, &err) != TQ_OK ||
	    tq_quant_view(s, cache.w, cache.rows, cache.cols, 0, 0, deq, NULL,
	    NULL, &err) != TQ_OK)
		return -1.0;
	for (i = 0; i < cache.rows; i++)
		for (j = 0; j < cache.cols; j++) {
			double w = cache.w[i * cache.cols + j];
			double d = w - deq[i * cache.cols + j];
			double k = imp != NULL ? imp[j] : 1.0;

			num += k * d * d;
			den += k * w * w;
		}
	return den > 0 ? num / den : 0.0;
}

static int
load(wb_app *a, const wb_row *r)
{
	const float *imp;
	float *deq;
	int64_t n, i;
	int b, g;

	if (cache.idx == r->idx && cache.calib == a->calib)
		return cache.w != NULL;
	cache.idx = r->idx;
	cache.calib = a->calib;
	cache.rows = r->rows;
	cache.cols = r->cols;
	n = r->rows * r->cols;
	cache.w = wb_row_weight(a, r);
	deq = malloc(sizeof(float) * (size_t)n);	/* [rows, cols] */
	if (cache.w == NULL || deq == NULL) {
		free(deq);
		cache.w = NULL;
		return 0;
	}
	cache.wmin = cache.wmax = cache.w[0];
	for (i = 0; i < n; i++) {
		if (cache.w[i] < cache.wmin)
			cache.wmin = cache.w[i];
		if (cache.w[i] > cache.wmax)
			cache.wmax = cache.w[i];
	}
	cache.nbins = 0;
	imp = importance(a, r);
	cache.weighted = imp != NULL;
	for (b = 0; b < N_CB; b++)
		for (g = 0; g < N_CG; g++) {
			tq_scheme s = { TQ_QT_INT, cand_bits[b], cand_group[g],
			    0, 0 };

			cache.cand[b][g] = cand_error(&s, imp, deq);
		}
	free(deq);
	return 1;
}

/* The weight histogram in nbins linear bins from wmin to wmax. */
static void
weight_hist(int nbins)
{
	int64_t i, n = cache.rows * cache.cols;

	if (nbins == cache.nbins)
		return;
	cache.nbins = nbins;
	memset(cache.hist, 0, sizeof(cache.hist));
	for (i = 0; i < n; i++) {
		double f = cache.wmax > cache.wmin ? (cache.w[i] -
		    cache.wmin) / (cache.wmax - cache.wmin) : 0.0;
		int k = (int)(f * nbins);

		cache.hist[k >= nbins ? nbins - 1 : k] += 1.0;
	}
}

#define AXIS_MAX 64	/* ticks on an axis at most */
#define AXIS_LAB 24	/* a tick's label */

/* The ticks of an axis: columns of the chart and their labels. */
typedef struct axis {
	int n;
	int pos[AXIS_MAX];
	char lab[AXIS_MAX][AXIS_LAB];
} axis;

/*
 * Draws the axis under a chart of width w at column x, each tick a '|'
 * with its label after it; when a label would run into the next tick or
 * off the chart, draws nothing and returns 0 (the caller tries sparser
 * ticks).
 */
static int
draw_axis(int y, int x, int w, const axis *t)
{
	char line[WBINS_MAX + 1];
	int k, next = 0, len;

	if (w > WBINS_MAX)
		w = WBINS_MAX;
	if (w < 1)
		return 1;
	memset(line, ' ', (size_t)w);
	line[w] = '\0';
	for (k = 0; k < t->n; k++) {
		len = (int)strlen(t->lab[k]);
		if (t->pos[k] < next || t->pos[k] < 0 || t->pos[k] + 1 + len >
		    w)
			return 0;
		line[t->pos[k]] = '|';
		memcpy(line + t->pos[k] + 1, t->lab[k], (size_t)len);
		next = t->pos[k] + len + 2;
	}
	attron(wb_attr(WB_C_DIM));
	wb_text(y, x, w, 1, line);
	attroff(wb_attr(WB_C_DIM));
	return 1;
}

/* Round steps, sparser with i: 1, 2, 5, 10, 20, ... times p. */
static double
round_step(double p, int i)
{
	static const double m[3] = { 1.0, 2.0, 5.0 };

	return m[i % 3] * p * pow(10.0, i / 3);
}

/* The weights' axis: values at the densest round step whose labels fit. */
static void
weight_axis(int y, int x, int w)
{
	axis t;
	double range = cache.wmax - cache.wmin, p, step, v;
	int i;

	if (!(range > 0.0) || w < 2)
		return;
	p = pow(10.0, floor(log10(range / w)));
	for (i = 0; i < 30; i++) {
		step = round_step(p, i);
		t.n = 0;
		for (v = ceil(cache.wmin / step) * step; v <= cache.wmax &&
		    t.n < AXIS_MAX; v += step) {
			t.pos[t.n] = (int)((v - cache.wmin) / range * w);
			/* a sum of steps near 0 prints as 0, not -1.4e-17 */
			snprintf(t.lab[t.n], AXIS_LAB, "%.3g", fabs(v) < step *
			    1e-6 ? 0.0 : v);
			t.n++;
		}
		if (t.n < AXIS_MAX && draw_axis(y, x, w, &t))
			return;
	}
}

/* The inputs' axis: |x| at every first, second, ... power of ten. */
static void
input_axis(int y, int x, int w)
{
	axis t;
	int every, k;

	for (every = 1; every <= 9; every++) {
		t.n = 0;
		for (k = -6; k <= 3; k++) {
			if (k % every != 0)
				continue;
			t.pos[t.n] = (int)((k * log2(10.0) - TQ_HIST_LOG2_LO) /
			    (TQ_HIST_LOG2_HI - TQ_HIST_LOG2_LO) * w);
			if (k < -2 || k > 2)
				snprintf(t.lab[t.n], AXIS_LAB, "1e%d", k);
			else
				snprintf(t.lab[t.n], AXIS_LAB, "%g", pow(10.0,
				    k));
			t.n++;
		}
		if (draw_axis(y, x, w, &t))
			return;
	}
}

/* Channels [*a, *b) that column i of w shows of n (as wb_vbars takes them). */
static void
column_channels(int i, int w, int64_t n, int64_t *a, int64_t *b)
{
	*a = (int64_t)i * n / w;
	*b = (int64_t)(i + 1) * n / w;
	if (*b <= *a)
		*b = *a + 1;
}

/* The channels' axis: channel numbers at the densest round step that fits. */
static void
channel_axis(int y, int x, int w, int64_t channels)
{
	axis t;
	int64_t step, c, a, b;
	int i, col;

	if (w < 2)
		return;
	for (i = 0; i < 30; i++) {
		step = (int64_t)round_step(1.0, i);
		t.n = 0;
		col = 0;
		for (c = 0; c < channels && t.n < AXIS_MAX; c += step) {
			/* the first column that shows channel c */
			for (column_channels(col, w, channels, &a, &b);
			    col < w - 1 && b <= c;
			    column_channels(++col, w, channels, &a, &b))
				;
			t.pos[t.n] = col;
			snprintf(t.lab[t.n], AXIS_LAB, "%lld", (long long)c);
			t.n++;
		}
		if (t.n < AXIS_MAX && draw_axis(y, x, w, &t))
			return;
	}
}

/* The grid of the row's scheme over one block, with its weights on it. */
static void
draw_grid(wb_app *a, const wb_row *r, int y, int w)
{
	tq_scheme s = r->cfg.scheme;
	tq_group_view gv;
	tq_error err;
	char name[32], line[512];
	const float *seg;
	float lo, hi;
	int64_t qk, c0, j, nb;
	int i, x;

	if (r->cfg.method == TQ_METHOD_FLOAT)
		tq_scheme_parse("int4-g128", &s, &err);
	if (tq_quant_view(&s, cache.w, cache.rows, cache.cols, 0, 0, NULL,
	    NULL, &gv, &err) != TQ_OK) {
		wb_textf(y, 1, w, "grid: %s", err.msg);
		return;
	}
	qk = gv.qk;
	nb = (cache.cols + qk - 1) / qk;
	if (a->detail_row >= cache.rows)
		a->detail_row = 0;
	if (a->detail_block >= nb)
		a->detail_block = 0;
	if (tq_quant_view(&s, cache.w, cache.rows, cache.cols, a->detail_row,
	    a->detail_block, NULL, NULL, &gv, &err) != TQ_OK)
		return;
	tq_scheme_name(&s, name, sizeof(name));
	c0 = a->detail_block * qk;
	seg = cache.w + a->detail_row * cache.cols + c0;
	if (s.type == TQ_QT_INT)
		wb_textf(y, 1, w, "grid of %s on row %lld, columns %lld-%lld "
		    "(n/p, [/]): scale %.4g, zero %d, %d levels", name,
		    (long long)a->detail_row, (long long)c0, (long long)(c0 +
		    qk - 1), gv.scale, gv.zero, gv.n_levels);
	else
		wb_textf(y, 1, w, "grid of %s on row %lld, columns %lld-%lld "
		    "(n/p, [/]): scale %.4g, %d levels", name,
		    (long long)a->detail_row, (long long)c0, (long long)(c0 +
		    qk - 1), gv.scale, gv.n_levels);
	lo = hi = seg[0];
	for (j = 0; j < qk && c0 + j < cache.cols; j++) {
		lo = seg[j] < lo ? seg[j] : lo;
		hi = seg[j] > hi ? seg[j] : hi;
	}
	for (i = 0; i < gv.n_levels; i++) {
		lo = gv.levels[i] < lo ? gv.levels[i] : lo;
		hi = gv.levels[i] > hi ? gv.levels[i] : hi;
	}
	if (w > (int)sizeof(line) - 1)
		w = (int)sizeof(line) - 1;
	/* line 1: the grid levels; line 2: how many weights fall there */
	memset(line, ' ', (size_t)w);
	line[w] = '\0';
	for (i = 0; i < gv.n_levels; i++) {
		x = hi > lo ? (int)((gv.levels[i] - lo) / (hi - lo) * (w - 1)) :
		    0;
		line[x] = '|';
	}
	attron(wb_attr(WB_C_GRID));
	wb_textf(y + 1, 1, w, "%s", line);
	attroff(wb_attr(WB_C_GRID));
	{
		int cnt[512] = { 0 };

		for (j = 0; j < qk && c0 + j < cache.cols; j++) {
			x = hi > lo ? (int)((seg[j] - lo) / (hi - lo) *
			    (w - 1)) : 0;
			cnt[x]++;
		}
		for (x = 0; x < w; x++)
			line[x] = cnt[x] == 0 ? ' ' : cnt[x] < 10 ?
			    (char)('0' + cnt[x]) : '+';
	}
	wb_textf(y + 2, 1, w, "%s", line);
	wb_textf(y + 3, 1, w, "%-*.3g%*.3g", w / 2, lo, w - w / 2, hi);
}

#define OUT_MAX 256	/* outlier channels listed at most */
#define OUT_ROWS 16	/* rows of them at most */
#define OUT_W (WBINS_MAX + 1)
#define OUT_INDENT 9	/* continuation rows: the channels under the first */

/*
 * The rows of the outlier list at width w, at most max (into lines when
 * not NULL): "outliers: K of C:" then each "chJ ABSMAX (RATIOx)", largest
 * first; with none, the largest channels, named as such.  Returns the
 * rows it takes.
 */
static int
outlier_lines(const tq_outlier *top, int64_t n_out, float med,
    int64_t channels, int w, char (*lines)[OUT_W], int max)
{
	char cell[64], buf[OUT_W];
	int row = 0, len, cl;
	int64_t k, n;

	if (w > OUT_W - 1)
		w = OUT_W - 1;
	if (med > 0.0f && n_out > 0) {
		len = snprintf(buf, sizeof(buf), "outliers: %lld of %lld:",
		    (long long)n_out, (long long)channels);
		n = n_out < OUT_MAX ? n_out : OUT_MAX;
	} else if (med > 0.0f) {
		len = snprintf(buf, sizeof(buf), "outliers: none; the "
		    "largest:");
		n = channels < 3 ? channels : 3;
	} else {
		len = snprintf(buf, sizeof(buf), "outliers: none (the median "
		    "absmax is 0)");
		n = 0;
	}
	for (k = 0; k < n; k++) {
		cl = snprintf(cell, sizeof(cell), " ch%lld %.4g (%.*fx)",
		    (long long)top[k].channel, top[k].absmax,
		    top[k].ratio < 10.0f ? 1 : 0, top[k].ratio);
		if (len + cl > w) {
			if (row + 1 >= max)
				break;
			if (lines != NULL)
				memcpy(lines[row], buf, (size_t)len + 1);
			row++;
			len = snprintf(buf, sizeof(buf), "%*s", OUT_INDENT, "");
		}
		memcpy(buf + len, cell, (size_t)cl + 1);
		len += cl;
	}
	if (lines != NULL)
		memcpy(lines[row], buf, (size_t)len + 1);
	return row + 1;
}

static void
draw_outliers(int y, int w, int rows, const tq_outlier *top, int64_t n_out,
    float med, int64_t channels)
{
	static char lines[OUT_ROWS][OUT_W];
	int n, i;

	if (rows < 1)
		return;
	n = outlier_lines(top, n_out, med, channels, w, lines, rows <
	    OUT_ROWS ? rows : OUT_ROWS);
	attron(n_out > 0 ? wb_attr(WB_C_WARN) : (int)A_NORMAL);
	for (i = 0; i < n; i++)
		wb_text(y + i, 1, w, 1, lines[i]);
	attroff(wb_attr(WB_C_WARN));
}

/*
 * The absmax of every input channel, absmax[channels], as h rows of bars
 * (linear, from 0) under a title stating what an outlier is, the columns
 * of outlier channels in the warning colour, and the channels' axis.
 */
static void
draw_channels(int y, int w, int h, const float *absmax, int64_t channels,
    float med)
{
	double *ch = malloc(sizeof(double) * (size_t)channels);	/* [C] */
	float full = 0.0f;
	char buf[256];
	int i, k, n, wc = w < WBINS_MAX ? w : WBINS_MAX, attr;
	int64_t c, lo, hi;

	for (c = 0; c < channels; c++)
		full = absmax[c] > full ? absmax[c] : full;
	n = snprintf(buf, sizeof(buf), "channel absmax |x| (%lld inputs, "
	    "median %.3g); outliers: >= %.1fx the median", (long long)channels,
	    med, TQ_OUTLIER_RATIO);
	if (n + 24 <= w)
		snprintf(buf + n, sizeof(buf) - (size_t)n, ", full bar %.4g",
		    full);
	wb_text(y, 1, w, 1, buf);
	if (ch == NULL)
		return;
	for (c = 0; c < channels; c++)
		ch[c] = absmax[c];
	wb_vbars(y + 1, 1, wc, h, ch, (int)channels, 0);
	free(ch);
	attr = wb_attr(WB_C_WARN);
	for (i = 0; i < wc && med > 0.0f; i++) {
		column_channels(i, wc, channels, &lo, &hi);
		for (c = lo; c < hi && c < channels; c++)
			if (absmax[c] >= TQ_OUTLIER_RATIO * med)
				break;
		if (c < hi && c < channels)
			for (k = 0; k < h; k++)
				mvchgat(y + 1 + k, 1 + i, 1, (attr_t)attr &
				    ~A_COLOR, (short)PAIR_NUMBER(attr), NULL);
	}
	channel_axis(y + 1 + h, 1, wc, channels);
}

void
wb_detail_draw(wb_app *a, int y0, int y1)
{
	const wb_row *r = wb_browser_current(a);
	int64_t hist[TQ_HIST_BINS], channels = 0, tokens = 0, n_out = 0;
	double h[TQ_HIST_BINS];
	float *absmax = NULL, med = 0.0f;
	tq_outlier top[OUT_MAX];
	char sch[32] = "float", cov[64] = "", head[512];
	int y = y0, half = COLS / 2 - 2, have, hh, cb, orows, extra, chans, b,
	    g, i, cw = COLS - 2, wi = COLS - half - 4, lvl;

	if (r == NULL) {
		wb_text(y, 1, COLS - 1, 0, "no layer (clear the filter: Esc)");
		return;
	}
	if (r->cfg.method != TQ_METHOD_FLOAT)
		tq_scheme_name(&r->cfg.scheme, sch, sizeof(sch));
	/* an expert's coverage once quantized: its routed tokens */
	if (r->has_result && r->res.routed >= 0 && r->res.tokens > 0)
		snprintf(cov, sizeof(cov), "  routed %lld%s", (long long)
		    r->res.routed, r->res.tokens != r->res.routed ?
		    " (used all)" : "");
	/*
	 * The header: name, shape, setting, bpw, then an expert's coverage,
	 * the measured error (of the variant the browser's errors are of) and
	 * the fallback.  When it does not fit, the short name, then no SQNR:
	 * nothing is overwritten.
	 */
	for (lvl = 0; lvl < 3; lvl++) {
		int n = snprintf(head, sizeof(head), " %s [%lld x %lld]  %s %s  "
		    "%.2f bpw%s", lvl == 0 ? r->name : r->shortname,
		    (long long)r->rows, (long long)r->cols,
		    tq_method_name(r->cfg.method), sch, r->bpw, cov);

		/* the output error needs a calibration; the SQNR does not */
		if (r->has_result && isfinite(r->res.rel_err))
			n += snprintf(head + n, sizeof(head) - (size_t)n,
			    "%s err %.2e", cov[0] != '\0' ? "" : " ",
			    r->res.rel_err);
		if (r->has_result && isfinite(r->res.sqnr_db) && lvl < 2)
			n += snprintf(head + n, sizeof(head) - (size_t)n,
			    "  sqnr %.1f dB", r->res.sqnr_db);
		if (r->fell[0] != '\0')
			n += snprintf(head + n, sizeof(head) - (size_t)n,
			    "  fell back: %s", r->fell);
		if (n <= COLS)
			break;
	}
	attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
	wb_text(y++, 0, COLS, 1, head);
	attroff(wb_attr(WB_C_HEADER));
	if (!load(a, r)) {
		wb_textf(y, 1, COLS - 1, "weights: %s", r->rows * r->cols >
		    WB_WEIGHT_MAX ? "too many to draw here (the detail reads "
		    "up to 16M)" : "cannot be read");
		return;
	}
	have = wb_runs_site(a, r, hist, &absmax, &channels, &tokens);
	if (have && absmax != NULL && channels > 0 && (n_out =
	    tq_channel_outliers(absmax, channels, TQ_OUTLIER_RATIO, &med, top,
	    OUT_MAX)) < 0) {
		free(absmax);
		absmax = NULL;
	}
	chans = have && absmax != NULL && channels > 0;
	/*
	 * The rows: at 80x24 histograms of 3, channel bars of 2 and one row
	 * of outliers; a taller window gives the outliers the rows they need
	 * (up to a quarter of the extra), the histograms two thirds of the
	 * rest and the bars the others.  Rows that do not fit leave out the
	 * grid, then the candidates.
	 */
	extra = y1 - y - 19;
	hh = 3;
	cb = 2;
	orows = 1;
	if (extra > 0) {
		int need = chans ? outlier_lines(top, n_out, med, channels,
		    cw, NULL, OUT_ROWS) : 1;

		orows = need < 1 + extra / 4 ? need : 1 + extra / 4;
		extra -= orows - 1;
		hh += extra * 2 / 3;
		cb += extra - extra * 2 / 3;
	}
	if (y + 2 + hh > y1)
		goto out;
	/* weights (a bin per column) | activations (half-octave bins of |x|) */
	wb_textf(y, 1, half, "weights %.3g .. %.3g", cache.wmin, cache.wmax);
	if (have) {
		for (i = 0; i < TQ_HIST_BINS; i++)
			h[i] = (double)hist[i];
		wb_textf(y, half + 3, wi, "inputs |x|%s: %lld tokens",
		    a->calib_running ? " (live)" : "", (long long)tokens);
	} else {
		wb_text(y, half + 3, wi, 0, "inputs: calibrate (c) to see them");
	}
	y++;
	weight_hist(half < WBINS_MAX ? half : WBINS_MAX);
	wb_vbars(y, 1, half, hh, cache.hist, cache.nbins, 0);
	if (have)
		wb_vbars(y, half + 3, wi, hh, h, TQ_HIST_BINS, 1);
	y += hh;
	weight_axis(y, 1, half);
	if (have)
		input_axis(y, half + 3, wi);
	y++;
	/* per input channel absmax, the outliers' columns marked */
	if (chans && y + 3 + cb <= y1) {
		draw_channels(y, cw, cb, absmax, channels, med);
		y += 2 + cb;
		draw_outliers(y, cw, y + orows <= y1 ? orows : y1 - y, top,
		    n_out, med, channels);
		y += orows;
	}
	if (y + 4 < y1) {
		draw_grid(a, r, y, cw);
		y += 4;
	}
	/* candidates: bits x group, RTN, estimated error */
	if (y + 1 + N_CB <= y1) {
		wb_textf(y, 1, cw, "RTN error (%s)", cache.weighted ?
		    "x^2-weighted" : "weights only");
		mvprintw(y++, 36, "%9s %9s %9s %9s", "channel", "g128", "g64",
		    "g32");
		for (b = 0; b < N_CB && y < y1; b++, y++) {
			wb_textf(y, 1, 10, "  int%d", cand_bits[b]);
			move(y, 36);
			for (g = 0; g < N_CG; g++) {
				double e = cache.cand[b][g];
				int cur = r->cfg.method != TQ_METHOD_FLOAT &&
				    r->cfg.scheme.type == TQ_QT_INT &&
				    r->cfg.scheme.bits == cand_bits[b] &&
				    r->cfg.scheme.group == cand_group[g];

				attron(cur ? (int)A_REVERSE : wb_attr(e < 1e-3 ?
				    WB_C_GOOD : e < 1e-2 ? WB_C_WARN :
				    WB_C_BAD));
				if (e < 0)
					printw("%9s ", "-");
				else
					printw("%9.2e ", e);
				attroff(A_REVERSE | wb_attr(WB_C_GOOD) |
				    wb_attr(WB_C_WARN) | wb_attr(WB_C_BAD));
			}
		}
	}
out:
	free(absmax);
}

void
wb_detail_free(void)
{
	cache.w = NULL;
	cache.idx = (size_t)-1;
}

/* n p: the grid's group; ] [: its row. */
static void
grid_move(wb_app *a, int key)
{
	int64_t *v = key == 'n' || key == 'p' ? &a->detail_block :
	    &a->detail_row;

	if (key == 'n' || key == ']')
		(*v)++;
	else if (*v > 0)
		(*v)--;
}

static const wb_key keys[] = {
	{ { WB_KEY_ESC, 'h', KEY_LEFT }, wb_key_back, "back", "back",
	    WB_ALWAYS },
	{ { 'j', KEY_DOWN }, wb_browser_next, "next layer", "layer",
	    WB_ALWAYS },
	{ { 'k', KEY_UP }, wb_browser_prev, "previous layer", "layer",
	    WB_ALWAYS },
	{ { 'n' }, grid_move, "next group for the grid", "group", WB_ALWAYS },
	{ { 'p' }, grid_move, "previous group for the grid", "group",
	    WB_ALWAYS },
	{ { ']' }, grid_move, "next row for the grid", "row", WB_ALWAYS },
	{ { '[' }, grid_move, "previous row for the grid", "row", WB_ALWAYS },
	{ { 'm', 'b', 'z', 'y' }, wb_browser_edit, "edit the layer as in the "
	    "browser", "edit", WB_ALWAYS },
};

const wb_keymap wb_detail_keymap = {
	"Layer detail (2)", keys, WB_NKEYS(keys), NULL
};
