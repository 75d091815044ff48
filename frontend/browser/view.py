"""The DOM view: one row per upload and the list of the server's files, in the words of a ``Texts``.

On the page at ``/`` the worker reaches the page's DOM through PyScript's synchronous proxy: every property
read or write, every call, is a round trip that blocks the worker until the page's thread has answered (in
the embedded uploader Python runs on the frame's own main thread and the DOM is local). So a row never
touches the DOM from Python: ``render`` collects what changed since the last time as a list of
``[selector, name, value]`` operations and hands them, as one JSON string, to ``draw`` (the app posts them to
the page's intake, ``static/intake.js``, which applies them there: the worker does not wait); the first
repaint also carries the row's HTML. How often ``render`` is called is the caller's business
(``app.Throttle``).

Each row carries attributes for people and tests alike: ``data-key`` (the row), ``data-name`` (the file's
name), ``data-state`` (the engine's state value: ``hashing``, ``uploading``, ``pause``, ``retrying``,
``finish``, ``failed``...; written last), ``data-percent`` (0-100, whole numbers, bytes the server has
confirmed; the bar also shows hashing progress), ``data-in-flight`` (chunk requests under way),
``data-file-id`` once hashed, and where chunk plans are remembered across reloads (``plan_store.py``):
``data-plan-saved`` (``1`` while the file's plan is remembered, ``0`` once forgotten: the upload finished)
and ``data-plan``, for an upload that started from a remembered plan: ``remembered`` (it was not hashed),
then ``rehashed`` if the plan did not fit the file (it was hashed again).

An upload a previous page left unfinished has a ``RememberedRow`` in the same list until its file is chosen
again: ``li.upload.remembered`` with ``data-file`` (the file's name; not ``data-name``, which names the rows
of uploads) and a "Forget" button.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from typing import Any

from frontend.browser import text
from frontend.browser.i18n import EN, Texts
from frontend.engine.ports import UploadSnapshot

ROW_HTML = """\
<li id="{row_id}" class="upload" data-key="{key}" data-name="{name}" data-state="unchoose">
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
<p class="upload-done" hidden>{stored_at} <a class="upload-link" target="_blank" rel="noopener"></a>{download}</p>
</li>
"""
# The finished upload's link downloaded into the page (``downloads.py``), where the page has downloads.
DOWNLOAD_BUTTON = (
    ' <button type="button" class="button small" data-action="download" data-key="{key}">{label}</button>'
)

Op = list[object]  # [selector ("" = the row), name ("@attr", "style.prop", "remove" or a property), value]
Draw = Callable[[str, str, str | None], None]
"""``draw(row_id, ops_json, html)``: apply ``ops_json`` to the row ``row_id`` on the page, after appending
``html`` (a new row) to ``#uploads`` if it is not None."""


