/*
 * gguf_writer.h: writing GGUF files (llama.cpp's container).
 */
#ifndef TQ_FORMATS_GGUF_WRITER_H
#define TQ_FORMATS_GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "tq.h"

/* ggml tensor types used here (ggml.h numbering). */
enum { TQ_GGML_F32 = 0, TQ_GGML_F16 = 1 };

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

/*
 * Adds a tensor: ne in ggml order (ne[0] = row length), data of nbytes,
 * borrowed until tq_gguf_write returns.  Names are at most 63 bytes.
 */
tq_status tq_gguf_add_tensor(tq_gguf_writer *w, const char *name, int type,
    int n_dims, const int64_t *ne, const void *data, uint64_t nbytes,
    tq_error *err);

/* Writes the file atomically (temporary name, then rename). */
tq_status tq_gguf_write(tq_gguf_writer *w, const char *path, tq_error *err);

#endif /* TQ_FORMATS_GGUF_WRITER_H */
