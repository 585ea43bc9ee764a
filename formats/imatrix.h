/*
 * imatrix.h: reading an importance-matrix GGUF (formats/imatrix_read.c),
 * llama-imatrix's or `turboquant calibrate --imatrix`'s, as
 * llama-quantize --imatrix reads it.
 */
#ifndef TQ_FORMATS_IMATRIX_H
#define TQ_FORMATS_IMATRIX_H

#include <stdint.h>

#include "gguf_reader.h"

typedef struct tq_imatrix {
	tq_gguf_file *f;
	char *path;
} tq_imatrix;

/* Opens path; a file without general.type "imatrix" is refused. */
tq_status tq_imatrix_open(const char *path, tq_imatrix *out, tq_error *err);
void tq_imatrix_close(tq_imatrix *im);

/*
 * The importance of the `cols` input columns of GGUF weight `name`
 * ("blk.0.attn_q.weight") into imp[cols]: in_sum2 / counts in f32 as
 * llama-quantize divides them (1 where the count is 0).  Returns 0 when
 * the file has no entry for name (llama-quantize then quantizes it
 * without), 1 when imp is set, -1 with err set for an entry of another
 * width or type.
 */
int tq_imatrix_get(const tq_imatrix *im, const char *name, int64_t cols,
    float *imp, tq_error *err);
/*
 * The same for expert `expert` of a stacked tensor of n_experts
 * (ffn_*_exps): its row of the entry's [cols, n_experts] sums over its
 * own count (or the one count an entry may give them all), as
 * llama-quantize hands each expert its slice; n_experts 1 is
 * tq_imatrix_get.
 */
int tq_imatrix_get_expert(const tq_imatrix *im, const char *name,
    int64_t cols, int64_t expert, int64_t n_experts, float *imp,
    tq_error *err);

#endif /* TQ_FORMATS_IMATRIX_H */
