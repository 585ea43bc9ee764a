/*
 * sgemm.h: C = alpha A B^T and C = A B with one summation order on every
 * machine (internal).
 *
 * Each element of C is the dot product of a row of A and a row of B in 16
 * lanes: lane l adds the products k = l, l + 16, l + 32, ... with one fused
 * multiply-add each, in increasing k; the lanes are then added in a fixed
 * tree ((l, l + 8), (l, l + 4), (l, l + 2), (0, 1)) and the sum multiplied
 * by alpha.  AVX-512, AVX2 + FMA and the portable code do exactly these
 * operations, so C's bytes depend neither on the instruction set, nor on
 * the thread count, nor on how C is cut into tiles: only on the two rows
 * (the path is isa.h's).  This is the forward pass's product (x W^T: both
 * operands' rows are contiguous in k, so nothing is packed).
 */
#ifndef TQ_CORE_SGEMM_H
#define TQ_CORE_SGEMM_H

#include <stdint.h>

/*
 * C[m, n] = alpha A[m, k] B[n, k]^T, or C := C + A B^T when accumulate
 * (then alpha must be 1).  Serial; any thread may call it.
 */
void tq_sgemm_nt(int64_t m, int64_t n, int64_t k, float alpha,
    const float *a, int64_t lda, const float *b, int64_t ldb, int accumulate,
    float *c, int64_t ldc);

/*
 * C[m, n] = A[m, k] B[k, n]: each element one chain of fused
 * multiply-adds over k in increasing order from 0, the same on every
 * path.  Serial; any thread may call it.  (Attention's P V: V's rows are
 * contiguous in n.)
 */
void tq_sgemm_nn(int64_t m, int64_t n, int64_t k, const float *a,
    int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);

/*
 * C[m, n] := C + A[k, m]^T B[k, n]: each element continues its chain from
 * C's value, over k in increasing order, so adding k rows in one call or
 * in several calls in order gives the same bytes.  Serial.  (The
 * Hessian X^T X: A and B are the same rows of tokens, columns offset.)
 */
void tq_sgemm_tn_acc(int64_t m, int64_t n, int64_t k, const float *a,
    int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);

#endif /* TQ_CORE_SGEMM_H */
