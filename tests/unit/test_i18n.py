"""The uploader's texts: every string in both languages, with the same placeholders; the words they make."""

from __future__ import annotations

import string
from dataclasses import fields

import pytest

from frontend.browser import text
from frontend.browser.i18n import (
    EN,
    ENGINE_ONLY_CODES,
    LANGUAGES,
    ZH,
    Texts,
    pick_lang,
    string_fields,
    texts_for,
)
from frontend.engine.errors import Err
from frontend.engine.ports import UploadSnapshot
from frontend.engine.state import UploadState
from server.errors import E

MiB = 1024 * 1024


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


@pytest.mark.parametrize("texts", LANGUAGES.values(), ids=LANGUAGES.keys())
def test_every_string_is_there_and_not_blank(texts: Texts) -> None:
    for name in string_fields():
        value = getattr(texts, name)
        assert isinstance(value, str) and (value.strip() or name == "separator"), name
    assert set(texts.states) == set(UploadState)
    assert all(label.strip() for label in texts.states.values())


def test_both_languages_use_the_same_placeholders() -> None:
    names = string_fields()
    assert len(names) == len([f for f in fields(Texts) if f.name not in ("states", "engine_errors")])
    for name in names:
        assert placeholders(getattr(EN, name)) == placeholders(getattr(ZH, name)), name


def test_chinese_translates_every_error_only_the_engine_makes() -> None:
    assert ZH.engine_errors is not None and set(ZH.engine_errors) == set(ENGINE_ONLY_CODES)
    assert set(ENGINE_ONLY_CODES) <= {kind.name for kind in Err}
    # A server's error name never collides: the server's messages are shown as the server sent them.
    assert not set(ENGINE_ONLY_CODES) & {kind.name for kind in E}
    assert ZH.error("NETWORK", "TypeError: Failed to fetch") == "无法连接服务器"
    assert ZH.error("FILE_TOO_LARGE", "the file is 3 bytes; this server accepts at most 2 bytes") == (
        "the file is 3 bytes; this server accepts at most 2 bytes"
    )
    # English keeps the engine's own, more specific message.
    assert EN.error("NETWORK", "TypeError: Failed to fetch") == "TypeError: Failed to fetch"


@pytest.mark.parametrize(
    ("tag", "lang"),
    [
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh_TW", "zh"),
        ("ZH-hans", "zh"),
        ("en-GB", "en"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_language_tags(tag: str | None, lang: str) -> None:
    assert pick_lang(tag) == lang
    assert texts_for(tag) is LANGUAGES[lang]


def snap(state: UploadState, **values: object) -> UploadSnapshot:
    return UploadSnapshot(state=state, name="a.bin", bytes_total=4 * MiB, **values)  # type: ignore[arg-type]


def test_the_pages_english_words_are_unchanged() -> None:
    uploading = snap(UploadState.UPLOADING, bytes_done=MiB, speed=2 * MiB, eta=75.0)
    assert text.detail(uploading) == "1.0 MiB of 4.0 MiB · 2.0 MiB/s · 1 min 15 s left"
    assert text.detail(snap(UploadState.HASHING, hash_percent=42.4)) == "Reading the file… 42%"
    assert text.detail(snap(UploadState.RETRYING, retry_in=3.2, attempt=2)) == (
        "Connection lost, retrying in 4 s (attempt 2)"
    )
    assert text.detail(snap(UploadState.RETRYING, attempt=1)) == "Connection lost, retrying (attempt 1)"
    full = snap(UploadState.RETRYING, attempt=1, error_code="INSUFFICIENT_STORAGE", error="the disk is full")
    assert text.detail(full) == "The server cannot take it now, retrying (attempt 1)"
    assert text.error(full) == "the disk is full"
    assert text.detail(snap(UploadState.PAUSED, bytes_done=MiB)) == "Paused at 1.0 MiB of 4.0 MiB"
    assert text.detail(snap(UploadState.FINISHED)) == "Done: 4.0 MiB stored"
    assert (
        text.duration(4000) == "1 h 6 min" and text.duration(3600) == "1 h" and text.duration(120) == "2 min"
    )
    assert text.button(UploadState.PAUSED) == ("Continue", True)
    assert text.button(UploadState.HASHING) == ("Pause", False)
    assert text.button(UploadState.FINISHED) is None


def test_chinese_words() -> None:
    uploading = snap(UploadState.UPLOADING, bytes_done=MiB, speed=2 * MiB, eta=75.0)
    assert text.detail(uploading, ZH) == "1.0 MiB / 4.0 MiB · 2.0 MiB/秒 · 剩余 1 分 15 秒"
    assert text.detail(snap(UploadState.FINISHED), ZH) == "完成：已保存 4.0 MiB"
    assert text.duration(4000, ZH) == "1 小时 6 分"
    assert text.button(UploadState.FAILED, ZH) == ("重试", True)
    failed = snap(UploadState.FAILED, error="TypeError: Failed to fetch", error_code="NETWORK")
    assert text.error(failed, ZH) == "无法连接服务器"
    assert text.error(snap(UploadState.UPLOADING, error="x", error_code="NETWORK"), ZH) is None
