/*
 * wb_teach.c: teaching mode, on the real weights of the current layer.
 *
 * The index lists the lessons (the table `lessons`, below), what each
 * needs and the layer of the model that shows its effect best;
 *
 *   group     one group of 32 weights quantized to int4 step by step:
 *             values and the group as points on the grid's number line,
 *             range, scale and zero point, codes, dequantized values,
 *             error (n advances a step), all 32 in sight at 80x24;
 *   granul.   the same row under one scale per tensor, per row and per
 *             group of 128 and 32, with each one's error and cost;
 *   meta      what the scales cost: their count, bits and bytes per
 *             tensor, row, g128, g64 and g32, from tq_scheme_bpw;
 *   K-quants  q4_k_m's type of every layer (the engine's preset, resolved
 *             on the model), and the layer under each K-quant type;
 *   MX        the group on int4-g32's, mxfp4's and nvfp4's grids, then
 *             the layer on each;
 *   GPTQ      GPTQ against RTN on the first 12 columns of one row, a
 *             column per key press: each column is rounded, and its error,
 *             scaled through the Cholesky factor of H^-1 (H = X^T X of the
 *             layer's real inputs on a calibration sample, restricted to
 *             these columns), is taken off the columns not yet rounded;
 *             the output error ||(w - q) X||^2 / ||w X||^2 on those inputs
 *             is shown for both.  The steps are the engine's GPTQ run on
 *             those 12 columns as a row of their own (tq_gptq_trace_row);
 *   AWQ       AWQ on the current layer: its salient input channels (the
 *             largest mean |x| of the calibration), the scales
 *             s = mean|x|^alpha for alpha 0 to 1, and the output error of
 *             RTN on int4-g128 with each (alpha 0 is plain RTN), on H of
 *             the layer's inputs as in the GPTQ lesson, both by the
 *             engine's search (tq_awq_trace_layer).  The engine searches
 *             20 alphas over the layers sharing the input (core/awq.c);
 *   side by side  Enter quantizes the layer alone with RTN, GPTQ and
 *             AWQ at g128 and g64 (six engine jobs in turn) and sets
 *             their bytes against their output error;
 *   domain    domain mismatch: Enter runs six engine jobs in turn
 *             (calibrate on prose and on code, quantize the same plan
 *             with each, validate both against the fp model on a slice
 *             of a prose and of a code test text) and the table puts
 *             perplexity, KLD and top-token agreement side by side.
 *
 * The numbers are the engine's (tq_quant_view, tq_scheme_bpw,
 * tq_site_hessian and the traces); what is computed here is only counting,
 * sums and ratios of them, and the number line's columns.  The scale is rounded to
 * fp16 as exported checkpoints store it, so a hand computation from the
 * shown min and max can differ in the last digits.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "wb.h"

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

/* ---- Lesson 1: one group, step by step --------------------------------- */

#define CELL 8		/* a number in 7 columns and a space */
#define LABEL 9		/* "x 24-31" before the numbers */

enum { K_VAL, K_CODE, K_DEQ, K_ERR, K_N };	/* the kinds of line */

/* The lesson's group: row teach_row, columns 0..GROUP-1, on int4. */
static struct {
	float x[GROUP], dq[GROUP], e[GROUP];	/* weights, dequantized, error */
	uint8_t code[GROUP];
	int imin, imax;		/* the smallest and the largest weight */
	float lo, hi;		/* the range, kept to include 0 */
	int dec;		/* decimals that fit 7 columns */
	tq_group_view gv;	/* scale, zero and the 16 levels */
	tq_weight_err we;
} g1;

/* Decimals that keep each of v[n] (and its sign) within 7 columns. */
static int
decimals(const float *v, int n)
{
	float m = 0;
	int i;

	for (i = 0; i < n; i++)
		m = fabsf(v[i]) > m ? fabsf(v[i]) : m;
	return m < 10 ? 4 : m < 100 ? 3 : m < 1000 ? 2 : 0;
}

/* Rounds the group through the engine; 0 if it cannot. */
static int
group_load(int64_t row)
{
	tq_scheme s = { TQ_QT_INT, 4, GROUP, 0 };
	tq_error err;
	float *deq;
	uint8_t *codes;
	int64_t n = tw.rows * tw.cols;
	int i, ok;

	deq = malloc(sizeof(float) * (size_t)n);	/* [rows, cols] */
	codes = malloc((size_t)n);			/* [rows, cols] */
	ok = deq != NULL && codes != NULL && tq_quant_view(&s, tw.w, tw.rows,
	    tw.cols, row, 0, deq, codes, &g1.gv, &err) == TQ_OK;
	if (ok) {
		memcpy(g1.x, tw.w + row * tw.cols, sizeof(g1.x));
		memcpy(g1.dq, deq + row * tw.cols, sizeof(g1.dq));
		memcpy(g1.code, codes + row * tw.cols, sizeof(g1.code));
	}
	free(deq);
	free(codes);
	if (!ok)
		return 0;
	g1.imin = g1.imax = 0;
	for (i = 0; i < GROUP; i++) {
		g1.imin = g1.x[i] < g1.x[g1.imin] ? i : g1.imin;
		g1.imax = g1.x[i] > g1.x[g1.imax] ? i : g1.imax;
		g1.e[i] = g1.x[i] - g1.dq[i];
	}
	g1.lo = g1.x[g1.imin] < 0 ? g1.x[g1.imin] : 0.0f;
	g1.hi = g1.x[g1.imax] > 0 ? g1.x[g1.imax] : 0.0f;
	g1.dec = decimals(g1.x, GROUP);
	tq_weight_error(g1.x, g1.dq, GROUP, &g1.we);
	return 1;
}

/* One line of a kind for weights k..k+per-1, under the same columns. */
static void
group_line(int y, int kind, int k, int per)
{
	static const char *const label[K_N] = { "", " code", " deq", " err" };
	const float *v = kind == K_DEQ ? g1.dq : kind == K_ERR ? g1.e : g1.x;
	char lab[16];
	int i, x = 1 + LABEL, hot;

	if (kind == K_VAL)
		snprintf(lab, sizeof(lab), "x %d-%d", k, k + per < GROUP ?
		    k + per - 1 : GROUP - 1);
	else
		snprintf(lab, sizeof(lab), "%s", label[kind]);
	wb_text(y, 1, LABEL, 1, lab);
	for (i = k; i < k + per && i < GROUP; i++, x += CELL) {
		/* the minimum and the maximum the lesson talks about */
		hot = kind == K_VAL && (i == g1.imin || i == g1.imax);
		if (hot)
			attron(wb_attr(WB_C_WARN) | A_BOLD);
		if (kind == K_CODE)
			mvprintw(y, x, "%7d", g1.code[i]);
		else
			mvprintw(y, x, "%7.*f", g1.dec, v[i]);
		if (hot)
			attroff(wb_attr(WB_C_WARN) | A_BOLD);
	}
}

/* Column of v on a line of w columns from lo to hi. */
static int
line_col(float v, float lo, float hi, int w)
{
	double f = hi > lo ? (v - lo) / (hi - lo) : 0.5;

	return (int)lround((f < 0 ? 0 : f > 1 ? 1 : f) * (w - 1));
}

/* Writes s into the w columns of buf at c, or ending at c when no room. */
static void
put_label(char *buf, int w, int c, const char *s)
{
	int n = (int)strlen(s), i;

	if (c + n > w)
		c = c - n + 1 < 0 ? 0 : c - n + 1;
	for (i = 0; i < n && c + i < w; i++)
		buf[c + i] = s[i];
}

/*
 * The group as points on a number line over w columns at (y, x), three
 * lines: a point a weight ('*', or how many share the column), the axis
 * with the grid's levels as '|' (n_levels 0: none yet), and the range's
 * min and max and the value 0 named under their columns.
 */
