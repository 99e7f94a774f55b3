"""What a newcomer meets: the README's first command, on a fresh virtual environment.

The command is read from the README (its first line of code), run as written with a port
added, in a new TIMELINE_VENV, so pip really installs the project from this checkout. Then
the questions of the README are asked over HTTP.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.ports import free_port
from support.servers import ServerProcess

from timeline.demo import ALLOWANCE_CLAUSE, DEMO_COMMANDS, POLICY

ROOT = Path(__file__).resolve().parents[2]
INSTALL_LIMIT = 900.0  # seconds a first pip install may take on a slow, shared machine


def readme_commands() -> list[list[str]]:
    """The commands of the README's first code block, comments dropped."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```[a-z]*\n(.*?)```", text, re.S)
    assert block, "the README starts with a code block of commands"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [shlex.split(line) for line in lines if line]


def allowance_texts() -> tuple[str, str]:
    """The allowance's text as added on 10 March and as narrowed on 13 March (demo commands)."""
    policy = [d for name, d in DEMO_COMMANDS if name == "revisePolicy" and d["id"] == POLICY]
    added = next(
        c["text"] for d in policy for c in d.get("addClauses", []) if c["id"] == ALLOWANCE_CLAUSE
    )
    narrowed = next(
        c["text"] for d in policy for c in d.get("amendClauses", []) if c["id"] == ALLOWANCE_CLAUSE
    )
    return added, narrowed


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[dict[str, str], list[ServerProcess]]]:
    """An environment with a new virtual-environment path and a new SQLite file."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TIMELINE_", "VIRTUAL_ENV", "PYTHON"))
    }
    env["TIMELINE_VENV"] = str(tmp_path / "venv")
    env["TIMELINE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'timeline.db'}"
    services: list[ServerProcess] = []
    yield env, services
    for service in services:
        service.stop()


def policy_on(base: str, day: str) -> list[dict[str, Any]]:
    query = """query($id: ID!, $date: Date!) {
      policyOn(id: $id, date: $date, timeZone: "Europe/Moscow") {
        validFrom validTo clauses { id text scope }
      }
    }"""
    response = httpx.post(
        f"{base}/graphql",
        timeout=30,
        json={"query": query, "variables": {"id": POLICY, "date": day}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return list(body["data"]["policyOn"])


def allowance(version: dict[str, Any]) -> str | None:
    return next((c["text"] for c in version["clauses"] if c["id"] == ALLOWANCE_CLAUSE), None)


@pytest.mark.e2e
@pytest.mark.slow
def test_the_readme_first_command_serves_the_demo_from_a_fresh_virtual_environment(
    fresh: tuple[dict[str, str], list[ServerProcess]], tmp_path: Path
) -> None:
    env, services = fresh
    run, test = readme_commands()[:2]
    assert run[1:] == ["dev.py", "run"] and test[1:] == ["dev.py", "test"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    def service(log: str) -> ServerProcess:
        """The README's command as a process of its own, stopped by its process group."""
        started = ServerProcess(
            lambda port: [*run, "--port", str(port)],
            env=env,
            log_path=tmp_path / log,
            cwd=ROOT,
            port=port,
        )
        services.append(started)
        return started

    first = service("first.log").start(INSTALL_LIMIT, poll=1)
    added, narrowed = allowance_texts()

    # "What did the Hate Speech guidance say on 11 March 2022?" The allowance, all day.
    on_11 = policy_on(base, "2022-03-11")
    assert [allowance(v) for v in on_11] == [added]
    # ...and on 14 March: the narrowed text, to Ukraine only.
    on_14 = policy_on(base, "2022-03-14")
    assert [allowance(v) for v in on_14] == [narrowed]
    assert [c["scope"] for c in on_14[0]["clauses"] if c["id"] == ALLOWANCE_CLAUSE] == [["UA"]]

    output = first.output()
    assert (tmp_path / "venv" / "bin" / "timeline").exists()
    assert re.search(r"demo data set: [1-9]\d* events added", output), output
    assert f"GraphiQL at http://127.0.0.1:{port}/graphql" in output  # dev.py run: development
    first.stop()

    # Run again: installed already (nothing reinstalled) and the demo adds nothing.
    second = service("second.log").start(120, poll=1)
    assert "installing" not in second.output()
    assert "demo data set: 0 events added" in second.output()
    assert [allowance(v) for v in policy_on(base, "2022-03-11")] == [added]
