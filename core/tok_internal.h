/*
 * tok_internal.h: the tokenizer's insides, shared by its modules in core/
 * (tok_map.c, tok_regex.c, tok_norm.c, tok_pretok.c, tok_bpe.c,
 * tok_decode.c, tokenizer.c) and by the tokenizer.json reader in
 * formats/tokenizer_json.c, which fills a tq_tokenizer through them.
 * Not for anything else: the public API is in tq.h ("Tokenizer").
 */
#ifndef TQ_CORE_TOK_INTERNAL_H
#define TQ_CORE_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "tq.h"
#include "unicode.h"

#define MAX_STAGES	32	/* pre-tokenizers after flattening */

/* Rust regex's Unicode \w, for Whitespace and single_word. */
#define RUST_WORD	"\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}"
#define WHITE_SPACE	"\\t-\\r\\x{85}\\p{Z}"

/* ---- Hash maps (tok_map.c) ---------------------------------------------- */

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

const char *tq_tok__smap_str(const struct smap *m, const struct smap_ent *e);
struct smap_ent *tq_tok__smap_get(const struct smap *m, const char *s,
    size_t len);
/* Finds or adds s; returns 1 when added, 0 when found, -1 on ENOMEM. */
int tq_tok__smap_put(struct smap *m, const char *s, size_t len,
    struct smap_ent **out);
void tq_tok__smap_free(struct smap *m);

const struct pmap_ent *tq_tok__pmap_get(const struct pmap *m, int32_t a,
    int32_t b);
/* Room for n merges; 0, or -1 on ENOMEM. */
int tq_tok__pmap_init(struct pmap *m, size_t n);
/* A later merge of the same pair wins, as HF's HashMap collect does. */
void tq_tok__pmap_put(struct pmap *m, int32_t a, int32_t b, uint32_t rank,
    int32_t id);

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

	char bl_char[256][2];	/* tq_tok__bl_cp() of each byte, as UTF-8 */
	uint8_t bl_len[256];
};

/* A stretch of a string, and whether the pattern matched it. */
struct seg {
	size_t s, e;
	int m;
};

/* ---- Per-call state ----------------------------------------------------- */

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

/* ---- Functions across the modules ---------------------------------------- */

/* tokenizer.c: errors, per-call state, added tokens, creation. */

/*
 * Records st in *stp and "path: message" in err.  ENC_FAIL (here) and the
 * reader's LFAIL wrap it; their value is the status code itself, which
 * keeps the failing paths plain to static analyzers.
 */
void tq_tok__fail(tq_status *stp, tq_error *err, const char *path,
    tq_status st, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define ENC_FAIL(E, code, ...)	\
	(tq_tok__fail(&(E)->st, (E)->err, (E)->tok->path, (code), \
	    __VA_ARGS__), (code))
tq_status tq_tok__nomem(struct enc *E);
tq_status tq_tok__enc_init(struct enc *E, const tq_tokenizer *tok,
    tq_error *err);
void tq_tok__enc_done(struct enc *E);
/* Grows *p (of *cap elements of size bytes) to hold need; 0 or -1. */
int tq_tok__grow(void **p, size_t *cap, size_t need, size_t size);
tq_status tq_tok__emit(struct enc *E, int32_t id);
/* Sorts, drops repeated strings and indexes the patterns by first byte. */
void tq_tok__amatch_build(struct amatch *a);
/*
 * An empty tokenizer named name (for messages): no vocabulary, merges,
 * stages or template; NULL when out of memory.  tq_tokenizer_free frees.
 */
tq_tokenizer *tq_tok__new(const char *name);

/* tok_norm.c: ByteLevel's byte map, white space trimming, normalizers. */
uint32_t tq_tok__bl_cp(unsigned b);
int tq_tok__bl_byte(uint32_t cp);
int tq_tok__bytelevel_map(const tq_tokenizer *tok, struct tq_ubuf *b,
    const char *s, size_t len);
size_t tq_tok__bytelevel_len(const tq_tokenizer *tok, const char *s,
    size_t len);
/*
 * White space at the ends, for Strip, lstrip and rstrip: trim_start moves
 * i forward over it in s[i, len), trim_end moves j back over it in s[lo, j).
 */
size_t tq_tok__trim_start(const char *s, size_t i, size_t len);
size_t tq_tok__trim_end(const char *s, size_t lo, size_t j);
tq_status tq_tok__normalize(struct enc *E, const char *s, size_t len,
    size_t *zlen, const char **out, size_t *out_len);

/* tok_pretok.c: regex matches and the pre-tokenizer stages. */
tq_status tq_tok__find_regex(struct enc *E, const pcre2_code *re,
    const char *s, size_t len);
tq_status tq_tok__pretok_run(struct enc *E, size_t lvl, const char *s,
    size_t len, size_t zlen);

/* tok_bpe.c: the BPE model on one pre-token. */
tq_status tq_tok__bpe_word(struct enc *E, const char *w, size_t len);

#endif /* TQ_CORE_TOK_INTERNAL_H */
