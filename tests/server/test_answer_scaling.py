"""Issue 16: the compact answer keeps a large upload's protocol linear.

The engine (CPython, the real server) uploads a generated file of 16,000 chunks (1 KiB each: the chunk count
is what the answers grow with, not the bytes; the same count in 1 MiB chunks is a 16 GiB file) and, for
comparison, one of 1,000. With the seed's lists the answers of the 16,000-chunk upload would total 5.1 GB;
compact, they must stay linear: at most 50 MB in all (the issue's bound) and no more bytes per chunk at
16,000 chunks than at 1,000 (within a small margin for longer numbers). CPU per chunk is measured by the
benchmark (``python -m bench --only answers``), not asserted here.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

import aiohttp
import pytest

from frontend.engine import UploadConfig, UploadController, UploadState
from tests.support.aiohttp_transport import AiohttpTransport
from tests.support.engine_doubles import BytesSource
from tests.support.server_process import ServerProcess

CHUNK = 1024


async def upload(server: ServerProcess, http: aiohttp.ClientSession, chunks: int) -> AiohttpTransport:
    data = random.Random(chunks).randbytes(chunks * CHUNK)
    transport = AiohttpTransport(http)
    ctl = UploadController(
        BytesSource(data, "big.bin"), transport, base_url=server.url, config=UploadConfig(chunk_size=CHUNK)
    )
    final = await ctl.upload()
    assert final.state is UploadState.FINISHED, final.error
    assert transport.chunk_posts == chunks  # each chunk once
    async with http.get(final.url or "") as resp:
        assert hashlib.md5(await resp.read()).hexdigest() == hashlib.md5(data).hexdigest()
    return transport


@pytest.mark.slow
async def test_answers_grow_linearly_up_to_16000_chunks(
    make_server: Callable[..., ServerProcess], http: aiohttp.ClientSession
) -> None:
    # Unlimited: 1 KiB chunks from 6 lanes can pass the default 1,000 requests a second per client, and a
    # 429 sends the refused chunks again (counted twice below).
    server = make_server("--requests-per-second-per-client", "0")
    small = await upload(server, http, 1_000)
    large = await upload(server, http, 16_000)
    per_chunk_small = small.answer_bytes / 1_000
    per_chunk_large = large.answer_bytes / 16_000
    assert large.answer_bytes <= 50_000_000
    assert per_chunk_large <= per_chunk_small * 1.2, (per_chunk_small, per_chunk_large)
    assert server.errors_logged() == []
