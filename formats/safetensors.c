/*
 * safetensors.c: reading .safetensors files.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON header, then
 * the data buffer.  Every rule of the reference reader is enforced, because
 * the files come from strangers and a lying header must never lead to a
 * read outside the map.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "error.h"
#include "fileio.h"
#include "safetensors.h"
#include "unicode.h"

/* Every dtype string the format defines, with its width in bits. */
static const struct {
	const char *name;
	int bits;
	int ours;		/* tq_dtype, or -1 if TurboQuant does not read it */
} st_dtypes[] = {
	{ "F32", 32, TQ_DTYPE_F32 }, { "F16", 16, TQ_DTYPE_F16 },
	{ "BF16", 16, TQ_DTYPE_BF16 },
	{ "F64", 64, TQ_DTYPE_F64 }, { "U8", 8, TQ_DTYPE_U8 },
	{ "I32", 32, TQ_DTYPE_I32 }, { "I64", 64, TQ_DTYPE_I64 },
	{ "BOOL", 8, -1 }, { "I8", 8, TQ_DTYPE_I8 },
	{ "I16", 16, -1 }, { "U16", 16, -1 },
	{ "U32", 32, TQ_DTYPE_U32 }, { "U64", 64, -1 },
	{ "C64", 64, -1 }, { "F4", 4, -1 },
	{ "F6_E2M3", 6, -1 }, { "F6_E3M2", 6, -1 }, { "F8_E5M2", 8, -1 },
	{ "F8_E4M3", 8, TQ_DTYPE_F8_E4M3 }, { "F8_E8M0", 8, -1 },
	{ "F8_E4M3FNUZ", 8, -1 }, { "F8_E5M2FNUZ", 8, -1 },
};

/* Largest integer a JSON double holds exactly. */
#define ST_MAX_INT 9007199254740992.0

/* A JSON number that is a non-negative integer a double holds exactly. */
static int
st_get_uint(const cJSON *j, uint64_t *out)
{
	double d;

	if (!cJSON_IsNumber(j))
		return 0;
	d = j->valuedouble;
	if (!(d >= 0.0) || d > ST_MAX_INT || floor(d) != d)
		return 0;
	*out = (uint64_t)d;
	return 1;
}

