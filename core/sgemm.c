/*
 * sgemm.c: C = alpha A B^T, each element summed in one order everywhere.
 *
 * The order (sgemm.h): 16 lanes of fused multiply-adds in increasing k, then
 * a fixed tree over the lanes.  A tile is MR rows of A by NR rows of B, its
 * MR x NR dot products carried in registers over the whole of k; the tile
 * shape is the instruction set's (registers differ), which changes no sum.
 * Rows missing at C's edges repeat the last row and are not stored.
 *
 * OpenBLAS's kernels differ by CPU model (AVX2 and AVX-512 ones give other
 * last bits) and it is driven here by thread-independent tiles only
 * (blas_det.c); this product is the forward pass's hot loop, so its bytes
 * are the same on every machine and it runs AVX-512 where present.
 */
#include "config.h"

#include <math.h>

#include "isa.h"
#include "sgemm.h"

#ifdef TQ_ISA_X86
#include <immintrin.h>
#endif

#define SG_LANES 16
#define SG_MAX_MR 6
#define SG_MAX_NR 4
/* Rows of B per block: B's block stays in a 2nd-level cache (512 KB). */
#define SG_BLOCK_BYTES (512 * 1024)

/*
 * The path's MR x NR tile: the lane trees of rows a[r] and b[c] over k,
 * times alpha (or added to C when accumulating), into C[r, c] for the
 * first rows x cols of them.
 */
typedef void (*sg_tile_fn)(int64_t k, const float *const *a,
    const float *const *b, float alpha, int accumulate, float *c,
    int64_t ldc, int rows, int cols);

typedef struct sg_path {
	int mr, nr;
	sg_tile_fn tile;
} sg_path;

/* The lane tree on 16 partial sums. */
TQ_KERNEL_LEAF static float
sg_tree(const float *v)
{
	float s8[8], s4[4], s2[2];
	int l;

	for (l = 0; l < 8; l++)
		s8[l] = v[l] + v[l + 8];
	for (l = 0; l < 4; l++)
		s4[l] = s8[l] + s8[l + 4];
	for (l = 0; l < 2; l++)
		s2[l] = s4[l] + s4[l + 2];
	return s2[0] + s2[1];
}

/* out[r * nr + c] into C: alpha is 1 when accumulating. */
TQ_KERNEL_LEAF static void
sg_store(const float *out, int nr, float alpha, int accumulate, float *c,
    int64_t ldc, int rows, int cols)
{
	int r, j;

	for (r = 0; r < rows; r++)
		for (j = 0; j < cols; j++) {
			float v = out[r * nr + j];
			float *o = c + r * ldc + j;

			if (alpha != 1.0f)
				v *= alpha;
			*o = accumulate ? *o + v : v;
		}
}

/*
 * Portable: one dot product at a time.  Lanes past k multiply zeros, as
 * the vector paths' masked loads do (fmaf(0, 0, -0) is +0).
 */
TQ_KERNEL_LEAF static void
sg_tile_portable(int64_t k, const float *const *a, const float *const *b,
    float alpha, int accumulate, float *c, int64_t ldc, int rows, int cols)
{
	float acc[SG_LANES];
	int64_t p;
	int l;

	for (l = 0; l < SG_LANES; l++)
		acc[l] = 0.0f;
	for (p = 0; p < k; p += SG_LANES)
		for (l = 0; l < SG_LANES; l++) {
			float x = p + l < k ? a[0][p + l] : 0.0f;
			float y = p + l < k ? b[0][p + l] : 0.0f;

			acc[l] = fmaf(x, y, acc[l]);
		}
	acc[0] = sg_tree(acc);
	sg_store(acc, 1, alpha, accumulate, c, ldc, rows, cols);
}

#ifdef TQ_ISA_X86
/* The tree's last three levels on s8[l] = v[l] + v[l + 8]. */
__attribute__((target("avx"))) TQ_KERNEL_LEAF static inline float
sg_tree8(__m256 s8)
{
	__m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8),
	    _mm256_extractf128_ps(s8, 1));
	__m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));

	return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

