"""Loading a history through the application's own command path (`Timeline.execute`)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

from eventsourcing.persistence import OperationalError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import text

from bench.generator import Command
from bench.measure import console
from timeline import eventstore
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


def stored_events(timeline: Timeline) -> int:
    """How many events the log holds (not the head position: PostgreSQL's sequence can skip)."""
    table = eventstore.events_table_name(timeline.recorder)
    with timeline.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _bench_statements(timeline: Timeline) -> int:
    """Statements figure 5 wrote through the API (one event each): the seeded history has
    none, so they are not commands of the stream to skip."""
    with timeline.engine.connect() as connection:
        found = connection.execute(
            text("SELECT count(*) FROM timeline_streams WHERE kind = 'statement'")
        ).scalar_one()
    return int(found)


def skip_loaded(timeline: Timeline, commands: Iterator[Command]) -> int:
    """Advance the seeded stream past the commands a kept database already holds (each
    command stores exactly one event); returns how many were skipped."""
    loaded = stored_events(timeline) - _bench_statements(timeline)
    if loaded:
        console.print(f"resuming a kept database: {loaded:,} events already loaded")
    for _ in itertools.islice(commands, loaded):
        pass
    return loaded


def _execute_through_outages(
    timeline: Timeline, name: str, data: dict[str, Any], after: int
) -> None:
    """Run one command; if the database goes away (a restart during a long load), wait for it
    and retry, unless the log shows the command did commit (`after` events) before the loss."""
    for attempt in itertools.count():
        try:
            timeline.execute(name, data)
            return
        except OperationalError as error:
            if attempt >= 60:
                raise
            console.print(f"[yellow]database unavailable ({type(error).__name__}); retrying")
            time.sleep(min(5.0, 0.5 * (attempt + 1)))
            try:
                if stored_events(timeline) >= after:
                    return
            except Exception:  # still down: try again after the next pause
                continue


def load_until(timeline: Timeline, commands: Iterator[Command], size: int) -> tuple[int, float]:
    """Execute commands until the log holds `size` events; (events added, seconds)."""
    start_count = stored_events(timeline)
    wanted = max(0, size - start_count)
    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"loading to {size:,} events", total=wanted, rate="")
        for done, (name, data) in enumerate(itertools.islice(commands, wanted), start=1):
            _execute_through_outages(timeline, name, data, start_count + done)
            if done % 50 == 0 or done == wanted:
                rate = done / (time.perf_counter() - start)
                bar.update(task, completed=done, rate=f"{rate:,.0f} commands/s")
    return stored_events(timeline) - start_count, time.perf_counter() - start
