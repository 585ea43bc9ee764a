/*
 * model.c: the model object's lifetime, accessors and names.
 */
#include "config.h"

#include <stdlib.h>

#include "model.h"

void
tq_model_close(tq_model *m)
{
	if (m == NULL)
		return;
	tq_tokenizer_free(m->tok);
	if (m->source_free != NULL)
		m->source_free(m->source);
	free(m->tensors);
	free(m->layers);
	free(m->path);
	free(m);
}

const char *
tq_model_path(const tq_model *m)
{
	return m->path;
}

const tq_model_config *
tq_model_get_config(const tq_model *m)
{
	return &m->cfg;
}

const tq_tokenizer *
tq_model_tokenizer(const tq_model *m)
{
	return m->tok;
}

size_t
tq_model_n_tensors(const tq_model *m)
{
	return m->n_tensors;
}

void
tq_model_tensor(const tq_model *m, size_t i, tq_tensor_info *out)
{
	const tq_tensor *t = m->tensors[i];
	int d;

	out->name = t->name;
	out->dtype = t->dtype;
	out->ndim = t->ndim;
	for (d = 0; d < TQ_MAX_DIMS; d++)
		out->shape[d] = d < t->ndim ? t->shape[d] : 0;
	out->nbytes = t->nbytes;
}

uint64_t
tq_model_file_bytes(const tq_model *m)
{
	return m->file_bytes;
}

const char *
tq_arch_name(tq_arch a)
{
	switch (a) {
	case TQ_ARCH_LLAMA:	return "llama";
	case TQ_ARCH_MISTRAL:	return "mistral";
	case TQ_ARCH_QWEN2:	return "qwen2";
	}
	return "?";
}

const char *
tq_rope_type_name(tq_rope_type r)
{
	switch (r) {
	case TQ_ROPE_DEFAULT:	return "default";
	case TQ_ROPE_LINEAR:	return "linear";
	case TQ_ROPE_DYNAMIC:	return "dynamic";
	case TQ_ROPE_LLAMA3:	return "llama3";
	}
	return "?";
}

const char *
tq_linear_name(tq_linear l)
{
	static const char *const names[TQ_LINEAR_COUNT] = {
		"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
		"up_proj", "down_proj", "lm_head"
	};

	return (unsigned)l < TQ_LINEAR_COUNT ? names[l] : "?";
}
