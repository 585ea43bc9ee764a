/*
 * gguf_vocab.c: tokenizer.json <-> GGUF tokenizer metadata.
 *
 * Writing follows convert_hf_to_gguf.py: byte-level BPE is "gpt2" with
 * its merges and the "pre" name of its Split pattern (get_vocab_base: ids
 * without a token become "[PADn]" of type UNUSED; added tokens are CONTROL
 * when special, USER_DEFINED otherwise); SentencePiece-style BPE is
 * "llama" with scores (llama.cpp's SPM tokenizer merges the pair whose
 * result scores highest, so minus the merge rank gives BPE's order) and
 * BYTE types for <0xNN>.
 *
 * Reading builds the tokenizer.json that describes the same tokenizer, so
 * the one tokenizer implementation (core/tokenizer.c) serves both.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "error.h"
#include "fileio.h"
#include "gguf_vocab.h"
#include "model.h"

#define TOKENIZER_MAX_BYTES ((size_t)512 << 20)

/* llama.cpp token types (llama.h: LLAMA_TOKEN_TYPE_*). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4,
	TT_UNUSED = 5, TT_BYTE = 6 };

/* The pre-tokenizer patterns llama.cpp knows, by their "pre" names. */
static const struct {
	const char *pre;
	const char *regex;
} known_pre[] = {
	{ "llama-bpe", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?"
	  "\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
	  "\\s+(?!\\S)|\\s+" },
	{ "qwen2", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?"
	  "\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
	  "\\s+(?!\\S)|\\s+" },
	{ "gpt-2", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?"
	  "[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+" },
};

static void
warn_add(char *warn, size_t wlen, const char *msg)
{
	size_t n = strlen(warn);

	snprintf(warn + n, wlen - n, "%s%s", n ? "; " : "", msg);
}

/* The first object of a given "type" in a component or its Sequence. */
static const cJSON *
find_component(const cJSON *c, const char *list, const char *type)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type"), *e;

	if (!cJSON_IsString(t))
		return NULL;
	if (strcmp(t->valuestring, type) == 0)
		return c;
	if (strcmp(t->valuestring, "Sequence") == 0)
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(c, list))
			if ((t = find_component(e, list, type)) != NULL)
				return t;
	return NULL;
}

/* The Split regex of the pre-tokenizer, or NULL. */
static const char *
split_regex(const cJSON *pre)
{
	const cJSON *s = find_component(pre, "pretokenizers", "Split"), *p;

	if (s == NULL)
		return NULL;
	p = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(s, "pattern"), "Regex");
	return cJSON_IsString(p) ? p->valuestring : NULL;
}

/* The tokenizer being written: id -> token string and type. */
typedef struct vocab {
	int64_t n;
	const char **tok;	/* [n]; borrowed from the JSON or pads */
	int32_t *type;		/* [n] */
	float *score;		/* [n] (llama only) */
	char *pads;		/* "[PADn]" strings, one block */
} vocab;

static void
vocab_free(vocab *v)
{
	free(v->tok);
	free(v->type);
	free(v->score);
	free(v->pads);
}

/* Ids from the model's vocab and added tokens; gaps become pads. */
static tq_status
vocab_fill(vocab *v, const cJSON *root, const char *path, int64_t n,
    tq_error *err)
{
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(model, "vocab");
	const cJSON *added = cJSON_GetObjectItemCaseSensitive(root,
	    "added_tokens"), *e;
	size_t padlen = 32;
	int64_t i;
	char *p;

	v->n = n;
	v->tok = calloc((size_t)n, sizeof(*v->tok));
	v->type = calloc((size_t)n, sizeof(*v->type));
	v->score = calloc((size_t)n, sizeof(*v->score));
	v->pads = malloc((size_t)n * padlen);
	if (v->tok == NULL || v->type == NULL || v->score == NULL ||
	    v->pads == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if (!cJSON_IsObject(map))
		return tq_fail(err, TQ_EFORMAT, "%s: model.vocab is not an object",
		    path);
	cJSON_ArrayForEach(e, map) {
		if (!cJSON_IsNumber(e) || e->valuedouble < 0 ||
		    e->valuedouble >= (double)n)
			return tq_fail(err, TQ_EFORMAT, "%s: token \"%.40s\" has "
			    "an id outside the model's %lld embeddings", path,
			    e->string, (long long)n);
		v->tok[e->valueint] = e->string;
		v->type[e->valueint] = TT_NORMAL;
	}
	cJSON_ArrayForEach(e, added) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
		const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "special");

		if (!cJSON_IsNumber(id) || !cJSON_IsString(c) ||
		    id->valuedouble < 0 || id->valuedouble >= (double)n)
			return tq_fail(err, TQ_EFORMAT, "%s: an added token has a "
			    "bad id or content", path);
		v->tok[id->valueint] = c->valuestring;
		v->type[id->valueint] = cJSON_IsTrue(sp) ? TT_CONTROL : TT_USER;
	}
	for (i = 0, p = v->pads; i < n; i++, p += padlen) {
		if (v->tok[i] != NULL)
			continue;
		snprintf(p, padlen, "[PAD%lld]", (long long)i);
		v->tok[i] = p;
		v->type[i] = TT_UNUSED;
	}
	return TQ_OK;
}

