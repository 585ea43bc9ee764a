/*
 * tok_bpe.c: the BPE model on one pre-token: its characters (or their
 * <0xNN> bytes, or unk) become symbols, and the lowest-ranked merge is
 * applied again and again, from a heap, as HF's Word::merge_all does.
 * Words seen before in the same call come from a per-call cache.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "tok_internal.h"

#define CACHE_WORD_MAX	256	/* longest word the per-call cache keeps */
#define CACHE_ENTRIES	(1u << 20)

static tq_status
add_sym(struct enc *E, size_t *n, int32_t id, uint32_t len)
{
	struct sym *y;

	if (*n == E->cap_sym && tq_tok__grow((void **)&E->sym, &E->cap_sym,
	    *n + 1, sizeof(*E->sym)))
		return tq_tok__nomem(E);
	y = &E->sym[*n];
	y->c = id;
	y->len = len;
	y->prev = *n > 0 ? (int32_t)*n - 1 : -1;
	y->next = -1;
	if (*n > 0)
		E->sym[*n - 1].next = (int32_t)*n;
	(*n)++;
	return TQ_OK;
}

static int
hent_less(const struct hent *a, const struct hent *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static tq_status
heap_push(struct enc *E, size_t *n, uint32_t rank, uint32_t pos, int32_t id)
{
	struct hent x = { rank, pos, id }, *h;
	size_t i = *n, p;

	if (*n == E->cap_heap && tq_tok__grow((void **)&E->heap, &E->cap_heap,
	    *n + 1, sizeof(*E->heap)))
		return tq_tok__nomem(E);
	h = E->heap;
	(*n)++;
	while (i > 0) {
		p = (i - 1) / 2;
		if (!hent_less(&x, &h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = x;
	return TQ_OK;
}

static struct hent
heap_pop(struct hent *h, size_t *n)
{
	struct hent top = h[0], x = h[--(*n)];
	size_t i = 0, c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && hent_less(&h[c + 1], &h[c]))
			c++;
		if (!hent_less(&h[c], &x))
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n > 0)
		h[i] = x;
	return top;
}

/*
 * Word::merge_all: repeatedly apply the lowest-ranked merge, leftmost
 * first, skipping queue entries a previous merge made stale.
 */
static tq_status
merge_all(struct enc *E, size_t nsym)
{
	const struct pmap *mp = &E->tok->merges;
	const struct pmap_ent *pe;
	struct sym *y = E->sym;
	struct hent top;
	size_t nh = 0, i;
	int32_t nx;

	if (nsym < 2)
		return TQ_OK;
	for (i = 0; i + 1 < nsym; i++)
		if ((pe = tq_tok__pmap_get(mp, y[i].c, y[i + 1].c)) != NULL &&
		    heap_push(E, &nh, pe->rank, (uint32_t)i, pe->id) != TQ_OK)
			return E->st;
	while (nh > 0) {
		top = heap_pop(E->heap, &nh);
		if (y[top.pos].len == 0 || y[top.pos].next == -1)
			continue;
		nx = y[top.pos].next;
		pe = tq_tok__pmap_get(mp, y[top.pos].c, y[nx].c);
		if (pe == NULL || pe->id != top.id)
			continue;
		y[top.pos].c = top.id;
		y[top.pos].len += y[nx].len;
		y[top.pos].next = y[nx].next;
		y[nx].len = 0;
		if (y[nx].next > -1 && (size_t)y[nx].next < nsym)
			y[y[nx].next].prev = (int32_t)top.pos;
		/* New pairs with the left and the right neighbour. */
		if (y[top.pos].prev >= 0) {
			int32_t pv = y[top.pos].prev;

			pe = tq_tok__pmap_get(mp, y[pv].c, y[top.pos].c);
			if (pe != NULL && heap_push(E, &nh, pe->rank,
			    (uint32_t)pv, pe->id) != TQ_OK)
				return E->st;
		}
		if (y[top.pos].next >= 0) {
			nx = y[top.pos].next;
			pe = tq_tok__pmap_get(mp, y[top.pos].c, y[nx].c);
			if (pe != NULL && heap_push(E, &nh, pe->rank, top.pos,
			    pe->id) != TQ_OK)
				return E->st;
		}
	}
	return TQ_OK;
}

/* BPE::tokenize for one pre-token. */
tq_status
tq_tok__bpe_word(struct enc *E, const char *w, size_t len)
{
	const tq_tokenizer *tok = E->tok;
	const struct smap_ent *e;
	struct smap_ent *ce;
	const char *key;
	size_t i, n, klen, nsym = 0, k, start;
	int32_t unk = -1;
	uint32_t unk_len = 0;
	int r;

	if (len == 0)
		return TQ_OK;
	if (tok->ignore_merges &&
	    (e = tq_tok__smap_get(&tok->vocab, w, len)) != NULL)
		return tq_tok__emit(E, e->val);
	if (len <= CACHE_WORD_MAX &&
	    (e = tq_tok__smap_get(&E->cache, w, len)) != NULL) {
		for (k = 0; k < e->aux; k++)
			if (tq_tok__emit(E, E->cid[(uint32_t)e->val + k]) !=
			    TQ_OK)
				return E->st;
		return TQ_OK;
	}

	for (i = 0; i < len; i += n) {
		n = tq_utf8_len((unsigned char)w[i]);
		key = w + i;
		klen = n;
		if ((tok->prefix != NULL && i > 0) ||
		    (tok->suffix != NULL && i + n == len)) {
			E->wb.len = 0;
			if ((i > 0 && tok->prefix != NULL && tq_ubuf_add(&E->wb,
			    tok->prefix, tok->prefix_len)) ||
			    tq_ubuf_add(&E->wb, w + i, n) ||
			    (i + n == len && tok->suffix != NULL &&
			    tq_ubuf_add(&E->wb, tok->suffix, tok->suffix_len)))
				return tq_tok__nomem(E);
			key = E->wb.p;
			klen = E->wb.len;
		}
		if ((e = tq_tok__smap_get(&tok->vocab, key, klen)) != NULL) {
			if (unk >= 0) {
				if (add_sym(E, &nsym, unk, unk_len) != TQ_OK)
					return E->st;
				unk = -1;
			}
			if (add_sym(E, &nsym, e->val, (uint32_t)n) != TQ_OK)
				return E->st;
			continue;
		}
		if (tok->byte_fallback) {
			for (k = 0; k < klen; k++)
				if (tok->byte_id[(unsigned char)key[k]] < 0)
					break;
			if (k == klen) {
				/* The pending unk stays pending, as in HF. */
				for (k = 0; k < klen; k++)
					if (add_sym(E, &nsym, tok->byte_id[
					    (unsigned char)key[k]], 1) != TQ_OK)
						return E->st;
				continue;
			}
		}
		if (tok->unk == NULL)
			continue;	/* no unk_token: dropped */
		if (tok->unk_id < 0)
			return ENC_FAIL(E, TQ_EFORMAT,
			    "unk_token \"%s\" is not in the vocabulary",
			    tok->unk);
		if (unk >= 0 && tok->fuse_unk) {
			unk_len += (uint32_t)n;
			continue;
		}
		if (unk >= 0 && add_sym(E, &nsym, unk, unk_len) != TQ_OK)
			return E->st;
		unk = tok->unk_id;
		unk_len = (uint32_t)n;
	}
	if (unk >= 0 && add_sym(E, &nsym, unk, unk_len) != TQ_OK)
		return E->st;
	if (merge_all(E, nsym) != TQ_OK)
		return E->st;

	start = E->n_ids;
	for (i = 0; i < nsym; i++)
		if (E->sym[i].len != 0 && tq_tok__emit(E, E->sym[i].c) != TQ_OK)
			return E->st;
	if (len > CACHE_WORD_MAX || E->cache.n >= CACHE_ENTRIES ||
	    E->n_cid + (E->n_ids - start) > INT32_MAX)
		return TQ_OK;
	r = tq_tok__smap_put(&E->cache, w, len, &ce);
	if (r < 0 || tq_tok__grow((void **)&E->cid, &E->cap_cid,
	    E->n_cid + (E->n_ids - start), sizeof(*E->cid)))
		return tq_tok__nomem(E);
	ce->val = (int32_t)E->n_cid;
	ce->aux = (uint32_t)(E->n_ids - start);
	if (ce->aux > 0)
		memcpy(E->cid + E->n_cid, E->ids + start,
		    ce->aux * sizeof(*E->cid));
	E->n_cid += ce->aux;
	return TQ_OK;
}
