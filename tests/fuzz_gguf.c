/*
 * fuzz_gguf.c: libFuzzer target for the GGUF reader: the container
 * parser, the typed getters, the tokenizer rebuilt from metadata and the
 * dequantization of each tensor's first row.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "gguf_reader.h"
#include "gguf_vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tq_gguf_file *f = NULL;
	tq_error err;
	char *json = NULL;
	float row[4096];
	const char *s;
	size_t i, len;
	uint64_t k, u;
	double d;
	int b;

	if (tq_gguf_parse(data, size, "fuzz.gguf", &f, &err) != TQ_OK)
		return 0;
	for (i = 0; i < f->n_kv; i++) {
		const tq_gguf_kv *kv = &f->kv[i];

		tq_gguf_get_uint(f, kv->key, &u);
		tq_gguf_get_float(f, kv->key, &d);
		tq_gguf_get_bool(f, kv->key, &b);
		tq_gguf_get_str(f, kv->key, &s, &len);
		for (k = 0; kv->type == 9 && k < kv->n && k < 64; k++) {
			if (kv->arr_type == 8)
				tq_gguf_arr_str(kv, k, &s, &len);
			else
				(void)tq_gguf_arr_num(kv, k);
		}
	}
	if (tq_gguf_vocab_to_json(f, &json, &err) == TQ_OK)
		free(json);
	for (i = 0; i < f->n_t; i++)
		if (f->t[i].ne[0] <= 4096 && f->t[i].ne[1] > 0 &&
		    f->t[i].ne[2] > 0 && f->t[i].ne[3] > 0)
			tq_gguf_dequant(f->t[i].type, f->t[i].data, f->t[i].ne[0],
			    1, row, &err);
	tq_gguf_close(f);
	return 0;
}
