/*
 * wb_mix.c: the mixed-precision screen.  It measures every block linear's
 * sensitivity on the workbench's calibration (the engine's sensitivity
 * job, on the engine thread like quantization) or loads a saved table;
 * draws the Pareto frontier of bits per weight against predicted KLD (log
 * scale) with braille dots (ASCII without UTF-8), a cursor on its points
 * and a mark where the current plan is; Enter (or "go to N bpw", b) loads
 * the plan of a point into the browser as an undoable plan change.  Beside
 * it, a heat map of sensitivity by block and layer type.  The browser's
 * summary line gets the predicted KLD of the current plan
 * (wb_mix_summary_text), and each plan change's message what it did to it
 * (wb_mix_change_suffix).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "wb.h"

/* The GGUF menu: the block types llama.cpp's mixes choose from. */
static const char *const gguf_menu[] = {
	"rtn:q2_k+imatrix", "rtn:q3_k+imatrix", "rtn:q4_k+imatrix",
	"rtn:q5_k+imatrix", "rtn:q6_k+imatrix", "rtn:q8_0",
	"gptq:q3_k+imatrix", "gptq:q4_k+imatrix", "gptq:q5_k+imatrix"
};

/* Calibration tokens the per-layer KLD probe evaluates (as `plan`). */
#define MIX_PROBE_TOKENS 2048
#define MIX_MENU_MAX 64

/* The menu of the running measurement, for the source line. */
static char run_menu[64];

/* A plan seen through the table: its block linears' size and loss. */
typedef struct mix_plan {
	double bpw;		/* over the block linears, float at 16 */
	double pred;		/* the sum of the known layers' predicted KLD */
	int known, total;	/* layers whose setting the table has, of all */
} mix_plan;

static struct {
	tq_sens *sens;		/* owned; NULL until measured or loaded */
	char source[160];	/* where it came from */
	tq_mix *front;		/* [n_front], smallest first */
	size_t n_front;
	size_t cur;		/* the frontier point under the cursor */
	int64_t params;		/* weights of the block linears */
	int heat_plan;		/* heat map: 0 probe KLD, 1 the plan's setting */
	int saved;		/* loaded from or saved to a file */
	mix_plan now;		/* the current plan, as of its last change */
	mix_plan was;		/* the plan before that change */
	int changed;		/* was is set: the plan changed since the
				   table came */
} mx;

static void plan_pred(const wb_app *a, mix_plan *p);

int
wb_mix_unsaved(void)
{
	return mx.sens != NULL && !mx.saved;
}

void
wb_mix_free(void)
{
	tq_mix_free_all(mx.front, mx.n_front);
	tq_sens_free(mx.sens);
	memset(&mx, 0, sizeof(mx));
}

/* Takes s (owned) as the table the screen shows; 0 and a message if bad. */
static int
adopt_sens(wb_app *a, tq_sens *s, const char *source)
{
	tq_error err = { TQ_OK, "" };
	tq_mix *front = NULL;
	size_t n = 0, l;

	if (tq_sens_frontier(s, &front, &n, &err) != TQ_OK || n == 0) {
		wb_message(a, 1, "frontier: %s", n == 0 && err.msg[0] == '\0' ?
		    "no point" : err.msg);
		tq_mix_free_all(front, n);
		tq_sens_free(s);
		return 0;
	}
	wb_mix_free();
	mx.sens = s;
	mx.front = front;
	mx.n_front = n;
	mx.cur = n / 2;
	for (l = 0; l < tq_sens_n_layers(s); l++)
		mx.params += tq_sens_layer_params(s, l);
	snprintf(mx.source, sizeof(mx.source), "%s", source);
	plan_pred(a, &mx.now);
	wb_log(a, "sensitivity %s: %zu layers x %zu settings, %zu frontier "
	    "points", source, tq_sens_n_layers(s), tq_sens_n_menu(s), n);
	a->dirty = 1;
	return 1;
}

static int
start_job(wb_app *a, const char *const *menu, size_t n, const char *what)
{
	tq_error err = { TQ_OK, "" };

	if (a->calib == NULL) {
		wb_message(a, 1, "sensitivity runs on the workbench's "
		    "calibration: calibrate first (c)");
		return 0;
	}
	if (tq_job_sensitivity(a->model, a->calib, menu, n, MIX_PROBE_TOKENS,
	    &a->job, &err) != TQ_OK) {
		wb_message(a, 1, "sensitivity: %s", err.msg);
		return 0;
	}
	wb_runs_begin(a, WB_RUN_SENS, "sensitivity");
	snprintf(run_menu, sizeof(run_menu), "%.60s", what);
	wb_log(a, "sensitivity: menu %s, calibration %s", what, a->calib_path);
	a->dirty = 1;
	return 1;
}

/*
 * spec: "default", "gguf", a comma-separated menu ("rtn:q4_k,gptq:int4-g128")
 * or the path of a saved sensitivity file.
 */
