"""Uploads through the page, start to end: sizes that matter, and a file the server already has.

Every test ends by comparing the MD5 of the file the server stores (fetched from the link the page shows)
with the source file's, and (``conftest.context``) by checking no request tried to leave the machine.
"Chunks sent" are the ``POST /api/upload`` requests the browser made, counted by the route handler as they
leave the browser (``harness.Net``); none is failed or altered here, so each reaches the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.harness import MiB, Net, UploaderPage, chunk_ids_of_file, fetch_md5, md5_of, seed_upload
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def check_stored(link: str, source: Path, ext: str) -> None:
    """The link is the server's ``/upload/<fileId><ext>`` (with the file's name, ``?name=``) and serves exactly
    the source's bytes."""
    md5 = md5_of(source)
    assert link.endswith(f"/upload/{md5}{ext}?name={quote(source.name)}"), link
    assert fetch_md5(link) == md5


def test_small_file_and_64_mib_file(uploader: UploaderPage, files: Callable[..., Path], net: Net) -> None:
    small = files("note.txt", 2_000, seed=1)
    big = files("big.bin", 64 * MiB, seed=2)

    uploader.choose(small)
    check_stored(uploader.wait_finished("note.txt"), small, ".txt")

    started = time.monotonic()
    uploader.choose(big)
    link = uploader.wait_finished("big.bin", timeout_ms=300_000)
    print(f"\n64 MiB through the page: {time.monotonic() - started:.1f} s from choosing to the link")
    check_stored(link, big, ".bin")
    big_id = md5_of(big)
    assert sorted(net.posted(big_id)) == sorted(chunk_ids_of_file(big)), "each chunk sent exactly once"
    assert uploader.percent("big.bin") == 100


def test_empty_file_and_exactly_three_mib(
    uploader: UploaderPage, files: Callable[..., Path], net: Net
) -> None:
    empty = files("empty.dat", 0)
    three = files("three.bin", 3 * MiB, seed=3)

    uploader.choose(empty)
    check_stored(uploader.wait_finished("empty.dat"), empty, ".dat")
    assert md5_of(empty) == EMPTY_MD5
    # The seed cuts an empty file into one empty chunk; its id is the MD5 of nothing followed by 0.
    assert net.posted(EMPTY_MD5) == [EMPTY_MD5 + "0"]

    uploader.choose(three)
    check_stored(uploader.wait_finished("three.bin"), three, ".bin")
    assert len(chunk_ids_of_file(three)) == 3  # no trailing empty chunk at an exact multiple
    assert sorted(net.posted(md5_of(three))) == sorted(chunk_ids_of_file(three))


def test_a_file_already_on_the_server_finishes_at_once(
    uploader: UploaderPage, server: ServerProcess, files: Callable[..., Path], net: Net
) -> None:
    source = files("known.bin", 2 * MiB + 123, seed=4)
    seed_upload(server.url, source.read_bytes(), ".bin")  # another client stored it before

    uploader.choose(source)
    link = uploader.wait_finished("known.bin")
    check_stored(link, source, ".bin")
    assert net.chunk_posts == [], "no chunk is sent for a file the server has"


def test_a_refused_file_stops_with_the_servers_message(
    page: Page, make_server: Callable[..., ServerProcess], files: Callable[..., Path], net: Net
) -> None:
    server = make_server("--max-file-bytes", str(MiB))
    uploader = UploaderPage(page, server.url)
    uploader.open()
    source = files("too-big.bin", 2 * MiB, seed=5)

    uploader.choose(source)
    uploader.wait_state("too-big.bin", "failed")
    error = uploader.row("too-big.bin").locator(".upload-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(f"the file is {2 * MiB} bytes; this server accepts at most {MiB} bytes")
    assert net.chunk_posts == [], "a 4xx is not retried"
