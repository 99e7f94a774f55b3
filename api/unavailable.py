"""Database outages as a stable, retryable API error (`UNAVAILABLE`) instead of an internal one.

A connection refused, dropped or reset (PostgreSQL restarting, a failover, SQLite busy) is not
a bug: the client should retry, and a write repeated with its idempotency key is stored at
most once. The service itself recovers: the pool discards dead connections on first use.
Only connection failures count: an OperationalError such as a missing table is a bug, and
stays an internal error. GraphQL maps it in api/errors.py; REST answers `response()` (503).
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi.responses import JSONResponse

log = logging.getLogger("api.errors")

UNAVAILABLE = "UNAVAILABLE"
MESSAGE = (
    "the database is unavailable for a moment; retry the request shortly (a write "
    "repeated with the same idempotencyKey is stored at most once)"
)
REST_MESSAGE = "the database is unavailable for a moment; retry the request shortly"

#: PostgreSQL SQLSTATEs of a lost or refused connection (class 08, server shutting down or
#: starting, too many connections); a client-side connection failure has none.
_PG_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03", "53300")
#: SQLite's words for a database it cannot reach for now (busy, locked, not openable).
_SQLITE_OUTAGES = ("database is locked", "database is busy", "unable to open database file")


def _verdict(error: BaseException) -> bool | None:
    """True/False when `error` is a driver or pool error that decides; None to look deeper."""
    import psycopg
    import sqlalchemy.exc as sa

    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa.TimeoutError):  # no pooled connection came free: all stuck
        return True
    if isinstance(error, psycopg.InterfaceError):  # the connection is closed
        return True
    if isinstance(error, psycopg.OperationalError):
        state = error.sqlstate
        return state is None or state.startswith(_PG_CONNECTION_STATES)
    if isinstance(error, sqlite3.OperationalError):
        return any(words in str(error) for words in _SQLITE_OUTAGES)
    if isinstance(error, (psycopg.Error, sqlite3.Error)):
        return False
    return None


def is_unavailable(error: BaseException | None) -> bool:
    """True when `error`, or what it was raised from, says the database cannot be reached
    (the driver's error decides; wrappers from SQLAlchemy and eventsourcing are looked
    through)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        verdict = _verdict(error)
        if verdict is not None:
            if verdict:
                log.warning("database unavailable: %s", " ".join(str(error).split())[:300])
            return verdict
        error = error.__cause__ or error.__context__
    return False


def response() -> JSONResponse:
    """What a REST endpoint answers during an outage: 503, a JSON error, Retry-After."""
    return JSONResponse(
        status_code=503,
        content={"error": {"code": UNAVAILABLE, "message": REST_MESSAGE}},
        headers={"Retry-After": "1"},
    )
