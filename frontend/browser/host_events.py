"""What the host page hears from an embedded uploader: each upload's snapshots turned into events (pure).

The embed's Python sees every upload as a stream of snapshots, already throttled (``app.Throttle``: at most
ten a second per upload, state changes at once). ``HostEvents`` turns them into the events that
``embed.js`` dispatches on the ``<resumable-uploader>`` element, in this order for one upload::

    upload-added     {key, name, size}                               the first snapshot of a key
    upload-progress  {key, name, bytesDone, bytesTotal, percent,     whenever one of these changed, while
                      speed, eta, state, hashPercent}                hashing, uploading, paused, retrying,
                                                                     and once more on finishing (percent 100)
    upload-paused    {key, name, bytesDone, bytesTotal, percent}     entering "pause"
    upload-resumed   {key, name, bytesDone, bytesTotal, percent}     leaving "pause" to go on
    upload-done      {key, name, fileId, url}                        entering "finish"
    upload-failed    {key, name, message, code}                      entering "failed"
    upload-removed   {key, name}                                     the row was replaced (single-file mode)

``key`` identifies the upload within one uploader (``u1``, ``u2``...); ``percent`` counts the bytes the
server has confirmed (0-100, one decimal); ``speed`` is bytes per second (null until measurable); ``eta``
seconds (null when unknown); ``state`` is the engine's state value (``hashing``, ``uploading``, ``pause``,
``retrying``, ``finish``); ``message`` is what the row shows (the server's own message for a refusal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from frontend.browser import text
from frontend.browser.i18n import EN, Texts
from frontend.engine.ports import UploadSnapshot
from frontend.engine.state import UploadState

S = UploadState

ADDED = "upload-added"
PROGRESS = "upload-progress"
PAUSED = "upload-paused"
RESUMED = "upload-resumed"
DONE = "upload-done"
FAILED = "upload-failed"
REMOVED = "upload-removed"
EVENTS = (ADDED, PROGRESS, PAUSED, RESUMED, DONE, FAILED, REMOVED)

# States in which progress is reported (not before the file is read, not after a failure).
_PROGRESSING = frozenset({S.HASHING, S.UPLOADING, S.PAUSED, S.RETRYING, S.FINISHED})

Event = tuple[str, dict[str, Any]]


@dataclass
class _Seen:
    name: str
    state: UploadState | None = None
    progress: dict[str, Any] | None = None


def _progress(snapshot: UploadSnapshot) -> dict[str, Any]:
    finished = snapshot.state is S.FINISHED
    return {
        "bytesDone": snapshot.bytes_total if finished else snapshot.bytes_done,
        "bytesTotal": snapshot.bytes_total,
        "percent": 100.0 if finished else round(snapshot.percent, 1),
        "speed": round(snapshot.speed) if snapshot.speed is not None else None,
        "eta": round(snapshot.eta, 1) if snapshot.eta is not None else None,
        "state": snapshot.state.value,
        "hashPercent": round(snapshot.hash_percent, 1),
    }


class HostEvents:
    """One per uploader: remembers what each upload last reported, says what is new."""

    def __init__(self, texts: Texts = EN) -> None:
        self.texts = texts
        self._seen: dict[str, _Seen] = {}

    def snapshot(self, key: str, snapshot: UploadSnapshot) -> list[Event]:
        """The events one new snapshot of upload ``key`` causes (often none)."""
        events: list[Event] = []
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = _Seen(snapshot.name)
            events.append((ADDED, {"key": key, "name": snapshot.name, "size": snapshot.bytes_total}))
        ids = {"key": key, "name": seen.name}
        state, before = snapshot.state, seen.state
        if state in _PROGRESSING:
            progress = _progress(snapshot)
            if progress != seen.progress:
                seen.progress = progress
                events.append((PROGRESS, ids | progress))
        if state is not before:
            counts = {
                k: v for k, v in _progress(snapshot).items() if k in ("bytesDone", "bytesTotal", "percent")
            }
            if state is S.PAUSED:
                events.append((PAUSED, ids | counts))
            elif before is S.PAUSED and state in (S.HASHING, S.UPLOADING, S.RETRYING):
                events.append((RESUMED, ids | counts))
            elif state is S.FINISHED:
                events.append((DONE, ids | {"fileId": snapshot.file_id, "url": snapshot.url}))
            elif state is S.FAILED:
                message = text.error(snapshot, self.texts) or self.texts.state(S.FAILED)
                events.append((FAILED, ids | {"message": message, "code": snapshot.error_code}))
        seen.state = state
        return events

    def removed(self, key: str) -> list[Event]:
        seen = self._seen.pop(key, None)
        return [] if seen is None else [(REMOVED, {"key": key, "name": seen.name})]
