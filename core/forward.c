/*
 * forward.c: the fp32 prefill forward pass of Llama, Mistral, Qwen2, Qwen3,
 * SmolLM3, Gemma 2, Gemma 3, Phi-3, Mixtral, Qwen3-MoE and gpt_oss.
 *
 * It follows transformers' eager implementation step by step (RMSNorm in
 * fp32, half-split rotary embedding with inv_freq computed in fp32, causal
 * and sliding-window masks, GQA by head groups, SwiGLU or GeGLU MLP) so
 * logits agree with Hugging Face to rounding.  What differs between the
 * architectures is per layer in tq_block_opts (core/model.c); the stages
 * below consult it.  Every matrix product goes through OpenBLAS
 * sgemm, which is where the time goes; the threads are the engine's own
 * (blas_det.h for the linear layers, one head per task for attention,
 * OpenBLAS held at one thread), so the bytes do not depend on their count.
 *
 * Weights stay in the checkpoint's dtype in the memory map; each linear layer
 * converts its weight to fp32 in row blocks into one scratch buffer, so
 * memory is bounded by the activations, not the model.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "blas_det.h"
#include "error.h"
#include "forward.h"
#include "model.h"
#include "par.h"
#include "quant.h"
#include "sgemm.h"
#include "tq.h"
#include "vexp.h"

/* Elements of weight converted at a time (32 MB of fp32). */
#define WBLOCK_ELEMS ((int64_t)8 << 20)
/* Query rows per attention score block. */
#define ATT_QBLOCK 256
/* Logits kept at once when the caller does not say (elements). */
#define LOGITS_BUDGET ((int64_t)32 << 20)

/*
 * Scratch of the forward pass for sequences of up to max_n tokens; shapes
 * use n = tokens and F = intermediate size (not I: cblas.h pulls in
 * complex.h, which defines I).  The residual stream x[n, H] belongs to
 * the caller, so the sequential pipeline can keep its own.
 */
struct tq_fwd {
	const tq_model *m;
	int64_t max_n;
	float *xn;		/* [n, H] normed input of a sublayer */
	float *q;		/* [n, n_heads * hd] */
	float *k;		/* [n, n_kv * hd] */
	float *v;		/* [n, n_kv * hd] */
	float *att;		/* [n, n_heads * hd] attention output */
	float *gate;		/* [n, max(F, Fe)] the gated product */
	float *up;		/* [n, max(F, Fe)] */
	float *moe_x;		/* [n, H] an expert's tokens' inputs */
	float *moe_y;		/* [n, H] the experts' weighted sum */
	float *moe_p;		/* [n, E] router probabilities */
	float *moe_w;		/* [n] an expert's tokens' weights */
	int64_t *moe_tok;	/* [n] an expert's tokens */
	int *moe_sel;		/* [n, top_k] each token's experts */
	float *y;		/* [n, H] a sublayer's output */
	float *sinks;		/* [n_heads] gpt_oss's sink logits */
	float *scores;		/* [n_slots, min(n, ATT_QBLOCK), n] */
	int n_slots;		/* heads computed at once, one per thread */
	float *cos[2];		/* [n, hd / 2] each: global, local RoPE */
	float *sin[2];		/* [n, hd / 2] each */
	int64_t rope_n[2];	/* sequence length the tables were made for */
	float *wbuf;		/* [WBLOCK_ELEMS] weight rows in fp32 */
	float *logits;		/* [logits_cap / V, V] when the caller has none */
	int64_t logits_cap;
	float *q81;		/* [n, C / 32] Q8_1 corrections of q81_x's blocks */
	const float *q81_x;	/* [n, q81_c] the last input rounded to Q8_1 */
	int64_t q81_n, q81_c;
	int kv_f16;		/* tq_fwd_llamacpp */
	int64_t seq_len;	/* tq_fwd_seq: tokens per sequence, 0: one */
	const tq_forward_opts *hook_o;	/* tq_fwd_stages' o, for fwd_moe */
	int hook_li;		/* its block */
	int hook_stop;		/* the expert hook asked to stop */
};


void
tq_fwd_free(tq_fwd *s)
{
	if (s == NULL)
		return;
	free(s->xn);
	free(s->q);
	free(s->k);
	free(s->v);
	free(s->att);
	free(s->gate);
	free(s->up);
	free(s->moe_x);
	free(s->moe_y);
	free(s->moe_p);
	free(s->moe_w);
	free(s->moe_tok);
	free(s->moe_sel);
	free(s->y);
	free(s->sinks);
	free(s->scores);
	free(s->cos[0]);
	free(s->sin[0]);
	free(s->cos[1]);
	free(s->sin[1]);
	free(s->wbuf);
	free(s->logits);
	free(s->q81);
	free(s);
}

static float *
fwd_alloc(int64_t n_elems, int *failed)
{
	float *p = malloc((size_t)(n_elems > 0 ? n_elems : 1) * sizeof(float));

	if (p == NULL)
		*failed = 1;
	return p;
}

/*
 * The rows per sequence of a block's n tokens: tq_fwd_seq's length when
 * the n tokens are several sequences of it, else n.
 */
static int64_t
fwd_ms(const tq_fwd *s, int64_t n)
{
	return s->seq_len > 0 && n % s->seq_len == 0 ? s->seq_len : n;
}

/*
 * y[n, out] = x[n, in] * W^T (+ b), W: [out, in] in any stored dtype, ldy the
 * row stride of y.  W is converted to fp32 a block of rows at a time, once
 * for all n rows (tq_det_sgemm's A B^T: each element's bytes depend on its
 * two rows alone, so several sequences in one call give each one's own).
 */
static void
fwd_linear(tq_fwd *s, const float *x, int64_t n, const tq_tensor *w,
    const tq_tensor *b, float *y, int64_t ldy)
{
	int64_t out = w->shape[0], in = w->shape[1];
	int64_t rows = WBLOCK_ELEMS / in, r0, i;

	if (rows < 1)
		rows = 1;
	if (w->dtype == TQ_DTYPE_F32 && (uintptr_t)w->data % sizeof(float) == 0) {
		/* Aligned fp32 weights are used in place, without a copy. */
		tq_det_sgemm(CblasNoTrans, CblasTrans, n, out, in, 1.0f,
		    x, in, w->data, in, 0.0f, y, ldy);
	} else {
		for (r0 = 0; r0 < out; r0 += rows) {
			int64_t nr = out - r0 < rows ? out - r0 : rows;

			tq_tensor_to_f32(w, r0 * in, nr * in, s->wbuf);
			tq_det_sgemm(CblasNoTrans, CblasTrans, n, nr, in,
			    1.0f, x, in, s->wbuf, in, 0.0f, y + r0, ldy);
		}
	}
	if (s->q81_x != NULL && in == s->q81_c && (uintptr_t)x >=
	    (uintptr_t)s->q81_x && (uintptr_t)x < (uintptr_t)(s->q81_x +
	    s->q81_n * in)) {
		const float *mins = NULL;
		size_t k;

		for (k = 0; k < s->m->n_ggml_mins; k++)
			if (s->m->ggml_mins[k].w == w)
				mins = s->m->ggml_mins[k].m;
		/* y += corrections [n, in / 32] x mins [out, in / 32]^T */
		if (mins != NULL)
			tq_det_sgemm(CblasNoTrans, CblasTrans, n, out,
			    in / 32, 1.0f, s->q81 + (x - s->q81_x) / 32, in / 32,
			    mins, in / 32, 1.0f, y, ldy);
	}
	if (b != NULL) {
		tq_tensor_to_f32(b, 0, out, s->wbuf);
		for (i = 0; i < n; i++) {
			float *row = y + i * ldy;
			int64_t j;

			for (j = 0; j < out; j++)
				row[j] += s->wbuf[j];
		}
	}
}


