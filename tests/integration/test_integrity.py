"""The hash chain over the log: sealed in the events' own transaction, recomputable by anyone
from the stored rows, and `timeline verify` names the first event altered, removed or written
outside the service, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import delete, insert, select, update

from domain.errors import TimelineError
from timeline import integrity
from timeline.application import Timeline
from timeline.demo import load_demo
from timeline.settings import Settings

TIMELINE = shutil.which("timeline", path=str(Path(sys.executable).parent)) or "timeline"


def events_table(timeline: Timeline) -> Any:
    return timeline.recorder.events_record_cls.__table__  # type: ignore[attr-defined]


def run_verify(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `timeline verify` console script against `database_url`."""
    env = {**os.environ, "TIMELINE_DATABASE_URL": database_url}
    env.pop("TIMELINE_DEBUG", None)
    return subprocess.run(
        [TIMELINE, "verify", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def actor(slug: str) -> dict[str, Any]:
    return {
        "id": slug,
        "name": slug.title(),
        "kind": "organisation",
        "effectiveAt": "2022-03-01T00:00:00+00:00",
    }


def stored_rows(timeline: Timeline) -> list[Any]:
    with timeline.engine.connect() as connection:
        return list(
            connection.execute(select(events_table(timeline)).order_by(events_table(timeline).c.id))
        )


def chain_rows(timeline: Timeline) -> list[Any]:
    with timeline.engine.connect() as connection:
        return list(
            connection.execute(
                select(integrity.log_hashes).order_by(integrity.log_hashes.c.position)
            )
        )


def test_every_event_is_sealed_in_order_and_the_head_is_the_last_event(timeline: Timeline) -> None:
    load_demo(timeline)
    events, links = stored_rows(timeline), chain_rows(timeline)
    assert [e.id for e in events] == [link.position for link in links]
    assert links[0].previous_hash == integrity.GENESIS
    assert all(b.previous_hash == a.hash for a, b in pairwise(links))
    head = integrity.head(timeline.engine)
    assert head == integrity.LogHead(timeline.head_position(), links[-1].hash)


def test_the_head_hash_can_be_recomputed_from_the_stored_rows_by_the_documented_rule(
    timeline: Timeline,
) -> None:
    """The rule in docs/reliability.md, written out independently of timeline/integrity.py."""
    load_demo(timeline)
    previous = "0" * 64
    for row in stored_rows(timeline):
        body = json.dumps(
            {
                "position": row.id,
                "aggregateId": str(row.originator_id),
                "version": row.originator_version,
                "topic": row.topic,
                "state": bytes(row.state).hex(),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        previous = hashlib.sha256((previous + body).encode()).hexdigest()
    assert integrity.head(timeline.engine).hash == previous


def test_an_untouched_log_verifies(timeline: Timeline) -> None:
    load_demo(timeline)
    verdict = integrity.verify(timeline.engine, events_table(timeline), batch=7)
    assert verdict.ok, verdict.reason
    assert verdict.checked == len(stored_rows(timeline))


def test_a_refused_command_leaves_no_link_and_the_chain_still_verifies(timeline: Timeline) -> None:
    timeline.register_actor(actor("meta"))
    before = chain_rows(timeline)
    with pytest.raises(TimelineError):
        timeline.register_actor(actor("meta"))  # already exists: refused, rolled back
    timeline.register_actor(actor("instagram"))
    assert chain_rows(timeline)[: len(before)] == before
    assert len(chain_rows(timeline)) == len(before) + 1
    assert integrity.verify(timeline.engine, events_table(timeline)).ok


def test_an_event_altered_in_the_database_is_named_by_verify(
    timeline: Timeline, database_url: str
) -> None:
    load_demo(timeline)
    victim = stored_rows(timeline)[5]
    altered = bytes(victim.state).replace(b"20", b"19", 1)
    assert altered != bytes(victim.state)
    with timeline.engine.begin() as connection:
        table = events_table(timeline)
        connection.execute(update(table).where(table.c.id == victim.id).values(state=altered))
    result = run_verify(database_url)
    assert result.returncode == 5, result.stdout + result.stderr
    assert f"position {victim.id}: the event was altered" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("column", ["state", "topic", "originator_version", "originator_id"])
def test_a_change_to_any_stored_column_is_detected(timeline: Timeline, column: str) -> None:
    load_demo(timeline)
    victim = stored_rows(timeline)[7]
    changed = {
        "state": bytes(victim.state) + b" ",
        "topic": victim.topic + "x",
        "originator_version": victim.originator_version + 1000,
        "originator_id": uuid4(),
    }[column]
    table = events_table(timeline)
    with timeline.engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == victim.id).values({column: changed}))
    verdict = integrity.verify(timeline.engine, table)
    assert (verdict.ok, verdict.bad_position) == (False, victim.id)
    assert "altered" in verdict.reason


def test_an_event_removed_from_the_database_is_named_by_verify(
    timeline: Timeline, database_url: str
) -> None:
    load_demo(timeline)
    victim = stored_rows(timeline)[3]
    with timeline.engine.begin() as connection:
        table = events_table(timeline)
        connection.execute(delete(table).where(table.c.id == victim.id))
    result = run_verify(database_url)
    assert result.returncode == 5
    assert f"position {victim.id}: the event was removed" in result.stderr


def test_an_event_removed_with_its_link_breaks_the_next_link(
    timeline: Timeline, database_url: str
) -> None:
    load_demo(timeline)
    rows = stored_rows(timeline)
    victim, following = rows[3], rows[4]
    with timeline.engine.begin() as connection:
        table = events_table(timeline)
        connection.execute(delete(table).where(table.c.id == victim.id))
        connection.execute(
            delete(integrity.log_hashes).where(integrity.log_hashes.c.position == victim.id)
        )
    verdict = integrity.verify(timeline.engine, events_table(timeline))
    assert verdict.bad_position == following.id
    assert "does not follow" in verdict.reason


def test_an_event_inserted_outside_the_service_is_named_by_verify(
    timeline: Timeline, database_url: str
) -> None:
    load_demo(timeline)
    last = stored_rows(timeline)[-1]
    forged = last.id + 1
    with timeline.engine.begin() as connection:
        connection.execute(
            insert(events_table(timeline)).values(
                id=forged,
                originator_id=last.originator_id,
                originator_version=last.originator_version + 1,
                topic=last.topic,
                state=bytes(last.state),
            )
        )
    result = run_verify(database_url)
    assert result.returncode == 5
    assert f"position {forged}: the event is not in the hash chain" in result.stderr


def test_a_rewritten_tail_is_caught_against_a_cited_head(
    timeline: Timeline, database_url: str
) -> None:
    """Removing the last event together with its link leaves a shorter but consistent chain;
    a head cited earlier (as `logHead` in an export) is what exposes it."""
    load_demo(timeline)
    cited = integrity.head(timeline.engine)
    with timeline.engine.begin() as connection:
        table = events_table(timeline)
        connection.execute(delete(table).where(table.c.id == cited.position))
        connection.execute(
            delete(integrity.log_hashes).where(integrity.log_hashes.c.position == cited.position)
        )
    assert run_verify(database_url).returncode == 0
    result = run_verify(database_url, "--expect-head", f"{cited.position}:{cited.hash}")
    assert result.returncode == 5
    assert f"position {cited.position}: the cited head" in result.stderr


def test_verify_reports_the_head_and_checks_a_cited_head(
    timeline: Timeline, database_url: str
) -> None:
    load_demo(timeline)
    head = integrity.head(timeline.engine)
    plain = run_verify(database_url)
    assert plain.returncode == 0, plain.stderr
    assert f"head position {head.position} hash {head.hash}" in plain.stdout
    cited = run_verify(database_url, "--json", "--expect-head", f"{head.position}:{head.hash}")
    assert cited.returncode == 0
    assert json.loads(cited.stdout)["head"] == {"position": head.position, "hash": head.hash}
    bad = run_verify(database_url, "--expect-head", "12:nothex")
    assert bad.returncode == 1
    assert "--expect-head" in bad.stderr


def test_an_import_in_one_transaction_is_sealed_event_by_event(timeline: Timeline) -> None:
    with timeline.recorder.transaction(commit=True):  # type: ignore[attr-defined]
        for slug in ("meta", "instagram", "roskomnadzor"):
            timeline.register_actor(actor(slug))
    assert len(chain_rows(timeline)) == 3
    assert integrity.verify(timeline.engine, events_table(timeline)).ok


@pytest.mark.postgres
def test_concurrent_writers_on_postgresql_keep_one_unbroken_chain(postgres_url: str) -> None:
    """Four processes' worth of writers (separate applications, separate pools) at once."""
    apps = [Timeline(Settings(database_url=postgres_url)) for _ in range(4)]
    failures: list[BaseException] = []

    def write(app: Timeline, worker: int) -> None:
        try:
            for n in range(8):
                app.register_actor(actor(f"w{worker}-a{n}"))
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(app, i)) for i, app in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert not failures, failures
        verdict = integrity.verify(apps[0].engine, events_table(apps[0]))
        assert verdict.ok, verdict.reason
        assert verdict.checked == 32
    finally:
        for app in apps:
            app.close()
