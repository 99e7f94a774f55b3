"""The benchmark command: load a seeded history through the application at growing sizes on
one database and print each figure beside its baseline, measured in the same run.

    python -m bench --size 1k,10k,100k --database sqlite
    python -m bench --size 1k,10k --database postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import appends, cli_start, deep, hostile, lookups, projection, server, storage, tree
from bench.database import fresh_database
from bench.generator import Command, History
from bench.load import load_until, skip_loaded
from bench.measure import Figure, Report, console, median, ms
from projections.runner import ProjectionRunner
from timeline import tokens
from timeline.application import Timeline
from timeline.settings import Settings

FULL_SIZE = 1_000_000  # the history: what figures 4 and 6 are extrapolated to
#: Figures measured on the standard growing history (figure 1 loads it).
HISTORY_FIGURES = {"1", "2", "4", "5", "6", "8"}


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    for suffix, factor in (("k", 1_000), ("m", 1_000_000)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * factor)
    return int(text)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--size",
        default="1k,10k",
        help="history sizes in events, ascending, e.g. 1k,10k,100k (default "
        "1k,10k); loaded cumulatively into one database",
    )
    parser.add_argument(
        "--database",
        default="sqlite",
        help="'sqlite' (a temporary file) or a PostgreSQL URL (a fresh schema "
        "in it, dropped afterwards)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--lookups", type=int, default=200, help="lookups per run")
    parser.add_argument("--subscribers", type=int, default=200, help="websocket subscribers")
    parser.add_argument(
        "--events", type=int, default=30, help="events written while the subscribers listen"
    )
    parser.add_argument("--writers", type=int, default=4, help="concurrent writer processes")
    parser.add_argument(
        "--appends", type=int, default=200, help="commands per writer per run (figure 3)"
    )
    parser.add_argument("--rebuilds", type=int, default=1, help="full rebuilds (figure 4)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="load into a named database that is kept (a file in the temporary directory, or "
        "schema bench_keep_NAME) and resume loading it on the next run with the same seed: a "
        "million events are loaded once",
    )
    parser.add_argument(
        "--figures",
        default="1,2,3,4,5,6,7,8,9,10,11",
        help="which figures to measure, e.g. 1,2,4 (default: all; figure 1 runs with any of "
        "2, 4, 5, 6 and 8, which use its history; 3, 7, 9, 10 and 11 have databases of their own)",
    )
    parser.add_argument(
        "--deep-size",
        default="10,1k,10k",
        help="revisions of the one policy of figure 7 (deep history), each size in a fresh "
        "database (default 10,1k,10k)",
    )
    parser.add_argument(
        "--tree-size",
        type=parse_size,
        default=100_000,
        help="leaves of the large tree of figure 11's proof time (default 100k; 1m for the "
        "issue's million), compared with 1k",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    args.sizes = sorted({parse_size(s) for s in args.size.split(",") if s.strip()})
    args.deep_sizes = sorted({parse_size(s) for s in args.deep_size.split(",") if s.strip()})
    args.figures = {f.strip() for f in args.figures.split(",") if f.strip()}
    if args.figures & HISTORY_FIGURES:
        args.figures.add("1")
    unknown = args.figures - {str(n) for n in range(1, 12)}
    if unknown:
        parser.error(f"--figures: no figure {', '.join(sorted(unknown))} (there are 1 to 11)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    # SIGTERM unwinds like Ctrl-C, so the temporary database and the API process go too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    report = Report()
    report.context = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_mb": _memory_mb(),
        "database": args.database.split("@")[-1],
        "sizes": args.sizes,
        "repeat": args.repeat,
        "lookups": args.lookups,
        "subscribers": args.subscribers,
        "writers": args.writers,
        "seed": args.seed,
        "kept_database": args.keep,
        "figures": sorted(args.figures),
        "deep_sizes": args.deep_sizes,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code": _code_version(),
    }
    console.print(f"[bold]Policy Timeline benchmarks[/] {report.context}")
    if args.figures & HISTORY_FIGURES:
        with fresh_database(args.database, "bench", keep=args.keep) as url:
            history_figures(report, url, args)
    if "7" in args.figures:
        deep.deep_figures(report, args)
    if "3" in args.figures:
        with fresh_database(args.database, "bench_appends") as url:
            append_figures(report, url, args)
    if "9" in args.figures:
        hostile.hostile_figure(report, args.database)
    if "10" in args.figures:
        cli_start.cli_start_figure(report, args.database, runs=5 * args.repeat)
    if "11" in args.figures:
        tree.tree_figures(report, args)
    console.print(report.table())
    if args.json:
        args.json.write_text(report.to_json())
    return 0


def history_figures(report: Report, url: str, args: argparse.Namespace) -> None:
    """Figures 1, 2, 4, 5, 6 and 8 on one growing history."""
    timeline = Timeline(Settings(database_url=url))
    runner = ProjectionRunner(timeline.engine, timeline)
    history = History(args.seed)
    commands = history.commands()
    kept = skip_loaded(timeline, commands)
    p50s: dict[int, float] = {}
    fixed: list[lookups.Lookup] = []
    catch_up = [0, 0.0]  # events, seconds
    smallest_side: Timeline | None = None
    sides = contextlib.ExitStack()
    try:
        for size in args.sizes:
            if size < kept and size < args.sizes[-1]:
                # A kept database is already past this size: the same seeded history is
                # loaded to it in a side database, so the flatness figure still has its point.
                # (The largest size is always the kept database: figure 5 adds a few events.)
                side_url = sides.enter_context(fresh_database(args.database, "bench_side"))
                side = Timeline(Settings(database_url=side_url))
                side_runner = ProjectionRunner(side.engine, side)
                side_history = History(args.seed)
                try:
                    _load_and_catch_up(report, side, side_runner, side_history, size, catch_up)
                    p50s[size], questions, raw, fixed = _lookup_figures(
                        report, side, side_history, size, fixed, args
                    )
                finally:
                    side_runner.stop()
                if size == args.sizes[0]:
                    smallest_side = side  # kept open for the interleaved comparison
                else:
                    side.close()
                continue
            _load_and_catch_up(report, timeline, runner, history, size, catch_up, commands)
            p50s[size], questions, raw, fixed = _lookup_figures(
                report, timeline, history, size, fixed, args
            )
            if "8" in args.figures:
                storage_figure(report, timeline, size)
        smallest, largest = args.sizes[0], args.sizes[-1]
        flat = p50s[largest] / p50s[smallest]
        report.add(
            Figure(
                "1",
                f"lookup p50 ratio {largest:,} / {smallest:,} events",
                flat,
                "x",
                f"p50 at {smallest:,}",
                ms(p50s[smallest]),
                flat,
                "<= 1.5",
                flat <= 1.5,
                note="the same questions asked at every size",
            )
        )
        if smallest_side is not None:
            _interleaved_ratio(report, smallest_side, timeline, fixed, args)
        if "4" in args.figures:
            rate = catch_up[0] / catch_up[1] if catch_up[0] else None
            projection_figures(report, runner, timeline, args, rate)
        if args.figures & {"2", "5", "6"}:
            api_figures(report, url, timeline, commands, questions, raw, args)
    finally:
        runner.stop()
        timeline.close()
        if smallest_side is not None:
            smallest_side.close()
        sides.close()


def storage_figure(report: Report, timeline: Timeline, size: int) -> None:
    """Figure 8: bytes of the read models (tables and indexes) against the event log's."""
    found = storage.storage(timeline)
    ratio = found["read_models"] / found["event_log"]
    parts = storage.read_model_breakdown(timeline)
    storage.print_breakdown(f"{size:,} events", parts)
    report.add(
        Figure(
            "8",
            f"read models at {size:,} events",
            found["read_models"] / 1e6,
            "MB",
            "event log MB",
            found["event_log"] / 1e6,
            ratio,
            "<= 3x the log",
            ratio <= 3,
            extra={"bytes": found, "breakdown": parts},
        )
    )


