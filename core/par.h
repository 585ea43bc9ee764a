/*
 * par.h: independent rows split over threads (internal).
 */
#ifndef TQ_CORE_PAR_H
#define TQ_CORE_PAR_H

#include <stdint.h>

/* Does rows [r0, r1) of the work that arg describes. */
typedef void (*tq_rows_fn)(void *arg, int64_t r0, int64_t r1);

/*
 * Runs fn over rows [0, rows) in contiguous slices, one per thread, with
 * up to tq_get_threads() threads but none with less than min_work units
 * of work (work units per row: row_work).  The calling thread does the
 * first slice; a thread that cannot be started has its slice done by the
 * caller.  Returns when every row is done.  fn must not depend on the
 * split: rows are independent, so the result is the same for any count.
 */
void tq_par_rows(tq_rows_fn fn, void *arg, int64_t rows, int64_t row_work,
    int64_t min_work);

/* Does task `task` of the work that arg describes. */
typedef void (*tq_task_fn)(void *arg, int64_t task);

/*
 * Runs fn(arg, i) for every i in [0, n) on up to tq_get_threads()
 * threads, each taking the next task not yet taken (tasks of unequal
 * size balance themselves).  fn must give the same result whichever
 * thread runs a task and in whatever order.  Returns when all are done.
 */
void tq_par_tasks(tq_task_fn fn, void *arg, int64_t n);

/* Does task `task` with the scratch of slot `slot`. */
typedef void (*tq_slot_fn)(void *arg, int slot, int64_t task);

/*
 * As tq_par_tasks(), on at most `slots` threads (slots >= 1), each with
 * its own slot number in [0, slots) for per-thread scratch: no two tasks
 * run at once with the same slot.
 */
void tq_par_tasks_slots(tq_slot_fn fn, void *arg, int64_t n, int slots);

/*
 * Holds OpenBLAS at one thread until the matching tq_blas__serial_end(),
 * for callers that split BLAS work over their own threads; sections may
 * nest and overlap across threads, and tq_set_threads() inside one takes
 * effect at its end.  Thread-safe.
 */
void tq_blas__serial_begin(void);
void tq_blas__serial_end(void);

#endif /* TQ_CORE_PAR_H */
