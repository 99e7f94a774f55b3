"""docker-compose.yml, checked without Docker: read it, then run every command it names.

Docker is not available where the tests run, so the file is correct by reading (the first
test) and by running each service's command and health check on this machine against the
local PostgreSQL in a fresh schema (the second): the only substitutions are the database URL
(the compose host `db` becomes that schema), the port, and the executables' paths.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.ports import free_port

from timeline.demo import ALLOWANCE_CLAUSE, DEMO_COMMANDS, POLICY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE_PORT = "8000"


def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


def local(argv: list[str], port: int) -> list[str]:
    """A compose command as it runs here: executables from this venv, our port."""
    executables = {"timeline": str(BIN / "timeline"), "python": sys.executable}
    argv = [executables.get(argv[0], argv[0]), *argv[1:]]
    return [part.replace(COMPOSE_PORT, str(port)) for part in argv]


def healthcheck_argv(test: list[str], port: int) -> list[str]:
    """Compose health check `test` (CMD or CMD-SHELL form) as an argv to run here."""
    kind, *rest = test
    if kind == "CMD-SHELL":
        return ["sh", "-c", rest[0]]
    assert kind == "CMD"
    return local(rest, port)


def wait_until_healthy(
    argv: list[str], process: subprocess.Popen[str], env: dict[str, str], limit: float = 120.0
) -> None:
    """Run the health check until it passes (as compose would); fail if the service died."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, f"service exited with {process.returncode}"
        if (
            subprocess.run(argv, env=env, capture_output=True, check=False, timeout=30).returncode
            == 0
        ):
            return
        time.sleep(0.5)
    pytest.fail(f"health check {argv} did not pass within {limit}s")


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test, stopped (by their own ids) afterwards."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_compose_runs_postgresql_15_with_a_volume_the_api_and_a_separate_worker() -> None:
    document = compose()
    services = document["services"]
    db, api, worker = services["db"], services["api"], services["worker"]

    assert db["image"].startswith("postgres:15")
    volume = db["volumes"][0].split(":")
    assert volume[1] == "/var/lib/postgresql/data" and volume[0] in document["volumes"]
    assert db["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}

    url = api["environment"]["TIMELINE_DATABASE_URL"]
    assert url == worker["environment"]["TIMELINE_DATABASE_URL"]
    env = db["environment"]
    assert url == (
        f"postgresql+psycopg://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}"
        f"@db:5432/{env['POSTGRES_DB']}"
    )
    assert api["command"][:2] == ["timeline", "serve"] and "0.0.0.0" in api["command"]
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert worker["command"][:2] == ["timeline", "project"]
    # The worker starts once the API has created the tables; the API leaves projecting to it.
    assert worker["depends_on"]["api"]["condition"] == "service_healthy"
    assert "--no-projector" in api["command"]
    assert any(port.endswith(f":{COMPOSE_PORT}") for port in api["ports"])
    assert (ROOT / api["build"] / "Dockerfile").exists()


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.slow
def test_every_compose_command_runs_here_against_postgresql(
    postgres_url: str, tmp_path: Path, started: list[subprocess.Popen[str]]
) -> None:
    services = compose()["services"]
    port = free_port()
    env = {
        **os.environ,
        **services["api"]["environment"],
        "PGHOST": "127.0.0.1",
        "PGUSER": "postgres",
        "TIMELINE_DATABASE_URL": postgres_url,
    }
    env.pop("TIMELINE_DEBUG", None)

    # db: its health check, against the local server.
    if shutil.which("pg_isready"):
        check = healthcheck_argv(services["db"]["healthcheck"]["test"], port)
        assert subprocess.run(check, env=env, capture_output=True, check=False).returncode == 0

    # api: its command, then its health check until it passes.
    api = subprocess.Popen(
        local(services["api"]["command"], port),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started.append(api)
    wait_until_healthy(healthcheck_argv(services["api"]["healthcheck"]["test"], port), api, env)

    # worker: its command; then the demo, loaded as the compose file's header says.
    worker = subprocess.Popen(
        local(services["worker"]["command"], port),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started.append(worker)
    loaded = subprocess.run(
        local(["timeline", "import", "--demo"], port),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr

    # The API does not project (--no-projector): an answer shows the worker applied the log.
    narrowed = next(
        c["text"]
        for name, d in DEMO_COMMANDS
        if name == "revisePolicy"
        for c in d.get("amendClauses", [])
        if c["id"] == ALLOWANCE_CLAUSE
    )
    query = (
        "query($id: ID!, $at: DateTime) { policy(id: $id, validAt: $at) { clauses { id text } } }"
    )
    deadline = time.monotonic() + 60
    clauses: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not clauses:
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            timeout=10,
            json={"query": query, "variables": {"id": POLICY, "at": "2022-03-14T12:00:00+03:00"}},
        )
        policy = response.json()["data"]["policy"]
        clauses = policy["clauses"] if policy else []
        time.sleep(0.2 if not clauses else 0)
    assert {c["id"]: c["text"] for c in clauses}.get(ALLOWANCE_CLAUSE) == narrowed

    # Both stop cleanly on SIGTERM, as `docker compose stop` asks them to (uvicorn finishes
    # its shutdown, then re-raises the signal so that a supervisor sees why it stopped).
    for process in (worker, api):
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
        output = process.stdout.read() if process.stdout else ""
        assert code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
