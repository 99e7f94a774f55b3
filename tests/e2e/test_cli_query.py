"""Point-in-time answers from the real `timeline` console script, on the demo data set.

The demo is loaded with `timeline import --demo`; expected texts come from the demo's own
commands (timeline.demo), so the tests check what the CLI answers against what was recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from timeline.demo import ALLOWANCE_CLAUSE, DEMO_COMMANDS, INSTAGRAM_RESTRICTION, POLICY

TIMELINE = str(Path(sys.executable).with_name("timeline"))


def run_cli(
    database_url: str, cwd: Path, *args: str, program: Sequence[str] = (TIMELINE,)
) -> subprocess.CompletedProcess[str]:
    """Run the real `timeline` console script (or `program`) against `database_url`."""
    env = {**os.environ, "TIMELINE_DATABASE_URL": database_url, "COLUMNS": "140"}
    env.pop("TIMELINE_DEBUG", None)
    return subprocess.run(
        [*program, *args],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def answer(database_url: str, cwd: Path, *args: str) -> Any:
    result = run_cli(database_url, cwd, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def the_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single `error:` line on stderr of a failed command (no traceback)."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def policy_commands() -> list[dict[str, Any]]:
    return [
        data
        for name, data in DEMO_COMMANDS
        if name in {"announcePolicy", "revisePolicy"} and data["id"] == POLICY
    ]


def allowance_texts() -> tuple[str, str]:
    """The allowance as first recorded, and as narrowed (from the demo's commands)."""
    added = next(
        c for d in policy_commands() for c in d.get("addClauses", []) if c["id"] == ALLOWANCE_CLAUSE
    )
    amended = next(
        c
        for d in policy_commands()
        for c in d.get("amendClauses", [])
        if c["id"] == ALLOWANCE_CLAUSE
    )
    return added["text"], amended["text"]


def clause(version: dict[str, Any], clause_id: str) -> dict[str, Any] | None:
    return next((c for c in version["clauses"] if c["id"] == clause_id), None)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A SQLite database holding the demo, loaded once for the module through the CLI."""
    directory = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{directory / 'timeline.db'}"
    loaded = run_cli(url, directory, "import", "--demo")
    assert loaded.returncode == 0, loaded.stderr
    return url, directory


@pytest.mark.e2e
def test_at_gives_the_allowance_on_11_march_and_the_narrowed_text_on_14_march(
    demo: tuple[str, Path],
) -> None:
    url, cwd = demo
    allowance, narrowed = allowance_texts()

    on_11 = answer(url, cwd, "at", POLICY, "--valid-at", "2022-03-11T12:00:00+03:00")
    on_14 = answer(url, cwd, "at", POLICY, "--valid-at", "2022-03-14T12:00:00+03:00")

    assert on_11["id"] == POLICY
    assert clause(on_11, ALLOWANCE_CLAUSE)["text"] == allowance  # type: ignore[index]
    assert clause(on_14, ALLOWANCE_CLAUSE)["text"] == narrowed  # type: ignore[index]
    assert clause(on_14, ALLOWANCE_CLAUSE)["scope"] == ["UA"]  # type: ignore[index]


@pytest.mark.e2e
def test_at_prints_the_policy_and_its_clauses_as_a_table(demo: tuple[str, Path]) -> None:
    url, cwd = demo
    result = run_cli(url, cwd, "at", POLICY, "--valid-at", "2022-03-11T12:00:00+03:00")

    assert result.returncode == 0, result.stderr
    title = policy_commands()[0]["title"]
    assert title in result.stdout
    assert ALLOWANCE_CLAUSE in result.stdout
    assert "in force from 2022-03-10" in result.stdout


@pytest.mark.e2e
def test_at_before_anything_was_recorded_says_so_with_exit_8(demo: tuple[str, Path]) -> None:
    url, cwd = demo
    for args in ((), ("--json",)):
        result = run_cli(url, cwd, "at", POLICY, "--known-at", "2022-03-11T12:00:00+03:00", *args)
        assert result.returncode == 8, result.stderr
        assert "was not yet recorded at knownAt 2022-03-11T09:00:00+00:00" in the_error(result)
        assert result.stdout == ""


@pytest.mark.e2e
def test_at_before_the_policy_was_in_force_names_the_next_version_with_exit_9(
    demo: tuple[str, Path],
) -> None:
    url, cwd = demo
    result = run_cli(url, cwd, "at", POLICY, "--valid-at", "2000-01-01T00:00:00Z")
    assert result.returncode == 9, result.stderr
    error = the_error(result)
    assert "had no version in force at validAt 2000-01-01T00:00:00+00:00" in error
    assert "the next is in force from 2022-01-01T00:00:00+00:00 to 2022-03-10" in error
    status = run_cli(url, cwd, "status", INSTAGRAM_RESTRICTION, "--valid-at", "2000-01-01T00:00Z")
    assert status.returncode == 9, status.stderr
    assert "regulatory-action" in the_error(status)


@pytest.mark.e2e
def test_a_policy_never_recorded_is_not_found_with_exit_1_in_every_read(
    demo: tuple[str, Path],
) -> None:
    url, cwd = demo
    for args in (
        ("at", "meta/nothing"),
        ("on", "meta/nothing", "2022-03-11"),
        ("history", "meta/nothing"),
        ("diff", "meta/nothing", "2022-03-11T00:00Z", "2022-03-14T00:00Z"),
    ):
        result = run_cli(url, cwd, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert the_error(result) == "error: policy 'meta/nothing' not found"
    early = run_cli(url, cwd, "history", POLICY, "--known-at", "2022-03-11T00:00Z")
    assert early.returncode == 8 and "not yet recorded" in the_error(early)


@pytest.mark.e2e
def test_on_a_moscow_day_with_a_change_lists_both_versions_but_the_utc_day_only_one(
    demo: tuple[str, Path],
) -> None:
    # The narrowing took effect at 00:00 UTC on 13 March, which is 03:00 that day in Moscow.
    url, cwd = demo
    _, narrowed = allowance_texts()

    moscow = answer(url, cwd, "on", POLICY, "2022-03-13", "--tz", "Europe/Moscow")
    utc = answer(url, cwd, "on", POLICY, "2022-03-13")

    assert len(moscow) == 2
    assert moscow[0]["validTo"] == moscow[1]["validFrom"]
    assert clause(moscow[1], ALLOWANCE_CLAUSE)["text"] == narrowed  # type: ignore[index]
    assert [v["validFrom"] for v in utc] == [moscow[1]["validFrom"]]


@pytest.mark.e2e
def test_history_lists_every_version_in_valid_time_order(demo: tuple[str, Path]) -> None:
    url, cwd = demo
    versions = answer(url, cwd, "history", POLICY)
    table = run_cli(url, cwd, "history", POLICY)

    starts = [datetime.fromisoformat(v["validFrom"]) for v in versions]
    recorded = sorted(
        datetime.fromisoformat(d["effectiveAt"]).astimezone(UTC) for d in policy_commands()
    )
    assert starts == recorded
    assert table.returncode == 0 and "PolicyRevised" in table.stdout


@pytest.mark.e2e
def test_diff_shows_the_allowance_clause_changed_between_11_and_14_march(
    demo: tuple[str, Path],
) -> None:
    url, cwd = demo
    allowance, narrowed = allowance_texts()
    moments = ("2022-03-11T12:00:00+03:00", "2022-03-14T12:00:00+03:00")

    result = answer(url, cwd, "diff", POLICY, *moments)
    shown = run_cli(url, cwd, "diff", POLICY, *moments)

    change = next(c for c in result["clauses"] if c["id"] == ALLOWANCE_CLAUSE)
    assert change["change"] == "CHANGED"
    assert (change["before"]["text"], change["after"]["text"]) == (allowance, narrowed)
    assert shown.returncode == 0, shown.stderr
    assert f"~ {ALLOWANCE_CLAUSE} CHANGED" in shown.stdout
    assert "{+only in Ukraine" in shown.stdout  # inserted words marked even without colour
    assert "+ scope: UA" in shown.stdout


@pytest.mark.e2e
def test_status_is_announced_on_12_march_and_in_effect_on_14_march(demo: tuple[str, Path]) -> None:
    url, cwd = demo
    on_12 = answer(
        url, cwd, "status", INSTAGRAM_RESTRICTION, "--valid-at", "2022-03-12T12:00:00+03:00"
    )
    on_14 = answer(
        url, cwd, "status", INSTAGRAM_RESTRICTION, "--valid-at", "2022-03-14T00:00:00+03:00"
    )
    shown = run_cli(
        url, cwd, "status", INSTAGRAM_RESTRICTION, "--valid-at", "2022-03-12T12:00:00+03:00"
    )

    assert on_12["status"] == "ANNOUNCED"
    assert on_14["status"] == "IN_EFFECT"
    assert f"policy:{POLICY}" in " ".join(on_14["inResponseTo"])
    assert "ANNOUNCED" in shown.stdout


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("on", POLICY, "2022-13-11"), ("DATE", "2022-13-11")),
        (("at", POLICY, "--valid-at", "2022-03-11T12:00:00"), ("--valid-at", "offset")),
        (("at", POLICY, "--valid-at", "11 March"), ("--valid-at", "not an ISO 8601")),
        (("at", "nope/unknown-policy"), ("policy", "nope/unknown-policy", "not found")),
        (("history", "meta/no-such-policy"), ("meta/no-such-policy", "not found")),
        (("status", "roskomnadzor/no-such-action"), ("regulatory-action", "not found")),
        (("on", POLICY, "2022-03-11", "--tz", "Mars/Olympus"), ("--tz", "Mars/Olympus")),
        (("at", "Not A Slug"), ("POLICY", "slug")),
        (("diff", POLICY, "yesterday", "now"), ("FROM", "yesterday")),
    ],
)
def test_bad_input_is_one_error_line_naming_what_was_wrong_and_a_non_zero_exit(
    demo: tuple[str, Path], args: tuple[str, ...], names: tuple[str, ...]
) -> None:
    url, cwd = demo
    line = the_error(run_cli(url, cwd, *args))
    for name in names:
        assert name in line


@pytest.mark.e2e
def test_an_unreachable_database_is_one_error_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    line = the_error(run_cli(url, tmp_path, "at", POLICY))
    assert "database" in line


@pytest.mark.e2e
def test_the_cli_answers_from_postgresql_as_from_sqlite(database_url: str, tmp_path: Path) -> None:
    loaded = run_cli(database_url, tmp_path, "import", "--demo")
    assert loaded.returncode == 0, loaded.stderr
    _, narrowed = allowance_texts()

    on_14 = answer(database_url, tmp_path, "at", POLICY, "--valid-at", "2022-03-14T00:00:00Z")

    assert clause(on_14, ALLOWANCE_CLAUSE)["text"] == narrowed  # type: ignore[index]
    reasons = {
        "never recorded": (("at", "meta/nothing"), 1),
        "not yet recorded": (("at", POLICY, "--known-at", "2022-03-11T00:00:00Z"), 8),
        "not in force": (("at", POLICY, "--valid-at", "2000-01-01T00:00:00Z"), 9),
    }
    for reason, (args, code) in reasons.items():
        result = run_cli(database_url, tmp_path, *args)
        assert result.returncode == code, (reason, result.stderr)


@pytest.mark.e2e
def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_cli("sqlite:///unused.db", tmp_path, "--help")
    assert result.returncode == 0
    for command in (
        "serve",
        "at",
        "on",
        "history",
        "diff",
        "status",
        "import",
        "export",
        "restore",
        "project",
        "token",
    ):
        assert f"│ {command} " in result.stdout


@pytest.mark.e2e
def test_at_lists_the_instagram_restriction_among_the_responses_once_it_was_announced(
    demo: tuple[str, Path],
) -> None:
    url, cwd = demo
    announced = next(
        datetime.fromisoformat(d["announcedAt"])
        for name, d in DEMO_COMMANDS
        if name == "announceRegulatoryAction" and d["id"] == INSTAGRAM_RESTRICTION
    )
    before, after = "2022-03-11T12:00:00+03:00", "2022-03-12T12:00:00+03:00"
    assert datetime.fromisoformat(before) < announced < datetime.fromisoformat(after)

    earlier = answer(url, cwd, "at", POLICY, "--valid-at", before)
    later = answer(url, cwd, "at", POLICY, "--valid-at", after)
    shown = run_cli(url, cwd, "at", POLICY, "--valid-at", after)

    assert INSTAGRAM_RESTRICTION not in [r["id"] for r in earlier["responses"]]
    assert {r["id"]: r["status"] for r in later["responses"]}[INSTAGRAM_RESTRICTION] == "ANNOUNCED"
    assert f"{INSTAGRAM_RESTRICTION} ANNOUNCED" in shown.stdout
