"""The benchmark history generator: seeded and reproducible, with the mix the issue asks for."""

from __future__ import annotations

import itertools
from collections import Counter

from bench.generator import History
from bench.run import parse_size


def take(history: History, count: int) -> list[tuple[str, dict[str, object]]]:
    return list(itertools.islice(history.commands(), count))


def test_the_same_seed_gives_the_same_history() -> None:
    assert take(History(11), 2_000) == take(History(11), 2_000)


def test_another_seed_gives_another_history() -> None:
    assert take(History(11), 500) != take(History(12), 500)


def test_a_history_holds_every_kind_of_fact_the_issue_names() -> None:
    commands = take(History(7), 5_000)
    kinds = Counter(name for name, _ in commands)
    assert {
        "announcePolicy",
        "revisePolicy",
        "correctEvent",
        "retractEvent",
        "announceRegulatoryAction",
        "liftRegulatoryAction",
        "registerActor",
    } <= set(kinds)
    assert kinds["revisePolicy"] > kinds["correctEvent"] > kinds["retractEvent"]
    actions = [data for name, data in commands if name == "announceRegulatoryAction"]
    assert all(str(ref).startswith("policy:") for a in actions for ref in a["inResponseTo"])  # type: ignore[attr-defined]


def test_some_revisions_are_retroactive() -> None:
    latest: dict[str, str] = {}
    retroactive = 0
    for name, data in take(History(7), 3_000):
        if name in ("announcePolicy", "revisePolicy"):
            slug, at = str(data["id"]), str(data["effectiveAt"])
            if slug in latest and at < latest[slug]:
                retroactive += 1
            latest[slug] = max(at, latest.get(slug, at))
    assert retroactive > 50


def test_policies_keep_about_the_same_history_size_as_the_log_grows() -> None:
    history = History(7, events_per_policy=50)
    take(history, 10_000)
    assert 150 <= history.policies <= 260


def test_prefixes_keep_concurrent_writers_apart() -> None:
    def slugs(prefix: str) -> set[str]:
        return {str(d["id"]) for _, d in take(History(7, prefix=prefix), 400) if "id" in d}

    assert not slugs("w0-") & slugs("w1-")


def test_sizes_are_read_with_k_and_m_suffixes() -> None:
    assert [parse_size(s) for s in ("1k", "100K", "1m", "2500", "1.5k")] == [
        1_000,
        100_000,
        1_000_000,
        2_500,
        1_500,
    ]
