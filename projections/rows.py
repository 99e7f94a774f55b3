"""Pure projection: an aggregate's facts in, the rows its read models should hold out.

`version_rows` gives the valid-time versions (DESIGN section 2 via `domain.rules.spans`);
`feed_rows` gives one timeline entry per believed fact. The projector diffs these against
the rows that are open now, so the functions here never touch a database. They are the
reference the incremental fold (`projections.incremental`) is tested against; both build
each row with `version_row` and `feed_row`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from domain import RULES, Fact, Span, believe, spans
from domain.errors import InvalidInput
from domain.rules import order
from domain.values import Clause, Reference, Source, format_instant

#: Columns of each kind's version table besides the bitemporal frame, from a state.
KINDS = ("policy", "regulatory-action", "statement", "actor")


def state_digest(text: str) -> bytes:
    """A short fingerprint of a state's canonical text: the diff keys open rows by it, so a
    memo need not hold every open version's (growing) state text."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@dataclass(frozen=True)
class VersionRow:
    """A valid-time version as it should be open now; `key` is what the diff compares."""

    valid_from: datetime
    valid_to: datetime | None
    state: str
    columns: Mapping[str, Any]
    cites: tuple[str, ...]
    digest: bytes = field(default=b"", repr=False, compare=False)  # of `state`, if known
    #: (ref, canonical text) of the clauses and sources `state` refers to: stored once each.
    texts: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.digest:
            object.__setattr__(self, "digest", state_digest(self.state))

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.valid_from, self.valid_to, self.digest)


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
        )


def to_json(value: Any) -> Any:
    """A state or value object as JSON-native data (instants as ISO text in UTC)."""
    if isinstance(value, Clause | Source):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


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
    return dumps(value)


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
    clauses and sources that successive states share (canonical JSON composes)."""
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
        return "[" + ",".join([state_text(v) for v in value]) + "]"
    if is_dataclass(value) and not isinstance(value, type):
        parts = [key + state_text(getattr(value, name)) for name, key in _field_keys(type(value))]
        return "{" + ",".join(parts) + "}"
    return dumps(value)


_VALUE_REFS: dict[int, tuple[object, str]] = {}


def value_ref(value: Clause | Source) -> str:
    """The content address of a clause or source: a hex digest of its canonical text, so
    that equal texts are stored once and a ref always means the same text (cacheable)."""
    cached = _VALUE_REFS.get(id(value))
    if cached is not None and cached[0] is value:
        return cached[1]
    if len(_VALUE_REFS) >= _VALUE_TEXTS_MAX:
        _VALUE_REFS.clear()
    ref = _equal_value_ref(value)
    _VALUE_REFS[id(value)] = (value, ref)
    return ref


@lru_cache(maxsize=_VALUE_TEXTS_MAX)
def _equal_value_ref(value: Clause | Source) -> str:
    return hashlib.blake2b(_value_text(value).encode(), digest_size=16).hexdigest()


def stored_text(kind: str, state: Any) -> str:
    """The text a version row stores: the canonical JSON of the state, except that a
    policy's clauses are `{"id", "ref"}` and its sources refs, their texts being stored once
    (`stored_values`) instead of in every version that shares them."""
    if kind != "policy":
        return state_text(state)
    parts = []
    for name, key in _field_keys(type(state)):
        value = getattr(state, name)
        if name == "clauses":
            text = ",".join(
                '{"id":' + _string(c.id) + ',"ref":"' + value_ref(c) + '"}' for c in value
            )
            parts.append(key + "[" + text + "]")
        elif name == "sources":
            parts.append(key + "[" + ",".join('"' + value_ref(x) + '"' for x in value) + "]")
        else:
            parts.append(key + state_text(value))
    return "{" + ",".join(parts) + "}"


def stored_values(kind: str, state: Any) -> tuple[tuple[str, str], ...]:
    """(ref, canonical text) of every clause and source a policy row refers to."""
    if kind != "policy":
        return ()
    return tuple((value_ref(v), _value_text(v)) for v in (*state.clauses, *state.sources))


def cited_policies(references: Sequence[str]) -> tuple[str, ...]:
    """Slugs of the policies among `inResponseTo` references, in order, once each."""
    slugs: list[str] = []
    for text in references:
        try:
            ref = Reference.parse("inResponseTo", text)
        except InvalidInput:
            continue
        if ref.kind == "policy" and ref.slug not in slugs:
            slugs.append(ref.slug)
    return tuple(slugs)


def _listed(values: Sequence[str]) -> str:
    """`,a,b,` so that a LIKE '%,a,%' finds a member without a join."""
    return "," + ",".join(values) + "," if values else ","


def _columns(kind: str, state: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The filter columns of a version row and the policies it cites."""
    if kind == "policy":
        scopes = sorted({code for c in state.clauses for code in c.scope})
        return (
            {
                "owner": state.owner,
                "status": state.status,
                "title": state.title,
                "jurisdictions": _listed(scopes),
            },
            (),
        )
    if kind == "regulatory-action":
        return (
            {
                "authority": state.authority,
                "jurisdiction": state.jurisdiction,
                "targets": _listed(state.targets),
                "status": state.status,
            },
            cited_policies(state.in_response_to),
        )
    if kind == "statement":
        return {"actor": state.actor}, cited_policies(state.in_response_to)
    return {"name": state.name}, ()


