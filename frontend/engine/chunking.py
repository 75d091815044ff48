"""The chunk plan: how a file is cut and named, exactly as the seed's ``splitFile`` does with SparkMD5.

The seed::

    const chunkSize = 1024 * 1024;
    const chunkCount = Math.ceil(file.size / chunkSize);
    ...
    const chunkMD5 = SparkMD5.ArrayBuffer.hash(e.target.result) + chunkIndex;
    ...
    if (chunkIndex < chunkCount) { loadNext(); } else { const fileId = spark.end(); ... }

so ``fileId`` is the whole file's MD5, and a chunk id the chunk's MD5 followed by its index (the grammar,
shared with the server, is ``wire.ids``, which also writes them: ``chunk_id``). Its loop reads once before
testing ``chunkIndex < chunkCount``, so an EMPTY file is ONE empty chunk
(``d41d8cd98f00b204e9800998ecf8427e0``); a file of exactly k chunks has k chunks (no trailing empty one).
Checked by running the seed's loop under node with spark-md5 (``tests/unit/engine/sparkmd5_ids.js``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from wire.ids import parse_chunk_list

CHUNK_SIZE = 1024 * 1024  # the seed's chunkSize


@dataclass(frozen=True)
class ChunkSpan:
    """Where chunk ``index`` lies in the file: bytes ``[start, end)``."""

    index: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def chunk_spans(size: int, chunk_size: int = CHUNK_SIZE) -> list[ChunkSpan]:
    """The seed's cut: ``ceil(size / chunk_size)`` chunks, the last shorter; one empty chunk if size is 0."""
    if size < 0:
        raise ValueError(f"a file size cannot be negative, got {size}")
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    # `Math.ceil(0 / chunkSize)` is 0, but the seed's loop still reads slice(0, 0) once.
    count = max(1, -(-size // chunk_size))
    return [ChunkSpan(i, i * chunk_size, min(size, (i + 1) * chunk_size)) for i in range(count)]


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int
    end: int
    id: str  # chunk md5 + index

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class ChunkPlan:
    """What the seed's ``splitFile`` resolves to, minus the bytes: ids and where each chunk lies.

    It holds no file content (a few dozen bytes per chunk), so it can be kept, or cached by the page keyed
    on (name, size, last_modified) to skip hashing after a reload (``to_dict`` / ``from_dict``)."""

    file_id: str
    ext: str
    size: int
    chunk_size: int
    chunks: tuple[Chunk, ...]

    @property
    def chunk_ids(self) -> list[str]:
        return [c.id for c in self.chunks]

    @cached_property
    def id_set(self) -> frozenset[str]:
        """Every chunk id, for checking the server's lists at once."""
        return frozenset(c.id for c in self.chunks)

    def by_id(self, chunk_id: str) -> Chunk | None:
        """The chunk with this id (ids end with the index, so the lookup is direct)."""
        for index in _index_candidates(chunk_id, len(self.chunks)):
            if self.chunks[index].id == chunk_id:
                return self.chunks[index]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fileId": self.file_id,
            "ext": self.ext,
            "size": self.size,
            "chunkSize": self.chunk_size,
            "chunkIds": self.chunk_ids,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkPlan:
        spans = chunk_spans(int(data["size"]), int(data["chunkSize"]))
        ids = parse_chunk_list(list(data["chunkIds"]))  # WireError (a ValueError) for an id that does not fit
        if len(ids) != len(spans):
            raise ValueError(f"{len(ids)} chunk ids for {len(spans)} chunks")
        chunks = tuple(Chunk(s.index, s.start, s.end, cid) for s, cid in zip(spans, ids, strict=True))
        return cls(str(data["fileId"]), str(data["ext"]), int(data["size"]), int(data["chunkSize"]), chunks)


def _index_candidates(chunk_id: str, count: int) -> list[int]:
    tail = chunk_id[32:]
    if tail.isascii() and tail.isdigit() and int(tail) < count:
        return [int(tail)]
    return []
