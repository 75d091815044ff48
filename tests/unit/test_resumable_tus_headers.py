"""tus 1.0.0's header rules (server/resumable/tus_headers.py), from the protocol's own examples and words."""

from __future__ import annotations

import base64

import pytest

from server.errors import ApiError, E
from server.resumable import tus_headers as tus


def test_the_metadata_example() -> None:
    # "Upload-Metadata: filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential"
    pairs = tus.parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
    assert pairs == {"filename": b"world_domination_plan.pdf", "is_confidential": b""}
    assert tus.metadata_text(pairs, "filename") == "world_domination_plan.pdf"
    assert tus.metadata_text(pairs, "missing") is None
    assert tus.metadata_text({"x": b"\xff"}, "x") is None  # not text
    assert tus.parse_metadata(None) == {} and tus.parse_metadata("") == {}


@pytest.mark.parametrize(
    "value",
    [
        "filename",  # fine: an empty value may leave out the space
        "a YQ==, b Yg==",  # spaces after commas are tolerated
    ],
)
def test_metadata_that_is_accepted(value: str) -> None:
    tus.parse_metadata(value)


@pytest.mark.parametrize(
    "value",
    [
        "a YQ==,a Yg==",  # "All keys MUST be unique"
        "a,,b",  # "MUST NOT be empty"
        "caf\u00e9 YQ==",  # the key SHOULD be ASCII: refused
        "a not-base64!",  # "the value MUST be Base64 encoded"
    ],
)
def test_metadata_that_is_refused(value: str) -> None:
    with pytest.raises(ApiError) as refused:
        tus.parse_metadata(value)
    assert refused.value.kind is E.BAD_UPLOAD_HEADER


def test_sizes() -> None:
    assert tus.parse_size("Upload-Offset", "70") == 70
    assert tus.parse_size("Upload-Offset", None) is None
    for bad in ("-1", "1.5", "", "9" * 20, "0x10"):
        with pytest.raises(ApiError):
            tus.parse_size("Upload-Length", bad)


def test_defer_length() -> None:
    assert tus.parse_defer_length("1") and not tus.parse_defer_length(None)
    with pytest.raises(ApiError):
        tus.parse_defer_length("2")  # "any other value than 1 ... 400 Bad Request"


def test_the_checksum_example() -> None:
    # "Upload-Checksum: sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=" for "hello world"
    checksum = tus.parse_checksum("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")
    assert checksum is not None and checksum.algorithm == "sha1"
    assert checksum.digest == base64.b64decode("Kq5sNclPz7QV2+lfQIuc6R7oRu0=")
    with pytest.raises(ApiError) as unsupported:
        tus.parse_checksum("crc32 AAAA")
    assert unsupported.value.kind is E.BAD_CHECKSUM_ALGORITHM and unsupported.value.status == 400
    with pytest.raises(ApiError):
        tus.parse_checksum("sha1 ***")


def test_version() -> None:
    tus.check_version("1.0.0")
    for other in (None, "0.2.2", ""):
        with pytest.raises(ApiError) as refused:
            tus.check_version(other)
        assert refused.value.status == 412 and refused.value.headers["Tus-Version"] == "1.0.0"


def test_concat() -> None:
    assert tus.parse_concat(None, "/files/") is None
    assert tus.parse_concat("partial", "/files/") == tus.Concat(partial=True)
    # The spec's example: "Upload-Concat: final;/files/a /files/b"; URLs may also be absolute.
    final = tus.parse_concat("final;/files/a https://tus.example.org/files/b", "/files/")
    assert final == tus.Concat(partial=False, parts=("a", "b"))
    for bad in ("final", "final;", "finally;/files/a", "final;/other/a", "final;/files/a/b", "partial;x"):
        with pytest.raises(ApiError):
            tus.parse_concat(bad, "/files/")
