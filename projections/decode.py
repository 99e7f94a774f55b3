"""Rows back into the read models' dataclasses, and the opaque keyset cursors of pages."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.errors import InvalidInput
from domain.facts import Correction
from domain.feed import ANNOUNCEMENT, effect_kind
from domain.values import Clause, Source, require_aware
from projections import tables as t
from projections.models import (
    ActorVersion,
    Deferred,
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


def _corrections(s: Mapping[str, Any]) -> tuple[Correction, ...]:
    """The corrections a stored state names (none in rows of schemas before 4)."""
    named = s.get("corrected_by")
    if isinstance(named, tuple):  # decoded already (`frame_state`)
        return named
    return tuple(
        Correction(c["version"], datetime.fromisoformat(c["recorded_at"]), c["reason"])
        for c in s.get("corrected_by") or ()
    )


class Corrections:
    """The corrections of policies' believed facts, from their feed entries (rows of `slug`,
    `valid_from`: the fact's effective time, `aggregate_version`: its version, `state`: its
    corrections' JSON): a version's `corrected_by` is those of the facts folded into it, the
    facts up to its valid_from, in fold order (no frame stores them since schema 7)."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self._by_slug: dict[str, list[Any]] = {}
        for row in rows:
            self._by_slug.setdefault(row.slug, []).append(row)
        for found in self._by_slug.values():
            found.sort(key=lambda r: (r.valid_from, r.aggregate_version))

    def at(self, slug: str, valid_from: datetime) -> tuple[Correction, ...]:
        """The corrections folded into the version of `slug` from `valid_from`."""
        found: list[Correction] = []
        for row in self._by_slug.get(slug, ()):
            if row.valid_from > valid_from:
                break
            marks = _MARKS.get(row.state)
            if marks is None:
                if len(_MARKS) > _VALUES_MAX:
                    _MARKS.clear()
                marks = _MARKS[row.state] = _corrections({"corrected_by": json.loads(row.state)})
            found.extend(marks)
        return tuple(found)


#: Decoded corrections by their stored text (a text always decodes the same; only bounded).
_MARKS: dict[str, tuple[Correction, ...]] = {}


def folded_corrections(text: str | None) -> tuple[Correction, ...]:
    """A version's corrections from the feed's JSON arrays joined by commas, in fold order
    (`queries._folded_corrections`); None: there are none."""
    if text is None:
        return ()
    marks = _MARKS.get(text)
    if marks is None:
        if len(_MARKS) > _VALUES_MAX:
            _MARKS.clear()
        found = [c for array in json.loads(f"[{text}]") for c in array]
        marks = _MARKS[text] = _corrections({"corrected_by": found})
    return marks


def _frame(row: Any) -> dict[str, Any]:
    """The record-time interval as the query's knownAt saw it: every row answering knownAt T
    is still open at T, so `known_to` is None. Showing a later close would leak what was
    recorded after T and make a past answer change."""
    return {"known_from": row.known_from, "known_to": None}


#: Decoded clause and source texts by content address. A ref always names the same text,
#: in any database, so an entry never goes stale; the dict is only bounded.
_VALUES: dict[str, Clause | Source] = {}
_VALUES_MAX = 50_000


@dataclass(frozen=True, slots=True)
class Part:
    """A policy part row with its stored text parsed (once: a row serves many frames)."""

    slug: str
    part: str
    valid_from: datetime
    valid_to: datetime | None
    known_from: datetime
    state: Mapping[str, Any]


#: Parsed part states by their stored text (a part row serves many lookups); never mutated.
_PART_STATES: dict[str, Mapping[str, Any]] = {}


def _parsed(
    cache: dict[str, Mapping[str, Any]], text: str, parse: Callable[[str], Mapping[str, Any]]
) -> Mapping[str, Any]:
    """`parse(text)`, once per distinct text while `cache` holds it (bounded: cleared when
    full)."""
    found = cache.get(text)
    if found is None:
        if len(cache) > _VALUES_MAX:
            cache.clear()
        found = cache[text] = parse(text)
    return found


def part_state(text: str) -> Mapping[str, Any]:
    """A part row's state, parsed once per distinct text."""
    return _parsed(_PART_STATES, text, json.loads)


def parts_of(rows: Iterable[Any]) -> list[Part]:
    return [
        Part(r.slug, r.part, r.valid_from, r.valid_to, r.known_from, part_state(r.state))
        for r in rows
    ]


