"""Pure projection: an aggregate's facts in, the rows its read models should hold out.

`version_rows` gives the valid-time versions (DESIGN section 2 via `domain.rules.spans`);
for a policy or a regulatory action, a frame per version and its parts' rows (`part_rows`,
by kind in `PARTS`: a policy's head, clauses and sources, an action's head and amendable
fields, each over the stretch where it is unchanged); `feed_rows` gives one timeline entry
per believed fact. The projector diffs these against
the rows that are open now, so the functions here never touch a database. They are the
reference the incremental fold (`projections.incremental`) is tested against; both build
each row with `version_row` and `feed_row`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from domain import (
    RULES,
    ActorState,
    Fact,
    PolicyState,
    RegulatoryActionState,
    Span,
    believe,
    spans,
)
from domain.concerns import cited_policies, concerns
from domain.rules import order
from domain.values import AGGREGATE_KINDS, Clause, Source, format_instant, to_json
from projections.tables import TAG_KEYS


def state_digest(text: str) -> bytes:
    """A short fingerprint of a state's canonical text: the diff keys open rows by it, so a
    memo need not hold every open version's (growing) state text."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class PartRun:
    """A part (a policy's `head`, `clause:<id>`, `source:<h>`; an action's `head`, `text`,
    ...: `PARTS`) as it stands from `valid_from` on: what the walk over the spans carries
    until the part changes or goes (`part_rows`)."""

    part: str
    valid_from: datetime
    order: tuple[datetime, int] | None  # a clause's or source's place: (since, index)
    value: Any  # (owner, title), a Clause or a Source
    state: str  # the stored text: {"owner", "title"} or {"at", "i", "ref"}
    digest: bytes
    columns: Mapping[str, Any]
    texts: tuple[tuple[str, str], ...]
    cites: tuple[str, ...] = ()  # the policies an action's `in_response_to` part cites


@dataclass(frozen=True)
class VersionRow:
    """A valid-time row as it should be open now; `key` is what the diff compares. `part` is
    "" for a version (a frame, for policies) and names the part for a policy part row."""

    valid_from: datetime
    valid_to: datetime | None
    state: str
    columns: Mapping[str, Any]
    cites: tuple[str, ...]
    digest: bytes = field(default=b"", repr=False, compare=False)  # of `state`, if known
    #: (ref, canonical text) of the clauses and sources `state` refers to: stored once each.
    texts: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)
    part: str = ""
    run: PartRun | None = field(default=None, repr=False, compare=False)
    #: The state `state` is the text of (a version row's; a part row has its `run`), if known.
    value: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.digest:
            object.__setattr__(self, "digest", state_digest(self.state))

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.part, self.valid_from, self.valid_to, self.digest)


@dataclass(frozen=True)
class FeedRow:
    """A believed fact as the timeline feed shows it."""

    position: int
    version: int
    type: str
    effective_at: datetime
    announced_at: datetime
    recorded_at: datetime
    state: str
    tags: tuple[str, ...]
    corrections: str | None = None  # the fact's own corrections (JSON), None if it has none
    #: The body of its summary's text (`summary_body`): `state` ends with it (schema 14).
    summary: str = field(default='""', compare=False)

    @property
    def key(self) -> tuple[Any, ...]:
        return (
            self.position,
            self.version,
            self.type,
            self.effective_at,
            self.announced_at,
            self.recorded_at,
            self.state,
            self.corrections,
        )


def dumps(value: Any) -> str:
    """Canonical JSON: the same state always gives the same text (the diff compares it)."""
    return json.dumps(to_json(value), sort_keys=True, separators=(",", ":"))


_VALUE_TEXTS: dict[int, tuple[object, str]] = {}
_VALUE_TEXTS_MAX = 10_000


