#!/usr/bin/env python3
"""tokenizer_hf.py: the tokenizer (core/tok*.c, formats/tokenizer_json.c)
against Hugging Face tokenizers (TAP).

Run by tests/tokenizer_hf.sh; by hand:

    "$PYTHON" tests/tokenizer_hf.py --dump tests/tok_dump \\
        --data ../shared/data --tokenizers tests/data/tokenizers \\
        [--extra assets/demo/tokenizer.json] [--random N] [--seed S]

For every tokenizer (each tests/data/tokenizers/*/tokenizer.json plus
every --extra file that exists) and every *.txt of --data, the whole file
is encoded by HF (add_special_tokens=False) and by tok_dump, and the id
lists must be identical; then HF's decode of those ids must equal ours,
with and without skip_special_tokens.  Also compared: the id -> token
table, n_vocab and BOS, a list of adversarial strings (with and without
special tokens), raw byte strings that are not valid UTF-8 (HF sees them
decoded with errors="replace"), and seeded random strings built from
troublesome characters.  Every mismatch is shown with some context.
"""

import argparse
import glob
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

from tokenizers import Tokenizer

ADVERSARIAL = [
    "", " ", "  ", "\n", "\r\n", "a\r\nb\r\n\r\n", "\t\tx\t", "x \t y",
    "Hello world", " Hello world", "Hello world ", "  Hello   world  ",
    "DON'T WON'T I'M YOU'RE WE'VE HE'LL SHE'D", "don't it's they're",
    "'s 's 'S 'ſ 'K 'ﬆ", "ſtraße STRASSE Straße", "\u212a Kelvin \u212b",
    "no\u00a0break\u00a0space", "ideographic\u3000space", "line\u2028sep",
    "para\u2029sep", "next\u0085line", "mongolian\u180evowel\u180e",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom", "\x0b\x0c\x1c\x1d\x1e\x1f",
    "e\u0301 e\u0301\u0327 \u1e0b\u0323 q\u0307\u0323 a\u0328\u0301",
    "\u0041\u030a \u212b \u00c5 \u2126 \u03a9", "\u0958\u0959 \u0f73 \u0344",
    "\u1100\u1161 \u1100\u1161\u11a8 \uac00\u11a8 \ud55c\uad6d\uc5b4",
    "\u1112\u1161\u11ab\u1100\u116e\u11a8 \u110b\u1165",
    "x\u0300\u0316\u0301\u0317 x\u05b0\u05b1\u0591",
    "emoji 😀👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️", "CJK 中文字符 日本語のテキスト 한국어",
    "12345678901234567890 3.14159 1,000,000 ½ ² ³",
    "Arabic-Indic ٠١٢٣٤٥٦٧٨٩ ۰۱۲۳ Devanagari ०१२३",
    "Ⅻ roman ⅻ numerals ↉", "İstanbul ı I i İ", "ΣΑΣ σας ς",
    "mixed: int main(void) { return 0; }\n",
    "#include <linux/module.h>\nstatic int x = 0x1F;\n",
    "tabs\tand\tspaces    and\n\n\nnewlines\n",
    "trailing spaces   \n   leading", "ends with space ", " ",
    "a" * 300, "ab" * 200 + " " + "xyz" * 100,
    "The quick brown fox jumps over the lazy dog. " * 3,
    "returning return returned =return= return\treturn",
    "the then other bathe", "singing ing ing. ring", "a = b  =  c = d",
    "été étési <mask> x  <mask>y [sep]  z [sep]", "<unk><s></s>",
    "<0x41><0xE2>", "\u2581 \u2581\u2581x \u2581", "Ġ ĉ Ċ",
    "\ufffd replacement \ufffd", "\U0010ffff \U000e0001 \U0001d11e",
    "\u0300 leading combining", "x\u0345\u0301",
    # Chat templates of today's families (gemma, phi3, smollm3 fixtures).
    "<bos><start_of_turn>user\nHi  there\t\n\n<end_of_turn>\n"
    "<start_of_turn>model\n<h1>x</h1>\u2581\u2581y<end_of_turn>\n",
    "<s><|system|>\n You are\n<|end|>\n<|user|>  \n\tHi<|end|>\n"
    "<|assistant|>\nOK.</s> \n<|endoftext|> x",
    "<|im_start|>system\nok<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
    "<|im_start|>assistant\n<think>\n\n</think>\n<tool_call>{}</tool_call>",
]

