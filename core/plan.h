/*
 * plan.h: plans (internal): what core/plan.c (rules and resolution),
 * core/plan_mix.c (llama.cpp's GGUF mixes) and formats/plan_file.c (the
 * JSON plan file) share, and the pieces of the GGUF mixes that the unit
 * tests check against llama.cpp's tables.
 */
#ifndef TQ_CORE_PLAN_H
#define TQ_CORE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "tq.h"

/* Stands for model.embed_tokens where a tq_linear is expected. */
#define TQ_PLAN_EMBED TQ_LINEAR_COUNT

#define PLAN_MAX_BYTES (4u << 20)	/* a plan file or buffer */
#define PLAN_MAX_RULES 4096
#define PLAN_MAX_PATTERN 1024		/* bytes of one "match" */

/* The keys a default or a rule may give, one bit each. */
enum {
	PLAN_SET_METHOD = 1 << 0,
	PLAN_SET_SCHEME = 1 << 1,
	PLAN_SET_ACT_ORDER = 1 << 2,
	PLAN_SET_DAMP = 1 << 3,
	PLAN_SET_CLIP = 1 << 4,
	PLAN_SET_IMATRIX = 1 << 5,
	PLAN_SET_STATIC = 1 << 6,
	PLAN_SET_BLOCK = 1 << 7,
	PLAN_SET_ALPHA = 1 << 8,
	PLAN_SET_ACT_BITS = 1 << 9,
	PLAN_SET_SHRINK = 1 << 10,
	PLAN_SET_AWQ_SCALES = 1 << 11
};

/* The setting keys, in the order the JSON lists them. */
typedef struct plan_key {
	const char *name;
	unsigned bit;
} plan_key;
#define PLAN_N_SET_KEYS 12
extern const plan_key tq_plan__set_keys[PLAN_N_SET_KEYS];

#define PLAN_SET_KEY_LIST "method, scheme, act_order, damp, clip_search, " \
	"imatrix, static_groups, block_size, alpha, act_bits, hess_shrink, " \
	"awq_scales"

/* Some keys of a setting: those in mask, with their values in cfg. */
typedef struct plan_set {
	unsigned mask;
	tq_layer_cfg cfg;
} plan_set;

typedef struct plan_rule {
	char *match;		/* the pattern as given */
	pcre2_code *re;
	plan_set set;
} plan_rule;

/* GGUF mixes (llama_ftype names). */
enum {
	PLAN_MIX_NONE = 0,
	PLAN_MIX_Q8_0,
	PLAN_MIX_Q6_K,
	PLAN_MIX_Q5_K_M,
	PLAN_MIX_Q4_K_M,
	PLAN_MIX_Q4_K_S,
	PLAN_MIX_Q3_K_M,
	PLAN_MIX_Q2_K,
	PLAN_MIX_IQ4_XS,
	PLAN_MIX_IQ4_NL,
	PLAN_MIX_IQ3_XXS,
	PLAN_MIX_IQ3_XS,
	PLAN_MIX_IQ3_S,
	PLAN_MIX_IQ3_M,
	PLAN_MIX_IQ2_XXS,
	PLAN_MIX_IQ2_XS,
	PLAN_MIX_IQ2_S,
	PLAN_MIX_IQ2_M,
	PLAN_MIX_IQ1_S,
	PLAN_MIX_IQ1_M
};

typedef struct plan_preset {
	const char *name;
	tq_method method;
	const char *scheme;	/* the setting of the block linears */
	int clip_search;
	int act_bits;		/* 0: the method's default */
	int mix;		/* PLAN_MIX_*: the GGUF mix applied after */
} plan_preset;

#define PLAN_PRESET_LIST "w4a16-awq, w3-awq, w4-gptq, w3-gptq, w4-rtn, " \
	"w3-rtn, w8-rtn, w8a8-smoothquant, fp8, fp8-static, nf4, mxfp4, " \
	"nvfp4, q8_0, " \
	"q6_k, q5_k_m, q4_k_m, q4_k_s, q3_k_m, q2_k, iq4_xs, iq4_nl, iq3_xxs, " \
	"iq3_xs, iq3_s, iq3_m, iq2_xxs, iq2_xs, iq2_s, iq2_m, iq1_s, iq1_m"

struct tq_plan {
	char *name;			/* stands for the plan in messages */
	const plan_preset *preset;	/* NULL, or applied first */
	int fallback;			/* shape fallback instead of failing */
	plan_set def;			/* the default (block linears) */
	plan_rule *rules;		/* [n_rules] */
	size_t n_rules;
};

/* ---- core/plan.c ---------------------------------------------------- */

/* An empty plan (everything float) named name; NULL if out of memory. */
tq_plan *tq_plan__alloc(const char *name);

/* The preset called name (case-insensitive), or NULL. */
const plan_preset *tq_plan__find_preset(const char *name);

/* The bit of a setting key, or 0. */
unsigned tq_plan__setting_bit(const char *key);

/* Where a setting came from: "rule 3 (\"^lm_head$\")", or "rule 3". */
void tq_plan__rule_where(char *buf, size_t len, size_t index,
    const char *match);

/* Compiles r->match into r->re; where names the rule in messages. */
tq_status tq_plan__compile_rule(plan_rule *r, const char *name,
    const char *where, tq_error *err);

/*
 * Appends a rule giving the keys of c in mask to layers matching the PCRE2
 * pattern match, as a JSON rule with those keys would (the scheme read
 * back from its name).
 */
tq_status tq_plan__add_rule(tq_plan *p, const char *match,
    const tq_layer_cfg *c, unsigned mask, tq_error *err);

/* A copy of p named name, resolving as p does. */
tq_status tq_plan__dup(const tq_plan *p, const char *name, tq_plan **out,
    tq_error *err);

/* ---- core/plan_mix.c ------------------------------------------------ */

/*
 * llama.cpp's use_more_bits(i, n): block i of n is one of the first n/8,
 * the last n/8 or every third block in between (integer division).
 */
int tq_plan__use_more_bits(int64_t i, int64_t n);

/*
 * The scheme name mix (PLAN_MIX_*) gives one layer: block is the layer's
 * block (-1 for lm_head and the embeddings), which its linear
 * (TQ_LINEAR_LM_HEAD for lm_head, TQ_PLAN_EMBED for the embeddings, -1
 * for others), cols its input features, imatrix whether the layer is
 * quantized with the importance matrix (llama-quantize's has_imatrix).
 */
const char *tq_plan__mix_scheme(int mix, int64_t block, int which,
    const tq_model_config *c, int64_t cols, int imatrix);

/*
 * The GGUF type llama.cpp's llama_tensor_get_type gives one layer in the
 * mix of preset `mix` ("q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_k_s",
 * "q3_k_m", "iq4_xs", "iq4_nl", "iq3_xxs", "iq3_xs", "iq3_s", "iq3_m"),
 * before the shape fallback, as
 * tq_plan__mix_scheme without an importance matrix.
 * Writes the scheme name ("q6_k") to *out; returns 0 if mix is not a GGUF
 * mix preset.
 */
int tq_plan__mix_type(const char *mix, int64_t block, int which,
    const tq_model_config *c, int64_t cols, const char **out);

/*
 * The scheme a plan with "fallback" gives a [rows, cols] layer in place of
 * *s when *s does not fit (llama.cpp's: q4_k -> q5_0, ...; a smaller group
 * for the integer grids); 1 and *s changed (or kept: it fits), or 0 when
 * nothing fits and the layer stays float.
 */
int tq_plan__fallback_scheme(tq_scheme *s, int64_t rows, int64_t cols);

#endif /* TQ_CORE_PLAN_H */
