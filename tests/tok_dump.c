/*
 * tok_dump.c: command-line access to the tokenizer for the differential
 * test against Hugging Face tokenizers (tests/tokenizer_hf.py).
 *
 *   tok_dump [-s] [-b] [-t] TOKENIZER TEXTFILE
 *	encode the bytes of TEXTFILE; print the ids as a JSON array, or as
 *	little-endian int32 with -b; -s applies the post-processor template;
 *	-t reports the time taken on stderr.
 *   tok_dump -d [-k] [-b] TOKENIZER IDSFILE
 *	decode a JSON array of ids (int32 with -b) and write the text;
 *	-k skips special tokens.
 *   tok_dump -j [-s] TOKENIZER STRINGS.json
 *	encode every string of a JSON array; print an array of id arrays.
 *   tok_dump -J [-k] TOKENIZER IDLISTS.json
 *	decode every id array of a JSON array; print an array of strings.
 *   tok_dump -i TOKENIZER
 *	print {"n_vocab": N, "bos": ID, "tokens": [token of each id or null]}.
 *
 * Exit status: 0 on success, 1 on a tokenizer error (message on stderr),
 * 2 on bad usage.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "fileio.h"
#include "tq.h"

#define MAX_INPUT	((size_t)1 << 30)

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tok_dump [-s] [-b] [-t] tokenizer textfile\n"
	    "       tok_dump -d [-k] [-b] tokenizer idsfile\n"
	    "       tok_dump -j [-s] tokenizer strings.json\n"
	    "       tok_dump -J [-k] tokenizer idlists.json\n"
	    "       tok_dump -i tokenizer\n");
	exit(2);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
fail(const tq_error *err)
{
	fprintf(stderr, "tok_dump: %s\n", err->msg);
	return 1;
}

static void
print_ids(const int32_t *ids, size_t n)
{
	size_t i;

	putchar('[');
	for (i = 0; i < n; i++)
		printf(i > 0 ? ",%d" : "%d", ids[i]);
	puts("]");
}

/* A JSON string of len bytes of UTF-8 (which may hold NULs). */
static void
print_json_string(const char *s, size_t len)
{
	size_t i;
	unsigned char c;

	putchar('"');
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Ids from a JSON array, or from raw int32 when binary. */
static int
read_ids(const char *buf, size_t len, int binary, int32_t **ids, size_t *n)
{
	cJSON *root, *it;
	size_t i = 0;

	if (binary) {
		*n = len / sizeof(int32_t);
		*ids = malloc((*n > 0 ? *n : 1) * sizeof(int32_t));
		if (*ids == NULL)
			return -1;
		memcpy(*ids, buf, *n * sizeof(int32_t));
		return 0;
	}
	root = cJSON_ParseWithLength(buf, len);
	if (!cJSON_IsArray(root)) {
		cJSON_Delete(root);
		return -1;
	}
	*n = (size_t)cJSON_GetArraySize(root);
	*ids = malloc((*n > 0 ? *n : 1) * sizeof(int32_t));
	if (*ids == NULL) {
		cJSON_Delete(root);
		return -1;
	}
	cJSON_ArrayForEach(it, root)
		(*ids)[i++] = (int32_t)it->valuedouble;
	cJSON_Delete(root);
	return 0;
}

/* -j and -J: one JSON array in, one out. */
static int
batch(const tq_tokenizer *tok, const char *buf, size_t len, int decode,
    int flag)
{
	cJSON *in, *it;
	tq_error err;
	int32_t *ids = NULL;
	size_t n, i, k = 0, tlen;
	char *text, *s;
	int rc = 0;

	in = cJSON_ParseWithLength(buf, len);
	if (!cJSON_IsArray(in)) {
		fprintf(stderr, "tok_dump: input is not a JSON array\n");
		cJSON_Delete(in);
		return 1;
	}
	putchar('[');
	cJSON_ArrayForEach(it, in) {
		if (k++ > 0)
			putchar(',');
		ids = NULL;
		if (decode) {
			s = cJSON_PrintUnformatted(it);
			if (s == NULL || read_ids(s, strlen(s), 0, &ids, &n)) {
				fprintf(stderr, "tok_dump: bad id list\n");
				free(s);
				rc = 1;
				break;
			}
			free(s);
			if (tq_tokenizer_decode(tok, ids, n, flag, &text, &tlen,
			    &err) != TQ_OK) {
				rc = fail(&err);
				break;
			}
			print_json_string(text, tlen);
			tq_string_free(text);
		} else {
			if (!cJSON_IsString(it)) {
				fprintf(stderr, "tok_dump: not a string\n");
				rc = 1;
				break;
			}
			if (tq_tokenizer_encode(tok, it->valuestring,
			    strlen(it->valuestring), flag, &ids, &n, &err) !=
			    TQ_OK) {
				rc = fail(&err);
				break;
			}
			putchar('[');
			for (i = 0; i < n; i++)
				printf(i > 0 ? ",%d" : "%d", ids[i]);
			putchar(']');
		}
		tq_ids_free(ids);
		ids = NULL;
	}
	tq_ids_free(ids);
	puts("]");
	cJSON_Delete(in);
	return rc;
}

int
main(int argc, char **argv)
{
	tq_tokenizer *tok;
	tq_error err;
	int32_t *ids;
	char *buf = NULL, *text;
	size_t len = 0, n, tlen;
	int c, add = 0, binary = 0, timing = 0, decode = 0, skip = 0;
	int jbatch = 0, jdecode = 0, info = 0, rc = 0;
	double t0;

	while ((c = getopt(argc, argv, "sbtdkjJi")) != -1) {
		switch (c) {
		case 's': add = 1; break;
		case 'b': binary = 1; break;
		case 't': timing = 1; break;
		case 'd': decode = 1; break;
		case 'k': skip = 1; break;
		case 'j': jbatch = 1; break;
		case 'J': jdecode = 1; break;
		case 'i': info = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != (info ? 1 : 2))
		usage();

	t0 = now();
	if (tq_tokenizer_load(argv[0], &tok, &err) != TQ_OK)
		return fail(&err);
	if (timing)
		fprintf(stderr, "load: %.3f s\n", now() - t0);
	if (info) {
		cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
		const char *s;
		int32_t i;

		cJSON_AddNumberToObject(o, "n_vocab",
		    tq_tokenizer_n_vocab(tok));
		cJSON_AddNumberToObject(o, "bos", tq_tokenizer_bos(tok));
		for (i = 0; i < tq_tokenizer_n_vocab(tok); i++) {
			s = tq_tokenizer_token(tok, i);
			cJSON_AddItemToArray(a, s != NULL ?
			    cJSON_CreateString(s) : cJSON_CreateNull());
			/* The round trip through tq_tokenizer_id. */
			if (s != NULL && tq_tokenizer_id(tok, s) != i)
				fprintf(stderr, "tok_dump: id(token(%d)) = "
				    "%d\n", i, tq_tokenizer_id(tok, s));
		}
		cJSON_AddItemToObject(o, "tokens", a);
		text = cJSON_PrintUnformatted(o);
		puts(text);
		free(text);
		cJSON_Delete(o);
		tq_tokenizer_free(tok);
		return 0;
	}
	if (tq_read_file(argv[1], MAX_INPUT, &buf, &len, &err) != TQ_OK) {
		tq_tokenizer_free(tok);
		return fail(&err);
	}

	if (jbatch || jdecode)
		rc = batch(tok, buf, len, jdecode, jdecode ? skip : add);
	else if (decode) {
		if (read_ids(buf, len, binary, &ids, &n) != 0) {
			fprintf(stderr, "tok_dump: %s: bad ids\n", argv[1]);
			rc = 1;
		} else if (tq_tokenizer_decode(tok, ids, n, skip, &text, &tlen,
		    &err) != TQ_OK) {
			rc = fail(&err);
			free(ids);	/* read_ids's */
		} else {
			fwrite(text, 1, tlen, stdout);
			tq_string_free(text);
			free(ids);
		}
	} else {
		t0 = now();
		if (tq_tokenizer_encode(tok, buf, len, add, &ids, &n, &err) !=
		    TQ_OK)
			rc = fail(&err);
		else {
			if (timing)
				fprintf(stderr, "encode: %zu bytes, %zu ids, "
				    "%.3f s\n", len, n, now() - t0);
			if (binary)
				fwrite(ids, sizeof(*ids), n, stdout);
			else
				print_ids(ids, n);
			tq_ids_free(ids);
		}
	}
	free(buf);
	tq_tokenizer_free(tok);
	return rc;
}
