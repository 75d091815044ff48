"""``server.rfc.conditionals`` and ``server.rfc.dates`` against RFC 9110 sections 5.6.7, 8.8 and 13."""

from __future__ import annotations

import calendar

import pytest

from server.rfc.conditionals import (
    ANY,
    EntityTag,
    Outcome,
    Preconditions,
    Validators,
    evaluate,
    if_match_passes,
    if_none_match_passes,
    if_range_passes,
    parse_entity_tag,
    parse_entity_tags,
    strong_match,
    weak_match,
)
from server.rfc.dates import format_http_date, parse_http_date

# The date of the RFC's examples: "Sun, 06 Nov 1994 08:49:37 GMT".
SUNDAY = calendar.timegm((1994, 11, 6, 8, 49, 37))
# The date in the If-Modified-Since/If-Unmodified-Since/If-Range examples: "Sat, 29 Oct 1994 19:43:31 GMT".
SATURDAY = calendar.timegm((1994, 10, 29, 19, 43, 31))

XYZZY = EntityTag('"xyzzy"')


# -- dates (section 5.6.7) -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # "IMF-fixdate"
        "Sunday, 06-Nov-94 08:49:37 GMT",  # "obsolete RFC 850 format"
        "Sun Nov  6 08:49:37 1994",  # "ANSI C's asctime() format"
    ],
)
def test_the_three_http_date_formats(value: str) -> None:
    assert parse_http_date(value, now=calendar.timegm((2026, 1, 1, 0, 0, 0))) == SUNDAY


def test_rfc850_two_digit_years_are_at_most_50_years_ahead() -> None:
    now = calendar.timegm((2026, 6, 1, 0, 0, 0))
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now=now) == SUNDAY  # 2094 is too far: 1994
    assert parse_http_date("Tuesday, 06-Nov-35 08:49:37 GMT", now=now) == calendar.timegm(
        (2035, 11, 6, 8, 49, 37)
    )


def test_generated_dates_are_imf_fixdate() -> None:
    assert format_http_date(SUNDAY) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert format_http_date(SUNDAY + 0.999) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37",  # no GMT
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "sun, 06 nov 1994 08:49:37 gmt",  # HTTP-date is case-sensitive
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",  # two field lines combined
        "Sat, 01 Jan 0000 00:00:00 GMT",  # four digits, but no year Python can count from
        "Sat Jan  1 00:00:00 0000",
    ],
)
def test_invalid_dates(value: str) -> None:
    assert parse_http_date(value) is None


# -- entity tags (section 8.8.3) -----------------------------------------------------------------------------


def test_entity_tag_examples() -> None:
    # Section 8.8.3: ETag: "xyzzy" / ETag: W/"xyzzy" / ETag: ""
    assert parse_entity_tag('"xyzzy"') == EntityTag('"xyzzy"', weak=False)
    assert parse_entity_tag('W/"xyzzy"') == EntityTag('"xyzzy"', weak=True)
    assert parse_entity_tag('""') == EntityTag('""')
    assert str(EntityTag('"xyzzy"', weak=True)) == 'W/"xyzzy"'
    for bad in ("xyzzy", '"xy"zzy"', 'w/"xyzzy"', '"xyzzy', '"a b"'):
        assert parse_entity_tag(bad) is None


# Section 8.8.3.2, the table: ETag 1 | ETag 2 | Strong Comparison | Weak Comparison
@pytest.mark.parametrize(
    ("one", "two", "strong", "weak"),
    [
        ('W/"1"', 'W/"1"', False, True),
        ('W/"1"', 'W/"2"', False, False),
        ('W/"1"', '"1"', False, True),
        ('"1"', '"1"', True, True),
    ],
)
def test_comparison_table(one: str, two: str, strong: bool, weak: bool) -> None:
    a, b = parse_entity_tag(one), parse_entity_tag(two)
    assert a is not None and b is not None
    assert strong_match(a, b) is strong and strong_match(b, a) is strong
    assert weak_match(a, b) is weak and weak_match(b, a) is weak


