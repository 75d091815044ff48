"""The rows of downloads into the page, and the page's own words in the reader's language (pure: no ``js``).

A download's row looks and is drawn like an upload's (``view.UploadRow``: the first paint carries the row's
HTML, later ones only ``[selector, name, value]`` edits for what changed, posted to the page's intake, which
applies them), in ``#download-rows``. It carries, for people and tests alike: ``data-key``, ``data-url``,
``data-name`` (the name the file is saved under: the server's, once it has said), ``data-state`` (the
engine's ``DownloadState`` value, written last), ``data-percent`` (0-100, whole), ``data-in-flight``,
``data-restarts`` (times it started over: the file changed on the server, or did not match its digest),
``data-refetched`` (segments fetched again after their ``Content-Digest`` did not match) and, once
finished, ``data-verified`` (``sha-256``, ``md5``, both, or ``none``). The saved file's link
(``a.download-save``) is filled by the intake when the worker hands the file over.

Saving: a finished file is always handed over as a normal browser download (the intake clicks the link, an
object URL of the OPFS ``File``). Where the browser has ``window.showSaveFilePicker`` the row also offers
**Save as…** (``button.dl-save-as``, ``save_as_offered``): the intake, on the page's main thread (the picker
needs the click's user activation, and the worker has no ``window``), streams the OPFS file into the chosen
file and posts the outcome back as the action ``dl-saved-as|<error name>|<detail>`` (``parse_saved_as``);
the row then says where it went, or why it did not (``saved_as_outcome``), in ``data-saved-as`` (``saved``,
``cancelled`` or ``failed``) and ``.download-saved-as``. A cancelled picker changes nothing (headless Chromium
rejects every picker that way): the file stays saved the normal way, and its link stays.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from html import escape

from frontend.browser import text
from frontend.browser.i18n import EN, Texts
from frontend.engine.download_ports import DownloadSnapshot
from frontend.engine.download_state import DownloadState

S = DownloadState
LIST_ID = "download-rows"

ROW_HTML = """\
<li id="{row_id}" class="upload download" data-key="{key}" data-url="{url}" data-name="{name}" data-state="new">
<div class="upload-head">
  <span class="upload-name" title="{name}">{name}</span>
  <span class="upload-size">{size}</span>
  <button type="button" class="button small dl-toggle" data-action="dl-toggle" data-key="{key}" disabled>{pause}</button>
  <button type="button" class="button small dl-remove" data-action="dl-remove" data-key="{key}">{remove}</button>
</div>
<div class="progress" role="progressbar" aria-label="{progress_of}" aria-valuemin="0" aria-valuemax="100"
     aria-valuenow="0"><div class="progress-fill"></div></div>
<div class="upload-foot">
  <span class="upload-percent">0%</span>
  <span class="upload-detail">{waiting}</span>
</div>
<p class="upload-error" role="alert" hidden></p>
<p class="download-saved" hidden><a class="download-save">{save}</a>
  <button type="button" class="button small dl-save-as" data-action="dl-save-as" data-key="{key}" hidden>{save_as}</button>
  <span class="download-saved-as" hidden></span></p>
</li>
"""

Op = list[object]
Draw = Callable[[str, str, str | None], None]
"""``draw(row_id, ops_json, html)``, as ``view.Draw``; a new row goes to ``#download-rows``."""

SAVED_AS_ACTION = "dl-saved-as"


def save_as_offered(state: DownloadState, picker: bool) -> bool:
    """Whether the row offers **Save as…**: the file is finished (handed over, its OPFS file readable) and the
    browser has ``showSaveFilePicker``. (The normal download through the object URL happens either way.)"""
    return picker and state is S.FINISHED


class SavedAs(Enum):
    """What became of a **Save as…**: the ``data-saved-as`` of the row."""

    SAVED = "saved"
    CANCELLED = "cancelled"
    FAILED = "failed"


def saved_as_outcome(error_name: str) -> SavedAs:
    """The outcome of the picker and the copy, from the name of the error they ended with ("" for none).

    ``AbortError`` is the person closing the picker (and what headless Chromium answers every picker with):
    nothing to say, the file is saved the normal way already. Anything else (``NotAllowedError``: no user
    activation any more; ``SecurityError``; a write that failed, a full disk) is a failure, said in the row.
    """
    if not error_name:
        return SavedAs.SAVED
    if error_name == "AbortError":
        return SavedAs.CANCELLED
    return SavedAs.FAILED


