/*
 * gptq.c: GPTQ (Frantar et al., 2022).
 *
 * Columns are rounded one at a time; the error of each is spread over the
 * columns not yet rounded in proportion to the inverse Hessian of the
 * layer's inputs, so the layer's output error, not the weight error, is
 * what gets minimized.  As in the reference implementation: dead inputs
 * zeroed, dampening, the upper Cholesky factor of H^-1, lazy batches of
 * `block` columns, act-order, and static or on-the-fly group parameters.
 * Group parameters come from the grid interface (quant.h), so the same
 * code targets integer groups and the GGUF block types.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "error.h"
#include "gptq.h"

/* LAPACK (Fortran ABI; the trailing length is the hidden CHARACTER length). */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda,
    int *info, size_t uplo_len);
void spotri_(const char *uplo, const int *n, float *a, const int *lda,
    int *info, size_t uplo_len);

/*
 * U = the upper Cholesky factor of H^-1 (H^-1 = U^T U), in place on the
 * row-major h[n, n].  LAPACK is column-major, so its lower triangle is our
 * upper one: "L" there is U here.  Returns 0, or LAPACK's info.
 */
static int
gptq_inverse_chol(float *h, int n)
{
	int info = 0, i, j;

	spotrf_("L", &n, h, &n, &info, 1);
	if (info != 0)
		return info;
	spotri_("L", &n, h, &n, &info, 1);
	if (info != 0)
		return info;
	spotrf_("L", &n, h, &n, &info, 1);
	if (info != 0)
		return info;
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			h[(size_t)i * n + j] = 0.0f;
	return 0;
}

/* Sorting columns by decreasing Hessian diagonal (act-order). */
typedef struct gptq_diag {
	const float *H;
	int64_t cols;
} gptq_diag;

static int
gptq_cmp_diag(const void *a, const void *b, void *arg)
{
	const gptq_diag *g = arg;
	int x = *(const int *)a, y = *(const int *)b;
	float dx = g->H[x * g->cols + x], dy = g->H[y * g->cols + y];

	/* Ties by index, so the order is deterministic. */
	if (dx != dy)
		return dx > dy ? -1 : 1;
	return x - y;
}

double
tq_gptq_rel_err(const float *w, const float *q, const float *H, int64_t rows,
    int64_t cols)
{
	float *d = calloc((size_t)(rows * cols), sizeof(float));
	float *dh = calloc((size_t)(rows * cols), sizeof(float));
	double num = 0.0, den = 0.0;
	int64_t i;

	if (d == NULL || dh == NULL) {
		free(d);
		free(dh);
		return NAN;
	}
	/* num = tr(D H D^T) with D = W - Q; den = tr(W H W^T). */
	for (i = 0; i < rows * cols; i++)
		d[i] = w[i] - q[i];
	cblas_ssymm(CblasRowMajor, CblasRight, CblasUpper, (int)rows,
	    (int)cols, 1.0f, H, (int)cols, d, (int)cols, 0.0f, dh, (int)cols);
	for (i = 0; i < rows * cols; i++)
		num += (double)d[i] * dh[i];
	cblas_ssymm(CblasRowMajor, CblasRight, CblasUpper, (int)rows,
	    (int)cols, 1.0f, H, (int)cols, w, (int)cols, 0.0f, dh, (int)cols);
	for (i = 0; i < rows * cols; i++)
		den += (double)w[i] * dh[i];
	free(d);
	free(dh);
	return den > 0.0 ? num / den : 0.0;
}

/* Per-tensor and per-channel parameters are fixed before the loop. */
static int
gptq_whole_row(const tq_scheme *s)
{
	return (s->type == TQ_QT_INT || s->type == TQ_QT_FP8_E4M3) &&
	    s->group <= 0;
}

