/*
 * quant.c: quantization schemes and grids: scheme names, bits per weight,
 * the INT, FP8 (e4m3fn) and NF4 grids with their parameter and clip
 * searches, quantized tensors, and round-to-nearest.  The GGUF block
 * types live in quant_gguf.c; this file dispatches to them.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "par.h"
#include "quant.h"
#include "quant_fp4.h"
#include "quant_gguf.h"
#include "tensor.h"

#define FP8_MAX 448.0f
#define FP8_NQ 126		/* largest finite e4m3fn magnitude index */
#define CLIP_STEPS 11		/* shrink 1.0, 0.95, ..., 0.5 */
#define INT_REFIT_ITERS 4	/* least-squares refits of an INT block */

/* ---- Scheme names --------------------------------------------------- */

static const struct {
	const char *name;
	tq_qtype type;
	int bits;
} gguf_names[] = {
	{ "q4_0", TQ_QT_Q4_0, 4 },
	{ "q4_1", TQ_QT_Q4_1, 4 },
	{ "q5_0", TQ_QT_Q5_0, 5 },
	{ "q5_1", TQ_QT_Q5_1, 5 },
	{ "q8_0", TQ_QT_Q8_0, 8 },
	{ "q2_k", TQ_QT_Q2_K, 2 },
	{ "q3_k", TQ_QT_Q3_K, 3 },
	{ "q4_k", TQ_QT_Q4_K, 4 },
	{ "q5_k", TQ_QT_Q5_K, 5 },
	{ "q6_k", TQ_QT_Q6_K, 6 },
	{ "iq4_nl", TQ_QT_IQ4_NL, 4 },
	{ "iq4_xs", TQ_QT_IQ4_XS, 4 },
	{ "mxfp4", TQ_QT_MXFP4, 4 },
	{ "nvfp4", TQ_QT_NVFP4, 4 },
	{ "iq3_xxs", TQ_QT_IQ3_XXS, 3 },
	{ "iq3_s", TQ_QT_IQ3_S, 3 },
	{ "iq2_xxs", TQ_QT_IQ2_XXS, 2 },
	{ "iq2_xs", TQ_QT_IQ2_XS, 2 },
	{ "iq2_s", TQ_QT_IQ2_S, 2 },
	{ "iq1_s", TQ_QT_IQ1_S, 1 },
	{ "iq1_m", TQ_QT_IQ1_M, 1 },
};
#define N_GGUF_NAMES (sizeof(gguf_names) / sizeof(gguf_names[0]))

#define ACCEPTED "intB[-gG|-channel|-tensor][-sym] (B = 2..8, " \
	"G = 32, 64, 128 or 256), fp8[-channel|-block128], mxfp8, " \
	"nf4[-gG], q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, " \
	"q6_k, iq4_nl, iq4_xs, mxfp4, nvfp4[-pow2|-unit], iq3_xxs, iq3_s, " \
	"iq2_xxs, " \
	"iq2_xs, iq2_s, iq1_s or iq1_m"

/* NVFP4's tensor-scale suffixes, by tq_nv_scale. */
static const char *const nv_suffix[] = { "", "-pow2", "-unit" };
#define N_NV_SCALES (sizeof(nv_suffix) / sizeof(nv_suffix[0]))

/* The scheme name of a GGUF type ("iq3_s"). */
static const char *
gguf_name(tq_qtype t)
{
	size_t i;

	for (i = 0; i < N_GGUF_NAMES; i++)
		if (gguf_names[i].type == t)
			return gguf_names[i].name;
	return "?";
}

const char *
tq_scheme_table_name(size_t i)
{
	return i < N_GGUF_NAMES ? gguf_names[i].name : NULL;
}

/* FP8 with one scale per group x group tile (fp8-block128). */
static int
tiled(const tq_scheme *s)
{
	return s->type == TQ_QT_FP8_E4M3 && s->group == TQ_FP8_TILE;
}

/* FP8 in rows' blocks of 32 with power-of-two (E8M0) scales: mxfp8. */
static int
mx8(const tq_scheme *s)
{
	return s->type == TQ_QT_FP8_E4M3 && s->group == TQ_MXFP8_QK;
}

int
tq_quant_mxfp8(const tq_scheme *s)
{
	return mx8(s);
}

int
tq_quant_tiled(const tq_scheme *s)
{
	return tiled(s);
}

/* A fixed-block type: GGUF or microscaling FP4. */
static int
blocky(tq_qtype t)
{
	return tq_gguf_is(t) || tq_fp4_is(t);
}

static int
blk_qk(tq_qtype t)
{
	return tq_fp4_is(t) ? tq_fp4_qk(t) : tq_gguf_qk(t);
}

static int
group_ok(int g)
{
	return g == 32 || g == 64 || g == 128 || g == 256;
}

/* Parses "-gN" digits; 0 when malformed. */
static int
parse_group(const char *tok)
{
	long g = 0;
	const char *p;

	if (tok[0] != 'g' || tok[1] == '\0')
		return 0;
	for (p = tok + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || g > 100000)
			return 0;
		g = g * 10 + (*p - '0');
	}
	return (int)g;
}

/*
 * The options after "intB", "fp8" or "nf4": opts is empty or "-tok-tok",
 * with at most one granularity (-gG, -channel, -tensor) and, for INT, a
 * final -sym.
 */
static tq_status
parse_options(const char *orig, char *opts, tq_scheme *s, tq_error *err)
{
	int have_group = 0, have_sym = 0;
	char *tok = opts;

	while (*tok != '\0') {
		char *end;
		int g;

		if (*tok != '-' || tok[1] == '\0' || tok[1] == '-')
			return tq_fail(err, TQ_EINVAL, "quantization scheme "
			    "\"%s\": empty option; accepted: %s", orig,
			    ACCEPTED);
		tok++;
		end = strchr(tok, '-');
		if (end != NULL)
			*end = '\0';
		if (strcmp(tok, "sym") == 0 && s->type == TQ_QT_INT &&
		    !have_sym) {
			have_sym = s->sym = 1;
		} else if (have_group || have_sym) {
			goto bad;
		} else if (strcmp(tok, "channel") == 0 &&
		    s->type != TQ_QT_NF4) {
			s->group = TQ_GROUP_CHANNEL;
			have_group = 1;
		} else if (strcmp(tok, "tensor") == 0 &&
		    s->type != TQ_QT_NF4) {
			s->group = TQ_GROUP_TENSOR;
			have_group = 1;
		} else if (strcmp(tok, "block128") == 0 &&
		    s->type == TQ_QT_FP8_E4M3) {
			s->group = TQ_FP8_TILE;
			have_group = 1;
		} else if (tok[0] == 'g' && s->type != TQ_QT_FP8_E4M3) {
			g = parse_group(tok);
			if (!group_ok(g))
				return tq_fail(err, TQ_EINVAL, "quantization "
				    "scheme \"%s\": group size \"%s\" is not "
				    "32, 64, 128 or 256", orig, tok + 1);
			s->group = g;
			have_group = 1;
		} else {
			goto bad;
		}
		if (end == NULL)
			break;
		*end = '-';
		tok = end;
	}
	return TQ_OK;
bad:
	return tq_fail(err, TQ_EINVAL, "quantization scheme \"%s\": "
	    "unexpected \"-%s\"; accepted: %s", orig, tok, ACCEPTED);
}