def _interleaved_ratio(
    report: Report,
    small: Timeline,
    large: Timeline,
    fixed: list[lookups.Lookup],
    args: argparse.Namespace,
) -> None:
    """Figure 1 again, the smallest and the largest database timed in alternating rounds, so
    that the noise of a shared machine falls on both alike; `policy_at` and its raw SQL."""
    found = lookups.interleaved(
        {"small": (small.engine, fixed), "large": (large.engine, fixed)}, max(3, args.repeat)
    )
    timed = {
        f"{label}{suffix}": found[label][kind]
        for label in ("small", "large")
        for kind, suffix in (("lookup", ""), ("raw", "_raw"))
    }
    ratio = median(timed["large"]) / median(timed["small"])
    raw_ratio = median(timed["large_raw"]) / median(timed["small_raw"])
    report.add(
        Figure(
            "1",
            f"lookup p50 ratio {args.sizes[-1]:,} / {args.sizes[0]:,} events, interleaved",
            ratio,
            "x",
            f"p50 at {args.sizes[0]:,}",
            ms(median(timed["small"])),
            ratio,
            "<= 1.5",
            ratio <= 1.5,
            extra={
                "raw_sql_ratio": raw_ratio,
                "rounds_ms": {k: [ms(v) for v in vs] for k, vs in timed.items()},
            },
            note="both databases timed in alternating rounds",
        )
    )


