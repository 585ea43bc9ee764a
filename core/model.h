/*
 * model.h: the in-memory model (internal to the engine).
 *
 * A tq_model holds the hyperparameters and views of every weight.  The
 * weights stay in the checkpoint's memory maps; whoever opened the files
 * (formats/) hands them over as an opaque source with its destructor, so
 * core never depends on a file format.
 */
#ifndef TQ_CORE_MODEL_H
#define TQ_CORE_MODEL_H

#include "tensor.h"
#include "tq.h"

/* The weights of one decoder block.  Biases are NULL when absent. */
typedef struct tq_layer_weights {
	const tq_tensor *attn_norm;	/* [H] */
	const tq_tensor *wq;		/* [n_heads * hd, H] */
	const tq_tensor *wk;		/* [n_kv_heads * hd, H] */
	const tq_tensor *wv;		/* [n_kv_heads * hd, H] */
	const tq_tensor *wo;		/* [H, n_heads * hd] */
	const tq_tensor *bq;		/* [n_heads * hd] */
	const tq_tensor *bk;		/* [n_kv_heads * hd] */
	const tq_tensor *bv;		/* [n_kv_heads * hd] */
	const tq_tensor *bo;		/* [H] */
	const tq_tensor *ffn_norm;	/* [H] */
	const tq_tensor *w_gate;	/* [I, H] */
	const tq_tensor *w_up;		/* [I, H] */
	const tq_tensor *w_down;	/* [H, I] */
	const tq_tensor *b_gate;	/* [I] */
	const tq_tensor *b_up;		/* [I] */
	const tq_tensor *b_down;	/* [H] */
} tq_layer_weights;

struct tq_model {
	char *path;			/* owned */
	tq_model_config cfg;
	tq_tokenizer *tok;		/* NULL without tokenizer.json */
	int tok_borrowed;		/* tok belongs to another model */
	const tq_tensor **tensors;	/* [n_tensors] every stored tensor */
	size_t n_tensors;
	uint64_t file_bytes;
	const tq_tensor *embed;		/* [V, H] */
	const tq_tensor *norm;		/* [H] */
	const tq_tensor *lm_head;	/* [V, H]; the embedding when tied */
	tq_layer_weights *layers;	/* [n_layers] */
	void *source;			/* owns the maps behind the tensors */
	void (*source_free)(void *source);
	char **linear_names;		/* [n_linears] see tq_model_n_linears */
	size_t n_linears;
};

/* Linear layers per block, in the order tq_model_linear_name lists them. */
#define TQ_LINEARS_PER_LAYER 7

/* Builds the list of quantizable layers (called once the weights are bound). */
tq_status tq_model__index_linears(tq_model *m, tq_error *err);
/* The weight of quantizable layer i ([rows, cols]). */
const tq_tensor *tq_model__linear_weight(const tq_model *m, size_t i);

#endif /* TQ_CORE_MODEL_H */
