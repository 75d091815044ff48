"""The embedded uploader with a ``token`` against a server started with ``--auth-secret``, in real Chromium:
the frame's engine sends the token on every request and, for a file the server already has, proves in the
browser (Pyodide's hashlib) that it has its bytes; a bad token is refused before any frame is made."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from server.access import Scope, mint
from tests.e2e.embed_host import EmbedHost, HostServer, host_page, snippet
from tests.e2e.harness import MiB, Net, md5_of
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.e2e

SECRET = "e2e-test-secret-of-32-bytes-ok!!"


def token(scope: Scope, now: float | None = None, ttl: float = 600, **claims: object) -> str:
    return mint(SECRET.encode(), scope, now=time.time() if now is None else now, ttl=ttl, **claims)  # type: ignore[arg-type]


@pytest.fixture
def host_server() -> Iterator[HostServer]:
    with HostServer() as host:
        yield host


def test_an_uploader_with_a_token_uploads_and_proves_it_has_a_stored_file(
    page: Page,
    make_server: Callable[..., ServerProcess],
    host_server: HostServer,
    files: Callable[..., Path],
    net: Net,
) -> None:
    server = make_server("--auth-secret", SECRET)
    good = token(Scope.UPLOAD, max_size=8 * MiB)
    expired = token(Scope.UPLOAD, now=time.time() - 3600, ttl=60)
    body = "\n".join(
        [
            snippet(server.url, f'id="up" multiple token="{good}"'),
            f'<resumable-uploader id="late" token="{expired}"></resumable-uploader>',
        ]
    )
    host = EmbedHost(page)
    host.open(host_server.add("/", host_page(body, "Private uploads")))
    refused = host.wait_event("uploader-error", "late")
    assert refused["detail"]["code"] == "TOKEN_EXPIRED", refused
    host.wait_ready("up")

    source = files("private.pdf", MiB + 5, seed=31)
    md5 = md5_of(source)
    host.choose("up", source)
    done = host.wait_event("upload-done", "up", "private.pdf")
    assert done["detail"]["fileId"] == md5

    # The same bytes again: the server has them, and answers the link only to proof of them.
    net.watch_handshakes = True
    host.choose("up", files("copy.pdf", MiB + 5, seed=31))
    again = host.wait_event("upload-done", "up", "copy.pdf")
    assert again["detail"]["url"] == f"{server.url}/upload/{md5}.pdf?name=copy.pdf"
    challenge, link = net.handshakes
    assert isinstance(challenge, dict) and set(challenge) == {"start", "end", "salt"}, challenge
    assert link == again["detail"]["url"]
    assert len(net.posted(md5)) == 2, "the copy sent no chunk"
    assert server.errors_logged() == []
