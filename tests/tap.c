/*
 * tap.c: a minimal Test Anything Protocol producer for the unit tests.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int tap_n, tap_failed, tap_planned;

void
tap_plan(int n)
{
	printf("1..%d\n", n);
	tap_planned = 1;
}

static void tap_vline(const char *status, const char *fmt, va_list ap,
    const char *tail) __attribute__((format(printf, 2, 0)));

static void
tap_vline(const char *status, const char *fmt, va_list ap, const char *tail)
{
	printf("%s %d - ", status, ++tap_n);
	vprintf(fmt, ap);
	printf("%s\n", tail);
	fflush(stdout);
}

int
tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vline(cond ? "ok" : "not ok", fmt, ap, "");
	va_end(ap);
	if (!cond)
		tap_failed++;
	return cond;
}

static void tap_vskip(int strict_fails, const char *reason, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

/* A skip; under TQ_STRICT=1 a failure when strict_fails. */
static void
tap_vskip(int strict_fails, const char *reason, const char *fmt, va_list ap)
{
	/* Under runtests.sh (TQ_STRICT=1, and so in CI) what a check needs is
	 * installed: its absence is a failure, not a skip. */
	const char *strict = getenv("TQ_STRICT");
	int fail = strict_fails && strict && strcmp(strict, "1") == 0;
	char tail[512];

	snprintf(tail, sizeof(tail), fail ? " (missing under TQ_STRICT=1: %s)" :
	    " # SKIP %s", reason);
	tap_vline(fail ? "not ok" : "ok", fmt, ap, tail);
	if (fail)
		tap_failed++;
}

void
tap_skip(const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vskip(1, reason, fmt, ap);
	va_end(ap);
}

void
tap_skip_na(const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vskip(0, reason, fmt, ap);
	va_end(ap);
}

void
tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int
tap_done(void)
{
	if (!tap_planned)
		printf("1..%d\n", tap_n);
	return tap_failed == 0 ? 0 : 1;
}

static uint64_t tap_rng = 0x9e3779b97f4a7c15ull;

double
tap_urand(void)
{
	tap_rng ^= tap_rng >> 12;
	tap_rng ^= tap_rng << 25;
	tap_rng ^= tap_rng >> 27;
	return (double)((tap_rng * 0x2545f4914f6cdd1dull) >> 11) *
	    (1.0 / 9007199254740992.0);
}

double
tap_gauss(void)
{
	double u1 = tap_urand(), u2 = tap_urand();

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

void
tap_rmdir(const char *dir)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
}
