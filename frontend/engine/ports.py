"""The contracts between the pure engine and its surroundings: what the browser side implements, what it gets.

The browser package implements (the only code that imports ``js``/``pyodide``):

- ``Transport`` - one method, ``request(HttpRequest) -> HttpResponse`` (httpx-style). It moves bytes and
  nothing else: it returns every HTTP answer, whatever its status (4xx/5xx are data), and raises
  ``TransportError`` only when no answer arrived (fetch rejected: offline, reset, CORS, timeout, abort, or
  the file's bytes could not be read while sending, or the request stalled: ``HttpRequest.stall_timeout``).
  Retries, backoff and the meaning of statuses belong to the engine. A chunk's ``FilePart`` usually holds a
  ``FileRange`` (bytes of the file not read yet): a browser transport sends ``file.slice(start, end)``
  itself; others read it (``await FormBody.resolved()``).
- ``FileSource`` - the chosen file: ``name``, ``size``, ``last_modified`` and ``read(start, end)``.
  Optionally ``blocks(block_size)`` (see ``StreamingFileSource``) for faster hashing from ``blob.stream()``.

It receives:

- ``UploadSnapshot`` - an immutable picture of one upload, sent to every ``Listener`` on every change.

Tests and the browser inject time through ``Clock`` (``now``, ``sleep``, ``random``), so no test waits for
real time and backoff jitter is deterministic under test.

Names here are stable: other code depends on them (add fields/classes, never rename).
"""

from __future__ import annotations

import asyncio
import json
import random as _random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .state import UploadState

