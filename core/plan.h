/*
 * plan.h: plans (internal): the pieces of the GGUF mixes that the unit
 * tests check against llama.cpp's tables.
 */
#ifndef TQ_CORE_PLAN_H
#define TQ_CORE_PLAN_H

#include <stdint.h>

#include "tq.h"

/* Stands for model.embed_tokens where a tq_linear is expected. */
#define TQ_PLAN_EMBED TQ_LINEAR_COUNT

/*
 * llama.cpp's use_more_bits(i, n): block i of n is one of the first n/8,
 * the last n/8 or every third block in between (integer division).
 */
int tq_plan__use_more_bits(int64_t i, int64_t n);

/*
 * The GGUF type llama.cpp's llama_tensor_get_type gives one layer in the
 * mix of preset `mix` ("q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_k_s",
 * "q3_k_m"), before the shape fallback: block is the layer's block (-1 for
 * lm_head and the embeddings), which its linear (TQ_LINEAR_LM_HEAD for
 * lm_head, TQ_PLAN_EMBED for the embeddings), cols its input features.
 * Writes the scheme name ("q6_k") to *out; returns 0 if mix is not a GGUF
 * mix preset.
 */
int tq_plan__mix_type(const char *mix, int64_t block, int which,
    const tq_model_config *c, int64_t cols, const char **out);

#endif /* TQ_CORE_PLAN_H */
