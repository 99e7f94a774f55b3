"""Timing and reporting: percentiles, medians of repeated runs, and the figures table."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank: p99 of 200 samples is the 198th."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def latencies(call: Callable[[], Any], count: int) -> list[float]:
    """Seconds of each of `count` calls."""
    result = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        result.append(time.perf_counter() - start)
    return result


@dataclass
class Figure:
    """One line of the report: a measurement, its floor (baseline) and the target."""

    figure: str
    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Report:
    """Figures as they are measured; printed at the end and optionally written as JSON."""

    def __init__(self) -> None:
        self.figures: list[Figure] = []
        self.context: dict[str, Any] = {}

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        ratio = f"  ratio {figure.ratio:.2f}" if figure.ratio is not None else ""
        base = (
            f"  (baseline {figure.baseline_name}: {_fmt(figure.baseline)} {figure.unit})"
            if figure.baseline is not None
            else ""
        )
        console.print(
            f"[bold]{figure.figure}[/] {figure.name}: {_fmt(figure.value)} "
            f"{figure.unit}{base}{ratio}"
        )
        return figure

    def table(self) -> Table:
        table = Table(title="Policy Timeline benchmarks (medians of repeated runs)")
        for column in ("fig", "measurement", "value", "baseline", "ratio", "target", "met"):
            table.add_column(column)
        for f in self.figures:
            table.add_row(
                f.figure,
                f.name,
                f"{_fmt(f.value)} {f.unit}",
                f"{f.baseline_name} {_fmt(f.baseline)}" if f.baseline is not None else "",
                f"{f.ratio:.2f}" if f.ratio is not None else "",
                f.target,
                {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[f.met],
            )
        return table

    def to_json(self) -> str:
        return json.dumps(
            {"context": self.context, "figures": [asdict(f) for f in self.figures]},
            indent=2,
            default=str,
        )


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ms(seconds: float) -> float:
    return seconds * 1000.0
