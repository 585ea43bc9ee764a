/*
 * export_trtllm.c: checkpoints for NVIDIA TensorRT-LLM.
 *
 * Two layouts (--type):
 *   hf          (default) the Hugging Face checkpoint NVIDIA Model
 *               Optimizer's unified export writes: HF tensor names,
 *               model.safetensors, config.json and hf_quant_config.json
 *               {"producer": {"name": "modelopt"}, "quantization": {...}}
 *   checkpoint  the TensorRT-LLM checkpoint trtllm-build reads:
 *               config.json (architecture, dtype, mapping, quantization)
 *               and rank0.safetensors with TensorRT-LLM names
 *               (transformer.layers.N.attention.qkv fused, mlp.fc = gate,
 *               mlp.gate = up, mlp.proj = down)
 *
 * Algorithms, from the state's grid:
 *   W4A16_AWQ   int4 symmetric groups of 64 or 128: signed int4 q = code
 *               - 8 (our symmetric zero), no zero point, two output rows
 *               per byte (row 2i in the low nibble): weight I8 [N/2, K],
 *               scales F16 [N, K/gs], pre-quant scales [K] of ones (our
 *               AWQ folds its scales into the norms already)
 *   W8A16       int8 symmetric per channel: hf writes weight I8 [N, K]
 *               (q = code - 128) and weight_scale F16 [N]; the TensorRT-
 *               LLM checkpoint holds float weights for W8A16 (trtllm-build
 *               quantizes them itself), so checkpoint writes our
 *               dequantized weights and the report says the codes are
 *               not kept
 *   FP8_PER_CHANNEL_PER_TOKEN  fp8-channel: weight F8_E4M3 [N, K] and an
 *               F32 scale per output row; activations are scaled per token
 *               at run time, so no calibration scale is needed
 *   W4A16_NVFP4 nvfp4-pow2 or nvfp4-unit (hf only): Model Optimizer's
 *               weight-only NVFP4, weight U8 [N, K/2] two E2M1 nibbles a
 *               byte (column 2j low, 2j + 1 high, as NVFP4QTensor packs),
 *               weight_scale F8_E4M3 [N, K/16], weight_scale_2 F32 [] =
 *               1 / G.  Model Optimizer dequantizes e2m1 * (s * 1 / G)
 *               where ours is e2m1 * fl(s / G): the same bits only when G
 *               is a power of two, so plain nvfp4 is refused.  No
 *               input_scale: "NVFP4" (W4A4) would need calibrated
 *               activation scales a state does not hold.
 * Per-tensor FP8 needs static activation scales a state does not hold,
 * and is refused.  No TensorRT-LLM runs here (it needs an NVIDIA GPU):
 * the tests check these files against the documented schema only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "hf_export.h"
#include "model.h"
#include "qstate.h"
#include "tensor.h"

typedef enum trt_alg { TRT_W4A16_AWQ, TRT_W8A16, TRT_FP8_PC,
    TRT_W4A16_NVFP4 } trt_alg;

static const char *const trt_alg_names[] = { "W4A16_AWQ", "W8A16",
    "FP8_PER_CHANNEL_PER_TOKEN", "W4A16_NVFP4" };

static const char trt_fits[] = "int4-g64-sym or int4-g128-sym (W4A16_AWQ), "
    "int8-sym per channel (W8A16), fp8-channel "
    "(FP8_PER_CHANNEL_PER_TOKEN) or nvfp4-pow2 / nvfp4-unit "
    "(W4A16_NVFP4); per-tensor fp8 needs activation scales a state does "
    "not keep; Model Optimizer multiplies by weight_scale_2 = 1 / G, our "
    "division by G only for a power-of-two G: quantize nvfp4 with "
    "--scheme nvfp4-pow2";

static int
trt_fit(const tq_scheme *s, const tq_qtensor *qt)
{
	if (!tq_hfx__plain_groups(qt))
		return 0;
	if (s->type == TQ_QT_NVFP4)	/* 1 / G exact */
		return s->nv_scale == TQ_NV_POW2 || s->nv_scale == TQ_NV_UNIT;
	if (s->type == TQ_QT_FP8_E4M3)
		return s->group == TQ_GROUP_CHANNEL;
	if (s->type != TQ_QT_INT || !s->sym)
		return 0;
	if (s->bits == 4)
		return (s->group == 64 || s->group == 128) && qt->rows % 2 == 0;
	return s->bits == 8 && s->group == TQ_GROUP_CHANNEL;
}

