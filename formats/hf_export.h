/*
 * hf_export.h: what the Hugging Face-style checkpoint exporters share
 * (AWQ, GPTQ, compressed-tensors, TensorRT-LLM).
 *
 * An exporter opens a tq_hfx on its export context, checks that the
 * state's grids fit its format (tq_hfx__grid), adds its quantized tensors
 * (packed into buffers the hfx owns until the write), lets the hfx add
 * every float tensor of the applied model (norms, biases, embeddings,
 * float linears), and writes model.safetensors, config.json with its
 * quantization_config and the tokenizer files of the base checkpoint.
 * phi3's q/k/v and gate/up are written as the Phi-3 checkpoint stores
 * them: one qkv_proj and one gate_up_proj (tq_hfx__module).
 */
#ifndef TQ_FORMATS_HF_EXPORT_H
#define TQ_FORMATS_HF_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "export.h"
#include "safetensors.h"
#include "tensor.h"

typedef struct tq_hfx {
	tq_export_ctx *x;
	tq_st_writer *w;
	void **bufs;		/* what the tensors borrow until written */
	size_t n_bufs, cap_bufs;
	uint8_t *packed;	/* [n linears] 1: written quantized here */
	int untie;		/* tied embeddings but lm_head quantized */
	uint64_t q_bytes;	/* bytes of quantized tensors, for bpw */
	uint64_t q_weights;	/* weights they hold */
	int64_t done, total;	/* progress over linears */
} tq_hfx;

tq_status tq_hfx__init(tq_hfx *h, tq_export_ctx *x, tq_error *err);
void tq_hfx__done(tq_hfx *h);

/* A zeroed buffer of n bytes owned by h until tq_hfx__done. */
void *tq_hfx__alloc(tq_hfx *h, size_t n, tq_error *err);

/* Adds a tensor (data borrowed until the write). */
tq_status tq_hfx__add(tq_hfx *h, const char *name, tq_dtype dtype, int ndim,
    const int64_t *shape, const void *data, tq_error *err);
/* The same, counted as part of a quantized layer (for bits per weight). */
tq_status tq_hfx__add_q(tq_hfx *h, const char *name, tq_dtype dtype,
    int ndim, const int64_t *shape, const void *data, tq_error *err);
/* One quantized tensor of a layer: PREFIX.suffix. */
typedef struct tq_hfx_part {
	const char *suffix;	/* "qweight", ... */
	tq_dtype dtype;
	int ndim;
	int64_t shape[2];
	const void *data;
} tq_hfx_part;

/* Adds parts[0..n) under prefix (counted as quantized). */
tq_status tq_hfx__add_parts(tq_hfx *h, const char *prefix,
    const tq_hfx_part *parts, size_t n, tq_error *err);
/* Marks linear i as written quantized and counts its weights. */
void tq_hfx__mark(tq_hfx *h, size_t i);

/*
 * The module of the written checkpoint that linear i of m belongs to:
 * phi3 (cfg.fused_proj) stores q/k/v as one self_attn.qkv_proj and
 * gate/up as one mlp.gate_up_proj, their rows in that order.  Sets
 * *first to the module's first linear and name to its path
 * ("model.layers.3.self_attn.qkv_proj"); returns how many linears it
 * holds (1 for a linear written alone).
 */
size_t tq_hfx__module(const tq_model *m, size_t i, size_t *first,
    char *name, size_t len);
/*
 * qt's parts n linears from s->layers[first] stacked along the output
 * rows into out (its own codes and params; g_idx borrowed from the
 * first part: the caller checked that the parts share it).  Free with
 * tq_hfx__unfuse.
 */
tq_status tq_hfx__fuse(const tq_qstate *s, size_t first, size_t n,
    tq_qtensor *out, tq_error *err);
void tq_hfx__unfuse(tq_qtensor *t);
/*
 * A float tensor [rows of all parts, cols] of the linears first..first+n
 * of m stacked along the rows, in their dtype, into a buffer h owns.
 */
tq_status tq_hfx__stack(tq_hfx *h, size_t first, size_t n, tq_tensor *out,
    tq_error *err);

/*
 * The linears this format quantizes: the decoder blocks' seven; lm_head
 * and the embeddings are written in float (their dequantized values, so
 * nothing is lost) with a note in the report's warning.  Checks every
 * quantized block linear with ok(scheme, rows, cols, why); the first
 * misfit fails with "FORMAT: LAYER has SCHEME; FITS" (fits says what the
 * format holds).  All quantized block linears must share one scheme
 * (*common); *any_float tells whether some are float.  A state without
 * quantized layers (or no state) fails the same way.  phi3's fused parts
 * must agree (all float, or one scheme, activation bits and g_idx), and
 * ok() sees the fused tensor.
 */
typedef int (*tq_hfx_fit)(const tq_scheme *s, const tq_qtensor *qt);
tq_status tq_hfx__grid(tq_hfx *h, const char *format, tq_hfx_fit ok,
    const char *fits, tq_scheme *common, int *any_float, tq_error *err);

