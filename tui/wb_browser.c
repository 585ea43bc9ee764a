/*
 * wb_browser.c: the layer browser: every quantizable layer with its shape,
 * parameters, planned setting, bits per weight, size, measured error and
 * outlier channels; sorted by any column, filtered by a PCRE2 pattern, with
 * a summary line of the whole plan.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <curses.h>

#include "wb.h"

/*
 * "model.layers.3.self_attn.q_proj" -> "3.attn.q_proj"; an expert's
 * "model.layers.3.mlp.experts.5.up_proj" -> "3.e5.up_proj".
 */
static void
short_name(const char *name, char *buf, size_t len, int *block)
{
	const char *p = name, *leaf, *ex;
	int b, e;

	*block = -1;
	if (strncmp(p, "model.layers.", 13) == 0 && sscanf(p + 13, "%d", &b) ==
	    1) {
		leaf = strrchr(p, '.') + 1;
		*block = b;
		if ((ex = strstr(p, ".experts.")) != NULL &&
		    sscanf(ex + 9, "%d", &e) == 1)
			snprintf(buf, len, "%d.e%d.%s", b, e, leaf);
		else
			snprintf(buf, len, "%d.%s.%s", b, strstr(p,
			    ".self_attn.") != NULL ? "attn" : "mlp", leaf);
		return;
	}
	if (strncmp(p, "model.", 6) == 0)
		p += 6;
	snprintf(buf, len, "%s", p);
}

/* The calibration site of each kind of linear (the hook's names). */
static const tq_linear site_of[TQ_LINEAR_LM_HEAD] = {
	TQ_LINEAR_Q, TQ_LINEAR_Q, TQ_LINEAR_Q, TQ_LINEAR_O, TQ_LINEAR_GATE,
	TQ_LINEAR_GATE, TQ_LINEAR_DOWN
};

static struct {
	size_t idx;
	float *w;		/* [rows, cols] */
} weight = { (size_t)-1, NULL };

const float *
wb_row_weight(wb_app *a, const wb_row *r)
{
	tq_error err;

	if (weight.idx == r->idx && weight.w != NULL)
		return weight.w;
	/* The UI thread reads and rounds it: keep that within ~0.1 s. */
	if (r->rows * r->cols > WB_WEIGHT_MAX)
		return NULL;
	free(weight.w);
	weight.idx = r->idx;
	weight.w = malloc(sizeof(float) * (size_t)(r->rows * r->cols));
	if (weight.w != NULL && tq_model_linear_weight(a->model, r->idx,
	    weight.w, &err) != TQ_OK) {
		free(weight.w);
		weight.w = NULL;
	}
	return weight.w;
}

tq_status
wb_browser_init(wb_app *a, tq_error *err)
{
	size_t i, n = tq_model_n_linears(a->model);

	a->rows = calloc(n, sizeof(*a->rows));
	a->view = calloc(n, sizeof(*a->view));
	if (a->rows == NULL || a->view == NULL)
		return (err->status = TQ_ENOMEM);
	a->n_rows = n;
	for (i = 0; i < n; i++) {
		wb_row *r = &a->rows[i];

		r->idx = i;
		r->name = tq_model_linear_name(a->model, i);
		short_name(r->name, r->shortname, sizeof(r->shortname),
		    &r->block);
		tq_model_linear_shape(a->model, i, &r->rows, &r->cols);
		/* the embeddings take token ids: no input site */
		r->has_site = r->block >= 0 || i + 2 == n;
		r->site = r->block < 0 ? TQ_LINEAR_LM_HEAD :
		    site_of[tq_model_linear_kind(a->model, i, NULL)];
	}
	wb_browser_resolve(a);
	wb_browser_refilter(a);
	return TQ_OK;
}

void
wb_browser_free(wb_app *a)
{
	pcre2_code_free(a->filter_re);
	a->filter_re = NULL;
	free(weight.w);
	weight.w = NULL;
	weight.idx = (size_t)-1;
	free(a->rows);
	free(a->view);
}

