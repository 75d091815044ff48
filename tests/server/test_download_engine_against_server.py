"""The pure download engine against the REAL server: a small aiohttp transport stands in for the browser's
fetch, an in-memory partial file for OPFS. Files of the downloads folder and uploaded files; resuming from
the journal with the server's own count of bytes sent; a file replaced mid-download; the server killed and
restarted mid-download; a missing file."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
from urllib.parse import quote

import aiohttp

from frontend.engine.download_journal import decode
from frontend.engine.download_state import DownloadState
from frontend.engine.downloader import DownloadConfig, DownloadController
from frontend.engine.retry import RetryPolicy
from tests.support.aiohttp_stream import AiohttpStreamTransport
from tests.support.download_doubles import MemoryPartialFile, MemorySpace
from tests.support.seed_protocol import SeedClient, plan
from tests.support.server_process import ServerProcess

S = DownloadState
MiB = 1024 * 1024
SEG = MiB
FAST_RETRY = RetryPolicy(base=0.05, cap=0.2, max_attempts=None)
_SENT = re.compile(r"^rt_download_bytes_total (\S+)$", re.MULTILINE)


def put(server: ServerProcess, name: str, data: bytes) -> str:
    """Write ``data`` to the downloads folder as a writer should (a complete file renamed over the old one);
    returns its URL."""
    folder = server.data_dir / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{name}.tmp"
    temp.write_bytes(data)
    os.replace(temp, folder / name)
    return f"{server.url}/download/{quote(name, safe='')}"


async def bytes_sent(http: aiohttp.ClientSession, server: ServerProcess) -> int:
    """The server's own count of download body bytes it answered (``/metrics``)."""
    async with http.get(server.url + "/metrics") as resp:
        found = _SENT.search(await resp.text())
    return int(float(found.group(1))) if found else 0


def controller(
    url: str, transport: AiohttpStreamTransport, file: MemoryPartialFile, **config: object
) -> DownloadController:
    config.setdefault("segment_size", SEG)
    config.setdefault("retry", FAST_RETRY)
    return DownloadController(
        url,
        transport,
        file,
        space=MemorySpace(free=None),
        config=DownloadConfig(**config),  # type: ignore[arg-type]
    )


