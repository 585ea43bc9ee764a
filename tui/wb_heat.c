/*
 * wb_heat.c: the heat map of the layer browser: one row per block, one
 * column per kind of layer (q k v o gate up down; a mixture of experts'
 * q k v o and then its experts, each the worst of its linears), each cell
 * shaded by the layer's measured relative error or its sensitivity (the
 * probe KLD of the mix screen's table) on a log scale, with a legend.
 * Shades are characters (block shades in UTF-8, . : * # otherwise), so it
 * reads without colour; colour adds the error colours.  Enter puts the
 * browser's cursor on the cell's layer.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "wb.h"

/* Columns: the seven kinds of a block's linears, then the experts. */
#define KINDS 7
#define SHADES 4

static const char *const kind_label[KINDS] = {
	"q", "k", "v", "o", "ga", "up", "dn"
};

static struct {
	int b, c;		/* the cursor: block, column */
	int top, left;		/* the first block and column shown */
	int sens;		/* shade by sensitivity, not error */
} hm;

/* A cell: the largest value of its layers, and whose it is. */
typedef struct heat_cell {
	double v;		/* NaN: no value */
	long row;		/* the layer with v (or any of the cell), -1 */
} heat_cell;

/* The column of row r: its kind, or KINDS + its expert; -1 outside. */
static int
column_of(const wb_app *a, const wb_row *r)
{
	if (r->block < 0)
		return -1;
	if (r->expert >= 0)
		return KINDS + r->expert;
	return (int)tq_model_linear_kind(a->model, r->idx, NULL);
}

static double
value_of(const wb_app *a, const wb_row *r)
{
	if (hm.sens)
		return wb_browser_sens(a, r->idx);
	return r->has_result && isfinite(r->res.rel_err) ? r->res.rel_err :
	    NAN;
}

/*
 * Fills cells [n_blocks][KINDS + n_experts] and which columns any layer
 * has (present); the log10 range of the positive values in *lo, *hi.
 */
static void
fill(const wb_app *a, heat_cell *cells, int *present, double *lo,
    double *hi)
{
	int nc = KINDS + a->n_experts, c;
	size_t i;

	*lo = INFINITY;
	*hi = -INFINITY;
	for (i = 0; i < (size_t)a->n_blocks * (size_t)nc; i++) {
		cells[i].v = NAN;
		cells[i].row = -1;
	}
	for (i = 0; i < a->n_rows; i++) {
		const wb_row *r = &a->rows[i];
		heat_cell *h;
		double v;

		if ((c = column_of(a, r)) < 0 || c >= nc)
			continue;
		present[c] = 1;
		h = &cells[r->block * nc + c];
		v = value_of(a, r);
		if (h->row < 0 || (isfinite(v) && !(v <= h->v))) {
			h->v = v;
			h->row = (long)i;
		}
		if (isfinite(v) && v > 0.0) {
			*lo = log10(v) < *lo ? log10(v) : *lo;
			*hi = log10(v) > *hi ? log10(v) : *hi;
		}
	}
}

/* The shade of v: 0 none, 1..SHADES from lo to hi (log10). */
static int
shade_of(double v, double lo, double hi)
{
	int s;

	if (!isfinite(v) || v <= 0.0)
		return 0;
	if (hi - lo < 1e-9)
		return SHADES;
	s = 1 + (int)((log10(v) - lo) / (hi - lo) * SHADES);
	return s > SHADES ? SHADES : s;
}

/* Two columns of shade s at (y, x); colour by meaning when cur is 0. */
static void
put_shade(int y, int x, int s, int cur)
{
	static const char *const utf[SHADES + 1] = {
		"\xc2\xb7 ", "\xe2\x96\x91\xe2\x96\x91",
		"\xe2\x96\x92\xe2\x96\x92", "\xe2\x96\x93\xe2\x96\x93",
		"\xe2\x96\x88\xe2\x96\x88"
	};
	static const char *const ascii[SHADES + 1] = {
		". ", "..", "::", "**", "##"
	};
	static const wb_color col[SHADES + 1] = {
		WB_C_DIM, WB_C_GOOD, WB_C_GOOD, WB_C_WARN, WB_C_BAD
	};
	int at = cur ? wb_attr(WB_C_CURSOR) : wb_attr(col[s]);

	attron(at);
	mvaddstr(y, x, wb_utf8() ? utf[s] : ascii[s]);
	attroff(at);
}

/* The legend: each shade and the lower bound of its values. */
static void
legend(int y, int w, double lo, double hi)
{
	int s, x = 1;
	char buf[32];

	if (!isfinite(lo)) {
		attron(wb_attr(WB_C_DIM));
		wb_text(y, 1, w - 1, 0, hm.sens ? "no sensitivity yet: measure "
		    "it on the mix screen (6, s)" : "no error measured yet: r "
		    "quantizes (errors need a calibration, c)");
		attroff(wb_attr(WB_C_DIM));
		return;
	}
	wb_text(y, x, w - x, 0, "log scale:");
	x += 11;
	for (s = 1; s <= SHADES && x + 11 < w; s++) {
		put_shade(y, x, s, 0);
		snprintf(buf, sizeof(buf), "%.1e", pow(10.0, lo + (hi - lo) *
		    (s - 1) / SHADES));
		wb_text(y, x + 3, 8, 0, buf);
		x += 12;
	}
	if (x + 12 < w) {
		snprintf(buf, sizeof(buf), "..%.1e", pow(10.0, hi));
		wb_text(y, x, 12, 0, buf);
		x += 12;
	}
	put_shade(y, x, 0, 0);
	wb_text(y, x + 3, w - x - 3, 0, "none");
}

