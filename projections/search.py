"""Full-text search in time: which policies, regulatory actions and statements said these
words at validAt, as known at knownAt, ranked, with highlighted snippets.

The projector stores one search document per indexed row (`document`, `store`) in the same
transaction as the row; a query matches the documents with the database's own engine (FTS5
on SQLite, `tsvector` and its GIN index on PostgreSQL; `tables.py`) and keeps those whose row
answers (validAt, knownAt), so a search is as reproducible as any other point-in-time read.

Query text is never handed to an engine's syntax: it is cut into phrases of words (letters
and digits; a quoted part, or a hyphenated word, is a phrase), and each phrase is passed as
data. A hit is an aggregate with a field (title, summary, a clause, an action's or a
statement's text) holding every phrase.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    union_all,
)

from domain.errors import InvalidInput
from projections import decode
from projections import tables as t
from projections.models import Page
from projections.queries import Basis, basis, known, valid
from projections.rows import HEAD, VersionRow
from projections.writes import write_many

#: The kinds a search looks at, in their order on ties.
KINDS = ("policy", "regulatory-action", "statement")
#: Hostile-input bounds of a query: its length and how many words it may name.
MAX_QUERY_CHARS = 500
MAX_WORDS = 32
#: Snippets per hit (from its best-ranked fields) and words per snippet.
SNIPPETS_PER_HIT = 3
SNIPPET_WORDS = 24

#: Highlight markers the engines put around matched words; split out into fragments.
_START, _STOP = "\x02", "\x03"
_MARKERS = re.compile(f"([{_START}{_STOP}])")
_WORD = re.compile(r"[^\W_]+")
_PHRASE = re.compile(r'"([^"]*)"?|([^"\s]+)')

Phrases = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Snippet:
    """A matching field's text around the match: fragments, each highlighted or not."""

    field: str
    fragments: tuple[tuple[str, bool], ...]

    @property
    def text(self) -> str:
        return "".join(piece for piece, _ in self.fragments)


@dataclass(frozen=True)
class SearchHit:
    """One aggregate that matched: its kind, slug and title at the basis, its rank (higher
    is better; the best of its fields) and snippets of its best fields."""

    kind: str
    slug: str
    title: str
    rank: float
    snippets: tuple[Snippet, ...]


# -- query text --------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """The words of a text as both engines' tokenisers see plain prose: runs of letters and
    digits, lower-cased."""
    return [word.lower() for word in _WORD.findall(text)]


def parse_query(field: str, query: str) -> Phrases:
    """The phrases of a query (quoted parts and hyphenated words are phrases; everything
    that is not a letter or digit separates words); refused, naming `field`, if too long,
    too many words or no word at all."""
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(field, f"at most {MAX_QUERY_CHARS} characters")
    phrases: list[tuple[str, ...]] = []
    count = 0
    for quoted, bare in _PHRASE.findall(query):
        phrase = tuple(words(quoted or bare))
        count += len(phrase)
        if count > MAX_WORDS:
            raise InvalidInput(field, f"at most {MAX_WORDS} words")
        if phrase and phrase not in phrases:
            phrases.append(phrase)
    if not phrases:
        raise InvalidInput(field, "needs at least one word (letters or digits)")
    return tuple(phrases)


def check_kinds(field: str, kinds: Sequence[str]) -> tuple[str, ...]:
    """The kinds asked for, each one of KINDS (none given: all)."""
    for i, kind in enumerate(kinds):
        if kind not in KINDS:
            raise InvalidInput(f"{field}[{i}]", f"must be one of {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in kinds) if kinds else KINDS


def _fts5_query(phrases: Phrases) -> str:
    """An FTS5 MATCH expression: each phrase a quoted string (its words hold no quote)."""
    return " AND ".join('"' + " ".join(phrase) + '"' for phrase in phrases)


def _tsquery(phrases: Phrases) -> Any:
    """A PostgreSQL tsquery: the phrases, each bound as a parameter, all required."""
    queries: list[Any] = [
        func.phraseto_tsquery(t.TS_CONFIG, " ".join(phrase)) for phrase in phrases
    ]
    return reduce(lambda a, b: a.op("&&")(b), queries)


# -- writing (the projector) ---------------------------------------------------------------------


def document(kind: str, row: VersionRow) -> str | None:
    """The text a version or part row is found by, or None: a policy's title (head part);
    an action's summary and its text, each a field (its `summary`
    and `text` parts); a statement's summary and text, one field (the field each is,
    `_field`, follows from its row). Clauses are found by their text's document
    (`text_document`), as is a policy's summary (schema 14); sources and actors are not
    searched."""
    if kind == "policy":  # (its summary: its text's document, schema 14)
        if row.part != HEAD or row.run is None:
            return None
        found = row.run.value[1]
    elif kind == "regulatory-action":
        if row.part not in ("summary", "text"):
            return None
        if row.run is not None:
            found = row.run.value[0] or ""
        else:
            found = json.loads(row.state).get(row.part) or ""
    elif kind in KINDS:
        if row.value is not None:  # the state the text was written from: the same fields
            fields = (getattr(row.value, "summary", None), getattr(row.value, "text", None))
        else:
            state = json.loads(row.state)
            fields = (state.get("summary"), state.get("text"))
        found = "\n".join(x for x in fields if x)
    else:
        return None
    body = _MARKERS.sub(" ", found)
    return body if body.strip() else None


def text_document(row: VersionRow) -> tuple[str, str] | None:
    """The (ref, text) a clause part row's text is found by (heading and text), or a policy
    frame's summary (schema 14), or None: one document per distinct text, whichever rows name
    it; the text's own row in `projection_texts` (schema 13), which the full-text index reads."""
    if not row.texts:
        return None
    if not row.part:  # a policy frame: its summary, even a blank one (the FTS5 table's
        # content view lists every summary text: a document of no words)
        return row.texts[0][0], _text_body(row.texts[0][1])
    if not row.part.startswith("clause:") or row.run is None:
        return None
    body = t.clause_body(row.run.value.heading, row.run.value.text)
    return (row.texts[0][0], body) if body.strip() else None


