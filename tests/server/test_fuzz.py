"""Property-based fuzzing of what a client controls, against the real server: never a 5xx, never a traceback.

Hypothesis generates handshake bodies (near-valid JSON objects, any JSON, any bytes), chunk forms (fields in
any order, odd names, boundaries and content types, bodies cut short), and ``Range`` / conditional header
values for ``/download/`` and ``/upload/``. Every answer must be below 500, and the server must log no
traceback and no ERROR line. The example count is bounded for the test suite (``FUZZ_EXAMPLES``, default
100 per property); a longer run::

    FUZZ_EXAMPLES=5000 bash scripts/test.sh tests/server/test_fuzz.py
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.seed_protocol import form_body
from tests.support.server_process import ServerProcess
from tests.support.waiting import wait_until

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CONTENT = os.urandom(3000)
STORED = hashlib.md5(CONTENT).hexdigest()


class Raw:
    """One keep-alive HTTP/1.1 connection that sends header values as given (bytes), and reconnects when the
    server closes it (it may, after a malformed request)."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, method: str, path: str, headers: dict[str, bytes], body: bytes = b"") -> int:
        for attempt in range(2):
            try:
                self.conn.putrequest(method, path, skip_accept_encoding=True)
                for name, value in headers.items():
                    self.conn.putheader(name, value)
                self.conn.putheader("Content-Length", str(len(body)))
                self.conn.endheaders(body)
                response = self.conn.getresponse()
                response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self._reconnect()
                return response.status
            except (ConnectionError, http.client.HTTPException):
                self._reconnect()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _reconnect(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)


@pytest.fixture(scope="module")
def fuzzed(shared_server: ServerProcess) -> Iterator[tuple[ServerProcess, Raw]]:
    """The shared server with a downloadable file and a published upload; at the end, its log is checked."""
    folder = shared_server.data_dir / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.bin").write_bytes(CONTENT)
    raw = Raw(shared_server.url)
    chunk_id = STORED + "0"
    handshake = json.dumps({"fileId": STORED, "ext": ".bin", "chunkIds": [chunk_id]}).encode()
    assert (
        raw.request("POST", "/api/upload/handshake", {"Content-Type": b"application/json"}, handshake) == 200
    )
    body, content_type = form_body([("file", CONTENT), ("chunkId", chunk_id), ("fileId", STORED)])
    assert raw.request("POST", "/api/upload", {"Content-Type": content_type.encode()}, body) == 200
    before = len(shared_server.log)
    yield shared_server, raw
    # A last upload whose "assembled" line marks the end of what the fuzzing made the server log.
    marker = os.urandom(10)
    marker_id = hashlib.md5(marker).hexdigest()
    handshake = json.dumps({"fileId": marker_id, "ext": "", "chunkIds": [marker_id + "0"]}).encode()
    raw.request("POST", "/api/upload/handshake", {"Content-Type": b"application/json"}, handshake)
    body, content_type = form_body([("file", marker), ("chunkId", marker_id + "0"), ("fileId", marker_id)])
    raw.request("POST", "/api/upload", {"Content-Type": content_type.encode()}, body)
    wait_until(lambda: shared_server.assemblies(marker_id) == 1, what="the marker upload's log line")
    logged = shared_server.log[before:]
    assert [line for line in logged if "Traceback" in line or " ERROR " in line] == []


# ------------------------------------------------------------------ strategies

