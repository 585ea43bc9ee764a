/*
 * tokenizer.c: Hugging Face tokenizer.json (BPE models): the encode
 * driver, added tokens, per-call state and the accessors.
 *
 * Reproduces what the `tokenizers` library (0.20) does, id for id:
 *
 *   1. added tokens with normalized:false are found in the raw text
 *      (leftmost-longest; single_word, lstrip and rstrip as HF has them);
 *   2. each gap between them is normalized on its own (tok_norm.c), then
 *      searched for the normalized:true added tokens;
 *   3. the remaining pieces go through the pre-tokenizers (tok_pretok.c),
 *      depth first: every stage splits one piece and hands each part to
 *      the next stage, which gives the same pieces in the same order as
 *      HF's stage by stage passes over the whole list;
 *   4. the BPE model (tok_bpe.c) turns each final piece into ids (with a
 *      per-call cache of words, since HF caches too and corpora repeat
 *      words);
 *   5. the post-processor template adds BOS and friends on request.
 *
 * HF matches regexes with Oniguruma; we use PCRE2 after rewriting the few
 * constructs the two read differently (tok_regex.c, hf-models.md section
 * 1.8).  The find-all loop copies Oniguruma's (rust-onig's) handling of
 * empty matches.  Decoding is in tok_decode.c; formats/tokenizer_json.c
 * reads tokenizer.json into a tq_tokenizer.
 *
 * Text that is not valid UTF-8 is encoded as if every ill-formed sequence
 * were U+FFFD, which is what Python's bytes.decode(errors="replace") hands
 * to HF.  A loaded tokenizer is read-only; all scratch memory belongs to
 * one call, so threads may share a tokenizer.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tok_internal.h"

/* ---- Per-call state ----------------------------------------------------- */

void
tq_tok__fail(tq_status *stp, tq_error *err, const char *path, tq_status st,
    const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*stp = st;
	(void)tq_fail(err, st, "%s: %s", path, msg);
}

tq_status
tq_tok__nomem(struct enc *E)
{
	return ENC_FAIL(E, TQ_ENOMEM, "out of memory");
}

tq_status
tq_tok__enc_init(struct enc *E, const tq_tokenizer *tok, tq_error *err)
{
	memset(E, 0, sizeof(*E));
	E->tok = tok;
	E->err = err;
	E->md = pcre2_match_data_create(1, NULL);
	E->mc = pcre2_match_context_create(NULL);
	E->js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
	if (E->md == NULL || E->mc == NULL || E->js == NULL)
		return tq_tok__nomem(E);
	pcre2_jit_stack_assign(E->mc, NULL, E->js);
	return TQ_OK;
}

void
tq_tok__enc_done(struct enc *E)
{
	size_t i;

	pcre2_match_data_free(E->md);
	pcre2_match_context_free(E->mc);
	pcre2_jit_stack_free(E->js);
	free(E->ids);
	free(E->seg);
	for (i = 0; i <= MAX_STAGES; i++) {
		free(E->lv[i].v);
		tq_ubuf_free(&E->lb[i]);
	}
	tq_ubuf_free(&E->nb[0]);
	tq_ubuf_free(&E->nb[1]);
	tq_ubuf_free(&E->wb);
	free(E->sym);
	free(E->heap);
	tq_tok__smap_free(&E->cache);
	free(E->cid);
}

int
tq_tok__grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t cap2;
	void *q;

	if (need <= *cap)
		return 0;
	cap2 = *cap ? *cap : 16;
	while (cap2 < need) {
		if (cap2 > SIZE_MAX / 2 / size)
			return -1;
		cap2 *= 2;
	}
	q = realloc(*p, cap2 * size);
	if (q == NULL)
		return -1;
	*p = q;
	*cap = cap2;
	return 0;
}

tq_status
tq_tok__emit(struct enc *E, int32_t id)
{
	if (E->n_ids == E->cap_ids && tq_tok__grow((void **)&E->ids,
	    &E->cap_ids, E->n_ids + 1, sizeof(*E->ids)))
		return tq_tok__nomem(E);
	E->ids[E->n_ids++] = id;
	return TQ_OK;
}

/* ---- Added tokens -------------------------------------------------------- */

static int
apat_cmp(const void *a, const void *b)
{
	const struct apat *x = a, *y = b;
	unsigned char cx = (unsigned char)x->s[0], cy = (unsigned char)y->s[0];

	if (cx != cy)
		return cx < cy ? -1 : 1;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;	/* longest first */
	return x->s < y->s ? -1 : x->s > y->s;		/* stable enough */
}

