/*
 * export_onnx.c: the model as an ONNX decoder graph for onnxruntime, with
 * quantized linears as com.microsoft MatMulNBits.
 *
 * The output directory holds model.onnx (the graph, a few KB per layer)
 * and model.onnx.data (every weight, as ONNX external data), so the 2 GB
 * protobuf limit never applies.  The graph computes what core/forward.c
 * computes, with standard operators (opset 17) except MatMulNBits:
 *
 *   input_ids [batch, seq] int64 -> Gather of the embedding table;
 *   per block: RMSNorm (ReduceMean of x^2, Sqrt, Reciprocal, Mul), q/k/v
 *   projections, half-split rotary embedding with cos/sin of
 *   position * inv_freq (inv_freq as our forward pass computes it; for
 *   dynamic NTK scaling the graph recomputes it from the sequence length),
 *   attention with GQA as a broadcast over the kv heads' query groups,
 *   the causal and sliding-window mask added as float min, Softmax,
 *   o_proj, residual; RMSNorm, SwiGLU MLP, residual;
 *   final RMSNorm and lm_head -> logits [batch, seq, V] float;
 *   W8A8 (SmoothQuant) layers' inputs fake-quantized to int8 per token as
 *   our forward pass does.
 *
 * It is a prefill graph: every position's logits, no KV cache.
 *
 * Weights: a quantized layer (INT grid of 2, 4 or 8 bits; groups of 16 to
 * 256 columns, or per channel or tensor, written as blocks of 128 that
 * repeat the row's scale and zero, since onnxruntime's CPU kernels take
 * 2-bit blocks of at most 256 and older releases fail on 512) becomes
 * MatMulNBits with its codes exactly as the state holds them: B [N,
 * k_blocks, block * bits / 8] packed low bits first along K, scales [N,
 * k_blocks] float, zero points packed the same way along the block axis
 * (omitted when every one is 2^(bits-1), the operator's default).
 * Act-order g_idx becomes a Gather of the input columns into group
 * order.  Every float tensor (float layers, norms, biases, the embedding)
 * comes from x->model, which already holds what a state replaced; F16 and
 * BF16 weights keep their dtype behind a Cast, others are written as F32.
 * MatMul weights are written transposed ([in, out]).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "export.h"
#include "fileio.h"
#include "forward.h"
#include "model.h"
#include "onnx_proto.h"
#include "quant_gguf.h"
#include "tensor.h"

#define ONNX_MODEL "model.onnx"
#define ONNX_DATA "model.onnx.data"
#define ONNX_IR_VERSION 8
#define ONNX_OPSET 17
/* Block size of per-channel and per-tensor layers (see the top). */
#define CHANNEL_BLOCK 128
/* Floats converted at a time when writing a weight. */
#define CHUNK_ELEMS ((int64_t)1 << 20)

/* A growing list of strings. */
typedef struct strlist {
	char **v;
	size_t n, cap;
} strlist;

/* The exporter's state. */
typedef struct ox {
	tq_export_ctx *x;
	const tq_model *m;
	const tq_model_config *c;
	tq_pb graph;
	FILE *data;
	char *data_path;
	uint64_t data_off;
	strlist names;		/* every generated name (owned) */
	strlist consts;		/* the constants written (names borrowed) */
	char scope[64];		/* prefix of node names: "/model/layers.3" */
	int64_t seq;		/* node counter */
	float *fbuf;		/* [CHUNK_ELEMS] */
	uint8_t *bbuf;		/* [CHUNK_ELEMS * 4] */
	int64_t done, total;	/* progress: tensors written */
	double qbits, qweights;	/* bits written for quantized layers */
	tq_status st;		/* first failure (sticky) */
	tq_error *err;
	/* Shared values of the graph. */
	const char *ids;	/* input_ids [batch, seq] */
	const char *cos, *sin;	/* [seq, 1, hd] */
	const char *mask;	/* [seq, seq] */
	const char *embed;	/* the embedding table's initializer */
	tq_onnx_dtype embed_dtype;
} ox;

/* ---- Names and failures ------------------------------------------------ */

static int
ox_ok(const ox *o)
{
	return o->st == TQ_OK;
}

static void
ox_nomem(ox *o)
{
	if (ox_ok(o))
		o->st = tq_fail(o->err, TQ_ENOMEM, "%s: out of memory",
		    o->x->out);
}

/* Appends s to l; 0 when out of memory. */
static int
strlist_add(strlist *l, char *s)
{
	char **v;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;

		if ((v = realloc(l->v, cap * sizeof(*v))) == NULL)
			return 0;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return 1;
}

