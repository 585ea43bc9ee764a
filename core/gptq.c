/*
 * gptq.c: GPTQ (Frantar et al., 2022).
 *
 * Columns are rounded one at a time; the error of each is spread over the
 * columns not yet rounded in proportion to the inverse Hessian of the
 * layer's inputs, so the layer's output error, not the weight error, is
 * what gets minimized.  As in the reference implementation: dead inputs
 * zeroed, dampening, the upper Cholesky factor of H^-1, lazy batches of
 * `block` columns, act-order, and static or on-the-fly group parameters.
 * One addition: hess_shrink scales H's off-diagonal entries toward 0 (a
 * shrinkage estimate of the inputs' covariance), so the compensation
 * trusts the calibration text's correlations less; 1 leaves the diagonal
 * alone, each column rounded on its own as RTN weighted by it.
 * Group parameters come from the grid interface (quant.h), so the same
 * code targets integer groups and the GGUF block types.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_det.h"
#include "error.h"
#include "gptq.h"
#include "isa.h"
#include "quant_gguf.h"
#include "par.h"

#ifdef TQ_ISA_X86
#include <immintrin.h>
#endif
#include "no_fma.h"	/* gptq_feed: the same bytes on every path */

/*
 * The factor is blocked by hand rather than left to LAPACK, whose threaded
 * spotrf/strtri (and OpenBLAS's threaded level-3 calls under them) change
 * their last bits with the thread count.  The diagonal blocks are ours
 * (double sums in one order) and the rest is blas_det.h's tiled calls.
 * The block is fixed, never derived from the thread count.
 */
#define GPTQ_NB 128

/*
 * The lower Cholesky factor of the diagonal block a[nb, nb] (row stride
 * lda), in place.  Returns 0, or j + 1 if its leading j + 1 minor is not
 * positive definite (LAPACK's info).
 */
static int
gptq_potf2(float *a, int64_t lda, int64_t nb)
{
	int64_t i, j, p;

	for (j = 0; j < nb; j++) {
		float *aj = a + j * lda;
		double d = aj[j], ljj;

		for (p = 0; p < j; p++)
			d -= (double)aj[p] * aj[p];
		if (!(d > 0.0))		/* NaN too */
			return (int)j + 1;
		ljj = sqrt(d);
		aj[j] = (float)ljj;
		for (i = j + 1; i < nb; i++) {
			float *ai = a + i * lda;
			double x = ai[j];

			for (p = 0; p < j; p++)
				x -= (double)ai[p] * aj[p];
			ai[j] = (float)(x / ljj);
		}
	}
	return 0;
}

/*
 * The inverse of the lower triangular block a[nb, nb] (stride lda), in
 * place; x[nb * nb] is scratch.  Row by row: row i of L^-1 is
 * (e_i - sum_{p<i} L[i, p] X[p, :]) / L[i, i], in double.
 */
static void
gptq_trti2(float *a, int64_t lda, int64_t nb, double *x)
{
	int64_t i, j, p;

	for (i = 0; i < nb; i++) {
		const float *ai = a + i * lda;
		double *xi = x + i * nb;

		for (j = 0; j <= i; j++)
			xi[j] = i == j ? 1.0 : 0.0;
		for (p = 0; p < i; p++) {
			const double *xp = x + p * nb;
			double l = ai[p];

			for (j = 0; j <= p; j++)
				xi[j] -= l * xp[j];
		}
		for (j = 0; j <= i; j++)
			xi[j] /= ai[i];
	}
	for (i = 0; i < nb; i++)
		for (j = 0; j <= i; j++)
			a[i * lda + j] = (float)x[i * nb + j];
}

/*
 * A = L L^T, L lower, in the lower triangle of the row-major a[n, n]
 * (right-looking: factor a diagonal block, solve the panel below it,
 * update the trailing triangle).  Returns 0 or LAPACK's info.
 */
static int
gptq_potrf(float *a, int64_t n)
{
	int64_t k, kb, m;
	int info;

	for (k = 0; k < n; k += GPTQ_NB) {
		float *akk = a + k * n + k;

		kb = n - k < GPTQ_NB ? n - k : GPTQ_NB;
		if ((info = gptq_potf2(akk, n, kb)) != 0)
			return (int)k + info;
		if ((m = n - k - kb) == 0)
			break;
		/* A21 := A21 L11^-T, then A22 -= A21 A21^T. */
		tq_det_strsm_right(CblasLower, CblasTrans, m, kb, 1.0f, akk, n,
		    akk + kb * n, n);
		tq_det_ssyrk(CblasLower, m, kb, -1.0f, akk + kb * n, n, 1.0f,
		    akk + kb * n + kb, n);
	}
	return 0;
}

