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
 * OpenBLAS.  OpenBLAS's kernel is the one it picks for this CPU, or the
 * one OPENBLAS_CORETYPE names (this machine's environment sets Haswell).
 *
 * Usage: bench_kernels [REPS]   (default 3)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

#include "bench_util.h"
#include "isa.h"
#include "sgemm.h"

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

int
main(int argc, char **argv)
{
	static const tq_isa_id isas[] = { TQ_ISA_AVX512, TQ_ISA_AVX2 };
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
		int m = shapes[s].m, n = shapes[s].n, k = shapes[s].k, r;
		double fl = 2.0 * m * (double)n * k, blas = 0.0;
		float *a = malloc((size_t)m * k * sizeof(float));
		float *b = malloc((size_t)n * k * sizeof(float));
		float *c = malloc((size_t)m * n * sizeof(float));
		size_t i;

		if (a == NULL || b == NULL || c == NULL) {
			fprintf(stderr, "bench_kernels: out of memory\n");
			return 1;
		}
		for (i = 0; i < (size_t)m * k; i++)
			a[i] = (float)((i * 7 + 3) % 17) * 0.01f - 0.08f;
		for (i = 0; i < (size_t)n * k; i++)
			b[i] = (float)((i * 5 + 1) % 13) * 0.01f - 0.06f;
		for (r = 0; r <= reps; r++) {	/* the first warms up */
			double t0 = bench_now(), g;

			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m,
			    n, k, 1.0f, a, k, b, k, 0.0f, c, n);
			g = fl / (bench_now() - t0) * 1e-9;
			blas = r > 0 && g > blas ? g : blas;
		}
		for (q = 0; q < 2; q++) {
			double best = 0.0;

			if (lim[q] <= 0.0)
				continue;
			tq_isa_force(isas[q]);
			for (r = 0; r <= reps; r++) {
				double t0 = bench_now(), g;

				tq_sgemm_nt(m, n, k, 1.0f, a, k, b, k, 0, c, n);
				g = fl / (bench_now() - t0) * 1e-9;
				best = r > 0 && g > best ? g : best;
			}
			printf("| %s | %d x %d x %d | %.1f | %s | %.1f | %.0f%% "
			    "| %.2f |\n", shapes[s].name, m, n, k, blas,
			    tq_isa_name(isas[q]), best, 100.0 * best / lim[q],
			    best / blas);
		}
		free(a);
		free(b);
		free(c);
	}
	return 0;
}