/* A name kept until the end (printf-style); "" after a failure. */
static const char *
ox_name(ox *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *
ox_name(ox *o, const char *fmt, ...)
{
	char buf[256], *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if ((s = strdup(buf)) == NULL || !strlist_add(&o->names, s)) {
		free(s);
		ox_nomem(o);
		return "";
	}
	return s;
}

/* ---- External data ------------------------------------------------------ */

static void
data_write(ox *o, const void *p, size_t n)
{
	if (!ox_ok(o) || n == 0)
		return;
	errno = 0;
	if (fwrite(p, 1, n, o->data) != n) {
		int e = errno ? errno : EIO;

		o->st = tq_fail(o->err, TQ_EIO, "%s: write failed: %s",
		    o->data_path, strerror(e));
		return;
	}
	o->data_off += n;
}

/* Pads the data file so the next tensor starts at a multiple of align. */
static void
data_align(ox *o, uint64_t align)
{
	static const uint8_t zeros[4096];
	uint64_t pad = (align - o->data_off % align) % align;

	data_write(o, zeros, (size_t)pad);
}

static int
ox_cancelled(ox *o)
{
	if (ox_ok(o) && o->x->job != NULL && tq_job__cancelled(o->x->job))
		o->st = tq_fail(o->err, TQ_ECANCELLED, "cancelled");
	return !ox_ok(o);
}

/*
 * Starts an external tensor: aligns the data file (large tensors to a
 * page, so onnxruntime can map them) and returns its offset.
 */
static uint64_t
tensor_begin(ox *o, uint64_t nbytes)
{
	data_align(o, nbytes >= ((uint64_t)1 << 20) ? 4096 : 64);
	return o->data_off;
}

/* Adds the initializer of an external tensor written at offset. */
static void
tensor_end(ox *o, const char *name, tq_onnx_dtype dt, const int64_t *dims,
    int nd, uint64_t offset)
{
	tq_pb t;

	if (!ox_ok(o))
		return;
	tq_pb_init(&t);
	tq_onnx_tensor_external(&t, name, dt, dims, nd, ONNX_DATA, offset,
	    o->data_off - offset);
	tq_pb_msg(&o->graph, TQ_ONNX_GRAPH_INITIALIZER, &t);
	tq_pb_done(&t);
}

/* A whole external tensor from memory. */
static void
tensor_put(ox *o, const char *name, tq_onnx_dtype dt, const int64_t *dims,
    int nd, const void *data, size_t nbytes)
{
	uint64_t off = tensor_begin(o, nbytes);

	data_write(o, data, nbytes);
	tensor_end(o, name, dt, dims, nd, off);
}

/* Writes n floats as dt (FLOAT, FLOAT16 or BFLOAT16). */
static void
write_floats(ox *o, const float *v, int64_t n, tq_onnx_dtype dt)
{
	int64_t i;

	if (dt == TQ_ONNX_FLOAT) {
		data_write(o, v, (size_t)n * sizeof(float));
		return;
	}
	for (i = 0; i < n; i++) {
		uint16_t h = dt == TQ_ONNX_FLOAT16 ? tq_f32_to_f16(v[i]) :
		    tq_f32_to_bf16(v[i]);

		memcpy(o->bbuf + 2 * i, &h, 2);
	}
	data_write(o, o->bbuf, (size_t)n * 2);
}

/*
 * 16-bit weights stay in their dtype (exactly: they were read from it),
 * behind a Cast to float; every other one is written as F32.
 */
static tq_onnx_dtype
store_dtype(const tq_tensor *t)
{
	return t->dtype == TQ_DTYPE_F16 ? TQ_ONNX_FLOAT16 :
	    t->dtype == TQ_DTYPE_BF16 ? TQ_ONNX_BFLOAT16 : TQ_ONNX_FLOAT;
}

/* A tensor as stored ([rows, cols] or [n]), converted to dt. */
static void
put_tensor(ox *o, const char *name, const tq_tensor *t, tq_onnx_dtype dt)
{
	int64_t n = tq_tensor_numel(t), i, k;
	uint64_t off = tensor_begin(o, (uint64_t)n * tq_onnx_dtype_size(dt));

	for (i = 0; i < n && !ox_cancelled(o); i += CHUNK_ELEMS) {
		k = n - i < CHUNK_ELEMS ? n - i : CHUNK_ELEMS;
		tq_tensor_to_f32(t, i, k, o->fbuf);
		write_floats(o, o->fbuf, k, dt);
	}
	tensor_end(o, name, dt, t->shape, t->ndim, off);
}

/* A weight [rows, cols] written transposed, [cols, rows], as dt. */
static void
put_transposed(ox *o, const char *name, const tq_tensor *w, tq_onnx_dtype dt)
{
	int64_t rows = w->shape[0], cols = w->shape[1], c0, r, j;
	int64_t kc = CHUNK_ELEMS / rows, dims[2];
	uint64_t off = tensor_begin(o, (uint64_t)(rows * cols) *
	    tq_onnx_dtype_size(dt));
	float col[256];

	kc = kc < 1 ? 1 : kc > 256 ? 256 : kc;
	for (c0 = 0; c0 < cols && !ox_cancelled(o); c0 += kc) {
		int64_t nc = cols - c0 < kc ? cols - c0 : kc;

		if (nc * rows > CHUNK_ELEMS) {
			/* More rows than the buffer holds: element by element. */
			for (r = 0; r < rows; r++) {
				tq_tensor_to_f32(w, r * cols + c0, 1, col);
				write_floats(o, col, 1, dt);
			}
			continue;
		}
		for (r = 0; r < rows; r++) {
			tq_tensor_to_f32(w, r * cols + c0, nc, col);
			for (j = 0; j < nc; j++)
				o->fbuf[j * rows + r] = col[j];
		}
		write_floats(o, o->fbuf, nc * rows, dt);
	}
	dims[0] = cols;
	dims[1] = rows;
	tensor_end(o, name, dt, dims, 2, off);
}

/* ---- Nodes and constants ------------------------------------------------- */

/* Begins a node named "<scope>/<op>_<n>". */
static void
node_begin(ox *o, tq_pb *n, const char *op, const char *domain)
{
	tq_pb_init(n);
	tq_onnx_node(n, op, domain, ox_name(o, "%s/%s_%lld", o->scope, op,
	    (long long)o->seq++));
}

/* Adds an output to a node begun with node_begin; returns its name. */
static const char *
node_out(ox *o, tq_pb *n)
{
	const char *name = ox_name(o, "%s/%lld", o->scope, (long long)o->seq++);

	tq_onnx_node_output(n, name);
	return name;
}

static void
node_end(ox *o, tq_pb *n)
{
	tq_pb_msg(&o->graph, TQ_ONNX_GRAPH_NODE, n);
	tq_pb_done(n);
}

/* Up to three inputs of a node (NULL ends the list). */
static void
node_inputs(tq_pb *n, const char *a, const char *b, const char *c)
{
	tq_onnx_node_input(n, a);
	if (b != NULL)
		tq_onnx_node_input(n, b);
	if (b != NULL && c != NULL)
		tq_onnx_node_input(n, c);
}

/* A node of up to three inputs and one output. */
static const char *
op(ox *o, const char *type, const char *a, const char *b, const char *c)
{
	const char *y;
	tq_pb n;

	node_begin(o, &n, type, NULL);
	node_inputs(&n, a, b, c);
	y = node_out(o, &n);
	node_end(o, &n);
	return y;
}

/* A node of up to two inputs with one int (or ints) attribute. */
static const char *
op_attr(ox *o, const char *type, const char *a, const char *b,
    const char *attr, const int64_t *v, size_t k, int is_list)
{
	const char *y;
	tq_pb n;

	node_begin(o, &n, type, NULL);
	node_inputs(&n, a, b, NULL);
	if (is_list)
		tq_onnx_attr_ints(&n, attr, v, k);
	else
		tq_onnx_attr_int(&n, attr, v[0]);
	y = node_out(o, &n);
	node_end(o, &n);
	return y;
}

static const char *
cast(ox *o, const char *a, tq_onnx_dtype to)
{
	int64_t t = to;

	return op_attr(o, "Cast", a, NULL, "to", &t, 1, 0);
}

/* An inline constant, written once per distinct value. */
static const char *
constant(ox *o, const char *name, tq_onnx_dtype dt, const int64_t *dims,
    int nd, const void *data, size_t nbytes)
{
	size_t i;
	tq_pb t;

	for (i = 0; i < o->consts.n; i++)
		if (strcmp(o->consts.v[i], name) == 0)
			return o->consts.v[i];
	name = ox_name(o, "%s", name);
	if (!ox_ok(o) || !strlist_add(&o->consts, (char *)name)) {
		ox_nomem(o);
		return "";
	}
	tq_pb_init(&t);
	tq_onnx_tensor(&t, name, dt, dims, nd, data, nbytes);
	tq_pb_msg(&o->graph, TQ_ONNX_GRAPH_INITIALIZER, &t);
	tq_pb_done(&t);
	return name;
}

/* An int64 vector [k] (or a scalar when k is 0, holding v[0]). */
static const char *
const_i64(ox *o, const int64_t *v, size_t k)
{
	char name[160];
	size_t i, len;
	int64_t dim = (int64_t)k;

	len = (size_t)snprintf(name, sizeof(name), "/const/i64%s",
	    k ? "" : "/scalar");
	for (i = 0; i < (k ? k : 1) && len < sizeof(name); i++)
		len += (size_t)snprintf(name + len, sizeof(name) - len, "/%lld",
		    (long long)v[i]);
	return constant(o, name, TQ_ONNX_INT64, &dim, k ? 1 : 0, v,
	    (k ? k : 1) * sizeof(int64_t));
}

static const char *
scalar_i64(ox *o, int64_t v)
{
	return const_i64(o, &v, 0);
}

/* A float scalar. */
static const char *
scalar_f32(ox *o, float v)
{
	char name[64];

	snprintf(name, sizeof(name), "/const/f32/%.9g", (double)v);
	return constant(o, name, TQ_ONNX_FLOAT, NULL, 0, &v, sizeof(v));
}

static const char *
unsqueeze(ox *o, const char *a, int64_t axis)
{
	return op(o, "Unsqueeze", a, const_i64(o, &axis, 1), NULL);
}

static const char *
reshape(ox *o, const char *a, int64_t d0, int64_t d1, int64_t d2,
    int64_t d3, int64_t d4, size_t nd)
{
	int64_t shape[5] = { d0, d1, d2, d3, d4 };

	return op(o, "Reshape", a, const_i64(o, shape, nd), NULL);
}

static const char *
transpose(ox *o, const char *a, int64_t p0, int64_t p1, int64_t p2,
    int64_t p3)
{
	int64_t perm[4] = { p0, p1, p2, p3 };

	return op_attr(o, "Transpose", a, NULL, "perm", perm, 4, 1);
}

static const char *
concat_last(ox *o, const char *a, const char *b)
{
	int64_t axis = -1;

	return op_attr(o, "Concat", a, b, "axis", &axis, 1, 0);
}

/* ---- Blocks of the graph ------------------------------------------------ */

/* A float [n] vector from the model (norm weight, bias) as F32. */
static const char *
vector(ox *o, const tq_tensor *t, const char *name)
{
	put_tensor(o, name, t, TQ_ONNX_FLOAT);
	return name;
}

/* ReduceMean, ReduceMax, ... of x [.., C] over its last axis: [.., 1]. */
static const char *
reduce_last(ox *o, const char *type, const char *x)
{
	int64_t axes = -1, keep = 1;
	const char *y;
	tq_pb n;

	node_begin(o, &n, type, NULL);
	tq_onnx_node_input(&n, x);
	tq_onnx_attr_ints(&n, "axes", &axes, 1);
	tq_onnx_attr_int(&n, "keepdims", keep);
	y = node_out(o, &n);
	node_end(o, &n);
	return y;
}

/*
 * y [batch, seq, H] = rmsnorm(x [batch, seq, H]) * w [H], as LlamaRMSNorm:
 * w * (x * 1 / sqrt(mean(x^2) + eps)).
 */
static const char *
rmsnorm(ox *o, const char *x, const tq_tensor *w, const char *wname)
{
	const char *r;

	r = reduce_last(o, "ReduceMean", op(o, "Mul", x, x, NULL));
	r = op(o, "Add", r, scalar_f32(o, (float)o->c->rms_norm_eps), NULL);
	r = op(o, "Reciprocal", op(o, "Sqrt", r, NULL, NULL), NULL, NULL);
	return op(o, "Mul", vector(o, w, wname), op(o, "Mul", x, r, NULL),
	    NULL);
}

/*
 * The fake quantization our forward pass applies to a linear's input x
 * [batch, seq, C] (tq_actq_apply): int8 per token, scale = max |x| / 127
 * (1 for an all-zero token, which stays zero), x = scale * round(x /
 * scale) with ties to even.  Other modes are refused by check_state.
 */
static const char *
act_quant(ox *o, const char *x, const tq_actq *a)
{
	const char *amax, *scale;

	if (a->mode != TQ_ACTQ_INT8_TOKEN)
		return x;
	amax = reduce_last(o, "ReduceMax", op(o, "Abs", x, NULL, NULL));
	scale = op(o, "Div", amax, scalar_f32(o, 127.0f), NULL);
	scale = op(o, "Where", op(o, "Equal", amax, scalar_f32(o, 0.0f), NULL),
	    scalar_f32(o, 1.0f), scale);
	return op(o, "Mul", scale, op(o, "Round", op(o, "Mul", x,
	    op(o, "Reciprocal", scale, NULL, NULL), NULL), NULL, NULL), NULL);
}

/* Why a quantized layer cannot be MatMulNBits, or NULL. */
static const char *
nbits_refusal(const tq_qlayer *ql)
{
	const tq_scheme *s = &ql->qt.scheme;

	if (tq_gguf_is(s->type))
		return "MatMulNBits holds integer grids only (int2, int4, "
		    "int8; --format gguf writes GGUF block types)";
	if (s->type != TQ_QT_INT)
		return "MatMulNBits holds integer grids only (int2, int4, "
		    "int8)";
	if (s->bits != 2 && s->bits != 4 && s->bits != 8)
		return "MatMulNBits holds 2, 4 or 8 bits";
	if (s->group > 0 && (s->group < 16 || (s->group & (s->group - 1))))
		return "MatMulNBits needs a group size that is a power of two "
		    "of at least 16";
	return NULL;
}

/*
 * The order of the columns of an act-order layer by group (stable), into
 * perm[cols]; fails unless every group but the last has exactly qk
 * columns, which MatMulNBits' contiguous blocks need.
 */
static tq_status
group_order(const tq_qtensor *qt, const char *layer, int64_t *perm,
    tq_error *err)
{
	int64_t c, g, k = 0;

	for (g = 0; g < qt->nblocks; g++) {
		int64_t want = qt->cols - g * qt->qk < qt->qk ?
		    qt->cols - g * qt->qk : qt->qk, got = 0;

		for (c = 0; c < qt->cols; c++)
			if (qt->g_idx[c] == g) {
				perm[k++] = c;
				got++;
			}
		if (got != want)
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: group %lld of "
			    "the act-order layer has %lld columns, not %lld; "
			    "MatMulNBits needs contiguous groups", layer,
			    (long long)g, (long long)got, (long long)want);
	}
	if (k != qt->cols)
		return tq_fail(err, TQ_EFORMAT, "%s: g_idx names a group out of "
		    "range", layer);
	return TQ_OK;
}

