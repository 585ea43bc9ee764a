/*
 * wb_runs.c: the work the workbench starts as engine jobs: calibration
 * (wb_calib.c), quantization and validation, their progress with rate and
 * ETA, the log, cancelling, and the table of validated variants.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "wb.h"

/* The last component of a path. */
static const char *
base_name(const char *path)
{
	const char *p = strrchr(path, '/');

	return p != NULL && p[1] != '\0' ? p + 1 : path;
}

int
wb_runs_busy(const wb_app *a)
{
	return a->run != WB_RUN_NONE;
}

void
wb_runs_begin(wb_app *a, wb_run_kind k, const char *stage)
{
	a->run = k;
	snprintf(a->stage, sizeof(a->stage), "%s", stage);
	a->done = a->total = 0;
	a->fraction = 0.0;
	a->eta = -1.0;
	a->stage_t0 = a->run_t0 = wb_now();
	a->last_layer[0] = '\0';
	a->layers_done = 0;
	a->dirty = 1;
}

/* Parses "FILE [N [M]]" into path and up to two numbers (0 if absent). */
static int
parse_spec(const char *spec, char *path, size_t len, long long *n1,
    long long *n2)
{
	char p[512];
	int k;

	*n1 = *n2 = 0;
	k = sscanf(spec, "%511s %lld %lld", p, n1, n2);
	if (k < 1)
		return 0;
	snprintf(path, len, "%s", p);
	return *n1 >= 0 && *n2 >= 0;
}

int
wb_runs_start_calib(wb_app *a, const char *spec)
{
	tq_calib_opts o = TQ_CALIB_OPTS_INIT;
	tq_error err = { TQ_OK, "" };
	char path[512];
	long long n, len;
	int64_t ctx = tq_model_get_config(a->model)->max_position_embeddings;

	if (wb_runs_busy(a)) {
		wb_message(a, 1, "a run is going on (Ctrl-C cancels it)");
		return 0;
	}
	if (!parse_spec(spec, path, sizeof(path), &n, &len)) {
		wb_message(a, 1, "calibrate: say FILE [SAMPLES [SEQLEN]]");
		return 0;
	}
	o.n_samples = n > 0 ? n : 128;
	o.seqlen = len > 0 ? len : ctx < 2048 ? ctx : 2048;
	if (wb_calib_start(a, path, &o, &err) != TQ_OK) {
		wb_message(a, 1, "calibrate: %s", err.msg);
		return 0;
	}
	snprintf(a->calib_path, sizeof(a->calib_path), "%s", path);
	wb_runs_begin(a, WB_RUN_CALIB, "calibrate");
	a->total = o.n_samples;
	wb_log(a, "calibrate: %lld samples of %lld tokens from %s",
	    (long long)o.n_samples, (long long)o.seqlen, path);
	return 1;
}

int
wb_runs_needs_calib(const wb_app *a)
{
	size_t i;

	for (i = 0; i < a->n_rows; i++) {
		const tq_layer_cfg *c = &a->rows[i].cfg;

		if (c->method != TQ_METHOD_FLOAT && (c->method !=
		    TQ_METHOD_RTN || c->use_imatrix))
			return 1;
	}
	return 0;
}

int
wb_runs_start_quant(wb_app *a)
{
	tq_error err = { TQ_OK, "" };

	if (wb_runs_busy(a)) {
		wb_message(a, 1, "a run is going on (Ctrl-C cancels it)");
		return 0;
	}
	if (a->calib == NULL && wb_runs_needs_calib(a)) {
		wb_message(a, 1, "this plan needs calibration first (c)");
		return 0;
	}
	if (a->n_variants == WB_MAX_VARIANTS) {
		wb_message(a, 1, "%d variants already: quit and start again",
		    WB_MAX_VARIANTS);
		return 0;
	}
	/* block by block even for RTN: the table shows each layer's
	   measured error, which the one-pass pipeline does not compute */
	if (tq_job_quantize(a->model, a->plan.plan, a->calib, NULL,
	    TQ_QUANTIZE_SEQUENTIAL, &a->job, &err) != TQ_OK) {
		wb_message(a, 1, "quantize: %s", err.msg);
		return 0;
	}
	wb_browser_clear_results(a);
	a->results_of = -1;
	wb_runs_begin(a, WB_RUN_QUANT, "quantize");
	wb_log(a, "quantize: plan %s%s", a->plan.origin,
	    wb_plan_edited(&a->plan) ? " (edited)" : "");
	return 1;
}

/* Closes the models applied for a validation. */
static void
close_qmodels(wb_app *a)
{
	int i;

	for (i = 0; i < a->n_qmodels; i++)
		tq_model_close(a->qmodels[i]);
	a->n_qmodels = 0;
}

