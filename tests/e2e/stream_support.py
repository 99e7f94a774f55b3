"""Shared by the stream, subscription and webhook e2e tests: a real API server in a subprocess
(uvicorn on a free port, the app built by `entrypoints.asgi.create_app` from the environment) and a
writer that records facts in the same database from the test process."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from httpx_sse import EventSource, ServerSentEvent
from support.ports import free_port  # noqa: F401 -- re-exported to the stream tests
from support.servers import ServerProcess

from timeline.application import Timeline
from timeline.egress import EgressPolicy, EgressSettings
from timeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

#: The test receivers listen on 127.0.0.1, which the egress policy refuses by default: the
#: environment (for servers and the CLI) and the policy (for add_endpoint in-process) that
#: allow them, as an operator allows an on-premises receiver.
LOCAL_RECEIVERS = {"TIMELINE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
LOCAL_POLICY = EgressPolicy.from_settings(EgressSettings(allowed_hosts=["127.0.0.1"]))
#: Webhook retries fast enough for a test to watch several attempts.
FAST_RETRIES = {
    "TIMELINE_WEBHOOK_BACKOFF_BASE": "0.05",
    "TIMELINE_WEBHOOK_BACKOFF_MAX": "0.2",
    "TIMELINE_WEBHOOK_POLL_INTERVAL": "0.1",
}


def sse_events(source: EventSource | Iterator[ServerSentEvent]) -> Iterator[ServerSentEvent]:
    """The stream's events without the keep-alive's: httpx-sse dispatches the blank line
    after a `: ping` comment as an event with no data and the last event's id, so a ping
    mid-stream read as a repeated position (seen in CI on a loaded machine)."""
    for event in source.iter_sse() if isinstance(source, EventSource) else source:
        if event.data or event.event != "message":
            yield event


class Server(ServerProcess):
    """`uvicorn entrypoints.asgi:create_app --factory` in a subprocess, on one database."""

    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        super().__init__(
            lambda port: [
                sys.executable,
                "-m",
                "uvicorn",
                "entrypoints.asgi:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env={**os.environ, "TIMELINE_DATABASE_URL": database_url, **env},
            log_path=log_path,
            cwd=ROOT,
        )
        self.database_url = database_url

    def start(self, timeout: float = 60, poll: float = 0.1) -> Server:
        super().start(timeout, poll)
        return self


@contextmanager
def running_server(database_url: str, log_path: Path, **env: str) -> Iterator[Server]:
    server = Server(database_url, log_path, **env).start()
    try:
        yield server
    finally:
        server.stop()


class Writer:
    """Records statements by one actor: each write is one event at the next position."""

    def __init__(self, database_url: str) -> None:
        self.timeline = Timeline(Settings(database_url=database_url))
        self.count = 0
        self.timeline.register_actor(
            {
                "id": "meta",
                "name": "Meta Platforms, Inc.",
                "kind": "organisation",
                "effectiveAt": "2021-10-28T00:00:00-07:00",
            }
        )
        self.timeline.register_actor(
            {
                "id": "roskomnadzor",
                "name": "Roskomnadzor",
                "kind": "authority",
                "effectiveAt": "2021-01-01T00:00:00+03:00",
            }
        )

    def statement(self, text: str = "", actor: str = "meta") -> int:
        """Record one statement; its log position."""
        self.count += 1
        at = datetime(2022, 3, 1, tzinfo=UTC) + timedelta(minutes=self.count)
        result = self.timeline.record_statement(
            {
                "id": f"{actor}/statement-{self.count}",
                "actor": actor,
                "text": text or f"statement {self.count}",
                "effectiveAt": at.isoformat(),
            }
        )
        return result.position

    def statements(self, n: int, text: str = "") -> list[int]:
        return [self.statement(text) for _ in range(n)]

    def restriction(
        self, slug: str, jurisdiction: str, targets: tuple[str, ...] = ("meta",)
    ) -> int:
        result = self.timeline.announce_regulatory_action(
            {
                "id": slug,
                "authority": "roskomnadzor",
                "jurisdiction": jurisdiction,
                "kind": "restriction",
                "targets": list(targets),
                "effectiveAt": "2022-03-14T00:00:00+03:00",
            }
        )
        return result.position

    def lift(self, slug: str) -> int:
        result = self.timeline.lift_regulatory_action(
            {"id": slug, "effectiveAt": "2023-01-01T00:00:00+00:00"}
        )
        return result.position

    def head(self) -> int:
        return self.timeline.head_position()

    def close(self) -> None:
        self.timeline.close()


class Receiver:
    """A real HTTP server that receives webhooks: it answers 500 to the first `failures`
    attempts of each webhook-id, then 204, and keeps what it accepted, in arrival order."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.attempts: dict[str, int] = {}
        self.accepted: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                message_id = self.headers.get("webhook-id", "")
                with receiver.lock:
                    receiver.attempts[message_id] = receiver.attempts.get(message_id, 0) + 1
                    ok = receiver.attempts[message_id] > receiver.failures
                    if ok:
                        receiver.accepted.append((message_id, dict(self.headers.items()), body))
                self.send_response(204 if ok else 500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/timeline"

    def accepted_ids(self) -> list[str]:
        with self.lock:
            return [message_id for message_id, _, _ in self.accepted]

    def wait_for(self, count: int, guard: float = 120) -> list[str]:
        """The accepted ids once `count` arrived (the guard only stops a hang)."""
        deadline = time.monotonic() + guard
        while len(self.accepted_ids()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.accepted_ids()

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
