"""Waiting for a file's ``Repr-Digest`` (RFC 9530): the server computes it in the background after the file is
first asked for, so a test that compares answers (a HEAD with its GET, say) first waits for it to be there."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from server.rfc.digests import parse_digests
from tests.support.waiting import async_wait_until, wait_until


def repr_digest(url: str) -> dict[str, bytes] | None:
    """The ``Repr-Digest`` of a HEAD of ``url`` (blocking; ``url`` percent-encoded), None while there is none."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)  # (no proxy from the environment)
    try:
        conn.request("HEAD", parts.path + (f"?{parts.query}" if parts.query else ""))
        resp = conn.getresponse()
        return parse_digests(resp.getheader("Repr-Digest")) if resp.status == 200 else None
    finally:
        conn.close()


def wait_for_repr_digest(url: str, timeout: float = 10.0) -> dict[str, bytes]:
    """Wait until ``url`` answers with a ``Repr-Digest``, and return it (blocking)."""
    wait_until(lambda: repr_digest(url) is not None, timeout, f"a Repr-Digest for {url}")
    found = repr_digest(url)
    assert found is not None
    return found


async def async_repr_digest(http: aiohttp.ClientSession, url: str | URL) -> dict[str, bytes] | None:
    async with http.head(url) as resp:
        return parse_digests(resp.headers.get("Repr-Digest")) if resp.status == 200 else None


async def await_repr_digest(
    http: aiohttp.ClientSession, url: str | URL, timeout: float = 10.0
) -> dict[str, bytes]:
    """Wait until ``url`` answers with a ``Repr-Digest``, and return it."""
    found: dict[str, bytes] | None = None

    async def present() -> bool:
        nonlocal found
        found = await async_repr_digest(http, url)
        return found is not None

    await async_wait_until(present, timeout, f"a Repr-Digest for {url}")
    assert found is not None
    return found
