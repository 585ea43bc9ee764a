/*
 * calib.c: calibration: sampling token windows from text and gathering,
 * through the forward pass's activation hook, the statistics of every
 * linear layer's input (absmax, mean |x|, mean x^2, a log-scale histogram).
 * The second moments GPTQ needs are gathered by the quantization pipeline,
 * block by block, because they must see the already-quantized blocks.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "calib.h"
#include "error.h"
#include "model.h"

/* ---- Reading and sampling ------------------------------------------------ */

/* splitmix64: a small, well-mixed, reproducible generator. */
static uint64_t
calib_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int
calib_is_jsonl(const char *path, const char *text)
{
	size_t n = strlen(path);

	if (n >= 6 && strcmp(path + n - 6, ".jsonl") == 0)
		return 1;
	while (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')
		text++;
	return *text == '{';
}

/* Joins the "text" fields of a JSONL file with blank lines between. */
static tq_status
calib_jsonl(const char *path, char *text, size_t len, char **out,
    size_t *out_len, tq_error *err)
{
	char *buf = malloc(len + 1), *line = text, *end = text + len;
	size_t n = 0, lineno = 0;

	if (buf == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t ll = nl != NULL ? (size_t)(nl - line) : (size_t)(end - line);
		const cJSON *t;
		cJSON *j;

		lineno++;
		if (ll > 0 && strspn(line, " \t\r") < ll) {
			j = cJSON_ParseWithLength(line, ll);
			t = cJSON_GetObjectItemCaseSensitive(j, "text");
			if (!cJSON_IsString(t)) {
				cJSON_Delete(j);
				free(buf);
				return tq_fail(err, TQ_EFORMAT,
				    "%s: line %zu is not a JSON object with a "
				    "\"text\" string", path, lineno);
			}
			if (n > 0) {
				memcpy(buf + n, "\n\n", 2);
				n += 2;
			}
			/* A JSON string is never longer than its source line. */
			memcpy(buf + n, t->valuestring, strlen(t->valuestring));
			n += strlen(t->valuestring);
			cJSON_Delete(j);
		}
		line = nl != NULL ? nl + 1 : end;
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return TQ_OK;
}

/* Reads, checks and tokenizes one calibration text into ids[n_ids]. */
static tq_status
calib_read_ids(const tq_tokenizer *tok, const char *path, int64_t L,
    int32_t **ids, size_t *n_ids, tq_error *err)
{
	char *text = NULL, *joined = NULL;
	const char *nul;
	size_t len;
	tq_status st;

	*ids = NULL;
	*n_ids = 0;
	if ((st = tq_read_text(path, &text, &len, err)) != TQ_OK)
		return st;
	if ((nul = memchr(text, '\0', len)) != NULL) {
		st = tq_fail(err, TQ_EFORMAT,
		    "%s: looks like a binary file (NUL byte at offset %zu), not "
		    "calibration text", path, (size_t)(nul - text));
		goto out;
	}
	if (calib_is_jsonl(path, text)) {
		if ((st = calib_jsonl(path, text, len, &joined, &len, err)) !=
		    TQ_OK)
			goto out;
		free(text);
		text = joined;
		if (len == 0) {
			st = tq_fail(err, TQ_EINVAL, "%s: no text in the JSONL "
			    "file", path);
			goto out;
		}
	}
	if ((st = tq_tokenizer_encode(tok, text, len, 0, ids, n_ids, err)) !=
	    TQ_OK)
		goto out;
	if ((int64_t)*n_ids < L) {
		st = tq_fail(err, TQ_EINVAL,
		    "%s: calibration text is %zu tokens, shorter than one sample "
		    "of %lld", path, *n_ids, (long long)L);
		free(*ids);
		*ids = NULL;
	}
out:
	free(text);
	return st;
}

tq_status
tq_calib_sample(const tq_model *m, const char *path, const tq_calib_opts *o,
    tq_calib **out, tq_error *err)
{
	return tq_calib_sample_texts(m, &path, 1, o, out, err);
}

tq_status
tq_calib_sample_texts(const tq_model *m, const char *const *paths,
    size_t n_paths, const tq_calib_opts *o, tq_calib **out, tq_error *err)
{
	const tq_tokenizer *tok = tq_model_tokenizer(m);
	int32_t *ids = NULL;
	size_t n_ids = 0, k;
	tq_calib *c = NULL;
	uint64_t rng;
	int64_t i = 0, L, N;
	tq_status st = TQ_OK;

	*out = NULL;
	if (o != NULL && (st = tq_version_check(o->version,
	    TQ_CALIB_OPTS_VERSION, "tq_calib_opts", "TQ_CALIB_OPTS_INIT",
	    err)) != TQ_OK)
		return st;
	if (tok == NULL)
		return tq_model__need_tokenizer(m, "to read calibration text "
		    "with", err);
	N = o != NULL && o->n_samples > 0 ? o->n_samples : 128;
	L = o != NULL && o->seqlen > 0 ? o->seqlen : 2048;
	if (L > m->cfg.max_position_embeddings)
		L = m->cfg.max_position_embeddings;
	if (L < 2 || N > ((int64_t)1 << 20))
		return tq_fail(err, TQ_EINVAL,
		    "calibration needs 1..1048576 samples of at least 2 tokens");
	if (n_paths < 1 || n_paths > TQ_CALIB_MAX_TEXTS ||
	    (int64_t)n_paths > N)
		return tq_fail(err, TQ_EINVAL, "calibration takes 1 to %d texts, "
		    "and at least one sample per text (%zu texts, %lld samples)",
		    TQ_CALIB_MAX_TEXTS, n_paths, (long long)N);
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->ids = malloc((size_t)(N * L) * sizeof(int32_t))) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", paths[0]);
		goto out;
	}
	c->n_samples = N;
	c->seqlen = L;
	c->seed = o != NULL ? o->seed : 0;
	rng = c->seed;
	/*
	 * The windows are split evenly between the texts (the first N mod n
	 * get one more), so that each counts alike however long its file;
	 * one generator runs through them all, so one text samples as before.
	 */
	for (k = 0; k < n_paths; k++) {
		int64_t share = N / (int64_t)n_paths +
		    ((int64_t)k < N % (int64_t)n_paths), j;

		if ((st = calib_read_ids(tok, paths[k], L, &ids, &n_ids,
		    err)) != TQ_OK)
			goto out;
		for (j = 0; j < share; j++, i++) {
			uint64_t start = calib_rand(&rng) %
			    ((uint64_t)n_ids - (uint64_t)L + 1);

			memcpy(c->ids + i * L, ids + start,
			    (size_t)L * sizeof(int32_t));
		}
		free(ids);
		ids = NULL;
	}
	*out = c;
	c = NULL;
out:
	tq_calib_free(c);
	free(ids);
	return st;
}

