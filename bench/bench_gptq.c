/*
 * bench_gptq.c: time and peak memory of whole-model quantization.
 *
 * Usage: bench_gptq MODEL_DIR --calib FILE [--samples N] [--seqlen L]
 *     [--method M] [--scheme S] [--threads T] [--json]
 *
 * In one run it (a) measures this machine's OpenBLAS sgemm peak with the
 * same thread count, (b) samples the calibration windows (timed apart),
 * (c) runs the engine's quantization job over every block (default GPTQ
 * int4-g128, 128 x 512 tokens), and (d) reports the wall time, the peak
 * resident set size, and the achieved FLOP rate by the cost model of
 * ../shared/docs/references.md section 2.4 as a fraction of the sgemm
 * peak.  The cost model counts, per block and N calibration tokens:
 * one Hessian per shared input by SYRK (N n^2: q/k/v, o, gate/up, down),
 * the Cholesky work 4/3 n^3 and the column updates m n^2 per linear, and
 * two forward passes of the block (2 * 2 P N for its P weights plus causal
 * attention, 2 L^2 (n_heads hd) per sequence each).
 *
 * Only the public API (tq.h) and cblas.h are used.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cblas.h>

#include "bench_util.h"
#include "tq.h"

typedef struct gptq_opts {
	const char *dir, *calib, *method, *scheme;
	long samples, seqlen, threads;
	int json;
} gptq_opts;

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: bench_gptq MODEL_DIR --calib FILE [--samples N] "
	    "[--seqlen L]\n"
	    "                  [--method M] [--scheme S] [--threads T] "
	    "[--json]\n"
	    "  --samples N  calibration windows (default 128)\n"
	    "  --seqlen L   tokens per window (default 512)\n"
	    "  --method M   rtn, gptq, awq, smoothquant (default gptq)\n"
	    "  --scheme S   the grid (default int4-g128)\n"
	    "  --threads T  BLAS threads, 0 = all cores (default 0)\n"
	    "  --json       one JSON object instead of a table\n");
}

static int
parse_args(int argc, char **argv, gptq_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->samples = 128;
	o->seqlen = 512;
	o->method = "gptq";
	o->scheme = "int4-g128";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (strcmp(a, "--json") == 0) {
			o->json = 1;
			continue;
		}
		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (a[0] != '-') {
			if (o->dir != NULL) {
				fprintf(stderr, "bench_gptq: more than one model\n");
				return -1;
			}
			o->dir = a;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "bench_gptq: %s needs a value\n", a);
			return -1;
		}
		i++;
		if (strcmp(a, "--calib") == 0) {
			o->calib = v;
		} else if (strcmp(a, "--method") == 0) {
			o->method = v;
		} else if (strcmp(a, "--scheme") == 0) {
			o->scheme = v;
		} else if (strcmp(a, "--samples") == 0 ||
		    strcmp(a, "--seqlen") == 0 || strcmp(a, "--threads") == 0) {
			long n = strtol(v, &end, 10);

			if (*end != '\0' || n < 0 || n > 1000000) {
				fprintf(stderr, "bench_gptq: %s: \"%s\" is not a "
				    "count\n", a, v);
				return -1;
			}
			if (a[2] == 's' && a[3] == 'a')
				o->samples = n;
			else if (a[2] == 's')
				o->seqlen = n;
			else
				o->threads = n;
		} else {
			fprintf(stderr, "bench_gptq: unknown option %s\n", a);
			return -1;
		}
	}
	if (o->dir == NULL || o->calib == NULL) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/*
 * FLOPs of the cost model (see the top of the file) for N tokens in
 * windows of L; the linears' shapes and the forward pass's count are the
 * engine's.
 */
static double
cost_flops(const tq_model *m, double N, double L)
{
	const tq_model_config *c = tq_model_get_config(m);
	double d = (double)c->hidden_size, ff = (double)c->intermediate_size;
	double qd = (double)(c->n_heads * c->head_dim);
	double hess = N * (d * d + qd * qd + d * d + ff * ff);
	double solve = 0.0, total = 0.0, lin, att;
	int64_t rows, cols, li;
	size_t k;

	/* The blocks' linears: all but the last two (lm_head, embeddings). */
	for (k = 0; k + 2 < tq_model_n_linears(m); k++)
		if (tq_model_linear_shape(m, k, &rows, &cols) == TQ_OK)
			solve += 4.0 / 3.0 * (double)cols * (double)cols *
			    (double)cols + (double)rows * (double)cols *
			    (double)cols;
	for (li = 0; li < c->n_layers; li++) {
		tq_forward_flops(m, li, (int64_t)L, &lin, &att);
		total += hess + 2.0 * (lin + att) * (N / L);
	}
	return total + solve;
}

