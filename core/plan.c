/*
 * plan.c: quantization plans: which method and grid each linear layer of
 * a model gets.  A plan is a default setting plus ordered rules whose
 * PCRE2 patterns select layers by name; it is read from JSON
 * (formats/plan_file.c, which documents the keys), built from one setting,
 * or taken from a named preset (the GGUF mixes follow llama.cpp's
 * llama_tensor_get_type, core/plan_mix.c), then resolved layer by layer
 * against a model.  This file holds the rules and their resolution, and
 * the plan's canonical text (tq_plan_to_json), which the quantized state
 * fingerprints.
 *
 * Resolution of one layer: start from float with no scheme; apply the
 * default (block linears only), then every matching rule in order, each
 * changing only the keys it gives (later rules win).  Giving a scheme to
 * a layer that is float at that point, without a method in the same
 * rule, quantizes it with RTN; "method": "float" keeps a layer in float.
 * The final setting is tq_layer_cfg_init(method, scheme) with every key
 * given along the way on top, so the defaults follow the final method.
 * A non-float layer without a scheme is an error.  "default" with a
 * non-float method must give a scheme; a "default" giving a scheme but
 * no method means RTN.
 *
 * tq_plan_to_json writes the JSON plan format: a preset plan as
 * {"preset": NAME, "rules": [...]}, which resolves identically on every
 * model.  Messages name the plan ("FILE: rule 2 (\"pattern\"): ...", rules
 * counted from 1).
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "model.h"
#include "msg.h"
#include "plan.h"
#include "quant.h"

#define PLAN_MATCH_LIMIT 1000000	/* PCRE2 backtracking budget */

/* ---- Settings ------------------------------------------------------------ */

const plan_key tq_plan__set_keys[PLAN_N_SET_KEYS] = {
	{ "method", PLAN_SET_METHOD },
	{ "scheme", PLAN_SET_SCHEME },
	{ "act_order", PLAN_SET_ACT_ORDER },
	{ "damp", PLAN_SET_DAMP },
	{ "clip_search", PLAN_SET_CLIP },
	{ "imatrix", PLAN_SET_IMATRIX },
	{ "static_groups", PLAN_SET_STATIC },
	{ "block_size", PLAN_SET_BLOCK },
	{ "alpha", PLAN_SET_ALPHA },
	{ "act_bits", PLAN_SET_ACT_BITS },
	{ "hess_shrink", PLAN_SET_SHRINK },
	{ "awq_scales", PLAN_SET_AWQ_SCALES },
};

static const plan_preset presets[] = {
	{ "w4a16-awq", TQ_METHOD_AWQ, "int4-g128", 1, 0, PLAN_MIX_NONE },
	{ "w3-awq", TQ_METHOD_AWQ, "int3-g128", 1, 0, PLAN_MIX_NONE },
	{ "w4-gptq", TQ_METHOD_GPTQ, "int4-g128", 0, 0, PLAN_MIX_NONE },
	{ "w3-gptq", TQ_METHOD_GPTQ, "int3-g128", 0, 0, PLAN_MIX_NONE },
	{ "w4-rtn", TQ_METHOD_RTN, "int4-g128", 0, 0, PLAN_MIX_NONE },
	{ "w3-rtn", TQ_METHOD_RTN, "int3-g128", 0, 0, PLAN_MIX_NONE },
	{ "w8-rtn", TQ_METHOD_RTN, "int8-sym", 0, 0, PLAN_MIX_NONE },
	{ "w8a8-smoothquant", TQ_METHOD_SMOOTHQUANT, "int8-sym", 0, 8,
	  PLAN_MIX_NONE },
	{ "fp8", TQ_METHOD_RTN, "fp8-channel", 0, 0, PLAN_MIX_NONE },
	{ "fp8-static", TQ_METHOD_RTN, "fp8", 0, 8, PLAN_MIX_NONE },
	{ "nf4", TQ_METHOD_RTN, "nf4", 0, 0, PLAN_MIX_NONE },
	{ "mxfp4", TQ_METHOD_RTN, "mxfp4", 0, 0, PLAN_MIX_NONE },
	{ "nvfp4", TQ_METHOD_RTN, "nvfp4", 0, 0, PLAN_MIX_NONE },
	{ "q8_0", TQ_METHOD_RTN, "q8_0", 0, 0, PLAN_MIX_Q8_0 },
	{ "q6_k", TQ_METHOD_RTN, "q6_k", 0, 0, PLAN_MIX_Q6_K },
	{ "q5_k_m", TQ_METHOD_RTN, "q5_k", 0, 0, PLAN_MIX_Q5_K_M },
	{ "q4_k_m", TQ_METHOD_RTN, "q4_k", 0, 0, PLAN_MIX_Q4_K_M },
	{ "q4_k_s", TQ_METHOD_RTN, "q4_k", 0, 0, PLAN_MIX_Q4_K_S },
	{ "q3_k_m", TQ_METHOD_RTN, "q3_k", 0, 0, PLAN_MIX_Q3_K_M },
	{ "q2_k", TQ_METHOD_RTN, "q2_k", 0, 0, PLAN_MIX_Q2_K },
	{ "iq4_xs", TQ_METHOD_RTN, "iq4_xs", 0, 0, PLAN_MIX_IQ4_XS },
	{ "iq4_nl", TQ_METHOD_RTN, "iq4_nl", 0, 0, PLAN_MIX_IQ4_NL },
	{ "iq3_xxs", TQ_METHOD_RTN, "iq3_xxs", 0, 0, PLAN_MIX_IQ3_XXS },
	{ "iq3_xs", TQ_METHOD_RTN, "iq3_s", 0, 0, PLAN_MIX_IQ3_XS },
	{ "iq3_s", TQ_METHOD_RTN, "iq3_s", 0, 0, PLAN_MIX_IQ3_S },
	{ "iq3_m", TQ_METHOD_RTN, "iq3_s", 0, 0, PLAN_MIX_IQ3_M },
	{ "iq2_xxs", TQ_METHOD_RTN, "iq2_xxs", 0, 0, PLAN_MIX_IQ2_XXS },
	{ "iq2_xs", TQ_METHOD_RTN, "iq2_xs", 0, 0, PLAN_MIX_IQ2_XS },
	{ "iq2_s", TQ_METHOD_RTN, "iq2_xs", 0, 0, PLAN_MIX_IQ2_S },
	{ "iq2_m", TQ_METHOD_RTN, "iq2_s", 0, 0, PLAN_MIX_IQ2_M },
	{ "iq1_s", TQ_METHOD_RTN, "iq1_s", 0, 0, PLAN_MIX_IQ1_S },
	{ "iq1_m", TQ_METHOD_RTN, "iq1_m", 0, 0, PLAN_MIX_IQ1_M },
};
#define N_PRESETS (sizeof(presets) / sizeof(presets[0]))

