"""The upload controller over the in-memory server: the whole flow, parallelism, pause/continue, resume,
and every failure path (corruption, network, 5xx, 4xx, a server that lost its state)."""

from __future__ import annotations

import asyncio
import hashlib
import random

import pytest

from frontend.engine import UploadConfig, UploadController, UploadSnapshot, UploadState
from frontend.engine.chunking import ChunkPlan
from frontend.engine.errors import EngineError, Err, IllegalTransition
from frontend.engine.hashing import hash_file
from frontend.engine.ports import FilePart, FileRange, FormBody, JsonBody
from frontend.engine.protocol import HANDSHAKE_PATH, UPLOAD_PATH
from frontend.engine.retry import RetryPolicy
from tests.support.engine_doubles import BytesSource, FakeClock, StreamingBytesSource, until
from tests.support.memory_server import Fault, MemoryServer, MemoryTransport, MemoryUpload

S = UploadState
CHUNK = (
    1024  # small chunks keep these tests fast; the 1 MiB default is covered in test_chunking/the server test
)
BASE = "http://memory.test"


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def make(
    data: bytes,
    transport: MemoryTransport | None = None,
    clock: FakeClock | None = None,
    name: str = "file.bin",
    **config: object,
) -> tuple[UploadController, MemoryTransport, list[UploadSnapshot]]:
    transport = transport or MemoryTransport()
    clock = clock or FakeClock()
    snaps: list[UploadSnapshot] = []
    config.setdefault("chunk_size", CHUNK)
    ctl = UploadController(
        BytesSource(data, name),
        transport,
        base_url=BASE,
        config=UploadConfig(**config),  # type: ignore[arg-type]
        clock=clock.clock(),
        listener=snaps.append,
    )
    return ctl, transport, snaps


def sent_indices(transport: MemoryTransport) -> list[int]:
    out = []
    for req in transport.chunk_requests:
        assert isinstance(req.body, FormBody)
        cid = req.body.field("chunkId")
        assert cid is not None
        out.append(int(cid[32:]))
    return out


def states(snaps: list[UploadSnapshot]) -> list[UploadState]:
    out: list[UploadState] = []
    for snap in snaps:
        if not out or out[-1] is not snap.state:
            out.append(snap.state)
    return out


def stored(transport: MemoryTransport, data: bytes) -> bytes | None:
    return transport.server.files.get(hashlib.md5(data).hexdigest())


# --------------------------------------------------------------------------------------------- the flow


