/*
 * tokenizer.h: internals of the tokenizer.json reader shared with tests
 * and fuzzers.  The public API is in tq.h ("Tokenizer").
 */
#ifndef TQ_CORE_TOKENIZER_H
#define TQ_CORE_TOKENIZER_H

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

/*
 * Rewrites an Oniguruma pattern from tokenizer.json into the PCRE2 pattern
 * that matches the same (hf-models.md section 1.8): \s, \S, \w, \W, \h, \H,
 * \v, \uHHHH, X{n,m}+, X{n}?, {,n} and the (?m) option.  *out is
 * malloc'ed and NUL-terminated.  Returns TQ_OK, TQ_ENOMEM, or
 * TQ_EUNSUPPORTED with a static reason in *why.
 */
tq_status tq_tokenizer_regex_rewrite(const char *pat, size_t len, char **out,
    size_t *out_len, const char **why);

#endif /* TQ_CORE_TOKENIZER_H */
