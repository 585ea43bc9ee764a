/*
 * model_dump.c: what our engine computes with a model, for the Python
 * interop tests to compare against other readers.
 *
 *   model_dump logits MODEL OUT ID...   logits of the ids, [n, V] f32
 *   model_dump weights MODEL DIR        every quantizable layer's weight
 *                                       as we evaluate it: DIR/NAME.f32
 *                                       ([rows, cols] f32, HF row order)
 *                                       and DIR/index.txt ("NAME ROWS
 *                                       COLS" lines)
 *
 * MODEL is a model directory, a quantized state directory (its model with
 * the state applied) or a .gguf file.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "tq.h"

static int
die(const tq_error *e)
{
	fprintf(stderr, "model_dump: %s\n", e->msg);
	return 1;
}

int
main(int argc, char **argv)
{
	tq_error err = { TQ_OK, "" };
	tq_model *base = NULL, *m = NULL;
	tq_qstate *s = NULL;
	char *bp = NULL, path[4096];
	FILE *f, *idx;
	size_t i;
	int rc = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: model_dump logits MODEL OUT ID... | "
		    "weights MODEL DIR\n");
		return 2;
	}
	if (tq_state_is_dir(argv[2])) {
		if (tq_state_model_path(argv[2], &bp, &err) != TQ_OK ||
		    tq_model_open(bp, &base, &err) != TQ_OK ||
		    tq_state_load(argv[2], base, &s, &err) != TQ_OK ||
		    tq_model_apply_state(base, s, &m, &err) != TQ_OK) {
			rc = die(&err);
			goto out;
		}
	} else if (tq_model_open(argv[2], &m, &err) != TQ_OK) {
		rc = die(&err);
		goto out;
	}
	if (strcmp(argv[1], "logits") == 0) {
		int64_t n = argc - 4, V = tq_model_get_config(m)->vocab_size;
		int32_t *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof(*ids));
		float *lg = malloc((size_t)((n > 0 ? n : 1) * V) * sizeof(float));

		for (i = 0; ids != NULL && i < (size_t)n; i++)
			ids[i] = (int32_t)atoi(argv[4 + i]);
		if (ids == NULL || lg == NULL || n < 1 ||
		    tq_forward(m, ids, n, NULL, lg, &err) != TQ_OK ||
		    (f = fopen(argv[3], "wb")) == NULL) {
			fprintf(stderr, "model_dump: logits failed: %s\n", err.msg);
		} else {
			fwrite(lg, sizeof(float), (size_t)(n * V), f);
			rc = fclose(f) != 0;
		}
		free(ids);
		free(lg);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/index.txt", argv[3]);
	if ((idx = fopen(path, "w")) == NULL) {
		fprintf(stderr, "model_dump: cannot write %s\n", path);
		goto out;
	}
	for (i = 0; i < tq_model_n_linears(m); i++) {
		const tq_tensor *t = tq_model__linear_weight(m, i);
		int64_t rows = t->shape[0], cols = t->shape[1];
		float *w = malloc((size_t)(rows * cols) * sizeof(float));

		if (w == NULL)
			break;
		tq_tensor_to_f32(t, 0, rows * cols, w);
		snprintf(path, sizeof(path), "%s/%s.f32", argv[3],
		    tq_model_linear_name(m, i));
		if ((f = fopen(path, "wb")) != NULL) {
			fwrite(w, sizeof(float), (size_t)(rows * cols), f);
			fclose(f);
		}
		fprintf(idx, "%s %lld %lld\n", tq_model_linear_name(m, i),
		    (long long)rows, (long long)cols);
		free(w);
	}
	rc = fclose(idx) != 0;
out:
	tq_model_close(m);
	tq_state_free(s);
	tq_model_close(base);
	tq_string_free(bp);
	return rc;
}
