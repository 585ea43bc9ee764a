# tap_lib.sh: what the shell tests share (sourced, not run).  They print
# TAP: each check with ok, and "1..$n" at the end (or finish).
#
# The prologue of every test: it starts
#	set -u
#	. "${top_srcdir:-.}/tests/tap_lib.sh"
# and has the tree (top_srcdir, the sources; top_builddir, the build: make
# check sets both, by hand they default to the current directory; made
# absolute here), $tq the
# program, $shared the corpora ($TQ_SHARED_DATA, else ../shared/data
# beside the sources), $py the oracles' Python ($TQ_PYTHON) and $tmp, a
# directory of its own removed on exit (a test that sets its own EXIT trap
# removes it there).
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
# absolute, for the tests that change directory (tmux sessions start in $tmp)
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
tq=$top_builddir/turboquant
shared=${TQ_SHARED_DATA:-$top_srcdir/../shared/data}
py=${TQ_PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0

ok() {	# ok STATUS DESCRIPTION: status 0 passes
	n=$((n + 1))
	# printf, not echo: dash's echo would expand backslashes in messages.
	if [ "$1" = 0 ]; then
		printf 'ok %d - %s\n' "$n" "$2"
	else
		printf 'not ok %d - %s\n' "$n" "$2"
		fails=$((fails + 1))
	fi
}

finish() {	# finish: the plan, and a status that says whether all passed
	echo "1..$n"
	[ "$fails" = 0 ]
}

# expect_error DESCRIPTION TEXT CMD...: CMD fails with exit status 1 and
# one line on stderr containing TEXT.
expect_error() {
	desc=$1
	want=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ $rc = 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ] &&
	    grep -qF -- "$want" "$tmp/err"; then
		ok 0 "$desc: $(cat "$tmp/err")"
	else
		ok 1 "$desc: exit $rc, $(head -c 300 "$tmp/err")"
	fi
}

# What a test needs and cannot find (an oracle such as tokenizers, gguf-py,
# numpy or llama.cpp; tmux; the corpora in ../shared/data): under
# runtests.sh (TQ_STRICT=1, and so in CI) a failure, since runtests.sh
# installs all of it; elsewhere a skip that says what is missing.
skip_test() {	# skip_test REASON: the whole test, before any check, then exit
	if [ "${TQ_STRICT:-0}" = 1 ]; then
		echo "1..1"
		echo "not ok 1 - missing under TQ_STRICT=1: $*"
	else
		echo "1..0 # SKIP $* (tools/install-deps.sh --tests installs the test tools)"
	fi
	exit 0
}

# need_py MODULE[, MODULE...]: $py imports them all, else the test is
# skipped (skip_test), naming them
need_py() {
	"$py" -c "import $1" >/dev/null 2>&1 ||
		skip_test "$py cannot import $(echo "$1" | sed 's/, / and /g') (set TQ_PYTHON)"
}

skip_check() {	# skip_check REASON: one check
	if [ "${TQ_STRICT:-0}" = 1 ]; then
		ok 1 "missing under TQ_STRICT=1: $*"
	else
		n=$((n + 1))
		echo "ok $n # SKIP $*"
	fi
}

# wait_until CMD...: runs CMD until it succeeds, for up to 30 seconds.
# (tui_lib.sh's wait_for, which waits for a screen, is another thing.)
wait_until() {
	i=0
	while ! "$@" && [ $i -lt 1500 ]; do
		sleep 0.02
		i=$((i + 1))
	done
}

# llamacpp_bin: $bin = the pinned llama.cpp's programs (tools/build-llamacpp.sh
# with $py, building them once); if the build fails, that is the test's one
# failure, with the build log's last lines, and the test ends.
llamacpp_bin() {
	if ! bin=$("$top_srcdir/tools/build-llamacpp.sh" "$py" \
	    2>"$tmp/build.log" | tail -n 1) || [ ! -x "$bin/llama-perplexity" ]; then
		ok 1 "tools/build-llamacpp.sh failed"
		tail -n 20 "$tmp/build.log" | sed 's/^/# /'
		echo "1..$n"
		exit 0
	fi
}

# llamacpp_only: a test of llama.cpp interop: interop_only, then
# llamacpp_bin.
llamacpp_only() {
	interop_only llama.cpp
	llamacpp_bin
}

# llama TOOL ARGS...: runs one of $bin's programs (llamacpp_bin), its
# output in $tmp/l.log
llama() {
	tool=$1
	shift
	LD_LIBRARY_PATH=$bin "$bin/$tool" "$@" >"$tmp/l.log" 2>&1
}
# gguf_same A B [types]: every tensor of A has B's name, type and bytes
# (with "types", the names and types only; gguf-py, with $py); the tensor
# count, types and any that differ as a comment
gguf_same() {
	"$py" - "$1" "$2" "${3:-bytes}" <<'PY'
import sys
import numpy as np
import gguf
a, b = (gguf.GGUFReader(p) for p in sys.argv[1:3])
ta, tb = ({t.name: t for t in r.tensors} for r in (a, b))
data = sys.argv[3] == "bytes"
bad = [k for k in sorted(set(ta) | set(tb))
       if k not in ta or k not in tb or
       ta[k].tensor_type != tb[k].tensor_type or
       (data and not np.array_equal(
           np.asarray(ta[k].data).view(np.uint8).ravel(),
           np.asarray(tb[k].data).view(np.uint8).ravel()))]
types = sorted({t.tensor_type.name for t in ta.values()})
print("# %d tensors (%s); differing: %s" % (len(ta), ", ".join(types),
      bad[:4]))
assert not bad
PY
}

