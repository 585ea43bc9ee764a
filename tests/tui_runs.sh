#!/bin/sh
# tui_runs.sh: the workbench's runs, driven in tmux: calibrate on
# wikitext2-valid.txt with the layer detail's histograms filling in live;
# quantize under an edited plan (GPTQ W4 g128, the first two blocks'
# down_proj at 8 bits) with per-layer errors filling the browser, resized
# to 100x30 and back to 80x24 mid-run; validate against the fp model (the
# perplexities, KLD and top-token agreement are checked against the
# command line's calibrate, quantize and eval of the same plan); the export
# dialog lists every format with its types, a refusal is the engine's
# message; export GGUF Q4_K_M and read it back with the gguf package;
# cancel a calibration and a quantization with Ctrl-C (which asks), the
# browser's errors going back to the variant's; quit;
# SIGTERM and SIGSEGV restore the terminal.
# A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

calib=$shared/wikitext2-valid.txt
[ -r "$calib" ] || skip_test "$calib is missing (the corpora in ../shared/data)"
head -c 60000 "$shared/wikitext2-test.txt" >"$tmp/val.txt"

start r 80 24 --
wait_for r 'demo \(llama, 4 blocks\)' 60
ok $? "the demo model is open"

# ---- the plan: GPTQ W4 g128, first two blocks' down_proj at 8 bits ----
keys r p ; text r 'w4-gptq'; keys r Enter
wait_for r 'plan: preset w4-gptq'
ok $? "p w4-gptq: the preset"
keys r / ; text r 'down_proj'; keys r Enter
wait_for r 'filter /down_proj/'
keys r Space Space b b b
wait_for r '2 layers -> gptq int8-g128'
ok $? "the first two down_proj to 8 bits"
answer r S "$tmp/plan.json"
wait_for r 'plan saved to'
keys r x Escape
wait_gone r 'filter /down_proj/'
keys r r
wait_for r 'this plan needs calibration first'
ok $? "quantizing GPTQ without calibration asks for it"

# ---- calibrate, with the detail's histograms filling in ----
keys r g Enter
wait_for r 'model.layers.0.self_attn.q_proj \[256 x 256\]'
answer r c "$calib 64 512"
wait_for r 'inputs \|x\| \(live\): [0-9]+ tokens'
ok $? "the input histogram appears while calibration runs"
wait_for r 'calibrate +[^ ]*[▏▎▍▌▋▊▉█]+.* [0-9]+/64 '
ok $? "a progress bar with samples done, rate and ETA"
screen r | grep -q 'channel absmax |x| (256 inputs'
ok $? "per-channel absmax fills in as well"
wait_for r 'calibrated in'
ok $? "calibration ends"
wait_gone r '\(live\)'
screen r | grep -Eq 'outliers: (none; the largest|[0-9]+ of 256): ch[0-9]+ [0-9.e+-]+ \([0-9.]+x\)'
ok $? "the detail lists outlier channels against the median"
screen r | grep -q 'x^2-weighted'
ok $? "candidate errors are weighted by the calibration's x^2"
keys r Escape

# ---- quantize; resize mid-run ----
keys r r
wait_for r 'quantize +[^ ]*.*[0-9]+/[0-9]+ '
ok $? "quantization runs with a progress line"
keys r m
wait_for r 'the plan is in use'
ok $? "the plan cannot change under a running quantization"
resized r 100 30
ok $? "resized to 100x30 mid-run"
resized r 80 24
ok $? "and back to 80x24 mid-run"
quantized r
screen r | grep -Eq '\| err sum [0-9.]+e-[0-9]+ \(28, #1\)'
ok $? "the summary adds up the 28 measured errors, of variant #1"

