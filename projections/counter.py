"""A policy's revision counter, stored so that a point lookup reads it in a bounded number of
index seeks whatever the length of the history, and written in a bounded number of rows per
change (issue 14, docs/projections.md "The stored revision counter").

The counter of a frame F (opened at position p, valid from V) as known at position P is the
number of the aggregate's feed entries with `effective_at <= V` believed at P; when that count
last changed (`counted_at`) is the latest record time of an entry's opening or closing among
them. Every opening (+1) and closing (-1) of a feed entry is a *change* at a valid time (its
effective_at) and a position. A change is *forward* when it opens an entry effective after
every frame this aggregate ever had (and after every earlier forward change): no frame then
standing counts it, and no frame made later misses it, so forward changes (most of a history)
are kept out of the stored structure. The others go into a persistent Fenwick tree over the
day of their valid time (`projection_policy_counter_nodes`, one row per node and position that
changed it: its count and its latest change), and into `projection_policy_counter_changes`, which
also serves the part of a prefix inside V's own day (the residual). So

    revision(F, P) = base(F) + prefix(day(V) - 1, P) + residual(day(V), V, P)

where base(F), stored in the frame, is the number of forward changes up to V (no forward change
up to V can follow F's opening: it would not be forward), and likewise `counted_at` as a max.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

#: The tree's universe: day numbers from 1900-01-01 (day 1), clamped into [1, 2**BITS]
#: (to 2258; a clamped day only makes its residual longer, never an answer wrong).
BITS = 17
SIZE = 1 << BITS
_ORIGIN = datetime(1900, 1, 1, tzinfo=UTC)


def day(at: datetime) -> int:
    """The tree's index of the day of `at` (UTC)."""
    return max(1, min(SIZE, (at - _ORIGIN).days + 1))


def prefix_nodes(m: int) -> list[int]:
    """The Fenwick nodes whose sum is the prefix [1, m]: m with its lowest set bits cleared
    one by one (the read's SQL computes the same, one arm per bit: `queries._node_arms`)."""
    found = []
    while m > 0:
        found.append(m)
        m -= m & -m
    return found


def update_nodes(d: int) -> list[int]:
    found = []
    while d <= SIZE:
        found.append(d)
        d += d & -d
    return found


@dataclass
class RevisionCounter:
    """One policy's counter as the projector keeps it in its memo: the forward changes (their
    valid times and record times, both increasing), the tree's node values, and the latest
    frame's valid_from ever written (what makes a change forward)."""

    forward_at: list[datetime] = field(default_factory=list)
    forward_known: list[datetime] = field(default_factory=list)
    nodes: dict[int, tuple[int, datetime]] = field(default_factory=dict)
    latest_frame: datetime | None = None

    def is_forward(self, effective_at: datetime, sign: int) -> bool:
        """Whether a change is forward: an opening after every frame and forward change."""
        if sign < 0:
            return False
        latest = self.latest_frame
        if self.forward_at and (latest is None or self.forward_at[-1] > latest):
            latest = self.forward_at[-1]
        return latest is None or effective_at > latest

    def record(
        self,
        aggregate_id: UUID,
        position: int,
        changes: list[tuple[datetime, int]],
        known_at: datetime,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Take one event's changes (effective_at, +1 or -1) recorded at `known_at`: the
        change rows and the node versions (one per node it moved) to write."""
        rows, touched = [], set()
        for seq, (effective_at, sign) in enumerate(changes):
            forward = self.is_forward(effective_at, sign)
            rows.append(
                {
                    "aggregate_id": aggregate_id,
                    "opened_by": position,
                    "seq": seq,
                    "effective_at": effective_at,
                    "day": day(effective_at),
                    "sign": sign,
                    "forward": forward,
                    "changed_at": known_at,
                }
            )
            touched.update(self.take(effective_at, sign, forward, known_at))
        nodes = [
            {
                "aggregate_id": aggregate_id,
                "node": node,
                "opened_by": position,
                "count": self.nodes[node][0],
                "changed_at": self.nodes[node][1],
            }
            for node in sorted(touched)
        ]
        return rows, nodes

    def take(
        self, effective_at: datetime, sign: int, forward: bool, known_at: datetime
    ) -> list[int]:
        """Apply one change to the memo; the nodes it moved (none for a forward one)."""
        if forward:
            self.forward_at.append(effective_at)
            self.forward_known.append(known_at)
            return []
        moved = update_nodes(day(effective_at))
        for node in moved:
            count, latest = self.nodes.get(node, (0, known_at))
            self.nodes[node] = (count + sign, max(latest, known_at))
        return moved

    def frame_columns(self, valid_from: datetime) -> dict[str, Any]:
        """What a frame from `valid_from` stores of its counter: its day in the tree, the
        forward changes up to it and the latest of them."""
        base = bisect_right(self.forward_at, valid_from)
        return {
            "counter_day": day(valid_from),
            "counter_base": base,
            "counter_at": self.forward_known[base - 1] if base else None,
        }

    def saw_frame(self, valid_from: datetime) -> None:
        """A frame was written: later changes up to its valid_from are not forward."""
        if self.latest_frame is None or valid_from > self.latest_frame:
            self.latest_frame = valid_from

    @classmethod
    def load(cls, changes: list[Any], latest_frame: datetime | None) -> RevisionCounter:
        """The memo's counter rebuilt from the stored change rows (in position order) and
        the latest frame's valid_from."""
        counter = cls(latest_frame=latest_frame)
        for row in changes:
            counter.take(row.effective_at, row.sign, row.forward, row.changed_at)
        return counter
