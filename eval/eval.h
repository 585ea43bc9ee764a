/*
 * eval.h: what the evaluation modules share (internal to eval/).
 *
 * Every report (perplexity by either protocol, KL divergence, long context,
 * compare) scores the same way: the text is cut into windows, each window
 * runs through one or more models in lockstep, and each scored position
 * hands every model's logits row to an accumulator.  The window runner
 * keeps memory bounded by one chunk of logits per model.
 */
#ifndef TQ_EVAL_EVAL_H
#define TQ_EVAL_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "forward.h"
#include "tq.h"

/* At most this many models run in lockstep (a base and variants). */
#define TQ_EVAL_MAX_MODELS 9

/* TQ_OK when o is of this library's version (TQ_EVAL_OPTS_VERSION). */
tq_status tq_eval__check_opts(const tq_eval_opts *o, tq_error *err);

/* How a protocol cuts ids[0..n) into windows (tq_eval__plan fills it). */
typedef struct tq_windows {
	int64_t ctx;		/* window length */
	int64_t n_windows;
	int64_t first;		/* first position scored in a window */
	int32_t bos;		/* replaces each window's first token; -1 none */
	int64_t n_tokens;	/* tokens used (after max_tokens) */
} tq_windows;

/*
 * Called for each scored position p of window w (predicting target) with
 * every model's logits row, rows[k]: [V] for model k.  A status other than
 * TQ_OK (with err filled) stops the run.
 */
typedef tq_status (*tq_rows_cb)(void *ud, int64_t w, int64_t p,
    const float *const *rows, int32_t target, tq_error *err);

/*
 * Scratch for running k models over windows of up to ctx tokens.  All
 * models must share the vocabulary size.
 */
typedef struct tq_runner {
	const tq_model *m[TQ_EVAL_MAX_MODELS];
	int k;
	int64_t ctx, V, H[TQ_EVAL_MAX_MODELS], chunk;
	tq_fwd *f[TQ_EVAL_MAX_MODELS];
	float *x[TQ_EVAL_MAX_MODELS];		/* [ctx, H] residual stream */
	float *logits[TQ_EVAL_MAX_MODELS];	/* [chunk, V] */
	int32_t *win;				/* [nb * ctx] the windows as fed */
	int nb;					/* windows per pass, >= 1 */
	/*
	 * When set, called with cb's ud after each chunk's rows: until then
	 * the rows cb was given stay valid, so cb may keep them and this
	 * may score them together (in parallel).
	 */
	tq_status (*flush)(void *ud, tq_error *err);
	tq_ppl_protocol proto;
	tq_progress pr;
	tq_progress_cb progress;
	void *ud;
} tq_runner;

/*
 * The llamacpp protocol computes a GGUF source's keys and values as
 * llama.cpp's fp16 KV cache holds them (tq_fwd_llamacpp).
 */
tq_status tq_eval__runner_init(tq_runner *r, const tq_model *const *models,
    int k, int64_t ctx, tq_ppl_protocol proto, tq_progress_cb progress,
    void *ud, tq_error *err);
void tq_eval__runner_done(tq_runner *r);

/*
 * Runs window ids[0..n) (n <= ctx; the first token replaced by bos when
 * bos >= 0) through every model and calls cb for positions first..n-2.
 * Progress advances by one step per block per model (the caller sets
 * r->pr.total); a non-zero progress return cancels.
 */
tq_status tq_eval__run_window(tq_runner *r, const int32_t *ids, int64_t n,
    int32_t bos, int64_t first, int64_t w, tq_rows_cb cb, void *cbud,
    tq_error *err);

/*
 * Lets tq_eval__run_windows run up to nb windows in one forward pass (as
 * llama-perplexity does: 4 of 512), each computed to the bytes it gives
 * alone; fewer when their scratch would pass a fixed budget (256 MB) or a
 * model is a mixture of experts.  r->nb says how many.
 */
tq_status tq_eval__runner_batch(tq_runner *r, int nb, tq_error *err);

/*
 * tq_eval__run_window for windows w0..w0+nw-1 (nw <= r->nb), the window
 * w0 + i at ids + i * n, in one pass: cb sees them in order.
 */
tq_status tq_eval__run_windows(tq_runner *r, const int32_t *ids, int64_t nw,
    int64_t n, int32_t bos, int64_t first, int64_t w0, tq_rows_cb cb,
    void *cbud, tq_error *err);

/* Steps a run of n_windows windows takes (for r->pr.total). */
int64_t tq_eval__steps(const tq_runner *r, int64_t n_windows);

/*
 * The windows a protocol takes from n_ids tokens (ids must already hold
 * the BOS llama.cpp puts before the text, see tq_eval__tokenize); errors
 * name the shortfall.
 */
tq_status tq_eval__plan(const tq_model *m, tq_ppl_protocol proto,
    int64_t ctx, int64_t n_ids, tq_windows *out, tq_error *err);

/*
 * Tokenizes text as the protocol does: gptq without special tokens,
 * llamacpp with them (llama.cpp tokenizes with add_special); keeps the
 * first max_tokens (0 = all).
 */
tq_status tq_eval__tokenize(const tq_model *m, tq_ppl_protocol proto,
    const char *text, size_t len, int64_t max_tokens, int32_t **ids,
    int64_t *n, tq_error *err);

