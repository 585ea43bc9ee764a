/*
 * bench_kernels.c: the forward pass's matrix kernel (core/sgemm.c) on one
 * thread, beside OpenBLAS's sgemm on the same product and this CPU's
 * fused multiply-add limit.
 *
 * For each shape of SmolLM2-135M's prefill (2048 tokens: four windows of
 * 512; the attention, MLP and output products x W^T) and the 1B-shaped
 * model's, it times tq_sgemm_nt on every path the CPU has (isa.h) and
 * cblas_sgemm(NoTrans, Trans) with OpenBLAS at one thread, best of REPS,
 * and prints GFLOP/s, each as a fraction of the FMA limit (independent
 * multiply-adds in registers, the same vector width) and as a ratio to
 * OpenBLAS.  A second table does the same for the calibration's Hessian
 * X^T X (tq_det_hessian_add against cblas_ssyrk).  OpenBLAS's kernel is the one it picks for this CPU, or the
 * one OPENBLAS_CORETYPE names (this machine's environment sets Haswell).
 *
 * Usage: bench_kernels [REPS]   (default 3)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

#include "bench_util.h"
#include "blas_det.h"
#include "isa.h"
#include "sgemm.h"
#include "tq.h"

#ifdef TQ_ISA_X86
#include <immintrin.h>

/* GFLOP/s of n x 24 independent 16-lane multiply-adds: the AVX-512 limit */
__attribute__((target("avx512f,fma"))) static double
fma_limit_avx512(long n)
{
	__m512 acc[24], x = _mm512_set1_ps(1.0000001f);
	__m512 y = _mm512_set1_ps(-1e-7f);
	double t0 = bench_now();
	long i;
	int j;
	float sink = 0.0f;

	for (j = 0; j < 24; j++)
		acc[j] = _mm512_set1_ps((float)j);
	for (i = 0; i < n; i++)
#pragma GCC unroll 24
		for (j = 0; j < 24; j++)
			acc[j] = _mm512_fmadd_ps(acc[j], x, y);
	t0 = bench_now() - t0;
	for (j = 0; j < 24; j++)
		sink += _mm512_cvtss_f32(acc[j]);
	return sink == 12345.0f ? 0.0 : (double)n * 24 * 32 / t0 * 1e-9;
}

/* the same with 8 lanes: the AVX2 limit */
__attribute__((target("avx2,fma"))) static double
fma_limit_avx2(long n)
{
	__m256 acc[12], x = _mm256_set1_ps(1.0000001f);
	__m256 y = _mm256_set1_ps(-1e-7f);
	double t0 = bench_now();
	long i;
	int j;
	float sink = 0.0f;

	for (j = 0; j < 12; j++)
		acc[j] = _mm256_set1_ps((float)j);
	for (i = 0; i < n; i++)
#pragma GCC unroll 12
		for (j = 0; j < 12; j++)
			acc[j] = _mm256_fmadd_ps(acc[j], x, y);
	t0 = bench_now() - t0;
	for (j = 0; j < 12; j++)
		sink += _mm256_cvtss_f32(acc[j]);
	return sink == 12345.0f ? 0.0 : (double)n * 12 * 16 / t0 * 1e-9;
}
#endif

static double
fma_limit(tq_isa_id isa)
{
#ifdef TQ_ISA_X86
	double best = 0.0, g;
	int r;

	for (r = 0; r < 3; r++) {
		g = isa == TQ_ISA_AVX512 ? fma_limit_avx512(20000000) :
		    isa == TQ_ISA_AVX2 ? fma_limit_avx2(40000000) : 0.0;
		best = g > best ? g : best;
	}
	return best;
#else
	(void)isa;
	return 0.0;
#endif
}

static const struct {
	const char *name;
	int m, n, k;
} shapes[] = {
	{ "smollm2 q/o proj", 2048, 576, 576 },
	{ "smollm2 gate/up", 2048, 1536, 576 },
	{ "smollm2 down", 2048, 576, 1536 },
	{ "smollm2 output (1/8 of V)", 2048, 6144, 576 },
	{ "1b q/o proj", 512, 2048, 2048 },
	{ "1b down", 512, 2048, 8192 },
};

/* One product's operands: C[m, n] of A[m, k] and B[n, k] (or X = A). */
typedef struct prod {
	int m, n, k;
	float *a, *b, *c;
} prod;

static void
blas_nt(prod *p)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p->m, p->n, p->k,
	    1.0f, p->a, p->k, p->b, p->k, 0.0f, p->c, p->n);
}

static void
ours_nt(prod *p)
{
	tq_sgemm_nt(p->m, p->n, p->k, 1.0f, p->a, p->k, p->b, p->k, 0, p->c,
	    p->n);
}

/* H[m, m] += X^T X, X = a [k tokens, m] */
static void
blas_syrk(prod *p)
{
	cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, p->m, p->k, 1.0f,
	    p->a, p->m, 1.0f, p->c, p->m);
}