def _value_text(value: Clause | Source) -> str:
    """`dumps` of a clause or source: successive states share these objects, so each is
    written once (looked up by identity; the entry holds the object, so the id stays its)."""
    cached = _VALUE_TEXTS.get(id(value))
    if cached is not None and cached[0] is value:
        return cached[1]
    if len(_VALUE_TEXTS) >= _VALUE_TEXTS_MAX:
        _VALUE_TEXTS.clear()
    text = _equal_value_text(value)  # a refold makes equal objects anew
    _VALUE_TEXTS[id(value)] = (value, text)
    return text


@lru_cache(maxsize=_VALUE_TEXTS_MAX)
def _equal_value_text(value: Clause | Source) -> str:
    """`dumps(value)`, written field by field (the keys of `to_dict`, sorted) when every
    field has the type it is declared with."""
    if type(value) is Clause:
        scope = value.scope
        if type(scope) is tuple and all(type(s) is str for s in scope):
            texts = _texts(value.expires_at, value.heading, value.id, None, value.text)
            if texts is not None:
                expires, heading, id_, _, text = texts
                listed = ",".join([_string(s) for s in scope])
                return (
                    f'{{"expires_at":{expires},"heading":{heading},"id":{id_},'
                    f'"scope":[{listed}],"text":{text}}}'
                )
    elif type(value) is Source:
        texts = _texts(value.published_at, value.publisher, value.quote, value.title, value.url)
        if texts is not None and value.url is not None:
            published, publisher, quote, title, url = texts
            return (
                f'{{"published_at":{published},"publisher":{publisher},"quote":{quote},'
                f'"title":{title},"url":{url}}}'
            )
    return dumps(value)


def _texts(at: Any, *values: Any) -> tuple[str, ...] | None:
    """The JSON of an optional instant and of optional strings, or None for another type."""
    if at is not None and type(at) is not datetime:
        return None
    if any(v is not None and type(v) is not str for v in values):
        return None
    first = "null" if at is None else _string(format_instant(at))
    return (first, *("null" if v is None else _string(v) for v in values))


def _field_keys(cls: type) -> list[tuple[str, str]]:
    """A dataclass's field names in key order, each with its `"name":` prefix."""
    keys = _FIELD_KEYS.get(cls)
    if keys is None:
        names = sorted(f.name for f in fields(cls))
        keys = _FIELD_KEYS[cls] = [(name, json.dumps(name) + ":") for name in names]
    return keys


_FIELD_KEYS: dict[type, list[tuple[str, str]]] = {}
_string = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str


def state_text(value: Any) -> str:
    """Exactly `dumps(value)`, composed from the texts of its parts, reusing those of the
    clauses and sources that successive states share (canonical JSON composes), and those
    of any other immutable part a state shares with the one before (a policy's list of
    corrections, an action's targets), looked up by identity."""
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is datetime:
        return _string(format_instant(value))
    if isinstance(value, Clause | Source):
        return _value_text(value)
    if isinstance(value, tuple | list):
        return "[" + ",".join([_shared_text(v) for v in value]) + "]"
    if is_dataclass(value) and not isinstance(value, type):
        parts = [key + _shared_text(getattr(value, name)) for name, key in _field_keys(type(value))]
        return "{" + ",".join(parts) + "}"
    return dumps(value)


_SHARED_TEXTS: dict[int, tuple[object, str]] = {}


