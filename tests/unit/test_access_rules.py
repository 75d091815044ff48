"""``--auth-secret`` mode's pure parts around the tokens: RFC 6750 credentials and challenges
(``server.access.bearer``), which route needs what (``server.access.rules``), the flag, and the minting CLI."""

from __future__ import annotations

import pytest

from server.access import __main__ as cli
from server.access.bearer import Credentials, CredentialsError, Problem, challenge, credentials
from server.access.rules import (
    GUARDS,
    Target,
    check_folder_file,
    check_folder_list,
    check_scope,
    check_stream,
    check_upload,
    check_uploaded_file,
    guard_for,
)
from server.access.tokens import Grant, Scope, verify
from server.errors import ApiError, E
from server.settings import Settings, parse_settings

MD5 = "0123456789abcdef0123456789abcdef"
OTHER = "f" * 32
SECRET = "an-example-secret-of-32-bytes-ok"


# ---------------------------------------------------------------------------------------------- RFC 6750


@pytest.mark.parametrize(
    ("authorization", "query", "allowed", "token"),
    [
        ([], [], True, None),
        (["Bearer abc.DEF-_~+/=="], [], False, "abc.DEF-_~+/=="),
        (["bearer   abc"], [], False, "abc"),  # RFC 9110 11.1: the scheme is case-insensitive
        (["Basic dXNlcjpwYXNz"], [], False, None),  # another scheme: as if there were no token
        ([], ["abc"], True, "abc"),  # a download link's ?token=
        ([], ["abc"], False, None),  # elsewhere it is not looked at
    ],
)
def test_where_the_token_is(
    authorization: list[str], query: list[str], allowed: bool, token: str | None
) -> None:
    assert credentials(authorization, query, query_allowed=allowed).token == token


def test_a_query_token_where_it_is_not_accepted_is_noted() -> None:
    assert credentials([], ["abc"], query_allowed=False) == Credentials(None, ignored_query=True)


@pytest.mark.parametrize(
    ("authorization", "query", "problem"),
    [
        (["Bearer a"], ["b"], Problem.INVALID_REQUEST),  # section 2: not "more than one method"
        (["Bearer a", "Bearer b"], [], Problem.INVALID_REQUEST),
        ([], ["a", "b"], Problem.INVALID_REQUEST),
        (["Bearer"], [], Problem.INVALID_TOKEN),
        (["Bearer a b"], [], Problem.INVALID_TOKEN),
        (["Bearer a=b"], [], Problem.INVALID_TOKEN),  # "=" only at the end of a b64token
    ],
)
def test_unusable_credentials(authorization: list[str], query: list[str], problem: Problem) -> None:
    with pytest.raises(CredentialsError) as info:
        credentials(authorization, query, query_allowed=True)
    assert info.value.problem is problem


def test_challenges() -> None:
    """RFC 6750 section 3's examples, with our realm."""
    assert challenge() == 'Bearer realm="resumable-transfer"'
    assert challenge(Problem.INVALID_TOKEN, "The access token expired") == (
        'Bearer realm="resumable-transfer", error="invalid_token", error_description="The access token expired"'
    )
    # error_description: "MUST NOT include characters outside the set %x20-21 / %x23-5B / %x5D-7E".
    assert challenge(Problem.INSUFFICIENT_SCOPE, 'a "quoted" \\ é') == (
        'Bearer realm="resumable-transfer", error="insufficient_scope", error_description="a ?quoted? ? ?"'
    )


# ---------------------------------------------------------------------------------------------- rules


def upload(**claims: object) -> Grant:
    return Grant(Scope.UPLOAD, 2e9, "t", **claims)  # type: ignore[arg-type]


def download(**claims: object) -> Grant:
    return Grant(Scope.DOWNLOAD, 2e9, "t", **claims)  # type: ignore[arg-type]


def refusal(check: object, *args: object, **kwargs: object) -> ApiError:
    with pytest.raises(ApiError) as info:
        check(*args, **kwargs)  # type: ignore[operator]
    assert info.value.kind is E.TOKEN_FORBIDDEN
    assert info.value.headers["WWW-Authenticate"].startswith(
        'Bearer realm="resumable-transfer", error="insufficient'
    )
    return info.value


def test_what_is_protected() -> None:
    assert guard_for("POST", "/api/upload/handshake") == GUARDS["/api/upload/handshake"]
    assert guard_for("GET", "/upload/{tail}").is_download  # type: ignore[union-attr]
    assert not guard_for("PATCH", "/files/{key}").is_download  # type: ignore[union-attr]
    for method, route in [
        ("OPTIONS", "/files/"),  # preflights and tus's discovery
        ("OPTIONS", "/upload/{tail}"),
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/api/embed"),
        ("GET", "/api/openapi.json"),
        ("GET", "/static"),
        ("GET", None),  # no route: 404 as in the open mode
    ]:
        assert guard_for(method, route) is None, (method, route)


