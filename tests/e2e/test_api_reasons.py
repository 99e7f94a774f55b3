"""Why a read has no answer (issue 15 item 2): each reason its own `extensions.code`, over the
real server with the gql client, on SQLite and PostgreSQL; and malformed slugs in read
arguments refused as BAD_INPUT naming the argument."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_api_server import ApiServer, serve

from timeline.demo import INSTAGRAM_RESTRICTION, POLICY, load_demo
from timeline.settings import Settings

pytestmark = pytest.mark.e2e

STATEMENT = "andy-stone/2022-03-10-temporary-allowances"
BEFORE_RECORDING = "2001-01-01T00:00:00Z"  # a knownAt before the demo was recorded


@pytest.fixture(name="api")
def api_fixture(database_url: str) -> Iterator[ApiServer]:
    with serve(Settings(database_url=database_url)) as api:
        load_demo(api.services.timeline)
        api.services.projections.catch_up()
        yield api


def the_error(api: ApiServer, query: str, variables: dict[str, Any] | None = None) -> Any:
    (error,) = api.errors(query, variables)
    return error


def test_a_policy_never_recorded_is_not_found(api: ApiServer) -> None:
    error = the_error(api, '{ policy(id: "meta/nothing") { id } }')
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert error["message"] == "policy 'meta/nothing' not found" and error["path"] == ["policy"]


def test_a_policy_not_yet_recorded_at_known_at_says_when_it_became_known(api: ApiServer) -> None:
    error = the_error(api, f'{{ policy(id: "{POLICY}", knownAt: "{BEFORE_RECORDING}") {{ id }} }}')
    extensions = error["extensions"]
    assert extensions["code"] == "NOT_YET_KNOWN"
    assert extensions["knownAt"] == "2001-01-01T00:00:00+00:00"
    assert extensions["firstKnownAt"] > "2026"  # recorded by this test run
    assert "was not yet recorded at knownAt 2001-01-01T00:00:00+00:00" in error["message"]
    # asked at the moment it became known, it answers
    known = {"k": extensions["firstKnownAt"]}
    answer = api.execute(
        f'query($k: DateTime) {{ policy(id: "{POLICY}", knownAt: $k) {{ id }} }}', known
    )
    assert answer == {"policy": {"id": POLICY}}


def test_a_policy_not_in_force_at_valid_at_names_the_nearest_versions(api: ApiServer) -> None:
    error = the_error(
        api, f'{{ policy(id: "{POLICY}", validAt: "2000-01-01T00:00:00Z") {{ id }} }}'
    )
    extensions = error["extensions"]
    assert extensions["code"] == "NOT_IN_FORCE"
    assert extensions["validAt"] == "2000-01-01T00:00:00+00:00"
    assert extensions["before"] is None
    assert extensions["after"] == {
        "validFrom": "2022-01-01T00:00:00+00:00",
        "validTo": "2022-03-10T00:00:00+00:00",
    }
    # the version named answers at its validFrom
    answer = api.execute(
        'query($v: DateTime) { policy(id: "' + POLICY + '", validAt: $v) { validFrom } }',
        {"v": extensions["after"]["validFrom"]},
    )
    assert answer["policy"]["validFrom"] == "2022-01-01T00:00:00+00:00"


def test_a_regulatory_action_before_its_announcement_is_not_in_force(api: ApiServer) -> None:
    query = '{ regulatoryAction(id: "%s", validAt: "2022-03-01T00:00:00Z") { id } }'
    error = the_error(api, query % INSTAGRAM_RESTRICTION)
    assert error["extensions"]["code"] == "NOT_IN_FORCE"
    assert error["extensions"]["after"]["validFrom"] == "2022-03-11T16:00:00+00:00"
    unknown = the_error(api, query % "roskomnadzor/nothing")
    assert unknown["extensions"] == {"code": "NOT_FOUND"}


def test_a_statement_and_an_actor_give_the_same_reasons(api: ApiServer) -> None:
    early = the_error(
        api, f'{{ statement(id: "{STATEMENT}", knownAt: "{BEFORE_RECORDING}") {{ id }} }}'
    )
    assert early["extensions"]["code"] == "NOT_YET_KNOWN"
    assert the_error(api, '{ statement(id: "nobody/said") { id } }')["extensions"] == {
        "code": "NOT_FOUND"
    }
    actor = the_error(api, f'{{ actor(id: "meta", knownAt: "{BEFORE_RECORDING}") {{ id }} }}')
    assert actor["extensions"]["code"] == "NOT_YET_KNOWN"


def test_policy_diff_of_an_unknown_policy_is_not_found_not_an_empty_diff(api: ApiServer) -> None:
    query = (
        '{ policyDiff(id: "%s", fromValidAt: "2022-03-11T00:00:00Z", '
        'toValidAt: "2022-03-14T00:00:00Z"%s) { clauses { id } } }'
    )
    assert the_error(api, query % ("meta/nothing", ""))["extensions"] == {"code": "NOT_FOUND"}
    early = the_error(api, query % (POLICY, f', knownAt: "{BEFORE_RECORDING}"'))
    assert early["extensions"]["code"] == "NOT_YET_KNOWN"
    # before the policy was in force on both sides: a known policy's (empty) diff, no error
    before = api.execute(
        (query % (POLICY, ""))
        .replace("2022-03-11", "2000-01-01")
        .replace("2022-03-14", "2000-02-01")
    )
    assert before == {"policyDiff": {"clauses": []}}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ('{ statements(actor: "٣x") { totalCount } }', "actor"),
        ('{ regulatoryActionHistory(id: "%s") { status } }' % ("a" * 5000), "id"),
        ('{ policy(id: "Meta/Hate") { id } }', "id"),
        ('{ policyOn(id: "meta/", date: "2022-03-11") { id } }', "id"),
        ('{ policies(filter: {owner: "META"}) { totalCount } }', "filter.owner"),
        ('{ regulatoryActions(filter: {target: "x y"}) { totalCount } }', "filter.target"),
        ('{ timeline(filter: {policy: "../x"}) { totalCount } }', "filter.policy"),
        ('{ timeline(filter: {jurisdiction: "XX"}) { totalCount } }', "filter.jurisdiction"),
        (
            '{ policies(filter: {jurisdiction: "%s"}) { totalCount } }' % ("R" * 5000),
            "filter.jurisdiction",
        ),
    ],
)
def test_a_malformed_slug_in_a_read_argument_is_bad_input_naming_it(
    api: ApiServer, query: str, field: str
) -> None:
    error = the_error(api, query)
    assert error["extensions"] == {"code": "BAD_INPUT", "field": field}
    assert error["message"].startswith(f"{field}: ")
    assert len(error["message"]) < 300  # the 5,000 characters are not echoed back


def test_a_jurisdiction_filter_takes_either_case(api: ApiServer) -> None:
    query = '{ timeline(filter: {jurisdiction: "%s"}) { totalCount } }'
    upper = api.execute(query % "RU")["timeline"]["totalCount"]
    assert upper > 0 and api.execute(query % "ru")["timeline"]["totalCount"] == upper
