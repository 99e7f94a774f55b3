"""The shape every aggregate's fold rules take, and the walk that turns facts into versions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from domain.errors import UnfoldableHistory
from domain.facts import Fact

S = TypeVar("S")


class FoldRules(Protocol[S]):
    """How one kind of aggregate folds its facts (DESIGN section 2, step 4)."""

    kind: str

    def fold_time(self, fact: Fact) -> datetime:
        """The instant at which the fact enters the fold (its effectiveAt, for most)."""
        ...

    def apply(self, state: S | None, fact: Fact) -> S:
        """The state after the fact; raises UnfoldableHistory when it does not apply."""
        ...

    def view(self, state: S, valid_at: datetime) -> S:
        """The state as seen at `valid_at` (clauses expired, status moved on)."""
        ...

    def breakpoints(self, state: S) -> Iterable[datetime]:
        """Instants at which `view` of this state changes without a new fact."""
        ...


@dataclass(frozen=True)
class Span(Generic[S]):
    """A state in force over the valid-time interval [valid_from, valid_to)."""

    valid_from: datetime
    valid_to: datetime | None
    state: S


def order(rules: FoldRules[Any], facts: Iterable[Fact]) -> list[Fact]:
    """Step 3 of the fold: facts ordered by (effective time, version)."""
    return sorted(facts, key=lambda f: (rules.fold_time(f), f.version))


def apply_checked(rules: FoldRules[S], state: S | None, fact: Fact) -> S:
    """Apply one fact; the error remembers which fact did not apply."""
    try:
        return rules.apply(state, fact)
    except UnfoldableHistory as error:
        error.fact = fact
        raise


@dataclass(frozen=True)
class FoldEnd(Generic[S]):
    """Where the fold of a believed history ends: the state after its last fact and that
    fact's fold time. A later fact whose fold time is not earlier applies to `state` alone."""

    state: S
    until: datetime


def fold_end(rules: FoldRules[S], believed: Sequence[Fact]) -> FoldEnd[S]:
    """Walk the believed history (non-empty) exactly as `spans` does, making the same calls
    in the same order so that it refuses exactly what `spans` refuses, but keep only where
    the fold ends."""
    ordered = order(rules, believed)
    state: S | None = None
    start = None
    index = 0
    while index < len(ordered):
        start = rules.fold_time(ordered[index])
        while index < len(ordered) and rules.fold_time(ordered[index]) == start:
            state = apply_checked(rules, state, ordered[index])
            index += 1
        assert state is not None
        end = rules.fold_time(ordered[index]) if index < len(ordered) else None
        cuts = sorted(
            b for b in set(rules.breakpoints(state)) if b > start and (end is None or b < end)
        )
        for valid_from in (start, *cuts):
            rules.view(state, valid_from)
    assert state is not None and start is not None
    return FoldEnd(state, start)


def extend(rules: FoldRules[S], end: FoldEnd[S], fact: Fact) -> FoldEnd[S]:
    """The fold's end after `fact`, which sorts after every fact folded so far: the same
    calls as the last step of `fold_end` (and of `spans`) over the history with `fact`."""
    state = apply_checked(rules, end.state, fact)
    start = rules.fold_time(fact)
    cuts = sorted(b for b in set(rules.breakpoints(state)) if b > start)
    for valid_from in (start, *cuts):
        rules.view(state, valid_from)
    return FoldEnd(state, start)


def spans(rules: FoldRules[S], believed: Sequence[Fact]) -> list[Span[S]]:
    """Every valid-time version of the believed history, in order, in one pass.

    This is the fast path the projections store; the oracle in `domain.fold` replays instead.
    """
    ordered = order(rules, believed)
    result: list[Span[S]] = []
    state: S | None = None
    index = 0
    while index < len(ordered):
        start = rules.fold_time(ordered[index])
        while index < len(ordered) and rules.fold_time(ordered[index]) == start:
            state = apply_checked(rules, state, ordered[index])
            index += 1
        assert state is not None
        end = rules.fold_time(ordered[index]) if index < len(ordered) else None
        cuts = sorted(
            b for b in set(rules.breakpoints(state)) if b > start and (end is None or b < end)
        )
        for valid_from, valid_to in zip([start, *cuts], [*cuts, end], strict=True):
            view = rules.view(state, valid_from)
            if result and result[-1].state == view and result[-1].valid_to == valid_from:
                result[-1] = Span(result[-1].valid_from, valid_to, view)
            else:
                result.append(Span(valid_from, valid_to, view))
    return result
