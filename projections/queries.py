"""Read queries: point-in-time answers by index lookup, never by replay.

Every function takes a SQLAlchemy Engine first; instants are timezone-aware datetimes (the
callers validate input); `known_at=None` means now. A row answers (validAt V, knownAt T) when
`valid_from <= V < valid_to` and `known_from <= T < known_to` (NULL: open), which the
composite index (slug, valid_from, known_from) of each version table serves.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Dialect,
    Engine,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from domain import values
from domain.concerns import cited_policies
from domain.errors import InvalidInput
from domain.facts import REDACTED, Correction
from domain.values import Reference, aggregate_uuid
from projections import counter, decode
from projections import tables as t
from projections.models import (
    ActorVersion,
    ClauseChange,
    Page,
    PolicyDiff,
    PolicyVersion,
    Redaction,
    RegulatoryActionVersion,
    StatementVersion,
    TimelineEntry,
)

T = TypeVar("T")


# -- the bitemporal frame ------------------------------------------------------------------


#: The record-time basis of a read: a log position (an int: what the API and the CLI pass,
#: so that an answer is the one given right after that position) or an instant (the rows'
#: timestamps; the reference fold's own axis); None means now.
Basis = datetime | int | None


#: The basis "now": past every position, so that every row not yet closed answers.
NOW = 2**63 - 1


def basis(known_at: Basis) -> datetime | int:
    """A read's record-time basis: a position as given (never negative), an instant in UTC
    (refused without an offset), or now (`NOW`, a position: the 2-D index serves it)."""
    if known_at is None:
        return NOW
    if isinstance(known_at, int):
        if known_at < 0:
            raise InvalidInput("knownAtPosition", "must not be negative")
        return known_at
    return decode.instant("knownAt", known_at)


def opened(table: Table, known_at: Any) -> ColumnElement[bool]:
    """Rows opened by record time `known_at` (a position, an instant or a bound parameter)."""
    column = table.c.opened_by if _by_position(known_at) else table.c.known_from
    found: ColumnElement[bool] = column <= known_at
    return found


def closed(table: Table, known_at: Any) -> ColumnElement[bool]:
    """Rows closed by record time `known_at` (NULL: still open)."""
    column = table.c.closed_by if _by_position(known_at) else table.c.known_to
    found: ColumnElement[bool] = column <= known_at
    return found


def known(table: Table, known_at: Any) -> ColumnElement[bool]:
    """Rows believed at record time `known_at`: opened by then and not closed by then (by
    the positions of the events that opened and closed them, or by their timestamps)."""
    if _by_position(known_at):
        still = or_(table.c.closed_by.is_(None), table.c.closed_by > known_at)
    else:
        still = or_(table.c.known_to.is_(None), table.c.known_to > known_at)
    return and_(opened(table, known_at), still)


def _by_position(known_at: Any) -> bool:
    """Whether a basis (a value or a bound parameter) is a log position."""
    if isinstance(known_at, ColumnElement):
        return isinstance(known_at.type, BigInteger)
    return isinstance(known_at, int)


def valid(table: Table, valid_at: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Rows in force at valid time `valid_at`."""
    return and_(
        table.c.valid_from <= valid_at, or_(table.c.valid_to.is_(None), table.c.valid_to > valid_at)
    )


#: Parameters of the two-dimensional lookup (`stabbing`): the valid instant and the log
#: position; on SQLite also the R*Tree's coordinates of the aggregate and of the two.
_V, _K = bindparam("v", type_=t.UTCDateTime()), bindparam("k", type_=BigInteger())


def stabbing(dialect: str, query: Select[Any], table: Table) -> Select[Any]:
    """`query` over `table` (rows of one aggregate, valid at :v, known at position :k) through
    the two-dimensional index (`tables.py`): on PostgreSQL the range containment its GiST index
    serves; on SQLite a join from the R*Tree's candidate boxes (:rt_key, :rt_v, :rt_k, from
    `stabbing_parameters`) to the exact rows. The exact conditions stay in `query`; these
    only find the rows without a scan."""
    if dialect == "postgresql":
        return query.where(
            func.tstzrange(table.c.valid_from, table.c.valid_to).op("@>")(_V),
            func.int8range(table.c.opened_by, table.c.closed_by).op("@>")(_K),
        )
    tree = t.rtree_table(table)
    key, at, known_at = (bindparam(name, type_=Integer()) for name in ("rt_key", "rt_v", "rt_k"))
    on = and_(
        table.c.opened_by == tree.c.id.op(">>")(t.RTREE_SEQ_BITS),
        table.c.seq == tree.c.id.op("&")((1 << t.RTREE_SEQ_BITS) - 1),
    )
    return query.select_from(tree.join(table, on)).where(
        tree.c.a0 <= key,
        tree.c.a1 > key,
        tree.c.v0 <= at,
        tree.c.v1 > at,
        tree.c.k0 <= known_at,
        tree.c.k1 > known_at,
    )


def stabbing_parameters(dialect: str, kind: str, slug: str, v: datetime, k: int) -> dict[str, Any]:
    """The parameters of a statement made by `stabbing` (`k`: a log position)."""
    found: dict[str, Any] = {"slug": slug, "v": v, "k": k}
    if dialect != "postgresql":
        found["rt_key"] = _rtree_key(kind, slug)
        found["rt_v"], found["rt_k"] = t.rtree_minute(v), t.rtree_position(k)
    return found


@lru_cache(maxsize=4096)
def _rtree_key(kind: str, slug: str) -> int:
    return t.rtree_key(aggregate_uuid(kind, slug))


@lru_cache(maxsize=4)
def _lookup(dialect: str) -> CompoundSelect[Any]:
    """`policy_at`'s one statement, built once per dialect (building and caching a statement
    costs more than running it): the frame (`part` NULL) and its parts, in one round trip.
    The frame, found through the 2-D index, is joined to its counters (`_lookup_counters`)."""
    pv, pp = t.policy_versions, t.policy_parts
    slug = bindparam("slug", type_=String())
    shared = ("slug", "valid_from", "valid_to", "known_from", "state")
    counter = ("counter_day", "counter_base", "counter_at")
    columns = [
        t.summarised_state(pv, t.texts).label(n) if n == "state" else pv.c[n] for n in shared
    ]
    frame = stabbing(
        dialect,
        select(pv.c.aggregate_id, *columns, *(pv.c[name] for name in counter)).where(
            known(pv, _K), _exactly(dialect, pv, slug), valid(pv, _V)
        ),
        pv,
    ).cte("frame")
    stream_version, counters = _lookup_counters(frame, dialect)
    framed = select(
        cast(null(), Text).label("part"),
        *(frame.c[name] for name in shared),
        stream_version.label("aggregate_version"),
        counters.c.revision,
        counters.c.counted_at,
        _basis_position(frame).label("basis"),
    ).select_from(frame, counters)
    parts = select(
        pp.c.part,
        *(pp.c[name] for name in shared),
        cast(null(), Integer).label("aggregate_version"),
        cast(null(), BigInteger).label("revision"),
        cast(null(), t.UTCDateTime()).label("counted_at"),
        cast(null(), BigInteger).label("basis"),
    ).where(known(pp, _K), _exactly(dialect, pp, slug), valid(pp, _V))
    return union_all(framed, stabbing(dialect, parts, pp))


