"""Property-based fuzzing of the tus and IETF-draft headers at /files/, against the real server: never a 5xx,
never a traceback (issue 17's fuzz suite, extended to the standard protocols).

Hypothesis sends creation, append, HEAD and DELETE requests whose Upload-*, Tus-Resumable, Content-Type,
Upload-Complete, digest and method-override headers are near-valid or arbitrary bytes, to new and to existing
upload resources. Bounded by ``FUZZ_EXAMPLES`` (default 100 per property); a longer run::

    FUZZ_EXAMPLES=3000 bash scripts/test.sh tests/server/test_fuzz_resumable.py
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.server.test_fuzz import FUZZ, Raw
from tests.support.server_process import ServerProcess

HEADERS = [
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Defer-Length",
    "Upload-Metadata",
    "Upload-Checksum",
    "Upload-Concat",
    "Upload-Complete",
    "Upload-Draft-Interop-Version",
    "Content-Type",
    "Content-Disposition",
    "Content-Digest",
    "Repr-Digest",
    "Want-Repr-Digest",
    "X-HTTP-Method-Override",
]
NEAR = [
    b"1.0.0",
    b"0",
    b"5",
    b"-1",
    b"99999999999999999999999",
    b"1",
    b"?1",
    b"?0",
    b"8",
    b"partial",
    b"final;/files/x /files/y",
    b"final;",
    b"application/offset+octet-stream",
    b"application/partial-upload",
    b"filename aGVsbG8=,x",
    b"sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
    b"md5 ***",
    b"sha-256=:AAAA:",
    b"sha-256=10, sha-512=a",
    b"inline; filename*=UTF-8''%E4%BD%A0",
    b"PATCH",
    b"DELETE",
    b"GET",
]
header_values = st.one_of(
    st.sampled_from(NEAR), st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
)
header_sets = st.dictionaries(st.sampled_from(HEADERS), header_values, max_size=8)


@pytest.fixture(scope="module")
def fuzzed(shared_server: ServerProcess) -> Iterator[tuple[ServerProcess, Raw]]:
    raw = Raw(shared_server.url)
    before = len(shared_server.log)
    yield shared_server, raw
    logged = shared_server.log[before:]
    assert [line for line in logged if "Traceback" in line or " ERROR " in line] == []


def _existing(raw: Raw, server: ServerProcess) -> list[str]:
    """Upload resources of both protocols to aim at (created once per example run; cheap)."""
    paths = []
    for headers in ({"Tus-Resumable": b"1.0.0", "Upload-Length": b"10"}, {"Upload-Complete": b"?0"}):
        raw.conn.request("POST", "/files/", body=b"", headers={**headers, "Content-Length": "0"})
        response = raw.conn.getresponse()
        response.read()
        location = response.getheader("Location") or ""
        paths.append("/files/" + location.rsplit("/", 1)[-1])
    return paths


@FUZZ
@given(headers=header_sets, body=st.binary(max_size=64))
def test_creation_headers(fuzzed: tuple[ServerProcess, Raw], headers: dict[str, bytes], body: bytes) -> None:
    _server, raw = fuzzed
    assert raw.request("POST", "/files/", headers, body) < 500


@FUZZ
@given(
    headers=header_sets,
    body=st.binary(max_size=64),
    method=st.sampled_from(["PATCH", "HEAD", "DELETE", "POST", "GET", "PUT"]),
    target=st.sampled_from([0, 1, 2]),
)
def test_resource_headers(
    fuzzed: tuple[ServerProcess, Raw], headers: dict[str, bytes], body: bytes, method: str, target: int
) -> None:
    server, raw = fuzzed
    paths = [*_existing(raw, server), "/files/no-such-upload"]
    if method in ("HEAD", "DELETE"):
        body = b""
    assert raw.request(method, paths[target], headers, body) < 500
