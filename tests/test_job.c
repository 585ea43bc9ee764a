/*
 * test_job.c: the job API: events arrive in order through the wake fd, the
 * result equals the direct call's, and cancel stops the work within a
 * second leaving nothing half-written.
 */
#include "config.h"

#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../engine/engine.h"
#include "error.h"
#include "job.h"
#include "tap.h"
#include "tq.h"

/*
 * malloc fails on demand: the test links with -Wl,--wrap=malloc, so the
 * engine's calls come here.
 */
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
static int malloc_fails;	/* atomic */

void *
__wrap_malloc(size_t size)
{
	if (__atomic_load_n(&malloc_fails, __ATOMIC_RELAXED))
		return NULL;
	return __real_malloc(size);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Drains events until the job ends; counts kinds; returns the last kind. */
static tq_event_kind
drain(tq_job *j, int counts[8], double cancel_after, double *t_cancel)
{
	struct pollfd p = { tq_job_fd(j), POLLIN, 0 };
	tq_event ev;
	int cancelled = 0;

	for (;;) {
		if (poll(&p, 1, 5000) <= 0)
			return TQ_EVENT_FAILED;	/* a 5 s silence is a bug */
		while (tq_job_poll(j, &ev)) {
			counts[ev.kind]++;
			if (ev.kind >= TQ_EVENT_DONE)
				return ev.kind;
			if (!cancelled && cancel_after >= 0.0 &&
			    ev.kind == TQ_EVENT_PROGRESS &&
			    ev.fraction >= cancel_after) {
				*t_cancel = now();
				tq_job_cancel(j);
				cancelled = 1;
			}
		}
	}
}

/* A job that leaves no memory for its events, then ends with *ctx. */
static tq_status
job_oom(tq_job *j, void *ctx, tq_error *err)
{
	tq_status st = *(tq_status *)ctx;
	int i;

	/* Nobody polls yet: 64 lines fill the first ring (64 events). */
	for (i = 0; i < 64; i++)
		tq_job__log(j, "a log line before the memory runs out");
	__atomic_store_n(&malloc_fails, 1, __ATOMIC_RELAXED);
	tq_job__log(j, "a log line that finds no memory");
	return st == TQ_OK ? TQ_OK : tq_fail(err, st, "stopped on purpose");
}

/* DONE and FAILED arrive even when the event ring cannot grow. */
static void
check_terminal_oom(tq_status st)
{
	struct pollfd p;
	tq_event ev;
	tq_error err;
	tq_job *j;
	int last = -1, logs = 0, ready;

	if (tq_job__start(job_oom, &st, NULL, &j, &err) != TQ_OK) {
		tap_ok(0, "a job starts: %s", err.msg);
		return;
	}
	tq_job_wait(j, NULL);
	__atomic_store_n(&malloc_fails, 0, __ATOMIC_RELAXED);
	p.fd = tq_job_fd(j);
	p.events = POLLIN;
	ready = poll(&p, 1, 0) == 1;
	while (tq_job_poll(j, &ev)) {
		logs += ev.kind == TQ_EVENT_LOG;
		last = (int)ev.kind;
	}
	p.revents = 0;
	tap_ok(ready && last == (st == TQ_OK ? TQ_EVENT_DONE : TQ_EVENT_FAILED) &&
	    (st == TQ_OK || strcmp(ev.text, "stopped on purpose") == 0) &&
	    logs >= 64 && poll(&p, 1, 0) == 0,
	    "with no memory left for events, the job still ends with %s "
	    "(last event %d, %d log lines) and the wake fd then empties",
	    st == TQ_OK ? "DONE" : "FAILED", last, logs);
	tq_job_free(j);
}

/* Snapshot s against the final statistics of c: 1 if equal. */
static int
snapshot_equals(const tq_calib_snapshot *s, const tq_calib *c)
{
	size_t i;

	if (s->n_sites != tq_calib_n_sites(c))
		return 0;
	for (i = 0; i < s->n_sites; i++) {
		const tq_calib_site_snapshot *a = &s->sites[i];
		const tq_site_stats *b = tq_calib_site(c, i);

		if (a->layer != b->layer || a->site != b->site ||
		    a->channels != b->channels || a->n_tokens != b->n_tokens ||
		    memcmp(a->absmax, b->absmax, sizeof(float) *
		    (size_t)a->channels) != 0 ||
		    memcmp(a->hist, b->hist, sizeof(a->hist)) != 0)
			return 0;
	}
	return 1;
}

/*
 * Snapshots while a calibration job runs: each site's tokens grow, never
 * past the final count, and the snapshot after the end is the result.
 */
static void
check_snapshot(const tq_model *m, const char *text)
{
	struct pollfd p;
	tq_calib_opts co = TQ_CALIB_OPTS_INIT;
	tq_calib_snapshot *s = NULL, *last = NULL;
	tq_calib *c;
	tq_event ev;
	tq_error err = { TQ_OK, "" };
	tq_job *j;
	int64_t final_tokens = 8 * 64;
	size_t i;
	int n_snaps = 0, live = 0, grow = 1, end = 0, bad = 0;

	co.n_samples = 8;
	co.seqlen = 64;
	if (tq_job_calibrate(m, text, &co, NULL, &j, &err) != TQ_OK) {
		tap_ok(0, "calibration job starts: %s", err.msg);
		return;
	}
	p.fd = tq_job_fd(j);
	p.events = POLLIN;
	while (!end && poll(&p, 1, 5000) > 0) {
		while (!end && tq_job_poll(j, &ev)) {
			end = ev.kind >= TQ_EVENT_DONE;
			if (tq_job_calib_snapshot(j, &s, &err) != TQ_OK) {
				bad = 1;
				continue;
			}
			n_snaps++;
			for (i = 0; i < s->n_sites; i++) {
				live += s->sites[i].n_tokens < final_tokens;
				if (s->sites[i].n_tokens > final_tokens ||
				    (last != NULL && last->n_sites == s->n_sites &&
				    s->sites[i].n_tokens <
				    last->sites[i].n_tokens))
					grow = 0;
			}
			if (last != NULL && (s->gen < last->gen ||
			    s->done < last->done))
				grow = 0;
			tq_calib_snapshot_free(last);
			last = s;
		}
	}
	tap_ok(end && !bad && n_snaps > 0 && grow, "%d snapshots while the "
	    "job ran: tokens, samples and rest points only grow, never past "
	    "%lld tokens", n_snaps, (long long)final_tokens);
	tap_ok(live > 0 || n_snaps <= 2, "some snapshot saw a calibration "
	    "under way");
	tq_calib_snapshot_free(last);
	tq_job_wait(j, &err);
	s = NULL;
	tap_ok(tq_job_calib_snapshot(j, &s, &err) == TQ_OK && s->done == 8 &&
	    s->total == 8 && s->gen == 9, "after the end: 8 of 8 samples, 9 "
	    "rest points");
	c = tq_job_take_calib(j);
	tap_ok(s != NULL && c != NULL && snapshot_equals(s, c) &&
	    s->sites[0].n_tokens == final_tokens, "the last snapshot is the "
	    "job's statistics (absmax, histogram, tokens)");
	tq_calib_snapshot_free(s);
	tq_calib_free(c);
	tq_job_free(j);

	tq_engine__job_eval(m, text, 64, &j, &err);
	s = (tq_calib_snapshot *)&err;
	tap_ok(tq_job_calib_snapshot(j, &s, &err) == TQ_EINVAL && s == NULL &&
	    strstr(err.msg, "not a calibration job") != NULL, "another "
	    "kind of job has no snapshot: %s", err.msg);
	tq_job_free(j);
}

int
main(void)
{
	const char *top = getenv("top_srcdir");
	const char *data = getenv("TQ_SHARED_DATA");
	char demo[1024], small[] = "/tmp/tq-job-XXXXXX", text[1024];
	char save[64];
	int counts[8] = { 0 };
	tq_calib_opts co = TQ_CALIB_OPTS_INIT;
	tq_ppl_result direct;
	tq_model *m;
	tq_job *j;
	tq_error err;
	tq_event_kind end;
	double t0 = 0.0;
	int32_t *ids;
	size_t n;
	char *buf;
	size_t len;
	struct stat sb;

	check_terminal_oom(TQ_OK);
	check_terminal_oom(TQ_EIO);

	snprintf(demo, sizeof(demo), "%s/assets/demo", top ? top : ".");
	snprintf(text, sizeof(text), "%s/wikitext2-test.txt",
	    data ? data : "../shared/data");
	if (mkdtemp(small) == NULL || tq_model_open(demo, &m, &err) != TQ_OK) {
		tap_ok(0, "setup");
		return tap_done();
	}

	/* The job's result equals the direct computation. */
	tq_read_text(text, &buf, &len, &err);
	len = 20000;
	{
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), "%s/text.txt", small);
		f = fopen(path, "wb");
		fwrite(buf, 1, len, f);
		fclose(f);
		tq_tokenizer_encode(tq_model_tokenizer(m), buf, len, 0, &ids, &n,
		    &err);
		tq_eval_perplexity(m, ids, (int64_t)n, 64, NULL, NULL, &direct,
		    &err);
		tq_ids_free(ids);
		tap_ok(tq_engine__job_eval(m, path, 64, &j, &err) == TQ_OK,
		    "eval job starts");
	}
	end = drain(j, counts, -1.0, &t0);
	tap_ok(end == TQ_EVENT_DONE && tq_job_wait(j, &err) == TQ_OK,
	    "eval job ends with DONE");
	tap_ok(counts[TQ_EVENT_STAGE] >= 2 && counts[TQ_EVENT_PROGRESS] >= 1 &&
	    counts[TQ_EVENT_LOG] >= 2, "stage, progress and log events "
	    "(%d, %d, %d)", counts[TQ_EVENT_STAGE], counts[TQ_EVENT_PROGRESS],
	    counts[TQ_EVENT_LOG]);
	tap_ok(tq_engine__job_ppl(j) != NULL && tq_engine__job_ppl(j)->ppl == direct.ppl,
	    "the job's perplexity equals the direct call's (%.6f)", direct.ppl);
	tap_ok(!tq_job_running(j), "not running after the end");
	tq_job_free(j);

	/* Cancel an evaluation of the whole test set. */
	memset(counts, 0, sizeof(counts));
	tq_engine__job_eval(m, text, 512, &j, &err);
	end = drain(j, counts, 0.02, &t0);
	tap_ok(end == TQ_EVENT_CANCELLED, "cancelled eval ends with CANCELLED");
	tap_ok(now() - t0 < 1.0, "cancel took %.3f s (< 1 s)", now() - t0);
	tap_ok(tq_job_wait(j, &err) == TQ_ECANCELLED, "wait says cancelled");
	tq_job_free(j);

	/* A cancelled calibration leaves no file, not even a temporary. */
	snprintf(save, sizeof(save), "%s/stats.safetensors", small);
	co.n_samples = 64;
	co.seqlen = 256;
	memset(counts, 0, sizeof(counts));
	tq_job_calibrate(m, text, &co, save, &j, &err);
	end = drain(j, counts, 0.1, &t0);
	tap_ok(end == TQ_EVENT_CANCELLED && stat(save, &sb) != 0,
	    "cancelled calibration writes nothing");
	tq_job_wait(j, &err);
	tap_ok(tq_job_take_calib(j) == NULL,
	    "a cancelled job hands over no (incomplete) result");
	tq_job_free(j);

	/* A finished calibration saves and hands over its result. */
	co.n_samples = 4;
	co.seqlen = 64;
	tq_job_calibrate(m, text, &co, save, &j, &err);
	end = drain(j, counts, -1.0, &t0);
	tap_ok(end == TQ_EVENT_DONE && stat(save, &sb) == 0,
	    "calibration job saves its statistics");
	{
		tq_calib *c = tq_job_take_calib(j);

		tap_ok(c != NULL && tq_calib_n_sites(c) == 17 &&
		    tq_job_take_calib(j) == NULL, "the result is taken once");
		tq_calib_free(c);
	}
	tq_job_free(j);

	check_snapshot(m, text);

	/* Freeing a running job cancels and joins it. */
	tq_engine__job_eval(m, text, 512, &j, &err);
	t0 = now();
	tq_job_free(j);
	tap_ok(now() - t0 < 1.0, "freeing a running job returns in %.3f s",
	    now() - t0);

	/* Failure is reported as an event with the message. */
	memset(counts, 0, sizeof(counts));
	tq_engine__job_eval(m, "/nonexistent/text.txt", 64, &j, &err);
	end = drain(j, counts, -1.0, &t0);
	tap_ok(end == TQ_EVENT_FAILED && tq_job_wait(j, &err) == TQ_EIO &&
	    strstr(err.msg, "/nonexistent/text.txt") != NULL,
	    "a failing job ends with FAILED: %s", err.msg);
	tq_job_free(j);

	tq_string_free(buf);
	tq_model_close(m);
	tap_rmdir(small);
	return tap_done();
}
