"""Read queries: point-in-time answers by index lookup, never by replay.

Every function takes a SQLAlchemy Engine first; instants are timezone-aware datetimes (the
callers validate input); `known_at=None` means now. A row answers (validAt V, knownAt T) when
`valid_from <= V < valid_to` and `known_from <= T < known_to` (NULL: open), which the
composite index (slug, valid_from, known_from) of each version table serves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Table,
    and_,
    exists,
    func,
    or_,
    select,
)

from domain import values
from projections import decode
from projections import tables as t
from projections.models import (
    ActorVersion,
    ClauseChange,
    Page,
    PolicyDiff,
    PolicyVersion,
    RegulatoryActionVersion,
    StatementVersion,
    TimelineEntry,
)

T = TypeVar("T")


# -- the bitemporal frame ------------------------------------------------------------------


def known(table: Table, known_at: datetime) -> ColumnElement[bool]:
    """Rows believed at record time `known_at`."""
    return and_(
        table.c.known_from <= known_at, or_(table.c.known_to.is_(None), table.c.known_to > known_at)
    )


def valid(table: Table, valid_at: datetime) -> ColumnElement[bool]:
    """Rows in force at valid time `valid_at`."""
    return and_(
        table.c.valid_from <= valid_at, or_(table.c.valid_to.is_(None), table.c.valid_to > valid_at)
    )


def _policy_select(known_at: datetime) -> Select[Any]:
    """Policy rows with the stream version as known at `known_at` (for expectedVersion)."""
    pv, facts = t.policy_versions, t.facts
    stream_version = (
        select(func.max(facts.c.version))
        .where(facts.c.aggregate_id == pv.c.aggregate_id, facts.c.recorded_at <= known_at)
        .scalar_subquery()
        .label("aggregate_version")
    )
    return select(pv, stream_version).where(known(pv, known_at))


def _all(engine: Engine, query: Select[Any], decoder: Callable[[Any], T]) -> list[T]:
    with engine.connect() as connection:
        return [decoder(row) for row in connection.execute(query)]


#: Refs per statement when fetching texts (well under SQLite's bound-parameter limit).
_REFS_PER_QUERY = 5_000


def _policies(engine: Engine, query: Select[Any]) -> list[PolicyVersion]:
    """Policy rows with the clause and source texts they refer to: one statement when every
    text is cached already (a ref always names the same text), one more per 5,000 missing."""
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        states = [json.loads(row.state) for row in rows]
        missing = sorted(decode.missing_refs(states))
        for i in range(0, len(missing), _REFS_PER_QUERY):
            chunk = missing[i : i + _REFS_PER_QUERY]
            found = connection.execute(
                select(t.texts.c.ref, t.texts.c.body).where(t.texts.c.ref.in_(chunk))
            )
            decode.learn_values([(r.ref, r.body) for r in found], states)
    return [decode.policy_version(row, s) for row, s in zip(rows, states, strict=True)]


# -- policies --------------------------------------------------------------------------------


def policy_at(
    engine: Engine, slug: str, valid_at: datetime | None = None, known_at: datetime | None = None
) -> PolicyVersion | None:
    """The version in force at `valid_at` as known at `known_at`; None if none."""
    return policies_at(engine, [slug], valid_at, known_at).get(slug)


def policies_at(
    engine: Engine,
    slugs: Sequence[str],
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
) -> dict[str, PolicyVersion]:
    """Batch form of policy_at (one query), for dataloaders."""
    if not slugs:
        return {}
    v, k = decode.instant("validAt", valid_at), decode.instant("knownAt", known_at)
    pv = t.policy_versions
    query = _policy_select(k).where(pv.c.slug.in_(list(slugs)), valid(pv, v))
    return {p.slug: p for p in _policies(engine, query)}


def day_bounds(day: date, time_zone: str) -> tuple[datetime, datetime]:
    """[00:00, next 00:00) of `day` in the IANA zone `time_zone` (the rule: domain/values.py)."""
    return values.day_bounds(day, time_zone)


def policy_on(
    engine: Engine, slug: str, day: date, time_zone: str = "UTC", known_at: datetime | None = None
) -> list[PolicyVersion]:
    """Every version in force at any moment of the calendar `day` in `time_zone`, in order."""
    start, end = day_bounds(day, time_zone)
    k = decode.instant("knownAt", known_at)
    pv = t.policy_versions
    query = (
        _policy_select(k)
        .where(
            pv.c.slug == slug,
            pv.c.valid_from < end,
            or_(pv.c.valid_to.is_(None), pv.c.valid_to > start),
        )
        .order_by(pv.c.valid_from)
    )
    return _policies(engine, query)


def policy_history(
    engine: Engine, slug: str, known_at: datetime | None = None
) -> list[PolicyVersion]:
    """All valid-time versions as known at `known_at`, in valid-time order."""
    k = decode.instant("knownAt", known_at)
    pv = t.policy_versions
    query = _policy_select(k).where(pv.c.slug == slug).order_by(pv.c.valid_from)
    return _policies(engine, query)


def policy_diff(
    engine: Engine,
    slug: str,
    from_valid_at: datetime,
    to_valid_at: datetime,
    known_at: datetime | None = None,
) -> PolicyDiff:
    """Clause-level diff between the versions in force at two valid-time instants."""
    k = decode.instant("knownAt", known_at)
    before = policy_at(engine, slug, decode.instant("fromValidAt", from_valid_at), k)
    after = policy_at(engine, slug, decode.instant("toValidAt", to_valid_at), k)
    old = {c.id: c for c in before.clauses} if before else {}
    new = {c.id: c for c in after.clauses} if after else {}
    changes = []
    for clause_id in [*old, *(i for i in new if i not in old)]:
        a, b = old.get(clause_id), new.get(clause_id)
        change = (
            "ADDED"
            if a is None
            else "REMOVED"
            if b is None
            else "UNCHANGED"
            if a == b
            else "CHANGED"
        )
        changes.append(ClauseChange(clause_id, change, a, b))
    return PolicyDiff(slug, before, after, tuple(changes))


def _page(
    items: list[T], first: int, key: Callable[[T], Sequence[Any]], total: int | None = None
) -> Page[T]:
    """Cut one extra item off to know whether there is a next page."""
    shown = items[:first]
    return Page(
        items=tuple(shown),
        has_next_page=len(items) > first,
        end_cursor=decode.encode_cursor(key(shown[-1])) if shown else None,
        start_cursor=decode.encode_cursor(key(shown[0])) if shown else None,
        total_count=total,
    )


class _Slugged(Protocol):
    @property
    def slug(self) -> str: ...


S = TypeVar("S", bound=_Slugged)


def _by_slug(
    engine: Engine,
    query: Select[Any],
    table: Table,
    first: int,
    after: str | None,
    fetch: Callable[[Select[Any]], list[S]],
) -> Page[S]:
    """One keyset page of `query` ordered by slug, after the opaque cursor `after`, with the
    count of every match."""
    total = _count(engine, query)
    if after is not None:
        query = query.where(table.c.slug > decode.decode_cursor(after, [str])[0])
    items = fetch(query.order_by(table.c.slug).limit(first + 1))
    return _page(items, first, lambda item: [item.slug], total)


def _count(engine: Engine, query: Select[Any]) -> int:
    """How many rows the filtered query matches, over all pages."""
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(query.subquery())).scalar() or 0
        )


def list_policies(
    engine: Engine,
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
    *,
    owner: str | None = None,
    jurisdiction: str | None = None,
    status: str | None = None,
    search: str | None = None,
    first: int = 50,
    after: str | None = None,
) -> Page[PolicyVersion]:
    """Policies in force at `valid_at`, ordered by slug, keyset-paginated by opaque cursor.

    `jurisdiction` matches policies with a clause scoped to it; `search` looks in slug and
    title, case-insensitively; `total_count` counts every match over all pages."""
    first = decode.check_first(first)
    v, k = decode.instant("validAt", valid_at), decode.instant("knownAt", known_at)
    pv = t.policy_versions
    query = _policy_select(k).where(valid(pv, v))
    if owner is not None:
        query = query.where(pv.c.owner == owner)
    if status is not None:
        query = query.where(pv.c.status == status)
    if jurisdiction is not None:
        query = query.where(pv.c.jurisdictions.contains(f",{jurisdiction},", autoescape=True))
    if search:
        needle = search.lower()
        query = query.where(
            or_(
                func.lower(pv.c.title).contains(needle, autoescape=True),
                pv.c.slug.contains(needle, autoescape=True),
            )
        )
    total = _count(engine, query)
    if after is not None:
        query = query.where(pv.c.slug > decode.decode_cursor(after, [str])[0])
    query = query.order_by(pv.c.slug).limit(first + 1)
    return _page(_policies(engine, query), first, lambda p: [p.slug], total)


# -- regulatory actions ------------------------------------------------------------------------


def regulatory_action_at(
    engine: Engine, slug: str, valid_at: datetime | None = None, known_at: datetime | None = None
) -> RegulatoryActionVersion | None:
    """The action as seen at `valid_at` (status ANNOUNCED / IN_EFFECT / LIFTED)."""
    v, k = decode.instant("validAt", valid_at), decode.instant("knownAt", known_at)
    av = t.action_versions
    query = select(av).where(av.c.slug == slug, valid(av, v), known(av, k))
    found = _all(engine, query, decode.action_version)
    return found[0] if found else None


def regulatory_action_history(
    engine: Engine, slug: str, known_at: datetime | None = None
) -> list[RegulatoryActionVersion]:
    """All valid-time versions of an action (status changes included) as known at
    `known_at`, in valid-time order."""
    k = decode.instant("knownAt", known_at)
    av = t.action_versions
    query = select(av).where(av.c.slug == slug, known(av, k)).order_by(av.c.valid_from)
    return _all(engine, query, decode.action_version)


def list_regulatory_actions(
    engine: Engine,
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
    *,
    authority: str | None = None,
    jurisdiction: str | None = None,
    target: str | None = None,
    status: str | None = None,
    first: int = 50,
    after: str | None = None,
) -> Page[RegulatoryActionVersion]:
    """Actions existing at `valid_at`, ordered by slug, keyset-paginated."""
    first = decode.check_first(first)
    v, k = decode.instant("validAt", valid_at), decode.instant("knownAt", known_at)
    av = t.action_versions
    query = select(av).where(valid(av, v), known(av, k))
    for column, value in (
        ("authority", authority),
        ("jurisdiction", jurisdiction),
        ("status", status),
    ):
        if value is not None:
            query = query.where(av.c[column] == value)
    if target is not None:
        query = query.where(av.c.targets.contains(f",{target},", autoescape=True))
    return _by_slug(
        engine, query, av, first, after, lambda q: _all(engine, q, decode.action_version)
    )


def _responses(
    engine: Engine,
    table: Table,
    kind: str,
    policy_slugs: Sequence[str],
    valid_at: datetime | None,
    known_at: datetime | None,
    decoder: Callable[[Any], T],
) -> dict[str, list[T]]:
    result: dict[str, list[T]] = {slug: [] for slug in policy_slugs}
    if not policy_slugs:
        return result
    v, k = decode.instant("validAt", valid_at), decode.instant("knownAt", known_at)
    links = t.responses
    query = (
        select(table, links.c.policy_slug)
        .join(
            links,
            and_(
                links.c.opened_by == table.c.opened_by,
                links.c.seq == table.c.seq,
                links.c.source_kind == kind,
            ),
        )
        .where(links.c.policy_slug.in_(list(policy_slugs)), valid(table, v), known(table, k))
        .order_by(links.c.policy_slug, table.c.valid_from, table.c.slug)
    )
    with engine.connect() as connection:
        for row in connection.execute(query):
            result[row.policy_slug].append(decoder(row))
    return result


def responses_to(
    engine: Engine,
    policy_slugs: Sequence[str],
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
) -> dict[str, list[RegulatoryActionVersion]]:
    """For each policy, the regulatory actions citing it (inResponseTo), in one query."""
    return _responses(
        engine,
        t.action_versions,
        "regulatory-action",
        policy_slugs,
        valid_at,
        known_at,
        decode.action_version,
    )


def statements_responding_to(
    engine: Engine,
    policy_slugs: Sequence[str],
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
) -> dict[str, list[StatementVersion]]:
    """For each policy, the statements citing it (made by `valid_at`), in one query."""
    return _responses(
        engine,
        t.statement_versions,
        "statement",
        policy_slugs,
        valid_at,
        known_at,
        decode.statement_version,
    )


# -- statements and actors -------------------------------------------------------------------


def statement_at(
    engine: Engine, slug: str, known_at: datetime | None = None
) -> StatementVersion | None:
    """The statement as believed at `known_at` (corrections applied); None if unknown."""
    k = decode.instant("knownAt", known_at)
    sv = t.statement_versions
    query = select(sv).where(sv.c.slug == slug, known(sv, k)).order_by(sv.c.valid_from)
    found = _all(engine, query, decode.statement_version)
    return found[0] if found else None


def actors_at(
    engine: Engine,
    slugs: Sequence[str],
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
) -> dict[str, ActorVersion]:
    """Actors with their names at `valid_at` (Facebook, Inc. before 2021-10-28), one query."""
    if not slugs:
        return {}
    v, k = decode.instant("validAt", valid_at), decode.instant("knownAt", known_at)
    av = t.actor_versions
    query = select(av).where(av.c.slug.in_(list(slugs)), valid(av, v), known(av, k))
    return {a.slug: a for a in _all(engine, query, decode.actor_version)}


# -- the timeline feed ------------------------------------------------------------------------


def timeline_page(
    engine: Engine,
    *,
    from_: datetime | None = None,
    to: datetime | None = None,
    known_at: datetime | None = None,
    actor: str | None = None,
    jurisdiction: str | None = None,
    policy: str | None = None,
    kinds: Sequence[str] = (),
    types: Sequence[str] = (),
    first: int = 50,
    after: str | None = None,
) -> Page[TimelineEntry]:
    """Facts across all aggregates with effectiveAt in [from_, to), as believed at `known_at`,
    in (effectiveAt, position) order, keyset-paginated; `total_count` counts every match."""
    first = decode.check_first(first)
    k = decode.instant("knownAt", known_at)
    feed, tags = t.timeline_entries, t.timeline_tags
    query = select(feed).where(known(feed, k))
    if from_ is not None:
        query = query.where(feed.c.effective_at >= decode.instant("from", from_))
    if to is not None:
        query = query.where(feed.c.effective_at < decode.instant("to", to))
    if kinds:
        query = query.where(feed.c.kind.in_(list(kinds)))
    if types:
        query = query.where(feed.c.type.in_(list(types)))
    for prefix, value in (("actor", actor), ("jurisdiction", jurisdiction), ("policy", policy)):
        if value is not None:
            query = query.where(
                exists().where(
                    tags.c.tag == f"{prefix}:{value}",
                    tags.c.opened_by == feed.c.opened_by,
                    tags.c.seq == feed.c.seq,
                )
            )
    total = _count(engine, query)
    if after is not None:
        effective, position = decode.decode_cursor(after, [datetime, int])
        query = query.where(
            or_(
                feed.c.effective_at > effective,
                and_(feed.c.effective_at == effective, feed.c.position > position),
            )
        )
    query = query.order_by(feed.c.effective_at, feed.c.position).limit(first + 1)
    return _page(
        _all(engine, query, decode.timeline_entry),
        first,
        lambda e: [e.effective_at, e.position],
        total,
    )


# -- lists of actors and statements ---------------------------------------------------------


def list_actors(
    engine: Engine,
    valid_at: datetime | None = None,
    known_at: datetime | None = None,
    *,
    first: int = 50,
    after: str | None = None,
) -> Page[ActorVersion]:
    """Actors existing at `valid_at` with their names then, ordered by slug, keyset-paginated."""
    first = decode.check_first(first)
    v, k = decode.instant("validAt", valid_at), decode.instant("knownAt", known_at)
    av = t.actor_versions
    query = select(av).where(valid(av, v), known(av, k))
    return _by_slug(
        engine, query, av, first, after, lambda q: _all(engine, q, decode.actor_version)
    )


def list_statements(
    engine: Engine,
    known_at: datetime | None = None,
    *,
    actor: str | None = None,
    first: int = 50,
    after: str | None = None,
) -> Page[StatementVersion]:
    """Statements as believed at `known_at`, ordered by slug, keyset-paginated; `actor`
    keeps those made by that actor."""
    first = decode.check_first(first)
    k = decode.instant("knownAt", known_at)
    sv = t.statement_versions
    query = select(sv).where(known(sv, k), sv.c.valid_to.is_(None))  # one span per statement
    if actor is not None:
        query = query.where(sv.c.actor == actor)
    return _by_slug(
        engine, query, sv, first, after, lambda q: _all(engine, q, decode.statement_version)
    )
