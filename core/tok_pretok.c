/*
 * tok_pretok.c: splitting text at regex (or one-character) matches the way
 * HF's NormalizedString::split does, and the pre-tokenizer stages (Split,
 * ByteLevel, Metaspace) that cut each normalized piece into the words
 * the BPE model sees.
 */
#include "config.h"

#include <string.h>

#include "tok_internal.h"

/* ---- Splitting ---------------------------------------------------------- */

static tq_status
seg_push(struct enc *E, size_t s, size_t e, int m)
{
	if (E->n_seg == E->cap_seg && tq_tok__grow((void **)&E->seg,
	    &E->cap_seg, E->n_seg + 1, sizeof(*E->seg)))
		return tq_tok__nomem(E);
	E->seg[E->n_seg].s = s;
	E->seg[E->n_seg].e = e;
	E->seg[E->n_seg].m = m;
	E->n_seg++;
	return TQ_OK;
}

static tq_status
piece_push(struct enc *E, struct piecev *v, size_t off, size_t len,
    size_t zlen)
{
	if (v->n == v->cap && tq_tok__grow((void **)&v->v, &v->cap, v->n + 1,
	    sizeof(*v->v)))
		return tq_tok__nomem(E);
	v->v[v->n].off = off;
	v->v[v->n].len = len;
	v->v[v->n].zlen = zlen;
	v->n++;
	return TQ_OK;
}

static tq_status
match_error(struct enc *E, int rc)
{
	PCRE2_UCHAR msg[160];

	pcre2_get_error_message(rc, msg, sizeof(msg));
	return ENC_FAIL(E, TQ_EFORMAT, "regex match failed: %s", (char *)msg);
}

/*
 * Fills E->seg with the matches of re in s and the gaps between them, the
 * way HF's find_matches over Oniguruma's find_iter does: an empty match
 * right where the previous match ended is skipped by one character.
 */
tq_status
tq_tok__find_regex(struct enc *E, const pcre2_code *re, const char *s,
    size_t len)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(E->md);
	size_t prev = 0, last_end = 0, last_match = 0, ms, me;
	int have = 0, rc;

	E->n_seg = 0;
	if (len == 0)
		return seg_push(E, 0, 0, 0);
	while (last_end <= len) {
		rc = pcre2_match(re, (PCRE2_SPTR)s, len, last_end,
		    PCRE2_NO_UTF_CHECK, E->md, E->mc);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0)
			return match_error(E, rc);
		ms = ov[0];
		me = ov[1];
		if (me < ms)	/* \K games; treat as empty */
			ms = me;
		if (ms == me && have && last_match == me) {
			last_end += last_end < len ?
			    tq_utf8_len((unsigned char)s[last_end]) : 1;
			continue;
		}
		last_end = last_match = me;
		have = 1;
		if (prev != ms && seg_push(E, prev, ms, 0) != TQ_OK)
			return E->st;
		if (seg_push(E, ms, me, 1) != TQ_OK)
			return E->st;
		prev = me;
	}
	if (prev != len)
		return seg_push(E, prev, len, 0);
	return TQ_OK;
}

/* The same for a one-character pattern (HF's Fn(char) -> bool pattern). */
static tq_status
find_char(struct enc *E, const char *ch, size_t ch_len, const char *s,
    size_t len)
{
	size_t i, n, last = 0;

	E->n_seg = 0;
	if (len == 0)
		return seg_push(E, 0, 0, 0);
	for (i = 0; i < len; i += n) {
		n = tq_utf8_len((unsigned char)s[i]);
		if (n != ch_len || memcmp(s + i, ch, n) != 0)
			continue;
		if (last < i && seg_push(E, last, i, 0) != TQ_OK)
			return E->st;
		if (seg_push(E, i, i + n, 1) != TQ_OK)
			return E->st;
		last = i + n;
	}
	if (len > last)
		return seg_push(E, last, len, 0);
	return TQ_OK;
}

/*
 * Applies a split behavior to E->seg (NormalizedString::split) and appends
 * the non-empty parts to v, offsets shifted by base.
 */
static tq_status
split_segs(struct enc *E, enum split_behavior how, int invert,
    struct piecev *v, size_t base, size_t zlen)
{
	struct seg *g = E->seg;
	size_t n = E->n_seg, i, w = 0;
	int prev = 0;

	if (invert)
		for (i = 0; i < n; i++)
			g[i].m = !g[i].m;
	switch (how) {
	case SPLIT_REMOVED:
		for (i = 0; i < n; i++)
			if (!g[i].m)
				g[w++] = g[i];
		break;
	case SPLIT_ISOLATED:
		w = n;
		break;
	case SPLIT_CONTIGUOUS:
		for (i = 0; i < n; i++) {
			if (g[i].m == prev && w > 0)
				g[w - 1].e = g[i].e;
			else
				g[w++] = g[i];
			prev = g[i].m;
		}
		break;
	case SPLIT_MERGED_PREV:
		for (i = 0; i < n; i++) {
			if (g[i].m && !prev && w > 0)
				g[w - 1].e = g[i].e;
			else
				g[w++] = g[i];
			prev = g[i].m;
		}
		break;
	case SPLIT_MERGED_NEXT:
		/* Right to left, writing from the end: w counts kept ones. */
		for (i = n; i-- > 0; ) {
			if (g[i].m && !prev && w > 0)
				g[n - w].s = g[i].s;
			else {
				w++;
				g[n - w] = g[i];
			}
			prev = g[i].m;
		}
		g += n - w;
		break;
	}
	for (i = 0; i < w; i++) {
		if (g[i].e <= g[i].s)
			continue;
		if (piece_push(E, v, base + g[i].s, g[i].e - g[i].s,
		    g[i].s < zlen ? zlen - g[i].s : 0) != TQ_OK)
			return E->st;
	}
	return TQ_OK;
}

