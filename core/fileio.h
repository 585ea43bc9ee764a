/*
 * fileio.h: whole-file reads, JSON files, memory maps and atomic writes.
 */
#ifndef TQ_CORE_FILEIO_H
#define TQ_CORE_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cJSON.h>

#include "tq.h"

/*
 * Reads a whole file of at most max_bytes into a malloc'ed, NUL-terminated
 * buffer (*len excludes the NUL).  Errors name the path.
 */
tq_status tq_read_file(const char *path, size_t max_bytes, char **buf,
    size_t *len, tq_error *err);

/*
 * A JSON number with all 17 digits (cJSON's own printing may drop the last
 * bit, and reports must read back exactly), or null: JSON has no NaN.
 */
cJSON *tq_json_num(double v);
/*
 * Reads and parses a JSON file of at most max_bytes.  The caller frees *out
 * with cJSON_Delete.  Invalid JSON is reported with the byte offset.
 */
tq_status tq_json_load(const char *path, size_t max_bytes, cJSON **out,
    tq_error *err);

/*
 * Out of memory while a JSON document is built.  Nobody checks the ~250
 * cJSON_Add* results, so cJSON's allocator (installed at start-up) counts
 * its failures per thread instead: a writer takes a mark with
 * tq_json_begin before building, and tq_json_end fails (TQ_ENOMEM, "out
 * of memory writing WHAT") if a cJSON allocation of this thread failed
 * since, so no document with missing keys is written as a success.  Marks
 * nest: an inner document's failure fails the outer one too.
 */
unsigned long tq_json_begin(void);
tq_status tq_json_end(unsigned long mark, const char *what, tq_error *err);
/*
 * cJSON_AddItemToObject and cJSON_AddItemToArray that free item when
 * they fail (out of memory, or a parent NULL for the same reason), where
 * cJSON's own leave it to the caller.  Return 1 on success.
 */
int tq_json_add(cJSON *obj, const char *key, cJSON *item);
int tq_json_push(cJSON *arr, cJSON *item);
/*
 * A new document with the head our model-bound JSON files share:
 * {"format": FORMAT, "version": VERSION, "model": MODEL, "n_layers": N}
 * (the state and the sensitivity file); NULL when out of memory.
 */
cJSON *tq_json_doc(const char *format, int version, const char *model,
    int64_t n_layers);
/*
 * Tests only: the nth cJSON allocation from now (on any thread) fails; 0
 * turns that off.  tq_json__allocs counts allocations, failed or not.
 */
void tq_json__fail_alloc(long n);
unsigned long tq_json__allocs(void);

/* A read-only memory map of a whole file. */
typedef struct tq_mmap {
	const uint8_t *data;
	size_t size;
} tq_mmap;

tq_status tq_mmap_open(const char *path, tq_mmap *out, tq_error *err);
void tq_mmap_close(tq_mmap *m);

/*
 * Writing a file so that it is never seen half-written: the data goes to
 * "PATH.tmp-PID" and is renamed over PATH by tq_atomic_commit(), or removed
 * by tq_atomic_abort().
 */
typedef struct tq_atomic {
	FILE *f;
	char *path;
	char *tmp;
} tq_atomic;

tq_status tq_atomic_open(tq_atomic *a, const char *path, tq_error *err);
/* Flushes, syncs, closes and renames; on failure removes the temporary. */
tq_status tq_atomic_commit(tq_atomic *a, tq_error *err);
void tq_atomic_abort(tq_atomic *a);

/*
 * Writes a JSON document (indented, newline-terminated) atomically; fails
 * as tq_json_end if building it since mark ran out of memory.
 */
tq_status tq_json_save(const cJSON *doc, unsigned long mark,
    const char *path, tq_error *err);
/* Copies a file of at most max_bytes to dst atomically. */
tq_status tq_copy_file(const char *src, const char *dst, size_t max_bytes,
    tq_error *err);

/* path joined with name by '/', malloc'ed (NULL on allocation failure). */
char *tq_path_join(const char *dir, const char *name);
/* 1 if path names a directory, 0 otherwise. */
int tq_is_dir(const char *path);

#endif /* TQ_CORE_FILEIO_H */
