/*
 * job.c: jobs: long work on a worker thread, observed through an event
 * queue.
 *
 * The queue is guarded by a mutex.  A pipe wakes the front end: it holds
 * one byte exactly while the queue is not empty (written when the queue
 * becomes non-empty, read when it becomes empty), so poll() on its read end
 * tells the truth.  The terminal event (DONE, CANCELLED, FAILED) waits in
 * the job itself, after the queue: it needs no memory, so it is never lost
 * and never dropped.  Cancellation is an atomic flag the work checks between
 * blocks, windows and layers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "job.h"

/* Events kept at most; progress events are dropped first beyond it. */
#define JOB_QUEUE_MAX 65536
#define JOB_PROGRESS_INTERVAL 0.1

struct tq_job {
	pthread_t thread;
	pthread_mutex_t mu;
	tq_event *q;		/* ring buffer [cap] */
	size_t head, len, cap;
	tq_event final;		/* the terminal event, once final_pending */
	int final_pending;
	int pipe_r, pipe_w;
	int cancel;		/* atomic */
	int running;		/* atomic */
	int joined;
	tq_status status;
	tq_error err;
	tq_job_fn fn;
	void *ctx;
	void (*ctx_free)(void *);
	char stage[32];		/* worker thread only */
	double stage_t0, last_progress;
	int result_kind;
	void *result;
	void (*result_free)(void *);
};

static double
job_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Puts the wake byte in the pipe (which is empty); under j->mu. */
static void
job_wake(tq_job *j)
{
	char b = 1;

	if (write(j->pipe_w, &b, 1) < 0) {
		/* Cannot happen with one byte in an empty pipe. */
	}
}

/*
 * Appends an event; wakes the front end when the queue was empty.  Without
 * memory for a larger ring the event is dropped (never a terminal one).
 */
static void
job_post(tq_job *j, const tq_event *ev)
{
	pthread_mutex_lock(&j->mu);
	if (j->len == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 64, i;
		tq_event *q;

		if (cap > JOB_QUEUE_MAX && ev->kind == TQ_EVENT_PROGRESS) {
			pthread_mutex_unlock(&j->mu);
			return;
		}
		q = malloc(cap * sizeof(*q));
		if (q == NULL) {
			pthread_mutex_unlock(&j->mu);
			return;
		}
		for (i = 0; i < j->len; i++)
			q[i] = j->q[(j->head + i) % j->cap];
		free(j->q);
		j->q = q;
		j->cap = cap;
		j->head = 0;
	}
	j->q[(j->head + j->len) % j->cap] = *ev;
	if (j->len++ == 0)
		job_wake(j);
	pthread_mutex_unlock(&j->mu);
}

/* The terminal event: kept in the job, delivered after the queue. */
static void
job_post_final(tq_job *j, const tq_event *ev)
{
	pthread_mutex_lock(&j->mu);
	j->final = *ev;
	j->final_pending = 1;
	if (j->len == 0)
		job_wake(j);
	pthread_mutex_unlock(&j->mu);
}

int
tq_job_poll(tq_job *j, tq_event *ev)
{
	int got = 0;

	pthread_mutex_lock(&j->mu);
	if (j->len > 0) {
		*ev = j->q[j->head];
		j->head = (j->head + 1) % j->cap;
		got = 1;
		j->len--;
	} else if (j->final_pending) {
		*ev = j->final;
		j->final_pending = 0;
		got = 1;
	}
	if (got && j->len == 0 && !j->final_pending) {
		char b;

		if (read(j->pipe_r, &b, 1) < 0) {
			/* The byte is there: written with the first event. */
		}
	}
	pthread_mutex_unlock(&j->mu);
	return got;
}

int
tq_job_fd(const tq_job *j)
{
	return j->pipe_r;
}

void
tq_job_cancel(tq_job *j)
{
	__atomic_store_n(&j->cancel, 1, __ATOMIC_RELAXED);
}

int
tq_job_running(const tq_job *j)
{
	return __atomic_load_n(&j->running, __ATOMIC_ACQUIRE);
}

int
tq_job__cancelled(const tq_job *j)
{
	return __atomic_load_n(&j->cancel, __ATOMIC_RELAXED);
}

const int *
tq_job__cancel_flag(const tq_job *j)
{
	return &j->cancel;
}

static void
job_event_init(tq_job *j, tq_event *ev, tq_event_kind kind)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->eta_seconds = -1.0;
	snprintf(ev->stage, sizeof(ev->stage), "%s", j->stage);
}

void
tq_job__stage(tq_job *j, const char *name)
{
	tq_event ev;

	snprintf(j->stage, sizeof(j->stage), "%s", name);
	j->stage_t0 = job_now();
	j->last_progress = 0.0;
	job_event_init(j, &ev, TQ_EVENT_STAGE);
	job_post(j, &ev);
}

void
tq_job__progress(tq_job *j, int64_t done, int64_t total)
{
	double now = job_now();
	tq_event ev;

	if (now - j->last_progress < JOB_PROGRESS_INTERVAL && done < total)
		return;
	j->last_progress = now;
	job_event_init(j, &ev, TQ_EVENT_PROGRESS);
	ev.done = done;
	ev.total = total;
	ev.fraction = total > 0 ? (double)done / (double)total : 0.0;
	if (done > 0 && total > 0)
		ev.eta_seconds = (now - j->stage_t0) / (double)done *
		    (double)(total - done);
	job_post(j, &ev);
}

