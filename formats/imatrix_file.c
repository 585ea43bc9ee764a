/*
 * imatrix_file.c: calibration statistics as an importance-matrix GGUF, the
 * file llama.cpp's llama-imatrix writes and llama-quantize --imatrix reads.
 *
 * KVs: general.type = "imatrix", imatrix.datasets, imatrix.chunk_count,
 * imatrix.chunk_size.  For each weight NAME (GGUF names, sorted):
 * NAME.in_sum2 F32 [C, 1] = sum of x^2 over every calibration token of the
 * weight's input, and NAME.counts F32 [1, 1] = the number of tokens; the
 * consumer divides one by the other.  Weights that share an input (q, k, v;
 * gate, up) get the same statistics, as llama-imatrix gives them.  A
 * routed block's experts are its stacked ffn_gate_exps, ffn_up_exps and
 * ffn_down_exps: NAME.in_sum2 [C, E] over the tokens routed to each
 * expert and NAME.counts [1, E] their numbers, as llama-imatrix gathers
 * them from ggml_mul_mat_id.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "error.h"
#include "gguf_writer.h"

/* GGUF weight names of each site's consumers (llama.cpp's naming). */
static const struct {
	tq_linear site;
	const char *names[3];
} imat_sites[] = {
	{ TQ_LINEAR_Q, { "attn_q", "attn_k", "attn_v" } },
	{ TQ_LINEAR_O, { "attn_output", NULL, NULL } },
	{ TQ_LINEAR_GATE, { "ffn_gate", "ffn_up", NULL } },
	{ TQ_LINEAR_DOWN, { "ffn_down", NULL, NULL } },
};

typedef struct imat_entry {
	char name[64];
	const float *sum2;	/* [nmat, C] */
	const float *count;	/* [nmat] */
	int64_t C, nmat;
} imat_entry;

/* Whether block layer of c has experts (its MLP sites are theirs). */
static int
imat_routed(const tq_calib *c, int layer)
{
	return c->experts != NULL && layer >= 0 && layer < c->n_layers &&
	    c->experts[layer].n > 0;
}

static int
imat_cmp(const void *a, const void *b)
{
	return strcmp(((const imat_entry *)a)->name,
	    ((const imat_entry *)b)->name);
}

