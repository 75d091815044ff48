"""One round of chunk requests on its own (``rounds.ChunkRound``) over the in-memory server, and the needed
set it keeps (``needed.NeededChunks``)."""

from __future__ import annotations

import asyncio
import random

import pytest

from frontend.engine.chunking import Chunk, ChunkPlan
from frontend.engine.errors import EngineError, Err
from frontend.engine.hashing import hash_file
from frontend.engine.needed import NeededChunks
from frontend.engine.protocol import handshake_request
from frontend.engine.retry import ResendBudget
from frontend.engine.rounds import ChunkRound, ChunkSender, RoundEnd
from tests.support.engine_doubles import BytesSource, until
from tests.support.memory_server import Fault, MemoryTransport

CHUNK = 1024
BASE = "http://memory.test"


async def planned(size: int, transport: MemoryTransport) -> tuple[BytesSource, ChunkPlan, NeededChunks]:
    """A file, its plan, and what the server needs after a handshake (all of it)."""
    source = BytesSource(random.Random(size).randbytes(size))
    plan = await hash_file(source, chunk_size=CHUNK)
    await transport.request(handshake_request(BASE, plan))
    return source, plan, NeededChunks(plan, ((0, len(plan.chunks)),))


def round_of(
    source: BytesSource,
    transport: MemoryTransport,
    plan: ChunkPlan,
    needed: NeededChunks,
    *,
    parallel: int = 2,
    stopping: list[bool] | None = None,
    stored: list[Chunk] | None = None,
) -> ChunkRound:
    flags = stopping if stopping is not None else [False]
    return ChunkRound(
        ChunkSender(source, transport, BASE),
        plan,
        needed,
        ResendBudget(2),
        lanes=lambda: parallel,
        stopping=lambda: flags[0],
        on_change=lambda: None,
        on_stored=(stored if stored is not None else []).append,
    )


async def test_a_round_sends_every_needed_chunk_in_file_order_and_ends_done() -> None:
    transport = MemoryTransport()
    source, plan, needed = await planned(5 * CHUNK, transport)
    stored: list[Chunk] = []
    assert await round_of(source, transport, plan, needed, stored=stored).run() is RoundEnd.DONE
    assert [c.index for c in stored] == [0, 1, 2, 3, 4]
    assert transport.max_chunks_in_flight == 2
    assert len(needed) == 0 and needed.bytes == 0 and needed.in_flight == set()


async def test_stopping_starts_nothing_new_and_lets_the_chunks_in_flight_count() -> None:
    transport = MemoryTransport()
    source, plan, needed = await planned(6 * CHUNK, transport)
    transport.gate = asyncio.Event()
    stopping = [False]
    running = asyncio.ensure_future(round_of(source, transport, plan, needed, stopping=stopping).run())
    await until(lambda: transport.chunks_in_flight == 2, "2 chunks in flight")
    stopping[0] = True
    transport.gate.set()
    assert await running is RoundEnd.STOPPED
    assert len(transport.chunk_requests) == 2
    assert len(needed) == 4 and needed.bytes == 4 * CHUNK


async def test_a_lost_upload_asks_the_server_and_a_chunk_that_stays_damaged_fails() -> None:
    transport = MemoryTransport()
    source, plan, needed = await planned(3 * CHUNK, transport)
    transport.server.lose_state()
    assert await round_of(source, transport, plan, needed).run() is RoundEnd.ASK_SERVER

    transport = MemoryTransport()
    source, plan, needed = await planned(3 * CHUNK, transport)
    transport.inject(Fault("corrupt", chunk_index=1, times=None))
    with pytest.raises(EngineError) as info:
        await round_of(source, transport, plan, needed, parallel=1).run()
    assert info.value.kind is Err.CHUNK_RESEND_LIMIT
    assert len(transport.chunk_requests) == 1 + 3  # chunk 0, then chunk 1 sent 1 + 2 resends


def test_the_needed_set_only_shrinks() -> None:
    chunks = tuple(Chunk(i, i * 10, i * 10 + 10, f"{i:032x}{i}") for i in range(4))
    plan = ChunkPlan("f" * 32, "", 40, 10, chunks)
    needed = NeededChunks(plan, ((1, 4),))
    assert (len(needed), needed.bytes) == (3, 30)
    needed.confirm(chunks[2].id, ((1, 2), (3, 4)))
    needed.confirm(chunks[3].id, ((0, 4),))  # a stale answer cannot resurrect a chunk
    assert (len(needed), needed.bytes) == (1, 10)
    needed.in_flight.add(chunks[1].id)
    assert needed.next_free() is None
