/*
 * export_ct.c: compressed-tensors checkpoints (llm-compressor's format;
 * vLLM, transformers).
 *
 * INT states, "pack-quantized", per quantized linear [N, K], b = 4 or 8:
 *   weight_packed     I32 [N, ceil(K*b/32)]  each row a bitstream of its
 *                                            codes (q_signed + 2^(b-1))
 *   weight_scale      F32 [N, G] (G = 1 per channel)
 *   weight_zero_point I32 [ceil(N*b/32), G]  asymmetric only: each group
 *                                            a bitstream of its N zeros
 *   weight_shape      I64 [2] = (N, K)
 *   weight_g_idx      I32 [K]                act-order only
 * dequantized as (q - zero) * scale.  Our code is the unsigned value the
 * package stores (its signed q plus 2^(b-1)) and our zero is its zero
 * point plus the same offset, so both are written as they are.
 *
 * FP8 states, "float-quantized": weight F8_E4M3 [N, K] and weight_scale
 * F32 [1] (per tensor), [N, 1] (per channel) or [ceil(N/128),
 * ceil(K/128)] (fp8-block128, strategy "block"), weights only.
 *
 * NVFP4 states, "nvfp4-pack-quantized" (compressed-tensors 0.13's NVFP4A16):
 *   weight_packed       U8 [N, K/2]     E2M1 nibbles, column 2j low, 2j+1 high
 *   weight_scale        F8_E4M3 [N, K/16]
 *   weight_global_scale F32 [1]         G; the package divides: s / G
 * which is our grid's value fl(s / G) * e2m1 (quant_fp4.c).  MXFP4 is not
 * written: 0.13 cannot decompress "mxfp4-pack-quantized" and its
 * compress_scale stores floor(log2 scale) + 125, two below the exponent it
 * quantized with, so no reading of our E8M0 bytes could be checked.
 *
 * Scales are F32: they hold our fp16-exact scales (and FP8's fp32 ones)
 * exactly, and the package dequantizes in the scale's dtype, so it
 * reproduces our weights bit for bit; a runtime casts them to its own
 * dtype.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "hf_export.h"
#include "model.h"
#include "qstate.h"
#include "quant.h"
#include "quant_fp4.h"

/* The compressed-tensors release whose layout this follows (NVFP4: 0.13's). */
#define CT_VERSION "0.12.2"
#define CT_VERSION_FP4 "0.13.0"

static const char ct_fits[] = "int4 or int8 per channel or in groups "
    "(w4a16, w8a16; symmetric or asymmetric; act-order), or fp8 / "
    "fp8-channel or fp8-block128, or nvfp4 (not mxfp4: compressed-tensors 0.13 cannot "
    "decompress it; not mxfp8: 0.13 has no such format)";

static int
ct_fit(const tq_scheme *s, const tq_qtensor *qt)
{
	(void)qt;
	if (s->type == TQ_QT_FP8_E4M3)	/* 0.13 has no mxfp8 format */
		return !tq_quant_mxfp8(s);
	if (s->type == TQ_QT_NVFP4)
		return 1;
	return s->type == TQ_QT_INT && (s->bits == 4 || s->bits == 8) &&
	    s->group != TQ_GROUP_TENSOR;
}