void
wb_browser_resolve(wb_app *a)
{
	size_t i;
	tq_error err;

	for (i = 0; i < a->n_rows; i++) {
		wb_row *r = &a->rows[i];

		if (tq_plan_resolve(a->plan.plan, a->model, r->name, &r->cfg,
		    &err) != TQ_OK)
			tq_layer_cfg_init(&r->cfg, TQ_METHOD_FLOAT, NULL);
		if (tq_plan_fallback(a->plan.plan, a->model, r->name, r->fell,
		    sizeof(r->fell), &err) != TQ_OK)
			r->fell[0] = '\0';
		r->bpw = r->cfg.method == TQ_METHOD_FLOAT ? 16.0 :
		    tq_scheme_bpw(&r->cfg.scheme, r->rows, r->cols);
	}
}

/* The model-order row behind qsort's comparison. */
static wb_app *sort_app;

static double
sort_key(const wb_row *r, wb_sort s)
{
	switch (s) {
	case WB_SORT_PARAMS:
		return (double)r->rows * (double)r->cols;
	case WB_SORT_METHOD:
		return r->cfg.method;
	case WB_SORT_BITS:
		return r->cfg.method == TQ_METHOD_FLOAT ? 16 :
		    r->cfg.scheme.bits;
	case WB_SORT_GROUP:
		return r->cfg.scheme.group;
	case WB_SORT_BPW:
		return r->bpw;
	case WB_SORT_SIZE:
		return (double)r->rows * (double)r->cols * r->bpw;
	case WB_SORT_ERR:
		return r->has_result && isfinite(r->res.rel_err) ?
		    r->res.rel_err : -1.0;
	case WB_SORT_OUTLIERS:
		return r->n_outliers;
	default:
		return (double)r->idx;
	}
}

static int
cmp_rows(const void *x, const void *y)
{
	const wb_row *a = &sort_app->rows[*(const size_t *)x];
	const wb_row *b = &sort_app->rows[*(const size_t *)y];
	int c;

	if (sort_app->sort == WB_SORT_NAME) {
		c = strcmp(a->name, b->name);
	} else {
		double ka = sort_key(a, sort_app->sort);
		double kb = sort_key(b, sort_app->sort);

		c = ka < kb ? -1 : ka > kb ? 1 : 0;
	}
	if (sort_app->sort_rev)
		c = -c;
	/* Ties keep model order, so the view is stable. */
	return c != 0 ? c : a->idx < b->idx ? -1 : 1;
}

