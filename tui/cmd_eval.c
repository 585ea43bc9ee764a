/*
 * cmd_eval.c: `turboquant eval`: perplexity by either protocol, KL
 * divergence against the base, the long-context table, multiple-choice
 * tasks, the per-layer report, the comparison of several variants and the
 * release gate.  The work runs as one validation job (tq_job_validate).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Exit status when a gate is exceeded. */
#define GATE_EXIT 2
#define MAX_VARIANTS 8

typedef enum out_fmt { OUT_TEXT = 0, OUT_JSON, OUT_MARKDOWN } out_fmt;

/* A model to evaluate: an HF directory or GGUF file, or a quantized state. */
typedef struct variant {
	const char *arg;
	tq_model *m;
	tq_qstate *state;
	double bytes;		/* size of the weights */
	double bpw;		/* bits per weight of the block linears */
	double pred;		/* predicted mean KLD (--sensitivity), or NaN */
} variant;

typedef struct eval_args {
	const char *model, *text, *base, *save_logits, *base_logits;
	const char *tasks;
	const char *sens;	/* --sensitivity: predicted KLD per variant */
	const char *compare[MAX_VARIANTS];
	int n_compare, compare_mode;
	tq_eval_opts o;
	long long tasks_limit;
	int kld, long_context, layers;
	double max_ppl_increase, max_kld;	/* < 0: no gate */
	out_fmt fmt;
} eval_args;

static int
parse_double(const char *opt, const char *s, double *out)
{
	char *end;

	if (s == NULL)
		return cli_error("%s needs a value", opt), 0;
	*out = strtod(s, &end);
	if (end == s || *end != '\0' || !isfinite(*out) || *out < 0)
		return cli_error("%s: \"%s\" is not a number >= 0", opt, s), 0;
	return 1;
}

static int
parse_args(int argc, char **argv, eval_args *a)
{
	tq_error err;
	long long v;
	int i;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] :
		    NULL;

		if (strcmp(o, "--json") == 0) {
			a->fmt = OUT_JSON;
		} else if (strcmp(o, "--markdown") == 0) {
			a->fmt = OUT_MARKDOWN;
		} else if (strcmp(o, "--sensitivity") == 0) {
			if (val == NULL)
				return cli_error("eval: %s needs a value", o);
			a->sens = val;
			i++;
		} else if (strcmp(o, "--kld") == 0) {
			a->kld = 1;
		} else if (strcmp(o, "--long-context") == 0) {
			a->long_context = 1;
		} else if (strcmp(o, "--layers") == 0) {
			a->layers = 1;
		} else if (strcmp(o, "--help") == 0) {
			cli_usage(stdout, "eval");
			exit(0);
		} else if (strcmp(o, "--compare") == 0) {
			a->compare_mode = 1;
			while (i + 1 < argc && argv[i + 1][0] != '-') {
				if (a->n_compare == MAX_VARIANTS)
					return cli_error("eval: at most %d "
					    "variants to compare", MAX_VARIANTS);
				a->compare[a->n_compare++] = argv[++i];
			}
			if (a->n_compare == 0)
				return cli_error("eval: --compare needs a state,"
				    " model or GGUF file");
		} else if (strcmp(o, "--text") == 0 || strcmp(o, "--base") == 0 ||
		    strcmp(o, "--save-logits") == 0 ||
		    strcmp(o, "--base-logits") == 0 ||
		    strcmp(o, "--tasks") == 0) {
			if (val == NULL)
				return cli_error("eval: %s needs a file", o);
			if (strcmp(o, "--text") == 0)
				a->text = val;
			else if (strcmp(o, "--base") == 0)
				a->base = val;
			else if (strcmp(o, "--save-logits") == 0)
				a->save_logits = val;
			else if (strcmp(o, "--base-logits") == 0)
				a->base_logits = val;
			else
				a->tasks = val;
			i++;
		} else if (strcmp(o, "--ctx") == 0) {
			if (!cli_parse_int(o, val, 2, 1 << 20, &v))
				return 1;
			a->o.ctx = v;
			i++;
		} else if (strcmp(o, "--max-tokens") == 0) {
			if (!cli_parse_int(o, val, 2, INT64_MAX, &v))
				return 1;
			a->o.max_tokens = v;
			i++;
		} else if (strcmp(o, "--tasks-limit") == 0) {
			if (!cli_parse_int(o, val, 1, INT64_MAX, &v))
				return 1;
			a->tasks_limit = v;
			i++;
		} else if (strcmp(o, "--protocol") == 0) {
			if (val == NULL)
				return cli_error("eval: --protocol needs gptq or "
				    "llamacpp");
			if (tq_protocol_parse(val, &a->o.protocol, &err) !=
			    TQ_OK)
				return cli_fail(&err);
			i++;
		} else if (strcmp(o, "--max-ppl-increase") == 0) {
			if (!parse_double(o, val, &a->max_ppl_increase))
				return 1;
			i++;
		} else if (strcmp(o, "--max-kld") == 0) {
			if (!parse_double(o, val, &a->max_kld))
				return 1;
			i++;
		} else if (o[0] == '-') {
			return cli_error("eval: unknown option %s", o);
		} else if (a->model == NULL) {
			a->model = o;
		} else {
			return cli_error("eval: unexpected argument \"%s\"", o);
		}
	}
	if (a->text == NULL && a->base_logits == NULL && a->tasks == NULL)
		return cli_error("eval: no evaluation text (use --text FILE)");
	if (a->base_logits != NULL && (a->compare_mode || a->base != NULL ||
	    a->long_context))
		return cli_error("eval: --base-logits replaces the base: not with"
		    " --base, --compare or --long-context");
	return 0;
}

