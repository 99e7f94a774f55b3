"""Backup and restore of the log through `timeline export` / `timeline restore`.

An export line is the event's CloudEvents envelope (timeline/streams/cloudevents.py) plus
what a restore needs to give the event back exactly: its stored bytes and topic, its leaf
(index, salt, hash) and the tree's root after it. The last line is the signed head the
export ends at. `restore` checks every line against the bytes it carries, rebuilds the tree,
and stores the whole export in one transaction only when the rebuilt tree is the exported,
signed head: a truncated, reordered or altered export is refused whole, naming its line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TextIO
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import func, insert, select

from domain import EVENT_KINDS, Fact
from domain.errors import InvalidInput
from domain.values import aggregate_uuid, format_instant
from timeline import eventstore, integrity, signing, store
from timeline.integrity import EMPTY_HEAD, TreeHead, log_leaves
from timeline.leaf import leaf_of, recorded_at_of
from timeline.streams.cloudevents import SOURCE, SPEC_VERSION, TYPE_PREFIX, to_cloudevent

if TYPE_CHECKING:
    from timeline.application import Timeline

#: The `type` of an export's last line: the signed head the export ends at.
HEAD_TYPE = TYPE_PREFIX + "LogHead"
#: The `type` of a line holding an idempotency key (after the events, before the head).
KEY_TYPE = TYPE_PREFIX + "IdempotencyKey"
#: The CloudEvents extension attributes a restore needs, beside the envelope.
EXTENSIONS = ("leafindex", "leafhash", "salt", "treeroot", "storedtopic", "storedstate")
BATCH = 1000


@dataclass(frozen=True)
class ExportedEvent:
    """One event as exported: the envelope's input, its stored form, its leaf."""

    position: int
    kind: str
    slug: str
    fact: Fact
    topic: str
    state: bytes
    leaf_index: int
    salt: bytes
    leaf_hash: bytes
    root: bytes
    recorded_at: datetime

    def line(self) -> dict[str, Any]:
        """The export line: the CloudEvents envelope and the restore's extensions."""
        from timeline.application import LoggedFact

        envelope = to_cloudevent(LoggedFact(self.position, self.kind, self.fact), self.slug)
        envelope.update(
            leafindex=self.leaf_index,
            leafhash=self.leaf_hash.hex(),
            salt=self.salt.hex(),
            treeroot=self.root.hex(),
            storedtopic=self.topic,
            storedstate=base64.b64encode(self.state).decode(),
        )
        return envelope

    def head(self) -> TreeHead:
        """The tree's head right after this event."""
        return TreeHead(self.leaf_index + 1, self.root, self.position, self.recorded_at)


def exported_events(
    timeline: Timeline, after: int, stop: int, limit: int | None = None
) -> Iterator[list[ExportedEvent]]:
    """The events after position `after` up to `stop` (at most `limit`), in pages, each with
    its leaf; an event without a leaf (written outside the service) stops the export."""
    events = eventstore.events_table(timeline.recorder)
    left = limit
    while left is None or left > 0:
        size = BATCH if left is None else min(BATCH, left)
        query = (
            select(events, log_leaves.c.leaf_index, log_leaves.c.salt, log_leaves.c.root)
            .add_columns(log_leaves.c.stream)
            .outerjoin(log_leaves, log_leaves.c.position == events.c.id)
            .where(events.c.id > after, events.c.id <= stop)
            .order_by(events.c.id)
            .limit(size)
        )
        with timeline.engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return
        yield [_exported(timeline, row) for row in rows]
        after = int(rows[-1].id)
        if left is not None:
            left -= len(rows)


def _exported(timeline: Timeline, row: Any) -> ExportedEvent:
    if row.leaf_index is None:
        raise InvalidInput(
            "export",
            f"the event at position {row.id} has no leaf in the tree (written outside the "
            "service): run `timeline verify`; nothing more was exported",
        )
    state = bytes(row.state)
    event = timeline.mapper.to_domain_event(
        StoredEvent(row.originator_id, int(row.originator_version), str(row.topic), state)
    )
    kind, _, slug = str(row.stream).partition(":")
    return ExportedEvent(
        position=int(row.id),
        kind=kind,
        slug=slug,
        fact=Fact.from_event(event),
        topic=str(row.topic),
        state=state,
        leaf_index=int(row.leaf_index),
        salt=bytes(row.salt),
        leaf_hash=leaf_of(row, row).hash(),
        root=bytes(row.root),
        recorded_at=recorded_at_of(state),
    )


