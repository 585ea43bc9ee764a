/*
 * hf_model.c: opening a Hugging Face model directory as a tq_model.
 *
 * config.json gives the hyperparameters; the weights come from
 * model.safetensors or from the shards that model.safetensors.index.json
 * lists; tokenizer.json, when present, is loaded beside them.  Every weight
 * the architecture needs must be present with the shape the config implies.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "gguf_reader.h"
#include "hf_config.h"
#include "model.h"
#include "safetensors.h"

#define CONFIG_MAX_BYTES ((size_t)16 << 20)
#define INDEX_MAX_BYTES ((size_t)64 << 20)

/* The opened shards: the source a tq_model keeps alive. */
typedef struct hf_source {
	tq_st_file **shards;
	size_t n_shards;
} hf_source;

static void
hf_source_free(void *p)
{
	hf_source *s = p;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_shards; i++)
		tq_st_close(s->shards[i]);
	free(s->shards);
	free(s);
}

/* A shard name from the index must be a plain file name in the directory. */
static int
hf_shard_name_ok(const char *name)
{
	return name[0] != '\0' && strchr(name, '/') == NULL &&
	    strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int
hf_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static tq_status
hf_open_shard(hf_source *src, const char *dir, const char *name,
    tq_error *err)
{
	tq_st_file **grown;
	char *path;
	tq_status st;

	grown = realloc(src->shards, (src->n_shards + 1) * sizeof(*grown));
	if (grown == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", dir);
	src->shards = grown;
	if ((path = tq_path_join(dir, name)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", dir);
	st = tq_st_open(path, &src->shards[src->n_shards], err);
	free(path);
	if (st == TQ_OK)
		src->n_shards++;
	return st;
}

/* Opens the shards the index lists and checks every mapping holds. */
static tq_status
hf_open_index(hf_source *src, const char *dir, const char *index_path,
    tq_error *err)
{
	const cJSON *map, *e;
	const char **names = NULL;
	cJSON *root;
	size_t n = 0, i;
	tq_status st;

	if ((st = tq_json_load(index_path, INDEX_MAX_BYTES, &root, err)) != TQ_OK)
		return st;
	map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
	if (!cJSON_IsObject(map) || cJSON_GetArraySize(map) == 0) {
		st = tq_fail(err, TQ_EFORMAT,
		    "%s: \"weight_map\" must be a non-empty object", index_path);
		goto out;
	}
	names = calloc((size_t)cJSON_GetArraySize(map), sizeof(*names));
	if (names == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", index_path);
		goto out;
	}
	cJSON_ArrayForEach(e, map) {
		if (!cJSON_IsString(e) || !hf_shard_name_ok(e->valuestring)) {
			st = tq_fail(err, TQ_EFORMAT,
			    "%s: weight_map entry \"%s\" must name a file in the "
			    "model directory", index_path,
			    e->string != NULL ? e->string : "");
			goto out;
		}
		names[n++] = e->valuestring;
	}
	/* Open each distinct shard once, in name order. */
	qsort(names, n, sizeof(*names), hf_cmp_str);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue;
		if ((st = hf_open_shard(src, dir, names[i], err)) != TQ_OK)
			goto out;
	}
	/* Each tensor must be in the shard the index names. */
	cJSON_ArrayForEach(e, map) {
		for (i = 0; i < src->n_shards; i++) {
			const char *base = strrchr(src->shards[i]->path, '/');

			base = base != NULL ? base + 1 : src->shards[i]->path;
			if (strcmp(base, e->valuestring) == 0)
				break;
		}
		if (i == src->n_shards || tq_st_find(src->shards[i],
		    e->string) == NULL) {
			st = tq_fail(err, TQ_EFORMAT,
			    "%s: tensor \"%s\" is not in %s as the index says",
			    index_path, e->string, e->valuestring);
			goto out;
		}
	}
	st = TQ_OK;
out:
	free(names);
	cJSON_Delete(root);
	return st;
}

static const tq_tensor *
hf_find(const hf_source *src, const char *name)
{
	const tq_tensor *t;
	size_t i;

	for (i = 0; i < src->n_shards; i++)
		if ((t = tq_st_find(src->shards[i], name)) != NULL)
			return t;
	return NULL;
}

/*
 * Looks up a tensor and checks its shape (rows = 0 for a vector).  A missing
 * optional tensor leaves *out NULL.
 */
static tq_status
hf_bind(const hf_source *src, const char *dir, const char *name,
    int64_t rows, int64_t cols, int optional, const tq_tensor **out,
    tq_error *err)
{
	const tq_tensor *t = hf_find(src, name);
	int64_t idx;

	*out = NULL;
	if (t == NULL) {
		if (optional)
			return TQ_OK;
		return tq_fail(err, TQ_EFORMAT, "%s: missing tensor \"%s\"", dir,
		    name);
	}
	if (!tq_dtype_is_weight(t->dtype))
		return tq_fail(err, TQ_EUNSUPPORTED,
		    "%s: tensor \"%s\" has dtype %s; weights must be F32, F16 "
		    "or BF16", dir, name, tq_dtype_name(t->dtype));
	if (rows == 0 ? (t->ndim != 1 || t->shape[0] != cols) :
	    (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)) {
		if (rows == 0)
			return tq_fail(err, TQ_EFORMAT,
			    "%s: tensor \"%s\" should have shape [%lld]", dir,
			    name, (long long)cols);
		return tq_fail(err, TQ_EFORMAT,
		    "%s: tensor \"%s\" should have shape [%lld, %lld]", dir,
		    name, (long long)rows, (long long)cols);
	}
	if ((idx = tq_tensor_find_nonfinite(t)) >= 0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: tensor \"%s\" has a NaN or Inf at element %lld", dir,
		    name, (long long)idx);
	*out = t;
	return TQ_OK;
}

/* Binds model.layers.<i>.<suffix>; rows = 0 for a vector. */
static tq_status
hf_bind_layer(const hf_source *src, const char *dir, int64_t i,
    const char *suffix, int64_t rows, int64_t cols, int optional,
    const tq_tensor **out, tq_error *err)
{
	char name[256];

	snprintf(name, sizeof(name), "model.layers.%lld.%s", (long long)i,
	    suffix);
	return hf_bind(src, dir, name, rows, cols, optional, out, err);
}

/*
 * Phi-3's fused qkv_proj [qd + 2 kvd, H] and gate_up_proj [2 I, H] as
 * row views under the unfused names (model.layers.i.self_attn.q_proj.weight
 * and so on), so the block keeps its seven linears.
 */
static tq_status
hf_bind_fused(tq_model *m, const hf_source *src, int64_t i, tq_error *err)
{
	const tq_model_config *c = &m->cfg;
	tq_layer_weights *l = &m->layers[i];
	int64_t H = c->hidden_size, I = c->intermediate_size;
	int64_t qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
	int64_t qkv_rows[3] = { qd, kvd, kvd }, gu_rows[2] = { I, I };
	char names[3][128];
	const char *np[3] = { names[0], names[1], names[2] };
	const tq_tensor *qkv, *gu, *v[3];
	tq_status st;

	if ((st = hf_bind_layer(src, m->path, i, "self_attn.qkv_proj.weight",
	    qd + 2 * kvd, H, 0, &qkv, err)) != TQ_OK ||
	    (st = hf_bind_layer(src, m->path, i, "mlp.gate_up_proj.weight",
	    2 * I, H, 0, &gu, err)) != TQ_OK)
		return st;
	snprintf(names[0], sizeof(names[0]),
	    "model.layers.%lld.self_attn.q_proj.weight", (long long)i);
	snprintf(names[1], sizeof(names[1]),
	    "model.layers.%lld.self_attn.k_proj.weight", (long long)i);
	snprintf(names[2], sizeof(names[2]),
	    "model.layers.%lld.self_attn.v_proj.weight", (long long)i);
	if ((st = tq_model__split_rows(m, qkv, 3, qkv_rows, np, v, err)) !=
	    TQ_OK)
		return st;
	l->wq = v[0];
	l->wk = v[1];
	l->wv = v[2];
	snprintf(names[0], sizeof(names[0]),
	    "model.layers.%lld.mlp.gate_proj.weight", (long long)i);
	snprintf(names[1], sizeof(names[1]),
	    "model.layers.%lld.mlp.up_proj.weight", (long long)i);
	if ((st = tq_model__split_rows(m, gu, 2, gu_rows, np, v, err)) != TQ_OK)
		return st;
	l->w_gate = v[0];
	l->w_up = v[1];
	return TQ_OK;
}

/*
 * Tensor model.layers.i.mlp.experts.<leaf> of dtype class u8 (U8, else a
 * weight dtype) and shape[ndim], or a one-line error.
 */
static tq_status
hf_oss_find(const hf_source *src, const char *dir, int64_t i,
    const char *leaf, int u8, int ndim, const int64_t *shape,
    const tq_tensor **out, tq_error *err)
{
	char name[256];
	const tq_tensor *t;
	int d, ok;

	snprintf(name, sizeof(name), "model.layers.%lld.mlp.experts.%s",
	    (long long)i, leaf);
	if ((t = hf_find(src, name)) == NULL)
		return tq_fail(err, TQ_EFORMAT, "%s: missing tensor \"%s\"", dir,
		    name);
	if (u8 ? t->dtype != TQ_DTYPE_U8 : !tq_dtype_is_weight(t->dtype))
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: tensor \"%s\" has "
		    "dtype %s; it must be %s", dir, name,
		    tq_dtype_name(t->dtype), u8 ? "U8" : "F32, F16 or BF16");
	ok = t->ndim == ndim;
	for (d = 0; ok && d < ndim; d++)
		ok = t->shape[d] == shape[d];
	if (!ok) {
		char want[96];
		size_t n = 0;

		for (d = 0; d < ndim; d++)
			n += (size_t)snprintf(want + n, sizeof(want) - n, "%s%lld",
			    d > 0 ? ", " : "", (long long)shape[d]);
		return tq_fail(err, TQ_EFORMAT, "%s: tensor \"%s\" should have "
		    "shape [%s]", dir, name, want);
	}
	if (!u8 && (d = (int)tq_tensor_find_nonfinite(t)) >= 0)
		return tq_fail(err, TQ_EFORMAT, "%s: tensor \"%s\" has a NaN "
		    "or Inf", dir, name);
	*out = t;
	return TQ_OK;
}

/* One fused or packed expert tensor of gpt_oss and how to read it. */
typedef struct hf_oss_src {
	const tq_tensor *w;	/* [E, in, out] float, or NULL */
	const tq_tensor *blocks;	/* [E, out, in / 32, 16] U8 */
	const tq_tensor *scales;	/* [E, out, in / 32] U8 */
	const tq_tensor *bias;	/* [E, out] */
	int64_t in, out;
} hf_oss_src;

/* E2M1 of a nibble's three low bits (its sign in bit 3). */
static const float hf_e2m1[8] = { 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f,
    6.0f };

/*
 * Expert e's linear of rows output rows, row r being the stored output
 * r * step + off (gate 2r, up 2r + 1 of gate_up; down r), as a tensor
 * [rows, in] of the model's own named <pre>.weight, and its bias [rows]
 * <pre>.bias: the float weights transposed in their dtype, the MXFP4
 * ones dequantized to bf16, exactly, as transformers does
 * (convert_moe_packed_tensors: element 2k in byte k's low nibble, 2^(scale
 * - 127)).
 */
static tq_status
hf_oss_expert(tq_model *m, const hf_oss_src *o, int64_t e, int64_t rows,
    int64_t step, int64_t off, const char *pre, const tq_tensor **w,
    const tq_tensor **b, tq_error *err)
{
	int64_t shape[2] = { rows, o->in }, r, k, nb = o->in / 32;
	const uint8_t *src;
	char name[256];
	tq_tensor *t;
	size_t sz;
	tq_status st;

	snprintf(name, sizeof(name), "%s.weight", pre);
	if ((st = tq_model__new_tensor(m, name, o->w != NULL ? o->w->dtype :
	    TQ_DTYPE_BF16, 2, shape, &t, err)) != TQ_OK)
		return st;
	for (r = 0; r < rows; r++) {
		int64_t so = r * step + off;	/* the stored output */

		if (o->w != NULL) {
			sz = tq_dtype_size(o->w->dtype);
			src = (const uint8_t *)o->w->data +
			    (uint64_t)(e * o->in * o->out + so) * sz;
			for (k = 0; k < o->in; k++)
				memcpy((uint8_t *)t->data + (uint64_t)(r * o->in +
				    k) * sz, src + (uint64_t)(k * o->out) * sz,
				    sz);
			continue;
		}
		for (k = 0; k < o->in; k++) {
			int64_t blk = (e * o->out + so) * nb + k / 32;
			uint8_t q = ((const uint8_t *)o->blocks->data)[blk * 16 +
			    k % 32 / 2], sc = ((const uint8_t *)
			    o->scales->data)[blk];
			uint8_t nib = k % 2 ? q >> 4 : q & 15;
			float v = hf_e2m1[nib & 7];

			if (sc == 255)
				return tq_fail(err, TQ_EFORMAT, "%s: %s: an MXFP4 "
				    "scale of 255 (NaN)", m->path, name);
			/* two significant bits: exact in bf16 */
			((uint16_t *)(void *)t->data)[r * o->in + k] =
			    tq_f32_to_bf16(ldexpf(nib & 8 ? -v : v, (int)sc -
			    127));
		}
	}
	*w = t;
	snprintf(name, sizeof(name), "%s.bias", pre);
	sz = tq_dtype_size(o->bias->dtype);
	if ((st = tq_model__new_tensor(m, name, o->bias->dtype, 1, &rows, &t,
	    err)) != TQ_OK)
		return st;
	for (r = 0; r < rows; r++)
		memcpy((uint8_t *)t->data + (uint64_t)r * sz,
		    (const uint8_t *)o->bias->data + (uint64_t)(e * o->out +
		    r * step + off) * sz, sz);
	*b = t;
	return TQ_OK;
}

/*
 * gpt_oss's block i (transformers 4.55): its sinks, its router with a
 * bias, and its experts fused into 3-D tensors, mlp.experts.gate_up_proj
 * [E, H, 2 Fe] (x W; gate in the even columns, up in the odd) and
 * down_proj [E, Fe, H], with gate_up_proj_bias [E, 2 Fe] and
 * down_proj_bias [E, H]; or, as the released checkpoints store them,
 * their weights in MXFP4, gate_up_proj_blocks [E, 2 Fe, H / 32, 16] and
 * _scales [E, 2 Fe, H / 32] (rows the output), likewise down_proj.  Each
 * expert's gate [Fe, H], up [Fe, H] and down [H, Fe] and their biases
 * become tensors of the model's own (hf_oss_expert).
 */
static tq_status
hf_bind_oss(tq_model *m, const hf_source *src, int64_t i,
    const tq_block_opts *b, tq_error *err)
{
	static const char *const kind[3] = { "gate_proj", "up_proj",
	    "down_proj" };
	const tq_model_config *c = &m->cfg;
	int64_t H = c->hidden_size, Fe = b->moe.inter, E = b->moe.n_experts;
	tq_layer_weights *l = &m->layers[i];
	hf_oss_src gu = { 0 }, dn = { 0 };
	const struct {
		const char *leaf;
		int u8, ndim;
		int64_t shape[4];
		const tq_tensor **out;
	} want[8] = {
		{ "gate_up_proj_bias", 0, 2, { E, 2 * Fe }, &gu.bias },
		{ "down_proj_bias", 0, 2, { E, H }, &dn.bias },
		{ "gate_up_proj", 0, 3, { E, H, 2 * Fe }, &gu.w },
		{ "down_proj", 0, 3, { E, Fe, H }, &dn.w },
		{ "gate_up_proj_blocks", 1, 4, { E, 2 * Fe, H / 32, 16 },
		    &gu.blocks },
		{ "gate_up_proj_scales", 1, 3, { E, 2 * Fe, H / 32 }, &gu.scales },
		{ "down_proj_blocks", 1, 4, { E, H, Fe / 32, 16 }, &dn.blocks },
		{ "down_proj_scales", 1, 3, { E, H, Fe / 32 }, &dn.scales },
	};
	int64_t e;
	char name[256], pre[200];
	int mx, j;
	tq_status st;

	snprintf(name, sizeof(name),
	    "model.layers.%lld.mlp.experts.gate_up_proj_blocks", (long long)i);
	mx = hf_find(src, name) != NULL;
	if (mx && (H % 32 != 0 || Fe % 32 != 0))
		return tq_fail(err, TQ_EFORMAT, "%s: MXFP4 experts need hidden "
		    "and intermediate sizes that are multiples of 32", m->path);
	gu.in = dn.out = H;
	gu.out = 2 * Fe;
	dn.in = Fe;
	if ((st = hf_bind_layer(src, m->path, i, "self_attn.sinks", 0,
	    c->n_heads, 0, &l->sinks, err)) != TQ_OK ||
	    (st = hf_bind_layer(src, m->path, i, "mlp.router.weight", E, H, 0,
	    &l->router, err)) != TQ_OK ||
	    (st = hf_bind_layer(src, m->path, i, "mlp.router.bias", 0, E, 0,
	    &l->router_b, err)) != TQ_OK)
		return st;
	/* the biases, then the float weights or the MXFP4 ones */
	for (j = 0; j < 8; j++)
		if ((j < 2 || (j >= 4) == mx) && (st = hf_oss_find(src, m->path, i,
		    want[j].leaf, want[j].u8, want[j].ndim, want[j].shape,
		    want[j].out, err)) != TQ_OK)
			return st;
	l->n_experts = (int)E;
	for (e = 0; e < E; e++)
		for (j = 0; j < 3; j++) {
			snprintf(pre, sizeof(pre),
			    "model.layers.%lld.mlp.experts.%lld.%s", (long long)i,
			    (long long)e, kind[j]);
			if ((st = hf_oss_expert(m, j < 2 ? &gu : &dn, e,
			    j < 2 ? Fe : H, j < 2 ? 2 : 1, j == 1, pre,
			    &l->experts[e][j], &l->expert_b[e][j], err)) !=
			    TQ_OK)
				return st;
		}
	return TQ_OK;
}

/*
 * Block i's mixture of experts, as transformers 4.53 saves it: the router
 * and each expert's three linears as separate 2-D tensors (Mixtral's
 * block_sparse_moe.gate and experts.E.w1 / w3 / w2, Qwen3-MoE's mlp.gate
 * and experts.E.gate_proj / up_proj / down_proj).  Experts fused into
 * 3-D tensors (later transformers) are refused by name.
 */
static tq_status
hf_bind_moe(tq_model *m, const hf_source *src, int64_t i,
    const tq_block_opts *b, tq_error *err)
{
	static const char *const mixtral[3] = { "w1", "w3", "w2" };
	static const char *const qwen[3] = { "gate_proj", "up_proj",
	    "down_proj" };
	int mix = m->cfg.arch == TQ_ARCH_MIXTRAL;
	const char *pre = mix ? "block_sparse_moe" : "mlp";
	int64_t H = m->cfg.hidden_size, Fe = b->moe.inter;
	tq_layer_weights *l = &m->layers[i];
	char name[256];
	int e, k;
	tq_status st;

	if (m->cfg.arch == TQ_ARCH_GPT_OSS)
		return hf_bind_oss(m, src, i, b, err);
	snprintf(name, sizeof(name), "model.layers.%lld.%s.experts.0.%s.weight",
	    (long long)i, pre, mix ? "w1" : "gate_proj");
	if (hf_find(src, name) == NULL) {
		snprintf(name, sizeof(name),
		    "model.layers.%lld.%s.experts.gate_up_proj", (long long)i,
		    pre);
		if (hf_find(src, name) != NULL || hf_find(src, strcat(name,
		    ".weight")) != NULL)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: experts fused "
			    "into 3-D tensors (\"%s\") are not supported; "
			    "save the model with transformers 4.53, one "
			    "tensor per expert", m->path, name);
	}
	l->n_experts = b->moe.n_experts;
	snprintf(name, sizeof(name), "%s.gate.weight", pre);
	if ((st = hf_bind_layer(src, m->path, i, name, l->n_experts, H, 0,
	    &l->router, err)) != TQ_OK)
		return st;
	for (e = 0; e < l->n_experts; e++)
		for (k = 0; k < 3; k++) {
			snprintf(name, sizeof(name), "%s.experts.%d.%s.weight",
			    pre, e, (mix ? mixtral : qwen)[k]);
			if ((st = hf_bind_layer(src, m->path, i, name,
			    k < 2 ? Fe : H, k < 2 ? H : Fe, 0, &l->experts[e][k],
			    err)) != TQ_OK)
				return st;
		}
	return TQ_OK;
}

static tq_status
hf_bind_all(tq_model *m, const hf_source *src, tq_error *err)
{
	const tq_model_config *c = &m->cfg;
	const char *dir = m->path;
	int64_t H = c->hidden_size, I = c->intermediate_size;
	int64_t qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
	int ab = c->attention_bias, qb = c->attention_bias || c->qkv_bias;
	int mb = c->mlp_bias;
	/* Gemma's post_attention_layernorm norms o's output. */
	const char *ffn_norm = c->post_norms ?
	    "pre_feedforward_layernorm.weight" :
	    "post_attention_layernorm.weight";
	tq_status st;
	int64_t i;

	if ((st = hf_bind(src, dir, "model.embed_tokens.weight", c->vocab_size,
	    H, 0, &m->embed, err)) != TQ_OK ||
	    (st = hf_bind(src, dir, "model.norm.weight", 0, H, 0, &m->norm,
	    err)) != TQ_OK)
		return st;
	if (c->tie_word_embeddings)
		m->lm_head = m->embed;
	else if ((st = hf_bind(src, dir, "lm_head.weight", c->vocab_size, H, 0,
	    &m->lm_head, err)) != TQ_OK)
		return st;
	m->layers = calloc((size_t)c->n_layers, sizeof(*m->layers));
	if (m->layers == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", dir);
	for (i = 0; i < c->n_layers; i++) {
		tq_layer_weights *l = &m->layers[i];
		tq_block_opts b;

		tq_model__block(m, i, &b);
		if (c->fused_proj) {
			if ((st = hf_bind_fused(m, src, i, err)) != TQ_OK ||
			    (st = hf_bind_layer(src, dir, i,
			    "input_layernorm.weight", 0, H, 0, &l->attn_norm,
			    err)) != TQ_OK ||
			    (st = hf_bind_layer(src, dir, i,
			    "self_attn.o_proj.weight", H, qd, 0, &l->wo,
			    err)) != TQ_OK ||
			    (st = hf_bind_layer(src, dir, i, ffn_norm, 0, H, 0,
			    &l->ffn_norm, err)) != TQ_OK ||
			    (st = hf_bind_layer(src, dir, i,
			    "mlp.down_proj.weight", H, I, 0, &l->w_down,
			    err)) != TQ_OK)
				return st;
			continue;
		}
		if ((st = hf_bind_layer(src, dir, i, "input_layernorm.weight",
		    0, H, 0, &l->attn_norm, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, "self_attn.q_proj.weight",
		    qd, H, 0, &l->wq, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, "self_attn.k_proj.weight",
		    kvd, H, 0, &l->wk, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, "self_attn.v_proj.weight",
		    kvd, H, 0, &l->wv, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, "self_attn.o_proj.weight",
		    H, qd, 0, &l->wo, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, ffn_norm, 0, H, 0,
		    &l->ffn_norm, err)) != TQ_OK)
			return st;
		if (b.moe.n_experts > 0 ? (st = hf_bind_moe(m, src, i, &b,
		    err)) != TQ_OK :
		    (st = hf_bind_layer(src, dir, i, "mlp.gate_proj.weight", I, H,
		    0, &l->w_gate, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, "mlp.up_proj.weight", I, H,
		    0, &l->w_up, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, "mlp.down_proj.weight", H, I,
		    0, &l->w_down, err)) != TQ_OK)
			return st;
		if (qb && ((st = hf_bind_layer(src, dir, i,
		    "self_attn.q_proj.bias", 0, qd, 0, &l->bq, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, "self_attn.k_proj.bias", 0,
		    kvd, 0, &l->bk, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, "self_attn.v_proj.bias", 0,
		    kvd, 0, &l->bv, err)) != TQ_OK))
			return st;
		if (ab && (st = hf_bind_layer(src, dir, i,
		    "self_attn.o_proj.bias", 0, H, 0, &l->bo, err)) != TQ_OK)
			return st;
		if (c->qk_norm && ((st = hf_bind_layer(src, dir, i,
		    "self_attn.q_norm.weight", 0, c->head_dim, 0, &l->q_norm,
		    err)) != TQ_OK || (st = hf_bind_layer(src, dir, i,
		    "self_attn.k_norm.weight", 0, c->head_dim, 0, &l->k_norm,
		    err)) != TQ_OK))
			return st;
		if (c->post_norms && ((st = hf_bind_layer(src, dir, i,
		    "post_attention_layernorm.weight", 0, H, 0,
		    &l->post_attn_norm, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i,
		    "post_feedforward_layernorm.weight", 0, H, 0,
		    &l->post_ffn_norm, err)) != TQ_OK))
			return st;
		if (mb && ((st = hf_bind_layer(src, dir, i, "mlp.gate_proj.bias",
		    0, I, 0, &l->b_gate, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, "mlp.up_proj.bias", 0, I, 0,
		    &l->b_up, err)) != TQ_OK ||
		    (st = hf_bind_layer(src, dir, i, "mlp.down_proj.bias", 0, H,
		    0, &l->b_down, err)) != TQ_OK))
			return st;
	}
	return TQ_OK;
}

/*
 * Refuses a tensor of a layer past num_hidden_layers: it would be ignored,
 * and a model that silently loses its last layers evaluates as garbage.
 */
static tq_status
hf_check_layer_count(const tq_model *m, tq_error *err)
{
	static const char prefix[] = "model.layers.";
	size_t i;

	for (i = 0; i < m->n_tensors; i++) {
		const char *name = m->tensors[i]->name;
		unsigned long long b;

		if (strncmp(name, prefix, sizeof(prefix) - 1) != 0 ||
		    !isdigit((unsigned char)name[sizeof(prefix) - 1]))
			continue;
		b = strtoull(name + sizeof(prefix) - 1, NULL, 10);
		if (b >= (unsigned long long)m->cfg.n_layers)
			return tq_fail(err, TQ_EFORMAT, "%s: tensor \"%s\" is past "
			    "the last layer (num_hidden_layers is %lld)", m->path,
			    name, (long long)m->cfg.n_layers);
	}
	return TQ_OK;
}

/* Orders names with digit runs compared as numbers: layers.2 < layers.10. */
static int
hf_cmp_natural(const void *a, const void *b)
{
	const char *x = (*(const tq_tensor *const *)a)->name;
	const char *y = (*(const tq_tensor *const *)b)->name;

	while (*x != '\0' && *y != '\0') {
		if (isdigit((unsigned char)*x) && isdigit((unsigned char)*y)) {
			unsigned long long u = strtoull(x, (char **)&x, 10);
			unsigned long long v = strtoull(y, (char **)&y, 10);

			if (u != v)
				return u < v ? -1 : 1;
		} else if (*x != *y) {
			return (unsigned char)*x - (unsigned char)*y;
		} else {
			x++;
			y++;
		}
	}
	return (unsigned char)*x - (unsigned char)*y;
}

/* Lists every stored tensor in natural name order; adds up file sizes. */
static tq_status
hf_list_tensors(tq_model *m, const hf_source *src, tq_error *err)
{
	size_t i, j, n = 0;

	for (i = 0; i < src->n_shards; i++)
		n += src->shards[i]->n_tensors;
	m->tensors = calloc(n ? n : 1, sizeof(*m->tensors));
	if (m->tensors == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", m->path);
	for (i = 0; i < src->n_shards; i++) {
		for (j = 0; j < src->shards[i]->n_tensors; j++)
			m->tensors[m->n_tensors++] = &src->shards[i]->tensors[j];
		m->file_bytes += src->shards[i]->map.size;
	}
	qsort(m->tensors, m->n_tensors, sizeof(*m->tensors), hf_cmp_natural);
	return TQ_OK;
}

/*
 * The model's fingerprint: config.json as stored, every shard's header
 * (names, dtypes, shapes, offsets, metadata) and a sample of the weights.
 */
static tq_status
hf_fingerprint(tq_model *m, const hf_source *src, const char *cfg_path,
    tq_error *err)
{
	uint64_t h = TQ_FNV_INIT, hlen;
	char *text = NULL;
	size_t len, i;
	tq_status st;

	if ((st = tq_read_file(cfg_path, CONFIG_MAX_BYTES, &text, &len, err)) !=
	    TQ_OK)
		return st;
	h = tq_fnv1a(h, text, len);
	free(text);
	for (i = 0; i < src->n_shards; i++) {
		const tq_mmap *map = &src->shards[i]->map;

		/* tq_st_parse checked that the header fits the file. */
		memcpy(&hlen, map->data, sizeof(hlen));
		h = tq_fnv1a(h, map->data, 8 + (size_t)hlen);
	}
	tq_model__fingerprint(m, h);
	return TQ_OK;
}

/* Opens model.safetensors, or the shards of model.safetensors.index.json. */
static tq_status
hf_open_weights(hf_source *src, const char *dir, tq_error *err)
{
	char *index = tq_path_join(dir, "model.safetensors.index.json");
	char *single = tq_path_join(dir, "model.safetensors");
	tq_status st;

	if (index == NULL || single == NULL)
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", dir);
	else if (access(index, F_OK) == 0)
		st = hf_open_index(src, dir, index, err);
	else if (access(single, F_OK) == 0)
		st = hf_open_shard(src, dir, "model.safetensors", err);
	else
		st = tq_fail(err, TQ_EINVAL,
		    "%s: no model.safetensors or model.safetensors.index.json",
		    dir);
	free(index);
	free(single);
	return st;
}

tq_status
tq_model_open(const char *dir, tq_model **out, tq_error *err)
{
	char *cfg_path = NULL, *path = NULL;
	cJSON *root = NULL;
	hf_source *src = NULL;
	tq_model *m;
	tq_status st;

	*out = NULL;
	if (tq_gguf_is_file(dir))	/* a .gguf file (formats/gguf_model.c) */
		return tq_gguf_model_open(dir, out, err);
	if (!tq_is_dir(dir))
		return tq_fail(err, TQ_EINVAL,
		    "%s: not a model directory (expected a Hugging Face model "
		    "directory with config.json and safetensors)", dir);
	m = calloc(1, sizeof(*m));
	if (m == NULL || (m->path = strdup(dir)) == NULL) {
		free(m);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", dir);
	}
	if ((cfg_path = tq_path_join(dir, "config.json")) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", dir);
		goto fail;
	}
	if (access(cfg_path, F_OK) != 0) {
		st = tq_fail(err, TQ_EINVAL,
		    "%s: not a model directory: no config.json", dir);
		goto fail;
	}
	if ((st = tq_json_load(cfg_path, CONFIG_MAX_BYTES, &root, err)) != TQ_OK ||
	    (st = tq_hf_config_parse(cfg_path, root, &m->cfg, err)) != TQ_OK)
		goto fail;

	if ((src = calloc(1, sizeof(*src))) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", dir);
		goto fail;
	}
	m->source = src;
	m->source_free = hf_source_free;
	st = hf_open_weights(src, dir, err);
	if (st != TQ_OK ||
	    (st = hf_list_tensors(m, src, err)) != TQ_OK ||
	    (st = hf_bind_all(m, src, err)) != TQ_OK ||
	    (st = hf_check_layer_count(m, err)) != TQ_OK ||
	    (st = tq_model__index_linears(m, err)) != TQ_OK ||
	    (st = hf_fingerprint(m, src, cfg_path, err)) != TQ_OK)
		goto fail;

	if ((path = tq_path_join(dir, "tokenizer.json")) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", dir);
		goto fail;
	}
	if (access(path, F_OK) == 0 &&
	    (st = tq_tokenizer_load(path, &m->tok, err)) != TQ_OK)
		goto fail;

	free(path);
	free(cfg_path);
	cJSON_Delete(root);
	*out = m;
	return TQ_OK;
fail:
	free(path);
	free(cfg_path);
	cJSON_Delete(root);
	tq_model_close(m);
	return st;
}
