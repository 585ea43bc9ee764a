/*
 * wb_lessons_jobs.c: the lessons that run engine jobs one after another: domain mismatch
 * (prose against code) and GPTQ or AWQ at g64 or g128 side by side, with the
 * chain of jobs they share and its Ctrl-C (the overview is in wb_teach.c).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "wb.h"
#include "wb_teach.h"

/* ---- Lessons that run engine jobs, one after another ------------------ */

/* A lesson's jobs, one at a time, as the run WB_RUN_TEACH. */
typedef struct chain {
	const char *name;		/* "domain lesson" */
	int n;				/* its steps */
	const char *const *what;	/* [n] each step, for the user */
	int (*start)(wb_app *a);	/* starts step's job; 0 and a message
					   when it cannot */
	void (*take)(wb_app *a, tq_job *job);	/* the job ended well */
	void (*end)(wb_app *a);		/* after the last step */
	int step;		/* the job running (n: none) */
	int running, ok;	/* a job is going on; the last one ended well */
	int cancelled;		/* the user cancelled: no next step */
	int held;		/* step ended while "cancel the run?" was
				   open: the next waits for the answer */
	int stopped;		/* the step it stopped at, or -1 */
	int after;		/* it stopped after that step, not in it */
} chain;

static chain *run_chain;	/* the chain whose jobs run, or ran last */

/* Starts c's current step. */
static int
chain_start(wb_app *a, chain *c)
{
	if (!c->start(a))
		return 0;
	wb_log(a, "%s %d/%d: %s", c->name, c->step + 1, c->n,
	    c->what[c->step]);
	c->running = 1;
	c->ok = 0;
	return 1;
}

/* Runs c from its first step; 0 when it cannot start. */
static int
chain_begin(wb_app *a, chain *c)
{
	run_chain = c;
	c->step = 0;
	c->cancelled = 0;
	c->held = 0;
	c->stopped = -1;
	if (!chain_start(a, c)) {
		c->step = c->n;
		return 0;
	}
	return 1;
}

/* The chain ends at its step, cancelled or failed. */
static void
chain_stop(wb_app *a, chain *c, int after)
{
	const char *how = c->cancelled ? "cancelled" : "stopped";

	c->running = 0;
	c->held = 0;
	c->stopped = c->step;
	c->after = after;
	wb_message(a, !c->cancelled, "%s %s %s %d/%d: %s", c->name, how,
	    after ? "after" : "at", c->step + 1, c->n, c->what[c->step]);
	wb_log(a, "%s %s %s %d/%d", c->name, how, after ? "after" : "at",
	    c->step + 1, c->n);
	c->step = c->n;
	if (a->run == WB_RUN_TEACH && a->job == NULL)
		a->run = WB_RUN_NONE;	/* it was waiting for the answer */
}

void
wb_teach_job_done(wb_app *a, tq_job *job)
{
	if (run_chain == NULL || run_chain->step >= run_chain->n)
		return;
	run_chain->take(a, job);
	run_chain->ok = 1;
}

void
wb_teach_cancel(wb_app *a)
{
	chain *c = run_chain;

	if (c == NULL || !c->running)
		return;
	c->cancelled = 1;
	if (c->held)
		chain_stop(a, c, 1);	/* no job: nothing else ends it */
}

void
wb_teach_next(wb_app *a)
{
	chain *c = run_chain;

	if (c == NULL || !c->running)
		return;
	if (c->held) {
		/* still asked; a yes went to wb_teach_cancel */
		if (a->prompt == WB_PROMPT_CONFIRM_CANCEL)
			return;
		c->held = 0;
		a->run = WB_RUN_NONE;
	} else if (!c->ok || c->cancelled) {
		/* a step that ended well just as it was cancelled ends it */
		chain_stop(a, c, 0);
		return;
	} else if (c->step + 1 < c->n &&
	    a->prompt == WB_PROMPT_CONFIRM_CANCEL) {
		/*
		 * Ctrl-C asked "cancel the run?" during this step: the next
		 * one does not start behind the question.  The run stays on
		 * (no job) until the answer: yes stops here, no goes on.
		 */
		c->held = 1;
		wb_runs_begin(a, WB_RUN_TEACH, "waiting");
		wb_log(a, "%s %d/%d done: waiting for the answer", c->name,
		    c->step + 1, c->n);
		return;
	}
	if (++c->step < c->n) {
		if (!chain_start(a, c)) {
			c->running = 0;
			c->step = c->n;
		}
		return;
	}
	c->running = 0;
	c->end(a);
}

