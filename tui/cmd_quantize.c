/*
 * cmd_quantize.c: `turboquant quantize`: calibrate, then quantize a model
 * block by block under a plan, on the engine's worker thread, printing each
 * layer's result as it finishes.  Ctrl-C cancels cleanly.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The plan and model, for the layers whose scheme fell back. */
typedef struct run_ctx {
	const tq_plan *plan;
	const tq_model *m;
} run_ctx;

static void
print_layer(const run_ctx *x, const tq_layer_result *r)
{
	char fell[128] = "";
	tq_error err;

	if (x != NULL)
		tq_plan_fallback(x->plan, x->m, r->name, fell, sizeof(fell),
		    &err);
	printf("%-36s %-5s %-14s", r->name, r->method, r->scheme);
	if (isfinite(r->rel_err))
		printf(" rel.err %9.3e", r->rel_err);
	else
		printf(" %17s", "");
	if (isfinite(r->sqnr_db))
		printf("  sqnr %5.1f dB", r->sqnr_db);
	else if (r->sqnr_db > 0.0)
		printf("  exact (0 error)");
	printf("  %5.2f bpw  %6.2f s", r->bpw, r->seconds);
	/* an expert's coverage: what the router sent it, what it used */
	if (r->routed >= 0 && r->tokens > 0)
		printf("  routed %lld%s", (long long)r->routed,
		    r->tokens != r->routed ? ", calibrated on all tokens" : "");
	if (fell[0] != '\0')
		printf("  (%s)", fell);
	printf("\n");
	fflush(stdout);
}

static void
print_json_layer(const tq_layer_result *r, int first)
{
	printf("%s{\"name\":\"%s\",\"method\":\"%s\",\"scheme\":\"%s\","
	    "\"rows\":%lld,\"cols\":%lld,", first ? "" : ",", r->name,
	    r->method, r->scheme, (long long)r->rows, (long long)r->cols);
	if (isfinite(r->rel_err))
		printf("\"rel_err\":%.6g,", r->rel_err);
	else
		printf("\"rel_err\":null,");
	if (isfinite(r->sqnr_db))
		printf("\"sqnr_db\":%.4g,\"max_abs_err\":%.6g,", r->sqnr_db,
		    r->max_abs_err);
	else
		printf("\"sqnr_db\":null,\"max_abs_err\":null,");
	printf("\"bpw\":%.4f,\"seconds\":%.3f,\"tokens\":%lld", r->bpw,
	    r->seconds, (long long)r->tokens);
	if (r->routed >= 0)
		printf(",\"routed\":%lld", (long long)r->routed);
	printf("}");
}

/* Layers to stdout, log lines to stderr, as the job reports them. */
static void
on_event(void *ud, const tq_event *ev)
{
	if (ev->kind == TQ_EVENT_LAYER)
		print_layer(ud, &ev->layer);
	else if (ev->kind == TQ_EVENT_LOG)
		fprintf(stderr, "%s\n", ev->text);
}

/* Parses the options that make a plan from the command line. */
typedef struct plan_args {
	const char *plan_file, *preset, *method, *scheme;
	long long bits, group, act_bits;
	int sym, act_order, clip, imatrix, awq_scales;
	int grid_given;		/* --bits, --group, --sym or --scheme */
	int calibrated;		/* --calib or --stats given */
	double damp, alpha, hess_shrink;	/* alpha, hess_shrink < 0: unset */
} plan_args;

/*
 * With --plan or --preset, the method options become one more rule over
 * the block linears, so that `--preset q4_k_m --imatrix` or `--method
 * gptq` change how the preset's grids are reached, not which grids.
 */