/*
 * One validation job: the fp model as the base and every variant not yet
 * validated on this text, window and token limit (all of them when none
 * is left), on the same windows, so perplexity, KLD and top-token
 * agreement compare.  Before any variant, the fp model alone: the
 * baseline.  spec: "FILE [CTX [TOKENS]]".
 */
int
wb_runs_start_valid(wb_app *a, const char *spec)
{
	tq_validate_spec vs = TQ_VALIDATE_SPEC_INIT;
	tq_error err = { TQ_OK, "" };
	const tq_model *models[WB_MAX_VARIANTS];
	char path[512];
	long long ctx, tokens;
	int i, all;

	if (wb_runs_busy(a)) {
		wb_message(a, 1, "a run is going on (Ctrl-C cancels it)");
		return 0;
	}
	if (!parse_spec(spec, path, sizeof(path), &ctx, &tokens)) {
		wb_message(a, 1, "validate: say FILE [CTX [TOKENS]], e.g. "
		    "wikitext2-test.txt 256 16384");
		return 0;
	}
	/* the prompt offers the whole spec next time */
	snprintf(a->valid_path, sizeof(a->valid_path), "%s", spec);
	for (all = 0; all < 2 && a->n_qmodels == 0; all++)
		for (i = 0; i < a->n_variants; i++) {
			wb_variant *v = &a->variants[i];

			if (!all && v->ppl >= 0.0 && v->ppl_ctx == ctx &&
			    v->ppl_tokens == tokens &&
			    strcmp(v->ppl_text, path) == 0)
				continue;
			if (tq_model_apply_state(a->model, v->state,
			    &a->qmodels[a->n_qmodels], &err) != TQ_OK) {
				close_qmodels(a);
				wb_message(a, 1, "validate %s: %s", v->label,
				    err.msg);
				return 0;
			}
			models[a->n_qmodels] = a->qmodels[a->n_qmodels];
			a->valid_of[a->n_qmodels++] = i;
		}
	vs.base = a->model;
	vs.models = models;
	vs.n_models = (size_t)a->n_qmodels;
	vs.text_path = path;
	vs.opts.protocol = TQ_PROTOCOL_GPTQ;
	vs.opts.ctx = ctx;
	vs.opts.max_tokens = tokens;
	if (tq_job_validate(&vs, &a->job, &err) != TQ_OK) {
		close_qmodels(a);
		wb_message(a, 1, "validate: %s", err.msg);
		return 0;
	}
	snprintf(a->valid_run_text, sizeof(a->valid_run_text), "%s", path);
	a->valid_run_ctx = ctx;
	a->valid_run_tokens = tokens;
	a->screen = WB_SCR_VALID;
	wb_runs_begin(a, WB_RUN_VALID, "validate");
	snprintf(a->last_layer, sizeof(a->last_layer), "%.95s",
	    base_name(path));
	if (a->n_qmodels == 0)
		wb_log(a, "validate the fp model alone (the baseline) on %s",
		    path);
	else
		wb_log(a, "validate %d variant%s against the fp model on %s",
		    a->n_qmodels, a->n_qmodels == 1 ? "" : "s", path);
	return 1;
}

/* Takes a finished validation's numbers into the variants. */
static void
valid_finished(wb_app *a)
{
	const tq_validation *r = tq_job_validation(a->job);
	int i;

	snprintf(a->valid_text, sizeof(a->valid_text), "%s",
	    a->valid_run_text);
	a->valid_tokens = a->valid_run_tokens;
	a->valid_ctx = r->opts.ctx;
	a->valid_total = r->n_tokens;
	a->valid_used = a->valid_tokens > 0 && a->valid_tokens < r->n_tokens ?
	    a->valid_tokens : r->n_tokens;
	a->valid_note[0] = '\0';
	a->fp_ppl = r->base.ppl;
	a->fp_ppl_err = r->base.ppl_stderr;
	wb_log(a, "fp perplexity %.4f +/- %.4f (%lld positions, ctx %lld)",
	    r->base.ppl, r->base.ppl_stderr, (long long)r->base.n_scored,
	    (long long)r->opts.ctx);
	for (i = 0; i < a->n_qmodels; i++) {
		const tq_kld_result *k = &r->models[i];
		wb_variant *v = &a->variants[a->valid_of[i]];

		v->ppl = k->ppl.ppl;
		v->ppl_err = k->ppl.ppl_stderr;
		v->kld = k->kld;
		v->kld_err = k->kld_stderr;
		v->same_top = k->same_top;
		v->same_top_err = k->same_top_stderr;
		v->ppl_ctx = a->valid_run_ctx;
		v->ppl_tokens = a->valid_run_tokens;
		snprintf(v->ppl_text, sizeof(v->ppl_text), "%s",
		    a->valid_run_text);
		wb_log(a, "%s perplexity %.4f +/- %.4f (%+.2f%%), KLD %.5f, "
		    "same top token %.2f%%", v->label, v->ppl, v->ppl_err,
		    (v->ppl / a->fp_ppl - 1.0) * 100.0, v->kld,
		    v->same_top * 100.0);
	}
	/* Variants measured on another text are not comparable: forget. */
	for (i = 0; i < a->n_variants; i++) {
		wb_variant *v = &a->variants[i];

		if (v->ppl_ctx != a->valid_run_ctx ||
		    v->ppl_tokens != a->valid_run_tokens ||
		    strcmp(v->ppl_text, a->valid_run_text) != 0)
			v->ppl = -1.0;
	}
}

