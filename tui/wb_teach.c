/*
 * wb_teach.c: teaching mode, on the real weights of the current layer.
 *
 *   lesson 1  one group of 32 weights quantized to int4 step by step:
 *             values, range, scale and zero point, codes, dequantized
 *             values, error (n advances a step);
 *   lesson 2  the same row under one scale per tensor, per row and per
 *             group of 128 and 32, with each one's error and cost.
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

#define N_LESSONS 2
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

void
wb_teach_draw(wb_app *a, int y0, int y1)
{
	static const char *const titles[N_LESSONS] = {
		"1/2 one group, step by step",
		"2/2 per tensor, per channel, per group",
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
	else
		lesson_granularity(a, r, y0 + 1, y1);
}

int
wb_teach_key(wb_app *a, int key)
{
	switch (key) {
	case 'n': case ' ': case KEY_RIGHT: case 'l':
		if (a->teach_step < STEPS - 1)
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
