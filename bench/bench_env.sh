# bench_env.sh: sourced by the SmolLM2 sweep scripts (default_method.sh,
# int_method.sh): ROOT (the repository), DATA (../shared/data, else
# $TQ_SHARED_DATA), TQ (the turboquant binary: $TQ, else build/turboquant)
# and THREADS ($THREADS, else 2).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=$ROOT/../shared/data
[ -d "$DATA" ] || DATA=${TQ_SHARED_DATA:?set TQ_SHARED_DATA}
TQ=${TQ:-$ROOT/build/turboquant}
THREADS=${THREADS:-2}