tq_status
tq_scheme_parse(const char *name, tq_scheme *out, tq_error *err)
{
	char buf[64];
	tq_scheme s;
	size_t i, n;

	if (name == NULL)
		name = "";
	n = strlen(name);
	if (n == 0 || n >= sizeof(buf))
		goto unknown;
	for (i = 0; i <= n; i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	memset(&s, 0, sizeof(s));

	for (i = 0; i < N_GGUF_NAMES; i++) {
		if (strcmp(buf, gguf_names[i].name) == 0) {
			s.type = gguf_names[i].type;
			s.bits = gguf_names[i].bits;
			s.group = blk_qk(s.type);
			*out = s;
			return TQ_OK;
		}
	}
	for (i = 1; i < N_NV_SCALES; i++) {
		if (strncmp(buf, "nvfp4", 5) == 0 &&
		    strcmp(buf + 5, nv_suffix[i]) == 0) {
			s.type = TQ_QT_NVFP4;
			s.bits = 4;
			s.group = blk_qk(s.type);
			s.nv_scale = (int)i;
			*out = s;
			return TQ_OK;
		}
	}
	if (strncmp(buf, "int", 3) == 0 && isdigit((unsigned char)buf[3])) {
		char *p = buf + 3;
		long bits = 0;

		while (isdigit((unsigned char)*p) && bits < 1000)
			bits = bits * 10 + (*p++ - '0');
		if (isdigit((unsigned char)*p) || bits < 2 || bits > 8)
			return tq_fail(err, TQ_EINVAL, "quantization scheme "
			    "\"%s\": integer bits must be 2..8", name);
		if (*p != '\0' && *p != '-')
			goto unknown;
		s.type = TQ_QT_INT;
		s.bits = (int)bits;
		s.group = TQ_GROUP_CHANNEL;
		if (parse_options(name, p, &s, err) != TQ_OK)
			return err != NULL ? err->status : TQ_EINVAL;
	} else if (strncmp(buf, "fp8", 3) == 0 &&
	    (buf[3] == '\0' || buf[3] == '-')) {
		s.type = TQ_QT_FP8_E4M3;
		s.bits = 8;
		s.group = TQ_GROUP_TENSOR;
		if (parse_options(name, buf + 3, &s, err) != TQ_OK)
			return err != NULL ? err->status : TQ_EINVAL;
	} else if (strcmp(buf, "mxfp8") == 0) {
		s.type = TQ_QT_FP8_E4M3;
		s.bits = 8;
		s.group = TQ_MXFP8_QK;
	} else if (strncmp(buf, "nf4", 3) == 0 &&
	    (buf[3] == '\0' || buf[3] == '-')) {
		s.type = TQ_QT_NF4;
		s.bits = 4;
		s.group = 64;
		if (parse_options(name, buf + 3, &s, err) != TQ_OK)
			return err != NULL ? err->status : TQ_EINVAL;
	} else {
		goto unknown;
	}
	*out = s;
	return TQ_OK;
unknown:
	return tq_fail(err, TQ_EINVAL, "unknown quantization scheme \"%s\"; "
	    "accepted: %s (case-insensitive)", name, ACCEPTED);
}

void
tq_scheme_name(const tq_scheme *s, char *buf, size_t len)
{
	size_t i;

	if (len == 0)
		return;
	switch (s->type) {
	case TQ_QT_INT:
		if (s->group > 0)
			snprintf(buf, len, "int%d-g%d%s", s->bits, s->group,
			    s->sym ? "-sym" : "");
		else
			snprintf(buf, len, "int%d%s%s", s->bits,
			    s->group == TQ_GROUP_TENSOR ? "-tensor" : "",
			    s->sym ? "-sym" : "");
		return;
	case TQ_QT_FP8_E4M3:
		if (mx8(s))
			snprintf(buf, len, "mxfp8");
		else if (s->group > 0)
			snprintf(buf, len, "fp8-block%d", s->group);
		else
			snprintf(buf, len, "%s", s->group == TQ_GROUP_CHANNEL ?
			    "fp8-channel" : "fp8");
		return;
	case TQ_QT_NF4:
		if (s->group == 64)
			snprintf(buf, len, "nf4");
		else
			snprintf(buf, len, "nf4-g%d", s->group);
		return;
	default:
		for (i = 0; i < N_GGUF_NAMES; i++) {
			if (gguf_names[i].type == s->type) {
				snprintf(buf, len, "%s%s", gguf_names[i].name,
				    s->type == TQ_QT_NVFP4 && s->nv_scale > 0 &&
				    (size_t)s->nv_scale < N_NV_SCALES ?
				    nv_suffix[s->nv_scale] : "");
				return;
			}
		}
		snprintf(buf, len, "?");
		return;
	}
}

/* Whether the fields of s make sense (callers may build one by hand). */
static int
scheme_valid(const tq_scheme *s)
{
	if (s->nv_scale != 0 && s->type != TQ_QT_NVFP4)
		return 0;
	switch (s->type) {
	case TQ_QT_INT:
		return s->bits >= 2 && s->bits <= 8 &&
		    (s->group == TQ_GROUP_TENSOR ||
		    s->group == TQ_GROUP_CHANNEL || group_ok(s->group));
	case TQ_QT_FP8_E4M3:
		return s->group == TQ_GROUP_TENSOR ||
		    s->group == TQ_GROUP_CHANNEL || s->group == TQ_FP8_TILE ||
		    s->group == TQ_MXFP8_QK;
	case TQ_QT_NF4:
		return group_ok(s->group);
	case TQ_QT_NVFP4:
		return s->nv_scale >= 0 && (size_t)s->nv_scale < N_NV_SCALES;
	default:
		return blocky(s->type);
	}
}

tq_status
tq_scheme_check(const tq_scheme *s, int64_t rows, int64_t cols,
    tq_error *err)
{
	char name[32];
	int64_t qk;

	if (!scheme_valid(s))
		return tq_fail(err, TQ_EINVAL, "invalid quantization scheme "
		    "(type %d, %d bits, group %d); accepted: %s", (int)s->type,
		    s->bits, s->group, ACCEPTED);
	tq_scheme_name(s, name, sizeof(name));
	if (rows < 1 || cols < 1)
		return tq_fail(err, TQ_EINVAL, "%s cannot quantize an empty "
		    "[%lld, %lld] weight", name, (long long)rows,
		    (long long)cols);
	if (rows > INT64_MAX / cols || (uint64_t)(rows * cols) > SIZE_MAX / 4)
		return tq_fail(err, TQ_EINVAL, "%s: a [%lld, %lld] weight is "
		    "too large", name, (long long)rows, (long long)cols);
	if (blocky(s->type)) {
		qk = blk_qk(s->type);
		if (cols % qk != 0)
			return tq_fail(err, TQ_EINVAL, "%s needs a column "
			    "count divisible by %lld; the weight is "
			    "[%lld, %lld]%s", name, (long long)qk,
			    (long long)rows, (long long)cols, cols % 32 == 0 ?
			    " (blocks of 32 fit: q4_0, q4_1, q5_0, q5_1, q8_0)" :
			    "");
	} else if (s->group > 0 && cols % s->group != 0 && !tiled(s)) {
		/* tiles: partial ones at the edges, as DeepSeek-V3's */
		char fit[64] = "";
		size_t k = 0;
		int g;

		/* What the user can pick instead. */
		for (g = 256; g >= 32; g /= 2)
			if (cols % g == 0)
				k += (size_t)snprintf(fit + k, sizeof(fit) - k,
				    "%d, ", g);
		if (s->type == TQ_QT_INT)
			snprintf(fit + k, sizeof(fit) - k, "channel");
		else if (k > 0)
			fit[k - 2] = '\0';
		return tq_fail(err, TQ_EINVAL, "%s: group size %d does not "
		    "divide the %lld columns of the [%lld, %lld] weight "
		    "(groups that fit: %s)", name, s->group, (long long)cols,
		    (long long)rows, (long long)cols, fit[0] != '\0' ? fit :
		    "none");
	}
	return TQ_OK;
}

/*
 * Bits per weight, counting what an exporter writes: GGUF types as ggml
 * does (block bytes * 8 / block size, fp16 scales included: q4_k = 4.5);
 * INT: bits, plus a 16-bit (fp16) scale and, when asymmetric, a bits-wide
 * zero point per group, channel (row) or tensor, e.g. int4-g128 =
 * 4 + (16 + 4) / 128; FP8: 8 plus a 32-bit scale per channel or tensor
 * (kept in fp32, see quant.h); NF4: 4 plus a 32-bit absmax per block, as
 * bitsandbytes stores it without double quantization (nf4 = 4.5).
 */
double
tq_scheme_bpw(const tq_scheme *s, int64_t rows, int64_t cols)
{
	double per;

	if (!scheme_valid(s) || rows < 1 || cols < 1)
		return 0.0;
	if (tq_gguf_is(s->type))
		return 8.0 * (double)tq_gguf_block_bytes(s->type) /
		    tq_gguf_qk(s->type);
	if (tq_fp4_is(s->type))	/* NVFP4: plus its fp32 G */
		return 8.0 * (double)tq_fp4_block_bytes(s->type) /
		    tq_fp4_qk(s->type) + (s->type == TQ_QT_NVFP4 ?
		    32.0 / ((double)rows * (double)cols) : 0.0);
	if (mx8(s))		/* an 8-bit E8M0 scale per 32 */
		return 8.0 + 8.0 / TQ_MXFP8_QK;
	if (tiled(s))		/* a 32-bit scale per tile, partial ones too */
		return 8.0 + 32.0 * (double)((rows + s->group - 1) / s->group) *
		    (double)((cols + s->group - 1) / s->group) /
		    ((double)rows * (double)cols);
	per = s->group > 0 ? (double)s->group :
	    s->group == TQ_GROUP_CHANNEL ? (double)cols :
	    (double)rows * (double)cols;
	switch (s->type) {
	case TQ_QT_INT:
		return s->bits + (16.0 + (s->sym ? 0 : s->bits)) / per;
	case TQ_QT_FP8_E4M3:
		return 8.0 + 32.0 / per;
	case TQ_QT_NF4:
		return 4.0 + 32.0 / per;
	default:
		return 0.0;
	}
}

/* ---- Tables --------------------------------------------------------- */

/* e4m3fn magnitude of bit pattern p (0..126): subnormal below 8. */
#define E(p) ((p) < 8 ? (float)(p) / 512.0f : \
	(float)(8 + ((p) & 7)) * (float)(1 << ((p) >> 3)) / 1024.0f)
