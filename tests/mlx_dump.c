/*
 * mlx_dump.c: drives the MLX exporter and dumps what tests/export_mlx.py
 * compares mlx-lm against.
 *
 *   mlx_dump export MODEL STATE|- OUT [TYPE]
 *       runs tq_export_mlx as a job into OUT.tmp-PID and renames it to OUT
 *       (an existing OUT is refused; a failure leaves nothing), then prints
 *       the report: "type T", "bpw X", "warning W".
 *   mlx_dump logits MODEL STATE|- IDS OUT.f32
 *       our logits [n, V] (fp32) of the comma-separated ids IDS with the
 *       state applied.
 *   mlx_dump dequant MODEL STATE OUT.safetensors
 *       every quantized layer's dequantized weight (F32), by layer path.
 *
 * STATE "-" means the float model.  $MLX_DUMP_SHARD_BYTES lowers the shard
 * size (tq_export_mlx__shard_bytes) so a small model is written in shards.  Errors: one line on stderr, status 1.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "export.h"
#include "export_mlx.h"
#include "fileio.h"
#include "job.h"
#include "qstate.h"
#include "safetensors.h"

typedef struct dump {
	tq_model *base, *model;	/* model: base with the state applied */
	tq_qstate *state;
} dump;

static int
fail(const tq_error *err)
{
	fprintf(stderr, "mlx_dump: %s\n", err->msg);
	return 1;
}

static tq_status
dump_open(dump *d, const char *model, const char *state, tq_error *err)
{
	tq_status st;

	memset(d, 0, sizeof(*d));
	if ((st = tq_model_open(model, &d->base, err)) != TQ_OK)
		return st;
	if (strcmp(state, "-") == 0) {
		d->model = d->base;
		return TQ_OK;
	}
	if ((st = tq_state_load(state, d->base, &d->state, err)) != TQ_OK)
		return st;
	return tq_model_apply_state(d->base, d->state, &d->model, err);
}

static void
dump_close(dump *d)
{
	if (d->model != d->base)
		tq_model_close(d->model);
	tq_state_free(d->state);
	tq_model_close(d->base);
}

/* Removes a flat directory of files (what a failed export left). */
static void
remove_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *de;

	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		char *f;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((f = tq_path_join(path, de->d_name)) != NULL)
			unlink(f);
		free(f);
	}
	closedir(dir);
	rmdir(path);
}

static tq_status
export_job(tq_job *j, void *ctx, tq_error *err)
{
	tq_export_ctx *x = ctx;

	x->job = j;
	return tq_export_mlx(x, err);
}

static int
cmd_export(int argc, char **argv)
{
	tq_export_report report;
	tq_export_ctx x;
	tq_error err;
	tq_job *job = NULL;
	tq_event ev;
	char tmp[4096];
	struct stat sb;
	dump d;
	int rc = 1;

	if (argc < 5)
		return 2;
	if (stat(argv[4], &sb) == 0) {
		fprintf(stderr, "mlx_dump: %s: already exists\n", argv[4]);
		return 1;
	}
	if (dump_open(&d, argv[2], argv[3], &err) != TQ_OK) {
		dump_close(&d);
		return fail(&err);
	}
	if (getenv("MLX_DUMP_SHARD_BYTES") != NULL)
		tq_export_mlx__shard_bytes = strtoull(
		    getenv("MLX_DUMP_SHARD_BYTES"), NULL, 10);
	snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", argv[4], (long)getpid());
	tq_error_clear(&err);
	memset(&report, 0, sizeof(report));
	memset(&x, 0, sizeof(x));
	x.base = d.base;
	x.model = d.model;
	x.state = d.state;
	x.out = tmp;
	x.type = argc > 5 ? argv[5] : NULL;
	x.report = &report;
	if (tq_job__start(export_job, &x, NULL, &job, &err) == TQ_OK) {
		tq_job_wait(job, &err);
		while (tq_job_poll(job, &ev))
			if (ev.kind == TQ_EVENT_LOG)
				fprintf(stderr, "mlx_dump: %s\n", ev.text);
		if (err.status == TQ_OK && rename(tmp, argv[4]) != 0)
			tq_fail(&err, TQ_EIO, "%s: cannot rename: %s", argv[4],
			    strerror(errno));
	}
	tq_job_free(job);
	if (err.status != TQ_OK) {
		remove_dir(tmp);
		fail(&err);
	} else {
		printf("type %s\nbpw %.4f\nwarning %s\n", report.type,
		    report.bpw, report.warning);
		rc = 0;
	}
	dump_close(&d);
	return rc;
}