def test_entity_tag_lists() -> None:
    # Examples of sections 13.1.1 and 13.1.2.
    assert parse_entity_tags('"xyzzy", "r2d2xxxx", "c3piozzzz"') == [
        EntityTag('"xyzzy"'),
        EntityTag('"r2d2xxxx"'),
        EntityTag('"c3piozzzz"'),
    ]
    assert parse_entity_tags('W/"xyzzy", W/"r2d2xxxx", W/"c3piozzzz"') == [
        EntityTag('"xyzzy"', True),
        EntityTag('"r2d2xxxx"', True),
        EntityTag('"c3piozzzz"', True),
    ]
    assert parse_entity_tags("*") == ANY
    assert parse_entity_tags(' , "a,b" ,, W/"c"') == [
        EntityTag('"a,b"'),
        EntityTag('"c"', True),
    ]  # commas inside
    assert parse_entity_tags('garbage, "ok"') == [EntityTag('"ok"')]  # a bad member matches nothing
    assert parse_entity_tags('"a" "b"') == []


# -- each precondition ---------------------------------------------------------------------------------------


def test_if_match() -> None:
    # Section 13.1.1: If-Match: "xyzzy" / "xyzzy", "r2d2xxxx", "c3piozzzz" / *
    assert if_match_passes('"xyzzy"', XYZZY)
    assert if_match_passes('"xyzzy", "r2d2xxxx", "c3piozzzz"', XYZZY)
    assert if_match_passes("*", XYZZY)
    assert not if_match_passes('"r2d2xxxx"', XYZZY)
    # "An origin server MUST use the strong comparison function when comparing entity tags for If-Match"
    assert not if_match_passes('W/"xyzzy"', XYZZY)
    assert not if_match_passes("xyzzy", XYZZY)


def test_if_none_match() -> None:
    # Section 13.1.2 examples; "A recipient MUST use the weak comparison function"
    assert not if_none_match_passes('"xyzzy"', XYZZY)
    assert not if_none_match_passes('W/"xyzzy"', XYZZY)
    assert not if_none_match_passes('"xyzzy", "r2d2xxxx", "c3piozzzz"', XYZZY)
    assert not if_none_match_passes('W/"xyzzy", W/"r2d2xxxx", W/"c3piozzzz"', XYZZY)
    assert not if_none_match_passes("*", XYZZY)
    assert if_none_match_passes('"r2d2xxxx", "c3piozzzz"', XYZZY)
    assert if_none_match_passes("garbage", XYZZY)


def test_if_range() -> None:
    validators = Validators(XYZZY, SATURDAY)
    # Section 13.1.5 examples: If-Range: "xyzzy" / If-Range: Sat, 29 Oct 1994 19:43:31 GMT
    assert if_range_passes('"xyzzy"', validators)
    assert if_range_passes("Sat, 29 Oct 1994 19:43:31 GMT", validators)
    assert not if_range_passes('"r2d2xxxx"', validators)
    assert not if_range_passes('W/"xyzzy"', validators)  # a strong match is required
    assert not if_range_passes("Sat, 29 Oct 1994 19:43:30 GMT", validators)  # an exact match is required
    assert not if_range_passes("Sat, 29 Oct 1994 19:43:32 GMT", validators)
    assert not if_range_passes("garbage", validators)  # "Otherwise, the condition is false."
    assert not if_range_passes('"xyzzy", "r2d2xxxx"', validators)  # one validator, not a list
    # A Last-Modified that is not strong never matches a date.
    assert not if_range_passes("Sat, 29 Oct 1994 19:43:31 GMT", Validators(XYZZY, SATURDAY, False))
    assert if_range_passes('"xyzzy"', Validators(XYZZY, SATURDAY, False))


# -- the precedence of section 13.2.2 ------------------------------------------------------------------------

V = Validators(XYZZY, SATURDAY)
BEFORE = "Fri, 28 Oct 1994 19:43:31 GMT"
AT = "Sat, 29 Oct 1994 19:43:31 GMT"
AFTER = "Sun, 30 Oct 1994 19:43:31 GMT"


