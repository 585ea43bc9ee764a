/*
 * test_moe.c: the mixture-of-experts fixtures (tests/data/models/mixtral
 * and qwen3_moe, made by tools/make_fixtures_2025.py, and gpt_oss, by
 * tools/make_fixtures_2026.py) as linears: every
 * expert's gate, up and down named and shaped as a linear of its own,
 * quantized by RTN per expert (saved, loaded back, applied, run), and
 * calibrated per expert: each expert's linears on the tokens the router
 * sends it (counted here again from the float model's own routing), or
 * on all of the block's tokens when it was sent fewer than a linear's
 * input width; GPTQ on those Hessians beating RTN, the counts kept in
 * the saved state, the same bytes for 1 and 3 threads, fp8 experts'
 * static activation scales from their routed inputs, AWQ on an expert
 * refused in one line and on attention beside them run; calibration's
 * per-expert counts and sums (calibrate, its importance matrix) against
 * the float routing.  Their logits against transformers are
 * test_forward's.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "model.h"
#include "qstate.h"
#include "tap.h"
#include "tq.h"

/* The ids the fixtures' reference sequence 1 is not: any 12 in range. */
static const int32_t ids[12] = { 5, 17, 200, 3, 99, 42, 7, 150, 64, 1, 250,
    31 };

/* Runs plan on m with calibration c (may be NULL), saving into dir. */
static tq_qstate *
run_plan(const tq_model *m, tq_plan *plan, const tq_calib *c,
    const char *dir, tq_error *err)
{
	tq_job *j = NULL;
	tq_qstate *s = NULL;

	if (tq_job_quantize(m, plan, c, dir, 0, &j, err) == TQ_OK &&
	    tq_job_wait(j, err) == TQ_OK)
		s = tq_job_take_state(j);
	tq_job_free(j);
	tq_plan_free(plan);
	return s;
}

/* Runs method on every block linear of m (lm_head, embeddings float). */
static tq_qstate *
run(const tq_model *m, const char *method, const char *scheme,
    const tq_calib *c, const char *dir, tq_error *err)
{
	tq_layer_cfg cfg;
	tq_scheme sch;
	tq_method meth;
	tq_plan *plan = NULL;

	if (tq_method_parse(method, &meth, err) != TQ_OK ||
	    tq_scheme_parse(scheme, &sch, err) != TQ_OK)
		return NULL;
	tq_layer_cfg_init(&cfg, meth, &sch);
	if (tq_plan_new(&cfg, &plan, err) != TQ_OK)
		return NULL;
	return run_plan(m, plan, c, dir, err);
}

/*
 * Runs method on the experts only (attention float); with clip 1, RTN's
 * clip search, and 2 weighs its error by the importance matrix.
 */
static tq_qstate *
run_experts(const tq_model *m, const char *method, int clip,
    const tq_calib *c, tq_error *err)
{
	char json[512];
	tq_plan *plan = NULL;

	snprintf(json, sizeof(json), "{\"default\": {\"method\": \"float\"}, "
	    "\"rules\": [{\"match\": \"experts\\\\.\", \"method\": \"%s\", "
	    "\"scheme\": \"int3-g32\", \"clip_search\": %s, \"imatrix\": %s}]}",
	    method, clip > 0 ? "true" : "false", clip > 1 ? "true" : "false");
	if (tq_plan_parse(json, strlen(json), "experts plan", &plan, err) !=
	    TQ_OK)
		return NULL;
	return run_plan(m, plan, c, NULL, err);
}

/*
 * Calibration of S samples of L token ids drawn from [0, V) by a fixed
 * LCG: the fixtures have no tokenizer to read text with.
 */
static tq_calib *
make_calib(int64_t S, int64_t L, int64_t V)
{
	tq_calib *c = calloc(1, sizeof(*c));
	uint64_t x = 12345;
	int64_t i;

	if (c == NULL || (c->ids = malloc((size_t)(S * L) *
	    sizeof(int32_t))) == NULL) {
		free(c);
		return NULL;
	}
	c->n_samples = S;
	c->seqlen = L;
	for (i = 0; i < S * L; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		c->ids[i] = (int32_t)((x >> 33) % (uint64_t)V);
	}
	return c;
}

