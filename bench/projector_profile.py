"""The projector under cProfile: load a history once into a kept SQLite file (or a given
database), then time a full rebuild beside the decoded log read, with and without the profiler.

    python -m bench.projector_profile std 10000        # the standard history (figure 4's)
    python -m bench.projector_profile deep 1000        # one policy, N revisions (figure 7's)
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench import projection
from bench.deep import DeepHistory
from bench.generator import Command, History
from bench.load import load_until, stored_events
from projections.runner import ProjectionRunner
from timeline.application import Timeline
from timeline.settings import Settings


class CollectorClock:
    """Time spent in the cycle collector by generation, from `gc.callbacks`: cProfile charges
    a collection to whatever function allocated when it started, so it shows up spread over
    the profile (a 10k rebuild spent 2.5-3.1 s in full collections before the runner held
    them back: docs/benchmarks.md)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.counts[info["generation"]] += 1

    def __str__(self) -> str:
        return ", ".join(
            f"generation {g}: {n} in {s:.2f} s"
            for g, (n, s) in enumerate(zip(self.counts, self.seconds, strict=True))
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.projector_profile")
    parser.add_argument("history", choices=("std", "deep"))
    parser.add_argument("size", type=int, help="events (std) or revisions (deep)")
    parser.add_argument("--database", help="a database URL (default: a kept SQLite file)")
    parser.add_argument("--top", type=int, default=40, help="rows of each profile table")
    parser.add_argument("--no-profile", action="store_true", help="time the rebuild alone")
    args = parser.parse_args(argv)
    path = Path(tempfile.gettempdir()) / f"timeline-profile-{args.history}{args.size}.db"
    url = args.database or f"sqlite:///{path}"
    timeline = Timeline(Settings(database_url=url))
    runner = ProjectionRunner(timeline.engine, timeline)
    try:
        if stored_events(timeline) == 0:
            commands: Iterator[Command]
            if args.history == "std":
                commands, total = History(7).commands(), args.size
            else:
                commands, total = DeepHistory(args.size, 7).commands(), args.size + 2
            load_until(timeline, commands, total)
        floor = projection.log_read_rates(timeline, 1000, 3)["decoded"]
        profiler = cProfile.Profile()
        collector = CollectorClock()
        gc.callbacks.append(collector)
        start, cpu = time.perf_counter(), time.process_time()
        if not args.no_profile:
            profiler.enable()
        try:
            events = runner.rebuild()
        finally:
            profiler.disable()
            gc.callbacks.remove(collector)
        cpu = time.process_time() - cpu
        rate = events / (time.perf_counter() - start)
        print(f"rebuild: {events:,} events, {rate:,.0f} events/s; log read {floor:,.0f} events/s;")
        print(f"CPU time of this process during the rebuild: {cpu:.2f} s (steadier when shared)")
        print(f"ratio {rate / floor:.3f}{' (under the profiler)' if not args.no_profile else ''}")
        print(f"cycle collector during the rebuild: {collector}")
        if not args.no_profile:
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
    finally:
        runner.stop()
        timeline.close()


if __name__ == "__main__":
    main()
