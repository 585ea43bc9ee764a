/*
 * quantize.c: the sequential quantization pipeline.
 *
 * The calibration samples go through the model one block at a time.  Inside
 * a block the work is stage-major: every sample is run up to the next
 * linear layer's input, that input's second moment H = X^T X is gathered
 * (BLAS syrk, never keeping the inputs), the layer is quantized, and only
 * then does the next stage run, with the quantized weights in place:
 *
 *   A  x' = attn_norm(x)              -> H_a -> q, k, v
 *   B  a = attention(x')              -> H_o -> o        (a kept per sample)
 *   C  x += o(a); x'' = ffn_norm(x)   -> H_g -> gate, up
 *   D  g = act(gate(x'')) * up(x'')   -> H_d -> down   (g kept per sample)
 *   E  x += down(g)                      (the next block's input)
 *
 * So each layer sees inputs produced by the layers already quantized
 * (true-sequential), and memory holds the residual stream and attention
 * output of the samples plus one H, not the model: weights are read from the
 * memory map one layer at a time.  D's products g are kept too, up to
 * QZ_KEEP_G bytes, so that E does not compute gate and up a second time
 * (a third of a block's work); past that (or with TQ_QUANTIZE_RECOMPUTE),
 * E recomputes them, to the same bytes.
 *
 * A mixture-of-experts block replaces C and D by qz_moe: every token is
 * routed once, then each expert's gate/up and down are calibrated on the
 * tokens routed to it (all of them when it saw too few).
 *
 * A plan of RTN-class layers (qz_one_pass says which) needs none of this:
 * each block of the float model runs once over the samples, its sites'
 * sums of x^2 gathered on the way (no X^T X), and its layers are rounded
 * from them, as llama-imatrix and llama-quantize do.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "awq.h"
#include "calib.h"
#include "error.h"
#include "fileio.h"
#include "forward.h"
#include "gptq.h"
#include "job.h"
#include "par.h"
#include "qstate.h"

/* D's products kept for E up to this many bytes (see above) */
#define QZ_KEEP_G (2.0 * 1024 * 1024 * 1024)

/* ---- Quantizing one layer --------------------------------------------------- */

typedef struct qz_ctx {
	const tq_model *m;
	const tq_calib *calib;
	tq_qstate *s;
	tq_job *job;
	tq_owned owned;
	int64_t n_done;		/* linears finished, for progress */
	int one_pass;		/* statistics from the float model (qz_one_pass) */
	double t_fwd, t_quant, t_save;	/* seconds, for the closing log line */
} qz_ctx;

static double
qz_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Weight error statistics of q against w. */
static void
qz_metrics(tq_layer_result *r, const float *w, const float *q, int64_t n)
{
	tq_weight_err e;

	tq_weight_error(w, q, n, &e);
	r->sqnr_db = e.sqnr_db;
	r->max_abs_err = e.max_abs;
}

/*
 * Quantizes linear idx whose current weight is *slot, with H[cols, cols]
 * (X^T X over ntok calibration tokens; NULL without calibration) or, in
 * one pass, sq[cols] (the sums of x^2 over the tokens, no H); puts the
 * dequantized weight in *slot.
 */
static tq_status
qz_linear(qz_ctx *z, size_t idx, const float *H, const double *sq,
    int64_t ntok, const tq_tensor **slot, tq_error *err)
{
	tq_qlayer *ql = &z->s->layers[idx];
	const tq_layer_cfg *c = &ql->cfg;
	int64_t rows = ql->res.rows, cols = ql->res.cols, j;
	float *w = NULL, *orig = NULL, *imp = NULL;
	double t0 = qz_now(), damp = 0.0;
	const tq_tensor *t;
	tq_status st = TQ_OK;
	int use_imp;

	if (c->method == TQ_METHOD_FLOAT) {
		ql->done = 1;
		goto report;
	}
	/*
	 * AWQ's scales are already folded into *slot and H (qz_block); what
	 * remains is rounding with its clip search, weighted by the scaled
	 * inputs' mean x^2.  SmoothQuant's weights round to nearest.
	 */
	use_imp = c->use_imatrix || c->method == TQ_METHOD_AWQ;
	if (H == NULL && c->method != TQ_METHOD_RTN &&
	    c->method != TQ_METHOD_SMOOTHQUANT)
		return tq_fail(err, TQ_EINVAL, "%s: %s needs calibration data",
		    ql->res.name, tq_method_name(c->method));
	if (H == NULL && sq == NULL && use_imp)
		return tq_fail(err, TQ_EINVAL, "%s: the importance matrix needs "
		    "calibration data", ql->res.name);
	w = malloc((size_t)(rows * cols) * sizeof(float));
	orig = malloc((size_t)(rows * cols) * sizeof(float));
	if (use_imp)
		imp = malloc((size_t)cols * sizeof(float));
	if (w == NULL || orig == NULL || (use_imp && imp == NULL)) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", ql->res.name);
		goto out;
	}
	tq_tensor_to_f32(*slot, 0, rows * cols, w);
	memcpy(orig, w, (size_t)(rows * cols) * sizeof(float));
	/*
	 * The importance matrix is mean x^2: H's diagonal over the tokens,
	 * or in one pass the double sums, divided as calibrate divides them.
	 */
	for (j = 0; imp != NULL && j < cols; j++)
		imp[j] = sq != NULL ? (float)(sq[j] / (double)(ntok > 0 ?
		    ntok : 1)) : H[j * cols + j] / (float)(ntok > 0 ? ntok : 1);
	tq_qtensor_done(&ql->qt);
	if ((st = tq_qtensor_init(&ql->qt, &c->scheme, rows, cols, err)) !=
	    TQ_OK)
		goto out;
	if (c->method != TQ_METHOD_GPTQ) {
		tq_quant_rtn(&ql->qt, w, imp, c->clip_search);
		tq_qtensor_dequant(&ql->qt, w);
	} else {
		tq_gptq_opts go;

		memset(&go, 0, sizeof(go));
		go.damp = c->damp;
		go.hess_shrink = c->hess_shrink;
		go.block = c->block_size;
		go.act_order = c->act_order;
		go.static_groups = c->static_groups;
		go.clip_search = c->clip_search;
		go.imp = imp;
		if ((st = tq_gptq(&ql->qt, w, H, &go, &damp, err)) != TQ_OK) {
			char why[sizeof(err->msg)];

			/* Name the layer; the message must not format itself. */
			snprintf(why, sizeof(why), "%s", err->msg);
			st = tq_fail(err, st, "%s: %s", ql->res.name, why);
			goto out;
		}
		if (damp > c->damp * 1.5)
			tq_job__log(z->job, "%s: Hessian needed dampening %.3g",
			    ql->res.name, damp);
		/* What is stored is what counts: the codes, dequantized. */
		tq_qtensor_dequant(&ql->qt, w);
	}
	ql->res.rel_err = H != NULL ? tq_gptq_rel_err(orig, w, H, rows, cols) :
	    NAN;
	ql->res.tokens = H != NULL || sq != NULL ? ntok : 0;
	qz_metrics(&ql->res, orig, w, rows * cols);
	if ((t = tq_owned__add(&z->owned, *slot, w)) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
		goto out;
	}
	w = NULL;
	*slot = t;
	ql->done = 1;
report:
	ql->res.seconds = qz_now() - t0;
	z->t_quant += ql->res.seconds;
	tq_job__layer(z->job, &ql->res);
	tq_job__progress(z->job, ++z->n_done, (int64_t)z->s->n);
out:
	free(w);
	free(orig);
	free(imp);
	return st;
}

/* ---- Passes over the samples ------------------------------------------------ */


