#!/usr/bin/env python3
"""make_tokenizers.py: trains the small fixture tokenizers in tests/data/tokenizers.

Usage (from the top of the source tree):

    PYTHON=${PYTHON:-/opt/tqvenv/bin/python}
    "$PYTHON" tools/make_tokenizers.py [--data DIR] [--out DIR]

--data defaults to $TQ_SHARED_DATA, else ../shared/data (the corpora are
read, never copied); --out defaults to tests/data/tokenizers.  Needs the
Hugging Face `tokenizers` package (written with 0.20.3).  Training is
deterministic, so rerunning rewrites identical files.

Every tokenizer is trained on wikitext2-valid.txt and linux-train.txt and
saved as <out>/<name>/tokenizer.json:

  llama3        byte-level BPE shaped like Llama-3: Split(LLAMA3 regex) +
                ByteLevel(use_regex=False), ignore_merges, BOS template,
                specials after the vocabulary; 2000 ids
  gpt2          GPT-2: ByteLevel pre-tokenizer with its built-in regex, no
                template; merges in the legacy "a b" string form; 1000 ids
  qwen2         Qwen2: NFC normalizer, QWEN2 regex, no BOS; 1000 ids
  llama2        Llama-2/Mistral legacy SentencePiece-style BPE: Prepend("▁")
                + Replace(" ", "▁"), byte_fallback with <0x00>..<0xFF> in the
                vocabulary (not in added_tokens), fuse_unk, "<s> $A"; 1000 ids
  llama2_meta   the same model, non-legacy: Metaspace(prepend_scheme
                "first", split false), Metaspace decoder
  added         llama2 plus added tokens with lstrip/rstrip/single_word and
                normalized true/false, to stress the added-token rules
  bert_bpe      NFC + Lowercase + Strip, WhitespaceSplit + Punctuation +
                Digits, BPE with "##" prefix and "</w>" suffix and [UNK],
                BertProcessing, BPEDecoder; about 1000 ids
  gemma         Gemma (1-3) as transformers' GemmaConverter writes it,
                trained in SentencePiece-like pieces (runs of "▁" whole,
                "▁word", single digits), so merges build "▁" runs:
                Replace(" ", "▁") normalizer, no prepended "▁", the
                converter's Split(" ", merged_with_previous) pre-tokenizer
                (a no-op after the normalizer), byte_fallback + fuse_unk,
                <pad> <eos> <bos> <unk> <mask> first, control tokens
                (<start_of_turn>, <end_of_turn>, <start_of_image>, ...)
                special, SentencePiece user-defined pieces ("\n", "\n\n",
                "\t", "▁▁", "<h1>" ...) as non-special, non-normalized
                added tokens, <0xNN> in the vocabulary only, decoder
                Replace + ByteFallback + Fuse (no Strip), "<bos> $A",
                merges as transformers' SentencePiece extractor writes
                them (every split of a piece, by score: sp_merges),
                <image_soft_token> after the vocabulary; 2000 ids
  phi3          Phi-3-mini: the llama2 (legacy Prepend + Replace) model with
                Phi-3's added tokens after it: <|endoftext|>, then
                <|assistant|> <|placeholder1-4|> <|system|> <|end|>
                <|placeholder5-6|> <|user|> with rstrip, and </s> non-special
                with rstrip, as in Phi-3-mini-4k-instruct; merges as for
                gemma; 1011 ids
  smollm3       SmolLM3: the llama3 shape (LLAMA3 regex, ignore_merges) with
                no BOS template and its added tokens after the vocabulary:
                <|begin_of_text|> <|end_of_text|> <|im_start|> <|im_end|>
                ... special, <think> </think> <tool_call> </tool_call>
                non-special; 2000 ids + 10

The tiny tokenizers in tests/data/tokenizers/unit/*.json are written by
hand for tests/test_tokenizer.c; this script leaves them alone.
"""

import argparse
import json
import os
import re
import sys

from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models,
                        normalizers, pre_tokenizers, processors, trainers)

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
          r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
         r"\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
CORPORA = ("wikitext2-valid.txt", "linux-train.txt")


def read_lines(files):
    lines = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            lines.extend(fh)
    return lines


def rare_chars_dropped(files, keep):
    """The corpus lines without characters outside the `keep` most common
    ones.  (BpeTrainer's limit_alphabet breaks ties between equally
    frequent characters differently from run to run; this does not.)"""
    lines = read_lines(files)
    count = {}
    for line in lines:
        for c in line:
            count[c] = count.get(c, 0) + 1
    kept = set(sorted(count, key=lambda c: (-count[c], c))[:keep])
    drop = re.compile("[^" + "".join(re.escape(c) for c in sorted(kept)) + "]")
    return [drop.sub("", line) for line in lines]