def _shared_text(value: Any) -> str:
    """`state_text` of a part of a state; a non-empty tuple or a frozen dataclass (immutable
    as every state's parts are) is cached by identity, holding the object so its id stays its."""
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is tuple and value:
        pass
    elif not (is_dataclass(kind) and kind.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        return state_text(value)
    return _by_identity(_SHARED_TEXTS, value, state_text)


def _by_identity(cache: dict[int, tuple[object, str]], value: Any, make: Any) -> str:
    """`make(value)`, remembered by the object's identity (holding it, so its id stays its;
    the cache is emptied when full): for immutable parts that successive states share."""
    cached = cache.get(id(value))
    if cached is not None and cached[0] is value:
        return cached[1]
    if len(cache) >= _VALUE_TEXTS_MAX:
        cache.clear()
    made: str = make(value)
    cache[id(value)] = (value, made)
    return made


_VALUE_REFS: dict[int, tuple[object, str]] = {}


def value_ref(value: Clause | Source) -> str:
    """The content address of a clause or source: a hex digest of its canonical text, so
    that equal texts are stored once and a ref always means the same text (cacheable)."""
    return _by_identity(_VALUE_REFS, value, _equal_value_ref)


@lru_cache(maxsize=_VALUE_TEXTS_MAX)
def _equal_value_ref(value: Clause | Source) -> str:
    return hashlib.blake2b(_value_text(value).encode(), digest_size=16).hexdigest()


def stored_text(kind: str, state: Any) -> str:
    """The text a version row stores: the canonical JSON of the state, except for a policy
    or an action, whose version row is a frame: only what changes with every fact (its parts
    are rows of their own, `part_rows`, and its revision counter and corrections are
    gathered from the feed at read time)."""
    if kind == "regulatory-action":
        return (
            '{"change_type":'
            + _string(state.change_type)
            + ',"changed_by":'
            + int.__repr__(state.changed_by)
            + ',"lifted_at":'
            + state_text(state.lifted_at)
            + ',"status":'
            + _string(state.status)
            + "}"
        )
    if kind == "actor":  # its former names and corrections are gathered from the feed
        return (
            '{"changed_by":'
            + int.__repr__(state.changed_by)
            + ',"kind":'
            + _string(state.kind)
            + ',"name":'
            + _string(state.name)
            + ',"parent":'
            + state_text(state.parent)
            + ',"slug":'
            + _string(state.slug)
            + "}"
        )
    if kind != "policy":
        return state_text(state)
    return summarised(
        '{"change_type":'
        + _string(state.change_type)
        + ',"changed_by":'
        + int.__repr__(state.changed_by)
        + ',"status":'
        + _string(state.status)
        + "}",
        summary_body(state.summary),
    )


# -- summaries stored once (schema 14) ----------------------------------------------------------
#
# A policy frame's state text and a feed entry's end with their summary (`"summary":"..."`,
# the last key). The summary is stored once, as a texts row whose body is its JSON string
# (`summary_body`); the row stores its state without it (`unsummarised`) and the text's number;
# reads put it back (`tables.summarised_state`: the same text as before, in SQL).

_SUMMARY_KEY = ',"summary":'


def summary_body(summary: str) -> str:
    """The body of a summary's texts row: its JSON string, as a state text writes it."""
    return _string(summary)


def summarised(state: str, body: str) -> str:
    """A stored state (without its summary) with the summary's body put back, last."""
    return state[:-1] + _SUMMARY_KEY + body + "}"


def unsummarised(state: str, body: str) -> str:
    """The state text a row stores: `state` without its summary (`body`, its last key)."""
    tail = _SUMMARY_KEY + body + "}"
    if not state.endswith(tail):
        raise ValueError("a state's summary is its last key")
    return state[: -len(tail)] + "}"


@lru_cache(maxsize=_VALUE_TEXTS_MAX)
def summary_ref(body: str) -> str:
    """The content address of a summary's body (as `value_ref`'s of a clause's text: a
    summary's body is a JSON string, a clause's an object, so the two never meet)."""
    return hashlib.blake2b(body.encode(), digest_size=16).hexdigest()


def same_rows(kind: str, a: Any, b: Any) -> bool:
    """Whether two states of an aggregate give the same rows and fold on alike: equal, but for
    a policy's or an action's revision counter, which no row stores (it is counted at read
    time) and which only counts the facts before (so an earlier fact added or taken shifts
    it, nothing else), and the corrections folded in (gathered likewise). The projector's
    refold stops where the state it reaches is the same as the stored one."""
    if a is b:
        return True
    names = _ROW_FIELDS.get(kind)
    if names is None:
        return bool(a == b)
    return all(getattr(a, name) == getattr(b, name) for name in names)


def _row_fields(state_type: type, *derived: str) -> tuple[str, ...]:
    """What a kind's rows depend on: every field but the revision counter, the corrections
    folded in and any other field `derived` from the whole history (all gathered from the
    feed at read time; each feed entry holds its own fact's corrections), `changed_by`
    first, since it differs whenever two states come from different facts."""
    left = ("revision", "changed_by", "corrected_by", *derived)
    others = (f.name for f in fields(state_type) if f.name not in left)
    return ("changed_by", *others)


_ROW_FIELDS = {
    "policy": _row_fields(PolicyState),
    "regulatory-action": _row_fields(RegulatoryActionState),
    "actor": _row_fields(ActorState, "former_names"),
}


def stored_values(kind: str, state: Any) -> tuple[tuple[str, str], ...]:
    """(ref, body) of the texts a version row refers to: a policy frame's summary (schema
    14; its clauses and sources are its parts'), none for other kinds."""
    if kind != "policy":
        return ()
    body = summary_body(state.summary)
    return ((summary_ref(body), body),)


# -- policy parts ------------------------------------------------------------------------------

HEAD = "head"


def _order_text(order: tuple[datetime, int], ref: str) -> str:
    at = _instant_text(order[0])
    return '{"at":"' + at + '","i":' + str(order[1]) + ',"ref":"' + ref + '"}'


#: `format_instant` of a part's start: the parts of a span start together.
_instant_text = lru_cache(maxsize=1024)(format_instant)


@lru_cache(maxsize=_VALUE_TEXTS_MAX)
def _source_part(url: str) -> str:
    return "source:" + hashlib.blake2b(url.encode(), digest_size=8).hexdigest()


def _run(
    part: str, at: datetime, order: tuple[datetime, int] | None, value: Any, columns: Any
) -> PartRun:
    if order is None:
        owner, title = value
        text = '{"owner":' + _string(owner) + ',"title":' + _string(title) + "}"
        texts: tuple[tuple[str, str], ...] = ()
    else:
        ref = value_ref(value)
        text, texts = _order_text(order, ref), ((ref, _value_text(value)),)
    return PartRun(part, at, order, value, text, state_digest(text), columns, texts)


_CLAUSE_PARTS: dict[str, str] = {}


def _clause_part(clause: Clause) -> str:
    name = _CLAUSE_PARTS.get(clause.id)
    if name is None:
        if len(_CLAUSE_PARTS) >= _VALUE_TEXTS_MAX:
            _CLAUSE_PARTS.clear()
        name = _CLAUSE_PARTS[clause.id] = "clause:" + clause.id
    return name


def _place(
    parts: dict[str, PartRun],
    values: Sequence[Clause] | Sequence[Source],
    runs: Mapping[str, PartRun],
    at: datetime,
) -> None:
    """Add the runs of clauses or sources, in state order, each at its place: the place it
    had in the span before while the order is unchanged, else a new one (at, i) that sorts
    after every older one; a run whose place and value are unchanged continues."""
    last: tuple[datetime, int] | None = None
    fresh = 0
    names = _CLAUSE_PARTS
    for value in values:
        if type(value) is Clause:
            part = names.get(value.id) or _clause_part(value)
        else:
            part = _clause_part(value) if isinstance(value, Clause) else _source_part(value.url)
        before = runs.get(part)
        if before is not None and not fresh and before.order is not None:
            place = before.order
            if last is None or place > last:
                last = place
                if before.value is value or before.value == value:
                    parts[part] = before
                    continue
                parts[part] = _part_run(part, at, place, value)
                continue
        last = (at, fresh)
        fresh += 1
        parts[part] = _part_run(part, at, last, value)


def _part_run(part: str, at: datetime, place: tuple[datetime, int], value: Any) -> PartRun:
    scope = _listed(sorted(set(value.scope))) if isinstance(value, Clause) else None
    return _run(part, at, place, value, {**_NO_SCOPE, "jurisdictions": scope})


_NO_SCOPE = {"owner": None, "title": None}


def _policy_parts(state: Any, runs: Mapping[str, PartRun], at: datetime) -> dict[str, PartRun]:
    """The parts of one span's policy state, reusing the runs that continue unchanged."""
    parts: dict[str, PartRun] = {}
    before = runs.get(HEAD)
    if before is not None and before.value == (state.owner, state.title):
        parts[HEAD] = before
    else:
        columns = {"owner": state.owner, "title": state.title, "jurisdictions": None}
        parts[HEAD] = _run(HEAD, at, None, (state.owner, state.title), columns)
    _place(parts, state.clauses, runs, at)
    _place(parts, state.sources, runs, at)
    return parts


# -- regulatory action parts --------------------------------------------------------------------

#: An action's parts and the fields each holds: what amendments carry forward, each field
#: an amendment sets on its own part (a summary amended before many amendments of the text
#: must not rewrite the text's rows), what only the announcement sets in `head`.
_ACTION_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (HEAD, ("announced_at", "authority", "in_effect_from", "jurisdiction", "kind")),
    ("summary", ("summary",)),
    ("text", ("text",)),
    ("targets", ("targets",)),
    ("in_response_to", ("in_response_to",)),
    ("sources", ("sources",)),
)
_ACTION_FIELDS = tuple(name for _, names in _ACTION_PARTS for name in names)
_NO_ACTION_COLUMNS = {"authority": None, "jurisdiction": None, "targets": None}


