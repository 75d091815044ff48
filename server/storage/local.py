"""The embedded default backend: files on the local disk, bookkeeping in SQLite.

Layout under the data dir::

    meta.sqlite3            uploads, stored chunks, published files and their names (WAL mode)
    tmp/                    spooled chunks; emptied at start-up
    chunks/<fileId>/<i>     chunk i of an upload in progress, until it is appended to the partial file
    partial/<fileId>        the assembled prefix of an upload in progress (chunks 0..k-1, in order)
    files/<fileId>          published files, named by their MD5

Assembly is incremental: as soon as chunk k is stored and chunks 0..k-1 are in the partial file, it is
appended there (in a thread, hashing it into the file's running MD5), so when the last chunk arrives of a
file sent in order there is almost nothing left to do; a 16 GiB file is not copied and hashed at the end
while its last request waits. The appended prefix is made durable (fsync, then its length in SQLite, then
its chunk files deleted) every ``PREFIX_SYNC_BYTES``; after a restart the prefix is re-hashed once.

Chunks that arrive in order skip the chunk files altogether, written once:

- ``open_appender``: a chunk whose ids came before its bytes and whose index is the next one the partial file
  needs is written straight at the end of the partial file as it arrives (``PrefixAppender``), hashed into
  a copy of the file's running MD5 on the way. Complete, it is committed (the prefix's length and the chunk's
  row in one transaction); refused or cut off, the file is truncated back.
- a chunk whose bytes came first is held in memory (``MemorySpool``, within ``MEMORY_SPOOL_BYTES`` for all
  requests together; beyond that, or with ``--fsync all``, it goes to ``tmp/``) and, once complete, appended
  at once if it is the next one, or else written to its chunk file.

A chunk's own MD5 is not this backend's business: the handler hashes each network read into it as it
arrives and the service refuses a chunk that does not match its id before it is stored (see their
docstrings). Here each byte is hashed into the file's MD5. When that does not match (damage on disk, or
``--verify-chunks assembly``), ``damaged_chunks`` hashes each chunk of the assembled file against its id and
``drop_chunks`` cuts the partial file back to the first damaged one, copying the good ones after it out to
their chunk files, so only the damaged ones are asked for again.

One writer at a time per partial file: ``_Prefix.writer`` is the appender that owns its tail, or ``_BUSY``
while an append runs in a thread. The prefix's row (``prefix_chunks``, ``prefix_bytes``) then says how much of
the partial file is assembled: fsynced at least every ``PREFIX_SYNC_BYTES`` (and, with ``--fsync all``,
before each chunk written straight there is acknowledged); ``kill -9`` keeps the page cache, and a power
loss with ``--fsync files`` can at worst make the whole-file MD5 check discard the upload.

Crash safety (``kill -9`` at any moment): bytes are written to ``tmp/`` first (fsynced with ``--fsync all``),
then renamed into place, and only then recorded in SQLite. A row therefore always points at complete bytes;
bytes without a row are simply asked for again. A published file is visible only once its row in ``files``
exists, which is written after the rename into ``files/``; a published file removed from ``files/`` by hand
loses its row (at start-up, or when it is next asked for), so it is not answered as stored and can be uploaded
again. SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit survives the death of the process (not
necessarily of the machine, which loses at most the last commits). SQLite calls are short and run on the event
loop; file copies, hashing and fsync run in threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

from server.settings import Fsync
from server.storage.base import Assembly, ChunkSpool, FileName, StoredFile, UploadRecord

log = logging.getLogger(__name__)

COPY_BUFFER = 1024 * 1024
PREFIX_SYNC_BYTES = 64 * 1024 * 1024
MEMORY_SPOOL_BYTES = 16 * 1024 * 1024  # chunk bytes held in memory by all requests together
INLINE_APPEND_BYTES = 2 * 1024 * 1024  # larger chunks held in memory are appended in a worker thread
IOV_MAX = 512  # buffers per pwritev call (Linux allows 1024)
_BUSY = object()  # _Prefix.writer while an append runs in a worker thread

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    file_id    TEXT PRIMARY KEY,
    chunk_ids  TEXT NOT NULL,        -- chunk ids in file order, comma-separated
    size       INTEGER,              -- declared size, if any
    prefix_chunks INTEGER NOT NULL DEFAULT 0,  -- chunks durably appended to partial/<file_id>
    prefix_bytes  INTEGER NOT NULL DEFAULT 0,  -- and their total length
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    file_id TEXT NOT NULL,
    idx     INTEGER NOT NULL,
    size    INTEGER NOT NULL,
    PRIMARY KEY (file_id, idx)
);
CREATE TABLE IF NOT EXISTS files (
    file_id    TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS names (
    file_id TEXT NOT NULL,
    ext     TEXT NOT NULL,
    name    TEXT,
    PRIMARY KEY (file_id, ext)
);
CREATE INDEX IF NOT EXISTS uploads_by_age ON uploads (updated_at);
"""


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pwrite_all(fd: int, pieces: list[bytes | memoryview], offset: int) -> int:
    """Write the pieces one after the other from ``offset`` (gathered, a batch per call); the end offset."""
    pending = [memoryview(piece) for piece in pieces if len(piece)]
    while pending:
        batch = pending[:IOV_MAX]
        written = os.pwritev(fd, batch, offset)
        offset += written
        # Drop what was written (pwritev may write less than asked).
        while written and pending:
            if written >= len(pending[0]):
                written -= len(pending.pop(0))
            else:
                pending[0] = pending[0][written:]
                written = 0
    return offset


