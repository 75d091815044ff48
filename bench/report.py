"""Writing results: ``bench-results/<timestamp>.json`` (everything, every run) and the tables of
``docs/benchmarks.md``.

``docs/benchmarks.md`` is rewritten one benchmark at a time: each benchmark's section sits between
``<!-- bench:NAME begin ... -->`` and ``<!-- bench:NAME end -->`` and only the sections of the benchmarks that
ran are replaced; anything outside the markers (the hand-written analysis) is kept as it is. A section not
there yet is inserted by the benchmark's ``order``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench.measure import Stats
from bench.model import Benchmark, Figure, Result

DOC_HEAD = """\
# Benchmarks

Our server side by side with its peers, as project issue 5 asks. Run them all with
`bash scripts/bench.sh` (installs the peers: nginx from Debian, @tus/server from npm) or one of them with
`bash scripts/bench.sh --only NAME`; `--quick` runs tiny sizes once (what the test suite's smoke test does).
Every run also writes all its raw figures to `bench-results/<timestamp>.json`.

Each figure is the median of the runs with [min-max]; the ratio is ours over the peer, median to median, both
measured in the same invocation (the machines are shared and noisy: only same-run ratios compare). The tables
between the `bench:` markers are rewritten by the benchmark command; the rest of this file is written by hand.
"""

_SECTION = re.compile(
    r"<!-- bench:(?P<name>[\w.-]+) begin order=(?P<order>-?\d+) -->\n.*?<!-- bench:(?P=name) end -->\n?",
    re.DOTALL,
)


def write_json(path: Path, meta: dict[str, Any], results: list[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**meta, "benchmarks": [r.as_dict() for r in results]}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def _number(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _stats(stats: Stats | None, decimals: int) -> str:
    if stats is None:
        return "-"
    if len(stats.runs) == 1:
        return _number(stats.median, decimals)
    return (
        f"{_number(stats.median, decimals)} [{_number(stats.min, decimals)}-{_number(stats.max, decimals)}]"
    )


def _met(figure: Figure) -> str:
    verdict = figure.verdict
    if verdict is None:
        return ""
    if verdict.met is None:
        return f"? ({verdict.detail})"
    return ("yes" if verdict.met else "**NO**") + f" ({verdict.detail})"


def table(figures: list[Figure]) -> str:
    rows = [
        "| figure | ours: median [min-max] | peer: median [min-max] | ours/peer | target | met? |",
        "|---|---:|---:|---:|---|---|",
    ]
    for f in figures:
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "-"
        target = f.target.describe(f.unit) if f.target is not None else ""
        unit = f" ({f.unit})" if f.unit else ""
        rows.append(
            f"| {f.label}{unit} | {_stats(f.ours, f.decimals)} | {_stats(f.peer, f.decimals)} | {ratio} "
            f"| {target} | {_met(f)} |"
        )
    return "\n".join(rows)


def section(result: Result, meta: dict[str, Any], about: str = "") -> str:
    """The Markdown of one benchmark (without its markers)."""
    lines = [f"## {result.title}", ""]
    runs = result.params.get("runs", meta.get("runs"))
    lines.append(
        f"Measured {meta['started']} at {meta.get('revision', '?')} with `{meta['command']}` ({runs} run(s) "
        f"each side; {meta['machine']}), in {result.seconds:.0f} s."
    )
    lines.append("")
    lines.append(f"- ours: {result.ours}")
    lines.append(f"- peer: {result.peer or 'not measured'}")
    params = ", ".join(f"{k} {v}" for k, v in result.params.items() if k != "runs")
    if params:
        lines.append(f"- parameters: {params}")
    lines.append("")
    if result.error:
        lines += [f"**The benchmark failed:** `{result.error}`", ""]
    if result.figures:
        lines += [table(result.figures), ""]
    missed = [f for f in result.figures if f.verdict is not None and f.verdict.met is False]
    if missed:
        lines.append("Missed targets: " + "; ".join(f"{f.label}: {f.verdict.detail}" for f in missed) + ".")  # type: ignore[union-attr]
        lines.append("")
    for note in result.notes:
        lines.append(f"- {note}")
    if result.notes:
        lines.append("")
    if result.profiles:
        lines.append("Profile of our server (py-spy; functions by self time, share of the CPU samples):")
        lines.append("")
        for case, rows in result.profiles.items():
            top = ", ".join(f"{name} {share:.0%}" for name, share in rows[:8])
            lines.append(f"- {case}: {top}")
        lines.append("")
    if about:
        lines += ["<details><summary>How it is measured</summary>", "", about, "", "</details>", ""]
    return "\n".join(lines)


def update_docs(path: Path, meta: dict[str, Any], results: list[tuple[Benchmark, Result]]) -> None:
    """Replace (or insert) the sections of the benchmarks in ``results``; leave everything else alone."""
    text = path.read_text() if path.exists() else DOC_HEAD
    for bench, result in results:
        block = (
            f"<!-- bench:{bench.name} begin order={bench.order} -->\n"
            f"{section(result, meta, bench.about)}\n"
            f"<!-- bench:{bench.name} end -->\n"
        )
        sections = list(_SECTION.finditer(text))
        same = next((m for m in sections if m["name"] == bench.name), None)
        if same is not None:
            text = text[: same.start()] + block + text[same.end() :]
            continue
        later = next((m for m in sections if int(m["order"]) > bench.order), None)
        if later is not None:
            text = text[: later.start()] + block + "\n" + text[later.start() :]
        elif sections:
            end = sections[-1].end()
            text = text[:end] + "\n" + block + text[end:]
        else:
            text = text.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
