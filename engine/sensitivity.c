/*
 * engine/sensitivity.c: the sensitivity job, which fills a tq_sens table
 * (core/sens.c) from one calibration pass.
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
 *
 * A mixture of experts: each expert's inputs (the tokens the float router
 * sends it, and its gated product on them) give its own Hessians.  By
 * default the experts of one block and kind (all gates, all ups, all
 * downs) are one entry: each setting quantizes all of them, the error is
 * summed over the experts (numerators and denominators apart) and the
 * probe quantizes the whole group at once; per expert, each is one.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "error.h"
#include "forward.h"
#include "gptq.h"
#include "job.h"
#include "model.h"
#include "sens.h"
#include "eval/eval.h"

/* Probe logits kept at once: [P, V] floats, at most this many. */
#define PROBE_BUDGET ((int64_t)64 << 20)
/* The probe setting: the menu entry whose mean bpw is nearest this. */
#define PROBE_BPW 3.5

typedef struct sens_job {
	const tq_model *m;
	const tq_calib *calib;
	tq_sens_opt *menu;	/* [n_menu] */
	size_t n_menu;
	int64_t probe_tokens;
	int per_expert;
} sens_job;

/* The second moments one block's pass gathers. */
typedef struct sens_hess {
	float *site[TQ_SITES_PER_LAYER];	/* [C, C] each site's input */
	float **gu;		/* [E] [H, H] expert e's gate/up input, routed */
	float **dn;		/* [E] [Fe, Fe] its gated product, routed */
	int64_t *routed;	/* [E] tokens the router sent expert e */
	int64_t n_experts;	/* E allocated */
} sens_hess;

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


/* The probe: the float model's logits on its windows and a scratch. */
typedef struct sens_probe {
	int64_t nw, L, V, H;
	const int32_t *ids;	/* [nw, L] the first calibration windows */
	float *x;		/* [nw, L, H] the probe's input to block li */
	float *xw;		/* [L, H] scratch */
	float *base;		/* [nw, L, V] the float model's logits */
	tq_fwd *f;
	tq_kld_acc kld;		/* KL against the base (eval/kld.c) */
	const float *base_w;	/* the window's base logits */
	const int32_t *ids_w;	/* the window's ids */
	tq_status st;		/* of the last callback */
	tq_error err;
} sens_probe;

static int
probe_base_cb(void *ud, int64_t pos0, int64_t n, const float *logits)
{
	sens_probe *p = ud;

	memcpy((float *)p->base_w + pos0 * p->V, logits,
	    (size_t)(n * p->V) * sizeof(float));
	return 0;
}

/* Adds KL(base || q) of each position (the target: the next id). */
static int
probe_kld_cb(void *ud, int64_t pos0, int64_t n, const float *logits)
{
	sens_probe *p = ud;
	int64_t i;

	for (i = 0; i < n; i++) {
		int64_t pos = pos0 + i;
		int32_t next = p->ids_w[pos + 1 < p->L ? pos + 1 : pos];

		p->st = tq_eval__kld_add(&p->kld, logits + i * p->V,
		    p->base_w + pos * p->V, p->V, next, &p->err);
		if (p->st != TQ_OK)
			return 1;
	}
	return 0;
}

/* Adds a block input x[n, in] to its site's Hessian. */
static int
hessian_hook(void *ud, int layer, tq_linear which, const float *x, int64_t n,
    int64_t in)
{
	sens_hess *h = ud;

	(void)layer;
	tq_hessian_add(h->site[tq_model__input_site(which)], x, n, in);
	return 0;
}

/* Adds expert e's routed input x[n, in] to its gate/up or down Hessian. */
static int
expert_hook(void *ud, int layer, int e, tq_linear which, const float *x,
    int64_t n, int64_t in)
{
	sens_hess *h = ud;

	(void)layer;
	if (which == TQ_LINEAR_DOWN) {
		tq_hessian_add(h->dn[e], x, n, in);
	} else {
		tq_hessian_add(h->gu[e], x, n, in);
		h->routed[e] += n;
	}
	return 0;
}

/*
 * The Hessian linear i is quantized with (*hq, over *ntok tokens) and the
 * one its error is measured on (*he): its site's over all N tokens, or an
 * expert's over its routed tokens.  As quantize does, an expert's gate
 * and up routed fewer tokens than their input width are quantized with
 * the block's all-token Hessian; down keeps its routed one (GPTQ treats
 * inputs no routed token reached as dead).
 */