/* Sizes: a state's quantized layers at their bits, everything else as stored. */
static void
variant_size(variant *v)
{
	const tq_model_config *c = tq_model_get_config(v->m);
	double bits = 0.0, params = 0.0, bytes = (double)tq_model_file_bytes(v->m);
	size_t i, t, nl = tq_model_n_linears(v->m);
	tq_tensor_info ti;
	char name[128];

	for (i = 0; i < nl; i++) {
		const tq_layer_result *r = v->state != NULL ?
		    tq_state_result(v->state, i) : NULL;
		int64_t rows, cols;
		double stored = 0.0;
		int block = i < (size_t)(c->n_layers * 7);

		tq_model_linear_shape(v->m, i, &rows, &cols);
		snprintf(name, sizeof(name), "%s.weight",
		    tq_model_linear_name(v->m, i));
		for (t = 0; t < tq_model_n_tensors(v->m); t++) {
			tq_model_tensor(v->m, t, &ti);
			if (strcmp(ti.name, name) == 0) {
				stored = (double)ti.stored_bytes;
				break;
			}
		}
		if (r != NULL && strcmp(r->method, "float") != 0) {
			double q = (double)rows * (double)cols * r->bpw / 8.0;

			bytes += q - stored;
			stored = q;
		}
		if (block) {
			bits += stored * 8.0;
			params += (double)rows * (double)cols;
		}
	}
	v->bytes = bytes;
	v->bpw = params > 0 ? bits / params : 0.0;
}

/* Opens a variant: a quantized state of base, or a model of its own. */
static int
open_variant(variant *v, const char *path, const tq_model *base,
    tq_error *err)
{
	memset(v, 0, sizeof(*v));
	v->arg = path;
	if (tq_state_is_dir(path)) {
		if (tq_state_load(path, base, &v->state, err) != TQ_OK ||
		    tq_model_apply_state(base, v->state, &v->m, err) != TQ_OK)
			return 0;
	} else if (tq_model_open(path, &v->m, err) != TQ_OK) {
		return 0;
	}
	variant_size(v);
	return 1;
}

static void
variant_close(variant *v)
{
	tq_model_close(v->m);
	tq_state_free(v->state);
	memset(v, 0, sizeof(*v));
}

/* ---- Output ------------------------------------------------------------ */

