"""State survives restarts and kill -9; cut-off chunks never count; abandoned uploads expire; the loop stays free."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import random
import socket
import sqlite3
import struct
import termios
from typing import Any

import aiohttp
import pytest

from tests.support.seed_protocol import CHUNK, SeedClient, form_body, plan
from tests.support.server_process import ServerProcess
from tests.support.waiting import async_wait_until, wait_until


async def stored_md5(client: SeedClient, url: str) -> str:
    status, body = await client.get_bytes(url)
    assert status == 200
    return hashlib.md5(body).hexdigest()


@pytest.mark.parametrize("hard", [False, True], ids=["graceful", "kill-9"])
async def test_restart_in_the_middle_then_resume(server: ServerProcess, hard: bool) -> None:
    p = plan(os.urandom(6 * CHUNK + 1))
    async with aiohttp.ClientSession() as http:
        client = SeedClient(http, server.url)
        await client.handshake(p, name="report.pdf")
        for chunk_id in p.chunk_ids[::2]:
            assert (await client.send_chunk(p, chunk_id)).status == 200
    server.restart(hard=hard)
    async with aiohttp.ClientSession() as http:
        client = SeedClient(http, server.url)
        answer = await client.handshake(p, name="report.pdf")
        assert answer.data == p.chunk_ids[1::2]
        url = await client.upload(p)
        assert await stored_md5(client, url) == p.file_id


def chunk_form(p: Any, index: int, ids_first: bool = False) -> tuple[bytes, str]:
    """The seed's form (file part first), or ours (ids first: an in-order chunk is written in place)."""
    file = [("file", p.chunks[index])]
    ids = [("chunkId", p.chunk_ids[index]), ("fileId", p.file_id)]
    return form_body(ids + file if ids_first else file + ids)


def send_partial_chunk(
    url: str, p: Any, index: int, fraction: float, ids_first: bool = False
) -> socket.socket:
    """Send the headers and part of a chunk's multipart body, then stop (the socket stays open)."""
    body, content_type = chunk_form(p, index, ids_first)
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = (
        f"POST /api/upload HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[: int(len(body) * fraction)])
    return sock


def server_read_all(sock: socket.socket) -> bool:
    """Whether the server has read everything sent on ``sock`` so far: nothing queued in the client's send
    buffer nor in the receive buffer of the server's end of the connection (Linux: /proc/net/tcp)."""
    client_port = sock.getsockname()[1]
    server_port = sock.getpeername()[1]
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                rx_queue = int(queues.split(":")[1], 16)
                return rx_queue == 0 and _unsent(sock) == 0
    return False


def _unsent(sock: socket.socket) -> int:
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]


@pytest.mark.parametrize("ids_first", [False, True], ids=["file-first", "ids-first"])
async def test_chunk_cut_off_mid_body_is_not_stored(
    server: ServerProcess, http: aiohttp.ClientSession, ids_first: bool
) -> None:
    p = plan(os.urandom(2 * CHUNK))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    # 1. The client goes away mid-body (ids first: chunk 0 is the next one needed, written in place).
    for fraction in (0.1, 0.5, 0.999):
        send_partial_chunk(server.url, p, 0, fraction, ids_first).close()
    # 2. The server dies (kill -9) mid-body, then comes back.
    sock = send_partial_chunk(server.url, p, 0 if ids_first else 1, 0.6, ids_first)
    wait_until(lambda: server_read_all(sock), what="the server reading what was sent of the chunk")
    server.restart(hard=True)
    sock.close()
    async with aiohttp.ClientSession() as fresh:
        client = SeedClient(fresh, server.url)
        assert (await client.handshake(p)).data == p.chunk_ids
        assert not any((server.data_dir / "tmp").iterdir())
        url = await client.upload(p)
        assert await stored_md5(client, url) == p.file_id
    assert server.errors_logged() == []


async def send_some_then_kill(server: ServerProcess, p: Any, rng: random.Random) -> bool:
    """Send the needed chunks in random order on 3 connections, kill -9 the server after a few; True when
    nothing was needed (the file is stored)."""
    async with aiohttp.ClientSession() as http:
        client = SeedClient(http, server.url)
        needed = (await client.handshake(p, ".bin")).data
        if isinstance(needed, str):
            return True
        sent = 0

        async def sender(ids: list[str]) -> None:
            nonlocal sent
            for chunk_id in ids:
                await client.send_chunk(p, chunk_id)
                sent += 1

        order = rng.sample(needed, len(needed))
        tasks = [asyncio.create_task(sender(order[i::3])) for i in range(3)]
        target = min(rng.randint(1, 5), len(needed))  # (the last rounds may need fewer chunks than that)
        await async_wait_until(lambda: sent >= target, timeout=30, what="some chunks sent")
        server.kill()
        await asyncio.gather(*tasks, return_exceptions=True)
    return False


async def test_kill_9_at_random_moments(server: ServerProcess) -> None:
    """Parallel uploads interrupted by kill -9 at random points, five times; the result is always right."""
    p = plan(os.urandom(24 * CHUNK + 17))
    rng = random.Random(1234)
    for _ in range(5):
        if await send_some_then_kill(server, p, rng):
            break
        server.restart()
    async with aiohttp.ClientSession() as http:
        client = SeedClient(http, server.url)
        url = await client.upload(p, ".bin")
        assert await stored_md5(client, url) == p.file_id
    assert server.errors_logged() == []


