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

/*
 * The sanitizers.  AddressSanitizer and UBSan check every load of a
 * kernel's inner loop: the forward pass ran 5x slower under them, the
 * ASan suite twice as long.  The kernels' leaf functions are therefore
 * not instrumented (as OpenBLAS, which did this work before, was not), and
 * their drivers, which are, read the first and last element of each
 * operand at entry (TQ_KERNEL_SPAN), so an operand that does not fit its
 * buffer is still reported.  ThreadSanitizer keeps instrumenting them.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TQ_KERNEL_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TQ_KERNEL_SANITIZED 1
#endif
#endif

#ifdef TQ_KERNEL_SANITIZED
#define TQ_KERNEL_LEAF __attribute__((no_sanitize("address", "undefined")))
/* p[0] and p[last] read (last >= 0), so ASan sees a short buffer. */
#define TQ_KERNEL_SPAN(p, last) do { \
	volatile float tq_span_v_ = (p)[0]; \
	tq_span_v_ = (p)[(last)]; \
	(void)tq_span_v_; \
} while (0)
#else
#define TQ_KERNEL_LEAF
#define TQ_KERNEL_SPAN(p, last) do { } while (0)
#endif

#endif /* TQ_CORE_ISA_H */
