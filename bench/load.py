"""Issue 5, item 6 - load: 100 concurrent uploads of 8 MiB files.

100 different files of random bytes (different content: our server would otherwise recognise one file
uploaded 100 times) are uploaded at once by the same Python client (``bench.upload_clients``), each upload
sending its 1 MiB chunks one after the other, over 100 keep-alive connections, to a fresh server process.
Measured: the server's peak RSS, the latency of every chunk request (from sending it to its full answer;
ours: ``POST /api/upload``, the last one including assembly and verification; tus: ``PATCH``), errors (an
upload stops at its first failed request: any unexpected status or a connection error), and, for context,
the aggregate throughput and the server's CPU per GiB. The peer is @tus/server + @tus/file-store under the
same load (the issue sets absolute targets here: the ratio is for context).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time

from bench import servers
from bench.measure import CpuMeter, MiB, cpu_per_gib, mb_per_s, peak_rss_bytes, percentile
from bench.model import Benchmark, Context, FigureSet, Result, Side, Target
from bench.upload_clients import OurUpload, TusUpload, UploadFailed, new_session, prepare_ours, prepare_tus

CHUNK = MiB


def _define(figures: FigureSet) -> None:
    figures.define("rss", "server peak RSS", "MiB", Target("<=", 150, of="ours"))
    figures.define("errors", "errors", "", Target("<=", 0, of="ours"), decimals=0)
    figures.define("p50", "chunk latency p50", "ms", decimals=0)
    figures.define("p99", "chunk latency p99", "ms", decimals=0)
    figures.define("mbps", "aggregate throughput", "MB/s")
    figures.define("cpu", "server CPU per GiB", "s/GiB", decimals=2)


async def run(ctx: Context) -> Result:
    uploads, size = (10, 2 * MiB) if ctx.quick else (100, 8 * MiB)
    figures = FigureSet()
    _define(figures)
    tus_missing = servers.install_tus_peer()
    notes = [f"tus peer not measured: {tus_missing}"] if tus_missing else []
    failures: list[str] = []

    ctx.log(f"preparing {uploads} files of {size // MiB} MiB and their request bodies")
    ours_uploads: list[OurUpload] = []
    tus_uploads: list[TusUpload] = []
    for _ in range(uploads):
        data = os.urandom(size)
        ours_uploads.append(prepare_ours(data, CHUNK))
        tus_uploads += prepare_tus(data, CHUNK)
    del data
    total = uploads * size

    async def measure(side: Side, pid: int, url: str) -> None:
        latencies: list[float] = []
        errors = 0

        def on_request(kind: str, seconds: float) -> None:
            if kind == "chunk":
                latencies.append(seconds)

        async def one(index: int, session: object) -> None:
            nonlocal errors
            try:
                if side == "ours":
                    await ours_uploads[index].run(session, url, 1, on_request)  # type: ignore[arg-type]
                else:
                    await tus_uploads[index].run(session, url, on_request)  # type: ignore[arg-type]
            except UploadFailed as exc:
                errors += 1
                if len(failures) < 5:
                    failures.append(f"{side}: {exc}")

        async with new_session() as session:
            meter = CpuMeter(pid).start()
            started = time.perf_counter()
            await asyncio.gather(*(one(i, session) for i in range(uploads)))
            wall = time.perf_counter() - started
            cpu = meter.stop()
        rss = peak_rss_bytes(pid) / MiB
        figures.add("rss", side, rss)
        figures.add("errors", side, errors)
        figures.add("p50", side, percentile(latencies, 0.50) * 1000 if latencies else 0)
        figures.add("p99", side, percentile(latencies, 0.99) * 1000 if latencies else 0)
        figures.add("mbps", side, mb_per_s(total, wall))
        figures.add("cpu", side, cpu_per_gib(cpu, total))
        ctx.log(
            f"{side:5} {rss:6.1f} MiB peak, {errors} errors, p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, {mb_per_s(total, wall):.1f} MB/s"
            if latencies
            else f"{side}: no chunk answered ({errors} errors)"
        )

    for run_index in range(ctx.runs):
        sides: list[Side] = ["ours", "peer"] if ctx.first(run_index) == "ours" else ["peer", "ours"]
        for side in sides:
            folder = ctx.workdir / f"{side}-{run_index}"
            if side == "ours":
                with servers.our_server(ctx, folder, case="ours-load") as server:
                    await measure(side, server.pid, server.url)
            elif not tus_missing:
                with servers.tus_server(folder) as tus:
                    await measure(side, tus.pid, tus.url)
            shutil.rmtree(folder, ignore_errors=True)
            os.sync()  # this run's writeback must not land in the next one

    notes += [f"first errors: {message}" for message in failures]
    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"{servers.our_version()}: POST /api/upload, checks on, --fsync files",
        peer=None if tus_missing else servers.tus_version(),
        params={
            "uploads at once": uploads,
            "file": f"{size // MiB} MiB",
            "chunk": f"{CHUNK // MiB} MiB, one at a time per upload",
            "runs": ctx.runs,
        },
        figures=figures.build(),
        notes=notes,
    )


BENCHMARK = Benchmark(
    name="load",
    title="Load: 100 concurrent uploads of 8 MiB",
    order=60,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