def _load_and_catch_up(
    report: Report,
    timeline: Timeline,
    runner: ProjectionRunner,
    history: History,
    size: int,
    catch_up: list[Any],
    commands: Iterator[Command] | None = None,
) -> None:
    """Load the history to `size` events, then let the projections catch up (timed)."""
    added, seconds = load_until(timeline, commands or history.commands(), size)
    report.context[f"load_{size}"] = {
        "events": added,
        "seconds": round(seconds, 1),
        "commands_per_s": round(added / seconds, 1) if seconds else None,
    }
    events, seconds = projection.caught_up(runner, timeline, f"catch-up to {size:,}")
    catch_up[0] += events
    catch_up[1] += seconds


def _lookup_figures(
    report: Report,
    timeline: Timeline,
    history: History,
    size: int,
    fixed: list[lookups.Lookup],
    args: argparse.Namespace,
) -> tuple[float, list[lookups.Lookup], dict[str, float], list[lookups.Lookup]]:
    """Figure 1 at one size: (p50 of the fixed questions, fresh questions, their raw SQL
    timings, the fixed questions)."""
    questions = lookups.sample_lookups(timeline.engine, args.lookups, args.seed, history.finished())
    fixed = fixed or questions  # the same questions at every size: the flatness figure
    timed, raw = _lookup_timings(timeline, fixed, args.repeat)
    p50 = timed["p50"]
    report.add(
        Figure(
            "1",
            f"policy_at p50 at {size:,} events, same questions",
            ms(timed["p50"]),
            "ms",
            "raw SQL p50",
            ms(raw["p50"]),
            timed["p50"] / raw["p50"],
            extra={
                "p99_ms": ms(timed["p99"]),
                "raw_p99_ms": ms(raw["p99"]),
                "policies": history.policies,
                "finished_policies": len(history.finished()),
            },
        )
    )
    timed, raw = _lookup_timings(timeline, questions, args.repeat)
    report.add(
        Figure(
            "1",
            f"policy_at p50 at {size:,} events, fresh sample",
            ms(timed["p50"]),
            "ms",
            "raw SQL p50",
            ms(raw["p50"]),
            timed["p50"] / raw["p50"],
            extra={"p99_ms": ms(timed["p99"]), "raw_p99_ms": ms(raw["p99"])},
        )
    )
    return p50, questions, raw, fixed


def _lookup_timings(
    timeline: Timeline, questions: list[lookups.Lookup], repeat: int
) -> tuple[dict[str, float], dict[str, float]]:
    """`policy_at` and the raw SQL it runs, on the same questions."""
    timed = lookups.time_policy_at(timeline.engine, questions, repeat)
    statements = lookups.raw_statements(timeline.engine, questions)
    return timed, lookups.time_raw_sql(timeline.engine, statements, repeat)


def projection_figures(
    report: Report,
    runner: ProjectionRunner,
    timeline: Timeline,
    args: argparse.Namespace,
    catch_up: float | None,
) -> None:
    floor = projection.log_read_rates(timeline, runner.batch_size, args.repeat)
    rebuild = projection.rebuild_rate(runner, timeline, args.rebuilds)
    head = timeline.head_position()
    if catch_up is not None:  # None: a kept database had nothing new to project
        report.add(
            Figure(
                "4",
                "projection catch-up (while loading)",
                catch_up,
                "events/s",
                "log read",
                floor["decoded"],
                catch_up / floor["decoded"],
                ">= 0.30",
                catch_up / floor["decoded"] >= 0.3,
            )
        )
    report.add(
        Figure(
            "4",
            f"projection rebuild of {head:,} events",
            rebuild,
            "events/s",
            "log read",
            floor["decoded"],
            rebuild / floor["decoded"],
            ">= 0.30",
            rebuild / floor["decoded"] >= 0.3,
            extra={"raw_log_read_per_s": floor["raw"], "bench_process_peak_rss_mb": _peak_rss_mb()},
        )
    )
    estimate = FULL_SIZE / rebuild / 60
    report.add(
        Figure(
            "4",
            "rebuild of 1M events (estimated from the rate)",
            estimate,
            "min",
            target="<= 10 min",
            met=estimate <= 10,
            note="extrapolated from the measured rebuild rate",
        )
    )