/* Whether re matches s. */
static int
re_match(void *re, const char *s)
{
	pcre2_match_data *md;
	int rc;

	md = pcre2_match_data_create_from_pattern(re, NULL);
	if (md == NULL)
		return 1;
	rc = pcre2_match(re, (PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0, 0, md,
	    NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

/* The filter runs on the name as shown ("1.attn.q_proj") and the full one. */
static int
matches(const wb_app *a, const wb_row *r)
{
	if (a->filter_re == NULL)
		return 1;
	return re_match(a->filter_re, r->shortname) ||
	    re_match(a->filter_re, r->name);
}

void
wb_browser_refilter(wb_app *a)
{
	size_t i, keep = a->n_view > 0 && a->cur < a->n_view ?
	    a->view[a->cur] : (size_t)-1;
	int shown;

	a->n_view = 0;
	a->filter_on_names = 1;
	for (i = 0; i < a->n_rows; i++) {
		shown = matches(a, &a->rows[i]);
		if (shown)
			a->view[a->n_view++] = i;
		/* a plan rule matches the full names: the same rows? */
		if (a->filter_re != NULL && shown !=
		    re_match(a->filter_re, a->rows[i].name))
			a->filter_on_names = 0;
	}
	sort_app = a;
	qsort(a->view, a->n_view, sizeof(*a->view), cmp_rows);
	a->cur = 0;
	for (i = 0; i < a->n_view; i++)
		if (a->view[i] == keep)
			a->cur = i;
	a->dirty = 1;
}

/* The last pattern typed: its count of layers, or why it does not compile. */
static char filter_status[160];

/* Compiles pattern ("" is no filter: *re NULL); 0 and why in msg if bad. */
static int
compile(const char *pattern, pcre2_code **re, char *msg, size_t len)
{
	int code;
	PCRE2_SIZE off;

	*re = NULL;
	if (pattern[0] == '\0')
		return 1;
	*re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF, &code, &off, NULL);
	if (*re == NULL) {
		PCRE2_UCHAR m[128];

		pcre2_get_error_message(code, m, sizeof(m));
		snprintf(msg, len, "%s at offset %zu", (const char *)m,
		    (size_t)off);
		return 0;
	}
	return 1;
}

static void
adopt_filter(wb_app *a, pcre2_code *re, const char *pattern)
{
	pcre2_code_free(a->filter_re);
	a->filter_re = re;
	snprintf(a->filter, sizeof(a->filter), "%s", pattern);
	wb_browser_refilter(a);
	a->top = 0;
}

int
wb_browser_set_filter(wb_app *a, const char *pattern)
{
	pcre2_code *re;
	char msg[160];

	if (!compile(pattern, &re, msg, sizeof(msg))) {
		wb_message(a, 1, "filter \"%s\": %s", pattern, msg);
		return 0;
	}
	adopt_filter(a, re, pattern);
	if (pattern[0] != '\0')
		wb_message(a, 0, "filter /%s/: %zu of %zu layers", pattern,
		    a->n_view, a->n_rows);
	return 1;
}

int
wb_browser_preview_filter(wb_app *a, const char *pattern)
{
	pcre2_code *re;
	char msg[160];

	if (!compile(pattern, &re, msg, sizeof(msg))) {
		snprintf(filter_status, sizeof(filter_status), "(%.150s)", msg);
		return 0;
	}
	adopt_filter(a, re, pattern);
	snprintf(filter_status, sizeof(filter_status), "%zu of %zu layers",
	    a->n_view, a->n_rows);
	return 1;
}

const char *
wb_browser_filter_status(void)
{
	return filter_status;
}

void
wb_browser_outliers(wb_app *a, const tq_calib *c)
{
	tq_outlier out[64];
	size_t i;

	for (i = 0; i < a->n_rows; i++) {
		wb_row *r = &a->rows[i];
		const tq_site_stats *s;
		size_t n;

		r->n_outliers = 0;
		r->max_ratio = 0.0f;
		if (c == NULL || !r->has_site)
			continue;
		s = tq_calib_find(c, r->block, r->site);
		if (s == NULL)
			continue;
		n = tq_calib_outliers(s, WB_OUTLIER_RATIO, out, 64);
		r->n_outliers = (int)n;
		if (tq_calib_outliers(s, 0.0, out, 1) == 1)
			r->max_ratio = out[0].ratio;
	}
	a->dirty = 1;
}

void
wb_browser_result(wb_app *a, const tq_layer_result *res)
{
	size_t i;

	for (i = 0; i < a->n_rows; i++)
		if (strcmp(a->rows[i].name, res->name) == 0) {
			a->rows[i].res = *res;
			a->rows[i].has_result = 1;
			a->dirty = 1;
			return;
		}
}

void
wb_browser_clear_results(wb_app *a)
{
	size_t i;

	for (i = 0; i < a->n_rows; i++)
		a->rows[i].has_result = 0;
}

wb_row *
wb_browser_current(wb_app *a)
{
	if (a->n_view == 0)
		return NULL;
	if (a->cur >= a->n_view)
		a->cur = a->n_view - 1;
	return &a->rows[a->view[a->cur]];
}

/* The bits column: "4", "fp8", "q4_k", "-" for float. */
static void
bits_text(const wb_row *r, char *buf, size_t len)
{
	const tq_scheme *s = &r->cfg.scheme;

	if (r->cfg.method == TQ_METHOD_FLOAT)
		snprintf(buf, len, "16");
	else if (s->type == TQ_QT_INT)
		snprintf(buf, len, "%d", s->bits);
	else {
		char name[32];

		tq_scheme_name(s, name, sizeof(name));
		snprintf(buf, len, "%s", name);
	}
}

static void
group_text(const wb_row *r, char *buf, size_t len)
{
	const tq_scheme *s = &r->cfg.scheme;

	if (r->cfg.method == TQ_METHOD_FLOAT)
		snprintf(buf, len, "-");
	else if (s->type > TQ_QT_NF4)
		snprintf(buf, len, "blk");
	else if (s->group == TQ_GROUP_TENSOR)
		snprintf(buf, len, "T");
	else if (s->group == TQ_GROUP_CHANNEL)
		snprintf(buf, len, "ch");
	else
		snprintf(buf, len, "%d", s->group);
}

static const char *
method_short(tq_method m)
{
	return m == TQ_METHOD_SMOOTHQUANT ? "sq" : tq_method_name(m);
}

/* Column widths after the name. */
enum { W_SHAPE = 9, W_PARAMS = 5, W_METHOD = 5, W_BITS = 4, W_GROUP = 4,
	W_SYM = 3, W_BPW = 5, W_SIZE = 6, W_ERR = 8, W_OUTL = 4 };

static int
name_width(void)
{
	int fixed = W_SHAPE + W_PARAMS + W_METHOD + W_BITS + W_GROUP + W_SYM +
	    W_BPW + W_SIZE + W_ERR + W_OUTL + 11;
	int w = COLS - fixed;

	return w < 8 ? 8 : w > 40 ? 40 : w;
}

static wb_color
err_color(double e)
{
	return e < 1e-3 ? WB_C_GOOD : e < 1e-2 ? WB_C_WARN : WB_C_BAD;
}

static void sorted(wb_app *a);

/* Where the last drawing put the table: header line, rows, columns. */
static struct {
	int y, h;			/* header's line, rows under it */
	int x[12];			/* the columns' starts, then the end */
} table;

/* The sort of each column (shape sorts by parameters; sym does not). */
static const int col_sort[11] = {
	WB_SORT_NAME, WB_SORT_PARAMS, WB_SORT_PARAMS, WB_SORT_METHOD,
	WB_SORT_BITS, WB_SORT_GROUP, -1, WB_SORT_BPW, WB_SORT_SIZE,
	WB_SORT_ERR, WB_SORT_OUTLIERS
};

static const char *const sort_names[WB_SORT_COUNT] = {
	"model order", "layer", "param", "meth", "bits", "grp", "bpw", "size",
	"rel.err", "outl"
};

void
wb_browser_draw(wb_app *a, int y0, int y1)
{
	static const char *const heads[WB_SORT_COUNT] = {
		"", "layer", "param", "meth", "bits", "grp", "bpw", "size",
		"rel.err", "outl"
	};
	int nw = name_width(), h = y1 - y0 - 1, y, i;
	char buf[256];

	if (h < 1)
		return;
	{
		const int cw[11] = { nw, W_SHAPE, W_PARAMS, W_METHOD, W_BITS,
			W_GROUP, W_SYM, W_BPW, W_SIZE, W_ERR, W_OUTL };

		table.y = y0;
		table.h = h;
		table.x[0] = 1;
		for (i = 0; i < 11; i++)
			table.x[i + 1] = table.x[i] + cw[i] + 1;
	}
	/* header; the sorted column is marked with its direction */
	attron(wb_attr(WB_C_HEADER));
	snprintf(buf, sizeof(buf), " %-*.*s %*s %*s %-*s %*s %*s %*s %*s %*s "
	    "%*s %*s", nw, nw, "layer", W_SHAPE, "shape", W_PARAMS, "param",
	    W_METHOD, "meth", W_BITS, "bits", W_GROUP, "grp", W_SYM, "sym",
	    W_BPW, "bpw", W_SIZE, "size", W_ERR, "rel.err", W_OUTL, "outl");
	wb_text(y0, 0, COLS, 1, buf);
	if (a->sort != WB_SORT_MODEL) {
		char *p = strstr(buf, heads[a->sort]);

		if (p != NULL)
			mvaddstr(y0, (int)(p - buf) - 1, a->sort_rev ? "v" : "^");
	}
	attroff(wb_attr(WB_C_HEADER));
	/* keep the cursor on screen */
	if (a->cur < a->top)
		a->top = a->cur;
	if (a->cur >= a->top + (size_t)h)
		a->top = a->cur - (size_t)h + 1;
	for (i = 0, y = y0 + 1; i < h; i++, y++) {
		size_t v = a->top + (size_t)i;
		const wb_row *r;
		char shape[32], params[16], bits[32], grp[16], size[16];
		char err[16], outl[16];
		int base;

		move(y, 0);
		clrtoeol();
		if (v >= a->n_view)
			continue;
		r = &a->rows[a->view[v]];
		snprintf(shape, sizeof(shape), "%lldx%lld", (long long)r->rows,
		    (long long)r->cols);
		wb_human((double)r->rows * (double)r->cols, params,
		    sizeof(params));
		bits_text(r, bits, sizeof(bits));
		group_text(r, grp, sizeof(grp));
		if (r->fell[0] != '\0')	/* fell back: the detail says why */
			snprintf(grp + strlen(grp), sizeof(grp) - strlen(grp),
			    "!");
		wb_human((double)r->rows * (double)r->cols * r->bpw / 8.0, size,
		    sizeof(size));
		if (r->has_result && isfinite(r->res.rel_err))
			snprintf(err, sizeof(err), "%.2e", r->res.rel_err);
		else if (r->has_result && strcmp(r->res.method, "float") == 0)
			snprintf(err, sizeof(err), "float");
		else
			snprintf(err, sizeof(err), "-");
		if (r->n_outliers > 0)
			snprintf(outl, sizeof(outl), "%d", r->n_outliers);
		else
			snprintf(outl, sizeof(outl), "-");
		base = v == a->cur ? wb_attr(WB_C_CURSOR) : r->marked ?
		    wb_attr(WB_C_MARKED) : r->cfg.method == TQ_METHOD_FLOAT ?
		    wb_attr(WB_C_DIM) : (int)A_NORMAL;
		attron(base);
		snprintf(buf, sizeof(buf), "%c%-*.*s %*s %*s %-*s %*s %*s %*s "
		    "%*.2f %*s ", r->marked ? '*' : ' ', nw, nw, r->shortname,
		    W_SHAPE, shape, W_PARAMS, params, W_METHOD,
		    method_short(r->cfg.method), W_BITS, bits, W_GROUP, grp,
		    W_SYM, r->cfg.method == TQ_METHOD_FLOAT ? "-" :
		    r->cfg.scheme.sym ? "y" : "n", W_BPW, r->bpw, W_SIZE, size);
		wb_text(y, 0, COLS, 0, buf);
		attroff(base);
		/* error and outliers coloured by meaning */
		if (v != a->cur && r->has_result && isfinite(r->res.rel_err))
			attron(wb_attr(err_color(r->res.rel_err)));
		else if (v == a->cur)
			attron(base);
		printw("%*s ", W_ERR, err);
		attroff(wb_attr(err_color(r->has_result ? r->res.rel_err :
		    0.0)) | base);
		if (v == a->cur)
			attron(base);
		else if (r->n_outliers > 0)
			attron(wb_attr(WB_C_WARN));
		printw("%*s", W_OUTL, outl);
		attroff(wb_attr(WB_C_WARN) | base);
		if (v == a->cur) {
			int cy, cx;

			getyx(stdscr, cy, cx);
			(void)cy;
			attron(base);
			while (cx++ < COLS)
				addch(' ');
			attroff(base);
		}
	}
}

/*
 * The summary line: sizes, bits per weight, the measured errors and which
 * variant they are of, the predicted KLD (wb_mix.c), the marks.  When it
 * does not fit, the fp16 size goes first, then the all-layer bpw, so no
 * number is cut.
 */
void
wb_browser_view_line(wb_app *a, int y)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), " %zu of %zu layers | ", a->n_view,
	    a->n_rows);
	if (a->filter[0] != '\0')
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "filter "
		    "/%.200s/", a->filter);
	else
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "no filter");
	if (a->sort == WB_SORT_MODEL)
		snprintf(buf + n, sizeof(buf) - (size_t)n, " | model order%s",
		    a->sort_rev ? ", reversed" : "");
	else
		snprintf(buf + n, sizeof(buf) - (size_t)n, " | sort %s %s",
		    sort_names[a->sort], a->sort_rev ? "descending" :
		    "ascending");
	attron(wb_attr(WB_C_DIM));
	wb_text(y, 0, COLS, 1, buf);
	attroff(wb_attr(WB_C_DIM));
}

