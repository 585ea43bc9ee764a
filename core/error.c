/*
 * error.c: status strings, error messages, version and thread settings.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cblas.h>

#include "error.h"

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

void
tq_error_clear(tq_error *err)
{
	if (err == NULL)
		return;
	err->status = TQ_OK;
	err->msg[0] = '\0';
}

static int tq_threads;

void
tq_set_threads(int n)
{
	/* 0 leaves OpenBLAS's own choice (which honours OPENBLAS_NUM_THREADS). */
	tq_threads = n > 0 ? n : 0;
	if (n > 0)
		openblas_set_num_threads(n);
}

int
tq_get_threads(void)
{
	return tq_threads > 0 ? tq_threads : openblas_get_num_procs();
}
