/*
 * msg.h: pieces of one-line error messages that several readers share
 * (internal to the engine): a user's string quoted safely, a JSON value
 * shown briefly, and a "did you mean" for a misspelt key.
 */
#ifndef TQ_CORE_MSG_H
#define TQ_CORE_MSG_H

#include <stddef.h>

#include <cJSON.h>

/*
 * s as a quoted, escaped string for a one-line message ("a\"b", control
 * bytes and ill-formed UTF-8 as \xNN), cut to about 60 bytes with "...".
 * Returns buf (len >= 16; 96 holds the longest), or "\"\"" if len is less.
 */
const char *tq_msg_quote(const char *s, char *buf, size_t len);

/*
 * A JSON value as it would be written, cut to 40 bytes, for messages:
 * strings quoted as above, "an object", "an array".  Returns buf or a
 * constant string.
 */
const char *tq_msg_json(const cJSON *v, char *buf, size_t len);

/*
 * The first of known[n] within edit distance 2 of key (key compared
 * lower-cased; names up to 22 bytes), or NULL: "did you mean" for an
 * unknown key.
 */
const char *tq_msg_near(const char *key, const char *const *known,
    size_t n);

#endif /* TQ_CORE_MSG_H */
