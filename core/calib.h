/*
 * calib.h: the calibration object (internal; the API is in tq.h).
 */
#ifndef TQ_CORE_CALIB_H
#define TQ_CORE_CALIB_H

#include "model.h"
#include "tq.h"

/* Statistics of one input site with their accumulators. */
typedef struct calib_site {
	tq_site_stats pub;	/* what tq_calib_site() hands out */
	float *absmax;		/* [C] */
	float *mean_abs;	/* [C] */
	float *mean_sq;		/* [C] */
	double *sum_abs;	/* [C] */
	double *sum_sq;		/* [C] */
	int64_t hist[TQ_HIST_BINS];
} calib_site;

/*
 * A routed block's statistics per expert (n 0 for a dense block): the
 * inputs of the tokens routed to each expert, as llama-imatrix gathers
 * them for ffn_*_exps, and how many there were (the experts' coverage).
 */
typedef struct calib_experts {
	int n;			/* experts */
	int64_t H, Fe;		/* gate/up's and down's input widths */
	double *sum_sq_in;	/* [n, H] Σx² of gate and up's input */
	double *sum_sq_down;	/* [n, Fe] Σx² of down's (the gated product) */
	int64_t *tokens;	/* [n] tokens routed to each */
} calib_experts;

struct tq_calib {
	int64_t n_samples, seqlen;
	uint64_t seed;
	int32_t *ids;		/* [n_samples, seqlen] */
	int64_t n_layers;
	calib_site *sites;	/* [n_sites]: 4 per layer, then lm_head */
	size_t n_sites;
	calib_experts *experts;	/* [n_layers] after a run on a mixture of
				   experts; NULL otherwise */
};

/*
 * Allocates zeroed sites for a model with n_layers blocks, hidden size H,
 * attention width qd (n_heads * head_dim) and intermediate size F.
 */
tq_status tq_calib__alloc_sites(tq_calib *c, int64_t n_layers, int64_t H,
    int64_t qd, int64_t F, tq_error *err);
/* Derives absmax-independent means from the sums (after run or load). */
void tq_calib__finish(tq_calib *c);
/* Index of a site in c->sites, or -1. */
int64_t tq_calib__site_index(const tq_calib *c, int layer, tq_linear which);

#endif /* TQ_CORE_CALIB_H */
