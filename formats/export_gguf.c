/*
 * export_gguf.c: a model, or a quantized state, as one GGUF file that
 * llama.cpp loads (architectures llama, qwen2, qwen3, smollm3, gemma2,
 * gemma3 and phi3; mistral is written as llama, as convert_hf_to_gguf.py
 * does).  Phi-3's q, k and v are written as one attn_qkv and its gate and
 * up as one ffn_up (gate's rows first, as llama.cpp's swiglu splits it),
 * its longrope as rope_factors_long/short; blocks run along rows, so
 * appending the rows of layers of one type is exact.  Qwen3's QK-norm
 * weights are attn_q_norm and attn_k_norm; smollm3 has no key for its NoPE
 * layers (llama.cpp leaves RoPE out of every 4th), so another pattern is
 * refused.
 *
 * What each quantizable layer becomes (formats/export.h: every float
 * tensor comes from x->model, which has the state applied):
 *
 *   --type left out   a state: each quantized layer's own blocks (its codes
 *                     and parameters packed in ggml's layout, bit for bit
 *                     what the state evaluates); a float layer keeps its
 *                     checkpoint dtype (F32, F16 or BF16).  A layer on a
 *                     grid GGUF has no block type for (INT, FP8, NF4) is
 *                     refused, naming the formats that hold it.  A float
 *                     model: F16.
 *   f32, f16, bf16    every linear in that float type (a state's layers as
 *                     their dequantized values).
 *   q8_0 ... q6_k,    a llama.cpp mix (q3_k_m, q4_k_s, q4_k_m, q5_k_m,
 *   mixes             q6_k, q8_0, iq4_xs, iq4_nl, iq3_xxs, iq3_xs, iq3_s,
 *                     iq3_m, iq2_m, iq2_s, iq2_xs, iq2_xxs, iq1_m, iq1_s:
 *                     core/plan.c's presets, their rules in
 *                     core/plan_mix.c, shape fallback included) or one
 *                     block type for every linear
 *                     (q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, as
 *                     llama-quantize --pure).  A layer the state already
 *                     holds on that block type keeps its blocks; any other
 *                     is rounded with RTN from x->model's weights, and the
 *                     report's warning says which and what was lost.
 *
 * The Q/K rows of llama, mistral and smollm3 are permuted into the interleaved
 * rotary order llama.cpp's "norm" RoPE expects (convert_hf_to_gguf.py's
 * LlamaModel.permute); blocks run along rows, so permuting rows of packed
 * blocks is exact.  Llama-3 rope scaling becomes the rope_freqs tensor.
 * Tensors are produced one at a time while the file is written.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "export.h"
#include "gguf_vocab.h"
#include "gguf_writer.h"
#include "model.h"
#include "imatrix.h"
#include "plan.h"
#include "quant.h"

/* Where a GGUF tensor's bytes come from. */
typedef enum gg_src {
	GG_FLOAT = 0,		/* a float tensor of x->model, converted */
	GG_CODES,		/* a state layer's blocks, packed */
	GG_REQUANT,		/* x->model's weight rounded with RTN */
	GG_DATA			/* f32 values made here (rope_freqs) */
} gg_src;

typedef struct gg_tensor {
	char name[64];
	int type;		/* ggml type */
	int n_dims;
	int64_t ne[2];		/* ne[0] = cols, ne[1] = rows */
	gg_src src;
	const tq_tensor *t;	/* GG_FLOAT, GG_REQUANT: [rows, cols] or [n] */
	const tq_qtensor *qt;	/* GG_CODES */
	tq_scheme scheme;	/* GG_REQUANT */
	float *imp;		/* GG_REQUANT: importance [cols] or NULL */
	int64_t perm_heads;	/* > 0: Q/K row permutation with this many
				   heads */
	const float *data;	/* GG_DATA: [ne0], or NULL for &one */
	float one;		/* GG_DATA: an NVFP4 weight's tensor scale */
	float offset;		/* added to a 1-D tensor's values */
	int linear;		/* a linear layer's weight (counts in bpw) */
	int cont;		/* more rows of the tensor before it (phi3's
				   fused attn_qkv and ffn_up; an expert of
				   ffn_*_exps), not a tensor */
	int64_t ne2;		/* > 1: a 3-D tensor of ne2 parts of ne[1]
				   rows each (experts), ne[2] of ggml */
} gg_tensor;

typedef struct gg_ctx {
	tq_export_ctx *x;
	gg_tensor *t;
	size_t n, cap;
	int64_t done, total;	/* elements, for progress */
	float *rope_freqs;
	/* what the warning will say */
	size_t n_requant_q, n_requant_f, n_w8a8;
	char requant_from[48];
} gg_ctx;

/* How --type asks the layers to be written. */
typedef enum gg_req {
	REQ_STATE = 0,		/* the state's own grids */
	REQ_FLOAT,		/* one float type */
	REQ_PLAN		/* a mix or a pure block type */
} gg_req;

static const char *const mix_names[] = {
	"q3_k_m", "q4_k_s", "q4_k_m", "q5_k_m", "q6_k", "q8_0", "iq4_nl",
	"iq4_xs", "iq3_xxs", "iq3_xs", "iq3_s", "iq3_m", "iq2_xxs", "iq2_xs",
	"iq2_s", "iq2_m", "iq1_s", "iq1_m", NULL
};
static const char *const pure_names[] = {
	"q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", NULL
};
#define GG_TYPE_LIST TQ_EXPORT_GGUF_TYPES

static int
in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcasecmp(*list, s) == 0)
			return 1;
	return 0;
}

/* The ggml type of a GGUF scheme, or -1. */
static int
ggml_type_of(tq_qtype t)
{
	switch (t) {
	case TQ_QT_Q4_0:	return TQ_GGML_Q4_0;
	case TQ_QT_Q4_1:	return TQ_GGML_Q4_1;
	case TQ_QT_Q5_0:	return TQ_GGML_Q5_0;
	case TQ_QT_Q5_1:	return TQ_GGML_Q5_1;
	case TQ_QT_Q8_0:	return TQ_GGML_Q8_0;
	case TQ_QT_Q2_K:	return TQ_GGML_Q2_K;
	case TQ_QT_Q3_K:	return TQ_GGML_Q3_K;
	case TQ_QT_Q4_K:	return TQ_GGML_Q4_K;
	case TQ_QT_Q5_K:	return TQ_GGML_Q5_K;
	case TQ_QT_Q6_K:	return TQ_GGML_Q6_K;
	case TQ_QT_IQ4_NL:	return TQ_GGML_IQ4_NL;
	case TQ_QT_IQ4_XS:	return TQ_GGML_IQ4_XS;
	case TQ_QT_MXFP4:	return TQ_GGML_MXFP4;
	case TQ_QT_NVFP4:	return TQ_GGML_NVFP4;
	case TQ_QT_IQ3_XXS:	return TQ_GGML_IQ3_XXS;
	case TQ_QT_IQ3_S:	return TQ_GGML_IQ3_S;
	case TQ_QT_IQ2_XXS:	return TQ_GGML_IQ2_XXS;
	case TQ_QT_IQ2_XS:	return TQ_GGML_IQ2_XS;
	case TQ_QT_IQ2_S:	return TQ_GGML_IQ2_S;
	case TQ_QT_IQ1_S:	return TQ_GGML_IQ1_S;
	case TQ_QT_IQ1_M:	return TQ_GGML_IQ1_M;
	default:		return -1;
	}
}

/* A float layer kept as the checkpoint stores it. */
static int
float_type_of(tq_dtype d)
{
	return d == TQ_DTYPE_F16 ? TQ_GGML_F16 : d == TQ_DTYPE_BF16 ?
	    TQ_GGML_BF16 : TQ_GGML_F32;
}

