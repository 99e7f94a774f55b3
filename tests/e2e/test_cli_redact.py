"""`timeline redact` and redaction in NDJSON import/export, through the real console script,
on SQLite and PostgreSQL: the import erases within its one transaction, the export carries
the tombstoned texts and the redaction event, `verify` reports it, and refusals store nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_cli_io import run_cli, write_ndjson

pytestmark = pytest.mark.e2e

T0 = "2022-03-01T00:00:00+00:00"
SLUG = "jane-roe/2022-03-11-post"
SECRET = "Jane Roe lives at 12 Elm Street"
STORY: list[dict[str, Any]] = [
    {
        "command": "registerActor",
        "input": {"id": "jane-roe", "name": "J. R.", "kind": "person", "effectiveAt": T0},
    },
    {
        "command": "recordStatement",
        "input": {
            "id": SLUG,
            "actor": "jane-roe",
            "text": SECRET,
            "effectiveAt": "2022-03-11T10:00:00+00:00",
            "sources": [{"url": "https://example.org/post", "quote": SECRET}],
        },
    },
]


def test_redact_on_the_command_line_then_verify_and_export(
    database_url: str, tmp_path: Path
) -> None:
    imported = run_cli(
        database_url, tmp_path, "import", str(write_ndjson(tmp_path / "s.ndjson", STORY))
    )
    assert imported.returncode == 0, imported.stderr
    refused = run_cli(database_url, tmp_path, "redact", f"statement:{SLUG}@5", "--reason", "x")
    assert refused.returncode == 1 and "event: " in refused.stderr
    missing = run_cli(database_url, tmp_path, "redact", f"statement:{SLUG}@1")
    assert missing.returncode == 2 and "--reason" in missing.stderr
    done = run_cli(
        database_url, tmp_path, "redact", f"statement:{SLUG}@1", "--reason", "court order", "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["event"], result["target"], result["fields"]) == (
        f"statement:{SLUG}@2",
        f"statement:{SLUG}@1",
        ["text", "sources[0].quote"],
    )
    verified = run_cli(database_url, tmp_path, "verify")
    assert verified.returncode == 0, verified.stderr
    assert f"redacted: position 2 by statement:{SLUG}@2" in verified.stdout
    exported = run_cli(database_url, tmp_path, "export")
    assert exported.returncode == 0, exported.stderr
    assert SECRET not in exported.stdout
    lines = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    events = [e for e in lines if "position" in e and "type" in e["data"]]
    assert [e["data"]["type"] for e in events] == [
        "ActorRegistered",
        "StatementRecorded",
        "EventRedacted",
    ]
    assert f"[redacted by statement:{SLUG}@2]" in json.dumps(events[1])


def test_an_import_may_redact_what_it_records(database_url: str, tmp_path: Path) -> None:
    lines = [
        *STORY,
        {"command": "redactEvent", "input": {"event": f"statement:{SLUG}@1", "reason": "order"}},
    ]
    imported = run_cli(
        database_url, tmp_path, "import", str(write_ndjson(tmp_path / "r.ndjson", lines))
    )
    assert imported.returncode == 0, imported.stderr
    verified = run_cli(database_url, tmp_path, "verify", "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["redactions"] == [
        {"position": 2, "redaction": f"statement:{SLUG}@2"}
    ]
    assert SECRET not in run_cli(database_url, tmp_path, "export").stdout


def test_an_import_with_a_bad_redaction_stores_nothing(database_url: str, tmp_path: Path) -> None:
    lines = [*STORY, {"command": "redactEvent", "input": {"event": f"statement:{SLUG}@1"}}]
    imported = run_cli(
        database_url, tmp_path, "import", str(write_ndjson(tmp_path / "b.ndjson", lines))
    )
    assert imported.returncode == 1
    assert "line 3" in imported.stderr and "reason" in imported.stderr
    exported = run_cli(database_url, tmp_path, "export")
    assert "StatementRecorded" not in exported.stdout and "ActorRegistered" not in exported.stdout


def test_an_export_after_a_redaction_restores_into_a_log_that_verifies_with_it(
    database_url: str, tmp_path: Path
) -> None:
    lines = [
        *STORY,
        {"command": "redactEvent", "input": {"event": f"statement:{SLUG}@1", "reason": "order"}},
    ]
    path = write_ndjson(tmp_path / "r.ndjson", lines)
    assert run_cli(database_url, tmp_path, "import", str(path)).returncode == 0
    exported = run_cli(database_url, tmp_path, "export", "-o", "backup.ndjson")
    assert exported.returncode == 0, exported.stderr
    assert SECRET not in (tmp_path / "backup.ndjson").read_text()
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    restored = run_cli(target, tmp_path, "restore", "backup.ndjson")
    assert restored.returncode == 0, restored.stderr
    verified = run_cli(target, tmp_path, "verify", "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["redactions"] == [
        {"position": 2, "redaction": f"statement:{SLUG}@2"}
    ]
