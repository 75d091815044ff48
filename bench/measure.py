"""Measuring a server process from outside, and summarising repeated runs.

- CPU time of a process (all its threads, live and exited): ``utime + stime`` from ``/proc/<pid>/stat``
  (proc(5): fields 14 and 15, in clock ticks);
- peak resident memory: ``VmHWM`` from ``/proc/<pid>/status`` (proc(5): "Peak resident set size");
- a figure over runs: median with min and max; the ratio of two medians measured in the same invocation
  (these machines are shared and noisy: only figures measured side by side compare).
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
MB = 1_000_000  # throughput is in MB/s, decimal, as curl and most tools print it

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (all threads, exited ones included)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5), counted from 1
    return (utime + stime) / CLOCK_TICKS


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size so far (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            value, unit = line.split()[1:3]
            assert unit == "kB", line
            return int(value) * KiB
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


class CpuMeter:
    """CPU seconds a process spends between ``start()`` and ``stop()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._start = 0.0
        self.seconds = 0.0

    def start(self) -> CpuMeter:
        self._start = cpu_seconds(self.pid)
        return self

    def stop(self) -> float:
        self.seconds = cpu_seconds(self.pid) - self._start
        return self.seconds


def mb_per_s(nbytes: int, seconds: float) -> float:
    return nbytes / MB / seconds


def cpu_per_gib(cpu: float, nbytes: int) -> float:
    return cpu / (nbytes / GiB)


@dataclass(frozen=True)
class Stats:
    """A figure over repeated runs."""

    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        return min(self.runs)

    @property
    def max(self) -> float:
        return max(self.runs)

    def as_dict(self) -> dict[str, object]:
        return {"median": self.median, "min": self.min, "max": self.max, "runs": list(self.runs)}


def ratio(ours: Stats, peer: Stats | None) -> float | None:
    """Ours over the peer, median to median; None without a peer or when the peer's median is 0."""
    if peer is None or peer.median == 0:
        return None
    return ours.median / peer.median


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of at least one value."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil(n * p), at least 1
    return ordered[int(rank) - 1]
