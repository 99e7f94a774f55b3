"""The log as subscribers read it: events with their slug, tags and envelope, and filters.

Shared by the API's fan-out (GraphQL subscription, SSE) and the webhook worker, so that every
way out of the log selects events the same way. A filter criterion on the actor or the
jurisdiction looks at the aggregate as it stood at that event (its facts up to that version),
so whether an event matches never depends on what is recorded later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput
from domain.facts import META_TYPES, Fact
from domain.values import (
    ACTOR_FIELDS,
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
_CLAUSE_FIELDS = ("clauses", "add_clauses", "amend_clauses")


@dataclass(frozen=True)
class Tags:
    """Actors and jurisdictions an aggregate involves, as of one of its versions."""

    actors: frozenset[str] = frozenset()
    jurisdictions: frozenset[str] = frozenset()

    def with_fact(self, fact: Fact) -> Tags:
        actors, jurisdictions = set(self.actors), set(self.jurisdictions)
        for data in (fact.data, fact.data.get("changes") or {}):
            _collect(data, actors, jurisdictions)
        return Tags(frozenset(actors), frozenset(jurisdictions))


def _collect(data: Mapping[str, Any], actors: set[str], jurisdictions: set[str]) -> None:
    for name in ACTOR_FIELDS:
        if isinstance(data.get(name), str):
            actors.add(data[name])
    actors.update(t for t in data.get("targets") or () if isinstance(t, str))
    if isinstance(data.get("jurisdiction"), str):
        jurisdictions.add(data["jurisdiction"])
    for name in _CLAUSE_FIELDS:
        for clause in data.get(name) or ():
            if isinstance(clause, Mapping):
                jurisdictions.update(clause.get("scope") or ())


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
        self._tags: dict[UUID, tuple[int, Tags]] = {}

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
        """Tags of the aggregate through `fact`'s version: extended when the reader saw the
        version before, else folded from the aggregate's stored facts (once per aggregate
        for a reader that reads in order)."""
        version, tags = self._tags.get(fact.aggregate_id, (0, Tags()))
        if version == fact.version - 1:
            tags = tags.with_fact(fact)
        else:
            tags = Tags()
            for earlier in self.timeline.facts_of(kind, slug):
                if earlier.version > fact.version:
                    break
                tags = tags.with_fact(earlier)
        self._tags[fact.aggregate_id] = (fact.version, tags)
        return tags
