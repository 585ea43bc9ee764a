/*
 * test_gguf_vocab.c: a tokenizer written as GGUF metadata and rebuilt from
 * it tokenizes exactly as the tokenizer.json it came from, for the
 * byte-level BPE fixtures (gpt2, llama3, qwen2, smollm3: "gpt2" with
 * merges) and the SentencePiece-style ones (llama2, llama2_meta, phi3,
 * gemma: "llama" with scores, merges derived again from them; gemma with
 * no space prefix and user-defined pieces such as "▁▁" that match only
 * in the raw text), on the shared corpora, with and
 * without special tokens.  llama2_meta prepends its space only at the
 * start of the text (Metaspace "first"), which GGUF cannot say: llama.cpp
 * prepends after every special token, and also before a text that
 * starts with a space, where Metaspace does not.  For it the export must
 * warn, and the ids must agree on text without special tokens ("<unk>"
 * removed) that does not start with a space.
 *
 * Then every tokenizer.ggml.pre name the pinned llama.cpp accepts, put on
 * the gpt2 fixture's GGUF: rebuilt into a tokenizer that loads (its
 * regexes compile) and tokenizes, or refused in one line that names it
 * and why; an unknown name is refused the same way.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf_reader.h"
#include "gguf_vocab.h"
#include "gguf_writer.h"
#include "model.h"
#include "tap.h"
#include "tokenizer_json.h"

/*
 * The 91 names the pinned llama.cpp accepts (src/llama-vocab.cpp): those
 * rebuilt, then after NULL those refused.
 */
static const char *const llama_pre[] = {
	"default", "minicpm5", "llama3", "llama-v3", "llama-bpe", "falcon3",
	"falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano",
	"deepseek-llm", "deepseek-coder", "deepseek-v3", "spark2_5", "youtu",
	"falcon", "mpt", "starcoder", "gpt-2", "phi-2", "jina-es", "jina-de",
	"gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
	"modern-bert", "jais-2", "jina-v1-en", "jina-v2-code", "roberta-bpe",
	"refact", "command-r", "qwen2", "deepseek-r1-qwen", "kormo",
	"f2llmv2", "qwen35", "stablelm2", "olmo", "dbrx", "smaug-bpe",
	"poro-chat", "chatglm-bpe", "glm4", "glm5", "viking", "jais",
	"tekken", "smollm", "codeshell", "bloom", "gpt3-finnish", "exaone",
	"exaone4", "exaone-moe", "chameleon", "minerva-7b", "megrez",
	"gpt-4o", "llama4", "kanana2", "talkie", "granite-embed-multi-97m",
	"superbpe", "trillion", "granite-docling", "bailingmoe",
	"bailingmoe2", "llada-moe", "seed-coder", "hunyuan", "hunyuan-dense",
	"hy_v4", "joyai-llm", "ufakzeka", "grok-2", "laguna", "minimax-m2",
	"solar-open", "mellum2",
	NULL,
	/* refused: custom code in llama.cpp, or no byte-level step */
	"kimi-k2", "afmoe", "tiny_aya", "cohere2moe", "gemma4",
	"granite-embed-multi-311m", "sarvam-moe", "whitespace",
	/* unknown to llama.cpp */
	"no-such-pre",
};

/*
 * Every name on f (a gpt2 GGUF): the rebuilt tokenizer loads and encodes
 * text[len], or the name is refused naming itself.  The name is set in
 * the reader's key in place: no file per name.  Returns the failures.
 */
