/*
 * onnx_proto.c: protobuf wire format and the ONNX messages an exporter
 * writes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_proto.h"

/* Wire types. */
enum { WIRE_VARINT = 0, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

/* onnx.proto field numbers. */
enum {
	MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2,
	MODEL_PRODUCER_VERSION = 3, MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8,
	MODEL_METADATA_PROPS = 14,
	OPSET_DOMAIN = 1, OPSET_VERSION = 2,
	NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4,
	NODE_ATTRIBUTE = 5, NODE_DOMAIN = 7,
	ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_INTS = 8, ATTR_TYPE = 20,
	TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8,
	TENSOR_RAW_DATA = 9, TENSOR_EXTERNAL_DATA = 13,
	TENSOR_DATA_LOCATION = 14,
	ENTRY_KEY = 1, ENTRY_VALUE = 2,
	VALUE_NAME = 1, VALUE_TYPE = 2,
	TYPE_TENSOR_TYPE = 1,
	TENSOR_TYPE_ELEM_TYPE = 1, TENSOR_TYPE_SHAPE = 2,
	SHAPE_DIM = 1,
	DIM_VALUE = 1, DIM_PARAM = 2
};

/* AttributeProto.AttributeType and TensorProto.DataLocation values. */
enum { ATTR_TYPE_FLOAT = 1, ATTR_TYPE_INT = 2, ATTR_TYPE_INTS = 7 };
enum { LOCATION_EXTERNAL = 1 };

void
tq_pb_init(tq_pb *b)
{
	memset(b, 0, sizeof(*b));
}

void
tq_pb_done(tq_pb *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int
tq_pb_ok(const tq_pb *b)
{
	return !b->failed;
}

/* Makes room for n more bytes; 0 (and the buffer marked failed) if not. */
static int
pb_reserve(tq_pb *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->failed)
		return 0;
	if (b->len + n <= b->cap)
		return 1;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	if ((p = realloc(b->data, cap)) == NULL) {
		b->failed = 1;
		return 0;
	}
	b->data = p;
	b->cap = cap;
	return 1;
}

static void
pb_raw(tq_pb *b, const void *p, size_t n)
{
	if (n == 0 || !pb_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void
pb_varint(tq_pb *b, uint64_t v)
{
	uint8_t buf[10];
	size_t n = 0;

	do {
		buf[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			buf[n] |= 0x80;
		n++;
	} while (v != 0);
	pb_raw(b, buf, n);
}

static void
pb_key(tq_pb *b, int field, int wire)
{
	pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

void
tq_pb_int(tq_pb *b, int field, int64_t v)
{
	pb_key(b, field, WIRE_VARINT);
	pb_varint(b, (uint64_t)v);
}

void
tq_pb_float(tq_pb *b, int field, float v)
{
	uint8_t le[4];
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	le[0] = (uint8_t)u;
	le[1] = (uint8_t)(u >> 8);
	le[2] = (uint8_t)(u >> 16);
	le[3] = (uint8_t)(u >> 24);
	pb_key(b, field, WIRE_FIXED32);
	pb_raw(b, le, sizeof(le));
}

void
tq_pb_bytes(tq_pb *b, int field, const void *p, size_t n)
{
	pb_key(b, field, WIRE_LEN);
	pb_varint(b, n);
	pb_raw(b, p, n);
}

void
tq_pb_string(tq_pb *b, int field, const char *s)
{
	tq_pb_bytes(b, field, s, strlen(s));
}

void
tq_pb_msg(tq_pb *b, int field, const tq_pb *m)
{
	if (m->failed) {
		b->failed = 1;
		return;
	}
	tq_pb_bytes(b, field, m->data, m->len);
}

void
tq_pb_ints(tq_pb *b, int field, const int64_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		tq_pb_int(b, field, v[i]);
}

/* ---- ONNX messages ----------------------------------------------------- */

size_t
tq_onnx_dtype_size(tq_onnx_dtype t)
{
	switch (t) {
	case TQ_ONNX_FLOAT:
	case TQ_ONNX_INT32:
		return 4;
	case TQ_ONNX_INT64:
		return 8;
	case TQ_ONNX_FLOAT16:
	case TQ_ONNX_BFLOAT16:
		return 2;
	default:
		return 1;
	}
}

void
tq_onnx_node(tq_pb *n, const char *op_type, const char *domain,
    const char *name)
{
	tq_pb_string(n, NODE_OP_TYPE, op_type);
	if (domain != NULL && domain[0] != '\0')
		tq_pb_string(n, NODE_DOMAIN, domain);
	if (name != NULL)
		tq_pb_string(n, NODE_NAME, name);
}

void
tq_onnx_node_input(tq_pb *n, const char *name)
{
	tq_pb_string(n, NODE_INPUT, name);
}

void
tq_onnx_node_output(tq_pb *n, const char *name)
{
	tq_pb_string(n, NODE_OUTPUT, name);
}

/* Begins AttributeProto a: its name and type. */
static void
attr_begin(tq_pb *a, const char *name, int type)
{
	tq_pb_init(a);
	tq_pb_string(a, ATTR_NAME, name);
	tq_pb_int(a, ATTR_TYPE, type);
}

/* Appends AttributeProto a to node n. */
static void
attr_end(tq_pb *n, tq_pb *a)
{
	tq_pb_msg(n, NODE_ATTRIBUTE, a);
	tq_pb_done(a);
}

void
tq_onnx_attr_int(tq_pb *n, const char *name, int64_t v)
{
	tq_pb a;

	attr_begin(&a, name, ATTR_TYPE_INT);
	tq_pb_int(&a, ATTR_I, v);
	attr_end(n, &a);
}

void
tq_onnx_attr_float(tq_pb *n, const char *name, float v)
{
	tq_pb a;

	attr_begin(&a, name, ATTR_TYPE_FLOAT);
	tq_pb_float(&a, ATTR_F, v);
	attr_end(n, &a);
}

void
tq_onnx_attr_ints(tq_pb *n, const char *name, const int64_t *v, size_t k)
{
	tq_pb a;

	attr_begin(&a, name, ATTR_TYPE_INTS);
	tq_pb_ints(&a, ATTR_INTS, v, k);
	attr_end(n, &a);
}

/* The fields every TensorProto starts with. */
static void
tensor_head(tq_pb *t, const char *name, tq_onnx_dtype dtype,
    const int64_t *dims, int ndim)
{
	if (ndim > 0)
		tq_pb_ints(t, TENSOR_DIMS, dims, (size_t)ndim);
	tq_pb_int(t, TENSOR_DATA_TYPE, dtype);
	tq_pb_string(t, TENSOR_NAME, name);
}

void
tq_onnx_tensor(tq_pb *t, const char *name, tq_onnx_dtype dtype,
    const int64_t *dims, int ndim, const void *data, size_t nbytes)
{
	tensor_head(t, name, dtype, dims, ndim);
	tq_pb_bytes(t, TENSOR_RAW_DATA, data, nbytes);
}

/* A StringStringEntryProto as field `field` of m. */
static void
string_entry(tq_pb *m, int field, const char *key, const char *value)
{
	tq_pb e;

	tq_pb_init(&e);
	tq_pb_string(&e, ENTRY_KEY, key);
	tq_pb_string(&e, ENTRY_VALUE, value);
	tq_pb_msg(m, field, &e);
	tq_pb_done(&e);
}

void
tq_onnx_tensor_external(tq_pb *t, const char *name, tq_onnx_dtype dtype,
    const int64_t *dims, int ndim, const char *location, uint64_t offset,
    uint64_t length)
{
	char num[24];

	tensor_head(t, name, dtype, dims, ndim);
	string_entry(t, TENSOR_EXTERNAL_DATA, "location", location);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)offset);
	string_entry(t, TENSOR_EXTERNAL_DATA, "offset", num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)length);
	string_entry(t, TENSOR_EXTERNAL_DATA, "length", num);
	tq_pb_int(t, TENSOR_DATA_LOCATION, LOCATION_EXTERNAL);
}

void
tq_onnx_value_info(tq_pb *v, const char *name, tq_onnx_dtype dtype,
    const int64_t *dims, const char *const *dim_params, int ndim)
{
	tq_pb shape, tensor, type, dim;
	int i;

	tq_pb_init(&shape);
	for (i = 0; i < ndim; i++) {
		tq_pb_init(&dim);
		if (dim_params != NULL && dim_params[i] != NULL)
			tq_pb_string(&dim, DIM_PARAM, dim_params[i]);
		else
			tq_pb_int(&dim, DIM_VALUE, dims[i]);
		tq_pb_msg(&shape, SHAPE_DIM, &dim);
		tq_pb_done(&dim);
	}
	tq_pb_init(&tensor);
	tq_pb_int(&tensor, TENSOR_TYPE_ELEM_TYPE, dtype);
	tq_pb_msg(&tensor, TENSOR_TYPE_SHAPE, &shape);
	tq_pb_init(&type);
	tq_pb_msg(&type, TYPE_TENSOR_TYPE, &tensor);
	tq_pb_string(v, VALUE_NAME, name);
	tq_pb_msg(v, VALUE_TYPE, &type);
	tq_pb_done(&type);
	tq_pb_done(&tensor);
	tq_pb_done(&shape);
}

void
tq_onnx_model(tq_pb *m, int64_t ir_version, const tq_onnx_opset *opsets,
    size_t n_opsets, const char *producer, const char *producer_version,
    const tq_onnx_meta *meta, size_t n_meta, const tq_pb *graph)
{
	tq_pb o;
	size_t i;

	tq_pb_int(m, MODEL_IR_VERSION, ir_version);
	for (i = 0; i < n_opsets; i++) {
		tq_pb_init(&o);
		tq_pb_string(&o, OPSET_DOMAIN, opsets[i].domain);
		tq_pb_int(&o, OPSET_VERSION, opsets[i].version);
		tq_pb_msg(m, MODEL_OPSET_IMPORT, &o);
		tq_pb_done(&o);
	}
	tq_pb_string(m, MODEL_PRODUCER_NAME, producer);
	tq_pb_string(m, MODEL_PRODUCER_VERSION, producer_version);
	tq_pb_msg(m, MODEL_GRAPH, graph);
	for (i = 0; i < n_meta; i++)
		string_entry(m, MODEL_METADATA_PROPS, meta[i].key,
		    meta[i].value);
}