/*
 * AVX2: 3 x 4 tiles in two passes over k, lanes 0-7 and then lanes 8-15
 * (each lane's chain is its own, so the passes change no sum): 12
 * accumulators of 8 lanes fit the 16 registers.
 */
#define SG_AVX2_MR 3
#define SG_AVX2_NR 4

/* acc[j] += the products of lanes h .. h + 7 of each 16, rows a and b[j] */
__attribute__((target("avx2,fma"))) TQ_KERNEL_LEAF static inline void
sg_pass_avx2(int64_t k, int h, const float *const *a, const float *const *b,
    __m256 acc[SG_AVX2_MR][SG_AVX2_NR])
{
	__m256 av[SG_AVX2_MR], bv;
	int64_t p;
	int r, j;

	/* 12 accumulators, A's 3 vectors, B's one at a time: 16 registers */
	for (p = h; p + 8 <= k; p += SG_LANES) {
#pragma GCC unroll 4
		for (r = 0; r < SG_AVX2_MR; r++)
			av[r] = _mm256_loadu_ps(a[r] + p);
#pragma GCC unroll 4
		for (j = 0; j < SG_AVX2_NR; j++) {
			bv = _mm256_loadu_ps(b[j] + p);
#pragma GCC unroll 4
			for (r = 0; r < SG_AVX2_MR; r++)
				acc[r][j] = _mm256_fmadd_ps(av[r], bv,
				    acc[r][j]);
		}
	}
	if (p < k) {		/* the last lanes of this half, masked */
		__m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(k - p)),
		    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

		for (r = 0; r < SG_AVX2_MR; r++)
			av[r] = _mm256_maskload_ps(a[r] + p, m);
		for (j = 0; j < SG_AVX2_NR; j++) {
			bv = _mm256_maskload_ps(b[j] + p, m);
			for (r = 0; r < SG_AVX2_MR; r++)
				acc[r][j] = _mm256_fmadd_ps(av[r], bv,
				    acc[r][j]);
		}
	}
	/* A half with no lanes left still adds fma(0, 0, acc): nothing. */
}

__attribute__((target("avx2,fma"))) TQ_KERNEL_LEAF static void
sg_tile_avx2(int64_t k, const float *const *a, const float *const *b,
    float alpha, int accumulate, float *c, int64_t ldc, int rows, int cols)
{
	__m256 lo[SG_AVX2_MR][SG_AVX2_NR], hi[SG_AVX2_MR][SG_AVX2_NR];
	float out[SG_AVX2_MR * SG_AVX2_NR];
	int r, j;

	for (r = 0; r < SG_AVX2_MR; r++)
		for (j = 0; j < SG_AVX2_NR; j++)
			lo[r][j] = hi[r][j] = _mm256_setzero_ps();
	sg_pass_avx2(k, 0, a, b, lo);
	sg_pass_avx2(k, 8, a, b, hi);
	for (r = 0; r < SG_AVX2_MR; r++)
		for (j = 0; j < SG_AVX2_NR; j++)
			out[r * SG_AVX2_NR + j] = sg_tree8(_mm256_add_ps(
			    lo[r][j], hi[r][j]));
	sg_store(out, SG_AVX2_NR, alpha, accumulate, c, ldc, rows, cols);
}

/* AVX-512: 6 x 4 tiles, 24 accumulators of 16 lanes. */
#define SG_AVX512_MR 6
#define SG_AVX512_NR 4

/*
 * The lane trees of v0 .. v3 at once, in lanes 0..3: each level adds the
 * same pairs of lanes as sg_tree, four vectors side by side.
 */
