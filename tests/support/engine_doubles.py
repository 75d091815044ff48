"""Doubles for the engine's ports other than the server: files in memory and a clock that moves only when
slept on; and ``until``, which lets the event loop run until something has happened.

Stdlib and the engine only, like the engine itself, so they also run under Pyodide
(``tests/unit/engine/test_pyodide.py``). The server's double is ``memory_server.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from frontend.engine.ports import Clock

# ---------------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------------


class BytesSource:
    """A ``FileSource`` over bytes (random access only). Counts reads and the largest one."""

    def __init__(self, data: bytes, name: str = "file.bin", last_modified: float = 0.0) -> None:
        self.data = data
        self._name = name
        self._last_modified = last_modified
        self.reads = 0
        self.largest_read = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def last_modified(self) -> float:
        return self._last_modified

    async def read(self, start: int, end: int) -> bytes:
        if not 0 <= start <= end <= len(self.data):
            raise OSError(f"read [{start}, {end}) outside a file of {len(self.data)} bytes")
        self.reads += 1
        self.largest_read = max(self.largest_read, end - start)
        return self.data[start:end]


class StreamingBytesSource(BytesSource):
    """A ``StreamingFileSource``: ``blocks`` yields pieces of the given sizes in turn (like a stream reader,
    whose pieces need not align with chunks), or of ``block_size`` when no sizes are given."""

    def __init__(self, data: bytes, name: str = "file.bin", piece_sizes: Sequence[int] = ()) -> None:
        super().__init__(data, name)
        self.piece_sizes = list(piece_sizes)

    async def blocks(self, block_size: int) -> AsyncIterator[bytes]:
        pos, turn = 0, 0
        while pos < len(self.data):
            size = self.piece_sizes[turn % len(self.piece_sizes)] if self.piece_sizes else block_size
            turn += 1
            piece = self.data[pos : pos + max(1, size)]
            self.reads += 1
            self.largest_read = max(self.largest_read, len(piece))
            pos += len(piece)
            yield piece


# ---------------------------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------------------------


class FakeClock:
    """Time that moves only when someone sleeps. ``random`` is fixed, so backoff waits are exact."""

    def __init__(self, random: float = 0.5) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self.rnd = random
        self.on_sleep: Callable[[float], None] | None = None

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        await asyncio.sleep(0)

    def clock(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep, random=lambda: self.rnd)


async def until(condition: Callable[[], bool], what: str, steps: int = 10_000) -> None:
    """Let the event loop run until ``condition()`` holds (no wall-clock wait); fail after ``steps`` turns."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")