tq_status
tq_calib_save_imatrix(const tq_calib *c, const char *path,
    const char *dataset, tq_error *err)
{
	imat_entry *e = NULL;
	float *sums = NULL, *counts = NULL, *xs = NULL;
	tq_gguf_writer *w = NULL;
	size_t n = 0, i, k, cap = c->n_sites * 3, xtotal = 0;
	int64_t li;
	tq_status st;

	if (c->n_sites == 0)
		return tq_fail(err, TQ_EINVAL, "%s: no statistics to write "
		    "(calibrate first)", path);
	/* the experts' sums and counts, floats like the rest */
	for (li = 0; li < c->n_layers; li++)
		if (imat_routed(c, (int)li))
			xtotal += (size_t)(c->experts[li].n * (c->experts[li].H +
			    c->experts[li].Fe + 1));
	e = calloc(cap + 3 * (size_t)c->n_layers, sizeof(*e));
	counts = calloc(c->n_sites, sizeof(float));
	xs = malloc((xtotal > 0 ? xtotal : 1) * sizeof(float));
	sums = NULL;
	if (e == NULL || counts == NULL || xs == NULL)
		goto nomem;
	/* Σx² in f32, one array per site, shared by the weights it feeds. */
	{
		size_t total = 0;

		for (i = 0; i < c->n_sites; i++)
			total += (size_t)c->sites[i].pub.channels;
		if ((sums = malloc(total * sizeof(float))) == NULL)
			goto nomem;
	}
	{
		float *p = sums;

		for (i = 0; i < c->n_sites; i++) {
			const calib_site *s = &c->sites[i];
			int64_t j;

			for (j = 0; j < s->pub.channels; j++)
				p[j] = (float)s->sum_sq[j];
			counts[i] = (float)s->pub.n_tokens;
			if (s->pub.site == TQ_LINEAR_LM_HEAD) {
				snprintf(e[n].name, sizeof(e[n].name),
				    "output.weight");
				e[n].sum2 = p;
				e[n].count = &counts[i];
				e[n].nmat = 1;
				e[n++].C = s->pub.channels;
			}
			for (k = 0; k < 4 && s->pub.site != TQ_LINEAR_LM_HEAD;
			    k++) {
				int q;

				if (imat_sites[k].site != s->pub.site)
					continue;
				/* a routed block's MLP inputs are per expert */
				if (imat_routed(c, s->pub.layer) &&
				    (s->pub.site == TQ_LINEAR_GATE ||
				    s->pub.site == TQ_LINEAR_DOWN))
					continue;
				for (q = 0; q < 3 && imat_sites[k].names[q]; q++) {
					snprintf(e[n].name, sizeof(e[n].name),
					    "blk.%d.%s.weight", s->pub.layer,
					    imat_sites[k].names[q]);
					e[n].sum2 = p;
					e[n].count = &counts[i];
					e[n].nmat = 1;
					e[n++].C = s->pub.channels;
				}
			}
			p += s->pub.channels;
		}
	}
	{
		float *p = xs;

		for (li = 0; li < c->n_layers; li++) {
			const calib_experts *ce = &c->experts[li];
			static const char *const nm[3] = { "ffn_gate_exps",
			    "ffn_up_exps", "ffn_down_exps" };
			float *in, *down, *cnt;
			int64_t j;
			int q;

			if (!imat_routed(c, (int)li))
				continue;
			in = p;
			down = in + ce->n * ce->H;
			cnt = down + ce->n * ce->Fe;
			p = cnt + ce->n;
			for (j = 0; j < ce->n * ce->H; j++)
				in[j] = (float)ce->sum_sq_in[j];
			for (j = 0; j < ce->n * ce->Fe; j++)
				down[j] = (float)ce->sum_sq_down[j];
			for (j = 0; j < ce->n; j++)
				cnt[j] = (float)ce->tokens[j];
			for (q = 0; q < 3; q++) {
				snprintf(e[n].name, sizeof(e[n].name),
				    "blk.%lld.%s.weight", (long long)li, nm[q]);
				e[n].sum2 = q < 2 ? in : down;
				e[n].count = cnt;
				e[n].C = q < 2 ? ce->H : ce->Fe;
				e[n++].nmat = ce->n;
			}
		}
	}
	qsort(e, n, sizeof(*e), imat_cmp);
	if ((st = tq_gguf_writer_new(&w, err)) != TQ_OK)
		goto out;
	{
		const char *ds[1] = { dataset != NULL ? dataset : "" };

		if (tq_gguf_kv_str(w, "general.type", "imatrix") != TQ_OK ||
		    tq_gguf_kv_str_array(w, "imatrix.datasets", ds, 1) != TQ_OK ||
		    tq_gguf_kv_u32(w, "imatrix.chunk_count",
		    (uint32_t)c->n_samples) != TQ_OK ||
		    tq_gguf_kv_u32(w, "imatrix.chunk_size",
		    (uint32_t)c->seqlen) != TQ_OK)
			goto nomem;
	}
	for (i = 0; i < n; i++) {
		char name[80];
		int64_t ne_sum[2] = { e[i].C, e[i].nmat };
		int64_t ne_cnt[2] = { 1, e[i].nmat };

		snprintf(name, sizeof(name), "%s.in_sum2", e[i].name);
		if ((st = tq_gguf_add_tensor(w, name, TQ_GGML_F32, 2, ne_sum,
		    e[i].sum2, (uint64_t)(e[i].C * e[i].nmat) * 4, err)) !=
		    TQ_OK)
			goto out;
		snprintf(name, sizeof(name), "%s.counts", e[i].name);
		if ((st = tq_gguf_add_tensor(w, name, TQ_GGML_F32, 2, ne_cnt,
		    e[i].count, (uint64_t)e[i].nmat * 4, err)) != TQ_OK)
			goto out;
	}
	st = tq_gguf_write(w, path, err);
	goto out;
nomem:
	st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", path);
out:
	tq_gguf_writer_free(w);
	free(e);
	free(sums);
	free(counts);
	free(xs);
	return st;
}
