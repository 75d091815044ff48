"""The local backend's bookkeeping: SQLite, and one cache of the uploads in progress read from it.

SQLite (``meta.sqlite3``, WAL mode, ``synchronous=NORMAL``: a commit survives the death of the process, not
necessarily of the machine) is the truth. Uploads in progress are read from it once each and then kept in
memory beside it (``_cache``), updated in the same call that writes their rows and only after the write
succeeded, so a failed write (a full disk) leaves both as they were; a chunk's answer then does not re-read
lists that grow with the file. Calls are short and run on the event loop.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from server.storage.contract import FileName, StoredFile, Upload, key_file_id

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    file_id    TEXT PRIMARY KEY,     -- the upload's key (a chunked upload's fileId)
    chunk_ids  TEXT NOT NULL,        -- chunk ids in file order, comma-separated ('' for a stream upload)
    size       INTEGER,              -- declared size, if any
    prefix_chunks INTEGER NOT NULL DEFAULT 0,  -- unused since schema version 1 (table prefixes)
    prefix_bytes  INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
-- The partial file's durable prefix, apart from the upload's row: SQLite rewrites a whole row (its chunk list
-- too: 600 KB at 16,000 chunks) on any update of it, and the prefix moves with every chunk written in order.
CREATE TABLE IF NOT EXISTS prefixes (
    file_id TEXT PRIMARY KEY,
    chunks  INTEGER NOT NULL,  -- chunks durably appended to partial/<file_id>
    bytes   INTEGER NOT NULL   -- and their total length
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
# Columns added since the first schema, with their definitions: added to an older database when it is opened.
_ADDED_COLUMNS = {
    "stream": "INTEGER NOT NULL DEFAULT 0",  # 1: a stream upload (no chunk list; its chunks are its appends)
    "info": "TEXT",  # what the protocol that created the upload keeps with it
    "published": "TEXT",  # a complete stream upload: the file id it was published under
    "owner": "TEXT",  # the client that started the upload
}

# The uploads of one file id: their keys are the file id, or the file id, "." and a suffix, a range of the primary
# key ("/" follows "."). Parameters: the file id, the file id + ".", the file id + "/".
_UPLOADS_OF_FILE = "(file_id = ? OR (file_id > ? AND file_id < ?))"

_SET_PREFIX = (
    "INSERT INTO prefixes (file_id, chunks, bytes) VALUES (?, ?, ?) "
    "ON CONFLICT (file_id) DO UPDATE SET chunks = excluded.chunks, bytes = excluded.bytes"
)
_DROP_PREFIX_WITHOUT_UPLOAD = (
    "DELETE FROM prefixes WHERE file_id = ? AND NOT EXISTS (SELECT 1 FROM uploads WHERE file_id = ?)"
)


@dataclass
class _Cached:
    upload: Upload  # its ``stored`` is a read-only view of ``sizes``
    sizes: dict[int, int]


class Catalogue:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._cache: dict[str, _Cached] = {}

    def open(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(uploads)")}
        for name, definition in _ADDED_COLUMNS.items():
            if name not in columns:
                db.execute(f"ALTER TABLE uploads ADD COLUMN {name} {definition}")
        if db.execute("PRAGMA user_version").fetchone()[0] < 1:  # version 1: prefixes in a table of their own
            with db:
                db.execute("BEGIN")
                db.execute(
                    "INSERT OR REPLACE INTO prefixes SELECT file_id, prefix_chunks, prefix_bytes FROM uploads "
                    "WHERE prefix_chunks > 0"
                )
                db.execute("PRAGMA user_version = 1")
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._cache.clear()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("LocalStorage.open() was not called")
        return self._db

    # -- published files and names ----------------------------------------------------------------------------

    def file(self, file_id: str) -> StoredFile | None:
        row = self.db.execute("SELECT size, created_at FROM files WHERE file_id = ?", (file_id,)).fetchone()
        return None if row is None else StoredFile(file_id, row[0], row[1])

    def file_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT file_id FROM files")}

    def forget_files(self, file_ids: list[str]) -> None:
        """Drop the rows of published files (their names stay, for a new upload)."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM files WHERE file_id = ?", [(file_id,) for file_id in file_ids])

    def name(self, file_id: str, ext: str) -> FileName | None:
        row = self.db.execute(
            "SELECT name FROM names WHERE file_id = ? AND ext = ?", (file_id, ext)
        ).fetchone()
        return None if row is None else FileName(file_id, ext, row[0])

    def add_name(self, file_id: str, ext: str, name: str | None) -> None:
        self.db.execute(
            "INSERT INTO names (file_id, ext, name) VALUES (?, ?, ?) "
            "ON CONFLICT (file_id, ext) DO UPDATE SET name = coalesce(names.name, excluded.name)",
            (file_id, ext, name),
        )

    def publish(self, key: str, file_id: str, size: int, created_at: float | None) -> None:
        """The file's row (unless ``created_at`` is None: it exists), and its upload ended, in one transaction:
        a chunked upload dropped, a stream upload marked published."""
        with self.db:
            self.db.execute("BEGIN")
            if created_at is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO files (file_id, size, created_at) VALUES (?, ?, ?)",
                    (file_id, size, created_at),
                )
            self.db.execute("DELETE FROM chunks WHERE file_id = ?", (key,))
            self.db.execute("DELETE FROM uploads WHERE file_id = ? AND stream = 0", (key,))
            self.db.execute(_DROP_PREFIX_WITHOUT_UPLOAD, (key, key))
            self.db.execute("UPDATE uploads SET published = ? WHERE file_id = ?", (file_id, key))
        self._cache.pop(key, None)

    # -- uploads in progress ----------------------------------------------------------------------------------

    def upload_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT file_id FROM uploads")}

    def upload(self, key: str) -> Upload | None:
        cached = self._cache.get(key)
        if cached is not None:
            return cached.upload
        row = self.db.execute(
            "SELECT chunk_ids, size, created_at, updated_at, info, published, stream, owner FROM uploads "
            "WHERE file_id = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        sizes = dict(self.db.execute("SELECT idx, size FROM chunks WHERE file_id = ?", (key,)).fetchall())
        chunk_ids = None if row[6] else tuple(row[0].split(",")) if row[0] else ()
        upload = Upload(key, chunk_ids, row[1], row[2], row[3], MappingProxyType(sizes), *row[4:6], row[7])
        self._cache[key] = _Cached(upload, sizes)
        return upload

    def upload_keys_of(self, file_id: str) -> list[str]:
        """Keys of the uploads of ``file_id``: itself, and the keys ``<file_id>.<suffix>`` (a range of the
        primary key: ``/`` follows ``.``)."""
        query = f"SELECT file_id FROM uploads WHERE {_UPLOADS_OF_FILE} ORDER BY file_id"
        return [row[0] for row in self.db.execute(query, (file_id, file_id + ".", file_id + "/"))]

    def create_upload(
        self,
        key: str,
        chunk_ids: tuple[str, ...] | None,
        size: int | None,
        now: float,
        info: str | None,
        owner: str | None,
    ) -> Upload:
        with self.db:  # one transaction: the old chunks go with the old upload
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM chunks WHERE file_id = ?", (key,))
            self.db.execute("DELETE FROM prefixes WHERE file_id = ?", (key,))
            self.db.execute(
                "INSERT OR REPLACE INTO uploads "
                "(file_id, chunk_ids, size, created_at, updated_at, info, stream, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, ",".join(chunk_ids or ()), size, now, now, info, int(chunk_ids is None), owner),
            )
        sizes: dict[int, int] = {}
        upload = Upload(key, chunk_ids, size, now, now, MappingProxyType(sizes), info, None, owner)
        self._cache[key] = _Cached(upload, sizes)
        return upload

    def touch(self, key: str, now: float, size: int | None) -> None:
        upload = self.upload(key)
        if upload is None:
            return
        if size is None:
            self.db.execute("UPDATE uploads SET updated_at = ? WHERE file_id = ?", (now, key))
            self._cache[key].upload = replace(upload, updated_at=now)
        else:
            self.db.execute("UPDATE uploads SET updated_at = ?, size = ? WHERE file_id = ?", (now, size, key))
            self._cache[key].upload = replace(upload, updated_at=now, size=size)

    def count_uploads(self, holding_bytes: bool, owner: str | None) -> int:
        query = "SELECT count(*) FROM uploads u WHERE published IS NULL"
        if holding_bytes:  # one probe of the chunks' primary key per upload
            query += " AND EXISTS (SELECT 1 FROM chunks c WHERE c.file_id = u.file_id)"
        if owner is not None:
            query += " AND owner = ?"
        return int(self.db.execute(query, () if owner is None else (owner,)).fetchone()[0])

    def untouched_since(self, when: float) -> list[str]:
        return [
            row[0] for row in self.db.execute("SELECT file_id FROM uploads WHERE updated_at < ?", (when,))
        ]

    def delete_upload(self, key: str) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM chunks WHERE file_id = ?", (key,))
            self.db.execute("DELETE FROM uploads WHERE file_id = ?", (key,))
            self.db.execute("DELETE FROM prefixes WHERE file_id = ?", (key,))
            # Names of a file never published go with its last upload.
            file_id = key_file_id(key)
            self.db.execute(
                "DELETE FROM names WHERE file_id = ? AND NOT EXISTS (SELECT 1 FROM files WHERE file_id = ?) "
                f"AND NOT EXISTS (SELECT 1 FROM uploads WHERE {_UPLOADS_OF_FILE})",
                (file_id, file_id, file_id, file_id + ".", file_id + "/"),
            )
        self._cache.pop(key, None)

    # -- chunks and the assembled prefix ----------------------------------------------------------------------

    def record_chunk(self, key: str, index: int, size: int, prefix: tuple[int, int] | None = None) -> None:
        """The chunk's row (and, when it went straight into the partial file, the prefix's new chunk count and
        length), in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            if prefix is not None:
                self.db.execute(_SET_PREFIX, (key, *prefix))
            self.db.execute(
                "INSERT OR REPLACE INTO chunks (file_id, idx, size) VALUES (?, ?, ?)", (key, index, size)
            )
        cached = self._cache.get(key)
        if cached is not None:
            cached.sizes[index] = size

    def prefix(self, key: str) -> tuple[int, int]:
        """(chunks, bytes) of the partial file recorded as durable."""
        row = self.db.execute("SELECT chunks, bytes FROM prefixes WHERE file_id = ?", (key,)).fetchone()
        return (row[0], row[1]) if row is not None else (0, 0)

    def advance_prefix(self, key: str, chunks: int, size: int) -> None:
        """Record a longer durable prefix; the row only moves forward."""
        self.db.execute(
            "INSERT INTO prefixes (file_id, chunks, bytes) SELECT ?, ?, ? "
            "WHERE EXISTS (SELECT 1 FROM uploads WHERE file_id = ?) "
            "ON CONFLICT (file_id) DO UPDATE SET chunks = excluded.chunks, bytes = excluded.bytes "
            "WHERE prefixes.chunks < excluded.chunks",
            (key, chunks, size, key),
        )

    def drop_chunks(self, key: str, indexes: list[int], prefix: tuple[int, int]) -> None:
        """Forget chunks and cut the recorded prefix back, in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "DELETE FROM chunks WHERE file_id = ? AND idx = ?", [(key, index) for index in indexes]
            )
            self.db.execute(_SET_PREFIX, (key, *prefix))
        cached = self._cache.get(key)
        if cached is not None:
            for index in indexes:
                cached.sizes.pop(index, None)
