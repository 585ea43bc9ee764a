/*
 * cli_util.c: helpers shared by the commands: errors, the demo model's
 * location, option parsing, the progress bar and JSON strings.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int
cli_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("turboquant: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int
cli_fail(const tq_error *err)
{
	return cli_error("%s", err->msg[0] != '\0' ? err->msg :
	    tq_strerror(err->status));
}

static int
cli_is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

tq_status
cli_preset(const char *name, int imatrix, tq_plan **out, tq_error *err)
{
	char json[256];
	tq_status st;

	/* a known preset's name, so it is safe inside the JSON */
	if ((st = tq_plan_preset(name, out, err)) != TQ_OK || !imatrix)
		return st;
	tq_plan_free(*out);
	*out = NULL;
	snprintf(json, sizeof(json), "{\"preset\": \"%s\", \"rules\": "
	    "[{\"match\": \"^model\\\\.layers\\\\.\", \"imatrix\": true}]}",
	    name);
	return tq_plan_parse(json, strlen(json), name, out, err);
}

/*
 * The presets whose method follows the calibration text, and the method:
 * the one that measured best in mean KLD on the calibration domain without
 * losing to the peers off it (README, "Choosing the default method";
 * bench/default_method.sh, bench/quality.sh).  Plain GPTQ calibrated on
 * prose lost on C sources below 4.5 bits at every dampening tried; with
 * the Hessian's off-diagonal scaled by 0.7 (hess_shrink 0.3) it is ahead
 * of llama.cpp + imatrix on both texts from Q6_K to Q2_K, and better
 * in-domain than plain GPTQ too.  The clip search, which on the K-quants
 * searches each block's scales beyond ggml's rule
 * (core/quant_gguf_refine.c) and on the integer grids each group's range
 * and a least-squares refit of its step and zero, lowers the mean KLD on
 * both texts further.  On the integer grids AWQ's input scales before
 * GPTQ lower it again, on both texts (README, "Integer W4 and W3").
 */
#define CALIB_SHRINK 0.3
#define CALIB_SHRINK_TEXT "0.3"	/* the same, for the messages */

static const struct {
	const char *name;
	int awq_scales;		/* AWQ's input scales first */
} calib_presets[] = {
	{ "q8_0", 0 }, { "q6_k", 0 }, { "q5_k_m", 0 }, { "q4_k_m", 0 },
	{ "q4_k_s", 0 }, { "q3_k_m", 0 }, { "q2_k", 0 },
	{ "w4-gptq", 1 }, { "w3-gptq", 1 },
};
#define N_CALIB_PRESETS (sizeof(calib_presets) / sizeof(calib_presets[0]))

/* preset's entry in calib_presets, or -1: it keeps its own method. */
static int
calib_preset(const char *preset)
{
	size_t i;

	for (i = 0; preset != NULL && i < N_CALIB_PRESETS; i++)
		if (strcasecmp(preset, calib_presets[i].name) == 0)
			return (int)i;
	return -1;
}

const char *
cli_calib_default_desc(const char *preset)
{
	int k = calib_preset(preset);

	if (k >= 0 && calib_presets[k].awq_scales)
		return "AWQ's scales, then gptq + importance matrix + Hessian "
		    "shrink " CALIB_SHRINK_TEXT " + clip search";
	return "gptq + importance matrix + Hessian shrink " CALIB_SHRINK_TEXT
	    " + clip search";
}

const char *
cli_calib_default_why(const char *preset, int calibrated)
{
	int k = calib_preset(preset);

	/* the integer GPTQ presets need the text anyway: GPTQ is theirs */
	if (k < 0 || (!calibrated && calib_presets[k].awq_scales))
		return "the preset";
	if (!calibrated)
		return "no calibration text: RTN (--calib for the measured "
		    "default)";
	if (calib_presets[k].awq_scales)
		return "calibration text: AWQ scales + GPTQ + imatrix + shrink "
		    CALIB_SHRINK_TEXT " + clip search measured best";
	return "calibration text: GPTQ + imatrix + shrink " CALIB_SHRINK_TEXT
	    " + clip search measured best";
}

