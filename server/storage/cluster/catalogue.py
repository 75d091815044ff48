"""The cluster backend's metadata in PostgreSQL: published files, their names, uploads and their chunks.

The metadata half of the storage contract (``server.storage.contract``), shared by every server process on
one database; the bytes are objects in S3 (``server.storage.cluster.objects``), named here by their object
keys. What an operation leaves to delete in the object store (the chunks of an upload that was dropped or
replaced, its multipart state) is returned (``Dropped``), never forgotten: chunk rows are only deleted by
statements that return their object keys.

Safe for several processes at once: every change is one statement or one transaction, the rows it changes
locked first (``FOR UPDATE``), so one that races with another (a chunk kept while its upload is deleted) sees a
consistent result (the chunk refused, ``NotKept.NO_UPLOAD``). The service's decisions still need locks
across processes: ``lock``/``try_lock`` (``advisory_locks``), on connections of their own.

Reads are not cached: another process may change any row. ``upload`` reads the upload and its chunk sizes in
one statement. Errors reaching PostgreSQL are ``DependencyUnavailable`` (``postgres``).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import asyncpg

from server.storage.cluster.advisory_locks import AdvisoryLocks, HeldLock
from server.storage.cluster.postgres import (
    PostgresOptions,
    close_pool,
    create_pool,
    pooled,
    unavailable_as_error,
)
from server.storage.cluster.schema import migrate
from server.storage.contract import FileName, StoredFile, Upload, key_file_id


@dataclass(frozen=True)
class StoredObject(StoredFile):
    """A published file and the object that holds its bytes."""

    object_key: str


@dataclass(frozen=True)
class Dropped:
    """What an upload left in the object store once its rows are gone: the caller deletes it."""

    objects: tuple[str, ...] = ()  # chunk objects
    parts: str | None = None  # the upload's object-store state (JSON), e.g. a multipart upload to abort


@dataclass(frozen=True)
class Publication:
    """The result of ``publish``: the file (ours, or the one published before with the same MD5)."""

    file: StoredObject
    created: bool  # False: the file existed; the assembled object given to ``publish`` is not needed
    dropped: Dropped


class NotKept(enum.Enum):
    """Why ``keep_chunk`` kept nothing; the chunk's object is not needed then."""

    NO_UPLOAD = "the upload no longer exists"
    ALREADY_KEPT = "the upload already has a chunk at that index"


class ChunkObject(NamedTuple):
    index: int
    size: int
    object_key: str


# An upload and its chunk sizes, in one statement (one snapshot).
_UPLOADS = """
SELECT u.key, u.chunk_ids, u.size, u.created_at, u.updated_at, u.info, u.published, u.owner, c.idxs, c.sizes
FROM uploads u
LEFT JOIN LATERAL (
    SELECT array_agg(idx ORDER BY idx) AS idxs, array_agg(size ORDER BY idx) AS sizes
    FROM chunks WHERE upload = u.key
) c ON true
"""
_FILE_COLUMNS = "file_id, size, created_at, object_key"


def _upload(row: asyncpg.Record) -> Upload:
    stored = dict(zip(row["idxs"] or (), row["sizes"] or (), strict=True))
    chunk_ids = None if row["chunk_ids"] is None else tuple(row["chunk_ids"])
    return Upload(
        row["key"],
        chunk_ids,
        row["size"],
        row["created_at"],
        row["updated_at"],
        MappingProxyType(stored),
        row["info"],
        row["published"],
        row["owner"],
    )


def _file(row: asyncpg.Record) -> StoredObject:
    return StoredObject(row["file_id"], row["size"], row["created_at"], row["object_key"])


