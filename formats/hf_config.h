/*
 * hf_config.h: Hugging Face config.json to tq_model_config.
 */
#ifndef TQ_FORMATS_HF_CONFIG_H
#define TQ_FORMATS_HF_CONFIG_H

#include <cJSON.h>

#include "tq.h"

/*
 * Fills cfg from a parsed config.json (`path` names it in messages).
 * Checks types and ranges of every field it reads and the consistency of
 * the shapes; architectures other than llama, mistral and qwen2, and rope
 * scalings other than linear, dynamic and llama3, are TQ_EUNSUPPORTED.
 */
tq_status tq_hf_config_parse(const char *path, const cJSON *root,
    tq_model_config *cfg, tq_error *err);

/*
 * The rules every model's hyperparameters meet, whichever file they come
 * from (config.json, GGUF metadata): sizes in range, an attention shape
 * the forward pass runs, a finite epsilon and rope theta.  One line naming
 * path on failure (TQ_EFORMAT).  tq_hf_config_parse ends with it.
 */
tq_status tq_hf_config_check(const char *path, const tq_model_config *c,
    tq_error *err);

#endif /* TQ_FORMATS_HF_CONFIG_H */
