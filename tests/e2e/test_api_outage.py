"""REST during a database outage: /events, /events/stream and /readyz answer 503 with a JSON
error coded UNAVAILABLE (retry), never a bare 500; a missing table is a bug, not an outage.

The outage is real: the server reaches PostgreSQL through a TCP relay that the test cuts
(every open connection dropped, new ones refused), so the shared cluster is never touched.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import httpx
import pytest
from conftest import POSTGRES_DSN
from sqlalchemy import text
from test_api_server import ApiServer, serve

from timeline.settings import Settings

pytestmark = pytest.mark.e2e

ENDPOINTS = ["/events", "/events/stream", "/readyz"]


class Relay:
    """Forwards 127.0.0.1:<port> to PostgreSQL until `cut()` drops every connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.is_cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.is_cut:
                    client.close()
                    return
                upstream = socket.create_connection(self.target)
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        with self.lock:
            self.is_cut = True
        with suppress(OSError):  # wakes the blocked accept() (close alone would not)
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


@pytest.fixture
def relayed(postgres_url: str) -> Iterator[tuple[ApiServer, Relay]]:
    host, port = POSTGRES_DSN.split("@", 1)[1].split("/", 1)[0].split(":")
    relay = Relay((host, int(port)))
    url = postgres_url.replace(f"@{host}:{port}/", f"@127.0.0.1:{relay.port}/", 1)
    with serve(Settings(database_url=url)) as api:
        yield api, relay
    relay.cut()


def get(api: ApiServer, path: str) -> httpx.Response:
    return httpx.get(api.url + path, timeout=60)


@pytest.mark.postgres
def test_rest_endpoints_answer_503_unavailable_during_a_database_outage(
    relayed: tuple[ApiServer, Relay],
) -> None:
    api, relay = relayed
    assert [get(api, p).status_code for p in ("/events", "/readyz")] == [200, 200]
    relay.cut()
    for path in ENDPOINTS:
        response = get(api, path)
        assert response.status_code == 503, (path, response.text)
        body: dict[str, Any] = response.json()
        assert body["error"]["code"] == "UNAVAILABLE", (path, body)
        assert "retry" in body["error"]["message"]
        assert response.headers["retry-after"] == "1"
    graphql = httpx.post(api.url + "/graphql", json={"query": "{ events { nodes { id } } }"})
    assert graphql.status_code == 200
    assert [e["extensions"]["code"] for e in graphql.json()["errors"]] == ["UNAVAILABLE"]


def test_a_missing_table_is_an_internal_error_not_an_outage(database_url: str) -> None:
    with serve(Settings(database_url=database_url)) as api:
        table = api.services.timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        with api.services.timeline.engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {table.name}"))
        for path in ("/events", "/readyz"):
            response = get(api, path)
            assert response.status_code == 500, (path, response.text)
            errors = response.json()["errors"]
            assert errors[0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
            assert table.name not in response.text and "Traceback" not in response.text