static void
linear_hess(const tq_model *m, const sens_hess *h, size_t i, int64_t N,
    const float **hq, const float **he, int64_t *ntok)
{
	int e;
	tq_linear kind = tq_model_linear_kind(m, i, &e);

	if (e < 0) {
		*hq = *he = h->site[tq_model__input_site(kind)];
		*ntok = N;
	} else if (kind == TQ_LINEAR_DOWN) {
		*hq = *he = h->dn[e];
		*ntok = h->routed[e];
	} else {
		*he = h->gu[e];
		if (h->routed[e] < m->cfg.hidden_size) {
			*hq = h->site[TQ_SITE_GATE_UP];
			*ntok = N;
		} else {
			*hq = h->gu[e];
			*ntok = h->routed[e];
		}
	}
}

/*
 * Runs the probe windows from block li (input p->x) to the logits with
 * layer weights lw for block li and the model's own after it; with kld,
 * accumulates KL against the base, else stores the base logits.
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
		p->ids_w = p->ids + w * p->L;
		for (b = li; b < m->cfg.n_layers; b++)
			if ((st = tq_fwd_block(p->f, b == li ? lw : &m->layers[b],
			    (int)b, p->xw, p->L, NULL, err)) != TQ_OK)
				return st;
		if ((st = tq_fwd_head(p->f, p->xw, p->L, &o, NULL, err)) != TQ_OK)
			return p->st != TQ_OK ? tq_fail(err, p->st, "%s",
			    p->err.msg) : st;
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

/*
 * Which menu entries do not fit which layers, and what those layers get
 * instead (the plan's shape fallback): one log line per entry and width.
 */
static void
sens_fit_log(tq_job *j, const tq_model *m, const tq_sens *s)
{
	size_t k, l, l2, n;
	int64_t rows, cols, r2, c2;

	for (k = 0; k < s->n_menu; k++)
		for (l = 0; l < s->n; l++) {
			tq_scheme sch;
			char to[32], why[200];

			tq_model_linear_shape(m, s->first[l], &rows, &cols);
			if (tq_scheme_check(&s->menu[k].cfg.scheme, rows, cols,
			    NULL) == TQ_OK)
				continue;
			/* Once per width: the first layer of it reports. */
			for (l2 = 0; l2 < l; l2++) {
				tq_model_linear_shape(m, s->first[l2], &r2, &c2);
				if (c2 == cols)
					break;
			}
			if (l2 < l)
				continue;
			for (n = 0, l2 = l; l2 < s->n; l2++) {
				tq_model_linear_shape(m, s->first[l2], &r2, &c2);
				n += c2 == cols;
			}
			if (tq_sens__scheme(&s->menu[k], rows, cols, &sch)) {
				tq_scheme_name(&sch, to, sizeof(to));
				snprintf(why, sizeof(why), "%s there", to);
			} else
				snprintf(why, sizeof(why), "not offered there");
			tq_job__log(j, "menu %s does not fit the %zu layers of "
			    "%lld columns: %s", s->menu[k].name, n,
			    (long long)cols, why);
		}
}

/*
 * Measures entry l of sens (its linears in block li, weights lw) on every
 * menu setting; the probe setting also goes through the probe, all the
 * entry's linears quantized at once.  wbuf[4]: w, q, w - q and scratch,
 * each as large as the largest linear.
 */
