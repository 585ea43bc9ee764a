#!/bin/sh
# timed_driver.sh: runs automake's TAP driver (all arguments) and appends the
# test's wall time to its log as "# elapsed: N s", which runtests.sh lists
# (the slowest tests of each suite).
log=
prev=
for a in "$@"; do
	[ "$prev" = --log-file ] && log=$a
	prev=$a
done
t0=$(date +%s)
"$@"
rc=$?
[ -n "$log" ] && [ -f "$log" ] &&
    echo "# elapsed: $(($(date +%s) - t0)) s" >>"$log"
exit $rc