static const char *const preset_names[N_PRESETS + 1] = {
	"w4a16-awq", "w3-awq", "w4-gptq", "w3-gptq", "w4-rtn", "w3-rtn",
	"w8-rtn", "w8a8-smoothquant", "fp8", "fp8-static", "nf4", "mxfp4",
	"nvfp4", "q8_0",
	"q6_k", "q5_k_m", "q4_k_m", "q4_k_s", "q3_k_m", "q2_k", "iq4_xs", "iq4_nl",
	"iq3_xxs", "iq3_xs", "iq3_s", "iq3_m",
	"iq2_xxs", "iq2_xs", "iq2_s", "iq2_m", "iq1_s", "iq1_m",
	NULL
};

static const char *const method_names[TQ_METHOD_COUNT] = {
	"float", "rtn", "gptq", "awq", "smoothquant"
};

void
tq_layer_cfg_init(tq_layer_cfg *c, tq_method method, const tq_scheme *scheme)
{
	tq_scheme s;

	/* scheme may point into *c. */
	if (scheme != NULL)
		s = *scheme;
	else
		memset(&s, 0, sizeof(s));
	memset(c, 0, sizeof(*c));
	c->method = method;
	c->scheme = s;
	c->damp = 0.01;
	c->block_size = 128;
	c->alpha = 0.5;
	c->act_bits = method == TQ_METHOD_SMOOTHQUANT ? 8 : 16;
	/* AWQ's recipe includes its clip search. */
	c->clip_search = method == TQ_METHOD_AWQ;
}

int
tq_layer_awq_scaled(const tq_layer_cfg *c)
{
	return c->method == TQ_METHOD_AWQ || (c->awq_scales &&
	    (c->method == TQ_METHOD_GPTQ || c->method == TQ_METHOD_RTN));
}

const char *
tq_method_name(tq_method m)
{
	return (unsigned)m < TQ_METHOD_COUNT ? method_names[m] : "?";
}

tq_status
tq_method_parse(const char *name, tq_method *out, tq_error *err)
{
	int i;

	for (i = 0; i < TQ_METHOD_COUNT && name != NULL; i++) {
		if (strcasecmp(name, method_names[i]) == 0) {
			*out = (tq_method)i;
			return TQ_OK;
		}
	}
	return tq_fail(err, TQ_EINVAL, "unknown method \"%.64s\"; accepted: "
	    "float, rtn, gptq, awq, smoothquant", name != NULL ? name : "");
}

/* Puts the keys of set (those in its mask) on top of *s. */
static void
set_apply(plan_set *s, const plan_set *set)
{
	const tq_layer_cfg *v = &set->cfg;
	tq_layer_cfg *c = &s->cfg;

	if (set->mask & PLAN_SET_METHOD)
		c->method = v->method;
	if (set->mask & PLAN_SET_SCHEME)
		c->scheme = v->scheme;
	if (set->mask & PLAN_SET_ACT_ORDER)
		c->act_order = v->act_order;
	if (set->mask & PLAN_SET_DAMP)
		c->damp = v->damp;
	if (set->mask & PLAN_SET_CLIP)
		c->clip_search = v->clip_search;
	if (set->mask & PLAN_SET_IMATRIX)
		c->use_imatrix = v->use_imatrix;
	if (set->mask & PLAN_SET_STATIC)
		c->static_groups = v->static_groups;
	if (set->mask & PLAN_SET_BLOCK)
		c->block_size = v->block_size;
	if (set->mask & PLAN_SET_ALPHA)
		c->alpha = v->alpha;
	if (set->mask & PLAN_SET_ACT_BITS)
		c->act_bits = v->act_bits;
	if (set->mask & PLAN_SET_SHRINK)
		c->hess_shrink = v->hess_shrink;
	if (set->mask & PLAN_SET_AWQ_SCALES)
		c->awq_scales = v->awq_scales;
	s->mask |= set->mask;
}

/* ---- Rules ------------------------------------------------------------- */

