/*
 * error.c: status strings, error messages, version, thread settings and
 * the free functions of the library's plain buffers.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "error.h"
#include "par.h"

const char *
tq_strerror(tq_status st)
{
	switch (st) {
	case TQ_OK:		return "success";
	case TQ_EINVAL:		return "invalid argument";
	case TQ_ENOMEM:		return "out of memory";
	case TQ_EIO:		return "input/output error";
	case TQ_EFORMAT:	return "malformed file";
	case TQ_EUNSUPPORTED:	return "unsupported";
	case TQ_ECANCELLED:	return "cancelled";
	case TQ_EUSER:		return "stopped by a callback";
	}
	return "unknown error";
}

/* The library's buffers come from its malloc, so they go back to it. */
void
tq_string_free(char *s)
{
	free(s);
}

void
tq_ids_free(int32_t *ids)
{
	free(ids);
}

const char *
tq_version(void)
{
	return PACKAGE_VERSION;
}

tq_status
tq_fail(tq_error *err, tq_status st, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (err == NULL)
		return st;
	err->status = st;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	for (p = err->msg; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return st;
}

tq_status
tq_version_check(unsigned got, unsigned want, const char *type,
    const char *init, tq_error *err)
{
	if (got == want)
		return TQ_OK;
	return tq_fail(err, TQ_EINVAL, "%s: version %u, this library takes "
	    "version %u (start from %s)", type, got, want, init);
}

void
tq_error_clear(tq_error *err)
{
	if (err == NULL)
		return;
	err->status = TQ_OK;
	err->msg[0] = '\0';
}

static pthread_mutex_t tq_threads_mu = PTHREAD_MUTEX_INITIALIZER;
static int tq_threads;		/* 0: the default */
static int tq_blas_default;	/* OpenBLAS's own count before we set one */
static int tq_blas_serial;	/* open tq_blas__serial_begin() sections */

/* OpenBLAS's count for tq_threads; under tq_threads_mu. */
static int
tq_blas_threads(void)
{
	if (tq_blas_default == 0)
		tq_blas_default = openblas_get_num_threads();
	return tq_threads > 0 ? tq_threads : tq_blas_default;
}

void
tq_set_threads(int n)
{
	pthread_mutex_lock(&tq_threads_mu);
	/* Remember OpenBLAS's default before the first change, so 0 restores it. */
	(void)tq_blas_threads();
	tq_threads = n > 0 ? n : 0;
	if (tq_blas_serial == 0)
		openblas_set_num_threads(tq_blas_threads());
	pthread_mutex_unlock(&tq_threads_mu);
}

int
tq_get_threads(void)
{
	int n;

	pthread_mutex_lock(&tq_threads_mu);
	n = tq_threads;
	pthread_mutex_unlock(&tq_threads_mu);
	return n > 0 ? n : openblas_get_num_procs();
}

void
tq_blas__serial_begin(void)
{
	pthread_mutex_lock(&tq_threads_mu);
	(void)tq_blas_threads();
	if (tq_blas_serial++ == 0)
		openblas_set_num_threads(1);
	pthread_mutex_unlock(&tq_threads_mu);
}

void
tq_blas__serial_end(void)
{
	pthread_mutex_lock(&tq_threads_mu);
	if (--tq_blas_serial == 0)
		openblas_set_num_threads(tq_blas_threads());
	pthread_mutex_unlock(&tq_threads_mu);
}

/* See error.h. */
void
tq_warn_append(char *warn, size_t len, const char *fmt, ...)
{
	size_t n = strnlen(warn, len);
	va_list ap;

	if (n + 3 >= len)
		return;
	if (n > 0) {
		memcpy(warn + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(warn + n, len - n, fmt, ap);
	va_end(ap);
}
