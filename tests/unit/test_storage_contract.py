"""The core storage contract (``server/storage/contract.py``), run against every backend.

A new backend joins by adding a factory to ``BACKENDS`` (the cluster backend, which needs PostgreSQL and S3
servers, is added by the ``store`` fixture); the service and handlers need nothing else. The
local backend's own mechanics (assembly in place, durability, repair) are in ``test_local_storage.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from server.settings import Fsync
from server.storage.cluster.store import ClusterStore
from server.storage.contract import Buffer, Store, Upload
from server.storage.local import LocalStorage
from tests.support.memory_store import MemoryStore

BACKENDS: dict[str, Callable[[Path], Store]] = {
    "local": lambda root: LocalStorage(root / "data", fsync=Fsync.NONE),
    "memory": lambda root: MemoryStore(),
}

CHUNKS = [b"first chunk ", b"second ", b"last"]
FILE_ID = hashlib.md5(b"".join(CHUNKS)).hexdigest()
IDS = tuple(hashlib.md5(c).hexdigest() + str(i) for i, c in enumerate(CHUNKS))


@pytest.fixture(params=[*sorted(BACKENDS), pytest.param("cluster", marks=pytest.mark.cluster)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    database = None
    if request.param == "cluster":  # PostgreSQL + S3, real servers (tests/support/postgres.py, seaweedfs.py)
        s3, postgres = request.getfixturevalue("seaweedfs"), request.getfixturevalue("postgres")
        database = await postgres.fresh_database()
        backend: Store = ClusterStore(database, s3.fresh_location())
    else:
        backend = BACKENDS[request.param](tmp_path)
    await backend.open()
    yield backend
    await backend.close()
    if database is not None:
        await postgres.drop_database(database)


async def pieces(*parts: bytes) -> AsyncIterator[Buffer]:
    for part in parts:
        yield part


async def upload_of(store: Store) -> Upload:
    upload = await store.get_upload(FILE_ID)
    assert upload is not None
    return upload


async def keep(store: Store, index: int, data: bytes | None = None) -> Upload:
    payload = CHUNKS[index] if data is None else data
    staged = await store.write_chunk(await upload_of(store), index, pieces(payload[:3], payload[3:]))
    assert staged.size == len(payload)
    return await store.keep_chunk(staged)


async def test_upload_records(store: Store) -> None:
    assert await store.get_upload(FILE_ID) is None
    created = await store.create_upload(FILE_ID, IDS, 42, 100.0)
    assert (created.key, created.chunk_ids, created.size, created.updated_at) == (FILE_ID, IDS, 42, 100.0)
    assert dict(created.stored) == {}
    assert await store.count_uploads() == 1
    assert await store.count_uploads(holding_bytes=True) == 0
    await store.touch_upload(FILE_ID, 250.0)
    assert (await upload_of(store)).updated_at == 250.0
    assert await store.uploads_untouched_since(300.0) == [FILE_ID]
    assert await store.uploads_untouched_since(200.0) == []


async def test_uploads_of_one_file_are_found_by_its_id(store: Store) -> None:
    """A file's uploads: the one keyed by its id and those keyed ``<id>.<suffix>``; no other key matches."""
    await store.create_upload(FILE_ID, IDS, None, 1.0)
    await store.create_upload(FILE_ID + ".b", IDS[:1], None, 1.0)
    await store.create_upload(FILE_ID[:-1] + "0.b", IDS, None, 1.0)  # another file id
    await store.create_upload(FILE_ID + "0", IDS, None, 1.0)  # not a key of this file either
    found = sorted((upload.key, upload.chunk_ids) for upload in await store.find_uploads(FILE_ID))
    assert found == [(FILE_ID, IDS), (FILE_ID + ".b", IDS[:1])]
    await store.delete_upload(FILE_ID)
    assert [upload.key for upload in await store.find_uploads(FILE_ID)] == [FILE_ID + ".b"]


async def test_names_of_a_file_never_published_go_with_its_last_upload(store: Store) -> None:
    await store.create_upload(FILE_ID + ".a", IDS, None, 1.0)
    await store.create_upload(FILE_ID + ".b", IDS, None, 1.0)
    await store.add_name(FILE_ID, ".txt", "a.txt")
    await store.delete_upload(FILE_ID + ".a")
    assert await store.get_name(FILE_ID, ".txt") is not None
    await store.delete_upload(FILE_ID + ".b")
    assert await store.get_name(FILE_ID, ".txt") is None


async def test_uploads_are_counted_by_who_started_them(store: Store) -> None:
    await store.create_upload(FILE_ID, IDS, None, 1.0, owner="10.0.0.1")
    await store.create_upload("stream-upload", None, 5, 1.0, owner="10.0.0.1")
    await store.create_upload(FILE_ID + ".b", IDS, None, 1.0, owner="10.0.0.2")
    assert (await upload_of(store)).owner == "10.0.0.1"
    assert await store.count_uploads(owner="10.0.0.1") == 2
    assert await store.count_uploads(owner="10.0.0.3") == 0
    assert await store.count_uploads(holding_bytes=True, owner="10.0.0.2") == 0


async def test_chunks_count_once_kept(store: Store) -> None:
    await store.create_upload(FILE_ID, IDS, None, 100.0)
    assert dict((await keep(store, 2)).stored) == {2: len(CHUNKS[2])}
    await keep(store, 0)
    assert dict((await upload_of(store)).stored) == {0: len(CHUNKS[0]), 2: len(CHUNKS[2])}
    assert await store.count_uploads(holding_bytes=True) == 1


