"""**Save as…** on a finished download's row (``frontend/browser/download_view.py``), under CPython: when it is
offered (only finished, only where the browser has ``showSaveFilePicker``), how the intake's outcome is read
(``dl-saved-as|<error name>|<detail>``) and judged (a cancelled picker is nothing; any other error is said),
and what the row shows for each, in both languages."""

from __future__ import annotations

import pytest

from frontend.browser import download_view
from frontend.browser.download_view import SavedAs, parse_saved_as, save_as_offered, saved_as_outcome
from frontend.browser.i18n import EN, ZH
from frontend.engine.download_state import DownloadState
from tests.unit.test_download_view import URL, snap
from tests.unit.test_view_rows import Page, ops_by_target, parse, select

S = DownloadState


@pytest.mark.parametrize("state", list(S))
def test_offered_only_for_a_finished_file_and_only_with_a_picker(state: DownloadState) -> None:
    assert save_as_offered(state, picker=False) is False
    assert save_as_offered(state, picker=True) is (state is S.FINISHED)


@pytest.mark.parametrize(
    ("error_name", "outcome"),
    [
        ("", SavedAs.SAVED),
        (
            "AbortError",
            SavedAs.CANCELLED,
        ),  # closed by the person; headless Chromium says this to every picker
        ("NotAllowedError", SavedAs.FAILED),  # the click's user activation was gone
        ("SecurityError", SavedAs.FAILED),
        ("QuotaExceededError", SavedAs.FAILED),  # the chosen disk is full
        ("TypeError", SavedAs.FAILED),
    ],
)
def test_the_outcome_of_the_picker(error_name: str, outcome: SavedAs) -> None:
    assert saved_as_outcome(error_name) is outcome


def test_the_intakes_action_is_read_and_others_are_not() -> None:
    assert parse_saved_as("dl-saved-as||report.pdf") == (SavedAs.SAVED, "report.pdf")
    assert parse_saved_as("dl-saved-as|AbortError|The user aborted a request.") == (
        SavedAs.CANCELLED,
        "The user aborted a request.",
    )
    assert parse_saved_as("dl-saved-as|NotAllowedError|a|b") == (SavedAs.FAILED, "a|b")  # the rest is detail
    for other in ("dl-toggle", "dl-remove", "dl-save-as", "dl-saved-asx||x", ""):
        assert parse_saved_as(other) is None


def test_the_button_is_in_the_row_hidden_and_shown_once_finished_where_a_picker_exists() -> None:
    page = Page()
    row = download_view.DownloadRow(page, "k1", URL, "a b.bin", None)
    row.render(snap(S.DOWNLOADING))
    tree = parse(page.paints[0].html or "")
    button = select(tree, ".dl-save-as")
    assert button is not None and "hidden" in button.attrs
    assert (button.attrs["data-action"], button.attrs["data-key"]) == ("dl-save-as", "k1")
    assert select(tree, ".download-saved-as") is not None
    row.render(snap(S.FINISHED, percent=100))  # no picker: never shown
    assert (".dl-save-as", "hidden") not in ops_by_target(page.paints[-1].ops)

    page = Page()
    row = download_view.DownloadRow(page, "k2", URL, "a b.bin", None)
    row.picker = True
    row.render(snap(S.DOWNLOADING))
    assert (".dl-save-as", "hidden") not in ops_by_target(page.paints[-1].ops)
    row.render(snap(S.FINISHED, percent=100))
    assert ops_by_target(page.paints[-1].ops)[(".dl-save-as", "hidden")] is False


def test_what_the_row_says_after_each_outcome() -> None:
    page = Page()
    row = download_view.DownloadRow(page, "k1", URL, "a b.bin", None)
    row.picker = True
    finished = snap(S.FINISHED, percent=100)
    row.render(finished)

    row.saved_as(SavedAs.CANCELLED, "The user aborted a request.")
    row.render(finished)
    ops = ops_by_target(page.paints[-1].ops)
    assert ops == {("", "@data-saved-as"): "cancelled"}  # nothing to read

    row.saved_as(SavedAs.SAVED, "report.bin")
    row.render(finished)
    ops = ops_by_target(page.paints[-1].ops)
    assert ops[("", "@data-saved-as")] == "saved"
    assert ops[(".download-saved-as", "textContent")] == "Also saved as report.bin"
    assert ops[(".download-saved-as", "hidden")] is False

    row.saved_as(SavedAs.FAILED, "no room")
    row.render(finished)
    ops = ops_by_target(page.paints[-1].ops)
    assert ops[("", "@data-saved-as")] == "failed"
    assert "no room" in str(ops[(".download-saved-as", "textContent")])

    page.paints.clear()
    row.render(finished)  # nothing changed since
    assert page.paints == []


def test_the_words_in_both_languages() -> None:
    assert (EN.button_save_as, ZH.button_save_as) == ("Save as…", "另存为…")
    for words in (EN, ZH):
        assert "{name}" in words.saved_as_detail and "{error}" in words.save_as_failed
    page = Page()
    row = download_view.DownloadRow(page, "k1", URL, "a.bin", None, ZH)
    row.render(snap(S.CHECKING))
    button = select(parse(page.paints[0].html or ""), ".dl-save-as")
    assert button is not None and button.text == "另存为…"