/*
 * Expert e's gated product at row j of block li from its gate and up
 * matmuls g and u: silu(g) u, or gpt_oss's biases and clamped SwiGLU
 * (up + 1) g' sigmoid(1.702 g'), g' = min(g, limit), up in +-limit.
 */
static float
gated(const tq_model *m, int64_t li, int e, int64_t j, double g, double u)
{
	const tq_layer_weights *l = &m->layers[li];
	float lim = (float)tq_model_get_config(m)->swiglu_limit, gf, uf, b;

	if (l->expert_b[e][0] == NULL) {
		gf = (float)g;
		return gf / (1.0f + expf(-gf)) * (float)u;
	}
	tq_tensor_to_f32(l->expert_b[e][0], j, 1, &b);
	gf = (float)g + b;
	tq_tensor_to_f32(l->expert_b[e][1], j, 1, &b);
	uf = (float)u + b;
	gf = gf > lim ? lim : gf;
	uf = uf > lim ? lim : uf < -lim ? -lim : uf;
	return (uf + 1.0f) * (gf / (1.0f + expf(-(gf * 1.702f))));
}

/* The routing of block `layer` seen through the activation hook. */
typedef struct route_ctx {
	const tq_model *m;
	int layer;
	int64_t *count;		/* [E] tokens routed to each expert */
	float *xs;		/* [N, H] the MLP norm's outputs, or NULL */
	int *sel;		/* [N, top_k] their experts (with xs) */
	int64_t seen;		/* tokens so far */
} route_ctx;

/*
 * Counts each token's top_k experts from the MLP norm's output (the
 * gate/up site, which the hook shows as TQ_LINEAR_GATE): softmax is
 * monotone, so the top_k router logits, the lower index on a tie.
 */
static int
route_hook(void *ud, int layer, tq_linear which, const float *x, int64_t n,
    int64_t in)
{
	route_ctx *r = ud;
	const tq_layer_weights *lw;
	const tq_model_config *c = tq_model_get_config(r->m);
	int64_t E, i, e, j, k;
	float *wr, *lg;
	int sel[TQ_MAX_EXPERTS];

	if (layer != r->layer || which != TQ_LINEAR_GATE)
		return 0;
	lw = &r->m->layers[layer];
	E = lw->n_experts;
	wr = malloc((size_t)(E * in) * sizeof(float));
	lg = malloc((size_t)E * sizeof(float));
	if (wr == NULL || lg == NULL) {
		free(wr);
		free(lg);
		return 1;
	}
	tq_tensor_to_f32(lw->router, 0, E * in, wr);
	for (i = 0; i < n; i++) {
		for (e = 0; e < E; e++) {
			double d = 0.0;
			float b = 0.0f;

			for (j = 0; j < in; j++)
				d += (double)x[i * in + j] * wr[e * in + j];
			/* gpt_oss's router has a bias */
			if (lw->router_b != NULL)
				tq_tensor_to_f32(lw->router_b, e, 1, &b);
			lg[e] = (float)d + b;
		}
		for (k = 0; k < c->n_experts_used; k++) {
			int best = -1, t;

			for (e = 0; e < E; e++) {
				int taken = 0;

				for (t = 0; t < k; t++)
					taken |= sel[t] == (int)e;
				if (!taken && (best < 0 || lg[e] > lg[best]))
					best = (int)e;
			}
			sel[k] = best;
			r->count[best]++;
			if (r->sel != NULL)
				r->sel[(r->seen + i) * c->n_experts_used + k] =
				    best;
		}
	}
	if (r->xs != NULL)
		memcpy(r->xs + r->seen * in, x, (size_t)(n * in) * sizeof(float));
	r->seen += n;
	free(wr);
	free(lg);
	return 0;
}

