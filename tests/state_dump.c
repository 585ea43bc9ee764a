/*
 * state_dump.c: what our evaluation of a quantized state computes, for the
 * checkpoint export tests (tests/ckpt_check.py) to compare a consumer's
 * results with.
 *
 *   state_dump STATE OUT.safetensors [N_TOKENS]
 *
 * OUT gets, from the model tq_model_apply_state() makes: every linear
 * weight as F32 under its Hugging Face name (dequantized when quantized),
 * "ids" I32 [N] (fixed token ids: 1 + 7i mod V) and "logits" F32 [N, V]
 * of our forward pass on them; the metadata names each linear's scheme
 * ("NAME.scheme", "float" when not quantized).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "model.h"
#include "qstate.h"
#include "safetensors.h"
#include "tensor.h"

static int
fail(const tq_error *err)
{
	fprintf(stderr, "state_dump: %s\n", err->msg);
	return 1;
}

int
main(int argc, char **argv)
{
	tq_model *base = NULL, *m = NULL;
	tq_qstate *s = NULL;
	tq_st_writer *w = NULL;
	char *model_path = NULL, name[192];
	float **bufs = NULL, *logits = NULL;
	int32_t *ids = NULL;
	int64_t n_tok = argc > 3 ? atoll(argv[3]) : 32, i;
	tq_error err;
	size_t n = 0, k;
	int rc = 1;

	if (argc < 3 || n_tok <= 0) {
		fprintf(stderr, "usage: state_dump STATE OUT.safetensors "
		    "[N_TOKENS]\n");
		return 2;
	}
	if (tq_state_model_path(argv[1], &model_path, &err) != TQ_OK ||
	    tq_model_open(model_path, &base, &err) != TQ_OK ||
	    tq_state_load(argv[1], base, &s, &err) != TQ_OK ||
	    tq_model_apply_state(base, s, &m, &err) != TQ_OK ||
	    tq_st_writer_new(&w, &err) != TQ_OK) {
		rc = fail(&err);
		goto out;
	}
	n = tq_model_n_linears(m);
	bufs = calloc(n, sizeof(*bufs));
	ids = malloc((size_t)n_tok * sizeof(*ids));
	logits = malloc((size_t)(n_tok * m->cfg.vocab_size) * sizeof(float));
	if (bufs == NULL || ids == NULL || logits == NULL)
		goto out;
	for (k = 0; k < n; k++) {
		const tq_tensor *t = tq_model__linear_weight(m, k);
		int64_t shape[2] = { t->shape[0], t->shape[1] };
		char scheme[32] = "float";

		if ((bufs[k] = malloc((size_t)(shape[0] * shape[1]) *
		    sizeof(float))) == NULL)
			goto out;
		tq_tensor_to_f32(t, 0, shape[0] * shape[1], bufs[k]);
		snprintf(name, sizeof(name), "%s.weight",
		    tq_model_linear_name(m, k));
		if (tq_st_writer_add(w, name, TQ_DTYPE_F32, 2, shape, bufs[k],
		    &err) != TQ_OK) {
			rc = fail(&err);
			goto out;
		}
		if (s->layers[k].cfg.method != TQ_METHOD_FLOAT)
			tq_scheme_name(&s->layers[k].qt.scheme, scheme,
			    sizeof(scheme));
		snprintf(name, sizeof(name), "%s.scheme",
		    tq_model_linear_name(m, k));
		if (tq_st_writer_meta(w, name, scheme, &err) != TQ_OK) {
			rc = fail(&err);
			goto out;
		}
	}
	for (i = 0; i < n_tok; i++)
		ids[i] = (int32_t)((1 + 7 * i) % m->cfg.vocab_size);
	if (tq_forward(m, ids, n_tok, NULL, logits, &err) != TQ_OK) {
		rc = fail(&err);
		goto out;
	}
	{
		int64_t is[1] = { n_tok }, ls[2] = { n_tok, m->cfg.vocab_size };

		if (tq_st_writer_add(w, "ids", TQ_DTYPE_I32, 1, is, ids,
		    &err) != TQ_OK ||
		    tq_st_writer_add(w, "logits", TQ_DTYPE_F32, 2, ls, logits,
		    &err) != TQ_OK ||
		    tq_st_writer_write(w, argv[2], &err) != TQ_OK) {
			rc = fail(&err);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc == 1 && bufs == NULL)
		fprintf(stderr, "state_dump: failed\n");
	for (k = 0; bufs != NULL && k < n; k++)
		free(bufs[k]);
	free(bufs);
	free(ids);
	free(logits);
	tq_st_writer_free(w);
	tq_model_close(m);
	tq_state_free(s);
	tq_model_close(base);
	tq_string_free(model_path);
	return rc;
}
