/*
 * par.c: independent rows split over threads.
 *
 * Threads are started per call and joined before it returns: the callers
 * (RTN over a weight, one GPTQ batch of columns) do milliseconds to
 * seconds of work per call, so a pool would save nothing measurable.
 */
#include "config.h"

#include <pthread.h>

#include "par.h"
#include "tq.h"

#define PAR_MAX_THREADS 64

typedef struct par_slice {
	tq_rows_fn fn;
	void *arg;
	int64_t r0, r1;
} par_slice;

static void *
par_thread(void *p)
{
	par_slice *s = p;

	s->fn(s->arg, s->r0, s->r1);
	return NULL;
}

void
tq_par_rows(tq_rows_fn fn, void *arg, int64_t rows, int64_t row_work,
    int64_t min_work)
{
	par_slice sl[PAR_MAX_THREADS];
	pthread_t tid[PAR_MAX_THREADS];
	int started[PAR_MAX_THREADS];
	int64_t n = tq_get_threads(), i;

	if (n > PAR_MAX_THREADS)
		n = PAR_MAX_THREADS;
	if (min_work > 0 && n > rows * row_work / min_work)
		n = rows * row_work / min_work;
	if (n > rows)
		n = rows;
	if (n < 1)
		n = 1;
	for (i = 0; i < n; i++) {
		sl[i].fn = fn;
		sl[i].arg = arg;
		sl[i].r0 = rows * i / n;
		sl[i].r1 = rows * (i + 1) / n;
	}
	for (i = 1; i < n; i++)
		started[i] = pthread_create(&tid[i], NULL, par_thread,
		    &sl[i]) == 0;
	fn(arg, sl[0].r0, sl[0].r1);
	for (i = 1; i < n; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
		else
			fn(arg, sl[i].r0, sl[i].r1);
	}
}

typedef struct par_tasks {
	tq_task_fn fn;		/* either fn */
	tq_slot_fn slot_fn;	/* or slot_fn */
	void *arg;
	int64_t n;
	int64_t next;		/* the next task to take (atomic) */
} par_tasks;

typedef struct par_worker {
	par_tasks *pt;
	int slot;
} par_worker;

static void *
par_task_thread(void *p)
{
	par_worker *w = p;
	par_tasks *pt = w->pt;
	int64_t i;

	while ((i = __atomic_fetch_add(&pt->next, 1, __ATOMIC_RELAXED)) <
	    pt->n) {
		if (pt->slot_fn != NULL)
			pt->slot_fn(pt->arg, w->slot, i);
		else
			pt->fn(pt->arg, i);
	}
	return NULL;
}

static void
par_run(par_tasks *pt, int64_t nt)
{
	pthread_t tid[PAR_MAX_THREADS];
	par_worker w[PAR_MAX_THREADS];
	int started[PAR_MAX_THREADS];
	int64_t i;

	if (nt > PAR_MAX_THREADS)
		nt = PAR_MAX_THREADS;
	if (nt > pt->n)
		nt = pt->n;
	for (i = 0; i < nt || i < 1; i++) {
		w[i].pt = pt;
		w[i].slot = (int)i;
	}
	for (i = 1; i < nt; i++)
		started[i] = pthread_create(&tid[i], NULL, par_task_thread,
		    &w[i]) == 0;
	/* The caller works too; it ends when every task is taken. */
	par_task_thread(&w[0]);
	for (i = 1; i < nt; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
}

void
tq_par_tasks(tq_task_fn fn, void *arg, int64_t n)
{
	par_tasks pt = { fn, NULL, arg, n, 0 };

	par_run(&pt, tq_get_threads());
}

void
tq_par_tasks_slots(tq_slot_fn fn, void *arg, int64_t n, int slots)
{
	par_tasks pt = { NULL, fn, arg, n, 0 };
	int64_t nt = tq_get_threads();

	par_run(&pt, nt < slots ? nt : slots);
}
