/*
 * tensor.c: views of stored tensors and their conversion to fp32.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "tensor.h"

size_t
tq_dtype_size(tq_dtype t)
{
	switch (t) {
	case TQ_DTYPE_U8:
	case TQ_DTYPE_I8:
	case TQ_DTYPE_F8_E4M3:
		return 1;
	case TQ_DTYPE_F16:
	case TQ_DTYPE_BF16:
		return 2;
	case TQ_DTYPE_F32:
	case TQ_DTYPE_I32:
	case TQ_DTYPE_U32:
		return 4;
	case TQ_DTYPE_F64:
	case TQ_DTYPE_I64:
		return 8;
	}
	return 0;
}

const char *
tq_dtype_name(tq_dtype t)
{
	switch (t) {
	case TQ_DTYPE_F32:	return "F32";
	case TQ_DTYPE_F16:	return "F16";
	case TQ_DTYPE_BF16:	return "BF16";
	case TQ_DTYPE_F64:	return "F64";
	case TQ_DTYPE_U8:	return "U8";
	case TQ_DTYPE_I32:	return "I32";
	case TQ_DTYPE_I64:	return "I64";
	case TQ_DTYPE_I8:	return "I8";
	case TQ_DTYPE_F8_E4M3:	return "F8_E4M3";
	case TQ_DTYPE_U32:	return "U32";
	}
	return "?";
}

int
tq_dtype_is_weight(tq_dtype t)
{
	return t == TQ_DTYPE_F32 || t == TQ_DTYPE_F16 || t == TQ_DTYPE_BF16;
}

int64_t
tq_tensor_numel(const tq_tensor *t)
{
	int64_t n = 1;
	int i;

	for (i = 0; i < t->ndim; i++)
		n *= t->shape[i];
	return n;
}

float
tq_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	uint32_t bits;
	float f;

	if (exp == 0x1f) {
		bits = sign | 0x7f800000u | (man << 13);	/* Inf, NaN */
	} else if (exp != 0) {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	} else if (man == 0) {
		bits = sign;					/* signed zero */
	} else {
		/* Subnormal: value is man * 2^-24, exact in fp32. */
		f = (float)man * 5.9604644775390625e-08f;
		return sign ? -f : f;
	}
	memcpy(&f, &bits, sizeof(f));
	return f;
}

float
tq_bf16_to_f32(uint16_t b)
{
	uint32_t bits = (uint32_t)b << 16;
	float f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

uint16_t
tq_f32_to_f16(float f)
{
	uint32_t x, sign, mant;
	int32_t exp;

	memcpy(&x, &f, sizeof(x));
	sign = (x >> 16) & 0x8000;
	exp = (int32_t)((x >> 23) & 0xff);
	mant = x & 0x7fffff;
	if (exp == 0xff)				/* Inf or NaN */
		return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
	exp = exp - 127 + 15;
	if (exp >= 0x1f)				/* overflow to Inf */
		return (uint16_t)(sign | 0x7c00);
	if (exp <= 0) {
		uint32_t shift, half, rounded;

		if (exp < -10)				/* underflow to zero */
			return (uint16_t)sign;
		/* Subnormal: round to nearest even on the shifted mantissa. */
		mant |= 0x800000;
		shift = (uint32_t)(14 - exp);
		half = 1u << (shift - 1);
		rounded = mant >> shift;
		if ((mant & ((1u << shift) - 1)) > half ||
		    ((mant & ((1u << shift) - 1)) == half && (rounded & 1)))
			rounded++;
		return (uint16_t)(sign | rounded);
	}
	/* Normal: round to nearest even; a carry into the exponent is right. */
	{
		uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
		uint32_t rest = mant & 0x1fff;

		if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
			h++;
		return (uint16_t)h;
	}
}

uint16_t
tq_f32_to_bf16(float f)
{
	uint32_t x;

	memcpy(&x, &f, sizeof(x));
	if ((x & 0x7fffffff) > 0x7f800000)		/* keep NaN a NaN */
		return (uint16_t)((x >> 16) | 0x40);
	x += 0x7fff + ((x >> 16) & 1);			/* round to nearest even */
	return (uint16_t)(x >> 16);
}

void
tq_tensor_to_f32(const tq_tensor *t, int64_t off, int64_t n, float *dst)
{
	const uint8_t *src = (const uint8_t *)t->data +
	    (size_t)off * tq_dtype_size(t->dtype);
	int64_t i;
	uint16_t h;

	switch (t->dtype) {
	case TQ_DTYPE_F32:
		memcpy(dst, src, (size_t)n * sizeof(float));
		break;
	case TQ_DTYPE_F16:
		for (i = 0; i < n; i++) {
			memcpy(&h, src + 2 * i, 2);
			dst[i] = tq_f16_to_f32(h);
		}
		break;
	case TQ_DTYPE_BF16:
		for (i = 0; i < n; i++) {
			memcpy(&h, src + 2 * i, 2);
			dst[i] = tq_bf16_to_f32(h);
		}
		break;
	default:
		/* Integer and f64 tensors hold codes and statistics, not weights. */
		memset(dst, 0, (size_t)n * sizeof(float));
		break;
	}
}

int64_t
tq_tensor_find_nonfinite(const tq_tensor *t)
{
	float buf[1024];
	int64_t n = tq_tensor_numel(t), i, j;

	for (i = 0; i < n; i += 1024) {
		int64_t m = n - i < 1024 ? n - i : 1024;

		tq_tensor_to_f32(t, i, m, buf);
		for (j = 0; j < m; j++)
			if (!isfinite(buf[j]))
				return i + j;
	}
	return -1;
}
