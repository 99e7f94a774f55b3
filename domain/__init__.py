"""The domain: aggregates, events, value objects and the oracle fold.

Pure: it imports only the standard library and eventsourcing.
"""

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
AGGREGATES: dict[str, type[TimelineAggregate]] = {
    cls.KIND: cls for cls in (Policy, RegulatoryAction, Statement, Actor)
}
#: The aggregate kind of every event class, for reading the log.
EVENT_KINDS: dict[type, str] = {
    value: kind
    for kind, cls in AGGREGATES.items()
    for value in vars(cls).values()
    if isinstance(value, type)
    and issubclass(value, (TimelineAggregate.Event, TimelineAggregate.Created))
}
#: Fold rules by kind.
RULES: dict[str, FoldRules] = {kind: cls.RULES for kind, cls in AGGREGATES.items()}  # type: ignore[type-arg]

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
