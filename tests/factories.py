"""Factories for commands (camelCase dicts, as clients send them) and for facts.

Other tests may import these: `actor(...)`, `policy(...)`, `revision(...)`, `action(...)`,
`statement(...)`, `correction(...)`, `retraction(...)`, `world(timeline)` for a registered
cast, and `in_memory(commands)` / `as_recorded(...)` to build facts without a database, and
`deep_history_projected(url, revisions, seed)` for one long policy history, projected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain import Actor, Fact, Policy, RegulatoryAction, Statement, TimelineAggregate
from timeline import commands as c
from timeline.application import Timeline
from timeline.settings import Settings
from timeline.validation import validate

if TYPE_CHECKING:
    from timeline.bootstrap import Services

BASE = "2022-01-01T00:00:00+00:00"


def at(text: str) -> datetime:
    """An instant from ISO 8601 text with an offset."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, "factories take instants with an offset"
    return value


def source(url: str = "https://example.org/report", **extra: Any) -> dict[str, Any]:
    return {"url": url, "title": "A report", "publisher": "Example", **extra}


def actor(
    slug: str = "acme",
    name: str = "Acme Corp",
    kind: str = "organisation",
    effective_at: str = "2021-01-01T00:00:00+00:00",
    **extra: Any,
) -> dict[str, Any]:
    return {"id": slug, "name": name, "kind": kind, "effectiveAt": effective_at, **extra}


def clause(clause_id: str = "c1", text: str = "Be kind.", **extra: Any) -> dict[str, Any]:
    return {"id": clause_id, "heading": clause_id.upper(), "text": text, **extra}


def policy(
    slug: str = "acme/conduct",
    owner: str = "acme",
    effective_at: str = BASE,
    clauses: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": slug,
        "title": "Code of conduct",
        "owner": owner,
        "clauses": clauses if clauses is not None else [clause()],
        "effectiveAt": effective_at,
        "sources": [source()],
        **extra,
    }


def revision(
    slug: str = "acme/conduct", effective_at: str = "2022-02-01T00:00:00+00:00", **changes: Any
) -> dict[str, Any]:
    """A revision; pass addClauses / amendClauses / removeClauses / title as keywords."""
    if not any(k in changes for k in ("addClauses", "amendClauses", "removeClauses", "title")):
        changes["amendClauses"] = [{"id": "c1", "text": "Be kind, always."}]
    return {"id": slug, "effectiveAt": effective_at, **changes}


def action(
    slug: str = "regulator/fine",
    authority: str = "regulator",
    jurisdiction: str = "RU",
    kind: str = "restriction",
    effective_at: str = "2022-03-14T00:00:00+03:00",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": slug,
        "authority": authority,
        "jurisdiction": jurisdiction,
        "kind": kind,
        "targets": ["acme"],
        "summary": "A measure",
        "effectiveAt": effective_at,
        **extra,
    }


def statement(
    slug: str = "spokesperson/reply",
    actor_slug: str = "spokesperson",
    effective_at: str = "2022-03-11T15:30:00-08:00",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": slug,
        "actor": actor_slug,
        "text": "We disagree.",
        "effectiveAt": effective_at,
        **extra,
    }


def correction(event: str, reason: str = "a better source", **changes: Any) -> dict[str, Any]:
    return {"event": event, "changes": changes, "reason": reason, "sources": [source()]}


def retraction(event: str, reason: str = "recorded in error") -> dict[str, Any]:
    return {"event": event, "reason": reason}


def world(timeline: Timeline) -> None:
    """Register the cast the factories name: acme, regulator, spokesperson."""
    timeline.register_actor(actor())
    timeline.register_actor(actor("regulator", "The Regulator", "authority"))
    timeline.register_actor(actor("spokesperson", "A Spokesperson", "person", parent="acme"))


# -- facts without a database ----------------------------------------------------------------

_STARTS = {
    "registerActor": (Actor, Actor.register),
    "announcePolicy": (Policy, Policy.announce),
    "announceRegulatoryAction": (RegulatoryAction, RegulatoryAction.announce),
    "recordStatement": (Statement, Statement.record_statement),
}
_CHANGES = {
    "renameActor": ("actor", "rename"),
    "revisePolicy": ("policy", "revise"),
    "withdrawPolicy": ("policy", "withdraw"),
    "amendRegulatoryAction": ("regulatory-action", "amend"),
    "liftRegulatoryAction": ("regulatory-action", "lift"),
}


def in_memory(
    commands: Iterable[tuple[str, Mapping[str, Any]]],
) -> dict[tuple[str, str], TimelineAggregate]:
    """Run commands on the domain aggregates alone (no store, no reference checks).

    Returns the aggregates by (kind, slug); their `facts` are what the oracle folds.
    """
    aggregates: dict[tuple[str, str], TimelineAggregate] = {}
    for name, data in commands:
        cmd = validate(c.COMMANDS[name], dict(data))
        assert isinstance(cmd, c.Timed), f"in_memory runs fact commands only, not {name}"
        slug = data["id"]
        if name in _STARTS:
            cls, start = _STARTS[name]
            aggregates[(cls.KIND, slug)] = start(slug, **cmd.payload())
        else:
            kind, method = _CHANGES[name]
            getattr(aggregates[(kind, slug)], method)(**cmd.payload())
    return aggregates


def as_recorded(facts: Iterable[Fact], stamps: Mapping[int, str] | None = None) -> list[Fact]:
    """The facts as if recorded live: each at its announcedAt, unless `stamps` gives the
    recordedAt (ISO text) for its version; corrections and retractions need a stamp."""
    stamps = stamps or {}
    result = []
    for fact in facts:
        if fact.version in stamps:
            recorded = at(stamps[fact.version])
        else:
            assert not fact.is_meta, f"give event {fact.version} ({fact.type}) a stamp"
            assert fact.announced_at is not None
            recorded = fact.announced_at
        result.append(replace(fact, recorded_at=recorded))
    return result


@contextmanager
def deep_history_projected(database_url: str, revisions: int, seed: int) -> Iterator[Timeline]:
    """One policy with `revisions` revisions (bench figure 7's mix of retroactive ones and
    corrections), loaded through the command path and projected."""
    from bench.deep import DeepHistory
    from projections.runner import ProjectionRunner

    app = Timeline(Settings(database_url=database_url))
    try:
        for name, data in DeepHistory(revisions, seed=seed).commands():
            app.execute(name, data)
        ProjectionRunner(app.engine, app).catch_up()
        yield app
    finally:
        app.close()


@contextmanager
def services_projected(database_url: str, load: Callable[[Timeline], object]) -> Iterator[Services]:
    """The bootstrapped services on `database_url`, with what `load` records projected."""
    from timeline.bootstrap import bootstrap

    with closing(bootstrap(Settings(database_url=database_url))) as built:
        load(built.timeline)
        built.projections.catch_up()
        yield built
