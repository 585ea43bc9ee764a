/*
 * error.h: filling a tq_error (internal to the engine).
 */
#ifndef TQ_CORE_ERROR_H
#define TQ_CORE_ERROR_H

#include "tq.h"

/*
 * Records a printf-style message in err (which may be NULL) and returns st,
 * so a failing path reads `return tq_fail(err, TQ_EFORMAT, "%s: ...", path);`.
 * Newlines in the message are replaced so it stays one line.
 */
tq_status tq_fail(tq_error *err, tq_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to TQ_OK and an empty message. */
void tq_error_clear(tq_error *err);

/*
 * TQ_OK when an options struct's version is want; else TQ_EINVAL naming
 * the struct and its INIT macro, e.g. tq_version_check(o->version,
 * TQ_CALIB_OPTS_VERSION, "tq_calib_opts", "TQ_CALIB_OPTS_INIT", err).
 */
tq_status tq_version_check(unsigned got, unsigned want, const char *type,
    const char *init, tq_error *err);

/* Appends a caveat to warn[len], "; "-separated (an export's warnings). */
void tq_warn_append(char *warn, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* TQ_CORE_ERROR_H */
