/*
 * cmd_mix.c: the mixed-precision part of `turboquant plan`: measures (or
 * loads) every layer's sensitivity, then prints the Pareto frontier of
 * size against predicted loss, or the best plan for a bits-per-weight
 * budget, which `plan` then prints and saves like any other plan.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"

/* Splits a comma-separated menu in place; *n entries into items[max]. */
static size_t
split_menu(char *s, const char **items, size_t max)
{
	size_t n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(s, ",", &save); tok != NULL && n < max;
	    tok = strtok_r(NULL, ",", &save))
		if (*tok != '\0')
			items[n++] = tok;
	return n;
}

static tq_status
mix_fail(tq_error *err, tq_status st, const char *msg)
{
	err->status = st;
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	return st;
}

/* s's menu as "a,b,c" in buf. */
static const char *
menu_list(const tq_sens *s, char *buf, size_t len)
{
	size_t k, o = 0;

	buf[0] = '\0';
	for (k = 0; k < tq_sens_n_menu(s) && o < len; k++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", k ? "," : "",
		    tq_sens_menu(s, k));
	return buf;
}

/* Whether the comma-separated menu is s's, entry by entry. */
static int
same_menu(const char *menu, const tq_sens *s)
{
	const char *items[64];
	char *copy = strdup(menu);
	size_t n, k;
	int same;

	if (copy == NULL)
		return 0;
	n = split_menu(copy, items, sizeof(items) / sizeof(items[0]));
	same = n == tq_sens_n_menu(s);
	for (k = 0; same && k < n; k++)
		same = strcasecmp(items[k], tq_sens_menu(s, k)) == 0;
	free(copy);
	return same;
}

/*
 * With a base plan made for GGUF (its lm_head or embeddings on a GGUF
 * type), a warning when the chosen plan puts block linears on grids GGUF
 * cannot hold: now, not at export.
 */
static void
gguf_warning(const tq_plan *base, const tq_plan *p, const tq_model *m)
{
	static const char *const heads[2] = { "lm_head", "model.embed_tokens" };
	size_t i, n = tq_model_n_linears(m), bad = 0;
	tq_layer_cfg c;
	tq_error err;
	char first[32] = "";
	int gguf = 0, h;

	for (h = 0; h < 2; h++)
		if (tq_plan_resolve(base, m, heads[h], &c, &err) == TQ_OK &&
		    c.method != TQ_METHOD_FLOAT && c.scheme.type >= TQ_QT_Q4_0)
			gguf = 1;
	if (!gguf)
		return;
	for (i = 0; i < n; i++)
		if (tq_plan_resolve(p, m, tq_model_linear_name(m, i), &c,
		    &err) == TQ_OK && c.method != TQ_METHOD_FLOAT &&
		    c.scheme.type < TQ_QT_Q4_0) {
			if (bad++ == 0)
				tq_scheme_name(&c.scheme, first, sizeof(first));
		}
	if (bad > 0)
		fprintf(stderr, "warning: %zu block linears (%s, ...) get grids "
		    "GGUF cannot hold, though the base plan is a GGUF one: "
		    "export --format gguf would re-quantize them; --menu with "
		    "GGUF types (rtn:q4_k,rtn:q5_0,...) keeps the plan in "
		    "GGUF\n", bad, first);
}

