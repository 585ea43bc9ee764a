/*
 * test_json_oom.c: out of memory while a JSON document is built fails the
 * write: every writer (calibration file, state.json, sensitivity file, the
 * JSON files of the awq, gptq, compressed-tensors, trtllm and mlx exports,
 * the tokenizer.json rebuilt from a GGUF file's vocabulary)
 * has its first, a middle, one of its last few and its last cJSON
 * allocation made to fail, and must report "out of memory" and leave
 * nothing behind.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "gguf_reader.h"
#include "gguf_vocab.h"
#include "qstate.h"
#include "state_file.h"
#include "tap.h"
#include "tq.h"

typedef struct writer {
	const char *what;
	const tq_model *m;
	const tq_calib *calib;
	const tq_sens *sens;
	const tq_qstate *state;
	const tq_qstate *sym;	/* for trtllm: symmetric grids */
	const char *format;	/* an export format, or NULL */
	const char *gguf;	/* rebuild this file's tokenizer, or NULL */
	char out[1100];		/* the file or directory it writes */
	char dir[1100];		/* state.json's directory */
} writer;

/* The tokenizer.json rebuilt from a GGUF file, written to out. */
static tq_status
vocab(const char *gguf, const char *out, tq_error *err)
{
	tq_gguf_file *f = NULL;
	char *json = NULL;
	FILE *fp;
	tq_status st;

	if ((st = tq_gguf_open(gguf, &f, err)) == TQ_OK &&
	    (st = tq_gguf_vocab_to_json(f, &json, err)) == TQ_OK) {
		if ((fp = fopen(out, "w")) == NULL || fputs(json, fp) == EOF ||
		    fclose(fp) != 0)
			st = tq_fail(err, TQ_EIO, "%s: write failed", out);
	}
	free(json);
	tq_gguf_close(f);
	return st;
}

static tq_status
run(const writer *w, tq_error *err)
{
	tq_export_opts o = TQ_EXPORT_OPTS_INIT;
	tq_job *j = NULL;
	tq_status st;

	if (w->calib != NULL)
		return tq_calib_save(w->calib, w->out, err);
	if (w->sens != NULL)
		return tq_sens_save(w->sens, w->out, err);
	if (w->gguf != NULL)
		return vocab(w->gguf, w->out, err);
	if (w->format == NULL)
		return tq_state__save_meta(w->state, w->dir, err);
	o.format = w->format;
	if ((st = tq_job_export(w->m, strcmp(w->format, "trtllm") == 0 ?
	    w->sym : w->state, w->out, &o, &j, err)) ==
	    TQ_OK)
		st = tq_job_wait(j, err);
	tq_job_free(j);
	return st;
}

static void
remove_out(const char *path)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", path);
}

/* A clean run counts the allocations; then four of them fail. */
static void
inject(const writer *w)
{
	unsigned long a0 = tq_json__allocs(), total;
	long pick[4];
	tq_error err = { TQ_OK, "" };
	tq_status st;
	int i;

	remove_out(w->out);
	st = run(w, &err);
	total = tq_json__allocs() - a0;
	if (st == TQ_EUNSUPPORTED) {
		tap_skip(err.msg, "%s", w->what);
		return;
	}
	tap_ok(st == TQ_OK && access(w->out, F_OK) == 0 && total > 0,
	    "%s: written with %lu cJSON allocations %s", w->what, total,
	    st == TQ_OK ? "" : err.msg);
	remove_out(w->out);
	pick[0] = 1;
	pick[1] = (long)total / 2 + 1;
	pick[2] = total > 20 ? (long)total - 10 : 1;	/* the last document */
	pick[3] = (long)total;
	for (i = 0; i < 4; i++) {
		err.msg[0] = '\0';
		tq_json__fail_alloc(pick[i]);
		st = run(w, &err);
		tq_json__fail_alloc(0);
		tap_ok(st == TQ_ENOMEM && strstr(err.msg, "out of memory") !=
		    NULL && access(w->out, F_OK) != 0, "%s: allocation %ld of "
		    "%lu fails: %s", w->what, pick[i], total, st == TQ_OK ?
		    "reported success" : err.msg);
		remove_out(w->out);
	}
}