async def test_crash_after_all_chunks_before_assembly(server: ServerProcess) -> None:
    """All chunks stored but the process died before answering: the next handshake assembles and links."""
    p = plan(os.urandom(3 * CHUNK))
    async with aiohttp.ClientSession() as http:
        client = SeedClient(http, server.url)
        await client.handshake(p, ".bin")
        for chunk_id in p.chunk_ids[:-1]:
            await client.send_chunk(p, chunk_id)
    # Simulate "stored but never assembled": put the last chunk in place the way the store would.
    db = sqlite3.connect(server.data_dir / "meta.sqlite3")
    server.kill()
    (server.data_dir / "chunks" / p.key / str(len(p.chunks) - 1)).write_bytes(p.chunks[-1])
    db.execute(
        "INSERT INTO chunks (file_id, idx, size) VALUES (?, ?, ?)",
        (p.key, len(p.chunks) - 1, len(p.chunks[-1])),
    )
    db.commit()
    db.close()
    server.restart()
    async with aiohttp.ClientSession() as http:
        client = SeedClient(http, server.url)
        answer = await client.handshake(p, ".bin")
        assert answer.data == f"{server.url}/upload/{p.file_id}.bin"
        assert await stored_md5(client, answer.data) == p.file_id


async def test_abandoned_uploads_expire(make_server: Any, http: aiohttp.ClientSession) -> None:
    server = make_server("--upload-ttl-seconds", "1", "--sweep-interval-seconds", "0.1")
    p = plan(os.urandom(2 * CHUNK))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    await client.send_chunk(p, p.chunk_ids[0])
    chunk_dir = server.data_dir / "chunks" / p.key
    assert chunk_dir.exists()
    wait_until(lambda: not chunk_dir.exists(), timeout=15, what="the sweep to reclaim the chunks")
    assert (await client.handshake(p)).data == p.chunk_ids  # forgotten: everything is needed again
    url = await client.upload(p)  # an upload kept busy does not expire under its feet
    assert await stored_md5(client, url) == p.file_id
    assert any("expired" in line for line in server.log)


async def test_uploads_that_never_received_a_chunk_expire_sooner(
    make_server: Any, http: aiohttp.ClientSession
) -> None:
    server = make_server("--empty-upload-ttl-seconds", "1", "--sweep-interval-seconds", "0.1")
    empty, started = plan(os.urandom(2 * CHUNK)), plan(os.urandom(2 * CHUNK))
    client = SeedClient(http, server.url)
    await client.handshake(empty)
    await client.handshake(started)
    await client.send_chunk(started, started.chunk_ids[0])
    wait_until(
        lambda: any("expired 1 abandoned" in line for line in server.log), timeout=15, what="the sweep"
    )
    assert (await client.handshake(started)).data == started.chunk_ids[1:]  # holds data: kept (24 h TTL)
    assert server.errors_logged() == []


async def test_assembly_does_not_stall_other_requests(make_server: Any) -> None:
    """While a large file is assembled and hashed, other clients' handshakes keep being answered.

    Chunk 0 is sent last, so nothing can be assembled ahead: the last request assembles the whole file.
    """
    server = make_server("--fsync", "true")
    big = plan(os.urandom(160 * CHUNK))
    partial = server.data_dir / "partial" / big.key
    async with aiohttp.ClientSession() as http:
        client = SeedClient(http, server.url)
        await client.handshake(big)
        await asyncio.gather(*(client.send_chunk(big, c) for c in big.chunk_ids[1:]))
        assert not partial.exists()
        last = asyncio.create_task(client.send_chunk(big, big.chunk_ids[0]))
        await async_wait_until(
            lambda: partial.exists() and partial.stat().st_size > 0, what="the assembly to start"
        )
        answered_meanwhile = 0
        small = plan(b"tiny")
        while not last.done():
            answer = await client.handshake(small)
            assert answer.status == 200
            answered_meanwhile += not last.done()
        assert (await last).data == []
        assert await stored_md5(client, f"{server.url}/upload/{big.file_id}.bin") == big.file_id
    assert answered_meanwhile >= 3, answered_meanwhile


async def test_in_order_upload_is_assembled_ahead(server: ServerProcess, http: aiohttp.ClientSession) -> None:
    """Chunks sent in order are appended as they come: before the last one, the rest is already assembled."""
    p = plan(os.urandom(8 * CHUNK + 5))
    client = SeedClient(http, server.url)
    await client.handshake(p)
    for chunk_id in p.chunk_ids[:-1]:
        await client.send_chunk(p, chunk_id)
    partial = server.data_dir / "partial" / p.key
    wait_until(lambda: partial.exists() and partial.stat().st_size == 8 * CHUNK, what="assembly ahead")
    assert (await client.send_chunk(p, p.chunk_ids[-1])).data == []
    assert await stored_md5(client, f"{server.url}/upload/{p.file_id}.bin") == p.file_id


async def test_restart_with_a_partly_assembled_file(server: ServerProcess) -> None:
    """The assembled prefix survives kill -9 (re-hashed once after the restart); the result is right."""
    p = plan(os.urandom(6 * CHUNK + 3))
    async with aiohttp.ClientSession() as http:
        client = SeedClient(http, server.url)
        await client.handshake(p)
        for chunk_id in p.chunk_ids[:4]:
            await client.send_chunk(p, chunk_id)
        partial = server.data_dir / "partial" / p.key
        wait_until(lambda: partial.exists() and partial.stat().st_size == 4 * CHUNK, what="assembly ahead")
    server.restart(hard=True)
    async with aiohttp.ClientSession() as http:
        client = SeedClient(http, server.url)
        assert (await client.handshake(p)).data == p.chunk_ids[4:]
        url = await client.upload(p)
        assert await stored_md5(client, url) == p.file_id