/*
 * The chain's state for its lesson: waiting for y/n, running, stopped;
 * 0 when none of these (the lesson says what Enter does).
 */
static int
chain_line(int y, const chain *c)
{
	if (c->held)
		wb_textf(y, 1, COLS - 2, "%d/%d done: %s; the next step "
		    "waits for y/n", c->step + 1, c->n, c->what[c->step]);
	else if (c->running)
		wb_textf(y, 1, COLS - 2, "running %d/%d: %s ... (Ctrl-C "
		    "cancels)", c->step + 1, c->n, c->what[c->step]);
	else if (c->stopped >= 0)
		wb_textf(y, 1, COLS - 2, "%s %s %d/%d: %s  (Enter: again)",
		    c->cancelled ? "cancelled" : "stopped", c->after ? "after" :
		    "at", c->stopped + 1, c->n, c->what[c->stopped]);
	else
		return 0;
	return 1;
}

/* ---- Lesson 5: domain mismatch, prose against code --------------------- */

#define DM_SAMPLES 16
#define DM_SEQLEN 512
#define DM_CTX 256
#define DM_TOKENS 4096

/* The steps, each one engine job, in order. */
enum {
	DM_CAL_PROSE = 0, DM_CAL_CODE, DM_Q_PROSE, DM_Q_CODE, DM_EVAL_PROSE,
	DM_EVAL_CODE, DM_DONE
};

static const char *const dm_what[DM_DONE] = {
	"calibrate on prose", "calibrate on code", "quantize, prose calibration",
	"quantize, code calibration", "evaluate on prose", "evaluate on code"
};

/* [calibration text, evaluation text] of each domain, in the corpora */
static const char *const dm_text[2][2] = {
	{ "wikitext2-valid.txt", "wikitext2-test.txt" },
	{ "linux-train.txt", "linux-test.txt" },
};

static int dm_start_step(wb_app *a);
static void dm_take(wb_app *a, tq_job *job);
static void dm_end(wb_app *a);

static struct {
	chain ch;		/* its steps: DM_* */
	char dir[400];
	char plan_name[96];
	tq_plan *plan;		/* the plan quantized both ways */
	tq_calib *calib[2];	/* [prose, code] */
	tq_qstate *state[2];
	tq_model *qm[2];	/* the states applied, while evaluating */
	tq_validation val[2];	/* on [prose, code] text */
	int have[2];
} dm = { .ch = { "domain lesson", DM_DONE, dm_what, dm_start_step, dm_take,
    dm_end, DM_DONE, 0, 0, 0, 0, -1, 0 } };

void
wbt_dm_clear(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		tq_model_close(dm.qm[i]);
		dm.qm[i] = NULL;
		tq_state_free(dm.state[i]);
		dm.state[i] = NULL;
		tq_calib_free(dm.calib[i]);
		dm.calib[i] = NULL;
		dm.have[i] = 0;
	}
	tq_plan_free(dm.plan);
	dm.plan = NULL;
}

/* Starts the job of dm.ch.step; 0 and a message when it cannot. */
static int
dm_start_step(wb_app *a)
{
	tq_error err = { TQ_OK, "" };
	char path[512];
	int d = dm.ch.step % 2;
	tq_status st;

	if (dm.ch.step == DM_CAL_PROSE || dm.ch.step == DM_CAL_CODE) {
		tq_calib_opts o = TQ_CALIB_OPTS_INIT;

		o.n_samples = DM_SAMPLES;
		o.seqlen = DM_SEQLEN;
		snprintf(path, sizeof(path), "%s/%s", dm.dir, dm_text[d][0]);
		st = tq_job_calibrate(a->model, path, &o, NULL, &a->job, &err);
	} else if (dm.ch.step == DM_Q_PROSE || dm.ch.step == DM_Q_CODE) {
		/* block by block: the lesson compares measured errors */
		st = tq_job_quantize(a->model, dm.plan, dm.calib[d], NULL,
		    TQ_QUANTIZE_SEQUENTIAL, &a->job, &err);
	} else {
		tq_validate_spec vs = TQ_VALIDATE_SPEC_INIT;
		const tq_model *ms[2];
		int i;

		for (i = 0; i < 2; i++)
			if (dm.qm[i] == NULL && tq_model_apply_state(a->model,
			    dm.state[i], &dm.qm[i], &err) != TQ_OK) {
				wb_message(a, 1, "domain lesson: %s", err.msg);
				return 0;
			}
		ms[0] = dm.qm[0];
		ms[1] = dm.qm[1];
		snprintf(path, sizeof(path), "%s/%s", dm.dir, dm_text[d][1]);
		vs.base = a->model;
		vs.models = ms;
		vs.n_models = 2;
		vs.text_path = path;
		vs.opts.protocol = TQ_PROTOCOL_GPTQ;
		vs.opts.ctx = DM_CTX;
		vs.opts.max_tokens = DM_TOKENS;
		st = tq_job_validate(&vs, &a->job, &err);
	}
	if (st != TQ_OK) {
		wb_message(a, 1, "domain lesson: %s", err.msg);
		return 0;
	}
	wb_runs_begin(a, WB_RUN_TEACH, dm.ch.step < DM_Q_PROSE ? "calibrate" :
	    dm.ch.step < DM_EVAL_PROSE ? "quantize" : "validate");
	return 1;
}

