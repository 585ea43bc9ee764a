/*
 * blas_det.h: level-3 BLAS, row-major, on the engine's threads, giving the
 * same bytes for any thread count (internal).
 *
 * Each has the meaning of the cblas call of the same name, row-major; the
 * output is split into tiles whose shape follows from the problem's shape
 * alone, each one serial BLAS call, run by tq_par_tasks() with OpenBLAS
 * held at one thread meanwhile (a small sgemm is one serial call).  The
 * sums are those of the serial calls on the tiles, so they may differ in
 * the last bits from one whole cblas call, but never with the thread
 * count.  A B^T with beta 0 (or alpha = beta = 1) is not OpenBLAS's but
 * tq_sgemm_nt's (sgemm.h), whose bytes depend on nothing but the rows.
 * Any thread may call them.
 */
#ifndef TQ_CORE_BLAS_DET_H
#define TQ_CORE_BLAS_DET_H

#include <stdint.h>

#include <cblas.h>

/* C[m, n] = alpha op(A) op(B) + beta C. */
void tq_det_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m,
    int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
    const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* C[n, n] = alpha A A^T + beta C for A[n, k], the uplo triangle only. */
void tq_det_ssyrk(CBLAS_UPLO uplo, int64_t n, int64_t k, float alpha,
    const float *a, int64_t lda, float beta, float *c, int64_t ldc);

/*
 * H[n, n] += X[k, n]^T X on and above the diagonal (a few elements below
 * it, within 6 rows of it, are written too and mean nothing): the
 * engine's kernel, not OpenBLAS's, each element one chain of multiply-adds
 * over X's k rows in order (sgemm.h's tq_sgemm_tn_acc), so the same bytes
 * for any thread count and CPU, and for X added in one call or in several
 * in order.
 */
void tq_det_hessian_add(int64_t n, int64_t k, const float *x, int64_t ldx,
    float *h, int64_t ldh);

/* B[m, n] := alpha B op(A)^-1, A[n, n] triangular (non-unit diagonal). */
void tq_det_strsm_right(CBLAS_UPLO uplo, CBLAS_TRANSPOSE ta, int64_t m,
    int64_t n, float alpha, const float *a, int64_t lda, float *b,
    int64_t ldb);

/*
 * B[m, n] := X B, X[m, m] lower triangular (non-unit diagonal); work[m * n]
 * is scratch (B's old rows, which later rows read).
 */
void tq_det_strmm_lower_left(int64_t m, int64_t n, const float *x,
    int64_t ldx, float *b, int64_t ldb, float *work);

#endif /* TQ_CORE_BLAS_DET_H */
