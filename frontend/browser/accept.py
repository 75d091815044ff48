"""Which chosen files the uploader takes: the ``accept`` rules and a size limit (pure, no ``js``).

The file input's ``accept`` only filters the browser's chooser (a drop, or "All files" in the chooser, gets
past it), so the uploader checks each file again before reading a byte of it. The rules' grammar is the
server's too (it checks the embed's ``accept`` option): ``wire/accept.py``.
"""

from __future__ import annotations

from frontend.browser import text
from frontend.browser.i18n import EN, Texts
from wire.accept import Accept


def refusal(
    name: str, mime_type: str, size: int, accept: Accept, max_size: int | None, texts: Texts = EN
) -> tuple[str, str] | None:
    """Why a file is not taken, as (code, message), or None when it is taken."""
    if not accept.admits(name, mime_type):
        return "NOT_ACCEPTED", texts.not_accepted.format(name=name, accept=str(accept).replace(",", ", "))
    if max_size is not None and size > max_size:
        return "TOO_LARGE", texts.too_large.format(name=name, size=text.size(size), max=text.size(max_size))
    return None
