"""Issue 14 - what a chunk costs on the cluster backend: PostgreSQL round trips, S3 requests and bytes, counted.

One counting run (counts do not vary between runs: ``--runs`` does not apply) against a local cluster
(``bench.cluster``: one instance, no nginx in front) set up to count: its PostgreSQL logs every statement
(``log_statement = all``, each line prefixed with the client's application name, so only our server's are
counted), and its instance reaches S3 through a counting nginx that logs every S3 request (method, URI, body
bytes each way). The same Python client as the other benchmarks (``bench.upload_clients``) then, one request
at a time:

- uploads a file of 16 chunks of 1 MiB with the seed's protocol (handshake, 16 ``POST /api/upload``);
- uploads another with tus (creation, 16 ``PATCH``es of 1 MiB);
- downloads one 64 KiB range of the first file, then the whole of it (after its ``Repr-Digest`` is there).

PostgreSQL's log is read after each answer, so each statement is counted for the request during which it was
executed. One logged line is one round trip (a simple query, or one execution of a prepared statement); the
first preparation of a statement on a connection is one more, not logged (asyncpg then keeps it prepared:
the 16 chunks after the first few use prepared statements). S3 requests are read from nginx's log after each
answer too (once the counting nginx has none in progress), and their operation (``PutObject``, ``UploadPart``, ...) told from the method and query. The
local default is measured for the same seed upload where a figure applies to it: the bytes its server
process writes to disk (``write_bytes`` of ``/proc/<pid>/io``), per byte uploaded.
"""

from __future__ import annotations

import collections
import json
import os
import re
import statistics
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp

from bench import servers
from bench.cluster import ClusterConfig, LocalCluster, Nginx
from bench.measure import KiB, MiB
from bench.model import Benchmark, Context, FigureSet, Result
from bench.upload_clients import new_session, prepare_ours, prepare_tus
from tests.support.digests import wait_for_repr_digest
from tests.support.waiting import wait_until

CHUNK = MiB
APPLICATION = "resumable-transfer"  # the application_name our server's connections carry
MARK = "@@"  # log_line_prefix starts with it: a line without it continues the previous entry
COUNTING = {"log_statement": "'all'", "log_line_prefix": f"'{MARK}%a|'"}
_ENTRY = re.compile(r"^LOG:\s+(?:statement|execute [^:]+):\s?(.*)$")


def _io_write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError(f"no write_bytes in /proc/{pid}/io")


