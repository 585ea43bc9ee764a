/*
 * tokenizer_json.c: reads a Hugging Face tokenizer.json (BPE models) into a
 * tq_tokenizer: the model's vocabulary and merges, the normalizers,
 * pre-tokenizers, post-processor and decoders, and the added tokens.
 * What a file asks for that the tokenizer in core/ cannot do as HF does is
 * refused (TQ_EUNSUPPORTED) rather than approximated.  The tokenizer is
 * built through core/tok_internal.h; encoding and decoding are core's.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "error.h"
#include "fileio.h"
#include "tok_internal.h"
#include "tokenizer.h"
#include "tokenizer_json.h"

#define MAX_NEST	32	/* Sequence inside Sequence ... */
#define MAX_ID		((int32_t)1 << 27)

/* The GPT-2 regex built into HF's ByteLevel pre-tokenizer. */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+"
    "|\\s+(?!\\S)|\\s+";

struct loader {
	tq_tokenizer *tok;
	tq_error *err;
	tq_status st;		/* of the last LFAIL() */
	pcre2_compile_context *cc;
	int depth;
};

/* Records the error in L; its value is the status code (see ENC_FAIL). */
#define LFAIL(L, code, ...)	\
	(tq_tok__fail(&(L)->st, (L)->err, (L)->tok->path, (code), \
	    __VA_ARGS__), (code))

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

/*
 * Appends a normalizer, pre-tokenizer or decoder (item, of size bytes) to
 * *arr, which holds *n; out of memory, frees the text and re it owns.
 */
static tq_status
add_stage(struct loader *L, void **arr, size_t *n, const void *item,
    size_t size, char *text, pcre2_code *re)
{
	void *p = realloc(*arr, (*n + 1) * size);

	if (p == NULL) {
		free(text);
		pcre2_code_free(re);
		return lnomem(L);
	}
	memcpy((char *)p + *n * size, item, size);
	*arr = p;
	(*n)++;
	return TQ_OK;
}

typedef tq_status (*load_fn)(struct loader *, const cJSON *, const char *);

/*
 * A Sequence (of normalizers, pre-tokenizers, decoders or processors):
 * fn loads each item of the array under key, in order.
 */
static tq_status
load_seq(struct loader *L, const cJSON *o, const char *key, load_fn fn,
    const char *where)
{
	const cJSON *v = jget(o, key);
	char sub[160];
	int i;

	if (!cJSON_IsArray(v))
		return LFAIL(L, TQ_EFORMAT, "%s: \"%s\" must be an array",
		    where, key);
	if (++L->depth > MAX_NEST)
		return LFAIL(L, TQ_EFORMAT, "%s: nested too deeply", where);
	for (i = 0; i < cJSON_GetArraySize(v); i++) {
		snprintf(sub, sizeof(sub), "%.120s[%d]", where, i);
		if (fn(L, cJSON_GetArrayItem(v, i), sub))
			return L->st;
	}
	L->depth--;
	return TQ_OK;
}

static tq_status
load_normalizer(struct loader *L, const cJSON *o, const char *where)
{
	tq_tokenizer *tok = L->tok;
	struct norm nm;
	const char *type;

	if (jnull(o))
		return TQ_OK;
	if (jtype(L, o, &type, where) != TQ_OK)
		return L->st;
	memset(&nm, 0, sizeof(nm));
	if (strcmp(type, "Sequence") == 0)
		return load_seq(L, o, "normalizers", load_normalizer, where);
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
	return add_stage(L, (void **)&tok->norms, &tok->n_norms, &nm,
	    sizeof(nm), nm.text, nm.re);
}

