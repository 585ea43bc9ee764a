/*
 * qstate.h: the quantized state (internal; the API is in tq.h).
 */
#ifndef TQ_CORE_QSTATE_H
#define TQ_CORE_QSTATE_H

#include "model.h"
#include "quant.h"
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

/* formats/state_file.c: the directory form. */
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

#endif /* TQ_CORE_QSTATE_H */
