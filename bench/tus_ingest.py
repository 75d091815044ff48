"""Issue 13 - tus ingest: our ``/files/`` vs ``@tus/server`` + ``@tus/file-store``, the same tus client.

One file of random bytes, uploaded by ``bench.upload_clients.TusUpload`` (one keep-alive aiohttp session;
creation, then PATCHes) to a fresh server process: in 1 MiB PATCHes, and in one PATCH of the whole file.
Each run measures the wall time from the creation to the last answer, the server process's CPU time over
that span, and its peak RSS. Both sides run as shipped: ours ``--fsync files`` (the completed file fsynced
and published under its MD5, computed as the bytes are appended), the peer fsyncs nothing and computes
nothing. One more line, informative: ours with ``Upload-Checksum: sha256`` on every 1 MiB PATCH (the
peer's file store has no checksum extension), to show what checking costs.
"""

from __future__ import annotations

import os

from bench import servers
from bench.ingest import measure_upload, settle
from bench.measure import MiB
from bench.model import Benchmark, Context, FigureSet, Result, Target
from bench.upload_clients import TusUpload, new_session, prepare_tus, run_tus_parts

CHUNK = MiB
# figure key -> (label, PATCH size (None: the whole file), checksum ours sends, whether it has targets)
CASES: dict[str, tuple[str, int | None, str | None, bool]] = {
    "small": ("1 MiB PATCHes", CHUNK, None, True),
    "whole": ("one PATCH of the whole file", None, None, True),
    "sha256": ("1 MiB PATCHes, ours checking Upload-Checksum sha256", CHUNK, "sha256", False),
}


def _define(figures: FigureSet) -> None:
    for key, (label, _, _, targets) in CASES.items():
        figures.define(f"{key}.mbps", f"{label}: throughput", "MB/s", Target(">=", 1.5) if targets else None)
        figures.define(f"{key}.cpu", f"{label}: server CPU per GiB", "s/GiB", decimals=2)
        figures.define(f"{key}.rss", f"{label}: server peak RSS", "MiB")


async def run(ctx: Context) -> Result:
    size = 4 * MiB if ctx.quick else 256 * MiB
    figures = FigureSet()
    _define(figures)
    tus_missing = servers.install_tus_peer()
    notes = [f"tus peer not measured: {tus_missing}"] if tus_missing else []

    ctx.log(f"preparing {size // MiB} MiB of random bytes and the request bodies")
    data = os.urandom(size)
    uploads: dict[str, list[TusUpload]] = {
        key: prepare_tus(data, chunk or size, parts=1, checksum=checksum)
        for key, (_, chunk, checksum, _) in CASES.items()
    }
    del data

    async def side(name: str, key: str, run_index: int) -> None:
        folder = ctx.workdir / f"{name}-{key}-{run_index}"
        if name == "ours":
            server_context = servers.our_server(ctx, folder, "--fsync", "files", case=f"tus-{key}")
        else:
            server_context = servers.tus_server(folder)
        with server_context as server:
            endpoint = f"{server.url}/files/" if name == "ours" else server.url
            async with new_session() as session:
                mbps, cpu, rss = await measure_upload(
                    server.pid, lambda: run_tus_parts(session, endpoint, uploads[key]), size
                )
        settle(folder)
        keys = [key] if name == "ours" else [k for k, case in CASES.items() if case[1] == CASES[key][1]]
        for figure in keys:
            figures.add(f"{figure}.mbps", "ours" if name == "ours" else "peer", mbps)
            figures.add(f"{figure}.cpu", "ours" if name == "ours" else "peer", cpu)
            figures.add(f"{figure}.rss", "ours" if name == "ours" else "peer", rss)
        ctx.log(f"run {run_index + 1} {key:8} {name:4} {mbps:7.1f} MB/s {cpu:5.2f} s/GiB {rss:6.1f} MiB")

    for run_index in range(ctx.runs):
        order = ["ours", "peer"] if ctx.first(run_index) == "ours" else ["peer", "ours"]
        for name in order:
            if name == "peer" and tus_missing:
                continue
            for key in CASES if name == "ours" else ("small", "whole"):  # the peer's sha256 line is "small"
                await side(name, key, run_index)

    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"{servers.our_version()}: tus 1.0.0 at /files/, --fsync files, published under its MD5",
        peer=None if tus_missing else servers.tus_version(),
        params={"file": f"{size // MiB} MiB", "runs": ctx.runs},
        figures=figures.build(),
        notes=notes,
    )


BENCHMARK = Benchmark(
    name="tus-ingest",
    title="tus ingest: our /files/ vs @tus/server, the same tus client",
    order=31,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
