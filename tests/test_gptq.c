/*
 * test_gptq.c: tq_gptq against a plain GPTQ written here from the paper's
 * equations in double precision: no Cholesky, no lazy batches, no
 * threads.  Column by column it rounds w[:, i], spreads the error over the
 * later columns with the inverse Hessian, and removes column i from the
 * inverse by the rank-one update H^-1 -= H^-1[:, i] H^-1[i, :] / H^-1[i, i].
 * tq_gptq computes the same thing with the upper Cholesky factor of H^-1,
 * batches of columns and rows on threads, in fp32; the codes must agree
 * but for the few values that fp32 puts on the other side of a rounding
 * boundary, and so must the output error.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "gptq.h"
#include "isa.h"
#include "quant_gguf.h"
#include "par.h"
#include "quant.h"
#include "tap.h"

/*
 * H[cols, cols] = X^T X for n correlated inputs: each token mixes its
 * neighbours' channels, a few channels are 10x louder (outliers), and
 * channel `dead` is never active (its row and column of H are 0).
 */
static float *
make_hessian(int64_t cols, int64_t n, int64_t dead)
{
	float *H = calloc((size_t)(cols * cols), sizeof(float));
	double *x = malloc((size_t)cols * sizeof(double));
	int64_t t, i, j;

	for (t = 0; t < n; t++) {
		double prev = 0.0;

		for (i = 0; i < cols; i++) {
			prev = 0.6 * prev + tap_gauss();
			x[i] = i == dead ? 0.0 : prev * (i % 37 == 5 ? 10.0 : 1.0);
		}
		for (i = 0; i < cols; i++)
			for (j = 0; j < cols; j++)
				H[i * cols + j] += (float)(x[i] * x[j]);
	}
	free(x);
	return H;
}

