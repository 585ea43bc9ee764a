/*
 * wb_mix.c: the mixed-precision screen.  It measures every block linear's
 * sensitivity on the workbench's calibration (the engine's sensitivity
 * job, on the engine thread like quantization) or loads a saved table;
 * draws the Pareto frontier of bits per weight against predicted KLD (log
 * scale) with braille dots (ASCII without UTF-8) and a cursor on its
 * points; Enter loads the plan of the point under the cursor into the
 * browser as an undoable plan change.  Beside it, a heat map of
 * sensitivity by block and layer type.  The browser's summary line gets
 * the predicted KLD of the current plan (wb_mix_summary_text).
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

static struct {
	tq_sens *sens;		/* owned; NULL until measured or loaded */
	char source[160];	/* where it came from */
	tq_mix *front;		/* [n_front], smallest first */
	size_t n_front;
	size_t cur;		/* the frontier point under the cursor */
	int64_t params;		/* weights of the block linears */
	int heat_plan;		/* heat map: 0 probe KLD, 1 the plan's setting */
	int saved;		/* loaded from or saved to a file */
} mx;

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

/* The sensitivity layer of a browser row, or -1 (lm_head, embeddings). */
static long
sens_layer(const wb_row *r)
{
	if (mx.sens == NULL || r->block < 0 || r->idx >=
	    tq_sens_n_layers(mx.sens) ||
	    strcmp(tq_sens_layer_name(mx.sens, r->idx), r->name) != 0)
		return -1;
	return (long)r->idx;
}

/*
 * The predicted KLD of the rows' settings: float layers add nothing,
 * settings outside the menu are not counted (*known of *total are).
 */
static double
plan_pred(const wb_app *a, int *known, int *total)
{
	double pred = 0.0;
	size_t i;
	long l;
	int k;

	*known = *total = 0;
	for (i = 0; i < a->n_rows; i++) {
		const wb_row *r = &a->rows[i];

		if ((l = sens_layer(r)) < 0)
			continue;
		(*total)++;
		if (r->cfg.method == TQ_METHOD_FLOAT) {
			(*known)++;
		} else if ((k = menu_index(&r->cfg)) >= 0) {
			pred += tq_sens_pred(mx.sens, (size_t)l, (size_t)k);
			(*known)++;
		}
	}
	return pred;
}

