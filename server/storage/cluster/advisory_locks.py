"""Locks shared by every server process on one database: PostgreSQL session-level advisory locks.

A lock is taken (``pg_advisory_lock``) on a connection of its own, which stays checked out of the lock pool
until the lock is released: the lock lives exactly as long as that session, so a process that dies releases
its locks with its connections (see ``postgres`` for the lease that bounds how long a vanished host keeps
them). Keys are strings hashed to PostgreSQL's 64-bit lock ids (``lock_id``); two keys that collide only
wait for each other.

**Why a pool of its own.** A held lock pins its connection for as long as the work under it takes, and a
waiter pins one while it waits. If locks came from the pool the work's queries use, locks held and awaited
could take every connection, and the holders' own queries would then wait for a connection that only a
holder can give back: a deadlock. The work's queries use the catalogue's query pool, which locks never
touch; this pool's size (``PostgresOptions.lock_connections``) bounds only how many locks one process holds
or awaits at once. Callers should queue their own tasks for the same key in the process first (the
service's ``KeyedLocks``) so one key costs one connection, not one per waiting request. Not re-entrant: a
task taking a key it holds waits for itself, as with ``asyncio.Lock``.

A lock granted just as its waiter is cancelled is not leaked: a connection goes back to the pool only after
asyncpg's reset, which releases every advisory lock of the session (``pg_advisory_unlock_all``), and one
that cannot be reset is closed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import asyncpg

from server.storage.cluster.postgres import (
    ERRORS,
    PostgresOptions,
    close_pool,
    create_pool,
    pooled,
    unavailable_as_error,
)

log = logging.getLogger(__name__)


def lock_id(key: str) -> int:
    """The signed 64-bit advisory lock id of ``key``: its BLAKE2b digest's first 8 bytes (the same in every
    process and Python version, unlike ``hash``)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"upload-lock").digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class HeldLock:
    """A lock this process holds, on its own connection."""

    key: str
    backend_pid: int  # PostgreSQL's process for the session that holds it (pg_locks.pid)
    _connection: asyncpg.Connection
    _timeout: float

    async def still_held(self) -> bool:
        """Whether the session holding the lock is still alive (then it still holds it): worth asking before
        an irreversible step after a long wait, since a holder cut off for longer than the lease loses its
        locks without knowing."""
        try:
            await self._connection.fetchval("SELECT 1", timeout=self._timeout)
        except ERRORS:
            return False
        return True


class AdvisoryLocks:
    def __init__(self, dsn: str, options: PostgresOptions) -> None:
        self._dsn = dsn
        self._options = options
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        # No timeout on the pool's queries: waiting for a lock takes as long as its holder's work.
        self._pool = await create_pool(
            self._dsn,
            self._options,
            min_size=0,
            max_size=self._options.lock_connections,
            command_timeout=None,
        )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await close_pool(pool, self._options.command_timeout)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[HeldLock]:
        """Wait for ``key``'s lock, hold it for the ``async with`` body, release it."""
        async with self._connection() as connection:
            with unavailable_as_error():
                await connection.execute("SELECT pg_advisory_lock($1)", lock_id(key))
            try:
                yield HeldLock(key, connection.get_server_pid(), connection, self._options.command_timeout)
            finally:
                await self._unlock(connection, key)

    @asynccontextmanager
    async def try_hold(self, key: str) -> AsyncIterator[HeldLock | None]:
        """``key``'s lock for the ``async with`` body if nobody holds it now, else None (at once)."""
        async with self._connection() as connection:
            with unavailable_as_error():
                taken = await connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", lock_id(key), timeout=self._options.command_timeout
                )
            if not taken:
                yield None
                return
            try:
                yield HeldLock(key, connection.get_server_pid(), connection, self._options.command_timeout)
            finally:
                await self._unlock(connection, key)

    def _connection(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        if self._pool is None:
            raise RuntimeError("AdvisoryLocks.open() was not called")
        return pooled(self._pool, self._options.acquire_timeout)

    async def _unlock(self, connection: asyncpg.Connection, key: str) -> None:
        """Release ``key``'s lock. Never raises: the body's own outcome is what the caller must see, and a
        session that cannot be reached is closed, which releases the lock as well."""
        try:
            released = await connection.fetchval(
                "SELECT pg_advisory_unlock($1)", lock_id(key), timeout=self._options.command_timeout
            )
        except ERRORS as exc:
            log.warning("the lock on %s was lost while held (its PostgreSQL session ended): %s", key, exc)
            _close(connection)
            return
        if not released:
            log.warning("the lock on %s was not held any more when released", key)


def _close(connection: asyncpg.Connection) -> None:
    """Close a lock connection at once: its session, and the locks it holds, end."""
    with contextlib.suppress(asyncpg.InterfaceError):  # asyncpg found it dead and closed it already
        connection.terminate()
