"""``Content-Disposition: attachment`` with any file name (RFC 6266, names per RFC 8187).

``attachment; filename="<ASCII fallback>"`` for every name, plus ``filename*=UTF-8''<percent-encoded>`` when
the fallback cannot say the name faithfully (non-ASCII characters, quotes, backslashes, percent signs...).
"""

from __future__ import annotations

import re
import unicodedata
from email.message import EmailMessage
from urllib.parse import quote

# RFC 8187 section 3.2.1: attr-char = ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" /
# "`" / "|" / "~"; everything else in value-chars is pct-encoded. (quote() keeps ALPHA, DIGIT and "_.-~".)
_ATTR_CHAR_EXTRA = "!#$&+^`|"
# RFC 6266 appendix D: in the fallback, avoid non-ASCII characters, "\" and "%" followed by hex digits; '"'
# would end the quoted-string. Controls are never allowed in a field value.
_UNSAFE_IN_FALLBACK = re.compile(r'[^\x20-\x7e]|["\\%]')
_REPLACED_RUN = re.compile(r"_{2,}")
DEFAULT_STEM = "download"


def encode_ext_value(text: str) -> str:
    """RFC 8187 ``ext-value`` in UTF-8 without a language: ``UTF-8''<value-chars>``."""
    # "charset = "UTF-8" / "ISO-8859-1" / mime-charset"; producers "MUST use the UTF-8 character encoding".
    return "UTF-8''" + quote(text, safe=_ATTR_CHAR_EXTRA, encoding="utf-8", errors="strict")


def ascii_fallback(name: str) -> str:
    """An ASCII stand-in for ``name`` for user agents that ignore ``filename*`` (RFC 6266 appendix D)."""
    # "substituting characters with US-ASCII sequences (e.g., ... U+00E4 ... by 'ae')": here, letters lose
    # their accents (é -> e); whatever stays non-ASCII becomes "_".
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    text = _REPLACED_RUN.sub("_", _UNSAFE_IN_FALLBACK.sub("_", decomposed))
    stem, dot, ext = text.rpartition(".")
    if not dot:
        stem, ext = text, ""
    if not any(c.isalnum() for c in stem):
        # Nothing readable left (e.g. a Chinese name): a neutral stem, keeping an extension that survived.
        keep = dot + ext if ext.isascii() and ext.isalnum() else ""
        return DEFAULT_STEM + keep
    return text


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """The ``Content-Disposition`` value offering ``filename`` (RFC 6266 section 4.1)."""
    fallback = ascii_fallback(filename)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        # "when both 'filename' and 'filename*' are present in a single header field value, recipients SHOULD
        # pick 'filename*' and ignore 'filename'" (section 4.3); "filename should occur first, due to parsing
        # problems in some existing implementations" (appendix D).
        value += f"; filename*={encode_ext_value(filename)}"
    return value


def parse_filename(value: str) -> str | None:
    """The file name a ``Content-Disposition`` field carries (RFC 6266 section 4.3: ``filename*``, RFC 8187's
    encoding, is preferred over ``filename``), or None. Read by the standard library's MIME parser, whose
    RFC 2231 parameters are what RFC 8187 profiles."""
    message = EmailMessage()
    try:
        message["Content-Disposition"] = value
        name = message.get_filename()
    except (ValueError, TypeError, IndexError):
        return None
    return name or None
