"""Access control for deployments with private files: ``--auth-secret`` (``RT_AUTH_SECRET``).

Without the secret (the default) the server speaks the seed's open protocol. With it, the host application
(which knows its users) gives each client a signed, expiring token for what it may do, and the server checks
it on every upload API and download request; an instant upload (a handshake for a file already stored) also
needs proof that the client has the file's bytes, so that knowing an MD5 is not enough. The threat model of
both modes: ``docs/security.md``.

- ``tokens.py``      what a token grants (``Grant``) and the token itself, a JWT signed with HMAC-SHA256
                     (``mint``, ``verify``): pure, time passed in
- ``bearer.py``      RFC 6750: where a request carries its token, the ``WWW-Authenticate`` challenge
- ``rules.py``       which routes need which scope, and what a token must allow there (pure)
- ``proof.py``       the proof-of-possession challenge, derived from the secret, the file and the token (pure)
- ``middleware.py``  the HTTP side: the middleware, and the handshake's two checks (file and size, proof)
- ``__main__.py``    ``python -m server.access mint|verify``: tokens from the command line

Minting from Python (the host application)::

    from server.access import Scope, mint
    token = mint(secret, Scope.DOWNLOAD, now=time.time(), ttl=3600, file=md5)
"""

from server.access.tokens import ANY, Grant, Scope, TokenError, mint, verify

__all__ = ["ANY", "Grant", "Scope", "TokenError", "mint", "verify"]
