/*
 * cmd_plan.c: `turboquant plan`: resolves a quantization plan (a JSON
 * file, a preset, or one method and scheme for every block linear) on a
 * model and prints each layer's method, scheme, bits per weight and size,
 * with the totals; optionally saves the plan as JSON.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The flags a layer's setting turns on, for the table ("act-order clip"). */
static void
options_text(const tq_layer_cfg *c, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
#define ADD(...) do { \
		if (n < len) \
			n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__); \
	} while (0)
	if (c->method == TQ_METHOD_FLOAT)
		return;
	if (c->awq_scales && c->method != TQ_METHOD_AWQ)
		ADD("%sawq-scales", n > 0 ? " " : "");
	if (c->act_order)
		ADD("%sact-order", n > 0 ? " " : "");
	if (c->static_groups)
		ADD("%sstatic-groups", n > 0 ? " " : "");
	if (c->clip_search)
		ADD("%sclip", n > 0 ? " " : "");
	if (c->use_imatrix)
		ADD("%simatrix", n > 0 ? " " : "");
	if (c->method == TQ_METHOD_GPTQ && c->damp != 0.01)
		ADD("%sdamp=%g", n > 0 ? " " : "", c->damp);
	if (c->method == TQ_METHOD_GPTQ && c->hess_shrink != 0.0)
		ADD("%sshrink=%g", n > 0 ? " " : "", c->hess_shrink);
	if (c->method == TQ_METHOD_GPTQ && c->block_size != 128)
		ADD("%sblock=%lld", n > 0 ? " " : "", (long long)c->block_size);
	if (c->method == TQ_METHOD_SMOOTHQUANT)
		ADD("%salpha=%g", n > 0 ? " " : "", c->alpha);
	if (c->act_bits != 16)
		ADD("%sa%d", n > 0 ? " " : "", c->act_bits);
#undef ADD
}

/* Settings given on the command line for --method/--scheme. */
typedef struct plan_opts {
	const char *method, *scheme;
	int act_order, static_groups, clip_search, imatrix, awq_scales;
				/* -1: unset */
	double damp, alpha, hess_shrink;	/* < 0: unset */
	long long block_size, act_bits;	/* 0: unset */
	int any;			/* some setting option was given */
} plan_opts;

static int
build_plan(const plan_opts *o, tq_plan **out)
{
	tq_error err = { TQ_OK, "" };
	tq_method method = TQ_METHOD_RTN;
	tq_scheme scheme;
	tq_layer_cfg c;

	memset(&scheme, 0, sizeof(scheme));
	if (o->method != NULL && tq_method_parse(o->method, &method, &err) !=
	    TQ_OK)
		return cli_error("plan: --method: %s", err.msg);
	if (o->scheme != NULL && tq_scheme_parse(o->scheme, &scheme, &err) !=
	    TQ_OK)
		return cli_error("plan: --scheme: %s", err.msg);
	if (o->scheme == NULL && method != TQ_METHOD_FLOAT)
		return cli_error("plan: --method %s needs --scheme (e.g. "
		    "int4-g128, q4_k)", tq_method_name(method));
	tq_layer_cfg_init(&c, method, o->scheme != NULL ? &scheme : NULL);
	if (o->act_order >= 0)
		c.act_order = o->act_order;
	if (o->static_groups >= 0)
		c.static_groups = o->static_groups;
	if (o->clip_search >= 0)
		c.clip_search = o->clip_search;
	if (o->imatrix >= 0)
		c.use_imatrix = o->imatrix;
	if (o->awq_scales >= 0)
		c.awq_scales = o->awq_scales;
	if (o->damp >= 0)
		c.damp = o->damp;
	if (o->hess_shrink >= 0)
		c.hess_shrink = o->hess_shrink;
	if (o->alpha >= 0)
		c.alpha = o->alpha;
	if (o->block_size > 0)
		c.block_size = o->block_size;
	if (o->act_bits > 0)
		c.act_bits = (int)o->act_bits;
	if (tq_plan_new(&c, out, &err) != TQ_OK)
		return cli_fail(&err);
	return 0;
}

