/*
 * logits_dump.c: our logits for fixed tokens, for the tests that compare
 * an exported model run by its consumer with our evaluation of the same
 * weights.
 *
 *   logits_dump MODEL|STATE IDS OUT.f32
 *
 * MODEL is a Hugging Face directory; STATE a quantized state directory,
 * evaluated as `turboquant eval` does (tq_model_apply_state on the model
 * it was made of).  IDS is a comma-separated list of token ids.  OUT.f32
 * gets [n_ids, vocab] little-endian floats.  Exit status 1 on an error
 * (message on stderr), 2 on bad usage.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tq.h"

static int
fail(const char *msg)
{
	fprintf(stderr, "logits_dump: %s\n", msg);
	return 1;
}

/* Parses "1,2,3" into ids[max]; returns the count, -1 on bad input. */
static long
parse_ids(const char *s, int32_t *ids, long max)
{
	long n = 0;
	char *end;

	while (*s != '\0') {
		long v = strtol(s, &end, 10);

		if (end == s || n == max || v < 0 || v > INT32_MAX)
			return -1;
		ids[n++] = (int32_t)v;
		s = *end == ',' ? end + 1 : end;
		if (*end != ',' && *end != '\0')
			return -1;
	}
	return n;
}

int
main(int argc, char **argv)
{
	tq_model *base = NULL, *m = NULL;
	tq_qstate *state = NULL;
	char *model_path = NULL;
	int32_t ids[4096];
	float *logits = NULL;
	tq_error err;
	long n;
	int rc = 1;
	FILE *f;

	if (argc != 4) {
		fprintf(stderr, "usage: logits_dump MODEL|STATE IDS OUT.f32\n");
		return 2;
	}
	if ((n = parse_ids(argv[2], ids, 4096)) <= 0) {
		fprintf(stderr, "logits_dump: bad ids: %s\n", argv[2]);
		return 2;
	}
	if (tq_state_is_dir(argv[1])) {
		if (tq_state_model_path(argv[1], &model_path, &err) != TQ_OK ||
		    tq_model_open(model_path, &base, &err) != TQ_OK ||
		    tq_state_load(argv[1], base, &state, &err) != TQ_OK ||
		    tq_model_apply_state(base, state, &m, &err) != TQ_OK)
			goto out_err;
	} else {
		if (tq_model_open(argv[1], &base, &err) != TQ_OK)
			goto out_err;
	}
	if ((logits = malloc((size_t)n * (size_t)tq_model_get_config(base)->
	    vocab_size * sizeof(float))) == NULL) {
		rc = fail("out of memory");
		goto out;
	}
	if (tq_forward(m != NULL ? m : base, ids, n, NULL, logits, &err) !=
	    TQ_OK)
		goto out_err;
	f = fopen(argv[3], "wb");
	if (f == NULL || fwrite(logits, sizeof(float), (size_t)n *
	    (size_t)tq_model_get_config(base)->vocab_size, f) !=
	    (size_t)n * (size_t)tq_model_get_config(base)->vocab_size ||
	    fclose(f) != 0) {
		rc = fail("cannot write the logits");
		goto out;
	}
	rc = 0;
	goto out;
out_err:
	rc = fail(err.msg);
out:
	free(logits);
	tq_model_close(m);
	tq_state_free(state);
	tq_model_close(base);
	tq_string_free(model_path);
	return rc;
}
