"""The benchmark harness at a tiny size, so that it cannot rot: every generated command is
accepted by the application, and `python -m bench` produces every figure. No time is
asserted: the figures are the benchmark's business, not the test suite's."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import POSTGRES_DSN, require_postgres

from bench.deep import DeepHistory
from bench.generator import History
from bench.load import skip_loaded, stored_events
from timeline.application import Timeline

ROOT = Path(__file__).resolve().parents[2]


def test_every_generated_command_is_accepted_through_the_application(timeline: Timeline) -> None:
    for name, data in itertools.islice(History(3, events_per_policy=30).commands(), 400):
        timeline.execute(name, data)
    assert timeline.head_position() == 400


def test_a_kept_database_resumes_the_same_history_where_it_stopped(timeline: Timeline) -> None:
    for name, data in itertools.islice(History(5, events_per_policy=30).commands(), 150):
        timeline.execute(name, data)
    timeline.execute(  # as figure 5 writes through the API: not a command of the history
        "recordStatement",
        {
            "id": "authority-ru/bench-statement-run-1",
            "actor": "authority-ru",
            "text": "a statement",
            "effectiveAt": "2026-01-01T00:00:00Z",
        },
    )
    resumed = History(5, events_per_policy=30)
    commands = resumed.commands()
    assert skip_loaded(timeline, commands) == 150
    for name, data in itertools.islice(commands, 150):
        timeline.execute(name, data)  # a wrong skip would revise unknown or finished policies
    assert stored_events(timeline) == 301
    straight = History(5, events_per_policy=30)
    list(itertools.islice(straight.commands(), 300))
    assert resumed.finished() == straight.finished()


def test_every_deep_history_command_is_accepted_and_the_mix_is_as_described(
    timeline: Timeline,
) -> None:
    commands = list(DeepHistory(400, seed=3).commands())
    for name, data in commands:
        timeline.execute(name, data)  # a retroactive amendment always finds its clause
    assert timeline.head_position() == 402
    revisions = [d for n, d in commands if n == "revisePolicy"]
    corrections = [d for n, d in commands if n == "correctEvent"]
    assert 0.02 < len(corrections) / 400 < 0.09
    assert all(len(d["amendClauses"]) == 1 for d in revisions)
    times = [d["effectiveAt"] for d in revisions]
    retroactive = sum(1 for i, at in enumerate(times) if i and at < max(times[:i]))
    assert 0.05 < retroactive / 400 < 0.16
    announced = commands[1][1]
    assert len(announced["clauses"]) == 20
    assert all(300 < len(c["text"]) < 600 for c in announced["clauses"])


def test_the_deep_history_figure_runs_alone_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "deep.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--figures",
            "7",
            "--deep-size",
            "3,15",
            "--repeat",
            "1",
            "--lookups",
            "6",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(out.read_text())["figures"]
    assert {f["figure"] for f in figures} == {"7"}  # no standard history loaded
    by_name = {f["name"]: f for f in figures}
    for size in ("3", "15"):
        lookup = by_name[f"deep history N={size}: policy_at p50"]
        assert lookup["baseline_name"] == "raw SQL p50" and lookup["baseline"] > 0
        stored = by_name[f"deep history N={size}: read models"]
        assert stored["baseline"] > 0 and stored["ratio"] > 0  # event-log bytes, and the ratio
        assert by_name[f"deep history N={size}: policy read-model rows"]["value"] >= 1
        assert by_name[f"deep history N={size}: projection"]["value"] > 0
    assert by_name["deep history N=15: policy read-model rows"]["baseline"] == 17  # events
    assert "deep history lookup p50 ratio N=15 / N=3" in by_name
    assert "deep history with correctedBy p50 ratio N=15 / N=3" in by_name
    interleaved = by_name["deep history lookup p50 ratio N=15 / N=3, interleaved"]
    assert interleaved["value"] > 0
    assert len(interleaved["extra"]["rounds_ms"]["large_lookup"]) >= 5
    assert by_name["deep history N=15: policy_at with correctedBy p50"]["value"] > 0


def run_bench(database: str, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--size",
            "120,300",
            "--database",
            database,
            "--repeat",
            "1",
            "--lookups",
            "10",
            "--subscribers",
            "3",
            "--events",
            "2",
            "--writers",
            "2",
            "--appends",
            "8",
            "--deep-size",
            "4,12",
            "--tree-size",
            "3k",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return dict(json.loads(out.read_text()))


def check_every_figure(report: dict[str, object]) -> None:
    figures = report["figures"]
    assert isinstance(figures, list)
    assert {f["figure"] for f in figures} == {str(n) for n in range(1, 12)}
    names = " | ".join(f["name"] for f in figures)
    for wanted in (
        "policy_at p50 at 120 events",
        "policy_at p50 at 300 events",
        "lookup p50 ratio 300 / 120",
        "over HTTP p50",
        "over HTTP p99",
        "appends, 1 writer",
        "appends, 2 writers",
        "projection rebuild",
        "projection catch-up",
        "rebuild of 1M events",
        "subscriber p99",
        "API resident size",
        "read models at 120 events",
        "read models at 300 events",
        "deep history N=12: policy_at p50",
        "deep history lookup p50 ratio N=12 / N=4",
        "/healthz p50 while 4 clients send refused attacks",
        "`timeline at` cold start, read models current",
        "appends with the Merkle tree, 1 writer",
        "inclusion + consistency proof p50 at 3,000 leaves",
    ):
        assert wanted in names
    for figure in figures:
        assert math.isfinite(figure["value"]) and figure["value"] > 0, figure
        if figure["baseline"] is not None:
            assert math.isfinite(figure["baseline"]) and figure["baseline"] > 0, figure
    subscriptions = [f for f in figures if f["figure"] == "5"]
    assert len(subscriptions) == 2  # a writer in another process, and through the API
    assert all(f["extra"]["missing"] == 0 for f in subscriptions)
    (hostile,) = [f for f in figures if f["figure"] == "9"]
    assert hostile["extra"]["hostile_requests"] > 0  # attacks ran, each one refused


@pytest.mark.slow
def test_the_benchmark_produces_every_figure_on_sqlite(tmp_path: Path) -> None:
    check_every_figure(run_bench("sqlite", tmp_path))


@pytest.mark.slow
@pytest.mark.postgres
def test_the_benchmark_produces_every_figure_on_postgres(tmp_path: Path) -> None:
    require_postgres()
    check_every_figure(run_bench(POSTGRES_DSN, tmp_path))
