/*
 * test_tokenizer.c: unit tests of core/tokenizer.c (TAP).
 *
 * The small tokenizers in tests/data/tokenizers/unit are written by hand;
 * enc_cases and dec_cases hold what Hugging Face tokenizers 0.20.3 gives
 * for them (and for patched variants: each patch is a list of
 * from -> to replacements applied to the JSON text first).  Then: the
 * trained fixtures, bad input of every kind (which must fail cleanly
 * with a one-line message), the regex rewrite, invalid UTF-8 input and
 * several threads sharing one tokenizer.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "tap.h"
#include "tokenizer.h"
#include "tokenizer_json.h"
#include "tq.h"

struct enc_case {
	const char *file;
	const char *patch[6];
	const char *text;
	int special;
	size_t n;
	int32_t ids[16];
};

struct dec_case {
	const char *file;
	const char *patch[6];
	size_t n;
	int32_t ids[8];
	int skip;
	const char *text;
};

/* Generated from HF tokenizers 0.20.3 (see the comment at the top). */
static const struct enc_case enc_cases[] = {
	{ "merges_pairs.json", { NULL }, "abc", 0, 2, { 0, 4 } },
	{ "merges_pairs.json", { NULL }, "abab", 0, 2, { 3, 3 } },
	{ "merges_pairs.json", { NULL }, "cab", 0, 1, { 6 } },
	{ "merges_pairs.json", { NULL }, "bca", 0, 2, { 4, 0 } },
	{ "merges_pairs.json", { NULL }, "cabc", 0, 3, { 2, 0, 4 } },
	{ "merges_pairs.json", { NULL }, "a b  c\x09" "abcab", 0, 6,
	  { 0, 1, 2, 0, 4, 3 } },
	{ "merges_legacy.json", { NULL }, "abc", 0, 2, { 0, 4 } },
	{ "merges_legacy.json", { NULL }, "abab", 0, 2, { 3, 3 } },
	{ "merges_legacy.json", { NULL }, "cab", 0, 1, { 6 } },
	{ "merges_legacy.json", { NULL }, "bca", 0, 2, { 4, 0 } },
	{ "merges_legacy.json", { NULL }, "cabc", 0, 3, { 2, 0, 4 } },
	{ "merges_legacy.json", { NULL }, "a b  c\x09" "abcab", 0, 6,
	  { 0, 1, 2, 0, 4, 3 } },
	{ "ignore_merges.json", { NULL }, "ba", 0, 1, { 3 } },
	{ "ignore_merges.json", { "\"ignore_merges\": true",
	  "\"ignore_merges\": false" }, "ba", 0, 2, { 1, 0 } },
	{ "ignore_merges.json", { NULL }, "bab", 0, 1, { 4 } },
	{ "ignore_merges.json", { "\"ignore_merges\": true",
	  "\"ignore_merges\": false" }, "bab", 0, 2, { 1, 2 } },
	{ "ignore_merges.json", { NULL }, "abb", 0, 2, { 2, 1 } },
	{ "ignore_merges.json", { "\"ignore_merges\": true",
	  "\"ignore_merges\": false" }, "abb", 0, 2, { 2, 1 } },
	{ "ignore_merges.json", { NULL }, "aba", 0, 2, { 2, 0 } },
	{ "ignore_merges.json", { "\"ignore_merges\": true",
	  "\"ignore_merges\": false" }, "aba", 0, 2, { 2, 0 } },
	{ "byte_fallback.json", { NULL }, "a\xc3\xa9", 0, 3, { 1, 2, 3 } },
	{ "byte_fallback.json", { "\"fuse_unk\": true",
	  "\"fuse_unk\": false" }, "a\xc3\xa9", 0, 3, { 1, 2, 3 } },
	{ "byte_fallback.json", { NULL }, "a\xe2\x82\xac\xe2\x82\xac" "a", 0,
	  3, { 1, 0, 1 } },
	{ "byte_fallback.json", { "\"fuse_unk\": true",
	  "\"fuse_unk\": false" }, "a\xe2\x82\xac\xe2\x82\xac" "a", 0, 4,
	  { 1, 0, 0, 1 } },
	{ "byte_fallback.json", { NULL }, "\xc3\xa9\xe2\x82\xac\xc3\xa9", 0,
	  5, { 2, 3, 2, 3, 0 } },
	{ "byte_fallback.json", { "\"fuse_unk\": true",
	  "\"fuse_unk\": false" }, "\xc3\xa9\xe2\x82\xac\xc3\xa9", 0, 5,
	  { 2, 3, 2, 3, 0 } },
	{ "byte_fallback.json", { NULL }, "\xe2\x82\xac\xc3\xa9\xe2\x82\xac",
	  0, 3, { 2, 3, 0 } },
	{ "byte_fallback.json", { "\"fuse_unk\": true",
	  "\"fuse_unk\": false" }, "\xe2\x82\xac\xc3\xa9\xe2\x82\xac", 0, 4,
	  { 2, 3, 0, 0 } },
	{ "byte_fallback.json", { NULL }, "zz", 0, 1, { 0 } },
	{ "byte_fallback.json", { "\"fuse_unk\": true",
	  "\"fuse_unk\": false" }, "zz", 0, 2, { 0, 0 } },
	{ "llama_legacy.json", { NULL }, "ab a", 0, 2, { 11, 9 } },
	{ "llama_legacy.json", { NULL }, "ab a", 1, 3, { 1, 11, 9 } },
	{ "llama_legacy.json", { NULL }, " ab", 0, 2, { 6, 11 } },
	{ "llama_legacy.json", { NULL }, " ab", 1, 3, { 1, 6, 11 } },
	{ "llama_legacy.json", { NULL }, "<s>ab", 0, 2, { 1, 11 } },
	{ "llama_legacy.json", { NULL }, "<s>ab", 1, 3, { 1, 1, 11 } },
	{ "llama_legacy.json", { NULL }, "ab</s>b", 0, 3, { 11, 2, 12 } },
	{ "llama_legacy.json", { NULL }, "ab</s>b", 1, 4, { 1, 11, 2, 12 } },
	{ "llama_legacy.json", { NULL }, "a\x0a", 0, 2, { 9, 3 } },
	{ "llama_legacy.json", { NULL }, "a\x0a", 1, 3, { 1, 9, 3 } },
	{ "llama_legacy.json", { NULL }, "\xc3\xa9", 0, 3, { 6, 4, 5 } },
	{ "llama_legacy.json", { NULL }, "\xc3\xa9", 1, 4, { 1, 6, 4, 5 } },
	{ "llama_legacy.json", { NULL }, "", 0, 0, { 0 } },
	{ "llama_legacy.json", { NULL }, "", 1, 1, { 1 } },
	{ "llama_legacy.json", { NULL }, "  ", 0, 3, { 6, 6, 6 } },
	{ "llama_legacy.json", { NULL }, "  ", 1, 4, { 1, 6, 6, 6 } },
	{ "llama_legacy.json", { NULL }, "ab<s>", 0, 2, { 11, 1 } },
	{ "llama_legacy.json", { NULL }, "ab<s>", 1, 3, { 1, 11, 1 } },
	{ "llama_legacy.json", { NULL }, "<unk>x", 0, 3, { 0, 6, 0 } },
	{ "llama_legacy.json", { NULL }, "<unk>x", 1, 4, { 1, 0, 6, 0 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": true" }, "ab ab", 0, 2, { 6, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": true" }, "<s>ab ab", 0, 3, { 0, 5, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": true" }, " ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": true" }, "ab<s> ab", 0, 3, { 6, 0, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": true" }, "\xe2\x96\x81" "ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": true" }, "x<s>", 0, 3, { 1, 10, 0 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": false" }, "ab ab", 0, 1, { 8 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": false" }, "<s>ab ab", 0, 2, { 0, 9 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": false" }, " ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": false" }, "ab<s> ab", 0, 3, { 6, 0, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": false" }, "\xe2\x96\x81" "ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"first\", \"split\": false" }, "x<s>", 0, 3, { 1, 10, 0 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": true" }, "ab ab", 0, 2, { 6, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": true" }, "<s>ab ab", 0, 3, { 0, 6, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": true" }, " ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": true" }, "ab<s> ab", 0, 3, { 6, 0, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": true" }, "\xe2\x96\x81" "ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": true" }, "x<s>", 0, 3, { 1, 10, 0 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": false" }, "ab ab", 0, 1, { 8 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": false" }, "<s>ab ab", 0, 2, { 0, 8 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": false" }, " ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": false" }, "ab<s> ab", 0, 3, { 6, 0, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": false" }, "\xe2\x96\x81" "ab", 0, 1,
	  { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"always\", \"split\": false" }, "x<s>", 0, 3, { 1, 10, 0 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": true" }, "ab ab", 0, 2, { 5, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": true" }, "<s>ab ab", 0, 3, { 0, 5, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": true" }, " ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": true" }, "ab<s> ab", 0, 3, { 5, 0, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": true" }, "\xe2\x96\x81" "ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": true" }, "x<s>", 0, 2, { 10, 0 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": false" }, "ab ab", 0, 1, { 9 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": false" }, "<s>ab ab", 0, 2, { 0, 9 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": false" }, " ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": false" }, "ab<s> ab", 0, 3, { 5, 0, 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": false" }, "\xe2\x96\x81" "ab", 0, 1, { 6 } },
	{ "metaspace.json", { "\"first\", \"split\": true",
	  "\"never\", \"split\": false" }, "x<s>", 0, 2, { 10, 0 } },
	{ "split.json", { "\"Isolated\", \"invert\": false",
	  "\"Removed\", \"invert\": false" }, "the-final--countdown", 0, 3,
	  { 0, 2, 3 } },
	{ "split.json", { "\"Isolated\", \"invert\": false",
	  "\"Removed\", \"invert\": true" }, "the-final--countdown", 0, 3,
	  { 1, 1, 1 } },
	{ "split.json", { "\"Isolated\"", "\"Removed\"",
	  "{\"String\": \"-\"}", "{\"Regex\": \"\\\\w+\"}",
	  "\"invert\": false", "\"invert\": true" }, "the-final--countdown",
	  0, 3, { 0, 2, 3 } },
	{ "split.json", { "\"Isolated\"", "\"Removed\"",
	  "{\"String\": \"-\"}", "{\"Regex\": \"x*\"}" }, "axbxxb", 0, 3,
	  { 10, 11, 11 } },
	{ "split.json", { "\"Isolated\", \"invert\": false",
	  "\"Isolated\", \"invert\": false" }, "the-final--countdown", 0, 6,
	  { 0, 1, 2, 1, 1, 3 } },
	{ "split.json", { "\"Isolated\", \"invert\": false",
	  "\"Isolated\", \"invert\": true" }, "the-final--countdown", 0, 6,
	  { 0, 1, 2, 1, 1, 3 } },
	{ "split.json", { "\"Isolated\"", "\"Isolated\"",
	  "{\"String\": \"-\"}", "{\"Regex\": \"\\\\w+\"}",
	  "\"invert\": false", "\"invert\": true" }, "the-final--countdown",
	  0, 5, { 0, 1, 2, 8, 3 } },
	{ "split.json", { "\"Isolated\"", "\"Isolated\"",
	  "{\"String\": \"-\"}", "{\"Regex\": \"x*\"}" }, "axbxxb", 0, 6,
	  { 10, 9, 11, 9, 9, 11 } },
	{ "split.json", { "\"Isolated\", \"invert\": false",
	  "\"MergedWithPrevious\", \"invert\": false" },
	  "the-final--countdown", 0, 4, { 4, 5, 1, 3 } },
	{ "split.json", { "\"Isolated\", \"invert\": false",
	  "\"MergedWithPrevious\", \"invert\": true" },
	  "the-final--countdown", 0, 4, { 0, 6, 1, 7 } },
	{ "split.json", { "\"Isolated\"", "\"MergedWithPrevious\"",
	  "{\"String\": \"-\"}", "{\"Regex\": \"\\\\w+\"}",
	  "\"invert\": false", "\"invert\": true" }, "the-final--countdown",
	  0, 5, { 4, 10, 1, 1, 3 } },
	{ "split.json", { "\"Isolated\"", "\"MergedWithPrevious\"",
	  "{\"String\": \"-\"}", "{\"Regex\": \"x*\"}" }, "axbxxb", 0, 5,
	  { 12, 11, 9, 9, 11 } },
	{ "split.json", { "\"Isolated\", \"invert\": false",
	  "\"MergedWithNext\", \"invert\": false" }, "the-final--countdown",
	  0, 4, { 0, 6, 1, 7 } },
	{ "split.json", { "\"Isolated\", \"invert\": false",
	  "\"MergedWithNext\", \"invert\": true" }, "the-final--countdown", 0,
	  4, { 4, 5, 1, 3 } },
	{ "split.json", { "\"Isolated\"", "\"MergedWithNext\"",
	  "{\"String\": \"-\"}", "{\"Regex\": \"\\\\w+\"}",
	  "\"invert\": false", "\"invert\": true" }, "the-final--countdown",
	  0, 4, { 0, 6, 1, 1 } },
	{ "split.json", { "\"Isolated\"", "\"MergedWithNext\"",
	  "{\"String\": \"-\"}", "{\"Regex\": \"x*\"}" }, "axbxxb", 0, 5,
	  { 10, 13, 9, 9, 11 } },
	{ "split.json", { "\"Isolated\", \"invert\": false",
	  "\"Contiguous\", \"invert\": false" }, "the-final--countdown", 0, 5,
	  { 0, 1, 2, 8, 3 } },
	{ "split.json", { "\"Isolated\", \"invert\": false",
	  "\"Contiguous\", \"invert\": true" }, "the-final--countdown", 0, 5,
	  { 0, 1, 2, 8, 3 } },
	{ "split.json", { "\"Isolated\"", "\"Contiguous\"",
	  "{\"String\": \"-\"}", "{\"Regex\": \"\\\\w+\"}",
	  "\"invert\": false", "\"invert\": true" }, "the-final--countdown",
	  0, 5, { 0, 1, 2, 8, 3 } },
	{ "split.json", { "\"Isolated\"", "\"Contiguous\"",
	  "{\"String\": \"-\"}", "{\"Regex\": \"x*\"}" }, "axbxxb", 0, 6,
	  { 10, 9, 11, 9, 9, 11 } },
	{ "added.json", { NULL }, "a cat", 0, 2, { 1, 12 } },
	{ "added.json", { NULL }, "a cat", 1, 4, { 10, 1, 12, 11 } },
	{ "added.json", { NULL }, "cats", 0, 4, { 2, 1, 3, 7 } },
	{ "added.json", { NULL }, "cats", 1, 6, { 10, 2, 1, 3, 7, 11 } },
	{ "added.json", { NULL }, "a<mask>", 0, 2, { 1, 10 } },
	{ "added.json", { NULL }, "a<mask>", 1, 4, { 10, 1, 10, 11 } },
	{ "added.json", { NULL }, "a  <mask>", 0, 2, { 1, 10 } },
	{ "added.json", { NULL }, "a  <mask>", 1, 4, { 10, 1, 10, 11 } },
	{ "added.json", { NULL }, "[sep]  a", 0, 2, { 11, 1 } },
	{ "added.json", { NULL }, "[sep]  a", 1, 4, { 10, 11, 1, 11 } },
	{ "added.json", { NULL }, "[sep]a", 0, 2, { 11, 1 } },
	{ "added.json", { NULL }, "[sep]a", 1, 4, { 10, 11, 1, 11 } },
	{ "added.json", { NULL }, "catalog", 0, 1, { 14 } },
	{ "added.json", { NULL }, "catalog", 1, 3, { 10, 14, 11 } },
	{ "added.json", { NULL }, "concat cat", 0, 7,
	  { 2, 5, 0, 2, 1, 3, 12 } },
	{ "added.json", { NULL }, "concat cat", 1, 9,
	  { 10, 2, 5, 0, 2, 1, 3, 12, 11 } },
	{ "added.json", { NULL }, "DOG", 0, 1, { 13 } },
	{ "added.json", { NULL }, "DOG", 1, 3, { 10, 13, 11 } },
	{ "added.json", { NULL }, "dog", 0, 1, { 13 } },
	{ "added.json", { NULL }, "dog", 1, 3, { 10, 13, 11 } },
	{ "added.json", { NULL }, "xDOGx", 0, 3, { 8, 13, 8 } },
	{ "added.json", { NULL }, "xDOGx", 1, 5, { 10, 8, 13, 8, 11 } },
	{ "added.json", { NULL }, "b", 0, 1, { 9 } },
	{ "added.json", { NULL }, "b", 1, 3, { 10, 9, 11 } },
	{ "added.json", { NULL }, "abc", 0, 3, { 1, 9, 2 } },
	{ "added.json", { NULL }, "abc", 1, 5, { 10, 1, 9, 2, 11 } },
	{ "added.json", { NULL }, "cat<mask>", 0, 2, { 12, 10 } },
	{ "added.json", { NULL }, "cat<mask>", 1, 4, { 10, 12, 10, 11 } },
	{ "added.json", { NULL }, " <mask> [sep] ", 0, 2, { 10, 11 } },
	{ "added.json", { NULL }, " <mask> [sep] ", 1, 4,
	  { 10, 10, 11, 11 } },
	{ "bytelevel.json", { NULL }, "hi", 0, 1, { 6 } },
	{ "bytelevel.json", { NULL }, "hi hi", 0, 2, { 6, 6 } },
	{ "bytelevel.json", { NULL }, "\xc3\xa9", 0, 2, { 0, 7 } },
	{ "bytelevel.json", { NULL }, "e\xcc\x81", 0, 2, { 0, 7 } },
	{ "bytelevel.json", { NULL }, "hi<|end|>hi", 0, 3, { 6, 9, 6 } },
	{ "bytelevel.json", { NULL }, "\x0a", 0, 2, { 0, 8 } },
	{ "bytelevel.json", { NULL }, "x", 0, 1, { 0 } },
};

