"""``server.client_limits``: token buckets and who the client is behind proxies."""

from __future__ import annotations

from server.client_limits import TokenBuckets, client_address, parse_networks


def test_a_burst_then_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == 0.5  # a token every 0.5 s
    assert buckets.take("b") == 0.0  # another client has its own bucket
    now[0] += 0.5
    assert buckets.take("a") == 0.0


def test_memory_is_bounded_by_forgetting_full_buckets() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=1.0, burst=1.0, clock=lambda: now[0], max_keys=10)
    for key in range(10):
        buckets.take(str(key))
    now[0] += 5.0  # all refilled
    buckets.take("new")
    assert len(buckets._buckets) <= 1


TRUSTED = parse_networks(["127.0.0.1", "10.0.0.0/8"])


def test_the_client_behind_trusted_proxies() -> None:
    assert client_address("127.0.0.1", "203.0.113.7", TRUSTED) == "203.0.113.7"
    assert client_address("127.0.0.1", "198.51.100.1, 203.0.113.7, 10.1.2.3", TRUSTED) == "203.0.113.7"
    assert client_address("203.0.113.9", "1.2.3.4", TRUSTED) == "203.0.113.9"  # not a proxy of ours: ignored
    assert client_address("127.0.0.1", None, TRUSTED) == "127.0.0.1"
    assert client_address("127.0.0.1", "1.2.3.4", ()) == "127.0.0.1"  # no proxies trusted