static int
st_cmp_offset(const void *a, const void *b)
{
	const tq_tensor *x = a, *y = b;
	const uint8_t *p = x->data, *q = y->data;

	/* Zero-size tensors sort before a tensor starting at the same byte. */
	if (p != q)
		return p < q ? -1 : 1;
	return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static int
st_cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rejects a name listed twice (the reference would silently keep one). */
static tq_status
st_check_unique(const char *path, const tq_tensor *ts, size_t n,
    tq_error *err)
{
	const char **names;
	tq_status st = TQ_OK;
	size_t i;

	if (n < 2)
		return TQ_OK;
	names = malloc(n * sizeof(*names));
	if (names == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	for (i = 0; i < n; i++)
		names[i] = ts[i].name;
	qsort(names, n, sizeof(*names), st_cmp_name);
	for (i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0) {
			st = tq_fail(err, TQ_EFORMAT,
			    "%s: tensor \"%s\" is listed twice", path, names[i]);
			break;
		}
	free(names);
	return st;
}

void
tq_st_free_tensors(tq_tensor *tensors, size_t n)
{
	size_t i;

	if (tensors == NULL)
		return;
	for (i = 0; i < n; i++)
		free(tensors[i].name);
	free(tensors);
}

/*
 * cJSON reads 256.0, 2.56e2 and 0256 as the integer 256; the reference
 * reader (serde) refuses them, and so do we.  The header's only numbers
 * are shapes and offsets, so every number token outside a string must be
 * plain decimal digits without a leading zero.
 */
static tq_status
st_check_numbers(const char *path, const char *h, size_t len, tq_error *err)
{
	size_t i = 0, j;
	int in_str = 0;

	while (i < len) {
		if (in_str) {
			if (h[i] == '\\')
				i++;
			else if (h[i] == '"')
				in_str = 0;
			i++;
			continue;
		}
		if (h[i] == '"') {
			in_str = 1;
			i++;
			continue;
		}
		if (h[i] != '-' && !(h[i] >= '0' && h[i] <= '9')) {
			i++;
			continue;
		}
		for (j = i; j < len && strchr("0123456789+-.eE", h[j]) != NULL; j++)
			if (!(h[j] >= '0' && h[j] <= '9'))
				break;
		if ((j < len && strchr("+-.eE", h[j]) != NULL) ||
		    (h[i] == '0' && j - i > 1)) {
			while (j < len && strchr("0123456789+-.eE", h[j]) != NULL)
				j++;
			return tq_fail(err, TQ_EFORMAT, "%s: header number \"%.*s\" "
			    "at byte %zu is not a plain non-negative integer", path,
			    (int)(j - i < 32 ? j - i : 32), h + i, 8 + i);
		}
		i = j;
	}
	return TQ_OK;
}

/* Fills t from one header entry; begin/end are offsets into the buffer. */
static tq_status
st_entry(const char *path, const cJSON *e, tq_tensor *t, uint64_t *begin,
    uint64_t *end, tq_error *err)
{
	const cJSON *dt, *shape, *offs, *d;
	uint64_t numel = 1, bits = 0, dim;
	size_t k;
	int i, ndim;

	if (!cJSON_IsObject(e))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: header entry \"%s\" is not an object", path, t->name);
	dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
	shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
	offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
	if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: tensor \"%s\" needs string dtype, array shape and "
		    "array data_offsets", path, t->name);
	for (k = 0; k < sizeof(st_dtypes) / sizeof(st_dtypes[0]); k++)
		if (strcmp(dt->valuestring, st_dtypes[k].name) == 0)
			break;
	if (k == sizeof(st_dtypes) / sizeof(st_dtypes[0]))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: tensor \"%s\" has unknown dtype \"%.32s\"", path,
		    t->name, dt->valuestring);
	ndim = cJSON_GetArraySize(shape);
	if (ndim > TQ_MAX_DIMS)
		return tq_fail(err, TQ_EUNSUPPORTED,
		    "%s: tensor \"%s\" has %d dimensions (at most %d supported)",
		    path, t->name, ndim, TQ_MAX_DIMS);
	i = 0;
	cJSON_ArrayForEach(d, shape) {
		if (!st_get_uint(d, &dim))
			return tq_fail(err, TQ_EFORMAT,
			    "%s: tensor \"%s\" has a shape entry that is not a "
			    "non-negative integer", path, t->name);
		if (dim != 0 && numel > UINT64_MAX / 64 / dim)
			return tq_fail(err, TQ_EFORMAT,
			    "%s: tensor \"%s\" shape overflows", path, t->name);
		numel *= dim;
		t->shape[i++] = (int64_t)dim;
	}
	t->ndim = ndim;
	if (cJSON_GetArraySize(offs) != 2 ||
	    !st_get_uint(cJSON_GetArrayItem(offs, 0), begin) ||
	    !st_get_uint(cJSON_GetArrayItem(offs, 1), end))
		return tq_fail(err, TQ_EFORMAT,
		    "%s: tensor \"%s\" data_offsets must be two non-negative "
		    "integers", path, t->name);
	if (*end < *begin)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: tensor \"%s\" ends before it begins", path, t->name);
	bits = numel * (uint64_t)st_dtypes[k].bits;
	if (bits % 8 != 0)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: tensor \"%s\" is not a whole number of bytes", path,
		    t->name);
	if (*end - *begin != bits / 8)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: tensor \"%s\" (%s, %llu elements) needs %llu bytes but "
		    "its offsets span %llu", path, t->name, st_dtypes[k].name,
		    (unsigned long long)numel, (unsigned long long)(bits / 8),
		    (unsigned long long)(*end - *begin));
	if (st_dtypes[k].ours < 0)
		return tq_fail(err, TQ_EUNSUPPORTED,
		    "%s: tensor \"%s\" has dtype %s, which TurboQuant does not "
		    "read", path, t->name, st_dtypes[k].name);
	t->dtype = (tq_dtype)st_dtypes[k].ours;
	t->nbytes = *end - *begin;
	return TQ_OK;
}