int
wb_mix_start(wb_app *a, const char *spec)
{
	tq_error err = { TQ_OK, "" };
	const char *items[MIX_MENU_MAX];
	char buf[512], *save = NULL, *tok, src[160];
	tq_sens *s = NULL;
	size_t n = 0;

	while (*spec == ' ')
		spec++;
	if (wb_runs_busy(a)) {
		wb_message(a, 1, "a run is going on (Ctrl-C cancels it)");
		return 0;
	}
	if (*spec == '\0' || strcmp(spec, "default") == 0)
		return start_job(a, NULL, 0, "default");
	if (strcmp(spec, "gguf") == 0)
		return start_job(a, gguf_menu, sizeof(gguf_menu) /
		    sizeof(gguf_menu[0]), "gguf");
	if (access(spec, F_OK) == 0) {
		if (tq_sens_load(spec, a->model, &s, &err) != TQ_OK) {
			wb_message(a, 1, "%s", err.msg);
			return 0;
		}
		snprintf(src, sizeof(src), "from %.140s", strrchr(spec, '/') !=
		    NULL ? strrchr(spec, '/') + 1 : spec);
		if (!adopt_sens(a, s, src))
			return 0;
		mx.saved = 1;
		wb_message(a, 0, "sensitivity loaded from %s", spec);
		return 1;
	}
	if (strchr(spec, ':') == NULL) {
		wb_message(a, 1, "sensitivity: %s: no such file (or say "
		    "default, gguf or a menu like rtn:q4_k,gptq:int4-g128)", spec);
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, ", ", &save); tok != NULL && n < MIX_MENU_MAX;
	    tok = strtok_r(NULL, ", ", &save))
		items[n++] = tok;
	return start_job(a, items, n, spec);
}

int
wb_mix_save(wb_app *a, const char *path)
{
	tq_error err = { TQ_OK, "" };

	if (mx.sens == NULL) {
		wb_message(a, 1, "no sensitivity to save: measure it first (s)");
		return 0;
	}
	if (tq_sens_save(mx.sens, path, &err) != TQ_OK) {
		wb_message(a, 1, "%s", err.msg);
		return 0;
	}
	mx.saved = 1;
	wb_message(a, 0, "sensitivity saved to %s", path);
	wb_log(a, "sensitivity saved to %s", path);
	return 1;
}

void
wb_mix_finished(wb_app *a, tq_job *job)
{
	char src[160], el[32];
	const char *base = strrchr(a->calib_path, '/');
	tq_sens *s = tq_job_take_sens(job);

	wb_duration(wb_now() - a->run_t0, el, sizeof(el));
	snprintf(src, sizeof(src), "measured on %.80s, %.40s menu",
	    base != NULL ? base + 1 : a->calib_path, run_menu);
	if (s != NULL && adopt_sens(a, s, src))
		wb_message(a, 0, "sensitivity measured in %s: pick a point "
		    "(arrows, Enter)", el);
}

/* ---- Predicted loss of a plan ------------------------------------------- */

/* The menu entry a layer setting is, or -1 ("rtn:q4_k+imatrix"). */
static int
menu_index(const tq_layer_cfg *c)
{
	char name[80], sch[32];
	size_t k;

	if (mx.sens == NULL || (c->method != TQ_METHOD_RTN && c->method !=
	    TQ_METHOD_GPTQ))
		return -1;
	tq_scheme_name(&c->scheme, sch, sizeof(sch));
	snprintf(name, sizeof(name), "%s:%s%s", tq_method_name(c->method), sch,
	    c->use_imatrix ? "+imatrix" : "");
	for (k = 0; k < tq_sens_n_menu(mx.sens); k++)
		if (strcmp(tq_sens_menu(mx.sens, k), name) == 0)
			return (int)k;
	return -1;
}

/*
 * The sensitivity entry of a browser row, or -1 (lm_head, embeddings): its
 * layer's, or the group of a block's experts it is one of.
 */
static long
sens_layer(const wb_row *r)
{
	size_t l;

	if (mx.sens == NULL || r->block < 0 ||
	    (l = tq_sens_layer_of(mx.sens, r->idx)) == (size_t)-1)
		return -1;
	return (long)l;
}

/*
 * The current plan seen through the table, over the rows of its layers:
 * float layers add nothing to the loss, settings outside the menu are not
 * counted (p->known of p->total are).
 */
static void
plan_pred(const wb_app *a, mix_plan *p)
{
	double bits = 0.0, weights = 0.0;
	size_t i;
	long l;
	int k;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < a->n_rows; i++) {
		const wb_row *r = &a->rows[i];

		if ((l = sens_layer(r)) < 0)
			continue;
		p->total++;
		bits += r->bpw * (double)(r->rows * r->cols);
		weights += (double)(r->rows * r->cols);
		if (r->cfg.method == TQ_METHOD_FLOAT) {
			p->known++;
		} else if ((k = menu_index(&r->cfg)) >= 0) {
			/* a group of experts: each its share of the group's */
			p->pred += tq_sens_pred(mx.sens, (size_t)l, (size_t)k) *
			    (double)(r->rows * r->cols) /
			    (double)tq_sens_layer_params(mx.sens, (size_t)l);
			p->known++;
		}
	}
	p->bpw = weights > 0.0 ? bits / weights : 0.0;
}

