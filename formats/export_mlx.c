/*
 * export_mlx.c: the mlx-lm checkpoint (Apple MLX affine quantization).
 *
 * mlx-lm loads a directory holding config.json, model.safetensors (or
 * shards model-0000i-of-0000n.safetensors listed in
 * model.safetensors.index.json) and the tokenizer files.  A quantized
 * linear layer or embedding L is three tensors:
 *
 *   L.weight   U32 [rows, cols * bits / 32]: the codes of each row as one
 *              little-endian bit stream, code c at bits [c*bits, (c+1)*bits)
 *              (so 3, 5 and 6-bit codes straddle words, as mlx packs them);
 *   L.scales   [rows, cols / group]
 *   L.biases   [rows, cols / group]: w = scale * q + bias.
 *
 * MLX takes 2, 3, 4, 5, 6 or 8 bits in groups of 32, 64 or 128 columns.
 * An mxfp4 state is MLX's mode "mxfp4" (mlx 0.32): L.weight the E2M1
 * nibbles as a 4-bit stream, L.scales U8 our E8M0 bytes (2^(e - 127)), no
 * biases; an mxfp8 state is mode "mxfp8", the E4M3 bytes and the E8M0
 * exponents of our power-of-two scales.  An nvfp4-unit state (G = 1) is
 * mode "nvfp4", groups of 16: the E2M1 nibbles as a 4-bit stream and
 * L.scales U8 our E4M3 bytes, which MLX multiplies by e2m1 alone (its
 * linear layers take no tensor scale); an nvfp4-pow2 state is too where
 * every E4M3 scale divided by its power-of-two G is again an E4M3 value
 * (folded exactly), and is refused naming the layer where one is not.
 * Plain nvfp4 (G = 2688 / amax) is refused: no E4M3 byte holds s / G.
 * config.json gets "quantization": {"group_size", "bits", "mode"} with the
 * most common setting plus an entry per layer path that differs (the
 * per-layer overrides mlx-lm's loader looks up), copied to
 * "quantization_config" as mlx-lm's own writer does.  Float layers need no
 * entry: the loader quantizes only modules whose scales it finds.
 *
 * Our INT grid dequantizes to scale * (code - zero): MLX's q is our code,
 * its scale ours (fp16-exact) and its bias -scale * zero.  That product can
 * need 19 significant bits, more than fp16's 11, so scales and biases are
 * written as F16 when every one of them is exact in fp16 (symmetric grids,
 * whose zero is a power of two) and as F32 otherwise: MLX then dequantizes
 * to exactly our weights (--type f16 asks for fp16 anyway, and the report
 * says how far the rounded biases move the weights).  A per-channel,
 * per-tensor or 256-column grid is the same grid repeated over MLX groups
 * of 128 (or 64 or 32) columns, and an act-order g_idx fits when it is
 * constant over each MLX group.  Grids
 * MLX cannot hold (FP8, NF4, the GGUF blocks, 7 bits, scattered g_idx) are
 * refused, or re-quantized by RTN onto the grid --type names.  Float
 * tensors keep the dtype of the model the state was applied to.  phi3's
 * q/k/v and gate/up are written as mlx-lm's phi3 reads them, one
 * qkv_proj and one gate_up_proj with the parts' rows stacked.  A mixture
 * of experts (mixtral, qwen3_moe) is written as mlx-lm's SwitchGLU holds
 * it: each block's experts' gates, ups and downs stacked into
 * switch_mlp.gate_proj, up_proj and down_proj [experts, out, in] (packed
 * [experts, out, in * bits / 32], scales and biases [experts, out,
 * in / group]), each expert's codes and scales its own; mlx-lm takes one
 * grid for such a tensor, so a block's experts of one kind must share
 * bits, group and mode.  The router (gate) stays float.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "error.h"
#include "export.h"
#include "export_mlx.h"
#include "fileio.h"
#include "hf_export.h"
#include "quant.h"
#include "quant_fp4.h"
#include "safetensors.h"
#include "tensor.h"

uint64_t tq_export_mlx__shard_bytes = 5ull << 30;

/* What each quantizable layer becomes. */
typedef struct mlx_layer {
	const tq_qtensor *qt;	/* the grid written; NULL: a float layer */
	tq_qtensor own;		/* a re-quantization onto --type */
	int group;		/* MLX's group size */
	int mx;			/* MLX_MXFP4, MLX_MXFP8, MLX_NVFP4: U8 scales,
				   no biases */
} mlx_layer;

enum { MLX_AFFINE, MLX_MXFP4, MLX_MXFP8, MLX_NVFP4 };
static const char *const mlx_modes[] = { "affine", "mxfp4", "mxfp8",
    "nvfp4" };

/* A float tensor or a quantized layer, in checkpoint order. */
typedef struct mlx_unit {
	char name[128];		/* the tensor's name, or the layer's path */
	const tq_tensor *t;	/* float tensor, or NULL */
	const mlx_layer *q;	/* quantized layer, or NULL */
	size_t nq;		/* layers q[0], q[stride] .. stacked (phi3's
				   fused rows, a block's experts) */
	size_t stride;
	int experts;		/* [nq, rows, cols]: stacked experts */
	uint64_t bytes;
	int shard;
} mlx_unit;

typedef struct mlx_export {
	tq_export_ctx *x;
	const tq_model_config *cfg;
	size_t n;		/* quantizable layers */
	mlx_layer *layers;	/* [n] */
	int untie;		/* a tied lm_head written on its own */
	tq_scheme grid;		/* --type: the grid for what MLX cannot hold */
	char grid_name[32];	/* "" without one */
	int f16;		/* --type f16: fp16 parameters even if rounded */
	tq_dtype pdt;		/* scales and biases: F16 or F32 */
	mlx_unit *units;
	size_t n_units, cap_units;
	int n_shards;
	int64_t swa_pattern;	/* gemma3: every swa_pattern-th is global */
	tq_tensor *stacked;	/* [n] phi3's float parts or a block's float
				   experts stacked, at the first part's
				   index (data owned) */
} mlx_export;

/* The files mlx-lm's tokenizer loading (transformers) may read. */
static const char *const mlx_tokenizer_files[] = {
	"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
	"tokenizer.model", "added_tokens.json", "vocab.json", "merges.txt",
	"generation_config.json", "chat_template.jinja", "chat_template.json",
	NULL
};

/*
 * The module linear i is written in: as tq_hfx__module (phi3's fused),
 * or for an expert's linear its block's switch_mlp.gate_proj, up_proj or
 * down_proj, its experts' linears first + stride * e.  Returns the parts.
 */
static size_t
mlx_module(const tq_model *m, size_t i, size_t *first, size_t *stride,
    char *path, size_t len)
{
	static const char *const kinds[3] = { "gate_proj", "up_proj",
	    "down_proj" };
	const char *name = tq_model_linear_name(m, i), *at;
	size_t k, bf;
	int64_t li = tq_model__linear_block(m, i, &k);
	int ex;
	tq_linear kind = tq_model_linear_kind(m, i, &ex);

	*stride = 1;
	if (li < 0 || ex < 0 || (at = strstr(name, ".experts.")) == NULL)
		return tq_hfx__module(m, i, first, path, len);
	bf = tq_model__block_first(m, li);
	*first = bf + TQ_LINEAR_GATE + (size_t)(kind - TQ_LINEAR_GATE);
	*stride = 3;
	snprintf(path, len, "%.*s.switch_mlp.%s", (int)(at - name), name,
	    kinds[kind - TQ_LINEAR_GATE]);
	return (size_t)m->layers[li].n_experts;
}

