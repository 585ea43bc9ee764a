#!/bin/sh
# tui_lessons.sh: teaching mode as a presenter uses it, on the demo model in
# tmux at 80x24 and at 100x30: the lesson index (each lesson, what it needs,
# the layer that shows it, which g goes to); lesson 1 with every one of its
# 32 weights in sight at both sizes, the minimum and maximum it talks about
# among them, and the group as points on the grid's number line (a point a
# weight, the 16 levels, min, 0 and max named); the cost of the scales in
# bytes, checked against the bits per weight shown and concluded from the
# table; and no line of any lesson cut at the screen's edge.  A TAP test.
set -u
. "${top_srcdir:-.}/tests/tui_lib.sh"

# uncut NAME ROWS COLS: no line of the body reaches the last two columns,
# where a line that does not fit is cut (a block character counts once).
uncut() {
	screen "$1" | sed -n "2,$(($2 - 3))p" |
	LC_ALL=C sed 's/\xe2[\x80-\xbf][\x80-\xbf]/#/g' |
	awk -v w="$3" 'length($0) > w - 2 { print "# cut: " $0; bad = 1 }
		END { exit bad }'
}

# group NAME KIND: lesson 1's numbers of one kind (x, code, deq, err), one
# a line, in the order shown
group() {
	screen "$1" | awk -v k="$2" '
		$1 == "x" && $2 ~ /^[0-9]+-[0-9]+$/ {
			if (k == "x") for (i = 3; i <= NF; i++) print $i; next }
		$1 == k { for (i = 2; i <= NF; i++) print $i }'
}

# points NAME: the weights drawn on the number line ("*" one, a digit n)
points() {
	screen "$1" | sed -n 's/^ points  //p' | awk '{
		for (i = 1; i <= length($0); i++) {
			c = substr($0, i, 1)
			if (c == "*") n++; else if (c ~ /[2-9]/) n += c
		}
	} END { print n + 0 }'
}

# lesson1 NAME ROWS COLS: every weight of the group in sight, the min and
# max named on the number line among them, each code's dequantized value
# scale * (code - zero) and each error x - deq (where both are shown)
lesson1() {
	l_x=$(group "$1" x | wc -l) l_c=$(group "$1" code | wc -l)
	l_d=$(group "$1" deq | wc -l) l_e=$(group "$1" err | wc -l)
	echo "# $2x$3: $l_x values, $l_c codes, $l_d dequantized, $l_e errors"
	min=$(screen "$1" | sed -n 's/.* min \(-*[0-9.]*\) .*/\1/p')
	max=$(screen "$1" | sed -n 's/.* max \(-*[0-9.]*\).*/\1/p')
	scale=$(screen "$1" | sed -n 's/.*(max - min) \/ 15 = \([0-9.]*\).*/\1/p')
	zero=$(screen "$1" | sed -n 's/.*zero = round(-min \/ scale) = \([0-9]*\).*/\1/p')
	[ "$l_x" = 32 ] && [ "$(points "$1")" = 32 ] && [ -n "$min" ] &&
	[ -n "$max" ] && [ -n "$scale" ] && [ -n "$zero" ] &&
	{ [ "$min" = 0.0000 ] || group "$1" x | grep -qx -- "$min"; } &&
	{ [ "$max" = 0.0000 ] || group "$1" x | grep -qx -- "$max"; } &&
	[ "$(screen "$1" | grep '^ levels' | tr -cd '|' | wc -c)" = 16 ] &&
	group "$1" x >"$tmp/x" && group "$1" code >"$tmp/c" &&
	group "$1" deq >"$tmp/d" && group "$1" err >"$tmp/e" &&
	paste "$tmp/x" "$tmp/c" "$tmp/d" "$tmp/e" | awk -v s="$scale" \
	    -v z="$zero" -v nc="$l_c" -v nd="$l_d" -v ne="$l_e" '
		NF >= 2 && nc == 32 && nd == 32 {
			v = s * ($2 - z) - $3
			if (v > 0.00006 || v < -0.00006) bad = 1 }
		nd == 32 && ne == 32 { v = $1 - $3 - $4
			if (v > 0.00011 || v < -0.00011) bad = 1 }
		{ rows++ }
		END { exit bad || rows != 32 || (nc != 32 && nc != 0) }'
}

