"""The event store library's internals are used in one module only (timeline/eventstore.py),
so an upgrade of eventsourcing-sqlalchemy is checked against one file (issue 13)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WALL = ROOT / "timeline" / "eventstore.py"
#: What the recorder has beyond the published ApplicationRecorder interface.
INTERNALS = re.compile(
    r"\.datastore\b|\._lock_table\b|\._notify_channel\b|\bevents_record_cls\b"
    r"|\brecorder\.(transaction|channel_name|events_table_name)\b"
    r"|\bsession_maker\b|[\"']datastore[\"']|[\"']channel_name[\"']"
)


def test_only_the_adapter_touches_the_recorders_internals() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in ("api", "timeline", "projections", "domain", "bench", "entrypoints")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != WALL
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if INTERNALS.search(line.split("#")[0])
    ]
    assert offenders == []
    assert INTERNALS.search(WALL.read_text())  # the wall itself is where they went