def _lookup_counters(frame: Any, dialect: str = "postgresql") -> tuple[Any, Any]:
    """What the lookup's frame needs beside its row, as of position :k (`_frame_columns`
    for many frames): the stream version, that of the last fact recorded by :k (a stream's
    versions grow with its positions), one probe of the facts' position index; the
    revision counter and when that count last changed from the stored counter
    (`projections/counter.py`): the frame's base, the tree's prefix before the frame's day
    (one seek per node, at most `counter.BITS`) and the residual inside that day, through
    the day index: on SQLite its `opened_by` is written `opened_by + 0`, which the primary
    key (aggregate_id, opened_by, seq) cannot serve (schema 12 made it the table's own
    B-tree, and the planner took it, reading every change of the aggregate up to :k)."""
    facts = t.facts
    stream_version = _last_fact(frame, facts.c.version)
    changes = t.counter_changes
    base = select(frame.c.counter_base.label("n"), frame.c.counter_at.label("at"))
    residual = select(
        func.sum(changes.c.sign).label("n"), func.max(changes.c.changed_at).label("at")
    ).where(
        changes.c.aggregate_id == frame.c.aggregate_id,
        changes.c.day == frame.c.counter_day,
        changes.c.effective_at <= frame.c.valid_from,
        _unindexed(dialect, changes.c.opened_by) <= _K,
        changes.c.forward.is_(False),
    )
    every = union_all(base, *_node_arms(frame), residual).subquery("counted")
    counters = select(
        cast(func.sum(every.c.n), BigInteger).label("revision"),
        type_coerce(func.max(every.c.at), t.UTCDateTime()).label("counted_at"),
    ).subquery("counters")
    return stream_version, counters


def _unindexed(dialect: str, column: Any) -> Any:
    """`column` as SQLite's planner cannot use for an index (`column + 0`); as is elsewhere."""
    return column if dialect == "postgresql" else (column + literal_column("0")).self_group()


def _last_fact(frame: Any, column: Any) -> Any:
    """A column of the frame's aggregate's last fact recorded by position :k (one probe of
    the facts' position index)."""
    facts = t.facts
    return (
        select(column)
        .where(facts.c.aggregate_id == frame.c.aggregate_id, _fact_known(_K))
        .order_by(facts.c.position.desc())
        .limit(1)
        .scalar_subquery()
    )


def _basis_position(frame: Any) -> Any:
    """The position the lookup's answer stands at: its aggregate's last fact recorded by :k.
    What the version's corrections are read at when asked (`Deferred`): the same list as at
    :k, none recorded after the lookup (an aggregate's feed entries open and close only at
    its own facts' positions)."""
    return _last_fact(frame, t.facts.c.position)


def _node_arms(frame: Any) -> list[Select[Any]]:
    """The tree's prefix before the frame's day as known at :k, one arm per bit of
    m = counter_day - 1 (`counter.prefix_nodes`): where bit j is set, node (m >> j) << j at its
    latest version recorded by :k, found as the `max(opened_by)` (one descending seek of the
    key; an ORDER BY .. LIMIT 1 across the join with the frame made SQLite sort every version
    of the node) and read by its whole key."""
    nodes = t.counter_nodes
    m = (frame.c.counter_day - literal_column("1")).self_group()
    arms = []
    for j in range(counter.BITS):
        bit: ColumnElement[int] = literal_column(str(j))
        shifted = m.op(">>")(bit).self_group()
        node = shifted.op("<<")(bit).self_group()
        seen = nodes.alias(f"seen_{j}")
        latest = (
            select(func.max(seen.c.opened_by))
            .where(
                seen.c.aggregate_id == frame.c.aggregate_id,
                seen.c.node == node,
                seen.c.opened_by <= _K,
            )
            .scalar_subquery()
        )
        version = nodes.alias(f"node_{j}")
        arms.append(
            select(version.c.count.label("n"), version.c.changed_at.label("at")).where(
                shifted.op("&")(literal_column("1")).self_group() == literal_column("1"),
                version.c.aggregate_id == frame.c.aggregate_id,
                version.c.node == node,
                version.c.opened_by == latest,
            )
        )
    return arms