static tq_status
add_overrides(const plan_args *a, tq_plan *p, tq_error *err)
{
	tq_plan_rule r;
	tq_status st;

	memset(&r, 0, sizeof(r));
	r.match = "^model\\.layers\\.";
	if (a->method != NULL) {
		if ((st = tq_method_parse(a->method, &r.cfg.method, err)) !=
		    TQ_OK)
			return st;
		r.mask |= TQ_PLAN_SET_METHOD;
	}
	if (a->imatrix) {
		r.cfg.use_imatrix = 1;
		r.mask |= TQ_PLAN_SET_IMATRIX;
	}
	if (a->act_order) {
		r.cfg.act_order = 1;
		r.mask |= TQ_PLAN_SET_ACT_ORDER;
	}
	if (a->awq_scales) {
		r.cfg.awq_scales = 1;
		r.mask |= TQ_PLAN_SET_AWQ_SCALES;
	}
	if (a->clip) {
		r.cfg.clip_search = 1;
		r.mask |= TQ_PLAN_SET_CLIP;
	}
	if (a->damp > 0.0) {
		r.cfg.damp = a->damp;
		r.mask |= TQ_PLAN_SET_DAMP;
	}
	if (a->hess_shrink >= 0.0) {
		r.cfg.hess_shrink = a->hess_shrink;
		r.mask |= TQ_PLAN_SET_SHRINK;
	}
	if (a->alpha >= 0.0) {
		r.cfg.alpha = a->alpha;
		r.mask |= TQ_PLAN_SET_ALPHA;
	}
	if (a->act_bits != 0) {
		r.cfg.act_bits = (int)a->act_bits;
		r.mask |= TQ_PLAN_SET_ACT_BITS;
	}
	if (r.mask == 0)
		return TQ_OK;
	return tq_plan_insert_rule(p, tq_plan_n_rules(p), &r, err);
}

static tq_status
make_plan(const plan_args *a, tq_plan **out, tq_error *err)
{
	tq_layer_cfg cfg;
	tq_method method;
	tq_scheme sch;
	char name[64];
	tq_status st;

	if (a->plan_file != NULL || a->preset != NULL) {
		st = a->plan_file != NULL ? tq_plan_load(a->plan_file, out, err) :
		    tq_plan_preset(a->preset, out, err);
		/* before the overrides, so that --damp or --imatrix still apply */
		if (st == TQ_OK && a->preset != NULL && a->method == NULL &&
		    a->calibrated) {
			int k = cli_calib_default(a->preset, *out, err);

			if (k < 0)
				st = err->status;
			else if (k > 0)
				fprintf(stderr, "preset %s with calibration "
				    "text: %s on the block linears (measured "
				    "best); --method overrides\n", a->preset,
				    cli_calib_default_desc(a->preset));
		}
		if (st == TQ_OK && (st = add_overrides(a, *out, err)) != TQ_OK) {
			tq_plan_free(*out);
			*out = NULL;
		}
		return st;
	}
	if ((st = tq_method_parse(a->method, &method, err)) != TQ_OK)
		return st;
	if (a->scheme != NULL) {
		snprintf(name, sizeof(name), "%s", a->scheme);
	} else {
		int n = snprintf(name, sizeof(name), "int%lld", a->bits);

		if (a->group > 0)
			n += snprintf(name + n, sizeof(name) - (size_t)n,
			    "-g%lld", a->group);
		if (a->sym)
			snprintf(name + n, sizeof(name) - (size_t)n, "-sym");
	}
	if ((st = tq_scheme_parse(name, &sch, err)) != TQ_OK)
		return st;
	tq_layer_cfg_init(&cfg, method, &sch);
	cfg.act_order = a->act_order;
	cfg.clip_search |= a->clip;	/* AWQ's is on by default */
	cfg.use_imatrix = a->imatrix;
	cfg.awq_scales = a->awq_scales;
	if (a->damp > 0.0)
		cfg.damp = a->damp;
	if (a->hess_shrink >= 0.0)
		cfg.hess_shrink = a->hess_shrink;
	if (a->alpha >= 0.0)
		cfg.alpha = a->alpha;
	if (a->act_bits != 0)
		cfg.act_bits = (int)a->act_bits;
	return tq_plan_new(&cfg, out, err);
}

