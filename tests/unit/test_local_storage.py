"""The local backend's own mechanics: assembly in place, what survives a restart, durability, repair.

What every backend must do is in ``test_storage_contract.py``; these are the local disk + SQLite backend's
optional abilities and its crash safety, checked on its files.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.settings import Fsync
from server.storage.contract import AssemblesInPlace, LocalFiles, RepairsDamage, Upload
from server.storage.local import LocalStorage, chunk_files
from server.storage.local import store as local_store
from tests.support.waiting import async_wait_until
from tests.unit.test_storage_contract import CHUNKS, FILE_ID, IDS, keep, pieces, upload_of


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[LocalStorage]:
    backend = LocalStorage(tmp_path, fsync=Fsync.NONE)
    await backend.open()
    yield backend
    await backend.close()


async def reopened(root: Path, fsync: Fsync = Fsync.NONE) -> LocalStorage:
    backend = LocalStorage(root, fsync=fsync)
    await backend.open()
    return backend


async def in_place(backend: LocalStorage, index: int, data: bytes | None = None) -> Upload:
    """Chunk ``index`` written straight at the end of the partial file, as the service does when it is next."""
    upload = await upload_of(backend)
    assert backend.tail(upload) == index
    staged = await backend.write_chunk_in_place(
        upload, index, pieces(CHUNKS[index] if data is None else data)
    )
    return await backend.keep_chunk(staged)


def test_it_has_every_optional_ability(local: LocalStorage) -> None:
    assert isinstance(local, AssemblesInPlace | RepairsDamage | LocalFiles)


async def test_state_survives_reopen(tmp_path: Path) -> None:
    first = await reopened(tmp_path)
    await first.create_upload(FILE_ID, IDS, 42, 1.0)
    await keep(first, 1)
    # A chunk half-received when the process died, beyond the memory budget: in tmp/.
    leftover = chunk_files.StagedBytes(chunk_files.MemoryBudget(), first.tmp, to_disk=True)
    leftover.write(b"partial")
    await first.close()
    second = await reopened(tmp_path)
    upload = await upload_of(second)
    assert (upload.chunk_ids, upload.size, upload.created_at) == (IDS, 42, 1.0)
    assert dict(upload.stored) == {1: len(CHUNKS[1])}
    assert list((tmp_path / "tmp").iterdir()) == []
    await second.close()


async def test_reopen_reclaims_orphans(tmp_path: Path) -> None:
    """A crash between deleting rows and deleting files leaves folders nobody owns; start-up removes them."""
    first = await reopened(tmp_path)
    await first.create_upload(FILE_ID, IDS, None, 1.0)
    await first.close()
    (tmp_path / "chunks" / ("0" * 32)).mkdir()
    (tmp_path / "files" / ("1" * 32)).write_bytes(b"never published")
    second = await reopened(tmp_path)
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == [FILE_ID]
    assert list((tmp_path / "files").iterdir()) == []
    await second.close()


async def test_advance_then_assemble(local: LocalStorage) -> None:
    await local.create_upload(FILE_ID, IDS, None, 1.0)
    await keep(local, 1)
    await local.advance(await upload_of(local))  # chunk 0 missing: nothing can be appended yet
    assert local.tail(await upload_of(local)) == 0
    await keep(local, 0)
    await local.advance(await upload_of(local))
    assert local.tail(await upload_of(local)) == 2
    await keep(local, 2)
    assembly = await local.assemble(await upload_of(local))
    assert (assembly.md5, assembly.size) == (FILE_ID, sum(map(len, CHUNKS)))


async def test_assembled_prefix_survives_reopen(tmp_path: Path) -> None:
    first = await reopened(tmp_path, Fsync.ALL)
    await first.create_upload(FILE_ID, IDS, None, 1.0)
    for i in (1, 0):
        await keep(first, i)
    await first.advance(await upload_of(first))
    await first.close()
    second = await reopened(tmp_path, Fsync.ALL)
    assert dict((await upload_of(second)).stored) == {0: len(CHUNKS[0]), 1: len(CHUNKS[1])}
    assert second.tail(await upload_of(second)) is None  # the prefix's MD5 is not rebuilt yet
    await keep(second, 2)
    assembly = await second.assemble(await upload_of(second))
    assert assembly.md5 == FILE_ID  # the prefix was re-hashed from disk
    await second.close()


async def test_crash_between_publish_rename_and_row(tmp_path: Path) -> None:
    """kill -9 after the assembled file was renamed into files/ but before its row: it is not visible, and
    the next assembly finds it again."""
    first = await reopened(tmp_path)
    await first.create_upload(FILE_ID, IDS, None, 1.0)
    for i in range(3):
        await keep(first, i)
    await first.assemble(await upload_of(first))
    await first.close()
    os.replace(tmp_path / "partial" / FILE_ID, tmp_path / "files" / FILE_ID)  # the rename, without the row
    second = await reopened(tmp_path)
    assert await second.get_file(FILE_ID) is None
    assembly = await second.assemble(await upload_of(second))
    assert (assembly.md5, assembly.size) == (FILE_ID, sum(map(len, CHUNKS)))
    stored = await second.publish(assembly)
    assert await second.get_file(FILE_ID) == stored
    await second.close()


async def test_crash_between_publish_rename_and_row_of_an_upload_with_a_suffixed_key(tmp_path: Path) -> None:
    """The same crash for an upload keyed ``<fileId>.<suffix>`` (uploads of one file with other chunk lists
    coexist): the file in files/ goes back to that upload's partial file."""
    key = FILE_ID + ".list"
    first = await reopened(tmp_path)
    upload = await first.create_upload(key, IDS, None, 1.0)
    for i in range(3):
        staged = await first.write_chunk(upload, i, pieces(CHUNKS[i]))
        upload = await first.keep_chunk(staged)
    await first.assemble(upload)
    await first.close()
    os.replace(tmp_path / "partial" / key, tmp_path / "files" / FILE_ID)
    second = await reopened(tmp_path)
    assert await second.get_file(FILE_ID) is None
    assert (tmp_path / "partial" / key).exists()
    [found] = await second.find_uploads(FILE_ID)
    assembly = await second.assemble(found)
    assert (assembly.md5, assembly.size) == (FILE_ID, sum(map(len, CHUNKS)))
    await second.close()


