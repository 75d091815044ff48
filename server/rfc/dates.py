"""HTTP-date (RFC 9110 section 5.6.7): parse the three formats a recipient must accept, format IMF-fixdate."""

from __future__ import annotations

import calendar
import re
import time
from email.utils import formatdate

_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "(?P<month>" + "|".join(_MONTHS) + ")"
_TIME = r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"

# "HTTP-date = IMF-fixdate / obs-date" and "obs-date = rfc850-date / asctime-date";
# "A recipient that parses a timestamp value in an HTTP field MUST accept all three HTTP-date formats."
_IMF_FIXDATE = re.compile(
    rf"{_DAY}, (?P<day>\d\d) {_MONTH} (?P<year>\d{{4}}) {_TIME} GMT"
)  # Sun, 06 Nov 1994 08:49:37 GMT
_RFC850 = re.compile(
    rf"{_LONG_DAY}, (?P<day>\d\d)-{_MONTH}-(?P<year>\d\d) {_TIME} GMT"
)  # Sunday, 06-Nov-94 08:49:37 GMT
_ASCTIME = re.compile(
    rf"{_DAY} {_MONTH} (?P<day>[ \d]\d) {_TIME} (?P<year>\d{{4}})"
)  # Sun Nov  6 08:49:37 1994


def parse_http_date(value: str, now: float | None = None) -> int | None:
    """Seconds since the epoch for a valid HTTP-date, else None (callers then ignore the field)."""
    value = value.strip()
    match = _IMF_FIXDATE.fullmatch(value) or _ASCTIME.fullmatch(value)
    year: int
    if match is not None:
        year = int(match["year"])
    elif (match := _RFC850.fullmatch(value)) is not None:
        # "Recipients of a timestamp value in rfc850-date format, which uses a two-digit year, MUST interpret
        # a timestamp that appears to be more than 50 years in the future as representing the most recent year
        # in the past that had the same last two digits."
        this_year = time.gmtime(now).tm_year
        year = this_year - this_year % 100 + int(match["year"])
        if year > this_year + 50:
            year -= 100
    else:
        return None
    fields = (
        year,
        _MONTHS.index(match["month"]) + 1,
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
    )
    second = int(match["second"])
    if not (1 <= fields[2] <= 31 and fields[3] <= 23 and fields[4] <= 59 and second <= 60):
        return None
    try:
        max_day = calendar.monthrange(fields[0], fields[1])[1]
    except (ValueError, calendar.IllegalMonthError):
        return None
    if fields[2] > max_day:
        return None
    try:
        return calendar.timegm((*fields, min(second, 59), 0, 0, 0))
    except (ValueError, OverflowError):  # year 0000: four digits, but no date Python can count from
        return None


def format_http_date(seconds: float) -> str:
    """IMF-fixdate, the format "a sender MUST generate" (RFC 9110 section 5.6.7)."""
    return formatdate(int(seconds), usegmt=True)
