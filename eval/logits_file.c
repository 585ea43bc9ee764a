/*
 * logits_file.c: the base model's log-probabilities saved once, so that
 * quantized models can be compared with the base without running it (or
 * holding it in memory) again.
 *
 * Each scored position keeps its whole distribution in 2 bytes per
 * vocabulary entry, encoded as llama-perplexity --kl-divergence-base
 * encodes it: log-probabilities within 16 nats of the top one mapped
 * linearly onto 0..65535 with a per-row scale and minimum, the rest 0.
 * The layout (little-endian; README, "Base log-probabilities"):
 *
 *	"TQLOGPR1"				magic and version
 *	uint32 protocol, n_vocab, ctx, n_windows, first; int32 bos
 *	uint64 n_tokens				tokens of the text used
 *	int32 ids[n_windows * ctx]		the windows as in the text
 *	per window, per position first..ctx-2, one row of
 *	    float scale, float min_log_prob, uint16 code[n_vocab] (+1 pad
 *	    when n_vocab is odd)
 *
 * The file is self-contained: KLD against it needs neither the text nor
 * the base model, only a model with the same vocabulary.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"
#include "fileio.h"
#include "model.h"

#define LOGITS_MAGIC "TQLOGPR1"
#define LOGITS_HEADER 40

int64_t
tq_logits__row_u16(int64_t V)
{
	return 2 * ((V + 1) / 2) + 4;	/* as llama.cpp's nv */
}

double
tq_logits__encode(const float *row, int64_t V, int32_t target, uint16_t *out)
{
	float mx = row[0], mn = row[0], lse, min_lp, scale, d[2];
	double se = 0.0;
	int64_t i;

	for (i = 1; i < V; i++) {
		mx = row[i] > mx ? row[i] : mx;
		mn = row[i] < mn ? row[i] : mn;
	}
	mn = mn > mx - 16.0f ? mn : mx - 16.0f;
	for (i = 0; i < V; i++)
		se += expf(row[i] - mx);
	lse = (float)log(se);
	min_lp = mn - mx - lse;
	scale = (mx - mn) / 65535.0f;
	d[0] = scale;
	d[1] = min_lp;
	memcpy(out, d, sizeof(d));
	out += 4;
	memset(out, 0, (size_t)(tq_logits__row_u16(V) - 4) * sizeof(uint16_t));
	if (scale != 0.0f) {
		float inv = 1.0f / scale;

		for (i = 0; i < V; i++)
			out[i] = row[i] > mn ?
			    (uint16_t)lrintf(inv * (row[i] - mn)) : 0;
	}
	return (double)mx + (double)lse - (double)row[target];
}

