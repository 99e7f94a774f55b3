"""What a fact concerns: its actors, jurisdictions and policies. The one rule behind the
timeline feed's filters (`actor`, `jurisdiction`, `policy`) and every event stream's
(`actors`, `jurisdictions`: GraphQL events and subscription, SSE, NDJSON, webhooks).

The rule: a fact concerns
- the actors of its aggregate as it stands after the fact (a policy's owner, an action's
  authority and targets, a statement's author, an actor itself and its parent);
- the jurisdictions it touches: an action's jurisdiction; for a policy, the scopes of the
  clauses it adds, amends or removes, as they were before it and after it (every clause, for
  an announcement or a withdrawal). A revision that only adds a UA clause does not concern
  RU, even if the policy once had an RU clause;
- the policies it is about: a policy's own slug, the policies an action or statement cites.

A correction or retraction concerns what its target concerned just before it and just
after it (nothing, once retracted): unfolding "what changed" on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidInput
from domain.facts import META_TYPES, Fact, believe
from domain.rules import order
from domain.values import Reference


def _once(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class Concerns:
    """The actors, jurisdictions and policies one fact concerns, each in order, once."""

    actors: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()

    def __or__(self, other: Concerns) -> Concerns:
        return Concerns(
            _once((*self.actors, *other.actors)),
            _once((*self.jurisdictions, *other.jurisdictions)),
            _once((*self.policies, *other.policies)),
        )


def cited_policies(references: Sequence[str]) -> tuple[str, ...]:
    """Slugs of the policies among `inResponseTo` references, in order, once each."""
    slugs: list[str] = []
    for text in references:
        try:
            ref = Reference.parse("inResponseTo", text)
        except InvalidInput:
            continue
        if ref.kind == "policy" and ref.slug not in slugs:
            slugs.append(ref.slug)
    return tuple(slugs)


def touched_scopes(before: Any, after: Any, fact: Fact) -> tuple[str, ...]:
    """Jurisdictions of the clauses a policy fact adds, amends or removes (all, for
    announcements and withdrawals), looked up before and after it, sorted."""
    data = fact.data
    ids: set[str] | None = None
    if fact.type == "PolicyRevised":
        ids = {c["id"] for c in data.get("add_clauses") or ()}
        ids |= {c["id"] for c in data.get("amend_clauses") or ()}
        ids |= set(data.get("remove_clauses") or ())
    scopes: set[str] = set()
    for state in (before, after):
        for clause in state.clauses if state is not None else ():
            if ids is None or clause.id in ids:
                scopes.update(clause.scope)
    return tuple(sorted(scopes))


_BY_KIND: dict[str, Callable[[str, Any, Any, Fact], Concerns]] = {
    "policy": lambda slug, before, after, fact: Concerns(
        (after.owner,), touched_scopes(before, after, fact), (slug,)
    ),
    "regulatory-action": lambda slug, before, after, fact: Concerns(
        _once((after.authority, *after.targets)),
        (after.jurisdiction,),
        cited_policies(after.in_response_to),
    ),
    "statement": lambda slug, before, after, fact: Concerns(
        (after.actor,), (), cited_policies(after.in_response_to)
    ),
    "actor": lambda slug, before, after, fact: Concerns(
        tuple(a for a in (slug, after.parent) if a), (), ()
    ),
}


def concerns(kind: str, slug: str, before: Any, after: Any, fact: Fact) -> Concerns:
    """What a believed domain fact concerns, given its aggregate's fold state just before
    and just after it (`before` is None for the first)."""
    return _BY_KIND[kind](slug, before, after, fact)


def _in_fold(kind: str, slug: str, believed: Sequence[Fact], version: int) -> Concerns:
    """What the believed fact `version` concerns in the fold of `believed` (nothing if it
    is not believed)."""
    from domain import RULES  # built lazily from the aggregate modules

    rules = RULES[kind]
    state: Any = None
    for fact in order(rules, believed):
        before, state = state, rules.apply(state, fact)
        if fact.version == version:
            return concerns(kind, slug, before, state, fact)
    return Concerns()


def concerns_in_log(kind: str, slug: str, facts: Sequence[Fact]) -> Concerns:
    """What the last of `facts` (an aggregate's stored facts in version order, up to the
    event asked about) concerns, as the log stood when it was recorded: the reference the
    streams' incremental reading is tested against."""
    event = facts[-1]
    if event.type not in META_TYPES:
        return _in_fold(kind, slug, believe(facts), event.version)
    target = int(event.data["target"])
    before = _in_fold(kind, slug, believe(facts[:-1]), target)
    return before | _in_fold(kind, slug, believe(facts), target)
