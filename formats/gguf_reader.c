/*
 * gguf_reader.c: reading GGUF files, which are untrusted input.
 *
 * Every length and count is checked against the bytes that remain before
 * it is used, so a truncated or lying file gives an error naming what is
 * wrong, never a read outside the file.  The rules are current ggml's
 * (gguf.cpp): version 2 or 3, unique non-empty keys, no nested arrays,
 * general.alignment a power of two when present, tensor names under 64
 * bytes and unique, 1 to 4 dimensions, rows that fill whole blocks, and
 * each tensor's offset exactly the aligned end of the tensor before it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf_reader.h"
#include "gguf_writer.h"
#include "quant.h"
#include "tensor.h"

#define GGUF_MAX_NAME 64

typedef struct cursor {
	const uint8_t *p, *end;
	const char *name;
	tq_error *err;
} cursor;

static uint64_t
rd_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static size_t
left(const cursor *c)
{
	return (size_t)(c->end - c->p);
}

static tq_status
rd_u32(cursor *c, uint32_t *v, const char *what)
{
	if (left(c) < 4)
		return tq_fail(c->err, TQ_EFORMAT, "%s: truncated in %s", c->name,
		    what);
	*v = (uint32_t)rd_le(c->p, 4);
	c->p += 4;
	return TQ_OK;
}

static tq_status
rd_u64(cursor *c, uint64_t *v, const char *what)
{
	if (left(c) < 8)
		return tq_fail(c->err, TQ_EFORMAT, "%s: truncated in %s", c->name,
		    what);
	*v = rd_le(c->p, 8);
	c->p += 8;
	return TQ_OK;
}

/* A gguf_string: u64 length, bytes.  *s points into the file. */
static tq_status
rd_str(cursor *c, const uint8_t **s, uint64_t *len, const char *what)
{
	tq_status st;

	if ((st = rd_u64(c, len, what)) != TQ_OK)
		return st;
	if (*len > left(c))
		return tq_fail(c->err, TQ_EFORMAT, "%s: %s says %llu bytes but "
		    "only %zu remain", c->name, what, (unsigned long long)*len,
		    left(c));
	*s = c->p;
	c->p += *len;
	return TQ_OK;
}

/* Bytes of a scalar value type, 0 for string/array/unknown. */
static size_t
scalar_size(int t)
{
	static const size_t sz[TQ_GGUF_TYPE_COUNT] = {
		1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8
	};

	return t >= 0 && t < TQ_GGUF_TYPE_COUNT ? sz[t] : 0;
}

static const char *
type_name(int t)
{
	static const char *const n[TQ_GGUF_TYPE_COUNT] = {
		"uint8", "int8", "uint16", "int16", "uint32", "int32",
		"float32", "bool", "string", "array", "uint64", "int64",
		"float64"
	};

	return t >= 0 && t < TQ_GGUF_TYPE_COUNT ? n[t] : "?";
}