/* How many setting options other than --imatrix were given. */
static int
settings_but_imatrix(const plan_opts *o)
{
	return (o->act_order >= 0) + (o->static_groups >= 0) +
	    (o->clip_search >= 0) + (o->damp >= 0) + (o->alpha >= 0) +
	    (o->hess_shrink >= 0) + (o->awq_scales >= 0) +
	    (o->block_size > 0) + (o->act_bits > 0);
}

/*
 * A tied lm_head is the embedding table: one tensor in the model and in
 * every export, so the totals count it once (as model.embed_tokens).
 */
static int
tied_head(const tq_model *m, const char *name)
{
	return tq_model_get_config(m)->tie_word_embeddings &&
	    strcmp(name, "lm_head") == 0;
}

/* Where the plan came from, for each layer's reason. */
typedef struct plan_why {
	const char *preset;	/* --preset NAME, or NULL */
	int source;		/* 'f' plan file, 'p' preset, 'm' --method, 'o' optimizer */
	int calibrated;		/* calibration text given */
} plan_why;

/* A short reason for layer name's method. */
static const char *
layer_why(const plan_why *w, const char *name)
{
	int block = strncmp(name, "model.layers.", 13) == 0;

	switch (w->source) {
	case 'f':
		return "the plan file";
	case 'm':
		return "--method";
	case 'o':
		return "the optimizer's menu";
	default:
		break;
	}
	return block ? cli_calib_default_why(w->preset, w->calibrated) :
	    "the preset";
}

static void
print_json(const tq_model *m, const tq_plan *p, const char *plan_name,
    const char *save, const cli_mix_result *mr, const plan_why *why)
{
	size_t i, n = tq_model_n_linears(m);
	double weights = 0, bytes = 0;
	tq_error err;

	printf("{\"model\":");
	cli_json_string(stdout, tq_model_path(m));
	printf(",\"plan\":");
	cli_json_string(stdout, plan_name);
	if (save != NULL) {
		printf(",\"saved\":");
		cli_json_string(stdout, save);
	}
	if (mr->optimized)
		printf(",\"optimized\":{\"target_bpw\":%.17g,\"bpw\":%.17g,"
		    "\"predicted_kld\":%.17g}", mr->target_bpw, mr->bpw,
		    mr->pred);
	printf(",\"layers\":[");
	for (i = 0; i < n; i++) {
		const char *name = tq_model_linear_name(m, i);
		int64_t rows, cols;
		tq_layer_cfg c;
		char sch[32], fell[128];
		double bpw, w;

		tq_model_linear_shape(m, i, &rows, &cols);
		tq_plan_resolve(p, m, name, &c, &err);
		w = (double)rows * (double)cols;
		bpw = c.method == TQ_METHOD_FLOAT ? 16.0 :
		    tq_scheme_bpw(&c.scheme, rows, cols);
		if (!tied_head(m, name)) {
			weights += w;
			bytes += w * bpw / 8.0;
		}
		printf("%s{\"name\":", i > 0 ? "," : "");
		cli_json_string(stdout, name);
		if (tied_head(m, name))
			printf(",\"tied_to\":\"model.embed_tokens\"");
		if (tq_plan_fallback(p, m, name, fell, sizeof(fell), &err) ==
		    TQ_OK && fell[0] != '\0') {
			printf(",\"fallback\":");
			cli_json_string(stdout, fell);
		}
		printf(",\"rows\":%lld,\"cols\":%lld,\"method\":\"%s\","
		    "\"scheme\":", (long long)rows, (long long)cols,
		    tq_method_name(c.method));
		if (c.method == TQ_METHOD_FLOAT) {
			printf("null");
		} else {
			tq_scheme_name(&c.scheme, sch, sizeof(sch));
			cli_json_string(stdout, sch);
		}
		printf(",\"bpw\":%.6g,\"bytes\":%.0f", bpw, w * bpw / 8.0);
		printf(",\"why\":");
		cli_json_string(stdout, layer_why(why, name));
		if (c.method != TQ_METHOD_FLOAT)
			printf(",\"act_order\":%s,\"static_groups\":%s,"
			    "\"clip_search\":%s,\"imatrix\":%s,\"damp\":%.17g,"
			    "\"hess_shrink\":%.17g,\"awq_scales\":%s,"
			    "\"block_size\":%lld,\"alpha\":%.17g,"
			    "\"act_bits\":%d",
			    c.act_order ? "true" : "false",
			    c.static_groups ? "true" : "false",
			    c.clip_search ? "true" : "false",
			    c.use_imatrix ? "true" : "false", c.damp,
			    c.hess_shrink, tq_layer_awq_scaled(&c) ? "true" :
			    "false", (long long)c.block_size, c.alpha,
			    c.act_bits);
		printf("}");
	}
	printf("],\"total\":{\"layers\":%zu,\"weights\":%.0f,"
	    "\"fp16_bytes\":%.0f,\"bytes\":%.0f,\"bpw\":%.6g}}\n", n, weights,
	    weights * 2.0, bytes, weights > 0 ? bytes * 8.0 / weights : 0.0);
}