/* Loaded from a->sens_path when it exists, else measured (and saved). */
static tq_status
mix_sens(const cli_mix_args *a, const tq_model *m, tq_sens **out,
    tq_error *err)
{
	const char *items[64];
	char *menu = NULL, menu_buf[512];
	size_t n_menu = 0;
	tq_calib *cal = NULL;
	tq_job *job = NULL;
	tq_status st;

	*out = NULL;
	if (a->sens_path != NULL && access(a->sens_path, F_OK) == 0) {
		if ((st = tq_sens_load(a->sens_path, m, out, err)) != TQ_OK)
			return st;
		/* The table answers for its own menu only. */
		if (a->menu != NULL && !same_menu(a->menu, *out)) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "plan: --menu is not the menu "
			    "%s was measured with (%s): remove the file to "
			    "measure again, or leave --menu out", a->sens_path,
			    menu_list(*out, menu_buf, sizeof(menu_buf)));
			st = mix_fail(err, TQ_EINVAL, msg);
			tq_sens_free(*out);
			*out = NULL;
			return st;
		}
		/* Nor does a grouped table answer per expert. */
		if (a->per_expert && !tq_sens_per_expert(*out) &&
		    tq_model_get_config(m)->n_experts > 0) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "plan: --per-expert: %s was "
			    "measured with a block's experts grouped: remove "
			    "the file to measure again, or leave --per-expert "
			    "out", a->sens_path);
			tq_sens_free(*out);
			*out = NULL;
			return mix_fail(err, TQ_EINVAL, msg);
		}
		if (!a->json)
			fprintf(stderr, "sensitivity loaded from %s%s\n",
			    a->sens_path, tq_sens_per_expert(*out) ?
			    " (per expert)" : "");
		return st;
	}
	if (a->co.n_texts == 0)
		return mix_fail(err, TQ_EINVAL, "plan: measuring sensitivity "
		    "needs --calib FILE (or --sensitivity FILE saved before)");
	if (a->menu != NULL) {
		if ((menu = strdup(a->menu)) == NULL)
			return mix_fail(err, TQ_ENOMEM, "out of memory");
		n_menu = split_menu(menu, items, sizeof(items) / sizeof(items[0]));
	}
	if ((st = cli_calib_sample(m, &a->co, &cal, err)) == TQ_OK &&
	    (st = tq_job_sensitivity_experts(m, cal, n_menu > 0 ? items : NULL,
	    n_menu, a->probe_tokens, a->per_expert, &job, err)) == TQ_OK &&
	    (st = cli_run_job(job, a->json ? NULL : cli_print_log, NULL, err)) ==
	    TQ_OK) {
		*out = tq_job_take_sens(job);
		if (a->sens_path != NULL &&
		    (st = tq_sens_save(*out, a->sens_path, err)) == TQ_OK &&
		    !a->json)
			fprintf(stderr, "sensitivity saved to %s\n", a->sens_path);
	}
	tq_job_free(job);
	tq_calib_free(cal);
	free(menu);
	if (st != TQ_OK) {
		tq_sens_free(*out);
		*out = NULL;
	}
	return st;
}

/* --menu-exclude LIST on the table (measured or loaded alike). */
static tq_status
mix_exclude(tq_sens *s, const tq_model *m, const char *list, tq_error *err)
{
	const char *items[64];
	char *copy = strdup(list), msg[sizeof(err->msg)];
	size_t n;
	tq_status st;

	if (copy == NULL)
		return mix_fail(err, TQ_ENOMEM, "out of memory");
	n = split_menu(copy, items, sizeof(items) / sizeof(items[0]));
	if (n == 0)
		st = mix_fail(err, TQ_EINVAL, "plan: --menu-exclude: no grid "
		    "or entry given");
	else if ((st = tq_sens_exclude(s, m, items, n, err)) != TQ_OK) {
		snprintf(msg, sizeof(msg), "plan: --menu-exclude: %s", err->msg);
		mix_fail(err, st, msg);
	}
	free(copy);
	return st;
}

static void
print_frontier(const tq_sens *s, const tq_mix *mx, size_t n, int json)
{
	size_t i, step = n > 40 ? (n + 39) / 40 : 1;

	if (json) {
		printf("{\"frontier\":[");
		for (i = 0; i < n; i++)
			printf("%s{\"bpw\":%.6g,\"pred_kld\":%.6g}", i ? "," : "",
			    mx[i].bpw, mx[i].pred);
		printf("]}\n");
		return;
	}
	printf("Pareto frontier over %zu block linears (menu of %zu settings; "
	    "%zu points, every %zu shown):\n", tq_sens_n_layers(s),
	    tq_sens_n_menu(s), n, step);
	printf("%8s  %14s\n", "bpw", "predicted KLD");
	for (i = 0; i < n; i += step)
		printf("%8.3f  %14.6g\n", mx[i].bpw, mx[i].pred);
	if ((n - 1) % step != 0)
		printf("%8.3f  %14.6g\n", mx[n - 1].bpw, mx[n - 1].pred);
}

