/*
 * tok_norm.c: the normalizers (NFC, Lowercase, Prepend, Replace, Strip,
 * ByteLevel), run in turn over a piece of text, and GPT-2's byte to
 * character map that the ByteLevel normalizer, pre-tokenizer and decoder
 * share.
 */
#include "config.h"

#include <string.h>

#include "tok_internal.h"

/* ---- ByteLevel ---------------------------------------------------------- */

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the
 * other 68 become U+0100.. in byte order. */
uint32_t
tq_tok__bl_cp(unsigned b)
{
	if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
		return b;
	if (b <= 0x20)
		return 0x100 + b;
	if (b <= 0xA0)
		return 0x100 + 33 + (b - 0x7F);
	return 0x100 + 67;	/* 0xAD */
}

/* The byte a ByteLevel character stands for, or -1. */
int
tq_tok__bl_byte(uint32_t cp)
{
	if (cp < 0x100)
		return tq_tok__bl_cp(cp) == cp ? (int)cp : -1;
	if (cp <= 0x120)
		return (int)(cp - 0x100);
	if (cp <= 0x142)
		return (int)(0x7F + (cp - 0x121));
	return cp == 0x143 ? 0xAD : -1;
}

/* Appends the ByteLevel form of s to b. */
int
tq_tok__bytelevel_map(const tq_tokenizer *tok, struct tq_ubuf *b,
    const char *s, size_t len)
{
	size_t i;
	unsigned char c;

	if (tq_ubuf_reserve(b, 2 * len) != 0)
		return -1;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		memcpy(b->p + b->len, tok->bl_char[c], tok->bl_len[c]);
		b->len += tok->bl_len[c];
	}
	return 0;
}

size_t
tq_tok__bytelevel_len(const tq_tokenizer *tok, const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += tok->bl_len[(unsigned char)s[i]];
	return n;
}

/* ---- White space ------------------------------------------------------- */

/* Where s[i, len) starts once its leading white space is skipped. */
size_t
tq_tok__trim_start(const char *s, size_t i, size_t len)
{
	uint32_t cp;
	size_t n;

	while (i < len) {
		n = tq_utf8_next(s + i, &cp);
		if (!tq_unicode_is_space(cp))
			break;
		i += n;
	}
	return i;
}

/* Where s[lo, j) ends once its trailing white space is dropped. */
size_t
tq_tok__trim_end(const char *s, size_t lo, size_t j)
{
	uint32_t cp;
	size_t b;

	while (j > lo) {
		b = j - 1;
		while (b > lo && ((unsigned char)s[b] & 0xC0) == 0x80)
			b--;
		tq_utf8_next(s + b, &cp);
		if (!tq_unicode_is_space(cp))
			break;
		j = b;
	}
	return j;
}

/* ---- Normalizers -------------------------------------------------------- */

/* Replace: content for every match, tracking zero-offset bytes as HF's
 * alignments do (inserted text inherits the last replaced byte's). */
static tq_status
norm_replace(struct enc *E, const struct norm *nm, struct tq_ubuf *d,
    const char *s, size_t len, size_t *zlen)
{
	size_t i, z = *zlen, nz = 0;
	int zero_run = 1, flag;

	if (tq_tok__find_regex(E, nm->re, s, len) != TQ_OK)
		return E->st;
	for (i = 0; i < E->n_seg; i++) {
		const struct seg *g = &E->seg[i];

		if (g->m) {
			if (tq_ubuf_add(d, nm->text, nm->text_len) != 0)
				return tq_tok__nomem(E);
			flag = g->e == 0 ? z > 0 : g->e - 1 < z;
			if (zero_run && flag)
				nz += nm->text_len;
			else
				zero_run = 0;
			continue;
		}
		if (tq_ubuf_add(d, s + g->s, g->e - g->s) != 0)
			return tq_tok__nomem(E);
		if (zero_run) {
			size_t k = g->s < z ? (g->e < z ? g->e : z) - g->s : 0;

			nz += k;
			if (k < g->e - g->s)
				zero_run = 0;
		}
	}
	*zlen = nz;
	return TQ_OK;
}

/*
 * Runs the normalizers over s.  *out is s itself when there are none,
 * otherwise one of E->nb.
 */
tq_status
tq_tok__normalize(struct enc *E, const char *s, size_t len, size_t *zlen,
    const char **out, size_t *out_len)
{
	const tq_tokenizer *tok = E->tok;
	struct tq_ubuf *d;
	size_t k, z, i, j;

	*out = s;
	*out_len = len;
	for (k = 0; k < tok->n_norms; k++) {
		const struct norm *nm = &tok->norms[k];

		d = &E->nb[k & 1];
		d->len = 0;
		z = *zlen;
		switch (nm->kind) {
		case NORM_NFC:
		case NORM_LOWERCASE:
			if ((nm->kind == NORM_NFC ? tq_unicode_nfc(d, s, len) :
			    tq_unicode_lower(d, s, len)) != 0)
				return tq_tok__nomem(E);
			if (z > 0 && z < len) {
				/* Near enough: the normalized zero prefix. */
				E->wb.len = 0;
				if ((nm->kind == NORM_NFC ?
				    tq_unicode_nfc(&E->wb, s, z) :
				    tq_unicode_lower(&E->wb, s, z)) != 0)
					return tq_tok__nomem(E);
				z = E->wb.len < d->len ? E->wb.len : d->len;
			} else if (z > 0)
				z = d->len;
			break;
		case NORM_PREPEND:
			if (len > 0) {
				if (tq_ubuf_add(d, nm->text, nm->text_len) != 0)
					return tq_tok__nomem(E);
				if (z > 0)
					z += nm->text_len;
			}
			if (tq_ubuf_add(d, s, len) != 0)
				return tq_tok__nomem(E);
			break;
		case NORM_REPLACE:
			if (norm_replace(E, nm, d, s, len, &z) != TQ_OK)
				return E->st;
			break;
		case NORM_STRIP:
			i = nm->left ? tq_tok__trim_start(s, 0, len) : 0;
			j = nm->right ? tq_tok__trim_end(s, i, len) : len;
			if (tq_ubuf_add(d, s + i, j - i) != 0)
				return tq_tok__nomem(E);
			z = z > i ? z - i : 0;
			if (z > j - i)
				z = j - i;
			break;
		case NORM_BYTELEVEL:
			if (tq_tok__bytelevel_map(tok, d, s, len) != 0)
				return tq_tok__nomem(E);
			z = tq_tok__bytelevel_len(tok, s, z < len ? z : len);
			break;
		}
		s = d->p;
		len = d->len;
		*zlen = z;
	}
	*out = s;
	*out_len = len;
	return TQ_OK;
}
