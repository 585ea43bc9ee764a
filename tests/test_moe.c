/*
 * test_moe.c: the mixture-of-experts fixtures (tests/data/models/mixtral
 * and qwen3_moe, made by tools/make_fixtures_2025.py) as linears: every
 * expert's gate, up and down named and shaped as a linear of its own,
 * quantized by RTN per expert (saved, loaded back, applied, run), and a
 * method that needs calibration refused in one line.  Their logits
 * against transformers are test_forward's.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "qstate.h"
#include "tap.h"
#include "tq.h"

/* The ids the fixtures' reference sequence 1 is not: any 12 in range. */
static const int32_t ids[12] = { 5, 17, 200, 3, 99, 42, 7, 150, 64, 1, 250,
    31 };

/* Runs method on every block linear of m (lm_head, embeddings float). */
static tq_qstate *
run(const tq_model *m, const char *method, const char *scheme,
    const char *dir, tq_error *err)
{
	tq_layer_cfg cfg;
	tq_scheme sch;
	tq_method meth;
	tq_plan *plan = NULL;
	tq_job *j = NULL;
	tq_qstate *s = NULL;

	if (tq_method_parse(method, &meth, err) != TQ_OK ||
	    tq_scheme_parse(scheme, &sch, err) != TQ_OK)
		return NULL;
	tq_layer_cfg_init(&cfg, meth, &sch);
	if (tq_plan_new(&cfg, &plan, err) == TQ_OK &&
	    tq_job_quantize(m, plan, NULL, dir, 0, &j, err) == TQ_OK &&
	    tq_job_wait(j, err) == TQ_OK)
		s = tq_job_take_state(j);
	tq_job_free(j);
	tq_plan_free(plan);
	return s;
}

/* max |a - b| over n, and max |b| into *scale */
static double
max_diff(const float *a, const float *b, size_t n, double *scale)
{
	double d = 0.0;
	size_t i;

	*scale = 0.0;
	for (i = 0; i < n; i++) {
		if (fabs((double)a[i] - b[i]) > d)
			d = fabs((double)a[i] - b[i]);
		if (fabs((double)b[i]) > *scale)
			*scale = fabs((double)b[i]);
	}
	return d;
}

static void
check_model(const char *root, const char *name, size_t want_linears,
    size_t expert_first, const char *expert_name, int64_t rows, int64_t cols)
{
	char dir[4096], qdir[] = "/tmp/tq_moe_XXXXXX";
	tq_model *m = NULL, *qm = NULL;
	tq_qstate *s = NULL, *back = NULL;
	tq_error err;
	float *ref = NULL, *got = NULL;
	int64_t r = 0, c = 0, V;
	double d, sc;
	size_t i;
	int named = 1;

	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	if (tq_model_open(dir, &m, &err) != TQ_OK) {
		tap_ok(0, "%s: opens: %s", name, err.msg);
		return;
	}
	V = tq_model_get_config(m)->vocab_size;
	tap_ok(tq_model_n_linears(m) == want_linears, "%s: %zu linears (%zu)",
	    name, tq_model_n_linears(m), want_linears);
	tq_model_linear_shape(m, expert_first, &r, &c);
	tap_ok(tq_model_linear_name(m, expert_first) != NULL &&
	    strcmp(tq_model_linear_name(m, expert_first), expert_name) == 0 &&
	    r == rows && c == cols, "%s: linear %zu is %s [%lld, %lld]", name,
	    expert_first, tq_model_linear_name(m, expert_first), (long long)r,
	    (long long)c);
	for (i = 0; i < tq_model_n_linears(m); i++)
		named &= tq_model_linear_name(m, i) != NULL &&
		    tq_model__linear_weight(m, i) != NULL &&
		    (i + 2 >= tq_model_n_linears(m) || strstr(
		    tq_model__linear_weight(m, i)->name,
		    tq_model_linear_name(m, i)) ==
		    tq_model__linear_weight(m, i)->name);
	tap_ok(named, "%s: every linear's name is its weight's", name);

	s = run(m, "gptq", "int4-g32", NULL, &err);
	tap_ok(s == NULL && strstr(err.msg, "per-expert calibration is not "
	    "implemented yet") != NULL, "%s: GPTQ refused: %s", name, err.msg);
	tq_state_free(s);

	s = mkdtemp(qdir) != NULL ? run(m, "rtn", "int8-sym", qdir, &err) :
	    NULL;
	tap_ok(s != NULL, "%s: RTN int8 per expert runs%s%s", name,
	    s == NULL ? ": " : "", s == NULL ? err.msg : "");
	if (s == NULL)
		goto out;
	tap_ok(s->layers[expert_first].done && strcmp(
	    s->layers[expert_first].res.name, expert_name) == 0 &&
	    s->layers[expert_first].res.which == TQ_LINEAR_GATE,
	    "%s: the state's %s is quantized as a gate", name, expert_name);
	if (tq_state_load(qdir, m, &back, &err) != TQ_OK)
		tap_diag("%s", err.msg);
	tap_ok(back != NULL && back->n == s->n, "%s: the state loads back",
	    name);
	ref = malloc((size_t)(12 * V) * sizeof(float));
	got = malloc((size_t)(12 * V) * sizeof(float));
	if (back == NULL || ref == NULL || got == NULL ||
	    tq_model_apply_state(m, back, &qm, &err) != TQ_OK ||
	    tq_forward(m, ids, 12, NULL, ref, &err) != TQ_OK ||
	    tq_forward(qm, ids, 12, NULL, got, &err) != TQ_OK) {
		tap_ok(0, "%s: the quantized model runs: %s", name, err.msg);
		goto out;
	}
	tap_ok(tq_model__linear_weight(qm, expert_first) !=
	    tq_model__linear_weight(m, expert_first) &&
	    tq_model__linear_weight(m, expert_first)->dtype == TQ_DTYPE_BF16,
	    "%s: the quantized expert is a new weight, the base's untouched",
	    name);
	d = max_diff(got, ref, (size_t)(12 * V), &sc);
	tap_ok(d > 0.0 && d < 0.05 * sc, "%s: int8 logits within 5%% of the "
	    "float ones (max |diff| %.3g, max |logit| %.3g)", name, d, sc);
out:
	free(ref);
	free(got);
	tq_model_close(qm);
	tq_state_free(back);
	tq_state_free(s);
	tq_model_close(m);
	tap_rmdir(qdir);
}

int
main(void)
{
	const char *top = getenv("top_srcdir");
	char root[4096];

	snprintf(root, sizeof(root), "%s/tests/data/models", top ? top : ".");
	/* mixtral: 2 blocks of 4 + 3 x 4 experts; the first expert after
	   block 0's attention */
	check_model(root, "mixtral", 2 * 16 + 2, 4,
	    "model.layers.0.block_sparse_moe.experts.0.w1", 64, 64);
	/* qwen3_moe: block 0 dense (7), block 1 4 + 12 */
	check_model(root, "qwen3_moe", 7 + 16 + 2, 7 + 4,
	    "model.layers.1.mlp.experts.0.gate_proj", 32, 64);
	return tap_done();
}