/* ---- Pre-tokenizers ------------------------------------------------------ */

/*
 * Runs pre-tokenizer stage lvl on one piece and everything after it on
 * each part; past the last stage the piece goes to the model.  Each level
 * has its own piece list and text buffer, untouched by deeper levels.
 */
tq_status
tq_tok__pretok_run(struct enc *E, size_t lvl, const char *s, size_t len,
    size_t zlen)
{
	const tq_tokenizer *tok = E->tok;
	const struct pretok *pt;
	struct piecev *v;
	struct tq_ubuf *b;
	const char *base, *t;
	size_t i, tlen, tz, n;

	if (lvl == tok->n_pres)
		return tq_tok__bpe_word(E, s, len);
	pt = &tok->pres[lvl];
	v = &E->lv[lvl];
	b = &E->lb[lvl];
	v->n = 0;
	b->len = 0;
	base = s;
	switch (pt->kind) {
	case PRE_SPLIT:
		if (tq_tok__find_regex(E, pt->re, s, len) != TQ_OK ||
		    split_segs(E, pt->behavior, pt->invert, v, 0, zlen))
			return E->st;
		break;
	case PRE_BYTELEVEL:
		/* Room for " " + s and its mapping, so b never moves. */
		if (tq_ubuf_reserve(b, 3 * (len + 1)) != 0)
			return tq_tok__nomem(E);
		t = s;
		tlen = len;
		tz = zlen;
		if (pt->prefix_space && len > 0 && s[0] != ' ') {
			b->p[0] = ' ';
			memcpy(b->p + 1, s, len);
			b->len = len + 1;
			t = b->p;
			tlen = len + 1;
			tz = zlen > 0 ? zlen + 1 : 0;
		}
		if (pt->re != NULL) {
			if (tq_tok__find_regex(E, pt->re, t, tlen) != TQ_OK ||
			    split_segs(E, SPLIT_ISOLATED, 0, v, 0, tz) != TQ_OK)
				return E->st;
		} else if (tlen > 0 &&
		    piece_push(E, v, 0, tlen, tz) != TQ_OK)
			return E->st;
		/* Map every part's bytes; the parts now live in b. */
		for (i = 0; i < v->n; i++) {
			struct piece *pc = &v->v[i];
			size_t off = b->len;

			(void)tq_tok__bytelevel_map(tok, b, t + pc->off,
			    pc->len);
			pc->zlen = tq_tok__bytelevel_len(tok, t + pc->off,
			    pc->zlen < pc->len ? pc->zlen : pc->len);
			pc->off = off;
			pc->len = b->len - off;
		}
		base = b->p;
		break;
	case PRE_METASPACE:
		if (tq_ubuf_reserve(b, (len + 1) * pt->rep_len) != 0)
			return tq_tok__nomem(E);
		tz = 0;
		if (pt->scheme != PREPEND_NEVER &&
		    !(len > 0 && s[0] == ' ') && !(len >= pt->rep_len &&
		    memcmp(s, pt->rep, pt->rep_len) == 0) &&
		    (pt->scheme == PREPEND_ALWAYS || zlen > 0)) {
			memcpy(b->p, pt->rep, pt->rep_len);
			b->len = pt->rep_len;
			tz = zlen > 0 ? pt->rep_len : 0;
		}
		for (i = 0; i < len; i++) {
			if (s[i] == ' ') {
				memcpy(b->p + b->len, pt->rep, pt->rep_len);
				b->len += pt->rep_len;
				n = pt->rep_len;
			} else {
				b->p[b->len++] = s[i];
				n = 1;
			}
			if (i < zlen)
				tz += n;
		}
		if (pt->split) {
			if (find_char(E, pt->rep, pt->rep_len, b->p, b->len) !=
			    TQ_OK || split_segs(E, SPLIT_MERGED_NEXT, 0, v, 0,
			    tz) != TQ_OK)
				return E->st;
		} else if (b->len > 0 &&
		    piece_push(E, v, 0, b->len, tz) != TQ_OK)
			return E->st;
		base = b->p;
		break;
	}
	for (i = 0; i < v->n; i++) {
		struct piece pc = v->v[i];

		if (tq_tok__pretok_run(E, lvl + 1, base + pc.off, pc.len,
		    pc.zlen) != TQ_OK)
			return E->st;
	}
	return TQ_OK;
}