static void
print_kld_text(const tq_kld_result *k)
{
	const tq_quantiles *q = &k->kld_q, *d = &k->dp_q;

	/* The layout of llama-perplexity --kl-divergence, for side by side. */
	printf("====== Perplexity statistics ======\n");
	printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", k->ppl.ppl,
	    k->ppl.ppl_stderr);
	printf("Mean PPL(base)                : %10.6f ± %10.6f\n",
	    k->ppl_base.ppl, k->ppl_base.ppl_stderr);
	printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * k->ppl_cor);
	printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", k->ln_ratio,
	    k->ln_ratio_stderr);
	printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", k->ratio,
	    k->ratio_stderr);
	printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", k->diff,
	    k->diff_stderr);
	printf("\n====== KL divergence statistics ======\n");
	printf("Mean    KLD: %10.6f ± %10.6f\n", k->kld, k->kld_stderr);
	printf("Maximum KLD: %10.6f\n99.9%%   KLD: %10.6f\n99.0%%   KLD: %10.6f\n"
	    "95.0%%   KLD: %10.6f\n90.0%%   KLD: %10.6f\nMedian  KLD: %10.6f\n"
	    "10.0%%   KLD: %10.6f\n 5.0%%   KLD: %10.6f\n 1.0%%   KLD: %10.6f\n"
	    " 0.1%%   KLD: %10.6f\nMinimum KLD: %10.6f\n", q->max, q->p99_9,
	    q->p99, q->p95, q->p90, q->median, q->p10, q->p5, q->p1, q->p0_1,
	    q->min);
	printf("\n====== Token probability statistics ======\n");
	printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100.0 * k->dp,
	    100.0 * k->dp_stderr);
	printf("Maximum Δp: %6.3f%%\n99.9%%   Δp: %6.3f%%\n99.0%%   Δp: %6.3f%%\n"
	    "95.0%%   Δp: %6.3f%%\n90.0%%   Δp: %6.3f%%\n75.0%%   Δp: %6.3f%%\n"
	    "Median  Δp: %6.3f%%\n25.0%%   Δp: %6.3f%%\n10.0%%   Δp: %6.3f%%\n"
	    " 5.0%%   Δp: %6.3f%%\n 1.0%%   Δp: %6.3f%%\n 0.1%%   Δp: %6.3f%%\n"
	    "Minimum Δp: %6.3f%%\n", 100 * d->max, 100 * d->p99_9,
	    100 * d->p99, 100 * d->p95, 100 * d->p90, 100 * d->p75,
	    100 * d->median, 100 * d->p25, 100 * d->p10, 100 * d->p5,
	    100 * d->p1, 100 * d->p0_1, 100 * d->min);
	printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100.0 * k->dp_rms,
	    100.0 * k->dp_rms_stderr);
	printf("Same top p: %6.3f ± %5.3f %%\n", 100.0 * k->same_top,
	    100.0 * k->same_top_stderr);
}

static void
json_quantiles(const char *key, const tq_quantiles *q)
{
	printf(",\"%s\":{\"min\":%.9g,\"p0.1\":%.9g,\"p1\":%.9g,\"p5\":%.9g,"
	    "\"p10\":%.9g,\"p25\":%.9g,\"median\":%.9g,\"p75\":%.9g,"
	    "\"p90\":%.9g,\"p95\":%.9g,\"p99\":%.9g,\"p99.9\":%.9g,"
	    "\"max\":%.9g}", key, q->min, q->p0_1, q->p1, q->p5, q->p10, q->p25,
	    q->median, q->p75, q->p90, q->p95, q->p99, q->p99_9, q->max);
}