static const struct dec_case dec_cases[] = {
	{ "byte_fallback.json", { NULL }, 2, { 2, 3 }, 0, "\xc3\xa9" },
	{ "byte_fallback.json", { NULL }, 1, { 2 }, 0, "\xef\xbf\xbd" },
	{ "byte_fallback.json", { NULL }, 3, { 2, 2, 3 }, 0,
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "byte_fallback.json", { NULL }, 3, { 1, 4, 1 }, 0,
	  "a\xef\xbf\xbd" "a" },
	{ "byte_fallback.json", { NULL }, 5, { 0, 1, 2, 3, 5 }, 0,
	  "<unk>a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "byte_fallback.json", { NULL }, 2, { 4, 5 }, 0,
	  "\xef\xbf\xbd\xef\xbf\xbd" },
	{ "llama_legacy.json", { NULL }, 2, { 11, 9 }, 0, "ab a" },
	{ "llama_legacy.json", { NULL }, 2, { 11, 9 }, 1, "ab a" },
	{ "llama_legacy.json", { NULL }, 3, { 1, 11, 12 }, 0, "<s> ab b" },
	{ "llama_legacy.json", { NULL }, 3, { 1, 11, 12 }, 1, "ab b" },
	{ "llama_legacy.json", { NULL }, 2, { 6, 7 }, 0, "a" },
	{ "llama_legacy.json", { NULL }, 2, { 6, 7 }, 1, "a" },
	{ "llama_legacy.json", { NULL }, 3, { 4, 5, 6 }, 0, "\xc3\xa9 " },
	{ "llama_legacy.json", { NULL }, 3, { 4, 5, 6 }, 1, "\xc3\xa9 " },
	{ "llama_legacy.json", { NULL }, 1, { 3 }, 0, "\x0a" },
	{ "llama_legacy.json", { NULL }, 1, { 3 }, 1, "\x0a" },
	{ "llama_legacy.json", { NULL }, 2, { 1, 2 }, 0, "<s></s>" },
	{ "llama_legacy.json", { NULL }, 2, { 1, 2 }, 1, "" },
	{ "metaspace.json", { "\"first\"}", "\"first\"}" }, 2, { 6, 4 }, 0,
	  "ab a" },
	{ "metaspace.json", { "\"first\"}", "\"first\"}" }, 2, { 1, 2 }, 0,
	  "a" },
	{ "metaspace.json", { "\"first\"}", "\"first\"}" }, 2, { 0, 6 }, 0,
	  "<s> ab" },
	{ "metaspace.json", { "\"first\"}", "\"first\"}" }, 1, { 8 }, 0,
	  "abab" },
	{ "metaspace.json", { "\"first\"}", "\"always\"}" }, 2, { 6, 4 }, 0,
	  "ab a" },
	{ "metaspace.json", { "\"first\"}", "\"always\"}" }, 2, { 1, 2 }, 0,
	  "a" },
	{ "metaspace.json", { "\"first\"}", "\"always\"}" }, 2, { 0, 6 }, 0,
	  "<s> ab" },
	{ "metaspace.json", { "\"first\"}", "\"always\"}" }, 1, { 8 }, 0,
	  "abab" },
	{ "metaspace.json", { "\"first\"}", "\"never\"}" }, 2, { 6, 4 }, 0,
	  " ab a" },
	{ "metaspace.json", { "\"first\"}", "\"never\"}" }, 2, { 1, 2 }, 0,
	  " a" },
	{ "metaspace.json", { "\"first\"}", "\"never\"}" }, 2, { 0, 6 }, 0,
	  "<s> ab" },
	{ "metaspace.json", { "\"first\"}", "\"never\"}" }, 1, { 8 }, 0,
	  " ab ab" },
	{ "added.json", { NULL }, 3, { 10, 1, 11 }, 0, "<mask> a [sep]" },
	{ "added.json", { NULL }, 3, { 10, 1, 11 }, 1, "a" },
	{ "added.json", { NULL }, 4, { 12, 13, 14, 9 }, 0,
	  "cat DOG catalog b" },
	{ "added.json", { NULL }, 4, { 12, 13, 14, 9 }, 1,
	  "cat DOG catalog" },
	{ "bytelevel.json", { NULL }, 3, { 6, 0, 1 }, 0, " hi h" },
	{ "bytelevel.json", { NULL }, 3, { 6, 0, 1 }, 1, " hi h" },
	{ "bytelevel.json", { NULL }, 1, { 3 }, 0, "\xef\xbf\xbd" },
	{ "bytelevel.json", { NULL }, 1, { 3 }, 1, "\xef\xbf\xbd" },
	{ "bytelevel.json", { NULL }, 1, { 7 }, 0, "\xc3\xa9" },
	{ "bytelevel.json", { NULL }, 1, { 7 }, 1, "\xc3\xa9" },
	{ "bytelevel.json", { NULL }, 2, { 3, 3 }, 0,
	  "\xef\xbf\xbd\xef\xbf\xbd" },
	{ "bytelevel.json", { NULL }, 2, { 3, 3 }, 1,
	  "\xef\xbf\xbd\xef\xbf\xbd" },
	{ "bytelevel.json", { NULL }, 2, { 9, 6 }, 0, "<|end|> hi" },
	{ "bytelevel.json", { NULL }, 2, { 9, 6 }, 1, " hi" },
};

