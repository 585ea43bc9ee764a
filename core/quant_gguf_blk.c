/*
 * quant_gguf_blk.c: the ggml block layouts (ggml-common.h) of the GGUF
 * types: a block's levels and header <-> its bytes, as llama.cpp reads
 * them.  Bit shuffling only; the arithmetic is core/quant_gguf.c's.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "quant_gguf_blk.h"

/* The layouts the generic pack_legacy and pack_k45 assume. */
static_assert(offsetof(blk_q5_1, qs) == 8, "d, m, qh, qs");
static_assert(offsetof(blk_q4_1, qs) == 4, "d, m, qs");
static_assert(offsetof(blk_q5_0, qs) == 6, "d, qh, qs");
static_assert(offsetof(blk_q5_k, qh) == 16, "d, dmin, scales, qh");
static_assert(offsetof(blk_q4_k, qs) == 16, "d, dmin, scales, qs");

/* ---- Packing -------------------------------------------------------- */

/* Q2_K/Q3_K low bits: byte l of a 128-element half: l, +32, +64, +96. */
static void
pack_2bit(const uint8_t *L, uint8_t *qs)
{
	int j, l;

	for (j = 0; j < QK_K; j += 128)
		for (l = 0; l < 32; l++)
			qs[j / 4 + l] = (uint8_t)((L[j + l] & 3) |
			    ((L[j + l + 32] & 3) << 2) |
			    ((L[j + l + 64] & 3) << 4) |
			    ((L[j + l + 96] & 3) << 6));
}

static void
unpack_2bit(const uint8_t *qs, uint8_t *L)
{
	int j, l, k;

	for (j = 0; j < QK_K; j += 128)
		for (k = 0; k < 4; k++)
			for (l = 0; l < 32; l++)
				L[j + 32 * k + l] = (qs[j / 4 + l] >>
				    (2 * k)) & 3;
}

/* Q4_K/Q5_K low nibbles: 32 bytes per 64 elements, l low and l+32 high. */
static void
pack_nibbles_k(const uint8_t *L, uint8_t *qs)
{
	int j, l;

	for (j = 0; j < QK_K; j += 64)
		for (l = 0; l < 32; l++)
			qs[j / 2 + l] = (uint8_t)((L[j + l] & 0xF) |
			    ((L[j + l + 32] & 0xF) << 4));
}

static void
unpack_nibbles_k(const uint8_t *qs, uint8_t *L)
{
	int j, l;

	for (j = 0; j < QK_K; j += 64)
		for (l = 0; l < 32; l++) {
			L[j + l] = qs[j / 2 + l] & 0xF;
			L[j + l + 32] = qs[j / 2 + l] >> 4;
		}
}

/* Legacy nibbles: element j low, element j+16 high. */
static void
pack_nibbles_legacy(const uint8_t *L, uint8_t *qs)
{
	int j;

	for (j = 0; j < QK_LEGACY / 2; j++)
		qs[j] = (uint8_t)((L[j] & 0xF) | ((L[j + 16] & 0xF) << 4));
}

static void
unpack_nibbles_legacy(const uint8_t *qs, uint8_t *L)
{
	int j;

	for (j = 0; j < QK_LEGACY / 2; j++) {
		L[j] = qs[j] & 0xF;
		L[j + 16] = qs[j] >> 4;
	}
}

static void
pack_qh_legacy(const uint8_t *L, uint8_t *qh)
{
	uint32_t bits = 0;
	int j;

	for (j = 0; j < QK_LEGACY; j++)
		bits |= (uint32_t)((L[j] >> 4) & 1) << j;
	qh[0] = (uint8_t)bits;
	qh[1] = (uint8_t)(bits >> 8);
	qh[2] = (uint8_t)(bits >> 16);
	qh[3] = (uint8_t)(bits >> 24);
}