class _Compiled:
    """A statement sent on the driver's cursor (`_fetched`: `_lookup`, `_corrections_statement`)
    compiled once for a dialect: its SQL text, the names of its parameters in the driver's
    order (None: the driver takes them by name), their constant values and the bind
    processing of instants and aggregate ids. Sent without SQLAlchemy, so that neither the
    statement's cache key nor its row processing is paid per lookup (both cost more than
    the SQL)."""

    def __init__(self, dialect: Dialect, statement: Select[Any] | CompoundSelect[Any]) -> None:
        self.dialect_name = dialect.name
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.names: list[str] | None = (
            list(compiled.positiontup) if compiled.positiontup is not None else None
        )
        self.constants = {n: v for n, v in compiled.params.items() if v is not None}
        self.instant = t.UTCDateTime().dialect_impl(dialect).bind_processor(dialect) or _same
        uuid = t.facts.c.aggregate_id.type
        self.aggregate = uuid.dialect_impl(dialect).bind_processor(dialect) or _same

    def parameters(self, slug: str, v: datetime, k: int) -> dict[str, Any] | tuple[Any, ...]:
        """The lookup's parameters."""
        found = {**self.constants, **stabbing_parameters(self.dialect_name, "policy", slug, v, k)}
        found["v"] = self.instant(v)
        return self.ordered(found)

    def ordered(self, found: dict[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        return found if self.names is None else tuple(found[name] for name in self.names)


def _same(value: Any) -> Any:
    return value


def _looked_up(engine: Engine, slug: str, v: datetime, k: int) -> PolicyVersion | None:
    """`policy_at` by position: one statement through the 2-D index on the driver's own
    cursor (`_fetched`), decoded from its rows (`decode.Lookup`); the texts not cached yet
    in one more, through SQLAlchemy."""
    compiled = _compiled(engine.dialect, _lookup)
    found = decode.Lookup.of(_fetched(engine, compiled, compiled.parameters(slug, v, k)))
    if found is None:
        return None
    if found.whole_state or found.frame[7] is None:
        # a row of schema 2, or one without its stored counter (schema 9), until the rebuild
        # that migrates it: the B-tree's answer, counted from the feed
        return _by_slug_at(engine, [slug], v, k).get(slug)
    missing, sources = found.missing()
    if missing:
        with engine.connect() as connection:
            for i in range(0, len(missing), _REFS_PER_QUERY):
                chunk = missing[i : i + _REFS_PER_QUERY]
                texts = connection.execute(
                    select(t.texts.c.ref, t.texts.c.body).where(t.texts.c.ref.in_(chunk))
                )
                decode.learn_texts([(r.ref, r.body) for r in texts], sources)
    return found.version(Deferred(engine, slug, found.valid_from, found.basis or k))


@dataclass(frozen=True, slots=True)
class Deferred:
    """A looked-up version's corrections, read when first asked (`models.PolicyVersion`):
    those of its facts up to `valid_from` as believed at the lookup's pinned `position`
    (not a tuple: the descriptor tells the loaded list by its type)."""

    engine: Engine
    slug: str
    valid_from: datetime
    position: int

    def load(self) -> tuple[Correction, ...]:
        return corrections_at(self.engine, self.slug, self.valid_from, self.position)


def corrections_at(
    engine: Engine, slug: str, valid_from: datetime, position: int
) -> tuple[Correction, ...]:
    """The corrections of the policy's facts folded into its version from `valid_from`, as
    believed at log `position`, in fold order (`_folded_corrections`, by the aggregate)."""
    compiled = _compiled(engine.dialect, _corrections_statement)
    found = {
        "aggregate": compiled.aggregate(aggregate_uuid("policy", slug)),
        "valid_from": compiled.instant(valid_from),
        "k": position,
    }
    rows = _fetched(engine, compiled, compiled.ordered(found))
    return decode.folded_corrections(rows[0][0] if rows else None)


def _corrections_statement(dialect: str) -> Select[Any]:
    """`corrections_at`'s statement (sent on the driver's cursor, like the lookup)."""
    feed = t.timeline_entries
    aggregate = bindparam("aggregate", type_=feed.c.aggregate_id.type)
    valid_from = bindparam("valid_from", type_=t.UTCDateTime())
    position = bindparam("k", type_=BigInteger())
    return select(_corrections_in_fold_order(aggregate, valid_from, position))


def _fetched(engine: Engine, compiled: _Compiled, parameters: Any) -> list[Any]:
    """The rows of a `_Compiled` statement (the lookup, its corrections) from the DBAPI cursor
    of a pooled connection: SQLAlchemy's `Connection` and `CursorResult` around it cost more
    than the statement at N = 10 (docs/projections.md), and these statements need neither (no
    transaction, no types; through SQLAlchemy, the corrections' read after a lookup cost
    ~8 ms on PostgreSQL, on the driver's cursor ~0.2 ms). Connection events do not see it:
    `lookup_statement` says what the lookup sends. On PostgreSQL it runs in autocommit (no
    BEGIN and ROLLBACK round trips), switched back before the connection returns to the pool.
    A driver error (a connection dropped by a database restart, say) discards that
    connection and asks once more through SQLAlchemy, whose disconnect handling renews the
    pool and raises what the API maps to UNAVAILABLE when the database is really gone."""
    raw = engine.raw_connection()
    try:
        return _on_cursor(raw, compiled, parameters)
    except engine.dialect.loaded_dbapi.Error as error:
        raw.invalidate(error)
    finally:
        raw.close()
    with engine.connect() as connection:
        if compiled.dialect_name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT")
        return list(connection.exec_driver_sql(compiled.sql, parameters).all())


def _on_cursor(raw: Any, compiled: _Compiled, parameters: Any) -> list[Any]:
    driver: Any = raw.driver_connection
    autocommit = compiled.dialect_name == "postgresql"
    if autocommit:
        driver.autocommit = True
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
            return list(cursor.fetchall())
        finally:
            cursor.close()
    finally:
        if autocommit and not driver.closed:
            driver.autocommit = False


def lookup_statement(
    engine: Engine, slug: str, valid_at: datetime, known_at: int | None
) -> tuple[str, Any]:
    """The SQL and parameters `policy_at(engine, slug, valid_at, known_at)` sends on the
    driver's cursor for a lookup by position or now (the bench's floor: connection events
    do not see it)."""
    compiled = _compiled(engine.dialect, _lookup)
    k = NOW if known_at is None else known_at
    return compiled.sql, compiled.parameters(slug, decode.instant("validAt", valid_at), k)


_COMPILED: dict[tuple[Any, str, str, str], _Compiled] = {}


def _compiled(
    dialect: Dialect, statement: Callable[[str], Select[Any] | CompoundSelect[Any]]
) -> _Compiled:
    """The statement (built by `statement` for a dialect name) compiled for this kind of
    dialect (driver and parameter style alike)."""
    key = (statement, dialect.name, dialect.driver, dialect.paramstyle)
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = _Compiled(dialect, statement(dialect.name))
    return found


def _exactly(dialect: str, table: Table, slug: Any) -> ColumnElement[bool]:
    """The slug condition of a lookup through the 2-D index. On SQLite as `slug || ''`,
    which no B-tree serves, so that the planner starts from the R*Tree (it would otherwise
    scan the B-tree on (slug, valid_from) and probe the R*Tree per row)."""
    column: ColumnElement[str] = table.c.slug
    same: ColumnElement[bool] = (column if dialect == "postgresql" else column.concat("")) == slug
    return same


def _policy_select(known_at: Any, counted: bool = True) -> Select[Any]:
    """Policy frames with the stream version as known at `known_at` (for expectedVersion)
    and, if `counted`, each frame's revision counter and when that count last changed,
    counted from the feed's believed facts up to its valid_from (no stored row holds it)."""
    pv = t.policy_versions
    stream_version, *counters = _frame_columns(known_at)
    frame = [*t.summarised_row(pv, t.texts), stream_version]
    if not counted:
        return select(*frame).where(known(pv, known_at))
    return select(*frame, *counters).where(known(pv, known_at))


def _frame_columns(known_at: Any) -> list[Any]:
    """What a frame's answer needs beside its row: the stream version, the revision counter
    and when that count last changed, as of `known_at` (correlated to the frame)."""
    pv, facts, feed = t.policy_versions, t.facts, t.timeline_entries
    stream_version = (
        select(func.max(facts.c.version))
        .where(facts.c.aggregate_id == pv.c.aggregate_id, _fact_known(known_at))
        .scalar_subquery()
        .label("aggregate_version")
    )
    folded = and_(feed.c.aggregate_id == pv.c.aggregate_id, feed.c.effective_at <= pv.c.valid_from)
    count = select(func.count()).where(folded, known(feed, known_at))
    revision = count.scalar_subquery().label("revision")
    changed = case((closed(feed, known_at), feed.c.known_to), else_=feed.c.known_from)
    counted_at = (
        select(type_coerce(func.max(changed), t.UTCDateTime()))
        .where(folded, opened(feed, known_at))
        .scalar_subquery()
        .label("counted_at")
    )
    return [stream_version, revision, counted_at, _folded_corrections(known_at)]


def _folded_corrections(known_at: Any) -> Any:
    """The corrections of the facts folded into a frame's version (its `corrected_by`, which
    no frame stores), known at `known_at` (`_corrections_in_fold_order`, correlated)."""
    pv = t.policy_versions
    joined = _corrections_in_fold_order(pv.c.aggregate_id, pv.c.valid_from, known_at, pv)
    return select(joined).scalar_subquery().label("corrections")


def _corrections_in_fold_order(
    aggregate: Any, valid_from: Any, known_at: Any, frame: Any = None
) -> _InFoldOrder:
    """The feed's entries of `aggregate` up to `valid_from` that have corrections (a partial
    index), known at `known_at`, their JSON arrays joined by commas in fold order
    (correlated to `frame`, if given)."""
    feed = t.timeline_entries
    entries = select(
        feed.c.corrections.label("c"),
        feed.c.effective_at.label("e"),
        feed.c.version.label("v"),
    ).where(
        feed.c.aggregate_id == aggregate,
        feed.c.corrections.isnot(None),
        feed.c.effective_at <= valid_from,
        known(feed, known_at),
    )
    entries = entries.order_by(feed.c.effective_at, feed.c.version)
    ordered = (entries if frame is None else entries.correlate(frame)).subquery()
    return _InFoldOrder(ordered.c.c, ordered.c.e, ordered.c.v)


class _InFoldOrder(FunctionElement[str]):
    """Texts joined by commas in the order of two keys: `string_agg(.. ORDER BY ..)` on
    PostgreSQL; on SQLite (3.40: no ORDER BY in an aggregate) `group_concat` over the ordered
    subquery, which SQLite does not flatten into an aggregate, so it reads it in order."""

    type = Text()
    name = "in_fold_order"
    inherit_cache = True


@compiles(_InFoldOrder, "postgresql")
def _in_fold_order_postgres(element: _InFoldOrder, compiler: Any, **kw: Any) -> str:
    text_, first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"string_agg({text_}, ',' ORDER BY {first}, {second})"


@compiles(_InFoldOrder)
def _in_fold_order_sqlite(element: _InFoldOrder, compiler: Any, **kw: Any) -> str:
    text_ = compiler.process(next(iter(element.clauses)), **kw)
    return f"group_concat({text_}, ',')"


def _fact_known(known_at: Any) -> ColumnElement[bool]:
    """Facts recorded by record time `known_at` (by position or by timestamp)."""
    column = t.facts.c.position if _by_position(known_at) else t.facts.c.recorded_at
    found: ColumnElement[bool] = column <= known_at
    return found


def _parts_select(
    slugs: Sequence[str] | None, known_at: Any, pp: Table = t.policy_parts
) -> Select[Any]:
    """Part rows (of policies, or of the kind whose parts table `pp` is) of `slugs` (None:
    the caller says which) as known at `known_at` (the caller narrows valid time)."""
    query = select(
        pp.c.slug, pp.c.part, pp.c.valid_from, pp.c.valid_to, pp.c.known_from, pp.c.state
    ).where(known(pp, known_at))
    return query if slugs is None else query.where(pp.c.slug.in_(list(slugs)))


def _all(engine: Engine, query: Select[Any], decoder: Callable[[Any], T]) -> list[T]:
    with engine.connect() as connection:
        return [decoder(row) for row in connection.execute(query)]


#: Refs per statement when fetching texts (well under SQLite's bound-parameter limit).
_REFS_PER_QUERY = 5_000


def _policies(
    engine: Engine,
    query: Select[Any] | CompoundSelect[Any],
    parts: Callable[[Sequence[Any]], Select[Any] | None] | None,
    known_at: datetime | int,
    parameters: dict[str, Any] | None = None,
) -> list[PolicyVersion]:
    """Policy versions from their frames (`query`) and their parts (`parts` of the frames:
    the rows that may belong to them; None: `query` gives both, a frame's `part` NULL), with
    the texts the parts refer to: one statement when every text is cached already (a ref
    always names the same text), one more per 5,000 missing. Frames selected without their
    counters get them from the feed in one query."""
    with engine.connect() as connection:
        frames: Sequence[Any] = connection.execute(query, parameters).all()
        found: Any = []
        if parts is None:
            found = [row for row in frames if row.part is not None]
            frames = [row for row in frames if row.part is None]
        elif frames and (part_query := parts(frames)) is not None:
            found = connection.execute(part_query, parameters)
        rows = decode.parts_of(found)
        members = decode.assign_parts(frames, rows)
        counters = None
        if frames and "revision" not in frames[0]._fields:
            counters = _counters(connection, {f.aggregate_id for f in frames}, known_at)
        missing = sorted(decode.missing_refs(frames, rows))
        for i in range(0, len(missing), _REFS_PER_QUERY):
            chunk = missing[i : i + _REFS_PER_QUERY]
            found = connection.execute(
                select(t.texts.c.ref, t.texts.c.body).where(t.texts.c.ref.in_(chunk))
            )
            decode.learn_values([(r.ref, r.body) for r in found], frames, rows)
    versions = []
    for frame, own in zip(frames, members, strict=True):
        if counters is None:
            revision, counted_at = frame.revision, frame.counted_at
            corrected_by = decode.folded_corrections(frame.corrections)
        else:
            counter = counters[frame.aggregate_id]
            revision, counted_at = counter.at(frame.valid_from)
            corrected_by = counter.marks.at(frame.slug, frame.valid_from)
        versions.append(decode.policy_version(frame, own, revision, counted_at, corrected_by))
    return versions


class _Mark(NamedTuple):
    """A feed entry's corrections as `decode.Corrections` reads them."""

    slug: str
    valid_from: datetime
    state: str
    aggregate_version: int


class _Counter:
    """One aggregate's believed facts by fold time: how many up to an instant (a policy's or
    an action's revision counter) and when that part of the feed last changed, by bisection."""

    def __init__(
        self, rows: list[Any], known_at: datetime | int, fold_time: Callable[[Any], datetime]
    ) -> None:
        rows = sorted(rows, key=lambda r: (fold_time(r), r.version))  # fold order
        by_position = isinstance(known_at, int)

        def is_closed(r: Any) -> bool:
            end = r.closed_by if by_position else r.known_to
            return end is not None and end <= known_at

        self.known = [fold_time(r) for r in rows if not is_closed(r)]
        self.marks = decode.Corrections(
            _Mark(r.slug, fold_time(r), r.corrections, r.version)
            for r in rows
            if r.corrections is not None and not is_closed(r)
        )
        self.times = [fold_time(r) for r in rows]
        #: An actor's names, fact by fact in fold order (its feed entries' summaries).
        self.names = [
            decode.feed_summary(r.state) for r in rows if "state" in r._fields and not is_closed(r)
        ]
        self.changed: list[datetime] = []
        for r in rows:
            at = r.known_to if is_closed(r) else r.known_from
            self.changed.append(max(self.changed[-1], at) if self.changed else at)

    def former_names(self, valid_from: datetime) -> tuple[str, ...]:
        """An actor's names before the one of its version from `valid_from`: those of the
        facts folded into it but the last."""
        return tuple(self.names[: max(bisect_right(self.known, valid_from) - 1, 0)])

    def at(self, valid_from: datetime) -> tuple[int, datetime | None]:
        index = bisect_right(self.times, valid_from)
        return bisect_right(self.known, valid_from), self.changed[index - 1] if index else None


def _counters(
    connection: Any, aggregates: set[Any], known_at: datetime | int, kind: str = "policy"
) -> dict[Any, _Counter]:
    """The feed's counters of these aggregates (of `kind`) as known at `known_at`, in one
    query."""
    feed = t.timeline_entries
    columns = (feed.c.aggregate_id, feed.c.effective_at, feed.c.known_from, feed.c.known_to)
    extra: tuple[Any, ...] = (
        feed.c.slug,
        feed.c.version,
        feed.c.corrections,
        feed.c.type,
        feed.c.announced_at,
    )
    if kind == "actor":  # its names, for its former names
        extra = (*extra, t.summarised_state(feed, t.texts).label("state"))
    rows = connection.execute(
        select(*columns, feed.c.closed_by, *extra).where(
            feed.c.aggregate_id.in_(list(aggregates)), opened(feed, known_at)
        )
    ).all()
    grouped: dict[Any, list[Any]] = {a: [] for a in aggregates}
    for row in rows:
        grouped[row.aggregate_id].append(row)
    fold_time = _fold_time(kind)
    return {a: _Counter(found, known_at, fold_time) for a, found in grouped.items()}


def _fold_time(kind: str) -> Callable[[Any], datetime]:
    """When a feed entry's fact enters its aggregate's fold (the domain's rule, which takes
    the entry for its fact: type, effectiveAt, announcedAt): a policy's is its effectiveAt
    (what the policy lookup's SQL counts by), an action's announcement enters at its
    announcedAt when that is earlier. The rules are imported only when needed (they bring
    the aggregates and eventsourcing)."""
    if kind == "policy":
        return _effective_at
    from domain import RULES

    return RULES[kind].fold_time


def _effective_at(row: Any) -> datetime:
    found: datetime = row.effective_at
    return found


# -- policies --------------------------------------------------------------------------------


def policy_at(
    engine: Engine, slug: str, valid_at: datetime | None = None, known_at: Basis = None
) -> PolicyVersion | None:
    """The version in force at `valid_at` as known at `known_at`; None if none."""
    return policies_at(engine, [slug], valid_at, known_at).get(slug)


def policies_at(
    engine: Engine,
    slugs: Sequence[str],
    valid_at: datetime | None = None,
    known_at: Basis = None,
) -> dict[str, PolicyVersion]:
    """Batch form of policy_at (one query), for dataloaders."""
    if not slugs:
        return {}
    v, k = decode.instant("validAt", valid_at), basis(known_at)
    if len(slugs) == 1 and isinstance(k, int):  # a lookup by position: the 2-D index
        # (a batch, or a read by instant: the B-tree, by slug)
        version = _looked_up(engine, slugs[0], v, k)
        return {} if version is None else {version.slug: version}
    return _by_slug_at(engine, slugs, v, k)


def _by_slug_at(
    engine: Engine, slugs: Sequence[str], v: datetime, k: datetime | int
) -> dict[str, PolicyVersion]:
    """Policies at `v` as known at `k` through the B-tree, counted from the feed."""
    pv, pp = t.policy_versions, t.policy_parts
    query = _policy_select(k).where(pv.c.slug.in_(list(slugs)), valid(pv, v))
    batch = _parts_select(slugs, k).where(valid(pp, v))
    return {p.slug: p for p in _policies(engine, query, lambda _: batch, k)}


def day_bounds(day: date, time_zone: str) -> tuple[datetime, datetime]:
    """[00:00, next 00:00) of `day` in the IANA zone `time_zone` (the rule: domain/values.py)."""
    return values.day_bounds(day, time_zone)


def policy_on(
    engine: Engine, slug: str, day: date, time_zone: str = "UTC", known_at: Basis = None
) -> list[PolicyVersion]:
    """Every version in force at any moment of the calendar `day` in `time_zone`, in order."""
    start, end = day_bounds(day, time_zone)
    k = basis(known_at)
    pv, pp = t.policy_versions, t.policy_parts
    query = (
        _policy_select(k)
        .where(
            pv.c.slug == slug,
            pv.c.valid_from < end,
            or_(pv.c.valid_to.is_(None), pv.c.valid_to > start),
        )
        .order_by(pv.c.valid_from)
    )
    # A part of a version that overlaps the day overlaps the day too (it covers the version).
    parts = _parts_select([slug], k).where(
        pp.c.valid_from < end, or_(pp.c.valid_to.is_(None), pp.c.valid_to > start)
    )
    return _policies(engine, query, lambda _: parts, k)


def policy_history(engine: Engine, slug: str, known_at: Basis = None) -> list[PolicyVersion]:
    """All valid-time versions as known at `known_at`, in valid-time order."""
    k = basis(known_at)
    pv = t.policy_versions
    query = _policy_select(k, counted=False).where(pv.c.slug == slug).order_by(pv.c.valid_from)
    return _policies(engine, query, lambda _: _parts_select([slug], k), k)


def policy_diff(
    engine: Engine,
    slug: str,
    from_valid_at: datetime,
    to_valid_at: datetime,
    known_at: Basis = None,
) -> PolicyDiff:
    """Clause-level diff between the versions in force at two valid-time instants."""
    k = basis(known_at)
    before = policy_at(engine, slug, decode.instant("fromValidAt", from_valid_at), k)
    after = policy_at(engine, slug, decode.instant("toValidAt", to_valid_at), k)
    old = {c.id: c for c in before.clauses} if before else {}
    new = {c.id: c for c in after.clauses} if after else {}
    changes = []
    for clause_id in [*old, *(i for i in new if i not in old)]:
        a, b = old.get(clause_id), new.get(clause_id)
        change = (
            "ADDED"
            if a is None
            else "REMOVED"
            if b is None
            else "UNCHANGED"
            if a == b
            else "CHANGED"
        )
        changes.append(ClauseChange(clause_id, change, a, b))
    return PolicyDiff(slug, before, after, tuple(changes))


def _page(
    items: list[T], first: int, key: Callable[[T], Sequence[Any]], total: int | None = None
) -> Page[T]:
    """Cut one extra item off to know whether there is a next page."""
    shown = items[:first]
    return Page(
        items=tuple(shown),
        has_next_page=len(items) > first,
        end_cursor=decode.encode_cursor(key(shown[-1])) if shown else None,
        start_cursor=decode.encode_cursor(key(shown[0])) if shown else None,
        total_count=total,
    )


class _Slugged(Protocol):
    @property
    def slug(self) -> str: ...


S = TypeVar("S", bound=_Slugged)


def _by_slug(
    engine: Engine,
    query: Select[Any],
    table: Table,
    first: int,
    after: str | None,
    fetch: Callable[[Select[Any]], list[S]],
) -> Page[S]:
    """One keyset page of `query` ordered by slug, after the opaque cursor `after`, with the
    count of every match."""
    total = _count(engine, query)
    if after is not None:
        query = query.where(table.c.slug > decode.decode_cursor(after, [str])[0])
    items = fetch(query.order_by(table.c.slug).limit(first + 1))
    return _page(items, first, lambda item: [item.slug], total)


def _count(engine: Engine, query: Select[Any]) -> int:
    """How many rows the filtered query matches, over all pages."""
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(query.subquery())).scalar() or 0
        )