static tq_status
ct_int_layer(tq_hfx *h, size_t i, const tq_qtensor *qt, const char *name,
    void *ud, tq_error *err)
{
	int b = qt->scheme.bits, sym = qt->scheme.sym;
	int64_t N = qt->rows, K = qt->cols, G = qt->nblocks, n, g;
	int64_t KW = (K * b + 31) / 32, NW = (N * b + 31) / 32;
	uint32_t *wp, *zp = NULL, *col;
	int64_t *shape;
	uint8_t *zero;
	float *sc;
	tq_status st;

	(void)i;
	(void)ud;

	wp = tq_hfx__alloc(h, (size_t)(N * KW) * 4, err);	/* [N, KW] */
	sc = tq_hfx__alloc(h, (size_t)(N * G) * 4, err);	/* [N, G] */
	zero = tq_hfx__alloc(h, (size_t)(N * G), err);	/* [G, N] */
	col = tq_hfx__alloc(h, (size_t)NW * 4, err);		/* [NW] */
	shape = tq_hfx__alloc(h, 2 * sizeof(int64_t), err);	/* [2] */
	if (!sym)
		zp = tq_hfx__alloc(h, (size_t)(NW * G) * 4, err); /* [NW, G] */
	if (wp == NULL || sc == NULL || zero == NULL || col == NULL ||
	    shape == NULL || (!sym && zp == NULL))
		return TQ_ENOMEM;
	for (n = 0; n < N; n++)
		tq_hfx__pack(qt->codes + n * K, (size_t)K, 1, b, wp + n * KW);
	for (n = 0; n < N; n++)
		for (g = 0; g < G; g++) {
			int32_t z;

			tq_hfx__scale(qt, n, g, &sc[n * G + g], &z);
			zero[g * N + n] = (uint8_t)z;
		}
	/* The zero points are packed along N, one column per group. */
	for (g = 0; g < G && !sym; g++) {
		int64_t r;

		tq_hfx__pack(zero + g * N, (size_t)N, 1, b, col);
		for (r = 0; r < NW; r++)
			zp[r * G + g] = col[r];
	}
	shape[0] = N;
	shape[1] = K;
	{
		tq_hfx_part parts[5] = {
			{ "weight_packed", TQ_DTYPE_I32, 2, { N, KW }, wp },
			{ "weight_scale", TQ_DTYPE_F32, 2, { N, G }, sc },
			{ "weight_shape", TQ_DTYPE_I64, 1, { 2, 0 }, shape },
		};
		size_t np = 3;

		if (!sym)
			parts[np++] = (tq_hfx_part){ "weight_zero_point",
			    TQ_DTYPE_I32, 2, { NW, G }, zp };
		if (!tq_hfx__plain_groups(qt))
			parts[np++] = (tq_hfx_part){ "weight_g_idx",
			    TQ_DTYPE_I32, 1, { K, 0 }, qt->g_idx };
		st = tq_hfx__add_parts(h, name, parts, np, err);
	}
	return st;
}

static tq_status
ct_fp8_layer(tq_hfx *h, size_t i, const tq_qtensor *qt, const char *name,
    void *ud, tq_error *err)
{
	int64_t N = qt->rows, K = qt->cols, n, k, T = qt->scheme.group;
	int chan = qt->scheme.group == TQ_GROUP_CHANNEL;
	int tile = tq_quant_tiled(&qt->scheme);
	int64_t SN = tile ? (N + T - 1) / T : chan ? N : 1;
	int64_t SK = tile ? (K + T - 1) / T : 1;
	uint8_t *w;
	float *sc;
	tq_status st;

	(void)i;
	(void)ud;

	w = tq_hfx__alloc(h, (size_t)(N * K), err);		/* [N, K] */
	sc = tq_hfx__alloc(h, (size_t)(SN * SK) * 4, err);	/* [SN, SK] */
	if (w == NULL || sc == NULL)
		return TQ_ENOMEM;
	for (n = 0; n < N; n++) {
		int32_t z;

		for (k = 0; k < K; k++)
			w[n * K + k] = tq_fp8_e4m3_bits(qt->codes[n * K + k]);
		if (!tile)
			tq_hfx__scale(qt, n, 0, &sc[n < SN ? n : 0], &z);
		for (k = 0; tile && n % T == 0 && k < SK; k++)
			tq_hfx__scale(qt, n, k, &sc[n / T * SK + k], &z);
	}
	{
		/* Per channel [N, 1], per tensor [1], tiles [SN, SK]. */
		const tq_hfx_part parts[] = {
			{ "weight", TQ_DTYPE_F8_E4M3, 2, { N, K }, w },
			{ "weight_scale", TQ_DTYPE_F32, chan || tile ? 2 : 1,
			    { SN, SK }, sc },
		};

		st = tq_hfx__add_parts(h, name, parts, 2, err);
	}
	return st;
}

