/*
 * bench_util.h: shared helpers of the benchmarks in bench/.
 */
#ifndef TQ_BENCH_UTIL_H
#define TQ_BENCH_UTIL_H

/* Machine-wide busy time and this process's CPU time, in seconds. */
typedef struct cpu_sample {
	double wall, busy, self;
	int ok;
} cpu_sample;

/* Monotonic seconds. */
double bench_now(void);
/* The 1-minute load average, or -1. */
double bench_load_average(void);
/* Machine-wide busy time and this process's CPU time, now. */
void bench_cpu_sample(cpu_sample *cs);
/*
 * How many CPUs, on average, other processes kept busy between a and b:
 * a benchmark sharing the machine is not measuring the engine alone.
 */
double bench_cpu_others(const cpu_sample *a, const cpu_sample *b);
/*
 * Best GFLOP/s of C = A B over a few square sizes (OpenBLAS, its current
 * thread count), each run several times after one untimed call; *best_n
 * gets the size that gave it.
 */
double bench_sgemm_peak(int *best_n);

#endif /* TQ_BENCH_UTIL_H */
