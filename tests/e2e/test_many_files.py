"""Several files at once: each row has its own progress and its own pause/continue.

"Chunks sent" are the ``POST /api/upload`` requests counted by the route handler as they leave the browser.
Every test ends by comparing each stored file's MD5 with its source's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import CDPSession, expect

from tests.e2e.harness import MiB, Net, UploaderPage, chunk_ids_of_file, fetch_md5, md5_of, throttle

pytestmark = pytest.mark.e2e


def test_three_files_at_once_one_paused_and_continued(
    uploader: UploaderPage, cdp: CDPSession, files: Callable[..., Path], net: Net
) -> None:
    sources = [files(f"{name}.bin", 6 * MiB + n * 1000, seed=30 + n) for n, name in enumerate("abc")]
    # Shared by all requests: the 9 chunks in flight (3 per file) are confirmed together, about 4.5 s in.
    throttle(cdp, 2 * MiB)
    uploader.choose(*sources)  # one choice, three files
    for source in sources:
        expect(uploader.row(source.name)).to_have_count(1)

    uploader.wait_percent("b.bin", 1)  # b's first chunks are stored and 3 more are in flight
    uploader.toggle("b.bin")  # pause b only: those 3 finish, the last ones wait
    uploader.wait_state("b.bin", "pause", timeout_ms=5_000)
    links = {s.name: uploader.wait_finished(s.name) for s in (sources[0], sources[2])}
    # a and c finished while b stayed paused, part-way.
    assert uploader.state("b.bin") == "pause"
    assert uploader.percent("b.bin") < 100

    uploader.toggle("b.bin")  # continue
    links["b.bin"] = uploader.wait_finished("b.bin")
    for source in sources:
        assert fetch_md5(links[source.name]) == md5_of(source)
        assert sorted(net.posted(md5_of(source))) == sorted(chunk_ids_of_file(source)), "each chunk once"