static tq_status
ct_nvfp4_layer(tq_hfx *h, size_t i, const tq_qtensor *qt, const char *name,
    void *ud, tq_error *err)
{
	int64_t N = qt->rows, K = qt->cols, b;
	uint8_t *wp, *sc;
	float *g;
	tq_status st;

	(void)i;
	(void)ud;
	g = tq_hfx__alloc(h, sizeof(float), err);		/* [1] */
	if (g == NULL)
		return TQ_ENOMEM;
	*g = tq_quant_global(qt);
	/* one G per module: phi3's fused parts must share it */
	for (b = 0; b < N * qt->nblocks; b++)
		if (tq_fp4_global(&qt->params[b]) != *g)
			return tq_fail(err, TQ_EINVAL, "compressed-tensors: %s: "
			    "its parts have different NVFP4 global scales; the "
			    "format has one per module", name);
	if ((st = tq_hfx__nvfp4(h, qt, &wp, &sc, err)) != TQ_OK)
		return st;
	{
		const tq_hfx_part parts[] = {
			{ "weight_packed", TQ_DTYPE_U8, 2, { N, K / 2 }, wp },
			{ "weight_scale", TQ_DTYPE_F8_E4M3, 2, { N, K / 16 }, sc },
			{ "weight_global_scale", TQ_DTYPE_F32, 1, { 1, 0 }, g },
		};

		return tq_hfx__add_parts(h, name, parts, 3, err);
	}
}

/* QuantizationArgs of the weights, as the package serialises them. */
static cJSON *
ct_weight_args(const tq_scheme *s, int act_order)
{
	cJSON *a = cJSON_CreateObject();
	int fp8 = s->type == TQ_QT_FP8_E4M3;

	if (s->type == TQ_QT_NVFP4) {	/* the package's NVFP4A16 preset */
		cJSON_AddNumberToObject(a, "num_bits", 4);
		cJSON_AddStringToObject(a, "type", "float");
		cJSON_AddBoolToObject(a, "symmetric", 1);
		cJSON_AddNumberToObject(a, "group_size", 16);
		cJSON_AddStringToObject(a, "strategy", "tensor_group");
		cJSON_AddNullToObject(a, "block_structure");
		cJSON_AddBoolToObject(a, "dynamic", 0);
		cJSON_AddNullToObject(a, "actorder");
		cJSON_AddStringToObject(a, "scale_dtype", "torch.float8_e4m3fn");
		cJSON_AddNullToObject(a, "zp_dtype");
		cJSON_AddStringToObject(a, "observer", "minmax");
		cJSON_AddObjectToObject(a, "observer_kwargs");
		return a;
	}

	cJSON_AddNumberToObject(a, "num_bits", fp8 ? 8 : s->bits);
	cJSON_AddStringToObject(a, "type", fp8 ? "float" : "int");
	cJSON_AddBoolToObject(a, "symmetric", fp8 || s->sym);
	if (s->group > 0 && !fp8)
		cJSON_AddNumberToObject(a, "group_size", s->group);
	else
		cJSON_AddNullToObject(a, "group_size");
	cJSON_AddStringToObject(a, "strategy", fp8 && s->group > 0 ? "block" :
	    s->group > 0 ? "group" : s->group == TQ_GROUP_CHANNEL ? "channel" :
	    "tensor");
	if (fp8 && s->group > 0)
		tq_json_add(a, "block_structure", cJSON_CreateIntArray(
		    (const int[]){ s->group, s->group }, 2));
	else
		cJSON_AddNullToObject(a, "block_structure");
	cJSON_AddBoolToObject(a, "dynamic", 0);
	if (act_order)
		cJSON_AddStringToObject(a, "actorder", "group");
	else
		cJSON_AddNullToObject(a, "actorder");
	cJSON_AddStringToObject(a, "observer", "minmax");
	cJSON_AddObjectToObject(a, "observer_kwargs");
	return a;
}