int
cli_calib_default(const char *preset, tq_plan *p, tq_error *err)
{
	tq_plan_rule r;
	int k = calib_preset(preset);

	if (k < 0)
		return 0;
	memset(&r, 0, sizeof(r));
	r.match = "^model\\.layers\\.";
	r.cfg.method = TQ_METHOD_GPTQ;
	r.cfg.use_imatrix = 1;
	r.cfg.hess_shrink = CALIB_SHRINK;
	r.cfg.clip_search = 1;
	r.mask = TQ_PLAN_SET_METHOD | TQ_PLAN_SET_IMATRIX | TQ_PLAN_SET_SHRINK |
	    TQ_PLAN_SET_CLIP;
	if (calib_presets[k].awq_scales) {
		r.cfg.awq_scales = 1;
		r.mask |= TQ_PLAN_SET_AWQ_SCALES;
	}
	if (tq_plan_insert_rule(p, tq_plan_n_rules(p), &r, err) != TQ_OK)
		return -1;
	return 1;
}

const char *
cli_model_path(const char *given)
{
	const char *env;

	if (given != NULL)
		return given;
	env = getenv("TQ_DEMO_MODEL");
	if (env != NULL && env[0] != '\0')
		return env;
	if (cli_is_dir(TQ_DATADIR "/demo"))
		return TQ_DATADIR "/demo";
	return TQ_SRCDIR "/assets/demo";
}

int
cli_parse_int(const char *opt, const char *s, long long lo, long long hi,
    long long *out)
{
	char *end;
	long long v;

	if (s == NULL) {
		cli_error("%s needs a value", opt);
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		cli_error("%s: \"%s\" is not an integer in [%lld, %lld]", opt, s,
		    lo, hi);
		return 0;
	}
	*out = v;
	return 1;
}

int
cli_parse_number(const char *cmd, const char *opt, const char *s, double lo,
    double hi, double *out)
{
	char *end;
	double v;

	if (s == NULL) {
		cli_error("%s: %s needs a value", cmd, opt);
		return 0;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo ||
	    v > hi) {
		cli_error("%s: %s: \"%s\" is not a number in [%g, %g]", cmd, opt,
		    s, lo, hi);
		return 0;
	}
	*out = v;
	return 1;
}

int
cli_calib_option(const char *opt, const char *value, cli_calib *c)
{
	tq_calib_opts *o = &c->o;
	long long v;

	if (strcmp(opt, "--calib") == 0) {
		if (value == NULL) {
			cli_error("--calib needs a file");
			return -1;
		}
		if (c->n_texts == TQ_CALIB_MAX_TEXTS) {
			cli_error("--calib: at most %d texts", TQ_CALIB_MAX_TEXTS);
			return -1;
		}
		c->text[c->n_texts++] = value;
	} else if (strcmp(opt, "--samples") == 0) {
		if (!cli_parse_int(opt, value, 1, 1 << 20, &v))
			return -1;
		o->n_samples = v;
	} else if (strcmp(opt, "--seqlen") == 0) {
		if (!cli_parse_int(opt, value, 2, 1 << 20, &v))
			return -1;
		o->seqlen = v;
	} else if (strcmp(opt, "--seed") == 0) {
		if (!cli_parse_int(opt, value, 0, INT64_MAX, &v))
			return -1;
		o->seed = (uint64_t)v;
	} else {
		return 0;
	}
	return 1;
}

tq_status
cli_calib_sample(const tq_model *m, const cli_calib *c, tq_calib **out,
    tq_error *err)
{
	return tq_calib_sample_texts(m, c->text, c->n_texts, &c->o, out, err);
}

const char *
cli_calib_names(const cli_calib *c)
{
	static char buf[1024];
	size_t k, n = 0;

	buf[0] = '\0';
	for (k = 0; k < c->n_texts && n < sizeof(buf); k++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
		    k > 0 ? " + " : "", c->text[k]);
	return buf;
}

double
cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void
cli_progress_start(cli_progress *p, const char *label)
{
	p->label = label;
	p->t0 = cli_now();
	p->last = 0.0;
	p->active = isatty(STDERR_FILENO);
}

