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

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "error.h"
#include "export.h"
#include "fileio.h"
#include "gguf_vocab.h"
#include "model.h"
#include "tokenizer.h"

#define TOKENIZER_MAX_BYTES ((size_t)512 << 20)

/* llama.cpp token types (llama.h: LLAMA_TOKEN_TYPE_*). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4,
	TT_UNUSED = 5, TT_BYTE = 6 };

/*
 * The pre-tokenizers llama.cpp knows (src/llama-vocab.cpp of the pinned
 * build, tools/build-llamacpp.sh): by tokenizer.ggml.pre name, the list
 * of regexes its llm_tokenizer_bpe splits text with, one after the other,
 * every match a piece of its own (Split, behavior Isolated, in a
 * Sequence), before GPT-2's byte-level step.  Where llama.cpp runs a
 * regex through std::regex on its "collapsed" text, \p{Lu}, \p{Ll}, \p{Lt},
 * \p{Lm} and \p{Lo} all stand for any letter, so \p{L} is written; its
 * "$" (end of input there) is \z here.  Its GPT-2 regex lacks the final
 * "\s+" that its custom matcher (unicode_regex_split_custom_gpt2) has, so
 * it is written with it, as Hugging Face writes it.  llama-bpe's and
 * qwen2's are Hugging Face's too ((?i:...) where llama.cpp spells the
 * cases out), as before.
 */
#define RE_CONTR	"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|" \
	"'[lL][lL]|'[dD])"
#define RE_WS		"\\s+(?!\\S)|\\s+"
#define RE_LLAMA3	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?" \
	"\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" \
	RE_WS
#define RE_QWEN2	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?" \
	"\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" RE_WS
#define RE_GPT2		"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?" \
	"[^\\s\\p{L}\\p{N}]+|" RE_WS
#define RE_CJK		"[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}" \
	"\\x{30A0}-\\x{30FF}]+"
#define RE_CJK_KO	"[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}" \
	"\\x{AC00}-\\x{D7FF}]+"
#define RE_ASCII_PUNCT	"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~]"
#define RE_BLOOM	" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}" \
	"\\x{964}\\x{6D4}\\x{60C})]+"
/* A letter other than a-z, and one other than A-Z (tekken, gpt-4o). */
#define RE_NOT_LOWER(l)	"((?=[" l "])([^a-z]))"
#define RE_NOT_UPPER(l)	"((?=[" l "])([^A-Z]))"
#define RE_CASED(l)	"[^\\r\\n\\p{L}\\p{N}]?" RE_NOT_LOWER(l) "*" \
	RE_NOT_UPPER(l) "+" RE_CONTR "?|[^\\r\\n\\p{L}\\p{N}]?" \
	RE_NOT_LOWER(l) "+" RE_NOT_UPPER(l) "*" RE_CONTR "?"
#define RE_TAIL_SLASH	" ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|" RE_WS

#define PRE_MAX_RE	6

/* What llama.cpp does beside splitting (its ignore_merges, add_bos). */
#define PRE_IGNORE_MERGES	1
#define PRE_ADD_BOS		2
#define PRE_LLAMA3		(PRE_IGNORE_MERGES | PRE_ADD_BOS)

/*
 * llama.cpp's names by what it does with them, grouped as its
 * llama_vocab::impl::load groups them, with the regexes of their kind
 * (none: refused, for why).  The llama3 kind comes before dbrx's: the
 * writer names a regex after the first group that has it.
 */
