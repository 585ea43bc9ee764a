/*
 * cmd_tokenize.c: `turboquant tokenize`: text to token ids.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static int
exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

int
cmd_tokenize(int argc, char **argv)
{
	const char *pos[2] = { NULL, NULL }, *file = NULL, *model, *text;
	tq_error err = { TQ_OK, "" };
	tq_tokenizer *tok = NULL;
	const tq_tokenizer *use;
	tq_model *gm = NULL;
	char *buf = NULL;
	int32_t *ids = NULL;
	size_t len, n = 0, k;
	int json = 0, special = 1, tokens = 0, npos = 0, i, rc = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--no-special") == 0) {
			special = 0;
		} else if (strcmp(argv[i], "--tokens") == 0) {
			tokens = 1;
		} else if (strcmp(argv[i], "--text") == 0) {
			if (++i >= argc)
				return cli_error("tokenize: --text needs a file");
			file = argv[i];
		} else if (strcmp(argv[i], "--help") == 0) {
			cli_usage(stdout, "tokenize");
			return 0;
		} else if (strcmp(argv[i], "--") == 0 && i + 1 < argc &&
		    npos < 2) {
			pos[npos++] = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return cli_error("tokenize: unknown option %s", argv[i]);
		} else if (npos < 2) {
			pos[npos++] = argv[i];
		} else {
			return cli_error("tokenize: unexpected argument \"%s\"",
			    argv[i]);
		}
	}
	/* One positional: the model with --text, else the string. */
	if (file != NULL) {
		if (npos > 1)
			return cli_error("tokenize: give --text FILE or a "
			    "string, not both");
		model = cli_model_path(pos[0]);
		text = NULL;
	} else if (npos == 2) {
		model = pos[0];
		text = pos[1];
	} else if (npos == 1) {
		if (exists(pos[0]) && strchr(pos[0], '/') != NULL)
			return cli_error("tokenize: no text given (use --text "
			    "FILE or a string after %s)", pos[0]);
		model = cli_model_path(NULL);
		text = pos[0];
	} else {
		return cli_error("tokenize: no text given (use --text FILE or "
		    "a string)");
	}

	len = strlen(model);
	if (len > 5 && strcmp(model + len - 5, ".gguf") == 0) {
		/* A GGUF file: the tokenizer its metadata describes. */
		if (tq_model_open(model, &gm, &err) != TQ_OK)
			return cli_fail(&err);
		if ((use = tq_model_tokenizer(gm)) == NULL) {
			if (tq_model_tokenizer_why(gm) != NULL)
				snprintf(err.msg, sizeof(err.msg), "%s",
				    tq_model_tokenizer_why(gm));
			else
				snprintf(err.msg, sizeof(err.msg), "%s: no "
				    "tokenizer in the file or beside it",
				    model);
			tq_model_close(gm);
			return cli_error("%s", err.msg);
		}
	} else if (tq_tokenizer_load(model, &tok, &err) != TQ_OK) {
		return cli_fail(&err);
	} else {
		use = tok;
	}
	if (file != NULL) {
		if (tq_read_text(file, &buf, &len, &err) != TQ_OK)
			goto fail;
		text = buf;
	} else {
		len = strlen(text);
	}
	if (tq_tokenizer_encode(use, text, len, special, &ids, &n, &err) !=
	    TQ_OK)
		goto fail;
	if (json) {
		printf("{\"ids\":[");
		for (k = 0; k < n; k++)
			printf("%s%d", k ? "," : "", ids[k]);
		printf("]");
		if (tokens) {
			printf(",\"tokens\":[");
			for (k = 0; k < n; k++) {
				const char *s = tq_tokenizer_token(use, ids[k]);

				printf("%s", k ? "," : "");
				cli_json_string(stdout, s != NULL ? s : "");
			}
			printf("]");
		}
		printf(",\"n_tokens\":%zu}\n", n);
	} else if (tokens) {
		for (k = 0; k < n; k++) {
			const char *s = tq_tokenizer_token(use, ids[k]);

			printf("%d\t", ids[k]);
			cli_json_string(stdout, s != NULL ? s : "");
			printf("\n");
		}
	} else {
		for (k = 0; k < n; k++)
			printf("%s%d", k ? " " : "", ids[k]);
		printf("\n");
	}
	rc = 0;
	goto out;
fail:
	rc = cli_fail(&err);
out:
	tq_ids_free(ids);
	tq_string_free(buf);
	tq_tokenizer_free(tok);
	tq_model_close(gm);
	return rc;
}