static tq_status
gg_add(gg_ctx *g, const char *name, int type, const tq_tensor *t,
    gg_tensor **out, tq_error *err)
{
	gg_tensor *e;

	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 64;
		gg_tensor *n = realloc(g->t, cap * sizeof(*n));

		if (n == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		g->t = n;
		g->cap = cap;
	}
	e = &g->t[g->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->type = type;
	e->src = GG_FLOAT;
	e->t = t;
	if (t != NULL && t->ndim == 2) {
		e->n_dims = 2;
		e->ne[0] = t->shape[1];
		e->ne[1] = t->shape[0];
	} else if (t != NULL) {
		e->n_dims = 1;
		e->ne[0] = t->shape[0];
		e->ne[1] = 1;
	}
	if (out != NULL)
		*out = e;
	return TQ_OK;
}

/* A 1-D tensor (norm, bias), always F32; NULL t adds nothing. */
static tq_status
gg_add_vec(gg_ctx *g, const char *name, const tq_tensor *t, int64_t heads,
    tq_error *err)
{
	gg_tensor *e;
	tq_status st;

	if (t == NULL)
		return TQ_OK;
	if ((st = gg_add(g, name, TQ_GGML_F32, t, &e, err)) == TQ_OK)
		e->perm_heads = heads;
	return st;
}

/*
 * A norm's weight: a gemma from Hugging Face scales by 1 + w, llama.cpp's
 * RMSNorm by its weight, so 1 + w is written (in fp32, as transformers
 * adds it; convert_hf_to_gguf.py adds 1 too).
 */
static tq_status
gg_add_norm(gg_ctx *g, const char *name, const tq_tensor *t, tq_error *err)
{
	tq_status st;

	if ((st = gg_add_vec(g, name, t, 0, err)) == TQ_OK && t != NULL &&
	    g->x->model->cfg.norm_unit_offset)
		g->t[g->n - 1].offset = 1.0f;
	return st;
}

/*
 * An NVFP4 weight's global scale G as the [1] tensor NAME.scale llama.cpp
 * multiplies the matmul's output by: 1 / G (its blocks decode without G).
 * Only a state's own blocks reach here (--type has no nvfp4).  *e is
 * re-pointed after the table grows.
 */
static tq_status gg_add_data(gg_ctx *g, const char *name, const float *v,
    int64_t n, tq_error *err);

static tq_status
gg_nv_scale(gg_ctx *g, gg_tensor **e, tq_error *err)
{
	size_t i = (size_t)(*e - g->t);
	char name[64];
	size_t n = strlen((*e)->name);
	float one;
	tq_status st;

	if ((*e)->src != GG_CODES)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: NVFP4 is written from "
		    "a state's own blocks only; quantize to nvfp4 first",
		    (*e)->name);
	one = 1.0f / tq_quant_global((*e)->qt);

	if (n > 7 && strcmp((*e)->name + n - 7, ".weight") == 0)
		n -= 7;
	snprintf(name, sizeof(name), "%.*s.scale", (int)n, (*e)->name);
	if ((st = gg_add_data(g, name, NULL, 1, err)) != TQ_OK)
		return st;
	g->t[g->n - 1].one = one;
	*e = &g->t[i];
	return TQ_OK;
}

/* The resolved setting of layer li under the request. */
typedef struct gg_choice {
	int quantized;
	tq_scheme scheme;
	int type;		/* ggml */
} gg_choice;

/*
 * Decides how quantizable layer li is written and adds its tensor.
 */
static tq_status
gg_add_linear(gg_ctx *g, gg_req req, int float_req, const tq_plan *plan,
    size_t li, const char *name, int64_t heads, gg_tensor **out,
    tq_error *err)
{
	const tq_export_ctx *x = g->x;
	const tq_model *m = x->model;
	const tq_tensor *w = tq_model__linear_weight(m, li);
	const tq_tensor *bw = tq_model__linear_weight(x->base, li);
	const tq_qlayer *ql = x->state != NULL ? &x->state->layers[li] : NULL;
	int state_q = ql != NULL && ql->cfg.method != TQ_METHOD_FLOAT;
	tq_layer_cfg cfg;
	gg_tensor *e;
	tq_status st;
	char sname[32];

	if (ql != NULL && state_q && ql->cfg.act_bits == 8)
		g->n_w8a8++;
	if (req == REQ_FLOAT) {
		if ((st = gg_add(g, name, float_req, w, &e, err)) != TQ_OK)
			return st;
	} else if (req == REQ_STATE) {
		if (!state_q) {
			st = gg_add(g, name, x->state != NULL ?
			    float_type_of(bw->dtype) : TQ_GGML_F16, w, &e, err);
			if (st != TQ_OK)
				return st;
		} else {
			int type = ggml_type_of(ql->qt.scheme.type);

			if (type < 0 || ql->qt.g_idx != NULL) {
				tq_scheme_name(&ql->qt.scheme, sname,
				    sizeof(sname));
				return tq_fail(err, TQ_EUNSUPPORTED, "layer %s is "
				    "quantized on %s, which GGUF has no block "
				    "type for; export this state with a format "
				    "that holds it (%s), or give --type to "
				    "re-quantize with RTN (%s)",
				    tq_model_linear_name(m, li), sname,
				    tq_export_holders(&ql->qt.scheme),
				    GG_TYPE_LIST);
			}
			if ((st = gg_add(g, name, type, w, &e, err)) != TQ_OK)
				return st;
			e->src = GG_CODES;
			e->qt = &ql->qt;
		}
	} else {
		if ((st = tq_plan_resolve(plan, x->base,
		    tq_model_linear_name(x->base, li), &cfg, err)) != TQ_OK)
			return st;
		if (cfg.method == TQ_METHOD_FLOAT) {
			/* No block type fits the shape: llama.cpp's F16. */
			st = gg_add(g, name, state_q ? TQ_GGML_F32 :
			    float_type_of(bw->dtype) == TQ_GGML_F32 ?
			    TQ_GGML_F16 : float_type_of(bw->dtype), w, &e, err);
			if (st != TQ_OK)
				return st;
		} else if (state_q && ql->qt.scheme.type == cfg.scheme.type &&
		    ql->qt.g_idx == NULL) {
			if ((st = gg_add(g, name, ggml_type_of(cfg.scheme.type),
			    w, &e, err)) != TQ_OK)
				return st;
			e->src = GG_CODES;
			e->qt = &ql->qt;
		} else {
			if ((st = gg_add(g, name, ggml_type_of(cfg.scheme.type),
			    w, &e, err)) != TQ_OK)
				return st;
			e->src = GG_REQUANT;
			e->scheme = cfg.scheme;
			if (state_q) {
				g->n_requant_q++;
				if (g->requant_from[0] == '\0') {
					tq_scheme_name(&ql->qt.scheme, sname,
					    sizeof(sname));
					snprintf(g->requant_from,
					    sizeof(g->requant_from), "%s %s",
					    tq_method_name(ql->cfg.method), sname);
				}
			} else if (x->state != NULL) {
				g->n_requant_f++;
			}
		}
	}
	e->linear = 1;
	e->perm_heads = heads;
	if (e->type == TQ_GGML_NVFP4 && (st = gg_nv_scale(g, &e, err)) != TQ_OK)
		return st;
	if (out != NULL)
		*out = e;
	return TQ_OK;
}

/* Two tensors that would hold the same bytes (tied embeddings). */
static int
gg_same(const gg_tensor *a, const gg_tensor *b)
{
	const tq_qtensor *p = a->qt, *q = b->qt;

	if (a->type != b->type || a->src != b->src)
		return 0;
	if (a->src != GG_CODES)
		return a->t == b->t || (a->t->data == b->t->data &&
		    a->t->dtype == b->t->dtype);
	return p->rows == q->rows && p->cols == q->cols &&
	    memcmp(p->codes, q->codes, (size_t)(p->rows * p->cols)) == 0 &&
	    memcmp(p->params, q->params, (size_t)(p->rows * p->nblocks) *
	    sizeof(*p->params)) == 0;
}

