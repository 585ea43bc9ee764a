/*
 * export_awq.c: AutoAWQ "GEMM" safetensors checkpoints (transformers,
 * vLLM).
 *
 * Per quantized linear [N, K] with groups of gs input columns:
 *   qweight I32 [K, N/8]   8 output columns of one input row per word,
 *                          nibble slot i holding column AWQ_ORDER[i]
 *   qzeros  I32 [K/gs, N/8] the zero points, packed the same way
 *   scales  F16 [K/gs, N]
 * dequantized as (q - zero) * scale, the zero stored as it is.  Our INT
 * 4-bit grid (asymmetric, or symmetric with zero 8) is exactly this, so
 * the codes are copied and nothing is re-quantized.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "hf_export.h"
#include "qstate.h"

/* Nibble slot i of a word holds logical column AWQ_ORDER[i] of its 8. */
static const int awq_order[8] = { 0, 2, 4, 6, 1, 3, 5, 7 };

static const char awq_fits[] = "int4 groups of 32, 64 or 128 "
    "(int4-g128 or int4-g128-sym), output features a multiple of 8, no "
    "act-order; use gptq or compressed-tensors for other grids";

static int
awq_fit(const tq_scheme *s, const tq_qtensor *qt)
{
	return s->type == TQ_QT_INT && s->bits == 4 &&
	    (s->group == 32 || s->group == 64 || s->group == 128) &&
	    qt->cols % s->group == 0 && qt->rows % 8 == 0 &&
	    tq_hfx__plain_groups(qt);
}

/* The word of 8 nibbles v[c0 + AWQ_ORDER[i]] (stride apart). */
static uint32_t
awq_word(const uint8_t *v, size_t stride)
{
	uint32_t w = 0;
	int i;

	for (i = 0; i < 8; i++)
		w |= (uint32_t)(v[(size_t)awq_order[i] * stride] & 0xf) <<
		    (4 * i);
	return w;
}

static tq_status
awq_layer(tq_hfx *h, size_t i, const tq_qtensor *qt, const char *name,
    void *ud, tq_error *err)
{
	int64_t N = qt->rows, K = qt->cols, G = qt->nblocks, k, n, g;
	uint32_t *qw, *qz;
	uint16_t *sc;
	uint8_t *zero;
	tq_status st;

	(void)i;
	(void)ud;
	qw = tq_hfx__alloc(h, (size_t)(K * N / 8) * 4, err);	/* [K, N/8] */
	qz = tq_hfx__alloc(h, (size_t)(G * N / 8) * 4, err);	/* [G, N/8] */
	sc = tq_hfx__alloc(h, (size_t)(G * N) * 2, err);	/* [G, N] */
	zero = tq_hfx__alloc(h, (size_t)(G * N), err);	/* [G, N] */
	if (qw == NULL || qz == NULL || sc == NULL || zero == NULL)
		return TQ_ENOMEM;
	/* codes are [N, K]: the 8 columns of a word are 8 rows apart by K. */
	for (k = 0; k < K; k++)
		for (n = 0; n < N; n += 8)
			qw[k * (N / 8) + n / 8] = awq_word(
			    qt->codes + n * K + k, (size_t)K);
	tq_hfx__scales_t(qt, sc, zero);
	for (g = 0; g < G; g++)
		for (n = 0; n < N; n += 8)
			qz[g * (N / 8) + n / 8] = awq_word(zero + g * N + n, 1);
	{
		const tq_hfx_part parts[] = {
			{ "qweight", TQ_DTYPE_I32, 2, { K, N / 8 }, qw },
			{ "qzeros", TQ_DTYPE_I32, 2, { G, N / 8 }, qz },
			{ "scales", TQ_DTYPE_F16, 2, { G, N }, sc },
		};

		st = tq_hfx__add_parts(h, name, parts, 3, err);
	}
	return st;
}

tq_status
tq_export_awq(tq_export_ctx *x, tq_error *err)
{
	cJSON *cfg = NULL, *q, *skip;
	tq_scheme sch;
	tq_hfx h;
	tq_status st;
	size_t i, n;
	int any_float;

	if (x->type != NULL && strcmp(x->type, "gemm") != 0 &&
	    strcmp(x->type, "w4a16") != 0)
		return tq_fail(err, TQ_EINVAL, "awq: unknown type \"%s\" "
		    "(gemm, the default, is the only one)", x->type);
	if ((st = tq_hfx__init(&h, x, err)) != TQ_OK)
		goto out;
	if ((st = tq_hfx__grid(&h, "awq", awq_fit, awq_fits, &sch,
	    &any_float, err)) != TQ_OK)
		goto out;
	n = tq_model_n_linears(x->model);
	if ((st = tq_hfx__each(&h, awq_layer, NULL, err)) != TQ_OK ||
	    (st = tq_hfx__write_model(&h, &cfg, err)) != TQ_OK)
		goto out;
	/* AwqConfig.to_transformers_dict, as transformers and vLLM read it. */
	q = cJSON_AddObjectToObject(cfg, "quantization_config");
	cJSON_AddStringToObject(q, "quant_method", "awq");
	cJSON_AddBoolToObject(q, "zero_point", 1);
	cJSON_AddNumberToObject(q, "group_size", sch.group);
	cJSON_AddNumberToObject(q, "bits", 4);
	cJSON_AddStringToObject(q, "version", "gemm");
	if (any_float) {
		skip = cJSON_AddArrayToObject(q, "modules_to_not_convert");
		for (i = 0; i + 2 < n; i++) {
			char name[160];
			size_t first;

			/* phi3: the fused module's name, once. */
			tq_hfx__module(x->model, i, &first, name,
			    sizeof(name));
			if (first == i && !tq_hfx__is_q(&h, i))
				tq_json_push(skip, cJSON_CreateString(name));
		}
	} else {
		cJSON_AddNullToObject(q, "modules_to_not_convert");
	}
	st = tq_hfx__finish(&h, cfg, err);
	cfg = NULL;
	if (st == TQ_OK)
		snprintf(x->report->type, sizeof(x->report->type),
		    "w4a16-g%d", sch.group);
out:
	cJSON_Delete(cfg);
	tq_hfx__done(&h);
	return st;
}