/* max |a - b| over n, and max |b| into *scale */
static double
max_diff(const float *a, const float *b, size_t n, double *scale)
{
	double d = 0.0;
	size_t i;

	*scale = 0.0;
	for (i = 0; i < n; i++) {
		if (fabs((double)a[i] - b[i]) > d)
			d = fabs((double)a[i] - b[i]);
		if (fabs((double)b[i]) > *scale)
			*scale = fabs((double)b[i]);
	}
	return d;
}

/* 1 when every quantized linear of a and b dequantizes to the same bytes */
static int
same_weights(const tq_qstate *a, const tq_qstate *b)
{
	size_t i;
	int same = a->n == b->n;

	for (i = 0; same && i < a->n; i++) {
		int64_t n = a->layers[i].res.rows * a->layers[i].res.cols;
		float *x, *y;

		if (a->layers[i].cfg.method == TQ_METHOD_FLOAT)
			continue;
		x = malloc((size_t)n * sizeof(float));
		y = malloc((size_t)n * sizeof(float));
		if (x == NULL || y == NULL) {
			same = 0;
		} else {
			tq_qtensor_dequant(&a->layers[i].qt, x);
			tq_qtensor_dequant(&b->layers[i].qt, y);
			same = memcmp(x, y, (size_t)n * sizeof(float)) == 0;
		}
		free(x);
		free(y);
	}
	return same;
}

/*
 * Per-expert calibration: GPTQ int3 on the experts alone (attention
 * float, so the first routed block's inputs are the float model's and
 * its routing can be counted again here), against RTN on the same data.
 */
