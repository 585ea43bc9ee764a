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
	free(s->model_path);
	free(s->menu);
	free(s->params);
	free(s->err);
	free(s->bpw);
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

tq_status
tq_sens__new(const tq_model *m, const tq_sens_opt *menu, size_t n_menu,
    tq_sens **out, tq_error *err)
{
	tq_sens *s = calloc(1, sizeof(*s));
	size_t i, k;

	*out = NULL;
	if (s == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if (tq_model__moe(m)) {
		free(s);
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: sensitivity of a "
		    "mixture-of-experts model is not implemented yet",
		    m->path);
	}
	s->model_layers = m->cfg.n_layers;
	s->n = (size_t)m->cfg.n_layers * TQ_LINEARS_PER_LAYER;
	s->n_menu = n_menu;
	s->probe_menu = -1;
	s->model_path = strdup(m->path);
	s->menu = malloc((n_menu ? n_menu : 1) * sizeof(*s->menu));
	s->names = calloc(s->n ? s->n : 1, sizeof(*s->names));
	s->params = malloc((s->n ? s->n : 1) * sizeof(*s->params));
	s->err = malloc((s->n * n_menu + 1) * sizeof(double));
	s->bpw = malloc((s->n * n_menu + 1) * sizeof(double));
	s->coef = malloc((s->n ? s->n : 1) * sizeof(double));
	s->probe_kld = malloc((s->n ? s->n : 1) * sizeof(double));
	if (s->model_path == NULL || s->menu == NULL || s->names == NULL ||
	    s->params == NULL || s->err == NULL || s->bpw == NULL ||
	    s->coef == NULL || s->probe_kld == NULL)
		goto nomem;
	memcpy(s->menu, menu, n_menu * sizeof(*menu));
	for (i = 0; i < s->n; i++) {
		int64_t rows, cols;

		if ((s->names[i] = strdup(tq_model_linear_name(m, i))) == NULL)
			goto nomem;
		tq_model_linear_shape(m, i, &rows, &cols);
		s->params[i] = rows * cols;
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
