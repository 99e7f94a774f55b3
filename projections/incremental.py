"""The incremental fold: one aggregate's believed history kept in fold order, with the state
after each fold-time group, so that a new fact re-derives only what it can change.

A forward fact (at or after the last fold time) re-derives the last group's spans and adds its
own; a retroactive fact, a correction or a retraction refolds from the earliest fold time it
touches, starting from the state checkpointed before it. The rows are exactly those of
`rows.version_rows` and `rows.feed_rows` over the whole history (a property test holds them
together); `Change` says which of them to close and which to open.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain import RULES, Fact, Span
from domain.facts import CORRECTED, RETRACTED
from domain.rules import FoldRules, apply_checked
from projections.rows import (
    FeedRow,
    VersionRow,
    feed_row,
    part_order,
    part_rows,
    same_parts,
    state_digest,
    stored_text,
    version_row,
    walk_parts,
)

Key = tuple[Any, ...]


@dataclass(slots=True)
class _Group:
    """The believed facts that share one fold time, in version order, and what they left:
    the state after them, their feed entries and where their spans start."""

    time: datetime
    facts: list[tuple[Fact, int]]  # (believed form, log position)
    state: Any = None
    entries: list[FeedRow] = field(default_factory=list)
    spans_before: int = 0  # len(spans) before this group's spans were added
    carried: Span[Any] | None = None  # spans[-1] then (this group may extend it)


@dataclass(frozen=True, slots=True)
class Change:
    """What one fact did to the open rows: keys to close, rows to open (in row order)."""

    closed_versions: Sequence[Key] = ()
    opened_versions: Sequence[VersionRow] = ()
    closed_entries: Sequence[Key] = ()
    opened_entries: Sequence[FeedRow] = ()


class AggregateFold:
    """One aggregate's fold, kept up to date fact by fact (facts arrive in version order)."""

    def __init__(self, kind: str, slug: str) -> None:
        self.kind = kind
        self.slug = slug
        self.rules: FoldRules[Any] = RULES[kind]
        self.last_version = 0
        self.believed: dict[int, tuple[Fact, int]] = {}
        self.groups: list[_Group] = []
        self.times: list[datetime] = []  # groups' fold times, for bisect
        self.spans: list[Span[Any]] = []
        self.span_keys: list[Key] = []  # ("", valid_from, valid_to, digest), as VersionRow.key
        #: A policy's part rows, ordered by where they end (open ones last), and those ends.
        self.parts: list[VersionRow] = []
        self.part_ends: list[datetime] = []

    @classmethod
    def load(cls, kind: str, slug: str, facts: Iterable[tuple[Fact, int]]) -> AggregateFold:
        """The fold of stored facts (with their log positions), folded once."""
        fold = cls(kind, slug)
        for fact, position in facts:
            fold.last_version = fact.version
            fold._restructure(*fold._believe(fact, position))
        fold._rederive(0)
        fold.span_keys = [
            _span_key(s, state_digest(stored_text(kind, s.state))) for s in fold.spans
        ]
        fold._diff_parts(0)
        return fold

    # -- the facts -------------------------------------------------------------------------

    def add(self, fact: Fact, position: int) -> Change:
        """Take the next fact of the stream; the rows it closes and opens."""
        self.last_version = fact.version
        removed, inserted = self._believe(fact, position)
        touched = [self.rules.fold_time(removed)] if removed else []
        if inserted:
            touched.append(self.rules.fold_time(inserted[0]))
        if not touched:
            return Change()  # a correction or retraction of nothing believed
        k = bisect_left(self.times, min(touched))
        old_entries = [entry.key for group in self.groups[k:] for entry in group.entries]
        self._restructure(removed, inserted)
        start, old_spans, old_keys = self._rederive(k)
        closed, opened = self._diff_spans(start, old_spans, old_keys)
        closed_parts, opened_parts = self._diff_parts(start, old_spans)
        closed.extend(closed_parts)
        opened.extend(opened_parts)
        new_entries = [entry for group in self.groups[k:] for entry in group.entries]
        kept = {entry.key for entry in new_entries}
        gone = set(old_entries)
        return Change(
            closed,
            opened,
            [key for key in old_entries if key not in kept],
            [entry for entry in new_entries if entry.key not in gone],
        )

    def _believe(self, fact: Fact, position: int) -> tuple[Fact | None, tuple[Fact, int] | None]:
        """Step 2 of the fold for one more fact: the believed fact it removes and the one it
        adds (a correction does both), updating `believed` as `domain.believe` would."""
        if fact.type == CORRECTED:
            old = self.believed.get(fact.data["target"])
            if old is None:
                return None, None
            corrected = (old[0].corrected(fact), old[1])
            self.believed[old[0].version] = corrected
            return old[0], corrected
        if fact.type == RETRACTED:
            old = self.believed.pop(fact.data["target"], None)
            return (None, None) if old is None else (old[0], None)
        self.believed[fact.version] = (fact, position)
        return None, (fact, position)

    def _restructure(self, removed: Fact | None, inserted: tuple[Fact, int] | None) -> None:
        """Move facts between fold-time groups (steps 3 and 4: order by time, then version)."""
        if removed is not None:
            index = bisect_left(self.times, self.rules.fold_time(removed))
            group = self.groups[index]
            group.facts = [item for item in group.facts if item[0].version != removed.version]
            if not group.facts:
                del self.groups[index], self.times[index]
        if inserted is not None:
            at = self.rules.fold_time(inserted[0])
            index = bisect_left(self.times, at)
            if index < len(self.times) and self.times[index] == at:
                facts = self.groups[index].facts
                versions = [f.version for f, _ in facts]
                facts.insert(bisect_left(versions, inserted[0].version), inserted)
            else:
                self.groups.insert(index, _Group(at, [inserted]))
                self.times.insert(index, at)

    # -- the fold --------------------------------------------------------------------------

    def _rederive(self, k: int) -> tuple[int, list[Span[Any]], list[Key]]:
        """Refold groups k.. from the state before them, and the spans from group k-1 on
        (its end may have moved). Returns the first span index that may differ, and the
        spans and keys that were there from that index before."""
        j = max(k - 1, 0)
        first = self.groups[j].spans_before if k > 0 else 0
        start = max(first - 1, 0)  # the span before may be extended by a merge
        old_spans, old_keys = self.spans[start:], self.span_keys[start:]
        del self.spans[first:], self.span_keys[start:]
        if k > 0 and first > 0:
            carried = self.groups[j].carried
            assert carried is not None
            self.spans[-1] = carried
        state: Any = None  # group j is either the first or one whose state is kept
        for index in range(j, len(self.groups)):
            group = self.groups[index]
            if index < k:
                state = group.state  # its facts and the state before them are unchanged
            else:
                entries = []
                for fact, position in group.facts:
                    before, state = state, apply_checked(self.rules, state, fact)
                    entries.append(feed_row(self.kind, self.slug, before, state, fact, position))
                group.state, group.entries = state, entries
            group.spans_before = len(self.spans)
            group.carried = self.spans[-1] if self.spans else None
            following = self.groups[index + 1] if index + 1 < len(self.groups) else None
            end = self.rules.fold_time(following.facts[0][0]) if following else None
            self._extend(state, self.rules.fold_time(group.facts[0][0]), end)
        return start, old_spans, old_keys

    def _extend(self, state: Any, start: datetime, end: datetime | None) -> None:
        """Append the spans of one group, as `domain.rules.spans` walks it."""
        rules, spans = self.rules, self.spans
        cuts = sorted(
            b for b in set(rules.breakpoints(state)) if b > start and (end is None or b < end)
        )
        for valid_from, valid_to in zip([start, *cuts], [*cuts, end], strict=True):
            view = rules.view(state, valid_from)
            if spans and spans[-1].state == view and spans[-1].valid_to == valid_from:
                spans[-1] = Span(spans[-1].valid_from, valid_to, view)
            else:
                spans.append(Span(valid_from, valid_to, view))

    # -- the rows --------------------------------------------------------------------------

    def _diff_spans(
        self, start: int, old_spans: list[Span[Any]], old_keys: list[Key]
    ) -> tuple[list[Key], list[VersionRow]]:
        """Keys of the spans from `start` on, and which rows they close and open."""
        digests = {id(span.state): key[3] for span, key in zip(old_spans, old_keys, strict=True)}
        texts: dict[int, str] = {}
        for span in self.spans[start:]:
            digest = digests.get(id(span.state))
            if digest is None:
                text = texts[id(span.state)] = stored_text(self.kind, span.state)
                digest = digests[id(span.state)] = state_digest(text)
            self.span_keys.append(_span_key(span, digest))
        new_keys = self.span_keys[start:]
        kept, gone = set(new_keys), set(old_keys)
        opened = [
            version_row(self.kind, span, texts.get(id(span.state)), key[3])
            for span, key in zip(self.spans[start:], new_keys, strict=True)
            if key not in gone
        ]
        return [key for key in old_keys if key not in kept], opened

    def _diff_parts(
        self, start: int, old_spans: Sequence[Span[Any]] = ()
    ) -> tuple[list[Key], list[VersionRow]]:
        """A policy's part rows from span `start` on (the spans before it are unchanged, so
        are the rows that end before it): walk from there carrying the runs open just before,
        and which rows that closes and opens. `old_spans` (the spans from `start` before the
        change) let the walk stop early: where the spans left are those that were there and
        the runs open are those that were, every later row is the one already stored."""
        if self.kind != "policy":
            return [], []
        if start == 0 or start >= len(self.spans):
            index, begin = 0, 0
        else:
            begin = start
            index = bisect_left(self.part_ends, self.spans[start].valid_from)
        old = self.parts[index:]
        carry = {}
        if begin:
            at = self.spans[begin].valid_from
            carry = {row.part: row.run for row in old if row.valid_from < at and row.run}
        spans = self.spans[begin:]
        stop = len(spans)
        if begin == start:
            while stop > 0 and len(old_spans) > len(spans) - stop:
                if not same_parts(spans[stop - 1], old_spans[stop - 1 - len(spans)]):
                    break
                stop -= 1
        new: list[VersionRow] | None = None
        if stop < len(spans):
            rows, runs = walk_parts(spans[: stop + 1], carry)
            at = spans[stop].valid_from
            alive = {row.part: row for row in old if row.valid_from <= at < _end(row)}
            if len(alive) == len(runs) and all(
                (row := alive.get(part)) is not None
                and row.valid_from == run.valid_from
                and row.digest == run.digest
                for part, run in runs.items()
            ):
                new = rows + [row for row in old if _end(row) > at]
        if new is None:
            new = part_rows(spans, carry)
        new.sort(key=_end)
        self.parts[index:] = new
        self.part_ends[index:] = [_end(row) for row in new]
        gone, kept = {row.key for row in old}, {row.key for row in new}
        return [row.key for row in old if row.key not in kept], [
            row for row in new if row.key not in gone
        ]

    def reconcile(self, open_versions: Iterable[Key], open_entries: Iterable[Key]) -> Change:
        """The change from rows open elsewhere (as loaded from the tables) to this fold's."""
        open_v, open_e = list(open_versions), list(open_entries)
        wanted_v, gone_v = {*self.span_keys, *(row.key for row in self.parts)}, set(open_v)
        entries = [entry for group in self.groups for entry in group.entries]
        wanted_e, gone_e = {entry.key for entry in entries}, set(open_e)
        return Change(
            [key for key in open_v if key not in wanted_v],
            [
                version_row(self.kind, span)
                for span, key in zip(self.spans, self.span_keys, strict=True)
                if key not in gone_v
            ]
            + [row for row in self.parts if row.key not in gone_v],
            [key for key in open_e if key not in wanted_e],
            [entry for entry in entries if entry.key not in gone_e],
        )

    @property
    def row_keys(self) -> list[Key]:
        """The keys of the version rows `rows` gives, in its order (frames, then parts)."""
        return [*self.span_keys, *(row.key for row in sorted(self.parts, key=part_order))]

    def rows(self) -> tuple[list[VersionRow], list[FeedRow]]:
        """Every row this fold holds open (what `rows.believed_rows` gives for its facts)."""
        versions = [version_row(self.kind, span) for span in self.spans]
        versions.extend(sorted(self.parts, key=part_order))
        return versions, [entry for group in self.groups for entry in group.entries]


def _span_key(span: Span[Any], digest: bytes) -> Key:
    return ("", span.valid_from, span.valid_to, digest)


_OPEN = datetime.max.replace(tzinfo=UTC)


def _end(row: VersionRow) -> datetime:
    return _OPEN if row.valid_to is None else row.valid_to
