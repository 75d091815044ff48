"""The upload service's guarantees, over a plain in-memory store that has only the core contract.

One assembly however the last chunks arrive, duplicates counted once, races between copies of one chunk,
verification of each chunk and of the whole file, uploads replaced or expired while chunks arrive. That these
hold over ``MemoryStore`` shows the core contract is enough without the local backend's optimisations.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest

from server.errors import ApiError, E
from server.settings import Settings, VerifyChunks
from server.storage.contract import Buffer, StoredFile
from server.uploads.protocol import ChunkId, Handshake, parse_chunk_id
from server.uploads.service import MAX_CHUNK_LISTS, UploadService, chunked_key
from server.uploads.still_needed import StillNeeded
from tests.support.memory_store import MemoryStore

CHUNKS = [b"chunk zero ", b"chunk one ", b"chunk two ", b"end"]
FILE_ID = hashlib.md5(b"".join(CHUNKS)).hexdigest()
IDS = tuple(hashlib.md5(c).hexdigest() + str(i) for i, c in enumerate(CHUNKS))
KEY = chunked_key(FILE_ID, IDS)  # the upload's key


class Body:
    """A chunk body as a handler gives it: the bytes, then their MD5."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[Buffer]:
        yield self.data[:4]
        yield self.data[4:]

    async def md5(self) -> str | None:
        return hashlib.md5(self.data).hexdigest()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(store: MemoryStore, clock: Clock) -> UploadService:
    return UploadService(store, Settings(), clock=clock)


def chunk(index: int) -> ChunkId:
    return parse_chunk_id(IDS[index])


async def send(service: UploadService, index: int, data: bytes | None = None) -> list[str]:
    return await service.receive_chunk(FILE_ID, chunk(index), Body(CHUNKS[index] if data is None else data))


async def handshake(service: UploadService, ids: tuple[str, ...] = IDS) -> StoredFile | list[str]:
    return await service.handshake(Handshake(FILE_ID, ".txt", ids, "notes.txt"))


async def test_the_seed_flow(service: UploadService, store: MemoryStore) -> None:
    assert await handshake(service) == list(IDS)
    assert await send(service, 2) == [IDS[0], IDS[1], IDS[3]]
    for index in (0, 1):
        await send(service, index)
    assert await send(service, 3) == []
    published = await handshake(service)  # instant upload: the file is there
    assert isinstance(published, StoredFile) and published.size == len(b"".join(CHUNKS))
    assert store.files[FILE_ID][1] == b"".join(CHUNKS) and store.assembled == 1


async def test_one_assembly_when_every_chunk_arrives_at_once_twice(
    service: UploadService, store: MemoryStore
) -> None:
    await handshake(service)
    answers = await asyncio.gather(*(send(service, index) for index in list(range(4)) * 2))
    assert [] in answers
    assert store.assembled == 1 and FILE_ID in store.files
    assert store.staged == {}  # every copy not kept was discarded


async def test_several_clients_upload_the_same_file_at_once(
    service: UploadService, store: MemoryStore
) -> None:
    async def client() -> None:
        needed = await handshake(service)
        assert isinstance(needed, StillNeeded)
        await asyncio.gather(*(send(service, IDS.index(chunk_id)) for chunk_id in needed))

    await asyncio.gather(*(client() for _ in range(5)))
    assert store.assembled == 1 and store.files[FILE_ID][1] == b"".join(CHUNKS)


async def test_two_copies_of_a_chunk_arriving_together_count_once(
    service: UploadService, store: MemoryStore
) -> None:
    await handshake(service)
    store.pause_writes = asyncio.Event()
    first = asyncio.create_task(send(service, 1))
    second = asyncio.create_task(send(service, 1))
    await asyncio.sleep(0)  # both are mid-write
    store.pause_writes.set()
    assert await first == await second == [IDS[0], IDS[2], IDS[3]]
    upload = await store.get_upload(KEY)
    assert upload is not None and dict(upload.stored) == {1: len(CHUNKS[1])} and store.staged == {}