void
wb_browser_mouse(wb_app *a, int y, int x, int wheel)
{
	size_t last = a->n_view > 0 ? a->n_view - 1 : 0;
	int i;

	if (wheel != 0) {
		/* three rows, the cursor along when it would leave the page */
		if (wheel < 0)
			a->top = a->top > 3 ? a->top - 3 : 0;
		else if (a->n_view > (size_t)table.h)
			a->top = a->top + 3 < a->n_view - (size_t)table.h ?
			    a->top + 3 : a->n_view - (size_t)table.h;
		if (a->cur < a->top)
			a->cur = a->top;
		if (table.h > 0 && a->cur >= a->top + (size_t)table.h)
			a->cur = a->top + (size_t)table.h - 1;
		if (a->cur > last)
			a->cur = last;
		return;
	}
	if (y == table.y) {
		for (i = 0; i < 11; i++)
			if (x >= table.x[i] - 1 && x < table.x[i + 1] - 1 &&
			    col_sort[i] >= 0) {
				if (a->sort == (wb_sort)col_sort[i])
					a->sort_rev = !a->sort_rev;
				else {
					a->sort = (wb_sort)col_sort[i];
					a->sort_rev = 0;
				}
				sorted(a);
			}
		return;
	}
	if (y > table.y && y <= table.y + table.h && a->top + (size_t)(y -
	    table.y - 1) < a->n_view)
		a->cur = a->top + (size_t)(y - table.y - 1);
}

