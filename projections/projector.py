"""Apply logged facts to the read models: fold the fact into its aggregate, close what
changed, open what is new. Rows are never updated otherwise and never deleted.

A memo (an LRU of aggregates) keeps each recently touched aggregate's incremental fold and
the ids of its open rows, so a replay of the log reads nothing back and a fact re-derives
only what it can change; on a miss the aggregate is loaded back: its facts from the event log
(`AggregateLog`, on the projector's own connection), its open rows from the tables.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from domain import Fact
from domain.facts import REDACTED
from projections import search as fulltext
from projections import tables as t
from projections.counter import RevisionCounter
from projections.incremental import AggregateFold, Change
from projections.rows import feed_tags, state_digest, summary_ref, unsummarised
from projections.writes import close_many, write_many


class LoggedEvent(Protocol):
    """What the runner reads from the log: `timeline.application.LoggedFact` fits."""

    @property
    def position(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def fact(self) -> Fact: ...


class AggregateLog(Protocol):
    """Where the projector reads an aggregate's facts back (a memo miss, a redaction's
    rebuild) instead of keeping a copy: the event log. `timeline.application.Timeline` fits."""

    def logged_stream(
        self, connection: Connection, aggregate_id: UUID, last_version: int
    ) -> Sequence[LoggedEvent]:
        """The aggregate's facts up to `last_version` with their positions, in version
        order, read on `connection` (the read models share the log's database)."""
        ...


RowId = tuple[int, int]  # (opened_by, seq)


#: How much the memo keeps between batches: at most this many aggregates and, in all, about
#: this many of their facts (a fact costs a few kB held: its payload, the state after its
#: group, its feed entry). A rebuild touches few aggregates at a time, so misses are rare;
#: a miss costs an index lookup and a refold of that aggregate.
MEMO_SIZE = 1_000
MEMO_FACTS = 50_000


@dataclass
class AggregateMemo:
    """One aggregate's fold and the ids of its open rows by key. `loaded` says the open rows
    came from the tables: the next change is diffed against all of them, not the fold."""

    fold: AggregateFold
    open_versions: dict[tuple[Any, ...], RowId] = field(default_factory=dict)
    open_entries: dict[tuple[Any, ...], RowId] = field(default_factory=dict)
    loaded: bool = False
    #: A policy's stored revision counter (`projections/counter.py`); None for other kinds.
    counter: RevisionCounter | None = None


@dataclass
class _Batch:
    """Rows to write at the end of a batch: new rows (closable in the same batch) and closes."""

    inserts: dict[tuple[str, RowId], dict[str, Any]] = field(default_factory=dict)
    closes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    links: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)  # ref -> body, not yet stored
    documents: list[dict[str, Any]] = field(default_factory=list)  # full-text search
    text_documents: dict[str, str] = field(default_factory=dict)  # a clause text's, by ref
    counter_changes: list[dict[str, Any]] = field(default_factory=list)
    counter_nodes: list[dict[str, Any]] = field(default_factory=list)

    def close(self, table: Table, row: RowId, at: datetime, position: int) -> None:
        pending = self.inserts.get((table.name, row))
        if pending is not None:
            pending.update(known_to=at, closed_by=position)
        else:
            self.closes.setdefault(table.name, []).append(
                {"b_opened_by": row[0], "b_seq": row[1], "known_to": at, "closed_by": position}
            )


