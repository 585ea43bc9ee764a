/*
 * hf_config.c: Hugging Face config.json to tq_model_config.
 *
 * Defaults are those of transformers' LlamaConfig, MistralConfig,
 * Qwen2Config, Qwen3Config, SmolLM3Config, Gemma2Config,
 * Gemma3TextConfig and Phi3Config (4.53), so a config.json that leaves a key out means
 * what it means to transformers.  The multimodal Gemma 3 (model_type
 * "gemma3", a text_config inside) is refused: its language model's
 * tensors live under other names; the text-only checkpoints
 * (Gemma3ForCausalLM, "gemma3_text": gemma-3-1b and -270m) load.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "error.h"
#include "hf_config.h"

/* Checks that j is an integer in [lo, hi]; key names it in messages. */
static tq_status
cfg_int_value(const char *path, const cJSON *j, const char *key, int64_t lo,
    int64_t hi, int64_t *out, tq_error *err)
{
	double d;

	if (!cJSON_IsNumber(j))
		return tq_fail(err, TQ_EFORMAT, "%s: \"%s\" must be a number",
		    path, key);
	d = j->valuedouble;
	if (!(d >= (double)lo && d <= (double)hi) || floor(d) != d)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: \"%s\" must be an integer in [%lld, %lld]", path, key,
		    (long long)lo, (long long)hi);
	*out = (int64_t)d;
	return TQ_OK;
}

/* Reads an optional integer key in [lo, hi]; absent or null keeps *out. */
static tq_status
cfg_int(const char *path, const cJSON *root, const char *key, int64_t lo,
    int64_t hi, int64_t *out, tq_error *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);

	if (j == NULL || cJSON_IsNull(j))
		return TQ_OK;
	return cfg_int_value(path, j, key, lo, hi, out, err);
}

/* Reads an optional positive finite number. */
static tq_status
cfg_num(const char *path, const cJSON *root, const char *key, double *out,
    tq_error *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);

	if (j == NULL || cJSON_IsNull(j))
		return TQ_OK;
	if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) ||
	    !(j->valuedouble > 0.0))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: \"%s\" must be a positive number", path, key);
	*out = j->valuedouble;
	return TQ_OK;
}

/*
 * transformers 5 writes rope_theta and rope_scaling's members into one
 * "rope_parameters" object, or one per layer type ("full_attention",
 * "sliding_attention": Gemma 3).  The object for layer_type (the whole
 * object when it is not per type), or NULL.
 */
static const cJSON *
cfg_rope_params(const cJSON *root, const char *layer_type)
{
	const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root,
	    "rope_parameters");
	const cJSON *t;

	if (!cJSON_IsObject(rp))
		return NULL;
	if ((t = cJSON_GetObjectItemCaseSensitive(rp, layer_type)) != NULL ||
	    cJSON_GetObjectItemCaseSensitive(rp, "full_attention") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(rp, "sliding_attention") != NULL)
		return cJSON_IsObject(t) ? t : NULL;
	return rp;
}

/*
 * The rope scaling of full-attention layers: "rope_scaling", else
 * transformers 5's "rope_parameters" unless its rope_type is "default"
 * (no scaling), else NULL.
 */
static const cJSON *
cfg_rope_scaling_obj(const cJSON *root)
{
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
	const cJSON *t;

	if (rs != NULL)
		return rs;
	if ((rs = cfg_rope_params(root, "full_attention")) == NULL)
		return NULL;
	t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
	if (t == NULL || (cJSON_IsString(t) &&
	    strcmp(t->valuestring, "default") == 0))
		return NULL;
	return rs;
}

static tq_status
cfg_bool(const char *path, const cJSON *root, const char *key, int *out,
    tq_error *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);

	if (j == NULL || cJSON_IsNull(j))
		return TQ_OK;
	if (!cJSON_IsBool(j))
		return tq_fail(err, TQ_EFORMAT, "%s: \"%s\" must be true or false",
		    path, key);
	*out = cJSON_IsTrue(j);
	return TQ_OK;
}

/* bos/eos may be an integer or a list of them (Llama-3.1); take the first. */
static tq_status
cfg_token_id(const char *path, const cJSON *root, const char *key,
    int64_t *out, tq_error *err)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);

	if (cJSON_IsArray(j))
		j = cJSON_GetArrayItem(j, 0);
	if (j == NULL || cJSON_IsNull(j))
		return TQ_OK;
	return cfg_int_value(path, j, key, 0, INT32_MAX, out, err);
}