static int
mlx_bits_ok(int bits)
{
	return bits == 2 || bits == 3 || bits == 4 || bits == 5 || bits == 6 ||
	    bits == 8;
}

/*
 * The MLX group that holds qt's grid exactly: the largest of 128, 64, 32
 * inside which every column shares our block; 0 if none does.
 */
static int
mlx_fit(const tq_qtensor *qt)
{
	static const int groups[] = { 128, 64, 32 };
	size_t k;
	int64_t c;

	if (qt->scheme.type == TQ_QT_MXFP4 || tq_quant_mxfp8(&qt->scheme))
		return 32;
	if (qt->scheme.type == TQ_QT_NVFP4)	/* pow2: mlx_nv_fold checks */
		return qt->scheme.nv_scale == TQ_NV_UNIT ||
		    qt->scheme.nv_scale == TQ_NV_POW2 ? 16 : 0;
	if (qt->scheme.type != TQ_QT_INT || !mlx_bits_ok(qt->scheme.bits))
		return 0;
	for (k = 0; k < sizeof(groups) / sizeof(groups[0]); k++) {
		int g = groups[k];
		int ok = qt->cols % g == 0 && qt->qk % g == 0;

		for (c = 0; ok && qt->g_idx != NULL && c < qt->cols; c++)
			ok = qt->g_idx[c] == qt->g_idx[c - c % g];
		if (ok)
			return g;
	}
	return 0;
}

/* Where a grid MLX cannot hold can go instead (the message's end). */
static const char *
mlx_elsewhere(const tq_qtensor *qt)
{
	switch (qt->scheme.type) {
	case TQ_QT_INT:
		if (qt->cols % 32 != 0)
			return " or keep the layer float (its width is not "
			    "a multiple of 32)";
		if (qt->g_idx != NULL && qt->scheme.bits != 7)
			return ", or export to gptq, which keeps act-order";
		return " (no other export format holds 7 bits)";
	case TQ_QT_FP8_E4M3:	/* mxfp8 is MLX's own: not here */
		return qt->scheme.group == TQ_GROUP_CHANNEL ? ", or export to "
		    "compressed-tensors or trtllm" : ", or export to "
		    "compressed-tensors";
	case TQ_QT_NF4:
		return " (no export format holds NF4)";
	case TQ_QT_NVFP4:
		return "; MLX's nvfp4 layers have no tensor scale and ours "
		    "divide by G = 2688 / amax: quantize with --scheme "
		    "nvfp4-unit, or export to compressed-tensors";
	default:
		return ", or export to gguf";
	}
}

/*
 * The E4M3 byte MLX holds for row r, group k (of 16) of an nvfp4 layer:
 * ours divided by G, into *b; 0 if that is no E4M3 value.
 */
static int
mlx_nv_byte(const tq_qtensor *qt, int64_t r, int64_t k, uint8_t *b)
{
	const tq_qparams *p = &qt->params[r * qt->nblocks + k / 4];

	return tq_fp4_fold(tq_fp4_scale_byte(p, (int)(k & 3)),
	    tq_quant_global(qt), b);
}

/* Every block scale of nvfp4 layer `name` folds: else an error. */
static tq_status
mlx_nv_fold(const tq_qtensor *qt, const char *name, tq_error *err)
{
	int64_t r, k;
	uint8_t b;

	for (r = 0; r < qt->rows; r++)
		for (k = 0; k < qt->cols / 16; k++)
			if (!mlx_nv_byte(qt, r, k, &b))
				return tq_fail(err, TQ_EUNSUPPORTED, "%s: MLX "
				    "cannot hold this nvfp4-pow2 layer: at row "
				    "%lld, columns %lld..%lld, its E4M3 scale "
				    "divided by G = %g is no E4M3 value (MLX's "
				    "nvfp4 has no tensor scale); quantize with "
				    "--scheme nvfp4-unit", name, (long long)r,
				    (long long)(16 * k), (long long)(16 * k + 15),
				    (double)tq_quant_global(qt));
	return TQ_OK;
}

/* 10 log10(|w|^2 / |w - w'|^2) of a re-quantization. */
static double
mlx_sqnr(const tq_qtensor *qt, const float *w, float *wq)
{
	double sig = 0.0, noise = 0.0;
	int64_t i, n = qt->rows * qt->cols;

	tq_qtensor_dequant(qt, wq);
	for (i = 0; i < n; i++) {
		double d = (double)w[i] - (double)wq[i];

		sig += (double)w[i] * w[i];
		noise += d * d;
	}
	if (noise == 0.0)
		return INFINITY;
	return sig == 0.0 ? -INFINITY : 10.0 * log10(sig / noise);
}

/*
 * RTN of layer i's current weights (dequantized or float) onto s.  A layer
 * whose width s's group does not divide stays float (*sqnr = INFINITY), as
 * mlx-lm's own quantizer leaves it: the weights our evaluation uses.
 */
static tq_status
mlx_requant(mlx_export *e, size_t i, const tq_scheme *s, double *sqnr,
    tq_error *err)
{
	const tq_model *m = e->x->model;
	const tq_tensor *t = tq_model__linear_weight(m, i);
	mlx_layer *L = &e->layers[i];
	int64_t rows, cols;
	float *w, *wq;
	tq_status st;

	tq_model_linear_shape(m, i, &rows, &cols);
	*sqnr = INFINITY;
	if (cols % s->group != 0) {
		tq_job__log(e->x->job, "mlx: %s kept float: %lld columns are "
		    "not a multiple of the group %d", tq_model_linear_name(m, i),
		    (long long)cols, s->group);
		return TQ_OK;
	}
	if ((st = tq_qtensor_init(&L->own, s, rows, cols, err)) != TQ_OK)
		return st;
	w = malloc((size_t)(rows * cols) * sizeof(float));
	wq = malloc((size_t)(rows * cols) * sizeof(float));
	if (w == NULL || wq == NULL) {
		free(w);
		free(wq);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	tq_tensor_to_f32(t, 0, rows * cols, w);
	tq_quant_rtn(&L->own, w, NULL, 0);
	*sqnr = mlx_sqnr(&L->own, w, wq);
	free(w);
	free(wq);
	L->qt = &L->own;
	L->group = s->group;
	return TQ_OK;
}

/*
 * --type: a grid MLX holds, for the layers whose own grid it cannot hold
 * (int4-g64, ...); "f16" for fp16 scales and biases even where the biases
 * round; or both, joined by a comma ("int4-g64,f16").
 */
static tq_status
mlx_parse_type(mlx_export *e, const char *type, tq_error *err)
{
	char buf[64], *tok, *save = NULL;
	tq_status st;

	if (strlen(type) >= sizeof(buf))
		return tq_fail(err, TQ_EINVAL, "MLX: --type %.40s...: too long",
		    type);
	strcpy(buf, type);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		tq_scheme *g = &e->grid;

		if (strcmp(tok, "f16") == 0) {
			e->f16 = 1;
			continue;
		}
		if (e->grid_name[0] != '\0')
			return tq_fail(err, TQ_EINVAL, "MLX: --type %s: one grid "
			    "and f16 at most", type);
		if ((st = tq_scheme_parse(tok, g, err)) != TQ_OK)
			return st;
		if (g->type != TQ_QT_INT || !mlx_bits_ok(g->bits) ||
		    (g->group != 32 && g->group != 64 && g->group != 128))
			return tq_fail(err, TQ_EUNSUPPORTED,
			    "MLX cannot hold %s: it takes integer grids of 2, 3, "
			    "4, 5, 6 or 8 bits in groups of 32, 64 or 128 "
			    "(int4-g64, int3-g32, int8-g128-sym, ...), and "
			    "--type f16 asks for fp16 scales and biases", tok);
		snprintf(e->grid_name, sizeof(e->grid_name), "%s", tok);
	}
	return TQ_OK;
}