static void
number_line(int y, int x, int w, const float *v, int n, float lo, float hi,
    const float *levels, int n_levels)
{
	char buf[512], lab[32];
	int cnt[512], i, c, c0;
	float l = lo, h = hi;

	if (w > (int)sizeof(buf) - 1)
		w = (int)sizeof(buf) - 1;
	if (w < 20)
		return;
	if (n_levels > 0) {
		l = levels[0] < l ? levels[0] : l;
		h = levels[n_levels - 1] > h ? levels[n_levels - 1] : h;
	}
	memset(cnt, 0, sizeof(cnt));
	for (i = 0; i < n; i++)
		cnt[line_col(v[i], l, h, w)]++;
	for (c = 0; c < w; c++) {
		int hot = cnt[c] > 0 && (c == line_col(lo, l, h, w) ||
		    c == line_col(hi, l, h, w));

		if (hot)
			attron(wb_attr(WB_C_WARN) | A_BOLD);
		mvaddch(y, x + c, cnt[c] == 0 ? ' ' : cnt[c] == 1 ? '*' :
		    cnt[c] < 10 ? '0' + cnt[c] : '#');
		if (hot)
			attroff(wb_attr(WB_C_WARN) | A_BOLD);
	}
	memset(buf, ' ', (size_t)w);
	buf[w] = '\0';
	for (c = line_col(lo, l, h, w); c <= line_col(hi, l, h, w); c++)
		buf[c] = '-';
	for (i = 0; i < n_levels; i++)
		buf[line_col(levels[i], l, h, w)] = '|';
	attron(wb_attr(WB_C_GRID));
	wb_text(y + 1, x, w, 0, buf);
	attroff(wb_attr(WB_C_GRID));
	memset(buf, ' ', (size_t)w);
	snprintf(lab, sizeof(lab), "min %.4f", lo);
	put_label(buf, w, line_col(lo, l, h, w), lab);
	snprintf(lab, sizeof(lab), "max %.4f", hi);
	c = line_col(hi, l, h, w);
	put_label(buf, w, c - (int)strlen(lab) + 1 < 0 ? 0 :
	    c - (int)strlen(lab) + 1, lab);
	/* 0 where it does not run into min or max */
	c0 = line_col(0.0f, l, h, w);
	if (c0 > 0 && c0 < w - 1 && buf[c0 - 1] == ' ' && buf[c0] == ' ' &&
	    buf[c0 + 1] == ' ')
		buf[c0] = '0';
	wb_text(y + 2, x, w, 0, buf);
}

static void
lesson_group(wb_app *a, const wb_row *r, int y, int y1)
{
	static const char *const next[STEPS - 1] = {
		"n: the range, and the grid's 16 levels over it",
		"n: each weight to a code: clamp(round(x / scale) + zero, 0, 15)",
		"n: back to floats: deq = scale * (code - zero)",
		"n: what rounding lost: err = x - deq",
	};
	tq_scheme s = { TQ_QT_INT, 4, GROUP, 0 };
	int64_t row = a->teach_row % tw.rows;
	int per = (COLS - 2 - LABEL) / CELL, lines, kinds[K_N], nk = 0, k, i;
	int step = a->teach_step;

	if (tw.cols % GROUP != 0) {
		wb_text(y, 1, COLS - 2, 0, "this layer's width is not a "
		    "multiple of 32: pick another (j/k in the browser)");
		return;
	}
	if (!group_load(row))
		return;
	per = per > 16 ? 16 : per < 4 ? 4 : per;
	lines = (GROUP + per - 1) / per;
	/* the kinds of line this step shows */
	kinds[nk++] = K_VAL;
	if (step >= 2)
		kinds[nk++] = K_CODE;
	if (step >= 3)
		kinds[nk++] = K_DEQ;
	if (step >= 4)
		kinds[nk++] = K_ERR;
	/*
	 * Title, number line, scale, the lines, the last line: without room
	 * for all, the error takes the dequantized values' place (they were
	 * the step before), so every weight stays in sight.
	 */
	if (nk == 4 && 1 + 3 + 1 + nk * lines + 1 > y1 - y)
		kinds[2] = kinds[--nk];
	wb_textf(y++, 1, COLS - 2, "%s row %lld, columns 0-31 -> int4, one "
	    "scale+zero (step %d/%d)", r->shortname, (long long)row,
	    step + 1, STEPS);
	number_line(y, 1 + LABEL, COLS - 2 - LABEL - 1, g1.x, GROUP, g1.lo,
	    g1.hi, g1.gv.levels, step >= 1 ? g1.gv.n_levels : 0);
	wb_text(y, 1, LABEL, 0, "points");
	if (step >= 1)
		wb_text(y + 1, 1, LABEL, 0, "levels");
	y += 3;
	if (step >= 1)
		wb_textf(y, 1, COLS - 2, "scale = (max - min) / 15 = %.6f   "
		    "zero = round(-min / scale) = %d", g1.gv.scale, g1.gv.zero);
	y++;
	for (k = 0; k < GROUP; k += per)
		for (i = 0; i < nk && y < y1 - 1; i++)
			group_line(y++, kinds[i], k, per);
	if (step < STEPS - 1) {
		wb_text(y1 - 1, 1, COLS - 2, 0, next[step]);
		return;
	}
	attron(wb_attr(WB_C_WARN));
	wb_textf(y1 - 1, 1, COLS - 2, "rms err %.5f  max %.5f  SQNR %.1f dB,"
	    " at %.2f bits per weight", sqrt(g1.we.err_sq / GROUP),
	    g1.we.max_abs, isfinite(g1.we.sqnr_db) ? g1.we.sqnr_db : 0.0,
	    tq_scheme_bpw(&s, tw.rows, tw.cols));
	attroff(wb_attr(WB_C_WARN));
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
	int64_t row = a->teach_row % tw.rows, n = tw.rows * tw.cols;
	float *deq = malloc(sizeof(float) * (size_t)n);	/* [rows, cols] */
	double res[4], worst = 0;
	size_t k;

	wb_textf(y++, 1, COLS - 2, "%s row %lld: the same 4 bits, scales "
	    "shared by fewer weights", r->shortname, (long long)row);
	y++;
	if (deq == NULL)
		return;
	for (k = 0; k < 4; k++) {
		tq_scheme s;
		tq_weight_err we;
		tq_error err;

		res[k] = -1;
		if (tq_scheme_parse(names[k], &s, &err) != TQ_OK ||
		    tq_quant_view(&s, tw.w, tw.rows, tw.cols, 0, 0, deq, NULL,
		    NULL, &err) != TQ_OK)
			continue;
		tq_weight_error(tw.w + row * tw.cols, deq + row * tw.cols,
		    tw.cols, &we);
		res[k] = we.rel;
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
		wb_text(y, 1, COLS - 2, 0, "Smaller groups follow the local "
		    "range: less error, a few more bits.");
}


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
	tq_scheme s = { TQ_QT_INT, 4, TQ_GROUP_CHANNEL, 0 };
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
	    tw.w + wrow * tw.cols, H, GB, NULL, &gq.tr, &err) != TQ_OK)
		return 0;
	gq.ok = 1;
	return 1;
}