int
cli_plan_mixed(const cli_mix_args *a, const tq_model *m, tq_plan **plan,
    cli_mix_result *res, char *name, size_t name_len)
{
	tq_error err = { TQ_OK, "" };
	tq_sens *s = NULL;
	tq_plan *base = NULL;
	tq_mix mix, *front = NULL;
	size_t nf = 0;
	int rc = 1;

	*plan = NULL;
	memset(&mix, 0, sizeof(mix));
	if (mix_sens(a, m, &s, &err) != TQ_OK)
		goto fail;
	if (a->exclude != NULL && mix_exclude(s, m, a->exclude, &err) != TQ_OK)
		goto fail;
	if (a->frontier) {
		if (tq_sens_frontier(s, &front, &nf, &err) != TQ_OK)
			goto fail;
		print_frontier(s, front, nf, a->json && a->target_bpw <= 0.0);
	}
	if (a->target_bpw > 0.0) {
		if (a->base_plan != NULL && (access(a->base_plan, F_OK) == 0 ?
		    tq_plan_load(a->base_plan, &base, &err) :
		    tq_plan_preset(a->base_plan, &base, &err)) != TQ_OK)
			goto fail;
		if (tq_sens_optimize(s, a->target_bpw, &mix, &err) != TQ_OK ||
		    tq_sens_plan(s, &mix, m, base, plan, &err) != TQ_OK)
			goto fail;
		if (base != NULL)
			gguf_warning(base, *plan, m);
		res->optimized = 1;
		res->target_bpw = a->target_bpw;
		res->bpw = mix.bpw;
		res->pred = mix.pred;
		snprintf(name, name_len, "optimized for %.3f bits per weight "
		    "(block linears %.3f, predicted KLD %.4g)", a->target_bpw,
		    mix.bpw, mix.pred);
	}
	rc = 0;
	goto out;
fail:
	rc = cli_fail(&err);
out:
	tq_mix_free(&mix);
	tq_mix_free_all(front, nf);
	tq_plan_free(base);
	tq_sens_free(s);
	return rc;
}

/*
 * The menu entry model linear i has under plan p: its index, -1 for a
 * float layer, -2 for a setting the table did not measure.
 */
static long
plan_menu_index(const tq_sens *s, const tq_model *m, const tq_plan *p,
    size_t i)
{
	tq_error err;
	tq_layer_cfg c;
	char sch[32], name[64];
	size_t k;

	if (tq_plan_resolve(p, m, tq_model_linear_name(m, i), &c, &err) !=
	    TQ_OK)
		return -2;
	if (c.method == TQ_METHOD_FLOAT)
		return -1;
	tq_scheme_name(&c.scheme, sch, sizeof(sch));
	snprintf(name, sizeof(name), "%s:%s%s", tq_method_name(c.method), sch,
	    c.use_imatrix ? "+imatrix" : "");
	for (k = 0; k < tq_sens_n_menu(s); k++)
		if (strcmp(name, tq_sens_menu(s, k)) == 0)
			return (long)k;
	return -2;
}

double
cli_mix_predict(const tq_sens *s, const tq_model *m, const tq_plan *p)
{
	double sum = 0.0;
	size_t l, j;
	long k, kj;

	for (l = 0; l < tq_sens_n_layers(s); l++) {
		k = plan_menu_index(s, m, p, tq_sens_layer_linear(s, l, 0));
		/* A group measured as one: all its experts on one setting. */
		for (j = 1; j < tq_sens_layer_members(s, l); j++)
			if ((kj = plan_menu_index(s, m, p,
			    tq_sens_layer_linear(s, l, j))) != k)
				return NAN;
		if (k == -1)
			continue;
		if (k < 0)
			return NAN;	/* a setting the table did not measure */
		sum += tq_sens_pred(s, l, (size_t)k);
	}
	return sum;
}