/* One linear in TensorRT-LLM's terms: weight [wrows, wcols], scale. */
typedef struct trt_q {
	void *w;
	tq_dtype wdt;
	int64_t wrows, wcols;
	void *s;		/* NULL for W8A16 in the checkpoint layout */
	tq_dtype sdt;
	int64_t srows, scols;	/* scols 0: a vector [srows] */
} trt_q;

/* A float tensor converted to dtype dt ([numel] in a buffer of h). */
static void *
trt_convert(tq_hfx *h, const tq_tensor *t, tq_dtype dt, tq_error *err)
{
	int64_t n = tq_tensor_numel(t), i;
	float *f = malloc((size_t)(n ? n : 1) * sizeof(float));
	uint8_t *out = tq_hfx__alloc(h, (size_t)n * tq_dtype_size(dt), err);

	if (f == NULL || out == NULL) {
		free(f);
		if (f == NULL)
			tq_fail(err, TQ_ENOMEM, "out of memory");
		return NULL;
	}
	tq_tensor_to_f32(t, 0, n, f);
	for (i = 0; i < n; i++) {
		uint16_t v;

		if (dt == TQ_DTYPE_F32) {
			memcpy(out + 4 * i, &f[i], 4);
			continue;
		}
		v = dt == TQ_DTYPE_BF16 ? tq_f32_to_bf16(f[i]) :
		    tq_f32_to_f16(f[i]);
		memcpy(out + 2 * i, &v, 2);
	}
	free(f);
	return out;
}

/* Linear i of the state in TensorRT-LLM's encoding. */
static tq_status
trt_pack(tq_hfx *h, size_t i, trt_alg alg, int ckpt, tq_dtype dt, trt_q *o,
    tq_error *err)
{
	const tq_qtensor *qt = &h->x->state->layers[i].qt;
	int64_t N = qt->rows, K = qt->cols, G = qt->nblocks, n, k, g;
	float s;
	int32_t z;

	memset(o, 0, sizeof(*o));
	o->wrows = N;
	o->wcols = K;
	o->srows = N;
	if (alg == TRT_W8A16 && ckpt) {
		o->wdt = dt;
		o->w = trt_convert(h, tq_model__linear_weight(h->x->model, i),
		    dt, err);
		return o->w != NULL ? TQ_OK : TQ_ENOMEM;
	}
	if (alg == TRT_FP8_PC) {
		uint8_t *w = tq_hfx__alloc(h, (size_t)(N * K), err);
		float *sc = tq_hfx__alloc(h, (size_t)N * 4, err);

		if (w == NULL || sc == NULL)
			return TQ_ENOMEM;
		for (n = 0; n < N; n++) {
			for (k = 0; k < K; k++)
				w[n * K + k] = tq_fp8_e4m3_bits(
				    qt->codes[n * K + k]);
			tq_hfx__scale(qt, n, 0, &sc[n], &z);
		}
		o->w = w;
		o->wdt = TQ_DTYPE_F8_E4M3;
		o->s = sc;
		o->sdt = TQ_DTYPE_F32;
		o->scols = ckpt ? 0 : 1;
		return TQ_OK;
	}
	if (alg == TRT_W8A16) {
		int8_t *w = tq_hfx__alloc(h, (size_t)(N * K), err);
		uint16_t *sc = tq_hfx__alloc(h, (size_t)N * 2, err);

		if (w == NULL || sc == NULL)
			return TQ_ENOMEM;
		for (n = 0; n < N; n++) {
			for (k = 0; k < K; k++)
				w[n * K + k] = (int8_t)(qt->codes[n * K + k] -
				    128);
			tq_hfx__scale(qt, n, 0, &s, &z);
			sc[n] = tq_f32_to_f16(s);
		}
		o->w = w;
		o->wdt = TQ_DTYPE_I8;
		o->s = sc;
		o->sdt = TQ_DTYPE_F16;
		return TQ_OK;
	} else {
		/* W4A16_AWQ: rows 2r and 2r + 1 share a byte [N/2, K]. */
		uint8_t *w = tq_hfx__alloc(h, (size_t)(N / 2 * K), err);
		uint16_t *sc = tq_hfx__alloc(h, (size_t)(N * G) * 2, err);

		if (w == NULL || sc == NULL)
			return TQ_ENOMEM;
		for (n = 0; n < N; n += 2)
			for (k = 0; k < K; k++) {
				int lo = qt->codes[n * K + k] - 8;
				int hi = qt->codes[(n + 1) * K + k] - 8;

				w[n / 2 * K + k] = (uint8_t)((lo & 0xf) |
				    ((hi & 0xf) << 4));
			}
		for (n = 0; n < N; n++)
			for (g = 0; g < G; g++) {
				tq_hfx__scale(qt, n, g, &s, &z);
				sc[n * G + g] = tq_f32_to_f16(s);
			}
		o->w = w;
		o->wdt = TQ_DTYPE_I8;
		o->wrows = N / 2;
		o->s = sc;
		o->sdt = TQ_DTYPE_F16;
		o->scols = G;
		return TQ_OK;
	}
}

