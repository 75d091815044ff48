"""Chunks that are not written at the end of their partial file: staged, then kept as ``chunks/<fileId>/<i>``.

A staged chunk's bytes are held in memory (``MEMORY_SPOOL_BYTES`` for all requests together; read-only
network reads by reference, not copied), or, beyond that budget and with ``--fsync all``, in ``tmp/``
(fsynced before it is kept). Kept, they become a chunk file: written to a temporary name and renamed, or the
``tmp/`` file renamed, so complete bytes appear at once and the row that counts them comes after.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from server.positioned_writes import pwrite_all
from server.storage.contract import Buffer

MEMORY_SPOOL_BYTES = 16 * 1024 * 1024  # chunk bytes held in memory by all requests together


class MemoryBudget:
    """Bytes of staged chunks held in memory, shared by every request."""

    def __init__(self) -> None:
        self.used = 0

    def fits(self, size: int) -> bool:
        return self.used + size <= MEMORY_SPOOL_BYTES


class StagedBytes:
    """One chunk's staged bytes: in memory while the budget allows, else in a ``tmp/`` file."""

    def __init__(self, budget: MemoryBudget, tmp: Path, to_disk: bool) -> None:
        self._budget = budget
        self._tmp = tmp
        self.pieces: list[Buffer] | None = []  # None once on disk or released
        self.size = 0
        self.path: Path | None = None
        self._file: int | None = None
        if to_disk:
            self._spill()

    def write(self, data: Buffer) -> None:
        if self.pieces is not None and not self._budget.fits(len(data)):
            self._spill()
        if self._file is not None:
            pwrite_all(self._file, [data], self.size)
        else:
            assert self.pieces is not None
            if not isinstance(data, bytes) and not (isinstance(data, memoryview) and data.readonly):
                data = bytes(data)  # the caller may reuse a writable buffer
            self.pieces.append(data)
            self._budget.used += len(data)
        self.size += len(data)

    def _spill(self) -> None:
        self.path = self._tmp / f"{uuid.uuid4().hex}.chunk"
        self._file = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        if self.pieces:
            pwrite_all(self._file, self.pieces, 0)
        self.release()

    def release(self) -> None:
        """Give the memory back (once)."""
        if self.pieces is not None:
            self._budget.used -= sum(len(piece) for piece in self.pieces)
            self.pieces = None

    async def seal(self, fsync: bool) -> None:
        """Done writing: close the ``tmp/`` file, fsynced first when asked."""
        fd, self._file = self._file, None
        if fd is not None:
            try:
                if fsync:
                    await asyncio.to_thread(os.fsync, fd)
            finally:
                os.close(fd)

    async def discard(self) -> None:
        self.release()
        await self.seal(fsync=False)
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    async def keep_as(self, path: Path) -> None:
        """Make these bytes the chunk file ``path`` (complete bytes appear at once)."""
        if self.path is not None:
            os.replace(self.path, path)
            return
        assert self.pieces is not None
        try:
            await asyncio.to_thread(write_chunk_file, path, self.pieces)
        finally:
            self.release()


def write_chunk_file(path: Path, pieces: list[Buffer]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        pwrite_all(fd, pieces, 0)
    finally:
        os.close(fd)
    os.replace(tmp, path)  # complete bytes appear at once


def copy_out(source: Path, folder: Path, copies: list[tuple[int, int, int]], fsync: bool) -> None:
    """Copy (index, offset, size) regions of ``source`` to the chunk files ``folder/<index>``."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(source, os.O_RDONLY)
    try:
        for index, offset, size in copies:
            path = folder / str(index)
            write_chunk_file(path, [os.pread(fd, size, offset)])
            if fsync:
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
    finally:
        os.close(fd)
