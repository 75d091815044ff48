"""The ``accept`` option of the embedded uploader: which files it takes, by extension or MIME type.

The server checks the option once (``server/embed.py``: ``400 BAD_EMBED_OPTION``) and writes it, normalised,
into the frame's document; the browser checks each chosen or dropped file against it before reading a byte
(the file input's ``accept`` only filters the browser's chooser).

HTML Standard, 4.10.5.1.18 "File Upload state", the ``accept`` attribute: "If specified, the attribute must
consist of a set of comma-separated tokens, each of which must be an ASCII case-insensitive match for one of
the following: The string "audio/*" [...] "video/*" [...] "image/*" [...] A valid MIME type string with no
parameters [...] A string whose first character is a U+002E FULL STOP character (.)" (a file extension).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from wire.errors import WireError

# A MIME type without parameters (RFC 9110 token "/" token), or "type/*".
_TOKEN_CHARS: Final = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MIME: Final = re.compile(rf"^{_TOKEN_CHARS}/(\*|{_TOKEN_CHARS})$")
_EXTENSION: Final = re.compile(r"^\.[^\s,/\\]+$")


class BadAccept(WireError):
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