#define P8(b) E(b), E(b + 1), E(b + 2), E(b + 3), E(b + 4), E(b + 5), \
	E(b + 6), E(b + 7)
#define N8(b) -E(b + 7), -E(b + 6), -E(b + 5), -E(b + 4), -E(b + 3), \
	-E(b + 2), -E(b + 1), -E(b)

/* Every finite e4m3fn value, ascending: q in [-126, 126] at q + 126. */
static const float fp8_table[2 * FP8_NQ + 1] = {
	-E(126), -E(125), -E(124), -E(123), -E(122), -E(121), -E(120),
	N8(112), N8(104), N8(96), N8(88), N8(80), N8(72), N8(64),
	N8(56), N8(48), N8(40), N8(32), N8(24), N8(16), N8(8),
	-E(7), -E(6), -E(5), -E(4), -E(3), -E(2), -E(1),
	0.0f,
	E(1), E(2), E(3), E(4), E(5), E(6), E(7),
	P8(8), P8(16), P8(24), P8(32), P8(40), P8(48), P8(56),
	P8(64), P8(72), P8(80), P8(88), P8(96), P8(104), P8(112),
	E(120), E(121), E(122), E(123), E(124), E(125), E(126),
};
static_assert(sizeof(fp8_table) == 253 * sizeof(float), "253 values");

#undef N8
#undef P8
#undef E

/* The NormalFloat4 levels of QLoRA, as bitsandbytes' kernels hold them. */
#define NF4_0 -1.0f
#define NF4_1 -0.6961928009986877f
#define NF4_2 -0.5250730514526367f
#define NF4_3 -0.39491748809814453f
#define NF4_4 -0.28444138169288635f
#define NF4_5 -0.18477343022823334f
#define NF4_6 -0.09105003625154495f
#define NF4_7 0.0f
#define NF4_8 0.07958029955625534f
#define NF4_9 0.16093020141124725f
#define NF4_10 0.24611230194568634f
#define NF4_11 0.33791524171829224f
#define NF4_12 0.44070982933044434f
#define NF4_13 0.5626170039176941f
#define NF4_14 0.7229568362236023f
#define NF4_15 1.0f

static const float nf4_table[16] = {
	NF4_0, NF4_1, NF4_2, NF4_3, NF4_4, NF4_5, NF4_6, NF4_7,
	NF4_8, NF4_9, NF4_10, NF4_11, NF4_12, NF4_13, NF4_14, NF4_15,
};

