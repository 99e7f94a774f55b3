"""Database outages as a stable, retryable API error (`UNAVAILABLE`) instead of an internal one.

A connection refused, dropped or reset (PostgreSQL restarting, a failover, SQLite busy) is not
a bug: the client should retry, and a write repeated with its idempotency key is stored at
most once. The service itself recovers: the pool discards dead connections on first use.
"""

from __future__ import annotations

import logging

log = logging.getLogger("api.errors")

UNAVAILABLE = "UNAVAILABLE"
MESSAGE = (
    "the database is unavailable for a moment; retry the request shortly (a write "
    "repeated with the same idempotencyKey is stored at most once)"
)


def _outage_types() -> tuple[type[BaseException], ...]:
    import eventsourcing.persistence as es
    import sqlalchemy.exc as sa

    kinds: list[type[BaseException]] = [
        sa.OperationalError,
        sa.InterfaceError,
        sa.TimeoutError,
        es.OperationalError,
        es.InterfaceError,
    ]
    try:
        import psycopg

        kinds.append(psycopg.OperationalError)
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    return tuple(kinds)


def is_unavailable(error: BaseException | None) -> bool:
    """True when `error`, or anything it was raised from, says the database is unreachable."""
    import sqlalchemy.exc as sa

    kinds = _outage_types()
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, kinds) or (
            isinstance(error, sa.DBAPIError) and error.connection_invalidated
        ):
            log.warning("database unavailable: %s", " ".join(str(error).split())[:300])
            return True
        error = error.__cause__ or error.__context__
    return False