__attribute__((target("avx512f"))) TQ_KERNEL_LEAF static inline __m512
sg_tree4_avx512(__m512 v0, __m512 v1, __m512 v2, __m512 v3)
{
	/* (l, l + 8): v0's 8 sums, then v1's; v2's, then v3's */
	__m512 t01 = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x44),
	    _mm512_shuffle_f32x4(v0, v1, 0xee));
	__m512 t23 = _mm512_add_ps(_mm512_shuffle_f32x4(v2, v3, 0x44),
	    _mm512_shuffle_f32x4(v2, v3, 0xee));
	/* (l, l + 4): a 128-bit lane of 4 sums per vector */
	__m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(t01, t23, 0x88),
	    _mm512_shuffle_f32x4(t01, t23, 0xdd));
	/* (l, l + 2), then (0, 1), within each 128-bit lane */
	__m512 w = _mm512_add_ps(u, _mm512_permute_ps(u, 0x4e));

	w = _mm512_add_ps(w, _mm512_permute_ps(w, 0xb1));
	return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0), w);
}

__attribute__((target("avx512f,fma"))) TQ_KERNEL_LEAF static void
sg_tile_avx512(int64_t k, const float *const *a, const float *const *b,
    float alpha, int accumulate, float *c, int64_t ldc, int rows, int cols)
{
	__m512 acc[SG_AVX512_MR][SG_AVX512_NR], bv[SG_AVX512_NR], av;
	__mmask16 cm = (__mmask16)((1u << cols) - 1u);
	int64_t p;
	int r, j;

#pragma GCC unroll 8
	for (r = 0; r < SG_AVX512_MR; r++)
#pragma GCC unroll 4
		for (j = 0; j < SG_AVX512_NR; j++)
			acc[r][j] = _mm512_setzero_ps();
	for (p = 0; p + SG_LANES <= k; p += SG_LANES) {
#pragma GCC unroll 4
		for (j = 0; j < SG_AVX512_NR; j++)
			bv[j] = _mm512_loadu_ps(b[j] + p);
#pragma GCC unroll 8
		for (r = 0; r < SG_AVX512_MR; r++) {
			av = _mm512_loadu_ps(a[r] + p);
#pragma GCC unroll 4
			for (j = 0; j < SG_AVX512_NR; j++)
				acc[r][j] = _mm512_fmadd_ps(av, bv[j],
				    acc[r][j]);
		}
	}
	if (p < k) {		/* the last k % 16, masked */
		__mmask16 m = (__mmask16)((1u << (k - p)) - 1u);

		for (j = 0; j < SG_AVX512_NR; j++)
			bv[j] = _mm512_maskz_loadu_ps(m, b[j] + p);
		for (r = 0; r < SG_AVX512_MR; r++) {
			av = _mm512_maskz_loadu_ps(m, a[r] + p);
			for (j = 0; j < SG_AVX512_NR; j++)
				acc[r][j] = _mm512_fmadd_ps(av, bv[j],
				    acc[r][j]);
		}
	}
	for (r = 0; r < rows; r++) {
		__m512 v = sg_tree4_avx512(acc[r][0], acc[r][1], acc[r][2],
		    acc[r][3]);
		float *o = c + r * ldc;

		if (alpha != 1.0f)
			v = _mm512_mul_ps(v, _mm512_set1_ps(alpha));
		if (accumulate)	/* alpha is 1 */
			v = _mm512_add_ps(_mm512_maskz_loadu_ps(cm, o), v);
		_mm512_mask_storeu_ps(o, cm, v);
	}
}
#endif /* TQ_ISA_X86 */

static const sg_path sg_paths[TQ_ISA_AVX512 + 1] = {
	[TQ_ISA_PORTABLE] = { 1, 1, sg_tile_portable },
#ifdef TQ_ISA_X86
	[TQ_ISA_AVX2] = { SG_AVX2_MR, SG_AVX2_NR, sg_tile_avx2 },
	[TQ_ISA_AVX512] = { SG_AVX512_MR, SG_AVX512_NR, sg_tile_avx512 },
#endif
};