/*
 * y[n, H] = rmsnorm(x[n, H]) * (off + w[H]) in fp32: LlamaRMSNorm with off
 * 0, Gemma's with 1.  y may be x.
 */
typedef struct fwd_norm_rows {
	const float *x, *w;	/* [n, H], [H] */
	float *y;		/* [n, H] */
	int64_t H;
	double eps;
} fwd_norm_rows;

static void
fwd_rmsnorm_rows(void *arg, int64_t i0, int64_t i1)
{
	const fwd_norm_rows *a = arg;
	int64_t H = a->H, i, j;

	for (i = i0; i < i1; i++) {
		const float *xr = a->x + i * H;
		float *yr = a->y + i * H;
		double ss = 0.0;
		float r;

		for (j = 0; j < H; j++)
			ss += (double)xr[j] * xr[j];
		r = 1.0f / sqrtf((float)(ss / (double)H) + (float)a->eps);
		for (j = 0; j < H; j++)
			yr[j] = a->w[j] * (xr[j] * r);
	}
}

/* Elements of work below which a split over threads costs more. */
#define PAR_MIN_WORK ((int64_t)1 << 16)

static void
fwd_rmsnorm(tq_fwd *s, const float *x, const tq_tensor *w, int64_t n,
    int64_t H, double eps, float off, float *y)
{
	fwd_norm_rows a = { x, s->wbuf, y, H, eps };
	int64_t j;

	tq_tensor_to_f32(w, 0, H, s->wbuf);
	if (off != 0.0f)
		for (j = 0; j < H; j++)
			s->wbuf[j] = off + s->wbuf[j];
	/* Rows are independent: the same bytes on any thread. */
	tq_par_rows(fwd_rmsnorm_rows, &a, n, H, PAR_MIN_WORK);
}

/* See forward.h. */
void
tq_fwd_inv_freq(const tq_model_config *c, int64_t n, float *inv)
{
	int64_t rd = c->rope_dim > 0 ? c->rope_dim : c->head_dim;
	int64_t half = rd / 2, j;
	float dim = (float)rd, base = (float)c->rope_theta;

	if (c->rope_type == TQ_ROPE_DYNAMIC && n > c->max_position_embeddings) {
		float f = (float)c->rope_factor;
		float ratio = f * (float)n / (float)c->max_position_embeddings -
		    (f - 1.0f);

		base = (float)c->rope_theta * powf(ratio, dim / (dim - 2.0f));
	}
	if (c->rope_type == TQ_ROPE_LONGROPE) {
		/* transformers: 1 / (ext * base^(2j/d)), long past the
		   original context */
		const float *ext = n > c->rope_original_max_pos ?
		    c->rope_long_factor : c->rope_short_factor;

		for (j = 0; j < half; j++)
			inv[j] = 1.0f / (ext[j] * powf(base, (float)(2 * j) /
			    dim));
		return;
	}
	for (j = 0; j < half; j++)
		inv[j] = 1.0f / powf(base, (float)(2 * j) / dim);
	if (c->rope_type == TQ_ROPE_YARN) {
		/*
		 * transformers' YaRN: frequency j interpolated (divided by
		 * the factor) below the dimension of beta_slow rotations over
		 * the original context, kept above that of beta_fast, a
		 * linear ramp between
		 */
		double lb = log(c->rope_theta), lo, hi;
		float f = (float)c->rope_factor;

		lo = dim * log((double)c->rope_original_max_pos /
		    (c->rope_beta_fast * 2.0 * M_PI)) / (2.0 * lb);
		hi = dim * log((double)c->rope_original_max_pos /
		    (c->rope_beta_slow * 2.0 * M_PI)) / (2.0 * lb);
		if (c->rope_truncate) {
			lo = floor(lo);
			hi = ceil(hi);
		}
		lo = lo > 0.0 ? lo : 0.0;
		hi = hi < dim - 1.0 ? hi : dim - 1.0;
		if (lo == hi)
			hi += 0.001;
		for (j = 0; j < half; j++) {
			float pos = powf(base, (float)(2 * j) / dim);
			float r = ((float)j - (float)lo) / (float)(hi - lo);
			float extra = 1.0f - (r < 0.0f ? 0.0f : r > 1.0f ?
			    1.0f : r);

			inv[j] = 1.0f / (f * pos) * (1.0f - extra) +
			    1.0f / pos * extra;
		}
	}
	if (c->rope_type == TQ_ROPE_LINEAR) {
		for (j = 0; j < half; j++)
			inv[j] /= (float)c->rope_factor;
	} else if (c->rope_type == TQ_ROPE_LLAMA3) {
		float factor = (float)c->rope_factor;
		float lo = (float)c->rope_low_freq_factor;
		float hi = (float)c->rope_high_freq_factor;
		float old = (float)c->rope_original_max_pos;
		float lo_wl = old / lo, hi_wl = old / hi;

		for (j = 0; j < half; j++) {
			float wl = 2.0f * (float)M_PI / inv[j];
			float f = wl > lo_wl ? inv[j] / factor : inv[j];

			if (!(wl < hi_wl) && !(wl > lo_wl)) {
				float sm = (old / wl - lo) / (hi - lo);

				f = (1.0f - sm) * f / factor + sm * f;
			}
			inv[j] = f;
		}
	}
}

/*
 * cos/sin tables [n, hd/2] for positions 0..n-1, of the model's RoPE or,
 * local, of its sliding layers' (base rope_local_theta, unscaled, as
 * transformers' Gemma 3 makes it).  They depend on n only through dynamic
 * scaling, so they are remade when n changes.
 */
