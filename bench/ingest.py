"""Issue 5, item 3 - server ingest: our ``/api/upload`` vs ``@tus/server`` + ``@tus/file-store``.

The same Python client (``bench.upload_clients``) uploads one file of random bytes in 1 MiB chunks to a fresh
server process, one chunk at a time and 4 at a time (our forms carry ``chunkId`` and ``fileId`` before the
``file`` part, as our browser client sends them; the seed's client sends ``file`` first); each run measures
the wall time from the first request (handshake / tus creation) to the last answer, the server process's CPU
time over that span, and its peak RSS.
Ours runs as shipped (the assembled file's MD5 checked against fileId, each chunk against its id only when
that fails, which it does not here; ``--fsync files``: the assembled file is fsynced, single chunks are not,
like @tus/file-store which fsyncs nothing); the last chunk's answer comes after assembly and verification,
so they are included. A second, informative line runs ours with
``--fsync all`` (every chunk fsynced before it is acknowledged).

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


def _define(figures: FigureSet) -> None:
    for mode, label in MODE_LABEL.items():
        figures.define(f"{mode}.mbps", f"{label}: throughput", "MB/s", Target(">=", 1.3))
        figures.define(f"{mode}.cpu", f"{label}: server CPU per GiB", "s/GiB", Target("<=", 0.7), decimals=2)
        figures.define(f"{mode}.rss", f"{label}: server peak RSS", "MiB")
    for mode, label in MODE_LABEL.items():
        figures.define(f"{mode}.fsyncall.mbps", f"{label}, ours with --fsync all: throughput", "MB/s")
        figures.define(
            f"{mode}.fsyncall.cpu",
            f"{label}, ours with --fsync all: server CPU per GiB",
            "s/GiB",
            decimals=2,
        )


async def _measure(pid: int, upload: Callable[[], Awaitable[None]], size: int) -> tuple[float, float, float]:
    """(MB/s, CPU s/GiB, peak RSS MiB) of one upload of ``size`` bytes."""
    meter = CpuMeter(pid).start()
    started = time.perf_counter()
    await upload()
    wall = time.perf_counter() - started
    cpu = meter.stop()
    return mb_per_s(size, wall), cpu_per_gib(cpu, size), peak_rss_bytes(pid) / MiB


def _settle(folder: Path) -> None:
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

    async def ours(mode: str, run_index: int, fsync_all: bool) -> None:
        key = f"{mode}.fsyncall" if fsync_all else mode
        folder = ctx.workdir / f"ours-{key}-{run_index}"
        fsync = "all" if fsync_all else "files"
        with servers.our_server(ctx, folder, "--fsync", fsync, case=f"ours-{key}") as server:
            async with new_session() as session:
                mbps, cpu, rss = await _measure(
                    server.pid, lambda: ours_upload.run(session, server.url, MODES[mode]), size
                )
        _settle(folder)
        figures.add(f"{key}.mbps", "ours", mbps)
        figures.add(f"{key}.cpu", "ours", cpu)
        if not fsync_all:
            figures.add(f"{key}.rss", "ours", rss)
        ctx.log(f"run {run_index + 1} {key:12} ours {mbps:7.1f} MB/s {cpu:5.2f} s/GiB {rss:6.1f} MiB")

    async def peer(mode: str, run_index: int) -> None:
        folder = ctx.workdir / f"tus-{mode}-{run_index}"
        with servers.tus_server(folder) as server:
            async with new_session() as session:
                mbps, cpu, rss = await _measure(
                    server.pid, lambda: run_tus_parts(session, server.url, tus_uploads[mode]), size
                )
        _settle(folder)
        for key in (mode, f"{mode}.fsyncall"):
            figures.add(f"{key}.mbps", "peer", mbps)
            figures.add(f"{key}.cpu", "peer", cpu)
        figures.add(f"{mode}.rss", "peer", rss)
        ctx.log(f"run {run_index + 1} {mode:12} tus  {mbps:7.1f} MB/s {cpu:5.2f} s/GiB {rss:6.1f} MiB")

    for run_index in range(ctx.runs):
        for mode in MODES:
            sides = ["ours", "peer"] if ctx.first(run_index) == "ours" else ["peer", "ours"]
            for side in sides:
                if side == "ours":
                    await ours(mode, run_index, fsync_all=False)
                    await ours(mode, run_index, fsync_all=True)
                elif not tus_missing:
                    await peer(mode, run_index)

    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"{servers.our_version()}: POST /api/upload, checks on (whole-file MD5; each chunk against its id when that fails), --fsync files",
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
