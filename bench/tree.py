"""Figure 11: the cost of the log's Merkle tree. Appends through the application with the
tree against the same application with sealing switched off (one writer, same run), and
inclusion + consistency proof time at 1k leaves against a large tree (O(log n): within 2x)."""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import create_engine

from bench import appends
from bench.database import fresh_database
from bench.measure import Figure, Report, median, ms
from timeline import eventstore, integrity, proofs
from timeline.application import Timeline
from timeline.settings import Settings

SMALL = 1_000
LOAD_BATCH = 5_000


class UnsealedTimeline(Timeline):
    """The application without the tree: the baseline the tree's cost is measured against."""

    def _seal(self, session: Any, notifications: Any, stream: str, pending: Any) -> None:
        eventstore.notify(self.recorder, session)  # what the seal sends besides the tree


class _Note:
    """A synthetic event row: the tree's cost does not depend on what the payload says."""

    def __init__(self, position: int) -> None:
        self.id = position
        self.originator_id = uuid4()
        self.originator_version = 1
        self.topic = "domain.policy:Policy.Revised"
        self.state = b'{"summary":"bench"}' * 20


def load_tree(url: str, size: int) -> Any:
    """A database holding only the tree's tables, with `size` leaves added in batches."""
    engine = create_engine(Settings(database_url=url).sqlalchemy_url)
    integrity.metadata.create_all(engine)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for start in range(1, size + 1, LOAD_BATCH):
        items = [
            (_Note(p), "policy:bench/x", at)
            for p in range(start, min(size, start + LOAD_BATCH - 1) + 1)
        ]
        with engine.begin() as connection:
            integrity.append_leaves(connection, items)  # the seal without event rows
    return engine


def proof_p50(engine: Any, size: int, samples: int, seed: int) -> float:
    """Median seconds for one inclusion and one consistency proof at random places."""
    rng = random.Random(seed)
    times = []
    for _ in range(samples):
        index, first = rng.randrange(size), rng.randrange(1, size + 1)
        start = time.perf_counter()
        proofs.inclusion_proof(engine, index, size)
        proofs.consistency_proof(engine, first, size)
        times.append(time.perf_counter() - start)
    return median(times)


def tree_figures(report: Report, args: argparse.Namespace) -> None:
    """Figure 11: appends with and without the tree, then proofs at 1k and `--tree-size`."""
    rates: dict[bool, list[float]] = {False: [], True: []}
    ratios = []
    for run in range(args.repeat):  # paired rounds, alternating which goes first: fair noise
        for unsealed in (False, True) if run % 2 == 0 else (True, False):
            with fresh_database(args.database, "bench_tree") as url:  # the same history twice
                appends.seed_log(url, args.appends, args.seed)
                rate = appends.append_rate(
                    url, 1, args.appends, 1, args.seed + run, raw=False, unsealed=unsealed
                )
                rates[unsealed].append(rate["rate"])
        ratios.append(rates[False][-1] / rates[True][-1])
    sealed, bare, ratio = median(rates[False]), median(rates[True]), median(ratios)
    report.add(
        Figure(
            "11",
            "appends with the Merkle tree, 1 writer",
            sealed,
            "commands/s",
            "without the tree",
            bare,
            ratio,
            ">= 0.80",
            ratio >= 0.8,
            note="median of paired rounds' ratios",
        )
    )
    p50s = {}
    for size in sorted({SMALL, max(SMALL, args.tree_size)}):
        with fresh_database(args.database, "bench_proofs") as url:
            engine = load_tree(url, size)
            try:
                p50s[size] = proof_p50(engine, size, args.lookups, args.seed)
            finally:
                engine.dispose()
    large = max(p50s)
    ratio = p50s[large] / p50s[SMALL]
    report.add(
        Figure(
            "11",
            f"inclusion + consistency proof p50 at {large:,} leaves",
            ms(p50s[large]),
            "ms",
            f"at {SMALL:,} leaves",
            ms(p50s[SMALL]),
            ratio,
            "<= 2x",
            ratio <= 2,
            note="O(log n) stored nodes in one query each",
        )
    )
