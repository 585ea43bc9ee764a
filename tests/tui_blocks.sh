#!/bin/sh
# tui_blocks.sh: the layer browser on models of many blocks, driven in
# tmux.  On the demo (4 blocks, open at 80x24): f folds the block under
# the cursor into one row and F every block; a folded row's totals are
# its layers' (parameters, bits per weight), its error is the worst of its
# layers' and names that layer's kind, its s= the sum of its layers'
# sensitivity (a table the command line saved, loaded on the mix screen);
# Enter opens a folded row; marks and edits on one go to its layers; a sort
# by error puts the worst block first; a filter leaving one layer of a
# block shows that layer; : goes to a block (a prompt with its hint bar,
# a refusal of a bad number); H shows the heat map of blocks by layer kind
# in shades with a legend, s switches it to sensitivity, Enter comes back
# on the cell's layer; in ASCII without colour too.  On SmolLM2 (30
# blocks; $TQ_SMOLLM2_GGUF, else those tests are skipped as
# tests/smollm2.sh does) at 80x24: folded by default, : 29, Enter, the
# heat map scrolling to block 29 and shading the errors of a quantization.
# A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

calib=$shared/wikitext2-valid.txt
[ -r "$calib" ] || skip_test "$calib is missing (the corpora in ../shared/data)"

# field NAME FIRST N: field N (awk's, NF-1 the error) of the row whose
# first field is FIRST.
field() {
	screen "$1" | awk -v f="$2" -v n="$3" '$1 == f { print $(n < 0 ?
	    NF + n : n); exit }'
}
# block_row NAME B: the folded row of block B ("▸ B ...", "+ B" in ASCII).
block_row() {
	screen "$1" | grep -E "^ (▸|\+) $2( max [a-z0-9.]+)? +(s=|[0-9]+ layers)"
}
# shaded NAME [CELLS]: how many rows of the heat map have every cell (7,
# or CELLS) shaded and their block's worst value.
shaded() {
	screen "$1" | grep -cE "^ +[0-9]+ ((░░|▒▒|▓▓|██|\\.\\.|::|\\*\\*|##) ){${2:-7}} [0-9.]+e-[0-9]+\$"
}

# The demo's sensitivity, as `turboquant plan` measures and saves it.
"$tq" --threads 2 plan --frontier --calib "$calib" --samples 4 --seqlen \
    128 --probe-tokens 256 --sensitivity "$tmp/sens.json" >/dev/null 2>&1
[ -s "$tmp/sens.json" ]
ok $? "the command line saves the demo's sensitivity"

# ---- the demo at 80x24: 4 blocks fit, so they are open ----
start b 80 24 --
wait_for b 'demo \(llama, 4 blocks\)' 60
screen b | grep -q '^ 0\.attn\.q_proj ' && ! screen b | grep -q 'folded'
ok $? "the demo's 4 blocks start open (they fit)"

keys b f
wait_for b '30 of 30 layers, 1 block folded' 20 &&
    block_row b 0 | grep -q ' 7 layers ' &&
    screen b | grep -q '^ 1\.attn\.q_proj '
ok $? "f folds the block under the cursor into one row"
keys b F
wait_for b '4 blocks folded' 20 && [ "$(screen b | grep -cE '^ ▸ [0-3] ')" = 4 ] &&
    screen b | grep -q '^ lm_head ' && fits b 80 24
ok $? "F folds every block: four rows, then lm_head and the embeddings"
keys b F
wait_for b '4 blocks opened' 20 && ! screen b | grep -q 'folded'
ok $? "F again opens them all"