/* ---- Sites -------------------------------------------------------------- */

void
tq_calib_free(tq_calib *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_sites; i++) {
		free(c->sites[i].absmax);
		free(c->sites[i].mean_abs);
		free(c->sites[i].mean_sq);
		free(c->sites[i].sum_abs);
		free(c->sites[i].sum_sq);
	}
	free(c->sites);
	for (i = 0; c->experts != NULL && i < (size_t)c->n_layers; i++) {
		free(c->experts[i].sum_sq_in);
		free(c->experts[i].sum_sq_down);
		free(c->experts[i].tokens);
	}
	free(c->experts);
	free(c->ids);
	free(c);
}

static const tq_linear site_kinds[TQ_SITES_PER_LAYER] = {
	TQ_LINEAR_Q, TQ_LINEAR_O, TQ_LINEAR_GATE, TQ_LINEAR_DOWN
};

tq_status
tq_calib__alloc_sites(tq_calib *c, int64_t n_layers, int64_t H, int64_t qd,
    int64_t F, tq_error *err)
{
	size_t i, n = (size_t)n_layers * TQ_SITES_PER_LAYER + 1;

	c->sites = calloc(n, sizeof(*c->sites));
	if (c->sites == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	c->n_sites = n;
	c->n_layers = n_layers;
	for (i = 0; i < n; i++) {
		calib_site *s = &c->sites[i];
		int64_t C;

		if (i + 1 == n) {
			s->pub.layer = -1;
			s->pub.site = TQ_LINEAR_LM_HEAD;
		} else {
			s->pub.layer = (int)(i / TQ_SITES_PER_LAYER);
			s->pub.site = site_kinds[i % TQ_SITES_PER_LAYER];
		}
		C = s->pub.site == TQ_LINEAR_O ? qd :
		    s->pub.site == TQ_LINEAR_DOWN ? F : H;
		s->pub.channels = C;
		s->absmax = calloc((size_t)C, sizeof(float));
		s->mean_abs = calloc((size_t)C, sizeof(float));
		s->mean_sq = calloc((size_t)C, sizeof(float));
		s->sum_abs = calloc((size_t)C, sizeof(double));
		s->sum_sq = calloc((size_t)C, sizeof(double));
		if (s->absmax == NULL || s->mean_abs == NULL ||
		    s->mean_sq == NULL || s->sum_abs == NULL ||
		    s->sum_sq == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		s->pub.absmax = s->absmax;
		s->pub.mean_abs = s->mean_abs;
		s->pub.mean_sq = s->mean_sq;
		s->pub.hist = s->hist;
	}
	return TQ_OK;
}

void
tq_calib__finish(tq_calib *c)
{
	size_t i;
	int64_t j;

	for (i = 0; i < c->n_sites; i++) {
		calib_site *s = &c->sites[i];
		double n = s->pub.n_tokens > 0 ? (double)s->pub.n_tokens : 1.0;

		for (j = 0; j < s->pub.channels; j++) {
			s->mean_abs[j] = (float)(s->sum_abs[j] / n);
			s->mean_sq[j] = (float)(s->sum_sq[j] / n);
		}
	}
}

int64_t
tq_calib__site_index(const tq_calib *c, int layer, tq_linear which)
{
	int k;

	if (which == TQ_LINEAR_LM_HEAD)
		return c->n_sites > 0 ? (int64_t)c->n_sites - 1 : -1;
	if (layer < 0 || layer >= c->n_layers)
		return -1;
	if ((k = tq_model__input_site(which)) < 0)
		return -1;
	return (int64_t)layer * TQ_SITES_PER_LAYER + k;
}

/* The histogram bin of |x|: half-octave bins of log2|x|. */
static int
calib_bin(float a)
{
	int e, b;
	float mant;

	if (!(a > 0.0f))
		return 0;
	mant = frexpf(a, &e);	/* a = mant * 2^e, mant in [0.5, 1) */
	/* log2 a = (e - 1) + log2(2 mant); the upper half-octave when
	 * 2 mant >= sqrt(2). */
	b = (int)(((double)(e - 1) - TQ_HIST_LOG2_LO) * 2.0) +
	    (mant >= (float)(M_SQRT2 / 2.0));
	return b < 0 ? 0 : b >= TQ_HIST_BINS ? TQ_HIST_BINS - 1 : b;
}

static int
calib_hook(void *ud, int layer, tq_linear which, const float *x, int64_t n,
    int64_t in)
{
	tq_calib *c = ud;
	int64_t idx = tq_calib__site_index(c, layer, which), i, j;
	calib_site *s;

	if (idx < 0)
		return 0;
	s = &c->sites[idx];
	for (i = 0; i < n; i++) {
		const float *row = x + i * in;

		for (j = 0; j < in; j++) {
			float a = fabsf(row[j]);

			if (a > s->absmax[j])
				s->absmax[j] = a;
			s->sum_abs[j] += a;
			s->sum_sq[j] += (double)row[j] * row[j];
			s->hist[calib_bin(a)]++;
		}
	}
	s->pub.n_tokens += n;
	return 0;
}

/* Adds expert e of block layer's routed inputs x[n, in] to its sums. */
static int
calib_expert_hook(void *ud, int layer, int e, tq_linear which,
    const float *x, int64_t n, int64_t in)
{
	tq_calib *c = ud;
	calib_experts *ce;
	double *sum;
	int64_t i, j;

	if (c->experts == NULL || layer < 0 || layer >= c->n_layers)
		return 0;
	ce = &c->experts[layer];
	if (e < 0 || e >= ce->n || in != (which == TQ_LINEAR_DOWN ? ce->Fe :
	    ce->H))
		return 0;
	sum = which == TQ_LINEAR_DOWN ? ce->sum_sq_down + e * ce->Fe :
	    ce->sum_sq_in + e * ce->H;
	for (i = 0; i < n; i++)
		for (j = 0; j < in; j++)
			sum[j] += (double)x[i * in + j] * x[i * in + j];
	if (which != TQ_LINEAR_DOWN)
		ce->tokens[e] += n;
	return 0;
}

/* Zeroed per-expert sums for m's routed blocks (c->experts). */
static tq_status
calib_alloc_experts(tq_calib *c, const tq_model *m, tq_error *err)
{
	int64_t li;

	if (!tq_model__moe(m) || c->experts != NULL)
		return TQ_OK;
	if ((c->experts = calloc((size_t)m->cfg.n_layers,
	    sizeof(*c->experts))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	for (li = 0; li < m->cfg.n_layers; li++) {
		calib_experts *ce = &c->experts[li];
		tq_block_opts b;

		tq_model__block(m, li, &b);
		if (b.moe.n_experts == 0)
			continue;
		ce->n = b.moe.n_experts;
		ce->H = m->cfg.hidden_size;
		ce->Fe = b.moe.inter;
		ce->sum_sq_in = calloc((size_t)(ce->n * ce->H), sizeof(double));
		ce->sum_sq_down = calloc((size_t)(ce->n * ce->Fe),
		    sizeof(double));
		ce->tokens = calloc((size_t)ce->n, sizeof(int64_t));
		if (ce->sum_sq_in == NULL || ce->sum_sq_down == NULL ||
		    ce->tokens == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	return TQ_OK;
}

tq_status
tq_calib_run(tq_calib *c, const tq_model *m, tq_progress_cb progress,
    void *ud, tq_error *err)
{
	const tq_model_config *cfg = &m->cfg;
	tq_forward_opts o = TQ_FORWARD_OPTS_INIT;
	tq_progress pr = { "calibrate", 0, c->n_samples };
	tq_status st;
	int64_t i;

	if (c->sites == NULL && (st = tq_calib__alloc_sites(c, cfg->n_layers,
	    cfg->hidden_size, cfg->n_heads * cfg->head_dim,
	    cfg->intermediate_size, err)) != TQ_OK)
		return st;
	if ((st = calib_alloc_experts(c, m, err)) != TQ_OK)
		return st;
	o.act_hook = calib_hook;
	o.expert_hook = calib_expert_hook;
	o.act_ud = c;
	for (i = 0; i < c->n_samples; i++) {
		if (progress != NULL && progress(ud, &pr) != 0)
			return tq_fail(err, TQ_ECANCELLED, "calibration cancelled");
		st = tq_forward(m, c->ids + i * c->seqlen, c->seqlen, &o, NULL,
		    err);
		if (st != TQ_OK)
			return st;
		pr.done = i + 1;
	}
	if (progress != NULL)
		progress(ud, &pr);
	tq_calib__finish(c);
	return TQ_OK;
}

/* ---- Accessors ------------------------------------------------------------ */

int64_t
tq_calib_n_samples(const tq_calib *c)
{
	return c->n_samples;
}

int64_t
tq_calib_seqlen(const tq_calib *c)
{
	return c->seqlen;
}

const int32_t *
tq_calib_ids(const tq_calib *c)
{
	return c->ids;
}

size_t
tq_calib_n_sites(const tq_calib *c)
{
	return c->n_sites;
}

/* See tq.h. */
int
tq_calib_n_experts(const tq_calib *c, int layer)
{
	return c->experts != NULL && layer >= 0 && layer < c->n_layers ?
	    c->experts[layer].n : 0;
}

/* See tq.h. */
int64_t
tq_calib_expert_tokens(const tq_calib *c, int layer, int expert)
{
	return expert >= 0 && expert < tq_calib_n_experts(c, layer) ?
	    c->experts[layer].tokens[expert] : -1;
}

const tq_site_stats *
tq_calib_site(const tq_calib *c, size_t i)
{
	return i < c->n_sites ? &c->sites[i].pub : NULL;
}

const tq_site_stats *
tq_calib_find(const tq_calib *c, int layer, tq_linear which)
{
	int64_t i = tq_calib__site_index(c, layer, which);

	return i >= 0 && (size_t)i < c->n_sites ? &c->sites[i].pub : NULL;
}

static int
calib_cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

static int
calib_cmp_outlier(const void *a, const void *b)
{
	const tq_outlier *x = a, *y = b;

	return x->ratio > y->ratio ? -1 : x->ratio < y->ratio;
}

size_t
tq_calib_outliers(const tq_site_stats *s, double min_ratio, tq_outlier *out,
    size_t max)
{
	float *sorted, median;
	size_t n = 0, cap = 0;
	tq_outlier *all = NULL;
	int64_t j;

	if (s->channels == 0 || max == 0)
		return 0;
	sorted = malloc((size_t)s->channels * sizeof(float));
	if (sorted == NULL)
		return 0;
	memcpy(sorted, s->absmax, (size_t)s->channels * sizeof(float));
	qsort(sorted, (size_t)s->channels, sizeof(float), calib_cmp_float);
	median = sorted[s->channels / 2];
	free(sorted);
	if (!(median > 0.0f))
		return 0;
	for (j = 0; j < s->channels; j++) {
		float r = s->absmax[j] / median;

		if (r < min_ratio)
			continue;
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 16;
			tq_outlier *g = realloc(all, nc * sizeof(*g));

			if (g == NULL)
				break;
			all = g;
			cap = nc;
		}
		all[n].channel = j;
		all[n].absmax = s->absmax[j];
		all[n].ratio = r;
		n++;
	}
	if (n > 0)
		qsort(all, n, sizeof(*all), calib_cmp_outlier);
	if (n > max)
		n = max;
	if (n > 0)
		memcpy(out, all, n * sizeof(*out));
	free(all);
	return n;
}
