"""Webhooks as a weapon (issue 12 item 8), through the real server, its worker and real sockets:
internal addresses are refused at registration (GraphQL and the CLI, every spelling) and again
at delivery after DNS; the allow-list admits on-premises receivers; a stored bad URL is a
logged, retried failure while other endpoints are delivered; an endless answer is cut at
64 KiB and a dripping one at the deadline; the delivery log names no address or port."""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import secrets
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import create_engine, insert
from stream_support import (
    FAST_RETRIES,
    LOCAL_POLICY,
    LOCAL_RECEIVERS,
    Receiver,
    Writer,
    free_port,
)
from test_api_security import post_raw
from test_api_server import ApiServer, serve

from timeline.egress import EgressPolicy
from timeline.settings import Settings
from timeline.streams import webhooks
from timeline.streams.reader import EventFilter

pytestmark = pytest.mark.e2e

TIMELINE = str(Path(sys.executable).with_name("timeline"))
ADD = "mutation($i: AddWebhookInput!) { addWebhook(input: $i) { endpoint { id url } } }"

#: Every form of an internal destination that the default policy refuses at registration.
INTERNAL = [
    pytest.param("http://127.0.0.1:8000/hook", id="loopback"),
    pytest.param("http://127.9.9.9/hook", id="loopback-range"),
    pytest.param("http://[::1]:8000/hook", id="loopback-v6"),
    pytest.param("http://localhost:8000/hook", id="localhost"),
    pytest.param("http://admin.localhost/hook", id="sub-localhost"),
    pytest.param("http://10.0.0.5/hook", id="rfc1918-10"),
    pytest.param("http://172.16.0.1/hook", id="rfc1918-172"),
    pytest.param("http://192.168.1.1/hook", id="rfc1918-192"),
    pytest.param("http://[fd00::1]/hook", id="ula"),
    pytest.param("http://169.254.169.254/latest/meta-data/", id="metadata-link-local"),
    pytest.param("http://[fe80::1%25eth0]/hook", id="link-local-v6"),
    pytest.param("http://100.100.100.200/latest/meta-data/", id="cgnat-alibaba-metadata"),
    pytest.param("http://0.0.0.0:8000/hook", id="unspecified"),
    pytest.param("http://[::]/hook", id="unspecified-v6"),
    pytest.param("http://224.0.0.1/hook", id="multicast"),
    pytest.param("http://[ff02::1]/hook", id="multicast-v6"),
    pytest.param("http://255.255.255.255/hook", id="broadcast"),
    pytest.param("http://240.0.0.1/hook", id="reserved"),
    pytest.param("http://192.0.2.10/hook", id="documentation"),
    pytest.param("http://[::ffff:127.0.0.1]/hook", id="ipv4-mapped"),
    pytest.param("http://[::ffff:a9fe:a9fe]/hook", id="ipv4-mapped-hex"),
    pytest.param("http://[::127.0.0.1]/hook", id="ipv4-compatible"),
    pytest.param("http://[64:ff9b::a9fe:a9fe]/hook", id="nat64-metadata"),
    pytest.param("http://[2002:a00:1::1]/hook", id="6to4-private"),
    pytest.param("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook", id="teredo"),
    pytest.param("http://2130706433/hook", id="decimal"),
    pytest.param("http://0x7f.1/hook", id="hex"),
    pytest.param("http://017700000001/hook", id="octal"),
    pytest.param("http://127.1/hook", id="short-dotted"),
]


