/*
 * isa.c: the vector path of the engine's kernels, picked once.
 */
#include "config.h"

#include "isa.h"

/* -1 until the first call picks; read by every thread afterwards. */
static int isa_current = -1;

static int
isa_has(tq_isa_id isa)
{
	switch (isa) {
	case TQ_ISA_PORTABLE:
		return 1;
#ifdef TQ_ISA_X86
	case TQ_ISA_AVX2:
		return __builtin_cpu_supports("avx2") &&
		    __builtin_cpu_supports("fma");
	case TQ_ISA_AVX512:
		return __builtin_cpu_supports("avx512f") &&
		    __builtin_cpu_supports("fma");
#endif
	default:
		return 0;
	}
}

tq_isa_id
tq_isa(void)
{
	int cur = __atomic_load_n(&isa_current, __ATOMIC_ACQUIRE);

	if (cur < 0) {
		/* Every thread computes the same answer; any may store it. */
		cur = isa_has(TQ_ISA_AVX512) ? TQ_ISA_AVX512 :
		    isa_has(TQ_ISA_AVX2) ? TQ_ISA_AVX2 : TQ_ISA_PORTABLE;
		__atomic_store_n(&isa_current, cur, __ATOMIC_RELEASE);
	}
	return (tq_isa_id)cur;
}

int
tq_isa_force(tq_isa_id isa)
{
	if (!isa_has(isa))
		return 0;
	__atomic_store_n(&isa_current, (int)isa, __ATOMIC_RELEASE);
	return 1;
}

const char *
tq_isa_name(tq_isa_id isa)
{
	switch (isa) {
	case TQ_ISA_PORTABLE:
		return "portable";
	case TQ_ISA_AVX2:
		return "avx2";
	case TQ_ISA_AVX512:
		return "avx512";
	}
	return "?";
}