/* ---- Per-row statistics ----------------------------------------------- */

/*
 * log-softmax of a logits row: returns log(sum exp(row - max)) + max, the
 * normalizer (log p_i = row[i] - lse), and the argmax in *imax.
 */
double tq_eval__lse(const float *row, int64_t V, int64_t *imax);

/* Running NLL sums of one model (perplexity and its standard error). */
typedef struct tq_nll_acc {
	double sum, sum_sq;
	int64_t count;
} tq_nll_acc;

void tq_eval__nll_add(tq_nll_acc *a, double nll);
/*
 * Fills out from a.  A perplexity that is NaN or infinite (logits that
 * overflowed) is an error, never a result: TQ_EFORMAT.
 */
tq_status tq_eval__nll_result(const tq_nll_acc *a, tq_ppl_result *out,
    tq_error *err);

/*
 * KL divergence of a model against a base, position by position.  The
 * base row is given either as logits (exact) or as log-probabilities
 * (decoded from a saved file); both go through tq_eval__kld_add_lp.
 */
typedef struct tq_kld_acc {
	tq_nll_acc nll, nll_base;
	double sum_nll_nll_base;
	double sum_kld, sum_kld2;
	double sum_dp, sum_dp2, sum_dp4;
	int64_t n_same_top;
	int64_t count;
	float *kld;		/* [cap] every position's KLD, for quantiles */
	float *dp;		/* [cap] every position's p - p_base */
	int64_t cap;
} tq_kld_acc;

void tq_eval__kld_init(tq_kld_acc *a);
void tq_eval__kld_done(tq_kld_acc *a);
/* Adds one position: q: logits of the model; base: logits of the base. */
tq_status tq_eval__kld_add(tq_kld_acc *a, const float *q, const float *base,
    int64_t V, int32_t target, tq_error *err);
/*
 * The same with the base as log-probabilities lp_base[V] (terms whose
 * log-probability is at or below floor are left out, as llama.cpp leaves
 * out what its 16-bit encoding cannot hold; -INFINITY keeps all).
 */
tq_status tq_eval__kld_add_lp(tq_kld_acc *a, const float *q,
    const float *lp_base, int64_t V, int32_t target, double floor,
    tq_error *err);
/*
 * Sorts the per-position values and fills out (which it zeroes first); a
 * NaN or infinite perplexity or KLD is an error (TQ_EFORMAT).
 */
tq_status tq_eval__kld_result(tq_kld_acc *a, const tq_windows *w,
    tq_kld_result *out, tq_error *err);

/* ---- The compact base log-probability file (logits_file.c) ------------ */

/* Per row: float scale, float min log-prob, uint16 codes[V] (even count). */
int64_t tq_logits__row_u16(int64_t V);
/* Encodes a logits row as llama.cpp does; returns the NLL of target. */
double tq_logits__encode(const float *row, int64_t V, int32_t target,
    uint16_t *out);
/* Decodes a row to log-probabilities lp[V]. */
void tq_logits__decode(const uint16_t *in, int64_t V, float *lp);
/* What a decoded row leaves out: log-probabilities at or below this. */
#define TQ_LOGITS_FLOOR (-16.0)

/* A saved file, mapped and checked (sizes, token ids). */
typedef struct tq_logits_file {
	tq_mmap map;
	tq_ppl_protocol protocol;
	tq_windows win;
	int64_t V;
	int64_t n_tokens;
	const int32_t *ids;	/* [n_windows * ctx] */
	const uint16_t *rows;	/* [n_windows * (ctx - 1 - first), row_u16] */
} tq_logits_file;

tq_status tq_logits__open(const char *path, tq_logits_file *lf,
    tq_error *err);
/* Checks size bytes at d (path names them) and points lf into them. */
tq_status tq_logits__parse(const uint8_t *d, size_t size, const char *path,
    tq_logits_file *lf, tq_error *err);
void tq_logits__close(tq_logits_file *lf);

/* ---- Multiple-choice tasks (mc.c) --------------------------------------- */

typedef struct tq_task {
	char *context;
	char **choices;		/* [n_choices] */
	int n_choices;
	int label;
} tq_task;

/* Parses JSONL task text; name stands for it in messages ("FILE:LINE: "). */
tq_status tq_tasks__parse(const char *buf, size_t len, const char *name,
    tq_task **out, size_t *n, tq_error *err);
/* Reads and parses a task file, keeping the first limit (> 0) questions. */
tq_status tq_tasks__load(const char *path, int64_t limit, tq_task **out,
    size_t *n, tq_error *err);
void tq_tasks__free(tq_task *t, size_t n);
/* Scores parsed questions; cancel (may be NULL) reaches the forward pass. */
tq_status tq_eval__tasks_score(const tq_model *m, const tq_task *t, size_t n,
    const char *name, tq_progress_cb progress, void *ud, const int *cancel,
    tq_tasks_result *out, tq_error *err);
/*
 * Scores a task file by the log-likelihood of each choice after the
 * context; limit > 0 takes the first limit questions.  (The front ends
 * run tasks through the validation job; the tests call this.)
 */
tq_status tq_eval__tasks(const tq_model *m, const char *path, int64_t limit,
    tq_progress_cb progress, void *ud, tq_tasks_result *out, tq_error *err);

#endif /* TQ_EVAL_EVAL_H */