static tq_status
cfg_arch(const char *path, const cJSON *root, tq_arch *arch, tq_error *err)
{
	static const struct {
		const char *model_type, *class_name;
		tq_arch arch;
	} known[] = {
		{ "llama", "LlamaForCausalLM", TQ_ARCH_LLAMA },
		{ "mistral", "MistralForCausalLM", TQ_ARCH_MISTRAL },
		{ "qwen2", "Qwen2ForCausalLM", TQ_ARCH_QWEN2 },
		{ "qwen3", "Qwen3ForCausalLM", TQ_ARCH_QWEN3 },
		{ "smollm3", "SmolLM3ForCausalLM", TQ_ARCH_SMOLLM3 },
		{ "gemma2", "Gemma2ForCausalLM", TQ_ARCH_GEMMA2 },
		{ "gemma3_text", "Gemma3ForCausalLM", TQ_ARCH_GEMMA3 },
		{ "phi3", "Phi3ForCausalLM", TQ_ARCH_PHI3 },
		{ "mixtral", "MixtralForCausalLM", TQ_ARCH_MIXTRAL },
		{ "qwen3_moe", "Qwen3MoeForCausalLM", TQ_ARCH_QWEN3_MOE },
		{ "gpt_oss", "GptOssForCausalLM", TQ_ARCH_GPT_OSS },
	};
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
	const cJSON *ar = cJSON_GetObjectItemCaseSensitive(root, "architectures");
	const char *name = NULL;
	size_t i;

	/* A model_type of another type is an error, not absent. */
	if (mt != NULL && !cJSON_IsString(mt))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: \"model_type\" must be a string", path);
	if (cJSON_IsString(mt) && strcmp(mt->valuestring, "gemma3") == 0)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: the multimodal "
		    "gemma3 (Gemma3ForConditionalGeneration) is not supported; "
		    "its text-only form (model_type gemma3_text) is", path);
	if (cJSON_IsString(mt)) {
		name = mt->valuestring;
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(name, known[i].model_type) == 0) {
				*arch = known[i].arch;
				return TQ_OK;
			}
	} else if (cJSON_IsArray(ar) && cJSON_IsString(cJSON_GetArrayItem(ar, 0))) {
		name = cJSON_GetArrayItem(ar, 0)->valuestring;
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(name, known[i].class_name) == 0) {
				*arch = known[i].arch;
				return TQ_OK;
			}
	} else {
		return tq_fail(err, TQ_EFORMAT,
		    "%s: no \"model_type\" or \"architectures\"; is this a "
		    "Hugging Face model config?", path);
	}
	return tq_fail(err, TQ_EUNSUPPORTED,
	    "%s: unknown architecture \"%.64s\" (supported: llama, mistral, "
	    "qwen2, qwen3, smollm3, gemma2, gemma3_text, phi3, mixtral, "
	    "qwen3_moe, gpt_oss)", path, name);
}

/*
 * A per-layer flag into bits[] (bit li % 64 of bits[li / 64]): from the
 * list under key, one entry a layer, flag() of each (1, 0, or -1 with err
 * set); without the list, every every-th layer, every_key overriding
 * every when it is not NULL.  what names the entries in messages.
 */
static tq_status
cfg_layer_bits(const char *path, const cJSON *root, const tq_model_config *c,
    const char *key, const char *every_key, int64_t every, const char *what,
    int (*flag)(const char *, const cJSON *, tq_error *), uint64_t *bits,
    tq_error *err)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, key), *j;
	int64_t li = 0;
	tq_status st;
	int f;

	memset(bits, 0, 16 * sizeof(*bits));	/* no_rope, full_attn: [16] */
	if (list == NULL || cJSON_IsNull(list)) {
		if (every_key != NULL && (st = cfg_int(path, root, every_key, 1,
		    1024, &every, err)) != TQ_OK)
			return st;
		for (li = every - 1; li < c->n_layers; li += every)
			bits[li / 64] |= (uint64_t)1 << (li % 64);
		return TQ_OK;
	}
	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != c->n_layers)
		return tq_fail(err, TQ_EFORMAT, "%s: \"%s\" must be a list of "
		    "num_hidden_layers (%lld) %s", path, key,
		    (long long)c->n_layers, what);
	cJSON_ArrayForEach(j, list) {
		if ((f = flag(path, j, err)) < 0)
			return err->status;
		if (f)
			bits[li / 64] |= (uint64_t)1 << (li % 64);
		li++;
	}
	return TQ_OK;
}

/* SmolLM3's no_rope_layers entry: 1 for a layer with RoPE, 0 without. */
static int
cfg_flag_nope(const char *path, const cJSON *j, tq_error *err)
{
	int64_t v = 1;

	if (cfg_int_value(path, j, "no_rope_layers", 0, 1, &v, err) != TQ_OK)
		return -1;
	return v == 0;
}

/* Gemma's layer_types entry: 1 for a global layer. */
static int
cfg_flag_full(const char *path, const cJSON *j, tq_error *err)
{
	if (cJSON_IsString(j) && strcmp(j->valuestring, "full_attention") == 0)
		return 1;
	if (cJSON_IsString(j) &&
	    strcmp(j->valuestring, "sliding_attention") == 0)
		return 0;
	tq_fail(err, TQ_EFORMAT, "%s: \"layer_types\" entries must be "
	    "\"sliding_attention\" or \"full_attention\"", path);
	return -1;
}

/* A soft-cap: absent keeps *out, null is none (0), else a positive number. */
static tq_status
cfg_cap(const char *path, const cJSON *root, const char *key, double *out,
    tq_error *err)
{
	if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, key))) {
		*out = 0.0;
		return TQ_OK;
	}
	return cfg_num(path, root, key, out, err);
}