void
tq_sgemm_nt(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
    int64_t lda, const float *b, int64_t ldb, int accumulate, float *c,
    int64_t ldc)
{
	const sg_path *path = &sg_paths[tq_isa()];
	int64_t mr = path->mr, nr = path->nr, nb, i0, j0, j, r;
	const float *ar[SG_MAX_MR], *br[SG_MAX_NR];

	if (m > 0 && n > 0) {
		TQ_KERNEL_SPAN(c, (m - 1) * ldc + n - 1);
		if (k > 0) {
			TQ_KERNEL_SPAN(a, (m - 1) * lda + k - 1);
			TQ_KERNEL_SPAN(b, (n - 1) * ldb + k - 1);
		}
	}
	/* Rows of B per block, a multiple of the tile's. */
	nb = SG_BLOCK_BYTES / ((k > 0 ? k : 1) * (int64_t)sizeof(float));
	nb = nb < nr ? nr : nb / nr * nr;
	for (j0 = 0; j0 < n; j0 += nb) {
		int64_t j1 = n - j0 < nb ? n : j0 + nb;

		for (i0 = 0; i0 < m; i0 += mr) {
			int64_t rows = m - i0 < mr ? m - i0 : mr;

			for (r = 0; r < mr; r++)
				ar[r] = a + (i0 + (r < rows ? r : rows - 1)) *
				    lda;
			for (j = j0; j < j1; j += nr) {
				int64_t cols = j1 - j < nr ? j1 - j : nr;

				for (r = 0; r < nr; r++)
					br[r] = b + (j + (r < cols ? r :
					    cols - 1)) * ldb;
				path->tile(k, ar, br, alpha, accumulate,
				    c + i0 * ldc + j, ldc, (int)rows,
				    (int)cols);
			}
		}
	}
}

/*
 * A B and A^T B: each element one chain of fused multiply-adds in
 * increasing k, from 0 or from C's old value, vectorized over C's columns
 * (a column's chain does not depend on the vector width).  A block: C rows
 * 0 .. rows - 1 (rows <= 6) and columns 0 .. cols - 1 (cols <= the path's
 * width), A's element (r, p) at a[r * rs + p * ks], B's row p at b + p *
 * ldb.
 */
typedef struct sg_chain {
	int64_t k, rs, ks, ldb, ldc;
	int accumulate;
} sg_chain;

TQ_KERNEL_LEAF static void
sg_chain_portable(const sg_chain *g, const float *a, const float *b,
    float *c, int rows, int cols)
{
	int64_t p;
	int r, j;

	for (r = 0; r < rows; r++)
		for (j = 0; j < cols; j++) {
			float acc = g->accumulate ? c[r * g->ldc + j] : 0.0f;

			for (p = 0; p < g->k; p++)
				acc = fmaf(a[r * g->rs + p * g->ks],
				    b[p * g->ldb + j], acc);
			c[r * g->ldc + j] = acc;
		}
}

#ifdef TQ_ISA_X86
/* AVX2: 6 rows by 16 columns. */
__attribute__((target("avx2,fma"))) TQ_KERNEL_LEAF static void
sg_chain_avx2(const sg_chain *g, const float *a, const float *b, float *c,
    int rows, int cols)
{
	__m256 acc[6][2], b0, b1, av;
	__m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	__m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), idx);
	__m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), idx);
	const float *ar[6];
	int64_t p;
	int r;

	/* constant indices keep acc in registers through the k loop */
#pragma GCC unroll 6
	for (r = 0; r < 6; r++) {
		ar[r] = a + (r < rows ? r : 0) * g->rs;
		acc[r][0] = acc[r][1] = _mm256_setzero_ps();
		if (g->accumulate && r < rows) {
			acc[r][0] = _mm256_maskload_ps(c + r * g->ldc, m0);
			acc[r][1] = _mm256_maskload_ps(c + r * g->ldc + 8, m1);
		}
	}
	for (p = 0; p < g->k; p++) {
		b0 = _mm256_maskload_ps(b + p * g->ldb, m0);
		b1 = _mm256_maskload_ps(b + p * g->ldb + 8, m1);
#pragma GCC unroll 6
		for (r = 0; r < 6; r++) {
			av = _mm256_broadcast_ss(ar[r] + p * g->ks);
			acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
			acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
		}
	}
#pragma GCC unroll 6
	for (r = 0; r < 6; r++)
		if (r < rows) {
			_mm256_maskstore_ps(c + r * g->ldc, m0, acc[r][0]);
			_mm256_maskstore_ps(c + r * g->ldc + 8, m1, acc[r][1]);
		}
}