/* Checks every layer before anything is written. */
static tq_status
check_state(ox *o, tq_error *err)
{
	const tq_qstate *s = o->x->state;
	int64_t *perm;
	size_t i;
	tq_status st;

	if (o->x->type != NULL && o->x->type[0] != '\0')
		return tq_fail(err, TQ_EINVAL, "onnx: no --type to choose (a "
		    "state is written on its own grid, a float model in its "
		    "own dtype)");
	if (s == NULL)
		return TQ_OK;
	for (i = 0; i <= (size_t)o->c->n_layers; i++) {
		const tq_actq *a = i < (size_t)o->c->n_layers ?
		    o->m->layers[i].act : &o->m->head_act;
		int k, n = i < (size_t)o->c->n_layers ? TQ_SITES_PER_LAYER : 1;

		for (k = 0; k < n; k++)
			if (a[k].mode != TQ_ACTQ_NONE &&
			    a[k].mode != TQ_ACTQ_INT8_TOKEN)
				return tq_fail(err, TQ_EUNSUPPORTED, "%s: FP8 "
				    "activations are not in the ONNX export",
				    o->m->path);
	}
	/* The last layer, the embedding, is a Gather of its float values. */
	for (i = 0; i + 1 < s->n; i++) {
		const tq_qlayer *ql = &s->layers[i];
		const char *why;
		char scheme[32];

		if (ql->cfg.method == TQ_METHOD_FLOAT)
			continue;
		if ((why = nbits_refusal(ql)) != NULL) {
			tq_scheme_name(&ql->qt.scheme, scheme, sizeof(scheme));
			return tq_fail(err, TQ_EUNSUPPORTED, "%s: %s is %s: %s",
			    o->m->path, tq_model_linear_name(o->m, i), scheme,
			    why);
		}
		if (ql->qt.g_idx == NULL)
			continue;
		if ((perm = malloc((size_t)ql->qt.cols * sizeof(*perm))) == NULL)
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		st = group_order(&ql->qt, tq_model_linear_name(o->m, i), perm,
		    err);
		free(perm);
		if (st != TQ_OK)
			return st;
	}
	return TQ_OK;
}

