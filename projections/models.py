"""What the read queries return: plain frozen dataclasses, shared by GraphQL, REST and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, overload

from domain.facts import Correction
from domain.feed import ANNOUNCEMENT
from domain.values import Clause, Source

T = TypeVar("T")


class Deferred(Protocol):
    """A version's corrections not loaded yet: what `load` reads (once) when asked
    (`projections.queries.Deferred`: the aggregate, the version's valid_from and the log
    position its lookup answered at, so that the list is the lookup's, not a later one's)."""

    def load(self) -> tuple[Correction, ...]: ...


class _Corrections:
    """`PolicyVersion.corrected_by` as a data descriptor: it holds the tuple itself or a
    `Deferred`, which the first read loads and replaces (the corrections of every fact
    folded into a version grow with its history: a lookup that does not show them does not
    read them). Every read (equality, hash, repr, `dataclasses.replace`, pickling) sees the
    tuple, so a deferred version behaves exactly as one built with its list."""

    name = "corrected_by"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> tuple[Correction, ...]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> tuple[Correction, ...]: ...
    def __get__(self, instance: object | None, owner: type) -> tuple[Correction, ...]:
        if instance is None:  # the dataclass's default
            return ()
        found = instance.__dict__[self.name]
        if not isinstance(found, tuple):
            found = instance.__dict__[self.name] = found.load()
        return found  # type: ignore[no-any-return]

    def __set__(self, instance: object, value: tuple[Correction, ...] | Deferred) -> None:
        # (only the dataclass's __init__ gets here: a frozen instance refuses assignment)
        instance.__dict__[self.name] = value


def pending(version: PolicyVersion) -> bool:
    """Whether the version's corrections are still to be loaded (a database read)."""
    return not isinstance(version.__dict__.get("corrected_by"), tuple)


@dataclass(frozen=True)
class PolicyVersion:
    """A policy as in force over [valid_from, valid_to), as known over [known_from, known_to)."""

    slug: str
    title: str
    owner: str
    summary: str
    status: str  # ACTIVE | WITHDRAWN
    clauses: tuple[Clause, ...]
    sources: tuple[Source, ...]
    revision: int  # how many facts are folded into this version
    changed_by: int  # aggregate version of the event that made this version
    change_type: str  # its type, e.g. PolicyRevised
    valid_from: datetime
    valid_to: datetime | None
    known_from: datetime
    known_to: datetime | None
    aggregate_version: int  # stream version at the query's knownAt (expectedVersion)
    #: The corrections of the facts folded into it, in fold order (a tuple, or a `Deferred`
    #: loaded on first read).
    corrected_by: _Corrections = _Corrections()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with its corrections loaded (a `Deferred` holds an engine)."""
        return {**self.__dict__, "corrected_by": self.corrected_by}

    @property
    def text(self) -> str:
        return "\n\n".join(f"{c.heading}\n{c.text}" if c.heading else c.text for c in self.clauses)


@dataclass(frozen=True)
class ClauseChange:
    """One clause compared between two valid-time instants."""

    id: str
    change: str  # ADDED | REMOVED | CHANGED | UNCHANGED
    before: Clause | None
    after: Clause | None


@dataclass(frozen=True)
class PolicyDiff:
    """Clause-level difference of a policy between two valid-time instants."""

    slug: str
    before: PolicyVersion | None
    after: PolicyVersion | None
    clauses: tuple[ClauseChange, ...]


@dataclass(frozen=True)
class RegulatoryActionVersion:
    """A regulatory action as seen over [valid_from, valid_to) and [known_from, known_to)."""

    slug: str
    authority: str
    jurisdiction: str
    targets: tuple[str, ...]
    kind: str
    summary: str
    text: str
    in_response_to: tuple[str, ...]  # references such as policy:meta/hate-speech
    sources: tuple[Source, ...]
    announced_at: datetime
    in_effect_from: datetime
    lifted_at: datetime | None
    status: str  # ANNOUNCED | IN_EFFECT | LIFTED
    revision: int
    changed_by: int
    change_type: str
    valid_from: datetime
    valid_to: datetime | None
    known_from: datetime
    known_to: datetime | None
    corrected_by: tuple[Correction, ...] = ()


@dataclass(frozen=True)
class StatementVersion:
    slug: str
    actor: str
    kind: str
    summary: str
    text: str
    in_response_to: tuple[str, ...]
    sources: tuple[Source, ...]
    made_at: datetime
    known_from: datetime
    known_to: datetime | None
    corrected_by: tuple[Correction, ...] = ()


@dataclass(frozen=True)
class Redaction:
    """A redaction of one of an aggregate's events: which, why, and the fields it erased."""

    event: str  # the redaction's reference, kind:slug@version (what the erased texts name)
    target: str  # the redacted event's reference
    reason: str
    fields: tuple[str, ...]
    recorded_at: datetime


@dataclass(frozen=True)
class ActorVersion:
    slug: str
    name: str
    kind: str
    parent: str | None
    former_names: tuple[str, ...]
    valid_from: datetime
    valid_to: datetime | None
    known_from: datetime
    known_to: datetime | None
    corrected_by: tuple[Correction, ...] = ()


@dataclass(frozen=True)
class TimelineEntry:
    """One fact in the cross-aggregate feed, as believed at the query's knownAt."""

    position: int  # global log position of the event
    kind: str  # policy | regulatory-action | statement | actor
    slug: str
    version: int  # aggregate version of the event
    type: str  # PolicyRevised, RegulatoryActionAnnounced, ...
    effective_at: datetime
    announced_at: datetime
    recorded_at: datetime
    summary: str
    actors: tuple[str, ...]  # owner / authority / targets / actor slugs involved
    jurisdictions: tuple[str, ...]
    policies: tuple[str, ...]  # policy slugs concerned (own slug or inResponseTo)
    known_from: datetime
    known_to: datetime | None
    #: What the entry marks (domain.feed): ANNOUNCEMENT at announcedAt, else the effect.
    entry_kind: str = "OCCURRENCE"
    #: Where the entry stands on the timeline: announcedAt for an ANNOUNCEMENT, else
    #: effectiveAt (None: read from the table without the feed's union, = effectiveAt).
    at: datetime | None = None

    def feed_key(self) -> list[Any]:
        """The feed's sort key, which its cursors encode: (instant, position, announcement
        first)."""
        slot = 0 if self.entry_kind == ANNOUNCEMENT else 1
        return [self.at or self.effective_at, self.position, slot]


@dataclass(frozen=True)
class Page(Generic[T]):
    """A page of a connection: items, the opaque cursor after the last one, and whether more."""

    items: tuple[T, ...]
    end_cursor: str | None
    has_next_page: bool
    start_cursor: str | None = None
    total_count: int | None = field(default=None)