/*
 * The variant an export spec names: "#N" (1..), "fp" for the fp model
 * (-1), or none (the last variant; -1 before any).  *rest is the spec
 * after it.  -2 for a "#N" that is no variant.
 */
static int
export_which(const wb_app *a, const char *spec, const char **rest)
{
	char w[16] = "";
	int n = 0, k;

	while (*spec == ' ')
		spec++;
	*rest = spec;
	if (sscanf(spec, "%15s%n", w, &n) != 1)
		return a->n_variants - 1;
	if (strcmp(w, "fp") == 0) {
		*rest = spec + n;
		return -1;
	}
	if (w[0] != '#')
		return a->n_variants - 1;
	*rest = spec + n;
	k = atoi(w + 1);
	return k >= 1 && k <= a->n_variants ? k - 1 : -2;
}

/* The running export's warning as its log event gave it, or "". */
static char warned[600];

/* The engine's "use --force" is the dialog's "add force". */
static void
force_word(char *msg, size_t len)
{
	char *p = strstr(msg, "use --force");
	char tail[512];

	if (p == NULL)
		return;
	snprintf(tail, sizeof(tail), "%s", p + strlen("use --force"));
	snprintf(p, len - (size_t)(p - msg), "add force%s", tail);
}

/*
 * Logs text in lines that fit 80 columns (after the time), cut at
 * spaces: an export's warning is read whole.
 */
static void
log_wrapped(wb_app *a, const char *text)
{
	const int w = 70;
	int first = 1;

	while (*text != '\0') {
		int n = (int)strlen(text), cut = n;

		if (n > w) {
			for (cut = w; cut > 0 && text[cut] != ' '; cut--)
				;
			if (cut == 0)
				cut = w;
		}
		wb_log(a, "%s%.*s", first ? "" : "  ", cut, text);
		first = 0;
		text += cut;
		while (*text == ' ')
			text++;
	}
}

int
wb_runs_start_export(wb_app *a, const char *spec)
{
	tq_export_opts o = TQ_EXPORT_OPTS_INIT;
	tq_error err = { TQ_OK, "" };
	const tq_qstate *st = NULL;
	const char *rest;
	char fmt[32], type[32], path[512], force[16] = "", extra[8];
	int k, which;

	if (wb_runs_busy(a)) {
		wb_message(a, 1, "a run is going on (Ctrl-C cancels it)");
		return 0;
	}
	if ((which = export_which(a, spec, &rest)) == -2) {
		wb_message(a, 1, "export: no such variant (#1..#%d, or fp)",
		    a->n_variants);
		return 0;
	}
	k = sscanf(rest, "%31s %31s %511s %15s %7s", fmt, type, path, force,
	    extra);
	if (k < 3 || k > 4 || (k == 4 && strcmp(force, "force") != 0)) {
		wb_message(a, 1, "export: say [#N|fp] FORMAT TYPE PATH [force], "
		    "e.g. gguf q4_k_m model.gguf");
		return 0;
	}
	o.format = fmt;
	o.type = strcmp(type, "-") == 0 ? NULL : type;
	o.force = k == 4;
	if (!o.force && access(path, F_OK) == 0) {
		wb_message(a, 1, "export: %s already exists: add force to "
		    "replace it", path);
		return 0;
	}
	if (which >= 0)
		st = a->variants[which].state;
	if (tq_job_export(a->model, st, path, &o, &a->job, &err) != TQ_OK) {
		force_word(err.msg, sizeof(err.msg));
		wb_message(a, 1, "export: %s", err.msg);
		return 0;
	}
	warned[0] = '\0';
	wb_runs_begin(a, WB_RUN_EXPORT, "export");
	wb_log(a, "export %s as %s %s to %s", st != NULL ?
	    a->variants[which].label : "the fp model", fmt,
	    o.type != NULL ? o.type : "(its own grid)", path);
	return 1;
}

void
wb_runs_cancel(wb_app *a)
{
	if (a->job != NULL)
		tq_job_cancel(a->job);
	if (a->run == WB_RUN_TEACH)
		wb_teach_cancel(a);
	wb_log(a, "cancelling %s ...", a->stage);
}

int
wb_runs_fds(const wb_app *a, int *fds)
{
	int n = 0;

	if (a->job != NULL)
		fds[n++] = tq_job_fd(a->job);
	return n;
}