def summary_document(body: str) -> str | None:
    """The search document of a feed entry's summary text (`body`, its JSON), if it is one
    (a string: what the content view lists), even blank; a frame's is `text_document`'s."""
    return _text_body(body) if body.startswith('"') else None


def _text_body(stored: str) -> str:
    """The search document of a stored text (`tables.text_body_sql` in Python): a summary's
    string, the markers blanked; a clause's heading and text."""
    found = json.loads(stored)
    if isinstance(found, str):
        return _MARKERS.sub(" ", found)
    return t.clause_body(found.get("heading"), found.get("text"))


def _texts_of(table: Table) -> Table:
    """The texts table beside a search table (live or shadow)."""
    return t.LIVE.texts if table is t.LIVE.search else t.SHADOW.texts


def _indexed(connection: Connection, table: Table, ids: list[int]) -> set[int]:
    """The documents among `ids` that the FTS5 table of `table` holds (its `docsize` rows)."""
    found: set[int] = set()
    ids = [x for x in ids if x is not None]  # (a text of a database older than schema 13)
    for i in range(0, len(ids), CHUNK):
        chunk = ", ".join(str(int(x)) for x in ids[i : i + CHUNK])
        query = text(f"SELECT id FROM {t.fts_name(table)}_docsize WHERE id IN ({chunk})")
        found.update(connection.execute(query).scalars())
    return found


def _text_ids(connection: Connection, table: Table, refs: Sequence[str]) -> dict[str, int]:
    """The ids of the stored texts among `refs` (the texts table beside search table `table`)."""
    texts = _texts_of(table)
    found: dict[str, int] = {}
    for i in range(0, len(refs), CHUNK):
        chunk = list(refs[i : i + CHUNK])
        rows = connection.execute(select(texts.c.ref, texts.c.id).where(texts.c.ref.in_(chunk)))
        found.update((row.ref, row.id) for row in rows)
    return found


def store_texts(connection: Connection, table: Table, bodies: dict[str, str]) -> None:
    """Index the clause texts among `bodies` (ref -> document), stored already in the texts
    table, that are not indexed yet, in the caller's transaction (one active projector writes
    them: `projections/lock.py`): SQLite's FTS5 table is told each; PostgreSQL's GIN index
    on the texts has them with their rows. Not a rebuild's shadow: its FTS5 table is built
    in bulk at the swap (`t.indexed_row_by_row`)."""
    if connection.dialect.name != "sqlite" or not bodies or not t.indexed_row_by_row(table):
        return
    ids = _text_ids(connection, table, list(bodies))
    indexed = _indexed(connection, table, list(ids.values()))
    write_many(
        connection,
        text(f"INSERT INTO {t.fts_name(table)} (rowid, body) VALUES (:id, :body)"),
        [{"id": id_, "body": bodies[ref]} for ref, id_ in ids.items() if id_ not in indexed],
    )


