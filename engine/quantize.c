/*
 * engine/quantize.c: the quantize job.  It runs the pipeline
 * (core/quantize.c) under a lock on the state directory and saves each
 * block there as it finishes (formats/state_file.c), so a killed run
 * resumes where it stopped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "job.h"
#include "qstate.h"
#include "formats/state_file.h"

typedef struct quant_job {
	const tq_model *m;
	const tq_plan *plan;
	const tq_calib *calib;
	char *out_dir;
	int resume;
	int run_flags;		/* TQ_QUANTIZE_SEQUENTIAL, _RECOMPUTE */
	int lock_fd;		/* out_dir/quantize.lock, flock'ed; -1: none */
} quant_job;

static void
quant_job_free(void *p)
{
	quant_job *q = p;

	if (q->lock_fd >= 0)
		close(q->lock_fd);	/* releases the flock */
	free(q->out_dir);
	free(q);
}

/*
 * Takes out_dir's lock (creating the directory), so two runs never
 * interleave their blocks in one state.  The file stays: removing a
 * locked file would let a third run lock a new one beside it.
 */
static tq_status
quant_lock(quant_job *q, const char *dir, tq_error *err)
{
	char *path;
	int en;

	if (!tq_is_dir(dir) && mkdir(dir, 0777) != 0 && errno != EEXIST)
		return tq_fail(err, TQ_EIO, "%s: cannot create the state "
		    "directory: %s", dir, strerror(errno));
	if ((path = tq_path_join(dir, "quantize.lock")) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	q->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	en = errno;
	free(path);
	if (q->lock_fd < 0)
		return tq_fail(err, TQ_EIO, "%s: cannot create its lock file: %s",
		    dir, strerror(en));
	if (flock(q->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		en = errno;
		close(q->lock_fd);
		q->lock_fd = -1;
		if (en == EWOULDBLOCK)
			return tq_fail(err, TQ_EINVAL, "%s: another quantize run "
			    "holds its lock (quantize.lock); wait for it to "
			    "finish", dir);
		return tq_fail(err, TQ_EIO, "%s: cannot lock quantize.lock: %s",
		    dir, strerror(en));
	}
	return TQ_OK;
}

static void
qstate_free_void(void *p)
{
	tq_state_free(p);
}

/* Saves block li (-1: the head) and state.json as each finishes. */
static tq_status
quant_save(void *ud, const tq_qstate *s, int64_t li, tq_error *err)
{
	const quant_job *q = ud;
	tq_status st;

	if (q->out_dir == NULL)
		return TQ_OK;
	if ((st = tq_state__save_block(s, q->out_dir, li, err)) != TQ_OK)
		return st;
	return tq_state__save_meta(s, q->out_dir, err);
}

static tq_status
quant_job_run(tq_job *j, void *p, tq_error *err)
{
	quant_job *q = p;
	tq_qstate *state = NULL;
	tq_status st;

	tq_job__stage(j, "prepare");
	if ((st = tq_state__new(q->m, q->plan, q->calib, &state, err)) != TQ_OK)
		return st;
	tq_job__set_result(j, TQ_RESULT_QUANT, state, qstate_free_void);
	if (q->out_dir != NULL)
		tq_state__clean_temps(q->out_dir);
	if (q->out_dir != NULL && !q->resume &&
	    (st = tq_state__remove(q->out_dir, err)) != TQ_OK)
		return st;
	if (q->resume && q->out_dir != NULL && !tq_state_is_dir(q->out_dir)) {
		/* Killed before its first block was recorded. */
		tq_job__log(j, "%s holds no finished block: starting from the "
		    "first", q->out_dir);
	} else if (q->resume && q->out_dir != NULL) {
		if ((st = tq_state__read(state, q->out_dir, err)) != TQ_OK)
			return st;
		tq_job__log(j, "resuming after %lld finished blocks",
		    (long long)state->blocks_done);
	}
	return tq_quantize__run(j, q->m, q->calib, state, q->run_flags,
	    quant_save, q, err);
}

tq_status
tq_job_quantize(const tq_model *m, const tq_plan *plan, const tq_calib *calib,
    const char *out_dir, int flags, tq_job **out, tq_error *err)
{
	quant_job *q = calloc(1, sizeof(*q));
	tq_status st;

	*out = NULL;
	if (q != NULL)
		q->lock_fd = -1;
	if (q == NULL || (out_dir != NULL &&
	    (q->out_dir = strdup(out_dir)) == NULL)) {
		free(q);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	q->m = m;
	q->plan = plan;
	q->calib = calib;
	q->resume = (flags & TQ_QUANTIZE_RESUME) != 0;
	q->run_flags = flags & (TQ_QUANTIZE_SEQUENTIAL |
	    TQ_QUANTIZE_RECOMPUTE);
	/* Checked under the lock, so no other run completes it meanwhile. */
	if (out_dir != NULL && ((st = quant_lock(q, out_dir, err)) != TQ_OK ||
	    (!(flags & (TQ_QUANTIZE_RESUME | TQ_QUANTIZE_FORCE)) &&
	    tq_state__is_complete(out_dir) &&
	    (st = tq_fail(err, TQ_EINVAL, "%s: already holds a complete "
	    "quantized state (use --force to replace it)", out_dir)) !=
	    TQ_OK))) {
		quant_job_free(q);
		return st;
	}
	return tq_job__start(quant_job_run, q, quant_job_free, out, err);
}

tq_qstate *
tq_job_take_state(tq_job *j)
{
	return tq_job__take_result(j, TQ_RESULT_QUANT);
}