/* Stores v, `bits` wide, as element j of a row packed low bits first. */
static void
pack(uint8_t *row, int64_t j, int bits, unsigned v)
{
	int64_t bit = j * bits;

	row[bit / 8] |= (uint8_t)(v << (bit % 8));
}

/*
 * MatMulNBits for quantized layer ql on input x [.., K]; name is the layer
 * ("model.layers.0.self_attn.q_proj").
 */
static const char *
matmul_nbits(ox *o, const char *x, const tq_qlayer *ql, const char *name)
{
	const tq_qtensor *qt = &ql->qt;
	int bits = qt->scheme.bits, zdef = 1 << (bits - 1);
	int64_t N = qt->rows, K = qt->cols, r, b, j;
	int64_t bs = qt->scheme.group > 0 ? qt->scheme.group : CHANNEL_BLOCK;
	int64_t kb = (K + bs - 1) / bs, blob = bs * bits / 8;
	int64_t zb = (kb * bits + 7) / 8, dims[3];
	int64_t *perm = NULL;
	uint8_t *row = NULL, *zrow = NULL;
	float *scales = NULL;
	const char *qw, *sc, *zp = NULL, *y = "";
	uint64_t off;
	int all_default = 1;
	tq_pb n;

	if (!ox_ok(o))
		return y;
	/* Per channel: the smallest power-of-two block that holds a short row. */
	if (qt->scheme.group <= 0)
		while (bs / 2 >= 16 && bs / 2 >= K) {
			bs /= 2;
			kb = (K + bs - 1) / bs;
			blob = bs * bits / 8;
			zb = (kb * bits + 7) / 8;
		}
	row = calloc((size_t)(kb * blob), 1);
	zrow = calloc((size_t)(N * zb), 1);
	scales = malloc((size_t)(N * kb) * sizeof(float));
	if (qt->g_idx != NULL)
		perm = malloc((size_t)K * sizeof(*perm));
	if (row == NULL || zrow == NULL || scales == NULL ||
	    (qt->g_idx != NULL && perm == NULL)) {
		ox_nomem(o);
		goto out;
	}
	if (perm != NULL && (o->st = group_order(qt, name, perm, o->err)) !=
	    TQ_OK)
		goto out;

	/* B [N, kb, blob], streamed a row at a time. */
	qw = ox_name(o, "%s.qweight", name);
	off = tensor_begin(o, (uint64_t)(N * kb * blob));
	for (r = 0; r < N && !ox_cancelled(o); r++) {
		const uint8_t *codes = qt->codes + r * K;
		const tq_qparams *p = qt->params + r * qt->nblocks;

		memset(row, 0, (size_t)(kb * blob));
		for (j = 0; j < K; j++) {
			int64_t c = perm != NULL ? perm[j] : j;

			/* Block b's blob starts at b * blob, so j packs at j. */
			pack(row, j, bits, codes[c]);
		}
		for (b = 0; b < kb; b++) {
			tq_qscale q;

			/* Per channel: every block repeats the row's one. */
			tq_qparams_get_scale(&p[qt->scheme.group > 0 ? b : 0], &q);
			scales[r * kb + b] = q.scale;
			pack(zrow + r * zb, b, bits, (unsigned)q.zero);
			if (q.zero != zdef)
				all_default = 0;
		}
		data_write(o, row, (size_t)(kb * blob));
	}
	dims[0] = N;
	dims[1] = kb;
	dims[2] = blob;
	tensor_end(o, qw, TQ_ONNX_UINT8, dims, 3, off);
	sc = ox_name(o, "%s.scales", name);
	tensor_put(o, sc, TQ_ONNX_FLOAT, dims, 2, scales,
	    (size_t)(N * kb) * sizeof(float));
	if (!all_default) {
		zp = ox_name(o, "%s.qzeros", name);
		dims[1] = zb;
		tensor_put(o, zp, TQ_ONNX_UINT8, dims, 2, zrow, (size_t)(N * zb));
	}
	o->qbits += 8.0 * (double)(N * kb * blob) + 32.0 * (double)(N * kb) +
	    (zp != NULL ? 8.0 * (double)(N * zb) : 0.0);
	o->qweights += (double)(N * K);

	if (perm != NULL) {
		/* The input's columns in group order. */
		const char *pn = ox_name(o, "%s.perm", name);
		int64_t axis = -1;

		tensor_put(o, pn, TQ_ONNX_INT64, &K, 1, perm,
		    (size_t)K * sizeof(*perm));
		x = op_attr(o, "Gather", x, pn, "axis", &axis, 1, 0);
	}
	node_begin(o, &n, "MatMulNBits", "com.microsoft");
	tq_onnx_node_input(&n, x);
	tq_onnx_node_input(&n, qw);
	tq_onnx_node_input(&n, sc);
	if (zp != NULL)
		tq_onnx_node_input(&n, zp);
	tq_onnx_attr_int(&n, "K", K);
	tq_onnx_attr_int(&n, "N", N);
	tq_onnx_attr_int(&n, "bits", bits);
	tq_onnx_attr_int(&n, "block_size", bs);
	y = node_out(o, &n);
	node_end(o, &n);
out:
	free(row);
	free(zrow);
	free(scales);
	free(perm);
	return y;
}