/*
 * Gemma 2 and 3's block: (1 + w) norms, post-norms, GeGLU, scaled
 * embeddings and scores, sliding layers, soft-caps; their defaults are set
 * by tq_hf_config_parse.  The global layers: "layer_types" when given,
 * else every sliding_window_pattern-th (Gemma 3, default 6) or every
 * other one (Gemma 2, which reads no pattern key), as the configs do.
 */
static tq_status
cfg_gemma(const char *path, const cJSON *root, tq_model_config *c,
    tq_error *err)
{
	const cJSON *act = cJSON_GetObjectItemCaseSensitive(root,
	    "hidden_activation");
	const cJSON *sw = cJSON_GetObjectItemCaseSensitive(root,
	    "sliding_window");
	double acap = 0.0;
	int64_t li;
	tq_status st;

	if (act != NULL && !cJSON_IsNull(act) && (!cJSON_IsString(act) ||
	    strcmp(act->valuestring, "gelu_pytorch_tanh") != 0))
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: hidden_activation "
		    "must be \"gelu_pytorch_tanh\" (the one gemma uses)", path);
	if ((st = cfg_bool(path, root, "attention_bias", &c->attention_bias,
	    err)) != TQ_OK ||
	    (st = cfg_num(path, root, "query_pre_attn_scalar",
	    &c->query_pre_attn_scalar, err)) != TQ_OK ||
	    (st = cfg_cap(path, root, "attn_logit_softcapping",
	    c->arch == TQ_ARCH_GEMMA2 ? &c->attn_softcap : &acap, err)) !=
	    TQ_OK ||
	    (st = cfg_cap(path, root, "final_logit_softcapping",
	    &c->final_softcap, err)) != TQ_OK ||
	    (st = cfg_int(path, root, "sliding_window", 1, (int64_t)1 << 30,
	    &c->sliding_window, err)) != TQ_OK ||
	    (st = cfg_layer_bits(path, root, c, "layer_types",
	    c->arch == TQ_ARCH_GEMMA3 ? "sliding_window_pattern" : NULL,
	    c->arch == TQ_ARCH_GEMMA3 ? 6 : 2, "strings", cfg_flag_full,
	    c->full_attn, err)) != TQ_OK)
		return st;
	/* Gemma3Attention (4.53) passes no softcap to its attention. */
	if (acap > 0.0)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: gemma3 with "
		    "attn_logit_softcapping is not supported (transformers "
		    "ignores it)", path);
	if (c->arch == TQ_ARCH_GEMMA3 && ((st = cfg_num(path, root,
	    "rope_local_base_freq", &c->rope_local_theta, err)) != TQ_OK ||
	    (st = cfg_num(path, cfg_rope_params(root, "sliding_attention"),
	    "rope_theta", &c->rope_local_theta, err)) != TQ_OK))
		return st;
	for (li = 0; li < c->n_layers; li++)
		if (!(c->full_attn[li / 64] >> (li % 64) & 1))
			break;
	if (cJSON_IsNull(sw)) {
		if (li < c->n_layers)
			return tq_fail(err, TQ_EFORMAT, "%s: layer %lld slides "
			    "but \"sliding_window\" is null", path,
			    (long long)li);
		c->sliding_window = 0;
	}
	return TQ_OK;
}

/* A longrope factor list of n positive numbers into out[n]. */
static tq_status
cfg_factors(const char *path, const cJSON *rs, const char *key, int64_t n,
    float *out, tq_error *err)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(rs, key), *j;
	int64_t i = 0;

	if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != n)
		return tq_fail(err, TQ_EFORMAT, "%s: rope_scaling \"%s\" must be "
		    "a list of %lld numbers (rotary dimension / 2)", path, key,
		    (long long)n);
	cJSON_ArrayForEach(j, list) {
		if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) ||
		    !(j->valuedouble > 0.0))
			return tq_fail(err, TQ_EFORMAT, "%s: rope_scaling \"%s\" "
			    "entries must be positive numbers", path, key);
		out[i++] = (float)j->valuedouble;
	}
	return TQ_OK;
}

/*
 * Phi3Config: partial_rotary_factor, original_max_position_embeddings, a
 * "longrope" rope_scaling of exactly type, short_factor and long_factor
 * ("su" and "yarn" are its old names), sliding_window, SiLU.  The
 * attention factor is transformers': sqrt(1 + ln(s) / ln(original)) for
 * s = max_position_embeddings / original > 1, else 1.
 */
