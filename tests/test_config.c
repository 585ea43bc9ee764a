/*
 * test_config.c: config.json parsing: defaults, architectures, rope
 * scaling, and every kind of wrong or hostile value.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_config.h"
#include "tap.h"

#define BASE "\"vocab_size\":100,\"hidden_size\":64,\"intermediate_size\":128," \
	"\"num_hidden_layers\":2,\"num_attention_heads\":4"
/* A smollm3 config of n layers. */
#define SMOL(n) "{\"model_type\":\"smollm3\",\"vocab_size\":100," \
	"\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":" \
	#n ",\"num_attention_heads\":4"
/* A gemma config (type t) of n layers. */
#define GEMMA(t, n) "{\"model_type\":\"" t "\",\"vocab_size\":100," \
	"\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":" \
	#n ",\"num_attention_heads\":4"

/* A phi3 config (hidden 64, 4 heads of 16) and its longrope of n pairs. */
#define PHI3 "{\"model_type\":\"phi3\",\"vocab_size\":100," \
	"\"hidden_size\":64,\"intermediate_size\":128," \
	"\"num_hidden_layers\":2,\"num_attention_heads\":4"
#define LONGROPE2 "\"rope_scaling\":{\"type\":\"longrope\"," \
	"\"short_factor\":[1,2],\"long_factor\":[3,4]}"

/* What gemma configs refuse: the config, the status, the message. */
#define GB(t, n, kv, st, text) { GEMMA(t, n) "," kv "}", st, text }
static const struct {
	const char *json;
	tq_status st;
	const char *text;
} gemma_bad[] = {
	GB("gemma2", 2, "\"hidden_activation\":\"gelu\"", TQ_EUNSUPPORTED,
	    "hidden_activation must be \"gelu_pytorch_tanh\""),
	GB("gemma3_text", 2, "\"attn_logit_softcapping\":50", TQ_EUNSUPPORTED,
	    "gemma3 with attn_logit_softcapping is not supported"),
	GB("gemma3_text", 3, "\"layer_types\":[\"full_attention\"]", TQ_EFORMAT,
	    "\"layer_types\" must be a list of num_hidden_layers (3) strings"),
	GB("gemma2", 2, "\"layer_types\":[\"full_attention\",\"chunked\"]",
	    TQ_EFORMAT, "entries must be \"sliding_attention\" or"),
	GB("gemma2", 2, "\"sliding_window\":null", TQ_EFORMAT,
	    "layer 0 slides but \"sliding_window\" is null"),
	GB("gemma3_text", 2, "\"rope_local_base_freq\":1e-300", TQ_EFORMAT,
	    "local rope theta 1e-300 must be a finite number >= 1"),
	{ PHI3 ",\"hidden_act\":\"gelu\"}", TQ_EUNSUPPORTED,
	    "phi3's hidden_act must be \"silu\"" },
	{ PHI3 ",\"partial_rotary_factor\":0.1}", TQ_EFORMAT,
	    "partial_rotary_factor 0.1 gives 1 rotary dimensions of 16" },
	{ PHI3 ",\"partial_rotary_factor\":1.5}", TQ_EFORMAT,
	    "partial_rotary_factor 1.5 is above 1" },
	/* found by fuzz_config: the product is out of int64_t's range */
	{ PHI3 ",\"partial_rotary_factor\":1e300}", TQ_EFORMAT,
	    "partial_rotary_factor 1e+300 is above 1" },
	{ PHI3 ",\"partial_rotary_factor\":0.25,\"rope_scaling\":{\"type\":"
	    "\"longrope\",\"short_factor\":[1,2],\"long_factor\":[3,4],"
	    "\"factor\":2}}", TQ_EFORMAT, "phi3's rope_scaling must be null or "
	    "hold exactly type \"longrope\", short_factor and long_factor" },
	{ PHI3 ",\"rope_scaling\":{\"type\":\"linear\",\"short_factor\":[1],"
	    "\"long_factor\":[1]}}", TQ_EFORMAT, "phi3's rope_scaling must be "
	    "null" },
	{ PHI3 ",\"partial_rotary_factor\":0.5," LONGROPE2 "}", TQ_EFORMAT,
	    "rope_scaling \"short_factor\" must be a list of 4 numbers" },
	{ PHI3 ",\"partial_rotary_factor\":0.25,\"rope_scaling\":{\"type\":"
	    "\"longrope\",\"short_factor\":[1,0],\"long_factor\":[3,4]}}",
	    TQ_EFORMAT, "rope_scaling \"short_factor\" entries must be positive" },
};