/*
 * The browser's errors back to the last variant's, after a quantization
 * that did not finish: its partial errors would pass for a variant's.
 */
static void
show_variant_results(wb_app *a)
{
	const tq_qstate *st;
	size_t i, n;

	wb_browser_clear_results(a);
	a->results_of = 0;
	if (a->n_variants == 0)
		return;
	st = a->variants[a->n_variants - 1].state;
	n = tq_state_n_results(st);
	for (i = 0; i < n; i++)
		wb_browser_result(a, tq_state_result(st, i));
	a->results_of = a->n_variants;
}

/* The end of a run: log, results, the next step of a validation. */
static void
end_job(wb_app *a, const tq_event *ev)
{
	wb_run_kind k = a->run;
	tq_error err = { TQ_OK, "" };
	tq_status st = tq_job_wait(a->job, &err);
	char buf[64];

	wb_duration(wb_now() - a->run_t0, buf, sizeof(buf));
	if (k == WB_RUN_CALIB) {
		wb_calib_end(a, ev->kind == TQ_EVENT_CANCELLED ?
		    TQ_ECANCELLED : st, &err);
	} else if (ev->kind == TQ_EVENT_CANCELLED || st == TQ_ECANCELLED ||
	    st != TQ_OK) {
		int cancelled = ev->kind == TQ_EVENT_CANCELLED ||
		    st == TQ_ECANCELLED;

		if (cancelled) {
			wb_log(a, "%s cancelled after %s", a->stage, buf);
			wb_message(a, 0, "%s cancelled", a->stage);
		} else {
			force_word(err.msg, sizeof(err.msg));
			wb_log(a, "%s failed: %s", a->stage, err.msg);
			wb_message(a, 1, "%s failed: %s", a->stage, err.msg);
		}
		if (k == WB_RUN_VALID)
			snprintf(a->valid_note, sizeof(a->valid_note), "last "
			    "run %s after %s: %.80s, ctx %lld", cancelled ?
			    "cancelled" : "failed", buf,
			    base_name(a->valid_run_text),
			    (long long)a->valid_run_ctx);
		else if (k == WB_RUN_QUANT)
			show_variant_results(a);
	} else if (k == WB_RUN_QUANT) {
		wb_variant *v = &a->variants[a->n_variants];
		double bits = 0, w = 0;
		size_t i, n;

		memset(v, 0, sizeof(*v));
		v->state = tq_job_take_state(a->job);
		n = v->state != NULL ? tq_state_n_results(v->state) : 0;
		for (i = 0; i < n; i++) {
			const tq_layer_result *r = tq_state_result(v->state, i);

			if (strcmp(r->method, "float") == 0)
				continue;
			bits += r->bpw * (double)r->rows * (double)r->cols;
			w += (double)r->rows * (double)r->cols;
		}
		v->bpw = w > 0 ? bits / w : 16.0;
		v->ppl = -1.0;
		snprintf(v->label, sizeof(v->label), "#%d %.40s%s",
		    a->n_variants + 1, a->plan.origin, wb_plan_edited(&a->plan) ?
		    " *" : "");
		a->n_variants++;
		a->results_of = a->n_variants;
		wb_log(a, "quantized %d layers in %s: variant %s, %.2f bpw",
		    a->layers_done, buf, v->label, v->bpw);
		wb_message(a, 0, "quantized in %s (v validates)", buf);
	} else if (k == WB_RUN_EXPORT) {
		const tq_export_report *rep = tq_job_export_report(a->job);
		char sz[16];
		size_t i;

		for (i = 0; rep != NULL && i < rep->n_files; i++) {
			wb_human((double)rep->files[i].bytes, sz, sizeof(sz));
			wb_log(a, "wrote %s (%sB)", rep->files[i].path, sz);
		}
		if (rep != NULL) {
			wb_human((double)rep->total_bytes, sz, sizeof(sz));
			wb_log(a, "exported %s %s: %sB, %.2f bpw in %s",
			    rep->format, rep->type, sz, rep->bpw, buf);
			if (rep->warning[0] != '\0' &&
			    strcmp(rep->warning, warned) != 0) {
				char wbuf[600];

				snprintf(wbuf, sizeof(wbuf), "warning: %s",
				    rep->warning);
				log_wrapped(a, wbuf);
			}
			wb_message(a, 0, "exported %s %s: %sB, %.2f bpw%s (3: "
			    "log)", rep->format, rep->type, sz, rep->bpw,
			    rep->warning[0] != '\0' ? ", a warning" : "");
		}
	} else if (k == WB_RUN_SENS) {
		wb_mix_finished(a, a->job);
	} else if (k == WB_RUN_TEACH) {
		wb_teach_job_done(a, a->job);
	} else if (k == WB_RUN_VALID) {
		valid_finished(a);
		wb_message(a, 0, "validated in %s", buf);
	}
	tq_job_free(a->job);
	a->job = NULL;
	close_qmodels(a);
	a->run = WB_RUN_NONE;
	if (k == WB_RUN_TEACH)
		wb_teach_next(a);
}