static void
lesson_gptq(wb_app *a, const wb_row *r, int y, int y1)
{
	int64_t wrow = a->teach_row % tw.rows;
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
	w0 = tw.w + wrow * tw.cols;
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
#define AWQ_STEPS 3

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
	if (tq_awq_trace_layer(&sch, tw.w, r->rows, C, H, st->mean_abs,
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

static void
lesson_awq(wb_app *a, const wb_row *r, int y, int y1)
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

/* ---- Lessons that run engine jobs, one after another ------------------ */

/* A lesson's jobs, one at a time, as the run WB_RUN_TEACH. */
typedef struct chain {
	const char *name;		/* "domain lesson" */
	int n;				/* its steps */
	const char *const *what;	/* [n] each step, for the user */
	int (*start)(wb_app *a);	/* starts step's job; 0 and a message
					   when it cannot */
	void (*take)(wb_app *a, tq_job *job);	/* the job ended well */
	void (*end)(wb_app *a);		/* after the last step */
	int step;		/* the job running (n: none) */
	int running, ok;	/* a job is going on; the last one ended well */
	int cancelled;		/* the user cancelled: no next step */
	int held;		/* step ended while "cancel the run?" was
				   open: the next waits for the answer */
	int stopped;		/* the step it stopped at, or -1 */
	int after;		/* it stopped after that step, not in it */
} chain;

static chain *run_chain;	/* the chain whose jobs run, or ran last */

/* Starts c's current step. */
static int
chain_start(wb_app *a, chain *c)
{
	if (!c->start(a))
		return 0;
	wb_log(a, "%s %d/%d: %s", c->name, c->step + 1, c->n,
	    c->what[c->step]);
	c->running = 1;
	c->ok = 0;
	return 1;
}

/* Runs c from its first step; 0 when it cannot start. */
static int
chain_begin(wb_app *a, chain *c)
{
	run_chain = c;
	c->step = 0;
	c->cancelled = 0;
	c->held = 0;
	c->stopped = -1;
	if (!chain_start(a, c)) {
		c->step = c->n;
		return 0;
	}
	return 1;
}

/* The chain ends at its step, cancelled or failed. */
static void
chain_stop(wb_app *a, chain *c, int after)
{
	const char *how = c->cancelled ? "cancelled" : "stopped";

	c->running = 0;
	c->held = 0;
	c->stopped = c->step;
	c->after = after;
	wb_message(a, !c->cancelled, "%s %s %s %d/%d: %s", c->name, how,
	    after ? "after" : "at", c->step + 1, c->n, c->what[c->step]);
	wb_log(a, "%s %s %s %d/%d", c->name, how, after ? "after" : "at",
	    c->step + 1, c->n);
	c->step = c->n;
	if (a->run == WB_RUN_TEACH && a->job == NULL)
		a->run = WB_RUN_NONE;	/* it was waiting for the answer */
}

void
wb_teach_job_done(wb_app *a, tq_job *job)
{
	if (run_chain == NULL || run_chain->step >= run_chain->n)
		return;
	run_chain->take(a, job);
	run_chain->ok = 1;
}

void
wb_teach_cancel(wb_app *a)
{
	chain *c = run_chain;

	if (c == NULL || !c->running)
		return;
	c->cancelled = 1;
	if (c->held)
		chain_stop(a, c, 1);	/* no job: nothing else ends it */
}

void
wb_teach_next(wb_app *a)
{
	chain *c = run_chain;

	if (c == NULL || !c->running)
		return;
	if (c->held) {
		/* still asked; a yes went to wb_teach_cancel */
		if (a->prompt == WB_PROMPT_CONFIRM_CANCEL)
			return;
		c->held = 0;
		a->run = WB_RUN_NONE;
	} else if (!c->ok || c->cancelled) {
		/* a step that ended well just as it was cancelled ends it */
		chain_stop(a, c, 0);
		return;
	} else if (c->step + 1 < c->n &&
	    a->prompt == WB_PROMPT_CONFIRM_CANCEL) {
		/*
		 * Ctrl-C asked "cancel the run?" during this step: the next
		 * one does not start behind the question.  The run stays on
		 * (no job) until the answer: yes stops here, no goes on.
		 */
		c->held = 1;
		wb_runs_begin(a, WB_RUN_TEACH, "waiting");
		wb_log(a, "%s %d/%d done: waiting for the answer", c->name,
		    c->step + 1, c->n);
		return;
	}
	if (++c->step < c->n) {
		if (!chain_start(a, c)) {
			c->running = 0;
			c->step = c->n;
		}
		return;
	}
	c->running = 0;
	c->end(a);
}

/*
 * The chain's state for its lesson: waiting for y/n, running, stopped;
 * 0 when none of these (the lesson says what Enter does).
 */
static int
chain_line(int y, const chain *c)
{
	if (c->held)
		wb_textf(y, 1, COLS - 2, "%d/%d done: %s; the next step "
		    "waits for y/n", c->step + 1, c->n, c->what[c->step]);
	else if (c->running)
		wb_textf(y, 1, COLS - 2, "running %d/%d: %s ... (Ctrl-C "
		    "cancels)", c->step + 1, c->n, c->what[c->step]);
	else if (c->stopped >= 0)
		wb_textf(y, 1, COLS - 2, "%s %s %d/%d: %s  (Enter: again)",
		    c->cancelled ? "cancelled" : "stopped", c->after ? "after" :
		    "at", c->stopped + 1, c->n, c->what[c->stopped]);
	else
		return 0;
	return 1;
}

/* ---- Lesson 5: domain mismatch, prose against code --------------------- */

#define DM_SAMPLES 16
#define DM_SEQLEN 512
#define DM_CTX 256
#define DM_TOKENS 4096

/* The steps, each one engine job, in order. */
enum {
	DM_CAL_PROSE = 0, DM_CAL_CODE, DM_Q_PROSE, DM_Q_CODE, DM_EVAL_PROSE,
	DM_EVAL_CODE, DM_DONE
};

static const char *const dm_what[DM_DONE] = {
	"calibrate on prose", "calibrate on code", "quantize, prose calibration",
	"quantize, code calibration", "evaluate on prose", "evaluate on code"
};

/* [calibration text, evaluation text] of each domain, in the corpora */
static const char *const dm_text[2][2] = {
	{ "wikitext2-valid.txt", "wikitext2-test.txt" },
	{ "linux-train.txt", "linux-test.txt" },
};

static int dm_start_step(wb_app *a);
static void dm_take(wb_app *a, tq_job *job);
static void dm_end(wb_app *a);

static struct {
	chain ch;		/* its steps: DM_* */
	char dir[400];
	char plan_name[96];
	tq_plan *plan;		/* the plan quantized both ways */
	tq_calib *calib[2];	/* [prose, code] */
	tq_qstate *state[2];
	tq_model *qm[2];	/* the states applied, while evaluating */
	tq_validation val[2];	/* on [prose, code] text */
	int have[2];
} dm = { .ch = { "domain lesson", DM_DONE, dm_what, dm_start_step, dm_take,
    dm_end, DM_DONE, 0, 0, 0, 0, -1, 0 } };

static void
dm_clear(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		tq_model_close(dm.qm[i]);
		dm.qm[i] = NULL;
		tq_state_free(dm.state[i]);
		dm.state[i] = NULL;
		tq_calib_free(dm.calib[i]);
		dm.calib[i] = NULL;
		dm.have[i] = 0;
	}
	tq_plan_free(dm.plan);
	dm.plan = NULL;
}

/* Starts the job of dm.ch.step; 0 and a message when it cannot. */
static int
dm_start_step(wb_app *a)
{
	tq_error err = { TQ_OK, "" };
	char path[512];
	int d = dm.ch.step % 2;
	tq_status st;

	if (dm.ch.step == DM_CAL_PROSE || dm.ch.step == DM_CAL_CODE) {
		tq_calib_opts o = TQ_CALIB_OPTS_INIT;

		o.n_samples = DM_SAMPLES;
		o.seqlen = DM_SEQLEN;
		snprintf(path, sizeof(path), "%s/%s", dm.dir, dm_text[d][0]);
		st = tq_job_calibrate(a->model, path, &o, NULL, &a->job, &err);
	} else if (dm.ch.step == DM_Q_PROSE || dm.ch.step == DM_Q_CODE) {
		/* block by block: the lesson compares measured errors */
		st = tq_job_quantize(a->model, dm.plan, dm.calib[d], NULL,
		    TQ_QUANTIZE_SEQUENTIAL, &a->job, &err);
	} else {
		tq_validate_spec vs = TQ_VALIDATE_SPEC_INIT;
		const tq_model *ms[2];
		int i;

		for (i = 0; i < 2; i++)
			if (dm.qm[i] == NULL && tq_model_apply_state(a->model,
			    dm.state[i], &dm.qm[i], &err) != TQ_OK) {
				wb_message(a, 1, "domain lesson: %s", err.msg);
				return 0;
			}
		ms[0] = dm.qm[0];
		ms[1] = dm.qm[1];
		snprintf(path, sizeof(path), "%s/%s", dm.dir, dm_text[d][1]);
		vs.base = a->model;
		vs.models = ms;
		vs.n_models = 2;
		vs.text_path = path;
		vs.opts.protocol = TQ_PROTOCOL_GPTQ;
		vs.opts.ctx = DM_CTX;
		vs.opts.max_tokens = DM_TOKENS;
		st = tq_job_validate(&vs, &a->job, &err);
	}
	if (st != TQ_OK) {
		wb_message(a, 1, "domain lesson: %s", err.msg);
		return 0;
	}
	wb_runs_begin(a, WB_RUN_TEACH, dm.ch.step < DM_Q_PROSE ? "calibrate" :
	    dm.ch.step < DM_EVAL_PROSE ? "quantize" : "validate");
	return 1;
}

/*
 * The share of the plan's quantized weights whose method uses the
 * calibration (GPTQ, AWQ, SmoothQuant, RTN with an importance matrix).
 */
static double
calib_share(const wb_app *a)
{
	double all = 0.0, cal = 0.0;
	size_t i;

	for (i = 0; i < a->n_rows; i++) {
		const wb_row *r = &a->rows[i];
		double w = (double)r->rows * (double)r->cols;

		if (r->cfg.method == TQ_METHOD_FLOAT)
			continue;
		all += w;
		if (r->cfg.method != TQ_METHOD_RTN || r->cfg.use_imatrix)
			cal += w;
	}
	return all > 0.0 ? cal / all : 0.0;
}

int
wb_teach_domain_start(wb_app *a, const char *dir)
{
	tq_error err = { TQ_OK, "" };
	char path[512];
	double share;
	int d, k;

	if (wb_runs_busy(a)) {
		wb_message(a, 1, "a run is going on (Ctrl-C cancels it)");
		return 0;
	}
	for (d = 0; d < 2; d++)
		for (k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "%s/%s", dir, dm_text[d][k]);
			if (access(path, R_OK) != 0) {
				wb_message(a, 1, "domain lesson: %s: cannot read "
				    "it", path);
				return 0;
			}
		}
	dm_clear();
	snprintf(dm.dir, sizeof(dm.dir), "%s", dir);
	/*
	 * The workbench's plan when calibration matters to it: when most of
	 * its quantized weights go through a method that uses calibration.
	 */
	share = calib_share(a);
	if (share >= 0.5) {
		snprintf(dm.plan_name, sizeof(dm.plan_name), "%.90s%s",
		    a->plan.origin, wb_plan_edited(&a->plan) ? " *" : "");
		if (tq_plan_parse(a->plan.json, strlen(a->plan.json),
		    dm.plan_name, &dm.plan, &err) != TQ_OK) {
			wb_message(a, 1, "domain lesson: %s", err.msg);
			return 0;
		}
	} else {
		snprintf(dm.plan_name, sizeof(dm.plan_name), "preset w4-gptq "
		    "(only %.0f%% of the plan uses calibration)", share * 100.0);
		if (tq_plan_preset("w4-gptq", &dm.plan, &err) != TQ_OK) {
			wb_message(a, 1, "domain lesson: %s", err.msg);
			return 0;
		}
	}
	return chain_begin(a, &dm.ch);
}

static void
dm_take(wb_app *a, tq_job *job)
{
	int d = dm.ch.step % 2;

	(void)a;
	if (dm.ch.step == DM_CAL_PROSE || dm.ch.step == DM_CAL_CODE) {
		dm.calib[d] = tq_job_take_calib(job);
	} else if (dm.ch.step == DM_Q_PROSE || dm.ch.step == DM_Q_CODE) {
		dm.state[d] = tq_job_take_state(job);
	} else {
		dm.val[d] = *tq_job_validation(job);
		dm.val[d].longctx = NULL;	/* none asked for */
		dm.val[d].n_longctx = 0;
		dm.have[d] = 1;
	}
}

static void
dm_end(wb_app *a)
{
	tq_model_close(dm.qm[0]);
	tq_model_close(dm.qm[1]);
	dm.qm[0] = dm.qm[1] = NULL;
	wb_message(a, 0, "domain lesson done (5: teach)");
}

/*
 * What the two ratios say (KLD of the other domain's calibration over the
 * own one's, on prose and on code); 10% either way counts as a win.
 */
static const char *
verdict(double rp, double rc)
{
	static const char *const who[2][3] = {	/* [text][own, other, tie] */
		{ "the prose calibration wins", "the code calibration wins",
		    "the two are within 10%" },
		{ "the code calibration wins", "the prose calibration wins",
		    "the two are within 10%" },
	};
	static char buf[160];
	int wp = rp >= 1.1 ? 0 : rp <= 1 / 1.1 ? 1 : 2;
	int wc = rc >= 1.1 ? 0 : rc <= 1 / 1.1 ? 1 : 2;

	if (!(rp > 0) || !(rc > 0) || !isfinite(rp) || !isfinite(rc))
		return "A KLD of 0: a variant matches the fp model here.";
	if (wp == 0 && wc == 0)
		return "Each calibration wins on its own domain: the rounding "
		    "protects what it saw.";
	if (wp == 2 && wc == 2)
		return "Within 10% on both texts: the calibration's domain "
		    "barely matters to this plan.";
	if (wp == 1 && wc == 1)
		return "Each calibration loses on its own domain: too few "
		    "samples to tell.";
	snprintf(buf, sizeof(buf), "On prose %s; on code %s.", who[0][wp],
	    who[1][wc]);
	return buf;
}

static void
lesson_domain(int y, int y1)
{
	static const char *const rows[2] = { "prose", "code" };
	int i, t;

	wb_textf(y++, 1, COLS - 2, "Calibrate on prose (%s) and on code (%s),",
	    dm_text[0][0], dm_text[1][0]);
	wb_textf(y++, 1, COLS - 2, "%d x %d tokens each; quantize the same "
	    "plan with each; evaluate", DM_SAMPLES, DM_SEQLEN);
	wb_textf(y++, 1, COLS - 2, "both on %d tokens of %s and %s, ctx "
	    "%d.", DM_TOKENS, dm_text[0][1], dm_text[1][1], DM_CTX);
	y++;
	if (chain_line(y, &dm.ch))
		y++;
	else if (dm.plan == NULL)
		wb_text(y++, 1, COLS - 2, 0, "Enter: run it (about a minute)");
	else
		wb_textf(y++, 1, COLS - 2, "plan: %s  (Enter: again)",
		    dm.plan_name);
	y++;
	if (!dm.have[0] && !dm.have[1])
		return;
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%-14s %-26s %-26s", "calibrated on",
	    " on prose (wikitext2-test)", " on code (linux-test)");
	wb_textf(y++, 1, COLS - 2, "%-14s %9s %8s %7s %9s %8s %7s", "",
	    "ppl", "KLD", "top1", "ppl", "KLD", "top1");
	attroff(wb_attr(WB_C_HEADER));
	move(y, 1);
	printw("%-14s", "fp16");
	for (t = 0; t < 2; t++)
		if (dm.have[t])
			printw(" %9.3f %8s %7s", dm.val[t].base.ppl, "", "");
	y++;
	for (i = 0; i < 2 && y < y1; i++, y++) {
		move(y, 1);
		printw("%-14s", rows[i]);
		for (t = 0; t < 2; t++) {
			const tq_kld_result *k = &dm.val[t].models[i];
			/* the better of the two on this text */
			int better = k->kld <= dm.val[t].models[1 - i].kld;

			if (!dm.have[t])
				continue;
			if (better)
				attron(wb_attr(WB_C_GOOD));
			printw(" %9.3f %8.5f %6.2f%%", k->ppl.ppl, k->kld,
			    100.0 * k->same_top);
			if (better)
				attroff(wb_attr(WB_C_GOOD));
		}
	}
	if (dm.have[0] && dm.have[1] && y + 1 < y1) {
		double rp = dm.val[0].models[1].kld / dm.val[0].models[0].kld;
		double rc = dm.val[1].models[0].kld / dm.val[1].models[1].kld;

		y++;
		wb_textf(y++, 1, COLS - 2, "KLD of the mismatched calibration: "
		    "%.2fx on prose, %.2fx on code", rp, rc);
		if (y < y1)
			wb_text(y, 1, COLS - 2, 0, verdict(rp, rc));
	}
}