/*
 * The share of the plan's quantized weights whose method uses the
 * calibration (GPTQ, AWQ, SmoothQuant, RTN with an importance matrix).
 */
static double
calib_share(const wb_app *a)
{
	double all = 0.0, cal = 0.0;
	size_t i;

	for (i = 0; i < a->n_rows; i++) {
		const wb_row *r = &a->rows[i];
		double w = (double)r->rows * (double)r->cols;

		if (r->cfg.method == TQ_METHOD_FLOAT)
			continue;
		all += w;
		if (r->cfg.method != TQ_METHOD_RTN || r->cfg.use_imatrix)
			cal += w;
	}
	return all > 0.0 ? cal / all : 0.0;
}

int
wb_teach_domain_start(wb_app *a, const char *dir)
{
	tq_error err = { TQ_OK, "" };
	char path[512];
	double share;
	int d, k;

	if (wb_runs_busy(a)) {
		wb_message(a, 1, "a run is going on (Ctrl-C cancels it)");
		return 0;
	}
	for (d = 0; d < 2; d++)
		for (k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "%s/%s", dir, dm_text[d][k]);
			if (access(path, R_OK) != 0) {
				wb_message(a, 1, "domain lesson: %s: cannot read "
				    "it", path);
				return 0;
			}
		}
	wbt_dm_clear();
	snprintf(dm.dir, sizeof(dm.dir), "%s", dir);
	/*
	 * The workbench's plan when calibration matters to it: when most of
	 * its quantized weights go through a method that uses calibration.
	 */
	share = calib_share(a);
	if (share >= 0.5) {
		snprintf(dm.plan_name, sizeof(dm.plan_name), "%.90s%s",
		    a->plan.origin, wb_plan_edited(&a->plan) ? " *" : "");
		if (tq_plan_parse(a->plan.json, strlen(a->plan.json),
		    dm.plan_name, &dm.plan, &err) != TQ_OK) {
			wb_message(a, 1, "domain lesson: %s", err.msg);
			return 0;
		}
	} else {
		snprintf(dm.plan_name, sizeof(dm.plan_name), "preset w4-gptq "
		    "(only %.0f%% of the plan uses calibration)", share * 100.0);
		if (tq_plan_preset("w4-gptq", &dm.plan, &err) != TQ_OK) {
			wb_message(a, 1, "domain lesson: %s", err.msg);
			return 0;
		}
	}
	return chain_begin(a, &dm.ch);
}

static void
dm_take(wb_app *a, tq_job *job)
{
	int d = dm.ch.step % 2;

	(void)a;
	if (dm.ch.step == DM_CAL_PROSE || dm.ch.step == DM_CAL_CODE) {
		dm.calib[d] = tq_job_take_calib(job);
	} else if (dm.ch.step == DM_Q_PROSE || dm.ch.step == DM_Q_CODE) {
		dm.state[d] = tq_job_take_state(job);
	} else {
		dm.val[d] = *tq_job_validation(job);
		dm.val[d].longctx = NULL;	/* none asked for */
		dm.val[d].n_longctx = 0;
		dm.have[d] = 1;
	}
}

static void
dm_end(wb_app *a)
{
	tq_model_close(dm.qm[0]);
	tq_model_close(dm.qm[1]);
	dm.qm[0] = dm.qm[1] = NULL;
	wb_message(a, 0, "domain lesson done (5: teach)");
}