static void
json_kld(const tq_kld_result *k)
{
	printf("{\"n\":%lld,\"ppl\":%.9g,\"ppl_stderr\":%.9g,\"ppl_base\":%.9g,"
	    "\"ppl_base_stderr\":%.9g,\"ppl_cor\":%.9g,\"ln_ratio\":%.9g,"
	    "\"ln_ratio_stderr\":%.9g,\"ratio\":%.9g,\"ratio_stderr\":%.9g,"
	    "\"diff\":%.9g,\"diff_stderr\":%.9g,\"kld\":%.9g,"
	    "\"kld_stderr\":%.9g", (long long)k->n, k->ppl.ppl,
	    k->ppl.ppl_stderr, k->ppl_base.ppl, k->ppl_base.ppl_stderr,
	    k->ppl_cor, k->ln_ratio, k->ln_ratio_stderr, k->ratio,
	    k->ratio_stderr, k->diff, k->diff_stderr, k->kld, k->kld_stderr);
	json_quantiles("kld_quantiles", &k->kld_q);
	printf(",\"dp\":%.9g,\"dp_stderr\":%.9g,\"dp_rms\":%.9g,"
	    "\"dp_rms_stderr\":%.9g", k->dp, k->dp_stderr, k->dp_rms,
	    k->dp_rms_stderr);
	json_quantiles("dp_quantiles", &k->dp_q);
	printf(",\"same_top\":%.9g,\"same_top_stderr\":%.9g}", k->same_top,
	    k->same_top_stderr);
}

static void
json_tasks(const tq_tasks_result *t)
{
	printf("{\"n\":%lld,\"acc\":%.9g,\"acc_stderr\":%.9g,\"acc_norm\":%.9g,"
	    "\"acc_norm_stderr\":%.9g}", (long long)t->n, t->acc, t->acc_stderr,
	    t->acc_norm, t->acc_norm_stderr);
}

static void
print_protocol(const tq_validation *r, const tq_ppl_result *p,
    const tq_model *m)
{
	/* As llama-perplexity: BOS only when the tokenizer adds one. */
	int bos = tq_tokenizer_bos(tq_model_tokenizer(m)) >= 0;

	if (r->opts.protocol == TQ_PROTOCOL_LLAMACPP)
		printf("protocol    llamacpp: %lld windows of %lld tokens, %s, "
		    "positions %lld..%lld scored (%lld predicted)\n",
		    (long long)p->n_windows, (long long)p->ctx, bos ?
		    "BOS first" : "no BOS (the tokenizer adds none)",
		    (long long)(p->ctx / 2), (long long)(p->ctx - 2),
		    (long long)p->n_scored);
	else
		printf("protocol    gptq: %lld windows of %lld tokens, %lld "
		    "predicted\n", (long long)p->n_windows, (long long)p->ctx,
		    (long long)p->n_scored);
}

static double
pct(double ppl, double base)
{
	return 100.0 * (ppl / base - 1.0);
}

/* The table of --compare (and of one model against its base). */
static void
print_table(const eval_args *a, const variant *base, const variant *vs,
    int n, const tq_validation *r)
{
	int i;

	if (a->fmt == OUT_MARKDOWN) {
		printf("| variant | size (MB) | bits/weight | ppl (%s, ctx %lld) "
		    "| Δ ppl %% | mean KLD | same top %% |\n",
		    tq_protocol_name(r->opts.protocol),
		    (long long)r->opts.ctx);
		printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
		printf("| %s (base) | %.2f | %.2f | %.4f ± %.4f | | | |\n",
		    base->arg, base->bytes / 1e6, base->bpw, r->base.ppl,
		    r->base.ppl_stderr);
		for (i = 0; i < n; i++) {
			const tq_kld_result *k = &r->models[i];

			printf("| %s | %.2f | %.2f | %.4f ± %.4f | %+.2f%% | "
			    "%.6f ± %.6f | %.2f |\n", vs[i].arg,
			    vs[i].bytes / 1e6, vs[i].bpw, k->ppl.ppl,
			    k->ppl.ppl_stderr, pct(k->ppl.ppl, r->base.ppl),
			    k->kld, k->kld_stderr, 100.0 * k->same_top);
		}
		return;
	}
	printf("%-32s %10s %6s %20s %9s %22s %9s%s\n", "variant", "size (MB)",
	    "bpw", "ppl", "delta", "mean KLD", "same top",
	    a->sens != NULL ? "  predicted KLD" : "");
	printf("%-32.32s %10.2f %6.2f %10.4f ± %7.4f %9s %22s %9s\n", base->arg,
	    base->bytes / 1e6, base->bpw, r->base.ppl, r->base.ppl_stderr,
	    "(base)", "", "");
	for (i = 0; i < n; i++) {
		const tq_kld_result *k = &r->models[i];

		printf("%-32.32s %10.2f %6.2f %10.4f ± %7.4f %+8.2f%% "
		    "%10.6f ± %9.6f %8.2f%%", vs[i].arg, vs[i].bytes / 1e6,
		    vs[i].bpw, k->ppl.ppl, k->ppl.ppl_stderr,
		    pct(k->ppl.ppl, r->base.ppl), k->kld, k->kld_stderr,
		    100.0 * k->same_top);
		if (a->sens != NULL)
			printf("  %13.6f", vs[i].pred);
		printf("\n");
	}
}