/*
 * The relative weight error of the current layer rounded onto scheme
 * `name` (deq: room for its [rows, cols]); -1 when it does not fit.
 */
static double
layer_error(const char *name, float *deq)
{
	tq_scheme s;
	tq_weight_err we;
	tq_error err;

	if (deq == NULL || tq_scheme_parse(name, &s, &err) != TQ_OK ||
	    tq_scheme_check(&s, tw.rows, tw.cols, &err) != TQ_OK ||
	    tq_quant_view(&s, tw.w, tw.rows, tw.cols, 0, 0, deq, NULL, NULL,
	    &err) != TQ_OK)
		return -1;
	tq_weight_error(tw.w, deq, tw.rows * tw.cols, &we);
	return we.rel;
}

/* ---- Lesson 3: what the scales cost, in bytes ------------------------- */

#define META_N 5

static const char *const meta_names[META_N] = {
	"int4-tensor", "int4", "int4-g128", "int4-g64", "int4-g32"
};

static struct {
	size_t idx;		/* browser row it was made for */
	double scales[META_N];	/* how many scales (and zeros) */
	double bytes[META_N];	/* of scales and zeros, in the layer */
	double bpw[META_N];
	double err[META_N];	/* relative weight error, -1: does not fit */
	double model[META_N];	/* bytes of scales over the model's blocks */
	double model_all[META_N];	/* and of the blocks' whole weights */
} mt = { (size_t)-1, { 0 }, { 0 }, { 0 }, { 0 }, { 0 }, { 0 } };

/* Scales of s on a [rows, cols] weight: one a tensor, a row or a group. */
static double
n_scales(const tq_scheme *s, int64_t rows, int64_t cols)
{
	if (s->group == TQ_GROUP_TENSOR)
		return 1;
	if (s->group == TQ_GROUP_CHANNEL)
		return (double)rows;
	return (double)rows * (double)((cols + s->group - 1) / s->group);
}

static void
meta_prepare(wb_app *a, const wb_row *r)
{
	float *deq;
	size_t i;
	int k;

	if (mt.idx == r->idx)
		return;
	mt.idx = r->idx;
	deq = malloc(sizeof(float) * (size_t)(tw.rows * tw.cols));
	for (k = 0; k < META_N; k++) {
		tq_scheme s;
		tq_error err;
		double n = (double)tw.rows * (double)tw.cols;

		mt.err[k] = -1;
		mt.scales[k] = mt.bytes[k] = mt.bpw[k] = 0;
		mt.model[k] = mt.model_all[k] = 0;
		if (tq_scheme_parse(meta_names[k], &s, &err) != TQ_OK)
			continue;
		/* the bits the engine counts beyond the codes' */
		mt.bpw[k] = tq_scheme_bpw(&s, tw.rows, tw.cols);
		mt.bytes[k] = (mt.bpw[k] - s.bits) * n / 8;
		mt.scales[k] = n_scales(&s, tw.rows, tw.cols);
		for (i = 0; i < a->n_rows; i++) {
			const wb_row *o = &a->rows[i];
			double on = (double)o->rows * (double)o->cols;
			double b = tq_scheme_bpw(&s, o->rows, o->cols);

			if (o->block < 0 || tq_scheme_check(&s, o->rows,
			    o->cols, &err) != TQ_OK)
				continue;
			mt.model[k] += (b - s.bits) * on / 8;
			mt.model_all[k] += b * on / 8;
		}
		mt.err[k] = layer_error(meta_names[k], deq);
	}
	free(deq);
}