async def test_in_order_chunks_written_in_place(local: LocalStorage, tmp_path: Path) -> None:
    await local.create_upload(FILE_ID, IDS, None, 1.0)
    await in_place(local, 0)
    assert dict((await upload_of(local)).stored) == {0: len(CHUNKS[0])}
    await in_place(local, 1)
    await keep(local, 2)  # held in memory, then appended in order: no chunk file
    assert list((tmp_path / "chunks" / FILE_ID).iterdir()) == []
    assembly = await local.assemble(await upload_of(local))
    assert (assembly.md5, assembly.size) == (FILE_ID, sum(map(len, CHUNKS)))
    published = await local.publish(assembly)
    assert local.local_path(published).read_bytes() == b"".join(CHUNKS)


async def test_one_write_at_the_end_at_a_time_and_discard_cuts_it_off(
    local: LocalStorage, tmp_path: Path
) -> None:
    await local.create_upload(FILE_ID, IDS, None, 1.0)
    upload = await upload_of(local)
    staged = await local.write_chunk_in_place(upload, 0, pieces(b"wrong bytes, refused"))
    assert local.tail(upload) is None  # the end is taken until the write is kept or discarded
    with pytest.raises(RuntimeError):
        await local.write_chunk_in_place(upload, 0, pieces(CHUNKS[0]))
    await keep(local, 0)  # another copy, meanwhile: a chunk file, not the end of the partial file
    assert (tmp_path / "chunks" / FILE_ID / "0").exists()
    await local.discard_chunk(staged)
    assert (tmp_path / "partial" / FILE_ID).stat().st_size == 0
    for index in (1, 2):
        await keep(local, index)
    assert (await local.assemble(await upload_of(local))).md5 == FILE_ID


async def test_appended_prefix_survives_reopen(tmp_path: Path) -> None:
    first = await reopened(tmp_path)
    await first.create_upload(FILE_ID, IDS, None, 1.0)
    await in_place(first, 0)
    await first.close()  # as kill -9 would: nothing else flushed
    second = await reopened(tmp_path)
    assert dict((await upload_of(second)).stored) == {0: len(CHUNKS[0])}
    await keep(second, 1)
    await keep(second, 2)
    assert (await second.assemble(await upload_of(second))).md5 == FILE_ID
    await second.close()


async def test_staged_chunks_beyond_the_memory_budget_go_to_disk(
    local: LocalStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunk_files, "MEMORY_SPOOL_BYTES", 10)
    await local.create_upload(FILE_ID, IDS, None, 1.0)
    held = await local.write_chunk(await upload_of(local), 2, pieces(b"0123456789"))  # within the budget
    assert list((tmp_path / "tmp").iterdir()) == []
    spilled = await local.write_chunk(await upload_of(local), 1, pieces(CHUNKS[1][:4], CHUNKS[1][4:]))
    assert len(list((tmp_path / "tmp").iterdir())) == 1
    await local.keep_chunk(spilled)
    assert list((tmp_path / "tmp").iterdir()) == []  # renamed to its chunk file
    await local.discard_chunk(held)
    await keep(local, 0)
    await keep(local, 2)
    assert (await local.assemble(await upload_of(local))).md5 == FILE_ID