/*
 * Decides every layer's MLX grid: the state's own where MLX holds it,
 * else a re-quantization onto --type (or an error naming the layer).
 * Without a state, --type quantizes every block linear.
 */
static tq_status
mlx_prepare(mlx_export *e, tq_error *err)
{
	const tq_export_ctx *x = e->x;
	const tq_qstate *s = x->state;
	size_t i, n_req = 0, worst = 0, n_block;
	double worst_sqnr = INFINITY;
	char lost[96] = "";
	int has_grid;
	tq_status st;

	if (x->type != NULL && (st = mlx_parse_type(e, x->type, err)) != TQ_OK)
		return st;
	has_grid = e->grid_name[0] != '\0';
	n_block = e->n - 2;	/* the block linears, then lm_head, embeddings */
	for (i = 0; i < e->n; i++) {
		const tq_qlayer *ql = s != NULL ? &s->layers[i] : NULL;
		const char *name = tq_model_linear_name(x->model, i);
		char sname[48];
		double sqnr;

		if (tq_job__cancelled(x->job))
			return tq_fail(err, TQ_ECANCELLED, "cancelled");
		if (ql == NULL || ql->cfg.method == TQ_METHOD_FLOAT) {
			if (ql != NULL || !has_grid || i >= n_block)
				continue;
			if ((st = mlx_requant(e, i, &e->grid, &sqnr, err)) !=
			    TQ_OK)
				return st;
			continue;
		}
		if (ql->cfg.act_bits == 8)
			return tq_fail(err, TQ_EUNSUPPORTED,
			    "%s: 8-bit activations (W8A8) have no MLX form: MLX "
			    "quantizes weights only in affine mode", name);
		if ((e->layers[i].group = mlx_fit(&ql->qt)) > 0) {
			e->layers[i].qt = &ql->qt;
			e->layers[i].mx = ql->qt.scheme.type == TQ_QT_MXFP4 ?
			    MLX_MXFP4 : tq_quant_mxfp8(&ql->qt.scheme) ?
			    MLX_MXFP8 : ql->qt.scheme.type == TQ_QT_NVFP4 ?
			    MLX_NVFP4 : MLX_AFFINE;
			if (e->layers[i].mx == MLX_NVFP4 &&
			    (st = mlx_nv_fold(&ql->qt, name, err)) != TQ_OK)
				return st;
			continue;
		}
		tq_scheme_name(&ql->qt.scheme, sname, sizeof(sname));
		if (ql->qt.g_idx != NULL)
			snprintf(sname + strlen(sname), sizeof(sname) -
			    strlen(sname), " act-order");
		if (!has_grid)
			return tq_fail(err, TQ_EUNSUPPORTED,
			    "%s: MLX cannot hold %s: it takes integer grids of "
			    "2, 3, 4, 5, 6 or 8 bits in groups of 32, 64 or 128 "
			    "columns, mxfp4, mxfp8 and nvfp4-unit; re-quantize "
			    "with --type int4-g64 (or "
			    "another such grid)%s", name, sname,
			    mlx_elsewhere(&ql->qt));
		if ((st = mlx_requant(e, i, &e->grid, &sqnr, err)) != TQ_OK)
			return st;
		if (e->layers[i].qt == NULL)
			continue;	/* written float: nothing lost */
		if (n_req++ == 0 || sqnr < worst_sqnr) {
			worst_sqnr = sqnr;
			worst = i;
		}
		if (strstr(lost, sname) == NULL &&
		    strlen(lost) + strlen(sname) + 3 < sizeof(lost))
			snprintf(lost + strlen(lost), sizeof(lost) - strlen(lost),
			    "%s%s", lost[0] ? ", " : "", sname);
	}
	if (n_req > 0)
		snprintf(x->report->warning, sizeof(x->report->warning),
		    "re-quantized %zu layer%s MLX cannot hold (%s) onto %s by "
		    "RTN from their dequantized weights: worst weight SQNR "
		    "%.1f dB (%s)", n_req, n_req == 1 ? "" : "s", lost,
		    e->grid_name, worst_sqnr,
		    tq_model_linear_name(x->model, worst));
	return TQ_OK;
}

/* Layer L's MLX scale and bias of row r, group k. */
static void
mlx_param(const mlx_layer *L, int64_t r, int64_t k, float *scale,
    float *bias)
{
	const tq_qtensor *qt = L->qt;
	int64_t c0 = k * L->group;
	int64_t b = qt->g_idx != NULL ? qt->g_idx[c0] : c0 / qt->qk;
	tq_qscale q;

	tq_qparams_get_scale(&qt->params[r * qt->nblocks + b], &q);
	*scale = q.scale;
	/* Exact in fp32: an 11-bit scale times an 8-bit zero. */
	*bias = q.zero != 0 ? -(q.scale * (float)q.zero) : 0.0f;
}

static int
mlx_f16_exact(float v)
{
	return tq_f16_to_f32(tq_f32_to_f16(v)) == v;
}

/*
 * What fp16 parameters would change: the largest |fp16(bias) - bias|, in
 * weight units and in quantization steps (scales are fp16-exact by
 * construction; a scale that is not counts as infinite).  0: all exact.
 */
static void
mlx_f16_loss(const mlx_export *e, double *dw, double *steps)
{
	size_t i;
	int64_t r, k;

	*dw = *steps = 0.0;
	for (i = 0; i < e->n; i++) {
		const mlx_layer *L = &e->layers[i];

		if (L->qt == NULL || L->mx)	/* no fp16 parameters */
			continue;
		for (r = 0; r < L->qt->rows; r++)
			for (k = 0; k < L->qt->cols / L->group; k++) {
				float s, b;
				double d;

				mlx_param(L, r, k, &s, &b);
				if (!mlx_f16_exact(s)) {
					*dw = *steps = INFINITY;
					return;
				}
				d = fabs((double)tq_f16_to_f32(tq_f32_to_f16(b)) -
				    (double)b);
				if (d > *dw)
					*dw = d;
				if (s != 0.0f && d / fabs((double)s) > *steps)
					*steps = d / fabs((double)s);
			}
	}
}

/*
 * F16 scales and biases when all are exact in fp16, else F32; with
 * --type f16, F16 anyway, and the warning says what the biases lost.
 */
