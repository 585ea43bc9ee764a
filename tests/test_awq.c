/*
 * test_awq.c: AWQ's scale search, SmoothQuant's scales, the GQA tying of
 * o_proj's scales, and the fake quantization of activations (W8A8, FP8
 * static), on data made here with known answers.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "awq.h"
#include "quant.h"
#include "tap.h"

/* A reproducible uniform in [-1, 1). */
static float
urand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* tr(E H E^T), E = W - Q(W diag(s)) diag(s)^-1, computed the slow way. */
static double
out_err(const float *w, int64_t rows, int64_t C, const tq_scheme *sch,
    const float *X, int64_t n, const float *s)
{
	float *ws = malloc((size_t)(rows * C) * sizeof(float));
	float *dq = malloc((size_t)(rows * C) * sizeof(float));
	tq_qtensor qt;
	tq_error err;
	double e = 0.0;
	int64_t r, c, t;

	for (r = 0; r < rows; r++)
		for (c = 0; c < C; c++)
			ws[r * C + c] = w[r * C + c] * s[c];
	tq_qtensor_init(&qt, sch, rows, C, &err);
	tq_quant_rtn(&qt, ws, NULL, 0);
	tq_qtensor_dequant(&qt, dq);
	/* Output error token by token: sum_t |(W - W') x_t|^2. */
	for (t = 0; t < n; t++)
		for (r = 0; r < rows; r++) {
			double y = 0.0;

			for (c = 0; c < C; c++)
				y += ((double)w[r * C + c] - dq[r * C + c] / s[c]) *
				    X[t * C + c];
			e += y * y;
		}
	tq_qtensor_done(&qt);
	free(ws);
	free(dq);
	return e;
}

static void
test_search(void)
{
	enum { C = 128, R = 64, N = 512 };
	float *w = malloc(R * C * sizeof(float));	/* [R, C] */
	float *X = malloc(N * C * sizeof(float));	/* [N, C] */
	float *H = calloc(C * C, sizeof(float));	/* [C, C] */
	float mean[C], s[C], ones[C];
	tq_scale_layer l;
	tq_scheme sch;
	tq_error err;
	double alpha = -1.0, best = 0.0, rtn = 0.0, slow_best, slow_rtn;
	uint64_t seed = 7;
	int64_t i, j;

	tq_scheme_parse("int3-g32", &sch, &err);
	for (i = 0; i < R * C; i++)
		w[i] = urand(&seed);
	/* Eight salient input channels, 30 times larger than the rest. */
	for (i = 0; i < N; i++)
		for (j = 0; j < C; j++)
			X[i * C + j] = urand(&seed) * (j % 16 == 3 ? 30.0f : 1.0f);
	cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, C, N, 1.0f, X, C,
	    0.0f, H, C);
	for (i = 0; i < C; i++)
		for (j = 0; j < i; j++)
			H[i * C + j] = H[j * C + i];
	for (j = 0; j < C; j++) {
		double a = 0.0;

		for (i = 0; i < N; i++)
			a += fabsf(X[i * C + j]);
		mean[j] = (float)(a / N);
		ones[j] = 1.0f;
	}
	l.w = w;
	l.rows = R;
	l.scheme = &sch;
	tap_ok(tq_awq_search(&l, 1, H, mean, C, 20, NULL, s, &alpha, &best,
	    &rtn, &err) == TQ_OK, "the search runs");
	slow_rtn = out_err(w, R, C, &sch, X, N, ones);
	slow_best = out_err(w, R, C, &sch, X, N, s);
	tap_ok(fabs(rtn - slow_rtn) <= 1e-3 * slow_rtn,
	    "alpha 0 measures plain RTN: %.6g by H, %.6g token by token", rtn,
	    slow_rtn);
	tap_ok(fabs(best - slow_best) <= 1e-3 * slow_best,
	    "the chosen scales measure %.6g by H, %.6g token by token", best,
	    slow_best);
	tap_ok(alpha > 0.0 && best < 0.8 * rtn,
	    "salient channels: alpha %.2f cuts the output error to %.2f of "
	    "RTN's", alpha, best / rtn);
	{
		double lo = INFINITY, hi = 0.0;

		for (j = 0; j < C; j++) {
			lo = s[j] < lo ? s[j] : lo;
			hi = s[j] > hi ? s[j] : hi;
		}
		tap_ok(fabs(lo * hi - 1.0) < 1e-4 && s[3] > s[4],
		    "scales normalized (max * min = %.6f) and larger on the "
		    "salient channels", lo * hi);
	}
	{
		int stop = 1;

		tap_ok(tq_awq_search(&l, 1, H, mean, C, 20, &stop, s, &alpha,
		    &best, &rtn, &err) == TQ_ECANCELLED,
		    "the search stops when cancelled");
	}
	{
		double alphas[20], den = 0.0;
		tq_awq_trace *tr = NULL;
		int g, gb = 0;

		tq_awq_search(&l, 1, H, mean, C, 20, NULL, s, &alpha, &best,
		    &rtn, &err);
		for (g = 0; g < 20; g++)
			alphas[g] = (double)g / 20;
		tap_ok(tq_awq_trace_layer(&sch, w, R, C, H, mean, alphas, 20,
		    &tr, &err) == TQ_OK, "the AWQ trace runs");
		/* tr(W H W^T) token by token: |W x_t|^2. */
		for (i = 0; i < N; i++)
			for (j = 0; j < R; j++) {
				double y = 0.0;
				int64_t c;

				for (c = 0; c < C; c++)
					y += (double)w[j * C + c] *
					    X[i * C + c];
				den += y * y;
			}
		for (g = 1; g < 20; g++)
			if (tr->rel_err[g] < tr->rel_err[gb])
				gb = g;
		tap_ok(tr->alpha[gb] == alpha && memcmp(tr->s + gb * C, s,
		    C * sizeof(float)) == 0 && fabs(tr->rel_err[gb] /
		    tr->rel_err[0] - best / rtn) <= 1e-12 * best / rtn,
		    "the trace's best alpha %.2f, its scales and its error "
		    "against RTN's are the search's", tr->alpha[gb]);
		tap_ok(fabs(tr->rel_err[0] - slow_rtn / den) <= 1e-3 *
		    slow_rtn / den && tr->smin[0] == 1.0 &&
		    tr->smax[0] == 1.0 &&
		    fabs(tr->smin[19] * tr->smax[19] - 1.0) < 1e-4,
		    "alpha 0: s = 1 and the relative error %.6g of RTN (token "
		    "by token %.6g); alpha 0.95's range %.3f-%.3f",
		    tr->rel_err[0], slow_rtn / den, tr->smin[19],
		    tr->smax[19]);
		tq_awq_trace_free(tr);
		tr = (tq_awq_trace *)&den;
		tap_ok(tq_awq_trace_layer(&sch, w, R, C, H, mean, alphas, 0,
		    &tr, &err) == TQ_EINVAL && tr == NULL,
		    "no alphas: an error, no trace");
	}
	free(w);
	free(X);
	free(H);
}

