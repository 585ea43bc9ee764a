/*
 * test_plan.c: quantization plans: JSON parsing and its error messages,
 * rule order (later rules win), lm_head and embeddings kept float, every
 * preset resolving and checking on the demo model, the GGUF mixes against
 * llama.cpp's tables, and the JSON round trip.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan.h"
#include "tap.h"
#include "tq.h"

static const char *top;
static tq_model *demo;
/* A fixture whose widths (64, 172) fit few groups: the fallback cases. */
static tq_model *odd;
/* The model what() resolves on. */
static tq_model *cur;
static char tmpdir[] = "/tmp/tq-plan-XXXXXX";

static int
cfg_equal(const tq_layer_cfg *a, const tq_layer_cfg *b)
{
	if (a->method != b->method)
		return 0;
	if (a->method != TQ_METHOD_FLOAT &&
	    (a->scheme.type != b->scheme.type ||
	    a->scheme.bits != b->scheme.bits ||
	    a->scheme.group != b->scheme.group ||
	    a->scheme.sym != b->scheme.sym))
		return 0;
	return a->clip_search == b->clip_search &&
	    a->use_imatrix == b->use_imatrix &&
	    a->act_order == b->act_order &&
	    a->static_groups == b->static_groups && a->damp == b->damp &&
	    a->block_size == b->block_size && a->alpha == b->alpha &&
	    a->act_bits == b->act_bits && a->hess_shrink == b->hess_shrink &&
	    a->awq_scales == b->awq_scales;
}

/* The resolved method and scheme of a layer as "gptq int4-g128". */
static const char *
what(const tq_plan *p, const char *layer)
{
	static char buf[600];
	tq_error err = { TQ_OK, "" };
	tq_layer_cfg c;
	char name[32];

	if (tq_plan_resolve(p, cur, layer, &c, &err) != TQ_OK) {
		snprintf(buf, sizeof(buf), "error: %s", err.msg);
		return buf;
	}
	if (c.method == TQ_METHOD_FLOAT)
		return "float";
	tq_scheme_name(&c.scheme, name, sizeof(name));
	snprintf(buf, sizeof(buf), "%s %s", tq_method_name(c.method), name);
	return buf;
}

static int
is(const tq_plan *p, const char *layer, const char *expect)
{
	const char *got = what(p, layer);

	if (strcmp(got, expect) == 0)
		return 1;
	tap_diag("%s: got \"%s\", expected \"%s\"", layer, got, expect);
	return 0;
}

static tq_plan *
parse(const char *json)
{
	tq_error err = { TQ_OK, "" };
	tq_plan *p = NULL;

	if (tq_plan_parse(json, strlen(json), "t.json", &p, &err) != TQ_OK)
		tap_diag("parse: %s", err.msg);
	return p;
}

/* A bad plan: parsing fails, no plan, and the message has each text. */
static void
bad(const char *desc, const char *json, const char *t1, const char *t2)
{
	tq_error err = { TQ_OK, "" };
	tq_plan *p = (tq_plan *)1;
	tq_status st;

	st = tq_plan_parse(json, strlen(json), "bad.json", &p, &err);
	tap_ok(st != TQ_OK && p == NULL && strncmp(err.msg, "bad.json: ",
	    10) == 0 && strstr(err.msg, t1) != NULL &&
	    (t2 == NULL || strstr(err.msg, t2) != NULL) &&
	    strchr(err.msg, '\n') == NULL, "%s: %s", desc, err.msg);
	if (st == TQ_OK)
		tq_plan_free(p);
}

/* The plan resolves every demo layer as q does. */
static int
same_resolution(const tq_plan *p, const tq_plan *q)
{
	size_t i, n = tq_model_n_linears(demo);
	tq_error err;

	for (i = 0; i < n; i++) {
		const char *name = tq_model_linear_name(demo, i);
		tq_layer_cfg a, b;

		if (tq_plan_resolve(p, demo, name, &a, &err) != TQ_OK ||
		    tq_plan_resolve(q, demo, name, &b, &err) != TQ_OK ||
		    !cfg_equal(&a, &b)) {
			tap_diag("%s resolves differently", name);
			return 0;
		}
	}
	return 1;
}

/* to_json, then parse: the same resolution on the demo model. */
static int
round_trip(const tq_plan *p, const char *desc)
{
	tq_error err = { TQ_OK, "" };
	char *json = tq_plan_to_json(p);
	tq_plan *q = NULL;
	int ok;

	if (json == NULL)
		return 0;
	if (tq_plan_parse(json, strlen(json), desc, &q, &err) != TQ_OK) {
		tap_diag("%s: %s in\n%s", desc, err.msg, json);
		tq_string_free(json);
		return 0;
	}
	ok = same_resolution(p, q);
	if (ok) {
		/* And writing it again gives the same text. */
		char *again = tq_plan_to_json(q);

		ok = again != NULL && strcmp(again, json) == 0;
		if (!ok)
			tap_diag("second to_json differs:\n%s\n%s", json,
			    again != NULL ? again : "(null)");
		tq_string_free(again);
	}
	tq_plan_free(q);
	tq_string_free(json);
	return ok;
}

static void
test_methods(void)
{
	tq_error err = { TQ_OK, "" };
	tq_method m;
	tq_layer_cfg c;
	tq_scheme s;
	int i, ok = 1;

	for (i = 0; i < TQ_METHOD_COUNT; i++)
		ok &= tq_method_parse(tq_method_name((tq_method)i), &m,
		    &err) == TQ_OK && m == (tq_method)i;
	tap_ok(ok, "method names parse back");
	tap_ok(tq_method_parse("GPTQ", &m, &err) == TQ_OK &&
	    m == TQ_METHOD_GPTQ, "method names are case-insensitive");
	tap_ok(tq_method_parse("gtpq", &m, &err) == TQ_EINVAL &&
	    strstr(err.msg, "unknown method \"gtpq\"") != NULL &&
	    strstr(err.msg, "smoothquant") != NULL, "bad method: %s", err.msg);
	tap_ok(strcmp(tq_method_name(TQ_METHOD_COUNT), "?") == 0,
	    "out-of-range method name");

	tq_scheme_parse("int4-g128", &s, NULL);
	tq_layer_cfg_init(&c, TQ_METHOD_GPTQ, &s);
	tap_ok(c.method == TQ_METHOD_GPTQ && c.scheme.group == 128 &&
	    c.damp == 0.01 && c.block_size == 128 && c.alpha == 0.5 &&
	    c.act_bits == 16 && !c.act_order && !c.clip_search &&
	    !c.use_imatrix && !c.static_groups, "gptq defaults");
	tq_layer_cfg_init(&c, TQ_METHOD_SMOOTHQUANT, &s);
	tap_ok(c.act_bits == 8, "smoothquant defaults to 8-bit activations");
	tq_layer_cfg_init(&c, TQ_METHOD_AWQ, &s);
	tap_ok(c.clip_search == 1 && c.act_bits == 16,
	    "awq: its recipe's clip search is on by default");
}

static void
test_parse_good(void)
{
	char path[1024];
	tq_error err = { TQ_OK, "" };
	tq_layer_cfg c;
	tq_plan *p = NULL;

	snprintf(path, sizeof(path), "%s/tests/data/plans/mixed.json", top);
	tap_ok(tq_plan_load(path, &p, &err) == TQ_OK, "load mixed.json %s",
	    err.msg);
	if (p == NULL)
		return;
	tap_ok(is(p, "model.layers.0.self_attn.q_proj", "gptq int4-g128") &&
	    is(p, "model.layers.3.mlp.gate_proj", "gptq int4-g128"),
	    "the default applies to block linears");
	tap_ok(is(p, "model.layers.2.mlp.down_proj", "gptq int8"),
	    "a rule changes the scheme and keeps the default's method");
	tap_ok(is(p, "lm_head", "rtn q6_k"), "a rule naming lm_head");
	tap_ok(is(p, "model.embed_tokens", "float"),
	    "the default does not apply to the embeddings");
	tap_ok(tq_plan_check(p, demo, &err) == TQ_OK, "mixed.json checks "
	    "on the demo model %s", err.msg);
	tap_ok(tq_plan_resolve(p, demo, "model.layers.1.self_attn.v_proj", &c,
	    &err) == TQ_OK && c.damp == 0.01 && c.block_size == 128 &&
	    c.act_bits == 16 && !c.act_order, "settings resolve");
	tap_ok(round_trip(p, "mixed.json again"), "mixed.json round trip");
	tq_plan_free(p);

	snprintf(path, sizeof(path), "%s/tests/data/plans/no-such.json", top);
	tap_ok(tq_plan_load(path, &p, &err) != TQ_OK && p == NULL &&
	    strstr(err.msg, "no-such.json") != NULL, "a missing file: %s",
	    err.msg);

	p = parse("{}");
	tap_ok(p != NULL && is(p, "model.layers.0.mlp.up_proj", "float") &&
	    is(p, "lm_head", "float"), "an empty plan keeps everything float");
	tq_plan_free(p);
	p = parse("{\"default\": {\"scheme\": \"int8\"}}");
	tap_ok(p != NULL && is(p, "model.layers.0.mlp.up_proj", "rtn int8") &&
	    is(p, "lm_head", "float"),
	    "a default scheme without a method means rtn");
	tq_plan_free(p);
	p = parse("  {\"rules\": [{\"match\": \"up_proj$\", \"scheme\": "
	    "\"INT4-G32-SYM\"}]} \n");
	tap_ok(p != NULL && is(p, "model.layers.1.mlp.up_proj",
	    "rtn int4-g32-sym") && is(p, "model.layers.1.mlp.down_proj",
	    "float"), "a scheme given to a float layer means rtn");
	tq_plan_free(p);
}