static const char *srcdir;

static char *
path_of(const char *rel)
{
	size_t n = strlen(srcdir) + strlen(rel) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", srcdir, rel);
	return p;
}

/* The text of a unit fixture with a patch applied (NULL on failure). */
static char *
fixture(const char *file, const char *const patch[6])
{
	char rel[256], *path, *buf, *hit, *out;
	size_t len, i, a, b;
	tq_error err;

	snprintf(rel, sizeof(rel), "tests/data/tokenizers/unit/%s", file);
	path = path_of(rel);
	if (path == NULL || tq_read_file(path, 1 << 20, &buf, &len, &err)) {
		tap_diag("%s", path != NULL ? err.msg : "out of memory");
		free(path);
		return NULL;
	}
	free(path);
	for (i = 0; i < 6 && patch[i] != NULL; i += 2) {
		hit = strstr(buf, patch[i]);
		if (hit == NULL) {
			tap_diag("%s: patch \"%s\" does not apply", file,
			    patch[i]);
			free(buf);
			return NULL;
		}
		a = strlen(patch[i]);
		b = strlen(patch[i + 1]);
		out = malloc(len - a + b + 1);
		if (out == NULL) {
			free(buf);
			return NULL;
		}
		memcpy(out, buf, (size_t)(hit - buf));
		memcpy(out + (hit - buf), patch[i + 1], b);
		memcpy(out + (hit - buf) + b, hit + a,
		    len - (size_t)(hit - buf) - a + 1);
		len = len - a + b;
		free(buf);
		buf = out;
	}
	return buf;
}