/* Adds o under prefix.weight and prefix.SCALE. */
static tq_status
trt_add(tq_hfx *h, const char *prefix, const trt_q *o, const char *sname,
    tq_error *err)
{
	int64_t ws[2] = { o->wrows, o->wcols }, ss[2] = { o->srows, o->scols };
	char name[192];
	tq_status st;

	snprintf(name, sizeof(name), "%s.weight", prefix);
	if ((st = tq_hfx__add_q(h, name, o->wdt, 2, ws, o->w, err)) != TQ_OK ||
	    o->s == NULL)
		return st;
	snprintf(name, sizeof(name), "%s.%s", prefix, sname);
	return tq_hfx__add_q(h, name, o->sdt, o->scols ? 2 : 1, ss, o->s,
	    err);
}

/* Ones [K] in dtype dt: the pre-quant scale of W4A16_AWQ. */
static tq_status
trt_prequant(tq_hfx *h, const char *prefix, const char *sname, int64_t K,
    tq_dtype dt, tq_error *err)
{
	uint16_t one = dt == TQ_DTYPE_BF16 ? tq_f32_to_bf16(1.0f) :
	    tq_f32_to_f16(1.0f);
	uint16_t *v = tq_hfx__alloc(h, (size_t)K * 2, err);
	char name[192];
	int64_t k;

	if (v == NULL)
		return TQ_ENOMEM;
	for (k = 0; k < K; k++)
		v[k] = one;
	snprintf(name, sizeof(name), "%s.%s", prefix, sname);
	return tq_hfx__add_q(h, name, dt, 1, &K, v, err);
}

/* Rows of parts[0..n) stacked into one (same columns, dtypes). */
static void *
trt_stack(tq_hfx *h, void *const *parts, const int64_t *rows, int n,
    int64_t cols, tq_dtype dt, tq_error *err)
{
	size_t row = (size_t)cols * tq_dtype_size(dt), total = 0, off = 0;
	uint8_t *out;
	int p;

	for (p = 0; p < n; p++)
		total += (size_t)rows[p] * row;
	if ((out = tq_hfx__alloc(h, total, err)) == NULL)
		return NULL;
	for (p = 0; p < n; p++) {
		memcpy(out + off, parts[p], (size_t)rows[p] * row);
		off += (size_t)rows[p] * row;
	}
	return out;
}

