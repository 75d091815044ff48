"""A download's journal: what is on disk of which version of which file, as a small JSON document.

The journal is what makes a download survive a reload, a crash or a browser restart: it names the file
(``url``), the version its bytes belong to (``etag``, ``size``), how it is cut (``segment_size``) and the
segments whose bytes are on disk. ``PartialFile.commit`` saves it only after the bytes it lists are flushed,
so it may miss a segment that is there (fetched again: wasted, never wrong) but never lists one that is not.

It is saved after every segment, so it stays small: the finished segments as runs (``"0-41,43,45-47"``).
``decode`` refuses anything it does not fully understand (None: start over, which is always safe).

A store keeps it in two slots written in turn (``seal``/``unseal``: a sequence number and a checksum before
the JSON), so a write torn by a crash spoils only the slot being written, and the other one, the commit
before, is used (``latest``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace

VERSION = 1
MAX_SEGMENTS = 1 << 24  # far above any real plan (16 TiB at 1 MiB segments): a bound for a damaged journal


@dataclass(frozen=True)
class Journal:
    url: str
    name: str  # the name the file is saved under
    size: int
    etag: str  # the strong ETag the bytes belong to (every range request carries it in If-Range)
    segment_size: int
    done: frozenset[int] = frozenset()  # indices of the segments whose bytes are on disk
    repr_digest: str | None = None  # the server's SHA-256 of the whole file (hex), when it has said
    finished: bool = False  # verified and handed over: the space may be freed
    updated: float = 0.0  # ms since the epoch, for expiry of abandoned downloads

    def with_done(self, done: Iterable[int], updated: float) -> Journal:
        return replace(self, done=frozenset(done), updated=updated)

    def same_version(self, url: str, size: int, etag: str) -> bool:
        """Whether the bytes on disk are of this file, this version (whatever their cut: a resumed download
        keeps its own ``segment_size``)."""
        return (self.url, self.size, self.etag) == (url, size, etag)

    def encode(self) -> str:
        return json.dumps(
            {
                "v": VERSION,
                "url": self.url,
                "name": self.name,
                "size": self.size,
                "etag": self.etag,
                "segmentSize": self.segment_size,
                "done": runs(self.done),
                "reprDigest": self.repr_digest,
                "finished": self.finished,
                "updated": self.updated,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


def decode(text: str) -> Journal | None:
    """The journal in ``text``, or None when it is not one this version wrote whole."""
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.get("v") != VERSION:
            return None
        url, name, etag = raw["url"], raw["name"], raw["etag"]
        size, segment_size, updated = raw["size"], raw["segmentSize"], raw["updated"]
        repr_digest, finished = raw.get("reprDigest"), raw.get("finished", False)
        if not all(isinstance(v, str) for v in (url, name, etag)):
            return None
        if not all(type(v) is int for v in (size, segment_size)) or size < 0 or segment_size < 1:
            return None
        if not isinstance(updated, int | float) or not isinstance(finished, bool):
            return None
        if repr_digest is not None and not isinstance(repr_digest, str):
            return None
        done = parse_runs(raw["done"])
        if done is None or any(i >= max(1, -(-size // segment_size)) for i in done):
            return None
        return Journal(
            url,
            name,
            size,
            etag,
            segment_size,
            done,
            repr_digest,
            finished,
            float(updated),
        )
    except (ValueError, KeyError, TypeError):
        return None


def runs(indices: Iterable[int]) -> str:
    """``{0, 1, 2, 5, 7, 8}`` -> ``"0-2,5,7-8"``."""
    out: list[str] = []
    ordered = sorted(set(indices))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def parse_runs(text: object) -> frozenset[int] | None:
    """``"0-2,5"`` -> ``{0, 1, 2, 5}``; None when malformed."""
    if not isinstance(text, str):
        return None
    if not text:
        return frozenset()
    found: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            return None
        lo, hi = int(first), int(last) if dash else int(first)
        if hi < lo or hi >= MAX_SEGMENTS:
            return None
        found.update(range(lo, hi + 1))
    return frozenset(found)


def seal(seq: int, journal: Journal) -> bytes:
    """The journal as a slot's bytes: ``<seq>\n<MD5 of the JSON>\n<JSON>``."""
    text = journal.encode()
    return f"{seq}\n{hashlib.md5(text.encode()).hexdigest()}\n{text}".encode()


def unseal(raw: str) -> tuple[int, Journal] | None:
    """A slot's sequence number and journal, or None when it is torn, damaged or not a journal."""
    seq_text, _, rest = raw.partition("\n")
    check, _, text = rest.partition("\n")
    if not seq_text.isdigit() or hashlib.md5(text.encode()).hexdigest() != check:
        return None
    journal = decode(text)
    return (int(seq_text), journal) if journal is not None else None


def latest(slots: Iterable[str | None]) -> tuple[int, Journal] | None:
    """The sound slot written last."""
    found = [s for raw in slots if raw and (s := unseal(raw)) is not None]
    return max(found, key=lambda s: s[0], default=None)