static void
test_parse_bad(void)
{
	char *big;
	size_t i, n;

	bad("invalid JSON", "{\"rules\": [}", "invalid JSON near byte", NULL);
	bad("empty text", "", "invalid JSON", NULL);
	bad("text after the object", "{} {}", "unexpected text after", NULL);
	bad("not an object", "[1, 2]", "must be a JSON object", NULL);
	bad("deep nesting", "{\"rules\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", "nested deeper than", NULL);
	bad("typo at the top", "{\"rule\": []}", "unknown key \"rule\"",
	    "did you mean \"rules\"");
	bad("unknown top key", "{\"comment\": \"x\"}", "unknown key "
	    "\"comment\"", "known: preset, fallback, default, rules");
	bad("duplicate top key", "{\"rules\": [], \"rules\": []}",
	    "\"rules\" given twice", NULL);
	bad("typo in a rule", "{\"rules\": [{\"match\": \"x\", \"scheme\": "
	    "\"int8\"}, {\"match\": \"lm_head\", \"schme\": \"q6_k\"}]}",
	    "rule 2 (\"lm_head\"): unknown key \"schme\"",
	    "did you mean \"scheme\"");
	bad("typo in the default", "{\"default\": {\"method\": \"rtn\", "
	    "\"scheme\": \"int4\", \"dampp\": 0.1}}",
	    "default: unknown key \"dampp\"", "did you mean \"damp\"");
	bad("match in the default", "{\"default\": {\"match\": \"x\"}}",
	    "default: unknown key \"match\"", NULL);
	bad("unknown key", "{\"rules\": [{\"match\": \"x\", \"frobnicate\": "
	    "1}]}", "unknown key \"frobnicate\"", "known: match, method");
	bad("duplicate rule key", "{\"rules\": [{\"match\": \"x\", "
	    "\"scheme\": \"int8\", \"scheme\": \"int4\"}]}",
	    "rule 1 (\"x\"): key \"scheme\" given twice", NULL);
	bad("boolean as a string", "{\"rules\": [{\"match\": \"x\", "
	    "\"act_order\": \"yes\"}]}",
	    "\"act_order\" must be true or false, not \"yes\"", NULL);
	bad("boolean as a number", "{\"rules\": [{\"match\": \"x\", "
	    "\"imatrix\": 1}]}", "\"imatrix\" must be true or false, not 1",
	    NULL);
	bad("negative damp", "{\"rules\": [{\"match\": \"x\", \"damp\": "
	    "-0.5}]}", "rule 1 (\"x\"): \"damp\" must be a number in [0, 1], "
	    "not -0.5", NULL);
	bad("damp as a string", "{\"rules\": [{\"match\": \"x\", \"damp\": "
	    "\"0.1\"}]}", "\"damp\" must be a number", "not \"0.1\"");
	bad("infinite damp", "{\"rules\": [{\"match\": \"x\", \"damp\": "
	    "1e999}]}", "\"damp\" must be a number",
	    "not a number out of range");
	bad("alpha above 1", "{\"rules\": [{\"match\": \"x\", \"alpha\": "
	    "1.5}]}", "\"alpha\" must be a number in [0, 1], not 1.5", NULL);
	bad("hess_shrink above 1", "{\"rules\": [{\"match\": \"x\", "
	    "\"hess_shrink\": 2}]}", "\"hess_shrink\" must be a number in "
	    "[0, 1], not 2", NULL);
	bad("awq_scales as a number", "{\"rules\": [{\"match\": \"x\", "
	    "\"awq_scales\": 1}]}", "\"awq_scales\" must be", NULL);
	bad("fractional block size", "{\"rules\": [{\"match\": \"x\", "
	    "\"block_size\": 12.5}]}", "\"block_size\" must be an integer",
	    "not 12.5");
	bad("zero block size", "{\"rules\": [{\"match\": \"x\", "
	    "\"block_size\": 0}]}", "\"block_size\" must be an integer",
	    "not 0");
	bad("act_bits 4", "{\"rules\": [{\"match\": \"x\", \"act_bits\": "
	    "4}]}", "\"act_bits\" must be 8 or 16, not 4", NULL);
	bad("unknown method", "{\"rules\": [{\"match\": \"x\", \"method\": "
	    "\"gtpq\"}]}", "rule 1 (\"x\"): unknown method \"gtpq\"", NULL);
	bad("method as a number", "{\"rules\": [{\"match\": \"x\", "
	    "\"method\": 3}]}", "\"method\" must be a string, not 3", NULL);
	bad("bits the scheme parser rejects", "{\"rules\": [{\"match\": "
	    "\"x\", \"scheme\": \"int9-g128\"}]}",
	    "rule 1 (\"x\"): quantization scheme \"int9-g128\"", "2..8");
	bad("group the scheme parser rejects", "{\"default\": {\"method\": "
	    "\"gptq\", \"scheme\": \"int4-g100\"}}",
	    "default: quantization scheme \"int4-g100\"", "\"100\"");
	bad("unknown scheme", "{\"rules\": [{\"match\": \"x\", \"scheme\": "
	    "\"q4_k_m\"}]}", "unknown quantization scheme \"q4_k_m\"", NULL);
	bad("default method without a scheme", "{\"default\": {\"method\": "
	    "\"gptq\"}}", "default: method \"gptq\" needs a \"scheme\"",
	    NULL);
	bad("default not an object", "{\"default\": \"gptq\"}",
	    "\"default\" must be an object, not \"gptq\"", NULL);
	bad("rules not an array", "{\"rules\": {\"match\": \"x\"}}",
	    "\"rules\" must be an array, not an object", NULL);
	bad("rule not an object", "{\"rules\": [{\"match\": \"x\", \"scheme\":"
	    " \"int8\"}, \"lm_head\"]}", "rule 2 must be an object",
	    "not \"lm_head\"");
	bad("rule without match", "{\"rules\": [{\"scheme\": \"int8\"}]}",
	    "rule 1 has no \"match\" pattern", NULL);
	bad("match not a string", "{\"rules\": [{\"match\": [\"x\"], "
	    "\"scheme\": \"int8\"}]}", "\"match\" must be a string",
	    "not an array");
	bad("rule that changes nothing", "{\"rules\": [{\"match\": \"x\"}]}",
	    "rule 1 (\"x\") changes nothing", NULL);
	bad("bad regex", "{\"rules\": [{\"match\": \"layers\\\\.(1\", "
	    "\"scheme\": \"int8\"}]}", "rule 1 (\"layers\\\\.(1\"): bad regex "
	    "at offset 10: missing closing parenthesis", NULL);
	bad("bad regex quantifier", "{\"rules\": [{\"match\": \"*x\", "
	    "\"scheme\": \"int8\"}]}", "bad regex at offset 0",
	    "quantifier does not follow");
	bad("regex with invalid UTF-8", "{\"rules\": [{\"match\": \"a\xff\", "
	    "\"scheme\": \"int8\"}]}",
	    "rule 1 (\"a\\xff\"): bad regex at offset 1", "UTF-8");
	bad("unknown preset", "{\"preset\": \"q4_k_xl\"}",
	    "unknown preset \"q4_k_xl\"", "q4_k_m");
	bad("preset and default", "{\"preset\": \"q4_k_m\", \"default\": "
	    "{\"scheme\": \"q5_k\"}}", "cannot be combined", NULL);
	bad("fallback not a boolean", "{\"fallback\": \"yes\"}",
	    "\"fallback\" must be true or false", NULL);

	n = 2000;
	big = malloc(n + 200);
	strcpy(big, "{\"rules\": [{\"match\": \"");
	for (i = strlen(big); i < n; i++)
		big[i] = 'a';
	strcpy(big + n, "\", \"scheme\": \"int8\"}]}");
	bad("an overlong pattern", big, "longer than 1024 bytes", NULL);
	free(big);
	n = 5000;
	big = malloc(n * 40 + 64);
	strcpy(big, "{\"rules\": [");
	for (i = 0; i < n; i++)
		strcat(big, i > 0 ? ",{\"match\":\"x\",\"damp\":0}" :
		    "{\"match\":\"x\",\"damp\":0}");
	strcat(big, "]}");
	bad("too many rules", big, "5000 rules, more than 4096", NULL);
	free(big);
}