static void
unpack_qh_legacy(const uint8_t *qh, uint8_t *L)
{
	uint32_t bits = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 |
	    (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
	int j;

	for (j = 0; j < QK_LEGACY; j++)
		L[j] |= (uint8_t)(((bits >> j) & 1) << 4);
}


/*
 * The bit `shift` of every element (Q3_K: bit 2, Q5_K: bit 4) as a 256-bit
 * mask: the bit of element j is bit j/32 of hm[j%32].
 */
static void
pack_hbits(const uint8_t *L, int shift, uint8_t *hm)
{
	int j;

	memset(hm, 0, QK_K / 8);
	for (j = 0; j < QK_K; j++)
		if (L[j] > (1 << shift) - 1)
			hm[j % 32] |= (uint8_t)(1 << (j / 32));
}

static void
unpack_hbits(const uint8_t *hm, int shift, uint8_t *L)
{
	int j;

	for (j = 0; j < QK_K; j++)
		L[j] |= (uint8_t)(((hm[j % 32] >> (j / 32)) & 1) << shift);
}

/* ---- Per type ------------------------------------------------------- */

/* Q4_0, Q4_1, Q5_0, Q5_1: d, [m], [qh], qs (blk_q5_1, parts left out). */
void
tq_gguf__pack_legacy(int has_min, int hbit, const gguf_hdr *h, const uint8_t *L,
    uint8_t *out)
{
	put16(out, h->d);
	out += 2;
	if (has_min) {
		put16(out, h->dmin);
		out += 2;
	}
	if (hbit) {
		pack_qh_legacy(L, out);
		out += 4;
	}
	pack_nibbles_legacy(L, out);
}

void
tq_gguf__unpack_legacy(int has_min, int hbit, const uint8_t *in, gguf_hdr *h,
    uint8_t *L)
{
	const uint8_t *qh = NULL;

	h->d = get16(in);
	in += 2;
	if (has_min) {
		h->dmin = get16(in);
		in += 2;
	}
	if (hbit) {
		qh = in;
		in += 4;
	}
	unpack_nibbles_legacy(in, L);
	if (qh != NULL)
		unpack_qh_legacy(qh, L);
}

void
tq_gguf__pack_q8_0(int has_min, int hbit, const gguf_hdr *h, const uint8_t *L,
    uint8_t *out)
{
	blk_q8_0 b;
	int j;

	(void)has_min, (void)hbit;
	put16(b.d, h->d);
	for (j = 0; j < QK_LEGACY; j++)
		b.qs[j] = (int8_t)(L[j] - 128);
	memcpy(out, &b, sizeof(b));
}

void
tq_gguf__unpack_q8_0(int has_min, int hbit, const uint8_t *in, gguf_hdr *h,
    uint8_t *L)
{
	blk_q8_0 b;
	int j;

	(void)has_min, (void)hbit;
	memcpy(&b, in, sizeof(b));
	h->d = get16(b.d);
	for (j = 0; j < QK_LEGACY; j++)
		L[j] = (uint8_t)(b.qs[j] + 128);
}

void
tq_gguf__pack_q2_k(int has_min, int hbit, const gguf_hdr *h, const uint8_t *L,
    uint8_t *out)
{
	blk_q2_k b;

	(void)has_min, (void)hbit;
	memcpy(b.scales, h->scales, sizeof(b.scales));
	pack_2bit(L, b.qs);
	put16(b.d, h->d);
	put16(b.dmin, h->dmin);
	memcpy(out, &b, sizeof(b));
}

void
tq_gguf__unpack_q2_k(int has_min, int hbit, const uint8_t *in, gguf_hdr *h,
    uint8_t *L)
{
	blk_q2_k b;

	(void)has_min, (void)hbit;
	memcpy(&b, in, sizeof(b));
	memcpy(h->scales, b.scales, sizeof(b.scales));
	h->d = get16(b.d);
	h->dmin = get16(b.dmin);
	unpack_2bit(b.qs, L);
}

void
tq_gguf__pack_q3_k(int has_min, int hbit, const gguf_hdr *h, const uint8_t *L,
    uint8_t *out)
{
	blk_q3_k b;

	(void)has_min;
	pack_hbits(L, hbit, b.hmask);
	pack_2bit(L, b.qs);
	memcpy(b.scales, h->scales, sizeof(b.scales));
	put16(b.d, h->d);
	memcpy(out, &b, sizeof(b));
}

void
tq_gguf__unpack_q3_k(int has_min, int hbit, const uint8_t *in, gguf_hdr *h,
    uint8_t *L)
{
	blk_q3_k b;

	(void)has_min;
	memcpy(&b, in, sizeof(b));
	unpack_2bit(b.qs, L);
	unpack_hbits(b.hmask, hbit, L);
	memcpy(h->scales, b.scales, sizeof(b.scales));
	h->d = get16(b.d);
}

/* Q4_K, Q5_K: d, dmin, scales, [qh], qs (blk_q5_k; Q4_K has no qh). */
void
tq_gguf__pack_k45(int has_min, int hbit, const gguf_hdr *h, const uint8_t *L,
    uint8_t *out)
{
	(void)has_min;
	put16(out, h->d);
	put16(out + 2, h->dmin);
	memcpy(out + 4, h->scales, K_SCALE_SIZE);
	out += 4 + K_SCALE_SIZE;
	if (hbit) {
		pack_hbits(L, hbit, out);
		out += QK_K / 8;
	}
	pack_nibbles_k(L, out);
}

void
tq_gguf__unpack_k45(int has_min, int hbit, const uint8_t *in, gguf_hdr *h,
    uint8_t *L)
{
	const uint8_t *qh = NULL;

	(void)has_min;
	h->d = get16(in);
	h->dmin = get16(in + 2);
	memcpy(h->scales, in + 4, K_SCALE_SIZE);
	in += 4 + K_SCALE_SIZE;
	if (hbit) {
		qh = in;
		in += QK_K / 8;
	}
	unpack_nibbles_k(in, L);
	if (qh != NULL)
		unpack_hbits(qh, hbit, L);
}

void
tq_gguf__pack_q6_k(int has_min, int hbit, const gguf_hdr *h, const uint8_t *L,
    uint8_t *out)
{
	blk_q6_k b;
	int j, l;

	(void)has_min, (void)hbit;
	for (j = 0; j < QK_K; j += 128) {
		uint8_t *ql = b.ql + j / 2, *qh = b.qh + j / 4;

		for (l = 0; l < 32; l++) {
			const uint8_t *c = L + j + l;

			ql[l] = (uint8_t)((c[0] & 0xF) | ((c[64] & 0xF) << 4));
			ql[l + 32] = (uint8_t)((c[32] & 0xF) |
			    ((c[96] & 0xF) << 4));
			qh[l] = (uint8_t)(((c[0] >> 4) & 3) |
			    (((c[32] >> 4) & 3) << 2) |
			    (((c[64] >> 4) & 3) << 4) |
			    (((c[96] >> 4) & 3) << 6));
		}
	}
	memcpy(b.scales, h->scales, sizeof(b.scales));
	put16(b.d, h->d);
	memcpy(out, &b, sizeof(b));
}

void
tq_gguf__unpack_q6_k(int has_min, int hbit, const uint8_t *in, gguf_hdr *h,
    uint8_t *L)
{
	blk_q6_k b;
	int j, l;

	(void)has_min, (void)hbit;
	memcpy(&b, in, sizeof(b));
	for (j = 0; j < QK_K; j += 128) {
		const uint8_t *ql = b.ql + j / 2, *qh = b.qh + j / 4;

		for (l = 0; l < 32; l++) {
			uint8_t *c = L + j + l;

			c[0] = (uint8_t)((ql[l] & 0xF) | ((qh[l] & 3) << 4));
			c[32] = (uint8_t)((ql[l + 32] & 0xF) |
			    (((qh[l] >> 2) & 3) << 4));
			c[64] = (uint8_t)((ql[l] >> 4) |
			    (((qh[l] >> 4) & 3) << 4));
			c[96] = (uint8_t)((ql[l + 32] >> 4) |
			    (((qh[l] >> 6) & 3) << 4));
		}
	}
	memcpy(h->scales, b.scales, sizeof(b.scales));
	h->d = get16(b.d);
}

/* IQ4_XS: d, scales_h, scales_l, then each 32 columns' nibbles as Q4_0's. */
void
tq_gguf__pack_iq4_xs(int has_min, int hbit, const gguf_hdr *h,
    const uint8_t *L, uint8_t *out)
{
	blk_iq4_xs b;
	int i;

	(void)has_min, (void)hbit;
	put16(b.d, h->d);
	put16(b.scales_h, h->dmin);
	memcpy(b.scales_l, h->scales, sizeof(b.scales_l));
	for (i = 0; i < QK_K / QK_LEGACY; i++)
		pack_nibbles_legacy(L + QK_LEGACY * i, b.qs + QK_LEGACY / 2 * i);
	memcpy(out, &b, sizeof(b));
}

void
tq_gguf__unpack_iq4_xs(int has_min, int hbit, const uint8_t *in, gguf_hdr *h,
    uint8_t *L)
{
	blk_iq4_xs b;
	int i;

	(void)has_min, (void)hbit;
	memcpy(&b, in, sizeof(b));
	h->d = get16(b.d);
	h->dmin = get16(b.scales_h);
	memcpy(h->scales, b.scales_l, sizeof(b.scales_l));
	for (i = 0; i < QK_K / QK_LEGACY; i++)
		unpack_nibbles_legacy(b.qs + QK_LEGACY / 2 * i, L + QK_LEGACY * i);
}