@pytest.mark.parametrize("seed_answers", [False, True], ids=["compact answers", "the seed's lists"])
async def test_uploads_a_file_and_links_to_it(seed_answers: bool) -> None:
    """Our server answers ``?answer=ranges`` compactly; the seed's server ignores it and answers lists of
    ids: the engine reads both."""
    data = data_of(5 * CHUNK + CHUNK // 2)
    server = MemoryServer(BASE, seed_answers=seed_answers)
    ctl, transport, snaps = make(data, MemoryTransport(server), name="photo.jpg")
    final = await ctl.upload()
    file_id = hashlib.md5(data).hexdigest()
    assert final.state is S.FINISHED
    assert final.url == f"{BASE}/upload/{file_id}.jpg?name=photo.jpg"  # the link downloads as photo.jpg
    assert stored(transport, data) == data
    assert (final.bytes_done, final.chunks_done, final.percent, final.chunk_percent) == (
        len(data),
        6,
        100.0,
        100,
    )
    assert sorted(sent_indices(transport)) == list(range(6))  # each chunk exactly once
    assert states(snaps) == [S.CHOSEN, S.HASHING, S.UPLOADING, S.FINISHED]
    done = [s.bytes_done for s in snaps]
    assert done == sorted(done)  # progress never goes back


async def test_handshake_sends_name_and_size_and_chunks_send_the_ids_then_a_range_of_the_file() -> None:
    data = data_of(2 * CHUNK + 1)
    ctl, transport, _ = make(data, name="notes.txt")
    await ctl.upload()
    handshake = transport.handshake_requests[0]
    assert isinstance(handshake.body, JsonBody)
    body = handshake.body.value
    assert (body["name"], body["size"], body["ext"], body["fileId"]) == (
        "notes.txt",
        len(data),
        ".txt",
        hashlib.md5(data).hexdigest(),
    )
    assert len(body["chunkIds"]) == 3
    for req in transport.chunk_requests:
        assert isinstance(req.body, FormBody)
        assert [p.name for p in req.body.parts] == ["chunkId", "fileId", "file"]
        part = req.body.parts[2]
        assert isinstance(part, FilePart)
        # Not read by the engine: the transport reads (a browser: slices) the range while sending.
        index = int(str(req.body.field("chunkId"))[32:])
        assert part.data == FileRange(ctl.source, index * CHUNK, min(len(data), (index + 1) * CHUNK))
        assert req.timeout == UploadConfig().request_timeout
    assert transport.server.names[body["fileId"]] == "notes.txt"


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1])
async def test_edge_sizes_upload(size: int) -> None:
    data = data_of(size, seed=size)
    ctl, transport, _ = make(data)
    final = await ctl.upload()
    assert final.state is S.FINISHED and final.percent == 100.0
    assert stored(transport, data) == data
    assert final.chunks_total == max(1, -(-size // CHUNK))


async def test_default_config_uses_1_mib_chunks_and_streams_the_hash() -> None:
    data = data_of(2 * 1024 * 1024 + 5)
    source = StreamingBytesSource(data, "x.bin", piece_sizes=[65536])
    transport = MemoryTransport()
    ctl = UploadController(source, transport, base_url=BASE, clock=FakeClock().clock())
    final = await ctl.upload()
    assert final.state is S.FINISHED and final.chunks_total == 3
    assert source.largest_read <= 1024 * 1024  # never the whole file at once
    assert stored(transport, data) == data


async def test_the_file_already_on_the_server_finishes_at_once() -> None:
    data = data_of(3 * CHUNK)
    first, transport, _ = make(data, name="a.bin")
    await first.upload()
    again, _, snaps = make(data, transport, name="b.bin")
    final = await again.upload()
    assert final.state is S.FINISHED
    # The URL the handshake gave, with this upload's own name: the first upload's name is not this one's.
    assert final.url == f"{BASE}/upload/{hashlib.md5(data).hexdigest()}.bin?name=b.bin"
    assert len(transport.chunk_requests) == 3  # only the first upload's
    assert states(snaps) == [S.CHOSEN, S.HASHING, S.FINISHED]


async def test_prepare_then_start_like_the_seeds_buttons() -> None:
    data = data_of(4 * CHUNK)
    ctl, transport, _ = make(data)
    ready = await ctl.prepare()
    assert ready.state is S.CHOSEN
    assert (ready.chunks_total, ready.chunks_done, ready.file_id) == (4, 0, hashlib.md5(data).hexdigest())
    assert transport.chunk_requests == []
    final = await ctl.upload()
    assert final.state is S.FINISHED
    assert len(transport.handshake_requests) == 1  # the prepared answer was fresh: not asked twice


async def test_start_during_prepare_goes_on_uploading() -> None:
    data = data_of(2 * CHUNK)
    ctl, _, _ = make(data)
    prepared = asyncio.ensure_future(ctl.prepare())
    await asyncio.sleep(0)
    ctl.start()
    assert (await prepared).state is S.FINISHED


async def test_a_cached_plan_skips_hashing() -> None:
    data = data_of(3 * CHUNK)
    first, transport, _ = make(data)
    await first.prepare()
    assert first.plan is not None
    cached = ChunkPlan.from_dict(first.plan.to_dict())
    source = BytesSource(data)
    ctl = UploadController(
        source, transport, base_url=BASE, config=UploadConfig(chunk_size=CHUNK), plan=cached
    )
    assert (await ctl.upload()).state is S.FINISHED
    assert source.reads == 3  # one read per chunk sent, none for hashing


async def test_several_files_at_once_share_a_transport() -> None:
    transport = MemoryTransport()
    files = [data_of(3 * CHUNK + i, seed=i) for i in range(3)]
    ctls = [make(d, transport)[0] for d in files]
    finals = await asyncio.gather(*(c.upload() for c in ctls))
    assert all(f.state is S.FINISHED for f in finals)
    assert all(stored(transport, d) == d for d in files)


# --------------------------------------------------------------------------------------------- parallelism


@pytest.mark.parametrize("parallel", [1, 3, 5])
async def test_at_most_parallel_chunks_in_flight(parallel: int) -> None:
    data = data_of(12 * CHUNK)
    ctl, transport, snaps = make(data, parallel=parallel, max_parallel=parallel)
    assert (await ctl.upload()).state is S.FINISHED
    assert transport.max_chunks_in_flight == parallel
    assert max(s.in_flight for s in snaps) == parallel
    assert len(transport.chunk_requests) == 12


def test_parallel_must_be_positive() -> None:
    with pytest.raises(ValueError):
        UploadConfig(parallel=0)


# ----------------------------------------------------------------------------------------- pause / continue


async def test_pause_lets_in_flight_chunks_finish_and_starts_no_new_ones() -> None:
    data = data_of(10 * CHUNK)
    ctl, transport, _ = make(data, parallel=3)
    transport.gate = asyncio.Event()
    ctl.start()
    await until(lambda: transport.chunks_in_flight == 3, "3 chunks in flight")
    ctl.pause()
    assert ctl.state is S.PAUSED  # at once, like the seed's button
    transport.gate.set()
    paused = await ctl.wait()
    assert paused.state is S.PAUSED
    assert len(transport.chunk_requests) == 3  # nothing new after the pause
    assert paused.chunks_done == 3  # the in-flight answers still count
    ctl.pause()  # pausing again is harmless
    handshakes = len(transport.handshake_requests)
    final = await ctl.upload()  # continue
    assert final.state is S.FINISHED
    assert len(transport.handshake_requests) == handshakes + 1  # continue asks the server first
    assert sorted(sent_indices(transport)) == list(range(10))  # no chunk sent twice
    assert stored(transport, data) == data


async def test_resume_right_after_pause_waits_for_the_paused_run() -> None:
    data = data_of(6 * CHUNK)
    ctl, transport, _ = make(data, parallel=2)
    transport.gate = asyncio.Event()
    ctl.start()
    await until(lambda: transport.chunks_in_flight == 2, "2 chunks in flight")
    ctl.pause()
    ctl.resume()  # while the paused run still waits for its chunks
    assert ctl.state is S.PAUSED
    transport.gate.set()
    assert (await ctl.wait()).state is S.FINISHED
    assert sorted(sent_indices(transport)) == list(range(6))


async def test_pause_then_resume_then_pause_calls_the_resume_off() -> None:
    data = data_of(6 * CHUNK)
    ctl, transport, _ = make(data, parallel=2)
    transport.gate = asyncio.Event()
    ctl.start()
    await until(lambda: transport.chunks_in_flight == 2, "2 chunks in flight")
    ctl.pause()
    ctl.resume()
    ctl.pause()
    transport.gate.set()
    assert (await ctl.wait()).state is S.PAUSED
    assert len(transport.chunk_requests) == 2


async def test_a_paused_upload_can_finish_by_its_last_in_flight_chunks() -> None:
    data = data_of(2 * CHUNK)
    ctl, transport, _ = make(data, parallel=2)
    transport.gate = asyncio.Event()
    ctl.start()
    await until(lambda: transport.chunks_in_flight == 2, "both chunks in flight")
    ctl.pause()
    transport.gate.set()
    assert (await ctl.wait()).state is S.FINISHED


async def test_resume_after_reload_sends_only_what_the_server_lacks() -> None:
    data = data_of(8 * CHUNK)
    before, transport, _ = make(data, parallel=2)
    transport.gate = asyncio.Event()
    before.start()
    await until(lambda: transport.chunks_in_flight == 2, "2 chunks in flight")
    before.pause()
    transport.gate.set()
    assert (await before.wait()).state is S.PAUSED
    first_sent = set(sent_indices(transport))
    assert len(first_sent) == 2
    # "Reload": a new controller for the same file, the server keeps what it has.
    transport.requests.clear()
    after, _, snaps = make(data, transport)
    final = await after.upload()
    assert final.state is S.FINISHED
    assert set(sent_indices(transport)) == set(range(8)) - first_sent
    assert snaps[-1].chunks_done == 8
    hashed = [s for s in snaps if s.state is S.UPLOADING]
    assert hashed[0].chunks_done == 2  # the server's answer shows the earlier progress at once


async def test_cancel_aborts_in_flight_requests_and_can_be_resumed() -> None:
    data = data_of(4 * CHUNK)
    ctl, transport, _ = make(data, parallel=2)
    transport.gate = asyncio.Event()
    ctl.start()
    await until(lambda: transport.chunks_in_flight == 2, "2 chunks in flight")
    snap = await ctl.cancel()
    assert snap.state is S.PAUSED and snap.chunks_done == 0
    await until(lambda: transport.chunks_in_flight == 0, "the aborted requests ended")
    assert transport.server.chunks_received == []  # they never reached the server
    transport.gate.set()
    assert (await ctl.upload()).state is S.FINISHED


async def test_illegal_actions_raise() -> None:
    ctl, _, _ = make(data_of(CHUNK))
    with pytest.raises(IllegalTransition):
        ctl.pause()  # nothing is uploading
    assert (await ctl.upload()).state is S.FINISHED
    with pytest.raises(IllegalTransition):
        ctl.start()
    with pytest.raises(IllegalTransition):
        await ctl.prepare()


# --------------------------------------------------------------------------------------------- failures


async def test_a_chunk_corrupted_in_flight_is_sent_again_at_once() -> None:
    """The server refuses it as it arrives (422 CHUNK_MISMATCH): its sender sends it again next, before
    the chunks after it, with no new handshake."""
    data = data_of(4 * CHUNK)
    ctl, transport, _ = make(data, parallel=1)
    transport.inject(Fault("corrupt", chunk_index=2, times=2))
    final = await ctl.upload()
    assert final.state is S.FINISHED
    assert sent_indices(transport) == [0, 1, 2, 2, 2, 3]
    assert transport.server.handshakes == 1
    assert stored(transport, data) == data


async def test_a_chunk_that_always_arrives_corrupted_fails_after_the_resend_limit() -> None:
    data = data_of(4 * CHUNK)
    ctl, transport, _ = make(data, max_chunk_resends=2, parallel=1)
    transport.inject(Fault("corrupt", chunk_index=1, times=None))
    final = await ctl.upload()
    assert final.state is S.FAILED
    assert final.error_code == Err.CHUNK_RESEND_LIMIT.name
    assert "CHUNK_MISMATCH" in (final.error or "")
    assert sent_indices(transport).count(1) == 3  # first send, then the two resends allowed


async def test_network_errors_are_retried_with_backoff_without_losing_progress() -> None:
    data = data_of(6 * CHUNK)
    clock = FakeClock(random=0.5)
    ctl, transport, snaps = make(data, clock=clock, parallel=1, retry=RetryPolicy(base=2.0, cap=60.0))
    transport.inject(Fault("network", path=UPLOAD_PATH, skip=2, times=3))
    final = await ctl.upload()
    assert final.state is S.FINISHED
    assert clock.sleeps == [1.0, 2.0, 4.0]  # 0.5 * 2, 0.5 * 4, 0.5 * 8: full jitter, deterministic here
    assert sorted(set(sent_indices(transport))) == list(range(6))
    assert sent_indices(transport).count(0) == 1 and sent_indices(transport).count(1) == 1  # kept
    retrying = [s for s in snaps if s.state is S.RETRYING]
    assert retrying[0].error_code == "NETWORK" and retrying[0].retry_in == 1.0 and retrying[0].attempt == 1
    assert states(snaps)[-4:] == [S.UPLOADING, S.RETRYING, S.UPLOADING, S.FINISHED]


async def test_an_answer_lost_after_the_server_stored_the_chunk_is_not_sent_again() -> None:
    data = data_of(3 * CHUNK)
    ctl, transport, _ = make(data, parallel=1)
    transport.inject(Fault("network_after", path=UPLOAD_PATH, skip=1))
    assert (await ctl.upload()).state is S.FINISHED
    assert sent_indices(transport) == [
        0,
        1,
        2,
    ]  # chunk 1's answer was lost; the re-handshake says it is stored


async def test_5xx_is_retried() -> None:
    data = data_of(3 * CHUNK)
    clock = FakeClock()
    ctl, transport, _ = make(data, clock=clock)
    transport.inject(
        Fault("status", status=503, path=HANDSHAKE_PATH), Fault("status", status=500, path=UPLOAD_PATH)
    )
    final = await ctl.upload()
    assert final.state is S.FINISHED
    assert len(clock.sleeps) == 2
    assert stored(transport, data) == data


async def test_4xx_fails_with_the_servers_message() -> None:
    data = data_of(3 * CHUNK)
    transport = MemoryTransport(MemoryServer(BASE, max_file_bytes=2 * CHUNK))
    ctl, _, snaps = make(data, transport)
    final = await ctl.upload()
    assert final.state is S.FAILED
    assert final.error_code == "FILE_TOO_LARGE"
    assert final.error == f"the file is {3 * CHUNK} bytes; this server accepts at most {2 * CHUNK} bytes"
    assert states(snaps)[-1] is S.FAILED


async def test_another_chunk_size_of_a_half_done_upload_is_an_upload_of_its_own() -> None:
    data = data_of(3 * CHUNK)
    transport = MemoryTransport()
    other, _, _ = make(data, transport, chunk_size=2 * CHUNK, parallel=1)  # another chunk size, half done
    transport.gate = asyncio.Event()
    other.start()
    await until(lambda: transport.chunks_in_flight == 1, "one chunk in flight")
    other.pause()
    transport.gate.set()
    await other.wait()
    transport.gate = None
    ctl, _, _ = make(data, transport)
    final = await ctl.upload()
    assert final.state is S.FINISHED and stored(transport, data) == data
    assert transport.server.uploads == {}  # the half-done one went when the file was published


async def test_a_4xx_during_the_upload_fails_it_too() -> None:
    data = data_of(3 * CHUNK)
    ctl, transport, _ = make(data, parallel=1)
    transport.inject(Fault("status", status=413, path=UPLOAD_PATH, skip=1))
    final = await ctl.upload()
    assert (final.state, final.error, final.error_code) == (S.FAILED, "injected 413", "INTERNAL")
    assert len(transport.chunk_requests) == 2


async def test_server_that_lost_its_state_answers_404_and_the_engine_handshakes_again() -> None:
    data = data_of(5 * CHUNK)
    ctl, transport, _ = make(data, parallel=1)
    transport.inject(Fault("lose_state", path=UPLOAD_PATH, skip=3))  # "restart" before the 4th chunk
    final = await ctl.upload()
    assert final.state is S.FINISHED
    assert len(transport.handshake_requests) == 2
    assert sent_indices(transport) == [0, 1, 2, 3, 0, 1, 2, 3, 4]  # all over again: the server lost them
    assert stored(transport, data) == data


async def test_a_server_that_keeps_losing_the_upload_is_given_up() -> None:
    data = data_of(3 * CHUNK)
    ctl, transport, _ = make(data, parallel=1, max_rehandshakes=2)
    transport.inject(Fault("lose_state", path=UPLOAD_PATH, times=None))
    final = await ctl.upload()
    assert final.state is S.FAILED and final.error_code == Err.UPLOAD_LOST_LIMIT.name
    assert len(transport.handshake_requests) == 3  # the first one, then 2 more


async def test_retries_are_bounded() -> None:
    data = data_of(2 * CHUNK)
    clock = FakeClock(random=0.5)
    ctl, transport, _ = make(data, clock=clock, retry=RetryPolicy(base=1.0, cap=30.0, max_attempts=3))
    transport.offline = True
    final = await ctl.upload()
    assert final.state is S.FAILED
    assert final.error_code == Err.RETRIES_EXHAUSTED.name and "offline" in (final.error or "")
    assert final.error and final.error.startswith("gave up after 4 tries")
    assert clock.sleeps == [0.5, 1.0, 2.0]
    again = await ctl.upload()  # the user retries: a whole new retry budget
    assert again.state is S.FAILED
    assert clock.sleeps == [0.5, 1.0, 2.0] * 2
    transport.offline = False
    assert (await ctl.upload()).state is S.FINISHED


async def test_offline_for_a_while_then_back_online_finishes() -> None:
    data = data_of(4 * CHUNK)
    clock = FakeClock(random=1.0)
    ctl, transport, _ = make(data, clock=clock, retry=RetryPolicy(base=1.0, cap=4.0, max_attempts=None))
    transport.offline = True

    def back_online(_: float) -> None:
        if len(clock.sleeps) == 6:
            transport.offline = False

    clock.on_sleep = back_online
    final = await ctl.upload()
    assert final.state is S.FINISHED
    assert clock.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]  # capped
    assert stored(transport, data) == data


class BlockedSleep:
    """A clock whose sleeps last until released: the controller must be woken by pause/retry_now."""

    def __init__(self) -> None:
        self.started = 0

    async def sleep(self, seconds: float) -> None:
        self.started += 1
        await asyncio.Event().wait()


async def test_pause_while_retrying_and_retry_now() -> None:
    from frontend.engine.ports import Clock

    data = data_of(2 * CHUNK)
    blocked = BlockedSleep()
    transport = MemoryTransport()
    ctl = UploadController(
        BytesSource(data),
        transport,
        base_url=BASE,
        config=UploadConfig(chunk_size=CHUNK),
        clock=Clock(sleep=blocked.sleep, random=lambda: 0.5),
    )
    transport.offline = True
    ctl.start()
    await until(lambda: ctl.state is S.RETRYING and blocked.started == 1, "waiting to retry")
    assert ctl.snapshot.retry_in == 0.5
    ctl.pause()
    assert (await ctl.wait()).state is S.PAUSED
    ctl.resume()
    await until(lambda: blocked.started == 2, "waiting to retry again")
    transport.offline = False
    ctl.retry_now()  # e.g. the browser's "online" event
    assert (await ctl.wait()).state is S.FINISHED


async def test_a_file_changed_after_hashing_fails_cleanly() -> None:
    data = data_of(3 * CHUNK)
    ctl, transport, _ = make(data)
    await ctl.prepare()
    ctl.source.data = data[:CHUNK] + bytes(CHUNK) + data[2 * CHUNK :]  # type: ignore[attr-defined]
    final = await ctl.upload()
    assert final.state is S.FAILED and final.error_code == Err.FILE_CHANGED.name
    assert stored(transport, data) is None


async def test_a_file_changed_after_hashing_is_caught_before_sending_with_verify_chunks() -> None:
    data = data_of(3 * CHUNK)
    ctl, transport, _ = make(data, verify_chunks=True)
    await ctl.prepare()
    ctl.source.data = data[:CHUNK] + bytes(CHUNK) + data[2 * CHUNK :]  # type: ignore[attr-defined]
    final = await ctl.upload()
    assert final.state is S.FAILED and final.error_code == Err.FILE_CHANGED.name
    assert 1 not in sent_indices(transport)  # the changed chunk never left
    for req in transport.chunk_requests:  # bytes read and checked by the engine, not a range
        assert isinstance(req.body, FormBody) and isinstance(req.body.parts[2], FilePart)
        assert isinstance(req.body.parts[2].data, bytes)


async def test_a_chunk_damaged_on_the_way_is_the_only_one_sent_again() -> None:
    data = data_of(3 * CHUNK)
    ctl, transport, _ = make(data)
    transport.inject(Fault("corrupt", UPLOAD_PATH, chunk_index=1))
    await ctl.prepare()
    reads = ctl.source.reads  # type: ignore[attr-defined]
    final = await ctl.upload()
    assert final.state is S.FINISHED and stored(transport, data) == data
    assert sorted(sent_indices(transport)) == [0, 1, 1, 2]
    # Each chunk read once by the transport as it was sent (chunk 1 twice), and chunk 1 once to check it
    # when the server named it damaged.
    assert ctl.source.reads - reads == 4 + 1  # type: ignore[attr-defined]


async def test_damaged_chunks_found_by_the_handshake_are_sent_again() -> None:
    """Every chunk stored but the file not assembled (a server that stopped just before): the handshake
    assembles it, finds chunk 1 damaged (422 CHUNKS_DAMAGED), and the engine handshakes again and sends it."""
    data = data_of(3 * CHUNK)
    ctl, transport, _ = make(data)
    plan = await hash_file(BytesSource(data), chunk_size=CHUNK)
    chunks = [data[c.start : c.end] for c in plan.chunks]
    chunks[1] = bytes(CHUNK)
    transport.server.uploads[plan.file_id] = [
        MemoryUpload(list(plan.chunk_ids), ".bin", None, dict(enumerate(chunks)))
    ]
    final = await ctl.upload()
    assert final.state is S.FINISHED and stored(transport, data) == data
    assert sent_indices(transport) == [1]
    assert transport.server.handshakes == 2


async def test_a_file_that_cannot_be_read_while_sending_fails_with_read_failed() -> None:
    class Breaks(BytesSource):
        broken = False

        async def read(self, start: int, end: int) -> bytes:
            if self.broken:
                raise OSError("NotReadableError")
            return await super().read(start, end)

    data = data_of(3 * CHUNK)
    source = Breaks(data)
    transport = MemoryTransport()
    ctl = UploadController(source, transport, base_url=BASE, config=UploadConfig(chunk_size=CHUNK))
    await ctl.prepare()
    source.broken = True  # the transport's read fails (a fetch that could not read its body): no answer
    final = await ctl.upload()
    assert final.state is S.FAILED and final.error_code == Err.READ_FAILED.name
    assert transport.server.chunks_received == []
    source.broken = False
    assert (await ctl.upload()).state is S.FINISHED


async def test_a_source_that_knows_its_file_changed_says_so() -> None:
    class Snapshot(BytesSource):
        """Like a browser File: reads fail once the file on disk is not the one chosen."""

        changed = False

        async def read(self, start: int, end: int) -> bytes:
            if self.changed:
                raise EngineError(Err.FILE_CHANGED, "NotReadableError")
            return await super().read(start, end)

    data = data_of(3 * CHUNK)
    source = Snapshot(data)
    transport = MemoryTransport()
    ctl = UploadController(source, transport, base_url=BASE, config=UploadConfig(chunk_size=CHUNK))
    await ctl.prepare()
    source.changed = True
    final = await ctl.upload()
    assert final.state is S.FAILED and final.error_code == Err.FILE_CHANGED.name
    assert transport.server.chunks_received == []


async def test_a_network_error_with_a_readable_file_is_retried() -> None:
    data = data_of(3 * CHUNK)
    ctl, transport, _ = make(data)
    transport.inject(Fault("network", UPLOAD_PATH, chunk_index=2))
    final = await ctl.upload()
    assert final.state is S.FINISHED and stored(transport, data) == data


async def test_an_unreadable_file_fails_with_read_failed_and_can_be_retried() -> None:
    class Flaky(BytesSource):
        broken = True

        async def read(self, start: int, end: int) -> bytes:
            if self.broken:
                raise OSError("NotReadableError")
            return await super().read(start, end)

    data = data_of(2 * CHUNK)
    source = Flaky(data)
    transport = MemoryTransport()
    ctl = UploadController(source, transport, base_url=BASE, config=UploadConfig(chunk_size=CHUNK))
    final = await ctl.upload()
    assert final.state is S.FAILED and final.error_code == Err.READ_FAILED.name
    source.broken = False
    assert (await ctl.upload()).state is S.FINISHED  # FAILED -> HASHING: the user retried


async def test_a_listener_that_raises_does_not_break_the_upload() -> None:
    data = data_of(2 * CHUNK)
    ctl, _, _ = make(data)

    def bad(_: UploadSnapshot) -> None:
        raise RuntimeError("view bug")

    seen: list[UploadSnapshot] = []
    ctl.subscribe(bad)
    unsubscribe = ctl.subscribe(seen.append)
    assert seen[0].state is S.CHOSEN  # subscribing gives the current snapshot at once
    assert (await ctl.upload()).state is S.FINISHED
    count = len(seen)
    unsubscribe()
    assert count > 2


# --------------------------------------------------------------------------------------------- progress


async def test_speed_and_eta_from_the_injected_clock() -> None:
    data = data_of(4 * CHUNK)
    clock = FakeClock()
    transport = MemoryTransport(sleep=clock.sleep)
    transport.inject(Fault("delay", path=UPLOAD_PATH, seconds=1.0, times=None))  # 1 chunk per second
    ctl, _, snaps = make(data, transport, clock=clock, parallel=1, max_parallel=1, speed_window=10.0)
    assert (await ctl.upload()).state is S.FINISHED
    three = next(s for s in snaps if s.state is S.UPLOADING and s.chunks_done == 3)
    assert three.speed == pytest.approx(CHUNK)  # bytes per second
    assert three.eta == pytest.approx(1.0)  # one chunk left
    assert (three.chunk_percent, three.percent) == (75, 75.0)
    assert snaps[-1].speed is None and snaps[-1].eta is None  # finished: nothing to estimate


async def test_hashing_progress_is_reported() -> None:
    data = data_of(5 * CHUNK)
    ctl, _, snaps = make(data, hash_block_size=CHUNK)
    await ctl.prepare()
    hashing = [s.hash_percent for s in snaps if s.state is S.HASHING]
    assert hashing[:5] == [0.0, 20.0, 40.0, 60.0, 80.0]
    assert snaps[-1].hash_percent == 100.0 and snaps[-1].hashed_bytes == len(data)


class EmptyListServer(MemoryServer):
    """A server answering the handshake with [] for a stored file (the seed's client then shows the link)."""

    def handle(self, req):  # type: ignore[no-untyped-def]
        resp = super().handle(req)
        if isinstance(resp.json_body, dict) and isinstance(resp.json_body.get("data"), str):
            return type(resp)(200, {"code": 0, "msg": "", "data": []})
        return resp


async def test_a_handshake_answering_an_empty_list_means_finished_like_the_seed() -> None:
    data = data_of(2 * CHUNK)
    transport = MemoryTransport(EmptyListServer())
    first, _, _ = make(data, transport, name="a.txt")
    assert (await first.upload()).state is S.FINISHED
    again, _, _ = make(data, transport, name="a.txt")
    final = await again.upload()
    assert final.state is S.FINISHED
    assert final.url == f"{BASE}/upload/{hashlib.md5(data).hexdigest()}.txt?name=a.txt"
    assert len(transport.chunk_requests) == 2


async def test_cancel_while_a_resume_waits_for_the_paused_run_aborts_both() -> None:
    data = data_of(4 * CHUNK)
    ctl, transport, _ = make(data, parallel=2)
    transport.gate = asyncio.Event()
    ctl.start()
    await until(lambda: transport.chunks_in_flight == 2, "2 chunks in flight")
    ctl.pause()
    ctl.resume()
    snap = await ctl.cancel()
    assert snap.state is S.PAUSED
    await until(lambda: transport.chunks_in_flight == 0, "the aborted requests ended")
    assert transport.server.chunks_received == []


async def test_a_pause_right_after_continue_sends_nothing() -> None:
    data = data_of(4 * CHUNK)
    ctl, transport, _ = make(data, parallel=1)
    transport.gate = asyncio.Event()
    ctl.start()
    await until(lambda: transport.chunks_in_flight == 1, "a chunk in flight")
    ctl.pause()
    transport.gate.set()
    assert (await ctl.wait()).state is S.PAUSED
    requests = len(transport.requests)
    ctl.resume()
    ctl.pause()  # before the continued run has asked the server anything
    assert (await ctl.wait()).state is S.PAUSED
    assert len(transport.requests) == requests
    assert (await ctl.upload()).state is S.FINISHED
