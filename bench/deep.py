"""Figure 7, deep history: ONE policy with N revisions, as a long-lived document has (terms of
service tracked for years). 20 clauses of about 400 characters; each revision amends one
clause; 10% of them are retroactive (effective at a random moment of the policy's past) and
5% of the events are corrections. Loaded through the command path into a fresh database per
N. What must not grow with N: the lookup, and the read models' bytes per event-log byte."""

from __future__ import annotations

import argparse
import contextlib
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text

from bench import lookups, projection, storage
from bench.database import fresh_database
from bench.generator import EPOCH, WORDS, Command
from bench.load import load_until
from bench.measure import Figure, Report, median, ms
from domain.values import aggregate_uuid
from projections import queries
from projections import tables as t
from projections.runner import ProjectionRunner
from timeline.application import Timeline
from timeline.settings import Settings

OWNER = "deep-org"
SLUG = "deep-org/terms-of-service"
CLAUSES = 20
RETROACTIVE = 0.10
CORRECTIONS = 0.05


class DeepHistory:
    """The command stream: the owner, the announcement, then `revisions` events."""

    def __init__(self, revisions: int, seed: int = 7, clauses: int = CLAUSES) -> None:
        self.revisions = revisions
        self.rng = random.Random(seed)
        self.clauses = [f"c{i + 1}" for i in range(clauses)]

    def commands(self) -> Iterator[Command]:
        yield (
            "registerActor",
            {
                "id": OWNER,
                "name": "Deep Organisation",
                "kind": "organisation",
                "effectiveAt": _instant(EPOCH),
            },
        )
        announced = latest = EPOCH + timedelta(days=1)
        yield (
            "announcePolicy",
            {
                "id": SLUG,
                "title": "Terms of service",
                "owner": OWNER,
                "summary": self._words(20),
                "clauses": [
                    {"id": cid, "heading": self._words(3).capitalize(), "text": self._words(60)}
                    for cid in self.clauses
                ],
                "effectiveAt": _instant(announced),
            },
        )
        version = 1
        correctable = [1]  # announcement and revisions (a correction is not corrected)
        for _ in range(self.revisions):
            version += 1
            roll = self.rng.random()
            if roll < CORRECTIONS:
                target = self.rng.choice(correctable)
                yield (
                    "correctEvent",
                    {
                        "event": f"policy:{SLUG}@{target}",
                        "changes": {"summary": "Corrected: " + self._words(12)},
                        "reason": "the summary misquoted the source",
                    },
                )
            else:
                if roll < CORRECTIONS + RETROACTIVE and latest > announced:
                    span = (latest - announced).total_seconds()
                    at = announced + timedelta(seconds=self.rng.uniform(1, span))
                else:
                    at = latest = latest + timedelta(hours=self.rng.uniform(1, 72))
                yield (
                    "revisePolicy",
                    {
                        "id": SLUG,
                        "summary": self._words(15),
                        "amendClauses": [
                            {"id": self.rng.choice(self.clauses), "text": self._words(60)}
                        ],
                        "effectiveAt": _instant(at),
                    },
                )
                correctable.append(version)

    def _words(self, n: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(n))


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def policy_rows(engine: Engine) -> int:
    """Rows of the policy read-model tables (every table named for policies)."""
    total = 0
    with engine.connect() as connection:
        for table in t.READ_MODEL_TABLES:
            if "policy" in table.name:
                total += int(
                    connection.execute(select(func.count()).select_from(table)).scalar() or 0
                )
    return total


def sample(engine: Engine, count: int, seed: int) -> list[lookups.Lookup]:
    """`count` questions on the deep policy: validAt anywhere in its life (and 30 days on),
    known now (half) or at a random position of its recording (half)."""
    facts = t.facts
    aggregate = aggregate_uuid("policy", SLUG)
    with engine.connect() as connection:
        row = connection.execute(
            select(
                func.min(facts.c.effective_at),
                func.max(facts.c.effective_at),
                func.min(facts.c.position),
                func.max(facts.c.position),
            ).where(facts.c.aggregate_id == aggregate)
        ).one()
    first, last = _aware(row[0]), _aware(row[1])
    known_first, known_last = int(row[2]), int(row[3])
    last += timedelta(days=30)
    rng = random.Random(seed)
    questions = []
    for _ in range(count):
        valid_at = first + (last - first) * rng.random()
        known_at = None
        if rng.random() < 0.5:
            known_at = rng.randint(known_first, known_last)
        questions.append(lookups.Lookup(SLUG, valid_at, known_at))
    return questions


