/*
 * awq.h: per-channel input scales for AWQ and SmoothQuant (internal).
 *
 * Both rewrite a group of linears that share an input x[C] as
 *
 *   y = W x = (W diag(s)) (diag(s)^-1 x)
 *
 * and fold diag(s)^-1 into the op that produces x (a norm's weight, or the
 * rows of v_proj / up_proj), so the model is unchanged before rounding.
 * AWQ chooses s to protect the channels with large activations from
 * rounding error; SmoothQuant chooses s to move activation outliers into
 * the weights so int8 activations lose less.
 */
#ifndef TQ_CORE_AWQ_H
#define TQ_CORE_AWQ_H

#include <stdint.h>

#include "tq.h"

/* One linear of a group sharing an input of C channels. */
typedef struct tq_scale_layer {
	const float *w;		/* [rows, C] */
	int64_t rows;
	const tq_scheme *scheme;	/* the grid it will be rounded onto */
} tq_scale_layer;

/*
 * AWQ's search: s = mean_abs^alpha, normalized so max(s) min(s) = 1, for
 * alpha in {0, 1/n_grid, ..., (n_grid - 1)/n_grid}, minimizing the output
 * error of the group on the calibration inputs,
 *
 *   sum over layers of tr(E H E^T),  E = W - Q(W diag(s)) diag(s)^-1,
 *
 * with H[C, C] = X^T X and Q round-to-nearest onto the layer's scheme
 * (exact for the whole calibration set; large layers are measured on an
 * evenly spaced subset of their rows).  alpha = 0 is s = 1, plain RTN, so
 * the chosen scales never measure worse than RTN.  Writes s[C], *alpha
 * and the errors with the chosen s and with s = 1.  cancel (may be NULL)
 * stops the search (TQ_ECANCELLED).
 */
tq_status tq_awq_search(const tq_scale_layer *l, int n_layers,
    const float *H, const float *mean_abs, int64_t C, int n_grid,
    const int *cancel, float *s, double *alpha, double *err_best,
    double *err_rtn, tq_error *err);

/*
 * SmoothQuant's scales: s_j = absmax_x[j]^alpha / max_w[j]^(1 - alpha),
 * max_w[j] the largest |w| of column j over the group's weights; channels
 * with nothing to move keep s = 1.
 */
void tq_smooth_scales(const tq_scale_layer *l, int n_layers,
    const float *x_absmax, int64_t C, double alpha, float *s);

/*
 * GQA: the channels of head h of the attention output (o_proj's input)
 * come from kv head h / (n_heads / n_kv_heads), so scales folded into
 * v_proj rows must be equal across the heads sharing one kv head.  Makes
 * v[n_heads * hd] so by averaging over each group.
 */
void tq_awq_tie_heads(float *v, int64_t n_heads, int64_t n_kv_heads,
    int64_t hd);

#endif /* TQ_CORE_AWQ_H */