class Tail:
    """The lines appended to a file since the last ``read``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def read(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
        self.offset += len(complete)
        return complete.decode(errors="replace").splitlines()


def statements(lines: list[str]) -> list[str]:
    """Our server's statements in PostgreSQL's log lines, one per round trip, as short one-line texts."""
    entries: list[list[str]] = []
    for line in lines:
        if line.startswith(MARK):
            entries.append([line[len(MARK) :]])
        elif entries:
            entries[-1].append(line)
    found = []
    for entry in entries:
        application, _, message = entry[0].partition("|")
        match = _ENTRY.match(message)
        if application != APPLICATION or match is None:
            continue  # another client (psql), or not a statement (DETAIL: parameters, checkpoints...)
        text = " ".join(" ".join([match.group(1), *entry[1:]]).split())
        found.append(text)
    return found


def short(sql: str) -> str:
    """A statement named in a few words: ``SELECT uploads``, ``INSERT chunks``, ``pg_advisory_lock``,
    ``reset`` (what asyncpg's pool runs when a connection is given back)."""
    words = sql.replace("(", " ( ").replace(";", " ").split()
    if "pg_advisory_unlock_all" in words:
        return "reset"
    if words[:2] == ["WITH", "RECURSIVE"] or "'jit'" in sql:
        return "type introspection"  # asyncpg, once per connection, for the text[] columns
    if words[:1] == ["SELECT"] and words[1].startswith("pg_"):
        return words[1]
    if words[:1] == ["SELECT"] and "FROM" in words:
        table = words[words.index("FROM") + 1]
        return f"SELECT {table}" + (" FOR UPDATE" if "UPDATE" in words else "")
    if words[:2] in (["INSERT", "INTO"], ["DELETE", "FROM"]):
        return f"{words[0]} {words[2]}"
    if words[:1] == ["UPDATE"]:
        return f"UPDATE {words[1]}"
    return " ".join(words[:2])


@dataclass(frozen=True)
class S3Request:
    operation: str
    key: str
    sent: int  # body bytes sent to S3
    received: int  # body bytes S3 answered


def s3_requests(lines: list[str]) -> list[S3Request]:
    """nginx's ``$request_method $request_uri $status $content_length $body_bytes_sent`` lines, named."""
    found = []
    for line in lines:
        method, uri, _status, length, body = line.split()
        parts = urlsplit(uri)
        query = parse_qs(parts.query, keep_blank_values=True)
        key = parts.path.split("/", 2)[2] if parts.path.count("/") >= 2 else ""
        if method == "PUT":
            operation = "UploadPart" if "partNumber" in query else "PutObject"
        elif method == "POST":
            operation = (
                "DeleteObjects"
                if "delete" in query
                else "CreateMultipartUpload"
                if "uploads" in query
                else "CompleteMultipartUpload"
            )
        elif method == "GET":
            operation = (
                "ListMultipartUploads" if "uploads" in query else "GetObject" if key else "ListObjects"
            )
        elif method == "DELETE":
            operation = "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
        else:
            operation = "HeadObject" if key else "HeadBucket"
        sent = int(length) if length.isdigit() else 0
        found.append(S3Request(operation, key, sent, int(body)))
    return found


@dataclass
class Counted:
    """What one request cost: our server's statements and its S3 requests."""

    kind: str
    statements: list[str] = field(default_factory=list)
    s3: list[S3Request] = field(default_factory=list)

    def s3_summary(self) -> str:
        ops = collections.Counter(r.operation for r in self.s3)
        return ", ".join(f"{n} {op}" for op, n in ops.items()) or "none"

    def pg_summary(self) -> str:
        return ", ".join(short(sql) for sql in self.statements) or "none"


def s3_requests_in_progress(status_url: str) -> int:
    """S3 requests the counting nginx is still serving (its ``stub_status``: "Writing", less this one)."""
    with urllib.request.urlopen(status_url, timeout=5) as answer:
        text = answer.read().decode()
    match = re.search(r"Writing: (\d+)", text)
    if match is None:
        raise RuntimeError(f"unexpected stub_status answer: {text!r}")
    return int(match.group(1)) - 1


class Counter:
    """Reads both logs after each request and files what appeared under that request. PostgreSQL logs a
    statement before it answers it, so its log is complete once our server has answered; nginx logs an S3
    request once it has finished it, which may be just after the instance has the last byte: the counter
    waits until the counting nginx has no S3 request in progress."""

    def __init__(self, pg_log: Path, s3_proxy: Nginx) -> None:
        self.pg, self.s3 = Tail(pg_log), Tail(s3_proxy.access_log)
        self.status_url = f"{s3_proxy.url}/.counting/status"
        self.requests: list[Counted] = []

    def skip(self) -> None:
        self._settle()
        self.pg.read()
        self.s3.read()

    def _settle(self) -> None:
        wait_until(lambda: s3_requests_in_progress(self.status_url) == 0, 30, "S3 requests to finish")

    def __call__(self, kind: str, _seconds: float = 0.0) -> None:
        self._settle()
        self.requests.append(Counted(kind, statements(self.pg.read()), s3_requests(self.s3.read())))

    def take(self) -> list[Counted]:
        taken, self.requests = self.requests, []
        return taken


def _define(figures: FigureSet) -> None:
    for proto, label in (("seed", "seed upload, 1 MiB chunks"), ("tus", "tus upload, 1 MiB PATCHes")):
        start = "handshake" if proto == "seed" else "creation"
        figures.define(f"{proto}.pg.start", f"{label}: PostgreSQL round trips, {start}", "", decimals=0)
        figures.define(f"{proto}.pg.chunk", f"{label}: PostgreSQL round trips per chunk", "", decimals=1)
        figures.define(
            f"{proto}.pg.last", f"{label}: PostgreSQL round trips, the last chunk (assembly)", "", decimals=0
        )
        figures.define(f"{proto}.s3.chunk", f"{label}: S3 requests per chunk", "", decimals=1)
        figures.define(f"{proto}.s3.last", f"{label}: S3 requests, the last chunk (assembly)", "", decimals=0)
        figures.define(
            f"{proto}.written", f"{label}: bytes written to storage per byte uploaded", "", decimals=2
        )
        figures.define(
            f"{proto}.read", f"{label}: bytes read back from storage per byte uploaded", "", decimals=2
        )
        figures.define(f"{proto}.weed", f"{label}: SeaweedFS's disk writes per byte uploaded", "", decimals=2)
    for case, label in (("range", "download, one 64 KiB range"), ("full", "download, the whole file")):
        figures.define(f"{case}.pg", f"{label}: PostgreSQL round trips", "", decimals=0)
        figures.define(f"{case}.s3", f"{label}: S3 requests", "", decimals=0)


def _upload_figures(
    figures: FigureSet, proto: str, counted: list[Counted], size: int, weed_written: int
) -> list[str]:
    """Add one upload's counts; notes describing a middle chunk and the last one."""
    start, chunks = counted[0], counted[1:]
    middle, last = chunks[:-1], chunks[-1]
    figures.add(f"{proto}.pg.start", "ours", len(start.statements))
    figures.add(f"{proto}.pg.chunk", "ours", statistics.median(len(c.statements) for c in middle))
    figures.add(f"{proto}.pg.last", "ours", len(last.statements))
    figures.add(f"{proto}.s3.chunk", "ours", statistics.median(len(c.s3) for c in middle))
    figures.add(f"{proto}.s3.last", "ours", len(last.s3))
    every = [r for c in counted for r in c.s3]
    figures.add(f"{proto}.written", "ours", sum(r.sent for r in every) / size)
    figures.add(f"{proto}.read", "ours", sum(r.received for r in every) / size)
    figures.add(f"{proto}.weed", "ours", weed_written / size)
    typical = middle[len(middle) // 2]
    first_counts = [len(c.statements) for c in chunks[:4]]
    return [
        (
            f"{proto}: the {'handshake' if proto == 'seed' else 'creation'}: {start.pg_summary()}; "
            f"S3: {start.s3_summary()}"
        ),
        (
            f"{proto}: a chunk in the middle ({len(typical.statements)} round trips): {typical.pg_summary()}; "
            f"S3: {typical.s3_summary()} (round trips of the first 4 chunks: {first_counts})"
        ),
        (
            f"{proto}: the last chunk ({len(last.statements)} round trips): {last.pg_summary()}; "
            f"S3: {last.s3_summary()}"
        ),
    ]


async def run(ctx: Context) -> Result:
    chunks = 4 if ctx.quick else 16
    size = chunks * CHUNK
    figures = FigureSet()
    _define(figures)
    seed_upload = prepare_ours(os.urandom(size), CHUNK)
    file_id = str(json.loads(seed_upload.handshake)["fileId"])
    [tus_upload] = prepare_tus(os.urandom(size), CHUNK)
    notes: list[str] = []
    ctx.workdir.chmod(0o755)  # PostgreSQL runs as nobody when we are root: it must reach its folder

    # The local default, the same seed upload: what its server writes to disk.
    with servers.our_server(ctx, ctx.workdir / "local") as local:
        before = _io_write_bytes(local.pid)
        async with new_session() as session:
            await seed_upload.run(session, local.url)
        figures.add("seed.written", "peer", (_io_write_bytes(local.pid) - before) / size)

    config = ClusterConfig(
        data=ctx.workdir / "cluster", instances=1, balancer=False, count_s3=True, postgres_settings=COUNTING
    )
    with LocalCluster(config) as cluster:
        assert cluster.postgres is not None and cluster.s3_proxy is not None
        counter = Counter(cluster.postgres.log_path, cluster.s3_proxy)
        weed = cluster.processes()["seaweedfs"]
        url = cluster.url
        counter.skip()  # start-up: the schema, the bucket check

        async with new_session(connections=1) as session:
            for proto in ("seed", "tus"):
                os.sync()
                written = _io_write_bytes(weed)
                if proto == "seed":
                    await seed_upload.run(session, url, 1, counter)
                else:
                    await tus_upload.run(session, f"{url}/files/", counter)
                os.sync()  # SeaweedFS's writes reach write_bytes when dirtied; the sync makes sure
                notes += _upload_figures(
                    figures, proto, counter.take(), size, _io_write_bytes(weed) - written
                )

            file_url = f"{url}/upload/{file_id}.bin"
            await _get(session, file_url, "bytes=0-0")
            wait_for_repr_digest(file_url, timeout=120)  # its background read of the whole object
            counter.skip()
            for case, asked in (("range", f"bytes={size // 2}-{size // 2 + 64 * KiB - 1}"), ("full", None)):
                await _get(session, file_url, asked)
                counter(case)
                [done] = counter.take()
                figures.add(f"{case}.pg", "ours", len(done.statements))
                figures.add(f"{case}.s3", "ours", len(done.s3))
                notes.append(f"download, {case}: {done.pg_summary()}; S3: {done.s3_summary()}")
        counter("late")
        [late] = counter.take()
        if late.statements or late.s3:
            notes.append(f"after the last request: {late.pg_summary()}; S3: {late.s3_summary()}")

    return Result(
        name=BENCHMARK.name,
        title=BENCHMARK.title,
        ours=f"{servers.our_version()} on the cluster backend (PostgreSQL, SeaweedFS weed mini as S3), one "
        "instance, counted",
        peer="the same server on the local default backend (disk + SQLite), where the figure applies",
        params={"files": f"{chunks} chunks of {CHUNK // MiB} MiB", "runs": 1},
        figures=figures.build(),
        notes=notes,
    )


async def _get(session: aiohttp.ClientSession, url: str, byte_range: str | None) -> None:
    headers = {"Range": byte_range} if byte_range else {}
    async with session.get(url, headers=headers) as resp:
        await resp.read()
        if resp.status not in (200, 206):
            raise RuntimeError(f"GET {url}: {resp.status}")


BENCHMARK = Benchmark(
    name="cluster-costs",
    title="What a chunk costs on the cluster backend: PostgreSQL round trips, S3 requests and bytes",
    order=72,
    run=run,
    about=__doc__.split("\n\n", 1)[1].strip(),
)