def _old_refs(frames: Sequence[Any]) -> tuple[set[str], set[str]]:
    """Clause and source refs of schema 2 whole-state rows (none in frames of schema 3)."""
    clauses: set[str] = set()
    sources: set[str] = set()
    for frame in frames:
        if '"clauses"' in frame.state:
            s = json.loads(frame.state)
            clauses.update(c["ref"] for c in s["clauses"] if "ref" in c)
            sources.update(x for x in s["sources"] if isinstance(x, str))
    return clauses, sources


def missing_refs(frames: Sequence[Any], parts: Sequence[Part]) -> set[str]:
    """The refs of the clauses and sources these policy rows refer to, not decoded yet."""
    clauses, sources = _old_refs(frames)
    found = {p.state["ref"] for p in parts if "ref" in p.state} | clauses | sources
    return found - _VALUES.keys()


def learn_values(
    rows: Iterable[tuple[str, str]], frames: Sequence[Any], parts: Sequence[Part]
) -> None:
    """Decode fetched (ref, body) texts into the cache, as clauses or sources as the rows
    that refer to them say."""
    sources = {p.state["ref"] for p in parts if p.part.startswith("source:")}
    learn_texts(rows, sources | _old_refs(frames)[1])


def learn_texts(rows: Iterable[tuple[str, str]], sources: set[str]) -> None:
    """Decode fetched (ref, body) texts into the cache: sources if their ref is in `sources`,
    clauses otherwise."""
    if len(_VALUES) > _VALUES_MAX:
        _VALUES.clear()
    for ref, body in rows:
        data = json.loads(body)
        _VALUES[ref] = Source.from_dict(data) if ref in sources else Clause.from_dict(data)


def assign_parts(frames: Sequence[Any], parts: Sequence[Part]) -> list[list[Part]]:
    """For each frame, the part rows of its version: those of its policy in force at its
    valid_from (a part's interval covers every version it belongs to)."""
    by_slug: dict[str, list[Part]] = {}
    for part in parts:
        by_slug.setdefault(part.slug, []).append(part)
    for found in by_slug.values():
        found.sort(key=lambda p: p.valid_from)
    members: list[list[Part]] = [[] for _ in frames]
    order = sorted(range(len(frames)), key=lambda i: (frames[i].slug, frames[i].valid_from))
    slug: str | None = None
    active: dict[str, Part] = {}
    queue: list[Part] = []
    taken = 0
    for i in order:
        frame = frames[i]
        if frame.slug != slug:
            slug, active, queue, taken = frame.slug, {}, by_slug.get(frame.slug, []), 0
        while taken < len(queue) and queue[taken].valid_from <= frame.valid_from:
            active[queue[taken].part] = queue[taken]  # a part's later run replaces its earlier
            taken += 1
        at = frame.valid_from
        members[i] = [p for p in active.values() if p.valid_to is None or p.valid_to > at]
    return members


def _whole_state(row: Any, s: Mapping[str, Any]) -> PolicyVersion:
    """A version row of schema 1 or 2 (the whole state in one row), read until the rebuild
    that migrates it swaps in."""
    return PolicyVersion(
        slug=s["slug"],
        title=s["title"],
        owner=s["owner"],
        summary=s["summary"],
        status=s["status"],
        clauses=tuple(
            Clause.from_dict(c) if "ref" not in c else _clause(c["ref"]) for c in s["clauses"]
        ),
        sources=tuple(
            Source.from_dict(x) if not isinstance(x, str) else _source(x) for x in s["sources"]
        ),
        revision=s["revision"],
        changed_by=s["changed_by"],
        change_type=s["change_type"],
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        aggregate_version=int(row.aggregate_version or s["changed_by"]),
        corrected_by=_corrections(s),
        **_frame(row),
    )


def _clause(ref: str) -> Clause:
    value = _VALUES[ref]
    assert isinstance(value, Clause)
    return value


def _source(ref: str) -> Source:
    value = _VALUES[ref]
    assert isinstance(value, Source)
    return value


