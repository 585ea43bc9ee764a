/*
 * plan_file.c: the JSON plan file: tq_plan_parse and tq_plan_load read a
 * plan (cJSON, every key checked, messages that say where), tq_plan_save
 * writes the canonical text tq_plan_to_json (core/plan.c) makes.  What a
 * plan means, and how it applies to layers, is core/plan.c's.
 *
 * The JSON plan format:
 *
 *   {
 *     "default": {"method": "gptq", "scheme": "int4-g128",
 *                 "act_order": false, "damp": 0.01},
 *     "rules": [
 *       {"match": "model\\.layers\\.[0-3]\\.mlp\\.down_proj",
 *        "scheme": "int8-channel"},
 *       {"match": "^lm_head$", "method": "rtn", "scheme": "q6_k"}
 *     ]
 *   }
 *
 * Top-level keys (all optional; any other key is an error):
 *   "default"   the setting of every block linear (q/k/v/o/gate/up/down
 *               of every block), not of lm_head and model.embed_tokens;
 *               left out, every layer stays float.
 *   "rules"     an array of rules applied in order after the default.
 *   "preset"    the name of a preset (see tq_plan_preset_names) that
 *               takes the place of "default": its setting and its
 *               model-aware rules come first, the "rules" after them.
 *               "preset" and "default" cannot both be given.
 *   "fallback"  true: a layer whose shape the resolved scheme cannot
 *               quantize falls back instead of failing the check (GGUF:
 *               llama.cpp's tensor_type_fallback, Q4_K -> Q5_0, Q5_K ->
 *               Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0, then float; INT
 *               and NF4: halve the group down to 32, then per channel
 *               (INT) or float (NF4)).  Default: true with a preset,
 *               false otherwise.
 *
 * Setting keys (in "default" and in rules; any subset):
 *   "method"         "float", "rtn", "gptq", "awq" or "smoothquant"
 *   "scheme"         a scheme name tq_scheme_parse accepts ("int4-g128",
 *                    "int8-channel", "fp8", "nf4", "q4_k", ...)
 *   "act_order"      bool   GPTQ: columns by decreasing Hessian diagonal
 *   "damp"           number in [0, 1]  GPTQ dampening (0.01)
 *   "hess_shrink"    number in [0, 1]  GPTQ: the Hessian's off-diagonal
 *                    entries scaled by 1 - hess_shrink (0)
 *   "clip_search"    bool   RTN/AWQ: search the clipping range
 *   "imatrix"        bool   weigh rounding error by mean x^2 of inputs
 *   "static_groups"  bool   GPTQ: group parameters from the original W
 *   "block_size"     integer in [1, 65536]  GPTQ lazy-update block (128)
 *   "alpha"          number in [0, 1]  SmoothQuant migration strength (0.5)
 *   "act_bits"       8 or 16  activation bits
 *   "awq_scales"     bool   GPTQ/RTN: AWQ's activation-aware input scales
 *                    folded first, then the layer's own rounding (awq:
 *                    always)
 *
 * A rule is an object with "match", a PCRE2 pattern (UTF) searched for in
 * the layer name, unanchored unless the pattern anchors itself, and at
 * least one setting key.  Names are "model.layers.3.mlp.down_proj",
 * "model.layers.0.self_attn.q_proj", "lm_head", "model.embed_tokens".
 *
 * Resolution (core/plan.c): start from float; apply the default (block
 * linears only), then every matching rule in order, each changing only
 * the keys it gives (later rules win).  Giving a scheme to a layer that
 * is float at that point, without a method in the same rule, quantizes it
 * with RTN; "method": "float" keeps a layer in float.  "default" with a
 * non-float method must give a scheme; a "default" giving a scheme but no
 * method means RTN.
 *
 * tq_plan_to_json writes this format: a preset plan as {"preset": NAME,
 * "rules": [...]}, which resolves identically on every model.
 * Messages name the plan ("FILE: rule 2 (\"pattern\"): ...", rules counted
 * from 1).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "error.h"
#include "fileio.h"
#include "msg.h"
#include "plan.h"

#define PLAN_MAX_DEPTH 16		/* JSON nesting; a plan needs 3 */

