"""Answering ``GET``/``HEAD`` for one file: RFC 9110 ranges and conditionals, decided first, then sent.

``plan_response`` is pure: from the method, the request's header fields and the representation's metadata it
decides the whole answer (status, header fields, which bytes) using ``server.rfc``. ``respond`` then turns the
plan into a response in one switch: 304 / 412 / 416 are small answers; 200 and 206 are a ``FileSender``, which
streams the planned spans from the file:

- from a local file: zero-copy ``loop.sendfile`` (as aiohttp's ``FileResponse`` does), or 256 KiB ``pread``s
  in a thread when the transport cannot sendfile (TLS) or ``AIOHTTP_NOSENDFILE`` is set;
- from a storage backend without local files: its ``read_file`` stream.

Splicing safety: a local file is opened first, its validators (ETag, Last-Modified, size) come from ``fstat``
of that open descriptor, and the bytes come from the same descriptor. A file replaced by a rename while it is
being sent keeps sending the old bytes under the old ETag; the next ``If-Range`` with that ETag gets the whole
new file. A file that shrinks under us cannot meet the promised Content-Length: the connection is aborted, so
the client sees an incomplete transfer rather than a wrong one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import os
import secrets
import stat
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from server import envelope
from server.errors import ApiError, E
from server.rfc import multipart
from server.rfc.conditionals import EntityTag, Outcome, Preconditions, Validators, evaluate
from server.rfc.content_disposition import content_disposition
from server.rfc.dates import format_http_date
from server.rfc.ranges import UNSATISFIABLE, select_ranges, unsatisfied_range

log = logging.getLogger(__name__)

READ_SIZE: Final = 256 * 1024
# Same switch as aiohttp's FileResponse: set AIOHTTP_NOSENDFILE=1 to send through userspace reads.
SENDFILE_DISABLED: Final = bool(os.environ.get("AIOHTTP_NOSENDFILE"))
# RFC 9110 section 9.3.2: "The server SHOULD send the same header fields in response to a HEAD request as it
# would have sent if the request method had been GET." A HEAD with Range therefore answers the 206/416 head a
# GET would (as nginx and Apache do; download managers probe range support that way). Section 14.2 ("GET is
# the only method for which range handling is defined") is honoured by never sending a body for HEAD.
RANGE_METHODS: Final = frozenset({"GET", "HEAD"})

_BOUNDARY_KEY: Final = secrets.token_bytes(
    16
)  # per process: boundaries stable for a representation, unguessable

_TYPES = mimetypes.MimeTypes()
# Compressed files are served as what they are (no Content-Encoding): "x.tar.gz" is application/gzip.
_TYPES.encodings_map.clear()
for _type, _ext in {
    "application/gzip": ".gz",
    "application/x-brotli": ".br",
    "application/x-bzip2": ".bz2",
    "application/x-xz": ".xz",
    "application/x-compress": ".Z",
    "application/zstd": ".zst",
}.items():
    _TYPES.add_type(_type, _ext)
FALLBACK_TYPE: Final = "application/octet-stream"


def content_type_for(name: str) -> str:
    """The media type for a file name's extension (``mimetypes``), octet-stream when unknown."""
    ext = os.path.splitext(name)[1]
    return (_TYPES.guess_type("file" + ext)[0] if ext else None) or FALLBACK_TYPE


@dataclass(frozen=True)
class Representation:
    """What is known about the file being answered, before any byte is sent."""

    size: int
    etag: EntityTag  # strong
    last_modified: float  # seconds since the epoch
    content_type: str
    filename: str  # offered in Content-Disposition


# -- the decision (pure) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Part of a body: ``head`` bytes (multipart framing, maybe none), then ``count`` bytes from ``start``."""

    head: bytes
    start: int
    count: int


@dataclass(frozen=True)
class Plan:
    status: int
    headers: dict[str, str]
    spans: tuple[Span, ...] = ()
    tail: bytes = b""
    error: ApiError | None = None  # 412 and 416 answer with the JSON envelope

    @property
    def body_length(self) -> int:
        return sum(len(s.head) + s.count for s in self.spans) + len(self.tail)


def _lines(headers: Mapping[str, str], name: str) -> list[str]:
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    value = headers.get(name)
    return [] if value is None else [value]


def _field(headers: Mapping[str, str], name: str) -> str | None:
    """A field's combined value: "a recipient MAY combine multiple field lines ... into one field line ...
    with each field line value separated by a comma" (RFC 9110 section 5.3)."""
    lines = _lines(headers, name)
    return ", ".join(lines) if lines else None


