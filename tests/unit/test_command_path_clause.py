"""`Clause.amended` skips the round trip through the stored form; it must give exactly what
the round trip gives (`amended_by_round_trip`), down to the expiry's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.values import Clause

T0 = datetime(2022, 1, 1, tzinfo=UTC)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5, minutes=-30))]
)
instants = st.builds(
    lambda days, micros, zone: (T0 + timedelta(days=days, microseconds=micros)).astimezone(zone),
    st.integers(-400, 400),
    st.sampled_from([0, 1, 500_000]),
    zones,
)
texts = st.sampled_from(["", "x", "Clause text", "é"])
clauses = st.builds(
    Clause,
    id=st.sampled_from(["a", "n1"]),
    heading=texts,
    text=texts,
    scope=st.lists(st.sampled_from(["EU", "US", "GB"]), max_size=3).map(tuple),
    expires_at=st.none() | instants | instants.map(lambda d: d.replace(tzinfo=None)),
)
changes = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["a", "other"]),
        "heading": st.none() | texts,
        "text": st.none() | texts,
        "scope": st.none() | st.lists(st.sampled_from(["EU", "FR"]), max_size=2),
        "expires_at": st.none() | st.just("") | instants.map(lambda d: d.isoformat()),
        "unknown": st.integers(),
    },
)


@settings(max_examples=400, deadline=None)
@given(clauses, changes)
def test_amended_is_the_round_trip(clause: Clause, change: dict[str, Any]) -> None:
    fast = clause.amended(change)
    slow = clause.amended_by_round_trip(change)
    assert fast == slow
    assert repr(fast) == repr(slow)  # datetimes equal across zones; the zone must match too


def test_amended_keeps_a_utc_expiry_and_the_id() -> None:
    clause = Clause("a", "H", "T", ("EU",), T0)
    amended = clause.amended({"id": "b", "text": "U"})
    assert amended == Clause("a", "H", "U", ("EU",), T0)
    assert amended.expires_at is not None and amended.expires_at.tzinfo is UTC
