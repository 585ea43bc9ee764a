#!/usr/bin/env python3
"""gen_unicode.py: writes core/unicode_data.c, the Unicode tables of core/unicode.c.

Usage (from the top of the source tree):

    "$PYTHON" tools/gen_unicode.py --hf-compat > core/unicode_data.c

PYTHON defaults to python3; the committed file was made with
/opt/tqvenv/bin/python (CPython 3.11, unicodedata 14.0.0) and --hf-compat.

Everything comes from Python's unicodedata module:

  - canonical combining classes (ranges of equal class);
  - full canonical decompositions (applied recursively here, so the C side
    never recurses; Hangul syllables are left to the algorithm);
  - primary composites: pairs (first, second) -> composite for every
    two-character canonical decomposition whose composite survives NFC, which
    drops the composition exclusions, singletons and non-starter
    decompositions without needing CompositionExclusions.txt;
  - simple lowercase mappings, as char::to_lowercase gives them (U+0130 is
    the only one that yields two characters; the C code handles it).

--hf-compat: Hugging Face tokenizers normalizes with the
unicode-normalization-alignments crate, whose tables are Unicode 9.0.  With
this flag the script asks the installed `tokenizers` package which
characters its NFC does not know (combining classes and compositions of
characters assigned after 9.0) and leaves them out, so our NFC gives
exactly what HF gives.  Without the flag the tables are plain
unicodedata.unidata_version.  Output is deterministic either way.
"""

import argparse
import sys
import unicodedata as ud

MAX_CP = 0x110000
SBASE, SCOUNT = 0xAC00, 11172


def chars():
    for cp in range(MAX_CP):
        if 0xD800 <= cp < 0xE000:
            continue
        yield cp


def canon_decomp(cp):
    """Direct canonical decomposition of cp as a list, or None."""
    d = ud.decomposition(chr(cp))
    if not d or d.startswith('<'):
        return None
    return [int(x, 16) for x in d.split()]


def full_decomp(cp, dmap):
    out = []
    for c in dmap.get(cp, [cp]):
        if c in dmap and c != cp:
            out.extend(full_decomp(c, dmap))
        else:
            out.append(c)
    return out


def hf_unknown():
    """Characters HF's NFC treats as plain starters without decomposition."""
    from tokenizers.normalizers import NFC
    nfc = NFC()
    nocc, nodec = set(), set()
    for cp in chars():
        if ud.combining(chr(cp)) == 0:
            continue
        # A mark of class < 230 must move before U+0301, and one of class
        # > 220 after U+0316; if HF leaves either alone, it sees class 0.
        for s in ('x\u0301' + chr(cp), 'x' + chr(cp) + '\u0316'):
            if nfc.normalize_str(s) != ud.normalize('NFC', s):
                nocc.add(cp)
                break
    for cp in chars():
        d = canon_decomp(cp)
        if d is None or SBASE <= cp < SBASE + SCOUNT:
            continue
        s = ''.join(map(chr, d))
        if nfc.normalize_str(s) != ud.normalize('NFC', s) or \
           nfc.normalize_str(chr(cp)) != ud.normalize('NFC', chr(cp)):
            nodec.add(cp)
    return nocc, nodec


def ranges(pairs):
    """[(cp, value)] sorted -> [(lo, hi, value)] of consecutive equal values."""
    out = []
    for cp, v in pairs:
        if out and out[-1][1] == cp - 1 and out[-1][2] == v:
            out[-1][1] = cp
        else:
            out.append([cp, cp, v])
    return out


def lower_runs(maps):
    """[(cp, lower)] -> [(lo, hi, delta, stride)] with lower = cp + delta
    for lo, lo + stride, ... hi."""
    out = []
    for cp, lc in maps:
        delta = lc - cp
        if out:
            lo, hi, d, st = out[-1]
            if d == delta and (cp - hi) in ((st,) if lo != hi else (1, 2)):
                out[-1] = [lo, cp, d, cp - hi]
                continue
        out.append([cp, cp, delta, 1])
    return out


