"""The server's double for the engine's tests: an in-memory server + transport speaking the seed's protocol.

``MemoryServer`` implements the protocol as our real server does (``server/uploads``), in a few lines: the
needed set per upload (uploads of one file with different chunk lists coexist: a chunk goes to the one whose
list has it, the nearest to completion; the first complete one publishes), ``413 FILE_TOO_LARGE`` for a
handshake over ``max_file_bytes``, ``404 UNKNOWN_UPLOAD`` for a chunk without a handshake, each chunk checked against
its id as it arrives (``422 CHUNK_MISMATCH``, ``data`` the ids still needed, the chunk stays needed),
assembly + whole-file MD5 check when the last chunk arrives (on a mismatch, which only chunks damaged after
they were stored can cause, e.g. a test editing ``uploads``: the chunks that do not match their ids are
dropped, ``422 CHUNKS_DAMAGED``, and the rest kept; if none, ``422 FILE_MISMATCH`` and the upload is gone),
the file's URL at the handshake once it is stored; the needed ids as the compact ``{needed, ranges}`` when
the request asks ``?answer=ranges`` (unless ``seed_answers``, as the seed's server). It checks ids, ``ext`` and ``name`` by the real server's
rules (``wire``), and its error answers carry ``code`` = status, ``msg``, ``data`` and ``error`` (an
``ErrorName``) like the real server's; ``tests/server/test_engine_against_server.py`` sends the same requests
to both and compares the answers.

``MemoryTransport`` hands requests to it (reading a chunk's ``FileRange`` first, as a browser reads the
``file.slice`` in a form while sending it: a read that fails is a ``TransportError``), and can inject
faults (``Fault``): no answer before or after the server handled the request, a 5xx, a chunk corrupted in
flight, the server losing its state (a restart without data), slow answers; ``offline`` fails everything;
``gate`` holds chunk requests until set. It counts requests in flight, so tests can check the parallelism.

Stdlib, the engine and ``wire`` only, like the engine, so it also runs under Pyodide. The files and the clock
the engine's tests use are ``engine_doubles.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from frontend.engine.errors import TransportError
from frontend.engine.ports import FilePart, FormBody, HttpRequest, HttpResponse, JsonBody
from frontend.engine.protocol import HANDSHAKE_PATH, UPLOAD_PATH
from wire import ids, names, needed_ranges
from wire.errors import ErrorName, WireError
from wire.needed_ranges import ANSWER_QUERY, ANSWER_RANGES

# ---------------------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------------------

T = TypeVar("T")


class _Refused(Exception):
    def __init__(self, status: int, error: ErrorName, msg: str, data: Any = None) -> None:
        super().__init__(msg)
        self.status, self.error, self.msg, self.data = status, error, msg, data


@dataclass
class MemoryUpload:
    """An unfinished upload: its chunk list and the chunks stored so far (a test may edit them)."""

    chunk_ids: list[str]
    ext: str
    size: int | None
    chunks: dict[int, bytes] = field(default_factory=dict)


class MemoryServer:
    """The seed's upload protocol, in memory. ``files`` maps a file id to its bytes once stored."""

    def __init__(
        self,
        base_url: str = "http://memory.test",
        max_file_bytes: int | None = None,
        seed_answers: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.seed_answers = seed_answers  # answer lists of ids even when asked for ranges (the seed's server)
        self.max_file_bytes = max_file_bytes
        self.files: dict[str, bytes] = {}
        self.names: dict[str, str] = {}
        self.uploads: dict[str, list[MemoryUpload]] = {}  # file id -> its uploads (one per chunk list)
        self.chunks_received: list[str] = []  # chunk ids of every chunk request that reached the server
        self.handshakes = 0
        self.assemblies = 0

    def lose_state(self) -> None:
        """Forget every unfinished upload (a restart that lost its data); stored files stay."""
        self.uploads.clear()

    def url(self, file_id: str, ext: str, name: str | None = None) -> str:
        url = f"{self.base_url}/upload/{quote(file_id + ext)}"
        return url if name is None else f"{url}?name={quote(name, safe='')}"

    def handle(self, req: HttpRequest) -> HttpResponse:
        path = urlsplit(req.url).path
        try:
            if req.method == "POST" and path == HANDSHAKE_PATH and isinstance(req.body, JsonBody):
                return _ok(self._answer(req, self._handshake(json.loads(req.body.encode()))))
            if req.method == "POST" and path == UPLOAD_PATH and isinstance(req.body, FormBody):
                return _ok(self._answer(req, self._chunk(req.body)))
            if path in (HANDSHAKE_PATH, UPLOAD_PATH):
                raise _Refused(
                    400, ErrorName.BAD_REQUEST, f"{req.method} {path} with this body is not understood"
                )
            raise _Refused(404, ErrorName.NOT_FOUND, "not found")
        except _Refused as no:
            return HttpResponse(
                no.status, {"code": no.status, "msg": no.msg, "data": no.data, "error": no.error}
            )

    def _answer(self, req: HttpRequest, data: str | list[str]) -> Any:
        """The needed ids as the seed answers them, or as ``{needed, ranges}`` when the request asked for
        the compact answer (``?answer=ranges``) and this server plays ours (``seed_answers`` False)."""
        asked = parse_qs(urlsplit(req.url).query).get(ANSWER_QUERY) == [ANSWER_RANGES]
        if isinstance(data, str) or self.seed_answers or not asked:
            return data
        return needed_ranges.to_json(
            needed_ranges.from_indexes(sorted(ids.parse_chunk_id(c).index for c in data))
        )

    def _handshake(self, body: Any) -> str | list[str]:
        self.handshakes += 1
        if not isinstance(body, dict):
            raise _Refused(400, ErrorName.BAD_FIELD, "the handshake must be a JSON object")
        file_id = _file_id(body.get("fileId"))
        ext = _wire(ErrorName.BAD_EXT, names.parse_ext, body.get("ext"))
        chunk_ids = body.get("chunkIds")
        if not isinstance(chunk_ids, list):
            raise _Refused(400, ErrorName.BAD_FIELD, "chunkIds must be an array of chunk ids")
        listed = list(_wire(ErrorName.BAD_CHUNK_ID, ids.parse_chunk_list, chunk_ids))
        name = _wire(ErrorName.BAD_NAME, names.parse_name, body.get("name"))
        size = body.get("size")
        if self.max_file_bytes is not None and isinstance(size, int) and size > self.max_file_bytes:
            raise _Refused(
                413,
                ErrorName.FILE_TOO_LARGE,
                f"the file is {size} bytes; this server accepts at most {self.max_file_bytes} bytes",
            )
        if name is not None:
            self.names[file_id] = name
        if file_id in self.files:
            return self.url(file_id, ext, name)
        uploads = self.uploads.setdefault(file_id, [])
        upload = next((upload for upload in uploads if upload.chunk_ids == listed), None)
        if upload is None:
            upload = MemoryUpload(listed, ext, size)
            uploads.append(upload)
        needed = _needed(upload)
        if needed:
            return needed
        self._assemble(file_id, upload)
        return self.url(file_id, ext, name)

    def _chunk(self, form: FormBody) -> list[str]:
        file_id = _file_id(form.field("fileId"))
        chunk = _wire(ErrorName.BAD_CHUNK_ID, ids.parse_chunk_id, form.field("chunkId"))
        cid = str(chunk)
        part: FilePart | None = form.file("file")
        if part is None:
            raise _Refused(400, ErrorName.BAD_FIELD, "the form has no 'file' part")
        self.chunks_received.append(cid)
        uploads = self.uploads.get(file_id, [])
        if not uploads:
            if file_id in self.files:
                return []  # a late duplicate of a chunk of a stored file
            raise _Refused(
                404,
                ErrorName.UNKNOWN_UPLOAD,
                f"no upload in progress for fileId {file_id}: send the handshake first",
            )
        listing = [u for u in uploads if chunk.index < len(u.chunk_ids) and u.chunk_ids[chunk.index] == cid]
        if not listing:
            raise _Refused(
                409, ErrorName.UNKNOWN_CHUNK, f"chunkId {cid} is not in the chunk list of file {file_id}"
            )
        upload = max(listing, key=lambda u: (chunk.index not in u.chunks, len(u.chunks) - len(u.chunk_ids)))
        md5 = hashlib.md5(part.data).hexdigest()
        if md5 != chunk.md5:
            raise _Refused(
                422,
                ErrorName.CHUNK_MISMATCH,
                f"chunk {chunk.index} does not match its chunkId: its bytes have MD5 {md5}; send it again",
                _needed(upload),
            )
        upload.chunks[chunk.index] = part.data
        needed = _needed(upload)
        if not needed:
            self._assemble(file_id, upload)
        return needed

    def _assemble(self, file_id: str, upload: MemoryUpload) -> None:
        data = b"".join(upload.chunks.get(i, b"") for i in range(len(upload.chunk_ids)))
        matches = hashlib.md5(data).hexdigest() == file_id
        if not matches:
            listed = enumerate(upload.chunk_ids)
            damaged = [i for i, cid in listed if hashlib.md5(upload.chunks[i]).hexdigest() != cid[:32]]
            for i in damaged:
                del upload.chunks[i]
            if damaged:
                raise _Refused(
                    422,
                    ErrorName.CHUNKS_DAMAGED,
                    f"{len(damaged)} chunk(s) do not match their chunkId",
                    [upload.chunk_ids[i] for i in damaged],
                )
        if not matches or (upload.size is not None and len(data) != upload.size):
            self.uploads[file_id].remove(upload)
            if not self.uploads[file_id]:
                del self.uploads[file_id]
            raise _Refused(
                422,
                ErrorName.FILE_MISMATCH,
                "the assembled file does not match fileId; the upload was discarded",
            )
        del self.uploads[file_id]  # the file is published: its other uploads go too
        self.files[file_id] = data
        self.assemblies += 1


def _needed(upload: MemoryUpload) -> list[str]:
    return [cid for i, cid in enumerate(upload.chunk_ids) if i not in upload.chunks]


def _wire(error: ErrorName, parse: Callable[[Any], T], value: Any) -> T:
    """``parse(value)`` by the wire's rule; a value that breaks it is refused as the real server refuses it:
    400 ``error`` with the rule's message."""
    try:
        return parse(value)
    except WireError as exc:
        raise _Refused(400, error, str(exc)) from None


def _file_id(value: Any) -> str:
    if value is None or value == "":
        raise _Refused(403, ErrorName.MISSING_FILE_ID, "请携带文件编号")
    return _wire(ErrorName.BAD_FILE_ID, ids.parse_file_id, value)


def _ok(data: Any) -> HttpResponse:
    return HttpResponse(200, {"code": 0, "msg": "", "data": data})


# ---------------------------------------------------------------------------------------------------------
# The transport, with faults
# ---------------------------------------------------------------------------------------------------------

FAULT_KINDS = ("network", "network_after", "status", "corrupt", "lose_state", "delay")


@dataclass
class Fault:
    """One injected fault, applied to matching requests.

    kind: ``network`` (no answer; the server never saw it), ``network_after`` (the server handled it, the
    answer is lost), ``status`` (answer ``status`` without reaching the server), ``corrupt`` (flip a byte of
    the chunk on the way), ``lose_state`` (the server forgets its unfinished uploads first), ``delay`` (the
    answer takes ``seconds``, through the transport's ``sleep``).
    """

    kind: str
    path: str | None = None  # HANDSHAKE_PATH or UPLOAD_PATH; None = any request
    times: int | None = 1  # matching requests it hits; None = all of them
    skip: int = 0  # matching requests let through before it starts
    status: int = 503
    seconds: float = 0.0
    chunk_index: int | None = None  # only chunk requests for this chunk

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")

    def matches(self, req: HttpRequest) -> bool:
        if self.path is not None and urlsplit(req.url).path != self.path:
            return False
        if self.chunk_index is not None:
            cid = req.body.field("chunkId") if isinstance(req.body, FormBody) else None
            return cid is not None and cid[32:] == str(self.chunk_index)
        return True


class MemoryTransport:
    """A ``Transport`` that hands each request to a ``MemoryServer``, with injectable faults."""

    def __init__(
        self,
        server: MemoryServer | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        hook: Callable[[HttpRequest], Awaitable[None]] | None = None,
    ) -> None:
        self.server = server or MemoryServer()
        self.sleep = sleep
        self.hook = hook  # awaited before each request is handled (tests use it to act mid-upload)
        self.faults: list[Fault] = []
        self.offline = False
        self.gate: asyncio.Event | None = None  # when set to an Event, chunk requests wait until it is set
        self.requests: list[HttpRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.chunks_in_flight = 0
        self.max_chunks_in_flight = 0

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    @property
    def chunk_requests(self) -> list[HttpRequest]:
        return [r for r in self.requests if urlsplit(r.url).path == UPLOAD_PATH]

    @property
    def handshake_requests(self) -> list[HttpRequest]:
        return [r for r in self.requests if urlsplit(r.url).path == HANDSHAKE_PATH]

    async def request(self, req: HttpRequest) -> HttpResponse:
        self.requests.append(req)
        is_chunk = urlsplit(req.url).path == UPLOAD_PATH
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if is_chunk:
            self.chunks_in_flight += 1
            self.max_chunks_in_flight = max(self.max_chunks_in_flight, self.chunks_in_flight)
        try:
            await asyncio.sleep(0)  # like a real request: others may start meanwhile
            if self.hook is not None:
                await self.hook(req)
            if is_chunk and self.gate is not None:
                await self.gate.wait()
            if self.offline:
                raise TransportError("offline (memory transport)")
            if isinstance(req.body, FormBody):
                try:
                    req = replace(req, body=await req.body.resolved())
                except Exception as exc:  # like a fetch whose body could not be read
                    raise TransportError(f"the request's file part could not be read: {exc}") from exc
            fault = self._take(req)
            if fault is not None:
                if fault.kind == "delay":
                    await self.sleep(fault.seconds)
                elif fault.kind == "network":
                    raise TransportError("connection refused (injected)")
                elif fault.kind == "status":
                    return HttpResponse(
                        fault.status,
                        {
                            "code": fault.status,
                            "msg": f"injected {fault.status}",
                            "data": None,
                            "error": ErrorName.INTERNAL,
                        },
                    )
                elif fault.kind == "corrupt":
                    req = _corrupted(req)
                elif fault.kind == "lose_state":
                    self.server.lose_state()
            resp = self.server.handle(req)
            if fault is not None and fault.kind == "network_after":
                raise TransportError("connection reset after the request was handled (injected)")
            return resp
        finally:
            self.in_flight -= 1
            if is_chunk:
                self.chunks_in_flight -= 1

    def _take(self, req: HttpRequest) -> Fault | None:
        for fault in self.faults:
            if not fault.matches(req):
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
            return fault
        return None


def _corrupted(req: HttpRequest) -> HttpRequest:
    if not isinstance(req.body, FormBody):
        return req
    parts = []
    for part in req.body.parts:
        if isinstance(part, FilePart) and isinstance(part.data, bytes):
            data = bytearray(part.data) or bytearray(b"\0")  # an empty chunk gets a byte
            data[len(data) // 2] ^= 0xFF
            part = replace(part, data=bytes(data))
        parts.append(part)
    return replace(req, body=FormBody(tuple(parts)))
