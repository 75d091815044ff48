"""The embeddable uploader in a host page on another origin that is NOT cross-origin isolated.

The host page (``embed_host.HostServer``: another port, ``http.server``, no COOP/COEP) contains the README's
snippet with the test server's URL; the tests use the uploader the way a host page would: they listen to the
element's events, and choose files in its iframe. Every upload ends by comparing the stored file's MD5 with
the source's; ``conftest.context`` fails the test if any request tried to leave the machine, ``conftest.page``
if the page (iframes included) logged an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import CDPSession, Page, expect

from tests.e2e.embed_host import EmbedHost, HostServer, host_page, snippet
from tests.e2e.harness import MiB, Net, chunk_ids_of_file, fetch_md5, md5_of, throttle
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

# The README's snippet, attributes and all.
DOCUMENTED = 'parallel="3" accept="image/*,.pdf" max-size="104857600" multiple lang="zh"'


@pytest.fixture
def host_server() -> Iterator[HostServer]:
    with HostServer() as host:
        yield host


def test_the_documented_snippet_uploads_from_a_page_that_is_not_isolated(
    page: Page, server: ServerProcess, host_server: HostServer, files: Callable[..., Path], net: Net
) -> None:
    url = host_server.add("/", host_page(snippet(server.url, f'id="up" {DOCUMENTED}')))
    host = EmbedHost(page)
    host.open(url)
    assert page.evaluate("crossOriginIsolated") is False
    assert host_server.url != server.url  # another origin (same site: both 127.0.0.1)
    ready = host.wait_ready("up")
    print(f"\nhost page load -> uploader-ready: {ready['at'] / 1000:.1f} s")
    assert ready["detail"]["maxSize"] == 104857600
    # The frame's own texts are Chinese before and after Python: the choose button, then the row.
    expect(host.frame("up").locator("label[for=file-input]")).to_have_text("选择文件…")

    source = files("report.pdf", 4 * MiB + 5, seed=11)
    started = time.monotonic()
    host.choose("up", source)
    done = host.wait_event("upload-done", "up")
    print(f"4 MiB through the embedded uploader: {time.monotonic() - started:.1f} s from choosing to done")

    md5 = md5_of(source)
    assert done["detail"] == {
        "key": "u1",
        "name": "report.pdf",
        "fileId": md5,
        "url": f"{server.url}/upload/{md5}.pdf?name=report.pdf",
    }
    assert fetch_md5(done["detail"]["url"]) == md5
    kinds = [e["type"] for e in host.events("up")]
    assert kinds[0] == "uploader-ready" and kinds[1] == "upload-added" and kinds[-1] == "upload-done", kinds
    assert host.events("up", "upload-added")[0]["detail"] == {
        "key": "u1",
        "name": "report.pdf",
        "size": 4 * MiB + 5,
    }
    progress = [e["detail"] for e in host.events("up", "upload-progress")]
    assert progress[-1]["percent"] == 100 and progress[-1]["bytesDone"] == 4 * MiB + 5
    assert progress[-1]["state"] == "finish" and progress[-1]["bytesTotal"] == 4 * MiB + 5
    percents = [p["percent"] for p in progress]
    assert percents == sorted(percents), "confirmed bytes never go back"
    assert any(p["state"] == "uploading" for p in progress)
    assert all({"speed", "eta", "hashPercent"} <= p.keys() for p in progress)
    assert "upload-failed" not in kinds
    row = host.frame("up").locator("li.upload[data-name='report.pdf']")
    expect(row).to_have_attribute("data-state", "finish")
    row.locator(".upload-name").click()  # not a button: nothing happens (and nothing breaks)
    expect(row.locator(".upload-detail")).to_contain_text("完成")
    assert sorted(net.posted(md5)) == sorted(chunk_ids_of_file(source)), "each chunk sent once"


def test_two_uploaders_on_one_page_work_independently(
    page: Page, server: ServerProcess, host_server: HostServer, files: Callable[..., Path], cdp: CDPSession
) -> None:
    body = "\n".join(
        [
            snippet(server.url, f'id="zh" {DOCUMENTED}'),
            "<style>#en { --ru-accent: #c2185b; --ru-radius: 4px; }</style>",
            (
                f'<resumable-uploader id="en" lang="en" accept=".bin,.dat" max-size="{3 * MiB}">'
                "</resumable-uploader>"
            ),
        ]
    )
    url = host_server.add("/two", host_page(body, "Two uploaders"))
    host = EmbedHost(page)
    host.open(url)
    host.wait_ready("zh")
    host.wait_ready("en")
    a, b = files("photo.pdf", 8 * MiB, seed=21), files("data.bin", 2 * MiB + 77, seed=22)
    refused = files("notes.txt", 1000, seed=23)

    # "en" takes one file at a time, only .bin/.dat, at most 3 MiB: the .txt fails at once, nothing is sent.
    host.choose("en", refused)
    failed = host.wait_event("upload-failed", "en", "notes.txt")
    assert failed["detail"]["code"] == "NOT_ACCEPTED"
    assert failed["detail"]["message"] == (
        "notes.txt: this type of file is not accepted here (accepted: .bin, .dat)"
    )
    # The host's accent reached the frame.
    accent = host.frame("en").locator("label[for=file-input]")
    expect(accent).to_have_css("background-color", "rgb(194, 24, 91)")

    throttle(cdp, 1 * MiB)  # slow enough to pause "zh" half way
    host.choose("zh", a)
    host.choose("en", b)  # replaces the refused row: single-file mode
    host.wait_event("upload-removed", "en", "notes.txt")
    host.page.wait_for_function(
        "() => window.events.some(e => e.target === 'zh' && e.type === 'upload-progress'"
        " && e.detail.state === 'uploading' && e.detail.percent > 0)",
        timeout=120_000,
    )
    host.frame("zh").locator("li.upload[data-name='photo.pdf'] button[data-action=toggle]").click()
    paused = host.wait_event("upload-paused", "zh", "photo.pdf")
    assert paused["detail"]["key"] == "u1"
    throttle(cdp, None)
    host.frame("zh").locator("li.upload[data-name='photo.pdf'] button[data-action=toggle]").click()
    host.wait_event("upload-resumed", "zh", "photo.pdf")

    done_a = host.wait_event("upload-done", "zh", "photo.pdf")["detail"]
    done_b = host.wait_event("upload-done", "en", "data.bin")["detail"]
    assert done_a["url"] == f"{server.url}/upload/{md5_of(a)}.pdf?name=photo.pdf"
    assert done_b["url"] == f"{server.url}/upload/{md5_of(b)}.bin?name=data.bin"
    assert fetch_md5(done_a["url"]) == md5_of(a)
    assert fetch_md5(done_b["url"]) == md5_of(b)
    # Each element heard only about its own files.
    assert {e["detail"]["name"] for e in host.events("zh") if e["type"].startswith("upload-")} == {
        "photo.pdf"
    }
    assert {e["detail"]["name"] for e in host.events("en") if e["type"].startswith("upload-")} == {
        "notes.txt",
        "data.bin",
    }
    assert [e["type"] for e in host.events("en", None) if e["detail"].get("name") == "data.bin"][
        -1
    ] == "upload-done"
    expect(host.frame("en").locator("li.upload")).to_have_count(1)
    expect(host.frame("zh").locator("li.upload .upload-detail")).to_contain_text("完成")
    expect(host.frame("en").locator("li.upload .upload-detail")).to_contain_text("Done")


def test_an_origin_not_on_the_allow_list_is_refused_with_the_servers_message(
    page: Page, make_server: Callable[..., ServerProcess], host_server: HostServer
) -> None:
    elsewhere = "http://127.0.0.1:9"  # some other origin: the host page's is not on the list
    server = make_server("--cors-origins", elsewhere)
    url = host_server.add("/", host_page(snippet(server.url, f'id="up" {DOCUMENTED}')))
    host = EmbedHost(page)
    host.open(url)
    error = host.wait_event("uploader-error", "up", timeout_ms=30_000)["detail"]
    assert error["code"] == "ORIGIN_NOT_ALLOWED"
    assert error["message"] == f"origin {host_server.url} is not allowed to use this server"
    element = page.locator("resumable-uploader#up")
    expect(element.locator("[role=alert]")).to_have_text(error["message"])
    assert page.evaluate("document.getElementById('up').shadowRoot.querySelector('iframe')") is None
    assert [e["type"] for e in host.events("up")] == ["uploader-error"]