def forget_texts(connection: Connection, table: Table, refs: Sequence[str]) -> None:
    """Unindex the clause and summary texts being deleted (no row names them any more),
    before their rows are: SQLite's FTS5 table is told the text it forgets; PostgreSQL's
    index forgets a text with its row."""
    if connection.dialect.name != "sqlite" or not refs or not t.indexed_row_by_row(table):
        return
    texts = _texts_of(table)
    indexed = sorted(_indexed(connection, table, list(_text_ids(connection, table, refs).values())))
    rows: list[dict[str, Any]] = []
    for i in range(0, len(indexed), CHUNK):
        chunk = indexed[i : i + CHUNK]
        found = connection.execute(select(texts.c.id, texts.c.body).where(texts.c.id.in_(chunk)))
        rows.extend({"id": row.id, "body": _text_body(row.body)} for row in found)
    if rows:
        name = t.fts_name(table)
        connection.execute(
            text(f"INSERT INTO {name} ({name}, rowid, body) VALUES ('delete', :id, :body)"), rows
        )


#: Ids per statement when looking documents up (under SQLite's bound-parameter limit).
CHUNK = 500


def store(connection: Connection, table: Table, documents: list[dict[str, Any]]) -> None:
    """Insert search documents in the caller's transaction, on SQLite: the search table's
    rows (id and kind; the FTS5 table reads the bodies from the rows they belong to,
    `tables.document_bodies`) and their FTS5 entries, but for a rebuild's shadow
    (`t.indexed_row_by_row`: the swap fills its FTS5 table in bulk). On PostgreSQL the rows'
    GIN indexes (`tables.row_documents`) hold them with the rows: nothing to write (schema 13)."""
    if connection.dialect.name != "sqlite":
        return
    write_many(connection, insert(table), [{**d, "body": None} for d in documents])
    if t.indexed_row_by_row(table):
        write_many(
            connection,
            text(f"INSERT INTO {t.fts_name(table)} (rowid, body) VALUES (:id, :body)"),
            [{"id": d["id"], "body": d["body"]} for d in documents],
        )


def forget(connection: Connection, table: Table, ids: list[int]) -> None:
    """Delete the search documents of rows being deleted (a redaction's rebuild of one
    aggregate), before the rows are: an erased text must not stay findable, nor in the FTS5
    index on SQLite (told the text it forgets, read from the rows)."""
    if not ids:
        return
    if connection.dialect.name == "sqlite" and t.indexed_row_by_row(table):
        models = t.LIVE if table is t.LIVE.search else t.SHADOW
        bodies = t.document_bodies(models).subquery()
        rows: list[dict[str, Any]] = []
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            gone = connection.execute(select(bodies).where(bodies.c.id.in_(chunk)))
            rows.extend({"id": row.id, "body": row.body} for row in gone)
        if rows:
            connection.execute(
                text(
                    f"INSERT INTO {t.fts_name(table)} ({t.fts_name(table)}, rowid, body) "
                    "VALUES ('delete', :id, :body)"
                ),
                rows,
            )
    connection.execute(delete(table).where(table.c.id.in_(ids)))


# -- reading -------------------------------------------------------------------------------------


def _fts_table() -> Table:
    found = _FTS.get("live")
    if found is None:
        found = _FTS["live"] = Table(
            t.fts_name(t.search), MetaData(), Column("rowid", Integer), Column("body", Text)
        )
    return found


_FTS: dict[str, Table] = {}


def _bases(kinds: Sequence[str]) -> list[tuple[str, Table]]:
    """The row tables whose rows the documents of `kinds` belong to."""
    found = []
    for kind in kinds:
        parts = t.LIVE.parts(kind)
        if kind != "regulatory-action":  # an action's frames have no document
            found.append((kind, t.LIVE.versions(kind)))
        if parts is not None:
            found.append((kind, parts))
    return found