/*
 * L := L^-1 for the lower triangle of a[n, n], by block columns from the
 * last (LAPACK's strtri): the panel below a diagonal block becomes
 * -X22 L21 L11^-1 with X22 the already inverted trailing triangle.
 * x[GPTQ_NB^2] and work[n * GPTQ_NB] are scratch.
 */
static void
gptq_trtri(float *a, int64_t n, double *x, float *work)
{
	int64_t j, jb, m;

	for (j = (n - 1) / GPTQ_NB * GPTQ_NB; j >= 0; j -= GPTQ_NB) {
		float *ajj = a + j * n + j;

		jb = n - j < GPTQ_NB ? n - j : GPTQ_NB;
		if ((m = n - j - jb) > 0) {
			tq_det_strmm_lower_left(m, jb, ajj + jb * n + jb, n,
			    ajj + jb * n, n, work);
			tq_det_strsm_right(CblasLower, CblasNoTrans, m, jb,
			    -1.0f, ajj, n, ajj + jb * n, n);
		}
		gptq_trti2(ajj, n, jb, x);
	}
}

/* J h J for h[n, n], J the reversal of the indices: h read backwards. */
static void
gptq_reverse(float *h, int64_t n)
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
 * Returns 0, LAPACK's info if H is not positive definite, or -1 if out of
 * memory.
 */
