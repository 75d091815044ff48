"""``python -m server.access``: mint a token for ``--auth-secret`` mode, or check one.

    python -m server.access mint --scope download --file <md5> --ttl 3600
    python -m server.access mint --scope upload --max-size 104857600 --ttl 600      # any file (tus too)
    python -m server.access mint --scope download --name report.pdf                  # the downloads folder
    python -m server.access verify <token>

The secret is ``--secret`` or, better (a command line is visible to other users of the machine), the
``RT_AUTH_SECRET`` environment variable the server reads too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from server.access.tokens import ANY, MIN_SECRET_BYTES, Scope, TokenError, mint, verify

SECRET_ENV = "RT_AUTH_SECRET"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server.access", description=__doc__.split("\n\n")[0])
    parser.add_argument("--secret", help=f"the server's --auth-secret (default: ${SECRET_ENV})")
    commands = parser.add_subparsers(dest="command", required=True)
    minting = commands.add_parser("mint", help="print a new token")
    minting.add_argument("--scope", required=True, choices=[scope.value for scope in Scope])
    minting.add_argument("--file", help=f"the file's MD5, or {ANY} for any (upload tokens: default any)")
    minting.add_argument("--name", help=f"download tokens: a file of the downloads folder, or {ANY} for all")
    minting.add_argument("--max-size", type=int, help="upload tokens: the largest file allowed, in bytes")
    minting.add_argument(
        "--ttl", type=float, default=3600.0, help="seconds the token is valid (default 3600)"
    )
    minting.add_argument("--jti", help="the token's id (default: 128 random bits)")
    checking = commands.add_parser("verify", help="say whether a token is valid now, and what it allows")
    checking.add_argument("token")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    secret = (args.secret or os.environ.get(SECRET_ENV, "")).encode("utf-8")
    if len(secret) < MIN_SECRET_BYTES:
        parser.error(f"a secret of at least {MIN_SECRET_BYTES} bytes is needed (--secret or ${SECRET_ENV})")
    now = time.time()
    if args.command == "mint":
        try:
            token = mint(
                secret,
                Scope(args.scope),
                now=now,
                ttl=args.ttl,
                file=args.file,
                name=args.name,
                max_size=args.max_size,
                token_id=args.jti,
            )
        except (TokenError, ValueError) as exc:
            parser.error(str(exc))
        print(token)
        return 0
    try:
        grant = verify(secret, args.token, now)
    except TokenError as exc:
        print(f"not valid: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(grant.claims(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
