"""What a benchmark is and what it hands back: figures (ours vs the peer, over runs) with their targets.

A benchmark is one module of ``bench/`` defining ``BENCHMARK = Benchmark(...)``; the runner finds it by itself.
Its ``run(ctx)`` measures ``ctx.runs`` times and returns a ``Result``; ``FigureSet`` collects the values.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.measure import Stats, ratio

Side = Literal["ours", "peer"]


@dataclass(frozen=True)
class Verdict:
    met: bool | None  # None: cannot be judged (no peer measured)
    detail: str


@dataclass(frozen=True)
class Target:
    """A goal from the issue: on the ratio to the peer (``of="ratio"``) or on our own median (``of="ours"``)."""

    op: Literal[">=", "<="]
    value: float
    of: Literal["ratio", "ours"] = "ratio"

    def describe(self, unit: str) -> str:
        if self.of == "ratio":
            return f"{self.op} {self.value:g}x peer"
        op = "=" if self.value == 0 and self.op == "<=" else self.op  # "<= 0 errors" reads as "= 0"
        return f"{op} {self.value:g} {unit}".rstrip()

    def judge(self, ours: Stats, peer: Stats | None, unit: str) -> Verdict:
        if self.of == "ratio" and peer is None:
            return Verdict(None, "no peer measured")
        if self.of == "ratio" and peer is not None and peer.median == 0:
            return Verdict(None, "the peer's figure is 0: too small to measure")
        got = ratio(ours, peer) if self.of == "ratio" else ours.median
        assert got is not None
        met = got >= self.value if self.op == ">=" else got <= self.value
        shown = f"{got:.2f}x" if self.of == "ratio" else f"{got:.4g} {unit}".rstrip()
        if met:
            return Verdict(True, shown)
        wanted = f"{shown}, target {self.describe(unit).removesuffix(' peer').removesuffix(' ' + unit)}"
        if self.value == 0:
            return Verdict(False, wanted)
        # How far off, as the change the figure needs: "must rise 16%" = it must grow by 16 % to meet the target.
        change = (self.value / got - 1) * 100 if got else math.inf
        return Verdict(False, f"{wanted}: must {'rise' if change > 0 else 'fall'} {abs(change):.0f}%")


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    ours: Stats
    peer: Stats | None
    target: Target | None = None
    decimals: int = 1

    @property
    def ratio(self) -> float | None:
        return ratio(self.ours, self.peer)

    @property
    def verdict(self) -> Verdict | None:
        return None if self.target is None else self.target.judge(self.ours, self.peer, self.unit)

    def as_dict(self) -> dict[str, Any]:
        verdict = self.verdict
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "ours": self.ours.as_dict(),
            "peer": None if self.peer is None else self.peer.as_dict(),
            "ratio": self.ratio,
            "target": None if self.target is None else self.target.describe(self.unit),
            "met": None if verdict is None else verdict.met,
            "verdict": None if verdict is None else verdict.detail,
        }


@dataclass(frozen=True)
class _Spec:
    label: str
    unit: str
    target: Target | None
    decimals: int


class FigureSet:
    """Collects one value per run and side for each figure, in the order the figures were defined."""

    def __init__(self) -> None:
        self._specs: dict[str, _Spec] = {}
        self._values: dict[tuple[str, Side], list[float]] = {}

    def define(
        self, key: str, label: str, unit: str, target: Target | None = None, decimals: int = 1
    ) -> None:
        self._specs[key] = _Spec(label, unit, target, decimals)

    def add(self, key: str, side: Side, value: float) -> None:
        if key not in self._specs:
            raise KeyError(f"figure {key!r} was not defined")
        self._values.setdefault((key, side), []).append(float(value))

    def build(self) -> list[Figure]:
        figures = []
        for key, spec in self._specs.items():
            ours = self._values.get((key, "ours"))
            if not ours:
                continue  # never measured (e.g. a failed run): nothing to show
            peer = self._values.get((key, "peer"))
            figures.append(
                Figure(
                    key,
                    spec.label,
                    spec.unit,
                    Stats(tuple(ours)),
                    Stats(tuple(peer)) if peer else None,
                    spec.target,
                    spec.decimals,
                )
            )
        return figures


@dataclass
class Result:
    """What one benchmark measured. ``ours``/``peer`` say exactly what was compared (versions, settings)."""

    name: str
    title: str
    ours: str
    peer: str | None
    params: dict[str, Any]
    figures: list[Figure]
    notes: list[str] = field(default_factory=list)
    profiles: dict[str, list[tuple[str, float]]] = field(
        default_factory=dict
    )  # case -> top (function, share)
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "ours": self.ours,
            "peer": self.peer,
            "params": self.params,
            "figures": [f.as_dict() for f in self.figures],
            "notes": self.notes,
            "profiles": {case: [list(row) for row in rows] for case, rows in self.profiles.items()},
            "seconds": self.seconds,
            "error": self.error,
        }


@dataclass
class Context:
    """How to run: sizes (``quick``: tiny, for the smoke test), runs, scratch space, optional profiling."""

    quick: bool
    runs: int
    workdir: Path  # scratch space of this benchmark, removed afterwards
    profile_dir: Path | None = None  # when set, our server runs under py-spy and profiles land here
    profiles: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # case -> top functions

    def profile_path(self, case: str) -> Path | None:
        """Where to record the profile of ``case``, when profiling and it has not been recorded yet."""
        if self.profile_dir is None or case in self.profiles:
            return None
        self.profiles[case] = []  # claimed: later runs of the same case are not profiled again
        return self.profile_dir / f"{case}.txt"

    def log(self, message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)

    def first(self, run: int) -> Side:
        """Which side goes first in run ``run``: alternate, so neither always gets the warmer machine."""
        return "ours" if run % 2 == 0 else "peer"


@dataclass(frozen=True)
class Benchmark:
    name: str  # what ``--only`` takes
    title: str
    order: int  # position in the suite and in docs/benchmarks.md
    run: Callable[[Context], Awaitable[Result]]
    about: str = ""  # how it measures, shown under its table
    # Fewest runs of a full (not --quick) invocation: figures whose single runs spread wider than the effect
    # to be seen need more runs than the others for a stable median.
    min_runs: int = 1