/* y = x w^T with a float weight w [out, in]. */
static const char *
matmul_float(ox *o, const char *x, const tq_tensor *w, const char *name)
{
	const char *wn = ox_name(o, "%s.weight.T", name);
	tq_onnx_dtype dt = store_dtype(w);

	put_transposed(o, wn, w, dt);
	if (dt != TQ_ONNX_FLOAT)
		wn = cast(o, wn, TQ_ONNX_FLOAT);
	return op(o, "MatMul", x, wn, NULL);
}

/* Linear layer i of tq_model_linear_name on x, plus its bias b (or NULL). */
static const char *
linear(ox *o, const char *x, size_t i, const tq_tensor *b)
{
	const tq_qstate *s = o->x->state;
	const char *name = tq_model_linear_name(o->m, i), *y;
	const tq_tensor *w = tq_model__linear_weight(o->m, i);

	if (s != NULL && s->layers[i].cfg.method != TQ_METHOD_FLOAT)
		y = matmul_nbits(o, x, &s->layers[i], name);
	else if (w == o->m->embed && o->embed != NULL) {
		/* A tied lm_head: the embedding table, transposed. */
		const char *t = o->embed;
		int64_t perm[2] = { 1, 0 };

		if (o->embed_dtype != TQ_ONNX_FLOAT)
			t = cast(o, t, TQ_ONNX_FLOAT);
		t = op_attr(o, "Transpose", t, NULL, "perm", perm, 2, 1);
		y = op(o, "MatMul", x, t, NULL);
	} else
		y = matmul_float(o, x, w, name);
	if (b != NULL)
		y = op(o, "Add", y, vector(o, b, ox_name(o, "%s.bias", name)),
		    NULL);
	o->done++;
	if (o->x->job != NULL)
		tq_job__progress(o->x->job, o->done, o->total);
	return y;
}

