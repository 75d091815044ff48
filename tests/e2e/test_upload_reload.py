"""A reload in the middle of an upload, and the same file chosen again (issue 16, "no re-hash after a
reload"): the page remembered the file's chunk plan (OPFS, ``frontend/browser/plan_store.py``), lists the
unfinished upload after the reload, and the file chosen again is not hashed: its row never shows the
hashing state, and the server receives only the chunks it was missing.

"Counted at the server": the server's own count of chunk bytes stored (``rt_upload_bytes_total`` at
``/metrics``), and the ``POST /api/upload`` requests counted as they leave the browser (``harness.Net``).
A file changed with its name, size and modification time kept is hashed again, and its row says so.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, CDPSession, Locator, Page, expect

from tests.e2e.harness import MiB, Net, UploaderPage, chunk_ids_of_file, fetch_md5, md5_of, throttle
from tests.support.browser import is_local
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

_STORED = re.compile(r"^rt_upload_bytes_total (\S+)$", re.MULTILINE)

# Every value a row's data-state takes, by file name (each change is a mutation; its old value is recorded,
# and the row's first value is the one its HTML comes with).
RECORD_STATES = """() => {
  window.rtStates = [];
  const seen = (row, value) => window.rtStates.push([row.dataset.name, value]);
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === "attributes") seen(record.target, record.oldValue);
      for (const node of record.addedNodes ?? []) if (node.dataset?.name) seen(node, node.dataset.state);
    }
  }).observe(document.getElementById("uploads"), {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"], attributeOldValue: true,
  });
}"""


def stored_bytes(server: ServerProcess) -> int:
    """The server's own count of chunk bytes stored."""
    assert is_local(server.url)
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:
        found = _STORED.search(answer.read().decode())
    return int(float(found.group(1))) if found else 0


def states_of(page: Page, uploader: UploaderPage, name: str) -> list[str]:
    recorded = [state for row, state in page.evaluate("window.rtStates") if row == name]
    return [*recorded, uploader.state(name) or ""]


def missing_ids(answer: object, all_ids: list[str]) -> list[str]:
    """The chunk ids a handshake answer says the server lacks: the seed's list of ids, or the compact form
    (``{"needed": n, "ranges": [[start, end), ...]}`` of chunk indices)."""
    if isinstance(answer, list):
        return answer
    assert isinstance(answer, dict) and isinstance(answer.get("ranges"), list), answer
    ids = [all_ids[i] for start, end in answer["ranges"] for i in range(start, end)]
    assert len(ids) == answer.get("needed", len(ids)), answer
    return ids


def remembered_row(page: Page, name: str) -> Locator:
    return page.locator(f'li.remembered[data-file="{name}"]')


def start_then_reload(
    uploader: UploaderPage, page: Page, cdp: CDPSession, source: Path, rate: float, percent: int
) -> None:
    """Choose ``source`` on a slow link, wait until its plan is remembered and ``percent`` is sent, reload;
    then wait until the page lists it as unfinished."""
    throttle(cdp, rate)
    uploader.choose(source)
    expect(uploader.row(source.name)).to_have_attribute("data-plan-saved", "1", timeout=60_000)
    uploader.wait_percent(source.name, percent)
    page.reload()
    uploader.wait_python_ready()
    throttle(cdp, None)
    expect(page.locator("#uploads")).to_have_attribute("data-remembered", "1", timeout=30_000)
    expect(remembered_row(page, source.name)).to_be_visible()


