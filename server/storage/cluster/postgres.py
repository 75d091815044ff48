"""How the cluster backend talks to PostgreSQL: its connection pools, the lease, and failures as one error.

**The lease (``LEASE_SECONDS``, 30 s).** Locks are session-level advisory locks (``advisory_locks``): held as
long as the connection that took them lives. A server killed with ``kill -9`` leaves nothing locked: its
kernel closes its sockets, each backend reads the end of its connection and exits, and PostgreSQL drops the
session's locks at once. A host that vanishes without closing anything (powered off, cut off by a network
partition) is noticed by TCP, on both ends, within the lease:

- PostgreSQL's end of every connection is configured at connection time (``server_settings``): keepalive
  probes after ``lease / 3`` idle seconds, ``3`` of them ``lease / 6`` apart (a silent peer is declared dead
  after at most ``5/6`` of the lease), and ``tcp_user_timeout`` = the lease for data sent and never
  acknowledged. The backend then ends, releasing the session's locks: another instance gets them.
  ``client_connection_check_interval`` lets a backend that is *waiting* for a lock notice a gone client too.
- Our end gets the same keepalive and user timeout (``keep_alive``), so a waiter whose PostgreSQL vanished
  fails within the lease instead of waiting forever; plain queries are bounded by ``command_timeout``.

Not ``idle_session_timeout``: a lock holder's connection is legitimately idle for as long as the work done
under the lock takes (assembling a large file); ending idle sessions would release locks still in use.
Keepalives end only the sessions whose peer is gone. What the lease does not give is fencing: a holder cut
off for longer than the lease has lost its lock without knowing it until it next talks to PostgreSQL
(``HeldLock.still_held``).

**Failures.** PostgreSQL unreachable, restarting or overloaded (connection refused or reset, the connection
lost mid-query, "the database system is starting up", too many connections, no answer or no free pooled
connection in time) is raised as ``DependencyUnavailable("PostgreSQL", ...)``; anything else (a bug, a
constraint) propagates as it is.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from server.storage.cluster.errors import DependencyUnavailable

log = logging.getLogger(__name__)

LEASE_SECONDS = 30
KEEPALIVE_PROBES = 3
APPLICATION_NAME = "resumable-transfer"

# SQLSTATEs that mean "PostgreSQL cannot serve now", not "this request is wrong" (the whole class 08,
# connection exceptions, is recognised by its exception class).
_UNAVAILABLE_STATES = {
    "57P01": "it is shutting down",  # admin_shutdown (also pg_terminate_backend)
    "57P02": "it is restarting after a crash",  # crash_shutdown
    "57P03": "it is starting up or shutting down",  # cannot_connect_now
    "57P05": "it ended an idle session",  # idle_session_timeout
    "53300": "it has too many connections",  # too_many_connections
}

# What asyncpg says when a statement is sent on a connection that died after the previous one: plainly, or (a
# pooled connection, whose proxy asyncpg detaches when it dies) as if it had been released to its pool. This
# module's callers never use a connection after giving it back, so there it always means the former.
_CONNECTION_GONE = ("connection is closed", "connection has been released back to the pool")
ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
"""What asyncpg raises for anything gone wrong with a statement (``TimeoutError`` is an ``OSError``)."""


@dataclass(frozen=True)
class PostgresOptions:
    """Pool sizes and time limits; the defaults suit a server process serving a few hundred uploads."""

    pool_size: int = 10  # connections for queries (each query holds one for milliseconds)
    lock_connections: int = 50  # the most locks this process holds or waits for at once (one connection each)
    connect_timeout: float = 5.0
    command_timeout: float = 10.0  # any one query (not a wait for a lock)
    acquire_timeout: float = 5.0  # waiting for a free pooled connection
    lease_seconds: int = LEASE_SECONDS


def server_settings(lease: int) -> dict[str, str]:
    """Session settings sent when each connection opens: PostgreSQL's side of the lease."""
    idle, interval = max(1, lease // 3), max(1, lease // 6)
    return {
        "application_name": APPLICATION_NAME,
        "tcp_keepalives_idle": str(idle),
        "tcp_keepalives_interval": str(interval),
        "tcp_keepalives_count": str(KEEPALIVE_PROBES),
        "tcp_user_timeout": str(lease * 1000),  # milliseconds
        "client_connection_check_interval": str(interval * 1000),  # milliseconds
        # A transaction left open by a hung client does not hold row locks for longer than the lease.
        "idle_in_transaction_session_timeout": str(lease * 1000),  # milliseconds
    }


def keep_alive(connection: asyncpg.Connection, lease: int) -> None:
    """Our side of the lease: TCP keepalive and user timeout on the connection's socket (TCP only)."""
    # asyncpg offers no public way to its socket; the transport is where asyncio keeps it.
    transport = getattr(connection, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    idle, interval = max(1, lease // 3), max(1, lease // 6)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
        ("TCP_USER_TIMEOUT", lease * 1000),
    ):
        if hasattr(socket, option):  # Linux has them all
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


async def create_pool(
    dsn: str,
    options: PostgresOptions,
    *,
    min_size: int,
    max_size: int,
    command_timeout: float | None,
    reset_sessions: bool = True,
) -> asyncpg.Pool:
    """A pool whose connections carry the lease's settings, on both ends. ``reset_sessions=False``: a
    connection goes back without asyncpg's reset query, for a pool whose sessions keep no state (below)."""
    lease = options.lease_seconds

    async def init(connection: asyncpg.Connection) -> None:
        keep_alive(connection, lease)

    pool_options: dict[str, Any] = {
        "min_size": min_size,
        "max_size": max_size,
        "timeout": options.connect_timeout,
        "command_timeout": command_timeout,
        "server_settings": server_settings(lease),
        "init": init,
    }
    if not reset_sessions:
        pool_options["reset"] = _nothing_to_reset
    with unavailable_as_error():
        return await asyncpg.create_pool(dsn, **pool_options)


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """On release asyncpg always rolls back a transaction left open (``Connection._reset``); the reset query
    it would send then (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``) undoes session state
    that the catalogue's queries never make: no session-level advisory lock (those are ``advisory_locks``'s,
    on a pool that keeps the reset), no cursor, no LISTEN, no SET. Skipping it saves a round trip per query."""


@asynccontextmanager
async def pooled(pool: asyncpg.Pool, timeout: float) -> AsyncIterator[asyncpg.Connection]:
    """A connection of ``pool`` for the ``async with`` body; none free or made within ``timeout`` is
    ``DependencyUnavailable``. It goes back reset (asyncpg's reset also releases every advisory lock the
    session holds; the catalogue's pool only rolls back a transaction left open), or, when the reset fails,
    asyncpg closes it: logged, not raised, since the body's outcome is what the caller must see."""
    try:
        connection = await pool.acquire(timeout=timeout)
    except TimeoutError as exc:
        detail = f"no pooled connection was free or could be made within {timeout:g} s"
        raise DependencyUnavailable("PostgreSQL", detail) from exc
    except Exception as exc:
        mapped = unavailable(exc)
        if mapped is None:
            raise
        raise mapped from exc
    try:
        yield connection
    finally:
        try:
            await pool.release(connection, timeout=timeout)
        except ERRORS as exc:
            log.warning("a PostgreSQL connection could not be reset, so it was closed: %s", exc)


async def close_pool(pool: asyncpg.Pool, timeout: float) -> None:
    """Close gracefully, waiting up to ``timeout`` for connections still in use (a lock held by a request
    being cancelled), then cut the rest: their sessions end, and the locks they held with them."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except TimeoutError:
        pool.terminate()


def unavailable(exc: BaseException) -> DependencyUnavailable | None:
    """The ``DependencyUnavailable`` an exception from asyncpg means, or None when it is not one of those."""
    detail = _why_unavailable(exc)
    return None if detail is None else DependencyUnavailable("PostgreSQL", detail)


def _why_unavailable(exc: BaseException) -> str | None:
    if isinstance(exc, asyncpg.PostgresConnectionError):  # class 08, and the connection lost mid-query
        return f"the connection failed: {exc}"
    if isinstance(exc, asyncpg.PostgresError) and exc.sqlstate in _UNAVAILABLE_STATES:
        return f"{_UNAVAILABLE_STATES[exc.sqlstate]}: {exc}"
    if isinstance(exc, asyncpg.InterfaceError) and any(sign in str(exc) for sign in _CONNECTION_GONE):
        return "the connection was lost"  # between two statements
    if isinstance(exc, asyncpg.InternalClientError):
        # A session PostgreSQL ended while it was idle (pg_terminate_backend, a fast shutdown) sends its FATAL
        # error before closing: until the close arrives, asyncpg waits for a "ready" that never comes and
        # refuses the next statement ("cannot switch to state 11; another operation (2) is in progress").
        # Its other cause, one connection used by two tasks at once, never happens here: each task holds its
        # own connection for the statements it runs.
        return f"the connection was ended by the server: {exc}"
    if isinstance(exc, TimeoutError):  # connecting, a query, or waiting for a pooled connection
        return "it did not answer in time"
    if isinstance(exc, OSError):  # refused, reset, unreachable, unknown host
        return f"cannot connect: {exc.strerror or exc}"
    return None


@contextmanager
def unavailable_as_error() -> Iterator[None]:
    """Raise what ``unavailable`` recognises as ``DependencyUnavailable``, chained to the original."""
    try:
        yield
    except Exception as exc:
        mapped = unavailable(exc)
        if mapped is None:
            raise
        raise mapped from exc