/* The demo model quantized by RTN on grid scheme, in dir. */
static tq_qstate *
quantize(const tq_model *m, const char *scheme, const char *dir)
{
	tq_error err = { TQ_OK, "" };
	tq_layer_cfg cfg;
	tq_scheme sch;
	tq_plan *plan = NULL;
	tq_job *j = NULL;
	tq_qstate *s = NULL;

	if (tq_scheme_parse(scheme, &sch, &err) == TQ_OK) {
		tq_layer_cfg_init(&cfg, TQ_METHOD_RTN, &sch);
		if (tq_plan_new(&cfg, &plan, &err) == TQ_OK &&
		    tq_job_quantize(m, plan, NULL, dir, 0, &j, &err) == TQ_OK &&
		    tq_job_wait(j, &err) == TQ_OK)
			s = tq_job_take_state(j);
	}
	if (s == NULL)
		tap_ok(0, "setup: quantize on %s: %s", scheme, err.msg);
	tq_job_free(j);
	tq_plan_free(plan);
	return s;
}

/* The exports that write JSON files. */
static const char *const formats[] = {
	"awq", "gptq", "compressed-tensors", "trtllm", "mlx"
};

int
main(void)
{
	static const char *const menu[] = { "rtn:int4-g128" };
	const char *top = getenv("top_srcdir");
	char demo[1024], text[1024], tmp[] = "/tmp/tq-json-oom-XXXXXX";
	char qdir[1100], sdir[1100], gguf[1100];
	tq_export_opts go = TQ_EXPORT_OPTS_INIT;
	tq_calib_opts co = TQ_CALIB_OPTS_INIT;
	tq_error err = { TQ_OK, "" };
	tq_model *m = NULL;
	tq_calib *calib = NULL;
	tq_sens *sens = NULL;
	tq_qstate *state = NULL, *sym = NULL;
	tq_job *j = NULL;
	writer w;
	size_t i;

	top = top != NULL ? top : ".";
	snprintf(demo, sizeof(demo), "%s/assets/demo", top);
	snprintf(text, sizeof(text), "%s/README.md", top);
	co.n_samples = 4;
	co.seqlen = 64;
	go.format = "gguf";
	go.type = "f32";
	if (mkdtemp(tmp) == NULL || tq_model_open(demo, &m, &err) != TQ_OK ||
	    tq_calib_sample(m, text, &co, &calib, &err) != TQ_OK ||
	    tq_calib_run(calib, m, NULL, NULL, &err) != TQ_OK ||
	    tq_job_sensitivity(m, calib, menu, 1, 0, &j, &err) != TQ_OK ||
	    tq_job_wait(j, &err) != TQ_OK ||
	    (sens = tq_job_take_sens(j)) == NULL) {
		tap_ok(0, "setup: %s", err.msg);
		return tap_done();
	}
	tq_job_free(j);
	snprintf(qdir, sizeof(qdir), "%s/q", tmp);
	snprintf(sdir, sizeof(sdir), "%s/qs", tmp);
	if ((state = quantize(m, "int4-g128", qdir)) == NULL ||
	    (sym = quantize(m, "int4-g128-sym", sdir)) == NULL)
		return tap_done();

	memset(&w, 0, sizeof(w));
	w.m = m;
	w.what = "calibration file";
	w.calib = calib;
	snprintf(w.out, sizeof(w.out), "%s/calib.safetensors", tmp);
	inject(&w);
	w.calib = NULL;
	w.what = "sensitivity file";
	w.sens = sens;
	snprintf(w.out, sizeof(w.out), "%s/sens.json", tmp);
	inject(&w);
	w.sens = NULL;
	w.what = "state.json";
	w.state = state;
	w.sym = sym;
	snprintf(w.dir, sizeof(w.dir), "%s/s", tmp);
	snprintf(w.out, sizeof(w.out), "%s/s/state.json", tmp);
	if (mkdir(w.dir, 0777) != 0)
		tap_diag("mkdir %s failed", w.dir);
	inject(&w);
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		w.what = w.format = formats[i];
		snprintf(w.out, sizeof(w.out), "%s/export-%s", tmp, formats[i]);
		inject(&w);
	}
	/* A float GGUF of the demo, its vocabulary rebuilt as JSON. */
	snprintf(gguf, sizeof(gguf), "%s/demo.gguf", tmp);
	if (tq_job_export(m, NULL, gguf, &go, &j, &err) != TQ_OK ||
	    tq_job_wait(j, &err) != TQ_OK)
		tap_ok(0, "setup: GGUF export: %s", err.msg);
	tq_job_free(j);
	w.format = NULL;
	w.state = NULL;
	w.what = "tokenizer rebuilt from GGUF";
	w.gguf = gguf;
	snprintf(w.out, sizeof(w.out), "%s/tokenizer.json", tmp);
	inject(&w);

	tq_state_free(state);
	tq_state_free(sym);
	tq_sens_free(sens);
	tq_calib_free(calib);
	tq_model_close(m);
	remove_out(tmp);
	return tap_done();
}
