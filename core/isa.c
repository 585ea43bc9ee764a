/*
 * isa.c: the vector path of the engine's kernels, picked once.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
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

/* The fastest path this CPU has. */
static tq_isa_id
isa_best(void)
{
	return isa_has(TQ_ISA_AVX512) ? TQ_ISA_AVX512 :
	    isa_has(TQ_ISA_AVX2) ? TQ_ISA_AVX2 : TQ_ISA_PORTABLE;
}

/* The path called NAME ("avx512", ...), or -1 (also for NULL). */
static int
isa_named(const char *name)
{
	int id;

	for (id = TQ_ISA_PORTABLE; name != NULL && id <= TQ_ISA_AVX512; id++)
		if (strcmp(name, tq_isa_name((tq_isa_id)id)) == 0)
			return id;
	return -1;
}

/*
 * $TQ_ISA where it names a path this CPU has, the fastest otherwise (the
 * command line refuses any other value before work starts: tq_set_isa).
 */
static tq_isa_id
isa_env(void)
{
	int id = isa_named(getenv("TQ_ISA"));

	return id >= 0 && isa_has((tq_isa_id)id) ? (tq_isa_id)id : isa_best();
}

tq_isa_id
tq_isa(void)
{
	int cur = __atomic_load_n(&isa_current, __ATOMIC_ACQUIRE);

	if (cur < 0) {
		/* Every thread computes the same answer; any may store it. */
		cur = isa_env();
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

tq_status
tq_set_isa(const char *name, tq_error *err)
{
	int id;

	if (name == NULL || strcmp(name, "auto") == 0) {
		__atomic_store_n(&isa_current, (int)isa_best(),
		    __ATOMIC_RELEASE);
		return TQ_OK;
	}
	if ((id = isa_named(name)) < 0)
		return tq_fail(err, TQ_EINVAL, "unknown instruction set '%s' "
		    "(auto, avx512, avx2 or portable)", name);
	if (!tq_isa_force((tq_isa_id)id))
		return tq_fail(err, TQ_EINVAL,
		    "this CPU has no %s (its fastest: %s)", name,
		    tq_isa_name(isa_best()));
	return TQ_OK;
}

const char *
tq_get_isa(void)
{
	return tq_isa_name(tq_isa());
}
