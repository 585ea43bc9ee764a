/*
 * msg.c: pieces of one-line error messages shared by the readers of user
 * files (plans, and whatever else names a user's string back to them).
 * A message must stay one line and readable whatever bytes the user gave,
 * hence the quoting.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "msg.h"

/* Bytes of the well-formed UTF-8 sequence at p, or 0. */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n, i;

	if (*p < 0x80)
		return 1;
	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

const char *
tq_msg_quote(const char *s, char *buf, size_t len)
{
	size_t n = 0, k;
	const unsigned char *p = (const unsigned char *)s;

	if (len < 16)
		return "\"\"";
	buf[n++] = '"';
	while (*p != '\0') {
		k = utf8_len(p);
		if (n + 8 + k >= len || n > 60) {
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		if (*p == '"' || *p == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)*p++;
		} else if (*p < 0x20 || *p == 0x7f || k == 0) {
			n += (size_t)snprintf(buf + n, len - n, "\\x%02x", *p);
			p++;
		} else {
			memcpy(buf + n, p, k);
			n += k;
			p += k;
		}
	}
	buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}

const char *
tq_msg_json(const cJSON *v, char *buf, size_t len)
{
	char *t;

	if (cJSON_IsString(v))
		return tq_msg_quote(v->valuestring, buf, len);
	if (cJSON_IsObject(v))
		return "an object";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
		return "a number out of range";
	t = cJSON_PrintUnformatted(v);
	if (t == NULL)
		return "?";
	snprintf(buf, len, "%.40s%s", t, strlen(t) > 40 ? "..." : "");
	free(t);
	return buf;
}

const char *
tq_msg_near(const char *key, const char *const *known, size_t n)
{
	size_t i, a, b, la = strlen(key);
	int d[24][24];

	if (la >= 23)
		return NULL;
	for (i = 0; i < n; i++) {
		size_t lb = strlen(known[i]);

		if (lb >= 23 || (la > lb ? la - lb : lb - la) > 2)
			continue;
		for (a = 0; a <= la; a++)
			d[a][0] = (int)a;
		for (b = 0; b <= lb; b++)
			d[0][b] = (int)b;
		for (a = 1; a <= la; a++) {
			for (b = 1; b <= lb; b++) {
				int c = d[a - 1][b - 1] +
				    (tolower((unsigned char)key[a - 1]) !=
				    known[i][b - 1]);

				if (d[a - 1][b] + 1 < c)
					c = d[a - 1][b] + 1;
				if (d[a][b - 1] + 1 < c)
					c = d[a][b - 1] + 1;
				d[a][b] = c;
			}
		}
		if (d[la][lb] <= 2)
			return known[i];
	}
	return NULL;
}
