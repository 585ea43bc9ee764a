/*
 * gguf_writer.h: writing GGUF files (llama.cpp's container).
 */
#ifndef TQ_FORMATS_GGUF_WRITER_H
#define TQ_FORMATS_GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "tq.h"

/* ggml tensor types used here (ggml.h numbering). */
enum {
	TQ_GGML_F32 = 0, TQ_GGML_F16 = 1, TQ_GGML_Q4_0 = 2, TQ_GGML_Q4_1 = 3,
	TQ_GGML_Q5_0 = 6, TQ_GGML_Q5_1 = 7, TQ_GGML_Q8_0 = 8,
	TQ_GGML_Q2_K = 10, TQ_GGML_Q3_K = 11, TQ_GGML_Q4_K = 12,
	TQ_GGML_Q5_K = 13, TQ_GGML_Q6_K = 14, TQ_GGML_IQ4_NL = 20,
	TQ_GGML_IQ4_XS = 23, TQ_GGML_BF16 = 30,
	TQ_GGML_MXFP4 = 39, TQ_GGML_NVFP4 = 40,
	TQ_GGML_IQ3_XXS = 18, TQ_GGML_IQ3_S = 21,
	TQ_GGML_IQ2_XXS = 16, TQ_GGML_IQ2_XS = 17, TQ_GGML_IQ2_S = 22,
	TQ_GGML_IQ1_S = 19, TQ_GGML_IQ1_M = 29
};

/* GGUF metadata value types (gguf.h numbering). */
enum {
	TQ_GGUF_U8 = 0, TQ_GGUF_I8, TQ_GGUF_U16, TQ_GGUF_I16, TQ_GGUF_U32,
	TQ_GGUF_I32, TQ_GGUF_F32, TQ_GGUF_BOOL, TQ_GGUF_STRING, TQ_GGUF_ARRAY,
	TQ_GGUF_U64, TQ_GGUF_I64, TQ_GGUF_F64, TQ_GGUF_TYPE_COUNT
};

/* The alignment of the data section and of every tensor in it. */
#define TQ_GGUF_ALIGNMENT 32

typedef struct tq_gguf_writer tq_gguf_writer;

tq_status tq_gguf_writer_new(tq_gguf_writer **out, tq_error *err);
void tq_gguf_writer_free(tq_gguf_writer *w);

/* Key-value metadata, in the order added (keys must be unique). */
tq_status tq_gguf_kv_str(tq_gguf_writer *w, const char *key, const char *v);
tq_status tq_gguf_kv_u32(tq_gguf_writer *w, const char *key, uint32_t v);
tq_status tq_gguf_kv_str_array(tq_gguf_writer *w, const char *key,
    const char *const *v, size_t n);
tq_status tq_gguf_kv_f32(tq_gguf_writer *w, const char *key, float v);
/* A key-value of a file read by gguf_reader.h, copied as it is stored. */
struct tq_gguf_kv;
tq_status tq_gguf_kv_copy(tq_gguf_writer *w, const struct tq_gguf_kv *kv);
tq_status tq_gguf_kv_bool(tq_gguf_writer *w, const char *key, int v);
tq_status tq_gguf_kv_i32_array(tq_gguf_writer *w, const char *key,
    const int32_t *v, size_t n);
tq_status tq_gguf_kv_f32_array(tq_gguf_writer *w, const char *key,
    const float *v, size_t n);

/*
 * Adds a tensor: ne in ggml order (ne[0] = row length), data of nbytes,
 * borrowed until tq_gguf_write returns.  Names are at most 63 bytes.
 */
tq_status tq_gguf_add_tensor(tq_gguf_writer *w, const char *name, int type,
    int n_dims, const int64_t *ne, const void *data, uint64_t nbytes,
    tq_error *err);

/*
 * Produces a tensor's bytes when the file is written: fills dst[nbytes]
 * for tensor number index (in the order added); a non-OK status stops the
 * write (the callback may check for cancellation).
 */
typedef tq_status (*tq_gguf_fill_fn)(void *ud, size_t index, uint8_t *dst,
    uint64_t nbytes, tq_error *err);

/*
 * Adds a tensor whose data fill() makes at write time, one tensor in
 * memory at a time.
 */
tq_status tq_gguf_add_tensor_fill(tq_gguf_writer *w, const char *name,
    int type, int n_dims, const int64_t *ne, uint64_t nbytes,
    tq_gguf_fill_fn fill, void *ud, tq_error *err);

/* Bytes of a [ne0, rows] tensor of a ggml type (0 for an unknown type). */
uint64_t tq_ggml_nbytes(int type, int64_t ne0, int64_t rows);
/* Elements per block (1 for float types) and bytes per block. */
int tq_ggml_block(int type, size_t *bytes);
/* The ggml type name ("q4_K", "f32", ...) or "?". */
const char *tq_ggml_type_name(int type);

/* Writes the file atomically (temporary name, then rename). */
tq_status tq_gguf_write(tq_gguf_writer *w, const char *path, tq_error *err);

#endif /* TQ_FORMATS_GGUF_WRITER_H */