static int
cmd_logits(int argc, char **argv)
{
	int32_t ids[4096];
	int64_t n = 0, V;
	char *s, *end;
	float *logits;
	tq_error err;
	FILE *f;
	dump d;
	int rc = 1;

	if (argc < 6)
		return 2;
	for (s = argv[4]; *s != '\0' && n < 4096; s = *end ? end + 1 : end) {
		ids[n++] = (int32_t)strtol(s, &end, 10);
		if (end == s)
			return 2;
	}
	if (dump_open(&d, argv[2], argv[3], &err) != TQ_OK) {
		dump_close(&d);
		return fail(&err);
	}
	V = tq_model_get_config(d.model)->vocab_size;
	logits = malloc((size_t)(n * V) * sizeof(float));
	if (logits == NULL) {
		tq_fail(&err, TQ_ENOMEM, "out of memory");
		fail(&err);
	} else if (tq_forward(d.model, ids, n, NULL, logits, &err) != TQ_OK) {
		fail(&err);
	} else if ((f = fopen(argv[5], "wb")) == NULL ||
	    fwrite(logits, sizeof(float), (size_t)(n * V), f) !=
	    (size_t)(n * V) || fclose(f) != 0) {
		fprintf(stderr, "mlx_dump: %s: cannot write\n", argv[5]);
	} else {
		rc = 0;
	}
	free(logits);
	dump_close(&d);
	return rc;
}

static int
cmd_dequant(int argc, char **argv)
{
	tq_st_writer *w = NULL;
	float **bufs;
	tq_error err;
	size_t i, n;
	dump d;
	int rc = 1;

	if (argc < 5)
		return 2;
	if (strcmp(argv[3], "-") == 0)
		return 2;
	if (dump_open(&d, argv[2], argv[3], &err) != TQ_OK) {
		dump_close(&d);
		return fail(&err);
	}
	n = d.state->n;
	bufs = calloc(n, sizeof(*bufs));
	if (bufs == NULL || tq_st_writer_new(&w, &err) != TQ_OK)
		goto out;
	for (i = 0; i < n; i++) {
		const tq_qtensor *qt = &d.state->layers[i].qt;
		int64_t shape[2] = { qt->rows, qt->cols };

		if (d.state->layers[i].cfg.method == TQ_METHOD_FLOAT)
			continue;
		bufs[i] = malloc((size_t)(qt->rows * qt->cols) * sizeof(float));
		if (bufs[i] == NULL)
			goto out;
		tq_qtensor_dequant(qt, bufs[i]);
		if (tq_st_writer_add(w, tq_model_linear_name(d.base, i),
		    TQ_DTYPE_F32, 2, shape, bufs[i], &err) != TQ_OK)
			goto out;
	}
	if (tq_st_writer_write(w, argv[4], &err) == TQ_OK)
		rc = 0;
out:
	if (rc != 0)
		fail(&err);
	tq_st_writer_free(w);
	for (i = 0; bufs != NULL && i < n; i++)
		free(bufs[i]);
	free(bufs);
	dump_close(&d);
	return rc;
}

int
main(int argc, char **argv)
{
	int rc = 2;

	/* A full disk simulated with ulimit -f: EFBIG, not death. */
	signal(SIGXFSZ, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], "export") == 0)
		rc = cmd_export(argc, argv);
	else if (argc > 1 && strcmp(argv[1], "logits") == 0)
		rc = cmd_logits(argc, argv);
	else if (argc > 1 && strcmp(argv[1], "dequant") == 0)
		rc = cmd_dequant(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: mlx_dump export MODEL STATE|- OUT [TYPE]"
		    " | logits MODEL STATE|- IDS OUT.f32 | dequant MODEL STATE "
		    "OUT.safetensors\n");
	return rc;
}
