/*
 * sens.c: the per-layer sensitivity table and its menu; the pass that
 * fills it is the sensitivity job (engine/sensitivity.c).
 *
 * The calibration samples go through the float model block by block.  For
 * each block the four input second moments H = X^T X (q/k/v, o, gate/up,
 * down) are gathered, and every linear is quantized onto every setting of
 * the menu (RTN, or GPTQ with that H) to measure its relative output error
 * ||(W - W') X||^2 / ||W X||^2.  A probe then turns error into model-level
 * loss: each layer alone is quantized with one mid-size setting and the
 * mean KL divergence of the next-token distribution from the float
 * model's, on a few calibration windows, divided by that setting's error,
 * gives the layer's coefficient.  A plan's predicted loss is the sum over
 * layers of coefficient times error (first order: layers add).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "gptq.h"
#include "model.h"
#include "plan.h"
#include "quant.h"
#include "sens.h"

static const char *const default_menu[] = {
	"rtn:q2_k+imatrix", "rtn:q3_k+imatrix", "rtn:q4_k+imatrix",
	"rtn:q5_k+imatrix", "rtn:q6_k+imatrix", "rtn:q8_0",
	"gptq:int3-g128", "gptq:int4-g128", "gptq:int8",
	NULL
};

const char *const *
tq_sens_default_menu(void)
{
	return default_menu;
}

tq_status
tq_sens__parse_opt(const char *s, tq_sens_opt *out, tq_error *err)
{
	char buf[64], *colon, *plus;
	char scheme[32];
	tq_method method;
	tq_scheme sch;
	tq_status st;
	int imatrix = 0;

	if (strlen(s) >= sizeof(buf))
		return tq_fail(err, TQ_EINVAL, "menu entry \"%.40s...\" is too "
		    "long", s);
	snprintf(buf, sizeof(buf), "%s", s);
	if ((colon = strchr(buf, ':')) == NULL)
		return tq_fail(err, TQ_EINVAL, "menu entry \"%s\": expected "
		    "METHOD:SCHEME[+imatrix], like rtn:q4_k or gptq:int4-g128",
		    s);
	*colon = '\0';
	if ((plus = strchr(colon + 1, '+')) != NULL) {
		if (strcasecmp(plus + 1, "imatrix") != 0)
			return tq_fail(err, TQ_EINVAL, "menu entry \"%s\": only "
			    "+imatrix may follow the scheme", s);
		*plus = '\0';
		imatrix = 1;
	}
	if ((st = tq_method_parse(buf, &method, err)) != TQ_OK ||
	    (st = tq_scheme_parse(colon + 1, &sch, err)) != TQ_OK)
		return st;
	if (method != TQ_METHOD_RTN && method != TQ_METHOD_GPTQ)
		return tq_fail(err, TQ_EINVAL, "menu entry \"%s\": the menu takes "
		    "rtn and gptq settings", s);
	if (tq_quant_needs_imatrix(&sch) && !imatrix)
		return tq_fail(err, TQ_EINVAL, "menu entry \"%s\": "
		    "llama-quantize quantizes %s only with an importance "
		    "matrix; add +imatrix", s, colon + 1);
	tq_layer_cfg_init(&out->cfg, method, &sch);
	out->cfg.use_imatrix = imatrix;
	tq_scheme_name(&sch, scheme, sizeof(scheme));
	snprintf(out->name, sizeof(out->name), "%s:%s%s",
	    tq_method_name(method), scheme, imatrix ? "+imatrix" : "");
	return TQ_OK;
}

void
tq_sens_free(tq_sens *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; s->names != NULL && i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s->first);
	free(s->members);
	free(s->model_path);
	free(s->menu);
	free(s->params);
	free(s->err);
	free(s->bpw);
	free(s->off);
	free(s->coef);
	free(s->probe_kld);
	free(s);
}

int
tq_sens__scheme(const tq_sens_opt *o, int64_t rows, int64_t cols,
    tq_scheme *out)
{
	*out = o->cfg.scheme;
	return tq_plan__fallback_scheme(out, rows, cols);
}

/*
 * The name of entry first (members linears): the linear's own, or for a
 * group of experts expert 0's with its index made "*" ("experts.*.w1").
 */
