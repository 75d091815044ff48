"""The download rows' repaints (``frontend/browser/download_view.py``) under CPython, with the same checks as
the upload rows' (``test_view_rows.py``): the first paint's HTML, the edits' grammar (nothing parsed as HTML),
only changes after it; the words in both languages; the page's own words; the list's download buttons and
the finished upload's "Download" button (``view.py``)."""

from __future__ import annotations

from types import SimpleNamespace

from frontend.browser import download_view, view
from frontend.browser.i18n import EN, ZH
from frontend.engine.download_ports import DownloadSnapshot
from frontend.engine.download_state import DownloadState
from frontend.engine.state import UploadState
from tests.unit.test_view_rows import SAFE_PROPERTIES, Page, ops_by_target, parse, select
from tests.unit.test_view_rows import snap as upload_snap

S = DownloadState
MiB = 1024 * 1024
URL = "http://h.test/download/a%20b.bin"


def snap(state: DownloadState = S.DOWNLOADING, **fields: object) -> DownloadSnapshot:
    values: dict[str, object] = {"name": "a b.bin", "url": URL, "bytes_total": 10 * MiB}
    values.update(fields)
    return DownloadSnapshot(state=state, **values)  # type: ignore[arg-type]


def test_first_paint_appends_the_row_with_its_url_and_name() -> None:
    page = Page()
    row = download_view.DownloadRow(page, "k1", URL, "a b.bin", 10 * MiB)
    row.render(snap(S.CHECKING))
    [paint] = page.paints
    assert paint.row_id == "download-k1" and paint.html is not None
    tree = parse(paint.html)
    [li] = tree.root.children
    assert (li.attrs["id"], li.attrs["data-url"], li.attrs["data-name"]) == ("download-k1", URL, "a b.bin")
    toggle = select(tree, ".dl-toggle")
    remove = select(tree, ".dl-remove")
    assert (
        toggle is not None and toggle.attrs["data-action"] == "dl-toggle" and toggle.attrs["data-key"] == "k1"
    )
    assert remove is not None and remove.attrs["data-action"] == "dl-remove"
    ops = ops_by_target(paint.ops)
    assert ops[(".upload-detail", "textContent")] == "Checking the file"
    assert ops[(".dl-toggle", "disabled")] is False  # a pause applies while checking too
    assert paint.ops[-1] == ["", "@data-state", "checking"]


def test_every_operation_targets_an_element_of_the_row_and_parses_no_html() -> None:
    page = Page()
    row = download_view.DownloadRow(page, "k1", URL, "<b>x</b>.bin", None)
    for snapshot in (
        snap(S.CHECKING, bytes_total=None),
        snap(S.DOWNLOADING, name="server's <name>.bin", bytes_done=MiB, percent=10, in_flight=3, speed=MiB),
        snap(S.RETRYING, percent=10, error="HTTP 503", error_code="HTTP_503", retry_in=2.0, attempt=1),
        snap(S.PAUSED, percent=30, bytes_done=3 * MiB),
        snap(S.VERIFYING, percent=100, verified_percent=40),
        snap(S.FINISHED, percent=100, verified=("sha-256", "md5"), restarts=1, refetched=2),
        snap(S.FAILED, error="no such file", error_code="NOT_FOUND"),
    ):
        row.render(snapshot)
    html = page.paints[0].html or ""
    assert "<b>" not in html  # escaped
    tree = parse(html)
    for paint in page.paints:
        for selector, name, value in paint.ops:
            assert isinstance(selector, str) and isinstance(name, str)
            if selector:
                assert select(tree, selector) is not None, selector
            if name.startswith("@"):
                assert value is None or isinstance(value, str)
            elif not name.startswith("style.") and name != "remove":
                assert name in SAFE_PROPERTIES, name


