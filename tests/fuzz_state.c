/*
 * fuzz_state.c: libFuzzer target for quantized state directories.  The
 * input is up to four parts, each a 4-byte little-endian length and its
 * bytes: state.json, block-0000.safetensors, block-0001.safetensors and
 * head.safetensors (a part cut short or absent leaves its file out).  They
 * are written to a directory and loaded, checked and applied against the
 * two-block fixture model tests/data/models/llama.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_fixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const part_names[] = {
	"state.json", "block-0000.safetensors", "block-0001.safetensors",
	"head.safetensors"
};
#define N_PARTS (sizeof(part_names) / sizeof(part_names[0]))

static char dir[] = "/tmp/tq-fuzz-state-XXXXXX";

static void
cleanup(void)
{
	char path[64];
	size_t i;

	for (i = 0; i < N_PARTS; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, part_names[i]);
		unlink(path);
	}
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fixture_open("fuzz_state");
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_state: mkdtemp");
		abort();
	}
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tq_qstate *s = NULL;
	tq_model *qm = NULL;
	tq_error err;
	char path[64];
	size_t i;

	for (i = 0; i < N_PARTS; i++) {
		uint32_t len = 0;
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, part_names[i]);
		unlink(path);
		if (size < 4)
			continue;
		memcpy(&len, data, 4);
		data += 4;
		size -= 4;
		if (len > size)
			len = (uint32_t)size;
		if ((f = fopen(path, "wb")) == NULL)
			abort();
		if (len > 0 && fwrite(data, 1, len, f) != len)
			abort();
		fclose(f);
		data += len;
		size -= len;
	}
	if (tq_state_load(dir, fixture, &s, &err) == TQ_OK &&
	    tq_model_apply_state(fixture, s, &qm, &err) == TQ_OK)
		tq_model_close(qm);
	tq_state_free(s);
	return 0;
}