/*
 * Positions, rotary tables and the attention mask, shared by every layer:
 * cos/sin [seq, 1, hd] (cat of the half tables, as rotate_half pairs
 * them), mask [seq, seq] (0 where key j is visible to query i, that is
 * i - W < j <= i, else float min).
 */
static void
shared_inputs(ox *o)
{
	const tq_model_config *c = o->c;
	int64_t half = c->head_dim / 2, axis0 = 0, dims[1] = { half };
	const char *shape, *seq, *pos, *inv, *freqs, *cs, *sn, *rows, *cols;
	const char *masked;
	float *inv0;

	snprintf(o->scope, sizeof(o->scope), "/model/rotary");
	shape = op(o, "Shape", o->ids, NULL, NULL);
	seq = op_attr(o, "Gather", shape, scalar_i64(o, 1), "axis", &axis0, 1,
	    0);
	pos = op(o, "Range", scalar_i64(o, 0), seq, scalar_i64(o, 1));
	if ((inv0 = malloc((size_t)half * sizeof(float))) == NULL) {
		ox_nomem(o);
		return;
	}
	/* The unscaled table (dynamic scaling starts past the context). */
	tq_fwd_inv_freq(c, 1, inv0);
	tensor_put(o, "model.rotary.inv_freq", TQ_ONNX_FLOAT, dims, 1, inv0,
	    (size_t)half * sizeof(float));
	inv = "model.rotary.inv_freq";
	if (c->rope_type == TQ_ROPE_DYNAMIC) {
		/*
		 * NTK: base' = theta * (f * n / max_pos - (f - 1))^(d / (d - 2))
		 * for n > max_pos, inv_freq = 1 / base'^(2j / d), in fp32.
		 */
		float f = (float)c->rope_factor, d = (float)c->head_dim;
		const char *nf, *ratio, *base, *dyn;
		int64_t j;

		for (j = 0; j < half; j++)
			inv0[j] = (float)(2 * j) / d;
		tensor_put(o, "model.rotary.exponents", TQ_ONNX_FLOAT, dims, 1,
		    inv0, (size_t)half * sizeof(float));
		nf = cast(o, seq, TQ_ONNX_FLOAT);
		ratio = op(o, "Mul", scalar_f32(o, f), nf, NULL);
		ratio = op(o, "Div", ratio,
		    scalar_f32(o, (float)c->max_position_embeddings), NULL);
		ratio = op(o, "Sub", ratio, scalar_f32(o, f - 1.0f), NULL);
		base = op(o, "Pow", ratio, scalar_f32(o, d / (d - 2.0f)), NULL);
		base = op(o, "Mul", scalar_f32(o, (float)c->rope_theta), base,
		    NULL);
		dyn = op(o, "Pow", base, "model.rotary.exponents", NULL);
		dyn = op(o, "Reciprocal", dyn, NULL, NULL);
		inv = op(o, "Where", op(o, "Greater", seq,
		    scalar_i64(o, c->max_position_embeddings), NULL), dyn, inv);
	}
	free(inv0);
	/* freqs [seq, half] = position * inv_freq */
	freqs = op(o, "Mul", unsqueeze(o, cast(o, pos, TQ_ONNX_FLOAT), 1), inv,
	    NULL);
	cs = op(o, "Cos", freqs, NULL, NULL);
	sn = op(o, "Sin", freqs, NULL, NULL);
	o->cos = unsqueeze(o, concat_last(o, cs, cs), 1);
	o->sin = unsqueeze(o, concat_last(o, sn, sn), 1);

	snprintf(o->scope, sizeof(o->scope), "/model/mask");
	rows = unsqueeze(o, pos, 1);
	cols = unsqueeze(o, pos, 0);
	masked = op(o, "Greater", cols, rows, NULL);
	if (c->sliding_window > 0) {
		const char *old = op(o, "LessOrEqual", cols, op(o, "Sub", rows,
		    scalar_i64(o, c->sliding_window), NULL), NULL);

		masked = op(o, "Or", masked, old, NULL);
	}
	o->mask = op(o, "Where", masked, scalar_f32(o, -3.402823466e+38f),
	    scalar_f32(o, 0.0f));
}

/* Rotates x [batch, seq, heads, hd] by the shared tables (half split). */
static const char *
rope(ox *o, const char *x)
{
	const char *half1, *half2, *rot;
	int64_t axis = -1;
	tq_pb n;

	node_begin(o, &n, "Split", NULL);
	tq_onnx_node_input(&n, x);
	tq_onnx_attr_int(&n, "axis", axis);
	half1 = node_out(o, &n);
	half2 = node_out(o, &n);
	node_end(o, &n);
	rot = concat_last(o, op(o, "Neg", half2, NULL, NULL), half1);
	return op(o, "Add", op(o, "Mul", x, o->cos, NULL),
	    op(o, "Mul", rot, o->sin, NULL), NULL);
}

