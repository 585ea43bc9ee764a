/*
 * cmd_info.c: `turboquant info`: a model's architecture, tensors and sizes.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static int64_t
numel(const tq_tensor_info *t)
{
	int64_t n = 1;
	int d;

	for (d = 0; d < t->ndim; d++)
		n *= t->shape[d];
	return n;
}

static void
shape_str(const tq_tensor_info *t, char *buf, size_t len)
{
	size_t o = 0;
	int d;

	o += (size_t)snprintf(buf, len, "[");
	for (d = 0; d < t->ndim && o < len; d++)
		o += (size_t)snprintf(buf + o, len - o, "%s%lld",
		    d ? ", " : "", (long long)t->shape[d]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

static void
print_json(const tq_model *m, int64_t total)
{
	const tq_model_config *c = tq_model_get_config(m);
	const tq_tokenizer *tok = tq_model_tokenizer(m);
	tq_tensor_info t;
	size_t i;
	int d;

	printf("{\"path\":");
	cli_json_string(stdout, tq_model_path(m));
	printf(",\"architecture\":\"%s\",\"config\":{"
	    "\"vocab_size\":%lld,\"hidden_size\":%lld,"
	    "\"intermediate_size\":%lld,\"num_hidden_layers\":%lld,"
	    "\"num_attention_heads\":%lld,\"num_key_value_heads\":%lld,"
	    "\"head_dim\":%lld,\"max_position_embeddings\":%lld,"
	    "\"rms_norm_eps\":%.9g,\"rope_theta\":%.9g,\"rope_type\":\"%s\","
	    "\"rope_factor\":%.9g,\"sliding_window\":%lld,"
	    "\"tie_word_embeddings\":%s},",
	    tq_arch_name(c->arch), (long long)c->vocab_size,
	    (long long)c->hidden_size, (long long)c->intermediate_size,
	    (long long)c->n_layers, (long long)c->n_heads,
	    (long long)c->n_kv_heads, (long long)c->head_dim,
	    (long long)c->max_position_embeddings, c->rms_norm_eps,
	    c->rope_theta, tq_rope_type_name(c->rope_type),
	    c->rope_type == TQ_ROPE_DEFAULT ? 1.0 : c->rope_factor,
	    (long long)c->sliding_window,
	    c->tie_word_embeddings ? "true" : "false");
	printf("\"tensors\":[");
	for (i = 0; i < tq_model_n_tensors(m); i++) {
		tq_model_tensor(m, i, &t);
		printf("%s{\"name\":", i ? "," : "");
		cli_json_string(stdout, t.name);
		printf(",\"shape\":[");
		for (d = 0; d < t.ndim; d++)
			printf("%s%lld", d ? "," : "", (long long)t.shape[d]);
		printf("],\"dtype\":\"%s\",\"params\":%lld,\"bytes\":%llu}",
		    tq_dtype_name(t.dtype), (long long)numel(&t),
		    (unsigned long long)t.nbytes);
	}
	printf("],\"n_params\":%lld,\"file_bytes\":%llu", (long long)total,
	    (unsigned long long)tq_model_file_bytes(m));
	if (tok != NULL)
		printf(",\"tokenizer\":{\"n_vocab\":%d,\"bos_id\":%d}",
		    tq_tokenizer_n_vocab(tok), tq_tokenizer_bos(tok));
	else
		printf(",\"tokenizer\":null");
	if (tq_model_tokenizer_why(m) != NULL) {
		/* Why there is none, as the text form says it. */
		printf(",\"tokenizer_error\":");
		cli_json_string(stdout, tq_model_tokenizer_why(m));
	}
	printf("}\n");
}

/* Gemma's attention: window of W in some layers, q's scale, soft-cap. */
static void
print_gemma_attention(const tq_model_config *c)
{
	int64_t li, full = 0;

	if (!c->post_norms)
		return;
	for (li = 0; li < c->n_layers; li++)
		full += (int64_t)(c->full_attn[li / 64] >> (li % 64) & 1);
	if (c->sliding_window > 0)
		printf(", sliding window of %lld in %lld of %lld layers",
		    (long long)c->sliding_window,
		    (long long)(c->n_layers - full), (long long)c->n_layers);
	printf(", scale query_pre_attn_scalar %g^-1/2",
	    c->query_pre_attn_scalar);
	if (c->attn_softcap > 0.0)
		printf(", soft-cap %g", c->attn_softcap);
}

