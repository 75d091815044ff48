"""Issue 14 - downloads on the cluster backend: a published file read from S3 vs from the local disk.

One file of random bytes is uploaded once (``POST /api/upload``) to our server on each backend: a server
process on the local default (the file is then a file on disk, sent with ``sendfile``) and one instance of a
local cluster (``bench.cluster``: PostgreSQL, SeaweedFS's ``weed mini`` as S3; no nginx: requests go straight
to the instance), where every request for it is a ranged ``GetObject`` streamed through the instance. Both
serve it at ``/upload/<fileId>.bin``. Each server computes the file's ``Repr-Digest`` once, in the background,
after its first request (on the cluster that reads the whole object from S3): timing starts once both have
it. curl is the client (``bench.curl``: one process, one keep-alive connection, bodies to /dev/null):

- random: 200 ranges of 64 KiB at random offsets (the same offsets for both, new ones each run);
- full: one ``GET`` of the whole file.

The two servers take turns going first. Throughput is body bytes over curl's transfer times (MB/s =
10^6 B/s); latency is curl's total time of each range request, from the request to the last byte of its
answer; CPU is our server process's (and, for the cluster, SeaweedFS's) while curl runs, per GiB sent.
Ratios are S3 over disk.
"""

from __future__ import annotations

import json
import os
import random

from bench import curl, servers
from bench.cluster import ClusterConfig, LocalCluster, tree_cpu_seconds
from bench.measure import GiB, KiB, MiB, mb_per_s, percentile
from bench.model import Benchmark, Context, FigureSet, Result, Side
from bench.upload_clients import OurUpload, new_session, prepare_ours
from tests.support.digests import wait_for_repr_digest

RANGES, RANGE_BYTES = 200, 64 * KiB


def _define(figures: FigureSet) -> None:
    label = f"{RANGES} random {RANGE_BYTES // KiB} KiB ranges, keep-alive"
    figures.define("random.mbps", f"{label}: throughput", "MB/s")
    figures.define("random.p50", f"{label}: latency p50", "ms", decimals=2)
    figures.define("random.p99", f"{label}: latency p99", "ms", decimals=2)
    figures.define("random.cpu", f"{label}: our server's CPU per GiB", "s/GiB", decimals=2)
    figures.define("random.s3", f"{label}: SeaweedFS's CPU per GiB", "s/GiB", decimals=2)
    figures.define("full.mbps", "whole file, one GET: throughput", "MB/s")
    figures.define("full.cpu", "whole file, one GET: our server's CPU per GiB", "s/GiB", decimals=2)
    figures.define("full.s3", "whole file, one GET: SeaweedFS's CPU per GiB", "s/GiB", decimals=2)


def _check(transfers: list[curl.Transfer], status: int, size: int, who: str) -> None:
    for t in transfers:
        if t.status != status or t.size != size:
            raise RuntimeError(f"{who}: got {t.status} with {t.size} bytes, expected {status} with {size}")


async def run(ctx: Context) -> Result:
    if not curl.available():
        raise RuntimeError("curl is not installed")
    size = 8 * MiB if ctx.quick else 256 * MiB
    figures = FigureSet()
    _define(figures)
    ctx.log(f"preparing a file of {size // MiB} MiB")
    upload = prepare_ours(os.urandom(size))
    ctx.workdir.chmod(0o755)  # PostgreSQL runs as nobody when we are root: it must reach its folder
    config = ClusterConfig(data=ctx.workdir / "cluster", instances=1, balancer=False)
    with (
        LocalCluster(config) as cluster,
        servers.our_server(ctx, ctx.workdir / "local", case="local-downloads") as local,
    ):
        weed = cluster.processes()["seaweedfs"]
        bases: dict[Side, str] = {"ours": cluster.url, "peer": local.url.rstrip("/")}
        pids: dict[Side, int] = {"ours": cluster.instances[0].pid, "peer": local.pid}
        urls: dict[Side, str] = {}
        for side, base in bases.items():
            async with new_session() as session:
                await upload.run(session, base)
            urls[side] = f"{base}/upload/{upload_id(upload)}.bin"
            curl.fetch(urls[side], ["0-0"])  # the first request starts the background Repr-Digest
        for url in urls.values():
            wait_for_repr_digest(url, timeout=600)

        for run_index in range(ctx.runs):
            rng = random.Random(run_index)  # the same offsets for both sides of a run
            offsets = [rng.randrange(0, size - RANGE_BYTES) for _ in range(RANGES)]
            ranges: list[str | None] = [f"{o}-{o + RANGE_BYTES - 1}" for o in offsets]
            sides: list[Side] = ["ours", "peer"] if ctx.first(run_index) == "ours" else ["peer", "ours"]
            for side in sides:
                for case, asked, status, body in (
                    ("random", ranges, 206, RANGE_BYTES),
                    ("full", [None], 200, size),
                ):
                    before = tree_cpu_seconds(pids[side]), tree_cpu_seconds(weed)
                    transfers = curl.fetch(urls[side], asked)
                    server_cpu = tree_cpu_seconds(pids[side]) - before[0]
                    weed_cpu = tree_cpu_seconds(weed) - before[1]
                    _check(transfers, status, body, f"{side}, {case}")
                    sent = sum(t.size for t in transfers)
                    mbps = mb_per_s(sent, sum(t.seconds for t in transfers))
                    figures.add(f"{case}.mbps", side, mbps)
                    figures.add(f"{case}.cpu", side, server_cpu / (sent / GiB))
                    if side == "ours":
                        figures.add(f"{case}.s3", side, weed_cpu / (sent / GiB))
                    shown = f"run {run_index + 1} {case:6} {'S3' if side == 'ours' else 'disk':4} {mbps:8.1f} MB/s"
                    if case == "random":
                        latencies = [t.seconds * 1000 for t in transfers]
                        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
                        figures.add("random.p50", side, p50)
                        figures.add("random.p99", side, p99)
                        shown += f" p50 {p50:6.2f} ms p99 {p99:6.2f} ms"
                    ctx.log(shown)
        problems = [line for i in cluster.instances for line in i.errors]
    notes = [f"the cluster's instance logged errors: {problems[:5]}"] if problems else []
    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"{servers.our_version()} on the cluster backend: GET /upload/<fileId>.bin read from S3 "
        "(SeaweedFS weed mini), one instance",
        peer="the same server on the local default backend: the file on disk (sendfile)",
        params={
            "file": f"{size // MiB} MiB",
            "runs": ctx.runs,
            "client": "curl, one process per figure and run",
        },
        figures=figures.build(),
        notes=notes,
    )


def upload_id(upload: OurUpload) -> str:
    return str(json.loads(upload.handshake)["fileId"])


BENCHMARK = Benchmark(
    name="cluster-downloads",
    title="Downloads on the cluster backend: from S3 vs from the local disk",
    order=71,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
