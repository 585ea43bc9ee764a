#!/bin/sh
# tui_types.sh: the workbench's scheme picker (T), driven in tmux on the
# demo model: it lists the engine's grids in their groups with their bits
# per weight; iq4_xs, mxfp4 and nvfp4 picked for three layers show in the
# table with their bpw, and a calibrated quantization (r) gives each its
# error; an
# i-quant that needs an importance matrix is refused in one line, the
# plan unchanged; Esc closes without a change; `?` lists the picker's keys.
# On SmolLM2 (width 576) the picker marks the grids of blocks of 256 as not
# fitting and Enter on one refuses it for a folded block's layers.
# A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

# pick NAME SCHEME: moves the open picker's cursor (>) to SCHEME
pick() {
	p_i=0
	while [ $p_i -lt 60 ]; do
		screen "$1" | grep -Eq "> $2 " && return 0
		keys "$1" j
		sleep 0.1
		p_i=$((p_i + 1))
	done
	echo "# no $2 in the picker:"
	screen "$1" | sed 's/^/# | /'
	return 1
}

# row LAYER: the table's line of the layer
row() { screen t | grep -E "^ ?$1 " | head -1; }

start t 120 48 --
wait_for t 'demo \(llama, 4 blocks\)' 60
ok $? "the workbench opens on the demo"

keys t T
wait_for t 'scheme for 0\.attn\.q_proj \[256, 256\]' 20 &&
	screen t | grep -q 'integer groups' &&
	screen t | grep -q 'GGUF blocks' &&
	screen t | grep -q 'i-quants' &&
	screen t | grep -q 'FP4/FP8 microscaling' &&
	screen t | grep -Eq '> int4-g128 +4\.16 bpw  \(now\)' &&
	screen t | grep -Eq 'iq4_xs +4\.25 bpw' &&
	screen t | sed -n 48p | grep -q 'Enter apply Esc cancel'
ok $? "T opens the picker: the groups, each grid's bpw, the layer's own marked, its hint bar"

# picked LAYER SCHEME BPW: with the picker open on LAYER (the cursor's),
# SCHEME applied shows in the table at BPW
picked() {
	pick t "$2" && keys t Enter &&
		wait_for t "1 layer -> rtn $2" 20 &&
		row "0\\.attn\\.$1" | grep -Eq "rtn +$2 +blk +n +$3 "
	ok $? "$2 for 0.attn.$1: the table shows it at $3 bpw"
}
picked q_proj iq4_xs 4.25
keys t j T
picked k_proj mxfp4 4.25
keys t j T
picked v_proj nvfp4 4.50

# refused: RTN iq3_xxs without an importance matrix, as llama-quantize
keys t j T
pick t iq3_xxs && keys t Enter &&
	wait_for t 'refused \(in full on 3\): llama-quantize quantizes iq3_xxs only with an importance matrix' 20 &&
	row '0\.attn\.o_proj' | grep -Eq 'rtn +4 +128 +n +4\.16 '
ok $? "iq3_xxs without calibration is refused in one line; the layer keeps int4-g128"

keys t T
wait_for t 'scheme for 0\.attn\.o_proj' 20 && keys t j Escape &&
	wait_gone t 'scheme for' 20 &&
	row '0\.attn\.o_proj' | grep -Eq 'rtn +4 +128 +n +4\.16 '
ok $? "Esc closes the picker without a change"

keys t '?'
wait_for t 'Keys' 20 && keys t G &&
	wait_for t 'Scheme picker \(T\)' 20 &&
	screen t | grep -q 'close without a change' && keys t g &&
	wait_for t 'scheme picker: every grid of the engine' 20
ok $? "? lists the picker's keys"
keys t Escape

# calibrated, the quantization measures each layer's output error
answer t c "$shared/wikitext2-valid.txt 16 256"
wait_for t 'calibrated in' 120
ok $? "calibrated on 16 windows of wikitext2-valid.txt"
keys t r
wait_for t 'quantized in' 120
for l in q_proj k_proj v_proj; do
	row "0\\.attn\\.$l" | grep -Eq 'k +[0-9]+\.[0-9]+(e-?[0-9]+)?%? +[0-9-]+ *$'
	ok $? "after r, 0.attn.$l has its error: $(row "0\\.attn\\.$l")"
done

quits t 20
ok $? "q quits and restores the terminal"

# ---- SmolLM2: width 576 takes blocks of 32, not of 256 ----
need_smollm2
start s 100 34 -- tui "$gguf"
wait_for s '\(llama, 30 blocks\)' 120 && keys s T &&
	wait_for s 'scheme for 0\.attn\.q_proj \[576, 576\]' 20 &&
	screen s | grep -Eq 'iq4_xs +does not fit 576 columns' &&
	screen s | grep -Eq 'iq4_nl +4\.50 bpw'
ok $? "on SmolLM2 the picker marks what width 576 cannot take"
pick s iq4_xs && keys s Enter &&
	wait_for s 'iq4_xs needs a column count divisible by 256' 20 &&
	screen s | head -1 | grep -q 'plan: preset w4-rtn ' &&
	! screen s | head -1 | grep -q 'plan: preset w4-rtn \*'
ok $? "iq4_xs on block 0 (folded) is refused with the engine's reason, the plan unchanged"
keys s T
pick s iq4_nl && keys s Enter &&
	wait_for s '7 layers -> rtn iq4_nl' 20
ok $? "iq4_nl fits: block 0's 7 layers take it"
quits s 20
ok $? "q quits"

finish
