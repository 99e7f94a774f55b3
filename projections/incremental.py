"""The incremental fold: one aggregate's believed history kept as a `domain.rules.Fold` (its
facts in fold order, the state after each), with the rows those states give, so that a new
fact re-derives only what it changes.

Every fact goes through `domain.rules.refold`, the same incremental fold as the command
checks: an in-order fact folds once; a retroactive fact, a correction or a retraction refolds
from its fold time only as far as the state differs from the one stored (`rows.same_rows`),
and the spans, feed entries and part rows are re-derived over that stretch alone. The rows
are exactly those of `rows.version_rows` and `rows.feed_rows` over the whole history (a
property test holds them together); `Change` says which of them to close and which to open.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from domain import RULES, Fact, Span
from domain.concerns import concerns
from domain.facts import CORRECTED, REDACTED, RETRACTED
from domain.rules import Fold, FoldRules, refold
from projections.rows import (
    PARTS,
    FeedRow,
    PartRun,
    VersionRow,
    feed_row,
    part_order,
    part_row,
    same_parts,
    same_rows,
    state_digest,
    stored_text,
    version_row,
    walk_parts,
)

Key = tuple[Any, ...]


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
        self.same = partial(same_rows, kind)
        self.last_version = 0
        self.believed: dict[int, Fact] = {}
        self.positions: dict[int, int] = {}  # version -> log position
        #: The believed facts in fold order with the state after each (`domain.rules.Fold`),
        #: their sort keys (fold time, version) and their feed entries, index by index.
        self.folded: Fold[Any] = Fold((), ())
        self.order_keys: list[tuple[datetime, int]] = []
        self.entries: list[FeedRow] = []
        self.spans: list[Span[Any]] = []
        self.span_starts: list[datetime] = []  # spans' valid_from, for bisect
        self.span_keys: list[Key] = []  # ("", valid_from, valid_to, digest), as VersionRow.key
        #: A policy's or an action's part rows, ordered by where they end (open ones last),
        #: and those ends.
        self.parts: list[VersionRow] = []
        self.part_ends: list[datetime] = []
        #: The same rows by part, each part's in valid-time order (they do not overlap): which
        #: row of each part holds an instant, without a pass over every row (`_holding`).
        self.by_part: dict[str, list[VersionRow]] = {}
        #: The last span and the part runs open in it (as the walk left them), so that a fact
        #: after every other decomposes only the spans it adds (`_append_parts`).
        self.tail: tuple[Span[Any], Mapping[str, PartRun]] | None = None

    @classmethod
    def load(cls, kind: str, slug: str, facts: Iterable[tuple[Fact, int]]) -> AggregateFold:
        """The fold of stored facts (with their log positions), folded once."""
        fold = cls(kind, slug)
        for fact, position in facts:
            fold.last_version = fact.version
            fold._believe(fact, position)
        ordered = sorted(fold.believed.values(), key=fold._order_key)
        fold.order_keys = [fold._order_key(f) for f in ordered]
        if ordered:
            fold._refold(ordered, 0, 0)
        fold._diff_parts(0)
        return fold

    def _order_key(self, fact: Fact) -> tuple[datetime, int]:
        return (self.rules.fold_time(fact), fact.version)

    # -- the facts -------------------------------------------------------------------------

    def add(self, fact: Fact, position: int) -> Change:
        """Take the next fact of the stream; the rows it closes and opens."""
        self.last_version = fact.version
        removed, inserted = self._believe(fact, position)
        if removed is None and inserted is None:
            return Change()  # a correction or retraction of nothing believed
        ordered, keys = list(self.folded.ordered), self.order_keys
        n = len(ordered)
        changed, settled = n, n
        if removed is not None:
            i = bisect_left(keys, self._order_key(removed))
            del ordered[i], keys[i]
            changed, settled = i, i
        if inserted is not None:
            j = bisect_left(keys, self._order_key(inserted))
            ordered.insert(j, inserted)
            keys.insert(j, self._order_key(inserted))
            changed = min(changed, j)
            settled = j + 1 if removed is None else max(settled + 1, j + 1)
        if not ordered:  # everything retracted: no row stays open
            change = Change(
                list(self.span_keys) + [row.key for row in self.parts],
                (),
                [entry.key for entry in self.entries],
                (),
            )
            self.__init__(self.kind, self.slug)  # type: ignore[misc]
            return change
        return self._refold(ordered, changed, settled)

    def _believe(self, fact: Fact, position: int) -> tuple[Fact | None, Fact | None]:
        """Step 2 of the fold for one more fact: the believed fact it removes and the one it
        adds (a correction does both), updating `believed` as `domain.believe` would."""
        if fact.type == CORRECTED:
            old = self.believed.get(fact.data["target"])
            if old is None:
                return None, None
            corrected = self.believed[old.version] = old.corrected(fact)
            return old, corrected
        if fact.type == RETRACTED:
            return self.believed.pop(fact.data["target"], None), None
        if fact.type == REDACTED:
            return None, None  # the projector rebuilds the aggregate from the erased facts
        self.believed[fact.version] = fact
        self.positions[fact.version] = position
        return None, fact

    # -- the fold --------------------------------------------------------------------------

    def _refold(self, ordered: list[Fact], changed: int, settled: int) -> Change:
        """Refold (`domain.rules.refold`) and re-derive the feed entries and spans of the
        stretch whose states it computed; splice the rest; diff the rows of that stretch."""
        before = self.folded
        offset = len(before.ordered) - len(ordered)
        result = refold(self.rules, before, ordered, changed, settled, self.same, viewed=False)
        new, begin, stop = result.fold, result.begin, result.stop
        self.folded = new
        n = len(ordered)

        # The feed: one entry per fact; those of [changed, stop) are derived again.
        changed = min(changed, stop)
        old_entries = self.entries[changed : stop + offset]
        new_entries = self._entries(before, ordered, new.states, changed, stop, offset)
        self.entries[changed : stop + offset] = new_entries

        # The spans: those starting before the first refolded group stay (the last one ends
        # there), the groups [begin, stop) are walked, the spans from the tail's start stay.
        t0 = self.rules.fold_time(ordered[begin])
        if begin < len(before.ordered):  # the first fact (begin = 0) may have moved
            t0 = min(t0, self.rules.fold_time(before.ordered[begin]))
        t1 = self.rules.fold_time(ordered[stop]) if stop < n else None
        p = bisect_left(self.span_starts, t0)
        a = max(p - 1, 0)
        walked: list[Span[Any]] = []
        if p:
            last = self.spans[p - 1]
            walked.append(last if last.valid_to == t0 else Span(last.valid_from, t0, last.state))
        index = begin
        while index < stop:
            start = self.rules.fold_time(ordered[index])
            while index < stop and self.rules.fold_time(ordered[index]) == start:
                index += 1
            end = self.rules.fold_time(ordered[index]) if index < n else None
            self._extend(walked, new.states[index - 1], start, end)
        z = len(self.spans)
        if t1 is not None:
            z = bisect_left(self.span_starts, t1)
            if z == len(self.spans) or self.span_starts[z] > t1:
                z -= 1  # the span that holds t1 started before it
            first = self.spans[z]
            if first.valid_from != t1:
                first = Span(t1, first.valid_to, first.state)
            if walked and walked[-1].state == first.state and walked[-1].valid_to == t1:
                walked[-1] = Span(walked[-1].valid_from, first.valid_to, first.state)
            else:
                walked.append(first)
            z += 1
        old_spans, old_keys = self.spans[a:], self.span_keys[a:z]
        same_tail = len(self.spans) - z
        keys, texts = self._keys(walked, old_spans[: z - a], old_keys)
        self.spans[a:z] = walked
        self.span_keys[a:z] = keys
        self.span_starts[a:z] = [span.valid_from for span in walked]
        kept, gone = set(keys), set(old_keys)
        closed = [key for key in old_keys if key not in kept]
        opened = [
            version_row(self.kind, span, texts.get(id(span.state)), key[3])
            for span, key in zip(walked, keys, strict=True)
            if key not in gone
        ]
        # The parts of span a (its state and start kept) are those stored: walk from a + 1.
        skip = 1 if p and a + 1 < len(self.spans) else 0
        closed_parts, opened_parts = self._diff_parts(a + skip, old_spans[skip:], same_tail)
        closed.extend(closed_parts)
        opened.extend(opened_parts)
        kept_e = {entry.key for entry in new_entries}
        gone_e = {entry.key for entry in old_entries}
        return Change(
            closed,
            opened,
            [entry.key for entry in old_entries if entry.key not in kept_e],
            [entry for entry in new_entries if entry.key not in gone_e],
        )

    def _entries(
        self,
        before: Fold[Any],
        ordered: Sequence[Fact],
        states: Sequence[Any],
        changed: int,
        stop: int,
        offset: int,
    ) -> list[FeedRow]:
        """The feed entries of `ordered[changed:stop]`. An entry is its fact's (the same
        object: the same version, position and corrections) with what it concerns, so that
        of a fact the refold only moved past is kept when it concerns what it did before
        (`domain.concerns`, of the states before and after it, old and new): the entry is
        built once, not again for every retroactive change before it."""
        was = {id(before.ordered[k]): k for k in range(changed, stop + offset)}
        kind, slug, entries = self.kind, self.slug, []
        for i in range(changed, stop):
            fact, prior = ordered[i], states[i - 1] if i else None
            k = was.get(id(fact))
            if k is not None and concerns(kind, slug, prior, states[i], fact) == concerns(
                kind, slug, before.states[k - 1] if k else None, before.states[k], fact
            ):
                entries.append(self.entries[k])
            else:
                entry = feed_row(kind, slug, prior, states[i], fact, self.positions[fact.version])
                entries.append(entry)
        return entries

    def _keys(
        self, spans: list[Span[Any]], old_spans: Sequence[Span[Any]], old_keys: Sequence[Key]
    ) -> tuple[list[Key], dict[int, str]]:
        """The keys of `spans`, reusing the digests of the states they share with the old;
        and the stored texts it had to compute, by id of the state."""
        digests = {id(span.state): key[3] for span, key in zip(old_spans, old_keys, strict=True)}
        texts: dict[int, str] = {}
        keys = []
        for span in spans:
            digest = digests.get(id(span.state))
            if digest is None:
                text = texts[id(span.state)] = stored_text(self.kind, span.state)
                digest = digests[id(span.state)] = state_digest(text)
            keys.append(_span_key(span, digest))
        return keys, texts

    def _extend(
        self, spans: list[Span[Any]], state: Any, start: datetime, end: datetime | None
    ) -> None:
        """Append the spans of one group, as `domain.rules.spans` walks it."""
        rules = self.rules
        points = set(rules.breakpoints(state))
        if not points:  # a state without breakpoints is its own view (`FoldRules.breakpoints`)
            if spans and spans[-1].state == state and spans[-1].valid_to == start:
                spans[-1] = Span(spans[-1].valid_from, end, state)
            else:
                spans.append(Span(start, end, state))
            return
        cuts = sorted(b for b in points if b > start and (end is None or b < end))
        for valid_from, valid_to in zip([start, *cuts], [*cuts, end], strict=True):
            view = rules.view(state, valid_from)
            if spans and spans[-1].state == view and spans[-1].valid_to == valid_from:
                spans[-1] = Span(spans[-1].valid_from, valid_to, view)
            else:
                spans.append(Span(valid_from, valid_to, view))

    # -- the rows --------------------------------------------------------------------------

    def _diff_parts(
        self, start: int, old_spans: Sequence[Span[Any]] = (), same_tail: int = 0
    ) -> tuple[list[Key], list[VersionRow]]:
        """The part rows (of a kind in `rows.PARTS`) from span `start` on (the spans before
        it are unchanged, so are the rows that end before it): walk from there carrying the
        runs open just before, and which rows that closes and opens. `old_spans` (the spans
        from `start` before the change) let the walk stop early: where the spans left are
        those that were there and the runs open are those that were, every later row is the
        one already stored; the last `same_tail` spans are known to be those (the refold kept
        them)."""
        if self.kind not in PARTS:
            return [], []
        appended = self._append_parts(start, old_spans) if not same_tail else None
        if appended is not None:
            return appended
        self.tail = None
        if start == 0 or start >= len(self.spans):
            index, begin = 0, 0
        else:
            begin = start
            index = bisect_left(self.part_ends, self.spans[start].valid_from)
        # The rows from `index` on end at or after the walk's start; those open across it
        # (each part's row holding it) are the runs the walk carries, in `parts` order.
        carry = {}
        if begin:
            at = self.spans[begin].valid_from
            held = sorted(
                (r for r in self._holding(at, before=True) if _end(r) >= at), key=self._place_of
            )
            carry = {row.part: row.run for row in held if row.run}
        spans = self.spans[begin:]
        stop = len(spans)
        if begin == start:
            stop -= same_tail
            while stop > 0 and len(old_spans) > len(spans) - stop:
                if not same_parts(self.kind, spans[stop - 1], old_spans[stop - 1 - len(spans)]):
                    break
                stop -= 1
        if stop < len(spans):
            rows, runs = walk_parts(self.kind, spans[: stop + 1], carry)
            at = spans[stop].valid_from
            alive = {r.part: r for r in self._holding(at, before=False) if at < _end(r)}
            if len(alive) == len(runs) and all(
                (row := alive.get(part)) is not None
                and row.valid_from == run.valid_from
                and row.digest == run.digest
                for part, run in runs.items()
            ):
                # Every row ending after `at` stays (the same object): only those ending
                # from the walk's start to `at` are replaced, by the rows the walk ended.
                cut = bisect_right(self.part_ends, at, lo=index)
                prefix = self.parts[index:cut]
                rows.sort(key=_end)
                self.parts[index:cut] = rows
                self.part_ends[index:cut] = [_end(row) for row in rows]
                self._unindex(prefix)
                self._index(rows)
                gone, kept = {row.key for row in prefix}, {row.key for row in rows}
                return [row.key for row in prefix if row.key not in kept], [
                    row for row in rows if row.key not in gone
                ]
        old = self.parts[index:]
        new, runs = walk_parts(self.kind, spans, carry)
        if spans:
            new.extend(part_row(run, spans[-1].valid_to) for run in runs.values())
            self.tail = (spans[-1], runs)
        new.sort(key=_end)
        self.parts[index:] = new
        self.part_ends[index:] = [_end(row) for row in new]
        self._unindex(old)
        self._index(new)
        gone, kept = {row.key for row in old}, {row.key for row in new}
        return [row.key for row in old if row.key not in kept], [
            row for row in new if row.key not in gone
        ]

    # -- the part rows by part: which row of each part holds an instant ----------------------

    def _holding(self, at: datetime, *, before: bool) -> list[VersionRow]:
        """Each part's row starting last before `at` (`before`) or at it or before, if any:
        the row holding `at` (or ending at it), found by bisection in the part's rows."""
        found = []
        for rows in self.by_part.values():
            i = (bisect_left if before else bisect_right)(rows, at, key=_start) - 1
            if i >= 0:
                found.append(rows[i])
        return found

    def _place_of(self, row: VersionRow) -> int:
        """Where `row` is in `parts` (by its end, then identity among equal ends)."""
        i = bisect_left(self.part_ends, _end(row))
        while self.parts[i] is not row:
            i += 1
        return i

    def _index(self, rows: Iterable[VersionRow]) -> None:
        for row in rows:
            same = self.by_part.setdefault(row.part, [])
            if not same or same[-1].valid_from < row.valid_from:
                same.append(row)  # the usual case: a part's newest row
            else:
                insort(same, row, key=_start)

    def _unindex(self, rows: Iterable[VersionRow]) -> None:
        for row in rows:
            same = self.by_part[row.part]
            i = len(same) - 1
            if same[i] is not row:  # not the part's newest row
                i = bisect_left(same, row.valid_from, key=_start)
            while same[i] is not row:
                i += 1
            del same[i]
            if not same:
                del self.by_part[row.part]

    def _append_parts(
        self, start: int, old_spans: Sequence[Span[Any]]
    ) -> tuple[list[Key], list[VersionRow]] | None:
        """`_diff_parts` when the spans from `start` on are the last span as it was (now ended
        where new spans follow it) and those new spans: the runs open in the last span are
        those the last walk left (`tail`), so only the new spans are decomposed. None when
        the change is not of that shape."""
        tail = self.tail
        if (
            tail is None
            or len(old_spans) != 1
            or old_spans[0] is not tail[0]
            or start + 1 >= len(self.spans)
        ):
            return None
        last, runs = tail
        first = self.spans[start]
        if first.valid_from != last.valid_from or first.state is not last.state:
            return None
        spans = self.spans[start + 1 :]
        ended, now = walk_parts(self.kind, spans, runs)
        stay = bisect_left(self.part_ends, _OPEN)
        was_open = self.parts[stay:]
        kept = [row for row in was_open if row.run is not None and now.get(row.part) is row.run]
        fresh = [
            part_row(run, spans[-1].valid_to)
            for run in now.values()
            if runs.get(run.part) is not run
        ]
        opened = sorted([*ended, *fresh], key=_end)
        new = sorted([*ended, *kept, *fresh], key=_end)
        self.parts[stay:] = new
        self.part_ends[stay:] = [_end(row) for row in new]
        self.tail = (spans[-1], now)
        kept_ids = {id(row) for row in kept}
        self._unindex(row for row in was_open if id(row) not in kept_ids)
        self._index(opened)
        return [row.key for row in was_open if id(row) not in kept_ids], opened

    def reconcile(self, open_versions: Iterable[Key], open_entries: Iterable[Key]) -> Change:
        """The change from rows open elsewhere (as loaded from the tables) to this fold's."""
        open_v, open_e = list(open_versions), list(open_entries)
        wanted_v, gone_v = {*self.span_keys, *(row.key for row in self.parts)}, set(open_v)
        entries = self.entries
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
        return versions, list(self.entries)


def _span_key(span: Span[Any], digest: bytes) -> Key:
    return ("", span.valid_from, span.valid_to, digest)


_OPEN = datetime.max.replace(tzinfo=UTC)


def _end(row: VersionRow) -> datetime:
    return _OPEN if row.valid_to is None else row.valid_to


def _start(row: VersionRow) -> datetime:
    return row.valid_from
