/*
 * test_mixopt.c: sensitivity and the mixed-precision optimizer on the demo
 * model: the measured errors fall with bits, the frontier is monotone, an
 * optimized mix meets its budget and predicts no more loss than any uniform
 * setting that fits it, the plan of a mix resolves to its choices, the
 * table round-trips through its file, and exclusions (an entry, a grid) on
 * the loaded table keep the optimizer and the frontier off them.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sens.h"
#include "tap.h"
#include "tq.h"

int
main(void)
{
	const char *top = getenv("top_srcdir");
	const char *data = getenv("TQ_SHARED_DATA");
	static const char *const menu[] = {
		"rtn:int2-g128", "rtn:int3-g128", "gptq:int3-g128",
		"rtn:int4-g128", "gptq:int4-g128", "rtn:q6_k+imatrix", "rtn:int8"
	};
	const size_t n_menu = sizeof(menu) / sizeof(menu[0]);
	char demo[1024], text[1024], path[] = "/tmp/tq-sens-XXXXXX";
	tq_calib_opts co = TQ_CALIB_OPTS_INIT;
	tq_calib *c = NULL;
	tq_model *m = NULL;
	tq_job *j = NULL;
	tq_sens *s = NULL, *back = NULL;
	tq_mix *front = NULL, mix;
	tq_plan *plan = NULL;
	tq_error err;
	size_t nf = 0, l, k, i;
	int ok, fd;

	snprintf(demo, sizeof(demo), "%s/assets/demo", top ? top : ".");
	snprintf(text, sizeof(text), "%s/wikitext2-valid.txt",
	    data ? data : "../shared/data");
	co.n_samples = 8;
	co.seqlen = 256;
	if (tq_model_open(demo, &m, &err) != TQ_OK ||
	    tq_calib_sample(m, text, &co, &c, &err) != TQ_OK ||
	    tq_job_sensitivity(m, c, menu, n_menu, 512, &j, &err) != TQ_OK ||
	    tq_job_wait(j, &err) != TQ_OK ||
	    (s = tq_job_take_sens(j)) == NULL) {
		tap_ok(0, "setup: %s", err.msg);
		return tap_done();
	}
	tap_ok(tq_sens_n_layers(s) == 28 && tq_sens_n_menu(s) == n_menu,
	    "28 block linears x %zu settings measured", n_menu);

	/* Errors fall with bits; GPTQ is below RTN; the probe measured. */
	ok = 1;
	for (l = 0; l < tq_sens_n_layers(s); l++) {
		double e2 = tq_sens_rel_err(s, l, 0), e3 = tq_sens_rel_err(s, l, 1);
		double g3 = tq_sens_rel_err(s, l, 2), e4 = tq_sens_rel_err(s, l, 3);
		double e8 = tq_sens_rel_err(s, l, 6);

		if (!(e2 > e3 && e3 > e4 && e4 > e8 && g3 <= e3 && e8 > 0.0) ||
		    !(tq_sens_probe_kld(s, l) > 0.0)) {
			tap_diag("%s: %g %g %g %g %g, probe %g",
			    tq_sens_layer_name(s, l), e2, e3, g3, e4, e8,
			    tq_sens_probe_kld(s, l));
			ok = 0;
		}
	}
	tap_ok(ok, "every layer: error falls with bits, GPTQ <= RTN, and the "
	    "probe measured a KLD");

	/* The frontier: bits rise and predicted loss falls. */
	ok = tq_sens_frontier(s, &front, &nf, &err) == TQ_OK;
	tap_ok(ok && nf > 10, "frontier of %zu points", nf);
	for (i = 1, ok = nf > 0; i < nf; i++)
		if (!(front[i].bpw > front[i - 1].bpw &&
		    front[i].pred < front[i - 1].pred))
			ok = 0;
	tap_ok(ok, "frontier from %.3f to %.3f bpw, predicted loss falling",
	    nf ? front[0].bpw : 0.0, nf ? front[nf - 1].bpw : 0.0);

	/* A budget: met, and no worse than a uniform setting that fits. */
	ok = tq_sens_optimize(s, 4.2, &mix, &err) == TQ_OK;
	tap_ok(ok && mix.bpw <= 4.2 + 1e-9 && mix.bpw > 4.0,
	    "optimized for 4.2 bpw: %.4f bpw, predicted %.4g", mix.bpw,
	    mix.pred);
	ok = 1;
	for (k = 0; k < n_menu; k++) {
		double bits = 0.0, p = 0.0, loss = 0.0;

		for (l = 0; l < tq_sens_n_layers(s); l++) {
			double w = (double)tq_sens_layer_params(s, l);

			bits += tq_sens__bpw(s, l, k) * w;
			p += w;
			loss += tq_sens_pred(s, l, k);
		}
		if (bits / p <= 4.2 && loss < mix.pred) {
			tap_diag("uniform %s: %.4f bpw predicts %.4g", menu[k],
			    bits / p, loss);
			ok = 0;
		}
	}
	tap_ok(ok, "no uniform setting within the budget predicts less");
	{
		tq_mix tiny;

		tap_ok(tq_sens_optimize(s, 1.5, &tiny, &err) == TQ_EINVAL,
		    "a budget below the smallest setting: %s", err.msg);
	}

	/* The plan resolves to the mix's choices. */
	ok = tq_sens_plan(s, &mix, m, NULL, &plan, &err) == TQ_OK &&
	    tq_plan_check(plan, m, &err) == TQ_OK;
	for (l = 0; ok && l < tq_sens_n_layers(s); l++) {
		tq_layer_cfg cfg;
		char name[32], want[64];

		tq_plan_resolve(plan, m, tq_sens_layer_name(s, l), &cfg, &err);
		tq_scheme_name(&cfg.scheme, name, sizeof(name));
		snprintf(want, sizeof(want), "%s:%s%s",
		    tq_method_name(cfg.method), name,
		    cfg.use_imatrix ? "+imatrix" : "");
		ok = strcmp(want, tq_sens_menu(s, mix.choice[l])) == 0;
		if (!ok)
			tap_diag("%s: plan %s, mix %s", tq_sens_layer_name(s, l),
			    want, tq_sens_menu(s, mix.choice[l]));
	}
	tap_ok(ok, "the plan of the mix gives every layer its setting");

	/* Save and load. */
	fd = mkstemp(path);
	if (fd >= 0)
		close(fd);
	ok = fd >= 0 && tq_sens_save(s, path, &err) == TQ_OK &&
	    tq_sens_load(path, m, &back, &err) == TQ_OK;
	for (l = 0; ok && l < tq_sens_n_layers(s); l++)
		for (k = 0; k < n_menu; k++)
			if (tq_sens_pred(s, l, k) != tq_sens_pred(back, l, k))
				ok = 0;
	tap_ok(ok, "the table round-trips through its file exactly");
	unlink(path);

	/* Exclusions on the loaded table: refused ones change nothing. */
	if (back != NULL) {
		static const char *const bad[] = { "rtn:int5-g128" };
		static const char *const none[] = { "q4_1" };
		static const char *const all[] = { "int2-g128", "int3-g128",
		    "int4-g128", "q6_k", "int8" };
		static const char *const entry[] = { "gptq:int3-g128" };
		static const char *const grid[] = { "int4-g128" };
		tq_mix ex;

		tap_ok(tq_sens_exclude(back, m, bad, 1, &err) == TQ_EINVAL &&
		    strstr(err.msg, "not an entry") != NULL,
		    "an entry not in the menu is refused: %s", err.msg);
		tap_ok(tq_sens_exclude(back, m, none, 1, &err) == TQ_EINVAL,
		    "a grid no entry gives is refused: %s", err.msg);
		tap_ok(tq_sens_exclude(back, m, all, 5, &err) == TQ_EINVAL &&
		    strstr(err.msg, "no setting") != NULL,
		    "leaving a layer nothing is refused: %s", err.msg);
		ok = tq_sens_optimize(back, 4.2, &ex, &err) == TQ_OK;
		for (l = 0; ok && l < tq_sens_n_layers(s); l++)
			ok = ex.choice[l] == mix.choice[l];
		tap_ok(ok, "after the refused ones, the same mix as before");
		tq_mix_free(&ex);

		ok = tq_sens_exclude(back, m, entry, 1, &err) == TQ_OK &&
		    tq_sens_optimize(back, 4.2, &ex, &err) == TQ_OK &&
		    ex.bpw <= 4.2 + 1e-9;
		for (l = 0; ok && l < tq_sens_n_layers(s); l++)
			ok = ex.choice[l] != 2;
		tap_ok(ok, "gptq:int3-g128 excluded: no layer takes it at 4.2 "
		    "bpw (%.4f bpw)", ok ? ex.bpw : 0.0);
		tq_mix_free(&ex);
		ok = tq_sens_exclude(back, m, grid, 1, &err) == TQ_OK &&
		    tq_sens_optimize(back, 4.2, &ex, &err) == TQ_OK &&
		    ex.bpw <= 4.2 + 1e-9;
		for (l = 0; ok && l < tq_sens_n_layers(s); l++)
			ok = ex.choice[l] != 2 && ex.choice[l] != 3 &&
			    ex.choice[l] != 4;
		tap_ok(ok, "then the grid int4-g128 too: neither rtn nor gptq "
		    "int4-g128, nor gptq:int3-g128 (%.4f bpw, predicted %.4g)",
		    ok ? ex.bpw : 0.0, ok ? ex.pred : 0.0);
		tq_mix_free(&ex);
		tq_mix_free_all(front, nf);
		front = NULL;
		ok = tq_sens_frontier(back, &front, &nf, &err) == TQ_OK;
		for (i = 0; ok && i < nf; i++)
			for (l = 0; ok && l < tq_sens_n_layers(s); l++)
				ok = front[i].choice[l] != 2 &&
				    front[i].choice[l] != 3 &&
				    front[i].choice[l] != 4;
		tap_ok(ok, "the frontier of %zu points leaves them out too", nf);
	}

	tq_mix_free(&mix);
	tq_mix_free_all(front, nf);
	tq_plan_free(plan);
	tq_sens_free(back);
	tq_sens_free(s);
	tq_job_free(j);
	tq_calib_free(c);
	tq_model_close(m);
	return tap_done();
}
