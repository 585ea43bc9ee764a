#!/bin/sh
# scripts.sh: the README's two commands on a copy of the tree: quickstart.sh
# twice without a terminal (each time: exit 0, the demo's info and a short
# perplexity), then the out-of-tree configure runtests.sh does (it failed
# when quickstart configured the sources in place); a tree configured in
# place is built where it is; configure says nothing on stderr (its checks
# once complained about core/); on a terminal (tmux) it opens the
# workbench.  TAP; part of `make check-long`.
set -u
. "${top_srcdir:-.}/tests/tap_lib.sh"

git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1 ||
	skip_test "$top_srcdir is not a git checkout (the copy is made of its files)"
# A clone's files, with the corpora beside it as in a checkout.
mkdir -p "$tmp/w/tq"
ln -s "$(cd "$shared/.." && pwd)" "$tmp/w/shared"
(cd "$top_srcdir" && git ls-files -z --cached --others --exclude-standard |
    tar --null -T - -cf -) | tar -C "$tmp/w/tq" -xf -
ok $? "a copy of the tree's files"
t=$tmp/w/tq

for i in 1 2; do
	(cd "$t" && ./quickstart.sh </dev/null >"$tmp/q$i.out" 2>"$tmp/q$i.err")
	rc=$?
	[ $rc = 0 ] && grep -q '^perplexity  *[0-9.]* +/-' "$tmp/q$i.out" &&
	    grep -q 'tensors' "$tmp/q$i.out" && [ -x "$t/build/turboquant" ]
	ok $? "quickstart.sh run $i: exit $rc, info and perplexity printed, build/turboquant $(tail -n 2 "$tmp/q$i.err")"
done
# On a terminal quickstart.sh ends in the workbench on the demo model.
if command -v tmux >/dev/null 2>&1; then
	sock=tq-scripts-$$
	tmux -L "$sock" new-session -d -x 100 -y 30 \
	    "cd '$t' && ./quickstart.sh; echo EXIT=\$?; sleep 600"
	end=$(($(date +%s) + 300))
	while ! tmux -L "$sock" capture-pane -p | grep -q 'demo (llama, 4 blocks)' &&
	    [ "$(date +%s)" -lt "$end" ]; do
		sleep 0.2
	done
	tmux -L "$sock" capture-pane -p >"$tmp/screen"
	grep -q 'demo (llama, 4 blocks)' "$tmp/screen"
	ok $? "quickstart.sh on a terminal opens the workbench on the demo model"
	tmux -L "$sock" send-keys q
	end=$(($(date +%s) + 30))
	while ! tmux -L "$sock" capture-pane -p | grep -q 'EXIT=' &&
	    [ "$(date +%s)" -lt "$end" ]; do
		sleep 0.2
	done
	tmux -L "$sock" capture-pane -p | grep -q 'EXIT=0'
	ok $? "  and q quits it with exit status 0"
	tmux -L "$sock" kill-server 2>/dev/null
else
	skip_check "tmux is not installed"
fi
[ ! -f "$t/config.status" ] && [ ! -f "$t/Makefile" ]
ok $? "quickstart.sh left the sources unconfigured (out-of-tree builds still work)"

mkdir "$t/build-x"
(cd "$t/build-x" && ../configure -q >/dev/null 2>"$tmp/c.err")
ok $? "an out-of-tree configure after quickstart.sh (as runtests.sh does) $(head -c 200 "$tmp/c.err")"
[ ! -s "$tmp/c.err" ]
ok $? "configure prints nothing on stderr: $(head -n 2 "$tmp/c.err")"

# The conventional path: configured in place, quickstart builds there.
rm -rf "$t/build" "$t/build-x"
(cd "$t" && ./configure -q >/dev/null 2>"$tmp/c2.err")
ok $? "configure in place $(head -c 200 "$tmp/c2.err")"
[ ! -s "$tmp/c2.err" ]
ok $? "  prints nothing on stderr (no \"cannot remove 'core'\"): $(head -n 2 "$tmp/c2.err")"
(cd "$t" && ./quickstart.sh </dev/null >"$tmp/q3.out" 2>"$tmp/q3.err")
rc=$?
[ $rc = 0 ] && [ -x "$t/turboquant" ] && [ ! -d "$t/build" ] &&
    grep -q '^perplexity' "$tmp/q3.out"
ok $? "quickstart.sh in a tree configured in place builds ./turboquant there (exit $rc)"
echo "1..$n"