# ---- validate against the fp model ----
answer r v "$tmp/val.txt 256"
wait_for r '^ fp16 +16.00 +[0-9]+\.[0-9]+'
ok $? "validation measures the fp model"
wait_for r '^ #1 .* [0-9]+\.[0-9]+ +[+-][0-9]+\.[0-9]+%'
ok $? "and the quantized variant, with its delta"
fp=$(screen r | sed -n 's/^ fp16 *16.00 *\([0-9.]*\).*/\1/p')
q=$(screen r | sed -n 's/^ #1 .* \([0-9][0-9.]*\) *[+-][0-9.]*%.*/\1/p')
"$tq" eval --text "$tmp/val.txt" --ctx 256 --json >"$tmp/fp.json" 2>/dev/null
cfp=$(sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p' "$tmp/fp.json")
[ -n "$fp" ] && [ -n "$cfp" ] &&
	awk -v a="$fp" -v b="$cfp" 'BEGIN { exit !(a - b < 0.0015 && b - a < 0.0015) }'
ok $? "fp perplexity $fp is the command line's $cfp"
"$tq" calibrate --calib "$calib" --samples 64 --seqlen 512 --out "$tmp/st" >/dev/null 2>&1 &&
	"$tq" quantize --plan "$tmp/plan.json" --stats "$tmp/st" --out "$tmp/q" >/dev/null 2>&1 &&
	"$tq" eval "$tmp/q" --text "$tmp/val.txt" --ctx 256 --json >"$tmp/q.json" 2>/dev/null
cq=$(sed -n 's/.*"ppl":\([0-9.]*\).*/\1/p' "$tmp/q.json")
[ -n "$q" ] && [ -n "$cq" ] &&
	awk -v a="$q" -v b="$cq" 'BEGIN { exit !(a - b < 0.0015 && b - a < 0.0015) }'
ok $? "quantized perplexity $q is the command line's $cq for the saved plan"

screen r | grep -Eq '^ variant +bpw +ppl +delta +KLD +top1 +KLD +top1 diff'
ok $? "the table has KLD and top-token agreement columns, and their bars"
screen r | grep -Eq '^ #1 .*%.*[▏▎▍▌▋▊▉█]+'
ok $? "the variant's row has its bars"
"$tq" eval "$tmp/q" --text "$tmp/val.txt" --ctx 256 --kld --json >"$tmp/qk.json" 2>/dev/null
ck=$(sed -n 's/.*"kld":\([0-9.e+-]*\).*/\1/p' "$tmp/qk.json")
ct=$(sed -n 's/.*"same_top":\([0-9.e+-]*\).*/\1/p' "$tmp/qk.json")
row=$(screen r | grep -E '^ #1 ' | sed 's/[▏▎▍▌▋▊▉█]//g; s/%/ /g')
k=$(echo "$row" | awk '{ print $(NF - 1) }')
t=$(echo "$row" | awk '{ print $NF }')
[ -n "$k" ] && [ -n "$ck" ] && [ -n "$t" ] && [ -n "$ct" ] &&
	awk -v a="$k" -v b="$ck" -v t="$t" -v c="$ct" 'BEGIN {
	    exit !(a > 0 && a - b < 0.00001 && b - a < 0.00001 &&
	    t - 100 * c < 0.06 && 100 * c - t < 0.06) }'
ok $? "KLD $k and top-token agreement $t% are the command line's $ck and $ct"

# ---- the export dialog: every format, with its types; refusals ----
keys r E
wait_for r 'export \(\[#N\|fp\] FORMAT TYPE PATH \[force\]\)'
fmts=0
for f in gguf awq gptq compressed-tensors trtllm mlx onnx; do
	screen r | grep -Eq "^ $f +[a-zA-Z]" && fmts=$((fmts + 1))
done
[ "$fmts" = 7 ] && screen r | grep -q 'q4_k_m' && screen r | grep -q 'gptq_v2'
ok $? "E lists the 7 export formats with their types ($fmts found)"
answer r "" "onnx int4 $tmp/o"
wait_for r 'export failed: onnx: no --type to choose'
ok $? "a type the format refuses: the engine's one-line message"
[ ! -e "$tmp/o" ]
ok $? "and nothing is written"

