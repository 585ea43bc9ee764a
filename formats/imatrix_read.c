/*
 * imatrix_read.c: an importance-matrix GGUF (see imatrix_file.c for the
 * layout) read back for RTN, with llama-quantize's arithmetic, so an
 * export weighed by it is what llama-quantize --imatrix writes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf_writer.h"
#include "imatrix.h"

tq_status
tq_imatrix_open(const char *path, tq_imatrix *out, tq_error *err)
{
	const char *type = NULL;
	size_t len = 0;
	tq_status st;

	memset(out, 0, sizeof(*out));
	if ((st = tq_gguf_open(path, &out->f, err)) != TQ_OK)
		return st;
	if (!tq_gguf_get_str(out->f, "general.type", &type, &len) ||
	    len != 7 || memcmp(type, "imatrix", 7) != 0) {
		tq_imatrix_close(out);
		return tq_fail(err, TQ_EFORMAT, "%s: not an importance matrix "
		    "(general.type is not \"imatrix\")", path);
	}
	if ((out->path = strdup(path)) == NULL) {
		tq_imatrix_close(out);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	return TQ_OK;
}

void
tq_imatrix_close(tq_imatrix *im)
{
	if (im->f != NULL)
		tq_gguf_close(im->f);
	free(im->path);
	memset(im, 0, sizeof(*im));
}

int
tq_imatrix_get(const tq_imatrix *im, const char *name, int64_t cols,
    float *imp, tq_error *err)
{
	return tq_imatrix_get_expert(im, name, cols, 0, 1, imp, err);
}

int
tq_imatrix_get_expert(const tq_imatrix *im, const char *name,
    int64_t cols, int64_t expert, int64_t n_experts, float *imp,
    tq_error *err)
{
	const tq_gguf_tensor *s, *c;
	char key[160];
	float count, v;
	int64_t j;

	snprintf(key, sizeof(key), "%s.in_sum2", name);
	s = tq_gguf_find_tensor(im->f, key);
	snprintf(key, sizeof(key), "%s.counts", name);
	c = tq_gguf_find_tensor(im->f, key);
	if (s == NULL || c == NULL)
		return 0;
	/*
	 * [cols, n_experts] sums and a count per matrix (one: no experts),
	 * or one count for all of them, which llama-quantize divides every
	 * expert's sums by.
	 */
	if (s->type != TQ_GGML_F32 || c->type != TQ_GGML_F32 ||
	    s->ne[0] != cols || s->nbytes != (uint64_t)(cols * n_experts) * 4 ||
	    (c->nbytes != (uint64_t)n_experts * 4 && c->nbytes != 4)) {
		if (n_experts == 1)
			tq_fail(err, TQ_EFORMAT, "%s: entry %s is not %lld f32 "
			    "sums and one count", im->path, name,
			    (long long)cols);
		else
			tq_fail(err, TQ_EFORMAT, "%s: entry %s is not %lld f32 "
			    "sums and one count for each of %lld experts",
			    im->path, name, (long long)cols,
			    (long long)n_experts);
		return -1;
	}
	memcpy(&v, c->data + (c->nbytes == 4 ? 0 : 4 * expert), 4);
	count = (float)(int64_t)v;	/* llama.cpp keeps counts as int64 */
	for (j = 0; j < cols; j++) {
		memcpy(&v, s->data + 4 * (expert * cols + j), 4);
		imp[j] = count > 0.0f ? v / count : 1.0f;
	}
	return 1;
}
