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
 *             is shown for both.  The steps are the engine's GPTQ run on
 *             those 12 columns as a row of their own (tq_gptq_trace_row);
 *   lesson 4  AWQ on the current layer: its salient input channels (the
 *             largest mean |x| of the calibration), the scales
 *             s = mean|x|^alpha for alpha 0 to 1, and the output error of
 *             RTN on int4-g128 with each (alpha 0 is plain RTN), on H of
 *             the layer's inputs as in lesson 3, both by the engine's
 *             search (tq_awq_trace_layer).  The engine searches 20
 *             alphas over the layers sharing the input (core/awq.c);
 *   lesson 5  domain mismatch: Enter runs six engine jobs in turn
 *             (calibrate on prose and on code, quantize the same plan
 *             with each, validate both against the fp model on a slice
 *             of a prose and of a code test text) and the table puts
 *             perplexity, KLD and top-token agreement side by side.
 *
 * The numbers are the engine's (tq_quant_view, tq_site_hessian and the
 * traces; nothing numeric is computed here): the scale is rounded to
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

#define N_LESSONS 5
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
	tq_weight_err we;
	tq_error err;
	float *deq, vals[GROUP], dq[GROUP], e[GROUP], lo, hi;
	uint8_t *codes, cd[GROUP];
	int64_t row = a->teach_row % tw.rows, n = tw.rows * tw.cols;
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
	for (i = 0; i < GROUP; i++) {	/* what the screen shows */
		lo = vals[i] < lo ? vals[i] : lo;
		hi = vals[i] > hi ? vals[i] : hi;
		e[i] = vals[i] - dq[i];
	}
	tq_weight_error(vals, dq, GROUP, &we);
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
		    sqrt(we.err_sq / GROUP), we.max_abs, isfinite(we.sqnr_db) ?
		    we.sqnr_db : 0.0);
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
	int64_t row = a->teach_row % tw.rows, n = tw.rows * tw.cols;
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
		wb_text(y, 1, COLS - 2, 0, "Smaller groups follow the weights' "
		    "local range: less error for a few more bits of scales.");
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
		    e_gptq < e_rtn * 0.999 ? "the compensations changed some "
		    "roundings: lower output error at the same bits" :
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
	int64_t top[AWQ_TOP];			/* by mean |x| */
	float top_mean[AWQ_TOP], median;
} aw = { (size_t)-1, NULL, 0, 0, NULL, { 0 }, { 0 }, 0 };

static int
cmp_desc(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;

	return a < b ? 1 : a > b ? -1 : 0;
}

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
	float *H = NULL, *sorted = NULL;
	int64_t C = r->cols, j, k;
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
	sorted = malloc(sizeof(float) * (size_t)C);	/* [C] */
	if (H == NULL || sorted == NULL ||
	    tq_scheme_parse("int4-g128", &sch, &err) != TQ_OK ||
	    !site_hessian(a, r, C, H, &aw.n_tok))
		goto out;
	for (g = 0; g < AWQ_ALPHAS; g++)
		alphas[g] = (double)g / (AWQ_ALPHAS - 1);
	if (tq_awq_trace_layer(&sch, tw.w, r->rows, C, H, st->mean_abs,
	    alphas, AWQ_ALPHAS, &aw.tr, &err) != TQ_OK)
		goto out;
	/* the salient channels: largest mean |x| over the calibration */
	memcpy(sorted, st->mean_abs, sizeof(float) * (size_t)C);
	qsort(sorted, (size_t)C, sizeof(float), cmp_desc);
	aw.median = sorted[C / 2];
	for (k = 0; k < AWQ_TOP; k++) {
		aw.top_mean[k] = sorted[k];
		for (j = 0; j < C; j++)
			if (st->mean_abs[j] == sorted[k] && (k == 0 ||
			    j != aw.top[k - 1]))
				break;
		aw.top[k] = j < C ? j : 0;
	}
	aw.ok = 1;
