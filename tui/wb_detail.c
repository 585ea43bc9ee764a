/*
 * wb_detail.c: one layer in detail: the histogram of its weights, the
 * histogram of its calibration inputs (filling in while calibration runs)
 * and their absmax per input channel, the outlier channels against the
 * median, the grid of the planned scheme over one group of one row with
 * the weights on it, and the estimated error of candidate settings.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "wb.h"

#define WBINS 64
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
	double hist[WBINS];
	double cand[N_CB][N_CG];	/* < 0: does not fit */
	int weighted;
} cache = { (size_t)-1, NULL, NULL, 0, 0, 0, 0, { 0 }, { { 0 } }, 0 };

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
	memset(cache.hist, 0, sizeof(cache.hist));
	for (i = 0; i < n; i++) {
		double f = cache.wmax > cache.wmin ? (cache.w[i] -
		    cache.wmin) / (cache.wmax - cache.wmin) : 0.0;
		int k = (int)(f * WBINS);

		cache.hist[k >= WBINS ? WBINS - 1 : k] += 1.0;
	}
	imp = importance(a, r);
	cache.weighted = imp != NULL;
	for (b = 0; b < N_CB; b++)
		for (g = 0; g < N_CG; g++) {
			tq_scheme s = { TQ_QT_INT, cand_bits[b], cand_group[g],
			    0 };

			cache.cand[b][g] = cand_error(&s, imp, deq);
		}
	free(deq);
	return 1;
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

void
wb_detail_draw(wb_app *a, int y0, int y1)
{
	const wb_row *r = wb_browser_current(a);
	int64_t hist[TQ_HIST_BINS], channels = 0, tokens = 0;
	double h[TQ_HIST_BINS], *ch = NULL;
	float *absmax = NULL;
	char sch[32] = "float", cov[64] = "", head[512];
	int y = y0, half = COLS / 2 - 2, have, hh, b, g, i, cw = COLS - 2, lvl;

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
	/* taller windows: two thirds of the extra rows to the histograms */
	hh = y1 - y0 >= 21 ? 5 + (y1 - y0 - 21) * 2 / 3 : y1 - y0 >= 19 ?
	    4 : 3;
	/* weights (linear bins) | activations (half-octave bins of |x|) */
	wb_textf(y, 1, half, "weights %.3g .. %.3g", cache.wmin, cache.wmax);
	have = wb_runs_site(a, r, hist, &absmax, &channels, &tokens);
	if (have) {
		for (i = 0; i < TQ_HIST_BINS; i++)
			h[i] = (double)hist[i];
		wb_textf(y, half + 3, COLS - half - 3, "inputs |x|%s: %lld "
		    "tokens, log2 %.0f..%.0f", a->calib_running ? " (live)" :
		    "", (long long)tokens, TQ_HIST_LOG2_LO, TQ_HIST_LOG2_HI);
	} else {
		wb_text(y, half + 3, COLS - half - 3, 0, "inputs: calibrate "
		    "(c) to see them");
	}
	y++;
	wb_vbars(y, 1, half, hh, cache.hist, WBINS, 0);
	if (have)
		wb_vbars(y, half + 3, COLS - half - 4, hh, h, TQ_HIST_BINS, 1);
	y += hh;
	/* per input channel absmax, and the outliers */
	if (have && absmax != NULL && channels > 0 &&
	    (ch = malloc(sizeof(double) * (size_t)channels)) != NULL) {
		float *sorted = malloc(sizeof(float) * (size_t)channels);
		double med = 0;
		int64_t c, top[5] = { -1, -1, -1, -1, -1 };
		char buf[256];
		size_t n = 0;

		for (c = 0; c < channels; c++)
			ch[c] = absmax[c];
		if (sorted != NULL) {
			int64_t k, m;

			memcpy(sorted, absmax, sizeof(float) *
			    (size_t)channels);
			/* the median by partial selection is not needed
			 * here: channels are few; insertion into top-5 */
			for (k = 0; k < channels; k++)
				for (m = 0; m < 5; m++)
					if (top[m] < 0 || absmax[k] >
					    absmax[top[m]]) {
						memmove(top + m + 1, top + m,
						    sizeof(top[0]) *
						    (size_t)(4 - m));
						top[m] = k;
						break;
					}
			for (k = 1; k < channels; k++) {
				float v = sorted[k];

				for (m = k; m > 0 && sorted[m - 1] > v; m--)
					sorted[m] = sorted[m - 1];
				sorted[m] = v;
			}
			med = sorted[channels / 2];
			free(sorted);
		}
		wb_textf(y++, 1, cw, "input channel absmax (%lld channels, "
		    "median %.3g)", (long long)channels, med);
		/* and a third to the channels' bars */
		wb_vbars(y, 1, cw, hh > 3 ? 3 + (hh - 5) / 2 : 2, ch,
		    (int)channels, 0);
		y += hh > 3 ? 3 + (hh - 5) / 2 : 2;
		n = (size_t)snprintf(buf, sizeof(buf), "outliers:");
		for (i = 0; i < 5 && top[i] >= 0 && n < sizeof(buf); i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			    " ch%lld %.2g (%.1fx)", (long long)top[i],
			    absmax[top[i]], med > 0 ? absmax[top[i]] / med :
			    0.0);
		attron(r->n_outliers > 0 ? wb_attr(WB_C_WARN) : (int)A_NORMAL);
		wb_text(y++, 1, cw, 0, buf);
		attroff(wb_attr(WB_C_WARN));
		free(ch);
	}
	free(absmax);
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
