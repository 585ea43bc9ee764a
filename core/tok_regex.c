/*
 * tok_regex.c: tokenizer.json's regexes are Oniguruma's; this rewrites
 * one into the PCRE2 pattern that matches the same (hf-models.md
 * section 1.8).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "tok_internal.h"
#include "tokenizer.h"

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
