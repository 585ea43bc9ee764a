/*
 * test_quantize.c: the quantization pipeline on the demo model: GPTQ's
 * output error is at most RTN's on every layer and AWQ's on at least 90%
 * of them (W4 g128, W3 g128); AWQ's folded scales leave the model as it
 * was (at 8 bits it evaluates as the float model does); SmoothQuant W8A8
 * quantizes activations; results are reproducible, the state (with the
 * folded norms) round-trips through its directory, the quantized model
 * evaluates, a directory takes one run at a time and a complete state
 * is replaced only with force, and cancel returns within a second.  With
 * quantized activations (FP8 static), each site's scale is exactly what
 * evaluation of the quantized model sees there: the pipeline applies the
 * activation quantization of the sites before, as evaluation does.  RTN
 * with the importance matrix takes one pass of the float model: every
 * layer equals RTN of the float weight weighted by calibrate's mean x^2
 * (the comparisons of errors above use the block-by-block pipeline,
 * TQ_QUANTIZE_SEQUENTIAL, which RTN takes only when asked).
 */
#include "config.h"

#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qstate.h"
#include "quant.h"
#include "tap.h"
#include "tq.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs a quantization job to its end (cancelling at the first layer when
 * asked); returns the state or NULL. */
static tq_qstate *
run_act(const tq_model *m, const char *method, const char *scheme,
    int act_bits, int imatrix, int flags, const tq_calib *c, const char *dir,
    int cancel, double *cancel_secs)
{
	tq_layer_cfg cfg;
	tq_scheme sch;
	tq_method meth;
	tq_plan *plan = NULL;
	tq_job *j = NULL;
	tq_qstate *s = NULL;
	tq_error err;
	tq_event ev;
	struct pollfd p;
	double t0 = 0.0;
	int done = 0;

	if (tq_method_parse(method, &meth, &err) != TQ_OK ||
	    tq_scheme_parse(scheme, &sch, &err) != TQ_OK) {
		tap_diag("%s", err.msg);
		return NULL;
	}
	tq_layer_cfg_init(&cfg, meth, &sch);
	cfg.act_bits = act_bits;
	cfg.use_imatrix = imatrix;
	if (tq_plan_new(&cfg, &plan, &err) != TQ_OK ||
	    tq_job_quantize(m, plan, c, dir, flags, &j, &err) != TQ_OK) {
		tap_diag("%s", err.msg);
		tq_plan_free(plan);
		return NULL;
	}
	p.fd = tq_job_fd(j);
	p.events = POLLIN;
	while (!done && poll(&p, 1, 10000) > 0)
		while (tq_job_poll(j, &ev)) {
			if (cancel && ev.kind == TQ_EVENT_LAYER && t0 == 0.0) {
				t0 = now();
				tq_job_cancel(j);
			}
			if (ev.kind >= TQ_EVENT_DONE) {
				if (cancel)
					*cancel_secs = now() - t0;
				done = ev.kind == TQ_EVENT_DONE ? 1 : 2;
			}
		}
	if (tq_job_wait(j, &err) == TQ_OK)
		s = tq_job_take_state(j);
	else if (!cancel)
		tap_diag("%s %s: %s", method, scheme, err.msg);
	tq_job_free(j);
	tq_plan_free(plan);
	return s;
}

static tq_qstate *
run(const tq_model *m, const char *method, const char *scheme,
    const tq_calib *c, const char *dir, int cancel, double *cancel_secs)
{
	return run_act(m, method, scheme, 16, 0, TQ_QUANTIZE_SEQUENTIAL, c, dir,
	    cancel, cancel_secs);
}

/* The largest |x| of every site's input: [layer][site], the head last. */
typedef struct site_amax {
	int64_t n_layers;
	double *amax;		/* [n_layers + 1, TQ_SITES_PER_LAYER] */
} site_amax;