/*
 * A plan's predicted KLD as text: "KLD~X", or "KLD>=X (known/total)".  A
 * layer outside the menu adds an unknown, not a zero: the sum of the
 * others is a lower bound, and says so, so that it is not read as a fall.
 */
static void
kld_text(const mix_plan *p, char *buf, size_t len)
{
	if (p->known == 0)
		snprintf(buf, len, "KLD~- (0/%d)", p->total);
	else if (p->known == p->total)
		snprintf(buf, len, "KLD~%.3g", p->pred);
	else
		snprintf(buf, len, "KLD>=%.3g (%d/%d)", p->pred, p->known,
		    p->total);
}

/*
 * The last change of the plan: "KLD~A -> B (+D, +P%)" when both sums are
 * whole, else each as it is ("KLD~A -> KLD>=B (27/28)"): a difference
 * with a lower bound in it is no number.
 */
static void
change_text(char *buf, size_t len)
{
	size_t n;

	kld_text(&mx.was, buf, len);
	n = strlen(buf);
	if (mx.was.known == mx.was.total && mx.now.known == mx.now.total &&
	    mx.now.total > 0) {
		snprintf(buf + n, len - n, " -> %.3g (%+.2g", mx.now.pred,
		    mx.now.pred - mx.was.pred);
		n = strlen(buf);
		if (mx.was.pred > 0.0)
			snprintf(buf + n, len - n, ", %+.0f%%", 100.0 *
			    (mx.now.pred - mx.was.pred) / mx.was.pred);
		n = strlen(buf);
		snprintf(buf + n, len - n, ")");
	} else {
		snprintf(buf + n, len - n, " -> ");
		n = strlen(buf);
		kld_text(&mx.now, buf + n, len - n);
	}
}

int
wb_mix_summary_text(const wb_app *a, char *buf, size_t len)
{
	mix_plan p;

	if (mx.sens == NULL)
		return 0;
	plan_pred(a, &p);
	kld_text(&p, buf, len);
	return 1;
}

void
wb_mix_plan_changed(wb_app *a)
{
	if (mx.sens == NULL)
		return;
	mx.was = mx.now;
	plan_pred(a, &mx.now);
	mx.changed = 1;
}

void
wb_mix_change_suffix(char *buf, size_t len)
{
	buf[0] = '\0';
	if (mx.sens != NULL && mx.changed && len > 3) {
		snprintf(buf, len, " | ");
		change_text(buf + 3, len - 3);
	}
}

/* ---- The frontier curve -------------------------------------------------- */

/* Braille cells: 2 x 4 dots each (ASCII: one mark per cell). */
static const unsigned char dot_bit[4][2] = {
	{ 0x01, 0x08 }, { 0x02, 0x10 }, { 0x04, 0x20 }, { 0x40, 0x80 }
};

static void
put_cell(int y, int x, unsigned bits)
{
	char u[4];

	if (bits == 0) {
		mvaddch(y, x, ' ');
	} else if (wb_utf8()) {
		/* U+2800 + bits as UTF-8 */
		u[0] = (char)0xe2;
		u[1] = (char)(0xa0 | (bits >> 6));
		u[2] = (char)(0x80 | (bits & 0x3f));
		u[3] = '\0';
		mvaddstr(y, x, u);
	} else {
		mvaddch(y, x, '.');
	}
}

/*
 * The plot's scale: bits per weight across, log10 of the predicted loss
 * down (the largest at the top), in braille dots (2 x 4 per cell).
 */
typedef struct plot {
	double bmin, bmax;	/* bpw at the left and right ends */
	double lmin, lmax;	/* log10 loss at the bottom and top */
	double least;		/* the smallest positive loss: zero sits there */
	int gw, gh;		/* dots across and down */
} plot;

/* log10 of a predicted loss, kept finite. */
static double
loss_log(const plot *p, double v)
{
	return log10(v > p->least ? v : p->least);
}

static int
dot_x(const plot *p, double bpw)
{
	return (int)lround((bpw - p->bmin) / (p->bmax - p->bmin) *
	    (p->gw - 1));
}

/* log: the loss's log10, which may lie outside the plot. */
static int
dot_y(const plot *p, double log)
{
	return (int)lround((p->lmax - log) / (p->lmax - p->lmin) *
	    (p->gh - 1));
}

/* The frontier's ranges, for a plot of w x h cells. */
static void
plot_scale(plot *p, int w, int h)
{
	size_t k;

	p->bmin = mx.front[0].bpw;
	p->bmax = mx.front[mx.n_front - 1].bpw;
	p->gw = w * 2;
	p->gh = h * 4;
	p->least = INFINITY;
	for (k = 0; k < mx.n_front; k++)
		if (mx.front[k].pred > 0.0 && mx.front[k].pred < p->least)
			p->least = mx.front[k].pred;
	if (!isfinite(p->least))
		p->least = 1e-12;
	p->lmin = INFINITY;
	p->lmax = -INFINITY;
	for (k = 0; k < mx.n_front; k++) {
		double v = loss_log(p, mx.front[k].pred);

		p->lmin = v < p->lmin ? v : p->lmin;
		p->lmax = v > p->lmax ? v : p->lmax;
	}
	if (p->lmax - p->lmin < 1e-9)
		p->lmax = p->lmin + 1.0;
	if (p->bmax - p->bmin < 1e-9)
		p->bmax = p->bmin + 1.0;
}

