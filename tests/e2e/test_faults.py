"""Chunk requests that go wrong on the way: the client must notice and send the chunk again.

The route handler (``harness.Net``) sees each ``POST /api/upload`` as it leaves the browser; here it fails
one at the network level, or flips a byte of one chunk's bytes before letting it reach the server.
Every such test ends by comparing the stored file's MD5 with the source's. And a file that changes on disk
while it is being sent must fail with FILE_CHANGED, with nothing stored.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import CDPSession, Route

from tests.e2e.harness import (
    ChunkPost,
    MiB,
    Net,
    UploaderPage,
    chunk_ids_of_file,
    fetch_md5,
    md5_of,
    throttle,
)

pytestmark = pytest.mark.e2e


def test_a_chunk_request_failing_at_the_network_level_is_retried(
    uploader: UploaderPage, files: Callable[..., Path], net: Net
) -> None:
    source = files("flaky.bin", 4 * MiB + 5, seed=20)
    failed: list[str | None] = []

    def fail_the_second_chunk_once(route: Route, post: ChunkPost) -> bool:
        if len(net.chunk_posts) == 2 and not failed:
            failed.append(post.chunk_id)
            route.abort("connectionreset")  # no HTTP answer at all
            return True
        return False

    net.chunk_hook = fail_the_second_chunk_once
    uploader.choose(source)
    link = uploader.wait_finished("flaky.bin")
    assert fetch_md5(link) == md5_of(source)

    posted = net.posted(md5_of(source))
    assert failed and failed[0] in chunk_ids_of_file(source)
    assert posted.count(failed[0]) == 2, "the failed chunk was sent again"
    assert sorted(set(posted)) == sorted(chunk_ids_of_file(source))
    assert len(posted) == len(chunk_ids_of_file(source)) + 1, "no other chunk was sent twice"


def test_a_chunk_corrupted_in_flight_is_refused_on_arrival_and_sent_again_at_once(
    uploader: UploaderPage, files: Callable[..., Path], net: Net
) -> None:
    """The server checks the chunk as it arrives (422 CHUNK_MISMATCH): the page sends it again next, long
    before the file's last chunk, not after a failed assembly."""
    source = files("damaged.bin", 10 * MiB, seed=21)
    corrupted: list[str | None] = []

    def flip_a_byte_of_the_second_chunk(route: Route, post: ChunkPost) -> bool:
        if len(net.chunk_posts) == 2 and not corrupted and post.body:
            body = bytearray(post.body)
            data_start = body.index(b"\r\n\r\n", body.index(b'name="file"')) + 4
            body[data_start + 1000] ^= 0xFF  # inside the chunk's bytes; the size is unchanged
            corrupted.append(post.chunk_id)
            route.continue_(post_data=bytes(body))
            return True
        return False

    net.chunk_hook = flip_a_byte_of_the_second_chunk
    uploader.choose(source)
    link = uploader.wait_finished("damaged.bin")
    assert fetch_md5(link) == md5_of(source)

    assert corrupted, "the hook never ran"
    assert net.chunk_answers.count(422) == 1, net.chunk_answers  # 422 CHUNK_MISMATCH, for that chunk only
    posted = net.posted(md5_of(source))
    ids = chunk_ids_of_file(source)
    assert posted.count(corrupted[0]) == 2, "the refused chunk was sent again"
    assert len(posted) == len(ids) + 1, "no other chunk was sent twice"
    resent_at = len(posted) - 1 - posted[::-1].index(corrupted[0])
    assert resent_at < posted.index(ids[-1]), f"sent again only at the end: {posted}"


def test_a_file_changed_while_it_is_sent_fails_with_file_changed(
    uploader: UploaderPage, cdp: CDPSession, files: Callable[..., Path], net: Net
) -> None:
    """The page sends slices of the chosen ``File`` without reading them again: Chromium's ``File`` is a
    snapshot and fails the upload of a slice once the file on disk changed; the engine then reads the chunk
    to tell why, and stops with FILE_CHANGED. Nothing is stored (the server checks every chunk's MD5 too)."""
    source = files("changing.bin", 8 * MiB, seed=22)
    file_id = md5_of(source)
    throttle(cdp, 2 * MiB)  # about 4 s for the whole file: time to change it halfway
    uploader.choose(source)
    uploader.wait_percent("changing.bin", 1)

    with source.open("r+b") as disk:  # same size, other bytes in the last chunks, a later mtime
        disk.seek(6 * MiB)
        disk.write(bytes(2 * MiB))
    later = source.stat().st_mtime + 10
    os.utime(source, (later, later))

    uploader.wait_state("changing.bin", "failed", timeout_ms=60_000)
    error = uploader.row("changing.bin").locator(".upload-error")
    assert "the file changed" in error.inner_text(), error.inner_text()
    assert net.posted(file_id), "no chunk was sent before the change"
    with pytest.raises(urllib.error.HTTPError) as stored:  # no file was published under the old id
        urllib.request.urlopen(f"{uploader.base_url}/upload/{file_id}.bin", timeout=10)
    assert stored.value.code == 404
