/*
 * sens.c: per-layer sensitivity to quantization, from one calibration pass.
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

#include "calib.h"
#include "error.h"
#include "forward.h"
#include "gptq.h"
#include "job.h"
#include "model.h"
#include "quant.h"
#include "sens.h"

/* Probe logits kept at once: [P, V] floats, at most this many. */
#define PROBE_BUDGET ((int64_t)64 << 20)
/* The probe setting: the menu entry whose mean bpw is nearest this. */
#define PROBE_BPW 3.5

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

tq_status
tq_sens__new(const tq_model *m, const tq_sens_opt *menu, size_t n_menu,
    tq_sens **out, tq_error *err)
{
	tq_sens *s = calloc(1, sizeof(*s));
	size_t i, k;

	*out = NULL;
	if (s == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
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
			tq_error e2;
			int fits = tq_scheme_check(&menu[k].cfg.scheme, rows, cols,
			    &e2) == TQ_OK;

			s->err[i * n_menu + k] = NAN;
			s->bpw[i * n_menu + k] = fits ?
			    tq_scheme_bpw(&menu[k].cfg.scheme, rows, cols) : NAN;
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
tq_sens_bpw(const tq_sens *s, size_t l, size_t k)
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

/* ---- The job ------------------------------------------------------------ */

typedef struct sens_job {
	const tq_model *m;
	const tq_calib *calib;
	tq_sens_opt *menu;	/* [n_menu] */
	size_t n_menu;
	int64_t probe_tokens;
} sens_job;

static void
sens_job_free(void *p)
{
	sens_job *j = p;

	free(j->menu);
	free(j);
}

static void
sens_free_void(void *p)
{
	tq_sens_free(p);
}


/*
 * Quantizes w[rows, cols] (left unchanged) with menu entry o into q (the
 * dequantized weight), H[cols, cols] over ntok tokens.
 */
static tq_status
sens_quantize(const tq_sens_opt *o, const float *w, const float *H,
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

/* The probe: base log-probabilities of its windows and a forward scratch. */
typedef struct sens_probe {
	int64_t nw, L, V, H;
	const int32_t *ids;	/* [nw, L] the first calibration windows */
	float *x;		/* [nw, L, H] the probe's input to block li */
	float *xw;		/* [L, H] scratch */
	float *base;		/* [nw, L, V] float model's log-probabilities */
	tq_fwd *f;
	double kld_sum;		/* accumulated by probe_kld_cb */
	const float *base_w;	/* the window's base log-probs */
	int64_t count;
} sens_probe;

/* log_softmax of row[V] into out[V]. */
static void
log_softmax(const float *row, int64_t V, float *out)
{
	double mx = row[0], sum = 0.0;
	int64_t v;

	for (v = 1; v < V; v++)
		mx = row[v] > mx ? row[v] : mx;
	for (v = 0; v < V; v++)
		sum += exp((double)row[v] - mx);
	for (v = 0; v < V; v++)
		out[v] = (float)((double)row[v] - mx - log(sum));
}

static int
probe_base_cb(void *ud, int64_t pos0, int64_t n, const float *logits)
{
	sens_probe *p = ud;
	int64_t i;

	for (i = 0; i < n; i++)
		log_softmax(logits + i * p->V, p->V,
		    (float *)p->base_w + (pos0 + i) * p->V);
	return 0;
}

/* Adds KL(base || q) of each position to kld_sum. */
static int
probe_kld_cb(void *ud, int64_t pos0, int64_t n, const float *logits)
{
	sens_probe *p = ud;
	int64_t i, v, V = p->V;

	for (i = 0; i < n; i++) {
		const float *row = logits + i * V;
		const float *lb = p->base_w + (pos0 + i) * V;
		double mx = row[0], sum = 0.0, kl = 0.0, lse;

		for (v = 1; v < V; v++)
			mx = row[v] > mx ? row[v] : mx;
		for (v = 0; v < V; v++)
			sum += exp((double)row[v] - mx);
		lse = mx + log(sum);
		for (v = 0; v < V; v++) {
			double pb = exp((double)lb[v]);

			kl += pb * ((double)lb[v] - ((double)row[v] - lse));
		}
		p->kld_sum += kl > 0.0 ? kl : 0.0;
		p->count++;
	}
	return 0;
}

/*
 * Runs the probe windows from block li (input p->x) to the logits with
 * layer weights lw for block li and the model's own after it; with kld,
 * accumulates KL against the base, else stores the base log-probs.
 */
static tq_status
probe_run(sens_probe *p, const tq_model *m, const tq_layer_weights *lw,
    int64_t li, int kld, const int *cancel, tq_error *err)
{
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	int64_t w, b;
	tq_status st;

	o.logits_cb = kld ? probe_kld_cb : probe_base_cb;
	o.logits_ud = p;
	for (w = 0; w < p->nw; w++) {
		if (cancel != NULL && __atomic_load_n(cancel, __ATOMIC_RELAXED))
			return tq_fail(err, TQ_ECANCELLED, "cancelled");
		memcpy(p->xw, p->x + w * p->L * p->H,
		    (size_t)(p->L * p->H) * sizeof(float));
		p->base_w = p->base + w * p->L * p->V;
		for (b = li; b < m->cfg.n_layers; b++)
			if ((st = tq_fwd_block(p->f, b == li ? lw : &m->layers[b],
			    (int)b, p->xw, p->L, NULL, err)) != TQ_OK)
				return st;
		if ((st = tq_fwd_head(p->f, p->xw, p->L, &o, NULL, err)) != TQ_OK)
			return st;
	}
	return TQ_OK;
}

/* The menu entry probed: mean bpw nearest PROBE_BPW among valid ones. */
static int64_t
probe_choice(const tq_sens *s)
{
	int64_t best = -1;
	double bd = INFINITY;
	size_t k, l;

	for (k = 0; k < s->n_menu; k++) {
		double sum = 0.0;
		int ok = 1;

		for (l = 0; l < s->n && ok; l++) {
			double b = s->bpw[l * s->n_menu + k];

			ok = !isnan(b);
			sum += b;
		}
		if (ok && fabs(sum / (double)s->n - PROBE_BPW) < bd) {
			bd = fabs(sum / (double)s->n - PROBE_BPW);
			best = (int64_t)k;
		}
	}
	return best;
}

static tq_status
sens_job_run(tq_job *j, void *ctx, tq_error *err)
{
	sens_job *q = ctx;
	const tq_model *m = q->m;
	const tq_model_config *c = &m->cfg;
	int64_t S = q->calib->n_samples, L = q->calib->seqlen, s, li, i;
	int64_t H = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
	int64_t qd = c->n_heads * c->head_dim;
	const int *cancel = tq_job__cancel_flag(j);
	float *x = NULL, *xn = NULL, *att = NULL, *g = NULL, *y = NULL;
	float *hs[4] = { NULL, NULL, NULL, NULL }, *w = NULL, *qw = NULL;
	int64_t hdim[4] = { H, qd, H, F };
	sens_probe p;
	tq_fwd *f = NULL;
	tq_sens *sens = NULL;
	tq_status st;
	size_t n_done = 0;

	memset(&p, 0, sizeof(p));
	tq_job__stage(j, "sensitivity");
	if ((st = tq_sens__new(m, q->menu, q->n_menu, &sens, err)) != TQ_OK)
		return st;
	tq_job__set_result(j, TQ_RESULT_SENS, sens, sens_free_void);
	sens->calib_tokens = S * L;
	if ((st = tq_fwd_new(m, L, &f, err)) != TQ_OK)
		return st;
	x = malloc((size_t)(S * L * H) * sizeof(float));
	xn = malloc((size_t)(L * H) * sizeof(float));
	att = malloc((size_t)(L * qd) * sizeof(float));
	g = malloc((size_t)(L * F) * sizeof(float));
	y = malloc((size_t)(L * H) * sizeof(float));
	for (i = 0; i < 4; i++)
		hs[i] = malloc((size_t)(hdim[i] * hdim[i]) * sizeof(float));
	/* The largest linear: gate/up/down (F x H) or q/o (qd x H). */
	w = malloc((size_t)(H * (F > qd ? F : qd)) * sizeof(float));
	qw = malloc((size_t)(H * (F > qd ? F : qd)) * sizeof(float));
	if (x == NULL || xn == NULL || att == NULL || g == NULL || y == NULL ||
	    hs[0] == NULL || hs[1] == NULL || hs[2] == NULL || hs[3] == NULL ||
	    w == NULL || qw == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory for the sensitivity "
		    "of %lld samples of %lld tokens", (long long)S, (long long)L);
		goto out;
	}
	for (s = 0; s < S && st == TQ_OK; s++)
		st = tq_fwd_embed(f, q->calib->ids + s * L, L, x + s * L * H, err);
	if (st != TQ_OK)
		goto out;

	/* The probe's windows: the first calibration samples. */
	sens->probe_menu = q->probe_tokens > 0 ? probe_choice(sens) : -1;
	if (sens->probe_menu >= 0) {
		p.L = L;
		p.V = V;
		p.H = H;
		p.nw = (q->probe_tokens + L - 1) / L;
		p.nw = p.nw > S ? S : p.nw;
		while (p.nw > 1 && p.nw * L * V > PROBE_BUDGET)
			p.nw--;
		p.ids = q->calib->ids;
		sens->probe_tokens = p.nw * L;
		p.x = malloc((size_t)(p.nw * L * H) * sizeof(float));
		p.xw = malloc((size_t)(L * H) * sizeof(float));
		p.base = malloc((size_t)(p.nw * L * V) * sizeof(float));
		if (p.x == NULL || p.xw == NULL || p.base == NULL ||
		    (st = tq_fwd_new(m, L, &p.f, err)) != TQ_OK) {
			if (st == TQ_OK)
				st = tq_fail(err, TQ_ENOMEM, "out of memory for "
				    "the probe");
			goto out;
		}
		memcpy(p.x, x, (size_t)(p.nw * L * H) * sizeof(float));
		if ((st = probe_run(&p, m, &m->layers[0], 0, 0, cancel,
		    err)) != TQ_OK)
			goto out;
		tq_job__log(j, "probe: %s on each layer alone, KLD over %lld "
		    "tokens", sens->menu[sens->probe_menu].name,
		    (long long)sens->probe_tokens);
	}

	for (li = 0; li < c->n_layers; li++) {
		const tq_layer_weights *lw = &m->layers[li];
		int k;

		for (i = 0; i < 4; i++)
			memset(hs[i], 0, (size_t)(hdim[i] * hdim[i]) *
			    sizeof(float));
		/* The float block over every sample, gathering the four H. */
		for (s = 0; s < S; s++) {
			float *xs = x + s * L * H;

			if (__atomic_load_n(cancel, __ATOMIC_RELAXED)) {
				st = tq_fail(err, TQ_ECANCELLED, "cancelled");
				goto out;
			}
			tq_fwd_norm(f, lw->attn_norm, xs, L, xn);
			tq_hessian_add(hs[0], xn, L, H);
			tq_fwd_attn(f, lw, xn, L, att);
			tq_hessian_add(hs[1], att, L, qd);
			tq_fwd_linear(f, att, L, lw->wo, lw->bo, y, H);
			for (i = 0; i < L * H; i++)
				xs[i] += y[i];
			tq_fwd_norm(f, lw->ffn_norm, xs, L, xn);
			tq_hessian_add(hs[2], xn, L, H);
			tq_fwd_swiglu(f, lw, xn, L, g);
			tq_hessian_add(hs[3], g, L, F);
			tq_fwd_linear(f, g, L, lw->w_down, lw->b_down, y, H);
			for (i = 0; i < L * H; i++)
				xs[i] += y[i];
		}
		for (i = 0; i < 4; i++)
			tq_hessian_finish(hs[i], hdim[i]);

		for (k = 0; k < TQ_LINEARS_PER_LAYER; k++) {
			size_t l = (size_t)li * TQ_LINEARS_PER_LAYER + (size_t)k;
			const float *Hk = hs[tq_model__input_site((tq_linear)k)];
			const tq_tensor *t = tq_model__linear_weight(m, l);
			int64_t rows = t->shape[0], cols = t->shape[1];
			size_t e;

			tq_tensor_to_f32(t, 0, rows * cols, w);
			for (e = 0; e < sens->n_menu; e++) {
				double *r = &sens->err[l * sens->n_menu + e];

				if (isnan(sens->bpw[l * sens->n_menu + e]))
					continue;
				if ((st = sens_quantize(&sens->menu[e], w, Hk,
				    S * L, rows, cols, qw, err)) != TQ_OK)
					goto out;
				*r = tq_gptq_rel_err(w, qw, Hk, rows, cols);
				if ((int64_t)e == sens->probe_menu) {
					tq_layer_weights pl = *lw;
					tq_tensor qt = *t;

					qt.dtype = TQ_DTYPE_F32;
					qt.data = qw;
					qt.nbytes = (uint64_t)(rows * cols) *
					    sizeof(float);
					*tq_layer__slot(&pl, (size_t)k) = &qt;
					p.kld_sum = 0.0;
					p.count = 0;
					if ((st = probe_run(&p, m, &pl, li, 1, cancel,
					    err)) != TQ_OK)
						goto out;
					sens->probe_kld[l] = p.kld_sum /
					    (double)(p.count > 0 ? p.count : 1);
					sens->coef[l] = *r > 0.0 ?
					    sens->probe_kld[l] / *r : 0.0;
				}
			}
			tq_job__progress(j, (int64_t)++n_done, (int64_t)sens->n);
		}
		/* The probe's input to the next block. */
		for (s = 0; s < p.nw; s++)
			if ((st = tq_fwd_block(p.f, lw, (int)li,
			    p.x + s * L * H, L, NULL, err)) != TQ_OK)
				goto out;
		tq_job__log(j, "block %lld of %lld measured", (long long)li + 1,
		    (long long)c->n_layers);
	}
	st = TQ_OK;
out:
	tq_fwd_free(f);
	tq_fwd_free(p.f);
	free(p.x);
	free(p.xw);
	free(p.base);
	free(x);
	free(xn);
	free(att);
	free(g);
	free(y);
	for (i = 0; i < 4; i++)
		free(hs[i]);
	free(w);
	free(qw);
	return st;
}

tq_status
tq_job_sensitivity(const tq_model *m, const tq_calib *calib,
    const char *const *menu, size_t n_menu, int64_t probe_tokens,
    tq_job **out, tq_error *err)
{
	sens_job *q;
	size_t k;
	tq_status st;

	*out = NULL;
	if (calib == NULL)
		return tq_fail(err, TQ_EINVAL, "sensitivity needs calibration "
		    "data");
	if (menu == NULL || n_menu == 0) {
		menu = default_menu;
		for (n_menu = 0; default_menu[n_menu] != NULL; n_menu++)
			;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->menu = calloc(n_menu, sizeof(*q->menu))) == NULL) {
		free(q);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	for (k = 0; k < n_menu; k++)
		if ((st = tq_sens__parse_opt(menu[k], &q->menu[k], err)) !=
		    TQ_OK) {
			sens_job_free(q);
			return st;
		}
	q->m = m;
	q->calib = calib;
	q->n_menu = n_menu;
	q->probe_tokens = probe_tokens < 0 ? 0 : probe_tokens;
	return tq_job__start(sens_job_run, q, sens_job_free, out, err);
}

tq_sens *
tq_job_take_sens(tq_job *j)
{
	return tq_job__take_result(j, TQ_RESULT_SENS);
}