static tq_tokenizer *
load_fixture(const char *file, const char *const patch[6])
{
	tq_tokenizer *tok = NULL;
	tq_error err;
	char *json = fixture(file, patch);

	if (json == NULL)
		return NULL;
	if (tq_tokenizer_load_buffer(json, strlen(json), file, &tok, &err))
		tap_diag("%s", err.msg);
	free(json);
	return tok;
}

/* s for a one-line test name: control and non-ASCII bytes as \xNN. */
static const char *
esc(const char *s, char *buf, size_t size)
{
	size_t k = 0;

	for (; *s != '\0' && k + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c >= 0x7F || c == '#')
			k += (size_t)snprintf(buf + k, size - k, "\\x%02X", c);
		else
			buf[k++] = (char)c;
	}
	buf[k] = '\0';
	return buf;
}

static void
show_ids(const char *what, const int32_t *ids, size_t n)
{
	char line[400];
	size_t i, k = 0;

	for (i = 0; i < n && k < sizeof(line) - 16; i++)
		k += (size_t)snprintf(line + k, sizeof(line) - k, " %d",
		    ids[i]);
	line[k] = '\0';
	tap_diag("%s:%s", what, line);
}

static void
test_enc_cases(void)
{
	const struct enc_case *c;
	tq_tokenizer *tok;
	tq_error err;
	int32_t *ids;
	size_t i, n;
	char buf[64];
	int ok;

	for (i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		c = &enc_cases[i];
		tok = load_fixture(c->file, c->patch);
		ids = NULL;
		n = 0;
		ok = tok != NULL && tq_tokenizer_encode(tok, c->text,
		    strlen(c->text), c->special, &ids, &n, &err) == TQ_OK &&
		    n == c->n && (n == 0 || memcmp(ids, c->ids, n *
		    sizeof(*ids)) == 0);
		if (!tap_ok(ok, "encode %s%s \"%s\"%s", c->file,
		    c->patch[0] != NULL ? " (patched)" : "",
		    esc(c->text, buf, sizeof(buf)),
		    c->special ? " with specials" : "")) {
			show_ids("want", c->ids, c->n);
			show_ids("got ", ids, n);
		}
		tq_ids_free(ids);
		tq_tokenizer_free(tok);
	}
}

static void
test_dec_cases(void)
{
	const struct dec_case *c;
	tq_tokenizer *tok;
	tq_error err;
	char *text;
	size_t i, len;
	int ok;

	for (i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++) {
		c = &dec_cases[i];
		tok = load_fixture(c->file, c->patch);
		text = NULL;
		ok = tok != NULL && tq_tokenizer_decode(tok, c->ids, c->n,
		    c->skip, &text, &len, &err) == TQ_OK &&
		    len == strlen(c->text) && strcmp(text, c->text) == 0;
		if (!tap_ok(ok, "decode %s%s (%zu ids%s)", c->file,
		    c->patch[0] != NULL ? " (patched)" : "", c->n,
		    c->skip ? ", skip special" : ""))
			tap_diag("want \"%s\", got \"%s\"", c->text,
			    text != NULL ? text : "(error)");
		tq_string_free(text);
		tq_tokenizer_free(tok);
	}
}

/* ---- Bad input ---------------------------------------------------------- */

#define MODEL	"\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1," \
		"\"ab\":2},\"merges\":[\"a b\"]}"

