"""Issue 14 - ingest on the cluster backend (PostgreSQL + S3) vs the local default (disk + SQLite).

The same Python client (``bench.upload_clients``, as in ``bench/ingest.py``) uploads a file of random bytes in
1 MiB chunks (``POST /api/upload``), one chunk at a time and 4 at a time, to our server on each backend, side
by side in each run: a fresh server process on the local default (``--fsync files``), and a local cluster
(``bench.cluster``: PostgreSQL with ``fsync on``, SeaweedFS's ``weed mini`` as S3, 3 instances, nginx),
started once for the whole benchmark. "1 instance" sends every request straight to one instance; "3 instances
behind nginx" sends them to nginx, which spreads them round robin (every chunk may land on another instance;
the per-file lock is PostgreSQL's). The cluster never sees a file twice (it would answer at once): each upload
to it is a new file, and the local server gets the very same file as the 1-instance cluster in the same run.

Measured per upload: wall time from the handshake to the last answer (which comes after the assembly, which
on the cluster reads every chunk back from S3 and writes the file as a new object), the CPU time of the
server process(es) over that span, and of everything the cluster runs (PostgreSQL's postmaster and every
backend, SeaweedFS, nginx). Ratios are cluster over local.
"""

from __future__ import annotations

import os
import subprocess
import time

from bench import servers
from bench.cluster import ClusterConfig, LocalCluster, tree_cpu_seconds
from bench.ingest import settle
from bench.measure import GiB, MiB, mb_per_s
from bench.model import Benchmark, Context, FigureSet, Result
from bench.upload_clients import OurUpload, new_session, prepare_ours
from tests.support.seaweedfs import WEED

CHUNK = MiB
MODES = {"seq": (1, "one chunk at a time"), "par4": (4, "4 chunks at a time")}
CASES = {"c1": "PostgreSQL + S3, 1 instance", "c3": "PostgreSQL + S3, 3 instances behind nginx"}
PARTS = {"c1": ("pg", "s3"), "c3": ("nginx",)}  # the cluster's other processes shown on their own lines
PART_LABEL = {"pg": "PostgreSQL's", "s3": "SeaweedFS's", "nginx": "nginx's"}


def _define(figures: FigureSet) -> None:
    for case, case_label in CASES.items():
        for mode, (_, mode_label) in MODES.items():
            key, name = f"{case}.{mode}", f"{mode_label}, {case_label}"
            figures.define(f"{key}.mbps", f"{name}: throughput", "MB/s")
            servers_label = "our server's" if case == "c1" else "the 3 instances'"
            figures.define(f"{key}.cpu", f"{name}: {servers_label} CPU per GiB", "s/GiB", decimals=2)
            for part in PARTS[case]:
                figures.define(
                    f"{key}.{part}", f"{name}: {PART_LABEL[part]} CPU per GiB", "s/GiB", decimals=2
                )
            figures.define(f"{key}.total", f"{name}: CPU per GiB, every process", "s/GiB", decimals=2)


