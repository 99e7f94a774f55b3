"""Figure 3: commands per second through the application (one writer, then several writer
processes) against the event store's raw insert of pre-built stored events (the floor).

Each writer is its own process with its own `Timeline` and its own slice of a history
(distinct slugs), as separate API replicas or import jobs would be; a barrier starts them
together and the rate is all their commands over the wall time of the slowest.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from eventsourcing.persistence import OperationalError, StoredEvent

from bench.generator import History
from bench.measure import median
from timeline.application import Timeline
from timeline.settings import Settings

WARM_UP = 60  # commands before timing: actors, first policies, connections


@dataclass(frozen=True)
class AppendJob:
    url: str
    writer: int
    writers: int
    commands: int
    repeats: int
    seed: int
    raw: bool
    unsealed: bool = False  # figure 11's baseline: the application without the Merkle tree


def _app_writer(job: AppendJob, barrier: Any, results: Any) -> None:
    """One writer process: warm up, then `repeats` timed runs of `commands` commands."""
    if job.unsealed:
        from bench.tree import UnsealedTimeline  # the baseline of figure 11

        timeline: Timeline = UnsealedTimeline(Settings(database_url=job.url))
    else:
        timeline = Timeline(Settings(database_url=job.url))
    try:
        prefix = f"w{job.writer}of{job.writers}-"  # distinct slugs in every run
        stream = History(job.seed + job.writer, prefix=prefix).commands()
        for name, data in itertools.islice(stream, WARM_UP):
            timeline.execute(name, data)
        batches = [list(itertools.islice(stream, job.commands)) for _ in range(job.repeats)]
        for run, batch in enumerate(batches):
            barrier.wait(timeout=600)
            start = time.time()
            retries = 0
            for name, data in batch:
                retries += _retrying(partial(timeline.execute, name, data))
            results.put((run, job.writer, start, time.time(), len(batch), retries))
    finally:
        timeline.close()


def _raw_writer(job: AppendJob, barrier: Any, results: Any) -> None:
    """One raw writer: the stored events of the first events in the log, under fresh stream
    ids, inserted one per transaction as a command would (`recorder.insert_events`)."""
    timeline = Timeline(Settings(database_url=job.url))
    try:
        recorder = timeline.recorder
        source = recorder.select_notifications(start=1, limit=job.commands)
        for run in range(job.repeats):
            ids: dict[Any, uuid.UUID] = {}
            events = [
                StoredEvent(
                    originator_id=ids.setdefault(n.originator_id, uuid.uuid4()),
                    originator_version=n.originator_version,
                    topic=n.topic,
                    state=n.state,
                )
                for n in source
            ]
            barrier.wait(timeout=600)
            start = time.time()
            retries = 0
            for stored in events:
                retries += _retrying(partial(recorder.insert_events, [stored]))
            results.put((run, job.writer, start, time.time(), len(events), retries))
    finally:
        timeline.close()


def _retrying(call: Callable[[], Any], attempts: int = 50) -> int:
    """Run `call`, retrying while the database is locked by another writer (SQLite);
    returns how many retries it took (reported: it is part of the cost of concurrency)."""
    for attempt in range(attempts):
        try:
            call()
            return attempt
        except OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.005)
    return attempts


def append_rate(
    url: str,
    writers: int,
    commands: int,
    repeats: int,
    seed: int,
    raw: bool,
    unsealed: bool = False,
) -> dict[str, float]:
    """Commands (or raw inserts) per second over all writers; the median of `repeats` runs."""
    context = mp.get_context("spawn")
    barrier = context.Barrier(writers)
    results = context.Queue()
    target = _raw_writer if raw else _app_writer
    processes = [
        context.Process(
            target=target,
            args=(
                AppendJob(url, w, writers, commands, repeats, seed, raw, unsealed),
                barrier,
                results,
            ),
        )
        for w in range(writers)
    ]
    for process in processes:
        process.start()
    rows: list[tuple[int, int, float, float, int, int]] = []
    try:
        while len(rows) < writers * repeats:
            try:
                rows.append(results.get(timeout=1))
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in processes):
                    raise RuntimeError("a writer process failed (see its error above)") from None
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
    rates = []
    for run in range(repeats):
        mine = [r for r in rows if r[0] == run]
        elapsed = max(r[3] for r in mine) - min(r[2] for r in mine)
        rates.append(sum(r[4] for r in mine) / elapsed)
    return {"rate": median(rates), "runs": len(rates), "retries": sum(r[5] for r in rows)}


def seed_log(url: str, commands: int, seed: int) -> int:
    """Put `commands` realistic events in the log for the raw writers to copy."""
    timeline = Timeline(Settings(database_url=url))
    try:
        for name, data in itertools.islice(History(seed, prefix="raw-").commands(), commands):
            timeline.execute(name, data)
        return timeline.head_position()
    finally:
        timeline.close()