static const struct pre_kind {
	const char *names;	/* separated by spaces */
	int flags;
	const char *why;
	const char *re[PRE_MAX_RE];
} pre_kinds[] = {
	{ "llama-bpe llama3 llama-v3 falcon3 falcon-h1 pixtral midm-2.0 "
	    "lfm2 jina-v5-nano", PRE_LLAMA3, NULL, { RE_LLAMA3 } },
	{ "qwen2 deepseek-r1-qwen kormo f2llmv2 megrez stablelm2 hunyuan "
	    "solar-open grok-2", 0, NULL, { RE_QWEN2 } },
	{ "gpt-2 phi-2 jina-es jina-de gigachat jina-v2-es jina-v2-de "
	    "a.x-4.0 mellum modern-bert jina-v1-en jina-v2-code "
	    "roberta-bpe exaone4 mpt olmo jais trillion granite-docling", 0,
	    NULL, { RE_GPT2 } },
	{ "default", 0, NULL, {
	    "[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+",
	    "[0-9][0-9][0-9]" } },
	{ "minicpm5", PRE_IGNORE_MERGES, NULL, {
	    "\\p{N}{1,3}", RE_CONTR "|[^\\r\\n\\p{L}\\p{N}]?"
	    "\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
	    RE_WS } },
	{ "dbrx smaug-bpe chatglm-bpe", 0, NULL, { RE_LLAMA3 } },
	{ "glm4 glm5", PRE_IGNORE_MERGES, NULL, { RE_LLAMA3 } },
	{ "deepseek-llm", 0, NULL, {
	    "[\\r\\n]", "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}"
	    "\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
	    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-"
	    "\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-"
	    "\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}"
	    "\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-"
	    "\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-"
	    "\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-"
	    "\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-"
	    "\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-"
	    "\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-"
	    "\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-"
	    "\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-"
	    "\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-"
	    "\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-"
	    "\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}"
	    "\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-"
	    "\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}"
	    "\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}"
	    "\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"
	    "\\x{FF21}-\\x{FF3A}"
	    "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"
	    "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
	    "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+", "\\s?[!-/:-~"
	    "\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}"
	    "\\x{3000}-\\x{3002}]+", "\\s+\\z", RE_CJK_KO, "\\p{N}+" } },
	{ "deepseek-coder", 0, NULL, {
	    "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
	    RE_CJK_KO, "\\p{N}" } },
	{ "deepseek-v3 hunyuan-dense joyai-llm hy_v4", 0, NULL, {
	    "\\p{N}{1,3}", RE_CJK, RE_ASCII_PUNCT "[A-Za-z]+|"
	    "[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+"
	    "[\\r\\n]*|\\s*[\\r\\n]+|" RE_WS } },
	{ "spark2_5", 0, NULL, {
	    "\\p{N}{1,3}", RE_CJK, RE_ASCII_PUNCT "[A-Za-z]+|"
	    "[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|"
	    "[\\r\\n]|" RE_WS, "\\p{N}" } },
	{ "youtu", PRE_IGNORE_MERGES, NULL, {
	    "[\\x{AC00}-\\x{D7A3}\\x{3131}-\\x{318E}]+|[\\x{FF01}"
	    "\\x{2026}\\x{201C}\\x{201D}\\x{2018}\\x{2019}\\x{2014}\\x{FF1A}"
	    "\\x{FF1B}\\x{FF0C}\\x{3001}-\\x{303F}\\x{FE30}-\\x{FE4F}]+|"
	    "[\\x{3105}-\\x{312F}]+|" RE_CJK, "[^\\r\\n\\p{L}\\p{N}]?"
	    "[\\p{L}\\p{M}]*[\\p{L}\\p{M}]+" RE_CONTR "?|[^\\r\\n\\p{L}"
	    "\\p{N}]?[\\p{L}\\p{M}]+[\\p{L}\\p{M}]*" RE_CONTR "?|\\p{N}|"
	    RE_TAIL_SLASH } },
	{ "falcon", 0, NULL, {
	    "[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2,
	    "[0-9][0-9][0-9]" } },
	{ "starcoder refact command-r smollm codeshell exaone minerva-7b "
	    "mellum2", 0, NULL, { "\\p{N}", RE_GPT2 } },
	{ "jais-2", 0, NULL, {
	    RE_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?"
	    "[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|"
	    "\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|"
	    "\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|"
	    "\\s{1}" } },
	{ "qwen35", 0, NULL, {
	    RE_CONTR "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|"
	    "\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
	    RE_WS } },
	{ "poro-chat bloom gpt3-finnish", 0, NULL, { RE_BLOOM } },
	{ "viking", 0, NULL, { RE_BLOOM, "\\p{N}" } },
	{ "tekken", PRE_LLAMA3, NULL, {
	    "[^\\r\\n\\p{L}\\p{N}]?" RE_NOT_LOWER("\\p{L}") "*"
	    RE_NOT_UPPER("\\p{L}") "+|[^\\r\\n\\p{L}\\p{N}]?"
	    RE_NOT_LOWER("\\p{L}") "+" RE_NOT_UPPER("\\p{L}") "*|\\p{N}|"
	    RE_TAIL_SLASH } },
	{ "exaone-moe", 0, NULL, {
	    RE_CONTR "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}"
	    "\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
	    "[\\r\\n/]?|\\s*[\\r\\n]|" RE_WS } },
	{ "chameleon", PRE_ADD_BOS, NULL, {
	    "<sentinel:[0-9]+>",
	    "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
	    "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", RE_GPT2 } },
	{ "gpt-4o llama4 kanana2 talkie minimax-m2", 0, NULL, {
	    RE_CASED("\\p{L}") "|\\p{N}{1,3}|" RE_TAIL_SLASH } },
	{ "granite-embed-multi-97m", PRE_IGNORE_MERGES, NULL, {
	    RE_CASED("\\p{L}\\p{M}") "|\\p{N}{1,3}|"
	    RE_TAIL_SLASH } },
	{ "superbpe", 0, NULL, { "\\p{N}+", "(?=([0-9]{3})+(?![0-9]))" } },
	{ "bailingmoe bailingmoe2 llada-moe", 0, NULL, {
	    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|"
	    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
	    "[\\r\\n]*|\\s*[\\r\\n]|" RE_WS } },
	{ "seed-coder", 0, NULL, {
	    RE_CONTR "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
	    "\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|" RE_WS } },
	{ "ufakzeka", 0, NULL, {
	    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?"
	    "[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" RE_WS } },
	{ "laguna", 0, NULL, { "[^\\n]+|[\\n]+", RE_QWEN2 } },
	{ "gemma4 granite-embed-multi-311m sarvam-moe", 0,
	    "llama.cpp runs SentencePiece-style BPE on raw UTF-8 (spaces as "
	    "U+2581, no byte-level step)", { NULL } },
	{ "whitespace", 0,
	    "llama.cpp splits at whitespace and runs BPE on raw UTF-8, with "
	    "no byte-level step", { NULL } },
	{ "tiny_aya cohere2moe afmoe", 0,
	    "llama.cpp groups digits by threes from the right with custom "
	    "code (unicode_regex_split_custom_afmoe), not with a regex",
	    { NULL } },
	{ "kimi-k2", 0,
	    "llama.cpp splits with custom code "
	    "(unicode_regex_split_custom_kimi_k2): its regex excludes Han "
	    "from letter classes (&&), and it has no merges", { NULL } },
};