def _action_parts(state: Any, runs: Mapping[str, PartRun], at: datetime) -> dict[str, PartRun]:
    """The parts of one span's action state, reusing the runs that continue unchanged; each
    filter column (and the `inResponseTo` links) on the part that holds its field."""
    parts: dict[str, PartRun] = {}
    for part, names in _ACTION_PARTS:
        value = tuple([getattr(state, name) for name in names])
        before = runs.get(part)
        if before is not None and before.value == value:
            parts[part] = before
            continue
        text = (
            "{"
            + ",".join(
                [_string(n) + ":" + _shared_text(v) for n, v in zip(names, value, strict=True)]
            )
            + "}"
        )
        columns: Mapping[str, Any] = _NO_ACTION_COLUMNS
        cites: tuple[str, ...] = ()
        if part == HEAD:
            columns = {**columns, "authority": state.authority, "jurisdiction": state.jurisdiction}
        elif part == "targets":
            columns = {**columns, "targets": _listed(state.targets)}
        elif part == "in_response_to":
            cites = cited_policies(state.in_response_to)
        parts[part] = PartRun(part, at, None, value, text, state_digest(text), columns, (), cites)
    return parts


@dataclass(frozen=True)
class KindParts:
    """How a kind's versions split into parts (`part_rows`): the parts of one span's state
    (reusing the runs that continue), and the fields the parts hold (two states equal in
    them have the same parts: `same_parts`)."""

    decompose: Callable[[Any, Mapping[str, PartRun], datetime], dict[str, PartRun]]
    fields: tuple[str, ...]