def _matches(
    dialect: str, phrases: Phrases, kinds: Sequence[str], v: datetime, k: datetime | int
) -> list[Select[Any]]:
    """One select per row table: the documents matching `phrases` whose row answers (v, k),
    with their rank (higher is better)."""
    s = t.search
    if dialect == "postgresql":  # each row table's GIN index, on its rows' documents
        query = _tsquery(phrases)
        selects = []
        for found in t.row_documents(t.LIVE):
            if found.kind not in kinds:
                continue
            base, vector = found.table, found.vector()
            selects.append(
                select(_row_id(base), literal(found.kind).label("kind"), base.c.slug)
                .add_columns(_field(found.kind, base), func.ts_rank(vector, query).label("rank"))
                .where(vector.op("@@")(query), *found.where, valid(base, v), known(base, k))
                .where(_texts_are_documents() if found.current else ~_summaries_are_texts())
            )
        rank: ColumnElement[Any] = literal(0.0)
        match: ColumnElement[bool] = literal(True)
    else:
        fts = _fts_table()
        name: Any = literal_column(fts.name)
        rank = -func.bm25(name)
        match = name.op("MATCH")(literal(_fts5_query(phrases)))
        source: Any = fts.join(s, s.c.id == fts.c.rowid)
        selects = []
        # A row's document has the row's id, (opened_by << 20) + seq: its primary key, probed.
        unit = literal_column(str(1 << t.RTREE_SEQ_BITS), BigInteger)
        opened_by, seq = s.c.id.op("/", return_type=BigInteger)(unit), s.c.id.op("%")(unit)
        for kind, base in _bases(kinds):
            on = and_(base.c.opened_by == opened_by, base.c.seq == seq)
            selects.append(
                select(s.c.id, s.c.kind, base.c.slug, _field(kind, base), rank.label("rank"))
                .select_from(source.join(base, on))
                .where(match, s.c.kind == kind, valid(base, v), known(base, k))
            )
    if "policy" in kinds:  # summaries (schema 14), then clause texts: their rows are their
        # documents, joined to the frames and the parts naming them
        selects.append(_summary_matches(dialect, phrases, v, k))
        pp, tx = t.policy_parts, t.texts
        named = and_(
            t.part_ref(pp) == t.text_ref(tx, dialect),
            pp.c.part.startswith("clause:", autoescape=True),
        )
        if dialect == "postgresql":
            vector = t.text_vector(tx)
            rank, match, source = func.ts_rank(vector, query), vector.op("@@")(query), tx
        else:
            source = fts.join(tx, tx.c.id == fts.c.rowid)
        selects.append(
            select(tx.c.id, literal("policy").label("kind"), pp.c.slug, pp.c.part.label("field"))
            .add_columns(rank.label("rank"))
            .select_from(source.join(pp, named))
            .where(match, valid(pp, v), known(pp, k), _texts_are_documents())
        )
    return selects


def _summary_matches(dialect: str, phrases: Phrases, v: datetime, k: datetime | int) -> Select[Any]:
    """The summary texts matching `phrases` (schema 14: their rows are their documents),
    joined to the frames that name them (`ix_projection_policy_versions_summary`) and
    answer (v, k)."""
    pv, tx = t.policy_versions, t.texts
    named = pv.c.summary == t.text_number(tx)
    if dialect == "postgresql":
        vector, query = t.text_vector(tx), _tsquery(phrases)
        rank: Any = func.ts_rank(vector, query)
        match: Any = vector.op("@@")(query)
        source: Any = tx
    else:
        fts = _fts_table()
        name: Any = literal_column(fts.name)
        rank, match = -func.bm25(name), name.op("MATCH")(literal(_fts5_query(phrases)))
        source = fts.join(tx, tx.c.id == fts.c.rowid)
    field = literal("summary").label("field")
    return (
        select(tx.c.id, literal("policy").label("kind"), pv.c.slug, field)
        .add_columns(rank.label("rank"))
        .select_from(source.join(pv, named))
        .where(match, valid(pv, v), known(pv, k))
    )


#: The schema from which the texts are their own search documents.
_TEXT_DOCUMENTS = 13