def list_policies(
    engine: Engine,
    valid_at: datetime | None = None,
    known_at: Basis = None,
    *,
    owner: str | None = None,
    jurisdiction: str | None = None,
    status: str | None = None,
    search: str | None = None,
    first: int = 50,
    after: str | None = None,
) -> Page[PolicyVersion]:
    """Policies in force at `valid_at`, ordered by slug, keyset-paginated by opaque cursor.

    `jurisdiction` matches policies with a clause scoped to it; `search` is the full-text
    search (`projections/search.py`: a title, summary or clause holding its words) or a
    piece of the slug; `total_count` counts every match over all pages."""
    first = decode.check_first(first)
    v, k = decode.instant("validAt", valid_at), basis(known_at)
    pv, pp = t.policy_versions, t.policy_parts
    conditions = [valid(pv, v)]

    def part(*where: ColumnElement[bool]) -> ColumnElement[bool]:
        """The frame's policy has a part valid at `v`, known at `k`, matching `where`."""
        return exists().where(pp.c.slug == pv.c.slug, valid(pp, v), known(pp, k), *where)

    if owner is not None:
        conditions.append(part(pp.c.part == "head", pp.c.owner == owner))
    if status is not None:
        conditions.append(pv.c.status == status)
    if jurisdiction is not None:
        conditions.append(part(pp.c.jurisdictions.contains(f",{jurisdiction},", autoescape=True)))
    if search:
        from projections.search import matching_policies  # it builds on this module

        conditions.append(
            or_(
                matching_policies(engine.dialect.name, "filter.search", search, v, k),
                pv.c.slug.contains(search.lower(), autoescape=True),
            )
        )
    total = _count(engine, _policy_select(k, counted=False).where(*conditions))
    if after is not None:
        conditions.append(pv.c.slug > decode.decode_cursor(after, [str])[0])
    query = _policy_select(k).where(*conditions).order_by(pv.c.slug).limit(first + 1)
    found = _policies(
        engine,
        query,
        lambda frames: _parts_select([f.slug for f in frames], k).where(valid(pp, v)),
        k,
    )
    return _page(found, first, lambda p: [p.slug], total)


