"""The benchmarks' pure parts: statistics, targets and how ``docs/benchmarks.md`` is rewritten."""

from __future__ import annotations

import os
from pathlib import Path

from bench import report
from bench.measure import Stats, cpu_seconds, peak_rss_bytes, percentile
from bench.model import Benchmark, Figure, FigureSet, Result, Target
from bench.profiling import top_functions


def test_stats_and_percentiles() -> None:
    stats = Stats((3.0, 1.0, 2.0, 10.0))
    assert (stats.median, stats.min, stats.max) == (2.5, 1.0, 10.0)
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50 and percentile(values, 0.99) == 99 and percentile([7.0], 0.99) == 7


def test_process_figures_of_this_process() -> None:
    assert cpu_seconds(os.getpid()) > 0
    assert peak_rss_bytes(os.getpid()) > 1024 * 1024


def test_targets_say_whether_and_by_how_much() -> None:
    def figure(ours: float, peer: float | None, target: Target, unit: str = "MB/s") -> Figure:
        return Figure(
            "k", "label", unit, Stats((ours,)), Stats((peer,)) if peer is not None else None, target
        )

    assert figure(130, 100, Target(">=", 1.3)).verdict.met is True  # type: ignore[union-attr]
    missed = figure(100, 100, Target(">=", 1.3)).verdict
    assert missed is not None and missed.met is False and "must rise 30%" in missed.detail
    missed = figure(2.0, 1.0, Target("<=", 0.7), "s/GiB").verdict
    assert missed is not None and missed.met is False and "must fall 65%" in missed.detail
    assert figure(1.0, None, Target("<=", 0.7)).verdict.met is None  # type: ignore[union-attr]
    assert figure(1.0, 0.0, Target("<=", 1.5)).verdict.met is None  # type: ignore[union-attr]
    assert figure(151, None, Target("<=", 150, of="ours"), "MiB").verdict.met is False  # type: ignore[union-attr]
    assert figure(0, None, Target("<=", 0, of="ours"), "").verdict.met is True  # type: ignore[union-attr]
    assert Target("<=", 0, of="ours").describe("") == "= 0"


def test_figure_set_keeps_definition_order_and_both_sides() -> None:
    figures = FigureSet()
    figures.define("b", "second", "MB/s")
    figures.define("a", "first", "MB/s")
    figures.define("never", "not measured", "MB/s")
    for value in (1.0, 3.0, 2.0):
        figures.add("a", "ours", value)
        figures.add("b", "peer", value)
        figures.add("b", "ours", value * 2)
    built = figures.build()
    assert [f.key for f in built] == ["b", "a"]
    assert built[0].ratio == 2.0 and built[1].peer is None


def _result(name: str, value: float) -> Result:
    figures = FigureSet()
    figures.define("x", "speed", "MB/s", Target(">=", 1.0))
    figures.add("x", "ours", value)
    figures.add("x", "peer", 1.0)
    return Result(name, f"Title {name}", "ours", "peer", {"runs": 1}, figures.build())


async def _never(ctx: object) -> Result:
    raise AssertionError("not run")


def test_docs_sections_are_replaced_in_place_and_hand_written_text_is_kept(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    meta = {"started": "now", "command": "python -m bench", "machine": "here", "runs": 1}
    late, early = Benchmark("late", "Late", 50, _never), Benchmark("early", "Early", 10, _never)
    report.update_docs(docs, meta, [(late, _result("late", 2.0))])
    docs.write_text(docs.read_text() + "\n## Analysis\n\nWritten by hand.\n")
    report.update_docs(docs, meta, [(early, _result("early", 3.0))])
    report.update_docs(docs, meta, [(late, _result("late", 0.5))])
    text = docs.read_text()
    assert text.startswith("# Benchmarks")
    assert text.index("bench:early begin") < text.index("bench:late begin") < text.index("## Analysis")
    assert text.count("bench:late begin") == 1 and "Written by hand." in text
    assert "| speed (MB/s) | 0.5 | 1.0 | 0.50x |" in text and "| speed (MB/s) | 2.0 |" not in text


def test_profile_summary_ranks_functions_by_self_time() -> None:
    collapsed = "main (a.py);read (b.py) 30\nmain (a.py);hash (c.py) 60\nmain (a.py) 10\nnot a sample line\n"
    assert top_functions(collapsed) == [("hash (c.py)", 0.6), ("read (b.py)", 0.3), ("main (a.py)", 0.1)]
