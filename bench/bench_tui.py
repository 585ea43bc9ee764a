#!/usr/bin/env python3
"""bench_tui.py: key-press to screen latency of the workbench while the
engine quantizes.

Runs `turboquant` (the workbench on the demo model, or on MODEL with
--model, e.g. SmolLM2's GGUF) in a pseudo-terminal of 80x24, calibrates
it on a text file, then starts GPTQ W4 quantization runs (both cores busy:
BLAS uses every core) and, while they run, presses keys in turn and times
how long until their effect arrives on the terminal: `?` until the help
overlay's title (then x closes it), `H` until the heat map's title (then 1
goes back), and `F` until the message that every block is folded, or
opened (it alternates).  Prints p50, p90, p99 and max in milliseconds per
phase (idle, calibration, quantization), all keys together and each key.

usage: bench/bench_tui.py [--tq ./turboquant] [--model MODEL]
                          [--calib FILE] [--samples N] [--calib-samples N]
                          [--seqlen L] [--runs R]
"""
import argparse
import os
import pty
import select
import signal
import struct
import termios
import fcntl
import time

# Each probe: the key, what shows it worked (any of), and the key that
# undoes it (not timed).  F's message alternates between folding and
# opening.
PROBES = [
    (b"?", [b"Keys"], b"x"),
    (b"H", [b"heat map:"], b"1"),
    (b"F", [b"folded: one row", b"opened"], None),
]


class Term:
    def __init__(self, argv, cols=80, rows=24):
        pid, fd = pty.fork()
        if pid == 0:
            env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8",
                       LC_ALL="C.UTF-8")
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        self.pid, self.fd, self.buf = pid, fd, b""

    def read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return b""
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return b""
        self.buf = (self.buf + data)[-200000:]
        return data

    def send(self, s):
        os.write(self.fd, s if isinstance(s, bytes) else s.encode())

    def wait(self, needle, timeout=600.0):
        """Reads until needle shows up in the output since the call."""
        end = time.monotonic() + timeout
        seen = b""
        while time.monotonic() < end:
            seen += self.read(0.05)
            if needle in seen:
                return True
        raise SystemExit("timed out waiting for %r; tail: %r" %
                         (needle, self.buf[-400:]))

    def drain(self, quiet=0.03):
        while self.read(quiet):
            pass


def press(t, probe):
    """One sample of probe: its key until its mark is on the wire, in ms."""
    key, marks, undo = probe
    t.drain(0.0)
    t0 = time.monotonic()
    t.send(key)
    seen = b""
    while not any(m in seen for m in marks):
        seen += t.read(1.0)
        if time.monotonic() - t0 > 10:
            raise SystemExit("no %r after %r in 10 s" % (marks, key))
    dt = (time.monotonic() - t0) * 1000.0
    if undo is not None:
        t.send(undo)
        t.read(1.0)     # the redraw without it
    t.drain(0.02)
    return dt


class Samples:
    """Presses the probes in turn; the latencies of each key and all."""

    def __init__(self):
        self.by_key = {p[0]: [] for p in PROBES}
        self.n = 0

    def take(self, t):
        probe = PROBES[self.n % len(PROBES)]
        self.by_key[probe[0]].append(press(t, probe))
        self.n += 1

    def all(self):
        return [x for xs in self.by_key.values() for x in xs]


def pct(xs, p):
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def report(name, xs):
    if not xs:
        return
    print("%-40s n=%4d  p50 %6.2f  p90 %6.2f  p99 %6.2f  max %6.2f ms" %
          (name, len(xs), pct(xs, 50), pct(xs, 90), pct(xs, 99), max(xs)))


def report_phase(name, s):
    report(name, s.all())
    for key, xs in s.by_key.items():
        report("  %s" % key.decode(), xs)


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--tq", default=os.path.join(here, "..", "turboquant"))
    ap.add_argument("--model", default=None,
                    help="a model directory or .gguf file (default: the "
                    "demo)")
    ap.add_argument("--calib", default=os.path.join(
        here, "..", "..", "shared", "data", "wikitext2-valid.txt"))
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--calib-samples", type=int, default=32)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--runs", type=int, default=7,
                    help="quantization runs at most")
    a = ap.parse_args()

    argv = [a.tq] if a.model is None else [a.tq, "tui", a.model]
    t = Term(argv)
    t.wait(b"blocks)", 120)
    t.drain()
    idle = Samples()
    for _ in range(99):
        idle.take(t)
    # calibration (needed by GPTQ); samples taken meanwhile too
    t.buf = b""
    t.send(b"c\x15" + ("%s %d %d\r" % (a.calib, a.calib_samples,
                                       a.seqlen)).encode())
    t.wait(b"calibrate", 30)
    calib = Samples()
    while b"calibrated in" not in t.buf[-20000:]:
        calib.take(t)
    t.drain()
    t.send(b"pw4-gptq\r")
    t.wait(b"w4-gptq", 10)
    busy, runs = Samples(), 0
    loads = []
    t0 = time.monotonic()
    while busy.n < a.samples and runs < a.runs:
        t.buf = b""
        t.send(b"r")
        t.wait(b"quantize", 30)
        runs += 1
        while b"quantized in" not in t.buf[-20000:]:
            busy.take(t)
            if busy.n % 25 == 0:
                loads.append(os.getloadavg()[0])
        t.drain()
    quant_s = time.monotonic() - t0
    t.send(b"q")
    t.read(1.0)
    t.send(b"y")    # it asks: the variants are not saved
    try:
        os.waitpid(t.pid, 0)
    except ChildProcessError:
        pass
    print("workbench key latency on %s: a key pressed -> its effect on "
          "the terminal (80x24 pty)" % (a.model or "the demo model"))
    report_phase("idle", idle)
    report_phase("during calibration", calib)
    report_phase("during GPTQ quantization (%d runs, %.0f s)" %
                 (runs, quant_s), busy)
    if loads:
        print("load average during quantization: %.2f .. %.2f on %d cores"
              % (min(loads), max(loads), os.cpu_count()))


if __name__ == "__main__":
    main()