/* Where a setting came from: "default", "rule 3 (\"^lm_head$\")". */
void
tq_plan__rule_where(char *buf, size_t len, size_t index, const char *match)
{
	char q[96];

	if (match != NULL)
		snprintf(buf, len, "rule %zu (%s)", index + 1,
		    tq_msg_quote(match, q, sizeof(q)));
	else
		snprintf(buf, len, "rule %zu", index + 1);
}

/* The bit of a setting key, or 0. */
unsigned
tq_plan__setting_bit(const char *key)
{
	size_t i;

	for (i = 0; i < PLAN_N_SET_KEYS; i++)
		if (strcmp(key, tq_plan__set_keys[i].name) == 0)
			return tq_plan__set_keys[i].bit;
	return 0;
}

tq_status
tq_plan__compile_rule(plan_rule *r, const char *name, const char *where,
    tq_error *err)
{
	PCRE2_UCHAR msg[160];
	PCRE2_SIZE off;
	int ec;

	r->re = pcre2_compile((PCRE2_SPTR)r->match, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C, &ec, &off, NULL);
	if (r->re == NULL) {
		if (ec == PCRE2_ERROR_NOMEMORY)
			return tq_fail(err, TQ_ENOMEM, "%s: out of memory",
			    name);
		pcre2_get_error_message(ec, msg, sizeof(msg));
		return tq_fail(err, TQ_EFORMAT, "%s: %s: bad regex at offset "
		    "%zu: %s", name, where, (size_t)off, (const char *)msg);
	}
	return TQ_OK;
}

/* ---- Plans -------------------------------------------------------------- */

const plan_preset *
tq_plan__find_preset(const char *name)
{
	size_t i;

	for (i = 0; i < N_PRESETS && name != NULL; i++)
		if (strcasecmp(name, presets[i].name) == 0)
			return &presets[i];
	return NULL;
}

tq_plan *
tq_plan__alloc(const char *name)
{
	tq_plan *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	if ((p->name = strdup(name)) == NULL) {
		free(p);
		return NULL;
	}
	tq_layer_cfg_init(&p->def.cfg, TQ_METHOD_FLOAT, NULL);
	return p;
}

void
tq_plan_free(tq_plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_rules; i++) {
		free(p->rules[i].match);
		pcre2_code_free(p->rules[i].re);
	}
	free(p->rules);
	free(p->name);
	free(p);
}

/* Checks a scheme built by hand and returns its canonical form. */
static tq_status
canonical_scheme(const tq_scheme *s, tq_scheme *out, tq_error *err)
{
	char name[32];

	if (tq_scheme_check(s, 1, 256, err) != TQ_OK)
		return TQ_EINVAL;
	tq_scheme_name(s, name, sizeof(name));
	return tq_scheme_parse(name, out, err) == TQ_OK ? TQ_OK : TQ_EINVAL;
}

tq_status
tq_plan_new(const tq_layer_cfg *def, tq_plan **out, tq_error *err)
{
	tq_layer_cfg base, c;
	tq_plan *p;

	*out = NULL;
	if (def == NULL || (unsigned)def->method >= TQ_METHOD_COUNT)
		return tq_fail(err, TQ_EINVAL, "plan: unknown method %d",
		    def != NULL ? (int)def->method : -1);
	c = *def;
	if (c.method != TQ_METHOD_FLOAT &&
	    canonical_scheme(&def->scheme, &c.scheme, err) != TQ_OK)
		return TQ_EINVAL;
	if (!isfinite(c.damp) || c.damp < 0.0 || c.damp > 1.0)
		return tq_fail(err, TQ_EINVAL, "plan: damp must be in [0, 1], "
		    "not %g", c.damp);
	if (!isfinite(c.hess_shrink) || c.hess_shrink < 0.0 ||
	    c.hess_shrink > 1.0)
		return tq_fail(err, TQ_EINVAL, "plan: hess_shrink must be in "
		    "[0, 1], not %g", c.hess_shrink);
	if (!isfinite(c.alpha) || c.alpha < 0.0 || c.alpha > 1.0)
		return tq_fail(err, TQ_EINVAL, "plan: alpha must be in [0, 1], "
		    "not %g", c.alpha);
	if (c.block_size < 1 || c.block_size > 65536)
		return tq_fail(err, TQ_EINVAL, "plan: block size must be in "
		    "[1, 65536], not %lld", (long long)c.block_size);
	if (c.act_bits != 8 && c.act_bits != 16)
		return tq_fail(err, TQ_EINVAL, "plan: activation bits must be "
		    "8 or 16, not %d", c.act_bits);
	if ((p = tq_plan__alloc("plan")) == NULL)
		return tq_fail(err, TQ_ENOMEM, "plan: out of memory");
	c.act_order = c.act_order != 0;
	c.clip_search = c.clip_search != 0;
	c.use_imatrix = c.use_imatrix != 0;
	c.static_groups = c.static_groups != 0;
	c.awq_scales = c.awq_scales != 0;
	/* With no rules, only what differs from the defaults matters. */
	tq_layer_cfg_init(&base, c.method, &c.scheme);
	p->def.cfg = c;
	p->def.mask = PLAN_SET_METHOD;
	if (c.method != TQ_METHOD_FLOAT) {
		p->def.mask |= PLAN_SET_SCHEME;
		p->def.mask |= c.act_order != base.act_order ?
		    PLAN_SET_ACT_ORDER : 0;
		p->def.mask |= c.damp != base.damp ? PLAN_SET_DAMP : 0;
		p->def.mask |= c.hess_shrink != base.hess_shrink ?
		    PLAN_SET_SHRINK : 0;
		p->def.mask |= c.clip_search != base.clip_search ?
		    PLAN_SET_CLIP : 0;
		p->def.mask |= c.use_imatrix != base.use_imatrix ?
		    PLAN_SET_IMATRIX : 0;
		p->def.mask |= c.static_groups != base.static_groups ?
		    PLAN_SET_STATIC : 0;
		p->def.mask |= c.awq_scales != base.awq_scales ?
		    PLAN_SET_AWQ_SCALES : 0;
		p->def.mask |= c.block_size != base.block_size ?
		    PLAN_SET_BLOCK : 0;
		p->def.mask |= c.alpha != base.alpha ? PLAN_SET_ALPHA : 0;
		p->def.mask |= c.act_bits != base.act_bits ?
		    PLAN_SET_ACT_BITS : 0;
	}
	*out = p;
	return TQ_OK;
}