void
wb_browser_summary(wb_app *a, int y)
{
	double weights = 0, bytes = 0, qw = 0, qbits = 0, errsum = 0;
	int measured = 0, marked = 0, results = 0, n, lvl;
	char fp[16], pl[16], err[64], kld[64] = "", mk[32] = "", buf[320];
	size_t i;

	for (i = 0; i < a->n_rows; i++) {
		const wb_row *r = &a->rows[i];
		double w = (double)r->rows * (double)r->cols;

		weights += w;
		bytes += w * r->bpw / 8.0;
		if (r->cfg.method != TQ_METHOD_FLOAT) {
			qw += w;
			qbits += w * r->bpw;
		}
		if (r->has_result && isfinite(r->res.rel_err)) {
			errsum += r->res.rel_err;
			measured++;
		}
		results += r->has_result;
		marked += r->marked;
	}
	wb_human(weights * 2.0, fp, sizeof(fp));
	wb_human(bytes, pl, sizeof(pl));
	if (measured == 0 && results > 0 && a->results_of > 0)
		snprintf(err, sizeof(err), "- (no calibration, #%d)",
		    a->results_of);
	else if (measured == 0)
		snprintf(err, sizeof(err), "-");
	else if (a->results_of > 0)
		snprintf(err, sizeof(err), "%.2e (%d, #%d)", errsum, measured,
		    a->results_of);
	else
		snprintf(err, sizeof(err), "%.2e (%d, so far)", errsum,
		    measured);
	if (wb_mix_summary_text(a, kld + 3, sizeof(kld) - 3))
		memcpy(kld, " | ", 3);
	if (marked > 0)
		snprintf(mk, sizeof(mk), "  %d marked", marked);
	for (lvl = 0; lvl < 3; lvl++) {
		n = snprintf(buf, sizeof(buf), " %s%s%s%splan %sB | ",
		    lvl == 0 ? "fp16 " : "", lvl == 0 ? fp : "",
		    lvl == 0 ? "B" : "", lvl == 0 ? " -> " : "", pl);
		if (lvl < 2)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%.2f "
			    "bpw, ", weights > 0 ? bytes * 8 / weights : 0.0);
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%.2f quantized"
		    " | err sum %s%s%s", qw > 0 ? qbits / qw : 16.0, err, kld,
		    mk);
		if (n <= COLS)
			break;
	}
	attron(wb_attr(WB_C_HEADER) & ~A_UNDERLINE);
	wb_text(y, 0, COLS, 1, buf);
	attroff(wb_attr(WB_C_HEADER));
}