/* bitsandbytes' decision thresholds: the midpoints of adjacent levels. */
static const float nf4_mid[15] = {
	(NF4_0 + NF4_1) / 2, (NF4_1 + NF4_2) / 2, (NF4_2 + NF4_3) / 2,
	(NF4_3 + NF4_4) / 2, (NF4_4 + NF4_5) / 2, (NF4_5 + NF4_6) / 2,
	(NF4_6 + NF4_7) / 2, (NF4_7 + NF4_8) / 2, (NF4_8 + NF4_9) / 2,
	(NF4_9 + NF4_10) / 2, (NF4_10 + NF4_11) / 2, (NF4_11 + NF4_12) / 2,
	(NF4_12 + NF4_13) / 2, (NF4_13 + NF4_14) / 2, (NF4_14 + NF4_15) / 2,
};

uint8_t
tq_fp8_e4m3_bits(uint8_t code)
{
	int q = (int)code - FP8_NQ;

	if (q > FP8_NQ)
		q = FP8_NQ;
	return (uint8_t)(q >= 0 ? q : 0x80 | -q);
}

float
tq_fp8_e4m3_value(uint8_t bits)
{
	int p = bits & 0x7f;

	if (p == 0x7f)
		return NAN;
	return bits & 0x80 ? -fp8_table[FP8_NQ + p] : fp8_table[FP8_NQ + p];
}

/* ---- Activations ---------------------------------------------------- */

/*
 * x[n] (rows of whole blocks) as ggml quantizes a matmul's input:
 * quantize_row_q8_K_ref (d = max / -127 with max the signed value of
 * largest magnitude, q = nearest_int(x / d) capped at 127), x86's
 * quantize_row_q8_0 and _q8_1 (d = amax / 127 stored as fp16,
 * q = x * (127 / amax) rounded half to even), or a conversion to fp16 /
 * bf16.  For Q8_1, s[n / 32] (when not NULL) gets each block's
 * fp16(d * sum q) - fp16(d) * sum q: ggml multiplies a Q4_1 / Q5_1 block's
 * minimum by fp16(d * sum q), not by the sum of the rounded inputs.
 */
static void
actq_ggml(tq_actq_mode mode, float *x, int64_t n, float *s)
{
	int64_t i, j, qk = mode == TQ_ACTQ_GGML_Q8_K ? 256 : 32;

	if (mode == TQ_ACTQ_GGML_F16 || mode == TQ_ACTQ_GGML_BF16) {
		for (i = 0; i < n; i++)
			x[i] = mode == TQ_ACTQ_GGML_F16 ?
			    tq_f16_to_f32(tq_f32_to_f16(x[i])) :
			    tq_bf16_to_f32(tq_f32_to_bf16(x[i]));
		return;
	}
	for (i = 0; i + qk <= n; i += qk) {
		float *b = x + i, amax = 0.0f, max = 0.0f;

		for (j = 0; j < qk; j++)
			if (fabsf(b[j]) > amax) {
				amax = fabsf(b[j]);
				max = b[j];
			}
		if (amax == 0.0f) {
			memset(b, 0, (size_t)qk * sizeof(float));
			if (s != NULL && mode == TQ_ACTQ_GGML_Q8_1)
				s[i / qk] = 0.0f;
			continue;
		}
		if (mode == TQ_ACTQ_GGML_Q8_K) {
			float iscale = -127.0f / max;

			for (j = 0; j < qk; j++) {
				int q = tq_round_even(iscale * b[j]);

				b[j] = (float)(q < 127 ? q : 127) / iscale;
			}
		} else {
			float d = amax / 127.0f, id = 127.0f / amax;
			float dh = tq_f16_to_f32(tq_f32_to_f16(d)), sum = 0.0f;

			for (j = 0; j < qk; j++) {
				float q = nearbyintf(b[j] * id);

				sum += q;
				b[j] = dh * q;
			}
			if (mode == TQ_ACTQ_GGML_Q8_1 && s != NULL)
				s[i / qk] = tq_f16_to_f32(tq_f32_to_f16(d *
				    sum)) - dh * sum;
		}
	}
}

void
tq_actq_q8_1(float *x, int64_t n, float *s)
{
	actq_ggml(TQ_ACTQ_GGML_Q8_1, x, n, s);
}

void
tq_actq_apply(const tq_actq *a, float *x, int64_t n, int64_t C)
{
	/* The e4m3fn values as a grid of unit scale. */
	const tq_grid fp8 = { 1.0f, 0.0f, -FP8_NQ, FP8_NQ, fp8_table };
	int64_t r, c;

	if (a->mode == TQ_ACTQ_FP8_STATIC) {
		float inv = a->scale > 0.0f ? 1.0f / a->scale : 0.0f;

		for (r = 0; r < n * C; r++)
			x[r] = a->scale * tq_grid_value(&fp8,
			    tq_grid_round(&fp8, x[r] * inv));
		return;
	}
	if (a->mode >= TQ_ACTQ_GGML_Q8_K) {
		actq_ggml(a->mode, x, n * C, NULL);
		return;
	}
	if (a->mode != TQ_ACTQ_INT8_TOKEN)
		return;
	for (r = 0; r < n; r++) {
		float *row = x + r * C, amax = 0.0f, scale, inv;

		for (c = 0; c < C; c++)
			amax = fabsf(row[c]) > amax ? fabsf(row[c]) : amax;
		if (amax == 0.0f)
			continue;
		scale = amax / 127.0f;
		inv = 1.0f / scale;
		for (c = 0; c < C; c++)
			row[c] = scale * nearbyintf(row[c] * inv);
	}
}

/* ---- Grids ---------------------------------------------------------- */

void
tq_qparams_get_scale(const tq_qparams *p, tq_qscale *out)
{
	memcpy(out, p->raw, sizeof(*out));
}

void
tq_qparams_set_scale(tq_qparams *p, const tq_qscale *in)
{
	static_assert(sizeof(tq_qscale) <= sizeof(tq_qparams), "fits");
	memset(p, 0, sizeof(*p));
	memcpy(p->raw, in, sizeof(*in));
}

static int
int_maxq(const tq_scheme *s)
{
	return (1 << s->bits) - 1;
}