async def test_staged_bytes_count_for_nothing_until_kept(store: Store) -> None:
    await store.create_upload(FILE_ID, IDS, None, 100.0)
    staged = await store.write_chunk(await upload_of(store), 0, pieces(CHUNKS[0]))
    assert dict((await upload_of(store)).stored) == {}
    await store.discard_chunk(staged)
    assert dict((await upload_of(store)).stored) == {}
    assert await store.count_uploads(holding_bytes=True) == 0


async def test_a_reader_that_fails_leaves_nothing(store: Store) -> None:
    await store.create_upload(FILE_ID, IDS, None, 100.0)

    async def cut_off() -> AsyncIterator[Buffer]:
        yield b"half"
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        await store.write_chunk(await upload_of(store), 0, cut_off())
    assert dict((await upload_of(store)).stored) == {}
    for index in range(3):
        await keep(store, index)
    assert (await store.assemble(await upload_of(store))).md5 == FILE_ID


async def test_replacing_an_upload_forgets_its_chunks(store: Store) -> None:
    await store.create_upload(FILE_ID, IDS, None, 100.0)
    await keep(store, 1)
    replaced = await store.create_upload(FILE_ID, IDS[:2], None, 200.0)
    assert dict(replaced.stored) == {} and replaced.chunk_ids == IDS[:2]


async def test_assemble_publish(store: Store) -> None:
    await store.create_upload(FILE_ID, IDS, None, 100.0)
    await store.add_name(FILE_ID, ".txt", "notes.txt")
    for i in (2, 0, 1):
        await keep(store, i)
    assembly = await store.assemble(await upload_of(store))
    assert (assembly.md5, assembly.size) == (FILE_ID, sum(map(len, CHUNKS)))
    assert await store.get_file(FILE_ID) is None  # not visible before publish
    stored = await store.publish(assembly)
    assert await store.get_file(FILE_ID) == stored
    assert await store.get_upload(FILE_ID) is None
    assert await store.count_uploads() == 0
    data = b"".join([piece async for piece in store.read_file(stored, 6, 10)])
    assert data == b"".join(CHUNKS)[6:16]
    name = await store.get_name(FILE_ID, ".txt")
    assert name is not None and name.name == "notes.txt"


async def test_first_name_stays(store: Store) -> None:
    await store.add_name(FILE_ID, ".txt", None)
    await store.add_name(FILE_ID, ".txt", "a.txt")
    await store.add_name(FILE_ID, ".txt", "b.txt")
    assert (await store.get_name(FILE_ID, ".txt")).name == "a.txt"  # type: ignore[union-attr]
    assert await store.get_name(FILE_ID, ".md") is None


async def test_discarded_assembly_and_deleted_upload(store: Store) -> None:
    await store.create_upload(FILE_ID, IDS, None, 100.0)
    await store.add_name(FILE_ID, ".txt", "x.txt")
    for i in range(3):
        await keep(store, i, b"other bytes")
    assembly = await store.assemble(await upload_of(store))
    assert assembly.md5 != FILE_ID
    await store.discard_assembly(assembly)
    await store.delete_upload(FILE_ID)
    assert await store.get_upload(FILE_ID) is None
    assert await store.get_file(FILE_ID) is None
    assert await store.get_name(FILE_ID, ".txt") is None  # names of a never-published file go too


async def test_an_empty_file(store: Store) -> None:
    empty = hashlib.md5(b"").hexdigest()
    upload = await store.create_upload(empty, (), 0, 100.0)
    assembly = await store.assemble(upload)
    assert (assembly.md5, assembly.size) == (empty, 0)
    stored = await store.publish(assembly)
    assert stored.size == 0 and b"".join([p async for p in store.read_file(stored, 0, 0)]) == b""


async def test_a_stream_upload_is_published_under_its_md5_and_stays_until_deleted(store: Store) -> None:
    created = await store.create_upload("stream-1", None, None, 100.0, info='{"protocol": "tus"}')
    assert created.chunk_ids is None and created.chunk_count == 0 and created.info == '{"protocol": "tus"}'
    await store.touch_upload("stream-1", 150.0, size=len(b"".join(CHUNKS)))
    for index, data in enumerate(CHUNKS):  # a stream's chunks are its appends, in order
        upload = await store.get_upload("stream-1")
        assert upload is not None and upload.chunk_count == index
        await store.keep_chunk(await store.write_chunk(upload, index, pieces(data)))
    upload = await store.get_upload("stream-1")
    assert upload is not None and upload.size == len(b"".join(CHUNKS)) and upload.updated_at == 150.0
    assembly = await store.assemble(upload)
    assert assembly.md5 == FILE_ID
    published = await store.publish(assembly)
    assert published.file_id == FILE_ID and await store.get_file(FILE_ID) == published
    assert b"".join([p async for p in store.read_file(published, 0, published.size)]) == b"".join(CHUNKS)
    done = await store.get_upload("stream-1")
    assert done is not None and done.published == FILE_ID and dict(done.stored) == {}
    assert await store.count_uploads() == 0
    await store.delete_upload("stream-1")
    assert await store.get_upload("stream-1") is None and await store.get_file(FILE_ID) == published


async def test_the_same_bytes_published_twice_keep_the_first_file(store: Store) -> None:
    for key, now in (("first", 1.0), ("second", 2.0)):
        upload = await store.create_upload(key, None, None, now)
        await store.keep_chunk(await store.write_chunk(upload, 0, pieces(*CHUNKS)))
        published = await store.publish(await store.assemble(await store.get_upload(key)))  # type: ignore[arg-type]
        assert published.file_id == FILE_ID
    first = await store.get_file(FILE_ID)
    assert first is not None and first.size == len(b"".join(CHUNKS))
    assert (await store.get_upload("second")).published == FILE_ID  # type: ignore[union-attr]