int
cmd_quantize(int argc, char **argv)
{
	const char *model = NULL, *stats = NULL;
	const char *out_dir = NULL, *export = NULL, *export_path = NULL;
	tq_export_opts eo = TQ_EXPORT_OPTS_INIT;
	tq_export_report rep;
	char export_fmt[32];
	plan_args pa;
	cli_calib co = CLI_CALIB_INIT;
	tq_error err = { TQ_OK, "" };
	tq_model *m = NULL;
	tq_plan *plan = NULL;
	tq_calib *calib = NULL;
	run_ctx rx;
	tq_job *job = NULL;
	tq_qstate *state = NULL;
	char *endp;
	int json = 0, flags = 0, i, k, rc = 1;
	size_t l;

	memset(&pa, 0, sizeof(pa));
	pa.bits = 4;
	pa.group = 128;
	pa.alpha = -1.0;
	pa.hess_shrink = -1.0;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;

#define NEED() do {						\
		if (next == NULL)					\
			return cli_error("quantize: %s needs a value", a); \
		i++;							\
	} while (0)
		if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (strcmp(a, "--resume") == 0) {
			flags |= TQ_QUANTIZE_RESUME;
		} else if (strcmp(a, "--sequential") == 0) {
			flags |= TQ_QUANTIZE_SEQUENTIAL;
		} else if (strcmp(a, "--force") == 0) {
			/* A complete state in DIR, and PATH with --export. */
			flags |= TQ_QUANTIZE_FORCE;
			eo.force = 1;
		} else if (strcmp(a, "--sym") == 0) {
			pa.sym = 1;
			pa.grid_given = 1;
		} else if (strcmp(a, "--act-order") == 0) {
			pa.act_order = 1;
		} else if (strcmp(a, "--clip-search") == 0) {
			pa.clip = 1;
		} else if (strcmp(a, "--imatrix") == 0) {
			pa.imatrix = 1;
		} else if (strcmp(a, "--awq-scales") == 0) {
			pa.awq_scales = 1;
		} else if (strcmp(a, "--plan") == 0) {
			NEED();
			pa.plan_file = next;
		} else if (strcmp(a, "--preset") == 0) {
			NEED();
			pa.preset = next;
		} else if (strcmp(a, "--method") == 0) {
			NEED();
			pa.method = next;
		} else if (strcmp(a, "--scheme") == 0) {
			NEED();
			pa.scheme = next;
			pa.grid_given = 1;
		} else if (strcmp(a, "--bits") == 0) {
			if (!cli_parse_int(a, next, 2, 8, &pa.bits))
				return 1;
			pa.grid_given = 1;
			i++;
		} else if (strcmp(a, "--group") == 0) {
			if (!cli_parse_int(a, next, 0, 4096, &pa.group))
				return 1;
			pa.grid_given = 1;
			i++;
		} else if (strcmp(a, "--damp") == 0) {
			NEED();
			pa.damp = strtod(next, &endp);
			if (*endp != '\0' || !(pa.damp > 0.0 && pa.damp < 10.0))
				return cli_error("quantize: --damp: \"%s\" is not a "
				    "number in (0, 10)", next);
		} else if (strcmp(a, "--hess-shrink") == 0) {
			if (!cli_parse_number("quantize", a, next, 0.0, 1.0,
			    &pa.hess_shrink))
				return 1;
			i++;
		} else if (strcmp(a, "--alpha") == 0) {
			if (!cli_parse_number("quantize", a, next, 0.0, 1.0,
			    &pa.alpha))
				return 1;
			i++;
		} else if (strcmp(a, "--act-bits") == 0) {
			if (!cli_parse_int(a, next, 8, 16, &pa.act_bits))
				return 1;
			if (pa.act_bits != 8 && pa.act_bits != 16)
				return cli_error("quantize: --act-bits must be 8 or "
				    "16");
			i++;
		} else if (strcmp(a, "--stats") == 0) {
			NEED();
			stats = next;
		} else if (strcmp(a, "--out") == 0) {
			NEED();
			out_dir = next;
		} else if (strcmp(a, "--export") == 0) {
			NEED();
			export = next;
		} else if (strcmp(a, "--export-type") == 0) {
			NEED();
			eo.type = next;
		} else if ((k = cli_calib_option(a, next, &co)) != 0) {
			if (k < 0)
				return 1;
			i++;
		} else if (strcmp(a, "--help") == 0) {
			cli_usage(stdout, "quantize");
			return 0;
		} else if (a[0] == '-') {
			return cli_error("quantize: unknown option %s", a);
		} else if (model == NULL) {
			model = a;
		} else {
			return cli_error("quantize: unexpected argument \"%s\"", a);
		}
