/*
 * test_kernels.c: the engine's own vector kernels, on every path this CPU
 * has (isa.h).  tq_sgemm_nt's elements are the documented sum (sgemm.h),
 * written out here with fmaf, byte for byte; they are near a
 * double-precision product; tq_det_sgemm's tiles on 1 or 2 threads give
 * the bytes of one serial call; tq_sgemm_tn_acc and tq_det_hessian_add
 * continue each element's chain.  tq_vexp_shift and tq_vsilu_mul give
 * tq_vexp1's bytes on every path, and tq_vexp1 is within 2 ulp of e^x.
 * Under ASan, whose instrumentation the tiles go without (isa.h), an
 * operand one element short of its buffer is still reported.
 */
#include "config.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blas_det.h"
#include "isa.h"
#include "sgemm.h"
#include "vexp.h"
#include "tap.h"
#include "tq.h"

/* The order of sgemm.h, one element: 16 lanes in increasing k, the tree. */
static float
ref_dot(const float *a, const float *b, int64_t k)
{
	float v[16], s8[8], s4[4], s2[2];
	int64_t p;
	int l;

	for (l = 0; l < 16; l++)
		v[l] = 0.0f;
	for (p = 0; p < k; p += 16)
		for (l = 0; l < 16; l++)
			v[l] = fmaf(p + l < k ? a[p + l] : 0.0f,
			    p + l < k ? b[p + l] : 0.0f, v[l]);
	for (l = 0; l < 8; l++)
		s8[l] = v[l] + v[l + 8];
	for (l = 0; l < 4; l++)
		s4[l] = s8[l] + s8[l + 4];
	for (l = 0; l < 2; l++)
		s2[l] = s4[l] + s4[l + 2];
	return s2[0] + s2[1];
}

static float *
randm(int64_t n)
{
	float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
	int64_t i;

	for (i = 0; i < n; i++)
		p[i] = (float)tap_gauss();
	return p;
}

/*
 * One shape on the current path: C (with a row stride wider than n, its
 * padding untouched) against ref_dot, alpha applied after; the
 * accumulating form against C + ref; and against double precision.
 */
static int
check_shape(int64_t m, int64_t n, int64_t k, float alpha, double *maxrel)
{
	int64_t lda = k + 3, ldb = k + 1, ldc = n + 2, i, j;
	float *a = randm(m * lda), *b = randm(n * ldb);
	float *c = randm(m * ldc), *c0 = malloc((size_t)(m * ldc) *
	    sizeof(float));
	int ok = 1;

	memcpy(c0, c, (size_t)(m * ldc) * sizeof(float));
	tq_sgemm_nt(m, n, k, alpha, a, lda, b, ldb, 0, c, ldc);
	for (i = 0; i < m; i++)
		for (j = 0; j < ldc; j++) {
			float want = j < n ? ref_dot(a + i * lda, b + j * ldb,
			    k) : c0[i * ldc + j];
			double d = 0.0, scale = 0.0;
			int64_t p;

			if (j < n && alpha != 1.0f)
				want *= alpha;
			if (memcmp(&want, &c[i * ldc + j], sizeof(float)) != 0)
				ok = 0;
			if (j >= n)
				continue;
			for (p = 0; p < k; p++) {
				double t = (double)a[i * lda + p] *
				    b[j * ldb + p];

				d += t;
				scale += fabs(t);
			}
			d *= alpha;
			if (scale > 0.0 && fabs(d - c[i * ldc + j]) /
			    (scale * fabs(alpha)) > *maxrel)
				*maxrel = fabs(d - c[i * ldc + j]) /
				    (scale * fabs(alpha));
		}
	/* C := C + A B^T */
	memcpy(c, c0, (size_t)(m * ldc) * sizeof(float));
	tq_sgemm_nt(m, n, k, 1.0f, a, lda, b, ldb, 1, c, ldc);
	for (i = 0; i < m; i++)
		for (j = 0; j < n; j++) {
			float want = c0[i * ldc + j] + ref_dot(a + i * lda,
			    b + j * ldb, k);

			if (memcmp(&want, &c[i * ldc + j], sizeof(float)) != 0)
				ok = 0;
		}
	free(a);
	free(b);
	free(c);
	free(c0);
	return ok;
}

