/*
 * gguf_reader.h: reading and validating GGUF files (untrusted input).
 */
#ifndef TQ_FORMATS_GGUF_READER_H
#define TQ_FORMATS_GGUF_READER_H

#include <stddef.h>
#include <stdint.h>

#include "fileio.h"
#include "tq.h"

/* One key-value; its value stays in the file's bytes. */
typedef struct tq_gguf_kv {
	char *key;		/* owned, NUL-terminated */
	int type;		/* TQ_GGUF_* */
	int arr_type;		/* element type of an array */
	uint64_t n;		/* array length (1 for a scalar) */
	const uint8_t *val;	/* the value (an array: its first element) */
	uint64_t *str_off;	/* string arrays: [n] offsets into val (owned) */
} tq_gguf_kv;

/* One tensor info; data points into the file. */
typedef struct tq_gguf_tensor {
	char *name;		/* owned */
	int type;		/* ggml type */
	int n_dims;
	int64_t ne[4];
	uint64_t offset;	/* from the data section */
	uint64_t nbytes;
	const uint8_t *data;
} tq_gguf_tensor;

typedef struct tq_gguf_file {
	char *path;
	tq_mmap map;		/* empty when parsed from memory */
	const uint8_t *bytes;
	size_t size;
	uint32_t version;
	uint32_t alignment;
	tq_gguf_kv *kv;
	size_t n_kv;
	tq_gguf_tensor *t;
	size_t n_t;
} tq_gguf_file;

/*
 * Opens (memory-maps) and validates a GGUF file: magic, version 2 or 3,
 * counts that fit the file, every string and array inside it, unique
 * keys and names, known value and tensor types, shapes whose rows fill
 * whole blocks, offsets as current ggml demands (each tensor at the
 * aligned end of the one before) and data inside the file.  Errors are
 * one line naming the file and the problem.
 */
tq_status tq_gguf_open(const char *path, tq_gguf_file **out, tq_error *err);
/* The same on bytes in memory (borrowed until close); name for messages. */
tq_status tq_gguf_parse(const uint8_t *bytes, size_t size, const char *name,
    tq_gguf_file **out, tq_error *err);
void tq_gguf_close(tq_gguf_file *f);

const tq_gguf_kv *tq_gguf_find(const tq_gguf_file *f, const char *key);
const tq_gguf_tensor *tq_gguf_find_tensor(const tq_gguf_file *f,
    const char *name);
/*
 * Typed getters: 1 and *out set when key exists and has the type (an
 * integer getter accepts any integer type whose value fits), else 0.
 */
int tq_gguf_get_uint(const tq_gguf_file *f, const char *key, uint64_t *out);
int tq_gguf_get_float(const tq_gguf_file *f, const char *key, double *out);
int tq_gguf_get_bool(const tq_gguf_file *f, const char *key, int *out);
/* A string value (not NUL-terminated). */
int tq_gguf_get_str(const tq_gguf_file *f, const char *key, const char **s,
    size_t *len);
/* Element i of a string array. */
void tq_gguf_arr_str(const tq_gguf_kv *kv, uint64_t i, const char **s,
    size_t *len);
/* Element i of a numeric array, as a double (0 for other types). */
double tq_gguf_arr_num(const tq_gguf_kv *kv, uint64_t i);
/* Bytes of kv's value as stored (an array's elements, after type and n). */
size_t tq_gguf_kv_nbytes(const tq_gguf_kv *kv);

/* Dequantizes row-major [rows, ne0] data of a ggml type into dst. */
tq_status tq_gguf_dequant(int type, const uint8_t *src, int64_t ne0,
    int64_t rows, float *dst, tq_error *err);

/* gguf_model.c: 1 when path is a GGUF file (by name or magic). */
int tq_gguf_is_file(const char *path);
/* Opens a llama/qwen2 .gguf as a model (tq_model_open calls it). */
tq_status tq_gguf_model_open(const char *path, tq_model **out,
    tq_error *err);

#endif /* TQ_FORMATS_GGUF_READER_H */