static void
print_longctx(const eval_args *a, const tq_validation *r)
{
	size_t i;

	if (a->fmt == OUT_MARKDOWN) {
		printf("\n| ctx | windows | ppl base | ppl | Δ ppl %% | mean KLD |"
		    " same top %% |\n| ---: | ---: | ---: | ---: | ---: | ---: |"
		    " ---: |\n");
		for (i = 0; i < r->n_longctx; i++) {
			const tq_kld_result *k = &r->longctx[i].r;

			printf("| %lld | %lld | %.4f | %.4f | %+.2f%% | %.6f | "
			    "%.2f |\n", (long long)r->longctx[i].ctx,
			    (long long)k->ppl.n_windows, k->ppl_base.ppl,
			    k->ppl.ppl, pct(k->ppl.ppl, k->ppl_base.ppl),
			    k->kld, 100.0 * k->same_top);
		}
		return;
	}
	printf("\nlong context (%s protocol, base against the model)\n",
	    tq_protocol_name(r->opts.protocol));
	printf("%6s %8s %12s %12s %9s %12s %9s\n", "ctx", "windows", "ppl base",
	    "ppl", "delta", "mean KLD", "same top");
	for (i = 0; i < r->n_longctx; i++) {
		const tq_kld_result *k = &r->longctx[i].r;

		printf("%6lld %8lld %12.4f %12.4f %+8.2f%% %12.6f %8.2f%%\n",
		    (long long)r->longctx[i].ctx, (long long)k->ppl.n_windows,
		    k->ppl_base.ppl, k->ppl.ppl, pct(k->ppl.ppl,
		    k->ppl_base.ppl), k->kld, 100.0 * k->same_top);
	}
}

static int
print_layers(const eval_args *a, const variant *v)
{
	tq_layer_rank *rk;
	tq_error err;
	size_t n, i;
	int tied;

	if (v->state == NULL)
		return 0;
	tied = tq_model_get_config(v->m)->tie_word_embeddings;
	if (tq_state_rank(v->state, &rk, &n, &err) != TQ_OK)
		return cli_fail(&err);
	if (a->fmt == OUT_MARKDOWN)
		printf("\n| layer | method | scheme | error | SQNR dB "
		    "| bits/weight | |\n| --- | --- | --- | ---: | ---: | ---: "
		    "| --- |\n");
	else
		printf("\nper-layer errors of %s, worst first (! = at least 4x "
		    "the median, or the worst)\n%-34s %-6s %-12s %12s %8s %6s\n",
		    v->arg, "layer", "method", "scheme", "error", "SQNR",
		    "bpw");
	for (i = 0; i < n; i++) {
		const tq_layer_result *l = rk[i].r;

		if (a->fmt == OUT_MARKDOWN)
			printf("| %s | %s | %s | %.3e | %.2f | %.2f | %s |\n",
			    l->name, l->method, l->scheme, rk[i].err,
			    l->sqnr_db, l->bpw, rk[i].worst ? "worst" : "");
		else
			printf("%-34s %-6s %-12s %12.3e %8.2f %6.2f %s%s\n",
			    l->name, l->method, l->scheme, rk[i].err,
			    l->sqnr_db, l->bpw, rk[i].worst ? "!" : "",
			    tied && strcmp(l->name, "lm_head") == 0 ?
			    " (tied to model.embed_tokens)" : "");
	}
	tq_state_rank_free(rk);
	return 0;
}