static int
every_pre(tq_gguf_file *f, const char *text, size_t len)
{
	tq_gguf_kv *kv = (tq_gguf_kv *)tq_gguf_find(f, "tokenizer.ggml.pre");
	size_t i, n = sizeof(llama_pre) / sizeof(llama_pre[0]);
	int refused = 0, bad = 0, rebuilt = 0, was;
	uint8_t val[8 + 64];
	char want[128];

	if (kv == NULL || kv->type != TQ_GGUF_STRING)
		return 1;
	for (i = 0; i < n; i++) {
		tq_tokenizer *tok = NULL;
		int32_t *ids = NULL;
		size_t nid = 0, k;
		uint64_t l;
		char *json = NULL;
		tq_error err;
		tq_status st;

		if (llama_pre[i] == NULL) {
			refused = 1;
			continue;
		}
		l = strlen(llama_pre[i]);
		for (k = 0; k < 8; k++)
			val[k] = (uint8_t)(l >> (8 * k));
		memcpy(val + 8, llama_pre[i], l);
		kv->val = val;
		snprintf(want, sizeof(want), "pre-tokenizer \"%s\" cannot be "
		    "rebuilt: ", llama_pre[i]);
		st = tq_gguf_vocab_to_json(f, &json, &err);
		was = st == TQ_EUNSUPPORTED && strstr(err.msg, want) != NULL;
		if (st == TQ_OK && json != NULL &&
		    (st = tq_tokenizer_load_buffer(json, strlen(json), f->path,
		    &tok, &err)) == TQ_OK)
			st = tq_tokenizer_encode(tok, text, len, 1, &ids, &nid,
			    &err);
		if (refused ? !was : st != TQ_OK || nid == 0) {
			tap_diag("%s: %s", llama_pre[i], st != TQ_OK ? err.msg :
			    "rebuilt, not refused");
			bad++;
		} else if (refused)
			tap_diag("refused: %s", err.msg);
		rebuilt += !refused && st == TQ_OK;
		free(ids);
		free(json);
		tq_tokenizer_free(tok);
	}
	tap_diag("%d pre-tokenizer names rebuilt", rebuilt);
	return bad;
}

/* Mismatching positions between the two tokenizers on text[len]. */
static long
compare(const tq_tokenizer *a, const tq_tokenizer *b, const char *text,
    size_t len, int special)
{
	int32_t *x = NULL, *y = NULL;
	size_t nx = 0, ny = 0, i;
	tq_error err;
	long bad = 0;

	if (tq_tokenizer_encode(a, text, len, special, &x, &nx, &err) != TQ_OK ||
	    tq_tokenizer_encode(b, text, len, special, &y, &ny, &err) != TQ_OK)
		bad = -1;
	else if (nx != ny)
		bad = (long)(nx > ny ? nx - ny : ny - nx);
	for (i = 0; bad == 0 && i < nx; i++)
		bad += x[i] != y[i];
	tq_ids_free(x);
	tq_ids_free(y);
	return bad;
}

