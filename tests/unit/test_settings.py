"""Settings that fail loudly (issue 17 item 5): the forms an operator writes are accepted,
the others refused naming the variable and saying what to write instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from timeline.settings import Settings, describe_invalid, unknown_variables


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("http://localhost:3000", ["http://localhost:3000"]),
        (
            "http://localhost:3000, https://app.example.org",
            [
                "http://localhost:3000",
                "https://app.example.org",
            ],
        ),
        ('["http://localhost:3000"]', ["http://localhost:3000"]),
        ("https://app.example.org/", ["https://app.example.org"]),
        ("", []),
    ],
)
def test_cors_origins_are_comma_separated_or_a_json_list(
    monkeypatch: pytest.MonkeyPatch, value: str, origins: list[str]
) -> None:
    monkeypatch.setenv("TIMELINE_CORS_ORIGINS", value)
    assert Settings().cors_origins == origins


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("TIMELINE_CORS_ORIGINS", "localhost:3000", "e.g. http://localhost:3000"),
        ("TIMELINE_CORS_ORIGINS", "https://app.example.org/path", "without a path"),
        ("TIMELINE_CORS_ORIGINS", "[not json", "neither a JSON list"),
        ("TIMELINE_DATABASE_URL", "timeline.db", "sqlite:///timeline.db"),
        ("TIMELINE_DATABASE_URL", "mysql://user@host/db", "'mysql' is not supported"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = describe_invalid(caught.value)
    assert message.startswith(f"{variable}: ") and says in message


def test_the_cli_reports_a_bad_setting_in_one_line_with_its_own_exit_code() -> None:
    run = subprocess.run(
        [str(Path(sys.executable).with_name("timeline")), "history", "meta/x"],
        env={"TIMELINE_CORS_ORIGINS": "localhost:3000", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 78, run.stderr
    assert run.stderr.startswith("error: invalid setting: TIMELINE_CORS_ORIGINS: ")
    assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1


def test_an_unknown_timeline_variable_is_reported_with_the_nearest_name() -> None:
    environ = {
        "TIMELINE_DATABSE_URL": "sqlite:///x.db",
        "TIMELINE_WEBHOOK_DEADLINE": "5",
        "TIMELINE_DEBUG": "1",
        "TIMELINE_WIBBLE": "1",
        "HOME": "/root",
    }
    assert unknown_variables(environ, Settings) == [
        "TIMELINE_DATABSE_URL is not a setting of this service and is ignored; did you mean "
        "TIMELINE_DATABASE_URL?",
        "TIMELINE_WIBBLE is not a setting of this service and is ignored",
    ]


def test_every_setting_is_in_the_one_model_with_its_group_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TIMELINE_STREAM_KEEPALIVE", "3")
    monkeypatch.setenv("TIMELINE_WEBHOOK_DEADLINE", "4")
    settings = Settings()
    assert (settings.stream.keepalive, settings.webhook.deadline) == (3.0, 4.0)
    monkeypatch.setenv("TIMELINE_STREAM_KEEPALIVE", "soon")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert describe_invalid(caught.value).startswith("TIMELINE_STREAM_KEEPALIVE: ")
