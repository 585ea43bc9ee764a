#!/usr/bin/env python3
"""bench_tui.py: key-press to screen latency of the workbench while the
engine quantizes.

Runs `turboquant` (the workbench on the demo model) in a pseudo-terminal of
80x24, calibrates it on a text file, then starts GPTQ W4 g128 quantization
runs (both cores busy: BLAS uses every core) and, while they run, presses
`?` and times how long until the help overlay's title arrives on the
terminal, then closes it (x) and waits for the redraw.  Prints p50,
p90, p99 and max in milliseconds, and the same with the engine idle.

usage: bench/bench_tui.py [--tq ./turboquant] [--calib FILE] [--samples N]
                          [--calib-samples N]
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

MARK = b"Keys (j/k"


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


def press_help(t):
    """One sample: ? until the overlay's title is on the wire, in ms."""
    t.drain(0.0)
    t0 = time.monotonic()
    t.send(b"?")
    seen = b""
    while MARK not in seen:
        seen += t.read(1.0)
        if time.monotonic() - t0 > 10:
            raise SystemExit("no help overlay after 10 s")
    dt = (time.monotonic() - t0) * 1000.0
    t.send(b"x")	# any key but the scrolling ones closes it
    t.read(1.0)		# the redraw without the overlay
    t.drain(0.02)
    return dt


def pct(xs, p):
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def report(name, xs):
    print("%-34s n=%4d  p50 %6.2f  p90 %6.2f  p99 %6.2f  max %6.2f ms" %
          (name, len(xs), pct(xs, 50), pct(xs, 90), pct(xs, 99), max(xs)))


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--tq", default=os.path.join(here, "..", "turboquant"))
    ap.add_argument("--calib", default=os.path.join(
        here, "..", "..", "shared", "data", "wikitext2-valid.txt"))
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--calib-samples", type=int, default=32)
    a = ap.parse_args()

    t = Term([a.tq])
    t.wait(b"blocks)", 60)
    t.drain()
    idle = [press_help(t) for _ in range(100)]
    # calibration (needed by GPTQ); samples taken meanwhile too
    t.send(b"c\x15" + ("%s %d 512\r" % (a.calib, a.calib_samples)).encode())
    t.wait(b"calibrate", 30)
    calib = []
    while b"calibrated in" not in t.buf[-20000:]:
        calib.append(press_help(t))
    t.drain()
    t.send(b"pw4-gptq\r")
    t.wait(b"w4-gptq", 10)
    busy, runs = [], 0
    loads = []
    while len(busy) < a.samples and runs < 7:
        t.buf = b""
        t.send(b"r")
        t.wait(b"quantize", 30)
        runs += 1
        while b"quantized in" not in t.buf[-20000:]:
            busy.append(press_help(t))
            if len(busy) % 25 == 0:
                loads.append(os.getloadavg()[0])
        t.drain()
    t.send(b"q")
    try:
        os.waitpid(t.pid, 0)
    except ChildProcessError:
        pass
    print("workbench key latency: ? pressed -> help overlay on the "
          "terminal (80x24 pty)")
    report("idle", idle)
    report("during calibration", calib)
    report("during GPTQ quantization (%d runs)" % runs, busy)
    if loads:
        print("load average during quantization: %.2f .. %.2f on %d cores"
              % (min(loads), max(loads), os.cpu_count()))


if __name__ == "__main__":
    main()
