/*
 * bench_forward.c: throughput of the fp32 prefill forward pass.
 *
 * Usage: bench_forward MODEL_DIR [--tokens N] [--reps R] [--threads T]
 *     [--json]
 *
 * In one run it (a) measures this machine's OpenBLAS sgemm peak with the
 * same thread count (best of several large square products), (b) runs
 * tq_forward() on N deterministic token ids once to warm up and R more
 * times, timing each, (c) turns the best and median times into tokens/s
 * and GFLOP/s with a simple FLOP count (2 * linear parameters * N plus
 * causal attention) and a fraction of the sgemm peak, and (d) reports the
 * peak resident set size.  Every pass computes all N x V logits (the timed
 * ones hand them to a callback that drops them), as transformers does.
 * The ids are ((i * 1103515245 + 12345) mod 2^31) mod V, so
 * bench/peer_torch.py can feed transformers the same sequence.
 *
 * Only the public API (tq.h) and cblas.h are used.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "bench_util.h"
#include "tq.h"

#define DEFAULT_TOKENS	512
#define DEFAULT_REPS	3

typedef struct bench_opts {
	const char *dir;
	int64_t tokens;
	int reps;
	int threads;		/* 0 = all cores */
	int json;
} bench_opts;

typedef struct bench_result {
	double peak_gflops;	/* best sgemm GFLOP/s */
	int peak_n;		/* the size that gave it */
	double open_s;		/* tq_model_open */
	double warm_s;		/* the warm-up forward */
	double best_s, median_s;
	double flops;		/* per forward */
	double linear_flops, attn_flops;
	double logits_sum;	/* checksum of the warm-up logits */
	int64_t last_argmax;	/* argmax of the last position's logits */
	long rss_kb;		/* peak RSS */
	double load1;		/* 1-minute load average before the run */
	double others;		/* CPUs busy with other processes, timed reps */
} bench_result;

/* Checksum state for the warm-up run's logits callback. */
typedef struct logits_sum {
	int64_t n, V;
	double sum;
	int64_t argmax;
} logits_sum;

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}


static void
usage(FILE *fp)
{
	fprintf(fp, "usage: bench_forward MODEL_DIR [--tokens N] [--reps R] "
	    "[--threads T] [--json]\n"
	    "  --tokens N   tokens per forward pass (default %d)\n"
	    "  --reps R     timed passes after one warm-up (default %d)\n"
	    "  --threads T  BLAS threads, 0 = all cores (default 0)\n"
	    "  --json       print one JSON object instead of a table\n",
	    DEFAULT_TOKENS, DEFAULT_REPS);
}

static int
parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int
parse_args(int argc, char **argv, bench_opts *o)
{
	int i;
	long v;

	memset(o, 0, sizeof(*o));
	o->tokens = DEFAULT_TOKENS;
	o->reps = DEFAULT_REPS;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--json") == 0) {
			o->json = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "--tokens") == 0 ||
		    strcmp(a, "--reps") == 0 || strcmp(a, "--threads") == 0) {
			long lo = strcmp(a, "--threads") == 0 ? 0 : 1;

			if (i + 1 >= argc ||
			    parse_int(argv[i + 1], lo, 1L << 20, &v) != 0) {
				fprintf(stderr, "bench_forward: %s needs an "
				    "integer >= %ld\n", a, lo);
				return -1;
			}
			i++;
			if (a[2] == 't' && a[3] == 'o')
				o->tokens = v;
			else if (a[2] == 'r')
				o->reps = (int)v;
			else
				o->threads = (int)v;
		} else if (a[0] == '-') {
			fprintf(stderr, "bench_forward: unknown option %s\n", a);
			return -1;
		} else if (o->dir == NULL) {
			o->dir = a;
		} else {
			fprintf(stderr, "bench_forward: more than one model "
			    "directory\n");
			return -1;
		}
	}
	if (o->dir == NULL) {
		usage(stderr);
		return -1;
	}
	return 0;
}


/*
 * Takes the logits and does nothing with them: the timed passes pass it so
 * that tq_forward() computes lm_head (it skips it when nobody wants logits),
 * as transformers does.
 */
static int
drop_logits(void *ud, int64_t pos0, int64_t n, const float *logits)
{
	(void)ud;
	(void)pos0;
	(void)n;
	(void)logits;
	return 0;
}

/* Sums the logits and tracks the last position's argmax. */
static int
sum_logits(void *ud, int64_t pos0, int64_t n, const float *logits)
{
	logits_sum *ls = ud;
	int64_t i, j, V = ls->V;

	for (i = 0; i < n; i++) {
		const float *row = logits + i * V;
		double s = 0.0;

		for (j = 0; j < V; j++)
			s += row[j];
		ls->sum += s;
		if (pos0 + i == ls->n - 1) {
			int64_t am = 0;

			for (j = 1; j < V; j++)
				if (row[j] > row[am])
					am = j;
			ls->argmax = am;
		}
	}
	return 0;
}

