"""Pure validation of the seed's upload protocol (server/uploads/protocol.py)."""

from __future__ import annotations

import hashlib

import pytest

from server.errors import ApiError, E
from server.uploads import protocol as p

MD5_EMPTY = hashlib.md5(b"").hexdigest()
MD5_A = hashlib.md5(b"a").hexdigest()


def kind_of(call, *args, **kwargs) -> E:
    with pytest.raises(ApiError) as info:
        call(*args, **kwargs)
    return info.value.kind


class TestFileId:
    def test_accepts_md5_hex_and_lowercases(self) -> None:
        assert p.parse_file_id(MD5_A.upper()) == MD5_A

    @pytest.mark.parametrize("missing", [None, ""])
    def test_missing_answers_the_seeds_403(self, missing: object) -> None:
        with pytest.raises(ApiError) as info:
            p.parse_file_id(missing)
        assert info.value.status == 403
        assert info.value.msg == "请携带文件编号"

    @pytest.mark.parametrize("bad", ["abc", MD5_A + "0", MD5_A[:-1] + "g", 123, ["x"], " " + MD5_A[1:], True])
    def test_rejects_anything_but_32_hex_digits(self, bad: object) -> None:
        assert kind_of(p.parse_file_id, bad) is E.BAD_FILE_ID


class TestChunkIds:
    def test_sparkmd5_style_ids(self) -> None:
        ids = [MD5_A + "0", MD5_EMPTY + "1", MD5_A + "2"]
        assert p.parse_chunk_ids(ids, 10) == tuple(ids)

    def test_index_must_match_position(self) -> None:
        assert kind_of(p.parse_chunk_ids, [MD5_A + "1"], 10) is E.BAD_CHUNK_ID

    def test_leading_zero_index_is_not_what_javascript_gives(self) -> None:
        assert kind_of(p.parse_chunk_id, MD5_A + "01") is E.BAD_CHUNK_ID

    @pytest.mark.parametrize("bad", ["", MD5_A, MD5_A[:31] + "0", MD5_A + "x", MD5_A + "-1", 5, None])
    def test_malformed(self, bad: object) -> None:
        assert kind_of(p.parse_chunk_id, bad) is E.BAD_CHUNK_ID

    def test_must_be_a_list(self) -> None:
        assert kind_of(p.parse_chunk_ids, "abc", 10) is E.BAD_FIELD

    def test_limit_on_count(self) -> None:
        ids = [MD5_A + str(i) for i in range(11)]
        assert kind_of(p.parse_chunk_ids, ids, 10) is E.TOO_MANY_CHUNKS

    def test_chunk_id_round_trip(self) -> None:
        chunk = p.parse_chunk_id(MD5_A.upper() + "12")
        assert chunk == p.ChunkId(MD5_A, 12)
        assert str(chunk) == MD5_A + "12"


class TestExt:
    @pytest.mark.parametrize("ext", ["", ".jpg", ".tar", ".", ".文档", ".a" * 8])
    def test_accepted(self, ext: str) -> None:
        assert p.parse_ext(ext) == ext

    def test_missing_is_empty(self) -> None:
        assert p.parse_ext(None) == ""

    @pytest.mark.parametrize(
        "ext",
        [
            "jpg",
            "./x",
            ".a/b",
            ".a\\b",
            "..",
            ".x..y",
            ".a\x00",
            ".a\nb",
            ".\u202ejpg",
            "." + "x" * 16,
            5,
            ".b\ud800",
        ],
    )
    def test_rejected(self, ext: object) -> None:
        assert kind_of(p.parse_ext, ext) is E.BAD_EXT


class TestNameAndSize:
    def test_name_optional(self) -> None:
        assert p.parse_name(None) is None
        assert p.parse_name("报告 2026.pdf") == "报告 2026.pdf"

    @pytest.mark.parametrize("name", ["a/b", "..", "a\\b", "a\x07", "x" * 256, 3, "a\ud800", "\udfff.pdf"])
    def test_bad_names(self, name: object) -> None:
        assert kind_of(p.parse_name, name) is E.BAD_NAME

    def test_a_lone_surrogate_is_named_as_such(self) -> None:
        with pytest.raises(ApiError) as info:
            p.parse_name("report\ud800.pdf")
        assert "lone surrogate at position 6" in info.value.msg

    def test_size(self) -> None:
        assert p.parse_size(None, 10) is None
        assert p.parse_size(10, 10) == 10
        assert kind_of(p.parse_size, 11, 10) is E.FILE_TOO_LARGE
        for bad in (-1, 1.5, "10", True):
            assert kind_of(p.parse_size, bad, 10) is E.BAD_FIELD


class TestHandshake:
    def test_unknown_fields_ignored(self) -> None:
        hs = p.parse_handshake(
            {
                "fileId": MD5_A,
                "ext": ".txt",
                "chunkIds": [MD5_A + "0"],
                "extra": {"x": 1},
                "name": "a.txt",
                "size": 1,
            },
            max_chunks=10,
            max_file_bytes=100,
        )
        assert hs == p.Handshake(MD5_A, ".txt", (MD5_A + "0",), "a.txt", 1)

    def test_not_an_object(self) -> None:
        assert kind_of(p.parse_handshake, [1], max_chunks=1, max_file_bytes=1) is E.BAD_FIELD

    def test_missing_chunk_ids(self) -> None:
        assert kind_of(p.parse_handshake, {"fileId": MD5_A}, max_chunks=1, max_file_bytes=1) is E.BAD_FIELD

    def test_missing_file_id_first(self) -> None:
        assert (
            kind_of(p.parse_handshake, {"chunkIds": 3}, max_chunks=1, max_file_bytes=1) is E.MISSING_FILE_ID
        )


class TestUploadPath:
    def test_split(self) -> None:
        assert p.split_upload_path(MD5_A + ".jpg") == (MD5_A, ".jpg")
        assert p.split_upload_path(MD5_A.upper()) == (MD5_A, "")

    @pytest.mark.parametrize("tail", ["", "x.jpg", MD5_A[:31], MD5_A + "jpg", MD5_A + "/../x", MD5_A + ".."])
    def test_not_an_upload(self, tail: str) -> None:
        assert p.split_upload_path(tail) is None
