"""Chunks whose ids come before their bytes, in order, are written straight into the assembled file.

RFC 7578 fixes no order for a form's parts: our own client sends ``chunkId`` and ``fileId`` first, so the
server can write a chunk that is the next one its file needs once, in place, hashing it for both checks on
the way into the file's MD5 (the seed's client sends the file part first: its chunks go through a spool).
Whatever the order, a refused or cut-off chunk leaves nothing behind, and the published file is always the
right one. With ``--verify-chunks assembly`` (chunks checked only when the file's MD5 fails), a damaged chunk
is cut out of the file at assembly, keeping the good ones after it.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable

import aiohttp
import pytest

from tests.support.seed_protocol import CHUNK, Answer, Planned, SeedClient, damaged, plan
from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until


@pytest.fixture
def lazy_server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    """A server that checks chunks against their ids only when the whole file's MD5 fails."""
    return make_server("--verify-chunks", "assembly")


async def send_ids_first(client: SeedClient, p: Planned, chunk_id: str, data: bytes | None = None) -> Answer:
    payload = p.chunk(chunk_id) if data is None else data
    return await client.post_form([("chunkId", chunk_id), ("fileId", p.file_id), ("file", payload)])


def partial_size(server: ServerProcess, file_id: str) -> int:
    path = server.data_dir / "partial" / file_id
    return path.stat().st_size if path.exists() else 0


def chunk_files(server: ServerProcess, file_id: str) -> list[str]:
    folder = server.data_dir / "chunks" / file_id
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


