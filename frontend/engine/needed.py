"""What the server still needs of a file, as the engine keeps it: ranges of chunk indexes that only shrink.

The server's answers only shrink while it keeps its state, so the engine keeps the intersection of what it
was told, minus each chunk confirmed by a 200 answer. Answers may arrive out of order; a stale one cannot
resurrect a chunk. A handshake's answer starts a new set (the server may have lost chunks meanwhile).
Chunks go in file order, as the seed sends ``needs[0]`` first; the ones in flight are not handed out twice.

Kept as ranges (``wire.needed_ranges``), as our server answers them: each answer costs the engine
O(ranges), not O(chunks), so a 16,000-chunk upload costs per chunk what a 100-chunk one does.
"""

from __future__ import annotations

from wire import needed_ranges
from wire.needed_ranges import Ranges

from .chunking import Chunk, ChunkPlan


class NeededChunks:
    """The chunks of ``plan`` the server still needs, in file order, and which of them are in flight."""

    def __init__(self, plan: ChunkPlan, ranges: Ranges) -> None:
        self._plan = plan
        self.ranges = ranges
        self.in_flight: set[str] = set()  # chunk ids
        self._count = needed_ranges.size(ranges)
        self.bytes = self._bytes(ranges)

    def __len__(self) -> int:
        return self._count

    def next_free(self) -> Chunk | None:
        """The first needed chunk not in flight. (At most ``parallel`` are in flight, so this stops early.)"""
        chunks = self._plan.chunks
        return next(
            (chunks[i] for i in needed_ranges.indexes(self.ranges) if chunks[i].id not in self.in_flight),
            None,
        )

    def confirm(self, chunk_id: str, answer: Ranges) -> None:
        """A 200 for ``chunk_id``: it is stored, and ``answer`` (what is still needed) can only shrink the
        set."""
        ranges = needed_ranges.intersect(self.ranges, answer)
        chunk = self._plan.by_id(chunk_id)
        if chunk is not None:
            ranges = needed_ranges.without(ranges, chunk.index)
        self.ranges = ranges
        self._count = needed_ranges.size(ranges)
        self.bytes = self._bytes(ranges)

    def _bytes(self, ranges: Ranges) -> int:
        """Bytes of the chunks in ``ranges``: every chunk has the plan's size but the last."""
        chunks = self._plan.chunks
        return sum(chunks[end - 1].end - chunks[start].start for start, end in ranges)