/* ulps between a float and a double (in the float's binade) */
static double
ulps(float got, double want)
{
	int e;

	if (want == 0.0)
		return got == 0.0f ? 0.0 : INFINITY;
	frexp(want, &e);
	return fabs((double)got - want) / ldexp(1.0, e - 24);
}

/*
 * The exp kernels on the current path: the array forms against tq_vexp1
 * byte for byte (odd lengths take the vector loop and the tail), the
 * special values, and tq_vexp1 against exp() in double.
 */
static int
check_exp(double *maxulp)
{
	enum { N = 1000 + 13 };
	static const float special[] = { 0.0f, -0.0f, 1.0f, -1.0f, 88.7f,
	    88.73f, -87.0f, -100.0f, -103.9f, -104.5f, 1e30f, -1e30f };
	float x[N], y[N], g[N], up[N];
	int ok = 1, i;

	for (i = 0; i < N; i++) {
		x[i] = (float)(tap_urand() * 220.0 - 115.0);
		if (i < (int)(sizeof(special) / sizeof(special[0])))
			x[i] = special[i];
		if (i == 20)
			x[i] = NAN;
		if (i == 21)
			x[i] = INFINITY;
		if (i == 22)
			x[i] = -INFINITY;
		y[i] = x[i];
		g[i] = (float)(tap_gauss() * 8.0);
		up[i] = (float)tap_gauss();
	}
	tq_vexp_shift(y, N, 0.5f);
	for (i = 0; i < N; i++) {
		float want = tq_vexp1(x[i] - 0.5f);

		if (memcmp(&want, &y[i], sizeof(float)) != 0)
			ok = 0;
	}
	memcpy(y, g, sizeof(g));
	tq_vsilu_mul(y, up, N);
	for (i = 0; i < N; i++) {
		float want = g[i] / (1.0f + tq_vexp1(-g[i])) * up[i];

		if (memcmp(&want, &y[i], sizeof(float)) != 0)
			ok = 0;
	}
	ok &= tq_vexp1(0.0f) == 1.0f && tq_vexp1(-INFINITY) == 0.0f &&
	    isinf(tq_vexp1(INFINITY)) && isnan(tq_vexp1(NAN)) &&
	    tq_vexp1(-105.0f) == 0.0f && isinf(tq_vexp1(89.0f)) &&
	    isfinite(tq_vexp1(88.72f));
	for (i = 0; i < N; i++) {
		double want = exp((double)x[i]);

		if (x[i] >= -87.0f && x[i] <= 88.7f &&
		    ulps(tq_vexp1(x[i]), want) > *maxulp)
			*maxulp = ulps(tq_vexp1(x[i]), want);
	}
	return ok;
}

/* tq_sgemm_nn against one fmaf chain per element, byte for byte. */
static int
check_nn(int64_t m, int64_t n, int64_t k)
{
	int64_t lda = k + 2, ldb = n + 5, ldc = n + 3, i, j, p;
	float *a = randm(m * lda), *b = randm((k > 0 ? k : 1) * ldb);
	float *c = randm(m * ldc);
	int ok = 1;

	tq_sgemm_nn(m, n, k, a, lda, b, ldb, c, ldc);
	for (i = 0; i < m; i++)
		for (j = 0; j < n; j++) {
			float want = 0.0f;

			for (p = 0; p < k; p++)
				want = fmaf(a[i * lda + p], b[p * ldb + j],
				    want);
			if (memcmp(&want, &c[i * ldc + j], sizeof(float)) != 0)
				ok = 0;
		}
	free(a);
	free(b);
	free(c);
	return ok;
}

/*
 * tq_sgemm_tn_acc: C + A^T B, one fmaf chain per element from C's value;
 * and tq_det_hessian_add, in one call or two, against that chain on and
 * above the diagonal.
 */
