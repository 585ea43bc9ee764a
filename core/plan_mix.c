/*
 * plan_mix.c: llama.cpp's GGUF mixes (Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_K_S,
 * Q3_K_M, Q2_K, IQ4_XS, IQ4_NL, IQ3_XXS, IQ3_XS, IQ3_S, IQ3_M, IQ2_M,
 * IQ2_S, IQ2_XS, IQ2_XXS, IQ1_S, IQ1_M): the type llama_tensor_get_type
 * (llama-quant.cpp) gives each tensor of a llama/qwen2 model (an expert's gate, up and down take
 * ffn_gate's, ffn_up's and ffn_down's rules), which the presets of the same
 * names apply after their default (core/plan.c).  Kept apart so that it
 * can be read line by line against llama.cpp's code.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "plan.h"

int
tq_plan__use_more_bits(int64_t i, int64_t n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* llama.cpp's LLM_TYPE_70B: llama with 80 blocks and grouped KV heads. */
static int
is_llama_70b(const tq_model_config *c)
{
	return (c->arch == TQ_ARCH_LLAMA || c->arch == TQ_ARCH_MISTRAL) &&
	    c->n_layers == 80 && c->n_kv_heads != c->n_heads;
}

/*
 * IQ2_S, or where 256 does not divide the width llama.cpp's fallback for
 * it, IQ4_NL.
 */
static const char *
iq2_s(int64_t cols)
{
	return cols % 256 == 0 ? "iq2_s" : "iq4_nl";
}

static const char *
mix_default(int mix)
{
	switch (mix) {
	case PLAN_MIX_Q8_0:	return "q8_0";
	case PLAN_MIX_Q6_K:	return "q6_k";
	case PLAN_MIX_Q5_K_M:	return "q5_k";
	case PLAN_MIX_Q3_K_M:	return "q3_k";
	case PLAN_MIX_Q2_K:	return "q2_k";
	case PLAN_MIX_IQ4_XS:	return "iq4_xs";
	case PLAN_MIX_IQ4_NL:	return "iq4_nl";
	case PLAN_MIX_IQ3_XXS:	return "iq3_xxs";
	case PLAN_MIX_IQ3_XS:
	case PLAN_MIX_IQ3_S:
	case PLAN_MIX_IQ3_M:	return "iq3_s";
	case PLAN_MIX_IQ2_XXS:	return "iq2_xxs";
	case PLAN_MIX_IQ2_XS:	return "iq2_xs";
	case PLAN_MIX_IQ2_S:	return "iq2_xs";	/* sic: llama.cpp's */
	case PLAN_MIX_IQ2_M:	return "iq2_s";
	case PLAN_MIX_IQ1_S:	return "iq1_s";
	case PLAN_MIX_IQ1_M:	return "iq1_m";
	default:		return "q4_k";
	}
}

/* The IQ2 (and IQ1) mixes: llama.cpp's branch of their own. */
static int
is_iq2(int mix)
{
	return mix == PLAN_MIX_IQ2_XXS || mix == PLAN_MIX_IQ2_XS ||
	    mix == PLAN_MIX_IQ2_S || mix == PLAN_MIX_IQ2_M ||
	    mix == PLAN_MIX_IQ1_S || mix == PLAN_MIX_IQ1_M;
}

/*
 * llama_tensor_get_type's branch for the very low-bit mixes (IQ2_XXS,
 * IQ2_XS, IQ2_S, IQ2_M, IQ1_S, IQ1_M): attn_v Q4_K at >= 4 heads per KV
 * head or >= 4 experts, else IQ3_S (IQ2_S, IQ2_M) or Q2_K; attn_k Q4_K
 * with 8 experts; the first eighth of ffn_down IQ3_S or Q2_K; attn_output
 * Q5_K with 8 experts, else IQ2_XXS (IQ1_S, IQ1_M) or IQ3_S (IQ2_S,
 * IQ2_M); the rest the mix's default.
 */
