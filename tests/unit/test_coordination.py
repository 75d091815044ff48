"""The service's locks and claims on an upload's end, in memory and over a store's shared locks.

The shared flavour is run here over ``ProcessLocks``, shared locks of one process standing for PostgreSQL's
(tests/unit/test_cluster_catalogue.py runs the real ones): two ``SharedTailGate`` objects over it are two
server instances.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from server.storage.contract import SharedLocks
from server.uploads.coordination import KeyedLocks, SharedKeyedLocks, SharedTailGate, TailGate


class ProcessLocks:
    """``SharedLocks`` in one process; counts the shared locks taken."""

    def __init__(self) -> None:
        self.locks: dict[str, asyncio.Lock] = {}
        self.taken = 0

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[object]:
        async with self.locks.setdefault(key, asyncio.Lock()):
            self.taken += 1
            yield key

    @asynccontextmanager
    async def try_hold(self, key: str) -> AsyncIterator[object | None]:
        lock = self.locks.setdefault(key, asyncio.Lock())
        if lock.locked():
            yield None
            return
        async with lock:
            self.taken += 1
            yield key


def test_the_double_is_shared_locks() -> None:
    assert isinstance(ProcessLocks(), SharedLocks)


async def test_keyed_locks_exclude_per_key_and_forget_idle_keys() -> None:
    locks, order = KeyedLocks(), []

    async def work(key: str, tag: str) -> None:
        async with locks.hold(key):
            order.append(tag + "+")
            await asyncio.sleep(0)
            order.append(tag + "-")

    await asyncio.gather(work("a", "1"), work("a", "2"), work("b", "3"))
    assert order.index("1-") < order.index("2+")  # one at a time for "a"
    assert order.index("3+") < order.index("1-")  # "b" did not wait
    assert locks._locks == {}


async def test_shared_keyed_locks_queue_in_process_first() -> None:
    shared = ProcessLocks()
    first, second = SharedKeyedLocks(shared), SharedKeyedLocks(shared)  # two instances
    inside = 0
    most = 0

    async def work(locks: SharedKeyedLocks) -> None:
        nonlocal inside, most
        async with locks.hold("f"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(work(locks) for locks in (first, second, first, second)))
    assert most == 1 and shared.taken == 4


async def test_tail_gate_claims() -> None:
    gate = TailGate()
    claim = await gate.try_claim("u", assembly=True)
    assert claim is not None and await gate.try_claim("u") is None
    assert gate.held("u") and gate.held_by_assembly("u")
    waiter = asyncio.create_task(gate.wait_free("u"))
    await asyncio.sleep(0)
    assert not waiter.done()
    await gate.release("u", claim)
    await waiter
    assert not gate.held("u") and await gate.try_claim("u") is not None


async def test_a_claim_held_by_another_instance_is_refused_until_released() -> None:
    shared = ProcessLocks()
    here, there = SharedTailGate(shared), SharedTailGate(shared)
    claim = await there.try_claim("u")
    assert claim is not None
    assert await here.try_claim("u") is None and not here.held("u")  # refused, and nothing left held here
    waiter = asyncio.create_task(here.wait_free("u"))
    await asyncio.sleep(0)
    assert not waiter.done()
    await there.release("u", claim)
    await waiter
    mine = await here.try_claim("u")
    assert mine is not None and here.held("u")
    await here.release("u", mine)
    assert not shared.locks["end:u"].locked()