def emit(f, name, ctype, rows, fmt, per_line):
    f.write('const %s %s[] = {\n' % (ctype, name))
    for i in range(0, len(rows), per_line):
        f.write('\t' + ' '.join(fmt(r) for r in rows[i:i + per_line]) + '\n')
    f.write('};\n')
    f.write('const size_t %s_len = %d;\n\n' % (name, len(rows)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--hf-compat', action='store_true',
                    help='drop what HF tokenizers (Unicode 9.0) does not know')
    args = ap.parse_args()

    nocc, nodec = (hf_unknown() if args.hf_compat else (set(), set()))

    ccc = [(cp, ud.combining(chr(cp))) for cp in chars()
           if ud.combining(chr(cp)) and cp not in nocc]
    ccc_r = ranges(ccc)

    dmap = {}
    for cp in chars():
        if SBASE <= cp < SBASE + SCOUNT or cp in nodec:
            continue
        d = canon_decomp(cp)
        if d is not None:
            dmap[cp] = d
    decomp, pool = [], []
    for cp in sorted(dmap):
        full = full_decomp(cp, dmap)
        decomp.append((cp, len(pool), len(full)))
        pool.extend(full)

    comp = []
    for cp, d in sorted(dmap.items()):
        if len(d) == 2 and ud.normalize('NFC', chr(cp)) == chr(cp):
            comp.append((d[0], d[1], cp))
    comp.sort()

    lower = []
    for cp in chars():
        lc = chr(cp).lower()
        if lc != chr(cp) and len(lc) == 1:
            lower.append((cp, ord(lc)))
    lruns = lower_runs(lower)

    f = sys.stdout
    f.write('/*\n * unicode_data.c: Unicode tables for core/unicode.c.\n')
    f.write(' *\n * GENERATED by tools/gen_unicode.py%s from Python %s,\n' %
            (' --hf-compat' if args.hf_compat else '',
             sys.version.split()[0]))
    f.write(' * unicodedata %s.  Do not edit; rerun the script.\n' %
            ud.unidata_version)
    if args.hf_compat:
        f.write(' * Left out to match HF tokenizers (Unicode 9.0 NFC): '
                '%d combining\n * classes, %d decompositions.\n' %
                (len(nocc), len(nodec)))
    f.write(' */\n#include "config.h"\n\n#include <stddef.h>\n'
            '#include <stdint.h>\n\n#include "unicode.h"\n\n')
    f.write('const char tq_unicode_data_version[] = "%s%s";\n\n' %
            (ud.unidata_version, ' (hf-compat)' if args.hf_compat else ''))

    f.write('/* Canonical combining classes: lo, hi, class. */\n')
    emit(f, 'tq_ccc_table', 'struct tq_ucd_ccc', ccc_r,
         lambda r: '{0x%X,0x%X,%d},' % tuple(r), 4)
    f.write('/* Full canonical decompositions: code point, offset into\n'
            ' * tq_decomp_pool, length. */\n')
    emit(f, 'tq_decomp_table', 'struct tq_ucd_decomp', decomp,
         lambda r: '{0x%X,%d,%d},' % r, 5)
    emit(f, 'tq_decomp_pool', 'uint32_t', pool, lambda c: '0x%X,' % c, 8)
    f.write('/* Primary composites: first, second, composite; sorted. */\n')
    emit(f, 'tq_comp_table', 'struct tq_ucd_comp', comp,
         lambda r: '{0x%X,0x%X,0x%X},' % r, 4)
    f.write('/* Simple lowercase: lo, hi, delta, stride. */\n')
    emit(f, 'tq_lower_table', 'struct tq_ucd_lower', lruns,
         lambda r: '{0x%X,0x%X,%d,%d},' % tuple(r), 4)


if __name__ == '__main__':
    main()