/* ---- Messages ----------------------------------------------------------- */

static tq_status
unknown_key(const char *name, const char *where, const char *key,
    const char *const *known, size_t n, const char *list, tq_error *err)
{
	const char *near = tq_msg_near(key, known, n);
	char q[96];

	if (near != NULL)
		return tq_fail(err, TQ_EFORMAT, "%s: %s: unknown key %s (did "
		    "you mean \"%s\"?)", name, where,
		    tq_msg_quote(key, q, sizeof(q)), near);
	return tq_fail(err, TQ_EFORMAT, "%s: %s: unknown key %s (known: %s)",
	    name, where, tq_msg_quote(key, q, sizeof(q)), list);
}

/* An error if key appears twice in object o (cJSON keeps both). */
static tq_status
check_duplicates(const cJSON *o, const char *name, const char *where,
    tq_error *err)
{
	const cJSON *a, *b;
	char q[96];

	for (a = o->child; a != NULL; a = a->next)
		for (b = a->next; b != NULL; b = b->next)
			if (strcmp(a->string, b->string) == 0)
				return tq_fail(err, TQ_EFORMAT, "%s: %s: key "
				    "%s given twice", name, where,
				    tq_msg_quote(a->string, q, sizeof(q)));
	return TQ_OK;
}

/* ---- Reading settings --------------------------------------------------- */

static tq_status
read_bool(const cJSON *v, const char *key, int *out, const char *name,
    const char *where, tq_error *err)
{
	char t[96];

	if (!cJSON_IsBool(v))
		return tq_fail(err, TQ_EFORMAT, "%s: %s: \"%s\" must be true "
		    "or false, not %s", name, where, key,
		    tq_msg_json(v, t, sizeof(t)));
	*out = cJSON_IsTrue(v);
	return TQ_OK;
}

static tq_status
read_number(const cJSON *v, const char *key, double lo, double hi,
    int integer, double *out, const char *name, const char *where,
    tq_error *err)
{
	char t[96];
	double x = cJSON_IsNumber(v) ? v->valuedouble : 0.0;

	if (!cJSON_IsNumber(v) || !isfinite(x) || x < lo || x > hi ||
	    (integer && x != floor(x)))
		return tq_fail(err, TQ_EFORMAT, "%s: %s: \"%s\" must be %s in "
		    "[%g, %g], not %s", name, where, key, integer ?
		    "an integer" : "a number", lo, hi,
		    tq_msg_json(v, t, sizeof(t)));
	*out = x;
	return TQ_OK;
}