static void
lesson_meta(wb_app *a, const wb_row *r, int y, int y1)
{
	static const char *const what[META_N] = {
		"the tensor", "a row", "128 columns", "64 columns", "32 columns"
	};
	char b1[16], b2[16];
	int k, step = a->teach_step;

	meta_prepare(a, r);
	wb_textf(y++, 1, COLS - 2, "%s [%lld x %lld] at 4 bits: %.0f bytes "
	    "of codes, and the scales", r->shortname, (long long)tw.rows,
	    (long long)tw.cols, (double)tw.rows * (double)tw.cols / 2);
	y++;
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%-12s %-12s %7s %5s %8s %6s %5s %9s",
	    "scheme", "a scale for", "scales", "bits", "bytes", "share", "bpw",
	    step >= 1 ? "rel.err" : "");
	attroff(wb_attr(WB_C_HEADER));
	for (k = 0; k < META_N && y < y1; k++, y++) {
		double share = mt.bytes[k] / (mt.bytes[k] +
		    (double)tw.rows * (double)tw.cols / 2);

		if (mt.bpw[k] <= 0 || mt.err[k] < 0) {
			wb_textf(y, 1, COLS - 2, "%-12s does not fit %lld "
			    "columns", meta_names[k], (long long)tw.cols);
			continue;
		}
		wb_textf(y, 1, COLS - 2, "%-12s %-12s %7.0f %5.1f %8.0f "
		    "%5.1f%% %5.2f", meta_names[k], what[k], mt.scales[k],
		    mt.bytes[k] * 8 / mt.scales[k], mt.bytes[k], 100 * share,
		    mt.bpw[k]);
		if (step >= 1)
			wb_textf(y, 63, 10, "%9.2e", mt.err[k]);
	}
	y++;
	if (step >= 2 && y + 3 < y1) {
		wb_text(y++, 1, COLS - 2, 0, "over the model's blocks "
		    "(the layers a plan quantizes by default):");
		for (k = 1; k < META_N && y < y1 - 1; k++, y++) {
			if (mt.model_all[k] <= 0)
				continue;
			wb_human(mt.model[k], b1, sizeof(b1));
			wb_human(mt.model_all[k], b2, sizeof(b2));
			wb_textf(y, 1, COLS - 2, "  %-12s %7sB of scales in "
			    "%7sB = %4.1f%%", meta_names[k], b1, b2,
			    100 * mt.model[k] / mt.model_all[k]);
		}
	}
	if (step == 0)
		wb_text(y1 - 1, 1, COLS - 2, 0, "n: what each buys: the "
		    "weight error of the same layer");
	else if (step == 1)
		wb_text(y1 - 1, 1, COLS - 2, 0, "n: the same over the whole "
		    "model");
	else if (mt.err[2] > 0 && mt.err[3] > 0 && mt.bytes[2] > 0)
		wb_textf(y1 - 1, 1, COLS - 2, "g64 over g128: %.1fx the bytes "
		    "of scales for %.0f%% less weight error", mt.bytes[3] /
		    mt.bytes[2], 100 * (1 - mt.err[3] / mt.err[2]));
}

/* ---- GPTQ or AWQ, g64 or g128: size against quality -------------------- */

#define TR_N 6

/* The six ways, each one engine job on the layer alone: method scheme. */
static const char *const tr_what[TR_N] = {
	"rtn int4-g128", "rtn int4-g64", "gptq int4-g128", "gptq int4-g64",
	"awq int4-g128", "awq int4-g64"
};

static int tr_start_step(wb_app *a);
static void tr_take(wb_app *a, tq_job *job);
static void tr_end(wb_app *a);

static struct {
	chain ch;
	size_t idx;			/* the layer's browser row */
	const tq_calib *calib;		/* the calibration it ran on */
	tq_plan *plan;			/* the running step's */
	tq_layer_result res[TR_N];	/* the engine's report of each */
	int have[TR_N];
} tr = { .ch = { "size lesson", TR_N, tr_what, tr_start_step, tr_take,
    tr_end, TR_N, 0, 0, 0, 0, -1, 0 }, .idx = (size_t)-1 };

/* A plan of the layer alone on step's method and scheme, the rest float. */
static tq_plan *
tr_plan(const char *layer, const char *how, tq_error *err)
{
	char json[1024], pat[512], method[16], scheme[32];
	tq_plan *p = NULL;
	size_t n = 0;
	const char *c;

	/* the name as a pattern: its dots and the like taken literally */
	for (c = layer; *c != '\0' && n + 4 < sizeof(pat); c++) {
		if (strchr(".[]()*+?^$|{}\\", *c) != NULL) {
			pat[n++] = '\\';
			pat[n++] = '\\';
		}
		pat[n++] = *c;
	}
	pat[n] = '\0';
	if (sscanf(how, "%15s %31s", method, scheme) != 2)
		return NULL;
	snprintf(json, sizeof(json), "{\"default\": {\"method\": \"float\"}, "
	    "\"rules\": [{\"match\": \"^%s$\", \"method\": \"%s\", "
	    "\"scheme\": \"%s\"}]}", pat, method, scheme);
	if (tq_plan_parse(json, strlen(json), how, &p, err) != TQ_OK)
		return NULL;
	return p;
}

static int
tr_start_step(wb_app *a)
{
	tq_error err = { TQ_OK, "" };

	tq_plan_free(tr.plan);
	tr.plan = tr_plan(a->rows[tr.idx].name, tr_what[tr.ch.step], &err);
	if (tr.plan == NULL || tq_job_quantize(a->model, tr.plan, tr.calib,
	    NULL, TQ_QUANTIZE_SEQUENTIAL, &a->job, &err) != TQ_OK) {
		wb_message(a, 1, "size lesson: %s", err.msg[0] != '\0' ?
		    err.msg : "no plan for the layer");
		return 0;
	}
	wb_runs_begin(a, WB_RUN_TEACH, "quantize");
	return 1;
}

static void
tr_take(wb_app *a, tq_job *job)
{
	tq_qstate *st = tq_job_take_state(job);
	size_t i, n = st != NULL ? tq_state_n_results(st) : 0;

	for (i = 0; i < n; i++) {
		const tq_layer_result *r = tq_state_result(st, i);

		if (strcmp(r->name, a->rows[tr.idx].name) == 0) {
			tr.res[tr.ch.step] = *r;
			tr.have[tr.ch.step] = 1;
		}
	}
	tq_state_free(st);
}

static void
tr_end(wb_app *a)
{
	tq_plan_free(tr.plan);
	tr.plan = NULL;
	wb_message(a, 0, "size lesson done (5: teach)");
}

/* Enter: quantizes the current layer the six ways. */
static void
tr_run(wb_app *a, const wb_row *r)
{
	if (a->calib == NULL) {
		wb_message(a, 1, "size lesson: GPTQ and AWQ need a calibration:"
		    " c first");
		return;
	}
	if (!r->has_site || r->block < 0) {
		wb_message(a, 1, "size lesson: %s has no calibration input: "
		    "pick another layer", r->shortname);
		return;
	}
	tr.idx = r->idx;
	tr.calib = a->calib;
	memset(tr.have, 0, sizeof(tr.have));
	chain_begin(a, &tr.ch);
}

/* Output error of way k over way j's, as a change in percent. */
static double
tr_change(int k, int j)
{
	return 100.0 * (tr.res[k].rel_err / tr.res[j].rel_err - 1.0);
}