void
tq_logits__decode(const uint16_t *in, int64_t V, float *lp)
{
	float d[2];
	int64_t i;

	memcpy(d, in, sizeof(d));
	in += 4;
	for (i = 0; i < V; i++)
		lp[i] = d[0] * (float)in[i] + d[1];
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* ---- Writing ----------------------------------------------------------- */

typedef struct save_ctx {
	tq_atomic *a;
	const char *path;
	uint16_t *row;		/* [row_u16] */
	int64_t V;
	tq_nll_acc nll;
} save_ctx;

static tq_status
save_row(void *ud, int64_t w, int64_t p, const float *const *rows,
    int32_t target, tq_error *err)
{
	save_ctx *s = ud;
	size_t nr = (size_t)tq_logits__row_u16(s->V);

	(void)w;
	(void)p;
	tq_eval__nll_add(&s->nll, tq_logits__encode(rows[0], s->V, target,
	    s->row));
	/* The host is little-endian (configure checks it for safetensors). */
	if (fwrite(s->row, sizeof(uint16_t), nr, s->a->f) != nr)
		return tq_fail(err, TQ_EIO, "%s: write failed", s->path);
	return TQ_OK;
}

tq_status
tq_eval_save_logits(const tq_model *base, const int32_t *ids, int64_t n_ids,
    const tq_eval_opts *o, const char *path, tq_progress_cb progress,
    void *ud, tq_ppl_result *out, tq_error *err)
{
	uint8_t h[LOGITS_HEADER];
	save_ctx s;
	tq_atomic a;
	tq_windows win;
	tq_runner r;
	int64_t w;
	size_t n;
	tq_status st;

	memset(&s, 0, sizeof(s));
	if ((st = tq_eval__check_opts(o, err)) != TQ_OK)
		return st;
	if ((st = tq_eval__plan(base, o->protocol, tq_eval_ctx(base, o), n_ids,
	    &win, err)) != TQ_OK)
		return st;
	if (base->cfg.vocab_size > UINT32_MAX || win.ctx > UINT32_MAX ||
	    win.n_windows > UINT32_MAX)
		return tq_fail(err, TQ_EINVAL, "%s: too large for a logits file",
		    path);
	if ((st = tq_eval__runner_init(&r, &base, 1, win.ctx, o->protocol,
	    progress, ud, err)) != TQ_OK)
		return st;
	s.V = r.V;
	s.path = path;
	s.a = &a;
	s.row = malloc((size_t)tq_logits__row_u16(s.V) * sizeof(uint16_t));
	if (s.row == NULL) {
		tq_eval__runner_done(&r);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	if ((st = tq_atomic_open(&a, path, err)) != TQ_OK)
		goto out;
	memcpy(h, LOGITS_MAGIC, 8);
	put_u32(h + 8, (uint32_t)o->protocol);
	put_u32(h + 12, (uint32_t)s.V);
	put_u32(h + 16, (uint32_t)win.ctx);
	put_u32(h + 20, (uint32_t)win.n_windows);
	put_u32(h + 24, (uint32_t)win.first);
	put_u32(h + 28, (uint32_t)win.bos);
	put_u32(h + 32, (uint32_t)((uint64_t)win.n_tokens & 0xffffffffu));
	put_u32(h + 36, (uint32_t)((uint64_t)win.n_tokens >> 32));
	n = (size_t)(win.n_windows * win.ctx);
	if (fwrite(h, 1, sizeof(h), a.f) != sizeof(h) ||
	    fwrite(ids, sizeof(int32_t), n, a.f) != n) {
		st = tq_fail(err, TQ_EIO, "%s: write failed", path);
		tq_atomic_abort(&a);
		goto out;
	}
	r.pr.total = tq_eval__steps(&r, win.n_windows);
	for (w = 0; w < win.n_windows && st == TQ_OK; w++)
		st = tq_eval__run_window(&r, ids + w * win.ctx, win.ctx, win.bos,
		    win.first, w, save_row, &s, err);
	if (st != TQ_OK) {
		tq_atomic_abort(&a);
		goto out;
	}
	if (progress != NULL)
		progress(ud, &r.pr);
	/* No file of log-probabilities behind a perplexity of NaN. */
	memset(out, 0, sizeof(*out));
	if ((st = tq_eval__nll_result(&s.nll, out, err)) != TQ_OK) {
		tq_atomic_abort(&a);
		goto out;
	}
	if ((st = tq_atomic_commit(&a, err)) != TQ_OK)
		goto out;
	out->n_tokens = win.n_tokens;
	out->n_windows = win.n_windows;
	out->ctx = win.ctx;
out:
	free(s.row);
	tq_eval__runner_done(&r);
	return st;
}

/* ---- Reading ----------------------------------------------------------- */

tq_status
tq_logits__parse(const uint8_t *d, size_t size, const char *path,
    tq_logits_file *lf, tq_error *err)
{
	uint64_t n_ids, rows, need, row_bytes, i;
	uint32_t proto, V, ctx, nw, first;
	int32_t bos;

	if (size < LOGITS_HEADER || memcmp(d, LOGITS_MAGIC, 8) != 0)
		return tq_fail(err, TQ_EFORMAT, "%s: not a TurboQuant base "
		    "log-probability file (no TQLOGPR1 header)", path);
	proto = get_u32(d + 8);
	V = get_u32(d + 12);
	ctx = get_u32(d + 16);
	nw = get_u32(d + 20);
	first = get_u32(d + 24);
	bos = (int32_t)get_u32(d + 28);
	lf->n_tokens = (int64_t)((uint64_t)get_u32(d + 32) |
	    (uint64_t)(get_u32(d + 36) & 0x7fffffffu) << 32);
	if (proto > TQ_PROTOCOL_LLAMACPP || V < 2 || V > (1u << 24) ||
	    ctx < 2 || ctx > (1u << 24) || nw < 1 || nw > (1u << 30) ||
	    first + 1 >= ctx || bos < -1 || bos >= (int32_t)V ||
	    (uint64_t)lf->n_tokens < (uint64_t)nw * ctx)
		return tq_fail(err, TQ_EFORMAT, "%s: inconsistent header "
		    "(protocol %u, vocab %u, ctx %u, %u windows, first %u)",
		    path, proto, V, ctx, nw, first);
	/* Each factor is below 2^31, so no product overflows 64 bits. */
	n_ids = (uint64_t)nw * ctx;
	rows = (uint64_t)nw * (ctx - 1 - first);
	row_bytes = (uint64_t)tq_logits__row_u16(V) * 2;
	need = LOGITS_HEADER + n_ids * 4 + rows * row_bytes;
	if (size != need)
		return tq_fail(err, TQ_EFORMAT, "%s: %zu bytes where the header "
		    "says %llu (truncated or not this format)", path, size,
		    (unsigned long long)need);
	for (i = 0; i < n_ids; i++) {
		int32_t id;

		memcpy(&id, d + LOGITS_HEADER + 4 * i, 4);
		if (id < 0 || id >= (int32_t)V)
			return tq_fail(err, TQ_EFORMAT, "%s: token %d at %llu is"
			    " outside the vocabulary of %u", path, (int)id,
			    (unsigned long long)i, V);
	}
	lf->protocol = (tq_ppl_protocol)proto;
	lf->win.ctx = ctx;
	lf->win.n_windows = nw;
	lf->win.first = first;
	lf->win.bos = bos;
	lf->win.n_tokens = lf->n_tokens;
	lf->V = V;
	lf->ids = (const int32_t *)(const void *)(d + LOGITS_HEADER);
	lf->rows = (const uint16_t *)(const void *)(d + LOGITS_HEADER +
	    n_ids * 4);
	return TQ_OK;
}

tq_status
tq_logits__open(const char *path, tq_logits_file *lf, tq_error *err)
{
	tq_status st;

	memset(lf, 0, sizeof(*lf));
	if ((st = tq_mmap_open(path, &lf->map, err)) != TQ_OK)
		return st;
	if ((st = tq_logits__parse(lf->map.data, lf->map.size, path, lf,
	    err)) != TQ_OK)
		tq_logits__close(lf);
	return st;
}

void
tq_logits__close(tq_logits_file *lf)
{
	tq_mmap_close(&lf->map);
	memset(lf, 0, sizeof(*lf));
}

typedef struct file_ctx {
	const tq_logits_file *lf;
	tq_kld_acc acc;
	float *lp;		/* [V] */
	int64_t per_window;
} file_ctx;

static tq_status
file_row(void *ud, int64_t w, int64_t p, const float *const *rows,
    int32_t target, tq_error *err)
{
	file_ctx *c = ud;
	const tq_logits_file *lf = c->lf;
	int64_t ri = w * c->per_window + (p - lf->win.first);

	tq_logits__decode(lf->rows + ri * tq_logits__row_u16(lf->V), lf->V,
	    c->lp);
	return tq_eval__kld_add_lp(&c->acc, rows[0], c->lp, lf->V, target,
	    TQ_LOGITS_FLOOR, err);
}

tq_status
tq_eval_kld_file(const tq_model *m, const char *path, tq_progress_cb progress,
    void *ud, tq_eval_opts *o_out, tq_kld_result *out, tq_error *err)
{
	tq_logits_file lf;
	file_ctx c;
	tq_runner r;
	int64_t w;
	tq_status st;

	if ((st = tq_logits__open(path, &lf, err)) != TQ_OK)
		return st;
	memset(&c, 0, sizeof(c));
	if (lf.V != m->cfg.vocab_size) {
		st = tq_fail(err, TQ_EINVAL, "%s: vocabulary of %lld, the model "
		    "%s has %lld", path, (long long)lf.V, m->path,
		    (long long)m->cfg.vocab_size);
		goto out;
	}
	if (lf.win.ctx > m->cfg.max_position_embeddings &&
	    m->cfg.rope_type != TQ_ROPE_DYNAMIC) {
		st = tq_fail(err, TQ_EINVAL, "%s: windows of %lld, beyond the "
		    "model's %lld positions", path, (long long)lf.win.ctx,
		    (long long)m->cfg.max_position_embeddings);
		goto out;
	}
	if ((st = tq_eval__runner_init(&r, &m, 1, lf.win.ctx, lf.protocol,
	    progress, ud, err)) != TQ_OK)
		goto out;
	c.lf = &lf;
	c.per_window = lf.win.ctx - 1 - lf.win.first;
	tq_eval__kld_init(&c.acc);
	if ((c.lp = malloc((size_t)lf.V * sizeof(float))) == NULL)
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
	r.pr.total = tq_eval__steps(&r, lf.win.n_windows);
	for (w = 0; w < lf.win.n_windows && st == TQ_OK; w++)
		st = tq_eval__run_window(&r, lf.ids + w * lf.win.ctx, lf.win.ctx,
		    lf.win.bos, lf.win.first, w, file_row, &c, err);
	if (st == TQ_OK && progress != NULL)
		progress(ud, &r.pr);
	tq_eval__runner_done(&r);
	if (st == TQ_OK &&
	    (st = tq_eval__kld_result(&c.acc, &lf.win, out, err)) == TQ_OK) {
		if (o_out != NULL) {
			o_out->version = TQ_EVAL_OPTS_VERSION;
			o_out->protocol = lf.protocol;
			o_out->ctx = lf.win.ctx;
			o_out->max_tokens = lf.n_tokens;
		}
	}
	tq_eval__kld_done(&c.acc);
	free(c.lp);
out:
	tq_logits__close(&lf);
	return st;
}
