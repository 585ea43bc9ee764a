"""smollm2_tokenizer.py: our tokenizer rebuilt from a real GGUF's metadata
(SmolLM2 135M, tokenizer.ggml.pre "smollm": digits split one by one, then
GPT-2's regex) gives llama.cpp's token ids.

On the first --bytes bytes of every corpus (wikitext2-*.txt, linux-*.txt)
and a middle slice of each, and on hard strings (digit runs, CJK, emoji,
whitespace runs, CRLF, contractions, special tokens): `turboquant
tokenize` on the GGUF against llama.cpp's tokenizer (the llama_cpp
bindings, vocab only), with and without special tokens.  Then, with
--edit (tests/gguf_edit), the same file under one pre-tokenizer name of
each of llama.cpp's kinds (regex lists and ignore_merges), on corpus heads
and the hard strings: llama.cpp's ids again.  TAP on stdout,
numbered after --start checks of the caller's.
"""
import argparse
import glob
import json
import os
import sys
import tempfile

from llama_cpp import Llama

from interop import Tap, run

HARD = [
    "12345678901234567890 3.14159 1,000,000 0x7fff 2024-01-31",
    "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u65e5\u672c\u8a9e\u306e"
    "\u30c6\u30ad\u30b9\u30c8 \ud55c\uad6d\uc5b4",
    "emoji \U0001f600\U0001f468\u200d\U0001f469\u200d\U0001f467 "
    "\u2764\ufe0f flags \U0001f1eb\U0001f1f7",
    "a  b   c    d\t\te\n\n\nf      \n   g   ",
    "line one\r\nline two\r\n\r\nend\r",
    "I'm sure they'll say it's what we'd've done; DON'T SHOUT, "
    "you're WE'RE",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "   leading and trailing spaces   ",
    "caf\u00e9 na\u00efve \u00fcber \u0661\u0662\u0663 \u00bd \u2167 "
    "\u0e01\u0e02 \u0928\u092e\u0938\u094d\u0924\u0947",
    "x\u00a0y\u2003z\u3000w \u200b",
]


# One name per llama.cpp pre-tokenizer kind (regex list, ignore_merges).
KINDS = [
    "default", "minicpm5", "llama-bpe", "dbrx", "jais-2", "deepseek-llm",
    "deepseek-coder", "deepseek-v3", "spark2_5", "youtu", "falcon",
    "gpt-2", "qwen2", "qwen35", "bloom", "viking", "tekken", "chameleon",
    "gpt-4o", "granite-embed-multi-97m", "superbpe", "bailingmoe",
    "seed-coder", "ufakzeka", "laguna", "exaone-moe", "glm4",
]


def differ(ours, theirs):
    """'' when the same, else where they part."""
    if ours == theirs:
        return ""
    k = 0
    while k < min(len(ours), len(theirs)) and ours[k] == theirs[k]:
        k += 1
    return ("first difference at id %d of %d/%d: ours %s, llama.cpp's %s"
            % (k, len(ours), len(theirs), ours[k:k + 8], theirs[k:k + 8]))


def ids_ours(tq, gguf, path, special):
    cmd = [tq, "tokenize", gguf, "--text", path, "--json"]
    if not special:
        cmd.append("--no-special")
    return json.loads(run(cmd))["ids"]


def kinds(a, tap, texts, tmp):
    """Every kind of pre-tokenizer on the same vocabulary: the texts
    joined by blank lines, one run of each tokenizer per kind."""
    b = b"\n\n".join(t for _, t in texts)
    path = os.path.join(tmp, "joined")
    with open(path, "wb") as f:
        f.write(b)
    gguf = os.path.join(tmp, "pre.gguf")
    for pre in KINDS:
        run([a.edit, a.gguf, gguf, "--str", "tokenizer.ggml.pre", pre])
        llm = Llama(model_path=gguf, vocab_only=True, verbose=False)
        ours = ids_ours(a.tq, gguf, path, 0)
        theirs = llm.tokenize(b, add_bos=False, special=True)
        del llm
        os.remove(gguf)
        tap.ok(ours == theirs, "pre-tokenizer \"%s\": llama.cpp's %d ids "
               "on %d texts joined" % (pre, len(theirs), len(texts)),
               differ(ours, theirs))


def slices(shared, nbytes):
    """(name, bytes): the head and a middle slice of every corpus."""
    out = []
    for pat in ("wikitext2-*.txt", "linux-*.txt"):
        for path in sorted(glob.glob(os.path.join(shared, pat))):
            with open(path, "rb") as f:
                data = f.read()
            mid = len(data) // 2
            for where, b in (("head", data[:nbytes]),
                             ("middle", data[mid:mid + nbytes])):
                # whole UTF-8 characters only
                b = b.decode("utf-8", "ignore").encode("utf-8")
                out.append(("%s %s" % (os.path.basename(path), where), b))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for req in ("--tq", "--gguf", "--shared"):
        ap.add_argument(req, required=True)
    ap.add_argument("--bytes", type=int, default=20000)
    ap.add_argument("--edit", help="tests/gguf_edit: also every kind")
    ap.add_argument("--start", type=int, default=0,
                    help="checks already printed by the caller")
    a = ap.parse_args()

    llm = Llama(model_path=a.gguf, vocab_only=True, verbose=False)
    texts = slices(a.shared, a.bytes)
    texts += [("hard string %d" % i, s.encode("utf-8"))
              for i, s in enumerate(HARD)]
    tap = Tap(a.start)
    total = same = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "text")
        for name, b in texts:
            with open(path, "wb") as f:
                f.write(b)
            for special in (0, 1):
                ours = ids_ours(a.tq, a.gguf, path, special)
                # Special tokens in the text are tokens in both modes,
                # as Hugging Face's tokenizers do.
                theirs = llm.tokenize(b, add_bos=bool(special),
                                      special=True)
                total += 1
                same += ours == theirs
                tap.ok(ours == theirs, "%s%s: %d ids, llama.cpp's" %
                       (name, ", special tokens" if special else "",
                        len(ours)), differ(ours, theirs))
        print("# %d of %d texts tokenized exactly as llama.cpp does" %
              (same, total))
        if a.edit:
            kinds(a, tap, [t for t in texts if "middle" not in t[0]], tmp)
    print("1..%d" % tap.n)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
