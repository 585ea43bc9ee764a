/*
 * fuzz_safetensors.c: libFuzzer target for the safetensors header parser.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tq_tensor *ts = NULL;
	tq_error err;
	size_t n = 0, i;
	float f;

	if (tq_st_parse("fuzz.safetensors", data, size, &ts, &n, &err) ==
	    TQ_OK) {
		/* Touch the first element of each tensor: it must be in bounds. */
		for (i = 0; i < n; i++)
			if (tq_tensor_numel(&ts[i]) > 0)
				tq_tensor_to_f32(&ts[i], 0, 1, &f);
	}
	tq_st_free_tensors(ts, n);
	return 0;
}