/*
 * What the two ratios say (KLD of the other domain's calibration over the
 * own one's, on prose and on code); 10% either way counts as a win.
 */
static const char *
verdict(double rp, double rc)
{
	static const char *const who[2][3] = {	/* [text][own, other, tie] */
		{ "the prose calibration wins", "the code calibration wins",
		    "the two are within 10%" },
		{ "the code calibration wins", "the prose calibration wins",
		    "the two are within 10%" },
	};
	static char buf[160];
	int wp = rp >= 1.1 ? 0 : rp <= 1 / 1.1 ? 1 : 2;
	int wc = rc >= 1.1 ? 0 : rc <= 1 / 1.1 ? 1 : 2;

	if (!(rp > 0) || !(rc > 0) || !isfinite(rp) || !isfinite(rc))
		return "A KLD of 0: a variant matches the fp model here.";
	if (wp == 0 && wc == 0)
		return "Each calibration wins on its own domain: the rounding "
		    "protects what it saw.";
	if (wp == 2 && wc == 2)
		return "Within 10% on both texts: the calibration's domain "
		    "barely matters to this plan.";
	if (wp == 1 && wc == 1)
		return "Each calibration loses on its own domain: too few "
		    "samples to tell.";
	snprintf(buf, sizeof(buf), "On prose %s; on code %s.", who[0][wp],
	    who[1][wc]);
	return buf;
}

void
wbt_lesson_domain(int y, int y1)
{
	static const char *const rows[2] = { "prose", "code" };
	int i, t;

	wb_textf(y++, 1, COLS - 2, "Calibrate on prose (%s) and on code (%s),",
	    dm_text[0][0], dm_text[1][0]);
	wb_textf(y++, 1, COLS - 2, "%d x %d tokens each; quantize the same "
	    "plan with each; evaluate", DM_SAMPLES, DM_SEQLEN);
	wb_textf(y++, 1, COLS - 2, "both on %d tokens of %s and %s, ctx "
	    "%d.", DM_TOKENS, dm_text[0][1], dm_text[1][1], DM_CTX);
	y++;
	if (chain_line(y, &dm.ch))
		y++;
	else if (dm.plan == NULL)
		wb_text(y++, 1, COLS - 2, 0, "Enter: run it (about a minute)");
	else
		wb_textf(y++, 1, COLS - 2, "plan: %s  (Enter: again)",
		    dm.plan_name);
	y++;
	if (!dm.have[0] && !dm.have[1])
		return;
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%-14s %-26s %-26s", "calibrated on",
	    " on prose (wikitext2-test)", " on code (linux-test)");
	wb_textf(y++, 1, COLS - 2, "%-14s %9s %8s %7s %9s %8s %7s", "",
	    "ppl", "KLD", "top1", "ppl", "KLD", "top1");
	attroff(wb_attr(WB_C_HEADER));
	move(y, 1);
	printw("%-14s", "fp16");
	for (t = 0; t < 2; t++)
		if (dm.have[t])
			printw(" %9.3f %8s %7s", dm.val[t].base.ppl, "", "");
	y++;
	for (i = 0; i < 2 && y < y1; i++, y++) {
		move(y, 1);
		printw("%-14s", rows[i]);
		for (t = 0; t < 2; t++) {
			const tq_kld_result *k = &dm.val[t].models[i];
			/* the better of the two on this text */
			int better = k->kld <= dm.val[t].models[1 - i].kld;

			if (!dm.have[t])
				continue;
			if (better)
				attron(wb_attr(WB_C_GOOD));
			printw(" %9.3f %8.5f %6.2f%%", k->ppl.ppl, k->kld,
			    100.0 * k->same_top);
			if (better)
				attroff(wb_attr(WB_C_GOOD));
		}
	}
	if (dm.have[0] && dm.have[1] && y + 1 < y1) {
		double rp = dm.val[0].models[1].kld / dm.val[0].models[0].kld;
		double rc = dm.val[1].models[0].kld / dm.val[1].models[1].kld;

		y++;
		wb_textf(y++, 1, COLS - 2, "KLD of the mismatched calibration: "
		    "%.2fx on prose, %.2fx on code", rp, rc);
		if (y < y1)
			wb_text(y, 1, COLS - 2, 0, verdict(rp, rc));
	}
}

/*
 * The relative weight error of the current layer rounded onto scheme
 * `name` (deq: room for its [rows, cols]); -1 when it does not fit.
 */