/* An f32 vector made here, v[n] (kept alive until the write). */
static tq_status
gg_add_data(gg_ctx *g, const char *name, const float *v, int64_t n,
    tq_error *err)
{
	gg_tensor *e;
	tq_status st;

	if ((st = gg_add(g, name, TQ_GGML_F32, NULL, &e, err)) != TQ_OK)
		return st;
	e->src = GG_DATA;
	e->n_dims = 1;
	e->ne[0] = n;
	e->ne[1] = 1;
	e->data = v;
	return TQ_OK;
}

/*
 * Llama-3 rope scaling as per-frequency divisors (convert_hf_to_gguf.py's
 * generate_extra_tensors).
 */
static tq_status
gg_rope_freqs(gg_ctx *g, const tq_model_config *c, tq_error *err)
{
	int64_t hd = c->head_dim, i, n = hd / 2;
	double lo_wl = (double)c->rope_original_max_pos / c->rope_low_freq_factor;
	double hi_wl = (double)c->rope_original_max_pos /
	    c->rope_high_freq_factor;

	if ((g->rope_freqs = malloc((size_t)n * sizeof(float))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		float freq = 1.0f / powf((float)c->rope_theta,
		    (float)(2 * i) / (float)hd);
		double wl = 2.0 * M_PI / freq, smooth;

		if (wl < hi_wl) {
			g->rope_freqs[i] = 1.0f;
		} else if (wl > lo_wl) {
			g->rope_freqs[i] = (float)c->rope_factor;
		} else {
			smooth = ((double)c->rope_original_max_pos / wl -
			    c->rope_low_freq_factor) / (c->rope_high_freq_factor -
			    c->rope_low_freq_factor);
			g->rope_freqs[i] = (float)(1.0 / ((1.0 - smooth) /
			    c->rope_factor + smooth));
		}
	}
	return gg_add_data(g, "rope_freqs.weight", g->rope_freqs, n, err);
}

/*
 * Phi-3's fused tensors: the linear added n - 1 entries back (q's, gate's)
 * takes the rows of those after it, which must share its type.
 */
static tq_status
gg_fuse(gg_ctx *g, size_t n, int64_t b, tq_error *err)
{
	gg_tensor *head = &g->t[g->n - n];
	size_t i;

	for (i = g->n - 2 * n < g->n ? g->n - 2 * n : 0; i < g->n; i++)
		if (g->t[i].type == TQ_GGML_NVFP4)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's "
			    "phi3 reads %s as one tensor with one NVFP4 scale; "
			    "the layers have their own", tq_model_path(g->x->base),
			    n == 3 ? "q, k and v" : "gate and up");

	for (i = g->n - n + 1; i < g->n; i++) {
		if (g->t[i].type != head->type)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's "
			    "phi3 reads %s as one tensor, and block %lld's "
			    "layers are %s and %s", tq_model_path(g->x->base),
			    n == 3 ? "q, k and v" : "gate and up", (long long)b,
			    tq_ggml_type_name(head->type),
			    tq_ggml_type_name(g->t[i].type));
		g->t[i].cont = 1;
	}
	return TQ_OK;
}

/*
 * A block's experts as llama.cpp's ffn_gate_exps / ffn_up_exps /
 * ffn_down_exps: the n linears added last (expert 0 first) become one
 * 3-D tensor [n, rows, cols] named by the first, all of one type.
 */
static tq_status
gg_stack(gg_ctx *g, size_t n, int64_t b, tq_error *err)
{
	gg_tensor *head = &g->t[g->n - n];
	size_t i;

	for (i = g->n - n; i < g->n; i++)
		if (g->t[i].type != head->type || g->t[i].type ==
		    TQ_GGML_NVFP4)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp reads "
			    "%s as one tensor, and block %lld's experts are %s "
			    "and %s%s", tq_model_path(g->x->base), head->name,
			    (long long)b, tq_ggml_type_name(head->type),
			    tq_ggml_type_name(g->t[i].type), head->type ==
			    TQ_GGML_NVFP4 ? " (each with its own NVFP4 scale)" :
			    "");
	for (i = g->n - n + 1; i < g->n; i++)
		g->t[i].cont = 1;
	head->ne2 = (int64_t)n;
	return TQ_OK;
}

/* The HF row that GGUF row r holds (identity without permutation). */
static int64_t
gg_src_row(const gg_tensor *e, int64_t r)
{
	int64_t rows = e->n_dims == 1 ? e->ne[0] : e->ne[1], hd;

	if (e->perm_heads <= 0)
		return r;
	hd = rows / e->perm_heads;
	/* GGUF row h*hd + 2i + t is HF row h*hd + t*hd/2 + i. */
	return r / hd * hd + r % 2 * (hd / 2) + r % hd / 2;
}

/* Float values to a ggml float type, n elements. */
static void
gg_put_float(int type, const float *v, int64_t n, uint8_t *dst)
{
	int64_t i;
	uint16_t h;

	if (type == TQ_GGML_F32) {
		memcpy(dst, v, (size_t)n * sizeof(float));
		return;
	}
	for (i = 0; i < n; i++) {
		h = type == TQ_GGML_F16 ? tq_f32_to_f16(v[i]) :
		    tq_f32_to_bf16(v[i]);
		dst[2 * i] = (uint8_t)h;
		dst[2 * i + 1] = (uint8_t)(h >> 8);
	}
}

/* Packs row sr of qt (every block) into dst. */
static void
gg_pack_row(const tq_qtensor *qt, int64_t sr, uint8_t *dst)
{
	size_t bb = tq_quant_block_bytes(&qt->scheme);
	int64_t b;

	for (b = 0; b < qt->nblocks; b++)
		tq_quant_pack_block(&qt->scheme, &qt->params[sr * qt->nblocks + b],
		    &qt->codes[sr * qt->cols + b * qt->qk], dst + (size_t)b * bb);
}

/* Rows a tensor is produced in between cancel checks and progress. */
#define GG_CHUNK_ROWS 256

/* GGUF rows [r0, r0 + n) of a 2-D tensor into dst (buf: [n, cols]). */
static tq_status
gg_fill_rows(const gg_tensor *e, int64_t r0, int64_t n, uint8_t *dst,
    uint64_t row_bytes, float *buf, tq_error *err)
{
	int64_t cols = e->ne[0], r;
	tq_qtensor q;
	tq_status st;

	if (e->src == GG_CODES) {
		for (r = 0; r < n; r++)
			gg_pack_row(e->qt, gg_src_row(e, r0 + r), dst +
			    (size_t)(row_bytes * (uint64_t)r));
		return TQ_OK;
	}
	for (r = 0; r < n; r++)
		tq_tensor_to_f32(e->t, gg_src_row(e, r0 + r) * cols, cols,
		    buf + r * cols);
	if (e->src == GG_FLOAT) {
		for (r = 0; r < n; r++)
			gg_put_float(e->type, buf + r * cols, cols, dst +
			    (size_t)(row_bytes * (uint64_t)r));
		return TQ_OK;
	}
	/* RTN: rows are independent (blocks never cross them). */
	if ((st = tq_qtensor_init(&q, &e->scheme, n, cols, err)) != TQ_OK)
		return st;
	tq_quant_rtn(&q, buf, e->imp, 0);
	for (r = 0; r < n; r++)
		gg_pack_row(&q, r, dst + (size_t)(row_bytes * (uint64_t)r));
	tq_qtensor_done(&q);
	return TQ_OK;
}