def validators_of(rep: Representation, now: float) -> Validators:
    # RFC 9110 section 8.8.2.1: "An origin server with a clock ... MUST NOT generate a Last-Modified date that
    # is later than the server's time of message origination (Date). If the last modification time is derived
    # from implementation-specific metadata that evaluates to some time in the future, according to the origin
    # server's clock, then the origin server MUST replace that value with the message origination date."
    last_modified = min(rep.last_modified, now)
    # Section 8.8.2.2: a Last-Modified is strong only if the server "reliably knows that the associated
    # representation did not change twice during the second covered by the presented validator". A file last
    # changed within the past second may still be changing, so its date does not match in If-Range. (A client,
    # by the same section, takes a Last-Modified as strong only when it is at least 60 seconds before the Date
    # that came with it.)
    return Validators(rep.etag, int(last_modified), last_modified_strong=now - rep.last_modified >= 1.0)


def boundary_for(rep: Representation) -> str:
    """A multipart boundary that cannot be predicted from the file (it must not occur in its bytes), yet is
    the same for HEAD and GET of one representation."""
    return hashlib.blake2b(str(rep.etag).encode(), key=_BOUNDARY_KEY, digest_size=16).hexdigest()


def plan_response(
    method: str, headers: Mapping[str, str], rep: Representation, *, now: float, boundary: str
) -> Plan:
    """Decide the whole answer to ``method`` with request ``headers`` for ``rep``; no I/O."""
    validators = validators_of(rep, now)
    etag, last_modified = str(rep.etag), format_http_date(validators.last_modified)
    range_lines = _lines(headers, "Range")
    # Several Range field lines do not make one valid ranges-specifier: "" is invalid, so the Range is
    # ignored.
    range_value = None if not range_lines else range_lines[0] if len(range_lines) == 1 else ""
    pre = Preconditions(
        if_match=_field(headers, "If-Match"),
        if_none_match=_field(headers, "If-None-Match"),
        if_modified_since=_field(headers, "If-Modified-Since"),
        if_unmodified_since=_field(headers, "If-Unmodified-Since"),
        if_range=_field(headers, "If-Range"),
    )
    outcome = evaluate(method, pre, validators, has_range=range_value is not None)
    if outcome is Outcome.NOT_MODIFIED:
        # RFC 9110 section 15.4.5: "The server generating a 304 response MUST generate any of the following
        # header fields that would have been sent in a 200 (OK) response to the same request:
        # Content-Location, Date, ETag, and Vary"; other representation metadata SHOULD NOT be sent
        # ("Last-Modified might be useful if the response does not have an ETag field", and ours has one).
        return Plan(304, {"ETag": etag})
    if outcome is Outcome.PRECONDITION_FAILED:
        return Plan(412, {}, error=ApiError(E.PRECONDITION_FAILED))

    representation_headers = {
        "Accept-Ranges": "bytes",  # RFC 9110 section 14.3
        "ETag": etag,
        "Last-Modified": last_modified,
        "Content-Disposition": content_disposition(rep.filename),
        "X-Content-Type-Options": "nosniff",
    }
    selection = None
    if method in RANGE_METHODS and outcome is Outcome.SERVE:
        selection = select_ranges(range_value, rep.size)

    if selection is UNSATISFIABLE:
        # RFC 9110 section 15.5.17: "the sender SHOULD generate a Content-Range header field specifying the
        # current length of the selected representation".
        return Plan(
            416,
            {"Accept-Ranges": "bytes", "Content-Range": unsatisfied_range(rep.size)},
            error=ApiError(
                E.RANGE_NOT_SATISFIABLE, f"no requested range overlaps the file's {rep.size} bytes"
            ),
        )
    if selection is not None and len(selection) == 1:
        only = selection[0]
        # RFC 9110 section 15.3.7.1: "If a single part is being transferred, the server generating the 206
        # response MUST generate a Content-Range header field, describing what range of the selected
        # representation is enclosed, and a content consisting of the range."
        return Plan(
            206,
            representation_headers
            | {
                "Content-Type": rep.content_type,
                "Content-Range": only.content_range(rep.size),
                "Content-Length": str(only.length),
            },
            (Span(b"", only.start, only.length),),
        )
    if selection is not None:
        framing = multipart.frame(
            selection, boundary=boundary, content_type=rep.content_type, complete_length=rep.size
        )
        # Never amplify: when the parts and their framing would be as large as the file, send the file
        # (section 15.3.7.2: "it can be less efficient to transfer many small disjoint parts than it is to
        # transfer the entire selected representation").
        if framing.content_length < rep.size:
            # RFC 9110 section 15.3.7.2: "If multiple parts are being transferred, the server generating the
            # 206 response MUST generate "multipart/byteranges" content".
            return Plan(
                206,
                representation_headers
                | {"Content-Type": framing.content_type, "Content-Length": str(framing.content_length)},
                tuple(Span(p.head, p.range.start, p.range.length) for p in framing.parts),
                framing.tail,
            )
    return Plan(
        200,
        representation_headers | {"Content-Type": rep.content_type, "Content-Length": str(rep.size)},
        (Span(b"", 0, rep.size),),
    )


