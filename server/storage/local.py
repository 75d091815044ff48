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

Crash safety (``kill -9`` at any moment): bytes are written to ``tmp/`` first (fsynced with ``--fsync all``),
then renamed into place, and only then recorded in SQLite. A row therefore always points at complete bytes; bytes without a row
are simply asked for again. A published file is visible only once its row in ``files`` exists, which is
written after the rename into ``files/``. SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit
survives the death of the process (not necessarily of the machine, which loses at most the last commits).
SQLite calls are short and run on the event loop; file copies, hashing and fsync run in threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from pathlib import Path

from server.settings import Fsync
from server.storage.base import Assembly, ChunkSpool, FileName, StoredFile, UploadRecord

COPY_BUFFER = 1024 * 1024
PREFIX_SYNC_BYTES = 64 * 1024 * 1024

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


@dataclass
class _Prefix:
    """The in-memory side of an upload's partial file: how far it is appended and hashed."""

    chunks: int
    size: int
    durable_chunks: int
    durable_size: int
    digest: "hashlib._Hash | None" = None  # None until the durable part is hashed (after a restart)


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

    async def close(self) -> None:
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
        return StoredFile(file_id, row[0], row[1], self.files / file_id)

    async def get_name(self, file_id: str, ext: str) -> FileName | None:
        row = self.db.execute("SELECT name FROM names WHERE file_id = ? AND ext = ?", (file_id, ext)).fetchone()
        return None if row is None else FileName(file_id, ext, row[0])

    async def add_name(self, file_id: str, ext: str, name: str | None) -> None:
        self.db.execute(
            "INSERT INTO names (file_id, ext, name) VALUES (?, ?, ?) "
            "ON CONFLICT (file_id, ext) DO UPDATE SET name = coalesce(names.name, excluded.name)",
            (file_id, ext, name),
        )

    async def read_file(self, file: StoredFile, start: int, length: int) -> AsyncIterator[bytes]:
        assert file.path is not None
        with open(file.path, "rb") as handle:
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
        self._prefixes.pop(file_id, None)

    async def put_upload(self, record: UploadRecord) -> None:
        with self.db:  # one transaction
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM chunks WHERE file_id = ?", (record.file_id,))
            self.db.execute(
                "INSERT OR REPLACE INTO uploads (file_id, chunk_ids, size, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (record.file_id, ",".join(record.chunk_ids), record.size, record.created_at, record.updated_at),
            )
        self._forget(record.file_id)
        self._uploads[record.file_id] = record
        self._stored[record.file_id] = {}
        (self.partial / record.file_id).unlink(missing_ok=True)
        await asyncio.to_thread(shutil.rmtree, self.chunks / record.file_id, True)
        (self.chunks / record.file_id).mkdir(exist_ok=True)

    async def touch_upload(self, file_id: str, now: float) -> None:
        record = await self.get_upload(file_id)
        if record is None:
            return
        self.db.execute("UPDATE uploads SET updated_at = ? WHERE file_id = ?", (now, file_id))
        self._uploads[file_id] = replace(record, updated_at=now)

    async def count_uploads(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM uploads").fetchone()[0])

    async def stored_chunks(self, file_id: str) -> Mapping[int, int]:
        stored = self._stored.get(file_id)
        if stored is None:
            rows = self.db.execute("SELECT idx, size FROM chunks WHERE file_id = ?", (file_id,))
            stored = dict(rows.fetchall())
            if await self.get_upload(file_id) is not None:
                self._stored[file_id] = stored
        return MappingProxyType(stored)

    async def new_spool(self) -> ChunkSpool:
        return LocalSpool(self.tmp / f"{uuid.uuid4().hex}.chunk", self.fsync is Fsync.ALL)

    async def store_chunk(self, file_id: str, index: int, spool: ChunkSpool, size: int) -> bool:
        assert isinstance(spool, LocalSpool)
        if await self.get_upload(file_id) is None:
            await spool.discard()
            return False
        # The rename makes the complete (and, with fsync, durable) bytes appear at once; the row comes after,
        # so a crash in between only costs sending this chunk again.
        os.replace(spool.path, self.chunks / file_id / str(index))
        self.db.execute(
            "INSERT OR REPLACE INTO chunks (file_id, idx, size) VALUES (?, ?, ?)", (file_id, index, size)
        )
        if file_id in self._stored:
            self._stored[file_id][index] = size
        return True

    async def advance(self, upload: UploadRecord) -> None:
        file_id = upload.file_id
        stored = await self.stored_chunks(file_id)
        prefix = await self._prefix(upload)
        total = len(upload.chunk_ids)
        while prefix.chunks < total and prefix.chunks in stored:
            source = self.chunks / file_id / str(prefix.chunks)
            prefix.size = await asyncio.to_thread(self._append, self.partial / file_id, prefix, source)
            prefix.chunks += 1
            pending = prefix.size - prefix.durable_size
            if self.fsync is Fsync.NONE or pending >= PREFIX_SYNC_BYTES or prefix.chunks == total:
                await self._make_durable(file_id, prefix)

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
            prefix.digest = await asyncio.to_thread(self._hash_prefix, self.partial / upload.file_id, prefix.size)
        return prefix

    @staticmethod
    def _hash_prefix(path: Path, size: int) -> "hashlib._Hash":
        digest = hashlib.md5()
        if size:
            with open(path, "rb") as handle:
                while size > 0 and (data := handle.read(min(size, COPY_BUFFER))):
                    digest.update(data)
                    size -= len(data)
        return digest

    @staticmethod
    def _append(target: Path, prefix: _Prefix, source: Path) -> int:
        """Append one chunk file at the end of the prefix (dropping any tail a crash left), hashing it."""
        assert prefix.digest is not None
        fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
        with open(fd, "r+b", buffering=0) as out, open(source, "rb") as chunk:
            out.truncate(prefix.size)
            out.seek(prefix.size)
            size = prefix.size
            buffer = bytearray(COPY_BUFFER)
            view = memoryview(buffer)
            while count := chunk.readinto(buffer):
                prefix.digest.update(view[:count])
                out.write(view[:count])
                size += count
        return size

    async def _make_durable(self, file_id: str, prefix: _Prefix) -> None:
        """fsync the prefix, record its length, then let go of the chunk files it now holds."""
        if self.fsync is not Fsync.NONE:
            await asyncio.to_thread(_fsync_file, self.partial / file_id)
        self.db.execute(
            "UPDATE uploads SET prefix_chunks = ?, prefix_bytes = ? WHERE file_id = ?",
            (prefix.chunks, prefix.size, file_id),
        )
        done = [self.chunks / file_id / str(i) for i in range(prefix.durable_chunks, prefix.chunks)]
        prefix.durable_chunks, prefix.durable_size = prefix.chunks, prefix.size
        await asyncio.to_thread(lambda: [path.unlink(missing_ok=True) for path in done])

    async def assemble(self, upload: UploadRecord) -> Assembly:
        await self.advance(upload)
        prefix = await self._prefix(upload)
        if prefix.chunks != len(upload.chunk_ids):
            raise RuntimeError(f"assemble({upload.file_id}) called with chunks missing")
        target = self.partial / upload.file_id
        if not target.exists():  # a file of zero chunks
            target.touch()
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
