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
	int e;

	a->rows = calloc(n, sizeof(*a->rows));
	a->view = calloc(n, sizeof(*a->view));
	a->disp = calloc(n, sizeof(*a->disp));
	if (a->rows == NULL || a->view == NULL || a->disp == NULL)
		return (err->status = TQ_ENOMEM);
	a->n_rows = n;
	a->n_blocks = (int)tq_model_get_config(a->model)->n_layers;
	for (i = 0; i < n; i++) {
		wb_row *r = &a->rows[i];
		tq_linear kind = tq_model_linear_kind(a->model, i, &e);

		r->idx = i;
		r->name = tq_model_linear_name(a->model, i);
		short_name(r->name, r->shortname, sizeof(r->shortname),
		    &r->block);
		tq_model_linear_shape(a->model, i, &r->rows, &r->cols);
		/* the embeddings take token ids: no input site */
		r->has_site = r->block >= 0 || i + 2 == n;
		r->site = r->block < 0 ? TQ_LINEAR_LM_HEAD : site_of[kind];
		r->expert = r->block >= 0 ? e : -1;
		if (r->expert + 1 > a->n_experts)
			a->n_experts = r->expert + 1;
		if (r->block >= a->n_blocks)
			r->block = -1;	/* no fold for what the config lacks */
	}
	/* one byte more: calloc(0) may give NULL */
	a->fold = calloc((size_t)a->n_blocks + 1, 1);
	a->open_expert = calloc((size_t)a->n_blocks * (size_t)a->n_experts +
	    1, 1);
	if (a->fold == NULL || a->open_expert == NULL)
		return (err->status = TQ_ENOMEM);
	a->fold_auto = 1;
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
	free(a->disp);
	free(a->fold);
	free(a->open_expert);
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

/*
 * The folded row r is shown in, or -1: its block's when the block is
 * folded, else its expert's unless that expert is opened.
 */
static int
group_of(const wb_app *a, const wb_row *r)
{
	int per = a->n_experts + 1;

	if (r->block < 0)
		return -1;
	if (a->fold[r->block])
		return r->block * per;
	if (r->expert >= 0 && !a->open_expert[r->block * a->n_experts +
	    r->expert])
		return r->block * per + 1 + r->expert;
	return -1;
}

/* The table's line of row i (model index), or -1 when it is not shown. */
static long
line_of_row(const wb_app *a, size_t i)
{
	int g = group_of(a, &a->rows[i]);
	size_t l;

	for (l = 0; l < a->n_disp; l++)
		if (a->view[a->disp[l].v] == i || (g >= 0 &&
		    a->disp[l].group == g))
			return (long)l;
	return -1;
}

/* The model index of the cursor's layer (a group's first), or -1. */
static long
cursor_row(const wb_app *a)
{
	if (a->n_disp == 0 || a->cur >= a->n_disp)
		return -1;
	return (long)a->view[a->disp[a->cur].v];
}

/*
 * The table's rows from the view: a folded group of two layers shown or
 * more is one row, where its first layer in the view's order stands (so
 * a sort by error puts the block with the worst error first); one layer
 * alone stays a layer.  The cursor stays on its layer, or its group.
 */
static void
relayout(wb_app *a, long keep)
{
	size_t i, ng = (size_t)a->n_blocks * (size_t)(a->n_experts + 1);
	int *count = calloc(ng + 1, sizeof(int)), g;

	a->n_disp = 0;
	for (i = 0; i < a->n_view && count != NULL; i++)
		if ((g = group_of(a, &a->rows[a->view[i]])) >= 0)
			count[g]++;
	for (i = 0; i < a->n_view; i++) {
		g = count != NULL ? group_of(a, &a->rows[a->view[i]]) : -1;
		if (g >= 0 && count[g] == -1)
			continue;	/* its group's row is there */
		if (g >= 0 && count[g] == 1)
			g = -1;
		else if (g >= 0)
			count[g] = -1;
		a->disp[a->n_disp].v = i;
		a->disp[a->n_disp++].group = g;
	}
	free(count);
	a->cur = 0;
	if (keep >= 0 && (keep = line_of_row(a, (size_t)keep)) >= 0)
		a->cur = (size_t)keep;
	a->dirty = 1;
}

/* Opens group g: its block, or its expert. */
static void
unfold(wb_app *a, int g)
{
	int per = a->n_experts + 1, b = g / per, e = g % per - 1;

	if (e < 0)
		a->fold[b] = 0;
	else
		a->open_expert[b * a->n_experts + e] = 1;
}

