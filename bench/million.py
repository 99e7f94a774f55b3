"""Figure 4 at a million events on PostgreSQL, measured: the seeded history loaded through the
command path into a SQLite file (resumable), moved to PostgreSQL by the product's own
`timeline export` / `timeline restore --no-project`, then `timeline project --rebuild --once`
timed beside the floor of reading the same log (`Timeline.iter_log`).

    python -m bench.million --events 1m --sqlite /tmp/m1/sq.db \
        --postgres postgresql://postgres@127.0.0.1:5432/m1

Loading through SQLite first is only a faster way to write the log (PostgreSQL commands are
slower per round trip); the rebuild measured is the product's command on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.generator import History
from bench.load import load_until, skip_loaded, stored_events
from bench.measure import console
from bench.run import parse_size
from timeline.application import Timeline
from timeline.settings import Settings


def _timeline_cli(url: str, *args: str) -> float:
    """Run the product's CLI on `url`; seconds it took (fails loudly on a non-zero exit)."""
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).with_name("timeline")), *args],
        env={**os.environ, "TIMELINE_DATABASE_URL": url},
        check=True,
    )
    return time.perf_counter() - started


def _log_read_seconds(url: str) -> tuple[int, float]:
    """The floor: every event of the log read and decoded to facts, as the runner gets them."""
    timeline = Timeline(Settings(database_url=url))
    started = time.perf_counter()
    events = sum(1 for _ in timeline.iter_log())
    return events, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=parse_size, default=parse_size("1m"))
    parser.add_argument("--sqlite", type=Path, required=True, help="the loaded log (kept)")
    parser.add_argument("--postgres", required=True, help="an EMPTY PostgreSQL database URL")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    args.sqlite.parent.mkdir(parents=True, exist_ok=True)
    sqlite_url = f"sqlite:///{args.sqlite}"
    source = Timeline(Settings(database_url=sqlite_url))
    commands = History(args.seed).commands()
    skip_loaded(source, commands)
    added, seconds = load_until(source, commands, args.events)
    console.print(
        f"loaded {added:,} events in {seconds:,.0f} s; log holds {stored_events(source):,}"
    )

    export = args.sqlite.with_suffix(".ndjson")
    if not export.exists():
        spent = _timeline_cli(sqlite_url, "export", "--output", str(export))
        console.print(f"export: {spent:,.0f} s, {export.stat().st_size / 1e6:,.0f} MB")
    spent = _timeline_cli(args.postgres, "restore", "--no-project", str(export))
    console.print(f"restore into PostgreSQL: {spent:,.0f} s")

    events, floor = _log_read_seconds(args.postgres)
    console.print(
        f"log read (floor): {events:,} events in {floor:,.0f} s ({events / floor:,.0f}/s)"
    )
    spent = _timeline_cli(args.postgres, "project", "--rebuild", "--once")
    console.print(
        f"rebuild: {spent:,.0f} s ({events / spent:,.0f} events/s), "
        f"ratio to the log read {floor / spent:.2f}; target 300 s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