@pytest.mark.parametrize(
    ("method", "pre", "has_range", "outcome"),
    [
        ("GET", Preconditions(), False, Outcome.SERVE),
        # step 1: If-Match
        ("GET", Preconditions(if_match='"xyzzy"'), False, Outcome.SERVE),
        ("GET", Preconditions(if_match='"other"'), False, Outcome.PRECONDITION_FAILED),
        ("HEAD", Preconditions(if_match='"other"'), False, Outcome.PRECONDITION_FAILED),
        # step 2: If-Unmodified-Since, only without If-Match
        ("GET", Preconditions(if_unmodified_since=BEFORE), False, Outcome.PRECONDITION_FAILED),
        ("GET", Preconditions(if_unmodified_since=AT), False, Outcome.SERVE),
        ("GET", Preconditions(if_unmodified_since=AFTER), False, Outcome.SERVE),
        ("GET", Preconditions(if_unmodified_since="not a date"), False, Outcome.SERVE),  # ignored
        ("GET", Preconditions(if_match='"xyzzy"', if_unmodified_since=BEFORE), False, Outcome.SERVE),
        # step 3: If-None-Match
        ("GET", Preconditions(if_none_match='"xyzzy"'), False, Outcome.NOT_MODIFIED),
        ("HEAD", Preconditions(if_none_match='W/"xyzzy"'), False, Outcome.NOT_MODIFIED),
        ("GET", Preconditions(if_none_match="*"), False, Outcome.NOT_MODIFIED),
        ("POST", Preconditions(if_none_match='"xyzzy"'), False, Outcome.PRECONDITION_FAILED),
        ("GET", Preconditions(if_none_match='"other"'), False, Outcome.SERVE),
        # step 4: If-Modified-Since, only for GET/HEAD and without If-None-Match
        ("GET", Preconditions(if_modified_since=AT), False, Outcome.NOT_MODIFIED),
        ("GET", Preconditions(if_modified_since=AFTER), False, Outcome.NOT_MODIFIED),
        ("HEAD", Preconditions(if_modified_since=AT), False, Outcome.NOT_MODIFIED),
        ("GET", Preconditions(if_modified_since=BEFORE), False, Outcome.SERVE),
        ("GET", Preconditions(if_modified_since="garbage"), False, Outcome.SERVE),
        ("POST", Preconditions(if_modified_since=AT), False, Outcome.SERVE),
        # "A recipient MUST ignore If-Modified-Since if the request contains an If-None-Match header field"
        ("GET", Preconditions(if_none_match='"other"', if_modified_since=AFTER), False, Outcome.SERVE),
        # step 1 before step 3: a failed If-Match is 412 even when If-None-Match would give 304
        (
            "GET",
            Preconditions(if_match='"other"', if_none_match='"xyzzy"'),
            False,
            Outcome.PRECONDITION_FAILED,
        ),
        # step 5: If-Range, only for GET with a Range
        ("GET", Preconditions(if_range='"xyzzy"'), True, Outcome.SERVE),
        ("GET", Preconditions(if_range=AT), True, Outcome.SERVE),
        ("GET", Preconditions(if_range='"other"'), True, Outcome.IGNORE_RANGE),
        ("GET", Preconditions(if_range=BEFORE), True, Outcome.IGNORE_RANGE),
        ("GET", Preconditions(if_range='"other"'), False, Outcome.SERVE),  # no Range: If-Range is ignored
        ("HEAD", Preconditions(if_range='"other"'), True, Outcome.SERVE),  # not GET
        # preconditions come before If-Range
        ("GET", Preconditions(if_none_match='"xyzzy"', if_range='"other"'), True, Outcome.NOT_MODIFIED),
        ("GET", Preconditions(if_match='"other"', if_range='"xyzzy"'), True, Outcome.PRECONDITION_FAILED),
    ],
)
def test_precedence(method: str, pre: Preconditions, has_range: bool, outcome: Outcome) -> None:
    assert evaluate(method, pre, V, has_range=has_range) is outcome