/* The merges as "left right" strings (either form in the JSON). */
static tq_status
merges_get(const cJSON *model, const char *path, char ***out, size_t *n_out,
    tq_error *err)
{
	const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
	const cJSON *e;
	size_t n = 0;
	char **m;

	*out = NULL;
	*n_out = 0;
	if (!cJSON_IsArray(merges))
		return tq_fail(err, TQ_EFORMAT, "%s: model.merges is not an "
		    "array", path);
	m = calloc((size_t)cJSON_GetArraySize(merges) + 1, sizeof(*m));
	if (m == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	cJSON_ArrayForEach(e, merges) {
		const cJSON *a = cJSON_GetArrayItem(e, 0), *b = cJSON_GetArrayItem(e, 1);
		size_t len;

		if (cJSON_IsString(e)) {
			m[n] = strdup(e->valuestring);
		} else if (cJSON_IsString(a) && cJSON_IsString(b)) {
			len = strlen(a->valuestring) + strlen(b->valuestring) + 2;
			if ((m[n] = malloc(len)) != NULL)
				snprintf(m[n], len, "%s %s", a->valuestring,
				    b->valuestring);
		} else {
			*out = m;
			*n_out = n;
			return tq_fail(err, TQ_EFORMAT, "%s: merge %zu is neither "
			    "\"a b\" nor [a, b]", path, n);
		}
		if (m[n++] == NULL) {
			*out = m;
			*n_out = n;
			return tq_fail(err, TQ_ENOMEM, "out of memory");
		}
	}
	*out = m;
	*n_out = n;
	return TQ_OK;
}

static void
merges_free(char **m, size_t n)
{
	size_t i;

	for (i = 0; m != NULL && i < n; i++)
		free(m[i]);
	free(m);
}

/* SPM scores: a token made by merge r scores -r; others 0. */
static void
spm_scores(vocab *v, const tq_tokenizer *tok, char **merges, size_t n)
{
	size_t r;
	int64_t i;

	for (i = 0; i < v->n; i++)
		v->score[i] = 0.0f;
	for (r = n; r-- > 0;) {
		char *sp = strchr(merges[r], ' '), buf[512];
		int32_t id;

		if (sp == NULL || strlen(merges[r]) >= sizeof(buf))
			continue;
		memcpy(buf, merges[r], (size_t)(sp - merges[r]));
		strcpy(buf + (sp - merges[r]), sp + 1);
		if ((id = tq_tokenizer_id(tok, buf)) >= 0 && id < v->n)
			v->score[id] = -(float)r;
	}
}

static int
is_byte_token(const char *s)
{
	return strlen(s) == 6 && strncmp(s, "<0x", 3) == 0 && s[5] == '>';
}

/* add_space_prefix: a Prepend("▁") normalizer or a prepending Metaspace. */
static int
spm_space_prefix(const cJSON *root)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
	const cJSON *c, *s;

	if (find_component(n, "normalizers", "Prepend") != NULL)
		return 1;
	if ((c = find_component(p, "pretokenizers", "Metaspace")) != NULL) {
		s = cJSON_GetObjectItemCaseSensitive(c, "prepend_scheme");
		if (cJSON_IsString(s))
			return strcmp(s->valuestring, "never") != 0;
		return !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c,
		    "add_prefix_space"));
	}
	return 0;
}

