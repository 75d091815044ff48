"""Issue 5, item 4 - downloads: our ``GET /download/<name>`` vs nginx (Debian, ``sendfile on``).

Both serve the same 1 GiB file of random bytes from the same folder (in the page cache: it is read once
before timing). curl is the client (``bench.curl``: many transfers in one process over one keep-alive
connection, bodies to /dev/null). Four kinds of request:

- full: ``GET`` of the whole file, 4 times per run;
- middle: ``Range: bytes=a-b``, 100 MiB in the middle of the file, 30 times per run;
- random: 200 ranges of 1 MiB at random offsets (the same offsets for both servers in a run), the 200
  requested 5 times over in each run (1,000 requests: 200 MiB of CPU time is a few clock ticks of 10 ms);
- multipart: one request for 4 ranges of 25 MiB spread over the file (``206 multipart/byteranges`` checked),
  30 times per run.

Each kind of request gets fresh server processes (so ``--profile`` shows one kind at a time); within a run
the two servers take turns. Our server hashes a file once, in the background, after its first request (its
``Repr-Digest``, RFC 9530): the warm-up waits for that before timing, so the figures are what each request
costs; the one-time hash is noted apart. Throughput is body bytes over curl's own transfer times (MB/s = 10^6 B/s);
server CPU is the CPU time of the server process (nginx runs as one process, ``master_process off``) while
curl runs, per GiB of body sent.
"""

from __future__ import annotations

import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from bench import curl, servers
from bench.measure import CpuMeter, GiB, MiB, cpu_per_gib, mb_per_s
from bench.model import Benchmark, Context, FigureSet, Result, Side, Target
from tests.support.digests import wait_for_repr_digest

FILE_NAME = "big.bin"


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    ranges: list[str | None]  # one entry per request; None: the whole file
    status: int
    body: int  # body bytes expected per request (at least that, for multipart)
    multipart: bool = False


def _cases(size: int, quick: bool, run_index: int) -> list[Case]:
    middle = 4 * MiB if quick else 100 * MiB
    repeat = 2 if quick else 30  # requests per run of "middle" and "multi": about 3 GiB, so CPU is measurable
    full = 1 if quick else 4
    randoms, random_len = (20, 64 * 1024) if quick else (200, MiB)
    part = MiB if quick else 25 * MiB
    start = size // 2 - middle // 2
    rng = random.Random(run_index)  # same offsets for both sides of a run
    offsets = [rng.randrange(0, size - random_len) for _ in range(randoms)]
    random_rounds = 1 if quick else 5  # the CPU clock ticks in 10 ms: 200 MiB alone is too few ticks
    multi = ",".join(f"{i * size // 4 + MiB}-{i * size // 4 + MiB + part - 1}" for i in range(4))
    return [
        Case("full", "full GET", [None] * full, 200, size),
        Case(
            "middle",
            f"middle {middle // MiB} MiB range",
            [f"{start}-{start + middle - 1}"] * repeat,
            206,
            middle,
        ),
        Case(
            "random",
            f"{randoms} random {random_len // 1024} KiB ranges, keep-alive",
            [f"{o}-{o + random_len - 1}" for o in offsets] * random_rounds,
            206,
            random_len,
        ),
        Case("multi", f"4-range multipart ({4 * part // MiB} MiB)", [multi] * repeat, 206, 4 * part, True),
    ]


def _define(figures: FigureSet, cases: list[Case]) -> None:
    for case in cases:
        figures.define(f"{case.key}.mbps", f"{case.label}: throughput", "MB/s", Target(">=", 0.9))
        figures.define(
            f"{case.key}.cpu", f"{case.label}: server CPU per GiB", "s/GiB", Target("<=", 1.5), decimals=3
        )


def _check(case: Case, who: str, transfers: list[curl.Transfer]) -> None:
    for t in transfers:
        wrong = t.status != case.status or (t.size < case.body if case.multipart else t.size != case.body)
        if case.multipart and not t.content_type.startswith("multipart/byteranges"):
            wrong = True
        if wrong:
            raise RuntimeError(
                f"{who}, {case.label}: got {t.status} {t.content_type!r} with {t.size} bytes, "
                f"expected {case.status}{' multipart/byteranges' if case.multipart else ''} with {case.body} bytes"
            )