static tq_status
gg_fill_one(gg_ctx *g, const gg_tensor *e, uint8_t *dst, uint64_t nbytes,
    tq_error *err)
{
	int64_t cols = e->ne[0], rows = e->ne[1], r, n;
	uint64_t row_bytes = nbytes / (uint64_t)rows;
	float *buf;
	tq_status st = TQ_OK;

	if (tq_job__cancelled(g->x->job))
		return tq_fail(err, TQ_ECANCELLED, "cancelled");
	if (e->src == GG_DATA) {
		memcpy(dst, e->data != NULL ? e->data : &e->one, (size_t)nbytes);
		return TQ_OK;
	}
	n = rows < GG_CHUNK_ROWS ? rows : GG_CHUNK_ROWS;
	if ((buf = malloc((size_t)(n * cols) * sizeof(float))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if (e->n_dims == 1) {
		tq_tensor_to_f32(e->t, 0, cols, buf);
		for (r = 0; r < cols && e->offset != 0.0f; r++)
			buf[r] = e->offset + buf[r];
		for (r = 0; r < cols; r++)
			memcpy(dst + 4 * r, &buf[gg_src_row(e, r)], 4);
		g->done += cols;
	}
	for (r = 0; e->n_dims == 2 && r < rows && st == TQ_OK; r += n) {
		if (tq_job__cancelled(g->x->job)) {
			st = tq_fail(err, TQ_ECANCELLED, "cancelled");
			break;
		}
		if (r + n > rows)
			n = rows - r;
		st = gg_fill_rows(e, r, n, dst + (size_t)(row_bytes *
		    (uint64_t)r), row_bytes, buf, err);
		g->done += n * cols;
		tq_job__progress(g->x->job, g->done, g->total);
	}
	free(buf);
	return st;
}

/* Rows of tensor i with the parts fused after it. */
static int64_t
gg_rows(const gg_ctx *g, size_t i)
{
	int64_t rows = g->t[i].ne[1];

	while (++i < g->n && g->t[i].cont)
		rows += g->t[i].ne[1];
	return rows;
}

/* Tensor number index of the file: its entry, then its fused parts. */
static tq_status
gg_fill(void *ud, size_t index, uint8_t *dst, uint64_t nbytes, tq_error *err)
{
	gg_ctx *g = ud;
	uint64_t row_bytes, off = 0;
	size_t i, k = 0;
	tq_status st = TQ_OK;

	for (i = 0; i < g->n; i++)
		if (!g->t[i].cont && k++ == index)
			break;
	row_bytes = nbytes / (uint64_t)gg_rows(g, i);
	do {
		uint64_t nb = row_bytes * (uint64_t)g->t[i].ne[1];

		st = gg_fill_one(g, &g->t[i], dst + off, nb, err);
		off += nb;
	} while (st == TQ_OK && ++i < g->n && g->t[i].cont);
	return st;
}

/* llama.cpp's general.file_type for the mix of types written. */
static uint32_t
gg_file_type(const gg_ctx *g, const char *type)
{
	static const struct { const char *name; uint32_t ft; } named[] = {
		{ "f32", 0 }, { "f16", 1 }, { "q4_0", 2 }, { "q4_1", 3 },
		{ "q8_0", 7 }, { "q5_0", 8 }, { "q5_1", 9 }, { "q2_k", 10 },
		{ "q3_k_m", 12 }, { "q3_k", 12 }, { "q4_k_s", 14 },
		{ "q4_k_m", 15 }, { "q4_k", 15 }, { "q5_k_m", 17 },
		{ "q5_k", 17 }, { "q6_k", 18 }, { "iq4_nl", 25 },
		{ "iq4_xs", 30 }, { "bf16", 32 }, { "iq3_xs", 22 },
		{ "iq3_xxs", 23 }, { "iq3_s", 26 }, { "iq3_m", 27 },
		{ "iq2_xxs", 19 }, { "iq2_xs", 20 }, { "iq1_s", 24 },
		{ "iq2_s", 28 }, { "iq2_m", 29 }, { "iq1_m", 31 },
	};
	int64_t count[64];
	int best = -1;
	size_t i;

	if (type != NULL)
		for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
			if (strcasecmp(named[i].name, type) == 0)
				return named[i].ft;
	/* The state's own grids: the most common block linear type. */
	memset(count, 0, sizeof(count));
	for (i = 0; i < g->n; i++)
		if (g->t[i].linear && g->t[i].type < 64 &&
		    strncmp(g->t[i].name, "blk.", 4) == 0)
			count[g->t[i].type] += g->t[i].ne[0] * g->t[i].ne[1];
	for (i = 0; i < 64; i++)
		if (count[i] > 0 && (best < 0 || count[i] > count[best]))
			best = (int)i;
	switch (best) {
	case TQ_GGML_F32:	return 0;
	case TQ_GGML_F16:	return 1;
	case TQ_GGML_Q4_0:	return 2;
	case TQ_GGML_Q4_1:	return 3;
	case TQ_GGML_Q8_0:	return 7;
	case TQ_GGML_Q5_0:	return 8;
	case TQ_GGML_Q5_1:	return 9;
	case TQ_GGML_Q2_K:	return 10;
	case TQ_GGML_Q3_K:	return 12;
	case TQ_GGML_Q4_K:	return 15;
	case TQ_GGML_Q5_K:	return 17;
	case TQ_GGML_Q6_K:	return 18;
	case TQ_GGML_IQ4_NL:	return 25;
	case TQ_GGML_IQ4_XS:	return 30;
	case TQ_GGML_BF16:	return 32;
	case TQ_GGML_MXFP4:	return 38;	/* LLAMA_FTYPE_MOSTLY_MXFP4_MOE */
	case TQ_GGML_NVFP4:	return 39;
	case TQ_GGML_IQ3_XXS:	return 23;
	case TQ_GGML_IQ3_S:	return 26;
	case TQ_GGML_IQ2_XXS:	return 19;
	case TQ_GGML_IQ2_XS:	return 20;
	case TQ_GGML_IQ2_S:	return 28;
	case TQ_GGML_IQ1_S:	return 24;
	case TQ_GGML_IQ1_M:	return 31;
	default:		return 1024;	/* LLAMA_FTYPE_GUESSED */
	}
}

/*
 * YaRN as llama.cpp reads it: the scaling type, factor and original
 * context; its cparams make the attention factor 0.1 ln(factor) + 1,
 * times rope.scaling.attn_factor when the model's differs.  Its ramp's
 * ends are always whole dimensions (transformers' truncate true).
 */
static tq_status
gg_yarn(tq_gguf_writer *w, const char *arch, const tq_model_config *c,
    char *warn, size_t wlen)
{
	double af = c->rope_attn_factor / (0.1 * log(c->rope_factor) + 1.0);
	char k[96];
	tq_status st;

	snprintf(k, sizeof(k), "%s.rope.scaling.type", arch);
	st = tq_gguf_kv_str(w, k, "yarn");
	snprintf(k, sizeof(k), "%s.rope.scaling.factor", arch);
	if (st == TQ_OK)
		st = tq_gguf_kv_f32(w, k, (float)c->rope_factor);
	snprintf(k, sizeof(k), "%s.rope.scaling.original_context_length", arch);
	if (st == TQ_OK)
		st = tq_gguf_kv_u32(w, k, (uint32_t)c->rope_original_max_pos);
	snprintf(k, sizeof(k), "%s.rope.scaling.attn_factor", arch);
	if (st == TQ_OK && fabs(af - 1.0) > 1e-7)
		st = tq_gguf_kv_f32(w, k, (float)af);
	if (!c->rope_truncate)
		tq_warn_append(warn, wlen, "llama.cpp's YaRN rounds the ends of "
		    "its ramp to whole dimensions (rope_scaling's truncate is "
		    "false here): the rotary frequencies between them differ");
	return st;
}

/* The hyperparameter keys of llama/qwen2 (gguf.md section 5.1). */
static tq_status
gg_hparams(tq_gguf_writer *w, const char *arch, const tq_model_config *c,
    char *warn, size_t wlen)
{
	char k[96];
	tq_status st = TQ_OK;
	const struct {
		const char *key;
		double v;
		int is_float;
	} kv[] = {
		{ "vocab_size", (double)c->vocab_size, 0 },
		{ "context_length", (double)c->max_position_embeddings, 0 },
		{ "embedding_length", (double)c->hidden_size, 0 },
		{ "block_count", (double)c->n_layers, 0 },
		{ "feed_forward_length", (double)c->intermediate_size, 0 },
		{ "attention.head_count", (double)c->n_heads, 0 },
		{ "attention.head_count_kv", (double)c->n_kv_heads, 0 },
		{ "attention.key_length", (double)c->head_dim, 0 },
		{ "attention.value_length", (double)c->head_dim, 0 },
		{ "rope.dimension_count", (double)(c->rope_dim > 0 ?
		    c->rope_dim : c->head_dim), 0 },
		{ "rope.freq_base", c->rope_theta, 1 },
		{ "attention.layer_norm_rms_epsilon", c->rms_norm_eps, 1 },
		{ "rope.scaling.factor", c->rope_factor, 1 },
	};
	size_t i, n = sizeof(kv) / sizeof(kv[0]);

	/* Counts are u32 and floats f32, as llama.cpp's loader asks. */
	if (c->rope_type != TQ_ROPE_LINEAR)
		n--;	/* no scaling factor */
	for (i = 0; i < n && st == TQ_OK; i++) {
		snprintf(k, sizeof(k), "%s.%s", arch, kv[i].key);
		st = kv[i].is_float ? tq_gguf_kv_f32(w, k, (float)kv[i].v) :
		    tq_gguf_kv_u32(w, k, (uint32_t)kv[i].v);
	}
	if (c->rope_type == TQ_ROPE_LINEAR && st == TQ_OK) {
		snprintf(k, sizeof(k), "%s.rope.scaling.type", arch);
		st = tq_gguf_kv_str(w, k, "linear");
	}
	if (c->rope_type == TQ_ROPE_LONGROPE && st == TQ_OK) {
		/* with rope_factors_long/short (convert_hf_to_gguf.py's
		   Phi3MiniModel) */
		snprintf(k, sizeof(k), "%s.rope.scaling.original_context_length",
		    arch);
		st = tq_gguf_kv_u32(w, k, (uint32_t)c->rope_original_max_pos);
		snprintf(k, sizeof(k), "%s.rope.scaling.attn_factor", arch);
		if (st == TQ_OK)
			st = tq_gguf_kv_f32(w, k, (float)c->rope_attn_factor);
	}
	if (c->arch == TQ_ARCH_PHI3 && st == TQ_OK) {
		snprintf(k, sizeof(k), "%s.attention.sliding_window", arch);
		st = tq_gguf_kv_u32(w, k, (uint32_t)c->sliding_window);
	}
	if (c->n_experts > 0 && st == TQ_OK) {
		snprintf(k, sizeof(k), "%s.expert_count", arch);
		st = tq_gguf_kv_u32(w, k, (uint32_t)c->n_experts);
		snprintf(k, sizeof(k), "%s.expert_used_count", arch);
		if (st == TQ_OK)
			st = tq_gguf_kv_u32(w, k, (uint32_t)c->n_experts_used);
		snprintf(k, sizeof(k), "%s.expert_feed_forward_length", arch);
		if (st == TQ_OK && (c->arch == TQ_ARCH_QWEN3_MOE ||
		    c->arch == TQ_ARCH_GPT_OSS))
			st = tq_gguf_kv_u32(w, k, (uint32_t)c->moe_inter);
	}
	if (c->rope_type == TQ_ROPE_YARN && st == TQ_OK)
		st = gg_yarn(w, arch, c, warn, wlen);
	if (c->rope_type == TQ_ROPE_DYNAMIC)
		tq_warn_append(warn, wlen, "llama.cpp has no dynamic NTK rope "
		    "scaling: written unscaled, the same up to %lld tokens",
		    (long long)c->max_position_embeddings);
	if ((strcmp(arch, "llama") == 0 || strcmp(arch, "phi3") == 0) &&
	    c->sliding_window > 0 &&
	    c->sliding_window < c->max_position_embeddings)
		tq_warn_append(warn, wlen, "llama.cpp runs arch %s with full "
		    "attention: the sliding window of %lld tokens is not kept "
		    "(the same up to that length)", arch,
		    (long long)c->sliding_window);
	return st;
}

/*
 * Whether tensor e (GGUF name `name`) needs an importance matrix: llama-
 * quantize's rule (tensor_requires_imatrix: IQ3_XXS and the IQ2 and IQ1
 * types) but on the token embeddings and the output, where ggml's own
 * applies (IQ2_XXS, IQ2_XS and IQ1_S have no quantizer without one).
 */
static int
gg_needs_imatrix(const gg_tensor *e, const char *name)
{
	if (strcmp(name, "token_embd.weight") == 0 ||
	    strcmp(name, "output.weight") == 0)
		return tq_quant_ggml_needs_imatrix(&e->scheme);
	return tq_quant_needs_imatrix(&e->scheme);
}

/*
 * --imatrix: every re-quantized tensor's importance from the file, under
 * its GGUF name (a fused tensor's parts under the fused name), as
 * llama-quantize looks it up; a tensor it lacks is rounded without.
 */
static tq_status
gg_imatrix(gg_ctx *g, tq_error *err)
{
	const char *name = NULL;
	int64_t part = 0, parts = 1;
	tq_imatrix im;
	tq_status st;
	size_t i;
	int rc = 0;

	if ((st = tq_imatrix_open(g->x->imatrix, &im, err)) != TQ_OK)
		return st;
	for (i = 0; i < g->n && rc >= 0; i++) {
		gg_tensor *e = &g->t[i];

		/* an expert of ffn_*_exps reads its own row of the entry */
		if (!e->cont) {
			name = e->name;
			part = 0;
			parts = e->ne2 > 1 ? e->ne2 : 1;
		} else {
			part++;
		}
		if (e->src != GG_REQUANT)
			continue;
		if ((e->imp = malloc((size_t)e->ne[0] * sizeof(float))) ==
		    NULL) {
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
			break;
		}
		if ((rc = tq_imatrix_get_expert(&im, name, e->ne[0],
		    parts > 1 ? part : 0, parts, e->imp, err)) < 0)
			st = err->status;
		if (rc == 0) {
			free(e->imp);
			e->imp = NULL;
		}
		if (rc == 0 && gg_needs_imatrix(e, name)) {
			char sn[32];

			tq_scheme_name(&e->scheme, sn, sizeof(sn));
			st = tq_fail(err, TQ_EINVAL, "%s: no importance for %s, "
			    "and llama-quantize quantizes %s only with it "
			    "(\"Missing importance matrix for tensor %s in a "
			    "very low-bit quantization\")", g->x->imatrix, name,
			    sn, name);
			rc = -1;
		}
	}
	tq_imatrix_close(&im);
	return st;
}

/* Parses --type into the request (and a plan for REQ_PLAN). */
static tq_status
gg_request(const char *type, int imatrix, gg_req *req, int *float_req,
    tq_plan **plan, tq_error *err)
{
	char json[512];

	*plan = NULL;
	if (imatrix && (type == NULL || strcasecmp(type, "f32") == 0 ||
	    strcasecmp(type, "f16") == 0 || strcasecmp(type, "bf16") == 0))
		return tq_fail(err, TQ_EINVAL, "--imatrix weighs the RTN of "
		    "--type's block types; give --type a mix or block type, "
		    "not %s", type == NULL ? "none" : type);
	if (type == NULL) {
		*req = REQ_STATE;
		return TQ_OK;
	}
	if (strcasecmp(type, "f32") == 0 || strcasecmp(type, "f16") == 0 ||
	    strcasecmp(type, "bf16") == 0) {
		*req = REQ_FLOAT;
		*float_req = strcasecmp(type, "f32") == 0 ? TQ_GGML_F32 :
		    strcasecmp(type, "f16") == 0 ? TQ_GGML_F16 : TQ_GGML_BF16;
		return TQ_OK;
	}
	*req = REQ_PLAN;
	if (in_list(mix_names, type) && imatrix) {
		/* the mixes that ask llama-quantize's has_imatrix see it */
		snprintf(json, sizeof(json), "{\"preset\": \"%s\", \"rules\": "
		    "[{\"match\": \"\", \"imatrix\": true}]}", type);
		return tq_plan_parse(json, strlen(json), "--type", plan, err);
	}
	if (in_list(mix_names, type))
		return tq_plan_preset(type, plan, err);
	if (!in_list(pure_names, type))
		return tq_fail(err, TQ_EINVAL, "GGUF has no type \"%.40s\"; "
		    "available: %s", type, GG_TYPE_LIST);
	/* Every linear, lm_head and the embeddings included (--pure). */
	snprintf(json, sizeof(json), "{\"default\": {\"method\": \"rtn\", "
	    "\"scheme\": \"%s\"}, \"fallback\": true, \"rules\": ["
	    "{\"match\": \"^lm_head$\", \"scheme\": \"%s\"}, "
	    "{\"match\": \"^model\\\\.embed_tokens$\", \"scheme\": \"%s\"}]}",
	    type, type, type);
	return tq_plan_parse(json, strlen(json), "--type", plan, err);
}

/* The types of the linears written, "q4_K+q6_K" (a state's own mix). */
static void
gg_label(const gg_ctx *g, char *buf, size_t len)
{
	int seen[64] = { 0 };
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < g->n; i++) {
		int t = g->t[i].type;

		if (!g->t[i].linear || t < 0 || t >= 64 || seen[t])
			continue;
		seen[t] = 1;
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
		    n ? "+" : "", tq_ggml_type_name(t));
	}
}

