"""Figure 1 and the floor of figure 2: point-in-time lookups through the read query
(`projections.queries.policy_at`) and the raw SQL statement that it runs."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, func, select

from bench.measure import median, percentile
from projections import queries
from projections import tables as t


@dataclass(frozen=True)
class Lookup:
    """One question: policy `slug` at valid time `valid_at` as known right after log position
    `known_at` (None: now), the basis the API reads at."""

    slug: str
    valid_at: datetime
    known_at: int | None


def sample_lookups(
    engine: Engine, count: int, seed: int, slugs: list[str] | None = None
) -> list[Lookup]:
    """`count` questions over the policies `slugs` (default all in the read model): a valid
    time anywhere in the policy's life, known now (half) or at a position in the middle of its
    recording (half). Asking only about finished policies compares like with like: a policy
    has the same history at every size of the log."""
    pv = t.policy_versions
    query = (
        select(
            pv.c.slug,
            func.min(pv.c.valid_from),
            func.max(pv.c.valid_from),
            func.min(pv.c.opened_by),
            func.max(pv.c.opened_by),
        )
        .group_by(pv.c.slug)
        .order_by(pv.c.slug)
    )
    if slugs:
        query = query.where(pv.c.slug.in_(slugs))
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(query)]
    if not rows:
        raise RuntimeError("the read model holds no policy; load a history first")
    rng = random.Random(seed)
    lookups = []
    for _ in range(count):
        slug, first, last, known_first, known_last = rng.choice(rows)
        first, last = _aware(first), _aware(last) + timedelta(days=30)
        valid_at = first + (last - first) * rng.random()
        known_at = None
        if rng.random() < 0.5:
            known_at = rng.randint(known_first, known_last)
        lookups.append(Lookup(slug, valid_at, known_at))
    return lookups


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC instants from aggregates (the column type is bypassed)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def time_policy_at(engine: Engine, lookups: list[Lookup], repeats: int) -> dict[str, float]:
    """p50 and p99 (seconds) of `policy_at` per run; the medians over `repeats` runs. One
    untimed pass first warms the caches, as the raw SQL that follows finds them warm."""
    for q in lookups:
        queries.policy_at(engine, q.slug, q.valid_at, q.known_at)
    runs = []
    for _ in range(repeats):
        samples = []
        for q in lookups:
            start = time.perf_counter()
            queries.policy_at(engine, q.slug, q.valid_at, q.known_at)
            samples.append(time.perf_counter() - start)
        runs.append(samples)
    return summarise(runs)


def interleaved(
    sides: dict[str, tuple[Engine, list[Lookup]]], rounds: int
) -> dict[str, dict[str, list[float]]]:
    """`policy_at` p50 and its raw SQL's p50 on every side, timed in alternating rounds so
    that the noise of a shared machine falls on all alike: `{label: {"lookup": [...],
    "raw": [...]}}`, one p50 (seconds) a round."""
    statements = {label: raw_statements(engine, asked) for label, (engine, asked) in sides.items()}
    timed: dict[str, dict[str, list[float]]] = {label: {"lookup": [], "raw": []} for label in sides}
    for _ in range(rounds):
        for label, (engine, asked) in sides.items():
            timed[label]["lookup"].append(time_policy_at(engine, asked, 1)["p50"])
            timed[label]["raw"].append(time_raw_sql(engine, statements[label], 1)["p50"])
    return timed


def summarise(runs: list[list[float]]) -> dict[str, float]:
    return {
        "p50": median([percentile(r, 50) for r in runs]),
        "p99": median([percentile(r, 99) for r in runs]),
        "mean": median([sum(r) / len(r) for r in runs]),
    }


@contextmanager
def _captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def capture(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def raw_statements(engine: Engine, lookups: list[Lookup]) -> list[list[tuple[str, Any]]]:
    """The exact SQL and parameters `policy_at` sends to the driver for each lookup: the
    lookup's one statement, which it sends on the driver's cursor
    (`queries.lookup_statement`), and any it sends through SQLAlchemy (captured: the texts
    it has not cached)."""
    found = []
    for q in lookups:
        with _captured(engine) as statements:
            queries.policy_at(engine, q.slug, q.valid_at, q.known_at)
        found.append([queries.lookup_statement(engine, q.slug, q.valid_at, q.known_at)])
        found[-1].extend(statements)
    return found


def time_raw_sql(
    engine: Engine, statements: list[list[tuple[str, Any]]], repeats: int
) -> dict[str, float]:
    """The same statements through the DBAPI cursor alone: the floor of a lookup."""
    raw = engine.raw_connection()
    try:
        runs = []
        for _ in range(repeats):
            samples = []
            for lookup in statements:
                start = time.perf_counter()
                for sql, parameters in lookup:
                    cursor = raw.cursor()
                    cursor.execute(sql, parameters)
                    cursor.fetchall()
                    cursor.close()
                samples.append(time.perf_counter() - start)
            raw.commit()
            runs.append(samples)
        return summarise(runs)
    finally:
        raw.close()
