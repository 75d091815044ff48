"""Doubles for the download engine's ports: an in-memory file server (RFC 9110 ranges and If-Range, RFC 9530
digests when asked to), a streaming transport over it with fault injection, a partial file in memory that
knows which of its bytes are durable, and the browser's storage space.

- ``MemoryFileServer`` answers ``GET`` like our server's ``/download/<name>``: ``206`` with ``Content-Range``
  for one range, ``200`` for none or when ``If-Range`` does not match the ETag (a strong comparison), ``416``
  with ``bytes */<size>`` for a range past the end, ``404`` with the error envelope; ``Repr-Digest`` when
  ``digests_ready``, ``Content-Digest`` of a ``206``'s part when asked (``Want-Content-Digest``) and
  ``content_digests``. ``ranges=False`` makes it a server that ignores ranges. ``put`` replaces a file (a
  new ETag), as renaming a new file over it does.
- ``MemoryStreamTransport`` hands its answers out in ``piece_size`` pieces and injects ``DFault``s: no answer
  (``network``), a body cut short (``cut``), an error status (``status``), a corrupted body under the
  right digest (``corrupt``), a body that stops arriving (``stall``), the file replaced right after the
  answer's head (``replace``). ``gate`` holds the bodies of segment answers until set. It counts requests,
  bytes sent and the requests in flight.
- ``MemoryPartialFile`` keeps the written bytes and, apart, the durable ones (copied at each ``commit``'s
  flush); ``crash()`` loses what was not flushed, as a killed browser does. The journal is kept encoded, so
  the codec is exercised. ``limit`` makes ``reset`` fail with ``NO_SPACE`` past that size.

Stdlib, the engine and ``wire`` only, like the engine, so it also runs under Pyodide.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from frontend.engine.download_journal import Journal, decode
from frontend.engine.errors import EngineError, Err, TransportError
from frontend.engine.ports import HttpRequest

# ---------------------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------------------


@dataclass
class ServedFile:
    data: bytes
    etag: str
    name: str


def sf_digest(data: bytes) -> str:
    """An RFC 9530 ``sha-256=:<base64>:`` member for ``data``."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class MemoryFileServer:
    def __init__(self) -> None:
        self.files: dict[str, ServedFile] = {}
        self.digests_ready = True
        self.content_digests = True
        self.repr_digest: str | None = None  # sent instead of the true one (a server whose digest is wrong)
        self.ranges = True
        self._versions = 0

    def put(self, path: str, data: bytes, name: str | None = None) -> str:
        """Serve ``data`` at ``path`` (replacing what was there); returns its ETag."""
        self._versions += 1
        etag = f'"v{self._versions}-{len(data)}"'
        self.files[path] = ServedFile(data, etag, name or path.rsplit("/", 1)[-1])
        return etag

    def answer(self, req: HttpRequest) -> Answer:
        path = urlsplit(req.url).path
        served = self.files.get(path)
        if req.method != "GET" or served is None:
            body = json.dumps({"code": 404, "msg": "no such file", "data": None, "error": "NOT_FOUND"})
            return Answer(404, {"content-type": "application/json"}, body.encode())
        headers = {
            "etag": served.etag,
            "content-disposition": f"attachment; filename*=UTF-8''{_quote(served.name)}",
        }
        if self.ranges:
            headers["accept-ranges"] = "bytes"
        if self.digests_ready:
            headers["repr-digest"] = self.repr_digest or sf_digest(served.data)
        size = len(served.data)
        wanted = req.headers.get("range")
        if_range = req.headers.get("if-range")
        if not self.ranges or wanted is None or (if_range is not None and if_range != served.etag):
            headers["content-length"] = str(size)
            return Answer(200, headers, served.data)
        first_text, _, last_text = wanted.removeprefix("bytes=").partition("-")
        first, last = int(first_text), min(int(last_text), size - 1)
        if first >= size:
            headers["content-range"] = f"bytes */{size}"
            return Answer(416, headers, b"")
        part = served.data[first : last + 1]
        headers["content-range"] = f"bytes {first}-{last}/{size}"
        headers["content-length"] = str(len(part))
        if self.content_digests and "want-content-digest" in req.headers:
            headers["content-digest"] = sf_digest(part)
        return Answer(206, headers, part)


