/*
 * blas_det.c: level-3 BLAS whose bytes do not depend on the thread count.
 *
 * OpenBLAS 0.3.21 splits a threaded sgemm, ssyrk, strsm or strmm in ways
 * that change an element's last bits: with 2, 3 or 4 threads instead of 1
 * even a 64 x 64 x 100 sgemm differs in a quarter of its elements.  Here
 * the output is cut into tiles of a fixed size, each computed by one
 * serial BLAS call (OpenBLAS held at one thread), and the tiles run on the
 * engine's threads.  A tile's shape never depends on the thread count, so
 * neither does any element's sum.
 */
#include "config.h"

#include <string.h>

#include "blas_det.h"
#include "par.h"
#include "sgemm.h"

/* Tile side: large enough for a serial call to run near its peak. */
#define DET_T 256
/*
 * sgemm: products of at most this many multiply-adds are one serial call
 * (threads would cost more than they save); larger ones get tiles DET_T
 * rows high and up to DET_TN_MAX columns wide (fewer packings of A),
 * narrowed while there are fewer than DET_MIN_TILES of them.
 */
#define DET_SMALL ((int64_t)1 << 23)
#define DET_TN_MAX (4 * DET_T)
#define DET_MIN_TILES 8

static int64_t
det_tiles(int64_t n)
{
	return (n + DET_T - 1) / DET_T;
}

static int
det_len(int64_t n, int64_t t)
{
	return (int)(n - t * DET_T < DET_T ? n - t * DET_T : DET_T);
}

/* One call's arguments, shared by its tiles (each op reads its own). */
typedef struct det_call {
	CBLAS_UPLO uplo;
	CBLAS_TRANSPOSE ta, tb;
	int64_t m, n, k, nt;	/* nt: tiles across the output's columns */
	int64_t tm, tn;		/* sgemm: tile rows and columns */
	int64_t mt;		/* sgemm: tiles across the output's rows */
	float alpha, beta;
	const float *a, *b;
	float *c;
	int64_t lda, ldb, ldc;
} det_call;

static void
det_gemm_tile(void *arg, int64_t t)
{
	const det_call *g = arg;
	int64_t i0 = t / g->nt * g->tm, j0 = t % g->nt * g->tn;
	int64_t mi = g->m - i0 < g->tm ? g->m - i0 : g->tm;
	int64_t nj = g->n - j0 < g->tn ? g->n - j0 : g->tn;
	const float *a = g->a + (g->ta == CblasNoTrans ? i0 * g->lda : i0);
	const float *b = g->b + (g->tb == CblasNoTrans ? j0 : j0 * g->ldb);

	cblas_sgemm(CblasRowMajor, g->ta, g->tb, (int)mi, (int)nj, (int)g->k,
	    g->alpha, a, (int)g->lda, b, (int)g->ldb, g->beta,
	    g->c + i0 * g->ldc + j0, (int)g->ldc);
}

/*
 * A B^T (the forward pass's x W^T) by tq_sgemm_nt, whose elements do not
 * depend on the tiles: tiles of DET_NT_M rows by DET_NT_N columns, taken
 * a column of tiles after another, so that the threads share one tile of
 * B (W's rows: an output matrix of 113 MB is not read again for every
 * tile of rows) while A's rows come from the last-level cache.
 */
#define DET_NT_M 96
#define DET_NT_N 256

static void
det_nt_tile(void *arg, int64_t t)
{
	const det_call *g = arg;
	int64_t i0 = t % g->mt * DET_NT_M, j0 = t / g->mt * DET_NT_N;
	int64_t mi = g->m - i0 < DET_NT_M ? g->m - i0 : DET_NT_M;
	int64_t nj = g->n - j0 < DET_NT_N ? g->n - j0 : DET_NT_N;

	tq_sgemm_nt(mi, nj, g->k, g->alpha, g->a + i0 * g->lda, g->lda,
	    g->b + j0 * g->ldb, g->ldb, g->beta != 0.0f, g->c + i0 * g->ldc +
	    j0, g->ldc);
}