static void
test_smooth(void)
{
	float w1[2 * 3] = { 1.0f, -4.0f, 0.5f, 2.0f, 1.0f, -0.25f };
	float w2[1 * 3] = { -3.0f, 0.5f, 0.125f };
	float xmax[3] = { 16.0f, 1.0f, 0.0f }, s[3];
	tq_scale_layer l[2];
	tq_scheme sch;
	tq_error err;

	tq_scheme_parse("int8-sym", &sch, &err);
	l[0].w = w1;
	l[0].rows = 2;
	l[0].scheme = &sch;
	l[1].w = w2;
	l[1].rows = 1;
	l[1].scheme = &sch;
	tq_smooth_scales(l, 2, xmax, 3, 0.5, s);
	/* Column maxima over both layers: 3, 4, 0.5. */
	tap_ok(fabsf(s[0] - sqrtf(16.0f) / sqrtf(3.0f)) < 1e-6f &&
	    fabsf(s[1] - 1.0f / 2.0f) < 1e-6f && s[2] == 1.0f,
	    "SmoothQuant: s = max|x|^a / max|w|^(1-a) (%g %g %g)", s[0], s[1],
	    s[2]);
}

static void
test_tie(void)
{
	/* 4 heads of dim 2 over 2 kv heads: heads 0,1 share, and 2,3. */
	float v[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	tq_awq_tie_heads(v, 4, 2, 2);
	tap_ok(v[0] == 2 && v[2] == 2 && v[1] == 3 && v[3] == 3 &&
	    v[4] == 6 && v[6] == 6 && v[5] == 7 && v[7] == 7,
	    "o_proj scales are averaged over the heads of a kv head");
}

static void
test_actq(void)
{
	float x[2 * 4] = { 1.0f, -0.5f, 0.3f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f };
	float y[3] = { 1.0f, 500.0f, 0.0107f };
	tq_actq a8 = { TQ_ACTQ_INT8_TOKEN, 0.0f };
	tq_actq f8 = { TQ_ACTQ_FP8_STATIC, 0.5f };
	float sc = 1.0f / 127.0f;

	tq_actq_apply(&a8, x, 2, 4);
	/* Row 0: scale 1/127, so 0.3 -> round(38.1) = 38 steps. */
	tap_ok(x[0] == 127 * sc && x[1] == -64 * sc && x[2] == 38 * sc &&
	    x[4] == 0.0f, "int8 per token: absmax / 127 steps, zero rows kept");
	tq_actq_apply(&f8, y, 1, 3);
	/*
	 * 1 / 0.5 = 2 is exact in e4m3; 500 / 0.5 saturates at 448;
	 * 0.0107 / 0.5 = 0.0214 lies between 0.01953125 (10/512) and
	 * 0.0234375 (12/512) among e4m3's subnormals (steps of 1/512).
	 */
	tap_ok(y[0] == 1.0f && y[1] == 224.0f && y[2] == 0.5f * 11.0f / 512.0f,
	    "fp8 static: x / scale rounded to e4m3 and saturated (%g %g %g)",
	    y[0], y[1], y[2]);
}

int
main(void)
{
	test_search();
	test_smooth();
	test_tie();
	test_actq();
	return tap_done();
}