/* Attention of block li on the normed input xn [batch, seq, H]. */
static const char *
attention(ox *o, const char *xn, int64_t li)
{
	const tq_model_config *c = o->c;
	const tq_layer_weights *l = &o->m->layers[li];
	int64_t nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim;
	size_t base = (size_t)li * TQ_LINEARS_PER_LAYER;
	const char *q, *k, *v, *s, *a;
	int64_t axis = -1, two = 2;

	xn = act_quant(o, xn, &l->act[TQ_SITE_QKV]);
	q = linear(o, xn, base + TQ_LINEAR_Q, l->bq);
	k = linear(o, xn, base + TQ_LINEAR_K, l->bk);
	v = linear(o, xn, base + TQ_LINEAR_V, l->bv);
	q = rope(o, reshape(o, q, 0, 0, nh, hd, 0, 4));
	k = rope(o, reshape(o, k, 0, 0, nkv, hd, 0, 4));
	v = reshape(o, v, 0, 0, nkv, hd, 0, 4);
	/*
	 * q [b, nkv, group, seq, hd], k^T [b, nkv, 1, hd, seq],
	 * v [b, nkv, 1, seq, hd]
	 */
	q = reshape(o, transpose(o, q, 0, 2, 1, 3), 0, nkv, nh / nkv, -1, hd,
	    5);
	k = op(o, "Unsqueeze", transpose(o, k, 0, 2, 3, 1),
	    const_i64(o, &two, 1), NULL);
	v = op(o, "Unsqueeze", transpose(o, v, 0, 2, 1, 3),
	    const_i64(o, &two, 1), NULL);
	s = op(o, "MatMul", q, k, NULL);
	s = op(o, "Mul", s, scalar_f32(o, 1.0f / sqrtf((float)hd)), NULL);
	s = op(o, "Add", s, o->mask, NULL);
	s = op_attr(o, "Softmax", s, NULL, "axis", &axis, 1, 0);
	a = op(o, "MatMul", s, v, NULL);
	a = transpose(o, reshape(o, a, 0, nh, -1, hd, 0, 4), 0, 2, 1, 3);
	a = reshape(o, a, 0, 0, nh * hd, 0, 0, 3);
	a = act_quant(o, a, &l->act[TQ_SITE_O]);
	return linear(o, a, base + TQ_LINEAR_O, l->bo);
}

/* The MLP of block li on the normed input xn. */
static const char *
mlp(ox *o, const char *xn, int64_t li)
{
	const tq_layer_weights *l = &o->m->layers[li];
	size_t base = (size_t)li * TQ_LINEARS_PER_LAYER;
	const char *g, *u;

	xn = act_quant(o, xn, &l->act[TQ_SITE_GATE_UP]);
	g = linear(o, xn, base + TQ_LINEAR_GATE, l->b_gate);
	u = linear(o, xn, base + TQ_LINEAR_UP, l->b_up);
	g = op(o, "Mul", op(o, "Mul", g, op(o, "Sigmoid", g, NULL, NULL), NULL),
	    u, NULL);
	g = act_quant(o, g, &l->act[TQ_SITE_DOWN]);
	return linear(o, g, base + TQ_LINEAR_DOWN, l->b_down);
}

/* The whole graph into o->graph, weights into the data file. */
static void
build(ox *o)
{
	const tq_model_config *c = o->c;
	const char *dparams[3] = { "batch", "sequence", NULL };
	int64_t dims[3] = { 0, 0, c->vocab_size }, axis0 = 0, li;
	size_t n_lin = tq_model_n_linears(o->m);
	const char *x, *xn, *y;
	tq_pb v;

	tq_pb_string(&o->graph, TQ_ONNX_GRAPH_NAME, "turboquant");
	o->ids = "input_ids";
	tq_pb_init(&v);
	tq_onnx_value_info(&v, o->ids, TQ_ONNX_INT64, dims, dparams, 2);
	tq_pb_msg(&o->graph, TQ_ONNX_GRAPH_INPUT, &v);
	tq_pb_done(&v);

	shared_inputs(o);

	snprintf(o->scope, sizeof(o->scope), "/model/embed_tokens");
	o->embed = "model.embed_tokens.weight";
	o->embed_dtype = store_dtype(o->m->embed);
	put_tensor(o, o->embed, o->m->embed, o->embed_dtype);
	x = op_attr(o, "Gather", o->embed, o->ids, "axis", &axis0, 1, 0);
	if (o->embed_dtype != TQ_ONNX_FLOAT)
		x = cast(o, x, TQ_ONNX_FLOAT);
	o->done++;

	for (li = 0; li < c->n_layers && ox_ok(o); li++) {
		const tq_layer_weights *l = &o->m->layers[li];

		snprintf(o->scope, sizeof(o->scope), "/model/layers.%lld",
		    (long long)li);
		xn = rmsnorm(o, x, l->attn_norm, ox_name(o,
		    "model.layers.%lld.input_layernorm.weight", (long long)li));
		x = op(o, "Add", x, attention(o, xn, li), NULL);
		xn = rmsnorm(o, x, l->ffn_norm, ox_name(o,
		    "model.layers.%lld.post_attention_layernorm.weight",
		    (long long)li));
		x = op(o, "Add", x, mlp(o, xn, li), NULL);
	}

	snprintf(o->scope, sizeof(o->scope), "/model/head");
	xn = rmsnorm(o, x, o->m->norm, "model.norm.weight");
	y = linear(o, act_quant(o, xn, &o->m->head_act), n_lin - 2, NULL);
	{
		tq_pb n;

		node_begin(o, &n, "Identity", NULL);
		tq_onnx_node_input(&n, y);
		tq_onnx_node_output(&n, "logits");
		node_end(o, &n);
	}
	tq_pb_init(&v);
	tq_onnx_value_info(&v, "logits", TQ_ONNX_FLOAT, dims, dparams, 3);
	tq_pb_msg(&o->graph, TQ_ONNX_GRAPH_OUTPUT, &v);
	tq_pb_done(&v);
	if (!tq_pb_ok(&o->graph))
		ox_nomem(o);
}

