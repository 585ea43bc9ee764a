/*
 * test_onnx_proto.c: the protobuf encoder of the ONNX export, byte for
 * byte.  The expected messages were serialized by the onnx Python package
 * (1.23.2: helper.make_tensor_value_info, TensorProto), which writes
 * fields in number order, as our encoder does for these messages.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "onnx_proto.h"
#include "tap.h"

/* 1 when b holds exactly the n bytes of want (else a diagnostic). */
static int
same(const tq_pb *b, const uint8_t *want, size_t n)
{
	size_t i;

	if (!tq_pb_ok(b) || b->len != n || memcmp(b->data, want, n) != 0) {
		char got[256] = "";
		size_t len = 0;

		for (i = 0; i < b->len && len + 4 < sizeof(got); i++)
			len += (size_t)snprintf(got + len, sizeof(got) - len,
			    "%02x ", b->data[i]);
		tap_diag("got %zu bytes: %s", b->len, got);
		return 0;
	}
	return 1;
}

int
main(void)
{
	static const uint8_t varint[] = { 0x08, 0xac, 0x02 };
	static const uint8_t negative[] = { 0x18, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	static const uint8_t fl[] = { 0x15, 0x00, 0x00, 0x80, 0x3f };
	static const uint8_t str[] = { 0x22, 0x02, 0x68, 0x69 };
	static const uint8_t ints[] = { 0x40, 0x01, 0x40, 0xac, 0x02 };
	/* make_tensor_value_info("x", INT64, ["b", 3]) */
	static const uint8_t value_info[] = { 0x0a, 0x01, 0x78, 0x12, 0x0f,
		0x0a, 0x0d, 0x08, 0x07, 0x12, 0x09, 0x0a, 0x03, 0x12, 0x01,
		0x62, 0x0a, 0x02, 0x08, 0x03 };
	/* TensorProto dims [2], INT64, name "k", raw_data of 1, 2 */
	static const uint8_t tensor[] = { 0x08, 0x02, 0x10, 0x07, 0x42, 0x01,
		0x6b, 0x4a, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
	const char *params[2] = { "b", NULL };
	int64_t dims[2] = { 0, 3 }, two = 2, vals[2] = { 1, 300 };
	int64_t data[2] = { 1, 2 };
	tq_pb b, inner, outer;

	tq_pb_init(&b);
	tq_pb_int(&b, 1, 300);
	tap_ok(same(&b, varint, sizeof(varint)), "varint 300");
	tq_pb_done(&b);

	tq_pb_int(&b, 3, -1);
	tap_ok(same(&b, negative, sizeof(negative)),
	    "a negative int64 takes ten bytes");
	tq_pb_done(&b);

	tq_pb_float(&b, 2, 1.0f);
	tap_ok(same(&b, fl, sizeof(fl)), "fixed32 float, little-endian");
	tq_pb_done(&b);

	tq_pb_string(&b, 4, "hi");
	tap_ok(same(&b, str, sizeof(str)), "length-delimited string");
	tq_pb_done(&b);

	tq_pb_ints(&b, 8, vals, 2);
	tap_ok(same(&b, ints, sizeof(ints)),
	    "repeated ints, one key each (proto2, not packed)");
	tq_pb_done(&b);

	tq_onnx_value_info(&b, "x", TQ_ONNX_INT64, dims, params, 2);
	tap_ok(same(&b, value_info, sizeof(value_info)),
	    "ValueInfoProto with a symbolic and a fixed dimension");
	tq_pb_done(&b);

	tq_onnx_tensor(&b, "k", TQ_ONNX_INT64, &two, 1, data, sizeof(data));
	tap_ok(same(&b, tensor, sizeof(tensor)), "TensorProto with raw_data");
	tq_pb_done(&b);

	/* A message inside a message inside a message. */
	tq_pb_init(&inner);
	tq_pb_init(&outer);
	tq_pb_string(&inner, 1, "hi");
	tq_pb_msg(&outer, 2, &inner);
	tq_pb_msg(&b, 3, &outer);
	{
		static const uint8_t nested[] = { 0x1a, 0x06, 0x12, 0x04, 0x0a,
			0x02, 0x68, 0x69 };

		tap_ok(same(&b, nested, sizeof(nested)), "nested messages");
	}
	tq_pb_done(&inner);
	tq_pb_done(&outer);
	tq_pb_done(&b);

	/* A failed part fails the whole. */
	inner.failed = 1;
	tq_pb_msg(&b, 1, &inner);
	tq_pb_int(&b, 1, 1);
	tap_ok(!tq_pb_ok(&b) && b.len == 0,
	    "a failed inner message fails the outer one");
	tq_pb_done(&b);
	return tap_done();
}