def parse_saved_as(action: str) -> tuple[SavedAs, str] | None:
    """``dl-saved-as|<error name>|<detail>`` as the intake posts it (detail: the chosen file's name when saved,
    else the error's message): the outcome and the detail; None for any other action."""
    head, _, rest = action.partition("|")
    if head != SAVED_AS_ACTION:
        return None
    error_name, _, detail = rest.partition("|")
    return saved_as_outcome(error_name), detail


def button(state: DownloadState, texts: Texts = EN) -> tuple[str, bool] | None:
    """The row's pause/continue button in ``state``: (label, enabled), or None to hide it."""
    if state in (S.NEW, S.CHECKING):
        return texts.button_pause, state is S.CHECKING
    if state in (S.DOWNLOADING, S.RETRYING):
        return texts.button_pause, True
    if state is S.PAUSED:
        return texts.button_continue, True
    if state is S.FAILED:
        return texts.button_retry, True
    return None  # verifying (short), finished, discarded


def detail(snapshot: DownloadSnapshot, texts: Texts = EN) -> str:
    """The line under the bar: what is happening, how fast, how long it should take."""
    state = snapshot.state
    label = texts.download_state(state)
    total_bytes = snapshot.bytes_total or 0
    done, total = text.size(snapshot.bytes_done), text.size(total_bytes)
    if state is S.DOWNLOADING:
        parts = [texts.done_of_total.format(done=done, total=total)]
        if snapshot.speed:
            parts.append(texts.per_second.format(speed=text.size(snapshot.speed)))
        if snapshot.eta is not None:
            parts.append(texts.time_left.format(time=text.duration(snapshot.eta, texts)))
        return texts.separator.join(parts)
    if state is S.VERIFYING:
        return texts.verifying_detail.format(label=label, percent=f"{snapshot.verified_percent:.0f}")
    if state is S.RETRYING:
        if snapshot.error_code not in (None, "NETWORK"):
            label = texts.server_retrying
        if snapshot.retry_in:
            return texts.retrying_in.format(
                label=label, time=text.duration(snapshot.retry_in, texts), attempt=snapshot.attempt
            )
        return texts.retrying_now.format(label=label, attempt=snapshot.attempt)
    if state is S.PAUSED:
        return texts.paused_detail.format(label=label, done=done, total=total)
    if state is S.FINISHED:
        if snapshot.verified:
            names = " + ".join(d.upper() for d in snapshot.verified)
            check = texts.checked_against.format(digests=names)
        else:
            check = texts.not_checked
        return texts.download_finished_detail.format(label=label, total=total, check=check)
    return label


def error(snapshot: DownloadSnapshot, texts: Texts = EN) -> str | None:
    if snapshot.state not in (S.FAILED, S.RETRYING):
        return None
    return texts.error(snapshot.error_code, snapshot.error)