static void
lesson_trade(wb_app *a, const wb_row *r, int y, int y1)
{
	double worst = 0, n = (double)r->rows * (double)r->cols;
	int k, j, all = 1, front, best;

	wb_textf(y++, 1, COLS - 2, "%s [%lld x %lld]: the engine's RTN, GPTQ "
	    "and AWQ at int4,", r->shortname, (long long)r->rows,
	    (long long)r->cols);
	wb_text(y++, 1, COLS - 2, 0, "groups of 128 and of 64, each as a "
	    "plan of this layer alone");
	y++;
	if (!chain_line(y, &tr.ch))
		wb_text(y, 1, COLS - 2, 0, a->calib == NULL ? "needs a "
		    "calibration: c first, then Enter" : tr.idx == r->idx ?
		    "Enter: again" : "Enter: quantize it six ways (seconds)");
	y += 2;
	if (tr.idx != r->idx || tr.ch.stopped >= 0)
		return;
	for (k = 0; k < TR_N; k++) {
		all = all && tr.have[k];
		if (tr.have[k] && tr.res[k].rel_err > worst)
			worst = tr.res[k].rel_err;
	}
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%-16s %5s %8s %10s %7s", "method scheme",
	    "bpw", "bytes", "out.err", "SQNR");
	attroff(wb_attr(WB_C_HEADER));
	for (k = 0; k < TR_N && y < y1; k++, y++) {
		if (!tr.have[k])
			continue;
		/* the frontier: no other way is both smaller and better */
		front = 1;
		for (j = 0; j < TR_N; j++)
			if (j != k && tr.have[j] && tr.res[j].bpw <=
			    tr.res[k].bpw && tr.res[j].rel_err <
			    tr.res[k].rel_err)
				front = 0;
		if (front)
			attron(wb_attr(WB_C_GOOD));
		wb_textf(y, 1, 52, "%-16s %5.2f %8.0f %10.3e %5.1fdB %s",
		    tr_what[k], tr.res[k].bpw, tr.res[k].bpw * n / 8,
		    tr.res[k].rel_err, tr.res[k].sqnr_db, front ? "*" : "");
		if (front)
			attroff(wb_attr(WB_C_GOOD));
		if (COLS > 60)
			wb_hbar(y, 54, COLS - 56, worst > 0 ?
			    tr.res[k].rel_err / worst : 0);
	}
	if (!all || y + 3 >= y1)
		return;
	/* the better method at g128 (gptq 2, awq 4) against RTN's g64 */
	best = tr.res[2].rel_err <= tr.res[4].rel_err ? 2 : 4;
	y++;
	wb_text(y++, 1, COLS - 2, 0, "* on the frontier: no other way is both "
	    "smaller and better");
	wb_textf(y++, 1, COLS - 2, "g64 for %+.1f%% bytes: out.err %+.0f%% "
	    "rtn, %+.0f%% gptq, %+.0f%% awq", 100 * (tr.res[1].bpw /
	    tr.res[0].bpw - 1), tr_change(1, 0), tr_change(3, 2),
	    tr_change(5, 4));
	wb_textf(y++, 1, COLS - 2, "%s: out.err %+.0f%% against rtn, same "
	    "bytes: %s than g64 buys", tr_what[best], tr_change(best, 0),
	    tr_change(best, 0) < tr_change(1, 0) ? "more" : "less");
}

/* ---- K-quants: bit widths mixed within a model ------------------------- */

#define KQ_N 6
#define KQ_TYPES 8

static const char *const kq_names[KQ_N] = {
	"q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q8_0"
};

static struct {
	const tq_model *model;
	int ok;
	char (*scheme)[16];		/* [n_rows] q4_k_m's type of each */
	char type[KQ_TYPES][16];	/* the types it uses */
	int count[KQ_TYPES];		/* and on how many layers */
	double bpw[KQ_TYPES];		/* their bits per weight, by weight */
	double weights[KQ_TYPES];
	int n_types;
	double avg;			/* over the quantized layers */
	size_t idx;			/* browser row of err[] */
	double row_bpw[KQ_N], err[KQ_N];	/* -1: does not fit */
} kq = { .idx = (size_t)-1 };

/* q4_k_m's type of every layer of the model, from the engine's preset. */
static int
kq_prepare(wb_app *a)
{
	tq_plan *p = NULL;
	tq_error err;
	double all = 0, bits = 0;
	size_t i;
	int t;

	if (kq.model == a->model)
		return kq.ok;
	kq.model = a->model;
	kq.ok = 0;
	kq.n_types = 0;
	free(kq.scheme);
	kq.scheme = calloc(a->n_rows, sizeof(*kq.scheme));
	if (kq.scheme == NULL || tq_plan_preset("q4_k_m", &p, &err) != TQ_OK)
		return 0;
	for (i = 0; i < a->n_rows; i++) {
		const wb_row *r = &a->rows[i];
		double n = (double)r->rows * (double)r->cols, b;
		tq_layer_cfg c;

		if (tq_plan_resolve(p, a->model, r->name, &c, &err) != TQ_OK)
			continue;
		/* a tied lm_head is the embedding table: counted once */
		if (tq_model_get_config(a->model)->tie_word_embeddings &&
		    strcmp(r->name, "lm_head") == 0) {
			snprintf(kq.scheme[i], sizeof(kq.scheme[i]), "tied");
			continue;
		}
		if (c.method == TQ_METHOD_FLOAT) {
			snprintf(kq.scheme[i], sizeof(kq.scheme[i]), "float");
			continue;
		}
		tq_scheme_name(&c.scheme, kq.scheme[i], sizeof(kq.scheme[i]));
		b = tq_scheme_bpw(&c.scheme, r->rows, r->cols);
		for (t = 0; t < kq.n_types; t++)
			if (strcmp(kq.type[t], kq.scheme[i]) == 0)
				break;
		if (t == kq.n_types) {
			if (t == KQ_TYPES)
				continue;
			snprintf(kq.type[t], sizeof(kq.type[t]), "%s",
			    kq.scheme[i]);
			kq.count[t] = 0;
			kq.bpw[t] = kq.weights[t] = 0;
			kq.n_types++;
		}
		kq.count[t]++;
		kq.bpw[t] += b * n;
		kq.weights[t] += n;
		bits += b * n;
		all += n;
	}
	tq_plan_free(p);
	for (t = 0; t < kq.n_types; t++)
		kq.bpw[t] /= kq.weights[t];
	kq.avg = all > 0 ? bits / all : 0;
	kq.ok = 1;
	return 1;
}

/* The current layer under each K-quant type: bits and weight error. */
static void
kq_layer(const wb_row *r)
{
	float *deq;
	int k;

	if (kq.idx == r->idx)
		return;
	kq.idx = r->idx;
	deq = malloc(sizeof(float) * (size_t)(tw.rows * tw.cols));
	for (k = 0; k < KQ_N; k++) {
		tq_scheme s;
		tq_error err;

		kq.err[k] = layer_error(kq_names[k], deq);
		if (kq.err[k] >= 0 && tq_scheme_parse(kq_names[k], &s,
		    &err) == TQ_OK)
			kq.row_bpw[k] = tq_scheme_bpw(&s, tw.rows, tw.cols);
	}
	free(deq);
}

/* Step 0: the preset's type of each layer, a block a line (j/k scroll). */
static int
kq_blocks(wb_app *a, int y, int y1)
{
	int nb = 0, b, first, shown, x, w = 6;
	size_t i;

	for (i = 0; i < a->n_rows; i++)
		nb = a->rows[i].block + 1 > nb ? a->rows[i].block + 1 : nb;
	shown = y1 - y - 6;
	shown = shown < 1 ? 1 : shown > nb ? nb : shown;
	first = (int)(a->teach_row % (nb - shown + 1));
	wb_textf(y++, 1, COLS - 2, "q4_k_m layer by layer: blocks %d-%d of "
	    "%d%s", first, first + shown - 1, nb, shown < nb ? " (j/k)" :
	    "");
	attron(wb_attr(WB_C_HEADER));
	move(y, 1);
	printw("%-6s", "block");
	for (i = 0, x = 7; i < a->n_rows && x + w < COLS - 1; i++)
		if (a->rows[i].block == 0) {
			const char *d = strrchr(a->rows[i].shortname, '.');
			int pl;

			d = d != NULL ? d + 1 : a->rows[i].shortname;
			/* "gate" for gate_proj */
			pl = strstr(d, "_proj") != NULL ? (int)(strstr(d,
			    "_proj") - d) : w - 1;
			mvprintw(y, x, " %-*.*s", w - 1, pl < w - 1 ? pl : w - 1,
			    d);
			x += w;
		}
	attroff(wb_attr(WB_C_HEADER));
	y++;
	for (b = first; b < first + shown && y < y1; b++, y++) {
		mvprintw(y, 1, "%-6d", b);
		for (i = 0, x = 7; i < a->n_rows && x + w < COLS - 1; i++) {
			if (a->rows[i].block != b)
				continue;
			/* the types above the preset's base stand out */
			if (strcmp(kq.scheme[i], "q4_k") != 0)
				attron(wb_attr(WB_C_WARN));
			mvprintw(y, x, " %-*.*s", w - 1, w - 1, kq.scheme[i]);
			attroff(wb_attr(WB_C_WARN));
			x += w;
		}
	}
	for (i = 0; i < a->n_rows; i++)
		if (a->rows[i].block < 0 && y < y1)
			wb_textf(y++, 1, COLS - 2, "%-16s %s",
			    a->rows[i].shortname, kq.scheme[i]);
	return y;
}