void
tq_job__log(tq_job *j, const char *fmt, ...)
{
	tq_event ev;
	va_list ap;

	job_event_init(j, &ev, TQ_EVENT_LOG);
	va_start(ap, fmt);
	vsnprintf(ev.text, sizeof(ev.text), fmt, ap);
	va_end(ap);
	job_post(j, &ev);
}

void
tq_job__layer(tq_job *j, const tq_layer_result *r)
{
	tq_event ev;

	job_event_init(j, &ev, TQ_EVENT_LAYER);
	ev.layer = *r;
	job_post(j, &ev);
}

int
tq_job__progress_cb(void *ud, const tq_progress *p)
{
	tq_job *j = ud;

	if (strncmp(j->stage, p->stage, sizeof(j->stage) - 1) != 0)
		tq_job__stage(j, p->stage);
	tq_job__progress(j, p->done, p->total);
	return tq_job__cancelled(j);
}

void *
tq_job__ctx(const tq_job *j, tq_job_fn fn)
{
	return j != NULL && j->fn == fn ? j->ctx : NULL;
}

void
tq_job__set_result(tq_job *j, int kind, void *result, void (*free_fn)(void *))
{
	if (j->result_free != NULL)
		j->result_free(j->result);
	j->result_kind = kind;
	j->result = result;
	j->result_free = free_fn;
}

void *
tq_job__result(const tq_job *j, int kind)
{
	return j->result_kind == kind ? j->result : NULL;
}

void *
tq_job__take_result(tq_job *j, int kind)
{
	void *r;

	/* A cancelled or failed job's result is incomplete: keep it. */
	if (j->result_kind != kind || tq_job_running(j) || j->status != TQ_OK)
		return NULL;
	r = j->result;
	j->result = NULL;
	j->result_free = NULL;
	j->result_kind = 0;
	return r;
}

static void *
job_main(void *arg)
{
	tq_job *j = arg;
	tq_event ev;
	tq_status st;

	st = j->fn(j, j->ctx, &j->err);
	/* Cancellation wins over whatever error the stop caused. */
	if (st != TQ_OK && tq_job__cancelled(j))
		st = TQ_ECANCELLED;
	j->status = st;
	if (st == TQ_OK) {
		job_event_init(j, &ev, TQ_EVENT_DONE);
	} else if (st == TQ_ECANCELLED) {
		job_event_init(j, &ev, TQ_EVENT_CANCELLED);
		snprintf(ev.text, sizeof(ev.text), "cancelled");
	} else {
		job_event_init(j, &ev, TQ_EVENT_FAILED);
		snprintf(ev.text, sizeof(ev.text), "%s", j->err.msg[0] ?
		    j->err.msg : tq_strerror(st));
	}
	__atomic_store_n(&j->running, 0, __ATOMIC_RELEASE);
	job_post_final(j, &ev);
	return NULL;
}

tq_status
tq_job__start(tq_job_fn fn, void *ctx, void (*ctx_free)(void *),
    tq_job **out, tq_error *err)
{
	tq_job *j;
	int fds[2];

	*out = NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		if (ctx_free != NULL)
			ctx_free(ctx);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	j->fn = fn;
	j->ctx = ctx;
	j->ctx_free = ctx_free;
	j->pipe_r = j->pipe_w = -1;
	pthread_mutex_init(&j->mu, NULL);
	if (pipe(fds) != 0) {
		int e = errno;

		tq_job_free(j);
		return tq_fail(err, TQ_EIO, "cannot create a pipe: %s",
		    strerror(e));
	}
	j->pipe_r = fds[0];
	j->pipe_w = fds[1];
	fcntl(j->pipe_r, F_SETFL, O_NONBLOCK);
	fcntl(j->pipe_w, F_SETFL, O_NONBLOCK);
	fcntl(j->pipe_r, F_SETFD, FD_CLOEXEC);
	fcntl(j->pipe_w, F_SETFD, FD_CLOEXEC);
	j->running = 1;
	if (pthread_create(&j->thread, NULL, job_main, j) != 0) {
		j->running = 0;
		j->joined = 1;
		tq_job_free(j);
		return tq_fail(err, TQ_ENOMEM, "cannot start a worker thread");
	}
	*out = j;
	return TQ_OK;
}

tq_status
tq_job_wait(tq_job *j, tq_error *err)
{
	if (!j->joined) {
		pthread_join(j->thread, NULL);
		j->joined = 1;
	}
	if (err != NULL && j->status != TQ_OK)
		*err = j->err;
	if (err != NULL && j->status == TQ_ECANCELLED)
		tq_fail(err, TQ_ECANCELLED, "cancelled");
	return j->status;
}

void
tq_job_free(tq_job *j)
{
	if (j == NULL)
		return;
	if (!j->joined && j->pipe_r >= 0) {
		tq_job_cancel(j);
		tq_job_wait(j, NULL);
	}
	if (j->result_free != NULL)
		j->result_free(j->result);
	if (j->ctx_free != NULL)
		j->ctx_free(j->ctx);
	if (j->pipe_r >= 0)
		close(j->pipe_r);
	if (j->pipe_w >= 0)
		close(j->pipe_w);
	pthread_mutex_destroy(&j->mu);
	free(j->q);
	free(j);
}