static void
ours_hessian(prod *p)
{
	tq_det_hessian_add(p->m, p->k, p->a, p->m, p->c, p->m);
}

/* GFLOP/s of fn on p, the best of reps runs after one that warms up. */
static double
rate(void (*fn)(prod *), prod *p, double flops, int reps)
{
	double best = 0.0;
	int r;

	for (r = 0; r <= reps; r++) {
		double t0 = bench_now(), g;

		fn(p);
		g = flops / (bench_now() - t0) * 1e-9;
		best = r > 0 && g > best ? g : best;
	}
	return best;
}

/* this CPU's paths, as main's FMA limits are ordered */
static const tq_isa_id isas[] = { TQ_ISA_AVX512, TQ_ISA_AVX2 };

/*
 * One table row per path the CPU has (lim[q] > 0): ours, fn on p, beside
 * OpenBLAS's rate blas.
 */
static void
rows(const char *name, const char *dims, void (*fn)(prod *), prod *p,
    double flops, double blas, const double *lim, int reps)
{
	size_t q;

	for (q = 0; q < 2; q++) {
		double best;

		if (lim[q] <= 0.0)
			continue;
		tq_isa_force(isas[q]);
		best = rate(fn, p, flops, reps);
		printf("| %s | %s | %.1f | %s | %.1f | %.0f%% | %.2f |\n", name,
		    dims, blas, tq_isa_name(isas[q]), best,
		    100.0 * best / lim[q], best / blas);
	}
}

/* n floats, all 0 (calloc's), or exits */
static float *
zeros(size_t n)
{
	float *v = calloc(n, sizeof(float));

	if (v == NULL) {
		fprintf(stderr, "bench_kernels: out of memory\n");
		exit(1);
	}
	return v;
}

/* n values of a fixed pattern: the same operands every run */
static float *
pattern(size_t n, unsigned mul, unsigned mod, float off)
{
	float *v = zeros(n);
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = (float)((i * mul + 3) % mod) * 0.01f - off;
	return v;
}

/* The calibration's Hessians H += X^T X (GPTQ's), X [tokens, C]. */
static const struct {
	const char *name;
	int tokens, c;
} hshapes[] = {
	{ "smollm2 q/k/v, o, gate/up input", 2048, 576 },
	{ "smollm2 down input", 2048, 1536 },
};

/*
 * tq_det_hessian_add (one thread: the threads take its tiles) beside
 * OpenBLAS's ssyrk on the same upper triangle; FLOPs counted as the
 * triangle's, C (C + 1) tokens.
 */
static void
hessians(int reps, const double *lim)
{
	size_t s;

	printf("\n| Hessian X^T X | tokens x C | OpenBLAS ssyrk GFLOP/s | path "
	    "| ours GFLOP/s | of the FMA limit | ours / OpenBLAS |\n");
	printf("|---|---|---:|---|---:|---:|---:|\n");
	tq_set_threads(1);
	for (s = 0; s < sizeof(hshapes) / sizeof(hshapes[0]); s++) {
		int n = hshapes[s].tokens, c = hshapes[s].c;
		prod pr = { c, c, n, pattern((size_t)n * c, 7, 17, 0.08f),
		    NULL, zeros((size_t)c * c) };
		double fl = (double)c * (c + 1) * n;
		char dims[32];

		snprintf(dims, sizeof(dims), "%d x %d", n, c);
		rows(hshapes[s].name, dims, ours_hessian, &pr, fl,
		    rate(blas_syrk, &pr, fl, reps), lim, reps);
		free(pr.a);
		free(pr.c);
	}
}

int
main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 3;
	size_t s, q;
	double lim[2];

	if (reps < 1)
		reps = 1;
	openblas_set_num_threads(1);
	for (q = 0; q < 2; q++)
		lim[q] = tq_isa_force(isas[q]) ? fma_limit(isas[q]) : 0.0;
	printf("# one thread; load average %.2f; OpenBLAS core %s; FMA limit "
	    "avx512 %.1f, avx2 %.1f GFLOP/s\n", bench_load_average(),
	    openblas_get_corename(), lim[0], lim[1]);
	printf("| product | m x n x k | OpenBLAS GFLOP/s | path | ours "
	    "GFLOP/s | of the FMA limit | ours / OpenBLAS |\n");
	printf("|---|---|---:|---|---:|---:|---:|\n");
	for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		int m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
		prod pr = { m, n, k, pattern((size_t)m * k, 7, 17, 0.08f),
		    pattern((size_t)n * k, 5, 13, 0.06f),
		    zeros((size_t)m * n) };
		double fl = 2.0 * m * (double)n * k;
		char dims[48];

		snprintf(dims, sizeof(dims), "%d x %d x %d", m, n, k);
		rows(shapes[s].name, dims, ours_nt, &pr, fl,
		    rate(blas_nt, &pr, fl, reps), lim, reps);
		free(pr.a);
		free(pr.b);
		free(pr.c);
	}
	hessians(reps, lim);
	return 0;
}
