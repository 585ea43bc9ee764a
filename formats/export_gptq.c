/*
 * export_gptq.c: GPTQ safetensors checkpoints (AutoGPTQ / GPTQModel
 * layout; transformers + optimum, vLLM, GPTQModel).
 *
 * Per quantized linear [N, K], b bits, G groups (G = 1 per channel):
 *   qweight I32 [K*b/32, N]  each column a bitstream of its K codes
 *   qzeros  I32 [G, N*b/32]  each group a bitstream of its N zeros
 *   scales  F16 [G, N]
 *   g_idx   I32 [K]          the group of every input column
 * dequantized as (q - zero) * scale.  Type "gptq" (the default, v1)
 * stores zero - 1 masked to b bits, as AutoGPTQ's pack does; loaders add
 * the 1 back.  A zero of 0 then wraps to 2^b - 1, which AutoGPTQ's masked
 * unpacking reads back but GPTQModel's v1-to-v2 word arithmetic does not:
 * the report warns, and type "gptq_v2" stores the zeros as they are.
 * The bitstream is AutoGPTQ's packing for 2, 4 and 8 bits and its
 * three-words-per-32-values packing for 3 bits.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "hf_export.h"
#include "model.h"
#include "qstate.h"

static const char gptq_fits[] = "int2, int3, int4 or int8 per channel or "
    "in groups of 32, 64, 128 or 256, symmetric or asymmetric, with or "
    "without act-order, on layers whose input and output features are "
    "multiples of 32 (AutoGPTQ's packed shapes)";

/*
 * AutoGPTQ sizes qweight [K / 32 * b, N] and qzeros [G, N / 32 * b], so
 * both dimensions must be multiples of 32 whatever the bits.
 */
static int
gptq_fit(const tq_scheme *s, const tq_qtensor *qt)
{
	int b = s->bits;

	return s->type == TQ_QT_INT && (b == 2 || b == 3 || b == 4 ||
	    b == 8) && (s->group == TQ_GROUP_CHANNEL || s->group == 32 ||
	    s->group == 64 || s->group == 128 || s->group == 256) &&
	    qt->cols % 32 == 0 && qt->rows % 32 == 0;
}

typedef struct gptq_job {
	int v2;
	int64_t zero_wraps;	/* v1 groups whose zero 0 wrapped */
	int desc_act;		/* some layer has a reordering g_idx */
	const tq_layer_cfg *cfg;	/* of the first quantized layer */
} gptq_job;

static tq_status
gptq_layer(tq_hfx *h, size_t i, const tq_qtensor *qt, const char *name,
    void *ud, tq_error *err)
{
	gptq_job *gj = ud;
	int b = qt->scheme.bits;
	int64_t N = qt->rows, K = qt->cols, G = qt->nblocks, n, g, r, k;
	int64_t KW = K * b / 32, NW = N * b / 32;
	uint32_t *qw, *qz, *col;
	uint16_t *sc;
	int32_t *gidx;
	uint8_t *zero;
	tq_status st;

	if (gj->cfg == NULL)
		gj->cfg = &h->x->state->layers[i].cfg;
	gj->desc_act |= !tq_hfx__plain_groups(qt);

	qw = tq_hfx__alloc(h, (size_t)(KW * N) * 4, err);	/* [KW, N] */
	qz = tq_hfx__alloc(h, (size_t)(G * NW) * 4, err);	/* [G, NW] */
	sc = tq_hfx__alloc(h, (size_t)(G * N) * 2, err);	/* [G, N] */
	gidx = tq_hfx__alloc(h, (size_t)K * 4, err);		/* [K] */
	zero = tq_hfx__alloc(h, (size_t)(G * N), err);	/* [G, N] */
	col = tq_hfx__alloc(h, (size_t)KW * 4, err);		/* [KW] */
	if (qw == NULL || qz == NULL || sc == NULL || gidx == NULL ||
	    zero == NULL || col == NULL)
		return TQ_ENOMEM;
	/* Output column n is row n of codes [N, K]: pack it along K. */
	for (n = 0; n < N; n++) {
		tq_hfx__pack(qt->codes + n * K, (size_t)K, 1, b, col);
		for (r = 0; r < KW; r++)
			qw[r * N + n] = col[r];
	}
	tq_hfx__scales_t(qt, sc, zero);
	for (g = 0; g < G * N && !gj->v2; g++) {
		/* v1 stores zero - 1, masked to b bits as AutoGPTQ packs it. */
		gj->zero_wraps += zero[g] == 0;
		zero[g] = (uint8_t)((zero[g] - 1) & ((1 << b) - 1));
	}
	for (g = 0; g < G; g++)
		tq_hfx__pack(zero + g * N, (size_t)N, 1, b, qz + g * NW);
	for (k = 0; k < K; k++)
		gidx[k] = qt->g_idx != NULL ? qt->g_idx[k] :
		    (int32_t)(k / qt->qk);
	{
		const tq_hfx_part parts[] = {
			{ "qweight", TQ_DTYPE_I32, 2, { KW, N }, qw },
			{ "qzeros", TQ_DTYPE_I32, 2, { G, NW }, qz },
			{ "scales", TQ_DTYPE_F16, 2, { G, N }, sc },
			{ "g_idx", TQ_DTYPE_I32, 1, { K, 0 }, gidx },
		};

		st = tq_hfx__add_parts(h, name, parts, 4, err);
	}
	return st;
}

