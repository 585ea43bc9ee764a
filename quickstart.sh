#!/bin/sh
# quickstart.sh: install what is missing, build TurboQuant, and run it on
# the bundled demo model (its layers, then its perplexity on WikiText-2).
set -eu
cd "$(dirname "$0")"
tools/install-deps.sh
# Quiet unless something fails (configure's own "rm core" chatter included).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [ ! -x configure ] && ! autoreconf -fi >"$log" 2>&1; then
	cat "$log"
	exit 1
fi
if [ ! -f Makefile ] && ! ./configure -q >"$log" 2>&1; then
	cat "$log"
	exit 1
fi
make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
./turboquant info
text=../shared/data/wikitext2-test.txt
if [ -f "$text" ]; then
	./turboquant eval --text "$text"
else
	echo "quickstart: $text not found; try ./turboquant eval --text FILE"
fi
