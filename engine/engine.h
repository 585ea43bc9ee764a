/*
 * engine.h: jobs the front ends do not start but the tests do (internal;
 * the API is in tq.h).
 */
#ifndef TQ_ENGINE_ENGINE_H
#define TQ_ENGINE_ENGINE_H

#include "tq.h"

/*
 * Perplexity as a job (windows of ctx tokens; 0: the model's context, at
 * most 2048); the result is read with tq_engine__job_ppl after the wait.
 * The tests drive the job machinery with it.
 */
tq_status tq_engine__job_eval(const tq_model *m, const char *text_path,
    int64_t ctx, tq_job **out, tq_error *err);
const tq_ppl_result *tq_engine__job_ppl(const tq_job *j);

#endif /* TQ_ENGINE_ENGINE_H */
