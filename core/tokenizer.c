/*
 * tokenizer.c: Hugging Face tokenizer.json (BPE models), encode and decode.
 *
 * Reproduces what the `tokenizers` library (0.20) does, id for id:
 *
 *   1. added tokens with normalized:false are found in the raw text
 *      (leftmost-longest; single_word, lstrip and rstrip as HF has them);
 *   2. each gap between them is normalized on its own, then searched for
 *      the normalized:true added tokens;
 *   3. the remaining pieces go through the pre-tokenizers, depth first:
 *      every stage splits one piece and hands each part to the next stage,
 *      which gives the same pieces in the same order as HF's stage by
 *      stage passes over the whole list;
 *   4. the BPE model turns each final piece into ids (with a per-call
 *      cache of words, since HF caches too and corpora repeat words);
 *   5. the post-processor template adds BOS and friends on request.
 *
 * HF matches regexes with Oniguruma; we use PCRE2 after rewriting the few
 * constructs the two read differently (hf-models.md section 1.8).  The
 * find-all loop copies Oniguruma's (rust-onig's) handling of empty matches.
 *
 * Text that is not valid UTF-8 is encoded as if every ill-formed sequence
 * were U+FFFD, which is what Python's bytes.decode(errors="replace") hands
 * to HF.  A loaded tokenizer is read-only; all scratch memory belongs to
 * one call, so threads may share a tokenizer.
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <cJSON.h>

#include "error.h"
#include "fileio.h"
#include "tokenizer.h"
#include "unicode.h"

#define MAX_STAGES	32	/* pre-tokenizers after flattening */
#define MAX_NEST	32	/* Sequence inside Sequence ... */
#define MAX_ID		((int32_t)1 << 27)
#define CACHE_WORD_MAX	256	/* longest word the per-call cache keeps */
#define CACHE_ENTRIES	(1u << 20)

/* The GPT-2 regex built into HF's ByteLevel pre-tokenizer. */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+"
    "|\\s+(?!\\S)|\\s+";
/* Rust regex's Unicode \w, for Whitespace and single_word. */
#define RUST_WORD	"\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}"
#define WHITE_SPACE	"\\t-\\r\\x{85}\\p{Z}"

/* ---- Hash maps -------------------------------------------------------- */

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

/* Strings (kept in the map's own pool) to an int32 value and an aux word. */
struct smap_ent {
	uint32_t off, len;
	int32_t val;
	uint32_t aux;
};

struct smap {
	struct smap_ent *ent;
	size_t n, cap;
	uint32_t *slot;		/* entry index + 1, 0 when empty */
	size_t mask;
	struct tq_ubuf pool;
};

static const char *
smap_str(const struct smap *m, const struct smap_ent *e)
{
	return m->pool.p + e->off;
}

static struct smap_ent *
smap_get(const struct smap *m, const char *s, size_t len)
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