int
main(void)
{
	static const char *const names[] = {
		"gpt2", "llama3", "qwen2", "llama2", "llama2_meta", "gemma",
		"phi3", "smollm3"
	};
	/* The tokenizer.ggml.pre the writer gives each. */
	static const char *const pre_want[] = {
		"gpt-2", "llama-bpe", "qwen2", "default", "default", "default",
		"default", "llama-bpe"
	};
	static const char *const texts[] = {
		"wikitext2-test.txt", "linux-test.txt"
	};
	/* The families' chat tokens, with whitespace around them. */
	static const char chat[] = "<s><|user|>\n  Hi there<|end|> \n"
	    "<|assistant|>\n Sure.</s> \n<|endoftext|>  <start_of_turn>user\n"
	    "a\xe2\x96\x81\xe2\x96\x81" "b  c\n\n\t<end_of_turn>\n"
	    "<|im_start|>assistant\n<think>\n\n</think>\nok<|im_end|> <unk><bos> x";
	const char *top = getenv("top_srcdir"), *data = getenv("TQ_SHARED_DATA");
	char path[2048], gg[] = "/tmp/tq-vocab-XXXXXX", *json, *text[2], *plain[2];
	size_t tlen[2], plen[2], i, k;
	tq_error err;

	tap_plan(8 * 2 + 1);
	if (top == NULL)
		top = ".";
	for (k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "%s/%s", data != NULL ? data :
		    "../shared/data", texts[k]);
		if (tq_read_text(path, &text[k], &tlen[k], &err) != TQ_OK) {
			tap_diag("%s", err.msg);
			return tap_done();
		}
		if (tlen[k] > 200000)
			tlen[k] = 200000;	/* enough, and quick */
		while (tlen[k] > 0 && ((unsigned char)text[k][tlen[k]] & 0xc0) ==
		    0x80)
			tlen[k]--;
		/* The same without the special token wikitext is full of. */
		if ((plain[k] = malloc(tlen[k] + 1)) == NULL)
			return tap_done();
		for (i = 0, plen[k] = 0; i < tlen[k]; i++) {
			if (plen[k] == 0 && (text[k][i] == ' ' ||
			    text[k][i] == '\n'))
				continue;	/* see the note on Metaspace */
			if (strncmp(text[k] + i, "<unk>", 5) == 0 &&
			    i + 5 <= tlen[k]) {
				i += 4;
				continue;
			}
			plain[k][plen[k]++] = text[k][i];
		}
	}
	if (mkstemp(gg) < 0)
		return tap_done();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tq_tokenizer *tok = NULL, *back = NULL;
		tq_gguf_writer *w = NULL;
		tq_gguf_file *f = NULL;
		char dir[1024], warn[512] = "";
		tq_model m;
		tq_status st;
		long bad = 0;
		int s;

		snprintf(dir, sizeof(dir), "%s/tests/data/tokenizers/%s", top,
		    names[i]);
		snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
		memset(&m, 0, sizeof(m));
		m.path = dir;
		st = tq_tokenizer_load(path, &tok, &err);
		m.tok = tok;
		m.cfg.vocab_size = tok != NULL ? tq_tokenizer_n_vocab(tok) : 0;
		m.cfg.bos_token_id = tok != NULL ? tq_tokenizer_bos(tok) : -1;
		m.cfg.eos_token_id = -1;
		json = NULL;
		if (st == TQ_OK)
			st = tq_gguf_writer_new(&w, &err);
		if (st == TQ_OK)
			st = tq_gguf_kv_str(w, "general.architecture", "llama");
		if (st == TQ_OK)	/* llama.cpp: Phi-3's rstrip by name */
			st = tq_gguf_kv_str(w, "general.name", names[i]);
		if (st == TQ_OK)
			st = tq_gguf_vocab_write(w, &m, warn, sizeof(warn), &err);
		if (st == TQ_OK)
			st = tq_gguf_write(w, gg, &err);
		if (st == TQ_OK)
			st = tq_gguf_open(gg, &f, &err);
		if (st == TQ_OK)
			st = tq_gguf_vocab_to_json(f, &json, &err);
		if (st == TQ_OK && json != NULL)
			st = tq_tokenizer_load_buffer(json, strlen(json), gg, &back,
			    &err);
		if (st != TQ_OK || back == NULL) {
			tap_ok(0, "%s: written and rebuilt: %s", names[i],
			    st != TQ_OK ? err.msg : "no tokenizer");
			tap_ok(0, "%s: (not compared)", names[i]);
		} else {
			int first = strcmp(names[i], "llama2_meta") == 0;
			const char *pre = "";
			size_t prelen = 0;

			tq_gguf_get_str(f, "tokenizer.ggml.pre", &pre, &prelen);
			tap_ok((!first || strstr(warn, "after every special") !=
			    NULL) && prelen == strlen(pre_want[i]) &&
			    strncmp(pre, pre_want[i], prelen) == 0,
			    "%s: written as GGUF metadata (pre \"%.*s\") and "
			    "rebuilt%s%s", names[i], (int)prelen, pre,
			    warn[0] ? "; warning: " : "", warn);
			for (k = 0; k < 2; k++)
				for (s = 0; s < 2; s++) {
					long b = first ? compare(tok, back, plain[k],
					    plen[k], s) : compare(tok, back, text[k],
					    tlen[k], s);

					if (b != 0)
						tap_diag("%s, special %d: %ld ids differ",
						    texts[k], s, b);
					bad += b != 0;
				}
			for (s = 0; !first && s < 2; s++) {
				long b = compare(tok, back, chat, strlen(chat), s);

				if (b != 0)
					tap_diag("chat text, special %d: %ld ids "
					    "differ", s, b);
				bad += b != 0;
			}
			tap_ok(bad == 0, "%s: the same ids on 200 kB of each corpus%s, "
			    "with and without special tokens", names[i], first ?
			    "" : " and a chat text");
		}
		if (i == 0)
			tap_ok(f != NULL && every_pre(f, text[0], 20000) == 0,
			    "every llama.cpp pre-tokenizer name is rebuilt and "
			    "tokenizes, or refused naming it and why");
		free(json);
		tq_gguf_close(f);
		tq_gguf_writer_free(w);
		tq_tokenizer_free(back);
		tq_tokenizer_free(tok);
	}
	unlink(gg);
	for (k = 0; k < 2; k++) {
		tq_string_free(text[k]);
		free(plain[k]);
	}
	return tap_done();
}
