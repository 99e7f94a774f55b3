"""The README's tour works as written: every GraphQL query and every CLI call in it.

The queries are sent to `timeline serve --demo`; the `timeline` calls run against the same
database (the README runs them from `.venv/bin`, here from this interpreter's bin).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.servers import ServerProcess, running

ROOT = Path(__file__).resolve().parents[2]
TIMELINE = str(Path(sys.executable).with_name("timeline"))
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def cli_calls() -> list[list[str]]:
    """The README's `.venv/bin/timeline ...` lines (output redirections dropped)."""
    calls = []
    for block in blocks("sh"):
        for line in block.splitlines():
            line = line.split("#", 1)[0].split(">", 1)[0].strip()
            if line.startswith(".venv/bin/timeline "):
                calls.append(shlex.split(line)[1:])
    return calls


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """`timeline serve --demo` on a fresh SQLite file; its base URL and environment."""
    directory = tmp_path_factory.mktemp("readme")
    env = {**os.environ, "TIMELINE_DATABASE_URL": f"sqlite:///{directory / 'timeline.db'}"}
    env.pop("TIMELINE_DEBUG", None)
    server = ServerProcess(
        lambda port: [TIMELINE, "serve", "--demo", "--port", str(port)],
        env=env,
        log_path=directory / "serve.log",
        cwd=directory,
    )
    with running(server):
        yield server.url, env


def test_the_readme_shows_graphql_queries_and_cli_calls() -> None:
    assert len(blocks("graphql")) >= 3
    assert {call[0] for call in cli_calls()} >= {"at", "on", "diff", "status", "history", "export"}


@pytest.mark.e2e
@pytest.mark.parametrize("index", range(len(blocks("graphql"))))
def test_each_graphql_query_of_the_readme_answers_without_errors(
    served: tuple[str, dict[str, str]], index: int
) -> None:
    base, _ = served
    query = blocks("graphql")[index]
    deadline = time.monotonic() + 30
    while True:  # the in-process projector may still be catching up on the demo
        body = httpx.post(f"{base}/graphql", json={"query": query}, timeout=30).json()
        assert "errors" not in body, body
        if all(value not in (None, []) for value in body["data"].values()):
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


@pytest.mark.e2e
@pytest.mark.parametrize("args", cli_calls(), ids=lambda args: " ".join(args[:2]))
def test_each_cli_call_of_the_readme_succeeds(
    served: tuple[str, dict[str, str]], args: list[str], tmp_path: Path
) -> None:
    _, env = served
    result = subprocess.run(
        [TIMELINE, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