def policy_version(
    frame: Any,
    parts: Sequence[Part],
    revision: int,
    counted_at: datetime | None,
    corrected_by: tuple[Correction, ...] | None = None,
) -> PolicyVersion:
    """A policy version from its frame row and its part rows, whose texts must have been
    learnt (`missing_refs`, `learn_values`). Its knownFrom is the latest moment any of them,
    or the count of facts folded into it, changed."""
    if '"clauses"' in frame.state:
        return _whole_state(frame, json.loads(frame.state))
    s = frame_state(frame.state)
    known_from = frame.known_from
    for part in parts:
        known_from = max(known_from, part.known_from)
    if counted_at is not None:
        known_from = max(known_from, counted_at)
    return _assembled(
        frame.slug,
        s,
        [(p.part, p.state) for p in parts],
        (frame.valid_from, frame.valid_to, known_from),
        revision,
        int(frame.aggregate_version or s["changed_by"]),
        corrected_by or (),
    )


#: Parsed frame states by their stored text, their corrections decoded; never mutated.
_FRAME_STATES: dict[str, Mapping[str, Any]] = {}


def frame_state(text: str) -> Mapping[str, Any]:
    """A policy frame's state, parsed once per distinct text (`corrected_by` decoded)."""
    return _parsed(_FRAME_STATES, text, _frame_parsed)


def _frame_parsed(text: str) -> Mapping[str, Any]:
    s: dict[str, Any] = json.loads(text)
    if "corrected_by" in s:  # a frame of schema 7 or before
        s["corrected_by"] = _corrections(s)
    return s


def _assembled(
    slug: str,
    s: Mapping[str, Any],
    parts: Iterable[tuple[str, Mapping[str, Any]]],
    times: tuple[datetime, datetime | None, datetime],
    revision: int,
    aggregate_version: int,
    corrected_by: tuple[Correction, ...] | Deferred = (),
) -> PolicyVersion:
    """A policy version from its frame's state `s` and its (part name, part state) pairs;
    `times` are its valid_from, valid_to and known_from; `corrected_by` the corrections
    folded into it (gathered from the feed: no frame of schema 8 names them)."""
    head: Mapping[str, Any] = {}
    clauses: list[tuple[str, int, str]] = []
    sources: list[tuple[str, int, str]] = []
    for part, state in parts:  # "head", "clause:<id>" or "source:<hash>"
        if part[0] == "h":
            head = state
        else:
            (clauses if part[0] == "c" else sources).append((state["at"], state["i"], state["ref"]))
    clauses.sort()
    sources.sort()
    texts: Mapping[str, Any] = _VALUES
    return PolicyVersion(
        slug=slug,
        title=head["title"],
        owner=head["owner"],
        summary=s["summary"],
        status=s["status"],
        clauses=tuple([texts[ref] for _, _, ref in clauses]),
        sources=tuple([texts[ref] for _, _, ref in sources]),
        revision=revision,
        changed_by=s["changed_by"],
        change_type=s["change_type"],
        valid_from=times[0],
        valid_to=times[1],
        aggregate_version=aggregate_version,
        # (a frame of schema 7 or before, read until its rebuild swaps in, names them itself)
        corrected_by=s.get("corrected_by", corrected_by),
        known_from=times[2],
        known_to=None,
    )


def driver_instant(value: int | str | datetime | None) -> datetime | None:
    """An instant as the driver hands it back from SQL sent without SQLAlchemy's column types
    (`lookup_version`): microseconds since 1970 on SQLite (`UTCDateTime`), a datetime on
    PostgreSQL; aware, in UTC."""
    return t.stored_instant(value)


