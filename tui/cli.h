/*
 * cli.h: the headless command line of turboquant (shared helpers).
 */
#ifndef TQ_TUI_CLI_H
#define TQ_TUI_CLI_H

#include <stdio.h>

#include "tq.h"

/* A command: its name, one-line summary, usage text and entry point. */
typedef struct cli_command {
	const char *name;
	const char *summary;
	const char *usage;
	int (*run)(int argc, char **argv);
} cli_command;

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_tui(int argc, char **argv);	/* tui/wb_main.c */

/* Prints "turboquant: MESSAGE" on stderr; returns the exit status 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a tq_error as one line; returns 1. */
int cli_fail(const tq_error *err);
/* Prints the usage of a command on stream f. */
void cli_usage(FILE *f, const char *command);

/*
 * Preset name, with imatrix the importance matrix on every block linear
 * (the rule {"match": "^model\\.layers\\.", "imatrix": true} after it),
 * as llama-quantize --imatrix quantizes a mix.
 */
tq_status cli_preset(const char *name, int imatrix, tq_plan **out,
    tq_error *err);

/*
 * The method the GGUF K-quant presets (q8_0 to q2_k) and the integer GPTQ
 * ones (w4-gptq, w3-gptq) get on their block linears when calibration
 * text is given and --method is not: GPTQ with the importance matrix, the
 * Hessian's off-diagonal shrunk (0.3) and the clip search, the integer
 * ones after AWQ's input scales, as measured (README, "Choosing the
 * default method", "Integer W4 and W3").  cli_calib_default appends that
 * rule to p: 1 if it did, 0 if the preset keeps its own method, -1 on
 * error.
 */
int cli_calib_default(const char *preset, tq_plan *p, tq_error *err);
/* That method's words for a log line: "gptq + importance matrix + ..." */
const char *cli_calib_default_desc(const char *preset);
/* Why a block linear of the preset gets its method, with or without text. */
const char *cli_calib_default_why(const char *preset, int calibrated);

/*
 * The model directory to open: the one given, else the bundled demo model
 * ($TQ_DEMO_MODEL, the installed copy, or the source tree's assets/demo).
 */
const char *cli_model_path(const char *given);

/* Parses a positive integer option value; returns 0 and prints on error. */
int cli_parse_int(const char *opt, const char *s, long long lo, long long hi,
    long long *out);
/*
 * Parses a number option value in [lo, hi]; returns 0 and prints on error
 * ("CMD: OPT: ... is not a number in [lo, hi]").
 */
int cli_parse_number(const char *cmd, const char *opt, const char *s,
    double lo, double hi, double *out);

/* Calibration text and sampling as the command line gives them. */
typedef struct cli_calib {
	tq_calib_opts o;
	const char *text[TQ_CALIB_MAX_TEXTS];	/* --calib, repeatable */
	size_t n_texts;
} cli_calib;
#define CLI_CALIB_INIT { TQ_CALIB_OPTS_INIT, { NULL }, 0 }

/*
 * Parses a calibration option (--calib, --samples, --seqlen, --seed) with
 * its value into c: 1 if it was one, 0 if opt is something else, -1
 * (after printing the error) if its value is bad.
 */
int cli_calib_option(const char *opt, const char *value, cli_calib *c);
/* Samples c's texts (tq_calib_sample_texts). */
tq_status cli_calib_sample(const tq_model *m, const cli_calib *c,
    tq_calib **out, tq_error *err);
/* c's texts for messages: "a.txt" or "a.txt + b.txt" (static storage). */
const char *cli_calib_names(const cli_calib *c);

/* A progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct cli_progress {
	const char *label;
	double t0;		/* start time, seconds */
	double last;		/* last redraw */
	int active;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label);
/* A tq_progress_cb: redraws at most ten times a second. */
int cli_progress_cb(void *ud, const tq_progress *pr);
void cli_progress_end(cli_progress *p);

/* `plan`'s mixed-precision options (cmd_mix.c). */
typedef struct cli_mix_args {
	double target_bpw;	/* > 0: optimize for this budget */
	int frontier;		/* print the Pareto frontier */
	const char *menu;	/* comma-separated, or NULL: the default */
	const char *exclude;	/* comma-separated grids or entries the
				   optimizer leaves out, or NULL */
	cli_calib co;		/* calibration text for measuring */
	const char *sens_path;	/* load from, or save to */
	const char *base_plan;	/* preset or file: lm_head, embeddings */
	long long probe_tokens;
	int json;
	int per_expert;		/* each expert linear its own choice */
} cli_mix_args;

/*
 * Gets the model's sensitivity (loaded, or measured with a progress bar),
 * prints the frontier when asked, and with a budget makes the optimized
 * plan (*plan, named in name).  Returns 0, or 1 after printing the error.
 */
typedef struct cli_mix_result {
	int optimized;		/* a plan was made for a budget */
	double target_bpw, bpw, pred;
} cli_mix_result;

int cli_plan_mixed(const cli_mix_args *a, const tq_model *m, tq_plan **plan,
    cli_mix_result *res, char *name, size_t name_len);

/*
 * The predicted mean KLD of plan p on model m by sensitivity table s: the
 * sum over block linears of the table's prediction for each layer's
 * setting; NaN when some quantized layer's setting is not in the menu
 * or a group's experts (one entry) do not share one setting.
 */
double cli_mix_predict(const tq_sens *s, const tq_model *m,
    const tq_plan *p);

/* Wall-clock seconds since an arbitrary origin. */
double cli_now(void);

/* Writes s as a JSON string literal (with quotes) to f. */
void cli_json_string(FILE *f, const char *s);

/*
 * Runs an export job (tq_job_export) with a progress bar and prints the
 * report (JSON with json; with json and keep, copies it to *keep for the
 * caller's own JSON instead); returns the exit status.  cmd_export.c.
 */
int cli_export_run(const tq_model *base, const tq_qstate *s, const char *out,
    const tq_export_opts *o, int json, tq_export_report *keep);
/* Prints an export's report, as text or as one JSON object. */
void cli_export_print(const tq_export_report *r, int json);

/*
 * Splits quantize's --export FORMAT:PATH into fmt (of size len) and *path,
 * checking FORMAT names an export format and, without force, that PATH
 * does not exist yet, so a long quantization does not end in a refused
 * export.  Returns 1, or 0 after printing the error.  cmd_export.c.
 */
int cli_export_spec(const char *spec, int force, char *fmt, size_t len,
    const char **path);

/*
 * Runs a job to its end with a progress bar per stage (with ETA) on a
 * terminal; Ctrl-C or SIGTERM cancels it (the job removes its
 * temporaries).  on_event (may be NULL) sees every event but progress.
 * Returns the job's status.
 */
tq_status cli_run_job(tq_job *j, void (*on_event)(void *ud,
    const tq_event *ev), void *ud, tq_error *err);
/* An on_event for cli_run_job that prints log lines on stderr. */
void cli_print_log(void *ud, const tq_event *ev);

#endif /* TQ_TUI_CLI_H */
