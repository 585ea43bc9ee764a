/*
 * wb_lessons_weights.c: the lessons on a layer's weights alone: one group step by step, per
 * tensor/channel/group, what the scales cost in bytes, K-quants' mixed widths
 * and microscaling floats (the overview is in wb_teach.c).
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
	tq_scheme s = { TQ_QT_INT, 4, GROUP, 0, 0 };
	tq_error err;
	float *deq;
	uint8_t *codes;
	int64_t n = teach_w.rows * teach_w.cols;
	int i, ok;

	deq = malloc(sizeof(float) * (size_t)n);	/* [rows, cols] */
	codes = malloc((size_t)n);			/* [rows, cols] */
	ok = deq != NULL && codes != NULL && tq_quant_view(&s, teach_w.w, teach_w.rows,
	    teach_w.cols, row, 0, deq, codes, &g1.gv, &err) == TQ_OK;
	if (ok) {
		memcpy(g1.x, teach_w.w + row * teach_w.cols, sizeof(g1.x));
		memcpy(g1.dq, deq + row * teach_w.cols, sizeof(g1.dq));
		memcpy(g1.code, codes + row * teach_w.cols, sizeof(g1.code));
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

void
wbt_lesson_group(wb_app *a, const wb_row *r, int y, int y1)
{
	static const char *const next[STEPS - 1] = {
		"n: the range, and the grid's 16 levels over it",
		"n: each weight to a code: clamp(round(x / scale) + zero, 0, 15)",
		"n: back to floats: deq = scale * (code - zero)",
		"n: what rounding lost: err = x - deq",
	};
	tq_scheme s = { TQ_QT_INT, 4, GROUP, 0, 0 };
	int64_t row = a->teach_row % teach_w.rows;
	int per = (COLS - 2 - LABEL) / CELL, lines, kinds[K_N], nk = 0, k, i;
	int step = a->teach_step;

	if (teach_w.cols % GROUP != 0) {
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
	    tq_scheme_bpw(&s, teach_w.rows, teach_w.cols));
	attroff(wb_attr(WB_C_WARN));
}

void
wbt_lesson_granularity(wb_app *a, const wb_row *r, int y, int y1)
{
	static const char *const names[] = {
		"int4-tensor", "int4", "int4-g128", "int4-g32"
	};
	static const char *const what[] = {
		"one scale for the whole tensor", "one scale per row",
		"one scale per 128 weights", "one scale per 32 weights"
	};
	int64_t row = a->teach_row % teach_w.rows, n = teach_w.rows * teach_w.cols;
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
		    tq_quant_view(&s, teach_w.w, teach_w.rows, teach_w.cols, 0, 0, deq, NULL,
		    NULL, &err) != TQ_OK)
			continue;
		tq_weight_error(teach_w.w + row * teach_w.cols, deq + row * teach_w.cols,
		    teach_w.cols, &we);
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
		    tq_scheme_bpw(&s, teach_w.rows, teach_w.cols));
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
	deq = malloc(sizeof(float) * (size_t)(teach_w.rows * teach_w.cols));
	for (k = 0; k < META_N; k++) {
		tq_scheme s;
		tq_error err;
		double n = (double)teach_w.rows * (double)teach_w.cols;

		mt.err[k] = -1;
		mt.scales[k] = mt.bytes[k] = mt.bpw[k] = 0;
		mt.model[k] = mt.model_all[k] = 0;
		if (tq_scheme_parse(meta_names[k], &s, &err) != TQ_OK)
			continue;
		/* the bits the engine counts beyond the codes' */
		mt.bpw[k] = tq_scheme_bpw(&s, teach_w.rows, teach_w.cols);
		mt.bytes[k] = (mt.bpw[k] - s.bits) * n / 8;
		mt.scales[k] = n_scales(&s, teach_w.rows, teach_w.cols);
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
		mt.err[k] = wbt_layer_error(meta_names[k], deq);
	}
	free(deq);
}