# -- regulatory actions ------------------------------------------------------------------------


def regulatory_action_at(
    engine: Engine, slug: str, valid_at: datetime | None = None, known_at: Basis = None
) -> RegulatoryActionVersion | None:
    """The action as seen at `valid_at` (status ANNOUNCED / IN_EFFECT / LIFTED)."""
    found = regulatory_actions_at(engine, [slug], valid_at, known_at)
    return found.get(slug)


def regulatory_actions_at(
    engine: Engine,
    slugs: Sequence[str],
    valid_at: datetime | None = None,
    known_at: Basis = None,
) -> dict[str, RegulatoryActionVersion]:
    """Batch form of regulatory_action_at: the frames, their parts and their counters. One
    action by position (what the API asks) finds its frame and parts through the 2-D index
    (`_action_lookup`); a batch, or a read by instant, takes the B-tree, by slug."""
    if not slugs:
        return {}
    v, k = decode.instant("validAt", valid_at), basis(known_at)
    if len(slugs) == 1 and isinstance(k, int):
        dialect = engine.dialect.name
        frame, parts = _action_lookup(dialect)
        parameters = stabbing_parameters(dialect, "regulatory-action", slugs[0], v, k)
        found = _actions(engine, frame, lambda _: parts, k, parameters)
        return {a.slug: a for a in found}
    av, ap = t.action_versions, t.action_parts
    query = select(av).where(av.c.slug.in_(list(slugs)), valid(av, v), known(av, k))
    parts_query = _parts_select(slugs, k, ap).where(valid(ap, v))
    return {a.slug: a for a in _actions(engine, query, lambda _: parts_query, k)}


