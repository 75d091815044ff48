"""``server.repr_digests.ReprDigests``: digests asked for, computed in the background, kept in memory and in
SQLite, and valid for one version of a file only (no server: the store alone, over real files)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server import repr_digests
from server.file_response import LocalFile, StreamedFile
from server.repr_digests import ReprDigests, Version
from server.rfc.digests import SHA_256
from tests.support.http_ranges import noise
from tests.support.waiting import async_wait_until

DATA = noise(3 * 1024 * 1024 + 17, 4)


def version_of(opened: LocalFile, etag: str = '"e"') -> Version:
    return (etag, opened.stat.st_size, opened.stat.st_mtime_ns)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ReprDigests]:
    store = ReprDigests(tmp_path / "digests")
    await store.open()
    yield store
    await store.close()


async def _known(
    store: ReprDigests, path: Path, subject: str = "download/f"
) -> tuple[tuple[str, bytes], ...]:
    """Ask for ``path``'s digest until it is known."""
    found: tuple[tuple[str, bytes], ...] = ()

    def ask() -> bool:
        nonlocal found
        opened = LocalFile.open(path)
        try:
            found = store.digests(subject, version_of(opened), opened)
        finally:
            opened.close()
        return bool(found)

    await async_wait_until(ask, what=f"the digest of {subject}")
    return found


async def test_absent_then_computed_once_then_kept(store: ReprDigests, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    opened = LocalFile.open(path)
    assert store.digests("download/f", version_of(opened), opened) == ()  # asked for, not there yet
    opened.close()  # the request is over: the store hashes its own duplicate of the descriptor
    assert await _known(store, path) == ((SHA_256, hashlib.sha256(DATA).digest()),)
    assert store.computed == 1
    assert await _known(store, path) == ((SHA_256, hashlib.sha256(DATA).digest()),)
    assert store.computed == 1


async def test_kept_across_a_restart_without_hashing_again(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    first = ReprDigests(tmp_path / "digests")
    await first.open()
    digest = await _known(first, path)
    await first.close()
    second = ReprDigests(tmp_path / "digests")
    await second.open()
    try:
        opened = LocalFile.open(path)
        assert second.digests("download/f", version_of(opened), opened) == digest  # at once
        opened.close()
        assert second.computed == 0
    finally:
        await second.close()


async def test_another_version_is_not_given_the_old_digest(store: ReprDigests, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    old = await _known(store, path)
    path.write_bytes(DATA[::-1])  # same size, new content and modification time
    opened = LocalFile.open(path)
    assert store.digests("download/f", version_of(opened), opened) == ()
    opened.close()
    new = await _known(store, path)
    assert new == ((SHA_256, hashlib.sha256(DATA[::-1]).digest()),) != old
    assert store.computed == 2


async def test_a_file_changed_before_it_is_hashed_is_not_kept(store: ReprDigests, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    opened = LocalFile.open(path)
    stale = version_of(opened)
    os.truncate(path, len(DATA) + 4)  # the same file grows after the request saw it
    store.digests("download/f", stale, opened)
    opened.close()
    await async_wait_until(lambda: not store._pending, what="the job to end")
    assert store.computed == 0


async def test_a_backend_stream_is_hashed_too(store: ReprDigests) -> None:
    async def read(start: int, count: int) -> AsyncIterator[bytes]:
        for i in range(start, start + count, 100_000):
            yield DATA[i : min(i + 100_000, start + count)]

    version = ('"s"', len(DATA), 1)
    expected = ((SHA_256, hashlib.sha256(DATA).digest()),)
    await async_wait_until(
        lambda: store.digests("upload/s", version, StreamedFile(read)) == expected, what="the digest"
    )


async def test_at_most_max_pending_files_wait(
    store: ReprDigests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repr_digests, "MAX_PENDING", 2)
    asked = []
    for i in range(3):  # asked for without yielding to the event loop: the worker takes none meanwhile
        path = tmp_path / f"{i}.bin"
        path.write_bytes(b"x" * i)
        opened = LocalFile.open(path)
        store.digests(f"download/{i}", version_of(opened), opened)
        opened.close()
        asked.append(path)
    assert sorted(store._pending) == ["download/0", "download/1"]
    # The third is asked for again by its next request.
    assert await _known(store, asked[2], "download/2") == ((SHA_256, hashlib.sha256(b"xx").digest()),)


async def test_a_damaged_table_is_started_afresh(tmp_path: Path) -> None:
    folder = tmp_path / "digests"
    folder.mkdir()
    (folder / repr_digests.FILE_NAME).write_bytes(b"this is not a database" * 100)
    store = ReprDigests(folder)
    await store.open()
    try:
        path = tmp_path / "f.bin"
        path.write_bytes(b"abc")
        assert await _known(store, path) == ((SHA_256, hashlib.sha256(b"abc").digest()),)
    finally:
        await store.close()


async def test_closing_leaves_no_descriptor_open(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    before = len(os.listdir("/proc/self/fd"))
    store = ReprDigests(tmp_path / "digests")
    await store.open()
    opened = LocalFile.open(path)
    store.digests("download/f", version_of(opened), opened)  # a duplicate descriptor waits to be hashed
    opened.close()
    await store.close()
    assert len(os.listdir("/proc/self/fd")) <= before