static tq_status
cfg_phi3(const char *path, const cJSON *root, tq_model_config *c,
    tq_error *err)
{
	double prf = 1.0, s;
	const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
	const cJSON *rs = cfg_rope_scaling_obj(root);
	const cJSON *t;
	tq_status st;

	if (act != NULL && !cJSON_IsNull(act) && (!cJSON_IsString(act) ||
	    strcmp(act->valuestring, "silu") != 0))
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: phi3's hidden_act "
		    "must be \"silu\"", path);
	c->rope_original_max_pos = 4096;
	if ((st = cfg_num(path, root, "partial_rotary_factor", &prf, err)) !=
	    TQ_OK ||
	    (st = cfg_int(path, root, "original_max_position_embeddings", 1,
	    INT32_MAX, &c->rope_original_max_pos, err)) != TQ_OK ||
	    (st = cfg_int(path, root, "sliding_window", 1, (int64_t)1 << 30,
	    &c->sliding_window, err)) != TQ_OK)
		return st;
	/* transformers: int(head_dim * partial_rotary_factor); prf is
	 * checked first so that the conversion stays in range. */
	if (prf > 1.0)
		return tq_fail(err, TQ_EFORMAT, "%s: partial_rotary_factor %g "
		    "is above 1", path, prf);
	c->rope_dim = (int64_t)((double)c->head_dim * prf);
	if (c->rope_dim < 2 || c->rope_dim % 2 != 0)
		return tq_fail(err, TQ_EFORMAT, "%s: partial_rotary_factor %g "
		    "gives %lld rotary dimensions of %lld; they must be even and "
		    "at least 2", path, prf, (long long)c->rope_dim,
		    (long long)c->head_dim);
	if (c->rope_dim == c->head_dim)
		c->rope_dim = 0;
	if (rs == NULL || cJSON_IsNull(rs))
		return TQ_OK;
	t = cJSON_GetObjectItemCaseSensitive(rs, "type");
	if (t == NULL)
		t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
	if (!cJSON_IsObject(rs) || cJSON_GetArraySize(rs) != 3 ||
	    !cJSON_IsString(t) || (strcmp(t->valuestring, "longrope") != 0 &&
	    strcmp(t->valuestring, "su") != 0 &&
	    strcmp(t->valuestring, "yarn") != 0))
		return tq_fail(err, TQ_EFORMAT, "%s: phi3's rope_scaling must "
		    "be null or hold exactly type \"longrope\", short_factor "
		    "and long_factor", path);
	s = (c->rope_dim > 0 ? c->rope_dim : c->head_dim) / 2;
	if (s > TQ_ROPE_FACTORS_MAX)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: longrope over %g "
		    "rotary pairs (at most %d)", path, s, TQ_ROPE_FACTORS_MAX);
	if ((st = cfg_factors(path, rs, "short_factor", (int64_t)s,
	    c->rope_short_factor, err)) != TQ_OK ||
	    (st = cfg_factors(path, rs, "long_factor", (int64_t)s,
	    c->rope_long_factor, err)) != TQ_OK)
		return st;
	c->rope_type = TQ_ROPE_LONGROPE;
	s = (double)c->max_position_embeddings /
	    (double)c->rope_original_max_pos;
	c->rope_attn_factor = s <= 1.0 ? 1.0 : sqrt(1.0 + log(s) /
	    log((double)c->rope_original_max_pos));
	return TQ_OK;
}

/* YaRN's attention factor for a scale s, as transformers' get_mscale. */
static double
cfg_yarn_mscale(double s, double mscale)
{
	return s <= 1.0 ? 1.0 : 0.1 * mscale * log(s) + 1.0;
}

/*
 * transformers' _compute_yarn_parameters (4.55): the factor, or
 * max_position_embeddings / original_max_position_embeddings when the
 * latter is given; beta_fast 32 and beta_slow 1 unless given; truncate
 * true unless given; the attention factor given, or from mscale and
 * mscale_all_dim, or 0.1 ln(factor) + 1.
 */
static tq_status
cfg_yarn(const char *path, const cJSON *rs, tq_model_config *c,
    tq_error *err)
{
	double af = 0.0, ms = 0.0, msa = 0.0;
	int64_t orig = 0;
	tq_status st;

	c->rope_type = TQ_ROPE_YARN;
	c->rope_factor = 0.0;
	c->rope_beta_fast = 32.0;
	c->rope_beta_slow = 1.0;
	c->rope_truncate = 1;
	if ((st = cfg_num(path, rs, "factor", &c->rope_factor, err)) != TQ_OK ||
	    (st = cfg_num(path, rs, "attention_factor", &af, err)) != TQ_OK ||
	    (st = cfg_num(path, rs, "mscale", &ms, err)) != TQ_OK ||
	    (st = cfg_num(path, rs, "mscale_all_dim", &msa, err)) != TQ_OK ||
	    (st = cfg_num(path, rs, "beta_fast", &c->rope_beta_fast, err)) !=
	    TQ_OK ||
	    (st = cfg_num(path, rs, "beta_slow", &c->rope_beta_slow, err)) !=
	    TQ_OK ||
	    (st = cfg_bool(path, rs, "truncate", &c->rope_truncate, err)) !=
	    TQ_OK ||
	    (st = cfg_int(path, rs, "original_max_position_embeddings", 1,
	    INT32_MAX, &orig, err)) != TQ_OK)
		return st;
	if (c->rope_factor == 0.0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: rope_scaling \"yarn\" needs a \"factor\"", path);
	c->rope_original_max_pos = c->max_position_embeddings;
	if (orig > 0) {
		c->rope_original_max_pos = orig;
		c->rope_factor = (double)c->max_position_embeddings /
		    (double)orig;
	}
	if (af > 0.0)
		c->rope_attn_factor = af;
	else if (ms > 0.0 && msa > 0.0)
		c->rope_attn_factor = cfg_yarn_mscale(c->rope_factor, ms) /
		    cfg_yarn_mscale(c->rope_factor, msa);
	else
		c->rope_attn_factor = cfg_yarn_mscale(c->rope_factor, 1.0);
	return TQ_OK;
}

