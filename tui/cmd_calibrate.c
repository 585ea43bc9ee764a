/*
 * cmd_calibrate.c: `turboquant calibrate`: activation statistics of every
 * linear input on calibration text, saved for quantization and shown as a
 * table of outlier channels.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The channels shown: the largest, with their ratio to the median. */
#define OUTLIERS_SHOWN 3

static const char *
site_label(const tq_site_stats *s, char *buf, size_t len)
{
	if (s->layer < 0)
		snprintf(buf, len, "lm_head");
	else
		snprintf(buf, len, "%d.%s", s->layer,
		    s->site == TQ_LINEAR_Q ? "q/k/v" :
		    s->site == TQ_LINEAR_GATE ? "gate/up" :
		    tq_linear_name(s->site));
	return buf;
}

static float
site_max(const tq_site_stats *s)
{
	float m = 0.0f;
	int64_t j;

	for (j = 0; j < s->channels; j++)
		if (s->absmax[j] > m)
			m = s->absmax[j];
	return m;
}

static void
print_sites(const tq_calib *c, int json)
{
	tq_outlier out[OUTLIERS_SHOWN];
	char label[64];
	size_t i, k, n;

	if (!json)
		printf("%-12s %8s %10s %10s  %s\n", "input of", "channels",
		    "absmax", "mean x^2", "largest channels (absmax / median)");
	for (i = 0; i < tq_calib_n_sites(c); i++) {
		const tq_site_stats *s = tq_calib_site(c, i);
		double msq = 0.0;
		int64_t j;

		for (j = 0; j < s->channels; j++)
			msq += s->mean_sq[j];
		msq /= (double)(s->channels > 0 ? s->channels : 1);
		/* a routed block's down inputs are its experts' (below) */
		if (!json && s->site == TQ_LINEAR_DOWN &&
		    tq_calib_n_experts(c, s->layer) > 0)
			continue;
		n = tq_calib_outliers(s, 0.0, out, OUTLIERS_SHOWN);
		site_label(s, label, sizeof(label));
		if (json) {
			printf("%s{\"layer\":%d,\"input_of\":\"%s\","
			    "\"channels\":%lld,\"n_tokens\":%lld,"
			    "\"absmax\":%.6g,\"mean_sq\":%.6g,\"top_channels\":[",
			    i ? "," : "", s->layer, tq_linear_name(s->site),
			    (long long)s->channels, (long long)s->n_tokens,
			    site_max(s), msq);
			for (k = 0; k < n; k++)
				printf("%s{\"channel\":%lld,\"absmax\":%.6g,"
				    "\"ratio\":%.4g}", k ? "," : "",
				    (long long)out[k].channel, out[k].absmax,
				    out[k].ratio);
			printf("]}");
			continue;
		}
		printf("%-12s %8lld %10.4g %10.4g  ", label,
		    (long long)s->channels, site_max(s), msq);
		for (k = 0; k < n; k++)
			printf("%s#%lld %.1fx", k ? ", " : "",
			    (long long)out[k].channel, out[k].ratio);
		printf(n == 0 ? "-\n" : "\n");
	}
}

/*
 * A mixture of experts' coverage: the tokens the router sent each expert
 * of each routed block, with the fewest and most, and how many experts
 * fall below the widths under which quantize calibrates an expert's
 * linears on all of the block's tokens.
 */
static void
print_experts(const tq_calib *c, const tq_model *m, int json)
{
	const tq_model_config *cfg = tq_model_get_config(m);
	int64_t N = tq_calib_n_samples(c) * tq_calib_seqlen(c), t;
	int li, e, ne, first = 1;

	for (li = 0; li < (int)cfg->n_layers; li++) {
		int64_t lo = -1, hi = -1;
		int elo = 0, ehi = 0, few_in = 0, few_down = 0;

		if ((ne = tq_calib_n_experts(c, li)) == 0)
			continue;
		if (json) {
			printf("%s{\"layer\":%d,\"tokens\":[", first ? "" : ",",
			    li);
			for (e = 0; e < ne; e++)
				printf("%s%lld", e ? "," : "", (long long)
				    tq_calib_expert_tokens(c, li, e));
			printf("]}");
			first = 0;
			continue;
		}
		if (first)
			printf("\nexperts' tokens (of %lld, each routed to "
			    "%lld):\n",
			    (long long)N, (long long)cfg->n_experts_used);
		first = 0;
		for (e = 0; e < ne; e++) {
			t = tq_calib_expert_tokens(c, li, e);
			if (lo < 0 || t < lo) {
				lo = t;
				elo = e;
			}
			if (t > hi) {
				hi = t;
				ehi = e;
			}
			few_in += t < cfg->hidden_size;
			few_down += t < cfg->moe_inter;
		}
		printf("%d.experts    %d experts, %lld (#%d) to %lld (#%d); %d "
		    "below the hidden size %lld, %d below the expert width "
		    "%lld\n", li, ne, (long long)lo, elo, (long long)hi, ehi,
		    few_in, (long long)cfg->hidden_size, few_down,
		    (long long)cfg->moe_inter);
		for (e = 0; e < ne; e++)
			printf("%s%6lld%s", e % 12 == 0 ? "  " : " ", (long long)
			    tq_calib_expert_tokens(c, li, e), e % 12 == 11 ||
			    e + 1 == ne ? "\n" : "");
	}
}