static int
amax_hook(void *ud, int layer, tq_linear which, const float *x, int64_t n,
    int64_t in)
{
	site_amax *a = ud;
	int site = which == TQ_LINEAR_Q ? TQ_SITE_QKV : which == TQ_LINEAR_O ?
	    TQ_SITE_O : which == TQ_LINEAR_GATE ? TQ_SITE_GATE_UP :
	    which == TQ_LINEAR_DOWN ? TQ_SITE_DOWN : 0;
	double *m = &a->amax[(layer < 0 ? a->n_layers : layer) *
	    TQ_SITES_PER_LAYER + site];
	int64_t i;

	for (i = 0; i < n * in; i++)
		if (fabs((double)x[i]) > *m)
			*m = fabs((double)x[i]);
	return 0;
}

/*
 * FP8 weights with FP8 static activations: the scale of every site is
 * its largest calibration |x| onto 448, where x is what evaluating the
 * quantized model on the calibration samples feeds that site.
 */
static void
act_checks(const tq_model *m, const tq_calib *c)
{
	tq_qstate *s = run_act(m, "rtn", "fp8", 8, 0, 0, c, NULL, 0, NULL);
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	int64_t L = tq_calib_seqlen(c), k, li;
	site_amax a;
	tq_model *qm = NULL;
	tq_error err;
	int bad = 0, n_static = 0;

	if (s == NULL || tq_model_apply_state(m, s, &qm, &err) != TQ_OK) {
		tap_ok(0, "FP8 static: the state runs and applies");
		tq_state_free(s);
		return;
	}
	a.n_layers = s->n_layers;
	a.amax = calloc((size_t)(a.n_layers + 1) * TQ_SITES_PER_LAYER,
	    sizeof(double));
	o.act_hook = amax_hook;
	o.act_ud = &a;
	for (k = 0; a.amax != NULL && k < tq_calib_n_samples(c); k++)
		if (tq_forward(qm, tq_calib_ids(c) + k * L, L, &o, NULL,
		    &err) != TQ_OK) {
			tap_diag("%s", err.msg);
			bad++;
		}
	for (li = 0; a.amax != NULL && li <= s->n_layers; li++)
		for (k = 0; k < (li < s->n_layers ? TQ_SITES_PER_LAYER : 1);
		    k++) {
			const tq_actq *q = &s->blocks[li].act[k];
			float want = (float)(a.amax[li * TQ_SITES_PER_LAYER + k] /
			    448.0);

			if (q->mode != TQ_ACTQ_FP8_STATIC)
				continue;
			n_static++;
			if (q->scale != want) {
				if (bad++ < 4)
					tap_diag("block %lld site %lld: scale "
					    "%.9g, evaluation's inputs give %.9g",
					    (long long)li, (long long)k,
					    (double)q->scale, (double)want);
			}
		}
	tap_ok(a.amax != NULL && bad == 0 &&
	    n_static >= TQ_SITES_PER_LAYER * s->n_layers,
	    "FP8 static: all %d activation scales are evaluation's inputs' "
	    "(%d differ)", n_static, bad);
	free(a.amax);
	tq_model_close(qm);
	tq_state_free(s);
}

/*
 * RTN W4 g128 with the importance matrix, not asked to be sequential:
 * one pass, so every layer (the blocks' and lm_head) is RTN of the
 * model's float weight weighted by the mean x^2 that calibrate gathers
 * on the same samples from the float model, bit for bit, with no
 * rel_err; GPTQ's run (g4) stays block by block, with one.
 */
