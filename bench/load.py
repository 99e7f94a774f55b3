"""Loading a history through the application's own command path (`Timeline.execute`)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench.generator import Command
from bench.measure import console
from timeline.application import Timeline


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def load_until(timeline: Timeline, commands: Iterator[Command], size: int) -> tuple[int, float]:
    """Execute commands until the log holds `size` events; (events added, seconds)."""
    start_head = timeline.head_position()
    wanted = max(0, size - start_head)
    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"loading to {size:,} events", total=wanted, rate="")
        for done, (name, data) in enumerate(itertools.islice(commands, wanted), start=1):
            timeline.execute(name, data)
            if done % 50 == 0 or done == wanted:
                rate = done / (time.perf_counter() - start)
                bar.update(task, completed=done, rate=f"{rate:,.0f} commands/s")
    return timeline.head_position() - start_head, time.perf_counter() - start