def _aware(value: Any) -> datetime:
    found = t.stored_instant(value)  # SQLite hands back aggregates of instants untyped
    assert found is not None
    return found


def time_with_corrections(
    engine: Engine, questions: list[lookups.Lookup], repeats: int
) -> dict[str, float]:
    """p50 and p99 (seconds) of `policy_at` that reads the version's `corrected_by` too (what
    a query selecting correctedBy costs: the list grows with the history, being the answer),
    warmed once like `lookups.time_policy_at`."""
    runs = []
    for run in range(repeats + 1):
        samples = []
        for q in questions:
            start = time.perf_counter()
            found = queries.policy_at(engine, q.slug, q.valid_at, q.known_at)
            if found is not None:
                found.corrected_by  # noqa: B018  (the read loads it)
            samples.append(time.perf_counter() - start)
        if run:  # the first pass warms the caches
            runs.append(samples)
    return lookups.summarise(runs)


def measure(
    url: str, revisions: int, args: argparse.Namespace, opened: contextlib.ExitStack
) -> dict[str, Any]:
    """Load one deep history into `url`, project it, and measure it; the timeline stays open
    until `opened` closes (its engine and questions are in the result, for the interleaved
    comparison)."""
    timeline = Timeline(Settings(database_url=url))
    opened.callback(timeline.close)
    runner = ProjectionRunner(timeline.engine, timeline)
    try:
        history = DeepHistory(revisions, args.seed)
        added, load_seconds = load_until(timeline, history.commands(), revisions + 2)
        events, seconds = projection.caught_up(runner, timeline, f"deep history {revisions:,}")
        if timeline.engine.dialect.name == "postgresql":
            with timeline.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        questions = sample(timeline.engine, args.lookups, args.seed)
        timed = lookups.time_policy_at(timeline.engine, questions, args.repeat)
        shown = time_with_corrections(timeline.engine, questions, args.repeat)
        statements = lookups.raw_statements(timeline.engine, questions)
        raw = lookups.time_raw_sql(timeline.engine, statements, args.repeat)
        sizes = storage.storage(timeline)
        parts = storage.read_model_breakdown(timeline)
        storage.print_breakdown(f"deep history N={revisions:,}", parts)
        return {
            "events": added,
            "commands_per_s": added / load_seconds if load_seconds else None,
            "projection_per_s": events / seconds if seconds else None,
            "rows": policy_rows(timeline.engine),
            "p50": timed["p50"],
            "p99": timed["p99"],
            "corrected_p50": shown["p50"],
            "corrected_p99": shown["p99"],
            "raw_p50": raw["p50"],
            "raw_p99": raw["p99"],
            **sizes,
            "breakdown": parts,
            "engine": timeline.engine,
            "questions": questions,
        }
    finally:
        runner.stop()


def deep_figures(report: Report, args: argparse.Namespace) -> None:
    """Figure 7 at every `--deep-size`, each in a fresh database; then the flatness ratio,
    from each size's own run and from the smallest and largest timed in alternating rounds."""
    with contextlib.ExitStack() as ends:
        _deep_figures(report, args, ends)