static tq_status
sens_entry(tq_sens *sens, const tq_model *m, const sens_hess *h, int64_t N,
    sens_probe *p, const tq_layer_weights *lw, int64_t li, size_t l,
    float *const *wbuf, const int *cancel, tq_error *err)
{
	size_t bf = tq_model__block_first(m, li), first = sens->first[l];
	size_t nm = (size_t)sens->members[l], e, j;
	int64_t rows, cols, x, ntok;
	float *w = wbuf[0], *qw = wbuf[1], *d = wbuf[2], *dh = wbuf[3];
	float *qg = NULL;		/* [nm, rows, cols] the probe's weights */
	tq_tensor *qts = NULL;		/* [nm] views of qg */
	const float *hq, *he;
	tq_status st = TQ_OK;

	tq_model_linear_shape(m, first, &rows, &cols);
	if (sens->probe_menu >= 0 && !isnan(sens->bpw[l * sens->n_menu +
	    (size_t)sens->probe_menu]) && ((qg = malloc(nm * (size_t)(rows *
	    cols) * sizeof(float))) == NULL || (qts = calloc(nm,
	    sizeof(*qts))) == NULL)) {
		free(qg);
		return tq_fail(err, TQ_ENOMEM, "out of memory for the probe");
	}
	for (e = 0; e < sens->n_menu && st == TQ_OK; e++) {
		tq_sens_opt o = sens->menu[e];
		int probe = (int64_t)e == sens->probe_menu;
		double num = 0.0, den = 0.0;

		if (isnan(sens->bpw[l * sens->n_menu + e]))
			continue;
		tq_sens__scheme(&sens->menu[e], rows, cols, &o.cfg.scheme);
		for (j = 0; j < nm && st == TQ_OK; j++) {
			size_t i = first + 3 * j;
			float *q = probe ? qg + j * (size_t)(rows * cols) : qw;

			linear_hess(m, h, i, N, &hq, &he, &ntok);
			tq_tensor_to_f32(tq_model__linear_weight(m, i), 0,
			    rows * cols, w);
			if ((st = tq_sens__quantize(&o, w, hq, ntok, rows, cols,
			    q, err)) != TQ_OK)
				break;
			/* The relative error of the group: sums apart. */
			for (x = 0; x < rows * cols; x++)
				d[x] = w[x] - q[x];
			num += tq_hquad(d, he, rows, cols, dh);
			den += tq_hquad(w, he, rows, cols, dh);
		}
		if (st != TQ_OK)
			break;
		sens->err[l * sens->n_menu + e] = den > 0.0 ? num / den : 0.0;
		if (probe) {
			tq_layer_weights pl = *lw;
			double r = sens->err[l * sens->n_menu + e];

			for (j = 0; j < nm; j++) {
				size_t i = first + 3 * j;

				qts[j] = *tq_model__linear_weight(m, i);
				qts[j].dtype = TQ_DTYPE_F32;
				qts[j].data = qg + j * (size_t)(rows * cols);
				qts[j].nbytes = (uint64_t)(rows * cols) *
				    sizeof(float);
				*tq_layer__slot(&pl, i - bf) = &qts[j];
			}
			tq_eval__kld_init(&p->kld);
			if ((st = probe_run(p, m, &pl, li, 1, cancel, err)) !=
			    TQ_OK)
				break;
			sens->probe_kld[l] = p->kld.sum_kld /
			    (double)(p->kld.count > 0 ? p->kld.count : 1);
			tq_eval__kld_done(&p->kld);
			sens->coef[l] = r > 0.0 ? sens->probe_kld[l] / r : 0.0;
		}
	}
	free(qg);
	free(qts);
	return st;
}