static tq_status
parse(const char *json, tq_model_config *c, tq_error *err)
{
	cJSON *root = cJSON_Parse(json);
	tq_status st;

	if (root == NULL) {
		snprintf(err->msg, sizeof(err->msg), "cJSON refused");
		return TQ_EFORMAT;
	}
	st = tq_hf_config_parse("config.json", root, c, err);
	cJSON_Delete(root);
	return st;
}

static void
expect_err(const char *what, const char *json, tq_status want,
    const char *text)
{
	tq_model_config c;
	tq_error err = { TQ_OK, "" };
	tq_status st = parse(json, &c, &err);

	tap_ok(st == want && strstr(err.msg, text) != NULL &&
	    strncmp(err.msg, "config.json: ", 13) == 0, "%s: %s", what,
	    err.msg);
}

int
main(void)
{
	tq_model_config c;
	tq_error err;
	char deep[4096];
	int i;

	tap_ok(parse("{\"model_type\":\"llama\"," BASE "}", &c, &err) == TQ_OK &&
	    c.arch == TQ_ARCH_LLAMA && c.n_kv_heads == 4 && c.head_dim == 16 &&
	    c.rope_type == TQ_ROPE_DEFAULT && c.rope_theta == 10000.0 &&
	    c.rms_norm_eps == 1e-6 && !c.tie_word_embeddings,
	    "llama defaults");
	/* transformers 5: rope_theta and the scaling in "rope_parameters" */
	tap_ok(parse("{\"model_type\":\"llama\"," BASE ",\"rope_parameters\":"
	    "{\"rope_type\":\"default\",\"rope_theta\":100000.0}}", &c,
	    &err) == TQ_OK && c.rope_theta == 100000.0 &&
	    c.rope_type == TQ_ROPE_DEFAULT, "rope_parameters' rope_theta "
	    "(transformers 5)");
	tap_ok(parse("{\"model_type\":\"llama\"," BASE ",\"rope_parameters\":"
	    "{\"rope_type\":\"llama3\",\"rope_theta\":500000.0,\"factor\":"
	    "32,\"low_freq_factor\":1,\"high_freq_factor\":4,"
	    "\"original_max_position_embeddings\":8192}}", &c, &err) ==
	    TQ_OK && c.rope_theta == 500000.0 && c.rope_type == TQ_ROPE_LLAMA3 &&
	    c.rope_factor == 32.0 && c.rope_original_max_pos == 8192,
	    "rope_parameters' llama3 scaling (transformers 5)");
	tap_ok(parse(GEMMA("gemma3_text", 2) ",\"rope_parameters\":"
	    "{\"full_attention\":{\"rope_type\":\"linear\",\"factor\":8,"
	    "\"rope_theta\":1000000.0},\"sliding_attention\":{\"rope_type\":"
	    "\"default\",\"rope_theta\":10000.0}}}", &c, &err) == TQ_OK &&
	    c.rope_theta == 1e6 && c.rope_local_theta == 10000.0 &&
	    c.rope_type == TQ_ROPE_LINEAR && c.rope_factor == 8.0,
	    "rope_parameters per layer type (gemma3, transformers 5)");
	expect_err("rope_parameters' rope_theta of 0", "{\"model_type\":\"llama\","
	    BASE ",\"rope_parameters\":{\"rope_theta\":0}}", TQ_EFORMAT,
	    "\"rope_theta\" must be a positive number");
	tap_ok(parse("{\"architectures\":[\"Qwen2ForCausalLM\"]," BASE
	    ",\"head_dim\":8}", &c, &err) == TQ_OK && c.arch == TQ_ARCH_QWEN2 &&
	    c.qkv_bias && c.head_dim == 16, "qwen2 from architectures; "
	    "head_dim from hidden/heads as transformers does");
	tap_ok(parse("{\"model_type\":\"qwen3\"," BASE "}", &c, &err) == TQ_OK &&
	    c.arch == TQ_ARCH_QWEN3 && c.qk_norm && c.head_dim == 128 &&
	    !c.qkv_bias && !c.attention_bias && !c.tie_word_embeddings &&
	    c.sliding_window == 0, "qwen3 defaults: QK-norm, head_dim 128, "
	    "no biases, untied");
	tap_ok(parse("{\"architectures\":[\"Qwen3ForCausalLM\"]," BASE
	    ",\"head_dim\":8,\"attention_bias\":true}", &c, &err) == TQ_OK &&
	    c.head_dim == 8 && c.attention_bias, "qwen3 head_dim and "
	    "attention_bias as given");
	tap_ok(parse("{\"model_type\":\"mixtral\"," BASE
	    ",\"head_dim\":null,\"sliding_window\":null}", &c, &err) ==
	    TQ_OK && c.arch == TQ_ARCH_MIXTRAL && c.n_experts == 8 &&
	    c.n_experts_used == 2 && c.norm_topk_prob && c.head_dim == 16 &&
	    c.moe_inter == c.intermediate_size && c.sliding_window == 0 &&
	    c.rope_theta == 1e6 && c.dense_mlp[0] == 0, "mixtral defaults: 8 "
	    "experts, top-2 renormalised, of intermediate_size; null "
	    "head_dim and window");
	tap_ok(parse("{\"architectures\":[\"Qwen3MoeForCausalLM\"],"
	    "\"vocab_size\":100,\"hidden_size\":64,"
	    "\"intermediate_size\":128,\"num_attention_heads\":4,"
	    "\"num_hidden_layers\":6,\"num_experts\":4,"
	    "\"num_experts_per_tok\":3,\"moe_intermediate_size\":32,"
	    "\"decoder_sparse_step\":2,\"mlp_only_layers\":[3]}", &c, &err) ==
	    TQ_OK && c.arch == TQ_ARCH_QWEN3_MOE && c.qk_norm &&
	    c.head_dim == 16 && c.n_experts == 4 && c.n_experts_used == 3 &&
	    c.moe_inter == 32 && !c.norm_topk_prob && c.dense_mlp[0] == 0x1d,
	    "qwen3_moe: head_dim from hidden/heads, dense layers 0, 2, 4 "
	    "(decoder_sparse_step 2) and 3 (mlp_only_layers)");
	tap_ok(parse("{\"model_type\":\"qwen3_moe\"," BASE
	    ",\"num_experts\":4,\"num_experts_per_tok\":5}", &c, &err) ==
	    TQ_EFORMAT && strstr(err.msg, "4 experts, 5 used per token") !=
	    NULL, "more experts per token than experts is refused");
	/* BASE has 2 layers of 64, 4 heads */
	tap_ok(parse("{\"model_type\":\"gpt_oss\"," BASE "}", &c, &err) ==
	    TQ_OK && c.arch == TQ_ARCH_GPT_OSS && c.head_dim == 64 &&
	    c.n_experts == 128 && c.n_experts_used == 4 &&
	    c.moe_inter == c.intermediate_size && c.attn_sinks &&
	    c.router_topk_softmax && c.expert_bias && c.attention_bias &&
	    c.swiglu_limit == 7.0 && c.sliding_window == 128 &&
	    c.full_attn[0] == 0x2 && c.rope_type == TQ_ROPE_YARN &&
	    c.rope_factor == 32.0 && !c.rope_truncate &&
	    c.rope_original_max_pos == c.max_position_embeddings &&
	    fabs(c.rope_attn_factor - (0.1 * log(32.0) + 1.0)) < 1e-12,
	    "gpt_oss defaults: sinks, 128 experts top-4 softmaxed, clamp 7, "
	    "window 128 on layer 0 of 2, GptOssConfig's YaRN");
	tap_ok(parse("{\"model_type\":\"gpt_oss\"," BASE ",\"head_dim\":16,"
	    "\"max_position_embeddings\":4096,\"rope_scaling\":{\"rope_type\":"
	    "\"yarn\",\"factor\":2,\"original_max_position_embeddings\":512,"
	    "\"beta_fast\":16},\"layer_types\":[\"full_attention\","
	    "\"sliding_attention\"],\"swiglu_limit\":5}", &c, &err) == TQ_OK &&
	    c.rope_factor == 8.0 && c.rope_original_max_pos == 512 &&
	    c.rope_beta_fast == 16.0 && c.rope_beta_slow == 1.0 &&
	    c.rope_truncate && c.full_attn[0] == 0x1 && c.swiglu_limit == 5.0,
	    "gpt_oss: YaRN's factor from the original context, truncate by "
	    "default, layer_types and swiglu_limit as given");
	tap_ok(parse("{\"model_type\":\"gpt_oss\"," BASE ",\"head_dim\":16,"
	    "\"quantization_config\":{\"quant_method\":\"fp8\"}}", &c, &err) ==
	    TQ_EUNSUPPORTED && strstr(err.msg, "quant_method \"mxfp4\"") !=
	    NULL, "gpt_oss quantized other than mxfp4 is refused");
	tap_ok(parse("{\"model_type\":\"llama\"," BASE ",\"rope_scaling\":"
	    "{\"rope_type\":\"yarn\",\"factor\":2}}", &c, &err) ==
	    TQ_EUNSUPPORTED, "yarn outside gpt_oss is refused");
	tap_ok(parse(SMOL(9) "}", &c, &err) == TQ_OK &&
	    c.arch == TQ_ARCH_SMOLLM3 && !c.qk_norm && c.tie_word_embeddings &&
	    c.rope_theta == 2000000.0 && c.no_rope[0] == 0x88,
	    "smollm3 defaults: tied, theta 2e6, NoPE layers 3 and 7");
	tap_ok(parse(SMOL(5) ",\"no_rope_layer_interval\":2}", &c,
	    &err) == TQ_OK && c.no_rope[0] == 0xa, "smollm3 "
	    "no_rope_layer_interval 2: NoPE layers 1 and 3");
	tap_ok(parse(SMOL(3) ",\"no_rope_layers\":[0,1,0],"
	    "\"no_rope_layer_interval\":2}", &c, &err) == TQ_OK &&
	    c.no_rope[0] == 0x5, "smollm3 no_rope_layers (0: NoPE) over the "
	    "interval");
	tap_ok(parse(GEMMA("gemma3_text", 13) "}", &c, &err) == TQ_OK &&
	    c.arch == TQ_ARCH_GEMMA3 && c.head_dim == 256 && c.qk_norm &&
	    c.norm_unit_offset && c.post_norms && c.mlp_gelu == 1 &&
	    c.embed_scale && c.query_pre_attn_scalar == 256.0 &&
	    c.sliding_window == 4096 && c.rope_theta == 1e6 &&
	    c.rope_local_theta == 1e4 && c.tie_word_embeddings &&
	    c.final_softcap == 0.0 && c.attn_softcap == 0.0 &&
	    c.full_attn[0] == 0x820, "gemma3_text defaults: head_dim 256, "
	    "QK-norm, (1 + w) and post-norms, GeGLU, layers 5 and 11 global, "
	    "theta 1e6 and 1e4 locally, tied, no soft-caps");
	tap_ok(parse("{\"architectures\":[\"Gemma3ForCausalLM\"]," BASE
	    ",\"sliding_window_pattern\":2,\"query_pre_attn_scalar\":24,"
	    "\"final_logit_softcapping\":30,\"rope_local_base_freq\":100}",
	    &c, &err) == TQ_OK && c.arch == TQ_ARCH_GEMMA3 &&
	    c.full_attn[0] == 0x2 && c.query_pre_attn_scalar == 24.0 &&
	    c.final_softcap == 30.0 && c.rope_local_theta == 100.0,
	    "gemma3 from architectures: sliding_window_pattern 2, "
	    "query_pre_attn_scalar, final soft-cap, local base as given");
	tap_ok(parse(GEMMA("gemma3_text", 3) ",\"sliding_window_pattern\":2,"
	    "\"layer_types\":[\"full_attention\",\"sliding_attention\","
	    "\"full_attention\"]}", &c, &err) == TQ_OK && c.full_attn[0] == 0x5,
	    "gemma3 layer_types over sliding_window_pattern");
	tap_ok(parse(GEMMA("gemma2", 5) "}", &c, &err) == TQ_OK &&
	    c.arch == TQ_ARCH_GEMMA2 && !c.qk_norm && c.head_dim == 256 &&
	    c.attn_softcap == 50.0 && c.final_softcap == 30.0 &&
	    c.rope_theta == 1e4 && c.rope_local_theta == 0.0 &&
	    c.full_attn[0] == 0xa && c.tie_word_embeddings,
	    "gemma2 defaults: soft-caps 50 and 30, every other layer global, "
	    "one RoPE, tied");
	tap_ok(parse(GEMMA("gemma2", 2) ",\"attn_logit_softcapping\":null,"
	    "\"final_logit_softcapping\":null,\"sliding_window_pattern\":6}",
	    &c, &err) == TQ_OK && c.attn_softcap == 0.0 &&
	    c.final_softcap == 0.0 && c.full_attn[0] == 0x2, "gemma2 with null "
	    "soft-caps has none; it alternates whatever sliding_window_pattern "
	    "says, as Gemma2Config");
	tap_ok(parse(PHI3 "}", &c, &err) == TQ_OK && c.arch == TQ_ARCH_PHI3 &&
	    c.fused_proj && c.head_dim == 16 && c.rope_dim == 0 &&
	    c.rope_type == TQ_ROPE_DEFAULT && c.rms_norm_eps == 1e-5 &&
	    c.max_position_embeddings == 4096 && c.sliding_window == 0 &&
	    !c.tie_word_embeddings && c.bos_token_id == 1 &&
	    c.eos_token_id == 32000, "phi3 defaults: fused projections, full "
	    "rotary, no scaling, eps 1e-5, context 4096, no window, untied");
	tap_ok(parse(PHI3 ",\"partial_rotary_factor\":0.25,"
	    "\"max_position_embeddings\":512,"
	    "\"original_max_position_embeddings\":64,\"sliding_window\":8,"
	    "\"rope_scaling\":{\"type\":\"su\",\"short_factor\":[1,2],"
	    "\"long_factor\":[3,4.5]}}", &c, &err) == TQ_OK &&
	    c.rope_dim == 4 && c.rope_type == TQ_ROPE_LONGROPE &&
	    c.rope_original_max_pos == 64 && c.sliding_window == 8 &&
	    c.rope_short_factor[1] == 2.0f && c.rope_long_factor[1] == 4.5f &&
	    fabs(c.rope_attn_factor - sqrt(1.0 + log(8.0) / log(64.0))) < 1e-15,
	    "phi3 longrope (\"su\"): partial rotary 4 of 16, factors, "
	    "attention factor sqrt(1 + ln 8 / ln 64), window 8");
	tap_ok(parse(PHI3 ",\"partial_rotary_factor\":0.25,"
	    "\"max_position_embeddings\":64,"
	    "\"original_max_position_embeddings\":64," LONGROPE2 "}", &c,
	    &err) == TQ_OK && c.rope_attn_factor == 1.0, "phi3 longrope "
	    "without extension: attention factor 1");
	tap_ok(parse("{\"architectures\":[\"Phi3ForCausalLM\"]," BASE "}",
	    &c, &err) == TQ_OK && c.arch == TQ_ARCH_PHI3, "phi3 from "
	    "architectures");
	tap_ok(parse("{\"model_type\":\"mistral\"," BASE
	    ",\"sliding_window\":null}", &c, &err) == TQ_OK &&
	    c.sliding_window == 0, "mistral with null sliding_window");
	tap_ok(parse("{\"model_type\":\"mistral\"," BASE "}", &c, &err) ==
	    TQ_OK && c.sliding_window == 4096, "mistral default window 4096");
	tap_ok(parse("{\"model_type\":\"llama\"," BASE ",\"num_key_value_heads\":2,"
	    "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8,"
	    "\"low_freq_factor\":1,\"high_freq_factor\":4,"
	    "\"original_max_position_embeddings\":8192},"
	    "\"eos_token_id\":[7,8],\"tie_word_embeddings\":true}", &c, &err) ==
	    TQ_OK && c.rope_type == TQ_ROPE_LLAMA3 && c.rope_factor == 8.0 &&
	    c.rope_original_max_pos == 8192 && c.eos_token_id == 7 &&
	    c.n_kv_heads == 2 && c.tie_word_embeddings, "llama3 rope, eos list");
	tap_ok(parse("{\"model_type\":\"llama\"," BASE
	    ",\"rope_scaling\":{\"type\":\"linear\",\"factor\":2}}", &c, &err) ==
	    TQ_OK && c.rope_type == TQ_ROPE_LINEAR, "legacy rope_scaling type");

	expect_err("unknown model_type", "{\"model_type\":\"gpt2\"," BASE "}",
	    TQ_EUNSUPPORTED, "unknown architecture \"gpt2\"");
	expect_err("unknown class", "{\"architectures\":[\"Foo\"]}",
	    TQ_EUNSUPPORTED, "unknown architecture \"Foo\"");
	expect_err("no architecture", "{" BASE "}", TQ_EFORMAT, "model_type");
	expect_err("missing key", "{\"model_type\":\"llama\",\"vocab_size\":5}",
	    TQ_EFORMAT, "missing");
	expect_err("string size", "{\"model_type\":\"llama\"," BASE
	    ",\"num_key_value_heads\":\"2\"}", TQ_EFORMAT, "must be a number");
	expect_err("huge number", "{\"model_type\":\"llama\","
	    "\"vocab_size\":1e300,\"hidden_size\":64,\"intermediate_size\":1,"
	    "\"num_hidden_layers\":1,\"num_attention_heads\":1}", TQ_EFORMAT,
	    "vocab_size");
	expect_err("fractional layers", "{\"model_type\":\"llama\","
	    "\"vocab_size\":10,\"hidden_size\":64,\"intermediate_size\":1,"
	    "\"num_hidden_layers\":1.5,\"num_attention_heads\":1}", TQ_EFORMAT,
	    "num_hidden_layers");
	expect_err("negative eps", "{\"model_type\":\"llama\"," BASE
	    ",\"rms_norm_eps\":-1}", TQ_EFORMAT, "rms_norm_eps");
	expect_err("bool as string", "{\"model_type\":\"llama\"," BASE
	    ",\"tie_word_embeddings\":\"yes\"}", TQ_EFORMAT, "true or false");
	expect_err("heads not a multiple", "{\"model_type\":\"llama\"," BASE
	    ",\"num_key_value_heads\":3}", TQ_EFORMAT, "multiple");
	expect_err("odd head_dim", "{\"model_type\":\"llama\"," BASE
	    ",\"head_dim\":7}", TQ_EFORMAT, "even");
	expect_err("yarn rope", "{\"model_type\":\"llama\"," BASE
	    ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}",
	    TQ_EUNSUPPORTED, "yarn");
	expect_err("linear without factor", "{\"model_type\":\"llama\"," BASE
	    ",\"rope_scaling\":{\"rope_type\":\"linear\"}}", TQ_EFORMAT,
	    "factor");
	expect_err("llama3 incomplete", "{\"model_type\":\"llama\"," BASE
	    ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}}",
	    TQ_EFORMAT, "low_freq_factor");
	expect_err("rope_scaling not an object", "{\"model_type\":\"llama\","
	    BASE ",\"rope_scaling\":[1]}", TQ_EFORMAT, "rope_scaling");
	expect_err("qwen2 sliding", "{\"model_type\":\"qwen2\"," BASE
	    ",\"use_sliding_window\":true}", TQ_EUNSUPPORTED, "sliding");
	expect_err("qwen3 sliding", "{\"model_type\":\"qwen3\"," BASE
	    ",\"use_sliding_window\":true}", TQ_EUNSUPPORTED,
	    "qwen3 with use_sliding_window");
	expect_err("smollm3 sliding", "{\"model_type\":\"smollm3\"," BASE
	    ",\"use_sliding_window\":true}", TQ_EUNSUPPORTED,
	    "smollm3 with use_sliding_window");
	expect_err("smollm3 no_rope_layers too short",
	    SMOL(3) ",\"no_rope_layers\":[1,0]}", TQ_EFORMAT,
	    "num_hidden_layers (3)");
	expect_err("smollm3 no_rope_layers of 2",
	    SMOL(2) ",\"no_rope_layers\":[1,2]}",
	    TQ_EFORMAT, "\"no_rope_layers\" must be an integer in [0, 1]");
	expect_err("multimodal gemma3", "{\"model_type\":\"gemma3\","
	    "\"text_config\":{}}", TQ_EUNSUPPORTED, "the multimodal gemma3 "
	    "(Gemma3ForConditionalGeneration) is not supported");
	for (i = 0; i < (int)(sizeof(gemma_bad) / sizeof(gemma_bad[0])); i++)
		expect_err(gemma_bad[i].text, gemma_bad[i].json,
		    gemma_bad[i].st, gemma_bad[i].text);
	expect_err("model_type of the wrong type beside architectures",
	    "{\"model_type\":5,\"architectures\":[\"LlamaForCausalLM\"],"
	    BASE "}", TQ_EFORMAT, "\"model_type\" must be a string");
	expect_err("rope_theta 1e-300", "{\"model_type\":\"llama\"," BASE
	    ",\"rope_theta\":1e-300}", TQ_EFORMAT,
	    "rope theta 1e-300 must be a finite number >= 1");
	expect_err("rms_norm_eps 1", "{\"model_type\":\"llama\"," BASE
	    ",\"rms_norm_eps\":1}", TQ_EFORMAT, "epsilon 1 must be in (0, 1)");
	expect_err("head_dim 0 from fewer dimensions than heads",
	    "{\"model_type\":\"llama\",\"vocab_size\":100,\"hidden_size\":8,"
	    "\"intermediate_size\":16,\"num_hidden_layers\":1,"
	    "\"num_attention_heads\":16}", TQ_EFORMAT, "head dimension 0");
	expect_err("top level array", "[1]", TQ_EFORMAT, "not a JSON object");

	/* Deep nesting: cJSON refuses past its limit; nothing crashes. */
	for (i = 0; i < 2000; i++)
		deep[i] = '[';
	deep[2000] = '\0';
	tap_ok(cJSON_Parse(deep) == NULL, "2000-deep nesting is refused by "
	    "the JSON parser");
	return tap_done();
}