int
wb_mix_summary_text(const wb_app *a, char *buf, size_t len)
{
	int known, total;
	double p;

	if (mx.sens == NULL)
		return 0;
	p = plan_pred(a, &known, &total);
	/*
	 * "(known/total)": the layers whose setting the menu has.  A layer
	 * outside it adds an unknown, not a zero: the sum of the others is
	 * a lower bound, and says so, so that it is not read as a fall.
	 */
	if (known == 0)
		snprintf(buf, len, "KLD~- (0/%d)", total);
	else if (known == total)
		snprintf(buf, len, "KLD~%.3g", p);
	else
		snprintf(buf, len, "KLD>=%.3g (%d/%d)", p, known, total);
	return 1;
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

/* log10 of a predicted loss, kept finite. */
static double
loss_log(double v, double least)
{
	return log10(v > least ? v : least);
}

static void
draw_curve(int y0, int x0, int h, int w)
{
	double bmin = mx.front[0].bpw, bmax = mx.front[mx.n_front - 1].bpw;
	double lmin = INFINITY, lmax = -INFINITY, least = INFINITY;
	unsigned char *cells;
	int gw = w * 2, gh = h * 4, i, px = 0, py = 0, cx, cy, step;
	size_t k;

	if (h < 3 || w < 8)
		return;
	for (k = 0; k < mx.n_front; k++)
		if (mx.front[k].pred > 0.0 && mx.front[k].pred < least)
			least = mx.front[k].pred;
	if (!isfinite(least))
		least = 1e-12;
	for (k = 0; k < mx.n_front; k++) {
		double v = loss_log(mx.front[k].pred, least);

		lmin = v < lmin ? v : lmin;
		lmax = v > lmax ? v : lmax;
	}
	if (lmax - lmin < 1e-9)
		lmax = lmin + 1.0;
	if (bmax - bmin < 1e-9)
		bmax = bmin + 1.0;
	if ((cells = calloc((size_t)(w * h), 1)) == NULL)
		return;
	/* Each point, and the segment from the previous one, as dots. */
	for (k = 0; k < mx.n_front; k++) {
		int qx = (int)lround((mx.front[k].bpw - bmin) / (bmax - bmin) *
		    (gw - 1));
		int qy = (int)lround((lmax - loss_log(mx.front[k].pred, least)) /
		    (lmax - lmin) * (gh - 1));
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
	/* A mark at every point in ASCII, then the cursor's point on top. */
	for (k = 0; k <= mx.n_front; k++) {
		size_t pt = k < mx.n_front ? k : mx.cur;

		cx = (int)lround((mx.front[pt].bpw - bmin) / (bmax - bmin) *
		    (gw - 1)) / 2;
		cy = (int)lround((lmax - loss_log(mx.front[pt].pred, least)) /
		    (lmax - lmin) * (gh - 1)) / 4;
		if (k == mx.n_front) {
			attron(wb_attr(WB_C_CURSOR) | A_BOLD);
			mvaddstr(y0 + cy, x0 + cx, wb_utf8() ? "\xe2\x97\x8f" :
			    "@");
			attroff(wb_attr(WB_C_CURSOR) | A_BOLD);
		} else if (!wb_utf8()) {
			mvaddch(y0 + cy, x0 + cx, '*');
		}
	}
	free(cells);
	/* Axes: loss (log) on the left, bits per weight below. */
	attron(wb_attr(WB_C_DIM));
	for (i = 0; i < 3; i++) {
		double l = lmax - (lmax - lmin) * i / 2.0;

		wb_textf(y0 + (h - 1) * i / 2, 0, x0 - 1, "%*.1e", x0 - 1,
		    pow(10.0, l));
	}
	for (cy = 0; cy < h; cy++)
		mvaddch(y0 + cy, x0 - 1, '|');
	move(y0 + h, x0 - 1);
	addch('+');
	for (cx = 0; cx < w; cx++)
		addch('-');
	/* bpw labels at ticks a quarter apart, the last at the right end */
	step = (w - 1) / 4 > 8 ? (w - 1) / 4 : 8;
	for (i = 0; i + step <= w - 1; i += step) {
		if (i > 0)
			mvaddch(y0 + h, x0 + i, '+');
		wb_textf(y0 + h + 1, x0 + i, 7, "%-6.2f", bmin + (bmax - bmin) *
		    2.0 * i / (gw - 1));
	}
	mvaddch(y0 + h, x0 + w - 1, '+');
	wb_textf(y0 + h + 1, x0 + w - 6, 7, "%6.2f", bmax);
	attroff(wb_attr(WB_C_DIM));
}

/* ---- The heat map -------------------------------------------------------- */

/* A layer's value on the heat map, or NaN when there is none. */
static double
heat_value(const wb_app *a, size_t l)
{
	int k;

	if (!mx.heat_plan)
		return tq_sens_probe_kld(mx.sens, l);
	if (l >= a->n_rows || a->rows[l].cfg.method == TQ_METHOD_FLOAT)
		return NAN;
	k = menu_index(&a->rows[l].cfg);
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
	attron(wb_attr(WB_C_DIM));
	wb_text(y0 + 2, 1, COLS - 1 - hw, 0, "predicted KLD (log)");
	attroff(wb_attr(WB_C_DIM));
	draw_curve(y0 + 3, 9, h - 6, pw);	/* as wide as the window */
	attron(wb_attr(WB_C_DIM));
	wb_text(y1 - 1, 9, COLS - 9 - hw, 0, "bits per weight (block "
	    "linears)");
	attroff(wb_attr(WB_C_DIM));
	if (hw > 0) {
		y = draw_heat(a, y0 + 2, COLS - hw, (y1 - y0 - 6) / 2, hw - 1);
		draw_choices(y + 1, COLS - hw, y1, hw - 1);
	}
}

/* Loads the plan of the point under the cursor into the browser. */
static int
pick(wb_app *a)
{
	tq_error err = { TQ_OK, "" };
	tq_plan *plan = NULL;
	const tq_mix *p = &mx.front[mx.cur];
	char origin[96];

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
	wb_message(a, 0, "plan: frontier point %.3f bpw, predicted KLD %.4g "
	    "(u undoes)", p->bpw, p->pred);
	a->screen = WB_SCR_BROWSER;
	return 1;
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
		pick(a);
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
	{ { 'm' }, press_heat, "heat map: probe KLD, or the current plan's "
	    "predicted KLD", "heat", WB_ALWAYS },
	{ { 'w' }, press_sens, "save the sensitivity to a file", "save",
	    WB_ALWAYS },
	{ { WB_KEY_ESC }, wb_key_back, "back to the layer browser", "back",
	    WB_ALWAYS },
};

const wb_keymap wb_mix_keymap = {
	"Mixed precision (6)", keys, WB_NKEYS(keys), NULL
};