static tq_status
sens_job_run(tq_job *j, void *ctx, tq_error *err)
{
	sens_job *q = ctx;
	const tq_model *m = q->m;
	const tq_model_config *c = &m->cfg;
	int64_t S = q->calib->n_samples, L = q->calib->seqlen, s, li, i;
	int64_t H = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
	int64_t qd = c->n_heads * c->head_dim, Fe = c->moe_inter, E, big;
	const int *cancel = tq_job__cancel_flag(j);
	float *x = NULL, *wbuf[4] = { NULL };
	int64_t hdim[TQ_SITES_PER_LAYER] = { H, qd, H, F };
	tq_forward_opts fo = TQ_FORWARD_OPTS_INIT;
	sens_hess hh;
	sens_probe p;
	tq_fwd *f = NULL;
	tq_sens *sens = NULL;
	tq_status st;
	size_t n_done = 0, l = 0;
	int oom = 0;

	memset(&p, 0, sizeof(p));
	memset(&hh, 0, sizeof(hh));
	tq_job__stage(j, "sensitivity");
	if ((st = tq_sens__new(m, q->menu, q->n_menu, q->per_expert, &sens,
	    err)) != TQ_OK)
		return st;
	tq_job__set_result(j, TQ_RESULT_SENS, sens, sens_free_void);
	sens->calib_tokens = S * L;
	sens_fit_log(j, m, sens);
	if ((st = tq_fwd_new(m, L, &f, err)) != TQ_OK)
		return st;
	x = malloc((size_t)(S * L * H) * sizeof(float));
	for (i = 0; i < TQ_SITES_PER_LAYER; i++)
		oom |= (hh.site[i] = malloc((size_t)(hdim[i] * hdim[i]) *
		    sizeof(float))) == NULL;
	/* The largest linear: gate/up/down (F or Fe x H) or q/o (qd x H). */
	big = F > qd ? F : qd;
	big = H * (Fe > big ? Fe : big);
	for (i = 0; i < 4; i++)
		oom |= (wbuf[i] = malloc((size_t)big * sizeof(float))) == NULL;
	/* Each expert's two Hessians: E (H^2 + Fe^2) floats for a block. */
	E = tq_model__moe(m) ? c->n_experts : 0;
	hh.n_experts = E;
	if (E > 0) {
		hh.gu = calloc((size_t)E, sizeof(*hh.gu));
		hh.dn = calloc((size_t)E, sizeof(*hh.dn));
		hh.routed = calloc((size_t)E, sizeof(*hh.routed));
		oom |= hh.gu == NULL || hh.dn == NULL || hh.routed == NULL;
		for (i = 0; !oom && i < E; i++)
			oom |= (hh.gu[i] = malloc((size_t)(H * H) *
			    sizeof(float))) == NULL ||
			    (hh.dn[i] = malloc((size_t)(Fe * Fe) *
			    sizeof(float))) == NULL;
	}
	if (x == NULL || oom) {
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
		tq_job__log(j, "probe: %s on each %s alone, KLD over %lld "
		    "tokens", sens->menu[sens->probe_menu].name,
		    E > 0 && !sens->per_expert ? "layer (a group of experts "
		    "at once)" : "layer", (long long)sens->probe_tokens);
	}

	for (li = 0; li < c->n_layers; li++) {
		const tq_layer_weights *lw = &m->layers[li];
		size_t next = tq_model__block_first(m, li + 1);

		for (i = 0; i < TQ_SITES_PER_LAYER; i++)
			memset(hh.site[i], 0, (size_t)(hdim[i] * hdim[i]) *
			    sizeof(float));
		for (i = 0; i < lw->n_experts; i++) {
			memset(hh.gu[i], 0, (size_t)(H * H) * sizeof(float));
			memset(hh.dn[i], 0, (size_t)(Fe * Fe) * sizeof(float));
			hh.routed[i] = 0;
		}
		/* The float block over every sample, gathering the Hessians. */
		fo.act_hook = hessian_hook;
		fo.expert_hook = expert_hook;
		fo.act_ud = &hh;
		fo.cancel = cancel;
		for (s = 0; s < S; s++) {
			if (__atomic_load_n(cancel, __ATOMIC_RELAXED)) {
				st = tq_fail(err, TQ_ECANCELLED, "cancelled");
				goto out;
			}
			if ((st = tq_fwd_block(f, lw, (int)li, x + s * L * H, L,
			    &fo, err)) != TQ_OK)
				goto out;
		}
		for (i = 0; i < TQ_SITES_PER_LAYER; i++)
			tq_hessian_finish(hh.site[i], hdim[i]);
		for (i = 0; i < lw->n_experts; i++) {
			tq_hessian_finish(hh.gu[i], H);
			tq_hessian_finish(hh.dn[i], Fe);
		}

		for (; l < sens->n && sens->first[l] < next; l++) {
			if ((st = sens_entry(sens, m, &hh, S * L, &p, lw, li, l,
			    wbuf, cancel, err)) != TQ_OK)
				goto out;
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
	tq_eval__kld_done(&p.kld);
	free(x);
	for (i = 0; i < TQ_SITES_PER_LAYER; i++)
		free(hh.site[i]);
	for (i = 0; i < 4; i++)
		free(wbuf[i]);
	for (i = 0; i < hh.n_experts; i++) {
		free(hh.gu != NULL ? hh.gu[i] : NULL);
		free(hh.dn != NULL ? hh.dn[i] : NULL);
	}
	free(hh.gu);
	free(hh.dn);
	free(hh.routed);
	return st;
}

tq_status
tq_job_sensitivity(const tq_model *m, const tq_calib *calib,
    const char *const *menu, size_t n_menu, int64_t probe_tokens,
    tq_job **out, tq_error *err)
{
	return tq_job_sensitivity_experts(m, calib, menu, n_menu,
	    probe_tokens, 0, out, err);
}

tq_status
tq_job_sensitivity_experts(const tq_model *m, const tq_calib *calib,
    const char *const *menu, size_t n_menu, int64_t probe_tokens,
    int per_expert, tq_job **out, tq_error *err)
{
	sens_job *q;
	size_t k;
	tq_status st;

	*out = NULL;
	if (calib == NULL)
		return tq_fail(err, TQ_EINVAL, "sensitivity needs calibration "
		    "data");
	if (menu == NULL || n_menu == 0) {
		menu = tq_sens_default_menu();
		for (n_menu = 0; menu[n_menu] != NULL; n_menu++)
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
	q->per_expert = per_expert;
	return tq_job__start(sens_job_run, q, sens_job_free, out, err);
}

tq_sens *
tq_job_take_sens(tq_job *j)
{
	return tq_job__take_result(j, TQ_RESULT_SENS);
}
