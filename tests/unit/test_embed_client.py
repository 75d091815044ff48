"""The embedded uploader's pure parts: which files it takes (``accept``, size), the events the host hears."""

from __future__ import annotations

import pytest

from frontend.browser.accept import refusal
from frontend.browser.host_events import HostEvents
from frontend.browser.i18n import ZH
from frontend.engine.ports import UploadSnapshot
from frontend.engine.state import UploadState
from wire.accept import Accept, BadAccept

S = UploadState
MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("accept", "name", "mime", "admitted"),
    [
        # The HTML Standard's own examples: accept="image/*", ".doc,.docx,.xml,application/msword,...".
        ("image/*", "cat.png", "image/png", True),
        ("image/*", "cat.png", "", False),  # no type known, no extension rule
        ("image/*", "song.mp3", "audio/mpeg", False),
        (".doc,.docx,.xml,application/msword", "letter.DOCX", "", True),
        (".doc,.docx,.xml,application/msword", "old.bin", "application/msword", True),
        (".doc,.docx,.xml,application/msword", "notes.txt", "text/plain", False),
        ("image/*,.pdf", "report.pdf", "application/pdf", True),
        ("image/*,.pdf", "report.pdf.exe", "application/x-msdownload", False),
        ("IMAGE/PNG", "a.png", "image/png; charset=binary", True),
        ("", "anything", "", True),
        (" , ", "anything", "", True),
    ],
)
def test_accept_matches_like_the_html_attribute(accept: str, name: str, mime: str, admitted: bool) -> None:
    assert Accept.parse(accept).admits(name, mime) is admitted


@pytest.mark.parametrize("bad", ["pdf", "image/", "*/", "text/plain;charset=utf-8", ". pdf", "a/b/c"])
def test_a_bad_accept_token_is_named(bad: str) -> None:
    with pytest.raises(BadAccept, match="neither a file extension"):
        Accept.parse(f"image/*,{bad}")


def test_refusals_say_why_in_the_uploaders_language() -> None:
    accept = Accept.parse("image/*,.pdf")
    assert refusal("a.pdf", "application/pdf", 10, accept, 100) is None
    assert refusal("a.txt", "text/plain", 10, accept, 100) == (
        "NOT_ACCEPTED",
        "a.txt: this type of file is not accepted here (accepted: image/*, .pdf)",
    )
    assert refusal("a.pdf", "", 2 * MiB, accept, MiB, ZH) == (
        "TOO_LARGE",
        "a.pdf 的大小为 2.0 MiB，此处最多接受 1.0 MiB",
    )
    assert refusal("a.pdf", "", MiB, accept, MiB) is None  # the limit itself is allowed
    assert refusal("a.pdf", "", 10**12, Accept(), None) is None


def snap(state: UploadState, done: int = 0, **values: object) -> UploadSnapshot:
    return UploadSnapshot(
        state=state,
        name="a.bin",
        bytes_total=4 * MiB,
        bytes_done=done,  # type: ignore[arg-type]
        percent=done * 100 / (4 * MiB),
        **values,
    )


def kinds(events: list[tuple[str, dict[str, object]]]) -> list[str]:
    return [name for name, _ in events]


def test_a_whole_upload_as_the_host_hears_it() -> None:
    host = HostEvents()
    assert host.snapshot("u1", snap(S.CHOSEN)) == [
        ("upload-added", {"key": "u1", "name": "a.bin", "size": 4 * MiB})
    ]
    assert kinds(host.snapshot("u1", snap(S.HASHING, hash_percent=50.0))) == ["upload-progress"]
    assert kinds(host.snapshot("u1", snap(S.UPLOADING, MiB, speed=1e6, eta=3.0))) == ["upload-progress"]
    assert host.snapshot("u1", snap(S.UPLOADING, MiB, speed=1e6, eta=3.0)) == []  # nothing new: nothing said
    assert kinds(host.snapshot("u1", snap(S.PAUSED, 2 * MiB))) == ["upload-progress", "upload-paused"]
    assert kinds(host.snapshot("u1", snap(S.UPLOADING, 2 * MiB))) == ["upload-progress", "upload-resumed"]
    finished = snap(S.FINISHED, 4 * MiB, file_id="f" * 32, url="http://x/upload/" + "f" * 32 + ".bin")
    events = host.snapshot("u1", finished)
    assert kinds(events) == ["upload-progress", "upload-done"]
    progress, done = events[0][1], events[1][1]
    assert progress["percent"] == 100.0 and progress["bytesDone"] == 4 * MiB and progress["state"] == "finish"
    assert done == {
        "key": "u1",
        "name": "a.bin",
        "fileId": "f" * 32,
        "url": "http://x/upload/" + "f" * 32 + ".bin",
    }


def test_a_failure_carries_the_message_shown_and_the_code() -> None:
    host = HostEvents(ZH)
    host.snapshot("u1", snap(S.CHOSEN))
    host.snapshot("u1", snap(S.UPLOADING))
    server = host.snapshot("u1", snap(S.FAILED, error="the file is too large", error_code="FILE_TOO_LARGE"))
    assert server == [
        (
            "upload-failed",
            {"key": "u1", "name": "a.bin", "message": "the file is too large", "code": "FILE_TOO_LARGE"},
        )
    ]
    own = HostEvents(ZH).snapshot("u2", snap(S.FAILED, error="gave up", error_code="RETRIES_EXHAUSTED"))
    assert kinds(own) == ["upload-added", "upload-failed"]
    assert own[1][1]["message"] == "服务器一直无法连接，请稍后再试"


def test_uploads_are_told_apart_and_removal_is_said_once() -> None:
    host = HostEvents()
    host.snapshot("u1", snap(S.CHOSEN))
    assert kinds(host.snapshot("u2", snap(S.CHOSEN))) == ["upload-added"]
    assert host.removed("u1") == [("upload-removed", {"key": "u1", "name": "a.bin"})]
    assert host.removed("u1") == []