/* The current plan's mark: filled when its sum is whole, else hollow. */
static const char *
plan_glyph(void)
{
	if (mx.now.known < mx.now.total)
		return wb_utf8() ? "\xe2\x97\x87" : "?";
	return wb_utf8() ? "\xe2\x97\x86" : "#";
}

/*
 * The current plan's mark in the plot (cell *cx, *cy): a filled diamond
 * when its sum is whole, a hollow one when it is a lower bound (the plan
 * is at or above it), an arrow on the border when it lies outside the
 * frontier's ranges.  NULL when no layer's setting is in the menu.
 */
static const char *
plan_mark(const plot *p, int w, int h, int *cx, int *cy)
{
	const mix_plan *pl = &mx.now;
	int x, y;

	if (pl->known == 0)
		return NULL;
	x = dot_x(p, pl->bpw);
	/* a loss of zero (all float) is below every point */
	y = pl->pred > 0.0 ? dot_y(p, log10(pl->pred)) : p->gh;
	*cx = x < 0 ? 0 : x >= p->gw ? w - 1 : x / 2;
	*cy = y < 0 ? 0 : y >= p->gh ? h - 1 : y / 4;
	if (x < 0)
		return "<";
	if (x >= p->gw)
		return ">";
	if (y < 0)
		return "^";
	if (y >= p->gh)
		return "v";
	return plan_glyph();
}

/*
 * The bpw axis at row y: ticks at the smallest round step whose labels
 * keep two columns apart at this width, so a wide plot gets more of them.
 */
static void
draw_bpw_axis(const plot *p, int y, int x0, int w)
{
	static const double steps[] = { 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8 };
	static const int decimals[] = { 2, 1, 2, 1, 0, 0, 0, 0 };
	double cols = (p->gw - 1) / 2.0 / (p->bmax - p->bmin), step = 8, t;
	char lab[16];
	int prec = 0, i, n, end = x0 - 2;
	size_t k;

	for (k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		step = steps[k];
		prec = decimals[k];
		n = snprintf(lab, sizeof(lab), "%.*f", prec, p->bmax);
		if (step * cols >= n + 2)
			break;
	}
	move(y, x0 - 1);
	addch('+');
	for (i = 0; i < w; i++)
		addch('-');
	for (t = ceil(p->bmin / step - 1e-9) * step; t <= p->bmax + 1e-9;
	    t += step) {
		int cx = dot_x(p, t) / 2;

		mvaddch(y, x0 + cx, '+');
		/* the label centred under its tick, within the plot */
		n = snprintf(lab, sizeof(lab), "%.*f", prec, t);
		i = x0 + cx - n / 2;
		i = i + n > x0 + w ? x0 + w - n : i < x0 ? x0 : i;
		if (i >= end + 2) {
			wb_text(y + 1, i, n, 0, lab);
			end = i + n;
		}
	}
}

/*
 * The loss axis: labels at its two ends, and at the decades between them
 * (with 3x, or 2x 3x 5x, when a decade has the rows), a free row apart.
 */
static void
draw_loss_axis(const plot *p, int y0, int x0, int h)
{
	static const double sub[4] = { 1, 2, 3, 5 };
	static const int used[3][4] = {
		{ 1, 0, 0, 0 }, { 1, 0, 1, 0 }, { 1, 1, 1, 1 }
	};
	double per = (h - 1) / (p->lmax - p->lmin);	/* rows a decade */
	int cy, d, j, last = h - 1, u = per >= 12 ? 2 : per >= 6 ? 1 : 0;

	for (cy = 0; cy < h; cy++)
		mvaddch(y0 + cy, x0 - 1, '|');
	wb_textf(y0, 0, x0 - 1, "%*.1e", x0 - 1, pow(10.0, p->lmax));
	wb_textf(y0 + h - 1, 0, x0 - 1, "%*.1e", x0 - 1, pow(10.0, p->lmin));
	/* upwards from the bottom: the loss grows, the row falls */
	for (d = (int)floor(p->lmin); d <= (int)ceil(p->lmax); d++) {
		for (j = 0; j < 4; j++) {
			double l = d + log10(sub[j]);

			if (!used[u][j] || l < p->lmin || l > p->lmax)
				continue;
			cy = dot_y(p, l) / 4;
			if (cy < 2 || cy > last - 2)
				continue;
			wb_textf(y0 + cy, 0, x0 - 1, "%*.0e", x0 - 1,
			    pow(10.0, l));
			last = cy;
		}
	}
}

