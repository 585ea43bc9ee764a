/*
 * test_forward.c: logits of every fixture model against the logits
 * transformers computed (tests/data/models, made by tools/make_fixtures.py),
 * plus the contracts of tq_forward: chunked logits equal full logits, the
 * activation hook sees every linear input, callbacks can cancel.
 */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "tap.h"
#include "tq.h"

static float *
read_f32(const char *path, size_t want)
{
	size_t len;
	char *buf;
	tq_error err;

	if (tq_read_file(path, (size_t)1 << 28, &buf, &len, &err) != TQ_OK) {
		tap_diag("%s", err.msg);
		return NULL;
	}
	if (len != want * sizeof(float)) {
		tap_diag("%s: %zu bytes, expected %zu", path, len,
		    want * sizeof(float));
		free(buf);
		return NULL;
	}
	return (float *)buf;
}

/* Compares one reference sequence; returns 1 if it matches. */
static int
check_sequence(const char *dir, const tq_model *m, const cJSON *seq,
    int64_t V)
{
	const cJSON *ids_j = cJSON_GetObjectItem(seq, "ids");
	const cJSON *file_j = cJSON_GetObjectItem(seq, "logits_file");
	int64_t n = cJSON_GetArraySize(ids_j), i, j, bad_argmax = 0;
	double maxdiff = 0.0, maxref = 0.0;
	int32_t *ids = malloc((size_t)n * sizeof(*ids));
	float *got = malloc((size_t)(n * V) * sizeof(float)), *ref;
	char *path = tq_path_join(dir, file_j->valuestring);
	tq_error err;
	int ok;

	for (i = 0; i < n; i++)
		ids[i] = (int32_t)cJSON_GetArrayItem(ids_j, (int)i)->valueint;
	ref = read_f32(path, (size_t)(n * V));
	if (ref == NULL ||
	    tq_forward(m, ids, n, NULL, got, &err) != TQ_OK) {
		if (ref != NULL)
			tap_diag("%s", err.msg);
		ok = 0;
		goto out;
	}
	for (i = 0; i < n; i++) {
		int64_t ag = 0, ar = 0;

		for (j = 0; j < V; j++) {
			double d = fabs((double)got[i * V + j] - ref[i * V + j]);

			if (d > maxdiff)
				maxdiff = d;
			if (fabs(ref[i * V + j]) > maxref)
				maxref = fabs(ref[i * V + j]);
			if (got[i * V + j] > got[i * V + ag])
				ag = j;
			if (ref[i * V + j] > ref[i * V + ar])
				ar = j;
		}
		if (ag != ar)
			bad_argmax++;
	}
	ok = maxdiff <= 1e-4 * maxref && bad_argmax == 0;
	tap_diag("%s (%lld tokens): max |diff| %.3g, max |logit| %.3g, "
	    "ratio %.3g, argmax mismatches %lld", path, (long long)n, maxdiff,
	    maxref, maxdiff / maxref, (long long)bad_argmax);
out:
	free(path);
	free(ids);
	free(got);
	free(ref);
	return ok;
}

static void
check_model(const char *root, const char *name)
{
	char *dir = tq_path_join(root, name);
	char *refp = tq_path_join(dir, "reference.json");
	const cJSON *seq;
	cJSON *ref = NULL;
	tq_model *m = NULL;
	tq_error err;
	int k = 0;

	if (tq_model_open(dir, &m, &err) != TQ_OK) {
		tap_ok(0, "%s: opens (%s)", name, err.msg);
		goto out;
	}
	if (tq_json_load(refp, (size_t)1 << 20, &ref, &err) != TQ_OK) {
		tap_ok(0, "%s: reference.json (%s)", name, err.msg);
		goto out;
	}
	cJSON_ArrayForEach(seq, cJSON_GetObjectItem(ref, "sequences")) {
		tap_ok(check_sequence(dir, m, seq,
		    tq_model_get_config(m)->vocab_size),
		    "%s: sequence %d logits match transformers", name, k);
		k++;
	}
out:
	cJSON_Delete(ref);
	tq_model_close(m);
	free(refp);
	free(dir);
}

/* ---- Contracts ------------------------------------------------------ */

typedef struct hook_log {
	int calls[TQ_LINEAR_COUNT];
	int stop_after;		/* cancel at this call; 0 = never */
	int total;
	double sum_lm;		/* checksum of the lm_head input */
} hook_log;

static int
hook(void *ud, int layer, tq_linear which, const float *x, int64_t n,
    int64_t in)
{
	hook_log *h = ud;
	int64_t i;

	(void)layer;
	h->calls[which]++;
	h->total++;
	if (which == TQ_LINEAR_LM_HEAD)
		for (i = 0; i < n * in; i++)
			h->sum_lm += x[i];
	return h->stop_after > 0 && h->total >= h->stop_after;
}

typedef struct chunk_log {
	float *all;		/* [n, V] gathered */
	int64_t V, next, max_n;
} chunk_log;

static int
chunk_cb(void *ud, int64_t pos0, int64_t n, const float *logits)
{
	chunk_log *c = ud;

	if (pos0 != c->next)
		return 1;
	memcpy(c->all + pos0 * c->V, logits, (size_t)(n * c->V) * sizeof(float));
	c->next = pos0 + n;
	if (n > c->max_n)
		c->max_n = n;
	return 0;
}

