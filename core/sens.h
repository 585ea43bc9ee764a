/*
 * sens.h: per-layer sensitivity (internal; the API is in tq.h).
 */
#ifndef TQ_CORE_SENS_H
#define TQ_CORE_SENS_H

#include "tq.h"

/* One menu entry, parsed. */
typedef struct tq_sens_opt {
	tq_layer_cfg cfg;
	char name[64];		/* canonical "rtn:q4_k+imatrix" */
} tq_sens_opt;

struct tq_sens {
	char *model_path;
	int64_t model_layers;	/* decoder blocks of the model */
	size_t n;		/* entries: block linears, model order, a
				   block's experts of one kind grouped */
	size_t n_menu;
	int per_expert;		/* each expert linear its own entry */
	size_t *first;		/* [n] the entry's first linear (model index) */
	int *members;		/* [n] its linears: 1, or a group's experts,
				   first + 3 j (gate, up, down alternate) */
	tq_sens_opt *menu;	/* [n_menu] */
	char **names;		/* [n] */
	int64_t *params;	/* [n] rows * cols */
	double *err;		/* [n, n_menu] relative output error; NaN:
				   the setting does not fit the layer */
	double *bpw;		/* [n, n_menu] */
	unsigned char *off;	/* [n, n_menu] left out of the optimizer's
				   choice (tq_sens_exclude; never saved) */
	double *coef;		/* [n] predicted KLD per unit of error */
	double *probe_kld;	/* [n] measured KLD of the probe, or NaN */
	int64_t probe_menu;	/* menu entry probed, -1 without a probe */
	int64_t probe_tokens;
	int64_t calib_tokens;
};

/*
 * The scheme menu entry o gives a [rows, cols] layer: its own, or where it
 * does not fit the one a plan's shape fallback gives (q4_k -> q5_0,
 * int4-g128 -> int4-g64); 0 when nothing fits (the entry is not offered
 * there).  The optimized plan falls back the same way.
 */
int tq_sens__scheme(const tq_sens_opt *o, int64_t rows, int64_t cols,
    tq_scheme *out);
/*
 * An empty sensitivity table for m and a parsed menu (copied): one entry
 * per block linear, but a mixture of experts' gate, up and down each one
 * entry for all of a block's experts unless per_expert.
 */
tq_status tq_sens__new(const tq_model *m, const tq_sens_opt *menu,
    size_t n_menu, int per_expert, tq_sens **out, tq_error *err);
/* Parses "METHOD:SCHEME[+imatrix]". */
tq_status tq_sens__parse_opt(const char *s, tq_sens_opt *out,
    tq_error *err);

/*
 * Quantizes w[rows, cols] (left unchanged) with menu entry o into q (the
 * dequantized weight), H[cols, cols] over ntok tokens.
 */
tq_status tq_sens__quantize(const tq_sens_opt *o, const float *w,
    const float *H, int64_t ntok, int64_t rows, int64_t cols, float *q,
    tq_error *err);

/* Bits per weight of setting k on layer l (NaN past the table). */
double tq_sens__bpw(const tq_sens *s, size_t l, size_t k);

#endif /* TQ_CORE_SENS_H */
