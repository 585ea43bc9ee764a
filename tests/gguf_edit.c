/*
 * gguf_edit.c: makes hostile GGUF files for tests/bad_input.sh from a good
 * one, without the gguf Python package.
 *
 *   gguf_edit IN OUT [--del KEY] [--u32 KEY VALUE] [--str KEY VALUE]
 *       [--copy NAME NEWNAME] [--fill NAME VALUE]...
 *
 * --del drops a key; --u32 sets a key to a uint32 and --str to a string
 * (added when absent);
 * --copy appends a tensor NEWNAME with NAME's type, shape and bytes;
 * --fill sets every element of an F32 tensor to VALUE.  The
 * other keys are copied byte for byte, tensor offsets stay valid.  Only
 * for well-formed input (our own exports): it checks little.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 4096

typedef struct span {
	size_t off, len;	/* raw bytes of a key-value or tensor info */
	char key[256];
	uint64_t t_off;		/* tensor: data offset */
	uint64_t nel;		/* tensor: elements */
	uint32_t type;		/* tensor: ggml type */
} span;

static const uint8_t *buf;
static size_t size, pos;

static uint64_t
rd(int n)
{
	uint64_t v = 0;
	int i;

	if (pos + (size_t)n > size) {
		fprintf(stderr, "gguf_edit: truncated input\n");
		exit(2);
	}
	for (i = 0; i < n; i++)
		v |= (uint64_t)buf[pos + (size_t)i] << (8 * i);
	pos += (size_t)n;
	return v;
}

static void
rd_str(char *out, size_t cap)
{
	uint64_t len = rd(8);

	if (len >= cap || pos + len > size) {
		fprintf(stderr, "gguf_edit: bad string\n");
		exit(2);
	}
	memcpy(out, buf + pos, (size_t)len);
	out[len] = '\0';
	pos += (size_t)len;
}

/* Skips one value of GGUF type t. */
static void
skip_value(uint32_t t)
{
	static const int sz[13] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
	uint64_t n, i;
	uint32_t et;

	if (t == 8) {		/* string */
		pos += (size_t)rd(8);
	} else if (t == 9) {	/* array */
		et = (uint32_t)rd(4);
		n = rd(8);
		for (i = 0; i < n; i++)
			skip_value(et);
	} else if (t < 13) {
		pos += (size_t)sz[t];
	} else {
		fprintf(stderr, "gguf_edit: unknown type %u\n", t);
		exit(2);
	}
}

static void
w64(FILE *f, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		fputc((int)(v >> (8 * i)) & 0xff, f);
}

static void
w32(FILE *f, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		fputc((int)(v >> (8 * i)) & 0xff, f);
}

static void
w_str(FILE *f, const char *s)
{
	w64(f, strlen(s));
	fputs(s, f);
}

static size_t
align_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

/* The edits asked for. */
typedef struct edit {
	char op;		/* 'd'el, 'u'32, 's'tr, 'c'opy, 'f'ill */
	const char *a, *b;
} edit;

