#!/bin/sh
# fuzz.sh: runs each libFuzzer target for $TQ_FUZZ_SECONDS (default 10)
# seconds, seeded with the test fixtures.  A TAP test; skipped unless the
# tree was configured with --enable-fuzzers CC=clang.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
secs=${TQ_FUZZ_SECONDS:-10}
d=$top_srcdir/tests/data

if [ ! -x "$top_builddir/tests/fuzz_safetensors" ]; then
	echo "1..0 # SKIP fuzzers not built (configure --enable-fuzzers CC=clang)"
	exit 0
fi
work=$tmp
# Seeds: the fixtures, one directory per target (libFuzzer reads every file).
seed() {	# seed DIR PATTERN MAXSIZE
	mkdir -p "$work/seed-$1"
	i=0
	find "$d" -name "$2" -size -"$3" | sort | while read -r f; do
		i=$((i + 1))
		cp "$f" "$work/seed-$1/$i"
	done
}
seed st '*.safetensors' 600k
seed cfg 'config.json' 64k
seed tok 'tokenizer.json' 300k
# eval files: task files (odd first byte) and a small saved base (even).
mkdir -p "$work/seed-eval"
for f in "$d"/tasks/*.jsonl; do
	{ printf '1'; cat "$f"; } >"$work/seed-eval/$(basename "$f")"
done
if "$top_builddir/turboquant" eval --text "$d/tasks/demo.jsonl" --ctx 4 \
    --max-tokens 8 --save-logits "$work/base.tqlp" >/dev/null 2>&1; then
	{ printf '0'; cat "$work/base.tqlp"; } >"$work/seed-eval/base"
fi

# GGUF seeds: small exports of a fixture (the fixtures hold no .gguf).
mkdir -p "$work/seed-gguf"
for t in f32 q8_0; do
	"$top_builddir/turboquant" export "$d/models/qwen2" --format gguf \
	    --type $t --out "$work/seed-gguf/$t.gguf" >/dev/null 2>&1
done
# The demo's tokenizer metadata: its header with the tensor count zeroed.
if "$top_builddir/turboquant" export "$top_srcdir/assets/demo" --format gguf \
    --type q8_0 --out "$work/demo.gguf" >/dev/null 2>&1; then
	head -c 200000 "$work/demo.gguf" >"$work/seed-gguf/vocab.gguf"
	printf '\000\000\000\000\000\000\000\000' | dd bs=1 seek=8 \
	    conv=notrunc of="$work/seed-gguf/vocab.gguf" 2>/dev/null
	rm -f "$work/demo.gguf"
fi
# Plan seeds: the fixture plans.  State seeds: small quantizations of
# the two-block fixture model, packed as fuzz_state reads them (each file
# a 4-byte little-endian length, then its bytes).
mkdir -p "$work/seed-plan" "$work/seed-state"
cp "$d"/plans/*.json "$work/seed-plan/"
le32() {
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) \
	    $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}
k=0
for how in "--method rtn --scheme fp8" "--method rtn --bits 4 --group 0" \
    "--preset w8-rtn" "--plan $d/plans/mlx_fixture.json"; do
	k=$((k + 1))
	# shellcheck disable=SC2086
	"$top_builddir/turboquant" quantize "$d/models/llama" $how \
	    --out "$work/state$k" >/dev/null 2>&1 || continue
	for f in state.json block-0000.safetensors block-0001.safetensors \
	    head.safetensors; do
		le32 "$(wc -c <"$work/state$k/$f")"
		cat "$work/state$k/$f"
	done >"$work/seed-state/$k"
done
n=0
run() {	# run TARGET MAXLEN SEED-DIRS...
	target=$1
	maxlen=$2
	shift 2
	n=$((n + 1))
	mkdir -p "$work/$target"
	if "$top_builddir/tests/$target" -max_total_time="$secs" \
	    -max_len="$maxlen" -rss_limit_mb=4096 -print_final_stats=1 \
	    "$work/$target" "$@" >"$work/$target.log" 2>&1; then
		runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' \
		    "$work/$target.log" | grep -o '[0-9]*$')
		echo "ok $n - $target: ${runs:-?} inputs in ${secs}s, no crash"
	else
		echo "not ok $n - $target found a crash:"
		sed 's/^/# /' "$work/$target.log" | tail -n 40
		cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* . 2>/dev/null
	fi
}
run fuzz_safetensors 4096 "$work/seed-st"
run fuzz_config 4096 "$work/seed-cfg"
run fuzz_tokenizer 65536 "$work/seed-tok"
run fuzz_gguf 262144 "$work/seed-gguf"
run fuzz_evalfiles 131072 "$work/seed-eval"
run fuzz_plan 16384 "$work/seed-plan"
run fuzz_state 262144 "$work/seed-state"
echo "1..$n"