# ---- export GGUF Q4_K_M; the gguf package reads it ----
answer r E "gguf q4_k_m $tmp/m.gguf"
wait_for r 'exported gguf q4_k_m: [0-9.]+MB, [0-9.]+ bpw'
ok $? "E exports the variant as GGUF Q4_K_M, with the size written"
answer r E "gguf q4_k_m $tmp/m.gguf"
wait_for r 'export: .*already exists'
ok $? "exporting over an existing file is refused without force"
answer r E "gguf q4_k_m $tmp/m.gguf force"
wait_for r 'exported gguf q4_k_m'
ok $? "force replaces it"
if "$py" -c 'import gguf' >/dev/null 2>&1; then
	"$py" - "$tmp/m.gguf" <<'EOF_PY'
import collections, sys
import gguf
r = gguf.GGUFReader(sys.argv[1])
types = collections.Counter(t.tensor_type.name for t in r.tensors)
arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
print("# %d tensors %s, architecture %s" % (len(r.tensors), dict(types), arch))
sys.exit(0 if arch == "llama" and len(r.tensors) == 39 and
         types["Q4_K"] > 0 and types["Q6_K"] > 0 else 1)
EOF_PY
	ok $? "the exported file loads in the gguf package with Q4_K and Q6_K tensors"
else
	skip_check "$py cannot import gguf (set TQ_PYTHON)"
fi

# ---- cancel a calibration and a quantization with Ctrl-C ----
answer r "1 c" "$calib 256 512"
wait_for r 'calibrate +[^ ]*.* [0-9]+/256 '
ask_cancel r
ok $? "Ctrl-C asks before cancelling"
keys r n
wait_gone r 'cancel the run\?'
# the status line comes back with the next progress tick, not with the keypress
wait_for r 'calibrate +[^ ]*.* [0-9]+/256 '
ok $? "n keeps the run going"
ask_cancel r y
wait_for r 'calibration cancelled'
ok $? "y cancels the calibration"
keys r r
wait_for r 'quantize +[^ ]*.*[0-9]+/[0-9]+ '
ask_cancel r y
wait_for r 'cancelled' &&
	wait_for r ' idle '
ok $? "y cancels the quantization; the workbench is idle again"
wait_for r '\| err sum [0-9.]+e-[0-9]+ \(28, #1\)'
ok $? "the browser shows variant #1's errors again, not the cancelled run's"
keys r 3
wait_for r ' log'
screen r | grep -q 'cancelled after'
ok $? "the log pane records the cancellations"

# ---- quit while running asks; quit ----
keys r r
wait_for r 'quantize +[^ ]*.*[0-9]+/[0-9]+ '
keys r q
wait_for r 'quit the workbench\? \(y/n\)'
ok $? "q during a run asks first"
keys r y
restored r
ok $? "quitting during a run restores the terminal"
screen r | grep -q 'EXIT=0'
ok $? "exit status 0"

# ---- signals ----
# sig NAME SIGNAL: opens a workbench and sends it SIGNAL.
sig() {
	start "$1" 80 24 -- &&
	wait_for "$1" 'demo \(llama, 4 blocks\)' 60 &&
	pid=$(T display -p -t "$1" '#{pane_pid}') &&
	tpid=$(pgrep -P "$pid" -f turboquant | head -1) &&
	[ -n "$tpid" ] && kill -"$2" "$tpid"
}
sig s TERM && restored s && screen s | grep -q 'EXIT=0'
ok $? "SIGTERM: a clean exit (status 0) with the terminal restored"
sig f SEGV && restored f &&
	screen f | grep -q 'fatal signal, terminal restored' &&
	screen f | grep -q 'EXIT=139'
ok $? "SIGSEGV: the terminal is restored before the crash (status 139)"

finish