def test_scopes() -> None:
    check_scope(upload(), GUARDS["/files/{key}"])
    refusal(check_scope, download(file="*"), GUARDS["/api/upload"])
    refusal(check_scope, upload(), GUARDS["/download/{name}"])


def test_handshakes() -> None:
    check_upload(upload(), MD5, None)
    check_upload(upload(file=MD5, max_size=10), MD5, 10)
    refusal(check_upload, upload(file=MD5), OTHER, None)
    assert "at most 10 bytes" in refusal(check_upload, upload(max_size=10), MD5, 11).msg
    assert "must declare size" in refusal(check_upload, upload(max_size=10), MD5, None).msg


def test_downloads() -> None:
    check_uploaded_file(download(file=MD5), MD5)
    check_uploaded_file(download(file="*"), OTHER)
    refusal(check_uploaded_file, download(file=MD5), OTHER)
    refusal(check_uploaded_file, download(name="*"), MD5)
    check_folder_file(download(name="report.pdf"), "report.pdf")
    refusal(check_folder_file, download(name="report.pdf"), "other.pdf")
    refusal(check_folder_file, download(file="*"), "report.pdf")
    check_folder_list(download(name="*"))
    refusal(check_folder_list, download(name="report.pdf"))


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"upload_length": "100"}, True),
        ({"upload_length": "101"}, False),
        ({"content_length": 100}, True),  # creation-with-upload (offset 0)
        ({"content_length": 101}, False),
        ({"upload_offset": "60", "content_length": 40}, True),
        ({"upload_offset": "60", "content_length": 41}, False),  # a deferred length is bounded all the same
        ({"upload_offset": "60", "chunked": True}, False),  # no Content-Length: the end cannot be known
        ({"upload_length": "x1"}, True),  # malformed: the protocol's handler answers 400
    ],
)
def test_stream_uploads_stay_within_max(headers: dict[str, object], allowed: bool) -> None:
    facts: dict[str, object] = {"upload_length": None, "upload_offset": None, "content_length": None}
    facts |= {"chunked": False} | headers
    if allowed:
        check_stream(upload(max_size=100), **facts)  # type: ignore[arg-type]
    else:
        refusal(check_stream, upload(max_size=100), **facts)


def test_a_token_for_one_file_cannot_upload_at_files() -> None:
    facts = {"upload_length": "1", "upload_offset": None, "content_length": None, "chunked": False}
    check_stream(upload(), **facts)  # type: ignore[arg-type]
    check_stream(upload(file="*"), **facts)  # type: ignore[arg-type]
    assert "file '*'" in refusal(check_stream, upload(file=MD5), **facts).msg


def test_every_target_has_a_guard() -> None:
    assert {guard.target for guard in GUARDS.values()} == set(Target)


# ---------------------------------------------------------------------------------------------- flag and CLI


def test_the_flag_and_its_variable() -> None:
    assert Settings().auth_secret == ""
    assert parse_settings(["--auth-secret", SECRET], environ={}).auth_secret == SECRET
    assert parse_settings([], environ={"RT_AUTH_SECRET": SECRET}).auth_secret == SECRET
    assert SECRET not in repr(parse_settings([], environ={"RT_AUTH_SECRET": SECRET}))


def test_a_short_secret_is_refused() -> None:
    """RFC 7518 section 3.2: HS256 keys of at least 256 bits."""
    with pytest.raises(SystemExit) as info:
        parse_settings(["--auth-secret", "x" * 31], environ={})
    assert info.value.code == 2


def test_help_does_not_show_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--help"], environ={"RT_AUTH_SECRET": SECRET})
    out = capsys.readouterr().out
    assert "RT_AUTH_SECRET; default: (set)" in " ".join(out.split()) and SECRET not in out


def test_mint_then_verify_from_the_command_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RT_AUTH_SECRET", SECRET)
    assert cli.main(["mint", "--scope", "download", "--file", MD5, "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    grant = verify(SECRET.encode(), token, 0)
    assert (grant.scope, grant.file) == (Scope.DOWNLOAD, MD5)
    assert cli.main(["verify", token]) == 0
    assert f'"file": "{MD5}"' in capsys.readouterr().out
    assert cli.main(["--secret", "another-secret-of-thirty-two-by!", "verify", token]) == 1
    assert "not valid" in capsys.readouterr().err


def test_the_command_line_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RT_AUTH_SECRET", raising=False)
    with pytest.raises(SystemExit):
        cli.main(["mint", "--scope", "upload"])