/*
 * GptOssConfig (4.55): attention biases always, sinks, the sliding layers
 * of layer_types (default: every other one, from layer 0), experts of
 * intermediate_size routed by a biased router, top-k then softmax, the
 * clamped SwiGLU (limit swiglu_limit, 7 unless given).  Its experts in
 * MXFP4 are the one quantization_config read (formats/hf_model.c).
 */
static tq_status
cfg_gpt_oss(const char *path, const cJSON *root, tq_model_config *c,
    tq_error *err)
{
	const cJSON *q = cJSON_GetObjectItemCaseSensitive(root,
	    "quantization_config"), *qm;
	tq_status st;

	c->n_experts = 128;
	c->n_experts_used = 4;
	c->moe_inter = c->intermediate_size;
	c->norm_topk_prob = 1;
	c->router_topk_softmax = 1;
	c->attn_sinks = 1;
	c->attention_bias = 1;
	c->expert_bias = 1;
	c->swiglu_limit = 7.0;
	if ((st = cfg_int(path, root, "num_local_experts", 1, 256,
	    &c->n_experts, err)) != TQ_OK ||
	    (st = cfg_int(path, root, "num_experts_per_tok", 1, 256,
	    &c->n_experts_used, err)) != TQ_OK ||
	    (st = cfg_num(path, root, "swiglu_limit", &c->swiglu_limit,
	    err)) != TQ_OK ||
	    (st = cfg_int(path, root, "sliding_window", 1, (int64_t)1 << 30,
	    &c->sliding_window, err)) != TQ_OK ||
	    (st = cfg_layer_bits(path, root, c, "layer_types", NULL, 2,
	    "strings", cfg_flag_full, c->full_attn, err)) != TQ_OK)
		return st;
	/* a null window: no layer slides, whatever layer_types says */
	if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root,
	    "sliding_window")))
		c->sliding_window = 0;
	/* GptOssConfig's rope_scaling when config.json has none */
	if (cfg_rope_scaling_obj(root) == NULL) {
		c->rope_type = TQ_ROPE_YARN;
		c->rope_factor = 32.0;
		c->rope_beta_fast = 32.0;
		c->rope_beta_slow = 1.0;
		c->rope_truncate = 0;
		c->rope_original_max_pos = c->max_position_embeddings;
		c->rope_attn_factor = cfg_yarn_mscale(32.0, 1.0);
	}
	if (q != NULL && !cJSON_IsNull(q)) {
		qm = cJSON_GetObjectItemCaseSensitive(q, "quant_method");
		if (!cJSON_IsObject(q) || !cJSON_IsString(qm) ||
		    strcmp(qm->valuestring, "mxfp4") != 0)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: gpt_oss's "
			    "quantization_config must have quant_method "
			    "\"mxfp4\" (the experts' blocks and scales)", path);
	}
	return TQ_OK;
}

static tq_status
cfg_rope_scaling(const char *path, const cJSON *root, tq_model_config *c,
    tq_error *err)
{
	const cJSON *rs = cfg_rope_scaling_obj(root);
	const cJSON *t;
	const char *type;
	tq_status st;

	c->rope_type = TQ_ROPE_DEFAULT;
	if (rs == NULL || cJSON_IsNull(rs) || c->arch == TQ_ARCH_PHI3)
		return TQ_OK;	/* phi3's is cfg_phi3's */
	if (!cJSON_IsObject(rs))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: \"rope_scaling\" must be an object or null", path);
	t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
	if (t == NULL)
		t = cJSON_GetObjectItemCaseSensitive(rs, "type");
	if (!cJSON_IsString(t))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: \"rope_scaling\" needs a string \"rope_type\"", path);
	type = t->valuestring;
	if (strcmp(type, "default") == 0)
		return TQ_OK;
	if (strcmp(type, "linear") == 0)
		c->rope_type = TQ_ROPE_LINEAR;
	else if (strcmp(type, "dynamic") == 0)
		c->rope_type = TQ_ROPE_DYNAMIC;
	else if (strcmp(type, "llama3") == 0)
		c->rope_type = TQ_ROPE_LLAMA3;
	else if (strcmp(type, "yarn") == 0 && c->arch == TQ_ARCH_GPT_OSS)
		return cfg_yarn(path, rs, c, err);
	else
		return tq_fail(err, TQ_EUNSUPPORTED,
		    "%s: rope_scaling type \"%.32s\" is not supported (default, "
		    "linear, dynamic, llama3; yarn for gpt_oss)", path, type);
	c->rope_factor = 0.0;
	if ((st = cfg_num(path, rs, "factor", &c->rope_factor, err)) != TQ_OK)
		return st;
	if (c->rope_factor == 0.0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: rope_scaling \"%s\" needs a \"factor\"", path, type);
	if (c->rope_type != TQ_ROPE_LLAMA3)
		return TQ_OK;
	c->rope_low_freq_factor = 0.0;
	c->rope_high_freq_factor = 0.0;
	c->rope_original_max_pos = 0;
	if ((st = cfg_num(path, rs, "low_freq_factor",
	    &c->rope_low_freq_factor, err)) != TQ_OK ||
	    (st = cfg_num(path, rs, "high_freq_factor",
	    &c->rope_high_freq_factor, err)) != TQ_OK ||
	    (st = cfg_int(path, rs, "original_max_position_embeddings", 1,
	    INT32_MAX, &c->rope_original_max_pos, err)) != TQ_OK)
		return st;
	if (c->rope_low_freq_factor == 0.0 || c->rope_high_freq_factor == 0.0 ||
	    c->rope_original_max_pos == 0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: llama3 rope_scaling needs low_freq_factor, "
		    "high_freq_factor and original_max_position_embeddings", path);
	if (c->rope_high_freq_factor <= c->rope_low_freq_factor)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: llama3 rope_scaling needs high_freq_factor > "
		    "low_freq_factor", path);
	return TQ_OK;
}