def api_figures(
    report: Report,
    url: str,
    timeline: Timeline,
    commands: Iterator[Command],
    questions: list[lookups.Lookup],
    raw: dict[str, float],
    args: argparse.Namespace,
) -> None:
    """Figures 2, 5 and 6 against the API in its own process; the history goes on being
    written (from this process) while subscribers listen."""

    def write() -> int:
        name, data = next(commands)
        return timeline.execute(name, data).position

    with server.running(url) as api:
        if "2" in args.figures:
            graphql_figures(report, api, questions, raw, args)
        if "5" in args.figures:
            subscription_figures(report, api, timeline, write, args)
        memory = api.memory()
        head = timeline.head_position()
        report.add(
            Figure(
                "6",
                f"API resident size with {head:,} events",
                memory["VmRSS"],
                "MB",
                "peak",
                memory.get("VmHWM"),
                None,
                "< 300 MB",
                memory["VmRSS"] < 300,
                extra=memory,
            )
        )


def graphql_figures(
    report: Report,
    api: server.ApiServer,
    questions: list[lookups.Lookup],
    raw: dict[str, float],
    args: argparse.Namespace,
) -> None:
    """Figure 2: the lookup through GraphQL over HTTP against the raw SQL it runs."""
    http = server.time_graphql(api, questions, args.repeat)
    report.add(
        Figure(
            "2",
            "GraphQL policy() over HTTP p50",
            ms(http["p50"]),
            "ms",
            "raw SQL p50",
            ms(raw["p50"]),
            http["p50"] / raw["p50"],
            "< 5 ms",
            ms(http["p50"]) < 5,
        )
    )
    report.add(
        Figure(
            "2",
            "GraphQL policy() over HTTP p99",
            ms(http["p99"]),
            "ms",
            "raw SQL p99",
            ms(raw["p99"]),
            http["p99"] / raw["p99"],
            "< 20 ms",
            ms(http["p99"]) < 20,
        )
    )


def subscription_figures(
    report: Report,
    api: server.ApiServer,
    timeline: Timeline,
    write: Callable[[], int],
    args: argparse.Namespace,
) -> None:
    """Figure 5 twice: a writer in another process (a CLI import, a worker, another API
    replica) and a writer through the API itself (the embedded deployment)."""
    secret, _ = tokens.create_token(timeline.engine, ["write"], "bench")
    through_api = server.ApiWriter(api, secret, "authority-ru")
    try:
        for label, writer in (
            ("writer in another process", write),
            ("writes through the API", through_api),
        ):
            latency = asyncio.run(
                server.subscription_latency(
                    api, args.subscribers, args.events, timeline.head_position(), writer
                )
            )
            report.add(
                Figure(
                    "5",
                    f"commit -> subscriber p99, {args.subscribers} subscribers, {label}",
                    ms(latency["p99"]),
                    "ms",
                    "p50",
                    ms(latency["p50"]),
                    latency["p99"] / latency["p50"],
                    "< 100 ms",
                    ms(latency["p99"]) < 100,
                    extra=latency,
                )
            )
    finally:
        through_api.close()


def append_figures(report: Report, url: str, args: argparse.Namespace) -> None:
    """Figure 3 on a database of its own: the application against the raw recorder."""
    total = args.appends * args.repeat
    appends.seed_log(url, total, args.seed)
    for writers in sorted({1, args.writers}):
        app = appends.append_rate(url, writers, args.appends, args.repeat, args.seed, raw=False)
        raw = appends.append_rate(url, writers, args.appends, args.repeat, args.seed, raw=True)
        ratio = app["rate"] / raw["rate"]
        report.add(
            Figure(
                "3",
                f"appends, {writers} writer{'s' if writers > 1 else ''}",
                app["rate"],
                "commands/s",
                "raw insert",
                raw["rate"],
                ratio,
                ">= 0.50",
                ratio >= 0.5,
                extra={"app_retries": app["retries"], "raw_retries": raw["retries"]},
            )
        )


def _code_version() -> str:
    """The commit measured, and whether the service's code had uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "domain", "timeline", "projections", "api"],
            cwd=root,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" with uncommitted changes" if dirty else "")


def _peak_rss_mb() -> float | None:
    """This process's peak resident size (the rebuild's memo of aggregates is in it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _memory_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None