static void
print_json(const eval_args *a, const variant *base, const variant *vs,
    int n, const tq_validation *r)
{
	const tq_ppl_result *p = n > 0 ? &r->models[0].ppl : &r->base;
	int i;
	size_t j;

	printf("{\"model\":");
	cli_json_string(stdout, tq_model_path(n > 0 ? vs[0].m : base->m));
	printf(",\"state\":");
	if (n > 0 && vs[0].state != NULL)
		cli_json_string(stdout, vs[0].arg);
	else
		printf("null");
	printf(",\"text\":");
	if (a->text != NULL)
		cli_json_string(stdout, a->text);
	else
		printf("null");
	printf(",\"protocol\":\"%s\",\"ctx\":%lld,\"n_tokens\":%lld,"
	    "\"n_used\":%lld,\"n_windows\":%lld,\"n_scored\":%lld,"
	    "\"mean_nll\":%.9g,\"ppl\":%.9g,\"ppl_stderr\":%.9g,"
	    "\"seconds\":%.3f,\"tokens_per_second\":%.1f",
	    tq_protocol_name(r->opts.protocol), (long long)p->ctx,
	    (long long)(r->n_tokens ? r->n_tokens : p->n_tokens),
	    (long long)p->n_tokens, (long long)p->n_windows,
	    (long long)p->n_scored, p->mean_nll, p->ppl, p->ppl_stderr,
	    r->seconds, r->seconds > 0 ? (double)(p->n_windows * p->ctx) *
	    (n + r->has_base > 0 ? n + r->has_base : 1) / r->seconds : 0.0);
	if (r->has_base) {
		printf(",\"base\":{\"path\":");
		cli_json_string(stdout, base->arg);
		printf(",\"size_bytes\":%.0f,\"bpw\":%.4f,\"ppl\":%.9g,"
		    "\"ppl_stderr\":%.9g}", base->bytes, base->bpw, r->base.ppl,
		    r->base.ppl_stderr);
	}
	printf(",\"variants\":[");
	for (i = 0; i < n; i++) {
		printf("%s{\"path\":", i ? "," : "");
		cli_json_string(stdout, vs[i].arg);
		printf(",\"size_bytes\":%.0f,\"bpw\":%.4f,\"ppl\":%.9g,"
		    "\"ppl_stderr\":%.9g", vs[i].bytes, vs[i].bpw,
		    r->models[i].ppl.ppl, r->models[i].ppl.ppl_stderr);
		if (r->has_base) {
			printf(",\"delta_pct\":%.9g,\"kld\":",
			    pct(r->models[i].ppl.ppl, r->base.ppl));
			json_kld(&r->models[i]);
		}
		if (a->sens != NULL && isfinite(vs[i].pred))
			printf(",\"predicted_kld\":%.17g", vs[i].pred);
		if (r->has_tasks) {
			printf(",\"tasks\":");
			json_tasks(&r->tasks[i]);
		}
		printf("}");
	}
	printf("]");
	if (r->has_tasks && base->m != NULL) {
		printf(",\"base_tasks\":");
		json_tasks(&r->base_tasks);
	}
	if (r->n_longctx > 0) {
		printf(",\"long_context\":[");
		for (j = 0; j < r->n_longctx; j++) {
			printf("%s{\"ctx\":%lld,\"windows\":%lld,\"result\":",
			    j ? "," : "", (long long)r->longctx[j].ctx,
			    (long long)r->longctx[j].r.ppl.n_windows);
			json_kld(&r->longctx[j].r);
			printf("}");
		}
		printf("]");
	}
	printf("}\n");
}