def _texts_are_documents() -> ColumnElement[bool]:
    """Whether the read models' clause texts are search documents: from schema 13 on (an older
    database's clause documents were copies in its search table, found again after its
    rebuild, as the other documents of a database older than the search are)."""
    built = select(func.coalesce(func.min(t.tracking.c.schema_version), t.SCHEMA_VERSION))
    return built.scalar_subquery() >= _TEXT_DOCUMENTS


#: The schema from which a policy's summary is its text's search document, not its frame's.
_SUMMARY_TEXTS = 14


def _summaries_are_texts() -> ColumnElement[bool]:
    """Whether the read models' summaries are texts (schema 14 on): an older database's frames
    are their summaries' documents (PostgreSQL: their GIN index, left from before), until its
    rebuild."""
    built = select(func.coalesce(func.min(t.tracking.c.schema_version), t.SCHEMA_VERSION))
    return built.scalar_subquery() >= _SUMMARY_TEXTS


def _row_id(base: Table) -> ColumnElement[int]:
    """A row's document id, (opened_by << 20) + seq, from its row."""
    unit = literal_column(str(1 << t.RTREE_SEQ_BITS), BigInteger)
    return (base.c.opened_by * unit + base.c.seq).label("id")


def _field(kind: str, base: Table) -> ColumnElement[str]:
    """The field a row's document holds, from its row (`document` says which)."""
    if base is t.policy_parts:
        return case((base.c.part == HEAD, "title"), else_=base.c.part).label("field")
    if "part" in base.c:  # an action's `summary` and `text` parts
        return base.c.part.label("field")
    return literal("summary" if kind == "policy" else "text").label("field")


def matching_policies(
    dialect: str, field: str, query: str, v: datetime, k: datetime | int
) -> ColumnElement[bool]:
    """A condition on `policy_versions`: its policy has a field holding `query` at (v, k)
    (`list_policies`' `search` filter)."""
    phrases = parse_query(field, query)
    slug = t.policy_versions.c.slug
    found = _matches(dialect, phrases, ("policy",), v, k)
    return or_(*(slug.in_(select(q.subquery().c.slug)) for q in found))


def search(
    engine: Engine,
    query: str,
    valid_at: datetime | None = None,
    known_at: Basis = None,
    *,
    kinds: Sequence[str] = (),
    first: int = 20,
    after: str | None = None,
) -> Page[SearchHit]:
    """The aggregates with a field holding every phrase of `query` at `valid_at` as known at
    `known_at` (a log position, an instant, or now), best rank first (then kind, slug),
    keyset-paginated by opaque cursor; `total_count` counts every hit."""
    first = decode.check_first(first)
    phrases = parse_query("query", query)
    chosen = check_kinds("kinds", kinds)
    v, k = decode.instant("validAt", valid_at), basis(known_at)
    dialect = engine.dialect.name
    with engine.connect() as connection:
        rows = [
            row for q in _matches(dialect, phrases, chosen, v, k) for row in connection.execute(q)
        ]
        grouped: dict[tuple[str, str], list[Any]] = {}
        for row in rows:
            grouped.setdefault((row.kind, row.slug), []).append(row)
        ranked = sorted(
            ((max(r.rank for r in found), kind, slug) for (kind, slug), found in grouped.items()),
            key=lambda hit: (-hit[0], KINDS.index(hit[1]), hit[2]),
        )
        total = len(ranked)
        if after is not None:
            rank, kind, slug = decode.decode_cursor(after, [float, str, str])
            if kind not in KINDS:
                raise InvalidInput("after", "is not a cursor of this list")
            mark = (-rank, KINDS.index(kind), slug)
            ranked = [h for h in ranked if (-h[0], KINDS.index(h[1]), h[2]) > mark]
        shown = ranked[:first]
        best = {(kind, slug): _best_fields(grouped[(kind, slug)]) for _, kind, slug in shown}
        snippets = _snippets(
            connection, dialect, phrases, [r.id for found in best.values() for r in found]
        )
        titles = _titles(connection, [(kind, slug) for _, kind, slug in shown], v, k)
    hits = tuple(
        SearchHit(
            kind,
            slug,
            titles.get((kind, slug), slug),
            float(rank),
            tuple(Snippet(r.field, snippets[r.id]) for r in best[(kind, slug)] if r.id in snippets),
        )
        for rank, kind, slug in shown
    )
    return Page(
        items=hits,
        has_next_page=len(ranked) > first,
        end_cursor=_cursor(hits[-1]) if hits else None,
        start_cursor=_cursor(hits[0]) if hits else None,
        total_count=total,
    )