tq_status
tq_hf_config_check(const char *path, const tq_model_config *c,
    tq_error *err)
{
	/* Limits keep every size product far from overflow. */
	static const struct {
		const char *what;
		size_t off;
		int64_t lo, hi;
	} lim[] = {
#define LIM(f, what, lo, hi) { what, offsetof(tq_model_config, f), lo, hi }
		LIM(vocab_size, "vocabulary size", 1, (int64_t)1 << 24),
		LIM(hidden_size, "hidden size", 1, 65536),
		LIM(intermediate_size, "intermediate size", 1, 1 << 20),
		LIM(n_layers, "layer count", 1, 1024),
		LIM(n_heads, "attention head count", 1, 1024),
		LIM(n_kv_heads, "KV head count", 1, 1024),
		LIM(max_position_embeddings, "context length", 1,
		    (int64_t)1 << 30),
#undef LIM
	};
	size_t i;

	for (i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		int64_t v = *(const int64_t *)(const void *)((const char *)c +
		    lim[i].off);

		if (v < lim[i].lo || v > lim[i].hi)
			return tq_fail(err, TQ_EFORMAT, "%s: %s %lld is outside "
			    "[%lld, %lld]", path, lim[i].what, (long long)v,
			    (long long)lim[i].lo, (long long)lim[i].hi);
	}
	if (c->n_experts < 0 || c->n_experts > 256 || (c->n_experts > 0 &&
	    (c->n_experts_used < 1 || c->n_experts_used > c->n_experts ||
	    c->moe_inter < 1 || c->moe_inter > (1 << 20))))
		return tq_fail(err, TQ_EFORMAT, "%s: %lld experts, %lld used per "
		    "token, of intermediate size %lld: want 1..256 experts, "
		    "1..experts used and a size in [1, 1048576]", path,
		    (long long)c->n_experts, (long long)c->n_experts_used,
		    (long long)c->moe_inter);
	if (c->n_heads % c->n_kv_heads != 0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: %lld attention heads are not a multiple of %lld KV "
		    "heads", path, (long long)c->n_heads,
		    (long long)c->n_kv_heads);
	if (c->head_dim < 2 || c->head_dim > 4096 || c->head_dim % 2 != 0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: head dimension %lld must be even and in [2, 4096]",
		    path, (long long)c->head_dim);
	if (c->n_heads * c->head_dim > 65536)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: attention heads * head dimension is too large", path);
	if (!isfinite(c->rms_norm_eps) || !(c->rms_norm_eps > 0.0 &&
	    c->rms_norm_eps < 1.0))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: RMS norm epsilon %g must be in (0, 1)", path,
		    c->rms_norm_eps);
	/*
	 * Below 1 the rotary frequencies theta^(-2i/d) grow instead of
	 * falling, overflow, and the attention turns to NaN.
	 */
	if (!isfinite(c->rope_theta) || !(c->rope_theta >= 1.0))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: rope theta %g must be a finite number >= 1", path,
		    c->rope_theta);
	if (c->rope_local_theta != 0.0 && (!isfinite(c->rope_local_theta) ||
	    !(c->rope_local_theta >= 1.0)))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: local rope theta %g must be a finite number >= 1",
		    path, c->rope_local_theta);
	return TQ_OK;
}

/*
 * The experts of Mixtral (num_local_experts, every layer, each of
 * intermediate_size, top-k weights renormalised) and Qwen3-MoE
 * (num_experts of moe_intermediate_size; renormalised when
 * norm_topk_prob; a layer is dense when mlp_only_layers lists it or
 * li + 1 is not a multiple of decoder_sparse_step, as transformers 4.53).
 */
