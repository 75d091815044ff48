"""The seed's two requests as values, and how answers (envelopes, error answers, junk) are read."""

from __future__ import annotations

import urllib.parse

import pytest

from frontend.engine import protocol
from frontend.engine.chunking import Chunk, ChunkPlan
from frontend.engine.errors import EngineError, Err, ServerError
from frontend.engine.ports import FilePart, FileRange, FormBody, FormField, HttpResponse, JsonBody
from frontend.engine.protocol import (
    chunk_request,
    envelope_data,
    file_url,
    handshake_request,
    handshake_result,
    needed_of,
)
from tests.support.engine_doubles import BytesSource

A = "0" * 32
B = "1" * 32
PLAN = ChunkPlan("f" * 32, ".jpg", 7, 4, (Chunk(0, 0, 4, A + "0"), Chunk(1, 4, 7, B + "1")))


def test_handshake_request_carries_the_seeds_fields_plus_name_and_size() -> None:
    req = handshake_request("http://h:1/", PLAN, name="a b.jpg", timeout=9.0)
    assert (req.method, req.url, req.timeout) == (
        "POST",
        "http://h:1/api/upload/handshake?answer=ranges",
        9.0,
    )
    assert req.headers == {"content-type": "application/json"}
    assert isinstance(req.body, JsonBody)
    assert req.body.value == {
        "fileId": "f" * 32,
        "ext": ".jpg",
        "chunkIds": [A + "0", B + "1"],
        "name": "a b.jpg",
        "size": 7,
    }
    assert handshake_request("http://h:1", PLAN).body.value.keys() == {"fileId", "ext", "chunkIds", "size"}


def test_chunk_request_puts_the_ids_before_the_file_part() -> None:
    req = chunk_request("http://h:1", "f" * 32, A + "0", b"abcd")
    assert req.url == "http://h:1/api/upload?answer=ranges"
    assert isinstance(req.body, FormBody)
    assert req.body.parts == (
        FormField("chunkId", A + "0"),
        FormField("fileId", "f" * 32),
        FilePart("file", b"abcd"),
    )
    body, content_type = req.body.encode("XyZ")
    assert content_type == "multipart/form-data; boundary=XyZ"
    assert body.startswith(b'--XyZ\r\nContent-Disposition: form-data; name="chunkId"\r\n\r\n' + A.encode())
    assert body.index(b'name="chunkId"') < body.index(b'name="fileId"') < body.index(b"abcd")
    assert b'name="file"; filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\nabcd\r\n' in body
    assert body.endswith(b"--XyZ--\r\n")


async def test_a_file_range_is_read_when_the_body_is_resolved() -> None:
    source = BytesSource(b"0123456789")
    req = chunk_request("http://h:1", "f" * 32, A + "0", FileRange(source, 2, 6))
    assert isinstance(req.body, FormBody)
    with pytest.raises(TypeError):
        req.body.encode("XyZ")  # bytes transports read the range first
    resolved = await req.body.resolved()
    assert resolved.file() == FilePart("file", b"2345")
    assert resolved.field("chunkId") == A + "0"
    assert await resolved.resolved() is resolved
    assert FileRange(source, 8, 12).size == 4
    with pytest.raises(OSError):  # a file shorter than when it was chosen
        await FormBody((FilePart("file", FileRange(source, 8, 12)),)).resolved()


def test_file_url_quotes_the_name() -> None:
    assert file_url("http://h:1/", "f" * 32, ".jpg") == "http://h:1/upload/" + "f" * 32 + ".jpg"
    assert (
        file_url("http://h:1", "f" * 32, ".文档") == "http://h:1/upload/" + "f" * 32 + ".%E6%96%87%E6%A1%A3"
    )


def test_success_envelopes() -> None:
    assert envelope_data(HttpResponse(200, {"code": 0, "msg": "", "data": ["x"]})) == ["x"]
    assert envelope_data(HttpResponse(200, {"code": 0, "msg": "", "data": "http://u"})) == "http://u"


def test_error_answers_carry_the_servers_message_and_name() -> None:
    with pytest.raises(ServerError) as info:
        envelope_data(
            HttpResponse(422, {"code": 422, "msg": "chunk 3: bad", "data": None, "error": "CHUNKS_DAMAGED"})
        )
    assert (info.value.status, info.value.msg, info.value.server_error) == (
        422,
        "chunk 3: bad",
        "CHUNKS_DAMAGED",
    )
    with pytest.raises(ServerError) as info:  # the seed's server: an error inside HTTP 200
        envelope_data(HttpResponse(200, {"code": 403, "msg": "请携带文件编号", "data": None}))
    assert (info.value.status, info.value.msg, info.value.code) == (403, "请携带文件编号", "HTTP_403")
    with pytest.raises(ServerError) as info:  # a proxy's HTML error page
        envelope_data(HttpResponse(502, None))
    assert (info.value.status, info.value.msg) == (502, "the server answered HTTP 502")


@pytest.mark.parametrize("body", [None, [], "ok", {"data": []}])
def test_a_2xx_without_an_envelope_is_a_bad_response(body: object) -> None:
    with pytest.raises(EngineError) as info:
        envelope_data(HttpResponse(200, body))
    assert info.value.kind is Err.BAD_RESPONSE


def test_needed_ids_must_belong_to_the_plan() -> None:
    assert needed_of([B + "1"], PLAN) == ((1, 2),)
    assert needed_of([B + "1", A + "0"], PLAN) == ((0, 2),)
    assert handshake_result([], PLAN) == ()
    assert handshake_result("http://u", PLAN) == "http://u"
    for bad in (None, "", [1], [A + "1"], {"a": 1}):
        with pytest.raises(EngineError) as info:
            handshake_result(bad, PLAN)
        assert info.value.kind is Err.BAD_RESPONSE


def test_the_compact_answer_is_read_and_checked_against_the_plan() -> None:
    assert needed_of({"needed": 1, "ranges": [[1, 2]]}, PLAN) == ((1, 2),)
    assert handshake_result({"needed": 0, "ranges": []}, PLAN) == ()
    for bad in (
        {"needed": 2, "ranges": [[1, 2]]},  # the count does not match
        {"needed": 1, "ranges": [[2, 3]]},  # past the file's 2 chunks
        {"needed": 2, "ranges": [[1, 2], [0, 1]]},  # not increasing
        {"needed": 1, "ranges": [[1, "2"]]},
        {"needed": 1, "ranges": [[1, 2, 3]]},
        {"needed": 0},
    ):
        with pytest.raises(EngineError) as info:
            needed_of(bad, PLAN)
        assert info.value.kind is Err.BAD_RESPONSE


def test_both_requests_ask_for_the_compact_answer() -> None:
    assert handshake_request("http://h:1", PLAN).url.endswith("/api/upload/handshake?answer=ranges")
    assert chunk_request("http://h:1", PLAN.file_id, A + "0", b"x").url.endswith("/api/upload?answer=ranges")


@pytest.mark.parametrize(
    "text",
    ["abc.bin", "a b", "报告.pdf", "100%.txt", "a/b?c#d&e=f", "~-._", "'\"<>\\", "\x00\x7f", "😀", ""],
)
def test_percent_encode_is_urllib_quote(text: str) -> None:
    assert protocol.percent_encode(text) == urllib.parse.quote(text)
