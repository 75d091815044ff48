"""Issue 5, item 3 - server ingest: our ``/api/upload`` vs ``@tus/server`` + ``@tus/file-store``.

The same Python client (``bench.upload_clients``) uploads one file of random bytes in 1 MiB chunks to a fresh
server process, one chunk at a time and 4 at a time (our forms carry ``chunkId`` and ``fileId`` before the
``file`` part, as our browser client sends them; the seed's client sends ``file`` first); each run measures
the wall time from the first request (handshake / tus creation) to the last answer, the server process's CPU
time over that span, and its peak RSS.
Ours runs as shipped (``--verify-chunks arrival``: each chunk checked against its id as it arrives, and the
assembled file's MD5 against fileId; ``--fsync files``: the assembled file is fsynced, single chunks are
not, like @tus/file-store which fsyncs nothing); the last chunk's answer comes after assembly and
verification, so they are included. @tus/server checks nothing. Two more lines run ours with
``--verify-chunks assembly`` (chunks checked only when the file's MD5 fails, which it does not here: each
byte hashed once instead of twice) and, informative, with ``--fsync all`` (every chunk fsynced before it is
acknowledged). Our own tus endpoint against the peer is ``bench/tus_ingest.py``.

"4 at a time" for tus: PATCHes of one upload are sequential by protocol and @tus/file-store has no
concatenation extension, so 4 uploads of a quarter of the file each run in parallel (4 requests in flight,
like ours).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import servers
from bench.measure import CpuMeter, MiB, cpu_per_gib, mb_per_s, peak_rss_bytes
from bench.model import Benchmark, Context, FigureSet, Result, Target
from bench.upload_clients import new_session, prepare_ours, prepare_tus, run_tus_parts

CHUNK = MiB
MODES = {"seq": 1, "par4": 4}  # figure key prefix -> requests in flight
MODE_LABEL = {"seq": "one chunk at a time", "par4": "4 chunks at a time"}


# figure key suffix -> (how ours runs, its flags, whether its figures have targets)
VARIANTS = {
    "": ("", ("--fsync", "files"), True),
    ".assembly": (", ours with --verify-chunks assembly", ("--verify-chunks", "assembly"), True),
    ".fsyncall": (", ours with --fsync all", ("--fsync", "all"), False),
}


def _define(figures: FigureSet) -> None:
    for variant, (label, _, targets) in VARIANTS.items():
        for mode, mode_label in MODE_LABEL.items():
            key, name = f"{mode}{variant}", f"{mode_label}{label}"
            figures.define(
                f"{key}.mbps", f"{name}: throughput", "MB/s", Target(">=", 1.3) if targets else None
            )
            figures.define(
                f"{key}.cpu",
                f"{name}: server CPU per GiB",
                "s/GiB",
                Target("<=", 0.7) if targets and not variant else None,
                decimals=2,
            )
            if not variant:
                figures.define(f"{key}.rss", f"{name}: server peak RSS", "MiB")


async def measure_upload(
    pid: int, upload: Callable[[], Awaitable[None]], size: int
) -> tuple[float, float, float]:
    """(MB/s, CPU s/GiB, peak RSS MiB) of one upload of ``size`` bytes."""
    meter = CpuMeter(pid).start()
    started = time.perf_counter()
    await upload()
    wall = time.perf_counter() - started
    cpu = meter.stop()
    return mb_per_s(size, wall), cpu_per_gib(cpu, size), peak_rss_bytes(pid) / MiB


def settle(folder: Path) -> None:
    """Remove what a case wrote and flush the rest, so its writeback does not land in the next case."""
    shutil.rmtree(folder, ignore_errors=True)
    os.sync()


async def run(ctx: Context) -> Result:
    size = 4 * MiB if ctx.quick else 256 * MiB
    figures = FigureSet()
    _define(figures)
    tus_missing = servers.install_tus_peer()
    notes = [f"tus peer not measured: {tus_missing}"] if tus_missing else []

    ctx.log(f"preparing {size // MiB} MiB of random bytes and the request bodies")
    data = os.urandom(size)
    ours_upload = prepare_ours(data, CHUNK)
    tus_uploads = {mode: prepare_tus(data, CHUNK, parts=parallel) for mode, parallel in MODES.items()}
    del data

    async def ours(mode: str, run_index: int, variant: str) -> None:
        key = f"{mode}{variant}"
        folder = ctx.workdir / f"ours-{key}-{run_index}"
        flags = VARIANTS[variant][1]
        with servers.our_server(ctx, folder, *flags, case=f"ours-{key}") as server:
            async with new_session() as session:
                mbps, cpu, rss = await measure_upload(
                    server.pid, lambda: ours_upload.run(session, server.url, MODES[mode]), size
                )
        settle(folder)
        figures.add(f"{key}.mbps", "ours", mbps)
        figures.add(f"{key}.cpu", "ours", cpu)
        if not variant:
            figures.add(f"{key}.rss", "ours", rss)
        ctx.log(f"run {run_index + 1} {key:12} ours {mbps:7.1f} MB/s {cpu:5.2f} s/GiB {rss:6.1f} MiB")

    async def peer(mode: str, run_index: int) -> None:
        folder = ctx.workdir / f"tus-{mode}-{run_index}"
        with servers.tus_server(folder) as server:
            async with new_session() as session:
                mbps, cpu, rss = await measure_upload(
                    server.pid, lambda: run_tus_parts(session, server.url, tus_uploads[mode]), size
                )
        settle(folder)
        for key in (f"{mode}{variant}" for variant in VARIANTS):
            figures.add(f"{key}.mbps", "peer", mbps)
            figures.add(f"{key}.cpu", "peer", cpu)
        figures.add(f"{mode}.rss", "peer", rss)
        ctx.log(f"run {run_index + 1} {mode:12} tus  {mbps:7.1f} MB/s {cpu:5.2f} s/GiB {rss:6.1f} MiB")

    for run_index in range(ctx.runs):
        for mode in MODES:
            sides = ["ours", "peer"] if ctx.first(run_index) == "ours" else ["peer", "ours"]
            for side in sides:
                if side == "ours":
                    for variant in VARIANTS:
                        await ours(mode, run_index, variant)
                elif not tus_missing:
                    await peer(mode, run_index)

    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"{servers.our_version()}: POST /api/upload, checks on (each chunk against its id as it arrives, "
        "the whole file's MD5), --fsync files",
        peer=None if tus_missing else servers.tus_version(),
        params={"file": f"{size // MiB} MiB", "chunk": f"{CHUNK // MiB} MiB", "runs": ctx.runs},
        figures=figures.build(),
        notes=notes,
    )


BENCHMARK = Benchmark(
    name="ingest",
    title="Server ingest: /api/upload vs @tus/server",
    order=30,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