/*
 * Block b's norms between attention and MLP: QK-norm (qwen3, gemma3), the
 * attention's post-norm (gemma) and the MLP's input norm.
 */
static tq_status
gg_add_block_norms(gg_ctx *g, const tq_layer_weights *l, int64_t b,
    tq_error *err)
{
	static const char *const leaf[4] = { "attn_q_norm", "attn_k_norm",
	    "post_attention_norm", "ffn_norm" };
	/* gpt-oss names its MLP's input norm attn_post_norm */
	int oss = g->x->model->cfg.arch == TQ_ARCH_GPT_OSS;
	const tq_tensor *t[4] = { l->q_norm, l->k_norm, l->post_attn_norm,
	    l->ffn_norm };
	char name[64];
	int k;
	tq_status st;

	for (k = 0; k < 4; k++) {
		snprintf(name, sizeof(name), "blk.%lld.%s.weight", (long long)b,
		    oss && k == 3 ? leaf[2] : leaf[k]);
		if ((st = gg_add_norm(g, name, t[k], err)) != TQ_OK)
			return st;
	}
	return TQ_OK;
}

static void
gg_lower(char *dst, size_t len, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		dst[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	dst[i] = '\0';
}

/*
 * What llama.cpp's gemma2 and gemma3 graphs compute (src/models/gemma2.cpp,
 * gemma3.cpp): q times 1/sqrt(head_dim), or 1/sqrt(H / heads) at the 27B's
 * layer count, in place of query_pre_attn_scalar; no biases; linear rope
 * scaling at most; gemma2 tied and always soft-capped.
 */
static const char *
gg_gemma_arch(const tq_export_ctx *x, const tq_model_config *c,
    tq_error *err)
{
	int g3 = c->arch == TQ_ARCH_GEMMA3;
	double qs = c->n_layers == (g3 ? 62 : 46) ?
	    (double)(c->hidden_size / c->n_heads) : (double)c->head_dim;
	char why[128];

	why[0] = '\0';
	if (c->attention_bias || c->qkv_bias || c->mlp_bias)
		snprintf(why, sizeof(why), "has no biases");
	else if (c->query_pre_attn_scalar != qs)
		snprintf(why, sizeof(why), "scales q by 1/sqrt(%g), not by "
		    "query_pre_attn_scalar %g's", qs, c->query_pre_attn_scalar);
	else if (c->rope_type != TQ_ROPE_DEFAULT &&
	    c->rope_type != TQ_ROPE_LINEAR)
		snprintf(why, sizeof(why), "has no %s rope scaling",
		    tq_rope_type_name(c->rope_type));
	else if (!g3 && !c->tie_word_embeddings)
		snprintf(why, sizeof(why), "has no lm_head of its own "
		    "(untied)");
	else if (!g3 && (c->attn_softcap <= 0.0 || c->final_softcap <= 0.0))
		snprintf(why, sizeof(why), "always soft-caps scores and "
		    "logits");
	if (why[0] == '\0')
		return tq_arch_name(c->arch);
	tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's %s %s",
	    tq_model_path(x->base), tq_arch_name(c->arch), why);
	return NULL;
}