static void
fwd_rope_tables(tq_fwd *s, const tq_model_config *c, int64_t n, int local)
{
	int64_t half = (c->rope_dim > 0 ? c->rope_dim : c->head_dim) / 2, p, j;
	tq_model_config lc;

	if (s->rope_n[local] == n)
		return;
	s->rope_n[local] = n;
	if (local) {
		lc = *c;
		lc.rope_theta = c->rope_local_theta;
		lc.rope_type = TQ_ROPE_DEFAULT;
		c = &lc;
	}
	tq_fwd_inv_freq(c, n, s->wbuf);
	for (p = 0; p < n; p++)
		for (j = 0; j < half; j++) {
			float a = (float)p * s->wbuf[j];

			s->cos[local][p * half + j] = cosf(a);
			s->sin[local][p * half + j] = sinf(a);
		}
	if (c->rope_type == TQ_ROPE_LONGROPE || c->rope_type == TQ_ROPE_YARN) {
		/* longrope's and yarn's attention factor scales cos and sin
		   in fp32 */
		float af = (float)c->rope_attn_factor;

		for (j = 0; j < n * half; j++) {
			s->cos[local][j] *= af;
			s->sin[local][j] *= af;
		}
	}
}

/*
 * Rotates the first rd dimensions of every head of x[n, n_heads * hd] in
 * place (half-split pairs within them, as transformers' partial rotary)
 * with table set k of fwd_rope_tables.
 */
static void
fwd_rope_apply(const tq_fwd *s, int k, float *x, int64_t n, int64_t n_heads,
    int64_t hd, int64_t rd)
{
	int64_t half = rd / 2, p, h, j;

	for (p = 0; p < n; p++) {
		const float *cs = s->cos[k] + p * half;
		const float *sn = s->sin[k] + p * half;

		for (h = 0; h < n_heads; h++) {
			float *v = x + (p * n_heads + h) * hd;

			for (j = 0; j < half; j++) {
				float a = v[j], b = v[j + half];

				v[j] = a * cs[j] + (-b) * sn[j];
				v[j + half] = b * cs[j] + a * sn[j];
			}
		}
	}
}

/*
 * x[n] /= d, eight at a time so that the compiler divides whole vectors
 * (a correctly rounded division either way: the same bytes).
 */
static void
fwd_div(float *x, int64_t n, float d)
{
	int64_t j = 0, k;

	for (; j + 8 <= n; j += 8)
		for (k = 0; k < 8; k++)
			x[j + k] /= d;
	for (; j < n; j++)
		x[j] /= d;
}

/* The first key query qi sees: key j is visible iff qi - W < j <= qi. */
static int64_t
fwd_key_lo(int64_t qi, int64_t W)
{
	return W > 0 && qi - W + 1 > 0 ? qi - W + 1 : 0;
}

/*
 * The largest of x[n] as the loop "if (x[j] > m) m = x[j]" from m = x[0]
 * finds it, in eight lanes (whole vectors): the same value, a NaN skipped
 * unless it is x[0].
 */
static float
fwd_rowmax(const float *x, int64_t n)
{
	float m8[8], m = x[0];
	int64_t j = 0, k;

	for (k = 0; k < 8; k++)
		m8[k] = m;
	for (; j + 8 <= n; j += 8)
		for (k = 0; k < 8; k++)
			m8[k] = x[j + k] > m8[k] ? x[j + k] : m8[k];
	for (; j < n; j++)
		m = x[j] > m ? x[j] : m;
	for (k = 0; k < 8; k++)
		m = m8[k] > m ? m8[k] : m;
	return m;
}

/*
 * sum[i] += p[i, j] over row i's visible keys j (lo <= j <= qi, qi = r0 +
 * i; see fwd_attention_head) of p[nr, nk], each row added left to right
 * as one loop over it would.  Eight rows go side by side over the keys
 * they all see, so that their sums, each a chain of dependent additions,
 * overlap.
 */
static void
fwd_rowsums(const float *p, int64_t nr, int64_t nk, int64_t r0, int64_t W,
    float *sum)
{
	int64_t i = 0, j, k;

	for (; i + 8 <= nr; i += 8) {
		const float *row[8];
		int64_t lo[8], a, b;
		float acc[8];

		for (k = 0; k < 8; k++) {
			int64_t qi = r0 + i + k;

			row[k] = p + (i + k) * nk;
			lo[k] = fwd_key_lo(qi, W);
			acc[k] = sum[i + k];
		}
		/*
		 * The keys all eight see: [a, b] (none past a window: a = b +
		 * 1); a row's own keys before a and after b.
		 */
		a = lo[7];
		b = r0 + i;
		if (a > b)
			a = b + 1;
		for (k = 0; k < 8; k++)
			for (j = lo[k]; j < a; j++)
				acc[k] += row[k][j];
		for (j = a; j <= b; j++)
			for (k = 0; k < 8; k++)
				acc[k] += row[k][j];
		for (k = 0; k < 8; k++) {
			for (j = lo[k] > b + 1 ? lo[k] : b + 1; j <= r0 + i + k;
			    j++)
				acc[k] += row[k][j];
			sum[i + k] = acc[k];
		}
	}
	for (; i < nr; i++) {
		int64_t qi = r0 + i;

		for (j = fwd_key_lo(qi, W); j <= qi; j++)
			sum[i] += p[i * nk + j];
	}
}

/* One attention call's arguments, shared by its heads. */
typedef struct fwd_att {
	tq_fwd *s;
	const tq_model_config *c;
	const tq_block_opts *b;
	int64_t n;		/* tokens per sequence */
	float *att;
	const float *sinks;	/* [n_heads] or NULL */
} fwd_att;

/*
 * Head t % n_heads of sequence t / n_heads: causal (and sliding-window)
 * softmax attention into att[n_seq * n, n_heads * hd], with slot's
 * scores.  Serial calls of the engine's kernels (sgemm.h, vexp.h), whose
 * bytes depend on their operands alone, not on the thread that runs them.
 */
static void
fwd_attention_head(void *arg, int slot, int64_t t)
{
	const fwd_att *fa = arg;
	const tq_fwd *s = fa->s;
	const tq_model_config *c = fa->c;
	int64_t n = fa->n, hd = c->head_dim, nh = c->n_heads;
	int64_t ldq = nh * hd, ldk = c->n_kv_heads * hd;
	int64_t group = nh / c->n_kv_heads, W = fa->b->window, r0, i, j;
	int64_t h = t % nh, q0 = t / nh * n;	/* the sequence's first row */
	const float *qh = s->q + q0 * ldq + h * hd;
	const float *kh = s->k + q0 * ldk + (h / group) * hd;
	const float *vh = s->v + q0 * ldk + (h / group) * hd;
	float *ah = fa->att + q0 * ldq + h * hd;
	float *scores = s->scores + (int64_t)slot *
	    (s->max_n < ATT_QBLOCK ? s->max_n : ATT_QBLOCK) * s->max_n;
	float scale = fa->b->attn_scale, cap = fa->b->attn_softcap;
	float sum[ATT_QBLOCK];	/* each row's softmax denominator */

	for (r0 = 0; r0 < n; r0 += ATT_QBLOCK) {
		int64_t nr = n - r0 < ATT_QBLOCK ? n - r0 : ATT_QBLOCK;
		int64_t nk = r0 + nr;	/* keys a block can see */

		/* scores[nr, nk] = Q_h[r0:r0+nr] K_h[0:nk]^T * scale */
		tq_sgemm_nt(nr, nk, hd, scale, qh + r0 * ldq, ldq, kh, ldk, 0,
		    scores, nk);
		for (i = 0; i < nr; i++) {
			float *row = scores + i * nk, mx;
			int64_t qi = r0 + i;
			int64_t lo = fwd_key_lo(qi, W);

			/* Gemma 2's soft-cap, before the mask (transformers) */
			if (cap > 0.0f)
				for (j = lo; j <= qi; j++)
					row[j] = tanhf(row[j] / cap) * cap;
			mx = fwd_rowmax(row + lo, qi + 1 - lo);
			for (j = 0; j < lo; j++)
				row[j] = 0.0f;
			for (j = qi + 1; j < nk; j++)
				row[j] = 0.0f;
			sum[i] = 0.0f;
			/* gpt_oss's sink: one more logit in the denominator */
			if (fa->sinks != NULL) {
				mx = fa->sinks[h] > mx ? fa->sinks[h] : mx;
				sum[i] = tq_vexp1(fa->sinks[h] - mx);
			}
			/* Subtract the max so exp cannot overflow. */
			tq_vexp_shift(row + lo, qi + 1 - lo, mx);
		}
		fwd_rowsums(scores, nr, nk, r0, W, sum);
		for (i = 0; i < nr; i++) {
			int64_t qi = r0 + i;
			int64_t lo = fwd_key_lo(qi, W);

			fwd_div(scores + i * nk + lo, qi + 1 - lo, sum[i]);
		}
		/* att_h[r0:r0+nr] = P[nr, nk] V_h[0:nk] */
		tq_sgemm_nn(nr, hd, nk, scores, nk, vh, ldk, ah + r0 * ldq,
		    ldq);
	}
}

