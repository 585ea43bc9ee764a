/*
 * wb_calib.c: calibration with live statistics.  The engine's calibration
 * job hands its statistics over only at the end; the workbench wants the
 * histograms to fill in while it runs, so it runs tq_calib_sample and
 * tq_calib_run on a thread of its own and, from the progress callback
 * (between samples, on that thread, while the statistics are at rest),
 * copies each site's absmax and histogram into a snapshot under a mutex
 * and wakes the UI through a pipe.  The worker never touches curses.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wb.h"

static void
wake(wb_calib_run *r)
{
	ssize_t n = write(r->wake[1], "x", 1);

	(void)n;	/* a full pipe already says there is news */
}

/* Copies the statistics so far; called with r->mu held. */
static int
snapshot(wb_calib_run *r, const tq_calib *c)
{
	size_t i, n = tq_calib_n_sites(c);

	if (r->sites == NULL && n > 0) {
		if ((r->sites = calloc(n, sizeof(*r->sites))) == NULL)
			return -1;
		for (i = 0; i < n; i++) {
			const tq_site_stats *s = tq_calib_site(c, i);

			r->sites[i].layer = s->layer;
			r->sites[i].site = s->site;
			r->sites[i].channels = s->channels;
			r->sites[i].absmax = malloc(sizeof(float) *
			    (size_t)s->channels);
			if (r->sites[i].absmax == NULL)
				return -1;
		}
		r->n_sites = n;
	}
	for (i = 0; i < r->n_sites; i++) {
		const tq_site_stats *s = tq_calib_site(c, i);

		r->sites[i].n_tokens = s->n_tokens;
		memcpy(r->sites[i].absmax, s->absmax, sizeof(float) *
		    (size_t)s->channels);
		memcpy(r->sites[i].hist, s->hist, sizeof(r->sites[i].hist));
	}
	return 0;
}

typedef struct progress_ctx {
	wb_calib_run *r;
	const tq_calib *c;
} progress_ctx;

static int
on_progress(void *ud, const tq_progress *p)
{
	progress_ctx *pc = ud;
	wb_calib_run *r = pc->r;
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = snapshot(r, pc->c);
	r->done = p->done;
	r->total = p->total;
	r->snap_gen++;
	pthread_mutex_unlock(&r->mu);
	wake(r);
	return rc != 0 || __atomic_load_n(&r->cancel, __ATOMIC_RELAXED);
}

static void *
worker(void *arg)
{
	wb_calib_run *r = arg;
	tq_calib *c = NULL;
	progress_ctx pc;
	tq_error err = { TQ_OK, "" };
	tq_status st;

	st = tq_calib_sample(r->model, r->path, &r->opts, &c, &err);
	if (st == TQ_OK && __atomic_load_n(&r->cancel, __ATOMIC_RELAXED))
		st = TQ_ECANCELLED;
	if (st == TQ_OK) {
		pc.r = r;
		pc.c = c;
		st = tq_calib_run(c, r->model, on_progress, &pc, &err);
	}
	pthread_mutex_lock(&r->mu);
	if (st == TQ_OK) {
		r->result = c;
		r->finished = 1;
	} else {
		tq_calib_free(c);
		r->err = err;
		r->finished = st == TQ_ECANCELLED ? -2 : -1;
	}
	pthread_mutex_unlock(&r->mu);
	wake(r);
	return NULL;
}

tq_status
wb_calib_start(wb_calib_run *r, const tq_model *m, const char *path,
    const tq_calib_opts *o, tq_error *err)
{
	int i;

	memset(r, 0, sizeof(*r));
	r->wake[0] = r->wake[1] = -1;
	if (pipe(r->wake) != 0)
		return (err->status = TQ_EIO);
	for (i = 0; i < 2; i++) {
		fcntl(r->wake[i], F_SETFL, fcntl(r->wake[i], F_GETFL) |
		    O_NONBLOCK);
		fcntl(r->wake[i], F_SETFD, FD_CLOEXEC);
	}
	pthread_mutex_init(&r->mu, NULL);
	r->model = m;
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->opts = *o;
	r->total = o->n_samples;
	r->t0 = wb_now();
	if (pthread_create(&r->tid, NULL, worker, r) != 0) {
		close(r->wake[0]);
		close(r->wake[1]);
		pthread_mutex_destroy(&r->mu);
		err->status = TQ_ENOMEM;
		snprintf(err->msg, sizeof(err->msg), "cannot start a thread: %s",
		    strerror(errno));
		return TQ_ENOMEM;
	}
	r->started = 1;
	return TQ_OK;
}

int
wb_calib_fd(const wb_calib_run *r)
{
	return r->started ? r->wake[0] : -1;
}

void
wb_calib_drain(wb_calib_run *r)
{
	char buf[64];

	while (read(r->wake[0], buf, sizeof(buf)) > 0)
		;
}

void
wb_calib_cancel(wb_calib_run *r)
{
	__atomic_store_n(&r->cancel, 1, __ATOMIC_RELAXED);
}

void
wb_calib_join(wb_calib_run *r)
{
	size_t i;

	if (!r->started)
		return;
	pthread_join(r->tid, NULL);
	for (i = 0; i < r->n_sites; i++)
		free(r->sites[i].absmax);
	free(r->sites);
	r->sites = NULL;
	r->n_sites = 0;
	close(r->wake[0]);
	close(r->wake[1]);
	pthread_mutex_destroy(&r->mu);
	r->started = 0;
}
