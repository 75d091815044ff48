"""RFC 6750 (Bearer Token Usage) for our routes, pure: where a request's token is, and what a refusal says.

A token travels in ``Authorization: Bearer <token>`` (RFC 6750 section 2.1). A plain download link, which a
browser follows without headers, may carry it as ``?token=<token>`` instead (the URI query method of section
2.3, there called ``access_token``; ours is named ``token`` and accepted on downloads only, because "the URL
containing the access token" is likely to be logged). Refusals carry a ``WWW-Authenticate: Bearer`` challenge
(section 3) with the error codes of section 3.1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

SCHEME: Final = "Bearer"
QUERY_PARAMETER: Final = "token"
REALM: Final = "resumable-transfer"
# RFC 6750 section 2.1: credentials = "Bearer" 1*SP b64token;
# b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_CREDENTIALS: Final = re.compile(r"([A-Za-z]+) +([A-Za-z0-9\-._~+/]+=*)")
# RFC 6750 section 3: error_description "MUST NOT include characters outside the set %x20-21 / %x23-5B /
# %x5D-7E" (printable ASCII but '"' and '\').
_NOT_IN_DESCRIPTION: Final = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


class Problem(StrEnum):
    """RFC 6750 section 3.1's error codes."""

    INVALID_REQUEST = "invalid_request"  # "uses more than one method for including an access token" -> 400
    INVALID_TOKEN = "invalid_token"  # "expired, revoked, malformed, or invalid for other reasons" -> 401
    INSUFFICIENT_SCOPE = "insufficient_scope"  # "requires higher privileges than provided" -> 403


class CredentialsError(ValueError):
    """The request's credentials are unusable; ``problem`` is the RFC 6750 error code to answer with."""

    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class Credentials:
    """What a request carries: its token (None: none), and whether a ``?token=`` was there but not allowed."""

    token: str | None
    ignored_query: bool = False


def credentials(
    authorization: Sequence[str], query_tokens: Sequence[str], query_allowed: bool
) -> Credentials:
    """The token of a request with these ``Authorization`` header values and ``?token=`` values.

    An ``Authorization`` of another scheme is no token ("attempted using an unsupported authentication
    method", section 3: answered like a request without one); a ``Bearer`` one that is not a b64token is an
    invalid token."""
    if len(authorization) > 1 or len(query_tokens) > 1:
        # Section 3.1, invalid_request: the request "repeats the same parameter".
        raise CredentialsError(Problem.INVALID_REQUEST, "send one token, once")
    header_token = _bearer(authorization[0]) if authorization else None
    query_token = query_tokens[0] if query_tokens and query_allowed else None
    if header_token is not None and query_token is not None:
        # Section 2: "Clients MUST NOT use more than one method to transmit the token in each request."
        raise CredentialsError(
            Problem.INVALID_REQUEST, "send the token once: in Authorization or in ?token=, not both"
        )
    return Credentials(header_token or query_token, ignored_query=bool(query_tokens) and not query_allowed)


def _bearer(value: str) -> str | None:
    scheme = value.strip().split(" ", 1)[0]
    # RFC 9110 section 11.1: "It uses a case-insensitive token to identify the authentication scheme".
    if scheme.lower() != SCHEME.lower():
        return None
    match = _CREDENTIALS.fullmatch(value.strip())
    if match is None:
        raise CredentialsError(Problem.INVALID_TOKEN, "Authorization must be 'Bearer <token>'")
    return match.group(2)


def challenge(problem: Problem | None = None, description: str | None = None) -> str:
    """A ``WWW-Authenticate`` value. Section 3: "All challenges defined by this specification MUST use the
    auth-scheme value "Bearer". This scheme MUST be followed by one or more auth-param values" (the realm);
    and a request without a token: "the resource server SHOULD NOT include an error code" (``problem``
    None)."""
    params = [f'realm="{REALM}"']
    if problem is not None:
        params.append(f'error="{problem.value}"')
        if description:
            params.append(f'error_description="{_NOT_IN_DESCRIPTION.sub("?", description)}"')
    return f"{SCHEME} " + ", ".join(params)
