/*
 * tok_decode.c: ids back to text.  The ids' token strings go through the
 * decoders (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace,
 * BPEDecoder) one after the other, each turning a list of strings into
 * another, as HF's decode_chain does; then they are concatenated.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tok_internal.h"

/* A list of token strings, all in one buffer. */
struct tokv {
	struct tspan {
		size_t off, len;
	} *v;
	size_t n, cap;
	struct tq_ubuf b;
};

static int
tokv_add(struct tokv *t, const char *s, size_t len)
{
	size_t off = t->b.len;

	if (t->n == t->cap && tq_tok__grow((void **)&t->v, &t->cap, t->n + 1,
	    sizeof(*t->v)))
		return -1;
	if (tq_ubuf_add(&t->b, s, len) != 0)
		return -1;
	t->v[t->n].off = off;
	t->v[t->n].len = len;
	t->n++;
	return 0;
}

/* Starts a new, empty token whose bytes the caller appends to t->b. */
static int
tokv_open(struct tokv *t)
{
	return tokv_add(t, "", 0);
}

static void
tokv_close(struct tokv *t)
{
	t->v[t->n - 1].len = t->b.len - t->v[t->n - 1].off;
}

static void
tokv_free(struct tokv *t)
{
	free(t->v);
	tq_ubuf_free(&t->b);
}