static void
pump_job(wb_app *a)
{
	tq_event ev;

	while (a->job != NULL && tq_job_poll(a->job, &ev)) {
		switch (ev.kind) {
		case TQ_EVENT_STAGE:
			snprintf(a->stage, sizeof(a->stage), "%s", ev.stage);
			a->stage_t0 = wb_now();
			a->done = a->total = 0;
			a->fraction = 0.0;
			a->eta = -1.0;
			break;
		case TQ_EVENT_PROGRESS:
			a->done = ev.done;
			a->total = ev.total;
			a->fraction = ev.fraction;
			a->eta = ev.eta_seconds;
			if (a->calib_running)
				wb_calib_refresh(a);
			break;
		case TQ_EVENT_LAYER:
			/* a lesson's quantization is the lesson's own */
			if (a->run == WB_RUN_QUANT)
				wb_browser_result(a, &ev.layer);
			snprintf(a->last_layer, sizeof(a->last_layer), "%s",
			    ev.layer.name);
			a->layers_done++;
			if (isfinite(ev.layer.rel_err))
				wb_log(a, "%-32s %-5s %-12s err %.2e  %.2f bpw",
				    ev.layer.name, ev.layer.method,
				    ev.layer.scheme, ev.layer.rel_err,
				    ev.layer.bpw);
			break;
		case TQ_EVENT_LOG:
			log_wrapped(a, ev.text);
			/* the report's warning, logged already */
			if (a->run == WB_RUN_EXPORT &&
			    strncmp(ev.text, "warning: ", 9) == 0)
				snprintf(warned, sizeof(warned), "%s",
				    ev.text + 9);
			break;
		case TQ_EVENT_DONE:
		case TQ_EVENT_FAILED:
		case TQ_EVENT_CANCELLED:
			end_job(a, &ev);
			break;
		}
	}
}

int
wb_runs_pump(wb_app *a)
{
	if (a->job != NULL)
		pump_job(a);
	else if (a->run == WB_RUN_TEACH)
		wb_teach_next(a);	/* a lesson held by Ctrl-C's question */
	return 1;
}

int
wb_runs_site(wb_app *a, const wb_row *r, int64_t hist[TQ_HIST_BINS],
    float **absmax, int64_t *channels, int64_t *n_tokens)
{
	const int64_t *h;
	const float *am;

	*absmax = NULL;
	if (!r->has_site)
		return 0;
	if (a->calib_running) {
		const tq_calib_site_snapshot *s = wb_calib_site(a, r);

		if (s == NULL)
			return 0;
		h = s->hist;
		am = s->absmax;
		*channels = s->channels;
		*n_tokens = s->n_tokens;
	} else if (a->calib != NULL) {
		const tq_site_stats *s = tq_calib_find(a->calib, r->block,
		    r->site);

		if (s == NULL)
			return 0;
		h = s->hist;
		am = s->absmax;
		*channels = s->channels;
		*n_tokens = s->n_tokens;
	} else {
		return 0;
	}
	memcpy(hist, h, sizeof(int64_t) * TQ_HIST_BINS);
	if ((*absmax = malloc(sizeof(float) * (size_t)*channels)) != NULL)
		memcpy(*absmax, am, sizeof(float) * (size_t)*channels);
	return 1;
}

void
wb_runs_progress(wb_app *a, int y)
{
	char el[32], eta[32], buf[256];
	double t = wb_now() - a->stage_t0, rate;
	int bw = COLS / 3;

	move(y, 0);
	clrtoeol();
	if (!wb_runs_busy(a)) {
		attron(wb_attr(WB_C_DIM));
		wb_textf(y, 0, COLS, " idle  calibration: %s  variants: %d",
		    a->calib != NULL ? base_name(a->calib_path) : "none",
		    a->n_variants);
		attroff(wb_attr(WB_C_DIM));
		return;
	}
	rate = t > 0 ? (double)a->done / t : 0.0;
	wb_duration(t, el, sizeof(el));
	wb_duration(a->eta, eta, sizeof(eta));
	wb_textf(y, 0, 14, " %-12s", a->stage);
	wb_hbar(y, 14, bw, a->fraction);
	snprintf(buf, sizeof(buf), " %3.0f%% %lld/%lld %.1f/s %s eta %s %s",
	    a->fraction * 100.0, (long long)a->done, (long long)a->total,
	    rate, el, eta, a->last_layer);
	wb_text(y, 14 + bw, COLS - 14 - bw, 1, buf);
}

