"""A deadline for each request head (``--header-timeout-seconds``), apart from the idle keep-alive time.

nginx's model, which the server's timeouts follow: a connection may wait for its next request for the idle
time (``keepalive_timeout``, here ``--idle-timeout-seconds``); once the first byte of a request head has
arrived, the whole head must arrive within the header time (``client_header_timeout``, 60 s), or the
connection is closed without an answer (nginx logs a 408 but sends nothing; so does this). A client that
sends its head a byte every few seconds is never idle for long, yet is cut once the header time is up; and
a head that begins just before the idle time runs out is not cut by the idle timer: it gets the header time.

aiohttp (pinned below 3.15) has no head timeout of its own, and its idle timer (``keepalive_timeout``) runs
from the connection's start or the previous answer whether bytes arrive or not. ``HeadDeadline`` wraps the
``RequestHandler`` aiohttp makes for each connection, forwards every protocol call to it, and reads two of
its attributes:

- ``_waiter``: the future aiohttp's request loop awaits while it waits for the next request head; it is
  resolved by ``data_received`` as soon as a head is complete (or found malformed: aiohttp then answers 400).
  While it is pending, every byte that arrives belongs to a head. A new future is made for every head, so
  its identity tells one head from the next.
- ``_next_keepalive_close_time``: when aiohttp's idle timer closes an idle connection; pushed to the head's
  deadline when a head begins (aiohttp's timer then finds it fired too early and waits again).

``tests/server/test_connections.py`` covers both (a trickled head is cut at the header time, not the idle
time, and a head that begins near the end of the idle time still completes), so an aiohttp that changes
either fails there. Pipelined bytes that arrive while a request is being handled are not watched; the next
byte after the answer starts the deadline (or, if none comes, the idle timer closes the connection).
"""

from __future__ import annotations

import asyncio

from aiohttp.web_protocol import RequestHandler


class HeadDeadline(asyncio.Protocol):
    """One connection: aiohttp's ``handler`` with at most ``timeout`` seconds from a head's first byte to
    its last."""

    def __init__(self, handler: RequestHandler, timeout: float) -> None:
        self.handler = handler
        self.timeout = timeout
        self._head: asyncio.Future[None] | None = None  # the handler's waiter for the head being timed
        self._timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ the deadline

    def data_received(self, data: bytes) -> None:
        handler = self.handler
        waiter = handler._waiter  # pending: these bytes belong to the next request head
        handler.data_received(data)
        if waiter is None or waiter.done():  # a request being handled, or the head just completed
            self._stop()
            return
        if waiter is not self._head:  # the first bytes of this head: its deadline starts now
            self._stop()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.timeout
            self._head = waiter
            self._timer = loop.call_at(deadline, self._expire, waiter)
            # From now on the header time applies, not the idle time: aiohttp's idle timer, when it fires
            # before the deadline, sees a later close time and waits again.
            handler._next_keepalive_close_time = max(handler._next_keepalive_close_time, deadline)

    def _expire(self, waiter: asyncio.Future[None]) -> None:
        self._timer = None
        if self.handler._waiter is waiter and not waiter.done():  # still the same head, still incomplete
            self.handler.force_close()  # closed without an answer, as nginx does

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._head = None

    # ------------------------------------------------------------------ the rest goes to aiohttp as it is

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        self.handler.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self.handler.eof_received()

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()
