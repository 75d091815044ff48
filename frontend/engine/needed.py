"""What the server still needs of a file, as the engine keeps it: an ordered set that only shrinks.

The server's lists only shrink while it keeps its state, so the engine keeps the intersection of what it
was told, minus each chunk confirmed by a 200 answer. Answers may arrive out of order; a stale list cannot
resurrect a chunk. A handshake's answer starts a new set (the server may have lost chunks meanwhile).
Chunks go in file order, as the seed sends ``needs[0]`` first; the ones in flight are not handed out twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from .chunking import Chunk, ChunkPlan


class NeededChunks:
    """The chunks of ``plan`` the server still needs, in file order, and which of them are in flight."""

    def __init__(self, plan: ChunkPlan, ids: Iterable[str]) -> None:
        wanted = set(ids)
        self._chunks: dict[str, Chunk] = {c.id: c for c in plan.chunks if c.id in wanted}
        self.bytes = sum(c.size for c in self._chunks.values())
        self.in_flight: set[str] = set()

    def __len__(self) -> int:
        return len(self._chunks)

    def next_free(self) -> Chunk | None:
        """The first needed chunk not in flight. (At most ``parallel`` are in flight, so this stops early.)"""
        return next((c for cid, c in self._chunks.items() if cid not in self.in_flight), None)

    def confirm(self, chunk_id: str, answer: Iterable[str]) -> None:
        """A 200 for ``chunk_id``: it is stored, and ``answer`` (what is still needed) can only shrink the
        set."""
        still = set(answer)
        still.discard(chunk_id)
        for cid in [cid for cid in self._chunks if cid not in still]:
            self.bytes -= self._chunks.pop(cid).size
