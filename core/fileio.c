/*
 * fileio.c: whole-file reads, JSON files, memory maps and atomic writes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"

/* ---- cJSON's allocator: failures counted per thread ------------------- */

static _Thread_local unsigned long json_failures;
static atomic_long json_fail_countdown;	/* tests: fail the nth */
static atomic_ulong json_allocs;

static void *
json_malloc(size_t n)
{
	void *p = NULL;

	atomic_fetch_add(&json_allocs, 1);
	if (atomic_load(&json_fail_countdown) <= 0 ||
	    atomic_fetch_sub(&json_fail_countdown, 1) != 1)
		p = malloc(n);
	if (p == NULL)
		json_failures++;
	return p;
}

/*
 * Installed before main, so before any thread: cJSON's hooks are global
 * and not safe to change while another thread uses cJSON.
 */
static void json_hooks(void) __attribute__((constructor));

static void
json_hooks(void)
{
	cJSON_Hooks h = { json_malloc, free };

	cJSON_InitHooks(&h);
}

unsigned long
tq_json_begin(void)
{
	return json_failures;
}

tq_status
tq_json_end(unsigned long mark, const char *what, tq_error *err)
{
	if (json_failures != mark)
		return tq_fail(err, TQ_ENOMEM, "out of memory writing %s", what);
	return TQ_OK;
}

int
tq_json_add(cJSON *obj, const char *key, cJSON *item)
{
	if (obj != NULL && cJSON_AddItemToObject(obj, key, item))
		return 1;
	cJSON_Delete(item);
	return 0;
}

cJSON *
tq_json_doc(const char *format, int version, const char *model,
    int64_t n_layers)
{
	cJSON *root = cJSON_CreateObject();

	if (root == NULL)
		return NULL;
	cJSON_AddStringToObject(root, "format", format);
	cJSON_AddNumberToObject(root, "version", version);
	cJSON_AddStringToObject(root, "model", model);
	cJSON_AddNumberToObject(root, "n_layers", (double)n_layers);
	return root;
}

int
tq_json_push(cJSON *arr, cJSON *item)
{
	if (arr != NULL && cJSON_AddItemToArray(arr, item))
		return 1;
	cJSON_Delete(item);
	return 0;
}

void
tq_json__fail_alloc(long n)
{
	atomic_store(&json_fail_countdown, n);
}

unsigned long
tq_json__allocs(void)
{
	return atomic_load(&json_allocs);
}

/* *fd open for reading on path, a regular file (its stat in st). */
static tq_status
open_regular(const char *path, int *fd, struct stat *st, tq_error *err)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return tq_fail(err, TQ_EIO, "%s: %s", path, strerror(errno));
	if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(*fd);
		return tq_fail(err, TQ_EIO, "%s: not a regular file", path);
	}
	return TQ_OK;
}

tq_status
tq_read_file(const char *path, size_t max_bytes, char **buf, size_t *len,
    tq_error *err)
{
	struct stat st;
	char *p;
	size_t got = 0;
	tq_status rc;
	int fd;

	*buf = NULL;
	*len = 0;
	rc = open_regular(path, &fd, &st, err);
	if (rc != TQ_OK)
		return rc;
	if ((uint64_t)st.st_size > max_bytes) {
		close(fd);
		return tq_fail(err, TQ_EFORMAT,
		    "%s: file is too large (%lld bytes, limit %zu)", path,
		    (long long)st.st_size, max_bytes);
	}
	p = malloc((size_t)st.st_size + 1);
	if (p == NULL) {
		close(fd);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = errno;
			free(p);
			close(fd);
			return tq_fail(err, TQ_EIO, "%s: read failed: %s", path,
			    r == 0 ? "unexpected end of file" : strerror(e));
		}
		got += (size_t)r;
	}
	close(fd);
	p[got] = '\0';
	*buf = p;
	*len = got;
	return TQ_OK;
}

tq_status
tq_json_load(const char *path, size_t max_bytes, cJSON **out, tq_error *err)
{
	unsigned long mark = tq_json_begin();
	const char *end = NULL;
	char *text;
	size_t len;
	tq_status st;

	*out = NULL;
	st = tq_read_file(path, max_bytes, &text, &len, err);
	if (st != TQ_OK)
		return st;
	*out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (*out == NULL && tq_json_begin() != mark) {
		free(text);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory reading it",
		    path);
	}
	if (*out == NULL) {
		size_t off = end != NULL && end >= text ? (size_t)(end - text) : 0;
		free(text);
		return tq_fail(err, TQ_EFORMAT,
		    "%s: invalid JSON near byte %zu", path, off);
	}
	/* One value and nothing after it but white space, as RFC 8259 says. */
	while (end < text + len && (*end == ' ' || *end == '\t' ||
	    *end == '\n' || *end == '\r'))
		end++;
	if (end < text + len) {
		size_t off = (size_t)(end - text);

		cJSON_Delete(*out);
		*out = NULL;
		free(text);
		return tq_fail(err, TQ_EFORMAT,
		    "%s: trailing data after the JSON value at byte %zu", path,
		    off);
	}
	free(text);
	return TQ_OK;
}

