"""The seed's upload protocol from the client's side: the two requests, and reading the answers.

- ``POST /api/upload/handshake``, JSON ``{fileId, ext, chunkIds}`` (+ our optional ``name``, ``size``):
  ``data`` is the file's URL ("the server already has this file, nothing to upload") or the list of chunk
  ids it still needs.
- ``POST /api/upload``, multipart form: ``chunkId``, ``fileId``, then ``file`` (the chunk's bytes; the seed
  puts ``file`` first, our server accepts either order, and with the ids first it knows where the bytes go
  before they arrive): ``data`` is the list of chunk ids still needed, ``[]`` once the file is complete.

Our engine adds ``?answer=ranges`` to both (``wire.needed_ranges``): our server then answers the chunks still
needed as ``{needed, ranges}`` of indexes, whose size does not grow with the chunk count; a server that does
not know it (the seed's) ignores the query and answers the list, which is read as well.

Every answer is the envelope ``{code, msg, data}``: ``code`` 0 on success; on error our server sets ``code``
to the HTTP status and adds ``error`` (a stable name such as ``"CHUNKS_DAMAGED"``).
"""

from __future__ import annotations

from typing import Any

from wire import needed_ranges
from wire.errors import WireError
from wire.needed_ranges import ANSWER_QUERY, ANSWER_RANGES, Ranges

from .chunking import ChunkPlan
from .errors import EngineError, Err, ServerError
from .ports import FilePart, FileRange, FormBody, FormField, HttpRequest, HttpResponse, JsonBody

HANDSHAKE_PATH = "/api/upload/handshake"
UPLOAD_PATH = "/api/upload"
FILES_PATH = "/upload/"
COMPACT = f"?{ANSWER_QUERY}={ANSWER_RANGES}"  # the compact answer, asked on both requests


def handshake_request(
    base_url: str,
    plan: ChunkPlan,
    *,
    name: str | None = None,
    timeout: float | None = None,
    stall_timeout: float | None = None,
) -> HttpRequest:
    body: dict[str, Any] = {"fileId": plan.file_id, "ext": plan.ext, "chunkIds": plan.chunk_ids}
    if name is not None:
        body["name"] = name
    body["size"] = plan.size
    return HttpRequest(
        "POST",
        _join(base_url, HANDSHAKE_PATH + COMPACT),
        {"content-type": "application/json"},
        JsonBody(body),
        timeout,
        stall_timeout,
    )


def chunk_request(
    base_url: str,
    file_id: str,
    chunk_id: str,
    data: bytes | FileRange,
    *,
    timeout: float | None = None,
    stall_timeout: float | None = None,
) -> HttpRequest:
    """One chunk: its bytes, or (usually) the ``FileRange`` the transport reads or slices as it sends."""
    # The seed appends 'file', 'chunkId', 'fileId'; the ids go first here (the server reads parts in order:
    # knowing the upload and the chunk before the bytes, it can write an in-order chunk straight to the file).
    form = FormBody((FormField("chunkId", chunk_id), FormField("fileId", file_id), FilePart("file", data)))
    return HttpRequest("POST", _join(base_url, UPLOAD_PATH + COMPACT), {}, form, timeout, stall_timeout)


# RFC 3986 section 2.3: "unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"" (and "/" stays a separator).
_KEEP = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")


def percent_encode(text: str) -> str:
    """``urllib.parse.quote(text)``: UTF-8, every byte but the unreserved ones and "/" as ``%XX`` (RFC 3986
    section 2.1). Written out because importing ``urllib.parse`` (and ``ipaddress``, which it imports) costs
    the page's start-up about 90 ms in Pyodide."""
    return "".join(chr(byte) if byte in _KEEP else f"%{byte:02X}" for byte in text.encode("utf-8"))


def file_url(base_url: str, file_id: str, ext: str, name: str | None = None) -> str:
    """Where the stored file is served (the seed: `http://localhost:8000/upload/${fileId}${ext}`), with
    ``?name=`` when the upload sent a name: the server offers the download under the name in the link."""
    url = _join(base_url, FILES_PATH + percent_encode(file_id + ext))
    return url if name is None else f"{url}?name={percent_encode(name).replace('/', '%2F')}"


def envelope_data(resp: HttpResponse) -> Any:
    """``data`` of a success envelope; ``ServerError`` for an error answer; ``BAD_RESPONSE`` otherwise."""
    body = resp.json_body
    if not 200 <= resp.status < 300:
        raise _server_error(resp.status, body, f"the server answered HTTP {resp.status}")
    if not isinstance(body, dict) or "code" not in body:
        raise EngineError(Err.BAD_RESPONSE, f"HTTP {resp.status} without a {{code, msg, data}} JSON envelope")
    code = body["code"]
    if code != 0:
        # The seed's server may answer an error inside an HTTP 200: trust the envelope's code.
        status = code if isinstance(code, int) and not isinstance(code, bool) else resp.status
        raise _server_error(status, body, f"the server answered code {code!r}")
    return body.get("data")


def handshake_result(data: Any, plan: ChunkPlan) -> str | Ranges:
    """The handshake's ``data``: a URL (str), or the chunks still needed (``needed_of``)."""
    if isinstance(data, str):
        if not data:
            raise EngineError(Err.BAD_RESPONSE, "the handshake answered an empty URL")
        return data
    return needed_of(data, plan)


def needed_of(data: Any, plan: ChunkPlan) -> Ranges:
    """The chunks still needed as ranges of indexes, from the compact ``{needed, ranges}`` or from the seed's
    list of ids (each must be one of the plan's)."""
    if isinstance(data, dict):
        try:
            return needed_ranges.parse(data, len(plan.chunks))
        except WireError as exc:
            raise EngineError(Err.BAD_RESPONSE, f"the server's list of needed chunks: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise EngineError(Err.BAD_RESPONSE, "expected a list of chunk ids in data")
    if not plan.id_set.issuperset(data):  # one set operation per answer (answers list up to every chunk)
        cid = next(x for x in data if x not in plan.id_set)
        raise EngineError(
            Err.BAD_RESPONSE, f"the server asked for chunk {cid[:48]!r}, which is not in this file"
        )
    indexes = sorted({chunk.index for chunk in map(plan.by_id, data) if chunk is not None})
    return needed_ranges.from_indexes(indexes)


def _server_error(status: int, body: Any, fallback: str) -> ServerError:
    """The server's ``msg`` and ``error`` name when the body is an envelope (a proxy's HTML page is not)."""
    msg = body.get("msg") if isinstance(body, dict) else None
    name = body.get("error") if isinstance(body, dict) else None
    return ServerError(
        status,
        msg if isinstance(msg, str) and msg else fallback,
        name if isinstance(name, str) else None,
        body.get("data") if isinstance(body, dict) else None,
    )


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path
