"""The contracts of the download engine with its surroundings: what the browser side implements, what it gets.

Downloads need more of HTTP than the upload protocol's JSON answers (header fields, a body read as it
arrives), and a place to put the bytes, so they have ports of their own. The browser package implements:

- ``StreamTransport`` - ``open(HttpRequest) -> StreamedResponse``: the answer's status and header fields as
  soon as they arrive, then its body piece by piece (``pieces``), so a segment is written as it lands and
  never held whole. A ``Piece`` is opaque to the engine (it only counts its bytes): the transport's and the
  partial file's business, so a browser's pieces go from ``fetch`` to OPFS without passing through Python. Like ``ports.Transport`` it moves bytes and nothing else: every HTTP answer is returned
  whatever its status; ``TransportError`` is raised when no answer arrived, or when the body stopped before
  its end (connection cut, offline, abort). The engine closes every response it opened (``aclose``), which
  aborts a body it does not want.
- ``PartialFile`` - one download's partial file and its journal (the browser: OPFS, a sync access handle in
  the worker, positioned writes): ``write`` at an offset, ``read`` back, ``commit`` (flush the bytes, THEN
  save the journal: a journal never lists bytes that are not on disk), ``reset`` (start over at a size:
  the journal first, then the data file allocated; nothing is left behind if that fails), ``sha256`` of
  a range written (a segment checked against its ``Content-Digest``), ``discard``, ``deliver`` (hand the
  finished file to the person).
- ``StorageSpace`` - how much the browser lets this page store still (``navigator.storage.estimate()``).

It receives ``DownloadSnapshot``s: an immutable picture of one download on every change.

Names here are stable: other code depends on them (add fields/classes, never rename).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .download_journal import Journal
from .download_state import DownloadState
from .ports import HttpRequest


@runtime_checkable
class Piece(Protocol):
    """Some bytes of a body, as the transport has them (``bytes`` will do): the engine only takes their
    length and hands them to ``PartialFile.write``."""

    def __len__(self) -> int: ...


@runtime_checkable
class StreamedResponse(Protocol):
    """One HTTP answer whose body is read as it arrives."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Header fields by lower-case name (``"content-range"``), repeated fields joined with ``", "``."""
        ...

    def pieces(self) -> AsyncIterator[Piece]:
        """The body, in pieces of any size in order; raise ``TransportError`` if it stops before its end."""
        ...

    async def text(self) -> str:
        """The whole body as text (error answers: small JSON envelopes)."""
        ...

    async def aclose(self) -> None:
        """Done with this answer: abort the body if it was not read to its end. Never raises."""
        ...


@runtime_checkable
class StreamTransport(Protocol):
    async def open(self, req: HttpRequest) -> StreamedResponse:
        """Send ``req`` (no body: GET) and return the answer once its head has arrived, whatever its status.

        ``req.timeout`` bounds the wait for the head; the body has no deadline of its own (the engine bounds
        the wait for each piece). Raise ``TransportError`` when no answer arrived. The engine may cancel the
        awaiting task; a transport that can should then abort the request."""
        ...


@runtime_checkable
class PartialFile(Protocol):
    """One download's bytes and journal. Errors: ``EngineError(Err.NO_SPACE)`` when the browser's quota is
    reached, ``EngineError(Err.STORAGE_FAILED)`` (or ``STORAGE_BUSY``: open elsewhere) for anything else."""

    async def journal(self) -> Journal | None:
        """The journal last committed, or None (never started, discarded, or unreadable)."""
        ...

    async def reset(self, journal: Journal) -> None:
        """Start over: save ``journal`` (no segment done), then make the data file ``journal.size`` bytes
        (allocated, so the quota is taken now, not half-way). If it fails, nothing is left behind."""
        ...

    async def write(self, offset: int, data: Piece) -> None: ...

    async def read(self, offset: int, size: int) -> bytes: ...

    async def sha256(self, start: int, end: int) -> bytes:
        """The SHA-256 of bytes ``[start, end)`` as written (one segment: it may be read whole)."""
        ...

    async def commit(self, journal: Journal) -> None:
        """Make every byte written so far durable (flush), THEN save ``journal``."""
        ...

    async def discard(self) -> None:
        """Remove the data file and the journal (frees their space). Never raises."""
        ...

    async def deliver(self, name: str) -> None:
        """Hand the finished file over under ``name`` (the browser: an object URL of the OPFS file, saved as a
        download). The engine has committed a journal that says finished: the space is freed later."""
        ...


@runtime_checkable
class StorageSpace(Protocol):
    async def available(self) -> int | None:
        """Bytes this page may still store (quota minus usage), or None when the browser does not say."""
        ...


@dataclass(frozen=True)
class DownloadSnapshot:
    """Everything a view needs to draw one download, at one moment. Sent to listeners on every change."""

    state: DownloadState
    name: str  # the name the file is saved under
    url: str
    bytes_total: int | None  # the file's size; None until the server has said
    bytes_done: int = 0  # bytes written: segments done, plus what has arrived of those in flight
    percent: float = 0.0  # 0..100 by bytes (an empty file is 100 once finished)
    segments_total: int = 0
    segments_done: int = 0
    speed: float | None = None  # bytes per second over a recent window; None until measurable
    eta: float | None = None  # seconds left at that speed
    in_flight: int = 0  # segment requests under way
    verified_percent: float = 0.0  # 0..100: how much of the file has been hashed for the final check
    verified: tuple[str, ...] = ()  # once FINISHED: the digests the file was checked against ("sha-256",
    # "md5"); empty when the server gave none (the file is then only as sure as its ETag)
    restarts: int = 0  # times the download started over (the file changed on the server, or did not match)
    refetched: int = 0  # segments fetched again because their Content-Digest did not match
    error: str | None = None  # human message when FAILED, or the last retryable error while RETRYING
    error_code: str | None = None  # an ``Err`` name or the server's ``error`` name
    retry_in: float | None = None  # seconds until the next attempt (RETRYING)
    attempt: int = 0  # consecutive failed attempts so far (resets when a segment lands)


DownloadListener = Callable[[DownloadSnapshot], None]
"""Called synchronously with each new snapshot. It must not raise (errors are logged and ignored)."""
