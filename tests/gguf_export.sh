#!/bin/sh
# gguf_export.sh: every GGUF type we export, read by the gguf package
# (gguf-py) and by our own reader, equals the weights our engine
# evaluates (tests/gguf_export.py); then the bad requests: a type the
# state cannot give, an existing output, a full disk, truncated and lying
# GGUF files.  TAP.  The gguf-py part is skipped when the venv lacks gguf
# and numpy, except with TQ_INTEROP=1, where that is a failure.
set -u
: "${top_srcdir:=.}" "${top_builddir:=.}"
py=${TQ_PYTHON:-python3}
tq=$top_builddir/turboquant
demo=$top_srcdir/assets/demo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n=0
ok() {	# ok COND-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
# fails CMD...: the command exits 1 with one line on stderr, naming $want.
fails() {
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	lines=$(wc -l <"$tmp/err")
	[ "$rc" = 1 ] && [ "$lines" = 1 ] && grep -q -- "$want" "$tmp/err"
}
# nothing_left DIR: no temporary or partial file in DIR.
nothing_left() {
	[ -z "$(ls -A "$1")" ]
}

# Bad requests (each: one-line error, exit 1, nothing left behind).
mkdir "$tmp/o"
"$tq" quantize "$demo" --method rtn --scheme int4-g128 --out "$tmp/int4" \
    >/dev/null 2>&1
want="int4-g128, which GGUF has no block type"
fails "$tq" export "$tmp/int4" --format gguf --out "$tmp/o/x.gguf"
ok $? "a state on int4-g128 grids is refused, naming formats that hold it"
nothing_left "$tmp/o"; ok $? "  and nothing is left behind"
want="GGUF has no type \"q9_k\""
fails "$tq" export "$demo" --format gguf --type q9_k --out "$tmp/o/x.gguf"
ok $? "an unknown --type is refused with the list of types"
want="unknown export format"
fails "$tq" export "$demo" --format nope --out "$tmp/o/x.gguf"
ok $? "an unknown --format is refused"
nothing_left "$tmp/o"; ok $? "  and nothing is left behind"
echo old >"$tmp/o/x.gguf"
want="already exists (use --force"
fails "$tq" export "$demo" --format gguf --type q8_0 --out "$tmp/o/x.gguf"
ok $? "an existing output is refused without --force"
[ "$(cat "$tmp/o/x.gguf")" = old ] && [ "$(ls "$tmp/o")" = x.gguf ]
ok $? "  and is left untouched"
"$tq" export "$demo" --format gguf --type q8_0 --out "$tmp/o/x.gguf" --force \
    >/dev/null 2>&1 && [ "$(head -c 4 "$tmp/o/x.gguf")" = GGUF ] &&
    [ "$(ls "$tmp/o")" = x.gguf ]
ok $? "--force replaces it, with nothing else left"
rm -f "$tmp/o/x.gguf"
# A full disk: a 1 MiB file size limit; SIGXFSZ ignored so write() fails.
want="write failed"
(trap '' XFSZ; ulimit -f 1024; fails "$tq" export "$demo" --format gguf \
    --type f32 --out "$tmp/o/x.gguf")
ok $? "a full disk (ulimit -f) gives a write error"
nothing_left "$tmp/o"; ok $? "  and nothing is left behind"

# The reader on truncated and lying files.
"$tq" export "$demo" --format gguf --type q4_0 --out "$tmp/good.gguf" \
    >/dev/null 2>&1
size=$(wc -c <"$tmp/good.gguf")
head -c $((size - 100)) "$tmp/good.gguf" >"$tmp/trunc.gguf"
want="runs past the end of the file"
fails "$tq" info "$tmp/trunc.gguf"
ok $? "a truncated GGUF: one-line error"
head -c 20 "$tmp/good.gguf" >"$tmp/short.gguf"
want="truncated in"
fails "$tq" info "$tmp/short.gguf"
ok $? "a GGUF cut inside its header: one-line error"
# Lying files: patch bytes (little-endian) of a good one.
patch() {	# patch OUT OFFSET OCTAL-BYTES
	cp "$tmp/good.gguf" "$1"
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
patch "$tmp/lie1.gguf" 8 '\000\000\000\000\000\001\000\000'	# 2^40 tensors
patch "$tmp/lie2.gguf" 4 '\007\000\000\000'			# version 7
patch "$tmp/lie3.gguf" 24 '\000\000\000\000\000\000\004\000'	# key of 2^50 bytes
want="cannot fit in"
fails "$tq" info "$tmp/lie1.gguf"
ok $? "a GGUF claiming 2^40 tensors: one-line error"
want="GGUF version 7"
fails "$tq" info "$tmp/lie2.gguf"
ok $? "an unknown GGUF version: one-line error"
want="bytes but only"
fails "$tq" info "$tmp/lie3.gguf"
ok $? "a key length past the end: one-line error"

# The weights, against gguf-py.
if ! "$py" -c 'import gguf, numpy' 2>/dev/null; then
	if [ "${TQ_INTEROP:-0}" = 1 ]; then
		ok 1 "$py cannot import gguf and numpy (TQ_INTEROP=1)"
	else
		echo "ok $((n + 1)) # SKIP $py cannot import gguf and numpy"
		n=$((n + 1))
	fi
	echo "1..$n"
	exit 0
fi
"$py" "$top_srcdir/tests/gguf_export.py" --tq "$tq" \
    --dump "$top_builddir/tests/model_dump" --model "$demo" --start $n \
    >"$tmp/tap" 2>"$tmp/py.err"
sed '/^1\.\./d' "$tmp/tap"
m=$(grep -c '^\(not \)\{0,1\}ok ' "$tmp/tap")
if [ "$m" = 0 ]; then
	ok 1 "gguf_export.py ran"
	sed 's/^/# /' "$tmp/py.err" | tail -n 20
fi
echo "1..$((n + m))"