start t 80 24 --
wait_for t 'demo \(llama, 4 blocks\)' 60
ok $? "the demo model is open"
# ---- the index ----
keys t t
wait_for t 'Lessons: j/k choose, Enter opens'
ok $? "t opens the lesson index"
[ "$(screen t | grep -Ec '^ [ >][0-9] .* needs ')" -ge 6 ] &&
	screen t | grep -Eq '^ >1 one group, step by step +needs weights' &&
	screen t | grep -Eq '^     try [0-9]\.[a-z]+\.[a-z_]+: row 0.s first 32 have a weight [0-9.]+x their rms' &&
	screen t | grep -Eq 'GPTQ against RTN.* needs a calibration' &&
	screen t | grep -q 'needs a calibration: c first'
ok $? "the index lists the lessons, what each needs and its layer"
uncut t 24 80
ok $? "the index fits 80x24"
# g on a lesson of the index moves the browser to its layer
keys t j
wait_for t '^ >2 per tensor'
lay=$(screen t | sed -n 's/^     try \([^:]*\): its rows.*/\1/p')
keys t g
wait_for t "^ $lay: its rows' ranges differ"
keys t 2
blk=${lay%%.*} site=${lay##*.}
wait_for t "model\.layers\.$blk\.[a-z_]+\.$site \["
ok $? "g moves the browser to the lesson's layer ($lay)"
keys t 5
wait_for t 'Lessons: j/k choose'
keys t k Enter
wait_for t 'Lesson 1/[0-9]+: one group, step by step'
ok $? "Enter opens the lesson chosen"
# ---- lesson 1 at 80x24: every weight, the minimum, the number line ----
wait_for t 'row 0, columns 0-31 -> int4'
[ "$(group t x | wc -l)" = 32 ] && [ "$(points t)" = 32 ] &&
	screen t | grep -Eq '^ +min -?[0-9.]+ .* max [0-9.]+'
ok $? "step 1: the 32 weights, and as 32 points between min and max"
keys t n
wait_for t 'zero = round\(-min / scale\) = [0-9]+'
lesson1 t 24 80
ok $? "step 2: the 16 levels on the line; min and max are weights shown"
keys t n n
wait_for t 'step 4/5'
lesson1 t 24 80 && [ "$l_c" = 32 ] && [ "$l_d" = 32 ]
ok $? "step 4: every code and its value scale * (code - zero)"
uncut t 24 80
ok $? "step 4 fits 80x24"
keys t n
wait_for t 'rms err [0-9.]+ +max [0-9.]+ +SQNR [0-9.]+ dB, at 4.62 bits'
lesson1 t 24 80 && [ "$l_c" = 32 ] && [ "$l_e" = 32 ]
ok $? "step 5: every code and error at 80x24 (the error in deq's place)"
uncut t 24 80
ok $? "step 5 fits 80x24"
# ---- lesson 1 at 100x30: all four kinds at once ----
T resize-window -t t -x 100 -y 30
wait_for t 'rms err'
fits t 100 30 && lesson1 t 30 100 && [ "$l_c" = 32 ] && [ "$l_d" = 32 ] &&
	[ "$l_e" = 32 ]
ok $? "at 100x30 every value, code, dequantized value and error"
uncut t 30 100
ok $? "lesson 1 fits 100x30"
T resize-window -t t -x 80 -y 24
wait_for t 'rms err'
# ---- lesson 2, and 3: what the scales cost ----
keys t ']'
wait_for t 'Lesson 2/[0-9]+: per tensor'
wait_for t 'int4-g32 +one scale per 32'
uncut t 24 80
ok $? "lesson 2 fits 80x24"
keys t ']'
wait_for t 'Lesson 3/[0-9]+: what the scales cost, in bytes'
wait_for t 'int4-g32 +32 columns'
dims=$(screen t | sed -n 's/.* \[\([0-9]*\) x \([0-9]*\)\] at 4 bits.*/\1 \2/p')
# scheme, scales, bits each, bytes, share, bpw: bytes are the bpw's
screen t | awk -v d="$dims" '
	BEGIN { split(d, rc, " "); n = rc[1] * rc[2] }
	$1 ~ /^int4/ {
		b = $(NF - 2); bpw = $NF; sc = $(NF - 4); each = $(NF - 3)
		k++
		want = $1 == "int4-tensor" ? 1 : $1 == "int4" ? rc[1] : \
		    rc[1] * rc[2] / substr($1, 7)
		if (sc != want) bad = 1
		# the bpw has 2 decimals: bytes within half a unit of it
		if (b < (bpw - 4.005) * n / 8 - 1 || b > (bpw - 3.995) * n / 8 + 1) bad = 1
		if (sc * each / 8 - b > 1 || b - sc * each / 8 > 1) bad = 1
		sh = $(NF - 1); sub("%", "", sh)
		if (sh + 0 < last) bad = 1; last = sh + 0 }
	END { exit bad || k != 5 }'
ok $? "each scheme's scales, their bytes and share agree with its bpw ($dims)"
uncut t 24 80
ok $? "lesson 3 fits 80x24"
keys t n n
wait_for t 'g64 over g128: [0-9.]+x the bytes of scales for [0-9]+% less'
line=$(screen t | grep 'g64 over g128')
b128=$(screen t | awk '$1 == "int4-g128" && $3 == "columns" { print $(NF - 3) }')
b64=$(screen t | awk '$1 == "int4-g64" && $3 == "columns" { print $(NF - 3) }')
e128=$(screen t | awk '$1 == "int4-g128" && $3 == "columns" { print $NF }')
e64=$(screen t | awk '$1 == "int4-g64" && $3 == "columns" { print $NF }')
x=$(echo "$line" | sed -n 's/.*: \([0-9.]*\)x the bytes.*/\1/p')
pc=$(echo "$line" | sed -n 's/.* for \([0-9]*\)% less.*/\1/p')
echo "# $line ($b64 / $b128 bytes, errors $e64 and $e128)"
awk -v x="$x" -v p="$pc" -v b1="$b128" -v b2="$b64" -v e1="$e128" -v e2="$e64" 'BEGIN {
	r = b2 / b1; q = 100 * (1 - e2 / e1)
	exit !(e2 < e1 && x - r < 0.06 && r - x < 0.06 && p - q < 1.5 && q - p < 1.5) }'