@pytest.fixture(scope="module", name="api")
def api_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One server with the default (safe) settings for the registration refusals."""
    path = tmp_path_factory.mktemp("hostile-webhooks") / "timeline.db"
    with serve(Settings(database_url=f"sqlite:///{path}")) as api:
        yield api


@contextmanager
def served(monkeypatch: pytest.MonkeyPatch, database_url: str, **env: str) -> Iterator[ApiServer]:
    """The real server whose worker reads `env` (fast retries by default)."""
    for name, value in {**FAST_RETRIES, **env}.items():
        monkeypatch.setenv(name, value)
    with serve(Settings(database_url=database_url)) as api:
        yield api


def deliveries(
    api: ApiServer,
    endpoint_id: str,
    until: Callable[[list[webhooks.Delivery]], bool],
    guard: float = 60,
) -> list[webhooks.Delivery]:
    """The endpoint's delivery log, oldest first, once `until` holds (the guard stops a hang)."""
    deadline = time.monotonic() + guard
    while True:
        found = webhooks.list_deliveries(api.services.timeline.engine, endpoint_id, limit=500)
        found.reverse()
        if until(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("url", INTERNAL)
def test_an_internal_webhook_url_is_refused_over_graphql_naming_url(
    api: ApiServer, url: str
) -> None:
    head = api.services.timeline.head_position()
    result = post_raw(api, ADD, {"i": {"url": url}})
    listed = post_raw(api, "{ webhooks { url } }", {})

    error = result["errors"][0]
    assert error["extensions"]["code"] == "BAD_INPUT", error
    assert error["extensions"]["field"] == "input.url", error
    assert error["message"].startswith("input.url: "), error
    assert listed["data"]["webhooks"] == []
    assert api.services.timeline.head_position() == head


@pytest.fixture(scope="module", name="cli_database")
def cli_database_fixture(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('hostile-webhooks-cli') / 'timeline.db'}"


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `timeline webhook ...` with the default policy (no allow-list)."""
    env = {**os.environ, "TIMELINE_DATABASE_URL": database_url}
    env.pop("TIMELINE_WEBHOOK_ALLOWED_HOSTS", None)
    return subprocess.run(
        [TIMELINE, "webhook", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("url", INTERNAL)
def test_an_internal_webhook_url_is_refused_by_the_cli_naming_url(
    cli_database: str, url: str
) -> None:
    added = cli(cli_database, "add", url)

    assert added.returncode == 2, added
    assert added.stderr.startswith("error: url: "), added.stderr
    assert "secret" not in added.stdout
    assert stored_urls(cli_database) == []


def stored_urls(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        return [endpoint.url for endpoint in webhooks.list_endpoints(engine)]
    finally:
        engine.dispose()


def test_a_name_that_resolves_to_an_internal_address_is_refused_at_registration(
    api: ApiServer,
) -> None:
    name = socket.gethostname()  # this machine's own name: loopback or its LAN address
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve here")
    if all(EgressPolicy().refusal(ipaddress.ip_address(a)) is None for a in addresses):
        pytest.skip(f"{name!r} resolves to a public address here")
    result = post_raw(api, ADD, {"i": {"url": f"http://{name}:8000/hook"}})
    error = result["errors"][0]
    assert error["extensions"]["field"] == "input.url"
    assert "resolves to" in error["message"]
    assert not any(address in error["message"] for address in addresses)  # no address mapped


def test_a_public_name_that_does_not_resolve_yet_is_accepted(api: ApiServer) -> None:
    result = post_raw(api, ADD, {"i": {"url": "https://hooks.example.com/timeline"}})
    assert result["data"]["addWebhook"]["endpoint"]["url"] == "https://hooks.example.com/timeline"


def test_a_name_resolving_to_loopback_at_delivery_is_refused_after_dns(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    writer = Writer(sqlite_url)  # positions 1, 2
    with Receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        # registered while the policy allowed the name; the server runs with the default one
        loose = EgressPolicy(hosts=frozenset({"localhost"}))
        endpoint = webhooks.add_endpoint(writer.timeline, url, after=0, policy=loose)
        with served(monkeypatch, sqlite_url) as api:
            log = deliveries(api, endpoint.id, lambda found: len(found) >= 3)
        writer.close()
        assert receiver.attempts == {}  # nothing reached the receiver
    assert [d.attempt for d in log[:3]] == [1, 2, 3]  # retried with backoff, same event
    assert all(d.position == 1 and not d.succeeded for d in log)
    assert {d.error for d in log} == {"refused by egress policy"}
    assert {d.status_code for d in log} == {None}


def test_allowed_hosts_let_a_local_receiver_get_its_deliveries(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    writer = Writer(sqlite_url)
    with Receiver() as receiver, served(monkeypatch, sqlite_url, **LOCAL_RECEIVERS) as api:
        added = post_raw(api, ADD, {"i": {"url": receiver.url, "after": "0"}})
        writer.statements(2)
        accepted = receiver.wait_for(4)
    writer.close()
    assert added["data"]["addWebhook"]["endpoint"]["url"] == receiver.url
    assert accepted == [
        "actor:meta@1",
        "actor:roskomnadzor@1",
        "statement:meta/statement-1@1",
        "statement:meta/statement-2@1",
    ]


#: URLs that older rows may hold (stored before the checks existed) and the reason logged.
STORED_BAD = {
    "http://example.com/hook\r\nX-Injected: 1": "invalid URL",
    "http://[::1": "invalid URL",
    "http://user:secret@example.com/hook": "invalid URL",
    "http://169.254.169.254/latest/meta-data/": "refused by egress policy",
    "http://0x7f.1/hook": "refused by egress policy",
}


def store_old_endpoint(api: ApiServer, url: str) -> str:
    """Insert an endpoint row as one written before the URL rules would be."""
    endpoint_id = str(uuid.uuid4())
    webhooks.create_tables(api.services.timeline.engine)
    with api.services.timeline.engine.begin() as connection:
        connection.execute(
            insert(webhooks.endpoints).values(
                id=endpoint_id,
                url=url,
                secret="whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
                filter=json.dumps(EventFilter().to_dict()),
                cursor=0,
                created_at=time.time(),
            )
        )
    return endpoint_id


def test_a_stored_bad_url_is_logged_and_retried_while_other_endpoints_are_delivered(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    writer = Writer(sqlite_url)
    caplog.set_level(logging.WARNING, logger="timeline.webhooks")
    with Receiver() as receiver, served(monkeypatch, sqlite_url, **LOCAL_RECEIVERS) as api:
        bad = {store_old_endpoint(api, url): reason for url, reason in STORED_BAD.items()}
        webhooks.add_endpoint(api.services.timeline, receiver.url, after=0, policy=LOCAL_POLICY)
        written = writer.statements(3)
        accepted = receiver.wait_for(5)
        logs = {
            endpoint_id: deliveries(api, endpoint_id, lambda found: len(found) >= 3)
            for endpoint_id in bad
        }
    writer.close()

    assert len(accepted) == 5 and accepted[-1] == "statement:meta/statement-3@1"
    assert len(written) == 3
    for endpoint_id, reason in bad.items():
        log = logs[endpoint_id]
        assert [d.attempt for d in log[:3]] == [1, 2, 3], log  # backoff, not a crash-restart
        assert {(d.position, d.succeeded, d.error) for d in log} == {(1, False, reason)}
    assert "worker failed" not in caplog.text  # no task crashed and restarted


class RawReceiver:
    """A TCP server on 127.0.0.1 that reads one HTTP request per connection and answers with
    `answer(connection)`; it records, per connection, what `answer` returned."""

    def __init__(self, answer: Callable[[socket.socket], Any]) -> None:
        self.results: list[Any] = []
        receiver = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                read_request(self.request)
                result = answer(self.request)
                receiver.results.append(result)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, count: int, guard: float = 60) -> list[Any]:
        """The results once `count` connections ended (the guard only stops a hang)."""
        deadline = time.monotonic() + guard
        while len(self.results) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.results)

    def __enter__(self) -> RawReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def read_request(connection: socket.socket) -> bytes:
    """The request's head and its Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65_536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65_536)
    return head + body


def deliver_to(
    receiver: RawReceiver,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
    until: Callable[[list[webhooks.Delivery]], bool],
    results: int,
    events: int,
    **env: str,
) -> tuple[list[int], list[webhooks.Delivery], list[Any]]:
    """Record `events` statements for an endpoint at `receiver`, run the real server until
    the delivery log satisfies `until` and `results` connections ended: the positions
    written, the log and the receiver's results."""
    writer = Writer(sqlite_url)
    with receiver, served(monkeypatch, sqlite_url, **LOCAL_RECEIVERS, **env) as api:
        endpoint = webhooks.add_endpoint(writer.timeline, receiver.url, policy=LOCAL_POLICY)
        written = writer.statements(events)
        log = deliveries(api, endpoint.id, until)
        ended = receiver.wait_for(results)
    writer.close()
    return written, log, ended


HUNDREDS_OF_MB = 300 * 2**20


def endless_answer(connection: socket.socket) -> int:
    """200 and a 300 MiB body, sent until the client hangs up; returns the bytes sent."""
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        + f"Content-Length: {HUNDREDS_OF_MB}\r\n\r\n".encode()
    )
    sent, chunk = 0, b"\0" * 65_536
    try:
        while sent < HUNDREDS_OF_MB:
            connection.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    return sent