/* The column's label: its kind, or its expert ("e3", "12"). */
static void
label_of(int c, char *buf, size_t len)
{
	if (c < KINDS)
		snprintf(buf, len, "%s", kind_label[c]);
	else if (c - KINDS < 10)
		snprintf(buf, len, "e%d", c - KINDS);
	else
		snprintf(buf, len, "%d", (c - KINDS) % 100);
}

/* Moves the cursor's column by d over the columns present. */
static void
move_column(const int *present, int nc, int d)
{
	int c = hm.c + d;

	while (c >= 0 && c < nc && !present[c])
		c += d;
	if (c >= 0 && c < nc)
		hm.c = c;
}

void
wb_heat_draw(wb_app *a, int y0, int y1)
{
	int nc = KINDS + a->n_experts, rows = y1 - y0 - 4, x, y, b, c, fit;
	int *present = calloc((size_t)nc, sizeof(int));
	heat_cell *cells = calloc((size_t)a->n_blocks * (size_t)nc + 1,
	    sizeof(heat_cell));
	double lo, hi;
	char buf[256];

	if (present == NULL || cells == NULL || rows < 1 || a->n_blocks < 1) {
		wb_text(y0 + 1, 1, COLS - 2, 0, a->n_blocks < 1 ? "no blocks" :
		    "the heat map does not fit");
		free(present);
		free(cells);
		return;
	}
	fill(a, cells, present, &lo, &hi);
	if (!present[hm.c])
		move_column(present, nc, 1);
	if (!present[hm.c])
		move_column(present, nc, -1);
	if (hm.b >= a->n_blocks)
		hm.b = a->n_blocks - 1;
	attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
	wb_textf(y0, 0, COLS, " heat map: %s by block and layer kind (s "
	    "switches to %s)", hm.sens ? "sensitivity (probe KLD, the layer "
	    "alone)" : "relative error", hm.sens ? "error" : "sensitivity");
	attroff(wb_attr(WB_C_HEADER));
	/* scroll: the cursor's block and column in sight */
	if (hm.b < hm.top)
		hm.top = hm.b;
	if (hm.b >= hm.top + rows)
		hm.top = hm.b - rows + 1;
	fit = (COLS - 5 - 11) / 3;
	if (hm.c < hm.left)
		hm.left = hm.c;
	for (c = hm.left, x = 0; c <= hm.c; c++)
		x += present[c];
	while (x > fit) {
		x -= present[hm.left];
		hm.left++;
	}
	/* the columns' labels */
	attron(wb_attr(WB_C_HEADER));
	wb_text(y0 + 1, 0, COLS, 1, " blk");
	for (c = hm.left, x = 5; c < nc && x + 3 <= 5 + fit * 3; c++) {
		if (!present[c])
			continue;
		label_of(c, buf, sizeof(buf));
		mvaddstr(y0 + 1, x, buf);
		x += 3;
	}
	if (x + 10 < COLS)
		mvaddstr(y0 + 1, x + 1, "worst");
	attroff(wb_attr(WB_C_HEADER));
	for (b = hm.top, y = y0 + 2; b < a->n_blocks && y < y0 + 2 + rows;
	    b++, y++) {
		double worst = NAN;

		wb_textf(y, 0, 5, "%4d", b);
		for (c = hm.left, x = 5; c < nc && x + 3 <= 5 + fit * 3; c++) {
			const heat_cell *h = &cells[b * nc + c];

			if (!present[c])
				continue;
			put_shade(y, x, shade_of(h->v, lo, hi), b == hm.b &&
			    c == hm.c);
			if (isfinite(h->v) && !(h->v <= worst))
				worst = h->v;
			x += 3;
		}
		if (isfinite(worst) && x + 10 < COLS)
			wb_textf(y, x + 1, 9, "%.1e", worst);
	}
	/* the cell under the cursor, then the legend */
	{
		const heat_cell *h = &cells[hm.b * nc + hm.c];

		if (h->row >= 0) {
			const wb_row *r = &a->rows[h->row];
			double s = wb_browser_sens(a, (size_t)h->row);
			int n = snprintf(buf, sizeof(buf), " %s", r->shortname);

			if (r->has_result && isfinite(r->res.rel_err))
				n += snprintf(buf + n, sizeof(buf) - (size_t)n,
				    "  rel.err %.2e", r->res.rel_err);
			if (isfinite(s))
				n += snprintf(buf + n, sizeof(buf) - (size_t)n,
				    "  sensitivity %.2e", s);
			if (hm.c >= KINDS)
				snprintf(buf + n, sizeof(buf) - (size_t)n,
				    "  (expert %d: its worst)", hm.c - KINDS);
			attron(wb_attr(WB_C_MARKED));
			wb_text(y1 - 2, 0, COLS, 1, buf);
			attroff(wb_attr(WB_C_MARKED));
		}
	}
	legend(y1 - 1, COLS, lo, hi);
	free(present);
	free(cells);
}