int
cmd_calibrate(int argc, char **argv)
{
	const char *model = NULL, *outp = NULL, *imat = NULL, *file;
	cli_calib co = CLI_CALIB_INIT;
	tq_error err = { TQ_OK, "" };
	cli_progress prog;
	tq_model *m = NULL;
	tq_calib *c = NULL;
	int json = 0, i, k, rc = 1;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (strcmp(a, "--imatrix") == 0) {
			if ((imat = next) == NULL)
				return cli_error("calibrate: --imatrix needs a path");
			i++;
		} else if (strcmp(a, "--out") == 0) {
			if ((outp = next) == NULL)
				return cli_error("calibrate: --out needs a path");
			i++;
		} else if ((k = cli_calib_option(a, next, &co)) != 0) {
			if (k < 0)
				return 1;
			i++;
		} else if (strcmp(a, "--help") == 0) {
			cli_usage(stdout, "calibrate");
			return 0;
		} else if (a[0] == '-') {
			return cli_error("calibrate: unknown option %s", a);
		} else if (model == NULL) {
			model = a;
		} else {
			return cli_error("calibrate: unexpected argument \"%s\"", a);
		}
	}
	if (co.n_texts == 0)
		return cli_error("calibrate: no calibration text (use --calib "
		    "FILE)");
	file = cli_calib_names(&co);
	if (tq_model_open(cli_model_path(model), &m, &err) != TQ_OK)
		return cli_fail(&err);
	if (cli_calib_sample(m, &co, &c, &err) != TQ_OK)
		goto fail;
	cli_progress_start(&prog, "calibrate");
	if (tq_calib_run(c, m, cli_progress_cb, &prog, &err) != TQ_OK) {
		cli_progress_end(&prog);
		goto fail;
	}
	cli_progress_end(&prog);
	if (outp != NULL && tq_calib_save(c, outp, &err) != TQ_OK)
		goto fail;
	if (imat != NULL && tq_calib_save_imatrix(c, imat, file, &err) != TQ_OK)
		goto fail;
	if (json) {
		printf("{\"model\":");
		cli_json_string(stdout, tq_model_path(m));
		printf(",\"text\":");
		cli_json_string(stdout, file);
		printf(",\"samples\":%lld,\"seqlen\":%lld,\"seed\":%llu,"
		    "\"out\":", (long long)tq_calib_n_samples(c),
		    (long long)tq_calib_seqlen(c), (unsigned long long)co.o.seed);
		if (outp != NULL)
			cli_json_string(stdout, outp);
		else
			printf("null");
		printf(",\"sites\":[");
		print_sites(c, 1);
		printf("],\"experts\":[");
		print_experts(c, m, 1);
		printf("]}\n");
	} else {
		printf("calibrated %s on %s: %lld samples of %lld tokens "
		    "(seed %llu)\n\n", tq_model_path(m), file,
		    (long long)tq_calib_n_samples(c),
		    (long long)tq_calib_seqlen(c), (unsigned long long)co.o.seed);
		print_sites(c, 0);
		print_experts(c, m, 0);
		if (outp != NULL)
			printf("\nstatistics saved to %s\n", outp);
		if (imat != NULL)
			printf("importance matrix (GGUF) saved to %s\n", imat);
	}
	rc = 0;
	goto out;
fail:
	rc = cli_fail(&err);
out:
	tq_calib_free(c);
	tq_model_close(m);
	return rc;
}