static int
cmp_key(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 when two of the n strings are equal (sorted copy of the pointers). */
static int
find_dup(char **names, size_t n, const char **dup)
{
	size_t i;

	qsort(names, n, sizeof(*names), cmp_key);
	for (i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0) {
			*dup = names[i];
			return 1;
		}
	return 0;
}

static char *
dup_name(const uint8_t *s, uint64_t len)
{
	char *p = malloc((size_t)len + 1);

	if (p != NULL) {
		memcpy(p, s, (size_t)len);
		p[len] = '\0';
	}
	return p;
}

static tq_status
parse_kv(cursor *c, tq_gguf_file *f, size_t i)
{
	tq_gguf_kv *kv = &f->kv[i];
	const uint8_t *s;
	uint64_t len, k;
	uint32_t t;
	tq_status st;
	size_t sz;

	if ((st = rd_str(c, &s, &len, "a key")) != TQ_OK)
		return st;
	if (len == 0 || memchr(s, '\0', (size_t)len) != NULL)
		return tq_fail(c->err, TQ_EFORMAT, "%s: key %zu is empty or holds "
		    "a NUL byte", c->name, i);
	if ((kv->key = dup_name(s, len)) == NULL)
		return tq_fail(c->err, TQ_ENOMEM, "out of memory");
	if ((st = rd_u32(c, &t, kv->key)) != TQ_OK)
		return st;
	if (t >= TQ_GGUF_TYPE_COUNT)
		return tq_fail(c->err, TQ_EFORMAT, "%s: key %s has unknown value "
		    "type %u", c->name, kv->key, t);
	kv->type = (int)t;
	kv->n = 1;
	if (t == TQ_GGUF_STRING) {
		kv->val = c->p;
		return rd_str(c, &s, &len, kv->key);
	}
	if (t != TQ_GGUF_ARRAY) {
		sz = scalar_size((int)t);
		if (left(c) < sz)
			return tq_fail(c->err, TQ_EFORMAT, "%s: truncated in the "
			    "value of %s", c->name, kv->key);
		kv->val = c->p;
		c->p += sz;
		return TQ_OK;
	}
	if ((st = rd_u32(c, &t, kv->key)) != TQ_OK ||
	    (st = rd_u64(c, &kv->n, kv->key)) != TQ_OK)
		return st;
	if (t == TQ_GGUF_ARRAY || t >= TQ_GGUF_TYPE_COUNT)
		return tq_fail(c->err, TQ_EFORMAT, "%s: key %s is an array of %s "
		    "(nested or unknown element type)", c->name, kv->key,
		    t == TQ_GGUF_ARRAY ? "arrays" : "type ?");
	kv->arr_type = (int)t;
	kv->val = c->p;
	if (t != TQ_GGUF_STRING) {
		sz = scalar_size((int)t);
		if (kv->n > left(c) / sz)
			return tq_fail(c->err, TQ_EFORMAT, "%s: array %s of %llu "
			    "%s values runs past the end of the file", c->name,
			    kv->key, (unsigned long long)kv->n, type_name((int)t));
		c->p += kv->n * sz;
		return TQ_OK;
	}
	/* Each string is at least its 8-byte length. */
	if (kv->n > left(c) / 8)
		return tq_fail(c->err, TQ_EFORMAT, "%s: array %s of %llu strings "
		    "runs past the end of the file", c->name, kv->key,
		    (unsigned long long)kv->n);
	if ((kv->str_off = malloc((size_t)kv->n * 8 + 8)) == NULL)
		return tq_fail(c->err, TQ_ENOMEM, "out of memory");
	for (k = 0; k < kv->n; k++) {
		kv->str_off[k] = (uint64_t)(c->p - kv->val);
		if ((st = rd_str(c, &s, &len, kv->key)) != TQ_OK)
			return st;
	}
	return TQ_OK;
}

static tq_status
parse_tensor(cursor *c, tq_gguf_file *f, size_t i)
{
	tq_gguf_tensor *t = &f->t[i];
	const uint8_t *s;
	uint64_t len, v, off;
	uint32_t u;
	tq_status st;
	size_t bytes;
	int d, blck;

	if ((st = rd_str(c, &s, &len, "a tensor name")) != TQ_OK)
		return st;
	if (len == 0 || len >= GGUF_MAX_NAME || memchr(s, '\0', (size_t)len))
		return tq_fail(c->err, TQ_EFORMAT, "%s: tensor %zu has a name of "
		    "%llu bytes (1 to %d allowed, no NUL)", c->name, i,
		    (unsigned long long)len, GGUF_MAX_NAME - 1);
	if ((t->name = dup_name(s, len)) == NULL)
		return tq_fail(c->err, TQ_ENOMEM, "out of memory");
	if ((st = rd_u32(c, &u, t->name)) != TQ_OK)
		return st;
	if (u < 1 || u > 4)
		return tq_fail(c->err, TQ_EFORMAT, "%s: tensor %s has %u "
		    "dimensions (1 to 4 allowed)", c->name, t->name, u);
	t->n_dims = (int)u;
	for (d = 0; d < 4; d++)
		t->ne[d] = 1;
	for (d = 0; d < t->n_dims; d++) {
		if ((st = rd_u64(c, &v, t->name)) != TQ_OK)
			return st;
		if (v > (uint64_t)INT64_MAX)
			return tq_fail(c->err, TQ_EFORMAT, "%s: tensor %s has a "
			    "negative dimension", c->name, t->name);
		t->ne[d] = (int64_t)v;
	}
	if ((st = rd_u32(c, &u, t->name)) != TQ_OK ||
	    (st = rd_u64(c, &off, t->name)) != TQ_OK)
		return st;
	t->type = (int)u;
	t->offset = off;
	if ((blck = tq_ggml_block(t->type, &bytes)) == 0)
		return tq_fail(c->err, TQ_EUNSUPPORTED, "%s: tensor %s has ggml "
		    "type %u, which we cannot read (f32, f16, bf16, q4_0, q4_1, "
		    "q5_0, q5_1, q8_0, q2_K ... q6_K)", c->name, t->name, u);
	if (t->ne[0] % blck != 0)
		return tq_fail(c->err, TQ_EFORMAT, "%s: tensor %s has rows of "
		    "%lld, not a multiple of the %s block (%d)", c->name, t->name,
		    (long long)t->ne[0], tq_ggml_type_name(t->type), blck);
	/* nbytes = ne0/blck * bytes * ne1 * ne2 * ne3, overflow-checked. */
	v = (uint64_t)(t->ne[0] / blck) * bytes;
	for (d = 1; d < 4; d++) {
		if (t->ne[d] != 0 && v > UINT64_MAX / 2 / (uint64_t)t->ne[d])
			return tq_fail(c->err, TQ_EFORMAT, "%s: tensor %s is "
			    "impossibly large", c->name, t->name);
		v *= (uint64_t)t->ne[d];
	}
	t->nbytes = v;
	return TQ_OK;
}

void
tq_gguf_close(tq_gguf_file *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n_kv; i++) {
		free(f->kv[i].key);
		free(f->kv[i].str_off);
	}
	for (i = 0; i < f->n_t; i++)
		free(f->t[i].name);
	free(f->kv);
	free(f->t);
	tq_mmap_close(&f->map);
	free(f->path);
	free(f);
}