/* "self_attn.q_proj" of "model.layers.3.self_attn.q_proj". */
static const char *
gptq_in_block(const char *name)
{
	const char *p = strchr(name + strlen("model.layers."), '.');

	return p != NULL ? p + 1 : name;
}

/*
 * The first block laid out as block li (dense, or a mixture of as many
 * experts): its linear k is li's linear k's peer.
 */
static size_t
gptq_peer(const tq_model *m, size_t i)
{
	size_t k, n;
	int64_t li = tq_model__linear_block(m, i, &k), b;

	n = tq_layer__n_linears(&m->layers[li]);
	for (b = 0; b < li; b++)
		if (tq_layer__n_linears(&m->layers[b]) == n)
			break;
	return tq_model__block_first(m, b) + k;
}

/*
 * transformers' GPTQ loader (optimum) takes one list of the linears a
 * block quantizes, the same for every block: a state whose float linears
 * differ between blocks (of one layout) cannot be loaded by it.
 */
static tq_status
gptq_check_blocks(const tq_hfx *h, tq_error *err)
{
	size_t n = tq_model_n_linears(h->x->model), i;

	for (i = TQ_LINEARS_PER_LAYER; i + 2 < n; i++) {
		size_t j = gptq_peer(h->x->model, i);

		if (tq_hfx__is_q(h, i) != tq_hfx__is_q(h, j))
			return tq_fail(err, TQ_EUNSUPPORTED, "gptq: %s is %s "
			    "but %s is not; the format's loaders quantize the "
			    "same linears in every block (use awq or "
			    "compressed-tensors for per-layer float)",
			    tq_hfx__name(h, i), tq_hfx__is_q(h, i) ?
			    "quantized" : "float", tq_hfx__name(h, j));
	}
	return TQ_OK;
}

/* Whether the array of strings a holds s (q_proj of two layouts). */
static int
gptq_listed(const cJSON *a, const char *s)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, a)
		if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
			return 1;
	return 0;
}