class DownloadRow:
    """One download's row in ``#download-rows``, drawn through ``draw``."""

    def __init__(
        self, draw: Draw, key: str, url: str, name: str, size: int | None, texts: Texts = EN
    ) -> None:
        self.texts = texts
        self.row_id = f"download-{key}"
        self._draw = draw
        self._html: str | None = ROW_HTML.format(
            row_id=escape(self.row_id),
            key=escape(key),
            url=escape(url),
            name=escape(name),
            size=escape(text.size(size) if size is not None else ""),
            pause=escape(texts.button_pause),
            remove=escape(texts.button_remove),
            progress_of=escape(texts.progress_of.format(name=name)),
            waiting=escape(texts.download_state(S.NEW)),
            save=escape(texts.download_save),
            save_as=escape(texts.button_save_as),
        )
        self._shown: dict[str, object] = {"name": name, "save-as": False}  # (the HTML hides the button)
        self.picker = False  # the browser has showSaveFilePicker (``PageDownloads`` finds out)
        self._saved_as: tuple[SavedAs, str] | None = None

    def _changed(self, what: str, value: object) -> bool:
        if self._shown.get(what, ...) == value:
            return False
        self._shown[what] = value
        return True

    def changes(self, snapshot: DownloadSnapshot) -> list[Op]:
        """What to write to show ``snapshot`` (only what changed since the last call); ``data-state`` last."""
        ops: list[Op] = []
        bar = 100.0 if snapshot.state is S.FINISHED else snapshot.percent
        if snapshot.state is S.VERIFYING:
            bar = snapshot.verified_percent
        if self._changed("width", f"{bar:.1f}%"):
            ops.append([".progress-fill", "style.width", f"{bar:.1f}%"])
        if self._changed("bar", int(bar)):
            ops.append([".upload-percent", "textContent", f"{int(bar)}%"])
            ops.append([".progress", "@aria-valuenow", str(int(bar))])
        if self._changed("percent", int(snapshot.percent)):
            ops.append(["", "@data-percent", str(int(snapshot.percent))])
        if self._changed("name", snapshot.name):
            ops.append(["", "@data-name", snapshot.name])
            ops.append([".upload-name", "textContent", snapshot.name])
            ops.append([".upload-name", "@title", snapshot.name])
        if snapshot.bytes_total is not None and self._changed("size", snapshot.bytes_total):
            ops.append([".upload-size", "textContent", text.size(snapshot.bytes_total)])
        line = detail(snapshot, self.texts)
        if self._changed("detail", line):
            ops.append([".upload-detail", "textContent", line])
        for what, value in (
            ("in-flight", snapshot.in_flight),
            ("restarts", snapshot.restarts),
            ("refetched", snapshot.refetched),
        ):
            if self._changed(what, value):
                ops.append(["", f"@data-{what}", str(value)])
        if snapshot.state is S.FINISHED and self._changed("verified", snapshot.verified):
            ops.append(["", "@data-verified", " ".join(snapshot.verified) or "none"])
        problem = error(snapshot, self.texts)
        if self._changed("error", problem):
            ops.append([".upload-error", "hidden", not problem])
            ops.append([".upload-error", "textContent", problem or ""])
        toggle = button(snapshot.state, self.texts)
        if self._changed("button", toggle):
            ops.append([".dl-toggle", "hidden", toggle is None])
            if toggle is not None:
                ops.append([".dl-toggle", "textContent", toggle[0]])
                ops.append([".dl-toggle", "disabled", not toggle[1]])
        offered = save_as_offered(snapshot.state, self.picker)
        if self._changed("save-as", offered):
            ops.append([".dl-save-as", "hidden", not offered])
        if self._saved_as is not None and self._changed("saved-as", self._saved_as):
            ops.extend(self._saved_as_ops(*self._saved_as))
        if self._changed("state", snapshot.state):
            ops.append(["", "@data-state", snapshot.state.value])
        return ops

    def saved_as(self, outcome: SavedAs, detail: str) -> None:
        """Note how a **Save as…** ended (shown with the next ``render``)."""
        self._saved_as = (outcome, detail)

    def _saved_as_ops(self, outcome: SavedAs, detail: str) -> list[Op]:
        line = ""
        if outcome is SavedAs.SAVED:
            line = self.texts.saved_as_detail.format(name=detail)
        elif outcome is SavedAs.FAILED:
            line = self.texts.save_as_failed.format(error=detail)
        ops: list[Op] = [["", "@data-saved-as", outcome.value]]
        if outcome is not SavedAs.CANCELLED:  # a cancelled one leaves the last outcome's words
            ops += [[".download-saved-as", "textContent", line], [".download-saved-as", "hidden", False]]
        return ops

    def render(self, snapshot: DownloadSnapshot) -> None:
        ops = self.changes(snapshot)
        if ops or self._html is not None:
            self._draw(self.row_id, json.dumps(ops, separators=(",", ":")), self._html)
            self._html = None

    def remove(self) -> None:
        if self._html is None:
            self._draw(self.row_id, '[["","remove",null]]', None)
        self._html = None


def page_ops(texts: Texts) -> list[Op]:
    """The page's own words in ``texts``' language, as edits of the document (``index.html`` is English)."""
    return [
        ["html", "@lang", texts.lang],
        ["title", "textContent", texts.title],
        [".bar h1", "textContent", texts.title],
        ["#upload-title", "textContent", texts.page_upload_heading],
        [".drop-hint", "textContent", texts.drop_hint],
        ["label[for=file-input]", "textContent", texts.choose],
        [".drop-note", "textContent", texts.page_drop_note],
        ["#downloads-title", "textContent", texts.page_downloads_heading],
        ["#intake-note", "@data-waiting-one", texts.waiting_one],
        ["#intake-note", "@data-waiting-many", texts.waiting_many],
    ]