static const char *
iq2_scheme(int mix, int64_t i, int which, const tq_model_config *c)
{
	int s_m = mix == PLAN_MIX_IQ2_S || mix == PLAN_MIX_IQ2_M;

	switch (which) {
	case TQ_LINEAR_V:
		if ((c->n_kv_heads > 0 && c->n_heads / c->n_kv_heads >= 4) ||
		    c->n_experts >= 4)
			return "q4_k";
		return s_m ? "iq3_s" : "q2_k";
	case TQ_LINEAR_K:
		return c->n_experts == 8 ? "q4_k" : mix_default(mix);
	case TQ_LINEAR_DOWN:
		if (i < c->n_layers / 8)
			return s_m ? "iq3_s" : "q2_k";
		return mix_default(mix);
	case TQ_LINEAR_O:
		if (c->n_experts == 8)
			return "q5_k";
		if (mix == PLAN_MIX_IQ1_S || mix == PLAN_MIX_IQ1_M)
			return "iq2_xxs";
		return s_m ? "iq3_s" : mix_default(mix);
	default:
		return mix_default(mix);
	}
}

/*
 * llama_tensor_get_type for the llama/qwen2 tensors (not Falcon), gguf.md
 * section 6.3, with its bumps for exactly 8 experts (Mixtral): attn_v and
 * attn_k Q8_0, attn_output Q5_K under the K mixes; a fused attn_qkv
 * (phi3) takes attn_v's rules (category_is_attn_v), a fused ffn_up
 * ffn_up's.
 */