def save(tok, out, name, edit=None):
    """Writes out/name/tokenizer.json, optionally editing the JSON first."""
    d = json.loads(tok.to_str())
    if edit is not None:
        edit(d)
    path = os.path.join(out, name)
    os.makedirs(path, exist_ok=True)
    text = json.dumps(d, ensure_ascii=False, indent=1) + "\n"
    Tokenizer.from_str(text)  # must still load
    with open(os.path.join(path, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(text)
    print("%-12s %6d ids %8d bytes" % (name, Tokenizer.from_str(text)
                                       .get_vocab_size(True), len(text.encode())))


def byte_level(files, out, name, vocab, split_regex, specials, ignore_merges,
               nfc=False, bos=None, legacy_merges=False, extra=()):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if nfc:
        tok.normalizer = normalizers.NFC()
    if split_regex is not None:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(split_regex), "isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True,
                                     use_regex=False)])
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                     use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2,
                             special_tokens=list(specials),
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             show_progress=False)
    tok.train(files, tr)
    if extra:
        tok.add_tokens(list(extra))
    if bos is not None:
        bid = tok.token_to_id(bos)
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=bos + " $A", pair=bos + " $A " + bos + " $B:1",
                special_tokens=[(bos, bid)])])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)

    def edit(d):
        if legacy_merges:
            d["model"]["merges"] = [" ".join(m) for m in d["model"]["merges"]]
    save(tok, out, name, edit)


def llama2_model(files, vocab):
    """A SentencePiece-like BPE: byte fallback, <unk> <s> </s> <0xNN>."""
    specials = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True,
                               fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁",
                                                 prepend_scheme="first",
                                                 split=True)
    tr = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2,
                             special_tokens=specials, show_progress=False)
    tok.train_from_iterator(rare_chars_dropped(files, 120), tr)
    return tok


def drop_byte_added(d):
    """Real Llama-2 lists only <unk>, <s>, </s> as added tokens."""
    d["added_tokens"] = [t for t in d["added_tokens"]
                         if not re.fullmatch(r"<0x[0-9A-F]{2}>", t["content"])]


def llama2_legacy(tok):
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"),
                                           normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "),
                                     decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1",
        special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok


def sp_merges(d):
    """Merges as transformers' SentencePiece extractor (generate_merges)
    writes them for a real Gemma or Phi-3: every split of every piece into
    two pieces, by the piece's score (0 for added tokens and <0xNN>, minus
    the id otherwise), then longer left, longer right.  The trainer's own
    list lacks pairs SentencePiece would merge ("▁▁" + "▁" as well as
    "▁" + "▁▁")."""
    m = d["model"]
    vocab = m["vocab"]
    added = {t["content"] for t in d["added_tokens"]}

    def score(p):
        if p in added or re.fullmatch(r"<0x[0-9A-F]{2}>", p):
            return 0.0
        return -float(vocab[p])
    merges = []
    for piece in sorted(vocab, key=vocab.get):
        local = [(piece[:i], piece[i:], score(piece))
                 for i in range(1, len(piece))
                 if piece[:i] in vocab and piece[i:] in vocab]
        merges += sorted(local, key=lambda x: (vocab[x[0]], vocab[x[1]]))
    merges.sort(key=lambda v: (v[2], len(v[0]), len(v[1])), reverse=True)
    m["merges"] = [[a, b] for a, b, _ in merges]


def gemma(files, out):
    """Gemma: a SentencePiece BPE without the prepended "▁"."""
    control = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "[@BOS@]",
               "<unused0>", "<unused1>", "<start_of_turn>", "<end_of_turn>"]
    user = ["\n", "\n\n", "\n\n\n", "\t", "\t\t", "▁▁", "▁▁▁", "▁▁▁▁",
            "<h1>", "</h1>", "<b>", "</b>"]
    late = ["<start_of_image>", "<end_of_image>"]
    bytes_ = ["<0x%02X>" % b for b in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True,
                               fuse_unk=True))
    # Trained in pieces like SentencePiece's (split_by_whitespace,
    # split_digits, allow_whitespace_only_pieces): runs of "▁", "▁word",
    # single digits.
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(
        Regex(r"▁+(?=▁)|▁?[^▁\p{N}]+|\p{N}|▁"), "isolated")
    tr = trainers.BpeTrainer(vocab_size=2000, min_frequency=2,
                             special_tokens=control + user + bytes_ + late,
                             show_progress=False)
    tok.train_from_iterator(rare_chars_dropped(files, 120), tr)
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "),
                                     decoders.ByteFallback(), decoders.Fuse()])
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B:1",
        special_tokens=[("<bos>", bos)])
    tok.add_special_tokens([AddedToken("<image_soft_token>", normalized=False,
                                       special=True)])

    def edit(d):
        drop_byte_added(d)
        for t in d["added_tokens"]:
            t["normalized"] = False
            t["special"] = t["content"] not in user
        sp_merges(d)
    save(tok, out, "gemma", edit)


