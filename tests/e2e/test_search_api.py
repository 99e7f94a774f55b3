"""Full-text search in time through the real server (gql client) and the real `timeline`
console script, on the demo story, on both databases; hostile query text is BAD_INPUT
naming the field, never an internal error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_api_server import ApiServer, serve

from timeline.demo import load_demo
from timeline.settings import Settings

pytestmark = pytest.mark.e2e
TIMELINE = str(Path(sys.executable).with_name("timeline"))
SEARCH = (
    "query($q: String!, $at: DateTime, $known: DateTime, $after: String) { "
    "search(query: $q, validAt: $at, knownAt: $known, first: 5, after: $after) { totalCount "
    "nodes { kind id title rank snippet snippets { field text fragments { text highlighted } } } "
    "pageInfo { hasNextPage endCursor } } }"
)


@pytest.fixture
def demo(database_url: str) -> Iterator[tuple[ApiServer, str]]:
    with serve(Settings(database_url=database_url)) as api:
        load_demo(api.services.timeline)
        api.services.projections.catch_up()
        yield api, database_url


def test_search_finds_who_said_russian_soldiers_on_12_march(demo: tuple[ApiServer, str]) -> None:
    api, _ = demo
    found = api.execute(SEARCH, {"q": '"Russian soldiers"', "at": "2022-03-12T12:00:00+03:00"})
    hits = found["search"]["nodes"]
    assert [(h["kind"], h["id"], h["title"]) for h in hits] == [
        ("policy", "meta/hate-speech", "Hate Speech")
    ]
    marked = [f["text"] for f in hits[0]["snippets"][0]["fragments"] if f["highlighted"]]
    assert "russian soldiers" in " ".join(marked).lower()
    before = api.execute(SEARCH, {"q": '"Russian soldiers"', "at": "2022-03-01T00:00:00+03:00"})
    assert before["search"]["nodes"] == [] and before["search"]["totalCount"] == 0
    listed = api.execute(
        'query { policies(validAt: "2022-03-12T12:00:00+03:00", '
        'filter: {search: "Russian soldiers"}) { nodes { id } } }'
    )
    assert listed["policies"]["nodes"] == [{"id": "meta/hate-speech"}]


@pytest.mark.parametrize(
    ("query", "field"),
    [("x" * 10_000, "query"), ("*** :: ()", "query"), ('"" ^ -', "query")],
)
def test_hostile_search_text_is_bad_input_naming_the_field(
    demo: tuple[ApiServer, str], query: str, field: str
) -> None:
    api, _ = demo
    [error] = api.errors(SEARCH, {"q": query})
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert error["extensions"]["field"] == field
    [listed] = api.errors(
        "query($q: String!) { policies(filter: {search: $q}) { totalCount } }", {"q": query}
    )
    assert listed["extensions"]["code"] == "BAD_INPUT"


@pytest.mark.parametrize(
    "query", ['"unbalanced', "title:russian", "russ* NOT x", "a OR b", 'NEAR(" *']
)
def test_fts_syntax_in_search_text_is_only_words(demo: tuple[ApiServer, str], query: str) -> None:
    api, _ = demo
    assert api.execute(SEARCH, {"q": query})["search"]["totalCount"] >= 0


def test_timeline_search_answers_in_the_terminal(demo: tuple[ApiServer, str]) -> None:
    _, url = demo
    env = {**os.environ, "TIMELINE_DATABASE_URL": url, "COLUMNS": "140"}
    env.pop("TIMELINE_DEBUG", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TIMELINE, "search", *args], env=env, text=True, capture_output=True, timeout=120
        )

    found = run('"Russian soldiers"', "--valid-at", "2022-03-12T12:00:00+03:00", "--json")
    assert found.returncode == 0, found.stderr
    assert [h["id"] for h in json.loads(found.stdout)["hits"]] == ["meta/hate-speech"]
    table = run("Russian soldiers", "--valid-at", "2022-03-12T12:00:00+03:00")
    assert table.returncode == 0 and "meta/hate-speech" in table.stdout
    refused = run("x" * 10_000)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: QUERY:")


BY_POSITION = (
    "query($q: String!, $at: DateTime, $known: DateTime, $p: Int) { "
    "search(query: $q, validAt: $at, knownAt: $known, knownAtPosition: $p) { totalCount "
    "nodes { id } } }"
)


def test_search_answers_by_log_position_like_every_read(demo: tuple[ApiServer, str]) -> None:
    """knownAtPosition and the instant it resolves to give the same hits; before the
    allowance was recorded, none; a future position or both bases are BAD_INPUT; the CLI's
    --position answers alike."""
    api, url = demo
    head = api.execute("{ logHead { position recordedAt } }")["logHead"]
    words = {"q": '"Russian soldiers"', "at": "2022-03-12T12:00:00+03:00"}
    at_head = api.execute(BY_POSITION, {**words, "p": head["position"]})["search"]
    assert at_head["nodes"] == [{"id": "meta/hate-speech"}]
    by_instant = api.execute(BY_POSITION, {**words, "known": head["recordedAt"]})["search"]
    assert by_instant == at_head
    assert api.execute(BY_POSITION, {**words, "p": 1})["search"]["totalCount"] == 0
    for wrong in ({"p": head["position"] + 1000}, {"p": 1, "known": head["recordedAt"]}):
        [error] = api.errors(BY_POSITION, {**words, **wrong})
        assert error["extensions"]["code"] == "BAD_INPUT"
        assert error["extensions"]["field"] == "knownAtPosition"
    env = {**os.environ, "TIMELINE_DATABASE_URL": url, "COLUMNS": "140"}
    env.pop("TIMELINE_DEBUG", None)
    command = [TIMELINE, "search", '"Russian soldiers"', "--valid-at", words["at"], "--json"]
    for position, expected in ((str(head["position"]), ["meta/hate-speech"]), ("1", [])):
        found = subprocess.run(
            [*command, "--position", position],
            env=env,
            text=True,
            capture_output=True,
            timeout=120,
        )
        assert found.returncode == 0, found.stderr
        assert [h["id"] for h in json.loads(found.stdout)["hits"]] == expected