static const struct {
	const char *json;
	tq_status st;
	const char *needle;
} bad[] = {
	{ "", TQ_EFORMAT, "empty" },
	{ "   ", TQ_EFORMAT, "invalid JSON" },
	{ "{\"model\":", TQ_EFORMAT, "invalid JSON" },
	{ "[1, 2]", TQ_EFORMAT, "not a JSON object" },
	{ "{}", TQ_EFORMAT, "model" },
	{ "{\"model\":null}", TQ_EFORMAT, "model" },
	{ "{" MODEL "} x", TQ_EFORMAT, "trailing" },
	{ "{" MODEL ",\"x\":\"\xff\"}", TQ_EFORMAT, "UTF-8" },
	{ "{\"version\":\"2.0\"," MODEL "}", TQ_EUNSUPPORTED, "version" },
	{ "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", TQ_EUNSUPPORTED,
	  "WordPiece" },
	{ "{\"model\":{\"type\":\"Unigram\"}}", TQ_EUNSUPPORTED, "Unigram" },
	{ "{\"model\":{\"type\":7,\"vocab\":{},\"merges\":[]}}", TQ_EFORMAT,
	  "type" },
	{ "{\"model\":[]}", TQ_EFORMAT, "model" },
	{ "{\"model\":{\"vocab\":[\"a\"],\"merges\":[]}}", TQ_EFORMAT,
	  "vocab" },
	{ "{\"model\":{\"vocab\":{},\"merges\":{}}}", TQ_EFORMAT, "merges" },
	{ "{\"model\":{\"vocab\":{}}}", TQ_EFORMAT, "merges" },
	{ "{\"model\":{\"vocab\":{\"a\":\"0\"},\"merges\":[]}}", TQ_EFORMAT,
	  "\"a\"" },
	{ "{\"model\":{\"vocab\":{\"a\":-1},\"merges\":[]}}", TQ_EFORMAT,
	  "id" },
	{ "{\"model\":{\"vocab\":{\"a\":1.5},\"merges\":[]}}", TQ_EFORMAT,
	  "id" },
	{ "{\"model\":{\"vocab\":{\"a\":4000000000},\"merges\":[]}}",
	  TQ_EFORMAT, "id" },
	{ "{\"model\":{\"vocab\":{\"a\":100000000},\"merges\":[]}}",
	  TQ_EUNSUPPORTED, "sparse" },
	{ "{\"model\":{\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a x\"]}}",
	  TQ_EFORMAT, "\"x\" is not in the vocabulary" },
	{ "{\"model\":{\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",
	  TQ_EFORMAT, "\"ab\" is not in the vocabulary" },
	{ "{\"model\":{\"vocab\":{\"a\":0,\"b\":1},\"merges\":"
	  "[[\"x\",\"b\"]]}}", TQ_EFORMAT, "\"x\" is not in the vocabulary" },
	{ "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[\"a a a\"]}}",
	  TQ_EFORMAT, "merges[0]" },
	{ "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[\"aa\"]}}",
	  TQ_EFORMAT, "merges[0]" },
	{ "{\"model\":{\"vocab\":{\"a\":0,\"aa\":1},\"merges\":[\"a a\","
	  "[\"a\",\"a\"]]}}", TQ_EFORMAT, "merges[1]" },
	{ "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}}",
	  TQ_EFORMAT, "merges[0]" },
	{ "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[7]}}", TQ_EFORMAT,
	  "merges[0]" },
	{ "{\"model\":{\"vocab\":{},\"merges\":[],\"fuse_unk\":\"yes\"}}",
	  TQ_EFORMAT, "fuse_unk" },
	{ "{\"model\":{\"vocab\":{},\"merges\":[],\"unk_token\":5}}",
	  TQ_EFORMAT, "unk_token" },
	{ "{\"model\":{\"vocab\":{},\"merges\":[],\"dropout\":0.5}}",
	  TQ_EUNSUPPORTED, "dropout" },
	{ "{\"normalizer\":{\"type\":\"NFKC\"}," MODEL "}", TQ_EUNSUPPORTED,
	  "NFKC" },
	{ "{\"normalizer\":{}," MODEL "}", TQ_EFORMAT, "type" },
	{ "{\"normalizer\":\"NFC\"," MODEL "}", TQ_EFORMAT, "normalizer" },
	{ "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":{}},"
	  MODEL "}", TQ_EFORMAT, "normalizers" },
	{ "{\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":"
	  "\"[a\"},\"content\":\"x\"}," MODEL "}", TQ_EFORMAT, "offset" },
	{ "{\"normalizer\":{\"type\":\"Replace\",\"pattern\":\"a\","
	  "\"content\":\"x\"}," MODEL "}", TQ_EFORMAT, "pattern" },
	{ "{\"normalizer\":{\"type\":\"Prepend\"}," MODEL "}", TQ_EFORMAT,
	  "prepend" },
	{ "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":"
	  "\"(ab\"},\"behavior\":\"Isolated\",\"invert\":false}," MODEL "}",
	  TQ_EFORMAT, "missing closing parenthesis at offset" },
	{ "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":"
	  "\"\\\\p{Nope}\"},\"behavior\":\"Isolated\",\"invert\":false},"
	  MODEL "}", TQ_EFORMAT, "invalid regex" },
	{ "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":"
	  "\"[a[b]]\"},\"behavior\":\"Isolated\",\"invert\":false}," MODEL "}",
	  TQ_EUNSUPPORTED, "nested character class" },
	{ "{\"pre_tokenizer\":{\"type\":\"Split\",\"behavior\":\"Isolated\","
	  "\"invert\":false}," MODEL "}", TQ_EFORMAT, "pattern" },
	{ "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":"
	  "\" \"},\"behavior\":\"Sideways\"}," MODEL "}", TQ_EFORMAT,
	  "Sideways" },
	{ "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":"
	  "\" \"}}," MODEL "}", TQ_EFORMAT, "behavior" },
	{ "{\"pre_tokenizer\":{\"type\":\"UnicodeScripts\"}," MODEL "}",
	  TQ_EUNSUPPORTED, "UnicodeScripts" },
	{ "{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"ab\"},"
	  MODEL "}", TQ_EFORMAT, "single character" },
	{ "{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"_\","
	  "\"add_prefix_space\":false}," MODEL "}", TQ_EFORMAT,
	  "add_prefix_space" },
	{ "{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"_\","
	  "\"prepend_scheme\":\"sometimes\"}," MODEL "}", TQ_EFORMAT,
	  "sometimes" },
	{ "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"use_regex\":1},"
	  MODEL "}", TQ_EFORMAT, "use_regex" },
	{ "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":"
	  "[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}}],"
	  "\"special_tokens\":{}}," MODEL "}", TQ_EFORMAT, "<s>" },
	{ "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":"
	  "[{\"Sequence\":{\"id\":\"B\",\"type_id\":0}}]}," MODEL "}",
	  TQ_EFORMAT, "$B" },
	{ "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":"
	  "7}," MODEL "}", TQ_EFORMAT, "single" },
	{ "{\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":\"x\","
	  "\"cls\":[\"y\",1]}," MODEL "}", TQ_EFORMAT, "sep" },
	{ "{\"post_processor\":{\"type\":\"Foo\"}," MODEL "}",
	  TQ_EUNSUPPORTED, "Foo" },
	{ "{\"decoder\":{\"type\":\"CTC\"}," MODEL "}", TQ_EUNSUPPORTED,
	  "CTC" },
	{ "{\"decoder\":{\"type\":\"Strip\",\"content\":\" \",\"start\":\"x\"},"
	  MODEL "}", TQ_EFORMAT, "start" },
	{ "{\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":"
	  "\"Fuse\"},{\"type\":\"WordPiece\"}]}," MODEL "}", TQ_EUNSUPPORTED,
	  "decoder[1]" },
	{ "{\"added_tokens\":{}," MODEL "}", TQ_EFORMAT, "added_tokens" },
	{ "{\"added_tokens\":[{\"id\":5}]," MODEL "}", TQ_EFORMAT, "content" },
	{ "{\"added_tokens\":[{\"id\":5,\"content\":5}]," MODEL "}",
	  TQ_EFORMAT, "content" },
	{ "{\"added_tokens\":[3]," MODEL "}", TQ_EFORMAT, "added_tokens[0]" },
	{ "{\"added_tokens\":[{\"content\":\"x\",\"special\":\"no\"}],"
	  MODEL "}", TQ_EFORMAT, "special" },
};