tq_status
tq_export_ct(tq_export_ctx *x, tq_error *err)
{
	cJSON *cfg = NULL, *q, *grp, *g0, *ign;
	tq_scheme sch;
	tq_hfx h;
	tq_status st;
	size_t i, n;
	int64_t l;
	int any_float, act_order = 0, fp8, nv;
	const char *fmt;
	tq_hfx_layer_fn fn;

	if (x->type != NULL)
		return tq_fail(err, TQ_EINVAL, "compressed-tensors: no --type "
		    "(\"%s\"): the state's grid decides (%s)", x->type,
		    ct_fits);
	if ((st = tq_hfx__init(&h, x, err)) != TQ_OK)
		goto out;
	if ((st = tq_hfx__grid(&h, "compressed-tensors", ct_fit, ct_fits,
	    &sch, &any_float, err)) != TQ_OK)
		goto out;
	fp8 = sch.type == TQ_QT_FP8_E4M3;
	nv = sch.type == TQ_QT_NVFP4;
	fmt = fp8 ? "float-quantized" : nv ? "nvfp4-pack-quantized" :
	    "pack-quantized";
	fn = fp8 ? ct_fp8_layer : nv ? ct_nvfp4_layer : ct_int_layer;
	n = tq_model_n_linears(x->model);
	for (i = 0; i + 2 < n; i++)
		act_order |= tq_hfx__is_q(&h, i) &&
		    !tq_hfx__plain_groups(&x->state->layers[i].qt);
	if ((st = tq_hfx__each(&h, fn, NULL, err)) != TQ_OK ||
	    (st = tq_hfx__write_model(&h, &cfg, err)) != TQ_OK)
		goto out;
	/* ModelCompressor.update_config's quantization_config. */
	q = cJSON_AddObjectToObject(cfg, "quantization_config");
	grp = cJSON_AddObjectToObject(q, "config_groups");
	g0 = cJSON_AddObjectToObject(grp, "group_0");
	tq_json_add(g0, "targets",
	    cJSON_CreateStringArray((const char *[]){ "Linear" }, 1));
	tq_json_add(g0, "weights", ct_weight_args(&sch, act_order));
	cJSON_AddNullToObject(g0, "input_activations");
	cJSON_AddNullToObject(g0, "output_activations");
	cJSON_AddStringToObject(g0, "format", fmt);
	cJSON_AddStringToObject(q, "format", fmt);
	cJSON_AddNullToObject(q, "global_compression_ratio");
	ign = cJSON_AddArrayToObject(q, "ignore");
	tq_json_push(ign, cJSON_CreateString("lm_head"));
	for (i = 0; any_float && i + 2 < n; i++) {
		char name[160];
		size_t first;

		/* phi3: the fused module's name, once. */
		tq_hfx__module(x->model, i, &first, name, sizeof(name));
		if (first == i && !tq_hfx__is_q(&h, i))
			tq_json_push(ign, cJSON_CreateString(name));
	}
	/* A mixture of experts' routers: float nn.Linear modules too. */
	for (l = 0; l < x->model->cfg.n_layers; l++) {
		const tq_tensor *r = x->model->layers[l].router;
		char name[160];

		if (r == NULL)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(strlen(r->name) -
		    strlen(".weight")), r->name);
		tq_json_push(ign, cJSON_CreateString(name));
	}
	cJSON_AddNullToObject(q, "kv_cache_scheme");
	cJSON_AddStringToObject(q, "quant_method", "compressed-tensors");
	cJSON_AddStringToObject(q, "quantization_status", "compressed");
	cJSON_AddObjectToObject(q, "sparsity_config");
	cJSON_AddObjectToObject(q, "transform_config");
	cJSON_AddStringToObject(q, "version", nv ? CT_VERSION_FP4 :
	    CT_VERSION);
	st = tq_hfx__finish(&h, cfg, err);
	cfg = NULL;
	if (st == TQ_OK && nv)
		snprintf(x->report->type, sizeof(x->report->type), "nvfp4a16");
	else if (st == TQ_OK && fp8)
		tq_scheme_name(&sch, x->report->type, sizeof(x->report->type));
	else if (st == TQ_OK)
		snprintf(x->report->type, sizeof(x->report->type), "w%da16",
		    sch.bits);
out:
	cJSON_Delete(cfg);
	tq_hfx__done(&h);
	return st;
}