class Meter:
    """CPU seconds of several process trees between ``start`` and ``stop``, by name."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: sum(tree_cpu_seconds(pid) for pid in pids) for name, pids in self.pids.items()}

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        return {name: seconds - self._start[name] for name, seconds in self._now().items()}


async def timed(upload: OurUpload, url: str, parallel: int, meter: Meter) -> tuple[float, dict[str, float]]:
    """(seconds, CPU seconds by process) of one upload."""
    async with new_session() as session:
        meter.start()
        started = time.perf_counter()
        await upload.run(session, url, parallel)
        wall = time.perf_counter() - started
        return wall, meter.stop()


async def run(ctx: Context) -> Result:
    size = 4 * MiB if ctx.quick else 256 * MiB
    gib = size / GiB
    figures = FigureSet()
    _define(figures)
    ctx.workdir.chmod(0o755)  # PostgreSQL runs as nobody when we are root: it must reach its folder
    config = ClusterConfig(data=ctx.workdir / "cluster", instances=3, port=0)

    def new_file() -> OurUpload:
        return prepare_ours(os.urandom(size), CHUNK)

    with LocalCluster(config) as cluster:
        parts = cluster.processes()
        instances = [i.pid for i in cluster.instances]
        pg, s3, nginx = [parts["postgresql"]], [parts["seaweedfs"]], [parts["nginx"]]
        c1 = Meter({"server": instances[:1], "pg": pg, "s3": s3})
        c3 = Meter({"server": instances, "pg": pg, "s3": s3, "nginx": nginx})

        async def local(upload: OurUpload, mode: str, run_index: int) -> None:
            folder = ctx.workdir / f"local-{mode}-{run_index}"
            with servers.our_server(ctx, folder, "--fsync", "files", case=f"local-{mode}") as server:
                wall, cpu = await timed(upload, server.url, MODES[mode][0], Meter({"server": [server.pid]}))
            settle(folder)
            mbps = mb_per_s(size, wall)
            for case in CASES:
                figures.add(f"{case}.{mode}.mbps", "peer", mbps)
                figures.add(f"{case}.{mode}.cpu", "peer", cpu["server"] / gib)
                figures.add(f"{case}.{mode}.total", "peer", cpu["server"] / gib)
            ctx.log(f"run {run_index + 1} {mode:5} local {mbps:7.1f} MB/s {cpu['server'] / gib:5.2f} s/GiB")

        async def clustered(upload: OurUpload, case: str, mode: str, run_index: int) -> None:
            url, meter = (cluster.instances[0].url, c1) if case == "c1" else (cluster.url, c3)
            wall, cpu = await timed(upload, url, MODES[mode][0], meter)
            os.sync()  # SeaweedFS's and PostgreSQL's writeback is not left to the next upload
            mbps = mb_per_s(size, wall)
            key = f"{case}.{mode}"
            figures.add(f"{key}.mbps", "ours", mbps)
            figures.add(f"{key}.cpu", "ours", cpu["server"] / gib)
            for part in PARTS[case]:
                figures.add(f"{key}.{part}", "ours", cpu[part] / gib)
            figures.add(f"{key}.total", "ours", sum(cpu.values()) / gib)
            shown = " ".join(f"{name} {seconds / gib:5.2f}" for name, seconds in cpu.items())
            ctx.log(f"run {run_index + 1} {mode:5} {case}    {mbps:7.1f} MB/s CPU s/GiB: {shown}")

        for run_index in range(ctx.runs):
            for mode in MODES:
                ctx.log(f"preparing two files of {size // MiB} MiB")
                shared, other = new_file(), new_file()
                if ctx.first(run_index) == "ours":
                    await clustered(shared, "c1", mode, run_index)
                    await local(shared, mode, run_index)
                else:
                    await local(shared, mode, run_index)
                    await clustered(shared, "c1", mode, run_index)
                await clustered(other, "c3", mode, run_index)
                del shared, other

        problems = [line for i in cluster.instances for line in i.errors]
        notes = [f"the cluster's instances logged errors: {problems[:5]}"] if problems else []

    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"{servers.our_version()} on the cluster backend: PostgreSQL "
        f"{_postgres_version(cluster)} (fsync on) + SeaweedFS {_weed_version()} (weed mini, S3), POST /api/upload",
        peer="the same server on the local default backend (disk + SQLite), --fsync files",
        params={"file": f"{size // MiB} MiB", "chunk": f"{CHUNK // MiB} MiB", "runs": ctx.runs},
        figures=figures.build(),
        notes=notes,
    )


def _postgres_version(cluster: LocalCluster) -> str:
    assert cluster.postgres is not None
    return cluster.postgres.bin_dir.parent.name  # /usr/lib/postgresql/<major>/bin


def _weed_version() -> str:
    done = subprocess.run([str(WEED), "version"], capture_output=True, text=True, check=False, timeout=30)
    words = done.stdout.split()  # "version 30GB 4.01 ..."
    return next((w for w in words if w[:1].isdigit() and "." in w), "?")


BENCHMARK = Benchmark(
    name="cluster-ingest",
    title="Ingest on the cluster backend: PostgreSQL + S3 vs the local default",
    order=70,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