/* The model's float dtype (that of its embeddings). */
static tq_dtype
trt_dtype(const tq_model *m)
{
	return m->embed->dtype == TQ_DTYPE_BF16 ? TQ_DTYPE_BF16 :
	    m->embed->dtype == TQ_DTYPE_F32 ? TQ_DTYPE_F32 : TQ_DTYPE_F16;
}

static const char *
trt_dtype_str(tq_dtype dt)
{
	return dt == TQ_DTYPE_BF16 ? "bfloat16" : dt == TQ_DTYPE_F32 ?
	    "float32" : "float16";
}

/* A float tensor (may be NULL) under name, converted to dt. */
static tq_status
trt_add_float(tq_hfx *h, const char *name, const tq_tensor *t, tq_dtype dt,
    tq_error *err)
{
	void *d;

	if (t == NULL)
		return TQ_OK;
	if ((d = trt_convert(h, t, dt, err)) == NULL)
		return TQ_ENOMEM;
	return tq_hfx__add(h, name, dt, t->ndim, t->shape, d, err);
}

/* q, k and v biases (or gate/up pieces) stacked, converted to dt. */
static tq_status
trt_add_fused_bias(tq_hfx *h, const char *name, const tq_tensor *const *b,
    int n, tq_dtype dt, tq_error *err)
{
	void *parts[3];
	int64_t rows[3], total = 0;
	void *d;
	int p;

	if (b[0] == NULL)
		return TQ_OK;
	for (p = 0; p < n; p++) {
		if ((parts[p] = trt_convert(h, b[p], dt, err)) == NULL)
			return TQ_ENOMEM;
		rows[p] = b[p]->shape[0];
		total += rows[p];
	}
	if ((d = trt_stack(h, parts, rows, n, 1, dt, err)) == NULL)
		return TQ_ENOMEM;
	return tq_hfx__add(h, name, dt, 1, &total, d, err);
}

/* A linear of the checkpoint layout: fused from parts q/k/v or alone. */
static tq_status
trt_ckpt_linear(tq_hfx *h, const char *prefix, const size_t *idx, int n,
    trt_alg alg, tq_dtype dt, cJSON *exclude, tq_error *err)
{
	void *w[3], *s[3];
	int64_t wr[3], sr[3], wtot = 0, stot = 0;
	int64_t shape[2];
	char name[192];
	trt_q q[3], f;
	int p, nq = 0;
	tq_status st;

	for (p = 0; p < n; p++)
		nq += tq_hfx__is_q(h, idx[p]);
	if (nq != 0 && nq != n)
		return tq_fail(err, TQ_EUNSUPPORTED, "trtllm: %s fuses q, k "
		    "and v, which must be all quantized or all float (%s "
		    "differs)", prefix, tq_hfx__name(h, idx[nq ? 0 : 1]));
	if (nq == 0) {
		const tq_tensor *t[3];

		for (p = 0; p < n; p++) {
			if ((w[p] = trt_convert(h, tq_model__linear_weight(
			    h->x->model, idx[p]), dt, err)) == NULL)
				return TQ_ENOMEM;
			t[p] = tq_model__linear_weight(h->x->model, idx[p]);
			wr[p] = t[p]->shape[0];
			wtot += wr[p];
		}
		memset(&f, 0, sizeof(f));
		f.wdt = dt;
		f.wrows = wtot;
		f.wcols = t[0]->shape[1];
		if ((f.w = trt_stack(h, w, wr, n, f.wcols, dt, err)) == NULL)
			return TQ_ENOMEM;
		tq_json_push(exclude, cJSON_CreateString(prefix +
		    strlen("transformer.")));
		snprintf(name, sizeof(name), "%s.weight", prefix);
		shape[0] = f.wrows;
		shape[1] = f.wcols;
		return tq_hfx__add(h, name, dt, 2, shape, f.w, err);
	}
	for (p = 0; p < n; p++) {
		if ((st = trt_pack(h, idx[p], alg, 1, dt, &q[p], err)) != TQ_OK)
			return st;
		w[p] = q[p].w;
		s[p] = q[p].s;
		wr[p] = q[p].wrows;
		sr[p] = q[p].srows;
		wtot += wr[p];
		stot += sr[p];
		tq_hfx__mark(h, idx[p]);
	}
	f = q[0];
	f.wrows = wtot;
	f.srows = stot;
	if ((f.w = trt_stack(h, w, wr, n, f.wcols, f.wdt, err)) == NULL ||
	    (f.s != NULL && (f.s = trt_stack(h, s, sr, n, f.scols ? f.scols :
	    1, f.sdt, err)) == NULL))
		return TQ_ENOMEM;
	if ((st = trt_add(h, prefix, &f, alg == TRT_FP8_PC ?
	    "per_channel_scale" : "weights_scaling_factor", err)) != TQ_OK)
		return st;
	if (alg == TRT_W4A16_AWQ)
		return trt_prequant(h, prefix, "prequant_scaling_factor",
		    f.wcols, dt, err);
	return TQ_OK;
}