/*
 * Causal (and sliding-window) softmax attention within each sequence of
 * ms of the n tokens, the heads of all sequences in parallel.
 */
static void
fwd_attention(tq_fwd *s, const tq_model_config *c, const tq_block_opts *b,
    int64_t n, int64_t ms, float *att, const float *sinks)
{
	fwd_att fa = { s, c, b, ms, att, sinks };

	tq_par_tasks_slots(fwd_attention_head, &fa, n / ms * c->n_heads,
	    s->n_slots);
}

static tq_status
fwd_hook(const tq_forward_opts *o, int layer, tq_linear which,
    const float *x, int64_t n, int64_t in, tq_error *err)
{
	if (o == NULL || o->act_hook == NULL)
		return TQ_OK;
	if (o->act_hook(o->act_ud, layer, which, x, n, in) != 0)
		return tq_fail(err, TQ_ECANCELLED,
		    "forward pass stopped by the activation hook");
	return TQ_OK;
}

void
tq_fwd_norm(tq_fwd *s, const tq_tensor *w, const float *x, int64_t n,
    float *y)
{
	const tq_model_config *c = &s->m->cfg;

	fwd_rmsnorm(s, x, w, n, c->hidden_size, c->rms_norm_eps,
	    c->norm_unit_offset ? 1.0f : 0.0f, y);
}

/*
 * A linear site's input quantization; for Q8_1, also each block's
 * correction, which fwd_linear applies to the weights with minimums.
 */
typedef struct fwd_actq_units {
	tq_fwd *s;
	const tq_actq *a;
	float *x;		/* [n, C] */
	int64_t n, C, u;	/* u rows a unit */
} fwd_actq_units;

/*
 * Units [u0, u1) of u rows, u * C a multiple of 256, so no ggml block (32
 * or 256 values of the flat rows) crosses a unit: the same bytes as one
 * call on all rows.
 */
static void
fwd_actq_units_fn(void *arg, int64_t u0, int64_t u1)
{
	const fwd_actq_units *q = arg;
	int64_t r0 = u0 * q->u, r1 = u1 * q->u < q->n ? u1 * q->u : q->n;
	float *x = q->x + r0 * q->C;

	if (q->a == NULL)
		tq_actq_q8_1(x, (r1 - r0) * q->C, q->s->q81 + r0 * q->C / 32);
	else
		tq_actq_apply(q->a, x, r1 - r0, q->C);
}

static void
fwd_actq(tq_fwd *s, const tq_actq *a, float *x, int64_t n, int64_t C)
{
	fwd_actq_units q = { s, a, x, n, C, 1 };
	int q81 = a->mode == TQ_ACTQ_GGML_Q8_1 && s->q81 != NULL && C % 32 == 0;

	s->q81_x = NULL;
	if (a->mode == TQ_ACTQ_NONE)
		return;
	while (q.u * C % 256 != 0)
		q.u *= 2;
	if (q81) {
		q.a = NULL;	/* with each block's correction */
		s->q81_x = x;
		s->q81_n = n;
		s->q81_c = C;
	}
	tq_par_rows(fwd_actq_units_fn, &q, (n + q.u - 1) / q.u, q.u * C,
	    PAR_MIN_WORK);
}

/*
 * The stages of a decoder block.  Each reads and writes io's buffers; a
 * stage that feeds linears quantizes their input first as l->act says,
 * so activation quantization is applied here and nowhere else.
 */

/* xn = attn_norm(x) */
static void
stage_attn_norm(tq_fwd *s, const tq_layer_weights *l, const tq_block_opts *b,
    const tq_fwd_io *io, int64_t n)
{
	fwd_rmsnorm(s, io->x, l->attn_norm, n, s->m->cfg.hidden_size,
	    b->norm_eps, b->norm_offset, io->xn);
}

/* k and v's elements [i0, i1) rounded to fp16, as llama.cpp's KV cache */
static void
fwd_kv_f16_rows(void *arg, int64_t i0, int64_t i1)
{
	tq_fwd *s = arg;
	int64_t i;

	for (i = i0; i < i1; i++) {
		s->k[i] = tq_f16_to_f32(tq_f32_to_f16(s->k[i]));
		s->v[i] = tq_f16_to_f32(tq_f32_to_f16(s->v[i]));
	}
}

/*
 * att = softmax(rope(q) rope(k)^T * scale) v, q k v from xn; with QK-norm
 * each head of q and k is RMS-normed first (Qwen3, Gemma 3), and a NoPE
 * layer leaves rope out (SmolLM3).
 */