async def test_assembled_prefix_made_durable_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every PREFIX_SYNC_BYTES the prefix is fsynced and recorded without holding up chunks; then its chunk
    files go. A restart then finds the whole prefix."""
    monkeypatch.setattr(local_store, "PREFIX_SYNC_BYTES", 1)
    first = await reopened(tmp_path, Fsync.FILES)
    await first.create_upload(FILE_ID, IDS, None, 1.0)
    await keep(first, 1)  # not the next one: kept as a chunk file
    await in_place(first, 0)
    await first.advance(await upload_of(first))  # appends chunk 1; the fsync follows in the background

    def durable() -> bool:
        with sqlite3.connect(tmp_path / "meta.sqlite3") as db:
            row = db.execute("SELECT chunks FROM prefixes WHERE file_id = ?", (FILE_ID,)).fetchone()
        return row == (2,) and not (tmp_path / "chunks" / FILE_ID / "1").exists()

    await async_wait_until(durable, what="the prefix recorded and chunk 1's file deleted")
    await first.close()
    second = await reopened(tmp_path, Fsync.FILES)
    await keep(second, 2)
    assert (await second.assemble(await upload_of(second))).md5 == FILE_ID
    await second.close()


async def test_damaged_chunks_found_dropped_and_kept_again(local: LocalStorage) -> None:
    """The repair path: after the file's MD5 failed, find the chunks that do not match their ids, forget
    only those, and assemble again once they are kept anew."""
    await local.create_upload(FILE_ID, IDS, None, 1.0)
    await keep(local, 0)
    await keep(local, 1, b"SECOND ")  # same size, other bytes
    await keep(local, 2)
    upload = await upload_of(local)
    assembly = await local.assemble(upload)
    assert assembly.md5 != FILE_ID
    assert await local.damaged_chunks(upload, assembly) == [1]
    await local.drop_chunks(upload, [1])
    assert dict((await upload_of(local)).stored) == {0: len(CHUNKS[0]), 2: len(CHUNKS[2])}
    await keep(local, 1)
    assembly = await local.assemble(await upload_of(local))
    assert assembly.md5 == FILE_ID and assembly.size == len(b"".join(CHUNKS))
    stored = await local.publish(assembly)
    assert local.local_path(stored).read_bytes() == b"".join(CHUNKS)


async def test_a_chunk_of_the_wrong_size_is_damaged_and_so_is_what_it_shifted(local: LocalStorage) -> None:
    await local.create_upload(FILE_ID, IDS, None, 1.0)
    await keep(local, 0, b"first chunk")  # one byte short: chunk 1 now starts a byte early
    await keep(local, 1)
    await keep(local, 2)
    upload = await upload_of(local)
    assembly = await local.assemble(upload)
    assert await local.damaged_chunks(upload, assembly) == [0]  # regions follow the kept sizes
    await local.drop_chunks(upload, [0])
    await keep(local, 0)
    assert (await local.assemble(await upload_of(local))).md5 == FILE_ID


async def test_a_database_of_the_first_schema_gains_the_new_columns(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "meta.sqlite3") as db:
        db.execute(
            "CREATE TABLE uploads (file_id TEXT PRIMARY KEY, chunk_ids TEXT NOT NULL, size INTEGER, "
            "prefix_chunks INTEGER NOT NULL DEFAULT 0, prefix_bytes INTEGER NOT NULL DEFAULT 0, "
            "created_at REAL NOT NULL, updated_at REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO uploads (file_id, chunk_ids, prefix_chunks, prefix_bytes, created_at, updated_at) "
            "VALUES (?, ?, 1, 7, 1, 1)",
            (FILE_ID, ",".join(IDS)),
        )
    backend = await reopened(tmp_path)
    upload = await upload_of(backend)
    assert upload.chunk_ids == IDS and upload.info is None and upload.published is None
    assert backend.catalogue.prefix(FILE_ID) == (1, 7)  # moved to its own table (schema version 1)
    await backend.create_upload("stream", None, 5, 2.0, info="x")
    assert (await backend.get_upload("stream")).chunk_ids is None  # type: ignore[union-attr]
    await backend.close()