# -- the bytes -----------------------------------------------------------------------------------------------


class LocalFile:
    """A regular file opened once; ``stat`` is ``fstat`` of the open descriptor the bytes are sent from."""

    def __init__(self, fd: int, st: os.stat_result) -> None:
        self.file = os.fdopen(fd, "rb", buffering=0)
        self.stat = st

    @classmethod
    def open(cls, path: Path) -> LocalFile:
        """Open ``path`` if it is a regular file (blocking: call it in a thread).

        The last component must not be a symbolic link (``O_NOFOLLOW``; callers resolve links they accept
        first); ``O_NONBLOCK`` keeps a FIFO from hanging the open. Raises ``OSError`` otherwise.
        """
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise IsADirectoryError(f"not a regular file: {path}")
            return cls(fd, st)
        except BaseException:
            os.close(fd)
            raise

    async def chunks(self, start: int, count: int) -> AsyncIterator[bytes]:
        fd = self.file.fileno()
        while count > 0:
            data = await asyncio.to_thread(os.pread, fd, min(READ_SIZE, count), start)
            if not data:
                raise _FileShrank()
            start += len(data)
            count -= len(data)
            yield data

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True)
class StreamedFile:
    """Bytes from a storage backend that has no local file: ``read(start, count)`` streams them."""

    read: Callable[[int, int], AsyncIterator[bytes]]

    def close(self) -> None:
        """Nothing is held open between spans: each ``read`` opens and closes its own stream."""


Source = LocalFile | StreamedFile


class _FileShrank(ConnectionResetError):
    """The file ended before the planned bytes: the connection is dropped (Content-Length was promised)."""


class FileSender(web.StreamResponse):
    """A 200/206 answer carrying the planned spans of a file. The I/O happens in ``prepare``, which aiohttp
    calls after the handler and the middlewares have returned (so CORS headers are added before any byte)."""

    def __init__(self, plan: Plan, source: Source) -> None:
        super().__init__(status=plan.status, headers=plan.headers)
        self._plan = plan
        self._source = source

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:  # type: ignore[override]
        if self.prepared:
            return await super().prepare(request)
        try:
            writer = await super().prepare(request)
            if request.method != "HEAD":  # RFC 9110 section 9.3.2: "the server MUST NOT send content"
                for span in self._plan.spans:
                    if span.head:
                        await self.write(span.head)
                    await self._send(request, span.start, span.count)
                if self._plan.tail:
                    await self.write(self._plan.tail)
            return writer
        except _FileShrank:
            log.warning(
                "%s shrank while being sent; the connection was dropped", self._plan.headers.get("ETag")
            )
            if request.transport is not None:
                request.transport.abort()
            raise
        finally:
            self._source.close()

    async def _send(self, request: web.BaseRequest, start: int, count: int) -> None:
        if count == 0:
            return
        source = self._source
        if isinstance(source, LocalFile):
            if not SENDFILE_DISABLED and await self._sendfile(request, source, start, count):
                return
            stream = source.chunks(start, count)
        else:
            stream = source.read(start, count)
        sent = 0
        async for data in stream:
            sent += len(data)
            await self.write(data)
        if sent < count:
            raise _FileShrank()

    async def _sendfile(self, request: web.BaseRequest, source: LocalFile, start: int, count: int) -> bool:
        """Zero-copy send; False when this transport cannot (nothing was sent then)."""
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        loop = asyncio.get_running_loop()
        try:
            sent = await loop.sendfile(transport, source.file, start, count, fallback=False)
        except (asyncio.SendfileNotAvailableError, NotImplementedError):
            return False
        except RuntimeError:
            # "Transport is closing", or a transport without native sendfile support (TLS).
            if transport.is_closing():
                raise ConnectionResetError("the client went away") from None
            return False
        if sent < count:
            raise _FileShrank()
        return True


def respond(request: web.Request, rep: Representation, source: Source) -> web.StreamResponse:
    """The answer for ``rep``, whose bytes ``source`` holds (and which is closed once answered)."""
    plan = plan_response(request.method, request.headers, rep, now=time.time(), boundary=boundary_for(rep))
    if plan.status in (200, 206):
        return FileSender(plan, source)
    source.close()
    if plan.error is not None:
        return envelope.error(plan.error, headers=plan.headers)
    return web.Response(status=plan.status, headers=plan.headers)