static void
stage_attn(tq_fwd *s, const tq_layer_weights *l, const tq_block_opts *b,
    const tq_fwd_io *io, int64_t n)
{
	const tq_model_config *c = &s->m->cfg;
	int64_t hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
	int64_t ms = fwd_ms(s, n), q0;

	fwd_actq(s, &l->act[TQ_SITE_QKV], io->xn, n, c->hidden_size);
	fwd_linear(s, io->xn, n, l->wq, l->bq, s->q, qd);
	fwd_linear(s, io->xn, n, l->wk, l->bk, s->k, kvd);
	fwd_linear(s, io->xn, n, l->wv, l->bv, s->v, kvd);
	if (b->qk_norm) {
		/* In place: a row's sum of squares is taken before it is written. */
		fwd_rmsnorm(s, s->q, l->q_norm, n * c->n_heads, hd, b->norm_eps,
		    b->norm_offset, s->q);
		fwd_rmsnorm(s, s->k, l->k_norm, n * c->n_kv_heads, hd,
		    b->norm_eps, b->norm_offset, s->k);
	}
	if (b->rope) {
		int64_t rd = c->rope_dim > 0 ? c->rope_dim : hd;

		/* positions 0..ms-1 in each sequence */
		fwd_rope_tables(s, c, ms, b->rope_local);
		for (q0 = 0; q0 < n; q0 += ms) {
			fwd_rope_apply(s, b->rope_local, s->q + q0 * qd, ms,
			    c->n_heads, hd, rd);
			fwd_rope_apply(s, b->rope_local, s->k + q0 * kvd, ms,
			    c->n_kv_heads, hd, rd);
		}
	}
	if (s->kv_f16)
		tq_par_rows(fwd_kv_f16_rows, s, n * kvd, 1, PAR_MIN_WORK);
	if (l->sinks != NULL)
		tq_tensor_to_f32(l->sinks, 0, c->n_heads, s->sinks);
	fwd_attention(s, c, b, n, ms, io->att,
	    l->sinks != NULL ? s->sinks : NULL);
}

/*
 * A sublayer's output into the residual: x += post_norm(w(actq(in))), in
 * [n, C] quantized in place as act says; post_norm only with post-norms.
 */
static void
fwd_sublayer_out(tq_fwd *s, const tq_block_opts *b, const tq_fwd_io *io,
    int64_t n, const tq_actq *act, float *in, int64_t C, const tq_tensor *w,
    const tq_tensor *bias, const tq_tensor *post_norm)
{
	int64_t H = s->m->cfg.hidden_size, i;

	fwd_actq(s, act, in, n, C);
	fwd_linear(s, in, n, w, bias, s->y, H);
	if (b->post_norms)
		fwd_rmsnorm(s, s->y, post_norm, n, H, b->norm_eps,
		    b->norm_offset, s->y);
	for (i = 0; i < n * H; i++)
		io->x[i] += s->y[i];
}

/* x += o(att) */
static void
stage_attn_out(tq_fwd *s, const tq_layer_weights *l, const tq_block_opts *b,
    const tq_fwd_io *io, int64_t n)
{
	const tq_model_config *c = &s->m->cfg;

	fwd_sublayer_out(s, b, io, n, &l->act[TQ_SITE_O], io->att,
	    c->n_heads * c->head_dim, l->wo, l->bo, l->post_attn_norm);
}

/* xn = ffn_norm(x) */
static void
stage_mlp_norm(tq_fwd *s, const tq_layer_weights *l, const tq_block_opts *b,
    const tq_fwd_io *io, int64_t n)
{
	fwd_rmsnorm(s, io->x, l->ffn_norm, n, s->m->cfg.hidden_size,
	    b->norm_eps, b->norm_offset, io->xn);
}

typedef struct fwd_glu_args {
	const tq_block_opts *b;
	float *g;
	const float *up;
} fwd_glu_args;

/* Elements [i0, i1) of fwd_glu, each by itself. */
static void
fwd_glu_rows(void *arg, int64_t i0, int64_t i1)
{
	const fwd_glu_args *a = arg;
	const tq_block_opts *b = a->b;
	float *g = a->g;
	const float *up = a->up;
	int64_t i;

	switch (b->act) {
	case TQ_MLP_SILU:
		tq_vsilu_mul(g + i0, up + i0, i1 - i0);
		break;
	case TQ_MLP_GELU_TANH:
		/* torch's gelu(approximate="tanh") in fp32 */
		for (i = i0; i < i1; i++) {
			const float beta = (float)(M_SQRT2 * M_2_SQRTPI * 0.5);
			float x = g[i];
			float inner = beta * (x + 0.044715f * (x * x * x));

			g[i] = 0.5f * x * (1.0f + tanhf(inner)) * up[i];
		}
		break;
	case TQ_MLP_GELU_GGML:
		/* ggml_vec_geglu_f32: the gate rounded to fp16 indexes a table
		   of fp16 gelu values (ggml's own tanh form) */
		for (i = i0; i < i1; i++) {
			float x = g[i], h, y;

			if (x <= -10.0f || x >= 10.0f) {
				y = x <= -10.0f ? 0.0f : x;
			} else {
				h = tq_f16_to_f32(tq_f32_to_f16(x));
				y = 0.5f * h * (1.0f + tanhf(
				    0.79788456080286535587989211986876f * h *
				    (1.0f + 0.044715f * h * h)));
				y = tq_f16_to_f32(tq_f32_to_f16(y));
			}
			g[i] = y * up[i];
		}
		break;
	case TQ_MLP_SWIGLU_OAI:
		/* transformers' GptOssExperts in fp32 */
		for (i = i0; i < i1; i++) {
			float lim = b->swiglu_limit, x = g[i], u = up[i];

			x = x > lim ? lim : x;
			u = u > lim ? lim : u < -lim ? -lim : u;
			g[i] = (u + 1.0f) * (x / (1.0f + tq_vexp1(-(x *
			    1.702f))));
		}
		break;
	}
}

/* sel[K] = the K largest of p[E], the lower index first on a tie, as
   torch.topk */
static void
fwd_topk(const float *p, int64_t E, int64_t K, int *sel)
{
	int64_t e, k, j;

	for (k = 0; k < K; k++) {
		int best = -1;

		for (e = 0; e < E; e++) {
			int taken = 0;

			for (j = 0; j < k; j++)
				taken |= sel[j] == (int)e;
			if (!taken && (best < 0 || p[e] > p[best]))
				best = (int)e;
		}
		sel[k] = best;
	}
}

/* g[total] = act(g) * up, the gated product of b->act, in place */
static void
fwd_glu(const tq_block_opts *b, float *g, const float *up, int64_t total)
{
	fwd_glu_args a = { b, g, up };

	tq_par_rows(fwd_glu_rows, &a, total, 1, PAR_MIN_WORK);
}

/*
 * Each token's experts: router logits [n, E] = router(xn) (+ bias) in
 * float, p = softmax over all E, the top_k largest p, divided by their
 * sum when norm_topk (transformers' Mixtral always, Qwen3-MoE's
 * norm_topk_prob); or, softmax_topk (gpt_oss), the top_k largest logits
 * and their softmax.  Into moe_sel[n, top_k] and moe_p, whose row keeps
 * the chosen experts' weights.
 */