class Projector:
    """Turns events into row changes on a connection; the caller owns the transaction.

    `tables` is the set it writes: the live tables, or the shadow ones during a rebuild;
    `log` is where it reads an aggregate's facts back."""

    def __init__(
        self,
        log: AggregateLog,
        memo_size: int = MEMO_SIZE,
        tables: t.ReadModels = t.LIVE,
        memo_facts: int = MEMO_FACTS,
    ) -> None:
        self.memo: OrderedDict[UUID, AggregateMemo] = OrderedDict()
        self.memo_size = memo_size
        self.memo_facts = memo_facts
        self.held = 0  # facts of the aggregates in the memo
        self.tables = tables
        self.log = log
        #: Refs of the texts this projector has stored (committed: cleared on a rollback).
        self.stored: set[str] = set()
        #: The numbers of the summary texts it has named, by ref (`t.text_number`).
        self.numbers: dict[str, int] = {}
        #: Whether its texts' search documents are indexed as written (a rebuild's shadow
        #: indexes them in bulk at the swap: none to compute).
        self.index_texts = t.indexed_row_by_row(tables.search)

    def forget(self) -> None:
        """Drop the memo (after a rollback, or when the tables were rebuilt)."""
        self.memo.clear()
        self.held = 0
        self.stored.clear()
        self.numbers.clear()

    def apply(self, connection: Connection, events: Iterable[LoggedEvent]) -> None:
        """Apply events in log order; all writes go through `connection`. A redaction
        rebuilds its aggregate's rows from the erased facts (`_rebuild_redacted`)."""
        batch = _Batch()
        for event in events:
            if event.fact.type == REDACTED:
                self._flush(connection, batch)
                batch = _Batch()
                self._rebuild_redacted(connection, event)
            else:
                self._apply_one(connection, batch, event)
        self._flush(connection, batch)
        self._trim()

    def _rebuild_redacted(self, connection: Connection, event: LoggedEvent) -> None:
        """Erase the redacted fields from every row of the aggregate, at every record time:
        its rows, feed entries and stored facts are deleted and its facts, as the log holds
        them now (the target's payload is the store's tombstone), applied again at their own
        positions, so the rows come back as a rebuild writes them. The one place where the
        projector deletes."""
        redaction = event.fact
        aggregate_id = redaction.aggregate_id
        applied = _last_version(connection, self.tables, aggregate_id)
        if applied is None or applied >= redaction.version:
            return  # nothing of it projected, or this redaction was applied already
        logged = self.log.logged_stream(connection, aggregate_id, applied)
        orphans = _delete_aggregate(connection, self.tables, event.kind, aggregate_id)
        evicted = self.memo.pop(aggregate_id, None)
        if evicted is not None:
            self.held -= evicted.fold.last_version
        batch = _Batch()
        for item in [*logged, event]:
            self._apply_one(connection, batch, item)
        self._flush(connection, batch)
        _delete_unused_texts(connection, self.tables, orphans)
        self.stored.difference_update(orphans)
        for ref in orphans:
            self.numbers.pop(ref, None)

    def _trim(self) -> None:
        """Evict the least recently used aggregates beyond the memo's bounds; only between
        batches, since a batch's rows are not in the tables a reload would read."""
        while len(self.memo) > 1 and (
            len(self.memo) > self.memo_size or self.held > self.memo_facts
        ):
            _, evicted = self.memo.popitem(last=False)
            self.held -= evicted.fold.last_version

    def _apply_one(self, connection: Connection, batch: _Batch, event: LoggedEvent) -> None:
        fact, position = event.fact, event.position
        memo = self._memo(connection, fact.aggregate_id, event.kind, fact)
        fold = memo.fold
        if fact.version <= fold.last_version:
            return  # already applied (cannot happen under tracking; harmless if it does)
        batch.facts.append(
            {
                "aggregate_id": fact.aggregate_id,
                "version": fact.version,
                "position": position,
                "kind": event.kind,
                "type": fact.type,
                "recorded_at": fact.recorded_at,
                "effective_at": fact.effective_at,
                "announced_at": fact.announced_at,
                # only a redaction's note is kept (`queries.redactions_of`): other payloads
                # are read back from the log (schema 14)
                "data": (
                    json.dumps(fact.data, sort_keys=True, default=str)
                    if fact.type == REDACTED
                    else None
                ),
            }
        )
        change = fold.add(fact, position)
        self.held += 1
        if memo.loaded:
            change = fold.reconcile(memo.open_versions, memo.open_entries)
            memo.loaded = False
        self._write(batch, memo, change, fact, position)

    def _write(
        self, batch: _Batch, memo: AggregateMemo, change: Change, fact: Fact, position: int
    ) -> None:
        """Queue the closes and inserts of one fact's change; new rows are numbered in order."""
        kind, slug, at = memo.fold.kind, memo.fold.slug, fact.recorded_at
        versions, parts = self.tables.versions(kind), self.tables.parts(kind)
        feed_table = self.tables.timeline_entries
        versions_name = versions.name
        parts_name = parts.name if parts is not None else ""
        counter = memo.counter
        if counter is not None:
            moved = [(key[3], -1) for key in change.closed_entries]
            moved += [(entry.effective_at, 1) for entry in change.opened_entries]
            changes, nodes = counter.record(fact.aggregate_id, position, moved, at)
            batch.counter_changes.extend(changes)
            batch.counter_nodes.extend(nodes)
        for key in change.closed_versions:
            table = parts if key[0] and parts is not None else versions
            batch.close(table, memo.open_versions.pop(key), at, position)
        seq = 0
        for row in change.opened_versions:
            for ref, body in row.texts:
                if ref not in self.stored and ref not in batch.texts:
                    batch.texts[ref] = body
                    text = fulltext.text_document(row) if self.index_texts else None
                    if text is not None:
                        batch.text_documents[text[0]] = text[1]
            memo.open_versions[row.key] = (position, seq)
            table_name = parts_name if row.part and parts is not None else versions_name
            counted = {}
            state = row.state
            if counter is not None and not row.part:
                counted = counter.frame_columns(row.valid_from)
                # its summary by its text's ref, numbered at the flush (`_number_summaries`)
                ref, body = row.texts[0]
                counted["summary"], state = ref, unsummarised(state, body)
            batch.inserts[(table_name, (position, seq))] = {
                "opened_by": position,
                "seq": seq,
                "aggregate_id": fact.aggregate_id,
                "slug": slug,
                "valid_from": row.valid_from,
                "valid_to": row.valid_to,
                "known_from": at,
                "known_to": None,
                "closed_by": None,
                "state": state,
                **({"part": row.part} if row.part else {}),
                **row.columns,
                **counted,
            }
            if row.cites:
                batch.links.extend(
                    {"source_kind": kind, "opened_by": position, "seq": seq, "policy_slug": cited}
                    for cited in row.cites
                )
            found = fulltext.document(kind, row)
            if found is not None:
                batch.documents.append(
                    {"id": (position << t.RTREE_SEQ_BITS) + seq, "kind": kind, "body": found}
                )
            seq += 1
        for key in change.closed_entries:
            batch.close(feed_table, memo.open_entries.pop(key), at, position)
        for entry in change.opened_entries:
            memo.open_entries[entry.key] = (position, seq)
            ref = summary_ref(entry.summary)  # its summary by its text's ref (schema 14)
            if ref not in self.stored and ref not in batch.texts:
                batch.texts[ref] = entry.summary
                document = fulltext.summary_document(entry.summary) if self.index_texts else None
                if document is not None:
                    batch.text_documents[ref] = document
            batch.inserts[(feed_table.name, (position, seq))] = {
                "opened_by": position,
                "seq": seq,
                "aggregate_id": fact.aggregate_id,
                "position": entry.position,
                "kind": kind,
                "slug": slug,
                "version": entry.version,
                "type": entry.type,
                "effective_at": entry.effective_at,
                "announced_at": entry.announced_at,
                "recorded_at": entry.recorded_at,
                "known_from": at,
                "known_to": None,
                "closed_by": None,
                "state": unsummarised(entry.state, entry.summary),
                "corrections": entry.corrections,
                "summary": ref,
            }
            batch.tags.extend({"opened_by": position, "seq": seq, "tag": tag} for tag in entry.tags)
            seq += 1
        if counter is not None:
            for row in change.opened_versions:
                if not row.part:
                    counter.saw_frame(row.valid_from)

    def _memo(
        self, connection: Connection, aggregate_id: UUID, kind: str, fact: Fact
    ) -> AggregateMemo:
        memo = self.memo.get(aggregate_id)
        if memo is None:
            # A stream's first event starts a new aggregate: nothing to load.
            loaded = (
                None
                if fact.version == 1
                else _load(connection, self.tables, self.log, aggregate_id, kind)
            )
            memo = loaded or AggregateMemo(
                AggregateFold(kind, fact.data["slug"]),
                counter=RevisionCounter() if kind == "policy" else None,
            )
            self.memo[aggregate_id] = memo
            self.held += memo.fold.last_version
        else:
            self.memo.move_to_end(aggregate_id)
        return memo

    def _flush(self, connection: Connection, batch: _Batch) -> None:
        tables = self.tables
        by_name = {table.name: table for table in tables.tables}
        if batch.facts:
            write_many(connection, insert(tables.facts), batch.facts)
        if batch.texts:
            _insert_new_texts(connection, tables.texts, batch.texts)
            if len(self.stored) > STORED_REFS:
                self.stored.clear()
            self.stored.update(batch.texts)
        by_table: dict[str, list[dict[str, Any]]] = {}
        for (name, _), row in batch.inserts.items():
            by_table.setdefault(name, []).append(row)
        for named in (tables.policy_versions, tables.timeline_entries):
            self._number_summaries(connection, by_table.get(named.name, []))
        # A rebuild's shadow R*Trees are filled once the shadow is full (`t.index_shadow`).
        rtrees = connection.dialect.name == "sqlite" and tables is not t.SHADOW
        for name, rows in by_table.items():
            write_many(connection, insert(by_name[name]), rows)
            if rtrees and name in t.STABBED:
                write_many(
                    connection,
                    insert(t.rtree_table(by_name[name])),
                    [t.rtree_row(row) for row in rows],
                )
        for name, closes in batch.closes.items():
            table = by_name[name]
            if rtrees and name in t.STABBED:
                tree = t.rtree_table(table)
                write_many(
                    connection,
                    update(tree).where(tree.c.id == bindparam("b_id")).values(k1=bindparam("b_k1")),
                    [
                        {
                            "b_id": (c["b_opened_by"] << t.RTREE_SEQ_BITS) + c["b_seq"],
                            "b_k1": t.rtree_position_end(c["closed_by"]),
                        }
                        for c in closes
                    ],
                )
            close_many(connection, table, closes)
        if batch.links:
            write_many(connection, insert(tables.responses), batch.links)
        if batch.tags and t.tag_rows_stored(connection.dialect.name):
            write_many(connection, insert(tables.timeline_tags), batch.tags)
        if batch.documents:
            fulltext.store(connection, tables.search, batch.documents)
        if batch.text_documents:
            fulltext.store_texts(connection, tables.search, batch.text_documents)
        if batch.counter_changes:
            write_many(connection, insert(tables.counter_changes), batch.counter_changes)
        if batch.counter_nodes:
            write_many(connection, insert(tables.counter_nodes), batch.counter_nodes)

    def _number_summaries(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """Replace the summary refs of rows to insert by their texts' numbers (stored by now:
        `_flush` inserts the texts first), looking up those not known yet."""
        if len(self.numbers) > STORED_REFS:
            self.numbers.clear()
        missing = sorted({r["summary"] for r in rows if r["summary"] not in self.numbers})
        texts = self.tables.texts
        for i in range(0, len(missing), fulltext.CHUNK):
            found = connection.execute(
                select(texts.c.ref, t.text_number(texts)).where(
                    texts.c.ref.in_(missing[i : i + fulltext.CHUNK])
                )
            )
            self.numbers.update((ref, int(number)) for ref, number in found)
        for row in rows:
            row["summary"] = self.numbers[row["summary"]]


def _delete_aggregate(
    connection: Connection, tables: t.ReadModels, kind: str, aggregate_id: UUID
) -> set[str]:
    """Delete every read-model row of one aggregate; returns the text refs its policy parts
    named (which may now be unused)."""
    refs: set[str] = set()
    owned = [tables.versions(kind), tables.timeline_entries]
    texts = tables.texts
    for table in owned:  # the summaries its frames and feed entries name (schema 14)
        if "summary" in table.c:
            named = select(table.c.summary).where(table.c.aggregate_id == aggregate_id)
            found = select(texts.c.ref).where(t.text_number(texts).in_(named))
            refs.update(connection.execute(found).scalars())
    parts = tables.parts(kind)
    if parts is not None:
        owned.append(parts)
        for (state,) in connection.execute(
            select(parts.c.state).where(parts.c.aggregate_id == aggregate_id)
        ):
            ref = json.loads(state).get("ref")
            if isinstance(ref, str):
                refs.add(ref)
    for table in owned:
        rows = connection.execute(
            select(table.c.opened_by, table.c.seq, table.c.state).where(
                table.c.aggregate_id == aggregate_id
            )
        ).all()
        if not rows:
            continue
        keys = [{"b_opened_by": r.opened_by, "b_seq": r.seq} for r in rows]
        if table is tables.timeline_entries:
            _delete_tags(connection, tables.timeline_tags, rows)
        else:
            responses = tables.responses
            connection.execute(
                delete(responses).where(
                    responses.c.opened_by == bindparam("b_opened_by"),
                    responses.c.seq == bindparam("b_seq"),
                ),
                keys,
            )
        ids = [(r.opened_by << t.RTREE_SEQ_BITS) + r.seq for r in rows]
        if (
            connection.dialect.name == "sqlite"
            and table.name in t.STABBED
            and t.indexed_row_by_row(table)
        ):
            tree = t.rtree_table(table)
            connection.execute(delete(tree).where(tree.c.id.in_(ids)))
        if table is not tables.timeline_entries:
            fulltext.forget(connection, tables.search, ids)
        connection.execute(delete(table).where(table.c.aggregate_id == aggregate_id))
    for table in (tables.facts, tables.counter_nodes, tables.counter_changes):
        connection.execute(delete(table).where(table.c.aggregate_id == aggregate_id))
    return refs


def _delete_tags(connection: Connection, tags: Table, entries: Sequence[Any]) -> None:
    """Delete the tag rows of feed entries, by their whole key (tag first: schema 12), the
    tags following from each entry's state as when they were written."""
    keys = [
        {"b_tag": tag, "b_opened_by": e.opened_by, "b_seq": e.seq}
        for e in entries
        for tag in feed_tags(json.loads(e.state))
    ]
    if keys:
        connection.execute(
            delete(tags).where(
                tags.c.tag == bindparam("b_tag"),
                tags.c.opened_by == bindparam("b_opened_by"),
                tags.c.seq == bindparam("b_seq"),
            ),
            keys,
        )


def _delete_unused_texts(connection: Connection, tables: t.ReadModels, refs: set[str]) -> None:
    """Delete the texts among `refs` that no policy part, frame or feed entry names any more
    (an erased source quote or summary must not stay readable by its content address), and
    their search documents (nor findable)."""
    parts, frames, texts = tables.policy_parts, tables.policy_versions, tables.texts
    candidates: dict[int, str] = {}
    for ref in refs:
        named = connection.execute(
            select(parts.c.opened_by).where(t.part_ref(parts) == ref).limit(1)
        ).first()
        number = select(t.text_number(texts)).where(texts.c.ref == ref).scalar_subquery()
        summarised = connection.execute(
            select(frames.c.opened_by).where(frames.c.summary == number).limit(1)
        ).first()
        found = _text_number(connection, texts, ref)
        if named is None and summarised is None and found is not None:
            candidates[found] = ref
    # the feed's summaries (no index on them: one pass per chunk over the feed)
    feed, numbers = tables.timeline_entries, sorted(candidates)
    for i in range(0, len(numbers), fulltext.CHUNK):
        chunk = numbers[i : i + fulltext.CHUNK]
        named_by_feed = select(feed.c.summary).where(feed.c.summary.in_(chunk)).distinct()
        for number in connection.execute(named_by_feed).scalars():
            candidates.pop(number, None)
    unused = list(candidates.values())
    fulltext.forget_texts(connection, tables.search, unused)  # it reads them: first
    for ref in unused:
        connection.execute(delete(tables.texts).where(tables.texts.c.ref == ref))


def _text_number(connection: Connection, texts: Table, ref: str) -> int | None:
    """The number of the stored text `ref` (a part's text has one too, never named), or None
    if it is not stored."""
    found = connection.execute(select(t.text_number(texts)).where(texts.c.ref == ref)).scalar()
    return None if found is None else int(found)


#: How many stored refs a projector remembers (a forgotten one costs a no-op insert).
STORED_REFS = 200_000


def _insert_new_texts(connection: Connection, table: Table, texts: dict[str, str]) -> None:
    """Insert the texts whose ref is not stored yet (another runner may have stored some)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    rows = [{"ref": ref, "body": body} for ref, body in texts.items()]
    connection.execute(dialect.insert(table).on_conflict_do_nothing(), rows)


def _last_version(connection: Connection, tables: t.ReadModels, aggregate_id: UUID) -> int | None:
    """The last version of an aggregate applied to `tables`, or None if it was never seen."""
    facts = tables.facts
    found = connection.execute(
        select(func.max(facts.c.version)).where(facts.c.aggregate_id == aggregate_id)
    ).scalar()
    return None if found is None else int(found)


def _load(
    connection: Connection,
    tables: t.ReadModels,
    log: AggregateLog,
    aggregate_id: UUID,
    kind: str,
) -> AggregateMemo | None:
    """An aggregate's facts (from the log, up to the last version applied) and open rows
    (from the tables), or None if it was never seen."""
    applied = _last_version(connection, tables, aggregate_id)
    if applied is None:
        return None
    logged = log.logged_stream(connection, aggregate_id, applied)
    fold = AggregateFold.load(
        kind, logged[0].fact.data["slug"], ((e.fact, e.position) for e in logged)
    )
    memo = AggregateMemo(fold, loaded=True)
    table = tables.versions(kind)
    if kind == "policy":
        memo.counter = _load_counter(connection, tables, aggregate_id)
    state = t.summarised_state(table, tables.texts) if kind == "policy" else table.c.state
    for row in connection.execute(
        select(
            table.c.valid_from,
            table.c.valid_to,
            state.label("state"),
            table.c.opened_by,
            table.c.seq,
        ).where(table.c.aggregate_id == aggregate_id, table.c.known_to.is_(None))
    ):
        key = ("", row.valid_from, row.valid_to, state_digest(row.state))
        memo.open_versions[key] = (row.opened_by, row.seq)
    parts = tables.parts(kind)
    if parts is not None:
        for row in connection.execute(
            select(
                parts.c.part,
                parts.c.valid_from,
                parts.c.valid_to,
                parts.c.state,
                parts.c.opened_by,
                parts.c.seq,
            ).where(parts.c.aggregate_id == aggregate_id, parts.c.known_to.is_(None))
        ):
            key = (row.part, row.valid_from, row.valid_to, state_digest(row.state))
            memo.open_versions[key] = (row.opened_by, row.seq)
    feed = tables.timeline_entries
    for row in connection.execute(
        select(*t.summarised_row(feed, tables.texts)).where(
            feed.c.aggregate_id == aggregate_id, feed.c.known_to.is_(None)
        )
    ):
        entry_key = (
            row.position,
            row.version,
            row.type,
            row.effective_at,
            row.announced_at,
            row.recorded_at,
            row.state,
            row.corrections,
        )
        memo.open_entries[entry_key] = (row.opened_by, row.seq)
    return memo


def _load_counter(
    connection: Connection, tables: t.ReadModels, aggregate_id: UUID
) -> RevisionCounter:
    """A policy's revision counter as stored: its changes in order, its latest frame."""
    changes = tables.counter_changes
    frames = tables.policy_versions
    latest = connection.execute(
        select(type_coerce(func.max(frames.c.valid_from), t.UTCDateTime())).where(
            frames.c.aggregate_id == aggregate_id
        )
    ).scalar()
    rows = connection.execute(
        select(changes)
        .where(changes.c.aggregate_id == aggregate_id)
        .order_by(changes.c.opened_by, changes.c.seq)
    ).all()
    return RevisionCounter.load(list(rows), latest)
