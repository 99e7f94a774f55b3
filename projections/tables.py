"""The read models' SQLAlchemy Core tables, in their own MetaData, beside the event store.

Every version table is bitemporal: a row holds one state over the valid-time interval
[valid_from, valid_to) as believed over the record-time interval [known_from, known_to);
NULL means open. Rows are keyed by (opened_by, seq): the log position of the event that
opened them and their index among the rows it opened, so a replay gives the same keys.

The same set of tables exists twice: LIVE (what the queries read) and SHADOW (suffix
`_next`, what a rebuild fills before it swaps them in, so readers never see a half-built
projection).
"""

from __future__ import annotations

import logging
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Dialect,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    and_,
    case,
    cast,
    event,
    exists,
    func,
    inspect,
    literal,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import DateTime, TypeDecorator

log = logging.getLogger(__name__)

#: Bump when the shape or the meaning of any table below changes: the runner then rebuilds.
SCHEMA_VERSION = 15
# 2: policy clauses and sources stored once, by content address.
# 3: a policy version is a frame row (its valid-time interval, status and the fact that made
#    it) plus part rows (head, each clause, each source) with their own intervals; the
#    revision counter is counted from the feed at read time (docs/projections.md).
# 4: versions carry corrected_by.
# 5: the two-dimensional lookup index spans valid time and record time by log position
#    (opened_by, closed_by), the basis the API reads at (`knownAtPosition`); the feed's
#    folded index covers those positions.
# 6: the full-text search documents (`projection_search`: policy titles, summaries and
#    clauses, action and statement texts) with their index (FTS5 on SQLite, GIN on PostgreSQL).
# 7: the facts' index by position (`ix_projection_facts_position`): the stream version as
#    known at a position is one probe, not a scan of the versions recorded after it; the
#    R*Tree boxes' aggregate dimension is [key, key + 1) (30-bit key), not a point.
# 8: a policy frame no longer stores `corrected_by` (the corrections of every fact folded
#    into it, which a correction changed in every later frame): each feed entry holds its own
#    fact's corrections (`corrections`), and a version's are gathered from the feed at read
#    time, like its revision counter. Smaller: the open-row indexes are partial (open rows
#    only); tags and response links are WITHOUT ROWID tables on SQLite.
# 9: a regulatory action version is a frame (`projection_action_versions`: status, lifted_at,
#    the fact that made it) plus parts (`projection_action_parts`: head, text, targets,
#    in_response_to, sources), like a policy's; its counter and corrections are gathered from
#    the feed (issue 14: a retroactive amendment no longer rewrites every later version); an
#    actor row no longer stores its former names and corrections (gathered from the feed).
# 10: a policy's revision counter is stored for the point lookup (`projections/counter.py`):
#    the frame's `counter_day`, `counter_base`, `counter_at`, and the tree of the aggregate's
#    non-forward feed changes (`projection_policy_counter_nodes`, `..._changes`).
# 11: one search document per distinct clause text, keyed by its ref and joined to the part
#    rows naming it (`ix_projection_policy_parts_ref`), not one per clause part row; a
#    document no longer copies its row's slug, field, opened_by and seq.
# 12: on SQLite an instant is an integer of microseconds since 1970, not ISO text (26 bytes
#    in every row and index entry that holds one); an older database's instants are
#    converted in place at the start (`_integer_instants`), then rebuilt as any older schema.
#    The facts' payloads are stored deflated (`PackedJSON`); the facts and the counter's
#    changes are WITHOUT ROWID tables on SQLite; the feed's tags are keyed tag first, without
#    the index that repeated them in that order.
# 13: a clause text is stored once: its `projection_texts` row (keyed by its document id) is
#    its search document (FTS5 reads it through the view `projection_search_content`; on
#    PostgreSQL a GIN index on an expression over the texts), no copy in `projection_search`.
# 14: on SQLite a UUID (every `aggregate_id`: in every row and in the open, folded,
#    corrected, facts' and counter's indexes) is 16 bytes (`CompactUuid`), not 32 hex
#    characters, and so is a text's content address (`projection_texts.ref`, `CompactDigest`:
#    the parts' states keep naming it in hex); an older database's are converted in place at
#    the start (`_blob_keys`).
#    The facts no longer copy their payloads: `projection_facts.data` is NULL but for a
#    redaction's note (what `queries.redactions_of` reads); the projector reads an
#    aggregate's payloads back from the event log (`projector.AggregateLog`). An older
#    database's copies are left alone and read by nothing until its rebuild.
#    A policy summary is stored once: a frame names its summary's `projection_texts` row
#    (`summary`, the text's number) instead of holding it in its state, and that texts row is
#    the summary's search document (found back to the frames through `ix_..._summary`), not
#    each frame; so does a feed entry (its fact's summary: mostly a frame's too); reads put
#    the summary back into the state in SQL (`summarised_state`).
# 15: on PostgreSQL the feed's tags are no rows of `projection_timeline_tags` (5.1 MB of
#    heap and key at 10k events): a GIN index of the entries' states finds them
#    (`feed_tagged`); SQLite keeps its tag rows. An older database gets the index at the start
#    (`_create_added_indexes`) and answers from it; its tag rows are read by nothing until
#    the rebuild.

metadata = MetaData()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant_micros(at: datetime) -> int:
    """An instant as whole microseconds since 1970 (UTC), exactly."""
    delta = at.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros_instant(micros: int) -> datetime:
    """The instant `instant_micros` gave `micros` for, aware, in UTC."""
    return _EPOCH + timedelta(microseconds=micros)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and read back timezone-aware: `timestamptz` on PostgreSQL, on
    SQLite an integer of microseconds since 1970 (schema 12: 8 bytes, where the ISO text
    `YYYY-MM-DD HH:MM:SS.ffffff` took 26 in every row and index that holds it; integers
    compare as the instants do). Text read back is an older database's, until its rebuild."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return instant_micros(value)
        return value.astimezone(UTC)

    def process_literal_param(self, value: datetime | None, dialect: Dialect) -> Any:
        return self.process_bind_param(value, dialect)  # then rendered by the dialect's impl

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return stored_instant(value)

    @property
    def python_type(self) -> type[datetime]:
        return datetime