POOL = (list("aAbBzZ09 _-'.,;:!?\"()[]{}<>/\\@#$%^&*+=|~`") +
        ["\t", "\n", "\r", "\r\n", "  ", "\u00a0", "\u3000", "\u2028",
         "\u2029", "\u0085", "\u180e", "\u200b", "\ufeff", "\x0b", "\x0c",
         "\u0301", "\u0327", "\u0323", "\u0308", "\u05b0", "\u0591",
         "\u0345", "\u1100", "\u1161", "\u11a8", "\uac00", "\ud55c", "e",
         "\u0898", "\u1abf", "\U00011935\U00011930", "\U00011938",
         "\u00e9", "\u00c5", "\u212b", "\u2126", "\u0958", "\u0f73",
         "\u017f", "\u212a", "\u0130", "\u0131", "\u03a3", "\u03c2",
         "\u4e2d", "\u6587", "\u3042", "\u0661", "\u0662", "\u06f1",
         "\u0967", "\u216b", "\u00bd", "\u00b2", "😀", "👍🏽", "\u200d",
         "'s", "'S", "'ll", "'LL", "'d", "'ve", "'re", "'m", "'t",
         "DON'T", "don't", "return", "the", "ing", " = ", "été",
         "<mask>", "[sep]", "\u2581", "Ġ", "<0x41>", "12345", "1234567"])


def tap(n, ok, name, diag=()):
    print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
    for line in diag:
        print("# " + line)
    sys.stdout.flush()
    return ok


def run(args, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=False, **kw)


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n if len(a) != len(b) else -1


def id_diag(tok, hf, ours, what):
    i = first_diff(hf, ours)
    lo = max(0, i - 5)

    def show(ids):
        return " ".join("%d:%r" % (x, tok.id_to_token(x)) for x in ids[lo:i + 5])
    return ["%s: %d ids from HF, %d from us; first difference at %d" %
            (what, len(hf), len(ours), i),
            "HF:  " + show(hf), "us:  " + show(ours)]


def text_diag(hf, ours, what):
    i = first_diff(hf, ours)
    return ["%s: %d chars from HF, %d from us; first difference at %d" %
            (what, len(hf), len(ours), i),
            "HF:  %r" % hf[max(0, i - 40):i + 40],
            "us:  %r" % ours[max(0, i - 40):i + 40]]