static void
test_rules(void)
{
	tq_error err = { TQ_OK, "" };
	tq_layer_cfg c;
	tq_plan *p;

	p = parse("{\"default\": {\"method\": \"rtn\", \"scheme\": \"int4-g64\"},"
	    "\"rules\": ["
	    "{\"match\": \"down_proj\", \"scheme\": \"int8\"},"
	    "{\"match\": \"layers\\\\.1\\\\.mlp\\\\.down\", \"scheme\": "
	    "\"int2-sym\"},"
	    "{\"match\": \"layers\\\\.1\\\\.\", \"method\": \"gptq\"},"
	    "{\"match\": \"^model\\\\.layers\\\\.3\\\\.\", \"method\": "
	    "\"float\"},"
	    "{\"match\": \"layers\\\\.3\\\\.mlp\\\\.up_proj\", \"scheme\": "
	    "\"int3-g32\"},"
	    "{\"match\": \"layers\\\\.2\\\\.self_attn\\\\.o\", \"method\": "
	    "\"smoothquant\"},"
	    "{\"match\": \"layers\\\\.2\\\\.self_attn\\\\.o\", \"act_bits\": "
	    "16, \"damp\": 0.05, \"hess_shrink\": 0.25}"
	    "]}");
	if (p == NULL) {
		tap_ok(0, "rules plan parses");
		return;
	}
	tap_ok(is(p, "model.layers.0.mlp.down_proj", "rtn int8"),
	    "one matching rule");
	tap_ok(is(p, "model.layers.1.mlp.down_proj", "gptq int2-sym"),
	    "later rules win, each changing only its keys");
	tap_ok(is(p, "model.layers.3.mlp.down_proj", "float") &&
	    is(p, "model.layers.3.self_attn.q_proj", "float"),
	    "\"method\": \"float\" keeps layers float");
	tap_ok(is(p, "model.layers.3.mlp.up_proj", "rtn int3-g32"),
	    "a scheme after \"float\" quantizes with rtn again");
	tap_ok(tq_plan_resolve(p, demo, "model.layers.2.self_attn.o_proj", &c,
	    &err) == TQ_OK && c.method == TQ_METHOD_SMOOTHQUANT &&
	    c.act_bits == 16 && c.damp == 0.05 && c.alpha == 0.5 &&
	    c.hess_shrink == 0.25,
	    "explicit keys win over the final method's defaults");
	tap_ok(tq_plan_resolve(p, demo, "model.layers.2.self_attn.q_proj", &c,
	    &err) == TQ_OK && c.act_bits == 16, "others keep theirs");
	tap_ok(is(p, "lm_head", "float") && is(p, "model.embed_tokens",
	    "float"), "lm_head and the embeddings stay float");
	tap_ok(tq_plan_check(p, demo, &err) == TQ_OK, "check %s", err.msg);
	tap_ok(round_trip(p, "rules"), "round trip of the rules plan");
	tap_ok(tq_plan_resolve(p, demo, "model.layers.9.mlp.down_proj", &c,
	    &err) == TQ_EINVAL && strstr(err.msg, "t.json: no layer "
	    "\"model.layers.9.mlp.down_proj\" in") != NULL,
	    "a layer not in the model: %s", err.msg);
	tap_ok(tq_plan_resolve(p, demo, "model.layers.0.mlp.down_proj.weight",
	    &c, &err) == TQ_EINVAL, "tensor names are not layer names");
	tq_plan_free(p);

	p = parse("{\"default\": {\"method\": \"rtn\", \"scheme\": \"int8\"},"
	    " \"rules\": [{\"match\": \"embed|lm_head\", \"scheme\": "
	    "\"q8_0\"}, {\"match\": \"^nothing$\", \"damp\": 0.1}]}");
	tap_ok(p != NULL && is(p, "lm_head", "rtn q8_0") &&
	    is(p, "model.embed_tokens", "rtn q8_0"),
	    "rules may name lm_head and the embeddings");
	tap_ok(p != NULL && tq_plan_check(p, demo, &err) == TQ_EINVAL &&
	    strstr(err.msg, "t.json: rule 2 (\"^nothing$\") matches no "
	    "layer") != NULL, "a rule matching no layer: %s", err.msg);
	tq_plan_free(p);

	p = parse("{\"rules\": [{\"match\": \"lm_head\", \"method\": "
	    "\"gptq\"}]}");
	tap_ok(p != NULL && tq_plan_resolve(p, demo, "lm_head", &c, &err) ==
	    TQ_EINVAL && strstr(err.msg, "layer lm_head: method gptq (from "
	    "rule 1 (\"lm_head\")) has no scheme") != NULL,
	    "a method without a scheme: %s", err.msg);
	tap_ok(p != NULL && tq_plan_check(p, demo, &err) == TQ_EINVAL,
	    "... and check says so");
	tq_plan_free(p);

	p = parse("{\"default\": {\"method\": \"gptq\", \"scheme\": "
	    "\"int4-g128\"}}");
	tap_ok(p != NULL && tq_plan_check(p, demo, &err) == TQ_OK &&
	    tq_plan_check(p, odd, &err) == TQ_EINVAL &&
	    strstr(err.msg, "t.json: layer model.layers.0.self_attn.q_proj "
	    "[64, 64] (scheme from the default): ") != NULL,
	    "a scheme that does not fit a shape: %s", err.msg);
	tq_plan_free(p);
	p = parse("{\"fallback\": true, \"default\": {\"method\": \"gptq\", "
	    "\"scheme\": \"int4-g128\"}}");
	cur = odd;
	tap_ok(p != NULL && tq_plan_check(p, odd, &err) == TQ_OK &&
	    is(p, "model.layers.0.mlp.down_proj", "gptq int4") &&
	    is(p, "model.layers.0.mlp.up_proj", "gptq int4-g64"),
	    "with fallback, a group that does not fit shrinks, then becomes "
	    "per channel");
	cur = demo;
	tap_ok(round_trip(p, "fallback"), "fallback round trip");
	tq_plan_free(p);

	p = parse("{\"rules\": [{\"match\": \"q_proj\", \"scheme\": \"int8\","
	    " \"damp\": 0.02}, {\"match\": \"\\\"quoted\\\" \\\\d+ "
	    "\\u00e9\\t|k_proj\", \"method\": \"awq\", \"scheme\": \"nf4\"}]}");
	tap_ok(p != NULL && is(p, "model.layers.0.self_attn.k_proj",
	    "awq nf4") && round_trip(p, "escapes"),
	    "patterns with quotes, backslashes and UTF-8 round trip");
	tq_plan_free(p);
}

static void
test_new(void)
{
	tq_error err = { TQ_OK, "" };
	tq_layer_cfg c, r;
	tq_plan *p = NULL;
	char *json;

	tq_scheme_parse("int4-g128", &c.scheme, NULL);
	tq_layer_cfg_init(&c, TQ_METHOD_GPTQ, &c.scheme);
	c.act_order = 1;
	c.damp = 0.1;
	c.hess_shrink = 0.5;
	c.awq_scales = 1;
	tap_ok(tq_plan_new(&c, &p, &err) == TQ_OK, "tq_plan_new");
	if (p == NULL)
		return;
	json = tq_plan_to_json(p);
	tap_ok(json != NULL && strstr(json, "\"act_order\": true") != NULL &&
	    strstr(json, "\"damp\": 0.1") != NULL &&
	    strstr(json, "\"hess_shrink\": 0.5") != NULL &&
	    strstr(json, "\"awq_scales\": true") != NULL &&
	    strstr(json, "block_size") == NULL, "its JSON gives what differs "
	    "from the defaults");
	tq_string_free(json);
	tap_ok(tq_plan_resolve(p, demo, "model.layers.0.mlp.up_proj", &r,
	    &err) == TQ_OK && cfg_equal(&r, &c), "it resolves to the setting");
	tap_ok(is(p, "lm_head", "float"), "not for lm_head");
	tap_ok(round_trip(p, "new"), "tq_plan_new round trip");
	tap_ok(tq_layer_awq_scaled(&r), "gptq with awq_scales takes AWQ's "
	    "scales");
	tq_plan_free(p);
	/* AWQ's scales and SmoothQuant's on one input: refused */
	p = parse("{\"default\": {\"method\": \"smoothquant\", "
	    "\"scheme\": \"int8-sym\", \"awq_scales\": true}}");
	tap_ok(p != NULL && tq_plan_resolve(p, demo, "model.layers.0.mlp.up_proj",
	    &r, &err) == TQ_EINVAL && strstr(err.msg, "awq_scales") != NULL,
	    "awq_scales with smoothquant: %s", err.msg);
	tq_plan_free(p);
	p = NULL;

	c.scheme.bits = 9;
	tap_ok(tq_plan_new(&c, &p, &err) == TQ_EINVAL && p == NULL,
	    "a bad scheme: %s", err.msg);
	c.scheme.bits = 4;
	c.damp = -1;
	tap_ok(tq_plan_new(&c, &p, &err) == TQ_EINVAL && p == NULL &&
	    strstr(err.msg, "damp") != NULL, "a bad damp: %s", err.msg);
	c.damp = 0.1;
	c.hess_shrink = 1.5;
	tap_ok(tq_plan_new(&c, &p, &err) == TQ_EINVAL && p == NULL &&
	    strstr(err.msg, "hess_shrink") != NULL, "a bad hess_shrink: %s",
	    err.msg);
	tq_layer_cfg_init(&c, TQ_METHOD_FLOAT, NULL);
	tap_ok(tq_plan_new(&c, &p, &err) == TQ_OK && is(p, "model.layers.0."
	    "mlp.up_proj", "float") && round_trip(p, "float"), "a float plan");
	tq_plan_free(p);
}