tq_status
tq_gptq(tq_qtensor *t, float *w, const float *H, const tq_gptq_opts *o,
    double *damp_used, tq_error *err)
{
	const tq_scheme *s = &t->scheme;
	int64_t rows = t->rows, cols = t->cols, qk = t->qk;
	int64_t B = o->block > 0 ? o->block : 128;
	float *h = NULL, *wp = NULL, *err1 = NULL, *orig = NULL;
	float *imp = NULL;
	int *perm = NULL, *dead = NULL;
	double damp = o->damp > 0.0 ? o->damp : 0.01, mean = 0.0;
	tq_status st = TQ_OK;
	int64_t r, c, i1, tries;
	int info = 1;

	*damp_used = damp;
	if (o->act_order && s->type != TQ_QT_INT)
		return tq_fail(err, TQ_EINVAL,
		    "act-order needs an integer scheme (the %s blocks are "
		    "contiguous columns)", s->type == TQ_QT_NF4 ? "nf4" : "GGUF");
	h = malloc((size_t)(cols * cols) * sizeof(float));
	wp = malloc((size_t)(rows * cols) * sizeof(float));
	err1 = malloc((size_t)(rows * B) * sizeof(float));
	perm = malloc((size_t)cols * sizeof(int));
	dead = calloc((size_t)cols, sizeof(int));
	imp = o->imp != NULL ? malloc((size_t)cols * sizeof(float)) : NULL;
	if (h == NULL || wp == NULL || err1 == NULL || perm == NULL ||
	    dead == NULL || (o->imp != NULL && imp == NULL)) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory for GPTQ on a "
		    "[%lld, %lld] weight", (long long)rows, (long long)cols);
		goto out;
	}

	/* Column order: identity, or by decreasing diagonal (act-order). */
	for (c = 0; c < cols; c++) {
		perm[c] = (int)c;
		dead[c] = !(H[c * cols + c] > 0.0f);
	}
	if (o->act_order) {
		gptq_diag g = { H, cols };

		qsort_r(perm, (size_t)cols, sizeof(int), gptq_cmp_diag, &g);
	}
	/* Permuted copies; dead inputs (never active) get weight 0. */
	for (r = 0; r < rows; r++)
		for (c = 0; c < cols; c++)
			wp[r * cols + c] = dead[perm[c]] ? 0.0f :
			    w[r * cols + perm[c]];
	if (imp != NULL)
		for (c = 0; c < cols; c++)
			imp[c] = o->imp[perm[c]];
	for (c = 0; c < cols; c++)
		mean += dead[c] ? 1.0 : H[c * cols + c];
	mean /= (double)cols;

	/* H^-1's Cholesky factor, dampening more while H is not definite. */
	for (tries = 0; tries < 5 && info != 0; tries++) {
		int64_t a, b;

		for (a = 0; a < cols; a++)
			for (b = 0; b < cols; b++)
				h[a * cols + b] = H[(int64_t)perm[a] * cols +
				    perm[b]];
		for (a = 0; a < cols; a++)
			h[a * cols + a] = (dead[perm[a]] ? 1.0f :
			    h[a * cols + a]) + (float)(damp * mean);
		info = gptq_inverse_chol(h, (int)cols);
		if (info != 0)
			damp *= 10.0;
	}
	*damp_used = damp;
	if (info != 0) {
		st = tq_fail(err, TQ_EFORMAT,
		    "the Hessian is not positive definite even with dampening "
		    "%.3g (LAPACK info %d)", damp, info);
		goto out;
	}

	/* Static groups and whole-row schemes get parameters up front. */
	if (s->group == TQ_GROUP_TENSOR) {
		tq_quant_tensor_params(s, wp, rows, cols, &t->params[0]);
		for (r = 0; r < rows; r++)
			for (c = 0; c < t->nblocks; c++)
				t->params[r * t->nblocks + c] = t->params[0];
	} else if (gptq_whole_row(s) || o->static_groups) {
		if ((orig = malloc((size_t)(rows * cols) * sizeof(float))) == NULL) {
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(orig, wp, (size_t)(rows * cols) * sizeof(float));
		for (r = 0; r < rows; r++)
			for (c = 0; c < cols; c += qk)
				tq_quant_block_params(s, orig + r * cols + c,
				    imp != NULL ? imp + c : NULL,
				    cols - c < qk ? cols - c : qk,
				    o->clip_search,
				    &t->params[r * t->nblocks + c / qk]);
	}

	for (i1 = 0; i1 < cols; i1 += B) {
		int64_t i2 = i1 + B < cols ? i1 + B : cols, n1 = i2 - i1, i;

		for (i = 0; i < n1; i++) {
			int64_t col = i1 + i, j = col % qk, b = col / qk;
			float d = h[col * cols + col];
			const float *urow = h + col * cols;

			/* A new group: parameters from the current weights. */
			if (j == 0 && orig == NULL && s->group != TQ_GROUP_TENSOR)
				for (r = 0; r < rows; r++)
					tq_quant_block_params(s,
					    wp + r * cols + col,
					    imp != NULL ? imp + col : NULL,
					    cols - col < qk ? cols - col : qk,
					    o->clip_search,
					    &t->params[r * t->nblocks + b]);
			for (r = 0; r < rows; r++) {
				float *row = wp + r * cols;
				tq_grid g;
				float q, e;
				int code;
				int64_t k;

				tq_quant_grid(s, &t->params[r * t->nblocks + b],
				    j, &g);
				code = tq_grid_round(&g, row[col]);
				q = tq_grid_value(&g, code);
				t->codes[r * cols + col] = (uint8_t)(code - g.qmin);
				e = (row[col] - q) / d;
				row[col] = q;
				err1[r * B + i] = e;
				/* Spread the error over the rest of the block. */
				for (k = col + 1; k < i2; k++)
					row[k] -= e * urow[k];
			}
		}
		/* Lazy update: the columns after the block, all at once. */
		if (i2 < cols)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
			    (int)rows, (int)(cols - i2), (int)n1, -1.0f, err1,
			    (int)B, h + i1 * cols + i2, (int)cols, 1.0f,
			    wp + i2, (int)cols);
	}

	/* Back to the original column order. */
	for (r = 0; r < rows; r++)
		for (c = 0; c < cols; c++)
			w[r * cols + perm[c]] = wp[r * cols + c];
	if (o->act_order) {
		uint8_t *codes = malloc((size_t)(rows * cols));

		if (t->g_idx == NULL)
			t->g_idx = malloc((size_t)cols * sizeof(int32_t));
		if (codes == NULL || t->g_idx == NULL) {
			free(codes);
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
			goto out;
		}
		for (r = 0; r < rows; r++)
			for (c = 0; c < cols; c++)
				codes[r * cols + perm[c]] = t->codes[r * cols + c];
		memcpy(t->codes, codes, (size_t)(rows * cols));
		free(codes);
		for (c = 0; c < cols; c++)
			t->g_idx[perm[c]] = (int32_t)(c / qk);
	}
out:
	free(h);
	free(wp);
	free(err1);
	free(perm);
	free(dead);
	free(imp);
	free(orig);
	return st;
}

void
tq_hessian_add(float *H, const float *x, int64_t n, int64_t C)
{
	cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)C, (int)n,
	    1.0f, x, (int)C, 1.0f, H, (int)C);
}

void
tq_hessian_finish(float *H, int64_t C)
{
	int64_t i, j;

	for (i = 0; i < C; i++)
		for (j = 0; j < i; j++)
			H[i * C + j] = H[j * C + i];
}
