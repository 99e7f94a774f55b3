"""The API process killed with SIGKILL while a webhook delivery is in flight: after a restart
the delivery resumes. The event whose delivery was cut is sent again (same `webhook-id`, so the
receiver can drop the duplicate), nothing acknowledged before the kill is sent again, nothing
is skipped, order holds, and every request is signed per Standard Webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from stream_support import LOCAL_POLICY, LOCAL_RECEIVERS, Server, Writer, free_port

from timeline.streams import webhooks

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Fast retries and a short lease, so that the restarted worker takes the endpoint over soon.
WORKER_ENV = {
    "TIMELINE_WEBHOOK_LEASE": "2",
    "TIMELINE_WEBHOOK_POLL_INTERVAL": "0.2",
    "TIMELINE_WEBHOOK_BACKOFF_BASE": "0.2",
    "TIMELINE_WEBHOOK_TIMEOUT": "30",
    "TIMELINE_WEBHOOK_DEADLINE": "90",  # the held delivery outlasts the kill
    **LOCAL_RECEIVERS,
}


@dataclass
class Receiver:
    """An HTTP receiver that holds the delivery of `hold_position` open the first time."""

    hold_position: int
    received: list[tuple[str, int, dict[str, str]]] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    in_flight: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"])).decode()
                event = json.loads(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.received.append((event["id"], event["position"], headers))
                    receiver.bodies.append(body)
                    first = [p for _, p, _ in receiver.received].count(event["position"]) == 1
                if event["position"] == receiver.hold_position and first:
                    receiver.in_flight.set()
                    receiver.release.wait(60)  # the sender is killed meanwhile
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        return Handler

    def positions(self) -> list[int]:
        with self.lock:
            return [position for _, position, _ in self.received]


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver(hold_position=4)
    port = free_port()
    http = ThreadingHTTPServer(("127.0.0.1", port), receiver.handler())
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{port}/hook"
    finally:
        receiver.release.set()
        http.shutdown()


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_delivery_cut_by_killing_the_api_resumes_after_a_restart(
    database_url: str, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    writer = Writer(database_url)  # two actors: positions 1 and 2
    try:
        writer.statements(6)
        head = writer.head()
        endpoint = webhooks.add_endpoint(writer.timeline, url, after=0, policy=LOCAL_POLICY)
        expected = [entry.position for entry in writer.timeline.iter_log()]
        assert hook.hold_position in expected and len(expected) == 8

        server = Server(database_url, tmp_path / "api.log", **WORKER_ENV).start()
        try:
            assert hook.in_flight.wait(60), "the delivery never started"
            assert server.process is not None
            server.process.kill()  # SIGKILL: no shutdown, the delivery is cut
            server.process.wait(30)
        finally:
            server.stop()
        hook.release.set()
        cut = hook.positions()
        assert cut[-1] == hook.hold_position and hook.hold_position + 1 not in cut

        with_restart = Server(database_url, tmp_path / "api.log", **WORKER_ENV).start()
        try:
            wait_until(
                lambda: set(hook.positions()) >= set(expected), 60, "the deliveries to resume"
            )
            wait_until(lambda: cursor_of(writer, endpoint.id) == head, 30, "the cursor")
        finally:
            with_restart.stop()

        received = hook.positions()
        before_cut = [p for p in expected if p < hook.hold_position]
        assert received[: len(before_cut)] == before_cut  # in order, each once, before the kill
        assert all(received.count(p) == 1 for p in before_cut)  # not sent again after it
        assert received.count(hook.hold_position) >= 2  # the cut delivery was sent again
        assert dedupe(received) == expected  # nothing skipped, order held
        verify_signatures(hook, endpoint.secret)
    finally:
        writer.close()


def dedupe(positions: list[int]) -> list[int]:
    seen: list[int] = []
    for position in positions:
        if position not in seen:
            seen.append(position)
    return seen


def cursor_of(writer: Writer, endpoint_id: str) -> int:
    found = [e for e in webhooks.list_endpoints(writer.timeline.engine) if e.id == endpoint_id]
    return found[0].cursor if found else -1


def verify_signatures(hook: Receiver, secret: str) -> None:
    verifier = Webhook(secret)
    for (event_id, _, headers), body in zip(hook.received, hook.bodies, strict=True):
        assert headers["webhook-id"] == event_id
        timestamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
        assert abs((datetime.now(UTC) - timestamp).total_seconds()) < 300
        verifier.verify(
            body,
            {
                "webhook-id": headers["webhook-id"],
                "webhook-timestamp": headers["webhook-timestamp"],
                "webhook-signature": headers["webhook-signature"],
            },
        )