tq_status
tq_gguf_vocab_write(tq_gguf_writer *w, const tq_model *m, char *warn,
    size_t wlen, tq_error *err)
{
	const tq_model_config *c = tq_model_get_config(m);
	const tq_tokenizer *tok = tq_model_tokenizer(m);
	const cJSON *model, *pre, *type, *unk;
	char *path = NULL, **merges = NULL;
	const char *re, *pre_name = "default";
	size_t n_merges = 0, i;
	cJSON *root = NULL;
	vocab v;
	int spm, byte_level;
	tq_status st;

	memset(&v, 0, sizeof(v));
	if (tok != NULL && tq_is_dir(tq_model_path(m)) &&
	    (path = tq_path_join(tq_model_path(m), "tokenizer.json")) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if (tok == NULL || path == NULL || access(path, F_OK) != 0) {
		free(path);
		if (tok != NULL)
			warn_add(warn, wlen, "no tokenizer.json beside the model: "
			    "written without a vocabulary");
		return tq_gguf_kv_str(w, "tokenizer.ggml.model", "none") == TQ_OK ?
		    TQ_OK : tq_fail(err, TQ_ENOMEM, "out of memory");
	}
	if ((st = tq_json_load(path, TOKENIZER_MAX_BYTES, &root, err)) != TQ_OK)
		goto out;
	model = cJSON_GetObjectItemCaseSensitive(root, "model");
	type = cJSON_GetObjectItemCaseSensitive(model, "type");
	pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
	if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0) {
		st = tq_fail(err, TQ_EUNSUPPORTED, "%s: only BPE tokenizers can "
		    "be written to GGUF", path);
		goto out;
	}
	byte_level = find_component(pre, "pretokenizers", "ByteLevel") != NULL;
	spm = !byte_level && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model,
	    "byte_fallback"));
	if (!byte_level && !spm) {
		st = tq_fail(err, TQ_EUNSUPPORTED, "%s: a BPE tokenizer that is "
		    "neither byte-level nor SentencePiece-style (byte_fallback) "
		    "has no GGUF form", path);
		goto out;
	}
	if ((st = vocab_fill(&v, root, path, c->vocab_size, err)) != TQ_OK ||
	    (st = merges_get(model, path, &merges, &n_merges, err)) != TQ_OK)
		goto out;
	if (byte_level) {
		re = split_regex(pre);
		if (re == NULL) {
			pre_name = "gpt-2";	/* ByteLevel's own regex */
		} else {
			pre_name = NULL;
			for (i = 0; i < sizeof(known_pre) / sizeof(known_pre[0]);
			    i++)
				if (strcmp(re, known_pre[i].regex) == 0)
					pre_name = known_pre[i].pre;
			if (pre_name == NULL) {
				pre_name = "default";
				warn_add(warn, wlen, "the pre-tokenizer pattern is "
				    "not one llama.cpp knows: tokenizer.ggml.pre "
				    "is \"default\" and llama.cpp will split text "
				    "differently");
			}
		}
	} else {
		spm_scores(&v, tok, merges, n_merges);
		for (i = 0; i < (size_t)v.n; i++)
			if (v.type[i] == TT_NORMAL && is_byte_token(v.tok[i]))
				v.type[i] = TT_BYTE;
		unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
		if (cJSON_IsString(unk) &&
		    tq_tokenizer_id(tok, unk->valuestring) >= 0)
			v.type[tq_tokenizer_id(tok, unk->valuestring)] =
			    TT_UNKNOWN;
	}
	st = tq_gguf_kv_str(w, "tokenizer.ggml.model", spm ? "llama" : "gpt2");
	if (st == TQ_OK)
		st = tq_gguf_kv_str(w, "tokenizer.ggml.pre", pre_name);
	if (st == TQ_OK)
		st = tq_gguf_kv_str_array(w, "tokenizer.ggml.tokens", v.tok,
		    (size_t)v.n);
	if (st == TQ_OK && spm)
		st = tq_gguf_kv_f32_array(w, "tokenizer.ggml.scores", v.score,
		    (size_t)v.n);
	if (st == TQ_OK)
		st = tq_gguf_kv_i32_array(w, "tokenizer.ggml.token_type", v.type,
		    (size_t)v.n);
	if (st == TQ_OK && !spm)
		st = tq_gguf_kv_str_array(w, "tokenizer.ggml.merges",
		    (const char *const *)merges, n_merges);
	if (st == TQ_OK && c->bos_token_id >= 0 && c->bos_token_id < v.n)
		st = tq_gguf_kv_u32(w, "tokenizer.ggml.bos_token_id",
		    (uint32_t)c->bos_token_id);
	if (st == TQ_OK && c->eos_token_id >= 0 && c->eos_token_id < v.n)
		st = tq_gguf_kv_u32(w, "tokenizer.ggml.eos_token_id",
		    (uint32_t)c->eos_token_id);
	if (st == TQ_OK && spm && (unk = cJSON_GetObjectItemCaseSensitive(model,
	    "unk_token")) != NULL && cJSON_IsString(unk) &&
	    tq_tokenizer_id(tok, unk->valuestring) >= 0)
		st = tq_gguf_kv_u32(w, "tokenizer.ggml.unknown_token_id",
		    (uint32_t)tq_tokenizer_id(tok, unk->valuestring));
	if (st == TQ_OK)
		st = tq_gguf_kv_bool(w, "tokenizer.ggml.add_bos_token",
		    tq_tokenizer_bos(tok) >= 0);
	if (st == TQ_OK)
		st = tq_gguf_kv_bool(w, "tokenizer.ggml.add_eos_token", 0);
	if (st == TQ_OK && spm)
		st = tq_gguf_kv_bool(w, "tokenizer.ggml.add_space_prefix",
		    spm_space_prefix(root));
	if (st != TQ_OK)
		st = tq_fail(err, st, "out of memory");
out:
	merges_free(merges, n_merges);
	vocab_free(&v);
	cJSON_Delete(root);
	free(path);
	return st;
}
