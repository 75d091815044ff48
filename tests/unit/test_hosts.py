"""``server.hosts``: which Host values the server answers for."""

from __future__ import annotations

import pytest

from server.hosts import host_allowed, host_name


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("Example.COM:8000", "example.com"),
        ("example.com.", "example.com"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),  # not a valid Host, but not mistaken for host "" and port "1"
    ],
)
def test_host_name(value: str, name: str) -> None:
    assert host_name(value) == name


def allowed(value: str, hosts: tuple[str, ...] = (), bound: str = "127.0.0.1", public: str = "") -> bool:
    return host_allowed(value, allowed=hosts, bound_host=bound, public_url=public)


def test_by_default_localhost_the_bound_host_and_ip_literals() -> None:
    assert allowed("localhost:8000") and allowed("127.0.0.1:8000") and allowed("[::1]:8000")
    assert allowed("10.1.2.3") and allowed("files.lan", bound="files.lan")
    assert not allowed("evil.example") and not allowed("localhost.evil.example:8000")


def test_a_public_url_makes_the_host_irrelevant_unless_a_list_is_given() -> None:
    assert allowed("anything.example", public="https://files.example.com")
    assert not allowed("anything.example", ("files.example.com",), public="https://files.example.com")


def test_an_explicit_list() -> None:
    assert allowed("files.example.com:443", ("files.example.com",))
    assert not allowed("localhost", ("files.example.com",))  # the list replaces the default
    assert allowed("whatever", ("*",))
