/*
 * mc.c: multiple-choice tasks scored by log-likelihood, as
 * lm-evaluation-harness scores HellaSwag, ARC and MMLU-style tasks.
 *
 * A task file is JSONL, one question per line:
 *	{"context": "Q: ... A:", "choices": [" yes", " no"], "label": 0}
 * Each choice is a continuation of the context, appended as written.  Its
 * log-likelihood is that of lm-eval's loglikelihood request: the context's
 * trailing spaces move to the continuation, context + continuation is
 * encoded once (no special tokens; an empty context starts from BOS),
 * the continuation's tokens are the encoding's tail after the context's own
 * encoding, the input keeps the last max_position_embeddings + 1 tokens,
 * and the log-probabilities of the continuation's tokens are summed.
 * acc: the choice of largest log-likelihood is the label; acc_norm: the same
 * with each log-likelihood divided by its choice's length in bytes.  The
 * standard error of an accuracy a over n questions is
 * sqrt(a (1 - a) / (n - 1)), lm-eval's mean_stderr.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "error.h"
#include "eval.h"
#include "fileio.h"
#include "model.h"

#define TASKS_MAX_BYTES ((size_t)256 << 20)
#define TASKS_MAX_CHOICES 64

static void
task_free(tq_task *t)
{
	int i;

	free(t->context);
	for (i = 0; i < t->n_choices; i++)
		free(t->choices[i]);
	free(t->choices);
}

void
tq_tasks__free(tq_task *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		task_free(&t[i]);
	free(t);
}

/* One line into t; the message names name:lineno. */
static tq_status
task_parse(const char *line, size_t len, const char *name, size_t lineno,
    tq_task *t, tq_error *err)
{
	cJSON *j = cJSON_ParseWithLength(line, len), *c, *ch, *lb, *e;
	tq_status st = TQ_EFORMAT;
	int i, n;

	memset(t, 0, sizeof(*t));
	if (j == NULL || !cJSON_IsObject(j)) {
		tq_fail(err, st, "%s:%zu: not a JSON object", name, lineno);
		goto out;
	}
	c = cJSON_GetObjectItemCaseSensitive(j, "context");
	ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
	lb = cJSON_GetObjectItemCaseSensitive(j, "label");
	if (!cJSON_IsString(c)) {
		tq_fail(err, st, "%s:%zu: \"context\" must be a string", name,
		    lineno);
		goto out;
	}
	if (!cJSON_IsArray(ch) || (n = cJSON_GetArraySize(ch)) < 2 ||
	    n > TASKS_MAX_CHOICES) {
		tq_fail(err, st, "%s:%zu: \"choices\" must be an array of 2 to "
		    "%d strings", name, lineno, TASKS_MAX_CHOICES);
		goto out;
	}
	if (!cJSON_IsNumber(lb) || lb->valuedouble != floor(lb->valuedouble) ||
	    lb->valuedouble < 0 || lb->valuedouble >= n) {
		tq_fail(err, st, "%s:%zu: \"label\" must be the index of a "
		    "choice (0 to %d)", name, lineno, n - 1);
		goto out;
	}
	t->label = (int)lb->valuedouble;
	if ((t->context = strdup(c->valuestring)) == NULL ||
	    (t->choices = calloc((size_t)n, sizeof(char *))) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
		goto out;
	}
	i = 0;
	cJSON_ArrayForEach(e, ch) {
		if (!cJSON_IsString(e) || e->valuestring[0] == '\0') {
			tq_fail(err, st, "%s:%zu: choice %d is not a non-empty "
			    "string", name, lineno, i);
			goto out;
		}
		if ((t->choices[i] = strdup(e->valuestring)) == NULL) {
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
			goto out;
		}
		t->n_choices = ++i;
	}
	st = TQ_OK;
out:
	if (st != TQ_OK)
		task_free(t);
	cJSON_Delete(j);
	return st;
}