static tq_status
cfg_moe(const char *path, const cJSON *root, tq_model_config *c,
    tq_error *err)
{
	int mix = c->arch == TQ_ARCH_MIXTRAL;
	const cJSON *only, *j;
	int64_t step = 1, li;
	tq_status st;

	c->n_experts = mix ? 8 : 128;
	c->n_experts_used = mix ? 2 : 8;
	c->moe_inter = mix ? c->intermediate_size : 768;
	c->norm_topk_prob = mix;
	memset(c->dense_mlp, 0, sizeof(c->dense_mlp));
	if ((st = cfg_int(path, root, mix ? "num_local_experts" :
	    "num_experts", 0, 256, &c->n_experts, err)) != TQ_OK ||
	    (st = cfg_int(path, root, "num_experts_per_tok", 1, 256,
	    &c->n_experts_used, err)) != TQ_OK)
		return st;
	if (mix)
		return TQ_OK;
	if ((st = cfg_int(path, root, "moe_intermediate_size", 1, 1 << 20,
	    &c->moe_inter, err)) != TQ_OK ||
	    (st = cfg_bool(path, root, "norm_topk_prob", &c->norm_topk_prob,
	    err)) != TQ_OK ||
	    (st = cfg_int(path, root, "decoder_sparse_step", 1, 1024, &step,
	    err)) != TQ_OK)
		return st;
	for (li = 0; li < c->n_layers; li++)
		if ((li + 1) % step != 0)
			c->dense_mlp[li / 64] |= (uint64_t)1 << (li % 64);
	only = cJSON_GetObjectItemCaseSensitive(root, "mlp_only_layers");
	if (only != NULL && !cJSON_IsNull(only) && !cJSON_IsArray(only))
		return tq_fail(err, TQ_EFORMAT, "%s: \"mlp_only_layers\" must be "
		    "a list of layer indices", path);
	cJSON_ArrayForEach(j, only) {
		if ((st = cfg_int_value(path, j, "mlp_only_layers", 0,
		    c->n_layers - 1, &li, err)) != TQ_OK)
			return st;
		c->dense_mlp[li / 64] |= (uint64_t)1 << (li % 64);
	}
	if (c->n_experts == 0)
		memset(c->dense_mlp, 0, sizeof(c->dense_mlp));
	return TQ_OK;
}