int
cli_progress_cb(void *ud, const tq_progress *pr)
{
	cli_progress *p = ud;
	double now = cli_now(), frac, eta;
	int width = 30, filled, i;

	if (!p->active || pr->total <= 0)
		return 0;
	if (now - p->last < 0.1 && pr->done < pr->total)
		return 0;
	p->last = now;
	frac = (double)pr->done / (double)pr->total;
	filled = (int)(frac * width);
	fprintf(stderr, "\r%s [", p->label);
	for (i = 0; i < width; i++)
		fputc(i < filled ? '#' : '.', stderr);
	fprintf(stderr, "] %lld/%lld", (long long)pr->done,
	    (long long)pr->total);
	if (pr->done > 0 && pr->done < pr->total) {
		eta = (now - p->t0) / (double)pr->done *
		    (double)(pr->total - pr->done);
		fprintf(stderr, "  ETA %d:%02d", (int)eta / 60, (int)eta % 60);
	} else {
		fprintf(stderr, "  %.1fs     ", now - p->t0);
	}
	fflush(stderr);
	return 0;
}

void
cli_progress_end(cli_progress *p)
{
	if (p->active && p->last > 0.0)
		fputc('\n', stderr);
}

void
cli_json_string(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	fputc('"', f);
	for (; *u != '\0'; u++) {
		switch (*u) {
		case '"':	fputs("\\\"", f); break;
		case '\\':	fputs("\\\\", f); break;
		case '\n':	fputs("\\n", f); break;
		case '\r':	fputs("\\r", f); break;
		case '\t':	fputs("\\t", f); break;
		default:
			if (*u < 0x20)
				fprintf(f, "\\u%04x", *u);
			else
				fputc(*u, f);
		}
	}
	fputc('"', f);
}

/* ---- Running a job with a progress bar ---------------------------------- */

static volatile sig_atomic_t cli_interrupted;

static void
cli_on_sigint(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

tq_status
cli_run_job(tq_job *j, void (*on_event)(void *ud, const tq_event *ev),
    void *ud, tq_error *err)
{
	struct sigaction sa, old, old_term;
	cli_progress prog;
	struct pollfd p;
	char label[32] = "";
	tq_event ev;
	int done = 0, asked = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_on_sigint;
	cli_interrupted = 0;
	sigaction(SIGINT, &sa, &old);
	/* SIGTERM too: the job cancels and removes its temporaries. */
	sigaction(SIGTERM, &sa, &old_term);
	cli_progress_start(&prog, label);
	p.fd = tq_job_fd(j);
	p.events = POLLIN;
	while (!done) {
		if (cli_interrupted && !asked) {
			tq_job_cancel(j);
			asked = 1;
		}
		if (poll(&p, 1, 100) <= 0) {
			if (tq_job_running(j))
				continue;
			/*
			 * The worker has stopped: once joined, everything it
			 * posted is queued, so one more drain is the last.
			 */
			tq_job_wait(j, NULL);
			done = 1;
		}
		while (tq_job_poll(j, &ev)) {
			tq_progress pr = { ev.stage, ev.done, ev.total };

			if (ev.kind == TQ_EVENT_STAGE ||
			    (ev.kind == TQ_EVENT_PROGRESS &&
			    strcmp(label, ev.stage) != 0)) {
				/* A new stage: a new bar with its own ETA. */
				cli_progress_end(&prog);
				snprintf(label, sizeof(label), "%s", ev.stage);
				cli_progress_start(&prog, label);
			}
			if (ev.kind == TQ_EVENT_PROGRESS)
				cli_progress_cb(&prog, &pr);
			else if (ev.kind >= TQ_EVENT_DONE)
				done = 1;
			if (on_event != NULL && ev.kind != TQ_EVENT_PROGRESS) {
				if (prog.active && prog.last > 0.0)
					fputs("\r\033[K", stderr);
				on_event(ud, &ev);
			}
		}
	}
	cli_progress_end(&prog);
	sigaction(SIGINT, &old, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return tq_job_wait(j, err);
}

void
cli_print_log(void *ud, const tq_event *ev)
{
	(void)ud;
	if (ev->kind == TQ_EVENT_LOG)
		fprintf(stderr, "%s\n", ev->text);
}