ok $? "the conclusion is the table's: ${x}x the bytes for ${pc}% less error"
screen t | grep -Eq '^   int4-g128 +[0-9.]+[kM]?B of scales in +[0-9.]+[kM]?B = +[0-9.]+%'
ok $? "the model's bytes of scales at each scheme"
uncut t 24 80
ok $? "its last step fits 80x24"
# ---- K-quants: q4_k_m's types layer by layer, the command line's ----
keys t ']'
wait_for t 'Lesson 4/[0-9]+: K-quants: bit widths mixed in a model'
wait_for t '= [0-9.]+ bits per weight over the quantized layers'
uncut t 24 80
ok $? "the K-quant lesson fits 80x24"
"$tq" plan --preset q4_k_m >"$tmp/q4km.txt" 2>&1
# each block's types as the command line resolves them, in model order
for b in 0 1 2 3; do
	want=$(awk -v b="$b" '$1 ~ "^model\\.layers\\." b "\\." { printf "%s ", $6 }' "$tmp/q4km.txt")
	got=$(screen t | awk -v b="$b" '$1 == b && NF == 8 { for (i = 2; i <= NF; i++) printf "%s ", $i }')
	[ -n "$want" ] && [ "$want" = "$got" ] || { echo "# block $b: $got, not $want"; break; }
