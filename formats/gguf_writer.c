/*
 * gguf_writer.c: writing GGUF files.
 *
 * Layout (little-endian, packed): "GGUF", version 3, tensor count, kv
 * count, the key-values, the tensor infos (name, dims in ggml order, type,
 * offset), zero padding to the alignment, then the tensor data in info
 * order, each tensor padded to the alignment, as current ggml demands.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "gguf_reader.h"
#include "gguf_writer.h"

#define GGUF_VERSION 3
#define GGUF_U32 TQ_GGUF_U32
#define GGUF_STRING TQ_GGUF_STRING
#define GGUF_ARRAY TQ_GGUF_ARRAY

typedef struct gguf_wtensor {
	char name[64];
	int type, n_dims;
	int64_t ne[4];
	const void *data;	/* or NULL: fill() makes it */
	uint64_t nbytes;
	tq_gguf_fill_fn fill;
	void *ud;
} gguf_wtensor;

/* Block size and bytes of the ggml types we write (ggml-common.h). */
static const struct {
	int type;
	int blck;
	size_t bytes;
	const char *name;
} ggml_types[] = {
	{ TQ_GGML_F32, 1, 4, "f32" }, { TQ_GGML_F16, 1, 2, "f16" },
	{ TQ_GGML_BF16, 1, 2, "bf16" }, { TQ_GGML_Q4_0, 32, 18, "q4_0" },
	{ TQ_GGML_Q4_1, 32, 20, "q4_1" }, { TQ_GGML_Q5_0, 32, 22, "q5_0" },
	{ TQ_GGML_Q5_1, 32, 24, "q5_1" }, { TQ_GGML_Q8_0, 32, 34, "q8_0" },
	{ TQ_GGML_Q2_K, 256, 84, "q2_K" }, { TQ_GGML_Q3_K, 256, 110, "q3_K" },
	{ TQ_GGML_Q4_K, 256, 144, "q4_K" }, { TQ_GGML_Q5_K, 256, 176, "q5_K" },
	{ TQ_GGML_Q6_K, 256, 210, "q6_K" },
	{ TQ_GGML_IQ4_NL, 32, 18, "iq4_nl" }, { TQ_GGML_IQ4_XS, 256, 136, "iq4_xs" },
	{ TQ_GGML_MXFP4, 32, 17, "mxfp4" }, { TQ_GGML_NVFP4, 64, 36, "nvfp4" },
	{ TQ_GGML_IQ3_XXS, 256, 98, "iq3_xxs" }, { TQ_GGML_IQ3_S, 256, 110, "iq3_s" },
	{ TQ_GGML_IQ2_XXS, 256, 66, "iq2_xxs" },
	{ TQ_GGML_IQ2_XS, 256, 74, "iq2_xs" },
	{ TQ_GGML_IQ2_S, 256, 82, "iq2_s" },
	{ TQ_GGML_IQ1_S, 256, 50, "iq1_s" }, { TQ_GGML_IQ1_M, 256, 56, "iq1_m" },
};

int
tq_ggml_block(int type, size_t *bytes)
{
	size_t i;

	for (i = 0; i < sizeof(ggml_types) / sizeof(ggml_types[0]); i++)
		if (ggml_types[i].type == type) {
			*bytes = ggml_types[i].bytes;
			return ggml_types[i].blck;
		}
	*bytes = 0;
	return 0;
}

const char *
tq_ggml_type_name(int type)
{
	size_t i;

	for (i = 0; i < sizeof(ggml_types) / sizeof(ggml_types[0]); i++)
		if (ggml_types[i].type == type)
			return ggml_types[i].name;
	return "?";
}

uint64_t
tq_ggml_nbytes(int type, int64_t ne0, int64_t rows)
{
	size_t bytes;
	int blck = tq_ggml_block(type, &bytes);

	if (blck == 0 || ne0 % blck != 0)
		return 0;
	return (uint64_t)(ne0 / blck) * bytes * (uint64_t)rows;
}

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

/* A key and its value type; then the value; then gw_end. */
static void
gw_key(tq_gguf_writer *w, const char *key, uint32_t type)
{
	gw_str(w, key);
	gw_u32(w, type);
}

/* An array's key, element type and length. */
static void
gw_arr(tq_gguf_writer *w, const char *key, uint32_t elem, uint64_t n)
{
	gw_key(w, key, GGUF_ARRAY);
	gw_u32(w, elem);
	gw_u64(w, n);
}