def _quote(text: str) -> str:
    keep = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode())


# ---------------------------------------------------------------------------------------------------------
# The transport
# ---------------------------------------------------------------------------------------------------------


@dataclass
class DFault:
    """A fault for the ``skip``-th..(``skip + times - 1``)-th matching request (0-based, counted per fault).

    ``kind``: ``network`` | ``cut`` (the body stops after ``after`` bytes) | ``status`` (answer ``status``
    with the error envelope) | ``corrupt`` (a byte of the body flipped, headers as they were) | ``stall``
    (the body stops arriving after ``after`` bytes) | ``replace`` (the file gets ``data`` right after this
    answer's head). ``start``: only requests whose range starts there (None: any, the probe included)."""

    kind: str
    skip: int = 0
    times: int = 1
    start: int | None = None
    after: int = 0
    status: int = 503
    data: bytes = b""
    seen: int = 0


class MemoryResponse:
    def __init__(
        self,
        answer: Answer,
        piece_size: int,
        fault: DFault | None,
        gate: asyncio.Event | None,
        on_bytes: Callable[[int], None],
        on_close: Callable[[], None],
    ) -> None:
        self._answer = answer
        self._piece_size = piece_size
        self._fault = fault
        self._gate = gate
        self._on_bytes = on_bytes
        self._on_close = on_close
        self.closed = False

    @property
    def status(self) -> int:
        return self._answer.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._answer.headers

    async def pieces(self) -> AsyncIterator[bytes]:
        body = self._answer.body
        fault = self._fault
        if fault is not None and fault.kind == "corrupt" and body:
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
        if self._gate is not None:
            await self._gate.wait()
        sent = 0
        while sent < len(body):
            if fault is not None and fault.kind in ("cut", "stall") and sent >= fault.after:
                if fault.kind == "stall":
                    await asyncio.Event().wait()  # forever, until cancelled
                raise TransportError(f"the connection was cut after {sent} bytes")
            end = min(len(body), sent + self._piece_size)
            if fault is not None and fault.kind in ("cut", "stall") and sent < fault.after < end:
                end = fault.after
            piece = body[sent:end]
            sent = end
            self._on_bytes(len(piece))
            await asyncio.sleep(0)
            yield piece

    async def text(self) -> str:
        return self._answer.body.decode("utf-8", "replace")

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self._on_close()


class MemoryStreamTransport:
    def __init__(self, server: MemoryFileServer | None = None, piece_size: int = 1000) -> None:
        self.server = server or MemoryFileServer()
        self.piece_size = piece_size
        self.faults: list[DFault] = []
        self.requests: list[HttpRequest] = []
        self.bytes_sent = 0  # body bytes handed to the engine
        self.in_flight = 0
        self.max_in_flight = 0
        self.offline = False
        self.gate: asyncio.Event | None = None  # when set: segment bodies wait for it
        self.on_request: Callable[[HttpRequest], None] | None = None

    def inject(self, *faults: DFault) -> None:
        self.faults.extend(faults)

    @property
    def segment_requests(self) -> list[HttpRequest]:
        return [r for r in self.requests if not _is_probe(r)]

    @property
    def probes(self) -> list[HttpRequest]:
        return [r for r in self.requests if _is_probe(r)]

    async def open(self, req: HttpRequest) -> MemoryResponse:
        self.requests.append(req)
        if self.on_request is not None:
            self.on_request(req)
        await asyncio.sleep(0)
        if self.offline:
            raise TransportError("offline")
        fault = self._take(req)
        if fault is not None and fault.kind == "network":
            raise TransportError("connection refused")
        if fault is not None and fault.kind == "status":
            body = json.dumps({"code": fault.status, "msg": f"status {fault.status}", "data": None})
            answer = Answer(fault.status, {"content-type": "application/json"}, body.encode())
        else:
            answer = self.server.answer(req)
        if fault is not None and fault.kind == "replace":
            self.server.put(urlsplit(req.url).path, fault.data)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        gate = None if _is_probe(req) else self.gate

        def sent(n: int) -> None:
            self.bytes_sent += n

        def closed() -> None:
            self.in_flight -= 1

        return MemoryResponse(answer, self.piece_size, fault, gate, sent, closed)

    def _take(self, req: HttpRequest) -> DFault | None:
        start = _range_start(req)
        for fault in self.faults:
            if fault.start is not None and fault.start != start:
                continue
            index = fault.seen
            fault.seen += 1
            if fault.skip <= index < fault.skip + fault.times:
                return fault
        return None