static int
check_tn(int64_t m, int64_t n, int64_t k)
{
	int64_t lda = m + 3, ldb = n + 1, ldc = n + 2, i, j, p;
	float *a = randm((k > 0 ? k : 1) * lda), *b = randm((k > 0 ? k : 1) *
	    ldb), *c = randm(m * ldc), *c0 = malloc((size_t)(m * ldc) *
	    sizeof(float));
	float *h1, *h2;
	int ok = 1;

	memcpy(c0, c, (size_t)(m * ldc) * sizeof(float));
	tq_sgemm_tn_acc(m, n, k, a, lda, b, ldb, c, ldc);
	for (i = 0; i < m; i++)
		for (j = 0; j < n; j++) {
			float want = c0[i * ldc + j];

			for (p = 0; p < k; p++)
				want = fmaf(a[p * lda + i], b[p * ldb + j],
				    want);
			if (memcmp(&want, &c[i * ldc + j], sizeof(float)) != 0)
				ok = 0;
		}
	/* the Hessian of a's first m columns: X[k, m], H[m, m] */
	h1 = calloc((size_t)(m * m), sizeof(float));
	h2 = calloc((size_t)(m * m), sizeof(float));
	tq_det_hessian_add(m, k, a, lda, h1, m);
	tq_det_hessian_add(m, k / 3, a, lda, h2, m);
	tq_det_hessian_add(m, k - k / 3, a + k / 3 * lda, lda, h2, m);
	for (i = 0; i < m; i++)
		for (j = i; j < m; j++) {
			float want = 0.0f;

			for (p = 0; p < k; p++)
				want = fmaf(a[p * lda + i], a[p * lda + j],
				    want);
			if (memcmp(&want, &h1[i * m + j], sizeof(float)) != 0 ||
			    memcmp(&want, &h2[i * m + j], sizeof(float)) != 0)
				ok = 0;
		}
	free(a);
	free(b);
	free(c);
	free(c0);
	free(h1);
	free(h2);
	return ok;
}

static const int64_t shapes[][3] = {
	{ 1, 1, 1 }, { 1, 1, 16 }, { 7, 5, 15 }, { 6, 4, 17 },
	{ 13, 9, 33 }, { 12, 8, 64 }, { 5, 11, 0 }, { 19, 23, 100 },
	{ 64, 70, 576 }, { 3, 130, 1 }, { 31, 2, 47 }, { 40, 41, 257 },
};
#define N_SHAPES (sizeof(shapes) / sizeof(shapes[0]))

#ifdef TQ_KERNEL_SANITIZED
/*
 * In a child (stderr discarded), a product with one operand one element
 * short of its heap buffer: A, B or C of A B^T (0, 1, 2), or B of A B (3).
 * 1 when ASan stopped it.
 */
static int
overrun_caught(int which)
{
	int64_t m = 7, n = 9, k = 21;
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		/* the short operand's buffer lacks its last element */
		float *a = calloc((size_t)(m * k - (which == 0)), sizeof(float));
		float *b = calloc((size_t)(n * k - (which == 1 || which == 3)),
		    sizeof(float));
		float *c = calloc((size_t)(m * n - (which == 2)), sizeof(float));
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 2);
		if (which < 3)
			tq_sgemm_nt(m, n, k, 1.0f, a, k, b, k, 0, c, n);
		else		/* A B, B k x n */
			tq_sgemm_nn(m, n, k, a, k, b, n, c, n);
		_exit(0);
	}
	return pid > 0 && waitpid(pid, &st, 0) == pid &&
	    !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
#endif