/* Working memory of the pipeline; shapes use S = samples, L = seqlen. */
typedef struct qz_work {
	tq_fwd *f;
	float *x;	/* [S, L, H] residual stream */
	float *att;	/* [S, L, qd] attention outputs (o's pass to the next) */
	float *xn;	/* [L, H] a sublayer's normed input */
	float *g;	/* [L, F] the MLP's gated product */
	float *g_all;	/* [S, L, F] the same per sample, D's for E; NULL
			   with experts, in one pass, or over QZ_KEEP_G */
	float *hess;	/* [W, W], W = max(H, qd, F) */
	float *hess2;	/* [max(qd, F)^2] o's or down's input in the float
			   block, for AWQ; NULL when no layer is AWQ */
	double *sum_abs;	/* [W] per channel sum of |x| of a stage's input */
	double *sum_abs2;	/* [W] the same for hess2's input */
	float *amax;	/* [W] per channel max |x| of a stage's input */
	float *sc;	/* [W] the input scales being folded (1: none) */
	/* A mixture of experts' (NULL otherwise); Fe, K: config's */
	float *hess_all;	/* [H, H] the MLP norm's output, all tokens */
	float *gx;	/* [L, H] an expert's tokens' residual stream */
	float *ex;	/* [L, H] their MLP norm output, gathered */
	float *eg;	/* [L, Fe] their gated product, down's input */
	float *amax_e;	/* [Fe] max |x| of the experts' down inputs */
	int *sel;	/* [S, L, K] each token's experts */
	char *hit;	/* [L] a gathered row is a routed token */
	/* one pass's (NULL otherwise) */
	double *site_sq[TQ_SITES_PER_LAYER];	/* [C] per site: sum of x^2 */
	int64_t nb;	/* samples per forward pass (qz_batch) */
	int64_t L;	/* tokens per sample */
} qz_work;

static tq_status
qz_cancelled(const qz_ctx *z, tq_error *err)
{
	return tq_job__cancelled(z->job) ?
	    tq_fail(err, TQ_ECANCELLED, "cancelled") : TQ_OK;
}

static const tq_layer_cfg *
qz_cfg(const qz_ctx *z, int64_t li, size_t k)
{
	return &z->s->layers[tq_model__block_first(z->m, li) + k].cfg;
}

static tq_method
qz_method(const qz_ctx *z, int64_t li, size_t k)
{
	return qz_cfg(z, li, k)->method;
}

/* Clears the per-channel statistics of C channels. */
static void
qz_stats_reset(qz_work *w, int64_t C)
{
	memset(w->sum_abs, 0, (size_t)C * sizeof(*w->sum_abs));
	memset(w->amax, 0, (size_t)C * sizeof(*w->amax));
}

/* Per-channel sums: the least work (values) worth a thread. */
#define QZ_COL_WORK ((int64_t)1 << 18)

typedef struct qz_cs_job {
	double *sum_abs;	/* [C] */
	float *amax;		/* [C], or NULL */
	const float *x;		/* [n, C] */
	int64_t n, C;
} qz_cs_job;

/* Channels [j0, j1) of qz_colstats (tq_rows_fn). */
static void
qz_colstats_cols(void *arg, int64_t j0, int64_t j1)
{
	const qz_cs_job *a = arg;
	int64_t i, j;

	for (i = 0; i < a->n; i++) {
		const float *row = a->x + i * a->C;

		for (j = j0; j < j1; j++) {
			float v = fabsf(row[j]);

			a->sum_abs[j] += v;
			if (a->amax != NULL && v > a->amax[j])
				a->amax[j] = v;
		}
	}
}

/*
 * sum_abs[C] += |x| and amax[C] = max(amax, |x|) over the rows of x[n, C],
 * each channel row by row whichever thread takes it.
 */
static void
qz_colstats(double *sum_abs, float *amax, const float *x, int64_t n,
    int64_t C)
{
	qz_cs_job a = { sum_abs, amax, x, n, C };

	tq_par_rows(qz_colstats_cols, &a, C, n, QZ_COL_WORK);
}

/*
 * A float copy of t, seen as [rows, cols] (a vector is one row), with
 * column j times col_mul[j] and divided by col_div[j], and row i divided by
 * row_div[i] (each may be NULL).  It is owned by the pipeline; *copy, when
 * copy is not NULL, gets a malloc'ed copy of the values for the state.
 * With off (Gemma's norms, which scale by 1 + w) the division applies to
 * off + v and off is taken back: v' = (off + v) / s - off, rounded once.
 */
static const tq_tensor *
qz_rescale(qz_ctx *z, const tq_tensor *t, const float *col_mul,
    const float *col_div, const float *row_div, float off, float **copy,
    tq_error *err)
{
	int64_t n = tq_tensor_numel(t), cols, i, j;
	float *d = malloc((size_t)n * sizeof(float));
	const tq_tensor *r;

	cols = t->ndim > 1 ? t->shape[t->ndim - 1] : n;
	if (d == NULL)
		goto nomem;
	tq_tensor_to_f32(t, 0, n, d);
	for (i = 0; i < n / cols; i++)
		for (j = 0; j < cols; j++) {
			float v = d[i * cols + j];

			if (off != 0.0f && col_div != NULL) {
				d[i * cols + j] = (float)(((double)off + v) /
				    col_div[j] - off);
				continue;
			}
			if (col_mul != NULL)
				v *= col_mul[j];
			if (col_div != NULL)
				v /= col_div[j];
			if (row_div != NULL)
				v /= row_div[i];
			d[i * cols + j] = v;
		}
	if (copy != NULL) {
		free(*copy);
		if ((*copy = malloc((size_t)n * sizeof(float))) == NULL)
			goto nomem;
		memcpy(*copy, d, (size_t)n * sizeof(float));
	}
	if ((r = tq_owned__add(&z->owned, t, d)) == NULL)
		goto nomem;
	return r;
nomem:
	free(d);
	tq_fail(err, TQ_ENOMEM, "out of memory");
	return NULL;
}

/*
 * How the input of linears [first, first + count) (global indices) that
 * read site (TQ_SITE_*, -1: lm_head's) is quantized at evaluation: not at
 * all unless one of them has 8-bit activations; then fp8 with a static
 * scale for an fp8 weight grid (the largest calibration |x|, amax[C]
 * divided by the folded scales s[C] when given, onto 448), else int8 per
 * token.
 */
static void
qz_site_act(const qz_ctx *z, tq_actq *a, size_t first, size_t count,
    int site, const float *amax, const float *s, int64_t C)
{
	const tq_layer_cfg *c8 = NULL;
	double m = 0.0;
	size_t k;
	int64_t j;

	for (k = first; k < first + count; k++)
		if (tq_model__input_site(z->s->layers[k].res.which) == site &&
		    z->s->layers[k].cfg.method != TQ_METHOD_FLOAT &&
		    z->s->layers[k].cfg.act_bits == 8)
			c8 = &z->s->layers[k].cfg;
	a->mode = TQ_ACTQ_NONE;
	a->scale = 0.0f;
	if (c8 == NULL)
		return;
	if (c8->scheme.type != TQ_QT_FP8_E4M3) {
		a->mode = TQ_ACTQ_INT8_TOKEN;
		return;
	}
	for (j = 0; j < C; j++) {
		double v = (double)amax[j] / (s != NULL ? s[j] : 1.0f);

		m = v > m ? v : m;
	}
	a->mode = TQ_ACTQ_FP8_STATIC;
	a->scale = m > 0.0 ? (float)(m / 448.0) : 1.0f;
}

