"""Stalls, the engine's part: the stall time is configured in ``UploadConfig`` (60 s by default, the reasons in
``engine/retry.py``), travels in every handshake and chunk request (``HttpRequest.stall_timeout``), and a
request the transport gives up for want of progress (``TransportError``) is retried like a network error:
the row shows RETRYING with the transport's message, only the stalled request is sent again, the upload
finishes. The transport's watchdog itself (XMLHttpRequest's upload progress, in the browser) is tested end
to end: ``tests/e2e/test_upload_stall.py``."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import pytest

from frontend.engine import UploadConfig, UploadController, UploadSnapshot, UploadState
from frontend.engine.errors import TransportError
from frontend.engine.ports import FormBody, HttpRequest
from frontend.engine.protocol import HANDSHAKE_PATH, UPLOAD_PATH
from frontend.engine.retry import STALL_TIMEOUT
from tests.support.engine_doubles import BytesSource, FakeClock
from tests.support.memory_server import MemoryTransport

CHUNK = 1024
BASE = "http://memory.test"


def stalling(
    clock: FakeClock, path: str, chunk_index: int | None = None
) -> tuple[Callable[[HttpRequest], Awaitable[None]], list[HttpRequest]]:
    """A transport hook that models a transport honouring ``stall_timeout``: the first matching request
    makes no progress, so after ``stall_timeout`` seconds (of the fake clock) it is given up."""
    stalled: list[HttpRequest] = []

    async def hook(req: HttpRequest) -> None:
        if stalled or urlsplit(req.url).path != path:
            return
        if chunk_index is not None:
            chunk_id = req.body.field("chunkId") if isinstance(req.body, FormBody) else None
            if chunk_id is None or chunk_id[32:] != str(chunk_index):
                return
        assert req.stall_timeout is not None, "the request carries no stall time"
        stalled.append(req)
        await clock.sleep(req.stall_timeout)
        raise TransportError(f"no progress for {req.stall_timeout:g} s, given up: {req.url}")

    return hook, stalled


def controller(
    data: bytes, transport: MemoryTransport, clock: FakeClock, **config: object
) -> tuple[UploadController, list[UploadSnapshot]]:
    snaps: list[UploadSnapshot] = []
    ctl = UploadController(
        BytesSource(data),
        transport,
        base_url=BASE,
        config=UploadConfig(chunk_size=CHUNK, **config),  # type: ignore[arg-type]
        clock=clock.clock(),
        listener=snaps.append,
    )
    return ctl, snaps


def test_the_default_is_sixty_seconds_and_must_be_positive() -> None:
    assert UploadConfig().stall_timeout == STALL_TIMEOUT == 60.0
    assert UploadConfig(stall_timeout=None).stall_timeout is None  # no stall detection
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="stall_timeout"):
            UploadConfig(stall_timeout=bad)


@pytest.mark.parametrize("stall", [STALL_TIMEOUT, 5.0, None], ids=["default", "configured", "off"])
async def test_every_handshake_and_chunk_request_carries_the_stall_time(stall: float | None) -> None:
    transport = MemoryTransport()
    config = {} if stall == STALL_TIMEOUT else {"stall_timeout": stall}
    ctl, _ = controller(random.Random(1).randbytes(3 * CHUNK + 7), transport, FakeClock(), **config)
    assert (await ctl.upload()).state is UploadState.FINISHED
    assert transport.handshake_requests and len(transport.chunk_requests) == 4
    assert {r.stall_timeout for r in transport.requests} == {stall}
    assert {r.timeout for r in transport.requests} == {
        UploadConfig.request_timeout
    }  # the whole-exchange bound


@pytest.mark.parametrize(
    ("path", "chunk_index"), [(UPLOAD_PATH, 2), (HANDSHAKE_PATH, None)], ids=["chunk", "handshake"]
)
async def test_a_stalled_request_is_retried_like_a_network_error(path: str, chunk_index: int | None) -> None:
    data = random.Random(2).randbytes(5 * CHUNK)
    clock = FakeClock()
    hook, stalled = stalling(clock, path, chunk_index)
    transport = MemoryTransport(hook=hook, sleep=clock.sleep)
    ctl, snaps = controller(data, transport, clock, stall_timeout=5.0, parallel=2)

    final = await ctl.upload()

    assert final.state is UploadState.FINISHED
    assert transport.server.files[hashlib.md5(data).hexdigest()] == data
    assert len(stalled) == 1 and clock.sleeps[0] == 5.0  # given up after the stall time, then...
    retrying = [s for s in snaps if s.state is UploadState.RETRYING]
    assert retrying, "the upload never showed RETRYING"
    assert retrying[0].error_code == "NETWORK" and "no progress for 5 s" in (retrying[0].error or "")
    assert (
        retrying[0].attempt == 1 and retrying[0].retry_in is not None
    )  # ...a backoff, like any network error
    if chunk_index is not None:  # only the stalled chunk was sent twice
        sent = [r.body.field("chunkId") for r in transport.chunk_requests if isinstance(r.body, FormBody)]
        counts = {cid[32:]: sent.count(cid) for cid in sent if cid is not None}
        assert counts == {"0": 1, "1": 1, "2": 2, "3": 1, "4": 1}, counts
    else:
        assert len(transport.handshake_requests) >= 2 and len(transport.chunk_requests) == 5