class Checker:
    def __init__(self, dump, tmp):
        self.dump = dump
        self.tmp = tmp
        self.n = 0
        self.failed = 0

    def check(self, ok, name, diag=()):
        self.n += 1
        if not tap(self.n, ok, name, diag if not ok else ()):
            self.failed += 1

    def c_encode_file(self, path, tfile, special=False):
        args = [self.dump, "-b", "-t"] + (["-s"] if special else [])
        r = run(args + [path, tfile])
        if r.returncode != 0:
            return None, r.stderr.decode(errors="replace").strip()
        ids = list(struct.unpack("<%di" % (len(r.stdout) // 4), r.stdout))
        return ids, r.stderr.decode(errors="replace").strip()

    def c_decode(self, path, ids, skip):
        f = os.path.join(self.tmp, "ids.bin")
        with open(f, "wb") as fh:
            fh.write(struct.pack("<%di" % len(ids), *ids))
        r = run([self.dump, "-d", "-b"] + (["-k"] if skip else []) + [path, f])
        if r.returncode != 0:
            return None, r.stderr.decode(errors="replace").strip()
        return r.stdout.decode("utf-8"), ""

    def c_batch(self, path, items, flag, decode=False):
        f = os.path.join(self.tmp, "batch.json")
        with open(f, "w", encoding="utf-8") as fh:
            json.dump(items, fh, ensure_ascii=False)
        args = [self.dump, "-J" if decode else "-j"]
        if flag:
            args.append("-k" if decode else "-s")
        r = run(args + [path, f])
        if r.returncode != 0:
            return None, r.stderr.decode(errors="replace").strip()
        return json.loads(r.stdout.decode("utf-8")), ""


def batch_check(ck, name, path, tok, strings, special):
    ours, err = ck.c_batch(path, strings, special)
    if ours is None:
        ck.check(False, name, [err])
        return None
    diag = []
    bad = 0
    hf_all = []
    for s, mine in zip(strings, ours):
        hf = tok.encode(s, add_special_tokens=special).ids
        hf_all.append(hf)
        if hf != mine:
            bad += 1
            if len(diag) < 12:
                diag += ["string %r" % s[:120]] + id_diag(tok, hf, mine, "ids")
    ck.check(bad == 0, "%s: %d strings, %d mismatches" %
             (name, len(strings), bad), diag)
    return hf_all


def decode_batch_check(ck, name, path, tok, idlists):
    diag = []
    bad = 0
    for skip in (False, True):
        ours, err = ck.c_batch(path, idlists, skip, decode=True)
        if ours is None:
            ck.check(False, name, [err])
            return
        for ids, mine in zip(idlists, ours):
            hf = tok.decode(ids, skip_special_tokens=skip)
            if hf != mine:
                bad += 1
                if len(diag) < 12:
                    diag += ["ids %r skip=%s" % (ids[:30], skip)] + \
                        text_diag(hf, mine, "text")
    ck.check(bad == 0, "%s: %d id lists x 2, %d mismatches" %
             (name, len(idlists), bad), diag)


def test_tokenizer(ck, path, corpora, nrandom, seed):
    name = os.path.basename(os.path.dirname(path)) or path
    tok = Tokenizer.from_file(path)

    # The id table, n_vocab and BOS.
    r = run([ck.dump, "-i", path])
    info = json.loads(r.stdout) if r.returncode == 0 else {}
    vocab = tok.get_vocab(with_added_tokens=True)
    nv = max(vocab.values()) + 1 if vocab else 0
    with_bos = tok.encode("x", add_special_tokens=True).ids
    without = tok.encode("x", add_special_tokens=False).ids
    bos = with_bos[0] if len(with_bos) > len(without) and \
        with_bos[1:1 + len(without)] == without else -1
    table = [tok.id_to_token(i) for i in range(nv)]
    diag = [r.stderr.decode(errors="replace")]
    bad = [i for i, (a, b) in enumerate(zip(table, info.get("tokens", [])))
           if a != b]
    diag += ["id %d: HF %r, us %r" % (i, table[i], info["tokens"][i])
             for i in bad[:10]]
    ck.check(info.get("n_vocab") == nv and info.get("bos") == bos and
             not bad and info.get("tokens") is not None and
             len(info["tokens"]) == nv and not diag[0],
             "%s: n_vocab %s (HF %d), bos %s (HF %d), id -> token" %
             (name, info.get("n_vocab"), nv, info.get("bos"), bos), diag)

    for tfile in corpora:
        base = os.path.basename(tfile)
        with open(tfile, "rb") as fh:
            text = fh.read().decode("utf-8", errors="replace")
        t0 = time.time()
        hf = tok.encode(text, add_special_tokens=False).ids
        t_hf = time.time() - t0
        mine, msg = ck.c_encode_file(path, tfile)
        if mine is None:
            ck.check(False, "%s %s: encode" % (name, base), [msg])
            ck.check(False, "%s %s: decode" % (name, base), ["not run"])
            continue
        ck.check(hf == mine, "%s %s: encode %d ids (HF %.2f s; ours %s)" %
                 (name, base, len(hf), t_hf,
                  msg.replace("\n", "; ")), id_diag(tok, hf, mine, base))
        diag = []
        for skip in (False, True):
            dh = tok.decode(hf, skip_special_tokens=skip)
            dc, msg = ck.c_decode(path, hf, skip)
            if dc != dh:
                diag += [msg] if dc is None else \
                    text_diag(dh, dc, "skip_special=%s" % skip)
        ck.check(not diag, "%s %s: decode" % (name, base), diag)

    # Adversarial strings, plus every added token inside some text.
    strings = list(ADVERSARIAL)
    for t in tok.get_added_tokens_decoder().values():
        c = t.content
        strings += [c, " " + c + " ", "a" + c + "b", c + c, "x " + c,
                    c + "\n", "  " + c + "  y", "word" + c + "word"]
    hf_ids = batch_check(ck, name + ": adversarial, no specials", path, tok,
                         strings, False)
    batch_check(ck, name + ": adversarial, add_special_tokens", path, tok,
                strings, True)

    # Decoding: those ids, every single id, and random id lists.
    rnd = random.Random(seed)
    idlists = (hf_ids or []) + [[i] for i in range(nv)]
    idlists += [[rnd.randrange(0, nv + 3) for _ in range(rnd.randrange(1, 12))]
                for _ in range(300)]
    decode_batch_check(ck, name + ": decode", path, tok, idlists)

    # Random strings from a pool of troublesome pieces.
    pool = POOL + [t.content for t in tok.get_added_tokens_decoder().values()]
    strings = ["".join(rnd.choice(pool) for _ in range(rnd.randrange(1, 24)))
               for _ in range(nrandom)]
    batch_check(ck, name + ": random strings (seed %d)" % seed, path, tok,
                strings, False)

    # Raw bytes that are not UTF-8: we must see what HF sees after
    # decode(errors="replace").
    blobs = [b"abc\xffdef", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80x",
             b"\xc0\xafslash", b"\xf5\x80\x80\x80", b"ok \xe2\x82\xac \xe2\x28\xa1",
             b"\x80\x80\x80", b"nul\x00byte", b"\xef\xbb\xbfbom", b"a\r\n\xfe\xff"]
    diag = []
    f = os.path.join(ck.tmp, "raw.bin")
    for blob in blobs:
        with open(f, "wb") as fh:
            fh.write(blob)
        for special in (False, True):
            hf = tok.encode(blob.decode("utf-8", errors="replace"),
                            add_special_tokens=special).ids
            mine, msg = ck.c_encode_file(path, f, special)
            if mine != hf:
                diag += ["bytes %r special=%s" % (blob, special)] + \
                    ([msg] if mine is None else id_diag(tok, hf, mine, "ids"))
    ck.check(not diag, name + ": invalid UTF-8 and NUL bytes", diag)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", required=True, help="the tok_dump program")
    ap.add_argument("--data", required=True, help="directory of *.txt corpora")
    ap.add_argument("--tokenizers", required=True,
                    help="directory of <name>/tokenizer.json fixtures")
    ap.add_argument("--extra", action="append", default=[],
                    help="another tokenizer.json, used when it exists")
    ap.add_argument("--random", type=int, default=3000,
                    help="random strings per tokenizer")
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()

    paths = sorted(glob.glob(os.path.join(args.tokenizers, "*",
                                          "tokenizer.json")))
    paths += [p for p in args.extra if os.path.isfile(p)]
    corpora = sorted(glob.glob(os.path.join(args.data, "*.txt")))
    if not paths or not corpora:
        print("1..0 # SKIP no tokenizers or no corpora")
        return 0
    per = 1 + 2 * len(corpora) + 5
    print("1..%d" % (per * len(paths)))
    print("# corpora: " + ", ".join(os.path.basename(c) for c in corpora))
    with tempfile.TemporaryDirectory(prefix="tokhf") as tmp:
        ck = Checker(args.dump, tmp)
        for p in paths:
            before = ck.n
            try:
                test_tokenizer(ck, p, corpora, args.random, args.seed)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # HF panics too; keep the plan
                while ck.n < before + per:
                    ck.check(False, "%s: %s" % (p, e))
    return 1 if ck.failed else 0


if __name__ == "__main__":
    sys.exit(main())