static void
test_presets(void)
{
	const char *const *names = tq_plan_preset_names();
	char path[1100];
	tq_error err = { TQ_OK, "" };
	tq_layer_cfg c;
	tq_plan *p;
	size_t i, n = 0;

	for (i = 0; names[i] != NULL; i++) {
		int ok, lattice = strncmp(names[i], "iq2_", 4) == 0 ||
		    strncmp(names[i], "iq1_", 4) == 0 ||
		    strcmp(names[i], "iq3_xxs") == 0 ||
		    strcmp(names[i], "iq3_xs") == 0;
		char json[256];

		n++;
		p = NULL;
		ok = tq_plan_preset(names[i], &p, &err) == TQ_OK;
		if (ok && lattice) {	/* llama-quantize's rule */
			ok = tq_plan_check(p, demo, &err) == TQ_EINVAL &&
			    strstr(err.msg, "only with an importance matrix") !=
			    NULL;
			tap_ok(ok, "preset %s: refused without an importance "
			    "matrix: %s", names[i], err.msg);
			tq_plan_free(p);
			snprintf(json, sizeof(json), "{\"preset\": \"%s\", "
			    "\"rules\": [{\"match\": \"^model\\\\.layers\\\\.\", "
			    "\"imatrix\": true}]}", names[i]);
			ok = tq_plan_parse(json, strlen(json), names[i], &p,
			    &err) == TQ_OK;
		}
		ok = ok && tq_plan_check(p, demo, &err) == TQ_OK;
		tap_ok(ok, "preset %s checks on the demo model %s%s", names[i],
		    lattice ? "with the importance matrix " : "",
		    ok ? "" : err.msg);
		tap_ok(p != NULL && round_trip(p, names[i]),
		    "preset %s round trip", names[i]);
		tq_plan_free(p);
	}
	tap_ok(n == 32, "32 presets");
	{
		/* the codebook types' importance matrix, layer by layer */
		static const struct { const char *json, *want; } cb[] = {
			{ "{\"default\": {\"method\": \"gptq\", \"scheme\": "
			  "\"iq2_s\", \"imatrix\": true}}", NULL },
			{ "{\"default\": {\"method\": \"awq\", \"scheme\": "
			  "\"iq2_xxs\"}}", NULL },
			{ "{\"default\": {\"method\": \"gptq\", \"scheme\": "
			  "\"iq2_s\"}}", "llama-quantize quantizes iq2_s only" },
			{ "{\"default\": {\"scheme\": \"iq3_xxs\"}}",
			  "llama-quantize quantizes iq3_xxs only" },
			{ "{\"default\": {\"method\": \"gptq\", \"scheme\": "
			  "\"iq3_xxs\"}}",
			  "llama-quantize quantizes iq3_xxs only" },
			{ "{\"default\": {\"scheme\": \"iq3_xxs\", "
			  "\"imatrix\": true}}", NULL },
			{ "{\"default\": {\"scheme\": \"iq3_s\"}}", NULL },
			{ "{\"rules\": [{\"match\": \"^lm_head$\", \"scheme\": "
			  "\"iq3_xxs\"}]}", NULL },
			{ "{\"rules\": [{\"match\": \"^lm_head$\", \"scheme\": "
			  "\"iq2_s\"}]}", NULL },
			{ "{\"rules\": [{\"match\": \"^lm_head$\", \"scheme\": "
			  "\"iq2_xs\"}]}", "ggml quantizes iq2_xs only" },
			{ "{\"rules\": [{\"match\": \"^lm_head$\", \"scheme\": "
			  "\"iq2_xs\", \"imatrix\": true}]}", NULL },
			{ "{\"rules\": [{\"match\": \"embed\", \"scheme\": "
			  "\"iq2_s\"}]}", NULL },
			{ "{\"rules\": [{\"match\": \"embed\", \"scheme\": "
			  "\"iq2_xxs\", \"imatrix\": true}]}",
			  "which an embedding has none of" },
		};
		int ok = 1;

		for (i = 0; i < sizeof(cb) / sizeof(cb[0]); i++) {
			tq_status st;

			p = parse(cb[i].json);
			st = p != NULL ? tq_plan_check(p, demo, &err) :
			    TQ_EINVAL;
			if (cb[i].want == NULL ? st != TQ_OK : st != TQ_EINVAL ||
			    strstr(err.msg, cb[i].want) == NULL) {
				tap_diag("%s: %s", cb[i].json, err.msg);
				ok = 0;
			}
			tq_plan_free(p);
		}
		tap_ok(ok, "iq3_xxs, iq2 types: rtn, gptq need the importance "
		    "matrix, awq not; lm_head and embeddings by ggml's rule");
	}
	tap_ok(tq_plan_preset("q4_k_xl", &p, &err) == TQ_EINVAL && p == NULL &&
	    strstr(err.msg, "q4_k_m") != NULL, "unknown preset: %s", err.msg);

	tq_plan_preset("Q4_K_M", &p, &err);
	tap_ok(p != NULL, "preset names are case-insensitive");
	/* n = 4: use_more_bits is true for blocks 2 and 3. */
	tap_ok(is(p, "model.layers.0.self_attn.v_proj", "rtn q4_k") &&
	    is(p, "model.layers.1.self_attn.v_proj", "rtn q4_k") &&
	    is(p, "model.layers.2.self_attn.v_proj", "rtn q6_k") &&
	    is(p, "model.layers.3.self_attn.v_proj", "rtn q6_k"),
	    "q4_k_m: attn_v q6_k where use_more_bits");
	tap_ok(is(p, "model.layers.0.self_attn.q_proj", "rtn q4_k") &&
	    is(p, "model.layers.3.mlp.up_proj", "rtn q4_k") &&
	    is(p, "model.layers.2.self_attn.o_proj", "rtn q4_k"),
	    "q4_k_m: q4_k elsewhere");
	tap_ok(is(p, "lm_head", "rtn q6_k") && is(p, "model.embed_tokens",
	    "rtn q4_k"), "q4_k_m: output q6_k, token embedding q4_k");
	tap_ok(is(p, "model.layers.0.mlp.down_proj", "rtn q4_k") &&
	    is(p, "model.layers.3.mlp.down_proj", "rtn q6_k"),
	    "q4_k_m: ffn_down q6_k where use_more_bits");
	cur = odd;
	tap_ok(is(p, "model.layers.0.mlp.down_proj", "float"),
	    "q4_k_m: 172 columns fit neither q4_k/q6_k nor their fallbacks");
	cur = demo;
	tq_plan_free(p);

	tq_plan_preset("q3_k_m", &p, &err);
	tap_ok(is(p, "model.layers.0.self_attn.v_proj", "rtn q5_k") &&
	    is(p, "model.layers.2.self_attn.v_proj", "rtn q4_k") &&
	    is(p, "model.layers.1.self_attn.o_proj", "rtn q4_k") &&
	    is(p, "model.layers.1.self_attn.k_proj", "rtn q3_k") &&
	    is(p, "lm_head", "rtn q6_k") &&
	    is(p, "model.embed_tokens", "rtn q3_k"), "q3_k_m on the demo");
	tq_plan_free(p);
	/* Q2_K: attn_v Q4_K at 4 or more heads per KV head (else Q3_K), attn_output
	   and ffn_down Q3_K, the rest Q2_K, the output Q6_K */
	tq_plan_preset("q2_k", &p, &err);
	tap_ok(is(p, "model.layers.0.self_attn.v_proj", "rtn q4_k") &&
	    is(p, "model.layers.3.self_attn.o_proj", "rtn q3_k") &&
	    is(p, "model.layers.1.mlp.down_proj", "rtn q3_k") &&
	    is(p, "model.layers.1.self_attn.q_proj", "rtn q2_k") &&
	    is(p, "model.layers.2.mlp.up_proj", "rtn q2_k") &&
	    is(p, "lm_head", "rtn q6_k") &&
	    is(p, "model.embed_tokens", "rtn q2_k"), "q2_k on the demo");
	tq_plan_free(p);
	tq_plan_preset("q8_0", &p, &err);
	tap_ok(is(p, "lm_head", "rtn q8_0") && is(p, "model.layers.1.self_attn"
	    ".v_proj", "rtn q8_0"), "q8_0: output q8_0 too");
	tq_plan_free(p);
	tq_plan_preset("w4-gptq", &p, &err);
	tap_ok(is(p, "model.layers.1.self_attn.v_proj", "gptq int4-g128") &&
	    is(p, "model.layers.1.mlp.down_proj", "gptq int4-g128") &&
	    is(p, "lm_head", "float") && is(p, "model.embed_tokens", "float"),
	    "w4-gptq");
	cur = odd;
	tap_ok(is(p, "model.layers.1.mlp.down_proj", "gptq int4"),
	    "w4-gptq: per channel where no group fits");
	cur = demo;
	tq_plan_free(p);
	tq_plan_preset("w4a16-awq", &p, &err);
	tap_ok(tq_plan_resolve(p, demo, "model.layers.0.mlp.up_proj", &c,
	    &err) == TQ_OK && c.method == TQ_METHOD_AWQ && c.clip_search &&
	    c.scheme.bits == 4 && c.scheme.group == 128 && !c.scheme.sym,
	    "w4a16-awq: awq int4-g128 asym with the clip search");
	tq_plan_free(p);
	tq_plan_preset("w8a8-smoothquant", &p, &err);
	tap_ok(tq_plan_resolve(p, demo, "model.layers.0.mlp.down_proj", &c,
	    &err) == TQ_OK && c.method == TQ_METHOD_SMOOTHQUANT &&
	    c.act_bits == 8 && c.alpha == 0.5 && c.scheme.bits == 8 &&
	    c.scheme.sym && c.scheme.group == TQ_GROUP_CHANNEL,
	    "w8a8-smoothquant");
	tq_plan_free(p);
	tq_plan_preset("nf4", &p, &err);
	tap_ok(is(p, "model.layers.0.mlp.gate_proj", "rtn nf4") &&
	    is(p, "model.layers.0.mlp.down_proj", "rtn nf4"), "nf4");
	cur = odd;
	tap_ok(is(p, "model.layers.0.mlp.down_proj", "float"),
	    "nf4: float where no block fits");
	cur = demo;
	tq_plan_free(p);
	tq_plan_preset("mxfp4", &p, &err);
	tap_ok(is(p, "model.layers.0.self_attn.q_proj", "rtn mxfp4") &&
	    is(p, "model.layers.0.mlp.down_proj", "rtn mxfp4"), "mxfp4");
	tq_plan_free(p);
	tq_plan_preset("nvfp4", &p, &err);
	tap_ok(is(p, "model.layers.0.self_attn.q_proj", "rtn nvfp4") &&
	    is(p, "model.layers.0.mlp.down_proj", "rtn nvfp4"), "nvfp4");
	tq_plan_free(p);
	tq_plan_preset("fp8", &p, &err);
	tap_ok(is(p, "model.layers.0.mlp.down_proj", "rtn fp8-channel"),
	    "fp8 per channel");
	tq_plan_free(p);

	snprintf(path, sizeof(path), "%s/tests/data/plans/q4_k_m_custom.json",
	    top);
	p = NULL;
	err.msg[0] = '\0';
	tap_ok(tq_plan_load(path, &p, &err) == TQ_OK && is(p, "lm_head",
	    "rtn q8_0") && is(p, "model.layers.2.self_attn.v_proj",
	    "rtn q6_k") && tq_plan_check(p, demo, &err) == TQ_OK,
	    "a preset with rules after it %s", err.msg);
	tap_ok(tq_plan_resolve(p, demo, "model.layers.0.self_attn.k_proj", &c,
	    &err) == TQ_OK && c.use_imatrix, "rules change preset settings");
	tap_ok(round_trip(p, "custom"), "preset with rules round trip");
	snprintf(path, sizeof(path), "%s/plan.json", tmpdir);
	err.msg[0] = '\0';
	tap_ok(tq_plan_save(p, path, &err) == TQ_OK, "save %s", err.msg);
	tq_plan_free(p);
	{
		tq_plan *q = NULL, *o = NULL;
		char other[1100];

		snprintf(other, sizeof(other), "%s/tests/data/plans/"
		    "q4_k_m_custom.json", top);
		tq_plan_load(other, &o, &err);
		tap_ok(tq_plan_load(path, &q, &err) == TQ_OK && o != NULL &&
		    same_resolution(o, q), "load what was saved");
		tq_plan_free(q);
		tq_plan_free(o);
		snprintf(other, sizeof(other), "%s/no/such/dir/plan.json",
		    tmpdir);
		tq_plan_preset("q6_k", &q, &err);
		tap_ok(tq_plan_save(q, other, &err) != TQ_OK &&
		    strstr(err.msg, "no/such/dir") != NULL,
		    "saving where one cannot: %s", err.msg);
		tq_plan_free(q);
	}
	unlink(path);
}

