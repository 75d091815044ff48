"""The DOM view: one row per upload and the list of the server's files, in the words of a ``Texts``.

On the page at ``/`` the worker reaches the page's DOM through PyScript's synchronous proxy: every property
read or write is a round trip to the page's thread (in the embedded uploader Python runs on the frame's own
main thread and the DOM is local). So a row is built from one HTML string, its parts are looked up once, and
``render`` writes only what changed since the last time. How often it is called is the caller's business
(``app.Throttle``).

Each row carries attributes for people and tests alike: ``data-key`` (the row), ``data-name`` (the file's
name), ``data-state`` (the engine's state value: ``hashing``, ``uploading``, ``pause``, ``retrying``,
``finish``, ``failed``...; written last), ``data-percent`` (0-100, whole numbers, bytes the server has
confirmed; the bar also shows hashing progress), ``data-in-flight`` (chunk requests under way) and
``data-file-id`` once hashed.
"""

from __future__ import annotations

from html import escape
from typing import Any

from frontend.browser import text
from frontend.browser.i18n import EN, Texts
from frontend.engine.ports import UploadSnapshot

ROW_HTML = """\
<div class="upload-head">
  <span class="upload-name" title="{name}">{name}</span>
  <span class="upload-size">{size}</span>
  <button type="button" class="button small" data-action="toggle" data-key="{key}" disabled>{pause}</button>
</div>
<div class="progress" role="progressbar" aria-label="{progress_of}" aria-valuemin="0" aria-valuemax="100"
     aria-valuenow="0"><div class="progress-fill"></div></div>
<div class="upload-foot">
  <span class="upload-percent">0%</span>
  <span class="upload-detail">{waiting}</span>
</div>
<p class="upload-error" role="alert" hidden></p>
<p class="upload-done" hidden>{stored_at} <a class="upload-link" target="_blank" rel="noopener"></a></p>
"""


class UploadRow:
    """One upload's row in ``#uploads``. ``actions=False``: no button (a file the uploader refused)."""

    def __init__(
        self,
        js_document: Any,
        js_list: Any,
        key: str,
        name: str,
        size: int,
        texts: Texts = EN,
        actions: bool = True,
    ) -> None:
        self.texts = texts
        self.actions = actions
        js_row = js_document.createElement("li")
        js_row.className = "upload"
        js_row.dataset.key = key
        js_row.dataset.name = name
        js_row.dataset.state = "unchoose"
        js_row.innerHTML = ROW_HTML.format(
            name=escape(name),
            size=escape(text.size(size)),
            key=escape(key),
            pause=escape(texts.button_pause),
            progress_of=escape(texts.progress_of.format(name=name)),
            waiting=escape(texts.waiting),
            stored_at=escape(texts.stored_at),
        )
        js_list.appendChild(js_row)
        self.js_row = js_row
        self.js_button = js_row.querySelector("button")
        self.js_progress = js_row.querySelector(".progress")
        self.js_fill = js_row.querySelector(".progress-fill")
        self.js_percent = js_row.querySelector(".upload-percent")
        self.js_detail = js_row.querySelector(".upload-detail")
        self.js_error = js_row.querySelector(".upload-error")
        self.js_done = js_row.querySelector(".upload-done")
        self.js_link = js_row.querySelector(".upload-link")
        self._shown: dict[str, object] = {}

    def remove(self) -> None:
        self.js_row.remove()

    def _changed(self, what: str, value: object) -> bool:
        if self._shown.get(what, ...) == value:
            return False
        self._shown[what] = value
        return True

    def render(self, snapshot: UploadSnapshot) -> None:
        """Write what changed. ``data-state`` is written last, so when it changes the rest is up to date."""
        bar = text.percent(snapshot)  # hashing progress while hashing, then confirmed bytes
        if self._changed("width", f"{bar:.1f}%"):
            self.js_fill.style.width = f"{bar:.1f}%"
        if self._changed("bar", int(bar)):
            self.js_percent.textContent = f"{int(bar)}%"
            self.js_progress.setAttribute("aria-valuenow", str(int(bar)))
        confirmed = int(snapshot.percent)
        if self._changed("percent", confirmed):
            self.js_row.dataset.percent = str(confirmed)
        detail = text.detail(snapshot, self.texts)
        if self._changed("detail", detail):
            self.js_detail.textContent = detail
        if self._changed("in_flight", snapshot.in_flight):
            self.js_row.dataset.inFlight = str(snapshot.in_flight)
        if snapshot.file_id and self._changed("file_id", snapshot.file_id):
            self.js_row.dataset.fileId = snapshot.file_id
        error = text.error(snapshot, self.texts)
        if self._changed("error", error):
            self.js_error.hidden = not error
            self.js_error.textContent = error or ""
        if snapshot.url and self._changed("url", snapshot.url):
            self.js_link.href = snapshot.url
            self.js_link.textContent = snapshot.url
            self.js_done.hidden = False
        button = text.button(snapshot.state, self.texts) if self.actions else None
        if self._changed("button", button):
            self.js_button.hidden = button is None
            if button is not None:
                label, enabled = button
                self.js_button.textContent = label
                self.js_button.disabled = not enabled
        if self._changed("state", snapshot.state):
            self.js_row.dataset.state = snapshot.state.value


def render_downloads(
    js_list: Any, files: list[dict[str, Any]] | None, problem: str | None = None, texts: Texts = EN
) -> None:
    """``#downloads``: a link per file with its size, or why there is none."""
    if problem is not None:
        js_list.innerHTML = f'<li class="muted">{escape(problem)}</li>'
    elif not files:
        js_list.innerHTML = f'<li class="muted">{escape(texts.downloads_none)}</li>'
    else:
        js_list.innerHTML = "".join(
            f'<li><a href="{escape(str(f.get("url", "")))}" download>{escape(str(f.get("name", "")))}</a>'
            f' <span class="muted">{escape(text.size(int(f.get("size", 0))))}</span></li>'
            for f in files
        )
