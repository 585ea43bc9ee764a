/*
 * unicode.h: UTF-8 helpers, NFC and simple case mapping (internal).
 *
 * All functions take byte strings with explicit lengths; none of them
 * allocates except the tq_ubuf helpers.  "Valid UTF-8" means what Rust
 * and Python accept: shortest form, no surrogates, at most U+10FFFF.
 */
#ifndef TQ_CORE_UNICODE_H
#define TQ_CORE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#define TQ_UNICODE_REPLACEMENT	0xFFFDu

/* ---- Tables (unicode_data.c, made by tools/gen_unicode.py) ---------- */

struct tq_ucd_ccc {
	uint32_t lo, hi;
	uint8_t ccc;
};

struct tq_ucd_decomp {
	uint32_t cp;
	uint16_t off;		/* into tq_decomp_pool */
	uint8_t len;
};

struct tq_ucd_comp {
	uint32_t first, second, composite;
};

struct tq_ucd_lower {
	uint32_t lo, hi;
	int32_t delta;
	uint8_t stride;
};

extern const char tq_unicode_data_version[];
extern const struct tq_ucd_ccc tq_ccc_table[];
extern const size_t tq_ccc_table_len;
extern const struct tq_ucd_decomp tq_decomp_table[];
extern const size_t tq_decomp_table_len;
extern const uint32_t tq_decomp_pool[];
extern const size_t tq_decomp_pool_len;
extern const struct tq_ucd_comp tq_comp_table[];
extern const size_t tq_comp_table_len;
extern const struct tq_ucd_lower tq_lower_table[];
extern const size_t tq_lower_table_len;

/* ---- A growable byte buffer ----------------------------------------- */

struct tq_ubuf {
	char *p;
	size_t len, cap;
};

/* Makes room for n more bytes; 0 on success, -1 when out of memory. */
int tq_ubuf_reserve(struct tq_ubuf *b, size_t n);
int tq_ubuf_add(struct tq_ubuf *b, const void *p, size_t n);
/* Appends the UTF-8 encoding of cp. */
int tq_ubuf_add_cp(struct tq_ubuf *b, uint32_t cp);
void tq_ubuf_free(struct tq_ubuf *b);

/* ---- UTF-8 ------------------------------------------------------------ */

/*
 * Decodes the character at s[0..len), len > 0.  Returns the bytes used
 * and sets *cp.  On an ill-formed sequence returns the length of its
 * maximal subpart (at least 1) and sets *cp to U+FFFD, so replacing each
 * step's bytes by *cp gives what Python's errors="replace" and Rust's
 * from_utf8_lossy give.
 */
size_t tq_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Like tq_utf8_decode for valid input (no checks); returns 1..4. */
size_t tq_utf8_next(const char *s, uint32_t *cp);
/* Length of the character that starts with byte c (1..4; 1 if c is bad). */
size_t tq_utf8_len(unsigned char c);
/* Writes the UTF-8 form of cp (< 0x110000) to out; returns 1..4. */
size_t tq_utf8_encode(uint32_t cp, char out[4]);
/* Offset of the first ill-formed byte, or len when all is valid. */
size_t tq_utf8_check(const char *s, size_t len);
/*
 * Appends s to b with every ill-formed sequence replaced by U+FFFD.
 * Returns 0, or -1 when out of memory.
 */
int tq_utf8_sanitize(struct tq_ubuf *b, const char *s, size_t len);

/* ---- Properties ---------------------------------------------------------- */

/* Canonical combining class. */
int tq_unicode_ccc(uint32_t cp);
/* The White_Space property (what Rust's char::is_whitespace tests). */
int tq_unicode_is_space(uint32_t cp);
/* Simple lowercase mapping (U+0130 maps to 'i'; see tq_unicode_lower). */
uint32_t tq_unicode_tolower(uint32_t cp);

/* ---- Normalization ------------------------------------------------------- */

/*
 * Appends the NFC form of valid UTF-8 s[0..len) to b.  Returns 0, or -1
 * when out of memory.
 */
int tq_unicode_nfc(struct tq_ubuf *b, const char *s, size_t len);
/* 1 when s[0..len) is certainly in NFC by a quick scan (all below U+0300). */
int tq_unicode_nfc_quick(const char *s, size_t len);
/* Appends the lowercase form of valid UTF-8 s (char::to_lowercase). */
int tq_unicode_lower(struct tq_ubuf *b, const char *s, size_t len);

#endif /* TQ_CORE_UNICODE_H */
