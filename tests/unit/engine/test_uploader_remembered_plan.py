"""The upload controller given a plan the page remembered (``plan=``, ``engine/plan_cache.py``): no hashing
when the plan fits the file; hashed again, once, when the server's checks show it does not."""

from __future__ import annotations

import hashlib
import random

from frontend.engine import UploadConfig, UploadController, UploadSnapshot, UploadState
from frontend.engine.chunking import Chunk, ChunkPlan
from frontend.engine.errors import Err
from frontend.engine.hashing import hash_file
from tests.support.engine_doubles import BytesSource
from tests.support.memory_server import MemoryTransport
from tests.unit.engine.test_uploader import states

S = UploadState
CHUNK = 1024
BASE = "http://memory.test"


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


async def plan_of(data: bytes) -> ChunkPlan:
    return await hash_file(BytesSource(data), chunk_size=CHUNK)


def controller(
    data: bytes, plan: ChunkPlan, transport: MemoryTransport
) -> tuple[UploadController, BytesSource, list[UploadSnapshot]]:
    source = BytesSource(data)
    snaps: list[UploadSnapshot] = []
    ctl = UploadController(
        source,
        transport,
        base_url=BASE,
        config=UploadConfig(chunk_size=CHUNK),
        listener=snaps.append,
        plan=plan,
    )
    return ctl, source, snaps


async def test_a_remembered_plan_goes_straight_to_uploading() -> None:
    data = data_of(4 * CHUNK)
    transport = MemoryTransport()
    ctl, source, snaps = controller(data, await plan_of(data), transport)
    assert (await ctl.upload()).state is S.FINISHED
    assert states(snaps) == [S.CHOSEN, S.UPLOADING, S.FINISHED]  # no HASHING, not even for the handshake
    assert source.reads == 4  # one read per chunk sent, none for hashing
    assert not ctl.rehashed
    assert transport.server.files[hashlib.md5(data).hexdigest()] == data


async def test_a_remembered_plan_of_a_file_that_changed_is_hashed_again() -> None:
    """Same name, size and modification time, other bytes in a chunk still to send: the server refuses it
    (422 CHUNK_MISMATCH), the chunk read again is not the plan's (FILE_CHANGED): hashed again, uploaded."""
    old = data_of(4 * CHUNK)
    new = old[: 2 * CHUNK] + bytes(CHUNK) + old[3 * CHUNK :]
    transport = MemoryTransport()
    ctl, _, snaps = controller(new, await plan_of(old), transport)
    final = await ctl.upload()
    assert final.state is S.FINISHED, final
    assert ctl.rehashed
    assert states(snaps) == [S.CHOSEN, S.UPLOADING, S.HASHING, S.UPLOADING, S.FINISHED]
    assert final.file_id == hashlib.md5(new).hexdigest()
    assert transport.server.files[hashlib.md5(new).hexdigest()] == new
    assert ctl.plan == await plan_of(new)


async def test_a_remembered_plan_whose_file_id_is_wrong_is_hashed_again() -> None:
    """Chunks that match their ids assembled into another file than ``fileId``: 422 FILE_MISMATCH."""
    data = data_of(3 * CHUNK)
    right = await plan_of(data)
    wrong = ChunkPlan("0" * 32, right.ext, right.size, right.chunk_size, right.chunks)
    transport = MemoryTransport()
    ctl, _, _ = controller(data, wrong, transport)
    final = await ctl.upload()
    assert final.state is S.FINISHED and ctl.rehashed
    assert transport.server.files[hashlib.md5(data).hexdigest()] == data


async def test_a_file_that_changes_again_after_the_new_hash_fails() -> None:
    """Hashed again once only: a plan computed here that does not fit is the usual FILE_CHANGED."""
    old = data_of(3 * CHUNK)
    new = old[:CHUNK] + bytes(2 * CHUNK)
    transport = MemoryTransport()
    ctl, source, _ = controller(new, await plan_of(old), transport)
    real_read = source.read

    async def changing(start: int, end: int) -> bytes:
        data = await real_read(start, end)
        if ctl.rehashed and ctl.plan is not None:  # hashed again: now it changes under the upload
            source.data = new[: 2 * CHUNK] + b"\x01" * CHUNK
        return data

    source.read = changing  # type: ignore[method-assign]
    final = await ctl.upload()
    assert final.state is S.FAILED and final.error_code == Err.FILE_CHANGED.name


async def test_a_fatal_error_keeps_the_remembered_plan() -> None:
    """Only a misfit drops the plan: any other failure fails as always, and a retry does not hash."""
    data = data_of(2 * CHUNK)
    plan = await plan_of(data)
    bad = ChunkPlan(
        plan.file_id,
        plan.ext,
        plan.size,
        plan.chunk_size,
        (*plan.chunks[:1], Chunk(1, CHUNK, 2 * CHUNK, "x")),
    )
    transport = MemoryTransport()
    ctl, source, _ = controller(data, bad, transport)
    final = await ctl.upload()
    assert final.state is S.FAILED and not ctl.rehashed
    assert ctl.plan is bad and source.reads == 0
