/*
 * wb.h: the ncurses workbench (`turboquant` with no command, or
 * `turboquant tui MODEL`).
 *
 * One thread (the UI's) owns curses and every field of wb_app.  Long work
 * runs on engine jobs (calibrate, quantize, eval, ...); the event loop
 * (wb_main.c) polls stdin, the job's descriptor and a self-pipe for
 * signals, and redraws when something changed.
 *
 * Files: wb_main.c (loop, keys, terminal setup and restore), wb_draw.c
 * (colours, bars, histograms, text), wb_browser.c (layer table, sort,
 * filter, summary), wb_plan.c (plan edits, undo/redo, save/load),
 * wb_runs.c (jobs, progress, log, validation), wb_calib.c (calibration
 * with live statistics), wb_detail.c, wb_teach.c, wb_help.c, wb_keys.c
 * (key dispatch, the `?` overlay's lines and the hint bar, made from the
 * screens' key tables).
 */
#ifndef TQ_TUI_WB_H
#define TQ_TUI_WB_H

#include <stddef.h>
#include <stdint.h>

#include "tq.h"

/* ---- Colours by meaning (wb_draw.c) -------------------------------------- */

typedef enum wb_color {
	WB_C_NORMAL = 0,
	WB_C_TITLE,	/* top line */
	WB_C_HEADER,	/* column headers */
	WB_C_CURSOR,	/* the current row */
	WB_C_MARKED,	/* marked rows */
	WB_C_GOOD,	/* small error, finished */
	WB_C_WARN,	/* medium error, outliers */
	WB_C_BAD,	/* large error, failures */
	WB_C_DIM,	/* float layers, hints */
	WB_C_KEY,	/* a key in the hint bar */
	WB_C_BAR,	/* progress and histogram bars */
	WB_C_GRID,	/* grid levels */
	WB_C_COUNT
} wb_color;

void wb_colors_init(void);
int wb_attr(wb_color c);
/* 1 when the terminal takes UTF-8 block characters. */
int wb_utf8(void);