/* Rust's u8::from_str_radix(s, 16) on two bytes ("+F" is accepted). */
static int
hex_byte(const char *s)
{
	int v = 0, i;

	for (i = 0; i < 2; i++) {
		int c = (unsigned char)s[i], d;

		if (i == 0 && c == '+')
			continue;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static int
flush_bytes(struct tokv *o, struct tq_ubuf *bytes)
{
	size_t i;

	if (bytes->len == 0)
		return 0;
	if (tq_utf8_check(bytes->p, bytes->len) == bytes->len) {
		if (tokv_add(o, bytes->p, bytes->len) != 0)
			return -1;
	} else
		for (i = 0; i < bytes->len; i++)
			if (tokv_add(o, "\xEF\xBF\xBD", 3) != 0)
				return -1;
	bytes->len = 0;
	return 0;
}

/* One decoder over the token list in, into out. */
static tq_status
decode_step(struct enc *E, const struct decoder *d, const struct tokv *in,
    struct tokv *o)
{
	struct tq_ubuf bytes = { NULL, 0, 0 };
	size_t i, j, n, cut0, cut1, nch;
	uint32_t cp;
	int b;

	for (i = 0; i < in->n; i++) {
		const char *s = in->b.p + in->v[i].off;
		size_t len = in->v[i].len;

		switch (d->kind) {
		case DEC_BYTELEVEL:
			/* Bytes of every token; a token with a character
			 * outside the table is taken as it is. */
			for (j = 0; j < len; j += n) {
				n = tq_utf8_next(s + j, &cp);
				if (tq_tok__bl_byte(cp) < 0)
					break;
			}
			if (j < len) {
				if (tq_ubuf_add(&bytes, s, len) != 0)
					goto nomem;
				break;
			}
			for (j = 0; j < len; j += n) {
				char c;

				n = tq_utf8_next(s + j, &cp);
				c = (char)tq_tok__bl_byte(cp);
				if (tq_ubuf_add(&bytes, &c, 1) != 0)
					goto nomem;
			}
			break;
		case DEC_REPLACE:
			if (tq_tok__find_regex(E, d->re, s, len) != TQ_OK)
				goto fail;
			if (tokv_open(o) != 0)
				goto nomem;
			for (j = 0; j < E->n_seg; j++) {
				const struct seg *g = &E->seg[j];

				if (tq_ubuf_add(&o->b, g->m ? d->text :
				    s + g->s, g->m ? d->text_len :
				    g->e - g->s) != 0)
					goto nomem;
			}
			tokv_close(o);
			break;
		case DEC_BYTEFALLBACK:
			if (len == 6 && memcmp(s, "<0x", 3) == 0 &&
			    s[5] == '>' && (b = hex_byte(s + 3)) >= 0) {
				char c = (char)b;

				if (tq_ubuf_add(&bytes, &c, 1) != 0)
					goto nomem;
				break;
			}
			if (flush_bytes(o, &bytes) != 0 ||
			    tokv_add(o, s, len) != 0)
				goto nomem;
			break;
		case DEC_FUSE:
			if (tq_ubuf_add(&bytes, s, len) != 0)
				goto nomem;
			break;
		case DEC_STRIP:
			/* Up to start leading and stop trailing copies of
			 * the content character. */
			for (nch = 0, j = 0; j < len; nch++)
				j += tq_utf8_len((unsigned char)s[j]);
			cut0 = 0;
			for (j = 0, n = 0; n < d->start && j < len; n++) {
				size_t k = tq_utf8_len((unsigned char)s[j]);

				if (k != d->ch_len || memcmp(s + j, d->ch, k))
					break;
				j += k;
				cut0 = j;
			}
			cut1 = len;
			for (j = len, n = 0; n < d->stop && n < nch && j > 0;
			    n++) {
				size_t k = j - 1;

				while (k > 0 && ((unsigned char)s[k] & 0xC0) ==
				    0x80)
					k--;
				if (j - k != d->ch_len ||
				    memcmp(s + k, d->ch, j - k))
					break;
				j = k;
				cut1 = j;
			}
			if (cut1 < cut0)	/* HF panics here */
				cut1 = cut0;
			if (tokv_add(o, s + cut0, cut1 - cut0) != 0)
				goto nomem;
			break;
		case DEC_METASPACE:
			if (tokv_open(o) != 0)
				goto nomem;
			for (j = 0; j < len; j += n) {
				n = tq_utf8_len((unsigned char)s[j]);
				if (n == d->ch_len &&
				    memcmp(s + j, d->ch, n) == 0) {
					if (i == 0 && !d->never)
						continue;
					if (tq_ubuf_add(&o->b, " ", 1) != 0)
						goto nomem;
				} else if (tq_ubuf_add(&o->b, s + j, n) != 0)
					goto nomem;
			}
			tokv_close(o);
			break;
		case DEC_BPE:
			/* str::replace(suffix, " " or "" for the last). */
			if (tokv_open(o) != 0)
				goto nomem;
			for (j = 0; j < len; ) {
				if (d->text_len > 0 && len - j >= d->text_len &&
				    memcmp(s + j, d->text, d->text_len) == 0) {
					if (i + 1 < in->n &&
					    tq_ubuf_add(&o->b, " ", 1) != 0)
						goto nomem;
					j += d->text_len;
					continue;
				}
				if (tq_ubuf_add(&o->b, s + j, 1) != 0)
					goto nomem;
				j++;
			}
			tokv_close(o);
			break;
		}
	}
	switch (d->kind) {
	case DEC_BYTELEVEL:
		/* One token: the bytes, decoded lossily. */
		if (tokv_open(o) != 0 ||
		    tq_utf8_sanitize(&o->b, bytes.p, bytes.len) != 0)
			goto nomem;
		tokv_close(o);
		break;
	case DEC_BYTEFALLBACK:
		if (flush_bytes(o, &bytes) != 0)
			goto nomem;
		break;
	case DEC_FUSE:
		if (tokv_add(o, bytes.len ? bytes.p : "", bytes.len) != 0)
			goto nomem;
		break;
	default:
		break;
	}
	tq_ubuf_free(&bytes);
	return TQ_OK;
nomem:
	tq_tok__nomem(E);
fail:
	tq_ubuf_free(&bytes);
	return E->st;
}

tq_status
tq_tokenizer_decode(const tq_tokenizer *tok, const int32_t *ids, size_t n_ids,
    int skip_special, char **text, size_t *len, tq_error *err)
{
	struct tokv tv[2];
	struct tq_ubuf out = { NULL, 0, 0 };
	struct enc E;
	size_t i, k;
	int cur = 0;
	int32_t id;

	*text = NULL;
	if (len != NULL)
		*len = 0;
	if (tok == NULL || (ids == NULL && n_ids > 0))
		return tq_fail(err, TQ_EINVAL, "tq_tokenizer_decode: %s",
		    tok == NULL ? "no tokenizer" : "no ids");
	memset(tv, 0, sizeof(tv));
	if (tq_tok__enc_init(&E, tok, err) != TQ_OK)
		goto done;
	for (i = 0; i < n_ids; i++) {
		id = ids[i];
		/* Unknown ids are dropped, as HF's filter_map does. */
		if (id < 0 || id >= tok->n_vocab || tok->id_str[id] == NULL)
			continue;
		if (skip_special && tok->id_special[id])
			continue;
		if (tokv_add(&tv[0], tok->id_str[id], tok->id_len[id]) != 0) {
			tq_tok__nomem(&E);
			goto done;
		}
	}
	if (tok->has_decoder) {
		for (k = 0; k < tok->n_decs; k++) {
			tv[!cur].n = 0;
			tv[!cur].b.len = 0;
			if (decode_step(&E, &tok->decs[k], &tv[cur],
			    &tv[!cur]) != TQ_OK)
				goto done;
			cur = !cur;
		}
	}
	for (i = 0; i < tv[cur].n; i++) {
		if (!tok->has_decoder && i > 0 &&
		    tq_ubuf_add(&out, " ", 1) != 0)
			break;
		if (tq_ubuf_add(&out, tv[cur].b.p + tv[cur].v[i].off,
		    tv[cur].v[i].len) != 0)
			break;
	}
	if (i < tv[cur].n || tq_ubuf_add(&out, "", 1) != 0) {
		tq_tok__nomem(&E);
		goto done;
	}
	*text = out.p;
	out.p = NULL;
	if (len != NULL)
		*len = out.len - 1;
done:
	tq_ubuf_free(&out);
	tokv_free(&tv[0]);
	tokv_free(&tv[1]);
	tq_tok__enc_done(&E);
	return E.st;
}
