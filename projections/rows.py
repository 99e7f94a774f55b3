"""Pure projection: an aggregate's facts in, the rows its read models should hold out.

`version_rows` gives the valid-time versions (DESIGN section 2 via `domain.rules.spans`);
`feed_rows` gives one timeline entry per believed fact. The projector diffs these against
the rows that are open now, so the functions here never touch a database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from domain import RULES, Fact, believe, spans
from domain.errors import InvalidInput
from domain.rules import order
from domain.values import Clause, Reference, Source, format_instant

#: Columns of each kind's version table besides the bitemporal frame, from a state.
KINDS = ("policy", "regulatory-action", "statement", "actor")


@dataclass(frozen=True)
class VersionRow:
    """A valid-time version as it should be open now; `key` is what the diff compares."""

    valid_from: datetime
    valid_to: datetime | None
    state: str
    columns: Mapping[str, Any]
    cites: tuple[str, ...]

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.valid_from, self.valid_to, self.state)


@dataclass(frozen=True)
class FeedRow:
    """A believed fact as the timeline feed shows it."""

    position: int
    version: int
    type: str
    effective_at: datetime
    announced_at: datetime
    recorded_at: datetime
    state: str
    tags: tuple[str, ...]

    @property
    def key(self) -> tuple[Any, ...]:
        return (
            self.position,
            self.version,
            self.type,
            self.effective_at,
            self.announced_at,
            self.recorded_at,
            self.state,
        )


def to_json(value: Any) -> Any:
    """A state or value object as JSON-native data (instants as ISO text in UTC)."""
    if isinstance(value, Clause | Source):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Canonical JSON: the same state always gives the same text (the diff compares it)."""
    return json.dumps(to_json(value), sort_keys=True, separators=(",", ":"))


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


def _listed(values: Sequence[str]) -> str:
    """`,a,b,` so that a LIKE '%,a,%' finds a member without a join."""
    return "," + ",".join(values) + "," if values else ","


def _columns(kind: str, state: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The filter columns of a version row and the policies it cites."""
    if kind == "policy":
        scopes = sorted({code for c in state.clauses for code in c.scope})
        return (
            {
                "owner": state.owner,
                "status": state.status,
                "title": state.title,
                "jurisdictions": _listed(scopes),
            },
            (),
        )
    if kind == "regulatory-action":
        return (
            {
                "authority": state.authority,
                "jurisdiction": state.jurisdiction,
                "targets": _listed(state.targets),
                "status": state.status,
            },
            cited_policies(state.in_response_to),
        )
    if kind == "statement":
        return {"actor": state.actor}, cited_policies(state.in_response_to)
    return {"name": state.name}, ()


@lru_cache(maxsize=16_384)
def _state_text(state: Any) -> str:
    """`dumps` of a (frozen, hashable) state: re-folding an aggregate after each event yields
    mostly the states it had before, so this saves most of the serialising."""
    return dumps(state)


def version_rows(kind: str, believed: Sequence[Fact]) -> list[VersionRow]:
    """The valid-time versions of one aggregate's believed history."""
    rows = []
    for span in spans(RULES[kind], believed):
        columns, cites = _columns(kind, span.state)
        rows.append(
            VersionRow(span.valid_from, span.valid_to, _state_text(span.state), columns, cites)
        )
    return rows


def _touched_scopes(before: Any, after: Any, fact: Fact) -> set[str]:
    """Jurisdictions of the clauses a policy fact adds, amends or removes (all, for
    announcements and withdrawals), looked up before and after it."""
    data = fact.data
    if fact.type == "PolicyRevised":
        ids = {c["id"] for c in data.get("add_clauses") or ()}
        ids |= {c["id"] for c in data.get("amend_clauses") or ()}
        ids |= set(data.get("remove_clauses") or ())
    else:
        ids = None
    scopes: set[str] = set()
    for state in (before, after):
        for clause in state.clauses if state is not None else ():
            if ids is None or clause.id in ids:
                scopes.update(clause.scope)
    return scopes


def _feed_state(
    kind: str, slug: str, before: Any, after: Any, fact: Fact
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Summary and the actors, jurisdictions and policies a fact concerns, plus its tags."""
    data = fact.data
    summary = data.get("summary") or data.get("title") or data.get("name") or ""
    actors: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    if kind == "policy":
        actors, policies = (after.owner,), (slug,)
        jurisdictions = tuple(sorted(_touched_scopes(before, after, fact)))
    elif kind == "regulatory-action":
        actors = tuple(dict.fromkeys((after.authority, *after.targets)))
        jurisdictions, policies = (after.jurisdiction,), cited_policies(after.in_response_to)
    elif kind == "statement":
        actors, policies = (after.actor,), cited_policies(after.in_response_to)
    else:
        actors = tuple(a for a in (slug, after.parent) if a)
    state = {
        "summary": summary,
        "actors": list(actors),
        "jurisdictions": list(jurisdictions),
        "policies": list(policies),
    }
    tags = (
        *(f"actor:{a}" for a in actors),
        *(f"jurisdiction:{j}" for j in jurisdictions),
        *(f"policy:{p}" for p in policies),
    )
    return state, tuple(dict.fromkeys(tags))


def feed_rows(
    kind: str, slug: str, believed: Sequence[Fact], positions: Mapping[int, int]
) -> list[FeedRow]:
    """One entry per believed fact, each with what it concerns as of the fold at its time."""
    rules = RULES[kind]
    rows = []
    state: Any = None
    for fact in order(rules, believed):
        before, state = state, rules.apply(state, fact)
        content, tags = _feed_state(kind, slug, before, state, fact)
        effective = fact.effective_at or fact.recorded_at
        rows.append(
            FeedRow(
                position=positions[fact.version],
                version=fact.version,
                type=fact.type,
                effective_at=effective.astimezone(UTC),
                announced_at=(fact.announced_at or effective).astimezone(UTC),
                recorded_at=fact.recorded_at.astimezone(UTC),
                state=json.dumps(content, sort_keys=True, separators=(",", ":")),
                tags=tags,
            )
        )
    return rows


def believed_rows(
    kind: str, slug: str, known: Sequence[Fact], positions: Mapping[int, int]
) -> tuple[list[VersionRow], list[FeedRow]]:
    """Both sets of rows for an aggregate's facts known now."""
    believed = believe(known)
    return version_rows(kind, believed), feed_rows(kind, slug, believed, positions)