static void
draw_curve(int y0, int x0, int h, int w)
{
	plot p;
	const char *mark;
	unsigned char *cells;
	int px = 0, py = 0, cx, cy;
	size_t k;

	if (h < 3 || w < 8)
		return;
	plot_scale(&p, w, h);
	if ((cells = calloc((size_t)(w * h), 1)) == NULL)
		return;
	/* Each point, and the segment from the previous one, as dots. */
	for (k = 0; k < mx.n_front; k++) {
		int qx = dot_x(&p, mx.front[k].bpw);
		int qy = dot_y(&p, loss_log(&p, mx.front[k].pred));
		int steps, s;

		if (k == 0) {
			px = qx;
			py = qy;
		}
		steps = abs(qx - px) > abs(qy - py) ? abs(qx - px) :
		    abs(qy - py);
		for (s = 0; s <= steps; s++) {
			int dx = steps ? px + (qx - px) * s / steps : qx;
			int dy = steps ? py + (qy - py) * s / steps : qy;

			cells[(dy / 4) * w + dx / 2] |= dot_bit[dy % 4][dx % 2];
		}
		px = qx;
		py = qy;
	}
	attron(wb_attr(WB_C_BAR));
	for (cy = 0; cy < h; cy++)
		for (cx = 0; cx < w; cx++)
			put_cell(y0 + cy, x0 + cx, cells[cy * w + cx]);
	attroff(wb_attr(WB_C_BAR));
	free(cells);
	/* A mark at every point in ASCII, then the cursor's point on top. */
	for (k = 0; k <= mx.n_front; k++) {
		size_t pt = k < mx.n_front ? k : mx.cur;

		cx = dot_x(&p, mx.front[pt].bpw) / 2;
		cy = dot_y(&p, loss_log(&p, mx.front[pt].pred)) / 4;
		if (k == mx.n_front) {
			attron(wb_attr(WB_C_CURSOR) | A_BOLD);
			mvaddstr(y0 + cy, x0 + cx, wb_utf8() ? "\xe2\x97\x8f" :
			    "@");
			attroff(wb_attr(WB_C_CURSOR) | A_BOLD);
		} else if (!wb_utf8()) {
			mvaddch(y0 + cy, x0 + cx, '*');
		}
	}
	/* The current plan over both: it is what a quantization would use. */
	if ((mark = plan_mark(&p, w, h, &cx, &cy)) != NULL) {
		attron(wb_attr(WB_C_WARN) | A_BOLD);
		mvaddstr(y0 + cy, x0 + cx, mark);
		attroff(wb_attr(WB_C_WARN) | A_BOLD);
	}
	/* Axes: loss (log) on the left, bits per weight below. */
	attron(wb_attr(WB_C_DIM));
	draw_loss_axis(&p, y0, x0, h);
	draw_bpw_axis(&p, y0 + h, x0, w);
	attroff(wb_attr(WB_C_DIM));
}

/* ---- The heat map -------------------------------------------------------- */

/* A layer's value on the heat map, or NaN when there is none. */
static double
heat_value(const wb_app *a, size_t l)
{
	size_t row;
	int k;

	if (!mx.heat_plan)
		return tq_sens_probe_kld(mx.sens, l);
	/* a group of experts: its first expert's row */
	row = tq_sens_layer_linear(mx.sens, l, 0);
	if (row >= a->n_rows || a->rows[row].cfg.method == TQ_METHOD_FLOAT)
		return NAN;
	k = menu_index(&a->rows[row].cfg);
	return k < 0 ? NAN : tq_sens_pred(mx.sens, l, (size_t)k);
}