#: The kinds stored as a frame plus parts (docs/projections.md), by kind.
PARTS: dict[str, KindParts] = {
    "policy": KindParts(_policy_parts, ("owner", "title", "clauses", "sources")),
    "regulatory-action": KindParts(_action_parts, _ACTION_FIELDS),
}


def part_row(run: PartRun, valid_to: datetime | None) -> VersionRow:
    """The row of a part over [run.valid_from, valid_to)."""
    return VersionRow(
        run.valid_from,
        valid_to,
        run.state,
        run.columns,
        run.cites,
        run.digest,
        run.texts,
        run.part,
        run,
    )


def part_rows(
    kind: str, spans: Sequence[Span[Any]], carry: Mapping[str, PartRun]
) -> list[VersionRow]:
    """The part rows of a policy's or an action's spans (contiguous in valid time), each
    part's row ending where its value changes or it goes; `carry` holds the runs open just
    before `spans[0]` (empty from the first span). Parts of equal value over consecutive
    spans are one row."""
    rows, runs = walk_parts(kind, spans, carry)
    if spans:
        rows.extend(part_row(run, spans[-1].valid_to) for run in runs.values())
    return rows


def walk_parts(
    kind: str, spans: Sequence[Span[Any]], carry: Mapping[str, PartRun]
) -> tuple[list[VersionRow], Mapping[str, PartRun]]:
    """`part_rows` up to the end of `spans`: the rows that ended, and the runs still open."""
    decompose = PARTS[kind].decompose
    runs: Mapping[str, PartRun] = carry
    rows: list[VersionRow] = []
    for span in spans:
        current = decompose(span.state, runs, span.valid_from)
        rows.extend(
            part_row(run, span.valid_from)
            for part, run in runs.items()
            if current.get(part) is not run
        )
        runs = current
    return rows, runs


