#!/bin/sh
# threads.sh: neither the thread count nor the kernels' instruction set
# changes a result's bytes.  With --threads 1, 2 and 4, and with 2 threads
# on the AVX2 path where the CPU has AVX-512 (the default path there): the
# same calibration statistics, the same block files from RTN (with an
# importance matrix), GPTQ and AWQ, and the same perplexity and KL
# divergence.  (The portable path, 60x slower, is checked against the
# others kernel by kernel: tests/test_kernels.)  TAP.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"
calib=$shared/wikitext2-valid.txt
[ -f "$calib" ] || skip_test "no $calib"
# A few samples of 300 tokens: two query blocks in attention, a partial
# BLAS tile in every product.
cal="--calib $calib --samples 6 --seqlen 300"
head -c 40000 "$shared/wikitext2-test.txt" >"$tmp/test.txt"

# norm FILE: a JSON report without its timings and the run's directory.
norm() {
	sed -e "s|$d|DIR|g" -e 's/"seconds":[0-9.e+-]*/"seconds":0/g' \
	    -e 's/"tokens_per_second":[0-9.e+-]*/"tokens_per_second":0/g' \
	    "$1" >"$1.norm" && rm "$1"
}

# The runs: a name and the options before the command.
runs="t1 t2 t4"
alike="1, 2 and 4 threads"
if "$tq" --isa avx512 help >/dev/null 2>&1; then
	runs="$runs avx2"
	alike="$alike and the AVX2 path"
fi
opts() {
	case $1 in
	t*) echo "--threads ${1#t}" ;;
	avx2) echo "--threads 2 --isa avx2" ;;
	esac
}

# same WHAT FILE...: FILE (relative to $tmp/RUN) is the same for every run.
same() {
	what=$1
	shift
	bad=
	for f in "$@"; do
		for r in $runs; do
			cmp -s "$tmp/t1/$f" "$tmp/$r/$f" || bad="$bad $f@$r"
		done
	done
	[ -z "$bad" ]
	ok $? "$what: $alike give the same bytes${bad:+ (differ:$bad)}"
}

for r in $runs; do
	d=$tmp/$r
	o=$(opts $r)
	mkdir "$d"
	"$tq" $o calibrate $cal --out "$d/stats.safetensors" --json \
	    >"$d/calib.json" 2>"$d/err" || echo "calibrate $r: $(cat "$d/err")"
	norm "$d/calib.json"
	for m in rtn gptq awq; do
		x=
		[ $m = rtn ] && x=--imatrix
		"$tq" $o quantize --method $m --bits 4 --group 128 $x \
		    $cal --out "$d/$m" --json >"$d/$m.json" 2>"$d/err" ||
		    echo "quantize $m $r: $(cat "$d/err")"
		norm "$d/$m.json"
	done
	"$tq" $o eval --text "$tmp/test.txt" --ctx 300 --json \
	    >"$d/ppl.json" 2>"$d/err" || echo "eval $r: $(cat "$d/err")"
	norm "$d/ppl.json"
	"$tq" $o eval "$d/gptq" --kld --text "$tmp/test.txt" \
	    --ctx 300 --json >"$d/kld.json" 2>"$d/err" ||
	    echo "eval --kld $r: $(cat "$d/err")"
	norm "$d/kld.json"
done

same "calibrate --json" calib.json.norm
same "calibrate --out" stats.safetensors
for m in rtn gptq awq; do
	blocks=$(cd "$tmp/t1/$m" 2>/dev/null && ls *.safetensors)
	[ -n "$blocks" ]
	ok $? "$m wrote $(echo $blocks | wc -w) tensor files"
	same "$m state" $(for b in $blocks; do echo "$m/$b"; done)
	same "quantize --method $m --json (output errors)" $m.json.norm
done
grep -q '"ppl":' "$tmp/t1/ppl.json.norm"
ok $? "eval --json has a perplexity: $(grep -o '"ppl":[0-9.]*' \
    "$tmp/t1/ppl.json.norm" | head -1)"
same "eval --json" ppl.json.norm
grep -q '"kld' "$tmp/t1/kld.json.norm"
ok $? "eval --kld --json has a KL divergence"
same "eval --kld --json" kld.json.norm
echo "1..$n"