static char *
sens_entry_name(const tq_model *m, size_t first, int members)
{
	const char *name = tq_model_linear_name(m, first), *p;
	char *out;

	if (members == 1 || (p = strstr(name, ".experts.0.")) == NULL)
		return strdup(name);
	if ((out = malloc(strlen(name) + 1)) == NULL)
		return NULL;
	snprintf(out, strlen(name) + 1, "%.*s.experts.*.%s",
	    (int)(p - name), name, p + strlen(".experts.0."));
	return out;
}

/* The entries of m, in model order: into first/members when not NULL. */
static size_t
sens_entries(const tq_model *m, int per_expert, size_t *first, int *members)
{
	size_t n = 0, k, nk, bf;
	int64_t li;

	for (li = 0; li < m->cfg.n_layers; li++) {
		const tq_layer_weights *lw = &m->layers[li];
		int grouped = lw->n_experts > 0 && !per_expert;

		bf = tq_model__block_first(m, li);
		/* grouped: q, k, v, o, then gate, up and down of all experts */
		nk = grouped ? TQ_LINEAR_GATE + 3 : tq_layer__n_linears(lw);
		for (k = 0; k < nk; k++, n++) {
			if (first == NULL)
				continue;
			first[n] = bf + k;
			members[n] = grouped && k >= TQ_LINEAR_GATE ?
			    lw->n_experts : 1;
		}
	}
	return n;
}