/* TensorRT-LLM's linears of a block: the HF linears they hold, in order. */
static const struct trt_linear {
	const char *name;
	int first, count;
} trt_linears[] = {
	{ "attention.qkv", 0, 3 }, { "attention.dense", 3, 1 },
	{ "mlp.fc", 4, 1 },		/* gate_proj */
	{ "mlp.gate", 5, 1 },		/* up_proj */
	{ "mlp.proj", 6, 1 },
};

/* Block l in the checkpoint layout: its linears, biases and norms. */
static tq_status
trt_ckpt_block(tq_hfx *h, int64_t l, trt_alg alg, tq_dtype dt, cJSON *ex,
    tq_error *err)
{
	const tq_layer_weights *w = &h->x->model->layers[l];
	const tq_tensor *bqkv[3] = { w->bq, w->bk, w->bv };
	const struct {
		const char *name;
		const tq_tensor *t;
	} floats[] = {
		{ "attention.dense.bias", w->bo },
		{ "mlp.fc.bias", w->b_gate },
		{ "mlp.gate.bias", w->b_up },
		{ "mlp.proj.bias", w->b_down },
		{ "input_layernorm.weight", w->attn_norm },
		{ "post_layernorm.weight", w->ffn_norm },
	};
	const size_t nl = sizeof(trt_linears) / sizeof(trt_linears[0]);
	const size_t nf = sizeof(floats) / sizeof(floats[0]);
	tq_status st = TQ_OK;
	size_t k, idx[3];
	char pre[128];
	int p;

	for (k = 0; k < nl && st == TQ_OK; k++) {
		for (p = 0; p < trt_linears[k].count; p++)
			idx[p] = (size_t)l * TQ_LINEARS_PER_LAYER +
			    (size_t)(trt_linears[k].first + p);
		snprintf(pre, sizeof(pre), "transformer.layers.%lld.%s",
		    (long long)l, trt_linears[k].name);
		st = trt_ckpt_linear(h, pre, idx, trt_linears[k].count, alg,
		    dt, ex, err);
	}
	snprintf(pre, sizeof(pre), "transformer.layers.%lld.attention.qkv.bias",
	    (long long)l);
	if (st == TQ_OK)
		st = trt_add_fused_bias(h, pre, bqkv, 3, dt, err);
	for (k = 0; k < nf && st == TQ_OK; k++) {
		snprintf(pre, sizeof(pre), "transformer.layers.%lld.%s",
		    (long long)l, floats[k].name);
		st = trt_add_float(h, pre, floats[k].t, dt, err);
	}
	return st;
}