void
tq_tok__amatch_build(struct amatch *a)
{
	size_t i, w = 0;
	unsigned c;

	if (a->n > 0)
		qsort(a->pat, a->n, sizeof(*a->pat), apat_cmp);
	for (i = 0; i < a->n; i++)
		if (w == 0 || a->pat[w - 1].len != a->pat[i].len ||
		    memcmp(a->pat[w - 1].s, a->pat[i].s, a->pat[i].len) != 0)
			a->pat[w++] = a->pat[i];
	a->n = w;
	for (c = 0, i = 0; c <= 256; c++) {
		while (i < a->n && (unsigned char)a->pat[i].s[0] < c)
			i++;
		a->start[c] = (uint32_t)i;
	}
}

/* Leftmost-longest match of a at or after from. */
static int
amatch_find(const struct amatch *a, const char *s, size_t len, size_t from,
    size_t *ms, size_t *me, int32_t *id)
{
	const struct apat *p;
	size_t i, k;
	unsigned char c;

	if (a->n == 0)
		return 0;
	for (i = from; i < len; i++) {
		c = (unsigned char)s[i];
		if (a->start[c] == a->start[c + 1])
			continue;
		for (k = a->start[c]; k < a->start[c + 1]; k++) {
			p = &a->pat[k];
			if (p->len <= len - i &&
			    memcmp(s + i, p->s, p->len) == 0) {
				*ms = i;
				*me = i + p->len;
				*id = p->id;
				return 1;
			}
		}
	}
	return 0;
}

/* Does s[off..] start (dir > 0) or s[..off] end (dir < 0) with a \w? */
static int
word_at(struct enc *E, const char *s, size_t len, size_t off, int dir)
{
	int rc;

	if (dir < 0) {
		if (off == 0)
			return 0;
		do
			off--;
		while (off > 0 && ((unsigned char)s[off] & 0xC0) == 0x80);
	} else if (off >= len)
		return 0;
	rc = pcre2_match(E->tok->word_re, (PCRE2_SPTR)s, len, off,
	    PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, E->md, E->mc);
	return rc >= 0;
}

typedef tq_status (*gap_fn)(struct enc *, const char *, size_t, size_t);

/*
 * AddedVocabulary::find_matches: splits s at the tokens of a, emitting
 * token ids and handing the gaps (with their zero-offset prefix) to fn.
 */
static tq_status
split_added(struct enc *E, const struct amatch *a, const char *s, size_t len,
    size_t zlen, gap_fn fn)
{
	const tq_tokenizer *tok = E->tok;
	const struct added_tok *t;
	size_t pos = 0, last = 0, ms, me, start, stop, k;
	int32_t id;

	while (amatch_find(a, s, len, pos, &ms, &me, &id)) {
		pos = me;
		t = &tok->added[tok->id_added[id]];
		start = ms;
		stop = me;
		if (t->single_word && ((start > 0 && word_at(E, s, len, start,
		    -1)) || (stop < len && word_at(E, s, len, stop, 1))))
			continue;
		if (t->lstrip) {
			k = tq_tok__trim_end(s, 0, start);
			start = k > last ? k : last;
		}
		if (t->rstrip)
			stop = tq_tok__trim_start(s, stop, len);
		if (last < start && fn(E, s + last, start - last,
		    last < zlen ? zlen - last : 0) != TQ_OK)
			return E->st;
		if (tq_tok__emit(E, id) != TQ_OK)
			return E->st;
		last = stop;
	}
	if (last < len)
		return fn(E, s + last, len - last,
		    last < zlen ? zlen - last : 0);
	return TQ_OK;
}

static tq_status
normalized_gap(struct enc *E, const char *s, size_t len, size_t zlen)
{
	return tq_tok__pretok_run(E, 0, s, len, zlen);
}

static tq_status
raw_gap(struct enc *E, const char *s, size_t len, size_t zlen)
{
	const char *ns;
	size_t nlen;

	if (tq_tok__normalize(E, s, len, &zlen, &ns, &nlen) != TQ_OK)
		return E->st;
	return split_added(E, &E->tok->norm_match, ns, nlen, zlen,
	    normalized_gap);
}

/* ---- Encode ----------------------------------------------------------- */

