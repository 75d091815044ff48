"""The streaming chunk-form parser (server/uploads/form.py): events in order, whatever the network's cuts."""

from __future__ import annotations

import os

import pytest

from server.errors import ApiError, E
from server.uploads.form import FormParser, PartData, PartEnd, PartStart, boundary_of
from tests.support.seed_protocol import form_body


def parse(body: bytes, boundary: bytes, piece: int) -> tuple[list[tuple[str, bool, bytes]], FormParser]:
    parser = FormParser(boundary)
    parts: list[tuple[str, bool, bytes]] = []
    for i in range(0, len(body), piece):
        for event in parser.feed(body[i : i + piece]):
            if isinstance(event, PartStart):
                parts.append((event.name, event.is_file, b""))
            elif isinstance(event, PartData):
                name, is_file, data = parts[-1]
                parts[-1] = (name, is_file, data + bytes(event.data))
            else:
                assert isinstance(event, PartEnd)
    return parts, parser


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_parts_in_order_whatever_the_cuts(piece: int) -> None:
    chunk = os.urandom(20_000) + b"\r\n--not-the-boundary\r\n"
    body, content_type = form_body(
        [("file", chunk), ("chunkId", "abc0"), ("fileId", "f" * 32)], boundary="XyZ"
    )
    parts, parser = parse(body, boundary_of(content_type), piece)
    assert parts == [("file", True, chunk), ("chunkId", False, b"abc0"), ("fileId", False, b"f" * 32)]
    parser.close()


def test_truncated_body_is_incomplete() -> None:
    body, content_type = form_body([("file", b"x" * 1000)], boundary="b")
    _, parser = parse(body[:-10], boundary_of(content_type), 100)
    with pytest.raises(ApiError) as info:
        parser.close()
    assert info.value.kind is E.INCOMPLETE_BODY


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/mixed; boundary=a",
        "multipart/form-data; boundary=" + "x" * 71,
        "multipart/form-data; boundary=€",  # not Latin-1, not ASCII
        "multipart/form-data; boundary=é",  # Latin-1, not ASCII
    ],
)
def test_bad_content_types(content_type: str) -> None:
    with pytest.raises(ApiError) as info:
        boundary_of(content_type)
    assert info.value.kind is E.BAD_FORM


def test_part_without_a_name() -> None:
    parser = FormParser(b"b")
    with pytest.raises(ApiError) as info:
        parser.feed(b"--b\r\nContent-Disposition: attachment\r\n\r\nx\r\n--b--\r\n")
    assert info.value.kind is E.BAD_FORM


def test_garbage() -> None:
    parser = FormParser(b"b")
    with pytest.raises(ApiError) as info:
        parser.feed(b"--c\r\n" * 10)
    assert info.value.kind is E.BAD_FORM