/* Reads one setting key of a default or rule into set. */
static tq_status
read_setting(const cJSON *v, unsigned bit, const char *key, plan_set *set,
    const char *name, const char *where, tq_error *err)
{
	tq_layer_cfg *c = &set->cfg;
	tq_error e = { TQ_OK, "" };
	char t[96];
	double x;
	tq_status st = TQ_OK;

	switch (bit) {
	case PLAN_SET_METHOD:
	case PLAN_SET_SCHEME:
		if (!cJSON_IsString(v))
			return tq_fail(err, TQ_EFORMAT, "%s: %s: \"%s\" must "
			    "be a string, not %s", name, where, key,
			    tq_msg_json(v, t, sizeof(t)));
		if (bit == PLAN_SET_METHOD)
			st = tq_method_parse(v->valuestring, &c->method, &e);
		else
			st = tq_scheme_parse(v->valuestring, &c->scheme, &e);
		if (st != TQ_OK)
			return tq_fail(err, TQ_EFORMAT, "%s: %s: %s", name,
			    where, e.msg);
		break;
	case PLAN_SET_ACT_ORDER:
		st = read_bool(v, key, &c->act_order, name, where, err);
		break;
	case PLAN_SET_CLIP:
		st = read_bool(v, key, &c->clip_search, name, where, err);
		break;
	case PLAN_SET_IMATRIX:
		st = read_bool(v, key, &c->use_imatrix, name, where, err);
		break;
	case PLAN_SET_STATIC:
		st = read_bool(v, key, &c->static_groups, name, where, err);
		break;
	case PLAN_SET_AWQ_SCALES:
		st = read_bool(v, key, &c->awq_scales, name, where, err);
		break;
	case PLAN_SET_DAMP:
		st = read_number(v, key, 0.0, 1.0, 0, &c->damp, name, where,
		    err);
		break;
	case PLAN_SET_SHRINK:
		st = read_number(v, key, 0.0, 1.0, 0, &c->hess_shrink, name,
		    where, err);
		break;
	case PLAN_SET_ALPHA:
		st = read_number(v, key, 0.0, 1.0, 0, &c->alpha, name, where,
		    err);
		break;
	case PLAN_SET_BLOCK:
		st = read_number(v, key, 1.0, 65536.0, 1, &x, name, where,
		    err);
		/* x is only in range once it was read */
		if (st == TQ_OK)
			c->block_size = (int64_t)x;
		break;
	case PLAN_SET_ACT_BITS:
		if (!cJSON_IsNumber(v) || (v->valuedouble != 8.0 &&
		    v->valuedouble != 16.0))
			return tq_fail(err, TQ_EFORMAT, "%s: %s: \"act_bits\" "
			    "must be 8 or 16, not %s", name, where,
			    tq_msg_json(v, t, sizeof(t)));
		c->act_bits = (int)v->valuedouble;
		break;
	}
	if (st == TQ_OK)
		set->mask |= bit;
	return st;
}

static const char *const rule_keys[] = {
	"match", "method", "scheme", "act_order", "damp", "clip_search",
	"imatrix", "static_groups", "block_size", "alpha", "act_bits",
	"hess_shrink", "awq_scales"
};
static const char *const top_keys[] = {
	"preset", "fallback", "default", "rules"
};

/* Reads the setting keys of object o (skipping "match" for rules). */
static tq_status
read_set(const cJSON *o, int is_rule, plan_set *set, const char *name,
    const char *where, tq_error *err)
{
	const cJSON *v;
	tq_status st;

	memset(set, 0, sizeof(*set));
	tq_layer_cfg_init(&set->cfg, TQ_METHOD_FLOAT, NULL);
	if ((st = check_duplicates(o, name, where, err)) != TQ_OK)
		return st;
	for (v = o->child; v != NULL; v = v->next) {
		unsigned bit = tq_plan__setting_bit(v->string);

		if (is_rule && strcmp(v->string, "match") == 0)
			continue;
		if (bit == 0)
			return unknown_key(name, where, v->string,
			    rule_keys + !is_rule,
			    sizeof(rule_keys) / sizeof(rule_keys[0]) - !is_rule,
			    is_rule ? "match, " PLAN_SET_KEY_LIST :
			    PLAN_SET_KEY_LIST,
			    err);
		st = read_setting(v, bit, v->string, set, name, where, err);
		if (st != TQ_OK)
			return st;
	}
	return TQ_OK;
}

