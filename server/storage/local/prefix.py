"""Prefix assembly: ``partial/<fileId>`` holds chunks 0..k-1 of an upload, in order, and their running MD5.

A chunk that continues the prefix is appended to it (written once when it is written there straight from the
network, ``TailWrite``; else copied from its chunk file by ``advance``), hashed on the way, so the whole
file's MD5 is ready when its last chunk arrives. ``Prefix`` is the in-memory side of one partial file: how
far it is appended and hashed, and how far that is durable (fsynced, then recorded in SQLite). The functions
here are the file operations, each run either on the loop (one chunk's worth) or in a worker thread.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from server.positioned_writes import pwrite_all
from server.storage.contract import Buffer

COPY_BUFFER = 1024 * 1024


@dataclass
class Prefix:
    chunks: int
    size: int
    durable_chunks: int
    durable_size: int
    digest: hashlib._Hash | None = None  # None until the durable part is hashed (after a restart)
    writing: TailWrite | None = None  # a chunk being written at the end straight from the network
    busy: bool = False  # an append runs in a worker thread
    spilled: list[int] = field(default_factory=list)  # appended chunks whose chunk files are still on disk
    syncing: bool = False  # a background fsync runs

    def free(self) -> bool:
        """Whether a chunk may be written at the end now."""
        return self.digest is not None and self.writing is None and not self.busy


class TailWrite:
    """A chunk written at the end of a partial file as its bytes arrive (``pwrite`` on the loop, a network
    read at a time), hashed into a copy of the prefix's MD5. Kept, it becomes part of the prefix; discarded,
    the file is cut back. It holds its own descriptor, so a file replaced meanwhile is never touched.

    The file's MD5 is computed here on the loop while a worker thread computes the chunk's own (the handler's
    ``OffLoopMD5``): measured, handing both digests to worker threads gained nothing one chunk at a time and
    cost more CPU on a busy 2-core machine (docs/benchmarks.md)."""

    def __init__(self, prefix: Prefix, path: Path) -> None:
        assert prefix.digest is not None
        self.prefix = prefix
        self.start = self.end = prefix.size
        self.digest = prefix.digest.copy()
        self.fd: int | None = open_tail(path, prefix.size)
        prefix.writing = self

    def write(self, data: Buffer) -> None:
        assert self.fd is not None
        self.digest.update(data)
        self.end = pwrite_all(self.fd, [data], self.end)

    @property
    def size(self) -> int:
        return self.end - self.start

    def close(self, *, cut: bool) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            try:
                if cut:
                    os.ftruncate(fd, self.start)
            finally:
                os.close(fd)
        if self.prefix.writing is self:
            self.prefix.writing = None


def open_tail(target: Path, size: int) -> int:
    """The partial file opened for writing, cut back to ``size`` (dropping any tail a crash left)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, size)
    except OSError:
        os.close(fd)
        raise
    return fd


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_next(handle: BinaryIO, digest: hashlib._Hash, size: int) -> int:
    """Hash the next ``size`` bytes of ``handle`` into ``digest``; how many there were (fewer at its end)."""
    left = size
    while left > 0 and (data := handle.read(min(left, COPY_BUFFER))):
        digest.update(data)
        left -= len(data)
    return size - left


def hash_prefix(path: Path, size: int) -> hashlib._Hash:
    """The MD5 of the first ``size`` bytes of a partial file (after a restart the running one is gone)."""
    digest = hashlib.md5()
    if size:
        with open(path, "rb") as handle:
            hash_next(handle, digest, size)
    return digest


def append_pieces(target: Path, prefix: Prefix, pieces: list[Buffer]) -> tuple[int, hashlib._Hash]:
    """Write the pieces at the end of the prefix; the new end and the prefix's digest with them hashed in (a
    copy: the caller moves the prefix once it is recorded, so a failed write leaves it as it was)."""
    assert prefix.digest is not None
    fd = open_tail(target, prefix.size)
    try:
        end = pwrite_all(fd, pieces, prefix.size)
    finally:
        os.close(fd)
    digest = prefix.digest.copy()
    for piece in pieces:
        digest.update(piece)
    return end, digest


def append_file(target: Path, prefix: Prefix, source: Path) -> tuple[int, hashlib._Hash]:
    """``append_pieces`` for a chunk file, read a buffer at a time."""
    assert prefix.digest is not None
    digest = prefix.digest.copy()
    fd = open_tail(target, prefix.size)
    try:
        with open(source, "rb") as chunk:
            size = prefix.size
            buffer = bytearray(COPY_BUFFER)
            view = memoryview(buffer)
            while count := chunk.readinto(buffer):
                size = pwrite_all(fd, [view[:count]], size)
                digest.update(view[:count])
    finally:
        os.close(fd)
    return size, digest


def damaged_regions(path: Path, regions: list[tuple[int, str]]) -> list[int]:
    """Indexes of the regions (size, expected MD5), one after the other from the start, that differ."""
    damaged = []
    with open(path, "rb") as handle:
        for index, (size, md5) in enumerate(regions):
            digest = hashlib.md5()
            if hash_next(handle, digest, size) < size or digest.hexdigest() != md5:
                damaged.append(index)
    return damaged
