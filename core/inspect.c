/*
 * inspect.c: read-only views for the workbench's detail and teaching
 * screens: a quantizable layer's weight as fp32, and round-to-nearest of a
 * weight with one block's parameters and grid laid open.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "quant.h"

tq_status
tq_model_linear_weight(const tq_model *m, size_t i, float *out, tq_error *err)
{
	const tq_tensor *t;

	if (i >= m->n_linears)
		return tq_fail(err, TQ_EINVAL, "%s: no quantizable layer %zu",
		    m->path, i);
	t = tq_model__linear_weight(m, i);
	tq_tensor_to_f32(t, 0, tq_tensor_numel(t), out);	/* [rows, cols] */
	return TQ_OK;
}

tq_status
tq_quant_view(const tq_scheme *s, const float *w, int64_t rows, int64_t cols,
    int64_t row, int64_t block, float *deq, uint8_t *codes,
    tq_group_view *g, tq_error *err)
{
	tq_qtensor t;
	const tq_qparams *p;
	tq_qscale sc;
	tq_grid grid;
	tq_status st;
	int q;

	if ((st = tq_qtensor_init(&t, s, rows, cols, err)) != TQ_OK)
		return st;
	tq_quant_rtn(&t, w, NULL, 0);
	if (deq != NULL)
		tq_qtensor_dequant(&t, deq);	/* [rows, cols] */
	if (codes != NULL)
		memcpy(codes, t.codes, (size_t)(rows * cols));
	if (g != NULL) {
		memset(g, 0, sizeof(*g));
		g->qk = t.qk;
		if (row < 0 || row >= rows || block < 0 || block >= t.nblocks) {
			tq_qtensor_done(&t);
			return tq_fail(err, TQ_EINVAL, "block (%lld, %lld) is "
			    "outside a [%lld, %lld] weight", (long long)row,
			    (long long)block, (long long)rows, (long long)cols);
		}
		p = &t.params[row * t.nblocks + block];
		tq_quant_grid(s, p, 0, &grid);
		g->scale = grid.scale;
		if (s->type == TQ_QT_INT) {
			tq_qparams_get_scale(p, &sc);
			g->scale = sc.scale;
			g->zero = sc.zero;
		}
		for (q = grid.qmin; q <= grid.qmax &&
		    g->n_levels < TQ_VIEW_MAX_LEVELS; q++)
			g->levels[g->n_levels++] = tq_grid_value(&grid, q);
	}
	tq_qtensor_done(&t);
	return TQ_OK;
}
