"""Uploads interrupted in the middle: by the user (pause), the network, the server, a reload.

Chromium's own throttling (DevTools ``Network.emulateNetworkConditions``, which applies to the page's worker)
makes each transfer last long enough to interrupt, with small files. "Chunks sent" are the
``POST /api/upload`` requests counted by the route handler as they leave the browser (``harness.Net``).
Every test ends by comparing the stored file's MD5 with the source's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import CDPSession, Page

from tests.e2e.harness import MiB, Net, UploaderPage, chunk_ids_of_file, fetch_md5, md5_of, throttle
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

RATE = 2 * MiB  # bytes per second upstream, shared by all requests: a 12 MiB file takes about 6 s
SIZE = 12 * MiB
# Throttled, the 3 chunks in flight share the bandwidth and are confirmed together: once the first ones
# are (the page shows a percent above 0), 3 more are in flight and at least half the file is not started.
STARTED = 1


def finish_and_check(uploader: UploaderPage, source: Path) -> None:
    link = uploader.wait_finished(source.name)
    assert fetch_md5(link) == md5_of(source)


def test_pause_then_continue(
    uploader: UploaderPage, cdp: CDPSession, page: Page, files: Callable[..., Path], net: Net
) -> None:
    source = files("paused.bin", SIZE, seed=10)
    throttle(cdp, RATE)
    uploader.choose(source)
    uploader.wait_percent("paused.bin", STARTED)

    uploader.toggle("paused.bin")  # pause
    uploader.wait_state("paused.bin", "pause", timeout_ms=5_000)  # at once, chunks in flight or not
    row = uploader.row("paused.bin")
    assert row.locator("button[data-action=toggle]").inner_text() == "Continue"
    # Chunks already in flight finish; then nothing more is sent while paused.
    page.wait_for_function("row => row.dataset.inFlight === '0'", arg=row.element_handle(), timeout=30_000)
    sent = len(net.chunk_posts)
    percent = uploader.percent("paused.bin")
    for _ in range(15):  # watch for 1.5 s: no chunk leaves, the bar does not move
        page.wait_for_timeout(100)
        assert len(net.chunk_posts) == sent
    assert uploader.state("paused.bin") == "pause"
    assert uploader.percent("paused.bin") == percent < 100

    uploader.toggle("paused.bin")  # continue
    finish_and_check(uploader, source)
    assert sorted(net.posted(md5_of(source))) == sorted(chunk_ids_of_file(source)), "no chunk sent twice"


def test_network_offline_then_back(
    uploader: UploaderPage, cdp: CDPSession, files: Callable[..., Path], net: Net
) -> None:
    source = files("offline.bin", SIZE, seed=11)
    throttle(cdp, RATE)
    uploader.choose(source)
    uploader.wait_percent("offline.bin", STARTED)

    throttle(cdp, RATE, offline=True)  # new requests fail; the ones in flight go on (Chromium's emulation)
    uploader.wait_state("offline.bin", "retrying", timeout_ms=30_000)
    throttle(cdp, RATE, offline=False)
    # Nothing clicked: the page retries by itself.
    finish_and_check(uploader, source)


def test_server_killed_and_restarted(
    uploader: UploaderPage, cdp: CDPSession, server: ServerProcess, files: Callable[..., Path], net: Net
) -> None:
    source = files("restart.bin", SIZE, seed=12)
    throttle(cdp, RATE)
    uploader.choose(source)
    uploader.wait_percent("restart.bin", STARTED)

    server.kill()  # kill -9 in the middle of chunks
    uploader.wait_state("restart.bin", "retrying", timeout_ms=30_000)
    server.restart()  # same port, same data dir
    finish_and_check(uploader, source)
    assert not server.errors_logged()


def test_reload_then_choose_again_sends_only_missing_chunks(
    uploader: UploaderPage, cdp: CDPSession, page: Page, files: Callable[..., Path], net: Net
) -> None:
    """After the reload, the chunks sent are counted as they leave the browser: they must be exactly the
    ones the server listed as missing in its handshake answer, each once, and fewer than all."""
    source = files("reload.bin", SIZE, seed=13)
    all_ids = chunk_ids_of_file(source)
    throttle(cdp, RATE)
    uploader.choose(source)
    uploader.wait_percent("reload.bin", STARTED)

    page.reload()
    uploader.wait_python_ready()
    before = len(net.chunk_posts)
    net.watch_handshakes = True
    uploader.choose(source)
    finish_and_check(uploader, source)

    assert len(net.handshakes) == 1, net.handshakes
    answer = net.handshakes[0]  # the compact answer the page asks for (``?answer=ranges``)
    assert isinstance(answer, dict), answer
    missing = [all_ids[i] for start, end in answer["ranges"] for i in range(start, end)]
    assert 0 < len(missing) == answer["needed"] < len(all_ids), answer
    sent_after = [p.chunk_id for p in net.chunk_posts[before:]]
    assert sorted(sent_after) == sorted(missing), "only the chunks the server lacked, each once"
