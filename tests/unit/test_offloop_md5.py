"""``OffLoopMD5``: the MD5s of what was fed, hashed in worker threads, in order, whatever the piece sizes."""

from __future__ import annotations

import asyncio
import hashlib
import random

from server.offloop_md5 import OffLoopMD5


async def test_every_digest_gets_the_pieces_in_order() -> None:
    data = random.Random(1).randbytes(3 * 1024 * 1024 + 5)
    running = hashlib.md5(b"what came before")
    chunk, file = hashlib.md5(), running.copy()
    hasher = OffLoopMD5(chunk, file)
    view, sizes = memoryview(data), random.Random(2)
    while view:
        size = sizes.choice([1, 100, 2047, 2048, 65536, 262144])
        hasher.feed(view[:size])
        view = view[size:]
    await hasher.wait()
    assert chunk.hexdigest() == hashlib.md5(data).hexdigest()
    running.update(data)
    assert file.hexdigest() == running.hexdigest()


async def test_nothing_fed_needs_no_wait() -> None:
    digest = hashlib.md5()
    await OffLoopMD5(digest).wait()
    assert digest.hexdigest() == hashlib.md5(b"").hexdigest()


async def test_waiting_twice_and_feeding_in_between() -> None:
    digest = hashlib.md5()
    hasher = OffLoopMD5(digest)
    hasher.feed(b"a" * 100_000)
    await hasher.wait()
    hasher.feed(b"b" * 100_000)
    await asyncio.gather(hasher.wait(), hasher.wait())
    assert digest.hexdigest() == hashlib.md5(b"a" * 100_000 + b"b" * 100_000).hexdigest()


async def test_a_writable_buffer_reused_by_the_caller_is_hashed_as_it_was_when_fed() -> None:
    digest, buffer, expected = hashlib.md5(), bytearray(65536), hashlib.md5()
    hasher = OffLoopMD5(digest)
    for value in range(40):
        buffer[:] = bytes([value]) * len(buffer)
        expected.update(buffer)
        hasher.feed(buffer)  # copied: the next round overwrites the buffer at once
    await hasher.wait()
    assert digest.hexdigest() == expected.hexdigest()


async def test_many_streams_at_once_each_get_their_own_md5() -> None:
    chunks = [random.Random(seed).randbytes(1024 * 1024) for seed in range(12)]
    digests = [hashlib.md5() for _ in chunks]
    hashers = [OffLoopMD5(digest) for digest in digests]
    for offset in range(0, 1024 * 1024, 65536):  # interleaved, as requests arrive side by side
        for hasher, chunk in zip(hashers, chunks, strict=True):
            hasher.feed(chunk[offset : offset + 65536])
    await asyncio.gather(*(hasher.wait() for hasher in hashers))
    assert [d.hexdigest() for d in digests] == [hashlib.md5(chunk).hexdigest() for chunk in chunks]
