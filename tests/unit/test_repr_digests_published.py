"""``ReprDigests.published`` and ``published_hook``: a file published is hashed in the background, opened only when
its turn comes; a file that cannot be opened is a log line and the next one is hashed all the same; the hook
the upload services call returns at once and never raises (no server: the keeper alone, over real files)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from server import repr_digests
from server.file_response import LocalFile, Source
from server.repr_digests import ReprDigests, Version
from server.rfc.digests import SHA_256
from server.storage.contract import StoredFile
from tests.support.http_ranges import noise
from tests.support.waiting import async_wait_until


@pytest.fixture
async def keeper(tmp_path: Path) -> AsyncIterator[ReprDigests]:
    keeper = ReprDigests(tmp_path / "digests")
    await keeper.open()
    yield keeper
    await keeper.close()


def opener_of(path: Path, opened: list[str]) -> repr_digests.Opener:
    async def open_it() -> tuple[Version, Source] | None:
        opened.append(path.name)
        if not path.exists():
            return None
        source = LocalFile.open(path)
        return ('"e"', source.stat.st_size, source.stat.st_mtime_ns), source

    return open_it


async def test_a_published_file_is_hashed_then_served_with_its_digest(
    keeper: ReprDigests, tmp_path: Path
) -> None:
    path = tmp_path / "f.bin"
    data = noise(1_234_567, 1)
    path.write_bytes(data)
    opened: list[str] = []
    keeper.published("upload/f", opener_of(path, opened))
    keeper.published("upload/f", opener_of(path, opened))  # asked twice while waiting: queued once
    await async_wait_until(lambda: keeper.computed == 1, what="the digest computed")
    assert opened == ["f.bin"]
    source = LocalFile.open(path)
    try:
        version = ('"e"', source.stat.st_size, source.stat.st_mtime_ns)
        assert keeper.digests("upload/f", version, source) == ((SHA_256, hashlib.sha256(data).digest()),)
    finally:
        source.close()
    keeper.published("upload/f", opener_of(path, opened))  # known already, same version: not hashed again
    await async_wait_until(lambda: opened == ["f.bin", "f.bin"], what="the file looked at again")
    await async_wait_until(lambda: "upload/f" not in keeper._pending, what="the job done")
    assert keeper.computed == 1


async def test_a_file_that_fails_is_a_log_line_and_the_next_one_is_hashed(
    keeper: ReprDigests, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = tmp_path / "good.bin"
    good.write_bytes(b"good")

    async def broken() -> tuple[Version, Source] | None:
        raise OSError("the disk went away")

    opened: list[str] = []
    with caplog.at_level(logging.WARNING, logger="server.repr_digests"):
        keeper.published("upload/broken", broken)
        keeper.published("upload/gone", opener_of(tmp_path / "gone.bin", opened))  # None: gone, nothing to do
        keeper.published("upload/good", opener_of(good, opened))
        await async_wait_until(lambda: keeper.computed == 1, what="the good file hashed")
    assert "could not compute the Repr-Digest of upload/broken: the disk went away" in caplog.text
    assert opened == ["gone.bin", "good.bin"]


async def test_the_hook_returns_at_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = web.Application()
    stored = StoredFile("0" * 32, 3, 0.0)

    class Store:
        async def get_file(self, file_id: str) -> StoredFile | None:
            raise AssertionError("not opened on the request path")

    hook = repr_digests.published_hook(app, Store())  # type: ignore[arg-type]
    hook(stored)  # no keeper set up: nothing happens

    class Failing(ReprDigests):
        def published(self, subject: str, opener: repr_digests.Opener) -> None:
            raise RuntimeError("boom")

    app[repr_digests.REPR_DIGESTS] = Failing(tmp_path)
    with caplog.at_level(logging.ERROR, logger="server.repr_digests"):
        assert hook(stored) is None
    assert f"could not queue the Repr-Digest of upload/{stored.file_id}" in caplog.text