static void
test_example_files(void)
{
	static const char *const files[] = {
		"mixed.json", "q4_k_m_custom.json",
		"awq_first_block_float.json", "w8a8_smoothquant.json"
	};
	char path[1024];
	tq_error err = { TQ_OK, "" };
	tq_layer_cfg c;
	tq_plan *p;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = NULL;
		snprintf(path, sizeof(path), "%s/tests/data/plans/%s", top,
		    files[i]);
		tap_ok(tq_plan_load(path, &p, &err) == TQ_OK &&
		    tq_plan_check(p, demo, &err) == TQ_OK &&
		    round_trip(p, files[i]), "example %s %s", files[i],
		    err.msg);
		if (i == 2)
			tap_ok(is(p, "model.layers.0.self_attn.q_proj",
			    "float") && is(p, "model.layers.1.self_attn.q_proj",
			    "awq int4-g64") && is(p,
			    "model.layers.0.mlp.down_proj", "rtn int8-sym") &&
			    is(p, "model.layers.0.mlp.up_proj", "float") &&
			    is(p, "lm_head", "float"),
			    "awq_first_block_float.json resolves");
		if (i == 3)
			tap_ok(tq_plan_resolve(p, demo, "model.layers.1.mlp."
			    "up_proj", &c, &err) == TQ_OK && c.alpha == 0.8 &&
			    tq_plan_resolve(p, demo, "model.layers.1.mlp."
			    "down_proj", &c, &err) == TQ_OK && c.alpha == 0.5 &&
			    c.act_bits == 8, "w8a8_smoothquant.json resolves");
		tq_plan_free(p);
	}
	snprintf(path, sizeof(path), "%s/tests/data/plans/bad_typo.json",
	    top);
	p = NULL;
	tap_ok(tq_plan_load(path, &p, &err) == TQ_EFORMAT && p == NULL &&
	    strstr(err.msg, "bad_typo.json: rule 1 (\"^lm_head$\"): unknown "
	    "key \"schme\" (did you mean \"scheme\"?)") != NULL,
	    "bad_typo.json: %s", err.msg);
}

/* Whether scheme name, on a 576-column weight, falls back to iq4_nl. */
static int
iq4_nl_at_576(const char *name)
{
	tq_scheme s;

	tq_scheme_parse(name, &s, NULL);
	return tq_plan__fallback_scheme(&s, 64, 576) && s.type == TQ_QT_IQ4_NL;
}

