"""`timeline import` / `timeline export` through the real console script, on SQLite and PostgreSQL.

Each test runs the installed `timeline` entry point in a subprocess against a fresh database
and checks what was stored with the application itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from timeline.application import Timeline
from timeline.settings import Settings

TIMELINE = str(Path(sys.executable).with_name("timeline"))

#: A small story in the import format: two actors, a policy, a revision, an action citing it.
STORY: list[dict[str, Any]] = [
    {
        "command": "registerActor",
        "input": {
            "id": "meta",
            "name": "Meta Platforms, Inc.",
            "kind": "organisation",
            "effectiveAt": "2021-10-28T00:00:00-07:00",
            "idempotencyKey": "story:1",
        },
    },
    {
        "command": "registerActor",
        "input": {
            "id": "roskomnadzor",
            "name": "Roskomnadzor",
            "kind": "authority",
            "effectiveAt": "2021-01-01T00:00:00+03:00",
            "idempotencyKey": "story:2",
        },
    },
    {
        "command": "announcePolicy",
        "input": {
            "id": "meta/hate-speech",
            "title": "Hate Speech",
            "owner": "meta",
            "effectiveAt": "2022-03-10T00:00:00Z",
            "idempotencyKey": "story:3",
            "clauses": [
                {
                    "id": "allowance",
                    "text": "Violent speech against Russian soldiers is allowed for now.",
                    "scope": ["RU", "UA", "PL"],
                }
            ],
        },
    },
    {
        "command": "revisePolicy",
        "input": {
            "id": "meta/hate-speech",
            "effectiveAt": "2022-03-13T00:00:00Z",
            "idempotencyKey": "story:4",
            "amendClauses": [
                {
                    "id": "allowance",
                    "text": "Only in Ukraine, only about the invasion.",
                    "scope": ["UA"],
                }
            ],
        },
    },
    {
        "command": "announceRegulatoryAction",
        "input": {
            "id": "roskomnadzor/instagram-restriction",
            "authority": "roskomnadzor",
            "jurisdiction": "RU",
            "kind": "restriction",
            "targets": ["meta"],
            "announcedAt": "2022-03-11T20:00:00+03:00",
            "effectiveAt": "2022-03-14T00:00:00+03:00",
            "inResponseTo": ["policy:meta/hate-speech"],
            "idempotencyKey": "story:5",
        },
    },
]


def run_cli(
    database_url: str, cwd: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `timeline` console script against `database_url`."""
    env = {**os.environ, "TIMELINE_DATABASE_URL": database_url, "COLUMNS": "120"}
    env.pop("TIMELINE_DEBUG", None)
    return subprocess.run(
        [TIMELINE, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def write_ndjson(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


def stored_events(database_url: str) -> int:
    """How many events the log holds (positions may have gaps on PostgreSQL after a rollback)."""
    app = Timeline(Settings(database_url=database_url))
    try:
        return len(app.log(0, 100_000))
    finally:
        app.close()


def exported_events(text: str) -> list[dict[str, Any]]:
    """The event lines of an export (not its idempotency keys, nor its final head line)."""
    lines = [json.loads(line) for line in text.splitlines()]
    return [line for line in lines if "leafhash" in line]


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failing command printed on stderr (asserting there is exactly one)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.e2e
def test_import_stores_every_command_and_export_gives_them_back_as_cloudevents(
    database_url: str, tmp_path: Path
) -> None:
    story = write_ndjson(tmp_path / "story.ndjson", STORY)

    imported = run_cli(database_url, tmp_path, "import", str(story))
    assert imported.returncode == 0, imported.stderr
    assert "imported 5 commands" in imported.stderr
    assert "5 new events" in imported.stderr

    exported = run_cli(database_url, tmp_path, "export")
    assert exported.returncode == 0, exported.stderr
    events = exported_events(exported.stdout)
    head = json.loads(exported.stdout.splitlines()[-1])
    assert head["type"] == "org.policy-timeline.LogHead"
    assert head["data"]["treeSize"] == 5
    assert f"root {head['data']['rootHash']}" in exported.stderr
    assert [e["type"] for e in events] == [
        "org.policy-timeline.ActorRegistered",
        "org.policy-timeline.ActorRegistered",
        "org.policy-timeline.PolicyAnnounced",
        "org.policy-timeline.PolicyRevised",
        "org.policy-timeline.RegulatoryActionAnnounced",
    ]
    for event in events:
        assert event["specversion"] == "1.0"
        assert {"id", "source", "type", "time", "subject", "datacontenttype", "data"} <= set(event)
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    assert events[3]["id"] == "policy:meta/hate-speech@2"
    assert events[3]["subject"] == "policy:meta/hate-speech"
    assert events[3]["data"]["payload"]["amendClauses"][0]["scope"] == ["UA"]
    assert events[4]["data"]["effectiveAt"] == "2022-03-13T21:00:00+00:00"
    assert events[4]["data"]["announcedAt"] == "2022-03-11T17:00:00+00:00"


@pytest.mark.e2e
def test_export_after_a_position_resumes_exactly_where_the_last_export_stopped(
    sqlite_url: str, tmp_path: Path
) -> None:
    story = write_ndjson(tmp_path / "story.ndjson", STORY)
    assert run_cli(sqlite_url, tmp_path, "import", str(story)).returncode == 0

    first = run_cli(sqlite_url, tmp_path, "export", "--limit", "2")
    head = exported_events(first.stdout)
    rest = run_cli(sqlite_url, tmp_path, "export", "--after", str(head[-1]["position"]))
    tail = exported_events(rest.stdout)
    everything = run_cli(sqlite_url, tmp_path, "export", "--output", str(tmp_path / "all.ndjson"))

    assert everything.returncode == 0
    all_ids = [line["id"] for line in exported_events((tmp_path / "all.ndjson").read_text())]
    assert len(head) == 2
    assert [e["id"] for e in head + tail] == all_ids
    assert f"resume with --after {head[-1]['position']}" in first.stderr


@pytest.mark.e2e
def test_importing_the_same_file_twice_adds_nothing_the_second_time(
    sqlite_url: str, tmp_path: Path
) -> None:
    story = write_ndjson(tmp_path / "story.ndjson", STORY)
    assert run_cli(sqlite_url, tmp_path, "import", str(story)).returncode == 0

    again = run_cli(sqlite_url, tmp_path, "import", str(story))

    assert again.returncode == 0, again.stderr
    assert "0 new events" in again.stderr
    assert stored_events(sqlite_url) == 5


@pytest.mark.e2e
def test_a_malformed_import_line_is_one_error_with_its_line_number_and_nothing_is_stored(
    sqlite_url: str, tmp_path: Path
) -> None:
    lines: list[Any] = [*STORY[:2], '{"command": "announcePolicy", "input": {', *STORY[2:]]
    story = write_ndjson(tmp_path / "story.ndjson", lines)

    result = run_cli(sqlite_url, tmp_path, "import", str(story))

    assert result.returncode != 0
    line = error_line(result)
    assert "story.ndjson line 3" in line
    assert "not valid JSON" in line
    assert stored_events(sqlite_url) == 0


@pytest.mark.e2e
def test_an_input_without_an_offset_is_refused_naming_the_line_and_the_field(
    sqlite_url: str, tmp_path: Path
) -> None:
    bad = json.loads(json.dumps(STORY[3]))
    bad["input"]["effectiveAt"] = "2022-03-13T00:00:00"
    story = write_ndjson(tmp_path / "story.ndjson", [*STORY[:3], bad, STORY[4]])

    result = run_cli(sqlite_url, tmp_path, "import", str(story))

    assert result.returncode != 0
    line = error_line(result)
    assert "line 4" in line and "effectiveAt" in line and "offset" in line
    assert stored_events(sqlite_url) == 0


@pytest.mark.e2e
def test_an_unknown_command_is_refused_naming_the_line(sqlite_url: str, tmp_path: Path) -> None:
    story = write_ndjson(
        tmp_path / "story.ndjson", [STORY[0], {"command": "deletePolicy", "input": {"id": "x"}}]
    )

    result = run_cli(sqlite_url, tmp_path, "import", str(story))

    assert result.returncode != 0
    assert "line 2" in error_line(result) and "deletePolicy" in error_line(result)
    assert stored_events(sqlite_url) == 0


@pytest.mark.e2e
def test_a_line_refused_by_the_fold_rolls_back_every_earlier_line_of_the_file(
    database_url: str, tmp_path: Path
) -> None:
    # Lines 1-4 are valid on their own; line 5 amends a clause that does not exist, which
    # only the fold can tell while executing: the whole file must leave nothing behind.
    bad = json.loads(json.dumps(STORY[3]))
    bad["input"]["idempotencyKey"] = "story:bad"
    bad["input"]["amendClauses"][0]["id"] = "no-such-clause"
    story = write_ndjson(tmp_path / "story.ndjson", [*STORY[:4], bad])

    result = run_cli(database_url, tmp_path, "import", str(story))

    assert result.returncode != 0
    line = error_line(result)
    assert "line 5" in line and "no-such-clause" in line
    assert stored_events(database_url) == 0
    # ...and the same file without the bad line then imports cleanly.
    good = write_ndjson(tmp_path / "good.ndjson", STORY[:4])
    assert run_cli(database_url, tmp_path, "import", str(good)).returncode == 0
    assert stored_events(database_url) == 4


@pytest.mark.e2e
def test_import_reads_stdin_and_check_stores_nothing(sqlite_url: str, tmp_path: Path) -> None:
    text = "".join(json.dumps(line) + "\n" for line in STORY)

    checked = run_cli(sqlite_url, tmp_path, "import", "--check", "-", stdin=text)
    assert checked.returncode == 0, checked.stderr
    assert stored_events(sqlite_url) == 0

    imported = run_cli(sqlite_url, tmp_path, "import", "-", stdin=text)
    assert imported.returncode == 0, imported.stderr
    assert stored_events(sqlite_url) == 5