tq_status
tq_plan_preset(const char *name, tq_plan **out, tq_error *err)
{
	const plan_preset *pr = tq_plan__find_preset(name);
	char buf[64];
	tq_plan *p;

	*out = NULL;
	if (pr == NULL)
		return tq_fail(err, TQ_EINVAL, "unknown preset \"%.40s\"; "
		    "accepted: %s", name != NULL ? name : "", PLAN_PRESET_LIST);
	snprintf(buf, sizeof(buf), "preset %s", pr->name);
	if ((p = tq_plan__alloc(buf)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", buf);
	p->preset = pr;
	p->fallback = 1;
	*out = p;
	return TQ_OK;
}

const char *const *
tq_plan_preset_names(void)
{
	return preset_names;
}

tq_status
tq_plan__add_rule(tq_plan *p, const char *match, const tq_layer_cfg *c,
    unsigned mask, tq_error *err)
{
	tq_error e = { TQ_OK, "" };
	plan_set set = { mask, *c };
	char where[128], name[32];
	plan_rule *r;

	if (p->n_rules >= PLAN_MAX_RULES)
		return tq_fail(err, TQ_EFORMAT, "%s: more than %d rules",
		    p->name, PLAN_MAX_RULES);
	if ((r = realloc(p->rules, (p->n_rules + 1) * sizeof(*r))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", p->name);
	p->rules = r;
	r += p->n_rules;
	memset(r, 0, sizeof(*r));
	if ((r->match = strdup(match)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", p->name);
	p->n_rules++;
	tq_plan__rule_where(where, sizeof(where), p->n_rules - 1, r->match);
	tq_layer_cfg_init(&r->set.cfg, TQ_METHOD_FLOAT, NULL);
	set_apply(&r->set, &set);
	/* The scheme as a JSON rule would give it: read back from its name. */
	if (mask & PLAN_SET_SCHEME) {
		tq_scheme_name(&c->scheme, name, sizeof(name));
		if (tq_scheme_parse(name, &r->set.cfg.scheme, &e) != TQ_OK)
			return tq_fail(err, TQ_EFORMAT, "%s: %s: %s", p->name,
			    where, e.msg);
	}
	if (mask == 0)
		return tq_fail(err, TQ_EFORMAT, "%s: %s changes nothing; give "
		    "it a setting (%s)", p->name, where, PLAN_SET_KEY_LIST);
	return tq_plan__compile_rule(r, p->name, where, err);
}

tq_status
tq_plan__dup(const tq_plan *p, const char *name, tq_plan **out,
    tq_error *err)
{
	tq_plan *q;
	size_t i;

	*out = NULL;
	if ((q = tq_plan__alloc(name)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", name);
	q->preset = p->preset;
	q->fallback = p->fallback;
	q->def = p->def;
	if (p->n_rules > 0 &&
	    (q->rules = calloc(p->n_rules, sizeof(*q->rules))) == NULL)
		goto oom;
	for (i = 0; i < p->n_rules; i++) {
		plan_rule *r = &q->rules[i];

		q->n_rules = i + 1;
		r->set = p->rules[i].set;
		r->match = strdup(p->rules[i].match);
		r->re = pcre2_code_copy(p->rules[i].re);
		if (r->match == NULL || r->re == NULL)
			goto oom;
	}
	*out = q;
	return TQ_OK;
oom:
	tq_plan_free(q);
	return tq_fail(err, TQ_ENOMEM, "%s: out of memory", name);
}

/* ---- Resolution -------------------------------------------------------- */

/*
 * The scheme a layer falls back to when s cannot quantize its shape
 * (see "fallback" above); 0 when it is to stay float.
 */
int
tq_plan__fallback_scheme(tq_scheme *s, int64_t rows, int64_t cols)
{
	const char *next;
	int guard;

	for (guard = 0; guard < 8; guard++) {
		if (tq_scheme_check(s, rows, cols, NULL) == TQ_OK)
			return 1;
		switch (s->type) {
		case TQ_QT_Q2_K:
		case TQ_QT_Q3_K:	next = "q4_0"; break;
		case TQ_QT_Q4_K:	next = "q5_0"; break;
		case TQ_QT_Q5_K:	next = "q5_1"; break;
		case TQ_QT_Q6_K:	next = "q8_0"; break;
		case TQ_QT_IQ4_XS:	next = "iq4_nl"; break;
		case TQ_QT_IQ3_XXS:
		case TQ_QT_IQ3_S:	next = "iq4_nl"; break;
		case TQ_QT_IQ2_XXS:
		case TQ_QT_IQ2_XS:
		case TQ_QT_IQ2_S:
		case TQ_QT_IQ1_S:
		case TQ_QT_IQ1_M:	next = "iq4_nl"; break;
		case TQ_QT_INT:
		case TQ_QT_NF4:
			if (s->group > 32) {
				s->group /= 2;
				continue;
			}
			if (s->type == TQ_QT_INT && s->group == 32) {
				s->group = TQ_GROUP_CHANNEL;
				continue;
			}
			return 0;
		default:		return 0;
		}
		if (tq_scheme_parse(next, s, NULL) != TQ_OK)
			return 0;
	}
	return 0;
}

/*
 * Why a layer's scheme is not the one asked for: "g128 does not divide
 * 576" for a smaller group of the same grid, else "q4_k does not fit 576
 * columns" (to = NULL: nothing fits and the layer stays float).
 */
static void
fell_why(char *buf, size_t len, const tq_scheme *want, const tq_scheme *to,
    int64_t cols)
{
	char w[32];

	tq_scheme_name(want, w, sizeof(w));
	if (to != NULL && to->type == want->type && to->bits == want->bits &&
	    want->group > 0)
		snprintf(buf, len, "g%d does not divide %lld", want->group,
		    (long long)cols);
	else
		snprintf(buf, len, "%s does not fit %lld columns%s", w,
		    (long long)cols, to == NULL ? "; no grid fits: float" : "");
}

/* A layer's place in the model, from its name. */
typedef struct layer_id {
	int64_t block;		/* -1 for lm_head, the embeddings, others */
	int which;		/* tq_linear, TQ_PLAN_EMBED, or -1 */
} layer_id;

static void
parse_layer(const char *name, layer_id *id)
{
	static const char *const subs[] = {
		"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
		"self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
		"mlp.down_proj"
	};
	const char *p;
	int64_t b = 0;
	int i;

	id->block = -1;
	id->which = -1;
	if (strcmp(name, "lm_head") == 0) {
		id->which = TQ_LINEAR_LM_HEAD;
		return;
	}
	if (strcmp(name, "model.embed_tokens") == 0) {
		id->which = TQ_PLAN_EMBED;
		return;
	}
	if (strncmp(name, "model.layers.", 13) != 0)
		return;
	for (p = name + 13; isdigit((unsigned char)*p) && b < 1000000; p++)
		b = b * 10 + (*p - '0');
	if (p == name + 13 || *p != '.')
		return;
	id->block = b;
	for (i = 0; i < 7; i++)
		if (strcmp(p + 1, subs[i]) == 0)
			id->which = i;
}

/* What the steps so far made of a layer. */
typedef struct layer_state {
	plan_set set;		/* method, scheme and the keys given */
	int have_scheme;
	char method_from[112];	/* which step set them, for messages */
	char scheme_from[112];
} layer_state;

static void
state_step(layer_state *s, const plan_set *set, const char *from)
{
	tq_method before = s->set.cfg.method;

	set_apply(&s->set, set);
	if (set->mask & PLAN_SET_SCHEME) {
		s->have_scheme = 1;
		snprintf(s->scheme_from, sizeof(s->scheme_from), "%s", from);
		if (!(set->mask & PLAN_SET_METHOD) &&
		    before == TQ_METHOD_FLOAT) {
			s->set.cfg.method = TQ_METHOD_RTN;
			snprintf(s->method_from, sizeof(s->method_from),
			    "%s", from);
		}
	}
	if (set->mask & PLAN_SET_METHOD)
		snprintf(s->method_from, sizeof(s->method_from), "%s", from);
}

/* The context resolution needs: one model, match data, rule hits. */
typedef struct resolver {
	const tq_plan *p;
	const tq_model *m;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	unsigned char *hits;	/* [n_rules] or NULL */
	char fell[128];		/* why the last layer fell back, or "" */
} resolver;

static tq_status
resolver_init(resolver *r, const tq_plan *p, const tq_model *m,
    tq_error *err)
{
	memset(r, 0, sizeof(*r));
	r->p = p;
	r->m = m;
	r->md = pcre2_match_data_create(1, NULL);
	r->mc = pcre2_match_context_create(NULL);
	if (r->md == NULL || r->mc == NULL) {
		pcre2_match_data_free(r->md);
		pcre2_match_context_free(r->mc);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", p->name);
	}
	pcre2_set_match_limit(r->mc, PLAN_MATCH_LIMIT);
	pcre2_set_depth_limit(r->mc, PLAN_MATCH_LIMIT / 10);
	return TQ_OK;
}

static void
resolver_done(resolver *r)
{
	pcre2_match_data_free(r->md);
	pcre2_match_context_free(r->mc);
	free(r->hits);
}

/*
 * Whether the rules give layer `name` the importance matrix (the last
 * matching rule that sets "imatrix" wins): the IQ4 mixes choose ffn_down's
 * type by it, as llama-quantize by whether it has one.
 */
static int
rules_imatrix(const resolver *r, const char *name)
{
	const tq_plan *p = r->p;
	int on = 0;
	size_t i;

	for (i = 0; i < p->n_rules; i++)
		if ((p->rules[i].set.mask & PLAN_SET_IMATRIX) &&
		    pcre2_match(p->rules[i].re, (PCRE2_SPTR)name,
		    PCRE2_ZERO_TERMINATED, 0, 0, r->md, r->mc) >= 0)
			on = p->rules[i].set.cfg.use_imatrix != 0;
	return on;
}

/*
 * Resolves linear li of the model into *out; why[len] (may be NULL) gets
 * the step that chose the scheme ("rule 3 (\"...\")", "the default").
 */
static tq_status
resolve_index(resolver *r, size_t li, tq_layer_cfg *out, char *why,
    size_t len, tq_error *err)
{
	const tq_plan *p = r->p;
	const char *name = tq_model_linear_name(r->m, li);
	char from[128];
	layer_state s;
	plan_set step, fin;
	layer_id id;
	tq_scheme sch;
	int64_t rows, cols;
	size_t i;

	tq_model_linear_shape(r->m, li, &rows, &cols);
	parse_layer(name, &id);
	if (id.which < 0 && id.block >= 0 && id.block < r->m->cfg.n_layers) {
		/* an expert's gate, up or down: llama.cpp's ffn_*_exps rules
		   (its categories match ffn_gate, ffn_up, ffn_down in them) */
		size_t k = li - tq_model__block_first(r->m, id.block);

		id.which = (int)tq_layer__kind(&r->m->layers[id.block], k,
		    NULL);
	}
	memset(&s, 0, sizeof(s));
	memset(&sch, 0, sizeof(sch));
	tq_layer_cfg_init(&s.set.cfg, TQ_METHOD_FLOAT, NULL);
	snprintf(s.method_from, sizeof(s.method_from), "the start");
	snprintf(from, sizeof(from), "preset %s",
	    p->preset != NULL ? p->preset->name : "");
	if (id.which != TQ_LINEAR_LM_HEAD && id.which != TQ_PLAN_EMBED) {
		if (p->preset != NULL) {
			memset(&step, 0, sizeof(step));
			tq_scheme_parse(p->preset->scheme, &sch, NULL);
			tq_layer_cfg_init(&step.cfg, p->preset->method, &sch);
			step.mask = PLAN_SET_METHOD | PLAN_SET_SCHEME;
			if (p->preset->clip_search) {
				step.cfg.clip_search = 1;
				step.mask |= PLAN_SET_CLIP;
			}
			if (p->preset->act_bits != 0) {
				step.cfg.act_bits = p->preset->act_bits;
				step.mask |= PLAN_SET_ACT_BITS | PLAN_SET_ALPHA;
			}
			state_step(&s, &step, from);
		} else if (p->def.mask != 0) {
			state_step(&s, &p->def, "the default");
		}
	}
	if (p->preset != NULL && p->preset->mix != PLAN_MIX_NONE) {
		const char *mt = tq_plan__mix_scheme(p->preset->mix, id.block,
		    id.which, tq_model_get_config(r->m), cols,
		    rules_imatrix(r, name));

		memset(&step, 0, sizeof(step));
		/* a mix type this build lacks */
		if (tq_scheme_parse(mt, &sch, NULL) != TQ_OK)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's "
			    "%s mix puts layer %s on %s, which this build "
			    "cannot write", p->name, p->preset->name, name, mt);
		tq_layer_cfg_init(&step.cfg, TQ_METHOD_RTN, &sch);
		step.mask = PLAN_SET_METHOD | PLAN_SET_SCHEME;
		state_step(&s, &step, from);
	}
	for (i = 0; i < p->n_rules; i++) {
		const plan_rule *ru = &p->rules[i];
		int rc = pcre2_match(ru->re, (PCRE2_SPTR)name,
		    PCRE2_ZERO_TERMINATED, 0, 0, r->md, r->mc);

		if (rc == PCRE2_ERROR_NOMATCH)
			continue;
		tq_plan__rule_where(from, sizeof(from), i, ru->match);
		if (rc < 0) {
			PCRE2_UCHAR msg[160];

			pcre2_get_error_message(rc, msg, sizeof(msg));
			return tq_fail(err, TQ_EINVAL, "%s: %s: matching layer "
			    "%s failed: %s", p->name, from, name,
			    (const char *)msg);
		}
		if (r->hits != NULL)
			r->hits[i] = 1;
		state_step(&s, &ru->set, from);
	}
	if (why != NULL)
		snprintf(why, len, "%s", s.scheme_from);
	if (s.set.cfg.method == TQ_METHOD_FLOAT) {
		tq_layer_cfg_init(out, TQ_METHOD_FLOAT, NULL);
		return TQ_OK;
	}
	if (!s.have_scheme)
		return tq_fail(err, TQ_EINVAL, "%s: layer %s: method %s (from "
		    "%s) has no scheme to use; give the layer a \"scheme\"",
		    p->name, name, tq_method_name(s.set.cfg.method),
		    s.method_from);
	sch = s.set.cfg.scheme;
	r->fell[0] = '\0';
	if (p->fallback && !tq_plan__fallback_scheme(&sch, rows, cols)) {
		fell_why(r->fell, sizeof(r->fell), &s.set.cfg.scheme, NULL,
		    cols);
		tq_layer_cfg_init(out, TQ_METHOD_FLOAT, NULL);
		return TQ_OK;
	}
	if (memcmp(&sch, &s.set.cfg.scheme, sizeof(sch)) != 0)
		fell_why(r->fell, sizeof(r->fell), &s.set.cfg.scheme, &sch,
		    cols);
	/* The final method's defaults, then every key given on top. */
	fin.mask = 0;
	tq_layer_cfg_init(&fin.cfg, s.set.cfg.method, &sch);
	s.set.mask &= ~(unsigned)(PLAN_SET_METHOD | PLAN_SET_SCHEME);
	set_apply(&fin, &s.set);
	if (fin.cfg.awq_scales && fin.cfg.method == TQ_METHOD_SMOOTHQUANT)
		return tq_fail(err, TQ_EINVAL, "%s: layer %s: \"awq_scales\" "
		    "with smoothquant: both scale the layer's inputs; give one",
		    p->name, name);
	*out = fin.cfg;
	return TQ_OK;
}

/* The index of a layer of the model, or SIZE_MAX. */
static size_t
find_linear(const tq_model *m, const char *layer)
{
	size_t i, n = tq_model_n_linears(m);

	for (i = 0; i < n; i++)
		if (strcmp(tq_model_linear_name(m, i), layer) == 0)
			return i;
	return SIZE_MAX;
}

tq_status
tq_plan_fallback(const tq_plan *p, const tq_model *m, const char *layer,
    char *why, size_t len, tq_error *err)
{
	tq_layer_cfg c;
	resolver r;
	size_t li;
	tq_status st;

	why[0] = '\0';
	if ((li = find_linear(m, layer)) == SIZE_MAX)
		return tq_fail(err, TQ_EINVAL, "%s: no layer %s in %s", p->name,
		    layer, tq_model_path(m));
	if ((st = resolver_init(&r, p, m, err)) != TQ_OK)
		return st;
	if ((st = resolve_index(&r, li, &c, NULL, 0, err)) == TQ_OK)
		snprintf(why, len, "%s", r.fell);
	resolver_done(&r);
	return st;
}

tq_status
tq_plan_resolve(const tq_plan *p, const tq_model *m, const char *layer,
    tq_layer_cfg *out, tq_error *err)
{
	resolver r;
	size_t li;
	char q[96];
	tq_status st;

	if (p == NULL || m == NULL || layer == NULL)
		return tq_fail(err, TQ_EINVAL, "%s: resolving a plan needs a "
		    "plan, a model and a layer name", p != NULL ? p->name :
		    "plan");
	li = find_linear(m, layer);
	if (li == SIZE_MAX)
		return tq_fail(err, TQ_EINVAL, "%s: no layer %s in %s "
		    "(names look like model.layers.0.mlp.down_proj, lm_head)",
		    p->name, tq_msg_quote(layer, q, sizeof(q)),
		    tq_model_path(m));
	if ((st = resolver_init(&r, p, m, err)) != TQ_OK)
		return st;
	st = resolve_index(&r, li, out, NULL, 0, err);
	resolver_done(&r);
	return st;
}

/*
 * Whether layer `name` (its setting c) lacks the importance matrix its
 * type needs: llama-quantize's rule (tensor_requires_imatrix: IQ3_XXS and
 * the IQ2 and IQ1 types) for a block linear; ggml's own (ggml_quantize_
 * requires_imatrix: IQ2_XXS, IQ2_XS, IQ1_S) for lm_head and the
 * embeddings, which llama-quantize exempts but ggml cannot make without
 * one.  AWQ rounds with its scaled inputs' mean x^2; an embedding never
 * has one.
 */
static int
imatrix_missing(const tq_layer_cfg *c, const char *name)
{
	layer_id id;

	parse_layer(name, &id);
	if (id.which == TQ_PLAN_EMBED)
		return tq_quant_ggml_needs_imatrix(&c->scheme);
	if (c->use_imatrix || tq_layer_awq_scaled(c))
		return 0;
	return id.which == TQ_LINEAR_LM_HEAD ?
	    tq_quant_ggml_needs_imatrix(&c->scheme) :
	    tq_quant_needs_imatrix(&c->scheme);
}

tq_status
tq_plan_check(const tq_plan *p, const tq_model *m, tq_error *err)
{
	tq_error first = { TQ_OK, "" };
	tq_layer_cfg c;
	resolver r;
	size_t i, n;
	char where[128], why[128];
	tq_status st;

	if (p == NULL || m == NULL)
		return tq_fail(err, TQ_EINVAL, "plan: checking a plan needs a "
		    "plan and a model");
	if ((st = resolver_init(&r, p, m, err)) != TQ_OK)
		return st;
	if (p->n_rules > 0 && (r.hits = calloc(p->n_rules, 1)) == NULL) {
		resolver_done(&r);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", p->name);
	}
	n = tq_model_n_linears(m);
	for (i = 0; i < n; i++) {
		tq_error e = { TQ_OK, "" };
		int64_t rows, cols;

		st = resolve_index(&r, i, &c, why, sizeof(why), err);
		if (st != TQ_OK)
			goto out;
		if (c.method == TQ_METHOD_FLOAT || first.status != TQ_OK)
			continue;
		tq_model_linear_shape(m, i, &rows, &cols);
		if (tq_scheme_check(&c.scheme, rows, cols, &e) != TQ_OK) {
			tq_fail(&first, TQ_EINVAL, "%s: layer %s [%lld, %lld] "
			    "(scheme from %s): %s", p->name,
			    tq_model_linear_name(m, i), (long long)rows,
			    (long long)cols, why, e.msg);
		} else if (imatrix_missing(&c, tq_model_linear_name(m, i))) {
			const char *ln = tq_model_linear_name(m, i);
			int embed = strcmp(ln, "model.embed_tokens") == 0;
			char sn[32];

			tq_scheme_name(&c.scheme, sn, sizeof(sn));
			tq_fail(&first, TQ_EINVAL, "%s: layer %s (scheme from "
			    "%s): %s quantizes %s only with an importance "
			    "matrix%s", p->name, ln, why, embed ||
			    strcmp(ln, "lm_head") == 0 ? "ggml" :
			    "llama-quantize", sn, embed ? ", which an "
			    "embedding has none of: give it another scheme" :
			    " (quantize: --imatrix or \"imatrix\": true, "
			    "with --calib; export: --imatrix FILE)");
		}
	}
	for (i = 0; i < p->n_rules; i++) {
		if (!r.hits[i]) {
			tq_plan__rule_where(where, sizeof(where), i,
			    p->rules[i].match);
			st = tq_fail(err, TQ_EINVAL, "%s: %s matches no layer "
			    "of %s", p->name, where, tq_model_path(m));
			goto out;
		}
	}
	if (first.status != TQ_OK) {
		st = tq_fail(err, first.status, "%s", first.msg);
		goto out;
	}
	st = TQ_OK;
out:
	resolver_done(&r);
	return st;
}

/* ---- Canonical text ---------------------------------------------------- */

typedef struct strbuf {
	char *p;
	size_t n, cap;
	int oom;
} strbuf;

static void
sb_add(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_add(strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		/* No pointer arithmetic on the NULL of an empty buffer. */
		k = vsnprintf(b->p != NULL ? b->p + b->n : NULL, b->cap - b->n,
		    fmt, ap);
		va_end(ap);
		if (k < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		{
			size_t cap = b->cap * 2 + (size_t)k + 64;
			char *q = realloc(b->p, cap);

			if (q == NULL) {
				b->oom = 1;
				return;
			}
			b->p = q;
			b->cap = cap;
		}
	}
}

/* s as a JSON string literal. */
static void
sb_string(strbuf *b, const char *s)
{
	const unsigned char *p;

	sb_add(b, "\"");
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			sb_add(b, "\\%c", *p);
		else if (*p == '\n')
			sb_add(b, "\\n");
		else if (*p == '\t')
			sb_add(b, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			sb_add(b, "\\u%04x", *p);
		else
			sb_add(b, "%c", *p);
	}
	sb_add(b, "\"");
}

/* The shortest decimal that reads back as x. */
static void
sb_double(strbuf *b, double x)
{
	char buf[40];
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	sb_add(b, "%s", buf);
}

static void
sb_set(strbuf *b, const plan_set *s)
{
	const tq_layer_cfg *c = &s->cfg;
	char name[32];
	size_t i;

	for (i = 0; i < PLAN_N_SET_KEYS; i++) {
		unsigned bit = tq_plan__set_keys[i].bit;

		if (!(s->mask & bit))
			continue;
		sb_add(b, ", \"%s\": ", tq_plan__set_keys[i].name);
		switch (bit) {
		case PLAN_SET_METHOD:
			sb_add(b, "\"%s\"", tq_method_name(c->method));
			break;
		case PLAN_SET_SCHEME:
			tq_scheme_name(&c->scheme, name, sizeof(name));
			sb_add(b, "\"%s\"", name);
			break;
		case PLAN_SET_ACT_ORDER:
			sb_add(b, "%s", c->act_order ? "true" : "false");
			break;
		case PLAN_SET_DAMP:
			sb_double(b, c->damp);
			break;
		case PLAN_SET_CLIP:
			sb_add(b, "%s", c->clip_search ? "true" : "false");
			break;
		case PLAN_SET_IMATRIX:
			sb_add(b, "%s", c->use_imatrix ? "true" : "false");
			break;
		case PLAN_SET_STATIC:
			sb_add(b, "%s", c->static_groups ? "true" : "false");
			break;
		case PLAN_SET_BLOCK:
			sb_add(b, "%lld", (long long)c->block_size);
			break;
		case PLAN_SET_ALPHA:
			sb_double(b, c->alpha);
			break;
		case PLAN_SET_ACT_BITS:
			sb_add(b, "%d", c->act_bits);
			break;
		case PLAN_SET_SHRINK:
			sb_double(b, c->hess_shrink);
			break;
		case PLAN_SET_AWQ_SCALES:
			sb_add(b, "%s", c->awq_scales ? "true" : "false");
			break;
		}
	}
}

char *
tq_plan_to_json(const tq_plan *p)
{
	strbuf b = { NULL, 0, 0, 0 };
	const char *sep = "\n";
	size_t i;

	if (p == NULL)
		return NULL;
	sb_add(&b, "{");
	if (p->preset != NULL) {
		sb_add(&b, "%s  \"preset\": \"%s\"", sep, p->preset->name);
		sep = ",\n";
	}
	if (p->fallback != (p->preset != NULL)) {
		sb_add(&b, "%s  \"fallback\": %s", sep,
		    p->fallback ? "true" : "false");
		sep = ",\n";
	}
	if (p->def.mask != 0) {
		/* sb_set writes ", key": drop the first comma. */
		strbuf d = { NULL, 0, 0, 0 };

		sb_set(&d, &p->def);
		sb_add(&b, "%s  \"default\": {%s}", sep,
		    d.p != NULL ? d.p + 2 : "");
		b.oom |= d.oom;
		free(d.p);
		sep = ",\n";
	}
	sb_add(&b, "%s  \"rules\": [", sep);
	for (i = 0; i < p->n_rules; i++) {
		sb_add(&b, "%s\n    {\"match\": ", i > 0 ? "," : "");
		sb_string(&b, p->rules[i].match);
		sb_set(&b, &p->rules[i].set);
		sb_add(&b, "}");
	}
	sb_add(&b, "%s]\n}\n", p->n_rules > 0 ? "\n  " : "");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
