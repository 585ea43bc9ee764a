/*
 * wb_calib.c: calibration with live statistics.  It runs as the engine's
 * calibration job; on each of the job's progress events the workbench
 * takes a snapshot of every site's absmax, histogram and token count so
 * far (tq_job_calib_snapshot, which the job fills at its rest points), so
 * the histograms fill in while it runs.  Cancelling is the job's own.
 */
#include "config.h"

#include "wb.h"

tq_status
wb_calib_start(wb_app *a, const char *path, const tq_calib_opts *o,
    tq_error *err)
{
	tq_status st;

	if ((st = tq_job_calibrate(a->model, path, o, NULL, &a->job, err)) !=
	    TQ_OK)
		return st;
	a->calib_running = 1;
	return TQ_OK;
}

void
wb_calib_refresh(wb_app *a)
{
	tq_calib_snapshot *s;
	tq_error err = { TQ_OK, "" };

	/* out of memory: keep showing the last one */
	if (tq_job_calib_snapshot(a->job, &s, &err) != TQ_OK)
		return;
	tq_calib_snapshot_free(a->calib_snap);
	a->calib_snap = s;
}

void
wb_calib_end(wb_app *a, tq_status st, const tq_error *err)
{
	char buf[64];

	wb_duration(wb_now() - a->run_t0, buf, sizeof(buf));
	if (st == TQ_OK) {
		tq_calib_free(a->calib);
		a->calib = tq_job_take_calib(a->job);
		wb_browser_outliers(a, a->calib);
		wb_log(a, "calibrated on %s in %s", a->calib_path, buf);
		wb_message(a, 0, "calibrated in %s (r quantizes)", buf);
	} else if (st == TQ_ECANCELLED) {
		wb_log(a, "calibration cancelled after %s", buf);
		wb_message(a, 0, "calibration cancelled");
	} else {
		wb_log(a, "calibration failed: %s", err->msg);
		wb_message(a, 1, "calibration failed: %s", err->msg);
	}
	wb_calib_clear(a);
}

void
wb_calib_clear(wb_app *a)
{
	tq_calib_snapshot_free(a->calib_snap);
	a->calib_snap = NULL;
	a->calib_running = 0;
}

const tq_calib_site_snapshot *
wb_calib_site(const wb_app *a, const wb_row *r)
{
	const tq_calib_snapshot *c = a->calib_snap;
	size_t i;

	for (i = 0; c != NULL && i < c->n_sites; i++)
		if (c->sites[i].layer == r->block && c->sites[i].site == r->site)
			return &c->sites[i];
	return NULL;
}