const char *
tq_plan__mix_scheme(int mix, int64_t i, int which,
    const tq_model_config *c, int64_t cols, int imatrix)
{
	const char *def = mix_default(mix), *t = def;
	int64_t n = c->n_layers;
	int iq4 = mix == PLAN_MIX_IQ4_XS || mix == PLAN_MIX_IQ4_NL;
	int iq3 = mix == PLAN_MIX_IQ3_XXS || mix == PLAN_MIX_IQ3_XS ||
	    mix == PLAN_MIX_IQ3_S || mix == PLAN_MIX_IQ3_M;
	int gqa4 = c->n_kv_heads > 0 && c->n_heads / c->n_kv_heads >= 4;

	if (which == TQ_LINEAR_LM_HEAD ||
	    (which == TQ_PLAN_EMBED && c->tie_word_embeddings)) {
		/* the default type's block must divide the width */
		if (cols % (mix == PLAN_MIX_Q8_0 ||
		    mix == PLAN_MIX_IQ4_NL ? 32 : 256) != 0)
			return "q8_0";
		return mix == PLAN_MIX_Q8_0 ? "q8_0" : is_iq2(mix) ||
		    mix == PLAN_MIX_IQ3_XXS ? "q5_k" : "q6_k";
	}
	if (which == TQ_PLAN_EMBED && is_iq2(mix))
		return mix == PLAN_MIX_IQ2_S || mix == PLAN_MIX_IQ2_M ?
		    "iq3_s" : "q2_k";
	if (which == TQ_PLAN_EMBED)
		return mix == PLAN_MIX_IQ3_XXS ? "iq3_s" : def;
	if (i < 0)
		return def;
	/* phi3's attn_qkv is one tensor, of attn_v's category */
	if (c->fused_proj && (which == TQ_LINEAR_Q || which == TQ_LINEAR_K))
		which = TQ_LINEAR_V;
	if (is_iq2(mix))
		return iq2_scheme(mix, i, which, c);
	switch (which) {
	case TQ_LINEAR_V:
		if (mix == PLAN_MIX_Q2_K)
			t = c->n_kv_heads > 0 && c->n_heads / c->n_kv_heads >= 4 ?
			    "q4_k" : "q3_k";
		else if ((mix == PLAN_MIX_Q4_K_M || mix == PLAN_MIX_Q5_K_M) &&
		    tq_plan__use_more_bits(i, n))
			t = "q6_k";
		else if (mix == PLAN_MIX_Q4_K_S && i < 4)
			t = "q5_k";
		else if (mix == PLAN_MIX_Q3_K_M)
			t = i < 2 ? "q5_k" : "q4_k";
		else if (mix == PLAN_MIX_IQ3_XXS)
			t = gqa4 ? "q4_k" : !imatrix ? "iq3_s" : "iq3_xxs";
		else if ((mix == PLAN_MIX_IQ3_XS || mix == PLAN_MIX_IQ3_S) &&
		    gqa4)
			t = "q4_k";
		else if (mix == PLAN_MIX_IQ3_M)
			t = "q4_k";
		else if (iq4 && c->n_kv_heads > 0 &&
		    c->n_heads / c->n_kv_heads >= 4)
			t = "q5_k";
		if (is_llama_70b(c) && (strcmp(t, "q3_k") == 0 ||
		    strcmp(t, "q4_k") == 0))
			t = "q5_k";
		if (c->n_experts == 8)
			t = "q8_0";
		break;
	case TQ_LINEAR_K:
		if (c->n_experts == 8)
			t = "q8_0";
		else if (mix == PLAN_MIX_IQ3_XS)
			t = "iq3_xxs";
		else if (mix == PLAN_MIX_IQ3_XXS)
			t = iq2_s(cols);
		break;
	case TQ_LINEAR_Q:
		if (mix == PLAN_MIX_IQ3_XS)
			t = "iq3_xxs";
		else if (mix == PLAN_MIX_IQ3_XXS)
			t = iq2_s(cols);
		break;
	case TQ_LINEAR_DOWN:
		if (mix == PLAN_MIX_Q2_K)
			t = "q3_k";
		else if (mix == PLAN_MIX_IQ3_XXS && !imatrix)
			t = i < n / 8 ? "q4_k" : "q3_k";
		else if (mix == PLAN_MIX_Q3_K_M)
			t = i < n / 16 ? "q5_k" : "q4_k";
		else if (mix == PLAN_MIX_IQ3_M && (i < n / 8 ||
		    (c->n_experts == 8 && tq_plan__use_more_bits(i, n))))
			t = "q4_k";
		else if ((mix == PLAN_MIX_Q4_K_M || mix == PLAN_MIX_Q5_K_M) &&
		    tq_plan__use_more_bits(i, n))
			t = "q6_k";
		else if (iq4 && i < n / 8 && !imatrix)
			t = "q5_k";
		else if (mix == PLAN_MIX_Q4_K_S && i < n / 8)
			t = "q5_k";
		break;
	case TQ_LINEAR_O:
		if (c->n_experts == 8 && (mix == PLAN_MIX_Q2_K ||
		    mix == PLAN_MIX_Q3_K_M ||
		    mix == PLAN_MIX_Q4_K_S || mix == PLAN_MIX_Q4_K_M ||
		    mix == PLAN_MIX_IQ4_NL || mix == PLAN_MIX_IQ4_XS || iq3))
			t = "q5_k";
		else if (c->n_experts != 8 && mix == PLAN_MIX_IQ3_XXS)
			t = "iq3_s";
		else if (c->n_experts != 8 && mix == PLAN_MIX_IQ3_M)
			t = "q4_k";
		else if (c->n_experts != 8 && mix == PLAN_MIX_Q3_K_M)
			t = "q4_k";
		else if (c->n_experts != 8 && mix == PLAN_MIX_Q2_K)
			t = "q3_k";
		break;
	case TQ_LINEAR_GATE:
	case TQ_LINEAR_UP:
		if (mix == PLAN_MIX_IQ3_XS && i >= n / 8 && i < 7 * n / 8)
			t = "iq3_xxs";
		break;
	default:
		break;
	}
	return t;
}

int
tq_plan__mix_type(const char *mix, int64_t block, int which,
    const tq_model_config *c, int64_t cols, const char **out)
{
	const plan_preset *pr = tq_plan__find_preset(mix);

	if (pr == NULL || pr->mix == PLAN_MIX_NONE)
		return 0;
	*out = tq_plan__mix_scheme(pr->mix, block, which, c, cols, 0);
	return 1;
}