/* The gate: returns GATE_EXIT (after one line on stderr) or 0. */
static int
gate(const eval_args *a, const variant *vs, int n, const tq_validation *r)
{
	int i;

	if (a->max_ppl_increase < 0 && a->max_kld < 0)
		return 0;
	for (i = 0; i < n; i++) {
		double inc = pct(r->models[i].ppl.ppl, r->base.ppl);

		if (a->max_ppl_increase >= 0 && !(inc <= a->max_ppl_increase)) {
			cli_error("gate: %s: perplexity %.4f is %+.2f%% over the "
			    "base's %.4f, more than --max-ppl-increase %g",
			    vs[i].arg, r->models[i].ppl.ppl, inc, r->base.ppl,
			    a->max_ppl_increase);
			return GATE_EXIT;
		}
		if (a->max_kld >= 0 && !(r->models[i].kld <= a->max_kld)) {
			cli_error("gate: %s: mean KLD %.6f is over --max-kld %g",
			    vs[i].arg, r->models[i].kld, a->max_kld);
			return GATE_EXIT;
		}
	}
	return 0;
}

int
cmd_eval(int argc, char **argv)
{
	eval_args a;
	variant base, vs[MAX_VARIANTS];
	const tq_model *models[MAX_VARIANTS];
	tq_validate_spec spec = TQ_VALIDATE_SPEC_INIT;
	const tq_validation *r;
	tq_error err = { TQ_OK, "" };
	tq_job *job = NULL;
	int n = 0, i, rc = 1, need_base;

	memset(&a, 0, sizeof(a));
	memset(&base, 0, sizeof(base));
	memset(vs, 0, sizeof(vs));
	a.o = (tq_eval_opts)TQ_EVAL_OPTS_INIT;
	a.max_ppl_increase = a.max_kld = -1.0;
	if (parse_args(argc, argv, &a) != 0)
		return 1;
	need_base = a.kld || a.long_context || a.max_ppl_increase >= 0 ||
	    a.max_kld >= 0 || a.base != NULL;
	if (a.compare_mode) {
		/* BASE --compare VARIANT...: the base is the positional one. */
		base.arg = cli_model_path(a.model);
		if (tq_model_open(base.arg, &base.m, &err) != TQ_OK)
			goto fail;
		variant_size(&base);
		for (i = 0; i < a.n_compare; i++, n++)
			if (!open_variant(&vs[i], a.compare[i], base.m, &err))
				goto fail;
		if (a.sens != NULL) {
			tq_sens *sens = NULL;

			if (tq_sens_load(a.sens, base.m, &sens, &err) != TQ_OK)
				goto fail;
			for (i = 0; i < a.n_compare; i++)
				vs[i].pred = vs[i].state != NULL ?
				    cli_mix_predict(sens, base.m,
				    tq_state_plan(vs[i].state)) : NAN;
			tq_sens_free(sens);
		}
	} else if (a.model != NULL && tq_state_is_dir(a.model)) {
		char *bp = NULL;

		/* A state: its model (or --base) is the base. */
		if (a.base == NULL &&
		    tq_state_model_path(a.model, &bp, &err) != TQ_OK)
			goto fail;
		base.arg = a.base != NULL ? a.base : bp;
		rc = tq_model_open(base.arg, &base.m, &err) != TQ_OK;
		tq_string_free(bp);
		if (rc != 0)
			goto fail;
		base.arg = a.base != NULL ? a.base : tq_model_path(base.m);
		variant_size(&base);
		if (!open_variant(&vs[0], a.model, base.m, &err))
			goto fail;
		n = 1;
	} else {
		if (!open_variant(&vs[0], cli_model_path(a.model), NULL, &err))
			goto fail;
		n = 1;
		if (a.base != NULL) {
			base.arg = a.base;
			if (tq_model_open(a.base, &base.m, &err) != TQ_OK)
				goto fail;
			variant_size(&base);
		} else if (need_base && a.base_logits == NULL) {
			rc = cli_error("eval: %s is not a quantized state: name "
			    "its base with --base MODEL or --base-logits FILE",
			    vs[0].arg);
			goto out;
		}
	}
	if (a.base_logits != NULL) {
		base.arg = a.base_logits;
		need_base = 1;
	}
	for (i = 0; i < n; i++)
		models[i] = vs[i].m;
	/* Without a reason to run the base, a state is evaluated alone. */
	spec.base = (a.compare_mode || need_base) && a.base_logits == NULL ?
	    base.m : NULL;
	spec.models = models;
	spec.n_models = (size_t)n;
	spec.text_path = a.text;
	spec.opts = a.o;
	spec.save_logits = a.save_logits;
	spec.base_logits = a.base_logits;
	spec.long_context = a.long_context;
	spec.tasks_path = a.tasks;
	spec.tasks_limit = a.tasks_limit;
	if (tq_job_validate(&spec, &job, &err) != TQ_OK ||
	    cli_run_job(job, NULL, NULL, &err) != TQ_OK)
		goto fail;
	r = tq_job_validation(job);
	if (a.fmt == OUT_JSON) {
		print_json(&a, &base, vs, n, r);
	} else if (a.compare_mode || (r->has_base && a.fmt == OUT_MARKDOWN)) {
		if (a.text != NULL || a.base_logits != NULL)
			print_table(&a, &base, vs, n, r);
	} else if (a.text != NULL || a.base_logits != NULL) {
		const tq_kld_result *k = &r->models[0];
		const tq_model_config *c = tq_model_get_config(vs[0].m);

		printf("model       %s (%s)%s%s\n", tq_model_path(vs[0].m),
		    tq_arch_name(c->arch), vs[0].state != NULL ?
		    " quantized: " : "", vs[0].state != NULL ? vs[0].arg : "");
		if (r->has_base)
			printf("base        %s\n", a.base_logits != NULL ?
			    a.base_logits : base.arg);
		if (a.text != NULL)
			printf("text        %s (%lld tokens)\n", a.text,
			    (long long)r->n_tokens);
		print_protocol(r, &k->ppl, vs[0].m);
		printf("perplexity  %.4f +/- %.4f\n", k->ppl.ppl,
		    k->ppl.ppl_stderr);
		if (r->has_base) {
			printf("base        %.4f +/- %.4f (%+.2f%%)\n\n",
			    r->base.ppl, r->base.ppl_stderr, pct(k->ppl.ppl,
			    r->base.ppl));
			print_kld_text(k);
		}
		printf("speed       %.1f tokens/s (%.1f s)\n",
		    (double)(k->ppl.n_windows * k->ppl.ctx) *
		    (1 + r->has_base) / r->seconds, r->seconds);
	}
	if (a.fmt != OUT_JSON) {
		if (r->n_longctx > 0)
			print_longctx(&a, r);
		if (r->has_tasks) {
			printf("\ntasks %s\n", a.tasks);
			if (spec.base != NULL)
				printf("  %-32.32s acc %.4f ± %.4f  acc_norm %.4f "
				    "± %.4f  (%lld questions)\n", base.arg,
				    r->base_tasks.acc, r->base_tasks.acc_stderr,
				    r->base_tasks.acc_norm,
				    r->base_tasks.acc_norm_stderr,
				    (long long)r->base_tasks.n);
			for (i = 0; i < n; i++)
				printf("  %-32.32s acc %.4f ± %.4f  acc_norm %.4f "
				    "± %.4f  (%lld questions)\n", vs[i].arg,
				    r->tasks[i].acc, r->tasks[i].acc_stderr,
				    r->tasks[i].acc_norm,
				    r->tasks[i].acc_norm_stderr,
				    (long long)r->tasks[i].n);
		}
		if (a.layers)
			for (i = 0; i < n; i++)
				if (print_layers(&a, &vs[i]) != 0)
					goto out;
	}
	rc = r->has_base ? gate(&a, vs, n, r) : 0;
	goto out;
fail:
	rc = cli_fail(&err);
out:
	tq_job_free(job);
	for (i = 0; i < MAX_VARIANTS; i++)
		variant_close(&vs[i]);
	tq_model_close(base.m);
	return rc;
}