# demo_imatrices: the demo model as $tmp/f32.gguf and two importance
# matrices of it on wikitext-2, $tmp/ours.imatrix (our calibrate) and
# $tmp/llama.imatrix (llama-imatrix; needs llamacpp_bin), three checks.
# Uses $tq, $shared and $threads.
demo_imatrices() {
	"$tq" export --format gguf --type f32 --out "$tmp/f32.gguf" >/dev/null \
	    2>"$tmp/err"
	ok $? "the demo model as an F32 GGUF $(head -c 200 "$tmp/err")"
	"$tq" calibrate "$tmp/f32.gguf" --calib "$shared/wikitext2-valid.txt" \
	    --samples 8 --seqlen 128 --imatrix "$tmp/ours.imatrix" >/dev/null \
	    2>"$tmp/err"
	ok $? "calibrate --imatrix $(head -c 200 "$tmp/err")"
	head -c 60000 "$shared/wikitext2-valid.txt" >"$tmp/calib.txt"
	llama llama-imatrix -m "$tmp/f32.gguf" -f "$tmp/calib.txt" -c 128 \
	    --chunks 8 -t $threads -o "$tmp/llama.imatrix"
	ok $? "llama-imatrix on the F32 GGUF $(grep -i error "$tmp/l.log" |
	    head -c 200)"
}

# both_quantize TYPE IM: demo_imatrices' $tmp/f32.gguf as TYPE (llama.cpp's
# name: IQ4_XS) by our export, in $tmp/type-IM.gguf (iq4_xs-ours.gguf), and
# by llama-quantize, in $tmp/ref.gguf (its log in $tmp/l.log), both with
# importance matrix IM (ours, llama, or none); $rc and $lrc their statuses.
both_quantize() {
	bq_t=$(echo "$1" | tr A-Z a-z)
	bq_opt=
	[ "$2" = none ] || bq_opt="--imatrix $tmp/$2.imatrix"
	"$tq" export "$tmp/f32.gguf" --format gguf --type $bq_t $bq_opt \
	    --out "$tmp/$bq_t-$2.gguf" >/dev/null 2>"$tmp/err"
	rc=$?
	llama llama-quantize $bq_opt "$tmp/f32.gguf" "$tmp/ref.gguf" $1 1
	lrc=$?
}

# same_as_llama TYPE IM: both_quantize TYPE IM succeed and write the same
# tensors, byte for byte (gguf_same), one check
same_as_llama() {
	both_quantize "$1" "$2"
	[ $rc = 0 ] && [ $lrc = 0 ] &&
	    gguf_same "$tmp/$bq_t-$2.gguf" "$tmp/ref.gguf"
	ok $? "$1, importance matrix: $2: our export equals llama-quantize's byte for byte $(head -c 200 "$tmp/err")"
}

# same_ppl GGUF NAME: llama-perplexity of GGUF (40 windows of 512 tokens of
# wikitext-2's test text) equals our `eval --protocol llamacpp` of it
# within 0.05%, one check (needs llamacpp_bin; uses $tq, $py, $shared and
# $threads).
same_ppl() {
	head -c 200000 "$shared/wikitext2-test.txt" >"$tmp/text.txt"
	llama llama-perplexity -t $threads -c 512 --chunks 40 -m "$1" \
	    -f "$tmp/text.txt" &&
	"$tq" --threads $threads eval "$1" --text "$tmp/text.txt" \
	    --protocol llamacpp --max-tokens 20480 --json >"$tmp/ours.json" \
	    2>"$tmp/err" &&
	"$py" - "$tmp/l.log" "$tmp/ours.json" "$2" <<'PY'
import json, re, sys
log, ours = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
lp = float(re.search(r"Final estimate: PPL = ([0-9.]+)", log).group(1))
rel = abs(ours["ppl"] - lp) / lp
print("# %s: llama-perplexity %.4f, ours %.4f over %d windows (rel. %.1e)"
      % (sys.argv[3], lp, ours["ppl"], ours["n_windows"], rel))
assert ours["n_windows"] == 40 and rel < 0.0005
PY
	ok $? "$2 export: llama-perplexity equals our llamacpp-protocol perplexity within 0.05% $(head -c 200 "$tmp/err")"
}

# interop_only WHAT: skip the whole test unless TQ_INTEROP=1 (runtests.sh
# sets it; the consumers it runs are installed there).
interop_only() {
	if [ "${TQ_INTEROP:-0}" != 1 ]; then
		echo "1..0 # SKIP $1 interop runs with TQ_INTEROP=1"
		exit 0
	fi
}

# moe_fixture ARCH DIR: the fixture tests/data/models/ARCH (its config and
# weights linked) in DIR with tests/byte_tokenizer.py's tokenizer, so that
# it reads text; fails as the tokenizer script does.
moe_fixture() {
	mkdir -p "$2"
	for f in config.json model.safetensors; do
		ln -s "$(cd "$top_srcdir/tests/data/models/$1" && pwd)/$f" "$2/$f"
	done
	"$py" "$top_srcdir/tests/byte_tokenizer.py" \
	    "$2/tokenizer.json"
}
