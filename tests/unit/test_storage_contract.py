"""The storage contract (server/storage/base.py), run against every backend: today the local disk + SQLite one.

A new backend joins by adding a factory to ``BACKENDS``; the service and handlers need nothing else.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from server.settings import Fsync
from server.storage.base import Storage, UploadRecord
from server.storage.local import LocalStorage

BACKENDS: dict[str, Callable[[Path], Storage]] = {
    "local": lambda root: LocalStorage(root / "data", fsync=Fsync.NONE),
}


@pytest.fixture(params=sorted(BACKENDS))
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    store = BACKENDS[request.param](tmp_path)
    await store.open()
    yield store
    await store.close()


CHUNKS = [b"first chunk ", b"second ", b"last"]
FILE_ID = hashlib.md5(b"".join(CHUNKS)).hexdigest()
IDS = tuple(hashlib.md5(c).hexdigest() + str(i) for i, c in enumerate(CHUNKS))


def record(now: float = 100.0) -> UploadRecord:
    return UploadRecord(FILE_ID, IDS, None, now, now)


async def store(storage: Storage, index: int, data: bytes | None = None) -> bool:
    spool = await storage.new_spool()
    payload = CHUNKS[index] if data is None else data
    spool.write(payload)
    await spool.seal()
    return await storage.store_chunk(FILE_ID, index, spool, len(payload))


async def test_upload_records(storage: Storage) -> None:
    assert await storage.get_upload(FILE_ID) is None
    await storage.put_upload(record())
    assert await storage.get_upload(FILE_ID) == record()
    assert await storage.count_uploads() == 1
    await storage.touch_upload(FILE_ID, 250.0)
    assert (await storage.get_upload(FILE_ID)).updated_at == 250.0  # type: ignore[union-attr]
    assert await storage.uploads_untouched_since(300.0) == [FILE_ID]
    assert await storage.uploads_untouched_since(200.0) == []


async def test_chunks_count_once_stored(storage: Storage) -> None:
    await storage.put_upload(record())
    assert await storage.stored_chunks(FILE_ID) == {}
    assert await store(storage, 2)
    assert await store(storage, 0)
    assert await store(storage, 0)  # twice is harmless
    assert await storage.stored_chunks(FILE_ID) == {0: len(CHUNKS[0]), 2: len(CHUNKS[2])}


async def test_chunk_for_a_missing_upload_is_refused(storage: Storage) -> None:
    assert not await store(storage, 0)


async def test_discarded_spool_leaves_nothing(storage: Storage) -> None:
    await storage.put_upload(record())
    spool = await storage.new_spool()
    spool.write(b"half")
    await spool.discard()
    assert await storage.stored_chunks(FILE_ID) == {}


async def test_replacing_an_upload_forgets_its_chunks(storage: Storage) -> None:
    await storage.put_upload(record())
    await store(storage, 1)
    await storage.put_upload(record(200.0))
    assert await storage.stored_chunks(FILE_ID) == {}


async def test_assemble_publish(storage: Storage) -> None:
    await storage.put_upload(record())
    await storage.add_name(FILE_ID, ".txt", "notes.txt")
    for i in (2, 0, 1):
        await store(storage, i)
    assembly = await storage.assemble(record())
    assert (assembly.md5, assembly.size) == (FILE_ID, sum(map(len, CHUNKS)))
    assert await storage.get_file(FILE_ID) is None  # not visible before publish
    stored = await storage.publish(assembly)
    assert await storage.get_file(FILE_ID) == stored
    assert await storage.get_upload(FILE_ID) is None
    assert await storage.count_uploads() == 0
    data = b"".join([piece async for piece in storage.read_file(stored, 6, 10)])
    assert data == b"".join(CHUNKS)[6:16]
    name = await storage.get_name(FILE_ID, ".txt")
    assert name is not None and name.name == "notes.txt"


async def test_first_name_stays(storage: Storage) -> None:
    await storage.add_name(FILE_ID, ".txt", None)
    await storage.add_name(FILE_ID, ".txt", "a.txt")
    await storage.add_name(FILE_ID, ".txt", "b.txt")
    assert (await storage.get_name(FILE_ID, ".txt")).name == "a.txt"  # type: ignore[union-attr]
    assert await storage.get_name(FILE_ID, ".md") is None


async def test_discarded_assembly_and_deleted_upload(storage: Storage) -> None:
    await storage.put_upload(record())
    await storage.add_name(FILE_ID, ".txt", "x.txt")
    for i in range(3):
        await store(storage, i, b"other bytes")
    assembly = await storage.assemble(record())
    assert assembly.md5 != FILE_ID
    await storage.discard_assembly(assembly)
    await storage.delete_upload(FILE_ID)
    assert await storage.get_upload(FILE_ID) is None
    assert await storage.stored_chunks(FILE_ID) == {}
    assert await storage.get_file(FILE_ID) is None
    assert await storage.get_name(FILE_ID, ".txt") is None  # names of a never-published file go too


async def test_state_survives_reopen(tmp_path: Path) -> None:
    first = LocalStorage(tmp_path / "data", fsync=Fsync.NONE)
    await first.open()
    await first.put_upload(UploadRecord(FILE_ID, IDS, 42, 1.0, 1.0))
    spool = await first.new_spool()
    spool.write(CHUNKS[1])
    await spool.seal()
    await first.store_chunk(FILE_ID, 1, spool, len(CHUNKS[1]))
    leftover = await first.new_spool()  # a chunk half-received when the process died
    leftover.write(b"partial")
    await first.close()
    second = LocalStorage(tmp_path / "data", fsync=Fsync.NONE)
    await second.open()
    assert await second.get_upload(FILE_ID) == UploadRecord(FILE_ID, IDS, 42, 1.0, 1.0)
    assert await second.stored_chunks(FILE_ID) == {1: len(CHUNKS[1])}
    assert list((tmp_path / "data" / "tmp").iterdir()) == []
    await second.close()


async def test_reopen_reclaims_orphans(tmp_path: Path) -> None:
    """A crash between deleting rows and deleting files leaves folders nobody owns; start-up removes them."""
    root = tmp_path / "data"
    store = LocalStorage(root, fsync=Fsync.NONE)
    await store.open()
    await store.put_upload(record())
    await store.close()
    (root / "chunks" / ("0" * 32)).mkdir()
    (root / "files" / ("1" * 32)).write_bytes(b"never published")
    store = LocalStorage(root, fsync=Fsync.NONE)
    await store.open()
    assert sorted(p.name for p in (root / "chunks").iterdir()) == [FILE_ID]
    assert list((root / "files").iterdir()) == []
    await store.close()


async def test_advance_then_assemble(storage: Storage) -> None:
    await storage.put_upload(record())
    await store(storage, 1)
    await storage.advance(record())  # chunk 0 missing: nothing can be appended yet
    await store(storage, 0)
    await storage.advance(record())
    await store(storage, 2)
    assembly = await storage.assemble(record())
    assert (assembly.md5, assembly.size) == (FILE_ID, sum(map(len, CHUNKS)))


async def test_assembled_prefix_survives_reopen(tmp_path: Path) -> None:
    root = tmp_path / "data"
    first = LocalStorage(root, fsync=Fsync.ALL)
    await first.open()
    await first.put_upload(record())
    for i in (0, 1):
        await store(first, i)
    await first.advance(record())
    await first.close()
    second = LocalStorage(root, fsync=Fsync.ALL)
    await second.open()
    assert await second.stored_chunks(FILE_ID) == {0: len(CHUNKS[0]), 1: len(CHUNKS[1])}
    await store(second, 2)
    assembly = await second.assemble(record())
    assert assembly.md5 == FILE_ID  # the prefix was re-hashed from disk
    await second.close()


async def test_crash_between_publish_rename_and_row(tmp_path: Path) -> None:
    """kill -9 after the assembled file was renamed into files/ but before its row: it is not visible, and
    the next assembly finds it again."""
    root = tmp_path / "data"
    first = LocalStorage(root, fsync=Fsync.NONE)
    await first.open()
    await first.put_upload(record())
    for i in range(3):
        await store(first, i)
    await first.assemble(record())
    await first.close()
    os.replace(root / "partial" / FILE_ID, root / "files" / FILE_ID)  # the rename, without the row
    second = LocalStorage(root, fsync=Fsync.NONE)
    await second.open()
    assert await second.get_file(FILE_ID) is None
    assembly = await second.assemble(record())
    assert (assembly.md5, assembly.size) == (FILE_ID, sum(map(len, CHUNKS)))
    stored = await second.publish(assembly)
    assert await second.get_file(FILE_ID) == stored
    await second.close()


async def append(storage: Storage, index: int, data: bytes | None = None) -> bool:
    """Chunk ``index`` straight into the prefix, as the HTTP layer does when its ids came first."""
    appender = await storage.open_appender(record(), index)
    assert appender is not None
    payload = CHUNKS[index] if data is None else data
    appender.write(payload)
    await appender.seal()
    return await storage.store_chunk(FILE_ID, index, appender, len(payload))


async def test_in_order_chunks_written_in_place(storage: Storage) -> None:
    await storage.put_upload(record())
    assert await storage.open_appender(record(), 1) is None  # not the next one
    assert await append(storage, 0)
    assert await storage.stored_chunks(FILE_ID) == {0: len(CHUNKS[0])}
    assert await append(storage, 1)
    assert await store(storage, 2)  # spooled, then appended in order
    assembly = await storage.assemble(record())
    assert (assembly.md5, assembly.size) == (FILE_ID, sum(map(len, CHUNKS)))
    published = await storage.publish(assembly)
    assert published.path is not None and published.path.read_bytes() == b"".join(CHUNKS)


async def test_one_appender_at_a_time_and_discard_takes_it_back(storage: Storage) -> None:
    await storage.put_upload(record())
    first = await storage.open_appender(record(), 0)
    assert first is not None
    assert await storage.open_appender(record(), 0) is None  # the tail is taken
    first.write(b"wrong bytes, refused")
    await first.discard()
    assert await storage.stored_chunks(FILE_ID) == {}
    for index in range(3):
        assert await append(storage, index)
    assembly = await storage.assemble(record())
    assert assembly.md5 == FILE_ID


async def test_chunk_stored_twice_while_written_in_place(storage: Storage) -> None:
    """Another request stores the same chunk while an appender writes it: one copy counts, the file is right."""
    await storage.put_upload(record())
    appender = await storage.open_appender(record(), 0)
    assert appender is not None
    appender.write(CHUNKS[0][:5])
    for index in range(3):
        assert await store(storage, index)  # chunk 0 spooled: the appender loses the tail
    assembly = await storage.assemble(record())
    appender.write(CHUNKS[0][5:])  # too late: hashed, not written
    assert await storage.store_chunk(FILE_ID, 0, appender, len(CHUNKS[0]))  # stored already: it counts
    assert assembly.md5 == FILE_ID
    published = await storage.publish(assembly)
    assert published.path is not None and published.path.read_bytes() == b"".join(CHUNKS)


async def test_appended_prefix_survives_reopen(tmp_path: Path) -> None:
    first = LocalStorage(tmp_path, fsync=Fsync.NONE)
    await first.open()
    await first.put_upload(record())
    assert await append(first, 0)
    await first.close()  # as kill -9 would: nothing else flushed
    second = LocalStorage(tmp_path, fsync=Fsync.NONE)
    await second.open()
    assert await second.stored_chunks(FILE_ID) == {0: len(CHUNKS[0])}
    assert await store(second, 1) and await store(second, 2)
    assembly = await second.assemble(record())
    assert assembly.md5 == FILE_ID
    await second.close()


async def test_chunk_spool_beyond_the_memory_budget_goes_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.storage import local

    monkeypatch.setattr(local, "MEMORY_SPOOL_BYTES", 10)
    storage = LocalStorage(tmp_path, fsync=Fsync.NONE)
    await storage.open()
    await storage.put_upload(record())
    held = await storage.new_spool()
    held.write(b"0123456789")  # within the budget: in memory
    assert list((tmp_path / "tmp").iterdir()) == []
    spilled = await storage.new_spool()
    spilled.write(CHUNKS[1][:4])  # over it: to tmp/
    spilled.write(CHUNKS[1][4:])
    assert len(list((tmp_path / "tmp").iterdir())) == 1
    await spilled.seal()
    assert await storage.store_chunk(FILE_ID, 1, spilled, len(CHUNKS[1]))
    await held.discard()
    assert await store(storage, 0) and await store(storage, 2)
    assembly = await storage.assemble(record())
    assert assembly.md5 == FILE_ID
    await storage.close()


async def test_assembled_prefix_made_durable_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every PREFIX_SYNC_BYTES the prefix is fsynced and recorded without holding up chunks; then its chunk
    files go. A restart then finds the whole prefix."""
    import sqlite3

    from server.storage import local
    from tests.support.waiting import async_wait_until

    monkeypatch.setattr(local, "PREFIX_SYNC_BYTES", 1)
    first = LocalStorage(tmp_path, fsync=Fsync.FILES)
    await first.open()
    await first.put_upload(record())
    assert await store(first, 1)  # not the next one: kept as a chunk file
    assert await append(first, 0)  # in place
    await first.advance(record())  # appends chunk 1; the fsync follows in the background

    def durable() -> bool:
        with sqlite3.connect(tmp_path / "meta.sqlite3") as db:
            row = db.execute("SELECT prefix_chunks FROM uploads WHERE file_id = ?", (FILE_ID,)).fetchone()
        return row == (2,) and not (tmp_path / "chunks" / FILE_ID / "1").exists()

    await async_wait_until(durable, what="the prefix recorded and chunk 1's file deleted")
    await first.close()
    second = LocalStorage(tmp_path, fsync=Fsync.FILES)
    await second.open()
    assert await store(second, 2)
    assembly = await second.assemble(record())
    assert assembly.md5 == FILE_ID
    await second.close()


