"""Chunk plans remembered across reloads: a file chosen again after a reload is not hashed again.

Hashing a 4 GiB file costs the page about 20 s; the plan it yields (``chunking.ChunkPlan``: the file's MD5
and one MD5 per chunk) is a pure function of the file's bytes, so the page keeps it, keyed by what a
``File`` says about itself without being read: ``(name, size, lastModified)`` (``FileKey``). The policy is
here, pure; the browser keeps it in OPFS (``frontend/browser/plan_store.py``).

- **An index and one file per plan.** The index (``PlanIndex``, a small JSON document) lists the entries
  (``Entry``: the key, the file's MD5, the plan's size in bytes, when it was saved and last used, how much
  the server had confirmed); each plan is its own file (``encode_plan``), read only when its file is chosen
  again. Listing the unfinished uploads after a reload reads the index alone.
- **Bounded in count and bytes.** At most ``Limits.max_entries`` entries and ``Limits.max_bytes`` of plans;
  beyond either, the least recently used entries go first (LRU on ``Entry.used``). A plan larger than the
  whole budget is not kept. (tus-js-client keeps a fingerprint per upload in localStorage that nothing
  removes, until the origin's quota is full and every save fails: the bounds here make that impossible.)
- **Expiring with the server's uploads.** An entry not used for ``Limits.ttl`` seconds (the server's
  ``--upload-ttl-seconds``: an unfinished upload untouched that long is gone there too) is dropped. The page
  marks an entry used when it saves it, when the file is chosen again, and while its upload goes (at most
  every ``TOUCH_INTERVAL``).
- **Removed when the upload finishes** (``Bookkeeping`` tells the page when to save, touch and forget).
- **Compact.** A plan file holds each chunk's MD5 as 16 raw bytes (base64 in the JSON), not the
  37-character id: the index that ends each id is its position. A 16 GiB file (16,384 chunks) takes
  349,696 bytes on disk, 21.3 bytes a chunk (its ids as JSON would take 660,634), and its line in the index
  under 200 bytes: the page holds only the index in memory until a file is chosen again; then the decoded
  plan is what hashing would have built (``tests/unit/test_plan_cache.py`` measures all of it).
- **Never trusted blindly.** Anything that does not decode whole is ignored (the file is hashed: always
  safe), and a plan that decodes but does not fit the file (changed with its name, size and modification
  time kept) is caught by the server's checks: the upload controller then hashes the file again
  (``uploader.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from .chunking import ChunkPlan
from .ports import UploadSnapshot
from .state import UploadState

VERSION = 1
MAX_ENTRIES = 50  # files remembered at most
MAX_BYTES = 8 * 1024 * 1024  # bytes of plans at most: 24 plans of 16 GiB files, 1,600 plans of 256 MiB ones
TOUCH_INTERVAL = 10.0  # seconds: an upload that goes marks its entry used (and notes its progress) this often
DIGEST = 16  # bytes of an MD5


@dataclass(frozen=True)
class FileKey:
    """What a chosen ``File`` says about itself without being read."""

    name: str
    size: int
    last_modified: float  # ms since the epoch (``File.lastModified``)

    @property
    def slug(self) -> str:
        """The entry's file name in storage (no character of the file's name reaches the file system)."""
        raw = json.dumps([self.name, self.size, self.last_modified]).encode("utf-8")
        return hashlib.sha256(raw).hexdigest()[:24]


@dataclass(frozen=True)
class Limits:
    ttl: float  # seconds an entry lives unused (the server's upload TTL)
    max_entries: int = MAX_ENTRIES
    max_bytes: int = MAX_BYTES

    def __post_init__(self) -> None:
        if not self.ttl > 0 or self.max_entries < 1 or self.max_bytes < 1:
            raise ValueError(f"limits must be positive: {self}")


@dataclass(frozen=True)
class Entry:
    key: FileKey
    file_id: str  # the file's MD5 (the plan's ``fileId``)
    plan_bytes: int  # the size of the plan's file
    saved: float  # seconds since the epoch
    used: float  # seconds since the epoch: saved, chosen again, or its upload went on
    done: int = 0  # bytes the server had confirmed, last time the page looked (for the list after a reload)

    def expired(self, now: float, limits: Limits) -> bool:
        return now - self.used > limits.ttl


class PlanIndex:
    """The entries, by ``FileKey.slug``. Every change returns the slugs whose plan files are to be removed."""

    def __init__(self, entries: dict[str, Entry] | None = None) -> None:
        self.entries: dict[str, Entry] = dict(entries or {})

    def live(self, now: float, limits: Limits) -> list[Entry]:
        """The entries not expired, most recently used first."""
        kept = [e for e in self.entries.values() if not e.expired(now, limits)]
        return sorted(kept, key=lambda e: e.used, reverse=True)

    def find(self, key: FileKey, now: float, limits: Limits) -> Entry | None:
        entry = self.entries.get(key.slug)
        if entry is None or entry.key != key or entry.expired(now, limits):
            return None
        return entry

    def put(self, entry: Entry, limits: Limits) -> list[str]:
        """Add or replace ``entry``, then evict until within the limits (its own slug is among the removed
        ones if it alone is over the byte budget)."""
        self.entries[entry.key.slug] = entry
        return self.prune(entry.used, limits)

    def touch(self, key: FileKey, now: float, done: int | None = None) -> bool:
        """Mark the entry used now (and note ``done``); False when there is none."""
        entry = self.entries.get(key.slug)
        if entry is None or entry.key != key:
            return False
        self.entries[key.slug] = replace(
            entry, used=max(entry.used, now), done=entry.done if done is None else done
        )
        return True

    def remove(self, key: FileKey) -> list[str]:
        return [key.slug] if self.entries.pop(key.slug, None) is not None else []

    def prune(self, now: float, limits: Limits) -> list[str]:
        """Drop the expired entries, then the least recently used ones beyond the count or byte budget."""
        removed = [slug for slug, e in self.entries.items() if e.expired(now, limits)]
        for slug in removed:
            del self.entries[slug]
        by_use = sorted(self.entries.items(), key=lambda item: item[1].used)  # least recently used first
        total = sum(e.plan_bytes for e in self.entries.values())
        for slug, entry in by_use:
            if len(self.entries) <= limits.max_entries and total <= limits.max_bytes:
                break
            del self.entries[slug]
            total -= entry.plan_bytes
            removed.append(slug)
        return removed

    def encode(self) -> str:
        rows = []
        for e in self.entries.values():
            row: dict[str, Any] = asdict(e)
            row["key"] = [e.key.name, e.key.size, e.key.last_modified]
            rows.append(row)
        return json.dumps({"v": VERSION, "entries": rows}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> PlanIndex:
        """The index in ``text``; an empty one for anything not written whole by this version (the files it
        named are then orphans, which the store removes)."""
        try:
            raw = json.loads(text or "")
            if (
                not isinstance(raw, dict)
                or raw.get("v") != VERSION
                or not isinstance(raw.get("entries"), list)
            ):
                return cls()
            entries: dict[str, Entry] = {}
            for row in raw["entries"]:
                name, size, last_modified = row["key"]
                key = FileKey(_str(name), _int(size), _num(last_modified))
                entry = Entry(
                    key,
                    _str(row["file_id"]),
                    _int(row["plan_bytes"]),
                    _num(row["saved"]),
                    _num(row["used"]),
                    _int(row.get("done", 0)),
                )
                entries[key.slug] = entry
            return cls(entries)
        except (ValueError, KeyError, TypeError):
            return cls()


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not a string: {value!r}")
    return value


def _int(value: object) -> int:
    if type(value) is not int or value < 0:
        raise TypeError(f"not a count: {value!r}")
    return value


def _num(value: object) -> float:
    if type(value) not in (int, float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- a plan's file


def encode_plan(key: FileKey, plan: ChunkPlan) -> bytes:
    """A plan's file: JSON naming the key (checked again when read) and the chunks' MD5s as raw bytes."""
    digests = b"".join(bytes.fromhex(c.id[:32]) for c in plan.chunks)
    doc = {
        "v": VERSION,
        "key": [key.name, key.size, key.last_modified],
        "fileId": plan.file_id,
        "ext": plan.ext,
        "size": plan.size,
        "chunkSize": plan.chunk_size,
        "md5": base64.b64encode(digests).decode("ascii"),
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_plan(key: FileKey, raw: bytes | str | None) -> ChunkPlan | None:
    """The plan in ``raw`` if it is whole, of this version, for ``key``'s file; else None (hash it)."""
    try:
        doc = json.loads(raw or "")
        if (
            not isinstance(doc, dict)
            or doc.get("v") != VERSION
            or doc.get("key")
            != [
                key.name,
                key.size,
                key.last_modified,
            ]
        ):
            return None
        if doc.get("size") != key.size:
            return None
        digests = base64.b64decode(_str(doc["md5"]), validate=True)
        if len(digests) % DIGEST:
            return None
        ids = [digests[i : i + DIGEST].hex() + str(i // DIGEST) for i in range(0, len(digests), DIGEST)]
        return ChunkPlan.from_dict(
            {
                "fileId": _str(doc["fileId"]),
                "ext": _str(doc["ext"]),
                "size": doc["size"],
                "chunkSize": doc["chunkSize"],
                "chunkIds": ids,
            }
        )
    except (ValueError, KeyError, TypeError, binascii.Error):  # WireError is a ValueError
        return None


# ------------------------------------------------------------------------------------------- bookkeeping


class Bookkeeping:
    """What the page does with one upload's entry as its snapshots come: SAVE the plan once the file is
    hashed (again after a re-hash: a new ``file_id``), TOUCH it while the upload goes (at most every
    ``TOUCH_INTERVAL`` seconds, and when it pauses or fails), FORGET it once the upload has finished."""

    SAVE, TOUCH, FORGET = "save", "touch", "forget"

    def __init__(self, cached_file_id: str | None, now: float, interval: float = TOUCH_INTERVAL) -> None:
        """``cached_file_id``: the file's MD5 from the entry the upload started from (None: hashed here)."""
        self._saved_id = cached_file_id
        self._touched = now
        self._interval = interval
        self._state: UploadState | None = None
        self._done = False

    def step(self, snapshot: UploadSnapshot, now: float) -> str | None:
        if self._done:
            return None
        state, was = snapshot.state, self._state
        self._state = state
        if state is UploadState.FINISHED:
            self._done = True
            return self.FORGET
        if (
            snapshot.file_id is not None
            and snapshot.hash_percent >= 100
            and snapshot.file_id != self._saved_id
        ):
            self._saved_id = snapshot.file_id
            self._touched = now
            return self.SAVE
        if self._saved_id is None:
            return None
        rested = state is not was and state in (UploadState.PAUSED, UploadState.FAILED)
        if rested or (state is UploadState.UPLOADING and now - self._touched >= self._interval):
            self._touched = now
            return self.TOUCH
        return None


__all__ = [
    "MAX_BYTES",
    "MAX_ENTRIES",
    "Bookkeeping",
    "Entry",
    "FileKey",
    "Limits",
    "PlanIndex",
    "decode_plan",
    "encode_plan",
]
