/*
 * tap.h: a minimal Test Anything Protocol producer for the unit tests.
 */
#ifndef TQ_TESTS_TAP_H
#define TQ_TESTS_TAP_H

/* Prints "1..n" (call first), or use tap_done() for a trailing plan. */
void tap_plan(int n);
/* Prints "ok N - name" or "not ok N - name"; returns cond. */
int tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "ok N - name # SKIP reason" ("not ok" under TQ_STRICT=1). */
void tap_skip(const char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Prints "ok N - name # SKIP reason" even under TQ_STRICT=1: for a check
 * nothing installed would enable (this CPU lacks the instructions, this
 * build lacks the sanitizer).
 */
void tap_skip_na(const char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints a "# ..." diagnostic line. */
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Deterministic random numbers, the same on every platform (xorshift64*,
 * one stream per test program): uniform in [0, 1), and standard normal
 * (Box-Muller).
 */
double tap_urand(void);
double tap_gauss(void);

/* Prints the trailing plan if none was given; returns the exit status. */
int tap_done(void);

/* Removes the directory tree dir (a test's scratch space); a failure is
   only a diagnostic. */
void tap_rmdir(const char *dir);

#endif /* TQ_TESTS_TAP_H */