/* Finds or adds s; returns 1 when added, 0 when found, -1 on ENOMEM. */
static int
smap_put(struct smap *m, const char *s, size_t len, struct smap_ent **out)
{
	struct smap_ent *e;
	size_t i;

	if ((e = smap_get(m, s, len)) != NULL) {
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

static void
smap_free(struct smap *m)
{
	free(m->ent);
	free(m->slot);
	tq_ubuf_free(&m->pool);
	memset(m, 0, sizeof(*m));
}

/* Merges: (left id, right id) to (rank, new id). */
struct pmap_ent {
	uint64_t key;
	uint32_t rank;
	int32_t id;
};

struct pmap {
	struct pmap_ent *ent;
	size_t n, mask;
};

#define PMAP_EMPTY	UINT64_MAX

static size_t
pmap_slot(uint64_t key, size_t mask)
{
	key *= 0x9E3779B97F4A7C15ull;
	return (size_t)(key ^ (key >> 31)) & mask;
}

static const struct pmap_ent *
pmap_get(const struct pmap *m, int32_t a, int32_t b)
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

static int
pmap_init(struct pmap *m, size_t n)
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

/* A later merge of the same pair wins, as HF's HashMap collect does. */
static void
pmap_put(struct pmap *m, int32_t a, int32_t b, uint32_t rank, int32_t id)
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

/* ---- The tokenizer ---------------------------------------------------- */

enum split_behavior {
	SPLIT_REMOVED,
	SPLIT_ISOLATED,
	SPLIT_MERGED_PREV,
	SPLIT_MERGED_NEXT,
	SPLIT_CONTIGUOUS
};

enum prepend_scheme {
	PREPEND_ALWAYS,
	PREPEND_FIRST,
	PREPEND_NEVER
};

enum norm_kind {
	NORM_NFC,
	NORM_LOWERCASE,
	NORM_PREPEND,
	NORM_REPLACE,
	NORM_STRIP,
	NORM_BYTELEVEL
};

struct norm {
	enum norm_kind kind;
	char *text;		/* Prepend's prefix, Replace's content */
	size_t text_len;
	pcre2_code *re;		/* Replace */
	int left, right;	/* Strip */
};

enum pre_kind {
	PRE_SPLIT,
	PRE_BYTELEVEL,
	PRE_METASPACE
};

struct pretok {
	enum pre_kind kind;
	pcre2_code *re;		/* Split; ByteLevel's GPT-2 regex or NULL */
	enum split_behavior behavior;
	int invert;
	int prefix_space;	/* ByteLevel */
	char rep[4];		/* Metaspace replacement, UTF-8 */
	size_t rep_len;
	enum prepend_scheme scheme;
	int split;
};

enum dec_kind {
	DEC_BYTELEVEL,
	DEC_REPLACE,
	DEC_BYTEFALLBACK,
	DEC_FUSE,
	DEC_STRIP,
	DEC_METASPACE,
	DEC_BPE
};

struct decoder {
	enum dec_kind kind;
	pcre2_code *re;		/* Replace */
	char *text;		/* Replace's content, BPEDecoder's suffix */
	size_t text_len;
	char ch[4];		/* Strip's content, Metaspace's replacement */
	size_t ch_len;
	size_t start, stop;	/* Strip */
	int never;		/* Metaspace: prepend_scheme "never" */
};

/* One piece of the single-sequence template: $A or special ids. */
struct tpiece {
	int is_seq;
	int32_t *ids;
	size_t n;
};

struct added_tok {
	char *content;
	size_t len;
	int single_word, lstrip, rstrip, normalized, special;
};

/* Leftmost-longest search for a set of strings, bucketed by first byte. */
struct apat {
	const char *s;
	size_t len;
	int32_t id;
};

struct amatch {
	struct apat *pat;
	size_t n;
	uint32_t start[257];
};

struct tq_tokenizer {
	char *path;

	/* BPE model */
	struct smap vocab;
	struct pmap merges;
	int32_t unk_id;		/* -1: none */
	char *unk;		/* unk_token even when not in the vocab */
	char *prefix;		/* continuing_subword_prefix */
	char *suffix;		/* end_of_word_suffix */
	size_t prefix_len, suffix_len;
	int fuse_unk, byte_fallback, ignore_merges;
	int32_t byte_id[256];	/* <0xNN>, -1 when absent */

	/* added tokens: the one per id that HF keeps in added_tokens_map_r */
	struct added_tok *added;
	size_t n_added;
	struct smap added_map;	/* content -> id */
	struct smap special;	/* contents of special tokens */
	struct amatch raw_match, norm_match;
	char *npool;		/* the normalized patterns of norm_match */
	pcre2_code *word_re;	/* Rust's \w, for single_word */

	/* ids */
	int32_t n_vocab;
	const char **id_str;
	uint32_t *id_len;
	int32_t *id_added;	/* index into added[], or -1 */
	uint8_t *id_special;

	struct norm *norms;
	size_t n_norms;
	struct pretok *pres;
	size_t n_pres;
	struct decoder *decs;
	size_t n_decs;
	int has_decoder;
	struct tpiece *tmpl;	/* NULL: ids pass through */
	size_t n_tmpl;
	int32_t bos;

	char bl_char[256][2];	/* bl_cp() of each byte, as UTF-8 */
	uint8_t bl_len[256];
};

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the
 * other 68 become U+0100.. in byte order. */
static uint32_t
bl_cp(unsigned b)
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
static int
bl_byte(uint32_t cp)
{
	if (cp < 0x100)
		return bl_cp(cp) == cp ? (int)cp : -1;
	if (cp <= 0x120)
		return (int)(cp - 0x100);
	if (cp <= 0x142)
		return (int)(0x7F + (cp - 0x121));
	return cp == 0x143 ? 0xAD : -1;
}

/* ---- Regexes ---------------------------------------------------------- */

static int
ishex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static int
isdig(int c)
{
	return c >= '0' && c <= '9';
}

/* Copies an escape's argument in braces ("\p{L}", "\x{85}") if present. */
static int
copy_braces(struct tq_ubuf *b, const char *p, size_t n, size_t *i)
{
	size_t j = *i;

	if (j >= n || p[j] != '{')
		return 0;
	while (j < n && p[j] != '}')
		j++;
	if (j < n)
		j++;
	if (tq_ubuf_add(b, p + *i, j - *i) != 0)
		return -1;
	*i = j;
	return 0;
}

/* Oniguruma's Unicode \w: Alphabetic, marks, decimal digits, Pc. */
#define ONIG_WORD	"\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}"

/*
 * Writes the PCRE2 form of the escape at p[*i] == '\\' (inside a class
 * when in_class) and moves *i past it.  Returns 0, -1 when out of memory,
 * or 1 with *why when PCRE2 cannot say it.
 */
static int
rw_escape(struct tq_ubuf *b, const char *p, size_t n, size_t *i,
    int in_class, const char **why)
{
	static const struct {
		char c;
		const char *out, *in_class;
	} map[] = {
		{ 's', "[" WHITE_SPACE "]", WHITE_SPACE },
		{ 'S', "[^" WHITE_SPACE "]", "\\P{White_Space}" },
		{ 'w', "[" ONIG_WORD "]", ONIG_WORD },
		{ 'W', "[^" ONIG_WORD "]", NULL },
		{ 'h', "[0-9a-fA-F]", "0-9a-fA-F" },	/* a hex digit */
		{ 'H', "[^0-9a-fA-F]", NULL },
		{ 'v', "\\x0B", "\\x0B" },		/* vertical tab only */
	};
	const char *out;
	size_t k, len;
	char d;

	if (*i + 1 >= n) {	/* a lone trailing backslash */
		(*i)++;
		return tq_ubuf_add(b, "\\", 1);
	}
	d = p[*i + 1];
	for (k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
		if (map[k].c != d)
			continue;
		out = in_class ? map[k].in_class : map[k].out;
		if (out == NULL) {
			*why = "\\W or \\H inside a character class";
			return 1;
		}
		*i += 2;
		return tq_ubuf_add(b, out, strlen(out));
	}
	if (d == 'u' && *i + 6 <= n && ishex(p[*i + 2]) && ishex(p[*i + 3]) &&
	    ishex(p[*i + 4]) && ishex(p[*i + 5])) {
		if (tq_ubuf_add(b, "\\x{", 3) ||
		    tq_ubuf_add(b, p + *i + 2, 4) || tq_ubuf_add(b, "}", 1))
			return -1;
		*i += 6;
		return 0;
	}
	/* Anything else is the same in both engines: copy it whole. */
	len = tq_utf8_len((unsigned char)d);
	if (len > n - *i - 1)
		len = n - *i - 1;
	if (tq_ubuf_add(b, p + *i, 1 + len) != 0)
		return -1;
	*i += 1 + len;
	return copy_braces(b, p, n, i);
}

/* Copies the character class at p[*i] == '['; returns as rw_escape. */
static int
rw_class(struct tq_ubuf *b, const char *p, size_t n, size_t *i,
    const char **why)
{
	size_t j = *i + 1;
	int r = 0;

	if (j < n && p[j] == '^')
		j++;
	if (j < n && p[j] == ']')	/* a leading ] is literal */
		j++;
	if (tq_ubuf_add(b, p + *i, j - *i) != 0)
		return -1;
	*i = j;
	while (*i < n && p[*i] != ']' && r == 0) {
		if (p[*i] == '\\')
			r = rw_escape(b, p, n, i, 1, why);
		else if (p[*i] == '[' && *i + 1 < n && p[*i + 1] == ':') {
			/* A POSIX class: through ":]". */
			for (j = *i + 2; j + 1 < n; j++)
				if (p[j] == ':' && p[j + 1] == ']')
					break;
			j = j + 1 < n ? j + 2 : n;
			r = tq_ubuf_add(b, p + *i, j - *i);
			*i = j;
		} else if (p[*i] == '[') {
			*why = "nested character class";
			return 1;
		} else if (p[*i] == '&' && *i + 1 < n && p[*i + 1] == '&') {
			*why = "character class intersection (&&)";
			return 1;
		} else
			r = tq_ubuf_add(b, p + (*i)++, 1);
	}
	if (r == 0 && *i < n) {
		r = tq_ubuf_add(b, "]", 1);
		(*i)++;
	}
	return r;
}

/*
 * Parses an interval at p[i] == '{': {n}, {n,}, {n,m} or {,m}.  Returns its
 * length (0 if it is not one, and then '{' is a literal in both engines);
 * *fixed tells {n} apart.
 */
static size_t
parse_interval(const char *p, size_t n, size_t i, int *fixed, int *lowabbrev)
{
	size_t j = i + 1, d1, d2 = 0;
	int comma = 0;

	d1 = j;
	while (j < n && isdig((unsigned char)p[j]))
		j++;
	d1 = j - d1;
	if (j < n && p[j] == ',') {
		comma = 1;
		j++;
		d2 = j;
		while (j < n && isdig((unsigned char)p[j]))
			j++;
		d2 = j - d2;
	}
	if (j >= n || p[j] != '}' || (d1 == 0 && d2 == 0))
		return 0;
	*fixed = !comma;
	*lowabbrev = d1 == 0;
	return j + 1 - i;
}

/*
 * Writes the interval at p[*i] that quantifies the atom starting at
 * output offset atom.  Oniguruma reads X{n,m}+ as (X{n,m})+ and X{n}? as
 * (X{n})?, where PCRE2 sees possessive and lazy quantifiers; {,m} is
 * {0,m} there.
 */
static int
rw_interval(struct tq_ubuf *b, const char *p, size_t n, size_t *i,
    size_t len, int fixed, int lowabbrev, size_t atom)
{
	char q = *i + len < n ? p[*i + len] : 0;
	int wrap = q == '+' || (q == '?' && fixed);

	if (wrap) {
		if (tq_ubuf_reserve(b, 3) != 0)
			return -1;
		memmove(b->p + atom + 3, b->p + atom, b->len - atom);
		memcpy(b->p + atom, "(?:", 3);
		b->len += 3;
	}
	if (tq_ubuf_add(b, "{", 1) || (lowabbrev && tq_ubuf_add(b, "0", 1)) ||
	    tq_ubuf_add(b, p + *i + 1, len - 1))
		return -1;
	*i += len;
	if (wrap) {
		if (tq_ubuf_add(b, ")", 1) || tq_ubuf_add(b, &q, 1))
			return -1;
		(*i)++;
	}
	return 0;
}

/* An option group "(?imx-imx)" or "(?imx-imx:"; returns its length. */
static size_t
option_group(const char *p, size_t n, size_t i)
{
	size_t j = i + 2;

	if (i + 1 >= n || p[i + 1] != '?')
		return 0;
	while (j < n && (p[j] == 'i' || p[j] == 'm' || p[j] == 'x' ||
	    p[j] == '-'))
		j++;
	if (j == i + 2 || j >= n || (p[j] != ')' && p[j] != ':'))
		return 0;
	return j + 1 - i;
}

tq_status
tq_tokenizer_regex_rewrite(const char *p, size_t n, char **out,
    size_t *out_len, const char **why)
{
	struct tq_ubuf b = { NULL, 0, 0 };
	size_t group[64], atom = SIZE_MAX, i = 0, j, len;
	int depth = 0, r = 0, fixed, lowabbrev;
	char c;

	*out = NULL;
	*why = NULL;
	while (i < n && r == 0) {
		c = p[i];
		if (c == '\\') {
			atom = b.len;
			r = rw_escape(&b, p, n, &i, 0, why);
		} else if (c == '[') {
			atom = b.len;
			r = rw_class(&b, p, n, &i, why);
		} else if (c == '(' && i + 2 < n && p[i + 1] == '?' &&
		    p[i + 2] == '#') {
			/* A comment: copy through ')'; not a group. */
			for (j = i; j < n && p[j] != ')'; j++)
				;
			j = j < n ? j + 1 : n;
			r = tq_ubuf_add(&b, p + i, j - i);
			i = j;
		} else if (c == '(') {
			/* Options: Oniguruma's m (dot matches newline) is
			 * PCRE2's s.  "(?i)" alone opens no group. */
			len = option_group(p, n, i);
			if (len == 0 || p[i + len - 1] == ':') {
				if (depth == 64) {
					*why = "groups nested that deeply";
					r = 1;
					break;
				}
				group[depth++] = b.len;
			}
			if (len == 0)
				len = 1;
			for (j = i; j < i + len && r == 0; j++)
				r = tq_ubuf_add(&b, p[j] == 'm' && j > i + 1 ?
				    "s" : p + j, 1);
			i += len;
			atom = SIZE_MAX;
		} else if (c == ')') {
			atom = depth > 0 ? group[--depth] : SIZE_MAX;
			r = tq_ubuf_add(&b, ")", 1);
			i++;
		} else if (c == '{' && atom != SIZE_MAX &&
		    (len = parse_interval(p, n, i, &fixed, &lowabbrev)) > 0) {
			r = rw_interval(&b, p, n, &i, len, fixed, lowabbrev,
			    atom);
			atom = SIZE_MAX;
		} else {
			/* Quantifiers and '|' end an atom; anything else is a
			 * character (a literal '{' too), '^' and '$' aside. */
			if (c == '*' || c == '+' || c == '?' || c == '|' ||
			    c == '^' || c == '$')
				atom = SIZE_MAX;
			else
				atom = b.len;
			len = tq_utf8_len((unsigned char)c);
			if (len > n - i)
				len = n - i;
			r = tq_ubuf_add(&b, p + i, len);
			i += len;
		}
	}
	if (r == 0 && tq_ubuf_add(&b, "", 1) == 0) {
		*out = b.p;
		*out_len = b.len - 1;
		return TQ_OK;
	}
	tq_ubuf_free(&b);
	return r > 0 ? TQ_EUNSUPPORTED : TQ_ENOMEM;
}

/* ---- Per-call state ----------------------------------------------------- */

/* A stretch of a string, and whether the pattern matched it. */
struct seg {
	size_t s, e;
	int m;
};

/*
 * A piece: bytes [off, off + len) of some buffer.  zlen counts its leading
 * bytes whose offset in the original text is 0; Metaspace's "first" scheme
 * needs it (HF's offsets_original().0 == 0).
 */
struct piece {
	size_t off, len, zlen;
};

struct piecev {
	struct piece *v;
	size_t n, cap;
};

struct sym {
	int32_t c, prev, next;
	uint32_t len;		/* bytes; 0 marks a symbol merged away */
};

struct hent {
	uint32_t rank, pos;
	int32_t id;
};

struct enc {
	const tq_tokenizer *tok;
	tq_error *err;
	tq_status st;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	pcre2_jit_stack *js;

	int32_t *ids;
	size_t n_ids, cap_ids;

	struct seg *seg;
	size_t n_seg, cap_seg;
	struct piecev lv[MAX_STAGES + 1];
	struct tq_ubuf lb[MAX_STAGES + 1];
	struct tq_ubuf nb[2];	/* normalizers write here in turn */
	struct tq_ubuf wb;	/* BPE lookups with prefix or suffix */

	struct sym *sym;
	size_t cap_sym;
	struct hent *heap;
	size_t cap_heap;
	struct smap cache;	/* word -> (offset, count) in cid */
	int32_t *cid;
	size_t n_cid, cap_cid;
};

static void
enc_fail_msg(struct enc *E, tq_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the error; the macro's value is st itself, which keeps the
 * failing paths plain to static analyzers. */
#define ENC_FAIL(E, st, ...)	(enc_fail_msg((E), (st), __VA_ARGS__), (st))

static void
enc_fail_msg(struct enc *E, tq_status st, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	E->st = st;
	(void)tq_fail(E->err, st, "%s: %s", E->tok->path, msg);
}

static tq_status
enc_nomem(struct enc *E)
{
	return ENC_FAIL(E, TQ_ENOMEM, "out of memory");
}

static tq_status
enc_init(struct enc *E, const tq_tokenizer *tok, tq_error *err)
{
	memset(E, 0, sizeof(*E));
	E->tok = tok;
	E->err = err;
	E->md = pcre2_match_data_create(1, NULL);
	E->mc = pcre2_match_context_create(NULL);
	E->js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
	if (E->md == NULL || E->mc == NULL || E->js == NULL)
		return enc_nomem(E);
	pcre2_jit_stack_assign(E->mc, NULL, E->js);
	return TQ_OK;
}

static void
enc_done(struct enc *E)
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
	smap_free(&E->cache);
	free(E->cid);
}

static int
grow(void **p, size_t *cap, size_t need, size_t size)
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

static tq_status
emit(struct enc *E, int32_t id)
{
	if (E->n_ids == E->cap_ids && grow((void **)&E->ids, &E->cap_ids,
	    E->n_ids + 1, sizeof(*E->ids)))
		return enc_nomem(E);
	E->ids[E->n_ids++] = id;
	return TQ_OK;
}

static tq_status
seg_push(struct enc *E, size_t s, size_t e, int m)
{
	if (E->n_seg == E->cap_seg && grow((void **)&E->seg, &E->cap_seg,
	    E->n_seg + 1, sizeof(*E->seg)))
		return enc_nomem(E);
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
	if (v->n == v->cap && grow((void **)&v->v, &v->cap, v->n + 1,
	    sizeof(*v->v)))
		return enc_nomem(E);
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
static tq_status
find_regex(struct enc *E, const pcre2_code *re, const char *s, size_t len)
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

/* ---- Normalizers -------------------------------------------------------- */

/* Appends the ByteLevel form of s to b. */
static int
bytelevel_map(const tq_tokenizer *tok, struct tq_ubuf *b, const char *s,
    size_t len)
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

static size_t
bytelevel_len(const tq_tokenizer *tok, const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += tok->bl_len[(unsigned char)s[i]];
	return n;
}

/* Replace: content for every match, tracking zero-offset bytes as HF's
 * alignments do (inserted text inherits the last replaced byte's). */
static tq_status
norm_replace(struct enc *E, const struct norm *nm, struct tq_ubuf *d,
    const char *s, size_t len, size_t *zlen)
{
	size_t i, z = *zlen, nz = 0;
	int zero_run = 1, flag;

	if (find_regex(E, nm->re, s, len) != TQ_OK)
		return E->st;
	for (i = 0; i < E->n_seg; i++) {
		const struct seg *g = &E->seg[i];

		if (g->m) {
			if (tq_ubuf_add(d, nm->text, nm->text_len) != 0)
				return enc_nomem(E);
			flag = g->e == 0 ? z > 0 : g->e - 1 < z;
			if (zero_run && flag)
				nz += nm->text_len;
			else
				zero_run = 0;
			continue;
		}
		if (tq_ubuf_add(d, s + g->s, g->e - g->s) != 0)
			return enc_nomem(E);
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
static tq_status
normalize(struct enc *E, const char *s, size_t len, size_t *zlen,
    const char **out, size_t *out_len)
{
	const tq_tokenizer *tok = E->tok;
	struct tq_ubuf *d;
	size_t k, z, i, j;
	uint32_t cp;

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
				return enc_nomem(E);
			if (z > 0 && z < len) {
				/* Near enough: the normalized zero prefix. */
				E->wb.len = 0;
				if ((nm->kind == NORM_NFC ?
				    tq_unicode_nfc(&E->wb, s, z) :
				    tq_unicode_lower(&E->wb, s, z)) != 0)
					return enc_nomem(E);
				z = E->wb.len < d->len ? E->wb.len : d->len;
			} else if (z > 0)
				z = d->len;
			break;
		case NORM_PREPEND:
			if (len > 0) {
				if (tq_ubuf_add(d, nm->text, nm->text_len) != 0)
					return enc_nomem(E);
				if (z > 0)
					z += nm->text_len;
			}
			if (tq_ubuf_add(d, s, len) != 0)
				return enc_nomem(E);
			break;
		case NORM_REPLACE:
			if (norm_replace(E, nm, d, s, len, &z) != TQ_OK)
				return E->st;
			break;
		case NORM_STRIP:
			i = 0;
			j = len;
			while (nm->left && i < len) {
				size_t n = tq_utf8_next(s + i, &cp);

				if (!tq_unicode_is_space(cp))
					break;
				i += n;
			}
			while (nm->right && j > i) {
				size_t b = j - 1;

				while (b > i && ((unsigned char)s[b] & 0xC0) ==
				    0x80)
					b--;
				tq_utf8_next(s + b, &cp);
				if (!tq_unicode_is_space(cp))
					break;
				j = b;
			}
			if (tq_ubuf_add(d, s + i, j - i) != 0)
				return enc_nomem(E);
			z = z > i ? z - i : 0;
			if (z > j - i)
				z = j - i;
			break;
		case NORM_BYTELEVEL:
			if (bytelevel_map(tok, d, s, len) != 0)
				return enc_nomem(E);
			z = bytelevel_len(tok, s, z < len ? z : len);
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

/* ---- BPE ---------------------------------------------------------------- */

static tq_status
add_sym(struct enc *E, size_t *n, int32_t id, uint32_t len)
{
	struct sym *y;

	if (*n == E->cap_sym && grow((void **)&E->sym, &E->cap_sym, *n + 1,
	    sizeof(*E->sym)))
		return enc_nomem(E);
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

	if (*n == E->cap_heap && grow((void **)&E->heap, &E->cap_heap, *n + 1,
	    sizeof(*E->heap)))
		return enc_nomem(E);
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
		if ((pe = pmap_get(mp, y[i].c, y[i + 1].c)) != NULL &&
		    heap_push(E, &nh, pe->rank, (uint32_t)i, pe->id) != TQ_OK)
			return E->st;
	while (nh > 0) {
		top = heap_pop(E->heap, &nh);
		if (y[top.pos].len == 0 || y[top.pos].next == -1)
			continue;
		nx = y[top.pos].next;
		pe = pmap_get(mp, y[top.pos].c, y[nx].c);
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

			pe = pmap_get(mp, y[pv].c, y[top.pos].c);
			if (pe != NULL && heap_push(E, &nh, pe->rank,
			    (uint32_t)pv, pe->id) != TQ_OK)
				return E->st;
		}
		if (y[top.pos].next >= 0) {
			nx = y[top.pos].next;
			pe = pmap_get(mp, y[top.pos].c, y[nx].c);
			if (pe != NULL && heap_push(E, &nh, pe->rank, top.pos,
			    pe->id) != TQ_OK)
				return E->st;
		}
	}
	return TQ_OK;
}

/* BPE::tokenize for one pre-token. */
static tq_status
bpe_word(struct enc *E, const char *w, size_t len)
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
	if (tok->ignore_merges && (e = smap_get(&tok->vocab, w, len)) != NULL)
		return emit(E, e->val);
	if (len <= CACHE_WORD_MAX &&
	    (e = smap_get(&E->cache, w, len)) != NULL) {
		for (k = 0; k < e->aux; k++)
			if (emit(E, E->cid[(uint32_t)e->val + k]) != TQ_OK)
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
				return enc_nomem(E);
			key = E->wb.p;
			klen = E->wb.len;
		}
		if ((e = smap_get(&tok->vocab, key, klen)) != NULL) {
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
		if (E->sym[i].len != 0 && emit(E, E->sym[i].c) != TQ_OK)
			return E->st;
	if (len > CACHE_WORD_MAX || E->cache.n >= CACHE_ENTRIES ||
	    E->n_cid + (E->n_ids - start) > INT32_MAX)
		return TQ_OK;
	r = smap_put(&E->cache, w, len, &ce);
	if (r < 0 || grow((void **)&E->cid, &E->cap_cid,
	    E->n_cid + (E->n_ids - start), sizeof(*E->cid)))
		return enc_nomem(E);
	ce->val = (int32_t)E->n_cid;
	ce->aux = (uint32_t)(E->n_ids - start);
	if (ce->aux > 0)
		memcpy(E->cid + E->n_cid, E->ids + start,
		    ce->aux * sizeof(*E->cid));
	E->n_cid += ce->aux;
	return TQ_OK;
}

/* ---- Pre-tokenizers ------------------------------------------------------ */

/*
 * Runs pre-tokenizer stage lvl on one piece and everything after it on
 * each part; past the last stage the piece goes to the model.  Each level
 * has its own piece list and text buffer, untouched by deeper levels.
 */
static tq_status
pretok_run(struct enc *E, size_t lvl, const char *s, size_t len, size_t zlen)
{
	const tq_tokenizer *tok = E->tok;
	const struct pretok *pt;
	struct piecev *v;
	struct tq_ubuf *b;
	const char *base, *t;
	size_t i, tlen, tz, n;

	if (lvl == tok->n_pres)
		return bpe_word(E, s, len);
	pt = &tok->pres[lvl];
	v = &E->lv[lvl];
	b = &E->lb[lvl];
	v->n = 0;
	b->len = 0;
	base = s;
	switch (pt->kind) {
	case PRE_SPLIT:
		if (find_regex(E, pt->re, s, len) != TQ_OK ||
		    split_segs(E, pt->behavior, pt->invert, v, 0, zlen))
			return E->st;
		break;
	case PRE_BYTELEVEL:
		/* Room for " " + s and its mapping, so b never moves. */
		if (tq_ubuf_reserve(b, 3 * (len + 1)) != 0)
			return enc_nomem(E);
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
			if (find_regex(E, pt->re, t, tlen) != TQ_OK ||
			    split_segs(E, SPLIT_ISOLATED, 0, v, 0, tz) != TQ_OK)
				return E->st;
		} else if (tlen > 0 &&
		    piece_push(E, v, 0, tlen, tz) != TQ_OK)
			return E->st;
		/* Map every part's bytes; the parts now live in b. */
		for (i = 0; i < v->n; i++) {
			struct piece *pc = &v->v[i];
			size_t off = b->len;

			(void)bytelevel_map(tok, b, t + pc->off, pc->len);
			pc->zlen = bytelevel_len(tok, t + pc->off,
			    pc->zlen < pc->len ? pc->zlen : pc->len);
			pc->off = off;
			pc->len = b->len - off;
		}
		base = b->p;
		break;
	case PRE_METASPACE:
		if (tq_ubuf_reserve(b, (len + 1) * pt->rep_len) != 0)
			return enc_nomem(E);
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

		if (pretok_run(E, lvl + 1, base + pc.off, pc.len, pc.zlen) !=
		    TQ_OK)
			return E->st;
	}
	return TQ_OK;
}

/* ---- Added tokens -------------------------------------------------------- */

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
	uint32_t cp;

	while (amatch_find(a, s, len, pos, &ms, &me, &id)) {
		pos = me;
		t = &tok->added[tok->id_added[id]];
		start = ms;
		stop = me;
		if (t->single_word && ((start > 0 && word_at(E, s, len, start,
		    -1)) || (stop < len && word_at(E, s, len, stop, 1))))
			continue;
		if (t->lstrip) {
			k = start;
			while (k > 0) {
				size_t b = k - 1;

				while (b > 0 && ((unsigned char)s[b] & 0xC0) ==
				    0x80)
					b--;
				tq_utf8_next(s + b, &cp);
				if (!tq_unicode_is_space(cp))
					break;
				k = b;
			}
			start = k > last ? k : last;
		}
		if (t->rstrip)
			while (stop < len) {
				k = tq_utf8_next(s + stop, &cp);
				if (!tq_unicode_is_space(cp))
					break;
				stop += k;
			}
		if (last < start && fn(E, s + last, start - last,
		    last < zlen ? zlen - last : 0) != TQ_OK)
			return E->st;
		if (emit(E, id) != TQ_OK)
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
	return pretok_run(E, 0, s, len, zlen);
}

static tq_status
raw_gap(struct enc *E, const char *s, size_t len, size_t zlen)
{
	const char *ns;
	size_t nlen;

	if (normalize(E, s, len, &zlen, &ns, &nlen) != TQ_OK)
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
	if (enc_init(&E, tok, err) != TQ_OK)
		goto done;
	if (len > 0 && tq_utf8_check(text, len) != len) {
		if (tq_utf8_sanitize(&clean, text, len) != 0) {
			enc_nomem(&E);
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
		enc_nomem(&E);
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
	enc_done(&E);
	tq_ubuf_free(&clean);
	return E.st;
}

/* ---- Decode ------------------------------------------------------------ */

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

	if (t->n == t->cap && grow((void **)&t->v, &t->cap, t->n + 1,
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
				if (bl_byte(cp) < 0)
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
				c = (char)bl_byte(cp);
				if (tq_ubuf_add(&bytes, &c, 1) != 0)
					goto nomem;
			}
			break;
		case DEC_REPLACE:
			if (find_regex(E, d->re, s, len) != TQ_OK)
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
	enc_nomem(E);
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
	if (enc_init(&E, tok, err) != TQ_OK)
		goto done;
	for (i = 0; i < n_ids; i++) {
		id = ids[i];
		/* Unknown ids are dropped, as HF's filter_map does. */
		if (id < 0 || id >= tok->n_vocab || tok->id_str[id] == NULL)
			continue;
		if (skip_special && tok->id_special[id])
			continue;
		if (tokv_add(&tv[0], tok->id_str[id], tok->id_len[id]) != 0) {
			enc_nomem(&E);
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
		enc_nomem(&E);
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
	enc_done(&E);
	return E.st;
}

/* ---- Loading ----------------------------------------------------------- */

struct loader {
	tq_tokenizer *tok;
	tq_error *err;
	tq_status st;		/* of the last LFAIL() */
	pcre2_compile_context *cc;
	int depth;
};

static void
lfail_msg(struct loader *L, tq_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LFAIL(L, st, ...)	(lfail_msg((L), (st), __VA_ARGS__), (st))

static void
lfail_msg(struct loader *L, tq_status st, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	L->st = st;
	(void)tq_fail(L->err, st, "%s: %s", L->tok->path, msg);
}

static tq_status
lnomem(struct loader *L)
{
	return LFAIL(L, TQ_ENOMEM, "out of memory");
}

static const cJSON *
jget(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int
jnull(const cJSON *v)
{
	return v == NULL || cJSON_IsNull(v);
}

/* A boolean field; absent or null gives def. */
static tq_status
jbool(struct loader *L, const cJSON *o, const char *key, int def, int *out,
    const char *where)
{
	const cJSON *v = jget(o, key);

	*out = def;
	if (jnull(v))
		return TQ_OK;
	if (!cJSON_IsBool(v))
		return LFAIL(L, TQ_EFORMAT, "%s: \"%s\" must be true or false",
		    where, key);
	*out = cJSON_IsTrue(v);
	return TQ_OK;
}

/* A string field; absent or null gives NULL unless required. */
static tq_status
jstr(struct loader *L, const cJSON *o, const char *key, int required,
    const char **out, const char *where)
{
	const cJSON *v = jget(o, key);

	*out = NULL;
	if (jnull(v)) {
		if (required)
			return LFAIL(L, TQ_EFORMAT, "%s: \"%s\" is missing",
			    where, key);
		return TQ_OK;
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return LFAIL(L, TQ_EFORMAT, "%s: \"%s\" must be a string",
		    where, key);
	*out = v->valuestring;
	return TQ_OK;
}

/* A non-negative integer no larger than max. */
static int
jint_ok(const cJSON *v, double max)
{
	return cJSON_IsNumber(v) && v->valuedouble >= 0 &&
	    v->valuedouble <= max && v->valuedouble == (double)(int64_t)
	    v->valuedouble;
}

static tq_status
juint(struct loader *L, const cJSON *o, const char *key, size_t def,
    size_t *out, const char *where)
{
	const cJSON *v = jget(o, key);

	*out = def;
	if (jnull(v))
		return TQ_OK;
	if (!jint_ok(v, 1e15))
		return LFAIL(L, TQ_EFORMAT,
		    "%s: \"%s\" must be a non-negative integer", where, key);
	*out = (size_t)v->valuedouble;
	return TQ_OK;
}

/* A string that must be exactly one character (Rust's char fields). */
static tq_status
jchar(struct loader *L, const cJSON *o, const char *key, const char *def,
    char out[4], size_t *out_len, const char *where)
{
	const char *s;
	size_t n;

	*out_len = 0;
	if (jstr(L, o, key, def == NULL, &s, where) != TQ_OK)
		return L->st;
	if (s == NULL && (s = def) == NULL)
		return LFAIL(L, TQ_EFORMAT, "%s: \"%s\" is missing", where,
		    key);
	n = strlen(s);
	if (n == 0 || tq_utf8_len((unsigned char)s[0]) != n)
		return LFAIL(L, TQ_EFORMAT,
		    "%s: \"%s\" must be a single character", where, key);
	memcpy(out, s, n);
	*out_len = n;
	return TQ_OK;
}

static tq_status
jtype(struct loader *L, const cJSON *o, const char **type, const char *where)
{
	if (!cJSON_IsObject(o))
		return LFAIL(L, TQ_EFORMAT, "%s: must be an object or null",
		    where);
	return jstr(L, o, "type", 1, type, where);
}

static char *
dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/*
 * A copy of the string under key (or of def when it is absent; required
 * when def is NULL) into *text, *len.
 */
static tq_status
jstr_dup(struct loader *L, const cJSON *o, const char *key, const char *def,
    char **text, size_t *len, const char *where)
{
	const char *v;

	if (jstr(L, o, key, def == NULL, &v, where) != TQ_OK)
		return L->st;
	v = v != NULL ? v : def;
	*len = strlen(v);
	if ((*text = dupn(v, *len)) == NULL)
		return lnomem(L);
	return TQ_OK;
}

/*
 * Compiles a pattern: literal (PCRE2_LITERAL) or an Oniguruma regex after
 * tq_tokenizer_regex_rewrite.  Errors name the pattern, PCRE2's message
 * and the offset.
 */
static tq_status
regex_compile(struct loader *L, const char *pat, size_t len, int literal,
    pcre2_code **out, const char *where)
{
	PCRE2_UCHAR msg[160];
	PCRE2_SIZE off;
	const char *why;
	char *rw = NULL;
	size_t rwlen = 0;
	tq_status st;
	int ec;

	*out = NULL;
	if (literal)
		*out = pcre2_compile((PCRE2_SPTR)pat, len,
		    PCRE2_UTF | PCRE2_LITERAL, &ec, &off, L->cc);
	else {
		st = tq_tokenizer_regex_rewrite(pat, len, &rw, &rwlen, &why);
		if (st == TQ_ENOMEM)
			return lnomem(L);
		if (st != TQ_OK)
			return LFAIL(L, st, "%s: regex /%.*s/: %s is not "
			    "supported", where, (int)(len > 200 ? 200 : len),
			    pat, why);
		*out = pcre2_compile((PCRE2_SPTR)rw, rwlen, PCRE2_UTF |
		    PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NEVER_BACKSLASH_C,
		    &ec, &off, L->cc);
	}
	if (*out == NULL) {
		pcre2_get_error_message(ec, msg, sizeof(msg));
		st = LFAIL(L, TQ_EFORMAT, "%s: invalid regex /%.*s/: %s at "
		    "offset %zu%s", where, (int)(len > 200 ? 200 : len), pat,
		    (char *)msg, (size_t)off, rw != NULL && (rwlen != len ||
		    memcmp(rw, pat, len)) ? " of its PCRE2 form" : "");
		free(rw);
		return st;
	}
	free(rw);
	/* JIT is an optimization; without it pcre2_match interprets. */
	(void)pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
	return TQ_OK;
}

/* {"String": "..."} or {"Regex": "..."} */
static tq_status
load_pattern(struct loader *L, const cJSON *o, pcre2_code **out,
    const char *where)
{
	const cJSON *p = jget(o, "pattern"), *v;
	int literal;

	if (!cJSON_IsObject(p))
		return LFAIL(L, TQ_EFORMAT, "%s: \"pattern\" must be an object "
		    "with \"String\" or \"Regex\"", where);
	if ((v = jget(p, "String")) != NULL)
		literal = 1;
	else if ((v = jget(p, "Regex")) != NULL)
		literal = 0;
	else
		return LFAIL(L, TQ_EFORMAT, "%s: \"pattern\" must have "
		    "\"String\" or \"Regex\"", where);
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return LFAIL(L, TQ_EFORMAT, "%s: pattern must be a string",
		    where);
	return regex_compile(L, v->valuestring, strlen(v->valuestring),
	    literal, out, where);
}

static tq_status
load_behavior(struct loader *L, const cJSON *o, enum split_behavior def,
    enum split_behavior *out, const char *where)
{
	static const char *names[] = { "Removed", "Isolated",
	    "MergedWithPrevious", "MergedWithNext", "Contiguous" };
	const char *s;
	size_t i;

	if (jstr(L, o, "behavior", 0, &s, where) != TQ_OK)
		return L->st;
	*out = def;
	if (s == NULL)
		return TQ_OK;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum split_behavior)i;
			return TQ_OK;
		}
	return LFAIL(L, TQ_EFORMAT, "%s: unknown behavior \"%s\"", where, s);
}

static tq_status
load_scheme(struct loader *L, const cJSON *o, enum prepend_scheme *scheme,
    const char *where)
{
	const char *s;
	int aps, has_aps;

	*scheme = PREPEND_ALWAYS;
	if (jstr(L, o, "prepend_scheme", 0, &s, where) != TQ_OK ||
	    jbool(L, o, "add_prefix_space", -1, &aps, where) != TQ_OK)
		return L->st;
	has_aps = aps != -1;
	if (s == NULL || strcmp(s, "always") == 0)
		*scheme = PREPEND_ALWAYS;
	else if (strcmp(s, "first") == 0)
		*scheme = PREPEND_FIRST;
	else if (strcmp(s, "never") == 0)
		*scheme = PREPEND_NEVER;
	else
		return LFAIL(L, TQ_EFORMAT, "%s: unknown prepend_scheme \"%s\"",
		    where, s);
	/* Old files: add_prefix_space false demands scheme "never". */
	if (has_aps && !aps && *scheme != PREPEND_NEVER)
		return LFAIL(L, TQ_EFORMAT, "%s: add_prefix_space does not "
		    "match prepend_scheme", where);
	return TQ_OK;
}


/*
 * A Replace component, the same in normalizers and decoders: its
 * "content" and its compiled "pattern" (String or Regex).
 */
static tq_status
load_replace(struct loader *L, const cJSON *o, char **text, size_t *len,
    pcre2_code **re, const char *where)
{
	if (jstr_dup(L, o, "content", NULL, text, len, where) != TQ_OK)
		return L->st;
	if (load_pattern(L, o, re, where) != TQ_OK) {
		free(*text);
		*text = NULL;
		return L->st;
	}
	return TQ_OK;
}
static tq_status
load_normalizer(struct loader *L, const cJSON *o, const char *where)
{
	tq_tokenizer *tok = L->tok;
	struct norm nm;
	const char *type;
	char sub[160];
	const cJSON *v;
	void *p;
	int i;

	if (jnull(o))
		return TQ_OK;
	if (jtype(L, o, &type, where) != TQ_OK)
		return L->st;
	memset(&nm, 0, sizeof(nm));
	if (strcmp(type, "Sequence") == 0) {
		v = jget(o, "normalizers");
		if (!cJSON_IsArray(v))
			return LFAIL(L, TQ_EFORMAT,
			    "%s: \"normalizers\" must be an array", where);
		if (++L->depth > MAX_NEST)
			return LFAIL(L, TQ_EFORMAT, "%s: nested too deeply",
			    where);
		for (i = 0; i < cJSON_GetArraySize(v); i++) {
			snprintf(sub, sizeof(sub), "%.120s[%d]", where, i);
			if (load_normalizer(L, cJSON_GetArrayItem(v, i), sub))
				return L->st;
		}
		L->depth--;
		return TQ_OK;
	}
	if (strcmp(type, "NFC") == 0)
		nm.kind = NORM_NFC;
	else if (strcmp(type, "Lowercase") == 0)
		nm.kind = NORM_LOWERCASE;
	else if (strcmp(type, "ByteLevel") == 0)
		nm.kind = NORM_BYTELEVEL;
	else if (strcmp(type, "Strip") == 0) {
		nm.kind = NORM_STRIP;
		if (jbool(L, o, "strip_left", 0, &nm.left, where) ||
		    jbool(L, o, "strip_right", 0, &nm.right, where))
			return L->st;
	} else if (strcmp(type, "Prepend") == 0) {
		nm.kind = NORM_PREPEND;
		if (jstr_dup(L, o, "prepend", NULL, &nm.text, &nm.text_len,
		    where) != TQ_OK)
			return L->st;
	} else if (strcmp(type, "Replace") == 0) {
		nm.kind = NORM_REPLACE;
		if (load_replace(L, o, &nm.text, &nm.text_len, &nm.re, where) !=
		    TQ_OK)
			return L->st;
	} else
		return LFAIL(L, TQ_EUNSUPPORTED,
		    "%s: unsupported normalizer type \"%s\"", where, type);
	p = realloc(tok->norms, (tok->n_norms + 1) * sizeof(*tok->norms));
	if (p == NULL) {
		free(nm.text);
		pcre2_code_free(nm.re);
		return lnomem(L);
	}
	tok->norms = p;
	tok->norms[tok->n_norms++] = nm;
	return TQ_OK;
}

static tq_status
add_pretok(struct loader *L, const struct pretok *pt, const char *where)
{
	tq_tokenizer *tok = L->tok;
	void *p;

	if (tok->n_pres == MAX_STAGES) {
		pcre2_code_free(pt->re);
		return LFAIL(L, TQ_EUNSUPPORTED,
		    "%s: more than %d pre-tokenizers", where, MAX_STAGES);
	}
	p = realloc(tok->pres, (tok->n_pres + 1) * sizeof(*tok->pres));
	if (p == NULL) {
		pcre2_code_free(pt->re);
		return lnomem(L);
	}
	tok->pres = p;
	tok->pres[tok->n_pres++] = *pt;
	return TQ_OK;
}

/* A Split on a fixed PCRE2 pattern (Whitespace, Punctuation, ...). */
static tq_status
add_builtin_split(struct loader *L, const char *pat,
    enum split_behavior how, int invert, const char *where)
{
	struct pretok pt;
	PCRE2_SIZE off;
	int ec;

	memset(&pt, 0, sizeof(pt));
	pt.kind = PRE_SPLIT;
	pt.behavior = how;
	pt.invert = invert;
	pt.re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_UCP, &ec, &off, L->cc);
	if (pt.re == NULL)
		return LFAIL(L, TQ_EUNSUPPORTED, "%s: this PCRE2 lacks Unicode "
		    "properties (error %d)", where, ec);
	(void)pcre2_jit_compile(pt.re, PCRE2_JIT_COMPLETE);
	return add_pretok(L, &pt, where);
}

static tq_status
load_pretok(struct loader *L, const cJSON *o, const char *where)
{
	struct pretok pt;
	const char *type;
	char sub[160], ch[4] = "";
	const cJSON *v;
	size_t chlen = 0;
	int i, b;

	if (jnull(o))
		return TQ_OK;
	if (jtype(L, o, &type, where) != TQ_OK)
		return L->st;
	memset(&pt, 0, sizeof(pt));
	if (strcmp(type, "Sequence") == 0) {
		v = jget(o, "pretokenizers");
		if (!cJSON_IsArray(v))
			return LFAIL(L, TQ_EFORMAT,
			    "%s: \"pretokenizers\" must be an array", where);
		if (++L->depth > MAX_NEST)
			return LFAIL(L, TQ_EFORMAT, "%s: nested too deeply",
			    where);
		for (i = 0; i < cJSON_GetArraySize(v); i++) {
			snprintf(sub, sizeof(sub), "%.120s[%d]", where, i);
			if (load_pretok(L, cJSON_GetArrayItem(v, i), sub))
				return L->st;
		}
		L->depth--;
		return TQ_OK;
	}
	if (strcmp(type, "Split") == 0) {
		pt.kind = PRE_SPLIT;
		if (load_behavior(L, o, SPLIT_ISOLATED, &pt.behavior, where) ||
		    jbool(L, o, "invert", 0, &pt.invert, where))
			return L->st;
		if (jget(o, "behavior") == NULL)
			return LFAIL(L, TQ_EFORMAT, "%s: \"behavior\" is "
			    "missing", where);
		if (load_pattern(L, o, &pt.re, where) != TQ_OK)
			return L->st;
		return add_pretok(L, &pt, where);
	}
	if (strcmp(type, "ByteLevel") == 0) {
		pt.kind = PRE_BYTELEVEL;
		if (jbool(L, o, "add_prefix_space", 1, &pt.prefix_space,
		    where) || jbool(L, o, "use_regex", 1, &b, where))
			return L->st;
		if (b && regex_compile(L, gpt2_pattern, strlen(gpt2_pattern),
		    0, &pt.re, where) != TQ_OK)
			return L->st;
		return add_pretok(L, &pt, where);
	}
	if (strcmp(type, "Metaspace") == 0) {
		pt.kind = PRE_METASPACE;
		if (jchar(L, o, "replacement", NULL, pt.rep, &pt.rep_len,
		    where) || load_scheme(L, o, &pt.scheme, where) ||
		    jbool(L, o, "split", 1, &pt.split, where))
			return L->st;
		return add_pretok(L, &pt, where);
	}
	if (strcmp(type, "Whitespace") == 0)
		return add_builtin_split(L, "[" RUST_WORD "]+|[^" RUST_WORD
		    WHITE_SPACE "]+", SPLIT_REMOVED, 1, where);
	if (strcmp(type, "WhitespaceSplit") == 0)
		return add_builtin_split(L, "[" WHITE_SPACE "]", SPLIT_REMOVED,
		    0, where);
	if (strcmp(type, "Punctuation") == 0) {
		if (load_behavior(L, o, SPLIT_ISOLATED, &pt.behavior, where))
			return L->st;
		return add_builtin_split(L, "[\\p{P}\\x21-\\x2F\\x3A-\\x40"
		    "\\x5B-\\x60\\x7B-\\x7E]", pt.behavior, 0, where);
	}
	if (strcmp(type, "Digits") == 0) {
		if (jbool(L, o, "individual_digits", 0, &b, where))
			return L->st;
		return add_builtin_split(L, "\\p{N}", b ? SPLIT_ISOLATED :
		    SPLIT_CONTIGUOUS, 0, where);
	}
	if (strcmp(type, "BertPreTokenizer") == 0) {
		if (add_builtin_split(L, "[" WHITE_SPACE "]", SPLIT_REMOVED, 0,
		    where) != TQ_OK)
			return L->st;
		return add_builtin_split(L, "[\\p{P}\\x21-\\x2F\\x3A-\\x40"
		    "\\x5B-\\x60\\x7B-\\x7E]", SPLIT_ISOLATED, 0, where);
	}
	if (strcmp(type, "CharDelimiterSplit") == 0) {
		pt.kind = PRE_SPLIT;
		pt.behavior = SPLIT_REMOVED;
		if (jchar(L, o, "delimiter", NULL, ch, &chlen, where) ||
		    regex_compile(L, ch, chlen, 1, &pt.re, where))
			return L->st;
		return add_pretok(L, &pt, where);
	}
	return LFAIL(L, TQ_EUNSUPPORTED,
	    "%s: unsupported pre_tokenizer type \"%s\"", where, type);
}

static tq_status
load_decoder(struct loader *L, const cJSON *o, const char *where)
{
	tq_tokenizer *tok = L->tok;
	struct decoder d;
	const char *type;
	enum prepend_scheme scheme;
	char sub[160];
	const cJSON *v;
	void *p;
	int i;

	if (jnull(o))
		return TQ_OK;
	if (jtype(L, o, &type, where) != TQ_OK)
		return L->st;
	tok->has_decoder = 1;
	memset(&d, 0, sizeof(d));
	if (strcmp(type, "Sequence") == 0) {
		v = jget(o, "decoders");
		if (!cJSON_IsArray(v))
			return LFAIL(L, TQ_EFORMAT,
			    "%s: \"decoders\" must be an array", where);
		if (++L->depth > MAX_NEST)
			return LFAIL(L, TQ_EFORMAT, "%s: nested too deeply",
			    where);
		for (i = 0; i < cJSON_GetArraySize(v); i++) {
			snprintf(sub, sizeof(sub), "%.120s[%d]", where, i);
			if (load_decoder(L, cJSON_GetArrayItem(v, i), sub))
				return L->st;
		}
		L->depth--;
		return TQ_OK;
	}
	if (strcmp(type, "ByteLevel") == 0)
		d.kind = DEC_BYTELEVEL;
	else if (strcmp(type, "ByteFallback") == 0)
		d.kind = DEC_BYTEFALLBACK;
	else if (strcmp(type, "Fuse") == 0)
		d.kind = DEC_FUSE;
	else if (strcmp(type, "Strip") == 0) {
		d.kind = DEC_STRIP;
		if (jchar(L, o, "content", " ", d.ch, &d.ch_len, where) ||
		    juint(L, o, "start", 0, &d.start, where) ||
		    juint(L, o, "stop", 0, &d.stop, where))
			return L->st;
	} else if (strcmp(type, "Metaspace") == 0) {
		d.kind = DEC_METASPACE;
		if (jchar(L, o, "replacement", NULL, d.ch, &d.ch_len, where) ||
		    load_scheme(L, o, &scheme, where))
			return L->st;
		d.never = scheme == PREPEND_NEVER;
	} else if (strcmp(type, "BPEDecoder") == 0) {
		d.kind = DEC_BPE;
		if (jstr_dup(L, o, "suffix", "</w>", &d.text, &d.text_len,
		    where) != TQ_OK)
			return L->st;
	} else if (strcmp(type, "Replace") == 0) {
		d.kind = DEC_REPLACE;
		if (load_replace(L, o, &d.text, &d.text_len, &d.re, where) !=
		    TQ_OK)
			return L->st;
	} else
		return LFAIL(L, TQ_EUNSUPPORTED,
		    "%s: unsupported decoder type \"%s\"", where, type);
	p = realloc(tok->decs, (tok->n_decs + 1) * sizeof(*tok->decs));
	if (p == NULL) {
		free(d.text);
		pcre2_code_free(d.re);
		return lnomem(L);
	}
	tok->decs = p;
	tok->decs[tok->n_decs++] = d;
	return TQ_OK;
}

static tq_status
set_template(struct loader *L, struct tpiece *p, size_t n, const char *where)
{
	tq_tokenizer *tok = L->tok;
	size_t i;

	if (tok->tmpl != NULL) {
		for (i = 0; i < n; i++)
			free(p[i].ids);
		free(p);
		return LFAIL(L, TQ_EUNSUPPORTED,
		    "%s: more than one template post-processor", where);
	}
	tok->tmpl = p;
	tok->n_tmpl = n;
	for (i = 0; i < n && !p[i].is_seq; i++)
		if (p[i].n > 0) {
			tok->bos = p[i].ids[0];
			break;
		}
	return TQ_OK;
}

/* BertProcessing and RobertaProcessing: cls $A sep. */
static tq_status
load_clssep(struct loader *L, const cJSON *o, const char *where)
{
	static const char *keys[2] = { "cls", "sep" };
	struct tpiece *p;
	const cJSON *v, *id;
	int i;

	p = calloc(3, sizeof(*p));
	if (p == NULL)
		return lnomem(L);
	p[1].is_seq = 1;
	for (i = 0; i < 2; i++) {
		v = jget(o, keys[i]);
		id = cJSON_GetArrayItem(v, 1);
		if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 ||
		    !cJSON_IsString(cJSON_GetArrayItem(v, 0)) ||
		    !jint_ok(id, INT32_MAX)) {
			free(p[0].ids);
			free(p);
			return LFAIL(L, TQ_EFORMAT, "%s: \"%s\" must be "
			    "[token, id]", where, keys[i]);
		}
		p[i * 2].ids = malloc(sizeof(int32_t));
		if (p[i * 2].ids == NULL) {
			free(p[0].ids);
			free(p);
			return lnomem(L);
		}
		p[i * 2].ids[0] = (int32_t)id->valuedouble;
		p[i * 2].n = 1;
	}
	return set_template(L, p, 3, where);
}

static tq_status
load_template(struct loader *L, const cJSON *o, const char *where)
{
	const cJSON *single = jget(o, "single");
	const cJSON *spec = jget(o, "special_tokens");
	const cJSON *it, *v, *name, *ids;
	struct tpiece *p;
	size_t n, i, k;
	tq_status st = TQ_EFORMAT;

	if (!cJSON_IsArray(single))
		return LFAIL(L, TQ_EFORMAT, "%s: \"single\" must be an array",
		    where);
	if (!jnull(spec) && !cJSON_IsObject(spec))
		return LFAIL(L, TQ_EFORMAT,
		    "%s: \"special_tokens\" must be an object", where);
	n = (size_t)cJSON_GetArraySize(single);
	p = calloc(n > 0 ? n : 1, sizeof(*p));
	if (p == NULL)
		return lnomem(L);
	for (i = 0; i < n; i++) {
		it = cJSON_GetArrayItem(single, (int)i);
		if ((v = jget(it, "Sequence")) != NULL) {
			name = jget(v, "id");
			if (!cJSON_IsString(name) || (strcmp(name->valuestring,
			    "A") != 0 && strcmp(name->valuestring, "B") != 0)) {
				st = LFAIL(L, TQ_EFORMAT, "%s: single[%zu]: "
				    "bad Sequence id", where, i);
				goto fail;
			}
			if (strcmp(name->valuestring, "B") == 0) {
				st = LFAIL(L, TQ_EFORMAT,
				    "%s: the single template uses $B", where);
				goto fail;
			}
			p[i].is_seq = 1;
			continue;
		}
		v = jget(it, "SpecialToken");
		name = jget(v, "id");
		if (!cJSON_IsString(name)) {
			st = LFAIL(L, TQ_EFORMAT, "%s: single[%zu] must be a "
			    "Sequence or a SpecialToken", where, i);
			goto fail;
		}
		v = jnull(spec) ? NULL : jget(spec, name->valuestring);
		ids = jget(v, "ids");
		if (!cJSON_IsArray(ids)) {
			st = LFAIL(L, TQ_EFORMAT, "%s: special token \"%s\" "
			    "is not in special_tokens", where,
			    name->valuestring);
			goto fail;
		}
		p[i].n = (size_t)cJSON_GetArraySize(ids);
		p[i].ids = malloc((p[i].n > 0 ? p[i].n : 1) * sizeof(int32_t));
		if (p[i].ids == NULL) {
			st = lnomem(L);
			goto fail;
		}
		for (k = 0; k < p[i].n; k++) {
			v = cJSON_GetArrayItem(ids, (int)k);
			if (!jint_ok(v, INT32_MAX)) {
				st = LFAIL(L, TQ_EFORMAT,
				    "%s: special token \"%s\": bad id", where,
				    name->valuestring);
				goto fail;
			}
			p[i].ids[k] = (int32_t)v->valuedouble;
		}
	}
	return set_template(L, p, n, where);
fail:
	for (i = 0; i < n; i++)
		free(p[i].ids);
	free(p);
	return st;
}

static tq_status
load_post(struct loader *L, const cJSON *o, const char *where)
{
	const char *type;
	char sub[160];
	const cJSON *v;
	int i;

	if (jnull(o))
		return TQ_OK;
	if (jtype(L, o, &type, where) != TQ_OK)
		return L->st;
	if (strcmp(type, "Sequence") == 0) {
		v = jget(o, "processors");
		if (!cJSON_IsArray(v))
			return LFAIL(L, TQ_EFORMAT,
			    "%s: \"processors\" must be an array", where);
		if (++L->depth > MAX_NEST)
			return LFAIL(L, TQ_EFORMAT, "%s: nested too deeply",
			    where);
		for (i = 0; i < cJSON_GetArraySize(v); i++) {
			snprintf(sub, sizeof(sub), "%.120s[%d]", where, i);
			if (load_post(L, cJSON_GetArrayItem(v, i), sub))
				return L->st;
		}
		L->depth--;
		return TQ_OK;
	}
	if (strcmp(type, "ByteLevel") == 0)
		return TQ_OK;	/* only trims offsets */
	if (strcmp(type, "TemplateProcessing") == 0)
		return load_template(L, o, where);
	if (strcmp(type, "BertProcessing") == 0 ||
	    strcmp(type, "RobertaProcessing") == 0)
		return load_clssep(L, o, where);
	return LFAIL(L, TQ_EUNSUPPORTED,
	    "%s: unsupported post_processor type \"%s\"", where, type);
}

static tq_status
vocab_id(struct loader *L, const char *s, size_t len, int32_t *id,
    size_t i)
{
	const struct smap_ent *e = smap_get(&L->tok->vocab, s, len);

	if (e == NULL)
		return LFAIL(L, TQ_EFORMAT, "model.merges[%zu]: \"%.*s\" is "
		    "not in the vocabulary", i, (int)(len > 100 ? 100 : len),
		    s);
	*id = e->val;
	return TQ_OK;
}

static tq_status
load_model(struct loader *L, const cJSON *m)
{
	tq_tokenizer *tok = L->tok;
	const cJSON *vocab, *merges, *it, *v;
	struct tq_ubuf cat = { NULL, 0, 0 };
	struct smap_ent *e;
	const char *type, *s, *a, *b, *sp;
	size_t i, n, rank = 0, alen, blen;
	int32_t ia = 0, ib = 0, inew = 0;
	int legacy = -1, k;
	char key[8];

	if (!cJSON_IsObject(m))
		return LFAIL(L, TQ_EFORMAT, "\"model\" must be an object");
	if (jstr(L, m, "type", 0, &type, "model") != TQ_OK)
		return L->st;
	if (type != NULL && strcmp(type, "BPE") != 0)
		return LFAIL(L, TQ_EUNSUPPORTED,
		    "model: unsupported model type \"%s\" (only BPE)", type);
	vocab = jget(m, "vocab");
	merges = jget(m, "merges");
	if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
		return LFAIL(L, TQ_EFORMAT, "model: \"vocab\" (an object) and "
		    "\"merges\" (an array) are required");
	v = jget(m, "dropout");
	if (!jnull(v) && !cJSON_IsNumber(v))
		return LFAIL(L, TQ_EFORMAT, "model: \"dropout\" must be a "
		    "number");
	if (!jnull(v) && v->valuedouble != 0)
		return LFAIL(L, TQ_EUNSUPPORTED, "model: BPE dropout is not "
		    "supported (it makes encoding random)");
	if (jstr(L, m, "unk_token", 0, &s, "model") != TQ_OK ||
	    (s != NULL && (tok->unk = dupn(s, strlen(s))) == NULL))
		return s != NULL ? lnomem(L) : TQ_EFORMAT;
	if (jstr(L, m, "continuing_subword_prefix", 0, &s, "model") != TQ_OK ||
	    (s != NULL && (tok->prefix = dupn(s, strlen(s))) == NULL))
		return s != NULL ? lnomem(L) : TQ_EFORMAT;
	tok->prefix_len = s != NULL ? strlen(s) : 0;
	if (jstr(L, m, "end_of_word_suffix", 0, &s, "model") != TQ_OK ||
	    (s != NULL && (tok->suffix = dupn(s, strlen(s))) == NULL))
		return s != NULL ? lnomem(L) : TQ_EFORMAT;
	tok->suffix_len = s != NULL ? strlen(s) : 0;
	if (jbool(L, m, "fuse_unk", 0, &tok->fuse_unk, "model") ||
	    jbool(L, m, "byte_fallback", 0, &tok->byte_fallback, "model") ||
	    jbool(L, m, "ignore_merges", 0, &tok->ignore_merges, "model"))
		return L->st;

	/* Later duplicates win, as in a serde HashMap. */
	for (it = vocab->child; it != NULL; it = it->next) {
		if (!jint_ok(it, INT32_MAX))
			return LFAIL(L, TQ_EFORMAT, "model.vocab: \"%.100s\" "
			    "needs a non-negative integer id", it->string);
		if (it->valuedouble >= MAX_ID)
			return LFAIL(L, TQ_EUNSUPPORTED, "model.vocab: id %.0f "
			    "is too large", it->valuedouble);
		if (smap_put(&tok->vocab, it->string, strlen(it->string),
		    &e) < 0)
			return lnomem(L);
		e->val = (int32_t)it->valuedouble;
	}
	for (k = 0; k < 256; k++) {
		snprintf(key, sizeof(key), "<0x%02X>", k);
		e = smap_get(&tok->vocab, key, 6);
		tok->byte_id[k] = e != NULL ? e->val : -1;
	}
	tok->unk_id = -1;
	if (tok->unk != NULL &&
	    (e = smap_get(&tok->vocab, tok->unk, strlen(tok->unk))) != NULL)
		tok->unk_id = e->val;

	n = (size_t)cJSON_GetArraySize(merges);
	if (pmap_init(&tok->merges, n) != 0)
		return lnomem(L);
	for (it = merges->child, i = 0; it != NULL; it = it->next, i++) {
		/* Either all "a b" strings or all ["a", "b"] pairs. */
		if (legacy < 0)
			legacy = cJSON_IsString(it);
		if (legacy && cJSON_IsString(it)) {
			s = it->valuestring;
			if (strncmp(s, "#version", 8) == 0)
				continue;
			sp = strchr(s, ' ');
			if (sp == NULL || strchr(sp + 1, ' ') != NULL) {
				tq_ubuf_free(&cat);
				return LFAIL(L, TQ_EFORMAT,
				    "model.merges[%zu]: \"%.100s\" is not two "
				    "tokens and one space", i, s);
			}
			a = s;
			alen = (size_t)(sp - s);
			b = sp + 1;
			blen = strlen(b);
		} else if (!legacy && cJSON_IsArray(it) &&
		    cJSON_GetArraySize(it) == 2 &&
		    cJSON_IsString(it->child) &&
		    cJSON_IsString(it->child->next)) {
			a = it->child->valuestring;
			alen = strlen(a);
			b = it->child->next->valuestring;
			blen = strlen(b);
		} else {
			tq_ubuf_free(&cat);
			return LFAIL(L, TQ_EFORMAT,
			    "model.merges[%zu]: must be like the first "
			    "(\"a b\" or [\"a\", \"b\"])", i);
		}
		if (blen < tok->prefix_len) {
			tq_ubuf_free(&cat);
			return LFAIL(L, TQ_EFORMAT,
			    "model.merges[%zu]: \"%.100s\" is shorter than the "
			    "subword prefix", i, b);
		}
		cat.len = 0;
		if (tq_ubuf_add(&cat, a, alen) != 0 ||
		    tq_ubuf_add(&cat, b + tok->prefix_len,
		    blen - tok->prefix_len) != 0) {
			tq_ubuf_free(&cat);
			return lnomem(L);
		}
		if (vocab_id(L, a, alen, &ia, i) != TQ_OK ||
		    vocab_id(L, b, blen, &ib, i) != TQ_OK ||
		    vocab_id(L, cat.p, cat.len, &inew, i) != TQ_OK) {
			tq_ubuf_free(&cat);
			return L->st;
		}
		pmap_put(&tok->merges, ia, ib, (uint32_t)rank++, inew);
	}
	tq_ubuf_free(&cat);
	return TQ_OK;
}

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

/* Sorts, drops repeated strings and indexes the patterns by first byte. */
static void
amatch_build(struct amatch *a)
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

static int
added_eq(const struct added_tok *a, const struct added_tok *b)
{
	return a->len == b->len &&
	    memcmp(a->content, b->content, a->len) == 0 &&
	    a->single_word == b->single_word && a->lstrip == b->lstrip &&
	    a->rstrip == b->rstrip && a->normalized == b->normalized &&
	    a->special == b->special;
}

/*
 * added_tokens, the way Tokenizer deserialization feeds them to
 * add_tokens: ids come from the vocabularies or are handed out after the
 * largest one, whatever "id" says; special tokens are matched first.
 */
static tq_status
load_added(struct loader *L, const cJSON *arr, struct enc *E,
    struct tq_ubuf *npool)
{
	tq_tokenizer *tok = L->tok;
	struct added_tok *t;
	struct smap_ent *e;
	const struct smap_ent *ve;
	const cJSON *it;
	const char *s;
	char where[48];
	size_t n, i, k, *order = NULL, n_order = 0, nlen, z;
	int32_t id, max_id = -1, vsize;
	int has_single = 0;
	tq_status st = TQ_EFORMAT;
	struct {
		size_t tok;
		int32_t id;
	} *byid = NULL;
	const char *ns;

	if (jnull(arr))
		return TQ_OK;
	if (!cJSON_IsArray(arr))
		return LFAIL(L, TQ_EFORMAT,
		    "\"added_tokens\" must be an array");
	n = (size_t)cJSON_GetArraySize(arr);
	tok->added = calloc(n > 0 ? n : 1, sizeof(*tok->added));
	order = malloc((n > 0 ? n : 1) * sizeof(*order));
	if (tok->added == NULL || order == NULL)
		goto nomem;
	for (it = arr->child, i = 0; it != NULL; it = it->next, i++) {
		t = &tok->added[i];
		snprintf(where, sizeof(where), "added_tokens[%zu]", i);
		if (!cJSON_IsObject(it)) {
			st = LFAIL(L, TQ_EFORMAT, "%s: must be an object",
			    where);
			goto fail;
		}
		if (jstr(L, it, "content", 1, &s, where) != TQ_OK ||
		    jbool(L, it, "special", 0, &t->special, where) ||
		    jbool(L, it, "normalized", !t->special, &t->normalized,
		    where) ||
		    jbool(L, it, "single_word", 0, &t->single_word, where) ||
		    jbool(L, it, "lstrip", 0, &t->lstrip, where) ||
		    jbool(L, it, "rstrip", 0, &t->rstrip, where))
			goto fail;
		t->len = strlen(s);
		if ((t->content = dupn(s, t->len)) == NULL)
			goto nomem;
		tok->n_added = i + 1;
	}

	/* Special contents first, in order. */
	for (i = 0; i < n; i++) {
		t = &tok->added[i];
		if (!t->special || t->len == 0 ||
		    smap_get(&tok->special, t->content, t->len) != NULL)
			continue;
		if (smap_put(&tok->special, t->content, t->len, &e) < 0)
			goto nomem;
		order[n_order++] = i;
	}
	vsize = (int32_t)tok->vocab.n;
	for (i = 0; i < n; i++) {
		t = &tok->added[i];
		if (t->len == 0)
			continue;
		e = smap_get(&tok->added_map, t->content, t->len);
		if (e != NULL && added_eq(&tok->added[e->aux], t))
			continue;	/* the very same token again */
		if (e != NULL)
			id = e->val;
		else if ((ve = smap_get(&tok->vocab, t->content, t->len)))
			id = ve->val;
		else if (max_id < 0)
			id = vsize;
		else
			id = max_id >= vsize || vsize == 0 ? max_id + 1 : vsize;
		if (id < 0 || id >= MAX_ID) {
			st = LFAIL(L, TQ_EUNSUPPORTED,
			    "added_tokens: too many ids");
			goto fail;
		}
		if (id > max_id)
			max_id = id;
		if (smap_put(&tok->added_map, t->content, t->len, &e) < 0)
			goto nomem;
		e->val = id;
		e->aux = (uint32_t)i;	/* added_tokens_map_r: the latest */
		if (smap_get(&tok->special, t->content, t->len) == NULL)
			order[n_order++] = i;
		if (t->single_word)
			has_single = 1;
	}
	/* Matchers: raw for normalized:false, normalized ones after the
	 * normalizer has run over their content. */
	tok->raw_match.pat = calloc(n_order > 0 ? n_order : 1,
	    sizeof(struct apat));
	tok->norm_match.pat = calloc(n_order > 0 ? n_order : 1,
	    sizeof(struct apat));
	byid = calloc(n_order > 0 ? n_order : 1, sizeof(*byid));
	if (tok->raw_match.pat == NULL || tok->norm_match.pat == NULL ||
	    byid == NULL)
		goto nomem;
	for (k = 0; k < n_order; k++) {
		t = &tok->added[order[k]];
		e = smap_get(&tok->added_map, t->content, t->len);
		if (e == NULL)
			continue;
		if (!t->normalized) {
			struct apat *p;

			p = &tok->raw_match.pat[tok->raw_match.n++];
			p->s = t->content;
			p->len = t->len;
			p->id = e->val;
			continue;
		}
		z = 0;
		if ((st = normalize(E, t->content, t->len, &z, &ns, &nlen)) !=
		    TQ_OK)
			goto fail;
		if (nlen == 0)
			continue;
		/* Offsets for now: npool may still move. */
		byid[tok->norm_match.n].tok = npool->len;
		byid[tok->norm_match.n].id = e->val;
		tok->norm_match.pat[tok->norm_match.n].len = nlen;
		tok->norm_match.n++;
		if (tq_ubuf_add(npool, ns, nlen) != 0)
			goto nomem;
	}
	for (k = 0; k < tok->norm_match.n; k++) {
		tok->norm_match.pat[k].s = npool->p + byid[k].tok;
		tok->norm_match.pat[k].id = byid[k].id;
	}
	amatch_build(&tok->raw_match);
	amatch_build(&tok->norm_match);
	if (has_single) {
		PCRE2_SIZE off;
		int ec;

		tok->word_re = pcre2_compile((PCRE2_SPTR)"[" RUST_WORD "]",
		    PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &off,
		    L->cc);
		if (tok->word_re == NULL) {
			st = LFAIL(L, TQ_EUNSUPPORTED, "this PCRE2 lacks "
			    "Unicode properties");
			goto fail;
		}
	}
	free(order);
	free(byid);
	return TQ_OK;
nomem:
	st = lnomem(L);
fail:
	free(order);
	free(byid);
	return st;
}

/* id -> string, special flag and added token, once everything is read. */
static tq_status
build_ids(struct loader *L)
{
	tq_tokenizer *tok = L->tok;
	const struct smap_ent *e;
	size_t i, n;
	int32_t max_id = -1, id;

	for (i = 0; i < tok->vocab.n; i++)
		if (tok->vocab.ent[i].val > max_id)
			max_id = tok->vocab.ent[i].val;
	for (i = 0; i < tok->added_map.n; i++)
		if (tok->added_map.ent[i].val > max_id)
			max_id = tok->added_map.ent[i].val;
	/* The id tables are dense; refuse ids spread far beyond the number
	 * of tokens (a hostile file could ask for gigabytes). */
	if ((size_t)max_id > 8 * (tok->vocab.n + tok->added_map.n) + 65536)
		return LFAIL(L, TQ_EUNSUPPORTED, "ids up to %d for %zu tokens "
		    "are too sparse", max_id, tok->vocab.n + tok->added_map.n);
	tok->n_vocab = max_id + 1;
	n = (size_t)tok->n_vocab + 1;
	tok->id_str = calloc(n, sizeof(*tok->id_str));
	tok->id_len = calloc(n, sizeof(*tok->id_len));
	tok->id_added = malloc(n * sizeof(*tok->id_added));
	tok->id_special = calloc(n, 1);
	if (tok->id_str == NULL || tok->id_len == NULL ||
	    tok->id_added == NULL || tok->id_special == NULL)
		return lnomem(L);
	for (i = 0; i < n; i++)
		tok->id_added[i] = -1;
	for (i = 0; i < tok->vocab.n; i++) {
		e = &tok->vocab.ent[i];
		if (tok->id_str[e->val] != NULL)
			continue;
		tok->id_str[e->val] = smap_str(&tok->vocab, e);
		tok->id_len[e->val] = e->len;
	}
	for (i = 0; i < tok->added_map.n; i++) {
		e = &tok->added_map.ent[i];
		id = e->val;
		tok->id_added[id] = (int32_t)e->aux;
		tok->id_str[id] = tok->added[e->aux].content;
		tok->id_len[id] = (uint32_t)tok->added[e->aux].len;
	}
	for (id = 0; id < tok->n_vocab; id++)
		if (tok->id_str[id] != NULL && smap_get(&tok->special,
		    tok->id_str[id], tok->id_len[id]) != NULL)
			tok->id_special[id] = 1;
	return TQ_OK;
}

static void
skip_ws(const char *s, size_t len, size_t *i)
{
	while (*i < len && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' ||
	    s[*i] == '\r'))
		(*i)++;
}

tq_status
tq_tokenizer_load_buffer(const char *json, size_t len, const char *name,
    tq_tokenizer **out, tq_error *err)
{
	struct loader L;
	struct enc E;
	tq_tokenizer *tok;
	cJSON *root = NULL;
	const cJSON *v;
	const char *end = NULL;
	struct tq_ubuf npool = { NULL, 0, 0 };
	tq_status st = TQ_OK;
	size_t i;
	int k;

	*out = NULL;
	memset(&E, 0, sizeof(E));
	if (name == NULL)
		name = "tokenizer.json";
	tok = calloc(1, sizeof(*tok));
	if (tok == NULL || (tok->path = dupn(name, strlen(name))) == NULL) {
		free(tok);
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", name);
	}
	tok->bos = -1;
	tok->unk_id = -1;
	for (k = 0; k < 256; k++) {
		tok->byte_id[k] = -1;
		tok->bl_len[k] = (uint8_t)tq_utf8_encode(bl_cp((unsigned)k),
		    tok->bl_char[k]);
	}
	memset(&L, 0, sizeof(L));
	L.tok = tok;
	L.err = err;
	if (err != NULL)
		tq_error_clear(err);

	if (json == NULL || len == 0) {
		st = LFAIL(&L, TQ_EFORMAT, "file is empty");
		goto done;
	}
	if ((i = tq_utf8_check(json, len)) != len) {
		st = LFAIL(&L, TQ_EFORMAT, "invalid UTF-8 at byte %zu", i);
		goto done;
	}
	root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (root == NULL) {
		i = end != NULL && end >= json ? (size_t)(end - json) : 0;
		st = LFAIL(&L, TQ_EFORMAT, "invalid JSON near byte %zu%s", i,
		    i >= len ? " (truncated or nested too deeply?)" : "");
		goto done;
	}
	i = (size_t)(end - json);
	skip_ws(json, len, &i);
	if (i < len && json[i] != '\0') {
		st = LFAIL(&L, TQ_EFORMAT, "trailing data after the JSON "
		    "value at byte %zu", i);
		goto done;
	}
	if (!cJSON_IsObject(root)) {
		st = LFAIL(&L, TQ_EFORMAT, "not a JSON object");
		goto done;
	}
	v = jget(root, "version");
	if (!jnull(v) && (!cJSON_IsString(v) ||
	    strcmp(v->valuestring, "1.0") != 0)) {
		st = LFAIL(&L, TQ_EUNSUPPORTED, "unknown tokenizer version");
		goto done;
	}
	v = jget(root, "model");
	if (jnull(v)) {
		st = LFAIL(&L, TQ_EFORMAT, "no \"model\"");
		goto done;
	}
	L.cc = pcre2_compile_context_create(NULL);
	if (L.cc == NULL || pcre2_set_newline(L.cc, PCRE2_NEWLINE_LF) != 0) {
		st = lnomem(&L);
		goto done;
	}
	if ((st = load_model(&L, v)) != TQ_OK ||
	    (st = load_normalizer(&L, jget(root, "normalizer"),
	    "normalizer")) != TQ_OK ||
	    (st = load_pretok(&L, jget(root, "pre_tokenizer"),
	    "pre_tokenizer")) != TQ_OK ||
	    (st = load_post(&L, jget(root, "post_processor"),
	    "post_processor")) != TQ_OK ||
	    (st = load_decoder(&L, jget(root, "decoder"), "decoder")) != TQ_OK)
		goto done;
	if ((st = enc_init(&E, tok, err)) != TQ_OK ||
	    (st = load_added(&L, jget(root, "added_tokens"), &E,
	    &npool)) != TQ_OK ||
	    (st = build_ids(&L)) != TQ_OK)
		goto done;
done:
	enc_done(&E);
	cJSON_Delete(root);
	pcre2_compile_context_free(L.cc);
	if (st != TQ_OK) {
		tq_ubuf_free(&npool);
		tq_tokenizer_free(tok);
		return st;
	}
	/* The normalized added-token patterns point into npool. */
	tok->npool = npool.p;
	*out = tok;
	return TQ_OK;
}

tq_status
tq_tokenizer_load(const char *path, tq_tokenizer **out, tq_error *err)
{
	char *file = NULL, *buf;
	size_t len;
	tq_status st;

	*out = NULL;
	if (path == NULL)
		return tq_fail(err, TQ_EINVAL, "tq_tokenizer_load: no path");
	if (tq_is_dir(path)) {
		file = tq_path_join(path, "tokenizer.json");
		if (file == NULL)
			return tq_fail(err, TQ_ENOMEM, "%s: out of memory",
			    path);
		path = file;
	}
	st = tq_read_file(path, TQ_TOKENIZER_MAX_BYTES, &buf, &len, err);
	if (st == TQ_OK) {
		st = tq_tokenizer_load_buffer(buf, len, path, out, err);
		free(buf);
	}
	free(file);
	return st;
}

void
tq_tokenizer_free(tq_tokenizer *tok)
{
	size_t i;

	if (tok == NULL)
		return;
	smap_free(&tok->vocab);
	free(tok->merges.ent);
	free(tok->unk);
	free(tok->prefix);
	free(tok->suffix);
	for (i = 0; i < tok->n_added; i++)
		free(tok->added[i].content);
	free(tok->added);
	smap_free(&tok->added_map);
	smap_free(&tok->special);
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
	if ((e = smap_get(&tok->added_map, token, len)) != NULL ||
	    (e = smap_get(&tok->vocab, token, len)) != NULL)
		return e->val;
	return -1;
}

int32_t
tq_tokenizer_bos(const tq_tokenizer *tok)
{
	return tok != NULL ? tok->bos : -1;
}
