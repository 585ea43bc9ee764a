/*
 * isa.h: which vector instructions the engine's own kernels use (internal).
 *
 * The kernels (sgemm.c, vexp.c) have one path per instruction set and give
 * the same bytes on each; this picks the fastest the CPU has, once.
 */
#ifndef TQ_CORE_ISA_H
#define TQ_CORE_ISA_H

/* The paths, fastest last. */
typedef enum tq_isa_id {
	TQ_ISA_PORTABLE,
	TQ_ISA_AVX2,		/* AVX2 + FMA */
	TQ_ISA_AVX512		/* AVX-512F + FMA */
} tq_isa_id;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TQ_ISA_X86 1
#endif

/* The path the kernels run; any thread may ask. */
tq_isa_id tq_isa(void);

/*
 * Forces a path for the tests (one the CPU has; returns 0 and changes
 * nothing otherwise).  Not while another thread runs a kernel.
 */
int tq_isa_force(tq_isa_id isa);

/* "avx512", "avx2" or "portable" */
const char *tq_isa_name(tq_isa_id isa);

#endif /* TQ_CORE_ISA_H */
