/*
 * engine/calibrate.c: the calibrate job: samples the text, runs the model
 * over it gathering each linear input's statistics (core/calib.c) and
 * saves them when asked (formats/calib_file.c).  At each rest point (the
 * progress callback, between samples) it copies every site's absmax,
 * histogram and token count into a snapshot under its mutex, which
 * tq_job_calib_snapshot copies out for the front end while the job runs.
 */
#include "config.h"

#include <pthread.h>
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
	tq_job *j;		/* the job running it */
	const tq_calib *c;	/* the statistics, once sampled (worker) */
	pthread_mutex_t mu;	/* guards snap */
	tq_calib_snapshot snap;	/* as of the last rest point */
} calib_job;

/* Frees the sites of s (not s). */
static void
snap_clear(tq_calib_snapshot *s)
{
	size_t i;

	for (i = 0; i < s->n_sites; i++)
		free(s->sites[i].absmax);
	free(s->sites);
	s->sites = NULL;
	s->n_sites = 0;
}

/*
 * Gives d the sites of src (absmax, histogram, tokens), allocating them
 * on the first call; -1 when out of memory (d then has no sites).
 */
static int
snap_copy(tq_calib_snapshot *d, const tq_calib_snapshot *src)
{
	size_t i;

	if (d->n_sites == 0 && src->n_sites > 0) {
		if ((d->sites = calloc(src->n_sites, sizeof(*d->sites))) ==
		    NULL)
			return -1;
		d->n_sites = src->n_sites;
		for (i = 0; i < d->n_sites; i++) {
			d->sites[i].absmax = malloc(sizeof(float) *
			    (size_t)src->sites[i].channels);
			if (d->sites[i].absmax == NULL) {
				snap_clear(d);
				return -1;
			}
		}
	}
	for (i = 0; i < d->n_sites; i++) {
		tq_calib_site_snapshot *t = &d->sites[i];
		const tq_calib_site_snapshot *f = &src->sites[i];
		float *absmax = t->absmax;

		*t = *f;
		t->absmax = absmax;
		memcpy(absmax, f->absmax, sizeof(float) * (size_t)f->channels);
	}
	d->done = src->done;
	d->total = src->total;
	d->gen = src->gen;
	return 0;
}

/* The rest point: the statistics are still while this runs. */
static int
calib_job_progress(void *ud, const tq_progress *p)
{
	calib_job *cj = ud;
	tq_calib_snapshot now;
	tq_calib_site_snapshot *sites;
	size_t i, n = tq_calib_n_sites(cj->c);

	/* a view of the statistics in place, copied under the lock */
	if ((sites = calloc(n > 0 ? n : 1, sizeof(*sites))) != NULL) {
		for (i = 0; i < n; i++) {
			const tq_site_stats *s = tq_calib_site(cj->c, i);

			sites[i].layer = s->layer;
			sites[i].site = s->site;
			sites[i].channels = s->channels;
			sites[i].n_tokens = s->n_tokens;
			sites[i].absmax = (float *)s->absmax;
			memcpy(sites[i].hist, s->hist, sizeof(sites[i].hist));
		}
		now.done = p->done;
		now.total = p->total;
		now.n_sites = n;
		now.sites = sites;
		pthread_mutex_lock(&cj->mu);
		now.gen = cj->snap.gen + 1;
		/* out of memory: the front end sees no sites, the job goes on */
		snap_copy(&cj->snap, &now);
		pthread_mutex_unlock(&cj->mu);
		free(sites);
	}
	return tq_job__progress_cb(cj->j, p);
}

static void
calib_job_free(void *p)
{
	calib_job *c = p;

	snap_clear(&c->snap);
	pthread_mutex_destroy(&c->mu);
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
	cj->j = j;
	cj->c = c;
	if ((st = tq_calib_run(c, cj->m, calib_job_progress, cj, err)) !=
	    TQ_OK)
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
	calib_job *c;

	*out = NULL;
	/* the job would fail on it: say so before it starts */
	if (o != NULL && tq_version_check(o->version, TQ_CALIB_OPTS_VERSION,
	    "tq_calib_opts", "TQ_CALIB_OPTS_INIT", err) != TQ_OK)
		return TQ_EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->text_path = strdup(text_path)) == NULL ||
	    (save_path != NULL && (c->save_path = strdup(save_path)) == NULL)) {
		if (c != NULL) {
			free(c->text_path);
			free(c);
		}
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&c->mu, NULL);
	c->m = m;
	c->o = o != NULL ? *o : (tq_calib_opts)TQ_CALIB_OPTS_INIT;
	return tq_job__start(calib_job_run, c, calib_job_free, out, err);
}

tq_calib *
tq_job_take_calib(tq_job *j)
{
	return tq_job__take_result(j, TQ_RESULT_CALIB);
}

tq_status
tq_job_calib_snapshot(tq_job *j, tq_calib_snapshot **out, tq_error *err)
{
	calib_job *cj = tq_job__ctx(j, calib_job_run);
	tq_calib_snapshot *s;
	int rc;

	*out = NULL;
	if (cj == NULL)
		return tq_fail(err, TQ_EINVAL, "not a calibration job");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	pthread_mutex_lock(&cj->mu);
	rc = snap_copy(s, &cj->snap);
	pthread_mutex_unlock(&cj->mu);
	if (rc != 0) {
		tq_calib_snapshot_free(s);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	*out = s;
	return TQ_OK;
}

void
tq_calib_snapshot_free(tq_calib_snapshot *s)
{
	if (s == NULL)
		return;
	snap_clear(s);
	free(s);
}