@dataclass(frozen=True, slots=True)
class Lookup:
    """The rows of one point lookup (`queries._lookup`) as the driver returns them, without
    SQLAlchemy's row processing: `(part, slug, valid_from, valid_to, known_from, state,
    aggregate_version, revision, counted_at, basis)`, the frame's `part` NULL. Its parts are
    the frame's: every part valid at the instant asked is valid over the whole frame."""

    frame: Sequence[Any]
    parts: list[tuple[str, Mapping[str, Any]]]
    latest: Any  # the latest known_from of the parts and counted_at, as the driver gave it

    @classmethod
    def of(cls, rows: Sequence[Sequence[Any]]) -> Lookup | None:
        frame: Sequence[Any] | None = None
        parts = []
        latest = None
        for row in rows:
            if row[0] is None:
                frame = row
                continue
            parts.append((row[0], part_state(row[5])))
            latest = row[4] if latest is None or row[4] > latest else latest
        if frame is None:
            return None
        if frame[8] is not None and (latest is None or frame[8] > latest):
            latest = frame[8]
        return cls(frame, parts, latest)

    @property
    def whole_state(self) -> bool:
        """Whether the frame is a row of schema 1 or 2 (`policy_version` decodes those)."""
        return '"clauses"' in self.frame[5]

    def missing(self) -> tuple[list[str], set[str]]:
        """The refs of this version's texts not decoded yet, and which of them are sources."""
        missing = [s["ref"] for _, s in self.parts if "ref" in s and s["ref"] not in _VALUES]
        sources = {s["ref"] for p, s in self.parts if p.startswith("source:")}
        return missing, sources

    @property
    def valid_from(self) -> datetime:
        found = driver_instant(self.frame[2])
        assert found is not None
        return found

    @property
    def basis(self) -> int | None:
        """The position the answer stands at (`queries._basis_position`)."""
        return None if self.frame[9] is None else int(self.frame[9])

    def version(self, corrected_by: Deferred) -> PolicyVersion:
        """The version, its corrections loaded when first read (`corrected_by`)."""
        frame = self.frame
        s = frame_state(frame[5])
        known_from = frame[4] if self.latest is None or frame[4] > self.latest else self.latest
        valid_to, known = driver_instant(frame[3]), driver_instant(known_from)
        assert known is not None
        aggregate_version = int(frame[6] or s["changed_by"])
        times = (self.valid_from, valid_to, known)
        return _assembled(
            frame[1], s, self.parts, times, int(frame[7]), aggregate_version, corrected_by
        )


def action_version(
    frame: Any,
    parts: Sequence[Part],
    revision: int,
    counted_at: datetime | None,
    corrected_by: tuple[Correction, ...] = (),
) -> RegulatoryActionVersion:
    """An action version from its frame row and its part rows (`head`, `summary`, `text`,
    `targets`, `in_response_to`, `sources`: each a JSON object of the fields it holds), its
    revision counter and corrections gathered from the feed. Its knownFrom is the latest
    moment any of them, or the count of facts folded into it, changed (as a policy's). A
    whole-state row of schema 8, read until its rebuild swaps in, holds every field itself."""
    s: dict[str, Any] = {"slug": frame.slug, **frame_state(frame.state)}
    known_from = frame.known_from
    for part in parts:
        s.update(part.state)
        known_from = max(known_from, part.known_from)
    if counted_at is not None:
        known_from = max(known_from, counted_at)
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
        revision=revision,
        changed_by=s["changed_by"],
        change_type=s["change_type"],
        valid_from=frame.valid_from,
        valid_to=frame.valid_to,
        known_from=known_from,
        known_to=None,
        corrected_by=corrected_by,
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
        corrected_by=_corrections(s),
        **_frame(row),
    )


def actor_version(
    row: Any,
    former_names: tuple[str, ...],
    corrected_by: tuple[Correction, ...],
    counted_at: datetime | None,
) -> ActorVersion:
    """An actor version from its row and what its feed entries give: its former names and
    corrections (schema 9: no row stores them, so a retroactive rename does not rewrite the
    later rows). Its knownFrom is the later of its row's and of the last change of the feed
    up to its valid_from. (A whole-state row of schema 8, read until its rebuild swaps in,
    names them too; the feed's are the same.)"""
    s = json.loads(row.state)
    known_from = row.known_from if counted_at is None else max(row.known_from, counted_at)
    return ActorVersion(
        slug=s["slug"],
        name=s["name"],
        kind=s["kind"],
        parent=s["parent"],
        former_names=former_names,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        corrected_by=corrected_by,
        known_from=known_from,
        known_to=None,
    )


def feed_summary(text: str) -> str:
    """The summary of a feed entry's stored state (an actor's entry: its name)."""
    found: str = json.loads(text)["summary"]
    return found


def timeline_entry(row: Any) -> TimelineEntry:
    """An entry of the feed; a row of the feed's union (queries.timeline_page) also says
    whether it is the fact's announcement (`slot` 0) and where it stands (`at`)."""
    s = json.loads(row.state)
    mapping = row._mapping
    announcement = "slot" in mapping and mapping["slot"] == 0
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
        entry_kind=ANNOUNCEMENT if announcement else effect_kind(row.type),
        at=mapping.get("at", row.effective_at),
    )


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