tq_status
tq_st_parse(const char *path, const uint8_t *data, size_t size,
    tq_tensor **tensors, size_t *n, tq_error *err)
{
	const cJSON *e;
	const char *rest = NULL;
	cJSON *root;
	tq_tensor *ts = NULL;
	uint64_t hlen = 0, expect = 0;
	size_t i, count = 0, nent;
	tq_status st = TQ_OK;
	const uint8_t *buf;

	*tensors = NULL;
	*n = 0;
	if (size < 8)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: file too small for a safetensors header (%zu bytes)",
		    path, size);
	for (i = 0; i < 8; i++)
		hlen |= (uint64_t)data[i] << (8 * i);
	if (hlen > TQ_ST_MAX_HEADER)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: header length %llu exceeds the 100 MB limit", path,
		    (unsigned long long)hlen);
	if (hlen > size - 8)
		return tq_fail(err, TQ_EFORMAT,
		    "%s: header length %llu runs past the end of the file "
		    "(%zu bytes); is the file truncated?", path,
		    (unsigned long long)hlen, size);
	if (tq_utf8_check((const char *)data + 8, (size_t)hlen) != hlen)
		return tq_fail(err, TQ_EFORMAT, "%s: header is not valid UTF-8",
		    path);
	root = cJSON_ParseWithLengthOpts((const char *)data + 8, (size_t)hlen,
	    &rest, 0);
	/* Writers pad the header with spaces; anything else after it is bad. */
	while (root != NULL && rest < (const char *)data + 8 + hlen &&
	    strchr(" \t\r\n", *rest) != NULL && *rest != '\0')
		rest++;
	if (root != NULL && rest < (const char *)data + 8 + hlen) {
		cJSON_Delete(root);
		return tq_fail(err, TQ_EFORMAT,
		    "%s: trailing data after the header's JSON object", path);
	}
	if (root == NULL || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return tq_fail(err, TQ_EFORMAT,
		    "%s: header is not a JSON object", path);
	}
	buf = data + 8 + hlen;
	nent = (size_t)cJSON_GetArraySize(root);
	ts = calloc(nent ? nent : 1, sizeof(*ts));
	if (ts == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	cJSON_ArrayForEach(e, root) {
		uint64_t begin = 0, end = 0;
		tq_tensor *t = &ts[count];

		if (e->string == NULL) {
			st = tq_fail(err, TQ_EFORMAT, "%s: header key missing",
			    path);
			goto out;
		}
		if (strcmp(e->string, "__metadata__") == 0) {
			const cJSON *m;

			if (!cJSON_IsObject(e)) {
				st = tq_fail(err, TQ_EFORMAT,
				    "%s: __metadata__ is not an object", path);
				goto out;
			}
			cJSON_ArrayForEach(m, e)
				if (!cJSON_IsString(m)) {
					st = tq_fail(err, TQ_EFORMAT,
					    "%s: __metadata__ values must be "
					    "strings", path);
					goto out;
				}
			continue;
		}
		t->name = strdup(e->string);
		if (t->name == NULL) {
			st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
			goto out;
		}
		count++;
		st = st_entry(path, e, t, &begin, &end, err);
		if (st != TQ_OK)
			goto out;
		if (end > size - 8 - hlen) {
			st = tq_fail(err, TQ_EFORMAT,
			    "%s: tensor \"%s\" data runs past the end of the "
			    "file; is the file truncated?", path, t->name);
			goto out;
		}
		t->data = buf + begin;
	}
	/* Values past the checks above: 256.0 and the like. */
	if ((st = st_check_numbers(path, (const char *)data + 8, (size_t)hlen,
	    err)) != TQ_OK)
		goto out;
	/* Sort by offset, then demand a gapless tiling of the data buffer. */
	st = st_check_unique(path, ts, count, err);
	if (st != TQ_OK)
		goto out;
	qsort(ts, count, sizeof(*ts), st_cmp_offset);
	for (i = 0; i < count; i++) {
		uint64_t begin = (uint64_t)((const uint8_t *)ts[i].data - buf);

		if (begin != expect) {
			st = tq_fail(err, TQ_EFORMAT,
			    "%s: tensor \"%s\" starts at byte %llu, expected %llu "
			    "(offsets must be contiguous, without gaps or "
			    "overlaps)", path, ts[i].name,
			    (unsigned long long)begin,
			    (unsigned long long)expect);
			goto out;
		}
		expect = begin + ts[i].nbytes;
	}
	if (8 + hlen + expect != size) {
		st = tq_fail(err, TQ_EFORMAT,
		    "%s: file is %zu bytes but its header accounts for %llu",
		    path, size, (unsigned long long)(8 + hlen + expect));
		goto out;
	}
	*tensors = ts;
	*n = count;
	ts = NULL;
out:
	tq_st_free_tensors(ts, count);
	cJSON_Delete(root);
	return st;
}

tq_status
tq_st_open(const char *path, tq_st_file **out, tq_error *err)
{
	tq_st_file *f;
	tq_status st;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL || (f->path = strdup(path)) == NULL) {
		free(f);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	}
	st = tq_mmap_open(path, &f->map, err);
	if (st == TQ_OK)
		st = tq_st_parse(path, f->map.data, f->map.size, &f->tensors,
		    &f->n_tensors, err);
	if (st != TQ_OK) {
		tq_st_close(f);
		return st;
	}
	*out = f;
	return TQ_OK;
}

void
tq_st_close(tq_st_file *f)
{
	if (f == NULL)
		return;
	tq_st_free_tensors(f->tensors, f->n_tensors);
	tq_mmap_close(&f->map);
	free(f->path);
	free(f);
}

const tq_tensor *
tq_st_find(const tq_st_file *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n_tensors; i++)
		if (strcmp(f->tensors[i].name, name) == 0)
			return &f->tensors[i];
	return NULL;
}

/* ---- Writing ---------------------------------------------------------- */

typedef struct st_wtensor {
	char *name;
	tq_dtype dtype;
	int ndim;
	int64_t shape[TQ_MAX_DIMS];
	const void *data;
	uint64_t nbytes;
} st_wtensor;