def _write_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.writelines(os.urandom(16 * MiB) for _ in range(size // (16 * MiB)))
        out.write(os.urandom(size % (16 * MiB)))


def _read_through(path: Path) -> None:
    """Bring the file into the page cache, so neither server pays for the disk."""
    with open(path, "rb") as handle:
        while handle.read(16 * MiB):
            pass


async def run(ctx: Context) -> Result:
    if not curl.available():
        raise RuntimeError("curl is not installed")
    size = 16 * MiB if ctx.quick else GiB
    folder = ctx.workdir / "files"
    ctx.log(f"writing a {size // MiB} MiB file")
    _write_file(folder / FILE_NAME, size)
    _read_through(folder / FILE_NAME)
    figures = FigureSet()
    _define(figures, _cases(size, ctx.quick, 0))
    nginx_missing = None if servers.nginx_path() else "nginx is not installed"
    notes = [f"nginx not measured: {nginx_missing}"] if nginx_missing else []
    reused: dict[Side, list[int]] = {"ours": [], "peer": []}
    hashed: list[float] = []  # seconds from the first request to the file's Repr-Digest, per server

    for index, key in enumerate(case.key for case in _cases(size, ctx.quick, 0)):
        # Fresh servers for each kind of request, so a profile (--profile) shows one kind only.
        with servers.our_server(
            ctx, ctx.workdir / f"data-{key}", "--downloads-dir", str(folder), case=f"ours-{key}"
        ) as ours:
            peer = None if nginx_missing else servers.nginx_server(folder, ctx.workdir / f"nginx-{key}")
            with peer if peer is not None else nullcontext() as nginx:
                urls: dict[Side, str] = {"ours": f"{ours.url}/download/{FILE_NAME}"}
                pids: dict[Side, int] = {"ours": ours.pid}
                if nginx is not None:
                    urls["peer"], pids["peer"] = f"{nginx.url}/download/{FILE_NAME}", nginx.pid
                started = time.perf_counter()
                for url in urls.values():  # warm up: first connection, first open of the file
                    curl.fetch(url, ["0-0"])
                wait_for_repr_digest(urls["ours"], timeout=600)  # the one-time background hash is done
                hashed.append(time.perf_counter() - started)
                for run_index in range(ctx.runs):
                    case = _cases(size, ctx.quick, run_index)[index]
                    sides = list(urls) if ctx.first(run_index) == "ours" else list(reversed(urls))
                    for side in sides:
                        meter = CpuMeter(pids[side]).start()
                        transfers = curl.fetch(urls[side], case.ranges)
                        cpu = meter.stop()
                        _check(case, side, transfers)
                        body = sum(t.size for t in transfers)
                        mbps = mb_per_s(body, sum(t.seconds for t in transfers))
                        figures.add(f"{key}.mbps", side, mbps)
                        figures.add(f"{key}.cpu", side, cpu_per_gib(cpu, body))
                        if key == "random":
                            reused[side].append(sum(t.connects for t in transfers))
                        ctx.log(
                            f"run {run_index + 1} {key:7} {side:5} {mbps:8.1f} MB/s "
                            f"{cpu_per_gib(cpu, body):6.3f} s/GiB"
                        )
    if hashed:
        notes.append(
            f"ours: the file's Repr-Digest (SHA-256 of {size // MiB} MiB) is computed once per server in the"
            f" background after the first request, {min(hashed):.2f}-{max(hashed):.2f} s; not timed"
        )
    for side, counts in reused.items():
        if counts and max(counts) > 1:
            notes.append(
                f"{side}: the random ranges needed up to {max(counts)} connections (keep-alive broken?)"
            )
    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"{servers.our_version()}: GET /download/<name>",
        peer=None if nginx_missing else f"{servers.nginx_version()} (sendfile on, one process)",
        params={
            "file": f"{size // MiB} MiB",
            "runs": ctx.runs,
            "client": "curl, one process per figure and run",
        },
        figures=figures.build(),
        notes=notes,
    )


BENCHMARK = Benchmark(
    name="downloads",
    title="Downloads: /download/<name> vs nginx",
    order=40,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