static void
print_table(const tq_model *m, const tq_plan *p, const char *plan_name,
    const char *save, const plan_why *why)
{
	const tq_model_config *mc = tq_model_get_config(m);
	size_t i, n = tq_model_n_linears(m), width = 5;
	double weights = 0, bytes = 0;
	tq_error err;

	for (i = 0; i < n; i++)
		if (strlen(tq_model_linear_name(m, i)) > width)
			width = strlen(tq_model_linear_name(m, i));
	printf("model  %s (%s, %lld blocks)\n", tq_model_path(m),
	    tq_arch_name(mc->arch), (long long)mc->n_layers);
	printf("plan   %s\n\n", plan_name);
	printf("%-*s  %-13s  %-11s  %-13s  %5s  %8s  options; why this method\n",
	    (int)width, "layer", "shape", "method", "scheme", "bpw", "MB");
	for (i = 0; i < n; i++) {
		const char *name = tq_model_linear_name(m, i);
		char shape[48], sch[32], opts[192], fell[128];
		int64_t rows, cols;
		tq_layer_cfg c;
		double bpw, w;

		tq_model_linear_shape(m, i, &rows, &cols);
		tq_plan_resolve(p, m, name, &c, &err);
		w = (double)rows * (double)cols;
		if (c.method == TQ_METHOD_FLOAT) {
			bpw = 16.0;
			snprintf(sch, sizeof(sch), "-");
		} else {
			bpw = tq_scheme_bpw(&c.scheme, rows, cols);
			tq_scheme_name(&c.scheme, sch, sizeof(sch));
		}
		snprintf(shape, sizeof(shape), "%lld x %lld", (long long)rows,
		    (long long)cols);
		options_text(&c, opts, sizeof(opts));
		if (tq_plan_fallback(p, m, name, fell, sizeof(fell), &err) ==
		    TQ_OK && fell[0] != '\0') {
			size_t k = strlen(opts);

			snprintf(opts + k, sizeof(opts) - k, "%s(%s)", k > 0 ?
			    " " : "", fell);
		}
		if (tied_head(m, name))
			snprintf(opts, sizeof(opts), "tied to model.embed_tokens:"
			    " counted there");
		else {
			weights += w;
			bytes += w * bpw / 8.0;
		}
		/* a tied head's method is the embeddings' (their row says) */
		printf("%-*s  %-13s  %-11s  %-13s  %5.2f  %8.3f  %s%s%s\n",
		    (int)width, name, shape, tq_method_name(c.method), sch, bpw,
		    w * bpw / 8.0 / 1e6, opts, opts[0] != '\0' &&
		    !tied_head(m, name) ? "; " : "", tied_head(m, name) ? "" :
		    layer_why(why, name));
	}
	printf("\n%zu linear layers%s, %.2f M weights: fp16 %.2f MB, planned "
	    "%.2f MB, %.3f bits per weight on average\n", n,
	    mc->tie_word_embeddings ? " (lm_head tied to the embeddings)" :
	    "", weights / 1e6,
	    weights * 2.0 / 1e6, bytes / 1e6,
	    weights > 0 ? bytes * 8.0 / weights : 0.0);
	if (save != NULL)
		printf("plan saved to %s\n", save);
}