def same_parts(kind: str, a: Span[Any], b: Span[Any]) -> bool:
    """Whether two spans have the same interval and the same parts (cheap when the refold
    kept the clause and source objects, as it does for the clauses it did not touch)."""
    x, y = a.state, b.state
    return (
        a.valid_from == b.valid_from
        and a.valid_to == b.valid_to
        and all(getattr(x, name) == getattr(y, name) for name in PARTS[kind].fields)
    )


def part_order(row: VersionRow) -> tuple[str, datetime]:
    """The order of part rows in `version_rows`: by part, then valid time."""
    return (row.part, row.valid_from)


def _listed(values: Sequence[str]) -> str:
    """`,a,b,` so that a LIKE '%,a,%' finds a member without a join."""
    return "," + ",".join(values) + "," if values else ","


Columns = tuple[dict[str, Any], tuple[str, ...]]


@dataclass(frozen=True)
class KindRows:
    """What each kind's version rows hold beyond the bitemporal frame, in one table
    (`BY_KIND`): the filter columns with the policies the state cites. What a fact concerns
    (the feed's tags) is the domain's one rule, `domain.concerns`."""

    columns: Callable[[Any], Columns]


BY_KIND: dict[str, KindRows] = {
    "policy": KindRows(columns=lambda state: ({"status": state.status}, ())),
    # an action's frame: its other filter columns and its citations are on its parts
    "regulatory-action": KindRows(columns=lambda state: ({"status": state.status}, ())),
    "statement": KindRows(
        columns=lambda state: ({"actor": state.actor}, cited_policies(state.in_response_to))
    ),
    "actor": KindRows(columns=lambda state: ({"name": state.name}, ())),
}
assert tuple(BY_KIND) == AGGREGATE_KINDS, "one entry per aggregate kind, in their order"


def version_row(
    kind: str, span: Span[Any], text: str | None = None, digest: bytes = b""
) -> VersionRow:
    """The row of one span; `text` (and its `digest`) when the caller has them already."""
    columns, cites = BY_KIND[kind].columns(span.state)
    if text is None:
        text, digest = stored_text(kind, span.state), b""
    texts = stored_values(kind, span.state)
    return VersionRow(
        span.valid_from, span.valid_to, text, columns, cites, digest, texts, value=span.state
    )


def version_rows(kind: str, believed: Sequence[Fact]) -> list[VersionRow]:
    """The valid-time versions of one aggregate's believed history; for a policy or an
    action, its frames and then its part rows (in `part_order`)."""
    found = spans(RULES[kind], believed)
    rows = [version_row(kind, span) for span in found]
    if kind in PARTS:
        rows.extend(sorted(part_rows(kind, found, {}), key=part_order))
    return rows