async def test_in_order_chunks_go_straight_into_the_file(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    p = plan(os.urandom(3 * CHUNK + 777))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    for index, chunk_id in enumerate(p.chunk_ids[:-1]):
        answer = await send_ids_first(client, p, chunk_id)
        assert answer.status == 200 and answer.data == p.chunk_ids[index + 1 :]
        # Written once, in place: no chunk file, nothing spooled.
        assert partial_size(server, p.key) == (index + 1) * CHUNK
        assert chunk_files(server, p.key) == []
        assert not any((server.data_dir / "tmp").iterdir())
    assert (await send_ids_first(client, p, p.chunk_ids[-1])).data == []
    assert await client.published_md5(p) == p.file_id
    assert server.errors_logged() == []


async def send_all_but_the_last(client: SeedClient, p: Planned, bad: set[int]) -> None:
    """Every chunk but the last, ids first and in order, those in ``bad`` with a byte flipped: each is
    written in place and taken (200) unchecked."""
    for index, chunk_id in enumerate(p.chunk_ids[:-1]):
        data = damaged(p.chunks[index], at=-1) if index in bad else None
        assert (await send_ids_first(client, p, chunk_id, data)).status == 200


async def test_damaged_chunks_are_cut_out_and_the_good_ones_after_them_kept(
    lazy_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    server = lazy_server
    p = plan(os.urandom(5 * CHUNK + 99))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    await send_all_but_the_last(client, p, bad={1, 3})
    assert partial_size(server, p.key) == 5 * CHUNK
    last = await send_ids_first(client, p, p.chunk_ids[-1])
    assert last.status == 422 and last.body["error"] == "CHUNKS_DAMAGED"
    assert last.body["data"] == [p.chunk_ids[1], p.chunk_ids[3]]
    # Cut back to the first damaged chunk; the good ones after it wait in their chunk files.
    assert partial_size(server, p.key) == CHUNK
    assert chunk_files(server, p.key) == ["2", "4", "5"]
    assert (await client.handshake(p)).data == [p.chunk_ids[1], p.chunk_ids[3]]
    # Chunk 1 is the next one the file needs again: written in place, and 2 appended after it.
    assert (await send_ids_first(client, p, p.chunk_ids[1])).data == [p.chunk_ids[3]]
    assert (await send_ids_first(client, p, p.chunk_ids[3])).data == []
    assert await client.published_md5(p) == p.file_id
    assert server.errors_logged() == []


async def test_dropped_chunks_stay_dropped_across_a_kill(
    lazy_server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    server = lazy_server
    p = plan(os.urandom(4 * CHUNK))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    await send_all_but_the_last(client, p, bad={2})
    assert (await send_ids_first(client, p, p.chunk_ids[-1])).body["error"] == "CHUNKS_DAMAGED"
    server.restart(hard=True)
    async with aiohttp.ClientSession() as fresh:
        client = SeedClient(fresh, server.url)
        assert (await client.handshake(p)).data == [p.chunk_ids[2]]
        assert (await send_ids_first(client, p, p.chunk_ids[2])).data == []
        assert await client.published_md5(p) == p.file_id
    assert server.errors_logged() == []


async def test_in_place_chunk_over_the_declared_size(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    p = plan(os.urandom(2 * CHUNK))
    client = SeedClient(http, server.url)
    await client.handshake(p, size=2 * CHUNK - 1)
    assert (await send_ids_first(client, p, p.chunk_ids[0])).status == 200
    answer = await send_ids_first(client, p, p.chunk_ids[1])
    assert answer.status == 413 and str(2 * CHUNK - 1) in answer.body["msg"]
    assert partial_size(server, p.key) == CHUNK
    assert (await client.handshake(p)).data == p.chunk_ids[1:]
    assert server.errors_logged() == []


async def test_any_order_either_form_and_twice(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    """Parallel chunks, each form order, duplicates at once: one writer per file, one assembly, right bytes."""
    p = plan(os.urandom(10 * CHUNK + 5))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    rng = random.Random(7)
    sends = []
    for chunk_id in p.chunk_ids + rng.sample(p.chunk_ids, 4):  # some twice
        if rng.random() < 0.5:
            sends.append(send_ids_first(client, p, chunk_id))
        else:
            sends.append(client.send_chunk(p, chunk_id))
    order = rng.sample(range(len(sends)), len(sends))
    # In file order first (the in-place path), with some in parallel to it, then the rest.
    answers = await asyncio.gather(*(sends[i] for i in sorted(order[: len(order) // 2])))
    answers += await asyncio.gather(*(sends[i] for i in sorted(order[len(order) // 2 :])))
    assert all(a.status == 200 for a in answers), [a.body for a in answers]
    assert (await client.handshake(p)).data == f"{server.url}/upload/{p.file_id}.bin"
    assert await client.published_md5(p) == p.file_id
    assert server.errors_logged() == []


async def test_same_chunk_twice_at_once_in_place(server: ServerProcess) -> None:
    """Two clients send every chunk at the same moment, ids first: each is stored once, the file is right."""
    p = plan(os.urandom(6 * CHUNK + 1))

    async def one_client() -> None:
        async with aiohttp.ClientSession() as session:
            client = SeedClient(session, server.url)
            await client.handshake(p)
            for chunk_id in p.chunk_ids:
                answer = await send_ids_first(client, p, chunk_id)
                assert answer.status == 200, answer.body

    await asyncio.gather(one_client(), one_client())
    async with aiohttp.ClientSession() as session:
        client = SeedClient(session, server.url)
        assert await client.published_md5(p) == p.file_id
    wait_until(lambda: server.assemblies(p.file_id) >= 1, what="the assembly")
    assert server.assemblies(p.file_id) == 1
    assert server.errors_logged() == []


async def test_kill_9_after_in_place_chunks(server: ServerProcess) -> None:
    p = plan(os.urandom(5 * CHUNK + 3))
    async with aiohttp.ClientSession() as session:
        client = SeedClient(session, server.url)
        await client.handshake(p)
        for chunk_id in p.chunk_ids[:3]:
            assert (await send_ids_first(client, p, chunk_id)).status == 200
    server.restart(hard=True)
    async with aiohttp.ClientSession() as session:
        client = SeedClient(session, server.url)
        assert (await client.handshake(p)).data == p.chunk_ids[3:]
        for chunk_id in p.chunk_ids[3:]:  # the first after a restart is spooled while the prefix is re-hashed
            assert (await send_ids_first(client, p, chunk_id)).status == 200
        assert await client.published_md5(p) == p.file_id
    assert server.errors_logged() == []