@lru_cache(maxsize=4)
def _action_lookup(dialect: str) -> tuple[Select[Any], Select[Any]]:
    """An action's frame and its parts at (:v, position :k) through the two-dimensional index
    (`stabbing`), built once per dialect."""
    av, ap = t.action_versions, t.action_parts
    slug = bindparam("slug", type_=String())
    frame = select(av).where(known(av, _K), _exactly(dialect, av, slug), valid(av, _V))
    parts = _parts_select(None, _K, ap).where(_exactly(dialect, ap, slug), valid(ap, _V))
    return stabbing(dialect, frame, av), stabbing(dialect, parts, ap)


def regulatory_action_history(
    engine: Engine, slug: str, known_at: Basis = None
) -> list[RegulatoryActionVersion]:
    """All valid-time versions of an action (status changes included) as known at
    `known_at`, in valid-time order."""
    k = basis(known_at)
    av = t.action_versions
    query = select(av).where(av.c.slug == slug, known(av, k)).order_by(av.c.valid_from)
    return _actions(engine, query, lambda _: _parts_select([slug], k, t.action_parts), k)


def list_regulatory_actions(
    engine: Engine,
    valid_at: datetime | None = None,
    known_at: Basis = None,
    *,
    authority: str | None = None,
    jurisdiction: str | None = None,
    target: str | None = None,
    status: str | None = None,
    first: int = 50,
    after: str | None = None,
) -> Page[RegulatoryActionVersion]:
    """Actions existing at `valid_at`, ordered by slug, keyset-paginated. Status is a filter
    on the frame; authority and jurisdiction on the head part, a target on the targets part
    (each valid at `valid_at`)."""
    first = decode.check_first(first)
    v, k = decode.instant("validAt", valid_at), basis(known_at)
    av, ap = t.action_versions, t.action_parts
    query = select(av).where(valid(av, v), known(av, k))

    def part(name: str, *where: ColumnElement[bool]) -> ColumnElement[bool]:
        """The frame's action has its part `name` valid at `v`, known at `k`, matching."""
        return exists().where(
            ap.c.slug == av.c.slug, ap.c.part == name, valid(ap, v), known(ap, k), *where
        )

    if authority is not None:
        query = query.where(part("head", ap.c.authority == authority))
    if jurisdiction is not None:
        query = query.where(part("head", ap.c.jurisdiction == jurisdiction))
    if status is not None:
        query = query.where(av.c.status == status)
    if target is not None:
        query = query.where(part("targets", ap.c.targets.contains(f",{target},", autoescape=True)))

    def fetch(page: Select[Any]) -> list[RegulatoryActionVersion]:
        return _actions(
            engine,
            page,
            lambda frames: _parts_select([f.slug for f in frames], k, ap).where(valid(ap, v)),
            k,
        )

    return _by_slug(engine, query, av, first, after, fetch)