double
wbt_layer_error(const char *name, float *deq)
{
	tq_scheme s;
	tq_weight_err we;
	tq_error err;

	if (deq == NULL || tq_scheme_parse(name, &s, &err) != TQ_OK ||
	    tq_scheme_check(&s, teach_w.rows, teach_w.cols, &err) != TQ_OK ||
	    tq_quant_view(&s, teach_w.w, teach_w.rows, teach_w.cols, 0, 0, deq, NULL, NULL,
	    &err) != TQ_OK)
		return -1;
	tq_weight_error(teach_w.w, deq, teach_w.rows * teach_w.cols, &we);
	return we.rel;
}

/* ---- GPTQ or AWQ, g64 or g128: size against quality -------------------- */

#define TR_N 6

/* The six ways, each one engine job on the layer alone: method scheme. */
static const char *const tr_what[TR_N] = {
	"rtn int4-g128", "rtn int4-g64", "gptq int4-g128", "gptq int4-g64",
	"awq int4-g128", "awq int4-g64"
};

static int tr_start_step(wb_app *a);
static void tr_take(wb_app *a, tq_job *job);
static void tr_end(wb_app *a);

static struct {
	chain ch;
	size_t idx;			/* the layer's browser row */
	const tq_calib *calib;		/* the calibration it ran on */
	tq_plan *plan;			/* the running step's */
	tq_layer_result res[TR_N];	/* the engine's report of each */
	int have[TR_N];
} tr = { .ch = { "size lesson", TR_N, tr_what, tr_start_step, tr_take,
    tr_end, TR_N, 0, 0, 0, 0, -1, 0 }, .idx = (size_t)-1 };

/* A plan of the layer alone on step's method and scheme, the rest float. */
static tq_plan *
tr_plan(const char *layer, const char *how, tq_error *err)
{
	char json[1024], pat[512], method[16], scheme[32];
	tq_plan *p = NULL;
	size_t n = 0;
	const char *c;

	/* the name as a pattern: its dots and the like taken literally */
	for (c = layer; *c != '\0' && n + 4 < sizeof(pat); c++) {
		if (strchr(".[]()*+?^$|{}\\", *c) != NULL) {
			pat[n++] = '\\';
			pat[n++] = '\\';
		}
		pat[n++] = *c;
	}
	pat[n] = '\0';
	if (sscanf(how, "%15s %31s", method, scheme) != 2)
		return NULL;
	snprintf(json, sizeof(json), "{\"default\": {\"method\": \"float\"}, "
	    "\"rules\": [{\"match\": \"^%s$\", \"method\": \"%s\", "
	    "\"scheme\": \"%s\"}]}", pat, method, scheme);
	if (tq_plan_parse(json, strlen(json), how, &p, err) != TQ_OK)
		return NULL;
	return p;
}

static int
tr_start_step(wb_app *a)
{
	tq_error err = { TQ_OK, "" };

	tq_plan_free(tr.plan);
	tr.plan = tr_plan(a->rows[tr.idx].name, tr_what[tr.ch.step], &err);
	if (tr.plan == NULL || tq_job_quantize(a->model, tr.plan, tr.calib,
	    NULL, TQ_QUANTIZE_SEQUENTIAL, &a->job, &err) != TQ_OK) {
		wb_message(a, 1, "size lesson: %s", err.msg[0] != '\0' ?
		    err.msg : "no plan for the layer");
		return 0;
	}
	wb_runs_begin(a, WB_RUN_TEACH, "quantize");
	return 1;
}

static void
tr_take(wb_app *a, tq_job *job)
{
	tq_qstate *st = tq_job_take_state(job);
	size_t i, n = st != NULL ? tq_state_n_results(st) : 0;

	for (i = 0; i < n; i++) {
		const tq_layer_result *r = tq_state_result(st, i);

		if (strcmp(r->name, a->rows[tr.idx].name) == 0) {
			tr.res[tr.ch.step] = *r;
			tr.have[tr.ch.step] = 1;
		}
	}
	tq_state_free(st);
}

static void
tr_end(wb_app *a)
{
	tq_plan_free(tr.plan);
	tr.plan = NULL;
	wb_message(a, 0, "size lesson done (5: teach)");
}