def test_reload_mid_upload_then_the_same_file_is_not_hashed_again(
    uploader: UploaderPage,
    page: Page,
    cdp: CDPSession,
    server: ServerProcess,
    files: Callable[..., Path],
    net: Net,
) -> None:
    source = files("reload64.bin", 64 * MiB, seed=16)
    all_ids = chunk_ids_of_file(source)
    start_then_reload(uploader, page, cdp, source, rate=8 * MiB, percent=10)

    # After the reload: the unfinished upload is listed, to be chosen again.
    listed = remembered_row(page, source.name)
    expect(listed.locator(".upload-detail")).to_contain_text("Choose the file again")

    page.evaluate(RECORD_STATES)
    net.watch_handshakes = True
    before_posts, before_bytes = len(net.chunk_posts), stored_bytes(server)
    uploader.choose(source)
    expect(uploader.row(source.name)).to_have_attribute("data-plan", "remembered")
    link = uploader.wait_finished(source.name, timeout_ms=180_000)
    assert fetch_md5(link) == md5_of(source)

    states = states_of(page, uploader, source.name)
    assert "hashing" not in states, states  # no hashing phase, not even for the handshake
    assert states[-1] == "finish" and "uploading" in states, states
    expect(listed).to_have_count(0)  # chosen again: its row is the upload's now

    assert len(net.handshakes) == 1, net.handshakes
    missing = missing_ids(net.handshakes[0], all_ids)
    assert 0 < len(missing) < len(all_ids), missing
    sent_after = [p.chunk_id for p in net.chunk_posts[before_posts:]]
    assert sorted(sent_after) == sorted(missing), "only the chunks the server lacked, each once"
    assert stored_bytes(server) - before_bytes == len(missing) * MiB, "the server stored only those"

    # Finished: the plan is forgotten; after another reload nothing is listed.
    expect(uploader.row(source.name)).to_have_attribute("data-plan-saved", "0")
    page.reload()
    uploader.wait_python_ready()
    expect(page.locator("#uploads")).to_have_attribute("data-remembered", "0")  # the list is done
    expect(remembered_row(page, source.name)).to_have_count(0)


def test_a_file_changed_with_its_name_size_and_time_kept_is_hashed_again(
    uploader: UploaderPage, page: Page, cdp: CDPSession, files: Callable[..., Path], net: Net
) -> None:
    source = files("changed.bin", 8 * MiB, seed=17)
    start_then_reload(uploader, page, cdp, source, rate=2 * MiB, percent=1)

    # Another last chunk (not sent yet), the modification time put back: the page cannot tell.
    kept = os.stat(source)
    with source.open("r+b") as changed:
        changed.seek(7 * MiB)
        changed.write(bytes(MiB))
    os.utime(source, ns=(kept.st_atime_ns, kept.st_mtime_ns))

    page.evaluate(RECORD_STATES)
    uploader.choose(source)
    link = uploader.wait_finished(source.name, timeout_ms=180_000)
    assert fetch_md5(link) == md5_of(source)  # the file as it is now
    states = states_of(page, uploader, source.name)
    assert states.index("uploading") < states.index("hashing"), states  # started from the plan, then hashed
    expect(uploader.row(source.name)).to_have_attribute("data-plan", "rehashed")


def test_forget_drops_a_listed_upload(
    uploader: UploaderPage, page: Page, cdp: CDPSession, files: Callable[..., Path], net: Net
) -> None:
    source = files("forgotten.bin", 6 * MiB, seed=18)
    start_then_reload(uploader, page, cdp, source, rate=1 * MiB, percent=1)
    remembered_row(page, source.name).locator("button[data-action=forget]").click()
    expect(remembered_row(page, source.name)).to_have_count(0)

    page.reload()
    uploader.wait_python_ready()
    expect(page.locator("#uploads")).to_have_attribute("data-remembered", "0", timeout=30_000)


def test_a_full_storage_only_means_hashing_next_time(
    context: BrowserContext, server: ServerProcess, files: Callable[..., Path], net: Net
) -> None:
    """The origin's quota is too small for any plan: the upload goes on as if nothing were remembered, and
    the page shows no error of its own."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    uploader = UploaderPage(page, server.url)
    uploader.open()
    cdp = context.new_cdp_session(page)
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": uploader.base_url, "quotaSize": 16})
    source = files("noroom.bin", 3 * MiB, seed=19)
    uploader.choose(source)
    link = uploader.wait_finished(source.name)
    assert fetch_md5(link) == md5_of(source)
    assert uploader.row(source.name).get_attribute("data-plan-saved") in (None, "0")
    page.close()
    assert errors == []  # not even Pyodide's "invalid exception object" (``frontend/browser/js_promise.py``)


def test_the_page_learns_the_servers_upload_ttl(make_server: Callable[..., ServerProcess]) -> None:
    server = make_server("--upload-ttl-seconds", "3600")
    with urllib.request.urlopen(server.url + "/api/page", timeout=10) as answer:
        assert answer.headers["Cache-Control"] == "no-store"
        assert json.loads(answer.read()) == {"code": 0, "msg": "", "data": {"uploadTtlSeconds": 3600.0}}
