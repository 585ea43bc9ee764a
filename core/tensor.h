/*
 * tensor.h: views of stored tensors and their conversion to fp32.
 */
#ifndef TQ_CORE_TENSOR_H
#define TQ_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "tq.h"

#define TQ_MAX_DIMS 4

/*
 * A tensor as stored in a checkpoint: a borrowed pointer into a memory map.
 * The data may be unaligned, so it is read only through tq_tensor_to_f32().
 */
typedef struct tq_tensor {
	char *name;			/* owned */
	tq_dtype dtype;
	int ndim;
	int64_t shape[TQ_MAX_DIMS];	/* row-major; shape[ndim-1] is contiguous */
	const void *data;		/* borrowed from the map */
	uint64_t nbytes;
	uint64_t stored;		/* bytes in the file when not nbytes
					   (a GGUF's quantized blocks); 0 */
} tq_tensor;

/* Bytes of one element of a dtype. */
size_t tq_dtype_size(tq_dtype t);

/* Number of elements (product of the shape; 1 for a scalar). */
int64_t tq_tensor_numel(const tq_tensor *t);

/* 1 for the float dtypes weights come in (F32, F16, BF16). */
int tq_dtype_is_weight(tq_dtype t);

/*
 * Converts n elements starting at element offset off to fp32 in dst; only
 * for weight dtypes (others give zeros).  Bounds are the caller's business
 * (offsets were validated at load time).
 */
void tq_tensor_to_f32(const tq_tensor *t, int64_t off, int64_t n, float *dst);

/* Scalar conversions. */
float tq_f16_to_f32(uint16_t h);
float tq_bf16_to_f32(uint16_t b);
uint16_t tq_f32_to_f16(float f);
uint16_t tq_f32_to_bf16(float f);

/*
 * Scans a tensor for NaN or Inf; returns the index of the first one, or -1.
 */
int64_t tq_tensor_find_nonfinite(const tq_tensor *t);

#endif /* TQ_CORE_TENSOR_H */