void
wb_browser_refilter(wb_app *a)
{
	size_t i;
	long keep = cursor_row(a);
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
	relayout(a, keep);
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
	tq_outlier out[1];
	float median;
	size_t i;

	for (i = 0; i < a->n_rows; i++) {
		wb_row *r = &a->rows[i];
		const tq_site_stats *s;
		int64_t n;

		r->n_outliers = 0;
		r->max_ratio = 0.0f;
		if (c == NULL || !r->has_site)
			continue;
		s = tq_calib_find(c, r->block, r->site);
		if (s == NULL)
			continue;
		/* the full count (the detail's), not the first few listed */
		n = tq_channel_outliers(s->absmax, s->channels,
		    WB_OUTLIER_RATIO, &median, out, 1);
		r->n_outliers = n > 0 ? (int)n : 0;
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
	if (a->n_disp == 0)
		return NULL;
	if (a->cur >= a->n_disp)
		a->cur = a->n_disp - 1;
	return &a->rows[a->view[a->disp[a->cur].v]];
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

/* A table row's text, cell by cell, and what colours it. */
typedef struct wb_cells {
	char name[128], shape[32], params[16], meth[48], bits[48], grp[48];
	char sym[48], bpw[16], size[16], err[16], outl[16];
	int namew;		/* the name's width in bytes (UTF-8 counts) */
	char mark;		/* '*' marked, ' ' not; a folded row: '*'
				   every layer, '~' some */
	int dim;		/* a float layer */
	double errv;		/* the error, or NaN */
	int n_outliers;
} wb_cells;

static void
err_text(const wb_row *r, char *buf, size_t len)
{
	if (r->has_result && isfinite(r->res.rel_err))
		snprintf(buf, len, "%.2e", r->res.rel_err);
	else if (r->has_result && strcmp(r->res.method, "float") == 0)
		snprintf(buf, len, "float");
	else
		snprintf(buf, len, "-");
}

static void
layer_cells(const wb_row *r, int nw, wb_cells *c)
{
	snprintf(c->name, sizeof(c->name), "%s", r->shortname);
	c->namew = nw;
	snprintf(c->shape, sizeof(c->shape), "%lldx%lld", (long long)r->rows,
	    (long long)r->cols);
	wb_human((double)r->rows * (double)r->cols, c->params,
	    sizeof(c->params));
	snprintf(c->meth, sizeof(c->meth), "%s", method_short(r->cfg.method));
	bits_text(r, c->bits, sizeof(c->bits));
	group_text(r, c->grp, sizeof(c->grp));
	if (r->fell[0] != '\0')	/* fell back: the detail says why */
		snprintf(c->grp + strlen(c->grp), sizeof(c->grp) -
		    strlen(c->grp), "!");
	snprintf(c->sym, sizeof(c->sym), "%s", r->cfg.method ==
	    TQ_METHOD_FLOAT ? "-" : r->cfg.scheme.sym ? "y" : "n");
	snprintf(c->bpw, sizeof(c->bpw), "%.2f", r->bpw);
	wb_human((double)r->rows * (double)r->cols * r->bpw / 8.0, c->size,
	    sizeof(c->size));
	err_text(r, c->err, sizeof(c->err));
	c->errv = r->has_result ? r->res.rel_err : NAN;
	c->n_outliers = r->n_outliers;
	if (r->n_outliers > 0)
		snprintf(c->outl, sizeof(c->outl), "%d", r->n_outliers);
	else
		snprintf(c->outl, sizeof(c->outl), "-");
	c->mark = r->marked ? '*' : ' ';
	c->dim = r->cfg.method == TQ_METHOD_FLOAT;
}

/* Keeps s in cell when every layer so far has it, else "mix". */
static void
same_or_mix(char *cell, size_t len, const char *s, int first)
{
	if (first)
		snprintf(cell, len, "%s", s);
	else if (strcmp(cell, s) != 0)
		snprintf(cell, len, "mix");
}

/* The kind of a block's layer, short: "down", "q", an expert's "e3.w2". */
static void
kind_text(const wb_row *r, int in_expert, char *buf, size_t len)
{
	const char *leaf = strrchr(r->shortname, '.') + 1;
	size_t n = strlen(leaf);

	if (r->expert >= 0 && !in_expert)
		snprintf(buf, len, "e%d.%.16s", r->expert, leaf);
	else if (n > 5 && strcmp(leaf + n - 5, "_proj") == 0)
		snprintf(buf, len, "%.*s", (int)(n - 5), leaf);
	else
		snprintf(buf, len, "%s", leaf);
}

/*
 * A folded block (or expert) as one row: its number, the kind of its layer
 * with the worst error; the summed sensitivity when known (an expert: the
 * tokens the router sent it), else how many layers; the totals of its
 * layers shown (parameters, size, bits per weight over them), the setting
 * they share or "mix", the worst error, the outliers.
 */
static void
group_cells(const wb_app *a, const wb_line *l, int nw, wb_cells *c)
{
	int per = a->n_experts + 1, b = l->group / per, e = l->group % per - 1;
	double params = 0, bits = 0, sens = 0, worst = -1;
	int n = 0, marked = 0, n_sens = 0, outl = 0, all_float = 1;
	int64_t routed = -1;
	const wb_row *wr = NULL;
	char t[48], kind[64];
	size_t v;

	for (v = l->v; v < a->n_view; v++) {
		const wb_row *r = &a->rows[a->view[v]];
		double w = (double)r->rows * (double)r->cols, s;

		if (group_of(a, r) != l->group)
			continue;
		params += w;
		bits += w * r->bpw;
		marked += r->marked;
		outl += r->n_outliers;
		all_float &= r->cfg.method == TQ_METHOD_FLOAT;
		same_or_mix(c->meth, sizeof(c->meth), method_short(
		    r->cfg.method), n == 0);
		bits_text(r, t, sizeof(t));
		same_or_mix(c->bits, sizeof(c->bits), t, n == 0);
		group_text(r, t, sizeof(t));
		same_or_mix(c->grp, sizeof(c->grp), t, n == 0);
		same_or_mix(c->sym, sizeof(c->sym), r->cfg.method ==
		    TQ_METHOD_FLOAT ? "-" : r->cfg.scheme.sym ? "y" : "n",
		    n == 0);
		if (r->has_result && isfinite(r->res.rel_err) &&
		    r->res.rel_err > worst) {
			worst = r->res.rel_err;
			wr = r;
		}
		if (r->has_result && r->res.routed > routed)
			routed = r->res.routed;
		if (isfinite(s = wb_browser_sens(a, r->idx))) {
			sens += s;
			n_sens++;
		}
		n++;
	}
	if (strcmp(c->sym, "mix") == 0)
		snprintf(c->sym, sizeof(c->sym), "*");
	kind[0] = '\0';
	if (wr != NULL) {
		kind_text(wr, e >= 0, t, sizeof(t));
		snprintf(kind, sizeof(kind), " max %s", t);
	}
	/* the marker takes one column and 3 bytes in UTF-8 */
	c->namew = wb_utf8() ? nw + 2 : nw;
	if (e >= 0)
		snprintf(c->name, sizeof(c->name), "%s %d.e%d%s", wb_utf8() ?
		    "\xe2\x96\xb8" : "+", b, e, kind);
	else
		snprintf(c->name, sizeof(c->name), "%s %d%s", wb_utf8() ?
		    "\xe2\x96\xb8" : "+", b, kind);
	if (e >= 0 && routed >= 0) {
		snprintf(c->shape, sizeof(c->shape), "routed %lld",
		    (long long)routed);
		if (strlen(c->shape) > W_SHAPE) {	/* "r=12k" */
			wb_human((double)routed, t, sizeof(t));
			snprintf(c->shape, sizeof(c->shape), "r=%.16s", t);
		}
	} else if (n_sens > 0)
		snprintf(c->shape, sizeof(c->shape), "s=%.1e", sens);
	else
		snprintf(c->shape, sizeof(c->shape), "%d layers", n);
	wb_human(params, c->params, sizeof(c->params));
	snprintf(c->bpw, sizeof(c->bpw), "%.2f", params > 0 ? bits / params :
	    0.0);
	wb_human(bits / 8.0, c->size, sizeof(c->size));
	if (wr != NULL)
		snprintf(c->err, sizeof(c->err), "%.2e", worst);
	else
		snprintf(c->err, sizeof(c->err), "-");
	c->errv = wr != NULL ? worst : NAN;
	c->n_outliers = outl;
	if (outl > 0)
		snprintf(c->outl, sizeof(c->outl), "%d", outl);
	else
		snprintf(c->outl, sizeof(c->outl), "-");
	c->mark = marked == n ? '*' : marked > 0 ? '~' : ' ';
	c->dim = all_float;
}

/* Draws a row's cells at y: the cursor's reversed, errors by colour. */
static void
draw_cells(const wb_cells *c, int y, int cur)
{
	char buf[320];
	int base = cur ? wb_attr(WB_C_CURSOR) : c->mark != ' ' ?
	    wb_attr(WB_C_MARKED) : c->dim ? wb_attr(WB_C_DIM) : (int)A_NORMAL;

	attron(base);
	snprintf(buf, sizeof(buf), "%c%-*.*s %*s %*s %-*s %*s %*s %*s %*s %*s ",
	    c->mark, c->namew, c->namew, c->name, W_SHAPE, c->shape, W_PARAMS,
	    c->params, W_METHOD, c->meth, W_BITS, c->bits, W_GROUP, c->grp,
	    W_SYM, c->sym, W_BPW, c->bpw, W_SIZE, c->size);
	wb_text(y, 0, COLS, 0, buf);
	attroff(base);
	/* error and outliers coloured by meaning */
	if (!cur && isfinite(c->errv))
		attron(wb_attr(err_color(c->errv)));
	else if (cur)
		attron(base);
	printw("%*s ", W_ERR, c->err);
	attroff(wb_attr(err_color(isfinite(c->errv) ? c->errv : 0.0)) | base);
	if (cur)
		attron(base);
	else if (c->n_outliers > 0)
		attron(wb_attr(WB_C_WARN));
	printw("%*s", W_OUTL, c->outl);
	attroff(wb_attr(WB_C_WARN) | base);
	if (cur) {
		int cy, cx;

		getyx(stdscr, cy, cx);
		(void)cy;
		attron(base);
		while (cx++ < COLS)
			addch(' ');
		attroff(base);
	}
}

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
	/* more blocks than rows: each block one row until opened */
	if (a->fold_auto) {
		a->fold_auto = 0;
		if (a->n_blocks > h && a->n_blocks > 0) {
			long keep = cursor_row(a);

			memset(a->fold, 1, (size_t)a->n_blocks);
			relayout(a, keep);
		}
	}
	/* keep the cursor on screen, and the screen full when rows allow */
	if (a->top + (size_t)h > a->n_disp)
		a->top = a->n_disp > (size_t)h ? a->n_disp - (size_t)h : 0;
	if (a->cur < a->top)
		a->top = a->cur;
	if (a->cur >= a->top + (size_t)h)
		a->top = a->cur - (size_t)h + 1;
	for (i = 0, y = y0 + 1; i < h; i++, y++) {
		size_t v = a->top + (size_t)i;
		wb_cells c;

		move(y, 0);
		clrtoeol();
		if (v >= a->n_disp)
			continue;
		if (a->disp[v].group >= 0)
			group_cells(a, &a->disp[v], nw, &c);
		else
			layer_cells(&a->rows[a->view[a->disp[v].v]], nw, &c);
		draw_cells(&c, y, v == a->cur);
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
	char buf[512], fold[48] = "";
	int n, b, folded = 0, brief;

	for (b = 0; b < a->n_blocks; b++)
		folded += a->fold[b];
	/* the folded blocks counted shortly when the whole does not fit */
	for (brief = 0; brief < 2; brief++) {
		if (folded > 0)
			snprintf(fold, sizeof(fold), brief ? ", %d folded" :
			    ", %d block%s folded", folded, folded > 1 ? "s" :
			    "");
		n = snprintf(buf, sizeof(buf), " %zu of %zu layers%s | ",
		    a->n_view, a->n_rows, fold);
		if (a->filter[0] != '\0')
			n += snprintf(buf + n, sizeof(buf) - (size_t)n,
			    "filter /%.200s/", a->filter);
		else
			n += snprintf(buf + n, sizeof(buf) - (size_t)n,
			    "no filter");
		if (a->sort == WB_SORT_MODEL)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n,
			    " | model order%s", a->sort_rev ? ", reversed" :
			    "");
		else
			n += snprintf(buf + n, sizeof(buf) - (size_t)n,
			    " | sort %s %s", sort_names[a->sort],
			    a->sort_rev ? "descending" : "ascending");
		if (n <= COLS)
			break;
	}
	attron(wb_attr(WB_C_DIM));
	wb_text(y, 0, COLS, 1, buf);
	attroff(wb_attr(WB_C_DIM));
}

void
wb_browser_mouse(wb_app *a, int y, int x, int wheel)
{
	size_t last = a->n_disp > 0 ? a->n_disp - 1 : 0;
	int i;

	if (wheel != 0) {
		/* three rows, the cursor along when it would leave the page */
		if (wheel < 0)
			a->top = a->top > 3 ? a->top - 3 : 0;
		else if (a->n_disp > (size_t)table.h)
			a->top = a->top + 3 < a->n_disp - (size_t)table.h ?
			    a->top + 3 : a->n_disp - (size_t)table.h;
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
	    table.y - 1) < a->n_disp)
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

/*
 * Off the browser (the detail's j/k) a folded row on the way opens, so
 * the next layer is the next one of the model.
 */
static void
step(wb_app *a, int down)
{
	if (down && a->cur + 1 < a->n_disp)
		a->cur++;
	else if (!down && a->cur > 0)
		a->cur--;
	else
		return;
	while (a->screen != WB_SCR_BROWSER && a->disp[a->cur].group >= 0) {
		int g = a->disp[a->cur].group;
		size_t v = a->disp[a->cur].v, i = a->view[v];

		if (!down)	/* the group's last layer */
			for (; v < a->n_view; v++)
				if (group_of(a, &a->rows[a->view[v]]) == g)
					i = a->view[v];
		unfold(a, g);
		relayout(a, (long)i);
	}
}

void
wb_browser_next(wb_app *a, int key)
{
	(void)key;
	step(a, 1);
}

void
wb_browser_prev(wb_app *a, int key)
{
	(void)key;
	step(a, 0);
}

/* A page down or up, first or last: the keys' places in the view. */
static void
press_jump(wb_app *a, int key)
{
	size_t page = LINES - 8 > 1 ? (size_t)(LINES - 8) : 1;
	size_t last = a->n_disp > 0 ? a->n_disp - 1 : 0;

	switch (key) {
	case KEY_NPAGE: case WB_CTRL('f'): case WB_CTRL('d'):
		a->cur = a->cur + page < a->n_disp ? a->cur + page : last;
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

/* Sets the marks of the layers group g stands for; returns how many. */
static int
mark_members(wb_app *a, int g, int on)
{
	size_t v;
	int n = 0;

	for (v = 0; v < a->n_view; v++)
		if (group_of(a, &a->rows[a->view[v]]) == g) {
			a->rows[a->view[v]].marked = on;
			n++;
		}
	return n;
}

/* space: marks or unmarks the layer (a folded row's layers) and moves on. */
static void
press_mark(wb_app *a, int key)
{
	wb_row *r = wb_browser_current(a);
	int g;

	if (r == NULL)
		return;
	if ((g = a->disp[a->cur].group) >= 0)
		mark_members(a, g, !r->marked);
	else
		r->marked = !r->marked;
	wb_browser_next(a, key);
}

int
wb_browser_mark_group(wb_app *a, int on)
{
	size_t i;
	int g;

	if (a->n_disp == 0 || a->cur >= a->n_disp ||
	    (g = a->disp[a->cur].group) < 0)
		return 0;
	for (i = 0; on && i < a->n_rows; i++)
		if (a->rows[i].marked)
			return 0;	/* the marks are the targets */
	mark_members(a, g, on);
	return 1;
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

/*
 * Opens the folded row under the cursor, and scrolls so that as many of
 * its layers as fit are in sight.
 */
static void
open_here(wb_app *a)
{
	const wb_row *r = wb_browser_current(a);
	int g = a->disp[a->cur].group, per = a->n_experts + 1;
	size_t last = a->cur;

	unfold(a, g);
	relayout(a, (long)r->idx);
	while (last + 1 < a->n_disp && a->rows[a->view[a->disp[last +
	    1].v]].block == g / per)
		last++;
	if (table.h > 0 && last >= a->top + (size_t)table.h)
		a->top = last - (size_t)table.h + 1;
	if (a->top > a->cur)
		a->top = a->cur;
}

/* Enter: the layer's detail; on a folded row, opens it. */
static void
press_detail(wb_app *a, int key)
{
	(void)key;
	if (a->n_disp > 0 && a->disp[a->cur].group >= 0) {
		open_here(a);
		return;
	}
	a->screen = WB_SCR_DETAIL;
}

/*
 * f: folds the block of the layer under the cursor (the expert, for an
 * opened expert's layer), or opens the folded row under it.
 */
static void
press_fold(wb_app *a, int key)
{
	wb_row *r = wb_browser_current(a);
	long keep = cursor_row(a);

	(void)key;
	if (r == NULL)
		return;
	if (a->disp[a->cur].group >= 0) {
		open_here(a);
		return;
	} else if (r->block < 0)
		wb_message(a, 0, "%s is in no block", r->shortname);
	else if (r->expert >= 0 && a->open_expert[r->block * a->n_experts +
	    r->expert])
		a->open_expert[r->block * a->n_experts + r->expert] = 0;
	else
		a->fold[r->block] = 1;
	relayout(a, keep);
}

/* F: folds every block, or opens them all when all are folded. */
static void
press_fold_all(wb_app *a, int key)
{
	int b, all = 1;

	(void)key;
	for (b = 0; b < a->n_blocks; b++)
		all &= a->fold[b];
	if (a->n_blocks > 0)
		memset(a->fold, !all, (size_t)a->n_blocks);
	relayout(a, cursor_row(a));
	wb_message(a, 0, "%d blocks %s", a->n_blocks, all ? "opened" :
	    "folded: one row each (Enter or f opens one)");
}

int
wb_browser_goto_block(wb_app *a, const char *text)
{
	char *end;
	long b = strtol(text, &end, 10);
	size_t l;

	while (*end == ' ')
		end++;
	if (end == text || *end != '\0' || b < 0 || b >= a->n_blocks) {
		wb_message(a, 1, "go to block: \"%s\" is not a block number "
		    "(0-%d)", text, a->n_blocks - 1);
		return 0;
	}
	for (l = 0; l < a->n_disp; l++)
		if (a->rows[a->view[a->disp[l].v]].block == (int)b) {
			/* at the top of the table when rows follow */
			a->cur = a->top = l;
			return 1;
		}
	wb_message(a, 1, "block %ld: no layer of it is shown (filter /%s/)",
	    b, a->filter);
	return 0;
}

void
wb_browser_show_row(wb_app *a, size_t i)
{
	const wb_row *r = &a->rows[i];
	long l;

	if (i >= a->n_rows)
		return;
	if (r->block >= 0) {
		a->fold[r->block] = 0;
		if (r->expert >= 0)
			a->open_expert[r->block * a->n_experts + r->expert] = 1;
	}
	relayout(a, (long)i);
	if ((l = line_of_row(a, i)) < 0 && a->filter[0] != '\0') {
		wb_browser_set_filter(a, "");
		wb_message(a, 0, "filter cleared: it hid %s", r->shortname);
		l = line_of_row(a, i);
	}
	if (l >= 0)
		a->cur = (size_t)l;
	a->screen = WB_SCR_BROWSER;
}

double
wb_browser_sens(const wb_app *a, size_t i)
{
	const tq_sens *s = wb_mix_sens();
	size_t l, n;

	if (s == NULL || i >= a->n_rows)
		return NAN;
	n = tq_sens_n_layers(s);
	/* the table lists the block linears in model order, as the rows */
	if (i < n && strcmp(tq_sens_layer_name(s, i), a->rows[i].name) == 0)
		return tq_sens_probe_kld(s, i);
	for (l = 0; l < n; l++)
		if (strcmp(tq_sens_layer_name(s, l), a->rows[i].name) == 0)
			return tq_sens_probe_kld(s, l);
	return NAN;
}

/* :, go to a block; H, the heat map. */
static void
press_blocks(wb_app *a, int key)
{
	if (key == ':')
		wb_prompt(a, WB_PROMPT_BLOCK, "");
	else
		wb_heat_open(a);
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
	{ { 'f' }, press_fold, "fold the block under the cursor into one row "
	    "(an opened expert: the expert), or open the folded row", "fold",
	    WB_ALWAYS },
	{ { 'F' }, press_fold_all, "fold every block (all folded: open them "
	    "all)", NULL, WB_ALWAYS },
	{ { ':' }, press_blocks, "go to a block: type its number, Enter",
	    "block", WB_ALWAYS },
	{ { 'H' }, press_blocks, "heat map of blocks by layer kind (error or "
	    "sensitivity); Enter there comes back to the layer", "heat",
	    WB_ALWAYS },
};

const wb_keymap wb_browser_keymap = {
	"Layer browser (1)", keys, WB_NKEYS(keys), "Edits go to the marked "
	"layers, else the current one (a folded row: its layers); with every "
	"shown layer marked the rule's pattern is the filter. Enter on a "
	"folded block (or expert) opens it"
};
