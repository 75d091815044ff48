"""Who may change an upload now: the service's locks, and who writes at the end of an upload.

Two kinds of exclusion, each in two flavours:

- **Locks** (``hold(key)``): every state change of one file (creating its upload, keeping a chunk,
  assembling, expiring) happens under its file's lock. ``KeyedLocks`` is one ``asyncio.Lock`` per key, enough
  for one process; ``SharedKeyedLocks`` adds a lock every process sharing the store sees (a store that has
  ``SharedLocks``: PostgreSQL advisory locks in a cluster), taken after the in-process one, so the requests of
  one process queue among themselves and cost one shared lock, not one each.
- **Ends** (``try_claim``): one writer at a time at the end of an upload: a chunk written straight into the
  file being assembled, an append of a stream upload (tus, the draft), or the service's own assembly steps.
  A claim is refused at once when someone holds it (a second append gets ``423``), and may be waited for
  (``wait_free``). ``TailGate`` keeps the claims in memory; ``SharedTailGate`` takes them as shared locks,
  so an append on one instance of a cluster locks out an append of the same upload on another.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Protocol

from server.storage.contract import SharedLocks


class Locks(Protocol):
    def hold(self, key: str) -> AbstractAsyncContextManager[None]: ...


class Claim(Protocol):
    """A held end; given back with ``Ends.release``."""


class Ends(Protocol):
    async def try_claim(self, key: str, *, assembly: bool = False) -> Claim | None:
        """The end of ``key`` for the caller, or None at once when someone holds it. ``assembly``: the service's
        background assembly claims it (a request may wait for that rather than be refused)."""
        ...

    async def release(self, key: str, claim: Claim) -> None: ...

    def held(self, key: str) -> bool:
        """Whether this process holds the end of ``key`` now."""
        ...

    def held_by_assembly(self, key: str) -> bool:
        """Whether the service's background assembly (not a request) holds it: worth waiting for."""
        ...

    async def wait_free(self, key: str) -> None:
        """Return once nobody holds the end of ``key`` (it may be claimed again at once)."""
        ...


class KeyedLocks:
    """One ``asyncio.Lock`` per key, forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class SharedKeyedLocks:
    """The in-process lock of a key, then the store's shared lock of it."""

    def __init__(self, shared: SharedLocks) -> None:
        self._local = KeyedLocks()
        self._shared = shared

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        async with self._local.hold(key), self._shared.hold(key):
            yield


class _Token:
    def __init__(self) -> None:
        self.freed = asyncio.Event()


class TailGate:
    """Who writes at the end of each upload, in this process: one chunk straight from the network, an append,
    or the service's own assembly steps (``advance``, ``assemble``, repair), never two at once."""

    def __init__(self) -> None:
        self._owners: dict[str, _Token] = {}
        self._assembling: set[str] = set()  # held by the service's own background assembly

    async def try_claim(self, key: str, *, assembly: bool = False) -> Claim | None:
        return self.claim_now(key, assembly=assembly)

    def claim_now(self, key: str, *, assembly: bool = False) -> _Token | None:
        if key in self._owners:
            return None
        token = self._owners[key] = _Token()
        if assembly:
            self._assembling.add(key)
        return token

    async def release(self, key: str, claim: Claim) -> None:
        assert isinstance(claim, _Token)
        if self._owners.get(key) is claim:
            del self._owners[key]
            self._assembling.discard(key)
        claim.freed.set()

    def held(self, key: str) -> bool:
        return key in self._owners

    def held_by_assembly(self, key: str) -> bool:
        return key in self._assembling

    async def wait_free(self, key: str) -> None:
        while (token := self._owners.get(key)) is not None:
            await token.freed.wait()


class _SharedClaim:
    def __init__(self, local: _Token, shared: AsyncExitStack) -> None:
        self.local = local
        self.shared = shared  # holds the shared lock until closed


class SharedTailGate:
    """The ends as shared locks (``end:<key>``), after this process's own ``TailGate``: a claim another
    process holds is refused like one held here. There is no background assembly in a store that has shared
    locks (it does not assemble in place), so nothing is ``held_by_assembly``."""

    def __init__(self, shared: SharedLocks) -> None:
        self._local = TailGate()
        self._shared = shared

    async def try_claim(self, key: str, *, assembly: bool = False) -> Claim | None:
        local = self._local.claim_now(key, assembly=assembly)
        if local is None:
            return None
        shared = AsyncExitStack()
        try:
            held = await shared.enter_async_context(self._shared.try_hold("end:" + key))
        except BaseException:
            await self._local.release(key, local)
            raise
        if held is None:
            await shared.aclose()
            await self._local.release(key, local)
            return None
        return _SharedClaim(local, shared)

    async def release(self, key: str, claim: Claim) -> None:
        assert isinstance(claim, _SharedClaim)
        try:
            await claim.shared.aclose()
        finally:
            await self._local.release(key, claim.local)

    def held(self, key: str) -> bool:
        return self._local.held(key)

    def held_by_assembly(self, key: str) -> bool:
        return self._local.held_by_assembly(key)

    async def wait_free(self, key: str) -> None:
        await self._local.wait_free(key)
        async with self._shared.hold("end:" + key):
            pass
