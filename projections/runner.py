"""The projection runner: moves the cursor over the log, exactly once, in one transaction per
batch (rows and tracking position together), and wakes on new events without busy polling.

In-process (a daemon thread started by bootstrap) or as a worker (`timeline project`); only
the holder of the projection's lock applies events, the others stand by. It is woken by the
process's one wake-up source (`NewEvents`, injected: timeline/streams/wakeups.py implements it
with LISTEN/NOTIFY or SQLite's data_version), which the fan-out shares.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Protocol

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from projections import tables as t
from projections.lock import ProjectionLock
from projections.projector import MEMO_FACTS, MEMO_SIZE, AggregateLog, LoggedEvent, Projector

log = logging.getLogger(__name__)

NAME = "timeline"

Progress = Callable[[int, int], None]


class NewEvents(Protocol):
    """Tells its subscribers when the log may have grown (a hint: they read from their own
    cursor). Defined here, implemented by timeline.streams.wakeups.NewEvents: projections/
    may not import timeline/, so the process's one wake-up source is handed in."""

    def subscribe(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake()` (from any thread) on new events; returns the unsubscribe call."""
        ...


class EventLog(AggregateLog, Protocol):
    """Where the events come from (and where the projector reads an aggregate's facts back):
    `timeline.application.Timeline` fits."""

    def log(self, after: int = 0, limit: int = 1000) -> Sequence[LoggedEvent]: ...
    def head_position(self) -> int: ...


#: Events behind from which a catch-up rebuilds in bulk instead (`ProjectionRunner._bulk_pays`).
BULK_CATCH_UP = 10_000

#: Batches between full collections while the runner holds the cycle collector back.
FULL_COLLECTION_EVERY = 100

_collector = threading.Lock()
_holding = 0  # how many runs (of any runner in this process) hold the collector back
_batches = 0
_was_enabled = True


@contextmanager
def _young_collections() -> Iterator[None]:
    """While runs apply batches: no automatic cycle collection, a young one (generations 0
    and 1: what the last batch allocated) after each batch that allocated enough
    (`_collected`), a full one every `FULL_COLLECTION_EVERY` of those. A rebuild's memo
    holds some 50,000 facts, their states and rows; the automatic full collections walked
    all of it again and again (8 to 19 of them, 2.5 to 3.1 s, in a 10k rebuild of 7 to 12 s:
    docs/benchmarks.md). Process-wide (the collector is): the previous setting comes back
    when the last run ends."""
    global _holding, _was_enabled
    with _collector:
        if _holding == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holding += 1
    try:
        yield
    finally:
        with _collector:
            _holding -= 1
            if _holding == 0 and _was_enabled:
                gc.enable()


def _collected() -> None:
    """After a batch under `_young_collections`: collect what it left behind, if it
    allocated as much as would have started an automatic collection; under
    `_frozen_batches`, set it aside instead (`gc.freeze`), and collect everything (unfrozen)
    every `FULL_COLLECTION_EVERY` batches."""
    global _batches
    if gc.get_count()[0] < gc.get_threshold()[0]:
        return  # a small batch (a live one's few events): nothing worth a collection yet
    _batches += 1
    full = _batches % FULL_COLLECTION_EVERY == 0
    if not _freezing:
        gc.collect(2 if full else 1)
    elif full:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
    else:
        gc.freeze()


_freezing = False


@contextmanager
def _frozen_batches() -> Iterator[None]:
    """During a rebuild's batches: what each batch leaves (mostly the memo's facts, states and
    rows, which outlive it) is frozen out of the collector's reach instead of walked by a
    young collection (0.07-0.17 s a batch of 2,000 events, docs/benchmarks.md); its few
    cycles of garbage (~900 objects a batch) wait for the next full collection. Only where
    nothing else froze objects (the API freezes its startup heap: `gc.unfreeze` would give
    it back); everything is unfrozen when the rebuild ends."""
    global _freezing
    with _collector:
        mine = not _freezing and gc.get_freeze_count() == 0
        if mine:
            _freezing = True
    try:
        yield
    finally:
        if mine:
            with _collector:
                _freezing = False
                gc.unfreeze()


class TrackingConflict(RuntimeError):
    """Another writer moved the tracking position under us; the batch was rolled back."""


def tracked_position(engine: Engine, name: str = NAME) -> int:
    """The last log position applied by projection `name` (0 if it never ran)."""
    with engine.connect() as connection:
        value = connection.execute(
            select(t.tracking.c.position).where(t.tracking.c.name == name)
        ).scalar()
    return int(value or 0)


class ProjectionRunner:
    """Applies the log to the read models; `start()` runs it in a thread, `run()` in front."""

    def __init__(
        self,
        engine: Engine,
        events: EventLog,
        *,
        name: str = NAME,
        batch_size: int = 500,
        rebuild_batch_size: int | None = None,
        bulk_catch_up: int = BULK_CATCH_UP,
        memo_size: int = MEMO_SIZE,
        memo_facts: int = MEMO_FACTS,
        poll_interval: float = 1.0,
        standby_interval: float = 2.0,
        new_events: NewEvents | None = None,
        safety_interval: float = 30.0,
    ) -> None:
        self.engine = engine
        self.events = events
        self.name = name
        self.batch_size = batch_size
        #: Events per rebuild transaction (default 4 x batch_size): the shadow tables are the
        #: rebuild's own, so fewer, larger transactions cost readers nothing.
        self.rebuild_batch_size = rebuild_batch_size
        #: Events behind from which a catch-up under the lock (from an empty or a far
        #: behind projection) rebuilds in bulk instead (`_bulk_pays`).
        self.bulk_catch_up = bulk_catch_up
        self.poll_interval = poll_interval
        self.standby_interval = standby_interval
        #: The wake-up source; without one, the running loop polls every `poll_interval`.
        self.new_events = new_events
        #: With a wake-up source, seconds between catch-ups that nothing asked for (they
        #: cover a lost notification).
        self.safety_interval = safety_interval
        self.projector = Projector(events, memo_size, t.LIVE, memo_facts)
        self.lock = ProjectionLock(engine, name)
        self.on_batch: Callable[[int], None] | None = None
        self._position = -1
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._applied = threading.Condition()
        self._thread: threading.Thread | None = None
        self._serial = threading.RLock()  # one catch-up at a time per runner (shared memo)
        t.create_tables(engine)

    # -- the cursor ------------------------------------------------------------------------

    def position(self) -> int:
        """The tracked position, as committed."""
        return tracked_position(self.engine, self.name)

    def catch_up(self, progress: Progress | None = None, stop_at: int | None = None) -> int:
        """Apply every event after the tracked position; returns the new position.

        Safe beside other runners: the guarded tracking update lets one of them win each
        batch, and the others roll back and read on from the winner's position."""
        with self._serial:
            return self._catch_up(progress, stop_at)

    def _follow(self) -> None:
        """Catch up from the running loop: gives way as soon as `stop()` is called."""
        with self._serial:
            self._catch_up(None, None, interruptible=True)

    def _catch_up(
        self, progress: Progress | None, stop_at: int | None, interruptible: bool = False
    ) -> int:
        position = self._ensure_tracking()
        if position != self._position:
            self.projector.forget()  # someone else moved the cursor: the memo may be stale
        head = self.events.head_position() if progress or self.lock.held else 0
        if stop_at is None and self._bulk_pays(position, head):
            log.info(
                "projection %s: %d of %d events behind; rebuilding in bulk instead",
                self.name,
                head - position,
                head,
            )
            # then, as any catch-up, what was recorded meanwhile (to the head, for `--once`)
            position = self._rebuild(progress, interruptible)
        with _young_collections():
            return self._follow_log(position, progress, head, stop_at, interruptible)

    def _bulk_pays(self, position: int, head: int) -> bool:
        """Whether a catch-up from `position` to `head` should take the rebuild's path
        instead (docs/decisions.md): only under the lock (a rebuild's shadow tables are
        one writer's), at least `bulk_catch_up` events behind, and behind by more than
        three quarters of the log (a rebuild replays all of it, at a rate that pays for the
        events already applied only then)."""
        behind = head - position
        return self.lock.held and behind >= self.bulk_catch_up and 4 * position < head

    def _follow_log(
        self,
        position: int,
        progress: Progress | None,
        head: int,
        stop_at: int | None,
        interruptible: bool,
    ) -> int:
        while not (interruptible and self._stop.is_set()):
            page = self.events.log(position, self.batch_size)
            if stop_at is not None:
                page = [e for e in page if e.position <= stop_at]
            if not page:
                break
            try:
                position = self._apply(position, page)
            except (TrackingConflict, IntegrityError):
                # Another runner applied this batch first (it committed; we rolled back).
                moved_to = self.position()
                if moved_to == position:
                    raise  # nobody else moved: a real error, not a lost race
                position = moved_to
                continue
            if progress:
                progress(position, max(head, position))
        return position

    def _apply(self, position: int, page: Sequence[LoggedEvent]) -> int:
        """Apply one batch to the live tables and tell the waiting readers."""
        new_position = _apply_batch(self.engine, self.projector, self.name, position, page)
        with self._applied:
            self._position = new_position
            self._applied.notify_all()
        if self.on_batch:
            self.on_batch(new_position)
        return new_position

    def _ensure_tracking(self) -> int:
        """The tracked position; a missing row or a changed schema version means rebuild."""
        with self.engine.begin() as connection:
            row = connection.execute(
                select(t.tracking).where(t.tracking.c.name == self.name)
            ).first()
        if row is None:
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        insert(t.tracking).values(
                            name=self.name, position=0, schema_version=t.SCHEMA_VERSION
                        )
                    )
            except IntegrityError:
                return self.position()  # another runner registered it at the same moment
            return 0
        if row.schema_version != t.SCHEMA_VERSION:
            log.warning(
                "projection %s: schema version %s -> %s, rebuilding",
                self.name,
                row.schema_version,
                t.SCHEMA_VERSION,
            )
            return self._rebuild(None)
        return int(row.position)

    # -- rebuild ---------------------------------------------------------------------------

    def rebuild(self, progress: Progress | None = None) -> int:
        """Replay the whole log into fresh (shadow) tables, then swap them in at once: readers
        see the old answers until the swap, never a half-built projection. The caller should
        hold the lock; a crash mid-rebuild leaves the live tables as they were."""
        with self._serial:
            return self._rebuild(progress)

    def _rebuild(self, progress: Progress | None, interruptible: bool = False) -> int:
        """Rebuild; `interruptible` (a catch-up of the running loop's): when `stop()` is
        called, give up between pages, the live tables as they were, and return their
        position (the shadow is dropped by the next rebuild)."""
        shadow_name = f"{self.name}:rebuild"
        t.fresh_shadow(self.engine)
        with self.engine.begin() as connection:
            _set_tracking(connection, shadow_name, 0)
        shadow = Projector(
            self.events, self.projector.memo_size, t.SHADOW, self.projector.memo_facts
        )
        head = self.events.head_position() if progress else 0
        position = 0
        size = self.rebuild_batch_size or 4 * self.batch_size
        # The next page is read while this one is applied: the database's side of the read
        # (and on SQLite the whole query, which releases the GIL) overlaps the fold.
        with _young_collections(), _frozen_batches(), ThreadPoolExecutor(1) as reader:
            ahead = reader.submit(self.events.log, position, size)
            while page := ahead.result():
                if interruptible and self._stop.is_set():
                    return self.position()
                ahead = reader.submit(self.events.log, page[-1].position, size)
                position = _apply_batch(
                    self.engine, shadow, shadow_name, position, page, durable=False
                )
                if progress:
                    progress(position, max(head, position))
        log.info("projection %s: rebuilt to position %d; building its indexes", self.name, position)
        t.index_shadow(self.engine)
        with self.engine.begin() as connection:
            _set_tracking(connection, self.name, position)  # a write first: takes the lock
            connection.execute(t.tracking.delete().where(t.tracking.c.name == shadow_name))
            t.swap_in_shadow(connection)
        self.projector = Projector(
            self.events, self.projector.memo_size, t.LIVE, self.projector.memo_facts
        )
        with self._applied:
            self._position = position
            self._applied.notify_all()
        return position

    # -- running ---------------------------------------------------------------------------

    def run(self, *, once: bool = False) -> None:
        """Take the lock (standing by while another worker holds it), then apply events as
        they arrive until `stop()`; with `once`, return once the read models reach the head
        of the log (applied here, or by the worker that holds the lock)."""
        try:
            if once:
                self._run_once()
                return
            while not self._stop.is_set():
                if self.lock.acquire():
                    break
                log.info("projection %s: another worker is active; standing by", self.name)
                self._stop.wait(self.standby_interval)
            if self._stop.is_set():
                return
            self._follow_woken()
        finally:
            self.lock.release()

    def _follow_woken(self) -> None:
        """Catch up, then again whenever the wake-up source (or `wake()`) says so, until
        `stop()`; a catch-up every `safety_interval` (without a source: `poll_interval`)
        covers a lost wake-up."""
        source = self.new_events
        unsubscribe = source.subscribe(self.wake) if source is not None else None
        interval = self.poll_interval if source is None else self.safety_interval
        try:
            self._wake.clear()  # the subscription's first wake: the catch-up below is it
            self._follow()  # what was written before the subscription took hold
            while not self._stop.is_set():
                self._wake.wait(interval)
                self._wake.clear()
                if not self._stop.is_set():
                    self._follow()
        finally:
            if unsubscribe is not None:
                unsubscribe()

    def _run_once(self) -> None:
        head = self.events.head_position()
        while not self._stop.is_set():
            if self.lock.acquire():
                self._follow()
                return
            log.info(
                "projection %s: another worker is active; waiting for it to reach %s",
                self.name,
                head,
            )
            if self.wait_for(head, self.standby_interval):
                return

    def start(self) -> None:
        """Run in a daemon thread (the embedded default)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.serve, name=f"projection-{self.name}", daemon=True
        )
        self._thread.start()

    def serve(self) -> None:
        """`run()` until `stop()`, starting again after a failure (a database restart, say)
        once `standby_interval` has passed."""
        while not self._stop.is_set():
            try:
                self.run()
            except Exception:
                log.exception("projection %s failed; retrying", self.name)
                self._stop.wait(self.standby_interval)

    def wake(self) -> None:
        """Ask the runner to look at the log now (after an in-process write)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Block until the projection has applied `position` (read-your-writes); False on
        timeout. Works whether this process or another worker applies the events."""
        deadline = time.monotonic() + timeout
        while True:
            if self._position >= position or self._committed_position() >= position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.wake()
            with self._applied:
                self._applied.wait(min(remaining, 0.05))

    def _committed_position(self) -> int:
        """The tracked position, or -1 while the database cannot be reached."""
        try:
            return self.position()
        except DBAPIError:
            return -1


def _set_tracking(connection: Connection, name: str, position: int) -> None:
    """(Re)register projection `name` at `position` with the current schema version."""
    connection.execute(t.tracking.delete().where(t.tracking.c.name == name))
    connection.execute(
        insert(t.tracking).values(name=name, position=position, schema_version=t.SCHEMA_VERSION)
    )


def _apply_batch(
    engine: Engine,
    projector: Projector,
    name: str,
    position: int,
    page: Sequence[LoggedEvent],
    *,
    durable: bool = True,
) -> int:
    """One transaction: the tracking position guarded by its old value, then the rows.

    Moving the cursor first takes the write lock up front (SQLite cannot upgrade a read
    snapshot that another writer overtook) and lets a concurrent runner fail fast. Not
    `durable` (a rebuild's shadow batches): on PostgreSQL the commit does not wait for its
    WAL to reach the disk (`synchronous_commit = off`); a crash may lose the last batches,
    never make them half-written, and a rebuild starts again from nothing anyway. The swap
    that puts the shadow in place commits durably."""
    new_position = page[-1].position
    try:
        with engine.begin() as connection:
            if not durable and connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
            moved = connection.execute(
                update(t.tracking)
                .where(t.tracking.c.name == name, t.tracking.c.position == position)
                .values(position=new_position)
            ).rowcount
            if moved != 1:
                raise TrackingConflict(f"projection {name!r} moved past {position}")
            projector.apply(connection, page)
    except BaseException:
        projector.forget()
        raise
    if _holding:
        _collected()
    return new_position
