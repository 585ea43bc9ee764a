/*
 * fuzz_fixture.h: the model the plan and state fuzzers run against, the
 * two-block fixture tests/data/models/llama, opened once per process.
 */
#ifndef TQ_TESTS_FUZZ_FIXTURE_H
#define TQ_TESTS_FUZZ_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "tq.h"

static tq_model *fixture;

static void
fixture_close(void)
{
	tq_model_close(fixture);
}

/* Opens the fixture (aborting when it cannot: no run would mean anything). */
static void
fixture_open(const char *who)
{
	tq_error err;

	if (tq_model_open(TQ_SRCDIR "/tests/data/models/llama", &fixture,
	    &err) != TQ_OK) {
		fprintf(stderr, "%s: %s\n", who, err.msg);
		abort();
	}
	atexit(fixture_close);
}

#endif /* TQ_TESTS_FUZZ_FIXTURE_H */
