/*
 * gptq.h: GPTQ, Hessian-based rounding with error compensation (internal).
 */
#ifndef TQ_CORE_GPTQ_H
#define TQ_CORE_GPTQ_H

#include "quant.h"
#include "tq.h"

typedef struct tq_gptq_opts {
	double damp;		/* added to the diagonal: damp * mean diag */
	double hess_shrink;	/* off-diagonal entries times 1 - this */
	int64_t block;		/* columns per lazy update (128) */
	int act_order;		/* columns by decreasing Hessian diagonal */
	int static_groups;	/* group parameters from the original weight */
	int clip_search;	/* shrink group ranges when it helps */
	const float *imp;	/* [cols] importance for the parameters, or NULL */
	/*
	 * Called after each column of each row is rounded, or NULL (the
	 * teaching trace): row[cols] holds columns up to col rounded and the
	 * error pushed onto the later columns of the batch; q is column col's
	 * value and d = w - q its error.  Columns are in act-order's order,
	 * and rows may come from any thread.
	 */
	void (*on_col)(void *ud, int64_t r, int64_t col, const float *row,
	    float q, float d);
	void *col_ud;
} tq_gptq_opts;

/*
 * Quantizes w[rows, cols] onto t's scheme (t initialized for the shape),
 * given H[cols, cols] = X^T X of the layer's inputs (any positive scale).
 * On return w holds the dequantized weight, t the codes and parameters
 * (and g_idx with act_order), and *damp_used the dampening that made H
 * positive definite: opts->damp, multiplied by 10 up to four times when
 * Cholesky fails.  H is left unchanged.  act_order needs an INT scheme.
 * On a lattice grid (IQ3_XXS, IQ3_S, the IQ2 and IQ1 i-quants), whose codes
 * go by groups of 4 or 8 columns, each group's codes are chosen together
 * when GPTQ reaches its first column (tq_gguf_round_group, each column
 * weighed 1 / U_cc^2), and its columns' errors are then fed on one at a
 * time as for any grid.
 */
tq_status tq_gptq(tq_qtensor *t, float *w, const float *H,
    const tq_gptq_opts *o, double *damp_used, tq_error *err);

/*
 * The relative output error ||(W - Q) X||^2 / ||W X||^2 of a quantized
 * weight q against w (both [rows, cols]), from H = X^T X (both triangles,
 * as tq_hessian_finish leaves it).
 */
double tq_gptq_rel_err(const float *w, const float *q, const float *H,
    int64_t rows, int64_t cols);

/*
 * ||D X||^2 = tr(D H D^T) for d[rows, cols], from H = X^T X (both
 * triangles); work[rows, cols] is scratch.  The one output error
 * formula: GPTQ's relative error and AWQ's search both measure with it.
 */
double tq_hquad(const float *d, const float *H, int64_t rows, int64_t cols,
    float *work);

/*
 * H[C, C] += x^T x for x[n, C], on and above the diagonal (blas_det.h's
 * tq_det_hessian_add: the same bytes for any thread count and CPU; the
 * lower triangle means nothing until tq_hessian_finish).
 */
void tq_hessian_add(float *H, const float *x, int64_t n, int64_t C);
/* Mirrors the upper triangle of H[C, C] into the lower one. */
void tq_hessian_finish(float *H, int64_t C);

#endif /* TQ_CORE_GPTQ_H */
