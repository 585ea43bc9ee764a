/*
 * vexp.h: e^x over arrays, the same bytes on every machine (internal).
 *
 * libm's expf differs by library and by CPU (glibc picks an FMA variant
 * where it can) and runs one value at a time.  Here e^x is Cephes' expf
 * written with fused multiply-adds and exactly rounded operations only: n
 * = round(x log2 e), r = x - n ln 2 in two parts, a degree-6 polynomial,
 * times 2^n in two exact steps; below -104 it is 0 and above ln(FLT_MAX)
 * +inf, NaN stays NaN.  The AVX-512, AVX2 and portable paths (isa.h) do
 * the same operations, so every element is the same on each (within 2
 * ulp of e^x where the result is normal).
 */
#ifndef TQ_CORE_VEXP_H
#define TQ_CORE_VEXP_H

#include <stdint.h>

/* e^x of one value, as the array functions compute it. */
float tq_vexp1(float x);

/* x[i] := e^(x[i] - shift), i < n: a softmax row less its maximum. */
void tq_vexp_shift(float *x, int64_t n, float shift);

/* g[i] := g[i] / (1 + e^-g[i]) * up[i]: SiLU(gate) times up. */
void tq_vsilu_mul(float *g, const float *up, int64_t n);

#endif /* TQ_CORE_VEXP_H */
