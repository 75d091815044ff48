"""The cluster backend's own housekeeping, against the real PostgreSQL and S3 (the core contract is in
test_storage_contract.py): what a process killed mid-way leaves in S3 is swept, what rows point at stays."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from server.storage.cluster.store import ClusterStore
from server.storage.contract import Buffer
from tests.support.postgres import PostgresServer
from tests.support.seaweedfs import SeaweedFS

pytestmark = pytest.mark.cluster

CHUNKS = [b"first chunk ", b"last"]
FILE_ID = hashlib.md5(b"".join(CHUNKS)).hexdigest()
IDS = tuple(hashlib.md5(c).hexdigest() + str(i) for i, c in enumerate(CHUNKS))


async def pieces(data: bytes) -> AsyncIterator[Buffer]:
    yield data


@pytest.fixture
async def store(postgres: PostgresServer, seaweedfs: SeaweedFS) -> AsyncIterator[ClusterStore]:
    database = await postgres.fresh_database()
    store = ClusterStore(database, seaweedfs.fresh_location(), stale_seconds=0)  # everything is "old"
    await store.open()
    yield store
    await store.close()
    await postgres.drop_database(database)


async def stored_keys(store: ClusterStore) -> set[str]:
    return set(await store.objects.keys_before(float("inf")))


async def test_the_sweep_deletes_what_no_row_points_at(store: ClusterStore) -> None:
    # A published file, an upload in progress with a chunk kept, and what killed processes left: a chunk put
    # but never kept, and an assembled object never published.
    upload = await store.create_upload(FILE_ID, IDS, None, 1.0)
    for index, data in enumerate(CHUNKS):
        upload = await store.keep_chunk(await store.write_chunk(upload, index, pieces(data)))
    published = await store.publish(await store.assemble(upload))
    other = await store.create_upload("0" * 32, ("0" * 32 + "0", "1" * 32 + "1"), None, 1.0)
    kept = await store.keep_chunk(await store.write_chunk(other, 0, pieces(b"kept")))
    never_kept = await store.write_chunk(kept, 1, pieces(b"never kept"))
    await store.objects.put("assembled/lost.0123", pieces(b"an assembly never published"))
    before = await stored_keys(store)
    assert never_kept.key in before and "assembled/lost.0123" in before

    await store.sweep()

    after = await stored_keys(store)
    assert after == before - {never_kept.key, "assembled/lost.0123"}
    assert len(after) == 2  # the published file's object and the kept chunk's
    assert await store.read_upload(kept).__anext__() == b"kept"
    assert b"".join([piece async for piece in store.read_file(published, 0, published.size)]) == b"".join(
        CHUNKS
    )