async def test_a_chunk_that_does_not_match_its_id_is_refused_and_nothing_kept(
    service: UploadService, store: MemoryStore
) -> None:
    await handshake(service)
    with pytest.raises(ApiError) as refused:
        await send(service, 1, b"chunk 1ne ")
    assert refused.value.kind is E.CHUNK_MISMATCH and refused.value.data == list(IDS)
    assert store.staged == {} and not (await store.get_upload(KEY)).stored  # type: ignore[union-attr]
    assert await send(service, 1) == [IDS[0], IDS[2], IDS[3]]  # the good copy is taken


async def test_chunks_that_match_their_ids_but_not_the_file_discard_the_upload(
    service: UploadService, store: MemoryStore
) -> None:
    liar = "0" * 32
    await service.handshake(Handshake(liar, ".txt", IDS))
    for index in range(3):
        await service.receive_chunk(liar, chunk(index), Body(CHUNKS[index]))
    with pytest.raises(ApiError) as refused:
        await service.receive_chunk(liar, chunk(3), Body(CHUNKS[3]))
    assert refused.value.kind is E.FILE_MISMATCH  # a core-only store cannot tell which chunk: all go
    assert await store.find_uploads(liar) == [] and await store.get_file(liar) is None
    assert await store.get_name(liar, ".txt") is None


async def test_with_checks_at_assembly_a_damaged_chunk_is_found_with_the_file(
    store: MemoryStore, clock: Clock
) -> None:
    service = UploadService(store, Settings(verify_chunks=VerifyChunks.ASSEMBLY), clock=clock)
    assert not service.hashes_chunks
    await handshake(service)
    await send(service, 0, b"chunk 0ero ")  # not checked now
    for index in (1, 2):
        await send(service, index)
    with pytest.raises(ApiError) as refused:
        await send(service, 3)
    assert refused.value.kind is E.FILE_MISMATCH and FILE_ID not in store.files


async def test_unknown_uploads_and_chunks(service: UploadService) -> None:
    with pytest.raises(ApiError) as unknown:
        await send(service, 0)
    assert unknown.value.kind is E.UNKNOWN_UPLOAD
    await service.handshake(Handshake(FILE_ID, "", IDS[:2]))
    with pytest.raises(ApiError) as unlisted:
        await send(service, 3)
    assert unlisted.value.kind is E.UNKNOWN_CHUNK


async def test_a_late_copy_of_a_chunk_of_a_published_file_is_not_read(service: UploadService) -> None:
    await handshake(service)
    for index in range(4):
        await send(service, index)

    class Unread(Body):
        async def __aiter__(self) -> AsyncIterator[Buffer]:
            raise AssertionError("read")
            yield b""

    assert await service.receive_chunk(FILE_ID, chunk(0), Unread(CHUNKS[0])) == []


OTHER = (IDS[0], hashlib.md5(b"chunk one chunk two end").hexdigest() + "1")  # the same file in 2 chunks


async def test_an_upload_expired_and_opened_again_while_a_chunk_arrived(
    service: UploadService, store: MemoryStore, clock: Clock
) -> None:
    """A chunk that arrives for an upload that expired and was opened again meanwhile is not kept in the new
    one: it is asked for again."""
    await handshake(service)
    store.pause_writes = asyncio.Event()
    late = asyncio.create_task(send(service, 3))
    await asyncio.sleep(0)
    clock.now += service.settings.empty_upload_ttl_seconds + 1
    assert await service.sweep() == [KEY]
    assert await handshake(service) == list(IDS)
    store.pause_writes.set()
    assert await late == list(IDS)
    assert not (await store.get_upload(KEY)).stored and store.staged == {}  # type: ignore[union-attr]


