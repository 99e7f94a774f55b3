"""The log as subscribers read it: events with their slug, tags and envelope, and filters.

Shared by the API's fan-out (GraphQL subscription, SSE) and the webhook worker, so that every
way out of the log selects events the same way. A filter criterion on the actor or the
jurisdiction looks at the aggregate as it stood at that event (its facts up to that version),
so whether an event matches never depends on what is recorded later. What an event concerns
is the domain's one rule (`domain.concerns`), the timeline feed's too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from uuid import UUID

from domain import RULES
from domain.concerns import Concerns, concerns, concerns_in_log
from domain.errors import InvalidInput
from domain.facts import META_TYPES, Fact, believe
from domain.rules import order
from domain.values import (
    AGGREGATE_KINDS,
    Reference,
    check_slug,
    filter_jurisdiction,
)
from timeline.application import LoggedFact, Timeline
from timeline.commands import COMMAND_FOR_EVENT
from timeline.store import stream_names
from timeline.streams.cloudevents import TYPE_PREFIX, to_cloudevent

#: Every event type the log can hold: what a filter's `types` may name.
EVENT_TYPES = frozenset(COMMAND_FOR_EVENT) | META_TYPES


@dataclass(frozen=True)
class Tags:
    """The actors and jurisdictions an event concerns (`domain.concerns`, the feed's rule)."""

    actors: frozenset[str] = frozenset()
    jurisdictions: frozenset[str] = frozenset()

    @classmethod
    def of(cls, found: Concerns) -> Tags:
        return cls(frozenset(found.actors), frozenset(found.jurisdictions))


@dataclass(frozen=True)
class _Fold:
    """Where a reader's fold of one aggregate stands: after `version`, in `state`, the last
    fact in fold order keyed `last` (None: nothing believed)."""

    version: int = 0
    state: Any = None
    last: tuple[datetime, int] | None = None


def _fold_end(kind: str, facts: Sequence[Fact]) -> _Fold:
    """The fold of every believed fact among `facts` (stored facts in version order)."""
    rules = RULES[kind]
    state: Any = None
    ordered = order(rules, believe(facts))
    for fact in ordered:
        state = rules.apply(state, fact)
    last = (rules.fold_time(ordered[-1]), ordered[-1].version) if ordered else None
    return _Fold(facts[-1].version if facts else 0, state, last)


@dataclass(frozen=True)
class StreamEvent:
    """One logged event ready to hand out: cursor, names, tags and its CloudEvent envelope."""

    position: int
    kind: str
    slug: str
    fact: Fact
    tags: Tags = field(default_factory=Tags)
    #: What each way out made of this event (the GraphQL object, ...), made once however
    #: many subscribers receive the same event from the fan-out.
    renderings: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def logged(self) -> LoggedFact:
        return LoggedFact(self.position, self.kind, self.fact)

    @property
    def reference(self) -> str:
        """`kind:slug@version`: the event's id everywhere (GraphQL, CloudEvents, webhooks)."""
        return f"{self.kind}:{self.slug}@{self.fact.version}"

    @cached_property
    def cloudevent(self) -> dict[str, Any]:
        return to_cloudevent(self.logged, self.slug)

    @cached_property
    def cloudevent_json(self) -> str:
        """The envelope serialised once, however many subscribers receive it."""
        return json.dumps(self.cloudevent, separators=(",", ":"), ensure_ascii=False)


def check_type(field: str, name: str) -> str:
    """An event type, with or without the CloudEvents prefix; an unknown one is refused (as
    an unknown jurisdiction is), since a filter naming it would silently select nothing."""
    bare = name.removeprefix(TYPE_PREFIX) if isinstance(name, str) else name
    if bare not in EVENT_TYPES:
        shown = repr(name) if isinstance(name, str) and len(name) <= 100 else "this value"
        raise InvalidInput(
            field, f"{shown} is not an event type (types: {', '.join(sorted(EVENT_TYPES))})"
        )
    return str(bare)


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscriber wants: every non-empty criterion must hold (AND); within a
    criterion any value may match (OR). The empty filter selects every event."""

    aggregates: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    actors: frozenset[str] = frozenset()
    jurisdictions: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        aggregates: Iterable[str] = (),
        types: Iterable[str] = (),
        actors: Iterable[str] = (),
        jurisdictions: Iterable[str] = (),
        kinds: Iterable[str] = (),
    ) -> EventFilter:
        """Validate and normalise: aggregates as `kind:slug` or a bare slug, types with or
        without the CloudEvents prefix, actor slugs, ISO 3166 codes, aggregate kinds."""
        for index, kind in enumerate(kinds):
            if kind not in AGGREGATE_KINDS:
                raise InvalidInput(
                    f"filter.kind[{index}]", f"{kind!r} is not one of {', '.join(AGGREGATE_KINDS)}"
                )
        aggs = set()
        for index, text in enumerate(aggregates):
            name = f"filter.aggregate[{index}]"
            aggs.add(
                str(Reference.parse(name, text).aggregate)
                if ":" in text
                else check_slug(name, text)
            )
        return cls(
            aggregates=frozenset(aggs),
            types=frozenset(check_type(f"filter.type[{i}]", t) for i, t in enumerate(types)),
            actors=frozenset(check_slug(f"filter.actor[{i}]", a) for i, a in enumerate(actors)),
            jurisdictions=frozenset(
                filter_jurisdiction(f"filter.jurisdiction[{i}]", j)
                for i, j in enumerate(jurisdictions)
            ),
            kinds=frozenset(kinds),
        )

    @classmethod
    def parse(cls, options: Sequence[str]) -> EventFilter:
        """From `name=value` options (CLI `--filter`), names aggregate, type, actor,
        jurisdiction, kind; a name may repeat or list values separated by commas."""
        values: dict[str, list[str]] = {
            "aggregate": [],
            "type": [],
            "actor": [],
            "jurisdiction": [],
            "kind": [],
        }
        for option in options:
            name, sep, value = option.partition("=")
            if not sep or name.strip() not in values or not value.strip():
                raise InvalidInput(
                    "filter", f"{option!r} is not name=value with a name of {', '.join(values)}"
                )
            values[name.strip()] += [v.strip() for v in value.split(",") if v.strip()]
        return cls.build(
            values["aggregate"],
            values["type"],
            values["actor"],
            values["jurisdiction"],
            values["kind"],
        )

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "aggregates": sorted(self.aggregates),
            "types": sorted(self.types),
            "actors": sorted(self.actors),
            "jurisdictions": sorted(self.jurisdictions),
            "kinds": sorted(self.kinds),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[str]]) -> EventFilter:
        return cls(
            **{
                k: frozenset(data.get(k) or ())
                for k in ("aggregates", "types", "actors", "jurisdictions", "kinds")
            }
        )

    @property
    def needs_tags(self) -> bool:
        """Whether matching looks at the aggregate's actors and jurisdictions."""
        return bool(self.actors or self.jurisdictions)

    @property
    def selects_all(self) -> bool:
        return not (
            self.aggregates or self.types or self.actors or self.jurisdictions or self.kinds
        )

    def __str__(self) -> str:
        parts = [
            f"{name[:-1]}={value}" for name, values in self.to_dict().items() for value in values
        ]
        return " ".join(parts) or "(all events)"

    def matches(self, event: StreamEvent) -> bool:
        if self.kinds and event.kind not in self.kinds:
            return False
        if self.aggregates and not ({event.slug, f"{event.kind}:{event.slug}"} & self.aggregates):
            return False
        if self.types and event.fact.type not in self.types:
            return False
        actors = event.tags.actors | ({event.slug} if event.kind == "actor" else set())
        if self.actors and not actors & self.actors:
            return False
        return not (self.jurisdictions and not event.tags.jurisdictions & self.jurisdictions)


class EventReader:
    """Reads pages of the log as StreamEvents, caching names and (when `tags`) each
    aggregate's latest tags. One per reading task (not shared between threads)."""

    def __init__(self, timeline: Timeline, tags: bool = True) -> None:
        self.timeline = timeline
        self.tags = tags
        self._names: dict[UUID, tuple[str, str]] = {}
        self._folds: dict[UUID, _Fold] = {}

    def read(self, after: int, limit: int = 500, stop: int | None = None) -> list[StreamEvent]:
        """Events with position > `after` (and <= `stop`), in log order."""
        page = self.timeline.log(after, limit, stop=stop)
        missing = {f.fact.aggregate_id for f in page} - self._names.keys()
        if missing:
            self._names.update(stream_names(self.timeline.engine, missing))
        events = []
        for logged in page:
            fact = logged.fact
            kind, slug = self._names.get(fact.aggregate_id, (logged.kind, str(fact.aggregate_id)))
            tags = self._tags_at(kind, slug, fact) if self.tags else Tags()
            events.append(StreamEvent(logged.position, kind, slug, fact, tags))
        return events

    def _tags_at(self, kind: str, slug: str, fact: Fact) -> Tags:
        """What the event concerns as the log stood when it was recorded (the domain's rule,
        `concerns_in_log`), folding each aggregate as the reader goes: a fact that enters the
        fold after every earlier one applies to the cached state; anything else (a
        retroactive fact, a correction or retraction, a version the reader did not see just
        before) refolds the aggregate's stored facts up to it."""
        rules = RULES[kind]
        at = self._folds.get(fact.aggregate_id, _Fold())
        key = None if fact.type in META_TYPES else (rules.fold_time(fact), fact.version)
        if (
            key is not None
            and at.version == fact.version - 1
            and (at.last is None or key > at.last)
        ):
            after = rules.apply(at.state, fact)
            found = concerns(kind, slug, at.state, after, fact)
            self._folds[fact.aggregate_id] = _Fold(fact.version, after, key)
        else:
            facts = [f for f in self.timeline.facts_of(kind, slug) if f.version <= fact.version]
            found = concerns_in_log(kind, slug, facts)
            self._folds[fact.aggregate_id] = _fold_end(kind, facts)
        return Tags.of(found)