/* Draws the heat map at (y0, x0) in w columns; returns the next free row. */
static int
draw_heat(const wb_app *a, int y0, int x0, int rows, int w)
{
	static const char *const shade_u[5] = {
		"\xc2\xb7", "\xe2\x96\x91", "\xe2\x96\x92", "\xe2\x96\x93",
		"\xe2\x96\x88"
	};
	static const char shade_a[5] = { '.', ':', '+', '*', '#' };
	static const wb_color shade_c[5] = {
		WB_C_DIM, WB_C_GOOD, WB_C_GOOD, WB_C_WARN, WB_C_BAD
	};
	size_t nl = tq_sens_n_layers(mx.sens), l;
	int nb = (int)(nl / 7), per, r, c, j, y = y0;
	double lo = INFINITY, hi = -INFINITY;

	if (rows < 1 || nb < 1)
		return y0;
	per = (nb + rows - 1) / rows;	/* blocks per row: the largest shows */
	rows = (nb + per - 1) / per;
	for (l = 0; l < nl; l++) {
		double v = heat_value(a, l);

		if (v > 0.0 && isfinite(v)) {
			lo = log10(v) < lo ? log10(v) : lo;
			hi = log10(v) > hi ? log10(v) : hi;
		}
	}
	attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
	wb_text(y++, x0, w, 0, mx.heat_plan ? "predicted KLD, this plan" :
	    "probe KLD (layer alone)");
	attroff(wb_attr(WB_C_HEADER));
	/* the layer types of a block, in model order */
	wb_text(y++, x0, w, 0, per > 1 ? "blks q  k  v  o  ga up dn" :
	    "blk  q  k  v  o  ga up dn");
	for (r = 0; r < rows; r++, y++) {
		wb_textf(y, x0, 5, "%3d", r * per);
		for (c = 0; c < 7; c++) {
			double v = NAN;
			int sh;

			for (j = 0; j < per && r * per + j < nb; j++) {
				double u = heat_value(a, (size_t)((r * per + j) *
				    7 + c));

				if (isfinite(u) && !(u <= v))
					v = u;
			}
			if (!isfinite(v))
				continue;	/* float, or not in the menu */
			/* four shades over the decades from lo to hi */
			sh = v <= 0.0 ? 0 : hi - lo < 1e-9 ? 4 : 1 +
			    (int)floor((log10(v) - lo) / (hi - lo) * 3.999);
			attron(wb_attr(shade_c[sh]));
			for (j = 0; j < 2; j++) {
				if (wb_utf8())
					mvaddstr(y, x0 + 5 + 3 * c + j, shade_u[sh]);
				else
					mvaddch(y, x0 + 5 + 3 * c + j,
					    (chtype)shade_a[sh]);
			}
			attroff(wb_attr(shade_c[sh]));
		}
	}
	/* Legend: the shades' lower bounds. */
	if (isfinite(lo)) {
		int x = x0;

		for (j = 1; j < 5 && x + 6 <= x0 + w; j++) {
			attron(wb_attr(shade_c[j]));
			if (wb_utf8())
				mvaddstr(y, x, shade_u[j]);
			else
				mvaddch(y, x, (chtype)shade_a[j]);
			attroff(wb_attr(shade_c[j]));
			wb_textf(y, x + 1, 6, "%.0e", pow(10.0, lo + (hi - lo) *
			    (j - 1) / 4.0));
			x += 7;
		}
		y++;
	} else {
		attron(wb_attr(WB_C_DIM));
		wb_text(y++, x0, w, 0, mx.heat_plan ? "no setting in the menu" :
		    "no probe measured");
		attroff(wb_attr(WB_C_DIM));
	}
	return y;
}

/* The settings of the point under the cursor, most used first. */
static void
draw_choices(int y, int x0, int y1, int w)
{
	size_t nm = tq_sens_n_menu(mx.sens), nl = tq_sens_n_layers(mx.sens);
	size_t k, l, best;
	int count[MIX_MENU_MAX], shown[MIX_MENU_MAX];

	if (y >= y1 || nm > MIX_MENU_MAX)
		return;
	memset(count, 0, sizeof(count));
	memset(shown, 0, sizeof(shown));
	for (l = 0; l < nl; l++)
		count[mx.front[mx.cur].choice[l]]++;
	attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
	wb_text(y++, x0, w, 0, "this point's layers");
	attroff(wb_attr(WB_C_HEADER));
	while (y < y1) {
		for (best = nm, k = 0; k < nm; k++)
			if (!shown[k] && count[k] > 0 && (best == nm ||
			    count[k] > count[best]))
				best = k;
		if (best == nm)
			break;
		shown[best] = 1;
		wb_textf(y++, x0, w, "%3d %s", count[best],
		    tq_sens_menu(mx.sens, best));
	}
}

/* The frontier point whose choices the current plan has, or -1. */
static long
plan_point(const wb_app *a)
{
	size_t i, k;
	long l;
	int c, same;

	for (k = 0; k < mx.n_front; k++) {
		same = 1;
		for (i = 0; i < a->n_rows && same; i++) {
			if ((l = sens_layer(&a->rows[i])) < 0)
				continue;
			c = a->rows[i].cfg.method == TQ_METHOD_FLOAT ? -1 :
			    menu_index(&a->rows[i].cfg);
			same = c >= 0 && (size_t)c == mx.front[k].choice[l];
		}
		if (same)
			return (long)k;
	}
	return -1;
}

/*
 * The current plan's line: its mark, its size and predicted KLD over the
 * block linears, from what to what its last change moved them, and the
 * frontier point it is, when it is one.
 */
static void
draw_plan_line(const wb_app *a, int y)
{
	char buf[256], pt[32];
	long k;
	int x;

	if (mx.now.known == 0) {
		kld_text(&mx.now, buf, sizeof(buf));
		wb_textf(y, 0, COLS, " plan: %s, none of its settings in the "
		    "menu: not on the plot", buf);
		return;
	}
	wb_text(y, 0, COLS, 1, " plan ");
	attron(wb_attr(WB_C_WARN) | A_BOLD);
	mvaddstr(y, 6, plan_glyph());
	attroff(wb_attr(WB_C_WARN) | A_BOLD);
	if (mx.changed && fabs(mx.was.bpw - mx.now.bpw) >= 0.0005) {
		snprintf(buf, sizeof(buf), "%.3f -> %.3f bpw  ", mx.was.bpw,
		    mx.now.bpw);
	} else {
		snprintf(buf, sizeof(buf), "%.3f bpw  ", mx.now.bpw);
	}
	x = (int)strlen(buf);
	if (mx.changed)
		change_text(buf + x, sizeof(buf) - (size_t)x);
	else
		kld_text(&mx.now, buf + x, sizeof(buf) - (size_t)x);
	/* which point, when the line has room for it */
	if ((k = plan_point(a)) >= 0) {
		snprintf(pt, sizeof(pt), "  = point %ld/%zu", k + 1,
		    mx.n_front);
		if (8 + strlen(buf) + strlen(pt) <= (size_t)COLS)
			strcat(buf, pt);
	}
	wb_text(y, 8, COLS - 8, 0, buf);
}

