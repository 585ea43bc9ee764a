#!/bin/sh
# quickstart.sh: install what is missing, build TurboQuant in build/, and run
# it on the bundled demo model: on a terminal it opens the workbench; without
# one it prints the model's layers and a short evaluation.
#
# It may run any number of times, before or after runtests.sh (whose builds
# live in build-*/): a tree configured in place (./configure && make) is
# built where it is.
set -eu
cd "$(dirname "$0")"
tools/install-deps.sh
# Quiet unless something fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
quiet() {	# quiet CMD...: run CMD, print its output only if it fails
	"$@" >"$log" 2>&1 || {
		cat "$log"
		echo "quickstart: $* failed" >&2
		exit 1
	}
}
if [ -f config.status ]; then
	build=.
else
	[ -x configure ] && [ configure -nt configure.ac ] &&
	    [ configure -nt Makefile.am ] || quiet autoreconf -fi
	build=build
	mkdir -p build
	[ -f build/Makefile ] || (cd build && quiet ../configure -q)
fi
quiet make -C "$build" -j"$(nproc 2>/dev/null || echo 2)"
tq=$build/turboquant

if [ -t 0 ] && [ -t 1 ] && [ "${TERM:-dumb}" != dumb ]; then
	echo "quickstart: opening the workbench on the demo model ($tq; ? lists the keys, q quits)"
	exec "$tq"
fi
"$tq" info
text=../shared/data/wikitext2-test.txt
if [ -f "$text" ]; then
	# A taste: the first 16,384 tokens (the whole text: drop --max-tokens).
	"$tq" eval --text "$text" --max-tokens 16384
else
	echo "quickstart: $text not found; try $tq eval --text FILE"
fi
echo "quickstart: $tq on a terminal opens the workbench; $tq help lists the commands"