static void
fwd_moe_route(tq_fwd *s, const tq_layer_weights *l, const tq_block_opts *b,
    const float *xn, int64_t n)
{
	int64_t E = b->moe.n_experts, K = b->moe.top_k, i, e, k;

	fwd_linear(s, xn, n, l->router, l->router_b, s->moe_p, E);
	for (i = 0; i < n; i++) {
		float *p = s->moe_p + i * E, mx = p[0], sum = 0.0f;
		int *sel = s->moe_sel + i * K;

		if (b->moe.softmax_topk) {
			fwd_topk(p, E, K, sel);
			mx = p[sel[0]];
			for (k = 0; k < K; k++) {
				p[sel[k]] = tq_vexp1(p[sel[k]] - mx);
				sum += p[sel[k]];
			}
			for (k = 0; k < K; k++)
				p[sel[k]] /= sum;
			continue;
		}
		for (e = 1; e < E; e++)
			mx = p[e] > mx ? p[e] : mx;
		for (e = 0; e < E; e++) {
			p[e] = tq_vexp1(p[e] - mx);
			sum += p[e];
		}
		for (e = 0; e < E; e++)
			p[e] /= sum;
		fwd_topk(p, E, K, sel);
		if (b->moe.norm_topk) {
			float t = 0.0f;

			for (k = 0; k < K; k++)
				t += p[sel[k]];
			for (k = 0; k < K; k++)
				p[sel[k]] /= t;
		}
	}
}

/* Hands an expert's input x[n, in] to the caller's expert hook, if any. */
static void
fwd_expert_hook(tq_fwd *s, int e, tq_linear which, const float *x,
    int64_t n, int64_t in)
{
	const tq_forward_opts *o = s->hook_o;

	if (o != NULL && o->expert_hook != NULL && !s->hook_stop &&
	    o->expert_hook(o->act_ud, s->hook_li, e, which, x, n, in) != 0)
		s->hook_stop = 1;
}

/*
 * The mixture of experts into moe_y[n, H]: the router reads xn unquantized
 * (it stays float); each expert in turn runs its tokens, gathered:
 * down(act(gate(x)) * up(x)), the gate/up site's and the down site's
 * input quantization applied as in a dense MLP, and adds them times their
 * weight, experts in index order as transformers does.
 */
static void
fwd_moe(tq_fwd *s, const tq_layer_weights *l, const tq_block_opts *b,
    const tq_fwd_io *io, int64_t n)
{
	int64_t H = s->m->cfg.hidden_size, Fe = b->moe.inter;
	int64_t E = b->moe.n_experts, K = b->moe.top_k, i, j, k, e, cnt;

	fwd_moe_route(s, l, b, io->xn, n);
	memset(s->moe_y, 0, (size_t)(n * H) * sizeof(float));
	for (e = 0; e < E; e++) {
		cnt = 0;
		for (i = 0; i < n; i++)
			for (k = 0; k < K; k++)
				if (s->moe_sel[i * K + k] == (int)e) {
					s->moe_tok[cnt] = i;
					s->moe_w[cnt++] = s->moe_p[i * E + e];
				}
		if (cnt == 0)
			continue;
		for (j = 0; j < cnt; j++)
			memcpy(s->moe_x + j * H, io->xn + s->moe_tok[j] * H,
			    (size_t)H * sizeof(float));
		fwd_expert_hook(s, (int)e, TQ_LINEAR_GATE, s->moe_x, cnt, H);
		/* per token, so the same on the gathered rows */
		fwd_actq(s, &l->act[TQ_SITE_GATE_UP], s->moe_x, cnt, H);
		fwd_linear(s, s->moe_x, cnt, l->experts[e][0],
		    l->expert_b[e][0], s->gate, Fe);
		fwd_linear(s, s->moe_x, cnt, l->experts[e][1],
		    l->expert_b[e][1], s->up, Fe);
		fwd_glu(b, s->gate, s->up, cnt * Fe);
		fwd_expert_hook(s, (int)e, TQ_LINEAR_DOWN, s->gate, cnt, Fe);
		fwd_actq(s, &l->act[TQ_SITE_DOWN], s->gate, cnt, Fe);
		fwd_linear(s, s->gate, cnt, l->experts[e][2],
		    l->expert_b[e][2], s->y, H);
		for (j = 0; j < cnt; j++) {
			float *yr = s->moe_y + s->moe_tok[j] * H, w = s->moe_w[j];
			const float *d = s->y + j * H;

			for (i = 0; i < H; i++)
				yr[i] += d[i] * w;
		}
	}
}

/* See forward.h. */
void
tq_fwd_moe_route(tq_fwd *s, const tq_layer_weights *l, int li,
    const float *xn, int64_t n, int *sel)
{
	tq_block_opts b;

	tq_model__block(s->m, li, &b);
	fwd_moe_route(s, l, &b, xn, n);
	memcpy(sel, s->moe_sel, (size_t)(n * b.moe.top_k) * sizeof(int));
}

/* See forward.h. */
void
tq_fwd_expert_act(tq_fwd *s, const tq_layer_weights *l, int li, int e,
    float *x, int64_t n, float *g)
{
	tq_block_opts b;

	tq_model__block(s->m, li, &b);
	/* as fwd_moe computes an expert's tokens */
	fwd_actq(s, &l->act[TQ_SITE_GATE_UP], x, n, s->m->cfg.hidden_size);
	fwd_linear(s, x, n, l->experts[e][0], l->expert_b[e][0], g,
	    b.moe.inter);
	fwd_linear(s, x, n, l->experts[e][1], l->expert_b[e][1], s->up,
	    b.moe.inter);
	fwd_glu(&b, g, s->up, n * b.moe.inter);
}

/*
 * g = act(gate(xn)) * up(xn); a mixture of experts computes its whole
 * output here (fwd_moe), stage_mlp_out adding it.
 */
static void
stage_mlp_act(tq_fwd *s, const tq_layer_weights *l, const tq_block_opts *b,
    const tq_fwd_io *io, int64_t n)
{
	int64_t F = s->m->cfg.intermediate_size;

	if (b->moe.n_experts > 0) {
		fwd_moe(s, l, b, io, n);
		return;
	}
	fwd_actq(s, &l->act[TQ_SITE_GATE_UP], io->xn, n,
	    s->m->cfg.hidden_size);
	fwd_linear(s, io->xn, n, l->w_gate, l->b_gate, io->g, F);
	fwd_linear(s, io->xn, n, l->w_up, l->b_up, s->up, F);
	fwd_glu(b, io->g, s->up, n * F);
}

/* x += down(g), down(g) normed first with post-norms (Gemma) */
static void
stage_mlp_out(tq_fwd *s, const tq_layer_weights *l, const tq_block_opts *b,
    const tq_fwd_io *io, int64_t n)
{
	int64_t H = s->m->cfg.hidden_size, i;

	if (b->moe.n_experts == 0) {
		fwd_sublayer_out(s, b, io, n, &l->act[TQ_SITE_DOWN], io->g,
		    s->m->cfg.intermediate_size, l->w_down, l->b_down,
		    l->post_ffn_norm);
		return;
	}
	if (b->post_norms)
		fwd_rmsnorm(s, s->moe_y, l->post_ffn_norm, n, H, b->norm_eps,
		    b->norm_offset, s->moe_y);
	for (i = 0; i < n * H; i++)
		io->x[i] += s->moe_y[i];
}

typedef void (*fwd_stage_fn)(tq_fwd *s, const tq_layer_weights *l,
    const tq_block_opts *b, const tq_fwd_io *io, int64_t n);

