/*
 * calib_file.c: calibration samples and statistics saved as safetensors.
 *
 * Tensors: "ids" I32 [n_samples, seqlen]; for each site (SITE =
 * "model.layers.N.self_attn.q_proj.input", "...o_proj.input",
 * "...mlp.gate_proj.input", "...mlp.down_proj.input", "lm_head.input"):
 * SITE.absmax F32 [C], SITE.sum_abs F64 [C], SITE.sum_sq F64 [C],
 * SITE.hist I64 [TQ_HIST_BINS] and SITE.n_tokens I64 [1].  Metadata:
 * format "turboquant-calib", version, n_layers, seed.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "error.h"
#include "safetensors.h"

#define CALIB_FORMAT "turboquant-calib"
#define CALIB_VERSION "1"

static void
calib_site_name(const tq_site_stats *s, char *buf, size_t len)
{
	if (s->site == TQ_LINEAR_LM_HEAD)
		snprintf(buf, len, "lm_head.input");
	else
		snprintf(buf, len, "model.layers.%d.%s.%s.input", s->layer,
		    s->site == TQ_LINEAR_GATE || s->site == TQ_LINEAR_DOWN ?
		    "mlp" : "self_attn", tq_linear_name(s->site));
}

tq_status
tq_calib_save(const tq_calib *c, const char *path, tq_error *err)
{
	int64_t shape[2] = { c->n_samples, c->seqlen }, one = 1;
	int64_t bins = TQ_HIST_BINS;
	char name[160], num[32];
	tq_st_writer *w;
	tq_status st;
	size_t i;

	if ((st = tq_st_writer_new(&w, err)) != TQ_OK)
		return st;
	st = tq_st_writer_add(w, "ids", TQ_DTYPE_I32, 2, shape, c->ids, err);
	for (i = 0; i < c->n_sites && st == TQ_OK; i++) {
		const calib_site *s = &c->sites[i];
		int64_t C = s->pub.channels;
		char base[128];

		calib_site_name(&s->pub, base, sizeof(base));
		snprintf(name, sizeof(name), "%s.absmax", base);
		st = tq_st_writer_add(w, name, TQ_DTYPE_F32, 1, &C, s->absmax,
		    err);
		snprintf(name, sizeof(name), "%s.sum_abs", base);
		if (st == TQ_OK)
			st = tq_st_writer_add(w, name, TQ_DTYPE_F64, 1, &C,
			    s->sum_abs, err);
		snprintf(name, sizeof(name), "%s.sum_sq", base);
		if (st == TQ_OK)
			st = tq_st_writer_add(w, name, TQ_DTYPE_F64, 1, &C,
			    s->sum_sq, err);
		snprintf(name, sizeof(name), "%s.hist", base);
		if (st == TQ_OK)
			st = tq_st_writer_add(w, name, TQ_DTYPE_I64, 1, &bins,
			    s->hist, err);
		snprintf(name, sizeof(name), "%s.n_tokens", base);
		if (st == TQ_OK)
			st = tq_st_writer_add(w, name, TQ_DTYPE_I64, 1, &one,
			    &s->pub.n_tokens, err);
	}
	snprintf(num, sizeof(num), "%lld", (long long)c->n_layers);
	if (st == TQ_OK)
		st = tq_st_writer_meta(w, "format", CALIB_FORMAT, err);
	if (st == TQ_OK)
		st = tq_st_writer_meta(w, "version", CALIB_VERSION, err);
	if (st == TQ_OK)
		st = tq_st_writer_meta(w, "n_layers", num, err);
	snprintf(num, sizeof(num), "%" PRIu64, c->seed);
	if (st == TQ_OK)
		st = tq_st_writer_meta(w, "seed", num, err);
	if (st == TQ_OK)
		st = tq_st_writer_write(w, path, err);
	tq_st_writer_free(w);
	return st;
}

/* Finds name with the dtype and element count expected, or fails. */
static tq_status
calib_get(const tq_st_file *f, const char *name, tq_dtype dtype,
    int64_t numel, const void **out, tq_error *err)
{
	const tq_tensor *t = tq_st_find(f, name);

	if (t == NULL)
		return tq_fail(err, TQ_EFORMAT, "%s: missing tensor \"%s\"",
		    f->path, name);
	if (t->dtype != dtype || tq_tensor_numel(t) != numel)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: tensor \"%s\" should be %s with %lld elements", f->path,
		    name, tq_dtype_name(dtype), (long long)numel);
	*out = t->data;
	return TQ_OK;
}