class Catalogue:
    """Open with ``await Catalogue(dsn).open()`` (which creates or migrates the schema); ``close`` after."""

    def __init__(self, dsn: str, options: PostgresOptions | None = None) -> None:
        self._dsn = dsn
        self._options = options or PostgresOptions()
        self._pool: asyncpg.Pool | None = None
        self._locks = AdvisoryLocks(dsn, self._options)

    # -- life cycle ------------------------------------------------------------------------------------------

    async def open(self) -> Catalogue:
        options = self._options
        self._pool = await create_pool(
            self._dsn,
            options,
            min_size=1,
            max_size=options.pool_size,
            command_timeout=options.command_timeout,
            reset_sessions=False,  # its queries keep no session state: no reset query on each release
        )
        try:
            async with self._connection() as connection:
                await migrate(connection)
            await self._locks.open()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        """Close both pools; locks still held after ``command_timeout`` are cut (and so released)."""
        await self._locks.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await close_pool(pool, self._options.command_timeout)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for a few statements; unreachable PostgreSQL is ``DependencyUnavailable``."""
        if self._pool is None:
            raise RuntimeError("Catalogue.open() was not called")
        with unavailable_as_error():
            async with pooled(self._pool, self._options.acquire_timeout) as connection:
                yield connection

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._connection() as connection, connection.transaction():
            yield connection

    # -- locks across processes ------------------------------------------------------------------------------

    def lock(self, key: str) -> AbstractAsyncContextManager[HeldLock]:
        """``async with catalogue.lock(key):`` waits until no process holds ``key``, and holds it."""
        return self._locks.hold(key)

    def try_lock(self, key: str) -> AbstractAsyncContextManager[HeldLock | None]:
        """``async with catalogue.try_lock(key) as held:`` ``held`` is None when another holds it. (A context
        rather than a lock to release by hand: nothing leaks when the caller raises.)"""
        return self._locks.try_hold(key)

    # -- published files and names ---------------------------------------------------------------------------

    async def file(self, file_id: str) -> StoredObject | None:
        async with self._connection() as db:
            row = await db.fetchrow(f"SELECT {_FILE_COLUMNS} FROM files WHERE file_id = $1", file_id)
        return None if row is None else _file(row)

    async def add_file(
        self, file_id: str, size: int, object_key: str, created_at: float
    ) -> tuple[StoredObject, bool]:
        """Record a published file unless one with that id exists: the file's row, and whether it is new."""
        async with self._connection() as db:
            return await self._add_file(db, StoredObject(file_id, size, created_at, object_key))

    @staticmethod
    async def _add_file(db: asyncpg.Connection, file: StoredObject) -> tuple[StoredObject, bool]:
        row = await db.fetchrow(
            f"INSERT INTO files ({_FILE_COLUMNS}) VALUES ($1, $2, $3, $4) "
            f"ON CONFLICT (file_id) DO NOTHING RETURNING {_FILE_COLUMNS}",
            file.file_id,
            file.size,
            file.created_at,
            file.object_key,
        )
        if row is not None:
            return _file(row), True
        # Inserted by another transaction (committed: ON CONFLICT waited for it); a new statement sees it.
        existing = await db.fetchrow(f"SELECT {_FILE_COLUMNS} FROM files WHERE file_id = $1", file.file_id)
        return _file(existing), False

    async def publish(self, key: str, file_id: str, size: int, object_key: str, now: float) -> Publication:
        """Make an assembled file visible and end its upload, in one transaction: the file's row (unless a
        file with that MD5 exists: that one stays), then a chunked upload deleted, a stream upload marked
        published; the chunk rows of either go, their objects returned."""
        async with self._transaction() as db:
            upload = await db.fetchrow(
                "SELECT chunk_ids IS NULL AS stream, parts FROM uploads WHERE key = $1 FOR UPDATE", key
            )
            file, created = await self._add_file(db, StoredObject(file_id, size, now, object_key))
            if upload is None:  # ended meanwhile: the file is published all the same
                return Publication(file, created, Dropped())
            objects = await self._delete_chunks(db, key)
            if upload["stream"]:
                await db.execute(
                    "UPDATE uploads SET published = $2, file_id = $2, parts = NULL WHERE key = $1",
                    key,
                    file_id,
                )
            else:
                await db.execute("DELETE FROM uploads WHERE key = $1", key)
        return Publication(file, created, Dropped(objects, upload["parts"]))

    async def name(self, file_id: str, ext: str) -> FileName | None:
        async with self._connection() as db:
            row = await db.fetchrow("SELECT name FROM names WHERE file_id = $1 AND ext = $2", file_id, ext)
        return None if row is None else FileName(file_id, ext, row["name"])

    async def add_name(self, file_id: str, ext: str, name: str | None) -> None:
        """Offer a file under an extension; the first name given stays (a row without a name takes the first
        name given after it, as the contract's ``add_name`` says)."""
        async with self._connection() as db:
            await db.execute(
                "INSERT INTO names (file_id, ext, name) VALUES ($1, $2, $3) "
                "ON CONFLICT (file_id, ext) DO UPDATE SET name = excluded.name "
                "WHERE names.name IS NULL AND excluded.name IS NOT NULL",
                file_id,
                ext,
                name,
            )

    # -- uploads in progress ---------------------------------------------------------------------------------

    async def upload(self, key: str) -> Upload | None:
        async with self._connection() as db:
            row = await db.fetchrow(f"{_UPLOADS} WHERE u.key = $1", key)
        return None if row is None else _upload(row)

    async def find_uploads(self, file_id: str) -> list[Upload]:
        """The chunked uploads of ``file_id`` (the contract's ``find_uploads``)."""
        async with self._connection() as db:
            rows = await db.fetch(
                f"{_UPLOADS} WHERE u.file_id = $1 AND u.chunk_ids IS NOT NULL ORDER BY u.created_at, u.key",
                file_id,
            )
        return [_upload(row) for row in rows]

    async def create_upload(
        self,
        key: str,
        chunk_ids: Sequence[str] | None,
        size: int | None,
        now: float,
        info: str | None = None,
        owner: str | None = None,
    ) -> tuple[Upload, Dropped]:
        """Start an upload with no chunk kept, replacing one with that key: the new upload, and what the one
        it replaced left in the object store."""
        file_id = None if chunk_ids is None else key_file_id(key)
        async with self._transaction() as db:
            old = await db.fetchrow("SELECT parts FROM uploads WHERE key = $1 FOR UPDATE", key)
            dropped = Dropped()
            if old is not None:
                dropped = Dropped(await self._delete_chunks(db, key), old["parts"])
                await db.execute("DELETE FROM uploads WHERE key = $1", key)
            await db.execute(
                "INSERT INTO uploads (key, file_id, chunk_ids, size, created_at, updated_at, info, owner) "
                "VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
                key,
                file_id,
                None if chunk_ids is None else list(chunk_ids),
                size,
                now,
                info,
                owner,
            )
        chunk_tuple = None if chunk_ids is None else tuple(chunk_ids)
        return Upload(key, chunk_tuple, size, now, now, MappingProxyType({}), info, None, owner), dropped

    async def touch(self, key: str, now: float, size: int | None = None) -> None:
        """Note that the upload was used at ``now``; with ``size``, also declare its size."""
        async with self._connection() as db:
            await db.execute(
                "UPDATE uploads SET updated_at = $2, size = coalesce($3, size) WHERE key = $1", key, now, size
            )

    async def count_uploads(self, holding_bytes: bool = False, owner: str | None = None) -> int:
        """Uploads in progress (not the published ones); with ``holding_bytes``, only those with at least one
        chunk kept; with ``owner``, only those that client started."""
        conditions = ["published IS NULL"]
        if holding_bytes:
            conditions.append("EXISTS (SELECT 1 FROM chunks c WHERE c.upload = u.key)")
        if owner is not None:
            conditions.append("owner = $1")
        query = f"SELECT count(*) FROM uploads u WHERE {' AND '.join(conditions)}"
        async with self._connection() as db:
            return int(await db.fetchval(query, *([owner] if owner is not None else [])))

    async def untouched_since(self, when: float) -> list[str]:
        """Keys of the uploads last used before ``when``, oldest first."""
        async with self._connection() as db:
            rows = await db.fetch("SELECT key FROM uploads WHERE updated_at < $1 ORDER BY updated_at", when)
        return [row["key"] for row in rows]

    async def delete_upload(self, key: str) -> Dropped:
        """Forget an upload and its chunk rows (the names of a file never published, that no other upload is
        bringing, go too); what it left in the object store. Nothing when there is no such upload."""
        async with self._transaction() as db:
            upload = await db.fetchrow("SELECT file_id, parts FROM uploads WHERE key = $1 FOR UPDATE", key)
            if upload is None:
                return Dropped()
            objects = await self._delete_chunks(db, key)
            await db.execute("DELETE FROM uploads WHERE key = $1", key)
            await db.execute(
                "DELETE FROM names n WHERE n.file_id = $1 "
                "AND NOT EXISTS (SELECT 1 FROM files f WHERE f.file_id = $1) "
                "AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.file_id = $1)",
                upload["file_id"],
            )
        return Dropped(objects, upload["parts"])

    # -- the object store's state of an upload ---------------------------------------------------------------

    async def parts(self, key: str) -> str | None:
        """The upload's object-store state (JSON text), None when it has none or there is no such upload."""
        async with self._connection() as db:
            return await db.fetchval("SELECT parts::text FROM uploads WHERE key = $1", key)

    async def set_parts(self, key: str, parts: str | None) -> bool:
        """Replace the upload's object-store state (JSON text); False when there is no such upload."""
        async with self._connection() as db:
            status = await db.execute("UPDATE uploads SET parts = $2::jsonb WHERE key = $1", key, parts)
        return status == "UPDATE 1"

    # -- chunks ----------------------------------------------------------------------------------------------

    async def keep_chunk(self, key: str, index: int, size: int, object_key: str) -> Upload | NotKept:
        """Make the object chunk ``index`` of the upload: the upload after it, or why it was not kept (then
        the object is not needed). The foreign key decides "no upload" race-free: a concurrent delete locked
        the upload's row first, and this insert waits for it, then finds the row gone."""
        async with self._connection() as db:
            try:
                inserted = await db.fetchval(
                    "INSERT INTO chunks (upload, idx, size, object_key) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (upload, idx) DO NOTHING RETURNING true",
                    key,
                    index,
                    size,
                    object_key,
                )
            except asyncpg.ForeignKeyViolationError:
                return NotKept.NO_UPLOAD
            if not inserted:
                return NotKept.ALREADY_KEPT
            row = await db.fetchrow(f"{_UPLOADS} WHERE u.key = $1", key)
        return NotKept.NO_UPLOAD if row is None else _upload(row)

    async def drop_chunks(self, key: str, indexes: Sequence[int]) -> list[str]:
        """Forget these chunks of the upload (the others stay kept); the object keys of those that were
        kept."""
        async with self._connection() as db:
            rows = await db.fetch(
                "DELETE FROM chunks WHERE upload = $1 AND idx = ANY($2::integer[]) RETURNING object_key",
                key,
                list(indexes),
            )
        return [row["object_key"] for row in rows]

    async def chunk_objects(self, key: str) -> list[ChunkObject]:
        """The upload's kept chunks, in index order: where to read it from."""
        async with self._connection() as db:
            rows = await db.fetch(
                "SELECT idx, size, object_key FROM chunks WHERE upload = $1 ORDER BY idx", key
            )
        return [ChunkObject(row["idx"], row["size"], row["object_key"]) for row in rows]

    async def object_keys(self) -> set[str]:
        """Every object a row points at: the chunks kept and the published files."""
        async with self._connection() as db:
            rows = await db.fetch("SELECT object_key FROM chunks UNION ALL SELECT object_key FROM files")
        return {row["object_key"] for row in rows}

    @staticmethod
    async def _delete_chunks(db: asyncpg.Connection, key: str) -> tuple[str, ...]:
        rows = await db.fetch("DELETE FROM chunks WHERE upload = $1 RETURNING object_key", key)
        return tuple(row["object_key"] for row in rows)