/* The GGUF mixes against gguf.md section 6 (Llama-3-8B, 32 blocks). */
static void
test_mixes(void)
{
	tq_model_config c;
	const char *t;
	int64_t i;
	int ok = 1, count = 0;
	char got[256] = "";

	for (i = 0; i < 32; i++) {
		if (tq_plan__use_more_bits(i, 32)) {
			count++;
			snprintf(got + strlen(got), sizeof(got) - strlen(got),
			    "%lld ", (long long)i);
		}
	}
	tap_ok(count == 16 && strcmp(got, "0 1 2 3 6 9 12 15 18 21 24 27 28 29 "
	    "30 31 ") == 0, "use_more_bits(i, 32): %s", got);

	memset(&c, 0, sizeof(c));
	c.arch = TQ_ARCH_LLAMA;
	c.n_layers = 32;
	c.n_heads = 32;
	c.n_kv_heads = 8;
	for (i = 0; i < 32; i++) {
		int more = tq_plan__use_more_bits(i, 32);

		tq_plan__mix_type("q4_k_m", i, TQ_LINEAR_V, &c, 4096, &t);
		ok &= strcmp(t, more ? "q6_k" : "q4_k") == 0;
		tq_plan__mix_type("q4_k_m", i, TQ_LINEAR_DOWN, &c, 14336, &t);
		ok &= strcmp(t, more ? "q6_k" : "q4_k") == 0;
		tq_plan__mix_type("q5_k_m", i, TQ_LINEAR_DOWN, &c, 14336, &t);
		ok &= strcmp(t, more ? "q6_k" : "q5_k") == 0;
		tq_plan__mix_type("q4_k_m", i, TQ_LINEAR_O, &c, 4096, &t);
		ok &= strcmp(t, "q4_k") == 0;
		tq_plan__mix_type("q3_k_m", i, TQ_LINEAR_V, &c, 4096, &t);
		ok &= strcmp(t, i < 2 ? "q5_k" : "q4_k") == 0;
		tq_plan__mix_type("q3_k_m", i, TQ_LINEAR_DOWN, &c, 14336, &t);
		ok &= strcmp(t, i < 2 ? "q5_k" : "q4_k") == 0;
		tq_plan__mix_type("q3_k_m", i, TQ_LINEAR_O, &c, 4096, &t);
		ok &= strcmp(t, "q4_k") == 0;
		tq_plan__mix_type("q3_k_m", i, TQ_LINEAR_GATE, &c, 4096, &t);
		ok &= strcmp(t, "q3_k") == 0;
		tq_plan__mix_type("q4_k_s", i, TQ_LINEAR_V, &c, 4096, &t);
		ok &= strcmp(t, i < 4 ? "q5_k" : "q4_k") == 0;
		tq_plan__mix_type("q4_k_s", i, TQ_LINEAR_DOWN, &c, 14336, &t);
		ok &= strcmp(t, i < 4 ? "q5_k" : "q4_k") == 0;
		tq_plan__mix_type("q6_k", i, TQ_LINEAR_V, &c, 4096, &t);
		ok &= strcmp(t, "q6_k") == 0;
		tq_plan__mix_type("q8_0", i, TQ_LINEAR_DOWN, &c, 14336, &t);
		ok &= strcmp(t, "q8_0") == 0;
	}
	tap_ok(ok, "Llama-3-8B: attn_v, ffn_down, attn_output, ffn_gate as in "
	    "gguf.md 6.3/6.4");
	ok = 1;
	tq_plan__mix_type("q4_k_m", -1, TQ_LINEAR_LM_HEAD, &c, 4096, &t);
	ok &= strcmp(t, "q6_k") == 0;
	tq_plan__mix_type("q3_k_m", -1, TQ_PLAN_EMBED, &c, 4096, &t);
	ok &= strcmp(t, "q3_k") == 0;
	tq_plan__mix_type("q8_0", -1, TQ_LINEAR_LM_HEAD, &c, 4096, &t);
	ok &= strcmp(t, "q8_0") == 0;
	tq_plan__mix_type("q4_k_m", -1, TQ_LINEAR_LM_HEAD, &c, 4000, &t);
	ok &= strcmp(t, "q8_0") == 0;
	c.tie_word_embeddings = 1;
	tq_plan__mix_type("q4_k_m", -1, TQ_PLAN_EMBED, &c, 4096, &t);
	ok &= strcmp(t, "q6_k") == 0;
	tap_ok(ok, "output q6_k (q8_0 for q8_0 or an odd width), token "
	    "embedding at the default type unless tied");
	c.n_layers = 80;
	c.n_heads = 64;
	tq_plan__mix_type("q4_k_m", 11, TQ_LINEAR_V, &c, 8192, &t);
	ok = strcmp(t, "q5_k") == 0;	/* use_more_bits(11, 80): no */
	tq_plan__mix_type("q4_k_m", 12, TQ_LINEAR_V, &c, 8192, &t);
	ok &= strcmp(t, "q6_k") == 0;	/* use_more_bits(12, 80): yes */
	tq_plan__mix_type("q3_k_m", 40, TQ_LINEAR_V, &c, 8192, &t);
	ok &= strcmp(t, "q5_k") == 0;
	tq_plan__mix_type("q4_k_m", 11, TQ_LINEAR_DOWN, &c, 28672, &t);
	ok &= strcmp(t, "q4_k") == 0;
	tap_ok(ok, "70B (80 blocks, GQA): attn_v q3_k/q4_k become q5_k");
	tap_ok(tq_plan__mix_type("w4-gptq", 0, TQ_LINEAR_V, &c, 4096, &t) ==
	    0, "not a mix");
	c.n_kv_heads = 64;
	tq_plan__mix_type("q3_k_m", 40, TQ_LINEAR_V, &c, 8192, &t);
	tap_ok(strcmp(t, "q4_k") == 0, "no 70B bump without GQA");

	/* IQ4_XS/IQ4_NL (llama-quant.cpp): attn_v q5_k at n_gqa >= 4,
	 * ffn_down q5_k in the first n/8 blocks unless with imatrix,
	 * output q6_k where the default's block divides the width */
	c.n_layers = 32;
	c.n_heads = 32;
	c.n_kv_heads = 8;
	c.tie_word_embeddings = 0;
	tq_plan__mix_type("iq4_xs", 5, TQ_LINEAR_V, &c, 4096, &t);
	ok = strcmp(t, "q5_k") == 0;
	tq_plan__mix_type("iq4_nl", 3, TQ_LINEAR_DOWN, &c, 14336, &t);
	ok &= strcmp(t, "q5_k") == 0;
	tq_plan__mix_type("iq4_xs", 4, TQ_LINEAR_DOWN, &c, 14336, &t);
	ok &= strcmp(t, "iq4_xs") == 0;
	ok &= strcmp(tq_plan__mix_scheme(PLAN_MIX_IQ4_XS, 3, TQ_LINEAR_DOWN,
	    &c, 14336, 1), "iq4_xs") == 0;
	tq_plan__mix_type("iq4_nl", 0, TQ_LINEAR_O, &c, 4096, &t);
	ok &= strcmp(t, "iq4_nl") == 0;
	tq_plan__mix_type("iq4_nl", -1, TQ_LINEAR_LM_HEAD, &c, 576, &t);
	ok &= strcmp(t, "q6_k") == 0;	/* then q8_0 by the fallback */
	tq_plan__mix_type("iq4_xs", -1, TQ_LINEAR_LM_HEAD, &c, 576, &t);
	ok &= strcmp(t, "q8_0") == 0;
	tq_plan__mix_type("iq4_xs", -1, TQ_PLAN_EMBED, &c, 4096, &t);
	ok &= strcmp(t, "iq4_xs") == 0;
	c.n_kv_heads = 16;
	tq_plan__mix_type("iq4_xs", 5, TQ_LINEAR_V, &c, 4096, &t);
	ok &= strcmp(t, "iq4_xs") == 0;
	tap_ok(ok, "iq4_xs, iq4_nl: attn_v, ffn_down (imatrix or not), output");
	{
		tq_scheme s;

		ok = iq4_nl_at_576("iq4_xs");
		tq_scheme_parse("iq4_xs", &s, NULL);
		ok &= !tq_plan__fallback_scheme(&s, 64, 100);
		tap_ok(ok, "iq4_xs falls back to iq4_nl at 576, to float at 100");
	}

	/* IQ3_XXS/XS/S/M (llama-quant.cpp), 32 blocks, n_gqa 4 then 1 */
	c.n_kv_heads = 8;
	ok = 1;
#define MIX(m, i, w, cols, im, want) \
	ok &= strcmp(tq_plan__mix_scheme(m, i, w, &c, cols, im), want) == 0
	MIX(PLAN_MIX_IQ3_XXS, -1, TQ_LINEAR_LM_HEAD, 4096, 0, "q5_k");
	MIX(PLAN_MIX_IQ3_XXS, -1, TQ_LINEAR_LM_HEAD, 576, 0, "q8_0");
	MIX(PLAN_MIX_IQ3_S, -1, TQ_LINEAR_LM_HEAD, 4096, 0, "q6_k");
	MIX(PLAN_MIX_IQ3_XXS, -1, TQ_PLAN_EMBED, 4096, 0, "iq3_s");
	MIX(PLAN_MIX_IQ3_M, -1, TQ_PLAN_EMBED, 4096, 0, "iq3_s");
	MIX(PLAN_MIX_IQ3_XXS, 3, TQ_LINEAR_V, 4096, 1, "q4_k");
	MIX(PLAN_MIX_IQ3_XS, 3, TQ_LINEAR_V, 4096, 1, "q4_k");
	MIX(PLAN_MIX_IQ3_S, 3, TQ_LINEAR_V, 4096, 0, "q4_k");
	MIX(PLAN_MIX_IQ3_XXS, 3, TQ_LINEAR_Q, 4096, 1, "iq2_s");
	MIX(PLAN_MIX_IQ3_XXS, 3, TQ_LINEAR_K, 4096, 1, "iq2_s");
	MIX(PLAN_MIX_IQ3_XXS, 3, TQ_LINEAR_K, 576, 1, "iq4_nl");
	MIX(PLAN_MIX_IQ3_XS, 3, TQ_LINEAR_Q, 4096, 1, "iq3_xxs");
	MIX(PLAN_MIX_IQ3_XS, 3, TQ_LINEAR_K, 4096, 1, "iq3_xxs");
	MIX(PLAN_MIX_IQ3_S, 3, TQ_LINEAR_K, 4096, 1, "iq3_s");
	MIX(PLAN_MIX_IQ3_XXS, 3, TQ_LINEAR_DOWN, 14336, 0, "q4_k");
	MIX(PLAN_MIX_IQ3_XXS, 4, TQ_LINEAR_DOWN, 14336, 0, "q3_k");
	MIX(PLAN_MIX_IQ3_XXS, 3, TQ_LINEAR_DOWN, 14336, 1, "iq3_xxs");
	MIX(PLAN_MIX_IQ3_M, 3, TQ_LINEAR_DOWN, 14336, 0, "q4_k");
	MIX(PLAN_MIX_IQ3_M, 4, TQ_LINEAR_DOWN, 14336, 0, "iq3_s");
	MIX(PLAN_MIX_IQ3_XXS, 9, TQ_LINEAR_O, 4096, 1, "iq3_s");
	MIX(PLAN_MIX_IQ3_M, 9, TQ_LINEAR_O, 4096, 0, "q4_k");
	MIX(PLAN_MIX_IQ3_XS, 9, TQ_LINEAR_O, 4096, 1, "iq3_s");
	MIX(PLAN_MIX_IQ3_XS, 3, TQ_LINEAR_GATE, 4096, 1, "iq3_s");
	MIX(PLAN_MIX_IQ3_XS, 4, TQ_LINEAR_GATE, 4096, 1, "iq3_xxs");
	MIX(PLAN_MIX_IQ3_XS, 27, TQ_LINEAR_UP, 4096, 1, "iq3_xxs");
	MIX(PLAN_MIX_IQ3_XS, 28, TQ_LINEAR_UP, 4096, 1, "iq3_s");
	MIX(PLAN_MIX_IQ3_M, 4, TQ_LINEAR_UP, 4096, 0, "iq3_s");
	c.n_kv_heads = 32;
	MIX(PLAN_MIX_IQ3_XXS, 3, TQ_LINEAR_V, 4096, 0, "iq3_s");
	MIX(PLAN_MIX_IQ3_XXS, 3, TQ_LINEAR_V, 4096, 1, "iq3_xxs");
	MIX(PLAN_MIX_IQ3_XS, 3, TQ_LINEAR_V, 4096, 1, "iq3_s");
	MIX(PLAN_MIX_IQ3_M, 3, TQ_LINEAR_V, 4096, 0, "q4_k");
	c.n_experts = 8;
	MIX(PLAN_MIX_IQ3_S, 9, TQ_LINEAR_O, 4096, 0, "q5_k");
	MIX(PLAN_MIX_IQ3_M, 9, TQ_LINEAR_DOWN, 14336, 0, "q4_k");
	MIX(PLAN_MIX_IQ3_M, 10, TQ_LINEAR_DOWN, 14336, 0, "iq3_s");
	MIX(PLAN_MIX_IQ3_XS, 3, TQ_LINEAR_K, 4096, 1, "q8_0");
	c.n_experts = 0;
#undef MIX
	tap_ok(ok, "iq3_xxs, iq3_xs, iq3_s, iq3_m: lm_head, embeddings, attn_q/k/v/"
	    "output, ffn_gate/up/down as llama_tensor_get_type");
	tap_ok(iq4_nl_at_576("iq3_xxs") && iq4_nl_at_576("iq3_s"),
	    "iq3_xxs, iq3_s fall back to iq4_nl at 576");

	/* The IQ2 mixes (llama-quant.cpp's branch of their own): attn_v
	 * q4_k at n_gqa >= 4 or >= 4 experts, else q2_k (iq3_s for IQ2_S
	 * and IQ2_M); ffn_down q2_k / iq3_s in the first n/8 blocks;
	 * attn_output iq3_s for IQ2_S/M, q5_k with 8 experts; output q5_k;
	 * token embedding q2_k / iq3_s; IQ2_S's default is iq2_xs */
	c.n_kv_heads = 8;
	tq_plan__mix_type("iq2_xxs", 5, TQ_LINEAR_V, &c, 4096, &t);
	ok = strcmp(t, "q4_k") == 0;
	c.n_kv_heads = 16;
	tq_plan__mix_type("iq2_xs", 5, TQ_LINEAR_V, &c, 4096, &t);
	ok &= strcmp(t, "q2_k") == 0;
	ok &= strcmp(tq_plan__mix_scheme(PLAN_MIX_IQ2_S, 5, TQ_LINEAR_V, &c,
	    4096, 1), "iq3_s") == 0;
	tq_plan__mix_type("iq2_xxs", 3, TQ_LINEAR_DOWN, &c, 14336, &t);
	ok &= strcmp(t, "q2_k") == 0;
	tq_plan__mix_type("iq2_xxs", 4, TQ_LINEAR_DOWN, &c, 14336, &t);
	ok &= strcmp(t, "iq2_xxs") == 0;
	ok &= strcmp(tq_plan__mix_scheme(PLAN_MIX_IQ2_M, 3, TQ_LINEAR_DOWN,
	    &c, 14336, 1), "iq3_s") == 0;
	ok &= strcmp(tq_plan__mix_scheme(PLAN_MIX_IQ2_M, 4, TQ_LINEAR_DOWN,
	    &c, 14336, 1), "iq2_s") == 0;
	ok &= strcmp(tq_plan__mix_scheme(PLAN_MIX_IQ2_S, 4, TQ_LINEAR_UP,
	    &c, 4096, 1), "iq2_xs") == 0;
	tq_plan__mix_type("iq2_xs", 0, TQ_LINEAR_O, &c, 4096, &t);
	ok &= strcmp(t, "iq2_xs") == 0;
	ok &= strcmp(tq_plan__mix_scheme(PLAN_MIX_IQ2_S, 0, TQ_LINEAR_O, &c,
	    4096, 1), "iq3_s") == 0;
	tq_plan__mix_type("iq2_xs", -1, TQ_LINEAR_LM_HEAD, &c, 4096, &t);
	ok &= strcmp(t, "q5_k") == 0;
	tq_plan__mix_type("iq2_xxs", -1, TQ_LINEAR_LM_HEAD, &c, 576, &t);
	ok &= strcmp(t, "q8_0") == 0;
	tq_plan__mix_type("iq2_xxs", -1, TQ_PLAN_EMBED, &c, 4096, &t);
	ok &= strcmp(t, "q2_k") == 0;
	ok &= strcmp(tq_plan__mix_scheme(PLAN_MIX_IQ2_M, -1, TQ_PLAN_EMBED,
	    &c, 4096, 1), "iq3_s") == 0;
	c.n_experts = 8;
	tq_plan__mix_type("iq2_xs", 5, TQ_LINEAR_V, &c, 4096, &t);
	ok &= strcmp(t, "q4_k") == 0;	/* no q8_0 bump in this branch */
	tq_plan__mix_type("iq2_xs", 5, TQ_LINEAR_K, &c, 4096, &t);
	ok &= strcmp(t, "q4_k") == 0;
	tq_plan__mix_type("iq2_xs", 5, TQ_LINEAR_O, &c, 4096, &t);
	ok &= strcmp(t, "q5_k") == 0;
	c.n_experts = 0;
	/* IQ1_S, IQ1_M: the same branch, attn_output iq2_xxs */
	tq_plan__mix_type("iq1_s", 0, TQ_LINEAR_O, &c, 4096, &t);
	ok &= strcmp(t, "iq2_xxs") == 0;
	tq_plan__mix_type("iq1_m", 0, TQ_LINEAR_V, &c, 4096, &t);
	ok &= strcmp(t, "q2_k") == 0;
	tq_plan__mix_type("iq1_m", 4, TQ_LINEAR_GATE, &c, 4096, &t);
	ok &= strcmp(t, "iq1_m") == 0;
	tq_plan__mix_type("iq1_s", -1, TQ_PLAN_EMBED, &c, 4096, &t);
	ok &= strcmp(t, "q2_k") == 0;
	tq_plan__mix_type("iq1_s", -1, TQ_LINEAR_LM_HEAD, &c, 4096, &t);
	ok &= strcmp(t, "q5_k") == 0;
	tap_ok(ok, "iq2_xxs, iq2_xs, iq1_s, iq1_m (and iq2_s, iq2_m's "
	    "rules): attn_v, ffn_down, attn_output, output, token embedding");
	tap_ok(iq4_nl_at_576("iq2_xxs") && iq4_nl_at_576("iq2_s"),
	    "iq2_xxs, iq2_s fall back to iq4_nl at 576");
}