class UploadRow:
    """One upload's row in ``#uploads``, drawn through ``draw``: the row's HTML goes with its first paint.
    ``actions=False``: no button (a file the uploader refused)."""

    def __init__(
        self,
        draw: Draw,
        key: str,
        name: str,
        size: int,
        texts: Texts = EN,
        actions: bool = True,
        downloadable: bool = False,
    ) -> None:
        """``downloadable``: the finished row offers to download its link into the page."""
        self.texts = texts
        self.actions = actions
        self.row_id = f"upload-{key}"
        self._draw = draw
        self._html: str | None = ROW_HTML.format(
            row_id=escape(self.row_id),
            key=escape(key),
            name=escape(name),
            size=escape(text.size(size)),
            pause=escape(texts.button_pause),
            progress_of=escape(texts.progress_of.format(name=name)),
            waiting=escape(texts.waiting),
            stored_at=escape(texts.stored_at),
            download=DOWNLOAD_BUTTON.format(key=escape(key), label=escape(texts.button_download))
            if downloadable
            else "",
        )
        self._shown: dict[str, object] = {}

    def remove(self) -> None:
        if self._html is None:  # on the page
            self._draw(self.row_id, '[["","remove",null]]', None)
        self._html = None

    def _changed(self, what: str, value: object) -> bool:
        if self._shown.get(what, ...) == value:
            return False
        self._shown[what] = value
        return True

    def mark(self, name: str, value: str) -> None:
        """Set ``data-<name>`` on the row now (``data-plan``, ``data-plan-saved``: see the module docstring)."""
        if self._changed("@" + name, value):
            self._draw(self.row_id, json.dumps([["", f"@data-{name}", value]]), self._html)
            self._html = None

    def changes(self, snapshot: UploadSnapshot, rehashed: bool = False) -> list[Op]:
        """What to write to show ``snapshot`` (only what changed since the last call); ``data-state`` last,
        so when it changes the rest is up to date. ``rehashed``: see ``text.detail``."""
        ops: list[Op] = []
        bar = text.percent(snapshot)  # hashing progress while hashing, then confirmed bytes
        if self._changed("width", f"{bar:.1f}%"):
            ops.append([".progress-fill", "style.width", f"{bar:.1f}%"])
        if self._changed("bar", int(bar)):
            ops.append([".upload-percent", "textContent", f"{int(bar)}%"])
            ops.append([".progress", "@aria-valuenow", str(int(bar))])
        confirmed = int(snapshot.percent)
        if self._changed("percent", confirmed):
            ops.append(["", "@data-percent", str(confirmed)])
        detail = text.detail(snapshot, self.texts, rehashed)
        if self._changed("detail", detail):
            ops.append([".upload-detail", "textContent", detail])
        if self._changed("in_flight", snapshot.in_flight):
            ops.append(["", "@data-in-flight", str(snapshot.in_flight)])
        if snapshot.file_id and self._changed("file_id", snapshot.file_id):
            ops.append(["", "@data-file-id", snapshot.file_id])
        error = text.error(snapshot, self.texts)
        if self._changed("error", error):
            ops.append([".upload-error", "hidden", not error])
            ops.append([".upload-error", "textContent", error or ""])
        if snapshot.url and self._changed("url", snapshot.url):
            ops.append([".upload-link", "href", snapshot.url])
            ops.append([".upload-link", "textContent", snapshot.url])
            ops.append([".upload-done", "hidden", False])
        button = text.button(snapshot.state, self.texts) if self.actions else None
        if self._changed("button", button):
            ops.append(["button", "hidden", button is None])
            if button is not None:
                label, enabled = button
                ops.append(["button", "textContent", label])
                ops.append(["button", "disabled", not enabled])
        if self._changed("state", snapshot.state):
            ops.append(["", "@data-state", snapshot.state.value])
        return ops

    def render(self, snapshot: UploadSnapshot, rehashed: bool = False) -> None:
        """Draw what changed (the first time: add the row too), in one message to the page."""
        ops = self.changes(snapshot, rehashed)
        if ops or self._html is not None:
            self._draw(self.row_id, json.dumps(ops, separators=(",", ":")), self._html)
            self._html = None


REMEMBERED_HTML = """\
<li id="{row_id}" class="upload remembered" data-file="{name}">
<div class="upload-head">
  <span class="upload-name" title="{name}">{name}</span>
  <span class="upload-size">{size}</span>
  <button type="button" class="button small" data-action="forget" data-key="{key}">{forget}</button>
</div>
<div class="upload-foot"><span class="upload-detail">{detail}</span></div>
</li>
"""


class RememberedRow:
    """An upload a previous page left unfinished (``plan_cache.Entry``), until its file is chosen again.
    ``key``: what its button's action names (``data-key``)."""

    def __init__(self, draw: Draw, key: str, name: str, size: int, done: int, texts: Texts = EN) -> None:
        self.row_id = f"remembered-{key}"
        self._draw = draw
        html = REMEMBERED_HTML.format(
            row_id=escape(self.row_id),
            key=escape(key),
            name=escape(name),
            size=escape(text.size(size)),
            forget=escape(texts.button_forget),
            detail=escape(text.remembered(done, size, texts)),
        )
        draw(self.row_id, "[]", html)

    def remove(self) -> None:
        self._draw(self.row_id, '[["","remove",null]]', None)


def render_downloads(
    js_list: Any,
    files: list[dict[str, Any]] | None,
    problem: str | None = None,
    texts: Texts = EN,
    download_button: bool = False,
) -> None:
    """``#downloads``: a link per file with its size, or why there is none; ``download_button``: and a
    button that downloads it into the page (``data-url``, ``data-name``, ``data-size`` for the intake)."""
    if problem is not None:
        js_list.innerHTML = f'<li class="muted">{escape(problem)}</li>'
    elif not files:
        js_list.innerHTML = f'<li class="muted">{escape(texts.downloads_none)}</li>'
    else:
        js_list.innerHTML = "".join(_file_item(f, texts, download_button) for f in files)


def _file_item(file: dict[str, Any], texts: Texts, download_button: bool) -> str:
    url, name, size = (
        escape(str(file.get("url", ""))),
        escape(str(file.get("name", ""))),
        int(file.get("size", 0)),
    )
    item = f'<li><a href="{url}" download>{name}</a> <span class="muted">{escape(text.size(size))}</span>'
    if download_button:
        item += (
            f' <button type="button" class="button small" data-action="download" data-url="{url}"'
            f' data-name="{name}" data-size="{size}">{escape(texts.button_download)}</button>'
        )
    return item + "</li>"