def _is_probe(req: HttpRequest) -> bool:
    """The engine's probe asks for byte 0 with no If-Range (a segment always has one when there is an ETag)."""
    return req.headers.get("range") == "bytes=0-0" and "if-range" not in req.headers


def _range_start(req: HttpRequest) -> int | None:
    wanted = req.headers.get("range")
    if wanted is None or _is_probe(req):
        return None
    return int(wanted.removeprefix("bytes=").partition("-")[0])


# ---------------------------------------------------------------------------------------------------------
# The partial file and the space
# ---------------------------------------------------------------------------------------------------------


@dataclass
class MemoryPartialFile:
    limit: int | None = None  # reset fails with NO_SPACE above this size
    data: bytearray = field(default_factory=bytearray)
    durable: bytearray = field(default_factory=bytearray)
    journal_text: str | None = None
    exists: bool = False
    writes: int = 0
    largest_write: int = 0
    largest_read: int = 0
    commits: int = 0
    resets: int = 0
    discards: int = 0
    delivered: list[tuple[str, bytes]] = field(default_factory=list)
    fail_writes: EngineError | None = None

    async def journal(self) -> Journal | None:
        await asyncio.sleep(0)
        return decode(self.journal_text) if self.journal_text is not None else None

    async def reset(self, journal: Journal) -> None:
        self.resets += 1
        if self.limit is not None and journal.size > self.limit:
            self.journal_text = None
            self.exists = False
            raise EngineError(Err.NO_SPACE, f"{journal.size} bytes do not fit in {self.limit}")
        self.journal_text = journal.encode()  # the journal first: no data file without one
        self.data = bytearray(journal.size)
        self.durable = bytearray(journal.size)
        self.exists = True

    async def write(self, offset: int, data: bytes) -> None:  # the doubles' pieces are bytes
        if self.fail_writes is not None:
            raise self.fail_writes
        if not self.exists or offset + len(data) > len(self.data):
            raise EngineError(Err.STORAGE_FAILED, f"write of {len(data)} at {offset} outside the file")
        self.writes += 1
        self.largest_write = max(self.largest_write, len(data))
        self.data[offset : offset + len(data)] = data
        await asyncio.sleep(0)

    async def read(self, offset: int, size: int) -> bytes:
        await asyncio.sleep(0)
        self.largest_read = max(self.largest_read, size)
        return bytes(self.data[offset : offset + size])

    async def sha256(self, start: int, end: int) -> bytes:
        return hashlib.sha256(await self.read(start, end - start)).digest()

    async def commit(self, journal: Journal) -> None:
        self.durable[:] = self.data  # flush, THEN the journal
        await asyncio.sleep(0)
        self.journal_text = journal.encode()
        self.commits += 1

    async def discard(self) -> None:
        self.discards += 1
        self.data = bytearray()
        self.durable = bytearray()
        self.journal_text = None
        self.exists = False

    async def deliver(self, name: str) -> None:
        self.delivered.append((name, bytes(self.data)))

    def crash(self) -> None:
        """A killed browser: what was not flushed is lost."""
        self.data = bytearray(self.durable)


@dataclass
class MemorySpace:
    free: int | None

    async def available(self) -> int | None:
        return self.free