/* ---- Keys ------------------------------------------------------------- */

void
wb_browser_next(wb_app *a, int key)
{
	(void)key;
	if (a->cur + 1 < a->n_view)
		a->cur++;
}

void
wb_browser_prev(wb_app *a, int key)
{
	(void)key;
	if (a->cur > 0)
		a->cur--;
}

/* A page down or up, first or last: the keys' places in the view. */
static void
press_jump(wb_app *a, int key)
{
	size_t page = LINES - 8 > 1 ? (size_t)(LINES - 8) : 1;
	size_t last = a->n_view > 0 ? a->n_view - 1 : 0;

	switch (key) {
	case KEY_NPAGE: case WB_CTRL('f'): case WB_CTRL('d'):
		a->cur = a->cur + page < a->n_view ? a->cur + page : last;
		break;
	case KEY_PPAGE: case WB_CTRL('b'): case WB_CTRL('u'):
		a->cur = a->cur > page ? a->cur - page : 0;
		break;
	case KEY_HOME: case 'g':
		a->cur = 0;
		break;
	default:	/* G End */
		a->cur = last;
		break;
	}
}

/* space: marks or unmarks the layer and moves on. */
static void
press_mark(wb_app *a, int key)
{
	wb_row *r = wb_browser_current(a);

	(void)key;
	if (r != NULL) {
		r->marked = !r->marked;
		wb_browser_next(a, key);
	}
}

