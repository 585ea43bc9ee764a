/*
 * no_fma.h: included (last) by the files that must round as ggml's
 * reference quantizers do.  ggml's reference code is built without fused
 * multiply-add; a contracted a*b+c rounds differently and flips codes
 * (with -march=haswell and up).  GCC ignores the standard pragma, hence its
 * own.  A pragma, so it applies to the including file only.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
