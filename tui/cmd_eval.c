/*
 * cmd_eval.c: `turboquant eval`: perplexity of a model on a text file.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

int
cmd_eval(int argc, char **argv)
{
	const char *model = NULL, *file = NULL;
	const tq_model_config *c;
	const tq_tokenizer *tok;
	tq_error err = { TQ_OK, "" };
	tq_ppl_result r;
	cli_progress prog;
	tq_model *m = NULL, *base = NULL;
	tq_qstate *state = NULL;
	long long ctx = 0;
	char *text = NULL;
	int32_t *ids = NULL;
	size_t len, n = 0;
	double t0, secs;
	int json = 0, i, rc = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--text") == 0) {
			if (++i >= argc)
				return cli_error("eval: --text needs a file");
			file = argv[i];
		} else if (strcmp(argv[i], "--ctx") == 0) {
			if (!cli_parse_int("--ctx", i + 1 < argc ? argv[i + 1] :
			    NULL, 2, 1 << 20, &ctx))
				return 1;
			i++;
		} else if (strcmp(argv[i], "--help") == 0) {
			cli_usage(stdout, "eval");
			return 0;
		} else if (argv[i][0] == '-') {
			return cli_error("eval: unknown option %s", argv[i]);
		} else if (model == NULL) {
			model = argv[i];
		} else {
			return cli_error("eval: unexpected argument \"%s\"",
			    argv[i]);
		}
	}
	if (file == NULL)
		return cli_error("eval: no evaluation text (use --text FILE)");
	if (model != NULL && tq_state_is_dir(model)) {
		/* A quantized state: its base model with the state applied. */
		char *base_path = NULL;

		if (tq_state_model_path(model, &base_path, &err) != TQ_OK)
			return cli_fail(&err);
		rc = tq_model_open(base_path, &base, &err) != TQ_OK ||
		    tq_state_load(model, base, &state, &err) != TQ_OK ||
		    tq_model_apply_state(base, state, &m, &err) != TQ_OK;
		free(base_path);
		if (rc != 0)
			goto fail;
		rc = 1;
	} else if (tq_model_open(cli_model_path(model), &m, &err) != TQ_OK) {
		return cli_fail(&err);
	}
	c = tq_model_get_config(m);
	tok = tq_model_tokenizer(m);
	if (tok == NULL) {
		rc = cli_error("%s: no tokenizer.json to tokenize the text with",
		    tq_model_path(m));
		goto out;
	}
	if (ctx == 0)
		ctx = c->max_position_embeddings < 2048 ?
		    c->max_position_embeddings : 2048;
	if (tq_read_text(file, &text, &len, &err) != TQ_OK ||
	    tq_tokenizer_encode(tok, text, len, 0, &ids, &n, &err) != TQ_OK)
		goto fail;
	if ((long long)n < ctx) {
		rc = cli_error("%s: %zu tokens, fewer than one window of %lld "
		    "(lower --ctx)", file, n, ctx);
		goto out;
	}
	cli_progress_start(&prog, "eval");
	t0 = cli_now();
	if (tq_eval_perplexity(m, ids, (int64_t)n, ctx, cli_progress_cb,
	    &prog, &r, &err) != TQ_OK) {
		cli_progress_end(&prog);
		goto fail;
	}
	cli_progress_end(&prog);
	secs = cli_now() - t0;
	if (json) {
		printf("{\"model\":");
		cli_json_string(stdout, tq_model_path(m));
		printf(",\"state\":");
		if (state != NULL)
			cli_json_string(stdout, model);
		else
			printf("null");
		printf(",\"text\":");
		cli_json_string(stdout, file);
		printf(",\"protocol\":\"gptq\",\"ctx\":%lld,\"n_tokens\":%lld,"
		    "\"n_windows\":%lld,\"n_scored\":%lld,\"mean_nll\":%.9g,"
		    "\"ppl\":%.9g,\"ppl_stderr\":%.9g,\"seconds\":%.3f,"
		    "\"tokens_per_second\":%.1f}\n", (long long)r.ctx,
		    (long long)r.n_tokens, (long long)r.n_windows,
		    (long long)r.n_scored, r.mean_nll, r.ppl, r.ppl_stderr,
		    secs, (double)(r.n_windows * r.ctx) / secs);
	} else {
		printf("model       %s (%s)%s%s\n", tq_model_path(m),
		    tq_arch_name(c->arch), state != NULL ? " quantized: " : "",
		    state != NULL ? model : "");
		printf("text        %s (%lld tokens)\n", file,
		    (long long)r.n_tokens);
		printf("protocol    gptq: %lld windows of %lld tokens, %lld "
		    "predicted\n", (long long)r.n_windows, (long long)r.ctx,
		    (long long)r.n_scored);
		printf("perplexity  %.4f +/- %.4f\n", r.ppl, r.ppl_stderr);
		printf("speed       %.1f tokens/s (%.1f s)\n",
		    (double)(r.n_windows * r.ctx) / secs, secs);
	}
	rc = 0;
	goto out;
fail:
	rc = cli_fail(&err);
out:
	free(ids);
	free(text);
	tq_model_close(m);
	tq_state_free(state);
	tq_model_close(base);
	return rc;
}