def phi3(base, out):
    """Phi-3-mini: the Llama-2 legacy model (base, already made legacy by
    llama2_legacy) plus its chat tokens."""
    tok = Tokenizer.from_str(base.to_str())
    tok.add_special_tokens([AddedToken("<|endoftext|>", normalized=False,
                                       special=True)])
    tok.add_special_tokens([AddedToken(c, rstrip=True, normalized=False,
                                       special=True) for c in (
        "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>",
        "<|placeholder3|>", "<|placeholder4|>", "<|system|>", "<|end|>",
        "<|placeholder5|>", "<|placeholder6|>", "<|user|>")])

    def edit(d):
        drop_byte_added(d)
        for t in d["added_tokens"]:
            if t["content"] == "</s>":
                t.update(rstrip=True, special=False)
        sp_merges(d)
    save(tok, out, "phi3", edit)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get(
        "TQ_SHARED_DATA", os.path.join("..", "shared", "data")))
    ap.add_argument("--out", default=os.path.join("tests", "data",
                                                  "tokenizers"))
    args = ap.parse_args()
    files = [os.path.join(args.data, f) for f in CORPORA]
    for f in files:
        if not os.path.isfile(f):
            sys.exit("make_tokenizers.py: %s not found (use --data)" % f)

    byte_level(files, args.out, "llama3", 2000, LLAMA3,
               ["<|begin_of_text|>", "<|end_of_text|>"], True,
               bos="<|begin_of_text|>",
               extra=[AddedToken("<|start_header_id|>", special=True,
                                 normalized=False),
                      AddedToken("<|end_header_id|>", special=True,
                                 normalized=False),
                      AddedToken("<|eot_id|>", special=True,
                                 normalized=False)])
    byte_level(files, args.out, "smollm3", 2000, LLAMA3, [], True,
               extra=[AddedToken(c, special=True, normalized=False) for c in (
                   "<|begin_of_text|>", "<|end_of_text|>")] +
               [AddedToken(c, special=False, normalized=False) for c in (
                   "<think>", "</think>")] +
               [AddedToken(c, special=True, normalized=False) for c in (
                   "<|finetune_right_pad_id|>", "<|start_header_id|>",
                   "<|end_header_id|>", "<|eot_id|>", "<|im_start|>",
                   "<|im_end|>")] +
               [AddedToken(c, special=False, normalized=False) for c in (
                   "<tool_call>", "</tool_call>")])
    byte_level(files, args.out, "gpt2", 1000, None, ["<|endoftext|>"], False,
               legacy_merges=True)
    byte_level(files, args.out, "qwen2", 1000, QWEN2,
               ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], False,
               nfc=True)

    base = llama2_model(files, 1000)
    save(llama2_legacy(base), args.out, "llama2", drop_byte_added)
    phi3(base, args.out)
    gemma(files, args.out)

    meta = Tokenizer.from_str(base.to_str())
    meta.normalizer = None
    meta.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="▁", prepend_scheme="first", split=False)
    meta.decoder = decoders.Sequence([
        decoders.ByteFallback(),
        decoders.Metaspace(replacement="▁", prepend_scheme="first")])
    save(meta, args.out, "llama2_meta", drop_byte_added)

    added = Tokenizer.from_str(base.to_str())
    added.add_tokens([
        AddedToken("return", single_word=True, lstrip=True, rstrip=True,
                   normalized=False),
        AddedToken("the", normalized=True),
        AddedToken("ing", single_word=True, normalized=True),
        AddedToken(" = ", normalized=False),
        AddedToken("\u00e9t\u00e9", normalized=False)])
    added.add_special_tokens([
        AddedToken("<mask>", lstrip=True, normalized=False, special=True),
        AddedToken("[sep]", rstrip=True, normalized=False, special=True)])
    save(added, args.out, "added", drop_byte_added)

    # BpeTrainer hands out the ids of "##x" and "x</w>" tokens in hash
    # order, so train a plain model and derive the prefix/suffix one.
    bert = Tokenizer(models.BPE(unk_token="[UNK]"))
    bert.normalizer = normalizers.Sequence([
        normalizers.NFC(), normalizers.Lowercase(),
        normalizers.Strip(left=True, right=True)])
    bert.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(),
        pre_tokenizers.Digits(individual_digits=True)])
    specials = ["[UNK]", "[CLS]", "[SEP]"]
    tr = trainers.BpeTrainer(vocab_size=260, min_frequency=2,
                             special_tokens=specials, show_progress=False)
    bert.train_from_iterator(rare_chars_dropped(files, 60), tr)
    bert.post_processor = processors.BertProcessing(("[SEP]", 2),
                                                    ("[CLS]", 1))
    bert.decoder = decoders.BPEDecoder(suffix="</w>")
    save(bert, args.out, "bert_bpe", prefix_suffix)


def prefix_suffix(d):
    """Every token x of a plain BPE becomes x, ##x, x</w> and ##x</w>; every
    merge (a, b) the four merges that build those forms."""
    m = d["model"]
    plain = sorted(m["vocab"].items(), key=lambda kv: kv[1])
    vocab = {}
    for tok, _ in plain:
        forms = [tok] if tok.startswith("[") else \
            [tok, "##" + tok, tok + "</w>", "##" + tok + "</w>"]
        for f in forms:
            vocab[f] = len(vocab)
    merges = []
    for a, b in m["merges"]:
        merges += [[a, "##" + b], ["##" + a, "##" + b],
                   [a, "##" + b + "</w>"], ["##" + a, "##" + b + "</w>"]]
    m.update(continuing_subword_prefix="##", end_of_word_suffix="</w>",
             vocab=vocab, merges=merges)


if __name__ == "__main__":
    main()
