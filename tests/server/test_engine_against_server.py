"""The pure engine against the REAL server: a small aiohttp transport stands in for the browser's fetch."""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import replace

import aiohttp

from frontend.engine import (
    FilePart,
    FormBody,
    HttpRequest,
    HttpResponse,
    RetryPolicy,
    UploadConfig,
    UploadController,
    UploadSnapshot,
    UploadState,
)
from tests.support.aiohttp_transport import AiohttpTransport
from tests.support.engine_doubles import BytesSource
from tests.support.server_process import ServerProcess

ON_EVERY_BACKEND = True  # the local default, and PostgreSQL + S3 (tests/conftest.py)

MIB = 1024 * 1024


async def get_md5(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as resp:
        assert resp.status == 200
        return hashlib.md5(await resp.read()).hexdigest()


async def test_engine_uploads_in_parallel_to_the_real_server(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = random.Random(35).randbytes(3 * MIB + MIB // 2)
    transport = AiohttpTransport(http)
    transport.gather = 3  # no chunk is sent before three are asked for at once
    ctl = UploadController(
        BytesSource(data, "report.pdf"),
        transport,
        base_url=server.url,
        config=UploadConfig(parallel=3, max_parallel=3),
    )
    final = await ctl.upload()
    file_id = hashlib.md5(data).hexdigest()
    assert final.state is UploadState.FINISHED, final
    assert final.url == f"{server.url}/upload/{file_id}.pdf?name=report.pdf"
    assert (final.chunks_total, final.percent) == (4, 100.0)
    assert transport.chunk_posts == 4
    assert transport.max_in_flight == 3
    assert await get_md5(http, final.url) == file_id
    # The same content again: the handshake answers the URL, nothing is sent.
    again = UploadController(BytesSource(data, "copy.pdf"), transport, base_url=server.url)
    assert (await again.upload()).url == f"{server.url}/upload/{file_id}.pdf?name=copy.pdf"  # its own name
    assert transport.chunk_posts == 4
    assert server.errors_logged() == []


async def test_engine_uploads_an_empty_file(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    ctl = UploadController(BytesSource(b"", "empty.txt"), AiohttpTransport(http), base_url=server.url)
    final = await ctl.upload()
    assert final.state is UploadState.FINISHED, final
    assert await get_md5(http, final.url or "") == hashlib.md5(b"").hexdigest()


async def test_engine_rides_out_a_server_restart(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    """kill -9 in the middle: requests fail (network errors), the engine backs off and retries; the server
    comes back on the same port with its data; the engine re-asks what it needs and finishes."""
    data = random.Random(7).randbytes(6 * MIB + 3)
    transport = AiohttpTransport(http)
    killed = False
    revived: list[asyncio.Task[str]] = []

    class KillAfterTwoChunks:
        async def request(self, req: HttpRequest) -> HttpResponse:
            nonlocal killed
            if transport.chunk_posts == 2 and not killed:
                killed = True
                server.kill()
            return await transport.request(req)

    def on_snapshot(snap: UploadSnapshot) -> None:
        seen.append(snap.state)
        if snap.state is UploadState.RETRYING and not revived:  # the engine noticed: bring the server back
            revived.append(asyncio.ensure_future(asyncio.to_thread(server.restart, True, True)))

    seen: list[UploadState] = []
    config = UploadConfig(parallel=1, max_parallel=1, retry=RetryPolicy(base=0.1, cap=0.5, max_attempts=100))
    ctl = UploadController(
        BytesSource(data, "big.bin"),
        KillAfterTwoChunks(),
        base_url=server.url,
        config=config,
        listener=on_snapshot,
    )
    final = await ctl.upload()
    assert killed and revived
    await revived[0]
    assert final.state is UploadState.FINISHED, final
    assert UploadState.RETRYING in seen
    assert await get_md5(http, final.url or "") == hashlib.md5(data).hexdigest()
    assert transport.chunk_posts > 7  # the failed attempts
    assert sorted(transport.stored_chunks) == sorted(
        ctl.plan.chunk_ids if ctl.plan else []
    )  # each stored once


async def test_engine_sends_a_chunk_damaged_on_the_way_again_at_once(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """Chunk 1's bytes are damaged between the engine and the server once: the server refuses it as it
    arrives (422 CHUNK_MISMATCH, logged), and the engine sends it again next, before chunk 2, with no new
    handshake."""
    data = random.Random(11).randbytes(5 * MIB + 17)
    transport = AiohttpTransport(http)
    posted: list[str] = []

    class DamageChunkOneOnce:
        async def request(self, req: HttpRequest) -> HttpResponse:
            if isinstance(req.body, FormBody):
                cid = req.body.field("chunkId") or ""
                posted.append(cid)
                if cid[32:] == "1" and posted.count(cid) == 1:
                    body = await req.body.resolved()
                    part = body.parts[-1]
                    assert isinstance(part, FilePart) and isinstance(part.data, bytes)
                    flipped = replace(part, data=bytes([part.data[0] ^ 0xFF]) + part.data[1:])
                    req = replace(req, body=FormBody((*body.parts[:-1], flipped)))
            return await transport.request(req)

    ctl = UploadController(
        BytesSource(data, "x.bin"),
        DamageChunkOneOnce(),
        base_url=server.url,
        config=UploadConfig(parallel=1, max_parallel=1),
    )
    final = await ctl.upload()
    assert final.state is UploadState.FINISHED, final
    ids = ctl.plan.chunk_ids if ctl.plan else []
    assert posted == [ids[0], ids[1], ids[1], *ids[2:]]
    assert await get_md5(http, final.url or "") == hashlib.md5(data).hexdigest()
    file_id = hashlib.md5(data).hexdigest()
    assert server.assembled(file_id) == 1  # logged after the refusal: that line is in the log too
    refused = [line for line in server.log if f"refused chunk 1 of {file_id}" in line]
    assert len(refused) == 1, server.log  # counted at the server: one damaged copy arrived
    assert server.errors_logged() == []


async def test_the_memory_server_answers_like_the_real_one(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """The engine's unit tests run against ``MemoryServer``: the same requests must get the same answers
    (status, error name, data) from it as from the real server."""
    from frontend.engine.chunking import ChunkPlan
    from frontend.engine.hashing import hash_file
    from frontend.engine.protocol import chunk_request, handshake_request
    from tests.support.memory_server import MemoryServer, MemoryTransport

    data = random.Random(3).randbytes(3000)
    plan: ChunkPlan = await hash_file(BytesSource(data, "x.bin"), chunk_size=1000)
    other = await hash_file(BytesSource(data, "x.bin"), chunk_size=1500)  # same file, another chunk list
    stranger = await hash_file(BytesSource(b"never handshaken", "y.bin"), chunk_size=1000)
    ids, base = plan.chunk_ids, server.url

    def chunk(i: int, payload: bytes | None = None, p: ChunkPlan = plan) -> HttpRequest:
        c = p.chunks[i]
        return chunk_request(base, p.file_id, c.id, payload if payload is not None else data[c.start : c.end])

    script = [
        handshake_request(base, plan, name="x.bin"),
        chunk(1, b"x" * 1000),  # corrupted: 422 CHUNK_MISMATCH, data every id (nothing stored yet)
        chunk(0, b"never handshaken", stranger),  # 404 UNKNOWN_UPLOAD
        chunk_request(base, plan.file_id, ids[0][:32] + "7", b"zz"),  # 409 UNKNOWN_CHUNK
        handshake_request(base, other),  # another chunk list: an upload of its own, all its ids needed
        chunk_request(base, "", ids[0], b"zz"),  # 403 MISSING_FILE_ID
        chunk(0),
        chunk(2, bytes(1000)),  # corrupted: 422 CHUNK_MISMATCH, data [chunk 1's id, chunk 2's id]
        chunk(2),  # [chunk 1's id]
        handshake_request(base, plan),  # [chunk 1's id]
        chunk(1),  # [] and the file is assembled
        handshake_request(base, plan),  # the URL
        chunk(2),  # a late duplicate: []
    ]
    memory = MemoryTransport(MemoryServer(base))
    real = AiohttpTransport(http)
    for req in script:
        mine, theirs = await memory.request(req), await real.request(req)
        assert (mine.status, mine.json_body.get("error"), mine.json_body["data"]) == (
            theirs.status,
            theirs.json_body.get("error"),
            theirs.json_body["data"],
        ), req.url