def key_lines(timeline: Timeline, after: int, stop: int) -> Iterator[dict[str, Any]]:
    """A line per idempotency key whose command's event is in (after, stop]: so that a
    restored database, too, answers a repeated command with its first result."""
    table = store.idempotency_keys
    last = ""
    while True:
        query = select(table).where(table.c.key > last).order_by(table.c.key).limit(BATCH)
        with timeline.engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return
        for row in rows:
            result = store.CommandResult.from_json(row.result)
            if after < result.position <= stop:
                yield {
                    "specversion": SPEC_VERSION,
                    "id": f"idempotency-key:{row.key}",
                    "source": SOURCE,
                    "type": KEY_TYPE,
                    "subject": f"{result.kind}:{result.id}",
                    "datacontenttype": "application/json",
                    "position": result.position,
                    "data": {
                        "key": row.key,
                        "fingerprint": row.fingerprint,
                        "result": json.loads(row.result),
                        "recordedAt": _instant(_aware(row.recorded_at)),
                    },
                }
        last = str(rows[-1].key)


def head_line(
    timeline: Timeline, head: TreeHead, after: int, count: int, keys: int = 0
) -> dict[str, Any]:
    """The export's last line: the head it ends at, signed, with the public key to check it."""
    signer = signing.signer(timeline.settings)
    signed = signer.sign(head)
    data = {
        "treeSize": head.tree_size,
        "rootHash": head.root.hex(),
        "position": head.position,
        "recordedAt": _instant(head.recorded_at),
        "checkpoint": signed.checkpoint,
        "signature": signed.signature,
        "keyId": signed.key_id,
        "publicKey": base64.b64encode(signer.public_key).decode(),
        "origin": signer.origin,
        "after": after,
        "events": count,
        "idempotencyKeys": keys,
    }
    line: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": f"head@{head.tree_size}",
        "source": SOURCE,
        "type": HEAD_TYPE,
        "subject": "log",
        "datacontenttype": "application/json",
        "position": head.position,
        "data": data,
    }
    if head.recorded_at is not None:
        line["time"] = format_instant(head.recorded_at)
    return line


def write_export(
    timeline: Timeline,
    stream: TextIO,
    after: int = 0,
    stop: int | None = None,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, TreeHead]:
    """Write the events after `after` up to `stop` (default: the sealed head now; at most
    `limit`), one line each, then the signed head they end at; returns (count, head).
    `progress` is called with the number of events of each page written."""
    if stop is None:
        stop = integrity.head(timeline.engine).position
    count, head = 0, head_before(timeline, after)
    for page in exported_events(timeline, after, stop, limit):
        for exported in page:
            stream.write(json.dumps(exported.line(), ensure_ascii=False))
            stream.write("\n")
        count += len(page)
        head = page[-1].head()
        if progress is not None:
            progress(len(page))
    keys = 0
    for line in key_lines(timeline, after, head.position):
        stream.write(json.dumps(line, ensure_ascii=False))
        stream.write("\n")
        keys += 1
    line = head_line(timeline, head, after, count, keys)
    stream.write(json.dumps(line, ensure_ascii=False))
    stream.write("\n")
    stream.flush()
    return count, head


def head_before(timeline: Timeline, after: int) -> TreeHead:
    """The head right after position `after` (what an export of nothing ends at)."""
    from timeline.proofs import head_at_position

    return head_at_position(timeline.engine, after) if after else EMPTY_HEAD


# -- restore ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    """What a restore stored: how many events, the head it verified, the export's key."""

    events: int
    head: TreeHead
    key_id: str
    idempotency_keys: int = 0