/* AVX-512: 6 rows by 64 columns. */
__attribute__((target("avx512f,fma"))) TQ_KERNEL_LEAF static void
sg_chain_avx512(const sg_chain *g, const float *a, const float *b,
    float *c, int rows, int cols)
{
	__m512 acc[6][4], bv[4], av;
	__mmask16 m[4];
	const float *ar[6];
	int64_t p;
	int r, q;

	for (q = 0; q < 4; q++) {
		int n = cols - 16 * q;

		m[q] = (__mmask16)(n >= 16 ? 0xffffu : n <= 0 ? 0u :
		    (1u << n) - 1u);
	}
	/* constant indices keep acc in registers through the k loop */
#pragma GCC unroll 6
	for (r = 0; r < 6; r++) {
		ar[r] = a + (r < rows ? r : 0) * g->rs;
#pragma GCC unroll 4
		for (q = 0; q < 4; q++)
			acc[r][q] = g->accumulate && r < rows ?
			    _mm512_maskz_loadu_ps(m[q], c + r * g->ldc +
			    16 * q) : _mm512_setzero_ps();
	}
	for (p = 0; p < g->k; p++) {
#pragma GCC unroll 4
		for (q = 0; q < 4; q++)
			bv[q] = _mm512_maskz_loadu_ps(m[q], b + p * g->ldb +
			    16 * q);
#pragma GCC unroll 6
		for (r = 0; r < 6; r++) {
			av = _mm512_set1_ps(ar[r][p * g->ks]);
#pragma GCC unroll 4
			for (q = 0; q < 4; q++)
				acc[r][q] = _mm512_fmadd_ps(av, bv[q],
				    acc[r][q]);
		}
	}
#pragma GCC unroll 6
	for (r = 0; r < 6; r++)
#pragma GCC unroll 4
		for (q = 0; q < 4; q++)
			if (r < rows)
				_mm512_mask_storeu_ps(c + r * g->ldc + 16 * q,
				    m[q], acc[r][q]);
}
#endif /* TQ_ISA_X86 */

/* C[m, n] (+)= A B by blocks of 6 rows and the path's width */
static void
sg_chains(const sg_chain *g, int64_t m, int64_t n, const float *a,
    const float *b, float *c)
{
	void (*blk)(const sg_chain *, const float *, const float *, float *,
	    int, int) = sg_chain_portable;
	int64_t nc = 64, i0, j0;

#ifdef TQ_ISA_X86
	switch (tq_isa()) {
	case TQ_ISA_AVX512:
		blk = sg_chain_avx512;
		break;
	case TQ_ISA_AVX2:
		blk = sg_chain_avx2;
		nc = 16;
		break;
	case TQ_ISA_PORTABLE:
		break;
	}
#endif
	if (m > 0 && n > 0) {
		TQ_KERNEL_SPAN(c, (m - 1) * g->ldc + n - 1);
		if (g->k > 0) {
			TQ_KERNEL_SPAN(a, (m - 1) * g->rs + (g->k - 1) * g->ks);
			TQ_KERNEL_SPAN(b, (g->k - 1) * g->ldb + n - 1);
		}
	}
	for (j0 = 0; j0 < n; j0 += nc)
		for (i0 = 0; i0 < m; i0 += 6)
			blk(g, a + i0 * g->rs, b + j0, c + i0 * g->ldc + j0,
			    (int)(m - i0 < 6 ? m - i0 : 6),
			    (int)(n - j0 < nc ? n - j0 : nc));
}

void
tq_sgemm_nn(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
    const float *b, int64_t ldb, float *c, int64_t ldc)
{
	sg_chain g = { k, lda, 1, ldb, ldc, 0 };

	sg_chains(&g, m, n, a, b, c);
}

void
tq_sgemm_tn_acc(int64_t m, int64_t n, int64_t k, const float *a,
    int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc)
{
	sg_chain g = { k, 1, lda, ldb, ldc, 1 };

	sg_chains(&g, m, n, a, b, c);
}
