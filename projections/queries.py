"""Read queries: point-in-time answers by index lookup, never by replay.

Every function takes a SQLAlchemy Engine first; instants are timezone-aware datetimes (the
callers validate input); `known_at=None` means now. The projections issue implements them;
the signatures are the contract the API and the CLI code against.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Engine

from projections.models import (
    ActorVersion,
    Page,
    PolicyDiff,
    PolicyVersion,
    RegulatoryActionVersion,
    StatementVersion,
    TimelineEntry,
)


def policy_at(engine: Engine, slug: str, valid_at: datetime | None = None,
              known_at: datetime | None = None) -> PolicyVersion | None:
    """The version in force at `valid_at` as known at `known_at`; None if none."""
    raise NotImplementedError


def policies_at(engine: Engine, slugs: Sequence[str], valid_at: datetime | None = None,
                known_at: datetime | None = None) -> dict[str, PolicyVersion]:
    """Batch form of policy_at (one query), for dataloaders."""
    raise NotImplementedError


def policy_on(engine: Engine, slug: str, day: date, time_zone: str = "UTC",
              known_at: datetime | None = None) -> list[PolicyVersion]:
    """Every version in force at any moment of the calendar `day` in `time_zone`, in order."""
    raise NotImplementedError


def policy_history(engine: Engine, slug: str,
                   known_at: datetime | None = None) -> list[PolicyVersion]:
    """All valid-time versions as known at `known_at`, in valid-time order."""
    raise NotImplementedError


def policy_diff(engine: Engine, slug: str, from_valid_at: datetime, to_valid_at: datetime,
                known_at: datetime | None = None) -> PolicyDiff:
    """Clause-level diff between the versions in force at two valid-time instants."""
    raise NotImplementedError


def list_policies(engine: Engine, valid_at: datetime | None = None,
                  known_at: datetime | None = None, *, owner: str | None = None,
                  jurisdiction: str | None = None, status: str | None = None,
                  search: str | None = None, first: int = 50,
                  after: str | None = None) -> Page[PolicyVersion]:
    """Policies in force at `valid_at`, ordered by slug, keyset-paginated by opaque cursor."""
    raise NotImplementedError


def regulatory_action_at(engine: Engine, slug: str, valid_at: datetime | None = None,
                         known_at: datetime | None = None) -> RegulatoryActionVersion | None:
    """The action as seen at `valid_at` (status ANNOUNCED / IN_EFFECT / LIFTED)."""
    raise NotImplementedError


def list_regulatory_actions(engine: Engine, valid_at: datetime | None = None,
                            known_at: datetime | None = None, *, authority: str | None = None,
                            jurisdiction: str | None = None, target: str | None = None,
                            status: str | None = None, first: int = 50,
                            after: str | None = None) -> Page[RegulatoryActionVersion]:
    """Actions existing at `valid_at`, ordered by slug, keyset-paginated."""
    raise NotImplementedError


def responses_to(engine: Engine, policy_slugs: Sequence[str], valid_at: datetime | None = None,
                 known_at: datetime | None = None) -> dict[str, list[RegulatoryActionVersion]]:
    """For each policy, the regulatory actions citing it (inResponseTo), in one query."""
    raise NotImplementedError


def statement_at(engine: Engine, slug: str,
                 known_at: datetime | None = None) -> StatementVersion | None:
    raise NotImplementedError


def actors_at(engine: Engine, slugs: Sequence[str], valid_at: datetime | None = None,
              known_at: datetime | None = None) -> dict[str, ActorVersion]:
    """Actors with their names at `valid_at` (Facebook, Inc. before 2021-10-28), one query."""
    raise NotImplementedError


def timeline_page(engine: Engine, *, from_: datetime | None = None, to: datetime | None = None,
                  known_at: datetime | None = None, actor: str | None = None,
                  jurisdiction: str | None = None, policy: str | None = None,
                  kinds: Sequence[str] = (), types: Sequence[str] = (), first: int = 50,
                  after: str | None = None) -> Page[TimelineEntry]:
    """Facts across all aggregates with effectiveAt in [from_, to), as believed at `known_at`,
    in (effectiveAt, position) order, keyset-paginated."""
    raise NotImplementedError
