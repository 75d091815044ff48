"""A disk that fills: ``507 INSUFFICIENT_STORAGE`` with a message, never a 500, and the upload resumes once
space is freed.

The data dir lives on a small tmpfs mounted for the test (it needs root, as the test suite's machines give;
elsewhere these tests are skipped with the reason). ``mount -o remount,size=...`` frees space without
touching the files.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.seed_protocol import CHUNK, SeedClient, plan
from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until

MiB = 1024 * 1024


class SmallDisk:
    def __init__(self, path: Path) -> None:
        self.path = path

    def resize(self, size: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    path = tmp_path / "disk"
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={20 * MiB}", "tmpfs", str(path)],
        check=False,
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield SmallDisk(path)
    subprocess.run(["umount", "-l", str(path)], check=False)


async def test_below_the_margin_new_uploads_are_refused_with_507(
    small_disk: SmallDisk, make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    """The default margin (256 MiB) is more than this disk has: a new upload is refused before anything
    is written; with the margin lowered, the same upload goes through."""
    data_dir = small_disk.path / "data"
    server = make_server(data_dir=data_dir)
    p = plan(os.urandom(2 * CHUNK))
    client = SeedClient(http, server.url)
    refused = await client.handshake(p)
    assert refused.status == 507 and refused.body["error"] == "INSUFFICIENT_STORAGE"
    assert "disk is full" in refused.body["msg"] and "bytes free" in refused.body["msg"]
    assert not any((data_dir / "partial").iterdir())
    assert server.errors_logged() == []
    server.stop()
    relaxed = make_server("--min-free-bytes", "0", data_dir=data_dir)
    client = SeedClient(http, relaxed.url)
    url = await client.upload(p)
    status, body = await client.get_bytes(url)
    assert status == 200 and hashlib.md5(body).hexdigest() == p.file_id


@pytest.mark.parametrize("order", ["file-first", "ids-first"])
async def test_a_disk_that_fills_mid_upload_answers_507_and_the_upload_resumes(
    small_disk: SmallDisk,
    make_server: Callable[..., ServerProcess],
    http: aiohttp.ClientSession,
    order: str,
) -> None:
    """No margin: the disk really fills (ENOSPC, or SQLite's "database or disk is full"). The chunk that does
    not fit gets 507, nothing half-written counts, and once the disk is larger the same upload finishes."""
    server = make_server("--min-free-bytes", "0", "--fsync", "none", data_dir=small_disk.path / "data")
    p = plan(os.urandom(32 * CHUNK + 5))
    client = SeedClient(http, server.url)
    assert (await client.handshake(p)).status == 200

    async def send(index: int) -> tuple[int, dict[str, object]]:
        payload = p.chunks[index]
        ids: list[tuple[str, bytes | str]] = [("chunkId", p.chunk_ids[index]), ("fileId", p.file_id)]
        file: list[tuple[str, bytes | str]] = [("file", payload)]
        answer = await client.post_form(file + ids if order == "file-first" else ids + file)
        return answer.status, answer.body

    statuses = []
    for index in range(len(p.chunk_ids)):
        status, body = await send(index)
        statuses.append(status)
        if status != 200:
            assert (status, body["error"]) == (507, "INSUFFICIENT_STORAGE"), body
            assert "disk is full" in str(body["msg"])
            break
    assert statuses[-1] == 507, statuses  # the disk (20 MiB) filled before the file (32 MiB) was in
    assert server.errors_logged() == []

    small_disk.resize(128 * MiB)
    needed = (await client.handshake(p)).data
    assert isinstance(needed, list) and p.chunk_ids[len(statuses) - 1] in needed
    while needed:
        answer = await client.send_chunk(p, needed[0])
        assert answer.status == 200, answer.body
        needed = answer.data
    status, body = await client.get_bytes(f"{server.url}/upload/{p.file_id}.bin")
    assert status == 200 and hashlib.md5(body).hexdigest() == p.file_id
    assert server.errors_logged() == []


def fill(path: Path) -> Path:
    """A file that takes every byte left on the disk."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (MiB, 64 * 1024, 4096, 1):  # down to the last partial block
            while True:
                try:
                    os.write(fd, bytes(size))
                except OSError:
                    break
    finally:
        os.close(fd)
    return filler


async def test_a_write_that_meets_a_full_disk_answers_507_without_a_traceback(
    small_disk: SmallDisk, make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    """Space the server saw free is gone when it writes (another process filled the disk): the chunk
    written in place fails with ENOSPC, is cut off again, and is answered 507; freed, it goes through."""
    server = make_server("--min-free-bytes", "0", data_dir=small_disk.path / "data")
    p = plan(os.urandom(3 * CHUNK))
    client = SeedClient(http, server.url)
    assert (await client.handshake(p)).status == 200
    ids_first = [("chunkId", p.chunk_ids[0]), ("fileId", p.file_id), ("file", p.chunks[0])]
    assert (await client.post_form(ids_first)).status == 200
    filler = fill(small_disk.path)
    ids_first = [("chunkId", p.chunk_ids[1]), ("fileId", p.file_id), ("file", p.chunks[1])]
    refused = await client.post_form(ids_first)  # written straight into the partial file: ENOSPC
    assert (refused.status, refused.body["error"]) == (507, "INSUFFICIENT_STORAGE"), refused.body
    assert "No space left on device" in refused.body["msg"]
    wait_until(lambda: any("answered 507" in line for line in server.log), what="the 507's one log line")
    assert server.errors_logged() == []
    filler.unlink()
    needed = (await client.handshake(p)).data
    assert needed == p.chunk_ids[1:]  # chunk 0 kept, chunk 1 not half-kept
    while needed:
        needed = (await client.send_chunk(p, needed[0])).data
    status, body = await client.get_bytes(f"{server.url}/upload/{p.file_id}.bin")
    assert status == 200 and hashlib.md5(body).hexdigest() == p.file_id
    assert server.errors_logged() == []
