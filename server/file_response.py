"""Answering ``GET``/``HEAD`` for one file: RFC 9110 ranges and conditionals, decided first, then sent.

``plan_response`` is pure: from the method, the request's header fields and the representation's metadata it
decides the whole answer (status, header fields, which bytes) using ``server.rfc``. ``respond`` then turns the
plan into a response in one switch: 304 / 412 / 416 are small answers; 200 and 206 are a ``FileSender``, which
streams the planned spans from the file:

- from a local file over plain TCP: zero-copy ``os.sendfile`` straight into the socket, framing included
  (``SocketSender``: no trip through the event loop while the socket takes the bytes, and one writer
  registration for the whole body when it has to wait); asyncio's ``loop.sendfile`` if the transport still
  holds unsent bytes; 256 KiB ``pread``s in a thread when the transport cannot sendfile (TLS) or
  ``AIOHTTP_NOSENDFILE`` is set;
- from a storage backend without local files: its ``read_file`` stream.

Splicing safety: a local file is opened first, its validators (ETag, Last-Modified, size) come from ``fstat``
of that open descriptor, and the bytes come from the same descriptor. A file replaced by a rename while it is
being sent keeps sending the old bytes under the old ETag; the next ``If-Range`` with that ETag gets the whole
new file. A file that shrinks under us cannot meet the promised Content-Length: the connection is aborted, so
the client sees an incomplete transfer rather than a wrong one.

Digests (RFC 9530, ``server.rfc.digests``): the representation's digests, when known (``server.repr_digests``
computes them in the background), go out as ``Repr-Digest`` on every 200 and 206. A ``Want-Content-Digest``
asks for ``Content-Digest``, the digest of the body as sent: the plan then either has it already (a body that
is the whole representation, whose digest is known; a HEAD, whose content is empty) or names the algorithm
(``Plan.digest``), and ``FileSender`` hashes the planned body from the same open file before sending the
head, then sends the bytes exactly as without it (zero-copy included). A request without ``Want-...`` costs
two header look-ups more, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import hashlib
import logging
import mimetypes
import os
import secrets
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Final

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from multidict import istr

from server import envelope
from server.errors import ApiError, E
from server.offloop_md5 import OffLoopMD5
from server.rfc import digests, multipart
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

# A Content-Digest asked for (Want-Content-Digest) is computed before the head is sent, so its cost is latency
# and CPU per request: bodies larger than this get none (RFC 9530 section 4: preferences "are only a hint. The
# receiver of the field can ignore it ... or omit the field entirely"; section 6.7, "Resource Exhaustion":
# "implementations can restrict ... the size of content"). A client verifies larger parts with Repr-Digest.
MAX_CONTENT_DIGEST_BYTES: Final = 64 * 1024 * 1024
HASH_READ_SIZE: Final = 1024 * 1024
# Hashing is CPU work: two threads (the machine's cores), apart from the default executor's file reads.
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="content-digest")


@functools.lru_cache(maxsize=1024)
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
    # The whole representation's digests known so far, as (algorithm key, digest) (RFC 9530 Repr-Digest); none
    # until ``server.repr_digests`` has computed them.
    digests: tuple[tuple[str, bytes], ...] = ()


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
    # Want-Content-Digest: the algorithm whose Content-Digest of the body must be computed (then sent in the
    # head) before the body is sent; None when there is none to compute.
    digest: str | None = None

    @property
    def body_length(self) -> int:
        return sum(len(s.head) + s.count for s in self.spans) + len(self.tail)

    def pieces(self) -> list[bytes | tuple[int, int]]:
        """The body in order: framing bytes, and ``(offset, count)`` of the file."""
        pieces: list[bytes | tuple[int, int]] = []
        for span in self.spans:
            if span.head:
                pieces.append(span.head)
            if span.count:
                pieces.append((span.start, span.count))
        if self.tail:
            pieces.append(self.tail)
        return pieces


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
    return _boundary_of(str(rep.etag))


@functools.lru_cache(maxsize=1024)
def _boundary_of(etag: str) -> str:
    return hashlib.blake2b(etag.encode(), key=_BOUNDARY_KEY, digest_size=16).hexdigest()


# Header fields that can make a request conditional (RFC 9110 section 13.1); most requests carry none.
# (``istr``: header names a ``CIMultiDict`` looks up without case-folding them first.)
_PRECONDITION_FIELDS: Final = (
    istr("If-Match"),
    istr("If-None-Match"),
    istr("If-Modified-Since"),
    istr("If-Unmodified-Since"),
    istr("If-Range"),
)
_RANGE: Final = istr("Range")
_WANT_CONTENT_DIGEST: Final = istr("Want-Content-Digest")
_WANT_REPR_DIGEST: Final = istr("Want-Repr-Digest")
_NO_PRECONDITIONS: Final = Preconditions()


def _preconditions(headers: Mapping[str, str]) -> Preconditions:
    for name in _PRECONDITION_FIELDS:
        if name in headers:
            break
    else:
        return _NO_PRECONDITIONS
    return Preconditions(
        if_match=_field(headers, "If-Match"),
        if_none_match=_field(headers, "If-None-Match"),
        if_modified_since=_field(headers, "If-Modified-Since"),
        if_unmodified_since=_field(headers, "If-Unmodified-Since"),
        if_range=_field(headers, "If-Range"),
    )


@functools.lru_cache(maxsize=1024)
def _representation_headers(
    etag: str, last_modified: int, filename: str, known: tuple[tuple[str, bytes], ...]
) -> dict[str, str]:
    """The representation's header fields of every 200 and 206 (derived once per file version; never mutated:
    plans merge it into new dicts)."""
    headers = {
        "Accept-Ranges": "bytes",  # RFC 9110 section 14.3
        "ETag": etag,
        "Last-Modified": format_http_date(last_modified),
        "Content-Disposition": content_disposition(filename),
        "X-Content-Type-Options": "nosniff",
    }
    if known:
        # RFC 9530 section 3: Repr-Digest is "calculated using a hashing algorithm applied to the entire
        # selected representation data", the same for a 200 and any 206 of this version; Appendix B.1 and B.3
        # send it unsolicited. (Section 3: "A sender MAY send a digest without knowing whether the recipient
        # supports a given hashing algorithm".)
        headers["Repr-Digest"] = digests.serialize(known)
    return headers


def _with_digests(
    plan: Plan,
    method: str,
    rep: Representation,
    want_content: dict[str, int] | None,
    want_repr: dict[str, int] | None,
) -> Plan:
    """``plan`` (a 200 or 206) answering ``Want-Repr-Digest`` and ``Want-Content-Digest`` (RFC 9530 section 4)."""
    headers = dict(plan.headers)
    if want_repr is not None and rep.digests:
        # Only the digests already known are offered (nothing is computed for this request); the client's
        # preferred one among them, or none when it finds them all "not acceptable" (weight 0).
        known = dict(rep.digests)
        algorithm = digests.choose(want_repr, known)
        if algorithm is None:
            del headers["Repr-Digest"]
        else:
            headers["Repr-Digest"] = digests.serialize([(algorithm, known[algorithm])])
    algorithm = digests.choose(want_content) if want_content is not None else None
    if algorithm is None:
        return replace(plan, headers=headers)
    if method == "HEAD":
        # RFC 9530 Appendix B.2: for a HEAD, "The response Content-Digest field-value is computed on empty
        # content" (the content a HEAD carries), not on the content a GET would carry.
        headers["Content-Digest"] = digests.serialize([(algorithm, digests.EMPTY[algorithm])])
        return replace(plan, headers=headers)
    # Section 2: Content-Digest is computed on "the actual message content": the range for a single-range 206,
    # the whole multipart/byteranges body (framing included) for several ranges (each part carries no
    # header field of its own for it), the file for a 200.
    whole = len(plan.spans) == 1 and not plan.spans[0].head and not plan.tail
    whole = whole and plan.spans[0].start == 0 and plan.spans[0].count == rep.size
    known_digest = dict(rep.digests).get(algorithm) if whole else None
    if known_digest is not None:
        # Appendix B.1: when the content is the whole representation data, "Content-Digest and Repr-Digest
        # are both computed over" the same bytes, "thus, they have the same value": nothing to compute.
        headers["Content-Digest"] = digests.serialize([(algorithm, known_digest)])
        return replace(plan, headers=headers)
    if plan.body_length > MAX_CONTENT_DIGEST_BYTES:
        return replace(plan, headers=headers)
    return replace(plan, headers=headers, digest=algorithm)


def plan_response(
    method: str, headers: Mapping[str, str], rep: Representation, *, now: float, boundary: str
) -> Plan:
    """Decide the whole answer to ``method`` with request ``headers`` for ``rep``; no I/O."""
    plan = _plan_ranges(method, headers, rep, now=now, boundary=boundary)
    if plan.status not in (200, 206) or (
        _WANT_CONTENT_DIGEST not in headers and _WANT_REPR_DIGEST not in headers
    ):
        return plan
    # RFC 9651 section 4.2: "parsers MUST combine all field lines in the same section (header or trailer)
    # that case-insensitively match the field name into a single comma-separated field-value".
    want_content = digests.parse_preferences(_field(headers, "Want-Content-Digest"))
    want_repr = digests.parse_preferences(_field(headers, "Want-Repr-Digest"))
    if want_content is None and want_repr is None:
        return plan
    return _with_digests(plan, method, rep, want_content, want_repr)


def _plan_ranges(
    method: str, headers: Mapping[str, str], rep: Representation, *, now: float, boundary: str
) -> Plan:
    """The answer without what Want-Content-Digest and Want-Repr-Digest ask for."""
    validators = validators_of(rep, now)
    etag = str(rep.etag)
    range_lines = _lines(headers, _RANGE)
    # Several Range field lines do not make one valid ranges-specifier: "" is invalid, so the Range is
    # ignored.
    range_value = None if not range_lines else range_lines[0] if len(range_lines) == 1 else ""
    outcome = evaluate(method, _preconditions(headers), validators, has_range=range_value is not None)
    if outcome is Outcome.NOT_MODIFIED:
        # RFC 9110 section 15.4.5: "The server generating a 304 response MUST generate any of the following
        # header fields that would have been sent in a 200 (OK) response to the same request:
        # Content-Location, Date, ETag, and Vary"; other representation metadata SHOULD NOT be sent
        # ("Last-Modified might be useful if the response does not have an ETag field", and ours has one).
        return Plan(304, {"ETag": etag})
    if outcome is Outcome.PRECONDITION_FAILED:
        return Plan(412, {}, error=ApiError(E.PRECONDITION_FAILED))

    representation_headers = _representation_headers(
        etag, validators.last_modified, rep.filename, rep.digests
    )
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
        self.fd = fd
        self.stat = st
        self._file: BinaryIO | None = None

    @classmethod
    def open(cls, path: str | Path) -> LocalFile:
        """Open ``path`` if it is a regular file (an ``open`` and an ``fstat``: fast for a local file).

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

    @property
    def file(self) -> BinaryIO:
        """A file object over the descriptor (asyncio's ``loop.sendfile`` wants one), made when asked."""
        if self._file is None:
            self._file = os.fdopen(self.fd, "rb", buffering=0)
        return self._file

    async def chunks(self, start: int, count: int) -> AsyncIterator[bytes]:
        fd = self.fd
        while count > 0:
            data = await asyncio.to_thread(os.pread, fd, min(READ_SIZE, count), start)
            if not data:
                raise _FileShrank()
            start += len(data)
            count -= len(data)
            yield data

    def close(self) -> None:
        if self.fd < 0:
            return
        if self._file is not None:
            self._file.close()  # closes the descriptor
        else:
            os.close(self.fd)
        self.fd = -1


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
        # The first span's stream, begun before the head was sent (``_start_reading``), and its first piece.
        self._started: tuple[Span, bytes, AsyncIterator[bytes]] | None = None

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:  # type: ignore[override]
        if self.prepared:
            return await super().prepare(request)
        source = self._source
        # Zero-copy straight into the socket when the bytes are a local file and the transport is a plain TCP
        # socket (not TLS); otherwise the bytes go through the transport.
        local = source if isinstance(source, LocalFile) and not SENDFILE_DISABLED else None
        sock = _plain_socket(request.transport) if local is not None and request.method != "HEAD" else None
        try:
            try:
                if self._plan.digest is not None:
                    # RFC 9530 section 2: Content-Digest "can be sent in a trailer section", but browsers do
                    # not expose trailers: it goes in the head, so the body is hashed before it is sent.
                    algorithm = self._plan.digest
                    checksum = await _body_digest(self._plan, source, algorithm)
                    self.headers["Content-Digest"] = digests.serialize([(algorithm, checksum)])
                if isinstance(source, StreamedFile) and request.method != "HEAD":
                    await self._start_reading(source)
            except Exception as exc:  # nothing sent yet: a storage out of reach is still a proper answer
                condition = ApiError.from_server_condition(exc)
                if condition is None:
                    raise
                return await self._refuse(request, condition)
            writer = await super().prepare(request)
            if request.method != "HEAD":  # RFC 9110 section 9.3.2: "the server MUST NOT send content"
                if sock is not None and local is not None and await self._send_direct(request, sock, local):
                    return writer
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
        except Exception as exc:
            condition = ApiError.from_server_condition(exc)
            if condition is None or not self.prepared:
                raise
            # The head is sent: the answer can only be cut short (the client sees fewer bytes than promised).
            log.warning("%s: a download was cut short: %s", request.path, condition.msg)
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError(condition.msg) from exc
        finally:
            source.close()

    async def _start_reading(self, source: StreamedFile) -> None:
        """Read the first bytes of the first span before the head is sent: a backend out of reach (S3) is
        then answered 503 instead of a 200 cut off at once."""
        first = next((span for span in self._plan.spans if span.count), None)
        if first is None:
            return
        stream = source.read(first.start, first.count)
        piece = await anext(stream, b"")
        self._started = (first, piece, stream)

    async def _refuse(self, request: web.BaseRequest, err: ApiError) -> AbstractStreamWriter | None:
        """Turn this answer, not sent yet, into the error envelope (CORS headers kept)."""
        log.warning("%s %s answered %d: %s", request.method, request.path, err.status, err.msg)
        body = envelope.error(err, err.headers or None).body
        assert isinstance(body, bytes)
        kept = {
            k: v for k, v in self.headers.items() if k.lower().startswith("access-control-") or k == "Vary"
        }
        self.headers.clear()
        self.headers.update(kept | err.headers | {"Content-Type": "application/json; charset=utf-8"})
        self.set_status(err.status)
        self.content_length = len(body)
        writer = await super().prepare(request)
        await self.write(body)
        return writer

    async def _send_direct(self, request: web.BaseRequest, sock: socket.socket, source: LocalFile) -> bool:
        """The whole body, framing included, with ``os.sendfile`` and ``send`` on the socket itself.

        False when nothing was sent because this socket or file cannot (the caller then uses the transport).
        """
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        if transport.get_write_buffer_size():
            return False  # bytes still queued in the transport must go first: let asyncio order them
        return await SocketSender(sock, source.fd, self._plan.pieces(), self._plan.body_length).run()

    async def _send(self, request: web.BaseRequest, start: int, count: int) -> None:
        if count == 0:
            return
        source = self._source
        if isinstance(source, LocalFile):
            if not SENDFILE_DISABLED and await self._sendfile(request, source, start, count):
                return
            stream = source.chunks(start, count)
        elif self._started is not None and (self._started[0].start, self._started[0].count) == (start, count):
            _, piece, rest = self._started
            self._started = None
            stream = _prepend(piece, rest)
        else:
            stream = source.read(start, count)
        sent = 0
        async for data in stream:
            sent += len(data)
            await self.write(data)
        if sent < count:
            raise _FileShrank()

    async def _sendfile(self, request: web.BaseRequest, source: LocalFile, start: int, count: int) -> bool:
        """Zero-copy send through asyncio; False when this transport cannot (nothing was sent then)."""
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


