"""``HostBridge``: the embedded uploader's voice towards its host page (an ``app.UploadObserver``).

``host_events.HostEvents`` decides what to say; this posts it through the frame's shim
(``frontend/embed/frame.js``, ``window.rtFrame``), which owns the link to the parent window: it knows the
host's origin and the element's id and posts only to that origin. ``embed.js`` in the host turns each message
into a DOM event on the ``<resumable-uploader>`` element.
"""

from __future__ import annotations

import json
from typing import Any

import js  # type: ignore[import-not-found]

from frontend.browser.host_events import HostEvents
from frontend.browser.i18n import Texts
from frontend.engine.ports import UploadSnapshot


def _js_object(value: dict[str, Any]) -> Any:
    """A plain JavaScript object, ``None`` as ``null`` (``to_js`` would make it ``undefined``)."""
    return js.JSON.parse(json.dumps(value))


class HostBridge:
    def __init__(self, js_window: Any, texts: Texts) -> None:
        self.js_frame = js_window.rtFrame
        self.events = HostEvents(texts)

    def snapshot(self, key: str, snapshot: UploadSnapshot) -> None:
        for name, detail in self.events.snapshot(key, snapshot):
            self.js_frame.event(name, _js_object(detail))

    def removed(self, key: str) -> None:
        for name, detail in self.events.removed(key):
            self.js_frame.event(name, _js_object(detail))

    def ready(self, detail: dict[str, Any]) -> None:
        """``uploader-ready`` in the host."""
        self.js_frame.ready(_js_object(detail))

    def failed(self, message: str) -> None:
        """``uploader-error`` in the host (Python could not start the uploader)."""
        self.js_frame.error(_js_object({"message": message, "code": "START_FAILED"}))