/*
 * Gemma's keys: the window, which layers slide (a period N, layer li
 * global iff li % N == N - 1, as llama.cpp's set_swa_pattern; a list
 * otherwise), the sliding layers' RoPE base and the soft-caps.
 */
/*
 * The sliding window and which layers slide: every p-th layer global
 * (llama.cpp's set_swa_pattern), or a flag a layer when no p fits.
 */
static tq_status
gg_swa(tq_gguf_writer *w, const char *arch, const tq_model_config *c)
{
	int32_t swa[1024];
	int64_t n = c->n_layers, p, li;
	char k[96];
	tq_status st = TQ_OK;

	for (li = 0; li < n; li++)
		swa[li] = c->sliding_window > 0 &&
		    !(c->full_attn[li / 64] >> (li % 64) & 1);
	for (p = 1; p <= n + 1; p++) {
		for (li = 0; li < n && swa[li] == (li % p != p - 1); li++)
			;
		if (li == n)
			break;
	}
	if (c->sliding_window > 0 || c->arch == TQ_ARCH_GPT_OSS) {
		snprintf(k, sizeof(k), "%s.attention.sliding_window", arch);
		st = tq_gguf_kv_u32(w, k, (uint32_t)c->sliding_window);
	}
	snprintf(k, sizeof(k), "%s.attention.sliding_window_pattern", arch);
	if (st == TQ_OK && (c->sliding_window > 0 || c->arch ==
	    TQ_ARCH_GEMMA2))
		st = p <= n + 1 ? tq_gguf_kv_u32(w, k, (uint32_t)p) :
		    tq_gguf_kv_i32_array(w, k, swa, (size_t)n);
	return st;
}

static tq_status
gg_gemma_hparams(tq_gguf_writer *w, const char *arch,
    const tq_model_config *c)
{
	char k[96];
	tq_status st;

	st = gg_swa(w, arch, c);
	snprintf(k, sizeof(k), "%s.rope.freq_base_swa", arch);
	if (st == TQ_OK)
		st = tq_gguf_kv_f32(w, k, (float)(c->rope_local_theta > 0.0 ?
		    c->rope_local_theta : c->rope_theta));
	snprintf(k, sizeof(k), "%s.attn_logit_softcapping", arch);
	if (st == TQ_OK && c->attn_softcap > 0.0)
		st = tq_gguf_kv_f32(w, k, (float)c->attn_softcap);
	snprintf(k, sizeof(k), "%s.final_logit_softcapping", arch);
	if (st == TQ_OK && c->final_softcap > 0.0)
		st = tq_gguf_kv_f32(w, k, (float)c->final_softcap);
	return st;
}

/*
 * llama.cpp's gpt-oss (src/models/openai-moe.cpp): its clamped SwiGLU's
 * limit is 7 and its YaRN's betas 32 and 1, fixed.
 */
static const char *
gg_oss_arch(const tq_export_ctx *x, const tq_model_config *c, tq_error *err)
{
	if (c->swiglu_limit != 7.0)
		tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's gpt-oss clamps "
		    "its SwiGLU at 7, and this model's swiglu_limit is %g",
		    tq_model_path(x->base), c->swiglu_limit);
	else if (c->rope_type != TQ_ROPE_DEFAULT && (c->rope_type !=
	    TQ_ROPE_YARN || c->rope_beta_fast != 32.0 ||
	    c->rope_beta_slow != 1.0))
		tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's gpt-oss takes "
		    "YaRN with beta_fast 32 and beta_slow 1 (or no scaling), "
		    "and this model's rope is %s", tq_model_path(x->base),
		    tq_rope_type_name(c->rope_type));
	else
		return "gpt-oss";
	return NULL;
}

/*
 * The llama.cpp architecture of c, or NULL with err set when llama.cpp's
 * graph of it cannot compute what ours does.
 */
