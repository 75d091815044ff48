"""Per-client limits on the API: requests per second and chunk bytes per hour per client, as token buckets
(429 + ``Retry-After``); uploads in progress per client are counted by the upload service.

The client is the connection's address, or, when that address is a trusted proxy (``--trusted-proxies``),
the last address in ``X-Forwarded-For`` that is not itself a trusted proxy (each proxy appends the address
it received the request from, so only the part added by proxies we trust is believable). Only ``/api/``
is limited: downloads are cheap per byte, and segmented download clients make many range requests.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from server.errors import ApiError, E

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> tuple[IPNetwork, ...]:
    """``10.0.0.0/8``, ``127.0.0.1``, ``::1``: addresses and networks (ValueError for anything else)."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _trusted(address: str, trusted: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]) -> str:
    """Who the request comes from (see the module docstring); ``peer`` is the connection's address."""
    client = peer or "unknown"
    if not trusted or not forwarded_for or not _trusted(client, trusted):
        return client
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        client = hop
        if not _trusted(hop, trusted):
            break
    return client


class TokenBuckets:
    """One bucket of ``burst`` tokens per key, refilled at ``rate`` a second; a request takes one."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def take(self, key: str, amount: float = 1.0) -> float:
        """0.0 when ``amount`` tokens were there (and are taken), else the seconds until they are."""
        now = self.clock()
        amount = min(amount, self.burst)  # a request larger than the bucket waits for a full one
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= amount:
            self._buckets[key] = (tokens - amount, now)
            if len(self._buckets) > self.max_keys:
                self._forget_full(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (amount - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (they are as good as new): memory stays bounded."""
        full = [k for k, (t, w) in self._buckets.items() if t + (now - w) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


@dataclass(frozen=True)
class ClientLimits:
    """What the limits middleware needs: the buckets and the proxies trusted to name the client."""

    requests: TokenBuckets | None  # a token per API request
    upload_bytes: TokenBuckets | None  # a token per chunk byte
    trusted: tuple[IPNetwork, ...]

    def client(self, peer: str | None, forwarded_for: str | None) -> str:
        return client_address(peer, forwarded_for, self.trusted)


def charge(buckets: TokenBuckets, client: str, amount: float, why: str) -> None:
    """Take ``amount`` from ``client``'s bucket, or refuse: ``429 RATE_LIMITED`` with ``Retry-After`` and
    ``why`` (what the client did too much of) in the message."""
    wait = buckets.take(client, amount)
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise ApiError(
            E.RATE_LIMITED, f"{why}; try again in {retry_after} s", headers={"Retry-After": str(retry_after)}
        )
