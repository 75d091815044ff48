"""The wire rules are one set for both sides: the server's catalogue and checks, the engine's ids and names,
the embed's languages."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest

from frontend.browser.i18n import LANGUAGES
from frontend.engine.hashing import upload_ext, upload_name
from server.errors import ApiError, E
from server.uploads import protocol
from wire.errors import ErrorName, WireError
from wire.ids import CHUNK_ID_PATTERN, ChunkId, chunk_id, parse_chunk_id, parse_chunk_list
from wire.languages import STARTUP_TEXTS, StartupTexts

MD5 = "0cc175b9c0f1b6a831c399e269772661"


def test_the_servers_catalogue_has_exactly_the_wire_names() -> None:
    assert [kind.name for kind in E] == [name.value for name in ErrorName]
    assert ApiError(E.CHUNK_MISMATCH).envelope()["error"] == ErrorName.CHUNK_MISMATCH


def test_a_chunk_id_is_written_and_read_by_the_same_grammar() -> None:
    assert chunk_id(MD5.upper(), 12) == MD5 + "12"
    assert parse_chunk_id(MD5 + "12") == ChunkId(MD5, 12)
    assert re.fullmatch(CHUNK_ID_PATTERN, chunk_id(MD5, 123456789))
    assert parse_chunk_list([MD5 + "0", MD5 + "1"]) == (MD5 + "0", MD5 + "1")
    with pytest.raises(WireError, match=r"chunkIds\[1\] ends with index 2"):
        parse_chunk_list([MD5 + "0", MD5 + "2"])


@pytest.mark.parametrize(
    "filename",
    [
        "photo.jpg",
        "archive.tar.gz",
        "no extension",
        "report.final version for the board",
        ".hidden",
        "a..b",
        "tab\there.txt",
        "right\u202eto-left.txt",
        "lone\ud800.txt",
        "x" * 300 + ".pdf",
        "..",
    ],
)
def test_the_engine_sends_an_ext_and_a_name_only_when_the_server_takes_them(filename: str) -> None:
    ext, name = upload_ext(filename), upload_name(filename)
    assert protocol.parse_ext(ext) == ext
    assert name is None or protocol.parse_name(name) == name
    try:
        protocol.parse_name(filename)
    except ApiError:
        assert name is None  # the server would refuse it: the engine leaves it out
    else:
        assert name == filename


@pytest.mark.parametrize("lang", STARTUP_TEXTS)
def test_the_browsers_texts_extend_the_words_the_server_renders(lang: str) -> None:
    assert LANGUAGES.keys() == STARTUP_TEXTS.keys()
    for field in fields(StartupTexts):
        assert getattr(LANGUAGES[lang], field.name) == getattr(STARTUP_TEXTS[lang], field.name)