# ---------------------------------------------------------------------------------------------------------
# HTTP: requests and answers are plain values
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonBody:
    """A JSON request body. ``value`` is JSON-able (dicts, lists, str, int, float, bool, None)."""

    value: Any

    def encode(self) -> bytes:
        """UTF-8 JSON text for transports that send bytes (the browser may use ``JSON.stringify`` instead)."""
        return json.dumps(self.value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class FormField:
    """A text field of a multipart form (``FormData.append(name, value)``)."""

    name: str
    value: str


@dataclass(frozen=True)
class FileRange:
    """Bytes ``[start, end)`` of ``source``, not read yet: the transport reads them as it sends the request.

    A browser transport appends ``file.slice(start, end)`` to the ``FormData`` (what the seed's client sends:
    no read, no copy through Python); a transport that needs bytes reads them (``read``). A read that fails
    there is a ``TransportError`` like a fetch whose body could not be read."""

    source: FileSource
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    async def read(self) -> bytes:
        data = await self.source.read(self.start, self.end)
        if len(data) != self.size:
            raise OSError(f"bytes {self.start}-{self.end} of the file gave {len(data)} bytes")
        return data


@dataclass(frozen=True)
class FilePart:
    """The file part of a multipart form (``FormData.append(name, blob, filename)``): bytes, or a
    ``FileRange`` of the chosen file (``file.slice(start, end)``)."""

    name: str
    data: bytes | FileRange
    filename: str = "blob"  # what a browser sends for a Blob appended without a name
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class FormBody:
    """A multipart/form-data body. Parts go on the wire IN THIS ORDER (the engine puts the text fields before
    ``file``, so the server knows where the bytes go before they arrive). The transport chooses the boundary
    and sets the Content-Type header itself."""

    parts: tuple[FormField | FilePart, ...]

    async def resolved(self) -> FormBody:
        """This body with each ``FileRange`` read into bytes (for transports that send bytes)."""
        if not any(isinstance(p, FilePart) and isinstance(p.data, FileRange) for p in self.parts):
            return self
        parts: list[FormField | FilePart] = []
        for part in self.parts:
            if isinstance(part, FilePart) and isinstance(part.data, FileRange):
                part = FilePart(part.name, await part.data.read(), part.filename, part.content_type)
            parts.append(part)
        return FormBody(tuple(parts))

    def encode(self, boundary: str) -> tuple[bytes, str]:
        """The encoded body and its Content-Type, for transports that send bytes (a browser uses FormData).
        A ``FileRange`` must be read first (``resolved``)."""
        out = bytearray()
        for part in self.parts:
            out += f"--{boundary}\r\n".encode()
            if isinstance(part, FilePart):
                if isinstance(part.data, FileRange):
                    raise TypeError("encode() needs bytes: read the FileRange first (await body.resolved())")
                out += (
                    f'Content-Disposition: form-data; name="{part.name}"; filename="{part.filename}"\r\n'
                    f"Content-Type: {part.content_type}\r\n\r\n"
                ).encode()
                out += part.data
            else:
                out += f'Content-Disposition: form-data; name="{part.name}"\r\n\r\n'.encode()
                out += part.value.encode("utf-8")
            out += b"\r\n"
        out += f"--{boundary}--\r\n".encode()
        return bytes(out), f"multipart/form-data; boundary={boundary}"

    def field(self, name: str) -> str | None:
        """The value of the first text field called ``name``."""
        return next((p.value for p in self.parts if isinstance(p, FormField) and p.name == name), None)

    def file(self, name: str = "file") -> FilePart | None:
        return next((p for p in self.parts if isinstance(p, FilePart) and p.name == name), None)


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request. ``url`` is absolute (inside a PyScript worker relative URLs do not work)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: JsonBody | FormBody | None = None
    timeout: float | None = None  # seconds for the whole exchange; on expiry raise TransportError
    # Seconds without progress, on expiry raise TransportError (a stall is retried like a network error):
    # progress is the body's bytes being taken by the network, then the answer's head arriving. The clock
    # starts with the first bytes taken (not while the request waits for a connection) and stops at the
    # head; so it also bounds the wait for the head once the whole body is sent. None: no such bound.
    stall_timeout: float | None = None


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP answer. ``json_body`` is the decoded JSON body, or None if the body was not JSON."""

    status: int
    json_body: Any = None


@runtime_checkable
class Transport(Protocol):
    async def request(self, req: HttpRequest) -> HttpResponse:
        """Send ``req`` and return the answer, whatever its status.

        Raise ``frontend.engine.errors.TransportError`` when no answer arrived. The engine may cancel the
        awaiting task (``asyncio.CancelledError``); a transport that can should then abort the request.
        """
        ...


# ---------------------------------------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------------------------------------


@runtime_checkable
class FileSource(Protocol):
    """A file the user chose. Reading must not require holding the whole file in memory."""

    @property
    def name(self) -> str: ...  # the file name, e.g. "photo.jpg" (File.name)

    @property
    def size(self) -> int: ...  # bytes (File.size)

    @property
    def last_modified(self) -> float: ...  # ms since the epoch (File.lastModified)

    async def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` (``Blob.slice(start, end).arrayBuffer()``). Raise ``OSError`` (or any
        ``Exception``) when the file cannot be read; the engine reports it as ``READ_FAILED``. A source that
        knows why may raise an ``EngineError`` itself (e.g. ``FILE_CHANGED``), which the engine passes on."""
        ...


@runtime_checkable
class StreamingFileSource(FileSource, Protocol):
    """A ``FileSource`` that can also stream itself once from start to end (``blob.stream()``, BYOB reader).

    The hasher uses ``blocks`` when present: consecutive pieces of any size (ideally about ``block_size``),
    which concatenated are the whole file. Nothing else may be assumed about their sizes."""

    def blocks(self, block_size: int) -> AsyncIterator[bytes]: ...


# ---------------------------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """Time, injected. The defaults work under CPython and Pyodide; tests pass fakes."""

    now: Callable[[], float] = time.monotonic  # seconds, monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = _random.random  # uniform in [0, 1): backoff jitter


# ---------------------------------------------------------------------------------------------------------
# What the UI observes
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadSnapshot:
    """Everything a view needs to draw one upload, at one moment. Sent to listeners on every change."""

    state: UploadState
    name: str  # the file's name
    bytes_total: int  # the file's size
    bytes_done: int = 0  # bytes the server has confirmed
    chunks_total: int = 0  # 0 until the file is hashed
    chunks_done: int = 0  # chunks the server has confirmed
    percent: float = 0.0  # 0..100, by bytes (an empty file is 100 once finished)
    chunk_percent: int = 0  # 0..100, the seed's figure: ceil(chunks done / chunks total * 100)
    speed: float | None = None  # bytes per second over a recent window; None until measurable
    eta: float | None = None  # seconds left at that speed; None when unknown
    hashed_bytes: int = 0  # progress of hashing (state HASHING)
    hash_percent: float = 0.0  # 0..100
    in_flight: int = 0  # chunk requests under way
    file_id: str | None = None  # the file's MD5, once hashed
    url: str | None = None  # the stored file's absolute URL, once FINISHED
    error: str | None = None  # human message when FAILED (the server's msg for a 4xx), or the last
    # retryable error while RETRYING
    error_code: str | None = None  # stable code: an ``Err`` name or the server's ``error`` name
    retry_in: float | None = None  # seconds until the next attempt (state RETRYING)
    attempt: int = 0  # consecutive failed attempts so far (resets when progress is made)


Listener = Callable[[UploadSnapshot], None]
"""Called synchronously with each new snapshot. It must not raise (errors are logged and ignored)."""