def _actions(
    engine: Engine,
    query: Select[Any],
    parts: Callable[[Sequence[Any]], Select[Any]],
    known_at: datetime | int,
    parameters: dict[str, Any] | None = None,
) -> list[RegulatoryActionVersion]:
    """Action versions from their frames (`query`), their parts (`parts` of the frames: the
    rows that may belong to them; both with `parameters`, if any) and their counters from
    the feed: three statements."""
    with engine.connect() as connection:
        frames: Sequence[Any] = connection.execute(query, parameters).all()
        if not frames:
            return []
        rows = decode.parts_of(connection.execute(parts(frames), parameters))
        aggregates = {f.aggregate_id for f in frames}
        counters = _counters(connection, aggregates, known_at, "regulatory-action")
    versions = []
    for frame, own in zip(frames, decode.assign_parts(frames, rows), strict=True):
        counter = counters[frame.aggregate_id]
        revision, counted_at = counter.at(frame.valid_from)
        corrected_by = counter.marks.at(frame.slug, frame.valid_from)
        versions.append(decode.action_version(frame, own, revision, counted_at, corrected_by))
    return versions


def _responses(
    engine: Engine,
    table: Table,
    kind: str,
    policy_slugs: Sequence[str],
    valid_at: datetime | None,
    known_at: Basis,
    decoder: Callable[[Any], T],
) -> dict[str, list[T]]:
    result: dict[str, list[T]] = {slug: [] for slug in policy_slugs}
    if not policy_slugs:
        return result
    v, k = decode.instant("validAt", valid_at), basis(known_at)
    links = t.responses
    query = (
        select(table, links.c.policy_slug)
        .join(
            links,
            and_(
                links.c.opened_by == table.c.opened_by,
                links.c.seq == table.c.seq,
                links.c.source_kind == kind,
            ),
        )
        .where(links.c.policy_slug.in_(list(policy_slugs)), valid(table, v), known(table, k))
        .order_by(links.c.policy_slug, table.c.valid_from, table.c.slug)
    )
    with engine.connect() as connection:
        for row in connection.execute(query):
            result[row.policy_slug].append(decoder(row))
    return result


def responses_to(
    engine: Engine,
    policy_slugs: Sequence[str],
    valid_at: datetime | None = None,
    known_at: Basis = None,
) -> dict[str, list[RegulatoryActionVersion]]:
    """For each policy, the regulatory actions citing it (inResponseTo) at `valid_at`, in
    valid-time order, in three statements whatever the number of policies: the frames and
    the parts of the actions whose `in_response_to` part links to one of them, and their
    counters."""
    result: dict[str, list[RegulatoryActionVersion]] = {slug: [] for slug in policy_slugs}
    if not policy_slugs:
        return result
    v, k = decode.instant("validAt", valid_at), basis(known_at)
    links, av, ap = t.responses, t.action_versions, t.action_parts
    on = and_(
        links.c.opened_by == ap.c.opened_by,
        links.c.seq == ap.c.seq,
        links.c.source_kind == "regulatory-action",
    )
    citing = (
        select(ap.c.slug)
        .join(links, on)
        .where(links.c.policy_slug.in_(list(policy_slugs)), valid(ap, v), known(ap, k))
    )
    frames = select(av).where(av.c.slug.in_(citing), valid(av, v), known(av, k))
    parts = _parts_select(None, k, ap).where(ap.c.slug.in_(citing), valid(ap, v))
    for action in _actions(engine, frames, lambda _: parts, k):
        for cited in cited_policies(action.in_response_to):  # the links' one rule
            if cited in result:
                result[cited].append(action)
    for found in result.values():
        found.sort(key=lambda a: (a.valid_from, a.slug))
    return result


def statements_responding_to(
    engine: Engine,
    policy_slugs: Sequence[str],
    valid_at: datetime | None = None,
    known_at: Basis = None,
) -> dict[str, list[StatementVersion]]:
    """For each policy, the statements citing it (made by `valid_at`), in one query."""
    return _responses(
        engine,
        t.statement_versions,
        "statement",
        policy_slugs,
        valid_at,
        known_at,
        decode.statement_version,
    )


