"""Which chosen files the uploader takes: the HTML ``accept`` rules and a size limit (pure, no ``js``).

The file input's ``accept`` only filters the browser's chooser (a drop, or "All files" in the chooser, gets
past it), so the uploader checks each file again before reading a byte of it.

HTML Standard, 4.10.5.1.18 "File Upload state", the ``accept`` attribute: "If specified, the attribute must
consist of a set of comma-separated tokens, each of which must be an ASCII case-insensitive match for one of
the following: The string "audio/*" [...] "video/*" [...] "image/*" [...] A valid MIME type string with no
parameters [...] A string whose first character is a U+002E FULL STOP character (.)" (a file extension).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from frontend.browser import text
from frontend.browser.i18n import EN, Texts

# A MIME type without parameters (RFC 9110 token "/" token), or "type/*".
_TOKEN_CHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MIME = re.compile(rf"^{_TOKEN_CHARS}/(\*|{_TOKEN_CHARS})$")
_EXTENSION = re.compile(r"^\.[^\s,/\\]+$")


class BadAccept(ValueError):
    """A token of an ``accept`` value is neither an extension nor a MIME type."""


@dataclass(frozen=True)
class Accept:
    """The parsed rules. No rules = every file is accepted."""

    extensions: tuple[str, ...] = ()  # lower case, with the dot: ".pdf"
    types: tuple[str, ...] = ()  # lower case: "application/pdf"
    families: tuple[str, ...] = ()  # "image/*" -> "image/"

    @classmethod
    def parse(cls, value: str | None) -> Accept:
        """``"image/*,.pdf"`` -> rules; empty tokens are skipped; a bad token raises ``BadAccept``."""
        extensions: list[str] = []
        types: list[str] = []
        families: list[str] = []
        for raw in (value or "").split(","):
            token = raw.strip().lower()
            if not token:
                continue
            if _EXTENSION.match(token):
                extensions.append(token)
            elif _MIME.match(token):
                (families if token.endswith("/*") else types).append(token.removesuffix("*"))
            else:
                raise BadAccept(
                    f"{raw.strip()!r} is neither a file extension (.pdf)"
                    " nor a MIME type (application/pdf, image/*)"
                )
        return cls(tuple(extensions), tuple(types), tuple(families))

    @property
    def any(self) -> bool:
        return not (self.extensions or self.types or self.families)

    def __str__(self) -> str:
        """The rules as an ``accept`` value again (normalised)."""
        return ",".join([*(f + "*" for f in self.families), *self.types, *self.extensions])

    def admits(self, name: str, mime_type: str) -> bool:
        """Whether a file of this name and ``File.type`` (may be empty: unknown) matches a rule."""
        if self.any:
            return True
        lower_name = name.lower()
        if any(lower_name.endswith(ext) for ext in self.extensions):
            return True
        kind = mime_type.split(";", 1)[0].strip().lower()
        if not kind:
            return False
        return kind in self.types or any(kind.startswith(family) for family in self.families)


def refusal(
    name: str, mime_type: str, size: int, accept: Accept, max_size: int | None, texts: Texts = EN
) -> tuple[str, str] | None:
    """Why a file is not taken, as (code, message), or None when it is taken."""
    if not accept.admits(name, mime_type):
        return "NOT_ACCEPTED", texts.not_accepted.format(name=name, accept=str(accept).replace(",", ", "))
    if max_size is not None and size > max_size:
        return "TOO_LARGE", texts.too_large.format(name=name, size=text.size(size), max=text.size(max_size))
    return None
