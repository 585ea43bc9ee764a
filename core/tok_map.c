/*
 * tok_map.c: the tokenizer's hash maps: strings to ids (the vocabulary,
 * added tokens, the per-call word cache) and id pairs to merges, with
 * open addressing and linear probing.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n, v;

	while (n >= 8) {
		memcpy(&v, s, 8);
		h = (h ^ v) * 0xFF51AFD7ED558CCDull;
		h ^= h >> 32;
		s += 8;
		n -= 8;
	}
	v = 0;
	if (n > 0)
		memcpy(&v, s, n);
	h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
	h ^= h >> 29;
	return h;
}

const char *
tq_tok__smap_str(const struct smap *m, const struct smap_ent *e)
{
	return m->pool.p + e->off;
}

struct smap_ent *
tq_tok__smap_get(const struct smap *m, const char *s, size_t len)
{
	struct smap_ent *e;
	size_t i;
	uint32_t k;

	if (m->slot == NULL)
		return NULL;
	i = (size_t)hash_bytes(s, len) & m->mask;
	while ((k = m->slot[i]) != 0) {
		e = &m->ent[k - 1];
		if (e->len == len && memcmp(m->pool.p + e->off, s, len) == 0)
			return e;
		i = (i + 1) & m->mask;
	}
	return NULL;
}

static int
smap_rehash(struct smap *m, size_t nslot)
{
	uint32_t *slot;
	size_t i, j;

	slot = calloc(nslot, sizeof(*slot));
	if (slot == NULL)
		return -1;
	for (i = 0; i < m->n; i++) {
		j = (size_t)hash_bytes(m->pool.p + m->ent[i].off,
		    m->ent[i].len) & (nslot - 1);
		while (slot[j] != 0)
			j = (j + 1) & (nslot - 1);
		slot[j] = (uint32_t)(i + 1);
	}
	free(m->slot);
	m->slot = slot;
	m->mask = nslot - 1;
	return 0;
}

int
tq_tok__smap_put(struct smap *m, const char *s, size_t len,
    struct smap_ent **out)
{
	struct smap_ent *e;
	size_t i;

	if ((e = tq_tok__smap_get(m, s, len)) != NULL) {
		*out = e;
		return 0;
	}
	if (len > UINT32_MAX || m->pool.len + len + 1 > UINT32_MAX ||
	    m->n + 1 >= UINT32_MAX)
		return -1;
	if (m->slot == NULL || (m->n + 1) * 4 > (m->mask + 1) * 3)
		if (smap_rehash(m, m->slot == NULL ? 64 : (m->mask + 1) * 2))
			return -1;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		void *p = realloc(m->ent, cap * sizeof(*m->ent));

		if (p == NULL)
			return -1;
		m->ent = p;
		m->cap = cap;
	}
	e = &m->ent[m->n];
	e->off = (uint32_t)m->pool.len;
	e->len = (uint32_t)len;
	e->val = 0;
	e->aux = 0;
	if (tq_ubuf_add(&m->pool, s, len) != 0 || tq_ubuf_add(&m->pool, "", 1))
		return -1;
	i = (size_t)hash_bytes(s, len) & m->mask;
	while (m->slot[i] != 0)
		i = (i + 1) & m->mask;
	m->slot[i] = (uint32_t)(++m->n);
	*out = e;
	return 1;
}

void
tq_tok__smap_free(struct smap *m)
{
	free(m->ent);
	free(m->slot);
	tq_ubuf_free(&m->pool);
	memset(m, 0, sizeof(*m));
}

#define PMAP_EMPTY	UINT64_MAX

static size_t
pmap_slot(uint64_t key, size_t mask)
{
	key *= 0x9E3779B97F4A7C15ull;
	return (size_t)(key ^ (key >> 31)) & mask;
}

const struct pmap_ent *
tq_tok__pmap_get(const struct pmap *m, int32_t a, int32_t b)
{
	uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
	size_t i;

	if (m->ent == NULL)
		return NULL;
	for (i = pmap_slot(key, m->mask); m->ent[i].key != PMAP_EMPTY;
	    i = (i + 1) & m->mask)
		if (m->ent[i].key == key)
			return &m->ent[i];
	return NULL;
}

int
tq_tok__pmap_init(struct pmap *m, size_t n)
{
	size_t cap = 16, i;

	while (cap < n * 2)
		cap *= 2;
	m->ent = malloc(cap * sizeof(*m->ent));
	if (m->ent == NULL)
		return -1;
	for (i = 0; i < cap; i++)
		m->ent[i].key = PMAP_EMPTY;
	m->mask = cap - 1;
	m->n = 0;
	return 0;
}

void
tq_tok__pmap_put(struct pmap *m, int32_t a, int32_t b, uint32_t rank,
    int32_t id)
{
	uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
	size_t i;

	for (i = pmap_slot(key, m->mask); m->ent[i].key != PMAP_EMPTY;
	    i = (i + 1) & m->mask)
		if (m->ent[i].key == key)
			break;
	if (m->ent[i].key == PMAP_EMPTY)
		m->n++;
	m->ent[i].key = key;
	m->ent[i].rank = rank;
	m->ent[i].id = id;
}