/* inv = a^-1 for a[n, n] (symmetric positive definite), Gauss-Jordan. */
static void
invert(const double *a, double *inv, int64_t n)
{
	double *m = malloc((size_t)(n * 2 * n) * sizeof(double));
	int64_t i, j, k;

	for (i = 0; i < n; i++)
		for (j = 0; j < 2 * n; j++)
			m[i * 2 * n + j] = j < n ? a[i * n + j] :
			    (j - n == i ? 1.0 : 0.0);
	for (k = 0; k < n; k++) {
		double p = m[k * 2 * n + k];

		for (j = 0; j < 2 * n; j++)
			m[k * 2 * n + j] /= p;
		for (i = 0; i < n; i++) {
			double f = m[i * 2 * n + k];

			if (i == k || f == 0.0)
				continue;
			for (j = 0; j < 2 * n; j++)
				m[i * 2 * n + j] -= f * m[k * 2 * n + j];
		}
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			inv[i * n + j] = m[i * 2 * n + n + j];
	free(m);
}

/*
 * The plain GPTQ of w[rows, cols] onto scheme s, H as tq_gptq takes it
 * (dampening 1% of the mean diagonal, dead inputs zeroed, act_order by
 * decreasing diagonal); codes[rows, cols] in the original column order.
 * A group's parameters come from the current (updated) weights of its
 * columns, as tq_gptq chooses them.  On a lattice grid, each group of
 * tq_gguf_group() columns gets its codes together at its first column,
 * each column weighed by 1 / its diagonal of the inverse when it is
 * reached (taken from a first, dry elimination).
 */
static void
ref_gptq(const tq_scheme *s, const float *w0, const float *H, int64_t rows,
    int64_t cols, int act_order, uint8_t *codes)
{
	int64_t qk = tq_quant_qk(s, cols), i, j, r, k;
	double *w = malloc((size_t)(rows * cols) * sizeof(double));
	double *hp = malloc((size_t)(cols * cols) * sizeof(double));
	double *hi = malloc((size_t)(cols * cols) * sizeof(double));
	float *grp = malloc((size_t)qk * sizeof(float));
	tq_qparams *p = calloc((size_t)rows, sizeof(tq_qparams));
	int *perm = malloc((size_t)cols * sizeof(int));
	int64_t G = tq_gguf_group(s->type);
	double *dd = malloc((size_t)cols * sizeof(double));
	uint8_t *gc = malloc((size_t)(rows * 8));
	double mean = 0.0;

	for (i = 0; i < cols; i++) {
		perm[i] = (int)i;
		mean += H[i * cols + i] > 0.0f ? H[i * cols + i] : 1.0;
	}
	mean /= (double)cols;
	if (act_order)		/* insertion sort: decreasing diagonal, stable */
		for (i = 1; i < cols; i++)
			for (j = i; j > 0 && H[perm[j] * cols + perm[j]] >
			    H[perm[j - 1] * cols + perm[j - 1]]; j--) {
				int t = perm[j];

				perm[j] = perm[j - 1];
				perm[j - 1] = t;
			}
	for (i = 0; i < cols; i++) {
		int dead = !(H[perm[i] * cols + perm[i]] > 0.0f);

		for (j = 0; j < cols; j++)
			hp[i * cols + j] = H[perm[i] * cols + perm[j]];
		if (dead)
			hp[i * cols + i] = 1.0;
		hp[i * cols + i] += 0.01 * mean;
		for (r = 0; r < rows; r++)
			w[r * cols + i] = dead ? 0.0 : w0[r * cols + perm[i]];
	}
	invert(hp, hi, cols);
	/* the diagonal each column is eliminated with: a dry run */
	memcpy(hp, hi, (size_t)(cols * cols) * sizeof(double));
	for (i = 0; i < cols; i++) {
		dd[i] = hp[i * cols + i];
		for (j = i + 1; j < cols; j++)
			for (k = i + 1; k < cols; k++)
				hp[j * cols + k] -= hp[j * cols + i] *
				    hp[i * cols + k] / dd[i];
	}
	for (i = 0; i < cols; i++) {
		double d = hi[i * cols + i];

		for (r = 0; r < rows; r++) {
			double *row = w + r * cols;
			tq_grid g;
			double e;
			int c;

			if (i % qk == 0) {
				for (k = 0; k < qk; k++)
					grp[k] = (float)row[i + k];
				tq_quant_block_params(s, grp, NULL, qk, 0, &p[r]);
			}
			tq_quant_grid(s, &p[r], i % qk, &g);
			if (G > 1 && i % G == 0) {
				float x[8], gw[8];

				for (k = 0; k < G; k++) {
					x[k] = (float)row[i + k];
					gw[k] = (float)(1.0 / dd[i + k]);
				}
				tq_gguf_round_group(s->type, &p[r], i % qk, x, gw,
				    gc + r * 8);
			}
			c = G > 1 ? gc[r * 8 + i % G] + g.qmin :
			    tq_grid_round(&g, (float)row[i]);
			codes[r * cols + perm[i]] = (uint8_t)(c - g.qmin);
			e = (row[i] - tq_grid_value(&g, c)) / d;
			for (k = i + 1; k < cols; k++)
				row[k] -= e * hi[i * cols + k];
		}
		/* Column i is done: take it out of the inverse. */
		for (j = i + 1; j < cols; j++)
			for (k = i + 1; k < cols; k++)
				hi[j * cols + k] -= hi[j * cols + i] *
				    hi[i * cols + k] / d;
	}
	free(w);
	free(hp);
	free(hi);
	free(grp);
	free(p);
	free(perm);
	free(dd);
	free(gc);
}

typedef struct run {
	tq_qtensor t;
	float *dq;		/* [rows, cols] dequantized */
	double damp;
} run;

static int
run_gptq(run *o, const char *name, const float *w, const float *H,
    int64_t rows, int64_t cols, int act_order, int64_t block)
{
	tq_scheme s;
	tq_gptq_opts go;
	tq_error err;

	memset(o, 0, sizeof(*o));
	memset(&go, 0, sizeof(go));
	go.damp = 0.01;
	go.block = block;
	go.act_order = act_order;
	o->dq = malloc((size_t)(rows * cols) * sizeof(float));
	memcpy(o->dq, w, (size_t)(rows * cols) * sizeof(float));
	if (tq_scheme_parse(name, &s, &err) != TQ_OK ||
	    tq_qtensor_init(&o->t, &s, rows, cols, &err) != TQ_OK ||
	    tq_gptq(&o->t, o->dq, H, &go, &o->damp, &err) != TQ_OK) {
		tap_diag("%s: %s", name, err.msg);
		return 0;
	}
	return 1;
}

static void
run_done(run *o)
{
	tq_qtensor_done(&o->t);
	free(o->dq);
}

/* Whether two runs on [rows, cols] gave the same codes, params and weights. */
static int
run_same(const run *a, const run *b, int64_t rows, int64_t cols)
{
	return memcmp(a->t.codes, b->t.codes, (size_t)(rows * cols)) == 0 &&
	    memcmp(a->t.params, b->t.params, (size_t)(rows * a->t.nblocks) *
	    sizeof(tq_qparams)) == 0 &&
	    memcmp(a->dq, b->dq, (size_t)(rows * cols) * sizeof(float)) == 0;
}

/* One scheme: against the reference, across threads and batch sizes. */
static void
check_scheme(const char *name, int act_order)
{
	const int64_t rows = 48, cols = 256, dead = 77;
	float *H = make_hessian(cols, 1024, dead);
	float *w = malloc((size_t)(rows * cols) * sizeof(float));
	uint8_t *ref = malloc((size_t)(rows * cols));
	float *refq = malloc((size_t)(rows * cols) * sizeof(float));
	tq_qtensor rt;
	tq_scheme s;
	tq_error err;
	run a, b, c;
	int64_t i, same = 0;
	double e_ref, e_ours, e_rtn;
	const char *mode = act_order ? " act-order" : "";

	for (i = 0; i < rows * cols; i++)
		w[i] = (float)(0.02 * tap_gauss());
	tq_scheme_parse(name, &s, &err);
	ref_gptq(&s, w, H, rows, cols, act_order, ref);

	tq_set_threads(1);
	if (!run_gptq(&a, name, w, H, rows, cols, act_order, 128)) {
		tap_ok(0, "%s%s: tq_gptq runs", name, mode);
		goto out;
	}
	tq_set_threads(2);
	run_gptq(&b, name, w, H, rows, cols, act_order, 128);
	run_gptq(&c, name, w, H, rows, cols, act_order, 32);
	tq_set_threads(0);

	for (i = 0; i < rows * cols; i++)
		same += a.t.codes[i] == ref[i];
	tap_ok(same >= rows * cols * 995 / 1000, "%s%s: %lld of %lld codes as "
	    "the double-precision reference", name, mode, (long long)same,
	    (long long)(rows * cols));
	/* 0 is on an integer grid (the zero point), not on every GGUF one. */
	if (s.type == TQ_QT_INT) {
		for (i = 0; i < rows; i++)
			if (a.dq[i * cols + dead] != 0.0f)
				break;
		tap_ok(i == rows, "%s%s: the dead input's weights become 0",
		    name, mode);
	}

	/* The reference's codes, dequantized with our parameters' grid. */
	memcpy(&rt, &a.t, sizeof(rt));
	rt.codes = ref;
	tq_qtensor_dequant(&rt, refq);
	e_ref = tq_gptq_rel_err(w, refq, H, rows, cols);
	e_ours = tq_gptq_rel_err(w, a.dq, H, rows, cols);
	tq_qtensor_init(&rt, &s, rows, cols, &err);
	tq_quant_rtn(&rt, w, NULL, 0);
	tq_qtensor_dequant(&rt, refq);
	e_rtn = tq_gptq_rel_err(w, refq, H, rows, cols);
	tq_qtensor_done(&rt);
	tap_ok(fabs(e_ours - e_ref) <= 0.01 * e_ref && e_ours < e_rtn,
	    "%s%s: output error %.5g, reference %.5g, round-to-nearest %.5g",
	    name, mode, e_ours, e_ref, e_rtn);

	if (tq_gguf_lattice(s.type))
		tap_ok(tq_qtensor_check(&a.t, "w", &err) == TQ_OK,
		    "%s%s: every group of codes is a point of the lattice %s",
		    name, mode, err.msg);
	tap_ok(run_same(&a, &b, rows, cols),
	    "%s%s: 1 and 2 threads give the same bytes", name, mode);
	for (i = 0, same = 0; i < rows * cols; i++)
		same += a.t.codes[i] == c.t.codes[i];
	tap_ok(same >= rows * cols * 995 / 1000, "%s%s: batches of 32 columns "
	    "and of 128 agree on %lld of %lld codes", name, mode,
	    (long long)same, (long long)(rows * cols));
	run_done(&b);
	run_done(&c);
out:
	run_done(&a);
	free(H);
	free(w);
	free(ref);
	free(refq);
}

/* Inputs x[n, cols] as make_hessian draws them, as float. */
static float *
make_inputs(int64_t cols, int64_t n)
{
	float *x = malloc((size_t)(n * cols) * sizeof(float));
	int64_t t, i;

	for (t = 0; t < n; t++) {
		double prev = 0.0;

		for (i = 0; i < cols; i++) {
			prev = 0.6 * prev + tap_gauss();
			x[t * cols + i] = (float)(prev * (i % 37 == 5 ? 10.0 : 1.0));
		}
	}
	return x;
}

/*
 * The same bytes with 1, 2 and 4 threads, on a Hessian large enough that
 * OpenBLAS splits its calls over threads (OpenBLAS 0.3.21's threaded
 * factorization and sgemm change the last bits with the count).
 */
static const int64_t big_rows = 256, big_cols = 1024;

static void
check_threads(const char *name, int act_order, const float *H)
{
	static const int threads[] = { 1, 2, 4 };
	float *w = malloc((size_t)(big_rows * big_cols) * sizeof(float));
	run o[3];
	int64_t i, k, same = 1;

	for (i = 0; i < big_rows * big_cols; i++)
		w[i] = (float)(0.02 * tap_gauss());
	for (k = 0; k < 3; k++) {
		tq_set_threads(threads[k]);
		if (!run_gptq(&o[k], name, w, H, big_rows, big_cols, act_order,
		    128))
			same = 0;
	}
	tq_set_threads(0);
	for (k = 1; k < 3 && same; k++)
		same = run_same(&o[0], &o[k], big_rows, big_cols);
	tap_ok(same, "%s%s, [%lld, %lld]: 1, 2 and 4 threads give the same "
	    "bytes", name, act_order ? " act-order" : "", (long long)big_rows,
	    (long long)big_cols);
	for (k = 0; k < 3; k++)
		run_done(&o[k]);
	free(w);
}

/*
 * Each vector path (isa.h) against the portable one: the same codes,
 * parameters and weights (the error fed to a batch's later columns is a
 * product then a difference on every path).
 */
static void
check_isa_paths(const char *name, const float *H)
{
	static const tq_isa_id isas[] = { TQ_ISA_AVX2, TQ_ISA_AVX512 };
	tq_isa_id best = tq_isa();
	float *w = malloc((size_t)(big_rows * big_cols) * sizeof(float));
	size_t q;
	int64_t i;

	for (i = 0; i < big_rows * big_cols; i++)
		w[i] = (float)(0.02 * tap_gauss());
	for (q = 0; q < sizeof(isas) / sizeof(isas[0]); q++) {
		run o[2];
		int same;

		if (!tq_isa_force(isas[q])) {
			tap_skip_na("this CPU lacks it", "%s, %s: the portable "
			    "path's bytes", name, tq_isa_name(isas[q]));
			continue;
		}
		tq_isa_force(TQ_ISA_PORTABLE);
		same = run_gptq(&o[0], name, w, H, big_rows, big_cols, 0, 128);
		tq_isa_force(isas[q]);
		same &= run_gptq(&o[1], name, w, H, big_rows, big_cols, 0, 128);
		same = same && run_same(&o[0], &o[1], big_rows, big_cols);
		tap_ok(same, "%s, [%lld, %lld]: %s gives the portable path's "
		    "bytes", name, (long long)big_rows, (long long)big_cols,
		    tq_isa_name(isas[q]));
		run_done(&o[0]);
		run_done(&o[1]);
	}
	tq_isa_force(best);
	free(w);
}

/* The Hessian's accumulation: the same bytes with 1, 2 and 4 threads. */
static float *
check_hessian_threads(void)
{
	static const int threads[] = { 1, 2, 4 };
	const int64_t n = 2048, C = big_cols;
	float *x = make_inputs(C, n), *H[3];
	int64_t k, same = 1;

	for (k = 0; k < 3; k++) {
		tq_set_threads(threads[k]);
		H[k] = calloc((size_t)(C * C), sizeof(float));
		/* Two calls, as calibration adds batch after batch. */
		tq_hessian_add(H[k], x, n / 2, C);
		tq_hessian_add(H[k], x + n / 2 * C, n / 2, C);
		tq_hessian_finish(H[k], C);
		if (k > 0)
			same &= memcmp(H[0], H[k], (size_t)(C * C) *
			    sizeof(float)) == 0;
	}
	tq_set_threads(0);
	tap_ok(same, "H = X^T X for X[%lld, %lld]: 1, 2 and 4 threads give "
	    "the same bytes", (long long)n, (long long)C);
	free(H[1]);
	free(H[2]);
	free(x);
	return H[0];
}

/*
 * H = (1 - rho) I + rho 1 1^T over 64 inputs: eigenvalues 1 - rho and
 * 1 + 63 rho.  Returns tq_gptq's status and its dampening in *damp.
 */
static tq_status
gptq_rho(double rho, double *damp, tq_error *err)
{
	const int64_t rows = 8, cols = 64;
	float *H = malloc((size_t)(cols * cols) * sizeof(float));
	float *w = malloc((size_t)(rows * cols) * sizeof(float));
	tq_gptq_opts go;
	tq_qtensor t;
	tq_scheme s;
	tq_status st;
	int64_t i, j;

	for (i = 0; i < rows * cols; i++)
		w[i] = (float)tap_gauss();
	for (i = 0; i < cols; i++)
		for (j = 0; j < cols; j++)
			H[i * cols + j] = i == j ? 1.0f : (float)rho;
	memset(&go, 0, sizeof(go));
	go.damp = 0.01;
	tq_scheme_parse("int4-g32", &s, err);
	tq_qtensor_init(&t, &s, rows, cols, err);
	st = tq_gptq(&t, w, H, &go, damp, err);
	tq_qtensor_done(&t);
	free(H);
	free(w);
	return st;
}

/*
 * hess_shrink x is GPTQ on H with its off-diagonal entries times 1 - x:
 * against the reference given that H; 1 leaves no correlation to
 * compensate through, so each column rounds on its own, as RTN; a value
 * outside [0, 1] is an error.
 */
static void
check_shrink(const char *name, double x)
{
	const int64_t rows = 48, cols = 256, dead = 77;
	float *H = make_hessian(cols, 1024, dead);
	float *Hs = malloc((size_t)(cols * cols) * sizeof(float));
	float *w = malloc((size_t)(rows * cols) * sizeof(float));
	float *dq = malloc((size_t)(rows * cols) * sizeof(float));
	uint8_t *ref = malloc((size_t)(rows * cols));
	tq_qtensor t, rt;
	tq_gptq_opts go;
	tq_scheme s;
	tq_error err;
	double damp;
	int64_t i, j, g, same = 0, rtn_same = 0, live = 0;

	for (i = 0; i < rows * cols; i++)
		w[i] = (float)(0.02 * tap_gauss());
	for (i = 0; i < cols; i++)
		for (j = 0; j < cols; j++)
			Hs[i * cols + j] = H[i * cols + j] *
			    (i == j ? 1.0f : (float)(1.0 - x));
	tq_scheme_parse(name, &s, &err);
	g = s.type == TQ_QT_INT ? s.group : 1;
	ref_gptq(&s, w, Hs, rows, cols, 0, ref);
	memset(&go, 0, sizeof(go));
	go.damp = 0.01;
	go.block = 128;
	go.hess_shrink = x;
	memcpy(dq, w, (size_t)(rows * cols) * sizeof(float));
	tq_qtensor_init(&t, &s, rows, cols, &err);
	if (tq_gptq(&t, dq, H, &go, &damp, &err) != TQ_OK) {
		tap_ok(0, "%s, hess_shrink %g: tq_gptq runs: %s", name, x,
		    err.msg);
		goto out;
	}
	tq_qtensor_init(&rt, &s, rows, cols, &err);
	tq_quant_rtn(&rt, w, NULL, 0);
	for (i = 0; i < rows * cols; i++) {
		same += t.codes[i] == ref[i];
		/* the dead input's weight is 0 in GPTQ: not its group */
		if ((i % cols) / g != dead / g) {
			live++;
			rtn_same += t.codes[i] == rt.codes[i];
		}
	}
	tq_qtensor_done(&rt);
	tap_ok(same >= rows * cols * 995 / 1000, "%s, hess_shrink %g: %lld of "
	    "%lld codes as the reference on the shrunk Hessian", name, x,
	    (long long)same, (long long)(rows * cols));
	if (x == 1.0)
		tap_ok(rtn_same == live, "%s, hess_shrink 1: %lld of %lld "
		    "codes as round-to-nearest (the dead input's group "
		    "aside)", name,
		    (long long)rtn_same, (long long)live);
	else
		tap_ok(rtn_same < live * 98 / 100, "%s, hess_shrink %g: the "
		    "compensation still moves codes (%lld of %lld as "
		    "round-to-nearest)", name, x, (long long)rtn_same,
		    (long long)live);
	go.hess_shrink = 1.5;
	if (x == 1.0)
		tap_ok(tq_gptq(&t, dq, H, &go, &damp, &err) == TQ_EINVAL &&
		    strstr(err.msg, "hess_shrink") != NULL, "hess_shrink 1.5 "
		    "is an error: %s", err.msg);
out:
	tq_qtensor_done(&t);
	free(H);
	free(Hs);
	free(w);
	free(dq);
	free(ref);
}

/* H not positive definite: more dampening, then an error. */
static void
check_indefinite(void)
{
	tq_error err;
	double damp = 0.0;
	tq_status st;

	/* Smallest eigenvalue -2.15: dampening 10 (x10 three times) lifts it. */
	st = gptq_rho(-0.05, &damp, &err);
	tap_ok(st == TQ_OK && fabs(damp - 10.0) < 1e-9, "an indefinite H "
	    "(smallest eigenvalue -2.15) is rounded with dampening %.3g", damp);
	/* -125: dampening 100, the last try, is not enough. */
	st = gptq_rho(-2.0, &damp, &err);
	tap_ok(st != TQ_OK && strstr(err.msg, "positive definite") != NULL &&
	    fabs(damp - 100.0) < 1e-9,
	    "a far from definite H fails after dampening 100: %s", st != TQ_OK ? err.msg : "ok");
}

/*
 * tq_set_threads(0) gives OpenBLAS back its default, also when it comes
 * inside a section that holds OpenBLAS at one thread.
 */
static void
check_set_threads(void)
{
	int def = openblas_get_num_threads(), n = def + 1, a, b, c;

	tq_set_threads(n);
	a = openblas_get_num_threads();
	tq_set_threads(0);
	b = openblas_get_num_threads();
	tq_blas__serial_begin();
	tq_set_threads(n);
	c = openblas_get_num_threads();
	tq_blas__serial_end();
	tap_ok(a == n && b == def && c == 1 && openblas_get_num_threads() == n &&
	    tq_get_threads() == n, "tq_set_threads: %d, then 0 gives OpenBLAS's "
	    "default %d back (%d); inside a serial BLAS section 1 (%d), %d after",
	    a, def, b, c, openblas_get_num_threads());
	tq_set_threads(0);
}

/*
 * The teaching trace on one row: its codes and final row are tq_gptq's on
 * the same [1, cols] weight, and each step is consistent with the last.
 */
static void
check_trace(const char *name, int64_t cols, int64_t dead)
{
	float *H = make_hessian(cols, 512, dead);
	float *w = malloc((size_t)cols * sizeof(float));
	tq_gptq_trace_opts o = TQ_GPTQ_TRACE_OPTS_INIT;
	tq_gptq_trace *tr = NULL;
	tq_qtensor rt;
	tq_scheme s;
	tq_error err;
	run a;
	int64_t i, k, bad = 0;

	for (i = 0; i < cols; i++)
		w[i] = (float)(0.02 * tap_gauss());
	if (tq_scheme_parse(name, &s, &err) != TQ_OK ||
	    tq_gptq_trace_row(&s, w, H, cols, &o, &tr, &err) != TQ_OK ||
	    !run_gptq(&a, name, w, H, 1, cols, 0, 128)) {
		tap_ok(0, "%s, %lld columns: the trace runs: %s", name,
		    (long long)cols, err.msg);
		tq_gptq_trace_free(tr);
		free(H);
		free(w);
		return;
	}
	tap_ok(memcmp(tr->codes, a.t.codes, (size_t)cols) == 0 &&
	    memcmp(tr->w + cols * cols, a.dq, (size_t)cols * sizeof(float)) ==
	    0 && tr->damp_used == a.damp, "%s, %lld columns: the trace's codes "
	    "and rounded row are tq_gptq's", name, (long long)cols);
	/* Step k + 1 holds step k's rounded columns and q[k] in column k. */
	for (k = 0; k < cols; k++) {
		const float *wk = tr->w + k * cols, *wn = wk + cols;

		if (memcmp(wn, wk, (size_t)k * sizeof(float)) != 0 ||
		    wn[k] != tr->q[k] || wk[k] - tr->q[k] != tr->d[k])
			bad++;
	}
	tap_ok(bad == 0 && tr->w[dead] == 0.0f && tr->rel_err[0] == 0.0 &&
	    fabs(tr->rel_err[cols] - tq_gptq_rel_err(w, a.dq, H, 1, cols)) <=
	    1e-12, "%s, %lld columns: every step rounds one column, the dead "
	    "input starts at 0, the errors run from 0 to the result's (%lld "
	    "bad steps)", name, (long long)cols, (long long)bad);
	tq_qtensor_init(&rt, &s, 1, cols, &err);
	tq_quant_rtn(&rt, w, NULL, 0);
	tap_ok(memcmp(tr->rtn_codes, rt.codes, (size_t)cols) == 0 &&
	    tr->rel_err[cols] < tr->rtn_rel_err,
	    "%s, %lld columns: RTN's codes are tq_quant_rtn's, its output "
	    "error %.4g above GPTQ's %.4g", name, (long long)cols,
	    tr->rtn_rel_err, tr->rel_err[cols]);
	tq_qtensor_done(&rt);
	run_done(&a);
	tq_gptq_trace_free(tr);
	free(H);
	free(w);
}

/* An H no dampening makes definite, or NaN in it: an error, no trace. */
static void
check_trace_bad(void)
{
	const int64_t cols = 12;
	float H[12 * 12], w[12];
	tq_gptq_trace_opts o = TQ_GPTQ_TRACE_OPTS_INIT;
	tq_gptq_trace *tr = (tq_gptq_trace *)&o;	/* must become NULL */
	tq_scheme s;
	tq_error err;
	tq_status st;
	int64_t i, j;

	tq_scheme_parse("int4", &s, &err);
	for (i = 0; i < cols; i++) {
		w[i] = (float)tap_gauss();
		for (j = 0; j < cols; j++)
			H[i * cols + j] = i == j ? 1.0f : -20.0f;
	}
	/* Smallest eigenvalue 1 - 11 * 20: beyond dampening 100. */
	st = tq_gptq_trace_row(&s, w, H, cols, NULL, &tr, &err);
	tap_ok(st != TQ_OK && tr == NULL && strstr(err.msg,
	    "positive definite") != NULL, "trace: a far from definite H is an "
	    "error: %s", st != TQ_OK ? err.msg : "ok");
	for (i = 0; i < cols; i++)
		for (j = 0; j < cols; j++)
			H[i * cols + j] = i == j ? 2.0f : 0.1f;
	H[3 * cols + 5] = H[5 * cols + 3] = NAN;
	st = tq_gptq_trace_row(&s, w, H, cols, NULL, &tr, &err);
	tap_ok(st != TQ_OK && tr == NULL, "trace: NaN in H is an error, not "
	    "NaN: %s", st != TQ_OK ? err.msg : "ok");
	H[3 * cols + 5] = H[5 * cols + 3] = 0.1f;
	o.version = 0;
	st = tq_gptq_trace_row(&s, w, H, cols, &o, &tr, &err);
	tap_ok(st == TQ_EINVAL && tr == NULL, "trace: an unknown options "
	    "version is refused: %s", st != TQ_OK ? err.msg : "ok");
	st = tq_gptq_trace_row(&s, w, H, cols, NULL, &tr, &err);
	tap_ok(st == TQ_OK && tr != NULL && isfinite(tr->rel_err[cols]),
	    "trace: the same H without the NaN is fine");
	tq_gptq_trace_free(tr);
}

/* With H = I the output error is the weight error tq_weight_error gives. */
static void
check_weight_error(void)
{
	const int64_t cols = 40;
	float H[40 * 40], w[40], q[40];
	tq_weight_err we;
	double r;
	int64_t i;

	for (i = 0; i < cols * cols; i++)
		H[i] = i % (cols + 1) == 0 ? 1.0f : 0.0f;
	for (i = 0; i < cols; i++) {
		w[i] = (float)tap_gauss();
		q[i] = w[i] + (i == 9 ? 0.5f : 0.01f);
	}
	tq_weight_error(w, q, cols, &we);
	r = tq_gptq_rel_err(w, q, H, 1, cols);
	tap_ok(fabs(we.rel - r) <= 1e-6 * r && fabs(we.max_abs - 0.5) < 1e-6 &&
	    fabs(we.sqnr_db + 10.0 * log10(we.rel)) < 1e-9,
	    "H = I: the output error %.6g is the weight error %.6g", r, we.rel);
	tq_weight_error(w, w, cols, &we);
	tap_ok(we.err_sq == 0.0 && we.rel == 0.0 && isinf(we.sqnr_db),
	    "an exact weight: no error, SQNR infinite");
}

/*
 * GPTQ with the clip search on a K-quant (the block's scales searched
 * beyond ggml's rule, each later sub-block's again as GPTQ reaches it),
 * weighed by the importance matrix as quantize does (H's diagonal): a
 * lower output error than without, the same bytes on 1 and 2 threads.
 */
static void
check_clip(const char *name)
{
	const int64_t rows = 32, cols = 512;
	float *H = make_hessian(cols, 1024, -1);
	float *w = malloc((size_t)(rows * cols) * sizeof(float));
	float *imp = malloc((size_t)cols * sizeof(float));
	float *dq[3];
	tq_qtensor t[3];
	tq_gptq_opts go;
	tq_scheme s;
	tq_error err;
	double damp, e0, e1;
	int k, ok = 1;

	for (k = 0; k < rows * cols; k++)
		w[k] = (float)(0.02 * tap_gauss());
	for (k = 0; k < cols; k++)
		imp[k] = H[k * cols + k] / 1024.0f;
	tq_scheme_parse(name, &s, &err);
	for (k = 0; k < 3; k++) {
		memset(&go, 0, sizeof(go));
		go.damp = 0.01;
		go.block = 128;
		go.imp = imp;
		go.clip_search = k > 0;
		tq_set_threads(k == 2 ? 2 : 1);
		dq[k] = malloc((size_t)(rows * cols) * sizeof(float));
		memcpy(dq[k], w, (size_t)(rows * cols) * sizeof(float));
		ok &= tq_qtensor_init(&t[k], &s, rows, cols, &err) == TQ_OK &&
		    tq_gptq(&t[k], dq[k], H, &go, &damp, &err) == TQ_OK;
		tq_qtensor_dequant(&t[k], dq[k]);
	}
	tq_set_threads(0);
	e0 = tq_gptq_rel_err(w, dq[0], H, rows, cols);
	e1 = tq_gptq_rel_err(w, dq[1], H, rows, cols);
	tap_ok(ok && e1 < e0, "%s: GPTQ with the clip search: output error "
	    "%.5g, without %.5g", name, e1, e0);
	tap_ok(ok && memcmp(t[1].codes, t[2].codes, (size_t)(rows * cols)) ==
	    0 && memcmp(t[1].params, t[2].params, (size_t)(rows *
	    t[1].nblocks) * sizeof(tq_qparams)) == 0,
	    "%s: GPTQ with the clip search: 1 and 2 threads give the same "
	    "bytes", name);
	for (k = 0; k < 3; k++) {
		tq_qtensor_done(&t[k]);
		free(dq[k]);
	}
	free(H);
	free(w);
	free(imp);
}

int
main(void)
{
	float *H;

	check_set_threads();
	check_scheme("int4-g32", 0);
	check_scheme("int4-g32", 1);
	check_scheme("int3-g128-sym", 0);
	check_scheme("int4", 0);
	check_scheme("q4_k", 0);
	H = check_hessian_threads();
	check_threads("int4-g32", 0, H);
	check_threads("int4-g32", 1, H);
	check_threads("int3-g128-sym", 0, H);
	check_threads("int4", 0, H);
	check_threads("q4_k", 0, H);
	check_indefinite();
	check_shrink("int4-g32", 0.5);
	check_shrink("int4-g32", 1.0);
	check_shrink("q4_k", 0.5);
	check_trace("int4", 12, 7);
	check_trace("int4", 128, 77);
	check_trace("int4-g32", 96, 40);
	check_trace("int3-g128-sym", 128, 3);
	check_trace_bad();
	check_weight_error();
	/* last: they draw from the shared random sequence */
	check_scheme("iq4_xs", 0);
	check_scheme("iq4_nl", 0);
	check_scheme("iq3_xxs", 0);
	check_scheme("iq3_s", 0);
	check_scheme("iq2_xxs", 0);
	check_scheme("iq2_xs", 0);
	check_scheme("iq2_s", 0);
	check_scheme("iq1_s", 0);
	check_scheme("iq1_m", 0);
	check_clip("q2_k");
	check_clip("q3_k");
	check_clip("q4_k");
	check_clip("q5_k");
	check_clip("q6_k");
	check_isa_paths("int4-g32", H);
	check_isa_paths("q4_k", H);
	free(H);
	return tap_done();
}
