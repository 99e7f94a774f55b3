"""Why a point-in-time read has no answer: the one place that tells the reasons apart.

A read of one aggregate (`policy`, `regulatoryAction`, `statement`, `actor`) that finds no
version at (validAt, knownAt) has one of four reasons, each a domain error with its own code:
never recorded (NOT_FOUND), recorded only after knownAt (NOT_YET_KNOWN, with when it became
known), every fact known then retracted (NOT_FOUND, saying so), or known then but with no
version in force at validAt (NOT_IN_FORCE, with the nearest versions before and after). The
API and the CLI raise what `why_absent` returns, so both say the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, func, select, type_coerce

from domain.errors import (
    Interval,
    NotFound,
    NotInForce,
    NotKnownAt,
    NotYetKnown,
    TimelineError,
)
from domain.values import aggregate_uuid
from projections import decode
from projections import tables as t
from projections.queries import NOW, Basis, basis, known

#: The version table of each kind (a policy's frames stand for its versions).
_VERSIONS: dict[str, Table] = {
    "policy": t.policy_versions,
    "regulatory-action": t.action_versions,
    "statement": t.statement_versions,
    "actor": t.actor_versions,
}
#: Kinds whose reads take no validAt: known at knownAt is in force.
_TIMELESS = frozenset({"statement"})


def why_absent(
    engine: Engine,
    kind: str,
    slug: str,
    valid_at: datetime | None = None,
    known_at: Basis = None,
    asked: datetime | int | None = None,
) -> TimelineError:
    """The reason why `kind` `slug` has no version at (`valid_at`, `known_at`: a log position
    or an instant; None: now); `asked` is the basis as the client gave it, for the message
    (default: `known_at`)."""
    v, k = decode.instant("validAt", valid_at), basis(known_at)
    shown = asked if asked is not None else None if k == NOW else k
    versions, facts = _VERSIONS[kind], t.facts
    with engine.connect() as connection:
        first = connection.execute(
            select(
                type_coerce(func.min(facts.c.recorded_at), t.UTCDateTime()),
                func.min(facts.c.position),
            ).where(facts.c.aggregate_id == aggregate_uuid(kind, slug))
        ).first()
        if first is None or first[0] is None:
            return NotFound(kind, slug)
        if (first[1] if isinstance(k, int) else first[0]) > k:
            return NotYetKnown(kind, slug, shown, first[0])
        believed = select(versions.c.valid_from, versions.c.valid_to).where(
            versions.c.slug == slug, known(versions, k)
        )
        before = connection.execute(
            believed.where(versions.c.valid_to <= v).order_by(versions.c.valid_from.desc()).limit(1)
        ).first()
        after = connection.execute(
            believed.where(versions.c.valid_from > v).order_by(versions.c.valid_from).limit(1)
        ).first()
        unsure = kind in _TIMELESS or (before is None and after is None)
        if unsure and connection.execute(believed.limit(1)).first() is None:
            return NotKnownAt(kind, slug, shown)
    return NotInForce(kind, slug, v, shown, _interval(before), _interval(after))


def _interval(row: Any) -> Interval | None:
    return None if row is None else (row.valid_from, row.valid_to)


def require_known(
    engine: Engine, kind: str, slug: str, known_at: Basis = None, asked: datetime | None = None
) -> None:
    """Raise NOT_FOUND or NOT_YET_KNOWN unless `kind` `slug` is known at `known_at`: for the
    reads whose empty answer is a valid one for a known aggregate (a day with no version in
    force, a diff between two moments before it)."""
    reason = why_absent(engine, kind, slug, None, known_at, asked)
    if not isinstance(reason, NotInForce):
        raise reason