static void
lesson_kquant(wb_app *a, const wb_row *r, int y, int y1)
{
	char buf[256];
	int t, k, l = 0, step = a->teach_step, q4 = 2, q6 = 4;
	double worst = 0;

	if (!kq_prepare(a)) {
		wb_text(y + 1, 1, COLS - 2, 0, "the q4_k_m preset does not "
		    "resolve on this model");
		return;
	}
	if (step == 0) {
		y = kq_blocks(a, y, y1 - 4);
		y++;
		/* the types, as many a line as fit */
		for (t = 0; t < kq.n_types && y < y1 - 2; t++) {
			char one[64];
			int m = snprintf(one, sizeof(one), "%s%s %d layers %.2f "
			    "bpw", l > 0 ? ", " : "", kq.type[t], kq.count[t],
			    kq.bpw[t]);

			if (l > 0 && l + m > COLS - 3) {
				wb_text(y++, 1, COLS - 2, 0, buf);
				l = snprintf(buf, sizeof(buf), "%s", one + 2);
			} else {
				l += snprintf(buf + l, sizeof(buf) - (size_t)l,
				    "%s", one);
			}
		}
		if (l > 0)
			wb_text(y++, 1, COLS - 2, 0, buf);
		wb_textf(y, 1, COLS - 2, "= %.2f bits per weight over the "
		    "quantized layers", kq.avg);
		wb_text(y1 - 1, 1, COLS - 2, 0, "n: what each type costs and "
		    "buys on this layer");
		return;
	}
	kq_layer(r);
	wb_textf(y++, 1, COLS - 2, "%s [%lld x %lld] under each K-quant "
	    "type (q4_k_m gives it %s)", r->shortname, (long long)tw.rows,
	    (long long)tw.cols, kq.scheme[r->idx]);
	y++;
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%-8s %6s %10s", "type", "bpw", "rel.err");
	attroff(wb_attr(WB_C_HEADER));
	for (k = 0; k < KQ_N; k++)
		worst = kq.err[k] > worst ? kq.err[k] : worst;
	for (k = 0; k < KQ_N && y < y1 - 2; k++, y++) {
		if (kq.err[k] < 0) {
			wb_textf(y, 1, COLS - 2, "%-8s does not fit %lld "
			    "columns", kq_names[k], (long long)tw.cols);
			continue;
		}
		wb_textf(y, 1, 27, "%-8s %6.2f %10.2e", kq_names[k],
		    kq.row_bpw[k], kq.err[k]);
		wb_hbar(y, 28, COLS - 30, worst > 0 ? kq.err[k] / worst : 0);
	}
	if (kq.err[q4] > 0 && kq.err[q6] > 0)
		wb_textf(y1 - 1, 1, COLS - 2, "q6_k over q4_k: %+.2f bits per "
		    "weight for %.1fx less error", kq.row_bpw[q6] -
		    kq.row_bpw[q4], kq.err[q4] / kq.err[q6]);
}

/* ---- Microscaling floats: one block on three grids --------------------- */

#define MX_N 3

static const char *const mx_names[MX_N] = { "int4-g32", "mxfp4", "nvfp4" };
static const char *const mx_what[MX_N] = {
	"int4, a scale and zero per 32: 16 even steps",
	"mxfp4: fp4 e2m1 values times 2^k, a power of two per 32",
	"nvfp4: fp4 e2m1 values times an fp8 e4m3 scale per 16",
};

static void
lesson_mx(wb_app *a, const wb_row *r, int y, int y1)
{
	int64_t row = a->teach_row % tw.rows, n = tw.rows * tw.cols;
	float *deq = malloc(sizeof(float) * (size_t)n);	/* [rows, cols] */
	float lo = 0, hi = 0;
	const float *x = tw.w + row * tw.cols;
	double e[MX_N], bpw[MX_N];
	int k, i, step = a->teach_step, best = 0;

	if (deq == NULL)
		return;
	if (tw.cols % GROUP != 0) {
		wb_text(y, 1, COLS - 2, 0, "this layer's width is not a "
		    "multiple of 32: pick another (j/k in the browser)");
		free(deq);
		return;
	}
	for (i = 0; i < GROUP; i++) {
		lo = x[i] < lo ? x[i] : lo;
		hi = x[i] > hi ? x[i] : hi;
	}
	wb_textf(y++, 1, COLS - 2, "%s row %lld, columns 0-31 on three "
	    "4-bit grids (step %d/4)", r->shortname, (long long)row,
	    step + 1);
	for (k = 0; k < MX_N; k++) {
		tq_scheme s;
		tq_group_view gv;
		tq_weight_err we;
		tq_error err;

		e[k] = -1;
		if (tq_scheme_parse(mx_names[k], &s, &err) != TQ_OK ||
		    tq_quant_view(&s, tw.w, tw.rows, tw.cols, row, 0, deq,
		    NULL, &gv, &err) != TQ_OK)
			continue;
		tq_weight_error(tw.w, deq, n, &we);
		e[k] = we.rel;
		bpw[k] = tq_scheme_bpw(&s, tw.rows, tw.cols);
		best = e[k] < e[best] || e[best] < 0 ? k : best;
		if (k > step || y + 4 > y1)
			continue;
		attron(wb_attr(WB_C_HEADER));
		wb_textf(y++, 1, COLS - 2, "%s (scale %.6g)", mx_what[k],
		    gv.scale);
		attroff(wb_attr(WB_C_HEADER));
		number_line(y, 1 + LABEL, COLS - 2 - LABEL - 1, x, GROUP, lo,
		    hi, gv.levels, gv.n_levels);
		wb_text(y, 1, LABEL, 0, "points");
		wb_text(y + 1, 1, LABEL, 0, "levels");
		y += 3;
	}
	free(deq);
	if (step < MX_N) {
		wb_text(y1 - 1, 1, COLS - 2, 0, step == 0 ? "n: the same "
		    "weights on mxfp4's grid" : step == 1 ? "n: on nvfp4's" :
		    "n: the whole layer on each");
		return;
	}
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%-10s %6s %10s", "the layer", "bpw",
	    "rel.err");
	attroff(wb_attr(WB_C_HEADER));
	for (k = 0; k < MX_N && y < y1 - 1; k++, y++)
		if (e[k] >= 0)
			wb_textf(y, 1, COLS - 2, "%-10s %6.2f %10.2e",
			    mx_names[k], bpw[k], e[k]);
	if (e[best] >= 0)
		wb_textf(y1 - 1, 1, COLS - 2, "the least error: %s at %.2f "
		    "bits per weight; fp4's levels crowd near 0", mx_names[best],
		    bpw[best]);
}

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

static long
pick_group(wb_app *a, char *why, size_t len)
{
	return pick_scanned(a, 0, why, len);
}

static long
pick_range(wb_app *a, char *why, size_t len)
{
	return pick_scanned(a, 1, why, len);
}

/* The narrowest layer: a scale per row is the largest share there. */
static long
pick_narrow(wb_app *a, char *why, size_t len)
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

static long
pick_gptq(wb_app *a, char *why, size_t len)
{
	return pick_outliers(a, 1, INT64_MAX, why, len);
}

static long
pick_awq(wb_app *a, char *why, size_t len)
{
	return pick_outliers(a, 128, 4096, why, len);
}

/* The first layer of the blocks q4_k_m gives its widest type. */
static long
pick_kquant(wb_app *a, char *why, size_t len)
{
	size_t i;
	int t, w = -1;

	if (!kq_prepare(a)) {
		snprintf(why, len, "q4_k_m does not resolve here");
		return -1;
	}
	for (t = 0; t < kq.n_types; t++)
		if (strcmp(kq.type[t], "q4_k") != 0 && (w < 0 || kq.bpw[t] >
		    kq.bpw[w]))
			w = t;
	for (i = 0; w >= 0 && i < a->n_rows; i++)
		if (a->rows[i].block >= 0 && strcmp(kq.scheme[i],
		    kq.type[w]) == 0) {
			snprintf(why, len, "q4_k_m gives it %s (%.2f bpw), not "
			    "q4_k", kq.type[w], kq.bpw[w]);
			return (long)i;
		}
	snprintf(why, len, "q4_k_m gives every block's layer q4_k");
	return -1;
}

static long
pick_none(wb_app *a, char *why, size_t len)
{
	(void)a;
	snprintf(why, len, "the whole model: Enter runs six jobs");
	return -1;
}

/* ---- The lessons and their index --------------------------------------- */

enum {
	L_GROUP, L_GRAN, L_META, L_KQ, L_MX, L_GPTQ, L_AWQ, L_TRADE, L_DOMAIN,
	N_LESSONS
};

static void
draw_domain(wb_app *a, const wb_row *r, int y, int y1)
{
	(void)a;
	(void)r;
	lesson_domain(y, y1);
}

