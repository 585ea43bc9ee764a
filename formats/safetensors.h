/*
 * safetensors.h: reading .safetensors files, validated as the reference
 * reader validates them.
 */
#ifndef TQ_FORMATS_SAFETENSORS_H
#define TQ_FORMATS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "tensor.h"
#include "tq.h"

/* The header length limit of the reference reader (MAX_HEADER_SIZE). */
#define TQ_ST_MAX_HEADER 100000000ull

/* One opened .safetensors file: the map and the tensors it holds. */
typedef struct tq_st_file {
	char *path;		/* owned */
	tq_mmap map;
	tq_tensor *tensors;	/* [n_tensors], sorted by data offset */
	size_t n_tensors;
} tq_st_file;

/*
 * Parses and validates a safetensors image of `size` bytes (a memory map or
 * any buffer that outlives the result).  `path` only names the file in
 * messages.  On success *tensors ([*n], sorted by offset) point into data
 * and are freed with tq_st_free_tensors().  Rules: 8-byte length N <= 100 MB,
 * header inside the file, valid UTF-8 JSON object, known dtypes, integer
 * shapes and offsets, byte length = numel * dtype size, tensors contiguous
 * from offset 0, and the file ends exactly at the last tensor.
 */
tq_status tq_st_parse(const char *path, const uint8_t *data, size_t size,
    tq_tensor **tensors, size_t *n, tq_error *err);
void tq_st_free_tensors(tq_tensor *tensors, size_t n);

/* Maps and parses a file; close with tq_st_close(). */
tq_status tq_st_open(const char *path, tq_st_file **out, tq_error *err);
void tq_st_close(tq_st_file *f);

/* The tensor of a name in f, or NULL. */
const tq_tensor *tq_st_find(const tq_st_file *f, const char *name);

/*
 * Writing: tensors are collected, then written in one go as the reference
 * writer lays them out (sorted by alignment, then name; header padded to a
 * multiple of 8 bytes), to a temporary name renamed into place.
 */
typedef struct tq_st_writer tq_st_writer;

tq_status tq_st_writer_new(tq_st_writer **out, tq_error *err);
void tq_st_writer_free(tq_st_writer *w);
/* Adds a tensor; data [prod(shape)] is borrowed until the write returns. */
tq_status tq_st_writer_add(tq_st_writer *w, const char *name, tq_dtype dtype,
    int ndim, const int64_t *shape, const void *data, tq_error *err);
/* Adds a __metadata__ entry (strings only, as the format demands). */
tq_status tq_st_writer_meta(tq_st_writer *w, const char *key,
    const char *value, tq_error *err);
tq_status tq_st_writer_write(tq_st_writer *w, const char *path,
    tq_error *err);

/* The dtype string of the format ("F32", "U8", ...). */
const char *tq_st_dtype_name(tq_dtype t);

#endif /* TQ_FORMATS_SAFETENSORS_H */