/*
 * The log, wrapped at spaces: continuation rows are indented past the
 * time.  Rows of log line k at width w, and the piece of row r (0-based)
 * of it.
 */
#define LOG_INDENT 7

static int
log_piece(const char *s, int w, int r, const char **start)
{
	int n, cut, row = 0, ww = w;

	for (;;) {
		n = (int)strlen(s);
		cut = n;
		if (n > ww) {
			/*
			 * At the last field break (two spaces) in the row's
			 * second half, which keeps "4.16 bpw" whole; else at
			 * the last space; a word longer than the row is cut.
			 */
			for (cut = ww; cut > ww / 2 && !(s[cut] == ' ' &&
			    s[cut - 1] == ' '); cut--)
				;
			if (cut > ww / 2)
				while (cut > 0 && s[cut - 1] == ' ')
					cut--;
			else
				for (cut = ww; cut > 0 && s[cut] != ' '; cut--)
					;
			if (cut == 0)
				cut = ww;
		}
		if (row == r) {
			*start = s;
			return cut;
		}
		s += cut;
		while (*s == ' ')
			s++;
		if (*s == '\0')
			return -1;
		row++;
		ww = w - LOG_INDENT;
	}
}

static const char *
log_line(const wb_app *a, int k)
{
	return a->log[(a->log_head + k) % WB_LOG_LINES];
}

static int
log_rows(const wb_app *a, int w)
{
	const char *p;
	int k, r, rows = 0;

	for (k = 0; k < a->log_n; k++)
		for (r = 0; log_piece(log_line(a, k), w, r, &p) >= 0; r++)
			rows++;
	return rows;
}

/* The log's rows on screen: the body less the progress and the header. */
static int
log_height(void)
{
	return LINES - 3 - 1 - 2;
}

void
wb_runs_draw(wb_app *a, int y0, int y1)
{
	int y, k, r, n = y1 - y0 - 2, w = COLS - 2, total, top, row = 0, len;
	const char *p;

	wb_runs_progress(a, y0);
	if (n < 1 || w < 20)
		return;
	total = log_rows(a, w);
	top = a->log_top < 0 || a->log_top > total - n ? total - n :
	    a->log_top;
	if (top < 0)
		top = 0;
	attron(wb_attr(WB_C_HEADER));
	if (total > n)
		wb_textf(y0 + 1, 0, COLS, " log  %d-%d of %d rows%s", top + 1,
		    top + n < total ? top + n : total, total, a->log_top < 0 ?
		    ", following" : "");
	else
		wb_text(y0 + 1, 0, COLS, 1, " log");
	attroff(wb_attr(WB_C_HEADER));
	for (y = y0 + 2; y < y1; y++) {
		move(y, 0);
		clrtoeol();
	}
	y = y0 + 2;
	for (k = 0; k < a->log_n && y < y1; k++)
		for (r = 0; y < y1 && (len = log_piece(log_line(a, k), w, r,
		    &p)) >= 0; r++, row++) {
			char buf[sizeof(a->log[0])];

			if (row < top)
				continue;
			snprintf(buf, sizeof(buf), "%.*s", len, p);
			wb_text(y++, r == 0 ? 1 : 1 + LOG_INDENT, w, 0, buf);
		}
}

/* j k, the page keys, g G: scroll the log; at its end it follows. */
static void
press_log(wb_app *a, int key)
{
	int n = log_height(), total = log_rows(a, COLS - 2), last;
	int top = a->log_top;

	last = total - n > 0 ? total - n : 0;
	if (top < 0 || top > last)
		top = last;
	switch (key) {
	case 'j': case KEY_DOWN:
		top++;
		break;
	case 'k': case KEY_UP:
		top--;
		break;
	case KEY_NPAGE: case WB_CTRL('f'): case ' ':
		top += n > 1 ? n - 1 : 1;
		break;
	case KEY_PPAGE: case WB_CTRL('b'):
		top -= n > 1 ? n - 1 : 1;
		break;
	case 'g': case KEY_HOME:
		top = 0;
		break;
	default:	/* G End */
		top = last;
		break;
	}
	top = top < 0 ? 0 : top;
	a->log_top = top >= last ? -1 : top;
}

/* The colour of a perplexity increase in percent. */
static int
delta_attr(double d)
{
	return wb_attr(d < 1.0 ? WB_C_GOOD : d < 5.0 ? WB_C_WARN : WB_C_BAD);
}

/*
 * The comparison table: bits per weight, perplexity and its change, mean
 * KLD against the fp model and top-token agreement, with two bars (KLD
 * scaled to the largest, and the share of top tokens that differ, scaled
 * to the largest) so the variants are compared at a glance.
 */