async def test_uploads_with_other_chunk_lists_coexist_and_the_first_complete_wins(
    service: UploadService, store: MemoryStore
) -> None:
    """Two chunk lists of one file (two chunk sizes; or a stranger's made-up list): each is its own upload, a
    chunk goes to the upload whose list has it, and the first that completes publishes the file; the other is
    dropped and its uploader finds the file published."""
    await handshake(service)
    assert await handshake(service, OTHER) == list(OTHER)
    assert await send(service, 1) == [IDS[0], IDS[2], IDS[3]]
    assert len(await store.find_uploads(FILE_ID)) == 2
    other_body = Body(b"".join(CHUNKS[1:]))
    assert await service.receive_chunk(FILE_ID, parse_chunk_id(OTHER[1]), other_body) == [OTHER[0]]
    # Chunk 0 is in both lists: it goes to the upload nearer completion (the two-chunk one), which completes.
    assert await send(service, 0) == []
    assert store.files[FILE_ID][1] == b"".join(CHUNKS) and store.assembled == 1
    assert await store.find_uploads(FILE_ID) == []
    assert await send(service, 2) == []  # a late chunk of the dropped list: the file is there
    assert isinstance(await handshake(service), StoredFile)


async def test_a_made_up_chunk_list_does_not_block_the_real_upload(
    service: UploadService, store: MemoryStore
) -> None:
    """Someone who knows only the file's MD5 opens an upload with a list of their own and sends chunks that
    match it: the real upload goes on beside it and publishes; the fake one can never publish."""
    fake = [b"not the file"]
    fake_ids = (hashlib.md5(fake[0]).hexdigest() + "0",)
    await handshake(service, fake_ids)
    await handshake(service)
    for index in (1, 2, 3):
        await send(service, index)
    with pytest.raises(ApiError) as refused:
        await service.receive_chunk(FILE_ID, parse_chunk_id(fake_ids[0]), Body(fake[0]))
    assert refused.value.kind is E.FILE_MISMATCH  # the fake list's file is not the fileId's: discarded
    assert await send(service, 0) == []
    assert store.files[FILE_ID][1] == b"".join(CHUNKS)


async def test_chunk_lists_of_one_file_are_bounded(service: UploadService, store: MemoryStore) -> None:
    """At most MAX_CHUNK_LISTS uploads of one file: a new list replaces an empty one, else it is refused."""
    lists = [(hashlib.md5(b"%d" % n).hexdigest() + "0", IDS[1]) for n in range(MAX_CHUNK_LISTS + 1)]
    for ids in lists[:MAX_CHUNK_LISTS]:
        await handshake(service, ids)
    await handshake(service)  # replaces the oldest empty one
    assert len(await store.find_uploads(FILE_ID)) == MAX_CHUNK_LISTS
    assert await store.get_upload(chunked_key(FILE_ID, lists[0])) is None
    for ids in lists[1:MAX_CHUNK_LISTS]:
        await service.receive_chunk(FILE_ID, parse_chunk_id(ids[0]), Body(b"%d" % lists.index(ids)))
    await send(service, 0)
    with pytest.raises(ApiError) as refused:
        await handshake(service, lists[MAX_CHUNK_LISTS])
    assert refused.value.kind is E.CHUNK_LIST_CONFLICT


async def test_the_declared_size_and_the_server_limit_bound_the_chunks(
    store: MemoryStore, clock: Clock
) -> None:
    service = UploadService(store, Settings(max_file_bytes=25), clock=clock)
    await handshake(service)
    await send(service, 0)
    await send(service, 1)
    with pytest.raises(ApiError) as refused:
        await send(service, 2)
    assert refused.value.kind is E.FILE_TOO_LARGE and store.staged == {}


async def test_expiry(service: UploadService, store: MemoryStore, clock: Clock) -> None:
    await handshake(service)
    empty = hashlib.md5(b"x").hexdigest()
    empty_ids = (hashlib.md5(b"x").hexdigest() + "0",)
    await service.handshake(Handshake(empty, "", empty_ids))
    await send(service, 0)
    clock.now += service.settings.empty_upload_ttl_seconds + 1
    assert await service.sweep() == [chunked_key(empty, empty_ids)]  # never got a byte: expires sooner
    clock.now += service.settings.upload_ttl_seconds
    assert await service.sweep() == [KEY]
    assert await store.count_uploads() == 0