static void
check_calibrated(const tq_model *m, const char *name, const tq_calib *c)
{
	const tq_model_config *cfg = tq_model_get_config(m);
	int64_t N = c->n_samples * c->seqlen, K = cfg->n_experts_used;
	int64_t count[TQ_MAX_EXPERTS], li, first = -1, sum, k;
	char qdir[] = "/tmp/tq_moecal_XXXXXX";
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	route_ctx r = { m, 0, count, NULL, NULL, 0 };
	tq_qstate *g, *rt, *g3 = NULL, *rc = NULL, *ri = NULL, *back = NULL;
	tq_error err;
	double eg = 0.0, er = 0.0, ec = 0.0, ei = 0.0;
	size_t i, n_exp = 0;
	int ok_counts = 1, ok_tokens = 1, ok_sum = 1, ok_first = 1;
	int few = 0, enough = 0, e;

	for (li = 0; li < cfg->n_layers && first < 0; li++)
		if (m->layers[li].n_experts > 0)
			first = li;
	memset(count, 0, sizeof(count));
	r.layer = (int)first;
	o.act_hook = route_hook;
	o.act_ud = &r;
	for (k = 0; k < c->n_samples; k++)
		if (tq_forward(m, c->ids + k * c->seqlen, c->seqlen, &o, NULL,
		    &err) != TQ_OK)
			tap_diag("%s", err.msg);
	tq_set_threads(1);
	g = mkdtemp(qdir) != NULL ? run_experts(m, "gptq", 0, c, &err) : NULL;
	if (g == NULL)
		tap_diag("gptq: %s", err.msg);
	tq_set_threads(3);
	g3 = run_experts(m, "gptq", 0, c, &err);
	tq_set_threads(0);
	rt = run_experts(m, "rtn", 0, c, &err);
	rc = run_experts(m, "rtn", 1, c, &err);
	ri = run_experts(m, "rtn", 2, c, &err);
	if (g == NULL || rt == NULL || g3 == NULL || rc == NULL || ri == NULL) {
		tap_ok(0, "%s: GPTQ and RTN per expert run: %s", name, err.msg);
		goto out;
	}
	tap_ok(same_weights(g, g3), "%s: GPTQ per expert gives the same "
	    "weights on 1 and 3 threads", name);
	for (li = 0; li < cfg->n_layers; li++) {
		size_t bf = tq_model__block_first(m, li);

		sum = 0;
		for (e = 0; e < m->layers[li].n_experts; e++)
			for (k = 0; k < 3; k++) {
				const tq_layer_result *res =
				    &g->layers[bf + 4 + 3 * (size_t)e + (size_t)k].res;
				int64_t want = res->routed < res->cols ? N :
				    res->routed;

				const tq_layer_result *rr =
				    &rt->layers[bf + 4 + 3 * (size_t)e + (size_t)k].res;

				/* RTN's routing past the first block is its own */
				ok_tokens &= res->routed >= 0 &&
				    res->tokens == want && rr->tokens ==
				    (rr->routed < rr->cols ? N : rr->routed);
				few += res->tokens != res->routed;
				enough += res->tokens == res->routed;
				if (k == 0)
					sum += res->routed;
				if (li == first && k == 0 &&
				    res->routed != count[e]) {
					ok_first = 0;
					tap_diag("expert %d: routed %lld, the "
					    "float model's %lld", e,
					    (long long)res->routed,
					    (long long)count[e]);
				}
				eg += g->layers[bf + 4 + 3 * (size_t)e +
				    (size_t)k].res.rel_err;
				er += rt->layers[bf + 4 + 3 * (size_t)e +
				    (size_t)k].res.rel_err;
				ec += rc->layers[bf + 4 + 3 * (size_t)e +
				    (size_t)k].res.rel_err;
				ei += ri->layers[bf + 4 + 3 * (size_t)e +
				    (size_t)k].res.rel_err;
				n_exp++;
			}
		ok_sum &= m->layers[li].n_experts == 0 || sum == N * K;
	}
	/* Linears outside the experts have no routed count. */
	for (i = 0; i < g->n; i++) {
		size_t kk;
		int64_t bl = tq_model__linear_block(m, i, &kk);
		int ex = -1;

		if (bl >= 0)
			tq_layer__kind(&m->layers[bl], kk, &ex);
		ok_counts &= (ex >= 0) == (g->layers[i].res.routed >= 0);
	}
	tap_ok(ok_first, "%s: block %lld's routed counts are the float "
	    "model's routing", name, (long long)first);
	tap_ok(ok_sum && ok_counts, "%s: every block's experts were routed "
	    "%lld x top-%lld tokens in all", name, (long long)N, (long long)K);
	tap_ok(ok_tokens && few > 0 && enough > 0, "%s: %d expert linears "
	    "calibrated on their routed tokens, %d short of their input width "
	    "on all %lld", name, enough, few, (long long)N);
	tap_ok(eg < er, "%s: GPTQ's mean output error per expert linear %.4g "
	    "below RTN's %.4g", name, eg / (double)n_exp, er / (double)n_exp);
	tap_ok(ei < ec && ec < er, "%s: RTN's clip search weighed by each "
	    "expert's importance matrix: mean output error %.4g, below the "
	    "unweighted search's %.4g", name, ei / (double)n_exp,
	    ec / (double)n_exp);
	/* The coverage survives a save and a load. */
	tq_state_free(g);
	{
		tq_layer_cfg cfg2;
		tq_scheme sch;
		tq_plan *plan = NULL;

		tq_scheme_parse("int3-g32", &sch, &err);
		tq_layer_cfg_init(&cfg2, TQ_METHOD_GPTQ, &sch);
		g = tq_plan_new(&cfg2, &plan, &err) == TQ_OK ?
		    run_plan(m, plan, c, qdir, &err) : NULL;
	}
	if (g == NULL || tq_state_load(qdir, m, &back, &err) != TQ_OK) {
		tap_ok(0, "%s: GPTQ on every linear saves and loads: %s", name,
		    err.msg);
		goto out;
	}
	ok_tokens = 1;
	for (i = 0; i < g->n; i++)
		ok_tokens &= back->layers[i].res.tokens ==
		    g->layers[i].res.tokens &&
		    back->layers[i].res.routed == g->layers[i].res.routed &&
		    (g->layers[i].res.tokens > 0 || i + 2 >= g->n);
	tap_ok(ok_tokens, "%s: GPTQ on every linear: each linear's tokens and "
	    "routed counts load back", name);
out:
	tq_state_free(g);
	tq_state_free(g3);
	tq_state_free(ri);
	tq_state_free(rc);
	tq_state_free(rt);
	tq_state_free(back);
	tap_rmdir(qdir);
}

