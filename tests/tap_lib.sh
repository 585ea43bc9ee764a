# tap_lib.sh: what the shell tests share (sourced, not run).  They print
# TAP: each check with ok, and "1..$n" at the end.  Needs $tmp.
n=0

ok() {	# ok STATUS DESCRIPTION: status 0 passes
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		printf 'ok %d - %s\n' "$n" "$2"
	else
		printf 'not ok %d - %s\n' "$n" "$2"
	fi
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

# wait_for CMD...: runs CMD until it succeeds, for up to 30 seconds.
wait_for() {
	i=0
	while ! "$@" && [ $i -lt 1500 ]; do
		sleep 0.02
		i=$((i + 1))
	done
}
