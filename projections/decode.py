"""Rows back into the read models' dataclasses, and the opaque keyset cursors of pages."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from domain.errors import InvalidInput
from domain.values import Clause, Source, require_aware
from projections.models import (
    ActorVersion,
    PolicyVersion,
    RegulatoryActionVersion,
    StatementVersion,
    TimelineEntry,
)


def instant(field: str, value: datetime | None) -> datetime:
    """A query instant in UTC; None means now; an instant without an offset is refused."""
    return datetime.now(UTC) if value is None else require_aware(field, value)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _frame(row: Any) -> dict[str, Any]:
    """The record-time interval as the query's knownAt saw it: every row answering knownAt T
    is still open at T, so `known_to` is None. Showing a later close would leak what was
    recorded after T and make a past answer change."""
    return {"known_from": row.known_from, "known_to": None}


#: Decoded clause and source texts by content address. A ref always names the same text,
#: in any database, so an entry never goes stale; the dict is only bounded.
_VALUES: dict[str, Clause | Source] = {}
_VALUES_MAX = 50_000


def missing_refs(states: Sequence[Mapping[str, Any]]) -> set[str]:
    """The refs of these policy states' clauses and sources not decoded yet."""
    found: set[str] = set()
    for s in states:
        found.update(c["ref"] for c in s["clauses"] if "ref" in c)
        found.update(x for x in s["sources"] if isinstance(x, str))
    return found - _VALUES.keys()


def learn_values(rows: Iterable[tuple[str, str]], states: Sequence[Mapping[str, Any]]) -> None:
    """Decode fetched (ref, body) texts into the cache, as clauses or sources as the states
    that refer to them say."""
    sources = {x for s in states for x in s["sources"] if isinstance(x, str)}
    if len(_VALUES) > _VALUES_MAX:
        _VALUES.clear()
    for ref, body in rows:
        data = json.loads(body)
        _VALUES[ref] = Source.from_dict(data) if ref in sources else Clause.from_dict(data)


def _clause(c: Mapping[str, Any]) -> Clause:
    if "ref" not in c:
        return Clause.from_dict(c)  # a row of schema 1, read until its rebuild swaps in
    value = _VALUES[c["ref"]]
    assert isinstance(value, Clause)
    return value


def _source(x: Any) -> Source:
    if not isinstance(x, str):
        return Source.from_dict(x)  # schema 1
    value = _VALUES[x]
    assert isinstance(value, Source)
    return value


def policy_version(row: Any, s: Mapping[str, Any] | None = None) -> PolicyVersion:
    """A policy row (its state already parsed, if `s`); the texts it refers to must have
    been learnt (`missing_refs`, `learn_values`)."""
    if s is None:
        s = json.loads(row.state)
    return PolicyVersion(
        slug=s["slug"],
        title=s["title"],
        owner=s["owner"],
        summary=s["summary"],
        status=s["status"],
        clauses=tuple(_clause(c) for c in s["clauses"]),
        sources=tuple(_source(x) for x in s["sources"]),
        revision=s["revision"],
        changed_by=s["changed_by"],
        change_type=s["change_type"],
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        aggregate_version=int(row.aggregate_version or s["changed_by"]),
        **_frame(row),
    )


def action_version(row: Any) -> RegulatoryActionVersion:
    s = json.loads(row.state)
    return RegulatoryActionVersion(
        slug=s["slug"],
        authority=s["authority"],
        jurisdiction=s["jurisdiction"],
        targets=tuple(s["targets"]),
        kind=s["kind"],
        summary=s["summary"],
        text=s["text"],
        in_response_to=tuple(s["in_response_to"]),
        sources=tuple(Source.from_dict(x) for x in s["sources"]),
        announced_at=datetime.fromisoformat(s["announced_at"]),
        in_effect_from=datetime.fromisoformat(s["in_effect_from"]),
        lifted_at=_time(s["lifted_at"]),
        status=s["status"],
        revision=s["revision"],
        changed_by=s["changed_by"],
        change_type=s["change_type"],
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        **_frame(row),
    )


def statement_version(row: Any) -> StatementVersion:
    s = json.loads(row.state)
    return StatementVersion(
        slug=s["slug"],
        actor=s["actor"],
        kind=s["kind"],
        summary=s["summary"],
        text=s["text"],
        in_response_to=tuple(s["in_response_to"]),
        sources=tuple(Source.from_dict(x) for x in s["sources"]),
        made_at=datetime.fromisoformat(s["made_at"]),
        **_frame(row),
    )


def actor_version(row: Any) -> ActorVersion:
    s = json.loads(row.state)
    return ActorVersion(
        slug=s["slug"],
        name=s["name"],
        kind=s["kind"],
        parent=s["parent"],
        former_names=tuple(s["former_names"]),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        **_frame(row),
    )


def timeline_entry(row: Any) -> TimelineEntry:
    s = json.loads(row.state)
    return TimelineEntry(
        position=row.position,
        kind=row.kind,
        slug=row.slug,
        version=row.version,
        type=row.type,
        effective_at=row.effective_at,
        announced_at=row.announced_at,
        recorded_at=row.recorded_at,
        summary=s["summary"],
        actors=tuple(s["actors"]),
        jurisdictions=tuple(s["jurisdictions"]),
        policies=tuple(s["policies"]),
        **_frame(row),
    )


DECODERS: Mapping[str, Callable[[Any], Any]] = {
    "policy": policy_version,
    "regulatory-action": action_version,
    "statement": statement_version,
    "actor": actor_version,
}


def encode_cursor(key: Sequence[Any]) -> str:
    """An opaque cursor: base64 of the sort key of the last item on a page."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


def decode_cursor(cursor: str, types: Sequence[type]) -> list[Any]:
    """The sort key inside a cursor; anything else is refused naming the `after` field."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError
        key: list[Any] = []
        for value, kind in zip(values, types, strict=True):
            if kind is datetime:
                key.append(require_aware("after", datetime.fromisoformat(value)))
            elif isinstance(value, kind):
                key.append(value)
            else:
                raise ValueError
        return key
    except (ValueError, TypeError, InvalidInput, UnicodeError):
        raise InvalidInput("after", "is not a cursor returned by this list") from None


def check_first(first: int, limit: int = 1000) -> int:
    if not 0 <= first <= limit:
        raise InvalidInput("first", f"must be between 0 and {limit}")
    return first