/* The name the writer gives a one-regex pre-tokenizer, or NULL. */
static const char *
pre_name_of(const char *re, char *buf, size_t len)
{
	const struct pre_kind *k;
	size_t i;

	for (i = 0; i < sizeof(pre_kinds) / sizeof(pre_kinds[0]); i++) {
		k = &pre_kinds[i];
		if (k->re[0] != NULL && k->re[1] == NULL &&
		    strcmp(k->re[0], re) == 0) {
			snprintf(buf, len, "%.*s", (int)strcspn(k->names, " "),
			    k->names);
			return buf;
		}
	}
	return NULL;
}

/*
 * The kind of tokenizer.ggml.pre name pre, or fails naming it and why it
 * cannot be rebuilt (unknown to llama.cpp, custom code there, or a regex
 * the tokenizer's Oniguruma-to-PCRE2 rewrite cannot say).
 */
static tq_status
pre_lookup(const char *path, const char *pre, const struct pre_kind **out,
    tq_error *err)
{
	const struct pre_kind *k = NULL;
	const char *why = NULL, *w;
	size_t i, len, n = strlen(pre);
	char *rw;
	tq_status st;

	*out = NULL;
	for (i = 0; k == NULL && i < sizeof(pre_kinds) / sizeof(pre_kinds[0]);
	    i++)
		for (w = pre_kinds[i].names; k == NULL && *w != '\0';
		    w += len + (w[len] == ' ')) {
			len = strcspn(w, " ");
			if (len == n && strncmp(w, pre, n) == 0)
				k = &pre_kinds[i];
		}
	if (k == NULL)
		why = "the pinned llama.cpp does not know it";
	else if (k->re[0] == NULL)
		why = k->why;
	for (i = 0; why == NULL && i < PRE_MAX_RE && k->re[i] != NULL; i++) {
		st = tq_tokenizer_regex_rewrite(k->re[i], strlen(k->re[i]), &rw,
		    &len, &why);
		free(rw);
		if (st == TQ_ENOMEM)
			return tq_fail(err, st, "out of memory");
	}
	if (why != NULL)
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: pre-tokenizer \"%s\" "
		    "cannot be rebuilt: %s", path, pre, why);
	*out = k;
	return TQ_OK;
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