/*
 * The block, in order.  A stage whose output is a linear's input names
 * that input (a linear of the site, for the hook) and the buffer; -1
 * otherwise.
 */
static const struct {
	fwd_stage_fn fn;
	int site;		/* TQ_SITE_* it produces, or -1 */
	tq_linear which;	/* the hook's name for that site */
} fwd_stages[TQ_STAGES] = {
	[TQ_STAGE_ATTN_NORM] = { stage_attn_norm, TQ_SITE_QKV, TQ_LINEAR_Q },
	[TQ_STAGE_ATTN] = { stage_attn, TQ_SITE_O, TQ_LINEAR_O },
	[TQ_STAGE_ATTN_OUT] = { stage_attn_out, -1, TQ_LINEAR_O },
	[TQ_STAGE_MLP_NORM] = { stage_mlp_norm, TQ_SITE_GATE_UP,
	    TQ_LINEAR_GATE },
	[TQ_STAGE_MLP_ACT] = { stage_mlp_act, TQ_SITE_DOWN, TQ_LINEAR_DOWN },
	[TQ_STAGE_MLP_OUT] = { stage_mlp_out, -1, TQ_LINEAR_DOWN },
};

/* See forward.h. */
float *
tq_fwd_site_buf(const tq_fwd_io *io, int site)
{
	switch (site) {
	case TQ_SITE_QKV:
	case TQ_SITE_GATE_UP:
		return io->xn;
	case TQ_SITE_O:
		return io->att;
	case TQ_SITE_DOWN:
		return io->g;
	}
	return NULL;
}

/* See forward.h. */
int64_t
tq_fwd_site_width(const tq_model *m, int site)
{
	const tq_model_config *c = &m->cfg;

	switch (site) {
	case TQ_SITE_O:
		return c->n_heads * c->head_dim;
	case TQ_SITE_DOWN:
		return c->intermediate_size;
	}
	return c->hidden_size;
}

tq_status
tq_fwd_stages(tq_fwd *s, const tq_layer_weights *l, int li, tq_stage first,
    tq_stage last, const tq_fwd_io *io, int64_t n, const tq_forward_opts *o,
    tq_error *err)
{
	tq_block_opts b;
	int k;
	tq_status st;

	if (n <= 0 || n > s->max_n)
		return tq_fail(err, TQ_EINVAL, "%s: block of %lld tokens (at most "
		    "%lld)", s->m->path, (long long)n, (long long)s->max_n);
	tq_model__block(s->m, li, &b);
	s->hook_o = o;
	s->hook_li = li;
	s->hook_stop = 0;
	for (k = (int)first; k <= (int)last; k++) {
		int site = fwd_stages[k].site;

		fwd_stages[k].fn(s, l, &b, io, n);
		if (s->hook_stop)
			return tq_fail(err, TQ_ECANCELLED, "forward pass stopped "
			    "by the expert hook");
		/* A mixture of experts has no one down input to show. */
		if (site == TQ_SITE_DOWN && b.moe.n_experts > 0)
			continue;
		if (site >= 0 && (st = fwd_hook(o, li, fwd_stages[k].which,
		    tq_fwd_site_buf(io, site), n, tq_fwd_site_width(s->m, site),
		    err)) != TQ_OK)
			return st;
	}
	return TQ_OK;
}

/* See tq.h. */
void
tq_forward_flops(const tq_model *m, int64_t li, int64_t n, double *linear,
    double *attention)
{
	const tq_model_config *c = &m->cfg;
	double H = (double)c->hidden_size, F = (double)c->intermediate_size;
	double qd = (double)(c->n_heads * c->head_dim);
	double kvd = (double)(c->n_kv_heads * c->head_dim);
	double nn = (double)n, keys;
	tq_block_opts b;

	if (li < 0) {
		*linear = 2.0 * (double)c->vocab_size * H * nn;
		*attention = 0.0;
		return;
	}
	tq_model__block(m, li, &b);
	/* q, k, v, o; gate, up, down (of each token's top_k experts, and
	   the router) */
	if (b.moe.n_experts > 0)
		F = (double)b.moe.inter * b.moe.top_k + (double)b.moe.n_experts /
		    3.0;
	*linear = 2.0 * nn * (H * qd + 2.0 * H * kvd + qd * H + 3.0 * H * F);
	/* Keys seen by all queries: n(n+1)/2, fewer past a window. */
	keys = nn * (nn + 1.0) / 2.0;
	if (b.window > 0 && n > b.window)
		keys -= (nn - (double)b.window) * (nn - (double)b.window + 1.0) /
		    2.0;
	/* Q K^T and P V, each hd multiply-adds a (query, key) pair. */
	*attention = 2.0 * 2.0 * qd * keys;
}

tq_status
tq_fwd_block(tq_fwd *s, const tq_layer_weights *l, int li, float *x,
    int64_t n, const tq_forward_opts *o, tq_error *err)
{
	tq_fwd_io io = { x, s->xn, s->att, s->gate };

	return tq_fwd_stages(s, l, li, 0, TQ_STAGES - 1, &io, n, o, err);
}

/* x[n] = cap tanh(x / cap), Gemma's soft-capping in fp32 */
static void
fwd_softcap(float *x, int64_t n, float cap)
{
	int64_t i;

	for (i = 0; i < n; i++)
		x[i] = tanhf(x[i] / cap) * cap;
}

tq_status
tq_fwd_head(tq_fwd *s, const float *x, int64_t n, const tq_forward_opts *o,
    float *logits, tq_error *err)
{
	const tq_model *m = s->m;
	const tq_model_config *c = &m->cfg;
	int64_t H = c->hidden_size, V = c->vocab_size, p0, chunk;
	tq_status st;

	if (n <= 0 || n > s->max_n)
		return tq_fail(err, TQ_EINVAL, "%s: head of %lld tokens (at most "
		    "%lld)", m->path, (long long)n, (long long)s->max_n);
	chunk = o != NULL && o->logits_chunk > 0 ? o->logits_chunk :
	    LOGITS_BUDGET / V;
	chunk = chunk < 1 ? 1 : chunk > n ? n : chunk;
	tq_fwd_norm(s, m->norm, x, n, s->xn);
	if ((st = fwd_hook(o, -1, TQ_LINEAR_LM_HEAD, s->xn, n, H, err)) != TQ_OK)
		return st;
	fwd_actq(s, &m->head_act, s->xn, n, H);
	/* Nobody wants logits (calibration): skip the largest matmul. */
	if (logits == NULL && (o == NULL || o->logits_cb == NULL))
		return TQ_OK;
	if (logits == NULL && s->logits_cap < chunk * V) {
		free(s->logits);
		s->logits_cap = 0;
		if ((s->logits = malloc((size_t)(chunk * V) * sizeof(float))) ==
		    NULL)
			return tq_fail(err, TQ_ENOMEM,
			    "%s: out of memory for %lld rows of logits", m->path,
			    (long long)chunk);
		s->logits_cap = chunk * V;
	}
	for (p0 = 0; p0 < n; p0 += chunk) {
		int64_t np = n - p0 < chunk ? n - p0 : chunk;
		/* Write straight into the caller's array when there is one. */
		float *dst = logits != NULL ? logits + p0 * V : s->logits;

		fwd_linear(s, s->xn + p0 * H, np, m->lm_head, NULL, dst,
		    V);
		if (c->final_softcap > 0.0)
			fwd_softcap(dst, np * V, (float)c->final_softcap);
		if (o != NULL && o->logits_cb != NULL &&
		    o->logits_cb(o->logits_ud, p0, np, dst) != 0)
			return tq_fail(err, TQ_ECANCELLED,
			    "forward pass stopped by the logits callback");
	}
	return TQ_OK;
}