# -- statements and actors -------------------------------------------------------------------


def statement_at(engine: Engine, slug: str, known_at: Basis = None) -> StatementVersion | None:
    """The statement as believed at `known_at` (corrections applied); None if unknown."""
    k = basis(known_at)
    sv = t.statement_versions
    query = select(sv).where(sv.c.slug == slug, known(sv, k)).order_by(sv.c.valid_from)
    found = _all(engine, query, decode.statement_version)
    return found[0] if found else None


def redactions_of(engine: Engine, kind: str, slug: str) -> list[Redaction]:
    """The redactions recorded against an aggregate's events, in order. Whatever the query's
    knownAt: an erased text is erased from every past answer too (docs/evidence.md)."""
    facts = t.facts
    query = (
        select(facts.c.version, facts.c.data, facts.c.recorded_at)
        .where(facts.c.aggregate_id == aggregate_uuid(kind, slug), facts.c.type == REDACTED)
        .order_by(facts.c.version)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    found = []
    for row in rows:
        data = json.loads(row.data)
        found.append(
            Redaction(
                event=str(Reference(kind, slug, row.version)),
                target=str(Reference(kind, slug, int(data["target"]))),
                reason=data["reason"],
                fields=tuple(data["fields"]),
                recorded_at=row.recorded_at,
            )
        )
    return found


def actors_at(
    engine: Engine,
    slugs: Sequence[str],
    valid_at: datetime | None = None,
    known_at: Basis = None,
) -> dict[str, ActorVersion]:
    """Actors with their names at `valid_at` (Facebook, Inc. before 2021-10-28), one query."""
    if not slugs:
        return {}
    v, k = decode.instant("validAt", valid_at), basis(known_at)
    av = t.actor_versions
    query = select(av).where(av.c.slug.in_(list(slugs)), valid(av, v), known(av, k))
    return {a.slug: a for a in _actors(engine, query, k)}


def _actors(engine: Engine, query: Select[Any], known_at: datetime | int) -> list[ActorVersion]:
    """Actor versions from their rows (`query`) and their feed entries (former names and
    corrections, which no row stores since schema 9): two statements."""
    with engine.connect() as connection:
        rows: Sequence[Any] = connection.execute(query).all()
        if not rows:
            return []
        counters = _counters(connection, {r.aggregate_id for r in rows}, known_at, "actor")
    found = []
    for row in rows:
        counter = counters[row.aggregate_id]
        counted_at = counter.at(row.valid_from)[1]
        former = counter.former_names(row.valid_from)
        corrected_by = counter.marks.at(row.slug, row.valid_from)
        found.append(decode.actor_version(row, former, corrected_by, counted_at))
    return found


# -- the timeline feed ------------------------------------------------------------------------


def timeline_page(
    engine: Engine,
    *,
    from_: datetime | None = None,
    to: datetime | None = None,
    known_at: Basis = None,
    actor: str | None = None,
    jurisdiction: str | None = None,
    policy: str | None = None,
    kinds: Sequence[str] = (),
    types: Sequence[str] = (),
    first: int = 50,
    after: str | None = None,
    announcements: bool = True,
) -> Page[TimelineEntry]:
    """The feed as believed at `known_at`: every fact at its effectiveAt and, when it was
    made public at another instant, its announcement at announcedAt (domain.feed); entries
    standing in [from_, to), in (instant, position, announcement first) order,
    keyset-paginated; `total_count` counts every match. `announcements=False`: facts only."""
    first = decode.check_first(first)
    k = basis(known_at)
    feed, tags = t.timeline_entries, t.timeline_tags
    query = select(*t.summarised_row(feed, t.texts)).where(known(feed, k))
    if kinds:
        query = query.where(feed.c.kind.in_(list(kinds)))
    if types:
        query = query.where(feed.c.type.in_(list(types)))
    for prefix, value in (("actor", actor), ("jurisdiction", jurisdiction), ("policy", policy)):
        if value is not None:
            query = query.where(t.feed_tagged(feed, tags, f"{prefix}:{value}", engine.dialect.name))
    low = decode.instant("from", from_) if from_ is not None else None
    high = decode.instant("to", to) if to is not None else None

    def standing_at(instant: Any, slot: int) -> Select[Any]:
        part = query.add_columns(instant.label("at"), literal(slot).label("slot"))
        if low is not None:
            part = part.where(instant >= low)
        if high is not None:
            part = part.where(instant < high)
        return part

    parts = [standing_at(feed.c.effective_at, 1)]
    if announcements:  # the announcement entries: made public at another instant
        parts.append(
            standing_at(feed.c.announced_at, 0).where(feed.c.announced_at != feed.c.effective_at)
        )
    total = sum(_count(engine, part) for part in parts)  # each half by its own index
    entries = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    listed = select(entries)
    if after is not None:
        instant, position, slot = decode.decode_cursor(after, [datetime, int, int])
        at, place, order = entries.c.at, entries.c.position, entries.c.slot
        listed = listed.where(
            or_(
                at > instant,
                and_(at == instant, or_(place > position, and_(place == position, order > slot))),
            )
        )
    listed = listed.order_by(entries.c.at, entries.c.position, entries.c.slot).limit(first + 1)
    return _page(_all(engine, listed, decode.timeline_entry), first, TimelineEntry.feed_key, total)


# -- lists of actors and statements ---------------------------------------------------------


def list_actors(
    engine: Engine,
    valid_at: datetime | None = None,
    known_at: Basis = None,
    *,
    first: int = 50,
    after: str | None = None,
) -> Page[ActorVersion]:
    """Actors existing at `valid_at` with their names then, ordered by slug, keyset-paginated."""
    first = decode.check_first(first)
    v, k = decode.instant("validAt", valid_at), basis(known_at)
    av = t.actor_versions
    query = select(av).where(valid(av, v), known(av, k))
    return _by_slug(engine, query, av, first, after, lambda q: _actors(engine, q, k))


def list_statements(
    engine: Engine,
    known_at: Basis = None,
    *,
    actor: str | None = None,
    first: int = 50,
    after: str | None = None,
) -> Page[StatementVersion]:
    """Statements as believed at `known_at`, ordered by slug, keyset-paginated; `actor`
    keeps those made by that actor."""
    first = decode.check_first(first)
    k = basis(known_at)
    sv = t.statement_versions
    query = select(sv).where(known(sv, k), sv.c.valid_to.is_(None))  # one span per statement
    if actor is not None:
        query = query.where(sv.c.actor == actor)
    return _by_slug(
        engine, query, sv, first, after, lambda q: _all(engine, q, decode.statement_version)
    )