/* quantize_config.json: AutoGPTQ's keys and GPTQModel's additions. */
static cJSON *
gptq_qconfig(const tq_hfx *h, const tq_scheme *s, const gptq_job *gj,
    int any_float)
{
	const tq_layer_cfg *lc = gj->cfg;
	int desc_act = gj->desc_act, v2 = gj->v2;
	cJSON *q = cJSON_CreateObject(), *dyn, *meta;
	const char *fmt = v2 ? "gptq_v2" : "gptq";
	size_t i, n = tq_model_n_linears(h->x->model);

	cJSON_AddNumberToObject(q, "bits", s->bits);
	cJSON_AddNumberToObject(q, "group_size", s->group > 0 ? s->group : -1);
	cJSON_AddNumberToObject(q, "damp_percent", lc->damp);
	cJSON_AddBoolToObject(q, "desc_act", desc_act);
	cJSON_AddBoolToObject(q, "static_groups", lc->static_groups);
	cJSON_AddBoolToObject(q, "sym", s->sym);
	cJSON_AddBoolToObject(q, "true_sequential", 1);
	cJSON_AddBoolToObject(q, "lm_head", 0);
	cJSON_AddNullToObject(q, "model_name_or_path");
	cJSON_AddNullToObject(q, "model_file_base_name");
	cJSON_AddStringToObject(q, "quant_method", "gptq");
	cJSON_AddStringToObject(q, "checkpoint_format", fmt);
	cJSON_AddStringToObject(q, "pack_dtype", "int32");
	if (any_float || tq_model__moe(h->x->model)) {
		/*
		 * transformers (optimum): the linears quantized in a block;
		 * with a mixture of experts always, else optimum would take
		 * the router (a float nn.Linear) for a quantized one.  Each
		 * layout's first block names them (a dense block's and a
		 * mixture's of experts).
		 */
		cJSON *keep = cJSON_CreateArray();

		for (i = 0; i + 2 < n; i++) {
			char name[160];
			size_t first;

			/* phi3: the fused module's name, once. */
			tq_hfx__module(h->x->model, i, &first, name,
			    sizeof(name));
			if (first == i && gptq_peer(h->x->model, i) == i &&
			    tq_hfx__is_q(h, i) && !gptq_listed(keep,
			    gptq_in_block(name)))
				tq_json_push(keep, cJSON_CreateString(
				    gptq_in_block(name)));
		}
		dyn = cJSON_AddArrayToObject(q, "modules_in_block_to_quantize");
		tq_json_push(dyn, keep);
	}
	if (any_float) {
		/* GPTQModel's per-module overrides: "-:" keeps it float. */
		dyn = cJSON_AddObjectToObject(q, "dynamic");
		for (i = 0; i + 2 < n; i++) {
			char key[192], name[160], *d;
			const char *c;
			size_t first;

			tq_hfx__module(h->x->model, i, &first, name,
			    sizeof(name));
			if (first != i || tq_hfx__is_q(h, i))
				continue;
			d = key + snprintf(key, sizeof(key), "-:^");
			for (c = name; *c != '\0' &&
			    d < key + sizeof(key) - 4; c++) {
				if (*c == '.')
					*d++ = '\\';
				*d++ = *c;
			}
			*d++ = '$';
			*d = '\0';
			cJSON_AddObjectToObject(dyn, key);
		}
	}
	meta = cJSON_AddObjectToObject(q, "meta");
	cJSON_AddStringToObject(meta, "quantizer",
	    "turboquant:" PACKAGE_VERSION);
	cJSON_AddStringToObject(meta, "method", tq_method_name(lc->method));
	return q;
}

tq_status
tq_export_gptq(tq_export_ctx *x, tq_error *err)
{
	cJSON *cfg = NULL;
	gptq_job gj;
	tq_scheme sch;
	tq_hfx h;
	tq_status st;
	int any_float;

	memset(&gj, 0, sizeof(gj));
	if (x->type != NULL && strcmp(x->type, "gptq") != 0 &&
	    strcmp(x->type, "gptq_v2") != 0)
		return tq_fail(err, TQ_EINVAL, "gptq: unknown type \"%s\" "
		    "(gptq, the default, or gptq_v2)", x->type);
	gj.v2 = x->type != NULL && strcmp(x->type, "gptq_v2") == 0;
	if ((st = tq_hfx__init(&h, x, err)) != TQ_OK)
		goto out;
	if ((st = tq_hfx__grid(&h, "gptq", gptq_fit, gptq_fits, &sch,
	    &any_float, err)) != TQ_OK ||
	    (st = gptq_check_blocks(&h, err)) != TQ_OK ||
	    (st = tq_hfx__each(&h, gptq_layer, &gj, err)) != TQ_OK ||
	    (st = tq_hfx__write_model(&h, &cfg, err)) != TQ_OK)
		goto out;
	tq_json_add(cfg, "quantization_config",
	    gptq_qconfig(&h, &sch, &gj, any_float));
	if ((st = tq_hfx__write_json(&h, "quantize_config.json",
	    gptq_qconfig(&h, &sch, &gj, any_float), err)) != TQ_OK)
		goto out;
	st = tq_hfx__finish(&h, cfg, err);
	cfg = NULL;
	if (st != TQ_OK)
		goto out;
	snprintf(x->report->type, sizeof(x->report->type), "%s-w%d%s%s",
	    gj.v2 ? "gptq_v2" : "gptq", sch.bits, sch.sym ? "-sym" : "",
	    gj.desc_act ? "-act-order" : "");
	if (gj.zero_wraps > 0)
		tq_warn_append(x->report->warning, sizeof(x->report->warning),
		    "%lld groups have zero point 0, stored as %d in GPTQ v1 "
		    "(zero - 1 masked): AutoGPTQ and transformers read them "
		    "back, GPTQModel's v1-to-v2 conversion does not; "
		    "--type gptq_v2 stores them as they are",
		    (long long)gj.zero_wraps, (1 << sch.bits) - 1);
out:
	cJSON_Delete(cfg);
	tq_hfx__done(&h);
	return st;
}