@dataclass
class _Pending:
    """Checked lines not yet inserted (one batch)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    leaves: list[tuple[Any, str, datetime]] = field(default_factory=list)
    salts: list[bytes] = field(default_factory=list)
    streams: list[tuple[UUID, str, str]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)


class LineError(InvalidInput):
    """A line of the export that failed a check: names the line; nothing was restored."""

    def __init__(self, name: str, number: int, reason: str) -> None:
        super().__init__(f"{name} line {number}", f"{reason}; nothing was restored")
        self.number = number


def restore(
    timeline: Timeline,
    name: str,
    lines: Iterable[tuple[int, str]],
    progress: Callable[[int], None] | None = None,
) -> Restored:
    """Store an export into an empty database, in one transaction: every line checked, the
    tree rebuilt and compared with the exported signed head before the commit. `progress`
    is called with the number of each line done. Any failure: LineError, nothing stored."""
    require_empty(timeline)
    check = _Checker(timeline, name)
    with eventstore.transaction(timeline.recorder, commit=True) as session:
        eventstore.lock_table(timeline.recorder, session)
        require_empty(timeline, session.connection())
        pending, stored = _Pending(), EMPTY_HEAD
        for number, text in lines:
            if text.strip():
                check.line(number, text, pending)
                if len(pending.events) + len(pending.keys) >= BATCH:
                    stored = _store(timeline, session, pending) or stored
                    pending = _Pending()
            if progress is not None:
                progress(number)
        stored = _store(timeline, session, pending) or stored
        restored = check.finish()
        if stored.root != restored.head.root:  # the tree as stored, from the inserted rows
            raise check.fail(check.last_line, "the stored tree is not the exported head")
        eventstore.continue_positions(timeline.recorder, session)
    return restored


def require_empty(timeline: Timeline, connection: Any = None) -> None:
    """Refuse a database that holds any event: a restore keeps positions, so only into none."""
    events = eventstore.events_table(timeline.recorder)
    query = select(func.count(), func.max(events.c.id)).select_from(events)
    if connection is None:
        with timeline.engine.connect() as own:
            count, last = own.execute(query).one()
    else:
        count, last = connection.execute(query).one()
    if count:
        raise InvalidInput(
            "database",
            f"it already holds {count} events (up to position {last}): a restore goes into an "
            "empty database only (a new SQLite file, or an empty PostgreSQL database or "
            "schema); nothing was restored",
        )


def _store(timeline: Timeline, session: Any, pending: _Pending) -> TreeHead | None:
    """Insert one batch of checked events with their leaves and stream names; returns the
    tree's head after it (None: an empty batch)."""
    connection = session.connection()
    if pending.keys:
        connection.execute(insert(store.idempotency_keys), pending.keys)
    if not pending.events:
        return None
    connection.execute(insert(eventstore.events_table(timeline.recorder)), pending.events)
    head = integrity.append_leaves(connection, pending.leaves, pending.salts)
    for aggregate_id, kind, slug in pending.streams:
        store.register_stream(session, aggregate_id, kind, slug)
    return head


