"""``python -m bench [--quick] [--only NAME ...] [--runs N]``: run the benchmarks, write their results.

Benchmarks are found by themselves: every module of this package that defines ``BENCHMARK`` (a
``bench.model.Benchmark``). Results go to ``bench-results/<timestamp>.json``; a full run (not ``--quick``, not
``--profile``) also rewrites the benchmarks' tables in ``docs/benchmarks.md`` (``--docs``/``--no-docs`` to
choose). ``--drop-caches`` empties the kernel's page cache before each benchmark (root only): measured, a
page cache filled by the benchmarks before made the same code up to 1.7x slower in some cases (writes and
``sendfile`` under memory reclaim), more for one side than the other. The exit status is 1 when a benchmark
failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import pkgutil
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench
from bench import report
from bench.model import Benchmark, Context, Result

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RUNS = 3


def _drop_caches() -> None:
    """Write back dirty pages, then drop the clean page cache, dentries and inodes (``drop_caches`` = 3)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise SystemExit(
            f"--drop-caches: cannot write /proc/sys/vm/drop_caches ({exc}); run as root"
        ) from None


def discover() -> list[Benchmark]:
    found = []
    for info in pkgutil.iter_modules(bench.__path__):
        module = importlib.import_module(f"bench.{info.name}")
        candidate = getattr(module, "BENCHMARK", None)
        if isinstance(candidate, Benchmark):
            found.append(candidate)
    return sorted(found, key=lambda b: (b.order, b.name))


def _machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = " " + line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs{model}, Linux {platform.release()}, Python {platform.python_version()}"


def _revision() -> str:
    """The commit measured, ``-dirty`` when the work tree has changes (as ``git describe`` says it)."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def _parser(names: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, 1 run: a smoke run, figures mean little"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", choices=names, help=f"run only these: {', '.join(names)}"
    )
    parser.add_argument(
        "--runs", type=int, help=f"runs per figure and side (default {DEFAULT_RUNS}, --quick 1)"
    )
    parser.add_argument(
        "--results-dir", type=Path, default=ROOT / "bench-results", help="where the JSON goes"
    )
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument(
        "--docs", type=Path, help="Markdown file to update (default: docs/benchmarks.md on full runs)"
    )
    docs.add_argument("--no-docs", action="store_true", help="do not update any Markdown file")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run our server under py-spy (slows it: figures are not comparable)",
    )
    parser.add_argument(
        "--drop-caches",
        action="store_true",
        help="sync and drop the kernel's page cache before each benchmark (needs root; affects the whole machine)",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    suite = discover()
    names = [b.name for b in suite]
    args = _parser(names).parse_args(argv)
    if args.list:
        for b in suite:
            print(f"{b.name:12} {b.title}")
        return 0
    runs = args.runs or (1 if args.quick else DEFAULT_RUNS)
    if runs < 1:
        raise SystemExit("--runs must be at least 1")
    chosen = [b for b in suite if not args.only or b.name in args.only]
    docs: Path | None = args.docs
    if docs is None and not args.no_docs and not args.quick and not args.profile:
        docs = ROOT / "docs" / "benchmarks.md"

    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    shown_args = shlex.join(argv if argv is not None else sys.argv[1:])
    meta: dict[str, Any] = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"python -m bench {shown_args}".strip(),
        "machine": _machine(),
        "revision": _revision(),
        "quick": args.quick,
        "runs": runs,
    }
    profile_root = args.results_dir / f"{stamp}-profiles" if args.profile else None
    done: list[tuple[Benchmark, Result]] = []
    for b in chosen:
        print(f"== {b.name}: {b.title}", file=sys.stderr, flush=True)
        if args.drop_caches:
            _drop_caches()
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-{b.name}-"))
        ctx = Context(
            quick=args.quick,
            runs=runs if args.quick else max(runs, b.min_runs),
            workdir=workdir,
            profile_dir=profile_root / b.name if profile_root is not None else None,
        )
        clock = time.monotonic()
        try:
            result = asyncio.run(b.run(ctx))
        except Exception as exc:  # noqa: BLE001 - one failed benchmark must not hide the others' figures
            traceback.print_exc()
            result = Result(b.name, b.title, "", None, {}, [], error=f"{type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        result.seconds = time.monotonic() - clock
        result.profiles = {case: rows for case, rows in ctx.profiles.items() if rows} or result.profiles
        done.append((b, result))
        print(report.section(result, meta), flush=True)

    results_file = args.results_dir / f"{stamp}.json"
    report.write_json(results_file, meta, [r for _, r in done])
    print(f"results: {results_file}", file=sys.stderr)
    if profile_root is not None:
        print(f"profiles (py-spy raw, collapsed stacks): {profile_root}", file=sys.stderr)
    if docs is not None:
        report.update_docs(docs, meta, done)
        print(f"tables: {docs}", file=sys.stderr)
    return 1 if any(r.error for _, r in done) else 0


if __name__ == "__main__":
    sys.exit(main())
