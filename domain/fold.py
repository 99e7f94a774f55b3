"""The oracle: DESIGN section 2 replayed literally, for obviousness, not speed.

Property tests hold every projection answer against these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.facts import Fact, believe
from domain.rules import FoldRules, order


def state_at(
    rules: FoldRules[Any], facts: Iterable[Fact], valid_at: datetime, known_at: datetime
) -> Any | None:
    """The aggregate's state at `valid_at`, as the service knew it at `known_at`."""
    known = [f for f in facts if f.recorded_at <= known_at]  # 1. recorded by T
    believed = believe(known)  # 2. corrections, retractions
    ordered = order(rules, believed)  # 3. (effectiveAt, version)
    state = None
    for fact in ordered:  # 4. fold those <= V
        if rules.fold_time(fact) <= valid_at:
            state = rules.apply(state, fact)
    return None if state is None else rules.view(state, valid_at)


def states_on(
    rules: FoldRules[Any], facts: Iterable[Fact], day: date, time_zone: str, known_at: datetime
) -> list[Any]:
    """Every distinct state in force at some moment of a calendar day in a time zone, in order.

    Replays at the day's start and at every instant inside the day where anything could change.
    """
    facts = list(facts)
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    candidates = {start}
    for fact in believe(f for f in facts if f.recorded_at <= known_at):
        instant = rules.fold_time(fact)
        candidates.add(instant)
        probe = state_at(rules, facts, instant, known_at)
        if probe is not None:  # clause expiries, scheduled effect: changes without a fact
            candidates.update(rules.breakpoints(probe))
    result: list[Any] = []
    for instant in sorted(c for c in candidates if start <= c < end):
        state = state_at(rules, facts, instant, known_at)
        if state is not None and (not result or result[-1] != state):
            result.append(state)
    return result
