"""Each chunk is checked against its id as it arrives (``--verify-chunks arrival``, the default).

A chunk whose bytes do not have the MD5 its chunkId names is refused at once (``422 CHUNK_MISMATCH``),
nothing of it is kept, it stays needed, and the next copy is taken; the 422's ``data`` lists the ids still
needed, which the seed's client sends next. Every test runs with both form orders: the seed's (the ``file``
part first, spooled) and ours (ids first, the chunk written in place when it is the next one its file needs).
``--verify-chunks assembly`` (checks only when the whole file's MD5 fails) is tested at the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable

import aiohttp
import pytest

from tests.support.seed_protocol import CHUNK, Answer, Planned, SeedClient, damaged, plan
from tests.support.server_process import ServerProcess

ORDERS = ["file-first", "ids-first"]


async def send(client: SeedClient, p: Planned, index: int, order: str, data: bytes | None = None) -> Answer:
    chunk_id, payload = p.chunk_ids[index], p.chunks[index] if data is None else data
    ids: list[tuple[str, bytes | str]] = [("chunkId", chunk_id), ("fileId", p.file_id)]
    file: list[tuple[str, bytes | str]] = [("file", payload)]
    return await client.post_form(file + ids if order == "file-first" else ids + file)


def leftovers(server: ServerProcess, file_id: str) -> dict[str, int]:
    """Bytes the server holds for an upload in progress: spooled, in chunk files, in the partial file."""
    partial = server.data_dir / "partial" / file_id
    chunks = server.data_dir / "chunks" / file_id
    return {
        "tmp": sum(path.stat().st_size for path in (server.data_dir / "tmp").iterdir()),
        "chunks": sum(path.stat().st_size for path in chunks.iterdir()) if chunks.exists() else 0,
        "partial": partial.stat().st_size if partial.exists() else 0,
    }


@pytest.mark.parametrize("order", ORDERS)
async def test_a_damaged_chunk_is_refused_at_once_and_the_good_copy_taken(
    server: ServerProcess, http: aiohttp.ClientSession, order: str
) -> None:
    """The issue's scenario: 4 chunks of 1 MiB, chunk 0 with a byte flipped."""
    p = plan(os.urandom(4 * CHUNK))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    bad = damaged(p.chunks[0])
    refused = await send(client, p, 0, order, bad)
    assert refused.status == 422
    assert refused.body["code"] == 422 and refused.body["error"] == "CHUNK_MISMATCH"
    msg = refused.body["msg"]
    assert "chunk 0" in msg and hashlib.md5(bad).hexdigest() in msg and p.chunk_ids[0][:32] in msg, msg
    assert refused.data == p.chunk_ids  # what the seed's client sends next: chunk 0 first
    assert leftovers(server, p.key) == {"tmp": 0, "chunks": 0, "partial": 0}  # nothing of it kept
    assert (await client.handshake(p)).data == p.chunk_ids  # still needed
    assert (await send(client, p, 0, order)).data == p.chunk_ids[1:]  # the good copy is taken
    for index in (1, 2):
        assert (await send(client, p, index, order)).data == p.chunk_ids[index + 1 :]
    last = await send(client, p, 3, order)
    assert (last.status, last.data) == (200, [])  # no 422 at assembly: nothing damaged was stored
    assert await client.published_md5(p) == p.file_id
    assert server.assembled(p.file_id) == 1
    assert server.errors_logged() == []


@pytest.mark.parametrize("order", ORDERS)
async def test_good_chunks_four_at_a_time_after_a_damaged_one(
    server: ServerProcess, http: aiohttp.ClientSession, order: str
) -> None:
    p = plan(os.urandom(9 * CHUNK + 123))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    assert (await send(client, p, 0, order, damaged(p.chunks[0], at=5))).status == 422
    answers = []
    for start in range(0, len(p.chunk_ids), 4):
        batch = range(start, min(start + 4, len(p.chunk_ids)))
        answers += await asyncio.gather(*(send(client, p, index, order) for index in batch))
    assert [answer.status for answer in answers] == [200] * len(p.chunk_ids), [a.body for a in answers]
    assert sum(answer.data == [] for answer in answers) >= 1
    assert await client.published_md5(p) == p.file_id
    assert server.assembled(p.file_id) == 1
    assert server.errors_logged() == []


@pytest.mark.parametrize("order", ORDERS)
async def test_a_stored_chunk_is_never_replaced_by_a_damaged_copy(
    server: ServerProcess, http: aiohttp.ClientSession, order: str
) -> None:
    """Chunk 0 (written in place with ids first) and chunk 2 (out of order: a chunk file) are stored; damaged
    copies of them later are refused and change nothing."""
    p = plan(os.urandom(3 * CHUNK + 7))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    assert (await send(client, p, 0, order)).status == 200
    assert (await send(client, p, 2, order)).status == 200
    before = leftovers(server, p.key)
    for index in (0, 2):
        again = await send(client, p, index, order, damaged(p.chunks[index]))
        assert again.status == 422 and again.body["error"] == "CHUNK_MISMATCH"
        assert again.data == [p.chunk_ids[1], p.chunk_ids[3]]  # only what is still needed
    assert leftovers(server, p.key) == before
    assert (await send(client, p, 1, order)).data == [p.chunk_ids[3]]
    assert (await send(client, p, 3, order)).data == []
    assert await client.published_md5(p) == p.file_id
    assert server.errors_logged() == []


async def test_a_chunk_of_the_wrong_length_is_a_mismatch_too(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    p = plan(os.urandom(2 * CHUNK))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    short = await send(client, p, 0, "ids-first", p.chunks[0][:-1])
    assert short.status == 422 and short.body["error"] == "CHUNK_MISMATCH"
    assert leftovers(server, p.key)["partial"] == 0
    assert await client.upload(p) == f"{server.url}/upload/{p.file_id}.bin"
    assert await client.published_md5(p) == p.file_id


# ------------------------------------------------------------------ --verify-chunks assembly


@pytest.fixture
def lazy_server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_server("--verify-chunks", "assembly")


async def test_with_assembly_checks_a_damaged_chunk_is_found_when_the_file_is_complete(
    lazy_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    """Chunks are checked against their ids only when the whole file's MD5 fails: then the damaged ones
    are named and dropped, the others kept, and nothing is published."""
    server = lazy_server
    p = plan(os.urandom(3 * CHUNK + 5))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    assert (await client.send_chunk(p, p.chunk_ids[0])).status == 200
    assert (await client.send_chunk(p, p.chunk_ids[1], damaged(p.chunks[1]))).status == 200  # not checked yet
    assert (await client.send_chunk(p, p.chunk_ids[2])).status == 200
    last = await client.send_chunk(p, p.chunk_ids[3])
    assert last.status == 422
    assert last.body["code"] == 422 and last.body["error"] == "CHUNKS_DAMAGED"
    assert last.data == [p.chunk_ids[1]]
    assert "index 1" in last.body["msg"] and "handshake again" in last.body["msg"]
    assert (await client.get_bytes(f"{server.url}/upload/{p.file_id}.bin"))[0] == 404
    assert (await client.handshake(p)).data == [p.chunk_ids[1]]
    assert (await client.send_chunk(p, p.chunk_ids[1])).data == []
    assert await client.published_md5(p) == p.file_id
    assert server.assembled(p.file_id) == 1
    assert not any((server.data_dir / "tmp").iterdir())
    assert server.errors_logged() == []