class CompactUuid(TypeDecorator[UUID]):
    """A UUID: native `uuid` on PostgreSQL, on SQLite its 16 bytes as a BLOB (schema 14: the
    CHAR(32) hex text of SQLAlchemy's `Uuid` took 32 in every row and index that holds one;
    blobs compare as the hex texts do). Text read back is an older database's."""

    impl = Uuid
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(LargeBinary(16))
        return dialect.type_descriptor(Uuid())

    def process_bind_param(self, value: UUID | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return value.bytes

    def process_result_value(self, value: Any, dialect: Dialect) -> UUID | None:
        if value is None or isinstance(value, UUID):
            return value
        if isinstance(value, str):
            return UUID(value)
        return UUID(bytes=bytes(value))

    @property
    def python_type(self) -> type[UUID]:
        return UUID


class CompactDigest(TypeDecorator[str]):
    """A text's content address (`rows.value_ref`: 32 hex characters), bound and read back as
    that text: VARCHAR(32) on PostgreSQL, on SQLite its 16 bytes as a BLOB (schema 14; in SQL
    `text_ref` spells it as the parts' states do). Text read back is an older database's."""

    impl = String(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(LargeBinary(16))
        return dialect.type_descriptor(String(32))

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return bytes.fromhex(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return bytes(value).hex()

    @property
    def python_type(self) -> type[str]:
        return str


#: What `PackedJSON` deflates against (a preset dictionary: the shapes and keys of the facts'
#: payloads, so that a small payload does not pay for spelling them out). Never change it:
#: stored values name it by their first byte; a new dictionary takes a new first byte.
_PACK_DICTIONARY = (
    b'{"add_clauses": [{"expires_at": null, "heading": "", "id": "", "scope": [], "text": ""}], '
    b'"amend_clauses": [], "remove_clauses": [], "sources": [{"published_at": "", '
    b'"publisher": "", "quote": "", "url": "https://"}], "summary": "", "title": "", '
    b'"changes": {}, "reason": "", "target": , "authority": "", "in_response_to": [], '
    b'"jurisdiction": "", "targets": [], "kind": "", "name": "", "parent": null, "slug": "", '
    b'"clauses": [], "owner": "", "effective_at": "", "T00:00:00+00:00"}'
)
_PACKED_V1 = b"\x01"


def pack_json(value: str) -> bytes:
    """A JSON text as `PackedJSON` stores it: a version byte, then raw deflate against
    `_PACK_DICTIONARY` (a fact's payload: 36% of its text on the bench's histories)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _PACK_DICTIONARY)
    return _PACKED_V1 + packer.compress(value.encode()) + packer.flush()


def unpack_json(value: bytes | memoryview | str) -> str:
    """The JSON text `pack_json` packed (a text as it is: a database older than schema 12)."""
    if isinstance(value, str):
        return value
    value = bytes(value)
    if value[:1] != _PACKED_V1:
        raise ValueError(f"unknown packing {value[:1]!r}")
    unpacker = zlib.decompressobj(-15, zdict=_PACK_DICTIONARY)
    return (unpacker.decompress(value[1:]) + unpacker.flush()).decode()


class PackedJSON(TypeDecorator[str]):
    """A JSON text stored deflated (schema 12): the redactions' notes among the facts (schema
    14: no other payload), which only the redactions' list reads back, never a query's
    filter. Bound and read back as the text."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else pack_json(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else unpack_json(value)


def stored_instant(value: Any) -> datetime | None:
    """An instant as a driver hands it back from a `UTCDateTime` column (or an aggregate of
    one): microseconds on SQLite (ISO text in a database older than schema 12), a datetime on
    PostgreSQL; aware, in UTC."""
    if value is None:
        return None
    if isinstance(value, int):
        return micros_instant(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bitemporal(metadata: MetaData, name: str, *columns: Column[Any]) -> Table:
    """A version table: its own columns plus the bitemporal frame and its lookup index."""
    table = Table(
        name,
        metadata,
        Column("opened_by", BigInteger, primary_key=True, autoincrement=False),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("aggregate_id", CompactUuid, nullable=False),
        Column("slug", String(200), nullable=False),
        Column("valid_from", UTCDateTime, nullable=False),
        Column("valid_to", UTCDateTime),
        Column("known_from", UTCDateTime, nullable=False),
        Column("known_to", UTCDateTime),
        Column("closed_by", BigInteger),
        *columns,
        Column("state", Text, nullable=False),
    )
    Index(f"ix_{name}_lookup", table.c.slug, table.c.valid_from, table.c.known_from)
    _open_index(table)
    return table


def _open_index(table: Table) -> Index:
    """An aggregate's open rows (what the projector loads to diff against): a partial index
    over the open rows only, most rows of a long history being closed (schema 8)."""
    return Index(
        f"ix_{table.name}_open",
        table.c.aggregate_id,
        sqlite_where=table.c.known_to.is_(None),
        postgresql_where=table.c.known_to.is_(None),
    )


# _KEYED: on SQLite, a table whose primary key is all it holds (tags, response links), or
# whose rows are small and always found by their key (the facts; the counter's
# changes: schema 12), is stored in its key's B-tree (`WITHOUT ROWID`), not in a rowid table
# plus that index.


# -- the two-dimensional index of point lookups ------------------------------------------------
#
# A lookup (validAt V, log position P) of one aggregate wants the rows whose box
# [valid_from, valid_to) x [opened_by, closed_by) holds the point (V, P). A B-tree on
# (slug, valid_from) scans every row of the aggregate that starts before V; these indexes
# find the boxes that hold the point. PostgreSQL: GiST over (slug, tstzrange, int8range)
# (btree_gist for the slug). SQLite: an R*Tree (`rtree_i32`) beside the table, written by the
# projector, whose boxes are the rows' valid time in whole minutes rounded outwards and their
# positions (clamped to 32 bits), with [key, key + 1) for a 30-bit key of the aggregate as a
# third dimension (an interval: a point there gives every box a volume of zero): a
# candidate filter joined to the exact rows. Reads by instant take the B-tree.

#: Row ids in an R*Tree: opened_by * 2**20 + seq (an event opens fewer than 2**20 rows).
RTREE_SEQ_BITS = 20
_INT32_MAX = 2**31 - 1
_MINUTE = 60_000_000  # microseconds


def rtree_name(table: Table) -> str:
    return f"{table.name}_rtree"


def rtree_table(table: Table) -> Table:
    """The R*Tree beside `table` as a Core table, for queries (created by DDL, not here)."""
    found = _RTREES.get(table.name)
    if found is None:
        found = _RTREES[table.name] = Table(
            rtree_name(table),
            MetaData(),
            Column("id", BigInteger, primary_key=True),
            *(Column(name, Integer) for name in ("a0", "a1", "v0", "v1", "k0", "k1")),
        )
    return found


_RTREES: dict[str, Table] = {}


def rtree_key(aggregate_id: Any) -> int:
    """The aggregate's coordinate in the R*Tree: 30 bits of its UUID (its box is [key,
    key + 1), exact in an i32)."""
    return int.from_bytes(aggregate_id.bytes[:4], "big") >> 2


def rtree_minute(at: datetime) -> int:
    """An instant as whole minutes since 1970, rounded down, clamped to the i32 range."""
    return max(-_INT32_MAX, min(_INT32_MAX - 1, instant_micros(at) // _MINUTE))


def rtree_end(at: datetime | None) -> int:
    """The end of an interval, rounded up past it (open: the largest i32), so that a box
    always holds its row's exact box."""
    return _INT32_MAX if at is None else min(_INT32_MAX, rtree_minute(at) + 1)


def rtree_position(position: int) -> int:
    """A log position as an R*Tree coordinate, clamped to the i32 range (beyond it, every
    box and every query meet at the bound: a looser filter, never a missed row)."""
    return min(_INT32_MAX - 1, position)


def rtree_position_end(position: int | None) -> int:
    """The end of a record-time interval (the closing position; open: the largest i32)."""
    return _INT32_MAX if position is None else min(_INT32_MAX, position)


def rtree_row(row: dict[str, Any]) -> dict[str, Any]:
    """The R*Tree entry of a stored row (as the projector inserts it)."""
    key = rtree_key(row["aggregate_id"])
    return {
        "id": (row["opened_by"] << RTREE_SEQ_BITS) + row["seq"],
        # [key, key + 1), not [key, key]: with an extent of zero in one dimension every
        # box has a volume of zero, and the R*Tree's choice of node by least enlargement
        # has nothing to go by (a point lookup then visits most nodes: 174 us for one box
        # of 20,000, against 7.5 us with the extent)
        "a0": key,
        "a1": key + 1,
        "v0": rtree_minute(row["valid_from"]),
        "v1": rtree_end(row["valid_to"]),
        "k0": rtree_position(row["opened_by"]),
        "k1": rtree_position_end(row["closed_by"]),
    }


#: Tables with a two-dimensional lookup index, by name (live and shadow).
STABBED: set[str] = set()
#: Indexes that exist on PostgreSQL only (GiST): SQLite's swap does not recreate them.
POSTGRES_ONLY: set[str] = set()


def _btree_gist_installed(connection: Connection) -> bool:
    found = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'"))
    return found.first() is not None


def _has_btree_gist(
    ddl: Any,
    target: Any,
    bind: Connection | None,
    tables: Any = None,
    state: Any = None,
    *,
    dialect: Dialect,
    compiler: Any = None,
    checkfirst: bool = False,
) -> bool:
    """Create the GiST index only where its extension is (see `_create_btree_gist`)."""
    return bind is not None and _btree_gist_installed(bind)


def _create_rtree(table: Table, connection: Connection, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        connection.execute(
            text(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {rtree_name(table)} "
                "USING rtree_i32(id, a0, a1, v0, v1, k0, k1)"
            )
        )


def _drop_rtree(table: Table, connection: Connection, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        connection.execute(text(f"DROP TABLE IF EXISTS {rtree_name(table)}"))


def _stabbed(table: Table) -> Table:
    """Give a version table its two-dimensional lookup index (see above)."""
    name = f"ix_{table.name}_stab"
    Index(
        name,
        table.c.slug,
        func.tstzrange(table.c.valid_from, table.c.valid_to),
        func.int8range(table.c.opened_by, table.c.closed_by),
        postgresql_using="gist",
    ).ddl_if(dialect="postgresql", callable_=_has_btree_gist)
    event.listen(table, "after_create", _create_rtree)
    event.listen(table, "after_drop", _drop_rtree)
    STABBED.add(table.name)
    POSTGRES_ONLY.add(name)
    return table


# -- the full-text index ------------------------------------------------------------------------
#
# One search document per indexed version or part row (`projections/search.py` says which),
# keyed by the same id as the row's R*Tree entry, (opened_by << 20) + seq, in
# `projection_search`; and one per distinct clause text (schema 11), which since schema 13 is
# the `projection_texts` row itself (the text is stored once): its document is its heading and
# text (`clause_body`), its id a negative number (`FIRST_TEXT_ID`; row ids are not),
# joined to its part rows by ref at query time (`part_ref`, indexed). A clause unchanged over
# many versions, or rewritten by retroactive changes, is one document, not one per row. A row
# document holds its kind and text only: the slug and the field are its rows'.
# PostgreSQL: GIN indexes on the `tsvector`s (the `simple` configuration: words as written,
# lower-cased, no stemming, no stop words), one on the row documents' bodies, one on an
# expression over the texts' bodies. SQLite: one FTS5 table beside the search table, tokenised
# by unicode61 without removing diacritics, to match, whose external content is a view of both
# (`projection_search_content`: the row documents' bodies and the texts' clause bodies), so
# that the snippets read the text where it is stored.

#: The text search configuration of the GIN indexes and of every query that uses them.
TS_CONFIG: Any = literal_column("'simple'::regconfig")

#: The characters a document's body never holds (the engines' highlight markers): a space each.
MARKERS = "\x02\x03"


def search_vector(table: Table) -> Any:
    """The `tsvector` of a row search document: the expression its GIN index holds."""
    return func.to_tsvector(TS_CONFIG, table.c.body)


def clause_body(heading: str | None, text_: str | None) -> str:
    """A clause text's search document: its heading and text, one line apart, the markers
    blanked (what `clause_body_sql` computes from the stored text)."""
    body = f"{heading or ''}\n{text_ or ''}"
    return body.translate({ord(c): " " for c in MARKERS})


def clause_body_sql(table: Table, dialect: str) -> Any:
    """`clause_body` of a stored text (its JSON's heading and text) in SQL: a source's has
    neither, an empty document."""
    body, empty = table.c.body, literal_column("''", Text)
    if dialect == "postgresql":  # literals inlined: the GIN index's expression is the query's
        as_json = cast(body, JSON)
        heading: Any = as_json.op("->>", return_type=Text)(literal_column("'heading'"))
        text_: Any = as_json.op("->>", return_type=Text)(literal_column("'text'"))
        joined = func.coalesce(heading, empty).op("||")(literal_column("E'\\n'"))
        joined = joined.op("||")(func.coalesce(text_, empty))  # not concat(): it is not immutable
        return func.translate(joined, literal_column("E'\\x02\\x03'"), literal_column("'  '"))
    heading = func.json_extract(body, literal_column("'$.heading'"))
    text_ = func.json_extract(body, literal_column("'$.text'"))
    joined = func.coalesce(heading, empty).op("||")(literal_column("char(10)"))
    joined = joined.op("||")(func.coalesce(text_, empty))
    space = literal_column("' '", Text)
    return func.replace(
        func.replace(joined, literal_column("char(2)"), space), literal_column("char(3)"), space
    )


def is_summary(table: Table) -> Any:
    """Whether a stored text is a summary (schema 14): its body a JSON string, where a
    clause's or a source's is an object."""
    return func.substr(table.c.body, literal_column("1"), literal_column("1")) == literal_column(
        "'\"'", Text
    )


def summary_body_sql(table: Table, dialect: str) -> Any:
    """A summary text's search document in SQL: the string its body is, the markers blanked."""
    if dialect == "postgresql":
        found: Any = cast(table.c.body, JSON).op("#>>", return_type=Text)(literal_column("'{}'"))
    else:
        found = func.json_extract(table.c.body, literal_column("'$'"))
    return _blanked(found, dialect)


def text_body_sql(table: Table, dialect: str) -> Any:
    """The search document of any stored text: a summary's string, a clause's heading and
    text (a source's: empty)."""
    return case(
        (is_summary(table), summary_body_sql(table, dialect)),
        else_=clause_body_sql(table, dialect),
    )


def text_vector(table: Table) -> Any:
    """The `tsvector` of a stored text's document, a clause's or a summary's: the expression
    the texts' GIN index holds (schema 14; 13's was over the clause's heading and text alone,
    the same vector for a clause), its literals inlined so that a query's is the index's."""
    return func.to_tsvector(TS_CONFIG, text_body_sql(table, "postgresql"))


#: The first text's id: texts are numbered from it upwards, in the order they are stored, so
#: that a text's id is negative (a row document's, (opened_by << 20) + seq, is not) and a new
#: text's row goes at the end of the texts' B-tree (numbers drawn from its ref, in no order,
#: left the SQLite table's pages 2/3 full: 5.57 MB against 4.82 MB at 10k events).
FIRST_TEXT_ID = -(2**62)


def _next_text_id(name: str) -> Any:
    """The id of a text being stored in table `name`: one past the last (a SQL default,
    evaluated row by row: one projector writes the texts, `projections/lock.py`)."""
    return text(f"(SELECT coalesce(max(id), {FIRST_TEXT_ID - 1}) + 1 FROM {name})")


def summarised_row(table: Table, texts: Table) -> list[Any]:
    """A frame's or a feed entry's columns as its readers take them: its state with its
    summary put back (`summarised_state`), not the number of the summary's text."""
    state = summarised_state(table, texts).label("state")
    return [state if c.name == "state" else c for c in table.c if c.name != "summary"]


def text_number(table: Table) -> Any:
    """What a row's `summary` column holds for a text's id: the text's number, counted from
    `FIRST_TEXT_ID` (1 to 3 bytes on SQLite, where the id takes 8)."""
    return table.c.id - literal_column(str(FIRST_TEXT_ID), BigInteger)


def summarised_state(table: Table, texts: Table) -> Any:
    """A frame's or a feed entry's state text with its summary put back (schema 14: its row
    names the text by `summary`), exactly the text `rows.stored_text` or `rows.feed_text`
    wrote; a row of an older schema holds it in its state (`summary` NULL)."""
    state, number = table.c.state, table.c.summary
    body = (
        select(texts.c.body)
        .where(texts.c.id == number + literal_column(str(FIRST_TEXT_ID), BigInteger))
        .scalar_subquery()
    )
    length = func.length(state) - literal_column("1")
    joined = func.substr(state, literal_column("1"), length).op("||")(
        literal_column("',\"summary\":'", Text)
    )
    joined = joined.op("||")(body).op("||")(literal_column("'}'", Text))
    return case((number.is_(None), state), else_=joined)


def part_ref(table: Table) -> Any:
    """The ref a clause or source part row names: the last 32 characters before `"}` of its
    state (`rows._order_text` writes the ref last); the expression its index holds, with its
    numbers inlined so that a query's expression is the index's. Cast to text: SQLite uses
    an expression index for a join only if the comparison converts neither side."""
    state = table.c.state
    ref = func.substr(state, func.length(state) - literal_column("33"), literal_column("32"))
    return cast(ref, String(32))


def text_ref(table: Table, dialect: str) -> Any:
    """A text's ref in SQL as `part_ref` reads it from a part row's state (32 lower-case hex
    characters): on SQLite from its 16 bytes (`CompactDigest`), so that a join of the texts to
    their part rows probes the parts' ref index."""
    if dialect == "postgresql":
        return table.c.ref
    return cast(func.lower(func.hex(table.c.ref)), String(32))


def fts_name(table: Table) -> str:
    return f"{table.name}_fts"


#: The view the FTS5 tables read their content from on SQLite (live names only: a shadow FTS5
#: table is only written, never read, until the swap renames its tables to the live names;
#: inserts into an external-content table do not read the content).
FTS_CONTENT = "projection_search_content"
#: The search tables (live and shadow) whose FTS5 table the swap renames.
_FTS_TABLES: set[str] = set()


def _blanked(value: Any, dialect: str) -> Any:
    """A text in SQL with the markers blanked and NULL as empty (what `search.document` does
    in Python); literals inlined (PostgreSQL's GIN indexes hold these expressions)."""
    joined = func.coalesce(value, literal_column("''", Text))
    if dialect == "postgresql":
        return func.translate(joined, literal_column("E'\\x02\\x03'"), literal_column("'  '"))
    space = literal_column("' '", Text)
    return func.replace(
        func.replace(joined, literal_column("char(2)"), space), literal_column("char(3)"), space
    )


def _state_field(table: Table, key: str | None, dialect: str) -> Any:
    """A field of a row's JSON state in SQL: `key`, or (None) the one its `part` names."""
    state = table.c.state
    if dialect == "postgresql":
        name = table.c.part if key is None else literal_column(f"'{key}'")
        return cast(state, JSON).op("->>", return_type=Text)(name)
    path = literal_column("'$.'").op("||")(table.c.part) if key is None else f"'$.{key}'"
    return func.json_extract(state, literal_column(path) if isinstance(path, str) else path)


@dataclass(frozen=True)
class RowDocuments:
    """The rows of one table that have a search document (`search.document` says which), as
    SQL: the kind, the table, the rows' condition and the document's body of a row."""

    kind: str
    table: Table
    where: tuple[Any, ...]
    field: str | None  # the state's field (None: the one the part names); "title": a column
    #: False: documents of a database older than schema 14 only (a frame's summary, now its
    #: text's document), read until its rebuild: no index of its own any more.
    current: bool = True

    def body(self, dialect: str) -> Any:
        t_ = self.table
        if self.kind == "statement":  # summary and text, one line apart, either left out
            empty, none = literal_column("''", Text), literal_column("''", Text)
            summary = func.nullif(_state_field(t_, "summary", dialect), none)
            said = func.nullif(_state_field(t_, "text", dialect), none)
            line = literal_column("E'\\n'" if dialect == "postgresql" else "char(10)", Text)
            between = case((and_(summary.isnot(None), said.isnot(None)), line), else_=empty)
            found: Any = func.coalesce(summary, empty).op("||")(between)
            found = found.op("||")(func.coalesce(said, empty))
        elif self.field == "title":
            found = t_.c.title
        else:
            found = _state_field(t_, self.field, dialect)
        return _blanked(found, dialect)

    def vector(self) -> Any:
        """The `tsvector` of a row's document: the expression its GIN index holds."""
        return func.to_tsvector(TS_CONFIG, self.body("postgresql"))


def row_documents(models: ReadModels) -> list[RowDocuments]:
    """The row tables with search documents, in `search.KINDS` order."""
    pp, ap = models.policy_parts, models.action_parts
    texts = (literal_column("'summary'", Text), literal_column("'text'", Text))
    return [
        RowDocuments("policy", models.policy_versions, (), "summary", current=False),
        RowDocuments("policy", pp, (pp.c.part == literal_column("'head'"),), "title"),
        RowDocuments("regulatory-action", ap, (ap.c.part.in_(texts),), None),
        RowDocuments("statement", models.statement_versions, (), None),
    ]


def document_bodies(models: ReadModels) -> Any:
    """Every search document's body as SQLite reads it (id, body), from where it is stored:
    a row document's from its row (its frame's summary, its head part's title, its action
    part's text, its statement's summary and text), found by the search table's id (its
    row's key: one probe of the search table, one of the row's primary key); a clause text's
    from the text (schema 13: the bodies are not stored twice)."""
    s, unit = models.search, literal_column(str(1 << RTREE_SEQ_BITS), Integer)
    opened_by, seq = s.c.id.op("/")(unit), s.c.id.op("%")(unit)
    arms = []
    for found in row_documents(models):
        base = found.table
        on = and_(base.c.opened_by == opened_by, base.c.seq == seq)
        arms.append(
            select(s.c.id, found.body("sqlite").label("body"))
            .select_from(s.join(base, on))
            .where(s.c.kind == literal_column(f"'{found.kind}'"), *found.where)
        )
    texts = models.texts  # the clause texts (a source has no heading and no document)
    clauses = func.json_extract(texts.c.body, literal_column("'$.heading'")).isnot(None)
    bodies = select(texts.c.id, clause_body_sql(texts, "sqlite").label("body")).where(clauses)
    summaries = select(texts.c.id, summary_body_sql(texts, "sqlite").label("body")).where(
        is_summary(texts)
    )  # (schema 14: before the test for a heading, which a JSON string has none of)
    return union_all(*arms, summaries, bodies)


def _row_document_indexes(models: ReadModels) -> None:
    """PostgreSQL's GIN index of each row table's documents (schema 13: on the rows, partial
    where only some rows have one; the search table holds no copy there either)."""
    for found in row_documents(models):
        if not found.current:
            continue
        index = f"ix_{found.table.name}_fts"
        where = and_(*found.where) if found.where else None
        Index(
            index,
            found.vector(),
            postgresql_using="gin",
            postgresql_with=_GIN_WITH,
            postgresql_where=where,
            _table=found.table,
        ).ddl_if(dialect="postgresql")
        POSTGRES_ONLY.add(index)


def create_fts_content(connection: Connection) -> None:
    """(Re)create the FTS5 tables' content view on SQLite (it names the live tables)."""
    if connection.dialect.name == "sqlite":
        compiled = document_bodies(LIVE).compile(
            dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
        )
        connection.execute(text(f"DROP VIEW IF EXISTS {FTS_CONTENT}"))
        connection.execute(text(f"CREATE VIEW {FTS_CONTENT} AS {compiled}"))


def _create_fts(table: Table, connection: Connection, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        connection.execute(
            text(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts_name(table)} USING fts5(body, "
                f"content='{FTS_CONTENT}', content_rowid='id', "
                "tokenize='unicode61 remove_diacritics 0')"
            )
        )


def _drop_fts(table: Table, connection: Connection, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        connection.execute(text(f"DROP TABLE IF EXISTS {fts_name(table)}"))


#: A GIN index's pending list of 64 kB (the least; the default is 4 MB): a projector's stream
#: of small inserts left the index at 12x the size a build gives (1.25 MB against 0.10 MB at
#: deep N = 1,000; the pages a cleanup frees stay in the relation); now 0.16 MB. Inserts still
#: go to the list and are merged into the tree in bulk (`fastupdate = off` gave 0.09 MB,
#: inserting every entry into the tree one by one).
_GIN_WITH = {"gin_pending_list_limit": 64}


def _searched(metadata: MetaData, name: str) -> Table:
    """The row search documents' table and its full-text index (see above)."""
    table = Table(
        name,
        metadata,
        # INTEGER on SQLite: the rowid itself, which the FTS5 table's rows are keyed by.
        Column(
            "id",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        # The kind of aggregate whose rows the document belongs to; its slug, its field
        # (title, summary, text) and its row (opened_by, seq: the id) are the rows' (schema
        # 11). Clause texts are documents of their own table (schema 13).
        Column("kind", String(32), nullable=False),
        # PostgreSQL's GIN index is on it; SQLite's FTS5 table reads the text from the row
        # (`document_bodies`): NULL there (schema 13).
        Column("body", Text),
    )
    index = f"ix_{name}_fts"
    # `_table`: an expression that starts with a literal (the configuration) does not tie the
    # index to its table by itself, and an index not on its table is never created.
    Index(
        index,
        search_vector(table),
        postgresql_using="gin",
        postgresql_with=_GIN_WITH,
        _table=table,
    ).ddl_if(dialect="postgresql")
    POSTGRES_ONLY.add(index)
    _FTS_TABLES.add(name)
    event.listen(table, "after_create", _create_fts)
    event.listen(table, "after_drop", _drop_fts)
    return table


def _text_documents(table: Table) -> None:
    """The clause and summary texts' full-text index on PostgreSQL, one for both (schema 14:
    a second, partial one for the summaries was one more object, 16 kB at the least; SQLite's
    is the search table's FTS5 table, which reads them through FTS_CONTENT)."""
    index = f"ix_{table.name}_fts"
    Index(
        index, text_vector(table), postgresql_using="gin", postgresql_with=_GIN_WITH, _table=table
    ).ddl_if(dialect="postgresql")
    POSTGRES_ONLY.add(index)


# -- the feed's tags ----------------------------------------------------------------------------
#
# A feed entry's state is its tags' lists (`TAG_KEYS`: actors, jurisdictions, policies)
# and, before schema 14, its summary. SQLite stores each tag as a row of `timeline_tags`
# (keyed tag first); PostgreSQL (schema 15) indexes the state itself, as `jsonb`, in a GIN
# index of `jsonb_path_ops` (one hash of path and value per tag, each entry's tuple ids in
# compressed posting lists: ~0.2 MB at 10k events, where the tag rows took 5.1 MB).


#: A feed tag's prefix and the list of the entry's state whose values it tags (what
#: `rows.feed_tags` writes as SQLite's tag rows and `feed_tagged` finds on PostgreSQL).
TAG_KEYS = {"actor:": "actors", "jurisdiction:": "jurisdictions", "policy:": "policies"}


def tag_rows_stored(dialect: str) -> bool:
    """Whether the feed's tags are rows of `timeline_tags` (SQLite), not found in the
    entries' states by their GIN index (PostgreSQL, schema 15)."""
    return dialect != "postgresql"


def _tagged_state(feed: Table) -> Any:
    """A feed entry's state as `jsonb`: the expression the tags' GIN index holds."""
    return cast(feed.c.state, JSONB)


def _tag_index(feed: Table) -> None:
    """The feed tags' GIN index on PostgreSQL (see above)."""
    index = f"ix_{feed.name}_tags"
    Index(
        index,
        _tagged_state(feed).label("state_jsonb"),
        postgresql_using="gin",
        postgresql_ops={"state_jsonb": "jsonb_path_ops"},
        postgresql_with=_GIN_WITH,
        _table=feed,
    ).ddl_if(dialect="postgresql")
    POSTGRES_ONLY.add(index)


def feed_tagged(feed: Table, tags: Table, tag: str, dialect: str) -> Any:
    """The condition that feed entry `feed` has `tag` (`actor:meta`: `rows.feed_tags`): its
    tag row on SQLite, on PostgreSQL its state's list holding the value."""
    if tag_rows_stored(dialect):
        return (
            exists()
            .where(tags.c.tag == tag, tags.c.opened_by == feed.c.opened_by)
            .where(tags.c.seq == feed.c.seq)
        )
    prefix, value = tag.split(":", 1)
    wanted = {TAG_KEYS[f"{prefix}:"]: [value]}
    return _tagged_state(feed).op("@>")(literal(wanted, JSONB))


def _parts(metadata: MetaData, name: str, *columns: Column[Any]) -> Table:
    """A parts table (`rows.PARTS`): version rows named by `part`, with the filter columns
    of the parts that hold them, in the two-dimensional index."""
    return _stabbed(_bitemporal(metadata, name, Column("part", Text, nullable=False), *columns))


@dataclass(frozen=True)
class ReadModels:
    """One complete set of read-model tables (everything but the tracking table)."""

    metadata: MetaData
    policy_versions: Table
    policy_parts: Table
    action_versions: Table
    action_parts: Table
    statement_versions: Table
    actor_versions: Table
    responses: Table
    timeline_entries: Table
    timeline_tags: Table
    facts: Table
    texts: Table
    search: Table
    counter_nodes: Table
    counter_changes: Table

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != "metadata")

    def versions(self, kind: str) -> Table:
        """The version table of an aggregate kind."""
        return {
            "policy": self.policy_versions,
            "regulatory-action": self.action_versions,
            "statement": self.statement_versions,
            "actor": self.actor_versions,
        }[kind]

    def parts(self, kind: str) -> Table | None:
        """The parts table of a kind stored as frames plus parts (`rows.PARTS`), else None."""
        return {"policy": self.policy_parts, "regulatory-action": self.action_parts}.get(kind)


def define(metadata: MetaData, suffix: str = "") -> ReadModels:
    """Declare a set of read-model tables, their names ending in `suffix`."""

    def name(base: str) -> str:
        return f"projection_{base}{suffix}"

    # A policy's frames: one row per valid-time version, with what only that version has
    # (status, the fact that made it, its summary); what versions share is in the parts.
    policy_versions = _stabbed(
        _bitemporal(
            metadata,
            name("policy_versions"),
            Column("status", String(16), nullable=False),
            # The stored part of its revision counter (`projections/counter.py`): its day in
            # the tree, the forward feed changes up to valid_from and the latest of them.
            Column("counter_day", Integer),
            Column("counter_base", Integer),
            Column("counter_at", UTCDateTime),
            # Its summary's text (schema 14): the texts row's number (`text_number`).
            Column("summary", BigInteger),
        )
    )
    # The frames naming a summary text: how its search document finds them.
    Index(f"ix_{policy_versions.name}_summary", policy_versions.c.summary)
    # The parts of policy versions, each over the valid time where it is unchanged: `head`
    # (owner, title), `clause:<id>` (its text by ref, its place, its scope) and `source:<h>`.
    # A retroactive change to one clause rewrites that clause's rows, not every later version.
    policy_parts = _parts(
        metadata,
        name("policy_parts"),
        Column("owner", String(200)),  # head
        Column("title", Text),  # head
        Column("jurisdictions", Text),  # clause: ",RU,UA," (its scope), for LIKE
    )
    # The part rows naming a text: how a clause text's search document finds them.
    Index(f"ix_{policy_parts.name}_ref", part_ref(policy_parts))
    # An action's frames and parts, as a policy's: the frame has the status (and lifted_at,
    # the fact that made it); each filter column is on the part that holds that field.
    action_versions = _stabbed(
        _bitemporal(metadata, name("action_versions"), Column("status", String(16), nullable=False))
    )
    action_parts = _parts(
        metadata,
        name("action_parts"),
        Column("authority", String(200)),  # head
        Column("jurisdiction", String(8)),  # head
        Column("targets", Text),  # targets: ",instagram,facebook,"
    )
    statement_versions = _bitemporal(
        metadata, name("statement_versions"), Column("actor", String(200), nullable=False)
    )
    actor_versions = _bitemporal(
        metadata, name("actor_versions"), Column("name", Text, nullable=False)
    )
    # inResponseTo links of action and statement rows to the policies they cite.
    responses = Table(
        name("responses"),
        metadata,
        Column("source_kind", String(32), primary_key=True),
        Column("opened_by", BigInteger, primary_key=True, autoincrement=False),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("policy_slug", String(200), primary_key=True),
        sqlite_with_rowid=False,  # see _KEYED
    )
    Index(f"ix_{responses.name}_policy", responses.c.policy_slug, responses.c.source_kind)
    # The feed: one row per believed fact, bitemporal in record time only.
    entries = Table(
        name("timeline"),
        metadata,
        Column("opened_by", BigInteger, primary_key=True, autoincrement=False),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("aggregate_id", CompactUuid, nullable=False),
        Column("position", BigInteger, nullable=False),
        Column("kind", String(32), nullable=False),
        Column("slug", String(200), nullable=False),
        Column("version", Integer, nullable=False),
        Column("type", String(64), nullable=False),
        Column("effective_at", UTCDateTime, nullable=False),
        Column("announced_at", UTCDateTime, nullable=False),
        Column("recorded_at", UTCDateTime, nullable=False),
        Column("known_from", UTCDateTime, nullable=False),
        Column("known_to", UTCDateTime),
        Column("closed_by", BigInteger),
        # actors, jurisdictions, policies (and before schema 14 its summary)
        Column("state", Text, nullable=False),
        # The fact's corrections as JSON, in recording order; NULL when it has none.
        Column("corrections", Text),
        # Its summary's text (schema 14), as a frame's: the texts row's number.
        Column("summary", BigInteger),
    )
    Index(
        f"ix_{entries.name}_order", entries.c.effective_at, entries.c.position, entries.c.known_from
    )
    _open_index(entries)
    # The feed's announcement entries stand at announcedAt (queries.timeline_page).
    Index(
        f"ix_{entries.name}_announced",
        entries.c.announced_at,
        entries.c.position,
        entries.c.known_from,
    )
    # Covers the count of an aggregate's believed facts up to a valid time (a policy's
    # revision counter, which no stored row holds: it changes with every retroactive fact),
    # as known at a position (what reads ask) and when that count last changed.
    Index(
        f"ix_{entries.name}_folded",
        entries.c.aggregate_id,
        entries.c.effective_at,
        entries.c.opened_by,
        entries.c.closed_by,
        entries.c.known_from,
        entries.c.known_to,
    )
    # The corrections of an aggregate's facts up to a valid time (a policy version's
    # `corrected_by`, which no frame stores): only the few entries that have any.
    Index(
        f"ix_{entries.name}_corrected",
        entries.c.aggregate_id,
        entries.c.effective_at,
        entries.c.version,  # in fold order: no sort
        sqlite_where=entries.c.corrections.isnot(None),
        postgresql_where=entries.c.corrections.isnot(None),
    )
    # Filter tags of feed rows: `actor:meta`, `jurisdiction:RU`, `policy:meta/hate-speech`.
    # Keyed by the tag first (schema 12): a filter's scan by tag and the feed's probe of
    # (tag, entry) are both the key's, with no second B-tree in the other order (it was the
    # largest index on PostgreSQL, 2.9 MB at 10k events); a redaction's delete names every
    # key, the tags following from the entry's state (`projector._delete_aggregate`).
    # On SQLite only (schema 15): PostgreSQL finds the tags in the entries' states
    # (`feed_tagged`), by a GIN index of them, and leaves this table empty.
    tags = Table(
        name("timeline_tags"),
        metadata,
        Column("tag", String(240), primary_key=True),
        Column("opened_by", BigInteger, primary_key=True, autoincrement=False),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,  # see _KEYED
    )
    _tag_index(entries)
    # Every fact seen, by aggregate, without its payload (schema 14: the projector reads an
    # aggregate's payloads from the log): its instants, position and type, for the queries.
    facts = Table(
        name("facts"),
        metadata,
        Column("aggregate_id", CompactUuid, primary_key=True),
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("position", BigInteger, nullable=False),
        Column("kind", String(32), nullable=False),
        Column("type", String(64), nullable=False),
        Column("recorded_at", UTCDateTime, nullable=False),
        Column("effective_at", UTCDateTime),
        Column("announced_at", UTCDateTime),
        # A redaction's note (target, fields, reason); NULL for every other fact.
        Column("data", PackedJSON),
        sqlite_with_rowid=False,  # see _KEYED: no second B-tree of its key (schema 12)
    )
    Index(f"ix_{facts.name}_recorded", facts.c.aggregate_id, facts.c.recorded_at)
    # The stream version as known at a position (a point lookup's expectedVersion): the last
    # fact recorded by then, one probe of this covering index (a stream's versions grow
    # with its positions).
    Index(f"ix_{facts.name}_position", facts.c.aggregate_id, facts.c.position, facts.c.version)
    # Clause and source texts, once each, by content address (`rows.value_ref`): version
    # rows refer to them, so a version that shares 19 of 20 clauses stores 19 refs, not texts.
    # Keyed by a number (schema 13, `FIRST_TEXT_ID`): a clause text is its own search document
    # (`_searched`), its id the FTS5 entry's rowid on SQLite; the ref is unique beside it.
    texts = Table(
        name("texts"),
        metadata,
        Column(
            "id",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
            default=_next_text_id(name("texts")),
        ),
        Column("ref", CompactDigest, nullable=False),
        Column("body", Text, nullable=False),
    )
    Index(f"ix_{texts.name}_ref", texts.c.ref, unique=True)
    _text_documents(texts)
    search = _searched(metadata, name("search"))
    # A policy's revision counter (`projections/counter.py`): the versions of each node of
    # the Fenwick tree over the days of its non-forward feed changes, by the position that
    # moved it (a read seeks the latest at or before its position, <= 17 nodes) ...
    counter_nodes = Table(
        name("policy_counter_nodes"),
        metadata,
        Column("aggregate_id", CompactUuid, primary_key=True),
        Column("node", Integer, primary_key=True, autoincrement=False),
        Column("opened_by", BigInteger, primary_key=True, autoincrement=False),
        Column("count", Integer, nullable=False),
        Column("changed_at", UTCDateTime, nullable=False),
        sqlite_with_rowid=False,  # see _KEYED
    )
    # ... and every feed change (+1 an entry opened, -1 closed), forward or not: what the
    # projector reloads, and the residual of a prefix inside a frame's own day.
    counter_changes = Table(
        name("policy_counter_changes"),
        metadata,
        Column("aggregate_id", CompactUuid, primary_key=True),
        Column("opened_by", BigInteger, primary_key=True, autoincrement=False),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("effective_at", UTCDateTime, nullable=False),
        Column("day", Integer, nullable=False),
        Column("sign", Integer, nullable=False),
        Column("forward", Boolean, nullable=False),
        Column("changed_at", UTCDateTime, nullable=False),
        sqlite_with_rowid=False,  # see _KEYED (schema 12)
    )
    Index(
        f"ix_{counter_changes.name}_day",
        counter_changes.c.aggregate_id,
        counter_changes.c.day,
        counter_changes.c.effective_at,
        counter_changes.c.opened_by,
    )
    models = ReadModels(
        metadata,
        policy_versions,
        policy_parts,
        action_versions,
        action_parts,
        statement_versions,
        actor_versions,
        responses,
        entries,
        tags,
        facts,
        texts,
        search,
        counter_nodes,
        counter_changes,
    )
    _row_document_indexes(models)
    return models


#: What the queries read.
LIVE = define(metadata)
#: What a rebuild fills, then swaps in.
SHADOW = define(MetaData(), "_next")

policy_versions = LIVE.policy_versions
policy_parts = LIVE.policy_parts
action_versions = LIVE.action_versions
action_parts = LIVE.action_parts
statement_versions = LIVE.statement_versions
actor_versions = LIVE.actor_versions
responses = LIVE.responses
timeline_entries = LIVE.timeline_entries
timeline_tags = LIVE.timeline_tags
facts = LIVE.facts
texts = LIVE.texts
search = LIVE.search
counter_nodes = LIVE.counter_nodes
counter_changes = LIVE.counter_changes

#: One row per projection: the last log position applied and the schema it was built with.
tracking = Table(
    "projection_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("schema_version", Integer, nullable=False),
)

#: The live read-model tables (everything but the tracking table).
READ_MODEL_TABLES = LIVE.tables


def create_tables(engine: Engine) -> None:
    """Create the live read-model tables that do not exist yet (idempotent, and safe when
    several processes start at once: serialised on PostgreSQL, retried on SQLite)."""
    for attempt in range(5):
        try:
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || :key))"),
                        {"key": ":projection-ddl"},
                    )
                    _create_btree_gist(connection)
                metadata.create_all(connection)
                _create_added_indexes(connection)
                create_fts_content(connection)
                if connection.dialect.name == "sqlite":
                    _integer_instants(connection)
                    _blob_keys(connection)
                    _backfill_rtrees(connection)
            return
        except DBAPIError:
            if attempt == 4:
                raise
            time.sleep(0.2)  # another process created them between our check and create


def _create_added_indexes(connection: Connection) -> None:
    """Indexes added to existing tables without a schema change (create_all makes a table's
    indexes only with the table): built once, on the first start that lacks them. Also the
    feed's `corrections` (schema 8) and the texts' `id` (schema 13), so that an older database
    answers until its rebuild."""
    feed = LIVE.timeline_entries
    have = {c["name"] for c in inspect(connection).get_columns(feed.name)}
    if "corrections" not in have:
        connection.execute(text(f"ALTER TABLE {feed.name} ADD COLUMN corrections TEXT"))
    if "summary" not in have:  # schema 14's (NULL: the summary in the state)
        connection.execute(text(f"ALTER TABLE {feed.name} ADD COLUMN summary BIGINT"))
    texts = LIVE.texts  # schema 13's `id`: none yet, the clause texts are not found yet
    have = {c["name"] for c in inspect(connection).get_columns(texts.name)}
    if "id" not in have:
        connection.execute(text(f"ALTER TABLE {texts.name} ADD COLUMN id BIGINT"))
    # The stored counter's columns (schema 10), NULL in older frames: their lookup then
    # counts from the feed (`queries._looked_up`) until the rebuild.
    frames = LIVE.policy_versions
    have = {c["name"] for c in inspect(connection).get_columns(frames.name)}
    for name in ("counter_day", "counter_base", "counter_at", "summary"):  # summary: 14
        if name not in have:
            kind = frames.c[name].type.compile(connection.dialect)
            connection.execute(text(f"ALTER TABLE {frames.name} ADD COLUMN {name} {kind}"))
    for table in (LIVE.timeline_entries, LIVE.search, LIVE.texts):
        for index in table.indexes:
            index.create(connection, checkfirst=True)


def _integer_instants(connection: Connection) -> None:
    """On SQLite, rewrite the ISO text instants of a database older than schema 12 as
    `UTCDateTime` stores them now (microseconds since 1970), in place, so that its rows keep
    answering (a text never compares equal to an integer) until the rebuild that migrates
    it. Once: a database at schema 12 or without a tracking row is left alone. The seconds
    are read without the fraction: SQLite's date functions round it to milliseconds, which
    made `...:06.9996` second 7."""
    found = connection.execute(select(func.min(tracking.c.schema_version))).scalar()
    if found is None or found >= 12:
        return
    for table in LIVE.tables:
        for column in table.columns:
            if isinstance(column.type, UTCDateTime):
                name = column.name
                micros = (
                    f"CAST(strftime('%s', substr({name}, 1, 19)) AS INTEGER) * 1000000"
                    f" + CAST(substr({name}, 21, 6) AS INTEGER)"
                )
                connection.execute(
                    text(f"UPDATE {table.name} SET {name} = {micros} WHERE typeof({name}) = 'text'")
                )


def _blob_keys(connection: Connection) -> None:
    """On SQLite, rewrite the hex text UUIDs and text refs of a database older than schema 14
    as `CompactUuid` and `CompactDigest` store them now (16 bytes), in place, so that its rows
    keep answering (a text never compares equal to a blob) until the rebuild that migrates it.
    Once: a database at schema 14 or without a tracking row is left alone. SQLite 3.40 has no
    `unhex()`: the conversion is a Python function on the driver's connection."""
    found = connection.execute(select(func.min(tracking.c.schema_version))).scalar()
    if found is None or found >= 14:
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.create_function("hex_bytes", 1, bytes.fromhex, deterministic=True)
    for table in LIVE.tables:
        for column in table.columns:
            if isinstance(column.type, CompactUuid | CompactDigest):
                name = column.name
                connection.execute(
                    text(
                        f"UPDATE {table.name} SET {name} = hex_bytes({name}) "
                        f"WHERE typeof({name}) = 'text'"
                    )
                )


def fresh_shadow(engine: Engine) -> None:
    """Empty shadow tables for a rebuild (a crashed rebuild's leftovers are dropped)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            _create_btree_gist(connection)
        SHADOW.metadata.drop_all(connection)
        SHADOW.metadata.create_all(connection)
        for index in _deferred_indexes(SHADOW):
            connection.execute(text(f"DROP INDEX IF EXISTS {index.name}"))


def _deferred_indexes(models: ReadModels) -> list[Index]:
    """The indexes only reads use, left out of a rebuild's shadow tables while they fill:
    one bulk build at the end costs less than keeping each up to date row by row. The
    projector's own reads (an aggregate's facts by primary key, its open rows by `_open`)
    keep theirs, and a unique index (the texts' ref: their inserts rely on it) is kept."""
    return [
        index
        for table in models.tables
        for index in sorted(table.indexes, key=lambda i: str(i.name))
        if not str(index.name).endswith("_open") and not index.unique
    ]


def index_shadow(engine: Engine) -> None:
    """Build what `fresh_shadow` left out, once the shadow tables are full, outside the
    swap's transaction (readers keep the live tables meanwhile): on PostgreSQL the deferred
    indexes (B-trees, GiST, GIN); on SQLite the R*Trees, each in one INSERT ... SELECT
    (`fill_rtree`). SQLite cannot rename an index, so its swap builds every index under its
    live name anyway, and its FTS5 tables, whose content is named by the live table's name,
    are filled by the swap (`swap_in_shadow`)."""
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:
            for table in SHADOW.tables:
                if table.name in STABBED:
                    fill_rtree(connection, table)
        return

    # Two at a time, each in its own transaction (nothing reads the shadow before the swap,
    # and a crash leaves a shadow that the next `fresh_shadow` drops): the server builds
    # them in parallel, the costly GiST and GIN ones first (at 50k: GiST 5.5 s, GIN 2.9 s,
    # every B-tree together 0.5 s).
    def cost(index: Index) -> tuple[bool, bool]:
        using = index.dialect_options["postgresql"]["using"]
        return using != "gin", not using

    costly = sorted(_deferred_indexes(SHADOW), key=cost)
    with ThreadPoolExecutor(INDEX_BUILDERS) as builders:
        list(builders.map(lambda index: _build_index(engine, index), costly))


#: Indexes a PostgreSQL rebuild builds at once (`index_shadow`).
INDEX_BUILDERS = 2


def _build_index(engine: Engine, index: Index) -> None:
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        connection.execute(text("SET LOCAL synchronous_commit = off"))
        index.create(connection, checkfirst=True)


def indexed_row_by_row(table: Table) -> bool:
    """Whether the writers of `table` keep its SQLite side structures (its R*Tree, its FTS5
    table) up to date row by row: the live tables' yes; a rebuild's shadow tables' no, they
    are filled in bulk once the shadow is full (`index_shadow`, `swap_in_shadow`), nothing
    reading them before the swap."""
    return table.name not in _SHADOW_NAMES


_SHADOW_NAMES = frozenset(table.name for table in SHADOW.tables)


def _create_btree_gist(connection: Connection) -> None:
    """The extension the GiST lookup index needs for its slug column, in `public` (so that
    dropping a schema never drops it); without the privilege the index is left out and the
    lookups fall back to the B-tree."""
    if _btree_gist_installed(connection):
        return
    try:
        with connection.begin_nested():
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public"))
    except DBAPIError as error:
        log.warning("btree_gist unavailable (%s): policy lookups use the B-tree", error.orig)


def _backfill_rtrees(connection: Connection) -> None:
    """Fill an R*Tree that is empty beside a table with rows (a database of schema 2, or an
    action table of schema 8, read until its rebuild swaps in, whose tables predate the
    R*Trees)."""
    for table in LIVE.tables:
        if table.name not in STABBED:
            continue
        _create_rtree(table, connection)  # a table of an older schema may have none yet
        tree = rtree_table(table)
        if connection.execute(select(tree.c.id).limit(1)).first():
            continue
        fill_rtree(connection, table)


def _hex_digit(column: str, index: int) -> str:
    """The value of hex digit `index` of a `CompactUuid` blob in SQLite's SQL (`hex()` spells
    it in upper case)."""
    return f"(instr('0123456789ABCDEF', substr(hex({column}), {index + 1}, 1)) - 1)"


def _sql_minute(column: str) -> str:
    """`rtree_minute` in SQLite's SQL, on an instant stored as microseconds (schema 12):
    division rounded down (SQLite's rounds towards zero), clamped to the i32 range."""
    whole = (
        f"CASE WHEN {column} >= 0 THEN {column} / {_MINUTE} "
        f"ELSE -((-{column} + {_MINUTE - 1}) / {_MINUTE}) END"
    )
    return f"max({-_INT32_MAX}, min({_INT32_MAX - 1}, {whole}))"


def fill_rtree(connection: Connection, table: Table) -> None:
    """Insert the R*Tree entry of every row of `table` (SQLite) in one INSERT ... SELECT, the
    boxes computed in SQL as `rtree_row` computes them in Python (the 30-bit key from the
    first eight hex digits of the UUID's 16 bytes). In the rows' stored order: sorted by
    the key or by position, the inserts took as long (9 to 11 us a row at 10k)."""
    key = " + ".join(f"({_hex_digit('aggregate_id', i)} << {4 * (7 - i)})" for i in range(8))
    maximum = _INT32_MAX
    connection.execute(
        text(
            f"INSERT INTO {rtree_name(table)} (id, a0, a1, v0, v1, k0, k1) "
            f"SELECT (opened_by << {RTREE_SEQ_BITS}) + seq, k, k + 1, {_sql_minute('valid_from')}, "
            f"CASE WHEN valid_to IS NULL THEN {maximum} "
            f"ELSE min({maximum}, {_sql_minute('valid_to')} + 1) END, "
            f"min({maximum - 1}, opened_by), "
            f"CASE WHEN closed_by IS NULL THEN {maximum} ELSE min({maximum}, closed_by) END "
            f"FROM (SELECT *, ({key}) >> 2 AS k FROM {table.name})"
        )
    )


def swap_in_shadow(connection: Connection) -> None:
    """Replace the live tables by the shadow ones, inside the caller's transaction: drop,
    rename, and give the indexes their live names (PostgreSQL renames them; SQLite, which
    cannot, recreates them)."""
    postgres = connection.dialect.name == "postgresql"
    if not postgres:  # FTS_CONTENT names live tables: no check of it between drop and rename
        connection.execute(text("PRAGMA legacy_alter_table = ON"))
    for live, shadow in zip(LIVE.tables, SHADOW.tables, strict=True):
        connection.execute(text(f"DROP TABLE IF EXISTS {live.name}"))
        connection.execute(text(f"ALTER TABLE {shadow.name} RENAME TO {live.name}"))
        pairs = zip(
            sorted(shadow.indexes, key=lambda i: str(i.name)),
            sorted(live.indexes, key=lambda i: str(i.name)),
            strict=True,
        )
        if postgres:
            connection.execute(text(f"ALTER INDEX {shadow.name}_pkey RENAME TO {live.name}_pkey"))
            for old, new in pairs:
                connection.execute(text(f"ALTER INDEX IF EXISTS {old.name} RENAME TO {new.name}"))
            continue
        for old, new in pairs:
            if str(old.name) not in POSTGRES_ONLY:
                connection.execute(text(f"DROP INDEX IF EXISTS {old.name}"))
                new.create(connection)
        if live.name in _FTS_TABLES:
            connection.execute(text(f"DROP TABLE IF EXISTS {fts_name(live)}"))
            connection.execute(text(f"ALTER TABLE {fts_name(shadow)} RENAME TO {fts_name(live)}"))
        if live.name in STABBED:
            connection.execute(text(f"DROP TABLE IF EXISTS {rtree_name(live)}"))
            connection.execute(
                text(f"ALTER TABLE {rtree_name(shadow)} RENAME TO {rtree_name(live)}")
            )
    if not postgres:
        connection.execute(text("PRAGMA legacy_alter_table = OFF"))
        # Filled from its content (FTS_CONTENT, over the search and texts tables now under
        # their live names) in one pass, rather than row by row while the shadow filled
        # (`indexed_row_by_row`).
        for table in LIVE.tables:
            if table.name in _FTS_TABLES:
                fts = fts_name(table)
                connection.execute(text(f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')"))