/*
 * 8-bit activations per expert: fp8 experts with static input scales.
 * The first routed block's gate/up site takes the largest |x| of the MLP
 * norm's output over all tokens onto 448, and its down site the largest
 * |x| of any expert's gated product over the tokens routed to it, made
 * here again from the float model's routing and the state's dequantized
 * gate and up on the inputs rounded by the first scale.
 */
static void
check_act(const tq_model *m, const char *name, const tq_calib *c)
{
	const tq_model_config *cfg = tq_model_get_config(m);
	int64_t N = c->n_samples * c->seqlen, K = cfg->n_experts_used;
	int64_t H = cfg->hidden_size, Fe = cfg->moe_inter, count[TQ_MAX_EXPERTS];
	int64_t li, first = -1, t, k, j, i;
	const char *json = "{\"default\": {\"method\": \"float\"}, \"rules\": "
	    "[{\"match\": \"experts\\\\.\", \"method\": \"rtn\", \"scheme\": "
	    "\"fp8\", \"act_bits\": 8}]}";
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	route_ctx r = { m, 0, count, NULL, NULL, 0 };
	tq_plan *plan = NULL;
	tq_qstate *s = NULL;
	tq_error err;
	float *wg = NULL, *wu = NULL, *x = NULL;
	double a_gu = 0.0, a_d = 0.0, got_gu, got_d;
	float v;
	size_t bf;
	int e;

	for (li = 0; li < cfg->n_layers && first < 0; li++)
		if (m->layers[li].n_experts > 0)
			first = li;
	memset(count, 0, sizeof(count));
	r.layer = (int)first;
	r.xs = malloc((size_t)(N * H) * sizeof(float));
	r.sel = malloc((size_t)(N * K) * sizeof(int));
	wg = malloc((size_t)(Fe * H) * sizeof(float));
	wu = malloc((size_t)(Fe * H) * sizeof(float));
	x = malloc((size_t)H * sizeof(float));
	o.act_hook = route_hook;
	o.act_ud = &r;
	for (k = 0; r.xs != NULL && k < c->n_samples; k++)
		if (tq_forward(m, c->ids + k * c->seqlen, c->seqlen, &o, NULL,
		    &err) != TQ_OK)
			tap_diag("%s", err.msg);
	if (tq_plan_parse(json, strlen(json), "fp8 plan", &plan, &err) == TQ_OK)
		s = run_plan(m, plan, c, NULL, &err);
	if (s == NULL || r.seen != N || r.sel == NULL || wg == NULL ||
	    wu == NULL || x == NULL) {
		tap_ok(0, "%s: fp8 experts with 8-bit activations: %s", name,
		    err.msg);
		goto out;
	}
	for (t = 0; t < N * H; t++)
		a_gu = fabs(r.xs[t]) > a_gu ? fabs(r.xs[t]) : a_gu;
	bf = tq_model__block_first(m, first);
	for (e = 0; e < m->layers[first].n_experts; e++) {
		tq_qtensor_dequant(&s->layers[bf + 4 + 3 * (size_t)e].qt, wg);
		tq_qtensor_dequant(&s->layers[bf + 5 + 3 * (size_t)e].qt, wu);
		for (t = 0; t < N; t++) {
			int hit = 0;

			for (k = 0; k < K; k++)
				hit |= r.sel[t * K + k] == e;
			if (!hit)
				continue;
			memcpy(x, r.xs + t * H, (size_t)H * sizeof(float));
			tq_actq_apply(&s->blocks[first].act[TQ_SITE_GATE_UP], x,
			    1, H);
			for (j = 0; j < Fe; j++) {
				double g = 0.0, u = 0.0;

				for (i = 0; i < H; i++) {
					g += (double)wg[j * H + i] * x[i];
					u += (double)wu[j * H + i] * x[i];
				}
				v = gated(m, first, e, j, g, u);
				a_d = fabs(v) > a_d ? fabs(v) : a_d;
			}
		}
	}
	got_gu = s->blocks[first].act[TQ_SITE_GATE_UP].scale * 448.0;
	got_d = s->blocks[first].act[TQ_SITE_DOWN].scale * 448.0;
	tap_ok(s->blocks[first].act[TQ_SITE_GATE_UP].mode == TQ_ACTQ_FP8_STATIC &&
	    s->blocks[first].act[TQ_SITE_DOWN].mode == TQ_ACTQ_FP8_STATIC &&
	    s->blocks[first].act[TQ_SITE_QKV].mode == TQ_ACTQ_NONE &&
	    fabs(got_gu - a_gu) <= 1e-5 * a_gu &&
	    fabs(got_d - a_d) <= 1e-4 * a_d, "%s: fp8 experts' static input "
	    "scales: gate/up %.6g x 448 (max |x| %.6g), down %.6g x 448 (the "
	    "routed gated products' max %.6g)", name, got_gu / 448.0, a_gu,
	    got_d / 448.0, a_d);
out:
	tq_state_free(s);
	free(r.xs);
	free(r.sel);
	free(wg);
	free(wu);
	free(x);
}

