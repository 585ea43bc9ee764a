/*
 * tokenizer_json.h: the tokenizer.json reader's entry points beyond tq.h's
 * tq_tokenizer_load, for formats/ (a GGUF file's rebuilt tokenizer),
 * tests and fuzzers.
 */
#ifndef TQ_FORMATS_TOKENIZER_JSON_H
#define TQ_FORMATS_TOKENIZER_JSON_H

#include <stddef.h>

#include "tq.h"

/* Largest tokenizer.json accepted (real ones are up to ~35 MB). */
#define TQ_TOKENIZER_MAX_BYTES	((size_t)512 << 20)

/*
 * Like tq_tokenizer_load, from len bytes of JSON in memory; name stands
 * for the file in error messages.
 */
tq_status tq_tokenizer_load_buffer(const char *json, size_t len,
    const char *name, tq_tokenizer **out, tq_error *err);

#endif /* TQ_FORMATS_TOKENIZER_JSON_H */
