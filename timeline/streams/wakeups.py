"""The one wake-up source of a process: says "the log may have grown" to every listener.

The fan-out and the projection runner (and through the fan-out, the webhook worker) subscribe
to one `NewEvents`, so a new event is detected once per process, not once per consumer:

- PostgreSQL: one connection LISTENs on the event store's NOTIFY channel (the recorder
  NOTIFYs on every insert, delivered at commit), so every process on the database wakes for
  every write; it reconnects by itself and wakes everyone after each (re)connect.
- SQLite: a connection of its own that never writes looks at `PRAGMA data_version` every
  `watch_interval` seconds; the number moves once any other connection, in any process, has
  committed, so the read that follows finds the event (no table read: microseconds).
- In process: a hook after each commit of the event store's sessions.

A wake-up is a hint, never a promise: listeners read the log from their own cursor, so a
spurious wake costs one empty read and a missed one is covered by each listener's backstop
poll. The source runs (its thread, its connection) only while someone is subscribed.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from timeline import eventstore
from timeline.application import Timeline

log = logging.getLogger("timeline.streams.wakeups")

Wake = Callable[[], None]


class NewEvents:
    """Shared wake-ups for one timeline; `subscribe(wake)` returns the unsubscribe call.

    `wake` is called from another thread (the watcher's, or the committing one) and must only
    set a flag or schedule work (`threading.Event.set`, `loop.call_soon_threadsafe`)."""

    def __init__(self, timeline: Timeline, watch_interval: float = 0.01) -> None:
        self.timeline = timeline
        self.watch_interval = watch_interval
        self._lock = threading.Lock()
        self._listeners: list[Wake] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unhook: Callable[[], None] | None = None
        engine = timeline.engine
        self.postgres = engine.dialect.name == "postgresql"
        self.sqlite_file = None if self.postgres else sqlite_path(engine.url.database)
        #: Times the source connected (LISTEN or data_version watch): one per start, plus
        #: one per reconnect. What the tests count to show that consumers share it.
        self.connections = 0

    @property
    def running(self) -> bool:
        """Whether the watcher (LISTEN or data_version) is running now."""
        return self._thread is not None and self._thread.is_alive()

    def subscribe(self, wake: Wake) -> Callable[[], None]:
        """Call `wake()` whenever the log may have grown (and once now, so that nothing
        written before the subscription waits for the next write)."""
        with self._lock:
            self._listeners.append(wake)
            if len(self._listeners) == 1:
                self._start()
        wake()

        def unsubscribe() -> None:
            with self._lock:
                if wake not in self._listeners:
                    return
                self._listeners.remove(wake)
                if self._listeners:
                    return
                thread = self._halt()
            if thread is not None and thread is not threading.current_thread():
                thread.join(5)

        return unsubscribe

    def close(self) -> None:
        """Stop watching, whoever is still subscribed."""
        with self._lock:
            self._listeners.clear()
            thread = self._halt()
        if thread is not None:
            thread.join(5)

    def notify(self) -> None:
        """Wake every listener now."""
        with self._lock:
            listeners = list(self._listeners)
        for wake in listeners:
            try:
                wake()
            except Exception:
                log.exception("a wake-up listener failed")

    # -- the watchers (one thread, started with the first listener) --------------------------

    def _start(self) -> None:
        self._unhook = eventstore.on_commit(self.timeline.recorder, self.notify)
        target = self._listen if self.postgres else self._watch if self.sqlite_file else None
        if target is None:
            return  # in-memory SQLite: only this process writes, the commit hook covers it
        self._stop = threading.Event()  # the thread's own: a later start never revives it
        self._thread = threading.Thread(
            target=target, args=(self._stop,), name="wakeups", daemon=True
        )
        self._thread.start()

    def _halt(self) -> threading.Thread | None:
        """Unhook and ask the thread to stop (under the lock); the thread, to join."""
        if self._unhook is not None:
            self._unhook()
            self._unhook = None
        self._stop.set()
        thread, self._thread = self._thread, None
        return thread

    def _listen(self, stop: threading.Event, timeout: float = 0.25) -> None:
        """LISTEN on the store's channel on a connection of its own; reconnect on failure."""
        import psycopg

        url = self.timeline.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        channel = eventstore.channel(self.timeline.recorder)
        while not stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as connection:
                    connection.execute(f"LISTEN {channel}")
                    self.connections += 1
                    self.notify()  # whatever was written while nobody listened
                    while not stop.is_set():
                        if any(True for _ in connection.notifies(timeout=timeout, stop_after=1)):
                            self.notify()
            except Exception:
                log.exception("LISTEN %s failed; reconnecting", channel)
                stop.wait(1.0)

    def _watch(self, stop: threading.Event) -> None:
        """Look at SQLite's data_version; wake everyone when it moved."""
        assert self.sqlite_file is not None
        watch = CommitWatch(self.sqlite_file)
        self.connections += 1
        try:
            seen = watch.version()
            while not stop.wait(self.watch_interval):
                version = watch.version()
                if version is None or version != seen:
                    seen = version
                    self.notify()
        finally:
            watch.close()


def sqlite_path(database: str | None) -> str | None:
    """The file of the SQLite database `database`, None for an in-memory database."""
    if not database or database == ":memory:" or "mode=memory" in database:
        return None
    return database.removeprefix("file:").partition("?")[0] or None


class CommitWatch:
    """`PRAGMA data_version` on a connection of its own that never writes: the number moves
    whenever any other connection, in this process or another, commits to the database. A
    look reads the write-ahead log's index, not a table: microseconds."""

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, timeout=0, check_same_thread=False)

    def version(self) -> int | None:
        """The current data version, or None when it could not be read (look again)."""
        try:
            # fetchall: the statement runs to its end, so no read transaction stays open.
            rows = self._connection.execute("PRAGMA data_version").fetchall()
        except sqlite3.Error:
            return None
        return int(rows[0][0])

    def close(self) -> None:
        self._connection.close()
