/*
 * qstate.h: the quantized state (internal; the API is in tq.h).
 */
#ifndef TQ_CORE_QSTATE_H
#define TQ_CORE_QSTATE_H

#include "model.h"
#include "quant.h"
#include "job.h"
#include "tq.h"

/* One quantizable layer of the model and what became of it. */
typedef struct tq_qlayer {
	tq_layer_cfg cfg;
	tq_qtensor qt;		/* codes and parameters; empty when float */
	tq_layer_result res;
	int done;		/* quantized (or decided float) */
} tq_qlayer;

/*
 * What quantizing a block changed besides its linear weights.  AWQ and
 * SmoothQuant divide a layer group's input by per-channel scales and
 * multiply the weights by them; the division is folded into the op before
 * (the norm, or v_proj / up_proj rows and their biases), whose new float
 * values live here (NULL: unchanged).  act is how each input is
 * quantized at evaluation (W8A8, FP8 static).  The head's entry (index
 * n_layers) uses attn_norm for the final norm and act[0] for lm_head.
 */
typedef struct tq_qblock {
	float *attn_norm;	/* [H] */
	float *ffn_norm;	/* [H] */
	float *bv;		/* [n_kv_heads * hd] */
	float *b_up;		/* [F] */
	tq_actq act[TQ_SITES_PER_LAYER];
} tq_qblock;

struct tq_qstate {
	char *model_path;
	char *plan_json;	/* the resolved plan as given */
	tq_plan *plan;
	int64_t n_samples, seqlen;
	uint64_t seed;
	uint64_t ids_hash;	/* of the calibration ids; 0 without */
	int64_t n_layers;	/* decoder blocks */
	tq_qlayer *layers;	/* [n]: one per tq_model_linear_name */
	size_t n;
	tq_qblock *blocks;	/* [n_layers + 1]: the blocks, then the head */
	size_t *block_first;	/* [n_layers + 1] each block's first linear,
				   then lm_head's (tq_model__block_first) */
	int64_t hidden, kv_dim, inter;	/* H, n_kv_heads * hd, F: lengths of
					   the tq_qblock vectors */
	int64_t blocks_done;	/* blocks finished and saved */
	int complete;		/* the head too */
	/*
	 * What the state was made from, saved in state.json and in every
	 * block file, so a state is never resumed onto another model nor
	 * assembled from files of different runs.
	 */
	uint64_t model_fp;	/* the model's fingerprint (model.h) */
	uint64_t plan_fp;	/* FNV-1a of plan_json */
	uint64_t calib_fp;	/* tq_state__calib_fp */
};

/* An empty state for m under plan (a copy of the plan is kept). */
tq_status tq_state__new(const tq_model *m, const tq_plan *plan,
    const tq_calib *calib, tq_qstate **out, tq_error *err);
/* FNV-1a of the calibration ids (0 for no calibration). */
uint64_t tq_state__ids_hash(const tq_calib *calib);

/* The calibration's fingerprint: samples, seqlen, seed and ids_hash. */
uint64_t tq_state__calib_fp(const tq_qstate *s);

/* Tensors made by the pipeline (dequantized, rescaled); freed together. */
typedef struct tq_owned {
	tq_tensor **t;
	size_t n, cap;
} tq_owned;

/* A tensor shaped like `like` holding data[numel] (taken over). */
tq_tensor *tq_owned__add(tq_owned *o, const tq_tensor *like, float *data);
void tq_owned__free(tq_owned *o);

/*
 * Puts a block's changed norms and biases (copies owned by o) and its
 * activation quantization into lw (the head's entry: the final norm into
 * *norm and act[0] into *head_act).
 */
tq_status tq_qblock__apply(tq_owned *o, const tq_qblock *b,
    tq_layer_weights *lw, const tq_tensor **norm, tq_actq *head_act,
    tq_error *err);

/* Called by the pipeline after block li (-1: the head) is finished. */
typedef tq_status (*tq_block_done_fn)(void *ud, const tq_qstate *s,
    int64_t li, tq_error *err);

/*
 * The sequential quantization pipeline (quantize.c) on job j: fills s
 * (from tq_state__new; blocks before s->blocks_done are replayed with
 * their saved codes), calling done after each block and the head.  A plan
 * of RTN-class layers takes one pass of the float model instead unless
 * flags has TQ_QUANTIZE_SEQUENTIAL; TQ_QUANTIZE_RECOMPUTE: see tq.h.
 */
tq_status tq_quantize__run(tq_job *j, const tq_model *m, const tq_calib *calib,
    tq_qstate *s, int flags, tq_block_done_fn done, void *ud,
    tq_error *err);

#endif /* TQ_CORE_QSTATE_H */
