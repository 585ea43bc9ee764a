/*
 * test_safetensors.c: the safetensors reader accepts what the reference
 * accepts and rejects every kind of lying header with a clear message;
 * the files under it (core/fileio.c) are opened only when they are there,
 * regular and within the limit.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "safetensors.h"
#include "tap.h"

/* Builds a file image: u64 length, header, then data_len bytes of data. */
static uint8_t *
image(const char *header, size_t data_len, size_t *size)
{
	size_t h = strlen(header), i;
	uint8_t *buf = calloc(1, 8 + h + data_len + 1);

	for (i = 0; i < 8; i++)
		buf[i] = (uint8_t)((uint64_t)h >> (8 * i));
	memcpy(buf + 8, header, h);
	*size = 8 + h + data_len;
	return buf;
}

/* Parses an image; expects status want and, on error, text in the message. */
static void
expect(const char *what, const char *header, size_t data_len, tq_status want,
    const char *text)
{
	tq_tensor *ts = NULL;
	tq_error err = { TQ_OK, "" };
	size_t size, n = 0;
	uint8_t *buf = image(header, data_len, &size);
	tq_status st = tq_st_parse("x.safetensors", buf, size, &ts, &n, &err);

	tap_ok(st == want && (text == NULL || strstr(err.msg, text) != NULL),
	    "%s: %s", what, st == TQ_OK ? "accepted" : err.msg);
	tq_st_free_tensors(ts, n);
	free(buf);
}

