"""``server.rfc.content_disposition`` against RFC 6266 and RFC 8187 (their examples and rules)."""

from __future__ import annotations

import pytest

from server.rfc.content_disposition import ascii_fallback, content_disposition, encode_ext_value
from tests.support.http_ranges import decode_ext_value, offered_name, parse_content_disposition


def test_rfc_8187_examples_decode() -> None:
    # RFC 8187 section 3.2.3 / 3.3: title*=iso-8859-1'en'%A3%20rates and
    # UTF-8''%c2%a3%20and%20%e2%82%ac%20rates
    assert decode_ext_value("iso-8859-1'en'%A3%20rates") == "£ rates"
    assert decode_ext_value("UTF-8''%c2%a3%20and%20%e2%82%ac%20rates") == "£ and € rates"


def test_rfc_8187_example_encodes_to_the_same_value() -> None:
    assert encode_ext_value("£ and € rates").lower() == "utf-8''%c2%a3%20and%20%e2%82%ac%20rates"


def test_rfc_6266_examples_parse_as_the_rfc_says() -> None:
    # RFC 6266 section 5.
    assert parse_content_disposition("Attachment; filename=example.html") == (
        "attachment",
        {"filename": "example.html"},
    )
    assert parse_content_disposition('INLINE; FILENAME= "an example.html"') == (
        "inline",
        {"filename": "an example.html"},
    )
    assert offered_name("attachment; filename*= UTF-8''%e2%82%ac%20rates") == "€ rates"
    # "Note: those user agents that do not support the RFC 8187 encoding will display 'EURO rates'"; the
    # others pick filename*.
    value = "attachment; filename=\"EURO rates\"; filename*=utf-8''%e2%82%ac%20rates"
    assert offered_name(value) == "€ rates"


def test_euro_rates_the_way_rfc_6266_recommends() -> None:
    value = content_disposition("€ rates")
    # filename first, then filename* (appendix D), the fallback ASCII only.
    assert value == "attachment; filename=\"_ rates\"; filename*=UTF-8''%E2%82%AC%20rates"
    assert offered_name(value) == "€ rates"


def test_plain_ascii_names_need_no_filename_star() -> None:
    assert content_disposition("report-2026.pdf") == 'attachment; filename="report-2026.pdf"'
    assert content_disposition("a b (1).txt") == 'attachment; filename="a b (1).txt"'


@pytest.mark.parametrize(
    "name",
    [
        "报告.pdf",
        "中文 名字 (最终版).tar.gz",
        "café.txt",
        'quote"back\\slash.txt',
        "100%25 sure.txt",  # "%" followed by hex digits would be decoded by some agents (RFC 6266 appendix D)
        "semi;colon,comma=equals.txt",
        "line\r\nbreak.txt",
        "emoji 🎉.png",
        "   ",
        "ü",
        "+!#$&^`|~.bin",
    ],
)
def test_any_name_round_trips_and_the_fallback_is_safe_ascii(name: str) -> None:
    value = content_disposition(name)
    assert value.isascii() and "\r" not in value and "\n" not in value
    disposition, params = parse_content_disposition(value)
    assert disposition == "attachment"
    assert offered_name(value) == name
    fallback = params["filename"]
    assert fallback == ascii_fallback(name)
    assert all(0x20 <= ord(c) < 0x7F for c in fallback)
    assert '"' not in fallback and "\\" not in fallback and "%" not in fallback


def test_fallbacks() -> None:
    assert ascii_fallback("café.txt") == "cafe.txt"  # accents dropped
    assert ascii_fallback("报告.pdf") == "download.pdf"  # nothing readable left: a neutral stem
    assert ascii_fallback("报告") == "download"
    assert ascii_fallback("报告 2026.pdf") == "_ 2026.pdf"
    assert ascii_fallback("报告.文档") == "download"