static const char *
gg_arch(const tq_export_ctx *x, const tq_model_config *c, tq_error *err)
{
	int64_t li;

	switch (c->arch) {
	case TQ_ARCH_LLAMA:
	case TQ_ARCH_MISTRAL:
	case TQ_ARCH_MIXTRAL:
		return "llama";
	case TQ_ARCH_QWEN3_MOE:
		/* its graph: every layer routed, top-k weights renormalised */
		for (li = 0; li < c->n_layers; li++)
			if (c->dense_mlp[li / 64] >> (li % 64) & 1) {
				tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's "
				    "qwen3moe routes every layer, and layer %lld "
				    "is dense (mlp_only_layers, "
				    "decoder_sparse_step)",
				    tq_model_path(x->base), (long long)li);
				return NULL;
			}
		if (!c->norm_topk_prob || c->n_experts == 0) {
			tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's qwen3moe "
			    "renormalises the top-k expert weights, and this "
			    "model does not (norm_topk_prob false)%s",
			    tq_model_path(x->base), c->n_experts == 0 ?
			    " or has no experts" : "");
			return NULL;
		}
		if (c->attention_bias) {
			tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's qwen3moe "
			    "has no attention biases (attention_bias)",
			    tq_model_path(x->base));
			return NULL;
		}
		return "qwen3moe";
	case TQ_ARCH_QWEN2:
		return "qwen2";
	case TQ_ARCH_QWEN3:
	case TQ_ARCH_SMOLLM3:
		break;
	case TQ_ARCH_GEMMA2:
	case TQ_ARCH_GEMMA3:
		return gg_gemma_arch(x, c, err);
	case TQ_ARCH_PHI3:
		/* Its tensors have no biases; its rope is default or longrope. */
		return "phi3";
	case TQ_ARCH_GPT_OSS:
		return gg_oss_arch(x, c, err);
	}
	/* Their llama.cpp loaders have no output bias and no rope_freqs. */
	if (c->attention_bias || c->rope_type == TQ_ROPE_LLAMA3) {
		tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's %s has no %s",
		    tq_model_path(x->base), tq_arch_name(c->arch),
		    c->attention_bias ? "attention output bias "
		    "(attention_bias)" : "llama3 rope scaling");
		return NULL;
	}
	for (li = 0; li < c->n_layers && c->arch == TQ_ARCH_SMOLLM3; li++)
		if ((c->no_rope[li / 64] >> (li % 64) & 1) != (li % 4 == 3)) {
			tq_fail(err, TQ_EUNSUPPORTED, "%s: llama.cpp's smollm3 "
			    "leaves RoPE out of every 4th layer, and this "
			    "model's layer %lld differs", tq_model_path(x->base),
			    (long long)li);
			return NULL;
		}
	return tq_arch_name(c->arch);
}

/*
 * Block b's mixture of experts: the router ffn_gate_inp in F32 (llama-
 * quantize never quantizes it), then each expert's gate, up and down
 * stacked into ffn_gate_exps, ffn_up_exps and ffn_down_exps.
 */
static tq_status
gg_add_experts(gg_ctx *g, gg_req req, int float_req, const tq_plan *plan,
    int64_t b, tq_error *err)
{
	static const char *const exps[3] = { "ffn_gate_exps", "ffn_up_exps",
	    "ffn_down_exps" };
	const tq_model *m = g->x->model;
	const tq_layer_weights *l = &m->layers[b];
	size_t first = tq_model__block_first(m, b) + 4;
	char name[64];
	int e, j;
	tq_status st;

	snprintf(name, sizeof(name), "blk.%lld.ffn_gate_inp.weight",
	    (long long)b);
	if ((st = gg_add(g, name, TQ_GGML_F32, l->router, NULL, err)) !=
	    TQ_OK)
		return st;
	snprintf(name, sizeof(name), "blk.%lld.ffn_gate_inp.bias", (long long)b);
	if ((st = gg_add_vec(g, name, l->router_b, 0, err)) != TQ_OK)
		return st;
	for (j = 0; j < 3; j++) {
		snprintf(name, sizeof(name), "blk.%lld.%s.weight", (long long)b,
		    exps[j]);
		for (e = 0; e < l->n_experts; e++)
			if ((st = gg_add_linear(g, req, float_req, plan,
			    first + 3 * (size_t)e + (size_t)j, name, 0, NULL,
			    err)) != TQ_OK)
				return st;
		if ((st = gg_stack(g, (size_t)l->n_experts, b, err)) != TQ_OK)
			return st;
		if (l->expert_b[0][j] == NULL)
			continue;
		/* gpt-oss's biases, F32 [E, rows]: one row an expert */
		snprintf(name, sizeof(name), "blk.%lld.%s.bias", (long long)b,
		    exps[j]);
		for (e = 0; e < l->n_experts; e++)
			if ((st = gg_add_vec(g, name, l->expert_b[e][j], 0,
			    err)) != TQ_OK)
				return st;
		for (e = 1; e < l->n_experts; e++)
			g->t[g->n - (size_t)e].cont = 1;
	}
	return TQ_OK;
}