tq_status
tq_hf_config_parse(const char *path, const cJSON *root, tq_model_config *c,
    tq_error *err)
{
	/* Limits keep every size product far from overflow. */
	const int64_t big = (int64_t)1 << 24;
	int use_sliding = 0;
	tq_status st;

	memset(c, 0, sizeof(*c));
	if (!cJSON_IsObject(root))
		return tq_fail(err, TQ_EFORMAT, "%s: not a JSON object", path);
	if ((st = cfg_arch(path, root, &c->arch, err)) != TQ_OK)
		return st;

	c->max_position_embeddings = 2048;
	c->rms_norm_eps = 1e-6;
	c->rope_theta = 10000.0;
	c->bos_token_id = -1;
	c->eos_token_id = -1;
	if (c->arch == TQ_ARCH_MISTRAL) {
		c->max_position_embeddings = 4096 * 32;
		c->sliding_window = 4096;
	} else if (c->arch == TQ_ARCH_QWEN2) {
		c->max_position_embeddings = 32768;
		c->qkv_bias = 1;
	} else if (c->arch == TQ_ARCH_QWEN3 || c->arch == TQ_ARCH_QWEN3_MOE) {
		c->max_position_embeddings = 32768;
		c->qk_norm = 1;
	} else if (c->arch == TQ_ARCH_MIXTRAL) {
		/* MixtralConfig: sliding_window None */
		c->max_position_embeddings = 4096 * 32;
		c->rms_norm_eps = 1e-5;
		c->rope_theta = 1e6;
	} else if (c->arch == TQ_ARCH_SMOLLM3) {
		/* SmolLM3Config keeps PretrainedConfig's tied embeddings. */
		c->max_position_embeddings = 32768;
		c->rope_theta = 2000000.0;
		c->tie_word_embeddings = 1;
	} else if (c->arch == TQ_ARCH_GEMMA2 || c->arch == TQ_ARCH_GEMMA3) {
		int g3 = c->arch == TQ_ARCH_GEMMA3;

		c->max_position_embeddings = g3 ? 131072 : 8192;
		c->rope_theta = g3 ? 1000000.0 : 10000.0;
		c->rope_local_theta = g3 ? 10000.0 : 0.0;
		c->tie_word_embeddings = 1;
		c->qk_norm = g3;
		c->norm_unit_offset = c->post_norms = c->mlp_gelu = 1;
		c->embed_scale = 1;
		c->query_pre_attn_scalar = 256.0;
		c->sliding_window = 4096;
		c->attn_softcap = g3 ? 0.0 : 50.0;
		c->final_softcap = g3 ? 0.0 : 30.0;
	} else if (c->arch == TQ_ARCH_GPT_OSS) {
		c->max_position_embeddings = 131072;
		c->rms_norm_eps = 1e-5;
		c->rope_theta = 150000.0;
		c->sliding_window = 128;
	} else if (c->arch == TQ_ARCH_PHI3) {
		c->max_position_embeddings = 4096;
		c->rms_norm_eps = 1e-5;
		c->bos_token_id = 1;
		c->eos_token_id = 32000;
		c->fused_proj = 1;
	}

	c->vocab_size = c->hidden_size = c->intermediate_size = -1;
	c->n_layers = c->n_heads = -1;
	if ((st = cfg_int(path, root, "vocab_size", 1, big, &c->vocab_size,
	    err)) != TQ_OK ||
	    (st = cfg_int(path, root, "hidden_size", 1, 65536, &c->hidden_size,
	    err)) != TQ_OK ||
	    (st = cfg_int(path, root, "intermediate_size", 1, 1 << 20,
	    &c->intermediate_size, err)) != TQ_OK ||
	    (st = cfg_int(path, root, "num_hidden_layers", 1, 1024,
	    &c->n_layers, err)) != TQ_OK ||
	    (st = cfg_int(path, root, "num_attention_heads", 1, 1024,
	    &c->n_heads, err)) != TQ_OK)
		return st;
	if (c->vocab_size < 0 || c->hidden_size < 0 ||
	    c->intermediate_size < 0 || c->n_layers < 0 || c->n_heads < 0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: missing one of vocab_size, hidden_size, "
		    "intermediate_size, num_hidden_layers, num_attention_heads",
		    path);
	c->n_kv_heads = c->n_heads;
	/* Qwen3Config's head_dim is 128 unless given, Gemma's 256. */
	c->head_dim = c->arch == TQ_ARCH_QWEN3 ? 128 : c->arch ==
	    TQ_ARCH_GEMMA2 || c->arch == TQ_ARCH_GEMMA3 ? 256 : c->arch ==
	    TQ_ARCH_GPT_OSS ? 64 : c->hidden_size / c->n_heads;
	if ((st = cfg_int(path, root, "num_key_value_heads", 1, 1024,
	    &c->n_kv_heads, err)) != TQ_OK ||
	    (st = cfg_int(path, root, "head_dim", 2, 4096, &c->head_dim,
	    err)) != TQ_OK ||
	    (st = cfg_int(path, root, "max_position_embeddings", 1, big * 64,
	    &c->max_position_embeddings, err)) != TQ_OK ||
	    (st = cfg_num(path, root, "rms_norm_eps", &c->rms_norm_eps,
	    err)) != TQ_OK ||
	    (st = cfg_num(path, root, "rope_theta", &c->rope_theta,
	    err)) != TQ_OK ||
	    (st = cfg_num(path, cfg_rope_params(root, "full_attention"),
	    "rope_theta", &c->rope_theta, err)) != TQ_OK ||
	    (st = cfg_bool(path, root, "tie_word_embeddings",
	    &c->tie_word_embeddings, err)) != TQ_OK ||
	    (st = cfg_token_id(path, root, "bos_token_id", &c->bos_token_id,
	    err)) != TQ_OK ||
	    (st = cfg_token_id(path, root, "eos_token_id", &c->eos_token_id,
	    err)) != TQ_OK ||
	    (st = cfg_rope_scaling(path, root, c, err)) != TQ_OK)
		return st;
	/*
	 * transformers (4.46) builds Mistral's rotary embedding without
	 * rope_scaling, and Qwen2's heads from hidden_size alone; follow it.
	 */
	if (c->arch == TQ_ARCH_MISTRAL)
		c->rope_type = TQ_ROPE_DEFAULT;
	if (c->arch == TQ_ARCH_QWEN2)
		c->head_dim = c->hidden_size / c->n_heads;

	switch (c->arch) {
	case TQ_ARCH_LLAMA:
		if ((st = cfg_bool(path, root, "attention_bias",
		    &c->attention_bias, err)) != TQ_OK ||
		    (st = cfg_bool(path, root, "mlp_bias", &c->mlp_bias,
		    err)) != TQ_OK)
			return st;
		break;
	case TQ_ARCH_MIXTRAL:
		if ((st = cfg_moe(path, root, c, err)) != TQ_OK)
			return st;
		/* FALLTHROUGH */
	case TQ_ARCH_MISTRAL:
		if ((st = cfg_int(path, root, "sliding_window", 1, big * 64,
		    &c->sliding_window, err)) != TQ_OK)
			return st;
		if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root,
		    "sliding_window")))
			c->sliding_window = 0;
		break;
	case TQ_ARCH_QWEN3_MOE:
		if ((st = cfg_moe(path, root, c, err)) != TQ_OK)
			return st;
		/* FALLTHROUGH */
	case TQ_ARCH_QWEN3:
	case TQ_ARCH_SMOLLM3:
		if ((st = cfg_bool(path, root, "attention_bias",
		    &c->attention_bias, err)) != TQ_OK)
			return st;
		if (c->arch == TQ_ARCH_SMOLLM3 &&
		    (st = cfg_layer_bits(path, root, c, "no_rope_layers",
		    "no_rope_layer_interval", 4, "zeros and ones",
		    cfg_flag_nope, c->no_rope, err)) != TQ_OK)
			return st;
		/* FALLTHROUGH */
	case TQ_ARCH_QWEN2:
		/* These slide only when use_sliding_window says so. */
		if ((st = cfg_bool(path, root, "use_sliding_window",
		    &use_sliding, err)) != TQ_OK)
			return st;
		if (use_sliding)
			return tq_fail(err, TQ_EUNSUPPORTED,
			    "%s: %s with use_sliding_window is not supported",
			    path, tq_arch_name(c->arch));
		break;
	case TQ_ARCH_GEMMA2:
	case TQ_ARCH_GEMMA3:
		if ((st = cfg_gemma(path, root, c, err)) != TQ_OK)
			return st;
		break;
	case TQ_ARCH_PHI3:
		if ((st = cfg_phi3(path, root, c, err)) != TQ_OK)
			return st;
		break;
	case TQ_ARCH_GPT_OSS:
		if ((st = cfg_gpt_oss(path, root, c, err)) != TQ_OK)
			return st;
		break;
	}

	return tq_hf_config_check(path, c, err);
}
