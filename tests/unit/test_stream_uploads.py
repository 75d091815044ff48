"""Stream uploads (server/uploads/streams.py) over the in-memory store that has only the core contract."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest

from server.errors import ApiError, E
from server.resumable.tus_headers import Checksum
from server.settings import Settings
from server.storage.contract import Buffer
from server.uploads.service import UploadService
from server.uploads.streams import StreamUploads, offset_of
from tests.support.memory_store import MemoryStore

DATA = b"hello world, in three appends"


class Body:
    def __init__(self, *pieces: bytes, cut: bool = False) -> None:
        self.pieces = pieces
        self.cut_at_end = cut
        self.cut = False

    async def __aiter__(self) -> AsyncIterator[Buffer]:
        for piece in self.pieces:
            yield piece
        self.cut = self.cut_at_end


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def streams(store: MemoryStore) -> StreamUploads:
    return StreamUploads(UploadService(store, Settings()))


async def test_appends_in_order_publish_under_the_md5(streams: StreamUploads, store: MemoryStore) -> None:
    upload = await streams.create(len(DATA), "notes.txt", {"protocol": "test"})
    upload = await streams.append(upload.key, 0, Body(DATA[:5], DATA[5:10]))
    assert offset_of(upload) == 10
    upload = await streams.append(upload.key, 10, Body(DATA[10:]))
    md5 = hashlib.md5(DATA).hexdigest()
    assert upload.published == md5 and offset_of(upload) == len(DATA)
    assert store.files[md5][1] == DATA and (await store.get_name(md5, ".txt")).name == "notes.txt"  # type: ignore[union-attr]


async def test_a_cut_body_keeps_what_arrived_unless_it_had_a_checksum(streams: StreamUploads) -> None:
    upload = await streams.create(len(DATA), None, {})
    upload = await streams.append(upload.key, 0, Body(DATA[:7], cut=True))
    assert offset_of(upload) == 7
    checksum = Checksum("sha1", hashlib.sha1(DATA[7:12]).digest())
    with pytest.raises(ApiError) as refused:
        await streams.append(upload.key, 7, Body(DATA[7:12], cut=True), checksum=checksum)
    assert refused.value.kind is E.INCOMPLETE_BODY
    assert offset_of(await streams.get(upload.key)) == 7  # type: ignore[arg-type]


async def test_offset_length_and_checksum_are_enforced(streams: StreamUploads, store: MemoryStore) -> None:
    upload = await streams.create(10, None, {})
    for body, offset, kind in (
        (Body(b"x"), 3, E.OFFSET_MISMATCH),
        (Body(b"0123456789A"), 0, E.PAST_UPLOAD_LENGTH),
    ):
        with pytest.raises(ApiError) as refused:
            await streams.append(upload.key, offset, body)
        assert refused.value.kind is kind
    with pytest.raises(ApiError) as refused:
        await streams.append(upload.key, 0, Body(b"01234"), checksum=Checksum("md5", b"wrong"))
    assert refused.value.kind is E.CHECKSUM_MISMATCH and store.staged == {}
    assert offset_of(await streams.get(upload.key)) == 0  # type: ignore[arg-type]


async def test_one_append_at_a_time(streams: StreamUploads, store: MemoryStore) -> None:
    upload = await streams.create(10, None, {})
    store.pause_writes = asyncio.Event()
    first = asyncio.create_task(streams.append(upload.key, 0, Body(b"01234")))
    await asyncio.sleep(0)
    with pytest.raises(ApiError) as refused:
        await streams.append(upload.key, 0, Body(b"abcde"))
    assert refused.value.kind is E.UPLOAD_LOCKED
    store.pause_writes.set()
    assert offset_of(await first) == 5


async def test_a_deferred_length_is_declared_once(streams: StreamUploads) -> None:
    upload = await streams.create(None, None, {})
    upload = await streams.append(upload.key, 0, Body(b"012"))
    assert upload.size is None
    upload = await streams.append(upload.key, 3, Body(b"34"), length=5)
    assert upload.published is not None and upload.size == 5
    with pytest.raises(ApiError):
        await streams.append(upload.key, 5, Body(), length=6)


async def test_terminated_and_unknown(streams: StreamUploads) -> None:
    upload = await streams.create(5, None, {})
    await streams.terminate(upload.key)
    for key in (upload.key, "never"):
        assert await streams.get(key) is None
        with pytest.raises(ApiError) as refused:
            await streams.append(key, 0, Body(b"x"))
        assert refused.value.kind is E.NOT_FOUND


async def test_concatenation_over_the_core_contract(streams: StreamUploads, store: MemoryStore) -> None:
    parts = []
    for data in (b"hello", b" world"):
        part = await streams.create(len(data), None, {"concat": "partial"})
        part = await streams.append(part.key, 0, Body(data))
        assert part.published is None  # a partial upload waits for its final one
        parts.append(part.key)
    final = await streams.concatenate(parts, "hi.txt", {"concat": "final"})
    assert final.published == hashlib.md5(b"hello world").hexdigest()
    assert store.files[final.published][1] == b"hello world"
