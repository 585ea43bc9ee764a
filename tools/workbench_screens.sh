#!/bin/sh
# workbench_screens.sh: captures each workbench screen at 80x24 (tmux
# capture-pane text) for docs/workbench.md, and with TQ_SMOLLM2_GGUF the
# detail of SmolLM2's block 11 down_proj.  Run from the build directory
# with the corpora in ../shared/data; prints Markdown code blocks.
set -u
top_srcdir=${top_srcdir:-.} top_builddir=${top_builddir:-.}
. "$top_srcdir/tests/tui_lib.sh"
calib=$shared/wikitext2-valid.txt
head -c 60000 "$shared/wikitext2-test.txt" >"$tmp/val.txt"

shot() {	# shot TITLE: one capture as a Markdown block
	printf '### %s\n\n```\n' "$1"
	screen w | sed 's/[[:space:]]*$//'
	printf '```\n\n'
}

start w 80 24 --
wait_for w 'blocks\)' 60 >/dev/null
shot "Layer browser (\`turboquant\`)"
keys w '?'; wait_for w 'Keys' >/dev/null
shot "Help overlay (\`?\`)"
keys w x
keys w p; text w w4-gptq; keys w Enter; wait_for w 'preset w4-gptq' >/dev/null
keys w /; text w down_proj; keys w Enter; wait_for w 'filter /down_proj' >/dev/null
keys w Space Space b b b; wait_for w '2 layers -> gptq int8-g128' >/dev/null
shot "Plan editing: the first two blocks' down_proj at 8 bits"
keys w x Escape g Enter
keys w c C-u; text w "$calib 128 512"; keys w Enter
wait_for w '\(live\).*tokens' >/dev/null
wait_for w 'calibrate .* (4[0-9]|5[0-9])/128' >/dev/null
shot "Layer detail while calibration runs (\`Enter\`, \`c\`)"
wait_for w 'calibrated in' >/dev/null
keys w Escape r
wait_for w 'quantize .* ([89]|1[0-9])/' >/dev/null
shot "Quantizing: per-layer errors fill the browser (\`r\`)"
wait_for w 'quantized in' >/dev/null
keys w 3
shot "Runs and log (\`3\`)"
keys w v C-u; text w "$tmp/val.txt 256"; keys w Enter
wait_for w '^ #1 .*%' >/dev/null
shot "Validation (\`v\`)"
keys w E C-u; text w "gguf q4_k_m $tmp/demo-q4_k_m.gguf"
wait_for w 'gptq_v2' >/dev/null
shot "Export dialog (\`E\`)"
keys w Enter
wait_for w 'exported' >/dev/null
keys w 3
shot "Export (\`E\`), in the log"
keys w t
wait_for w 'Lessons: j/k choose' >/dev/null
shot "Teaching: the lesson index (\`t\`)"
keys w Enter n n n n
wait_for w 'rms err' >/dev/null
shot "Teaching, lesson 1: one group step by step (\`Enter\`, \`n\` four times)"
keys w ']'
wait_for w 'int4-g32 ' >/dev/null
shot "Teaching, lesson 2: per tensor, per channel, per group"
keys w ']' n n
wait_for w 'g64 over g128' >/dev/null
shot "Teaching, lesson 3: what the scales cost, in bytes"
keys w ']'
wait_for w 'bits per weight over the quantized' >/dev/null
shot "Teaching, lesson 4: K-quants, bit widths mixed in a model"
keys w ']' n n n
wait_for w 'the least error' >/dev/null
shot "Teaching, lesson 5: microscaling floats"
keys w ']' n n n n n
wait_for w '5 of 12' >/dev/null
shot "Teaching, lesson 6: GPTQ against RTN, column by column"
keys w ']' n n
wait_for w 'RTN [0-9.e-]+; scaled' >/dev/null
shot "Teaching, lesson 7: AWQ's scales of the salient channels"
keys w ']' Enter
wait_for w 'size lesson done' >/dev/null
shot "Teaching, lesson 8: GPTQ or AWQ, g64 or g128, side by side (\`Enter\`)"
keys w ']' Enter C-u; text w "$shared"; keys w Enter
wait_for w 'domain lesson done' >/dev/null
shot "Teaching, lesson 9: domain mismatch, prose against code"
keys w q

# The real model, when there is one (TQ_SMOLLM2_GGUF): its massive activations.
gguf=${TQ_SMOLLM2_GGUF:-}
if [ -n "$gguf" ] && [ -f "$gguf" ]; then
	T kill-session -t w 2>/dev/null
	start w 80 24 -- tui "$gguf"
	wait_for w '30 blocks' 120 >/dev/null
	keys w c C-u; text w "$calib 4 128"; keys w Enter
	wait_for w 'calibrated in' >/dev/null
	keys w / C-u; text w '^11\.mlp\.down'; keys w Enter Enter
	wait_for w '^ outliers: [0-9]+ of 1536' >/dev/null
	shot "Layer detail on SmolLM2: block 11's massive activations"
	keys w q
fi
