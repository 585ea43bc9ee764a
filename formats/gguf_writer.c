/*
 * gguf_writer.c: writing GGUF files.
 *
 * Layout (little-endian, packed): "GGUF", version 3, tensor count, kv
 * count, the key-values, the tensor infos (name, dims in ggml order, type,
 * offset), zero padding to the alignment, then the tensor data in info
 * order, each tensor padded to the alignment, as current ggml demands.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "gguf_writer.h"

#define GGUF_VERSION 3
enum { GGUF_U32 = 4, GGUF_STRING = 8, GGUF_ARRAY = 9 };

typedef struct gguf_wtensor {
	char name[64];
	int type, n_dims;
	int64_t ne[4];
	const void *data;
	uint64_t nbytes;
} gguf_wtensor;

struct tq_gguf_writer {
	uint8_t *kv;		/* serialized key-values */
	size_t kv_len, kv_cap;
	uint64_t n_kv;
	int failed;		/* an allocation failed while adding */
	gguf_wtensor *t;
	size_t n_t, cap_t;
};

static void
gw_put(tq_gguf_writer *w, const void *p, size_t n)
{
	if (w->failed)
		return;
	if (w->kv_len + n > w->kv_cap) {
		size_t cap = w->kv_cap ? 2 * w->kv_cap : 4096;
		uint8_t *g;

		while (cap < w->kv_len + n)
			cap *= 2;
		if ((g = realloc(w->kv, cap)) == NULL) {
			w->failed = 1;
			return;
		}
		w->kv = g;
		w->kv_cap = cap;
	}
	memcpy(w->kv + w->kv_len, p, n);
	w->kv_len += n;
}

/* Integers are written byte by byte: little-endian on any host. */
static void
gw_u64(tq_gguf_writer *w, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	gw_put(w, b, 8);
}

static void
gw_u32(tq_gguf_writer *w, uint32_t v)
{
	uint8_t b[4];
	int i;

	for (i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	gw_put(w, b, 4);
}

static void
gw_str(tq_gguf_writer *w, const char *s)
{
	size_t n = strlen(s);

	gw_u64(w, n);
	gw_put(w, s, n);
}

tq_status
tq_gguf_writer_new(tq_gguf_writer **out, tq_error *err)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? TQ_OK : tq_fail(err, TQ_ENOMEM, "out of memory");
}

void
tq_gguf_writer_free(tq_gguf_writer *w)
{
	if (w == NULL)
		return;
	free(w->kv);
	free(w->t);
	free(w);
}

tq_status
tq_gguf_kv_str(tq_gguf_writer *w, const char *key, const char *v)
{
	gw_str(w, key);
	gw_u32(w, GGUF_STRING);
	gw_str(w, v);
	w->n_kv++;
	return w->failed ? TQ_ENOMEM : TQ_OK;
}

tq_status
tq_gguf_kv_u32(tq_gguf_writer *w, const char *key, uint32_t v)
{
	gw_str(w, key);
	gw_u32(w, GGUF_U32);
	gw_u32(w, v);
	w->n_kv++;
	return w->failed ? TQ_ENOMEM : TQ_OK;
}

tq_status
tq_gguf_kv_str_array(tq_gguf_writer *w, const char *key,
    const char *const *v, size_t n)
{
	size_t i;

	gw_str(w, key);
	gw_u32(w, GGUF_ARRAY);
	gw_u32(w, GGUF_STRING);
	gw_u64(w, n);
	for (i = 0; i < n; i++)
		gw_str(w, v[i]);
	w->n_kv++;
	return w->failed ? TQ_ENOMEM : TQ_OK;
}

tq_status
tq_gguf_add_tensor(tq_gguf_writer *w, const char *name, int type, int n_dims,
    const int64_t *ne, const void *data, uint64_t nbytes, tq_error *err)
{
	gguf_wtensor *t;
	int i;

	if (strlen(name) > 63 || n_dims < 1 || n_dims > 4)
		return tq_fail(err, TQ_EINVAL, "GGUF tensor \"%s\": name over 63 "
		    "bytes or %d dimensions", name, n_dims);
	if (w->n_t == w->cap_t) {
		size_t cap = w->cap_t ? 2 * w->cap_t : 64;
		gguf_wtensor *g = realloc(w->t, cap * sizeof(*g));

		if (g == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		w->t = g;
		w->cap_t = cap;
	}
	t = &w->t[w->n_t++];
	memset(t, 0, sizeof(*t));
	strcpy(t->name, name);
	t->type = type;
	t->n_dims = n_dims;
	for (i = 0; i < n_dims; i++)
		t->ne[i] = ne[i];
	t->data = data;
	t->nbytes = nbytes;
	return TQ_OK;
}

static uint64_t
gw_pad(uint64_t n)
{
	return (n + TQ_GGUF_ALIGNMENT - 1) / TQ_GGUF_ALIGNMENT *
	    TQ_GGUF_ALIGNMENT;
}

tq_status
tq_gguf_write(tq_gguf_writer *w, const char *path, tq_error *err)
{
	static const uint8_t zeros[TQ_GGUF_ALIGNMENT];
	tq_gguf_writer hdr;
	uint64_t off = 0;
	tq_atomic a;
	tq_status st;
	size_t i;
	int d;

	if (w->failed)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	/* The header: magic, counts, key-values, tensor infos. */
	memset(&hdr, 0, sizeof(hdr));
	gw_put(&hdr, "GGUF", 4);
	gw_u32(&hdr, GGUF_VERSION);
	gw_u64(&hdr, w->n_t);
	gw_u64(&hdr, w->n_kv);
	gw_put(&hdr, w->kv, w->kv_len);
	for (i = 0; i < w->n_t; i++) {
		const gguf_wtensor *t = &w->t[i];

		gw_str(&hdr, t->name);
		gw_u32(&hdr, (uint32_t)t->n_dims);
		for (d = 0; d < t->n_dims; d++)
			gw_u64(&hdr, (uint64_t)t->ne[d]);
		gw_u32(&hdr, (uint32_t)t->type);
		gw_u64(&hdr, off);
		off += gw_pad(t->nbytes);
	}
	if (hdr.failed) {
		free(hdr.kv);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	}
	if ((st = tq_atomic_open(&a, path, err)) != TQ_OK) {
		free(hdr.kv);
		return st;
	}
	fwrite(hdr.kv, 1, hdr.kv_len, a.f);
	fwrite(zeros, 1, (size_t)(gw_pad(hdr.kv_len) - hdr.kv_len), a.f);
	free(hdr.kv);
	for (i = 0; i < w->n_t; i++) {
		fwrite(w->t[i].data, 1, (size_t)w->t[i].nbytes, a.f);
		fwrite(zeros, 1, (size_t)(gw_pad(w->t[i].nbytes) -
		    w->t[i].nbytes), a.f);
	}
	return tq_atomic_commit(&a, err);
}