/* a marks every layer shown, x clears every mark. */
static void
press_mark_all(wb_app *a, int key)
{
	size_t i;

	if (key == 'a') {
		for (i = 0; i < a->n_view; i++)
			a->rows[a->view[i]].marked = 1;
		wb_message(a, 0, "marked the %zu layers shown", a->n_view);
	} else {
		for (i = 0; i < a->n_rows; i++)
			a->rows[i].marked = 0;
	}
}

/* The sort changed: the view from its first row. */
static void
sorted(wb_app *a)
{
	wb_browser_refilter(a);
	a->cur = a->top = 0;
}

/* o: the next column; O: the other way. */
static void
press_sort(wb_app *a, int key)
{
	if (key == 'o')
		a->sort = (wb_sort)((a->sort + 1) % WB_SORT_COUNT);
	else
		a->sort_rev = !a->sort_rev;
	sorted(a);
}

void
wb_browser_edit(wb_app *a, int key)
{
	wb_plan_edit(a, key == 'm' ? "method" : key == 'b' ? "bits" :
	    key == 'z' ? "group" : "sym", NULL);
}

/*
 * /, = and p: the filter (a new one, empty: the old one comes back with
 * Esc), a setting, a preset.
 */
static void
press_ask(wb_app *a, int key)
{
	if (key == '/') {
		snprintf(a->filter_was, sizeof(a->filter_was), "%s",
		    a->filter);
		snprintf(filter_status, sizeof(filter_status), "%zu of %zu "
		    "layers; Esc keeps /%.60s/", a->n_view, a->n_rows, a->filter);
	}
	wb_prompt(a, key == '/' ? WB_PROMPT_FILTER : key == '=' ?
	    WB_PROMPT_SETTING : WB_PROMPT_PRESET, "");
}