static uint64_t
pad_to(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

static tq_status
parse(tq_gguf_file *f, tq_error *err)
{
	cursor c = { f->bytes, f->bytes + f->size, f->path, err };
	uint64_t n_t, n_kv, data_start, expect = 0, au;
	const tq_gguf_kv *al;
	const char *dup;
	char **names;
	tq_status st;
	size_t i;

	if (f->size < 4 || memcmp(f->bytes, "GGUF", 4) != 0)
		return tq_fail(err, TQ_EFORMAT, "%s: not a GGUF file (no GGUF "
		    "magic)", f->path);
	c.p += 4;
	if ((st = rd_u32(&c, &f->version, "the version")) != TQ_OK)
		return st;
	if ((f->version & 0xffff) == 0)
		return tq_fail(err, TQ_EFORMAT, "%s: version %#x: a big-endian "
		    "file, which we do not read", f->path, f->version);
	if (f->version != 2 && f->version != 3)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: GGUF version %u (2 and "
		    "3 are read)", f->path, f->version);
	if ((st = rd_u64(&c, &n_t, "the tensor count")) != TQ_OK ||
	    (st = rd_u64(&c, &n_kv, "the key-value count")) != TQ_OK)
		return st;
	/* A key-value takes at least 12 bytes, a tensor info at least 29. */
	if (n_kv > left(&c) / 12 || n_t > left(&c) / 29)
		return tq_fail(err, TQ_EFORMAT, "%s: %llu tensors and %llu "
		    "key-values cannot fit in %zu bytes", f->path,
		    (unsigned long long)n_t, (unsigned long long)n_kv, f->size);
	f->kv = calloc((size_t)n_kv + 1, sizeof(*f->kv));
	f->t = calloc((size_t)n_t + 1, sizeof(*f->t));
	if (f->kv == NULL || f->t == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", f->path);
	for (i = 0; i < n_kv; i++) {
		st = parse_kv(&c, f, i);
		f->n_kv = i + 1;
		if (st != TQ_OK)
			return st;
	}
	for (i = 0; i < n_t; i++) {
		st = parse_tensor(&c, f, i);
		f->n_t = i + 1;
		if (st != TQ_OK)
			return st;
	}
	/* Unique keys and names. */
	names = malloc(((size_t)(n_kv > n_t ? n_kv : n_t) + 1) * sizeof(*names));
	if (names == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", f->path);
	for (i = 0; i < f->n_kv; i++)
		names[i] = f->kv[i].key;
	if (find_dup(names, f->n_kv, &dup)) {
		st = tq_fail(err, TQ_EFORMAT, "%s: key %s appears twice",
		    f->path, dup);
		free(names);
		return st;
	}
	for (i = 0; i < f->n_t; i++)
		names[i] = f->t[i].name;
	if (find_dup(names, f->n_t, &dup)) {
		st = tq_fail(err, TQ_EFORMAT, "%s: tensor %s appears twice",
		    f->path, dup);
		free(names);
		return st;
	}
	free(names);
	f->alignment = 32;
	if ((al = tq_gguf_find(f, "general.alignment")) != NULL) {
		au = al->type == TQ_GGUF_U32 ? rd_le(al->val, 4) : 0;
		if (au == 0 || (au & (au - 1)) != 0)
			return tq_fail(err, TQ_EFORMAT, "%s: general.alignment "
			    "must be a uint32 power of two", f->path);
		f->alignment = (uint32_t)au;
	}
	data_start = pad_to((uint64_t)(c.p - f->bytes), f->alignment);
	for (i = 0; i < f->n_t; i++) {
		tq_gguf_tensor *t = &f->t[i];

		if (t->offset != expect)
			return tq_fail(err, TQ_EFORMAT, "%s: tensor %s has offset "
			    "%llu, expected %llu", f->path, t->name,
			    (unsigned long long)t->offset,
			    (unsigned long long)expect);
		if (data_start > f->size || t->nbytes > f->size - data_start ||
		    t->offset > f->size - data_start - t->nbytes)
			return tq_fail(err, TQ_EFORMAT, "%s: tensor %s (%llu bytes "
			    "at %llu) runs past the end of the file (%zu bytes)",
			    f->path, t->name, (unsigned long long)t->nbytes,
			    (unsigned long long)(data_start + t->offset), f->size);
		t->data = f->bytes + data_start + t->offset;
		expect = pad_to(t->offset + t->nbytes, f->alignment);
	}
	return TQ_OK;
}

tq_status
tq_gguf_parse(const uint8_t *bytes, size_t size, const char *name,
    tq_gguf_file **out, tq_error *err)
{
	tq_gguf_file *f = calloc(1, sizeof(*f));
	tq_status st;

	*out = NULL;
	if (f == NULL || (f->path = strdup(name)) == NULL) {
		free(f);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", name);
	}
	f->bytes = bytes;
	f->size = size;
	if ((st = parse(f, err)) != TQ_OK) {
		tq_gguf_close(f);
		return st;
	}
	*out = f;
	return TQ_OK;
}

tq_status
tq_gguf_open(const char *path, tq_gguf_file **out, tq_error *err)
{
	tq_mmap map;
	tq_status st;

	*out = NULL;
	if ((st = tq_mmap_open(path, &map, err)) != TQ_OK)
		return st;
	if ((st = tq_gguf_parse(map.data, map.size, path, out, err)) != TQ_OK) {
		tq_mmap_close(&map);
		return st;
	}
	(*out)->map = map;
	return TQ_OK;
}

const tq_gguf_kv *
tq_gguf_find(const tq_gguf_file *f, const char *key)
{
	size_t i;

	for (i = 0; i < f->n_kv; i++)
		if (strcmp(f->kv[i].key, key) == 0)
			return &f->kv[i];
	return NULL;
}

const tq_gguf_tensor *
tq_gguf_find_tensor(const tq_gguf_file *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n_t; i++)
		if (strcmp(f->t[i].name, name) == 0)
			return &f->t[i];
	return NULL;
}

/* A numeric value of type t at p, as a double; *is_int for integers. */
static double
num_at(int t, const uint8_t *p, int *is_int)
{
	uint64_t u;
	float fl;
	double db;

	*is_int = 1;
	switch (t) {
	case TQ_GGUF_U8:	return p[0];
	case TQ_GGUF_I8:	return (int8_t)p[0];
	case TQ_GGUF_U16:	return (double)rd_le(p, 2);
	case TQ_GGUF_I16:	return (int16_t)rd_le(p, 2);
	case TQ_GGUF_U32:	return (double)rd_le(p, 4);
	case TQ_GGUF_I32:	return (int32_t)rd_le(p, 4);
	case TQ_GGUF_U64:	return (double)rd_le(p, 8);
	case TQ_GGUF_I64:	return (double)(int64_t)rd_le(p, 8);
	case TQ_GGUF_BOOL:	return p[0];
	case TQ_GGUF_F32:
		u = rd_le(p, 4);
		memcpy(&fl, &(uint32_t){ (uint32_t)u }, 4);
		*is_int = 0;
		return fl;
	case TQ_GGUF_F64:
		u = rd_le(p, 8);
		memcpy(&db, &u, 8);
		*is_int = 0;
		return db;
	default:
		*is_int = 0;
		return 0.0;
	}
}

int
tq_gguf_get_uint(const tq_gguf_file *f, const char *key, uint64_t *out)
{
	const tq_gguf_kv *kv = tq_gguf_find(f, key);
	int is_int;
	double v;

	if (kv == NULL || kv->type == TQ_GGUF_BOOL || kv->type ==
	    TQ_GGUF_STRING || kv->type == TQ_GGUF_ARRAY)
		return 0;
	if (kv->type == TQ_GGUF_U64) {
		*out = rd_le(kv->val, 8);
		return 1;
	}
	v = num_at(kv->type, kv->val, &is_int);
	if (!is_int || v < 0)
		return 0;
	*out = (uint64_t)v;
	return 1;
}

int
tq_gguf_get_float(const tq_gguf_file *f, const char *key, double *out)
{
	const tq_gguf_kv *kv = tq_gguf_find(f, key);
	int is_int;

	if (kv == NULL || (kv->type != TQ_GGUF_F32 && kv->type != TQ_GGUF_F64))
		return 0;
	*out = num_at(kv->type, kv->val, &is_int);
	return 1;
}

int
tq_gguf_get_bool(const tq_gguf_file *f, const char *key, int *out)
{
	const tq_gguf_kv *kv = tq_gguf_find(f, key);

	if (kv == NULL || kv->type != TQ_GGUF_BOOL)
		return 0;
	*out = kv->val[0] != 0;
	return 1;
}

int
tq_gguf_get_str(const tq_gguf_file *f, const char *key, const char **s,
    size_t *len)
{
	const tq_gguf_kv *kv = tq_gguf_find(f, key);

	if (kv == NULL || kv->type != TQ_GGUF_STRING)
		return 0;
	*len = (size_t)rd_le(kv->val, 8);
	*s = (const char *)kv->val + 8;
	return 1;
}

void
tq_gguf_arr_str(const tq_gguf_kv *kv, uint64_t i, const char **s, size_t *len)
{
	const uint8_t *p = kv->val + kv->str_off[i];

	*len = (size_t)rd_le(p, 8);
	*s = (const char *)p + 8;
}

size_t
tq_gguf_kv_nbytes(const tq_gguf_kv *kv)
{
	const uint8_t *last;

	if (kv->type == TQ_GGUF_STRING)
		return 8 + (size_t)rd_le(kv->val, 8);
	if (kv->type != TQ_GGUF_ARRAY)
		return scalar_size(kv->type);
	if (kv->arr_type != TQ_GGUF_STRING)
		return (size_t)kv->n * scalar_size(kv->arr_type);
	if (kv->n == 0)
		return 0;
	last = kv->val + kv->str_off[kv->n - 1];
	return (size_t)(last - kv->val) + 8 + (size_t)rd_le(last, 8);
}

double
tq_gguf_arr_num(const tq_gguf_kv *kv, uint64_t i)
{
	int is_int;

	if (kv->arr_type == TQ_GGUF_STRING)
		return 0.0;
	return num_at(kv->arr_type, kv->val + i * scalar_size(kv->arr_type),
	    &is_int);
}

/* The engine's scheme for a ggml block type (its own dequantization). */
static int
scheme_of(int type, tq_scheme *s)
{
	static const struct { int ggml; tq_qtype q; } map[] = {
		{ TQ_GGML_Q4_0, TQ_QT_Q4_0 }, { TQ_GGML_Q4_1, TQ_QT_Q4_1 },
		{ TQ_GGML_Q5_0, TQ_QT_Q5_0 }, { TQ_GGML_Q5_1, TQ_QT_Q5_1 },
		{ TQ_GGML_Q8_0, TQ_QT_Q8_0 }, { TQ_GGML_Q2_K, TQ_QT_Q2_K },
		{ TQ_GGML_Q3_K, TQ_QT_Q3_K }, { TQ_GGML_Q4_K, TQ_QT_Q4_K },
		{ TQ_GGML_Q5_K, TQ_QT_Q5_K }, { TQ_GGML_Q6_K, TQ_QT_Q6_K },
		{ TQ_GGML_IQ4_NL, TQ_QT_IQ4_NL },
		{ TQ_GGML_IQ4_XS, TQ_QT_IQ4_XS },
		{ TQ_GGML_MXFP4, TQ_QT_MXFP4 }, { TQ_GGML_NVFP4, TQ_QT_NVFP4 },
		{ TQ_GGML_IQ3_XXS, TQ_QT_IQ3_XXS }, { TQ_GGML_IQ3_S, TQ_QT_IQ3_S },
		{ TQ_GGML_IQ2_XXS, TQ_QT_IQ2_XXS },
		{ TQ_GGML_IQ2_XS, TQ_QT_IQ2_XS }, { TQ_GGML_IQ2_S, TQ_QT_IQ2_S },
		{ TQ_GGML_IQ1_S, TQ_QT_IQ1_S }, { TQ_GGML_IQ1_M, TQ_QT_IQ1_M },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].ggml == type) {
			memset(s, 0, sizeof(*s));
			s->type = map[i].q;
			return 1;
		}
	return 0;
}

tq_status
tq_gguf_dequant(int type, const uint8_t *src, int64_t ne0, int64_t rows,
    float *dst, tq_error *err)
{
	uint8_t codes[TQ_QK_MAX];
	int64_t i, n = ne0 * rows, qk, span, b, j, k;
	size_t bb;
	tq_qparams p;
	tq_scheme s;
	tq_grid g;

	if (type == TQ_GGML_F32) {
		for (i = 0; i < n; i++) {
			uint32_t u = (uint32_t)rd_le(src + 4 * i, 4);

			memcpy(&dst[i], &u, 4);
		}
		return TQ_OK;
	}
	if (type == TQ_GGML_F16 || type == TQ_GGML_BF16) {
		for (i = 0; i < n; i++) {
			uint16_t h = (uint16_t)rd_le(src + 2 * i, 2);

			dst[i] = type == TQ_GGML_F16 ? tq_f16_to_f32(h) :
			    tq_bf16_to_f32(h);
		}
		return TQ_OK;
	}
	if (!scheme_of(type, &s))
		return tq_fail(err, TQ_EUNSUPPORTED, "ggml type %d cannot be "
		    "dequantized", type);
	qk = tq_quant_qk(&s, ne0);
	span = tq_quant_span(&s, qk);
	bb = tq_quant_block_bytes(&s);
	for (b = 0; b < n / qk; b++) {
		tq_quant_unpack_block(&s, src + (size_t)b * bb, &p, codes);
		for (j = 0; j < qk; j += span) {
			tq_quant_grid(&s, &p, j, &g);
			for (k = j; k < j + span; k++)
				dst[b * qk + k] = tq_grid_value(&g,
				    codes[k] + g.qmin);
		}
	}
	return TQ_OK;
}
