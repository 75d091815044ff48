"""The segment plan of a download, and which segments are still missing (the download's ``chunking.py`` and
``needed.py`` in one: a download's plan needs no hashing, only the file's size).

A file of ``size`` bytes is cut into segments of ``segment_size`` bytes (the last one shorter), each fetched
with one range request ``Range: bytes=<start>-<end - 1>`` (RFC 9110 section 14.1.2: "the first and last
byte positions are inclusive"). An empty file has no segment. A server that does not take ranges gets one
"segment" for the whole file, fetched without ``Range`` (``ranged=False``).

``MissingSegments`` is what is still to fetch, in file order, and which of it is in flight: it only shrinks
while the representation stays the same (a new version starts a new plan).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    index: int
    start: int
    end: int  # exclusive

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class SegmentPlan:
    size: int
    segment_size: int
    ranged: bool = True  # False: the server does not take ranges; one request for the whole file

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"size must not be negative, got {self.size}")
        if self.segment_size < 1:
            raise ValueError(f"segment_size must be positive, got {self.segment_size}")

    @property
    def count(self) -> int:
        if not self.ranged:
            return 1 if self.size else 0
        return -(-self.size // self.segment_size)

    def segment(self, index: int) -> Segment:
        if not 0 <= index < self.count:
            raise IndexError(f"segment {index} of {self.count}")
        if not self.ranged:
            return Segment(0, 0, self.size)
        start = index * self.segment_size
        return Segment(index, start, min(start + self.segment_size, self.size))

    def segments(self) -> list[Segment]:
        return [self.segment(i) for i in range(self.count)]

    def done_prefix(self, done: Iterable[int]) -> int:
        """Bytes from the start of the file whose segments are all done."""
        have = set(done)
        index = 0
        while index < self.count and index in have:
            index += 1
        return self.size if index >= self.count else self.segment(index).start


class MissingSegments:
    """The segments of ``plan`` not on disk yet, in file order, and which of them are in flight."""

    def __init__(self, plan: SegmentPlan, done: Iterable[int] = ()) -> None:
        self.plan = plan
        have = set(done)
        self._missing: dict[int, Segment] = {s.index: s for s in plan.segments() if s.index not in have}
        self.bytes = sum(s.size for s in self._missing.values())
        self.in_flight: set[int] = set()

    def __len__(self) -> int:
        return len(self._missing)

    @property
    def done(self) -> frozenset[int]:
        return frozenset(i for i in range(self.plan.count) if i not in self._missing)

    def next_free(self) -> Segment | None:
        """The first missing segment not in flight (at most ``parallel`` are in flight: this stops early)."""
        return next((s for i, s in self._missing.items() if i not in self.in_flight), None)

    def landed(self, index: int) -> None:
        """The segment's bytes are written (and checked): it is no longer missing."""
        segment = self._missing.pop(index, None)
        if segment is not None:
            self.bytes -= segment.size