done
ok $? "every block's types are turboquant plan's ($(echo $want))"
avg=$(sed -n 's/.*, \([0-9.]*\) bits per weight on average.*/\1/p' "$tmp/q4km.txt")
shown=$(screen t | sed -n 's/^ = \([0-9.]*\) bits per weight over.*/\1/p')
awk -v a="$avg" -v b="$shown" 'BEGIN { exit !(a - b < 0.006 && b - a < 0.006) }'
ok $? "the average $shown bits per weight is turboquant plan's ($avg)"
keys t n
wait_for t 'q6_k over q4_k: \+[0-9.]+ bits per weight for [0-9.]+x less error'
screen t | awk '
	$1 ~ /^q[0-9]_(k|0)$/ && $2 ~ /^[0-9.]+$/ { b[$1] = $2; e[$1] = $3; n++ }
	/q6_k over q4_k/ { line = $0 }
	END {
		if (n != 6) exit 1
		split(line, w, " ")
		for (i in w) if (w[i] ~ /^\+/) d = substr(w[i], 2) + 0
		for (i in w) if (w[i] ~ /x$/) r = substr(w[i], 1, length(w[i]) - 1) + 0
		q = e["q4_k"] / e["q6_k"]
		exit !(d - (b["q6_k"] - b["q4_k"]) < 0.006 && r / q < 1.01 && q / r < 1.01 &&
		    e["q2_k"] > e["q3_k"] && e["q3_k"] > e["q4_k"] && e["q4_k"] > e["q6_k"])
	}'
ok $? "n: the layer under each type; the conclusion is the table's"
uncut t 24 80
ok $? "its second step fits 80x24"
# ---- microscaling floats: one block on three grids ----
keys t ']'
wait_for t 'Lesson 5/[0-9]+: microscaling floats'
keys t n n n
wait_for t 'the least error: [a-z0-9-]+ at [0-9.]+ bits per weight'
[ "$(screen t | grep -c '^ levels ')" = 3 ] &&
	screen t | grep -q '^ mxfp4: fp4 e2m1 values times 2^k' &&
	screen t | grep -q '^ nvfp4: fp4 e2m1 values times an fp8 e4m3 scale per 16'
ok $? "the block on int4's, mxfp4's and nvfp4's grids"
screen t | awk '
	$1 ~ /^(int4-g32|mxfp4|nvfp4)$/ && NF == 3 { e[$1] = $3; n++
		if (best == "" || $3 + 0 < e[best] + 0) best = $1 }
	/the least error:/ { for (i = 1; i <= NF; i++) if ($i == "error:") said = $(i + 1) }
	END { exit !(n == 3 && said == best) }'
ok $? "the least error it names is the table's"
sc=$(screen t | sed -n 's/^ mxfp4: .*(scale \([0-9.e-]*\))$/\1/p')
awk -v s="$sc" 'BEGIN { if (!(s > 0)) exit 1; l = log(s) / log(2)
	r = l - int(l); if (r < 0) r = -r
	exit !(r < 0.0001 || r > 0.9999) }'
ok $? "mxfp4's scale $sc is a power of two"
uncut t 24 80
ok $? "the microscaling lesson fits 80x24"
# ---- with a calibration: the index names layers, the lessons fit ----
keys t c C-u
text t "$shared/wikitext2-valid.txt 16 512"
keys t Enter
wait_for t 'calibrated in'
keys t i
wait_for t 'Lessons: j/k choose'
screen t | grep -A1 'GPTQ against RTN' | grep -Eq '^     try [0-9]\.[a-z]+\.[a-z_]+: .*(outlier input channels|largest input channel)'
ok $? "with a calibration the index names the GPTQ lesson's layer"
uncut t 24 80
ok $? "the index still fits"
keys t i ']'
wait_for t 'Lesson 6/[0-9]+: GPTQ against RTN'
wait_for t 'output error on 256 calibration tokens'
keys t n n n n n n n n n n n n
wait_for t '12 of 12 rounded'
uncut t 24 80
ok $? "the GPTQ lesson fits 80x24"
keys t ']' n n
wait_for t 'Lesson 7/[0-9]+: AWQ'
wait_for t 'RTN [0-9.]+e-[0-9]+; scaled, alpha'
uncut t 24 80
ok $? "the AWQ lesson fits 80x24"
# ---- the size lesson: GPTQ or AWQ, g64 or g128, six jobs on one layer ----
keys t ']' g
wait_for t 'Lesson 8/[0-9]+: GPTQ or AWQ, g64 or g128'
lay=$(screen t | sed -n 's/.*(g: \([^)]*\)).*/\1/p')
wait_for t "^ $lay \[[0-9]+ x [0-9]+\]: the engine's RTN, GPTQ and AWQ"
keys t Enter
wait_for t 'running 1/6: rtn int4-g128'
lesson_cancelled t size '1/6: rtn int4-g128  ' 'running 2/6'
ok $? "Ctrl-C y stops the size lesson at its first job"
keys t Enter
wait_for t 'running 1/6: rtn int4-g128'
ok $? "Enter quantizes the lesson's layer ($lay) six ways"
wait_for t 'size lesson done' && wait_for t 'same bytes: (more|less) than g64 buys'
ok $? "the six jobs end"
uncut t 24 80
ok $? "the size lesson fits 80x24"
dims=$(screen t | sed -n 's/.* \[\([0-9]*\) x \([0-9]*\)\]: the engine.*/\1 \2/p')
screen t | awk -v d="$dims" '
	BEGIN { split(d, rc, " ") }
	$1 ~ /^(rtn|gptq|awq)$/ && $2 ~ /^int4-g[0-9]+$/ {
		k = n++; m[k] = $1; g[k] = $2; bpw[k] = $3; by[k] = $4
		e[k] = $5; star[k] = ($7 == "*")
		if (by[k] < (bpw[k] - 0.005) * rc[1] * rc[2] / 8 - 1 ||
		    by[k] > (bpw[k] + 0.005) * rc[1] * rc[2] / 8 + 1) bad = 1 }
	END {
		if (n != 6 || bad) exit 1
		for (k = 0; k < 6; k++) {
			f = 1
			for (j = 0; j < 6; j++)
				if (j != k && by[j] <= by[k] && e[j] + 0 < e[k] + 0) f = 0
			if (f != star[k]) exit 1
		}
		# the same bytes at the same group, more at g64
		if (by[0] != by[2] || by[0] != by[4] || by[1] <= by[0]) exit 1
	}' || { screen t | sed 's/^/# | /'; false; }
