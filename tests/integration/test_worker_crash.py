"""The `timeline project` worker as a real process: killed with SIGKILL mid-batch and
restarted it ends with the tables of an uninterrupted run (no event applied twice, none
skipped); a second worker stands by; `--rebuild` replays the log into identical tables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from projections import tables as t
from projections.runner import tracked_position
from timeline.application import Timeline
from timeline.settings import Settings

TIMELINE = str(Path(sys.executable).parent / "timeline")


@pytest.fixture
def timeline(postgres_url: str) -> Iterator[Timeline]:
    app = Timeline(Settings(database_url=postgres_url))
    try:
        yield app
    finally:
        app.close()


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row and the tracking row, in primary-key order."""
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in (*t.READ_MODEL_TABLES, t.tracking)
        }


def write_history(timeline: Timeline, policies: int = 30, revisions: int = 12) -> None:
    """Enough events that the worker needs many batches."""
    timeline.register_actor(
        {
            "id": "meta",
            "name": "Meta",
            "kind": "organisation",
            "effectiveAt": "2020-01-01T00:00:00+00:00",
        }
    )
    for n in range(policies):
        slug = f"meta/policy-{n}"
        timeline.announce_policy(
            {
                "id": slug,
                "title": f"Policy {n}",
                "owner": "meta",
                "clauses": [{"id": "c", "text": "v0", "scope": ["RU"]}],
                "effectiveAt": "2022-01-01T00:00:00+00:00",
            }
        )
        for r in range(1, revisions):
            day = 1 + (r * 7) % 28  # out of order: most revisions are retroactive
            timeline.revise_policy(
                {
                    "id": slug,
                    "amendClauses": [{"id": "c", "text": f"v{r}"}],
                    "effectiveAt": f"2022-02-{day:02d}T00:00:00+00:00",
                }
            )
        timeline.correct_event(
            {
                "event": f"policy:{slug}@2",
                "reason": "date",
                "changes": {"effectiveAt": "2022-01-15T00:00:00+00:00"},
            }
        )
        timeline.retract_event({"event": f"policy:{slug}@3", "reason": "wrong"})


def worker(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TIMELINE_DATABASE_URL": url}
    return subprocess.Popen(
        [TIMELINE, "project", *args],
        env=env,
        text=True,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )


def writing_to_read_models(engine: Engine) -> bool:
    """Whether some session has a write transaction open on the projection tables now."""
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL "
                    "AND query ILIKE '%projection_%'"
                )
            ).scalar()
        )


def kill_after_batches(url: str, engine: Engine, batches: int) -> None:
    """Start a worker, let it commit `batches` batches, then SIGKILL it as soon as it is
    seen writing the next one (it applies batch after batch without pause)."""
    process = worker(url, "--verbose", "--batch-size", "7")
    assert process.stderr is not None
    seen = 0
    for line in process.stderr:
        if "projected up to position" in line:
            seen += 1
            if seen == batches:
                break
    for _ in range(1000):
        if writing_to_read_models(engine):
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_killed_mid_batch_then_restarted_ends_with_the_uninterrupted_tables(
    postgres_url: str, timeline: Timeline
) -> None:
    write_history(timeline)
    head = timeline.head_position()
    kill_after_batches(postgres_url, timeline.engine, 3)
    first_stop = tracked_position(timeline.engine)
    assert 0 < first_stop < head
    kill_after_batches(postgres_url, timeline.engine, 5)
    assert first_stop < tracked_position(timeline.engine) < head
    finish = subprocess.run(
        [TIMELINE, "project", "--once"],
        timeout=300,
        capture_output=True,
        text=True,
        env={**os.environ, "TIMELINE_DATABASE_URL": postgres_url},
    )
    assert finish.returncode == 0, finish.stderr
    assert tracked_position(timeline.engine) == head
    recovered = dump(timeline.engine)
    rebuild = subprocess.run(
        [TIMELINE, "project", "--rebuild", "--once"],
        timeout=300,
        capture_output=True,
        text=True,
        env={**os.environ, "TIMELINE_DATABASE_URL": postgres_url},
    )
    assert rebuild.returncode == 0, rebuild.stderr
    assert dump(timeline.engine) == recovered
    assert len(recovered["projection_facts"]) == head


def wait_for_line(process: subprocess.Popen[str], text_: str) -> None:
    """Read the worker's stderr until a line contains `text_` (or it ends)."""
    assert process.stderr is not None
    for line in process.stderr:
        if text_ in line:
            return
    raise AssertionError(f"worker ended without printing {text_!r}")


@pytest.mark.postgres
@pytest.mark.slow
def test_a_second_worker_stands_by_and_takes_over_when_the_first_stops(
    postgres_url: str, timeline: Timeline
) -> None:
    timeline.register_actor(
        {
            "id": "meta",
            "name": "Meta",
            "kind": "organisation",
            "effectiveAt": "2020-01-01T00:00:00+00:00",
        }
    )
    first = worker(postgres_url, "--verbose")
    second = None
    try:
        wait_for_line(first, "projected up to position 1")
        second = worker(postgres_url, "--verbose")
        wait_for_line(second, "another worker is active; standing by")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
        result = timeline.register_actor(
            {
                "id": "rkn",
                "name": "RKN",
                "kind": "authority",
                "effectiveAt": "2020-01-01T00:00:00+00:00",
            }
        )
        wait_for_line(second, f"projected up to position {result.position}")
        assert tracked_position(timeline.engine) == result.position
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=30)


def test_the_worker_rebuilds_from_the_log_and_catches_up(database_url: str) -> None:
    app = Timeline(Settings(database_url=database_url))
    try:
        write_history(app, policies=3, revisions=3)
        head = app.head_position()
        env = {**os.environ, "TIMELINE_DATABASE_URL": database_url}
        once = subprocess.run(
            [TIMELINE, "project", "--once"], env=env, timeout=300, capture_output=True, text=True
        )
        assert once.returncode == 0, once.stderr
        incremental = dump(app.engine)
        rebuilt = subprocess.run(
            [TIMELINE, "project", "--rebuild", "--once"],
            env=env,
            timeout=300,
            capture_output=True,
            text=True,
        )
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert f"rebuilt: read models at position {head}" in rebuilt.stderr
        assert dump(app.engine) == incremental
    finally:
        app.close()


def test_project_once_beside_a_running_worker_returns_when_the_head_is_projected(
    database_url: str,
) -> None:
    app = Timeline(Settings(database_url=database_url))
    running = worker(database_url, "--verbose")
    try:
        write_history(app, policies=2, revisions=3)
        head = app.head_position()
        once = subprocess.run(
            [TIMELINE, "project", "--once"],
            timeout=120,
            text=True,
            capture_output=True,
            env={**os.environ, "TIMELINE_DATABASE_URL": database_url},
        )
        assert once.returncode == 0, once.stderr
        assert tracked_position(app.engine) >= head
    finally:
        running.kill()
        running.wait(timeout=30)
        app.close()
