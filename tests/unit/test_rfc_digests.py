"""``server.rfc.digests`` from RFC 9530's own examples: the preference fields of section 4 and the choices of
Appendix C, the digest values of sections 2 and 3 and Appendix B, the sample values of Appendix D; bad
preference fields are ignored, never raised."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.rfc.digests import (
    EMPTY,
    SHA_256,
    SHA_512,
    choose,
    digest,
    parse_digests,
    parse_preferences,
    serialize,
)

# "Unless otherwise indicated, the examples are based on the JSON object {"hello": "world"} followed by an LF"
HELLO = b'{"hello": "world"}\n'


def b64(value: str) -> bytes:
    return base64.b64decode(value)


# -- Integrity fields: the values the RFC shows ---------------------------------------------------------------


def test_appendix_b1_full_representation() -> None:
    # B.1: "Content-Digest and Repr-Digest are both computed over the JSON object ... followed by an LF"
    expected = "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
    assert serialize([(SHA_256, digest(SHA_256, HELLO))]) == expected


def test_appendix_b2_head_has_the_digest_of_empty_content() -> None:
    # B.2: "The response Content-Digest field-value is computed on empty content."
    assert serialize([(SHA_256, EMPTY[SHA_256])]) == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"


def test_appendix_b3_partial_content() -> None:
    # B.3: "Range: bytes=10-18" ... "the Content-Digest field-value is calculated over the sequence "world"}
    # followed by an LF"
    assert HELLO[10:19] == b'"world"}\n'
    expected = "sha-256=:jjcgBDWNAtbYUXI37CVG3gRuGOAjaaDRGpIUFsdyepQ=:"
    assert serialize([(SHA_256, digest(SHA_256, HELLO[10:19]))]) == expected


def test_section_2_sha_512_example_and_several_members() -> None:
    # Section 2's example field ("Content-Digest: sha-512=:YMAam51J...") is the sha-512 of the same content.
    sha512 = "YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg=="
    assert digest(SHA_512, HELLO) == b64(sha512)
    value = serialize([(SHA_256, digest(SHA_256, HELLO)), (SHA_512, digest(SHA_512, HELLO))])
    assert value == f"sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:, sha-512=:{sha512}:"
    assert parse_digests(value) == {SHA_256: digest(SHA_256, HELLO), SHA_512: b64(sha512)}


def test_appendix_d_sample_digest_values() -> None:
    # D: "The input value is the JSON object {"hello": "world"}" (no LF here).
    sample = b'{"hello": "world"}'
    assert serialize([(SHA_256, digest(SHA_256, sample))]) == (
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    )
    assert serialize([(SHA_512, digest(SHA_512, sample))]) == (
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
    )


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "sha-256",  # a Boolean, not a Byte Sequence
        "sha-256=1",
        'sha-256="abc"',
        "sha-256=:not base64!:",
        "SHA-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:",  # keys are lowercase
        "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:,",  # trailing comma
    ],
)
def test_bad_integrity_fields_are_none(value: str | None) -> None:
    assert parse_digests(value) is None


# -- preference fields (section 4) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "preferences", "chosen"),
    [
        # Section 4's examples.
        ("sha-256=1", {"sha-256": 1}, SHA_256),
        ("sha-512=3, sha-256=10, unixsum=0", {"sha-512": 3, "sha-256": 10, "unixsum": 0}, SHA_256),
        # Appendix C.1, "Server Selects Client's Least Preferred Algorithm": "sha" is not offered.
        ("sha-256=3, sha=10", {"sha-256": 3, "sha": 10}, SHA_256),
        # Appendix C.2, "Server Selects Algorithm Unsupported by Client": none of ours named -> ours anyway.
        ("sha=10", {"sha": 10}, SHA_256),
        # The client's preferred one among ours; ties go to our order.
        ("sha-512=10, sha-256=3", {"sha-512": 10, "sha-256": 3}, SHA_512),
        ("sha-512=5, sha-256=5", {"sha-512": 5, "sha-256": 5}, SHA_256),
        # "a value of 0 means 'not acceptable'"
        ("sha-256=0, sha-512=1", {"sha-256": 0, "sha-512": 1}, SHA_512),
        ("sha-256=0", {"sha-256": 0}, SHA_512),  # sha-512 not named: the client did not refuse it
        ("sha-256=0, sha-512=0", {"sha-256": 0, "sha-512": 0}, None),
        # RFC 9651: field lines combined with ", ", OWS around members, parameters ignored, last key wins.
        ("sha-512=1,sha-256=2", {"sha-512": 1, "sha-256": 2}, SHA_256),
        ("sha-512=9;q=1, sha-256=2; x", {"sha-512": 9, "sha-256": 2}, SHA_512),
        ("sha-256=9, sha-256=0", {"sha-256": 0}, SHA_512),
    ],
)
def test_preferences(value: str, preferences: dict[str, int], chosen: str | None) -> None:
    assert parse_preferences(value) == preferences
    assert choose(preferences) == chosen


def test_choose_among_what_is_known() -> None:
    """For Want-Repr-Digest only the digests already computed are offered."""
    assert choose({"sha-512": 10}, [SHA_256]) == SHA_256  # not named: ours anyway (Appendix C.2)
    assert choose({"sha-512": 10, "sha-256": 0}, [SHA_256]) is None  # ours refused
    assert choose({"sha-256": 1}, []) is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",  # RFC 9651: an empty Dictionary is no field at all
        "   ",
        "sha-256=11",  # section 4: "It must be in the range 0 to 10 inclusive."
        "sha-256=-1",
        "sha-256=1.5",  # a Decimal
        "sha-256",  # a bare key is the Boolean true, not an Integer
        "sha-256=?1",
        'sha-256="10"',
        "sha-256=(1 2)",  # an inner list
        "sha-256=10, sha-512=x",  # one bad member voids the field (RFC 9651 section 2)
        "SHA-256=10",  # keys are lowercase
        "sha-256=10,",  # trailing comma: does not parse
        "sha-256=10 sha-512=1",
        "sha-256=1000000000000000",  # more digits than an Integer has
        "sha-256=\u00e9",  # not ASCII
    ],
)
def test_bad_preference_fields_are_ignored(value: str | None) -> None:
    assert parse_preferences(value) is None


@given(st.text(max_size=60))
def test_any_text_is_a_preference_field_or_ignored(value: str) -> None:
    preferences = parse_preferences(value)
    assert preferences is None or all(0 <= w <= 10 for w in preferences.values())
    if preferences is not None:
        assert choose(preferences) in (SHA_256, SHA_512, None)