tq_status
tq_tasks__parse(const char *buf, size_t len, const char *name, tq_task **out,
    size_t *n_out, tq_error *err)
{
	tq_task *t = NULL, *nt;
	size_t n = 0, cap = 0, pos = 0, lineno = 0;
	tq_status st;

	*out = NULL;
	*n_out = 0;
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - line) : len - pos, k;

		pos += ll + (nl != NULL);
		lineno++;
		for (k = 0; k < ll && strchr(" \t\r", line[k]) != NULL; k++)
			;
		if (k == ll)
			continue;	/* blank line */
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((nt = realloc(t, cap * sizeof(*t))) == NULL) {
				st = tq_fail(err, TQ_ENOMEM, "out of memory");
				goto fail;
			}
			t = nt;
		}
		if ((st = task_parse(line, ll, name, lineno, &t[n], err)) !=
		    TQ_OK)
			goto fail;
		n++;
	}
	if (n == 0) {
		st = tq_fail(err, TQ_EFORMAT, "%s: no questions", name);
		goto fail;
	}
	*out = t;
	*n_out = n;
	return TQ_OK;
fail:
	tq_tasks__free(t, n);
	return st;
}

/* ---- Scoring ----------------------------------------------------------- */

typedef struct ll_ctx {
	const int32_t *inp;	/* the sequence fed */
	int64_t n, n_cont, V;
	double ll;
} ll_ctx;

static int
ll_logits(void *ud, int64_t pos0, int64_t n, const float *logits)
{
	ll_ctx *c = ud;
	int64_t i;

	for (i = 0; i < n; i++) {
		int64_t p = pos0 + i;
		const float *row = logits + i * c->V;

		/* Position p predicts inp[p + 1]; the last predicts the end. */
		if (p < c->n - c->n_cont)
			continue;
		c->ll += (double)row[c->inp[p + 1]] -
		    tq_eval__lse(row, c->V, NULL);
	}
	return 0;
}