/*
 * tq_calib_run on a mixture of experts: each routed block's per-expert
 * token counts and gate/up input sums (what calibrate reports and writes
 * for llama-quantize --imatrix as ffn_*_exps) are the float model's
 * routing and MLP norm outputs, recounted here block by block.
 */
static void
check_calib_stats(const tq_model *m, const char *name, const tq_calib *c0)
{
	const tq_model_config *cfg = tq_model_get_config(m);
	int64_t N = c0->n_samples * c0->seqlen, K = cfg->n_experts_used;
	int64_t H = cfg->hidden_size, count[TQ_MAX_EXPERTS], li, k, t, j;
	tq_calib *c = make_calib(c0->n_samples, c0->seqlen, cfg->vocab_size);
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	route_ctx r = { m, 0, count, NULL, NULL, 0 };
	tq_error err;
	int e, ok = 1, ok_down = 1, routed_blocks = 0;
	double worst = 0.0;

	r.xs = malloc((size_t)(N * H) * sizeof(float));
	r.sel = malloc((size_t)(N * K) * sizeof(int));
	if (c == NULL || r.xs == NULL || r.sel == NULL ||
	    tq_calib_run(c, m, NULL, NULL, &err) != TQ_OK) {
		tap_ok(0, "%s: calibration runs: %s", name, c == NULL ? "" :
		    err.msg);
		goto out;
	}
	o.act_hook = route_hook;
	o.act_ud = &r;
	for (li = 0; li < cfg->n_layers; li++) {
		if (tq_calib_n_experts(c, (int)li) != m->layers[li].n_experts) {
			ok = 0;
			continue;
		}
		if (m->layers[li].n_experts == 0)
			continue;
		routed_blocks++;
		memset(count, 0, sizeof(count));
		r.layer = (int)li;
		r.seen = 0;
		for (k = 0; k < c->n_samples; k++)
			if (tq_forward(m, c->ids + k * c->seqlen, c->seqlen, &o,
			    NULL, &err) != TQ_OK)
				ok = 0;
		for (e = 0; e < m->layers[li].n_experts; e++) {
			const calib_experts *ce = &c->experts[li];

			ok &= tq_calib_expert_tokens(c, (int)li, e) == count[e];
			for (j = 0; j < H; j++) {
				double want = 0.0, got = ce->sum_sq_in[e * H + j];

				for (t = 0; t < N; t++)
					for (k = 0; k < K; k++)
						if (r.sel[t * K + k] == e)
							want += (double)r.xs[t * H + j] *
							    r.xs[t * H + j];
				if (fabs(got - want) > worst * (want > 0 ?
				    want : 1.0))
					worst = fabs(got - want) / (want > 0 ?
					    want : 1.0);
			}
			for (j = 0; j < ce->Fe; j++)
				ok_down &= count[e] == 0 ||
				    ce->sum_sq_down[e * ce->Fe + j] > 0.0;
		}
	}
	tap_ok(ok && routed_blocks > 0 && worst < 1e-9 && ok_down,
	    "%s: calibration's per-expert tokens and input sums are the float "
	    "routing's in %d routed blocks (worst relative sum error %.2g); "
	    "down's sums filled", name, routed_blocks, worst);
	tap_ok(tq_calib_expert_tokens(c, -1, 0) == -1 &&
	    tq_calib_expert_tokens(c, (int)cfg->n_layers - 1, TQ_MAX_EXPERTS) ==
	    -1, "%s: no expert count past the blocks and experts", name);
out:
	free(r.xs);
	free(r.sel);
	tq_calib_free(c);
}

