"""Progress figures: percent by bytes and by chunks, speed over a moving window, time left.

Pure functions and one small meter; the controller feeds it the bytes IT sent and the server confirmed
(not the bytes the server already had), and resets it when a run (re)starts, so paused time does not count.
"""

from __future__ import annotations

from collections import deque


def byte_percent(done: int, total: int, finished: bool = False) -> float:
    """0..100 by bytes. An empty file is 0 until finished, then 100."""
    if total <= 0:
        return 100.0 if finished else 0.0
    return min(100.0, 100.0 * done / total)


def chunk_percent(done: int, total: int) -> int:
    """The seed's figure: ``Math.ceil(((total - needs.length) / total) * 100)``; 0 until there is a plan."""
    if total <= 0:
        return 0
    return -(-100 * done // total)


def eta(remaining: int, speed: float | None) -> float | None:
    """Seconds left at ``speed`` bytes/s; None when the speed is unknown or zero."""
    if remaining <= 0:
        return 0.0
    if not speed or speed <= 0:
        return None
    return remaining / speed


class RateMeter:
    """Bytes per second over the last ``window`` seconds.

    Samples are (time, running total). The oldest sample kept is the last one at or before the window's
    start, so the rate always spans about one window once enough time has passed. The rate is measured up
    to ``now``: when nothing arrives for a while it falls, and the ETA grows, as it should.
    """

    def __init__(self, window: float = 5.0) -> None:
        if window <= 0:
            raise ValueError(f"window must be positive, got {window}")
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def reset(self, now: float, total: int = 0) -> None:
        self._samples.clear()
        self._samples.append((now, total))

    def add(self, now: float, total: int) -> None:
        if not self._samples:
            self._samples.append((now, total))
            return
        self._samples.append((now, total))
        while len(self._samples) >= 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def rate(self, now: float) -> float | None:
        """Bytes/s, or None before two samples or when no time has passed."""
        if len(self._samples) < 2:
            return None
        t0, b0 = self._samples[0]
        elapsed = now - t0
        if elapsed <= 0:
            return None
        return (self._samples[-1][1] - b0) / elapsed
