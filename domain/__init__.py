"""The domain: aggregates, events, value objects and the oracle fold.

Pure: it imports only the standard library and eventsourcing. The names below are imported
on first use (PEP 562), so that `domain.values` or `domain.errors` alone does not load every
aggregate and eventsourcing: the CLI's point-in-time commands start without them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from domain.actor import Actor, ActorRules, ActorState
    from domain.aggregate import TimelineAggregate
    from domain.errors import (
        AlreadyExists,
        InvalidInput,
        InvalidRevision,
        NotFound,
        NothingChanged,
        TimelineError,
        UnfoldableHistory,
        VersionConflict,
    )
    from domain.facts import Fact, believe
    from domain.policy import Policy, PolicyRules, PolicyState
    from domain.regulatory import RegulatoryAction, RegulatoryActionState, RegulatoryRules
    from domain.rules import FoldRules, Span, spans
    from domain.statement import Statement, StatementRules, StatementState
    from domain.values import Clause, Reference, Source, aggregate_uuid

    #: Aggregate classes by kind, as used in references (`policy:meta/hate-speech`).
    AGGREGATES: dict[str, type[TimelineAggregate]]
    #: The aggregate kind of every event class, for reading the log.
    EVENT_KINDS: dict[type, str]
    #: Fold rules by kind.
    RULES: dict[str, FoldRules]  # type: ignore[type-arg]

#: The module of each public name, imported when the name is first asked for.
_HOMES = {
    "Actor": "domain.actor",
    "ActorRules": "domain.actor",
    "ActorState": "domain.actor",
    "TimelineAggregate": "domain.aggregate",
    "AlreadyExists": "domain.errors",
    "InvalidInput": "domain.errors",
    "InvalidRevision": "domain.errors",
    "NotFound": "domain.errors",
    "NothingChanged": "domain.errors",
    "TimelineError": "domain.errors",
    "UnfoldableHistory": "domain.errors",
    "VersionConflict": "domain.errors",
    "Fact": "domain.facts",
    "believe": "domain.facts",
    "Policy": "domain.policy",
    "PolicyRules": "domain.policy",
    "PolicyState": "domain.policy",
    "RegulatoryAction": "domain.regulatory",
    "RegulatoryActionState": "domain.regulatory",
    "RegulatoryRules": "domain.regulatory",
    "FoldRules": "domain.rules",
    "Span": "domain.rules",
    "spans": "domain.rules",
    "Statement": "domain.statement",
    "StatementRules": "domain.statement",
    "StatementState": "domain.statement",
    "Clause": "domain.values",
    "Reference": "domain.values",
    "Source": "domain.values",
    "aggregate_uuid": "domain.values",
}


def _by_kind() -> dict[str, Any]:
    """AGGREGATES, EVENT_KINDS and RULES, built from the aggregate classes."""
    from domain.actor import Actor
    from domain.aggregate import TimelineAggregate
    from domain.policy import Policy
    from domain.regulatory import RegulatoryAction
    from domain.statement import Statement

    aggregates: dict[str, type[TimelineAggregate]] = {
        cls.KIND: cls for cls in (Policy, RegulatoryAction, Statement, Actor)
    }
    event_kinds: dict[type, str] = {
        value: kind
        for kind, cls in aggregates.items()
        for value in vars(cls).values()
        if isinstance(value, type)
        and issubclass(value, (TimelineAggregate.Event, TimelineAggregate.Created))
    }
    rules = {kind: cls.RULES for kind, cls in aggregates.items()}
    return {"AGGREGATES": aggregates, "EVENT_KINDS": event_kinds, "RULES": rules}


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it (later lookups are plain globals)."""
    if name in _HOMES:
        globals()[name] = getattr(import_module(_HOMES[name]), name)
    elif name in ("AGGREGATES", "EVENT_KINDS", "RULES"):
        globals().update(_by_kind())
    else:
        raise AttributeError(f"module 'domain' has no attribute {name!r}")
    return globals()[name]


__all__ = [
    "AGGREGATES",
    "EVENT_KINDS",
    "RULES",
    "Actor",
    "ActorRules",
    "ActorState",
    "AlreadyExists",
    "Clause",
    "Fact",
    "FoldRules",
    "InvalidInput",
    "InvalidRevision",
    "NotFound",
    "NothingChanged",
    "Policy",
    "PolicyRules",
    "PolicyState",
    "Reference",
    "RegulatoryAction",
    "RegulatoryActionState",
    "RegulatoryRules",
    "Source",
    "Span",
    "Statement",
    "StatementRules",
    "StatementState",
    "TimelineAggregate",
    "TimelineError",
    "UnfoldableHistory",
    "VersionConflict",
    "aggregate_uuid",
    "believe",
    "spans",
]
