"""The tokens of ``--auth-secret`` mode (``server.access.tokens``) and the proof-of-possession challenge
(``server.access.proof``, ``wire.possession``), from fixed vectors: RFC 7515's own HS256 example, and ours,
whose signature was checked with openssl (``printf %s <header.claims> | openssl dgst -sha256 -hmac <secret>``).
"""

from __future__ import annotations

import hashlib
import json

import pytest

from server.access.proof import challenge_for, proof_holds
from server.access.tokens import (
    MAX_TOKEN_CHARS,
    Failure,
    Grant,
    Scope,
    TokenError,
    b64url_decode,
    b64url_encode,
    grant_of,
    mint,
    open_signed,
    sign,
    verify,
)
from wire.errors import WireError
from wire.possession import MAX_RANGE, Challenge, parse_challenge, parse_proof, proof_digest

# RFC 7515 appendix A.1: "Example JWS Using HMAC SHA-256", its key (the JWK's "k") and its JWS.
RFC_KEY = b64url_decode(
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
)
RFC_JWS = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

SECRET = b"an-example-secret-of-32-bytes-ok"
NOW = 1_700_000_000
MD5 = "0123456789abcdef0123456789abcdef"
# mint(SECRET, DOWNLOAD, now=NOW, ttl=3600, file=MD5 in capitals, token_id="token-1")
DOWNLOAD_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJleHAiOjE3MDAwMDM2MDAsImZpbGUiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsImp0aSI6InRva2VuLTEiLCJzY29wZSI6ImRvd25sb2FkIn0"
    ".uRemHLv4QhjJbFLpOowExaLsp2JOa-DQAVbsgymaDG8"
)


def forged(header: dict[str, object], claims: dict[str, object], signature: str = "") -> str:
    return f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(json.dumps(claims).encode())}.{signature}"


def failure(secret: bytes, token: str, now: float = NOW) -> Failure:
    with pytest.raises(TokenError) as info:
        verify(secret, token, now)
    return info.value.failure


# ---------------------------------------------------------------------------------------------- JWS HS256


def test_the_rfc_7515_example_verifies() -> None:
    assert open_signed(RFC_KEY, RFC_JWS) == {
        "iss": "joe",
        "exp": 1300819380,
        "http://example.com/is_root": True,
    }


def test_the_rfc_example_is_not_one_of_our_tokens() -> None:
    assert failure(RFC_KEY, RFC_JWS, now=0) is Failure.MALFORMED  # signed right, but it has no scope


def test_another_key_or_one_changed_bit_is_a_bad_signature() -> None:
    assert failure(SECRET, RFC_JWS) is Failure.BAD_SIGNATURE
    header, claims, signature = DOWNLOAD_TOKEN.split(".")
    other = b64url_encode(json.dumps({"scope": "download", "file": "*", "exp": NOW + 3600}).encode())
    assert failure(SECRET, f"{header}.{other}.{signature}") is Failure.BAD_SIGNATURE
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert failure(SECRET, f"{header}.{claims}.{flipped}") is Failure.BAD_SIGNATURE


def test_our_fixed_vector() -> None:
    minted = mint(SECRET, Scope.DOWNLOAD, now=NOW, ttl=3600, file=MD5.upper(), token_id="token-1")
    assert minted == DOWNLOAD_TOKEN
    header, claims, _ = minted.split(".")
    assert b64url_decode(header) == b'{"alg":"HS256","typ":"JWT"}'
    assert json.loads(b64url_decode(claims)) == {
        "exp": NOW + 3600,
        "file": MD5,
        "jti": "token-1",
        "scope": "download",
    }
    assert verify(SECRET, minted, NOW) == Grant(Scope.DOWNLOAD, NOW + 3600, "token-1", file=MD5)


@pytest.mark.parametrize("alg", ["none", "HS512", "RS256", "hs256", None])
def test_only_hs256_is_accepted(alg: str | None) -> None:
    """RFC 8725 section 2.1: "alg": "none" and algorithm substitution are the classic JWT attacks."""
    claims = {"scope": "upload", "exp": NOW + 60}
    real = sign(SECRET, claims).split(".")[2]
    for signature in ("", real):
        assert failure(SECRET, forged({"alg": alg, "typ": "JWT"}, claims, signature)) is Failure.MALFORMED