int
main(int argc, char **argv)
{
	gptq_opts o;
	tq_model *m = NULL;
	tq_calib *cal = NULL;
	tq_plan *plan = NULL;
	tq_job *job = NULL;
	tq_qstate *s = NULL;
	tq_calib_opts co = TQ_CALIB_OPTS_INIT;
	tq_layer_cfg cfg;
	tq_scheme sch;
	tq_method meth;
	tq_error err;
	struct rusage ru;
	cpu_sample c0, c1;
	double peak, t0, t_sample, t_quant, flops, N, others, mean_err = 0.0;
	int peak_n = 0;
	size_t i, nq = 0;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	tq_set_threads((int)o.threads);
	peak = bench_sgemm_peak(&peak_n);
	if (tq_model_open(o.dir, &m, &err) != TQ_OK ||
	    tq_method_parse(o.method, &meth, &err) != TQ_OK ||
	    tq_scheme_parse(o.scheme, &sch, &err) != TQ_OK)
		goto fail;
	co.n_samples = o.samples;
	co.seqlen = o.seqlen;
	t0 = bench_now();
	if (tq_calib_sample(m, o.calib, &co, &cal, &err) != TQ_OK)
		goto fail;
	t_sample = bench_now() - t0;
	tq_layer_cfg_init(&cfg, meth, &sch);
	if (tq_plan_new(&cfg, &plan, &err) != TQ_OK)
		goto fail;
	bench_cpu_sample(&c0);
	t0 = bench_now();
	if (tq_job_quantize(m, plan, cal, NULL, 0, &job, &err) != TQ_OK ||
	    tq_job_wait(job, &err) != TQ_OK)
		goto fail;
	t_quant = bench_now() - t0;
	bench_cpu_sample(&c1);
	others = bench_cpu_others(&c0, &c1);
	s = tq_job_take_state(job);
	for (i = 0; s != NULL && i < tq_state_n_results(s); i++) {
		const tq_layer_result *r = tq_state_result(s, i);

		if (r->layer >= 0) {
			mean_err += r->rel_err;
			nq++;
		}
	}
	mean_err /= nq > 0 ? (double)nq : 1.0;
	getrusage(RUSAGE_SELF, &ru);
	N = (double)tq_calib_n_samples(cal) * (double)tq_calib_seqlen(cal);
	flops = cost_flops(m, N,
	    (double)tq_calib_seqlen(cal));
	if (o.json) {
		printf("{\"model\":\"%s\",\"method\":\"%s\",\"scheme\":\"%s\","
		    "\"samples\":%lld,\"seqlen\":%lld,\"threads\":%d,"
		    "\"sample_s\":%.3f,\"quantize_s\":%.3f,\"cost_flops\":%.4g,"
		    "\"gflops\":%.2f,\"sgemm_peak_gflops\":%.2f,"
		    "\"fraction_of_peak\":%.4f,\"peak_rss_mb\":%.1f,"
		    "\"file_mb\":%.1f,\"mean_rel_err\":%.6g,"
		    "\"other_cpus_busy\":%.2f}\n", o.dir, o.method, o.scheme,
		    (long long)tq_calib_n_samples(cal),
		    (long long)tq_calib_seqlen(cal), tq_get_threads(), t_sample,
		    t_quant, flops, flops / t_quant * 1e-9, peak,
		    flops / t_quant * 1e-9 / peak, (double)ru.ru_maxrss / 1024.0,
		    (double)tq_model_file_bytes(m) / 1048576.0, mean_err, others);
	} else {
		printf("model            %s\n", o.dir);
		printf("job              %s %s, %lld x %lld calibration tokens\n",
		    o.method, o.scheme, (long long)tq_calib_n_samples(cal),
		    (long long)tq_calib_seqlen(cal));
		printf("sampling         %.2f s\n", t_sample);
		printf("quantization     %.2f s\n", t_quant);
		printf("cost model       %.4g FLOP, %.1f GFLOP/s\n", flops,
		    flops / t_quant * 1e-9);
		printf("sgemm peak       %.1f GFLOP/s (n = %d)\n", peak, peak_n);
		printf("fraction of peak %.1f %%\n",
		    100.0 * flops / t_quant * 1e-9 / peak);
		printf("peak RSS         %.1f MB (weights file %.1f MB)\n",
		    (double)ru.ru_maxrss / 1024.0,
		    (double)tq_model_file_bytes(m) / 1048576.0);
		printf("mean rel. error  %.4g over %zu block linears\n", mean_err,
		    nq);
		printf("other processes  %.2f CPUs busy on average\n", others);
	}
	tq_state_free(s);
	tq_job_free(job);
	tq_plan_free(plan);
	tq_calib_free(cal);
	tq_model_close(m);
	return 0;
fail:
	fprintf(stderr, "bench_gptq: %s\n", err.msg);
	tq_job_free(job);
	tq_plan_free(plan);
	tq_calib_free(cal);
	tq_model_close(m);
	return 1;
}