static void
det_nt(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
    int64_t lda, const float *b, int64_t ldb, float beta, float *c,
    int64_t ldc)
{
	det_call g = { CblasUpper, CblasNoTrans, CblasTrans, m, n, k,
	    (n + DET_NT_N - 1) / DET_NT_N, 0, 0, (m + DET_NT_M - 1) / DET_NT_M,
	    alpha, beta, a, b, c, lda, ldb, ldc };
	int64_t tasks = g.mt * g.nt;

	if (m * n * k <= DET_SMALL || tasks == 1)
		tq_sgemm_nt(m, n, k, alpha, a, lda, b, ldb, beta != 0.0f, c,
		    ldc);
	else
		tq_par_tasks(det_nt_tile, &g, tasks);
}

void
tq_det_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n,
    int64_t k, float alpha, const float *a, int64_t lda, const float *b,
    int64_t ldb, float beta, float *c, int64_t ldc)
{
	det_call g = { CblasUpper, ta, tb, m, n, k, 1, m, n, 1, alpha, beta,
	    a, b, c, lda, ldb, ldc };
	int64_t tasks;

	if (m <= 0 || n <= 0)
		return;
	if (ta == CblasNoTrans && tb == CblasTrans &&
	    (beta == 0.0f || (beta == 1.0f && alpha == 1.0f))) {
		det_nt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
		return;
	}
	/* The tiles follow from the shape alone, never the thread count. */
	if (m * n * k > DET_SMALL) {
		g.tm = DET_T;
		g.tn = DET_TN_MAX;
		g.mt = det_tiles(m);
		while (g.tn > DET_T &&
		    g.mt * ((n + g.tn - 1) / g.tn) < DET_MIN_TILES)
			g.tn /= 2;
		g.nt = (n + g.tn - 1) / g.tn;
	}
	tasks = g.mt * g.nt;
	tq_blas__serial_begin();
	if (tasks == 1)
		det_gemm_tile(&g, 0);
	else
		tq_par_tasks(det_gemm_tile, &g, tasks);
	tq_blas__serial_end();
}

static void
det_syrk_tile(void *arg, int64_t t)
{
	const det_call *s = arg;
	int64_t i = t / s->nt, j = t % s->nt;
	float *c = s->c + i * DET_T * s->ldc + j * DET_T;

	if ((s->uplo == CblasLower && j > i) ||
	    (s->uplo == CblasUpper && j < i))
		return;			/* outside the triangle */
	if (i == j)
		cblas_ssyrk(CblasRowMajor, s->uplo, CblasNoTrans,
		    det_len(s->n, i), (int)s->k, s->alpha,
		    s->a + i * DET_T * s->lda, (int)s->lda, s->beta, c,
		    (int)s->ldc);
	else				/* C_ij = A_i A_j^T */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
		    det_len(s->n, i), det_len(s->n, j), (int)s->k, s->alpha,
		    s->a + i * DET_T * s->lda, (int)s->lda,
		    s->a + j * DET_T * s->lda, (int)s->lda, s->beta, c,
		    (int)s->ldc);
}

void
tq_det_ssyrk(CBLAS_UPLO uplo, int64_t n, int64_t k, float alpha,
    const float *a, int64_t lda, float beta, float *c, int64_t ldc)
{
	det_call s = { uplo, CblasNoTrans, CblasNoTrans, n, n, k,
	    det_tiles(n), DET_T, DET_T, 1, alpha, beta, a, NULL, c, lda, 0,
	    ldc };

	if (n <= 0)
		return;
	tq_blas__serial_begin();
	/* The tiles outside the triangle return at once. */
	tq_par_tasks(det_syrk_tile, &s, s.nt * s.nt);
	tq_blas__serial_end();
}

/*
 * H += X^T X by tq_sgemm_tn_acc, each element one chain over the tokens in
 * order: tiles of DET_NT_M rows by DET_NT_N columns on and above the
 * diagonal, each a strip of 6 rows at a time from the diagonal rightwards,
 * DET_TN_T tokens at a time (their columns of X stay in the second-level
 * cache while H's tile is swept).
 */
#define DET_TN_T 256