/* AWQ on a mixture of experts' attention, GPTQ on its experts: it runs. */
static void
check_awq_attention(const tq_model *m, const char *name, const tq_calib *c)
{
	const char *json = "{\"default\": {\"method\": \"awq\", \"scheme\": "
	    "\"int4-g32\"}, \"rules\": [{\"match\": \"experts\\\\.\", "
	    "\"method\": \"gptq\"}]}";
	tq_plan *plan = NULL;
	tq_qstate *s = NULL;
	tq_error err;
	size_t i;
	int awq = 0, gptq = 0, all = 1;

	if (tq_plan_parse(json, strlen(json), "awq plan", &plan, &err) == TQ_OK)
		s = run_plan(m, plan, c, NULL, &err);
	for (i = 0; s != NULL && i + 2 < s->n; i++) {
		all &= s->layers[i].done && isfinite(s->layers[i].res.rel_err);
		awq += s->layers[i].cfg.method == TQ_METHOD_AWQ;
		gptq += s->layers[i].res.routed >= 0 &&
		    s->layers[i].cfg.method == TQ_METHOD_GPTQ;
	}
	tap_ok(s != NULL && all && awq > 0 && gptq > 0, "%s: AWQ on attention "
	    "(%d linears) beside GPTQ on the experts (%d)%s%s", name, awq, gptq,
	    s == NULL ? ": " : "", s == NULL ? err.msg : "");
	tq_state_free(s);
}

