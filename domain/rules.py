"""The shape every aggregate's fold rules take, and the walk that turns facts into versions."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from domain.errors import InvalidInput, UnfoldableHistory
from domain.facts import Fact

S = TypeVar("S")
K = TypeVar("K", bound=Hashable)


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
class Fold(Generic[S]):
    """A believed history folded step by step: its facts in fold order, each with the state
    after it. A later change refolds only from the first fact it moves (`refold`); a fact that
    sorts after all of them applies to the last state alone (`extend`)."""

    ordered: tuple[Fact, ...]
    states: tuple[S, ...]

    @property
    def state(self) -> S:
        """The state after the last fact."""
        return self.states[-1]

    def recorded(self, candidate: Fact, stored: Fact) -> Fold[S]:
        """This fold with the fact a command checked replaced by the fact it stored (the same
        but for recordedAt, which no rule reads), so later folds recognise it as the same."""
        ordered = tuple(stored if fact is candidate else fact for fact in self.ordered)
        return Fold(ordered, self.states)


def fold(
    rules: FoldRules[S],
    believed: Sequence[Fact],
    since: Fold[S] | None = None,
    touched: Collection[int] = (),
) -> Fold[S]:
    """Walk the believed history exactly as `spans` does, making the same calls
    in the same order, so that it refuses exactly what `spans` refuses.

    With `since` (a fold of this history before a change), the facts that still come first
    in the same order keep their states; `touched` names the versions the change rewrote (a
    correction's or retraction's target), which never count as the same. The walk resumes
    at the start of the group (facts of one fold time) before the first moved fact, so every
    group from there is viewed up to its new end as `spans` would.
    """
    ordered = order(rules, believed)
    keep = 0
    if since is not None:
        limit = min(len(ordered), len(since.ordered))
        while keep < limit and _same(ordered[keep], since.ordered[keep], touched):
            keep += 1
        if keep:
            group = rules.fold_time(ordered[keep - 1])
            while keep and rules.fold_time(ordered[keep - 1]) == group:
                keep -= 1
    states = list(since.states[:keep]) if since is not None else []
    state: S | None = states[-1] if states else None
    index = keep
    while index < len(ordered):
        start = rules.fold_time(ordered[index])
        while index < len(ordered) and rules.fold_time(ordered[index]) == start:
            state = apply_checked(rules, state, ordered[index])
            states.append(state)
            index += 1
        assert state is not None
        end = rules.fold_time(ordered[index]) if index < len(ordered) else None
        cuts = sorted(
            b for b in set(rules.breakpoints(state)) if b > start and (end is None or b < end)
        )
        for valid_from in (start, *cuts):
            rules.view(state, valid_from)
    return Fold(tuple(ordered), tuple(states))


def _same(fact: Fact, before: Fact, touched: Collection[int]) -> bool:
    """Whether a believed fact is the one folded before: the same object, or (a corrected
    fact, rebuilt by every `believe`) an equal one whose corrections did not change."""
    return fact is before or (fact.version not in touched and fact == before)


def extend(rules: FoldRules[S], folded: Fold[S], fact: Fact) -> Fold[S]:
    """The fold with `fact`, which sorts after every fact folded so far (its fold time is not
    earlier than the last one's, its version is later): the same calls as the last step of
    `fold` (and of `spans`) over the history with `fact`."""
    state = apply_checked(rules, folded.state, fact)
    start = rules.fold_time(fact)
    cuts = sorted(b for b in set(rules.breakpoints(state)) if b > start)
    for valid_from in (start, *cuts):
        rules.view(state, valid_from)
    return Fold((*folded.ordered, fact), (*folded.states, state))


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


def check_no_response_cycle(
    own: K,
    cited: Iterable[tuple[str, K]],
    responses_of: Callable[[K], Iterable[K]],
) -> None:
    """`inResponseTo` forms no loop: a fact may not respond to its own aggregate, nor to one
    that (through its own responses, followed to the end) responds to it. `cited` pairs each
    field with the aggregate it names; `responses_of` gives what an aggregate responds to.
    Raises InvalidInput naming the first field that closes a loop."""
    for field, target in cited:
        if target == own:
            raise InvalidInput(field, "a fact cannot respond to itself (its own aggregate)")
        seen, frontier = {target}, [target]
        while frontier:
            for nxt in responses_of(frontier.pop()):
                if nxt == own:
                    raise InvalidInput(
                        field,
                        "this response would close a cycle: what it cites responds, "
                        "directly or through others, to this fact",
                    )
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