def test_critical_header_parameters_are_refused() -> None:
    token = forged({"alg": "HS256", "crit": ["exp"], "exp": 1}, {"scope": "upload", "exp": NOW + 60}, "AAAA")
    assert failure(SECRET, token) is Failure.MALFORMED


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        DOWNLOAD_TOKEN + "=",  # padding: base64url here has none (RFC 7515 section 2)
        DOWNLOAD_TOKEN.replace("-", "+", 1),  # the base64 alphabet, not the URL-safe one
        "e30.e30.e30",  # {} as header: no alg
        "W10.W10.",  # [] as header
        "bm90IGpzb24.e30.",  # not JSON
        "a" * (MAX_TOKEN_CHARS + 1),
        "eyJhbGciOiJIUzI1NiJ9.é.AAAA",  # not ASCII (a ?token= is not checked for RFC 6750's characters)
    ],
)
def test_malformed_tokens(token: str) -> None:
    assert failure(SECRET, token) is Failure.MALFORMED


# ---------------------------------------------------------------------------------------------- claims and time


def test_expiry_is_exclusive_and_not_before_inclusive() -> None:
    """RFC 7519 4.1.4: "on or after which the JWT MUST NOT be accepted"; 4.1.5: "MUST NOT be accepted
    before"."""
    token = sign(SECRET, {"scope": "upload", "exp": NOW + 10, "nbf": NOW})
    assert verify(SECRET, token, NOW).expires == NOW + 10
    assert verify(SECRET, token, NOW + 9.999).not_before == NOW
    assert failure(SECRET, token, NOW + 10) is Failure.EXPIRED
    assert failure(SECRET, token, NOW - 0.001) is Failure.NOT_YET_VALID


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": NOW + 60},  # no scope
        {"scope": "admin", "exp": NOW + 60},
        {"scope": "upload"},  # tokens must expire
        {"scope": "upload", "exp": "tomorrow"},
        {"scope": "upload", "exp": True},
        {"scope": "upload", "exp": NOW + 60, "file": "report.pdf"},  # a file is named by its MD5
        {"scope": "download", "exp": NOW + 60},  # a download token names what it may download
        {"scope": "download", "exp": NOW + 60, "name": "a/b"},
        {"scope": "upload", "exp": NOW + 60, "max": -1},
        {"scope": "upload", "exp": NOW + 60, "max": True},
        {"scope": "upload", "exp": NOW + 60, "jti": 7},
        {"scope": "upload", "exp": NOW + 60, "jti": "x" * 201},
    ],
)
def test_claims_that_are_not_ours(claims: dict[str, object]) -> None:
    assert failure(SECRET, sign(SECRET, claims)) is Failure.MALFORMED


def test_what_a_grant_allows() -> None:
    any_upload = grant_of({"scope": "upload", "exp": NOW})
    assert any_upload.allows_file(MD5) and any_upload.allows_size(10**15)
    one_upload = grant_of({"scope": "upload", "exp": NOW, "file": MD5.upper(), "max": 100})
    assert one_upload.file == MD5 and one_upload.allows_file(MD5) and not one_upload.allows_file("f" * 32)
    assert one_upload.allows_size(100) and not one_upload.allows_size(101)
    folder = grant_of({"scope": "download", "exp": NOW, "name": "report.pdf"})
    assert folder.allows_name("report.pdf") and not folder.allows_name("other.pdf")
    assert not folder.allows_file(MD5)  # a download token without "file" allows no uploaded file
    everything = grant_of({"scope": "download", "exp": NOW, "file": "*", "name": "*"})
    assert everything.allows_file(MD5) and everything.allows_name("anything")


