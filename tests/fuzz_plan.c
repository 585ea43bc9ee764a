/*
 * fuzz_plan.c: libFuzzer target for quantization plans (core/plan.c): the
 * JSON parser, then the checks and resolution against the fixture model
 * tests/data/models/llama, and the plan written back and parsed again.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_fixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fixture_open("fuzz_plan");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tq_plan *p = NULL, *back = NULL;
	tq_error err;
	char *json;

	if (tq_plan_parse((const char *)data, size, "plan.json", &p, &err) !=
	    TQ_OK)
		return 0;
	if (tq_plan_check(p, fixture, &err) == TQ_OK) {
		size_t i, n = tq_model_n_linears(fixture);
		tq_layer_cfg cfg;

		for (i = 0; i < n; i++)
			tq_plan_resolve(p, fixture,
			    tq_model_linear_name(fixture, i), &cfg, &err);
	}
	/* What a state saves must read back. */
	if ((json = tq_plan_to_json(p)) != NULL) {
		if (tq_plan_parse(json, strlen(json), "plan", &back, &err) !=
		    TQ_OK)
			abort();
		tq_plan_free(back);
		tq_string_free(json);
	}
	tq_plan_free(p);
	return 0;
}