/* ---- The screen ---------------------------------------------------------- */

void
wb_mix_draw(wb_app *a, int y0, int y1)
{
	int h = y1 - y0, hw = COLS >= 72 ? 29 : 0, pw = COLS - hw - 11, y;
	const tq_mix *p;
	char size[16];

	if (mx.sens == NULL) {
		wb_text(y0 + 1, 1, COLS - 2, 0, "No sensitivity yet.  s measures "
		    "each block linear's error for a menu of");
		wb_text(y0 + 2, 1, COLS - 2, 0, "settings on the workbench's "
		    "calibration (c first), with a KLD probe per");
		wb_text(y0 + 3, 1, COLS - 2, 0, "layer, or loads a saved file.  "
		    "The frontier of size against predicted");
		wb_text(y0 + 4, 1, COLS - 2, 0, "KLD is then drawn here, and "
		    "Enter loads a point's plan into the browser.");
		wb_textf(y0 + 6, 1, COLS - 2, "calibration: %s", a->calib !=
		    NULL ? a->calib_path : "none yet (c)");
		return;
	}
	p = &mx.front[mx.cur];
	attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
	wb_textf(y0, 0, COLS, " %zu points, %zu settings | %s", mx.n_front,
	    tq_sens_n_menu(mx.sens), mx.source);
	attroff(wb_attr(WB_C_HEADER));
	wb_human(p->bpw * (double)mx.params / 8.0, size, sizeof(size));
	attron(wb_attr(WB_C_MARKED));
	wb_textf(y0 + 1, 0, COLS, " point %zu/%zu: %.3f bpw  predicted KLD "
	    "%.4g  block linears %sB", mx.cur + 1, mx.n_front, p->bpw, p->pred,
	    size);
	attroff(wb_attr(WB_C_MARKED));
	draw_plan_line(a, y0 + 2);
	attron(wb_attr(WB_C_DIM));
	wb_text(y0 + 3, 1, COLS - 1 - hw, 0, "predicted KLD (log)");
	attroff(wb_attr(WB_C_DIM));
	draw_curve(y0 + 4, 9, h - 7, pw);	/* as wide as the window */
	attron(wb_attr(WB_C_DIM));
	wb_text(y1 - 1, 9, COLS - 9 - hw, 0, "bits per weight (block "
	    "linears)");
	attroff(wb_attr(WB_C_DIM));
	if (hw > 0) {
		y = draw_heat(a, y0 + 3, COLS - hw, (y1 - y0 - 7) / 2, hw - 1);
		draw_choices(y + 1, COLS - hw, y1, hw - 1);
	}
}

/*
 * Loads the plan of the point under the cursor into the browser; asked:
 * the bits per weight "go to" asked for (it stays on this screen), or
 * < 0 for Enter (to the browser).
 */
static int
pick(wb_app *a, double asked)
{
	tq_error err = { TQ_OK, "" };
	tq_plan *plan = NULL;
	const tq_mix *p = &mx.front[mx.cur];
	char origin[96], chg[160];

	snprintf(origin, sizeof(origin), "mix %.3f bpw", p->bpw);
	if (tq_sens_plan(mx.sens, p, a->model, a->plan.plan, &plan, &err) !=
	    TQ_OK) {
		wb_message(a, 1, "%s", err.msg);
		return 0;
	}
	if (!wb_plan_set(a, plan, origin))
		return 0;
	wb_log(a, "plan: frontier point %zu, %.3f bpw, predicted KLD %.4g",
	    mx.cur + 1, p->bpw, p->pred);
	wb_mix_change_suffix(chg, sizeof(chg));
	if (asked < 0.0) {
		wb_message(a, 0, "point %zu/%zu (%.3f bpw) loaded%s", mx.cur + 1,
		    mx.n_front, p->bpw, chg);
		a->screen = WB_SCR_BROWSER;
	} else {
		wb_message(a, 0, "%g bpw: point %zu/%zu, %.3f bpw%s", asked,
		    mx.cur + 1, mx.n_front, p->bpw, chg);
	}
	return 1;
}

