/*
 * fuzz_evalfiles.c: libFuzzer target for the files evaluation reads: the
 * saved base log-probabilities (first byte even) and multiple-choice task
 * files (first byte odd).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../eval/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tq_logits_file lf;
	tq_task *t;
	tq_error err;
	size_t n;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		if (tq_tasks__parse((const char *)data + 1, size - 1,
		    "tasks.jsonl", &t, &n, &err) == TQ_OK)
			tq_tasks__free(t, n);
	} else {
		memset(&lf, 0, sizeof(lf));
		tq_logits__parse(data + 1, size - 1, "base.tqlp", &lf, &err);
	}
	return 0;
}
