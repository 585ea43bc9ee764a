/*
 * test_eval.c: validation: KL divergence statistics on hand-built logits
 * against values computed here, a model against itself (KLD exactly 0,
 * agreement 100%), the llamacpp protocol against a window scored by hand,
 * the saved base log-probabilities, multiple-choice scoring and the
 * validation job.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../eval/eval.h"
#include "tap.h"
#include "tq.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
close_rel(double a, double b, double tol)
{
	return fabs(a - b) <= tol * fmax(fabs(a), fabs(b)) || a == b;
}

/* log p of every entry of a row, in double, the plain way. */
static void
log_probs(const float *row, int V, double *lp)
{
	double mx = row[0], s = 0.0;
	int i;

	for (i = 1; i < V; i++)
		mx = row[i] > mx ? row[i] : mx;
	for (i = 0; i < V; i++)
		s += exp(row[i] - mx);
	for (i = 0; i < V; i++)
		lp[i] = row[i] - mx - log(s);
}

static int
argmax_f(const float *row, int V)
{
	int i, b = 0;

	for (i = 1; i < V; i++)
		if (row[i] > row[b])
			b = i;
	return b;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
test_hand_built(void)
{
	enum { N = 15, V = 6 };
	float q[N][V], b[N][V];
	int32_t tgt[N];
	double lq[V], lb[V], kl[N], sum = 0, sum2 = 0, nll = 0, nllb = 0;
	double dp = 0, med;
	int same = 0, i, j;
	unsigned s = 12345;
	tq_kld_acc acc;
	tq_kld_result r;
	tq_error err;

	/* Rows from a small LCG; the base and the model disagree a little. */
	for (i = 0; i < N; i++) {
		for (j = 0; j < V; j++) {
			s = s * 1103515245u + 12345u;
			b[i][j] = (float)((s >> 16) % 1000) / 250.0f - 2.0f;
			s = s * 1103515245u + 12345u;
			q[i][j] = b[i][j] + (float)((s >> 16) % 100) / 200.0f -
			    0.25f;
		}
		tgt[i] = (int32_t)(i % V);
	}
	tq_eval__kld_init(&acc);
	for (i = 0; i < N; i++) {
		double k = 0.0;

		tq_eval__kld_add(&acc, q[i], b[i], V, tgt[i], &err);
		log_probs(q[i], V, lq);
		log_probs(b[i], V, lb);
		for (j = 0; j < V; j++)
			k += exp(lb[j]) * (lb[j] - lq[j]);
		kl[i] = k;
		sum += k;
		sum2 += k * k;
		nll += -lq[tgt[i]];
		nllb += -lb[tgt[i]];
		dp += exp(lq[tgt[i]]) - exp(lb[tgt[i]]);
		same += argmax_f(q[i], V) == argmax_f(b[i], V);
	}
	tq_eval__kld_result(&acc, NULL, &r, &err);
	tq_eval__kld_done(&acc);
	qsort(kl, N, sizeof(double), cmp_d);
	med = kl[N / 2];
	tap_ok(r.n == N && close_rel(r.kld, sum / N, 1e-6),
	    "hand-built logits: mean KLD %.9f, computed here %.9f", r.kld,
	    sum / N);
	tap_ok(close_rel(r.kld_stderr, sqrt((sum2 / N - (sum / N) *
	    (sum / N)) / (N - 1)), 1e-5), "standard error of the KLD %.3e",
	    r.kld_stderr);
	tap_ok(close_rel(r.kld_q.median, med, 1e-6) &&
	    close_rel(r.kld_q.max, kl[N - 1], 1e-6) &&
	    close_rel(r.kld_q.p90, kl[12] + 0.6 * (kl[13] - kl[12]), 1e-6),
	    "median %.6f, p90 %.6f and max %.6f as interpolated ranks",
	    r.kld_q.median, r.kld_q.p90, r.kld_q.max);
	tap_ok(close_rel(r.ppl.ppl, exp(nll / N), 1e-9) &&
	    close_rel(r.ppl_base.ppl, exp(nllb / N), 1e-9),
	    "perplexities %.6f and base %.6f", r.ppl.ppl, r.ppl_base.ppl);
	tap_ok(fabs(r.same_top - (double)same / N) < 1e-12 &&
	    close_rel(r.dp, dp / N, 1e-6), "same top %.4f (%d of %d), "
	    "mean dp %.6f", r.same_top, same, N, r.dp);

	/* llama.cpp's 16-bit rows: within half a step of the exact value. */
	{
		uint16_t row[2 * ((V + 1) / 2) + 4];
		float lp[V];
		double worst = 0.0, step;
		float d[2];

		tq_logits__encode(b[0], V, 0, row);
		tq_logits__decode(row, V, lp);
		memcpy(d, row, sizeof(d));
		step = d[0];
		log_probs(b[0], V, lb);
		for (j = 0; j < V; j++)
			worst = fmax(worst, fabs(lp[j] - lb[j]));
		tap_ok(worst <= 0.5 * step + 1e-5, "16-bit log-probs within "
		    "half a step (%.2e, step %.2e)", worst, step);
	}
}

/* The quantized demo: RTN int4-g128, no calibration. */
static tq_model *
quantized(const tq_model *m, tq_qstate **st)
{
	tq_layer_cfg cfg;
	tq_scheme sch;
	tq_plan *plan = NULL;
	tq_model *q = NULL;
	tq_job *j = NULL;
	tq_error err;

	*st = NULL;
	tq_scheme_parse("int4-g128", &sch, &err);
	tq_layer_cfg_init(&cfg, TQ_METHOD_RTN, &sch);
	if (tq_plan_new(&cfg, &plan, &err) == TQ_OK &&
	    tq_job_quantize(m, plan, NULL, NULL, 0, &j, &err) == TQ_OK &&
	    tq_job_wait(j, &err) == TQ_OK &&
	    (*st = tq_job_take_state(j)) != NULL)
		tq_model_apply_state(m, *st, &q, &err);
	tq_job_free(j);
	tq_plan_free(plan);
	return q;
}

static void
test_model(const tq_model *m, const char *text, size_t len, const char *tmp)
{
	tq_eval_opts o = TQ_EVAL_OPTS_INIT, lo = TQ_EVAL_OPTS_INIT, fo;
	tq_kld_result self, one, file;
	tq_ppl_result p, pl, saved;
	tq_qstate *st = NULL;
	tq_model *q = quantized(m, &st);
	int32_t *ids = NULL, *lids = NULL;
	int64_t n, ln, V = tq_model_get_config(m)->vocab_size;
	char path[1024];
	tq_error err;
	tq_status s;

	tap_ok(q != NULL, "quantized the demo (RTN int4-g128)");
	o.ctx = 128;
	o.max_tokens = 2048;
	tq_eval_tokenize(m, &o, text, len, &ids, &n, &err);

	/* A model against itself: every number exactly the same. */
	s = tq_eval_compare(m, &m, 1, ids, n, &o, NULL, NULL, &self, &err);
	tap_ok(s == TQ_OK && self.kld == 0.0 && self.kld_q.max == 0.0 &&
	    self.same_top == 1.0 && self.dp_q.min == 0.0 &&
	    self.dp_q.max == 0.0 && self.ppl.ppl == self.ppl_base.ppl,
	    "the model against itself: KLD %g (max %g), same top %.1f%%, "
	    "ppl %.4f = %.4f", self.kld, self.kld_q.max, 100 * self.same_top,
	    self.ppl.ppl, self.ppl_base.ppl);
	fo = o;
	fo.version = 0;
	tap_ok(tq_eval_ppl(m, ids, n, &fo, NULL, NULL, &p, &err) ==
	    TQ_EINVAL && strstr(err.msg, "TQ_EVAL_OPTS_INIT") != NULL &&
	    tq_eval_ctx(m, &fo) == -1, "evaluation options of version 0: %s",
	    err.msg);
	tq_eval_ppl(m, ids, n, &o, NULL, NULL, &p, &err);
	tap_ok(p.ppl == self.ppl_base.ppl && self.n == 16 * 127,
	    "alone, the same perplexity (%.6f) on %lld positions", p.ppl,
	    (long long)self.n);

	/* The llamacpp protocol against two windows scored here. */
	lo.protocol = TQ_PROTOCOL_LLAMACPP;
	lo.ctx = 64;
	lo.max_tokens = 128;
	tq_eval_tokenize(m, &lo, text, len, &lids, &ln, &err);
	{
		float *lg = malloc((size_t)(64 * V) * sizeof(float));
		int32_t win[64];
		double nll = 0.0;
		int w, i, cnt = 0, bos = tq_tokenizer_bos(tq_model_tokenizer(m));
		double lp[8192];

		tap_ok(bos >= 0 && lids[0] == bos && ln == 128,
		    "llamacpp tokenization starts with BOS %d", bos);
		for (w = 0; w < 2; w++) {
			memcpy(win, lids + 64 * w, sizeof(win));
			win[0] = bos;
			tq_forward(m, win, 64, NULL, lg, &err);
			for (i = 32; i < 63; i++) {
				log_probs(lg + i * V, (int)V, lp);
				nll -= lp[lids[64 * w + i + 1]];
				cnt++;
			}
		}
		free(lg);
		s = tq_eval_ppl(m, lids, ln, &lo, NULL, NULL, &pl, &err);
		tap_ok(s == TQ_OK && pl.n_scored == cnt && pl.n_windows == 2 &&
		    close_rel(pl.ppl, exp(nll / cnt), 1e-6),
		    "llamacpp protocol: %lld positions, ppl %.6f, by hand %.6f",
		    (long long)pl.n_scored, pl.ppl, exp(nll / cnt));
		lo.max_tokens = 100;
		s = tq_eval_ppl(m, lids, 100, &lo, NULL, NULL, &pl, &err);
		tap_ok(s == TQ_EINVAL && strstr(err.msg, "2 x ctx") != NULL,
		    "llamacpp protocol wants 2 x ctx tokens: %s", err.msg);
	}

	/* Saved base log-probabilities. */
	snprintf(path, sizeof(path), "%s/base.tqlp", tmp);
	s = tq_eval_save_logits(m, ids, n, &o, path, NULL, NULL, &saved, &err);
	tap_ok(s == TQ_OK && close_rel(saved.ppl, p.ppl, 1e-6) &&
	    access(path, F_OK) == 0,
	    "base log-probs saved (ppl %.6f)", saved.ppl);
	s = tq_eval_kld_file(m, path, NULL, NULL, &fo, &file, &err);
	tap_ok(s == TQ_OK && file.kld < 1e-6 && file.same_top > 0.999 &&
	    close_rel(file.ppl_base.ppl, p.ppl, 1e-4) && fo.ctx == 128 &&
	    fo.protocol == TQ_PROTOCOL_GPTQ,
	    "the model against its own saved log-probs: KLD %.2e, same top "
	    "%.2f%%, base ppl %.6f", file.kld, 100 * file.same_top,
	    file.ppl_base.ppl);
	if (q != NULL) {
		tq_eval_compare(m, (const tq_model *const *)&q, 1, ids, n, &o,
		    NULL, NULL, &one, &err);
		s = tq_eval_kld_file(q, path, NULL, NULL, NULL, &file, &err);
		tap_ok(s == TQ_OK && one.kld > 1e-4 &&
		    close_rel(file.kld, one.kld, 0.01) &&
		    close_rel(file.ppl.ppl, one.ppl.ppl, 1e-9) &&
		    fabs(file.same_top - one.same_top) < 0.005,
		    "W4 against the file: KLD %.6f, in one run %.6f; same top "
		    "%.4f, %.4f", file.kld, one.kld, file.same_top,
		    one.same_top);
	}
	{
		/* A truncated file is refused by name. */
		char cmd[2200], cut[1100];

		snprintf(cut, sizeof(cut), "%s/cut.tqlp", tmp);
		snprintf(cmd, sizeof(cmd), "head -c 100000 %s > %s", path, cut);
		s = system(cmd) == 0 ? tq_eval_kld_file(m, cut, NULL, NULL,
		    NULL, &file, &err) : TQ_EIO;
		tap_ok(s == TQ_EFORMAT && strstr(err.msg, cut) != NULL,
		    "truncated file: %s", err.msg);
		s = tq_eval_kld_file(m, "/nonexistent.tqlp", NULL, NULL, NULL,
		    &file, &err);
		tap_ok(s == TQ_EIO && strstr(err.msg, "/nonexistent") != NULL,
		    "missing file: %s", err.msg);
	}

	/* The job: the same numbers as the direct calls, and long context. */
	if (q != NULL) {
		tq_validate_spec spec = TQ_VALIDATE_SPEC_INIT;
		const tq_model *mods[1] = { q };
		const tq_validation *r;
		tq_job *j = NULL;
		char tpath[1100];
		FILE *f;

		snprintf(tpath, sizeof(tpath), "%s/text.txt", tmp);
		f = fopen(tpath, "wb");
		fwrite(text, 1, len, f);
		fclose(f);
		spec.base = m;
		spec.models = mods;
		spec.n_models = 1;
		spec.text_path = tpath;
		spec.opts = o;
		spec.long_context = 1;
		spec.version = 0;
		tap_ok(tq_job_validate(&spec, &j, &err) == TQ_EINVAL &&
		    j == NULL && strstr(err.msg, "tq_validate_spec") != NULL,
		    "a validation spec of version 0: %s", err.msg);
		spec.version = TQ_VALIDATE_SPEC_VERSION;
		s = tq_job_validate(&spec, &j, &err);
		if (s == TQ_OK)
			s = tq_job_wait(j, &err);
		r = s == TQ_OK ? tq_job_validation(j) : NULL;
		tap_ok(r != NULL && r->has_base && r->models[0].kld == one.kld &&
		    r->base.ppl == p.ppl, "validation job: KLD %.6f, base ppl "
		    "%.4f", r != NULL ? r->models[0].kld : 0.0,
		    r != NULL ? r->base.ppl : 0.0);
		tap_ok(r != NULL && r->n_longctx == 4 &&
		    r->longctx[0].ctx == 64 && r->longctx[3].ctx == 512 &&
		    r->longctx[1].r.kld == one.kld, "long context: %zu lengths "
		    "(64 to 512), ctx 128 equal to the direct run",
		    r != NULL ? r->n_longctx : 0);
		tq_job_free(j);

		/* Cancelled after its first progress: it stops within 1 s. */
		spec.opts.max_tokens = 0;
		spec.long_context = 0;
		if (tq_job_validate(&spec, &j, &err) == TQ_OK) {
			tq_event ev;
			double t0 = 0.0;
			int got = 0;

			while (!got) {
				struct timespec ts = { 0, 1000000 };

				while (tq_job_poll(j, &ev))
					if (ev.kind == TQ_EVENT_PROGRESS ||
					    ev.kind >= TQ_EVENT_DONE)
						got = 1;
				nanosleep(&ts, NULL);
			}
			t0 = now();
			tq_job_cancel(j);
			s = tq_job_wait(j, &err);
			tap_ok(s == TQ_ECANCELLED && now() - t0 < 1.0 &&
			    tq_job_validation(j) != NULL, "a cancelled validation "
			    "stops in %.3f s", now() - t0);
			tq_job_free(j);
		}
	}
	tq_ids_free(ids);
	tq_ids_free(lids);
	tq_model_close(q);
	tq_state_free(st);
}

/* Log-likelihood of cont after ctx, the plain way (both non-empty). */
static double
ll_plain(const tq_model *m, const char *ctx, const char *cont)
{
	const tq_tokenizer *tok = tq_model_tokenizer(m);
	int64_t V = tq_model_get_config(m)->vocab_size;
	char whole[1024];
	int32_t *a, *b;
	size_t na, nb, i;
	float *lg;
	double ll = 0.0, lp[8192];
	tq_error err;

	snprintf(whole, sizeof(whole), "%s%s", ctx, cont);
	tq_tokenizer_encode(tok, ctx, strlen(ctx), 0, &a, &na, &err);
	tq_tokenizer_encode(tok, whole, strlen(whole), 0, &b, &nb, &err);
	lg = malloc(nb * (size_t)V * sizeof(float));
	tq_forward(m, b, (int64_t)nb - 1, NULL, lg, &err);
	for (i = na; i < nb; i++) {
		log_probs(lg + (i - 1) * V, (int)V, lp);
		ll += lp[b[i]];
	}
	free(lg);
	tq_ids_free(a);
	tq_ids_free(b);
	return ll;
}

static void
test_tasks(const tq_model *m, const char *top, const char *tmp)
{
	char path[1024], bad[1100];
	tq_tasks_result r;
	tq_task *t;
	size_t n, i;
	int k, hit = 0, hitn = 0;
	tq_error err;
	tq_status s;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/data/tasks/demo.jsonl", top);
	if (tq_tasks__load(path, 0, &t, &n, &err) != TQ_OK) {
		tap_ok(0, "task file loads: %s", err.msg);
		return;
	}
	for (i = 0; i < n; i++) {
		double best = -INFINITY, bestn = -INFINITY;
		int bi = 0, bn = 0;

		for (k = 0; k < t[i].n_choices; k++) {
			double ll = ll_plain(m, t[i].context, t[i].choices[k]);

			if (ll > best) {
				best = ll;
				bi = k;
			}
			ll /= (double)strlen(t[i].choices[k]);
			if (ll > bestn) {
				bestn = ll;
				bn = k;
			}
		}
		hit += bi == t[i].label;
		hitn += bn == t[i].label;
	}
	s = tq_eval__tasks(m, path, 0, NULL, NULL, &r, &err);
	tap_ok(s == TQ_OK && r.n == (int64_t)n &&
	    fabs(r.acc - (double)hit / n) < 1e-12 &&
	    fabs(r.acc_norm - (double)hitn / n) < 1e-12,
	    "tasks: acc %.3f, acc_norm %.3f over %lld questions (here %d, %d)",
	    r.acc, r.acc_norm, (long long)r.n, hit, hitn);
	tap_ok(r.acc > 0.5, "the demo model answers most demo questions "
	    "(acc %.2f)", r.acc);
	tq_tasks__free(t, n);

	snprintf(bad, sizeof(bad), "%s/bad.jsonl", tmp);
	f = fopen(bad, "w");
	fputs("{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"label\": 0}\n"
	    "\n{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"label\": 2}\n",
	    f);
	fclose(f);
	s = tq_eval__tasks(m, bad, 0, NULL, NULL, &r, &err);
	tap_ok(s == TQ_EFORMAT && strstr(err.msg, "bad.jsonl:3:") != NULL &&
	    strstr(err.msg, "label") != NULL, "a bad label is named with its "
	    "line: %s", err.msg);
	f = fopen(bad, "w");
	fputs("{\"context\": \"a\", \"choices\": [\" b\"], \"label\": 0}\n", f);
	fclose(f);
	s = tq_eval__tasks(m, bad, 0, NULL, NULL, &r, &err);
	tap_ok(s == TQ_EFORMAT && strstr(err.msg, "choices") != NULL,
	    "one choice is refused: %s", err.msg);
}

/* A NaN or infinite perplexity or KLD is an error, never a result. */
static void
test_not_finite(void)
{
	tq_nll_acc a = { 0, 0, 0 };
	tq_ppl_result p;
	tq_kld_acc k;
	tq_kld_result r;
	tq_error err = { TQ_OK, "" };

	tq_eval__nll_add(&a, 1.0);
	tq_eval__nll_add(&a, NAN);
	tap_ok(tq_eval__nll_result(&a, &p, &err) == TQ_EFORMAT &&
	    strstr(err.msg, "perplexity is") != NULL &&
	    strstr(err.msg, "not a finite number") != NULL,
	    "a NaN log-likelihood: %s", err.msg);
	a.sum = 1e308;
	a.sum_sq = 0;
	a.count = 1;
	tap_ok(tq_eval__nll_result(&a, &p, &err) == TQ_EFORMAT &&
	    strstr(err.msg, "perplexity is inf") != NULL,
	    "an infinite perplexity: %s", err.msg);
	tq_eval__kld_init(&k);
	k.count = k.nll.count = k.nll_base.count = k.cap = 12;
	k.kld = calloc(12, sizeof(float));
	k.dp = calloc(12, sizeof(float));
	k.sum_kld = INFINITY;
	k.sum_kld2 = INFINITY;
	tap_ok(tq_eval__kld_result(&k, NULL, &r, &err) == TQ_EFORMAT &&
	    strstr(err.msg, "KL divergence is") != NULL,
	    "an infinite KLD: %s", err.msg);
	tq_eval__kld_done(&k);
}

int
main(void)
{
	const char *top = getenv("top_srcdir");
	const char *data = getenv("TQ_SHARED_DATA");
	char demo[1024], textp[1024], tmp[] = "/tmp/tq-eval-XXXXXX";
	tq_model *m = NULL;
	tq_error err;
	char *text = NULL;
	size_t len;

	top = top != NULL ? top : ".";
	snprintf(demo, sizeof(demo), "%s/assets/demo", top);
	snprintf(textp, sizeof(textp), "%s/wikitext2-test.txt",
	    data != NULL ? data : "../shared/data");
	test_hand_built();
	test_not_finite();
	if (mkdtemp(tmp) == NULL || tq_model_open(demo, &m, &err) != TQ_OK ||
	    tq_read_text(textp, &text, &len, &err) != TQ_OK) {
		tap_ok(0, "setup: %s", err.msg);
		return tap_done();
	}
	if (len > 200000)
		len = 200000;	/* plenty for 2048 tokens */
	test_model(m, text, len, tmp);
	test_tasks(m, top, tmp);
	tq_string_free(text);
	tq_model_close(m);
	tap_rmdir(tmp);
	return tap_done();
}
