"""Which ``Host`` values this server answers for (RFC 9110 section 7.2 and 15.5.20, ``421 Misdirected Request``).

Without ``--public-url`` the absolute URLs the API answers are built from the request's ``Host``, so a request
naming another host would get links to that host, and a page on a name that an attacker points at this
machine (DNS rebinding) would be served as if it were ours. The policy (``host_allowed``):

- ``--allowed-hosts`` given: exactly those names (``*``: any);
- else, with ``--public-url``: any (answers do not depend on ``Host``);
- else: ``localhost``, the ``--host`` the server is bound to, and IP literals (a rebinding needs a name).
"""

from __future__ import annotations

import ipaddress


def host_name(value: str) -> str:
    """The host of a ``Host`` value, lowercased, without port, brackets or a trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):  # IP-literal = "[" IPv6address "]"
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.rsplit(":", 1)[0]
    return value.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(value: str, *, allowed: tuple[str, ...], bound_host: str, public_url: str) -> bool:
    """Whether to answer for the ``Host`` ``value``; ``allowed`` holds names as ``host_name`` gives them."""
    name = host_name(value)
    if allowed:
        return "*" in allowed or name in allowed
    if public_url:
        return True
    return name == "localhost" or name == host_name(bound_host) or _is_ip(name)