/* Text at (y, x) clipped to w columns, padded with spaces when pad. */
void wb_text(int y, int x, int w, int pad, const char *s);
void wb_textf(int y, int x, int w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A horizontal bar of frac of w cells (eighths in UTF-8). */
void wb_hbar(int y, int x, int w, double frac);
/*
 * Vertical bars: v[n] drawn over w columns and h rows at (y, x), scaled to
 * the largest value (log scale when log_scale).
 */
void wb_vbars(int y, int x, int w, int h, const double *v, int n,
    int log_scale);
/* Human sizes: "10.2M", "197k", "512". */
void wb_human(double v, char *buf, size_t len);
/* Seconds as "1:05" or "12s". */
void wb_duration(double s, char *buf, size_t len);
double wb_now(void);

/* ---- Layer rows (wb_browser.c) ------------------------------------------- */

typedef struct wb_row {
	size_t idx;		/* tq_model_linear index */
	const char *name;	/* borrowed from the model */
	char shortname[48];	/* "0.mlp.down_proj" */
	int block;		/* -1 for lm_head and embeddings */
	int has_site;		/* its input is a calibration site */
	tq_linear site;		/* that site: Q (q/k/v), O, GATE (gate/up),
				   DOWN or LM_HEAD */
	int64_t rows, cols;
	tq_layer_cfg cfg;	/* resolved from the plan */
	char fell[128];		/* why cfg is not the plan's scheme (a
				   shape fallback), or "" */
	double bpw;		/* 16 for float */
	int marked;
	int has_result;
	tq_layer_result res;
	int n_outliers;		/* input channels >= WB_OUTLIER_RATIO x median */
	float max_ratio;
} wb_row;

#define WB_OUTLIER_RATIO 4.0

typedef enum wb_sort {
	WB_SORT_MODEL = 0, WB_SORT_NAME, WB_SORT_PARAMS, WB_SORT_METHOD,
	WB_SORT_BITS, WB_SORT_GROUP, WB_SORT_BPW, WB_SORT_SIZE, WB_SORT_ERR,
	WB_SORT_OUTLIERS, WB_SORT_COUNT
} wb_sort;

/* ---- The plan being edited (wb_plan.c) ----------------------------------- */

#define WB_UNDO_MAX 64

/* A plan as it was: its text, and its origin's name and text. */
typedef struct wb_plan_snap {
	char *json;			/* owned */
	char *base;			/* owned */
	char origin[96];
} wb_plan_snap;

typedef struct wb_plan {
	char *json;			/* the plan as JSON (owned) */
	tq_plan *plan;			/* parsed from json */
	wb_plan_snap undo[WB_UNDO_MAX];	/* earlier plans, oldest first */
	int n_undo;
	wb_plan_snap redo[WB_UNDO_MAX];
	int n_redo;
	char *base;			/* the origin's own text (owned): the
					   plan is edited when json differs */
	char origin[96];		/* "preset w4-gptq", "file x.json" */
	char path[512];			/* last save/load path */
	int dirty;
} wb_plan;

/* ---- The application --------------------------------------------------- */

typedef enum wb_screen {
	WB_SCR_BROWSER = 0, WB_SCR_DETAIL, WB_SCR_RUNS, WB_SCR_VALID,
	WB_SCR_TEACH, WB_SCR_MIX, WB_SCR_COUNT
} wb_screen;

typedef enum wb_prompt_kind {
	WB_PROMPT_NONE = 0, WB_PROMPT_FILTER, WB_PROMPT_SETTING,
	WB_PROMPT_SAVE, WB_PROMPT_LOAD, WB_PROMPT_PRESET, WB_PROMPT_CALIB,
	WB_PROMPT_VALID, WB_PROMPT_EXPORT, WB_PROMPT_CONFIRM_CANCEL,
	WB_PROMPT_CONFIRM_QUIT,
	WB_PROMPT_SENS, WB_PROMPT_SENS_SAVE,	/* wb_mix.c */
	WB_PROMPT_DOMAIN			/* wb_teach.c */
} wb_prompt_kind;

#define WB_LOG_LINES 200

typedef enum wb_run_kind {
	WB_RUN_NONE = 0, WB_RUN_CALIB, WB_RUN_QUANT, WB_RUN_VALID,
	WB_RUN_EXPORT,
	WB_RUN_SENS,		/* wb_mix.c */
	WB_RUN_TEACH		/* wb_teach.c: the domain lesson's jobs */
} wb_run_kind;

/* A quantized variant made in this session, with its validation. */
typedef struct wb_variant {
	char label[64];
	tq_qstate *state;		/* owned */
	double bpw;			/* of the quantized layers */
	double ppl, ppl_err;		/* < 0 until validated */
	double kld, kld_err;		/* mean KL(fp || variant), nats */
	double same_top, same_top_err;	/* share of positions whose top
					   token is the fp model's */
	char ppl_text[512];		/* the text it was validated on */
	int64_t ppl_ctx;		/* and the window */
	int64_t ppl_tokens;		/* and the token limit (0: all) */
} wb_variant;

#define WB_MAX_VARIANTS 8

typedef struct wb_app {
	tq_model *model;
	const char *model_path;

	wb_row *rows;			/* [n_rows], model order */
	size_t n_rows;
	size_t *view;			/* rows shown: filtered and sorted */
	size_t n_view;
	size_t cur, top;		/* cursor and first shown, in view */
	char filter[256];
	void *filter_re;		/* pcre2_code * */
	wb_sort sort;
	int sort_rev;

	wb_plan plan;

	/* runs */
	wb_run_kind run;
	tq_job *job;
	int calib_running;		/* the job is a calibration */
	tq_calib_snapshot *calib_snap;	/* its statistics so far, or NULL */
	tq_calib *calib;		/* the last finished calibration */
	char calib_path[512];
	tq_model *qmodels[WB_MAX_VARIANTS];	/* applied, while validating */
	int valid_of[WB_MAX_VARIANTS];	/* the variant of each qmodels[i] */
	int n_qmodels;
	char stage[32];
	int64_t done, total;
	double fraction, eta, stage_t0, run_t0;
	char last_layer[96];
	int layers_done;

	/* validation */
	char valid_path[512];
	int64_t valid_ctx;
	double fp_ppl, fp_ppl_err;	/* < 0 until measured */
	wb_variant variants[WB_MAX_VARIANTS];
	int n_variants;

	char export_spec[512];

	/* log */
	char log[WB_LOG_LINES][160];
	int log_head, log_n;

	/* UI */
	wb_screen screen;
	int help;
	int help_top;
	wb_prompt_kind prompt;
	char prompt_buf[512];
	size_t prompt_len;
	char message[256];		/* one line under the table */
	int message_bad;
	int quit;
	int dirty;			/* redraw */

	/* teaching */
	int teach_page;
	int teach_step;
	int64_t teach_row;

	/* detail: which row and block of the weight the grid shows */
	int64_t detail_row, detail_block;

	/*
	 * Where the shown numbers come from (wb_runs.c).  valid_path is the
	 * validation prompt's last text ("FILE [CTX [TOKENS]]"); the table
	 * shows valid_text, valid_ctx and valid_tokens (valid_used of
	 * valid_total tokens); valid_note says why the last run left no
	 * numbers (cancelled, failed), or is "".
	 */
	char valid_text[512];
	int64_t valid_tokens, valid_used, valid_total;
	char valid_run_text[512];	/* the running validation's */
	int64_t valid_run_ctx, valid_run_tokens;
	char valid_note[256];
	int results_of;			/* the variant (1..) whose errors the
					   browser shows; 0 none, -1 a run's
					   so far */
	/* navigation (wb_browser.c, wb_main.c) */
	char filter_was[256];		/* the filter when / opened */
	int filter_on_names;		/* the filter picks the same rows on
					   the full names: a plan rule may
					   use it as its pattern */
	int log_top;			/* Runs: the log's first line shown,
					   -1 to follow the end */
} wb_app;

/* ---- Key bindings (wb_keys.c) ------------------------------------------ */

#define WB_KEY_CODES 6

/* When a binding's hint is on the bar. */
typedef enum wb_when {
	WB_ALWAYS = 0, WB_IDLE, WB_BUSY		/* no run / a run goes on */
} wb_when;

/*
 * One binding: its keys, what they do, and how the `?` overlay and the hint
 * bar show it.  The key dispatch, the overlay and the hint bar are all made
 * from these tables, so they cannot drift apart.
 */
typedef struct wb_key {
	int codes[WB_KEY_CODES];	/* getch codes; 0 ends the list */
	void (*fn)(wb_app *a, int key);	/* called with the key pressed */
	const char *help;		/* the overlay's line */
	const char *hint;		/* the hint bar's word, or NULL */
	wb_when when;			/* of the hint */
} wb_key;

/* The keys of one screen (or of every screen, or of the overlay). */
typedef struct wb_keymap {
	const char *title;		/* the overlay's section */
	const wb_key *keys;
	size_t n;
	const char *note;		/* a line after the section, or NULL */
} wb_keymap;

#define WB_NKEYS(t) (sizeof(t) / sizeof((t)[0]))
#define WB_CTRL(c) ((c) & 0x1f)
#define WB_KEY_ESC 27

/* Each screen's file owns its map. */
extern const wb_keymap wb_global_keymap;	/* wb_main.c */
extern const wb_keymap wb_browser_keymap;	/* wb_browser.c */
extern const wb_keymap wb_detail_keymap;	/* wb_detail.c */
extern const wb_keymap wb_runs_keymap;		/* wb_runs.c */
extern const wb_keymap wb_valid_keymap;		/* wb_runs.c */
extern const wb_keymap wb_teach_keymap;		/* wb_teach.c */
extern const wb_keymap wb_mix_keymap;		/* wb_mix.c */
extern const wb_keymap wb_help_keymap;		/* wb_help.c */
extern const wb_keymap wb_prompt_keymap;	/* wb_main.c: line editing */
extern const wb_keymap wb_question_keymap;	/* wb_main.c: y/n */

/* The map of screen s. */
const wb_keymap *wb_keymap_of(wb_screen s);
/* Calls the binding of key in m; 0 if m has none. */
int wb_keys_run(wb_app *a, const wb_keymap *m, int key);
/* The screen's binding of key, else the global one; 0 if neither has it. */
int wb_keys_dispatch(wb_app *a, int key);
/* A key's name ("j", "Enter", "Ctrl-R"; brief: "^R", "spc"), or NULL. */
const char *wb_key_name(int code, int brief);

/* The `?` overlay's lines, every map in turn. */
size_t wb_keys_help_count(void);
/*
 * Line i: returns 1 for a binding (its key names in keys), 0 for a section
 * title or note (keys empty), -1 past the end; *text is the line's text.
 */
int wb_keys_help_line(size_t i, char *keys, size_t len, const char **text);

/* One item of the hint bar. */
typedef struct wb_hint {
	char key[24];			/* "j/k", "1-6", "^C" */
	const char *what;
} wb_hint;

/*
 * The hint bar of screen s (busy: a run goes on): the global hints, then
 * the screen's; neighbours with the same hint share an item.
 */
size_t wb_keys_hints(wb_screen s, int busy, wb_hint *h, size_t max);
/* m's hints alone (a prompt's, a question's, the overlay's). */
size_t wb_keys_map_hints(const wb_keymap *m, wb_hint *h, size_t max);
/* The overlay's line of screen s's section title. */
size_t wb_keys_help_section(wb_screen s);
/* Back to the layer browser (Esc on the other screens). */
void wb_key_back(wb_app *a, int key);

/* wb_main.c */
void wb_log(wb_app *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void wb_message(wb_app *a, int bad, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Opens the message line's prompt k with init typed in. */
void wb_prompt(wb_app *a, wb_prompt_kind k, const char *init);

/* wb_browser.c */
tq_status wb_browser_init(wb_app *a, tq_error *err);
void wb_browser_free(wb_app *a);
/* Re-resolves every row's setting from the plan. */
void wb_browser_resolve(wb_app *a);
/* Rebuilds the view (filter and sort), keeping the cursor on its row. */
void wb_browser_refilter(wb_app *a);
/* Sets the filter (a PCRE2 pattern; "" for none); 0 and a message if bad. */
int wb_browser_set_filter(wb_app *a, const char *pattern);
/*
 * The filter while it is typed: applied when it compiles, else kept as it
 * was; returns 1 if it compiled.  The status of the last one (its count of
 * layers, or why it does not compile) for the prompt line.
 */
int wb_browser_preview_filter(wb_app *a, const char *pattern);
const char *wb_browser_filter_status(void);
/* The view line: layers shown, the filter and the sort. */
void wb_browser_view_line(wb_app *a, int y);
/* A mouse event on the browser at (y, x): a header click sorts by its
   column (again: the other way), a row click selects it, the wheel
   (wheel -1 up, 1 down) scrolls. */
void wb_browser_mouse(wb_app *a, int y, int x, int wheel);
/* Outlier counts from a calibration (NULL clears). */
void wb_browser_outliers(wb_app *a, const tq_calib *c);
/* Stores a layer result on its row. */
void wb_browser_result(wb_app *a, const tq_layer_result *r);
void wb_browser_clear_results(wb_app *a);
wb_row *wb_browser_current(wb_app *a);
/*
 * The row's weight as fp32 [rows, cols], read once and kept until another
 * row asks (one layer at a time); NULL if it cannot be read or has more
 * than WB_WEIGHT_MAX weights.
 */
const float *wb_row_weight(wb_app *a, const wb_row *r);
#define WB_WEIGHT_MAX ((int64_t)1 << 24)	/* weights of the largest */
void wb_browser_draw(wb_app *a, int y0, int y1);
/* The summary line: sizes, bpw, error. */
void wb_browser_summary(wb_app *a, int y);
/* Keys the detail shares: the next and previous layer, m b z y edits. */
void wb_browser_next(wb_app *a, int key);
void wb_browser_prev(wb_app *a, int key);
void wb_browser_edit(wb_app *a, int key);

/* wb_plan.c */
tq_status wb_plan_init(wb_plan *p, const char *preset, tq_error *err);
void wb_plan_free(wb_plan *p);
/* Replaces the whole plan (preset or file), undoably. */
int wb_plan_preset(wb_app *a, const char *name);
int wb_plan_load(wb_app *a, const char *path);
int wb_plan_save(wb_app *a, const char *path);
/*
 * Applies a change to the targets (marked rows, else the current one):
 * what is "method", "bits", "group" or "sym" (cycled to the next value),
 * or "set" with value "METHOD SCHEME" or "SCHEME".
 */
int wb_plan_edit(wb_app *a, const char *what, const char *value);
int wb_plan_undo(wb_app *a);
/* 1 when the plan is not its origin's as it came (the title's "*"). */
int wb_plan_edited(const wb_plan *p);
/* Makes plan (taken) the plan, undoably, with origin as its name. */
int wb_plan_set(wb_app *a, tq_plan *plan, const char *origin);
int wb_plan_redo(wb_app *a);

/* wb_runs.c */
int wb_runs_busy(const wb_app *a);
/* Marks a run of kind k begun (stage, timers, progress reset). */
void wb_runs_begin(wb_app *a, wb_run_kind k, const char *stage);
/* 1 when some layer of the plan needs calibration samples. */
int wb_runs_needs_calib(const wb_app *a);
int wb_runs_start_calib(wb_app *a, const char *spec);
int wb_runs_start_quant(wb_app *a);
int wb_runs_start_valid(wb_app *a, const char *spec);
/* spec: "FORMAT TYPE PATH [force]"; TYPE "-" keeps the state's grid. */
int wb_runs_start_export(wb_app *a, const char *spec);
void wb_runs_cancel(wb_app *a);
/* Handles job and calibration news; returns 1 when something changed. */
int wb_runs_pump(wb_app *a);
/* Descriptors to poll (up to 2); returns how many. */
int wb_runs_fds(const wb_app *a, int *fds);
void wb_runs_progress(wb_app *a, int y);
void wb_runs_draw(wb_app *a, int y0, int y1);
void wb_valid_draw(wb_app *a, int y0, int y1);
/* The export dialog over the body while its prompt is open. */
void wb_export_draw(wb_app *a, int y0, int y1);
void wb_runs_free(wb_app *a);
/* The live (or finished) statistics of a row's input site, or 0. */
int wb_runs_site(wb_app *a, const wb_row *r, int64_t hist[TQ_HIST_BINS],
    float **absmax, int64_t *channels, int64_t *n_tokens);

/* wb_calib.c: calibration as a job, with its statistics so far */
tq_status wb_calib_start(wb_app *a, const char *path, const tq_calib_opts *o,
    tq_error *err);
/* Takes a new snapshot (on the job's progress). */
void wb_calib_refresh(wb_app *a);
/* The end of the job: its result, or why there is none. */
void wb_calib_end(wb_app *a, tq_status st, const tq_error *err);
/* Forgets the snapshot: no calibration runs (the job is gone). */
void wb_calib_clear(wb_app *a);
/* A row's site in the snapshot (borrowed), or NULL. */
const tq_calib_site_snapshot *wb_calib_site(const wb_app *a,
    const wb_row *r);

/* wb_detail.c */
void wb_detail_draw(wb_app *a, int y0, int y1);
void wb_detail_free(void);

/* wb_teach.c */
void wb_teach_draw(wb_app *a, int y0, int y1);
void wb_teach_free(void);
/* The domain lesson: runs its jobs with the corpora in dir. */
int wb_teach_domain_start(wb_app *a, const char *dir);
/* A lesson job ended well: takes its result. */
void wb_teach_job_done(wb_app *a, tq_job *job);
/* After a lesson job ended (well or not): starts the next one, or stops. */
void wb_teach_next(wb_app *a);
/* The user cancels the lesson's run: no step after this one. */
void wb_teach_cancel(wb_app *a);

/* wb_mix.c: sensitivity, the frontier and the heat map */
/* spec: "default", "gguf", "METHOD:SCHEME,..." or a saved file. */
int wb_mix_start(wb_app *a, const char *spec);
int wb_mix_save(wb_app *a, const char *path);
/* The sensitivity job ended well: takes its table. */
void wb_mix_finished(wb_app *a, tq_job *job);
void wb_mix_draw(wb_app *a, int y0, int y1);
/*
 * The current plan's predicted KLD for the summary line ("KLD~1.2e-03",
 * "KLD>=1.1e-03 (27/28)" when some layer's setting is not in the menu);
 * 0 without a sensitivity table.
 */
int wb_mix_summary_text(const wb_app *a, char *buf, size_t len);
void wb_mix_free(void);
/* 1 when a measured sensitivity was not saved (quitting loses it). */
int wb_mix_unsaved(void);

/* wb_help.c */
/* Opens the overlay on the current screen's section. */
void wb_help_open(wb_app *a);
void wb_help_draw(wb_app *a);
/* A key while the overlay is open: its binding, else it closes. */
void wb_help_key(wb_app *a, int key);

/* The entry point (tui/main.c): runs the workbench on a model directory. */
int wb_main(const char *model_path);

#endif /* TQ_TUI_WB_H */