void
wb_valid_draw(wb_app *a, int y0, int y1)
{
	double kmax = 0.0, dmax = 0.0;
	int i, y = y0, x, bw = (COLS - 58) / 2;
	char used[64];

	for (i = 0; i < a->n_variants; i++) {
		const wb_variant *v = &a->variants[i];

		if (v->ppl < 0.0)
			continue;
		if (v->kld > kmax)
			kmax = v->kld;
		if (1.0 - v->same_top > dmax)
			dmax = 1.0 - v->same_top;
	}
	if (bw < 4)
		bw = 4;
	wb_runs_progress(a, y++);
	/* where the numbers come from: text, window, tokens */
	if (a->valid_used < a->valid_total)
		snprintf(used, sizeof(used), "first %lld of %lld tokens",
		    (long long)a->valid_used, (long long)a->valid_total);
	else
		snprintf(used, sizeof(used), "all %lld tokens",
		    (long long)a->valid_total);
	attron(wb_attr(WB_C_HEADER));
	if (a->valid_text[0] != '\0') {
		char line[768];

		/* the whole path when it fits, else the file's name */
		if (snprintf(line, sizeof(line), " vs the fp model on %s, ctx "
		    "%lld, %s", a->valid_text, (long long)a->valid_ctx, used) >
		    COLS)
			snprintf(line, sizeof(line), " vs the fp model on %s, "
			    "ctx %lld, %s", base_name(a->valid_text),
			    (long long)a->valid_ctx, used);
		wb_text(y++, 0, COLS, 1, line);
	} else
		wb_text(y++, 0, COLS, 1, " vs the fp model: no numbers yet (v "
		    "validates on FILE [CTX [TOKENS]])");
	attroff(wb_attr(WB_C_HEADER));
	if (a->valid_note[0] != '\0') {
		attron(wb_attr(WB_C_WARN));
		wb_textf(y++, 0, COLS, " %s (not shown)", a->valid_note);
		attroff(wb_attr(WB_C_WARN));
	}
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 0, COLS, " %-16s %5s %8s %7s %8s %6s  %-*s %s",
	    "variant", "bpw", "ppl", "delta", "KLD", "top1", bw, "KLD",
	    "top1 diff");
	attroff(wb_attr(WB_C_HEADER));
	if (a->fp_ppl > 0.0)
		wb_textf(y++, 0, COLS, " %-16s %5.2f %8.3f %7s %8s %6s",
		    "fp16", 16.0, a->fp_ppl, "", "0", "100%");
	for (i = 0; i < a->n_variants && y < y1; i++, y++) {
		const wb_variant *v = &a->variants[i];
		double d;

		move(y, 0);
		clrtoeol();
		if (v->ppl < 0.0) {
			wb_textf(y, 0, COLS, " %-16.16s %5.2f %8s", v->label,
			    v->bpw, "-");
			continue;
		}
		d = (v->ppl / a->fp_ppl - 1.0) * 100.0;
		wb_textf(y, 0, 32, " %-16.16s %5.2f %8.3f", v->label, v->bpw,
		    v->ppl);
		attron(delta_attr(d));
		wb_textf(y, 32, 8, " %+6.2f%%", d);
		attroff(delta_attr(d));
		wb_textf(y, 40, 18, " %8.5f %5.1f%%", v->kld,
		    v->same_top * 100.0);
		x = 58;
		attron(wb_attr(WB_C_BAR));
		wb_hbar(y, x, bw, kmax > 0 ? v->kld / kmax : 0);
		wb_hbar(y, x + bw + 1, bw, dmax > 0 ? (1.0 - v->same_top) /
		    dmax : 0);
		attroff(wb_attr(WB_C_BAR));
	}
	if (y < y1 && a->n_variants > 0) {
		attron(wb_attr(WB_C_DIM));
		wb_text(y++, 0, COLS, 1, " KLD: KL(fp || variant), nats per "
		    "position; top1: same likeliest token as fp");
		attroff(wb_attr(WB_C_DIM));
	}
	for (; y < y1; y++) {
		move(y, 0);
		clrtoeol();
	}
}

/* Draws s from (y, x) to the right edge, wrapped at spaces; the next y. */
static int
wrap(int y, int y1, int x, const char *s)
{
	int w = COLS - x - 1;

	while (*s != '\0' && y < y1 && w > 8) {
		int n = (int)strlen(s), cut = n;

		if (n > w) {
			for (cut = w; cut > 0 && s[cut] != ' '; cut--)
				;
			if (cut == 0)
				cut = w;
		}
		move(y, 0);
		clrtoeol();
		mvaddnstr(y++, x, s, cut);
		s += cut;
		while (*s == ' ')
			s++;
	}
	return y;
}

/*
 * The export dialog, over the body while the export prompt is open: what
 * is exported, every format the engine writes with what it writes and the
 * types it takes (the one being typed highlighted), and the overwrite
 * policy.  The engine's refusals come back as its one-line message.
 */