/* Indices past the end are errors, not reads past the model's arrays. */
static void
check_indices(const tq_model *m)
{
	size_t nt = tq_model_n_tensors(m), nl = tq_model_n_linears(m);
	tq_tensor_info ti;
	int64_t rows, cols;
	int ok;

	ok = tq_model_tensor(m, nt - 1, &ti) == TQ_OK && ti.name != NULL;
	ok = ok && tq_model_tensor(m, nt, &ti) == TQ_EINVAL && ti.name == NULL &&
	    ti.ndim == 0;
	ok = ok && tq_model_tensor(m, SIZE_MAX, &ti) == TQ_EINVAL;
	tap_ok(ok, "contracts: tensor %zu of %zu is TQ_EINVAL", nt, nt);
	ok = tq_model_linear_shape(m, nl - 1, &rows, &cols) == TQ_OK &&
	    rows > 0 && cols > 0;
	ok = ok && tq_model_linear_shape(m, nl, &rows, &cols) == TQ_EINVAL &&
	    rows == 0 && cols == 0 && tq_model_linear_name(m, nl) == NULL;
	ok = ok && tq_model_linear_shape(m, SIZE_MAX, &rows, &cols) ==
	    TQ_EINVAL;
	tap_ok(ok, "contracts: linear %zu of %zu is TQ_EINVAL with a 0 x 0 "
	    "shape", nl, nl);
}

static void
check_contracts(const char *root)
{
	char *dir = tq_path_join(root, "llama");
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	hook_log h;
	chunk_log cl;
	tq_model *m;
	tq_error err;
	int32_t ids[37];
	float *full;
	int64_t V, i, L;
	double diff = 0.0, mx = 0.0;

	if (tq_model_open(dir, &m, &err) != TQ_OK) {
		tap_ok(0, "contracts: open (%s)", err.msg);
		free(dir);
		return;
	}
	V = tq_model_get_config(m)->vocab_size;
	L = tq_model_get_config(m)->n_layers;
	for (i = 0; i < 37; i++)
		ids[i] = (int32_t)((i * 7919) % V);
	full = malloc((size_t)(37 * V) * sizeof(float));
	cl.all = calloc((size_t)(37 * V), sizeof(float));
	cl.V = V;
	cl.next = 0;
	cl.max_n = 0;
	tap_ok(tq_forward(m, ids, 37, NULL, full, &err) == TQ_OK,
	    "contracts: full logits");
	memset(&h, 0, sizeof(h));
	o.act_hook = hook;
	o.act_ud = &h;
	o.logits_cb = chunk_cb;
	o.logits_ud = &cl;
	o.logits_chunk = 5;
	tap_ok(tq_forward(m, ids, 37, &o, NULL, &err) == TQ_OK,
	    "contracts: chunked logits");
	/* sgemm blocks differently for 5 rows than for 37: equal to rounding. */
	for (i = 0; i < 37 * V; i++) {
		diff = fmax(diff, fabs((double)full[i] - cl.all[i]));
		mx = fmax(mx, fabs((double)full[i]));
	}
	tap_ok(diff <= 1e-6 * mx && cl.next == 37 && cl.max_n == 5,
	    "contracts: chunks of 5 cover every position and equal full logits "
	    "(max diff %.3g)", diff);
	tap_ok(h.calls[TQ_LINEAR_Q] == L && h.calls[TQ_LINEAR_O] == L &&
	    h.calls[TQ_LINEAR_GATE] == L && h.calls[TQ_LINEAR_DOWN] == L &&
	    h.calls[TQ_LINEAR_LM_HEAD] == 1 && h.calls[TQ_LINEAR_K] == 0,
	    "contracts: hook sees q, o, gate, down per layer and lm_head once");
	tap_ok(isfinite(h.sum_lm) && h.sum_lm != 0.0,
	    "contracts: hook gets real activations");
	memset(&h, 0, sizeof(h));
	h.stop_after = 3;
	o.logits_cb = NULL;
	tap_ok(tq_forward(m, ids, 37, &o, NULL, &err) == TQ_ECANCELLED &&
	    h.total == 3, "contracts: a hook returning non-zero cancels");
	ids[3] = (int32_t)V;
	tap_ok(tq_forward(m, ids, 37, NULL, full, &err) == TQ_EINVAL &&
	    strstr(err.msg, "outside the vocabulary") != NULL,
	    "contracts: an out-of-range id is an error: %s", err.msg);
	tap_ok(tq_forward(m, ids, 0, NULL, full, &err) == TQ_EINVAL,
	    "contracts: zero tokens is an error");
	check_indices(m);
	free(full);
	free(cl.all);
	tq_model_close(m);
	free(dir);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(void)
{
	const char *top = getenv("top_srcdir");
	char root[4096], *names[64];
	struct dirent *d;
	DIR *dp;
	int n = 0, i;

	snprintf(root, sizeof(root), "%s/tests/data/models", top ? top : ".");
	if ((dp = opendir(root)) == NULL) {
		tap_ok(0, "fixture directory %s", root);
		return tap_done();
	}
	while ((d = readdir(dp)) != NULL && n < 64)
		if (d->d_name[0] != '.')
			names[n++] = strdup(d->d_name);
	closedir(dp);
	qsort(names, (size_t)n, sizeof(*names), cmp_name);
	tap_ok(n >= 5, "found %d fixture models", n);
	for (i = 0; i < n; i++) {
		check_model(root, names[i]);
		free(names[i]);
	}
	check_contracts(root);
	return tap_done();
}
