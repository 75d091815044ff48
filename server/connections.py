"""The listening socket and its limits: a cap on open connections, and errors of the accept loop logged
once per interval instead of once per event.

aiohttp itself closes a connection idle for its ``keepalive_timeout`` (``--idle-timeout-seconds``), which in
aiohttp 3.14 runs from the moment a connection opens (or its previous answer is sent), so a client that
connects and sends nothing is cut off in bounded time; once a request head has begun, ``head_deadline.py``
gives it ``--header-timeout-seconds`` to be complete, so a head sent a byte at a time is cut off too. What
aiohttp does not bound is the number of connections: each holds a file descriptor, and when they run out
every accept fails and asyncio logs a traceback for each try. So ``listen`` serves through a protocol factory
that answers a connection beyond ``--max-connections`` with a complete ``503`` (the seed's envelope,
``Retry-After``, ``Connection: close``) without reading anything from it, and the loop's exception handler
reports accept errors and refusals as one line per ``LOG_INTERVAL`` with a count.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from server.errors import ApiError, E
from server.head_deadline import HeadDeadline

log = logging.getLogger(__name__)

LOG_INTERVAL = 10.0  # seconds between two lines about the same kind of trouble
RETRY_AFTER = 5  # seconds, in the 503 for a connection over the cap
RESERVED_FDS = 64  # file descriptors kept for the data files, SQLite and the logs


class ThrottledLog:
    """Log a kind of event at most once per ``interval``, saying how many happened since the last line."""

    def __init__(self, interval: float = LOG_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def event(self, kind: str, message: str) -> None:
        self._count[kind] = self._count.get(kind, 0) + 1
        now = self.clock()
        if now - self._last.get(kind, -self.interval) >= self.interval:
            log.warning("%s (%d time(s) in the last %.0f s)", message, self._count[kind], self.interval)
            self._last[kind] = now
            self._count[kind] = 0


def _refusal(max_connections: int) -> bytes:
    error = ApiError(
        E.TOO_MANY_CONNECTIONS,
        f"the server has {max_connections} connections open, the most it takes; try again in {RETRY_AFTER} s",
    )
    body = json.dumps(error.envelope(), separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {error.status} Service Unavailable\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Retry-After: {RETRY_AFTER}\r\n"
        "Access-Control-Allow-Origin: *\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class _Refuse(asyncio.Protocol):
    """A connection over the cap: the 503 is written at once and our side shut; what the client sends is
    read and dropped until it closes, or for ``LINGER`` seconds at most (closing with its request unread
    would make the kernel reset the connection, and the client might never read the 503)."""

    LINGER = 2.0

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.answer)
        transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(self.LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        pass  # the request is not read: it is refused whatever it says

    def eof_received(self) -> bool:
        return False  # the client is done too: close

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()


def usable_connections(wanted: int) -> int:
    """``wanted``, or fewer when the process may not open that many files: the soft limit is raised up to the
    hard one first (a cap the server cannot hold would fail accepts instead of refusing cleanly)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + RESERVED_FDS
    if soft != resource.RLIM_INFINITY and soft < needed:
        new_soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            soft = new_soft
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        usable = max(1, soft - RESERVED_FDS)
        log.warning(
            "only %d connections fit the limit of %d open files (--max-connections %d)", usable, soft, wanted
        )
        return usable
    return wanted


def install_exception_handler(loop: asyncio.AbstractEventLoop, throttled: ThrottledLog) -> None:
    """Errors of the accept loop (file descriptors exhausted, ...) as throttled lines; the rest as usual."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if "accept" in message:
            throttled.event("accept", f"accepting connections failed: {context.get('exception') or message}")
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handle)


async def listen(
    runner: web.AppRunner,
    host: str,
    port: int,
    max_connections: int,
    header_timeout: float | None = None,
) -> asyncio.Server:
    """Serve ``runner``'s application on ``host:port`` with at most ``max_connections`` open at once, and at
    most ``header_timeout`` seconds from a request head's first byte to its last (None: no such bound)."""
    server = runner.server
    assert server is not None, "runner.setup() first"
    loop = asyncio.get_running_loop()
    throttled = ThrottledLog()
    install_exception_handler(loop, throttled)
    cap = usable_connections(max_connections)
    answer = _refusal(cap)

    def protocol() -> asyncio.BaseProtocol:
        if len(server.connections) >= cap:
            throttled.event("cap", f"refused connections over the cap of {cap} (503)")
            return _Refuse(answer)
        handler = server()
        return handler if header_timeout is None else HeadDeadline(handler, header_timeout)

    return await loop.create_server(protocol, host, port, reuse_address=True)