tq_status
tq_fwd_embed(tq_fwd *s, const int32_t *ids, int64_t n, float *x,
    tq_error *err)
{
	const tq_model *m = s->m;
	int64_t H = m->cfg.hidden_size, V = m->cfg.vocab_size, i;

	for (i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= V)
			return tq_fail(err, TQ_EINVAL,
			    "%s: token id %d at position %lld is outside the "
			    "vocabulary (%lld)", m->path, ids[i], (long long)i,
			    (long long)V);
	for (i = 0; i < n; i++)
		tq_tensor_to_f32(m->embed, (int64_t)ids[i] * H, H, x + i * H);
	if (m->cfg.embed_scale) {
		/* Gemma: times sqrt(H) rounded to fp32, as transformers. */
		float sc = (float)sqrt((double)H);

		for (i = 0; i < n * H; i++)
			x[i] *= sc;
	}
	return TQ_OK;
}

void
tq_fwd_llamacpp(tq_fwd *s)
{
	s->kv_f16 = s->m->ggml_cpu;
}

void
tq_fwd_seq(tq_fwd *s, int64_t len)
{
	s->seq_len = len;
}

int64_t
tq_fwd_token_bytes(const tq_model *m)
{
	const tq_model_config *c = &m->cfg;
	int64_t qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;

	return (int64_t)sizeof(float) * (3 * c->hidden_size + 2 * qd +
	    2 * kvd + 2 * c->intermediate_size);
}

tq_status
tq_fwd_new(const tq_model *m, int64_t n, tq_fwd **out, tq_error *err)
{
	const tq_model_config *c = &m->cfg;
	int64_t H = c->hidden_size, F = c->intermediate_size;
	int64_t qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
	int64_t wmax = WBLOCK_ELEMS, E = c->n_experts, K = c->n_experts_used;
	int failed = 0;
	tq_fwd *s;

	*out = NULL;
	if (n <= 0)
		return tq_fail(err, TQ_EINVAL, "%s: forward pass of no tokens",
		    m->path);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", m->path);
	s->m = m;
	s->max_n = n;
	s->rope_n[0] = s->rope_n[1] = -1;
	if (E > 0 && c->moe_inter > F)
		F = c->moe_inter;	/* gate, up hold the wider of the two */
	if (wmax < H || wmax < F)
		wmax = H > F ? H : F;
	s->xn = fwd_alloc(n * H, &failed);
	s->q = fwd_alloc(n * qd, &failed);
	s->k = fwd_alloc(n * kvd, &failed);
	s->v = fwd_alloc(n * kvd, &failed);
	s->att = fwd_alloc(n * qd, &failed);
	s->gate = fwd_alloc(n * F, &failed);
	s->up = fwd_alloc(n * F, &failed);
	s->y = fwd_alloc(n * H, &failed);
	if (c->attn_sinks)
		s->sinks = fwd_alloc(c->n_heads, &failed);
	if (E > 0) {
		s->moe_x = fwd_alloc(n * H, &failed);
		s->moe_y = fwd_alloc(n * H, &failed);
		s->moe_p = fwd_alloc(n * E, &failed);
		s->moe_w = fwd_alloc(n, &failed);
		if ((s->moe_tok = malloc((size_t)n * sizeof(int64_t))) == NULL ||
		    (s->moe_sel = malloc((size_t)(n * K) * sizeof(int))) ==
		    NULL)
			failed = 1;
	}
	/* A head per thread; fewer if the threads are added later. */
	s->n_slots = tq_get_threads();
	if (s->n_slots > c->n_heads)
		s->n_slots = (int)c->n_heads;
	if (s->n_slots < 1)
		s->n_slots = 1;
	s->scores = fwd_alloc(s->n_slots * (n < ATT_QBLOCK ? n : ATT_QBLOCK) *
	    n, &failed);
	s->cos[0] = fwd_alloc(n * (c->head_dim / 2), &failed);
	s->sin[0] = fwd_alloc(n * (c->head_dim / 2), &failed);
	if (c->rope_local_theta > 0.0) {
		s->cos[1] = fwd_alloc(n * (c->head_dim / 2), &failed);
		s->sin[1] = fwd_alloc(n * (c->head_dim / 2), &failed);
	}
	s->wbuf = fwd_alloc(wmax, &failed);
	if (m->n_ggml_mins > 0)
		s->q81 = fwd_alloc(n * ((H > F ? H : F) > qd ? (H > F ? H : F) :
		    qd) / 32, &failed);
	if (failed) {
		tq_fwd_free(s);
		return tq_fail(err, TQ_ENOMEM,
		    "%s: out of memory for a forward pass of %lld tokens",
		    m->path, (long long)n);
	}
	*out = s;
	return TQ_OK;
}

tq_status
tq_forward(const tq_model *m, const int32_t *ids, int64_t n,
    const tq_forward_opts *o, float *logits, tq_error *err)
{
	tq_fwd *s;
	float *x;
	int64_t li;
	tq_status st;

	if (o != NULL && (st = tq_version_check(o->version,
	    TQ_FORWARD_OPTS_VERSION, "tq_forward_opts", "TQ_FORWARD_OPTS_INIT",
	    err)) != TQ_OK)
		return st;
	if ((st = tq_fwd_new(m, n, &s, err)) != TQ_OK)
		return st;
	if ((x = malloc((size_t)(n * m->cfg.hidden_size) * sizeof(float))) ==
	    NULL) {
		tq_fwd_free(s);
		return tq_fail(err, TQ_ENOMEM,
		    "%s: out of memory for a forward pass of %lld tokens",
		    m->path, (long long)n);
	}
	st = tq_fwd_embed(s, ids, n, x, err);
	for (li = 0; li < m->cfg.n_layers && st == TQ_OK; li++) {
		if (o != NULL && o->cancel != NULL &&
		    __atomic_load_n(o->cancel, __ATOMIC_RELAXED)) {
			st = tq_fail(err, TQ_ECANCELLED, "cancelled");
			break;
		}
		st = tq_fwd_block(s, &m->layers[li], (int)li, x, n, o, err);
	}
	if (st == TQ_OK)
		st = tq_fwd_head(s, x, n, o, logits, err);
	free(x);
	tq_fwd_free(s);
	return st;
}