static tq_status
gw_end(tq_gguf_writer *w)
{
	w->n_kv++;
	return w->failed ? TQ_ENOMEM : TQ_OK;
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
	gw_key(w, key, GGUF_STRING);
	gw_str(w, v);
	return gw_end(w);
}

tq_status
tq_gguf_kv_copy(tq_gguf_writer *w, const tq_gguf_kv *kv)
{
	if (kv->type == TQ_GGUF_ARRAY)
		gw_arr(w, kv->key, (uint32_t)kv->arr_type, kv->n);
	else
		gw_key(w, kv->key, (uint32_t)kv->type);
	gw_put(w, kv->val, tq_gguf_kv_nbytes(kv));
	return gw_end(w);
}

tq_status
tq_gguf_kv_u32(tq_gguf_writer *w, const char *key, uint32_t v)
{
	gw_key(w, key, GGUF_U32);
	gw_u32(w, v);
	return gw_end(w);
}

tq_status
tq_gguf_kv_str_array(tq_gguf_writer *w, const char *key,
    const char *const *v, size_t n)
{
	size_t i;

	gw_arr(w, key, GGUF_STRING, n);
	for (i = 0; i < n; i++)
		gw_str(w, v[i]);
	return gw_end(w);
}

/* n floats, as their bit patterns. */
static void
gw_f32s(tq_gguf_writer *w, const float *v, size_t n)
{
	uint32_t u;
	size_t i;

	for (i = 0; i < n; i++) {
		memcpy(&u, &v[i], 4);
		gw_u32(w, u);
	}
}

tq_status
tq_gguf_kv_f32(tq_gguf_writer *w, const char *key, float v)
{
	gw_key(w, key, TQ_GGUF_F32);
	gw_f32s(w, &v, 1);
	return gw_end(w);
}

tq_status
tq_gguf_kv_bool(tq_gguf_writer *w, const char *key, int v)
{
	uint8_t b = v != 0;

	gw_key(w, key, TQ_GGUF_BOOL);
	gw_put(w, &b, 1);
	return gw_end(w);
}

tq_status
tq_gguf_kv_i32_array(tq_gguf_writer *w, const char *key, const int32_t *v,
    size_t n)
{
	size_t i;

	gw_arr(w, key, TQ_GGUF_I32, n);
	for (i = 0; i < n; i++)
		gw_u32(w, (uint32_t)v[i]);
	return gw_end(w);
}

tq_status
tq_gguf_kv_f32_array(tq_gguf_writer *w, const char *key, const float *v,
    size_t n)
{
	gw_arr(w, key, TQ_GGUF_F32, n);
	gw_f32s(w, v, n);
	return gw_end(w);
}

tq_status
tq_gguf_add_tensor_fill(tq_gguf_writer *w, const char *name, int type,
    int n_dims, const int64_t *ne, uint64_t nbytes, tq_gguf_fill_fn fill,
    void *ud, tq_error *err)
{
	tq_status st = tq_gguf_add_tensor(w, name, type, n_dims, ne, NULL,
	    nbytes, err);

	if (st == TQ_OK) {
		w->t[w->n_t - 1].fill = fill;
		w->t[w->n_t - 1].ud = ud;
	}
	return st;
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
		const gguf_wtensor *t = &w->t[i];
		uint8_t *buf = NULL;

		if (t->fill != NULL) {
			if ((buf = malloc(t->nbytes ? (size_t)t->nbytes : 1)) ==
			    NULL) {
				tq_atomic_abort(&a);
				return tq_fail(err, TQ_ENOMEM, "%s: out of memory "
				    "for tensor %s", path, t->name);
			}
			if ((st = t->fill(t->ud, i, buf, t->nbytes, err)) !=
			    TQ_OK) {
				free(buf);
				tq_atomic_abort(&a);
				return st;
			}
		}
		fwrite(buf != NULL ? buf : t->data, 1, (size_t)t->nbytes, a.f);
		fwrite(zeros, 1, (size_t)(gw_pad(t->nbytes) - t->nbytes), a.f);
		free(buf);
		/* A full disk shows here, not only at the end. */
		if (ferror(a.f)) {
			int e = errno;

			tq_atomic_abort(&a);
			return tq_fail(err, TQ_EIO, "%s: write failed: %s", path,
			    strerror(e));
		}
	}
	return tq_atomic_commit(&a, err);
}