static tq_status
trt_write_checkpoint(tq_hfx *h, trt_alg alg, const tq_scheme *sch,
    tq_error *err)
{
	const tq_model *m = h->x->model;
	const tq_model_config *c = &m->cfg;
	tq_dtype dt = trt_dtype(m);
	cJSON *cfg = cJSON_CreateObject(), *base = NULL, *q, *mp, *ex, *arch;
	const cJSON *rs;
	size_t n = tq_model_n_linears(m);
	tq_status st = TQ_OK;
	int64_t l;

	ex = cJSON_CreateArray();
	tq_json_push(ex, cJSON_CreateString("lm_head"));
	for (l = 0; l < c->n_layers && st == TQ_OK; l++) {
		st = trt_ckpt_block(h, l, alg, dt, ex, err);
		while (st == TQ_OK && h->done < (l + 1) * TQ_LINEARS_PER_LAYER)
			st = tq_hfx__step(h, err);
	}
	if (st == TQ_OK)
		st = trt_add_float(h, "transformer.vocab_embedding.weight",
		    m->embed, dt, err);
	if (st == TQ_OK)
		st = trt_add_float(h, "transformer.ln_f.weight", m->norm, dt,
		    err);
	/* TensorRT-LLM always reads lm_head (the embeddings when tied). */
	if (st == TQ_OK)
		st = trt_add_float(h, "lm_head.weight",
		    tq_model__linear_weight(m, n - 2), dt, err);
	if (st == TQ_OK)
		st = tq_hfx__write_weights(h, "rank0.safetensors", err);
	if (st == TQ_OK)
		st = tq_hfx__config(h, &base, err);
	if (st != TQ_OK) {
		cJSON_Delete(cfg);
		cJSON_Delete(ex);
		return st;
	}
	/* docs/source/architecture/checkpoint.md, plus the llama keys. */
	arch = cJSON_GetObjectItemCaseSensitive(base, "architectures");
	cJSON_AddStringToObject(cfg, "architecture", cJSON_IsArray(arch) &&
	    cJSON_IsString(cJSON_GetArrayItem(arch, 0)) ?
	    cJSON_GetArrayItem(arch, 0)->valuestring : "LlamaForCausalLM");
	cJSON_AddStringToObject(cfg, "dtype", trt_dtype_str(dt));
	cJSON_AddStringToObject(cfg, "logits_dtype", "float32");
	cJSON_AddNumberToObject(cfg, "vocab_size", (double)c->vocab_size);
	cJSON_AddNumberToObject(cfg, "max_position_embeddings",
	    (double)c->max_position_embeddings);
	cJSON_AddNumberToObject(cfg, "hidden_size", (double)c->hidden_size);
	cJSON_AddNumberToObject(cfg, "num_hidden_layers", (double)c->n_layers);
	cJSON_AddNumberToObject(cfg, "num_attention_heads", (double)c->n_heads);
	cJSON_AddNumberToObject(cfg, "num_key_value_heads",
	    (double)c->n_kv_heads);
	cJSON_AddNumberToObject(cfg, "head_size", (double)c->head_dim);
	cJSON_AddStringToObject(cfg, "hidden_act", "silu");
	cJSON_AddNumberToObject(cfg, "intermediate_size",
	    (double)c->intermediate_size);
	cJSON_AddNumberToObject(cfg, "norm_epsilon", c->rms_norm_eps);
	cJSON_AddStringToObject(cfg, "position_embedding_type",
	    "rope_gpt_neox");
	cJSON_AddNumberToObject(cfg, "rotary_base", c->rope_theta);
	rs = cJSON_GetObjectItemCaseSensitive(base, "rope_scaling");
	tq_json_add(cfg, "rotary_scaling", rs != NULL ?
	    cJSON_Duplicate(rs, 1) : cJSON_CreateNull());
	cJSON_AddBoolToObject(cfg, "attn_bias", c->attention_bias ||
	    c->qkv_bias);
	cJSON_AddBoolToObject(cfg, "mlp_bias", c->mlp_bias);
	cJSON_AddBoolToObject(cfg, "share_embedding_table", 0);
	mp = cJSON_AddObjectToObject(cfg, "mapping");
	cJSON_AddNumberToObject(mp, "world_size", 1);
	cJSON_AddNumberToObject(mp, "tp_size", 1);
	cJSON_AddNumberToObject(mp, "pp_size", 1);
	q = cJSON_AddObjectToObject(cfg, "quantization");
	cJSON_AddStringToObject(q, "quant_algo", trt_alg_names[alg]);
	cJSON_AddNullToObject(q, "kv_cache_quant_algo");
	cJSON_AddNumberToObject(q, "group_size", sch->group > 0 ? sch->group :
	    -1);
	cJSON_AddBoolToObject(q, "has_zero_point", 0);
	cJSON_AddBoolToObject(q, "pre_quant_scale", alg == TRT_W4A16_AWQ);
	tq_json_add(q, "exclude_modules", ex);
	cJSON_Delete(base);
	return tq_hfx__write_json(h, "config.json", cfg, err);
}