static tq_status
read_rule(const cJSON *o, size_t index, plan_rule *r, const char *name,
    tq_error *err)
{
	const cJSON *m;
	char where[128], t[96];
	tq_status st;

	tq_plan__rule_where(where, sizeof(where), index, NULL);
	if (!cJSON_IsObject(o))
		return tq_fail(err, TQ_EFORMAT, "%s: %s must be an object "
		    "with \"match\", not %s", name, where,
		    tq_msg_json(o, t, sizeof(t)));
	m = cJSON_GetObjectItemCaseSensitive(o, "match");
	if (m == NULL)
		return tq_fail(err, TQ_EFORMAT, "%s: %s has no \"match\" "
		    "pattern", name, where);
	if (!cJSON_IsString(m))
		return tq_fail(err, TQ_EFORMAT, "%s: %s: \"match\" must be a "
		    "string (a PCRE2 pattern), not %s", name, where,
		    tq_msg_json(m, t, sizeof(t)));
	if (strlen(m->valuestring) > PLAN_MAX_PATTERN)
		return tq_fail(err, TQ_EFORMAT, "%s: %s: \"match\" is longer "
		    "than %d bytes", name, where, PLAN_MAX_PATTERN);
	if ((r->match = strdup(m->valuestring)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", name);
	tq_plan__rule_where(where, sizeof(where), index, r->match);
	if ((st = read_set(o, 1, &r->set, name, where, err)) != TQ_OK)
		return st;
	if (r->set.mask == 0)
		return tq_fail(err, TQ_EFORMAT, "%s: %s changes nothing; give "
		    "it a setting (%s)", name, where, PLAN_SET_KEY_LIST);
	return tq_plan__compile_rule(r, name, where, err);
}

/* ---- Plans -------------------------------------------------------------- */

/* An error if the JSON nests deeper than PLAN_MAX_DEPTH. */
static tq_status
check_depth(const char *s, size_t len, const char *name, tq_error *err)
{
	int depth = 0, in_str = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > PLAN_MAX_DEPTH)
				return tq_fail(err, TQ_EFORMAT, "%s: JSON "
				    "nested deeper than %d levels at byte %zu",
				    name, PLAN_MAX_DEPTH, i);
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return TQ_OK;
}

static tq_status
parse_root(const cJSON *root, tq_plan *p, tq_error *err)
{
	const cJSON *v, *def = NULL, *rules = NULL, *preset = NULL;
	const cJSON *fallback = NULL;
	const char *name = p->name;
	char t[96];
	size_t i, n;
	tq_status st;

	if (!cJSON_IsObject(root))
		return tq_fail(err, TQ_EFORMAT, "%s: a plan must be a JSON "
		    "object, not %s", name, tq_msg_json(root, t, sizeof(t)));
	if ((st = check_duplicates(root, name, "plan", err)) != TQ_OK)
		return st;
	for (v = root->child; v != NULL; v = v->next) {
		if (strcmp(v->string, "default") == 0)
			def = v;
		else if (strcmp(v->string, "rules") == 0)
			rules = v;
		else if (strcmp(v->string, "preset") == 0)
			preset = v;
		else if (strcmp(v->string, "fallback") == 0)
			fallback = v;
		else
			return unknown_key(name, "plan", v->string, top_keys,
			    sizeof(top_keys) / sizeof(top_keys[0]),
			    "preset, fallback, default, rules", err);
	}
	if (preset != NULL) {
		if (!cJSON_IsString(preset) ||
		    (p->preset = tq_plan__find_preset(preset->valuestring)) ==
		    NULL)
			return tq_fail(err, TQ_EFORMAT, "%s: unknown preset %s; "
			    "accepted: %s", name, tq_msg_json(preset, t,
			    sizeof(t)), PLAN_PRESET_LIST);
		if (def != NULL)
			return tq_fail(err, TQ_EFORMAT, "%s: \"default\" "
			    "cannot be combined with \"preset\" %s; add "
			    "rules instead", name, tq_msg_json(preset, t,
			    sizeof(t)));
		p->fallback = 1;
	}
	if (fallback != NULL && (st = read_bool(fallback, "fallback",
	    &p->fallback, name, "plan", err)) != TQ_OK)
		return st;
	if (def != NULL) {
		if (!cJSON_IsObject(def))
			return tq_fail(err, TQ_EFORMAT, "%s: \"default\" must "
			    "be an object, not %s", name,
			    tq_msg_json(def, t, sizeof(t)));
		if ((st = read_set(def, 0, &p->def, name, "default", err)) !=
		    TQ_OK)
			return st;
		if ((p->def.mask & PLAN_SET_SCHEME) &&
		    !(p->def.mask & PLAN_SET_METHOD)) {
			p->def.cfg.method = TQ_METHOD_RTN;
			p->def.mask |= PLAN_SET_METHOD;
		}
		if (p->def.cfg.method != TQ_METHOD_FLOAT &&
		    !(p->def.mask & PLAN_SET_SCHEME))
			return tq_fail(err, TQ_EFORMAT, "%s: default: method "
			    "\"%s\" needs a \"scheme\"", name,
			    tq_method_name(p->def.cfg.method));
	}
	if (rules == NULL)
		return TQ_OK;
	if (!cJSON_IsArray(rules))
		return tq_fail(err, TQ_EFORMAT, "%s: \"rules\" must be an "
		    "array, not %s", name, tq_msg_json(rules, t, sizeof(t)));
	n = (size_t)cJSON_GetArraySize(rules);
	if (n > PLAN_MAX_RULES)
		return tq_fail(err, TQ_EFORMAT, "%s: %zu rules, more than %d",
		    name, n, PLAN_MAX_RULES);
	if (n == 0)
		return TQ_OK;
	if ((p->rules = calloc(n, sizeof(*p->rules))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", name);
	for (i = 0, v = rules->child; v != NULL; v = v->next, i++) {
		p->n_rules = i + 1;
		if ((st = read_rule(v, i, &p->rules[i], name, err)) != TQ_OK)
			return st;
	}
	return TQ_OK;
}

tq_status
tq_plan_parse(const char *json, size_t len, const char *name, tq_plan **out,
    tq_error *err)
{
	const char *end = NULL;
	cJSON *root;
	tq_plan *p;
	tq_status st;

	*out = NULL;
	if (name == NULL)
		name = "plan";
	if (json == NULL)
		return tq_fail(err, TQ_EINVAL, "%s: no JSON text", name);
	if (len > PLAN_MAX_BYTES)
		return tq_fail(err, TQ_EFORMAT, "%s: %zu bytes, more than a "
		    "plan may have (%u)", name, len, PLAN_MAX_BYTES);
	if ((st = check_depth(json, len, name, err)) != TQ_OK)
		return st;
	root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (root == NULL) {
		size_t off = end != NULL && end >= json ?
		    (size_t)(end - json) : 0;

		return tq_fail(err, TQ_EFORMAT, "%s: invalid JSON near byte "
		    "%zu", name, off);
	}
	while (end != NULL && (size_t)(end - json) < len &&
	    (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != NULL && (size_t)(end - json) < len && *end != '\0') {
		cJSON_Delete(root);
		return tq_fail(err, TQ_EFORMAT, "%s: unexpected text after the "
		    "JSON object at byte %zu", name, (size_t)(end - json));
	}
	if ((p = tq_plan__alloc(name)) == NULL) {
		cJSON_Delete(root);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", name);
	}
	st = parse_root(root, p, err);
	cJSON_Delete(root);
	if (st != TQ_OK) {
		tq_plan_free(p);
		return st;
	}
	*out = p;
	return TQ_OK;
}

tq_status
tq_plan_load(const char *path, tq_plan **out, tq_error *err)
{
	char *text;
	size_t len;
	tq_status st;

	*out = NULL;
	st = tq_read_file(path, PLAN_MAX_BYTES, &text, &len, err);
	if (st != TQ_OK)
		return st;
	st = tq_plan_parse(text, len, path, out, err);
	free(text);
	return st;
}

/* ---- Writing ------------------------------------------------------------ */

tq_status
tq_plan_save(const tq_plan *p, const char *path, tq_error *err)
{
	tq_atomic a;
	char *json;
	tq_status st;

	if ((json = tq_plan_to_json(p)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	st = tq_atomic_open(&a, path, err);
	if (st != TQ_OK) {
		free(json);
		return st;
	}
	if (fputs(json, a.f) == EOF) {
		free(json);
		tq_atomic_abort(&a);
		return tq_fail(err, TQ_EIO, "%s: write failed", path);
	}
	free(json);
	return tq_atomic_commit(&a, err);
}