tq_status
tq_sens__new(const tq_model *m, const tq_sens_opt *menu, size_t n_menu,
    int per_expert, tq_sens **out, tq_error *err)
{
	tq_sens *s = calloc(1, sizeof(*s));
	size_t i, k;

	*out = NULL;
	if (s == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	s->model_layers = m->cfg.n_layers;
	s->per_expert = per_expert && tq_model__moe(m);
	s->n = sens_entries(m, s->per_expert, NULL, NULL);
	s->n_menu = n_menu;
	s->probe_menu = -1;
	s->model_path = strdup(m->path);
	s->menu = malloc((n_menu ? n_menu : 1) * sizeof(*s->menu));
	s->names = calloc(s->n ? s->n : 1, sizeof(*s->names));
	s->first = malloc((s->n ? s->n : 1) * sizeof(*s->first));
	s->members = malloc((s->n ? s->n : 1) * sizeof(*s->members));
	s->params = malloc((s->n ? s->n : 1) * sizeof(*s->params));
	s->err = malloc((s->n * n_menu + 1) * sizeof(double));
	s->bpw = malloc((s->n * n_menu + 1) * sizeof(double));
	s->off = calloc(s->n * n_menu + 1, 1);
	s->coef = malloc((s->n ? s->n : 1) * sizeof(double));
	s->probe_kld = malloc((s->n ? s->n : 1) * sizeof(double));
	if (s->model_path == NULL || s->menu == NULL || s->names == NULL ||
	    s->first == NULL || s->members == NULL ||
	    s->params == NULL || s->err == NULL || s->bpw == NULL ||
	    s->off == NULL || s->coef == NULL || s->probe_kld == NULL)
		goto nomem;
	memcpy(s->menu, menu, n_menu * sizeof(*menu));
	sens_entries(m, s->per_expert, s->first, s->members);
	for (i = 0; i < s->n; i++) {
		int64_t rows, cols;

		if ((s->names[i] = sens_entry_name(m, s->first[i],
		    s->members[i])) == NULL)
			goto nomem;
		/* A group's experts share one shape: the first's. */
		tq_model_linear_shape(m, s->first[i], &rows, &cols);
		s->params[i] = rows * cols * s->members[i];
		s->coef[i] = 1.0;
		s->probe_kld[i] = NAN;
		for (k = 0; k < n_menu; k++) {
			tq_scheme sch;
			int fits = tq_sens__scheme(&menu[k], rows, cols, &sch);

			s->err[i * n_menu + k] = NAN;
			s->bpw[i * n_menu + k] = fits ?
			    tq_scheme_bpw(&sch, rows, cols) : NAN;
		}
	}
	*out = s;
	return TQ_OK;
nomem:
	tq_sens_free(s);
	return tq_fail(err, TQ_ENOMEM, "out of memory");
}

size_t tq_sens_n_layers(const tq_sens *s) { return s->n; }
size_t tq_sens_n_menu(const tq_sens *s) { return s->n_menu; }

const char *
tq_sens_menu(const tq_sens *s, size_t k)
{
	return k < s->n_menu ? s->menu[k].name : NULL;
}

const char *
tq_sens_layer_name(const tq_sens *s, size_t l)
{
	return l < s->n ? s->names[l] : NULL;
}

size_t
tq_sens_layer_members(const tq_sens *s, size_t l)
{
	return l < s->n ? (size_t)s->members[l] : 0;
}

size_t
tq_sens_layer_linear(const tq_sens *s, size_t l, size_t j)
{
	if (l >= s->n || j >= (size_t)s->members[l])
		return (size_t)-1;
	return s->first[l] + 3 * j;
}

size_t
tq_sens_layer_of(const tq_sens *s, size_t linear)
{
	size_t lo = 0, hi = s->n, l, b;

	/* The last entry starting at or before linear, then a group's two
	   kinds before it (their experts interleave). */
	while (lo < hi) {
		l = lo + (hi - lo) / 2;
		if (s->first[l] <= linear)
			lo = l + 1;
		else
			hi = l;
	}
	for (b = 0; b < 3 && b < lo; b++) {
		l = lo - 1 - b;
		if ((linear - s->first[l]) % 3 == 0 &&
		    (linear - s->first[l]) / 3 < (size_t)s->members[l])
			return l;
	}
	return (size_t)-1;
}

int
tq_sens_per_expert(const tq_sens *s)
{
	return s->per_expert;
}

int64_t
tq_sens_layer_params(const tq_sens *s, size_t l)
{
	return l < s->n ? s->params[l] : 0;
}

double
tq_sens_rel_err(const tq_sens *s, size_t l, size_t k)
{
	return l < s->n && k < s->n_menu ? s->err[l * s->n_menu + k] : NAN;
}

double
tq_sens__bpw(const tq_sens *s, size_t l, size_t k)
{
	return l < s->n && k < s->n_menu ? s->bpw[l * s->n_menu + k] : NAN;
}

double
tq_sens_pred(const tq_sens *s, size_t l, size_t k)
{
	return tq_sens_rel_err(s, l, k) * (l < s->n ? s->coef[l] : NAN);
}

double
tq_sens_probe_kld(const tq_sens *s, size_t l)
{
	return l < s->n ? s->probe_kld[l] : NAN;
}

/*
 * Quantizes w[rows, cols] (left unchanged) with menu entry o into q (the
 * dequantized weight), H[cols, cols] over ntok tokens.
 */
tq_status
tq_sens__quantize(const tq_sens_opt *o, const float *w, const float *H,
    int64_t ntok, int64_t rows, int64_t cols, float *q, tq_error *err)
{
	const tq_layer_cfg *c = &o->cfg;
	float *imp = NULL;
	tq_qtensor qt;
	tq_status st;
	int64_t j;

	memset(&qt, 0, sizeof(qt));
	if (c->use_imatrix) {
		if ((imp = malloc((size_t)cols * sizeof(float))) == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		for (j = 0; j < cols; j++)
			imp[j] = H[j * cols + j] / (float)(ntok > 0 ? ntok : 1);
	}
	if ((st = tq_qtensor_init(&qt, &c->scheme, rows, cols, err)) != TQ_OK)
		goto out;
	memcpy(q, w, (size_t)(rows * cols) * sizeof(float));
	if (c->method == TQ_METHOD_GPTQ) {
		tq_gptq_opts go;
		double damp;

		memset(&go, 0, sizeof(go));
		go.damp = c->damp;
		go.hess_shrink = c->hess_shrink;
		go.block = c->block_size;
		go.imp = imp;
		st = tq_gptq(&qt, q, H, &go, &damp, err);
	} else {
		tq_quant_rtn(&qt, q, imp, c->clip_search);
	}
	if (st == TQ_OK)
		tq_qtensor_dequant(&qt, q);
out:
	tq_qtensor_done(&qt);
	free(imp);
	return st;
}