static void
one_pass_checks(const tq_model *m, const char *text, const tq_calib_opts *co,
    const tq_qstate *g4)
{
	tq_qstate *s;
	tq_calib *fc = NULL;
	tq_error err;
	size_t i, n, checked = 0, want = 0;
	int bad = 0, nan_err = 1;

	if (tq_calib_sample(m, text, co, &fc, &err) != TQ_OK ||
	    tq_calib_run(fc, m, NULL, NULL, &err) != TQ_OK) {
		tap_ok(0, "one pass: calibrate the float model: %s", err.msg);
		tq_calib_free(fc);
		return;
	}
	s = run_act(m, "rtn", "int4-g128", 16, 1, 0, fc, NULL, 0, NULL);
	n = s != NULL ? s->n : 0;
	for (i = 0; i + 1 < n; i++) {
		const tq_qlayer *ql = &s->layers[i];
		size_t k = 0;
		int64_t li = tq_model__linear_block(m, i, &k);
		tq_layer_weights lw;
		const tq_tensor *t;
		const tq_site_stats *st;
		int64_t R = ql->res.rows, C = ql->res.cols;
		float *w, *got;
		tq_qtensor qt;

		if (ql->cfg.method == TQ_METHOD_FLOAT)
			continue;	/* lm_head, unless the plan says */
		want++;
		w = malloc((size_t)(R * C) * sizeof(float));
		got = malloc((size_t)(R * C) * sizeof(float));
		if (li >= 0) {
			lw = m->layers[li];
			t = *tq_layer__slot(&lw, k);
			st = tq_calib_find(fc, (int)li, ql->res.which);
		} else {
			t = m->lm_head;
			st = tq_calib_find(fc, -1, TQ_LINEAR_LM_HEAD);
		}
		memset(&qt, 0, sizeof(qt));
		if (w == NULL || got == NULL || st == NULL ||
		    tq_qtensor_init(&qt, &ql->cfg.scheme, R, C, &err) != TQ_OK) {
			tap_diag("%s: no statistics or grid", ql->res.name);
			bad++;
		} else {
			tq_tensor_to_f32(t, 0, R * C, w);
			tq_quant_rtn(&qt, w, st->mean_sq, ql->cfg.clip_search);
			tq_qtensor_dequant(&qt, w);
			tq_qtensor_dequant(&ql->qt, got);
			if (memcmp(w, got, (size_t)(R * C) * sizeof(float)) != 0 &&
			    bad++ < 4)
				tap_diag("%s: not RTN with calibrate's imatrix",
				    ql->res.name);
			nan_err &= isnan(ql->res.rel_err) &&
			    ql->res.tokens == tq_calib_n_samples(fc) *
			    tq_calib_seqlen(fc);
			checked++;
		}
		tq_qtensor_done(&qt);
		free(w);
		free(got);
	}
	tap_ok(s != NULL && checked == want && want > 0 && bad == 0,
	    "one pass: all %zu layers are RTN of the float weights with "
	    "calibrate's importance matrix (%d differ)", checked, bad);
	tap_ok(s != NULL && nan_err,
	    "one pass: no X^T X, so no rel_err; every layer counts its tokens");
	for (i = 0, bad = 0; i + 2 < tq_state_n_results(g4); i++)
		bad += !isfinite(tq_state_result(g4, i)->rel_err);
	tap_ok(bad == 0, "GPTQ stays block by block: every block linear has "
	    "its rel_err");
	tq_state_free(s);
	tq_calib_free(fc);
}

