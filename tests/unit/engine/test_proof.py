"""The engine's side of ``--auth-secret`` mode (``frontend.engine.proof``), pure: the bearer token on every
request, and the handshake sent again with the proof a ``PROOF_REQUIRED`` challenge asks for."""

from __future__ import annotations

import hashlib

import pytest

from frontend.engine.errors import EngineError, Err, ServerError
from frontend.engine.ports import HttpRequest, HttpResponse, JsonBody
from frontend.engine.proof import BearerTransport, answer_challenge, authorized
from tests.support.engine_doubles import BytesSource
from wire.possession import proof_digest

DATA = bytes(range(256)) * 40  # 10240 bytes
HANDSHAKE = HttpRequest(
    "POST",
    "http://x.test/api/upload/handshake",
    {"content-type": "application/json"},
    JsonBody({"fileId": "f"}),
    9,
)


class Recorder:
    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []

    async def request(self, req: HttpRequest) -> HttpResponse:
        self.requests.append(req)
        return HttpResponse(200, {"code": 0, "msg": "", "data": []})


def challenge_error(data: object, name: str = "PROOF_REQUIRED", status: int = 428) -> ServerError:
    return ServerError(status, "prove it", name, data)


async def test_every_request_carries_the_token() -> None:
    inner = Recorder()
    transport = authorized(inner, "abc.def.ghi")
    assert isinstance(transport, BearerTransport)
    await transport.request(HANDSHAKE)
    sent = inner.requests[0]
    assert sent.headers == {"content-type": "application/json", "authorization": "Bearer abc.def.ghi"}
    assert (sent.method, sent.url, sent.body, sent.timeout) == ("POST", HANDSHAKE.url, HANDSHAKE.body, 9)
    assert HANDSHAKE.headers == {"content-type": "application/json"}  # the engine's own request is untouched


def test_without_a_token_the_transport_is_the_same() -> None:
    inner = Recorder()
    assert authorized(inner, None) is inner and authorized(inner, "") is inner


async def test_the_handshake_again_with_the_proof() -> None:
    source = BytesSource(DATA)
    again = await answer_challenge(
        HANDSHAKE, source, challenge_error({"start": 100, "end": 612, "salt": "s" * 22})
    )
    assert again is not None and isinstance(again.body, JsonBody)
    proof = hashlib.sha256(b"s" * 22 + DATA[100:612]).hexdigest()
    assert (
        again.body.value
        == {"fileId": "f", "proof": proof}
        == {"fileId": "f", "proof": proof_digest("s" * 22, DATA[100:612])}
    )
    assert (again.url, again.headers, again.timeout) == (HANDSHAKE.url, HANDSHAKE.headers, HANDSHAKE.timeout)
    # Asked again after a proof: no second one (the controller fails with the server's answer).
    assert (
        await answer_challenge(again, source, challenge_error({"start": 0, "end": 1, "salt": "s" * 22}))
        is None
    )


async def test_other_errors_are_not_challenges() -> None:
    error = ServerError(403, "no", "TOKEN_FORBIDDEN")
    assert await answer_challenge(HANDSHAKE, BytesSource(DATA), error) is None


@pytest.mark.parametrize(
    "data",
    [None, {"start": 0, "end": len(DATA) + 1, "salt": "s" * 22}, {"start": 0, "end": 10, "salt": "no!"}],
)
async def test_a_challenge_this_file_cannot_answer_is_a_bad_response(data: object) -> None:
    with pytest.raises(EngineError) as info:
        await answer_challenge(HANDSHAKE, BytesSource(DATA), challenge_error(data))
    assert info.value.kind is Err.BAD_RESPONSE


async def test_a_file_that_cannot_be_read_fails_as_such() -> None:
    class Gone(BytesSource):
        async def read(self, start: int, end: int) -> bytes:
            raise OSError("the file was removed")

    with pytest.raises(EngineError) as info:
        await answer_challenge(
            HANDSHAKE, Gone(DATA), challenge_error({"start": 0, "end": 10, "salt": "s" * 22})
        )
    assert info.value.kind is Err.READ_FAILED