def _hash_next(handle: BinaryIO, digest: hashlib._Hash, size: int) -> int:
    """Hash the next ``size`` bytes of ``handle`` into ``digest``; how many there were (fewer at its end)."""
    left = size
    while left > 0 and (data := handle.read(min(left, COPY_BUFFER))):
        digest.update(data)
        left -= len(data)
    return size - left


def _open_tail(target: Path, size: int) -> int:
    """The partial file opened for writing, cut back to ``size`` (dropping any tail a crash left)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, size)
    except OSError:
        os.close(fd)
        raise
    return fd


@dataclass
class _Prefix:
    """The in-memory side of an upload's partial file: how far it is appended and hashed."""

    chunks: int
    size: int
    durable_chunks: int
    durable_size: int
    digest: hashlib._Hash | None = None  # None until the durable part is hashed (after a restart)
    writer: object = None  # who owns the file's tail: a PrefixAppender, _BUSY, or nobody
    spilled: list[int] = field(default_factory=list)  # appended chunks whose chunk files are still on disk
    syncing: bool = False  # a background _make_durable runs


class LocalSpool:
    """A chunk being received, in ``tmp/``; ``seal`` fsyncs. Unbuffered: writes come in large batches."""

    def __init__(self, path: Path, fsync: bool) -> None:
        self.path = path
        self._fsync = fsync
        self._file = open(path, "wb", buffering=0)  # noqa: SIM115 - closed in seal/discard

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:  # a raw file may write less than asked
            view = view[self._file.write(view) :]

    async def seal(self) -> None:
        if self._fsync:
            await asyncio.to_thread(os.fsync, self._file.fileno())
        self._file.close()

    async def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class MemorySpool:
    """A chunk being received, held in memory while the storage's budget allows, else in a ``LocalSpool``.

    Read-only data (the network reads' ``bytes``) is kept by reference, not copied.
    """

    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage
        self.pieces: list[bytes | memoryview] | None = []
        self.size = 0
        self.file: LocalSpool | None = None

    def write(self, data: bytes | memoryview) -> None:
        if self.file is not None:
            self.file.write(data)
            return
        assert self.pieces is not None
        if self._storage._memory_spooled + len(data) > MEMORY_SPOOL_BYTES:
            self.file = self._storage._file_spool()
            for piece in self.pieces:
                self.file.write(piece)
            self.release()
            self.file.write(data)
            return
        if not isinstance(data, bytes) and not (isinstance(data, memoryview) and data.readonly):
            data = bytes(data)  # the caller may reuse a writable buffer
        self.pieces.append(data)
        self.size += len(data)
        self._storage._memory_spooled += len(data)

    def release(self) -> None:
        """Give the memory back (once)."""
        if self.pieces is not None:
            self._storage._memory_spooled -= self.size
            self.pieces = None

    async def seal(self) -> None:
        if self.file is not None:
            await self.file.seal()

    async def discard(self) -> None:
        self.release()
        if self.file is not None:
            await self.file.discard()