def version_row(
    kind: str, span: Span[Any], text: str | None = None, digest: bytes = b""
) -> VersionRow:
    """The row of one span; `text` (and its `digest`) when the caller has them already."""
    columns, cites = _columns(kind, span.state)
    if text is None:
        text, digest = stored_text(kind, span.state), b""
    texts = stored_values(kind, span.state)
    return VersionRow(span.valid_from, span.valid_to, text, columns, cites, digest, texts)


def version_rows(kind: str, believed: Sequence[Fact]) -> list[VersionRow]:
    """The valid-time versions of one aggregate's believed history."""
    return [version_row(kind, span) for span in spans(RULES[kind], believed)]


def _touched_scopes(before: Any, after: Any, fact: Fact) -> set[str]:
    """Jurisdictions of the clauses a policy fact adds, amends or removes (all, for
    announcements and withdrawals), looked up before and after it."""
    data = fact.data
    if fact.type == "PolicyRevised":
        ids = {c["id"] for c in data.get("add_clauses") or ()}
        ids |= {c["id"] for c in data.get("amend_clauses") or ()}
        ids |= set(data.get("remove_clauses") or ())
    else:
        ids = None
    scopes: set[str] = set()
    for state in (before, after):
        for clause in state.clauses if state is not None else ():
            if ids is None or clause.id in ids:
                scopes.update(clause.scope)
    return scopes


def _feed_state(
    kind: str, slug: str, before: Any, after: Any, fact: Fact
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Summary and the actors, jurisdictions and policies a fact concerns, plus its tags."""
    data = fact.data
    summary = data.get("summary") or data.get("title") or data.get("name") or ""
    actors: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    if kind == "policy":
        actors, policies = (after.owner,), (slug,)
        jurisdictions = tuple(sorted(_touched_scopes(before, after, fact)))
    elif kind == "regulatory-action":
        actors = tuple(dict.fromkeys((after.authority, *after.targets)))
        jurisdictions, policies = (after.jurisdiction,), cited_policies(after.in_response_to)
    elif kind == "statement":
        actors, policies = (after.actor,), cited_policies(after.in_response_to)
    else:
        actors = tuple(a for a in (slug, after.parent) if a)
    state = {
        "summary": summary,
        "actors": list(actors),
        "jurisdictions": list(jurisdictions),
        "policies": list(policies),
    }
    tags = (
        *(f"actor:{a}" for a in actors),
        *(f"jurisdiction:{j}" for j in jurisdictions),
        *(f"policy:{p}" for p in policies),
    )
    return state, tuple(dict.fromkeys(tags))


def feed_row(kind: str, slug: str, before: Any, after: Any, fact: Fact, position: int) -> FeedRow:
    """The entry of one believed fact, given the fold's state just before and after it."""
    content, tags = _feed_state(kind, slug, before, after, fact)
    effective = fact.effective_at or fact.recorded_at
    return FeedRow(
        position=position,
        version=fact.version,
        type=fact.type,
        effective_at=effective.astimezone(UTC),
        announced_at=(fact.announced_at or effective).astimezone(UTC),
        recorded_at=fact.recorded_at.astimezone(UTC),
        state=json.dumps(content, sort_keys=True, separators=(",", ":")),
        tags=tags,
    )


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
