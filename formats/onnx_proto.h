/*
 * onnx_proto.h: a protobuf encoder for the subset of ONNX an exporter
 * writes (internal).
 *
 * Protocol buffers are tag-length-value: a message is a sequence of fields,
 * each a key (field number and wire type) and a value, in any order, and a
 * repeated field is its elements in order.  So a message can be built by
 * appending fields to a byte buffer, and a nested message (a node in a
 * graph, a graph in a model) is built in its own buffer and appended as a
 * length-delimited field once complete.  Field numbers are those of
 * onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
 * TensorProto, ValueInfoProto, TypeProto, TensorShapeProto,
 * OperatorSetIdProto, StringStringEntryProto).
 *
 * Allocation failures are sticky: a buffer that could not grow is marked
 * failed, later appends do nothing, and the writer checks the flag once at
 * the end (tq_pb_ok).
 */
#ifndef TQ_FORMATS_ONNX_PROTO_H
#define TQ_FORMATS_ONNX_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* One message being encoded. */
typedef struct tq_pb {
	uint8_t *data;
	size_t len, cap;
	int failed;		/* an append ran out of memory */
} tq_pb;

/* ---- Wire format ------------------------------------------------------ */

void tq_pb_init(tq_pb *b);
void tq_pb_done(tq_pb *b);
/* 1 when every append so far succeeded. */
int tq_pb_ok(const tq_pb *b);

/* A varint field (int32, int64, enum, bool; negatives take 10 bytes). */
void tq_pb_int(tq_pb *b, int field, int64_t v);
/* A fixed32 float field. */
void tq_pb_float(tq_pb *b, int field, float v);
/* A length-delimited field: bytes, a string, or an encoded message. */
void tq_pb_bytes(tq_pb *b, int field, const void *p, size_t n);
void tq_pb_string(tq_pb *b, int field, const char *s);
void tq_pb_msg(tq_pb *b, int field, const tq_pb *m);
/*
 * A repeated varint field, one key per element: onnx.proto is proto2,
 * where repeated scalars are not packed unless declared so.
 */
void tq_pb_ints(tq_pb *b, int field, const int64_t *v, size_t n);

/* ---- ONNX ------------------------------------------------------------- */

/* TensorProto.DataType values. */
typedef enum tq_onnx_dtype {
	TQ_ONNX_FLOAT = 1,
	TQ_ONNX_UINT8 = 2,
	TQ_ONNX_INT32 = 6,
	TQ_ONNX_INT64 = 7,
	TQ_ONNX_BOOL = 9,
	TQ_ONNX_FLOAT16 = 10,
	TQ_ONNX_BFLOAT16 = 16
} tq_onnx_dtype;

/* Bytes of one element of a dtype. */
size_t tq_onnx_dtype_size(tq_onnx_dtype t);

/*
 * NodeProto: begin with the op (domain NULL or "" for the default ONNX
 * domain), then inputs (an empty name is an absent optional input),
 * outputs and attributes in any order.
 */
void tq_onnx_node(tq_pb *n, const char *op_type, const char *domain,
    const char *name);
void tq_onnx_node_input(tq_pb *n, const char *name);
void tq_onnx_node_output(tq_pb *n, const char *name);
void tq_onnx_attr_int(tq_pb *n, const char *name, int64_t v);
void tq_onnx_attr_float(tq_pb *n, const char *name, float v);
void tq_onnx_attr_ints(tq_pb *n, const char *name, const int64_t *v,
    size_t k);

/*
 * TensorProto with its data inline (raw_data: little-endian, row-major),
 * or in an external file at offset..offset+length (location relative to
 * the model file).
 */
void tq_onnx_tensor(tq_pb *t, const char *name, tq_onnx_dtype dtype,
    const int64_t *dims, int ndim, const void *data, size_t nbytes);
void tq_onnx_tensor_external(tq_pb *t, const char *name,
    tq_onnx_dtype dtype, const int64_t *dims, int ndim,
    const char *location, uint64_t offset, uint64_t length);

/*
 * ValueInfoProto of a tensor: dimension i is dims[i], or the symbolic
 * dim_params[i] when dim_params and dim_params[i] are not NULL.
 */
void tq_onnx_value_info(tq_pb *v, const char *name, tq_onnx_dtype dtype,
    const int64_t *dims, const char *const *dim_params, int ndim);

/* GraphProto fields: append to the graph buffer g. */
#define TQ_ONNX_GRAPH_NODE 1
#define TQ_ONNX_GRAPH_NAME 2
#define TQ_ONNX_GRAPH_INITIALIZER 5
#define TQ_ONNX_GRAPH_INPUT 11
#define TQ_ONNX_GRAPH_OUTPUT 12

/* An operator set a model imports (domain "" is the ONNX domain). */
typedef struct tq_onnx_opset {
	const char *domain;
	int64_t version;
} tq_onnx_opset;

/* A metadata_props entry. */
typedef struct tq_onnx_meta {
	const char *key;
	const char *value;
} tq_onnx_meta;

/* ModelProto around an encoded GraphProto. */
void tq_onnx_model(tq_pb *m, int64_t ir_version, const tq_onnx_opset *opsets,
    size_t n_opsets, const char *producer, const char *producer_version,
    const tq_onnx_meta *meta, size_t n_meta, const tq_pb *graph);

#endif /* TQ_FORMATS_ONNX_PROTO_H */