/* 1 when linear i of the state is quantized in a decoder block. */
int tq_hfx__is_q(const tq_hfx *h, size_t i);
/* "model.layers.3.mlp.down_proj" */
const char *tq_hfx__name(const tq_hfx *h, size_t i);
/*
 * Calls fn(h, i, qt, name, ud) for every quantized module of the written
 * checkpoint in order: a block linear i (qt its state, name its path),
 * or for phi3 the fused parts (i the first, qt their rows stacked, name
 * the fused module's path).  Marks what fn wrote; progress and the
 * cancel check after every linear.
 */
typedef tq_status (*tq_hfx_layer_fn)(tq_hfx *h, size_t i,
    const tq_qtensor *qt, const char *name, void *ud, tq_error *err);
tq_status tq_hfx__each(tq_hfx *h, tq_hfx_layer_fn fn, void *ud,
    tq_error *err);
/* Progress: one step per linear, plus the cancel check. */
tq_status tq_hfx__step(tq_hfx *h, tq_error *err);

/*
 * Adds every float tensor of the applied model under its Hugging Face
 * name, in its stored dtype: norms, biases, the embeddings, lm_head (when
 * not tied) and every linear not marked.
 */
tq_status tq_hfx__add_floats(tq_hfx *h, tq_error *err);

/*
 * Writes model.safetensors (metadata {"format": "pt"}) into x->out, and
 * fills the report's files, type and bits per weight.
 */
tq_status tq_hfx__write_weights(tq_hfx *h, const char *file, tq_error *err);

/*
 * The base checkpoint's config.json as a cJSON tree (with
 * tie_word_embeddings false when lm_head had to be untied).
 */
tq_status tq_hfx__config(tq_hfx *h, cJSON **out, tq_error *err);
/*
 * The common end of the Hugging Face layouts: adds the float tensors,
 * writes model.safetensors and returns the base config.json to extend.
 */
tq_status tq_hfx__write_model(tq_hfx *h, cJSON **cfg, tq_error *err);
/* Writes config.json (takes cfg) and copies the tokenizer files. */
tq_status tq_hfx__finish(tq_hfx *h, cJSON *cfg, tq_error *err);
/* Writes a JSON tree to x->out/name atomically (takes root). */
tq_status tq_hfx__write_json(tq_hfx *h, const char *name, cJSON *root,
    tq_error *err);
/* Copies the tokenizer and generation files of the base checkpoint. */
tq_status tq_hfx__copy_extras(tq_hfx *h, tq_error *err);

/*
 * A base the Hugging Face layouts can be written from: a model directory,
 * or a GGUF file whose architecture config.json can name (llama, mistral,
 * qwen2, qwen3) and whose tokenizer is rebuilt; else one line why not
 * ("the <format> take" its config.json...).
 */
tq_status tq_hfx__base_ok(const tq_model *base, const char *format,
    tq_error *err);
/*
 * The base's config.json: its directory's, or one made from a GGUF
 * model's configuration.
 */
tq_status tq_hfx__base_config(const tq_model *base, cJSON **out,
    tq_error *err);
/*
 * A GGUF base's tokenizer files into dir: tokenizer.json (rebuilt from
 * the metadata), tokenizer_config.json (special tokens, add_bos_token,
 * chat template) and generation_config.json.  Nothing for a directory.
 */
tq_status tq_hfx__gguf_tokenizer(const tq_model *base, const char *dir,
    tq_error *err);

/*
 * Packs n b-bit values v[0], v[stride], ... (each < 2^bits) as one
 * little-endian bitstream into out[ceil(n * bits / 32)] (value i at bits
 * bits*i.. of the stream): GPTQ's and compressed-tensors' packing for
 * 2, 4 and 8 bits, and GPTQ's 3-bit words.
 */
void tq_hfx__pack(const uint8_t *v, size_t n, size_t stride, int bits,
    uint32_t *out);

/* The fp16 scale and integer zero of block b of row r of an INT tensor. */
void tq_hfx__scale(const tq_qtensor *qt, int64_t r, int64_t b, float *scale,
    int32_t *zero);

/*
 * The fp16 scales and the zeros of an INT tensor [N, K] with G blocks per
 * row, transposed as AWQ and GPTQ store them: sc[G, N], zero[G, N].
 */
void tq_hfx__scales_t(const tq_qtensor *qt, uint16_t *sc, uint8_t *zero);

/* 1 when qt's g_idx is absent or is exactly c / qk (no reordering). */
int tq_hfx__plain_groups(const tq_qtensor *qt);

/*
 * An NVFP4 linear as compressed-tensors and Model Optimizer store it, in
 * buffers of h: *wp [N, K/2] two E2M1 nibbles a byte (column 2j low) and
 * *sc [N, K/16] the E4M3 block scales.
 */
tq_status tq_hfx__nvfp4(tq_hfx *h, const tq_qtensor *qt, uint8_t **wp,
    uint8_t **sc, tq_error *err);

#endif /* TQ_FORMATS_HF_EXPORT_H */