static void
print_text(const tq_model *m, int64_t total)
{
	const tq_model_config *c = tq_model_get_config(m);
	const tq_tokenizer *tok = tq_model_tokenizer(m);
	tq_tensor_info t;
	char shape[64];
	size_t i;
	int nope;

	printf("model         %s\n", tq_model_path(m));
	printf("architecture  %s: %lld layers, hidden %lld, intermediate "
	    "%lld\n", tq_arch_name(c->arch), (long long)c->n_layers,
	    (long long)c->hidden_size, (long long)c->intermediate_size);
	printf("attention     %lld heads, %lld kv heads, head_dim %lld%s%s",
	    (long long)c->n_heads, (long long)c->n_kv_heads,
	    (long long)c->head_dim, c->sliding_window > 0 && !c->post_norms ?
	    ", sliding window" : "", c->qk_norm ? ", QK-norm" : "");
	print_gemma_attention(c);
	printf("\n");
	printf("rope          theta %g, %s", c->rope_theta,
	    tq_rope_type_name(c->rope_type));
	if (c->rope_type == TQ_ROPE_LONGROPE)
		printf(" (long past %lld tokens, attention factor %.6g)",
		    (long long)c->rope_original_max_pos, c->rope_attn_factor);
	else if (c->rope_type != TQ_ROPE_DEFAULT)
		printf(" x%g", c->rope_factor);
	if (c->rope_dim > 0)
		printf(", %lld of %lld dimensions", (long long)c->rope_dim,
		    (long long)c->head_dim);
	for (i = 0, nope = 0; i < (size_t)c->n_layers; i++)
		nope += (int)(c->no_rope[i / 64] >> (i % 64) & 1);
	if (nope > 0)
		printf(", not in %d of %lld layers (NoPE)", nope,
		    (long long)c->n_layers);
	if (c->rope_local_theta > 0.0)
		printf(", sliding layers theta %g unscaled",
		    c->rope_local_theta);
	printf(", context %lld\n", (long long)c->max_position_embeddings);
	if (c->n_experts > 0) {
		int dense = 0;

		for (i = 0; i < (size_t)c->n_layers; i++)
			dense += (int)(c->dense_mlp[i / 64] >> (i % 64) & 1);
		printf("experts       %lld of intermediate %lld, top-%lld per "
		    "token%s, router kept float", (long long)c->n_experts,
		    (long long)c->moe_inter, (long long)c->n_experts_used,
		    c->norm_topk_prob ? " renormalised" : "");
		if (dense > 0)
			printf(", %d of %lld layers dense", dense,
			    (long long)c->n_layers);
		printf("\n");
	}
	if (c->post_norms)
		printf("block         %sRMSNorm, post-norms, GeGLU (tanh "
		    "GELU%s), embeddings x sqrt(hidden)", c->norm_unit_offset ?
		    "(1 + w) " : "", c->mlp_gelu == 2 ? " as llama.cpp's "
		    "fp16 table" : "");
	if (c->post_norms && c->final_softcap > 0.0)
		printf(", final soft-cap %g", c->final_softcap);
	if (c->post_norms)
		printf("\n");
	printf("vocabulary    %lld%s", (long long)c->vocab_size,
	    c->tie_word_embeddings ? " (tied embeddings)" : "");
	if (tok != NULL)
		printf(", tokenizer with %d ids\n", tq_tokenizer_n_vocab(tok));
	else if (tq_model_tokenizer_why(m) != NULL)
		printf(", tokenizer: %s\n", tq_model_tokenizer_why(m));
	else
		printf(", no tokenizer.json\n");
	printf("\n%-52s %-16s %-5s %12s\n", "tensor", "shape", "dtype",
	    "params");
	for (i = 0; i < tq_model_n_tensors(m); i++) {
		tq_model_tensor(m, i, &t);
		shape_str(&t, shape, sizeof(shape));
		printf("%-52s %-16s %-5s %12lld\n", t.name, shape,
		    tq_dtype_name(t.dtype), (long long)numel(&t));
	}
	printf("\n%zu tensors, %lld parameters (%.2f M), %.2f MB on disk\n",
	    tq_model_n_tensors(m), (long long)total, (double)total / 1e6,
	    (double)tq_model_file_bytes(m) / 1e6);
}

int
cmd_info(int argc, char **argv)
{
	const char *model = NULL;
	tq_error err = { TQ_OK, "" };
	tq_tensor_info t;
	tq_model *m;
	int64_t total = 0;
	int json = 0, i;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--help") == 0) {
			cli_usage(stdout, "info");
			return 0;
		} else if (argv[i][0] == '-') {
			return cli_error("info: unknown option %s", argv[i]);
		} else if (model == NULL) {
			model = argv[i];
		} else {
			return cli_error("info: unexpected argument \"%s\"",
			    argv[i]);
		}
	}
	if (tq_model_open(cli_model_path(model), &m, &err) != TQ_OK)
		return cli_fail(&err);
	for (k = 0; k < tq_model_n_tensors(m); k++) {
		tq_model_tensor(m, k, &t);
		total += numel(&t);
	}
	if (json)
		print_json(m, total);
	else
		print_text(m, total);
	tq_model_close(m);
	return 0;
}
