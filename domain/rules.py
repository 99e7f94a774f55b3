"""The shape every aggregate's fold rules take, and the walk that turns facts into versions."""

from __future__ import annotations

import operator
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
        """Instants at which `view` of this state changes without a new fact; a state with
        none is its own view at every instant (the projector relies on it)."""
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
    in the same order keep their states, and so do those that still come last once the walk
    reaches the state it had before them (`refold`); `touched` names the versions the change
    rewrote (a correction's or retraction's target), which never count as the same.
    """
    ordered = order(rules, believed)
    if since is None:
        return refold(rules, None, ordered, 0, 0).fold
    limit = min(len(ordered), len(since.ordered))
    keep = 0
    while keep < limit and _same(ordered[keep], since.ordered[keep], touched):
        keep += 1
    tail = 0
    while tail < limit - keep and _same(ordered[-1 - tail], since.ordered[-1 - tail], touched):
        tail += 1
    return refold(rules, since, ordered, keep, len(ordered) - tail).fold


@dataclass(frozen=True)
class Refolded(Generic[S]):
    """A refold's result: the new fold, and the stretch of it whose states were computed:
    facts [begin, stop) (a group boundary each); before and after it, the states are those
    of the fold it started from (after it, shifted by the facts the change added or took)."""

    fold: Fold[S]
    begin: int
    stop: int


def refold(
    rules: FoldRules[S],
    since: Fold[S] | None,
    ordered: Sequence[Fact],
    changed: int,
    settled: int,
    same: Callable[[S, S], bool] = operator.eq,
    viewed: bool = True,
) -> Refolded[S]:
    """The one incremental fold (the command checks' and the projector's): the fold of
    `ordered` (in fold order), given `since`, the fold before a change.

    `ordered[:changed]` are the facts `since` starts with, and `ordered[settled:]` those it
    ends with (the same facts, in the same order). The walk resumes at the start of the group
    (facts of one fold time) of the fact before `changed`, so that group is viewed up to its
    new end (its facts keep their states), and applies the facts from `changed` on group by
    group as `spans` does (`viewed`: viewing each as `spans` would, which the command checks
    need to refuse what `spans` refuses and a projector of accepted facts need not); at the
    first group boundary in the settled tail where the state is `same` as the one `since` had
    there, the rest would apply the same facts to the same state, so it stops and keeps the
    states `since` has. Without `since`, it folds everything."""
    n = len(ordered)
    begin, offset = 0, 0
    if since is not None:
        offset = len(since.ordered) - n
        begin = changed
        if begin:
            group = rules.fold_time(ordered[begin - 1])
            while begin and rules.fold_time(ordered[begin - 1]) == group:
                begin -= 1
    states = list(since.states[:begin]) if since is not None else []
    state: S | None = states[-1] if states else None
    index, stop = begin, n
    while index < n:
        start = rules.fold_time(ordered[index])
        while index < n and rules.fold_time(ordered[index]) == start:
            if index < changed and since is not None:
                state = since.states[index]  # the same fact after the same state
            else:
                state = apply_checked(rules, state, ordered[index])
            states.append(state)
            index += 1
        assert state is not None
        end = rules.fold_time(ordered[index]) if index < n else None
        if viewed:
            cuts = sorted(
                b for b in set(rules.breakpoints(state)) if b > start and (end is None or b < end)
            )
            for valid_from in (start, *cuts):
                rules.view(state, valid_from)
        if (
            since is not None
            and index < n
            and index >= settled
            and index + offset >= 1
            and same(state, since.states[index + offset - 1])
        ):
            states.extend(since.states[index + offset :])
            stop = index
            break
    return Refolded(Fold(tuple(ordered), tuple(states)), begin, stop)


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