any_text = st.text(st.characters(codec=None), max_size=40)  # surrogates included
hexish = st.text("0123456789abcdefABCDEFxg", min_size=0, max_size=40)
chunk_idish = st.one_of(hexish, st.builds(lambda h, n: h + str(n), hexish, st.integers(-5, 10**12)))
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(any_text, inner, max_size=5),
    max_leaves=20,
)
handshake_object = st.fixed_dictionaries(
    {},
    optional={
        "fileId": st.one_of(hexish, json_value, st.just(STORED)),
        "ext": st.one_of(any_text, json_value, st.sampled_from(["", ".bin", ".", "..", ".a/b"])),
        "chunkIds": st.one_of(st.lists(chunk_idish, max_size=8), json_value),
        "name": st.one_of(any_text, json_value),
        "size": st.one_of(st.integers(-(2**70), 2**70), st.floats(), json_value),
    },
)
header_value = st.binary(max_size=60).filter(lambda b: not any(c in b for c in b"\r\n\x00"))
digits = st.one_of(st.text(string.digits, max_size=25), st.just("9" * 4400), st.just("0" * 5000 + "7"))
range_spec = st.builds(lambda a, b: f"{a}-{b}", digits, digits) | any_text.map(lambda t: t[:10])
range_value = st.one_of(
    st.builds(
        lambda unit, specs, sep: f"{unit}={sep.join(specs)}",
        st.sampled_from(["bytes", "BYTES", "items", ""]),
        st.lists(range_spec, max_size=6),
        st.sampled_from([",", ", ", " ,\t", ",,"]),
    ),
    header_value.map(lambda b: b.decode("latin-1")),
)
date_value = st.one_of(
    st.builds(
        lambda day, d, m, y, h, mi, s: f"{day}, {d:02d} {m} {y:04d} {h:02d}:{mi:02d}:{s:02d} GMT",
        st.sampled_from(["Mon", "Sun", "Xyz"]),
        st.integers(0, 99),
        st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
        st.integers(0, 9999),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
    ),
    header_value.map(lambda b: b.decode("latin-1")),
)
etag_value = st.one_of(
    st.sampled_from(["*", '"x"', 'W/"x"', '"', "W/", ""]), header_value.map(lambda b: b.decode("latin-1"))
)


def latin1(text: str) -> bytes:
    """A header value as it can go on the wire: Latin-1, without the bytes that end a field line."""
    return text.encode("latin-1", "replace").translate(None, b"\r\n\x00")


# ------------------------------------------------------------------ properties


@FUZZ
@given(body=st.one_of(handshake_object, json_value, st.binary(max_size=200)))
def test_handshake_bodies(fuzzed: tuple[ServerProcess, Raw], body: Any) -> None:
    _, raw = fuzzed
    data = body if isinstance(body, bytes) else json.dumps(body).encode()  # \\u escapes carry surrogates
    status = raw.request("POST", "/api/upload/handshake", {"Content-Type": b"application/json"}, data)
    assert status < 500


@FUZZ
@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from(["file", "chunkId", "fileId", "other", "", "FILE"]),
            st.one_of(st.binary(max_size=300), chunk_idish, hexish, st.just(STORED), st.just(STORED + "0")),
        ),
        max_size=5,
    ),
    boundary=st.one_of(
        st.just(None), st.text(string.ascii_letters + string.digits + "'()+_,-./:=? ", max_size=75)
    ),
    content_type=st.one_of(st.just(None), header_value),
    cut=st.one_of(st.none(), st.integers(0, 400)),
)
def test_chunk_forms(
    fuzzed: tuple[ServerProcess, Raw],
    fields: list[tuple[str, bytes | str]],
    boundary: str | None,
    content_type: bytes | None,
    cut: int | None,
) -> None:
    _, raw = fuzzed
    body, good_type = form_body(fields, boundary or None)
    if cut is not None:
        body = body[:cut]
    headers = {"Content-Type": content_type if content_type is not None else latin1(good_type)}
    assert raw.request("POST", "/api/upload", headers, body) < 500


@FUZZ
@given(
    path=st.sampled_from(["/download/a.bin", f"/upload/{STORED}.bin", "/download/missing"]),
    method=st.sampled_from(["GET", "HEAD"]),
    range_header=st.one_of(st.none(), range_value),
    if_range=st.one_of(st.none(), date_value, etag_value),
    if_modified_since=st.one_of(st.none(), date_value),
    if_unmodified_since=st.one_of(st.none(), date_value),
    if_none_match=st.one_of(st.none(), etag_value),
    if_match=st.one_of(st.none(), etag_value),
)
def test_range_and_conditional_headers(
    fuzzed: tuple[ServerProcess, Raw],
    path: str,
    method: str,
    range_header: str | None,
    if_range: str | None,
    if_modified_since: str | None,
    if_unmodified_since: str | None,
    if_none_match: str | None,
    if_match: str | None,
) -> None:
    _, raw = fuzzed
    values = {
        "Range": range_header,
        "If-Range": if_range,
        "If-Modified-Since": if_modified_since,
        "If-Unmodified-Since": if_unmodified_since,
        "If-None-Match": if_none_match,
        "If-Match": if_match,
    }
    headers = {name: latin1(value) for name, value in values.items() if value is not None}
    assert raw.request(method, path, headers) < 500