static int
is_edited(const edit *e, size_t n, char op, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (e[i].op == op && strcmp(e[i].a, key) == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	static span kv[MAX_ITEMS], ti[MAX_ITEMS];
	static edit ed[64];
	size_t copies[64][2];
	uint64_t n_t, n_kv, i, align = 32, end, n_out_kv, n_out_t;
	size_t data0, k, ne = 0, nc = 0, c;
	uint8_t *mem;
	FILE *f;
	long fsz;
	int a;

	for (a = 3; a < argc && ne < 64; a++) {
		ed[ne].op = argv[a][2];
		if ((strcmp(argv[a], "--del") != 0 && strcmp(argv[a], "--u32") != 0 &&
		    strcmp(argv[a], "--str") != 0 &&
		    strcmp(argv[a], "--copy") != 0 && strcmp(argv[a], "--fill") !=
		    0) || a + 1 + (ed[ne].op != 'd') >= argc) {
			fprintf(stderr, "usage: gguf_edit IN OUT [--del KEY] "
			    "[--u32 KEY VALUE] [--str KEY VALUE] "
			    "[--copy NAME NEWNAME] [--fill NAME VALUE]...\n");
			return 2;
		}
		ed[ne].a = argv[++a];
		ed[ne].b = ed[ne].op != 'd' ? argv[++a] : NULL;
		ne++;
	}
	if (argc < 3 || (f = fopen(argv[1], "rb")) == NULL ||
	    fseek(f, 0, SEEK_END) != 0 || (fsz = ftell(f)) < 24 ||
	    fseek(f, 0, SEEK_SET) != 0 || (mem = malloc((size_t)fsz)) == NULL ||
	    fread(mem, 1, (size_t)fsz, f) != (size_t)fsz) {
		fprintf(stderr, "gguf_edit: cannot read the input\n");
		return 2;
	}
	fclose(f);
	buf = mem;
	size = (size_t)fsz;
	pos = 8;		/* magic, version */
	n_t = rd(8);
	n_kv = rd(8);
	if (n_t > MAX_ITEMS || n_kv > MAX_ITEMS)
		return 2;
	n_out_kv = n_kv;
	n_out_t = n_t;
	for (i = 0; i < n_kv; i++) {
		kv[i].off = pos;
		rd_str(kv[i].key, sizeof(kv[i].key));
		skip_value((uint32_t)rd(4));
		kv[i].len = pos - kv[i].off;
		if (strcmp(kv[i].key, "general.alignment") == 0)
			align = buf[pos - 4] | (uint64_t)buf[pos - 3] << 8;
		if (is_edited(ed, ne, 'd', kv[i].key) ||
		    is_edited(ed, ne, 'u', kv[i].key) ||
		    is_edited(ed, ne, 's', kv[i].key))
			n_out_kv--;
	}
	for (i = 0; i < n_t; i++) {
		uint32_t nd;

		ti[i].off = pos;
		rd_str(ti[i].key, sizeof(ti[i].key));
		nd = (uint32_t)rd(4);
		ti[i].nel = 1;
		while (nd-- > 0)
			ti[i].nel *= rd(8);
		ti[i].type = (uint32_t)rd(4);
		ti[i].t_off = rd(8);
		ti[i].len = pos - ti[i].off;
	}
	data0 = align_up(pos, (size_t)align);
	for (k = 0; k < ne; k++) {
		float v = strtof(ed[k].b != NULL ? ed[k].b : "0", NULL);
		uint64_t e;

		if (ed[k].op != 'f')
			continue;
		for (c = 0; c < n_t && strcmp(ti[c].key, ed[k].a) != 0; c++)
			;
		if (c == n_t || ti[c].type != 0 ||
		    data0 + ti[c].t_off + 4 * ti[c].nel > size) {
			fprintf(stderr, "gguf_edit: no F32 tensor %s\n", ed[k].a);
			return 2;
		}
		for (e = 0; e < ti[c].nel; e++)
			memcpy(mem + data0 + ti[c].t_off + 4 * e, &v, 4);
	}
	for (k = 0; k < ne; k++)
		n_out_kv += ed[k].op == 'u' || ed[k].op == 's';
	for (k = 0; k < ne; k++)
		n_out_t += ed[k].op == 'c';

	if ((f = fopen(argv[2], "wb")) == NULL) {
		fprintf(stderr, "gguf_edit: cannot write %s\n", argv[2]);
		return 2;
	}
	fwrite(buf, 1, 8, f);
	w64(f, n_out_t);
	w64(f, n_out_kv);
	for (i = 0; i < n_kv; i++)
		if (!is_edited(ed, ne, 'd', kv[i].key) &&
		    !is_edited(ed, ne, 'u', kv[i].key) &&
		    !is_edited(ed, ne, 's', kv[i].key))
			fwrite(buf + kv[i].off, 1, kv[i].len, f);
	for (k = 0; k < ne; k++)
		if (ed[k].op == 'u') {
			w_str(f, ed[k].a);
			w32(f, 4);
			w32(f, (uint32_t)strtoul(ed[k].b, NULL, 10));
		} else if (ed[k].op == 's') {
			w_str(f, ed[k].a);
			w32(f, 8);
			w_str(f, ed[k].b);
		}
	for (i = 0; i < n_t; i++)
		fwrite(buf + ti[i].off, 1, ti[i].len, f);
	/* Copies go after the data, each at the aligned end of the last. */
	end = size - data0;
	for (k = 0; k < ne; k++) {
		uint64_t next = size - data0;
		size_t hdr;

		if (ed[k].op != 'c')
			continue;
		for (c = 0; c < n_t && strcmp(ti[c].key, ed[k].a) != 0; c++)
			;
		if (c == n_t) {
			fprintf(stderr, "gguf_edit: no tensor %s\n", ed[k].a);
			return 2;
		}
		/* Its bytes: up to the next tensor's offset. */
		for (i = 0; i < n_t; i++)
			if (ti[i].t_off > ti[c].t_off && ti[i].t_off < next)
				next = ti[i].t_off;
		end = align_up((size_t)end, (size_t)align);
		copies[nc][0] = data0 + (size_t)ti[c].t_off;
		copies[nc][1] = (size_t)(next - ti[c].t_off);
		nc++;
		hdr = 8 + strlen(ti[c].key);
		w_str(f, ed[k].b);
		fwrite(buf + ti[c].off + hdr, 1, ti[c].len - hdr - 8, f);
		w64(f, end);
		end += copies[nc - 1][1];
	}
	while ((size_t)ftell(f) % align != 0)
		fputc(0, f);
	fwrite(buf + data0, 1, size - data0, f);
	for (c = 0; c < nc; c++) {
		while ((size_t)ftell(f) % align != 0)
			fputc(0, f);
		fwrite(buf + copies[c][0], 1, copies[c][1], f);
	}
	free(mem);
	return fclose(f) != 0 ? 2 : 0;
}
