"""Streaming hashing: one pass, bounded memory, any piece sizes; the seed's extname; the ext/name sent."""

from __future__ import annotations

import hashlib
import random

import pytest

from frontend.engine.errors import EngineError, Err
from frontend.engine.hashing import extname, hash_file, md5_hex, upload_ext, upload_name
from tests.support.engine_doubles import BytesSource, StreamingBytesSource

CHUNK = 1000


def expected_ids(data: bytes, chunk_size: int = CHUNK) -> list[str]:
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] or [b""]
    return [md5_hex(p) + str(i) for i, p in enumerate(pieces)]


@pytest.mark.parametrize("pieces", [(), (1,), (7, 999, 1000, 1001, 3), (2500,), (CHUNK,)])
@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 4 * CHUNK + 17])
async def test_streaming_blocks_of_any_size_give_the_same_plan(pieces: tuple[int, ...], size: int) -> None:
    data = random.Random(size).randbytes(size)
    streamed = await hash_file(StreamingBytesSource(data, piece_sizes=pieces), chunk_size=CHUNK)
    ranged = await hash_file(BytesSource(data), chunk_size=CHUNK)
    assert streamed == ranged
    assert streamed.file_id == hashlib.md5(data).hexdigest()
    assert streamed.chunk_ids == expected_ids(data)


async def test_hashing_reads_one_block_at_a_time_and_reports_progress() -> None:
    data = random.Random(2).randbytes(10 * CHUNK + 3)
    source = BytesSource(data)
    seen: list[int] = []
    await hash_file(source, chunk_size=CHUNK, block_size=300, on_progress=seen.append)
    assert source.largest_read == 300  # never the whole file, never a whole chunk list
    assert source.reads == -(-len(data) // 300)
    assert seen == sorted(seen) and seen[-1] == len(data)


async def test_a_source_that_cannot_be_read_is_read_failed() -> None:
    class Broken(BytesSource):
        async def read(self, start: int, end: int) -> bytes:
            raise OSError("NotReadableError: the file was deleted")

    with pytest.raises(EngineError) as info:
        await hash_file(Broken(b"abc"))
    assert info.value.kind is Err.READ_FAILED
    assert "NotReadableError" in info.value.msg


class Resized(StreamingBytesSource):
    """A file whose size changed after the page read ``File.size``: it claims ``claimed`` bytes."""

    def __init__(self, data: bytes, claimed: int, streaming: bool) -> None:
        super().__init__(data)
        self.claimed = claimed
        if not streaming:
            self.blocks = None  # type: ignore[assignment]  # forces ranged reads

    @property
    def size(self) -> int:
        return self.claimed

    async def read(self, start: int, end: int) -> bytes:
        return self.data[start:end]  # a Blob slice past the end is short, not an error


@pytest.mark.parametrize(
    ("claimed", "streaming"),
    [
        (5, True),
        (20, True),
        (20, False),
    ],  # the stream gives more or fewer bytes; a range read comes back short
)
async def test_a_file_that_grew_or_shrank_is_file_changed(claimed: int, streaming: bool) -> None:
    with pytest.raises(EngineError) as info:
        await hash_file(Resized(b"x" * 10, claimed, streaming), chunk_size=4)
    assert info.value.kind is Err.FILE_CHANGED


@pytest.mark.parametrize(
    ("name", "ext"),
    [
        ("photo.jpg", ".jpg"),
        ("archive.tar.gz", ".gz"),
        ("README", ""),
        (".bashrc", ".bashrc"),
        ("trailing.", "."),
        ("中文名.文档", ".文档"),
    ],
)
def test_extname_is_the_seeds(name: str, ext: str) -> None:
    assert extname(name) == ext


def test_upload_ext_drops_what_the_server_would_refuse() -> None:
    assert upload_ext("photo.JPG") == ".JPG"
    assert upload_ext("report.final version for the board") == ""  # over 16 characters
    assert upload_ext("a.b\u200bc") == ""  # a format character
    assert upload_ext("README") == ""


def test_upload_name_is_sent_only_when_the_server_accepts_it() -> None:
    assert upload_name("photo.jpg") == "photo.jpg"
    assert upload_name("中文 名.txt") == "中文 名.txt"
    for bad in ("", ".", "..", "a/b", "a\\b", "tab\there", "x" * 256):
        assert upload_name(bad) is None
