"""Issue 16 - the protocol's cost for large files: the seed's answers vs the compact answer (``?answer=ranges``).

Our upload engine (pure Python, under CPython here, with an aiohttp transport: ``tests/support``) uploads a
generated file of N chunks of 1 KiB to our server (local default backend), 3 chunks in flight, and the
benchmark counts the bytes of every answer, the server's CPU (``/proc/<pid>/stat``) and the client's
(``time.process_time`` of this process: the engine plus its aiohttp transport). The chunks are small because
the cost measured is the protocol's, which grows with the chunk count, not with the bytes: N chunks of 1 MiB
answer exactly the same (N = 16,000 is a 16 GiB file). ours: the engine as it is, asking for the compact
answer. peer: the same engine with the query left out of its requests, so the server answers the seed's lists
of every id still needed (not run at 16,000 chunks: 5.1 GB of answers). The issue's targets: answers linear
(<= 50 MB in all at 16,000 chunks); CPU per chunk flat (here: at 16,000 chunks within 1.25x of at 1,000).
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp

from bench import servers
from bench.measure import CpuMeter
from bench.model import Benchmark, Context, FigureSet, Result, Target
from frontend.engine import HttpRequest, HttpResponse, UploadConfig, UploadController, UploadState
from tests.support.aiohttp_transport import AiohttpTransport
from tests.support.engine_doubles import BytesSource

CHUNK = 1024
COUNTS = (1_000, 4_000, 16_000)
SEED_COUNTS = (1_000, 4_000)  # the seed's lists at 16,000 chunks: 5.1 GB of answers, minutes of CPU
FLAT = 1.25


class SeedAnswers(AiohttpTransport):
    """The transport without the query: the server answers the seed's lists of ids."""

    async def request(self, req: HttpRequest) -> HttpResponse:
        return await super().request(replace(req, url=req.url.split("?", 1)[0]))


async def _upload(url: str, chunks: int, compact: bool, server_pid: int) -> tuple[float, float, float]:
    """(answer bytes, server CPU s, client CPU s) of one upload of ``chunks`` chunks."""
    data = random.Random(chunks * 2 + compact).randbytes(chunks * CHUNK)
    async with aiohttp.ClientSession() as session:
        transport = AiohttpTransport(session) if compact else SeedAnswers(session)
        source = BytesSource(data, "big.bin")
        ctl = UploadController(source, transport, base_url=url, config=UploadConfig(chunk_size=CHUNK))
        await ctl.prepare()  # hashed and handshaken: what follows is the chunks only
        meter = CpuMeter(server_pid).start()
        client = time.process_time()
        final = await ctl.upload()
        client = time.process_time() - client
        server = meter.stop()
    if final.state is not UploadState.FINISHED:
        raise RuntimeError(f"the upload of {chunks} chunks ended {final.state}: {final.error}")
    assert urlsplit(final.url or "").path.startswith("/upload/")
    return transport.answer_bytes, server, client


async def run(ctx: Context) -> Result:
    counts = (200, 800) if ctx.quick else COUNTS
    seed_counts = counts[:2] if ctx.quick else SEED_COUNTS
    figures = FigureSet()
    for n in counts:
        figures.define(
            f"{n}.bytes",
            f"{n:,} chunks: answers in all",
            "MB",
            Target("<=", 50.0, "ours") if n == 16_000 else None,
            decimals=2,
        )
        figures.define(f"{n}.server", f"{n:,} chunks: server CPU per chunk", "ms", decimals=3)
        figures.define(f"{n}.client", f"{n:,} chunks: engine + transport CPU per chunk", "ms", decimals=3)
    top = counts[-1]
    for part, who in (("server", "server"), ("client", "engine")):
        figures.define(
            f"flat.{part}",
            f"{who} CPU per chunk, {top:,} vs {counts[0]:,} chunks",
            "x",
            Target("<=", FLAT, "ours"),
            decimals=2,
        )
    for run_index in range(ctx.runs):
        per_chunk: dict[int, tuple[float, float]] = {}
        with servers.our_server(
            ctx, ctx.workdir / f"data-{run_index}", "--requests-per-second-per-client", "0", case="answers"
        ) as server:
            for n in counts:
                sides = [True, False] if n in seed_counts else [True]
                if ctx.first(run_index) == "peer":
                    sides.reverse()
                for compact in sides:
                    answers, server_cpu, client_cpu = await _upload(server.url, n, compact, server.pid)
                    side = "ours" if compact else "peer"
                    figures.add(f"{n}.bytes", side, answers / 1e6)
                    figures.add(f"{n}.server", side, server_cpu / n * 1e3)
                    figures.add(f"{n}.client", side, client_cpu / n * 1e3)
                    if compact:
                        per_chunk[n] = (server_cpu / n, client_cpu / n)
                    ctx.log(
                        f"run {run_index + 1} {side} {n:6,} chunks: answers {answers / 1e6:8.2f} MB, CPU per "
                        f"chunk server {server_cpu / n * 1e3:.3f} ms, client {client_cpu / n * 1e3:.3f} ms"
                    )
        figures.add("flat.server", "ours", per_chunk[top][0] / per_chunk[counts[0]][0])
        figures.add("flat.client", "ours", per_chunk[top][1] / per_chunk[counts[0]][1])
    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"{servers.our_version()}: our engine asking ?answer=ranges (answers {{needed, ranges}})",
        peer="the same engine and server without the query (the seed's lists of every id still needed)",
        params={
            "chunk": f"{CHUNK} B",
            "chunks": ", ".join(f"{n:,}" for n in counts),
            "in flight": "the engine's (3 here)",
            "runs": ctx.runs,
        },
        figures=figures.build(),
    )


BENCHMARK = Benchmark(
    name="answers",
    title="The protocol's cost for large files: compact answers vs the seed's lists",
    order=32,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