/*
 * An nvfp4-pow2 or nvfp4-unit linear as Model Optimizer's NVFP4QTensor
 * exports it: weight, weight_scale and weight_scale_2 = 1 / G (exact).
 */
static tq_status
trt_nvfp4(tq_hfx *h, const tq_qtensor *qt, const char *name, tq_error *err)
{
	int64_t N = qt->rows, K = qt->cols;
	uint8_t *wp, *sc;
	float *g2 = tq_hfx__alloc(h, sizeof(float), err);	/* [] */
	tq_status st;

	if (g2 == NULL)
		return TQ_ENOMEM;
	if ((st = tq_hfx__nvfp4(h, qt, &wp, &sc, err)) != TQ_OK)
		return st;
	*g2 = 1.0f / tq_quant_global(qt);
	{
		const tq_hfx_part parts[] = {
			{ "weight", TQ_DTYPE_U8, 2, { N, K / 2 }, wp },
			{ "weight_scale", TQ_DTYPE_F8_E4M3, 2, { N, K / 16 }, sc },
			{ "weight_scale_2", TQ_DTYPE_F32, 0, { 0, 0 }, g2 },
		};

		return tq_hfx__add_parts(h, name, parts, 3, err);
	}
}

/* Linear i in Model Optimizer's Hugging Face layout. */
static tq_status
trt_hf_layer(tq_hfx *h, size_t i, const tq_qtensor *qt, const char *name,
    void *ud, tq_error *err)
{
	trt_alg alg = *(const trt_alg *)ud;
	tq_dtype dt = trt_dtype(h->x->model);
	tq_status st;
	trt_q o;

	/* qt is the state's: phi3 is refused by tq_export_trtllm */
	if (alg == TRT_W4A16_NVFP4)
		return trt_nvfp4(h, qt, name, err);
	if ((st = trt_pack(h, i, alg, 0, dt, &o, err)) != TQ_OK ||
	    (st = trt_add(h, name, &o, "weight_scale", err)) != TQ_OK)
		return st;
	if (alg == TRT_W4A16_AWQ)
		st = trt_prequant(h, name, "pre_quant_scale",
		    o.wcols, dt, err);
	return st;
}

