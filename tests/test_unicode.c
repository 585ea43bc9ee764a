/*
 * test_unicode.c: UTF-8 decoding and repair, NFC and lowercase (TAP).
 *
 * Expected values come from CPython: bytes.decode("utf-8", "replace"),
 * unicodedata.normalize("NFC", ...) and str.lower().
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "unicode.h"

/* Hex escapes are split ("\x80" "b") where a hex digit follows. */
static const struct {
	const char *in;
	size_t len;
	const char *out;
} lossy[] = {
	{ "plain ascii", 11, "plain ascii" },
	{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
	  "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
	{ "\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd" },		/* overlong */
	{ "\xe0\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	/* a surrogate */
	{ "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xf4\x90\x80\x80", 4,
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },	/* > U+10FFFF */
	{ "\xf0\x9f\x98", 3, "\xef\xbf\xbd" },			/* truncated */
	{ "\xe2\x82", 2, "\xef\xbf\xbd" },
	{ "a\x80" "b", 3, "a\xef\xbf\xbd" "b" },	/* lone continuation */
	{ "\xf5", 1, "\xef\xbf\xbd" },
	{ "\xff\xfe", 2, "\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xe2(\xa1", 3, "\xef\xbf\xbd(\xef\xbf\xbd" },
	{ "\xef\xbf\xbd", 3, "\xef\xbf\xbd" },		/* a real U+FFFD */
	{ "nul\0byte", 8, "nul\0byte" },
};

static const struct {
	const char *in, *out, *what;
} nfc[] = {
	{ "e\xcc\x81", "\xc3\xa9", "e + acute composes" },
	{ "a\xcc\x81\xcc\x96", "\xc3\xa1\xcc\x96",
	  "marks reordered, then composed" },
	{ "a\xcc\x96\xcc\x81", "\xc3\xa1\xcc\x96", "already ordered" },
	{ "x\xcc\x80\xcc\x96\xcc\x81\xcc\x97",
	  "x\xcc\x96\xcc\x97\xcc\x80\xcc\x81", "stable sort by class" },
	{ "q\xcc\x87\xcc\xa3", "q\xcc\xa3\xcc\x87",
	  "no composite: order only" },
	{ "\xe1\xb8\x8b\xcc\xa3", "\xe1\xb8\x8d\xcc\x87",
	  "decompose, reorder, compose the other way" },
	{ "A\xcc\x8a\xcc\xa3", "\xe1\xba\xa0\xcc\x8a", "A ring dot-below" },
	{ "\xe1\x84\x80\xe1\x85\xa1", "\xea\xb0\x80", "Hangul L V" },
	{ "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81",
	  "Hangul L V T" },
	{ "\xea\xb0\x80\xe1\x86\xa8", "\xea\xb0\x81", "Hangul LV T" },
	{ "\xed\x95\x9c\xe1\x85\xa1", "\xed\x95\x9c\xe1\x85\xa1",
	  "LVT V stays" },
	{ "\xea\xb0\x80\xcc\x81\xe1\x86\xa8",
	  "\xea\xb0\x80\xcc\x81\xe1\x86\xa8", "T blocked by a mark" },
	{ "\xe2\x84\xab", "\xc3\x85", "singleton Angstrom sign" },
	{ "\xe2\x84\xa6", "\xce\xa9", "singleton Ohm sign" },
	{ "\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc", "exclusion U+0958" },
	{ "\xe0\xa4\x95\xe0\xa4\xbc", "\xe0\xa4\x95\xe0\xa4\xbc",
	  "excluded pair does not compose" },
	{ "\xcd\x84", "\xcc\x88\xcc\x81", "non-starter decomposition U+0344" },
	{ "\xe0\xbd\xb3", "\xe0\xbd\xb1\xe0\xbd\xb2",
	  "U+0F73 stays decomposed" },
	{ "\xcc\x81" "a", "\xcc\x81" "a", "leading combining mark" },
	{ "\xc3\x85\xcc\x81", "\xc7\xba", "composed + mark recomposes" },
	{ "e\xcc\x81\xcc\x81", "\xc3\xa9\xcc\x81", "second acute stays" },
	{ "\xe0\xad\x87\xe0\xac\xbe", "\xe0\xad\x8b", "two starters compose" },
	{ "a\xcc\x88\xcc\x84", "\xc7\x9f", "a diaeresis macron" },
	{ "\xc7\x95", "\xc7\x95", "U+01D5 stays" },
	{ "\xe1\xbe\x82", "\xe1\xbe\x82", "U+1F82 (4 code points) stays" },
	{ "", "", "empty" },
	{ "ASCII only, untouched", "ASCII only, untouched", "quick path" },
};

static void
test_lossy(void)
{
	struct tq_ubuf b = { NULL, 0, 0 };
	size_t i, olen;

	for (i = 0; i < sizeof(lossy) / sizeof(lossy[0]); i++) {
		olen = strlen(lossy[i].out);
		if (i == sizeof(lossy) / sizeof(lossy[0]) - 1)
			olen = 8;	/* the NUL case */
		b.len = 0;
		tap_ok(tq_utf8_sanitize(&b, lossy[i].in, lossy[i].len) == 0 &&
		    b.len == olen && memcmp(b.p, lossy[i].out, olen) == 0,
		    "lossy UTF-8 case %zu", i);
		tap_ok((tq_utf8_check(lossy[i].in, lossy[i].len) ==
		    lossy[i].len) == (i <= 1 || i >= 12),
		    "tq_utf8_check case %zu", i);
	}
	tq_ubuf_free(&b);
}

static void
test_codec(void)
{
	static const uint32_t cps[] = { 0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF,
	    0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF };
	char buf[4];
	size_t i, n, m, bad = 0;
	uint32_t cp;

	for (i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		n = tq_utf8_encode(cps[i], buf);
		m = tq_utf8_decode(buf, n, &cp);
		if (m != n || cp != cps[i] || tq_utf8_len((unsigned char)buf[0])
		    != n || tq_utf8_next(buf, &cp) != n || cp != cps[i])
			bad++;
	}
	tap_ok(bad == 0, "encode/decode round trip at the boundaries");
	/* Every code point, against the decoder. */
	for (bad = 0, cp = 0; cp < 0x110000; cp++) {
		uint32_t back;

		if (cp >= 0xD800 && cp < 0xE000)
			continue;
		n = tq_utf8_encode(cp, buf);
		if (tq_utf8_decode(buf, n, &back) != n || back != cp ||
		    tq_utf8_check(buf, n) != n)
			bad++;
	}
	tap_ok(bad == 0, "all scalar values round trip");
	tap_ok(tq_utf8_decode("\xed\xa0\x80", 3, &cp) == 1 &&
	    cp == TQ_UNICODE_REPLACEMENT, "surrogate: maximal subpart is 1");
	tap_ok(tq_utf8_decode("\xf0\x9f\x98", 3, &cp) == 3 &&
	    cp == TQ_UNICODE_REPLACEMENT, "truncated: maximal subpart is 3");
	tap_ok(tq_utf8_decode("\xf0\x9f" "A", 3, &cp) == 2,
	    "broken after 2 bytes: subpart 2");
}

static void
test_nfc(void)
{
	struct tq_ubuf b = { NULL, 0, 0 };
	size_t i, olen;

	for (i = 0; i < sizeof(nfc) / sizeof(nfc[0]); i++) {
		olen = strlen(nfc[i].out);
		b.len = 0;
		if (!tap_ok(tq_unicode_nfc(&b, nfc[i].in, strlen(nfc[i].in)) ==
		    0 && b.len == olen && memcmp(b.p, nfc[i].out, olen) == 0,
		    "NFC: %s", nfc[i].what))
			tap_diag("got %zu bytes", b.len);
	}
	tap_ok(tq_unicode_nfc_quick("abc \xc3\xa9", 6) == 1 &&
	    tq_unicode_nfc_quick("e\xcc\x81", 3) == 0,
	    "quick check: below U+0300 only");
	tq_ubuf_free(&b);
}

static void
test_props(void)
{
	struct tq_ubuf b = { NULL, 0, 0 };
	const char *want = "a\xc3\xa0\xcf\x83i\xcc\x87k\xc3\xbf\xc3\x9f";

	tap_ok(tq_unicode_ccc('A') == 0 && tq_unicode_ccc(0x301) == 230 &&
	    tq_unicode_ccc(0x316) == 220 && tq_unicode_ccc(0x334) == 1 &&
	    tq_unicode_ccc(0x5B0) == 10 && tq_unicode_ccc(0x3099) == 8,
	    "combining classes");
	tap_ok(tq_unicode_is_space(' ') && tq_unicode_is_space('\t') &&
	    tq_unicode_is_space(0x85) && tq_unicode_is_space(0xA0) &&
	    tq_unicode_is_space(0x3000) && tq_unicode_is_space(0x2028) &&
	    !tq_unicode_is_space(0x180E) && !tq_unicode_is_space(0x200B) &&
	    !tq_unicode_is_space('x'), "White_Space");
	/* "AÀΣİK" + Kelvin sign, Ÿ, ẞ */
	tap_ok(tq_unicode_lower(&b, "A\xc3\x80\xce\xa3\xc4\xb0\xe2\x84\xaa"
	    "\xc5\xb8\xe1\xba\x9e", 15) == 0 && b.len == strlen(want) &&
	    memcmp(b.p, want, b.len) == 0, "lowercase, with U+0130 and K sign");
	tap_ok(tq_unicode_tolower(0x2C2F) == 0x2C5F &&
	    tq_unicode_tolower(0x10400) == 0x10428 &&
	    tq_unicode_tolower(0x101) == 0x101 && tq_unicode_tolower(0x100) ==
	    0x101, "lowercase table strides");
	tap_diag("Unicode tables: %s", tq_unicode_data_version);
	tq_ubuf_free(&b);
}

int
main(void)
{
	test_lossy();
	test_codec();
	test_nfc();
	test_props();
	return tap_done();
}
