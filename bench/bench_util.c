/*
 * bench_util.c: what every benchmark measures besides its own work: the
 * clock, this machine's sgemm peak, and how busy other processes keep it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "bench_util.h"

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


double
bench_load_average(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l = -1.0;

	if (f == NULL)
		return -1.0;
	if (fscanf(f, "%lf", &l) != 1)
		l = -1.0;
	fclose(f);
	return l;
}

void
bench_cpu_sample(cpu_sample *cs)
{
	unsigned long long v[8] = { 0 };
	struct rusage ru;
	FILE *f = fopen("/proc/stat", "r");
	long hz = sysconf(_SC_CLK_TCK);

	cs->ok = 0;
	cs->wall = bench_now();
	if (f != NULL) {
		/* cpu user nice system idle iowait irq softirq steal */
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
		    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
		    &v[7]) == 8 && hz > 0) {
			cs->busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] +
			    v[7]) / (double)hz;
			cs->ok = 1;
		}
		fclose(f);
	}
	getrusage(RUSAGE_SELF, &ru);
	cs->self = (double)ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec +
	    (double)ru.ru_stime.tv_sec + 1e-6 * ru.ru_stime.tv_usec;
}

/*
 * How many CPUs, on average, other processes kept busy between a and b:
 * a benchmark sharing the machine is not measuring the engine alone.
 */
double
bench_cpu_others(const cpu_sample *a, const cpu_sample *b)
{
	double wall = b->wall - a->wall, o;

	if (!a->ok || !b->ok || wall <= 0)
		return -1.0;
	o = (b->busy - a->busy - (b->self - a->self)) / wall;
	return o > 0 ? o : 0.0;
}

/*
 * Best GFLOP/s of C = A B over a few square sizes, each run several times
 * after one untimed call (which also starts OpenBLAS's threads).
 */
double
bench_sgemm_peak(int *best_n)
{
	static const int sizes[] = { 1024, 2048 };
	static const int reps[] = { 8, 4 };
	size_t max = 2048, k;
	float *a, *b, *c;
	double best = 0.0;
	unsigned s;

	a = malloc(max * max * sizeof(float));
	b = malloc(max * max * sizeof(float));
	c = malloc(max * max * sizeof(float));
	if (a == NULL || b == NULL || c == NULL) {
		free(a);
		free(b);
		free(c);
		return 0.0;
	}
	for (k = 0; k < max * max; k++) {
		a[k] = (float)((k * 7 + 3) % 17) * 0.01f - 0.08f;
		b[k] = (float)((k * 5 + 1) % 13) * 0.01f - 0.06f;
	}
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int n = sizes[s], r;
		double fl = 2.0 * n * (double)n * n;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
		    1.0f, a, n, b, n, 0.0f, c, n);
		for (r = 0; r < reps[s]; r++) {
			double t0 = bench_now(), g;

			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
			    n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
			g = fl / (bench_now() - t0) * 1e-9;
			if (g > best) {
				best = g;
				*best_n = n;
			}
		}
	}
	free(a);
	free(b);
	free(c);
	return best;
}