# the totals of block 1's row: its layers' parameters and bits per weight
params=$(screen b | awk '$1 ~ /^1\./ { split($2, s, "x"); p += s[1] * s[2] }
    END { printf "%.0fk", p / 1000 }')
keys b j j j j j j j f
wait_for b '1 block folded' 20
row=$(block_row b 1)
echo "$row" | awk -v p="$params" '{ exit !($(NF - 8) == p && $(NF - 3) == "4.16") }'
ok $? "a folded row's parameters ($params) and bpw are its layers' ($row)"
keys b f
wait_for b '^ 1\.attn\.q_proj ' 20 && ! screen b | grep -q 'folded'
ok $? "f on a folded row opens it"

# ---- errors: calibrate, quantize; the worst of a block names its layer ----
answer b c "$calib 4 128"
wait_for b 'calibrated in'
keys b r
wait_for b 'quantized in'
ok $? "calibrated and quantized (w4-rtn)"
worst=$(screen b | awk '$1 ~ /^0\./ && $(NF - 1) ~ /e/ {
    if ($(NF - 1) + 0 > w) { w = $(NF - 1) + 0; e = $(NF - 1); k = $1 } }
    END { sub(/^0\.(attn|mlp)\./, "", k); sub(/_proj$/, "", k); print k, e }')
keys b F
wait_for b '4 blocks folded' 20
block_row b 0 | grep -q " 0 max ${worst% *} .* ${worst#* } "
ok $? "block 0's row: its worst error, ${worst#* }, and whose (${worst% *})"

# a sort by error, descending: the block with the worst error comes first
keys b o o o o o o o o O
wait_for b 'sort rel.err descending' 20
first=$(screen b | sed -n 3p)
best=$(screen b | awk '$2 ~ /^[0-3]$/ && $3 == "max" { print $(NF - 1) }' |
    sort -g | tail -n 1)
echo "$first" | grep -q " $best "
ok $? "a sort by error puts the worst block first ($best)"
keys b o o O
wait_for b 'no filter \| model order *$' 20

# ---- filter, marks and edits with folded blocks ----
answer b / 'down_proj'
wait_for b 'filter /down_proj/: 4 of 30' 20 &&
    [ "$(screen b | grep -c '^ [0-3]\.mlp\.down_proj ')" = 4 ]
ok $? "a filter leaving one layer of each folded block shows the layers"
answer b / '^1\.'
wait_for b 'filter /\^1\\\.\/: 7 of 30' 20 &&
    block_row b 1 | grep -q ' 7 layers ' && ! screen b | grep -q '^ 1\.attn'
ok $? "a filter leaving a block's 7 layers shows its one row"
keys b Escape
keys b g j j
keys b Space
wait_for b '7 marked' 20 && screen b | grep -q '^\*▸ 2 '
ok $? "space on a folded row marks its 7 layers (*)"
keys b x k Enter Space f
wait_for b '^~▸ 2 ' 20
ok $? "a folded row with some of its layers marked shows ~"
keys b x b
wait_for b '7 layers -> rtn int5-g128' 20 &&
    block_row b 2 | grep -Eq ' rtn +5 +128 ' &&
    block_row b 1 | grep -Eq ' rtn +4 +128 '
ok $? "b on a folded row sets its layers' bits, no other block's"
keys b u
wait_for b 'plan: preset w4-rtn +[1-7] ' 20

# ---- go to block ----
keys b :
wait_for b '^go to block:' 20 &&
    screen b | tail -n 1 | grep -q 'Enter apply Esc cancel \^U clear'
ok $? ": opens the go-to-block prompt with its hint bar"
text b 3 ; keys b Enter
wait_gone b '^go to block:' 20
keys b Space
wait_for b '^\*▸ 3 ' 20
ok $? "Enter goes to block 3 (space marks the cursor's row: block 3)"
keys b x k Enter
wait_for b '^ 3\.attn\.q_proj ' 20 && ! block_row b 3 >/dev/null
ok $? "Enter opens the folded block"
keys b Enter
wait_for b '^ (model\.layers\.)?3\.(self_)?attn\.q_proj \[256 x 256\]' 20
ok $? "and Enter on its first layer opens the detail"
keys b Escape : ; text b 9; keys b Enter
wait_for b 'go to block: "9" is not a block number \(0-3\)' 20
ok $? "a block that does not exist is refused in one line"

# ---- the detail's j/k open a folded block they reach ----
keys b g Enter
wait_for b '^ 0\.attn\.q_proj ' 20
keys b j j j j j j Enter
wait_for b '^ (model\.layers\.)?0\.mlp\.down_proj \[256 x 768\]' 20
keys b j
wait_for b '^ (model\.layers\.)?1\.(self_)?attn\.q_proj \[256 x 256\]' 20
ok $? "the detail's j from block 0's last layer: block 1's first, folded"
keys b k
wait_for b '^ (model\.layers\.)?0\.mlp\.down_proj \[256 x 768\]' 20
keys b Escape
wait_for b '30 of 30 layers, 1 block folded' 20 &&
    screen b | grep -q '^ 1\.attn\.q_proj '
ok $? "and k back; block 1 is open in the browser"

# ---- the heat map ----
keys b H
wait_for b 'heat map: relative error by block and layer kind' 20 &&
    screen b | grep -q '^ blk q  k  v  o  ga up dn  worst' &&
    [ "$(shaded b)" = 4 ]
ok $? "H: blocks by layer kind, every cell shaded, each block's worst"
screen b | grep -Eq '^ log scale: ░░ [0-9.e+-]+ +▒▒ [0-9.e+-]+ +▓▓ [0-9.e+-]+ +██ [0-9.e+-]+ +\.\.[0-9.e+-]+ +· +none'
ok $? "the legend gives each shade's lower bound and the largest"
keys b G l l l l l l
wait_for b '^ 3\.mlp\.down_proj  rel\.err [0-9.e+-]+' 20
ok $? "the cursor's cell is named with its error"
keys b Enter
wait_for b '^ 3\.mlp\.down_proj ' 20 && screen b | head -1 | grep -q '1 layers'
keys b Enter
wait_for b '^ (model\.layers\.)?3\.mlp\.down_proj \[256 x 768\]' 20
ok $? "Enter on a cell: the browser's cursor on that layer"
keys b Escape H s
wait_for b 'no sensitivity yet' 20
ok $? "s: no sensitivity yet, and how to get one"

# ---- the sensitivity: the folded rows' sums, the heat map by it ----
answer b "6 s" "$tmp/sens.json"
wait_for b ' points, [0-9]+ settings \| ' 20
keys b 1 F
wait_for b '4 blocks folded' 20
sum=$("$py" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("s=%.1e" % sum(l["probe_kld"] for l in d["layers"]
    if l["name"].startswith("model.layers.2.")))' "$tmp/sens.json")
wait_for b "^ (▸|\+) 2 .* $sum " 20
ok $? "a folded row's s= is its layers' summed sensitivity ($sum)"
keys b H
wait_for b 'heat map: sensitivity \(probe KLD' 20 && [ "$(shaded b)" = 4 ]
ok $? "the heat map by sensitivity"
keys b '?'
wait_for b '│ Heat map \(H on the browser\)' 20 &&
    screen b | grep -q 'shade by relative error or by sensitivity'
ok $? "? lists the heat map's keys"
keys b Escape
wait_gone b '─ Keys ─' 20
keys b Escape
wait_for b ' 1 layers$' 20
keys b '?' PgDn
wait_for b '│  f  +fold the block under the cursor' 20 &&
    screen b | grep -Eq '│  F  +fold every block' &&
    screen b | grep -Eq '│  :  +go to a block' &&
    screen b | grep -Eq '│  H  +heat map of blocks by layer kind'
ok $? "? lists f, F, : and H"
keys b Escape q
wait_for b '^quit the workbench\? \(y/n\)' 20
keys b y
restored b
ok $? "quit"

# ---- ASCII, no colour ----
start a 80 24 LANG=C LC_ALL=C NO_COLOR=1 --
wait_for a 'demo \(llama, 4 blocks\)' 60
answer a c "$calib 4 128"
wait_for a 'calibrated in'
keys a r
wait_for a 'quantized in'
keys a F
wait_for a '^ \+ 0 max [a-z]+ ' 20
ok $? "in ASCII a folded row is marked +"
keys a H
wait_for a 'heat map' 20 && [ "$(shaded a)" = 4 ] && ! screen a | grep -q '░' &&
    screen a | grep -Eq '^ log scale: \.\. .* :: .* \*\* .* ## '
ok $? "the heat map in ASCII shades without colour, with its legend"
keys a q y
restored a
ok $? "quit"

# ---- a mixture of experts: experts folded, a heat map of experts ----
m=$tmp/mixtral
mkdir -p "$m"
for f in config.json model.safetensors; do
	ln -s "$top_srcdir/tests/data/models/mixtral/$f" "$m/$f"
done
"$py" "$top_srcdir/tests/byte_tokenizer.py" "$m/tokenizer.json"
ok $? "the mixtral fixture, with a byte tokenizer"
start e 100 30 -- tui "$m"
wait_for e 'mixtral, 2 blocks' 60
keys e p ; text e 'w4-gptq'; keys e Enter
wait_for e 'plan: preset w4-gptq'
answer e c "$calib 8 32"
wait_for e 'calibrated in'
keys e r
wait_for e 'quantized in'
# (wider than the column from 100 tokens on: r=190)
routed=$(screen e |
    sed -n 's/^ ▸ 0\.e1 max w[123] *\(routed \|r=\)\([0-9]*\) .*/\2/p')
[ -n "$routed" ]
ok $? "an expert's row: its worst linear and the tokens routed to it ($routed)"
answer e / '^0\.e1\.'
wait_for e 'filter /' 20
keys e Enter
wait_for e '^ 0\.e1\.w1 ' 20
keys e Enter
wait_for e "routed $routed( \(used all\))? err " 20
ok $? "its linears' detail says the same count"
keys e Escape
wait_for e ' 1 layers$' 20
keys e Escape H
wait_for e 'heat map: relative error' 20 &&
    screen e | grep -q '^ blk q  k  v  o  e0 e1 e2 e3  worst' &&
    [ "$(shaded e 8)" = 2 ]
ok $? "the heat map of a mixture: q k v o, then each expert by block"
keys e q y
restored e
ok $? "quit"

# ---- SmolLM2 at 80x24: 30 blocks, folded by default ----
need_smollm2
start s 80 24 -- tui "$gguf"
wait_for s '\(llama, 30 blocks\)' 120 &&
    wait_for s '212 of 212 layers, 30 blocks folded' 20 &&
    block_row s 0 | grep -q ' 7 layers  3.5M ' && fits s 80 24
ok $? "SmolLM2 opens at 80x24 with its 30 blocks folded, one row each"
keys s : ; text s 12; keys s Enter
wait_gone s '^go to block:' 20 && [ "$(screen s | sed -n 3p | awk '{ print $2 }')" = 12 ]
ok $? ": 12 goes to block 12, at the top of the table"
keys s : ; text s 29; keys s Enter
wait_gone s '^go to block:' 20
keys s Space
wait_for s '^\*▸ 29 ' 20 && screen s | grep -q '^ lm_head '
ok $? ": 29 goes to the last block (marked by space: the cursor's row)"
keys s x k Enter
wait_for s '^ 29\.mlp\.down_proj +576x1536 ' 20 &&
    wait_for s '29 blocks folded' 20
ok $? "Enter opens it: its seven layers"
answer s c "$calib 2 64"
wait_for s 'calibrated in'
keys s r
wait_for s 'quantized in'
ok $? "calibrated and quantized SmolLM2 (w4-rtn)"
keys s H
wait_for s 'heat map: relative error' 20 && [ "$(shaded s)" -ge 15 ] &&
    screen s | grep -q '^ 29\.attn\.q_proj  rel\.err '
ok $? "H: the heat map of its blocks, each cell shaded, on block 29"
keys s g
wait_for s '^   0 (░░|▒▒|▓▓|██) ' 20 && ! screen s | grep -q '^  29 ' &&
    fits s 80 24
ok $? "g scrolls the heat map to block 0"
keys s G
wait_for s '^  29 (░░|▒▒|▓▓|██) ' 20 && ! screen s | grep -q '^   0 '
ok $? "G back to block 29"
keys s Escape
wait_for s ' 1 layers$' 20
answer s / 'down_proj'
wait_for s 'filter /down_proj/: 30 of 212' 20
keys s o o o o o o o o O
wait_for s '^ 30 of 212 layers, 29 folded \| filter /down_proj/ \| sort rel\.err descending$' 20 &&
    [ "$(screen s | grep -c '^ [0-9]*\.mlp\.down_proj ')" = 17 ]
ok $? "the view line with a filter and a sort: the folded blocks counted shortly"
keys s q y
restored s
ok $? "quit"
finish
