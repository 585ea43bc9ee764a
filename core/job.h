/*
 * job.h: the worker side of jobs (internal; the front-end side is in tq.h).
 *
 * A job function runs on the worker thread.  It reports through
 * tq_job__stage/progress/log/layer, checks tq_job__cancelled() (or passes
 * tq_job__cancel_flag() down to the forward pass) and returns a status; the
 * job then posts DONE, FAILED or CANCELLED by itself.
 */
#ifndef TQ_CORE_JOB_H
#define TQ_CORE_JOB_H

#include "tq.h"

typedef tq_status (*tq_job_fn)(tq_job *j, void *ctx, tq_error *err);

/*
 * Starts fn(j, ctx) on a new thread.  ctx is owned by the job and released
 * with ctx_free (may be NULL) when the job is freed.
 */
tq_status tq_job__start(tq_job_fn fn, void *ctx, void (*ctx_free)(void *),
    tq_job **out, tq_error *err);

/* Begins a named stage (resets the ETA clock). */
void tq_job__stage(tq_job *j, const char *name);
/* Reports done/total of the stage (at most ~10 events a second). */
void tq_job__progress(tq_job *j, int64_t done, int64_t total);
/* Posts a log line. */
void tq_job__log(tq_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Posts a finished layer. */
void tq_job__layer(tq_job *j, const tq_layer_result *r);
/* Non-zero once the front end asked to cancel. */
int tq_job__cancelled(const tq_job *j);
/* The flag itself, for tq_forward_opts.cancel. */
const int *tq_job__cancel_flag(const tq_job *j);
/*
 * A tq_progress_cb that forwards to the job (ud = the job): a new stage
 * name starts a stage; returns non-zero when cancelled.
 */
int tq_job__progress_cb(void *ud, const tq_progress *p);

/*
 * The job's ctx if it runs fn (so a call on one kind of job finds its
 * own state), else NULL; the ctx lives until the job is freed.
 */
void *tq_job__ctx(const tq_job *j, tq_job_fn fn);

/* The job's result object, kept until freed with free_fn. */
void tq_job__set_result(tq_job *j, int kind, void *result,
    void (*free_fn)(void *));
/* The result if its kind matches, else NULL. */
void *tq_job__result(const tq_job *j, int kind);
/*
 * Takes ownership of the result of a job that ended well (kind must
 * match), else NULL.
 */
void *tq_job__take_result(tq_job *j, int kind);

/* Result kinds. */
enum {
	TQ_RESULT_CALIB = 1,
	TQ_RESULT_PPL,
	TQ_RESULT_QUANT,
	TQ_RESULT_SENS,			/* core/sens.c */
	TQ_RESULT_EXPORT = 16,		/* formats/export.c */
	TQ_RESULT_VALIDATION = 32	/* eval/validate.c */
};

#endif /* TQ_CORE_JOB_H */