def test_an_endless_answer_is_cut_at_64_kib_and_the_delivery_goes_on(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    written, log, sent = deliver_to(
        RawReceiver(endless_answer),
        monkeypatch,
        sqlite_url,
        lambda found: sum(d.succeeded for d in found) >= 3,
        results=3,
        events=3,
    )

    assert [(d.position, d.status_code, d.succeeded) for d in log] == [
        (position, 200, True) for position in written
    ]
    assert len(sent) == 3
    assert all(count < HUNDREDS_OF_MB for count in sent), sent  # the client hung up early


STATUS_LINE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def dripping_answer(connection: socket.socket) -> bool:
    """The status line one byte every 0.5 s (~20 s in all); True if the client hung up first."""
    try:
        for byte in STATUS_LINE:
            connection.sendall(bytes([byte]))
            time.sleep(0.5)
    except OSError:
        return True
    return False


def test_a_dripping_receiver_is_cut_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    _, log, hung_up = deliver_to(
        RawReceiver(dripping_answer),
        monkeypatch,
        sqlite_url,
        lambda found: len(found) >= 2,
        results=1,
        events=1,
        TIMELINE_WEBHOOK_TIMEOUT="10",  # each byte comes well within the per-read timeout
        TIMELINE_WEBHOOK_DEADLINE="2",
    )

    assert hung_up[0] is True  # cut mid status line, long before the receiver was done
    assert [d.attempt for d in log[:2]] == [1, 2]
    assert {(d.status_code, d.succeeded, d.error) for d in log} == {(None, False, "timed out")}


def test_the_delivery_log_names_no_internal_address_or_port(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    writer = Writer(sqlite_url)
    port = free_port()  # nothing listens there
    with served(monkeypatch, sqlite_url, **LOCAL_RECEIVERS) as api:
        endpoint = webhooks.add_endpoint(
            writer.timeline, f"http://127.0.0.1:{port}/hook", after=0, policy=LOCAL_POLICY
        )
        log = deliveries(api, endpoint.id, lambda found: len(found) >= 2)
    writer.close()

    assert {d.error for d in log} == {"connection refused"}
    assert not any(str(port) in (d.error or "") or "127.0.0.1" in (d.error or "") for d in log)


class TlsReceiver:
    """An HTTPS receiver on 127.0.0.1 with a certificate for `name` from `ca`; it records the
    SNI name and the Host header of every request it answers (204)."""

    def __init__(self, ca: trustme.CA, name: str) -> None:
        self.server_names: list[str | None] = []
        self.hosts: list[str | None] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(name).configure_cert(context)
        context.sni_callback = lambda _sock, sni, _ctx: self.server_names.append(sni)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.hosts.append(self.headers.get("host"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.server.server_address[1]}/hook"

    def __enter__(self) -> TlsReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_https_to_the_vetted_address_keeps_the_hostname_for_host_sni_and_certificate(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    writer = Writer(sqlite_url)  # positions 1, 2
    by_name = EgressPolicy(hosts=frozenset({"localhost"}))
    with TlsReceiver(ca, "localhost") as right, TlsReceiver(ca, "elsewhere.example") as wrong:
        delivered = webhooks.add_endpoint(writer.timeline, right.url, after=0, policy=by_name)
        mismatched = webhooks.add_endpoint(writer.timeline, wrong.url, after=0, policy=by_name)
        with served(
            monkeypatch,
            sqlite_url,
            TIMELINE_WEBHOOK_ALLOWED_HOSTS="localhost",
            SSL_CERT_FILE=str(ca_file),  # the worker trusts the test CA, and only for names
        ) as api:
            log = deliveries(api, delivered.id, lambda found: sum(d.succeeded for d in found) >= 2)
            refused = deliveries(api, mismatched.id, lambda found: len(found) >= 2)
    writer.close()

    assert [(d.position, d.succeeded) for d in log] == [(1, True), (2, True)]
    assert right.hosts == [f"localhost:{right.server.server_address[1]}"] * 2
    assert set(right.server_names) == {"localhost"}  # SNI: the name, not the address
    assert wrong.hosts == []
    assert {(d.succeeded, d.error) for d in refused} == {(False, "TLS handshake failed")}
