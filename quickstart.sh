#!/bin/sh
# quickstart.sh: install what is missing, build TurboQuant, and run it on
# the bundled demo model (its layers, then its perplexity on WikiText-2).
set -eu
cd "$(dirname "$0")"
tools/install-deps.sh
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure -q
make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
./turboquant info
text=../shared/data/wikitext2-test.txt
if [ -f "$text" ]; then
	./turboquant eval --text "$text"
else
	echo "quickstart: $text not found; try ./turboquant eval --text FILE"
fi
