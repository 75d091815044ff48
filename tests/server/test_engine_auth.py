"""The pure engine against the REAL server in ``--auth-secret`` mode: ``UploadConfig.token`` on every request,
and the proof-of-possession round trip of an instant upload (``frontend.engine.proof``)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import aiohttp
import pytest

from frontend.engine import (
    HttpRequest,
    HttpResponse,
    JsonBody,
    UploadConfig,
    UploadController,
    UploadState,
)
from frontend.engine.hashing import hash_file
from frontend.engine.protocol import HANDSHAKE_PATH
from server.access import Scope, mint
from tests.support.aiohttp_transport import AiohttpTransport
from tests.support.engine_doubles import BytesSource
from tests.support.server_process import ServerProcess

SECRET = "engine-test-secret-of-32-bytes!!"
CHUNK = 64 * 1024


class RecordingTransport(AiohttpTransport):
    """``AiohttpTransport`` that keeps each handshake's JSON body and answer status, and every Authorization."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        super().__init__(session)
        self.handshakes: list[tuple[dict[str, object], int]] = []
        self.authorizations: set[str | None] = set()

    async def request(self, req: HttpRequest) -> HttpResponse:
        self.authorizations.add(req.headers.get("authorization"))
        resp = await super().request(req)
        if urlsplit(req.url).path == HANDSHAKE_PATH and isinstance(req.body, JsonBody):
            self.handshakes.append((req.body.value, resp.status))
        return resp


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("engine-auth") / "data", "--auth-secret", SECRET)
    server.start()
    yield server
    server.stop()
    assert server.errors_logged() == []


@pytest.fixture
async def transport() -> AsyncIterator[RecordingTransport]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield RecordingTransport(session)


def upload_token(**claims: object) -> str:
    return mint(SECRET.encode(), Scope.UPLOAD, now=time.time(), ttl=600, **claims)  # type: ignore[arg-type]


def controller(
    server: ServerProcess, transport: RecordingTransport, source: BytesSource, token: str | None, **kw: object
) -> UploadController:
    config = UploadConfig(chunk_size=CHUNK, token=token)
    return UploadController(source, transport, base_url=server.url, config=config, **kw)  # type: ignore[arg-type]


async def test_an_upload_with_a_token_then_an_instant_upload_with_proof(
    auth_server: ServerProcess, transport: RecordingTransport
) -> None:
    data = os.urandom(5 * CHUNK + 99)
    token = upload_token()
    first = await controller(auth_server, transport, BytesSource(data, "a.bin"), token).upload()
    assert first.state is UploadState.FINISHED, first.error
    assert transport.authorizations == {f"Bearer {token}"}  # every request carried it

    transport.handshakes.clear()
    second = await controller(auth_server, transport, BytesSource(data, "b.bin"), upload_token()).upload()
    assert second.state is UploadState.FINISHED, second.error
    assert second.url is not None and second.url.startswith(f"{auth_server.url}/upload/{first.file_id}.bin")
    (asked, challenged), (proved, answered) = transport.handshakes
    assert challenged == 428 and "proof" not in asked
    assert answered == 200 and isinstance(proved["proof"], str) and len(proved["proof"]) == 64


async def test_knowing_the_ids_without_the_bytes_is_not_enough(
    auth_server: ServerProcess, transport: RecordingTransport
) -> None:
    data = os.urandom(3 * CHUNK)
    stored = await controller(auth_server, transport, BytesSource(data), upload_token()).upload()
    assert stored.state is UploadState.FINISHED
    # Someone with the file's ids (its plan) and other bytes of the same size.
    plan = await hash_file(BytesSource(data), chunk_size=CHUNK)
    pretender = controller(
        auth_server, transport, BytesSource(os.urandom(len(data))), upload_token(), plan=plan
    )
    result = await pretender.upload()
    assert (result.state, result.error_code) == (UploadState.FAILED, "PROOF_MISMATCH")


async def test_without_a_token_the_upload_fails_with_the_server_s_reason(
    auth_server: ServerProcess, transport: RecordingTransport
) -> None:
    result = await controller(auth_server, transport, BytesSource(os.urandom(100)), None).upload()
    assert (result.state, result.error_code) == (UploadState.FAILED, "TOKEN_REQUIRED")