void
wb_heat_open(wb_app *a)
{
	const wb_row *r = wb_browser_current(a);
	int c;

	a->screen = WB_SCR_HEAT;
	if (r == NULL || r->block < 0)
		return;
	hm.b = r->block;
	c = r->expert >= 0 ? KINDS + r->expert :
	    (int)tq_model_linear_kind(a->model, r->idx, NULL);
	if (c >= 0 && c < KINDS + a->n_experts)
		hm.c = c;
}

/* ---- Keys ------------------------------------------------------------- */

static void
press_move(wb_app *a, int key)
{
	int page = LINES - 9 > 1 ? LINES - 9 : 1, nc = KINDS + a->n_experts;
	int *present = calloc((size_t)nc, sizeof(int)), c;
	size_t i;

	if (present == NULL)
		return;
	for (i = 0; i < a->n_rows; i++)
		if ((c = column_of(a, &a->rows[i])) >= 0 && c < nc)
			present[c] = 1;
	switch (key) {
	case 'h': case KEY_LEFT:
		move_column(present, nc, -1);
		break;
	case 'l': case KEY_RIGHT:
		move_column(present, nc, 1);
		break;
	case 'j': case KEY_DOWN:
		hm.b += hm.b + 1 < a->n_blocks;
		break;
	case 'k': case KEY_UP:
		hm.b -= hm.b > 0;
		break;
	case KEY_NPAGE: case WB_CTRL('f'): case WB_CTRL('d'):
		hm.b = hm.b + page < a->n_blocks ? hm.b + page :
		    a->n_blocks - 1;
		break;
	case KEY_PPAGE: case WB_CTRL('b'): case WB_CTRL('u'):
		hm.b = hm.b > page ? hm.b - page : 0;
		break;
	case 'g': case KEY_HOME:
		hm.b = 0;
		break;
	default:	/* G End */
		hm.b = a->n_blocks > 0 ? a->n_blocks - 1 : 0;
		break;
	}
	free(present);
}

static void
press_measure(wb_app *a, int key)
{
	(void)key;
	hm.sens = !hm.sens;
	if (hm.sens && wb_mix_sens() == NULL)
		wb_message(a, 0, "no sensitivity yet: 6 then s measures it (on "
		    "a calibration)");
}

/* Enter: the browser, its cursor on the cell's layer (the worst). */
static void
press_jump(wb_app *a, int key)
{
	int nc = KINDS + a->n_experts;
	heat_cell *cells = calloc((size_t)a->n_blocks * (size_t)nc + 1,
	    sizeof(heat_cell));
	int *present = calloc((size_t)nc, sizeof(int));
	double lo, hi;

	(void)key;
	if (cells != NULL && present != NULL && hm.b < a->n_blocks &&
	    hm.c < nc) {
		fill(a, cells, present, &lo, &hi);
		if (cells[hm.b * nc + hm.c].row >= 0)
			wb_browser_show_row(a,
			    (size_t)cells[hm.b * nc + hm.c].row);
	}
	free(cells);
	free(present);
}

static const wb_key keys[] = {
	{ { WB_KEY_ESC }, wb_key_back, "back to the layer browser", "back",
	    WB_ALWAYS },
	{ { 'h', KEY_LEFT }, press_move, "previous layer kind (or expert)",
	    "move", WB_ALWAYS },
	{ { 'l', KEY_RIGHT }, press_move, "next layer kind (or expert)",
	    "move", WB_ALWAYS },
	{ { 'j', KEY_DOWN }, press_move, "next block", "move", WB_ALWAYS },
	{ { 'k', KEY_UP }, press_move, "previous block", "move", WB_ALWAYS },
	{ { KEY_NPAGE, WB_CTRL('f'), WB_CTRL('d') }, press_move, "a page of "
	    "blocks down", NULL, WB_ALWAYS },
	{ { KEY_PPAGE, WB_CTRL('b'), WB_CTRL('u') }, press_move, "a page of "
	    "blocks up", NULL, WB_ALWAYS },
	{ { 'g', KEY_HOME }, press_move, "first block", NULL, WB_ALWAYS },
	{ { 'G', KEY_END }, press_move, "last block", NULL, WB_ALWAYS },
	{ { 's' }, press_measure, "shade by relative error or by sensitivity "
	    "(the mix screen's probe KLD)", "measure", WB_ALWAYS },
	{ { '\r', '\n', KEY_ENTER }, press_jump, "the layer in the browser "
	    "(an expert's: its worst linear)", "go", WB_ALWAYS },
};

const wb_keymap wb_heat_keymap = {
	"Heat map (H on the browser)", keys, WB_NKEYS(keys), "Shades: "
	"the cell's value on a log scale from the smallest of the model's "
	"layers to the largest, as the legend says; an expert's cell is its "
	"worst linear"
};