static void
det_tn_tile(void *arg, int64_t t)
{
	const det_call *s = arg;
	int64_t i0 = t / s->nt * DET_NT_M, j0 = t % s->nt * DET_NT_N;
	int64_t i1 = s->n - i0 < DET_NT_M ? s->n : i0 + DET_NT_M;
	int64_t j1 = s->n - j0 < DET_NT_N ? s->n : j0 + DET_NT_N;
	int64_t t0, r0;

	if (j1 <= i0)
		return;		/* below the diagonal */
	for (t0 = 0; t0 < s->k; t0 += DET_TN_T) {
		int64_t kc = s->k - t0 < DET_TN_T ? s->k - t0 : DET_TN_T;
		const float *x = s->a + t0 * s->lda;

		for (r0 = i0; r0 < i1; r0 += 6) {
			int64_t c0 = r0 > j0 ? r0 : j0;

			if (c0 < j1)
				tq_sgemm_tn_acc(i1 - r0 < 6 ? i1 - r0 : 6,
				    j1 - c0, kc, x + r0, s->lda, x + c0,
				    s->lda, s->c + r0 * s->ldc + c0, s->ldc);
		}
	}
}

void
tq_det_hessian_add(int64_t n, int64_t k, const float *x, int64_t ldx,
    float *h, int64_t ldh)
{
	det_call s = { CblasUpper, CblasTrans, CblasNoTrans, n, n, k,
	    (n + DET_NT_N - 1) / DET_NT_N, 0, 0, 0, 1.0f, 1.0f, x, NULL, h,
	    ldx, 0, ldh };

	if (n <= 0 || k <= 0)
		return;
	tq_par_tasks(det_tn_tile, &s, (n + DET_NT_M - 1) / DET_NT_M * s.nt);
}

static void
det_trsm_tile(void *arg, int64_t t)
{
	const det_call *s = arg;

	cblas_strsm(CblasRowMajor, CblasRight, s->uplo, s->ta, CblasNonUnit,
	    det_len(s->m, t), (int)s->n, s->alpha, s->a, (int)s->lda,
	    s->c + t * DET_T * s->ldc, (int)s->ldc);
}

void
tq_det_strsm_right(CBLAS_UPLO uplo, CBLAS_TRANSPOSE ta, int64_t m,
    int64_t n, float alpha, const float *a, int64_t lda, float *b,
    int64_t ldb)
{
	det_call s = { uplo, ta, CblasNoTrans, m, n, 0, 1, DET_T, n, 1,
	    alpha, 0.0f, a, NULL, b, lda, 0, ldb };

	if (m <= 0 || n <= 0)
		return;
	tq_blas__serial_begin();
	/* B's rows are solved independently: tiles of rows. */
	tq_par_tasks(det_trsm_tile, &s, det_tiles(m));
	tq_blas__serial_end();
}

static void
det_trmm_tile(void *arg, int64_t t)
{
	const det_call *s = arg;
	int64_t i = s->nt - 1 - t;	/* the largest tiles first */
	int64_t r0 = i * DET_T;
	float *bi = s->c + r0 * s->ldc;

	/* B_i := X_ii B_i + X[i, :r0] B[:r0] (B's old rows from b). */
	cblas_strmm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans,
	    CblasNonUnit, det_len(s->m, i), (int)s->n, 1.0f,
	    s->a + r0 * s->lda + r0, (int)s->lda, bi, (int)s->ldc);
	if (r0 > 0)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
		    det_len(s->m, i), (int)s->n, (int)r0, 1.0f,
		    s->a + r0 * s->lda, (int)s->lda, s->b, (int)s->n, 1.0f,
		    bi, (int)s->ldc);
}

void
tq_det_strmm_lower_left(int64_t m, int64_t n, const float *x, int64_t ldx,
    float *b, int64_t ldb, float *work)
{
	det_call s = { CblasLower, CblasNoTrans, CblasNoTrans, m, n, 0,
	    det_tiles(m), DET_T, n, 1, 1.0f, 1.0f, x, work, b, ldx, n, ldb };
	int64_t r;

	if (m <= 0 || n <= 0)
		return;
	for (r = 0; r < m; r++)
		memcpy(work + r * n, b + r * ldb, (size_t)n * sizeof(float));
	tq_blas__serial_begin();
	tq_par_tasks(det_trmm_tile, &s, s.nt);
	tq_blas__serial_end();
}
