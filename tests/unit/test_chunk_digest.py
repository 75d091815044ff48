"""``ChunkDigest``: the MD5 of what was fed, hashed in worker threads, in order, whatever the piece sizes."""

from __future__ import annotations

import asyncio
import hashlib
import random

from server.uploads.chunk_digest import ChunkDigest


async def test_the_digest_is_the_md5_of_the_pieces_in_order() -> None:
    data = random.Random(1).randbytes(3 * 1024 * 1024 + 5)
    digest = ChunkDigest()
    view, sizes = memoryview(data), random.Random(2)
    while view:
        size = sizes.choice([1, 100, 2047, 2048, 65536, 262144])
        digest.feed(view[:size])
        view = view[size:]
    assert await digest.digest() == hashlib.md5(data).hexdigest()


async def test_nothing_fed_is_the_md5_of_nothing() -> None:
    assert await ChunkDigest().digest() == hashlib.md5(b"").hexdigest()


async def test_a_writable_buffer_reused_by_the_caller_is_hashed_as_it_was_when_fed() -> None:
    digest, buffer, expected = ChunkDigest(), bytearray(65536), hashlib.md5()
    for value in range(40):
        buffer[:] = bytes([value]) * len(buffer)
        expected.update(buffer)
        digest.feed(buffer)  # copied: the next round overwrites the buffer at once
    assert await digest.digest() == expected.hexdigest()


async def test_many_chunks_at_once_each_get_their_own_md5() -> None:
    chunks = [random.Random(seed).randbytes(1024 * 1024) for seed in range(12)]
    digests = [ChunkDigest() for _ in chunks]
    for offset in range(0, 1024 * 1024, 65536):  # interleaved, as requests arrive side by side
        for digest, chunk in zip(digests, chunks, strict=True):
            digest.feed(chunk[offset : offset + 65536])
    results = await asyncio.gather(*(digest.digest() for digest in digests))
    assert results == [hashlib.md5(chunk).hexdigest() for chunk in chunks]
