/*
 * state_file.h: a quantized state as a directory (state.json and one file
 * a block), written as the pipeline goes so a killed run can resume.
 */
#ifndef TQ_FORMATS_STATE_FILE_H
#define TQ_FORMATS_STATE_FILE_H

#include "qstate.h"

tq_status tq_state__save_block(const tq_qstate *s, const char *dir,
    int64_t block, tq_error *err);
tq_status tq_state__save_meta(const tq_qstate *s, const char *dir,
    tq_error *err);
/*
 * Reads a state directory into s (made by tq_state__new for the same model
 * and plan): loads every finished block and the head when complete.
 * Fails when the directory's plan, model shape or calibration differ.
 */
tq_status tq_state__read(tq_qstate *s, const char *dir, tq_error *err);
/*
 * Removes the temporary files ("NAME.tmp-PID") a killed run left in a
 * state directory; a run into the directory starts with it.
 */
void tq_state__clean_temps(const char *dir);
/* 1 if dir's state.json says complete. */
int tq_state__is_complete(const char *dir);
/*
 * Removes the state in dir (state.json first, so it never names files
 * that are gone), before a fresh run writes a new one.
 */
tq_status tq_state__remove(const char *dir, tq_error *err);

#endif /* TQ_FORMATS_STATE_FILE_H */