static tq_status
trt_write_hf(tq_hfx *h, trt_alg alg, const tq_scheme *sch, tq_error *err)
{
	const tq_model *m = h->x->model;
	size_t n = tq_model_n_linears(m), i;
	cJSON *hq, *p, *q, *ex, *cfg = NULL;
	tq_status st;

	if ((st = tq_hfx__each(h, trt_hf_layer, &alg, err)) != TQ_OK ||
	    (st = tq_hfx__write_model(h, &cfg, err)) != TQ_OK)
		return st;
	/* Model Optimizer's hf_quant_config.json. */
	hq = cJSON_CreateObject();
	p = cJSON_AddObjectToObject(hq, "producer");
	cJSON_AddStringToObject(p, "name", "modelopt");
	cJSON_AddStringToObject(p, "version", "turboquant-" PACKAGE_VERSION);
	q = cJSON_AddObjectToObject(hq, "quantization");
	cJSON_AddStringToObject(q, "quant_algo", trt_alg_names[alg]);
	cJSON_AddNullToObject(q, "kv_cache_quant_algo");
	if (alg == TRT_W4A16_AWQ) {
		cJSON_AddNumberToObject(q, "group_size", sch->group);
		cJSON_AddBoolToObject(q, "has_zero_point", 0);
		cJSON_AddBoolToObject(q, "pre_quant_scale", 1);
	}
	if (alg == TRT_W4A16_NVFP4)
		cJSON_AddNumberToObject(q, "group_size", 16);
	ex = cJSON_AddArrayToObject(q, "exclude_modules");
	tq_json_push(ex, cJSON_CreateString("lm_head"));
	for (i = 0; i + 2 < n; i++)
		if (!tq_hfx__is_q(h, i))
			tq_json_push(ex,
			    cJSON_CreateString(tq_hfx__name(h, i)));
	/* config.json carries the same block, as recent exports do. */
	q = cJSON_Duplicate(q, 1);
	cJSON_AddStringToObject(q, "quant_method", "modelopt");
	tq_json_add(cfg, "quantization_config", q);
	if ((st = tq_hfx__write_json(h, "hf_quant_config.json", hq, err))
	    != TQ_OK) {
		cJSON_Delete(cfg);
		return st;
	}
	return tq_hfx__write_json(h, "config.json", cfg, err);
}

tq_status
tq_export_trtllm(tq_export_ctx *x, tq_error *err)
{
	int ckpt = x->type != NULL && strcmp(x->type, "checkpoint") == 0;
	tq_scheme sch;
	tq_hfx h;
	tq_status st;
	trt_alg alg;
	int any_float;
	const char *extra = tq_model__block_extra(x->model);

	/* Neither layout has been checked against a block beyond Llama's. */
	if (extra != NULL)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: the trtllm export does "
		    "not support architecture %s (%s)", tq_model_path(x->base),
		    tq_arch_name(x->model->cfg.arch), extra);
	if (x->type != NULL && !ckpt && strcmp(x->type, "hf") != 0)
		return tq_fail(err, TQ_EINVAL, "trtllm: unknown type \"%s\" "
		    "(hf, the default: Model Optimizer's Hugging Face "
		    "checkpoint; checkpoint: config.json + rank0.safetensors)",
		    x->type);
	if ((st = tq_hfx__init(&h, x, err)) != TQ_OK)
		goto out;
	if ((st = tq_hfx__grid(&h, "trtllm", trt_fit, trt_fits, &sch,
	    &any_float, err)) != TQ_OK)
		goto out;
	alg = sch.type == TQ_QT_NVFP4 ? TRT_W4A16_NVFP4 :
	    sch.type == TQ_QT_FP8_E4M3 ? TRT_FP8_PC : sch.bits == 4 ?
	    TRT_W4A16_AWQ : TRT_W8A16;
	if (ckpt && alg == TRT_W4A16_NVFP4) {
		st = tq_fail(err, TQ_EUNSUPPORTED, "trtllm: --type checkpoint "
		    "does not hold NVFP4; --type hf (the default) writes Model "
		    "Optimizer's W4A16_NVFP4 checkpoint");
		goto out;
	}
	st = ckpt ? trt_write_checkpoint(&h, alg, &sch, err) :
	    trt_write_hf(&h, alg, &sch, err);
	if (st == TQ_OK)
		st = tq_hfx__copy_extras(&h, err);
	if (st != TQ_OK)
		goto out;
	snprintf(x->report->type, sizeof(x->report->type), "%s-%s",
	    ckpt ? "checkpoint" : "hf", trt_alg_names[alg]);
	if (ckpt && alg == TRT_W8A16) {
		tq_warn_append(x->report->warning, sizeof(x->report->warning),
		    "TensorRT-LLM's W8A16 checkpoint holds float weights: ours "
		    "are the dequantized int8 values in the model dtype, and "
		    "trtllm-build re-quantizes them on its own per-channel "
		    "grid (absmax/127), so our codes are not kept exactly");
		x->report->bpw = 0.0;
	}
out:
	tq_hfx__done(&h);
	return st;
}
