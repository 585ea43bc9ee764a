/*
 * wb_teach.h: what the teaching mode's files share (wb_teach.c: the
 * index, the keys and drawing; wb_lessons_*.c: the lessons).  Internal to
 * the workbench; the lessons' public entry points are in wb.h.
 */
#ifndef WB_TEACH_H
#define WB_TEACH_H

#include "wb.h"

#define GB 12		/* columns of the GPTQ lesson */
#define GROUP 32	/* weights in lesson 1's group */
#define STEPS 5		/* lesson 1's steps */
#define AWQ_STEPS 3
#define MX_N 3		/* grids of the microscaling lesson */

/* The current layer's weights, as load() took them (wb_teach.c). */
typedef struct wbt_weights {
	const float *w;		/* [rows, cols], wb_row_weight's */
	int64_t rows, cols;
} wbt_weights;
extern wbt_weights teach_w;

/* wb_lessons_weights.c: on the weights alone */
void wbt_lesson_group(wb_app *a, const wb_row *r, int y, int y1);
void wbt_lesson_granularity(wb_app *a, const wb_row *r, int y, int y1);
void wbt_lesson_meta(wb_app *a, const wb_row *r, int y, int y1);
int wbt_kq_prepare(wb_app *a);
void wbt_lesson_kquant(wb_app *a, const wb_row *r, int y, int y1);
void wbt_lesson_mx(wb_app *a, const wb_row *r, int y, int y1);
long wbt_pick_kquant(wb_app *a, char *why, size_t len);
void wbt_weights_free(void);

/* wb_lessons_calib.c: on a calibration (GPTQ, AWQ) */
void wbt_lesson_gptq(wb_app *a, const wb_row *r, int y, int y1);
void wbt_lesson_awq(wb_app *a, const wb_row *r, int y, int y1);
void wbt_calib_free(void);

/* wb_lessons_jobs.c: lessons that run engine jobs */
void wbt_dm_clear(void);
void wbt_lesson_domain(int y, int y1);
double wbt_layer_error(const char *name, float *deq);
void wbt_tr_run(wb_app *a, const wb_row *r);
void wbt_lesson_trade(wb_app *a, const wb_row *r, int y, int y1);
const char *wbt_domain_dir(void);
void wbt_jobs_free(void);

/* wb_lessons_pick.c: which layer shows each lesson */
long wbt_pick_group(wb_app *a, char *why, size_t len);
long wbt_pick_range(wb_app *a, char *why, size_t len);
long wbt_pick_narrow(wb_app *a, char *why, size_t len);
long wbt_pick_gptq(wb_app *a, char *why, size_t len);
long wbt_pick_awq(wb_app *a, char *why, size_t len);
long wbt_pick_none(wb_app *a, char *why, size_t len);

#endif
