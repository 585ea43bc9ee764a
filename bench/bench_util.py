"""bench_util.py: what the Python peers measure the way bench/bench_util.c does."""

import os
import resource
import time


def load_average():
    """The 1-minute load average, or -1."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return -1.0


def cpu_sample():
    """(wall, machine-wide busy CPU seconds, this process's CPU seconds)."""
    busy = None
    try:
        with open("/proc/stat") as f:
            # cpu user nice system idle iowait irq softirq steal
            v = [int(x) for x in f.readline().split()[1:9]]
        busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), busy, ru.ru_utime + ru.ru_stime


def cpu_others(a, b):
    """CPUs other processes kept busy on average between samples a and b (-1 if unknown)."""
    if a[1] is None or b[1] is None or b[0] <= a[0]:
        return -1.0
    return max(0.0, (b[1] - a[1] - (b[2] - a[2])) / (b[0] - a[0]))
