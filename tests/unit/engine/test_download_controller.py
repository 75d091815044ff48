"""The download controller over the in-memory file server and partial file: the whole flow, parallelism,
memory, pause/continue, resuming from the journal after a crash, and every failure path (network, a body cut
short or stalled, 5xx, 4xx, the file replaced, damaged segments with and without the server's digests, no
space)."""

from __future__ import annotations

import asyncio
import hashlib
import random

import pytest

from frontend.engine.download_journal import decode
from frontend.engine.download_plan import SegmentPlan
from frontend.engine.download_ports import DownloadSnapshot
from frontend.engine.download_state import DownloadState
from frontend.engine.download_verify import BLOCK_SIZE
from frontend.engine.downloader import DownloadConfig, DownloadController
from frontend.engine.errors import Err, IllegalTransition
from frontend.engine.retry import RetryPolicy
from tests.support.download_doubles import (
    DFault,
    MemoryFileServer,
    MemoryPartialFile,
    MemorySpace,
    MemoryStreamTransport,
)
from tests.support.engine_doubles import FakeClock, until

S = DownloadState
SEG = 4000  # small segments keep these tests fast
PIECE = 1000
BASE = "http://files.test"
URL = BASE + "/download/a.bin"


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


class Rig:
    """One download: its server, transport, partial file, snapshots."""

    def __init__(
        self,
        data: bytes,
        url: str = URL,
        *,
        file: MemoryPartialFile | None = None,
        transport: MemoryStreamTransport | None = None,
        space: MemorySpace | None = None,
        clock: FakeClock | None = None,
        **config: object,
    ) -> None:
        self.transport = transport or MemoryStreamTransport(MemoryFileServer(), piece_size=PIECE)
        self.server = self.transport.server
        self.url = url
        path = url.removeprefix(BASE).partition("?")[0]
        if path not in self.server.files:
            self.server.put(path, data, name=url.rsplit("/", 1)[-1].partition("?")[0])
        self.file = file or MemoryPartialFile()
        self.clock = clock or FakeClock()
        self.snaps: list[DownloadSnapshot] = []
        config.setdefault("segment_size", SEG)
        config.setdefault("retry", RetryPolicy(base=1.0, cap=4.0, max_attempts=None))
        self.ctl = DownloadController(
            url,
            self.transport,
            self.file,
            space=space,
            config=DownloadConfig(**config),  # type: ignore[arg-type]
            clock=self.clock.clock(),
            wall_ms=lambda: 1.0,
            listener=self.snaps.append,
        )

    def states(self) -> list[DownloadState]:
        out: list[DownloadState] = []
        for snap in [self.ctl.snapshot, *self.snaps] if not self.snaps else self.snaps:
            if not out or out[-1] is not snap.state:
                out.append(snap.state)
        return out

    def fetched_starts(self) -> list[int]:
        """The start of every segment request, in order, repeats included."""
        return [
            int(r.headers["range"].removeprefix("bytes=").partition("-")[0])
            for r in self.transport.segment_requests
            if "range" in r.headers
        ]

    def delivered(self) -> bytes:
        assert len(self.file.delivered) == 1, self.file.delivered
        return self.file.delivered[0][1]


# --------------------------------------------------------------------------------------------- the flow


async def test_downloads_a_file_segment_by_segment_and_hands_it_over_verified() -> None:
    data = data_of(5 * SEG + 123)
    rig = Rig(data)
    final = await rig.ctl.download()
    assert final.state is S.FINISHED
    assert rig.delivered() == data
    assert rig.file.delivered[0][0] == "a.bin"
    assert final.verified == ("sha-256",)
    assert (final.bytes_done, final.bytes_total, final.percent, final.segments_total) == (
        len(data),
        len(data),
        100.0,
        6,
    )
    assert sorted(rig.fetched_starts()) == [i * SEG for i in range(6)]  # each segment exactly once
    assert rig.states() == [S.CHECKING, S.DOWNLOADING, S.VERIFYING, S.FINISHED]
    done = [s.bytes_done for s in rig.snaps]
    assert done == sorted(done)  # progress never goes back when nothing fails
    journal = decode(rig.file.journal_text or "")
    assert journal is not None and journal.finished and journal.done == set(range(6))
    assert rig.file.commits == 6 + 1  # one per segment, and the finished journal
    for req in rig.transport.segment_requests:
        assert req.headers["if-range"] == rig.server.files["/download/a.bin"].etag
        assert req.headers["want-content-digest"] == "sha-256=10"


