"""Figure 4: projection catch-up and rebuild (events per second) against reading the
notification log alone, decoded (`Timeline.iter_log`) and raw (`select_notifications`)."""

from __future__ import annotations

import time

from rich.progress import Progress, TaskID

from bench.load import progress_bar
from bench.measure import median
from projections.runner import ProjectionRunner
from timeline.application import Timeline


def caught_up(runner: ProjectionRunner, timeline: Timeline, label: str) -> tuple[int, float]:
    """Apply every new event with a progress bar, holding the projection's lock as the
    product's runners do (so that a catch-up from empty takes the bulk path, as theirs
    would: docs/decisions.md); (events applied, seconds)."""
    held = not runner.lock.held and runner.lock.acquire()
    try:
        return _caught_up(runner, timeline, label)
    finally:
        if held:
            runner.lock.release()


def _caught_up(runner: ProjectionRunner, timeline: Timeline, label: str) -> tuple[int, float]:
    before = runner.position()
    head = timeline.head_position()
    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(label, total=max(1, head - before), rate="")

        def progress(done: int, total: int) -> None:
            rate = (done - before) / max(1e-9, time.perf_counter() - start)
            bar.update(task, completed=done - before, rate=f"{rate:,.0f} events/s")

        after = runner.catch_up(progress)
    return after - before, time.perf_counter() - start


def rebuild_rate(runner: ProjectionRunner, timeline: Timeline, repeats: int) -> float:
    """Events per second of a full rebuild (`runner.rebuild`: replay the whole log into fresh
    tables and put them in place); the median of `repeats` runs."""
    rates = []
    head = timeline.head_position()
    for run in range(repeats):
        start = time.perf_counter()
        with progress_bar() as bar:
            task = bar.add_task(f"rebuild {run + 1}/{repeats}", total=max(1, head), rate="")

            def progress(
                done: int,
                total: int,
                task: TaskID = task,
                bar: Progress = bar,
                start: float = start,
            ) -> None:
                rate = done / max(1e-9, time.perf_counter() - start)
                bar.update(task, completed=done, rate=f"{rate:,.0f} events/s")

            position = runner.rebuild(progress)
        rates.append(position / (time.perf_counter() - start))
    return median(rates)


def log_read_rates(timeline: Timeline, batch: int, repeats: int) -> dict[str, float]:
    """Events per second reading the whole log: decoded to facts as the projector gets them,
    and the recorder's notifications alone; medians of runs."""
    decoded, raw = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        count = sum(1 for _ in timeline.iter_log(0, batch))
        decoded.append(count / (time.perf_counter() - start))
        start, count, position = time.perf_counter(), 0, 0
        while True:
            page = timeline.recorder.select_notifications(
                start=position, limit=batch, inclusive_of_start=False
            )
            count += len(page)
            if len(page) < batch:
                break
            position = page[-1].id
        raw.append(count / (time.perf_counter() - start))
    return {"decoded": median(decoded), "raw": median(raw)}
