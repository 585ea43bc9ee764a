# tui_lib.sh: helpers for the workbench tests (sourced, not run).
#
# Each test drives the real turboquant binary in a detached tmux session on
# a private server (-L), sends keys, and waits for the screen to show text:
# capture-pane polled every 50 ms until a pattern appears or a timeout
# passes (no fixed sleeps).  TAP output; skipped only when tmux is missing,
# which tools/install-deps.sh --tests installs (under runtests.sh,
# TQ_STRICT=1, that is a failure; see tests/tap_lib.sh).

. "${top_srcdir:-.}/tests/tap_lib.sh"
# Timeouts in seconds; sanitizer builds run several times slower.
: "${TQ_TUI_TIMEOUT:=600}"

# ok, finish, skip_test and skip_check are tap_lib.sh's.
command -v tmux >/dev/null 2>&1 || skip_test "tmux is not installed"

sock=tq-tui-$$
T() { tmux -L "$sock" "$@"; }
trap 'T kill-server 2>/dev/null; rm -rf "$tmp"' EXIT

# start NAME COLS ROWS [ENV...] -- ARGS...: runs turboquant ARGS in a new
# session; when it exits, the shell prints EXIT=status, whether the tty is
# back in cooked mode, and waits.
start() {
	name=$1 cols=$2 rows=$3
	shift 3
	envs=""
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		envs="$envs $1"
		shift
	done
	shift
	cat >"$tmp/$name.sh" <<EOF
cd "$tmp"
env LANG=C.UTF-8 LC_ALL=C.UTF-8 $envs "$tq" $*
echo "EXIT=\$?"
if stty -a | tr '\n' ' ' | grep -Eq '(^| )-(icanon|echo|isig)( |;|\$)'; then
	echo "TTY=raw"
else
	echo "TTY=cooked"
fi
exec sleep 3600
EOF
	T new-session -d -s "$name" -x "$cols" -y "$rows" "sh $tmp/$name.sh"
}

screen() {	# screen NAME: the visible text
	T capture-pane -p -t "$1" 2>/dev/null
}

# wait_for NAME EREGEX [SECONDS]: 0 once the screen matches, else 1 (and
# the screen goes to the log as a TAP comment).
wait_for() {
	w_end=$(($(date +%s) + ${3:-$TQ_TUI_TIMEOUT}))
	while :; do
		if screen "$1" | grep -Eq -- "$2"; then
			return 0
		fi
		if [ "$(date +%s)" -ge "$w_end" ]; then
			echo "# timed out waiting for /$2/; the screen:"
			screen "$1" | sed 's/^/# | /'
			return 1
		fi
		sleep 0.05
	done
}

# wait_gone NAME EREGEX [SECONDS]: 0 once the screen no longer matches.
wait_gone() {
	w_end=$(($(date +%s) + ${3:-$TQ_TUI_TIMEOUT}))
	while screen "$1" | grep -Eq -- "$2"; do
		if [ "$(date +%s)" -ge "$w_end" ]; then
			echo "# timed out waiting for /$2/ to go; the screen:"
			screen "$1" | sed 's/^/# | /'
			return 1
		fi
		sleep 0.05
	done
	return 0
}

keys() {	# keys NAME KEY...: tmux send-keys
	k_name=$1
	shift
	T send-keys -t "$k_name" "$@"
}

text() {	# text NAME STRING: types a string literally
	T send-keys -t "$1" -l "$2"
}

# answer NAME "KEYS" STRING: KEYS (words, none for a prompt already open)
# open a prompt, whose line is cleared, STRING typed and Enter pressed
answer() {
	# shellcheck disable=SC2086
	keys "$1" $2 C-u
	text "$1" "$3"
	keys "$1" Enter
}

# ask_cancel NAME [y|n]: Ctrl-C and its question; then the answer, if
# given.  The status: whether the question showed.
ask_cancel() {
	keys "$1" C-c
	wait_for "$1" 'cancel the run\? \(y/n\)'
	a_rc=$?
	[ $# -lt 2 ] || keys "$1" "$2"
	return $a_rc
}

# quits NAME SECONDS: q, y to its question (within SECONDS), and the
# terminal restored (restored's status)
quits() {
	keys "$1" q
	wait_for "$1" 'quit the workbench\?' "$2" && keys "$1" y
	restored "$1"
}

# resized NAME COLS ROWS: the window resized, the table drawn again, and
# fits' status at the new size
resized() {
	T resize-window -t "$1" -x "$2" -y "$3"
	wait_for "$1" 'rel.err'
	fits "$1" "$2" "$3"
}

# quantized NAME: two checks, that the quantization ends and that the
# browser's rows at 80x24 (17 at least) each show a measured error
quantized() {
	wait_for "$1" 'quantized in'
	ok $? "quantization ends"
	q_errs=$(screen "$1" |
	    grep -Ec '^[ *][0-9]\.(attn|mlp)\.[a-z_]+ .* [0-9]\.[0-9][0-9]e-[0-9][0-9] ')
	[ "$q_errs" -ge 17 ]
	ok $? "per-layer errors fill the browser ($q_errs rows with an error)"
}

# lesson_cancelled NAME LESSON STEP NEXT: Ctrl-C y stops the running
# LESSON (its name: size) at STEP (a regex: "1/6: rtn int4-g128  "), the
# workbench is idle, the step offers Enter again and NEXT ("running 2/6")
# never started
lesson_cancelled() {
	ask_cancel "$1" y
	wait_for "$1" "$2 lesson cancelled (at|after) ${3%%:*}" &&
	    wait_for "$1" ' idle ' &&
	    wait_for "$1" "cancelled (at|after) $3\\(Enter: again\\)" &&
	    ! screen "$1" | grep -q "$4"
}

# restored NAME: the program exited 0 and left the terminal as it found it
# (cooked tty, normal screen, cursor shown).
restored() {
	wait_for "$1" 'TTY=(raw|cooked)' 60 &&
	screen "$1" | grep -q 'TTY=cooked' &&
	[ "$(T display -p -t "$1" '#{alternate_on}')" = 0 ] &&
	[ "$(T display -p -t "$1" '#{cursor_flag}')" = 1 ]
}

# fits NAME COLS ROWS: the pane is that size and the hint bar is on its
# last line.
fits() {
	[ "$(T display -p -t "$1" '#{pane_width}x#{pane_height}')" = "$2x$3" ] &&
	[ "$(screen "$1" | wc -l)" -le "$3" ] &&
	screen "$1" | sed -n "${3}p" | grep -q '? help'
}

# need_smollm2: $gguf is SmolLM2's GGUF ($TQ_SMOLLM2_GGUF); without it one
# check is skipped (a failure under TQ_STRICT=1) and the test ends there.
need_smollm2() {
	gguf=${TQ_SMOLLM2_GGUF:-}
	if [ -z "$gguf" ] || [ ! -f "$gguf" ]; then
		skip_check "no SmolLM2 GGUF (\$TQ_SMOLLM2_GGUF, which" \
		    "tools/install-smollm2.sh prints)"
		finish
		exit $?
	fi
}
