/*
 * cmd_export.c: `turboquant export`: a quantized state (or a float model)
 * written in a deployment format, on the engine's worker thread, with a
 * progress bar on a terminal and a report of the files written.  Ctrl-C
 * cancels and leaves nothing behind.  quantize --export uses the same
 * runner (cli_export_run).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void
human_bytes(uint64_t b, char *buf, size_t len)
{
	if (b >= (uint64_t)1 << 30)
		snprintf(buf, len, "%.2f GiB", (double)b / (1 << 30));
	else if (b >= (uint64_t)1 << 20)
		snprintf(buf, len, "%.2f MiB", (double)b / (1 << 20));
	else if (b >= 1024)
		snprintf(buf, len, "%.1f KiB", (double)b / 1024);
	else
		snprintf(buf, len, "%llu B", (unsigned long long)b);
}

void
cli_export_print(const tq_export_report *r, int json)
{
	char hb[32];
	size_t i;

	if (json) {
		printf("{\"format\":");
		cli_json_string(stdout, r->format);
		printf(",\"type\":");
		cli_json_string(stdout, r->type);
		printf(",\"files\":[");
		for (i = 0; i < r->n_files; i++) {
			printf("%s{\"path\":", i ? "," : "");
			cli_json_string(stdout, r->files[i].path);
			printf(",\"bytes\":%llu}",
			    (unsigned long long)r->files[i].bytes);
		}
		printf("],\"total_bytes\":%llu,\"bpw\":%.4f,\"warning\":",
		    (unsigned long long)r->total_bytes, r->bpw);
		if (r->warning[0] != '\0')
			cli_json_string(stdout, r->warning);
		else
			printf("null");
		printf("}\n");
		return;
	}
	printf("format      %s (%s)\n", r->format, r->type);
	for (i = 0; i < r->n_files; i++) {
		human_bytes(r->files[i].bytes, hb, sizeof(hb));
		printf("wrote       %s  %s (%llu bytes)\n", r->files[i].path, hb,
		    (unsigned long long)r->files[i].bytes);
	}
	human_bytes(r->total_bytes, hb, sizeof(hb));
	printf("total       %s\n", hb);
	printf("bits/weight %.4f (quantized layers, scales included)\n",
	    r->bpw);
	if (r->warning[0] != '\0')
		printf("warning     %s\n", r->warning);
}

int
cli_export_run(const tq_model *base, const tq_qstate *s, const char *out,
    const tq_export_opts *o, int json, tq_export_report *keep)
{
	tq_error err = { TQ_OK, "" };
	tq_job *job = NULL;
	int rc;

	if (tq_job_export(base, s, out, o, &job, &err) != TQ_OK)
		return cli_fail(&err);
	if (cli_run_job(job, json ? NULL : cli_print_log, NULL, &err) !=
	    TQ_OK) {
		rc = cli_fail(&err);
	} else {
		if (json && keep != NULL)
			*keep = *tq_job_export_report(job);
		else
			cli_export_print(tq_job_export_report(job), json);
		rc = 0;
	}
	tq_job_free(job);
	return rc;
}

int
cli_export_spec(const char *spec, int force, char *fmt, size_t len,
    const char **path)
{
	const char *colon = strchr(spec, ':'), *writes, *types;

	if (colon == NULL || colon == spec || colon[1] == '\0') {
		cli_error("quantize: --export \"%s\" is not FORMAT:PATH (e.g. "
		    "gguf:model.gguf)", spec);
		return 0;
	}
	snprintf(fmt, len, "%.*s", (int)(colon - spec), spec);
	if (!tq_export_format_info(fmt, &writes, &types)) {
		cli_error("quantize: --export: unknown format \"%s\" (see "
		    "turboquant help export)", fmt);
		return 0;
	}
	*path = colon + 1;
	if (!force && access(*path, F_OK) == 0) {
		cli_error("quantize: --export: %s already exists (use --force "
		    "to replace it)", *path);
		return 0;
	}
	return 1;
}

int
cmd_export(int argc, char **argv)
{
	const char *model = NULL, *out = NULL;
	tq_export_opts o = TQ_EXPORT_OPTS_INIT;
	tq_error err = { TQ_OK, "" };
	tq_model *base = NULL;
	tq_qstate *state = NULL;
	char *base_path = NULL;
	int json = 0, i, rc;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (strcmp(a, "--force") == 0) {
			o.force = 1;
		} else if (strcmp(a, "--format") == 0 || strcmp(a, "--type") == 0 ||
		    strcmp(a, "--out") == 0 || strcmp(a, "--imatrix") == 0) {
			if (next == NULL)
				return cli_error("export: %s needs a value", a);
			if (a[2] == 'f')
				o.format = next;
			else if (a[2] == 't')
				o.type = next;
			else if (a[2] == 'i')
				o.imatrix = next;
			else
				out = next;
			i++;
		} else if (strcmp(a, "--help") == 0) {
			cli_usage(stdout, "export");
			return 0;
		} else if (a[0] == '-') {
			return cli_error("export: unknown option %s", a);
		} else if (model == NULL) {
			model = a;
		} else {
			return cli_error("export: unexpected argument \"%s\"", a);
		}
	}
	if (o.format == NULL)
		return cli_error("export: no format (use --format F; see "
		    "turboquant help export)");
	if (out == NULL)
		return cli_error("export: no output path (use --out PATH)");
	if (model != NULL && tq_state_is_dir(model)) {
		if (tq_state_model_path(model, &base_path, &err) != TQ_OK ||
		    tq_model_open(base_path, &base, &err) != TQ_OK ||
		    tq_state_load(model, base, &state, &err) != TQ_OK) {
			rc = cli_fail(&err);
			goto out;
		}
	} else if (tq_model_open(cli_model_path(model), &base, &err) != TQ_OK) {
		rc = cli_fail(&err);
		goto out;
	}
	rc = cli_export_run(base, state, out, &o, json, NULL);
out:
	tq_state_free(state);
	tq_model_close(base);
	tq_string_free(base_path);
	return rc;
}