static void
press_clear_filter(wb_app *a, int key)
{
	(void)key;
	if (a->filter[0] != '\0')
		wb_browser_set_filter(a, "");
}

static void
press_detail(wb_app *a, int key)
{
	(void)key;
	a->screen = WB_SCR_DETAIL;
}

static const wb_key keys[] = {
	{ { '/' }, press_ask, "filter by a PCRE2 pattern on the layer names as "
	    "shown (0.attn, ^1\\.) or in full (self_attn), as it is typed",
	    "filter", WB_ALWAYS },
	{ { WB_KEY_ESC }, press_clear_filter, "clear the filter", NULL,
	    WB_ALWAYS },
	{ { '\r', '\n', KEY_ENTER, 'l', KEY_RIGHT }, press_detail,
	    "layer detail", "detail", WB_ALWAYS },
	{ { 'j', KEY_DOWN }, wb_browser_next, "next layer", NULL, WB_ALWAYS },
	{ { 'k', KEY_UP }, wb_browser_prev, "previous layer", NULL,
	    WB_ALWAYS },
	{ { KEY_NPAGE, WB_CTRL('f'), WB_CTRL('d') }, press_jump, "a page down",
	    NULL, WB_ALWAYS },
	{ { KEY_PPAGE, WB_CTRL('b'), WB_CTRL('u') }, press_jump, "a page up",
	    NULL, WB_ALWAYS },
	{ { 'g', KEY_HOME }, press_jump, "first layer", NULL, WB_ALWAYS },
	{ { 'G', KEY_END }, press_jump, "last layer", NULL, WB_ALWAYS },
	{ { 'o' }, press_sort, "sort by the next column (or click its "
	    "header), from the top", NULL, WB_ALWAYS },
	{ { 'O' }, press_sort, "reverse the order", NULL, WB_ALWAYS },
	{ { ' ' }, press_mark, "mark or unmark the layer", "mark", WB_ALWAYS },
	{ { 'a' }, press_mark_all, "mark every layer shown", NULL, WB_ALWAYS },
	{ { 'x' }, press_mark_all, "clear the marks", NULL, WB_ALWAYS },
	{ { 'm' }, wb_browser_edit, "method: float rtn gptq awq smoothquant "
	    "(cycles)", "edit", WB_ALWAYS },
	{ { 'b' }, wb_browser_edit, "bits: 2 3 4 5 6 8 (cycles)", "edit",
	    WB_ALWAYS },
	{ { 'z' }, wb_browser_edit, "group size: channel 32 64 128 256 tensor "
	    "(cycles)", "edit", WB_ALWAYS },
	{ { 'y' }, wb_browser_edit, "symmetric grid on/off", "edit",
	    WB_ALWAYS },
	{ { '=' }, press_ask, "set METHOD SCHEME, e.g. gptq int4-g128, rtn "
	    "q4_k, float", "set", WB_ALWAYS },
	{ { 'p' }, press_ask, "replace the plan by a preset (w4-gptq, q4_k_m, "
	    "...)", NULL, WB_ALWAYS },
};

const wb_keymap wb_browser_keymap = {
	"Layer browser (1)", keys, WB_NKEYS(keys), "Edits go to the marked "
	"layers, else the current one; with every shown layer marked the "
	"rule's pattern is the filter"
};
