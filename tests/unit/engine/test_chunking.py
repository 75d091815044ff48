"""The chunk plan and ids: the seed's cut (an empty file is one empty chunk), checked with npm's spark-md5."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import subprocess
from pathlib import Path

import pytest

from frontend.engine.chunking import CHUNK_SIZE, ChunkPlan, chunk_spans
from frontend.engine.hashing import hash_file
from tests.support.engine_doubles import BytesSource
from wire.ids import chunk_id

MIB = 1024 * 1024
NODE = "/usr/bin/node"
SPARK_SCRIPT = Path(__file__).with_name("sparkmd5_ids.js")
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def sample_files() -> dict[str, bytes]:
    rng = random.Random(4)
    return {
        "empty": b"",
        "one byte": b"\x07",
        "exactly 1 MiB": bytes(range(256)) * (MIB // 256),
        "1 MiB + 1": bytes(range(256)) * (MIB // 256) + b"!",
        "5.5 MiB": rng.randbytes(5 * MIB + MIB // 2),
        "random 2.3 MiB": rng.randbytes(int(2.3 * MIB)),
    }


def expected(data: bytes, chunk_size: int = CHUNK_SIZE) -> tuple[str, list[str]]:
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] or [b""]
    return hashlib.md5(data).hexdigest(), [hashlib.md5(p).hexdigest() + str(i) for i, p in enumerate(pieces)]


@pytest.mark.parametrize(
    ("size", "spans"),
    [
        (0, [(0, 0)]),  # the seed reads slice(0, 0) once: one empty chunk
        (1, [(0, 1)]),
        (MIB, [(0, MIB)]),  # no trailing empty chunk
        (MIB + 1, [(0, MIB), (MIB, MIB + 1)]),
        (5 * MIB + MIB // 2, [(i * MIB, min((i + 1) * MIB, 5 * MIB + MIB // 2)) for i in range(6)]),
    ],
)
def test_chunk_spans_follow_the_seed(size: int, spans: list[tuple[int, int]]) -> None:
    assert [(s.start, s.end) for s in chunk_spans(size)] == spans
    assert [s.index for s in chunk_spans(size)] == list(range(len(spans)))


def test_chunk_spans_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        chunk_spans(-1)
    with pytest.raises(ValueError):
        chunk_spans(10, 0)


def test_chunk_id_is_lowercase_md5_then_decimal_index() -> None:
    assert chunk_id(EMPTY_MD5.upper(), 0) == EMPTY_MD5 + "0"
    assert chunk_id(EMPTY_MD5, 12) == EMPTY_MD5 + "12"


@pytest.mark.parametrize("name", list(sample_files()))
async def test_ids_of_sample_files(name: str) -> None:
    data = sample_files()[name]
    plan = await hash_file(BytesSource(data, "x.bin"))
    file_id, chunk_ids = expected(data)
    assert plan.file_id == file_id
    assert plan.chunk_ids == chunk_ids
    assert plan.size == len(data)
    assert sum(c.size for c in plan.chunks) == len(data)


async def test_empty_file_is_one_empty_chunk() -> None:
    plan = await hash_file(BytesSource(b"", "empty.txt"))
    assert plan.file_id == EMPTY_MD5
    assert plan.chunk_ids == [EMPTY_MD5 + "0"]
    assert (plan.chunks[0].start, plan.chunks[0].end) == (0, 0)
    assert plan.ext == ".txt"


async def test_ids_equal_npm_spark_md5_running_the_seeds_loop(tmp_path: Path) -> None:
    files = sample_files()
    paths = []
    for i, data in enumerate(files.values()):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(data)
        paths.append(str(path))
    out = await asyncio.to_thread(
        subprocess.run,
        [NODE, str(SPARK_SCRIPT), str(CHUNK_SIZE), *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    spark = json.loads(out.stdout)
    assert len(spark) == len(files)
    for (name, data), theirs in zip(files.items(), spark, strict=True):
        plan = await hash_file(BytesSource(data))
        assert (plan.file_id, plan.chunk_ids) == (theirs["fileId"], theirs["chunkIds"]), name


async def test_plan_round_trips_through_a_dict_and_finds_chunks_by_id() -> None:
    data = random.Random(1).randbytes(3 * 1000 + 5)
    plan = await hash_file(BytesSource(data, "a.tar.gz"), chunk_size=1000)
    again = ChunkPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert plan.ext == ".gz"
    for chunk in plan.chunks:
        assert plan.by_id(chunk.id) is chunk
    assert plan.by_id(plan.chunks[0].id[:32] + "1") is None  # right index, wrong md5
    assert plan.by_id("x" * 32 + "9") is None
    assert plan.by_id("short") is None


def test_plan_from_dict_refuses_ids_that_do_not_fit() -> None:
    good = {"fileId": EMPTY_MD5, "ext": "", "size": 0, "chunkSize": MIB, "chunkIds": [EMPTY_MD5 + "0"]}
    assert ChunkPlan.from_dict(good).chunk_ids == [EMPTY_MD5 + "0"]
    with pytest.raises(ValueError):
        ChunkPlan.from_dict({**good, "chunkIds": [EMPTY_MD5 + "1"]})
    with pytest.raises(ValueError):
        ChunkPlan.from_dict({**good, "chunkIds": []})