tq_status
tq_mmap_open(const char *path, tq_mmap *out, tq_error *err)
{
	struct stat st;
	void *p;
	tq_status rc;
	int fd;

	out->data = NULL;
	out->size = 0;
	rc = open_regular(path, &fd, &st, err);
	if (rc != TQ_OK)
		return rc;
	if (st.st_size == 0) {
		close(fd);
		return tq_fail(err, TQ_EFORMAT, "%s: file is empty", path);
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return tq_fail(err, TQ_EIO, "%s: mmap failed: %s", path,
		    strerror(errno));
	out->data = p;
	out->size = (size_t)st.st_size;
	return TQ_OK;
}

void
tq_mmap_close(tq_mmap *m)
{
	if (m == NULL || m->data == NULL)
		return;
	munmap((void *)m->data, m->size);
	m->data = NULL;
	m->size = 0;
}

char *
tq_path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);

	if (p == NULL)
		return NULL;
	memcpy(p, dir, a);
	if (a > 0 && dir[a - 1] != '/')
		p[a++] = '/';
	memcpy(p + a, name, b + 1);
	return p;
}

int
tq_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

tq_status
tq_read_text(const char *path, char **text, size_t *len, tq_error *err)
{
	tq_status st;

	if (tq_is_dir(path))
		return tq_fail(err, TQ_EINVAL, "%s: is a directory, not a text "
		    "file", path);
	st = tq_read_file(path, (size_t)1 << 30, text, len, err);
	if (st != TQ_OK)
		return st;
	if (*len == 0) {
		free(*text);
		*text = NULL;
		return tq_fail(err, TQ_EINVAL, "%s: empty text file", path);
	}
	return TQ_OK;
}

tq_status
tq_atomic_open(tq_atomic *a, const char *path, tq_error *err)
{
	size_t n = strlen(path) + 32;

	memset(a, 0, sizeof(*a));
	a->path = strdup(path);
	a->tmp = malloc(n);
	if (a->path == NULL || a->tmp == NULL) {
		tq_atomic_abort(a);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	}
	snprintf(a->tmp, n, "%s.tmp-%ld", path, (long)getpid());
	a->f = fopen(a->tmp, "wb");
	if (a->f == NULL) {
		int e = errno;

		tq_atomic_abort(a);
		return tq_fail(err, TQ_EIO, "%s: cannot create: %s", path,
		    strerror(e));
	}
	return TQ_OK;
}

tq_status
tq_atomic_commit(tq_atomic *a, tq_error *err)
{
	int bad = 0, e = 0;

	if (fflush(a->f) != 0 || ferror(a->f) || fsync(fileno(a->f)) != 0) {
		bad = 1;
		e = errno;
	}
	if (fclose(a->f) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	a->f = NULL;
	if (!bad && rename(a->tmp, a->path) != 0) {
		bad = 1;
		e = errno;
	}
	if (bad) {
		tq_status st = tq_fail(err, TQ_EIO, "%s: write failed: %s",
		    a->path, strerror(e));

		tq_atomic_abort(a);
		return st;
	}
	free(a->path);
	free(a->tmp);
	a->path = a->tmp = NULL;
	return TQ_OK;
}

void
tq_atomic_abort(tq_atomic *a)
{
	if (a->f != NULL)
		fclose(a->f);
	if (a->tmp != NULL)
		unlink(a->tmp);
	free(a->path);
	free(a->tmp);
	memset(a, 0, sizeof(*a));
}

cJSON *
tq_json_num(double v)
{
	char buf[32];

	if (!isfinite(v))
		return cJSON_CreateNull();
	snprintf(buf, sizeof(buf), "%.17g", v);
	return cJSON_CreateRaw(buf);
}

tq_status
tq_json_save(const cJSON *doc, unsigned long mark, const char *path,
    tq_error *err)
{
	char *text = cJSON_Print(doc);
	tq_atomic a;
	tq_status st;

	if ((st = tq_json_end(mark, path, err)) != TQ_OK) {
		free(text);
		return st;
	}
	if (text == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
	if ((st = tq_atomic_open(&a, path, err)) == TQ_OK) {
		fputs(text, a.f);
		fputc('\n', a.f);
		st = tq_atomic_commit(&a, err);
	}
	free(text);
	return st;
}

tq_status
tq_copy_file(const char *src, const char *dst, size_t max_bytes,
    tq_error *err)
{
	char *buf;
	size_t len;
	tq_atomic a;
	tq_status st;

	if ((st = tq_read_file(src, max_bytes, &buf, &len, err)) != TQ_OK)
		return st;
	if ((st = tq_atomic_open(&a, dst, err)) == TQ_OK) {
		fwrite(buf, 1, len, a.f);
		st = tq_atomic_commit(&a, err);
	}
	free(buf);
	return st;
}
