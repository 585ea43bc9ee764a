/*
 * fuzz_config.c: libFuzzer target for config.json parsing.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "hf_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tq_model_config cfg;
	tq_error err;
	cJSON *root = cJSON_ParseWithLength((const char *)data, size);

	if (root != NULL)
		tq_hf_config_parse("config.json", root, &cfg, &err);
	cJSON_Delete(root);
	return 0;
}