/* Writes the ModelProto around the graph to dir/model.onnx. */
static tq_status
write_model(ox *o, tq_error *err)
{
	static const tq_onnx_opset opsets[] = {
		{ "", ONNX_OPSET }, { "com.microsoft", 1 }
	};
	tq_onnx_meta meta[2];
	char *path;
	tq_pb m;
	FILE *f;
	int bad, e = 0;

	meta[0].key = "source_model";
	meta[0].value = o->m->path;
	meta[1].key = "architecture";
	meta[1].value = tq_arch_name(o->c->arch);
	tq_pb_init(&m);
	tq_onnx_model(&m, ONNX_IR_VERSION, opsets, 2, "turboquant",
	    tq_version(), meta, 2, &o->graph);
	if (!tq_pb_ok(&m)) {
		tq_pb_done(&m);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", o->x->out);
	}
	if ((path = tq_path_join(o->x->out, ONNX_MODEL)) == NULL) {
		tq_pb_done(&m);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", o->x->out);
	}
	f = fopen(path, "wb");
	bad = f == NULL || fwrite(m.data, 1, m.len, f) != m.len ||
	    fflush(f) != 0 || fsync(fileno(f)) != 0;
	if (bad)
		e = errno ? errno : EIO;
	if (f != NULL && fclose(f) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	tq_pb_done(&m);
	if (bad) {
		tq_status st = tq_fail(err, TQ_EIO, "%s: write failed: %s", path,
		    strerror(e));

		free(path);
		return st;
	}
	free(path);
	return TQ_OK;
}

/* Flushes and closes the data file; errors name it. */
static tq_status
close_data(ox *o, tq_error *err)
{
	int bad = 0, e = 0;

	if (o->data == NULL)
		return TQ_OK;
	if (fflush(o->data) != 0 || ferror(o->data) ||
	    fsync(fileno(o->data)) != 0) {
		bad = 1;
		e = errno ? errno : EIO;
	}
	if (fclose(o->data) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	o->data = NULL;
	if (bad)
		return tq_fail(err, TQ_EIO, "%s: write failed: %s", o->data_path,
		    strerror(e));
	return TQ_OK;
}

/* Fills the report: the grid written, and its bits per weight. */
static void
report(ox *o)
{
	const tq_qstate *s = o->x->state;
	char type[32] = "", name[32];
	size_t i;

	for (i = 0; s != NULL && i + 1 < s->n; i++) {
		if (s->layers[i].cfg.method == TQ_METHOD_FLOAT)
			continue;
		tq_scheme_name(&s->layers[i].qt.scheme, name, sizeof(name));
		if (type[0] == '\0')
			snprintf(type, sizeof(type), "%s", name);
		else if (strcmp(type, name) != 0)
			snprintf(type, sizeof(type), "mixed");
	}
	if (type[0] == '\0')
		snprintf(type, sizeof(type), "float");
	snprintf(o->x->report->type, sizeof(o->x->report->type), "%s", type);
	o->x->report->bpw = o->qweights > 0 ? o->qbits / o->qweights : 0.0;
}

tq_status
tq_export_onnx(tq_export_ctx *x, tq_error *err)
{
	const char *extra = tq_model__block_extra(x->model);
	ox o;
	size_t i;
	tq_status st;

	/* The graph is the Llama block. */
	if (extra != NULL)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: the onnx export does "
		    "not support architecture %s (%s)", tq_model_path(x->base),
		    tq_arch_name(x->model->cfg.arch), extra);
	memset(&o, 0, sizeof(o));
	o.x = x;
	o.m = x->model;
	o.c = &x->model->cfg;
	o.err = err;
	tq_pb_init(&o.graph);
	if ((st = check_state(&o, err)) != TQ_OK)
		return st;
	o.total = (int64_t)tq_model_n_linears(o.m);
	o.fbuf = malloc((size_t)CHUNK_ELEMS * sizeof(float));
	o.bbuf = malloc((size_t)CHUNK_ELEMS * 4);
	o.data_path = tq_path_join(x->out, ONNX_DATA);
	if (o.fbuf == NULL || o.bbuf == NULL || o.data_path == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory", x->out);
		goto out;
	}
	if ((o.data = fopen(o.data_path, "wb")) == NULL) {
		st = tq_fail(err, TQ_EIO, "%s: cannot create: %s", o.data_path,
		    strerror(errno));
		goto out;
	}
	build(&o);
	/* After a failure the data file is only closed (export.c removes it). */
	if ((st = o.st) == TQ_OK)
		st = close_data(&o, err);
	if (st == TQ_OK)
		st = write_model(&o, err);
	if (st == TQ_OK)
		report(&o);
out:
	if (o.data != NULL)
		fclose(o.data);
	for (i = 0; i < o.names.n; i++)
		free(o.names.v[i]);
	free(o.names.v);
	free(o.consts.v);
	free(o.fbuf);
	free(o.bbuf);
	free(o.data_path);
	tq_pb_done(&o.graph);
	return st;
}