def hit_cursor(hit: SearchHit) -> list[Any]:
    """The sort key a hit's cursor encodes (for connections)."""
    return [hit.rank, hit.kind, hit.slug]


def _cursor(hit: SearchHit) -> str:
    return decode.encode_cursor(hit_cursor(hit))


def _best_fields(rows: list[Any]) -> list[Any]:
    """A hit's best-ranked documents, one per field, at most SNIPPETS_PER_HIT."""
    chosen: dict[str, Any] = {}
    for row in sorted(rows, key=lambda r: (-r.rank, r.field, r.id)):
        if row.field not in chosen:
            chosen[row.field] = row
    return list(chosen.values())[:SNIPPETS_PER_HIT]


def _snippets(
    connection: Connection, dialect: str, phrases: Phrases, ids: list[int]
) -> dict[int, tuple[tuple[str, bool], ...]]:
    """The highlighted snippet of each document, made by the engine."""
    if not ids:
        return {}
    if dialect == "postgresql":
        options = f"StartSel={_START}, StopSel={_STOP}, MaxWords={SNIPPET_WORDS}, MinWords=8"
        tx, q = t.texts, _tsquery(phrases)
        unit = 1 << t.RTREE_SEQ_BITS
        keys = [(i // unit, i % unit) for i in ids if i >= 0]
        arms = [
            select(_row_id(found.table), func.ts_headline(t.TS_CONFIG, body, q, options)).where(
                tuple_(found.table.c.opened_by, found.table.c.seq).in_(keys), *found.where
            )
            for found in t.row_documents(t.LIVE)
            for body in (found.body(dialect),)
        ]
        both = union_all(
            *arms,
            select(
                tx.c.id,
                func.ts_headline(t.TS_CONFIG, t.text_body_sql(tx, dialect), q, options),
            ).where(tx.c.id.in_([i for i in ids if i < 0])),
        )
        return {row[0]: _fragments(row[1] or "") for row in connection.execute(both)}
    else:
        fts = _fts_table()
        name: Any = literal_column(fts.name)
        snippet = func.snippet(name, 0, _START, _STOP, "…", SNIPPET_WORDS)
        query = select(fts.c.rowid.label("id"), snippet.label("snippet")).where(
            name.op("MATCH")(literal(_fts5_query(phrases))), fts.c.rowid.in_(ids)
        )
    return {row.id: _fragments(row.snippet or "") for row in connection.execute(query)}


def _fragments(marked: str) -> tuple[tuple[str, bool], ...]:
    """Split an engine's marked-up snippet into (text, highlighted) fragments."""
    found: list[tuple[str, bool]] = []
    on = False
    for piece in _MARKERS.split(marked):
        if piece in (_START, _STOP):
            on = piece == _START
        elif piece:
            found.append((piece, on))
    return tuple(found)


def _titles(
    connection: Connection, hits: list[tuple[str, str]], v: datetime, k: datetime | int
) -> dict[tuple[str, str], str]:
    """Each hit's title at (v, k): a policy's title, an action's or statement's summary."""
    found: dict[tuple[str, str], str] = {}
    for kind in KINDS:
        slugs = [slug for hit_kind, slug in hits if hit_kind == kind]
        if not slugs:
            continue
        if kind == "policy":
            pp = t.policy_parts
            query = select(pp.c.slug, pp.c.title.label("title")).where(
                pp.c.part == HEAD, pp.c.slug.in_(slugs), valid(pp, v), known(pp, k)
            )
            found.update(((kind, r.slug), r.title) for r in connection.execute(query))
            continue
        parts = t.LIVE.parts(kind)  # an action's summary: its summary part
        base = t.LIVE.versions(kind) if parts is None else parts
        query = select(base.c.slug, base.c.state).where(
            base.c.slug.in_(slugs), valid(base, v), known(base, k)
        )
        if base is t.action_parts:
            query = query.where(base.c.part == "summary")
        for row in connection.execute(query):
            found[(kind, row.slug)] = json.loads(row.state).get("summary") or row.slug
    return found