#undef NEED
	}
	if (pa.plan_file == NULL && pa.preset == NULL && pa.method == NULL)
		return cli_error("quantize: say how: --plan FILE, --preset NAME "
		    "or --method M (see turboquant help quantize)");
	if (pa.plan_file != NULL && pa.preset != NULL)
		return cli_error("quantize: give --plan or --preset, not both");
	if ((pa.plan_file != NULL || pa.preset != NULL) && pa.grid_given)
		return cli_error("quantize: the %s gives the grids; --bits, "
		    "--group, --sym and --scheme go with --method alone (or "
		    "in a plan rule)", pa.plan_file != NULL ? "plan" : "preset");
	if (out_dir == NULL)
		return cli_error("quantize: no output directory (use --out DIR)");
	if (co.n_texts > 0 && stats != NULL)
		return cli_error("quantize: give --calib or --stats, not both");
	/* Checked before quantizing; the export itself is export's. */
	if (export == NULL && eo.type != NULL)
		return cli_error("quantize: --export-type without --export");
	if (export != NULL && !cli_export_spec(export, eo.force, export_fmt,
	    sizeof(export_fmt), &export_path))
		return 1;
	eo.format = export != NULL ? export_fmt : NULL;
	pa.calibrated = co.n_texts > 0 || stats != NULL;
	if (tq_model_open(cli_model_path(model), &m, &err) != TQ_OK)
		return cli_fail(&err);
	if (make_plan(&pa, &plan, &err) != TQ_OK ||
	    tq_plan_check(plan, m, &err) != TQ_OK)
		goto fail;
	if (stats != NULL && tq_calib_load(stats, &calib, &err) != TQ_OK)
		goto fail;
	if (co.n_texts > 0 && cli_calib_sample(m, &co, &calib, &err) != TQ_OK)
		goto fail;
	if (tq_job_quantize(m, plan, calib, out_dir, flags, &job, &err) !=
	    TQ_OK)
		goto fail;
	rx.plan = plan;
	rx.m = m;
	if (cli_run_job(job, json ? NULL : on_event, &rx, &err) != TQ_OK)
		goto fail;
	state = tq_job_take_state(job);
	if (!json)
		printf("\nquantized state saved to %s\n", out_dir);
	if (export != NULL && (rc = cli_export_run(m, state, export_path, &eo,
	    json, &rep)) != 0)
		goto out;
	if (json) {
		printf("{\"model\":");
		cli_json_string(stdout, tq_model_path(m));
		printf(",\"out\":");
		cli_json_string(stdout, out_dir);
		printf(",\"layers\":[");
		for (l = 0; state != NULL && l < tq_state_n_results(state); l++)
			print_json_layer(tq_state_result(state, l), l == 0);
		printf("]");
		if (export != NULL) {	/* one JSON object in all */
			printf(",\"export\":");
			cli_export_print(&rep, 1);
		}
		printf("}\n");
	}
	rc = 0;
	goto out;
fail:
	rc = cli_fail(&err);
out:
	tq_state_free(state);
	tq_job_free(job);
	tq_calib_free(calib);
	tq_plan_free(plan);
	tq_model_close(m);
	return rc;
}