/* FLOPs of one forward pass of n tokens, split into linear and attention. */
static void
count_flops(const tq_model *m, int64_t n, bench_result *r)
{
	const tq_model_config *c = tq_model_get_config(m);
	double lin, att;
	int64_t li;

	r->linear_flops = r->attn_flops = 0.0;
	for (li = -1; li < c->n_layers; li++) {
		tq_forward_flops(m, li, n, &lin, &att);
		r->linear_flops += lin;
		r->attn_flops += att;
	}
	r->flops = r->linear_flops + r->attn_flops;
}

static int
run_forward(const tq_model *m, const bench_opts *o, int32_t *ids,
    bench_result *r)
{
	const tq_model_config *c = tq_model_get_config(m);
	tq_forward_opts fo = TQ_FORWARD_OPTS_INIT;
	tq_forward_opts timed = TQ_FORWARD_OPTS_INIT;
	logits_sum ls;
	cpu_sample c0, c1;
	tq_error err;
	double *t;
	int i;

	t = calloc((size_t)o->reps, sizeof(double));
	if (t == NULL) {
		fprintf(stderr, "bench_forward: out of memory\n");
		return -1;
	}
	/* Warm-up: the only run that pays for the checksum. */
	memset(&ls, 0, sizeof(ls));
	ls.n = o->tokens;
	ls.V = c->vocab_size;
	fo.logits_cb = sum_logits;
	fo.logits_ud = &ls;
	r->warm_s = bench_now();
	if (tq_forward(m, ids, o->tokens, &fo, NULL, &err) != TQ_OK) {
		fprintf(stderr, "bench_forward: %s\n", err.msg);
		free(t);
		return -1;
	}
	r->warm_s = bench_now() - r->warm_s;
	r->logits_sum = ls.sum;
	r->last_argmax = ls.argmax;
	timed.logits_cb = drop_logits;
	bench_cpu_sample(&c0);
	for (i = 0; i < o->reps; i++) {
		double t0 = bench_now();

		if (tq_forward(m, ids, o->tokens, &timed, NULL, &err) !=
		    TQ_OK) {
			fprintf(stderr, "bench_forward: %s\n", err.msg);
			free(t);
			return -1;
		}
		t[i] = bench_now() - t0;
		if (!o->json)
			fprintf(stderr, "  rep %d/%d: %.1f ms\n", i + 1,
			    o->reps, 1e3 * t[i]);
	}
	bench_cpu_sample(&c1);
	r->others = bench_cpu_others(&c0, &c1);
	qsort(t, (size_t)o->reps, sizeof(double), cmp_double);
	r->best_s = t[0];
	r->median_s = o->reps % 2 ? t[o->reps / 2] :
	    0.5 * (t[o->reps / 2 - 1] + t[o->reps / 2]);
	free(t);
	return 0;
}

/* Prints s as a JSON string. */
static void
print_json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* The dtype of the first matrix in the checkpoint, as stored. */
static const char *
weights_dtype(const tq_model *m)
{
	size_t i, nt = tq_model_n_tensors(m);
	tq_tensor_info ti;

	for (i = 0; i < nt; i++) {
		tq_model_tensor(m, i, &ti);
		if (ti.ndim == 2)
			return tq_dtype_name(ti.dtype);
	}
	return "?";
}

static void
print_json(const tq_model *m, const bench_opts *o, const bench_result *r)
{
	const tq_model_config *c = tq_model_get_config(m);
	double n = (double)o->tokens;

	printf("{\"engine\":\"turboquant\",\"version\":\"%s\",\"model\":",
	    tq_version());
	print_json_str(tq_model_path(m));
	printf(",\"arch\":\"%s\",\"weights_dtype\":\"%s\",\"n_layers\":%lld,"
	    "\"hidden_size\":%lld,\"vocab_size\":%lld,"
	    "\"tokens\":%lld,\"reps\":%d,\"threads\":%d,\"blas_core\":",
	    tq_arch_name(c->arch), weights_dtype(m), (long long)c->n_layers,
	    (long long)c->hidden_size, (long long)c->vocab_size,
	    (long long)o->tokens, o->reps, tq_get_threads());
	print_json_str(openblas_get_corename());
	putchar(',');
	printf("\"open_seconds\":%.4f,\"warmup_seconds\":%.4f,"
	    "\"best_seconds\":%.4f,\"median_seconds\":%.4f,"
	    "\"tokens_per_second\":%.2f,\"tokens_per_second_median\":%.2f,",
	    r->open_s, r->warm_s, r->best_s, r->median_s, n / r->best_s,
	    n / r->median_s);
	printf("\"gflop_per_forward\":%.3f,\"linear_gflop\":%.3f,"
	    "\"attention_gflop\":%.3f,\"gflops\":%.2f,"
	    "\"gflops_median\":%.2f,\"sgemm_peak_gflops\":%.2f,"
	    "\"sgemm_peak_n\":%d,\"fraction_of_peak\":%.4f,",
	    r->flops * 1e-9, r->linear_flops * 1e-9, r->attn_flops * 1e-9,
	    r->flops / r->best_s * 1e-9, r->flops / r->median_s * 1e-9,
	    r->peak_gflops, r->peak_n,
	    r->peak_gflops > 0 ? r->flops / r->best_s * 1e-9 / r->peak_gflops :
	    0.0);
	printf("\"peak_rss_mb\":%.1f,\"file_mb\":%.1f,\"load_average\":%.2f,"
	    "\"other_cpus_busy\":%.2f,"
	    "\"logits_sum\":%.6e,\"last_argmax\":%lld}\n",
	    (double)r->rss_kb / 1024.0,
	    (double)tq_model_file_bytes(m) / (1024.0 * 1024.0), r->load1,
	    r->others, r->logits_sum, (long long)r->last_argmax);
}