static char *
nested(const char *open, const char *close, int depth, const char *mid)
{
	size_t a = strlen(open), b = strlen(close), m = strlen(mid), k = 0;
	char *s = malloc((a + b) * (size_t)depth + m + 1);
	int i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < depth; i++, k += a)
		memcpy(s + k, open, a);
	memcpy(s + k, mid, m);
	k += m;
	for (i = 0; i < depth; i++, k += b)
		memcpy(s + k, close, b);
	s[k] = '\0';
	return s;
}

static int
fails_cleanly(const char *json, size_t len, tq_status want,
    const char *needle, const char *what)
{
	tq_tokenizer *tok = (tq_tokenizer *)&tok;	/* must become NULL */
	tq_error err;
	tq_status st;
	int ok;

	memset(&err, 0, sizeof(err));
	st = tq_tokenizer_load_buffer(json, len, "inline.json", &tok, &err);
	ok = st == want && tok == NULL && err.status == st &&
	    strncmp(err.msg, "inline.json: ", 13) == 0 &&
	    strchr(err.msg, '\n') == NULL &&
	    (needle == NULL || strstr(err.msg, needle) != NULL);
	if (!tap_ok(ok, "bad input: %s", what))
		tap_diag("status %d (want %d): %s", st, want, err.msg);
	if (tok != NULL && st == TQ_OK)
		tq_tokenizer_free(tok);
	return ok;
}

static void
test_bad(void)
{
	char what[160], buf[64], *s, *mid;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(what, sizeof(what), "%s -> \"%s\"",
		    esc(bad[i].json, buf, sizeof(buf)), bad[i].needle);
		fails_cleanly(bad[i].json, strlen(bad[i].json), bad[i].st,
		    bad[i].needle, what);
	}
	/* JSON nested far beyond cJSON's limit. */
	s = nested("[", "]", 100000, "");
	fails_cleanly(s, strlen(s), TQ_EFORMAT, "invalid JSON",
	    "100000 nested arrays");
	free(s);
	s = nested("{\"a\":", "}", 5000, "1");
	fails_cleanly(s, strlen(s), TQ_EFORMAT, "invalid JSON",
	    "5000 nested objects");
	free(s);
	/* Deep but valid JSON: Sequence inside Sequence. */
	mid = nested("{\"type\":\"Sequence\",\"normalizers\":[", "]}", 60,
	    "{\"type\":\"NFC\"}");
	s = malloc(strlen(mid) + 200);
	sprintf(s, "{\"normalizer\":%s,%s}", mid, MODEL);
	fails_cleanly(s, strlen(s), TQ_EFORMAT, "deeply",
	    "60 nested normalizer Sequences");
	free(s);
	free(mid);
	fails_cleanly(NULL, 0, TQ_EFORMAT, "empty", "NULL buffer");
}

/* Truncations and byte flips of a real file must fail or work, never
 * crash (AddressSanitizer watches). */
static void
test_mangled(void)
{
	static const char *const none[6];
	static const char flips[] = "{}[]\":,0 x\\";
	tq_tokenizer *tok;
	tq_error err;
	char *json, *copy;
	size_t len, cut, i, loaded = 0, failed = 0, bad_msg = 0;
	int32_t *ids;
	size_t n;
	unsigned seed = 12345;

	json = fixture("llama_legacy.json", none);
	if (json == NULL) {
		tap_ok(0, "mangled input: fixture");
		return;
	}
	len = strlen(json);
	copy = malloc(len + 1);
	for (i = 0; i < 3000 && copy != NULL; i++) {
		memcpy(copy, json, len + 1);
		cut = len;
		seed = seed * 1103515245u + 12345u;
		if (i % 3 == 0)
			cut = (seed >> 8) % len;
		else
			copy[(seed >> 8) % len] = flips[(seed >> 4) %
			    (sizeof(flips) - 1)];
		tok = NULL;
		if (tq_tokenizer_load_buffer(copy, cut, "m.json", &tok,
		    &err) == TQ_OK) {
			loaded++;
			if (tq_tokenizer_encode(tok, "ab a\xc3\xa9 <s>", 11, 1,
			    &ids, &n, &err) == TQ_OK)
				tq_ids_free(ids);
			tq_tokenizer_free(tok);
		} else {
			failed++;
			if (tok != NULL || strncmp(err.msg, "m.json: ", 8) != 0)
				bad_msg++;
		}
	}
	tap_ok(bad_msg == 0 && loaded + failed == 3000,
	    "3000 mangled files: %zu loaded, %zu refused cleanly", loaded,
	    failed);
	free(copy);
	free(json);
}

static void
test_files(void)
{
	char tmpl[] = "/tmp/tq_tokXXXXXX", *dir;
	tq_tokenizer *tok = NULL;
	tq_error err;
	int fd;

	fd = mkstemp(tmpl);
	if (fd >= 0)
		close(fd);
	tap_ok(fd >= 0 && tq_tokenizer_load(tmpl, &tok, &err) == TQ_EFORMAT &&
	    tok == NULL && strstr(err.msg, "empty") != NULL &&
	    strncmp(err.msg, tmpl, strlen(tmpl)) == 0,
	    "empty file: %s", fd >= 0 ? err.msg : "mkstemp failed");
	if (fd >= 0)
		unlink(tmpl);
	tap_ok(tq_tokenizer_load("/nonexistent/tokenizer.json", &tok, &err) ==
	    TQ_EIO && tok == NULL, "missing file: %s", err.msg);
	dir = path_of("tests/data/tokenizers/unit");
	tap_ok(dir != NULL && tq_tokenizer_load(dir, &tok, &err) == TQ_EIO &&
	    strstr(err.msg, "tokenizer.json") != NULL,
	    "directory without tokenizer.json: %s", err.msg);
	free(dir);
	tap_ok(tq_tokenizer_load(NULL, &tok, &err) == TQ_EINVAL, "NULL path");
}

