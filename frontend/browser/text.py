"""What the uploader says about an upload, as pure functions of numbers and snapshots (no ``js`` import here).

Every word comes from a ``Texts`` (``i18n.py``; English unless told otherwise). Sizes use binary units
(1 MiB = 1024 * 1024 bytes, like the chunk size); speeds use the same units per second.
"""

from __future__ import annotations

import math

from frontend.browser.i18n import EN, Texts
from frontend.engine.ports import UploadSnapshot
from frontend.engine.state import UploadState

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def button(state: UploadState, texts: Texts = EN) -> tuple[str, bool] | None:
    """The row's button in ``state``: (label, enabled), or None to hide it."""
    if state is UploadState.CHOSEN:
        return texts.button_start, True
    if state is UploadState.HASHING:
        return texts.button_pause, False  # nothing to pause yet: the server has not been asked
    if state in (UploadState.UPLOADING, UploadState.RETRYING):
        return texts.button_pause, True
    if state is UploadState.PAUSED:
        return texts.button_continue, True
    if state is UploadState.FAILED:
        return texts.button_retry, True
    return None  # NO_FILE, FINISHED


def size(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; bytes are shown whole."""
    if n < 1024:
        return f"{int(n)} B"
    exponent = min(int(math.log(n, 1024)), len(_UNITS) - 1)
    value = n / 1024**exponent
    if value >= 1023.95 and exponent < len(_UNITS) - 1:  # would round to "1024.0 MiB"
        exponent, value = exponent + 1, value / 1024
    return f"{value:.1f} {_UNITS[exponent]}"


def duration(seconds: float, texts: Texts = EN) -> str:
    """``75`` -> ``"1 min 15 s"``, ``4000`` -> ``"1 h 6 min"`` (whole minutes, rounded down)."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return texts.seconds.format(s=seconds)
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return texts.minutes_seconds.format(m=minutes, s=secs) if secs else texts.minutes.format(m=minutes)
    hours, minutes = divmod(minutes, 60)
    return texts.hours_minutes.format(h=hours, m=minutes) if minutes else texts.hours.format(h=hours)


def percent(snapshot: UploadSnapshot) -> float:
    """The bar's figure: hashing progress while hashing, then the bytes the server confirmed."""
    if snapshot.state is UploadState.HASHING:
        return snapshot.hash_percent
    if snapshot.state is UploadState.FINISHED:
        return 100.0
    return snapshot.percent


def detail(snapshot: UploadSnapshot, texts: Texts = EN, rehashed: bool = False) -> str:
    """The line under the bar: what is happening, how fast, how long it should take. ``rehashed``: the plan
    remembered for the file did not fit it, and it is hashed again (``UploadController.rehashed``)."""
    state = snapshot.state
    label = texts.state(state)
    done, total = size(snapshot.bytes_done), size(snapshot.bytes_total)
    if state is UploadState.HASHING:
        template = texts.rehashing_detail if rehashed else texts.hashing_detail
        return template.format(label=label, percent=f"{snapshot.hash_percent:.0f}")
    if state is UploadState.UPLOADING:
        parts = [texts.done_of_total.format(done=done, total=total)]
        if snapshot.speed:
            parts.append(texts.per_second.format(speed=size(snapshot.speed)))
        if snapshot.eta is not None:
            parts.append(texts.time_left.format(time=duration(snapshot.eta, texts)))
        return texts.separator.join(parts)
    if state is UploadState.RETRYING:
        if snapshot.error_code not in (None, "NETWORK"):  # the server answered: it is not the connection
            label = texts.server_retrying
        if snapshot.retry_in:
            return texts.retrying_in.format(
                label=label, time=duration(snapshot.retry_in, texts), attempt=snapshot.attempt
            )
        return texts.retrying_now.format(label=label, attempt=snapshot.attempt)
    if state is UploadState.PAUSED:
        return texts.paused_detail.format(label=label, done=done, total=total)
    if state is UploadState.FINISHED:
        return texts.finished_detail.format(label=label, total=total)
    return label


def remembered(done: int, total: int, texts: Texts = EN) -> str:
    """The row of an upload a previous page left unfinished, until its file is chosen again."""
    if done <= 0:
        return texts.remembered_plain
    return texts.remembered_detail.format(done=size(done), total=size(total))


def error(snapshot: UploadSnapshot, texts: Texts = EN) -> str | None:
    """The row's error line: shown while retrying (the last error) and after a failure."""
    if snapshot.state not in (UploadState.FAILED, UploadState.RETRYING):
        return None
    return texts.error(snapshot.error_code, snapshot.error)
