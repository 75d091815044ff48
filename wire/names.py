"""The ``ext`` and ``name`` a handshake may carry, and the limits on them.

``ext`` shapes the stored file's URL (``/upload/<fileId><ext>``): empty, or a dot followed by a short suffix
without a path (no '/', '\\' or '..') and without control characters. ``name`` is the original file name,
offered again on download (Content-Disposition): a plain name, not a path. Both must be real Unicode text
(JSON can carry a lone surrogate, ``"\\ud800"``, which is no character and cannot be stored as UTF-8).

The server refuses a handshake that breaks a rule; the engine drops an ``ext`` or ``name`` it could not send
rather than fail the upload (they only shape the link and the download's name).
"""

from __future__ import annotations

import unicodedata
from typing import Any, Final

from wire.errors import WireError, shown, type_name

MAX_EXT_CHARS: Final = 16
MAX_NAME_CHARS: Final = 255

# Unicode's "Other, control" and "Other, format" (e.g. U+202E, which turns text around) and the separators.
_CONTROL_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})


def has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in _CONTROL_CATEGORIES for ch in text)


def _check_unicode(field: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WireError(
            f"{field} is not valid Unicode text: it holds a lone surrogate at position {exc.start}"
        ) from None


def parse_ext(value: Any) -> str:
    """The extension as the seed's ``extname`` gives it: '' (also for a missing one) or '.' plus a suffix."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise WireError(f'ext must be a string such as ".jpg", got {type_name(value)}')
    if value == "":
        return ""
    _check_unicode("ext", value)
    if len(value) > MAX_EXT_CHARS:
        raise WireError(f"ext is {len(value)} characters long; at most {MAX_EXT_CHARS} are allowed")
    if not value.startswith("."):
        raise WireError(f"ext must start with a dot, got {shown(value)}")
    if "/" in value or "\\" in value or ".." in value or has_control(value):
        raise WireError(f"ext must not contain '/', '\\', '..' or control characters, got {shown(value)}")
    return value


def parse_name(value: Any) -> str | None:
    """The original file name, or None when there is none (missing or empty)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise WireError(f"name must be a string, got {type_name(value)}")
    _check_unicode("name", value)
    if (
        len(value) > MAX_NAME_CHARS
        or "/" in value
        or "\\" in value
        or has_control(value)
        or value in {".", ".."}
    ):
        raise WireError(
            f"name must be a plain file name of at most {MAX_NAME_CHARS} characters without '/', '\\' or "
            "control characters"
        )
    return value


def extname(filename: str) -> str:
    """The seed's ``extname``: from the last '.' (included) to the end, or '' when there is no '.'.

    ``const i = filename.lastIndexOf('.'); if (i < 0) { return ''; } return filename.substr(i);``
    """
    i = filename.rfind(".")
    return "" if i < 0 else filename[i:]


def offered_ext(filename: str) -> str:
    """The ``ext`` a file of this name is offered under: the seed's ``extname`` when it follows the rule,
    else ''. ``"report.final version for the board"`` has the 28-character ext
    ``".final version for the board"``, which the rule refuses; the ext only shapes the stored file's URL, so
    it is dropped rather than fail the upload (the engine does so before it sends, the server for names that
    come with tus metadata)."""
    try:
        return parse_ext(extname(filename))
    except WireError:
        return ""


def offered_name(filename: str) -> str | None:
    """The ``name`` a file of this name is offered under (Content-Disposition), or None if the rule refuses
    it."""
    try:
        return parse_name(filename)
    except WireError:
        return None