tq_status
tq_tokenizer_encode(const tq_tokenizer *tok, const char *text, size_t len,
    int add_special, int32_t **ids, size_t *n_ids, tq_error *err)
{
	struct tq_ubuf clean = { NULL, 0, 0 };
	struct enc E;
	int32_t *out = NULL;
	size_t i, k, n = 0, z;

	*ids = NULL;
	*n_ids = 0;
	if (tok == NULL || (text == NULL && len > 0))
		return tq_fail(err, TQ_EINVAL, "tq_tokenizer_encode: %s",
		    tok == NULL ? "no tokenizer" : "no text");
	if (tq_tok__enc_init(&E, tok, err) != TQ_OK)
		goto done;
	if (len > 0 && tq_utf8_check(text, len) != len) {
		if (tq_utf8_sanitize(&clean, text, len) != 0) {
			tq_tok__nomem(&E);
			goto done;
		}
		text = clean.p;
		len = clean.len;
	}
	/* All bytes of the first character start at offset 0. */
	z = len > 0 ? tq_utf8_len((unsigned char)text[0]) : 0;
	if (len > 0 && split_added(&E, &tok->raw_match, text, len, z,
	    raw_gap) != TQ_OK)
		goto done;

	/* Without a template the ids are the result as they are. */
	if (tok->tmpl == NULL && E.ids != NULL) {
		*ids = E.ids;
		*n_ids = E.n_ids;
		E.ids = NULL;
		goto done;
	}
	for (i = 0; i < tok->n_tmpl; i++)
		n += tok->tmpl[i].is_seq ? E.n_ids :
		    add_special ? tok->tmpl[i].n : 0;
	out = malloc((n > 0 ? n : 1) * sizeof(*out));
	if (out == NULL) {
		tq_tok__nomem(&E);
		goto done;
	}
	for (i = 0, k = 0; i < tok->n_tmpl; i++) {
		const struct tpiece *tp = &tok->tmpl[i];

		if (tp->is_seq && E.n_ids > 0) {
			memcpy(out + k, E.ids, E.n_ids * sizeof(*out));
			k += E.n_ids;
		} else if (!tp->is_seq && add_special && tp->n > 0) {
			memcpy(out + k, tp->ids, tp->n * sizeof(*out));
			k += tp->n;
		}
	}
	*ids = out;
	*n_ids = n;
done:
	tq_tok__enc_done(&E);
	tq_ubuf_free(&clean);
	return E.st;
}

/* ---- Creating and freeing ---------------------------------------------- */

tq_tokenizer *
tq_tok__new(const char *name)
{
	tq_tokenizer *tok;
	int k;

	tok = calloc(1, sizeof(*tok));
	if (tok == NULL || (tok->path = strdup(name)) == NULL) {
		free(tok);
		return NULL;
	}
	tok->bos = -1;
	tok->unk_id = -1;
	for (k = 0; k < 256; k++) {
		tok->byte_id[k] = -1;
		tok->bl_len[k] = (uint8_t)tq_utf8_encode(
		    tq_tok__bl_cp((unsigned)k), tok->bl_char[k]);
	}
	return tok;
}

void
tq_tokenizer_free(tq_tokenizer *tok)
{
	size_t i;

	if (tok == NULL)
		return;
	tq_tok__smap_free(&tok->vocab);
	free(tok->merges.ent);
	free(tok->unk);
	free(tok->prefix);
	free(tok->suffix);
	for (i = 0; i < tok->n_added; i++)
		free(tok->added[i].content);
	free(tok->added);
	tq_tok__smap_free(&tok->added_map);
	tq_tok__smap_free(&tok->special);
	free(tok->raw_match.pat);
	free(tok->norm_match.pat);
	free(tok->npool);
	pcre2_code_free(tok->word_re);
	free(tok->id_str);
	free(tok->id_len);
	free(tok->id_added);
	free(tok->id_special);
	for (i = 0; i < tok->n_norms; i++) {
		free(tok->norms[i].text);
		pcre2_code_free(tok->norms[i].re);
	}
	free(tok->norms);
	for (i = 0; i < tok->n_pres; i++)
		pcre2_code_free(tok->pres[i].re);
	free(tok->pres);
	for (i = 0; i < tok->n_decs; i++) {
		free(tok->decs[i].text);
		pcre2_code_free(tok->decs[i].re);
	}
	free(tok->decs);
	for (i = 0; i < tok->n_tmpl; i++)
		free(tok->tmpl[i].ids);
	free(tok->tmpl);
	free(tok->path);
	free(tok);
}

/* ---- Accessors --------------------------------------------------------- */

int32_t
tq_tokenizer_n_vocab(const tq_tokenizer *tok)
{
	return tok != NULL ? tok->n_vocab : 0;
}

const char *
tq_tokenizer_token(const tq_tokenizer *tok, int32_t id)
{
	if (tok == NULL || id < 0 || id >= tok->n_vocab)
		return NULL;
	return tok->id_str[id];
}

int32_t
tq_tokenizer_id(const tq_tokenizer *tok, const char *token)
{
	const struct smap_ent *e;
	size_t len;

	if (tok == NULL || token == NULL)
		return -1;
	len = strlen(token);
	if ((e = tq_tok__smap_get(&tok->added_map, token, len)) != NULL ||
	    (e = tq_tok__smap_get(&tok->vocab, token, len)) != NULL)
		return e->val;
	return -1;
}

int32_t
tq_tokenizer_bos(const tq_tokenizer *tok)
{
	return tok != NULL ? tok->bos : -1;
}