async def test_an_uploaded_file_is_checked_against_its_md5_too_and_named_by_the_server() -> None:
    data = data_of(2 * SEG)
    md5 = hashlib.md5(data).hexdigest()
    rig = Rig(data, f"{BASE}/upload/{md5}.bin?name=%E6%8A%A5%E5%91%8A.bin")
    rig.server.files[f"/upload/{md5}.bin"].name = "报告.bin"
    final = await rig.ctl.download()
    assert final.state is S.FINISHED and final.verified == ("sha-256", "md5")
    assert final.name == "报告.bin" and rig.file.delivered[0][0] == "报告.bin"


@pytest.mark.parametrize("size", [0, 1, SEG, SEG + 1])
async def test_edge_sizes(size: int) -> None:
    data = data_of(size, seed=size)
    rig = Rig(data)
    final = await rig.ctl.download()
    assert final.state is S.FINISHED and final.percent == 100.0
    assert rig.delivered() == data
    assert len(rig.transport.segment_requests) == -(-size // SEG)


@pytest.mark.parametrize("parallel", [1, 3, 5])
async def test_at_most_parallel_requests_and_one_piece_per_write(parallel: int) -> None:
    data = data_of(12 * SEG)
    rig = Rig(data, parallel=parallel)
    assert (await rig.ctl.download()).state is S.FINISHED
    assert rig.transport.max_in_flight == parallel
    assert max(s.in_flight for s in rig.snaps) == parallel
    # Memory: the engine writes each piece as it arrives; it never gathers a segment, and reads back at most
    # one (its Content-Digest check) at a time per lane.
    assert rig.file.largest_write == PIECE
    assert rig.file.largest_read <= max(SEG, BLOCK_SIZE)  # (the whole file's digest reads a block at a time)


async def test_a_server_without_ranges_sends_the_file_in_one_answer() -> None:
    data = data_of(3 * SEG)
    rig = Rig(data)
    rig.server.ranges = False
    final = await rig.ctl.download()
    assert final.state is S.FINISHED and rig.delivered() == data
    assert len(rig.transport.segment_requests) == 1
    assert "range" not in rig.transport.segment_requests[0].headers


async def test_the_default_config() -> None:
    config = DownloadConfig()
    assert (config.segment_size, config.parallel) == (8 * 1024 * 1024, 3)
    with pytest.raises(ValueError):
        DownloadConfig(parallel=0)
    with pytest.raises(ValueError):
        DownloadConfig(segment_size=0)


# ----------------------------------------------------------------------------------------- pause / continue


async def test_pause_lets_segments_in_flight_land_and_continue_fetches_only_the_rest() -> None:
    data = data_of(10 * SEG)
    rig = Rig(data, parallel=3)
    rig.transport.gate = asyncio.Event()
    rig.ctl.start()
    await until(lambda: rig.transport.in_flight == 3, "3 segments in flight")
    rig.ctl.pause()
    assert rig.ctl.state is S.PAUSED  # at once
    rig.transport.gate.set()
    paused = await rig.ctl.wait()
    assert paused.state is S.PAUSED and paused.segments_done == 3
    assert len(rig.transport.segment_requests) == 3
    rig.ctl.pause()  # again: harmless
    final = await rig.ctl.download()
    assert final.state is S.FINISHED and rig.delivered() == data
    assert sorted(rig.fetched_starts()) == [i * SEG for i in range(10)]
    assert len(rig.transport.probes) == 2  # continuing checks the file again


async def test_continue_while_pausing_goes_on_in_the_same_run_and_pause_again_calls_it_off() -> None:
    data = data_of(6 * SEG)
    rig = Rig(data, parallel=2)
    rig.transport.gate = asyncio.Event()
    rig.ctl.start()
    await until(lambda: rig.transport.in_flight == 2, "2 in flight")
    rig.ctl.pause()
    rig.ctl.resume()
    rig.ctl.pause()
    rig.ctl.resume()
    assert rig.ctl.state is S.PAUSED
    rig.transport.gate.set()
    assert (await rig.ctl.wait()).state is S.FINISHED
    assert len(rig.transport.probes) == 1


async def test_a_pause_while_checking_waits_for_the_probe_then_rests() -> None:
    data = data_of(3 * SEG)
    rig = Rig(data)
    rig.transport.on_request = lambda req: rig.ctl.pause() if "if-range" not in req.headers else None
    paused = await rig.ctl.download()
    assert paused.state is S.PAUSED and rig.transport.segment_requests == []
    rig.transport.on_request = None
    assert (await rig.ctl.download()).state is S.FINISHED and rig.delivered() == data


async def test_pause_then_continue_while_checking_goes_on() -> None:
    data = data_of(3 * SEG)
    rig = Rig(data)

    def pause_and_continue(req: object) -> None:
        if not rig.transport.segment_requests:
            rig.ctl.pause()
            rig.ctl.resume()

    rig.transport.on_request = pause_and_continue
    assert (await rig.ctl.download()).state is S.FINISHED and rig.delivered() == data


async def test_illegal_calls() -> None:
    rig = Rig(data_of(SEG))
    with pytest.raises(IllegalTransition):
        rig.ctl.pause()  # nothing started
    await rig.ctl.download()
    with pytest.raises(IllegalTransition):
        rig.ctl.start()  # finished: discard it, or make a new one


# --------------------------------------------------------------------------------------- resume from disk


async def test_after_a_crash_only_the_missing_segments_are_fetched_again() -> None:
    data = data_of(20 * SEG)
    file = MemoryPartialFile()
    before = Rig(data, file=file, parallel=3)
    before.transport.gate = asyncio.Event()
    landed = asyncio.Event()
    before.ctl.subscribe(lambda s: landed.set() if s.segments_done >= 7 else None)
    before.ctl.start()
    before.transport.gate.set()
    await landed.wait()
    await before.ctl.cancel()  # the page goes away: requests in flight are aborted
    file.crash()  # and what was not flushed is lost
    journal = decode(file.journal_text or "")
    assert journal is not None and len(journal.done) >= 7
    for index in journal.done:  # the journal lists only durable bytes
        segment = SegmentPlan(len(data), SEG).segment(index)
        assert bytes(file.durable[segment.start : segment.end]) == data[segment.start : segment.end]
    sent_before = before.transport.bytes_sent

    after = Rig(data, file=file, transport=before.transport, parallel=3)
    before.transport.requests.clear()
    final = await after.ctl.download()
    assert final.state is S.FINISHED and after.delivered() == data
    assert sorted(after.fetched_starts()) == [i * SEG for i in range(20) if i not in journal.done]
    # The whole exchange: the file once, plus at most what was in flight when the page went away.
    assert before.transport.bytes_sent <= len(data) + 3 * SEG
    assert sent_before > 0


async def test_a_download_resumed_by_a_page_cutting_otherwise_goes_on_cut_as_it_was() -> None:
    data = data_of(12 * SEG + 5)
    file = MemoryPartialFile()
    before = Rig(data, file=file, parallel=2)
    landed = asyncio.Event()
    before.ctl.subscribe(lambda s: landed.set() if s.segments_done >= 5 else None)
    before.ctl.start()
    await landed.wait()
    await before.ctl.cancel()
    journal = decode(file.journal_text or "")
    assert journal is not None and journal.segment_size == SEG and len(journal.done) >= 5

    after = Rig(data, file=file, transport=before.transport, parallel=2, segment_size=4 * SEG)
    before.transport.requests.clear()
    final = await after.ctl.download()
    assert final.state is S.FINISHED and after.delivered() == data
    assert file.discards == 0  # nothing fetched before was thrown away
    assert sorted(after.fetched_starts()) == [i * SEG for i in range(13) if i not in journal.done]


async def test_a_journal_of_another_version_is_discarded() -> None:
    data = data_of(4 * SEG)
    file = MemoryPartialFile()
    first = Rig(data, file=file)
    await first.ctl.download()
    first.server.put("/download/a.bin", data_of(3 * SEG, seed=9))  # replaced since
    again = Rig(data, file=file, transport=first.transport)
    final = await again.ctl.download()
    assert final.state is S.FINISHED
    assert file.delivered[-1][1] == data_of(3 * SEG, seed=9)
    assert file.discards == 1


async def test_discard_removes_the_partial_file() -> None:
    rig = Rig(data_of(6 * SEG))
    rig.transport.gate = asyncio.Event()
    rig.ctl.start()
    await until(lambda: rig.transport.in_flight > 0, "a segment in flight")
    final = await rig.ctl.discard()
    assert final.state is S.DISCARDED
    assert not rig.file.exists and rig.file.journal_text is None
    assert rig.transport.in_flight == 0  # aborted


# ---------------------------------------------------------------------------------------------- failures


async def test_network_errors_and_5xx_are_retried_with_backoff_keeping_what_landed() -> None:
    data = data_of(6 * SEG)
    rig = Rig(data, parallel=1)
    rig.transport.inject(
        DFault("network", start=2 * SEG), DFault("status", start=4 * SEG, status=503), DFault("network")
    )
    final = await rig.ctl.download()
    assert final.state is S.FINISHED and rig.delivered() == data
    assert S.RETRYING in rig.states()
    assert rig.clock.sleeps == [0.5, 0.5, 0.5]  # each failure came after progress: the first wait again
    starts = rig.fetched_starts()
    assert sorted(set(starts)) == [i * SEG for i in range(6)]
    assert starts.count(2 * SEG) == 2 and starts.count(4 * SEG) == 2 and starts.count(0) == 1


async def test_a_body_cut_short_or_stalled_is_fetched_again() -> None:
    data = data_of(3 * SEG)
    rig = Rig(data, parallel=1, stall_timeout=0.05)
    rig.transport.inject(DFault("cut", start=SEG, after=1500), DFault("stall", start=2 * SEG, after=500))
    final = await rig.ctl.download()
    assert final.state is S.FINISHED and rig.delivered() == data
    assert rig.fetched_starts() == [0, SEG, SEG, 2 * SEG, 2 * SEG]
    retrying = [s for s in rig.snaps if s.state is S.RETRYING]
    assert retrying and retrying[0].error_code == "NETWORK"


async def test_retries_give_up_when_told_to() -> None:
    rig = Rig(data_of(SEG), retry=RetryPolicy(base=1.0, cap=1.0, max_attempts=2))
    rig.transport.offline = True
    final = await rig.ctl.download()
    assert final.state is S.FAILED and final.error_code == "RETRIES_EXHAUSTED"
    rig.transport.offline = False
    assert (await rig.ctl.download()).state is S.FINISHED  # the user retries


async def test_retry_now_cuts_the_wait_short() -> None:
    rig = Rig(data_of(2 * SEG))
    rig.transport.offline = True
    rig.clock.on_sleep = lambda _: None
    never = asyncio.Event()

    async def long_sleep(seconds: float) -> None:
        rig.clock.sleeps.append(seconds)
        await never.wait()

    rig.ctl.clock = type(rig.ctl.clock)(now=rig.clock.now, sleep=long_sleep, random=lambda: 0.5)
    rig.ctl.start()
    await until(lambda: rig.ctl.state is S.RETRYING, "retrying")
    rig.transport.offline = False
    rig.ctl.retry_now()  # the window's "online" event
    assert (await rig.ctl.wait()).state is S.FINISHED


async def test_a_missing_file_fails_with_the_servers_message() -> None:
    rig = Rig(data_of(SEG))
    rig.ctl.url = BASE + "/download/gone.bin"
    final = await rig.ctl.download()
    assert final.state is S.FAILED
    assert (final.error_code, final.error) == ("NOT_FOUND", "no such file")
    assert rig.file.resets == 0 and not rig.file.exists


async def test_a_file_replaced_mid_download_starts_over_and_delivers_the_new_file_whole() -> None:
    old, new = data_of(8 * SEG, seed=1), data_of(7 * SEG + 5, seed=2)
    rig = Rig(old, parallel=2)
    rig.transport.inject(DFault("replace", start=3 * SEG, data=new))
    final = await rig.ctl.download()
    assert final.state is S.FINISHED
    assert rig.delivered() == new  # never a splice of the two
    assert final.restarts == 1 and final.verified == ("sha-256",)
    assert rig.file.discards == 1


async def test_a_file_that_keeps_changing_fails() -> None:
    rig = Rig(data_of(4 * SEG), parallel=1, max_restarts=2)
    rig.transport.inject(DFault("replace", start=SEG, times=5, data=data_of(4 * SEG, seed=10)))
    final = await rig.ctl.download()
    assert final.state is S.FAILED and final.error_code == "FILE_KEEPS_CHANGING"


async def test_a_damaged_segment_is_fetched_again_alone_when_the_server_sends_content_digest() -> None:
    data = data_of(6 * SEG)
    rig = Rig(data, parallel=2)
    rig.transport.inject(DFault("corrupt", start=3 * SEG))
    final = await rig.ctl.download()
    assert final.state is S.FINISHED and rig.delivered() == data
    assert final.refetched == 1 and final.restarts == 0
    assert rig.fetched_starts().count(3 * SEG) == 2
    assert len(rig.transport.segment_requests) == 7


async def test_a_segment_damaged_every_time_fails() -> None:
    rig = Rig(data_of(3 * SEG), parallel=1, max_refetches=2)
    rig.transport.inject(DFault("corrupt", start=SEG, times=10))
    final = await rig.ctl.download()
    assert final.state is S.FAILED and final.error_code == "SEGMENT_DAMAGED"
    assert rig.fetched_starts().count(SEG) == 3


async def test_without_content_digest_damage_is_found_by_the_whole_files_digest_and_it_starts_over() -> None:
    data = data_of(4 * SEG)
    rig = Rig(data, parallel=1)
    rig.server.content_digests = False
    rig.transport.inject(DFault("corrupt", start=2 * SEG))
    final = await rig.ctl.download()
    assert final.state is S.FINISHED and rig.delivered() == data
    assert final.restarts == 1 and final.verified == ("sha-256",)


async def test_a_file_that_never_matches_the_servers_digest_fails_after_a_few_tries() -> None:
    rig = Rig(data_of(2 * SEG), max_restarts=2)
    rig.server.repr_digest = "sha-256=:" + "A" * 43 + "=:"
    final = await rig.ctl.download()
    assert final.state is S.FAILED and final.error_code == "DOWNLOAD_MISMATCH"
    assert final.restarts == 3 and rig.file.delivered == [] and not rig.file.exists


async def test_without_any_digest_from_the_server_it_falls_back() -> None:
    """The server computes its digests in the background: until they are ready its answers have none. An
    uploaded file is still checked against the MD5 its link names; a file of the downloads folder is as sure
    as its ETag."""
    data = data_of(3 * SEG)
    plain = Rig(data)
    plain.server.digests_ready = plain.server.content_digests = False
    final = await plain.ctl.download()
    assert final.state is S.FINISHED and final.verified == () and plain.delivered() == data
    assert len(plain.transport.probes) == 2  # asked once more at the end, in case it was ready by then

    md5 = hashlib.md5(data).hexdigest()
    uploaded = Rig(data, f"{BASE}/upload/{md5}.bin")
    uploaded.server.digests_ready = uploaded.server.content_digests = False
    uploaded.transport.inject(DFault("corrupt", start=SEG))
    final = await uploaded.ctl.download()
    assert final.state is S.FINISHED and final.verified == ("md5",) and uploaded.delivered() == data
    assert final.restarts == 1


async def test_a_repr_digest_that_becomes_ready_during_the_download_is_used() -> None:
    data = data_of(4 * SEG)
    rig = Rig(data, parallel=1)
    rig.server.digests_ready = False

    def ready_later(req: object) -> None:
        if len(rig.transport.segment_requests) == 2:
            rig.server.digests_ready = True

    rig.transport.on_request = ready_later
    final = await rig.ctl.download()
    assert final.state is S.FINISHED and final.verified == ("sha-256",)
    assert len(rig.transport.probes) == 1  # seen on a segment's answer: no need to ask at the end


async def test_not_enough_space_fails_at_once_and_creates_nothing() -> None:
    data = data_of(5 * SEG)
    rig = Rig(data, space=MemorySpace(free=4 * SEG))
    final = await rig.ctl.download()
    assert final.state is S.FAILED and final.error_code == "NO_SPACE"
    assert "needs" in (final.error or "")
    assert rig.file.resets == 0 and not rig.file.exists and rig.transport.segment_requests == []
    assert rig.file.delivered == []


async def test_a_quota_refused_when_the_file_is_allocated_leaves_nothing() -> None:
    rig = Rig(data_of(5 * SEG), file=MemoryPartialFile(limit=SEG), space=MemorySpace(free=None))
    final = await rig.ctl.download()
    assert final.state is S.FAILED and final.error_code == "NO_SPACE"
    assert not rig.file.exists and rig.file.journal_text is None and rig.transport.segment_requests == []


async def test_a_storage_that_fails_fails_the_download() -> None:
    from frontend.engine.errors import EngineError

    rig = Rig(data_of(2 * SEG))
    rig.file.fail_writes = EngineError(Err.STORAGE_FAILED, "disk gone")
    final = await rig.ctl.download()
    assert (final.state, final.error_code, final.error) == (S.FAILED, "STORAGE_FAILED", "disk gone")