/* ---- The API ------------------------------------------------------------ */

static void
test_api(void)
{
	static const char *const none[6];
	static const char unk_json[] = "{\"model\":{\"vocab\":{\"a\":0},"
	    "\"merges\":[],\"unk_token\":\"<unk>\"}}";
	tq_tokenizer *tok;
	tq_error err;
	int32_t *ids = NULL, *ids2 = NULL;
	size_t n = 0, n2 = 0;
	char *text = NULL;

	tok = load_fixture("llama_legacy.json", none);
	tap_ok(tok != NULL && tq_tokenizer_n_vocab(tok) == 13 &&
	    tq_tokenizer_bos(tok) == 1 && tq_tokenizer_id(tok, "</s>") == 2 &&
	    tq_tokenizer_id(tok, "\xe2\x96\x81" "ab") == 11 &&
	    tq_tokenizer_id(tok, "nope") == -1 &&
	    tq_tokenizer_id(tok, NULL) == -1 &&
	    strcmp(tq_tokenizer_token(tok, 5), "<0xA9>") == 0 &&
	    tq_tokenizer_token(tok, 13) == NULL &&
	    tq_tokenizer_token(tok, -1) == NULL, "vocabulary accessors");
	/* Ill-formed UTF-8 reads as U+FFFD (here: byte fallback EF BF BD,
	 * all unknown, fused into one <unk>). */
	tap_ok(tok != NULL && tq_tokenizer_encode(tok, "a\xff" "b", 3, 0,
	    &ids, &n, &err) == TQ_OK && tq_tokenizer_encode(tok,
	    "a\xef\xbf\xbd" "b", 5, 0, &ids2, &n2, &err) == TQ_OK &&
	    n == n2 && memcmp(ids, ids2, n * sizeof(*ids)) == 0,
	    "invalid UTF-8 encodes as U+FFFD");
	tq_ids_free(ids);
	tq_ids_free(ids2);
	tap_ok(tok != NULL && tq_tokenizer_decode(tok, (const int32_t[]){
	    -5, 11, 999, 9 }, 4, 0, &text, NULL, &err) == TQ_OK &&
	    strcmp(text, "ab a") == 0, "decode drops unknown ids");
	tq_string_free(text);
	tap_ok(tq_tokenizer_encode(NULL, "a", 1, 0, &ids, &n, &err) ==
	    TQ_EINVAL && ids == NULL && tq_tokenizer_encode(tok, NULL, 3, 0,
	    &ids, &n, &err) == TQ_EINVAL && tq_tokenizer_decode(NULL, NULL, 0,
	    0, &text, NULL, &err) == TQ_EINVAL, "NULL arguments");
	tap_ok(tq_tokenizer_n_vocab(NULL) == 0 &&
	    tq_tokenizer_bos(NULL) == -1 && tq_tokenizer_token(NULL, 0) == NULL,
	    "NULL tokenizer accessors");
	tq_tokenizer_free(tok);
	tq_tokenizer_free(NULL);

	/* unk_token missing from the vocabulary: only an error once needed. */
	tok = NULL;
	tap_ok(tq_tokenizer_load_buffer(unk_json, strlen(unk_json), "u.json",
	    &tok, &err) == TQ_OK && tq_tokenizer_encode(tok, "aa", 2, 0, &ids,
	    &n, &err) == TQ_OK && n == 2 && tq_tokenizer_encode(tok, "az", 2, 0,
	    &ids2, &n2, &err) == TQ_EFORMAT && strstr(err.msg, "unk_token") !=
	    NULL, "unk_token not in the vocabulary: %s", err.msg);
	tq_ids_free(ids);
	tq_tokenizer_free(tok);
}

static void
test_rewrite(void)
{
	static const struct {
		const char *in, *out;
	} rw[] = {
		{ "\\s+(?!\\S)", "[\\t-\\r\\x{85}\\p{Z}]+(?![^\\t-\\r\\x{85}"
		  "\\p{Z}])" },
		{ " ?[^\\s\\p{L}\\p{N}]+", " ?[^\\t-\\r\\x{85}\\p{Z}\\p{L}"
		  "\\p{N}]+" },
		{ "\\p{N}{1,3}+", "(?:\\p{N}{1,3})+" },
		{ "(ab){2}?", "(?:(ab){2})?" },
		{ "[a-z]{,3}", "[a-z]{0,3}" },
		{ "\\p{N}{1,3}", "\\p{N}{1,3}" },
		{ "a?+b++c*+", "a?+b++c*+" },
		{ "(?m:.)(?i)x", "(?s:.)(?i)x" },
		{ "\\h\\v\\u00e9", "[0-9a-fA-F]\\x0B\\x{00e9}" },
		{ "[\\S\\w]", "[\\P{White_Space}\\p{Alphabetic}\\p{M}\\p{Nd}"
		  "\\p{Pc}]" },
		{ "[[:alpha:]\\]]x{", "[[:alpha:]\\]]x{" },
		{ "(?i:'s|'t)", "(?i:'s|'t)" },
	};
	const char *why;
	char *out;
	size_t i, len;

	for (i = 0; i < sizeof(rw) / sizeof(rw[0]); i++) {
		out = NULL;
		if (!tap_ok(tq_tokenizer_regex_rewrite(rw[i].in,
		    strlen(rw[i].in), &out, &len, &why) == TQ_OK &&
		    strcmp(out, rw[i].out) == 0 && len == strlen(out),
		    "rewrite /%s/", rw[i].in))
			tap_diag("got /%s/", out != NULL ? out : "(error)");
		free(out);
	}
	tap_ok(tq_tokenizer_regex_rewrite("[a&&b]", 6, &out, &len, &why) ==
	    TQ_EUNSUPPORTED && strstr(why, "&&") != NULL,
	    "rewrite refuses class intersection");
}

/* ---- The trained fixtures ----------------------------------------------- */

struct job {
	const tq_tokenizer *tok;
	const char *text;
	size_t len;
	int32_t *ids;
	size_t n;
	tq_status st;
};