def _feed_state(
    kind: str, slug: str, before: Any, after: Any, fact: Fact
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Summary and the actors, jurisdictions and policies a fact concerns, plus its tags."""
    data = fact.data
    # (an actor's facts have neither summary nor title: its entries' summaries are its names,
    # which reads gather as its former names, `queries._Counter.names`)
    summary = data.get("summary") or data.get("title") or data.get("name") or ""
    found = concerns(kind, slug, before, after, fact)
    state = {
        "summary": summary,
        "actors": list(found.actors),
        "jurisdictions": list(found.jurisdictions),
        "policies": list(found.policies),
    }
    return state, feed_tags(state)


def feed_tags(state: Mapping[str, Any]) -> tuple[str, ...]:
    """The filter tags of a feed entry, from its state: `actor:meta`, `jurisdiction:RU`,
    `policy:meta/hate-speech` (what its tag rows hold; a redaction's delete names them), by
    `tables.TAG_KEYS`."""
    tags = [_tag(prefix, v) for prefix, key in TAG_KEYS.items() for v in state.get(key, ())]
    return tuple(dict.fromkeys(tags))


_TAGS: dict[str, dict[str, str]] = {}


def _tag(prefix: str, value: str) -> str:
    """`prefix + value`, the same string object each time (a feed tag: its hash is kept)."""
    tags = _TAGS.setdefault(prefix, {})
    found = tags.get(value)
    if found is None:
        if len(tags) >= _VALUE_TEXTS_MAX:
            tags.clear()
        found = tags[value] = f"{prefix}{value}"
    return found


def feed_row(kind: str, slug: str, before: Any, after: Any, fact: Fact, position: int) -> FeedRow:
    """The entry of one believed fact, given the fold's state just before and after it."""
    content, tags = _feed_state(kind, slug, before, after, fact)
    effective = fact.effective_at or fact.recorded_at
    summary = content["summary"]
    body = summary_body(summary) if type(summary) is str else dumps(summary)
    return FeedRow(
        position=position,
        version=fact.version,
        type=fact.type,
        effective_at=effective.astimezone(UTC),
        announced_at=(fact.announced_at or effective).astimezone(UTC),
        recorded_at=fact.recorded_at.astimezone(UTC),
        state=feed_text(content),
        tags=tags,
        corrections=state_text(fact.corrections) if fact.corrections else None,
        summary=body,
    )


def feed_text(content: dict[str, Any]) -> str:
    """Exactly `json.dumps(content, sort_keys=True, separators=(",", ":"))` of a feed entry's
    content, written from its parts (the keys are known and sorted, the values strings)."""
    try:  # encode_basestring_ascii refuses anything but a str
        return (
            '{"actors":['
            + ",".join([_string(v) for v in content["actors"]])
            + '],"jurisdictions":['
            + ",".join([_string(v) for v in content["jurisdictions"]])
            + '],"policies":['
            + ",".join([_string(v) for v in content["policies"]])
            + '],"summary":'
            + _string(content["summary"])
            + "}"
        )
    except TypeError:
        return json.dumps(content, sort_keys=True, separators=(",", ":"))


def feed_rows(
    kind: str, slug: str, believed: Sequence[Fact], positions: Mapping[int, int]
) -> list[FeedRow]:
    """One entry per believed fact, each with what it concerns as of the fold at its time."""
    rules = RULES[kind]
    rows = []
    state: Any = None
    for fact in order(rules, believed):
        before, state = state, rules.apply(state, fact)
        rows.append(feed_row(kind, slug, before, state, fact, positions[fact.version]))
    return rows


def believed_rows(
    kind: str, slug: str, known: Sequence[Fact], positions: Mapping[int, int]
) -> tuple[list[VersionRow], list[FeedRow]]:
    """Both sets of rows for an aggregate's facts known now."""
    believed = believe(known)
    return version_rows(kind, believed), feed_rows(kind, slug, believed, positions)