out:
	free(H);
	free(sorted);
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
	    "tokens, step %d/%d", r->name,
	    (long long)aw.n_tok, step + 1, AWQ_STEPS);
	wb_textf(y++, 1, COLS - 2, "salient input channels: the largest "
	    "mean |x|, and x the median's (%.4f)", aw.median);
	for (k = 0; k < AWQ_TOP && y < y1; k += 3, y++) {
		char buf[128];
		int l = 0, i;

		for (i = k; i < k + 3 && i < AWQ_TOP; i++)
			l += snprintf(buf + l, sizeof(buf) - (size_t)l,
			    "  ch%-4lld %6.3f %4.1fx  ",
			    (long long)aw.top[i], aw.top_mean[i], aw.median > 0 ?
			    aw.top_mean[i] / aw.median : 0.0);
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

static struct {
	int step;		/* DM_*: the job running (or DM_DONE) */
	int running, ok;	/* a job is going on; the last one ended well */
	int cancelled;		/* the user cancelled: no next step */
	int stopped;		/* the step it stopped at, or -1 */
	char dir[400];
	char plan_name[96];
	tq_plan *plan;		/* the plan quantized both ways */
	tq_calib *calib[2];	/* [prose, code] */
	tq_qstate *state[2];
	tq_model *qm[2];	/* the states applied, while evaluating */
	tq_validation val[2];	/* on [prose, code] text */
	int have[2];
} dm = { .step = DM_DONE, .stopped = -1 };

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

/* Starts the job of dm.step; 0 and a message when it cannot. */
static int
dm_start_step(wb_app *a)
{
	tq_error err = { TQ_OK, "" };
	char path[512];
	int d = dm.step % 2;
	tq_status st;

	if (dm.step == DM_CAL_PROSE || dm.step == DM_CAL_CODE) {
		tq_calib_opts o = TQ_CALIB_OPTS_INIT;

		o.n_samples = DM_SAMPLES;
		o.seqlen = DM_SEQLEN;
		snprintf(path, sizeof(path), "%s/%s", dm.dir, dm_text[d][0]);
		st = tq_job_calibrate(a->model, path, &o, NULL, &a->job, &err);
	} else if (dm.step == DM_Q_PROSE || dm.step == DM_Q_CODE) {
		st = tq_job_quantize(a->model, dm.plan, dm.calib[d], NULL, 0,
		    &a->job, &err);
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
	wb_runs_begin(a, WB_RUN_TEACH, dm.step < DM_Q_PROSE ? "calibrate" :
	    dm.step < DM_EVAL_PROSE ? "quantize" : "validate");
	wb_log(a, "domain lesson %d/%d: %s", dm.step + 1, DM_DONE,
	    dm_what[dm.step]);
	dm.running = 1;
	dm.ok = 0;
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
	dm.step = DM_CAL_PROSE;
	dm.cancelled = 0;
	dm.stopped = -1;
	if (!dm_start_step(a)) {
		dm.step = DM_DONE;
		return 0;
	}
	return 1;
}

void
wb_teach_job_done(wb_app *a, tq_job *job)
{
	int d = dm.step % 2;

	(void)a;
	if (dm.step == DM_CAL_PROSE || dm.step == DM_CAL_CODE) {
		dm.calib[d] = tq_job_take_calib(job);
	} else if (dm.step == DM_Q_PROSE || dm.step == DM_Q_CODE) {
		dm.state[d] = tq_job_take_state(job);
	} else if (dm.step < DM_DONE) {
		dm.val[d] = *tq_job_validation(job);
		dm.val[d].longctx = NULL;	/* none asked for */
		dm.val[d].n_longctx = 0;
		dm.have[d] = 1;
	}
	dm.ok = 1;
}

void
wb_teach_cancel(wb_app *a)
{
	(void)a;
	if (dm.running)
		dm.cancelled = 1;
}

void
wb_teach_next(wb_app *a)
{
	if (!dm.running)
		return;
	dm.running = 0;
	/* a step that ended well just as it was cancelled ends it too */
	if (!dm.ok || dm.cancelled) {
		dm.stopped = dm.step;
		wb_message(a, !dm.cancelled, "domain lesson %s at %d/%d: %s",
		    dm.cancelled ? "cancelled" : "stopped", dm.step + 1,
		    DM_DONE, dm_what[dm.step]);
		wb_log(a, "domain lesson %s at %d/%d", dm.cancelled ?
		    "cancelled" : "stopped", dm.step + 1, DM_DONE);
		dm.step = DM_DONE;
		return;
	}
	if (++dm.step < DM_DONE) {
		if (!dm_start_step(a))
			dm.step = DM_DONE;
		return;
	}
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
	if (dm.running)
		wb_textf(y++, 1, COLS - 2, "running %d/%d: %s ... (Ctrl-C "
		    "cancels)", dm.step + 1, DM_DONE, dm_what[dm.step]);
	else if (dm.stopped >= 0)
		wb_textf(y++, 1, COLS - 2, "%s at %d/%d: %s  (Enter: again)",
		    dm.cancelled ? "cancelled" : "stopped", dm.stopped + 1,
		    DM_DONE, dm_what[dm.stopped]);
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

void
wb_teach_draw(wb_app *a, int y0, int y1)
{
	static const char *const titles[N_LESSONS] = {
		"1/5 one group, step by step",
		"2/5 per tensor, per channel, per group",
		"3/5 GPTQ against RTN, column by column",
		"4/5 AWQ: scaling the salient channels",
		"5/5 domain mismatch: prose against code",
	};
	const wb_row *r = wb_browser_current(a);

	attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
	wb_textf(y0, 0, COLS, " Teaching: %s   ([ ] lessons, n/p steps, j/k "
	    "rows)", titles[a->teach_page % N_LESSONS]);
	attroff(wb_attr(WB_C_HEADER));
	if (a->teach_page % N_LESSONS == 4) {
		lesson_domain(y0 + 1, y1);
		return;
	}
	if (r == NULL || !load(a, r)) {
		wb_text(y0 + 2, 1, COLS - 2, 0, "no layer: pick one in the "
		    "browser");
		return;
	}
	if (a->teach_page % N_LESSONS == 0)
		lesson_group(a, r, y0 + 1, y1);
	else if (a->teach_page % N_LESSONS == 1)
		lesson_granularity(a, r, y0 + 1, y1);
	else if (a->teach_page % N_LESSONS == 2)
		lesson_gptq(a, r, y0 + 1, y1);
	else
		lesson_awq(a, r, y0 + 1, y1);
}

/* n p: the lesson's next and previous step. */
static void
press_step(wb_app *a, int key)
{
	if (key == 'p' || key == KEY_LEFT || key == 'h') {
		if (a->teach_step > 0)
			a->teach_step--;
	} else if (a->teach_step < (a->teach_page % N_LESSONS == 2 ? GB :
	    a->teach_page % N_LESSONS == 3 ? AWQ_STEPS - 1 : STEPS - 1))
		a->teach_step++;
}

/* ] [: the next and previous lesson. */
static void
press_lesson(wb_app *a, int key)
{
	a->teach_page = (a->teach_page + (key == ']' ? 1 : N_LESSONS - 1)) %
	    N_LESSONS;
	a->teach_step = 0;
}

/* j k: another row of the weight. */
static void
press_row(wb_app *a, int key)
{
	if (key == 'j' || key == KEY_DOWN)
		a->teach_row++;
	else if (a->teach_row > 0)
		a->teach_row--;
}

/* Enter: the domain lesson's corpora, when it is the lesson shown. */
static void
press_domain(wb_app *a, int key)
{
	(void)key;
	if (a->teach_page % N_LESSONS != 4 || wb_runs_busy(a))
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
	{ { ']' }, press_lesson, "next lesson: one group; tensor, channel, "
	    "group; GPTQ vs RTN and AWQ's scales (need a calibration); prose "
	    "vs code calibration", "lesson", WB_ALWAYS },
	{ { '[' }, press_lesson, "previous lesson", "lesson", WB_ALWAYS },
	{ { 'j', KEY_DOWN }, press_row, "next row of the weight", "row",
	    WB_ALWAYS },
	{ { 'k', KEY_UP }, press_row, "previous row of the weight", "row",
	    WB_ALWAYS },
	{ { '\r', '\n', KEY_ENTER }, press_domain, "domain lesson: run its "
	    "jobs on the corpora in DIR", "run", WB_ALWAYS },
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
	dm_clear();	/* after wb_runs_free, which ends the job */
}