/* Nearest value on any ascending table, ties to the even q. */
static int
round_table_search(const tq_grid *g, float v)
{
	int n = g->qmax - g->qmin + 1, lo = 0, hi = n;
	const float *t = g->table;

	/* first index with t[i] >= v */
	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (t[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n)
		lo = n - 1;
	else if (lo > 0) {
		float dlo = v - t[lo - 1], dhi = t[lo] - v;

		if (dlo < dhi || (dlo == dhi && ((lo - 1 + g->qmin) & 1) == 0))
			lo--;
	}
	return lo + g->qmin;
}

/*
 * e4m3fn of v, round to nearest even, saturating at 448 (what
 * torch's cast gives after compressed-tensors clamps to +-448), as the
 * signed magnitude index q: the bit pattern is q or 0x80 | -q.
 */
static inline int
fp8_round(float v)
{
	float a = fabsf(v);
	uint32_t u;
	int p;

	if (!(a < FP8_MAX))		/* saturate; NaN was mapped to 0 */
		p = FP8_NQ;
	else if (a < 0.015625f)	/* below 2^-6: subnormal, steps 2^-9 */
		p = tq_round_even(a * 512.0f);
	else {
		/* round the fp32 mantissa to 3 bits, ties to even */
		memcpy(&u, &a, sizeof(u));
		u += 0x7ffff + ((u >> 20) & 1);
		p = (int)(((u >> 23) - 120) << 3 | ((u >> 20) & 7));
		if (p > FP8_NQ)
			p = FP8_NQ;
	}
	return v < 0 ? -p : p;
}

static inline int
round_table(const tq_grid *g, float x)
{
	float v;
	int q, i;

	if (g->table == tq_fp4_levels)
		return tq_fp4_round(g, x);
	if (g->table == nf4_table) {
		/* bitsandbytes: x * (1 / absmax), then v > midpoint goes up */
		v = g->scale != 0 ? x * (1.0f / g->scale) : 0.0f;
		if (v != v)
			v = 0;
		for (q = 0, i = 0; i < 15; i++)
			q += v > nf4_mid[i];
		return q;
	}
	v = g->scale != 0 ? x / g->scale : 0.0f;
	if (v != v)
		v = 0;
	if (g->table == fp8_table)
		return fp8_round(v);
	return round_table_search(g, v);
}

static inline int
round_int(const tq_grid *g, float x)
{
	float v;

	v = g->scale != 0 ? (x - g->offset) / g->scale : 0.0f;
	if (v != v)
		v = 0;
	/* clamping to integer bounds first leaves tq_round_even() unchanged */
	if (v < (float)g->qmin)
		v = (float)g->qmin;
	if (v > (float)g->qmax)
		v = (float)g->qmax;
	return tq_round_even(v);
}

int
tq_grid_round(const tq_grid *g, float x)
{
	return g->table != NULL ? round_table(g, x) : round_int(g, x);
}

float
tq_grid_value(const tq_grid *g, int q)
{
	if (g->table != NULL)
		return g->scale * g->table[q - g->qmin];
	return g->scale * (float)q + g->offset;
}

/* The grid of an INT, FP8 or NF4 block from its scale and zero. */
static void
scale_grid(const tq_scheme *s, const tq_qscale *sc, tq_grid *g)
{
	g->scale = sc->scale;
	g->offset = 0;
	switch (s->type) {
	case TQ_QT_INT:
		g->qmin = -sc->zero;
		g->qmax = int_maxq(s) - sc->zero;
		g->table = NULL;
		break;
	case TQ_QT_FP8_E4M3:
		g->qmin = -FP8_NQ;
		g->qmax = FP8_NQ;
		g->table = fp8_table;
		break;
	default:
		g->qmin = 0;
		g->qmax = 15;
		g->table = nf4_table;
		break;
	}
}

void
tq_quant_grid(const tq_scheme *s, const tq_qparams *p, int64_t j,
    tq_grid *out)
{
	tq_qscale sc;

	if (tq_gguf_is(s->type)) {
		tq_gguf_grid(s->type, p, j, out);
		return;
	}
	if (tq_fp4_is(s->type)) {
		tq_fp4_grid(s->type, p, j, out);
		return;
	}
	tq_qparams_get_scale(p, &sc);
	scale_grid(s, &sc, out);
}

/* ---- Parameters ----------------------------------------------------- */

int
tq_quant_lattice(const tq_scheme *s)
{
	return tq_gguf_lattice(s->type);
}

int
tq_quant_needs_imatrix(const tq_scheme *s)
{
	return tq_gguf_needs_imatrix(s->type);
}

int
tq_quant_ggml_needs_imatrix(const tq_scheme *s)
{
	return tq_gguf_ggml_needs_imatrix(s->type);
}

int64_t
tq_quant_qk(const tq_scheme *s, int64_t cols)
{
	if (blocky(s->type))
		return blk_qk(s->type);
	return s->group > 0 ? s->group : cols;
}

int64_t
tq_quant_span(const tq_scheme *s, int64_t qk)
{
	if (tq_fp4_is(s->type))
		return tq_fp4_span(s->type);
	return tq_gguf_is(s->type) ? tq_gguf_span(s->type) : qk;
}

/* The scale exported checkpoints store: fp16, finite. */
static float
fp16_scale(float v)
{
	if (!(v < 65504.0f))
		return v != v ? 0.0f : 65504.0f;
	return tq_f16_to_f32(tq_f32_to_f16(v));
}

/* Parameters of a block with range [lo, hi], shrunk by `shrink`. */
static void
scale_params(const tq_scheme *s, float lo, float hi, float shrink,
    tq_qscale *o)
{
	float amax = fmaxf(fabsf(lo), fabsf(hi)) * shrink;
	int maxq;

	o->zero = 0;
	switch (s->type) {
	case TQ_QT_INT:
		maxq = int_maxq(s);
		if (s->sym) {
			o->scale = fp16_scale(2 * amax / maxq);
			o->zero = 1 << (s->bits - 1);
			break;
		}
		lo = fminf(lo, 0.0f) * shrink;
		hi = fmaxf(hi, 0.0f) * shrink;
		o->scale = fp16_scale((hi - lo) / maxq);
		if (o->scale > 0) {
			int z = tq_round_even(fminf(-lo / o->scale, (float)maxq));

			o->zero = z < 0 ? 0 : z > maxq ? maxq : z;
		} else {
			o->zero = 1 << (s->bits - 1);
		}
		break;
	case TQ_QT_FP8_E4M3:
		if (mx8(s)) {	/* OCP MX: 2^(floor(log2 amax) - 8), E8M0 */
			int e = 0;

			if (amax > 0.0f)
				(void)frexpf(amax, &e);	/* amax < 2^e */
			e = amax > 0.0f ? e - 1 - 8 : -127;
			o->scale = ldexpf(1.0f, e < -127 ? -127 :
			    e > 127 ? 127 : e);
			break;
		}
		o->scale = amax / FP8_MAX;
		break;
	default:
		o->scale = amax;
		break;
	}
}

/*
 * sum imp * (x - q(x))^2 over a block on grid g (imp NULL: weights 1),
 * in double, accumulated in four interleaved partial sums.
 */
static double
block_error(const tq_grid *g, const float *x, const float *imp, int64_t n)
{
	double e[4] = { 0, 0, 0, 0 };
	int64_t j;

	for (j = 0; j < n; j++) {
		double d = (double)x[j] -
		    (double)tq_grid_value(g, tq_grid_round(g, x[j]));

		e[j & 3] += (imp != NULL ? (double)imp[j] : 1.0) * d * d;
	}
	return (e[0] + e[1]) + (e[2] + e[3]);
}

/*
 * An INT block's step and zero fitted again to its codes x[n] -> c (the
 * unsigned codes of *p): weighted least squares of x ~ a c + b, zero =
 * round(-b / a), then the step alone with that zero (fp16), repeated with
 * the codes rounded again while the weighted error falls.  Symmetric
 * grids keep their zero and refit the step only.  *p and *err (its
 * error) are replaced only by a block of lower error.
 */
static void
int_refit(const tq_scheme *s, const float *x, const float *imp, int64_t n,
    tq_qscale *p, double *err)
{
	int maxq = int_maxq(s), it;

	for (it = 0; it < INT_REFIT_ITERS; it++) {
		double sw = 0, sc = 0, sx = 0, scc = 0, scx = 0, num, den, z0,
		    e;
		tq_qscale cand = *p;
		tq_grid g;
		int64_t j;

		scale_grid(s, p, &g);
		for (j = 0; j < n; j++) {
			double w = imp != NULL ? (double)imp[j] : 1.0;
			double c = (double)(tq_grid_round(&g, x[j]) + p->zero);

			sw += w;
			sc += w * c;
			sx += w * x[j];
			scc += w * c * c;
			scx += w * c * x[j];
		}
		if (!s->sym) {
			double D = sw * scc - sc * sc, a, b, z;

			if (!(D > 0))
				break;
			a = (sw * scx - sc * sx) / D;
			b = (sx - a * sc) / sw;
			if (!(a > 0))
				break;
			z = -b / a;
			cand.zero = z < 0 ? 0 : z > maxq ? maxq :
			    tq_round_even((float)z);
		}
		/*
		 * the step for this zero, from the same sums:
		 * sum w x (c - z) / sum w (c - z)^2
		 */
		z0 = (double)cand.zero;
		num = scx - z0 * sx;
		den = scc - 2.0 * z0 * sc + z0 * z0 * sw;
		if (!(den > 0) || !(num > 0))
			break;
		cand.scale = fp16_scale((float)(num / den));
		if (!(cand.scale > 0))
			break;
		scale_grid(s, &cand, &g);
		e = block_error(&g, x, imp, n);
		if (!(e < *err))
			break;
		*err = e;
		*p = cand;
	}
}

static void
scale_block_params(const tq_scheme *s, const float *x, const float *imp,
    int64_t n, int clip_search, tq_qparams *out)
{
	float lo = n > 0 ? x[0] : 0.0f, hi = lo;
	tq_qscale best, cand;
	double best_err;
	tq_grid g;
	int64_t j;
	int i;

	for (j = 1; j < n; j++) {
		lo = fminf(lo, x[j]);
		hi = fmaxf(hi, x[j]);
	}
	scale_params(s, lo, hi, 1.0f, &best);
	if (clip_search) {
		scale_grid(s, &best, &g);
		best_err = block_error(&g, x, imp, n);
		for (i = 1; i < CLIP_STEPS; i++) {
			double e;

			scale_params(s, lo, hi, (float)(20 - i) / 20.0f, &cand);
			scale_grid(s, &cand, &g);
			e = block_error(&g, x, imp, n);
			if (e < best_err) {	/* ties keep the wider one */
				best_err = e;
				best = cand;
			}
		}
		if (s->type == TQ_QT_INT)
			int_refit(s, x, imp, n, &best, &best_err);
	}
	tq_qparams_set_scale(out, &best);
}

static int
per_tensor(const tq_scheme *s)
{
	return !tq_gguf_is(s->type) && s->group == TQ_GROUP_TENSOR;
}

/*
 * One GGUF block by ggml's search, then with clip_search the K-quants'
 * further one (tq_gguf_refine, which starts from the block's codes); the
 * codes into codes[qk] when it is not NULL.
 */
static void
gguf_block(const tq_scheme *s, const float *x, const float *imp,
    float sigma2, int clip_search, tq_qparams *p, uint8_t *codes)
{
	uint8_t own[TQ_QK_MAX];
	int refine = clip_search && tq_gguf_refinable(s->type);
	uint8_t *c = codes != NULL || !refine ? codes : own;

	tq_gguf_quantize(s->type, x, imp, sigma2, p, c);
	if (refine)
		tq_gguf_refine(s->type, x, imp, p, c);
}

void
tq_quant_block_params(const tq_scheme *s, const float *x, const float *imp,
    int64_t n, int clip_search, tq_qparams *out)
{
	if (per_tensor(s) || tiled(s))
		return;
	if (tq_gguf_is(s->type)) {
		gguf_block(s, x, imp, tq_gguf_row_sigma2(x, tq_gguf_qk(s->type)),
		    clip_search, out, NULL);
		return;
	}
	if (tq_fp4_is(s->type)) {
		tq_fp4_block_params(s->type, x, imp, clip_search, out);
		return;
	}
	scale_block_params(s, x, imp, n, clip_search, out);
}

void
tq_quant_sub_params(const tq_scheme *s, const float *x, const float *imp,
    int64_t j, tq_qparams *p)
{
	if (tq_gguf_refinable(s->type))
		tq_gguf_refit_sub(s->type, x, imp, j, p);
}

/* The row statistic ggml's legacy imatrix quantizers use, else 0. */
static float
row_sigma2(const tq_scheme *s, const float *x, const float *imp,
    int64_t cols)
{
	switch (s->type) {
	case TQ_QT_Q4_0:
	case TQ_QT_Q4_1:
	case TQ_QT_Q5_0:
	case TQ_QT_Q5_1:
		return imp != NULL ? tq_gguf_row_sigma2(x, cols) : 0.0f;
	default:
		return 0.0f;
	}
}

void
tq_quant_row_params(const tq_scheme *s, const float *x, const float *imp,
    int64_t cols, int clip_search, tq_qparams *out)
{
	int64_t qk = tq_quant_qk(s, cols), b, nb = (cols + qk - 1) / qk;
	float sigma2;

	if (per_tensor(s) || tiled(s))
		return;
	if (tq_fp4_is(s->type)) {
		for (b = 0; b < nb; b++)
			tq_fp4_block_params(s->type, x + b * qk,
			    imp != NULL ? imp + b * qk : NULL, clip_search,
			    &out[b]);
		return;
	}
	if (!tq_gguf_is(s->type)) {
		for (b = 0; b < nb; b++)
			scale_block_params(s, x + b * qk,
			    imp != NULL ? imp + b * qk : NULL,
			    b * qk + qk <= cols ? qk : cols - b * qk,
			    clip_search, &out[b]);
		return;
	}
	sigma2 = row_sigma2(s, x, imp, cols);
	for (b = 0; b < nb; b++)
		gguf_block(s, x + b * qk, imp != NULL ? imp + b * qk : NULL,
		    sigma2, clip_search, &out[b], NULL);
}

void
tq_quant_tensor_params(const tq_scheme *s, const float *w, int64_t rows,
    int64_t cols, tq_qparams *out)
{
	float lo, hi;
	int64_t i, n = rows * cols;
	tq_qscale sc;

	if (tq_fp4_is(s->type) && n > 0) {
		tq_fp4_tensor_params(s->type, s->nv_scale, w, n, out);
		return;
	}
	if (!per_tensor(s) || n < 1)
		return;
	lo = hi = w[0];
	for (i = 1; i < n; i++) {
		lo = fminf(lo, w[i]);
		hi = fmaxf(hi, w[i]);
	}
	scale_params(s, lo, hi, 1.0f, &sc);
	tq_qparams_set_scale(out, &sc);
}

void
tq_quant_tile_params(const tq_scheme *s, const float *w, int64_t rows,
    int64_t cols, tq_qparams *params)
{
	int64_t T = s->group, nb = (cols + T - 1) / T, r0, c0, r, c;

	for (r0 = 0; r0 < rows; r0 += T)
		for (c0 = 0; c0 < cols; c0 += T) {
			int64_t r1 = r0 + T < rows ? r0 + T : rows;
			int64_t c1 = c0 + T < cols ? c0 + T : cols;
			float lo = w[r0 * cols + c0], hi = lo;
			tq_qscale sc;

			for (r = r0; r < r1; r++)
				for (c = c0; c < c1; c++) {
					lo = fminf(lo, w[r * cols + c]);
					hi = fmaxf(hi, w[r * cols + c]);
				}
			scale_params(s, lo, hi, 1.0f, &sc);	/* amax / 448 */
			for (r = r0; r < r1; r++)
				tq_qparams_set_scale(&params[r * nb + c0 / T],
				    &sc);
		}
}

/* ---- Quantized tensors ---------------------------------------------- */

tq_status
tq_qtensor_init(tq_qtensor *t, const tq_scheme *s, int64_t rows,
    int64_t cols, tq_error *err)
{
	tq_status st;

	memset(t, 0, sizeof(*t));
	st = tq_scheme_check(s, rows, cols, err);
	if (st != TQ_OK)
		return st;
	t->scheme = *s;
	t->rows = rows;
	t->cols = cols;
	t->qk = tq_quant_qk(s, cols);
	t->nblocks = (cols + t->qk - 1) / t->qk;
	t->codes = calloc((size_t)(rows * cols), 1);
	t->params = calloc((size_t)(rows * t->nblocks), sizeof(tq_qparams));
	if (t->codes == NULL || t->params == NULL) {
		tq_qtensor_done(t);
		return tq_fail(err, TQ_ENOMEM, "out of memory for a quantized "
		    "[%lld, %lld] weight", (long long)rows, (long long)cols);
	}
	return TQ_OK;
}

float
tq_quant_global(const tq_qtensor *t)
{
	return t->scheme.type == TQ_QT_NVFP4 && t->params != NULL ?
	    tq_fp4_global(&t->params[0]) : 1.0f;
}

void
tq_qtensor_done(tq_qtensor *t)
{
	free(t->codes);
	free(t->params);
	free(t->g_idx);
	memset(t, 0, sizeof(*t));
}

void
tq_qtensor_dequant(const tq_qtensor *t, float *w)
{
	const tq_scheme *s = &t->scheme;
	int64_t span = tq_quant_span(s, t->qk), r, c, j;
	tq_grid g;

	for (r = 0; r < t->rows; r++) {
		const uint8_t *code = t->codes + r * t->cols;
		const tq_qparams *p = t->params + r * t->nblocks;
		float *out = w + r * t->cols;

		if (t->g_idx != NULL) {
			/* act-order INT groups: the grid is per block */
			for (c = 0; c < t->cols; c++) {
				tq_quant_grid(s, &p[t->g_idx[c]], c % t->qk,
				    &g);
				out[c] = tq_grid_value(&g, code[c] + g.qmin);
			}
			continue;
		}
		for (c = 0; c < t->cols; c += span) {
			int64_t n = t->cols - c < span ? t->cols - c : span;

			tq_quant_grid(s, &p[c / t->qk], c % t->qk, &g);
			for (j = 0; j < n; j++)
				out[c + j] = tq_grid_value(&g,
				    code[c + j] + g.qmin);
		}
	}
}

/*
 * A grid whose extreme values are finite (a NaN or huge scale, or a
 * non-finite GGUF d, dmin or offset, would make every weight NaN or inf).
 */
static int
grid_finite(const tq_grid *g)
{
	return isfinite(tq_grid_value(g, g->qmin)) &&
	    isfinite(tq_grid_value(g, g->qmax));
}

/* The parameters of block b of row r: in range, grids finite. */
static tq_status
check_block(const tq_qtensor *t, int64_t r, int64_t b, const char *what,
    tq_error *err)
{
	const tq_scheme *s = &t->scheme;
	const tq_qparams *p = &t->params[r * t->nblocks + b];
	int64_t span = tq_quant_span(s, t->qk), j;
	tq_qscale sc;
	tq_grid g;

	if (tq_fp4_is(s->type)) {
		if (!(tq_fp4_global(p) > 0.0f) || !isfinite(tq_fp4_global(p)))
			return tq_fail(err, TQ_EFORMAT, "%s: row %lld, block %lld "
			    "has global scale %g (not finite and positive)",
			    what, (long long)r, (long long)b,
			    (double)tq_fp4_global(p));
		if (s->type == TQ_QT_NVFP4 && !tq_fp4_global_ok(s->nv_scale,
		    tq_fp4_global(p)))
			return tq_fail(err, TQ_EFORMAT, "%s: row %lld, block %lld "
			    "has global scale %g, which nvfp4%s does not give",
			    what, (long long)r, (long long)b,
			    (double)tq_fp4_global(p), nv_suffix[s->nv_scale]);
	} else if (!tq_gguf_is(s->type)) {
		tq_qparams_get_scale(p, &sc);
		/* Checked before the grid is made: -zero overflows at INT_MIN. */
		if (s->type == TQ_QT_INT && (sc.zero < 0 ||
		    sc.zero > int_maxq(s)))
			return tq_fail(err, TQ_EFORMAT, "%s: row %lld, block %lld "
			    "has zero point %ld, outside 0..%d", what,
			    (long long)r, (long long)b, (long)sc.zero,
			    int_maxq(s));
		if (!(sc.scale >= 0.0f) || !isfinite(sc.scale))
			return tq_fail(err, TQ_EFORMAT, "%s: row %lld, block %lld "
			    "has scale %g (not finite and non-negative)", what,
			    (long long)r, (long long)b, (double)sc.scale);
	}
	for (j = 0; j < t->qk; j += span) {
		tq_quant_grid(s, p, j, &g);
		if (!grid_finite(&g))
			return tq_fail(err, TQ_EFORMAT, "%s: row %lld, block %lld "
			    "has parameters that are not finite", what,
			    (long long)r, (long long)b);
	}
	return TQ_OK;
}

tq_status
tq_qtensor_check(const tq_qtensor *t, const char *what, tq_error *err)
{
	const tq_scheme *s = &t->scheme;
	int64_t span = tq_quant_span(s, t->qk), r, c, j, b;
	tq_status st;
	tq_grid g;

	for (r = 0; r < t->rows; r++) {
		const uint8_t *code = t->codes + r * t->cols;

		for (b = 0; b < t->nblocks; b++)
			if ((st = check_block(t, r, b, what, err)) != TQ_OK)
				return st;
		for (b = 0; mx8(s) && b < t->nblocks; b++) {
			tq_qscale q;
			int e;

			tq_qparams_get_scale(&t->params[r * t->nblocks + b], &q);
			if (frexpf(q.scale, &e) != 0.5f || e < -126 || e > 128)
				return tq_fail(err, TQ_EFORMAT, "%s: row %lld, "
				    "block %lld: mxfp8 scale %g is not a power of "
				    "two in 2^-127..2^127", what, (long long)r,
				    (long long)b, (double)q.scale);
		}
		/* a tile's rows share its scale: exporters write it once */
		if (tiled(s) && r % s->group != 0 &&
		    memcmp(&t->params[r * t->nblocks],
		    &t->params[(r - r % s->group) * t->nblocks],
		    (size_t)t->nblocks * sizeof(tq_qparams)) != 0)
			return tq_fail(err, TQ_EFORMAT, "%s: row %lld's scales "
			    "differ from its %d-row tile's first row", what,
			    (long long)r, s->group);
		for (c = 0; c < t->cols; c += t->g_idx != NULL ? 1 : span) {
			int64_t n = t->g_idx != NULL ? 1 :
			    t->cols - c < span ? t->cols - c : span;

			b = t->g_idx != NULL ? t->g_idx[c] : c / t->qk;
			if (b < 0 || b >= t->nblocks)
				return tq_fail(err, TQ_EFORMAT, "%s: g_idx[%lld] "
				    "is out of range", what, (long long)c);
			tq_quant_grid(s, &t->params[r * t->nblocks + b],
			    c % t->qk, &g);
			for (j = 0; j < n; j++)
				if (code[c + j] > g.qmax - g.qmin)
					return tq_fail(err, TQ_EFORMAT, "%s: code "
					    "%d at row %lld, column %lld is "
					    "outside the grid (0..%d)", what,
					    code[c + j], (long long)r,
					    (long long)(c + j), g.qmax - g.qmin);
		}
		for (b = 0; tq_gguf_lattice(s->type) && b < t->nblocks; b++) {
			int64_t j0 = tq_gguf_bad_codes(s->type, code + b * t->qk);

			if (j0 >= 0)
				return tq_fail(err, TQ_EFORMAT, "%s: the codes at "
				    "row %lld, columns %lld.. are not a point of "
				    "the %s lattice", what, (long long)r,
				    (long long)(b * t->qk + j0),
				    gguf_name(s->type));
		}
	}
	return TQ_OK;
}

/* ---- Round-to-nearest ----------------------------------------------- */

typedef struct rtn_job {
	tq_qtensor *t;
	const float *w;
	const float *imp;
	int clip_search;
} rtn_job;

/* RTN of rows [r0, r1) (tq_rows_fn). */
static void
rtn_rows(void *arg, int64_t r0, int64_t r1)
{
	const rtn_job *job = arg;
	tq_qtensor *t = job->t;
	const tq_scheme *s = &t->scheme;
	int64_t qk = t->qk, span = tq_quant_span(s, qk), r, b, c, j;
	tq_grid g;

	for (r = r0; r < r1; r++) {
		const float *x = job->w + r * t->cols;
		uint8_t *code = t->codes + r * t->cols;
		tq_qparams *p = t->params + r * t->nblocks;

		if (tq_gguf_is(s->type)) {
			float sigma2 = row_sigma2(s, x, job->imp, t->cols);

			/* ggml's own levels, degenerate sub-blocks included */
			for (b = 0; b < t->nblocks; b++)
				gguf_block(s, x + b * qk, job->imp != NULL ?
				    job->imp + b * qk : NULL, sigma2,
				    job->clip_search, &p[b], code + b * qk);
			continue;
		}
		tq_quant_row_params(s, x, job->imp, t->cols, job->clip_search,
		    p);
		for (c = 0; c < t->cols; c += span) {
			int64_t n = t->cols - c < span ? t->cols - c : span;

			tq_quant_grid(s, &p[c / qk], c % qk, &g);
			for (j = 0; j < n; j++)
				code[c + j] = (uint8_t)(tq_grid_round(&g,
				    x[c + j]) - g.qmin);
		}
	}
}

#define RTN_MIN_WORK (1 << 18)	/* weights per thread worth a thread */

void
tq_quant_rtn(tq_qtensor *t, const float *w, const float *imp,
    int clip_search)
{
	rtn_job job;
	int64_t b;

	if (tiled(&t->scheme))	/* no clip search: a tile spans rows */
		tq_quant_tile_params(&t->scheme, w, t->rows, t->cols,
		    t->params);
	if (per_tensor(&t->scheme) || t->scheme.type == TQ_QT_NVFP4) {
		tq_qparams tp;

		memset(&tp, 0, sizeof(tp));
		tq_quant_tensor_params(&t->scheme, w, t->rows, t->cols, &tp);
		for (b = 0; b < t->rows * t->nblocks; b++)
			t->params[b] = tp;
	}
	job.t = t;
	job.w = w;
	job.imp = imp;
	job.clip_search = clip_search;
	tq_par_rows(rtn_rows, &job, t->rows, t->cols, RTN_MIN_WORK);
}

/* ---- GGUF blocks ---------------------------------------------------- */

size_t
tq_quant_block_bytes(const tq_scheme *s)
{
	if (tq_fp4_is(s->type))
		return tq_fp4_block_bytes(s->type);
	return tq_gguf_is(s->type) ? tq_gguf_block_bytes(s->type) : 0;
}

void
tq_quant_pack_block(const tq_scheme *s, const tq_qparams *p,
    const uint8_t *codes, uint8_t *out)
{
	if (tq_fp4_is(s->type))
		tq_fp4_pack(s->type, p, codes, out);
	else if (tq_gguf_is(s->type))
		tq_gguf_pack(s->type, p, codes, out);
}

void
tq_quant_unpack_block(const tq_scheme *s, const uint8_t *in, tq_qparams *p,
    uint8_t *codes)
{
	if (tq_fp4_is(s->type))
		tq_fp4_unpack(s->type, in, p, codes);
	else if (tq_gguf_is(s->type))
		tq_gguf_unpack(s->type, in, p, codes);
}
