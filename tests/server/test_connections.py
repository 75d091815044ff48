"""Connections the server does not let pile up: idle ones and incomplete heads are closed (a head trickled a
byte at a time too, at the header time even though it is never idle for long), a body that stops arriving
gets 408 and is closed, and beyond ``--max-connections`` a connection is answered 503 at once; none of it
stops a normal request (a slow head that completes in time is answered), and the log stays small."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Callable

import aiohttp
import pytest

from tests.support.seed_protocol import SeedClient, form_body, plan
from tests.support.server_process import ServerProcess

BOUND = 15.0  # seconds: what "closed in bounded time" means here, for timeouts of 1 s


async def connect(server: ServerProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = server.url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (fails the test after ``BOUND`` s). After
    a 408, aiohttp reads (and drops) what more of the body comes for 10 s before it closes."""
    return await asyncio.wait_for(reader.read(), BOUND)


async def answered_once(server: ServerProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A keep-alive connection the server has accepted: one request sent on it and answered."""
    reader, writer = await connect(server)
    writer.write(b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)
    assert head.startswith(b"HTTP/1.1 200 "), head
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return reader, writer


@pytest.fixture
def quick(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_server(
        "--idle-timeout-seconds", "1", "--header-timeout-seconds", "1", "--body-timeout-seconds", "1"
    )


async def trickle(
    writer: asyncio.StreamWriter, reader: asyncio.StreamReader, data: bytes, gap: float
) -> tuple[int, bytes]:
    """Send ``data`` a byte at a time, ``gap`` seconds apart, unless the server closes the connection or
    answers first (each gap is a wait for that). Returns the bytes sent and what the server sent back."""
    for sent in range(len(data)):
        try:
            writer.write(data[sent : sent + 1])
            await writer.drain()
        except ConnectionError:
            return sent, b""
        try:
            answer = await asyncio.wait_for(reader.read(65536), gap)
        except TimeoutError:
            continue  # nothing from the server yet: the next byte
        except ConnectionError:
            return sent + 1, b""
        return sent + 1, answer  # closed (b"") or answered
    return len(data), await asyncio.wait_for(reader.read(65536), BOUND)


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"],  # nothing at all; a head that never ends
    ids=["silent", "incomplete-head"],
)
async def test_an_idle_connection_or_an_incomplete_head_is_closed(quick: ServerProcess, sent: bytes) -> None:
    reader, writer = await connect(quick)
    writer.write(sent)
    assert await read_until_closed(reader) == b""  # closed, nothing answered
    writer.close()
    assert quick.errors_logged() == []


async def test_a_head_trickled_a_byte_at_a_time_is_closed_at_the_header_time(
    make_server: Callable[..., ServerProcess],
) -> None:
    """Never idle for more than 0.2 s, so only the header time (1 s, not the idle 30 s) can cut it: it is
    closed, unanswered, long before its last byte (a head this long takes about 40 s at this pace)."""
    server = make_server("--idle-timeout-seconds", "30", "--header-timeout-seconds", "1")
    head = b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 150 + b"\r\n\r\n"
    reader, writer = await connect(server)
    started = asyncio.get_running_loop().time()
    sent, answer = await asyncio.wait_for(trickle(writer, reader, head, gap=0.2), BOUND)
    writer.close()
    assert answer == b"" and sent < len(head), (sent, answer[:100])
    assert asyncio.get_running_loop().time() - started < BOUND
    assert server.errors_logged() == []


async def test_a_slow_head_that_completes_in_time_is_answered_even_past_the_idle_time(
    make_server: Callable[..., ServerProcess],
) -> None:
    """The idle time (1 s) counts until a head begins; then the header time (10 s) applies: a head that
    begins when the connection has been idle for most of a second, and takes about 2 s, is answered."""
    server = make_server("--idle-timeout-seconds", "1", "--header-timeout-seconds", "10")
    reader, writer = await answered_once(server)  # the idle time now runs from this answer
    with pytest.raises(TimeoutError):  # 0.7 s idle: nothing comes, the connection stays open
        await asyncio.wait_for(reader.read(1), 0.7)
    head = b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    sent, answer = await trickle(writer, reader, head, gap=0.05)
    assert sent == len(head)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    writer.close()
    assert server.errors_logged() == []


async def test_a_chunk_body_that_stops_arriving_gets_408_and_is_closed(quick: ServerProcess) -> None:
    p = plan(os.urandom(5000))
    async with aiohttp.ClientSession() as http:
        assert (await SeedClient(http, quick.url).handshake(p)).status == 200
    body, content_type = form_body(
        [("chunkId", p.chunk_ids[0]), ("fileId", p.file_id), ("file", p.chunks[0])]
    )
    reader, writer = await connect(quick)
    head = f"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}"
    writer.write(head.encode() + b"\r\n\r\n" + body[:3000])  # then nothing more
    answer = await read_until_closed(reader)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    envelope = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert envelope["error"] == "BODY_TIMEOUT" and "no byte" in envelope["msg"]
    async with aiohttp.ClientSession() as http:  # nothing of it was kept: the chunk is still needed
        assert (await SeedClient(http, quick.url).handshake(p)).data == p.chunk_ids
    assert not any((quick.data_dir / "tmp").iterdir())
    assert quick.errors_logged() == []


async def test_a_handshake_body_that_stops_arriving_gets_408_and_is_closed(quick: ServerProcess) -> None:
    reader, writer = await connect(quick)
    writer.write(
        b"POST /api/upload/handshake HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 500\r\n\r\n{"fileId":'
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), BOUND)  # the close follows, after
    writer.close()  # aiohttp's 10 s of lingering (tested above)
    assert head.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in head, head
    assert quick.errors_logged() == []


async def test_a_thousand_idle_connections_do_not_stop_a_normal_request(server: ServerProcess) -> None:
    idle = [await connect(server) for _ in range(1000)]
    try:
        p = plan(os.urandom(10_000))
        async with aiohttp.ClientSession() as http:
            client = SeedClient(http, server.url)
            url = await client.upload(p)
            status, body = await client.get_bytes(url)
        assert status == 200 and hashlib.md5(body).hexdigest() == p.file_id
    finally:
        for _, writer in idle:
            writer.close()
    assert server.errors_logged() == []


async def test_connections_over_the_cap_get_503_at_once_and_the_log_stays_small(
    make_server: Callable[..., ServerProcess],
) -> None:
    server = make_server("--max-connections", "20")
    held = [await answered_once(server) for _ in range(20)]  # open, and surely accepted by the server
    lines_before = len(server.log)
    answers = []
    for _ in range(200):
        reader, writer = await connect(server)
        answers.append(await read_until_closed(reader))
        writer.close()
    assert all(answer.startswith(b"HTTP/1.1 503 ") for answer in answers), answers[0][:200]
    head, _, body = answers[0].partition(b"\r\n\r\n")
    assert b"Retry-After: 5" in head and b"Connection: close" in head
    envelope = json.loads(body)
    assert envelope["error"] == "TOO_MANY_CONNECTIONS" and "20 connections" in envelope["msg"]
    assert len(server.log) - lines_before <= 2, server.log[lines_before:]  # one line per 10 s, not 200

    for _, writer in held:
        writer.close()

    async def served() -> bool:
        async with aiohttp.ClientSession() as http, http.get(server.url + "/api/files") as resp:
            return resp.status == 200

    # The server sees the held connections close, then serves again (each try is answered at once).
    for _ in range(500):
        if await served():
            break
    else:
        pytest.fail("no request was served after the held connections closed")
    assert server.errors_logged() == []
