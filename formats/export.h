/*
 * export.h: the exporters (internal; the API is tq_job_export in tq.h).
 *
 * formats/export.c runs the job: it checks the request, applies the state
 * to the base model, calls the format's exporter and fills the report.
 * Each exporter (formats/export_<format>.c) writes into x->out, a
 * temporary file or directory chosen by export.c, which renames it into
 * place when the exporter succeeds and removes it on failure or cancel.
 */
#ifndef TQ_FORMATS_EXPORT_H
#define TQ_FORMATS_EXPORT_H

#include "job.h"
#include "qstate.h"
#include "tq.h"

typedef struct tq_export_ctx {
	const tq_model *base;	/* the checkpoint the state was made of */
	const tq_model *model;	/* base with the state applied: every float
				   tensor (norms AWQ changed, biases) and the
				   dequantized weights */
	const tq_qstate *state;	/* NULL: export the float model */
	const char *out;	/* where the files go while written (a
				   temporary file or directory) */
	const char *type;	/* format-specific type, or NULL */
	const char *imatrix;	/* GGUF: importance-matrix file, or NULL */
	tq_job *job;		/* progress, log lines, cancel */
	tq_export_report *report;	/* fill type, bpw, warning */
	unsigned long json_mark;	/* tq_json_begin at the start */
} tq_export_ctx;

/* The types --type takes for GGUF (tq_export_format_info, messages). */
#define TQ_EXPORT_GGUF_TYPES "f32, f16, bf16, q8_0, q6_k, q5_k_m, q4_k_m, " \
	"q4_k_s, q3_k_m, iq4_xs, iq4_nl, iq3_m, iq3_s, iq3_xs, iq3_xxs, " \
	"iq2_m, iq2_s, iq2_xs, iq2_xxs, iq1_m, iq1_s, q4_0, q4_1, q5_0, q5_1, " \
	"q2_k, q3_k, q4_k, q5_k"

typedef tq_status (*tq_exporter)(tq_export_ctx *x, tq_error *err);

/*
 * The export formats that can hold grid s as it is, for refusal messages
 * ("export this state with ..."); a fixed string.
 */
const char *tq_export_holders(const tq_scheme *s);

tq_status tq_export_gguf(tq_export_ctx *x, tq_error *err);
tq_status tq_export_awq(tq_export_ctx *x, tq_error *err);
tq_status tq_export_gptq(tq_export_ctx *x, tq_error *err);
tq_status tq_export_mlx(tq_export_ctx *x, tq_error *err);
tq_status tq_export_onnx(tq_export_ctx *x, tq_error *err);
tq_status tq_export_ct(tq_export_ctx *x, tq_error *err);
tq_status tq_export_trtllm(tq_export_ctx *x, tq_error *err);

#endif /* TQ_FORMATS_EXPORT_H */
