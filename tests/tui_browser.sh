#!/bin/sh
# tui_browser.sh: the workbench's layer browser, plan editing, help, layer
# detail and teaching screens, driven in tmux: `turboquant` alone opens the
# demo model; filter to down_proj; every block linear to GPTQ W4 g128 and
# the first two blocks' down_proj to 8 bits; save the plan, undo, load it
# back; resize; quit with the terminal restored; NO_COLOR.  A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

# ---- open the demo with no arguments, at 80x24 ----
start b 80 24 --
wait_for b 'demo \(llama, 4 blocks\)' 60
ok $? "turboquant with no arguments opens the demo model"
wait_for b '^ layer +shape +param +meth +bits +grp +sym +bpw +size +rel.err +outl'
ok $? "the browser shows every column"
screen b | grep -q '0.attn.q_proj *256x256 *66k rtn *4 *128 *n *4.16'
ok $? "rows show shape, parameters, method, bits, group, sym, bpw"
screen b | grep -Eq '^ fp16 10.2MB -> plan 5.8MB'
ok $? "the summary line shows fp16 and planned sizes"
fits b 80 24
ok $? "everything fits 80x24 with the hint bar on the last line"

# ---- help overlay ----
keys b '?'
wait_for b '─ Keys ─'
ok $? "? opens the help overlay"
keys b g
wait_for b '│ Everywhere +│'
ok $? "the help scrolls to its top (the keys every screen has)"
keys b Escape
wait_gone b '─ Keys ─'
ok $? "Esc closes the help"

# ---- every block linear to GPTQ W4 g128, by a pattern ----
keys b / ; text b 'layers'; keys b Enter
wait_for b 'filter /layers/: 28 of 30 layers'
ok $? "a filter by PCRE2 pattern shows the 28 block linears"
keys b a
wait_for b 'marked the 28 layers shown'
keys b = ; text b 'gptq int4-g128'; keys b Enter
wait_for b '28 layers -> gptq int4-g128'
ok $? "= sets every marked layer (the filter's pattern)"
keys b x

# ---- the first two blocks' down_proj to 8 bits ----
answer b / 'down_proj'
wait_for b 'filter /down_proj/: 4 of 30 layers'
ok $? "filter to down_proj"
[ "$(screen b | grep -c 'mlp.down_proj')" = 4 ] &&
	! screen b | grep -q 'q_proj'
ok $? "only the four down_proj rows are shown"
keys b Space Space
wait_for b '2 marked'
keys b b b b
wait_for b '2 layers -> gptq int8-g128'
ok $? "b cycles the marked layers' bits to 8"
screen b | grep -q '^\*0.mlp.down_proj .* gptq *8 *128 .* 8.19' &&
	screen b | grep -q '^\*1.mlp.down_proj .* gptq *8 *128 .* 8.19' &&
	screen b | grep -q '^ 2.mlp.down_proj .* gptq *4 *128 .* 4.16'
ok $? "blocks 0 and 1 down_proj at 8 bits, block 2 still 4"

# ---- save, undo, load ----
answer b S "$tmp/plan.json"
wait_for b "plan saved to $tmp/plan.json"
ok $? "S saves the plan"
"$tq" plan --plan "$tmp/plan.json" --json >"$tmp/plan.out" 2>&1 &&
	grep -q '"name":"model.layers.0.mlp.down_proj"[^}]*"method":"gptq","scheme":"int8-g128"' "$tmp/plan.out" &&
	grep -q '"name":"model.layers.2.mlp.down_proj"[^}]*"method":"gptq","scheme":"int4-g128"' "$tmp/plan.out" &&
	grep -q '"name":"model.layers.3.self_attn.q_proj"[^}]*"method":"gptq","scheme":"int4-g128"' "$tmp/plan.out"
ok $? "the saved plan resolves as edited in turboquant plan"
keys b u u u u
wait_for b 'undone \(0 more\)'
screen b | grep -q '^\*0.mlp.down_proj .* rtn *4 *128'
ok $? "undo four times goes back to the preset's setting"
keys b C-r
wait_for b 'redone'
screen b | grep -q '^\*0.mlp.down_proj .* gptq *4 *128'
ok $? "redo brings back an edit"
answer b L "$tmp/plan.json"
wait_for b "plan loaded from $tmp/plan.json"
screen b | grep -q '^\*0.mlp.down_proj .* gptq *8 *128' &&
	screen b | grep -q "plan: file"
ok $? "L loads the saved plan back"
answer b L "$tmp/nothere.json"
wait_for b 'nothere.json'
ok $? "loading a missing plan says so on the message line"

# ---- layer detail (no calibration yet) ----
keys b g Enter
wait_for b 'model.layers.0.mlp.down_proj \[256 x 768\]'
ok $? "Enter opens the layer detail"
screen b | grep -q 'weights -0' && screen b | grep -q 'grid of int8-g128 on row 0'
ok $? "the detail shows the weight histogram and the grid of the scheme"
screen b | grep -Eq '^ +int4 +[0-9.e-]+ +[0-9.e-]+ +[0-9.e-]+ +[0-9.e-]+'
ok $? "the detail shows candidate errors by bits x group"
keys b n
wait_for b 'columns 128-255'
ok $? "n moves the grid to the next group"
keys b Escape

# ---- resize and back ----
resized b 120 40
ok $? "the screen follows a resize to 120x40"
resized b 80 24
ok $? "and back to 80x24"

# ---- sort ----
keys b Escape o o o
wait_for b '\^meth|meth\^|\^ *meth'
ok $? "o sorts by the next column (marked in the header)"

# ---- quit ----
keys b q
restored b
ok $? "q quits with the terminal restored"
screen b | grep -q 'EXIT=0'
ok $? "exit status 0"

# ---- NO_COLOR and `turboquant tui MODEL` ----
start c 80 24 NO_COLOR=1 -- tui "$top_srcdir/assets/demo"
wait_for c 'demo \(llama, 4 blocks\)' 60
ok $? "turboquant tui MODEL opens the model (NO_COLOR set)"
[ "$(T capture-pane -e -p -t c | grep -c '\[3[0-7]m')" = 0 ]
ok $? "NO_COLOR: no colour escapes on the screen"
keys c C-c
wait_for c 'quit the workbench\? \(y/n\)'
ok $? "Ctrl-C asks before quitting"
keys c y
restored c
ok $? "y quits with the terminal restored"

# ---- a model whose widths the plan's groups do not divide ----
start f 100 30 -- tui "$top_srcdir/tests/data/models/llama"
wait_for f '0\.attn\.q_proj +64x64 .* rtn +4 +64! ' 60
ok $? "a layer whose group fell back is marked in the grp column (64!)"
keys f j j j j j j Enter
wait_for f 'model.layers.0.mlp.down_proj \[64 x 172\] +rtn int4 .* fell back: g128 does not divide 172'
ok $? "the detail says why: g128 does not divide 172 (per channel instead)"
keys f q y
restored f
ok $? "q y quits with the terminal restored"

# ---- bad model ----
"$tq" tui "$tmp/nothere" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
[ $rc = 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ]
ok $? "tui on a missing model: one line, exit 1 ($(cat "$tmp/err"))"

finish
