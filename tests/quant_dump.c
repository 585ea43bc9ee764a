/*
 * quant_dump.c: quantizes a raw fp32 matrix onto a GGUF block type with
 * tq_quant_rtn() and writes the packed ggml blocks and our own
 * dequantization, for tests/quant_gguf.py to check against gguf-py.
 *
 *   quant_dump SCHEME ROWS COLS IN.f32 OUT.blocks OUT.f32 [IMATRIX.f32]
 *
 * IN.f32 is ROWS*COLS little-endian floats, row-major; IMATRIX.f32 has
 * COLS.  OUT.blocks gets ROWS rows of COLS/qk blocks; OUT.f32 ROWS*COLS
 * floats.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

static int
fail(const char *what, const char *detail)
{
	fprintf(stderr, "quant_dump: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	return 1;
}

static float *
read_f32(const char *path, size_t n)
{
	float *buf = malloc(n * sizeof(*buf));
	FILE *f = fopen(path, "rb");
	int ok = buf != NULL && f != NULL &&
	    fread(buf, sizeof(*buf), n, f) == n && fgetc(f) == EOF;

	if (f != NULL)
		fclose(f);
	if (!ok) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int
write_all(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok = f != NULL && fwrite(data, 1, n, f) == n;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	return ok;
}

int
main(int argc, char **argv)
{
	tq_scheme s;
	tq_qtensor t;
	tq_error err;
	float *w, *imp = NULL, *deq;
	uint8_t *blocks;
	size_t bb;
	long long rows, cols;
	int64_t r, b;

	if (argc != 7 && argc != 8)
		return fail("usage: quant_dump SCHEME ROWS COLS IN.f32 "
		    "OUT.blocks OUT.f32 [IMATRIX.f32]", NULL);
	if (tq_scheme_parse(argv[1], &s, &err) != TQ_OK)
		return fail(err.msg, NULL);
	bb = tq_quant_block_bytes(&s);
	if (bb == 0)
		return fail(argv[1], "not a GGUF block type");
	rows = atoll(argv[2]);
	cols = atoll(argv[3]);
	if (tq_qtensor_init(&t, &s, rows, cols, &err) != TQ_OK)
		return fail(err.msg, NULL);
	w = read_f32(argv[4], (size_t)(rows * cols));
	if (w == NULL)
		return fail(argv[4], "cannot read ROWS*COLS floats");
	if (argc == 8 && (imp = read_f32(argv[7], (size_t)cols)) == NULL)
		return fail(argv[7], "cannot read COLS floats");

	tq_quant_rtn(&t, w, imp, 0);
	if (s.type == TQ_QT_NVFP4)	/* the tensor scale, beside the blocks */
		printf("%.9g\n", (double)tq_quant_global(&t));
	blocks = malloc((size_t)(rows * t.nblocks) * bb);
	deq = malloc((size_t)(rows * cols) * sizeof(*deq));
	if (blocks == NULL || deq == NULL)
		return fail("out of memory", NULL);
	for (r = 0; r < rows; r++)
		for (b = 0; b < t.nblocks; b++)
			tq_quant_pack_block(&s, &t.params[r * t.nblocks + b],
			    t.codes + r * cols + b * t.qk,
			    blocks + (size_t)(r * t.nblocks + b) * bb);
	tq_qtensor_dequant(&t, deq);
	if (!write_all(argv[5], blocks, (size_t)(rows * t.nblocks) * bb))
		return fail(argv[5], "cannot write");
	if (!write_all(argv[6], deq, (size_t)(rows * cols) * sizeof(*deq)))
		return fail(argv[6], "cannot write");

	tq_qtensor_done(&t);
	free(w);
	free(imp);
	free(blocks);
	free(deq);
	return 0;
}
