/*
 * tokenizer.h: the tokenizer's regex rewrite, shared by the tokenizer.json
 * reader (formats/tokenizer_json.c) and tests.  The public API is in tq.h
 * ("Tokenizer"); the tokenizer's insides are in tok_internal.h.
 */
#ifndef TQ_CORE_TOKENIZER_H
#define TQ_CORE_TOKENIZER_H

#include <stddef.h>

#include "tq.h"

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