class PrefixAppender:
    """A chunk written straight at the end of its upload's partial file as it arrives, owning that tail.

    Each write is hashed into a copy of the file's running MD5, then written with ``pwrite``, all on the event
    loop (a network read's worth at a time; measured, handing the file's half to a worker thread cost more CPU
    and gained no throughput on a busy 2-core machine). ``LocalStorage.store_chunk`` commits it; ``discard``
    truncates the file back. When the storage takes the tail back (``revoke``: the same chunk was stored by
    another request, or the upload went away), later writes are dropped, and nothing is truncated.
    """

    def __init__(self, storage: LocalStorage, file_id: str, index: int, prefix: _Prefix, fd: int) -> None:
        assert prefix.digest is not None
        self._storage = storage
        self.file_id = file_id
        self.index = index
        self.prefix = prefix
        self.start = self.offset = prefix.size
        self.file_digest = prefix.digest.copy()
        self.revoked = False
        self._fd: int | None = fd

    def write(self, data: bytes | memoryview) -> None:
        if self.revoked or self._fd is None:
            return
        self.file_digest.update(data)
        self.offset = _pwrite_all(self._fd, [data], self.offset)

    def revoke(self) -> None:
        self.revoked = True
        self._release()

    async def seal(self) -> None:
        if self._storage.fsync is Fsync.ALL and not self.revoked and self._fd is not None:
            await asyncio.to_thread(os.fsync, self._fd)

    async def discard(self) -> None:
        if not self.revoked and self._fd is not None:
            os.ftruncate(self._fd, self.start)
        self._release()

    def _release(self) -> None:
        if self.prefix.writer is self:
            self.prefix.writer = None
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class LocalStorage:
    def __init__(self, data_dir: Path, *, fsync: Fsync = Fsync.FILES) -> None:
        self.root = data_dir
        self.tmp = data_dir / "tmp"
        self.chunks = data_dir / "chunks"
        self.partial = data_dir / "partial"
        self.files = data_dir / "files"
        self.fsync = fsync
        self._db: sqlite3.Connection | None = None
        self._prefixes: dict[str, _Prefix] = {}
        # Uploads in progress and their stored chunks, as in SQLite: read once, then kept up to date, so a
        # chunk's answer does not re-read (and re-split) lists that grow with the file.
        self._uploads: dict[str, UploadRecord] = {}
        self._stored: dict[str, dict[int, int]] = {}
        self._memory_spooled = 0  # bytes held by MemorySpools
        self._syncs: set[asyncio.Task[None]] = set()  # background fsyncs of assembled prefixes

    # -- life cycle -------------------------------------------------------------------------------------------

    async def open(self) -> None:
        for folder in (self.root, self.chunks, self.partial, self.files):
            folder.mkdir(parents=True, exist_ok=True)
        # Whatever is in tmp/ was being written when the process stopped: never complete, never visible.
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        db = sqlite3.connect(self.root / "meta.sqlite3", isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        self._db = db
        await asyncio.to_thread(self._remove_orphans)

    def _remove_orphans(self) -> None:
        """Reclaim what a crash between a file operation and its database row left behind."""
        uploads = {row[0] for row in self.db.execute("SELECT file_id FROM uploads")}
        files = {row[0] for row in self.db.execute("SELECT file_id FROM files")}
        for folder in self.chunks.iterdir():
            if folder.name not in uploads:
                shutil.rmtree(folder, ignore_errors=True)
        for path in self.files.iterdir():
            if path.name in files:
                continue
            if path.name in uploads and not (self.partial / path.name).exists():
                # Died between the rename into files/ and the row that publishes it: the assembled file goes
                # back to partial/, where the next assembly of this upload expects it.
                os.replace(path, self.partial / path.name)
            else:
                path.unlink(missing_ok=True)
        for path in self.partial.iterdir():
            if path.name not in uploads:
                path.unlink(missing_ok=True)
        on_disk = {path.name for path in self.files.iterdir()}
        missing = sorted(files - on_disk)
        if missing:
            self._forget_missing(missing)

    async def close(self) -> None:
        for task in list(self._syncs):
            task.cancel()
        await asyncio.gather(*self._syncs, return_exceptions=True)
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("LocalStorage.open() was not called")
        return self._db

    # -- published files --------------------------------------------------------------------------------------

    async def get_file(self, file_id: str) -> StoredFile | None:
        row = self.db.execute("SELECT size, created_at FROM files WHERE file_id = ?", (file_id,)).fetchone()
        if row is None:
            return None
        path = self.files / file_id
        if not path.exists():  # removed by hand: forget it, so that it can be uploaded again
            self._forget_missing([file_id])
            return None
        return StoredFile(file_id, row[0], row[1], path)

    def _forget_missing(self, file_ids: list[str]) -> None:
        """Drop the rows of published files whose bytes are gone (their names stay, for a new upload)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM files WHERE file_id = ?", [(file_id,) for file_id in file_ids])
        log.warning(
            "%d published file(s) are missing from %s and were forgotten: %s",
            len(file_ids),
            self.files,
            ", ".join(file_ids[:10]) + (", ..." if len(file_ids) > 10 else ""),
        )

    async def get_name(self, file_id: str, ext: str) -> FileName | None:
        row = self.db.execute(
            "SELECT name FROM names WHERE file_id = ? AND ext = ?", (file_id, ext)
        ).fetchone()
        return None if row is None else FileName(file_id, ext, row[0])

    async def add_name(self, file_id: str, ext: str, name: str | None) -> None:
        self.db.execute(
            "INSERT INTO names (file_id, ext, name) VALUES (?, ?, ?) "
            "ON CONFLICT (file_id, ext) DO UPDATE SET name = coalesce(names.name, excluded.name)",
            (file_id, ext, name),
        )

    async def read_file(self, file: StoredFile, start: int, length: int) -> AsyncIterator[bytes]:
        assert file.path is not None
        handle = await asyncio.to_thread(open, file.path, "rb")
        with handle:
            handle.seek(start)
            while length > 0:
                data = await asyncio.to_thread(handle.read, min(length, COPY_BUFFER))
                if not data:
                    break
                length -= len(data)
                yield data

    # -- uploads in progress ----------------------------------------------------------------------------------

    async def get_upload(self, file_id: str) -> UploadRecord | None:
        cached = self._uploads.get(file_id)
        if cached is not None:
            return cached
        row = self.db.execute(
            "SELECT chunk_ids, size, created_at, updated_at FROM uploads WHERE file_id = ?", (file_id,)
        ).fetchone()
        if row is None:
            return None
        chunk_ids = tuple(row[0].split(",")) if row[0] else ()
        record = self._uploads[file_id] = UploadRecord(file_id, chunk_ids, row[1], row[2], row[3])
        return record

    def _forget(self, file_id: str) -> None:
        self._uploads.pop(file_id, None)
        self._stored.pop(file_id, None)
        prefix = self._prefixes.pop(file_id, None)
        if prefix is not None and isinstance(prefix.writer, PrefixAppender):
            prefix.writer.revoke()  # its file is going away (or was published): it must not write there again

    async def put_upload(self, record: UploadRecord) -> None:
        with self.db:  # one transaction
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM chunks WHERE file_id = ?", (record.file_id,))
            self.db.execute(
                "INSERT OR REPLACE INTO uploads (file_id, chunk_ids, size, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    record.file_id,
                    ",".join(record.chunk_ids),
                    record.size,
                    record.created_at,
                    record.updated_at,
                ),
            )
        self._forget(record.file_id)
        self._uploads[record.file_id] = record
        self._stored[record.file_id] = {}
        self._prefixes[record.file_id] = _Prefix(0, 0, 0, 0, hashlib.md5())
        (self.partial / record.file_id).unlink(missing_ok=True)
        await asyncio.to_thread(shutil.rmtree, self.chunks / record.file_id, True)
        (self.chunks / record.file_id).mkdir(exist_ok=True)

    async def touch_upload(self, file_id: str, now: float) -> None:
        record = await self.get_upload(file_id)
        if record is None:
            return
        self.db.execute("UPDATE uploads SET updated_at = ? WHERE file_id = ?", (now, file_id))
        self._uploads[file_id] = replace(record, updated_at=now)

    async def count_uploads(self, holding_bytes: bool = False) -> int:
        if holding_bytes:  # one probe of the chunks' primary key per upload
            query = "SELECT count(*) FROM uploads u WHERE EXISTS (SELECT 1 FROM chunks c WHERE c.file_id = u.file_id)"
        else:
            query = "SELECT count(*) FROM uploads"
        return int(self.db.execute(query).fetchone()[0])

    async def free_bytes(self) -> int:
        stat = os.statvfs(self.root)  # one system call, on the loop
        return stat.f_bavail * stat.f_frsize  # what an unprivileged writer may still use

    async def stored_chunks(self, file_id: str) -> Mapping[int, int]:
        stored = self._stored.get(file_id)
        if stored is None:
            rows = self.db.execute("SELECT idx, size FROM chunks WHERE file_id = ?", (file_id,))
            stored = dict(rows.fetchall())
            if await self.get_upload(file_id) is not None:
                self._stored[file_id] = stored
        return MappingProxyType(stored)

    async def new_spool(self) -> ChunkSpool:
        if self.fsync is Fsync.ALL:
            return self._file_spool()
        return MemorySpool(self)

    def _file_spool(self) -> LocalSpool:
        return LocalSpool(self.tmp / f"{uuid.uuid4().hex}.chunk", self.fsync is Fsync.ALL)

    def _free_next(self, file_id: str, index: int) -> _Prefix | None:
        """The upload's prefix when chunk ``index`` is the next one it needs, not stored yet, and nobody writes
        at its end; None otherwise."""
        prefix = self._prefixes.get(file_id)
        stored = self._stored.get(file_id)
        if (
            prefix is None
            or prefix.digest is None  # after a restart: the background assembly hashes the prefix first
            or prefix.writer is not None
            or prefix.chunks != index
            or stored is None
            or index in stored
        ):
            return None
        return prefix

    async def open_appender(self, upload: UploadRecord, index: int) -> PrefixAppender | None:
        """Own the partial file's tail for chunk ``index`` if it is the next one needed and nobody writes there."""
        file_id = upload.file_id
        prefix = self._free_next(file_id, index)
        if prefix is None:
            return None
        # No await from the check to the claim: on the event loop, nobody else can claim in between.
        fd = _open_tail(self.partial / file_id, prefix.size)
        appender = PrefixAppender(self, file_id, index, prefix, fd)
        prefix.writer = appender
        return appender

    async def store_chunk(self, file_id: str, index: int, spool: ChunkSpool, size: int) -> bool:
        if await self.get_upload(file_id) is None:
            await spool.discard()
            return False
        if isinstance(spool, PrefixAppender):
            return await self._commit_appender(spool, size)
        if isinstance(spool, MemorySpool):
            if spool.file is None:
                try:
                    await self._store_from_memory(file_id, index, spool, size)
                finally:
                    spool.release()
                return True
            spool = spool.file
        assert isinstance(spool, LocalSpool)
        # The rename makes the complete (and, with fsync, durable) bytes appear at once; the row comes after,
        # so a crash in between only costs sending this chunk again.
        os.replace(spool.path, self.chunks / file_id / str(index))
        self._record_chunk(file_id, index, size)
        return True

    def _record_chunk(
        self, file_id: str, index: int, size: int, prefix: tuple[int, int] | None = None
    ) -> None:
        """The chunk's row (and, when it went straight into the partial file, the prefix's new chunk count and
        length). Called before the in-memory state moves, so a failed write (a full disk) leaves both as
        they were; bytes past the recorded prefix are cut off by the next append (``_open_tail``)."""
        with self.db:
            self.db.execute("BEGIN")
            if prefix is not None:
                self.db.execute(
                    "UPDATE uploads SET prefix_chunks = ?, prefix_bytes = ? WHERE file_id = ?",
                    (*prefix, file_id),
                )
            self.db.execute(
                "INSERT OR REPLACE INTO chunks (file_id, idx, size) VALUES (?, ?, ?)", (file_id, index, size)
            )
        if file_id in self._stored:
            self._stored[file_id][index] = size

    async def _commit_appender(self, appender: PrefixAppender, size: int) -> bool:
        file_id, index, prefix = appender.file_id, appender.index, appender.prefix
        stored = self._stored.get(file_id, {})
        if appender.revoked or index in stored:
            # Another request stored the same chunk meanwhile: it counts; these bytes are not needed.
            await appender.discard()
            return index in stored
        if (
            self._prefixes.get(file_id) is not prefix
            or prefix.writer is not appender
            or prefix.chunks != index
        ):
            await appender.discard()
            return False
        assert appender.offset - appender.start == size
        try:
            self._record_chunk(file_id, index, size, (prefix.chunks + 1, appender.offset))
        except BaseException:
            await appender.discard()  # not committed: its bytes are cut off and the tail is free again
            raise
        prefix.digest = appender.file_digest
        prefix.chunks += 1
        prefix.size = appender.offset
        appender.revoke()  # committed: the tail is the prefix now; just let go of the file
        if self.fsync is Fsync.ALL:  # the appender fsynced the file before this (in seal)
            prefix.durable_chunks, prefix.durable_size = prefix.chunks, prefix.size
        return True

    async def _store_from_memory(self, file_id: str, index: int, spool: MemorySpool, size: int) -> None:
        """Append the chunk at once if it is the next one the partial file needs, else write its chunk file."""
        assert spool.pieces is not None
        prefix = self._free_next(file_id, index)
        if prefix is not None:
            target = self.partial / file_id
            if spool.size <= INLINE_APPEND_BYTES:
                # On the loop, like a PrefixAppender's writes (~2 ms for 1 MiB): measured, a worker thread
                # per chunk cost more CPU in hand-offs and GIL contention than it saved.
                end, digest = self._append_bytes(target, prefix, spool.pieces)
            else:
                prefix.writer = _BUSY
                try:
                    end, digest = await asyncio.to_thread(self._append_bytes, target, prefix, spool.pieces)
                finally:
                    prefix.writer = None
            self._record_chunk(file_id, index, size, (prefix.chunks + 1, end))
            prefix.size, prefix.digest, prefix.chunks = end, digest, prefix.chunks + 1
            return
        prefix, stored = self._prefixes.get(file_id), self._stored.get(file_id)
        if prefix is not None and stored is not None and index < prefix.chunks and index in stored:
            return  # a duplicate of a chunk already in the partial file: nothing to keep
        await asyncio.to_thread(self._write_chunk_file, self.chunks / file_id / str(index), spool.pieces)
        self._record_chunk(file_id, index, size)

    @staticmethod
    def _write_chunk_file(path: Path, pieces: list[bytes | memoryview]) -> None:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _pwrite_all(fd, pieces, 0)
        finally:
            os.close(fd)
        os.replace(tmp, path)  # complete bytes appear at once

    @staticmethod
    def _append_bytes(
        target: Path, prefix: _Prefix, pieces: list[bytes | memoryview]
    ) -> tuple[int, hashlib._Hash]:
        """Write the pieces at the end of the prefix (dropping any tail a crash left); the new end and the
        prefix's digest with them hashed in (a copy: the caller moves the prefix once it is recorded)."""
        assert prefix.digest is not None
        fd = _open_tail(target, prefix.size)
        try:
            end = _pwrite_all(fd, pieces, prefix.size)
        finally:
            os.close(fd)
        digest = prefix.digest.copy()
        for piece in pieces:
            digest.update(piece)
        return end, digest

    async def advance(self, upload: UploadRecord) -> None:
        file_id = upload.file_id
        stored = await self.stored_chunks(file_id)
        prefix = await self._prefix(upload)
        total = len(upload.chunk_ids)
        while prefix.chunks < total and prefix.chunks in stored:
            if isinstance(prefix.writer, PrefixAppender):
                # Its chunk was stored by another request meanwhile: that copy is appended, this one dropped.
                prefix.writer.revoke()
            source = self.chunks / file_id / str(prefix.chunks)
            prefix.writer = _BUSY
            try:
                prefix.size, prefix.digest = await asyncio.to_thread(
                    self._append, self.partial / file_id, prefix, source
                )
            finally:
                prefix.writer = None
            prefix.spilled.append(prefix.chunks)
            prefix.chunks += 1
            if self.fsync is Fsync.NONE:  # no fsync: record the prefix and drop its chunk files at once
                await self._make_durable(file_id, prefix)
        if prefix.chunks == total and prefix.durable_chunks != total:
            await self._make_durable(file_id, prefix)  # complete: durable before it is published
        elif prefix.size - prefix.durable_size >= PREFIX_SYNC_BYTES:
            self._sync_later(file_id, prefix)  # including the chunks written straight into the file

    async def _prefix(self, upload: UploadRecord) -> _Prefix:
        prefix = self._prefixes.get(upload.file_id)
        if prefix is None:
            row = self.db.execute(
                "SELECT prefix_chunks, prefix_bytes FROM uploads WHERE file_id = ?", (upload.file_id,)
            ).fetchone()
            chunks, size = row if row is not None else (0, 0)
            prefix = _Prefix(chunks, size, chunks, size)
            self._prefixes[upload.file_id] = prefix
        if prefix.digest is None:
            # After a restart the running MD5 is gone: hash the durable prefix once, from the partial file.
            prefix.digest = await asyncio.to_thread(
                self._hash_prefix, self.partial / upload.file_id, prefix.size
            )
        return prefix

    @staticmethod
    def _hash_prefix(path: Path, size: int) -> hashlib._Hash:
        digest = hashlib.md5()
        if size:
            with open(path, "rb") as handle:
                _hash_next(handle, digest, size)
        return digest

    @staticmethod
    def _append(target: Path, prefix: _Prefix, source: Path) -> tuple[int, hashlib._Hash]:
        """Append one chunk file at the end of the prefix (dropping any tail a crash left), hashing it into a
        copy of the prefix's digest; the new end and that digest. A write that fails (a full disk) leaves
        the prefix as it was."""
        assert prefix.digest is not None
        digest = prefix.digest.copy()
        fd = _open_tail(target, prefix.size)
        try:
            with open(source, "rb") as chunk:
                size = prefix.size
                buffer = bytearray(COPY_BUFFER)
                view = memoryview(buffer)
                while count := chunk.readinto(buffer):
                    size = _pwrite_all(fd, [view[:count]], size)
                    digest.update(view[:count])
        finally:
            os.close(fd)
        return size, digest

    async def _make_durable(self, file_id: str, prefix: _Prefix) -> None:
        """fsync the prefix, record its length, then let go of the chunk files it now holds.

        Safe beside new appends (it makes durable what was appended when it started), so the periodic one runs
        in the background, without the file's lock (``_sync_later``); before publishing, it is awaited.
        """
        chunks, size = prefix.chunks, prefix.size
        spilled, prefix.spilled = prefix.spilled, []
        if self.fsync is not Fsync.NONE:
            try:
                await asyncio.to_thread(_fsync_file, self.partial / file_id)
            except FileNotFoundError:
                return  # published or dropped meanwhile: nothing left to make durable
        if self._prefixes.get(file_id) is not prefix:
            return  # the upload was replaced or forgotten meanwhile
        # The row only moves forward (chunks written in place move it as they are committed).
        self.db.execute(
            "UPDATE uploads SET prefix_chunks = ?, prefix_bytes = ? WHERE file_id = ? AND prefix_chunks < ?",
            (chunks, size, file_id, chunks),
        )
        if chunks > prefix.durable_chunks:
            prefix.durable_chunks, prefix.durable_size = chunks, size
        done = [self.chunks / file_id / str(i) for i in spilled]
        if done:
            await asyncio.to_thread(lambda: [path.unlink(missing_ok=True) for path in done])

    def _sync_later(self, file_id: str, prefix: _Prefix) -> None:
        """``_make_durable`` in the background (one at a time per file): chunk answers do not wait for it."""
        if prefix.syncing:
            return
        prefix.syncing = True

        async def sync() -> None:
            try:
                await self._make_durable(file_id, prefix)
            except OSError as exc:  # the final, awaited one reports to the client
                log.warning("making the assembled prefix of %s durable failed: %s", file_id, exc)
            except Exception:
                log.exception("making the assembled prefix of %s durable failed", file_id)
            finally:
                prefix.syncing = False

        task = asyncio.create_task(sync(), name=f"sync-{file_id}")
        self._syncs.add(task)
        task.add_done_callback(self._syncs.discard)

    async def assemble(self, upload: UploadRecord) -> Assembly:
        await self.advance(upload)
        prefix = await self._prefix(upload)
        if prefix.chunks != len(upload.chunk_ids):
            raise RuntimeError(f"assemble({upload.file_id}) called with chunks missing")
        target = self.partial / upload.file_id
        if not target.exists():  # a file of zero chunks
            target.touch()
        os.truncate(target, prefix.size)  # nothing beyond the verified prefix is published
        assert prefix.digest is not None
        return Assembly(upload.file_id, prefix.digest.hexdigest(), prefix.size, target)

    async def publish(self, assembly: Assembly) -> StoredFile:
        assert isinstance(assembly.handle, Path)
        final = self.files / assembly.file_id
        os.replace(assembly.handle, final)
        if self.fsync is not Fsync.NONE:
            await asyncio.to_thread(_fsync_file, self.files)
        created = os.stat(final).st_mtime
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT OR REPLACE INTO files (file_id, size, created_at) VALUES (?, ?, ?)",
                (assembly.file_id, assembly.size, created),
            )
            self.db.execute("DELETE FROM chunks WHERE file_id = ?", (assembly.file_id,))
            self.db.execute("DELETE FROM uploads WHERE file_id = ?", (assembly.file_id,))
        self._forget(assembly.file_id)
        await asyncio.to_thread(shutil.rmtree, self.chunks / assembly.file_id, True)
        return StoredFile(assembly.file_id, assembly.size, created, final)

    async def discard_assembly(self, assembly: Assembly) -> None:
        assert isinstance(assembly.handle, Path)
        assembly.handle.unlink(missing_ok=True)

    async def damaged_chunks(self, upload: UploadRecord, assembly: Assembly) -> list[int]:
        assert isinstance(assembly.handle, Path)
        sizes = await self.stored_chunks(upload.file_id)
        regions = [(sizes[index], chunk_id[:32]) for index, chunk_id in enumerate(upload.chunk_ids)]
        return await asyncio.to_thread(self._damaged, assembly.handle, regions)

    @staticmethod
    def _damaged(path: Path, regions: list[tuple[int, str]]) -> list[int]:
        """Indexes of the regions (size, expected MD5), one after the other from the start, that differ."""
        damaged = []
        with open(path, "rb") as handle:
            for index, (size, md5) in enumerate(regions):
                digest = hashlib.md5()
                if _hash_next(handle, digest, size) < size or digest.hexdigest() != md5:
                    damaged.append(index)
        return damaged

    async def drop_chunks(self, upload: UploadRecord, indexes: list[int]) -> None:
        """Forget damaged chunks of an assembled upload, keeping the others.

        The partial file is cut back to the first damaged chunk; the good chunks after it are copied out to
        their chunk files first (and appended again by ``advance`` once the gap is filled). Crash-safe in
        that order: chunk files, then the rows and the prefix's length in one transaction, then the cut (which
        ``_open_tail`` would redo anyway). A crash before the transaction leaves the assembled upload as it
        was, so the next assembly finds the same damage.
        """
        file_id = upload.file_id
        if not indexes:
            return
        sizes = await self.stored_chunks(file_id)
        first, drop = min(indexes), set(indexes)
        start = sum(sizes[index] for index in range(first))
        copies, offset = [], start
        for index in range(first, len(upload.chunk_ids)):
            if index not in drop:
                copies.append((index, offset, sizes[index]))
            offset += sizes[index]
        target = self.partial / file_id
        await asyncio.to_thread(
            self._copy_out, target, self.chunks / file_id, copies, self.fsync is Fsync.ALL
        )
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "DELETE FROM chunks WHERE file_id = ? AND idx = ?",
                [(file_id, index) for index in sorted(drop)],
            )
            self.db.execute(
                "UPDATE uploads SET prefix_chunks = ?, prefix_bytes = ? WHERE file_id = ?",
                (first, start, file_id),
            )
        stored = self._stored.get(file_id)
        if stored is not None:
            for index in drop:
                stored.pop(index, None)
        # A new prefix object: a background fsync of the old one finds it replaced and records nothing.
        self._prefixes[file_id] = _Prefix(first, start, first, start)
        os.truncate(target, start)
        await self._prefix(upload)  # hash what is left, so the next chunk can be written in place again

    @classmethod
    def _copy_out(cls, source: Path, folder: Path, copies: list[tuple[int, int, int]], fsync: bool) -> None:
        """Copy (index, offset, size) regions of ``source`` to the chunk files ``folder/<index>``."""
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(source, os.O_RDONLY)
        try:
            for index, offset, size in copies:
                path = folder / str(index)
                cls._write_chunk_file(path, [os.pread(fd, size, offset)])
                if fsync:
                    _fsync_file(path)
        finally:
            os.close(fd)

    async def delete_upload(self, file_id: str) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
            self.db.execute("DELETE FROM uploads WHERE file_id = ?", (file_id,))
            # Names of a file that was never published go with it.
            self.db.execute(
                "DELETE FROM names WHERE file_id = ? AND NOT EXISTS (SELECT 1 FROM files WHERE file_id = ?)",
                (file_id, file_id),
            )
        self._forget(file_id)
        (self.partial / file_id).unlink(missing_ok=True)
        await asyncio.to_thread(shutil.rmtree, self.chunks / file_id, True)

    async def uploads_untouched_since(self, when: float) -> list[str]:
        rows = self.db.execute("SELECT file_id FROM uploads WHERE updated_at < ?", (when,))
        return [row[0] for row in rows.fetchall()]
