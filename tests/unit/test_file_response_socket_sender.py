"""``server.file_response.SocketSender``: a body of framing bytes and file ranges sent straight into a
non-blocking socket (``os.sendfile``), over a real socket pair with a small buffer so that the sender has to
wait for the reader again and again."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.file_response import SocketSender, _FileShrank
from tests.support.http_ranges import noise

SIZE = 3 * 1024 * 1024


@pytest.fixture
def data_file(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    data = noise(SIZE, 7)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    yield fd, data
    os.close(fd)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    sender, reader = socket.socketpair()
    for s in (sender, reader):
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    yield sender, reader
    sender.close()
    reader.close()


async def _read_all(sock: socket.socket, expected: int, *, pause_every: int = 0) -> bytes:
    loop = asyncio.get_running_loop()
    got = bytearray()
    while len(got) < expected:
        data = await loop.sock_recv(sock, 65536)
        if not data:
            break
        got += data
        if pause_every and len(got) // pause_every != (len(got) - len(data)) // pause_every:
            await asyncio.sleep(0.001)  # a slow reader: the sender finds the buffer full and waits
    return bytes(got)


async def test_framing_and_ranges_arrive_in_order_through_a_small_buffer(
    data_file: tuple[int, bytes], pair: tuple[socket.socket, socket.socket]
) -> None:
    fd, data = data_file
    sender, reader = pair
    pieces: list[bytes | tuple[int, int]] = [
        b"--head 1\r\n",
        (10, 1_000_000),
        b"\r\n--head 2\r\n",
        (2_000_000, SIZE - 2_000_000),
        b"--tail--",
    ]
    expected = b"--head 1\r\n" + data[10:1_000_010] + b"\r\n--head 2\r\n" + data[2_000_000:] + b"--tail--"
    reading = asyncio.ensure_future(_read_all(reader, len(expected), pause_every=256 * 1024))
    assert await SocketSender(sender, fd, pieces, len(expected)).run() is True
    assert await reading == expected


async def test_a_reader_that_leaves_ends_the_send_with_connection_reset(
    data_file: tuple[int, bytes], pair: tuple[socket.socket, socket.socket]
) -> None:
    fd, _ = data_file
    sender, reader = pair
    loop = asyncio.get_running_loop()

    async def leave() -> None:
        await loop.sock_recv(reader, 1000)
        reader.close()

    leaving = asyncio.ensure_future(leave())
    with pytest.raises(ConnectionResetError):
        await SocketSender(sender, fd, [(0, SIZE)], SIZE).run()
    await leaving


async def test_a_file_shorter_than_planned_raises(
    tmp_path: Path, pair: tuple[socket.socket, socket.socket]
) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * 1000)
    sender, reader = pair
    fd = os.open(path, os.O_RDONLY)
    try:
        reading = asyncio.ensure_future(_read_all(reader, 5000))
        with pytest.raises(_FileShrank):
            await SocketSender(sender, fd, [(0, 5000)], 5000).run()
        sender.shutdown(socket.SHUT_WR)
        assert await reading == b"x" * 1000
    finally:
        os.close(fd)


async def test_a_source_sendfile_cannot_read_sends_nothing_and_says_so(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """``run`` answers False (the caller then reads the file itself) only when not a byte was sent."""
    sender, reader = pair
    r, w = os.pipe()  # sendfile(2) needs an input that supports mmap-like reads: a pipe is refused
    try:
        os.write(w, b"abc")
        assert await SocketSender(sender, r, [(0, 3)], 3).run() is False
        with pytest.raises(BlockingIOError):
            reader.recv(10)  # nothing was sent
    finally:
        os.close(r)
        os.close(w)