def test_mint_refuses_what_verify_would() -> None:
    with pytest.raises(ValueError, match="ttl"):
        mint(SECRET, Scope.UPLOAD, now=NOW, ttl=0)
    with pytest.raises(TokenError):
        mint(SECRET, Scope.UPLOAD, now=NOW, ttl=60, file="not-an-md5")
    with pytest.raises(TokenError):
        mint(SECRET, Scope.DOWNLOAD, now=NOW, ttl=60)  # names nothing to download
    a, b = (verify(SECRET, mint(SECRET, Scope.UPLOAD, now=NOW, ttl=60), NOW) for _ in range(2))
    assert a.token_id != b.token_id and len(a.token_id) >= 22  # 128 random bits each


# ---------------------------------------------------------------------------------------------- proof


UPLOAD_GRANT = Grant(Scope.UPLOAD, NOW + 600, "token-2", max_size=1 << 20)


def test_the_challenge_is_a_fixed_function_of_secret_file_and_token() -> None:
    big = challenge_for(SECRET, UPLOAD_GRANT, MD5, 10 * 1024 * 1024)
    assert big == Challenge(start=7630168, end=7630168 + MAX_RANGE, salt="yBO_9-sujBtqW5SHTAcfNQ")
    assert challenge_for(SECRET, UPLOAD_GRANT, MD5, 10 * 1024 * 1024) == big  # no state: the same again
    other_token = Grant(Scope.UPLOAD, NOW + 600, "token-3")
    assert challenge_for(SECRET, other_token, MD5, 10 * 1024 * 1024) != big
    assert challenge_for(b"another-secret-of-thirty-two-by!", UPLOAD_GRANT, MD5, 10 * 1024 * 1024) != big


@pytest.mark.parametrize("size", [0, 1, 1000, MAX_RANGE, MAX_RANGE + 1, 3 * MAX_RANGE + 17])
def test_the_range_lies_in_the_file(size: int) -> None:
    challenge = challenge_for(SECRET, UPLOAD_GRANT, MD5, size)
    assert 0 <= challenge.start <= challenge.end <= size
    assert challenge.end - challenge.start == min(size, MAX_RANGE)
    assert parse_challenge(challenge.as_data(), size) == challenge  # what the engine reads back


def test_a_small_file_s_proof_is_not_its_md5() -> None:
    """The range of a file no larger than it is the whole file, whose MD5 is the fileId anybody may know: the
    salt makes the proof depend on the bytes."""
    data = b"a small private file"
    challenge = challenge_for(SECRET, UPLOAD_GRANT, hashlib.md5(data).hexdigest(), len(data))
    assert (challenge.start, challenge.end) == (0, len(data))
    proof = proof_digest(challenge.salt, data)
    assert proof == hashlib.sha256(challenge.salt.encode() + data).hexdigest()
    assert proof_holds(challenge, data, proof)
    assert not proof_holds(challenge, data, hashlib.sha256(data).hexdigest())
    assert not proof_holds(challenge, data[:-1] + b"!", proof)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"start": 0, "end": 10},  # no salt
        {"start": 0, "end": 10, "salt": "short"},
        {"start": 5, "end": 4, "salt": "saltsaltsalt"},
        {"start": 0, "end": 101, "salt": "saltsaltsalt"},  # past the file's 100 bytes
        {"start": -1, "end": 10, "salt": "saltsaltsalt"},
        {"start": False, "end": 10, "salt": "saltsaltsalt"},
    ],
)
def test_challenges_a_client_refuses(data: object) -> None:
    with pytest.raises(WireError):
        parse_challenge(data, 100)


def test_a_challenge_never_asks_for_more_than_the_range() -> None:
    with pytest.raises(WireError, match="at most"):
        parse_challenge({"start": 0, "end": MAX_RANGE + 1, "salt": "saltsaltsalt"}, 10 * MAX_RANGE)


def test_proofs_on_the_wire() -> None:
    assert parse_proof(None) is None
    assert parse_proof("AB" * 32) == "ab" * 32
    for bad in ("ab" * 16, "xy" * 32, 7, ""):
        with pytest.raises(WireError):
            parse_proof(bad)