struct tq_st_writer {
	st_wtensor *t;
	size_t n, cap;
	cJSON *meta;
	unsigned long json_mark;	/* the metadata's allocations */
};

const char *
tq_st_dtype_name(tq_dtype t)
{
	return tq_dtype_name(t);	/* the names coincide */
}

tq_status
tq_st_writer_new(tq_st_writer **out, tq_error *err)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	(*out)->json_mark = tq_json_begin();
	return TQ_OK;
}

void
tq_st_writer_free(tq_st_writer *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++)
		free(w->t[i].name);
	free(w->t);
	cJSON_Delete(w->meta);
	free(w);
}

tq_status
tq_st_writer_add(tq_st_writer *w, const char *name, tq_dtype dtype, int ndim,
    const int64_t *shape, const void *data, tq_error *err)
{
	st_wtensor *t;
	uint64_t numel = 1;
	int i;

	if (ndim < 0 || ndim > TQ_MAX_DIMS)
		return tq_fail(err, TQ_EINVAL, "tensor %s: %d dimensions", name,
		    ndim);
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		st_wtensor *g = realloc(w->t, cap * sizeof(*g));

		if (g == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		w->t = g;
		w->cap = cap;
	}
	t = &w->t[w->n];
	memset(t, 0, sizeof(*t));
	if ((t->name = strdup(name)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	t->dtype = dtype;
	t->ndim = ndim;
	for (i = 0; i < ndim; i++) {
		t->shape[i] = shape[i];
		numel *= (uint64_t)shape[i];
	}
	t->data = data;
	t->nbytes = numel * tq_dtype_size(dtype);
	w->n++;
	return TQ_OK;
}

tq_status
tq_st_writer_meta(tq_st_writer *w, const char *key, const char *value,
    tq_error *err)
{
	if (w->meta == NULL && (w->meta = cJSON_CreateObject()) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	cJSON_DeleteItemFromObjectCaseSensitive(w->meta, key);
	if (cJSON_AddStringToObject(w->meta, key, value) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	return TQ_OK;
}

/* Larger elements first (keeps every tensor aligned), then by name. */
static int
st_cmp_write(const void *a, const void *b)
{
	const st_wtensor *x = a, *y = b;
	size_t sx = tq_dtype_size(x->dtype), sy = tq_dtype_size(y->dtype);

	if (sx != sy)
		return sx > sy ? -1 : 1;
	return strcmp(x->name, y->name);
}

tq_status
tq_st_writer_write(tq_st_writer *w, const char *path, tq_error *err)
{
	cJSON *hdr = cJSON_CreateObject();
	char *json = NULL;
	tq_atomic a;
	uint64_t off = 0, hlen;
	uint8_t len8[8];
	size_t i, jl;
	tq_status st;
	int d;

	if (hdr == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	if (w->n > 1)
		qsort(w->t, w->n, sizeof(*w->t), st_cmp_write);
	if (w->meta != NULL)
		/* A reference to the members: hdr's Delete leaves them. */
		tq_json_add(hdr, "__metadata__",
		    cJSON_CreateObjectReference(w->meta->child));
	for (i = 0; i < w->n; i++) {
		const st_wtensor *t = &w->t[i];
		cJSON *e = cJSON_AddObjectToObject(hdr, t->name);
		cJSON *shape = cJSON_AddArrayToObject(e, "shape");
		cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");

		cJSON_AddStringToObject(e, "dtype", tq_st_dtype_name(t->dtype));
		for (d = 0; d < t->ndim; d++)
			tq_json_push(shape,
			    cJSON_CreateNumber((double)t->shape[d]));
		tq_json_push(offs, cJSON_CreateNumber((double)off));
		tq_json_push(offs,
		    cJSON_CreateNumber((double)(off + t->nbytes)));
		off += t->nbytes;
	}
	json = cJSON_PrintUnformatted(hdr);
	cJSON_Delete(hdr);
	if ((st = tq_json_end(w->json_mark, path, err)) != TQ_OK) {
		free(json);
		return st;
	}
	if (json == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	/* Pad with spaces so the data starts 8-byte aligned. */
	jl = strlen(json);
	hlen = (jl + 7) / 8 * 8;
	for (i = 0; i < 8; i++)
		len8[i] = (uint8_t)(hlen >> (8 * i));
	if ((st = tq_atomic_open(&a, path, err)) != TQ_OK) {
		free(json);
		return st;
	}
	fwrite(len8, 1, 8, a.f);
	fwrite(json, 1, jl, a.f);
	for (i = jl; i < hlen; i++)
		fputc(' ', a.f);
	free(json);
	for (i = 0; i < w->n; i++)
		if (w->t[i].nbytes > 0)
			fwrite(w->t[i].data, 1, (size_t)w->t[i].nbytes, a.f);
	return tq_atomic_commit(&a, err);
}