int
wb_mix_goto(wb_app *a, const char *text)
{
	char *end;
	double n;
	size_t k;

	if (mx.sens == NULL) {
		wb_message(a, 1, "no frontier yet: measure or load the "
		    "sensitivity first (s)");
		return 0;
	}
	n = strtod(text, &end);
	while (*end == ' ')
		end++;
	if (end == text || *end != '\0' || !isfinite(n) || n <= 0.0) {
		wb_message(a, 1, "go to: \"%s\" is not a number of bits per "
		    "weight (say 4.5)", text);
		return 0;
	}
	/*
	 * The point at or below n, to the three decimals points are shown
	 * with: "4.303" reaches the point shown as 4.303.
	 */
	if (mx.front[0].bpw >= n + 0.0005) {
		wb_message(a, 1, "no frontier point at or below %g bpw: the "
		    "smallest is %.3f", n, mx.front[0].bpw);
		return 0;
	}
	for (k = 0; k + 1 < mx.n_front && mx.front[k + 1].bpw < n + 0.0005;
	    k++)
		;
	mx.cur = k;
	return pick(a, n);
}

/* s measures or loads, w saves. */
static void
press_sens(wb_app *a, int key)
{
	if (key == 's')
		wb_prompt(a, WB_PROMPT_SENS, "default");
	else
		wb_prompt(a, WB_PROMPT_SENS_SAVE, "sensitivity.json");
}

static void
press_heat(wb_app *a, int key)
{
	(void)a;
	(void)key;
	mx.heat_plan = !mx.heat_plan;
}

/* b: the prompt, with the cursor's bits per weight to start from. */
static void
press_goto(wb_app *a, int key)
{
	char init[32] = "";

	(void)key;
	if (mx.sens == NULL) {
		wb_message(a, 1, "no frontier yet: measure or load the "
		    "sensitivity first (s)");
		return;
	}
	snprintf(init, sizeof(init), "%.3f", mx.front[mx.cur].bpw);
	wb_prompt(a, WB_PROMPT_MIX_BPW, init);
}

/* Along the frontier, once there is one. */
static void
press_point(wb_app *a, int key)
{
	size_t step = mx.n_front > 20 ? mx.n_front / 20 : 1;

	(void)a;
	if (mx.sens == NULL)
		return;
	switch (key) {
	case KEY_LEFT: case 'h':
		mx.cur = mx.cur > 0 ? mx.cur - 1 : 0;
		break;
	case KEY_RIGHT: case 'l':
		mx.cur = mx.cur + 1 < mx.n_front ? mx.cur + 1 : mx.cur;
		break;
	/* down the curve: more bits, less loss */
	case KEY_DOWN: case 'j': case KEY_NPAGE:
		mx.cur = mx.cur + step < mx.n_front ? mx.cur + step :
		    mx.n_front - 1;
		break;
	case KEY_UP: case 'k': case KEY_PPAGE:
		mx.cur = mx.cur > step ? mx.cur - step : 0;
		break;
	case KEY_HOME: case 'g':
		mx.cur = 0;
		break;
	default:	/* G End */
		mx.cur = mx.n_front - 1;
		break;
	}
}

static void
press_pick(wb_app *a, int key)
{
	(void)key;
	if (mx.sens != NULL)
		pick(a, -1.0);
}

static const wb_key keys[] = {
	{ { 's' }, press_sens, "sensitivity: measure on the calibration with "
	    "the default or gguf menu (or METHOD:SCHEME,...), or load a saved "
	    "FILE", "sensitivity", WB_ALWAYS },
	{ { 'h', KEY_LEFT }, press_point, "previous point of the frontier",
	    "point", WB_ALWAYS },
	{ { 'l', KEY_RIGHT }, press_point, "next point of the frontier",
	    "point", WB_ALWAYS },
	{ { 'j', KEY_DOWN, KEY_NPAGE }, press_point, "a bigger step down the "
	    "curve (more bits)", NULL, WB_ALWAYS },
	{ { 'k', KEY_UP, KEY_PPAGE }, press_point, "a bigger step up the curve "
	    "(fewer bits)", NULL, WB_ALWAYS },
	{ { 'g', KEY_HOME }, press_point, "the first point", NULL, WB_ALWAYS },
	{ { 'G', KEY_END }, press_point, "the last point", NULL, WB_ALWAYS },
	{ { '\r', '\n', KEY_ENTER }, press_pick, "load the point's plan into "
	    "the browser (u undoes)", "pick", WB_ALWAYS },
	{ { 'b' }, press_goto, "go to N bits per weight: load the plan of the "
	    "frontier point at or below N (u undoes)", "go to", WB_ALWAYS },
	{ { 'm' }, press_heat, "heat map: probe KLD, or the current plan's "
	    "predicted KLD", "heat", WB_ALWAYS },
	{ { 'w' }, press_sens, "save the sensitivity to a file", "save",
	    WB_ALWAYS },
	{ { WB_KEY_ESC }, wb_key_back, "back to the layer browser", "back",
	    WB_ALWAYS },
};

const wb_keymap wb_mix_keymap = {
	"Mixed precision (6)", keys, WB_NKEYS(keys),
	"The plot marks the cursor's point with a dot (@ in ASCII) and the "
	"current plan with a diamond (#), hollow (?) when a layer's setting is "
	"not in the menu and its predicted KLD is a lower bound"
};

const tq_sens *
wb_mix_sens(void)
{
	return mx.sens;
}