class _Checker:
    """Checks an export line by line: order, the bytes against the envelope, the leaf, the
    tree after each event; then the final head and its signature."""

    def __init__(self, timeline: Timeline, name: str) -> None:
        self.timeline, self.name = timeline, name
        self.frontier: dict[int, bytes] = {}
        self.head = EMPTY_HEAD
        self.versions: dict[UUID, int] = {}
        self.last_line = 0
        self.head_seen: tuple[int, str] | None = None
        self.key_id = ""
        #: (aggregate id, version) of each restored position: what a key's result must name.
        self.events: dict[int, tuple[UUID, int]] = {}
        self.keys: set[str] = set()

    def fail(self, number: int, reason: str) -> LineError:
        return LineError(self.name, number, reason)

    def line(self, number: int, text: str, pending: _Pending) -> None:
        self.last_line = number
        if self.head_seen is not None:
            raise self.fail(
                number, f"a line after the head (line {self.head_seen[0]}) that ends the export"
            )
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise self.fail(
                number, f"not valid JSON ({error.msg} at column {error.colno})"
            ) from None
        if not isinstance(document, dict):
            raise self.fail(number, "not an exported event (a JSON object)")
        if document.get("type") == HEAD_TYPE:
            self.head_seen = (number, text)
            self._head(number, document)
            return
        if document.get("type") == KEY_TYPE:
            self._key(number, document, pending)
            return
        if self.keys:
            raise self.fail(number, "an event after the idempotency keys (lines reordered)")
        self._event(number, document, pending)

    def _key(self, number: int, line: dict[str, Any], pending: _Pending) -> None:
        """An idempotency key: its result must name a restored event, exactly."""
        data = line.get("data")
        if not isinstance(data, dict):
            raise self.fail(number, "data: not an exported idempotency key")
        try:
            key, fingerprint = str(data["key"]), str(data["fingerprint"])
            text = json.dumps(data["result"])
            result = store.CommandResult.from_json(text)
            recorded_at = datetime.fromisoformat(str(data["recordedAt"]))
        except (KeyError, TypeError, ValueError):
            raise self.fail(number, "data: not an exported idempotency key") from None
        if key in self.keys:
            raise self.fail(number, f"data.key: {key!r} is given twice")
        event = self.events.get(result.position)
        if event != (result.aggregate_id, result.version):
            raise self.fail(
                number,
                f"data.result: names position {result.position}, which is not that event of "
                "this export (altered)",
            )
        self.keys.add(key)
        pending.keys.append(
            {
                "key": key,
                "fingerprint": fingerprint,
                "result": text,
                "recorded_at": recorded_at,
            }
        )

    def _event(self, number: int, line: dict[str, Any], pending: _Pending) -> None:
        if "command" in line:
            raise self.fail(number, "a command, not an exported event: use `timeline import`")
        missing = [k for k in ("position", "subject", "data", *EXTENSIONS) if k not in line]
        if missing:
            raise self.fail(
                number, f"{missing[0]}: missing (an export of `timeline export`, unaltered?)"
            )
        position = _integer(line["position"])
        if position is None or position <= self.head.position:
            raise self.fail(
                number,
                f"position: {line['position']!r} does not follow position {self.head.position} "
                "of the line before (lines reordered or repeated)",
            )
        index = _integer(line["leafindex"])
        if index != self.head.tree_size:
            if self.head.tree_size == 0 and isinstance(index, int) and index > 0:
                reason = (
                    f"leafindex: the export starts at leaf {index}, not at the log's start "
                    "(exported with --after?): a restore needs the whole log"
                )
            else:
                reason = (
                    f"leafindex: {line['leafindex']!r}, expected {self.head.tree_size} (a line "
                    "before it is missing, or lines were reordered)"
                )
            raise self.fail(number, reason)
        data = line["data"]
        subject = line["subject"]
        if not isinstance(data, dict) or not isinstance(subject, str) or ":" not in subject:
            raise self.fail(number, "subject/data: not those of an exported event")
        kind, _, slug = subject.partition(":")
        try:
            state = base64.b64decode(str(line["storedstate"]), validate=True)
            salt = bytes.fromhex(str(line["salt"]))
            leaf_hash = bytes.fromhex(str(line["leafhash"]))
            root = bytes.fromhex(str(line["treeroot"]))
            aggregate_id = UUID(str(data.get("aggregateUuid")))
        except (binascii.Error, ValueError) as error:
            raise self.fail(number, f"a field is not in its encoding ({error})") from None
        if aggregate_id != aggregate_uuid(kind, slug):
            raise self.fail(number, f"data.aggregateUuid: is not the stream id of {subject}")
        version = _integer(data.get("aggregateVersion"))
        expected_version = self.versions.get(aggregate_id, 0) + 1
        if version != expected_version:
            raise self.fail(
                number,
                f"data.aggregateVersion: {data.get('aggregateVersion')!r}, expected "
                f"{expected_version} for {subject} (an event of it is missing or reordered)",
            )
        topic = str(line["storedtopic"])
        stored = StoredEvent(aggregate_id, version, topic, state)
        try:
            event = self.timeline.mapper.to_domain_event(stored)
            recorded_at = recorded_at_of(state)
            event_kind = EVENT_KINDS[type(event)]
        except Exception:  # any damage to the bytes: the event cannot be given back
            raise self.fail(
                number, "storedstate/storedtopic: not an event of this service (altered)"
            ) from None
        if event_kind != kind:
            raise self.fail(number, f"subject: the stored event is a {event_kind} event")
        self._same_envelope(number, line, position, kind, slug, Fact.from_event(event))
        row = SimpleNamespace(
            id=position,
            originator_id=aggregate_id,
            originator_version=version,
            topic=topic,
            state=state,
            stream=subject,
            salt=salt,
        )
        if leaf_of(row, row).hash() != leaf_hash:
            raise self.fail(
                number, "leafhash: does not commit to this event (the line was altered)"
            )
        nodes: list[dict[str, Any]] = []
        head = integrity.grow(
            self.frontier, index, leaf_hash, nodes, position=position, at=recorded_at
        )
        if head.root != root:
            raise self.fail(
                number,
                "treeroot: the tree after this event is not the exported one (an event before "
                "it was altered, removed or reordered)",
            )
        self.head = head
        self.versions[aggregate_id] = version
        self.events[position] = (aggregate_id, version)
        pending.events.append(
            {
                "id": position,
                "originator_id": aggregate_id,
                "originator_version": version,
                "topic": topic,
                "state": state,
            }
        )
        pending.leaves.append((row, subject, recorded_at))
        pending.salts.append(salt)
        if version == 1:
            pending.streams.append((aggregate_id, kind, slug))

    def _same_envelope(
        self, number: int, line: dict[str, Any], position: int, kind: str, slug: str, fact: Fact
    ) -> None:
        """The readable envelope must say what the stored bytes say (an edited payload is
        refused, never restored as the bytes or as the text)."""
        from timeline.application import LoggedFact

        expected = to_cloudevent(LoggedFact(position, kind, fact), slug)
        for key, value in expected.items():
            if key == "data":
                for name, inner in value.items():
                    if line["data"].get(name) != inner:
                        raise self.fail(
                            number, f"data.{name}: differs from the stored event (altered)"
                        )
            elif line.get(key) != value:
                raise self.fail(number, f"{key}: differs from the stored event (altered)")

    def _head(self, number: int, line: dict[str, Any]) -> None:
        data = line.get("data")
        if not isinstance(data, dict):
            raise self.fail(number, "data: the head line has no data")
        head = self.head
        if data.get("after") not in (0, None):
            raise self.fail(
                number, "data.after: the export starts after the log's start: restore needs all"
            )
        if data.get("treeSize") != head.tree_size:
            raise self.fail(
                number,
                f"data.treeSize: the head names {data.get('treeSize')!r} events, the export "
                f"holds {head.tree_size} (lines were removed or added)",
            )
        if data.get("rootHash") != head.root.hex() or data.get("position") != head.position:
            raise self.fail(number, "data.rootHash: is not the root of the exported events")
        if data.get("idempotencyKeys", 0) != len(self.keys):
            raise self.fail(
                number,
                f"data.idempotencyKeys: the head names {data.get('idempotencyKeys')!r} keys, "
                f"the export holds {len(self.keys)} (lines were removed or added)",
            )
        if data.get("recordedAt") != _instant(head.recorded_at):
            raise self.fail(number, "data.recordedAt: is not that of the last exported event")
        try:
            public_key = base64.b64decode(str(data.get("publicKey")), validate=True)
        except binascii.Error:
            raise self.fail(number, "data.publicKey: not base64") from None
        key_id = hashlib.sha256(public_key).hexdigest()
        if data.get("keyId") != key_id:
            raise self.fail(number, "data.keyId: is not the id of data.publicKey")
        origin = str(data.get("origin"))
        checkpoint = signing.checkpoint(origin, head)
        if data.get("checkpoint") != checkpoint or not origin.endswith(key_id[:16]):
            raise self.fail(number, "data.checkpoint: is not the checkpoint of this head")
        if not signing.verify_signature(public_key, checkpoint, str(data.get("signature"))):
            raise self.fail(number, "data.signature: does not verify with data.publicKey")
        self.key_id = key_id

    def finish(self) -> Restored:
        if self.head_seen is None:
            raise self.fail(
                self.last_line + 1,
                f"missing: the export ends after line {self.last_line} without its head line "
                "(it was cut short)",
            )
        return Restored(self.head.tree_size, self.head, self.key_id, len(self.keys))


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _aware(value: datetime) -> datetime:
    """An instant read back from SQLite (naive, stored in UTC) made aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _instant(value: datetime | None) -> str | None:
    return format_instant(value.astimezone(UTC)) if value is not None else None