static tq_status
mlx_choose_dtype(mlx_export *e, tq_error *err)
{
	tq_export_report *r = e->x->report;
	double dw, steps;
	size_t len;

	mlx_f16_loss(e, &dw, &steps);
	e->pdt = dw == 0.0 || e->f16 ? TQ_DTYPE_F16 : TQ_DTYPE_F32;
	if (dw == 0.0 || !e->f16)
		return TQ_OK;
	if (isinf(dw))
		return tq_fail(err, TQ_EUNSUPPORTED, "MLX: --type f16: a scale "
		    "or bias is beyond fp16's range; leave f16 out");
	len = strlen(r->warning);
	snprintf(r->warning + len, sizeof(r->warning) - len, "%sscales and "
	    "biases in fp16 (--type f16): the biases are rounded, so weights "
	    "move by up to %.3g (%.2g%% of a quantization step)",
	    len ? "; " : "", dw, 100.0 * steps);
	return TQ_OK;
}

/*
 * A unit: float tensor t, or the nq quantized layers q[0], q[stride], ...
 * stacked (as rows, or as experts).
 */
static tq_status
mlx_add_units(mlx_export *e, const char *name, const tq_tensor *t,
    const mlx_layer *q, size_t nq, size_t stride, int experts,
    tq_error *err)
{
	mlx_unit *u;
	size_t p;

	if (t == NULL && q == NULL)
		return TQ_OK;		/* an absent bias */
	if (e->n_units == e->cap_units) {
		size_t cap = e->cap_units ? 2 * e->cap_units : 64;
		mlx_unit *g = realloc(e->units, cap * sizeof(*g));

		if (g == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		e->units = g;
		e->cap_units = cap;
	}
	u = &e->units[e->n_units++];
	memset(u, 0, sizeof(*u));
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->t = t;
	u->q = q;
	u->nq = nq;
	u->stride = stride;
	u->experts = experts;
	if (t != NULL)
		u->bytes = t->nbytes;
	for (p = 0; t == NULL && p < nq; p++) {
		const mlx_layer *L = &q[p * stride];

		u->bytes += (uint64_t)L->qt->rows *
		    (uint64_t)L->qt->cols * (uint64_t)L->qt->scheme.bits /
		    8 + (L->mx ? 1 : 2) * (uint64_t)L->qt->rows *
		    (uint64_t)(L->qt->cols / L->group) *
		    (L->mx ? 1 : tq_dtype_size(e->pdt));
	}
	return TQ_OK;
}

static tq_status
mlx_add_unit(mlx_export *e, const char *name, const tq_tensor *t,
    const mlx_layer *q, tq_error *err)
{
	return mlx_add_units(e, name, t, q, 1, 1, 0, err);
}

/*
 * Quantizable layer i as a unit: quantized, or its float weight.  phi3's
 * q/k/v and gate/up are one unit under the fused name (mlx-lm's phi3
 * reads qkv_proj and gate_up_proj), at the first part, and a block's
 * experts of one kind one switch_mlp unit, at expert 0's.
 */
static tq_status
mlx_add_linear(mlx_export *e, size_t i, tq_error *err)
{
	char path[128], name[136];
	size_t first, stride, np = mlx_module(e->x->model, i, &first, &stride,
	    path, sizeof(path));

	if (first != i)
		return TQ_OK;	/* written with the first part */
	if (e->layers[i].qt != NULL)
		return mlx_add_units(e, path, NULL, &e->layers[i], np, stride,
		    stride > 1, err);
	snprintf(name, sizeof(name), "%s.weight", path);
	return mlx_add_unit(e, name, np > 1 ? &e->stacked[i] :
	    tq_model__linear_weight(e->x->model, i), NULL, err);
}

/* Every tensor of the checkpoint in order, cut into shards. */
static tq_status
mlx_plan_units(mlx_export *e, tq_error *err)
{
	const tq_model *m = e->x->model;
	static const char *const bias_names[TQ_LINEARS_PER_LAYER] = {
		"self_attn.q_proj.bias", "self_attn.k_proj.bias",
		"self_attn.v_proj.bias", "self_attn.o_proj.bias",
		"mlp.gate_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias"
	};
	char name[128];
	uint64_t cur = 0;
	tq_status st;
	int64_t l;
	size_t i, j, bf, nk;

	if ((st = mlx_add_linear(e, e->n - 1, err)) != TQ_OK)
		return st;
	for (l = 0; l < e->cfg->n_layers; l++) {
		const tq_layer_weights *w = &m->layers[l];
		const tq_tensor *bias[TQ_LINEARS_PER_LAYER] = {
			w->bq, w->bk, w->bv, w->bo, w->b_gate, w->b_up, w->b_down
		};

		snprintf(name, sizeof(name),
		    "model.layers.%lld.input_layernorm.weight", (long long)l);
		if ((st = mlx_add_unit(e, name, w->attn_norm, NULL, err)) !=
		    TQ_OK)
			return st;
		bf = tq_model__block_first(m, l);
		nk = tq_layer__n_linears(w);
		for (j = 0; j < nk; j++) {
			if (j == 4) {
				/* Qwen3's QK-norm: mlx-lm's names are ours. */
				if ((st = mlx_add_unit(e, w->q_norm != NULL ?
				    w->q_norm->name : NULL, w->q_norm, NULL,
				    err)) != TQ_OK ||
				    (st = mlx_add_unit(e, w->k_norm != NULL ?
				    w->k_norm->name : NULL, w->k_norm, NULL,
				    err)) != TQ_OK)
					return st;
				/* Gemma: mlx-lm's names are transformers'. */
				snprintf(name, sizeof(name), "model.layers.%lld."
				    "%s_layernorm.weight", (long long)l,
				    w->post_attn_norm != NULL ?
				    "pre_feedforward" : "post_attention");
				if ((st = mlx_add_unit(e, name, w->ffn_norm,
				    NULL, err)) != TQ_OK ||
				    (st = mlx_add_unit(e,
				    w->post_attn_norm != NULL ?
				    w->post_attn_norm->name : NULL,
				    w->post_attn_norm, NULL, err)) != TQ_OK)
					return st;
				/* A mixture of experts' router: float. */
				if ((st = mlx_add_unit(e, w->router != NULL ?
				    w->router->name : NULL, w->router, NULL,
				    err)) != TQ_OK)
					return st;
			}
			if ((st = mlx_add_linear(e, bf + j, err)) != TQ_OK)
				return st;
			if (j >= TQ_LINEARS_PER_LAYER || (w->n_experts > 0 &&
			    j >= TQ_LINEAR_GATE))
				continue;	/* experts have no biases */
			snprintf(name, sizeof(name), "model.layers.%lld.%s",
			    (long long)l, bias_names[j]);
			if ((st = mlx_add_unit(e, name, bias[j], NULL, err)) !=
			    TQ_OK)
				return st;
		}
		if ((st = mlx_add_unit(e, w->post_ffn_norm != NULL ?
		    w->post_ffn_norm->name : NULL, w->post_ffn_norm, NULL,
		    err)) != TQ_OK)
			return st;
	}
	if ((st = mlx_add_unit(e, "model.norm.weight", m->norm, NULL, err)) !=
	    TQ_OK)
		return st;
	if ((!e->cfg->tie_word_embeddings || e->untie) &&
	    (st = mlx_add_linear(e, e->n - 2, err)) != TQ_OK)
		return st;
	/* mlx-lm's make_shards: a new shard when the next tensor overflows. */
	e->n_shards = 1;
	for (i = 0; i < e->n_units; i++) {
		if (cur > 0 && cur + e->units[i].bytes >
		    tq_export_mlx__shard_bytes) {
			e->n_shards++;
			cur = 0;
		}
		e->units[i].shard = e->n_shards - 1;
		cur += e->units[i].bytes;
	}
	return TQ_OK;
}

/* The buffers of one quantized layer, held until its shard is written. */
typedef struct mlx_packed {
	uint32_t *w;		/* [rows, cols * bits / 32] */
	void *scales;		/* [rows, cols / group] F16 or F32 */
	void *biases;		/* [rows, cols / group] */
} mlx_packed;

/* The E8M0 byte of an mxfp4 block, or of an mxfp8 power-of-two scale. */
static uint8_t
mlx_e8m0(int mode, const tq_qparams *p)
{
	tq_qscale q;
	int e;

	if (mode == MLX_MXFP4)
		return tq_fp4_scale_byte(p, 0);
	tq_qparams_get_scale(p, &q);
	(void)frexpf(q.scale, &e);	/* 2^(e - 1), checked on reading */
	return (uint8_t)(e - 1 + 127);
}

/*
 * Packs layers L[0], L[stride], ... (nq of them) into p, their rows
 * stacked (phi3's fused parts and a block's experts share bits and group:
 * mlx_fused_check), as bit streams, scales and biases; a large embedding
 * takes a while, so cancellation is checked every 1024 rows.
 */
static tq_status
mlx_pack(const mlx_layer *L, size_t nq, size_t stride, tq_dtype pdt,
    tq_job *job, mlx_packed *p, tq_error *err)
{
	int bits = L->qt->scheme.bits;
	int64_t cols = L->qt->cols, words = cols * bits / 32;
	int64_t ng = cols / L->group, rows = 0, r0 = 0, r, c, k;
	size_t part;

	for (part = 0; part < nq; part++)
		rows += L[part * stride].qt->rows;
	p->w = calloc((size_t)(rows * words), sizeof(uint32_t));
	p->scales = malloc((size_t)(rows * ng) * tq_dtype_size(pdt));
	p->biases = L->mx ? NULL : malloc((size_t)(rows * ng) *
	    tq_dtype_size(pdt));
	if (p->w == NULL || p->scales == NULL || (!L->mx && p->biases == NULL))
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	for (part = 0; part < nq; r0 += L[part * stride].qt->rows, part++) {
		const tq_qtensor *qt = L[part * stride].qt;

		for (r = 0; r < qt->rows; r++) {
			const uint8_t *code = qt->codes + r * cols;
			uint32_t *o = p->w + (r0 + r) * words;
			int64_t at = (r0 + r) * ng;

			if (r % 1024 == 1023 && tq_job__cancelled(job))
				return tq_fail(err, TQ_ECANCELLED,
				    "cancelled");
			for (c = 0; c < cols; c++) {
				uint64_t bit = (uint64_t)c * (uint64_t)bits;
				uint32_t v = L->mx == MLX_MXFP4 ||
				    L->mx == MLX_NVFP4 ?
				    tq_fp4_nibble(code[c]) : L->mx ?
				    tq_fp8_e4m3_bits(code[c]) : code[c];
				uint32_t sh = (uint32_t)(bit & 31);

				o[bit >> 5] |= v << sh;
				if (sh + (uint32_t)bits > 32)
					o[(bit >> 5) + 1] |= v >> (32 - sh);
			}
			for (k = 0; L->mx == MLX_NVFP4 && k < ng; k++)
				(void)mlx_nv_byte(qt, r, k,	/* E4M3 */
				    (uint8_t *)p->scales + at + k);
			for (k = 0; L->mx && L->mx != MLX_NVFP4 && k < ng;
			    k++)	/* E8M0 */
				((uint8_t *)p->scales)[at + k] =
				    mlx_e8m0(L->mx, &qt->params[r *
				    qt->nblocks + k]);
			for (k = 0; !L->mx && k < ng; k++) {
				float s, b;

				mlx_param(&L[part * stride], r, k, &s, &b);
				if (pdt == TQ_DTYPE_F16) {
					((uint16_t *)p->scales)[at + k] =
					    tq_f32_to_f16(s);
					((uint16_t *)p->biases)[at + k] =
					    tq_f32_to_f16(b);
				} else {
					((float *)p->scales)[at + k] = s;
					((float *)p->biases)[at + k] = b;
				}
			}
		}
	}
	return TQ_OK;
}

static void
mlx_packed_free(mlx_packed *p)
{
	free(p->w);
	free(p->scales);
	free(p->biases);
	memset(p, 0, sizeof(*p));
}

/* Adds a unit's tensors to w (packing a quantized layer into p). */
static tq_status
mlx_add_tensors(const mlx_export *e, const mlx_unit *u, tq_st_writer *w,
    mlx_packed *p, tq_error *err)
{
	const tq_qtensor *qt;
	int64_t shape[3];
	char name[160];
	tq_status st;
	size_t part;
	int nd = u->experts ? 3 : 2;	/* [experts, rows, .] or [rows, .] */

	if (u->t != NULL)
		return tq_st_writer_add(w, u->name, u->t->dtype, u->t->ndim,
		    u->t->shape, u->t->data, err);
	qt = u->q->qt;
	if ((st = mlx_pack(u->q, u->nq, u->stride, u->q->mx ? TQ_DTYPE_U8 :
	    e->pdt, e->x->job, p, err)) != TQ_OK)
		return st;
	shape[0] = 0;
	for (part = 0; part < u->nq; part++)
		shape[0] += u->q[part * u->stride].qt->rows;
	if (u->experts) {
		shape[0] = (int64_t)u->nq;
		shape[1] = qt->rows;
	}
	shape[nd - 1] = qt->cols * qt->scheme.bits / 32;
	snprintf(name, sizeof(name), "%s.weight", u->name);
	if ((st = tq_st_writer_add(w, name, TQ_DTYPE_U32, nd, shape, p->w,
	    err)) != TQ_OK)
		return st;
	shape[nd - 1] = qt->cols / u->q->group;
	snprintf(name, sizeof(name), "%s.scales", u->name);
	if ((st = tq_st_writer_add(w, name, u->q->mx ? TQ_DTYPE_U8 : e->pdt,
	    nd, shape, p->scales, err)) != TQ_OK || u->q->mx)
		return st;
	snprintf(name, sizeof(name), "%s.biases", u->name);
	return tq_st_writer_add(w, name, e->pdt, nd, shape, p->biases, err);
}

static void
mlx_shard_name(const mlx_export *e, int shard, char *buf, size_t len)
{
	if (e->n_shards == 1)
		snprintf(buf, len, "model.safetensors");
	else
		snprintf(buf, len, "model-%05d-of-%05d.safetensors", shard + 1,
		    e->n_shards);
}

/* Writes one shard: its units' tensors, packed on the way. */
static tq_status
mlx_write_shard(mlx_export *e, int shard, size_t *done, tq_error *err)
{
	tq_st_writer *w = NULL;
	mlx_packed *packed;
	char file[64], *path;
	size_t i, first = *done, n = 0;
	tq_status st;

	while (first + n < e->n_units && e->units[first + n].shard == shard)
		n++;
	packed = calloc(n ? n : 1, sizeof(*packed));
	mlx_shard_name(e, shard, file, sizeof(file));
	path = tq_path_join(e->x->out, file);
	if (packed == NULL || path == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
		goto out;
	}
	if ((st = tq_st_writer_new(&w, err)) != TQ_OK ||
	    (st = tq_st_writer_meta(w, "format", "mlx", err)) != TQ_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (tq_job__cancelled(e->x->job)) {
			st = tq_fail(err, TQ_ECANCELLED, "cancelled");
			goto out;
		}
		if ((st = mlx_add_tensors(e, &e->units[first + i], w,
		    &packed[i], err)) != TQ_OK)
			goto out;
		tq_job__progress(e->x->job, (int64_t)(first + i + 1),
		    (int64_t)e->n_units);
	}
	st = tq_st_writer_write(w, path, err);
	*done = first + n;
out:
	tq_st_writer_free(w);
	for (i = 0; packed != NULL && i < n; i++)
		mlx_packed_free(&packed[i]);
	free(packed);
	free(path);
	return st;
}

/* Writes a JSON document into the output directory. */
static tq_status
mlx_write_json(const tq_export_ctx *x, const char *file, const cJSON *doc,
    tq_error *err)
{
	char *path = tq_path_join(x->out, file);
	tq_status st;

	if (path == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	st = tq_json_save(doc, x->json_mark, path, err);
	free(path);
	return st;
}

/* The index of a sharded checkpoint: which file holds each tensor. */
static tq_status
mlx_write_index(const mlx_export *e, tq_error *err)
{
	static const char *const parts[3] = { "weight", "scales", "biases" };
	cJSON *doc = cJSON_CreateObject(), *meta, *map;
	uint64_t total = 0;
	char file[64], name[160];
	tq_status st;
	size_t i;
	int k;

	if (doc == NULL ||
	    (meta = cJSON_AddObjectToObject(doc, "metadata")) == NULL ||
	    (map = cJSON_AddObjectToObject(doc, "weight_map")) == NULL)
		goto nomem;
	for (i = 0; i < e->n_units; i++) {
		const mlx_unit *u = &e->units[i];

		total += u->bytes;
		mlx_shard_name(e, u->shard, file, sizeof(file));
		for (k = 0; k < (u->t != NULL ? 1 : 3); k++) {
			if (u->t != NULL)
				snprintf(name, sizeof(name), "%s", u->name);
			else
				snprintf(name, sizeof(name), "%s.%s", u->name,
				    parts[k]);
			if (cJSON_AddStringToObject(map, name, file) == NULL)
				goto nomem;
		}
	}
	if (cJSON_AddNumberToObject(meta, "total_size", (double)total) == NULL)
		goto nomem;
	st = mlx_write_json(e->x, "model.safetensors.index.json", doc,
	    err);
	cJSON_Delete(doc);
	return st;
nomem:
	cJSON_Delete(doc);
	return tq_fail(err, TQ_ENOMEM, "out of memory");
}

static cJSON *
mlx_quant_entry(int bits, int group, int mx)
{
	cJSON *q = cJSON_CreateObject();

	if (q == NULL || cJSON_AddNumberToObject(q, "group_size", group) ==
	    NULL || cJSON_AddNumberToObject(q, "bits", bits) == NULL ||
	    cJSON_AddStringToObject(q, "mode", mlx_modes[mx]) ==
	    NULL) {
		cJSON_Delete(q);
		return NULL;
	}
	return q;
}

/*
 * The "quantization" object: the most common (bits, group) and an entry
 * for every quantized layer that differs; NULL with *none when nothing is
 * quantized.
 */
static cJSON *
mlx_quant_config(const mlx_export *e, int *none, int *bits, int *group)
{
	size_t i, j, best = 0, best_n = 0;
	int mx;
	cJSON *q;

	*none = 1;
	for (i = 0; i < e->n; i++) {
		size_t n = 0;

		if (e->layers[i].qt == NULL)
			continue;
		for (j = 0; j < e->n; j++)
			n += e->layers[j].qt != NULL &&
			    e->layers[j].qt->scheme.bits ==
			    e->layers[i].qt->scheme.bits &&
			    e->layers[j].group == e->layers[i].group &&
			    e->layers[j].mx == e->layers[i].mx;
		if (n > best_n) {
			best_n = n;
			best = i;
		}
	}
	if (best_n == 0)
		return NULL;
	*none = 0;
	*bits = e->layers[best].qt->scheme.bits;
	*group = e->layers[best].group;
	mx = e->layers[best].mx;
	if ((q = mlx_quant_entry(*bits, *group, mx)) == NULL)
		return NULL;
	for (i = 0; i < e->n; i++) {
		const mlx_layer *L = &e->layers[i];
		char path[128];
		size_t first, stride;
		cJSON *o;

		/* phi3's fused parts, a block's experts: one entry each. */
		mlx_module(e->x->model, i, &first, &stride, path, sizeof(path));
		if (L->qt == NULL || first != i || (L->qt->scheme.bits ==
		    *bits && L->group == *group && L->mx == mx))
			continue;
		o = mlx_quant_entry(L->qt->scheme.bits, L->group, L->mx);
		if (o == NULL || !cJSON_AddItemToObject(q, path, o)) {
			cJSON_Delete(o);
			cJSON_Delete(q);
			return NULL;
		}
	}
	return q;
}

/*
 * phi3: mlx-lm's phi3 reads qkv_proj and gate_up_proj, one tensor each,
 * so their parts must be all float or all quantized with one bits and
 * group (scales and biases are per row: symmetry and act-order may
 * differ).  A mixture of experts: mlx-lm's SwitchGLU holds a block's
 * experts of one kind as one tensor of one grid, so the same holds for
 * them.  Float parts are stacked into e->stacked (experts as
 * [experts, rows, cols]).
 */
static tq_status
mlx_fused_check(mlx_export *e, tq_error *err)
{
	size_t i, first, np, p, stride;
	char path[128], why[200];

	for (i = 0; i + 2 < e->n; i++) {
		const mlx_layer *a = &e->layers[i];
		tq_tensor *f = &e->stacked[i];
		uint8_t *d;

		np = mlx_module(e->x->model, i, &first, &stride, path,
		    sizeof(path));
		if (np == 1 || first != i)
			continue;
		why[0] = '\0';
		for (p = 1; p < np && why[0] == '\0'; p++) {
			const mlx_layer *b = &e->layers[i + p * stride];
			const char *na = tq_model_linear_name(e->x->model, i);
			const char *nb = tq_model_linear_name(e->x->model,
			    i + p * stride);

			/* "q_proj", or an expert's "experts.3.w1" */
			if (stride == 1) {
				na = strrchr(na, '.') + 1;
				nb = strrchr(nb, '.') + 1;
			} else {
				na = strstr(na, "experts.");
				nb = strstr(nb, "experts.");
			}
			if ((a->qt == NULL) != (b->qt == NULL))
				snprintf(why, sizeof(why), "%s is %s and %s "
				    "%s", na, a->qt ? "quantized" : "float", nb,
				    b->qt ? "quantized" : "float");
			else if (a->qt != NULL && a->mx != b->mx)
				snprintf(why, sizeof(why), "%s is %s and %s "
				    "%s", na, mlx_modes[a->mx], nb,
				    mlx_modes[b->mx]);
			else if (a->qt != NULL && (a->qt->scheme.bits !=
			    b->qt->scheme.bits || a->group != b->group))
				snprintf(why, sizeof(why), "%s is %d-bit in "
				    "groups of %d and %s %d-bit in groups of %d",
				    na, a->qt->scheme.bits, a->group, nb,
				    b->qt->scheme.bits, b->group);
		}
		if (why[0] != '\0' && stride == 1)
			return tq_fail(err, TQ_EUNSUPPORTED, "mlx: %s is one "
			    "tensor in mlx-lm's phi3, but %s; quantize its "
			    "parts alike", path, why);
		if (why[0] != '\0')
			return tq_fail(err, TQ_EUNSUPPORTED, "mlx: %s is one "
			    "tensor [experts, out, in] of one grid in mlx-lm, "
			    "but %s; quantize a block's experts of one kind "
			    "alike (plan --target-bpw groups them so)", path,
			    why);
		if (a->qt != NULL)
			continue;
		/* Float parts: their rows (or experts) as one tensor. */
		*f = *tq_model__linear_weight(e->x->model, i);
		f->name = NULL;
		f->data = NULL;		/* borrowed until replaced: not ours */
		f->stored = 0;
		f->nbytes = 0;
		if (stride > 1) {
			f->ndim = 3;
			f->shape[2] = f->shape[1];
			f->shape[1] = f->shape[0];
			f->shape[0] = (int64_t)np;
		} else
			f->shape[0] = 0;
		for (p = 0; p < np; p++) {
			const tq_tensor *t = tq_model__linear_weight(
			    e->x->model, i + p * stride);

			if (t->dtype != f->dtype || t->shape[1] !=
			    f->shape[f->ndim - 1] || (stride > 1 &&
			    t->shape[0] != f->shape[1]))
				return tq_fail(err, TQ_EINVAL, "mlx: %s: its "
				    "parts differ in dtype or shape", path);
			if (stride == 1)
				f->shape[0] += t->shape[0];
			f->nbytes += t->nbytes;
		}
		if ((d = malloc((size_t)f->nbytes)) == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		f->data = d;
		for (p = 0; p < np; p++) {
			const tq_tensor *t = tq_model__linear_weight(
			    e->x->model, i + p * stride);

			memcpy(d, t->data, (size_t)t->nbytes);
			d += t->nbytes;
		}
	}
	return TQ_OK;
}

/*
 * What mlx-lm's gemma2 and gemma3_text compute (mlx_lm/models/gemma2.py,
 * gemma3_text.py): no biases; gemma2 tied, always soft-capped and without
 * a sliding window (the report's warning); gemma3 without a final soft-cap,
 * its global layers every sliding_window_pattern-th.
 */
static tq_status
mlx_gemma_check(mlx_export *e, tq_error *err)
{
	const tq_model_config *c = e->cfg;
	const char *why = NULL;
	int64_t p, li;

	if (c->arch != TQ_ARCH_GEMMA2 && c->arch != TQ_ARCH_GEMMA3)
		return TQ_OK;
	if (c->attention_bias || c->qkv_bias || c->mlp_bias)
		why = "has no biases";
	else if (c->arch == TQ_ARCH_GEMMA2 && (!c->tie_word_embeddings ||
	    e->untie))
		why = "reads lm_head from the embeddings (the state rounds "
		    "them apart or the model is untied)";
	else if (c->arch == TQ_ARCH_GEMMA2 && (c->attn_softcap <= 0.0 ||
	    c->final_softcap <= 0.0))
		why = "always soft-caps scores and logits";
	else if (c->arch == TQ_ARCH_GEMMA3 && c->final_softcap > 0.0)
		why = "has no final_logit_softcapping";
	for (p = 1; why == NULL && c->arch == TQ_ARCH_GEMMA3 &&
	    c->sliding_window > 0; p++) {
		for (li = 0; li < c->n_layers && (li % p == p - 1) ==
		    (int)(c->full_attn[li / 64] >> (li % 64) & 1); li++)
			;
		if (li == c->n_layers)
			break;
		if (p > c->n_layers)
			why = "makes every sliding_window_pattern-th "
			    "layer global and no other";
	}
	e->swa_pattern = p;
	if (why == NULL)
		return TQ_OK;
	return tq_fail(err, TQ_EUNSUPPORTED, "%s: mlx-lm's %s %s",
	    tq_model_path(e->x->base), c->arch == TQ_ARCH_GEMMA2 ? "gemma2" :
	    "gemma3_text", why);
}

/*
 * Gemma's numbers in config.json, where mlx-lm's defaults differ from
 * transformers' (query_pre_attn_scalar 144 for gemma2, a window of 512
 * for gemma3) or where transformers' key is not the one mlx-lm reads
 * (layer_types).
 */
static int
mlx_gemma_config(const mlx_export *e, cJSON *doc)
{
	const tq_model_config *c = e->cfg;
	const struct {
		const char *key;
		double v;
		int on;
	} kv[] = {
		{ "query_pre_attn_scalar", c->query_pre_attn_scalar, 1 },
		{ "head_dim", (double)c->head_dim, 1 },
		{ "sliding_window", (double)c->sliding_window,
		    c->sliding_window > 0 },
		{ "sliding_window_pattern", (double)e->swa_pattern,
		    c->arch == TQ_ARCH_GEMMA3 },
	};
	size_t i;

	if (c->arch != TQ_ARCH_GEMMA2 && c->arch != TQ_ARCH_GEMMA3)
		return 1;
	for (i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		if (!kv[i].on)
			continue;
		cJSON_DeleteItemFromObjectCaseSensitive(doc, kv[i].key);
		if (cJSON_AddNumberToObject(doc, kv[i].key, kv[i].v) == NULL)
			return 0;
	}
	return 1;
}

/* config.json: the checkpoint's, with the quantization mlx-lm reads. */
static tq_status
mlx_write_config(mlx_export *e, tq_error *err)
{
	cJSON *doc = NULL, *q = NULL, *q2;
	int none, bits = 0, group = 0;
	tq_status st;

	if ((st = tq_hfx__base_config(e->x->base, &doc, err)) != TQ_OK)
		return st;
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "quantization");
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "quantization_config");
	if (!mlx_gemma_config(e, doc))
		goto nomem;
	if (e->untie) {
		cJSON_DeleteItemFromObjectCaseSensitive(doc,
		    "tie_word_embeddings");
		if (cJSON_AddFalseToObject(doc, "tie_word_embeddings") == NULL)
			goto nomem;
	}
	q = mlx_quant_config(e, &none, &bits, &group);
	if (q == NULL && !none)
		goto nomem;
	if (q != NULL) {
		/* mlx-lm writes both keys ("support hf model tree"). */
		if ((q2 = cJSON_Duplicate(q, 1)) == NULL)
			goto nomem;
		tq_json_add(doc, "quantization", q);
		q = NULL;
		tq_json_add(doc, "quantization_config", q2);
	}
	st = mlx_write_json(e->x, "config.json", doc, err);
	cJSON_Delete(doc);
	return st;
nomem:
	cJSON_Delete(q);
	cJSON_Delete(doc);
	return tq_fail(err, TQ_ENOMEM, "out of memory");
}

/* Copies the tokenizer files the checkpoint has. */
static tq_status
mlx_copy_tokenizer(const mlx_export *e, tq_error *err)
{
	const char *dir = tq_model_path(e->x->base);
	size_t i;

	if (!tq_is_dir(dir))
		return tq_hfx__gguf_tokenizer(e->x->base, e->x->out, err);
	for (i = 0; mlx_tokenizer_files[i] != NULL; i++) {
		char *src = tq_path_join(dir, mlx_tokenizer_files[i]);
		char *dst = tq_path_join(e->x->out, mlx_tokenizer_files[i]);
		tq_status st = TQ_OK;

		if (src == NULL || dst == NULL)
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
		else if (access(src, F_OK) == 0)
			st = tq_copy_file(src, dst, 1u << 30, err);
		free(src);
		free(dst);
		if (st != TQ_OK)
			return st;
	}
	return TQ_OK;
}

/*
 * mlx-lm's llama and qwen2 attend over the whole sequence (mistral runs as
 * llama): a sliding window is lost, and the report says so.
 */
static void
mlx_window_warning(const mlx_export *e)
{
	char *w = e->x->report->warning;
	size_t len = strlen(w), cap = sizeof(e->x->report->warning);

	/* mlx-lm's gemma3_text slides as we do. */
	if (e->cfg->sliding_window <= 0 || e->cfg->arch == TQ_ARCH_GEMMA3 ||
	    e->cfg->sliding_window >= e->cfg->max_position_embeddings)
		return;
	snprintf(w + len, cap - len, "%smlx-lm attends over the whole "
	    "sequence: past the sliding window of %lld tokens its logits "
	    "differ from ours", len ? "; " : "",
	    (long long)e->cfg->sliding_window);
}

/*
 * mlx-lm's phi3 (SuScaledRoPE) always rotates with long_factor; we, as
 * transformers, take short_factor for sequences up to the original
 * context.  The report says so when the two differ.
 */
static void
mlx_longrope_warning(const mlx_export *e)
{
	const tq_model_config *c = e->cfg;
	char *w = e->x->report->warning;
	size_t len = strlen(w), cap = sizeof(e->x->report->warning);
	int64_t rd = c->rope_dim > 0 ? c->rope_dim : c->head_dim;

	if (c->rope_type != TQ_ROPE_LONGROPE ||
	    memcmp(c->rope_short_factor, c->rope_long_factor,
	    (size_t)(rd / 2) * sizeof(float)) == 0)
		return;
	snprintf(w + len, cap - len, "%smlx-lm's phi3 always uses the "
	    "longrope long_factor: on sequences of up to %lld tokens its "
	    "logits differ from ours", len ? "; " : "",
	    (long long)c->rope_original_max_pos);
}

/* The report: the grid written and bits per quantized weight. */
static void
mlx_report(const mlx_export *e)
{
	tq_export_report *r = e->x->report;
	double bits = 0.0, weights = 0.0;
	int same = 1, b0 = 0, g0 = 0, any = 0, mx0 = 0;
	size_t i;

	for (i = 0; i < e->n; i++) {
		const mlx_layer *L = &e->layers[i];
		double n;

		if (L->qt == NULL)
			continue;
		n = (double)L->qt->rows * (double)L->qt->cols;
		weights += n;
		bits += n * L->qt->scheme.bits + (double)L->qt->rows *
		    (double)(L->qt->cols / L->group) * 8.0 * (L->mx ? 1.0 :
		    2.0 * (double)tq_dtype_size(e->pdt));
		if (any && (L->qt->scheme.bits != b0 || L->group != g0 ||
		    L->mx != mx0))
			same = 0;
		if (!any) {
			b0 = L->qt->scheme.bits;
			g0 = L->group;
			mx0 = L->mx;
			any = 1;
		}
	}
	snprintf(r->format, sizeof(r->format), "mlx");
	if (!any)
		snprintf(r->type, sizeof(r->type), "float");
	else if (same && mx0)
		snprintf(r->type, sizeof(r->type), "%s", mlx_modes[mx0]);
	else if (same)
		snprintf(r->type, sizeof(r->type), "int%d-g%d-%s", b0, g0,
		    e->pdt == TQ_DTYPE_F16 ? "f16" : "f32");
	else
		snprintf(r->type, sizeof(r->type), "mixed-%s",
		    e->pdt == TQ_DTYPE_F16 ? "f16" : "f32");
	r->bpw = weights > 0.0 ? bits / weights : 0.0;
}

tq_status
tq_export_mlx(tq_export_ctx *x, tq_error *err)
{
	mlx_export e;
	size_t i, done = 0;
	tq_status st;
	int shard;

	memset(&e, 0, sizeof(e));
	e.x = x;
	e.cfg = tq_model_get_config(x->model);
	e.n = tq_model_n_linears(x->model);
	if (x->state != NULL && x->state->n != e.n)
		return tq_fail(err, TQ_EINVAL, "%s: the state does not match "
		    "the model", tq_model_path(x->base));
	if ((st = tq_hfx__base_ok(x->base, "mlx export takes", err)) != TQ_OK)
		return st;
	if ((e.layers = calloc(e.n, sizeof(*e.layers))) == NULL ||
	    (e.stacked = calloc(e.n, sizeof(*e.stacked))) == NULL) {
		free(e.layers);
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	if (mkdir(x->out, 0777) != 0 && !(errno == EEXIST &&
	    tq_is_dir(x->out))) {
		st = tq_fail(err, TQ_EIO, "%s: cannot create: %s", x->out,
		    strerror(errno));
		goto out;
	}
	tq_job__stage(x->job, "export");
	if ((st = mlx_prepare(&e, err)) != TQ_OK)
		goto out;
	/* A tied lm_head that the state changed is written on its own. */
	e.untie = e.cfg->tie_word_embeddings &&
	    (e.layers[e.n - 1].qt != NULL || e.layers[e.n - 2].qt != NULL);
	if ((st = mlx_gemma_check(&e, err)) != TQ_OK ||
	    (st = mlx_fused_check(&e, err)) != TQ_OK ||
	    (st = mlx_choose_dtype(&e, err)) != TQ_OK)
		goto out;
	mlx_window_warning(&e);
	mlx_longrope_warning(&e);
	if ((st = mlx_plan_units(&e, err)) != TQ_OK)
		goto out;
	for (shard = 0; shard < e.n_shards; shard++)
		if ((st = mlx_write_shard(&e, shard, &done, err)) != TQ_OK)
			goto out;
	if ((e.n_shards > 1 && (st = mlx_write_index(&e, err)) != TQ_OK) ||
	    (st = mlx_write_config(&e, err)) != TQ_OK ||
	    (st = mlx_copy_tokenizer(&e, err)) != TQ_OK)
		goto out;
	mlx_report(&e);
	if (e.untie)
		tq_job__log(x->job, "mlx: lm_head written apart from the tied "
		    "embeddings (tie_word_embeddings false)");
	tq_job__log(x->job, "mlx: scales and biases as %s%s",
	    tq_dtype_name(e.pdt), e.pdt == TQ_DTYPE_F32 ? " (the biases -scale "
	    "* zero of an asymmetric grid are not exact in fp16)" : "");
out:
	for (i = 0; i < e.n; i++) {
		tq_qtensor_done(&e.layers[i].own);
		free((void *)e.stacked[i].data);
	}
	free(e.stacked);
	free(e.layers);
	free(e.units);
	return st;
}
