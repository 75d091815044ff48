"""tus-js-client 4.3.1 (npm, pinned in tests/support/tus_js/) under node against the real server's ``/files/``.

Each test runs ``tests/support/tus_js/upload.mjs`` (``tests.support.tus_clients.NodeUpload``), which prints
every answer the client got, and checks what the client saw, what the server says about the upload (HEAD),
and the bytes the server then publishes at ``/upload/<md5><ext>`` (their MD5 must be the source's). The last
tests use ``parallelUploads: 4``, which is tus concatenation: four partial uploads sent at once, then a final
upload made of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.http_ranges import write_random_file
from tests.support.server_process import ServerProcess
from tests.support.tus_clients import MiB, NodeUpload, head_upload, published_md5, run_node_upload

RETRIES = [0, 100, 300, 1000]  # ms; tus-js-client retries 409, 423, 5xx and network errors with these


@pytest.fixture
def tus_server(make_server: Callable[..., ServerProcess]) -> Iterator[ServerProcess]:
    """A fresh server that must not log an error or a traceback while the clients use it."""
    server = make_server()
    yield server
    assert server.errors_logged() == []


def endpoint(server: ServerProcess) -> str:
    return f"{server.url}/files/"


def source(tmp_path: Path, name: str, size: int, seed: int) -> tuple[Path, str]:
    path = tmp_path / name
    return path, write_random_file(path, size, seed=seed)


def statuses(run: NodeUpload) -> list[tuple[str, int]]:
    return [(r["method"], r["status"]) for r in run.responses()]


@pytest.mark.parametrize("override", [False, True], ids=["PATCH", "X-HTTP-Method-Override"])
async def test_one_request_upload(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path, override: bool
) -> None:
    size = 3 * MiB + 1234
    path, md5 = source(tmp_path, "notes.txt", size, seed=1)
    run = await run_node_upload(
        endpoint=endpoint(tus_server),
        file=str(path),
        metadata={"filename": "notes.txt", "filetype": "text/plain"},
        overridePatchMethod=override,
    )
    final = run.events[-1]
    assert final["event"] == "success", run.transcript()
    assert statuses(run) == [("POST", 201), ("POST" if override else "PATCH", 204)]
    assert run.responses()[-1]["offset"] == str(size)
    assert final["url"].startswith(endpoint(tus_server))
    status, headers = await head_upload(http, final["url"])
    assert status == 200
    assert headers["Upload-Offset"] == headers["Upload-Length"] == str(size)
    assert headers["Tus-Resumable"] == "1.0.0" and headers["Cache-Control"] == "no-store"
    assert headers["Upload-Metadata"] == "filename bm90ZXMudHh0,filetype dGV4dC9wbGFpbg=="
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.txt") == md5


async def test_resume_in_a_new_process_by_fingerprint_after_an_abort(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """1 MiB chunks; the first client stops after 2 MiB; a second one finds the upload in tus-js-client's
    URL storage (the file's fingerprint), asks the server for its offset and sends only the rest."""
    size = 5 * MiB + 5
    path, md5 = source(tmp_path, "video.mp4", size, seed=2)
    storage = str(tmp_path / "tus-urls.json")
    common = {
        "endpoint": endpoint(tus_server),
        "file": str(path),
        "chunkSize": MiB,
        "metadata": {"filename": "video.mp4"},
        "urlStorage": storage,
        "retryDelays": RETRIES,
    }
    first = await run_node_upload(**common, abortAt=2 * MiB)
    aborted = first.events[-1]
    assert aborted["event"] == "aborted", first.transcript()
    assert first.accepted() == [MiB, 2 * MiB]
    status, headers = await head_upload(http, aborted["url"])
    assert (status, headers["Upload-Offset"], headers["Upload-Length"]) == (200, str(2 * MiB), str(size))

    second = await run_node_upload(**common)
    assert second.events[0] == {"event": "previous", "count": 1}, second.transcript()
    assert second.events[-1] == {"event": "success", "url": aborted["url"]}, second.transcript()
    head, *patches = second.responses()
    assert (head["method"], head["status"], head["offset"]) == ("HEAD", 200, str(2 * MiB))
    assert [(p["method"], p["status"]) for p in patches] == [("PATCH", 204)] * 4
    assert second.accepted() == [3 * MiB, 4 * MiB, 5 * MiB, size]
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.mp4") == md5


async def test_resume_from_the_upload_url_after_an_abort_during_a_request(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The first client aborts its third PATCH once it started sending it: the server keeps what arrived of
    it, if anything (node's http client is usually cut before any byte of the body left: the Uppy pause test
    cuts a body mid-way for real). A second client given the upload's URL (``uploadUrl``) continues from the
    server's offset, wherever that is, without creating another upload."""
    size = 4 * MiB + 77
    path, md5 = source(tmp_path, "data.bin", size, seed=3)
    common = {
        "endpoint": endpoint(tus_server),
        "file": str(path),
        "chunkSize": MiB,
        "metadata": {"filename": "data.bin"},
        "retryDelays": RETRIES,
    }
    first = await run_node_upload(**common, abortMidChunkAt=2 * MiB)
    aborted = first.events[-1]
    assert aborted["event"] == "aborted", first.transcript()
    assert first.accepted() == [MiB, 2 * MiB]

    second = await run_node_upload(**common, uploadUrl=aborted["url"])
    assert second.events[-1] == {"event": "success", "url": aborted["url"]}, second.transcript()
    assert not second.responses("POST"), "the second client must not create another upload"
    heads = second.responses("HEAD")
    assert heads and heads[0]["status"] == 200
    resumed_at = int(heads[-1]["offset"])
    assert 2 * MiB <= resumed_at <= 3 * MiB
    assert second.accepted()[-1] == size
    status, headers = await head_upload(http, aborted["url"])
    assert (status, headers["Upload-Offset"]) == (200, str(size))
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.bin") == md5


@pytest.mark.parametrize("chunk_size", [None, MiB], ids=["whole-file", "1MiB-chunks"])
async def test_creation_with_upload(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path, chunk_size: int | None
) -> None:
    """``uploadDataDuringCreation``: the first chunk travels in the POST that creates the upload."""
    size = 3 * MiB + 9
    path, md5 = source(tmp_path, "scan.pdf", size, seed=4)
    run = await run_node_upload(
        endpoint=endpoint(tus_server),
        file=str(path),
        chunkSize=chunk_size,
        metadata={"filename": "scan.pdf"},
        uploadDataDuringCreation=True,
    )
    assert run.events[-1]["event"] == "success", run.transcript()
    post, *patches = run.responses()
    assert (post["method"], post["status"]) == ("POST", 201)
    if chunk_size is None:
        assert post["offset"] == str(size) and patches == []
    else:
        assert post["offset"] == str(MiB)
        assert [(p["method"], p["status"]) for p in patches] == [("PATCH", 204)] * 3
        assert run.accepted() == [MiB, 2 * MiB, 3 * MiB, size]
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.pdf") == md5


async def test_deferred_length(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """``uploadLengthDeferred``: the file is read as a stream of unknown length; the server says
    ``Upload-Defer-Length: 1`` until the last PATCH tells the length.

    The size is not a multiple of the chunk size: with one that is, tus-js-client 4.3.1 waits forever for a
    last chunk after the stream ended and never sends the length (tus/tus-js-client#779, open)."""
    size = 3 * MiB + 321
    path, md5 = source(tmp_path, "stream.log", size, seed=5)
    run = await NodeUpload(
        {
            "endpoint": endpoint(tus_server),
            "file": str(path),
            "chunkSize": MiB,
            "metadata": {"filename": "stream.log"},
            "uploadLengthDeferred": True,
            "pauseAt": MiB,
        }
    ).start()
    try:
        paused = await run.wait_for("paused")
        status, headers = await head_upload(http, paused["url"])
        assert (status, headers["Upload-Offset"], headers["Upload-Defer-Length"]) == (200, str(MiB), "1")
        assert "Upload-Length" not in headers
        await run.go_on()
        final = await run.finish()
    finally:
        run.kill()
    assert final == {"event": "success", "url": paused["url"]}, run.transcript()
    assert run.accepted() == [MiB, 2 * MiB, 3 * MiB, size]
    assert run.responses()[-1]["status"] == 204
    status, headers = await head_upload(http, paused["url"])
    assert (headers["Upload-Offset"], headers["Upload-Length"]) == (str(size), str(size))
    assert "Upload-Defer-Length" not in headers
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.log") == md5


async def test_abort_true_terminates_the_upload(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """``abort(true)`` after the first chunk: tus-js-client sends DELETE; the upload is gone (HEAD 404, a
    PATCH 404) and nothing was published."""
    size = 3 * MiB
    path, md5 = source(tmp_path, "secret.bin", size, seed=6)
    run = await run_node_upload(
        endpoint=endpoint(tus_server),
        file=str(path),
        chunkSize=MiB,
        metadata={"filename": "secret.bin"},
        abortAt=MiB,
        terminate=True,
    )
    final = run.events[-1]
    assert final["event"] == "terminated", run.transcript()
    assert statuses(run) == [("POST", 201), ("PATCH", 204), ("DELETE", 204)]
    status, headers = await head_upload(http, final["url"])
    assert status == 404 and "Upload-Offset" not in headers
    append = {
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": str(MiB),
        "Content-Type": "application/offset+octet-stream",
    }
    async with http.patch(final["url"], data=b"x", headers=append) as answer:
        assert answer.status == 404
    async with http.get(f"{tus_server.url}/upload/{md5}.bin") as answer:
        assert answer.status == 404


async def test_upload_survives_a_server_kill_between_two_chunks(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The client stops after 2 MiB; the server is killed (SIGKILL) and restarted on the same port; the same
    ``Upload`` object's ``start()`` asks for the offset (HEAD) and goes on: what the server acknowledged
    survived the kill."""
    size = 4 * MiB + 1
    path, md5 = source(tmp_path, "after-crash.bin", size, seed=7)
    run = await NodeUpload(
        {
            "endpoint": endpoint(tus_server),
            "file": str(path),
            "chunkSize": MiB,
            "metadata": {"filename": "after-crash.bin"},
            "pauseAt": 2 * MiB,
            "retryDelays": RETRIES,
        }
    ).start()
    try:
        paused = await run.wait_for("paused")
        tus_server.restart()
        await run.go_on()
        final = await run.finish()
    finally:
        run.kill()
    assert final == {"event": "success", "url": paused["url"]}, run.transcript()
    heads = run.responses("HEAD")
    assert (heads[0]["status"], heads[0]["offset"]) == (200, str(2 * MiB)), run.transcript()
    # After the restart the server may refuse the next PATCH with 423 while it folds the previous chunk into
    # the file in the background; tus-js-client retries 423 (after a HEAD), so the upload goes on.
    assert {r["status"] for r in run.responses("PATCH")} <= {204, 423}, run.transcript()
    assert run.accepted() == [MiB, 2 * MiB, 3 * MiB, 4 * MiB, size]
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.bin") == md5


PARTS = 4


def part_lengths(size: int, count: int = PARTS) -> list[int]:
    """How tus-js-client cuts a file for ``parallelUploads`` (``splitSizeIntoParts``): equal parts, the
    remainder in the last one."""
    each = size // count
    return [each] * (count - 1) + [size - each * (count - 1)]


def concatenation(run: NodeUpload) -> tuple[list[str], dict[str, Any]]:
    """The partial uploads tus-js-client created (their URLs) and the answer to the POST of the final one,
    checked: four partial creations, one final creation naming them all, sent after every append."""
    posts = run.responses("POST")
    partials = [p for p in posts if p["concat"] == "partial"]
    finals = [p for p in posts if p["concat"] != "partial"]
    assert [p["status"] for p in partials] == [201] * PARTS, run.transcript()
    urls = [p["location"] for p in partials]
    assert len(set(urls)) == PARTS and all(p["location"].startswith(p["url"]) for p in partials), urls
    assert len(finals) == 1, run.transcript()
    final = finals[0]
    assert final["status"] == 201 and final["location"], run.transcript()
    # "final followed by a semicolon and a space-separated list of the partial upload URLs", in the file's order
    kind, _, named = final["concat"].partition(";")
    assert kind == "final" and sorted(named.split()) == sorted(urls), final
    assert run.responses()[-1] == final, "the final upload is created once every partial upload is complete"
    return named.split(), final


async def check_partials(http: aiohttp.ClientSession, urls: list[str], size: int) -> None:
    """Each partial upload, as the server tells it: a complete partial upload, the parts in the file's order."""
    for url, length in zip(urls, part_lengths(size), strict=True):
        status, headers = await head_upload(http, url)
        assert status == 200, (url, status)
        assert headers["Upload-Concat"] == "partial"
        assert headers["Upload-Offset"] == headers["Upload-Length"] == str(length)


async def test_parallel_uploads_use_concatenation(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """``parallelUploads: 4``: four partial uploads (``Upload-Concat: partial``), each sent in one PATCH at the
    same time, then a final upload (``Upload-Concat: final;<urls>``) the server makes of them at once: its HEAD
    says it is complete, and the file published is the whole source."""
    size = 4 * MiB + 3
    path, md5 = source(tmp_path, "parallel.bin", size, seed=8)
    run = await run_node_upload(
        endpoint=endpoint(tus_server),
        file=str(path),
        metadata={"filename": "parallel.bin"},
        parallelUploads=PARTS,
    )
    final_event = run.events[-1]
    assert final_event["event"] == "success", run.transcript()
    partial_urls, final = concatenation(run)
    assert final_event["url"] == final["location"]
    patches = run.responses("PATCH")
    assert sorted(p["url"] for p in patches) == sorted(partial_urls), run.transcript()
    assert {p["status"] for p in patches} == {204}
    assert sorted(int(p["offset"]) for p in patches) == sorted(part_lengths(size))
    assert run.responses("HEAD") == []

    await check_partials(http, partial_urls, size)
    status, headers = await head_upload(http, final["location"])
    assert status == 200
    assert headers["Upload-Concat"] == final["concat"]  # "as received"
    assert headers["Upload-Offset"] == headers["Upload-Length"] == str(size)
    assert headers["Upload-Metadata"] == "filename cGFyYWxsZWwuYmlu"
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.bin") == md5


async def test_parallel_upload_survives_a_server_kill(
    tus_server: ServerProcess, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """``parallelUploads: 4`` in 256 KiB chunks: the client stops once the server accepted 1 MiB over all the
    parts (every part created, none complete); the server is killed (SIGKILL) and restarted on the same port;
    the same ``Upload`` object's ``start()`` resumes each partial upload from its URL (HEAD, then the rest),
    creates none again, and creates the final upload once all four are complete."""
    size = 4 * MiB + 3
    path, md5 = source(tmp_path, "parallel-crash.bin", size, seed=9)
    run = await NodeUpload(
        {
            "endpoint": endpoint(tus_server),
            "file": str(path),
            "chunkSize": MiB // 4,
            "metadata": {"filename": "parallel-crash.bin"},
            "parallelUploads": PARTS,
            "pauseAt": MiB,
            "retryDelays": RETRIES,
        }
    ).start()
    try:
        await run.wait_for("paused")
        created = [p["location"] for p in run.responses("POST") if p["status"] == 201]
        assert len(created) == PARTS, run.transcript()
        before = {}
        for url in created:
            status, headers = await head_upload(http, url)
            assert (status, headers["Upload-Concat"]) == (200, "partial")
            before[url] = int(headers["Upload-Offset"])
        assert MiB <= sum(before.values()) < size, before
        seen = len(run.events)
        tus_server.restart()
        after = {}
        for url in created:
            status, headers = await head_upload(http, url)
            assert status == 200, "a partial upload must survive the kill"
            after[url] = int(headers["Upload-Offset"])
            assert after[url] >= before[url], "an offset once answered never goes back"
        await run.go_on()
        final_event = await run.finish()
    finally:
        run.kill()
    assert final_event["event"] == "success", run.transcript()
    partial_urls, final = concatenation(run)
    assert sorted(partial_urls) == sorted(created), "no partial upload was created again"
    resumed = [e for e in run.events[seen:] if e["event"] == "response"]
    for url, length in zip(partial_urls, part_lengths(size), strict=True):
        # Each part first asked the server where it stands, then went on from there (not from 0).
        first, *rest = [(r["method"], r["status"], r["offset"]) for r in resumed if r["url"] == url]
        assert first == ("HEAD", 200, str(after[url])), run.transcript()
        appended = [int(offset) for method, status, offset in rest if (method, status) == ("PATCH", 204)]
        assert appended[0] == min(after[url] + MiB // 4, length) and appended[-1] == length, run.transcript()
    # A PATCH may meet 423 while the server folds a part's previous chunk in the background after the restart;
    # tus-js-client retries 423 (after a HEAD).
    assert {r["status"] for r in run.responses("PATCH")} <= {204, 423}, run.transcript()
    await check_partials(http, partial_urls, size)
    status, headers = await head_upload(http, final["location"])
    assert (status, headers["Upload-Offset"], headers["Upload-Length"]) == (200, str(size), str(size))
    assert await published_md5(http, f"{tus_server.url}/upload/{md5}.bin") == md5
