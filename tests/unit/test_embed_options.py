"""The embed's options as the server checks them (``server.embed.parse_options``), the frame-ancestors
directive and the document they render to."""

from __future__ import annotations

import json
import re

import pytest

from server.embed import EMBED_HTML, EmbedOptions, frame_ancestors, parse_options, render_document
from server.errors import ApiError
from server.settings import Settings


def test_the_documented_attributes() -> None:
    options = parse_options(
        {
            "id": "ru1-x",
            "parallel": "3",
            "accept": "image/*,.pdf",
            "max-size": "104857600",
            "multiple": "1",
            "lang": "zh",
        }
    )
    assert options.parallel == 3 and options.multiple and options.lang == "zh"
    assert str(options.accept) == "image/*,.pdf"
    assert options.for_python(Settings(max_file_bytes=50)) == {
        "id": "ru1-x",
        "lang": "zh",
        "parallel": 3,
        "accept": "image/*,.pdf",
        "maxSize": 50,
        "multiple": True,
    }
    assert options.effective_max_size(Settings()) == 104857600


def test_defaults() -> None:
    options = parse_options({})
    assert options == EmbedOptions()
    assert options.effective_max_size(Settings()) == Settings().max_file_bytes
    assert parse_options({"lang": "fr-FR"}).lang == "en"  # a preference, not an error


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"parallel": "0"}, "parallel must be a whole number from 1 to 16, got '0'"),
        ({"parallel": "17"}, "parallel must be a whole number from 1 to 16"),
        ({"parallel": "three"}, "parallel must be a whole number"),
        ({"max-size": "100MB"}, "max-size must be a positive whole number of bytes, got '100MB'"),
        ({"max-size": "0"}, "max-size must be a positive"),
        ({"accept": "pdf"}, "accept: 'pdf' is neither a file extension"),
        ({"multiple": "maybe"}, "multiple must be present (true) or absent (false)"),
        ({"id": "<script>"}, "id must be 1 to 64 letters"),
        ({"label-choose": "x" * 101}, "label-choose must be at most 100 characters"),
    ],
)
def test_bad_options_say_which_and_why(query: dict[str, str], message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_options(query)
    assert caught.value.kind.name == "BAD_EMBED_OPTION" and caught.value.status == 400
    assert caught.value.msg.startswith(message), caught.value.msg


def test_frame_ancestors() -> None:
    assert frame_ancestors(("*",)) == "frame-ancestors *"
    assert frame_ancestors(("https://a.example", "http://127.0.0.1:8080")) == (
        "frame-ancestors 'self' https://a.example http://127.0.0.1:8080"
    )
    # Anything that is not an origin cannot reach the policy (it could add sources or directives).
    assert frame_ancestors(("https://a.example; script-src *", "null", "https://b.example/path")) == (
        "frame-ancestors 'self'"
    )


def test_the_document_speaks_the_language_and_escapes_what_the_host_gave() -> None:
    options = parse_options({"lang": "zh", "accept": ".pdf", "label-choose": '<img src=x onerror="a()">'})
    html = render_document(options, Settings(), EMBED_HTML.read_text(encoding="utf-8"))
    assert '<html lang="zh-CN"' in html
    assert "将一个文件拖到这里，或" in html  # not multiple: "a file"
    assert "&lt;img src=x onerror=&quot;a()&quot;&gt;" in html and "<img" not in html
    assert 'type="file" accept=".pdf">' in html
    raw = re.search(r'<script id="embed-options" type="application/json">(.*?)</script>', html)
    assert raw is not None and json.loads(raw.group(1))["accept"] == ".pdf"
    # JSON cannot end the script element early.
    sneaky = render_document(
        parse_options({"id": "a"}),
        Settings(),
        "${options_json}"
        + "".join(
            f"${{{name}}}"
            for name in (
                "lang",
                "title",
                "input_attributes",
                "drop_hint",
                "choose",
                "waiting_one",
                "waiting_many",
                "starting",
            )
        ),
    )
    assert "</" not in sneaky