int
cmd_plan(int argc, char **argv)
{
	const char *model = NULL, *file = NULL, *preset = NULL, *save = NULL;
	plan_opts o = { NULL, NULL, -1, -1, -1, -1, -1, -1.0, -1.0, -1.0, 0, 0,
		0 };
	tq_error err = { TQ_OK, "" };
	char plan_name[1100];
	tq_model *m = NULL;
	tq_plan *p = NULL;
	cli_mix_args mx;
	cli_mix_result mr;
	plan_why why;
	long long probe = 2048;
	int json = 0, i, k, rc = 1, sources, mixed;

	memset(&mx, 0, sizeof(mx));
	memset(&mr, 0, sizeof(mr));
	mx.co = (cli_calib)CLI_CALIB_INIT;
	mx.co.o.n_samples = 128;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (strcmp(a, "--help") == 0) {
			cli_usage(stdout, "plan");
			return 0;
		} else if (strcmp(a, "--list-presets") == 0) {
			const char *const *names = tq_plan_preset_names();

			for (; *names != NULL; names++)
				printf("%s\n", *names);
			return 0;
		} else if (strcmp(a, "--plan") == 0 ||
		    strcmp(a, "--preset") == 0 || strcmp(a, "--method") == 0 ||
		    strcmp(a, "--scheme") == 0 || strcmp(a, "--save") == 0) {
			if (v == NULL)
				return cli_error("plan: %s needs a value", a);
			if (strcmp(a, "--plan") == 0)
				file = v;
			else if (strcmp(a, "--preset") == 0)
				preset = v;
			else if (strcmp(a, "--method") == 0)
				o.method = v;
			else if (strcmp(a, "--scheme") == 0)
				o.scheme = v;
			else
				save = v;
			i++;
		} else if (strcmp(a, "--target-bpw") == 0) {
			if (!cli_parse_number("plan", a, v, 1.0, 32.0,
			    &mx.target_bpw))
				return 1;
			i++;
		} else if (strcmp(a, "--frontier") == 0) {
			mx.frontier = 1;
		} else if (strcmp(a, "--per-expert") == 0) {
			mx.per_expert = 1;
		} else if (strcmp(a, "--menu") == 0 ||
		    strcmp(a, "--menu-exclude") == 0 ||
		    strcmp(a, "--sensitivity") == 0 ||
		    strcmp(a, "--base-plan") == 0 || strcmp(a, "--out") == 0) {
			if (v == NULL)
				return cli_error("plan: %s needs a value", a);
			if (strcmp(a, "--menu") == 0)
				mx.menu = v;
			else if (strcmp(a, "--menu-exclude") == 0)
				mx.exclude = v;
			else if (strcmp(a, "--sensitivity") == 0)
				mx.sens_path = v;
			else if (strcmp(a, "--base-plan") == 0)
				mx.base_plan = v;
			else
				save = v;
			i++;
		} else if (strcmp(a, "--probe-tokens") == 0) {
			if (!cli_parse_int(a, v, 0, 1 << 24, &probe))
				return 1;
			i++;
		} else if ((k = cli_calib_option(a, v, &mx.co)) != 0) {
			if (k < 0)
				return 1;
			i++;
		} else if (strcmp(a, "--act-order") == 0) {
			o.act_order = 1;
			o.any = 1;
		} else if (strcmp(a, "--static-groups") == 0) {
			o.static_groups = 1;
			o.any = 1;
		} else if (strcmp(a, "--clip-search") == 0 ||
		    strcmp(a, "--no-clip-search") == 0) {
			o.clip_search = a[2] != 'n';
			o.any = 1;
		} else if (strcmp(a, "--imatrix") == 0) {
			o.imatrix = 1;
			o.any = 1;
		} else if (strcmp(a, "--awq-scales") == 0) {
			o.awq_scales = 1;
			o.any = 1;
		} else if (strcmp(a, "--damp") == 0) {
			if (!cli_parse_number("plan", a, v, 0.0, 1.0, &o.damp))
				return 1;
			o.any = 1;
			i++;
		} else if (strcmp(a, "--hess-shrink") == 0) {
			if (!cli_parse_number("plan", a, v, 0.0, 1.0,
			    &o.hess_shrink))
				return 1;
			o.any = 1;
			i++;
		} else if (strcmp(a, "--alpha") == 0) {
			if (!cli_parse_number("plan", a, v, 0.0, 1.0, &o.alpha))
				return 1;
			o.any = 1;
			i++;
		} else if (strcmp(a, "--block-size") == 0) {
			if (!cli_parse_int(a, v, 1, 65536, &o.block_size))
				return 1;
			o.any = 1;
			i++;
		} else if (strcmp(a, "--act-bits") == 0) {
			if (!cli_parse_int(a, v, 8, 16, &o.act_bits))
				return 1;
			if (o.act_bits != 8 && o.act_bits != 16)
				return cli_error("plan: --act-bits must be 8 "
				    "or 16");
			o.any = 1;
			i++;
		} else if (a[0] == '-') {
			return cli_error("plan: unknown option %s", a);
		} else if (model == NULL) {
			model = a;
		} else {
			return cli_error("plan: unexpected argument \"%s\"", a);
		}
	}
	sources = (file != NULL) + (preset != NULL) +
	    (o.method != NULL || o.scheme != NULL);
	mixed = mx.target_bpw > 0.0 || mx.frontier;
	if (mx.per_expert && !mixed)
		return cli_error("plan: --per-expert goes with --target-bpw or "
		    "--frontier");
	if (mx.exclude != NULL && !mixed)
		return cli_error("plan: --menu-exclude goes with --target-bpw "
		    "or --frontier");
	mx.probe_tokens = probe;
	mx.json = json;
	if (mixed) {
		if (sources > 0)
			return cli_error("plan: --target-bpw and --frontier make "
			    "their own plan; drop --plan, --preset and --method");
		if (tq_model_open(cli_model_path(model), &m, &err) != TQ_OK)
			goto fail;
		if (cli_plan_mixed(&mx, m, &p, &mr, plan_name,
		    sizeof(plan_name)) != 0) {
			rc = 1;
			goto out;
		}
		if (p == NULL) {	/* the frontier only */
			rc = 0;
			goto out;
		}
		goto check;
	}
	if (sources == 0)
		return cli_error("plan: no plan (use --plan FILE, --preset NAME "
		    "or --method M --scheme S; see turboquant help plan)");
	if (sources > 1)
		return cli_error("plan: --plan, --preset and --method/--scheme "
		    "exclude each other");
	if (o.any && o.method == NULL && o.scheme == NULL &&
	    !(preset != NULL && o.imatrix == 1 && settings_but_imatrix(&o) == 0))
		return cli_error("plan: setting options (--act-order, --damp, "
		    "...) go with --method/--scheme; in a plan file, use rules");

	if (file != NULL) {
		if (tq_plan_load(file, &p, &err) != TQ_OK)
			return cli_fail(&err);
		snprintf(plan_name, sizeof(plan_name), "%s", file);
	} else if (preset != NULL) {
		if (cli_preset(preset, o.imatrix == 1, &p, &err) != TQ_OK)
			return cli_fail(&err);
		k = mx.co.n_texts > 0 ? cli_calib_default(preset, p, &err) : 0;
		if (k < 0) {
			tq_plan_free(p);
			return cli_fail(&err);
		}
		snprintf(plan_name, sizeof(plan_name), "preset %s%s%s%s%s",
		    preset, o.imatrix == 1 ? " --imatrix" : "", k > 0 ?
		    ", calibration text: " : "", k > 0 ?
		    cli_calib_default_desc(preset) : "", k > 0 ?
		    " on the block linears" : "");
	} else {
		if (build_plan(&o, &p) != 0)
			return 1;
		snprintf(plan_name, sizeof(plan_name), "%s%s%s%s%s",
		    o.method != NULL ? "--method " : "",
		    o.method != NULL ? o.method : "",
		    o.method != NULL && o.scheme != NULL ? " " : "",
		    o.scheme != NULL ? "--scheme " : "",
		    o.scheme != NULL ? o.scheme : "");
	}
	if (tq_model_open(cli_model_path(model), &m, &err) != TQ_OK)
		goto fail;
check:
	if (tq_plan_check(p, m, &err) != TQ_OK)
		goto fail;
	if (save != NULL && tq_plan_save(p, save, &err) != TQ_OK)
		goto fail;
	why.preset = preset;
	why.source = mixed ? 'o' : file != NULL ? 'f' : preset != NULL ? 'p' :
	    'm';
	why.calibrated = mx.co.n_texts > 0;
	if (json)
		print_json(m, p, plan_name, save, &mr, &why);
	else
		print_table(m, p, plan_name, save, &why);
	rc = 0;
	goto out;
fail:
	rc = cli_fail(&err);
out:
	tq_model_close(m);
	tq_plan_free(p);
	return rc;
}
