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
#include "par.h"

/* LAPACK (Fortran ABI; the trailing lengths are the hidden CHARACTER lengths). */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda,
    int *info, size_t uplo_len);
void strtri_(const char *uplo, const char *diag, const int *n, float *a,
    const int *lda, int *info, size_t uplo_len, size_t diag_len);

/* J h J for h[n, n], J the reversal of the indices: h read backwards. */
static void
gptq_reverse(float *h, int n)
{
	size_t i, m = (size_t)n * n;

	for (i = 0; i < m / 2; i++) {
		float t = h[i];

		h[i] = h[m - 1 - i];
		h[m - 1 - i] = t;
	}
}

/*
 * U = the upper Cholesky factor of H^-1 (H^-1 = U^T U), in place on the
 * row-major h[n, n].  With J the reversal of the indices, J H J = L L^T
 * (Cholesky), so H = R R^T with R = J L J upper triangular, and H^-1 =
 * R^-T R^-1: U = R^-1 = J L^-1 J.  A factorization and a triangular
 * inverse cost 2/3 n^3, half of inverting H and factoring the inverse.
 * LAPACK is column-major, so its "U" of a symmetric h is our lower L.
 * Returns 0, or LAPACK's info.
 */
static int
gptq_inverse_chol(float *h, int n)
{
	int info = 0, i, j;

	gptq_reverse(h, n);
	spotrf_("U", &n, h, &n, &info, 1);
	if (info != 0)
		return info;
	strtri_("U", "N", &n, h, &n, &info, 1, 1);
	if (info != 0)
		return info;
	gptq_reverse(h, n);
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
	/* sgemm, not ssymm: H is whole, and OpenBLAS's sgemm is faster. */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows,
	    (int)cols, (int)cols, 1.0f, d, (int)cols, H, (int)cols, 0.0f, dh,
	    (int)cols);
	for (i = 0; i < rows * cols; i++)
		num += (double)d[i] * dh[i];
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows,
	    (int)cols, (int)cols, 1.0f, w, (int)cols, H, (int)cols, 0.0f, dh,
	    (int)cols);
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

/* One lazy batch of columns [i1, i2) (see gptq_batch_rows). */
typedef struct gptq_batch {
	tq_qtensor *t;
	float *wp;		/* [rows, cols] weights, permuted, being rounded */
	float *err1;		/* [rows, B] each rounded column's error / U_cc */
	const float *u;		/* [cols, cols] U, H^-1 = U^T U */
	const float *imp;	/* [cols] permuted importance, or NULL */
	int64_t B, i1, i2;
	int clip_search;
	int group_params;	/* a group's parameters when it starts */
} gptq_batch;

/* Work worth a thread, counted as a row of a batch is: its width squared. */
#define GPTQ_MIN_WORK (1 << 20)

/*
 * Rounds columns [i1, i2) of rows [r0, r1) (tq_rows_fn).  Each rounding
 * error goes to the row's later columns of the batch through U's row;
 * rows never touch each other, so they can go one after the other (a row
 * of the batch stays in cache) and on any thread.
 */
static void
gptq_batch_rows(void *arg, int64_t r0, int64_t r1)
{
	const gptq_batch *b = arg;
	tq_qtensor *t = b->t;
	const tq_scheme *s = &t->scheme;
	int64_t cols = t->cols, qk = t->qk, span = tq_quant_span(s, qk);
	int64_t r, col, k;

	for (r = r0; r < r1; r++) {
		float *row = b->wp + r * cols, *e_row = b->err1 + r * b->B;
		tq_qparams *p = t->params + r * t->nblocks;
		uint8_t *code = t->codes + r * cols;
		tq_grid g;

		for (col = b->i1; col < b->i2; col++) {
			const float *urow = b->u + col * cols;
			int64_t j = col % qk;
			float q, e;
			int c;

			/* A new group: parameters from the current weights. */
			if (j == 0 && b->group_params)
				tq_quant_block_params(s, row + col,
				    b->imp != NULL ? b->imp + col : NULL,
				    cols - col < qk ? cols - col : qk,
				    b->clip_search, &p[col / qk]);
			if (col == b->i1 || j % span == 0)
				tq_quant_grid(s, &p[col / qk], j, &g);
			c = tq_grid_round(&g, row[col]);
			q = tq_grid_value(&g, c);
			code[col] = (uint8_t)(c - g.qmin);
			e = (row[col] - q) / urow[col];
			row[col] = q;
			e_row[col - b->i1] = e;
			for (k = col + 1; k < b->i2; k++)
				row[k] -= e * urow[k];
		}
	}
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
	gptq_batch br;
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
		if (info != 0 && tries < 4)	/* the message names the last */
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

	br.t = t;
	br.wp = wp;
	br.err1 = err1;
	br.u = h;
	br.imp = imp;
	br.B = B;
	br.clip_search = o->clip_search;
	br.group_params = orig == NULL && s->group != TQ_GROUP_TENSOR;
	for (i1 = 0; i1 < cols; i1 += B) {
		int64_t i2 = i1 + B < cols ? i1 + B : cols;

		br.i1 = i1;
		br.i2 = i2;
		tq_par_rows(gptq_batch_rows, &br, rows, (i2 - i1) * (i2 - i1),
		    GPTQ_MIN_WORK);
		/* Lazy update: the columns after the batch, all at once. */
		if (i2 < cols)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
			    (int)rows, (int)(cols - i2), (int)(i2 - i1), -1.0f,
			    err1, (int)B, h + i1 * cols + i2, (int)cols, 1.0f,
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