static int
gptq_inverse_chol(float *h, int64_t n)
{
	double *x = malloc((size_t)GPTQ_NB * GPTQ_NB * sizeof(double));
	float *work = malloc((size_t)n * GPTQ_NB * sizeof(float));
	int64_t i, j;
	int info = -1;

	if (x == NULL || work == NULL)
		goto out;
	gptq_reverse(h, n);
	if ((info = gptq_potrf(h, n)) == 0) {
		gptq_trtri(h, n, x, work);
		gptq_reverse(h, n);
		for (i = 0; i < n; i++)
			for (j = 0; j < i; j++)
				h[i * n + j] = 0.0f;
	}
out:
	free(x);
	free(work);
	return info;
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
tq_hquad(const float *d, const float *H, int64_t rows, int64_t cols,
    float *work)
{
	double sum = 0.0;
	int64_t i;

	/* sgemm, not ssymm: H is whole, and OpenBLAS's sgemm is faster. */
	tq_det_sgemm(CblasNoTrans, CblasNoTrans, rows, cols, cols, 1.0f, d,
	    cols, H, cols, 0.0f, work, cols);	/* [rows, cols] D H */
	for (i = 0; i < rows * cols; i++)
		sum += (double)d[i] * work[i];
	return sum;
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
	num = tq_hquad(d, H, rows, cols, dh);
	den = tq_hquad(w, H, rows, cols, dh);
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

/*
 * row[k] -= e * u[k], k < n: a rounded column's error fed to the batch's
 * later columns.  A product then a difference, each rounded (never one
 * fused multiply-add), so every path gives the same bytes.  One AVX2 loop
 * serves the AVX-512 path too: the feed took 2.5% of a profile of the
 * quantizing step in 16 lanes, so 8 cost at most about that.
 */
#ifdef TQ_ISA_X86
__attribute__((target("avx2"))) TQ_KERNEL_LEAF static int64_t
gptq_feed_avx2(float *row, const float *u, float e, int64_t n)
{
	__m256 ev = _mm256_set1_ps(e);
	int64_t k;

	for (k = 0; k + 8 <= n; k += 8)
		_mm256_storeu_ps(row + k, _mm256_sub_ps(_mm256_loadu_ps(row + k),
		    _mm256_mul_ps(ev, _mm256_loadu_ps(u + k))));
	return k;
}
#endif

static void
gptq_feed(float *row, const float *u, float e, int64_t n)
{
	int64_t k = 0;

	if (n <= 0)
		return;
	TQ_KERNEL_SPAN(row, n - 1);
	TQ_KERNEL_SPAN(u, n - 1);
#ifdef TQ_ISA_X86
	if (tq_isa() != TQ_ISA_PORTABLE)
		k = gptq_feed_avx2(row, u, e, n);
#endif
	for (; k < n; k++) {
		float p = e * u[k];	/* rounded apart, as the vectors do */

		row[k] -= p;
	}
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
	const tq_gptq_opts *o;	/* for its on_col */
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
	int64_t G = tq_gguf_group(s->type), r, col, k;

	for (r = r0; r < r1; r++) {
		float *row = b->wp + r * cols, *e_row = b->err1 + r * b->B;
		tq_qparams *p = t->params + r * t->nblocks;
		uint8_t *code = t->codes + r * cols;
		tq_grid g;

		for (col = b->i1; col < b->i2; col++) {
			const float *urow = b->u + col * cols;
			int64_t j = col % qk;
			float q, d, e;
			int c;

			/* A new group: parameters from the current weights. */
			if (j == 0 && b->group_params)
				tq_quant_block_params(s, row + col,
				    b->imp != NULL ? b->imp + col : NULL,
				    cols - col < qk ? cols - col : qk,
				    b->clip_search, &p[col / qk]);
			/* a K-quant's later sub-block: its scale again */
			else if (j % span == 0 && b->group_params &&
			    b->clip_search)
				tq_quant_sub_params(s, row + col,
				    b->imp != NULL ? b->imp + col : NULL, j,
				    &p[col / qk]);
			if (col == b->i1 || j % span == 0)
				tq_quant_grid(s, &p[col / qk], j, &g);
			/*
			 * A lattice group: its G codes chosen together from
			 * the current values, each weighed as GPTQ weighs a
			 * column's error (1 / U_cc^2); the columns are then
			 * fixed one at a time as below, each error fed on.
			 */
			if (G > 1 && j % G == 0) {
				float gw[8];

				for (k = 0; k < G; k++) {
					float uc = b->u[(col + k) * cols + col + k];

					gw[k] = 1.0f / (uc * uc);
				}
				tq_gguf_round_group(s->type, &p[col / qk], j,
				    row + col, gw, code + col);
			}
			c = G > 1 ? code[col] + g.qmin : tq_grid_round(&g,
			    row[col]);
			q = tq_grid_value(&g, c);
			code[col] = (uint8_t)(c - g.qmin);
			d = row[col] - q;
			e = d / urow[col];
			row[col] = q;
			e_row[col - b->i1] = e;
			gptq_feed(row + col + 1, urow + col + 1, e,
			    b->i2 - col - 1);
			if (b->o->on_col != NULL)
				b->o->on_col(b->o->col_ud, r, col, row, q, d);
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
	float keep = (float)(1.0 - o->hess_shrink);	/* off the diagonal */
	tq_status st = TQ_OK;
	int64_t r, c, i1, tries;
	gptq_batch br;
	int info = 1;

	*damp_used = damp;
	if (!(o->hess_shrink >= 0.0 && o->hess_shrink <= 1.0))
		return tq_fail(err, TQ_EINVAL, "GPTQ: hess_shrink must be in "
		    "[0, 1], not %g", o->hess_shrink);
	/* a lattice group never straddles two batches */
	if (B % tq_gguf_group(s->type) != 0)
		B += tq_gguf_group(s->type) - B % tq_gguf_group(s->type);
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
				    perm[b]] * (a == b ? 1.0f : keep);
		for (a = 0; a < cols; a++)
			h[a * cols + a] = (dead[perm[a]] ? 1.0f :
			    h[a * cols + a]) + (float)(damp * mean);
		info = gptq_inverse_chol(h, cols);
		if (info < 0)
			break;
		if (info != 0 && tries < 4)	/* the message names the last */
			damp *= 10.0;
	}
	*damp_used = damp;
	if (info < 0) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
		goto out;
	}
	if (info != 0) {
		st = tq_fail(err, TQ_EFORMAT,
		    "the Hessian is not positive definite even with dampening "
		    "%.3g (pivot %d)", damp, info);
		goto out;
	}

	/* Static groups and whole-row schemes get parameters up front. */
	if (s->group == TQ_GROUP_TENSOR || s->type == TQ_QT_NVFP4) {
		/* NVFP4: its global scale, from the weights before GPTQ */
		tq_quant_tensor_params(s, wp, rows, cols, &t->params[0]);
		for (r = 0; r < rows; r++)
			for (c = 0; c < t->nblocks; c++)
				t->params[r * t->nblocks + c] = t->params[0];
	}
	/* FP8 tiles: scales from the weights before GPTQ, as per tensor */
	if (tq_quant_tiled(s))
		tq_quant_tile_params(s, wp, rows, cols, t->params);
	if (s->group != TQ_GROUP_TENSOR && !tq_quant_tiled(s) &&
	    (gptq_whole_row(s) || o->static_groups)) {
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
	br.group_params = orig == NULL && s->group != TQ_GROUP_TENSOR &&
	    !tq_quant_tiled(s);
	br.o = o;
	for (i1 = 0; i1 < cols; i1 += B) {
		int64_t i2 = i1 + B < cols ? i1 + B : cols;

		br.i1 = i1;
		br.i2 = i2;
		tq_par_rows(gptq_batch_rows, &br, rows, (i2 - i1) * (i2 - i1),
		    GPTQ_MIN_WORK);
		/* Lazy update: the columns after the batch, all at once. */
		if (i2 < cols)
			tq_det_sgemm(CblasNoTrans, CblasNoTrans, rows,
			    cols - i2, i2 - i1, -1.0f, err1, B,
			    h + i1 * cols + i2, cols, 1.0f, wp + i2, cols);
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
	tq_det_hessian_add(C, n, x, C, H, C);
}

void
tq_hessian_finish(float *H, int64_t C)
{
	int64_t i, j;

	for (i = 0; i < C; i++)
		for (j = 0; j < i; j++)
			H[i * C + j] = H[j * C + i];
}

/* on_col of the trace: keeps column col's value, error and the row. */
static void
gptq_trace_col(void *ud, int64_t r, int64_t col, const float *row, float q,
    float d)
{
	tq_gptq_trace *t = ud;

	(void)r;
	t->q[col] = q;
	t->d[col] = d;
	memcpy(t->w + (col + 1) * t->cols, row,
	    (size_t)t->cols * sizeof(float));
}

void
tq_gptq_trace_free(tq_gptq_trace *t)
{
	free(t);	/* one block, the arrays after the struct */
}

tq_status
tq_gptq_trace_row(const tq_scheme *s, const float *w, const float *H,
    int64_t cols, const tq_gptq_trace_opts *opts, tq_gptq_trace **out,
    tq_error *err)
{
	tq_gptq_trace_opts def = TQ_GPTQ_TRACE_OPTS_INIT;
	tq_gptq_trace *t;
	tq_gptq_opts go;
	tq_qtensor qt;
	float *dq = NULL;
	tq_status st;
	size_t nf;
	int64_t k;

	*out = NULL;
	if (opts == NULL)
		opts = &def;
	if ((st = tq_version_check(opts->version, TQ_GPTQ_TRACE_OPTS_VERSION,
	    "tq_gptq_trace_opts", "TQ_GPTQ_TRACE_OPTS_INIT", err)) != TQ_OK)
		return st;
	if (cols < 1 || cols > TQ_GPTQ_TRACE_MAX_COLS)
		return tq_fail(err, TQ_EINVAL, "a GPTQ trace takes 1 to %d "
		    "columns, not %lld", TQ_GPTQ_TRACE_MAX_COLS,
		    (long long)cols);
	if ((st = tq_scheme_check(s, 1, cols, err)) != TQ_OK)
		return st;
	/* The struct, then doubles, floats and bytes, in one block. */
	nf = (size_t)(3 * cols + (cols + 1) * cols);
	t = calloc(1, sizeof(*t) + (size_t)(cols + 1) * sizeof(double) +
	    nf * sizeof(float) + 2 * (size_t)cols);
	dq = malloc((size_t)cols * sizeof(float));	/* [cols] */
	memset(&qt, 0, sizeof(qt));
	if (t == NULL || dq == NULL) {
		free(t);
		free(dq);
		return tq_fail(err, TQ_ENOMEM, "out of memory for a GPTQ "
		    "trace");
	}
	t->cols = cols;
	t->rel_err = (double *)(t + 1);
	t->q = (float *)(t->rel_err + cols + 1);
	t->d = t->q + cols;
	t->rtn = t->d + cols;
	t->w = t->rtn + cols;
	t->codes = (uint8_t *)(t->w + (cols + 1) * cols);
	t->rtn_codes = t->codes + cols;

	/* One batch of all the columns: each step's row is complete. */
	memcpy(dq, w, (size_t)cols * sizeof(float));
	memset(&go, 0, sizeof(go));
	go.damp = opts->damp;
	go.block = cols;
	go.on_col = gptq_trace_col;
	go.col_ud = t;
	if ((st = tq_qtensor_init(&qt, s, 1, cols, err)) != TQ_OK ||
	    (st = tq_gptq(&qt, dq, H, &go, &t->damp_used, err)) != TQ_OK)
		goto out;
	memcpy(t->codes, qt.codes, (size_t)cols);
	/* Row 0: the input as tq_gptq starts from it (dead inputs 0). */
	for (k = 0; k < cols; k++)
		t->w[k] = H[k * cols + k] > 0.0f ? w[k] : 0.0f;
	for (k = 0; k <= cols; k++)
		t->rel_err[k] = tq_gptq_rel_err(w, t->w + k * cols, H, 1, cols);

	/* Round-to-nearest of the same row, for comparison. */
	tq_quant_rtn(&qt, w, NULL, 0);
	tq_qtensor_dequant(&qt, t->rtn);
	memcpy(t->rtn_codes, qt.codes, (size_t)cols);
	t->rtn_rel_err = tq_gptq_rel_err(w, t->rtn, H, 1, cols);
	for (k = 0; k <= cols; k++)
		if (!isfinite(t->rel_err[k]))
			break;
	if (k <= cols || !isfinite(t->rtn_rel_err))
		st = tq_fail(err, TQ_EFORMAT, "the output error of the GPTQ "
		    "trace is not finite (H holds NaN or Inf?)");
out:
	tq_qtensor_done(&qt);
	free(dq);
	if (st != TQ_OK) {
		tq_gptq_trace_free(t);
		return st;
	}
	*out = t;
	return TQ_OK;
}