ok $? "six ways of $dims: bytes from the bpw, * on exactly the frontier"
gq=$(screen t | awk '$1 == "gptq" && $2 == "int4-g128" { print $5 }')
rt=$(screen t | awk '$1 == "rtn" && $2 == "int4-g128" { print $5 }')
line=$(screen t | grep 'g64 for ')
ch=$(echo "$line" | sed -n 's/.* \([-+][0-9]*\)% rtn,.*/\1/p')
r64=$(screen t | awk '$1 == "rtn" && $2 == "int4-g64" { print $5 }')
awk -v a="$rt" -v b="$r64" -v c="$ch" 'BEGIN { q = 100 * (b / a - 1)
	exit !(c != "" && c - q < 1 && q - c < 1) }'
ok $? "the conclusion's g64 change for rtn ($ch%) is the table's ($r64 over $rt)"
# the gptq int4-g128 cell is the command line's on the same calibration
blk=${lay%%.*} site=${lay##*.}
cat >"$tmp/one.json" <<EOF
{"default": {"method": "float"}, "rules": [{"match": "layers\\\\.$blk\\\\.[a-z_]+\\\\.$site\$",
  "method": "gptq", "scheme": "int4-g128"}]}
EOF
"$tq" quantize --plan "$tmp/one.json" --calib "$shared/wikitext2-valid.txt" \
	--samples 16 --seqlen 512 --out "$tmp/one" >"$tmp/one.txt" 2>&1
cli=$(grep -E ' gptq +int4-g128 ' "$tmp/one.txt" | sed -n 's/.*rel\.err \([0-9.e+-]*\).*/\1/p')
echo "# $lay gptq int4-g128: $gq here, $cli by turboquant quantize"
awk -v a="$gq" -v b="$cli" 'BEGIN { exit !(b > 0 && a / b < 1.002 && b / a < 1.002) }'
ok $? "its gptq int4-g128 error is turboquant quantize's"
keys t 1
wait_for t 'rel.err'
! screen t | grep -Eq '^[ *][0-9]\.(attn|mlp)\.[a-z_]+ .* [0-9]\.[0-9][0-9]e-[0-9][0-9] ' &&
	screen t | grep -q 'variants: 0' && screen t | head -1 | grep -Eq 'plan: preset w4-rtn +1 layers'
ok $? "the lesson left the plan, the layer table's errors and the variants alone"
keys t 5 ']'
wait_for t 'Lesson 9/[0-9]+: domain mismatch'
uncut t 24 80
ok $? "the domain lesson fits 80x24"
keys t q
restored t
ok $? "quit restores the terminal"

finish
