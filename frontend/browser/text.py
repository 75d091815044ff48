"""What the page says about an upload, as pure functions of numbers and snapshots (no ``js`` import here).

Sizes use binary units (1 MiB = 1024 * 1024 bytes, like the chunk size); speeds use the same units per second.
"""

from __future__ import annotations

import math

from frontend.engine.ports import UploadSnapshot
from frontend.engine.state import UploadState

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")

STATE_LABELS: dict[UploadState, str] = {
    UploadState.NO_FILE: "No file",
    UploadState.CHOSEN: "Ready to send",
    UploadState.HASHING: "Reading the file",
    UploadState.UPLOADING: "Uploading",
    UploadState.PAUSED: "Paused",
    UploadState.RETRYING: "Connection lost, retrying",
    UploadState.FINISHED: "Done",
    UploadState.FAILED: "Failed",
}

# The row's button: (label, enabled) per state; None hides it.
BUTTONS: dict[UploadState, tuple[str, bool] | None] = {
    UploadState.NO_FILE: None,
    UploadState.CHOSEN: ("Start", True),
    UploadState.HASHING: ("Pause", False),  # nothing to pause yet: the server has not been asked
    UploadState.UPLOADING: ("Pause", True),
    UploadState.RETRYING: ("Pause", True),
    UploadState.PAUSED: ("Continue", True),
    UploadState.FINISHED: None,
    UploadState.FAILED: ("Retry", True),
}


def size(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; bytes are shown whole."""
    if n < 1024:
        return f"{int(n)} B"
    exponent = min(int(math.log(n, 1024)), len(_UNITS) - 1)
    value = n / 1024**exponent
    if value >= 1023.95 and exponent < len(_UNITS) - 1:  # would round to "1024.0 MiB"
        exponent, value = exponent + 1, value / 1024
    return f"{value:.1f} {_UNITS[exponent]}"


def duration(seconds: float) -> str:
    """``75`` -> ``"1 min 15 s"``, ``4000`` -> ``"1 h 7 min"``."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def percent(snapshot: UploadSnapshot) -> float:
    """The bar's figure: hashing progress while hashing, then the bytes the server confirmed."""
    if snapshot.state is UploadState.HASHING:
        return snapshot.hash_percent
    if snapshot.state is UploadState.FINISHED:
        return 100.0
    return snapshot.percent


def detail(snapshot: UploadSnapshot) -> str:
    """The line under the bar: what is happening, how fast, how long it should take."""
    state = snapshot.state
    label = STATE_LABELS[state]
    if state is UploadState.HASHING:
        return f"{label}… {snapshot.hash_percent:.0f}%"
    if state is UploadState.UPLOADING:
        parts = [f"{size(snapshot.bytes_done)} of {size(snapshot.bytes_total)}"]
        if snapshot.speed:
            parts.append(f"{size(snapshot.speed)}/s")
        if snapshot.eta is not None:
            parts.append(f"{duration(snapshot.eta)} left")
        return " · ".join(parts)
    if state is UploadState.RETRYING:
        when = f" in {duration(snapshot.retry_in)}" if snapshot.retry_in else ""
        return f"{label}{when} (attempt {snapshot.attempt})"
    if state is UploadState.PAUSED:
        return f"{label} at {size(snapshot.bytes_done)} of {size(snapshot.bytes_total)}"
    if state is UploadState.FINISHED:
        return f"{label}: {size(snapshot.bytes_total)} stored"
    return label