static tq_status
add_pretok(struct loader *L, const struct pretok *pt, const char *where)
{
	tq_tokenizer *tok = L->tok;

	if (tok->n_pres == MAX_STAGES) {
		pcre2_code_free(pt->re);
		return LFAIL(L, TQ_EUNSUPPORTED,
		    "%s: more than %d pre-tokenizers", where, MAX_STAGES);
	}
	return add_stage(L, (void **)&tok->pres, &tok->n_pres, pt,
	    sizeof(*pt), NULL, pt->re);
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
	char ch[4] = "";
	size_t chlen = 0;
	int b;

	if (jnull(o))
		return TQ_OK;
	if (jtype(L, o, &type, where) != TQ_OK)
		return L->st;
	memset(&pt, 0, sizeof(pt));
	if (strcmp(type, "Sequence") == 0)
		return load_seq(L, o, "pretokenizers", load_pretok, where);
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

	if (jnull(o))
		return TQ_OK;
	if (jtype(L, o, &type, where) != TQ_OK)
		return L->st;
	tok->has_decoder = 1;
	memset(&d, 0, sizeof(d));
	if (strcmp(type, "Sequence") == 0)
		return load_seq(L, o, "decoders", load_decoder, where);
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
	return add_stage(L, (void **)&tok->decs, &tok->n_decs, &d, sizeof(d),
	    d.text, d.re);
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

	if (jnull(o))
		return TQ_OK;
	if (jtype(L, o, &type, where) != TQ_OK)
		return L->st;
	if (strcmp(type, "Sequence") == 0)
		return load_seq(L, o, "processors", load_post, where);
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
	const struct smap_ent *e = tq_tok__smap_get(&L->tok->vocab, s, len);

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
		if (tq_tok__smap_put(&tok->vocab, it->string,
		    strlen(it->string), &e) < 0)
			return lnomem(L);
		e->val = (int32_t)it->valuedouble;
	}
	for (k = 0; k < 256; k++) {
		snprintf(key, sizeof(key), "<0x%02X>", k);
		e = tq_tok__smap_get(&tok->vocab, key, 6);
		tok->byte_id[k] = e != NULL ? e->val : -1;
	}
	tok->unk_id = -1;
	if (tok->unk != NULL &&
	    (e = tq_tok__smap_get(&tok->vocab, tok->unk,
	    strlen(tok->unk))) != NULL)
		tok->unk_id = e->val;

	n = (size_t)cJSON_GetArraySize(merges);
	if (tq_tok__pmap_init(&tok->merges, n) != 0)
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
		tq_tok__pmap_put(&tok->merges, ia, ib, (uint32_t)rank++, inew);
	}
	tq_ubuf_free(&cat);
	return TQ_OK;
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
		    tq_tok__smap_get(&tok->special, t->content, t->len) != NULL)
			continue;
		if (tq_tok__smap_put(&tok->special, t->content, t->len, &e) < 0)
			goto nomem;
		order[n_order++] = i;
	}
	vsize = (int32_t)tok->vocab.n;
	for (i = 0; i < n; i++) {
		t = &tok->added[i];
		if (t->len == 0)
			continue;
		e = tq_tok__smap_get(&tok->added_map, t->content, t->len);
		if (e != NULL && added_eq(&tok->added[e->aux], t))
			continue;	/* the very same token again */
		if (e != NULL)
			id = e->val;
		else if ((ve = tq_tok__smap_get(&tok->vocab, t->content,
		    t->len)))
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
		if (tq_tok__smap_put(&tok->added_map, t->content, t->len,
		    &e) < 0)
			goto nomem;
		e->val = id;
		e->aux = (uint32_t)i;	/* added_tokens_map_r: the latest */
		if (tq_tok__smap_get(&tok->special, t->content, t->len) == NULL)
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
		e = tq_tok__smap_get(&tok->added_map, t->content, t->len);
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
		if ((st = tq_tok__normalize(E, t->content, t->len, &z, &ns,
		    &nlen)) != TQ_OK)
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
	tq_tok__amatch_build(&tok->raw_match);
	tq_tok__amatch_build(&tok->norm_match);
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
		tok->id_str[e->val] = tq_tok__smap_str(&tok->vocab, e);
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
		if (tok->id_str[id] != NULL && tq_tok__smap_get(&tok->special,
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

	*out = NULL;
	memset(&E, 0, sizeof(E));
	if (name == NULL)
		name = "tokenizer.json";
	if ((tok = tq_tok__new(name)) == NULL)
		return tq_fail(err, TQ_ENOMEM, "%s: out of memory", name);
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
	if ((st = tq_tok__enc_init(&E, tok, err)) != TQ_OK ||
	    (st = load_added(&L, jget(root, "added_tokens"), &E,
	    &npool)) != TQ_OK ||
	    (st = build_ids(&L)) != TQ_OK)
		goto done;
done:
	tq_tok__enc_done(&E);
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