def test_the_words_of_each_state() -> None:
    downloading = snap(S.DOWNLOADING, bytes_done=MiB, speed=2 * MiB, eta=75.0)
    assert download_view.detail(downloading) == "1.0 MiB of 10.0 MiB · 2.0 MiB/s · 1 min 15 s left"
    assert download_view.detail(snap(S.VERIFYING, verified_percent=42.4)) == "Verifying… 42%"
    assert download_view.detail(snap(S.PAUSED, bytes_done=MiB)) == "Paused at 1.0 MiB of 10.0 MiB"
    assert download_view.detail(snap(S.FINISHED, verified=("sha-256", "md5"))) == (
        "Saved: 10.0 MiB, checked against the server's SHA-256 + MD5"
    )
    assert download_view.detail(snap(S.FINISHED)) == "Saved: 10.0 MiB, not checked: the server gave no digest"
    assert download_view.detail(snap(S.RETRYING, retry_in=3.2, attempt=2)) == (
        "Connection lost, retrying in 4 s (attempt 2)"
    )
    assert download_view.detail(snap(S.FINISHED, verified=("sha-256",)), ZH) == (
        "已保存：10.0 MiB，已与服务器的 SHA-256 核对"
    )
    failed = snap(S.FAILED, error="a.bin needs 48.0 MiB; ...", error_code="NO_SPACE")
    assert download_view.error(failed) == "a.bin needs 48.0 MiB; ..."  # English: the engine's own words
    assert download_view.error(failed, ZH) == "浏览器的存储空间不足，放不下这个文件：请清理空间后重试"
    assert download_view.button(S.PAUSED) == ("Continue", True)
    assert download_view.button(S.FAILED, ZH) == ("重试", True)
    assert download_view.button(S.FINISHED) is None


def test_finished_rows_say_what_they_were_checked_against_and_repaints_send_only_changes() -> None:
    page = Page()
    row = download_view.DownloadRow(page, "k1", URL, "a b.bin", 10 * MiB)
    row.render(snap(S.DOWNLOADING, bytes_done=MiB, percent=10.0, in_flight=3))
    row.render(snap(S.DOWNLOADING, bytes_done=MiB, percent=10.0, in_flight=2))
    assert page.paints[1].ops == [["", "@data-in-flight", "2"]]
    row.render(snap(S.FINISHED, bytes_done=10 * MiB, percent=100.0, verified=()))
    ops = ops_by_target(page.paints[2].ops)
    assert ops[("", "@data-verified")] == "none"
    assert ops[(".dl-toggle", "hidden")] is True
    row.remove()
    assert page.paints[-1].ops == [["", "remove", None]]


def test_the_pages_own_words_in_chinese() -> None:
    ops = {(selector, name): value for selector, name, value in download_view.page_ops(ZH)}
    assert ops[("html", "@lang")] == "zh-CN"
    assert ops[("#downloads-title", "textContent")] == "服务器上的文件"
    assert ops[("title", "textContent")] == ZH.title
    assert all(isinstance(v, str) and v for v in ops.values())
    english = {(selector, name): value for selector, name, value in download_view.page_ops(EN)}
    assert english[("#downloads-title", "textContent")] == "Files on the server"  # as index.html says


def test_the_list_offers_a_download_button_and_a_finished_upload_too() -> None:
    js_list = SimpleNamespace(innerHTML="")
    files = [{"name": 'x"<y>.bin', "size": 2048, "url": "http://h.test/download/x%22%3Cy%3E.bin"}]
    view.render_downloads(js_list, files, texts=EN, download_button=True)
    tree = parse(f"<ul>{js_list.innerHTML}</ul>")
    button = select(tree, "button")
    assert button is not None
    assert (button.attrs["data-action"], button.attrs["data-name"], button.attrs["data-size"]) == (
        "download",
        'x"<y>.bin',
        "2048",
    )
    assert button.attrs["data-url"] == files[0]["url"]
    view.render_downloads(js_list, files, texts=EN)
    assert "<button" not in js_list.innerHTML  # the embed's list has none

    page = Page()
    upload = view.UploadRow(page, "u1", "a.bin", MiB, EN, downloadable=True)
    upload.render(upload_snap(UploadState.FINISHED, url="http://h.test/upload/x.bin"))
    row = parse(page.paints[0].html or "")
    download = [e for e in row.all() if e.attrs.get("data-action") == "download"]
    assert len(download) == 1 and download[0].attrs["data-key"] == "u1"
    assert select(row, "button") is not None and select(row, "button").attrs["data-action"] == "toggle"  # type: ignore[union-attr]
