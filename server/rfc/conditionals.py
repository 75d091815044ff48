"""Validators and preconditions (RFC 9110 sections 8.8 and 13): what a conditional GET/HEAD deserves.

``evaluate`` follows the precedence of RFC 9110 section 13.2.2 step by step and returns one ``Outcome``:
send the representation honouring ``Range``, send it whole (``If-Range`` did not match), 304 or 412.
Field values come in raw (several instances of a field already joined with ", "); invalid ones are handled as
the RFC says, never as errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Final

from server.rfc.dates import parse_http_date

ANY: Final = "*"


class Outcome(Enum):
    SERVE = "serve"  # perform the method; a Range, if any, is honoured
    IGNORE_RANGE = "ignore-range"  # If-Range did not match: send the whole representation with 200
    NOT_MODIFIED = "not-modified"  # 304
    PRECONDITION_FAILED = "precondition-failed"  # 412


@dataclass(frozen=True)
class EntityTag:
    """``entity-tag = [ weak ] opaque-tag`` (RFC 9110 section 8.8.3); ``opaque`` keeps its double quotes."""

    opaque: str
    weak: bool = False

    def __str__(self) -> str:
        return ("W/" if self.weak else "") + self.opaque


# opaque-tag = DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text
_ENTITY_TAG = re.compile(r'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')


def parse_entity_tag(value: str) -> EntityTag | None:
    match = _ENTITY_TAG.fullmatch(value.strip(" \t"))
    return None if match is None else EntityTag(match[2], weak=match[1] is not None)


def parse_entity_tags(value: str) -> list[EntityTag] | str:
    """``If-Match``/``If-None-Match = "*" / #entity-tag``: ``ANY`` or the valid tags listed.

    Entity tags may contain commas, so the list is scanned tag by tag. A member that is not an entity-tag can
    match nothing: it is skipped up to the next comma.
    """
    if value.strip(" \t") == ANY:
        return ANY
    tags: list[EntityTag] = []
    pos, end = 0, len(value)
    while pos < end:
        if value[pos] in " \t,":  # "a recipient MUST accept empty list elements" (section 5.6.1.2)
            pos += 1
            continue
        match = _ENTITY_TAG.match(value, pos)
        after = match.end() if match else pos
        while after < end and value[after] in " \t":
            after += 1
        if match is not None and (after == end or value[after] == ","):
            tags.append(EntityTag(match[2], weak=match[1] is not None))
            pos = after
        else:
            comma = value.find(",", pos)
            pos = end if comma < 0 else comma
    return tags


def strong_match(a: EntityTag, b: EntityTag) -> bool:
    """ "Strong comparison: two entity tags are equivalent if both are not weak and their opaque-tags match
    character-by-character" (RFC 9110 section 8.8.3.2)."""
    return not a.weak and not b.weak and a.opaque == b.opaque


def weak_match(a: EntityTag, b: EntityTag) -> bool:
    """ "Weak comparison: two entity tags are equivalent if their opaque-tags match character-by-character,
    regardless of either or both being tagged as 'weak'" (RFC 9110 section 8.8.3.2)."""
    return a.opaque == b.opaque


@dataclass(frozen=True)
class Validators:
    """The selected representation's validators, as this response sends them.

    ``last_modified`` is whole seconds (what an HTTP-date can say). ``last_modified_strong`` says whether the
    server "reliably knows that the associated representation did not change twice during the second covered
    by the presented validator" (RFC 9110 section 8.8.2.2); only then can a date in ``If-Range`` match.
    """

    etag: EntityTag
    last_modified: int
    last_modified_strong: bool = True