/* lm-eval's loglikelihood of continuation cont after context ctx. */
static tq_status
choice_ll(const tq_model *m, const char *name, size_t q, const char *ctx,
    const char *cont, const int *cancel, double *ll, tq_error *err)
{
	const tq_tokenizer *tok = tq_model_tokenizer(m);
	tq_forward_opts fo = TQ_FORWARD_OPTS_INIT;
	size_t cl = strlen(ctx), sp = cl, nw = 0, nc = 0, i;
	int32_t *whole = NULL, *cenc = NULL, *seq = NULL;
	char *joined = NULL;
	int64_t max = m->cfg.max_position_embeddings, n_seq, off;
	ll_ctx c;
	tq_status st;

	while (sp > 0 && strchr(" \t\n\r\f\v", ctx[sp - 1]) != NULL)
		sp--;		/* Python's rstrip(): spaces go with cont */
	if ((joined = malloc(cl + strlen(cont) + 1)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	memcpy(joined, ctx, cl);
	strcpy(joined + cl, cont);
	if (sp == 0) {
		/* No context: the continuation follows BOS (lm-eval's prefix). */
		int32_t bos = tq_tokenizer_bos(tok);

		if (bos < 0)
			bos = (int32_t)m->cfg.bos_token_id;
		if (bos < 0) {
			st = tq_fail(err, TQ_EINVAL, "%s: question %zu has no "
			    "context and the model no BOS to start from", name,
			    q);
			goto out;
		}
		st = tq_tokenizer_encode(tok, joined, strlen(joined), 0, &whole,
		    &nw, err);
		if (st != TQ_OK)
			goto out;
		nc = nw;
		if ((seq = malloc((nw + 1) * sizeof(int32_t))) == NULL)
			goto nomem;
		seq[0] = bos;
		memcpy(seq + 1, whole, nw * sizeof(int32_t));
		n_seq = (int64_t)nw + 1;
	} else {
		size_t nctx = 0;

		if ((st = tq_tokenizer_encode(tok, joined, strlen(joined), 0,
		    &whole, &nw, err)) != TQ_OK ||
		    (st = tq_tokenizer_encode(tok, ctx, sp, 0, &cenc, &nctx,
		    err)) != TQ_OK)
			goto out;
		nc = nw > nctx ? nw - nctx : 0;
		seq = whole;
		whole = NULL;
		n_seq = (int64_t)nw;
	}
	if (nc == 0) {
		st = tq_fail(err, TQ_EINVAL, "%s: question %zu: the choice \"%.40s\""
		    " adds no token after the context", name, q, cont);
		goto out;
	}
	/* The input: the last max + 1 tokens, without the last one. */
	off = n_seq > max + 1 ? n_seq - (max + 1) : 0;
	if ((int64_t)nc > n_seq - off - 1) {
		st = tq_fail(err, TQ_EINVAL, "%s: question %zu: a choice of %zu "
		    "tokens does not fit the model's context", name, q, nc);
		goto out;
	}
	c.inp = seq + off;
	c.n = n_seq - off - 1;
	c.n_cont = (int64_t)nc;
	c.V = m->cfg.vocab_size;
	c.ll = 0.0;
	fo.logits_cb = ll_logits;
	fo.logits_ud = &c;
	fo.cancel = cancel;
	for (i = 0; i < (size_t)c.n + 1; i++)
		if (c.inp[i] < 0 || c.inp[i] >= c.V) {
			st = tq_fail(err, TQ_EINVAL, "%s: token %d outside the "
			    "model's vocabulary", name, (int)c.inp[i]);
			goto out;
		}
	if ((st = tq_forward(m, c.inp, c.n, &fo, NULL, err)) != TQ_OK)
		goto out;
	*ll = c.ll;
	goto out;
nomem:
	st = tq_fail(err, TQ_ENOMEM, "out of memory");
out:
	free(joined);
	free(whole);
	free(cenc);
	free(seq);
	return st;
}

static int
argmax(const double *v, int n)
{
	int i, best = 0;

	for (i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

tq_status
tq_eval__tasks_score(const tq_model *m, const tq_task *t, size_t n,
    const char *name, tq_progress_cb progress, void *ud, const int *cancel,
    tq_tasks_result *out, tq_error *err)
{
	double ll[TASKS_MAX_CHOICES], norm[TASKS_MAX_CHOICES];
	tq_progress pr = { "tasks", 0, 0 };
	int64_t hit = 0, hit_norm = 0;
	size_t q;
	int i;
	tq_status st;

	if ((st = tq_model__need_tokenizer(m, NULL, err)) != TQ_OK)
		return st;
	for (q = 0; q < n; q++)
		pr.total += t[q].n_choices;
	for (q = 0; q < n; q++) {
		for (i = 0; i < t[q].n_choices; i++) {
			if (progress != NULL && progress(ud, &pr) != 0)
				return tq_fail(err, TQ_ECANCELLED,
				    "evaluation cancelled");
			if ((st = choice_ll(m, name, q + 1, t[q].context,
			    t[q].choices[i], cancel, &ll[i], err)) != TQ_OK)
				return st;
			norm[i] = ll[i] / (double)strlen(t[q].choices[i]);
			pr.done++;
		}
		hit += argmax(ll, t[q].n_choices) == t[q].label;
		hit_norm += argmax(norm, t[q].n_choices) == t[q].label;
	}
	if (progress != NULL)
		progress(ud, &pr);
	memset(out, 0, sizeof(*out));
	out->n = (int64_t)n;
	out->acc = (double)hit / (double)n;
	out->acc_norm = (double)hit_norm / (double)n;
	if (n > 1) {
		out->acc_stderr = sqrt(out->acc * (1.0 - out->acc) /
		    (double)(n - 1));
		out->acc_norm_stderr = sqrt(out->acc_norm *
		    (1.0 - out->acc_norm) / (double)(n - 1));
	}
	return TQ_OK;
}

tq_status
tq_tasks__load(const char *path, int64_t limit, tq_task **t, size_t *n,
    tq_error *err)
{
	char *buf = NULL;
	size_t len;
	tq_status st;

	if (tq_is_dir(path))
		return tq_fail(err, TQ_EINVAL, "%s: is a directory, not a task "
		    "file", path);
	if ((st = tq_read_file(path, TASKS_MAX_BYTES, &buf, &len, err)) !=
	    TQ_OK)
		return st;
	st = tq_tasks__parse(buf, len, path, t, n, err);
	free(buf);
	if (st == TQ_OK && limit > 0 && (size_t)limit < *n) {
		size_t i;

		for (i = (size_t)limit; i < *n; i++)
			task_free(&(*t)[i]);
		*n = (size_t)limit;
	}
	return st;
}

tq_status
tq_eval__tasks(const tq_model *m, const char *path, int64_t limit,
    tq_progress_cb progress, void *ud, tq_tasks_result *out, tq_error *err)
{
	tq_task *t;
	size_t n;
	tq_status st;

	if ((st = tq_tasks__load(path, limit, &t, &n, err)) != TQ_OK)
		return st;
	st = tq_eval__tasks_score(m, t, n, path, progress, ud, NULL, out, err);
	tq_tasks__free(t, n);
	return st;
}
