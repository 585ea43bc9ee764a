/*
 * fuzz_tokenizer.c: libFuzzer target for the tokenizer.json reader; a
 * tokenizer that loads is also made to encode and decode a mixed text.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char sample[] =
    "Hello, World! It's 2024 -- caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 "
    "\xf0\x9f\x98\x80\r\n\tdon'T  <s></s><|begin_of_text|>\xff end";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tq_tokenizer *tok = NULL;
	tq_error err;
	int32_t *ids = NULL;
	char *text = NULL;
	size_t n = 0, len = 0;

	if (tq_tokenizer_load_buffer((const char *)data, size, "fuzz.json",
	    &tok, &err) != TQ_OK)
		return 0;
	if (tq_tokenizer_encode(tok, sample, sizeof(sample) - 1, 1, &ids, &n,
	    &err) == TQ_OK)
		tq_tokenizer_decode(tok, ids, n, 0, &text, &len, &err);
	tq_string_free(text);
	tq_ids_free(ids);
	tq_tokenizer_free(tok);
	return 0;
}