@dataclass(frozen=True)
class Preconditions:
    """The request's precondition fields, raw; None when absent."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None
    if_range: str | None = None


def if_match_passes(value: str, current: EntityTag) -> bool:
    """RFC 9110 section 13.1.1: "If the field value is '*', the condition is true if the origin server has a
    current representation for the target resource. If the field value is a list of entity tags, the
    condition is true if any of the listed tags match the entity tag of the selected representation."
    (with the strong comparison)"""
    tags = parse_entity_tags(value)
    return tags == ANY or any(strong_match(tag, current) for tag in tags)


def if_none_match_passes(value: str, current: EntityTag) -> bool:
    """RFC 9110 section 13.1.2: "If the field value is '*', the condition is false if the origin server has a
    current representation for the target resource. If the field value is a list of entity tags, the condition
    is false if one of the listed tags matches the entity tag of the selected representation." A recipient
    "MUST use the weak comparison function when comparing entity tags for If-None-Match"."""
    tags = parse_entity_tags(value)
    return tags != ANY and not any(weak_match(tag, current) for tag in tags)


def if_range_passes(value: str, validators: Validators) -> bool:
    """RFC 9110 section 13.1.5, the If-Range condition.

    1. "If the validator given in the If-Range header field is an entity tag, the condition is true if the
       entity tag is a strong match for the current ETag of the selected representation" (hence a weak tag
       never matches);
    2. an HTTP-date matches when it is exactly the Last-Modified and that Last-Modified is strong;
    3. "Otherwise, the condition is false."
    """
    value = value.strip(" \t")
    tag = parse_entity_tag(value)
    if tag is not None:
        return strong_match(tag, validators.etag)
    date = parse_http_date(value)
    if date is not None:
        # "A valid entity-tag can be distinguished from a valid HTTP-date by examining the first three
        # characters for a DQUOTE", and the date must be "an exact match" of a strong Last-Modified.
        return validators.last_modified_strong and date == validators.last_modified
    return False


def evaluate(method: str, pre: Preconditions, validators: Validators, *, has_range: bool) -> Outcome:
    """The precedence of RFC 9110 section 13.2.2 (we are the origin server; a file is always there)."""
    # 1. "When recipient is the origin server and If-Match is present, evaluate the If-Match precondition:
    #    if true, continue to step 3; if false, respond 412 (Precondition Failed)"
    if pre.if_match is not None:
        if not if_match_passes(pre.if_match, validators.etag):
            return Outcome.PRECONDITION_FAILED
    # 2. "When recipient is the origin server, If-Match is not present, and If-Unmodified-Since is present,
    #    evaluate the If-Unmodified-Since precondition: if true, continue to step 3; if false, respond 412".
    #    Section 13.1.4: "A recipient MUST ignore the If-Unmodified-Since header field if the received field
    #    value is not a valid HTTP-date"; "The origin server MUST NOT perform the requested method if the
    #    selected representation's last modification date is more recent than the date provided".
    elif pre.if_unmodified_since is not None:
        date = parse_http_date(pre.if_unmodified_since)
        if date is not None and validators.last_modified > date:
            return Outcome.PRECONDITION_FAILED
    # 3. "When If-None-Match is present, evaluate the If-None-Match precondition: if true, continue to step 5;
    #    if false for GET/HEAD, respond 304 (Not Modified); if false for other methods, respond 412"
    if pre.if_none_match is not None:
        if not if_none_match_passes(pre.if_none_match, validators.etag):
            return Outcome.NOT_MODIFIED if method in ("GET", "HEAD") else Outcome.PRECONDITION_FAILED
    # 4. "When the method is GET or HEAD, If-None-Match is not present, and If-Modified-Since is present,
    #    evaluate the If-Modified-Since precondition: if true, continue to step 5; if false, respond 304".
    #    Section 13.1.3: ignore it when "the received field value is not a valid HTTP-date"; the condition is
    #    false when "the selected representation's last modification date is earlier or equal to the date".
    elif method in ("GET", "HEAD") and pre.if_modified_since is not None:
        date = parse_http_date(pre.if_modified_since)
        if date is not None and validators.last_modified <= date:
            return Outcome.NOT_MODIFIED
    # 5. "When the method is GET and both Range and If-Range are present, evaluate the If-Range precondition:
    #    if true and the Range is applicable to the selected representation, respond 206 (Partial Content);
    #    otherwise, ignore the Range header field and respond 200 (OK)"
    if (
        method == "GET"
        and has_range
        and pre.if_range is not None
        and not if_range_passes(pre.if_range, validators)
    ):
        return Outcome.IGNORE_RANGE
    # 6. "Otherwise, perform the requested method and respond according to its success or failure."
    return Outcome.SERVE