void
wbt_lesson_meta(wb_app *a, const wb_row *r, int y, int y1)
{
	static const char *const what[META_N] = {
		"the tensor", "a row", "128 columns", "64 columns", "32 columns"
	};
	char b1[16], b2[16];
	int k, step = a->teach_step;

	meta_prepare(a, r);
	wb_textf(y++, 1, COLS - 2, "%s [%lld x %lld] at 4 bits: %.0f bytes "
	    "of codes, and the scales", r->shortname, (long long)teach_w.rows,
	    (long long)teach_w.cols, (double)teach_w.rows * (double)teach_w.cols / 2);
	y++;
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%-12s %-12s %7s %5s %8s %6s %5s %9s",
	    "scheme", "a scale for", "scales", "bits", "bytes", "share", "bpw",
	    step >= 1 ? "rel.err" : "");
	attroff(wb_attr(WB_C_HEADER));
	for (k = 0; k < META_N && y < y1; k++, y++) {
		double share = mt.bytes[k] / (mt.bytes[k] +
		    (double)teach_w.rows * (double)teach_w.cols / 2);

		if (mt.bpw[k] <= 0 || mt.err[k] < 0) {
			wb_textf(y, 1, COLS - 2, "%-12s does not fit %lld "
			    "columns", meta_names[k], (long long)teach_w.cols);
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
int
wbt_kq_prepare(wb_app *a)
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
	deq = malloc(sizeof(float) * (size_t)(teach_w.rows * teach_w.cols));
	for (k = 0; k < KQ_N; k++) {
		tq_scheme s;
		tq_error err;

		kq.err[k] = wbt_layer_error(kq_names[k], deq);
		if (kq.err[k] >= 0 && tq_scheme_parse(kq_names[k], &s,
		    &err) == TQ_OK)
			kq.row_bpw[k] = tq_scheme_bpw(&s, teach_w.rows, teach_w.cols);
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

void
wbt_lesson_kquant(wb_app *a, const wb_row *r, int y, int y1)
{
	char buf[256];
	int t, k, l = 0, step = a->teach_step, q4 = 2, q6 = 4;
	double worst = 0;

	if (!wbt_kq_prepare(a)) {
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
	    "type (q4_k_m gives it %s)", r->shortname, (long long)teach_w.rows,
	    (long long)teach_w.cols, kq.scheme[r->idx]);
	y++;
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%-8s %6s %10s", "type", "bpw", "rel.err");
	attroff(wb_attr(WB_C_HEADER));
	for (k = 0; k < KQ_N; k++)
		worst = kq.err[k] > worst ? kq.err[k] : worst;
	for (k = 0; k < KQ_N && y < y1 - 2; k++, y++) {
		if (kq.err[k] < 0) {
			wb_textf(y, 1, COLS - 2, "%-8s does not fit %lld "
			    "columns", kq_names[k], (long long)teach_w.cols);
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


static const char *const mx_names[MX_N] = { "int4-g32", "mxfp4", "nvfp4" };
static const char *const mx_what[MX_N] = {
	"int4, a scale and zero per 32: 16 even steps",
	"mxfp4: fp4 e2m1 values times 2^k, a power of two per 32",
	"nvfp4: fp4 e2m1 values times an fp8 e4m3 scale per 16",
};

void
wbt_lesson_mx(wb_app *a, const wb_row *r, int y, int y1)
{
	int64_t row = a->teach_row % teach_w.rows, n = teach_w.rows * teach_w.cols;
	float *deq = malloc(sizeof(float) * (size_t)n);	/* [rows, cols] */
	float lo = 0, hi = 0;
	const float *x = teach_w.w + row * teach_w.cols;
	double e[MX_N], bpw[MX_N];
	int k, i, step = a->teach_step, best = 0;

	if (deq == NULL)
		return;
	if (teach_w.cols % GROUP != 0) {
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
		    tq_quant_view(&s, teach_w.w, teach_w.rows, teach_w.cols, row, 0, deq,
		    NULL, &gv, &err) != TQ_OK)
			continue;
		tq_weight_error(teach_w.w, deq, n, &we);
		e[k] = we.rel;
		bpw[k] = tq_scheme_bpw(&s, teach_w.rows, teach_w.cols);
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

/* The first layer of the blocks q4_k_m gives its widest type. */
long
wbt_pick_kquant(wb_app *a, char *why, size_t len)
{
	size_t i;
	int t, w = -1;

	if (!wbt_kq_prepare(a)) {
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

/* Frees the K-quant lesson's resolved plan. */
void
wbt_weights_free(void)
{
	free(kq.scheme);
	kq.scheme = NULL;
	kq.model = NULL;
	kq.idx = (size_t)-1;
}