/* Float copies of the weights of linears [first, first + count) of lw. */
static tq_status
qz_group_weights(tq_layer_weights *lw, size_t first, size_t count,
    float **wt, tq_scale_layer *sl, const qz_ctx *z, int64_t li, tq_error *err)
{
	size_t k;

	for (k = 0; k < count; k++) {
		const tq_tensor *t = *tq_layer__slot(lw, first + k);
		const tq_qlayer *ql = &z->s->layers[tq_model__block_first(z->m,
		    li) + first + k];

		if ((wt[k] = malloc((size_t)tq_tensor_numel(t) *
		    sizeof(float))) == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		tq_tensor_to_f32(t, 0, tq_tensor_numel(t), wt[k]);
		sl[k].w = wt[k];
		sl[k].rows = ql->res.rows;
		sl[k].scheme = &ql->cfg.scheme;
	}
	return TQ_OK;
}

/*
 * Chooses AWQ's scales for a group into w->sc (H[C, C], ntok tokens);
 * tie_heads for o_proj's input (see tq_awq_tie_heads).
 */
static tq_status
qz_awq_scales(qz_ctx *z, qz_work *w, const tq_scale_layer *sl, int count,
    const float *H, const double *sum_abs, int64_t C, int64_t ntok,
    int tie_heads, const char *what, tq_error *err)
{
	float *mean = malloc((size_t)C * sizeof(float));	/* [C] */
	double alpha, e_best, e_rtn;
	int64_t j;
	tq_status st;

	if (mean == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	for (j = 0; j < C; j++)
		mean[j] = (float)(sum_abs[j] / (double)(ntok > 0 ? ntok : 1));
	if (tie_heads)
		tq_awq_tie_heads(mean, z->m->cfg.n_heads, z->m->cfg.n_kv_heads,
		    z->m->cfg.head_dim);
	st = tq_awq_search(sl, count, H, mean, C, 20, tq_job__cancel_flag(z->job),
	    w->sc, &alpha, &e_best, &e_rtn, err);
	free(mean);
	if (st == TQ_OK)
		tq_job__log(z->job, "%s: AWQ scales alpha %.2f, output error "
		    "%.3g of round-to-nearest's", what, alpha,
		    e_rtn > 0.0 ? e_best / e_rtn : 1.0);
	return st;
}

/*
 * AWQ or SmoothQuant on linears [first, first + count) of block li, which
 * share the output of *norm: chooses the scales s (w->sc; 1 when neither
 * applies), multiplies the weights' columns by s, divides the norm by s
 * (its new values also go to *norm_copy, for the state), and rescales
 * H[C, C] into the second moment of the scaled inputs.
 */
static tq_status
qz_scale_group(qz_ctx *z, qz_work *w, tq_layer_weights *lw, int64_t li,
    size_t first, size_t count, const tq_tensor **norm, float **norm_copy,
    float *H, int64_t C, int64_t ntok, tq_error *err)
{
	const tq_layer_cfg *c0 = qz_cfg(z, li, first);
	int awq = tq_layer_awq_scaled(c0);
	float *wt[3] = { NULL, NULL, NULL };
	tq_scale_layer sl[3];
	char what[128];
	size_t k;
	int64_t i, j;
	tq_status st = TQ_OK;

	for (j = 0; j < C; j++)
		w->sc[j] = 1.0f;
	if (!awq && c0->method != TQ_METHOD_SMOOTHQUANT)
		return TQ_OK;
	snprintf(what, sizeof(what), "model.layers.%lld.%s", (long long)li,
	    first == TQ_LINEAR_Q ? "q/k/v_proj" : "gate/up_proj");
	/* One input, one scaling: AWQ's (awq, awq_scales) or SmoothQuant's. */
	for (k = 1; k < count; k++) {
		const tq_layer_cfg *ck = qz_cfg(z, li, first + k);

		if (tq_layer_awq_scaled(ck) != awq || (!awq &&
		    ck->method != TQ_METHOD_SMOOTHQUANT)) {
			tq_job__log(z->job, "%s: the layers sharing this input "
			    "are scaled differently; no %s scales", what,
			    awq ? "AWQ" : "SmoothQuant");
			return TQ_OK;
		}
	}
	if ((st = qz_group_weights(lw, first, count, wt, sl, z, li, err)) !=
	    TQ_OK)
		goto out;
	if (awq)
		st = qz_awq_scales(z, w, sl, (int)count, H, w->sum_abs, C, ntok,
		    0, what, err);
	else
		tq_smooth_scales(sl, (int)count, w->amax, C, c0->alpha, w->sc);
	if (st != TQ_OK)
		goto out;
	for (k = 0; k < count; k++) {
		const tq_tensor **slot = tq_layer__slot(lw, first + k);

		if ((*slot = qz_rescale(z, *slot, w->sc, NULL, NULL, 0.0f, NULL,
		    err)) == NULL) {
			st = TQ_ENOMEM;
			goto out;
		}
	}
	if ((*norm = qz_rescale(z, *norm, NULL, w->sc, NULL,
	    z->m->cfg.norm_unit_offset ? 1.0f : 0.0f, norm_copy, err)) ==
	    NULL) {
		st = TQ_ENOMEM;
		goto out;
	}
	for (i = 0; i < C; i++)
		for (j = 0; j < C; j++)
			H[i * C + j] /= w->sc[i] * w->sc[j];
out:
	for (k = 0; k < count; k++)
		free(wt[k]);
	return st;
}

/*
 * AWQ across a linear: the input of linear dst (o_proj, down_proj) is
 * made row by row by linear src (v_proj, up_proj), so dst's columns are
 * multiplied by s and src's rows and bias divided by it.  The scales come
 * from the float block's input of dst (w->hess2, w->sum_abs2; C channels);
 * for o_proj they are tied across the heads that share a kv head.
 */
static tq_status
qz_scale_linear(qz_ctx *z, qz_work *w, tq_layer_weights *lw, int64_t li,
    size_t dst, size_t src, int64_t C, int64_t ntok, tq_error *err)
{
	const tq_model_config *c = &z->m->cfg;
	tq_qblock *blk = &z->s->blocks[li];
	const tq_tensor **bias = dst == TQ_LINEAR_O ? &lw->bv : &lw->b_up;
	float **bias_copy = dst == TQ_LINEAR_O ? &blk->bv : &blk->b_up;
	float *wt[1] = { NULL }, *row_s = w->sc;
	tq_scale_layer sl[1];
	char what[128];
	int64_t i;
	tq_status st;

	snprintf(what, sizeof(what), "model.layers.%lld.%s", (long long)li,
	    dst == TQ_LINEAR_O ? "o_proj" : "down_proj");
	if ((st = qz_group_weights(lw, dst, 1, wt, sl, z, li, err)) != TQ_OK ||
	    (st = qz_awq_scales(z, w, sl, 1, w->hess2, w->sum_abs2, C, ntok,
	    dst == TQ_LINEAR_O, what, err)) != TQ_OK)
		goto out;
	if (dst == TQ_LINEAR_O) {
		/* v's rows are kv heads: one scale per (kv head, dim). */
		int64_t rep = c->n_heads / c->n_kv_heads, hd = c->head_dim;

		if ((row_s = malloc((size_t)(c->n_kv_heads * hd) *
		    sizeof(float))) == NULL) {
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < c->n_kv_heads * hd; i++)
			row_s[i] = w->sc[(i / hd) * rep * hd + i % hd];
	}
	st = TQ_ENOMEM;
	if ((*tq_layer__slot(lw, dst) = qz_rescale(z, *tq_layer__slot(lw, dst), w->sc, NULL,
	    NULL, 0.0f, NULL, err)) == NULL ||
	    (*tq_layer__slot(lw, src) = qz_rescale(z, *tq_layer__slot(lw, src), NULL, NULL,
	    row_s, 0.0f, NULL, err)) == NULL ||
	    (*bias != NULL && (*bias = qz_rescale(z, *bias, NULL, row_s, NULL,
	    0.0f, bias_copy, err)) == NULL))
		goto out;
	st = TQ_OK;
out:
	if (row_s != w->sc)
		free(row_s);
	free(wt[0]);
	return st;
}

/* Quantizes linears [first, first + count) of block li sharing H or sq. */
static tq_status
qz_group(qz_ctx *z, tq_layer_weights *lw, int64_t li, size_t first,
    size_t count, const float *H, const double *sq, int64_t ntok,
    tq_error *err)
{
	size_t k, base = tq_model__block_first(z->m, li);
	tq_status st;

	for (k = first; k < first + count; k++)
		if ((st = qz_linear(z, base + k, H, sq, ntok,
		    tq_layer__slot(lw, k), err)) != TQ_OK)
			return st;
	return TQ_OK;
}

/* Sample s's buffers in the pipeline's memory. */
static tq_fwd_io
qz_io(const qz_ctx *z, const qz_work *w, int64_t s)
{
	const tq_model_config *c = &z->m->cfg;
	int64_t L = z->calib->seqlen;
	tq_fwd_io io = { w->x + s * L * c->hidden_size, w->xn,
		w->att + s * L * c->n_heads * c->head_dim,
		w->g_all != NULL ? w->g_all + s * L * c->intermediate_size :
		w->g };

	return io;
}

/*
 * Runs stages first..last of block li (weights lw) over every sample;
 * after each, adds the input of site (TQ_SITE_*) to w->hess and its
 * per-channel statistics, and with site2 >= 0 runs on to the stage that
 * makes site2's input and adds that to w->hess2.  The Hessians are
 * cleared first and finished after.
 */
static tq_status
qz_pass(qz_ctx *z, qz_work *w, const tq_layer_weights *lw, int64_t li,
    tq_stage first, tq_stage last, int site, int site2, tq_error *err)
{
	int64_t S = z->calib->n_samples, L = z->calib->seqlen, s;
	int64_t C = site >= 0 ? tq_fwd_site_width(z->m, site) : 0;
	int64_t C2 = site2 >= 0 ? tq_fwd_site_width(z->m, site2) : 0;
	tq_status st;

	if (site >= 0) {
		memset(w->hess, 0, (size_t)(C * C) * sizeof(float));
		qz_stats_reset(w, C);
	}
	if (site2 >= 0) {
		memset(w->hess2, 0, (size_t)(C2 * C2) * sizeof(float));
		memset(w->sum_abs2, 0, (size_t)C2 * sizeof(double));
	}
	for (s = 0; s < S; s++) {
		tq_fwd_io io = qz_io(z, w, s);

		if ((st = qz_cancelled(z, err)) != TQ_OK ||
		    (st = tq_fwd_stages(w->f, lw, (int)li, first, last, &io, L,
		    NULL, err)) != TQ_OK)
			return st;
		if (site >= 0) {
			const float *x = tq_fwd_site_buf(&io, site);

			tq_hessian_add(w->hess, x, L, C);
			qz_colstats(w->sum_abs, w->amax, x, L, C);
		}
		if (site2 >= 0) {
			const float *x;

			/* The stage after last makes site2's input. */
			if ((st = tq_fwd_stages(w->f, lw, (int)li, last + 1,
			    last + 1, &io, L, NULL, err)) != TQ_OK)
				return st;
			x = tq_fwd_site_buf(&io, site2);
			tq_hessian_add(w->hess2, x, L, C2);
			qz_colstats(w->sum_abs2, NULL, x, L, C2);
		}
	}
	if (site >= 0)
		tq_hessian_finish(w->hess, C);
	if (site2 >= 0)
		tq_hessian_finish(w->hess2, C2);
	return TQ_OK;
}

/*
 * Decides how site's input is quantized at evaluation (from the pass's
 * statistics, over the scales folded into it) and puts it in the block's
 * weights, so the stages after apply it as evaluation will.
 */
static void
qz_site_done(qz_ctx *z, qz_work *w, tq_layer_weights *lw, int64_t li,
    int site, size_t first, size_t count, const float *sc)
{
	tq_actq *a = &z->s->blocks[li].act[site];

	qz_site_act(z, a, tq_model__block_first(z->m, li) + first, count,
	    site, w->amax, sc, tq_fwd_site_width(z->m, site));
	lw->act[site] = *a;
}

/*
 * A block's sites in order, and how each is quantized: the stages a pass
 * runs to make its input (with the layers before already quantized), the
 * linears that read it, the norm that AWQ's and SmoothQuant's scales fold
 * into, and for AWQ across a linear, the linear (next) whose input the
 * rows of another (prev) make: its scales are chosen in this site's pass,
 * from the float block, before prev is rounded.
 */
enum { QZ_NORM_NONE, QZ_NORM_ATTN, QZ_NORM_FFN };

static const struct qz_site {
	tq_stage first, last;
	int site;
	tq_linear lin;		/* the first linear reading the site */
	size_t count;		/* how many do */
	int norm;		/* QZ_NORM_* */
	int next, prev;		/* tq_linear; -1: none */
} qz_sites[TQ_SITES_PER_LAYER] = {
	{ TQ_STAGE_ATTN_NORM, TQ_STAGE_ATTN_NORM, TQ_SITE_QKV, TQ_LINEAR_Q, 3,
	    QZ_NORM_ATTN, TQ_LINEAR_O, TQ_LINEAR_V },
	{ TQ_STAGE_ATTN_NORM, TQ_STAGE_ATTN, TQ_SITE_O, TQ_LINEAR_O, 1,
	    QZ_NORM_NONE, -1, -1 },
	/* The attention outputs are kept per sample: o's pass made them. */
	{ TQ_STAGE_ATTN_OUT, TQ_STAGE_MLP_NORM, TQ_SITE_GATE_UP, TQ_LINEAR_GATE,
	    2, QZ_NORM_FFN, TQ_LINEAR_DOWN, TQ_LINEAR_UP },
	{ TQ_STAGE_MLP_NORM, TQ_STAGE_MLP_ACT, TQ_SITE_DOWN, TQ_LINEAR_DOWN, 1,
	    QZ_NORM_NONE, -1, -1 },
};

/*
 * The rows of x[L, H] that sel[L, K] routes to expert e, or every row
 * with all, gathered into ex[cnt, H]; hit[cnt] says which were routed.
 * Returns cnt.
 */
static int64_t
qz_gather(const float *x, const int *sel, int64_t L, int64_t H, int64_t K,
    int e, int all, float *ex, char *hit)
{
	int64_t i, k, cnt = 0;

	for (i = 0; i < L; i++) {
		int r = 0;

		for (k = 0; k < K; k++)
			r |= sel[i * K + k] == e;
		if (!r && !all)
			continue;
		memcpy(ex + cnt * H, x + i * H, (size_t)H * sizeof(float));
		hit[cnt++] = (char)r;
	}
	return cnt;
}

/*
 * Into w->hess[C, C], finished, the input of expert e's gate and up
 * (down: its gated product, C = Fe) over the tokens routed to it, or
 * over every token with all.  The residual stream holds the attention's
 * output already; the MLP norm, a row at a time, is run again on the
 * gathered rows alone, so the experts together cost about one pass.
 * down's input comes from the quantized gate and up, and the largest |x|
 * of its routed tokens goes to w->amax_e.
 */
static tq_status
qz_expert_hess(qz_ctx *z, qz_work *w, const tq_layer_weights *lw, int64_t li,
    int e, int down, int all, int64_t K, int64_t Fe, tq_error *err)
{
	int64_t S = z->calib->n_samples, L = z->calib->seqlen, s, i, j, cnt;
	int64_t H = z->m->cfg.hidden_size, C = down ? Fe : H;
	tq_status st;

	memset(w->hess, 0, (size_t)(C * C) * sizeof(float));
	for (s = 0; s < S; s++) {
		tq_fwd_io io = { w->gx, w->ex, NULL, NULL };

		if ((st = qz_cancelled(z, err)) != TQ_OK)
			return st;
		cnt = qz_gather(w->x + s * L * H, w->sel + s * L * K, L, H, K,
		    e, all, w->gx, w->hit);
		if (cnt == 0)
			continue;
		if ((st = tq_fwd_stages(w->f, lw, (int)li, TQ_STAGE_MLP_NORM,
		    TQ_STAGE_MLP_NORM, &io, cnt, NULL, err)) != TQ_OK)
			return st;
		if (!down) {
			tq_hessian_add(w->hess, w->ex, cnt, H);
			continue;
		}
		tq_fwd_expert_act(w->f, lw, (int)li, e, w->ex, cnt, w->eg);
		tq_hessian_add(w->hess, w->eg, cnt, Fe);
		for (i = 0; i < cnt; i++)
			for (j = 0; w->hit[i] && j < Fe; j++)
				if (fabsf(w->eg[i * Fe + j]) > w->amax_e[j])
					w->amax_e[j] = fabsf(w->eg[i * Fe + j]);
	}
	tq_hessian_finish(w->hess, C);
	return TQ_OK;
}

/*
 * The MLP of mixture-of-experts block li (block options b), after its
 * attention's sites: one pass makes every token's MLP norm output (its
 * second moment over all N tokens kept in w->hess_all, and the gate/up
 * site's activation quantization decided from it) and routes each token;
 * then expert by expert, gate and up are quantized from the inputs of the
 * tokens routed to it and down from its gated product on those tokens,
 * made by the quantized gate and up.
 *
 * Too few tokens: a linear whose expert was routed fewer tokens than the
 * linear's input width (a Hessian that cannot be full rank) is calibrated
 * on all N tokens of the block instead, as if the router had sent them
 * all; each linear's result keeps both counts (tokens, routed) and a log
 * line sums up the block's coverage.
 */
static tq_status
qz_moe(qz_ctx *z, qz_work *w, tq_layer_weights *lw, int64_t li,
    const tq_block_opts *b, tq_error *err)
{
	int64_t N = z->calib->n_samples * z->calib->seqlen, i, routed;
	int64_t H = z->m->cfg.hidden_size, Fe = b->moe.inter, K = b->moe.top_k;
	int64_t rmin = -1, rmax = -1, s;
	size_t bf = tq_model__block_first(z->m, li), k;
	size_t E = (size_t)b->moe.n_experts;
	tq_qblock *blk = &z->s->blocks[li];
	int e, emin = 0, emax = 0, few_gu = 0, few_d = 0, d8 = 0;
	tq_status st;

	/* 8-bit inputs at the down site: every expert's count for its scale */
	for (k = 0; k < E; k++) {
		const tq_layer_cfg *lc = &z->s->layers[bf + TQ_LINEAR_GATE +
		    3 * k + 2].cfg;

		d8 |= lc->method != TQ_METHOD_FLOAT && lc->act_bits == 8;
	}

	if ((st = qz_pass(z, w, lw, li, TQ_STAGE_ATTN_OUT, TQ_STAGE_MLP_NORM,
	    TQ_SITE_GATE_UP, -1, err)) != TQ_OK)
		return st;
	memcpy(w->hess_all, w->hess, (size_t)(H * H) * sizeof(float));
	qz_site_act(z, &blk->act[TQ_SITE_GATE_UP], bf + TQ_LINEAR_GATE, 3 * E,
	    TQ_SITE_GATE_UP, w->amax, NULL, H);
	lw->act[TQ_SITE_GATE_UP] = blk->act[TQ_SITE_GATE_UP];
	for (s = 0; s < z->calib->n_samples; s++) {
		tq_fwd_io io = qz_io(z, w, s);
		int64_t L = z->calib->seqlen;

		if ((st = tq_fwd_stages(w->f, lw, (int)li, TQ_STAGE_MLP_NORM,
		    TQ_STAGE_MLP_NORM, &io, L, NULL, err)) != TQ_OK)
			return st;
		tq_fwd_moe_route(w->f, lw, (int)li, io.xn, L,
		    w->sel + s * L * K);
	}
	memset(w->amax_e, 0, (size_t)Fe * sizeof(float));
	for (e = 0; e < (int)E; e++) {
		size_t gi = bf + TQ_LINEAR_GATE + 3 * (size_t)e;
		int all_gu, all_d, quant_gu;

		routed = 0;
		for (i = 0; i < N * K; i++)
			routed += w->sel[i] == e;
		if (rmin < 0 || routed < rmin) {
			rmin = routed;
			emin = e;
		}
		if (routed > rmax) {
			rmax = routed;
			emax = e;
		}
		all_gu = routed < H;
		all_d = routed < Fe;
		few_gu += all_gu;
		few_d += all_d;
		for (k = 0; k < 3; k++)
			z->s->layers[gi + k].res.routed = routed;
		quant_gu = z->s->layers[gi].cfg.method != TQ_METHOD_FLOAT ||
		    z->s->layers[gi + 1].cfg.method != TQ_METHOD_FLOAT;
		if (quant_gu && !all_gu && (st = qz_expert_hess(z, w, lw, li, e,
		    0, 0, K, Fe, err)) != TQ_OK)
			return st;
		for (k = 0; k < 2; k++)
			if ((st = qz_linear(z, gi + k, all_gu ? w->hess_all :
			    w->hess, NULL, all_gu ? N : routed, tq_layer__slot(lw,
			    gi + k - bf), err)) != TQ_OK)
				return st;
		/* down's Hessian, and its routed inputs' |x| for the site */
		if ((z->s->layers[gi + 2].cfg.method != TQ_METHOD_FLOAT || d8) &&
		    (st = qz_expert_hess(z, w, lw, li, e, 1, all_d, K, Fe,
		    err)) != TQ_OK)
			return st;
		if ((st = qz_linear(z, gi + 2, w->hess, NULL, all_d ? N : routed,
		    tq_layer__slot(lw, gi + 2 - bf), err)) != TQ_OK)
			return st;
	}
	qz_site_act(z, &blk->act[TQ_SITE_DOWN], bf + TQ_LINEAR_GATE, 3 * E,
	    TQ_SITE_DOWN, w->amax_e, NULL, Fe);
	lw->act[TQ_SITE_DOWN] = blk->act[TQ_SITE_DOWN];
	tq_job__log(z->job, "model.layers.%lld: %lld tokens, top-%lld of %zu "
	    "experts: routed %lld (expert %d) to %lld (expert %d); calibrated "
	    "on all tokens for want of routed ones: %d experts' gate and up "
	    "(fewer than %lld), %d experts' down (fewer than %lld)",
	    (long long)li, (long long)N, (long long)K, E, (long long)rmin,
	    emin, (long long)rmax, emax, few_gu, (long long)H, few_d,
	    (long long)Fe);
	return TQ_OK;
}

/*
 * Block li over every sample, a site at a time: each pass runs the stages
 * up to a site's input, then the layers reading that input are quantized;
 * a last pass makes the block's output, the next block's input.
 */
static tq_status
qz_block(qz_ctx *z, qz_work *w, int64_t li, tq_error *err)
{
	int64_t N = z->calib->n_samples * z->calib->seqlen;
	tq_layer_weights lw = z->m->layers[li];
	tq_qblock *blk = &z->s->blocks[li];
	tq_block_opts b;
	size_t k;
	tq_status st;

	tq_model__block(z->m, li, &b);
	/* The block's own inputs are float until each site is decided. */
	memset(lw.act, 0, sizeof(lw.act));
	for (k = 0; k < TQ_SITES_PER_LAYER; k++) {
		const struct qz_site *q = &qz_sites[k];
		int64_t C = tq_fwd_site_width(z->m, q->site);
		int across = q->next >= 0 &&
		    tq_layer_awq_scaled(qz_cfg(z, li, (size_t)q->next)) &&
		    qz_method(z, li, (size_t)q->prev) != TQ_METHOD_FLOAT;
		const float *sc = NULL;

		/* experts: their MLP site by site per expert (qz_moe) */
		if (q->site == TQ_SITE_GATE_UP && b.moe.n_experts > 0) {
			if ((st = qz_moe(z, w, &lw, li, &b, err)) != TQ_OK)
				return st;
			break;
		}
		if ((st = qz_pass(z, w, &lw, li, q->first, q->last, q->site,
		    across ? qz_sites[k + 1].site : -1, err)) != TQ_OK)
			return st;
		if (across && (st = qz_scale_linear(z, w, &lw, li,
		    (size_t)q->next, (size_t)q->prev,
		    tq_fwd_site_width(z->m, qz_sites[k + 1].site), N,
		    err)) != TQ_OK)
			return st;
		if (q->norm != QZ_NORM_NONE) {
			int attn = q->norm == QZ_NORM_ATTN;

			if ((st = qz_scale_group(z, w, &lw, li, q->lin, q->count,
			    attn ? &lw.attn_norm : &lw.ffn_norm,
			    attn ? &blk->attn_norm : &blk->ffn_norm, w->hess, C,
			    N, err)) != TQ_OK)
				return st;
			sc = w->sc;
		}
		qz_site_done(z, w, &lw, li, q->site, q->lin, q->count, sc);
		if ((st = qz_group(z, &lw, li, q->lin, q->count, w->hess, NULL,
		    N, err)) != TQ_OK)
			return st;
	}
	/* D's pass left each sample's g (never kept for experts) */
	return qz_pass(z, w, &lw, li, w->g_all != NULL ? TQ_STAGE_MLP_OUT :
	    TQ_STAGE_MLP_NORM, TQ_STAGE_MLP_OUT, -1, -1, err);
}

/* ---- One pass of the float model --------------------------------------- */

/*
 * Whether the run takes one pass of the float model instead of the
 * block-by-block pipeline above: the caller did not ask for the latter,
 * there is calibration text, the model is dense, and every linear that
 * reads an input (the blocks' and lm_head; the embeddings are a lookup,
 * always rounded) is float or RTN without 8-bit activations, whatever its
 * grid, importance matrix or clip search.  Such a layer uses nothing of
 * its inputs but the mean x^2 (the importance matrix), changes no norm or
 * other layer, and leaves no error for a later layer to correct; so its
 * statistics may come from the float model, as llama-imatrix gathers
 * them, and one pass over the samples serves every layer.  GPTQ, AWQ,
 * SmoothQuant, quantized activations and a mixture of experts (whose
 * per-expert inputs the block-by-block routing gathers) keep the
 * true-sequential pipeline.
 */
static int
qz_one_pass(const qz_ctx *z, int sequential)
{
	size_t i;

	if (sequential || z->calib == NULL || tq_model__moe(z->m))
		return 0;
	for (i = 0; i + 1 < z->s->n; i++) {
		const tq_layer_cfg *c = &z->s->layers[i].cfg;

		if (c->method != TQ_METHOD_FLOAT && (c->method != TQ_METHOD_RTN ||
		    c->act_bits == 8 || c->awq_scales))
			return 0;
	}
	return 1;
}

/* sq[C] += x^2 over the rows of x[n, C]; see qz_sq_add. */
typedef struct qz_sq_job {
	double *sq;
	const float *x;
	int64_t n, C;
} qz_sq_job;

/* Channels [j0, j1) of a qz_sq_job. */
static void
qz_sq_cols(void *arg, int64_t j0, int64_t j1)
{
	const qz_sq_job *a = arg;
	int64_t i, j;

	for (i = 0; i < a->n; i++) {
		const float *row = a->x + i * a->C;

		for (j = j0; j < j1; j++)
			a->sq[j] += (double)row[j] * row[j];
	}
}

/*
 * sq[C] += x^2 over the rows of x[n, C]: each channel summed row by row,
 * calibrate's order, whichever threads take which channels.
 */
static void
qz_sq_add(double *sq, const float *x, int64_t n, int64_t C)
{
	qz_sq_job a = { sq, x, n, C };

	tq_par_rows(qz_sq_cols, &a, C, n, QZ_COL_WORK);
}

/*
 * Samples of L tokens per forward pass in one pass: up to QZ_BATCH, as
 * evaluation batches its windows (tq_fwd_seq keeps each sample's bytes),
 * so that a block makes its parallel sections once per QZ_BATCH samples
 * with QZ_BATCH times the tasks to balance, within TQ_FWD_BATCH_BUDGET.
 */
#define QZ_BATCH 4

static int64_t
qz_batch(const tq_model *m, int64_t S, int64_t L)
{
	int64_t bytes = L * tq_fwd_token_bytes(m), nb = QZ_BATCH;

	while (nb > 1 && (nb > S || nb * bytes > TQ_FWD_BATCH_BUDGET))
		nb--;
	return nb;
}

/* The forward pass's hook in one pass: a site's input to its sums. */
static int
qz_sq_hook(void *ud, int layer, tq_linear which, const float *x, int64_t n,
    int64_t in)
{
	qz_work *w = ud;
	int site = tq_model__input_site(which);
	int64_t ms = w->L > 0 ? w->L : n, r0;

	(void)layer;
	/*
	 * A sample at a time, as its rows are in order: a batch's rows
	 * together (megabytes) are read back from memory rather than cache.
	 */
	for (r0 = 0; site >= 0 && r0 < n; r0 += ms)
		qz_sq_add(w->site_sq[site], x + r0 * in, n - r0 < ms ? n - r0 :
		    ms, in);
	return 0;
}

/*
 * Block li in one pass: the float block runs over every sample, its
 * output the next block's input, while each site's input is summed
 * (x^2 per channel); then its linears are rounded from those sums.
 */
static tq_status
qz_block_one_pass(qz_ctx *z, qz_work *w, int64_t li, tq_error *err)
{
	int64_t S = z->calib->n_samples, L = z->calib->seqlen, s;
	int64_t H = z->m->cfg.hidden_size;
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	tq_layer_weights lw = z->m->layers[li];
	tq_qblock *blk = &z->s->blocks[li];
	size_t k;
	tq_status st;

	memset(lw.act, 0, sizeof(lw.act));
	for (k = 0; k < TQ_SITES_PER_LAYER; k++)
		memset(w->site_sq[k], 0, (size_t)tq_fwd_site_width(z->m,
		    (int)k) * sizeof(double));
	o.act_hook = qz_sq_hook;
	o.act_ud = w;
	/* nb samples a pass: their rows in order, as one by one */
	for (s = 0; s < S; s += w->nb)
		if ((st = qz_cancelled(z, err)) != TQ_OK ||
		    (st = tq_fwd_block(w->f, &lw, (int)li, w->x + s * L * H,
		    (S - s < w->nb ? S - s : w->nb) * L, &o, err)) != TQ_OK)
			return st;
	for (k = 0; k < TQ_SITES_PER_LAYER; k++) {
		const struct qz_site *q = &qz_sites[k];

		blk->act[q->site].mode = TQ_ACTQ_NONE;
		blk->act[q->site].scale = 0.0f;
		if ((st = qz_group(z, &lw, li, q->lin, q->count, NULL,
		    w->site_sq[q->site], S * L, err)) != TQ_OK)
			return st;
	}
	return TQ_OK;
}

/*
 * lm_head from the final norm's output; the embeddings by RTN.  AWQ and
 * SmoothQuant have no scales here: lm_head is rounded with AWQ's clip
 * search, or to int8 with SmoothQuant's int8 activations.
 */
static tq_status
qz_head(qz_ctx *z, qz_work *w, tq_error *err)
{
	const tq_model *m = z->m;
	int64_t H = m->cfg.hidden_size, S = 0, L = 0, s;
	size_t n = z->s->n;
	const tq_tensor *head = m->lm_head, *embed = m->embed;
	tq_qlayer *qe = &z->s->layers[n - 1];
	const float *hess = NULL;
	const double *sq = NULL;
	double t0 = qz_now();
	tq_status st;

	/* lm_head's Hessian only when lm_head is quantized. */
	if (z->calib != NULL && z->one_pass &&
	    z->s->layers[n - 2].cfg.method != TQ_METHOD_FLOAT) {
		/* the float model's final norm output: its sums of x^2 */
		S = z->calib->n_samples;
		L = z->calib->seqlen;
		memset(w->site_sq[0], 0, (size_t)H * sizeof(double));
		for (s = 0; s < S; s++) {
			tq_fwd_norm(w->f, m->norm, w->x + s * L * H, L, w->xn);
			qz_sq_add(w->site_sq[0], w->xn, L, H);
		}
		sq = w->site_sq[0];
		z->s->blocks[z->s->n_layers].act[0].mode = TQ_ACTQ_NONE;
		z->s->blocks[z->s->n_layers].act[0].scale = 0.0f;
	} else if (z->calib != NULL &&
	    z->s->layers[n - 2].cfg.method != TQ_METHOD_FLOAT) {
		S = z->calib->n_samples;
		L = z->calib->seqlen;
		memset(w->hess, 0, (size_t)(H * H) * sizeof(float));
		qz_stats_reset(w, H);
		for (s = 0; s < S; s++) {
			tq_fwd_norm(w->f, m->norm, w->x + s * L * H, L, w->xn);
			tq_hessian_add(w->hess, w->xn, L, H);
			qz_colstats(w->sum_abs, w->amax, w->xn, L, H);
		}
		tq_hessian_finish(w->hess, H);
		hess = w->hess;
		qz_site_act(z, &z->s->blocks[z->s->n_layers].act[0], n - 2, 1,
		    -1, w->amax, NULL, H);
	}
	z->t_fwd += qz_now() - t0;
	if ((st = qz_linear(z, n - 2, hess, sq, S * L, &head, err)) != TQ_OK)
		return st;
	/* An embedding is a lookup, not a product: no Hessian; RTN. */
	if (qe->cfg.method != TQ_METHOD_FLOAT &&
	    qe->cfg.method != TQ_METHOD_RTN) {
		tq_job__log(z->job, "model.embed_tokens: a lookup table has no "
		    "input to calibrate on; rounding it to nearest instead of %s",
		    tq_method_name(qe->cfg.method));
		qe->cfg.method = TQ_METHOD_RTN;
		qe->cfg.use_imatrix = 0;
		qe->cfg.act_bits = 16;
		snprintf(qe->res.method, sizeof(qe->res.method), "rtn");
	}
	return qz_linear(z, n - 1, NULL, NULL, 0, &embed, err);
}

static void
qz_work_free(qz_work *w)
{
	size_t k;

	tq_fwd_free(w->f);
	free(w->x);
	free(w->att);
	free(w->xn);
	free(w->g);
	free(w->g_all);
	free(w->hess);
	free(w->hess2);
	free(w->sum_abs);
	free(w->sum_abs2);
	free(w->amax);
	free(w->sc);
	free(w->hess_all);
	free(w->gx);
	free(w->ex);
	free(w->eg);
	free(w->amax_e);
	free(w->sel);
	free(w->hit);
	for (k = 0; k < TQ_SITES_PER_LAYER; k++)
		free(w->site_sq[k]);
}
/* Replaces block li's quantized weights by the state's (resume). */
static tq_status
qz_restore_block(qz_ctx *z, int64_t li, tq_layer_weights *lw, tq_error *err)
{
	size_t k, base = tq_model__block_first(z->m, li);

	for (k = 0; k < tq_layer__n_linears(lw); k++) {
		tq_qlayer *ql = &z->s->layers[base + k];
		const tq_tensor **slot = tq_layer__slot(lw, k);
		float *w;
		const tq_tensor *t;

		if (ql->cfg.method == TQ_METHOD_FLOAT)
			continue;
		w = malloc((size_t)(ql->res.rows * ql->res.cols) * sizeof(float));
		if (w == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		tq_qtensor_dequant(&ql->qt, w);
		if ((t = tq_owned__add(&z->owned, *slot, w)) == NULL) {
			free(w);
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		}
		*slot = t;
	}
	return tq_qblock__apply(&z->owned, &z->s->blocks[li], lw, NULL, NULL,
	    err);
}

/* Block li's output from its input, its codes saved before (resume). */
static tq_status
qz_replay(qz_ctx *z, qz_work *w, int64_t li, tq_error *err)
{
	int64_t S = z->calib != NULL ? z->calib->n_samples : 0, s;
	int64_t L = S > 0 ? z->calib->seqlen : 0, H = z->m->cfg.hidden_size;
	tq_layer_weights lw = z->m->layers[li];
	double t0 = qz_now();
	tq_status st;

	/* one pass: the float block makes the next block's input */
	if (!z->one_pass && (st = qz_restore_block(z, li, &lw, err)) != TQ_OK)
		return st;
	for (s = 0; s < S; s += w->nb)
		if ((st = tq_fwd_block(w->f, &lw, (int)li, w->x + s * L * H,
		    (S - s < w->nb ? S - s : w->nb) * L, NULL, err)) != TQ_OK)
			return st;
	z->n_done += (int64_t)tq_layer__n_linears(&lw);
	tq_owned__free(&z->owned);
	z->t_fwd += qz_now() - t0;
	return TQ_OK;
}

/* See qstate.h. */
tq_status
tq_quantize__run(tq_job *j, const tq_model *m, const tq_calib *calib,
    tq_qstate *state, int flags, tq_block_done_fn done, void *ud,
    tq_error *err)
{
	const tq_model_config *c = &m->cfg;
	int64_t H = c->hidden_size, F = c->intermediate_size;
	int64_t qd = c->n_heads * c->head_dim, wide, S, L, s, li;
	size_t k;
	int need_h2 = 0;
	double t0;
	qz_ctx z;
	qz_work w;
	tq_status st;

	memset(&z, 0, sizeof(z));
	memset(&w, 0, sizeof(w));
	z.m = m;
	z.calib = calib;
	z.job = j;
	z.s = state;
	z.one_pass = qz_one_pass(&z, (flags & TQ_QUANTIZE_SEQUENTIAL) != 0);
	if (tq_model__moe(m)) {
		/*
		 * AWQ's and SmoothQuant's gate/up scales would fold into the
		 * MLP norm, whose output the router and every other expert
		 * read too; across up and down they would be per expert.
		 * Neither is written: the awq and smoothquant methods are
		 * refused on an expert; awq_scales, an option of gptq and
		 * rtn, leaves the experts unscaled (the attention before
		 * them still takes its scales) and the log says so.
		 */
		size_t i;
		size_t kk;
		int unscaled = 0;

		for (i = 0; i < state->n; i++) {
			const tq_layer_cfg *lc = &state->layers[i].cfg;
			int ex = -1;
			int64_t bl = tq_model__linear_block(m, i, &kk);

			if (bl >= 0)
				tq_layer__kind(&m->layers[bl], kk, &ex);
			if (ex >= 0 && (lc->method == TQ_METHOD_AWQ ||
			    lc->method == TQ_METHOD_SMOOTHQUANT))
				return tq_fail(err, TQ_EUNSUPPORTED,
				    "%s: %s on an expert is not implemented "
				    "(its input scales would fold into the MLP "
				    "norm the router and the other experts "
				    "read); use gptq or rtn",
				    state->layers[i].res.name,
				    tq_method_name(lc->method));
			unscaled += ex >= 0 && tq_layer_awq_scaled(lc);
		}
		if (unscaled > 0)
			tq_job__log(j, "awq_scales: the %d expert linears take "
			    "no AWQ scales (they would fold into the MLP norm "
			    "the router reads); attention takes them", unscaled);
	}
	if (calib == NULL) {
		/* Without calibration only data-free layers can be done. */
		size_t i;

		for (i = 0; i < state->n; i++) {
			const tq_layer_cfg *lc = &state->layers[i].cfg;

			if (lc->method != TQ_METHOD_FLOAT &&
			    lc->method != TQ_METHOD_RTN)
				return tq_fail(err, TQ_EINVAL,
				    "%s: method %s needs calibration text",
				    state->layers[i].res.name,
				    tq_method_name(lc->method));
			if (tq_layer_awq_scaled(lc))
				return tq_fail(err, TQ_EINVAL, "%s: AWQ's scales "
				    "(awq_scales) need calibration text",
				    state->layers[i].res.name);
		}
	}

	S = calib != NULL ? calib->n_samples : 0;
	L = calib != NULL ? calib->seqlen : 1;
	wide = H > qd ? H : qd;
	wide = wide > F ? wide : F;
	wide = wide > c->moe_inter ? wide : c->moe_inter;
	if (tq_model__moe(m) && S > 0) {
		int64_t Fe = c->moe_inter, K = c->n_experts_used;

		w.hess_all = malloc((size_t)(H * H) * sizeof(float));
		w.gx = malloc((size_t)(L * H) * sizeof(float));
		w.ex = malloc((size_t)(L * H) * sizeof(float));
		w.eg = malloc((size_t)(L * Fe) * sizeof(float));
		w.amax_e = malloc((size_t)Fe * sizeof(float));
		w.sel = malloc((size_t)(S * L * K) * sizeof(int));
		w.hit = malloc((size_t)L);
		if (w.hess_all == NULL || w.gx == NULL || w.ex == NULL ||
		    w.eg == NULL ||
		    w.amax_e == NULL || w.sel == NULL || w.hit == NULL) {
			st = tq_fail(err, TQ_ENOMEM, "out of memory for the "
			    "experts of %lld samples of %lld tokens",
			    (long long)S, (long long)L);
			goto out;
		}
	}
	w.nb = z.one_pass ? qz_batch(m, S, L) : 1;
	w.L = L;
	if ((st = tq_fwd_new(m, w.nb * L, &w.f, err)) != TQ_OK)
		goto out;
	/* each sample by itself: its own positions and attention */
	if (w.nb > 1)
		tq_fwd_seq(w.f, L);
	w.x = malloc((size_t)((S > 0 ? S : 1) * L * H) * sizeof(float));
	w.att = malloc((size_t)((S > 0 ? S : 1) * L * qd) * sizeof(float));
	w.xn = malloc((size_t)(L * H) * sizeof(float));
	w.g = malloc((size_t)(L * F) * sizeof(float));
	/* optional: without it, E recomputes gate and up */
	if (!z.one_pass && !tq_model__moe(m) && S > 0 &&
	    !(flags & TQ_QUANTIZE_RECOMPUTE) &&
	    (double)(S * L * F) * sizeof(float) <= QZ_KEEP_G)
		w.g_all = malloc((size_t)(S * L * F) * sizeof(float));
	w.hess = malloc((size_t)(wide * wide) * sizeof(float));
	w.sum_abs = malloc((size_t)wide * sizeof(double));
	w.sum_abs2 = malloc((size_t)wide * sizeof(double));
	w.amax = malloc((size_t)wide * sizeof(float));
	w.sc = malloc((size_t)wide * sizeof(float));
	for (k = 0; k < state->n; k++)
		need_h2 |= tq_layer_awq_scaled(&state->layers[k].cfg);
	for (k = 0; z.one_pass && k < TQ_SITES_PER_LAYER; k++)
		if ((w.site_sq[k] = malloc((size_t)tq_fwd_site_width(m,
		    (int)k) * sizeof(double))) == NULL) {
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
			goto out;
		}
	if (need_h2) {
		int64_t w2 = qd > F ? qd : F;

		w.hess2 = malloc((size_t)(w2 * w2) * sizeof(float));
	}
	if (w.x == NULL || w.att == NULL || w.xn == NULL || w.g == NULL ||
	    w.hess == NULL || w.sum_abs == NULL ||
	    w.sum_abs2 == NULL || w.amax == NULL || w.sc == NULL ||
	    (need_h2 && w.hess2 == NULL)) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory for %lld samples of "
		    "%lld tokens", (long long)S, (long long)L);
		goto out;
	}
	tq_job__stage(j, "quantize");
	if (z.one_pass)
		tq_job__log(j, "one pass: every layer is RTN-class, so their "
		    "statistics come from one pass of the float model (no "
		    "X^T X, no rel. err; --sequential for the block-by-block "
		    "pipeline)");
	for (s = 0; s < S; s++)
		if ((st = tq_fwd_embed(w.f, calib->ids + s * L, L,
		    w.x + s * L * H, err)) != TQ_OK)
			goto out;
	for (li = 0; li < c->n_layers; li++) {
		if (li < state->blocks_done) {
			/* Finished before: replay it with its saved weights. */
			if ((st = qz_replay(&z, &w, li, err)) != TQ_OK)
				goto out;
			continue;
		}
		if (S == 0) {
			/* RTN without data: no inputs to carry along. */
			tq_layer_weights lw = m->layers[li];

			if ((st = qz_group(&z, &lw, li, 0,
			    tq_layer__n_linears(&lw), NULL, NULL, 0, err)) != TQ_OK)
				goto out;
		} else {
			/* the block's time less its rounding: its passes */
			double tq0 = z.t_quant;

			t0 = qz_now();
			if ((st = z.one_pass ? qz_block_one_pass(&z, &w, li,
			    err) : qz_block(&z, &w, li, err)) != TQ_OK)
				goto out;
			z.t_fwd += qz_now() - t0 - (z.t_quant - tq0);
		}
		state->blocks_done = li + 1;
		t0 = qz_now();
		if (done != NULL && (st = done(ud, state, li, err)) != TQ_OK)
			goto out;
		z.t_save += qz_now() - t0;
		tq_job__log(j, "block %lld of %lld done", (long long)li + 1,
		    (long long)c->n_layers);
		/*
		 * The block's float copies (dequantized, rescaled) have done
		 * their work: the state holds its codes.  Memory stays at one
		 * block's weights, not the model's.
		 */
		tq_owned__free(&z.owned);
	}
	if ((st = qz_head(&z, &w, err)) != TQ_OK)
		goto out;
	state->complete = 1;
	t0 = qz_now();
	if (done != NULL && (st = done(ud, state, -1, err)) != TQ_OK)
		goto out;
	z.t_save += qz_now() - t0;
	tq_job__log(j, "time: calibration passes %.1f s (forward and "
	    "statistics), quantizing %.1f s, saving %.1f s", z.t_fwd,
	    z.t_quant, z.t_save);
	st = TQ_OK;
out:
	qz_work_free(&w);
	tq_owned__free(&z.owned);
	return st;
}