static void
check_model(const char *root, const char *name, size_t want_linears,
    size_t expert_first, const char *expert_name, int64_t rows, int64_t cols)
{
	char dir[4096], qdir[] = "/tmp/tq_moe_XXXXXX";
	tq_model *m = NULL, *qm = NULL;
	tq_qstate *s = NULL, *back = NULL;
	tq_error err;
	float *ref = NULL, *got = NULL;
	int64_t r = 0, c = 0, V;
	double d, sc;
	size_t i;
	int named = 1;
	tq_calib *cal = NULL;

	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	if (tq_model_open(dir, &m, &err) != TQ_OK) {
		tap_ok(0, "%s: opens: %s", name, err.msg);
		return;
	}
	V = tq_model_get_config(m)->vocab_size;
	/* 128 tokens: about 64 per expert, some fewer than 64 columns */
	cal = make_calib(4, 32, V);
	tap_ok(tq_model_n_linears(m) == want_linears, "%s: %zu linears (%zu)",
	    name, tq_model_n_linears(m), want_linears);
	tq_model_linear_shape(m, expert_first, &r, &c);
	tap_ok(tq_model_linear_name(m, expert_first) != NULL &&
	    strcmp(tq_model_linear_name(m, expert_first), expert_name) == 0 &&
	    r == rows && c == cols, "%s: linear %zu is %s [%lld, %lld]", name,
	    expert_first, tq_model_linear_name(m, expert_first), (long long)r,
	    (long long)c);
	for (i = 0; i < tq_model_n_linears(m); i++)
		named &= tq_model_linear_name(m, i) != NULL &&
		    tq_model__linear_weight(m, i) != NULL &&
		    (i + 2 >= tq_model_n_linears(m) || strstr(
		    tq_model__linear_weight(m, i)->name,
		    tq_model_linear_name(m, i)) ==
		    tq_model__linear_weight(m, i)->name);
	tap_ok(named, "%s: every linear's name is its weight's", name);

	s = run(m, "gptq", "int4-g32", NULL, NULL, &err);
	tap_ok(s == NULL && strstr(err.msg, "needs calibration") != NULL,
	    "%s: GPTQ without calibration refused: %s", name, err.msg);
	tq_state_free(s);
	s = run(m, "awq", "int4-g32", cal, NULL, &err);
	tap_ok(s == NULL && strstr(err.msg, "awq on an expert is not "
	    "implemented") != NULL, "%s: AWQ on experts refused: %s", name,
	    err.msg);
	tq_state_free(s);
	if (cal != NULL) {
		check_calibrated(m, name, cal);
		check_act(m, name, cal);
		check_calib_stats(m, name, cal);
		check_awq_attention(m, name, cal);
	}

	s = mkdtemp(qdir) != NULL ? run(m, "rtn", "int8-sym", NULL, qdir,
	    &err) : NULL;
	tap_ok(s != NULL, "%s: RTN int8 per expert runs%s%s", name,
	    s == NULL ? ": " : "", s == NULL ? err.msg : "");
	if (s == NULL)
		goto out;
	tap_ok(s->layers[expert_first].done && strcmp(
	    s->layers[expert_first].res.name, expert_name) == 0 &&
	    s->layers[expert_first].res.which == TQ_LINEAR_GATE,
	    "%s: the state's %s is quantized as a gate", name, expert_name);
	if (tq_state_load(qdir, m, &back, &err) != TQ_OK)
		tap_diag("%s", err.msg);
	tap_ok(back != NULL && back->n == s->n, "%s: the state loads back",
	    name);
	ref = malloc((size_t)(12 * V) * sizeof(float));
	got = malloc((size_t)(12 * V) * sizeof(float));
	if (back == NULL || ref == NULL || got == NULL ||
	    tq_model_apply_state(m, back, &qm, &err) != TQ_OK ||
	    tq_forward(m, ids, 12, NULL, ref, &err) != TQ_OK ||
	    tq_forward(qm, ids, 12, NULL, got, &err) != TQ_OK) {
		tap_ok(0, "%s: the quantized model runs: %s", name, err.msg);
		goto out;
	}
	tap_ok(tq_model__linear_weight(qm, expert_first) !=
	    tq_model__linear_weight(m, expert_first) &&
	    tq_model__linear_weight(m, expert_first)->dtype == TQ_DTYPE_BF16,
	    "%s: the quantized expert is a new weight, the base's untouched",
	    name);
	d = max_diff(got, ref, (size_t)(12 * V), &sc);
	tap_ok(d > 0.0 && d < 0.05 * sc, "%s: int8 logits within 5%% of the "
	    "float ones (max |diff| %.3g, max |logit| %.3g)", name, d, sc);
out:
	free(ref);
	free(got);
	tq_model_close(qm);
	tq_state_free(back);
	tq_state_free(s);
	tq_calib_free(cal);
	tq_model_close(m);
	tap_rmdir(qdir);
}

int
main(void)
{
	const char *top = getenv("top_srcdir");
	char root[4096];

	snprintf(root, sizeof(root), "%s/tests/data/models", top ? top : ".");
	/* mixtral: 2 blocks of 4 + 3 x 4 experts; the first expert after
	   block 0's attention */
	check_model(root, "mixtral", 2 * 16 + 2, 4,
	    "model.layers.0.block_sparse_moe.experts.0.w1", 64, 64);
	/* qwen3_moe: block 0 dense (7), block 1 4 + 12 */
	check_model(root, "qwen3_moe", 7 + 16 + 2, 7 + 4,
	    "model.layers.1.mlp.experts.0.gate_proj", 32, 64);
	/* gpt_oss: 2 blocks of 4 + 3 x 4 experts, sliced from its fused
	   gate_up_proj and down_proj */
	check_model(root, "gpt_oss", 2 * 16 + 2, 4,
	    "model.layers.0.mlp.experts.0.gate_proj", 64, 64);
	return tap_done();
}
