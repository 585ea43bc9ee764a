/*
 * engine/calibrate.c: the calibrate job: samples the text, runs the model
 * over it gathering each linear input's statistics (core/calib.c) and
 * saves them when asked (formats/calib_file.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "error.h"
#include "job.h"

typedef struct calib_job {
	const tq_model *m;
	char *text_path;
	char *save_path;	/* or NULL */
	tq_calib_opts o;
} calib_job;

static void
calib_job_free(void *p)
{
	calib_job *c = p;

	free(c->text_path);
	free(c->save_path);
	free(c);
}

static void
calib_free_void(void *p)
{
	tq_calib_free(p);
}

static tq_status
calib_job_run(tq_job *j, void *p, tq_error *err)
{
	calib_job *cj = p;
	tq_calib *c = NULL;
	tq_status st;

	tq_job__stage(j, "sample");
	if ((st = tq_calib_sample(cj->m, cj->text_path, &cj->o, &c, err)) !=
	    TQ_OK)
		return st;
	tq_job__set_result(j, TQ_RESULT_CALIB, c, calib_free_void);
	tq_job__log(j, "%lld samples of %lld tokens from %s",
	    (long long)c->n_samples, (long long)c->seqlen, cj->text_path);
	if ((st = tq_calib_run(c, cj->m, tq_job__progress_cb, j, err)) != TQ_OK)
		return st;
	if (cj->save_path != NULL) {
		tq_job__stage(j, "save");
		if ((st = tq_calib_save(c, cj->save_path, err)) != TQ_OK)
			return st;
		tq_job__log(j, "statistics saved to %s", cj->save_path);
	}
	return TQ_OK;
}

tq_status
tq_job_calibrate(const tq_model *m, const char *text_path,
    const tq_calib_opts *o, const char *save_path, tq_job **out,
    tq_error *err)
{
	calib_job *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL || (c->text_path = strdup(text_path)) == NULL ||
	    (save_path != NULL && (c->save_path = strdup(save_path)) == NULL)) {
		if (c != NULL)
			calib_job_free(c);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	c->m = m;
	if (o != NULL)
		c->o = *o;
	return tq_job__start(calib_job_run, c, calib_job_free, out, err);
}

tq_calib *
tq_job_take_calib(tq_job *j)
{
	return tq_job__take_result(j, TQ_RESULT_CALIB);
}