void
wb_export_draw(wb_app *a, int y0, int y1)
{
	const char *const *f = tq_export_format_names();
	const char *writes, *types, *rest;
	char typed[32] = "", line[512];
	int y = y0, which, i, n, lbl;

	which = export_which(a, a->prompt_buf, &rest);
	sscanf(rest, "%31s", typed);
	for (; y < y1; y++) {
		move(y, 0);
		clrtoeol();
	}
	y = y0;
	attron(wb_attr(WB_C_HEADER));
	if (which >= 0)
		wb_textf(y++, 0, COLS, " export %s (%.2f bpw)",
		    a->variants[which].label, a->variants[which].bpw);
	else if (which == -1)
		wb_textf(y++, 0, COLS, " export the fp model%s",
		    a->n_variants == 0 ? " (no variant yet)" : "");
	else
		wb_textf(y++, 0, COLS, " export: no such variant (#1..#%d, "
		    "or fp)", a->n_variants);
	attroff(wb_attr(WB_C_HEADER));
	/* the choices: a leading #N or fp picks one (labels if they fit) */
	for (lbl = 1; a->n_variants > 0 && lbl >= 0; lbl--) {
		n = snprintf(line, sizeof(line), " which (#N or fp first):");
		for (i = 0; i < a->n_variants && n < (int)sizeof(line); i++)
			if (lbl)
				n += snprintf(line + n, sizeof(line) - (size_t)n,
				    " %s %.2f |", a->variants[i].label,
				    a->variants[i].bpw);
			else
				n += snprintf(line + n, sizeof(line) - (size_t)n,
				    " #%d %.2f |", i + 1, a->variants[i].bpw);
		if (n < (int)sizeof(line))
			n += snprintf(line + n, sizeof(line) - (size_t)n,
			    " fp");
		if (n <= COLS)
			break;
	}
	if (a->n_variants > 0) {
		attron(wb_attr(WB_C_DIM));
		wb_text(y++, 0, COLS, 1, line);
		attroff(wb_attr(WB_C_DIM));
	}
	for (; *f != NULL && y < y1 - 1; f++) {
		int cur = strcmp(*f, typed) == 0;

		if (!tq_export_format_info(*f, &writes, &types))
			continue;
		if (cur)
			attron(wb_attr(WB_C_CURSOR));
		wb_textf(y++, 0, COLS, " %-19s %s", *f, writes);
		if (cur)
			attroff(wb_attr(WB_C_CURSOR));
		attron(wb_attr(WB_C_DIM));
		y = wrap(y, y1 - 1, 5, types);
		attroff(wb_attr(WB_C_DIM));
	}
	if (y < y1)
		wb_text(y, 0, COLS, 1, " [#N|fp] FORMAT TYPE PATH [force]: "
		    "force replaces an existing PATH");
}

void
wb_runs_free(wb_app *a)
{
	int i;

	tq_job_free(a->job);
	a->job = NULL;
	wb_calib_clear(a);
	close_qmodels(a);
	for (i = 0; i < a->n_variants; i++)
		tq_state_free(a->variants[i].state);
	a->n_variants = 0;
	tq_calib_free(a->calib);
	a->calib = NULL;
}

static const wb_key runs_keys[] = {
	{ { WB_KEY_ESC }, wb_key_back, "back to the layer browser", "back",
	    WB_ALWAYS },
	{ { 'j', KEY_DOWN }, press_log, "scroll the log down", "scroll",
	    WB_ALWAYS },
	{ { 'k', KEY_UP }, press_log, "scroll the log up", "scroll",
	    WB_ALWAYS },
	{ { KEY_NPAGE, WB_CTRL('f'), ' ' }, press_log, "a page down", NULL,
	    WB_ALWAYS },
	{ { KEY_PPAGE, WB_CTRL('b') }, press_log, "a page up", NULL,
	    WB_ALWAYS },
	{ { 'g', KEY_HOME }, press_log, "the log's first line", NULL,
	    WB_ALWAYS },
	{ { 'G', KEY_END }, press_log, "the end: follow new lines", "end",
	    WB_ALWAYS },
};

const wb_keymap wb_runs_keymap = {
	"Runs and log (3)", runs_keys, WB_NKEYS(runs_keys), "The progress of "
	"the run, then the log, long lines wrapped; c calibrates, r "
	"quantizes, v validates, E exports, Ctrl-C cancels (see Everywhere)"
};

/* The validation screen has only Esc of its own. */
static const wb_key back_keys[] = {
	{ { WB_KEY_ESC }, wb_key_back, "back to the layer browser", "back",
	    WB_ALWAYS },
};

const wb_keymap wb_valid_keymap = {
	"Validation (4)", back_keys, WB_NKEYS(back_keys), "v validates the "
	"variants not yet measured on FILE against the fp model (ppl, KLD, "
	"top-token agreement, bars scaled to the largest); E exports the "
	"last one"
};
