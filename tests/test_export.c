/*
 * test_export.c: the export job: the report of a finished export, cancel
 * within a second leaving nothing behind, an existing output kept without
 * force and replaced with it, and the format list.
 */
#include "config.h"

#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "tq.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs a job to its end; cancels at the first progress event if asked. */
static tq_event_kind
drain(tq_job *j, int cancel, double *t_cancel)
{
	struct pollfd p = { tq_job_fd(j), POLLIN, 0 };
	tq_event ev;

	for (;;) {
		if (poll(&p, 1, 10000) <= 0)
			return TQ_EVENT_FAILED;
		while (tq_job_poll(j, &ev)) {
			if (ev.kind >= TQ_EVENT_DONE)
				return ev.kind;
			if (cancel && ev.kind == TQ_EVENT_PROGRESS) {
				*t_cancel = now();
				tq_job_cancel(j);
				cancel = 0;
			}
		}
	}
}

static int
n_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return n;
}

int
main(void)
{
	const char *top = getenv("top_srcdir");
	char demo[1024], dir[] = "/tmp/tq-export-XXXXXX", out[1200];
	const char *const *names = tq_export_format_names();
	tq_export_opts o = TQ_EXPORT_OPTS_INIT;
	const tq_export_report *r;
	tq_error err;
	tq_model *m = NULL;
	tq_job *j = NULL;
	double t_cancel = 0;
	struct stat sb;
	FILE *f;
	int has_gguf = 0;
	size_t i;

	tap_plan(12);
	o.format = "gguf";
	o.type = "f32";
	snprintf(demo, sizeof(demo), "%s/assets/demo", top ? top : ".");
	if (mkdtemp(dir) == NULL || tq_model_open(demo, &m, &err) != TQ_OK) {
		tap_ok(0, "open the demo model: %s", err.msg);
		return tap_done();
	}
	snprintf(out, sizeof(out), "%s/demo.gguf", dir);
	for (i = 0; names[i] != NULL; i++)
		has_gguf |= strcmp(names[i], "gguf") == 0;
	tap_ok(has_gguf, "tq_export_format_names lists gguf");

	/* A finished export and its report. */
	tap_ok(tq_job_export(m, NULL, out, &o, &j, &err) == TQ_OK &&
	    drain(j, 0, &t_cancel) == TQ_EVENT_DONE &&
	    tq_job_wait(j, &err) == TQ_OK, "an f32 export finishes");
	r = tq_job_export_report(j);
	tap_ok(r != NULL && r->n_files == 1 && strcmp(r->files[0].path, out) ==
	    0 && stat(out, &sb) == 0 && r->files[0].bytes ==
	    (uint64_t)sb.st_size && r->total_bytes == (uint64_t)sb.st_size,
	    "the report names the file with its size");
	tap_ok(r != NULL && strcmp(r->format, "gguf") == 0 &&
	    strcmp(r->type, "f32") == 0 && r->bpw == 32.0 &&
	    r->warning[0] == '\0', "format gguf, type f32, 32 bits per weight, "
	    "no warning");
	tap_ok(n_entries(dir) == 1, "only the output in its directory");
	tq_job_free(j);
	j = NULL;

	/* Options of another version. */
	o.version = 0;
	tap_ok(tq_job_export(m, NULL, out, &o, &j, &err) == TQ_EINVAL &&
	    j == NULL && strstr(err.msg, "TQ_EXPORT_OPTS_INIT") != NULL,
	    "export options of version 0: %s", err.msg);
	o.version = TQ_EXPORT_OPTS_VERSION;

	/* An existing output. */
	tap_ok(tq_job_export(m, NULL, out, &o, &j, &err) == TQ_EINVAL &&
	    strstr(err.msg, "already exists") != NULL, "an existing output is "
	    "refused: %s", err.msg);
	if ((f = fopen(out, "w")) != NULL) {
		fputs("old", f);
		fclose(f);
	}
	o.force = 1;
	o.type = "q4_k_m";
	tap_ok(tq_job_export(m, NULL, out, &o, &j, &err) == TQ_OK &&
	    drain(j, 0, &t_cancel) == TQ_EVENT_DONE && stat(out, &sb) == 0 &&
	    sb.st_size > 1000 && n_entries(dir) == 1,
	    "with force it is replaced, nothing else left");
	tq_job_free(j);
	j = NULL;

	/* Cancel: stops within a second, the old output untouched. */
	o.type = "f32";
	tap_ok(tq_job_export(m, NULL, out, &o, &j, &err) == TQ_OK &&
	    drain(j, 1, &t_cancel) == TQ_EVENT_CANCELLED,
	    "a cancelled export ends CANCELLED");
	tap_ok(now() - t_cancel < 1.0, "within a second (%.3f s)",
	    now() - t_cancel);
	tap_ok(tq_job_wait(j, &err) == TQ_ECANCELLED &&
	    tq_job_export_report(j) == NULL, "no report after a cancel");
	tap_ok(n_entries(dir) == 1 && stat(out, &sb) == 0 && sb.st_size > 1000 &&
	    sb.st_size < 10000000, "no temporary left, the old output kept");
	tq_job_free(j);
	unlink(out);
	rmdir(dir);
	tq_model_close(m);
	return tap_done();
}