static void
print_table(const tq_model *m, const bench_opts *o, const bench_result *r)
{
	const tq_model_config *c = tq_model_get_config(m);
	double n = (double)o->tokens, g = r->flops / r->best_s * 1e-9;

	printf("model            %s (%s %s, %lld layers, H %lld, V %lld)\n",
	    tq_model_path(m), tq_arch_name(c->arch), weights_dtype(m),
	    (long long)c->n_layers,
	    (long long)c->hidden_size, (long long)c->vocab_size);
	printf("threads          %d (load average %.2f before the run; other "
	    "processes kept %.2f CPUs busy during the timed reps)\n",
	    tq_get_threads(), r->load1, r->others);
	printf("tokens x reps    %lld x %d (+1 warm-up, %.1f ms)\n",
	    (long long)o->tokens, o->reps, 1e3 * r->warm_s);
	printf("open             %.1f ms\n", 1e3 * r->open_s);
	printf("forward          best %.1f ms, median %.1f ms\n",
	    1e3 * r->best_s, 1e3 * r->median_s);
	printf("tokens/s         best %.1f, median %.1f\n", n / r->best_s,
	    n / r->median_s);
	printf("GFLOP/forward    %.2f (linear %.2f, attention %.2f)\n",
	    r->flops * 1e-9, r->linear_flops * 1e-9, r->attn_flops * 1e-9);
	printf("achieved         %.1f GFLOP/s (median %.1f)\n", g,
	    r->flops / r->median_s * 1e-9);
	printf("sgemm peak       %.1f GFLOP/s (n = %d, OpenBLAS core %s)\n",
	    r->peak_gflops, r->peak_n, openblas_get_corename());
	printf("fraction of peak %.1f %%\n",
	    r->peak_gflops > 0 ? 100.0 * g / r->peak_gflops : 0.0);
	printf("peak RSS         %.1f MB (weights file %.1f MB)\n",
	    (double)r->rss_kb / 1024.0,
	    (double)tq_model_file_bytes(m) / (1024.0 * 1024.0));
	printf("logits checksum  sum %.6e, last-position argmax %lld\n",
	    r->logits_sum, (long long)r->last_argmax);
}

int
main(int argc, char **argv)
{
	bench_opts o;
	bench_result r;
	tq_model *m = NULL;
	const tq_model_config *c;
	tq_error err;
	struct rusage ru;
	int32_t *ids;
	int64_t i;
	int rc;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	memset(&r, 0, sizeof(r));
	r.load1 = bench_load_average();
	tq_set_threads(o.threads);

	r.peak_gflops = bench_sgemm_peak(&r.peak_n);

	r.open_s = bench_now();
	if (tq_model_open(o.dir, &m, &err) != TQ_OK) {
		fprintf(stderr, "bench_forward: %s\n", err.msg);
		return 1;
	}
	r.open_s = bench_now() - r.open_s;
	c = tq_model_get_config(m);
	ids = malloc((size_t)o.tokens * sizeof(int32_t));
	if (ids == NULL) {
		fprintf(stderr, "bench_forward: out of memory\n");
		tq_model_close(m);
		return 1;
	}
	for (i = 0; i < o.tokens; i++) {
		uint64_t x = ((uint64_t)i * 1103515245u + 12345u) & 0x7fffffffu;

		ids[i] = (int32_t)(x % (uint64_t)c->vocab_size);
	}
	if (!o.json && o.tokens > c->max_position_embeddings)
		fprintf(stderr, "bench_forward: note: %lld tokens is more than "
		    "max_position_embeddings (%lld)\n", (long long)o.tokens,
		    (long long)c->max_position_embeddings);
	count_flops(m, o.tokens, &r);

	rc = run_forward(m, &o, ids, &r);
	if (rc == 0) {
		getrusage(RUSAGE_SELF, &ru);
		r.rss_kb = ru.ru_maxrss;
		if (o.json)
			print_json(m, &o, &r);
		else
			print_table(m, &o, &r);
	}
	free(ids);
	tq_model_close(m);
	return rc == 0 ? 0 : 1;
}
