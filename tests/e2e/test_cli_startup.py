"""What a `timeline` command loads: the CLI starts without the event store or the API.

The point-in-time commands answer from read models that already hold the log with a plain
SQLAlchemy engine; only when the read models are behind is the eventsourcing application
built to apply what is missing. These tests check the modules a real process loaded (its
`sys.modules`), not how long it took: the timing is bench figure 11.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from entrypoints.cli import console
from projections import runner
from tests.e2e.test_cli_query import run_cli
from timeline.demo import POLICY

pytestmark = pytest.mark.e2e

#: Packages no point-in-time answer from current read models needs.
WRITE_SIDE_AND_API = ("eventsourcing", "strawberry", "fastapi", "uvicorn", "httpx", "graphql")

#: Runs one CLI command in this interpreter, then prints the loaded packages to stderr.
RUN_AND_LIST = """
import json, sys
from entrypoints.cli import main
sys.argv = ["timeline", *json.loads(sys.argv[1])]
try:
    main()
finally:
    sys.stderr.write("\\n" + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def loaded_by(database_url: str, cwd: Path, *args: str) -> tuple[Any, set[str]]:
    """The JSON answer of `timeline ARGS --json` and the top-level packages it loaded."""
    program = (sys.executable, "-c", RUN_AND_LIST)
    result = run_cli(database_url, cwd, json.dumps([*args, "--json"]), program=program)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), set(json.loads(result.stderr.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_database_library_nor_the_api() -> None:
    code = "import json, sys, entrypoints.cli; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    packages = {name.split(".")[0] for name in json.loads(result.stdout)}

    assert packages.isdisjoint({*WRITE_SIDE_AND_API, "sqlalchemy", "pydantic", "rich"})


def test_an_answer_from_current_read_models_builds_no_event_store(
    database_url: str, tmp_path: Path
) -> None:
    assert run_cli(database_url, tmp_path, "import", "--demo").returncode == 0
    assert run_cli(database_url, tmp_path, "project", "--once").returncode == 0

    version, packages = loaded_by(
        database_url, tmp_path, "at", POLICY, "--valid-at", "2022-03-11T12:00:00Z"
    )

    assert version["id"] == POLICY
    assert packages.isdisjoint(WRITE_SIDE_AND_API)


def test_an_answer_includes_what_the_read_models_had_not_applied_yet(
    database_url: str, tmp_path: Path
) -> None:
    assert run_cli(database_url, tmp_path, "import", "--demo").returncode == 0
    # No projector runs: each answer below first applies what the read models are missing.
    assert loaded_by(database_url, tmp_path, "history", POLICY)[0]
    revision = {
        "command": "revisePolicy",
        "input": {
            "id": POLICY,
            "effectiveAt": "2022-04-01T00:00:00Z",
            "title": "Hate Speech (April)",
            "sources": [{"url": "https://example.org/april"}],
        },
    }
    (tmp_path / "april.ndjson").write_text(json.dumps(revision) + "\n")
    imported = run_cli(database_url, tmp_path, "import", "april.ndjson")
    assert imported.returncode == 0, imported.stderr

    later, _ = loaded_by(database_url, tmp_path, "at", POLICY, "--valid-at", "2022-04-02T00:00:00Z")

    assert later["title"] == "Hate Speech (April)"


def test_the_cli_reads_the_projection_the_runner_writes() -> None:
    assert console.PROJECTION == runner.NAME