/* Reads the sizes a calibration file implies: layers and widths. */
static tq_status
calib_shapes(const tq_st_file *f, int64_t *n_layers, int64_t *H,
    int64_t *qd, int64_t *F, tq_error *err)
{
	const tq_tensor *t;
	char name[128];
	int64_t L;

	for (L = 0; L < 4096; L++) {
		snprintf(name, sizeof(name),
		    "model.layers.%lld.self_attn.q_proj.input.absmax",
		    (long long)L);
		if (tq_st_find(f, name) == NULL)
			break;
	}
	if (L == 0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: not a TurboQuant calibration file (no layer "
		    "statistics)", f->path);
	*n_layers = L;
	t = tq_st_find(f, "model.layers.0.self_attn.q_proj.input.absmax");
	*H = t->shape[0];
	t = tq_st_find(f, "model.layers.0.self_attn.o_proj.input.absmax");
	*qd = t != NULL ? t->shape[0] : 0;
	t = tq_st_find(f, "model.layers.0.mlp.down_proj.input.absmax");
	*F = t != NULL ? t->shape[0] : 0;
	if (*qd == 0 || *F == 0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: layer 0 statistics are incomplete", f->path);
	return TQ_OK;
}

tq_status
tq_calib_load(const char *path, tq_calib **out, tq_error *err)
{
	const tq_tensor *ids;
	tq_st_file *f = NULL;
	tq_calib *c = NULL;
	int64_t L = 0, H = 0, qd = 0, F = 0;
	tq_status st;
	size_t i;

	*out = NULL;
	if ((st = tq_st_open(path, &f, err)) != TQ_OK)
		return st;
	ids = tq_st_find(f, "ids");
	if (ids == NULL || ids->dtype != TQ_DTYPE_I32 || ids->ndim != 2 ||
	    ids->shape[0] < 1 || ids->shape[1] < 2) {
		st = tq_fail(err, TQ_EFORMAT,
		    "%s: not a TurboQuant calibration file (no \"ids\" I32 "
		    "[samples, seqlen])", path);
		goto out;
	}
	if ((st = calib_shapes(f, &L, &H, &qd, &F, err)) != TQ_OK)
		goto out;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->ids = malloc((size_t)ids->nbytes)) == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	c->n_samples = ids->shape[0];
	c->seqlen = ids->shape[1];
	memcpy(c->ids, ids->data, (size_t)ids->nbytes);
	if ((st = tq_calib__alloc_sites(c, L, H, qd, F, err)) != TQ_OK)
		goto out;
	for (i = 0; i < c->n_sites; i++) {
		calib_site *s = &c->sites[i];
		int64_t C = s->pub.channels;
		const void *p;
		char base[128], name[160];

		calib_site_name(&s->pub, base, sizeof(base));
#define GET(suffix, dtype, n, dst, bytes) do { \
		snprintf(name, sizeof(name), "%s." suffix, base); \
		if ((st = calib_get(f, name, dtype, n, &p, err)) != TQ_OK) \
			goto out; \
		memcpy(dst, p, bytes); \
	} while (0)
		GET("absmax", TQ_DTYPE_F32, C, s->absmax, (size_t)C * 4);
		GET("sum_abs", TQ_DTYPE_F64, C, s->sum_abs, (size_t)C * 8);
		GET("sum_sq", TQ_DTYPE_F64, C, s->sum_sq, (size_t)C * 8);
		GET("hist", TQ_DTYPE_I64, TQ_HIST_BINS, s->hist,
		    sizeof(s->hist));
		GET("n_tokens", TQ_DTYPE_I64, 1, &s->pub.n_tokens, 8);
#undef GET
	}
	tq_calib__finish(c);
	*out = c;
	c = NULL;
out:
	tq_calib_free(c);
	tq_st_close(f);
	return st;
}