def _deep_figures(report: Report, args: argparse.Namespace, ends: contextlib.ExitStack) -> None:
    p50s: dict[int, float] = {}
    corrected: dict[int, float] = {}
    kept: dict[int, tuple[Engine, list[lookups.Lookup]]] = {}
    for revisions in args.deep_sizes:
        start = time.perf_counter()
        with contextlib.ExitStack() as opened:
            url = opened.enter_context(fresh_database(args.database, "bench_deep"))
            found = measure(url, revisions, args, opened)
            if revisions in (min(args.deep_sizes), max(args.deep_sizes)):
                kept[revisions] = (found["engine"], found["questions"])
                ends.enter_context(opened.pop_all())  # open until the interleaved rounds
        p50s[revisions] = found["p50"]
        corrected[revisions] = found["corrected_p50"]
        label = f"deep history N={revisions:,}"
        ratio = found["read_models"] / found["event_log"]
        skip = ("read_models", "event_log", "breakdown", "engine", "questions")
        extra = {k: v for k, v in found.items() if k not in skip}
        extra["seconds"] = round(time.perf_counter() - start, 1)
        report.add(
            Figure(
                "7",
                f"{label}: policy_at p50",
                ms(found["p50"]),
                "ms",
                "raw SQL p50",
                ms(found["raw_p50"]),
                found["p50"] / found["raw_p50"],
                "<= 2x its SQL",
                found["p50"] <= 2 * found["raw_p50"],
                extra=extra,
                note="random validAt; knownAt now (half) or in the past (half)",
            )
        )
        report.add(
            Figure(
                "7",
                f"{label}: policy_at with correctedBy p50",
                ms(found["corrected_p50"]),
                "ms",
                "policy_at p50",
                ms(found["p50"]),
                found["corrected_p50"] / found["p50"],
                extra={"p99": found["corrected_p99"]},
                note="the same lookups, reading the version's corrections too",
            )
        )
        report.add(
            Figure(
                "7",
                f"{label}: read models",
                found["read_models"] / 1e6,
                "MB",
                "event log MB",
                found["event_log"] / 1e6,
                ratio,
                "<= 3x the log",
                ratio <= 3,
                extra={"policy_rows": found["rows"], "breakdown": found["breakdown"]},
            )
        )
        report.add(
            Figure(
                "7",
                f"{label}: policy read-model rows",
                found["rows"],
                "rows",
                "events",
                found["events"],
                found["rows"] / found["events"],
            )
        )
        if found["projection_per_s"] is not None:
            report.add(Figure("7", f"{label}: projection", found["projection_per_s"], "events/s"))
    smallest, largest = min(p50s), max(p50s)
    if largest == smallest:
        return
    # The target is judged on the lookup itself; correctedBy is output-sized (the list of
    # corrections folded into a version grows with its history: the answer itself grows).
    for name, p50, target in (("lookup", p50s, True), ("with correctedBy", corrected, False)):
        flat = p50[largest] / p50[smallest]
        report.add(
            Figure(
                "7",
                f"deep history {name} p50 ratio N={largest:,} / N={smallest:,}",
                flat,
                "x",
                f"p50 at N={smallest:,}",
                ms(p50[smallest]),
                flat,
                "<= 2" if target else "",
                flat <= 2 if target else None,
            )
        )
    _interleaved_flatness(report, kept[smallest], kept[largest], smallest, largest, args)


def _interleaved_flatness(
    report: Report,
    small: tuple[Engine, list[lookups.Lookup]],
    large: tuple[Engine, list[lookups.Lookup]],
    smallest: int,
    largest: int,
    args: argparse.Namespace,
) -> None:
    """The flatness target again, N's smallest and largest database timed in alternating
    rounds in this one process (each size's own run above is minutes apart from the next)."""
    found = lookups.interleaved({"small": small, "large": large}, max(5, args.repeat))
    p50 = {label: median(found[label]["lookup"]) for label in found}
    raw = {label: median(found[label]["raw"]) for label in found}
    flat = p50["large"] / p50["small"]
    report.add(
        Figure(
            "7",
            f"deep history lookup p50 ratio N={largest:,} / N={smallest:,}, interleaved",
            flat,
            "x",
            f"p50 at N={smallest:,}",
            ms(p50["small"]),
            flat,
            "<= 2",
            flat <= 2,
            extra={
                "raw_sql_ratio": raw["large"] / raw["small"],
                "rounds_ms": {
                    f"{label}_{kind}": [ms(v) for v in values]
                    for label, kinds in found.items()
                    for kind, values in kinds.items()
                },
            },
            note="both databases timed in alternating rounds, each with its own questions",
        )
    )