/* A rule for tq_plan_insert_rule: method and scheme on pattern match. */
static tq_plan_rule
rule(const char *match, tq_method method, const char *scheme)
{
	tq_plan_rule r;
	tq_error err = { TQ_OK, "" };

	memset(&r, 0, sizeof(r));
	r.match = match;
	r.mask = TQ_PLAN_SET_METHOD;
	r.cfg.method = method;
	if (scheme != NULL) {
		r.mask |= TQ_PLAN_SET_SCHEME;
		tq_scheme_parse(scheme, &r.cfg.scheme, &err);
	}
	return r;
}

/* The patterns of p's rules joined by spaces. */
static const char *
patterns(const tq_plan *p)
{
	static char buf[512];
	tq_error err = { TQ_OK, "" };
	tq_plan_rule r;
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < tq_plan_n_rules(p) && n < sizeof(buf); i++)
		if (tq_plan_get_rule(p, i, &r, &err) == TQ_OK)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
			    i > 0 ? " " : "", r.match);
	return buf;
}

/* Editing rules in place: what a JSON plan with those rules does. */
static void
test_edit(void)
{
	const char *down = "model.layers.1.mlp.down_proj";
	const char *q1 = "model.layers.1.self_attn.q_proj";
	tq_error err = { TQ_OK, "" };
	tq_plan *p, *q;
	tq_plan_rule r, got;
	tq_status st;

	p = parse("{\"default\": {\"method\": \"rtn\", \"scheme\": "
	    "\"int4-g128\"}, \"rules\": [{\"match\": \"down_proj\", "
	    "\"scheme\": \"int8\"}]}");
	if (p == NULL) {
		tap_ok(0, "edit: the plan parses");
		return;
	}
	tap_ok(tq_plan_n_rules(p) == 1 && tq_plan_get_rule(p, 0, &got, &err)
	    == TQ_OK && strcmp(got.match, "down_proj") == 0 &&
	    got.mask == TQ_PLAN_SET_SCHEME && got.cfg.scheme.bits == 8,
	    "a JSON rule reads back: match, mask and scheme");
	r = rule("layers\\.1\\.", TQ_METHOD_GPTQ, "int3-g128");
	r.mask |= TQ_PLAN_SET_DAMP | TQ_PLAN_SET_ACT_ORDER |
	    TQ_PLAN_SET_SHRINK;
	r.cfg.damp = 0.05;
	r.cfg.act_order = 7;
	r.cfg.hess_shrink = 0.75;
	st = tq_plan_insert_rule(p, 1, &r, &err);
	tap_ok(st == TQ_OK && tq_plan_n_rules(p) == 2 && is(p, down,
	    "gptq int3-g128") && is(p, q1, "gptq int3-g128") &&
	    is(p, "model.layers.0.mlp.down_proj", "rtn int8"),
	    "an appended rule wins over the earlier ones %s", err.msg);
	tap_ok(tq_plan_get_rule(p, 1, &got, &err) == TQ_OK &&
	    got.cfg.damp == 0.05 && got.cfg.act_order == 1 &&
	    got.cfg.hess_shrink == 0.75 && got.mask == (r.mask), "its keys read back (booleans as 0/1)");
	tap_ok(tq_plan_remove_rule(p, 1, &err) == TQ_OK &&
	    tq_plan_insert_rule(p, 0, &r, &err) == TQ_OK &&
	    strcmp(patterns(p), "layers\\.1\\. down_proj") == 0 &&
	    is(p, down, "gptq int8") && is(p, q1, "gptq int3-g128"),
	    "moved first (remove, insert at 0), the later rule's scheme wins "
	    "on down_proj");
	tap_ok(round_trip(p, "edited.json"), "the edited plan round-trips "
	    "through JSON");
	/* the same rules written as JSON resolve the same */
	q = parse("{\"default\": {\"method\": \"rtn\", \"scheme\": "
	    "\"int4-g128\"}, \"rules\": [{\"match\": \"layers\\\\.1\\\\.\", "
	    "\"method\": \"gptq\", \"scheme\": \"int3-g128\", "
	    "\"act_order\": true, \"damp\": 0.05, \"hess_shrink\": 0.75}, "
	    "{\"match\": \"down_proj\", \"scheme\": \"int8\"}]}");
	tap_ok(q != NULL && same_resolution(p, q), "as the same plan in "
	    "JSON");
	tq_plan_free(q);
	r = rule("^lm_head$", TQ_METHOD_RTN, "q6_k");
	tap_ok(tq_plan_remove_rule(p, 1, &err) == TQ_OK &&
	    tq_plan_insert_rule(p, 1, &r, &err) == TQ_OK &&
	    strcmp(patterns(p), "layers\\.1\\. ^lm_head$") == 0 &&
	    is(p, "lm_head", "rtn q6_k") && is(p, down, "gptq int3-g128"),
	    "replace (remove, then insert)");
	tap_ok(tq_plan_remove_rule(p, 0, &err) == TQ_OK &&
	    tq_plan_n_rules(p) == 1 && is(p, down, "rtn int4-g128"),
	    "remove");

	/* errors leave the plan as it was */
	r = rule("(unclosed", TQ_METHOD_RTN, "int8");
	st = tq_plan_insert_rule(p, 0, &r, &err);
	tap_ok(st == TQ_EFORMAT && strstr(err.msg, "rule 1") != NULL &&
	    strstr(err.msg, "bad regex") != NULL && tq_plan_n_rules(p) == 1,
	    "a bad pattern: %s", err.msg);
	r = rule("x", TQ_METHOD_RTN, NULL);
	r.mask = 0;
	tap_ok(tq_plan_insert_rule(p, 0, &r, &err) == TQ_EINVAL &&
	    strstr(err.msg, "no setting") != NULL, "a rule giving nothing: %s",
	    err.msg);
	r = rule("x", TQ_METHOD_RTN, NULL);
	r.mask |= TQ_PLAN_SET_DAMP;
	r.cfg.damp = 2.0;
	tap_ok(tq_plan_insert_rule(p, 0, &r, &err) == TQ_EINVAL &&
	    strstr(err.msg, "damp") != NULL && strcmp(patterns(p),
	    "^lm_head$") == 0, "a damp out of range: %s", err.msg);
	r = rule("x", (tq_method)99, NULL);
	tap_ok(tq_plan_insert_rule(p, 0, &r, &err) == TQ_EINVAL &&
	    strstr(err.msg, "method") != NULL, "an unknown method: %s",
	    err.msg);
	r = rule("x", TQ_METHOD_RTN, "int4");
	r.cfg.scheme.bits = 11;
	tap_ok(tq_plan_insert_rule(p, 0, &r, &err) == TQ_EINVAL &&
	    strstr(err.msg, "t.json: rule 1: ") != NULL, "a bad scheme: %s",
	    err.msg);
	r = rule(NULL, TQ_METHOD_RTN, NULL);
	tap_ok(tq_plan_insert_rule(p, 0, &r, &err) == TQ_EINVAL &&
	    strstr(err.msg, "match") != NULL, "no pattern: %s", err.msg);
	r = rule("x", TQ_METHOD_RTN, NULL);
	tap_ok(tq_plan_insert_rule(p, 3, &r, &err) == TQ_EINVAL &&
	    tq_plan_get_rule(p, 1, &got, &err) == TQ_EINVAL &&
	    got.match == NULL && tq_plan_remove_rule(p, 1, &err) ==
	    TQ_EINVAL && tq_plan_n_rules(p) == 1, "indexes past the rules: %s", err.msg);
	tq_plan_free(p);
}

int
main(void)
{
	char path[1024];
	tq_error err = { TQ_OK, "" };

	top = getenv("top_srcdir");
	if (top == NULL)
		top = ".";
	snprintf(path, sizeof(path), "%s/assets/demo", top);
	if (mkdtemp(tmpdir) == NULL ||
	    tq_model_open(path, &demo, &err) != TQ_OK) {
		tap_ok(0, "setup: %s", err.msg);
		return tap_done();
	}
	snprintf(path, sizeof(path), "%s/tests/data/models/llama", top);
	if (tq_model_open(path, &odd, &err) != TQ_OK) {
		tap_ok(0, "setup: %s", err.msg);
		return tap_done();
	}
	cur = demo;
	test_methods();
	test_parse_good();
	test_parse_bad();
	test_rules();
	test_new();
	test_presets();
	test_example_files();
	test_mixes();
	test_edit();
	tq_model_close(demo);
	tq_model_close(odd);
	rmdir(tmpdir);
	return tap_done();
}