/* Written files read back, byte for byte, and nothing is left behind. */
static void
writer_round_trip(void)
{
	char dir[] = "/tmp/tq-st-XXXXXX", path[64], cmd[96];
	float f[6] = { 1, -2, 3.5f, 0, 1e-3f, 7 };
	uint8_t u[3] = { 1, 2, 255 };
	int64_t big[2] = { (int64_t)1 << 40, -5 };
	int64_t s6[2] = { 2, 3 }, s3[1] = { 3 }, s2[1] = { 2 }, s0[1] = { 0 };
	const tq_tensor *t;
	tq_st_writer *w;
	tq_st_file *sf = NULL;
	tq_error err;

	if (mkdtemp(dir) == NULL) {
		tap_ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/out.safetensors", dir);
	tq_st_writer_new(&w, &err);
	tq_st_writer_add(w, "u", TQ_DTYPE_U8, 1, s3, u, &err);
	tq_st_writer_add(w, "f", TQ_DTYPE_F32, 2, s6, f, &err);
	tq_st_writer_add(w, "i", TQ_DTYPE_I64, 1, s2, big, &err);
	tq_st_writer_add(w, "empty", TQ_DTYPE_F32, 1, s0, f, &err);
	tq_st_writer_meta(w, "format", "turboquant", &err);
	tap_ok(tq_st_writer_write(w, path, &err) == TQ_OK, "writer writes");
	tq_st_writer_free(w);
	tap_ok(tq_st_open(path, &sf, &err) == TQ_OK && sf->n_tensors == 4,
	    "written file reads back: %s", sf ? "4 tensors" : err.msg);
	if (sf != NULL) {
		t = tq_st_find(sf, "f");
		tap_ok(t != NULL && t->dtype == TQ_DTYPE_F32 && t->ndim == 2 &&
		    t->shape[1] == 3 && memcmp(t->data, f, sizeof(f)) == 0 &&
		    ((uintptr_t)t->data & 7) == 0, "F32 tensor equal and aligned");
		t = tq_st_find(sf, "i");
		tap_ok(t != NULL && t->dtype == TQ_DTYPE_I64 &&
		    memcmp(t->data, big, sizeof(big)) == 0, "I64 tensor equal");
		t = tq_st_find(sf, "u");
		tap_ok(t != NULL && t->dtype == TQ_DTYPE_U8 &&
		    memcmp(t->data, u, sizeof(u)) == 0, "U8 tensor equal");
	}
	tq_st_close(sf);
	snprintf(cmd, sizeof(cmd), "test $(ls %s | wc -l) = 1", dir);
	tap_ok(system(cmd) == 0, "no temporary file left behind");
	tap_rmdir(dir);
}

/*
 * What every reader opens files with (core/fileio.c): a missing file, a
 * directory, a file over the limit and an empty one to map are refused
 * with the path and the reason; a file is read whole and mapped.
 */
static void
file_errors(void)
{
	char dir[] = "/tmp/tq-fio-XXXXXX", path[64], empty[64];
	tq_error err = { TQ_OK, "" };
	tq_mmap m = { NULL, 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (mkdtemp(dir) == NULL) {
		tap_ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/nothere", dir);
	tap_ok(tq_read_file(path, 64, &buf, &len, &err) == TQ_EIO &&
	    strstr(err.msg, path) != NULL &&
	    strstr(err.msg, "No such file") != NULL, "read a missing file: %s",
	    err.msg);
	tap_ok(tq_mmap_open(path, &m, &err) == TQ_EIO &&
	    strstr(err.msg, "No such file") != NULL, "map a missing file: %s",
	    err.msg);
	tap_ok(tq_read_file(dir, 64, &buf, &len, &err) == TQ_EIO &&
	    strstr(err.msg, "not a regular file") != NULL,
	    "read a directory: %s", err.msg);
	tap_ok(tq_mmap_open(dir, &m, &err) == TQ_EIO &&
	    strstr(err.msg, "not a regular file") != NULL,
	    "map a directory: %s", err.msg);
	snprintf(path, sizeof(path), "%s/five", dir);
	snprintf(empty, sizeof(empty), "%s/empty", dir);
	if ((f = fopen(path, "w")) != NULL) {
		fputs("12345", f);
		fclose(f);
	}
	if ((f = fopen(empty, "w")) != NULL)
		fclose(f);
	tap_ok(tq_read_file(path, 4, &buf, &len, &err) == TQ_EFORMAT &&
	    strstr(err.msg, "too large (5 bytes, limit 4)") != NULL,
	    "read a file over the limit: %s", err.msg);
	tap_ok(tq_mmap_open(empty, &m, &err) == TQ_EFORMAT &&
	    strstr(err.msg, "file is empty") != NULL, "map an empty file: %s",
	    err.msg);
	tap_ok(tq_read_file(path, 5, &buf, &len, &err) == TQ_OK &&
	    len == 5 && strcmp(buf, "12345") == 0, "read a file whole");
	free(buf);
	tap_ok(tq_mmap_open(path, &m, &err) == TQ_OK && m.size == 5 &&
	    memcmp(m.data, "12345", 5) == 0, "map a file");
	tq_mmap_close(&m);
	tap_rmdir(dir);
}

/* Headers the strict checks refuse (the last one is fine). */
static const struct {
	const char *what, *header;
	size_t data_len;
	tq_status want;
	const char *text;
} strict[] = {
	{ "shape 256.0", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4,256.0],"
	    "\"data_offsets\":[0,1024]}}", 1024, TQ_EFORMAT,
	    "header number \"256.0\" at byte 38 is not a plain" },
	{ "shape 2.56e2", "{\"a\":{\"dtype\":\"U8\",\"shape\":[2.56e2],"
	    "\"data_offsets\":[0,256]}}", 256, TQ_EFORMAT, "\"2.56e2\"" },
	{ "offset with a leading zero", "{\"a\":{\"dtype\":\"U8\","
	    "\"shape\":[4],\"data_offsets\":[0,04]}}", 4, TQ_EFORMAT,
	    "\"04\"" },
	{ "trailing data after the header object", "{\"a\":{\"dtype\":"
	    "\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} x", 1,
	    TQ_EFORMAT, "trailing data" },
	{ "digits inside a metadata string are no number",
	    "{\"__metadata__\":{\"v\":\"1.5e3 \\\" 0.5\"},\"a\":{\"dtype\":"
	    "\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, TQ_OK,
	    NULL },
};

int
main(void)
{
	tq_tensor *ts = NULL;
	tq_error err;
	uint8_t small[4] = { 0 }, big[16];
	size_t size, n, i;
	uint8_t *buf;

	/* Accepted. */
	expect("two tensors, out of order in the JSON",
	    "{\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
	    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	    "\"__metadata__\":{\"format\":\"pt\"}}", 12, TQ_OK, NULL);
	expect("scalar and zero-size tensors",
	    "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
	    "\"z\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[4,4]}}",
	    4, TQ_OK, NULL);
	expect("trailing spaces in the header",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}   ",
	    4, TQ_OK, NULL);
	buf = image("{\"a\":{\"dtype\":\"F16\",\"shape\":[2,3],"
	    "\"data_offsets\":[0,12]}}", 12, &size);
	tq_st_parse("x", buf, size, &ts, &n, &err);
	tap_ok(n == 1 && ts[0].ndim == 2 && ts[0].shape[0] == 2 &&
	    ts[0].shape[1] == 3 && ts[0].dtype == TQ_DTYPE_F16 &&
	    ts[0].nbytes == 12 && ts[0].data == buf + size - 12,
	    "tensor fields are read");
	tq_st_free_tensors(ts, n);
	free(buf);

	/* Rejected. */
	tap_ok(tq_st_parse("x", small, 4, &ts, &n, &err) == TQ_EFORMAT &&
	    strstr(err.msg, "too small") != NULL, "4-byte file: %s", err.msg);
	memset(big, 0, sizeof(big));
	big[0] = 0x00; big[4] = 0x01;	/* 2^32 */
	tap_ok(tq_st_parse("x", big, 16, &ts, &n, &err) == TQ_EFORMAT &&
	    strstr(err.msg, "100 MB") != NULL, "huge header length: %s",
	    err.msg);
	big[4] = 0; big[0] = 200;
	tap_ok(tq_st_parse("x", big, 16, &ts, &n, &err) == TQ_EFORMAT &&
	    strstr(err.msg, "truncated") != NULL,
	    "header longer than the file: %s", err.msg);
	expect("not JSON", "{\"a\":", 0, TQ_EFORMAT, "not a JSON object");
	expect("JSON array", "[1,2]", 0, TQ_EFORMAT, "not a JSON object");
	expect("invalid UTF-8", "{\"\xff\":1}", 0, TQ_EFORMAT, "UTF-8");
	expect("unknown dtype",
	    "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}",
	    16, TQ_EFORMAT, "unknown dtype");
	expect("known but unsupported dtype",
	    "{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
	    8, TQ_EUNSUPPORTED, "C64");
	expect("length does not match shape",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
	    8, TQ_EFORMAT, "needs 12 bytes");
	expect("gap between tensors",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
	    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
	    12, TQ_EFORMAT, "contiguous");
	expect("overlapping tensors",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
	    8, TQ_EFORMAT, "contiguous");
	expect("first tensor not at 0",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
	    8, TQ_EFORMAT, "contiguous");
	expect("trailing bytes after the last tensor",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
	    8, TQ_EFORMAT, "accounts for");
	expect("data past the end",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
	    8, TQ_EFORMAT, "past the end");
	expect("end before begin",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}",
	    4, TQ_EFORMAT, "ends before");
	expect("negative shape",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
	    4, TQ_EFORMAT, "non-negative integer");
	expect("fractional offset",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.5]}}",
	    4, TQ_EFORMAT, "data_offsets");
	expect("huge offset",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
	    "\"data_offsets\":[0,1e300]}}", 4, TQ_EFORMAT, "data_offsets");
	expect("shape overflow",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,"
	    "4294967296],\"data_offsets\":[0,4]}}", 4, TQ_EFORMAT, "overflow");
	expect("string shape",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":\"[1]\",\"data_offsets\":[0,4]}}",
	    4, TQ_EFORMAT, "array shape");
	expect("duplicate tensor name",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
	    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
	    8, TQ_EFORMAT, "listed twice");
	expect("metadata value not a string",
	    "{\"__metadata__\":{\"n\":1}}", 0, TQ_EFORMAT, "__metadata__");
	expect("too many dimensions",
	    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],"
	    "\"data_offsets\":[0,4]}}", 4, TQ_EUNSUPPORTED, "dimensions");
	/* Numbers cJSON reads as integers but serde refuses, and more. */
	for (i = 0; i < sizeof(strict) / sizeof(strict[0]); i++)
		expect(strict[i].what, strict[i].header, strict[i].data_len,
		    strict[i].want, strict[i].text);
	writer_round_trip();
	file_errors();
	return tap_done();
}