static void *
encode_job(void *arg)
{
	struct job *j = arg;
	tq_error err;

	j->st = tq_tokenizer_encode(j->tok, j->text, j->len, 1, &j->ids, &j->n,
	    &err);
	return NULL;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
test_trained(void)
{
	static const struct {
		const char *dir;
		int32_t n_vocab, bos;
		int lossless;	/* decode(encode(x)) == x */
	} fx[] = {
		{ "llama3", 2003, 0, 1 },
		{ "gpt2", 1000, -1, 1 },
		{ "qwen2", 1000, -1, 0 },
		{ "llama2", 1000, 1, 0 },
		{ "llama2_meta", 1000, 1, 0 },
		{ "added", 1005, 1, 0 },
		{ "bert_bpe", 1031, 1, 0 },
		{ "gemma", 2001, 2, 0 },
		{ "phi3", 1011, 1, 0 },
		{ "smollm3", 2012, -1, 1 },
	};
	const char *data = getenv("TQ_SHARED_DATA");
	char rel[128], *path, *text = NULL, *back;
	struct job jobs[4];
	pthread_t th[4];
	tq_tokenizer *tok;
	tq_error err;
	size_t i, k, len = 0, blen;
	int32_t *ids;
	size_t n;
	double t0;
	int same;

	if (data != NULL) {
		path = malloc(strlen(data) + 32);
		sprintf(path, "%s/wikitext2-valid.txt", data);
		if (tq_read_file(path, 1 << 26, &text, &len, &err) != TQ_OK)
			text = NULL;
		free(path);
	}
	for (i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
		snprintf(rel, sizeof(rel), "tests/data/tokenizers/%s",
		    fx[i].dir);
		path = path_of(rel);
		tok = NULL;
		if (!tap_ok(tq_tokenizer_load(path, &tok, &err) == TQ_OK &&
		    tq_tokenizer_n_vocab(tok) == fx[i].n_vocab &&
		    tq_tokenizer_bos(tok) == fx[i].bos, "load %s", fx[i].dir))
			tap_diag("%s", err.msg);
		free(path);
		if (tok == NULL || text == NULL) {
			tap_skip("no TQ_SHARED_DATA", "%s: corpus", fx[i].dir);
			tq_tokenizer_free(tok);
			continue;
		}
		t0 = now();
		ids = NULL;
		if (tq_tokenizer_encode(tok, text, len, 0, &ids, &n, &err) !=
		    TQ_OK) {
			tap_ok(0, "%s: encode wikitext2-valid: %s", fx[i].dir,
			    err.msg);
			tq_tokenizer_free(tok);
			continue;
		}
		tap_diag("%s: %zu bytes -> %zu ids in %.3f s", fx[i].dir, len,
		    n, now() - t0);
		back = NULL;
		if (fx[i].lossless)
			tap_ok(tq_tokenizer_decode(tok, ids, n, 0, &back, &blen,
			    &err) == TQ_OK && blen == len &&
			    memcmp(back, text, len) == 0,
			    "%s: decode(encode(corpus)) is the corpus",
			    fx[i].dir);
		else
			tap_ok(tq_tokenizer_decode(tok, ids, n, 0, &back, &blen,
			    &err) == TQ_OK && blen > len / 2,
			    "%s: decode of the corpus", fx[i].dir);
		tq_string_free(back);
		tq_ids_free(ids);

		/* Four threads on one tokenizer agree with each other. */
		for (k = 0; k < 4; k++) {
			jobs[k].tok = tok;
			jobs[k].text = text;
			jobs[k].len = len / 4;
			jobs[k].ids = NULL;
			pthread_create(&th[k], NULL, encode_job, &jobs[k]);
		}
		for (k = 0; k < 4; k++)
			pthread_join(th[k], NULL);
		for (same = 1, k = 0; k < 4; k++)
			same &= jobs[k].st == TQ_OK && jobs[k].n == jobs[0].n &&
			    memcmp(jobs[k].ids, jobs[0].ids, jobs[0].n *
			    sizeof(int32_t)) == 0;
		tap_ok(same, "%s: 4 threads, one tokenizer", fx[i].dir);
		for (k = 0; k < 4; k++)
			tq_ids_free(jobs[k].ids);
		tq_tokenizer_free(tok);
	}
	free(text);
}

/* ids of text (no template) equal want[n]. */
static int
ids_are(const tq_tokenizer *tok, const char *text, int special,
    const int32_t *want, size_t n)
{
	int32_t *ids = NULL;
	size_t got = 0;
	tq_error err;
	int ok;

	ok = tq_tokenizer_encode(tok, text, strlen(text), special, &ids, &got,
	    &err) == TQ_OK && got == n && memcmp(ids, want, n *
	    sizeof(*ids)) == 0;
	tq_ids_free(ids);
	return ok;
}

/* decode(encode(text)) with skip_special is want. */
static int
round_trip(const tq_tokenizer *tok, const char *text, int skip,
    const char *want)
{
	int32_t *ids = NULL;
	size_t n = 0, len = 0;
	char *back = NULL;
	tq_error err;
	int ok;

	ok = tq_tokenizer_encode(tok, text, strlen(text), 1, &ids, &n,
	    &err) == TQ_OK && tq_tokenizer_decode(tok, ids, n, skip, &back,
	    &len, &err) == TQ_OK && strcmp(back, want) == 0;
	tq_string_free(back);
	tq_ids_free(ids);
	return ok;
}

static tq_tokenizer *
load_trained(const char *dir)
{
	char rel[128], *path;
	tq_tokenizer *tok = NULL;
	tq_error err;

	snprintf(rel, sizeof(rel), "tests/data/tokenizers/%s", dir);
	path = path_of(rel);
	if (tq_tokenizer_load(path, &tok, &err) != TQ_OK)
		tap_diag("%s", err.msg);
	free(path);
	return tok;
}

/* Today's families, by the ids HF gives (tools/make_tokenizers.py). */
static void
test_families(void)
{
	static const int32_t g_turn[] = { 2, 8, 1009, 10 }, g_sp[] = { 15 };
	static const int32_t p_chat[] = { 1010, 458, 333, 1007 };
	static const int32_t s_think[] = { 2008, 2002, 87, 2003 };
	tq_tokenizer *g = load_trained("gemma");
	tq_tokenizer *p = load_trained("phi3");
	tq_tokenizer *s = load_trained("smollm3");

	tap_ok(g != NULL && ids_are(g, "<start_of_turn>user\n", 1, g_turn, 4),
	    "gemma: <bos>, <start_of_turn> and the user-defined \"\\n\"");
	tap_ok(g != NULL && ids_are(g, "\xe2\x96\x81\xe2\x96\x81", 0, g_sp,
	    1) && ids_are(g, "  ", 0, g_sp, 1),
	    "gemma: \"\xe2\x96\x81\xe2\x96\x81\" as added token and two "
	    "spaces merged into it");
	tap_ok(g != NULL && round_trip(g, " x", 1, " x") &&
	    round_trip(g, " x", 0, "<bos> x"),
	    "gemma: no space prefix, none stripped on decoding");
	tap_ok(p != NULL && ids_are(p, "<|user|>\n  hi<|end|>\n", 0, p_chat,
	    4) && ids_are(p, "<|user|>hi<|end|>", 0, p_chat, 4),
	    "phi3: <|user|> and <|end|> strip whitespace to their right");
	tap_ok(s != NULL && ids_are(s, "<|im_start|><think>x</think>", 1,
	    s_think, 4) && round_trip(s, "<|im_start|><think>x</think>", 1,
	    "<think>x</think>"),
	    "smollm3: no BOS; <think> is not skipped as special");
	tq_tokenizer_free(g);
	tq_tokenizer_free(p);
	tq_tokenizer_free(s);
}

int
main(void)
{
	srcdir = getenv("top_srcdir");
	if (srcdir == NULL)
		srcdir = ".";
	test_enc_cases();
	test_dec_cases();
	test_bad();
	test_mangled();
	test_files();
	test_api();
	test_rewrite();
	test_trained();
	test_families();
	return tap_done();
}