/* A Metaspace that prepends only to the first piece of the text. */
static int
spm_first_only(const cJSON *root)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
	const cJSON *c = find_component(p, "pretokenizers", "Metaspace"), *s;

	s = cJSON_GetObjectItemCaseSensitive(c, "prepend_scheme");
	return c != NULL && cJSON_IsString(s) && strcmp(s->valuestring,
	    "first") == 0;
}

/*
 * The tokenizer.json of m as parsed JSON (*root NULL when there is none):
 * the file beside a checkpoint, or the one a .gguf model's metadata
 * describes.  *name names it in messages.
 */
static tq_status
vocab_source(const tq_model *m, cJSON **root, char **name, tq_error *err)
{
	const char *mp = tq_model_path(m);
	tq_gguf_file *f = NULL;
	char *json = NULL;
	tq_status st;

	*root = NULL;
	*name = NULL;
	if (tq_model_tokenizer(m) == NULL)
		return TQ_OK;
	if (tq_gguf_is_file(mp)) {
		if ((st = tq_gguf_open(mp, &f, err)) == TQ_OK &&
		    (st = tq_gguf_vocab_to_json(f, &json, err)) == TQ_OK &&
		    json != NULL) {
			if ((*root = cJSON_Parse(json)) == NULL ||
			    (*name = strdup(mp)) == NULL)
				st = tq_fail(err, TQ_ENOMEM, "out of memory");
		}
		free(json);
		tq_gguf_close(f);
		return st == TQ_EUNSUPPORTED ? TQ_OK : st;
	}
	if (!tq_is_dir(mp))
		return TQ_OK;
	if ((*name = tq_path_join(mp, "tokenizer.json")) == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	if (access(*name, F_OK) != 0)
		return TQ_OK;
	return tq_json_load(*name, TOKENIZER_MAX_BYTES, root, err);
}

/*
 * A GGUF source's tokenizer.* metadata, copied as it is: llama.cpp reads
 * back exactly the vocabulary, pre-tokenizer name and flags it read from
 * the source.  *done 0 when m is not a GGUF file with a vocabulary.
 */
static tq_status
vocab_copy(tq_gguf_writer *w, const tq_model *m, int *done, tq_error *err)
{
	const char *mp = tq_model_path(m), *model;
	tq_gguf_file *f = NULL;
	size_t i, len;
	tq_status st;

	*done = 0;
	if (!tq_gguf_is_file(mp))
		return TQ_OK;
	if ((st = tq_gguf_open(mp, &f, err)) != TQ_OK)
		return st;
	if (tq_gguf_get_str(f, "tokenizer.ggml.model", &model, &len) &&
	    !(len == 4 && memcmp(model, "none", 4) == 0)) {
		for (i = 0; i < f->n_kv && st == TQ_OK; i++)
			if (strncmp(f->kv[i].key, "tokenizer.", 10) == 0)
				st = tq_gguf_kv_copy(w, &f->kv[i]);
		if (st != TQ_OK)
			st = tq_fail(err, st, "out of memory");
		*done = 1;
	}
	tq_gguf_close(f);
	return st;
}

tq_status
tq_gguf_vocab_write(tq_gguf_writer *w, const tq_model *m, char *warn,
    size_t wlen, tq_error *err)
{
	const tq_model_config *c = tq_model_get_config(m);
	const tq_tokenizer *tok = tq_model_tokenizer(m);
	const cJSON *model, *pre, *type, *unk;
	char *path = NULL, **merges = NULL, namebuf[32];
	const char *re, *pre_name = "default";
	size_t n_merges = 0, i;
	cJSON *root = NULL;
	vocab v;
	int spm, byte_level, done;
	tq_status st;

	memset(&v, 0, sizeof(v));
	if ((st = vocab_copy(w, m, &done, err)) != TQ_OK || done)
		return st;
	if ((st = vocab_source(m, &root, &path, err)) != TQ_OK)
		goto out;
	if (root == NULL) {
		if (tok != NULL)
			tq_warn_append(warn, wlen, "no tokenizer.json beside the "
			    "model: written without a vocabulary");
		st = tq_gguf_kv_str(w, "tokenizer.ggml.model", "none");
		if (st != TQ_OK)
			st = tq_fail(err, st, "out of memory");
		goto out;
	}
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
			pre_name = pre_name_of(re, namebuf, sizeof(namebuf));
			if (pre_name == NULL) {
				pre_name = "default";
				tq_warn_append(warn, wlen, "the pre-tokenizer pattern is "
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
		if (spm_first_only(root))
			tq_warn_append(warn, wlen, "the tokenizer prepends \xe2\x96\x81 only "
			    "at the start of the text and not before a space "
			    "(Metaspace \"first\"); llama.cpp prepends it "
			    "always, after every special token too");
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

/* ---- Reading: tokenizer.* metadata -> tokenizer.json ------------------- */

/* A token string of the file as a C string (malloc'ed). */
static char *
tok_str(const tq_gguf_kv *toks, uint64_t i)
{
	const char *s;
	size_t len;
	char *p;

	tq_gguf_arr_str(toks, i, &s, &len);
	if ((p = malloc(len + 1)) != NULL) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

typedef struct sp_entry {
	const char *s;
	int32_t id;
} sp_entry;

static int
sp_cmp(const void *a, const void *b)
{
	return strcmp(((const sp_entry *)a)->s, ((const sp_entry *)b)->s);
}

typedef struct sp_merge {
	float score;
	int32_t l, r;
	int32_t tok;
} sp_merge;

static int
sp_merge_cmp(const void *a, const void *b)
{
	const sp_merge *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (x->tok != y->tok)
		return x->tok < y->tok ? -1 : 1;
	if (x->l != y->l)
		return x->l < y->l ? -1 : 1;
	return x->r < y->r ? -1 : x->r > y->r;
}

static int32_t
sp_find(const sp_entry *e, size_t n, const char *s)
{
	sp_entry key = { s, 0 };
	const sp_entry *hit = bsearch(&key, e, n, sizeof(*e), sp_cmp);

	return hit != NULL ? hit->id : -1;
}

/*
 * SentencePiece BPE merges from the scores, as transformers'
 * SentencePieceExtractor derives them: every split of a piece into two
 * pieces of the vocabulary, ordered by the piece's score.  A user-defined
 * piece is a result too (Gemma's "▁▁" of "▁" + "▁"), as in the
 * extractor's merges and llama.cpp's SPM tokenizer.
 */
static tq_status
sp_merges(char **str, const int32_t *type, const float *score, int64_t n,
    cJSON *arr, tq_error *err)
{
	sp_entry *e = malloc((size_t)n * sizeof(*e));
	sp_merge *m = NULL;
	size_t ne = 0, nm = 0, cap = 0, i;
	char buf[1024];

	if (e == NULL)
		return tq_fail(err, TQ_ENOMEM, "out of memory");
	for (i = 0; i < (size_t)n; i++)
		if (type[i] == TT_NORMAL || type[i] == TT_USER) {
			e[ne].s = str[i];
			e[ne++].id = (int32_t)i;
		}
	qsort(e, ne, sizeof(*e), sp_cmp);
	for (i = 0; i < (size_t)n; i++) {
		size_t len = strlen(str[i]), k;

		if ((type[i] != TT_NORMAL && type[i] != TT_USER) ||
		    len >= sizeof(buf))
			continue;
		for (k = 1; k < len; k++) {
			int32_t l, r;

			if (((unsigned char)str[i][k] & 0xc0) == 0x80)
				continue;	/* inside a UTF-8 character */
			memcpy(buf, str[i], k);
			buf[k] = '\0';
			if ((l = sp_find(e, ne, buf)) < 0 ||
			    (r = sp_find(e, ne, str[i] + k)) < 0)
				continue;
			if (nm == cap) {
				sp_merge *g;

				cap = cap ? 2 * cap : 1024;
				if ((g = realloc(m, cap * sizeof(*m))) == NULL) {
					free(m);
					free(e);
					return tq_fail(err, TQ_ENOMEM,
					    "out of memory");
				}
				m = g;
			}
			m[nm].score = score[i];
			m[nm].tok = (int32_t)i;
			m[nm].l = l;
			m[nm++].r = r;
		}
	}
	qsort(m, nm, sizeof(*m), sp_merge_cmp);
	for (i = 0; i < nm; i++) {
		cJSON *pair = cJSON_CreateArray();

		if (pair == NULL)
			break;
		tq_json_push(pair, cJSON_CreateString(str[m[i].l]));
		tq_json_push(pair, cJSON_CreateString(str[m[i].r]));
		tq_json_push(arr, pair);
	}
	free(m);
	free(e);
	return TQ_OK;
}

/* {"type": "Replace", "pattern": {"String": from}, "content": to} */
static cJSON *
j_replace(const char *from, const char *to)
{
	cJSON *r = cJSON_CreateObject(), *p = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "type", "Replace");
	cJSON_AddStringToObject(p, "String", from);
	tq_json_add(r, "pattern", p);
	cJSON_AddStringToObject(r, "content", to);
	return r;
}

static cJSON *
j_typed(const char *type)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "type", type);
	return o;
}

/* {kind: {"id": id, "type_id": 0}}, a piece of a template. */
static cJSON *
j_piece(const char *kind, const char *id)
{
	cJSON *item = cJSON_CreateObject(), *in = cJSON_CreateObject();

	cJSON_AddStringToObject(in, "id", id);
	cJSON_AddNumberToObject(in, "type_id", 0);
	tq_json_add(item, kind, in);
	return item;
}

/* A TemplateProcessing that puts bos before each sequence. */
static cJSON *
j_bos_template(const char *bos, int32_t id)
{
	cJSON *t = j_typed("TemplateProcessing"), *single, *pair, *e;

	single = cJSON_AddArrayToObject(t, "single");
	tq_json_push(single, j_piece("SpecialToken", bos));
	tq_json_push(single, j_piece("Sequence", "A"));
	pair = cJSON_AddArrayToObject(t, "pair");
	tq_json_push(pair, j_piece("SpecialToken", bos));
	tq_json_push(pair, j_piece("Sequence", "A"));
	tq_json_push(pair, j_piece("SpecialToken", bos));
	tq_json_push(pair, j_piece("Sequence", "B"));
	e = cJSON_AddObjectToObject(cJSON_AddObjectToObject(t,
	    "special_tokens"), bos);
	cJSON_AddStringToObject(e, "id", bos);
	tq_json_add(e, "ids", cJSON_CreateIntArray(&id, 1));
	tq_json_add(e, "tokens", cJSON_CreateStringArray(&bos, 1));
	return t;
}

/*
 * Whether llama.cpp strips the whitespace right of added token s: for a
 * model whose general.name has "phi-3" or "phi3" in any case, every
 * control, user-defined and unknown token does but <unk>, <s> and
 * <|endoftext|> (llama_vocab::impl::load; Phi-3's tokenizer.json says
 * rstrip for its chat tokens and </s>, which GGUF cannot).
 */
static int
phi3_rstrip(const tq_gguf_file *f, const char *s)
{
	const char *name;
	size_t len, i;
	char low[256];

	if (!tq_gguf_get_str(f, "general.name", &name, &len))
		return 0;
	if (len >= sizeof(low))
		len = sizeof(low) - 1;
	for (i = 0; i < len; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[len] = '\0';
	if (strstr(low, "phi-3") == NULL && strstr(low, "phi3") == NULL)
		return 0;
	return strcmp(s, "<unk>") != 0 && strcmp(s, "<s>") != 0 &&
	    strcmp(s, "<|endoftext|>") != 0;
}

tq_status
tq_gguf_vocab_to_json(const tq_gguf_file *f, char **json, tq_error *err)
{
	const tq_gguf_kv *toks = tq_gguf_find(f, "tokenizer.ggml.tokens");
	const tq_gguf_kv *types = tq_gguf_find(f, "tokenizer.ggml.token_type");
	const tq_gguf_kv *scores = tq_gguf_find(f, "tokenizer.ggml.scores");
	const tq_gguf_kv *merges = tq_gguf_find(f, "tokenizer.ggml.merges");
	const char *model, *pre = "default";
	size_t mlen, plen = 7, i;
	const struct pre_kind *pn = NULL;
	char **str = NULL, prebuf[64];
	int32_t *type = NULL;
	float *score = NULL;
	cJSON *root = NULL, *m, *jvocab, *added, *arr, *seq;
	unsigned long mark = tq_json_begin();
	uint64_t bos, unk, n;
	int add_bos, spm, space = 1, ok_bos;
	tq_status st = TQ_OK;

	*json = NULL;
	if (!tq_gguf_get_str(f, "tokenizer.ggml.model", &model, &mlen) ||
	    (mlen == 4 && memcmp(model, "none", 4) == 0) ||
	    (mlen == 8 && memcmp(model, "no_vocab", 8) == 0))
		return TQ_OK;
	spm = mlen == 5 && memcmp(model, "llama", 5) == 0;
	if (!spm && !(mlen == 4 && memcmp(model, "gpt2", 4) == 0))
		return tq_fail(err, TQ_EUNSUPPORTED, "%s: tokenizer model \"%.*s\" "
		    "cannot be rebuilt (gpt2 and llama can)", f->path,
		    (int)(mlen < 40 ? mlen : 40), model);
	if (toks == NULL || toks->type != TQ_GGUF_ARRAY ||
	    toks->arr_type != TQ_GGUF_STRING || toks->n == 0)
		return tq_fail(err, TQ_EFORMAT, "%s: tokenizer.ggml.tokens is "
		    "missing or not a string array", f->path);
	n = toks->n;
	if ((types != NULL && (types->type != TQ_GGUF_ARRAY ||
	    types->arr_type == TQ_GGUF_STRING || types->n != n)) ||
	    (scores != NULL && (scores->type != TQ_GGUF_ARRAY ||
	    scores->arr_type == TQ_GGUF_STRING || scores->n != n)) ||
	    (merges != NULL && (merges->type != TQ_GGUF_ARRAY ||
	    merges->arr_type != TQ_GGUF_STRING)))
		return tq_fail(err, TQ_EFORMAT, "%s: the tokenizer arrays "
		    "disagree in type or length", f->path);
	if (!spm && merges == NULL)
		return tq_fail(err, TQ_EFORMAT, "%s: a gpt2 tokenizer without "
		    "tokenizer.ggml.merges", f->path);
	if (!spm) {
		const char *p;

		/* No name is llama.cpp's "default" too. */
		if (tq_gguf_get_str(f, "tokenizer.ggml.pre", &p, &plen)) {
			snprintf(prebuf, sizeof(prebuf), "%.*s",
			    (int)(plen < 63 ? plen : 63), p);
			pre = prebuf;
		}
		if ((st = pre_lookup(f->path, pre, &pn, err)) != TQ_OK)
			return st;
	}
	str = calloc((size_t)n, sizeof(*str));
	type = malloc((size_t)n * sizeof(*type));
	score = malloc((size_t)n * sizeof(*score));
	root = cJSON_CreateObject();
	if (str == NULL || type == NULL || score == NULL || root == NULL) {
		st = tq_fail(err, TQ_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((str[i] = tok_str(toks, i)) == NULL) {
			st = tq_fail(err, TQ_ENOMEM, "out of memory");
			goto out;
		}
		type[i] = types != NULL ? (int32_t)tq_gguf_arr_num(types, i) :
		    TT_NORMAL;
		score[i] = scores != NULL ? (float)tq_gguf_arr_num(scores, i) :
		    0.0f;
	}
	ok_bos = tq_gguf_get_uint(f, "tokenizer.ggml.bos_token_id", &bos) &&
	    bos < n;
	if (!tq_gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos))
		add_bos = spm || (pn->flags & PRE_ADD_BOS);
	tq_gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &space);

	/* The model. */
	m = cJSON_AddObjectToObject(root, "model");
	cJSON_AddStringToObject(m, "type", "BPE");
	cJSON_AddNullToObject(m, "dropout");
	if (spm && tq_gguf_get_uint(f, "tokenizer.ggml.unknown_token_id",
	    &unk) && unk < n)
		cJSON_AddStringToObject(m, "unk_token", str[unk]);
	else
		cJSON_AddNullToObject(m, "unk_token");
	cJSON_AddNullToObject(m, "continuing_subword_prefix");
	cJSON_AddNullToObject(m, "end_of_word_suffix");
	cJSON_AddBoolToObject(m, "fuse_unk", spm);
	cJSON_AddBoolToObject(m, "byte_fallback", spm);
	cJSON_AddBoolToObject(m, "ignore_merges", pn != NULL &&
	    (pn->flags & PRE_IGNORE_MERGES));
	jvocab = cJSON_AddObjectToObject(m, "vocab");
	arr = cJSON_AddArrayToObject(m, "merges");
	added = cJSON_AddArrayToObject(root, "added_tokens");
	for (i = 0; i < n; i++) {
		/* Added tokens are in the vocab too, as HF's files have them. */
		int in_vocab = type[i] != TT_UNUSED;
		int is_added = type[i] == TT_CONTROL || type[i] == TT_USER ||
		    (spm && type[i] == TT_UNKNOWN);

		if (in_vocab)
			cJSON_AddNumberToObject(jvocab, str[i], (double)i);
		if (is_added) {
			cJSON *a = cJSON_CreateObject();

			cJSON_AddNumberToObject(a, "id", (double)i);
			cJSON_AddStringToObject(a, "content", str[i]);
			cJSON_AddBoolToObject(a, "single_word", 0);
			cJSON_AddBoolToObject(a, "lstrip", 0);
			cJSON_AddBoolToObject(a, "rstrip", phi3_rstrip(f,
			    str[i]));
			/*
			 * llama.cpp matches added tokens in the raw text, as
			 * HF does SentencePiece's user-defined pieces
			 * (normalized false: Gemma's "▁▁" is
			 * not two spaces).  Byte-level BPE has no normalizer.
			 */
			cJSON_AddBoolToObject(a, "normalized", !spm &&
			    type[i] == TT_USER);
			cJSON_AddBoolToObject(a, "special", type[i] != TT_USER);
			tq_json_push(added, a);
		}
	}
	if (spm) {
		if ((st = sp_merges(str, type, score, (int64_t)n, arr, err)) !=
		    TQ_OK)
			goto out;
		seq = cJSON_AddObjectToObject(root, "normalizer");
		cJSON_AddStringToObject(seq, "type", "Sequence");
		arr = cJSON_AddArrayToObject(seq, "normalizers");
		if (space) {
			cJSON *p = j_typed("Prepend");

			cJSON_AddStringToObject(p, "prepend", "\xe2\x96\x81");
			tq_json_push(arr, p);
		}
		tq_json_push(arr, j_replace(" ", "\xe2\x96\x81"));
		cJSON_AddNullToObject(root, "pre_tokenizer");
		seq = cJSON_AddObjectToObject(root, "decoder");
		cJSON_AddStringToObject(seq, "type", "Sequence");
		arr = cJSON_AddArrayToObject(seq, "decoders");
		tq_json_push(arr, j_replace("\xe2\x96\x81", " "));
		tq_json_push(arr, j_typed("ByteFallback"));
		tq_json_push(arr, j_typed("Fuse"));
		if (space) {
			cJSON *s = j_typed("Strip");

			cJSON_AddStringToObject(s, "content", " ");
			cJSON_AddNumberToObject(s, "start", 1);
			cJSON_AddNumberToObject(s, "stop", 0);
			tq_json_push(arr, s);
		}
	} else {
		const char *const *re = pn->re;
		cJSON *bl;
		size_t k;

		for (i = 0; i < merges->n; i++) {
			char *s = tok_str(merges, i);

			tq_json_push(arr, cJSON_CreateString(s != NULL ?
			    s : ""));
			free(s);
		}
		cJSON_AddNullToObject(root, "normalizer");
		seq = cJSON_AddObjectToObject(root, "pre_tokenizer");
		cJSON_AddStringToObject(seq, "type", "Sequence");
		arr = cJSON_AddArrayToObject(seq, "pretokenizers");
		for (k = 0; k < PRE_MAX_RE && re[k] != NULL; k++) {
			cJSON *split = j_typed("Split");
			cJSON *pat = cJSON_CreateObject();

			cJSON_AddStringToObject(pat, "Regex", re[k]);
			tq_json_add(split, "pattern", pat);
			cJSON_AddStringToObject(split, "behavior", "Isolated");
			cJSON_AddBoolToObject(split, "invert", 0);
			tq_json_push(arr, split);
		}
		bl = j_typed("ByteLevel");
		cJSON_AddBoolToObject(bl, "add_prefix_space", 0);
		cJSON_AddBoolToObject(bl, "trim_offsets", 1);
		cJSON_AddBoolToObject(bl, "use_regex", 0);
		tq_json_push(arr, bl);
		bl = cJSON_AddObjectToObject(root, "decoder");
		cJSON_AddStringToObject(bl, "type", "ByteLevel");
		cJSON_AddBoolToObject(bl, "add_prefix_space", 1);
		cJSON_AddBoolToObject(bl, "trim_offsets", 1);
		cJSON_AddBoolToObject(bl, "use_regex", 1);
	}
	if (add_bos && ok_bos)
		tq_json_add(root, "post_processor",
		    j_bos_template(str[bos], (int32_t)bos));
	else
		cJSON_AddNullToObject(root, "post_processor");
	*json = cJSON_PrintUnformatted(root);
	/* A tokenizer with pieces missing would tokenize wrongly. */
	if (*json == NULL || (st = tq_json_end(mark, "the tokenizer",
	    err)) != TQ_OK) {
		free(*json);
		*json = NULL;
		st = tq_fail(err, TQ_ENOMEM, "%s: out of memory building the "
		    "tokenizer", f->path);
	}
out:
	for (i = 0; str != NULL && i < n; i++)
		free(str[i]);
	free(str);
	free(type);
	free(score);
	cJSON_Delete(root);
	return st;
}
