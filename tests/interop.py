"""interop.py: TAP lines and commands for the Python interop tests."""
import subprocess
import sys


class Tap:
    """Numbered ok / not ok lines with # diagnostics."""

    def __init__(self, start=0):
        self.n = start
        self.failed = 0

    def ok(self, cond, what, diag=""):
        self.n += 1
        print(("ok" if cond else "not ok") + " %d - %s" % (self.n, what))
        for line in diag.splitlines():
            print("# " + line)
        self.failed += 0 if cond else 1
        sys.stdout.flush()


def run(cmd):
    """Runs cmd; its stdout, or an exception with its stderr."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r.stdout