int
main(void)
{
	static const tq_isa_id isas[] = { TQ_ISA_PORTABLE,
	    TQ_ISA_AVX2, TQ_ISA_AVX512 };
	tq_isa_id best = tq_isa();
	int64_t m = 300, n = 700, k = 200;
	float *a, *b, *c1, *c2, *cs;
	size_t s, q;

	tap_plan(3 * 3 + 4);
	tap_diag("this CPU's path: %s", tq_isa_name(best));
	for (q = 0; q < 3; q++) {
		double maxrel = 0.0;
		int ok = 1;

		if (!tq_isa_force(isas[q])) {
			const char *name = tq_isa_name(isas[q]);

			tap_skip_na("this CPU lacks it",
			    "%s: the documented sum", name);
			tap_skip_na("this CPU lacks it",
			    "%s: near double precision", name);
			tap_skip_na("this CPU lacks it", "%s: exp", name);
			continue;
		}
		for (s = 0; s < N_SHAPES; s++) {
			ok &= check_shape(shapes[s][0], shapes[s][1],
			    shapes[s][2], 1.0f, &maxrel);
			ok &= check_shape(shapes[s][0], shapes[s][1],
			    shapes[s][2], 0.125f, &maxrel);
		}
		for (s = 0; s < N_SHAPES; s++) {
			ok &= check_nn(shapes[s][0], shapes[s][1] + 60,
			    shapes[s][2]);
			ok &= check_tn(shapes[s][0] + 90, shapes[s][1] + 60,
			    shapes[s][2]);
		}
		/* a Hessian of several tiles each way, tokens in chunks */
		ok &= check_tn(300, 7, 250);
		tap_ok(ok, "%s: A B^T, A B, C + A^T B and the Hessian X^T X "
		    "(in one call or two) are the documented sums, byte for "
		    "byte, %zu shapes (edges, k %% 16 tails, k = 0, alpha, "
		    "accumulate)", tq_isa_name(isas[q]), N_SHAPES);
		tap_ok(maxrel < 1e-6, "%s: near double precision (max error "
		    "%.2g of sum |a b|)", tq_isa_name(isas[q]), maxrel);
		maxrel = 0.0;
		ok = check_exp(&maxrel);
		tap_ok(ok && maxrel <= 2.0, "%s: exp and SiLU arrays give "
		    "tq_vexp1's bytes, special values, within %.2f ulp of e^x",
		    tq_isa_name(isas[q]), maxrel);
	}
	tq_isa_force(best);

	/* tq_det_sgemm: tiles on threads give one serial call's bytes. */
	a = randm(m * k);
	b = randm(n * k);
	c1 = calloc((size_t)(m * n), sizeof(float));
	c2 = calloc((size_t)(m * n), sizeof(float));
	cs = calloc((size_t)(m * n), sizeof(float));
	tq_sgemm_nt(m, n, k, 1.0f, a, k, b, k, 0, cs, n);
	tq_set_threads(1);
	tq_det_sgemm(CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k,
	    0.0f, c1, n);
	tq_set_threads(2);
	tq_det_sgemm(CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k,
	    0.0f, c2, n);
	tap_ok(memcmp(c1, cs, (size_t)(m * n) * sizeof(float)) == 0,
	    "tq_det_sgemm A B^T on 1 thread: one serial call's bytes");
	tap_ok(memcmp(c2, cs, (size_t)(m * n) * sizeof(float)) == 0,
	    "tq_det_sgemm A B^T on 2 threads: the same bytes");
	/* beta 1 accumulates: C + A B^T */
	tq_det_sgemm(CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k,
	    1.0f, c2, n);
	tq_sgemm_nt(m, n, k, 1.0f, a, k, b, k, 1, cs, n);
	tap_ok(memcmp(c2, cs, (size_t)(m * n) * sizeof(float)) == 0,
	    "tq_det_sgemm A B^T with beta 1 accumulates as tq_sgemm_nt");
	free(a);
	free(b);
	free(c1);
	free(c2);
	free(cs);
#ifdef TQ_KERNEL_SANITIZED
	tap_ok(overrun_caught(0) && overrun_caught(1) && overrun_caught(2) &&
	    overrun_caught(3), "ASan reports A, B or C one element short "
	    "of its buffer, in A B^T and A B (the tiles are not instrumented)");
#else
	tap_skip_na("not an ASan build", "operands short of their buffers");
#endif
	return tap_done();
}
