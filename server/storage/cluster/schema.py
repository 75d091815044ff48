"""The catalogue's tables in PostgreSQL, and the migrations that create and change them.

``MIGRATIONS`` is append-only: step ``n`` (``version == n``) runs once per database, in order; a change to
the schema is a new step at the end, never an edit of an old one. ``migrate`` runs at every start-up, in one
transaction that first takes a transaction-level advisory lock, so several server instances starting at once
apply each step exactly once (the others wait, then find it applied). A database migrated by a newer server
(a version beyond the last step known here) is used as it is: steps only add, so an older instance keeps
working during a rolling upgrade.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

log = logging.getLogger(__name__)

# The two-key advisory lock space does not overlap the one-key space the upload locks use ("rtmg", 1).
MIGRATION_LOCK = (int.from_bytes(b"rtmg", "big"), 1)


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "files, names, uploads and their chunks",
        """
        CREATE TABLE files (
            file_id    text PRIMARY KEY,             -- the file's MD5, hex
            size       bigint NOT NULL,
            created_at double precision NOT NULL,    -- seconds since the epoch
            object_key text NOT NULL                 -- where its bytes are in the object store
        );
        CREATE TABLE names (
            file_id text NOT NULL,
            ext     text NOT NULL,
            name    text,                            -- the first name given stays
            PRIMARY KEY (file_id, ext)
        );
        CREATE TABLE uploads (
            key        text PRIMARY KEY,
            file_id    text,                         -- chunked: the fileId; stream: its MD5 once published
            chunk_ids  text[],                       -- NULL for a stream upload
            size       bigint,                       -- declared by the client, if it did
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL,
            info       text,                         -- the protocol's own state, opaque here
            published  text,                         -- a complete stream upload: the file id it became
            owner      text,                         -- the client address that started it
            parts      jsonb                         -- the object store's state for it (multipart ids...)
        );
        CREATE INDEX uploads_by_updated_at ON uploads (updated_at);
        CREATE INDEX uploads_by_file_id ON uploads (file_id);
        CREATE INDEX uploads_by_owner ON uploads (owner) WHERE published IS NULL;
        -- No cascade: an upload's chunk rows are deleted on purpose, their object keys returned, so that
        -- no object in the store is forgotten.
        CREATE TABLE chunks (
            upload     text NOT NULL REFERENCES uploads (key),
            idx        integer NOT NULL,
            size       bigint NOT NULL,
            object_key text NOT NULL,
            PRIMARY KEY (upload, idx)
        );
        """,
    ),
)


def _check(steps: Sequence[Migration]) -> None:
    for position, step in enumerate(steps, start=1):
        if step.version != position:
            raise ValueError(f"migration {step.version} ({step.summary}) is at position {position}")


_check(MIGRATIONS)


async def migrate(connection: asyncpg.Connection, steps: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the steps this database lacks, under the migration lock; the schema's version after it."""
    _check(steps)
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1, $2)", *MIGRATION_LOCK)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY,"
            " summary text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = int(await connection.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))
        if current > len(steps):
            log.warning(
                "the database's schema is version %d, newer than this server's %d", current, len(steps)
            )
        for step in steps[current:]:
            await connection.execute(step.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version, summary) VALUES ($1, $2)", step.version, step.summary
            )
            log.info("database schema migrated to version %d: %s", step.version, step.summary)
        return max(current, len(steps))