async def test_a_file_of_the_downloads_folder_and_a_chinese_name(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = random.Random(1).randbytes(5 * SEG + 777)
    url = put(server, "报告 1.bin", data)
    file = MemoryPartialFile()
    transport = AiohttpStreamTransport(http)
    transport.gather = 3  # no body is read before three ranges are asked for at once
    final = await asyncio.wait_for(controller(url, transport, file, parallel=3).download(), 60)
    assert final.state is S.FINISHED, final.error
    assert file.delivered == [("报告 1.bin", data)]
    assert final.verified in ((), ("sha-256",))  # Repr-Digest is there once the server has computed it
    assert transport.max_in_flight == 3
    ranges = sorted(r.headers["range"] for r in transport.requests if r.headers.get("if-range"))
    assert ranges == sorted(f"bytes={i * SEG}-{min(len(data), (i + 1) * SEG) - 1}" for i in range(6))


async def test_the_server_digest_is_checked_once_it_is_ready(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = random.Random(2).randbytes(3 * SEG)
    url = put(server, "d.bin", data)
    first = await controller(url, AiohttpStreamTransport(http), MemoryPartialFile()).download()
    assert first.state is S.FINISHED
    await asyncio.sleep(0)
    async with http.head(url) as resp:
        ready = "Repr-Digest" in resp.headers
    again = await controller(url, AiohttpStreamTransport(http), MemoryPartialFile()).download()
    assert again.state is S.FINISHED
    if ready:  # the colleague's server computes it in the background; when it says so, it is checked
        assert again.verified == ("sha-256",)


async def test_an_uploaded_file_is_checked_against_its_md5_and_saved_under_its_name(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = random.Random(3).randbytes(2 * SEG + 5)
    planned = plan(data)
    stored = await SeedClient(http, server.url).upload(planned, ".bin", name="季度 报告.bin")
    link = stored.partition("?")[0] + "?name=" + quote("季度 报告.bin")  # as the uploader's link carries it
    file = MemoryPartialFile()
    final = await controller(link, AiohttpStreamTransport(http), file).download()
    assert final.state is S.FINISHED, final.error
    assert "md5" in final.verified
    assert file.delivered == [("季度 报告.bin", data)]
    assert hashlib.md5(file.delivered[0][1]).hexdigest() == planned.file_id


async def test_resuming_fetches_only_what_is_missing_by_the_servers_count(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = random.Random(4).randbytes(24 * SEG)
    url = put(server, "big.bin", data)
    file = MemoryPartialFile()
    transport = AiohttpStreamTransport(http)
    transport.hold_after = 10 * SEG  # hold the bodies once 10 segments' worth has been read
    first = controller(url, transport, file, parallel=3)
    first.start()
    await asyncio.wait_for(transport.held.wait(), 30)
    await first.cancel()  # the page goes away mid-download
    file.crash()
    journal = decode(file.journal_text or "")
    assert journal is not None and 7 <= len(journal.done) <= 10
    sent_before = await bytes_sent(http, server)

    second = controller(url, AiohttpStreamTransport(http), file, parallel=3)
    final = await second.download()
    assert final.state is S.FINISHED and file.delivered[-1][1] == data
    sent_after = await bytes_sent(http, server) - sent_before
    missing = len(data) - len(journal.done) * SEG
    # Only the missing part, plus the probes' bytes (one each).
    assert missing <= sent_after <= missing + 2, (missing, sent_after)
    total = await bytes_sent(http, server)
    assert total <= len(data) + 3 * SEG + 4  # the file once, plus at most what was in flight


async def test_a_file_replaced_mid_download_is_the_new_file_whole(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    old, new = random.Random(5).randbytes(12 * SEG), random.Random(6).randbytes(9 * SEG + 3)
    url = put(server, "moving.bin", old)
    file = MemoryPartialFile()
    transport = AiohttpStreamTransport(http)
    transport.hold_after = 4 * SEG
    ctl = controller(url, transport, file, parallel=2)
    ctl.start()
    await asyncio.wait_for(transport.held.wait(), 30)
    put(server, "moving.bin", new)
    transport.release.set()
    final = await ctl.wait()
    assert final.state is S.FINISHED, final.error
    assert file.delivered == [("moving.bin", new)]
    assert final.restarts >= 1


async def test_the_server_killed_and_restarted_mid_download(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    data = random.Random(7).randbytes(16 * SEG)
    url = put(server, "restart.bin", data)
    file = MemoryPartialFile()
    transport = AiohttpStreamTransport(http)
    transport.hold_after = 5 * SEG
    ctl = controller(url, transport, file, parallel=2)
    seen: set[DownloadState] = set()
    ctl.subscribe(lambda snap: seen.add(snap.state))
    ctl.start()
    await asyncio.wait_for(transport.held.wait(), 30)
    await asyncio.to_thread(server.kill)
    transport.release.set()  # the held bodies now find their connections gone
    await asyncio.sleep(0.3)
    await asyncio.to_thread(server.restart)
    final = await asyncio.wait_for(ctl.wait(), 60)
    assert final.state is S.FINISHED, final.error
    assert file.delivered == [("restart.bin", data)]
    assert S.RETRYING in seen  # it waited for the server by itself
    assert final.restarts == 0  # the same file: nothing thrown away


async def test_a_missing_file_fails_with_the_servers_message(
    server: ServerProcess, http: aiohttp.ClientSession
) -> None:
    file = MemoryPartialFile()
    final = await controller(
        server.url + "/download/nothing.bin", AiohttpStreamTransport(http), file
    ).download()
    assert final.state is S.FAILED
    assert final.error_code == "NOT_FOUND" and final.error == "no such file in the downloads folder"
    assert not file.exists
