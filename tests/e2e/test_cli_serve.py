"""`timeline serve`, `token create` and `project` through the real console script.

The server is started as a subprocess on a free port and asked over HTTP (httpx); the CLI
commands beside it run against the same database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.ports import free_port
from support.servers import ServerProcess

from timeline.demo import INSTAGRAM_RESTRICTION, POLICY

TIMELINE = str(Path(sys.executable).with_name("timeline"))


def environment(database_url: str) -> dict[str, str]:
    env = {**os.environ, "TIMELINE_DATABASE_URL": database_url, "COLUMNS": "140"}
    env.pop("TIMELINE_DEBUG", None)
    return env


def run_cli(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TIMELINE, *args],
        cwd=cwd,
        env=environment(database_url),
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


class Server(ServerProcess):
    """`timeline serve ARGS` on a free port, started and healthy."""

    def __init__(self, database_url: str, cwd: Path, *args: str) -> None:
        port = free_port()
        super().__init__(
            lambda port: [TIMELINE, "serve", "--port", str(port), *args],
            env=environment(database_url),
            log_path=cwd / f"serve-{port}.log",
            cwd=cwd,
            port=port,
        )
        self.base = self.url
        self.start(poll=0.2)

    def graphql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(
            f"{self.base}/graphql",
            headers=headers,
            timeout=30,
            json={"query": query, "variables": variables or {}},
        )
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


STATUS = "query($id: ID!, $at: DateTime) { regulatoryAction(id: $id, validAt: $at) { status } }"


def status_at(server: Server, valid_at: str) -> str | None:
    """The action's status once the in-process projector has caught up (None before)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = server.graphql(STATUS, {"id": INSTAGRAM_RESTRICTION, "at": valid_at})
        action = body["data"]["regulatoryAction"]
        if action is not None:
            return str(action["status"])
        time.sleep(0.2)
    return None


@pytest.mark.e2e
def test_serve_demo_answers_over_http_and_a_second_start_adds_nothing(
    database_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    first = Server(database_url, tmp_path, "--demo")
    servers.append(first)

    assert status_at(first, "2022-03-12T12:00:00+03:00") == "ANNOUNCED"
    assert status_at(first, "2022-03-14T00:00:00+03:00") == "IN_EFFECT"
    added = re.search(r"demo data set: (\d+) events added", first.output())
    assert added and int(added.group(1)) > 0
    first.stop()

    second = Server(database_url, tmp_path, "--demo")
    servers.append(second)
    assert "demo data set: 0 events added" in second.output()
    assert status_at(second, "2022-03-14T00:00:00+03:00") == "IN_EFFECT"


@pytest.mark.e2e
def test_a_token_from_the_cli_writes_through_the_api_and_the_cli_reads_it_back(
    sqlite_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    created = run_cli(sqlite_url, tmp_path, "token", "create", "--scope", "write")
    assert created.returncode == 0, created.stderr
    token = created.stdout.splitlines()[0].strip()
    server = Server(sqlite_url, tmp_path, "--demo")
    servers.append(server)

    withdraw = (
        "mutation($input: WithdrawPolicyInput!) "
        "{ withdrawPolicy(input: $input) { id position eventType } }"
    )
    variables = {"input": {"id": POLICY, "effectiveAt": "2022-04-01T00:00:00Z"}}
    refused = server.graphql(withdraw, variables)
    written = server.graphql(withdraw, variables, token=token)

    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert written["data"]["withdrawPolicy"]["eventType"] == "PolicyWithdrawn"
    # The CLI, beside the running server (which holds the projector), sees the write.
    after = run_cli(
        sqlite_url, tmp_path, "at", POLICY, "--valid-at", "2022-04-02T00:00:00Z", "--json"
    )
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["status"] == "WITHDRAWN"
    server.stop()

    # With the server gone, the worker catches up by itself to the head of the log.
    projected = run_cli(sqlite_url, tmp_path, "project", "--once")
    assert projected.returncode == 0, projected.stderr
    positions = re.search(r"read models at position (\d+) \(log head (\d+)\)", projected.stderr)
    assert positions and positions.group(1) == positions.group(2)
    assert int(positions.group(2)) == written["data"]["withdrawPolicy"]["position"]


@pytest.mark.e2e
def test_a_second_serve_on_a_port_in_use_says_so_and_exits_7(
    sqlite_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    servers.append(Server(sqlite_url, tmp_path))
    second = run_cli(sqlite_url, tmp_path, "serve", "--port", str(servers[0].port))
    assert second.returncode == 7, second.stderr
    assert "already in use" in second.stderr and "--port" in second.stderr
    assert "serving on" not in second.stderr  # nothing claimed to be served
    assert httpx.get(f"{servers[0].base}/healthz", timeout=10).status_code == 200


@pytest.mark.e2e
def test_serve_names_an_unknown_timeline_variable_at_start(
    sqlite_url: str, tmp_path: Path, servers: list[Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIMELINE_READ_REQUIRES_TOKENS", "true")  # a typo: ...REQUIRES_TOKEN
    server = Server(sqlite_url, tmp_path)
    servers.append(server)
    assert (
        "warning: TIMELINE_READ_REQUIRES_TOKENS is not a setting of this service and is "
        "ignored; did you mean TIMELINE_READ_REQUIRES_TOKEN?"
    ) in " ".join(server.output().split())