async def _prepend(piece: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if piece:
        yield piece
    async for data in rest:
        yield data


# -- Content-Digest of a planned body ------------------------------------------------------------------------


async def _body_digest(plan: Plan, source: Source, algorithm: str) -> bytes:
    """The ``algorithm`` checksum of the body ``plan`` sends from ``source``, hashed off the event loop.

    (A backend without local files is read twice then: once here, once to send.)
    """
    pieces = plan.pieces()
    if isinstance(source, LocalFile):
        # One trip to a worker thread for the whole body: reads and hashing both release the GIL.
        return await asyncio.get_running_loop().run_in_executor(
            _HASHING, hash_file_pieces, source.fd, pieces, algorithm
        )
    hasher = OffLoopMD5(digests.HASHES[algorithm]())  # (any hashlib object, despite its name)
    for piece in pieces:
        if isinstance(piece, bytes):
            hasher.feed(piece)
            continue
        start, count = piece
        read = 0
        async for data in source.read(start, count):
            read += len(data)
            hasher.feed(data)
        if read < count:
            raise _FileShrank()
    await hasher.wait()
    return hasher.digests[0].digest()


def hash_file_pieces(fd: int, pieces: list[bytes | tuple[int, int]], algorithm: str) -> bytes:
    """The ``algorithm`` checksum of ``pieces`` (bytes, or ``(offset, count)`` of the file ``fd``), read with
    ``preadv`` into one reused buffer (blocking: runs in a worker thread)."""
    hasher = digests.HASHES[algorithm]()
    buffer = memoryview(bytearray(HASH_READ_SIZE))
    for piece in pieces:
        if isinstance(piece, bytes):
            hasher.update(piece)
            continue
        offset, count = piece
        while count > 0:
            n = os.preadv(fd, [buffer[: min(HASH_READ_SIZE, count)]], offset)
            if n == 0:
                raise _FileShrank()
            hasher.update(buffer[:n])
            offset += n
            count -= n
    return hasher.digest()


# -- straight into the socket --------------------------------------------------------------------------------

# Errors of send/sendfile that mean the peer is gone (the rest, on the first call, mean "cannot sendfile").
_GONE: Final = frozenset({errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ECONNABORTED, errno.ESHUTDOWN})
# Large bodies get a larger socket send buffer (the kernel doubles the value, capped by net.core.wmem_max):
# each wake-up then queues more bytes, so a GiB costs fewer trips through the event loop.
LARGE_BODY: Final = 8 * 1024 * 1024
SEND_BUFFER: Final = 4 * 1024 * 1024


def _plain_socket(transport: asyncio.BaseTransport | None) -> socket.socket | None:
    """The stream socket under ``transport`` when bytes written to it reach the peer as they are (no TLS).

    (aiohttp's transports are stream sockets: TCP, or Unix sockets, which ``sendfile`` serves as well.)
    """
    if transport is None or transport.get_extra_info("sslcontext") is not None:
        return None
    return transport.get_extra_info("socket")  # type: ignore[no-any-return]


class SocketSender:
    """Sends ``pieces`` (bytes, or ``(offset, count)`` of the file ``file_fd``) on a non-blocking TCP socket.

    As much as the socket takes is sent at once, without the event loop; when its buffer is full the sender
    waits for it to drain with one writer registration kept for the rest of the body (asyncio's
    ``sock_sendfile`` adds and removes its writer around every ``sendfile`` call, two ``epoll_ctl`` and a
    callback each time the buffer fills). The writer is registered on a duplicate of the socket's descriptor:
    the transport owns the original, and the duplicate stays valid even if the transport closes it meanwhile.

    ``run`` returns False only when nothing at all was sent because the file cannot be sent with
    ``sendfile`` (the caller falls back to reading it); a peer that went away raises ``ConnectionResetError``,
    a file that ends before the planned bytes raises ``_FileShrank``.
    """

    def __init__(
        self, sock: socket.socket, file_fd: int, pieces: list[bytes | tuple[int, int]], length: int
    ) -> None:
        """``length``: the bytes ``pieces`` add up to."""
        self._sock_fd = sock.fileno()
        self._file_fd = file_fd
        self._pieces = pieces
        self._index = 0
        self._done = 0  # bytes of the current piece already sent
        self._sent_any = False
        if length >= LARGE_BODY:
            with contextlib.suppress(OSError):
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) < 2 * SEND_BUFFER:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

    def _advance(self, fd: int) -> bool:
        """Send until done (True) or until the socket would block (False)."""
        pieces = self._pieces
        while self._index < len(pieces):
            piece = pieces[self._index]
            try:
                if isinstance(piece, bytes):
                    n = os.write(fd, memoryview(piece)[self._done :])
                    left = len(piece) - self._done - n
                else:
                    offset, count = piece
                    n = os.sendfile(fd, self._file_fd, offset + self._done, count - self._done)
                    left = count - self._done - n
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                if exc.errno in _GONE or self._sent_any:
                    # (A file that cannot be sent with sendfile after some bytes went: the body cannot be
                    # finished another way, so the connection is dropped like for a client that left.)
                    raise ConnectionResetError(exc.errno, f"send failed: {exc.strerror}") from None
                raise asyncio.SendfileNotAvailableError(str(exc)) from None
            if n == 0 and not isinstance(piece, bytes):
                raise _FileShrank()  # sendfile at end of file: the file ended before the planned bytes
            self._sent_any = True
            if left:
                # A short send: the socket's buffer is full (trying again now would only fail with EAGAIN).
                self._done += n
                return False
            self._index += 1
            self._done = 0
        return True

    async def run(self) -> bool:
        try:
            if self._advance(self._sock_fd):
                return True
        except asyncio.SendfileNotAvailableError:
            return False
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        fd = os.dup(self._sock_fd)

        def on_writable() -> None:
            if waiter.done():
                return
            try:
                if self._advance(fd):
                    waiter.set_result(None)
            except Exception as exc:  # noqa: BLE001 - handed to the awaiting task
                waiter.set_exception(exc)

        try:
            loop.add_writer(fd, on_writable)
            await waiter
        finally:
            loop.remove_writer(fd)
            os.close(fd)
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