async def test_damaged_chunks_found_dropped_and_stored_again(storage: Storage) -> None:
    """The repair path: after the file's MD5 failed, find the chunks that do not match their ids, forget
    only those, and assemble again once they are stored anew."""
    await storage.put_upload(record())
    assert await store(storage, 0)
    assert await store(storage, 1, b"SECOND ")  # same size, other bytes
    assert await store(storage, 2)
    assembly = await storage.assemble(record())
    assert assembly.md5 != FILE_ID
    assert await storage.damaged_chunks(record(), assembly) == [1]
    await storage.drop_chunks(record(), [1])
    assert await storage.stored_chunks(FILE_ID) == {0: len(CHUNKS[0]), 2: len(CHUNKS[2])}
    assert await store(storage, 1)
    assembly = await storage.assemble(record())
    assert assembly.md5 == FILE_ID and assembly.size == len(b"".join(CHUNKS))
    stored = await storage.publish(assembly)
    assert stored.path is not None and stored.path.read_bytes() == b"".join(CHUNKS)


async def test_a_chunk_of_the_wrong_size_is_damaged_and_so_is_what_it_shifted(storage: Storage) -> None:
    await storage.put_upload(record())
    assert await store(storage, 0, b"first chunk")  # one byte short: chunk 1 now starts a byte early
    assert await store(storage, 1)
    assert await store(storage, 2)
    assembly = await storage.assemble(record())
    assert await storage.damaged_chunks(record(), assembly) == [0]  # regions follow the stored sizes
    await storage.drop_chunks(record(), [0])
    assert await store(storage, 0)
    assert (await storage.assemble(record())).md5 == FILE_ID