/* Enter: quantizes the current layer the six ways. */
void
wbt_tr_run(wb_app *a, const wb_row *r)
{
	if (a->calib == NULL) {
		wb_message(a, 1, "size lesson: GPTQ and AWQ need a calibration:"
		    " c first");
		return;
	}
	if (!r->has_site || r->block < 0) {
		wb_message(a, 1, "size lesson: %s has no calibration input: "
		    "pick another layer", r->shortname);
		return;
	}
	tr.idx = r->idx;
	tr.calib = a->calib;
	memset(tr.have, 0, sizeof(tr.have));
	chain_begin(a, &tr.ch);
}

/* Output error of way k over way j's, as a change in percent. */
static double
tr_change(int k, int j)
{
	return 100.0 * (tr.res[k].rel_err / tr.res[j].rel_err - 1.0);
}

void
wbt_lesson_trade(wb_app *a, const wb_row *r, int y, int y1)
{
	double worst = 0, n = (double)r->rows * (double)r->cols;
	int k, j, all = 1, front, best;

	wb_textf(y++, 1, COLS - 2, "%s [%lld x %lld]: the engine's RTN, GPTQ "
	    "and AWQ at int4,", r->shortname, (long long)r->rows,
	    (long long)r->cols);
	wb_text(y++, 1, COLS - 2, 0, "groups of 128 and of 64, each as a "
	    "plan of this layer alone");
	y++;
	if (!chain_line(y, &tr.ch))
		wb_text(y, 1, COLS - 2, 0, a->calib == NULL ? "needs a "
		    "calibration: c first, then Enter" : tr.idx == r->idx ?
		    "Enter: again" : "Enter: quantize it six ways (seconds)");
	y += 2;
	if (tr.idx != r->idx || tr.ch.stopped >= 0)
		return;
	for (k = 0; k < TR_N; k++) {
		all = all && tr.have[k];
		if (tr.have[k] && tr.res[k].rel_err > worst)
			worst = tr.res[k].rel_err;
	}
	attron(wb_attr(WB_C_HEADER));
	wb_textf(y++, 1, COLS - 2, "%-16s %5s %8s %10s %7s", "method scheme",
	    "bpw", "bytes", "out.err", "SQNR");
	attroff(wb_attr(WB_C_HEADER));
	for (k = 0; k < TR_N && y < y1; k++, y++) {
		if (!tr.have[k])
			continue;
		/* the frontier: no other way is both smaller and better */
		front = 1;
		for (j = 0; j < TR_N; j++)
			if (j != k && tr.have[j] && tr.res[j].bpw <=
			    tr.res[k].bpw && tr.res[j].rel_err <
			    tr.res[k].rel_err)
				front = 0;
		if (front)
			attron(wb_attr(WB_C_GOOD));
		wb_textf(y, 1, 52, "%-16s %5.2f %8.0f %10.3e %5.1fdB %s",
		    tr_what[k], tr.res[k].bpw, tr.res[k].bpw * n / 8,
		    tr.res[k].rel_err, tr.res[k].sqnr_db, front ? "*" : "");
		if (front)
			attroff(wb_attr(WB_C_GOOD));
		if (COLS > 60)
			wb_hbar(y, 54, COLS - 56, worst > 0 ?
			    tr.res[k].rel_err / worst : 0);
	}
	if (!all || y + 3 >= y1)
		return;
	/* the better method at g128 (gptq 2, awq 4) against RTN's g64 */
	best = tr.res[2].rel_err <= tr.res[4].rel_err ? 2 : 4;
	y++;
	wb_text(y++, 1, COLS - 2, 0, "* on the frontier: no other way is both "
	    "smaller and better");
	wb_textf(y++, 1, COLS - 2, "g64 for %+.1f%% bytes: out.err %+.0f%% "
	    "rtn, %+.0f%% gptq, %+.0f%% awq", 100 * (tr.res[1].bpw /
	    tr.res[0].bpw - 1), tr_change(1, 0), tr_change(3, 2),
	    tr_change(5, 4));
	wb_textf(y++, 1, COLS - 2, "%s: out.err %+.0f%% against rtn, same "
	    "bytes: %s than g64 buys", tr_what[best], tr_change(best, 0),
	    tr_change(best, 0) < tr_change(1, 0) ? "more" : "less");
}

/* The corpora directory the domain lesson last used, or "". */
const char *
wbt_domain_dir(void)
{
	return dm.dir;
}

/* Frees the job lessons' plan and results. */
void
wbt_jobs_free(void)
{
	tq_plan_free(tr.plan);
	tr.plan = NULL;
	wbt_dm_clear();	/* after wb_runs_free, which ends the job */
}