/* Equal results, NaN (a float layer's error) equal to NaN. */
static int
same_err(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

/* Layers (of the blocks) where method's error exceeds RTN's. */
static int
compare(const tq_qstate *g, const tq_qstate *r, const char *scheme,
    const char *method)
{
	size_t i, n = tq_state_n_results(g), worse = 0, layers = 0;
	double sg = 0.0, sr = 0.0;

	for (i = 0; i < n; i++) {
		const tq_layer_result *a = tq_state_result(g, i);
		const tq_layer_result *b = tq_state_result(r, i);

		if (a->layer < 0)
			continue;
		layers++;
		sg += a->rel_err;
		sr += b->rel_err;
		if (!(a->rel_err <= b->rel_err)) {
			worse++;
			tap_diag("%s %s: %s %.4g > rtn %.4g", scheme, a->name,
			    method, a->rel_err, b->rel_err);
		}
	}
	tap_diag("%s: mean relative output error %s %.4g, rtn %.4g over "
	    "%zu layers", scheme, method, sg / (double)layers,
	    sr / (double)layers, layers);
	return (int)worse;
}

/* Perplexity of m with state s applied (s NULL: m itself), 40k chars. */
static double
ppl_of(const tq_model *m, const tq_qstate *s, const char *text)
{
	tq_ppl_result r;
	tq_model *qm = NULL;
	tq_error err;
	int32_t *ids = NULL;
	size_t n = 0, len;
	char *buf = NULL;
	double p = NAN;

	if (tq_read_text(text, &buf, &len, &err) == TQ_OK &&
	    tq_tokenizer_encode(tq_model_tokenizer(m), buf, len > 40000 ?
	    40000 : len, 0, &ids, &n, &err) == TQ_OK &&
	    (s == NULL || tq_model_apply_state(m, s, &qm, &err) == TQ_OK) &&
	    tq_eval_perplexity(qm != NULL ? qm : m, ids, (int64_t)n, 256, NULL,
	    NULL, &r, &err) == TQ_OK)
		p = r.ppl;
	else
		tap_diag("%s", err.msg);
	tq_model_close(qm);
	tq_ids_free(ids);
	tq_string_free(buf);
	return p;
}

/* AWQ against RTN, AWQ's folding, SmoothQuant's activations. */
static void
awq_checks(const tq_model *m, const tq_calib *c, const tq_qstate *r4,
    const tq_qstate *r3, const char *text)
{
	char dir[] = "/tmp/tq-awq-XXXXXX";
	tq_qstate *a4 = run(m, "awq", "int4-g128", c, NULL, 0, NULL);
	tq_qstate *a3 = run(m, "awq", "int3-g128", c, mkdtemp(dir), 0, NULL);
	tq_qstate *a8 = run(m, "awq", "int8-g32", c, NULL, 0, NULL);
	tq_qstate *sq = run(m, "smoothquant", "int8-sym", c, NULL, 0, NULL);
	tq_qstate *w8 = run(m, "rtn", "int8-sym", c, NULL, 0, NULL);
	tq_qstate *back = NULL;
	tq_error err;
	double fp, p8, psq, pw8, pa3, pback;
	size_t layers = (size_t)tq_model_get_config(m)->n_layers * 7;

	tap_ok(a4 && a3 && a8 && sq && w8, "AWQ and SmoothQuant run");
	if (!(a4 && a3 && a8 && sq && w8))
		goto out;
	tap_ok(compare(a4, r4, "int4-g128", "awq") * 10 <= (int)layers,
	    "W4 g128: AWQ's output error <= RTN's on at least 90%% of layers");
	tap_ok(compare(a3, r3, "int3-g128", "awq") * 10 <= (int)layers,
	    "W3 g128: AWQ's output error <= RTN's on at least 90%% of layers");
	fp = ppl_of(m, NULL, text);
	p8 = ppl_of(m, a8, text);
	tap_ok(fabs(p8 / fp - 1.0) < 2e-3,
	    "AWQ's scales leave the model as it was: at 8 bits g32 perplexity "
	    "%.4f, float %.4f", p8, fp);
	psq = ppl_of(m, sq, text);
	pw8 = ppl_of(m, w8, text);
	tap_ok(psq != pw8 && fabs(psq / fp - 1.0) < 1e-2,
	    "SmoothQuant W8A8 perplexity %.4f (int8 activations; weights "
	    "alone %.4f; float %.4f)", psq, pw8, fp);
	if (tq_state_load(dir, m, &back, &err) != TQ_OK)
		tap_diag("%s", err.msg);
	tap_ok(back != NULL, "an AWQ state loads from its directory");
	pa3 = ppl_of(m, a3, text);
	pback = back != NULL ? ppl_of(m, back, text) : NAN;
	tap_ok(pa3 == pback, "with its folded norms: perplexity %.6f as run, "
	    "%.6f loaded", pa3, pback);
out:
	tq_state_free(a4);
	tq_state_free(a3);
	tq_state_free(a8);
	tq_state_free(sq);
	tq_state_free(w8);
	tq_state_free(back);
	tap_rmdir(dir);
}

/*
 * One run per directory (dir holds a complete state): refused without
 * force, and a second job is refused while the first holds the lock.
 */
static void
lock_checks(const tq_model *m, const char *dir)
{
	tq_layer_cfg cfg;
	tq_scheme sch;
	tq_plan *plan = NULL;
	tq_job *a = NULL, *b = NULL;
	tq_error err;
	tq_status st;

	if (tq_scheme_parse("int8", &sch, &err) != TQ_OK)
		return;
	tq_layer_cfg_init(&cfg, TQ_METHOD_RTN, &sch);
	if (tq_plan_new(&cfg, &plan, &err) != TQ_OK)
		return;
	st = tq_job_quantize(m, plan, NULL, dir, 0, &a, &err);
	tap_ok(st != TQ_OK && strstr(err.msg, "already holds a complete") != NULL,
	    "a complete state is not overwritten without force: %s",
	    st != TQ_OK ? err.msg : "started");
	tq_job_free(a);
	a = NULL;
	st = tq_job_quantize(m, plan, NULL, dir, TQ_QUANTIZE_FORCE, &a, &err);
	tap_ok(st == TQ_OK, "with force it is");
	st = tq_job_quantize(m, plan, NULL, dir, TQ_QUANTIZE_FORCE, &b, &err);
	tap_ok(st != TQ_OK && strstr(err.msg, "another quantize run holds") !=
	    NULL, "a second job on the directory is refused: %s",
	    st != TQ_OK ? err.msg : "started");
	tq_job_free(b);
	b = NULL;
	tap_ok(a != NULL && tq_job_wait(a, &err) == TQ_OK, "the first finishes");
	tq_job_free(a);
	st = tq_job_quantize(m, plan, NULL, dir, TQ_QUANTIZE_FORCE, &b, &err);
	tap_ok(st == TQ_OK && tq_job_wait(b, &err) == TQ_OK,
	    "once it is freed the lock is free");
	tq_job_free(b);
	tq_plan_free(plan);
}

int
main(void)
{
	const char *top = getenv("top_srcdir");
	const char *data = getenv("TQ_SHARED_DATA");
	char demo[1024], text[1024], dir[] = "/tmp/tq-quant-XXXXXX";
	tq_calib_opts co = TQ_CALIB_OPTS_INIT;
	tq_qstate *g4, *r4, *g3, *r3, *again, *loaded = NULL;
	tq_calib *c;
	tq_model *m, *qm = NULL;
	tq_error err;
	double secs = -1.0;
	tq_status st;
	size_t i;
	int same = 1;

	snprintf(demo, sizeof(demo), "%s/assets/demo", top ? top : ".");
	snprintf(text, sizeof(text), "%s/wikitext2-valid.txt",
	    data ? data : "../shared/data");
	co.n_samples = 32;
	co.seqlen = 256;
	if (mkdtemp(dir) == NULL || tq_model_open(demo, &m, &err) != TQ_OK ||
	    tq_calib_sample(m, text, &co, &c, &err) != TQ_OK) {
		tap_ok(0, "setup: %s", err.msg);
		return tap_done();
	}
	g4 = run(m, "gptq", "int4-g128", c, dir, 0, NULL);
	r4 = run(m, "rtn", "int4-g128", c, NULL, 0, NULL);
	g3 = run(m, "gptq", "int3-g128", c, NULL, 0, NULL);
	r3 = run(m, "rtn", "int3-g128", c, NULL, 0, NULL);
	tap_ok(g4 && r4 && g3 && r3, "GPTQ and RTN at W4 g128 and W3 g128 run");
	if (!(g4 && r4 && g3 && r3))
		return tap_done();
	tap_ok(compare(g4, r4, "int4-g128", "gptq") == 0,
	    "W4 g128: GPTQ's output error <= RTN's on every layer");
	tap_ok(compare(g3, r3, "int3-g128", "gptq") == 0,
	    "W3 g128: GPTQ's output error <= RTN's on every layer");
	awq_checks(m, c, r4, r3, text);
	act_checks(m, c);
	one_pass_checks(m, text, &co, g4);

	/* again, with the MLP's products recomputed rather than kept */
	again = run_act(m, "gptq", "int4-g128", 16, 0, TQ_QUANTIZE_SEQUENTIAL |
	    TQ_QUANTIZE_RECOMPUTE, c, NULL, 0, NULL);
	for (i = 0; again != NULL && i < tq_state_n_results(g4); i++) {
		const tq_qtensor *a = &g4->layers[i].qt, *b = &again->layers[i].qt;

		same &= same_err(tq_state_result(g4, i)->rel_err,
		    tq_state_result(again, i)->rel_err);
		same &= (a->codes == NULL) == (b->codes == NULL);
		if (a->codes != NULL && b->codes != NULL)
			same &= memcmp(a->codes, b->codes, (size_t)(a->rows *
			    a->cols)) == 0 && memcmp(a->params, b->params,
			    (size_t)(a->rows * a->nblocks) *
			    sizeof(tq_qparams)) == 0;
	}
	tap_ok(again != NULL && same, "the same inputs give the same result, "
	    "code for code, also with the MLP's products recomputed "
	    "(TQ_QUANTIZE_RECOMPUTE)");
	tq_state_free(again);

	st = tq_state_load(dir, m, &loaded, &err);
	tap_ok(st == TQ_OK, "the saved state loads: %s",
	    st == TQ_OK ? "ok" : err.msg);
	for (i = 0, same = loaded != NULL; loaded && i < tq_state_n_results(g4); i++)
		if (!same_err(tq_state_result(g4, i)->rel_err,
		    tq_state_result(loaded, i)->rel_err)) {
			tap_diag("%s: %.17g saved, %.17g loaded",
			    tq_state_result(g4, i)->name,
			    tq_state_result(g4, i)->rel_err,
			    tq_state_result(loaded, i)->rel_err);
			same = 0;
		}
	tap_ok(same, "the loaded report equals the run's");
	if (loaded != NULL) {
		tq_ppl_result base, q;
		int32_t *ids;
		size_t n;
		char *buf;
		size_t len;

		tq_read_text(text, &buf, &len, &err);
		tq_tokenizer_encode(tq_model_tokenizer(m), buf, len > 60000 ?
		    60000 : len, 0, &ids, &n, &err);
		tap_ok(tq_model_apply_state(m, loaded, &qm, &err) == TQ_OK,
		    "the state applies to its model");
		tq_eval_perplexity(m, ids, (int64_t)n, 256, NULL, NULL, &base,
		    &err);
		tq_eval_perplexity(qm, ids, (int64_t)n, 256, NULL, NULL, &q,
		    &err);
		tap_ok(q.ppl > base.ppl && q.ppl < base.ppl * 1.5,
		    "W4 GPTQ perplexity %.3f is a little above fp %.3f", q.ppl,
		    base.ppl);
		tq_ids_free(ids);
		tq_string_free(buf);
		tq_model_close(qm);
	}

	lock_checks(m, dir);
	tq_state_free(run(m, "gptq", "int4-g128", c, NULL, 1, &secs));
	tap_ok(secs >= 0.0 && secs < 1.0, "cancel returned in %.3f s", secs);

	tq_state_free(loaded);
	tq_state_free(g4);
	tq_state_free(r4);
	tq_state_free(g3);
	tq_state_free(r3);
	tq_calib_free(c);
	tq_model_close(m);
	tap_rmdir(dir);
	return tap_done();
}