static const struct lesson {
	const char *title;
	const char *needs;	/* for the index */
	int last;		/* the last step (n stops there) */
	int uses_row;		/* draws the current layer's weight */
	void (*draw)(wb_app *a, const wb_row *r, int y, int y1);
	long (*pick)(wb_app *a, char *why, size_t len);	/* its layer */
} lessons[N_LESSONS] = {
	{ "one group, step by step", "weights", STEPS - 1, 1, lesson_group,
	    pick_group },
	{ "per tensor, per channel, per group", "weights", 0, 1,
	    lesson_granularity, pick_range },
	{ "what the scales cost, in bytes", "weights", 2, 1, lesson_meta,
	    pick_narrow },
	{ "K-quants: bit widths mixed in a model", "weights", 1, 1,
	    lesson_kquant, pick_kquant },
	{ "microscaling floats: mxfp4, nvfp4", "weights", MX_N, 1, lesson_mx,
	    pick_group },
	{ "GPTQ against RTN, column by column", "a calibration", GB, 1,
	    lesson_gptq, pick_gptq },
	{ "AWQ: scaling the salient channels", "a calibration",
	    AWQ_STEPS - 1, 1, lesson_awq, pick_awq },
	{ "GPTQ or AWQ, g64 or g128, side by side", "a calibration", 0, 1,
	    lesson_trade, pick_awq },
	{ "domain mismatch: prose against code", "the corpora", 0, 0,
	    draw_domain, pick_none },
};

static struct {
	int open;		/* the index is shown */
	int sel;		/* its lesson under the cursor */
} ix = { 1, 0 };

static void
draw_index(wb_app *a, int y, int y1)
{
	char why[128];
	int k, two = y1 - y >= 2 * N_LESSONS;
	long p;

	for (k = 0; k < N_LESSONS && y < y1; k++) {
		p = lessons[k].pick(a, why, sizeof(why));
		if (k == ix.sel)
			attron(wb_attr(WB_C_CURSOR));
		wb_textf(y++, 1, COLS - 2, "%c%d %-38s needs %s", k == ix.sel ?
		    '>' : ' ', k + 1, lessons[k].title, lessons[k].needs);
		attroff(wb_attr(WB_C_CURSOR));
		if (!two)
			continue;
		attron(wb_attr(WB_C_DIM));
		if (p >= 0)
			wb_textf(y++, 1, COLS - 2, "    try %s: %s",
			    a->rows[p].shortname, why);
		else
			wb_textf(y++, 1, COLS - 2, "    %s", why);
		attroff(wb_attr(WB_C_DIM));
	}
}

void
wb_teach_draw(wb_app *a, int y0, int y1)
{
	const struct lesson *l = &lessons[a->teach_page % N_LESSONS];
	const wb_row *r = wb_browser_current(a);
	char why[128], head[256];
	long p;

	attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
	if (ix.open) {
		wb_text(y0, 0, COLS, 1, " Lessons: j/k choose, Enter opens, "
		    "i comes back here");
		attroff(wb_attr(WB_C_HEADER));
		draw_index(a, y0 + 1, y1);
		return;
	}
	p = l->pick(a, why, sizeof(why));
	snprintf(head, sizeof(head), " Lesson %d/%d: %s",
	    a->teach_page % N_LESSONS + 1, N_LESSONS, l->title);
	/* its layer, when the line has room for it */
	if (p >= 0 && strlen(head) + strlen(a->rows[p].shortname) + 8 <
	    (size_t)COLS)
		snprintf(head + strlen(head), sizeof(head) - strlen(head),
		    "   (g: %s)", a->rows[p].shortname);
	wb_text(y0, 0, COLS, 1, head);
	attroff(wb_attr(WB_C_HEADER));
	if (l->uses_row && (r == NULL || !load(a, r))) {
		wb_text(y0 + 2, 1, COLS - 2, 0, "no layer: pick one in the "
		    "browser");
		return;
	}
	l->draw(a, r, y0 + 1, y1);
}

/* n p: the lesson's next and previous step. */
static void
press_step(wb_app *a, int key)
{
	if (ix.open)
		return;
	if (key == 'p' || key == KEY_LEFT || key == 'h') {
		if (a->teach_step > 0)
			a->teach_step--;
	} else if (a->teach_step < lessons[a->teach_page % N_LESSONS].last)
		a->teach_step++;
}

/* ] [: the next and previous lesson. */
static void
press_lesson(wb_app *a, int key)
{
	a->teach_page = (a->teach_page % N_LESSONS + (key == ']' ? 1 :
	    N_LESSONS - 1)) % N_LESSONS;
	a->teach_step = 0;
	ix.open = 0;
}

/* i: the index, and back to the lesson. */
static void
press_index(wb_app *a, int key)
{
	(void)key;
	ix.open = !ix.open;
	ix.sel = a->teach_page % N_LESSONS;
}

/* j k: another row of the weight; in the index, another lesson. */
static void
press_row(wb_app *a, int key)
{
	int down = key == 'j' || key == KEY_DOWN;

	if (ix.open)
		ix.sel = (ix.sel + (down ? 1 : N_LESSONS - 1)) % N_LESSONS;
	else if (down)
		a->teach_row++;
	else if (a->teach_row > 0)
		a->teach_row--;
}

/* g: the browser's cursor to the lesson's layer. */
static void
press_goto(wb_app *a, int key)
{
	char why[128];
	long p = lessons[ix.open ? ix.sel : a->teach_page % N_LESSONS].pick(a,
	    why, sizeof(why));
	const wb_row *r;
	wb_screen scr;

	(void)key;
	if (p < 0) {
		wb_message(a, 0, "this lesson: %s", why);
		return;
	}
	/* the browser's own way there: it opens a folded block or expert
	   and clears a filter that hides the layer; the lesson stays open */
	scr = a->screen;
	wb_browser_show_row(a, (size_t)p);
	a->screen = scr;
	r = wb_browser_current(a);
	if (r == NULL || r != &a->rows[p]) {
		wb_message(a, 1, "%s is not in the browser's view",
		    a->rows[p].shortname);
		return;
	}
	a->teach_row = 0;
	a->teach_step = 0;
	wb_message(a, 0, "%s: %s", a->rows[p].shortname, why);
}

/*
 * Enter: in the index, opens the lesson; in the domain lesson, asks for
 * its corpora.
 */
static void
press_enter(wb_app *a, int key)
{
	(void)key;
	if (ix.open) {
		a->teach_page = ix.sel;
		a->teach_step = 0;
		ix.open = 0;
		return;
	}
	if (wb_runs_busy(a))
		return;
	if (a->teach_page % N_LESSONS == L_TRADE) {
		const wb_row *r = wb_browser_current(a);

		if (r != NULL)
			tr_run(a, r);
		return;
	}
	if (a->teach_page % N_LESSONS != L_DOMAIN)
		return;
	wb_prompt(a, WB_PROMPT_DOMAIN, dm.dir[0] != '\0' ? dm.dir :
	    getenv("TQ_SHARED_DATA") != NULL ? getenv("TQ_SHARED_DATA") :
	    "../shared/data");
}

static const wb_key keys[] = {
	{ { WB_KEY_ESC }, wb_key_back, "back to the layer browser", "back",
	    WB_ALWAYS },
	{ { 'n', ' ', KEY_RIGHT, 'l' }, press_step, "next step", "step",
	    WB_ALWAYS },
	{ { 'p', KEY_LEFT, 'h' }, press_step, "previous step", "step",
	    WB_ALWAYS },
	{ { ']' }, press_lesson, "next lesson", "lesson", WB_ALWAYS },
	{ { '[' }, press_lesson, "previous lesson", "lesson", WB_ALWAYS },
	{ { 'i' }, press_index, "the lesson index: each lesson, what it "
	    "needs and the layer that shows it best; again: back", "index",
	    WB_ALWAYS },
	{ { 'g' }, press_goto, "go to the lesson's layer (the browser's "
	    "cursor moves there)", NULL, WB_ALWAYS },
	{ { 'j', KEY_DOWN }, press_row, "next row of the weight (the index: "
	    "next lesson)", NULL, WB_ALWAYS },
	{ { 'k', KEY_UP }, press_row, "previous row of the weight (the "
	    "index: previous lesson)", NULL, WB_ALWAYS },
	{ { '\r', '\n', KEY_ENTER }, press_enter, "open the lesson (the "
	    "index); run the lesson's jobs (size: the layer six ways; domain: "
	    "on the corpora in DIR)",
	    "open", WB_ALWAYS },
};

const wb_keymap wb_teach_keymap = {
	"Teaching mode (5)", keys, WB_NKEYS(keys), NULL
};

void
wb_teach_free(void)
{
	tw.w = NULL;
	tq_gptq_trace_free(gq.tr);
	gq.tr = NULL;
	gq.idx = (size_t)-1;
	tq_awq_trace_free(aw.tr);
	aw.tr = NULL;
	aw.idx = (size_t)-1;
	tq_plan_free(tr.plan);
	tr.plan = NULL;
	free(kq.scheme);
	kq.scheme = NULL;
	kq.model = NULL;
	kq.idx = (size_t)-1;
	dm_clear();	/* after wb_runs_free, which ends the job */
}
