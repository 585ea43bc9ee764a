/*
 * gguf_vocab.h: a Hugging Face tokenizer.json as GGUF tokenizer metadata,
 * and back.
 */
#ifndef TQ_FORMATS_GGUF_VOCAB_H
#define TQ_FORMATS_GGUF_VOCAB_H

#include <stddef.h>

#include "gguf_reader.h"
#include "gguf_writer.h"
#include "tq.h"

/*
 * Writes the tokenizer.* keys for model m from the tokenizer.json in its
 * directory: byte-level BPE as "gpt2" (tokens, token types, merges and the
 * "pre" name llama.cpp knows the Split pattern by), SentencePiece-style BPE
 * with byte fallback as "llama" (tokens, scores = minus the rank of the
 * merge that makes the token, token types); the special ids of
 * config.json and add_bos_token from the post-processor.  Without a
 * tokenizer, "none" (llama.cpp then has vocab_size dummy tokens).  Caveats
 * are appended to warn[wlen] ("; "-separated).
 */
tq_status tq_gguf_vocab_write(tq_gguf_writer *w, const tq_model *m,
    char *warn, size_t wlen, tq_error *err);

/*
 * The reverse: a tokenizer.json (malloc'ed, NUL-terminated) rebuilt from
 * the tokenizer.* keys of a GGUF file, for tq_tokenizer_load_buffer.
 * *json is NULL (and TQ_OK returned) when the file has no vocabulary
 * ("none"); a tokenizer model we cannot rebuild is TQ_EUNSUPPORTED.
 */
tq_status tq_gguf_vocab_to_json(const tq_gguf_file *f, char **json,
    tq_error *err);

#endif /* TQ_FORMATS_GGUF_VOCAB_H */