tq_status
tq_export_gguf(tq_export_ctx *x, tq_error *err)
{
	const tq_model *m = x->model;
	const tq_model_config *c = tq_model_get_config(m);
	const char *arch = gg_arch(x, c, err);
	/* llama.cpp's "norm" RoPE pairs rows its "neox" one does not. */
	int permute = c->arch == TQ_ARCH_LLAMA || c->arch == TQ_ARCH_MISTRAL ||
	    c->arch == TQ_ARCH_MIXTRAL || c->arch == TQ_ARCH_SMOLLM3;
	int64_t hq = permute ? c->n_heads : 0, hk = permute ? c->n_kv_heads : 0;
	size_t nl = tq_model_n_linears(m), i, li;
	tq_gguf_writer *w = NULL;
	tq_plan *plan = NULL;
	gg_tensor *emb, *out;
	gg_ctx g;
	gg_req req;
	int float_req = TQ_GGML_F32, any_q = 0;
	uint64_t qbytes = 0, qweights = 0;
	char name[64], *base_name, label[32], warn[512];
	const char *slash;
	tq_status st;
	int64_t b;

	static const char *const lnames[TQ_LINEARS_PER_LAYER] = {
		"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate",
		"ffn_up", "ffn_down"
	};
	/* phi3: q's rows then k's and v's; gate's then up's (gg_fuse) */
	static const char *const fnames[TQ_LINEARS_PER_LAYER] = {
		"attn_qkv", "attn_k", "attn_v", "attn_output", "ffn_up",
		"ffn_up_half", "ffn_down"
	};

	if (arch == NULL)
		return err->status;
	memset(&g, 0, sizeof(g));
	g.x = x;
	warn[0] = '\0';
	if ((st = gg_request(x->type, x->imatrix != NULL, &req, &float_req,
	    &plan, err)) != TQ_OK)
		return st;
	if (plan != NULL && (st = tq_plan_check(plan, x->base, err)) != TQ_OK)
		goto out;

	/* The tensors, in llama.cpp's loading order. */
	if ((st = gg_add_linear(&g, req, float_req, plan, nl - 1,
	    "token_embd.weight", 0, &emb, err)) != TQ_OK)
		goto out;
	if (permute && c->rope_type == TQ_ROPE_LLAMA3 &&
	    (st = gg_rope_freqs(&g, c, err)) != TQ_OK)
		goto out;
	if (c->rope_type == TQ_ROPE_LONGROPE && ((st = gg_add_data(&g,
	    "rope_factors_long.weight", c->rope_long_factor,
	    (c->rope_dim > 0 ? c->rope_dim : c->head_dim) / 2, err)) != TQ_OK ||
	    (st = gg_add_data(&g, "rope_factors_short.weight",
	    c->rope_short_factor, (c->rope_dim > 0 ? c->rope_dim :
	    c->head_dim) / 2, err)) != TQ_OK))
		goto out;
	if ((st = gg_add_norm(&g, "output_norm.weight", m->norm, err)) !=
	    TQ_OK ||
	    (st = gg_add_linear(&g, req, float_req, plan, nl - 2,
	    "output.weight", 0, &out, err)) != TQ_OK)
		goto out;
	/* gg_add may have moved the array: find the embedding again. */
	emb = &g.t[0];
	out = &g.t[g.n - 1];
	if (c->tie_word_embeddings && gg_same(emb, out))
		g.n--;	/* llama.cpp reads a missing output as token_embd */
	for (b = 0; b < c->n_layers; b++) {
		const tq_layer_weights *l = &m->layers[b];
		const tq_tensor *bias[TQ_LINEARS_PER_LAYER] = {
			l->bq, l->bk, l->bv, l->bo, l->b_gate, l->b_up, l->b_down
		};
		int k;

		snprintf(name, sizeof(name), "blk.%lld.attn_norm.weight",
		    (long long)b);
		if ((st = gg_add_norm(&g, name, l->attn_norm, err)) != TQ_OK)
			goto out;
		snprintf(name, sizeof(name), "blk.%lld.attn_sinks.weight",
		    (long long)b);
		if ((st = gg_add_vec(&g, name, l->sinks, 0, err)) != TQ_OK)
			goto out;
		for (k = 0; k < TQ_LINEARS_PER_LAYER; k++) {
			int64_t heads = k == 0 ? hq : k == 1 ? hk : 0;

			if (k == 4 && (st = gg_add_block_norms(&g, l, b,
			    err)) != TQ_OK)
				goto out;
			if (k == 4 && l->n_experts > 0) {
				if ((st = gg_add_experts(&g, req, float_req, plan,
				    b, err)) != TQ_OK)
					goto out;
				break;
			}
			li = tq_model__block_first(m, b) + (size_t)k;
			snprintf(name, sizeof(name), "blk.%lld.%s.weight",
			    (long long)b, c->fused_proj ? fnames[k] : lnames[k]);
			if ((st = gg_add_linear(&g, req, float_req, plan, li, name,
			    heads, NULL, err)) != TQ_OK)
				goto out;
			if (c->fused_proj && (k == 2 || k == 5) &&
			    (st = gg_fuse(&g, k == 2 ? 3 : 2, b, err)) != TQ_OK)
				goto out;
			snprintf(name, sizeof(name), "blk.%lld.%s.bias",
			    (long long)b, lnames[k]);
			if ((st = gg_add_vec(&g, name, bias[k], heads, err)) !=
			    TQ_OK)
				goto out;
		}
		snprintf(name, sizeof(name), "blk.%lld.post_ffw_norm.weight",
		    (long long)b);
		if ((st = gg_add_norm(&g, name, l->post_ffn_norm, err)) !=
		    TQ_OK)
			goto out;
	}

	/* Metadata. */
	if ((st = tq_gguf_writer_new(&w, err)) != TQ_OK)
		goto out;
	for (i = 0; i < g.n; i++) {
		uint64_t nb = tq_ggml_nbytes(g.t[i].type, g.t[i].ne[0],
		    g.t[i].ne[1]);

		g.total += g.t[i].ne[0] * g.t[i].ne[1];
		if (g.t[i].linear && g.t[i].type != TQ_GGML_F32 &&
		    g.t[i].type != TQ_GGML_F16 && g.t[i].type != TQ_GGML_BF16) {
			any_q = 1;
			qbytes += nb;
			qweights += (uint64_t)(g.t[i].ne[0] * g.t[i].ne[1]);
		}
	}
	if (!any_q)
		for (i = 0; i < g.n; i++)
			if (g.t[i].linear) {
				qbytes += tq_ggml_nbytes(g.t[i].type, g.t[i].ne[0],
				    g.t[i].ne[1]);
				qweights += (uint64_t)(g.t[i].ne[0] *
				    g.t[i].ne[1]);
			}
	slash = strrchr(tq_model_path(x->base), '/');
	base_name = (char *)(slash != NULL && slash[1] != '\0' ? slash + 1 :
	    tq_model_path(x->base));
	st = tq_gguf_kv_str(w, "general.architecture", arch);
	if (st == TQ_OK)
		st = tq_gguf_kv_str(w, "general.name", base_name);
	if (st == TQ_OK)
		st = tq_gguf_kv_u32(w, "general.file_type",
		    gg_file_type(&g, x->type));
	if (st == TQ_OK && any_q)
		st = tq_gguf_kv_u32(w, "general.quantization_version", 2);
	if (st == TQ_OK)
		st = gg_hparams(w, arch, c, warn, sizeof(warn));
	if (st == TQ_OK && (c->arch == TQ_ARCH_GEMMA2 ||
	    c->arch == TQ_ARCH_GEMMA3))
		st = gg_gemma_hparams(w, arch, c);
	if (st == TQ_OK && c->arch == TQ_ARCH_GPT_OSS)
		st = gg_swa(w, arch, c);
	if (st == TQ_OK)
		st = tq_gguf_vocab_write(w, x->base, warn, sizeof(warn), err);
	else
		st = tq_fail(err, st, "%s: out of memory", x->out);
	if (st != TQ_OK)
		goto out;
	for (i = 0; i < g.n; i++) {
		const gg_tensor *e = &g.t[i];
		int64_t ne[3] = { e->ne[0], gg_rows(&g, i), e->ne2 };
		uint64_t nb = tq_ggml_nbytes(e->type, ne[0], ne[1]);

		if (e->ne2 > 1)		/* experts: [ne0, rows, ne2] */
			ne[1] = e->ne[1];

		if (e->cont)
			continue;
		if (nb == 0) {
			st = tq_fail(err, TQ_EINVAL, "%s: %s: %lld columns do not "
			    "fill whole %s blocks", x->out, e->name,
			    (long long)e->ne[0], tq_ggml_type_name(e->type));
			goto out;
		}
		/* vectors with rows after them: gpt-oss's experts' biases */
		if ((st = tq_gguf_add_tensor_fill(w, e->name, e->type,
		    e->ne2 > 1 ? 3 : e->n_dims == 1 && ne[1] > 1 ? 2 :
		    e->n_dims, ne, nb, gg_fill, &g, err)) != TQ_OK)
			goto out;
	}

	/* The report, then the data. */
	if (x->type != NULL)
		gg_lower(label, sizeof(label), x->type);
	else if (x->state == NULL)
		snprintf(label, sizeof(label), "f16");
	else
		gg_label(&g, label, sizeof(label));
	snprintf(x->report->type, sizeof(x->report->type), "%s", label);
	x->report->bpw = qweights > 0 ? 8.0 * (double)qbytes /
	    (double)qweights : 0.0;
	if (g.n_requant_q > 0)
		tq_warn_append(warn, sizeof(warn), "%zu layers re-quantized with "
		    "RTN from the state's dequantized %s weights (rounded twice: "
		    "the state's own error compensation is lost); no importance "
		    "matrix", g.n_requant_q, g.requant_from);
	if (g.n_requant_f > 0)
		tq_warn_append(warn, sizeof(warn), "%zu layers the state kept in "
		    "float were quantized with RTN", g.n_requant_f);
	if (g.n_w8a8 > 0)
		tq_warn_append(warn, sizeof(warn), "%zu layers were W8A8: GGUF "
		    "keeps their weights only; llama.cpp does not quantize "
		    "activations as SmoothQuant does", g.n_w8a8);
	if (req == REQ_FLOAT && float_req != TQ_GGML_F32 && x->state != NULL)
		tq_warn_append(warn, sizeof(warn), "the state's dequantized "
		    "weights rounded to %s", tq_ggml_type_name(float_req));
	snprintf(x->report->warning, sizeof(x->report->warning), "%s", warn);
	if (warn[0] != '\0')
		tq_job__log(x->job, "warning: %s", warn);
	tq_job__progress(x->job, 0, g.total);
	if (x->imatrix != NULL && (st = gg_imatrix(&g, err)) != TQ_OK)
		goto out;
	st = tq_gguf_write(w, x->out, err);
out:
	for (i = 0; i < g.n; i++)
		free(g.t[i].imp);
	tq_gguf_writer_free(w);
	tq_plan_free(plan);
	free(g.rope_freqs);
	free(g.t);
	return st;
}
